"""Weather from a station or flux-tower file, in SCOPE's names and units, at the middle of each interval in UTC.

What a tower file needs beyond a column map: each column's units (pint, with cf-xarray's registry as for
observation files), the stamps' time zone (an IANA name, a fixed offset from UTC for local standard time, or ISO
offsets in the stamps) and which part of the averaging interval they mark, a missing-value code, quality flags
with the values accepted, and, for what the tower does not measure, a constant or a derivation: air pressure
from the site's elevation, vapour pressure from relative humidity, vapour pressure deficit or specific humidity,
incoming longwave from a clear-sky formula (only when asked for, and flagged in the result).

Missing values (the code, NaN, a rejected quality flag, or a record absent from a regular series) are filled by
linear interpolation in time where a gap lasts at most ``max_gap_hours``; longer gaps stay NaN, are marked in
``gap_flag`` and are never extrapolated. :func:`scopecal.weather.usable_weather_times` says which requested
times the forcing covers.

Presets know a format's names, units, missing value and interval convention: ``fluxnet`` (FLUXNET2015, ONEFlux
and AmeriFlux BASE half-hourly or hourly CSV: ``TIMESTAMP_START`` in local standard time, -9999 missing, ``_F``
gap-filled variants preferred, ``_QC`` flags) and ``plumber2`` (ALMA NetCDF written by FluxnetLSM: the time axis
is FLUXNET's interval start in local standard time and the ``time`` variable's ``time_zone`` attribute names the
site's zone).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from tokenize import TokenError
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from cf_xarray.units import units as UNITS
from numpy.typing import ArrayLike
from pint.errors import PintError
from scipy.constants import Stefan_Boltzmann

from .tower_files import (
    PRESET_MISSING_VALUE,
    PRESET_TIME,
    RawTable,
    TimeSettings,
    file_contents,
    interval_middles,
    read_series,
    record_spacing,
    record_times,
    stamp_zone,
    standard_offset_hours,
)
from .weather import WEATHER_VARIABLES, check_weather

LOG = logging.getLogger("scopecal")
FORMATS = ("plain", "fluxnet", "plumber2")
DERIVATIONS = {
    "ea": ("relative_humidity", "vapour_pressure_deficit", "specific_humidity"),
    "p": ("elevation",),
    "Rli": ("clear_sky",),
}
# the units a derivation's input column is converted to
DERIVATION_UNITS = {"relative_humidity": "percent", "vapour_pressure_deficit": "hPa", "specific_humidity": "1"}
DEFAULT_MAX_GAP_HOURS = 2.0
DEFAULT_QUALITY_ACCEPT = (0, 1)  # FLUXNET and PLUMBER2 flags: measured, good-quality gap-filling
# sensors report RH a little above 100 % in fog and VPD a little below 0; beyond these it is a data error
RH_TOLERANCE_PERCENT = 3.0
VPD_TOLERANCE_HPA = 0.5
NOON_TOLERANCE_HOURS = 1.5  # beyond it the shortwave peak and local solar noon disagree: a time-zone error
WATER_VAPOUR_MASS_RATIO = 0.622  # R_dry / R_vapour
GAP_FLAG_MEANINGS = "complete short_gap_interpolated long_gap_missing"


@dataclass(frozen=True)
class Column:
    """Where one SCOPE forcing variable comes from: a file column, a constant or a derivation (``source``)."""

    name: str | None = None  # file column: the variable itself, or a derivation's input
    units: str | None = None  # of the column or the constant; None: SCOPE's units
    value: float | None = None  # a constant
    source: str | None = None  # a derivation, see DERIVATIONS
    quality: Mapping[str, Any] | None = None  # {name, accept}: the quality flag column and the values kept
    quality_optional: bool = False  # a preset's flag, read where the file has it

    def describe(self) -> str:
        if self.value is not None:
            return f"constant {self.value} {self.units or ''}".rstrip()
        text = f"{self.name} ({self.units})" if self.name and self.units else (self.name or "")
        if self.source:
            text = self.source + (f" {text}" if text else "")
        if self.quality:
            text += f", flag {self.quality['name']} in {list(self.quality['accept'])}"
        return text


@dataclass(frozen=True)
class WeatherFile:
    """A weather file and how to read it (the config's ``weather.local``); :meth:`from_config` fills in a preset's
    time convention and missing value."""

    path: Path
    format: str = "plain"
    columns: Mapping[str, Column] = field(default_factory=dict)
    time: TimeSettings = field(default_factory=TimeSettings)
    missing_value: float | None = None
    max_gap_hours: float = DEFAULT_MAX_GAP_HOURS
    quality_accept: tuple[float, ...] = DEFAULT_QUALITY_ACCEPT
    elevation_m: float | None = None
    key: str = "weather.local"  # the config key, named in errors

    @classmethod
    def from_config(cls, local: Mapping[str, Any], default_path: str | Path | None = None) -> WeatherFile:
        """From ``weather.local``. With a preset, plain column names and ``time_column`` (the plain format's keys,
        which every overlay inherits from the default config) are not read: a preset's column is replaced by a
        mapping (``{name, units}``, a ``value`` or ``from``)."""
        kind = local.get("format") or "plain"
        if kind not in FORMATS:
            raise ValueError(f"weather.local.format: {kind!r} is not one of {list(FORMATS)}")
        path = local.get("path") or default_path
        if not path:
            raise ValueError("weather.local.path: no weather file given")
        given = local.get("columns") or {}
        unknown = sorted(set(given) - set(WEATHER_VARIABLES))
        if unknown:
            raise ValueError(f"weather.local.columns: unknown SCOPE names {unknown}; use {list(WEATHER_VARIABLES)}")
        columns = {}
        for scope_name, entry in given.items():
            if isinstance(entry, str):
                if kind == "plain":
                    columns[scope_name] = Column(name=entry)
            else:
                columns[scope_name] = column_from_config(scope_name, entry)
        time = dict(local.get("time") or {})
        if time.get("timezone") and time.get("utc_offset") is not None:
            raise ValueError("weather.local.time: give timezone or utc_offset, not both")
        if kind == "plain":
            time.setdefault("column", local.get("time_column") or "time")
            missing_value = local.get("missing_value")
        else:  # the preset's conventions, where the config does not set them
            time = {**vars(PRESET_TIME[kind]), **time}
            missing_value = local.get("missing_value", PRESET_MISSING_VALUE[kind])
        return cls(
            path=Path(path),
            format=kind,
            columns=columns,
            time=TimeSettings(**time),
            missing_value=missing_value,
            max_gap_hours=float(local.get("max_gap_hours", DEFAULT_MAX_GAP_HOURS)),
            quality_accept=tuple(local.get("quality_accept", DEFAULT_QUALITY_ACCEPT)),
            elevation_m=local.get("elevation_m"),
        )


def column_from_config(scope_name: str, entry: Mapping[str, Any]) -> Column:
    where = f"weather.local.columns.{scope_name}"
    if scope_name not in WEATHER_VARIABLES:
        raise ValueError(f"{where}: unknown SCOPE name; use {list(WEATHER_VARIABLES)}")
    source = entry.get("from")
    if source is not None and source not in DERIVATIONS.get(scope_name, ()):
        raise ValueError(
            f"{where}.from: {source!r}; {scope_name} can come from {list(DERIVATIONS.get(scope_name, ()))}"
        )
    if source in DERIVATION_UNITS and not entry.get("name"):
        raise ValueError(f"{where}: from {source} needs the column's name (and units)")
    if source is None and entry.get("value") is None and not entry.get("name"):
        raise ValueError(f"{where}: give a column name, a constant value, or from (a derivation)")
    quality = entry.get("quality")
    return Column(
        name=entry.get("name"),
        units=entry.get("units"),
        value=None if entry.get("value") is None else float(entry["value"]),
        source=source,
        quality={"name": quality["name"], "accept": list(quality["accept"])} if quality else None,
    )


# --- presets -----------------------------------------------------------------------------------------------

# SCOPE name -> the columns a preset looks for, in order of preference (the first the file has is read)
PRESET_COLUMNS = {
    "fluxnet": {
        "Rin": [Column("SW_IN_F", "W m-2"), Column("SW_IN", "W m-2")],
        "Rli": [Column("LW_IN_F", "W m-2"), Column("LW_IN", "W m-2")],
        "Ta": [Column("TA_F", "degC"), Column("TA", "degC")],
        "ea": [
            Column("VPD_F", "hPa", source="vapour_pressure_deficit"),
            Column("VPD", "hPa", source="vapour_pressure_deficit"),
            Column("RH", "percent", source="relative_humidity"),
        ],
        "p": [Column("PA_F", "kPa"), Column("PA", "kPa")],
        "u": [Column("WS_F", "m s-1"), Column("WS", "m s-1")],
    },
    "plumber2": {
        "Rin": [Column("SWdown", "W m-2")],
        "Rli": [Column("LWdown", "W m-2")],
        "Ta": [Column("Tair", "K")],
        "ea": [
            Column("VPD", "hPa", source="vapour_pressure_deficit"),
            Column("Qair", "kg kg-1", source="specific_humidity"),
            Column("RH", "percent", source="relative_humidity"),
        ],
        "p": [Column("Psurf", "Pa")],
        "u": [Column("Wind", "m s-1")],
    },
}
PRESET_QUALITY_SUFFIX = {"fluxnet": "_QC", "plumber2": "_qc"}


def resolve_columns(spec: WeatherFile, available: Sequence[str], elevation_m: float | None) -> dict[str, Column]:
    """Each SCOPE variable's source in this file; one error naming every variable the file cannot give."""
    path = spec.path
    resolved, lacking = {}, []
    for scope_name in WEATHER_VARIABLES:
        column = spec.columns.get(scope_name)
        if column is None and spec.format != "plain":
            column = preset_column(spec, scope_name, available, elevation_m)
        if column is None or (column.name and column.name not in available):
            lacking.append(scope_name)
            continue
        resolved[scope_name] = column
    if lacking:
        raise ValueError(f"{path}: weather lacks {lacking}: {lacking_reason(spec, lacking, available)}")
    for scope_name, column in resolved.items():
        if column.source == "elevation" and elevation_m is None:
            raise ValueError(f"{path}: p from elevation needs the site's elevation: set weather.local.elevation_m")
        if column.quality and column.quality["name"] not in available and not column.quality_optional:
            raise ValueError(
                f"{path}: no quality column {column.quality['name']!r} (for {scope_name}); the file has "
                f"{list(available)}"
            )
    return resolved


def preset_column(
    spec: WeatherFile, scope_name: str, available: Sequence[str], elevation_m: float | None
) -> Column | None:
    """The preset's first column for ``scope_name`` that the file has, with its flag where the file has one; for
    a site without a barometer, pressure from its elevation."""
    for candidate in PRESET_COLUMNS[spec.format][scope_name]:
        if candidate.name in available:
            flag = candidate.name + PRESET_QUALITY_SUFFIX[spec.format]
            return replace(
                candidate, quality={"name": flag, "accept": list(spec.quality_accept)}, quality_optional=True
            )
    if scope_name == "p" and elevation_m is not None:
        return Column(source="elevation")
    return None


def lacking_reason(spec: WeatherFile, lacking: list[str], available: Sequence[str]) -> str:
    """Why each of ``lacking`` has no source, what would give one, and what the file has."""
    parts = []
    for scope_name in lacking:
        column = spec.columns.get(scope_name)
        if column is not None:
            parts.append(f"no column {column.name!r} (weather.local.columns.{scope_name})")
        elif spec.format == "plain":
            parts.append(f"{scope_name} is not mapped (weather.local.columns.{scope_name})")
        else:
            names = " or ".join(c.name for c in PRESET_COLUMNS[spec.format][scope_name])
            hint = " (or set weather.local.elevation_m, or columns.p: {value, units})" if scope_name == "p" else ""
            if scope_name == "Rli":
                hint = " (or columns.Rli: {from: clear_sky} to estimate it)"
            parts.append(f"the {spec.format} format expects {names} for {scope_name}{hint}")
    return "; ".join(parts) + f"; the file has {list(available)}; map them with weather.local.columns"


# --- reading -----------------------------------------------------------------------------------------------


# --- values ------------------------------------------------------------------------------------------------


# what pint raises on units that do not convert or do not parse (its parser lets AssertionError, for "-", and
# TokenError, for unbalanced brackets, through)
UNIT_ERRORS = (PintError, ValueError, AssertionError, TypeError, TokenError)


def to_units(values: np.ndarray, units: str | None, wanted: str, where: str) -> np.ndarray:
    """``values`` in ``units`` (None: already ``wanted``) converted to ``wanted``; untouched when they are the same
    unit, so a file in SCOPE's units reads bit for bit as before."""
    if units is None:
        return values
    try:
        if UNITS.Unit(units) == UNITS.Unit(wanted):
            return values
        return np.asarray(UNITS.Quantity(values, units).to(wanted).magnitude, dtype=float)
    except UNIT_ERRORS as error:
        raise ValueError(f"{where}: units {units!r} do not convert to {wanted!r} ({error})") from None


def raw_values(table: RawTable, column: Column, spec: WeatherFile) -> np.ndarray:
    """A column as floats, NaN where it holds the missing-value code or its quality flag is not accepted."""
    values = pd.to_numeric(table.columns[column.name], errors="coerce").to_numpy(dtype=float, copy=True)
    if spec.missing_value is not None:
        values[values == spec.missing_value] = np.nan
    if column.quality and column.quality["name"] in table.columns:
        flags = pd.to_numeric(table.columns[column.quality["name"]], errors="coerce").to_numpy(dtype=float)
        values[~np.isin(flags, np.asarray(column.quality["accept"], dtype=float))] = np.nan
    return values


def saturation_vapour_pressure(air_temperature_c: ArrayLike) -> np.ndarray:
    """hPa over water at ``air_temperature_c``: Tetens' formula with the constants of SCOPE's own ``satvap``
    (6.107 hPa, 7.5, 237.3 degC), so that a humidity converted here is the one SCOPE's leaf model sees."""
    temperature = np.asarray(air_temperature_c, dtype=float)
    return 6.107 * 10.0 ** (7.5 * temperature / (237.3 + temperature))


def barometric_pressure(elevation_m: float) -> float:
    """hPa at ``elevation_m`` in the ICAO standard atmosphere (1013.25 hPa and 288.15 K at sea level, lapse rate
    6.5 K km-1)."""
    lapse, sea_level_k, gravity, molar_mass, gas_constant = 0.0065, 288.15, 9.80665, 0.0289644, 8.314462618
    exponent = gravity * molar_mass / (gas_constant * lapse)
    return 1013.25 * (1.0 - lapse * elevation_m / sea_level_k) ** exponent


def clear_sky_longwave(air_temperature_c: ArrayLike, vapour_pressure_hpa: ArrayLike) -> np.ndarray:
    """W m-2 from a cloudless sky: Brutsaert's (1975) emissivity 1.24 (ea / Ta)^(1/7), ea in hPa, Ta in K. It
    underestimates the longwave under clouds."""
    kelvin = np.asarray(air_temperature_c, dtype=float) + 273.15
    emissivity = 1.24 * (np.asarray(vapour_pressure_hpa, dtype=float) / kelvin) ** (1.0 / 7.0)
    return emissivity * Stefan_Boltzmann * kelvin**4


def check_humidity(values: np.ndarray, kind: str, times: pd.DatetimeIndex, where: str) -> np.ndarray:
    """RH within 0-100 % or VPD >= 0, up to a sensor's tolerance (then clipped); beyond it an error."""
    if kind == "relative_humidity":
        low, high, label = -RH_TOLERANCE_PERCENT, 100.0 + RH_TOLERANCE_PERCENT, "relative humidity"
        bounds, units = (0.0, 100.0), "%"
    else:
        low, high, label = -VPD_TOLERANCE_HPA, np.inf, "vapour pressure deficit"
        bounds, units = (0.0, np.inf), "hPa"
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise ValueError(
            f"{where}: {int(bad.sum())} {label} values outside {bounds[0]:g}..{bounds[1]:g} {units} beyond the "
            f"tolerance ({low:g}..{high:g}), first {values[first]:g} at {times[first]} UTC"
        )
    return np.clip(values, *bounds)


def forcing_values(
    table: RawTable, columns: Mapping[str, Column], spec: WeatherFile, times: pd.DatetimeIndex, elevation_m
) -> dict[str, np.ndarray]:
    """The six SCOPE variables at the records, in SCOPE's units (NaN where missing)."""
    values: dict[str, np.ndarray] = {}
    size = len(table.columns)
    for scope_name in ("Ta", "p", "Rin", "u", "ea", "Rli"):  # derivations need Ta and p first, Rli needs ea
        column, wanted = columns[scope_name], WEATHER_VARIABLES[scope_name][0]
        where = f"{spec.path}: {column.name or 'weather.local.columns.' + scope_name} ({scope_name})"
        if column.value is not None:
            values[scope_name] = np.full(size, to_units(np.array(column.value), column.units, wanted, where))
        elif column.source == "elevation":
            values[scope_name] = np.full(size, barometric_pressure(float(elevation_m)))
        elif column.source == "clear_sky":
            values[scope_name] = clear_sky_longwave(values["Ta"], values["ea"])
        elif column.source in DERIVATION_UNITS:
            given = to_units(raw_values(table, column, spec), column.units, DERIVATION_UNITS[column.source], where)
            if column.source == "specific_humidity":
                values["ea"] = given * values["p"] / (WATER_VAPOUR_MASS_RATIO + (1 - WATER_VAPOUR_MASS_RATIO) * given)
            else:
                given = check_humidity(given, column.source, times, where)
                saturation = saturation_vapour_pressure(values["Ta"])
                if column.source == "relative_humidity":
                    values["ea"] = given / 100.0 * saturation
                else:
                    values["ea"] = saturation - given
        else:
            values[scope_name] = to_units(raw_values(table, column, spec), column.units, wanted, where)
    return {name: values[name] for name in WEATHER_VARIABLES}


# --- gaps --------------------------------------------------------------------------------------------------


def regular_grid(times: pd.DatetimeIndex, step: pd.Timedelta | None) -> pd.DatetimeIndex:
    """The records' times with the absent records of a regular series put back (a regular series: every time
    a whole number of steps after the first); an irregular series as it is."""
    if step is None or len(times) < 2 or step <= pd.Timedelta(0):
        return times
    offsets = (times - times[0]).values / step.to_timedelta64()
    if not np.allclose(offsets, np.round(offsets), atol=1e-6):
        return times
    return pd.date_range(times[0], times[-1], freq=step).as_unit("ns")


def fill_short_gaps(
    times: pd.DatetimeIndex, values: np.ndarray, max_gap: pd.Timedelta, step: pd.Timedelta | None
) -> tuple[np.ndarray, np.ndarray]:
    """Missing values interpolated linearly where their gap lasts at most ``max_gap``, and which were filled.

    A gap is a run of missing records between two valid ones; it lasts the time between those two minus one
    step (n missing records of a regular series: n steps). Gaps at either end are never filled."""
    missing = ~np.isfinite(values)
    filled_mask = np.zeros(values.shape, bool)
    if not missing.any() or missing.all():
        return values, filled_mask
    index = np.arange(values.size)
    before = np.maximum.accumulate(np.where(missing, -1, index))
    after = np.minimum.accumulate(np.where(missing, values.size, index)[::-1])[::-1]
    inside = missing & (before >= 0) & (after < values.size)
    stamps = times.values
    duration = stamps[np.minimum(after, values.size - 1)] - stamps[np.maximum(before, 0)]
    duration = duration - (step.to_timedelta64() if step is not None else np.timedelta64(0))
    filled_mask = inside & (duration <= max_gap.to_timedelta64())
    seconds = (stamps - stamps[0]) / np.timedelta64(1, "s")
    filled = values.copy()
    filled[filled_mask] = np.interp(seconds[filled_mask], seconds[~missing], values[~missing])
    return filled, filled_mask


def with_absent_records(
    times: pd.DatetimeIndex, values: dict[str, np.ndarray], step: pd.Timedelta | None, path: Path, log: logging.Logger
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """The records of a regular series with those the file lacks put back as missing."""
    grid = regular_grid(times, step)
    if len(grid) == len(times):
        return times, values
    log.info("%s: %d records absent from the regular %s series treated as missing", path, len(grid) - len(times), step)
    position = grid.get_indexer(times)
    full = {}
    for name, series in values.items():
        full[name] = np.full(len(grid), np.nan)
        full[name][position] = series
    return grid, full


def gaps_filled(
    times: pd.DatetimeIndex,
    values: dict[str, np.ndarray],
    inside: np.ndarray,
    step: pd.Timedelta | None,
    spec: WeatherFile,
    columns: Mapping[str, Column],
    log: logging.Logger,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each variable at the times ``inside`` the season window with its short gaps filled, and the gap flag per
    time: 0 complete, 1 some variable interpolated across a short gap, 2 some variable missing (a long gap)."""
    max_gap = pd.Timedelta(hours=spec.max_gap_hours)
    flag = np.zeros(int(inside.sum()), np.int8)
    filled = {}
    for name, series in values.items():
        series, was_filled = fill_short_gaps(times, series, max_gap, step)
        filled[name], was_filled = series[inside], was_filled[inside]
        missing = ~np.isfinite(filled[name])
        if missing.size and missing.all():
            raise ValueError(
                f"{spec.path}: no usable {name} ({columns[name].describe()}) between {times[inside][0]} and "
                f"{times[inside][-1]} UTC: every value is missing, flagged or in a gap longer than "
                f"{spec.max_gap_hours:g} h"
            )
        if was_filled.any() or missing.any():
            log.info(
                "%s: %s: %d values interpolated across gaps up to %g h, %d left missing (longer gaps)",
                spec.path,
                name,
                int(was_filled.sum()),
                spec.max_gap_hours,
                int(missing.sum()),
            )
        flag = np.maximum(flag, np.where(missing, 2, np.where(was_filled, 1, 0)).astype(np.int8))
    return filled, flag


# --- time-zone check ---------------------------------------------------------------------------------------


def solar_noon_utc_hour(times: pd.DatetimeIndex, longitude: float) -> float:
    """Mean UTC hour of local solar noon over the days of ``times`` (the NOAA equation of time)."""
    day_angle = 2 * np.pi / 365.0 * (times.day_of_year.to_numpy() - 1)
    equation_of_time_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(day_angle)
        - 0.032077 * np.sin(day_angle)
        - 0.014615 * np.cos(2 * day_angle)
        - 0.040849 * np.sin(2 * day_angle)
    )
    return float(12.0 - longitude / 15.0 - equation_of_time_min.mean() / 60.0)


def shortwave_noon_shift(times: pd.DatetimeIndex, shortwave: np.ndarray, longitude: float) -> float | None:
    """Hours by which the mean diurnal shortwave's centre (its circular mean hour, weighted by the composite)
    follows local solar noon; None for a record that does not resolve the day (steps over 3 h, under 2 days)."""
    valid = np.isfinite(shortwave)
    times, shortwave = times[valid], shortwave[valid]
    if len(times) < 2 or np.median(np.diff(times.values)) > np.timedelta64(3, "h") or (times[-1] - times[0]).days < 2:
        return None
    hour = times.hour + times.minute / 60 + times.second / 3600
    composite = pd.Series(np.clip(shortwave, 0, None)).groupby(np.asarray(hour)).mean()
    if composite.sum() <= 0:
        return None
    angle = 2 * np.pi * composite.index.to_numpy() / 24.0
    centre = np.arctan2((composite * np.sin(angle)).sum(), (composite * np.cos(angle)).sum()) * 24 / (2 * np.pi)
    return float((centre - solar_noon_utc_hour(times, longitude) + 12.0) % 24.0 - 12.0)


def warn_if_shifted(forcing: xr.Dataset, spec: WeatherFile, zone, longitude: float, log: logging.Logger) -> None:
    """A warning where the shortwave peak and the site's local solar noon lie over 1.5 h apart."""
    times = pd.DatetimeIndex(forcing["time"].values)
    shift = shortwave_noon_shift(times, forcing["Rin"].values, longitude)
    if shift is None or abs(shift) <= NOON_TOLERANCE_HOURS:
        return
    declared = standard_offset_hours(zone, times[0].to_pydatetime())
    fits = f"utc_offset: {declared + round(shift):g} fits" if declared is not None else "check the stamps' offsets"
    log.warning(
        "%s: the mean diurnal shortwave peaks %.1f h %s local solar noon at longitude %.3f: the stamps' time zone "
        "or interval convention looks wrong (weather.local.time); %s (declared %s)",
        spec.path,
        abs(shift),
        "after" if shift > 0 else "before",
        longitude,
        fits,
        "none" if declared is None else f"UTC{declared:+g}",
    )


# --- the reader --------------------------------------------------------------------------------------------


def load_tower_weather(
    spec: WeatherFile,
    *,
    start: datetime,
    end: datetime,
    longitude: float | None = None,
    log: logging.Logger = LOG,
) -> xr.Dataset:
    """SCOPE's forcing from ``spec``'s file, at interval middles in UTC between ``start`` and ``end`` (inclusive).

    Short gaps are interpolated; values in longer gaps stay NaN and ``gap_flag`` (only written when something
    was missing) marks each time. ``longitude`` (degrees east) turns on the time-zone check against the
    shortwave's diurnal peak. A file in SCOPE's units with UTC stamps and no gaps reads exactly as
    :func:`scopecal.weather.load_local_weather` reads it.
    """
    path = spec.path
    available, table = file_contents(spec)
    if spec.format == "fluxnet" and table.time_attrs["column"] == "TIMESTAMP_END":
        spec = replace(spec, time=replace(spec.time, stamp="end"))
    elevation_m = spec.elevation_m if spec.elevation_m is not None else table.elevation_m
    columns = resolve_columns(spec, available, elevation_m)
    needed = [c.name for c in columns.values() if c.name] + [
        c.quality["name"] for c in columns.values() if c.quality and c.quality["name"] in available
    ]
    table = read_series(spec, table, needed)
    zone = stamp_zone(spec, table)
    if zone is None:
        raise ValueError(missing_offset_message(spec, table, columns, longitude))
    times = interval_middles(record_times(spec, table, zone), spec)
    step = record_spacing(times)
    # records beyond the window by up to a gap still bridge a gap across its edge
    margin = pd.Timedelta(hours=spec.max_gap_hours) + (step if step is not None else pd.Timedelta(0))
    keep = (times >= pd.Timestamp(start) - margin) & (times <= pd.Timestamp(end) + margin)
    table = replace(table, columns=table.columns[keep].reset_index(drop=True))
    times = times[keep]
    values = forcing_values(table, columns, spec, times, elevation_m)
    times, values = with_absent_records(times, values, step, path, log)
    inside = np.asarray((times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end)))
    values, flag = gaps_filled(times, values, inside, step, spec, columns, log)
    dataset = xr.Dataset(
        {name: ("time", values[name]) for name in WEATHER_VARIABLES}, coords={"time": times[inside].values}
    )
    forcing = check_weather(dataset, path, allow_gaps=True)
    annotate(forcing, columns, spec)
    if flag.any():  # only then: a complete file's forcing is as before
        forcing["gap_flag"] = ("time", flag)
        forcing["gap_flag"].attrs.update(
            long_name="weather gap at this time",
            flag_values=np.array([0, 1, 2], np.int8),
            flag_meanings=GAP_FLAG_MEANINGS,
            max_gap_hours=spec.max_gap_hours,
        )
    for scope_name, column in columns.items():
        log.info("%s: %s from %s", path, scope_name, column.describe() or "its column in SCOPE units")
    if longitude is not None:
        warn_if_shifted(forcing, spec, zone, longitude, log)
    return forcing


def annotate(forcing: xr.Dataset, columns: Mapping[str, Column], spec: WeatherFile) -> None:
    """Say in the forcing's attributes what was not read as measured (a plain column in SCOPE's units adds nothing,
    so the default forcing is as before)."""
    for scope_name, column in columns.items():
        if column.value is not None:
            forcing[scope_name].attrs["comment"] = f"constant from the config: {column.value} {column.units or ''}"
        elif column.source == "elevation":
            forcing[scope_name].attrs["comment"] = f"standard atmosphere at elevation {spec.elevation_m} m"
        elif column.source in DERIVATION_UNITS:
            forcing[scope_name].attrs["comment"] = f"from {column.source.replace('_', ' ')} {column.name}"
        elif column.source == "clear_sky":
            note = "not measured: Brutsaert (1975) clear-sky estimate from Ta and ea (too low under clouds)"
            forcing[scope_name].attrs["comment"] = note
            forcing.attrs["estimated_Rli"] = note


def missing_offset_message(spec: WeatherFile, table: RawTable, columns: Mapping[str, Column], longitude) -> str:
    """No zone for the stamps: say which key to set, with the offset the shortwave peak suggests."""
    message = (
        f"{spec.path}: the stamps ({table.time_attrs['column']}) are local standard time in no declared zone; set "
        "weather.local.time.utc_offset to the site's offset (hours east of UTC; FLUXNET's site metadata: UTC_OFFSET)"
    )
    if longitude is None or columns["Rin"].name is None:
        return message
    try:
        local = table.stamps
        if not isinstance(local, pd.DatetimeIndex):
            local = pd.DatetimeIndex(pd.to_datetime(local.astype(str), format=spec.time.format))
        middles = interval_middles(local.as_unit("ns"), spec)
    except ValueError:
        return message
    shift = shortwave_noon_shift(middles, raw_values(table, columns["Rin"], spec), longitude)
    return message if shift is None else message + f"; its shortwave peak fits utc_offset: {round(shift):g}"
