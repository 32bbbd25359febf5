"""Observation sets from the user's files: read, convert units, match to the field's pixels and to times.

A file set becomes the same dataset as a twin set once read: on the field grid (y, x) at the observation
times, ``observed`` (the cells that are fitted), one variable per target in SCOPE's units and its
``sigma_<target>``, plus ``holdout`` (valid cells held back from the fit for validation). Nothing after this
module asks where observations came from.

Units are converted with pint, using cf-xarray's registry so that UDUNITS strings such as
``mW m-2 nm-1 sr-1`` parse. A surface temperature observed for the target ``Eoutt`` is turned into the
broadband emitted exitance by Stefan-Boltzmann with emissivity 1 (the definition of the forward stage's LST).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import xarray as xr
from arc_scope.utils.io import load_geojson_centroid
from cf_xarray.units import units as UNITS
from pyproj import CRS, Transformer
from scipy.constants import Stefan_Boltzmann
from scope.variables import get_variable_definition

from .forward import run_forward, solved
from .geometry import geometry_at_times, sun_elevation
from .inputs import prepare_inputs
from .problems import Problem, Target
from .tower_files import (
    PRESET_MISSING_VALUE,
    PRESET_TIME,
    TimeSettings,
    file_contents,
    interval_middles,
    read_series,
    record_times,
    stamp_zone,
    utc_times,
)
from .tower_fluxes import (
    available_energy_columns,
    bowen_ratio_factor,
    closure_fraction,
    closure_settings,
    flux_terms,
    preset_variables,
)
from .tower_weather import UNIT_ERRORS
from .twin import with_parameters
from .weather import usable_weather_times

# scope-rtm 0.4.13's registry gives these wavelength-integrated radiances a spectral unit
INTEGRATED_RADIANCE_UNITS = {"Loutt": "W m-2 sr-1", "LoutF": "W m-2 sr-1"}
LOG = logging.getLogger("scopecal")
MIN_SUN_ELEVATION = 15.0  # degrees; below it SCOPE's shortwave is unreliable and fluxes are small


def target_units(target: str) -> str:
    """SCOPE's units of an output, as the forward stage writes them."""
    return INTEGRATED_RADIANCE_UNITS.get(target) or get_variable_definition(target).units


@dataclass
class FileSet:
    """One file observation set of a problem, as the config gives it."""

    name: str
    path: Path
    variables: dict[str, dict]  # SCOPE target -> {name, units, sigma, quality}
    time: TimeSettings = field(default_factory=TimeSettings)
    format: str = "plain"  # or a tower preset: fluxnet, plumber2
    missing_value: float | None = None
    closure: dict = field(default_factory=closure_settings)  # latent and sensible heat: what is fitted
    key: str = "observations"  # the set's config key, named in errors
    # a point series: {lat, lon} (the pixel holding it), {lat, lon, radius_m} or {polygon: [[lon, lat], ...]}
    # (the area-weighted mean of the in-field pixels), or "field" (the field mean); None for a gridded file
    location: dict | str | None = None
    min_sun_elevation: float = MIN_SUN_ELEVATION
    aggregate: dict | None = None
    holdout: dict | None = None
    default_sigma: dict[str, Target] = field(default_factory=dict)  # the problem's targets: sigma in SCOPE units

    @classmethod
    def from_problem(cls, problem: Problem, name: str) -> FileSet:
        spec = problem.observation_set(name).file
        if spec is None:
            raise ValueError(f"observation set {name} of {problem.name} is a twin set, not a file set")
        file_format = spec.get("format", "plain")
        time = {**(vars(PRESET_TIME[file_format]) if file_format in PRESET_TIME else {}), **spec.get("time", {})}
        return cls(
            default_sigma={target.name: target for target in problem.targets},
            name=name,
            path=Path(spec["file"]),
            variables={target: dict(entry) for target, entry in spec["variables"].items()},
            time=TimeSettings(**time),
            format=file_format,
            missing_value=spec.get("missing_value", PRESET_MISSING_VALUE.get(file_format)),
            closure=closure_settings(spec.get("closure")),
            key=f"problems.{problem.name}.observations.{name}",
            location=spec.get("location"),
            min_sun_elevation=float(spec.get("min_sun_elevation", MIN_SUN_ELEVATION)),
            aggregate=spec.get("aggregate"),
            holdout=spec.get("holdout"),
        )


