"""Sensitivity and identifiability of a problem at its truth, on its noise-free observation set.

One-at-a-time sensitivity: the misfit when one parameter moves by ±10% of its range from the truth (clipped to
the bounds), the others at the truth. Local identifiability from the Jacobian of the residuals at the truth
(residuals are already divided by the observation error sigma, so J^T J is the Gauss-Newton approximation of
the Hessian of the misfit): singular values and condition number of J (scaled coordinates, as the optimisers
see the problem), the Laplace posterior covariance (J_p^T J_p)^-1 in physical units (J_p = J du/dp by the
chain rule), its standard deviations and correlation matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .problems import Parameter, Problem

STEP = 0.10  # of the parameter range, one-at-a-time


def scaled_derivative(parameter: Parameter, value: float) -> float:
    """du/dp of the parameter's transform at physical ``value``."""
    if parameter.transform == "log":
        return 1.0 / (value * (np.log(parameter.upper) - np.log(parameter.lower)))
    if parameter.transform == "logit":
        fraction = np.clip((value - parameter.lower) / parameter.span, 1e-12, 1 - 1e-12)
        return 1.0 / (parameter.span * fraction * (1 - fraction))
    return 1.0 / parameter.span


def one_at_a_time(objective, problem: Problem, step: float = STEP) -> pd.DataFrame:
    """Misfit at the truth with each parameter moved down and up by ``step`` of its range (clipped)."""
    truth = problem.truth
    rows = []
    for index, parameter in enumerate(problem.parameters):
        row = {"parameter": parameter.name, "truth": parameter.truth}
        for side, sign in (("minus", -1.0), ("plus", 1.0)):
            values = truth.copy()
            values[index] = np.clip(parameter.truth + sign * step * parameter.span, parameter.lower, parameter.upper)
            row[f"value_{side}"] = values[index]
            row[f"misfit_{side}"] = objective.evaluate(problem.to_scaled(values)).misfit
        rows.append(row)
    return pd.DataFrame(rows)


def identifiability(jacobian: np.ndarray, problem: Problem, values: np.ndarray | None = None) -> dict:
    """Singular values and condition number of the scaled Jacobian; Laplace posterior standard deviations and
    correlation matrix in physical units at ``values`` (default: the truth), where the Jacobian was taken. A
    singular J^T J gives infinite standard deviations (pseudo-inverse for the correlations)."""
    jacobian = np.asarray(jacobian, dtype=float)
    singular = np.linalg.svd(jacobian, compute_uv=False)
    full_rank = np.linalg.matrix_rank(jacobian) == jacobian.shape[1]
    condition = float(singular[0] / singular[-1]) if full_rank else float("inf")
    at = problem.truth if values is None else values
    chain = np.array([scaled_derivative(p, value) for p, value in zip(problem.parameters, at, strict=True)])
    physical = jacobian * chain  # d r / d p = d r / d u * du/dp, column by column
    information = physical.T @ physical
    rank = np.linalg.matrix_rank(information)
    covariance = np.linalg.pinv(information) if rank < len(chain) else np.linalg.inv(information)
    sd = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    if rank < len(chain):  # directions in the null space of J are not constrained at all
        null = np.linalg.svd(physical)[2][rank:]
        sd = np.where(np.abs(null).max(0) > 1e-8, np.inf, sd)
    scale = np.sqrt(np.clip(np.diag(covariance), 1e-300, None))
    correlation = covariance / np.outer(scale, scale)
    correlation = 0.5 * (correlation + correlation.T)
    np.fill_diagonal(correlation, 1.0)
    return dict(
        singular_values=singular,
        condition_number=condition,
        rank=int(rank),
        posterior_sd=sd,
        correlation=correlation,
        covariance=covariance,
    )


def analyse(objective, problem: Problem, step: float = STEP) -> tuple[pd.DataFrame, dict]:
    """The one-at-a-time table with the Laplace standard deviations, and the identifiability results."""
    evaluation = objective.evaluate(problem.to_scaled(problem.truth), derivative="jacobian")
    result = identifiability(evaluation.jacobian, problem)
    result["misfit_truth"] = evaluation.misfit
    table = one_at_a_time(objective, problem, step)
    spans = np.array([p.span for p in problem.parameters])
    table["posterior_sd"] = result["posterior_sd"]
    table["posterior_sd_of_range"] = result["posterior_sd"] / spans
    table["recovery_zone_half_width"] = 0.05 * spans
    return table, result


def markdown(table: pd.DataFrame, result: dict, problem: Problem, observations: str = "clean") -> str:
    from .tables import markdown_table

    correlation = pd.DataFrame(result["correlation"], index=problem.names, columns=problem.names)
    correlation.index.name = "parameter"
    singular = ", ".join(f"{s:.4g}" for s in result["singular_values"])
    return "\n".join(
        [
            f"# Sensitivity and identifiability: {problem.name} ({observations} observations)\n",
            f"Misfit at the truth: {result['misfit_truth']:.3g}. Jacobian (scaled parameters, residuals / sigma): "
            f"rank {result['rank']} of {len(problem.names)}, singular values {singular}, condition number "
            f"{result['condition_number']:.4g}.\n",
            f"## One-at-a-time: misfit with one parameter moved by ±{STEP:.0%} of its range; Laplace posterior "
            "standard deviation sqrt(diag((J^T J)^-1)), physical units\n",
            markdown_table(table.set_index("parameter")),
            "## Laplace posterior correlation matrix\n",
            markdown_table(correlation.round(3)),
        ]
    )
