"""What a calibration against observations from a file achieved: fit and hold-out scores, flags, Laplace.

For the fitted and the held-out observations, before (start point) and after calibration, per target: the
misfit 0.5 sum(((model - obs) / sigma)^2), RMSE, bias (mean of model - obs) and R^2 (1 - SS_res / SS_tot).
At the calibrated point: whether the optimiser converged and why it stopped, which parameters sit at a bound,
the reduced chi-square 2 misfit / (residuals - parameters), and the Laplace standard deviations and
correlations (the sensitivity stage's machinery at the calibrated parameters, not at a truth). From the fit
table: a CalLMIP-style table of the calibration (fitted) and validation (held-out) periods, and diurnal composites.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from arc_scope.utils.io import load_geojson_centroid

from .forward import run_forward, solved
from .problems import Problem
from .sensitivity import identifiability
from .tables import markdown_table
from .twin import with_parameters

AT_BOUND = 1e-3  # of the range: a parameter this close to a bound is flagged
# the optimisers' stop reasons that mean "converged" rather than "ran out of budget" or "failed"
NOT_CONVERGED = ("budget", "fail", "abnormal", "max", "error")
ROLES = ("fitted", "held_out")  # the fit table's observations: fitted, or held out of the fit and scored


def scores(observed: np.ndarray, model: np.ndarray, sigma: np.ndarray) -> dict[str, float | int]:
    """Misfit, RMSE, bias and R^2 of ``model`` against ``observed`` (1-D, same cells, all finite)."""
    difference = model - observed
    spread = float(((observed - observed.mean()) ** 2).sum()) if observed.size else 0.0
    return {
        "n": int(observed.size),
        "misfit": float(0.5 * ((difference / sigma) ** 2).sum()),
        "rmse": float(np.sqrt((difference**2).mean())) if observed.size else float("nan"),
        "bias": float(difference.mean()) if observed.size else float("nan"),
        "r2": float(1.0 - (difference**2).sum() / spread) if spread > 0 else float("nan"),
    }


def on_footprint(observations: xr.Dataset, outputs: list[xr.Dataset]) -> tuple[xr.Dataset, list[xr.Dataset]]:
    """A footprint set and model outputs on one pixel (the footprint's first): the observations as recorded
    there, each output as the footprint-weighted mean of its pixels, solved where all of them are."""
    weight = observations["footprint_weight"]
    inside = weight > 0
    iy, ix = np.argwhere(inside.values)[0]
    pixel = {"y": [iy], "x": [ix]}

    def mean(dataset: xr.Dataset) -> xr.Dataset:
        means = xr.Dataset(
            {
                name: (variable.where(inside, 0.0) * weight).sum(("y", "x"), skipna=False)
                for name, variable in dataset.data_vars.items()
                if name != "max_error"
            }
        )
        if "max_error" in dataset:  # a footprint is solved where each of its cells is
            means["max_error"] = dataset["max_error"].where(inside, 0.0).max(("y", "x"), skipna=False)
        return means.expand_dims(y=weight["y"].values[[iy]], x=weight["x"].values[[ix]]).transpose("y", "x", "time")

    return observations.drop_vars("footprint_weight").isel(pixel), [mean(dataset) for dataset in outputs]


def fit_table(observations: xr.Dataset, starting: xr.Dataset, calibrated: xr.Dataset, problem: Problem) -> xr.Dataset:
    """Every valid observation (fitted or held out) as one row: time, pixel, role, and per target the
    observation, its sigma and the model at the start and at the calibrated point (NaN where SCOPE gave no
    usable value there: ``start_solved`` / ``calibrated_solved`` say where). A footprint observation is one
    row a time, at the footprint's first pixel, modelled by the footprint-weighted mean."""
    if "footprint_weight" in observations:
        observations, (starting, calibrated) = on_footprint(observations, [starting, calibrated])
    valid = (observations["observed"] | observations["holdout"]).transpose("y", "x", "time")
    iy, ix, it = np.nonzero(valid.values)
    cell = {"cell": np.arange(iy.size)}
    table = xr.Dataset(
        {
            "time": ("cell", observations["time"].values[it]),
            "y": ("cell", iy),
            "x": ("cell", ix),
            "held_out": ("cell", observations["holdout"].transpose("y", "x", "time").values[iy, ix, it]),
            "start_solved": ("cell", solved(starting).values[iy, ix, it]),
            "calibrated_solved": ("cell", solved(calibrated).values[iy, ix, it]),
        },
        coords=cell,
    )
    for target in problem.targets:
        name = target.name

        def at(dataset: xr.Dataset, variable: str) -> np.ndarray:
            return dataset[variable].transpose("y", "x", "time").values[iy, ix, it]

        units = observations[name].attrs.get("units", "")
        table[f"{name}_observed"] = ("cell", at(observations, name), {"units": units})
        table[f"{name}_sigma"] = ("cell", at(observations, f"sigma_{name}"), {"units": units})
        for when in ("start", "calibrated"):
            model = at(starting if when == "start" else calibrated, name)
            table[f"{name}_{when}"] = (
                "cell",
                np.where(table[f"{when}_solved"].values, model, np.nan),
                {"units": units},
            )
    return table


def in_role(table: xr.Dataset, role: str) -> np.ndarray:
    """The fit table's rows of ``role``: "fitted" or "held_out"."""
    held_out = table["held_out"].values.astype(bool)
    return held_out if role == "held_out" else ~held_out


def scored_rows(table: xr.Dataset, target: str) -> np.ndarray:
    """The fit table's rows that score ``target``: SCOPE gave a usable value at the start and at the calibrated
    point, and the observation, its sigma and both model values are finite (the solved flags already imply the
    model's; the check keeps any other non-finite value out of a score)."""
    columns = [f"{target}_{column}" for column in ("observed", "sigma", "start", "calibrated")]
    finite = np.logical_and.reduce([np.isfinite(table[column].values) for column in columns])
    return table["start_solved"].values & table["calibrated_solved"].values & finite


def before_and_after(table: xr.Dataset, target: str, rows: np.ndarray) -> dict[str, dict[str, float | int]]:
    """``scores`` of ``target`` over the fit table's ``rows``: before (at the start) and after calibration."""
    return {
        when: scores(
            table[f"{target}_observed"].values[rows],
            table[f"{target}_{column}"].values[rows],
            table[f"{target}_sigma"].values[rows],
        )
        for when, column in (("before", "start"), ("after", "calibrated"))
    }


def role_scores(table: xr.Dataset, targets: list[str]) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """Per role (fitted, held out) and target, the scores before and after calibration over the rows that score
    the target at both points (``scored_rows``)."""
    return {
        role: {
            target: before_and_after(table, target, in_role(table, role) & scored_rows(table, target))
            for target in targets
        }
        for role in ROLES
    }


def assess(
    inputs: xr.Dataset,
    observations: xr.Dataset,
    problem: Problem,
    result: Mapping[str, Any],
    *,
    jacobian: np.ndarray | None,
    n_residuals: int,
    scope_root: str | Path,
    device: str,
    dtype: str,
    chunk_size: int | None,
) -> tuple[dict, xr.Dataset]:
    """The validation report of one calibration job and its fit table.

    ``jacobian``: of the weighted residuals at the calibrated point, in scaled parameters
    (``Objective.evaluate(..., "jacobian")``), None where that evaluation failed; ``n_residuals``: the
    objective's residual count. Scores compare the same cells before and after: those where SCOPE gave a usable
    value at both points (the others are counted in ``unsolved_cells``).
    """
    targets = [t.name for t in problem.targets]
    outputs = targets + (["max_error"] if problem.workflow == "energy-balance" else [])
    run = dict(scope_root=scope_root, device=device, dtype=dtype, chunk_size=chunk_size, output_vars=outputs)
    starting = run_forward(with_parameters(inputs, result["parameters_initial"]), problem.workflow, **run)
    calibrated = run_forward(with_parameters(inputs, result["parameters_final"]), problem.workflow, **run)
    table = fit_table(observations, starting, calibrated, problem)
    report: dict[str, Any] = {
        "scores": role_scores(table, targets),
        "unsolved_cells": {when: int((~table[f"{when}_solved"].values).sum()) for when in ("start", "calibrated")},
    }
    final = np.array([result["parameters_final"][name] for name in problem.names])
    laplace = (
        identifiability(jacobian, problem, values=final)
        if jacobian is not None
        else {"posterior_sd": [None] * len(final), "correlation": None, "condition_number": None}
    )
    stop = str(result["stop_reason"])
    report.update(
        parameters={
            p.name: {
                "value": float(value),
                "laplace_sd": None if sd is None else float(sd),
                "at_lower_bound": bool(value - p.lower <= AT_BOUND * p.span),
                "at_upper_bound": bool(p.upper - value <= AT_BOUND * p.span),
            }
            for p, value, sd in zip(problem.parameters, final, laplace["posterior_sd"], strict=True)
        },
        laplace_correlation=None
        if laplace["correlation"] is None
        else {
            a: dict(zip(problem.names, map(float, row), strict=True))
            for a, row in zip(problem.names, laplace["correlation"], strict=True)
        },
        jacobian_condition_number=laplace["condition_number"],
        converged=not any(word in stop.lower() for word in NOT_CONVERGED),
        stop_reason=stop,
        residuals=n_residuals,
        reduced_chi_square=2.0 * result["final_misfit"] / max(n_residuals - len(final), 1),
    )
    return report, table


def markdown(report: Mapping[str, Any], title: str) -> str:
    """The report as Markdown: parameters with Laplace sd and flags, then scores before/after per target."""
    condition = report["jacobian_condition_number"]
    unsolved = report["unsolved_cells"]
    lines = [
        f"# {title}\n",
        f"Stopped: {report['stop_reason']} (converged: {'yes' if report['converged'] else 'no'}). Reduced "
        f"chi-square {report['reduced_chi_square']:.3g} over {report['residuals']} residuals; Jacobian condition "
        + (f"number {condition:.3g}." if condition is not None else "number: none, SCOPE failed at this point.")
        + f" Cells without a usable SCOPE value (left out of the scores): {unsolved['start']} at the start, "
        f"{unsolved['calibrated']} calibrated.\n",
        "| parameter | calibrated | Laplace sd | at a bound |",
        "|---|---|---|---|",
    ]
    for name, entry in report["parameters"].items():
        bound = "lower" if entry["at_lower_bound"] else "upper" if entry["at_upper_bound"] else ""
        sd = "–" if entry["laplace_sd"] is None else f"{entry['laplace_sd']:.3g}"
        lines.append(f"| {name} | {entry['value']:.4g} | {sd} | {bound} |")
    lines += [
        "",
        "| observations | target | n | RMSE before | RMSE after | bias before | bias after | R² before | R² after "
        "| misfit before | misfit after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for role, targets in report["scores"].items():
        for target, entry in targets.items():
            before, after = entry["before"], entry["after"]
            lines.append(
                f"| {role.replace('_', ' ')} | {target} | {after['n']} | {before['rmse']:.4g} | {after['rmse']:.4g} "
                f"| {before['bias']:.3g} | {after['bias']:.3g} | {before['r2']:.3f} | {after['r2']:.3f} "
                f"| {before['misfit']:.4g} | {after['misfit']:.4g} |"
            )
    return "\n".join(lines) + "\n"


# --- CalLMIP-style table: calibration and validation periods, default and calibrated scores ---------------------

# CalLMIP's names for the fit table's roles: the fitted observations span the calibration period, the held-out ones
# the validation period
PERIODS = {"fitted": "calibration", "held_out": "validation"}
TIME_FORMAT = "%Y-%m-%d %H:%M"
JOB_COLUMNS = {"problem": "problem", "observations": "observation_set", "optimizer": "optimizer", "start": "start"}
SCORE_NAMES = {"rmse": "RMSE", "bias": "bias", "r2": "R²"}


def misfit_reduction(before: float, after: float) -> float:
    """1 - misfit after / misfit before; NaN where there was no misfit to reduce (no scored cell, a perfect start)."""
    return 1.0 - after / before if before > 0 else float("nan")


def callmip_table(table: xr.Dataset, report: Mapping[str, Any]) -> pd.DataFrame:
    """The CalLMIP-style table of one calibration job: one row per period and target.

    ``table``: the job's fit table (``fit_table``, or fit.nc read back); ``report``: its validation report, whose
    scores (``role_scores`` of the same table) are taken as they are. Per period (calibration: the fitted
    observations; validation: the held-out ones; a period without observations has no rows): the first and last
    observation time (UTC), the number of observations and of those where SCOPE gave no usable value at the start
    or at the calibrated point (left out of the scores). Per target: the scored observations, RMSE, bias, R² and
    misfit at the start and calibrated, and the misfit reduction. A score without a value (no scored cell, or R²
    of a constant observation) is NaN; any other non-finite number stops with the cell it is in.
    """
    job = {column: report[key] for key, column in JOB_COLUMNS.items() if key in report}
    times = pd.DatetimeIndex(table["time"].values)
    start_solved = table["start_solved"].values.astype(bool)
    calibrated_solved = table["calibrated_solved"].values.astype(bool)
    rows = []
    for role in ROLES:
        members = in_role(table, role)
        if not members.any():
            continue
        period = {
            "period": PERIODS[role],
            "first_utc": times[members].min().strftime(TIME_FORMAT),
            "last_utc": times[members].max().strftime(TIME_FORMAT),
            "n_observations": int(members.sum()),
            "n_unsolved_start": int((members & ~start_solved).sum()),
            "n_unsolved_calibrated": int((members & ~calibrated_solved).sum()),
        }
        for target, entry in report["scores"][role].items():
            before, after = entry["before"], entry["after"]
            n_scored = int((members & scored_rows(table, target)).sum())
            if before["n"] != n_scored or after["n"] != n_scored:
                raise ValueError(
                    f"the report scores {after['n']} {role} {target} observations, its fit table {n_scored}: "
                    "they are not of the same calibration job"
                )
            rows.append(
                {
                    **job,
                    **period,
                    "target": target,
                    "units": table[f"{target}_observed"].attrs.get("units", ""),
                    "n_scored": n_scored,
                    **{
                        f"{score}_{when}": float(entry[key][score])
                        for score in (*SCORE_NAMES, "misfit")
                        for when, key in (("start", "before"), ("calibrated", "after"))
                    },
                    "misfit_reduction": misfit_reduction(before["misfit"], after["misfit"]),
                }
            )
    frame = pd.DataFrame(rows)
    numbers = frame.select_dtypes("number")
    infinite = np.isinf(numbers.to_numpy(dtype=float))
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise ValueError(f"CalLMIP table: {numbers.columns[column]} is infinite in row {frame.iloc[row].to_dict()}")
    return frame


def callmip_markdown(frame: pd.DataFrame, title: str) -> str:
    """A CalLMIP table (``callmip_table``) as Markdown: the periods, then the scores per period and target."""
    periods = frame.drop_duplicates("period").set_index("period")[
        ["first_utc", "last_utc", "n_observations", "n_unsolved_start", "n_unsolved_calibrated"]
    ]
    periods.columns = [
        "first (UTC)",
        "last (UTC)",
        "observations",
        "no usable SCOPE value at the start",
        "no usable SCOPE value calibrated",
    ]
    scores_columns = {"n_scored": "n"}
    for score, label in SCORE_NAMES.items():
        scores_columns |= {f"{score}_start": f"{label} start", f"{score}_calibrated": f"{label} calibrated"}
    scores_columns["misfit_reduction"] = "misfit reduction"
    target_label = [
        f"{target} ({units})" if units else target
        for target, units in zip(frame["target"], frame["units"], strict=True)
    ]
    scored = frame.assign(target=target_label).set_index(["period", "target"])[list(scores_columns)]
    scored.columns = list(scores_columns.values())
    no_validation = (
        []
        if PERIODS["held_out"] in periods.index
        else ["No validation period: no observation was held out of the fit (the observation set's `holdout`).\n"]
    )
    return "\n".join(
        [
            f"# {title}\n",
            "CalLMIP-style summary. Calibration period: the fitted observations; validation period: the held-out "
            "ones. Start: the job's starting parameters; calibrated: its final ones. Misfit reduction: 1 − misfit "
            "calibrated / misfit start, misfit ½ Σ((model − observation) / σ)². Scores are over the observations "
            "where SCOPE gave a usable value at both points (n); the others are counted below and left out.\n",
            markdown_table(periods),
            *no_validation,
            markdown_table(scored),
        ]
    )


COMPOSITE_BIN_HOURS = 0.5  # a diurnal composite's bins: half-hours of day, a flux tower's interval


def hour_of_day(times: np.ndarray, longitude: float | None = None) -> np.ndarray:
    """Hour of day (0 to 24) of UTC ``times``: local mean solar time, UTC + longitude / 15 h, where a longitude
    (degrees east) is given, else UTC."""
    stamps = pd.DatetimeIndex(times)
    hours = stamps.hour + stamps.minute / 60.0 + stamps.second / 3600.0
    return np.mod(np.asarray(hours) + (0.0 if longitude is None else longitude / 15.0), 24.0)


def diurnal_composite(
    table: xr.Dataset, target: str, rows: np.ndarray, *, longitude: float | None = None
) -> pd.DataFrame:
    """The mean diurnal cycle of ``target`` over the fit table's ``rows``, on the cells that score it
    (``scored_rows``: the same cells as the scores, so observation and model means compare like with like).

    One row per half-hour of day with observations (``hour_of_day``: local mean solar time with a longitude,
    else UTC), indexed by the bin's middle in hours: ``n`` observations, the mean ``observed``, its standard
    deviation within the bin ``observed_sd``, and the mean model at the ``start`` and ``calibrated``."""
    used = rows & scored_rows(table, target)
    hours = hour_of_day(table["time"].values[used], longitude)
    middle = (np.floor(hours / COMPOSITE_BIN_HOURS) + 0.5) * COMPOSITE_BIN_HOURS
    cells = pd.DataFrame(
        {column: table[f"{target}_{column}"].values[used] for column in ("observed", "start", "calibrated")},
        index=pd.Index(middle, name="hour"),
    )
    bins = cells.groupby(level="hour")
    composite = bins.mean()
    composite.insert(0, "n", bins.size())
    composite.insert(2, "observed_sd", bins["observed"].std(ddof=0))
    return composite


def solar_time_longitude(location: Mapping[str, Any] | str | None, geojson: str | Path) -> float:
    """The longitude (degrees east) local solar time is reckoned at: an observation set's point location, else the
    field's centre (as the observations stage takes it for daily means)."""
    if isinstance(location, Mapping) and "lon" in location:
        return float(location["lon"])
    return float(load_geojson_centroid(geojson)[0])
