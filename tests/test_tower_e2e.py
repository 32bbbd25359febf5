"""A flux-tower site end to end: the synthetic FLUXNET tower of examples/tower/ through the workflow
(.test/tower.yaml: two days fitted, one scored): tower weather, crop table, presets, closure, CalLMIP table."""

import json

import pandas as pd
import pytest
import xarray as xr
from conftest import workflow_copy
from test_workflow import ASSETS, snakemake

JOB = "tower_fluxes/tower/dfols/start1"


@pytest.fixture(scope="module")
def tower_run(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("tower"))
    configs = [".test/config.yaml", "config/tower.yaml", ".test/tower.yaml"]
    snakemake("--cores", "2", "--configfile", *configs, "--config", ASSETS, cwd=work)
    return work / "results/tower"


@pytest.mark.e2e
def test_the_tower_weather_and_crop_table_are_read(tower_run):
    with xr.open_dataset(tower_run / "weather/forcing.nc") as forcing:
        # no barometer: pressure from the site's 30 m; RH turned into vapour pressure
        assert float(forcing["p"].min()) == float(forcing["p"].max()) == pytest.approx(1009.6, abs=0.5)
        assert 5 < float(forcing["ea"].mean()) < 30
    log = (tower_run / "logs/retrieval.log").read_text()
    assert "not in the table, from retrieval.table.defaults" in log


@pytest.mark.e2e
def test_the_tower_fluxes_are_closed_fitted_and_scored(tower_run):
    with xr.open_dataset(tower_run / "observations/tower_fluxes/tower.nc") as matched:
        assert matched.attrs["closure_method"] == "bowen_ratio"
        assert 0.7 < matched.attrs["closure_fraction"] < 0.9  # the example closes to about 80 %
        times = pd.DatetimeIndex(matched["time"].values)
        assert (times.minute % 30 == 15).all()  # FLUXNET's interval starts, run at the middle
    result = json.loads((tower_run / f"calibration/{JOB}/result.json").read_text())
    assert result["final_misfit"] < result["initial_misfit"] and result["closure_method"] == "bowen_ratio"
    assert result["dropped_low_sun"] > 0 and "unsolved_observations_excluded" in result
    table = pd.read_csv(tower_run / f"calibration/{JOB}/callmip.csv")
    assert set(table["period"]) == {"calibration", "validation"} and set(table["target"]) == {"lEtot", "Htot"}
    assert table["n_scored"].min() > 0
    assert (tower_run / f"figures/calibration/{JOB}/validation_period.png").stat().st_size > 10_000
