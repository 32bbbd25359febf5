"""Tables of the calibration results (Oliver et al. 2022, Tables C1 and C2) and cross-problem data and
performance profiles (Moré & Wild 2009), from summary.csv and the traces; no SCOPE runs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

PROFILE_TOLERANCES = (1e-1, 1e-3, 1e-5)


def _parameters(summary: pd.DataFrame) -> list[str]:
    """Parameter names with a truth in these rows, in column order."""
    return [c.removeprefix("true_") for c in summary.columns if c.startswith("true_") and summary[c].notna().any()]


def experiment_tables(summary: pd.DataFrame, problem: str, observations: str) -> dict[str, pd.DataFrame]:
    """The tables of one (problem, observation set), one row per optimiser (first start only if several):

    ``values``: start, final and true value of each parameter (Oliver's Table C1, transposed: one row per
    parameter, columns true, start and one per optimiser); ``recovery``: the evaluation from which each
    parameter stays within the recovery zone (Table C2; blank = never); ``performance``: evaluations used,
    evaluations to the baseline misfit, final and baseline misfit, wall time and SCOPE time."""
    rows = summary[(summary["problem"] == problem) & (summary["observations"] == observations)]
    if rows.empty:
        raise ValueError(f"summary has no rows for {problem} / {observations}")
    rows = rows.sort_values("start").drop_duplicates("optimizer").set_index("optimizer")
    names = _parameters(rows)
    values = pd.DataFrame(
        {"true": [rows[f"true_{n}"].iloc[0] for n in names], "start": [rows[f"start_{n}"].iloc[0] for n in names]},
        index=pd.Index(names, name="parameter"),
    )
    for optimizer, row in rows.iterrows():
        values[optimizer] = [row[f"final_{n}"] for n in names]
    recovery = rows[[f"recovered_at_{n}" for n in names]].rename(columns=lambda c: c.removeprefix("recovered_at_"))
    recovery["all recovered"] = rows["recovered"] == len(names)
    performance = pd.DataFrame(
        {
            "evaluations": rows["evaluations"],
            "gradient_evaluations": rows["gradient_evaluations"],
            "evaluations_to_baseline": rows["evaluations_to_baseline"],
            "evaluations_to_1pct": rows["evaluations_to_1pct"],
            "final_misfit": rows["final_misfit"],
            "baseline_misfit": rows["baseline_misfit"],
            "wall_time_s": rows["wall_time_s"],
            "model_time_s": rows["model_time_s"],
            "stop_reason": rows["stop_reason"],
        }
    )
    return {"values": values, "recovery": recovery, "performance": performance}


def experiment_csv(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per optimiser: the performance columns, then start, final, true and recovered_at per parameter."""
    values, recovery, performance = tables["values"], tables["recovery"], tables["performance"]
    wide = performance.copy()
    for name in values.index:
        wide[f"start_{name}"] = values.loc[name, "start"]
        wide[f"final_{name}"] = [values.loc[name, optimizer] for optimizer in wide.index]
        wide[f"true_{name}"] = values.loc[name, "true"]
        wide[f"recovered_at_{name}"] = recovery[name]
    return wide.reset_index()


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.4g}"
    return str(value).replace("|", "/")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` with its index as the first column."""
    frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def experiment_markdown(tables: Mapping[str, pd.DataFrame], problem: str, observations: str) -> str:
    return "\n".join(
        [
            f"# {problem} / {observations}\n",
            "## Start, final and true parameter values (cf. Oliver et al. 2022, Table C1)\n",
            markdown_table(tables["values"]),
            "## Evaluation from which each parameter stays within ±5% of its range of the truth (Table C2)\n",
            markdown_table(tables["recovery"]),
            "## Evaluations, misfit and time\n",
            markdown_table(tables["performance"]),
        ]
    )


# --- data and performance profiles (Moré & Wild 2009) ----------------------------------------------------------


def solve_evaluations(histories: Mapping[str, Sequence[float]], *, initial: float, tau: float) -> dict[str, float]:
    """Evaluations each solver needs on one instance to reach f <= f_L + tau (f0 - f_L), f_L the best misfit
    any solver found and f0 ``initial`` (the misfit at the start point); inf where it never does."""
    best = min(float(np.min(h)) for h in histories.values() if len(h))
    threshold = best + tau * (initial - best)
    needed = {}
    for solver, history in histories.items():
        hits = np.flatnonzero(np.minimum.accumulate(np.asarray(history, dtype=float)) <= threshold)
        needed[solver] = float(hits[0] + 1) if hits.size else math.inf
    return needed


def profile_table(instances: Sequence[Mapping], tau: float) -> pd.DataFrame:
    """One row per (instance, solver): evaluations to solve, in simplex gradients (n+1 evaluations), and the
    performance ratio to the fastest solver on the instance. ``instances``: dicts with ``name``, ``n``
    (parameters), ``initial`` (f0) and ``histories`` (solver -> misfit per evaluation)."""
    rows = []
    for instance in instances:
        needed = solve_evaluations(instance["histories"], initial=instance["initial"], tau=tau)
        fastest = min(needed.values())
        for solver, evaluations in needed.items():
            rows.append(
                dict(
                    instance=instance["name"],
                    solver=solver,
                    evaluations=evaluations,
                    simplex_gradients=evaluations / (instance["n"] + 1),
                    ratio=evaluations / fastest if math.isfinite(fastest) else math.inf,
                )
            )
    return pd.DataFrame(rows)


def data_profile(table: pd.DataFrame, budgets: Sequence[float]) -> pd.DataFrame:
    """Fraction of instances each solver solves within each budget (in simplex gradients). A solver that did
    not run an instance counts it as unsolved: the denominator is every instance in the table."""
    count = table["instance"].nunique()
    return pd.DataFrame(
        {
            solver: [(group["simplex_gradients"] <= b).sum() / count for b in budgets]
            for solver, group in table.groupby("solver", sort=False)
        },
        index=pd.Index(budgets, name="budget"),
    )


def performance_profile(table: pd.DataFrame, ratios: Sequence[float]) -> pd.DataFrame:
    """Fraction of instances on which each solver is within a factor ``ratio`` of the fastest."""
    count = table["instance"].nunique()
    return pd.DataFrame(
        {
            solver: [(group["ratio"] <= r).sum() / count for r in ratios]
            for solver, group in table.groupby("solver", sort=False)
        },
        index=pd.Index(ratios, name="ratio"),
    )


def profile_instances(summary: pd.DataFrame, traces: Mapping[tuple[str, str, str, int], pd.DataFrame]) -> list[dict]:
    """Instances (problem, observation set) from summary.csv and each job's trace (keyed by problem,
    observations, optimizer, start; the first start is used). f0 is the misfit at the start point: the median
    of the optimisers' first evaluations (most start there; population methods sample around it)."""
    instances = []
    first = summary.sort_values("start").drop_duplicates(["problem", "observations", "optimizer"])
    for (problem, observations), rows in first.groupby(["problem", "observations"], sort=False):
        histories = {
            row.optimizer: traces[(problem, observations, row.optimizer, int(row.start))]["misfit"].to_numpy(float)
            for row in rows.itertuples()
        }
        instances.append(
            dict(
                name=f"{problem}/{observations}",
                n=int(rows["n_parameters"].iloc[0]),
                initial=float(np.median([h[0] for h in histories.values() if len(h)])),
                histories=histories,
            )
        )
    return instances
