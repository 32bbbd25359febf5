"""Weather from a flux tower's own file: units, time zones and interval stamps, gaps, presets and bad input."""

import copy
import logging
import textwrap
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from scope.io.prepare import _interp_time  # how the inputs stage brings weather to SCOPE's times

from scopecal import tower_weather, weather
from scopecal.config import default_weather_csv
from scopecal.tower_weather import WeatherFile, load_tower_weather
from scopecal.validation import validate_config
from scopecal.weather import usable_weather_times

SEASON = dict(start=datetime(2021, 6, 1), end=datetime(2021, 6, 30))
LONGITUDE, UTC_OFFSET = 4.5, 1  # a Belgian site; FLUXNET stamps in local standard time (UTC+1)
HALF_HOUR = pd.Timedelta(minutes=30)
NAMES = list(weather.WEATHER_VARIABLES)


def truth(days: int = 3) -> pd.DataFrame:
    """Synthetic half-hourly weather in SCOPE's units, indexed by the UTC middle of each half-hour."""
    local_starts = pd.date_range("2021-06-10 00:00", periods=48 * days, freq="30min")
    middles = local_starts - pd.Timedelta(hours=UTC_OFFSET) + HALF_HOUR / 2
    solar_hour = middles.hour + middles.minute / 60 + LONGITUDE / 15
    day = np.clip(np.cos((solar_hour - 12) / 12 * np.pi), 0, None)
    phase = np.sin((solar_hour - 9) / 24 * 2 * np.pi)
    frame = pd.DataFrame(
        {
            "Rin": 850.0 * day**1.5,
            "Rli": 320.0 + 15.0 * phase,
            "Ta": 17.0 + 6.0 * phase,
            "ea": 12.0 + 1.5 * np.cos(np.arange(middles.size) / 7.0),
            "p": 1008.0 + 0.5 * np.sin(np.arange(middles.size) / 40.0),
            "u": 2.5 + 1.2 * np.sin(np.arange(middles.size) / 11.0),
        },
        index=middles,
    )
    frame.index.name = "time"
    frame.attrs["local_starts"] = local_starts
    return frame


def plain_csv(path, frame, stamps=None, **columns):
    """A plain CSV: ISO stamps (default: the UTC middles with a Z) and the given columns."""
    stamps = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ") if stamps is None else stamps
    pd.DataFrame({"time": stamps, **columns}).to_csv(path, index=False)
    return path


def fluxnet_csv(path, frame, drop=(), **overrides):
    starts = frame.attrs["local_starts"]
    vpd = tower_weather.saturation_vapour_pressure(frame["Ta"]) - frame["ea"]
    table = pd.DataFrame(
        {
            "TIMESTAMP_START": starts.strftime("%Y%m%d%H%M").astype(int),
            "TIMESTAMP_END": (starts + HALF_HOUR).strftime("%Y%m%d%H%M").astype(int),
            "SW_IN_F": frame["Rin"].values,
            "SW_IN_F_QC": 0,
            "LW_IN_F": frame["Rli"].values,
            "LW_IN_F_QC": 0,
            "TA_F": frame["Ta"].values,
            "TA_F_QC": 0,
            "VPD_F": vpd.values,
            "VPD_F_QC": 0,
            "PA_F": frame["p"].values / 10.0,
            "PA_F_QC": 0,
            "WS_F": frame["u"].values,
            "WS_F_QC": 0,
            "P_F": 0.0,
        }
    )
    table = table.assign(**overrides).drop(columns=list(drop))
    table.to_csv(path, index=False)
    return path


def plumber2_netcdf(path, frame, drop=()):
    """ALMA variables on (time, y, x) as FluxnetLSM writes them: local standard interval starts, the zone named."""
    starts = frame.attrs["local_starts"]
    ta, ea, p = frame["Ta"].values, frame["ea"].values, frame["p"].values
    qair = 0.622 * ea / (p - 0.378 * ea)
    series = {
        "SWdown": frame["Rin"].values,
        "LWdown": frame["Rli"].values,
        "Tair": ta + 273.15,
        "VPD": tower_weather.saturation_vapour_pressure(ta) - ea,
        "Qair": qair,
        "Psurf": p * 100.0,
        "Wind": frame["u"].values,
        "Tair_qc": np.zeros(len(ta)),
    }
    dataset = xr.Dataset(
        {name: (("time", "y", "x"), values[:, None, None]) for name, values in series.items() if name not in drop},
        coords={"time": starts.values},
    )
    dataset["latitude"] = (("y", "x"), [[50.55]])
    dataset["longitude"] = (("y", "x"), [[LONGITUDE]])
    dataset["time"].attrs.update(time_zone="Europe/Brussels", info="Time stamp indicates start time")
    dataset.to_netcdf(path, encoding={"time": {"units": "seconds since 2021-06-10 00:00:00"}})
    return path


