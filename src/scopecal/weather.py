"""Meteorological forcing at the field: a local CSV/NetCDF file or ERA5, in SCOPE's names and units.

A tower's own file (units, time zones, gaps, FLUXNET and PLUMBER2 presets) is read by :mod:`scopecal.tower_weather`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arc_scope.weather.local import LocalProvider
from numpy.typing import ArrayLike

# SCOPE name -> (units, what it is, physically plausible range)
WEATHER_VARIABLES = {
    "Rin": ("W m-2", "incoming shortwave radiation", (0.0, 1400.0)),
    "Rli": ("W m-2", "incoming longwave radiation", (100.0, 600.0)),
    "Ta": ("degC", "air temperature", (-60.0, 60.0)),
    "ea": ("hPa", "vapour pressure", (0.0, 100.0)),
    "p": ("hPa", "air pressure", (500.0, 1100.0)),
    "u": ("m s-1", "wind speed", (0.0, 60.0)),
}


def load_local_weather(
    path: str | Path,
    columns: Mapping[str, str],
    *,
    start: datetime,
    end: datetime,
    time_column: str = "time",
) -> xr.Dataset:
    """Load a station file with arcope's local provider; ``columns`` maps SCOPE names to file columns.

    The file must be complete, in SCOPE's units, with UTC stamps. The workflow reads through
    :func:`scopecal.tower_weather.load_tower_weather`, which gives the same forcing for such a file and also takes
    declared units, time zones, interval stamps, gaps, quality flags and the FLUXNET and PLUMBER2 formats."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weather file {path} does not exist (config key weather.local.path)")
    unknown = sorted(set(columns) - set(WEATHER_VARIABLES))
    if unknown:
        raise ValueError(f"weather.local.columns: unknown SCOPE names {unknown}; use {list(WEATHER_VARIABLES)}")
    provider = LocalProvider(path, {column: name for name, column in columns.items()}, time_column=time_column)
    dataset = provider.fetch(bounds=(0.0, 0.0, 0.0, 0.0), time_range=(start, end))
    return check_weather(dataset, path)


def fetch_era5_weather(
    bounds: tuple[float, float, float, float], *, start: datetime, end: datetime, cache_dir: str | Path
) -> xr.Dataset:
    """ERA5 single levels through arcope's provider (needs cdsapi and Copernicus CDS credentials)."""
    has_credentials = Path("~/.cdsapirc").expanduser().is_file() or "CDSAPI_KEY" in os.environ
    if not has_credentials:
        raise RuntimeError(
            "weather.source is 'era5' but no Copernicus CDS credentials were found: create ~/.cdsapirc "
            "(url and key, see the CDS API how-to) or set CDSAPI_URL and CDSAPI_KEY, or use weather.source: local"
        )
    from arc_scope.weather.era5 import ERA5Provider

    dataset = ERA5Provider(cache_dir=cache_dir).fetch(bounds, (start, end))
    return check_weather(dataset, "ERA5")


def check_weather(dataset: xr.Dataset, origin: str | Path, *, allow_gaps: bool = False) -> xr.Dataset:
    """Keep SCOPE's six forcing variables with units; name what is missing, non-finite or implausible.

    ``allow_gaps``: NaN marks a weather gap (a tower file's long gaps) and only finite values are checked."""
    missing = [name for name in WEATHER_VARIABLES if name not in dataset]
    if missing:
        raise ValueError(
            f"{origin}: weather lacks {missing}; map them with weather.local.columns (SCOPE name: file column)"
        )
    if "time" not in dataset.dims or dataset.sizes["time"] == 0:
        raise ValueError(f"{origin}: no weather records inside the season")
    dataset = dataset[list(WEATHER_VARIABLES)].sortby("time")
    for name, (units, long_name, (low, high)) in WEATHER_VARIABLES.items():
        values = dataset[name].values.astype(float)
        bad = (values < low) | (values > high)
        if not allow_gaps:
            bad |= ~np.isfinite(values)
        if bad.any():
            first = dataset["time"].values[np.argmax(bad.reshape(values.shape[0], -1).any(1))]
            raise ValueError(
                f"{origin}: {name} ({long_name}) has {int(bad.sum())} missing or implausible values "
                f"(outside {low}..{high} {units}), first at {str(first)[:19]}"
            )
        dataset[name] = dataset[name].astype(float)
        dataset[name].attrs.update(units=units, long_name=long_name)
    return dataset


