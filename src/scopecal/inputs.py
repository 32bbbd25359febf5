"""SCOPE input datasets per workflow, at the overpasses or at the times of observations from a file.

scope-rtm's ``prepare_scope_input_dataset`` interpolates the retrieval in
time onto the SCOPE times. ARC stamps acquisitions at 00:00 while the
overpass is mid-morning, so a plain call blends each date with the next and
leaves the last one NaN (arcope then fills it with the field median). Here
the retrieval is first evaluated at every SCOPE time by day (``crop_state_at``):
exact on an acquisition day, linear by date between acquisitions; scope-rtm's
interpolation then changes nothing.

A crop table measured in the field may carry carotenoids ``Cca`` and canopy
height ``h`` (variables of the biophysics, see :mod:`scopecal.crop_table`).
They are evaluated at the SCOPE times the same way and replace scope-rtm's
Cab / 4 and ``scope.canopy_height_m``; without them nothing changes.
"""

from __future__ import annotations

import logging
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
# The canopy's aerodynamics follow its height h: zero-plane displacement d and momentum roughness length z0m.
DISPLACEMENT_PER_HEIGHT = 0.67
ROUGHNESS_PER_HEIGHT = 0.123
LOG = logging.getLogger("scopecal")


def crop_state_at(post_bio: xr.DataArray, times: np.ndarray) -> xr.DataArray:
    """The retrieval at each of ``times``: linear in the day between acquisition days, constant within a day.

    On an acquisition day every time carries exactly that acquisition's values (the overpass, or a
    half-hour of a tower series); between two acquisitions the values are interpolated linearly by date.
    A time before the first or after the last acquisition day is an error. A crop table measured in the field
    (:mod:`scopecal.crop_table`) comes with a date ``margin_days`` before its first and after its last measurement
    that holds their values, so the same interpolation holds them over the margin; its error names the table.
    """
    days = pd.DatetimeIndex(post_bio["time"].values).normalize().as_unit("ns")
    wanted = pd.DatetimeIndex(times).as_unit("ns")
    outside = (wanted.normalize() < days.min()) | (wanted.normalize() > days.max())
    if outside.any() and post_bio.attrs.get("crop_table_file"):
        raise ValueError(
            f"{post_bio.attrs['crop_table_file']}: the crop table, measured {post_bio.attrs['measured_from']} to "
            f"{post_bio.attrs['measured_to']} and held {post_bio.attrs['margin_days']} days beyond "
            f"(retrieval.table.margin_days), does not cover {int(outside.sum())} SCOPE times, first "
            f"{wanted[outside][0]} UTC"
        )
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} SCOPE times lie outside the retrieval's acquisitions "
            f"({days.min().date()} to {days.max().date()}), first {wanted[outside][0]}"
        )
    by_day = post_bio.assign_coords(time=days)
    on_acquisition_day = xr.DataArray(wanted.normalize().isin(days), dims="time")
    # interpolation is not exact at the last node (v0 + 1 * (v1 - v0)): take acquisition days as they are
    state = by_day.reindex(time=wanted.normalize()).where(
        on_acquisition_day, by_day.interp(time=wanted.normalize(), method="linear")
    )
    return state.assign_coords(time=wanted.values)


def crop_table_input_at(variable: xr.DataArray, times: np.ndarray, like: xr.DataArray) -> xr.DataArray:
    """A crop table's input beyond ARC's bands (``Cca``, ``h`` of the biophysics) at the SCOPE ``times``, as
    :func:`crop_state_at` evaluates the crop state, on the dimensions and coordinates of ``like``."""
    state = crop_state_at(variable, times).transpose(*like.dims)
    # join="exact": a SCOPE time or pixel that does not line up with scope-rtm's grid is an error, never a NaN
    state, _ = xr.align(state, like, join="exact")
    return xr.DataArray(
        state.values, dims=like.dims, coords=like.coords, attrs={"crop_table_file": variable.attrs["crop_table_file"]}
    )


