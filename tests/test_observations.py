"""Observation sets from files: units, time zones, quality flags, space and time matching, hold-out, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import CRS, Transformer
from scipy.constants import Stefan_Boltzmann
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture
from test_calibration import THERMAL, thermal_twin  # noqa: F401 - shared fixture

from scopecal import calibrate, observations, problems
from scopecal.config import default_field_geojson

PROBLEM = dict(
    workflow="fluorescence",
    parameters={"fqe": dict(lower=0.001, upper=0.1, transform="log", starts=[0.01])},
    targets={"F740": {"relative": 0.05}},
)


def pixel_latlon(biophysics, iy, ix):
    to_geo = Transformer.from_crs(CRS.from_wkt(biophysics.attrs["crs_wkt"]), "EPSG:4326", always_xy=True)
    lon, lat = to_geo.transform(float(biophysics["x"][ix]), float(biophysics["y"][iy]))
    return lat, lon


def inside_pixel(biophysics):
    iy, ix = np.argwhere(biophysics["field_mask"].values)[0]
    return int(iy), int(ix)


def tower_csv(path, rows, **columns):
    table = pd.DataFrame({"timestamp": rows, **columns})
    table.to_csv(path, index=False)
    return path


def file_set(path, biophysics, **entry):
    lat, lon = pixel_latlon(biophysics, *inside_pixel(biophysics))
    spec = dict(
        file=str(path),
        time={"column": "timestamp", "timezone": "Europe/Brussels"},
        variables={"F740": {"name": "SIF", "units": "mW m-2 nm-1 sr-1"}},
        location={"lat": lat, "lon": lon},
    )
    spec.update(entry)
    problem = problems.problem_from_config("sif", {**PROBLEM, "observations": {"tower": spec}})
    return observations.FileSet.from_problem(problem, "tower")


def matched(fs, biophysics, season=("2021-06-01", "2021-08-30")):
    return observations.file_observations(
        fs,
        biophysics,
        season=(pd.Timestamp(season[0]), pd.Timestamp(season[1])),
        sun_elevation=lambda t: observations_sun(t),
        longitude=4.7,
    )


def observations_sun(times):
    from scopecal.geometry import sun_elevation

    return sun_elevation(times, default_field_geojson())


LOCAL = ["2021-07-01 03:00", "2021-07-01 12:00", "2021-07-01 12:30", "2021-07-15 13:00", "2021-08-10 12:00"]


def test_a_tower_csv_in_local_time_lands_on_its_pixel_in_utc_and_scope_units(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    path = tower_csv(tmp_path / "t.csv", LOCAL, SIF=[0.0, 1.2, 1.3, 1.1, 0.9], QC=[0, 0, 1, 0, 0])
    fs = file_set(
        path,
        biophysics,
        variables={"F740": {"name": "SIF", "units": "mW m-2 nm-1 sr-1", "quality": {"name": "QC", "accept": [0]}}},
    )
    result = matched(fs, biophysics)
    iy, ix = inside_pixel(biophysics)
    # 03:00 local is night (dropped); 12:30 fails QC; CEST is UTC+2
    expected_times = pd.to_datetime(["2021-07-01 10:00", "2021-07-15 11:00", "2021-08-10 10:00"])
    np.testing.assert_array_equal(result["time"].values, expected_times.values)
    values = result["F740"].isel(y=iy, x=ix).values
    np.testing.assert_allclose(values, [1.2, 1.1, 0.9], rtol=1e-12)  # 1 mW m-2 nm-1 = 1 W m-2 um-1
    np.testing.assert_allclose(result["sigma_F740"].isel(y=iy, x=ix).values, 0.05 * values)
    assert int(result["observed"].sum()) == 3 and result["observed"].isel(y=iy, x=ix).all()
    assert result.attrs["baseline_misfit"] == 1.5


def test_iso_offsets_need_no_timezone_and_temperatures_become_exitance(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    stamps = ["2021-07-01T12:00:00+02:00", "2021-07-15T11:00:00Z"]
    path = tower_csv(tmp_path / "t.csv", stamps, TS=[25.0, 30.0], TS_sd=[0.5, 0.5])
    problem_spec = {**PROBLEM, "workflow": "thermal", "targets": {"Eoutt": {"absolute": 5.0}}}
    lat, lon = pixel_latlon(biophysics, *inside_pixel(biophysics))
    spec = dict(
        file=str(path),
        time={"column": "timestamp"},
        location={"lat": lat, "lon": lon},
        variables={"Eoutt": {"name": "TS", "units": "degC", "sigma": {"name": "TS_sd"}}},
    )
    problem = problems.problem_from_config("t", {**problem_spec, "observations": {"tower": spec}})
    result = matched(observations.FileSet.from_problem(problem, "tower"), biophysics)
    np.testing.assert_array_equal(result["time"].values, pd.to_datetime(["2021-07-01 10:00", "2021-07-15 11:00"]))
    series = result["Eoutt"].isel(y=inside_pixel(biophysics)[0], x=inside_pixel(biophysics)[1]).values
    kelvin = np.array([298.15, 303.15])
    np.testing.assert_allclose(series, Stefan_Boltzmann * kelvin**4, rtol=1e-12)
    sigma = result["sigma_Eoutt"].isel(y=inside_pixel(biophysics)[0], x=inside_pixel(biophysics)[1]).values
    np.testing.assert_allclose(sigma, 4 * Stefan_Boltzmann * kelvin**3 * 0.5, rtol=1e-12)


def test_a_gridded_netcdf_matches_the_same_csv(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    times = pd.to_datetime(["2021-07-01 10:00", "2021-07-15 11:00"])
    csv = tower_csv(tmp_path / "t.csv", [t.isoformat() + "Z" for t in times], SIF=[1.2, 1.1])
    from_csv = matched(file_set(csv, biophysics, time={"column": "timestamp"}), biophysics)
    iy, ix = inside_pixel(biophysics)
    grid = np.full((biophysics.sizes["y"], biophysics.sizes["x"], 2), np.nan)
    grid[iy, ix] = [1.2, 1.1]
    gridded = xr.Dataset(
        {"SIF": (("y", "x", "time"), grid)}, coords={"y": biophysics["y"], "x": biophysics["x"], "time": times}
    )
    gridded.to_netcdf(tmp_path / "g.nc")
    from_grid = matched(file_set(tmp_path / "g.nc", biophysics, location=None, time={}), biophysics)
    xr.testing.assert_identical(from_csv.drop_attrs(), from_grid.drop_attrs())


def test_holdout_keeps_valid_cells_out_of_the_fit(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    path = tower_csv(tmp_path / "t.csv", LOCAL[1:], SIF=[1.2, 1.3, 1.1, 0.9])
    result = matched(file_set(path, biophysics, holdout={"start": "2021-08-01", "end": "2021-08-31"}), biophysics)
    assert int(result["observed"].sum()) == 3 and int(result["holdout"].sum()) == 1
    assert bool(result["holdout"].isel(time=-1).any())
    every = matched(file_set(path, biophysics, holdout={"every": 2}), biophysics)
    # days 0 (Jul 1, two records), 14 (Jul 15), 40 (Aug 10): held out where the day's ordinal is odd
    assert int(every["holdout"].sum()) == 0 and int(every["observed"].sum()) == 4


def test_daily_means_at_midday(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    path = tower_csv(tmp_path / "t.csv", LOCAL[1:3], SIF=[1.2, 1.4])
    fs = file_set(path, biophysics, aggregate={"daily_local_solar_hours": [9, 13]})
    result = matched(fs, biophysics)
    iy, ix = inside_pixel(biophysics)
    assert result.sizes["time"] == 1
    np.testing.assert_allclose(result["F740"].isel(y=iy, x=ix).values, [1.3])
    np.testing.assert_allclose(result["sigma_F740"].isel(y=iy, x=ix).values, [np.hypot(0.06, 0.07) / 2])
    assert pd.Timestamp(result["time"].values[0]) == pd.Timestamp("2021-07-01 10:15")


@pytest.mark.parametrize(
    ("entry", "rows", "columns", "message"),
    [
        (
            dict(variables={"F740": {"name": "SIF760", "units": "mW m-2 nm-1 sr-1"}}),
            LOCAL,
            {},
            r"no variable 'SIF760' \(mapped to F740\); the file has \['QC', 'SIF'\]",
        ),
        (
            dict(variables={"F740": {"name": "SIF", "units": "W m-2"}}),
            LOCAL,
            {},
            r"units 'W m-2' do not convert to F740's 'W m-2 um-1 sr-1'",
        ),
        (  # a malformed units string: one line, not pint's parser error
            dict(variables={"F740": {"name": "SIF", "units": "mW m-2 nm-1 (sr"}}),
            LOCAL,
            {},
            r"units 'mW m-2 nm-1 \(sr' do not convert to F740's",
        ),
        (dict(time={"column": "timestamp"}), LOCAL, {}, r"carry no UTC offset; declare their zone with time.timezone"),
        (dict(location={"lat": 50.0, "lon": 4.0}), LOCAL, {}, r"the point lat=50.0, lon=4.0 .* is outside the field"),
        (
            dict(
                variables={
                    "F740": {"name": "SIF", "units": "mW m-2 nm-1 sr-1", "quality": {"name": "QC", "accept": [9]}}
                }
            ),
            LOCAL,
            {},
            r"no valid SIF \(F740\) is left after quality flags",
        ),
        (
            dict(variables={"F740": {"name": "SIF", "units": "mW m-2 nm-1 sr-1", "sigma": {"name": "sd"}}}),
            LOCAL,
            {"sd": [0.1, 0.0, 0.1, 0.1, 0.1]},
            r"sigma variable 'sd' holds values <= 0",
        ),
        (
            {},
            ["2021-09-20 12:00", "2021-09-21 12:00"],
            {},
            r"every record .* lies outside the period SCOPE can run, 2021-06-01 to 2021-08-30",
        ),
        ({}, ["2021-07-01 01:00", "2021-07-01 23:00"], {}, r"no valid SIF \(F740\) is left after dropping night"),
    ],
)
def test_bad_observation_files_are_named(chain, tmp_path, entry, rows, columns, message):  # noqa: F811
    _, biophysics, _, _ = chain
    sif = np.linspace(1.0, 1.2, len(rows))
    path = tower_csv(tmp_path / "t.csv", rows, SIF=sif, QC=np.zeros(len(rows), int), **columns)
    with pytest.raises(ValueError, match=message):
        matched(file_set(path, biophysics, **entry), biophysics)


def test_a_twin_set_read_back_as_a_file_calibrates_bit_identically(chain, thermal_twin, scope_assets, tmp_path):  # noqa: F811
    """The file path and the twin path meet: same observations, same SCOPE inputs, same trace and result."""
    _, biophysics, forcing, _ = chain
    prepared, problem, _, sets, _ = thermal_twin
    twin_set = sets["noisy1"]
    twin_set[["Loutt", "sigma_Loutt"]].to_netcdf(tmp_path / "twin.nc")
    spec = {
        "file": str(tmp_path / "twin.nc"),
        "variables": {"Loutt": {"name": "Loutt", "units": "W m-2 sr-1", "sigma": {"name": "sigma_Loutt"}}},
    }
    as_file = problems.problem_from_config("t", {**THERMAL, "observations": {"twin": spec}})
    file_obs, file_inputs = observations.prepare_file_set(
        observations.FileSet.from_problem(as_file, "twin"),
        "thermal",
        biophysics=biophysics,
        weather=forcing,
        geojson=default_field_geojson(),
        season=("2021-06-01", "2021-08-31"),
        viewing_zenith=0.0,
        viewing_azimuth=0.0,
        scope_root=scope_assets,
        input_settings=SETTINGS,
    )
    np.testing.assert_array_equal(file_obs["observed"].values, twin_set["observed"].values)
    np.testing.assert_array_equal(file_obs["Loutt"].values, twin_set["Loutt"].values)
    results = []
    for inputs, observed, folder in ((prepared, twin_set, "twin"), (file_inputs, file_obs, "file")):
        objective = calibrate.build_objective(inputs, observed, problem, scope_root=scope_assets, device="cpu")
        result = calibrate.calibrate(
            objective,
            optimizer="dfols",
            options={},
            start=0,
            budget=20,
            seed=1,
            # a file set does not know its noise realisation: its baseline is the expected misfit; use the twin's
            baseline_misfit=twin_set.attrs["baseline_misfit"],
            directory=tmp_path / folder,
        )
        results.append({k: v for k, v in result.items() if k not in ("wall_time_s", "model_time_s")})
    assert results[0] == results[1]
    traces = [(tmp_path / folder / "evaluations.jsonl").read_text() for folder in ("twin", "file")]
    assert [json.loads(line)["misfit"] for line in traces[0].splitlines()] == [
        json.loads(line)["misfit"] for line in traces[1].splitlines()
    ]


def test_a_cell_scope_did_not_solve_reaches_no_score():
    """A non-converged energy-balance cell (its fluxes can be 1e16 at low wind) or a NaN is left out of the fit
    table's model columns and so out of every score, and counted."""
    from scopecal import holdout

    coords = {"y": [0.0], "x": [0.0], "time": pd.date_range("2021-07-01 10:00", periods=4, freq="D")}
    shape = (1, 1, 4)
    observed = xr.Dataset(
        {
            "observed": (("y", "x", "time"), np.array([True, True, True, False]).reshape(shape)),
            "holdout": (("y", "x", "time"), np.array([False, False, False, True]).reshape(shape)),
            "lEtot": (("y", "x", "time"), np.full(shape, 300.0)),
            "sigma_lEtot": (("y", "x", "time"), np.full(shape, 30.0)),
        },
        coords=coords,
    )

    def model(values, energy_error):
        return xr.Dataset(
            {
                "lEtot": (("y", "x", "time"), np.array(values).reshape(shape)),
                "max_error": (("y", "x", "time"), np.array(energy_error).reshape(shape)),
            },
            coords=coords,
        )

    problem = problems.problem_from_config(
        "eb",
        {
            **PROBLEM,
            "workflow": "energy-balance",
            "targets": {"lEtot": {"absolute": 30.0}},
            "observations": {"clean": {}},
        },
    )
    start = model([330.0, 2e16, 330.0, 330.0], [0.5, 3e16, 0.5, 0.5])
    calibrated = model([300.0, 300.0, np.nan, 310.0], [0.5, 3.0, 0.5, 0.5])  # 3 W m-2: solved
    table = holdout.fit_table(observed, start, calibrated, problem)
    assert table["start_solved"].values.tolist() == [True, False, True, True]
    assert table["calibrated_solved"].values.tolist() == [True, True, False, True]
    assert np.isnan(table["lEtot_start"].values[1]) and np.isnan(table["lEtot_calibrated"].values[2])
    assert np.nanmax(table["lEtot_start"].values) == 330.0