def usable_weather_times(forcing: xr.Dataset, times: ArrayLike, *, where: str = "weather forcing") -> np.ndarray:
    """True for each requested UTC time the forcing covers: inside its records, and at a complete record or
    between two (linear interpolation between records, as the inputs stage does, never across a long gap).

    Raises when it covers none of them (a weather gap longer than the limit at every requested time, or a
    record that does not reach them), naming ``where`` (e.g. the forcing file)."""
    wanted = pd.DatetimeIndex(times).as_unit("ns").values
    records = pd.DatetimeIndex(forcing["time"].values).as_unit("ns").values
    complete = np.logical_and.reduce([np.isfinite(forcing[name].values) for name in WEATHER_VARIABLES])
    usable = np.zeros(wanted.size, bool)
    if wanted.size == 0 or records.size == 0:
        return usable
    right = np.clip(np.searchsorted(records, wanted, side="left"), 0, records.size - 1)
    exact = records[right] == wanted
    inside = (wanted >= records[0]) & (wanted <= records[-1])
    usable[exact] = complete[right[exact]]
    between = inside & ~exact
    usable[between] = complete[right[between]] & complete[right[between] - 1]
    if not usable.any():
        gaps = int((inside & ~usable).sum())
        raise ValueError(
            f"{where}: weather covers none of the {wanted.size} requested times ({str(wanted.min())[:16]} to "
            f"{str(wanted.max())[:16]} UTC): the records run from {str(records[0])[:16]} to {str(records[-1])[:16]}, "
            f"and {gaps} of the times inside them fall in gaps longer than weather.local.max_gap_hours"
        )
    return usable


def synthetic_weather(
    field: str | Path,
    times: pd.DatetimeIndex,
    rng: np.random.Generator,
    *,
    mean_air_temp_c: float = 17.0,
    mean_cloudiness: float = 0.75,
    longitude_deg: float = 4.7,
) -> pd.DataFrame:
    """SYNTHETIC forcing at a field, in the columns of config/config.yaml's ``weather.local.columns``: shortwave from
    a clear-sky model times a day-to-day cloud factor (mean ``mean_cloudiness``, 1 = clear), a seasonal and diurnal
    air temperature around ``mean_air_temp_c`` (warmest at 14:30 local solar time, ``longitude_deg`` east), vapour
    pressure at 65 % of saturation at the daily mean, longwave from a sky emissivity that grows with cloud,
    pressure and wind; all from ``rng``. For example files, never for a real site."""
    from scipy.constants import Stefan_Boltzmann

    from .geometry import sun_elevation
    from .tower_weather import saturation_vapour_pressure

    elevation = sun_elevation(times.values, field)
    day = (times.normalize() - times[0].normalize()).days.values
    n_days = day.max() + 1
    cloudiness = np.clip(rng.normal(mean_cloudiness, 0.18, n_days), 0.25, 1.0)[day]
    rin = np.clip(1361.0 * 0.78 * np.sin(np.radians(elevation)) * cloudiness, 0.0, None)
    season = mean_air_temp_c + 4.0 * np.sin(2 * np.pi * (day - 30) / 300)
    daily_offset = rng.normal(0.0, 2.0, n_days)[day]
    solar_hour = (times.hour + times.minute / 60 + longitude_deg / 15.0) % 24
    ta = season + daily_offset + 5.0 * np.cos(2 * np.pi * (solar_hour - 14.5) / 24) * (0.6 + 0.5 * cloudiness)
    ea = 0.65 * saturation_vapour_pressure(season + daily_offset - 3.0)
    emissivity = 0.70 + 0.25 * (1 - cloudiness)
    rli = emissivity * Stefan_Boltzmann * (ta + 273.15) ** 4
    wind = np.clip(
        2.2 + rng.normal(0.0, 0.8, n_days)[day] + 1.0 * np.sin(np.radians(np.clip(elevation, 0, None))), 0.5, None
    )
    pressure = 1013.0 + rng.normal(0.0, 5.0, n_days)[day]
    return pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%dT%H:%M:%S"),
            "sw_down_wm2": rin.round(2),
            "lw_down_wm2": rli.round(2),
            "air_temp_c": ta.round(3),
            "vapour_pressure_hpa": ea.round(3),
            "pressure_hpa": pressure.round(2),
            "wind_speed_ms": wind.round(3),
        }
    )
