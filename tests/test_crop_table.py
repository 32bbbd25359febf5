"""retrieval.source: table: crop state measured in the field, from a CSV or a per-pixel NetCDF to SCOPE's inputs."""

import copy
import subprocess
import sys
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from arc_scope.bridge.parameter_map import BIO_SCALES
from cf_xarray.units import units as UNITS
from conftest import ROOT, SHARED_ASSETS, workflow_copy

from scopecal import bridge, crop_table, geometry, inputs, retrieval, weather
from scopecal.config import default_field_geojson, default_weather_csv
from scopecal.netcdf import write_netcdf
from scopecal.validation import validate_config

DEFAULT_CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SEASON = (date(2021, 6, 1), date(2021, 8, 31))
GEOJSON = default_field_geojson()
GRID = retrieval.field_grid(GEOJSON, 20.0, (4, 4))
EXAMPLE = ROOT / "examples/tower/crop_table_synthetic.csv"
EXAMPLE_UNITS = {"LAI": "m2 m-2", "Cab": "ug cm-2", "Cw": "cm", "Cdm": "g m-2"}

# values ARC's integer coding would round (LAI and Cab in 0.01, Cw and Cdm in 1e-4 g cm-2)
MEASURED = """\
# SYNTHETIC test table
date,LAI,Cab,Cw,Cdm
2021-06-03,1.234,412.7,0.01234,45.67
2021-06-17,2.345,456.1,0.01357,48.91
2021-07-15,4.567,501.3,0.01579,52.35
2021-08-26,3.456,389.9,0.01302,57.77
"""
MEASURED_UNITS = {"LAI": "m2 m-2", "Cab": "mg m-2", "Cw": "cm", "Cdm": "g m-2"}
# the same table with canopy height as a field team writes it (hc, in cm) and carotenoids
MEASURED_WITH_HEIGHT = """\
# SYNTHETIC test table
date,LAI,Cab,Cw,Cdm,hc,Cca
2021-06-03,1.234,412.7,0.01234,45.67,23.4,9.87
2021-06-17,2.345,456.1,0.01357,48.91,45.7,10.93
2021-07-15,4.567,501.3,0.01579,52.35,123.4,12.61
2021-08-26,3.456,389.9,0.01302,57.77,187.9,8.77
"""
MEASURED_WITH_HEIGHT_UNITS = {**MEASURED_UNITS, "hc": "cm", "Cca": "ug cm-2"}


