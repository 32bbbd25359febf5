"""Crop state measured in the field (``retrieval.source: table``), in ARC's output format with exact values.

A flux-tower user measures crop state on a few dates (LAI from an LAI-2000 or harvests, chlorophyll from SPAD
calibrated to Cab, leaf water, dry matter). The table is a CSV with a date column and one column per SCOPE
input, describing the whole field, or a NetCDF with one variable per input on ``(time, y, x)``, per pixel of the
field grid. Units are declared per column and converted with pint (cf-xarray's registry, as for observations).

ARC's NPZ codes the biophysics as integers (LAI in 0.01, Cw in 1e-4 g cm-2, ...), which would round measured
values. The NPZ this module writes keeps ARC's keys (the geometry stage reads the dates from it, and the file
stays readable as an ARC output) and carries the values in SCOPE's units as float64 beside them
(``post_bio_physical`` on the dates ``post_bio_physical_time``); the bridge takes those in place of the decoded
integers, so every later stage runs unchanged and SCOPE gets the table's values exactly.

A table may also carry two inputs that ARC's bands lack (:data:`INPUTS_BEYOND_ARC_BANDS`): carotenoids ``Cca``,
which otherwise are Cab / 4 in scope-rtm's input preparation, and canopy height ``h`` (column ``h`` or ``hc``),
which otherwise is ``scope.canopy_height_m``. Each goes in the NPZ as its own float64 array on the same dates
(``post_bio_physical_Cca``, ``post_bio_physical_h``: valid pixels, date), only when the table has it; the bridge
and the input stage carry it to SCOPE in place of the rule it replaces.

``margin_days`` holds the first and last measurement that many days beyond them: the bridge's dates include a
node at each end carrying the nearest measurement, so the input stage's interpolation between dates
(``scopecal.inputs.crop_state_at``) holds it there, and observations in the margin are kept.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arc_scope.bridge.parameter_map import ARC_BIO_INDICES, BIO_BANDS, BIO_SCALES, SCALE_BANDS
from cf_xarray.units import units as UNITS
from pyproj import CRS
from scope.variables import get_variable_definition, iter_variables

from .bridge import INPUTS_BEYOND_ARC_BANDS, physical_input_key
from .retrieval import FieldGrid, field_grid
from .tower_weather import UNIT_ERRORS

# The SCOPE inputs the input stage takes from the crop state: scope-rtm's input preparation reads the bridge's
# bands, and arcope's ARC_BIO_INDICES names the SCOPE input of each band. A crop table can set these.
CROP_INPUTS: dict[str, str] = {ARC_BIO_INDICES[index][0]: band for index, band in enumerate(BIO_BANDS)}
# Per-pixel soil parameters of the BSM soil model, constant in time (ARC retrieves them; a table takes defaults).
SOIL_INPUTS = ("BSMBrightness", "BSMlat", "BSMlon", "SMC")
# SCOPE inputs a crop table can set that ARC's bands do not carry, each with what sets it when the table lacks it
# (Cca: scope-rtm's input preparation; h: the config). They travel beside the bands (see physical_input_key) and
# replace that rule in the input stage.
# Column names a field team writes for a SCOPE input (SCOPE's own documentation calls canopy height hc).
COLUMN_ALIASES: dict[str, str] = {"hc": "h"}
# Why a SCOPE input a user may expect is not a column: the input stage derives it from one that is.
SET_OUTSIDE_THE_CROP_STATE = {
    "d": "the input stage sets d = 0.67 h: give the canopy height h",
    "z0m": "the input stage sets z0m = 0.123 h: give the canopy height h",
}
# Bounds of a plant's values in SCOPE's units, wide enough for any crop: a value outside them is a units or typing
# slip (Cab in mg m-2 declared as ug cm-2, LAI in percent), not a measurement. PROSPECT's N is 1 for a compact
# leaf; a mean leaf angle lies between 0 (horizontal) and 90 degrees (vertical).
PLAUSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "LAI": (0.0, 15.0),
    "Cab": (0.0, 150.0),
    "Cdm": (0.0, 0.05),
    "Cw": (0.0, 0.1),
    "Cs": (0.0, 2.0),
    "N": (1.0, 4.0),
    "ala": (0.0, 90.0),
    "Cca": (0.0, 50.0),
    # from a seedling (the energy balance's roughness z0m = 0.123 h needs some canopy) to a tall forest's trees
    "h": (0.01, 100.0),
}
# PROSPECT's Cw is the leaf's water as a thickness of liquid water: a thickness in cm is that many g cm-2.
LIQUID_WATER_DENSITY = UNITS.Quantity(1.0, "g cm-3")
# Names of variables that carry a NetCDF file's CRS rather than data (CF grid mapping, rioxarray).
GRID_MAPPING_NAMES = ("spatial_ref", "crs")


def table_inputs() -> list[str]:
    """Every SCOPE input a crop table can set, in the order error messages list them."""
    return [*CROP_INPUTS, *INPUTS_BEYOND_ARC_BANDS]


def scope_units(name: str) -> str:
    """SCOPE's units of an input, as pint reads them (scope-rtm's registry writes dimensionless as ``-``)."""
    units = get_variable_definition(name).units
    return "1" if units == "-" else units


def to_scope_units(values: np.ndarray, units: str, name: str, where: str) -> np.ndarray:
    """``values`` declared in ``units`` in SCOPE's units of input ``name``, converted by pint."""
    wanted = scope_units(name)
    try:
        quantity = UNITS.Quantity(np.asarray(values, dtype=float), units)
        if name == "Cw" and quantity.check("[length]"):
            quantity = quantity * LIQUID_WATER_DENSITY
        return np.asarray(quantity.to(wanted).magnitude, dtype=float)
    except UNIT_ERRORS as error:
        raise ValueError(f"{where}: units {units!r} do not convert to {name}'s {wanted!r} ({error})") from None


