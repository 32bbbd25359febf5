"""Tables of the calibration results (Oliver et al. 2022, Tables C1 and C2) and cross-problem data and
performance profiles (Moré & Wild 2009), from summary.csv and the traces; no SCOPE runs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

PROFILE_TOLERANCES = (1e-1, 1e-3, 1e-5)


def _parameters(summary: pd.DataFrame) -> list[str]:
    """Parameter names calibrated in these rows, in column order."""
    return [c.removeprefix("start_") for c in summary.columns if c.startswith("start_") and summary[c].notna().any()]


def trace_job(path: str | Path) -> tuple[str, str, str, int]:
    """(problem, observations, optimizer, start) of a job's trace at
    <results>/calibration/<problem>/<observations>/<optimizer>/start<k>/trace.csv."""
    problem, observations, optimizer, start = Path(path).parts[-5:-1]
    return problem, observations, optimizer, int(start.removeprefix("start"))


def run_label(optimizer: str, start: int, several_starts: bool) -> str:
    """How a run is named in tables and legends: its optimizer, and its start where an experiment has several."""
    return f"{optimizer} (start {start})" if several_starts else optimizer


def experiment_tables(summary: pd.DataFrame, problem: str, observations: str) -> dict[str, pd.DataFrame]:
    """The tables of one (problem, observation set), one row per run (optimizer, and start where there are several):

    ``values``: start, final and true value of each parameter (Oliver's Table C1, transposed: one row per
    parameter, columns true, start(s) and one per run); ``recovery``: the evaluation from which each
    parameter stays within the recovery zone (Table C2; blank = never); ``performance``: evaluations used,
    evaluations to the baseline misfit, final and baseline misfit, wall time and SCOPE time."""
    rows = summary[(summary["problem"] == problem) & (summary["observations"] == observations)]
    if rows.empty:
        raise ValueError(f"summary has no rows for {problem} / {observations}")
    several = rows["start"].nunique() > 1
    rows = rows.sort_values("start", kind="stable")
    rows.index = pd.Index(
        [run_label(o, s, several) for o, s in zip(rows["optimizer"], rows["start"], strict=True)], name="optimizer"
    )
    names = _parameters(rows)
    values = pd.DataFrame({"true": [rows[f"true_{n}"].iloc[0] for n in names]}, index=pd.Index(names, name="parameter"))
    for _, first in rows.drop_duplicates("start").iterrows():
        values["start" if not several else f"start {first['start']}"] = [first[f"start_{n}"] for n in names]
    for label, row in rows.iterrows():
        values[label] = [row[f"final_{n}"] for n in names]
    recovery = rows[[f"recovered_at_{n}" for n in names]].rename(columns=lambda c: c.removeprefix("recovered_at_"))
    # no truth (observations from a file): nothing is recovered or not, the cells stay empty
    recovery["all recovered"] = (rows["recovered"] == len(names)).where(rows["recovered"].notna())
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
    starts = rows[[f"start_{n}" for n in names]].rename(columns=lambda c: c.removeprefix("start_"))
    return {"values": values, "recovery": recovery, "performance": performance, "starts": starts}


def experiment_csv(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per run: the performance columns, then start, final, true and recovered_at per parameter."""
    values, recovery, performance = tables["values"], tables["recovery"], tables["performance"]
    wide = performance.copy()
    for name in values.index:
        wide[f"start_{name}"] = tables["starts"][name]
        wide[f"final_{name}"] = [values.loc[name, label] for label in wide.index]
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
    if tables["values"]["true"].isna().all():
        recovery = [
            "## Recovery\n",
            "No truth: these observations come from a file. Fit and hold-out scores are in each job's validation.md.\n",
        ]
    else:
        recovery = [
            "## Evaluation from which each parameter stays within ±5% of its range of the truth (Table C2)\n",
            markdown_table(tables["recovery"]),
        ]
    return "\n".join(
        [
            f"# {problem} / {observations}\n",
            "## Start, final and true parameter values (cf. Oliver et al. 2022, Table C1)\n",
            markdown_table(tables["values"]),
            *recovery,
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
    """Instances (problem, observation set, start) from summary.csv and each job's trace (keyed by problem,
    observations, optimizer, start). f0 is the misfit at the start point: the median of the optimisers' first
    evaluations (most start there; population methods sample around it)."""
    instances = []
    for (problem, observations, start), rows in summary.groupby(["problem", "observations", "start"], sort=False):
        histories = {
            row.optimizer: traces[(problem, observations, row.optimizer, int(start))]["misfit"].to_numpy(float)
            for row in rows.itertuples()
        }
        instances.append(
            dict(
                name=f"{problem}/{observations}/start{start}",
                n=int(rows["n_parameters"].iloc[0]),
                initial=float(np.median([h[0] for h in histories.values() if len(h)])),
                histories=histories,
            )
        )
    return instances


# --- a published experiment next to this workflow's ------------------------------------------------------------


def evaluations_to_recovery(row: pd.Series, names: Sequence[str]) -> float:
    """The evaluation from which every recovered parameter stays recovered (NaN if none is)."""
    return float(np.nanmax([row[f"recovered_at_{n}"] for n in names])) if row["recovered"] else math.nan


def paper_comparison(summary: pd.DataFrame, reference: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per job of the problem that ``reference`` names (experiment -> ``job``
    problem/observations/optimizer/start and the paper's ``baseline``, ``recovered``, ``recovery``): evaluations
    to the baseline misfit, parameters recovered and evaluations to their recovery, with the paper's numbers on
    the rows of the jobs that mirror its experiments."""
    jobs = {entry["job"]: (experiment, entry) for experiment, entry in reference.items()}
    problem = next(iter(jobs)).split("/")[0]
    rows = summary[summary["problem"] == problem]
    names = _parameters(rows)
    table = []
    for _, row in rows.iterrows():
        job = f"{problem}/{row['observations']}/{row['optimizer']}/start{row['start']}"
        experiment, entry = jobs.get(job, (None, {}))
        table.append(
            dict(
                observations=row["observations"],
                optimizer=row["optimizer"],
                start=int(row["start"]),
                evaluations=int(row["evaluations"]),
                evaluations_to_baseline=row["evaluations_to_baseline"],
                recovered=int(row["recovered"]),
                evaluations_to_recovery=evaluations_to_recovery(row, names),
                final_misfit=row["final_misfit"],
                baseline_misfit=row["baseline_misfit"],
                paper_experiment=experiment,
                paper_evaluations_to_baseline=entry.get("baseline"),
                paper_recovered=entry.get("recovered"),
                paper_evaluations_to_recovery=entry.get("recovery"),
            )
        )
    order = {experiment: i for i, experiment in enumerate(reference)}
    table = pd.DataFrame(table).assign(problem=problem, n_parameters=len(names))
    return table.sort_values("paper_experiment", key=lambda c: c.map(order), na_position="last", kind="stable")


def _baseline_and_recovery(row) -> str:
    recovery = _cell(row.evaluations_to_recovery)
    return f"{_cell(row.evaluations_to_baseline)} / {recovery} ({row.recovered}/{row.n_parameters})"


def paper_markdown(table: pd.DataFrame) -> str:
    problem = table["problem"].iloc[0]
    mirrored = table[table["paper_experiment"].notna()].set_index("paper_experiment")
    side_by_side = pd.DataFrame(
        {
            "SCOPE job": [f"{r.observations} / {run_label(r.optimizer, r.start, True)}" for r in mirrored.itertuples()],
            "to baseline": mirrored["evaluations_to_baseline"],
            "to baseline, paper": mirrored["paper_evaluations_to_baseline"],
            "recovered": mirrored["recovered"].astype(str) + "/" + mirrored["n_parameters"].astype(str),
            "recovered, paper": mirrored["paper_recovered"],
            "to recovery": mirrored["evaluations_to_recovery"],
            "to recovery, paper": mirrored["paper_evaluations_to_recovery"],
        },
        index=mirrored.index.rename("experiment"),
    )
    every = table.assign(
        run=[run_label(o, s, True) for o, s in zip(table["optimizer"], table["start"], strict=True)],
        cell=[_baseline_and_recovery(row) for row in table.itertuples()],
    ).pivot(index="run", columns="observations", values="cell")
    every = every[list(dict.fromkeys(table["observations"]))].fillna("")
    return "\n".join(
        [
            f"# {problem}: this workflow on SCOPE next to Oliver et al. (GMD 2022) on MOPS\n",
            "Evaluations to the baseline misfit, parameters recovered (within ±5% of their range of the truth from "
            "then on) and the evaluation from which they all stay recovered; – = never within the budget.\n",
            markdown_table(side_by_side),
            "## Every optimiser: evaluations to the baseline / to recovery (parameters recovered)\n",
            markdown_table(every),
        ]
    )


# --- the documentation's examples ------------------------------------------------------------------------------


def docs_summary(summary: pd.DataFrame, problems: Mapping[str, Mapping]) -> dict:
    """Per problem (one documentation example each): targets, truth, start, and per optimiser the final
    parameters, misfits, evaluations and why it stopped; no times (they differ from run to run)."""
    examples = {}
    for name, rows in summary.groupby("problem", sort=False):
        names = list(problems[name]["parameters"])
        first = rows.iloc[0]
        examples[name] = dict(
            workflow=first["workflow"],
            targets=list(problems[name]["targets"]),
            observed_cells=int(first["observed_cells"]),
            truth={n: float(first[f"true_{n}"]) for n in names},
            start={n: float(first[f"start_{n}"]) for n in names},
            runs={
                row["optimizer"]: dict(
                    final={n: float(row[f"final_{n}"]) for n in names},
                    initial_misfit=float(row["initial_misfit"]),
                    final_misfit=float(row["final_misfit"]),
                    evaluations=int(row["evaluations"]),
                    gradient_evaluations=int(row["gradient_evaluations"]),
                    evaluations_to_1pct=None
                    if pd.isna(row["evaluations_to_1pct"])
                    else int(row["evaluations_to_1pct"]),
                    recovered=int(row["recovered"]),
                    stop_reason=row["stop_reason"],
                )
                for _, row in rows.iterrows()
            },
        )
    return examples


def docs_markdown(examples: Mapping[str, Mapping]) -> str:
    """One table per example: truth, start and each optimiser's final values, misfits and evaluations."""
    parts = ["# Results of the documentation examples (generated by config/docs.yaml)\n"]
    for name, example in examples.items():
        runs = example["runs"]
        table = pd.DataFrame(
            {"truth": example["truth"], "start": example["start"]}
            | {optimizer: run["final"] for optimizer, run in runs.items()}
        )
        for key in ("initial_misfit", "final_misfit", "evaluations", "gradient_evaluations", "evaluations_to_1pct"):
            table.loc[key] = [None, None] + [run[key] for run in runs.values()]
        parts += [
            f"## {name}: {', '.join(example['targets'])} by {', '.join(example['truth'])} ({example['workflow']}, "
            f"{example['observed_cells']} observed cells)\n",
            markdown_table(table.rename_axis("")),
        ]
    return "\n".join(parts)