def pixel_corner_latlon(biophysics, iy, ix):
    """(lat, lon) of the corner shared by pixels (iy, ix), (iy, ix + 1), (iy + 1, ix), (iy + 1, ix + 1)."""
    to_geo = Transformer.from_crs(CRS.from_wkt(biophysics.attrs["crs_wkt"]), "EPSG:4326", always_xy=True)
    x = 0.5 * float(biophysics["x"][ix] + biophysics["x"][ix + 1])
    y = 0.5 * float(biophysics["y"][iy] + biophysics["y"][iy + 1])
    lon, lat = to_geo.transform(x, y)
    return lat, lon


def test_footprint_weights_are_the_in_field_pixel_areas(chain):  # noqa: F811
    _, biophysics, _, _ = chain
    inside = biophysics["field_mask"].values.astype(bool)
    np.testing.assert_array_equal(observations.footprint_weights("field", biophysics, "f"), inside / inside.sum())
    size = float(biophysics["x"][1] - biophysics["x"][0])
    # a circle of a quarter pixel around a pixel centre lies in that pixel alone
    iy, ix = inside_pixel(biophysics)
    lat, lon = pixel_latlon(biophysics, iy, ix)
    alone = observations.footprint_weights({"lat": lat, "lon": lon, "radius_m": size / 4}, biophysics, "f")
    assert alone[iy, ix] == 1.0 and alone.sum() == 1.0
    # a circle around a corner of four in-field pixels covers them equally
    corners = [
        (y, x)
        for y in range(inside.shape[0] - 1)
        for x in range(inside.shape[1] - 1)
        if inside[y : y + 2, x : x + 2].all()
    ]
    cy, cx = corners[0]
    lat, lon = pixel_corner_latlon(biophysics, cy, cx)
    four = observations.footprint_weights({"lat": lat, "lon": lon, "radius_m": 0.4 * size}, biophysics, "f")
    np.testing.assert_allclose(four[cy : cy + 2, cx : cx + 2], 0.25, rtol=1e-9)
    assert np.isclose(four.sum(), 1.0) and (four > 0).sum() == 4
    # a polygon over one pixel and the half of its eastern neighbour: weights 2/3 and 1/3
    to_geo = Transformer.from_crs(CRS.from_wkt(biophysics.attrs["crs_wkt"]), "EPSG:4326", always_xy=True)
    x0, y0 = float(biophysics["x"][cx]) - size / 2, float(biophysics["y"][cy]) - size / 2
    ring = [(x0, y0), (x0 + 1.5 * size, y0), (x0 + 1.5 * size, y0 + size), (x0, y0 + size)]
    polygon = [list(to_geo.transform(x, y)) for x, y in ring]
    split = observations.footprint_weights({"polygon": polygon}, biophysics, "f")
    np.testing.assert_allclose([split[cy, cx], split[cy, cx + 1]], [2 / 3, 1 / 3], rtol=1e-6)
    with pytest.raises(ValueError, match=r"f: the footprint \(x .*\) covers none of the field's in-field pixels"):
        observations.footprint_weights({"lat": lat + 0.01, "lon": lon, "radius_m": 50.0}, biophysics, "f")


