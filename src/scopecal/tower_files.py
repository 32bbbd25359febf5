"""Time stamps of a tower's files (weather and observations): zones, UTC offsets, interval conventions.

A flux tower's half-hourly file stamps each record with the start, middle or end of its averaging interval, in
local standard time (a fixed offset from UTC, no daylight saving), as FLUXNET does, or in a named zone, or with
ISO offsets. Everything here turns those stamps into naive UTC at the middle of each interval, where SCOPE runs.
``spec`` is the file's description: ``path``, ``format`` (plain, fluxnet or plumber2), ``time``
(:class:`TimeSettings`) and ``key`` (its config key, named in errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import xarray as xr


class TowerFile(Protocol):
    path: Path
    format: str
    time: TimeSettings
    key: str


@dataclass(frozen=True)
class TimeSettings:
    column: str = "time"
    format: str | None = None  # strptime format of the stamps; None: ISO 8601
    timezone: str | None = None
    utc_offset: float | None = None  # hours east of UTC of the stamps' local standard time
    stamp: str = "middle"  # which part of the averaging interval a stamp marks: start, middle or end
    interval_minutes: float | None = None  # None: the median spacing of the records


PRESET_TIME = {
    "fluxnet": TimeSettings(column="TIMESTAMP_START", format="%Y%m%d%H%M", stamp="start"),
    "plumber2": TimeSettings(column="time", stamp="start"),
}
PRESET_MISSING_VALUE = {"fluxnet": -9999.0, "plumber2": -9999.0}


@dataclass
class RawTable:
    columns: pd.DataFrame  # one row per record, in file order
    stamps: pd.Series | pd.DatetimeIndex  # the time column as read (text, numbers, or decoded NetCDF times)
    time_attrs: dict  # the time variable's attributes, and "column": its name
    elevation_m: float | None = None  # a PLUMBER2 file's site elevation


def file_contents(spec: TowerFile) -> tuple[list[str], RawTable]:
    """The file's series (CSV columns, or NetCDF variables along time alone once size-1 dimensions go) and the
    time stamps, attributes and elevation, with no series read yet (a FLUXNET FULLSET file has hundreds)."""
    path = spec.path
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist ({spec.key})")
    if path.suffix.lower() == ".csv":
        header = list(pd.read_csv(path, comment="#", nrows=0).columns)
        column = spec.time.column
        if column not in header and spec.format == "fluxnet" and "TIMESTAMP_END" in header:
            column = "TIMESTAMP_END"
        if column not in header:
            raise ValueError(f"{path}: no time column {column!r}; the file has {header}")
        stamps = pd.read_csv(path, comment="#", usecols=[column])[column]
        return [name for name in header if name != column], RawTable(pd.DataFrame(), stamps, {"column": column})
    with xr.open_dataset(path) as dataset:
        if "time" not in dataset.dims:
            raise ValueError(f"{path}: no time dimension; the file has dimensions {dict(dataset.sizes)}")
        dataset = dataset.squeeze([dim for dim in dataset.dims if dim != "time" and dataset.sizes[dim] == 1], drop=True)
        series = [name for name, variable in dataset.data_vars.items() if variable.dims == ("time",)]
        elevation = dataset.get("elevation")
        table = RawTable(
            pd.DataFrame(),
            pd.DatetimeIndex(dataset["time"].values),
            dict(dataset["time"].attrs, column="time"),
            float(elevation) if elevation is not None and elevation.size == 1 else None,
        )
    return series, table


def read_series(spec: TowerFile, table: RawTable, names: Sequence[str]) -> RawTable:
    """``table`` with the series ``names`` read."""
    names = list(dict.fromkeys(names))
    if spec.path.suffix.lower() == ".csv":
        frame = pd.read_csv(spec.path, comment="#", usecols=names)[names]
    else:
        with xr.open_dataset(spec.path) as dataset:
            frame = pd.DataFrame({name: dataset[name].squeeze(drop=True).values for name in names})
    return replace(table, columns=frame)


def standard_offset_hours(zone: tzinfo | str | None, moment: datetime) -> float | None:
    if zone is None:
        return None
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return ((zone.utcoffset(moment) or timedelta(0)) - (zone.dst(moment) or timedelta(0))).total_seconds() / 3600


def utc_times(stamps: pd.Series, zone: tzinfo | str | None, path: Path, zone_key: str) -> pd.DatetimeIndex:
    """ISO stamps with a UTC offset, or naive stamps in ``zone``, as naive UTC; ``zone_key`` names the config key
    that declares the zone."""
    with_offset = stamps.str.strip().str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    if with_offset.all():
        return pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601", utc=True)).tz_localize(None)
    if with_offset.any():
        raise ValueError(
            f"{path}: some timestamps carry a UTC offset and some do not (first without: "
            f"{stamps[~with_offset].iloc[0]!r})"
        )
    if not zone:
        raise ValueError(
            f"{path}: timestamps such as {stamps.iloc[0]!r} carry no UTC offset; declare their zone with "
            f"{zone_key} (e.g. 'UTC' or 'Europe/Brussels')"
        )
    local = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601"))
    return local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC").tz_localize(None)


def stamp_zone(spec: TowerFile, table: RawTable) -> tzinfo | str | None:
    """The zone of naive stamps: utc_offset (local standard time), timezone, a PLUMBER2 file's own zone at its
    standard offset, UTC for a plain file (as before these keys existed); None when a FLUXNET file says nothing."""
    if spec.time.utc_offset is not None:
        return timezone(timedelta(hours=spec.time.utc_offset))
    if spec.time.timezone:
        return spec.time.timezone
    if spec.format == "plumber2" and table.time_attrs.get("time_zone"):
        # FluxnetLSM copies FLUXNET's local standard time and names the site's zone, whose DST it never applied
        name = str(table.time_attrs["time_zone"])
        try:
            offset = standard_offset_hours(name, pd.Timestamp(table.stamps[0]).to_pydatetime())
        except ZoneInfoNotFoundError:
            raise ValueError(
                f"{spec.path}: unknown time_zone {name!r} on the time variable; set {spec.key}.time.utc_offset"
            ) from None
        return timezone(timedelta(hours=offset))
    if spec.format == "plain":
        return "UTC"
    return None


def record_times(spec: TowerFile, table: RawTable, zone: tzinfo | str | None) -> pd.DatetimeIndex:
    """UTC record times (naive), at the stamps as written."""
    path, column = spec.path, table.time_attrs["column"]
    stamps = table.stamps
    if zone is None:
        raise ValueError(f"{path}: stamps in {column} carry no UTC offset; set {spec.key}.time.utc_offset")
    try:
        if isinstance(stamps, pd.DatetimeIndex):
            utc = stamps.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC").tz_localize(None)
        elif spec.time.format:
            try:
                local = pd.DatetimeIndex(pd.to_datetime(stamps.astype(str), format=spec.time.format))
            except ValueError as error:
                raise ValueError(
                    f"{path}: column {column}: stamps do not match {spec.time.format!r} ({error})"
                ) from None
            utc = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC").tz_localize(None)
        else:  # ISO 8601, with or without offsets: the observation files' parser
            utc = utc_times(stamps.astype(str), zone, path, f"{spec.key}.time.timezone")
    except ZoneInfoNotFoundError:
        raise ValueError(f"{spec.key}.time.timezone: unknown time zone {zone!r}") from None
    if utc.isna().any():
        raise ValueError(
            f"{path}: {int(utc.isna().sum())} stamps in {column} (first {np.asarray(stamps)[utc.isna()][0]}) do not "
            f"exist or repeat in the daylight-saving changes of {zone}; tower files use local standard time: declare "
            f"{spec.key}.time.utc_offset instead"
        )
    return check_times(utc.as_unit("ns"), spec, column)


def check_times(times: pd.DatetimeIndex, spec: TowerFile, column: str) -> pd.DatetimeIndex:
    """The record times, which must increase strictly (records counted from 1 in file order)."""
    step = np.diff(times.values)
    repeated = np.flatnonzero(step == np.timedelta64(0))
    if repeated.size:
        i = repeated[0]
        raise ValueError(
            f"{spec.path}: column {column}: duplicated time {times[i]} (UTC) at records {i + 1} and {i + 2}"
        )
    backwards = np.flatnonzero(step < np.timedelta64(0))
    if backwards.size:
        i = backwards[0]
        raise ValueError(
            f"{spec.path}: column {column}: times are not in increasing order: record {i + 2} ({times[i + 1]} UTC) "
            f"follows record {i + 1} ({times[i]} UTC)"
        )
    return times


def record_spacing(times: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The series' step: the median time between records (None for a single record)."""
    return pd.Timedelta(np.median(np.diff(times.values))) if len(times) > 1 else None


def interval_middles(times: pd.DatetimeIndex, spec: TowerFile) -> pd.DatetimeIndex:
    """Times moved to the middle of their averaging interval (``interval_minutes``, or the records' spacing)."""
    shift = {"start": 0.5, "middle": 0.0, "end": -0.5}[spec.time.stamp]
    if not shift:
        return times
    if spec.time.interval_minutes is not None:
        interval = pd.Timedelta(minutes=spec.time.interval_minutes)
    elif len(times) > 1:
        interval = record_spacing(times)
    else:
        raise ValueError(
            f"{spec.path}: one record: give {spec.key}.time.interval_minutes for stamps at the {spec.time.stamp}"
        )
    return times + shift * interval
