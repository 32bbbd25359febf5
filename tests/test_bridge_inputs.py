"""Bridge coding and the time alignment of SCOPE inputs."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from arc_scope.bridge.parameter_map import BIO_SCALES
from conftest import ROOT

from scopecal import bridge, geometry, inputs, retrieval, weather
from scopecal.config import default_field_geojson, default_weather_csv

# the default config's weather columns and input settings
DEFAULTS = yaml.safe_load((ROOT / "config/config.yaml").read_text())
COLUMNS = DEFAULTS["weather"]["local"]["columns"]
SETTINGS = inputs.input_settings(DEFAULTS["scope"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    grid = retrieval.field_grid(default_field_geojson(), 30.0, (3, 3))
    doys = retrieval.acquisition_doys(date(2021, 6, 1), date(2021, 8, 31), 30)
    arrays = retrieval.synthetic_arc_output(grid, doys, seed=5)
    path = tmp_path_factory.mktemp("arc") / "arc.npz"
    retrieval.save_arc_npz(path, arrays, source="synthetic", note="test")
    biophysics = bridge.bridge_arc_npz(path, 2021)
    forcing = weather.load_local_weather(
        default_weather_csv(), COLUMNS, start=datetime(2021, 5, 1), end=datetime(2021, 9, 30)
    )
    angles = geometry.observation_geometry(
        doys, 2021, default_field_geojson(), overpass_local_solar_hour=10.5, viewing_zenith=0.0, viewing_azimuth=0.0
    )
    return arrays, biophysics, forcing, angles


def test_bridge_decodes_arc_integers_to_physical_units(chain):
    arrays, biophysics, _, _ = chain
    mask = arrays["mask"]
    post_bio = biophysics["post_bio"].transpose("y", "x", "band", "time").values
    expected = arrays["post_bio_tensor"] * np.asarray(BIO_SCALES)[None, :, None]
    np.testing.assert_allclose(post_bio[~mask], expected)
    assert np.isnan(post_bio[mask]).all()
    np.testing.assert_array_equal(biophysics["field_mask"].values, ~mask)
    assert biophysics.attrs["retrieval_source"] == "synthetic"


def test_every_input_time_carries_its_own_acquisition(chain, scope_assets):
    _, biophysics, forcing, angles = chain
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="reflectance", scope_root=scope_assets, **SETTINGS
    )
    np.testing.assert_array_equal(prepared["time"].values, angles["time"].values)
    retrieved_lai = biophysics["post_bio"].sel(band="lai").transpose("y", "x", "time").values
    inside = biophysics["field_mask"].values
    np.testing.assert_array_equal(prepared["LAI"].transpose("y", "x", "time").values[inside], retrieved_lai[inside])
    assert np.isfinite(prepared["LAI"].values[inside]).all()  # the last date too


def test_unaligned_preparation_would_blend_dates(chain, scope_assets):
    """What the alignment prevents: scope-rtm interpolating 00:00 retrievals onto ~10:10 overpasses."""
    from scope.io import ScopeInputFiles, prepare_scope_input_dataset

    _, biophysics, forcing, angles = chain
    naive = prepare_scope_input_dataset(
        forcing,
        angles,
        biophysics["post_bio"],
        biophysics["post_bio_scale"].rename(scale_band="band"),
        scope_root_path=scope_assets,
        scope_files=ScopeInputFiles(atmos_file=scope_assets / "input/radiationdata"),
    )
    retrieved = biophysics["post_bio"].sel(band="lai").transpose("y", "x", "time").values
    inside = biophysics["field_mask"].values
    naive_lai = naive["LAI"].transpose("y", "x", "time").values[inside]
    assert np.isnan(naive_lai[:, -1]).all()
    assert not np.allclose(naive_lai[:, 0], retrieved[inside][:, 0])


@pytest.mark.parametrize("workflow", inputs.WORKFLOWS)
def test_inputs_per_workflow_are_complete_and_finite(chain, scope_assets, workflow):
    _, biophysics, forcing, angles = chain
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow=workflow, scope_root=scope_assets, **SETTINGS
    )
    expected = {
        "reflectance": {"LAI", "Cab", "tts", "psi"},
        "fluorescence": {"fqe", "Esun_", "Esky_"},
        "thermal": {"Tcu", "Tch", "Tsu", "Tsh"},
        "energy-balance": {"rss", "rbs", "Esky_lw", "Esun_sw"},
    }
    assert expected[workflow] <= set(prepared.data_vars)
    assert prepared["LAI"].attrs["units"]
    if workflow == "thermal":
        np.testing.assert_allclose(prepared["Tsu"] - prepared["Ta"], 8.0)


def test_sky_longwave_spectrum_integrates_to_rli():
    rli = xr.DataArray([300.0, 380.0], dims="time")
    wavelength = np.concatenate([np.arange(2500.0, 15001.0, 100.0), np.arange(16000.0, 50001.0, 1000.0)])
    spectrum = inputs.longwave_sky_spectrum(rli, wavelength)
    np.testing.assert_allclose(np.trapezoid(spectrum.values, wavelength / 1000.0, axis=-1), rli.values)


def test_crop_state_is_exact_on_acquisition_days_and_linear_by_date_between(chain):
    _, biophysics, _, angles = chain
    post_bio = biophysics["post_bio"]
    days = pd.DatetimeIndex(post_bio["time"].values).normalize()
    half_hours = days[1] + pd.to_timedelta([6, 10.5, 17], unit="h")
    between = days[0] + (days[1] - days[0]) / 2 + pd.Timedelta(hours=13)
    state = inputs.crop_state_at(post_bio, np.concatenate([angles["time"].values, half_hours, [between]]))
    n = angles.sizes["time"]
    np.testing.assert_array_equal(state.isel(time=slice(0, n)).values, post_bio.values)
    for k in range(3):
        np.testing.assert_array_equal(state.isel(time=n + k).values, post_bio.isel(time=1).values)
    fraction = (between.normalize() - days[0]) / (days[1] - days[0])
    expected = post_bio.isel(time=0) + fraction * (post_bio.isel(time=1) - post_bio.isel(time=0))
    np.testing.assert_allclose(state.isel(time=-1).values, expected.values, rtol=1e-12)


def test_times_beyond_the_retrieval_and_uncovered_weather_are_errors(chain, scope_assets):
    _, biophysics, forcing, angles = chain
    late = pd.DatetimeIndex(biophysics["post_bio"]["time"].values).max() + pd.Timedelta(days=2)
    with pytest.raises(ValueError, match="1 SCOPE times lie outside the retrieval's acquisitions"):
        inputs.crop_state_at(biophysics["post_bio"], np.array([late.to_datetime64()]))
    short = forcing.sel(time=slice("2021-06-10", None))
    with pytest.raises(ValueError, match="does not cover 1 of the SCOPE times, first"):
        inputs.prepare_inputs(biophysics, short, angles, workflow="thermal", scope_root=scope_assets, **SETTINGS)


def test_nan_input_inside_the_field_is_named(chain, scope_assets):
    _, biophysics, forcing, angles = chain
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="thermal", scope_root=scope_assets, **SETTINGS
    )
    inside = np.argwhere(prepared["field_mask"].values)[0]
    prepared["Tcu"] = prepared["Tcu"].broadcast_like(prepared["LAI"]).copy()
    prepared["Tcu"][dict(y=inside[0], x=inside[1], time=0)] = np.nan
    with pytest.raises(ValueError, match=r"Tcu \(1 values\)"):
        inputs.check_finite_in_field(prepared)