def check_column_name(name: str, where: str) -> None:
    """A column must be a SCOPE input that a crop table sets, or an alias of one; the error lists those."""
    if name in CROP_INPUTS or name in INPUTS_BEYOND_ARC_BANDS or name in COLUMN_ALIASES:
        return
    allowed = table_columns_text()
    scope_inputs = {variable.name for variable in iter_variables() if variable.kind == "input"}
    if name in SET_OUTSIDE_THE_CROP_STATE:
        why = f" ({SET_OUTSIDE_THE_CROP_STATE[name]})"
    elif name in scope_inputs:
        why = " (a SCOPE input, but not one the crop state sets)"
    else:
        why = " (not a SCOPE input)"
    raise ValueError(f"{where}: column {name!r} is not a crop-state input{why}; a crop table has {allowed}")


def table_columns_text() -> str:
    """The columns a crop table may have, aliases in brackets: ``N, Cab, ..., Cca, h (or hc)``."""
    aliases = {name: [alias for alias, target in COLUMN_ALIASES.items() if target == name] for name in table_inputs()}
    return ", ".join(f"{name} (or {', '.join(aliases[name])})" if aliases[name] else name for name in table_inputs())


def check_no_input_twice(columns: list[str], where: str) -> None:
    """An input may not come both under its name and under an alias (``h`` and ``hc``)."""
    for alias, name in COLUMN_ALIASES.items():
        if alias in columns and name in columns:
            raise ValueError(f"{where}: columns {name!r} and {alias!r} are the same input ({name}); keep one")


