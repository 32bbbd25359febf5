"""What a calibration against observations from a file achieved: fit and hold-out scores, flags, Laplace.

For the fitted and the held-out observations, before (start point) and after calibration, per target: the
misfit 0.5 sum(((model - obs) / sigma)^2), RMSE, bias (mean of model - obs) and R^2 (1 - SS_res / SS_tot).
At the calibrated point: whether the optimiser converged and why it stopped, which parameters sit at a bound,
the reduced chi-square 2 misfit / (residuals - parameters), and the Laplace standard deviations and
correlations (the sensitivity stage's machinery at the calibrated parameters, not at a truth).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .forward import run_forward
from .problems import Problem
from .sensitivity import identifiability
from .twin import with_parameters

AT_BOUND = 1e-3  # of the range: a parameter this close to a bound is flagged
# the optimisers' stop reasons that mean "converged" rather than "ran out of budget" or "failed"
NOT_CONVERGED = ("budget", "fail", "abnormal", "max", "error")


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


def solved(outputs: xr.Dataset) -> xr.DataArray:
    """(y, x, time) True where SCOPE gave a usable value: every output finite and, for the energy balance,
    converged. A non-converged cell's fluxes are not a solution (at low wind they can reach 1e16 W m-2)."""
    usable = np.isfinite(outputs.to_array()).all("variable")
    if "converged" in outputs:
        usable = usable & (outputs["converged"] == 1)
    return usable.transpose("y", "x", "time")


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
                if name != "converged"
            }
        )
        if "converged" in dataset:
            means["converged"] = (dataset["converged"].where(inside, 1) == 1).all(("y", "x")).astype(int)
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
    outputs = targets + (["converged"] if problem.workflow == "energy-balance" else [])
    run = dict(scope_root=scope_root, device=device, dtype=dtype, chunk_size=chunk_size, output_vars=outputs)
    starting = run_forward(with_parameters(inputs, result["parameters_initial"]), problem.workflow, **run)
    calibrated = run_forward(with_parameters(inputs, result["parameters_final"]), problem.workflow, **run)
    table = fit_table(observations, starting, calibrated, problem)
    both_solved = table["start_solved"].values & table["calibrated_solved"].values
    report: dict[str, Any] = {
        "scores": {},
        "unsolved_cells": {when: int((~table[f"{when}_solved"].values).sum()) for when in ("start", "calibrated")},
    }
    for role, in_role in (("fitted", ~table["held_out"].values), ("held_out", table["held_out"].values)):
        rows = in_role & both_solved
        report["scores"][role] = {
            target: {
                when: scores(
                    table[f"{target}_observed"].values[rows],
                    table[f"{target}_{column}"].values[rows],
                    table[f"{target}_sigma"].values[rows],
                )
                for when, column in (("before", "start"), ("after", "calibrated"))
            }
            for target in targets
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
