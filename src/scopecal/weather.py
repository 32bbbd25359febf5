"""Meteorological forcing at the field: a local CSV/NetCDF file or ERA5, in SCOPE's names and units."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import xarray as xr
from arc_scope.weather.local import LocalProvider

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
    """Load a station file with arcope's local provider; ``columns`` maps SCOPE names to file columns."""
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


def check_weather(dataset: xr.Dataset, origin: str | Path) -> xr.Dataset:
    """Keep SCOPE's six forcing variables with units; name what is missing, non-finite or implausible."""
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
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            first = dataset["time"].values[np.argmax(bad.reshape(values.shape[0], -1).any(1))]
            raise ValueError(
                f"{origin}: {name} ({long_name}) has {int(bad.sum())} missing or implausible values "
                f"(outside {low}..{high} {units}), first at {str(first)[:19]}"
            )
        dataset[name] = dataset[name].astype(float)
        dataset[name].attrs.update(units=units, long_name=long_name)
    return dataset