def table_settings(**changes) -> dict:
    """retrieval.table as the workflow sees it: the schema fills the defaults."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["retrieval"] = {"source": "table", "table": {"path": "crop.csv", **changes}}
    validate_config(config, ROOT / "config/schema.yaml")
    return config["retrieval"]["table"]


def write(tmp_path, text, name="crop.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def table_output(path, **changes):
    settings = table_settings(**{"units": MEASURED_UNITS, "margin_days": 5, **changes})
    return crop_table.crop_table_output(path, settings, geojson=GEOJSON, pixel_size_m=20.0, shape=(4, 4), season=SEASON)


def bridged(tmp_path, arrays):
    """The retrieval NPZ through the bridge and a NetCDF round trip, as the workflow writes and reads it."""
    retrieval.save_arc_npz(tmp_path / "arc_output.npz", arrays, source="table", note="test")
    write_netcdf(bridge.bridge_arc_npz(tmp_path / "arc_output.npz", 2021), tmp_path / "biophysics.nc", {})
    with xr.open_dataset(tmp_path / "biophysics.nc") as opened:
        return opened.load()


def in_scope_units(column: str, name: str, units: str, text: str = MEASURED) -> np.ndarray:
    """The column of MEASURED (or ``text``) converted by pint on its own, as the SCOPE input must equal it."""
    raw = pd.read_csv(pd.io.common.StringIO(text), comment="#")[column].to_numpy(float)
    quantity = UNITS.Quantity(raw, units)
    if name == "Cw" and units == "cm":  # equivalent water thickness: 1 cm of liquid water is 1 g cm-2
        quantity = quantity * UNITS.Quantity(1.0, "g cm-3")
    return quantity.to(crop_table.scope_units(name)).magnitude


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("crop")
    path = write(tmp_path, MEASURED)
    arrays, lines = table_output(path)
    return path, arrays, lines, bridged(tmp_path, arrays)


@pytest.fixture(scope="module")
def forcing():
    columns = DEFAULT_CONFIG["weather"]["local"]["columns"]
    return weather.load_local_weather(
        default_weather_csv(), columns, start=datetime(2021, 5, 1), end=datetime(2021, 9, 30)
    )


def scope_inputs_at(biophysics, forcing, times, workflow, scope_assets):
    angles = geometry.geometry_at_times(np.asarray(times), GEOJSON, viewing_zenith=0.0, viewing_azimuth=0.0)
    settings = inputs.input_settings(DEFAULT_CONFIG["scope"])
    return inputs.prepare_inputs(
        biophysics, forcing, angles, workflow=workflow, scope_root=scope_assets, **settings
    ).transpose("y", "x", "time", ...)


@pytest.mark.parametrize("workflow", ["reflectance", "energy-balance"])
def test_scope_inputs_equal_the_table_on_measurement_dates_and_are_linear_between(
    measured, forcing, scope_assets, workflow
):
    """The whole chain, CSV -> retrieval NPZ -> bridge -> NetCDF -> SCOPE inputs, at a few UTC times."""
    _, arrays, _, biophysics = measured
    dates = pd.DatetimeIndex(arrays["measured_dates"])
    on_dates = [dates[1] + pd.Timedelta(hours=h) for h in (6, 10.5, 17)] + [dates[3] + pd.Timedelta(hours=10)]
    between = dates[1] + pd.Timedelta(days=10, hours=12)  # 10 of the 28 days from the 2nd to the 3rd date
    times = pd.DatetimeIndex([*on_dates, between])
    prepared = scope_inputs_at(biophysics, forcing, times, workflow, scope_assets)
    inside = biophysics["field_mask"].values
    for column, name, units in [("LAI", "LAI", "m2 m-2"), ("Cab", "Cab", "mg m-2"), ("Cw", "Cw", "cm")]:
        expected = in_scope_units(column, name, units)
        values = prepared[name].values[inside]  # (pixel, time)
        for k, day in enumerate([1, 1, 1, 3]):
            np.testing.assert_array_equal(values[:, k], expected[day])  # exact, to the bit
        fraction = 10 / 28
        np.testing.assert_allclose(values[:, 4], expected[1] + fraction * (expected[2] - expected[1]), rtol=1e-12)
    np.testing.assert_array_equal(prepared["Cdm"].values[inside][:, 0], in_scope_units("Cdm", "Cdm", "g m-2")[1])
    np.testing.assert_allclose(prepared["Cca"].values[inside], prepared["Cab"].values[inside] / 4)  # as for ARC
    # what the table source avoids: ARC's integer coding rounds the measured LAI 2.345 and Cw 0.01357
    decoded = arrays["post_bio_tensor"] * np.asarray(BIO_SCALES)[None, :, None]
    assert not np.array_equal(decoded, arrays["post_bio_physical"][:, :, 1:-1])
    if workflow == "energy-balance":
        np.testing.assert_array_equal(prepared["h"].values, DEFAULT_CONFIG["scope"]["canopy_height_m"])


@pytest.fixture(scope="module")
def measured_with_height(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("crop_with_height")
    path = write(tmp_path, MEASURED_WITH_HEIGHT)
    arrays, lines = table_output(path, units=MEASURED_WITH_HEIGHT_UNITS)
    return path, arrays, lines, bridged(tmp_path, arrays)


def test_height_and_carotenoids_travel_beside_the_bands_on_the_same_dates(measured, measured_with_height):
    _, arrays, lines, biophysics = measured_with_height
    height = in_scope_units("hc", "h", "cm", MEASURED_WITH_HEIGHT)
    carotenoids = in_scope_units("Cca", "Cca", "ug cm-2", MEASURED_WITH_HEIGHT)
    inside = biophysics["field_mask"].values
    for key, name, expected in (("post_bio_physical_h", "h", height), ("post_bio_physical_Cca", "Cca", carotenoids)):
        held = np.concatenate([expected[:1], expected, expected[-1:]])  # the margin's nodes hold the nearest date
        assert arrays[key].dtype == np.float64
        np.testing.assert_array_equal(arrays[key], np.tile(held, (inside.sum(), 1)))
        variable = biophysics[name]
        assert variable.dims == ("y", "x", "time") and variable.attrs["units"] == crop_table.scope_units(name)
        np.testing.assert_array_equal(variable["time"].values, biophysics["post_bio"]["time"].values)
        np.testing.assert_array_equal(variable.values[inside], np.tile(held, (inside.sum(), 1)))
        assert np.isnan(variable.values[~inside]).all()
    # the bands are those of the table without the two columns
    np.testing.assert_array_equal(arrays["post_bio_physical"], measured[1]["post_bio_physical"])
    assert "Cw [cm], Cdm [g m-2], h [cm] (column hc), Cca [ug cm-2]; " in lines[0]
    assert lines[1].endswith("SMC=25; the other SCOPE inputs as for every crop source (scope.*)")
    # a table without them: nothing beside the bands, nothing new in the biophysics
    assert not {key for key in measured[1] if key.startswith("post_bio_physical_") and key != "post_bio_physical_time"}
    assert set(measured[3].data_vars) == {"post_bio", "post_bio_scale", "field_mask"}


@pytest.mark.parametrize("workflow", ["reflectance", "fluorescence", "thermal", "energy-balance"])
def test_height_in_cm_and_carotenoids_reach_scope_exactly_on_dates_and_linearly_between(
    measured_with_height, forcing, scope_assets, workflow, caplog
):
    path, arrays, _, biophysics = measured_with_height
    dates = pd.DatetimeIndex(arrays["measured_dates"])
    on_dates = [dates[1] + pd.Timedelta(hours=h) for h in (6, 10.5, 17)] + [dates[3] + pd.Timedelta(hours=10)]
    between = dates[1] + pd.Timedelta(days=10, hours=12)  # 10 of the 28 days from the 2nd to the 3rd date
    in_margin = dates[0] - pd.Timedelta(days=3) + pd.Timedelta(hours=11)
    with caplog.at_level("INFO", logger="scopecal"):
        prepared = scope_inputs_at(biophysics, forcing, [*on_dates, between, in_margin], workflow, scope_assets)
    inside = biophysics["field_mask"].values
    measured_inputs = [("Cca", in_scope_units("Cca", "Cca", "ug cm-2", MEASURED_WITH_HEIGHT))]
    if workflow == "energy-balance":
        measured_inputs.append(("h", in_scope_units("hc", "h", "cm", MEASURED_WITH_HEIGHT)))
    for name, expected in measured_inputs:
        values = prepared[name].values[inside]  # (pixel, time)
        for k, day in enumerate([1, 1, 1, 3]):
            np.testing.assert_array_equal(values[:, k], expected[day])  # exact, to the bit
        np.testing.assert_allclose(values[:, 4], expected[1] + 10 / 28 * (expected[2] - expected[1]), rtol=1e-12)
        np.testing.assert_array_equal(values[:, 5], expected[0])
    assert not np.allclose(prepared["Cca"].values[inside], prepared["Cab"].values[inside] / 4)
    messages = [record.getMessage() for record in caplog.records]
    assert f"{path}: Cca from the crop table (8.77 to 11.53 ug cm-2 at the SCOPE times), not Cab / 4" in messages
    if workflow == "energy-balance":
        height = prepared["h"].values
        np.testing.assert_array_equal(prepared["d"].values, 0.67 * height)
        np.testing.assert_array_equal(prepared["z0m"].values, 0.123 * height)
        assert not np.isin(height[inside], DEFAULT_CONFIG["scope"]["canopy_height_m"]).any()
        [line] = [message for message in messages if "canopy height" in message]
        assert line.startswith(f"{path}: canopy height h from the crop table (0.234 to 1.879 m at the SCOPE times")
        assert line.endswith("scope.canopy_height_m (1 m) is not used")
    else:
        assert "h" not in prepared  # only the energy balance reads a canopy height
        assert not any("canopy height" in message for message in messages)


def test_a_canopy_as_tall_as_the_flux_measurement_height_is_an_error(measured_with_height, forcing, scope_assets):
    path, arrays, _, biophysics = measured_with_height
    settings = inputs.input_settings({**DEFAULT_CONFIG["scope"], "measurement_height_m": 1.5})
    day = pd.DatetimeIndex(arrays["measured_dates"])[3] + pd.Timedelta(hours=10)
    angles = geometry.geometry_at_times(np.asarray([day]), GEOJSON, viewing_zenith=0.0, viewing_azimuth=0.0)
    with pytest.raises(ValueError) as error:
        inputs.prepare_inputs(
            biophysics, forcing, angles, workflow="energy-balance", scope_root=scope_assets, **settings
        )
    assert str(error.value) == (
        f"{path}: the crop table's canopy height reaches 1.879 m, not below scope.measurement_height_m (1.5 m)"
    )


def test_margin_holds_the_nearest_date_and_beyond_it_the_error_names_the_table(measured, forcing, scope_assets):
    path, arrays, _, biophysics = measured
    dates = pd.DatetimeIndex(arrays["measured_dates"])
    held = pd.DatetimeIndex(
        [dates[0] - pd.Timedelta(days=5) + pd.Timedelta(hours=9), dates[0] - pd.Timedelta(hours=14)]
        + [dates[-1] + pd.Timedelta(days=5, hours=15)]
    )
    prepared = scope_inputs_at(biophysics, forcing, held, "reflectance", scope_assets)
    inside = biophysics["field_mask"].values
    lai = in_scope_units("LAI", "LAI", "m2 m-2")
    np.testing.assert_array_equal(prepared["LAI"].values[inside][:, :2], lai[0])
    np.testing.assert_array_equal(prepared["LAI"].values[inside][:, 2], lai[-1])
    beyond = dates[-1] + pd.Timedelta(days=6, hours=10)
    with pytest.raises(ValueError) as error:
        inputs.crop_state_at(biophysics["post_bio"], np.array([held[0].to_datetime64(), beyond.to_datetime64()]))
    assert str(error.value) == (
        f"{path}: the crop table, measured 2021-06-03 to 2021-08-26 and held 5 days beyond "
        "(retrieval.table.margin_days), does not cover 1 SCOPE times, first 2021-09-01 10:00:00 UTC"
    )


def test_a_table_that_does_not_cover_the_season_beyond_the_margin_is_an_error(tmp_path):
    path = write(tmp_path, MEASURED)
    with pytest.raises(ValueError) as error:
        table_output(path, margin_days=1)
    assert str(error.value) == (
        f"{path}: measured 2021-06-03 to 2021-08-26, held 1 days beyond (retrieval.table.margin_days), does not "
        "cover the season 2021-06-01 to 2021-08-31; first uncovered day 2021-06-01"
    )
    late = MEASURED.replace("2021-06-03", "2021-05-20")
    with pytest.raises(ValueError, match="first uncovered day 2021-08-28"):
        table_output(write(tmp_path, late), margin_days=1)


@pytest.mark.parametrize(
    ("name", "in_scope_units_value", "units", "value"),
    [
        ("Cab", 41.27, "mg m-2", 412.7),  # 1 mg m-2 = 0.1 ug cm-2
        ("Cab", 41.27, "g m-2", 0.4127),
        ("Cw", 0.01234, "cm", 0.01234),  # equivalent water thickness
        ("Cw", 0.01234, "mm", 0.1234),
        ("Cw", 0.01234, "kg m-2", 0.1234),
        ("Cdm", 0.004567, "g m-2", 45.67),  # leaf mass per area
        ("ala", 57.3, "rad", np.deg2rad(57.3)),
        ("LAI", 2.345, "m2 m-2", 2.345),
    ],
)
def test_units_are_converted_by_pint(tmp_path, name, in_scope_units_value, units, value):
    given = crop_table.read_crop_table(
        write(tmp_path, f"date,{name}\n2021-06-01,{float(value)!r}\n"), units={name: units}
    )
    native = crop_table.read_crop_table(
        write(tmp_path, f"date,{name}\n2021-06-01,{in_scope_units_value!r}\n", "native.csv"),
        units={name: crop_table.scope_units(name)},
    )
    np.testing.assert_allclose(given[name].values, native[name].values, rtol=1e-14)
    assert given[name].attrs == {"units": crop_table.scope_units(name), "declared_units": units}


def test_missing_inputs_take_the_config_defaults_named_in_one_log_line(measured):
    path, arrays, lines, biophysics = measured
    defaults = table_settings()["defaults"]
    assert lines[1] == (
        f"{path}: not in the table, from retrieval.table.defaults: N=1.5, ala=57.3, Cs=0, BSMBrightness=0.5, "
        "BSMlat=25, BSMlon=45, SMC=25; the other SCOPE inputs as for every crop source (Cca = Cab / 4, "
        "h = scope.canopy_height_m, scope.*)"
    )
    assert "held 5 days beyond; LAI [m2 m-2], Cab [mg m-2], Cw [cm], Cdm [g m-2]" in lines[0]
    inside = biophysics["field_mask"].values
    for band, name in (("N", "N"), ("ala", "ala"), ("cbrown", "Cs")):
        np.testing.assert_array_equal(biophysics["post_bio"].sel(band=band).values[inside], defaults[name])
    soil = biophysics["post_bio_scale"].sel(scale_band=list(crop_table.SOIL_INPUTS)).values[inside]
    np.testing.assert_array_equal(soil, np.tile([defaults[n] for n in crop_table.SOIL_INPUTS], (inside.sum(), 1)))
    assert biophysics.attrs["retrieval_source"] == "table"
    # the geometry stage's overpass days are the measurement dates inside the season
    assert list(arrays["doys"]) == [d.day_of_year for d in pd.DatetimeIndex(arrays["measured_dates"])]


def per_pixel_table(path, *, shift_m=0.0, crs_wkt=None, hole=None, height_cm=False):
    """A NetCDF on (time, y, x) at the field grid's pixel centres, each pixel its own LAI (and, with
    ``height_cm``, its own canopy height ``hc`` in cm: 10 cm per unit of LAI)."""
    ys, xs = crop_table.pixel_centres(GRID)
    times = pd.to_datetime(["2021-05-30", "2021-07-01", "2021-09-02"])
    lai = 1.0 + np.arange(3)[:, None, None] + 0.01 * np.arange(16).reshape(1, 4, 4)
    lai[:, GRID.mask] = -9999.0  # a fill value outside the field is never read
    if hole is not None:
        lai[hole] = np.nan
    dataset = xr.Dataset(
        {"LAI": (("time", "y", "x"), lai, {"units": "m2 m-2"}), "Cab": (("time", "y", "x"), 10 * lai)},
        coords={"time": times, "y": ys, "x": xs + shift_m},
    ).isel(y=slice(None, None, -1))  # rows south-up: pixels are matched by coordinate, not position
    if height_cm:
        dataset["hc"] = (10 * dataset["LAI"]).assign_attrs(units="cm")
    if crs_wkt:
        dataset["spatial_ref"] = xr.DataArray(0, attrs={"crs_wkt": crs_wkt})
    dataset.to_netcdf(path)
    return lai


def test_a_per_pixel_netcdf_on_the_field_grid_reaches_each_pixel(tmp_path):
    path = tmp_path / "crop.nc"
    lai = per_pixel_table(path, crs_wkt=GRID.crs_wkt)
    settings = table_settings(units={"Cab": "ug cm-2"}, margin_days=0)
    arrays, lines = crop_table.crop_table_output(
        path, settings, geojson=GEOJSON, pixel_size_m=20.0, shape=(4, 4), season=SEASON
    )
    biophysics = bridged(tmp_path, arrays)
    inside = ~GRID.mask
    post_bio = biophysics["post_bio"].transpose("y", "x", "band", "time")
    np.testing.assert_array_equal(post_bio.sel(band="lai").values[inside], lai[:, inside].T)
    np.testing.assert_array_equal(post_bio.sel(band="cab").values[inside], 10 * lai[:, inside].T)
    assert np.isnan(post_bio.values[GRID.mask]).all()
    assert "(per pixel), 3 dates 2021-05-30 to 2021-09-02" in lines[0]
    assert "h" not in biophysics


def test_a_per_pixel_canopy_height_reaches_each_pixel(tmp_path):
    path = tmp_path / "crop.nc"
    lai = per_pixel_table(path, crs_wkt=GRID.crs_wkt, height_cm=True)
    settings = table_settings(units={"Cab": "ug cm-2"}, margin_days=0)
    arrays, lines = crop_table.crop_table_output(
        path, settings, geojson=GEOJSON, pixel_size_m=20.0, shape=(4, 4), season=SEASON
    )
    biophysics = bridged(tmp_path, arrays)
    inside = ~GRID.mask
    expected = UNITS.Quantity(10 * lai[:, inside].T, "cm").to("m").magnitude  # (pixel, date)
    np.testing.assert_array_equal(biophysics["h"].transpose("y", "x", "time").values[inside], expected)
    assert np.isnan(biophysics["h"].transpose("y", "x", "time").values[GRID.mask]).all()
    assert "h [cm] (column hc)" in lines[0] and "(Cca = Cab / 4, scope.*)" in lines[1]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"crs_wkt": "EPSG:3035"},
            "its CRS (ETRS89-extended / LAEA Europe) is not the field's (WGS 84 / UTM zone 31N)",
        ),
        ({"shift_m": 10.0}, "does not hold the field grid's pixel centres (x "),
        ({"hole": (1, 2, 1)}, "LAI is missing at the in-field pixel"),
    ],
)
def test_a_per_pixel_netcdf_off_the_field_grid_is_an_error(tmp_path, table, message):
    path = tmp_path / "crop.nc"
    per_pixel_table(path, **table)
    settings = table_settings(units={"Cab": "ug cm-2"})
    with pytest.raises(ValueError) as error:
        crop_table.crop_table_output(path, settings, geojson=GEOJSON, pixel_size_m=20.0, shape=(4, 4), season=SEASON)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


GOOD = "date,LAI,Cab\n2021-05-20,1.0,30.0\n2021-07-01,3.0,45.0\n2021-09-10,2.0,35.0\n"


@pytest.mark.parametrize(
    ("text", "units", "message"),
    [
        (
            GOOD.replace("Cab", "SPAD"),
            {"LAI": "1"},
            "column 'SPAD' is not a crop-state input (not a SCOPE input); a crop table has N, Cab, Cdm, Cw, LAI, ala, "
            "Cs",
        ),
        (
            GOOD.replace("Cab", "d"),
            {"LAI": "1"},
            "column 'd' is not a crop-state input (the input stage sets d = 0.67 h: give the canopy height h); a crop "
            "table has N, Cab, Cdm, Cw, LAI, ala, Cs, Cca, h (or hc)",
        ),
        (GOOD.replace("Cab", "hc"), {"LAI": "1", "hc": "kg"}, "column 'hc': units 'kg' do not convert to h's 'm'"),
        (GOOD.replace("Cab", "hc"), {"LAI": "1"}, "column 'hc' has no declared units: set retrieval.table.units.hc"),
        (
            GOOD.replace("LAI,Cab", "h,hc"),
            {"h": "m", "hc": "cm"},
            "columns 'h' and 'hc' are the same input (h); keep one",
        ),
        (
            GOOD.replace("Cab", "hc").replace("45.0", "145.0"),  # centimetres declared as metres
            {"LAI": "1", "hc": "m"},
            "h = 145 m on 2021-07-01 is outside 0.01..100 (after conversion to SCOPE's units)",
        ),
        (
            GOOD.replace("Cab", "Cca"),
            {"LAI": "1", "Cca": "ug"},
            "column 'Cca': units 'ug' do not convert to Cca's 'ug cm-2'",
        ),
        (GOOD, {"LAI": "1", "Cab": "m"}, "column 'Cab': units 'm' do not convert to Cab's 'ug cm-2'"),
        (GOOD, {"LAI": "1", "Cab": "ug per leaf"}, "column 'Cab': units 'ug per leaf' do not convert to Cab's"),
        (GOOD, {"LAI": "1"}, "column 'Cab' has no declared units: set retrieval.table.units.Cab (SCOPE's are"),
        (GOOD, {"LAI": "1", "Cab": "ug cm-2", "Cw": "cm"}, "retrieval.table.units names ['Cw'], which are not columns"),
        (GOOD.replace("2021-07-01", "2021-05-20"), {}, "column 'date': date 2021-05-20 is duplicated"),
        (
            GOOD.replace("2021-07-01", "2021-09-20"),
            {},
            "column 'date': dates are not in increasing order (2021-09-10 follows 2021-09-20)",
        ),
        (GOOD.replace("2021-07-01", "July"), {}, "column 'date': row 2 ('July') is not a date (ISO 8601: 2021-06-03)"),
        (GOOD.replace("3.0,45.0", "-0.5,45.0"), {"LAI": "1", "Cab": "ug cm-2"}, "LAI = -0.5 m2 m-2 on 2021-07-01 is"),
        (
            GOOD.replace("45.0", "450.0"),
            {"LAI": "1", "Cab": "ug cm-2"},
            "Cab = 450 ug cm-2 on 2021-07-01 is outside 0..150 (after conversion to SCOPE's units): check",
        ),
        (GOOD.replace("3.0,45.0", ",45.0"), {}, "column 'LAI' has no number on 2021-07-01 (an empty cell)"),
        (GOOD.replace("3.0,45.0", "3.0,n.d."), {}, "column 'Cab' has no number on 2021-07-01 ('n.d.'); every date"),
        (GOOD.replace("date", "day"), {}, "no date column 'date' (retrieval.table.date_column); columns: ['day'"),
    ],
)
def test_bad_tables_are_one_line_naming_the_file_and_column(tmp_path, text, units, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        crop_table.read_crop_table(path, units=units)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_source_table_needs_its_section_and_a_path():
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["retrieval"]["source"] = "table"
    with pytest.raises(ValueError, match="config key retrieval: 'table' is a required property"):
        validate_config(config, ROOT / "config/schema.yaml")
    config["retrieval"]["table"] = {"units": {"LAI": "1"}}
    with pytest.raises(ValueError, match="config key retrieval.table: 'path' is a required property"):
        validate_config(config, ROOT / "config/schema.yaml")
    assert table_settings() == {
        "path": "crop.csv",
        "date_column": "date",
        "units": {},
        "margin_days": 0,
        "defaults": {
            "LAI": 3.0,
            "Cab": 40.0,
            "Cdm": 0.012,
            "Cw": 0.009,
            "Cs": 0.0,
            "N": 1.5,
            "ala": 57.3,
            "BSMBrightness": 0.5,
            "BSMlat": 25.0,
            "BSMlon": 45.0,
            "SMC": 25.0,
        },
    }


def test_the_example_table_is_labelled_synthetic_and_has_six_dates_in_the_default_season():
    assert "SYNTHETIC" in EXAMPLE.read_text().splitlines()[0]
    table = crop_table.read_crop_table(EXAMPLE, units=EXAMPLE_UNITS)
    dates = pd.DatetimeIndex(table["time"].values)
    start, end = (pd.Timestamp(DEFAULT_CONFIG["season"][key]) for key in ("start", "end"))
    assert len(dates) == 6 and start <= dates[0] and dates[-1] <= end


TABLE_OVERLAY = {
    "retrieval": {
        "source": "table",
        "table": {"path": "examples/tower/crop_table_synthetic.csv", "units": EXAMPLE_UNITS, "margin_days": 5},
    }
}


@pytest.fixture(scope="module")
def table_workflow(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("table"))
    (work / "overlay.yaml").write_text(yaml.safe_dump(TABLE_OVERLAY))
    return work


def snakemake(work, *args):
    command = [sys.executable, "-m", "snakemake", "--configfile", ".test/config.yaml", "overlay.yaml"]
    command += ["--config", f"scope_assets={SHARED_ASSETS}", *args]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_workflow_dry_run_with_a_crop_table(table_workflow):
    output = snakemake(table_workflow, "-n", "results/inputs/reflectance.nc")
    stats = output.split("Job stats:")[1].split("\n\n")[0]
    counts = {row.split()[0]: int(row.split()[1]) for row in stats.splitlines()[3:] if row.strip()}
    assert counts == {"retrieval": 1, "bridge": 1, "weather": 1, "geometry": 1, "inputs": 1, "total": 5}
    assert "examples/tower/crop_table_synthetic.csv" in output  # the table is the retrieval job's input


def test_workflow_runs_a_crop_table_to_scope_inputs(table_workflow):
    snakemake(table_workflow, "--cores", "1", "results/inputs/reflectance.nc")
    log = (table_workflow / "results/logs/retrieval.log").read_text()
    assert "not in the table, from retrieval.table.defaults: N=1.5, ala=57.3, Cs=0" in log
    with xr.open_dataset(table_workflow / "results/inputs/reflectance.nc") as prepared:
        inside = prepared["field_mask"].values.astype(bool)
        lai = prepared["LAI"].transpose("y", "x", "time").values[inside]
        cw = prepared["Cw"].transpose("y", "x", "time").values[inside]
    example = pd.read_csv(EXAMPLE, comment="#")
    np.testing.assert_array_equal(lai, np.tile(example["LAI"].to_numpy(float), (inside.sum(), 1)))
    np.testing.assert_array_equal(cw, np.tile(example["Cw"].to_numpy(float), (inside.sum(), 1)))  # cm = g cm-2
