"""Per-pixel calibration end to end (.test/pixels.yaml): sif_map's fqe and Cab per pixel, from the forward chain
to the parameter maps and their figure."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import workflow_copy
from test_workflow import ASSETS, planned_jobs, snakemake

from scopecal.metrics import RECOVERY_ZONE
from scopecal.pixels import STOP_REASONS

CONFIGS = [".test/config.yaml", ".test/pixels.yaml"]
SPANS = {"fqe": 0.1 - 0.001, "Cab": 80.0 - 10.0}


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("pixels"))
    result = snakemake("--cores", "2", "--configfile", *CONFIGS, "--config", ASSETS, cwd=work)
    return work / "results", result.stdout + result.stderr


def maps_of(results, observations):
    with xr.open_dataset(results / f"maps/sif_map/{observations}/parameters.nc") as maps:
        return maps.load()


@pytest.mark.e2e
def test_noise_free_maps_recover_every_pixel_s_own_truth(pixels_run):
    results, _ = pixels_run
    maps = maps_of(results, "clean")
    observed = maps["observations"].values > 0
    assert observed.sum() == maps.attrs["pixels"] >= 4
    for name, span in SPANS.items():
        truth = maps[f"truth_{name}"].values[observed]
        assert np.ptp(truth) > 0.2 * span / 2  # the pixels' truths differ
        assert np.abs(maps[name].values[observed] - truth).max() < 1e-6 * span
        assert np.isnan(maps[name].values[~observed]).all()
    assert set(maps["stop_code"].values[observed]) <= {0, 1}  # converged


@pytest.mark.e2e
def test_noisy_maps_carry_an_honest_laplace_sd(pixels_run):
    results, _ = pixels_run
    maps = maps_of(results, "noisy1")
    observed = maps["observations"].values > 0
    for name, span in SPANS.items():
        error = np.abs(maps[name] - maps[f"truth_{name}"]).values[observed]
        sd = maps[f"sd_{name}"].values[observed]
        assert (sd > 0).all() and (error < 4 * sd).all()  # the truth within 4 sd in every pixel
        assert np.median(error) < RECOVERY_ZONE * span
    assert maps["stop_code"].attrs["flag_meanings"] == "; ".join(STOP_REASONS)


@pytest.mark.e2e
def test_trace_figure_and_log(pixels_run):
    results, console = pixels_run
    maps = maps_of(results, "noisy1")
    trace = pd.read_csv(results / "maps/sif_map/noisy1/trace.csv")
    per_pixel = trace.groupby(["y", "x"]).size()
    observed = maps["observations"].values > 0
    assert len(per_pixel) == observed.sum()
    for (y, x), count in per_pixel.items():
        assert maps["evaluations"].values[y, x] == count
        best = trace[(trace["y"] == y) & (trace["x"] == x)]["misfit"].min()
        assert maps["misfit"].values[y, x] == pytest.approx(best, rel=1e-12)
    assert maps.attrs["model_runs"] == trace["evaluation"].max()  # the slowest pixel sets the batched runs
    for name in ("clean", "noisy1"):
        assert (results / f"figures/maps/sif_map/{name}/maps.png").stat().st_size > 20_000
        assert (results / f"figures/maps/sif_map/{name}/maps.svg").is_file()
    log = (results / "logs/maps/sif_map/noisy1.log").read_text()
    assert f"{observed.sum()} pixels, {maps.attrs['model_runs']} batched SCOPE runs on cpu" in log
    clean_log = (results / "logs/maps/sif_map/clean.log").read_text()
    for name in SPANS:
        assert f"{name}: 100% of pixels within the recovery zone" in clean_log
    assert "rule calibrate_pixels:" in console and "rule calibrate:" not in console


@pytest.mark.e2e
def test_a_job_run_again_resumes_from_its_checkpoint(pixels_run):
    """A re-run job (as after a kill once everything was saved) replays the checkpoint: the same maps, and no
    SCOPE run (the wall time it reports is the saved one)."""
    results, _ = pixels_run
    before = maps_of(results, "clean")
    target = "results/maps/sif_map/clean/parameters.nc"
    snakemake(
        "--cores",
        "1",
        "--configfile",
        *CONFIGS,
        "--config",
        ASSETS,
        "--forcerun",
        "calibrate_pixels",
        "--",
        target,
        cwd=results.parent,
    )
    after = maps_of(results, "clean")
    assert after.attrs["seconds"] == before.attrs["seconds"] and after.attrs["model_runs"] == before.attrs["model_runs"]
    for name in ("fqe", "Cab", "sd_fqe", "sd_Cab", "misfit", "evaluations"):
        np.testing.assert_array_equal(after[name].values, before[name].values)


@pytest.mark.e2e
def test_a_solver_setting_reruns_only_the_pixel_jobs(pixels_run):
    results, _ = pixels_run
    overlay = {"problems": {"sif_map": {"per_pixel": {"max_evaluations": 12}}}}
    rules = {rule for rule, _ in planned_jobs(results.parent, overlay, CONFIGS)}
    assert rules == {"calibrate_pixels", "pixel_maps_figure", "all"}  # not the truth run or the twin sets
    overlay = {"problems": {"sif_map": {"per_pixel": {"truth_seed": 2}}}}
    assert {"truth", "twin", "calibrate_pixels"} <= {rule for rule, _ in planned_jobs(results.parent, overlay, CONFIGS)}