# --- reading ------------------------------------------------------------------------------------------------


def read_file(file_set: FileSet) -> xr.Dataset:
    """The file as a dataset with a UTC ``time`` dimension (a CSV becomes a point series); a tower file's stamps
    (a preset, or a declared UTC offset, stamp format or interval convention) at the middle of their interval."""
    path = file_set.path
    if not path.is_file():
        raise FileNotFoundError(f"observation file {path} does not exist (set {file_set.name})")
    time = file_set.time
    if file_set.format != "plain" or time.utc_offset is not None or time.format or time.stamp != "middle":
        names, table = file_contents(file_set)
        times = interval_middles(record_times(file_set, table, stamp_zone(file_set, table)), file_set)
        frame = read_series(file_set, table, names).columns
        dataset = xr.Dataset.from_dataframe(frame.reset_index(drop=True)).rename(index="time")
        dataset = dataset.assign_coords(time=times.as_unit("ns").values)
    elif path.suffix.lower() == ".csv":
        table = pd.read_csv(path, comment="#")
        if time.column not in table:
            raise ValueError(f"{path}: no time column {time.column!r}; the file has {list(table.columns)}")
        times = utc_times(
            table[time.column].astype(str), time.timezone, path, f"time.timezone in observation set {file_set.name}"
        )
        dataset = xr.Dataset.from_dataframe(table.drop(columns=time.column)).rename(index="time")
        dataset = dataset.assign_coords(time=times.as_unit("ns").values)
    else:
        with xr.open_dataset(path) as opened:
            dataset = opened.load()
        if "time" not in dataset.dims:
            raise ValueError(f"{path}: no time dimension; the file has dimensions {dict(dataset.sizes)}")
        naive = pd.DatetimeIndex(dataset["time"].values)
        if time.timezone:
            naive = naive.tz_localize(time.timezone).tz_convert("UTC").tz_localize(None)
        dataset = dataset.assign_coords(time=naive.as_unit("ns").values)
    if file_set.missing_value is not None:
        dataset = dataset.map(
            lambda variable: (
                variable.where(variable != file_set.missing_value)
                if np.issubdtype(variable.dtype, np.number)
                else variable
            )
        )
    if not dataset.indexes["time"].is_unique:
        first = dataset.indexes["time"][dataset.indexes["time"].duplicated()][0]
        raise ValueError(f"{path}: duplicated time {first}")
    return dataset.sortby("time")


def convert(values: xr.DataArray, units: str, target: str, where: str) -> xr.DataArray:
    """``values`` in ``units`` -> the target's SCOPE units; a temperature for Eoutt via Stefan-Boltzmann."""
    wanted = target_units(target)
    try:
        quantity = UNITS.Quantity(values.values.astype(float), units)
        if target == "Eoutt" and quantity.check("[temperature]"):
            kelvin = quantity.to("K").magnitude
            return values.copy(data=Stefan_Boltzmann * kelvin**4)
        return values.copy(data=quantity.to(wanted).magnitude)
    except UNIT_ERRORS as error:
        raise ValueError(f"{where}: units {units!r} do not convert to {target}'s {wanted!r} ({error})") from None


def convert_sigma(sigma: xr.DataArray, units: str, values_in_units: xr.DataArray, target: str) -> xr.DataArray:
    """An error given in the variable's units, in the target's units. An error is a difference, so a
    temperature in degC or degF converts without the offset; a temperature error for Eoutt is propagated by
    Stefan-Boltzmann's derivative at the observed temperature."""

    def difference(unit: str) -> str:
        return f"delta_{unit}" if unit in ("degC", "degF") else unit

    delta = UNITS.Quantity(sigma.values.astype(float), difference(units))
    if target == "Eoutt" and delta.check("[temperature]"):
        kelvin = UNITS.Quantity(values_in_units.values.astype(float), units).to("K").magnitude
        return sigma.copy(data=4 * Stefan_Boltzmann * kelvin**3 * delta.to("K").magnitude)
    return sigma.copy(data=delta.to(difference(target_units(target))).magnitude)


