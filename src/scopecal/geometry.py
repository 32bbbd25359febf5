"""Sun and view angles at the satellite overpass of each acquisition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arc_scope.pipeline.steps import build_observation_dataset
from arc_scope.utils.geometry import solar_position
from arc_scope.utils.io import load_geojson_centroid


def observation_geometry(
    doys: np.ndarray,
    year: int,
    geojson: str | Path,
    *,
    overpass_local_solar_hour: float,
    viewing_zenith: float,
    viewing_azimuth: float,
) -> xr.Dataset:
    """Angles at the field centre for each acquisition day, at the overpass's local solar time.

    ``time`` is the overpass in UTC, the instant the inputs stage aligns the
    retrieval, the weather and the geometry to.
    """
    dataset = build_observation_dataset(
        np.asarray(doys),
        year,
        geojson,
        viewing_zenith=viewing_zenith,
        viewing_azimuth=viewing_azimuth,
        overpass_hour=overpass_local_solar_hour,
    )
    for name in ("solar_zenith_angle", "solar_azimuth_angle", "viewing_zenith_angle", "viewing_azimuth_angle"):
        dataset[name].attrs.update(units="degree", long_name=name.replace("_", " "))
    dataset["solar_azimuth_angle"].attrs["comment"] = "clockwise from north"
    return dataset


def geometry_at_times(
    times: np.ndarray, geojson: str | Path, *, viewing_zenith: float, viewing_azimuth: float
) -> xr.Dataset:
    """Angles at the field centre at given UTC times (observations from a file), in the layout of
    :func:`observation_geometry` and with the same solar position code, so that at the overpass times both
    give the same angles."""
    lon, lat = load_geojson_centroid(geojson)
    instants = pd.DatetimeIndex(times)
    zenith, azimuth = np.array([solar_position(lat, lon, t.to_pydatetime()) for t in instants], dtype=float).T
    values = instants.values.astype("datetime64[ns]")
    dataset = xr.Dataset(
        {
            "solar_zenith_angle": ("time", zenith),
            "viewing_zenith_angle": ("time", np.full(len(values), float(viewing_zenith))),
            "solar_azimuth_angle": ("time", azimuth),
            "viewing_azimuth_angle": ("time", np.full(len(values), float(viewing_azimuth))),
            "delta_time": ("time", values),
        },
        coords={"time": values},
        attrs={"time_coordinate_reference": "UTC"},
    )
    for name in ("solar_zenith_angle", "solar_azimuth_angle", "viewing_zenith_angle", "viewing_azimuth_angle"):
        dataset[name].attrs.update(units="degree", long_name=name.replace("_", " "))
    dataset["solar_azimuth_angle"].attrs["comment"] = "clockwise from north"
    return dataset


def sun_elevation(times: np.ndarray, geojson: str | Path) -> np.ndarray:
    """Solar elevation (degrees) at the field centre at UTC ``times``."""
    lon, lat = load_geojson_centroid(geojson)
    return np.array([90.0 - float(solar_position(lat, lon, t.to_pydatetime())[0]) for t in pd.DatetimeIndex(times)])
