"""The cross-site summary: each site's calibrated parameters side by side, with their uncertainty where the workflow
computed one, misfit, model evaluations and time."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .pixels import recovery
from .problems import Problem
from .tables import markdown_table

COLUMNS = [
    "site",
    "problem",
    "observations",
    "method",
    "pixels",
    "without_estimate",
    "parameter",
    "estimate",
    "sd",
    "sd_kind",
    "truth",
    "recovered",
    "misfit",
    "evaluations",
    "time_s",
]
# what `sd` is on a row (README, "Sites")
LAPLACE_AT_TRUTH = "Laplace at the truth"  # sensitivity stage, noise-free design of the twin
PIXEL_MEDIAN = "median of the pixels' Laplace sd"


def calibration_rows(site: str, summary: pd.DataFrame, laplace: Mapping[str, pd.DataFrame]) -> list[dict]:
    """One row per calibration job and parameter of a site's summary.csv; ``laplace`` (problem -> the
    sensitivity table) gives each parameter's Laplace sd where the problem has a sensitivity stage."""
    rows = []
    every = [column.removeprefix("true_") for column in summary.columns if column.startswith("true_")]
    for job in summary.to_dict("records"):
        names = [name for name in every if pd.notna(job[f"final_{name}"])]  # the summary has every problem's
        sd = laplace.get(job["problem"])
        for name in names:
            rows.append(
                dict(
                    site=site,
                    problem=job["problem"],
                    observations=job["observations"],
                    method=f"{job['optimizer']} start{job['start']}",
                    parameter=name,
                    estimate=job[f"final_{name}"],
                    sd=float(sd.set_index("parameter").loc[name, "posterior_sd"]) if sd is not None else np.nan,
                    sd_kind=LAPLACE_AT_TRUTH if sd is not None else "",
                    truth=job[f"true_{name}"],
                    recovered=float(pd.notna(job[f"recovered_at_{name}"])) if pd.notna(job[f"true_{name}"]) else np.nan,
                    misfit=job["final_misfit"],
                    evaluations=job["evaluations"],
                    time_s=job["wall_time_s"],
                )
            )
    return rows


def map_rows(site: str, problem: Problem, observations: str, maps: xr.Dataset) -> list[dict]:
    """One row per parameter of a per-pixel calibration (``pixels``: how many, ``without_estimate``: how many of
    them SCOPE gave no estimate): the median over its pixels of the estimate, Laplace sd and truth; recovered =
    share of observed pixels within the recovery zone; misfit summed over the pixels with an estimate, evaluations
    over all; the job's solver time."""
    shares = recovery(maps, problem)
    observed = maps["observations"].values > 0
    rows = []
    for name in problem.names:
        truth = maps.get(f"truth_{name}")
        rows.append(
            dict(
                site=site,
                problem=problem.name,
                observations=observations,
                method="per-pixel LM",
                pixels=int(maps.attrs["pixels"]),
                without_estimate=int(np.isnan(maps[name].values[observed]).sum()),
                parameter=name,
                estimate=float(np.nanmedian(maps[name].values)),
                sd=float(np.nanmedian(maps[f"sd_{name}"].values)),
                sd_kind=PIXEL_MEDIAN,
                truth=float(np.nanmedian(truth.values)) if truth is not None else np.nan,
                recovered=shares[name]["within_zone"] if shares else np.nan,
                misfit=float(np.nansum(maps["misfit"].values)),
                evaluations=int(maps["evaluations"].values.sum()),
                time_s=float(maps.attrs["seconds"]),
            )
        )
    return rows


def site_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["problem", "parameter", "site"], kind="stable")


def sites_markdown(table: pd.DataFrame) -> str:
    shown = table.drop(columns="sd_kind").set_index("site")
    kinds = sorted(set(table["sd_kind"]) - {""})
    notes = "".join(f"\n- sd: {kind}" for kind in kinds)
    return f"# Calibrated parameters per site\n\n{markdown_table(shown)}{notes}\n"
