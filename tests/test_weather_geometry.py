import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from scopecal import geometry, weather
from scopecal.config import default_field_geojson

SEASON = dict(start=datetime(2021, 6, 1), end=datetime(2021, 6, 30))


def station_csv(path, **overrides):
    times = pd.date_range("2021-06-01 10:00", periods=4, freq="10D")
    frame = pd.DataFrame({"stamp": times, "SW": 600.0, "LW": 330.0, "T2m": 21.0, "VP": 14.0, "P": 1010.0, "WS": 2.5})
    frame = frame.assign(**overrides)
    frame.to_csv(path, index=False)
    return path


COLUMNS = dict(Rin="SW", Rli="LW", Ta="T2m", ea="VP", p="P", u="WS")


def test_user_csv_columns_are_mapped_to_scope_names_with_units(tmp_path):
    forcing = weather.load_local_weather(station_csv(tmp_path / "w.csv"), COLUMNS, time_column="stamp", **SEASON)
    assert sorted(forcing.data_vars) == sorted(weather.WEATHER_VARIABLES)
    assert forcing.sizes["time"] == 3  # the 4th record (July 1) is outside the season
    assert float(forcing["Ta"][0]) == 21.0 and forcing["Ta"].attrs["units"] == "degC"
    assert forcing["Rin"].attrs["units"] == "W m-2"


def test_unmapped_column_is_named(tmp_path):
    columns = dict(COLUMNS, u="wind")
    with pytest.raises(ValueError, match=r"lacks \['u'\]"):
        weather.load_local_weather(station_csv(tmp_path / "w.csv"), columns, time_column="stamp", **SEASON)


def test_implausible_and_missing_values_are_named(tmp_path):
    path = station_csv(tmp_path / "w.csv", T2m=[21.0, 250.0, 20.0, 19.0])
    with pytest.raises(ValueError, match=r"w.csv: Ta .* first at 2021-06-11"):
        weather.load_local_weather(path, COLUMNS, time_column="stamp", **SEASON)
    path = station_csv(tmp_path / "nan.csv", SW=[600.0, np.nan, 500.0, 500.0])
    with pytest.raises(ValueError, match="Rin"):
        weather.load_local_weather(path, COLUMNS, time_column="stamp", **SEASON)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="weather.local.path"):
        weather.load_local_weather(tmp_path / "none.csv", COLUMNS, **SEASON)
    with pytest.raises(ValueError, match="unknown SCOPE names"):
        weather.load_local_weather(station_csv(tmp_path / "w.csv"), dict(COLUMNS, Tair="T2m"), **SEASON)


def test_era5_without_credentials_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CDSAPI_KEY", raising=False)
    with pytest.raises(RuntimeError, match="cdsapirc"):
        weather.fetch_era5_weather((5.0, 51.0, 5.1, 51.1), cache_dir=tmp_path, **SEASON)


def test_sun_at_solar_noon_in_greenwich_on_the_solstice(tmp_path):
    """At local solar noon the zenith angle is latitude minus declination (23.44 deg) and the sun is due south."""
    field = tmp_path / "greenwich.geojson"
    lat, lon = 51.4769, 0.0
    ring = [[lon - 1e-3, lat - 1e-3], [lon + 1e-3, lat - 1e-3], [lon + 1e-3, lat + 1e-3], [lon - 1e-3, lat - 1e-3]]
    field.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    angles = geometry.observation_geometry(
        np.array([172]), 2021, field, overpass_local_solar_hour=12.0, viewing_zenith=0.0, viewing_azimuth=0.0
    )
    assert float(angles["solar_zenith_angle"][0]) == pytest.approx(lat - 23.44, abs=0.1)
    assert float(angles["solar_azimuth_angle"][0]) == pytest.approx(180.0, abs=0.5)
    # NOAA: solar noon on 21 June 2021 at Greenwich is 12:01:44 UTC; arcope uses Spencer's (1971) equation of
    # time, good to about half a minute
    noon = pd.Timestamp(angles["time"].values[0])
    assert abs((noon - pd.Timestamp("2021-06-21 12:01:44")).total_seconds()) < 60


def test_sentinel2_overpass_over_the_test_field_is_mid_morning_utc():
    angles = geometry.observation_geometry(
        np.array([152]),
        2021,
        default_field_geojson(),
        overpass_local_solar_hour=10.5,
        viewing_zenith=0.0,
        viewing_azimuth=0.0,
    )
    overpass = pd.Timestamp(angles["time"].values[0])
    # 10:30 local solar time at 5.02 E = 10:30 - 20 min (longitude) - 2.2 min (equation of time, 1 June)
    assert overpass.strftime("%Y-%m-%d %H:%M") == "2021-06-01 10:07"
    assert 25.0 < float(angles["solar_zenith_angle"][0]) < 45.0
