"""NetCDF files with provenance, written so a killed job never leaves a half file behind."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import xarray as xr

PROVENANCE_PACKAGES = ("scopecal", "scope-rtm", "arcope", "torch", "xarray", "numpy")


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON: equal configs give equal digests."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def provenance(config: Mapping[str, Any]) -> dict[str, str]:
    attrs = {f"version_{name.replace('-', '_')}": version(name) for name in PROVENANCE_PACKAGES}
    attrs.update(config_sha256=config_digest(config), created_utc=datetime.now(UTC).isoformat(timespec="seconds"))
    return attrs


def write_netcdf(dataset: xr.Dataset, path: str | Path, config: Mapping[str, Any]) -> None:
    """Write ``dataset`` with provenance attributes; readable with plain ``xarray.open_dataset``."""
    path = Path(path)
    dataset = dataset.copy()
    dataset.attrs.update(provenance(config))
    partial = path.with_name(f".{path.name}.partial")
    dataset.to_netcdf(partial, engine="netcdf4")
    os.replace(partial, path)
