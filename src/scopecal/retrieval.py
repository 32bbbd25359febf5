"""Crop-state retrieval in ARC's output format, from ARC itself, an ARC file, or a phenology model.

ARC's ``arc_field`` returns integer-coded biophysics per valid pixel and date;
arcope's bridge reads the NPZ it saves. Every source here writes that same
NPZ, so the rest of the workflow cannot tell them apart except by the
``source`` entry this module adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from arc_scope.bridge.parameter_map import ARC_BIO_NAMES, BIO_SCALES, SCALE_BANDS
from matplotlib.path import Path as PolygonPath
from pyproj import CRS, Transformer

ARC_KEYS = ("post_bio_tensor", "post_bio_unc_tensor", "dat", "mask", "doys", "geotransform", "crs")


@dataclass(frozen=True)
class FieldGrid:
    """A north-up UTM pixel grid centred on a field; ``mask`` is True outside the field, as in ARC."""

    geotransform: np.ndarray
    crs_wkt: str
    mask: np.ndarray


def field_polygon(geojson_path: str | Path) -> np.ndarray:
    """Exterior ring (lon, lat) of the first polygon in a GeoJSON file."""
    with open(geojson_path) as handle:
        data = json.load(handle)
    features = data.get("features", [data])
    for feature in features:
        geometry = feature.get("geometry", feature)
        if geometry.get("type") == "Polygon":
            return np.asarray(geometry["coordinates"][0], dtype=float)[:, :2]
        if geometry.get("type") == "MultiPolygon":
            return np.asarray(geometry["coordinates"][0][0], dtype=float)[:, :2]
    raise ValueError(f"{geojson_path}: no Polygon or MultiPolygon geometry found")


def field_grid(geojson_path: str | Path, pixel_size_m: float, shape: tuple[int, int]) -> FieldGrid:
    """Grid of ``shape`` (ny, nx) pixels of ``pixel_size_m`` centred on the field, in its UTM zone."""
    ring = field_polygon(geojson_path)
    lon0, lat0 = ring.mean(axis=0)
    utm = CRS.from_epsg((32600 if lat0 >= 0 else 32700) + int((lon0 + 180) // 6) + 1)
    to_utm = Transformer.from_crs("EPSG:4326", utm, always_xy=True)
    ring_x, ring_y = to_utm.transform(ring[:, 0], ring[:, 1])
    centre_x = 0.5 * (min(ring_x) + max(ring_x))
    centre_y = 0.5 * (min(ring_y) + max(ring_y))
    ny, nx = shape
    x0 = centre_x - 0.5 * nx * pixel_size_m
    y0 = centre_y + 0.5 * ny * pixel_size_m
    geotransform = np.array([x0, pixel_size_m, 0.0, y0, 0.0, -pixel_size_m])
    xs = x0 + (np.arange(nx) + 0.5) * pixel_size_m
    ys = y0 - (np.arange(ny) + 0.5) * pixel_size_m
    centres = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    inside = PolygonPath(np.column_stack([ring_x, ring_y])).contains_points(centres).reshape(ny, nx)
    if not inside.any():
        raise ValueError(f"{geojson_path}: no pixel centre of the {ny}x{nx} grid lies inside the field")
    return FieldGrid(geotransform=geotransform, crs_wkt=utm.to_wkt(), mask=~inside)


def acquisition_doys(start: date, end: date, revisit_days: int) -> np.ndarray:
    """Day-of-year of every acquisition from ``start`` to ``end`` every ``revisit_days``."""
    if end < start:
        raise ValueError(f"season end {end} is before its start {start}")
    first, last = start.timetuple().tm_yday, end.timetuple().tm_yday
    return np.arange(first, last + 1, revisit_days, dtype=np.int64)


def double_logistic(doy: np.ndarray, low: float, high: float, n0, m0, n1, m1) -> np.ndarray:
    """Green-up at ``n0`` (slope ``m0``) and senescence at ``n1`` (slope ``m1``), in days of year."""
    rise = 1.0 / (1.0 + np.exp(-m0 * (doy - n0)))
    fall = 1.0 / (1.0 + np.exp(-m1 * (doy - n1)))
    return low + (high - low) * (rise - fall)


def synthetic_arc_output(grid: FieldGrid, doys: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """ARC-format output from a double-logistic crop phenology with per-pixel variation.

    LAI and Cab follow the season; leaf water follows LAI; brown pigments
    rise with senescence; soil brightness and moisture vary by pixel. The
    per-pixel phenology (n0, m0, n1, m1) is stored in ``dat`` where ARC keeps
    its own phenology, so the file is self-describing.
    """
    rng = np.random.default_rng(seed)
    n_valid = int((~grid.mask).sum())
    doy = doys[None, :].astype(float)
    n0 = rng.normal(doys[0] + 0.25 * np.ptp(doys), 3.0, (n_valid, 1))
    n1 = rng.normal(doys[0] + 0.85 * np.ptp(doys), 3.0, (n_valid, 1))
    m0 = rng.uniform(0.08, 0.12, (n_valid, 1))
    m1 = rng.uniform(0.06, 0.10, (n_valid, 1))
    vigour = rng.normal(1.0, 0.08, (n_valid, 1))
    greenness = double_logistic(doy, 0.0, 1.0, n0, m0, n1, m1)
    physical = {
        "N": np.broadcast_to(rng.uniform(1.4, 1.7, (n_valid, 1)), greenness.shape),
        "Cab": 20.0 + 40.0 * vigour * greenness,
        "Cm": 0.004 + 0.003 * greenness,
        "Cw": 0.006 + 0.010 * greenness,
        "LAI": 0.3 + 4.5 * vigour * greenness,
        "ALA": np.broadcast_to(rng.uniform(55.0, 65.0, (n_valid, 1)), greenness.shape),
        "Cbrown": 0.05 + 0.6 / (1.0 + np.exp(-m1 * (doy - n1 - 10.0))),
    }
    bio = np.stack([physical[name] / scale for name, scale in zip(ARC_BIO_NAMES, BIO_SCALES, strict=True)], 1)
    post_bio = np.rint(bio).astype(np.int32)
    soil = np.column_stack(
        [
            rng.uniform(0.3, 0.45, n_valid),  # BSMBrightness
            np.full(n_valid, 20.0),  # BSMlat
            np.full(n_valid, 45.0),  # BSMlon
            rng.uniform(20.0, 35.0, n_valid),  # SMC
        ]
    )
    bio_scale = np.ones((n_valid, len(ARC_BIO_NAMES)))
    dat = np.column_stack([bio_scale, n0, m0, n1, m1, soil])
    assert dat.shape[1] == len(SCALE_BANDS)
    return {
        "post_bio_tensor": post_bio,
        "post_bio_unc_tensor": np.rint(0.05 * bio).astype(np.int32),
        "dat": dat,
        "mask": grid.mask,
        "doys": doys,
        "geotransform": grid.geotransform,
        "crs": np.array(grid.crs_wkt),
    }


def run_arc(
    *,
    geojson: str | Path,
    start: date,
    end: date,
    start_of_season: int,
    crop: str,
    output_npz: str | Path,
    num_samples: int,
    growth_season_length: int,
    s2_data_folder: str | Path,
    data_source: str,
) -> None:
    """Call ARC's ``arc_field``, which writes ``output_npz`` itself."""
    try:
        from arc import arc_field
    except ImportError as error:
        raise ImportError(
            "retrieval.source is 'arc' but ARC is not installed. ARC is not on PyPI: install it from its "
            "repository (pip install git+https://github.com/MarcYin/ARC; it needs GDAL and JAX), or set "
            "retrieval.source to 'npz' (an ARC output file) or 'synthetic'."
        ) from error
    arc_field(
        start.isoformat(),
        end.isoformat(),
        str(geojson),
        start_of_season,
        crop,
        str(output_npz),
        num_samples,
        growth_season_length,
        str(s2_data_folder),
        data_source,
    )


