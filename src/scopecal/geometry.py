"""Sun and view angles at the satellite overpass of each acquisition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from arc_scope.pipeline.steps import build_observation_dataset


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