def target_values(dataset: xr.Dataset, file_set: FileSet) -> xr.Dataset:
    """Each target's values and sigma in SCOPE units; QC failures and non-finite values become NaN."""
    where = f"{file_set.path}"
    out = xr.Dataset(coords={name: dataset[name] for name in dataset.coords})
    for target, entry in file_set.variables.items():
        name = entry["name"]
        if name not in dataset:
            raise ValueError(
                f"{where}: no variable {name!r} (mapped to {target}); the file has {sorted(dataset.data_vars)}"
            )
        raw = dataset[name].astype(float)
        quality = entry.get("quality")
        if quality:
            if quality["name"] not in dataset:
                raise ValueError(
                    f"{where}: no quality variable {quality['name']!r}; the file has {sorted(dataset.data_vars)}"
                )
            raw = raw.where(dataset[quality["name"]].isin(quality["accept"]))
        values = convert(raw, entry["units"], target, f"{where}: {name}")
        sigma_spec = entry.get("sigma")
        if sigma_spec is None:  # the problem's target sigma, relative to the value or absolute in SCOPE units
            sigma = values.copy(data=file_set.default_sigma[target].sigma(values.values))
        elif "name" in sigma_spec:
            if sigma_spec["name"] not in dataset:
                raise ValueError(
                    f"{where}: no sigma variable {sigma_spec['name']!r} for {name}; the file has "
                    f"{sorted(dataset.data_vars)}"
                )
            raw_sigma = dataset[sigma_spec["name"]].astype(float).where(raw.notnull())
            if bool((raw_sigma <= 0).any()):
                raise ValueError(f"{where}: sigma variable {sigma_spec['name']!r} holds values <= 0")
            sigma = convert_sigma(raw_sigma, entry["units"], raw, target)
        elif "relative" in sigma_spec:
            sigma = float(sigma_spec["relative"]) * np.abs(values)
        else:
            sigma = convert_sigma(
                raw.copy(data=np.full(raw.shape, float(sigma_spec["absolute"]))), entry["units"], raw, target
            )
        valid = np.isfinite(values) & np.isfinite(sigma) & (sigma > 0)
        out[target] = values.where(valid).assign_attrs(units=target_units(target), source_variable=name)
        out[f"sigma_{target}"] = sigma.where(valid).assign_attrs(
            units=target_units(target), long_name=f"observation error standard deviation of {target}"
        )
    return out


def energy_balance_closure(
    raw: xr.Dataset, targets: xr.Dataset, file_set: FileSet, *, fit_records: np.ndarray, log: logging.Logger = LOG
) -> tuple[xr.Dataset, dict]:
    """The targets with latent and sensible heat closed as ``file_set.closure`` says, and what was done: the
    method and, where the file has net radiation and ground heat, the closure fraction of the measured fluxes
    over the fit period (``fit_records`` in the season, not held out)."""
    method = file_set.closure["method"]
    info = {"closure_method": method}
    fluxes = {"lEtot", "Htot"} & set(file_set.variables)
    if not fluxes:
        if method != "measured":
            raise ValueError(f"{file_set.key}.closure: {method} applies to lEtot and Htot, which the set does not fit")
        return targets, info
    where = str(file_set.path)
    energy = available_energy_columns(file_set.closure, file_set.format, list(raw.data_vars))
    if fluxes != {"lEtot", "Htot"} or energy is None:
        if method == "bowen_ratio":
            raise ValueError(
                f"{where}: closure bowen_ratio needs lEtot and Htot and the file's net radiation and ground heat "
                "(closure.net_radiation and closure.ground_heat: {name, units}); the file has "
                f"{sorted(raw.data_vars)}"
            )
        return targets, info
    measured = preset_variables(
        {target: {} for target in fluxes} if file_set.format in ("fluxnet", "plumber2") else file_set.variables,
        file_set.format,
        list(raw.data_vars),
        {"method": "measured"},
        where,
    )
    terms = flux_terms(raw, measured, energy, file_set.path)
    held = holdout_days(raw["time"].values, file_set.holdout)
    fraction = closure_fraction(terms[np.asarray(fit_records) & ~held])
    info["closure_fraction"] = fraction
    log.info(
        "%s: energy-balance closure (LE + H) / (Rn - G) of the measured fluxes over the fit period: %.3f; fitted: %s",
        file_set.name,
        fraction,
        method,
    )
    if method == "bowen_ratio":
        window = float(file_set.closure["window_days"])
        factor = xr.DataArray(bowen_ratio_factor(terms, window), dims="time", coords={"time": targets["time"]})
        for target in fluxes:
            targets[target] = (targets[target] * factor).assign_attrs(targets[target].attrs)
            targets[f"sigma_{target}"] = (targets[f"sigma_{target}"] * factor).assign_attrs(
                targets[f"sigma_{target}"].attrs
            )
        info["closure_window_days"] = window
    return targets, info


