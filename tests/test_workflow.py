"""The Snakemake workflow itself: lint, plan, config rejections, and an end-to-end run."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import ROOT, SHARED_ASSETS, overlay, workflow_copy
from snakemake.utils import validate

from scopecal.config import OPTIMIZER_OPTIONS, calibration_jobs, check_config, config_warnings, job_budget
from scopecal.validation import validate_config

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ASSETS = f"scope_assets={SHARED_ASSETS}"


def snakemake(*args, cwd=ROOT, check=True):
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def default_config():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_lint_is_clean():
    result = snakemake("--lint", "--config", ASSETS)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_dry_run_plans_the_full_default_dag():
    result = snakemake("-n", "--forceall", "--config", ASSETS)
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    counts = {row.split()[0]: int(row.split()[1]) for row in stats.splitlines()[3:] if row.strip()}
    assert counts == {
        "retrieval": 1,
        "weather": 1,
        "bridge": 1,
        "geometry": 1,
        "inputs": 4,
        "forward": 4,
        # 3 problems x 2 observation sets; 7 optimizers on the two cheap problems, on the energy balance 2 on the
        # noise-free set and 1 on the noisy one
        "truth": 3,
        "twin": 6,
        "calibrate": 2 * 7 + 2 * 7 + 2 + 1,
        "summary": 1,
        # figures and tables: one job per calibration job, per (problem, observation set), per problem, and one
        "job_figures": 31,
        "experiment": 6,
        "sensitivity": 3,
        "profiles": 1,
        "all": 1,
        "total": 95,
    }


def test_snakefiles_are_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow`:\n{result.stdout}{result.stderr}"


def test_default_config_without_assets_plans_the_fetch():
    result = snakemake("-n")
    assert "fetch_scope_assets" in result.stdout


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda c: c["scope"].update(dtype="float16"), "scope.dtype", "'float16' is not one of ['float64', 'float32']"),
        (lambda c: c["scope"].update(workflows=["sif"]), "scope.workflows[0]", "'sif' is not one of"),
        (
            lambda c: c["retrieval"].update(source="sentinel"),
            "retrieval.source",
            "'sentinel' is not one of ['synthetic', 'npz', 'arc', 'table']",
        ),
        (
            lambda c: c["field"].update(pixel_size_m=-10),
            "field.pixel_size_m",
            "-10 is less than or equal to the minimum of 0",
        ),
        (
            lambda c: c["scope"].update(devise="cpu"),
            "scope",
            "Additional properties are not allowed ('devise' was unexpected); allowed keys: canopy_height_m",
        ),
        (lambda c: c["season"].update(start="June 2021"), "season.start", "'June 2021' does not match"),
        (
            lambda c: c["weather"]["local"]["columns"].pop("Rli"),
            "weather.local.columns",
            "'Rli' is a required property",
        ),
    ],
)
def test_schema_rejects_bad_values_naming_them(change, key, message):
    config = default_config()
    change(config)
    with pytest.raises(ValueError) as error:
        validate_config(config, ROOT / "config/schema.yaml")
    assert f"config key {key}: {message}" in str(error.value)
    assert "\n" not in str(error.value)  # one line, not the schema and the config after it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["season"].update(end="2021-05-01"), "season.end (2021-05-01) is before season.start"),
        (lambda c: c["season"].update(end="2022-07-01"), "must lie in one year"),
        (lambda c: c["retrieval"].update(source="npz"), "retrieval.npz.path must name an ARC output file"),
        (lambda c: c["field"].update(geojson="no/such.geojson"), "field.geojson: file no/such.geojson does not exist"),
        # settings a job would ignore
        (lambda c: c["retrieval"].update(source="arc"), "field.crop must name the crop (ARC's crop model)"),
        (lambda c: c["field"].update(shape=None), "field.pixel_size_m and field.shape (the pixel grid) are needed"),
        (
            lambda c: c["calibration"]["optimizers"]["dfols"].update(rho_beg=0.5),
            "calibration.optimizers.dfols: ['rho_beg'] not options of dfols (it reads rhobeg, rhoend",
        ),
        (
            lambda c: c["calibration"]["optimizers"].update(lbfgs={}),
            "calibration.optimizers.lbfgs: no optimizer of that name",
        ),
    ],
)
def test_cross_field_checks_name_the_key(change, message):
    config = default_config()
    change(config)
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert message in str(error.value)


def test_paper_config_runs_the_published_design():
    config = overlay("paper")
    validate(config, str(ROOT / "config/schema.yaml"))
    check_config(config)
    jobs = {"{observations}/{optimizer}/{start}".format(**job) for job in calibration_jobs(config)}
    assert len(jobs) == 1 + 2 * 7 * 2 + 3 * 6  # CMA-ES once; 7 optimisers x clean, sparse x 2 starts; 6 x 3 noisy
    assert "clean/cmaes/start1" in jobs and "clean/cmaes/start2" not in jobs and "sparse/cmaes/start1" not in jobs
    assert {"noisy3/dfols/start1", "sparse/dfols_noisy/start2"} <= jobs and "noisy1/dfols/start2" not in jobs
    assert job_budget(config, "energy_balance_6", "cmaes") == 2000  # 200 generations of 10
    assert job_budget(config, "energy_balance_6", "dfols") == 70 and job_budget(config, "energy_balance_6", "de") == 100
    assert job_budget(default_config(), "sif_fqe", "dfols") == 40  # calibration.budget


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["runs"][0].update(observations=["cloudy"]),
            "runs[0].observations: ['cloudy'] are not observation",
        ),
        (lambda p: p["runs"][1].update(optimizers=["bfgs"]), "runs[1].optimizers: ['bfgs'] not in calibration"),
        (lambda p: p["runs"][2].update(starts=[3]), "runs[2].starts: [3] beyond the 2 start(s)"),
    ],
)
def test_runs_naming_what_the_problem_lacks_are_errors(change, message):
    config = overlay("paper")
    change(config["problems"]["energy_balance_6"])
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert f"problems.energy_balance_6.{message}" in str(error.value)


def test_several_noise_free_sets_need_a_sensitivity_set():
    # --configfile merges put the overlay's keys first, so "the first noise-free set" would depend on the merge
    config = overlay("paper")
    del config["problems"]["energy_balance_6"]["sensitivity_set"]
    with pytest.raises(ValueError, match=r"several noise-free observation sets \(\['clean', 'sparse'\]\)"):
        check_config(config)


def test_sensitivity_set_must_be_a_noise_free_set():
    config = overlay("paper")
    config["problems"]["energy_balance_6"]["sensitivity_set"] = "noisy1"
    with pytest.raises(
        ValueError, match=r"problems.energy_balance_6: sensitivity_set 'noisy1' is not a noise-free set"
    ):
        check_config(config)


def test_docs_figures_must_be_of_a_configured_optimizer():
    config = overlay("docs")
    config["docs"]["figures_of"] = "bfgs"
    with pytest.raises(ValueError, match="docs.figures_of: 'bfgs' not in calibration.optimizers"):
        check_config(config)


def test_paper_comparison_must_name_a_job_of_the_config():
    config = overlay("paper")
    config["paper_comparison"]["C_SMOOTH"]["job"] = "energy_balance_6/clean/cmaes/start2"
    with pytest.raises(ValueError, match="paper_comparison.C_SMOOTH: job energy_balance_6/clean/cmaes/start2 is not"):
        check_config(config)


def test_invalid_config_stops_before_any_job():
    result = snakemake("--cores", "1", "--config", ASSETS, "scope_assets=/nonexistent/scope", check=False)
    assert result.returncode != 0
    assert "/nonexistent/scope does not exist (config key scope_assets)" in result.stdout + result.stderr
    assert "Building DAG" not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory):
    """The default config on a 3x3-pixel field with 4 dates (.test/config.yaml), in a scratch copy."""
    work = workflow_copy(tmp_path_factory.mktemp("e2e"))
    snakemake("--cores", "2", "--configfile", ".test/config.yaml", "--config", ASSETS, cwd=work)
    return work


EXPECTED = {
    "reflectance": {"rsot": None},
    "fluorescence": {"F740": "W m-2 um-1 sr-1", "F685": "W m-2 um-1 sr-1", "LoutF": "W m-2 sr-1"},
    "thermal": {"Loutt": "W m-2 sr-1", "Eoutt": "W m-2", "LST": "degC"},
    "energy-balance": {
        "lEtot": "W m-2",
        "Htot": "W m-2",
        "Rntot": "W m-2",
        "F740": "W m-2 um-1 sr-1",
        "Loutt": "W m-2 sr-1",
        "LST": "degC",
        "converged": None,
        "counter": None,
    },
}


@pytest.mark.e2e
@pytest.mark.parametrize("workflow", list(EXPECTED))
def test_end_to_end_outputs(e2e_run, workflow):
    with xr.open_dataset(e2e_run / f"results/forward/{workflow}.nc") as outputs:
        with xr.open_dataset(e2e_run / f"results/inputs/{workflow}.nc") as inputs:
            inside = inputs["field_mask"].values.astype(bool)
        assert dict(outputs.sizes).items() >= {"y": 3, "x": 3, "time": 4}.items()
        for name, units in EXPECTED[workflow].items():
            variable = outputs[name].transpose("y", "x", "time", ...)
            assert variable.attrs.get("units"), f"{name} has no units"
            if units:
                assert variable.attrs["units"] == units
            assert np.isfinite(variable.values[inside]).all(), f"NaN in {name} inside the field"
            assert np.isnan(variable.values[~inside]).all()
        assert outputs.attrs["version_scope_rtm"] == "0.4.13" and len(outputs.attrs["params_sha256"]) == 64
        assert json.loads(outputs.attrs["params_json"]) == {
            "scope": {"device": "auto", "dtype": "float64", "chunk_size": None}
        }  # what the job read, not the config: cluster.* or another problem do not appear
        if workflow == "energy-balance":
            energy = outputs.where(outputs["converged"] == 1)
            closure = energy["Rntot"] - energy["lEtot"] - energy["Htot"] - energy["Gtot"]
            assert float(np.nanmax(np.abs(closure))) < 10.0  # W m-2, the solver's tolerance is 1
            assert 50.0 < float(energy["lEtot"].mean()) < 500.0
        if workflow == "reflectance":
            rsot = outputs["rsot"].transpose("y", "x", "time", "wavelength")
            red, nir = rsot.sel(wavelength=650.0).values[inside], rsot.sel(wavelength=865.0).values[inside]
            assert (nir > 2 * red).all()  # vegetation
    assert (e2e_run / f"results/forward/{workflow}.png").stat().st_size > 10_000
    assert (e2e_run / f"results/benchmarks/forward/{workflow}.tsv").is_file()
    assert "on cpu (float64)" in (e2e_run / f"results/logs/forward/{workflow}.log").read_text()


@pytest.mark.e2e
def test_end_to_end_says_the_crop_state_is_synthetic(e2e_run):
    assert "SYNTHETIC" in (e2e_run / "results/logs/retrieval.log").read_text()
    with xr.open_dataset(e2e_run / "results/bridge/biophysics.nc") as biophysics:
        assert biophysics.attrs["retrieval_source"] == "synthetic"
    logs = "".join(path.read_text() for path in (e2e_run / "results/logs").rglob("*.log"))
    assert "it/s]" not in logs  # no scope-rtm progress bars


@pytest.mark.e2e
def test_end_to_end_calibration(e2e_run):
    import pandas as pd

    summary = pd.read_csv(e2e_run / "results/calibration/summary.csv")
    assert len(summary) == 2 * 3 + 2 * 2  # sif_fqe: 3 optimizers, thermal: 2, each on clean and noisy1
    assert summary["within_bounds"].all()
    assert (summary["evaluations"] <= summary["budget"]).all()
    clean = summary[summary["observations"] == "clean"].set_index(["problem", "optimizer"])
    for optimizer in ("lbfgsb", "dfols", "gauss_newton"):
        assert clean.loc[("sif_fqe", optimizer), "evaluations_to_1pct"] <= 10
    for optimizer in ("dfols", "gauss_newton"):
        assert clean.loc[("thermal_temperatures", optimizer), "evaluations_to_1pct"] <= 25
    noisy = summary[summary["observations"] == "noisy1"]
    assert (noisy["baseline_misfit"] > 0).all() and noisy["reached_baseline"].notna().all()
    job = e2e_run / "results/calibration/sif_fqe/clean/dfols/start1"
    result = json.loads((job / "result.json").read_text())
    assert result["parameters_final"]["fqe"] == pytest.approx(0.018, rel=1e-3)
    trace = pd.read_csv(job / "trace.csv")
    assert len(trace) == result["evaluations"] and {"misfit", "improved", "fqe", "norm_F740"} <= set(trace.columns)
    with xr.open_dataset(job / "calibrated.nc") as calibrated:
        assert calibrated.attrs["calibrated"] == 1 and "F740" in calibrated
    log = (e2e_run / "results/logs/calibration/sif_fqe/clean/dfols/start1.log").read_text()
    assert log.count("evaluation ") >= result["evaluations"]  # one line per evaluation


@pytest.mark.e2e
def test_end_to_end_figures_and_tables(e2e_run):
    import pandas as pd

    figures = e2e_run / "results/figures"
    for job in ("sif_fqe/clean/lbfgsb/start1", "thermal_temperatures/noisy1/dfols/start1"):
        for name in ("misfit", "parameters"):
            assert (figures / f"calibration/{job}/{name}.png").stat().st_size > 20_000
            assert (figures / f"calibration/{job}/{name}.svg").stat().st_size > 20_000
    assert (figures / "calibration/thermal_temperatures/noisy1/misfit_comparison.png").stat().st_size > 20_000
    assert (figures / "profiles.png").stat().st_size > 50_000
    table = pd.read_csv(e2e_run / "results/tables/calibration/thermal_temperatures/clean.csv").set_index("optimizer")
    assert list(table.index) == ["dfols", "gauss_newton"] and (table["true_Tcu"] == 30.0).all()
    assert (table["recovered_at_Tcu"] <= table["evaluations"]).all()
    markdown = (e2e_run / "results/tables/calibration/thermal_temperatures/clean.md").read_text()
    assert "Table C1" in markdown and "| Tcu | 30 | 25 |" in markdown
    profiles = pd.read_csv(e2e_run / "results/tables/profiles.csv")
    assert set(profiles["instance"]) == {
        f"{p}/{s}/start1" for p in ("sif_fqe", "thermal_temperatures") for s in ("clean", "noisy1")
    }
    for problem, n in (("sif_fqe", 1), ("thermal_temperatures", 4)):
        sensitivity = pd.read_csv(e2e_run / f"results/sensitivity/{problem}/sensitivity.csv")
        assert len(sensitivity) == n and (sensitivity["posterior_sd"] > 0).all()
        assert (sensitivity["misfit_plus"] > 1).all()
        assert "condition number" in (e2e_run / f"results/sensitivity/{problem}/sensitivity.md").read_text()


# Settings the schema accepts that a config's other choices leave unused: named when the workflow loads.


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["field"].update(crop="maize"), "field.crop (maize) is used only by retrieval.source 'arc'"),
        (
            lambda c: c["retrieval"].update(source="npz", npz={"path": "arc.npz"}),
            "field.pixel_size_m and field.shape (20, [4, 4]) set the pixel grid of the synthetic retrieval",
        ),
        (lambda c: c["cluster"].update(gpu=False, gpu_model="a100"), "cluster.gpu_model (a100) is not requested"),
        (
            lambda c: c["problems"]["sif_fqe"].update(runs=[{"observations": ["clean"], "optimizers": ["dfols"]}]),
            "problems.sif_fqe.optimizers (['lbfgsb', 'dfols']) is not used: problems.sif_fqe.runs names",
        ),
        (
            lambda c: c["problems"]["sif_fqe"]["observations"]["clean"].update(realisations=3),
            "problems.sif_fqe.observations.clean.realisations (3) is not used",
        ),
    ],
)
def test_unused_settings_are_named(change, message):
    config = default_config()
    config["problems"]["sif_fqe"]["optimizers"] = ["lbfgsb", "dfols"]
    assert config_warnings(config) == []
    change(config)
    [note] = config_warnings(config)
    assert message in note


def test_unused_setting_is_printed_when_the_workflow_loads():
    result = snakemake("-n", "--config", ASSETS, "field={crop: maize}")
    assert "config: field.crop (maize) is used only by retrieval.source 'arc'" in result.stdout + result.stderr


def test_optimizer_options_are_those_the_optimizers_read():
    for method, options in OPTIMIZER_OPTIONS.items():
        source = (ROOT / f"src/scopecal/optimizers/{method}.py").read_text()
        assert set(re.findall(r'options\.get\("(\w+)"', source)) == set(options), method


def test_config_readme_describes_every_section():
    readme = (ROOT / "config/README.md").read_text()
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    for key in set(default_config()) | set(schema["properties"]):
        assert f"**`{key}`**" in readme, f"config/README.md does not describe {key}"
    for suite in (".test/config.yaml", "config/paper.yaml", "config/docs.yaml"):
        assert f"`{suite}`" in readme


# What a config change re-runs: dry runs in the finished end-to-end run, with an overlay file laid over the test
# config as a user would (--configfile). Snakemake re-runs a job when its params change; each rule's params are
# the keys its job reads (workflow/rules/common.smk), so other keys leave it up to date.

SCOPE_RULES = {"inputs", "forward", "truth", "calibrate", "sensitivity"}


def planned_jobs(work, overlay=None, configfiles=(".test/config.yaml",)):
    """(rule, wildcards) of every job `snakemake -n` plans in ``work``, with ``overlay`` laid over the test config
    (``configfiles``)."""
    configfiles = list(configfiles)
    if overlay is not None:
        (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        configfiles.append("overlay.yaml")
    result = snakemake("-n", "--configfile", *configfiles, "--config", ASSETS, cwd=work)
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.append((rule, {}))
        elif line.strip().startswith("wildcards:") and rule is not None:
            jobs[-1][1].update(item.split("=", 1) for item in line.split(":", 1)[1].strip().split(", "))
    return jobs


@pytest.mark.e2e
def test_report_opens_with_the_workflow_description(e2e_run):
    snakemake("--report", "report.html", "--configfile", ".test/config.yaml", "--config", ASSETS, cwd=e2e_run)
    report = (e2e_run / "report.html").read_text()
    assert "Twin experiments." in report  # workflow/report/workflow.rst, with the config's results_dir filled in:
    assert r"Every file lies under <tt class=\"docutils literal\">results</tt>" in report


@pytest.mark.e2e
def test_finished_run_plans_nothing(e2e_run):
    assert planned_jobs(e2e_run) == []


@pytest.mark.e2e
def test_cluster_and_figure_settings_rerun_no_scope_job(e2e_run):
    overlay = {
        "cluster": {"gpu_partition": "a100-long", "gpu_model": "a100"},
        "docs": {"folder": "results/docs-pages", "figures_of": "dfols"},
        "paper_comparison": {"fqe_clean": {"job": "sif_fqe/clean/dfols/start1", "baseline": 20}},
    }
    rules = {rule for rule, _ in planned_jobs(e2e_run, overlay)}
    assert not rules & SCOPE_RULES and rules <= {"docs", "paper_comparison", "all"}, rules  # the new outputs only


@pytest.mark.e2e
def test_one_problems_bound_reruns_that_problem_only(e2e_run):
    jobs = planned_jobs(e2e_run, {"problems": {"sif_fqe": {"parameters": {"fqe": {"upper": 0.2}}}}})
    assert {rule for rule, _ in jobs} & {"retrieval", "inputs", "forward"} == set()
    # every problem's comparison tables are redrawn from the new summary.csv, no other job of another problem
    assert {wildcards.get("problem") for rule, wildcards in jobs if rule != "experiment"} - {None} == {"sif_fqe"}
    assert sum(rule == "calibrate" for rule, _ in jobs) == 3 * 2  # sif_fqe: 3 optimizers x clean, noisy1


@pytest.mark.e2e
def test_a_scope_setting_reruns_the_workflows_that_read_it(e2e_run):
    # scope.fqe goes into the fluorescence and energy-balance inputs, not the reflectance and thermal ones
    jobs = planned_jobs(e2e_run, {"scope": {"fqe": 0.02}})
    workflows = {wildcards["workflow"] for rule, wildcards in jobs if rule in ("inputs", "forward")}
    assert workflows == {"fluorescence", "energy-balance"}
    problems = {wildcards["problem"] for rule, wildcards in jobs if "problem" in wildcards and rule != "experiment"}
    assert problems == {"sif_fqe"}  # the fluorescence problem; thermal_temperatures is up to date
