"""ARC output -> biophysics on a (y, x, band, time) grid, through arcope's bridge.

An NPZ that carries its values in physical units (``post_bio_physical``: a crop table measured in the field, see
:mod:`scopecal.crop_table`) is bridged with those values on their own dates, not with ARC's integer coding. The
inputs such a table may carry beyond ARC's bands (``Cca``, ``h``) become variables of the same name on
``(y, x, time)``, on the crop state's dates, only when the NPZ has them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from arc_scope.bridge.convert import arc_npz_to_scope_inputs
from numpy.lib.npyio import NpzFile
from scope.variables import get_variable_definition

BIO_UNITS = {
    "N": "1",
    "cab": "ug cm-2",
    "cm": "g cm-2",
    "cw": "g cm-2",
    "lai": "m2 m-2",
    "ala": "degree",
    "cbrown": "1",
}


# The inputs a crop table may carry beyond ARC's bands (scopecal.crop_table), and what they replace otherwise
INPUTS_BEYOND_ARC_BANDS: dict[str, str] = {"Cca": "Cab / 4", "h": "scope.canopy_height_m"}


def physical_input_key(name: str) -> str:
    """The retrieval NPZ's key of an input beyond ARC's bands (valid pixels, date), e.g. ``post_bio_physical_h``."""
    return f"post_bio_physical_{name}"


def bridge_arc_npz(npz_path: str | Path, year: int) -> xr.Dataset:
    """Decode an ARC NPZ into physical units; masked pixels are NaN.

    ``post_bio`` holds N, Cab, Cm (= Cdm), Cw, LAI, ALA, Cbrown per date;
    ``post_bio_scale`` holds ARC's per-pixel scale, phenology and soil
    parameters. The CRS is kept as WKT in an attribute (a rioxarray
    ``spatial_ref`` coordinate does not survive a NetCDF round trip intact).
    """
    post_bio, post_bio_scale = arc_npz_to_scope_inputs(npz_path, year)
    crs = post_bio.rio.crs.to_wkt() if post_bio.rio.crs is not None else ""
    beyond_bands: dict[str, xr.DataArray] = {}
    with np.load(npz_path, allow_pickle=False) as payload:
        source = str(payload["source"]) if "source" in payload.files else "arc"
        if "post_bio_physical" in payload.files:
            post_bio = physical_crop_state(post_bio, payload)
            beyond_bands = inputs_beyond_arc_bands(post_bio, payload)
    dataset = xr.Dataset(
        {
            "post_bio": post_bio.drop_vars("spatial_ref", errors="ignore"),
            "post_bio_scale": post_bio_scale.drop_vars("spatial_ref", errors="ignore").rename(band="scale_band"),
            **beyond_bands,
        }
    )
    dataset["post_bio"].attrs.update(
        long_name="ARC posterior biophysical parameters in physical units",
        units_by_band="; ".join(f"{band}: {unit}" for band, unit in BIO_UNITS.items()),
    )
    dataset["post_bio_scale"].attrs.update(
        long_name="ARC per-pixel scale, phenology (n0, m0, n1, m1) and soil (BSM, SMC) parameters"
    )
    dataset["field_mask"] = post_bio.notnull().any(("band", "time")).drop_vars("spatial_ref", errors="ignore")
    dataset["field_mask"].attrs.update(long_name="pixel lies inside the field", units="1")
    dataset.attrs.update(crs_wkt=crs, retrieval_source=source)
    return dataset


def physical_crop_state(decoded: xr.DataArray, payload: NpzFile) -> xr.DataArray:
    """The NPZ's values in physical units on its own dates, on the grid and bands of arcope's ``decoded``.

    The attributes name the crop table, its measurement dates and the margin its ends are held for, so that an
    uncovered time can be reported in those terms (:func:`scopecal.inputs.crop_state_at`).
    """
    mask = payload["mask"].astype(bool)
    times = payload["post_bio_physical_time"]
    values = np.full((*mask.shape, decoded.sizes["band"], times.size), np.nan)
    values[~mask] = payload["post_bio_physical"]
    measured = pd.DatetimeIndex(payload["measured_dates"])
    return xr.DataArray(
        values,
        dims=("y", "x", "band", "time"),
        coords={"y": decoded["y"].values, "x": decoded["x"].values, "band": decoded["band"].values, "time": times},
        name="post_bio",
        attrs={
            "crop_table_file": str(payload["crop_table"]),
            "measured_from": str(measured[0].date()),
            "measured_to": str(measured[-1].date()),
            "margin_days": int(payload["margin_days"]),
        },
    )


def inputs_beyond_arc_bands(post_bio: xr.DataArray, payload: NpzFile) -> dict[str, xr.DataArray]:
    """The inputs beyond ARC's bands that the NPZ carries (``Cca``, ``h``), each on ``(y, x, time)`` with the
    grid, dates and crop-table attributes of ``post_bio`` (the physical crop state); masked pixels are NaN."""
    mask = payload["mask"].astype(bool)
    carried = {}
    for name in INPUTS_BEYOND_ARC_BANDS:
        key = physical_input_key(name)
        if key not in payload.files:
            continue
        values = np.full((*mask.shape, post_bio.sizes["time"]), np.nan)
        values[~mask] = payload[key]
        definition = get_variable_definition(name)
        carried[name] = xr.DataArray(
            values,
            dims=("y", "x", "time"),
            coords={"y": post_bio["y"].values, "x": post_bio["x"].values, "time": post_bio["time"].values},
            name=name,
            attrs={
                **post_bio.attrs,
                "units": definition.units,
                "long_name": f"{definition.meaning.rstrip('.')} from the crop table",
            },
        )
    return carried