# --- matching in space -------------------------------------------------------------------------------------


def pixel_of_point(lat: float, lon: float, grid: xr.Dataset, where: str) -> tuple[int, int]:
    """(iy, ix) of the in-field pixel whose square holds the point; an error naming the extents otherwise."""
    to_grid = Transformer.from_crs("EPSG:4326", CRS.from_wkt(grid.attrs["crs_wkt"]), always_xy=True)
    x, y = to_grid.transform(lon, lat)
    xs, ys = grid["x"].values, grid["y"].values
    half = abs(float(xs[1] - xs[0])) / 2 if xs.size > 1 else abs(float(ys[1] - ys[0])) / 2
    ix, iy = int(np.argmin(np.abs(xs - x))), int(np.argmin(np.abs(ys - y)))
    inside = abs(xs[ix] - x) <= half and abs(ys[iy] - y) <= half and bool(grid["field_mask"].values[iy, ix])
    if not inside:
        raise ValueError(
            f"{where}: the point lat={lat}, lon={lon} (x={x:.1f}, y={y:.1f}) is outside the field's pixels "
            f"(x {xs.min() - half:.1f}..{xs.max() + half:.1f}, y {ys.min() - half:.1f}..{ys.max() + half:.1f}, "
            "in-field pixels only)"
        )
    return iy, ix


def footprint_weights(location: Mapping[str, Any] | str, grid: xr.Dataset, where: str) -> np.ndarray:
    """(y, x) weights summing to 1 of a footprint: each in-field pixel's area inside a circle of ``radius_m``
    around (lat, lon) or inside a polygon of (lon, lat) vertices; every in-field pixel alike for "field"."""
    inside_field = grid["field_mask"].values.astype(bool)
    if location == "field":
        return inside_field / inside_field.sum()
    to_grid = Transformer.from_crs("EPSG:4326", CRS.from_wkt(grid.attrs["crs_wkt"]), always_xy=True)
    if "polygon" in location:
        lon, lat = np.asarray(location["polygon"], dtype=float).T
        footprint = shapely.Polygon(np.column_stack(to_grid.transform(lon, lat)))
        if not footprint.is_valid:
            raise ValueError(
                f"{where}: the footprint polygon is not a valid polygon ({shapely.is_valid_reason(footprint)})"
            )
    else:
        centre = shapely.Point(to_grid.transform(location["lon"], location["lat"]))
        footprint = centre.buffer(float(location["radius_m"]), quad_segs=64)
    xs, ys = grid["x"].values, grid["y"].values
    half = abs(float(xs[1] - xs[0])) / 2 if xs.size > 1 else abs(float(ys[1] - ys[0])) / 2
    xx, yy = np.meshgrid(xs, ys)
    pixels = shapely.box(xx - half, yy - half, xx + half, yy + half)
    area = np.where(inside_field, shapely.area(shapely.intersection(pixels, footprint)), 0.0)
    if area.sum() <= 0:
        x0, y0, x1, y1 = footprint.bounds
        raise ValueError(
            f"{where}: the footprint (x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f}) covers none of the field's "
            f"in-field pixels (x {xs.min() - half:.1f}..{xs.max() + half:.1f}, y {ys.min() - half:.1f}.."
            f"{ys.max() + half:.1f})"
        )
    return area / area.sum()


