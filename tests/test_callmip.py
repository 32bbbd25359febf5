"""The CalLMIP-style table and the validation-period figure of a calibration against a file, from a fit table
built by hand (no SCOPE runs)."""

import io

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scopecal import holdout, problems
from scopecal.config import default_field_geojson
from scopecal.figures import save_figure, validation_period_figure

TARGETS = ["lEtot", "Htot"]
UNITS = {"lEtot": "W m-2", "Htot": "W m-2"}
# 4 days of half-hours from 10:00 to 14:00 UTC: 2 days fitted, 2 held out
TIMES = pd.DatetimeIndex(
    [stamp for day in range(1, 5) for stamp in pd.date_range(f"2021-07-0{day} 10:00", periods=9, freq="30min")]
)
SHAPE = (1, 1, TIMES.size)
HELD_OUT = TIMES.day >= 3
UNCONVERGED_AT_START = 4  # a fitted half-hour whose energy balance did not converge at the start (H ~ 1e16)
NAN_CALIBRATED = 30  # a held-out half-hour where the calibrated run gave NaN


def cube(values) -> tuple[tuple[str, str, str], np.ndarray]:
    return ("y", "x", "time"), np.asarray(values, dtype=float).reshape(SHAPE)


def observed_values(target: str) -> np.ndarray:
    hour = TIMES.hour + TIMES.minute / 60
    peak = {"lEtot": 350.0, "Htot": 120.0}[target]
    return np.asarray(peak * np.cos((hour - 12.0) / 6.0) + 3.0 * TIMES.day, dtype=float)


def fit_table(held_out=HELD_OUT, constant_observation: bool = False) -> xr.Dataset:
    """A fit table from ``holdout.fit_table`` on hand-made observations and model outputs: the start 20 % high,
    the calibrated model 5 W m-2 high, with one unsolved cell at each point."""
    coords = {"y": [0.0], "x": [0.0], "time": TIMES}
    observations = xr.Dataset(
        {"observed": cube(~held_out), "holdout": cube(held_out)},
        coords=coords,
    ).astype(bool)
    starting, calibrated = xr.Dataset(coords=coords), xr.Dataset(coords=coords)
    for target in TARGETS:
        observed = np.full(TIMES.size, 200.0) if constant_observation else observed_values(target)
        observations[target] = (*cube(observed), {"units": UNITS[target]})
        observations[f"sigma_{target}"] = cube(np.full(TIMES.size, 20.0))
        start = 1.2 * observed
        start[UNCONVERGED_AT_START] = 1e16
        final = observed + 5.0 + np.where(np.arange(TIMES.size) % 2, 2.0, -2.0)
        final[NAN_CALIBRATED] = np.nan
        starting[target], calibrated[target] = cube(start), cube(final)
    energy_error = np.full(TIMES.size, 0.9)  # W m-2
    energy_error[UNCONVERGED_AT_START] = 1e16
    starting["max_error"], calibrated["max_error"] = cube(energy_error), cube(np.full(TIMES.size, 2.5))
    problem = problems.problem_from_config(
        "eb",
        {
            "workflow": "energy-balance",
            "parameters": {"rss": dict(lower=10.0, upper=5000.0, transform="log", starts=[500.0])},
            "targets": {target: {"absolute": 20.0} for target in TARGETS},
            "observations": {"tower": {}},
        },
    )
    return holdout.fit_table(observations, starting, calibrated, problem)


def report_of(table: xr.Dataset) -> dict:
    """What the validation stage reports of a job: its keys and the scores of its fit table."""
    return dict(
        problem="eb",
        observations="tower",
        optimizer="dfols",
        start="start1",
        scores=holdout.role_scores(table, TARGETS),
    )


