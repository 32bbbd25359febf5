"""The posterior section of the config: validated, merged per problem, and planned as jobs."""

import pytest
import yaml
from conftest import ROOT
from test_workflow import ASSETS, default_config, snakemake

from scopecal.config import check_config, posterior_settings
from scopecal.validation import validate_config


def with_posterior(**problem_posterior):
    """The default config with posteriors on sif_fqe, its own posterior section ``problem_posterior``."""
    config = default_config()
    config["posterior"]["problems"] = ["sif_fqe"]
    if problem_posterior:
        config["problems"]["sif_fqe"]["posterior"] = problem_posterior
    return config


def test_a_problems_own_settings_replace_the_sections():
    config = with_posterior(draws=40, block=20, network={"max_epochs": 5}, observations=["noisy1"])
    validate_config(config, ROOT / "config/schema.yaml")
    check_config(config)
    settings = posterior_settings(config, "sif_fqe")
    assert (settings["draws"], settings["block"], settings["chains"]) == (40, 20, 4)
    assert settings["network"] == default_config()["posterior"]["network"] | {"max_epochs": 5}
    assert settings["observations"] == ["noisy1"] and settings["design"] == "clean"
    assert posterior_settings(with_posterior(), "sif_fqe")["observations"] == ["clean", "noisy1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["posterior"].update(problems=["sif"]), "posterior.problems: 'sif' is not defined under problems"),
        (
            lambda c: c["problems"]["sif_fqe"].update(posterior={"draws": 150}),
            "problems.sif_fqe.posterior: draws (150) must be a multiple of block (100)",
        ),
        (
            lambda c: c["problems"]["sif_fqe"].update(posterior={"observations": ["noisy"]}),
            "problems.sif_fqe.posterior.observations: ['noisy'] are not observation sets of sif_fqe",
        ),
        (
            lambda c: c["problems"]["sif_fqe"]["observations"].update(sparse={"sampling": {"dates": [0]}}),
            "the sets ['sparse'] do not observe the cells of the design set 'clean'",
        ),
        (
            lambda c: c["problems"]["sif_fqe"].update(posterior={"simulations": 10, "chunks": 20}),
            "more chunks (20) than simulations (10)",
        ),
        (
            lambda c: c["problems"]["sif_fqe"].update(background={"mean": {"fqe": 0.02}, "std": {"fqe": 0.01}}),
            "problems.sif_fqe.posterior.methods: npe trains on draws from the uniform prior on the bounds",
        ),
    ],
)
def test_settings_that_cannot_run_name_the_key(change, message):
    config = with_posterior()
    change(config)
    if "sparse" in config["problems"]["sif_fqe"]["observations"]:
        config["problems"]["sif_fqe"]["sensitivity_set"] = "clean"
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert message in str(error.value)


def test_schema_rejects_an_unknown_method():
    config = with_posterior(methods=["abc"])
    with pytest.raises(ValueError, match=r"config key problems.sif_fqe.posterior.methods\[0\]: 'abc' is not one of"):
        validate_config(config, ROOT / "config/schema.yaml")


def test_npe_on_one_design_only_needs_mcmc_for_the_others():
    config = with_posterior(methods=["mcmc"])
    config["problems"]["sif_fqe"]["observations"]["sparse"] = {"sampling": {"dates": [0]}}
    config["problems"]["sif_fqe"]["sensitivity_set"] = "clean"
    check_config(config)


def job_counts(*configfiles, overlay=None, cwd=ROOT, forceall=True):
    """{rule: jobs} that a dry run plans."""
    extra = []
    if overlay is not None:
        (cwd / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        extra = ["overlay.yaml"]
    args = ["-n", *(["--forceall"] if forceall else []), "--configfile", *configfiles, *extra, "--config", ASSETS]
    result = snakemake(*args, cwd=cwd)
    if "Job stats:" not in result.stdout:
        return {}
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {row.split()[0]: int(row.split()[1]) for row in stats.splitlines()[3:] if row.strip()}


def test_the_test_overlay_plans_the_posterior_chain():
    counts = job_counts(".test/config.yaml", ".test/posterior.yaml")
    rules = ("mcmc_chain", "mcmc", "simulate_prior", "train_posterior", "posterior")
    assert {rule: counts.get(rule) for rule in rules} == {
        "mcmc_chain": 2 * 2,  # a job per chain of each set
        "mcmc": 2,
        "simulate_prior": 2,
        "train_posterior": 1,
        "posterior": 2,
    }
    assert counts["posterior_report"] == 1 and counts["posterior_figure"] == 2 and counts["sensitivity"] == 1
    assert "calibrate" not in counts and "summary" not in counts  # nothing calibrated


def test_the_posterior_suite_samples_the_energy_balance_by_npe_only():
    counts = job_counts("config/posterior.yaml")
    rules = ("mcmc_chain", "mcmc", "simulate_prior", "train_posterior", "posterior")
    assert {rule: counts.get(rule) for rule in rules} == {
        "mcmc_chain": 2 * 2,
        "mcmc": 2,  # the noisy sets of sif_fqe and thermal_temperatures
        "simulate_prior": 3 * 2,
        "train_posterior": 3,
        "posterior": 3,
    }
    assert counts["posterior_report"] == 3 and "calibrate" not in counts


def test_the_energy_balance_overlay_adds_its_nuts_reference():
    counts = job_counts("config/posterior.yaml", "config/posterior_energy_balance.yaml")
    assert {rule: counts.get(rule) for rule in ("mcmc_chain", "mcmc", "train_posterior")} == {
        "mcmc_chain": 3 * 2,
        "mcmc": 3,
        "train_posterior": 3,
    }
