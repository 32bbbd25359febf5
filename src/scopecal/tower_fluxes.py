"""Flux-tower observation files: what FLUXNET and PLUMBER2 call SCOPE's fluxes, and energy-balance closure.

With ``format: fluxnet`` (FLUXNET2015 / ONEFlux / AmeriFlux BASE) or ``format: plumber2`` (ALMA NetCDF) an
observation set needs only the targets: latent heat ``lEtot`` is the file's LE_F_MDS or LE (Qle), sensible heat
``Htot`` its H_F_MDS or H (Qh), in W m-2, fitted where their quality flag says measured (``_QC`` / ``_qc`` 0).

Eddy-covariance fluxes close the energy balance only in part: LE + H is commonly 70-80 % of the available energy
Rn - G. The set's ``closure`` says what is fitted: ``measured`` (the fluxes as they are), ``corrected`` (the
file's closure-corrected LE_CORR / H_CORR, Qle_cor / Qh_cor) or ``bowen_ratio``: each LE and H scaled by
sum(Rn - G) / sum(LE + H) over a centred window of ``window_days``, which closes the balance and keeps the
Bowen ratio H / LE. The closure fraction sum(LE + H) / sum(Rn - G) of the measured fluxes is reported whatever
the choice, where the file has Rn and G.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .tower_weather import PRESET_QUALITY_SUFFIX, to_units

FLUX_UNITS = "W m-2"
MEASURED = [0]  # FLUXNET and PLUMBER2 quality flag of a measured (not gap-filled) value
CLOSURES = ("measured", "corrected", "bowen_ratio")
DEFAULT_WINDOW_DAYS = 5.0
# SCOPE target -> (measured columns, closure-corrected columns), first found is read
PRESET_FLUXES = {
    "fluxnet": {"lEtot": (("LE_F_MDS", "LE"), ("LE_CORR",)), "Htot": (("H_F_MDS", "H"), ("H_CORR",))},
    "plumber2": {"lEtot": (("Qle",), ("Qle_cor",)), "Htot": (("Qh",), ("Qh_cor",))},
}
PRESET_AVAILABLE_ENERGY = {
    "fluxnet": {"net_radiation": ("NETRAD",), "ground_heat": ("G_F_MDS", "G")},
    "plumber2": {"net_radiation": ("Rnet",), "ground_heat": ("Qg",)},
}


def first_present(candidates: Sequence[str], available: Sequence[str]) -> str | None:
    return next((name for name in candidates if name in available), None)


def required_column(candidates: Sequence[str], available: Sequence[str], needs: str, target: str) -> str:
    """The first of ``candidates`` the file has; an error saying who ``needs`` them and what the file has."""
    name = first_present(candidates, available)
    if name is None:
        raise ValueError(f"{needs} {' or '.join(candidates)} for {target}; the file has {list(available)}")
    return name


def closure_settings(closure: Mapping[str, Any] | None) -> dict[str, Any]:
    settings = {"method": "measured", "window_days": DEFAULT_WINDOW_DAYS, **(closure or {})}
    if settings["method"] not in CLOSURES:
        raise ValueError(f"closure.method {settings['method']!r} is not one of {list(CLOSURES)}")
    return settings


def preset_variables(
    variables: Mapping[str, Mapping[str, Any]],
    file_format: str,
    available: Sequence[str],
    closure: Mapping[str, Any],
    where: str,
) -> dict[str, dict]:
    """Each target's entry with the preset's column, units and quality flag where the config leaves them out
    (the corrected column under ``closure: corrected``); a plain file's entries must name both."""
    filled = {}
    for target, entry in variables.items():
        entry = dict(entry)
        preset = PRESET_FLUXES.get(file_format, {}).get(target)
        if preset is not None and not entry.get("name"):
            measured = required_column(preset[0], available, f"{where}: the {file_format} format expects", target)
            entry["name"] = measured
            if closure["method"] == "corrected":
                entry["name"] = required_column(preset[1], available, f"{where}: closure corrected needs", target)
            entry.setdefault("units", FLUX_UNITS)
            flag = measured + PRESET_QUALITY_SUFFIX[file_format]
            if "quality" not in entry and flag in available:
                entry["quality"] = {"name": flag, "accept": MEASURED}
        missing = [key for key in ("name", "units") if not entry.get(key)]
        if missing:
            known = (
                f" (the {file_format} format knows {sorted(PRESET_FLUXES[file_format])})"
                if preset is None and file_format in PRESET_FLUXES
                else ""
            )
            raise ValueError(f"{where}: variables.{target} needs {' and '.join(missing)}{known}")
        filled[target] = entry
    return filled


def available_energy_columns(
    closure: Mapping[str, Any], file_format: str, available: Sequence[str]
) -> dict[str, dict] | None:
    """{net_radiation, ground_heat} -> {name, units} from the config or the preset; None where the file lacks one."""
    columns = {}
    for term in ("net_radiation", "ground_heat"):
        given = closure.get(term)
        if given:
            columns[term] = dict(given)
            continue
        name = first_present(PRESET_AVAILABLE_ENERGY.get(file_format, {}).get(term, ()), available)
        if name is None:
            return None
        columns[term] = {"name": name, "units": FLUX_UNITS}
    if any(column["name"] not in available for column in columns.values()):
        return None
    return columns


def flux_terms(
    dataset: xr.Dataset, variables: Mapping[str, Mapping[str, Any]], energy: Mapping[str, Mapping[str, Any]], path: Path
) -> pd.DataFrame:
    """LE, H, Rn and G in W m-2 over time, NaN where missing or flagged: the measured fluxes' own quality."""

    def series(entry: Mapping[str, Any]) -> np.ndarray:
        values = dataset[entry["name"]].values.astype(float)
        quality = entry.get("quality")
        if quality and quality["name"] in dataset:
            values = np.where(np.isin(dataset[quality["name"]].values, quality["accept"]), values, np.nan)
        return to_units(values, entry.get("units"), FLUX_UNITS, f"{path}: {entry['name']}")

    return pd.DataFrame(
        {
            "LE": series(variables["lEtot"]),
            "H": series(variables["Htot"]),
            "Rn": series(energy["net_radiation"]),
            "G": series(energy["ground_heat"]),
        },
        index=pd.DatetimeIndex(dataset["time"].values),
    )


def closure_fraction(terms: pd.DataFrame) -> float:
    """sum(LE + H) / sum(Rn - G) over the records where all four are valid."""
    complete = terms.dropna()
    available = float((complete["Rn"] - complete["G"]).sum())
    return float((complete["LE"] + complete["H"]).sum()) / available if available > 0 else float("nan")


def bowen_ratio_factor(terms: pd.DataFrame, window_days: float) -> np.ndarray:
    """Per record, sum(Rn - G) / sum(LE + H) over the complete records within a centred window of ``window_days``:
    LE and H times it close the balance over the window and keep H / LE. NaN where the window has no record."""
    complete = terms.dropna()
    window = pd.Timedelta(days=window_days)
    sums = (
        pd.DataFrame({"available": complete["Rn"] - complete["G"], "turbulent": complete["LE"] + complete["H"]})
        .rolling(window, center=True)
        .sum()
    )
    factor = (sums["available"] / sums["turbulent"]).where(sums["turbulent"] > 0)
    if factor.empty:
        return np.full(len(terms), np.nan)
    # every record takes the factor of the nearest complete record's window, if that record is within half a window
    return factor.reindex(terms.index, method="nearest", tolerance=window / 2).to_numpy()
