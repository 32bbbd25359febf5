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
    """Misfit, RMSE, bias and R^2 of ``model`` against ``observed`` (1-D, same cells)."""
    difference = model - observed
    spread = float(((observed - observed.mean()) ** 2).sum()) if observed.size else 0.0
    return {
        "n": int(observed.size),
        "misfit": float(0.5 * ((difference / sigma) ** 2).sum()),
        "rmse": float(np.sqrt((difference**2).mean())) if observed.size else float("nan"),
        "bias": float(difference.mean()) if observed.size else float("nan"),
        "r2": float(1.0 - (difference**2).sum() / spread) if spread > 0 else float("nan"),
    }


def fit_table(observations: xr.Dataset, starting: xr.Dataset, calibrated: xr.Dataset, problem: Problem) -> xr.Dataset:
    """Every valid observation (fitted or held out) as one row: time, pixel, role, and per target the
    observation, its sigma and the model at the start and at the calibrated point."""
    valid = (observations["observed"] | observations["holdout"]).transpose("y", "x", "time")
    iy, ix, it = np.nonzero(valid.values)
    cell = {"cell": np.arange(iy.size)}
    table = xr.Dataset(
        {
            "time": ("cell", observations["time"].values[it]),
            "y": ("cell", iy),
            "x": ("cell", ix),
            "held_out": ("cell", observations["holdout"].transpose("y", "x", "time").values[iy, ix, it]),
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
        table[f"{name}_start"] = ("cell", at(starting, name), {"units": units})
        table[f"{name}_calibrated"] = ("cell", at(calibrated, name), {"units": units})
    return table


def assess(
    inputs: xr.Dataset,
    observations: xr.Dataset,
    problem: Problem,
    result: Mapping[str, Any],
    *,
    jacobian: np.ndarray,
    scope_root: str | Path,
    device: str,
    dtype: str,
    chunk_size: int | None,
) -> tuple[dict, xr.Dataset]:
    """The validation report of one calibration job and its fit table; ``jacobian``: of the weighted
    residuals at the calibrated point, in scaled parameters (``Objective.evaluate(..., "jacobian")``)."""
    targets = [t.name for t in problem.targets]
    run = dict(scope_root=scope_root, device=device, dtype=dtype, chunk_size=chunk_size, output_vars=targets)
    starting = run_forward(with_parameters(inputs, result["parameters_initial"]), problem.workflow, **run)
    calibrated = run_forward(with_parameters(inputs, result["parameters_final"]), problem.workflow, **run)
    table = fit_table(observations, starting, calibrated, problem)
    report: dict[str, Any] = {"scores": {}}
    for role, rows in (("fitted", ~table["held_out"].values), ("held_out", table["held_out"].values)):
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
    laplace = identifiability(jacobian, problem, values=final)
    n_residuals = jacobian.shape[0]
    stop = str(result["stop_reason"])
    report.update(
        parameters={
            p.name: {
                "value": float(value),
                "laplace_sd": float(sd),
                "at_lower_bound": bool(value - p.lower <= AT_BOUND * p.span),
                "at_upper_bound": bool(p.upper - value <= AT_BOUND * p.span),
            }
            for p, value, sd in zip(problem.parameters, final, laplace["posterior_sd"], strict=True)
        },
        laplace_correlation={
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
    lines = [
        f"# {title}\n",
        f"Stopped: {report['stop_reason']} (converged: {'yes' if report['converged'] else 'no'}). Reduced "
        f"chi-square {report['reduced_chi_square']:.3g} over {report['residuals']} residuals; Jacobian condition "
        f"number {report['jacobian_condition_number']:.3g}.\n",
        "| parameter | calibrated | Laplace sd | at a bound |",
        "|---|---|---|---|",
    ]
    for name, entry in report["parameters"].items():
        bound = "lower" if entry["at_lower_bound"] else "upper" if entry["at_upper_bound"] else ""
        lines.append(f"| {name} | {entry['value']:.4g} | {entry['laplace_sd']:.3g} | {bound} |")
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