def measurement_dates(stamps: pd.Series | np.ndarray, where: str) -> pd.DatetimeIndex:
    """Dates (the time of day is dropped: crop state is by date), strictly increasing."""
    stamps = pd.Series(stamps)
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601", errors="coerce"))
    except (ValueError, TypeError) as error:  # e.g. a mixture of UTC offsets
        raise ValueError(f"{where}: not dates ({str(error).splitlines()[0]})") from None
    if parsed.tz is not None:  # the calendar date where it was measured
        parsed = parsed.tz_localize(None)
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna())[0])
        raise ValueError(f"{where}: row {row + 1} ({stamps.iloc[row]!r}) is not a date (ISO 8601: 2021-06-03)")
    days = parsed.normalize().as_unit("ns")
    steps = np.diff(days.values)
    if (steps == np.timedelta64(0)).any():
        raise ValueError(
            f"{where}: date {days[int(np.flatnonzero(steps == np.timedelta64(0))[0])].date()} is duplicated"
        )
    if (steps < np.timedelta64(0)).any():
        later = int(np.flatnonzero(steps < np.timedelta64(0))[0])
        raise ValueError(
            f"{where}: dates are not in increasing order ({days[later + 1].date()} follows {days[later].date()})"
        )
    return days


def check_plausible(name: str, values: np.ndarray, dates: pd.DatetimeIndex, where: str) -> None:
    """Finite values within :data:`PLAUSIBLE_RANGE`; NaN is checked where it matters (inside the field)."""
    low, high = PLAUSIBLE_RANGE[name]
    bad = np.isfinite(values) & ((values < low) | (values > high)) | np.isinf(values)
    if bad.any():
        index = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), values.shape)
        raise ValueError(
            f"{where}: {name} = {values[index]:g} {scope_units(name)} on {dates[index[0]].date()} is outside "
            f"{low:g}..{high:g} (after conversion to SCOPE's units): check the value and its declared units"
        )


