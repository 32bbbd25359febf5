"""What a calibration trace says: evaluations to the baseline misfit, to recovery, and the final state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .problems import Problem

RECOVERY_ZONE = 0.05  # of the parameter range around the truth (Oliver et al. 2022)


def incumbents(records: list[dict], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Best-so-far misfit and parameters after each evaluation."""
    best_misfit, best = np.inf, None
    misfits, parameters = [], []
    for record in records:
        if record["misfit"] < best_misfit:
            best_misfit, best = record["misfit"], [record["parameters"][n] for n in names]
        misfits.append(best_misfit)
        parameters.append(best)
    return np.array(misfits), np.array(parameters, dtype=float)


def first_staying(condition: np.ndarray) -> int | None:
    """1-based evaluation from which ``condition`` holds for every later evaluation (None if it never settles)."""
    if len(condition) == 0 or not condition[-1]:
        return None
    failing = np.flatnonzero(~condition)
    return int(failing[-1]) + 2 if failing.size else 1


def summarise(records: list[dict], problem: Problem, baseline_misfit: float) -> dict:
    names = problem.names
    misfits, parameters = incumbents(records, names)
    truth = problem.truth
    spans = np.array([p.span for p in problem.parameters])
    within_zone = np.abs(parameters - truth) <= RECOVERY_ZONE * spans
    within_1pct = np.all(np.abs(parameters - truth) <= 0.01 * np.abs(truth), axis=1)
    reaching = np.flatnonzero(misfits <= baseline_misfit) if baseline_misfit > 0 else np.array([], int)
    final = parameters[-1]
    truth_known = problem.has_truth
    return {
        "initial_misfit": records[0]["misfit"],
        "final_misfit": float(misfits[-1]),
        "baseline_misfit": baseline_misfit,
        "evaluations_to_baseline": int(reaching[0]) + 1 if reaching.size else None,
        # without a truth (observations from a file) there is nothing to recover: these stay empty, not faked
        "evaluations_to_1pct": first_staying(within_1pct) if truth_known else None,
        "recovered_at": {
            name: first_staying(within_zone[:, i]) if truth_known else None for i, name in enumerate(names)
        },
        "recovered": int(sum(first_staying(within_zone[:, i]) is not None for i in range(len(names))))
        if truth_known
        else None,
        "parameters_final": dict(zip(names, map(float, final), strict=True)),
        "relative_error_final": dict(
            zip(names, map(float, (final - truth) / np.abs(truth)) if truth_known else [None] * len(names), strict=True)
        ),
        "within_bounds": bool(all(p.lower <= v <= p.upper for p, v in zip(problem.parameters, final, strict=True))),
        "failed_evaluations": int(sum(record["failed"] for record in records)),
    }


def summary_table(results: list[dict]):
    """One row per job; dict-valued fields become one column per parameter (final_Tcu, true_Tcu, ...)."""
    import pandas as pd

    rows = []
    for result in results:
        row = {key: value for key, value in result.items() if not isinstance(value, dict | list)}
        row["reached_baseline"] = result["evaluations_to_baseline"] is not None
        row["n_parameters"] = len(result["parameters_true"])
        for prefix, key in (
            ("true", "parameters_true"),
            ("start", "parameters_initial"),
            ("final", "parameters_final"),
            ("recovered_at", "recovered_at"),
        ):
            row.update({f"{prefix}_{name}": value for name, value in result[key].items()})
        rows.append(row)
    return pd.DataFrame(rows)
