"""SCOPE input datasets per workflow, time-aligned to the acquisitions.

scope-rtm's ``prepare_scope_input_dataset`` interpolates the retrieval in
time onto the observation times. ARC stamps acquisitions at 00:00 while the
overpass is mid-morning, so a plain call blends each date with the next and
leaves the last one NaN (arcope then fills it with the field median). Here
every retrieval date is first moved to the overpass time of the same day:
the interpolation then hits each acquisition exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from arc_scope.weather.radiation import build_scope_spectral_forcing
from scipy.constants import Stefan_Boltzmann
from scope import validate_scope_dataset
from scope.canopy.thermal import default_thermal_wavelengths
from scope.io import ScopeInputFiles, prepare_scope_input_dataset
from scope.variables import annotate_dataset

WORKFLOWS = ("reflectance", "fluorescence", "thermal", "energy-balance")
# scope-rtm's validator names for our workflows
VALIDATOR_WORKFLOW = {
    "reflectance": "reflectance",
    "fluorescence": "layered-fluorescence",
    "thermal": "thermal",
    "energy-balance": "energy-balance",
}
THERMAL_TEMPERATURES = ("Tcu", "Tch", "Tsu", "Tsh")
ENERGY_BALANCE_CONSTANTS = ("Cd", "rwc", "rss", "rbs", "Ca", "Oa", "Vcmax25", "BallBerrySlope")


def align_retrieval_times(post_bio: xr.DataArray, overpass_times: np.ndarray) -> xr.DataArray:
    """Give each retrieval date the overpass time of the same day; every date must have one."""
    bio_days = pd.DatetimeIndex(post_bio["time"].values).normalize()
    overpass = pd.DatetimeIndex(overpass_times)
    by_day = dict(zip(overpass.normalize(), overpass, strict=True))
    missing = [str(day.date()) for day in bio_days if day not in by_day]
    if missing:
        raise ValueError(f"retrieval dates without an overpass in the geometry: {missing}")
    return post_bio.assign_coords(time=[by_day[day] for day in bio_days])


def input_settings(scope: Mapping) -> dict:
    """The keyword arguments of :func:`prepare_inputs` from the config's ``scope`` section."""
    keys = ("fqe", "temperature_offsets", "energy_balance", "canopy_height_m", "measurement_height_m")
    return {key: scope[key] for key in keys}


def longwave_sky_spectrum(rli: xr.DataArray, wavelength_nm: np.ndarray) -> xr.DataArray:
    """Incoming longwave ``Rli`` spread as a black body at the sky's effective temperature.

    In W m-2 um-1 on scope-rtm's thermal grid, integrating to ``Rli``. Without
    it scope-rtm's energy balance receives no sky longwave at all.
    """
    wavelength_m = wavelength_nm * 1e-9
    sky_temperature = (rli / Stefan_Boltzmann) ** 0.25
    c2 = 1.4387769e-2  # second radiation constant, m K
    temperature = sky_temperature.values[..., None]
    planck = wavelength_m**-5 / np.expm1(c2 / (wavelength_m * temperature))
    planck /= np.trapezoid(planck, wavelength_nm / 1000.0, axis=-1)[..., None]
    return xr.DataArray(
        rli.values[..., None] * planck,
        dims=(*rli.dims, "thermal_wavelength"),
        coords={**rli.coords, "thermal_wavelength": wavelength_nm},
        attrs={"units": "W m-2 um-1", "long_name": "diffuse sky longwave irradiance spectrum from Rli"},
    )


def prepare_inputs(
    biophysics: xr.Dataset,
    weather: xr.Dataset,
    geometry: xr.Dataset,
    *,
    workflow: str,
    scope_root: str | Path,
    fqe: float,
    temperature_offsets: Mapping[str, float],
    energy_balance: Mapping[str, float],
    canopy_height_m: float,
    measurement_height_m: float,
) -> xr.Dataset:
    """Runner-ready inputs on (y, x, time) at the overpass times, with ``field_mask``.

    Variables that do not vary over the field (weather, angles, spectra) keep
    only their own dimensions; the forward stage broadcasts them.
    """
    if workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow '{workflow}'; use one of {list(WORKFLOWS)}")
    overpass = geometry["time"].values
    outside = (overpass < weather["time"].values.min()) | (overpass > weather["time"].values.max())
    if outside.any():
        raise ValueError(
            f"weather from {str(weather['time'].values.min())[:16]} to {str(weather['time'].values.max())[:16]} "
            f"does not cover the overpasses {[str(t)[:16] for t in overpass[outside]]}"
        )
    post_bio = align_retrieval_times(biophysics["post_bio"], overpass)
    dataset = prepare_scope_input_dataset(
        weather_ds=weather,
        observation_ds=geometry,
        post_bio_da=post_bio,
        post_bio_scale_da=biophysics["post_bio_scale"].rename(scale_band="band"),
        scope_root_path=scope_root,
        # scope-rtm insists on resolving an atmosphere file (FLEX-S3_std.atm) that no workflow here reads;
        # the folder holding the spectra that are read stands in for it.
        scope_files=ScopeInputFiles(atmos_file=Path(scope_root, "input", "radiationdata").resolve()),
    )
    dataset = dataset.drop_vars("spatial_ref", errors="ignore")
    dataset.attrs = {key: value for key, value in dataset.attrs.items() if key != "atmos_file"}

    if workflow in ("fluorescence", "energy-balance"):
        dataset["fqe"] = xr.full_like(dataset["LAI"], fqe)
        forcing = build_scope_spectral_forcing(
            rin=dataset["Rin"], sza=dataset["tts"], time_coord=dataset["time"], scope_root_path=scope_root
        )
        dataset.update(forcing)
    if workflow == "thermal":
        for name in THERMAL_TEMPERATURES:
            dataset[name] = dataset["Ta"] + temperature_offsets[name]
    if workflow == "energy-balance":
        for name in ENERGY_BALANCE_CONSTANTS:
            dataset[name] = xr.full_like(dataset["LAI"], energy_balance[name])
        dataset["h"] = xr.full_like(dataset["LAI"], canopy_height_m)
        dataset["d"] = 0.67 * dataset["h"]
        dataset["z0m"] = 0.123 * dataset["h"]
        dataset["z"] = xr.full_like(dataset["LAI"], measurement_height_m)
        thermal_grid = default_thermal_wavelengths(device="cpu", dtype=torch.float64).numpy()
        dataset["Esky_lw"] = longwave_sky_spectrum(dataset["Rli"], thermal_grid)
        dataset["Esun_lw"] = xr.zeros_like(dataset["Esky_lw"])

    dataset["field_mask"] = biophysics["field_mask"].astype(bool)
    validate_scope_dataset(dataset, workflow=VALIDATOR_WORKFLOW[workflow])
    check_finite_in_field(dataset)
    dataset = annotate_dataset(dataset)
    dataset.attrs.update(scope_workflow=workflow)
    return dataset


def check_finite_in_field(dataset: xr.Dataset) -> None:
    """Raise naming each variable that is NaN or infinite inside the field."""
    inside = dataset["field_mask"]
    problems = []
    for name, variable in dataset.data_vars.items():
        if name == "field_mask" or not np.issubdtype(variable.dtype, np.floating):
            continue
        bad = ~np.isfinite(variable)
        if {"y", "x"} <= set(variable.dims):
            bad = bad & inside
        if bool(bad.any()):
            problems.append(f"{name} ({int(bad.sum())} values)")
    if problems:
        raise ValueError(f"non-finite SCOPE inputs inside the field: {', '.join(problems)}")