def in_field_range(variable: xr.DataArray, field_mask: xr.DataArray) -> str:
    """``low to high`` of a variable over the field's pixels, for a log line."""
    inside = variable.where(field_mask.astype(bool))
    return f"{float(inside.min()):g} to {float(inside.max()):g}"


def canopy_height_from_table(
    variable: xr.DataArray,
    times: np.ndarray,
    *,
    like: xr.DataArray,
    field_mask: xr.DataArray,
    canopy_height_m: float,
    measurement_height_m: float,
) -> xr.DataArray:
    """The crop table's canopy height ``h`` at the SCOPE times (see :func:`crop_table_input_at`), logged in one line
    as the height that replaces ``scope.canopy_height_m``; a canopy that reaches the flux measurement height is an
    error (the energy balance's aerodynamics take the fluxes above the canopy)."""
    height = crop_table_input_at(variable, times, like=like)
    where = variable.attrs["crop_table_file"]
    tallest = float(height.where(field_mask).max())
    if tallest >= measurement_height_m:
        raise ValueError(
            f"{where}: the crop table's canopy height reaches {tallest:g} m, not below scope.measurement_height_m "
            f"({measurement_height_m:g} m)"
        )
    LOG.info(
        "%s: canopy height h from the crop table (%s m at the SCOPE times; d = %g h, z0m = %g h); "
        "scope.canopy_height_m (%g m) is not used",
        where,
        in_field_range(height, field_mask),
        DISPLACEMENT_PER_HEIGHT,
        ROUGHNESS_PER_HEIGHT,
        canopy_height_m,
    )
    return height


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
    """Runner-ready inputs on (y, x, time) at the geometry's times (the overpasses, or the observation times of
    a file set), with ``field_mask``.

    Variables that do not vary over the field (weather, angles, spectra) keep
    only their own dimensions; the forward stage broadcasts them.
    """
    if workflow not in WORKFLOWS:
        raise ValueError(f"unknown workflow '{workflow}'; use one of {list(WORKFLOWS)}")
    times = geometry["time"].values
    outside = (times < weather["time"].values.min()) | (times > weather["time"].values.max())
    if outside.any():
        raise ValueError(
            f"weather from {str(weather['time'].values.min())[:16]} to {str(weather['time'].values.max())[:16]} "
            f"does not cover {int(outside.sum())} of the SCOPE times, first {str(times[outside][0])[:16]} UTC"
        )
    post_bio = crop_state_at(biophysics["post_bio"], times)
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
    field_mask = biophysics["field_mask"].astype(bool)
    if "Cca" in biophysics:  # carotenoids measured in the field replace scope-rtm's Cab / 4
        dataset["Cca"] = crop_table_input_at(biophysics["Cca"], times, like=dataset["Cab"])
        LOG.info(
            "%s: Cca from the crop table (%s ug cm-2 at the SCOPE times), not Cab / 4",
            biophysics["Cca"].attrs["crop_table_file"],
            in_field_range(dataset["Cca"], field_mask),
        )

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
        if "h" in biophysics:  # canopy height measured in the field replaces scope.canopy_height_m
            dataset["h"] = canopy_height_from_table(
                biophysics["h"],
                times,
                like=dataset["LAI"],
                field_mask=field_mask,
                canopy_height_m=canopy_height_m,
                measurement_height_m=measurement_height_m,
            )
        else:
            dataset["h"] = xr.full_like(dataset["LAI"], canopy_height_m)
        dataset["d"] = DISPLACEMENT_PER_HEIGHT * dataset["h"]
        dataset["z0m"] = ROUGHNESS_PER_HEIGHT * dataset["h"]
        dataset["z"] = xr.full_like(dataset["LAI"], measurement_height_m)
        thermal_grid = default_thermal_wavelengths(device="cpu", dtype=torch.float64).numpy()
        dataset["Esky_lw"] = longwave_sky_spectrum(dataset["Rli"], thermal_grid)
        dataset["Esun_lw"] = xr.zeros_like(dataset["Esky_lw"])

    dataset["field_mask"] = field_mask
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
