"""Posteriors end to end: NUTS and amortised NPE on sif_fqe with tiny settings (.test/posterior.yaml), from the
forward chain to the comparison table and corner figures."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import workflow_copy
from test_posterior_config import job_counts
from test_workflow import ASSETS, snakemake

CONFIGS = [".test/config.yaml", ".test/posterior.yaml"]
SETS = ["clean", "noisy1"]
BOUNDS = (0.001, 0.1)  # sif_fqe's fqe


@pytest.fixture(scope="module")
def posterior_run(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("posterior"))
    snakemake("--cores", "2", "--configfile", *CONFIGS, "--config", ASSETS, cwd=work)
    return work


@pytest.mark.e2e
def test_the_table_compares_every_method_on_every_set(posterior_run):
    results = posterior_run / "results"
    table = pd.read_csv(results / "tables/posterior/sif_fqe.csv")
    assert set(table["observations"]) == set(SETS) and set(table["parameter"]) == {"fqe"}
    for name in SETS:
        assert {"mcmc", "npe"} <= set(table.loc[table["observations"] == name, "method"])
    # the Laplace posterior of the sensitivity stage at the truth, on every set of the design it ran on
    assert set(table.loc[table["method"] == "laplace", "observations"]) == set(SETS)
    npe, mcmc = (table[table["method"] == method].set_index("observations") for method in ("npe", "mcmc"))
    assert set(npe["agrees_with_mcmc"]) <= {"pass", "fail"} and npe["coverage_90"].between(0, 1).all()
    assert (npe["simulations"] == 200).all() and (npe["training_s"] > 0).all() and (npe["wall_s"] > 0).all()
    assert (mcmc["model_evaluations"] >= mcmc["gradient_evaluations"]).all() and (mcmc["wall_s"] > 0).all()
    assert ((table["q5"] <= table["mean"]) & (table["mean"] <= table["q95"])).all()
    markdown = (results / "tables/posterior/sif_fqe.md").read_text()
    assert "## Checks" in markdown and "MCMC: worst R-hat" in markdown and "| clean | fqe | mcmc |" in markdown
    for name in SETS:
        for figure in ("corner", "predictive"):
            assert (results / f"figures/posterior/sif_fqe/{name}/{figure}.png").stat().st_size > 10_000
            assert (results / f"figures/posterior/sif_fqe/{name}/{figure}.svg").is_file()
    # the posterior predictive: SCOPE at 20 draws of each method, the share of observations in their 90% band
    assert table.loc[table["method"] != "laplace", "predictive_90"].between(0, 1).all()
    with xr.open_dataset(results / "posterior/sif_fqe/noisy1/predictive.nc") as predictive:
        assert list(predictive["draws"].values) == [20, 20] and predictive.sizes["observation"] == 6


@pytest.mark.e2e
def test_npe_samples_lie_in_the_bounds_and_mcmc_has_diagnostics(posterior_run):
    results = posterior_run / "results/posterior/sif_fqe"
    for name in SETS:
        with xr.open_dataset(results / f"{name}/npe/posterior.nc", group="posterior") as npe:
            fqe = npe["fqe"].values
            assert fqe.shape == (1, 500) and npe.attrs["observations"] == name
        assert ((fqe >= BOUNDS[0]) & (fqe <= BOUNDS[1])).all() and np.ptp(fqe) > 0
        diagnostics = pd.read_csv(results / f"{name}/mcmc/diagnostics.csv", index_col="parameter")
        assert {"r_hat", "ess_bulk", "ess_tail"} <= set(diagnostics.columns) and list(diagnostics.index) == ["fqe"]
        with xr.open_dataset(results / f"{name}/mcmc/posterior.nc", group="posterior") as mcmc:
            assert mcmc.sizes["chain"] == 2 and mcmc.sizes["draw"] == 10
        # the resumable record stays beside the outputs
        assert sorted(p.name for p in (results / f"{name}/mcmc/chain0").iterdir()) == [
            "block00000.npz",
            "block00001.npz",
            "settings.sha256",
            "warmup.npz",
        ]
    training = json.loads((results / "npe/training.json").read_text())
    assert training["simulations"] == 200 and training["held_out"] + training["trained_on"] <= 200
    assert training["simulation_seconds"] > 0 and training["design"] == "clean"
    coverage = pd.read_csv(results / "npe/coverage.csv")
    assert sorted(coverage["level"]) == [0.5, 0.9]


@pytest.mark.e2e
def test_a_finished_run_plans_nothing(posterior_run):
    result = snakemake("-n", "--configfile", *CONFIGS, "--config", ASSETS, cwd=posterior_run)
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.e2e
def test_more_samples_redraw_only_the_npe_samples(posterior_run):
    counts = job_counts(*CONFIGS, overlay={"posterior": {"samples": 400}}, cwd=posterior_run, forceall=False)
    assert counts == {
        "posterior": 2,
        "posterior_figure": 2,
        "posterior_predictive": 2,
        "posterior_report": 1,
        "all": 1,
        "total": 8,
    }


def run_killed(work, targets, started, *, wait=0.0):
    """Run Snakemake for ``targets`` and kill its whole process group once ``started()`` holds (then ``wait`` s)."""
    # --nolock: a killed Snakemake leaves its lock, which the next run would otherwise have to remove (--unlock)
    args = [sys.executable, "-m", "snakemake", "--cores", "1", "--nolock", "--configfile", *CONFIGS, "--config", ASSETS]
    process = subprocess.Popen(
        [*args, "--", *targets], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 600
    while not started() and time.time() < deadline:
        assert process.poll() is None, "snakemake ended before the job was killed"
        time.sleep(0.01)
    time.sleep(wait)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.e2e
def test_killed_posterior_jobs_resume_to_the_uninterrupted_outputs(posterior_run):
    # last in this module: the runs above need the fixture's outputs as they were
    results = posterior_run / "results/posterior/sif_fqe"
    chunk, sampled = results / "npe/simulations/chunk1.nc", results / "noisy1/mcmc"
    uninterrupted_chunk = xr.load_dataset(chunk)
    uninterrupted_draws = xr.load_dataset(sampled / "posterior.nc", group="posterior")
    chunk.unlink()
    shutil.rmtree(sampled)
    targets = [str(path.relative_to(posterior_run)) for path in (chunk, sampled / "posterior.nc")]

    # the simulation job killed while it simulates, the NUTS job once its first block of draws is saved
    log = posterior_run / "results/logs/posterior/sif_fqe/simulations/chunk1.log"
    log.unlink()
    run_killed(posterior_run, targets[:1], log.exists, wait=2.0)
    assert not chunk.exists(), "the simulation job was not killed mid-way"
    run_killed(posterior_run, targets[1:], (sampled / "chain0/block00000.npz").exists)
    assert not (sampled / "chain0/block00001.npz").exists() and not (sampled / "posterior.nc").exists()

    snakemake(
        "--cores",
        "2",
        "--rerun-incomplete",
        "--configfile",
        *CONFIGS,
        "--config",
        ASSETS,
        "--",
        *targets,
        cwd=posterior_run,
    )
    resumed_chunk = xr.load_dataset(chunk)
    for name in ("u", "simulated", "fqe"):
        np.testing.assert_array_equal(resumed_chunk[name].values, uninterrupted_chunk[name].values)
    resumed_draws = xr.load_dataset(sampled / "posterior.nc", group="posterior")
    for name in ("fqe", "u"):
        np.testing.assert_array_equal(resumed_draws[name].values, uninterrupted_draws[name].values)
    assert (
        resumed_draws.attrs["gradient_evaluations"].tolist()
        == uninterrupted_draws.attrs["gradient_evaluations"].tolist()
    )
