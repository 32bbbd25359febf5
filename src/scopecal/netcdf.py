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


def canonical_json(settings: Mapping[str, Any]) -> str:
    """Settings as JSON with sorted keys: equal settings give equal text."""
    return json.dumps(settings, sort_keys=True, default=str)


def config_digest(settings: Mapping[str, Any]) -> str:
    """SHA-256 of settings (a config, or the part of it a job reads) as canonical JSON."""
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()


def provenance(params: Mapping[str, Any]) -> dict[str, str]:
    """Package versions, and what the job read from the config: its params (JSON) and their SHA-256.

    Only those params, not the whole config: a key the job does not read (a Slurm partition, another problem)
    neither re-runs it nor changes its provenance.
    """
    attrs = {f"version_{name.replace('-', '_')}": version(name) for name in PROVENANCE_PACKAGES}
    attrs.update(
        params_json=canonical_json(params),
        params_sha256=config_digest(params),
        created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return attrs


def write_netcdf(dataset: xr.Dataset, path: str | Path, params: Mapping[str, Any]) -> None:
    """Write ``dataset`` with provenance attributes; readable with plain ``xarray.open_dataset``.

    ``params``: the settings the job read, in a workflow script ``dict(snakemake.params.items())``.
    """
    path = Path(path)
    dataset = dataset.copy()
    dataset.attrs.update(provenance(params))
    partial = path.with_name(f".{path.name}.partial")
    dataset.to_netcdf(partial, engine="netcdf4")
    os.replace(partial, path)