def on_field_grid(targets: xr.Dataset, file_set: FileSet, grid: xr.Dataset) -> xr.Dataset:
    """The targets on the field's (y, x, time) grid: a point series on the pixel holding it (or, for a
    footprint, on each of its pixels, with their ``footprint_weight``), a gridded file matched by coordinates
    (y/x in the field's CRS, or lat/lon) to each pixel centre; NaN where not observed."""
    where = str(file_set.path)
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    spatial = [d for d in targets.dims if d != "time"]
    shaped = {}
    weights = None
    if not spatial:
        location = file_set.location
        if not location:
            raise ValueError(
                f"{where}: a point series needs a location ({{lat, lon}}, {{lat, lon, radius_m}}, {{polygon}} or "
                f"field) in observation set {file_set.name}"
            )
        if location == "field" or "polygon" in location or "radius_m" in location:
            weights = footprint_weights(location, grid, where)
            covered = weights > 0
        else:
            covered = np.zeros((ny, nx), bool)
            covered[pixel_of_point(location["lat"], location["lon"], grid, where)] = True
        for name, series in targets.data_vars.items():
            full = np.full((ny, nx, targets.sizes["time"]), np.nan)
            full[covered] = series.values
            shaped[name] = full
    else:
        if set(spatial) == {"lat", "lon"}:
            to_geo = Transformer.from_crs(CRS.from_wkt(grid.attrs["crs_wkt"]), "EPSG:4326", always_xy=True)
            xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
            lon, lat = to_geo.transform(xx, yy)
            file_x, file_y, want_x, want_y = targets["lon"].values, targets["lat"].values, lon, lat
            dims = ("lat", "lon")
        elif set(spatial) == {"y", "x"}:
            xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
            file_x, file_y, want_x, want_y = targets["x"].values, targets["y"].values, xx, yy
            dims = ("y", "x")
        else:
            raise ValueError(f"{where}: spatial dimensions {spatial} are neither (y, x) nor (lat, lon)")
        ix, ok_x = nearest_cell(file_x, want_x)
        iy, ok_y = nearest_cell(file_y, want_y)
        overlap = ok_x & ok_y & grid["field_mask"].values.astype(bool)
        if not overlap.any():
            raise ValueError(
                f"{where}: the grid ({dims[1]} {file_x.min():.6g}..{file_x.max():.6g}, {dims[0]} "
                f"{file_y.min():.6g}..{file_y.max():.6g}) does not overlap the field's pixels ({dims[1]} "
                f"{want_x.min():.6g}..{want_x.max():.6g}, {dims[0]} {want_y.min():.6g}..{want_y.max():.6g})"
            )
        for name, variable in targets.data_vars.items():
            values = variable.transpose(*dims, "time").values
            full = values[iy, ix]
            full[~overlap] = np.nan
            shaped[name] = full
    coords = {"y": grid["y"].values, "x": grid["x"].values, "time": targets["time"].values}
    matched = xr.Dataset(
        {name: (("y", "x", "time"), values, targets[name].attrs) for name, values in shaped.items()}, coords=coords
    )
    if weights is not None:
        matched["footprint_weight"] = (("y", "x"), weights, {"long_name": "weight of the pixel in the footprint mean"})
    return matched


