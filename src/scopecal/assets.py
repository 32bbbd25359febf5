"""The upstream SCOPE asset folder: check it, or fetch it with scope-rtm."""

from __future__ import annotations

import subprocess
from pathlib import Path

# What scope-rtm reads from the asset folder. FLEX-S3_std.atm is deliberately
# absent: nothing in this workflow needs it (see README, "SCOPE assets").
REQUIRED_FILES = (
    "input/filenames.csv",
    "input/fluspect_parameters/Optipar2021_ProspectPRO_CX.mat",
    "input/soil_spectra/soilnew.txt",
    "input/radiationdata/Esun_.dat",
    "input/radiationdata/Esky_.dat",
)


def check_scope_assets(root: str | Path) -> Path:
    """Return ``root`` resolved, or raise naming every missing file."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(
            f"SCOPE asset folder {root} does not exist (config key scope_assets). "
            "Point it at a copy of the upstream SCOPE repository, or leave it empty to fetch one."
        )
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"SCOPE asset folder {root} (config key scope_assets) lacks: {', '.join(missing)}")
    return root


def fetch_scope_assets(dest: str | Path) -> Path:
    """Fetch the pinned upstream SCOPE checkout with scope-rtm's CLI, then check it."""
    subprocess.run(["scope", "fetch-upstream", "--dest", str(dest)], check=True)
    return check_scope_assets(dest)