def read_crop_table(
    path: str | Path, *, date_column: str = "date", units: Mapping[str, str] | None = None
) -> xr.Dataset:
    """The crop table in SCOPE's units: a CSV on ``(time,)`` for the whole field, a NetCDF on ``(time, y, x)``.

    ``units`` declares each column's units (config ``retrieval.table.units``); a NetCDF variable may carry its own
    ``units`` attribute instead. The dataset's attributes name the file (``crop_table``) and, for a NetCDF that
    declares one, its CRS (``crs_wkt``).
    """
    path = Path(path)
    units = dict(units or {})
    if not path.is_file():
        raise FileNotFoundError(f"crop table {path} does not exist (config key retrieval.table.path)")
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        with xr.open_dataset(path) as opened:
            raw = opened.load()
        crs_wkt = declared_crs(raw)
        raw = raw.drop_vars([name for name in GRID_MAPPING_NAMES if name in raw.variables])
        if "time" not in raw.dims or not {"y", "x"} <= set(raw.dims):
            raise ValueError(f"{path}: a per-pixel crop table has dimensions (time, y, x); found {dict(raw.sizes)}")
        dates = measurement_dates(raw["time"].values, f"{path}: time")
        for name in raw.data_vars:
            check_column_name(str(name), str(path))
        check_no_input_twice([str(name) for name in raw.data_vars], str(path))
        columns = {str(name): raw[name].transpose("time", "y", "x") for name in raw.data_vars}
        declared = {name: units.get(name, variable.attrs.get("units")) for name, variable in columns.items()}
        coords = {"time": dates.values, "y": raw["y"].values, "x": raw["x"].values}
    else:
        try:
            frame = pd.read_csv(path, comment="#", skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a readable CSV ({error})") from None
        frame.columns = [str(column).strip() for column in frame.columns]
        if date_column not in frame.columns:
            raise ValueError(
                f"{path}: no date column {date_column!r} (retrieval.table.date_column); columns: {list(frame.columns)}"
            )
        dates = measurement_dates(frame[date_column].astype(str), f"{path}: column {date_column!r}")
        data_columns = [column for column in frame.columns if column != date_column]
        for name in data_columns:
            check_column_name(name, str(path))
        check_no_input_twice(data_columns, str(path))
        columns = {}
        for name in data_columns:
            numbers = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            if not np.isfinite(numbers).all():
                row = int(np.flatnonzero(~np.isfinite(numbers))[0])
                cell = frame[name].iloc[row]
                found = "an empty cell" if pd.isna(cell) else repr(str(cell))
                raise ValueError(
                    f"{path}: column {name!r} has no number on {dates[row].date()} ({found}); every date needs a "
                    "value (leave the column out to take its default)"
                )
            columns[name] = xr.DataArray(numbers, dims="time")
        declared = {name: units.get(name) for name in columns}
        coords = {"time": dates.values}
        crs_wkt = ""
    if not columns:
        raise ValueError(f"{path}: no crop-state column; a crop table has {table_columns_text()}")
    unknown = sorted(set(units) - set(columns))
    if unknown:
        raise ValueError(f"{path}: retrieval.table.units names {unknown}, which are not columns of the table")
    converted = {}
    for column, variable in columns.items():
        where = f"{path}: column {column!r}"
        name = COLUMN_ALIASES.get(column, column)  # SCOPE's name from here on; messages above name the column
        if not declared[column]:
            raise ValueError(
                f"{where} has no declared units: set retrieval.table.units.{column} (SCOPE's are {scope_units(name)!r})"
            )
        values = to_scope_units(variable.values, declared[column], name, where)
        if "y" not in variable.dims:  # a per-pixel table is checked on the field's pixels (outside: any fill value)
            check_plausible(name, values, dates, str(path))
        attrs = {"units": scope_units(name), "declared_units": declared[column]}
        if column != name:  # the log names the column as the file does
            attrs["column"] = column
        converted[name] = (variable.dims, values, attrs)
    return xr.Dataset(converted, coords=coords, attrs={"crop_table": str(path), "crs_wkt": crs_wkt})


def declared_crs(dataset: xr.Dataset) -> str:
    """The CRS a NetCDF declares (a grid-mapping variable's ``crs_wkt``/``spatial_ref``, or a global ``crs_wkt``)."""
    for name in GRID_MAPPING_NAMES:
        if name in dataset.variables:
            attrs = dataset[name].attrs
            if attrs.get("crs_wkt") or attrs.get("spatial_ref"):
                return str(attrs.get("crs_wkt") or attrs.get("spatial_ref"))
    return str(dataset.attrs.get("crs_wkt", ""))


def pixel_centres(grid: FieldGrid) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of the field grid's pixel centres in its CRS."""
    ny, nx = grid.mask.shape
    x0, dx, _, y0, _, dy = grid.geotransform
    return y0 + (np.arange(ny) + 0.5) * dy, x0 + (np.arange(nx) + 0.5) * dx


def on_field_grid(table: xr.Dataset, grid: FieldGrid) -> dict[str, np.ndarray]:
    """Each input on (time, n_in_field_pixels): a whole-field table on every in-field pixel, a per-pixel table at
    the field grid's pixel centres (its y/x in the field's CRS; a CRS it declares must be the field's)."""
    where = table.attrs["crop_table"]
    inside = ~grid.mask
    if "y" not in table.dims:
        return {name: np.repeat(table[name].values[:, None], int(inside.sum()), axis=1) for name in table.data_vars}
    if table.attrs.get("crs_wkt") and not CRS.from_user_input(table.attrs["crs_wkt"]).equals(
        CRS.from_wkt(grid.crs_wkt), ignore_axis_order=True
    ):
        raise ValueError(
            f"{where}: its CRS ({CRS.from_user_input(table.attrs['crs_wkt']).name}) is not the field's "
            f"({CRS.from_wkt(grid.crs_wkt).name}); give y/x in the field's CRS"
        )
    ys, xs = pixel_centres(grid)
    half = abs(grid.geotransform[1]) / 2
    rows, cols = [], []
    for file_coord, wanted, axis, found in ((table["y"].values, ys, "y", rows), (table["x"].values, xs, "x", cols)):
        index = np.abs(file_coord[None, :] - wanted[:, None]).argmin(axis=1)
        missed = np.abs(file_coord[index] - wanted) > 1e-3 * half
        if missed.any():
            raise ValueError(
                f"{where}: {axis} {file_coord.min():.2f}..{file_coord.max():.2f} does not hold the field grid's pixel "
                f"centres ({axis} {wanted.min():.2f}..{wanted.max():.2f}, {abs(grid.geotransform[1]):g} m pixels, "
                f"field.pixel_size_m and field.shape), first missing {wanted[missed][0]:.2f}"
            )
        found.extend(index)
    on_grid = {}
    for name, variable in table.data_vars.items():
        values = variable.values[:, np.asarray(rows)][:, :, np.asarray(cols)][:, inside]
        if not np.isfinite(values).all():
            time, pixel = np.argwhere(~np.isfinite(values))[0]
            iy, ix = np.argwhere(inside)[pixel]
            raise ValueError(
                f"{where}: {name} is missing at the in-field pixel (y={ys[iy]:.2f}, x={xs[ix]:.2f}) on "
                f"{pd.Timestamp(table['time'].values[time]).date()}"
            )
        check_plausible(name, values, pd.DatetimeIndex(table["time"].values), where)
        on_grid[name] = values
    return on_grid


def check_covers_season(table: xr.Dataset, season: tuple[date, date], margin_days: int) -> None:
    """The measurements, held ``margin_days`` beyond the first and last, must cover the season."""
    dates = pd.DatetimeIndex(table["time"].values)
    margin = pd.Timedelta(days=margin_days)
    start, end = (pd.Timestamp(day) for day in season)
    if dates[0] - margin > start:
        first_uncovered = start
    elif dates[-1] + margin < end:
        first_uncovered = dates[-1] + margin + pd.Timedelta(days=1)
    else:
        return
    raise ValueError(
        f"{table.attrs['crop_table']}: measured {dates[0].date()} to {dates[-1].date()}, held {margin_days} days "
        f"beyond (retrieval.table.margin_days), does not cover the season {start.date()} to {end.date()}; first "
        f"uncovered day {first_uncovered.date()}"
    )


def crop_table_arc_output(
    table: xr.Dataset,
    grid: FieldGrid,
    *,
    season: tuple[date, date],
    margin_days: int,
    defaults: Mapping[str, float],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """ARC-format arrays of the crop table on the field grid, with its exact values beside ARC's integer coding.

    ARC's keys hold the measurement dates inside the season (the geometry stage's overpass days) in ARC's integer
    coding; ``post_bio_physical`` (valid pixels, band, date) holds every measurement in SCOPE's units, float64,
    on ``post_bio_physical_time``, with a node ``margin_days`` before the first and after the last date that holds
    their values. An input beyond ARC's bands that the table has (``Cca``, ``h``) gets its own array on the same
    dates, margin nodes included (:func:`physical_input_key`: valid pixels, date). Inputs the table lacks and the
    soil take ``defaults``; their names are returned.
    """
    check_covers_season(table, season, margin_days)
    dates = pd.DatetimeIndex(table["time"].values)
    start, end = (pd.Timestamp(day) for day in season)
    in_season = (dates >= start) & (dates <= end)
    if not in_season.any():
        raise ValueError(
            f"{table.attrs['crop_table']}: no date inside the season {start.date()} to {end.date()} "
            f"(dates {dates[0].date()} to {dates[-1].date()}); SCOPE's overpass days are the measurement dates"
        )
    measured = on_field_grid(table, grid)
    defaulted = [name for name in CROP_INPUTS if name not in measured] + list(SOIL_INPUTS)
    n_valid = int((~grid.mask).sum())
    bands = [
        measured[name] if name in measured else np.full((len(dates), n_valid), float(defaults[name]))
        for name in CROP_INPUTS
    ]
    physical = np.stack(bands, axis=0).transpose(2, 0, 1)  # (pixel, band, date), in BIO_BANDS order
    beyond_bands = {  # (pixel, date)
        physical_input_key(name): measured[name].T for name in INPUTS_BEYOND_ARC_BANDS if name in measured
    }
    times = dates
    if margin_days > 0:  # the first and last measurement, held at the margin's ends
        margin = pd.Timedelta(days=margin_days)
        physical = np.concatenate([physical[:, :, :1], physical, physical[:, :, -1:]], axis=2)
        beyond_bands = {
            key: np.concatenate([values[:, :1], values, values[:, -1:]], axis=1) for key, values in beyond_bands.items()
        }
        times = pd.DatetimeIndex([dates[0] - margin, *dates, dates[-1] + margin])
    scales = np.asarray(BIO_SCALES)[None, :, None]
    phenology = np.full((n_valid, 4), np.nan)  # a table has no phenology model (ARC's n0, m0, n1, m1)
    soil = np.tile([float(defaults[name]) for name in SOIL_INPUTS], (n_valid, 1))
    dat = np.column_stack([np.ones((n_valid, len(BIO_BANDS))), phenology, soil])
    assert dat.shape[1] == len(SCALE_BANDS)
    kept = np.flatnonzero(in_season) + (1 if margin_days > 0 else 0)
    arrays = {
        "post_bio_tensor": np.rint(physical[:, :, kept] / scales).astype(np.int32),
        "dat": dat,
        "mask": grid.mask,
        "doys": np.asarray(dates[in_season].day_of_year, dtype=np.int64),
        "geotransform": grid.geotransform,
        "crs": np.array(grid.crs_wkt),
        "post_bio_physical": physical,
        "post_bio_physical_time": times.as_unit("ns").values,
        "measured_dates": dates.as_unit("ns").values,
        "crop_table": np.array(table.attrs["crop_table"]),
        "margin_days": np.array(int(margin_days)),
        **{key: np.ascontiguousarray(values, dtype=np.float64) for key, values in beyond_bands.items()},
    }
    return arrays, defaulted


def defaults_line(
    path: str | Path, defaulted: list[str], defaults: Mapping[str, float], beyond_bands: Collection[str] = ()
) -> str:
    """One log line naming the inputs that take the config's defaults, and the rules for the inputs beyond ARC's
    bands that the table lacks (``beyond_bands``: those it has)."""
    values = ", ".join(f"{name}={defaults[name]:g}" for name in defaulted)
    rules = [f"{name} = {rule}" for name, rule in INPUTS_BEYOND_ARC_BANDS.items() if name not in beyond_bands]
    return (
        f"{path}: not in the table, from retrieval.table.defaults: {values}; the other SCOPE inputs as for every crop "
        f"source ({', '.join([*rules, 'scope.*'])})"
    )


def crop_table_output(
    path: str | Path,
    settings: Mapping,
    *,
    geojson: str | Path,
    pixel_size_m: float | None,
    shape: tuple[int, int] | None,
    season: tuple[date, date],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The retrieval job of ``retrieval.source: table``: ARC-format arrays (see :func:`crop_table_arc_output`) and
    the lines for its log. ``settings`` is the config's ``retrieval.table`` with the schema's defaults."""
    if pixel_size_m is None or shape is None:
        raise ValueError(
            "field.pixel_size_m and field.shape (the field grid, centred on the field) are needed by "
            "retrieval.source 'table'"
        )
    grid = field_grid(geojson, pixel_size_m, tuple(shape))
    table = read_crop_table(path, date_column=settings["date_column"], units=settings["units"])
    arrays, defaulted = crop_table_arc_output(
        table, grid, season=season, margin_days=settings["margin_days"], defaults=settings["defaults"]
    )
    dates = pd.DatetimeIndex(table["time"].values)
    layout = "per pixel" if "y" in table.dims else "whole field"
    lines = [
        f"{path}: crop state measured in the field ({layout}), {len(dates)} dates {dates[0].date()} to "
        f"{dates[-1].date()}, held {settings['margin_days']} days beyond; "
        + ", ".join(
            f"{name} [{table[name].attrs['declared_units']}]"
            + (f" (column {table[name].attrs['column']})" if "column" in table[name].attrs else "")
            for name in table.data_vars
        )
        + f"; {int((~grid.mask).sum())} of {grid.mask.size} pixels inside the field; exact float64 values beside "
        "ARC's integer coding",
        defaults_line(path, defaulted, settings["defaults"], [str(name) for name in table.data_vars]),
    ]
    return arrays, lines