def spec(path, **local):
    return WeatherFile.from_config({"path": str(path), **local})


SCOPE_COLUMNS = {name: name for name in NAMES}


# --- the default and the plain format -------------------------------------------------------------------------


def test_default_config_reads_bit_for_bit_as_before():
    """The default config through the tower reader gives the same NetCDF bytes as the simple reader."""
    local = yaml.safe_load(open("config/config.yaml"))["weather"]["local"]
    window = dict(start=datetime(2021, 5, 1), end=datetime(2021, 9, 30))
    before = weather.load_local_weather(default_weather_csv(), local["columns"], **window)
    after = load_tower_weather(WeatherFile.from_config(local, default_weather_csv()), longitude=4.5, **window)
    assert after.to_netcdf() == before.to_netcdf()
    assert "gap_flag" not in after and not after.attrs


def test_declared_units_and_humidity_give_the_same_forcing(tmp_path):
    frame = truth()
    reference = load_tower_weather(
        spec(plain_csv(tmp_path / "scope.csv", frame, **frame), columns=SCOPE_COLUMNS), **SEASON
    )
    relative_humidity = frame["ea"] / tower_weather.saturation_vapour_pressure(frame["Ta"]) * 100.0
    converted = dict(
        Rin=frame["Rin"],
        Rli=frame["Rli"],
        T_F=frame["Ta"] * 9 / 5 + 32,
        RH=relative_humidity,
        P_kPa=frame["p"] / 10,
        WS_kmh=frame["u"] * 3.6,
    )
    columns = dict(
        Rin="Rin",
        Rli="Rli",
        Ta={"name": "T_F", "units": "degF"},
        ea={"from": "relative_humidity", "name": "RH", "units": "%"},
        p={"name": "P_kPa", "units": "kPa"},
        u={"name": "WS_kmh", "units": "km h-1"},
    )
    declared = load_tower_weather(
        spec(plain_csv(tmp_path / "units.csv", frame, **converted), columns=columns), **SEASON
    )
    np.testing.assert_array_equal(declared["time"].values, reference["time"].values)
    for name in NAMES:
        np.testing.assert_allclose(declared[name].values, reference[name].values, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(reference[name].values, frame[name].values, rtol=1e-12)
    assert declared["ea"].attrs["comment"] == "from relative humidity RH"


def test_interval_start_stamps_declared_as_end_stamps_give_identical_forcing(tmp_path):
    frame = truth()
    starts = (frame.index - HALF_HOUR / 2).strftime("%Y-%m-%dT%H:%M")
    ends = (frame.index + HALF_HOUR / 2).strftime("%Y-%m-%dT%H:%M")
    at_start = spec(
        plain_csv(tmp_path / "s.csv", frame, starts, **frame), columns=SCOPE_COLUMNS, time={"stamp": "start"}
    )
    at_end = spec(plain_csv(tmp_path / "e.csv", frame, ends, **frame), columns=SCOPE_COLUMNS, time={"stamp": "end"})
    forcing = load_tower_weather(at_start, **SEASON)
    xr.testing.assert_identical(forcing, load_tower_weather(at_end, **SEASON))
    np.testing.assert_array_equal(forcing["time"].values, frame.index.values)  # the interval middles
    declared_interval = spec(tmp_path / "e.csv", columns=SCOPE_COLUMNS, time={"stamp": "end", "interval_minutes": 30})
    xr.testing.assert_identical(forcing, load_tower_weather(declared_interval, **SEASON))


# --- presets -------------------------------------------------------------------------------------------------


def test_fluxnet_csv_and_plumber2_netcdf_give_the_same_forcing(tmp_path):
    frame = truth()
    fluxnet = load_tower_weather(
        spec(fluxnet_csv(tmp_path / "FLX.csv", frame), format="fluxnet", time={"utc_offset": UTC_OFFSET}),
        longitude=LONGITUDE,
        **SEASON,
    )
    plumber2 = load_tower_weather(spec(plumber2_netcdf(tmp_path / "Met.nc", frame), format="plumber2"), **SEASON)
    # the same zone named the tz database's way (POSIX sign: Etc/GMT-1 is UTC+1)
    named = spec(tmp_path / "FLX.csv", format="fluxnet", time={"timezone": "Etc/GMT-1"})
    xr.testing.assert_identical(load_tower_weather(named, **SEASON), fluxnet)
    # FLUXNET stamps mark the start of a half-hour in local standard time: SCOPE runs at the middle, in UTC
    assert pd.Timestamp(fluxnet["time"].values[0]) == pd.Timestamp("2021-06-09 23:15")
    np.testing.assert_array_equal(fluxnet["time"].values, plumber2["time"].values)
    for name in NAMES:
        np.testing.assert_allclose(fluxnet[name].values, plumber2[name].values, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(fluxnet[name].values, frame[name].values, rtol=1e-10, err_msg=name)
    # without VPD, vapour pressure comes from specific humidity and pressure
    from_qair = load_tower_weather(
        spec(plumber2_netcdf(tmp_path / "q.nc", frame, drop=("VPD",)), format="plumber2"), **SEASON
    )
    np.testing.assert_allclose(from_qair["ea"].values, frame["ea"].values, rtol=1e-10)


def test_the_readmes_fluxnet_config_is_valid_and_a_bad_column_key_is_named():
    readme = open("README.md").read()
    snippet = readme[readme.index("    weather:\n      local:\n        path: data/FLX") :].split("\n\n")[0]
    config = yaml.safe_load(open("config/config.yaml"))
    config["weather"]["local"].update(yaml.safe_load(textwrap.dedent(snippet))["weather"]["local"])
    validate_config(copy.deepcopy(config), "config/schema.yaml")
    assert WeatherFile.from_config(config["weather"]["local"]).time.utc_offset == 1
    config["weather"]["local"]["columns"]["u"] = {"nam": "WS_1_1_1"}
    with pytest.raises(ValueError, match=r"weather.local.columns.u"):
        validate_config(config, "config/schema.yaml")


def test_a_preset_ignores_the_default_configs_plain_column_map(tmp_path):
    """Overlays inherit weather.local.columns (names in arcope's CSV) from config/config.yaml: a preset reads its
    own names, and a mapping still overrides one of them."""
    frame = truth()
    local = copy.deepcopy(yaml.safe_load(open("config/config.yaml"))["weather"]["local"])
    local.update(path=str(fluxnet_csv(tmp_path / "FLX.csv", frame, drop=("PA_F", "PA_F_QC"))), format="fluxnet")
    local.update(time={"utc_offset": UTC_OFFSET}, elevation_m=1000.0)
    forcing = load_tower_weather(WeatherFile.from_config(local), **SEASON)
    np.testing.assert_allclose(forcing["Ta"].values, frame["Ta"].values, rtol=1e-12)
    # no barometer: the standard atmosphere at the site's elevation (ICAO table: 898.76 hPa at 1000 m)
    np.testing.assert_allclose(forcing["p"].values, 898.76, rtol=1e-4)
    assert "elevation 1000.0 m" in forcing["p"].attrs["comment"]
    local["columns"]["p"] = {"value": 101.0, "units": "kPa"}
    np.testing.assert_array_equal(load_tower_weather(WeatherFile.from_config(local), **SEASON)["p"].values, 1010.0)


def test_clear_sky_longwave_only_when_asked_and_flagged(tmp_path):
    frame = truth()
    path = fluxnet_csv(tmp_path / "FLX.csv", frame, drop=("LW_IN_F", "LW_IN_F_QC"))
    with pytest.raises(ValueError, match=r"FLX.csv: weather lacks \['Rli'\]: .*LW_IN_F or LW_IN .*clear_sky"):
        load_tower_weather(spec(path, format="fluxnet", time={"utc_offset": 1}), **SEASON)
    asked = spec(path, format="fluxnet", time={"utc_offset": 1}, columns={"Rli": {"from": "clear_sky"}})
    forcing = load_tower_weather(asked, **SEASON)
    assert "Brutsaert" in forcing.attrs["estimated_Rli"] and "Brutsaert" in forcing["Rli"].attrs["comment"]
    kelvin = frame["Ta"].values + 273.15
    emissivity = 1.24 * (frame["ea"].values / kelvin) ** (1 / 7)
    np.testing.assert_allclose(forcing["Rli"].values, emissivity * 5.670374419e-8 * kelvin**4, rtol=1e-8)


def test_fluxnet_quality_flags_other_than_measured_or_good_gap_filling_are_gaps(tmp_path):
    frame = truth()
    flags = np.zeros(len(frame), int)
    flags[20:22] = 2  # ERA-downscaled: a one-hour gap, interpolated
    forcing = load_tower_weather(
        spec(fluxnet_csv(tmp_path / "FLX.csv", frame, TA_F_QC=flags), format="fluxnet", time={"utc_offset": 1}),
        **SEASON,
    )
    ta = frame["Ta"].values
    expected = np.interp([1, 2], [0, 3], [ta[19], ta[22]])
    np.testing.assert_allclose(forcing["Ta"].values[20:22], expected, rtol=1e-12)
    assert list(forcing["gap_flag"].values[19:23]) == [0, 1, 1, 0]


# --- formulas against published values ------------------------------------------------------------------------


def test_saturation_vapour_pressure_against_iapws():
    """IAPWS-IF97 saturation pressure: 3.53658941 kPa at 300 K (its verification table); 611.657 Pa at the triple
    point (273.16 K). SCOPE's Tetens formula is within 0.2 % there."""
    values = tower_weather.saturation_vapour_pressure([300.0 - 273.15, 0.01])
    np.testing.assert_allclose(values, [35.3658941, 6.11657], rtol=2e-3)


def test_barometric_pressure_against_the_icao_standard_atmosphere():
    assert tower_weather.barometric_pressure(0.0) == pytest.approx(1013.25)
    assert tower_weather.barometric_pressure(1000.0) == pytest.approx(898.76, rel=1e-4)
    assert tower_weather.barometric_pressure(2000.0) == pytest.approx(794.95, rel=1e-4)


# --- gaps ----------------------------------------------------------------------------------------------------


def test_short_gaps_interpolated_long_gaps_masked_never_extrapolated(tmp_path):
    frame = truth()
    values = {name: frame[name].values.copy() for name in NAMES}
    values["Rin"][10:14] = -9999  # 4 half-hours = 2 h: filled
    values["Rin"][60:65] = -9999  # 5 half-hours = 2.5 h: left missing
    values["Ta"][30:33] = np.nan
    values["u"][-2:] = -9999  # at the end: never extrapolated
    values["ea"][0] = -9999  # at the start
    keep = np.ones(len(frame), bool)
    keep[[40, 41]] = False  # records absent from the regular series
    table = {name: series[keep] for name, series in values.items()}
    stamps = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")[keep]
    path = plain_csv(tmp_path / "gaps.csv", frame, stamps, **table)
    forcing = load_tower_weather(spec(path, columns=SCOPE_COLUMNS, missing_value=-9999), **SEASON)

    np.testing.assert_array_equal(forcing["time"].values, frame.index.values)  # absent records put back
    rin, ta = frame["Rin"].values, frame["Ta"].values
    np.testing.assert_allclose(forcing["Rin"].values[10:14], np.interp(range(10, 14), [9, 14], rin[[9, 14]]))
    np.testing.assert_allclose(forcing["Ta"].values[30:33], np.interp(range(30, 33), [29, 33], ta[[29, 33]]))
    np.testing.assert_allclose(
        forcing["Rli"].values[40:42], np.interp([40, 41], [39, 42], frame["Rli"].values[[39, 42]])
    )
    assert np.isnan(forcing["Rin"].values[60:65]).all() and np.isfinite(forcing["Rin"].values[59])
    assert np.isnan(forcing["u"].values[-2:]).all() and np.isnan(forcing["ea"].values[0])
    flag = forcing["gap_flag"].values
    assert list(flag[[0, 5, 10, 13, 30, 40, 60, 64, 65]]) == [2, 0, 1, 1, 1, 1, 2, 2, 0]
    assert flag[-2:].tolist() == [2, 2] and forcing["gap_flag"].attrs["flag_meanings"].split()[2] == "long_gap_missing"

    # which times the observation stage can use: inside the records, not in or beside a long gap
    record = frame.index
    times = [
        record[5],
        record[5] + pd.Timedelta(minutes=10),
        record[59] + pd.Timedelta(minutes=10),  # between a complete record and a long gap
        record[62],
        record[0],  # ea missing at the first record
        record[0] - pd.Timedelta(hours=1),  # before the records
        record[-1] + pd.Timedelta(hours=1),
        record[12],  # a filled short gap
    ]
    usable = usable_weather_times(forcing, times)
    assert usable.tolist() == [True, True, False, False, False, False, False, True]
    # the same times are the ones scope-rtm's input preparation (the inputs stage) interpolates to finite weather
    inside = [time for time in times if record[0] <= time <= record[-1]]
    interpolated = _interp_time(forcing[NAMES], np.array(inside, dtype="datetime64[ns]"), method="linear")
    finite = np.logical_and.reduce([np.isfinite(interpolated[name].values) for name in NAMES])
    assert finite.tolist() == usable_weather_times(forcing, inside).tolist()


def test_default_path_without_gaps_is_usable_everywhere_inside_the_records():
    local = yaml.safe_load(open("config/config.yaml"))["weather"]["local"]
    forcing = load_tower_weather(WeatherFile.from_config(local, default_weather_csv()), **SEASON)
    records = pd.DatetimeIndex(forcing["time"].values)
    times = [records[0], records[0] + pd.Timedelta(days=2), records[-1], records[-1] + pd.Timedelta(hours=1)]
    assert usable_weather_times(forcing, times).tolist() == [True, True, True, False]


# --- bad input: one line naming the file and the column or key ------------------------------------------------


def one_line(error):
    assert "\n" not in str(error.value)
    return str(error.value)


def test_a_column_the_preset_expects_is_absent(tmp_path):
    path = fluxnet_csv(tmp_path / "FLX.csv", truth(), drop=("WS_F", "WS_F_QC"))
    with pytest.raises(ValueError) as error:
        load_tower_weather(spec(path, format="fluxnet", time={"utc_offset": 1}), **SEASON)
    message = one_line(error)
    assert "FLX.csv: weather lacks ['u']" in message and "WS_F or WS" in message
    assert "the file has ['TIMESTAMP_END', 'SW_IN_F'" in message  # what it has instead
    with pytest.raises(ValueError, match=r"FLX.csv: no quality column 'WS_QC' \(for u\)"):
        columns = {"u": {"name": "TA_F", "units": "m s-1", "quality": {"name": "WS_QC", "accept": [0]}}}
        load_tower_weather(spec(path, format="fluxnet", time={"utc_offset": 1}, columns=columns), **SEASON)


def test_units_that_do_not_convert(tmp_path):
    frame = truth()
    path = plain_csv(tmp_path / "w.csv", frame, **frame)
    for units, wanted in (("m s-1", "degC"), ("furlongs", "degC"), (r"degC\)", "degC")):
        columns = dict(SCOPE_COLUMNS, Ta={"name": "Ta", "units": units.replace("\\", "")})
        with pytest.raises(ValueError, match=rf"w.csv: Ta \(Ta\): units '{units}' do not convert to '{wanted}'"):
            load_tower_weather(spec(path, columns=columns), **SEASON)


def test_duplicated_and_unordered_timestamps(tmp_path):
    frame = truth(days=1)
    stamps = list(frame.index.strftime("%Y-%m-%dT%H:%MZ"))
    duplicated = stamps[:5] + [stamps[4]] + stamps[6:]
    with pytest.raises(
        ValueError, match=r"dup.csv: column time: duplicated time 2021-06-10 01:15:00 \(UTC\) at records 5 and 6"
    ):
        load_tower_weather(
            spec(plain_csv(tmp_path / "dup.csv", frame, duplicated, **frame), columns=SCOPE_COLUMNS), **SEASON
        )
    swapped = stamps[:5] + [stamps[6], stamps[5]] + stamps[7:]
    with pytest.raises(ValueError, match=r"order.csv: column time: times are not in increasing order"):
        load_tower_weather(
            spec(plain_csv(tmp_path / "order.csv", frame, swapped, **frame), columns=SCOPE_COLUMNS), **SEASON
        )


def test_a_gap_longer_than_the_limit_at_every_requested_time(tmp_path):
    frame = truth()
    rin = frame["Rin"].values.copy()
    rin[40:60] = np.nan
    path = plain_csv(tmp_path / "w.csv", frame, **dict(frame, Rin=rin))
    forcing = load_tower_weather(spec(path, columns=SCOPE_COLUMNS), **SEASON)
    inside_gap = frame.index[45:55]
    with pytest.raises(ValueError) as error:
        usable_weather_times(forcing, inside_gap, where="results/weather/forcing.nc")
    message = one_line(error)
    assert message.startswith("results/weather/forcing.nc: weather covers none of the 10 requested times")
    assert "10 of the times inside them fall in gaps longer than weather.local.max_gap_hours" in message
    # the whole season in one gap stops the weather stage itself
    with pytest.raises(ValueError, match=r"w.csv: no usable Rin \(Rin\) between"):
        load_tower_weather(
            spec(plain_csv(tmp_path / "w.csv", frame, **dict(frame, Rin=np.nan)), columns=SCOPE_COLUMNS), **SEASON
        )


def test_relative_humidity_and_vapour_pressure_deficit_out_of_range(tmp_path):
    frame = truth()
    rh = frame["ea"] / tower_weather.saturation_vapour_pressure(frame["Ta"]) * 100.0
    columns = dict(SCOPE_COLUMNS, ea={"from": "relative_humidity", "name": "RH", "units": "percent"})
    near = rh.values.copy()
    near[3] = 101.5  # within a sensor's tolerance: read as saturated
    forcing = load_tower_weather(
        spec(plain_csv(tmp_path / "ok.csv", frame, **dict(frame, RH=near)), columns=columns), **SEASON
    )
    assert forcing["ea"].values[3] == pytest.approx(tower_weather.saturation_vapour_pressure(frame["Ta"].values[3]))
    far = rh.values.copy()
    far[7] = 130.0
    with pytest.raises(ValueError) as error:
        load_tower_weather(
            spec(plain_csv(tmp_path / "rh.csv", frame, **dict(frame, RH=far)), columns=columns), **SEASON
        )
    assert "rh.csv: RH (ea): 1 relative humidity values outside 0..100 %" in one_line(error)
    vpd = tower_weather.saturation_vapour_pressure(frame["Ta"]) - frame["ea"]
    vpd.iloc[9] = -2.0
    columns = dict(SCOPE_COLUMNS, ea={"from": "vapour_pressure_deficit", "name": "VPD", "units": "kPa"})
    with pytest.raises(ValueError, match=r"vpd.csv: VPD \(ea\): 1 vapour pressure deficit values outside 0..inf hPa"):
        load_tower_weather(
            spec(plain_csv(tmp_path / "vpd.csv", frame, **dict(frame, VPD=vpd / 10)), columns=columns), **SEASON
        )


def test_a_time_zone_that_puts_the_shortwave_peak_far_from_solar_noon_is_warned_with_the_offset_that_fits(
    tmp_path, caplog
):
    path = fluxnet_csv(tmp_path / "FLX.csv", truth())
    with caplog.at_level(logging.WARNING, logger="scopecal"):
        load_tower_weather(spec(path, format="fluxnet", time={"utc_offset": 1}), longitude=LONGITUDE, **SEASON)
        assert not caplog.records
        load_tower_weather(spec(path, format="fluxnet", time={"utc_offset": -3}), longitude=LONGITUDE, **SEASON)
    (record,) = caplog.records
    assert "FLX.csv: the mean diurnal shortwave peaks 4.0 h after local solar noon" in record.getMessage()
    assert "utc_offset: 1 fits (declared UTC-3)" in record.getMessage()
    # a FLUXNET file with no offset at all: the error says which key to set and what fits
    with pytest.raises(
        ValueError,
        match=r"FLX.csv: the stamps \(TIMESTAMP_START\) .* weather.local.time.utc_offset .* fits utc_offset: 1$",
    ):
        load_tower_weather(spec(path, format="fluxnet"), longitude=LONGITUDE, **SEASON)


def test_a_daylight_saving_zone_on_standard_time_stamps_is_named(tmp_path):
    """Standard-time stamps through the night the clocks go back repeat in Europe/Brussels' local time."""
    local = pd.date_range("2021-10-30 22:00", "2021-10-31 05:00", freq="30min")
    frame = pd.DataFrame({name: truth()[name].values[: len(local)] for name in NAMES})
    path = plain_csv(tmp_path / "w.csv", frame, local.strftime("%Y-%m-%dT%H:%M"), **frame)
    with pytest.raises(
        ValueError,
        match=r"w.csv: 2 stamps in time \(first 2021-10-31T02:00\) .* of Europe/Brussels; .*time.utc_offset instead",
    ):
        load_tower_weather(
            spec(path, columns=SCOPE_COLUMNS, time={"timezone": "Europe/Brussels"}),
            start=datetime(2021, 10, 1),
            end=datetime(2021, 11, 30),
        )
