"""Calibration against a file end to end: the synthetic tower example through the workflow (.test/observed.yaml)."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import workflow_copy
from test_workflow import ASSETS, snakemake

JOB = "sif_tower/tower/lbfgsb/start1"


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("observed"))
    configs = [".test/config.yaml", "config/observed.yaml", ".test/observed.yaml"]
    snakemake("--cores", "2", "--configfile", *configs, "--config", ASSETS, cwd=work)
    return work / "results/observed"


@pytest.mark.e2e
def test_the_tower_file_is_matched_and_filtered(observed_run):
    with xr.open_dataset(observed_run / "observations/sif_tower/tower.nc") as matched:
        assert matched.attrs["source"] == "file" and matched.attrs["observed_cells"] > 20
        assert matched.attrs["holdout_cells"] > 10
        held = pd.DatetimeIndex(matched["time"].values[matched["holdout"].any(("y", "x")).values])
        assert held.month.unique().tolist() == [8]  # the held-out month
        assert matched["F740"].attrs["units"] == "W m-2 um-1 sr-1"
        assert int((matched["observed"] | matched["holdout"]).any("time").sum()) == 1  # one tower pixel
    log = (observed_run / "logs/observations/sif_tower/tower.log").read_text()
    assert "records outside" in log and "with the sun below" in log and "daily means" in log
    with xr.open_dataset(observed_run / "observations/sif_tower/tower_inputs.nc") as inputs:
        assert int(inputs["field_mask"].sum()) == 1


@pytest.mark.e2e
def test_the_calibration_reports_fit_and_hold_out_before_and_after(observed_run):
    result = json.loads((observed_run / f"calibration/{JOB}/result.json").read_text())
    assert result["parameters_true"] == {"fqe": None} and result["recovered"] is None
    # what was left out, and why, reaches the result
    assert {"dropped_outside_season", "dropped_low_sun", "dropped_weather_gaps"} <= result.keys()
    assert result["unsolved_observations_excluded"] == 0 and result["closure_method"] == "measured"
    assert result["final_misfit"] < result["initial_misfit"]
    report = json.loads((observed_run / f"calibration/{JOB}/validation.json").read_text())
    fitted, held_out = report["scores"]["fitted"]["F740"], report["scores"]["held_out"]["F740"]
    assert fitted["after"]["misfit"] < fitted["before"]["misfit"]  # what the optimiser lowers (not the RMSE)
    assert fitted["after"]["misfit"] == pytest.approx(result["final_misfit"], rel=1e-9)
    assert held_out["after"]["n"] > 0 and np.isfinite([held_out[w]["rmse"] for w in ("before", "after")]).all()
    fqe = report["parameters"]["fqe"]
    assert 0 < fqe["laplace_sd"] < 0.1 * fqe["value"] and not fqe["at_lower_bound"] and not fqe["at_upper_bound"]
    assert (
        report["residuals"]
        == json.loads((observed_run / f"calibration/{JOB}/result.json").read_text())["observed_cells"]
    )
    assert np.isfinite(report["reduced_chi_square"])
    with xr.open_dataset(observed_run / f"calibration/{JOB}/fit.nc") as fit:
        assert int(fit["held_out"].sum()) == report["scores"]["held_out"]["F740"]["after"]["n"]
    for kind in ("timeseries", "scatter", "residuals", "parameters", "validation_period"):
        assert (observed_run / f"figures/calibration/{JOB}/{kind}.png").stat().st_size > 10_000
    callmip = pd.read_csv(observed_run / f"calibration/{JOB}/callmip.csv").set_index("period")
    assert callmip["n_scored"].to_dict() == {"calibration": fitted["after"]["n"], "validation": held_out["after"]["n"]}
    assert "RMSE after" in (observed_run / f"calibration/{JOB}/validation.md").read_text()


@pytest.mark.e2e
def test_a_footprint_set_is_fitted_by_the_weighted_mean_of_its_pixels(observed_run):
    job = "sif_tower/footprint/lbfgsb/start1"
    with xr.open_dataset(observed_run / "observations/sif_tower/footprint.nc") as matched:
        weight = matched["footprint_weight"]
        assert float(weight.sum()) == pytest.approx(1.0) and int((weight > 0).sum()) > 1
        pixels = int((weight > 0).sum())
        assert int(matched["observed"].sum()) == pixels * matched.attrs["observed_cells"]
        times = int(matched["observed"].any(("y", "x")).sum())
    with xr.open_dataset(observed_run / "observations/sif_tower/footprint_inputs.nc") as inputs:
        assert int(inputs["field_mask"].sum()) == pixels
    result = json.loads((observed_run / f"calibration/{job}/result.json").read_text())
    assert result["observed_cells"] == times and result["final_misfit"] < result["initial_misfit"]
    report = json.loads((observed_run / f"calibration/{job}/validation.json").read_text())
    assert report["residuals"] == times
    assert report["scores"]["fitted"]["F740"]["after"]["misfit"] == pytest.approx(result["final_misfit"], rel=1e-9)
    with xr.open_dataset(observed_run / f"calibration/{job}/fit.nc") as fit:
        assert fit.sizes["cell"] == times + report["scores"]["held_out"]["F740"]["after"]["n"]
    log = (observed_run / "logs/observations/sif_tower/footprint.log").read_text()
    assert f"each the weighted mean of {pixels} pixels" in log