def test_a_footprint_series_observes_each_time_once(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    path = tower_csv(tmp_path / "t.csv", LOCAL[1:], SIF=[1.2, 1.3, 1.1, 0.9])
    fs = file_set(path, biophysics, location="field", holdout={"start": "2021-08-01", "end": "2021-08-31"})
    result = matched(fs, biophysics)
    inside = biophysics["field_mask"].values.astype(bool)
    np.testing.assert_array_equal(result["footprint_weight"].values, inside / inside.sum())
    # every in-field pixel holds the series; the fit counts one observation a time
    assert int(result["observed"].sum()) == 3 * inside.sum() and int(result["holdout"].sum()) == inside.sum()
    assert result.attrs["observed_cells"] == 3 and result.attrs["holdout_cells"] == 1
    assert result.attrs["baseline_misfit"] == 1.5
    np.testing.assert_array_equal(result["F740"].values[inside].max(0), result["F740"].values[inside].min(0))


def footprint_twin(prepared, truth, weight):
    """Observations of the footprint-weighted mean of the true Loutt at every time (noise-free)."""
    weight = xr.DataArray(weight, dims=("y", "x"), coords={"y": prepared["y"], "x": prepared["x"]})
    loutt = truth["Loutt"].transpose("y", "x", "time")
    mean = (loutt.where(weight > 0, 0.0) * weight).sum(("y", "x"))
    observed = (weight > 0).broadcast_like(loutt).transpose("y", "x", "time")
    return xr.Dataset(
        {
            "observed": observed,
            "Loutt": mean.broadcast_like(loutt).where(observed),
            "sigma_Loutt": xr.full_like(loutt, 0.2).where(observed),
            "footprint_weight": weight,
        }
    )


def test_a_footprint_objective_models_the_weighted_mean(thermal_twin, scope_assets):  # noqa: F811
    """Residuals against an independent forward run; Jacobian against finite differences; the same values
    with one footprint a chunk as with all in one."""
    from scopecal import forward, twin

    prepared, problem, truth, _, _ = thermal_twin
    inside = prepared["field_mask"].values.astype(bool)
    weight = np.where(inside, np.arange(inside.size).reshape(inside.shape) + 1.0, 0.0)  # unequal weights
    weight /= weight.sum()
    footprint = footprint_twin(prepared, truth, weight)
    k, n_times = int(inside.sum()), prepared.sizes["time"]
    one_a_chunk, all_in_one = (
        calibrate.build_objective(prepared, footprint, problem, scope_root=scope_assets, device="cpu", chunk_size=size)
        for size in (k, k * n_times)
    )
    assert (one_a_chunk.n_observations, one_a_chunk.n_cells, one_a_chunk.observations_per_chunk) == (
        n_times,
        k * n_times,
        1,
    )
    assert all_in_one.evaluate(problem.to_scaled(problem.truth)).misfit < 1e-20
    starts = [p.starts[0] for p in problem.parameters]
    u = np.asarray(problem.to_scaled(starts))
    chunked, whole = (objective.evaluate(u, derivative="jacobian") for objective in (one_a_chunk, all_in_one))
    np.testing.assert_allclose(chunked.residuals, whole.residuals, rtol=1e-12)
    np.testing.assert_allclose(chunked.jacobian, whole.jacobian, rtol=1e-12, atol=1e-14)
    model = forward.run_forward(
        twin.with_parameters(prepared, dict(zip(problem.names, starts, strict=True))),
        "thermal",
        scope_root=scope_assets,
        device="cpu",
        output_vars=["Loutt"],
    )["Loutt"].transpose("y", "x", "time")
    expected = ((model.values[inside] * weight[inside][:, None]).sum(0) - footprint["Loutt"].values[inside][0]) / 0.2
    np.testing.assert_allclose(whole.residuals, expected, rtol=1e-10)
    step = 1e-6
    for index in range(len(u)):
        shifted = [u + sign * step * np.eye(len(u))[index] for sign in (1, -1)]
        plus, minus = (all_in_one.evaluate(point).residuals for point in shifted)
        np.testing.assert_allclose(whole.jacobian[:, index], (plus - minus) / (2 * step), rtol=1e-5, atol=1e-8)
    gradient = all_in_one.evaluate(u, derivative="gradient").gradient
    np.testing.assert_allclose(gradient, whole.jacobian.T @ whole.residuals, rtol=1e-10)
    # the validation's fit table: one row a time, the model as the same weighted mean
    from scopecal import holdout

    footprint["holdout"] = xr.zeros_like(footprint["observed"])
    table = holdout.fit_table(footprint, model.to_dataset(), truth, problem)
    assert table.sizes["cell"] == n_times and table["start_solved"].all() and table["calibrated_solved"].all()
    np.testing.assert_allclose(table["Loutt_start"].values, whole.residuals * 0.2 + table["Loutt_observed"].values)
    np.testing.assert_allclose(table["Loutt_calibrated"].values, table["Loutt_observed"].values, rtol=1e-12)