def load_arc_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ARC output NPZ, naming the file and the keys it lacks or gets wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ARC output file {path} does not exist (config key retrieval.npz.path)")
    try:
        with np.load(path, allow_pickle=False) as payload:
            data = {key: payload[key] for key in payload.files}
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a readable NPZ file: {error}") from error
    missing = [key for key in ARC_KEYS if key not in data and key != "post_bio_unc_tensor"]
    if missing:
        raise ValueError(f"{path} lacks the ARC keys {missing}; an ARC output NPZ holds {list(ARC_KEYS)}")
    ny, nx = data["mask"].shape
    n_valid = int((~data["mask"].astype(bool)).sum())
    n_dates = data["doys"].size
    expected = {"post_bio_tensor": (n_valid, len(ARC_BIO_NAMES), n_dates), "dat": (n_valid, len(SCALE_BANDS))}
    for key, shape in expected.items():
        if data[key].shape != shape:
            raise ValueError(
                f"{path}: '{key}' has shape {data[key].shape}, expected {shape} for a {ny}x{nx} mask "
                f"with {n_valid} valid pixels and {n_dates} dates"
            )
    return data


def save_arc_npz(path: str | Path, arrays: dict[str, np.ndarray], *, source: str, note: str) -> None:
    """Write ARC's keys plus ``source`` and ``note`` saying where the numbers came from."""
    np.savez_compressed(path, **arrays, source=np.array(source), note=np.array(note))
