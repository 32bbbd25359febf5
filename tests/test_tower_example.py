"""The committed SYNTHETIC flux-tower example (examples/tower/make_example.py): labelled, in FLUXNET's layout, with
the gaps, humidity, missing barometer and energy-balance closure it is meant to exercise. No SCOPE run."""

import logging
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from scopecal.tower_weather import WeatherFile, load_tower_weather

EXAMPLE = ROOT / "examples/tower/FLX_XX-Syn_FLUXNET2015_FULLSET_HH_2021_synthetic.csv"
MISSING = -9999
WEATHER = ["TA_F", "TA_F_QC", "SW_IN_F", "SW_IN_F_QC", "LW_IN_F", "LW_IN_F_QC", "WS_F", "WS_F_QC", "RH"]
FLUXES = ["NETRAD", "G_F_MDS", "G_F_MDS_QC", "LE_F_MDS", "LE_F_MDS_QC", "LE_CORR", "H_F_MDS", "H_F_MDS_QC", "H_CORR"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE, comment="#")


@pytest.fixture(scope="module")
def local_starts(table) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(table["TIMESTAMP_START"].astype(str), format="%Y%m%d%H%M"))


def test_the_file_says_it_is_synthetic_and_what_made_it():
    header = [line for line in EXAMPLE.read_text().splitlines()[:10] if line.startswith("#")]
    assert header and "SYNTHETIC" in header[0] and "examples/tower/make_example.py" in header[0]
    assert any("UTC+1" in line for line in header)  # the stamps' zone, which the config must declare


def test_fluxnet_columns_half_hourly_stamps_no_barometer_and_no_vapour_pressure(table, local_starts):
    assert {"TIMESTAMP_START", "TIMESTAMP_END", *WEATHER, *FLUXES} <= set(table.columns)
    assert not [name for name in table.columns if name.startswith(("PA", "VPD"))]  # RH is the humidity
    assert (np.diff(local_starts.values) == np.timedelta64(30, "m")).all()
    ends = pd.to_datetime(table["TIMESTAMP_END"].astype(str), format="%Y%m%d%H%M")
    assert (ends - local_starts == pd.Timedelta(minutes=30)).all()
    assert local_starts[0] <= pd.Timestamp("2021-07-01") and local_starts[-1] >= pd.Timestamp("2021-07-31 23:30")


def test_gaps_flags_and_humidity(table):
    for name in ("TA_F", "SW_IN_F", "LW_IN_F", "WS_F", "RH", "NETRAD", "LE_F_MDS", "H_F_MDS"):
        assert (table[name] == MISSING).any(), name
    assert set(table["LE_F_MDS_QC"].unique()) == {MISSING, 0, 1, 2, 3}
    assert {1, 2} <= set(table["WS_F_QC"].unique())
    humidity = table["RH"][table["RH"] != MISSING]
    assert humidity.between(0.0, 100.0).all()
    wind = table["WS_F"].where(table["WS_F"] != MISSING)
    calm = (wind < 0.3) & (table["SW_IN_F"] > 200) & (table["LE_F_MDS_QC"] == 0)
    assert calm.any()  # a measured daytime flux where SCOPE's energy balance may not converge


def test_closure_is_about_80_percent_in_july_and_the_corrected_fluxes_keep_the_bowen_ratio(table, local_starts):
    measured = (table["LE_F_MDS_QC"] == 0) & (table["H_F_MDS_QC"] == 0)
    measured &= (table[["NETRAD", "G_F_MDS"]] != MISSING).all(axis=1) & (local_starts.month == 7)
    july = table[measured]
    closure = (july["LE_F_MDS"] + july["H_F_MDS"]).sum() / (july["NETRAD"] - july["G_F_MDS"]).sum()
    assert 0.75 <= closure <= 0.85
    # one factor for LE and H at every record (up to the written rounding): the Bowen ratio is kept
    factor = (july["LE_CORR"] / july["LE_F_MDS"]).median()
    assert 1.2 < factor < 1.3
    for name in ("LE", "H"):
        np.testing.assert_allclose(july[f"{name}_CORR"], factor * july[f"{name}_F_MDS"], atol=0.02)


def test_the_fluxnet_preset_reads_it_with_the_site_elevation(caplog):
    spec = WeatherFile.from_config(
        {"path": str(EXAMPLE), "format": "fluxnet", "time": {"utc_offset": 1}, "elevation_m": 30.0}
    )
    with caplog.at_level(logging.INFO, logger="scopecal"):
        forcing = load_tower_weather(
            spec, start=datetime(2021, 7, 1, 0, 15), end=datetime(2021, 7, 31, 22, 45), longitude=5.02
        )
    assert "ea from relative_humidity RH" in caplog.text and "p from elevation" in caplog.text
    assert "WARNING" not in caplog.text  # the shortwave peaks at the site's solar noon: the offset is right
    assert (forcing["gap_flag"] == 2).sum() >= 12  # the 6-hour gap; the short ones are interpolated
    assert (forcing["gap_flag"] == 1).any()