def nearest_cell(file_coord: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the file cell nearest to each wanted centre, and whether the centre lies within that cell."""
    index = np.abs(file_coord[None, :] - wanted.reshape(-1, 1)).argmin(1).reshape(wanted.shape)
    half = np.abs(np.diff(file_coord)).min() / 2 if file_coord.size > 1 else np.inf
    return index, np.abs(file_coord[index] - wanted) <= half * (1 + 1e-9)


# --- matching in time --------------------------------------------------------------------------------------


def daily_means(targets: xr.Dataset, longitude: float, hours: tuple[float, float]) -> xr.Dataset:
    """One value a day: the mean of the valid records between ``hours`` (local solar time), at the mean time
    of the records in that window; the sigma of a mean of n records is sqrt(sum sigma^2) / n."""
    times = pd.DatetimeIndex(targets["time"].values)
    solar_hour = (times.hour + times.minute / 60 + longitude / 15.0) % 24
    subset = targets.isel(time=np.flatnonzero((solar_hour >= hours[0]) & (solar_hour < hours[1])))
    day = xr.DataArray(
        pd.DatetimeIndex(subset["time"].values).normalize(), dims="time", coords={"time": subset["time"]}, name="day"
    )
    means = {}
    for name in [n for n in subset.data_vars if not n.startswith("sigma_")]:
        valid = subset[name].notnull() & subset[f"sigma_{name}"].notnull()
        count = valid.groupby(day).sum()
        means[name] = subset[name].where(valid).groupby(day).mean().assign_attrs(subset[name].attrs)
        squares = (subset[f"sigma_{name}"].where(valid) ** 2).groupby(day).sum()
        means[f"sigma_{name}"] = (np.sqrt(squares) / count.where(count > 0)).assign_attrs(subset[f"sigma_{name}"].attrs)
    mean_time = subset["time"].groupby(day).mean()
    return xr.Dataset(means).assign_coords(day=mean_time.values).rename(day="time")


def holdout_days(times: np.ndarray, spec: Mapping[str, Any] | None) -> np.ndarray:
    """True for times held back from the fit: a date range (inclusive) or every k-th day of the series."""
    if not spec:
        return np.zeros(len(times), bool)
    day = pd.DatetimeIndex(times).normalize()
    if "every" in spec:
        ordinal = (day - day.min()).days
        return (ordinal % int(spec["every"])) == int(spec["every"]) - 1
    start, end = pd.Timestamp(spec["start"]), pd.Timestamp(spec["end"])
    return np.asarray((day >= start) & (day <= end))


def check_nonempty(dataset: xr.Dataset, file_set: FileSet, after: str) -> None:
    for target in file_set.variables:
        if not bool(dataset[target].notnull().any()):
            raise ValueError(
                f"{file_set.path}: no valid {file_set.variables[target]['name']} ({target}) is left {after}"
            )


def file_observations(
    file_set: FileSet,
    grid: xr.Dataset,
    *,
    season: tuple[pd.Timestamp, pd.Timestamp],
    sun_elevation: Callable[[np.ndarray], np.ndarray],
    longitude: float,
    weather_covers: Callable[[np.ndarray], np.ndarray] | None = None,
    log: logging.Logger = LOG,
) -> xr.Dataset:
    """The file set on the field grid at its usable times, in the twin layout, with ``holdout``.

    ``grid``: the bridged biophysics (field_mask, x, y, crs_wkt); ``season``: (first, last) day SCOPE can run;
    ``sun_elevation``: degrees at UTC times; ``longitude``: for local solar time (daily aggregation);
    ``weather_covers``: True at the UTC times the weather covers (not in a long gap; None: all).
    A cell is fitted where every target has a valid value and it is not held out.
    """
    note = log.info
    raw = read_file(file_set)
    file_set = replace(
        file_set,
        variables=preset_variables(
            file_set.variables, file_set.format, list(raw.data_vars), file_set.closure, str(file_set.path)
        ),
    )
    targets = target_values(raw, file_set)
    check_nonempty(targets, file_set, "after quality flags and missing values")
    times = pd.DatetimeIndex(targets["time"].values)
    in_season = (times.normalize() >= season[0]) & (times.normalize() <= season[1])
    if not in_season.any():
        raise ValueError(
            f"{file_set.path}: every record ({times.min()} to {times.max()} UTC) lies outside the period SCOPE "
            f"can run, {season[0].date()} to {season[1].date()} (the season's acquisitions)"
        )
    targets, closure = energy_balance_closure(raw, targets, file_set, fit_records=in_season, log=log)
    dropped = {"dropped_outside_season": int((~in_season).sum())}  # records left out, by reason
    note(
        "%s: %d of %d records outside %s..%s dropped",
        file_set.name,
        int((~in_season).sum()),
        len(times),
        season[0].date(),
        season[1].date(),
    )
    targets = targets.isel(time=np.flatnonzero(in_season))
    if file_set.aggregate:
        hours = tuple(file_set.aggregate["daily_local_solar_hours"])
        targets = daily_means(targets, longitude, hours)
        note(
            "%s: daily means of the records between %s and %s h local solar time: %d days",
            file_set.name,
            hours[0],
            hours[1],
            targets.sizes["time"],
        )
    elevation = np.asarray(sun_elevation(targets["time"].values))
    daylight = elevation >= file_set.min_sun_elevation
    note(
        "%s: %d of %d times with the sun below %g degrees dropped (night and low sun)",
        file_set.name,
        int((~daylight).sum()),
        len(daylight),
        file_set.min_sun_elevation,
    )
    targets = targets.isel(time=np.flatnonzero(daylight))
    dropped["dropped_low_sun"] = int((~daylight).sum())
    check_nonempty(targets, file_set, f"after dropping night and sun below {file_set.min_sun_elevation} degrees")
    if weather_covers is not None:
        covered = np.asarray(weather_covers(targets["time"].values))
        note(
            "%s: %d of %d times dropped: the weather does not cover them (outside its records or in a gap longer "
            "than weather.local.max_gap_hours)",
            file_set.name,
            int((~covered).sum()),
            len(covered),
        )
        targets = targets.isel(time=np.flatnonzero(covered))
        dropped["dropped_weather_gaps"] = int((~covered).sum())
        check_nonempty(targets, file_set, "after dropping the times the weather does not cover")
    matched = on_field_grid(targets, file_set, grid)
    footprint = matched.data_vars.get("footprint_weight")
    names = list(file_set.variables)
    valid = np.logical_and.reduce([matched[t].notnull() & matched[f"sigma_{t}"].notnull() for t in names])
    valid = xr.DataArray(valid, dims=("y", "x", "time"), coords=matched.coords)
    # SCOPE runs only at times where something is observed
    keep = np.flatnonzero(valid.any(("y", "x")).values)
    matched, valid = matched.isel(time=keep), valid.isel(time=keep)
    if valid.sum() == 0:
        raise ValueError(f"{file_set.path}: no time has a valid value of every target {names} at once")
    held = xr.DataArray(holdout_days(matched["time"].values, file_set.holdout), dims="time") & valid
    fitted = valid & ~held
    if not bool(fitted.any()):
        raise ValueError(f"{file_set.path}: the hold-out ({file_set.holdout}) leaves no observation to fit")
    dataset = xr.Dataset({"observed": fitted.transpose("y", "x", "time"), "holdout": held.transpose("y", "x", "time")})
    for target in names:
        dataset[target] = matched[target].where(valid)
        dataset[f"sigma_{target}"] = matched[f"sigma_{target}"].where(valid)
    if footprint is not None:
        dataset["footprint_weight"] = footprint
    counts = observation_counts(dataset)
    dataset.attrs.update(
        observation_set=file_set.name, source="file", source_file=str(file_set.path), **closure, **dropped, **counts
    )
    note(
        "%s: %d observations fitted, %d held out, at %d times%s",
        file_set.name,
        counts["observed_cells"],
        counts["holdout_cells"],
        dataset.sizes["time"],
        "" if footprint is None else f", each the weighted mean of {cells_per_observation(dataset)} pixels",
    )
    return dataset


def cells_per_observation(dataset: xr.Dataset) -> int:
    """Cells behind one observation: a footprint observation is one value a time, modelled by the weighted mean
    of its pixels; otherwise one cell."""
    weight = dataset.data_vars.get("footprint_weight")
    return 1 if weight is None else int((weight > 0).sum())


def observation_counts(dataset: xr.Dataset) -> dict[str, float | int]:
    """A file set's fitted and held-out observations, and its baseline misfit."""
    per_observation = cells_per_observation(dataset)
    fitted = int(dataset["observed"].sum()) // per_observation
    n_targets = sum(1 for name in dataset.data_vars if name.startswith("sigma_"))
    return {
        "observed_cells": fitted,
        "holdout_cells": int(dataset["holdout"].sum()) // per_observation,
        # with the declared sigmas right, the misfit at the best parameters is about half the residual count
        "baseline_misfit": 0.5 * n_targets * fitted,
    }


def exclude_unsolved(
    observations: xr.Dataset, outputs: xr.Dataset, *, at: str, log: logging.Logger = LOG
) -> xr.Dataset:
    """The observations without those where SCOPE gave no usable value in ``outputs`` (SCOPE at ``at``): an
    energy balance left unsolved there (at low wind its fluxes can reach 1e16 W m-2) is neither fitted
    nor scored. A footprint observation goes if any of its pixels is unsolved. Counted in ``unsolved_cells``."""
    usable = solved(outputs)
    weight = observations.data_vars.get("footprint_weight")
    if weight is not None:
        usable = usable.where(weight > 0, True).all(("y", "x")).broadcast_like(usable)
    per_observation = cells_per_observation(observations)
    valid = observations["observed"] | observations["holdout"]
    dropped = int((valid & ~usable).sum()) // per_observation
    result = observations.assign(observed=observations["observed"] & usable, holdout=observations["holdout"] & usable)
    counts = observation_counts(result)
    if counts["observed_cells"] == 0:
        raise ValueError(
            f"{observations.attrs.get('source_file')}: SCOPE solved none of the fitted observations at {at}"
        )
    result.attrs.update(**counts, unsolved_cells=dropped)
    worst = float(outputs["max_error"].where(valid).max()) if "max_error" in outputs else float("nan")
    log.info(
        "%s: %d of %d observations dropped: SCOPE gave no usable value at %s (worst energy-balance residual "
        "%.3g W m-2)",
        observations.attrs.get("observation_set"),
        dropped,
        int(valid.sum()) // per_observation,
        at,
        worst,
    )
    return result


def exclude_unsolved_at_start(
    observations: xr.Dataset,
    inputs: xr.Dataset,
    problem: Problem,
    *,
    scope_root: str | Path,
    run: Mapping[str, Any],
    log: logging.Logger = LOG,
) -> xr.Dataset:
    """For the energy balance, :func:`exclude_unsolved` with SCOPE at the problem's first start (``run``:
    device, dtype, chunk_size); the other workflows always give a value, and their observations stay as they are."""
    if problem.workflow != "energy-balance":
        return observations
    start = dict(zip(problem.names, map(float, problem.start(0)), strict=True))
    at_start = run_forward(
        with_parameters(inputs, start),
        problem.workflow,
        scope_root=scope_root,
        output_vars=[t.name for t in problem.targets] + ["max_error"],
        **run,
    )
    return exclude_unsolved(observations, at_start, at=f"the first start {start}", log=log)


def prepare_file_set(
    file_set: FileSet,
    workflow: str,
    *,
    biophysics: xr.Dataset,
    weather: xr.Dataset,
    geojson: str | Path,
    season: tuple[str, str],
    viewing_zenith: float,
    viewing_azimuth: float,
    scope_root: str | Path,
    input_settings: Mapping[str, Any],
    log: logging.Logger = LOG,
) -> tuple[xr.Dataset, xr.Dataset]:
    """The observations of a file set and the SCOPE inputs at their times (sun angles at each time, weather
    interpolated to it, crop state interpolated between acquisitions). Only observed pixels are simulated:
    the others are outside ``field_mask`` in the inputs."""
    acquisitions = pd.DatetimeIndex(biophysics["post_bio"]["time"].values).normalize()
    window = (max(acquisitions.min(), pd.Timestamp(season[0])), min(acquisitions.max(), pd.Timestamp(season[1])))
    located = isinstance(file_set.location, Mapping) and "lon" in file_set.location
    lon = file_set.location["lon"] if located else load_geojson_centroid(geojson)[0]
    observations = file_observations(
        file_set,
        biophysics,
        season=window,
        sun_elevation=lambda times: sun_elevation(times, geojson),
        longitude=lon,
        weather_covers=lambda times: usable_weather_times(weather, times, where="the weather forcing"),
        log=log,
    )
    geometry = geometry_at_times(
        observations["time"].values, geojson, viewing_zenith=viewing_zenith, viewing_azimuth=viewing_azimuth
    )
    observed_pixels = (observations["observed"] | observations["holdout"]).any("time")
    simulated = biophysics.assign(field_mask=biophysics["field_mask"].astype(bool) & observed_pixels)
    inputs = prepare_inputs(simulated, weather, geometry, workflow=workflow, scope_root=scope_root, **input_settings)
    return observations, inputs