def by_hand(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    difference = model - observed
    return {
        "rmse": np.sqrt(np.mean(difference**2)),
        "bias": np.mean(difference),
        "r2": 1.0 - np.sum(difference**2) / np.sum((observed - observed.mean()) ** 2),
        "misfit": 0.5 * np.sum((difference / sigma) ** 2),
    }


def test_the_table_scores_each_period_and_target_as_computed_by_hand():
    table = fit_table()
    frame = holdout.callmip_table(table, report_of(table))
    assert frame[["period", "target"]].values.tolist() == [
        ["calibration", "lEtot"],
        ["calibration", "Htot"],
        ["validation", "lEtot"],
        ["validation", "Htot"],
    ]
    assert set(frame["problem"]) == {"eb"} and set(frame["observation_set"]) == {"tower"}
    assert set(frame["optimizer"]) == {"dfols"} and set(frame["start"]) == {"start1"}
    unsolved = np.zeros(TIMES.size, dtype=bool)
    unsolved[[UNCONVERGED_AT_START, NAN_CALIBRATED]] = True
    for period, in_period in (("calibration", ~HELD_OUT), ("validation", HELD_OUT)):
        rows = in_period & ~unsolved
        for target in TARGETS:
            observed = observed_values(target)[rows]
            start = 1.2 * observed
            calibrated = observed + 5.0 + np.where(np.arange(TIMES.size) % 2, 2.0, -2.0)[rows]
            sigma = np.full(rows.sum(), 20.0)
            row = frame[(frame["period"] == period) & (frame["target"] == target)].iloc[0]
            assert row["n_scored"] == rows.sum() == 17 and row["units"] == "W m-2"
            expected_start, expected_calibrated = by_hand(observed, start, sigma), by_hand(observed, calibrated, sigma)
            for score in ("rmse", "bias", "r2", "misfit"):
                assert row[f"{score}_start"] == pytest.approx(expected_start[score], rel=1e-12)
                assert row[f"{score}_calibrated"] == pytest.approx(expected_calibrated[score], rel=1e-12)
            reduction = 1.0 - expected_calibrated["misfit"] / expected_start["misfit"]
            assert row["misfit_reduction"] == pytest.approx(reduction, rel=1e-12) and 0 < reduction < 1


def test_the_periods_are_dated_and_unsolved_cells_counted_and_left_out():
    table = fit_table()
    frame = holdout.callmip_table(table, report_of(table))
    periods = frame.drop_duplicates("period").set_index("period")
    assert periods.loc["calibration", ["first_utc", "last_utc"]].tolist() == ["2021-07-01 10:00", "2021-07-02 14:00"]
    assert periods.loc["validation", ["first_utc", "last_utc"]].tolist() == ["2021-07-03 10:00", "2021-07-04 14:00"]
    assert periods["n_observations"].tolist() == [18, 18]
    assert periods["n_unsolved_start"].tolist() == [1, 0]  # the unconverged 1e16 at the start, fitted
    assert periods["n_unsolved_calibrated"].tolist() == [0, 1]  # the NaN calibrated, held out
    numbers = frame.select_dtypes("number")
    assert np.isfinite(numbers.to_numpy(dtype=float)).all()
    assert frame["rmse_start"].max() < 100  # the 1e16 reached no score
    written = frame.to_csv(index=False)
    assert "inf" not in written.lower() and "nan" not in written.lower() and "e+16" not in written
    assert pd.read_csv(io.StringIO(written))["n_scored"].tolist() == [17, 17, 17, 17]


def test_the_markdown_shows_periods_and_scores_and_a_missing_score_as_a_dash():
    table = fit_table()
    text = holdout.callmip_markdown(holdout.callmip_table(table, report_of(table)), "eb / tower / dfols / start1")
    assert text.startswith("# eb / tower / dfols / start1")
    assert "| calibration | 2021-07-01 10:00 | 2021-07-02 14:00 | 18 | 1 | 0 |" in text
    assert "| validation | lEtot (W m-2) | 17 |" in text and "misfit reduction" in text
    assert "No validation period" not in text
    # without a hold-out: only the calibration period; a constant observation has no R²
    table = fit_table(held_out=np.zeros(TIMES.size, dtype=bool), constant_observation=True)
    frame = holdout.callmip_table(table, report_of(table))
    assert frame["period"].unique().tolist() == ["calibration"] and frame["r2_start"].isna().all()
    assert frame["n_observations"].tolist() == [36, 36]
    text = holdout.callmip_markdown(frame, "no hold-out")
    assert "No validation period" in text and "| – |" in text and "nan" not in text.lower()
    assert ",," in frame.to_csv(index=False)  # the R² without a value is an empty cell


def test_a_report_of_another_table_is_refused():
    table = fit_table()
    other = fit_table(held_out=np.zeros(TIMES.size, dtype=bool))
    with pytest.raises(ValueError, match="not of the same calibration job"):
        holdout.callmip_table(table, report_of(other))


def test_the_diurnal_composite_means_each_half_hour_of_the_scored_cells():
    table = fit_table()
    composite = holdout.diurnal_composite(table, "lEtot", HELD_OUT)
    assert composite.index.tolist() == [10.25 + 0.5 * k for k in range(9)]  # UTC half-hours, by their middle
    # two held-out days a half-hour, but at 11:30 UTC on 4 July the calibrated run gave NaN: one
    assert composite["n"].tolist() == [2, 2, 2, 1, 2, 2, 2, 2, 2]
    observed = observed_values("lEtot")
    assert composite.loc[10.25, "observed"] == pytest.approx(0.5 * (observed[18] + observed[27]))
    assert composite.loc[11.75, "observed"] == pytest.approx(observed[21])  # only the 3 July value scores
    assert composite.loc[10.25, "start"] == pytest.approx(1.2 * composite.loc[10.25, "observed"])
    assert composite.loc[10.25, "observed_sd"] == pytest.approx(0.5 * abs(observed[27] - observed[18]))
    # local mean solar time 15 degrees east: one hour later
    solar = holdout.diurnal_composite(table, "lEtot", HELD_OUT, longitude=15.0)
    assert solar.index.tolist() == [11.25 + 0.5 * k for k in range(9)]
    np.testing.assert_allclose(solar["observed"].values, composite["observed"].values)
    assert holdout.hour_of_day(np.array(["2021-07-01T23:45"], dtype="datetime64[ns]"), 7.5).tolist() == [0.25]


def test_the_solar_time_longitude_is_the_point_or_the_field_centre():
    assert holdout.solar_time_longitude({"lat": 51.3, "lon": 5.02}, default_field_geojson()) == 5.02
    centre = holdout.solar_time_longitude("field", default_field_geojson())
    assert centre == holdout.solar_time_longitude(None, default_field_geojson()) and 2 < centre < 7  # Belgium


@pytest.mark.parametrize("held_out", [HELD_OUT, np.zeros(TIMES.size, dtype=bool)], ids=["hold-out", "no-hold-out"])
def test_the_validation_period_figure_is_written(tmp_path, held_out):
    table = fit_table(held_out=held_out)
    fig = validation_period_figure(table, TARGETS, longitude=5.02, title="eb / tower / dfols / start1")
    heading = fig.get_suptitle()
    if held_out.any():
        assert "validation period" in heading and "2021-07-03 10:00 to 2021-07-04 14:00 UTC, 18 observations" in heading
    else:
        assert "no observation was held out of the fit: the fit period is shown" in heading
        assert "36 observations" in heading
    assert "local mean solar time" in fig.axes[0].get_xlabel()
    paths = [tmp_path / "validation_period.png", tmp_path / "validation_period.svg"]
    save_figure(fig, paths)
    assert all(path.stat().st_size > 10_000 for path in paths)
