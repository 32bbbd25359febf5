"""The evaluation trace: every model run appended and flushed as it happens, and resumed from after a kill.

``evaluations.jsonl`` is the record (exact vectors: scaled point, residuals,
gradient or Jacobian); ``trace.csv`` is its readable table, rewritten from
the record on resume. An optimiser re-run with the same seed asks for the
same points in the same order, so a resumed job replays the recorded
evaluations from the cache and runs SCOPE only from where the kill hit.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .objective import Evaluation, Objective
from .problems import Problem

log = logging.getLogger("scopecal")


class BudgetExhausted(Exception):
    """The job's budget of model evaluations is spent."""


class Trace:
    """Append-only record of evaluations, with the readable CSV beside it."""

    def __init__(self, directory: str | Path, problem: Problem, fingerprint: str = "") -> None:
        """``fingerprint`` identifies the job (problem, observations, optimiser, seed, start): a record left by
        a job with another fingerprint is discarded rather than replayed."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.record_path = self.directory / "evaluations.jsonl"
        self.csv_path = self.directory / "trace.csv"
        fingerprint_path = self.directory / "evaluations.fingerprint"
        if self.record_path.exists() and (not fingerprint_path.exists() or fingerprint_path.read_text() != fingerprint):
            log.info("discarding %s: it was left by a job with other settings", self.record_path)
            self.record_path.unlink()
        fingerprint_path.write_text(fingerprint)
        self.columns = (
            ["evaluation", "kind", "generation", "misfit", "improved", "failed", "unsolved_cells"]
            + ["max_energy_error", "wall_s"]
            + problem.names
            + [f"norm_{target.name}" for target in problem.targets]
        )
        self.records = self._read_records()
        self._rewrite_csv()
        self._record_file = open(self.record_path, "a")  # noqa: SIM115 - kept open for the job's lifetime
        self._csv_file = open(self.csv_path, "a", newline="")  # noqa: SIM115
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self.columns, extrasaction="ignore")

    def _read_records(self) -> list[dict]:
        if not self.record_path.exists():
            return []
        records = []
        for line in self.record_path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the job was killed while writing this line
        with open(self.record_path, "w") as handle:  # drop a torn last line
            handle.writelines(json.dumps(record) + "\n" for record in records)
        return records

    def _rewrite_csv(self) -> None:
        with open(self.csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self._row(record) for record in self.records)

    def _row(self, record: dict) -> dict:
        return {**record, **record["parameters"], **{f"norm_{k}": v for k, v in record["target_norms"].items()}}

    def append(self, record: dict) -> None:
        """Write one evaluation to both files and flush them: once this returns, the evaluation survives the
        process being killed. There is no fsync (that would guard against a crash of the machine, not of the job):
        on the development machine it cost 0.4-1.3 ms an evaluation, 2-6% of a 0.02 s thermal evaluation."""
        self.records.append(record)
        self._record_file.write(json.dumps(record) + "\n")
        self._record_file.flush()
        self._csv.writerow(self._row(record))
        self._csv_file.flush()

    def close(self) -> None:
        self._record_file.close()
        self._csv_file.close()


class TracedObjective:
    """What optimisers call: the objective behind a budget, a cache of past runs and the trace.

    Every model run counts as one evaluation; one with a gradient or Jacobian
    also counts as one gradient evaluation. A point already run (in this job
    or before a kill) is answered from the cache without counting again.
    """

    def __init__(
        self, objective: Objective, trace: Trace, budget: int, progress: Callable[[dict], None] | None = None
    ) -> None:
        self.objective = objective
        self.problem = objective.problem
        self.trace = trace
        self.budget = budget
        self.progress = progress
        self.generation: int | None = None
        self.cache: dict[bytes, dict] = {}
        self.best_misfit = np.inf
        self.best_u: np.ndarray | None = None
        self.evaluations = self.gradient_evaluations = self.replayed = 0
        self.last_failed = False  # whether the latest answer is a failed SCOPE run
        self._replay = list(trace.records)
        self.started = time.perf_counter()

    @staticmethod
    def _key(u: np.ndarray) -> bytes:
        return np.ascontiguousarray(u, dtype=np.float64).tobytes()

    @staticmethod
    def _has(record: dict, derivative: str | None) -> bool:
        if derivative == "gradient":
            return record["gradient"] is not None or record["jacobian"] is not None
        return derivative is None or record["jacobian"] is not None

    def _lookup(self, u: np.ndarray, derivative: str | None) -> dict | None:
        """A past run answering this request: from this job's cache, or the next recorded one before a kill."""
        record = self.cache.get(self._key(u))
        if record is not None and self._has(record, derivative):
            return record
        if self._replay and self._key(np.array(self._replay[0]["u"])) == self._key(u):
            if self._has(self._replay[0], derivative):
                record = self._replay.pop(0)
                self._count(record)
                self.replayed += 1
                return record
        return None

    def _count(self, record: dict) -> None:
        self.cache[self._key(np.array(record["u"]))] = record
        self.evaluations += 1
        self.gradient_evaluations += record["kind"] != "value"
        if record["misfit"] < self.best_misfit:
            self.best_misfit, self.best_u = record["misfit"], np.array(record["u"])

    def _run(self, u: np.ndarray, derivative: str | None) -> dict:
        record = self._lookup(u, derivative)
        if record is None:
            if self.evaluations >= self.budget:
                raise BudgetExhausted
            record = self._record(u, derivative, self.objective.evaluate(u, derivative=derivative))
        self.last_failed = record["failed"]
        return record

    def _record(self, u: np.ndarray, derivative: str | None, evaluation: Evaluation) -> dict:
        record = {
            "evaluation": self.evaluations + 1,
            "kind": derivative or "value",
            "generation": self.generation,
            "u": [float(v) for v in u],
            "parameters": dict(zip(self.problem.names, map(float, self.problem.to_physical(u)), strict=True)),
            "misfit": evaluation.misfit,
            "improved": evaluation.misfit < self.best_misfit,
            "failed": evaluation.failed,
            "unsolved_cells": evaluation.unsolved_cells,
            "max_energy_error": evaluation.max_energy_error,
            "wall_s": evaluation.model_seconds,
            "target_norms": evaluation.target_norms,
            "residuals": evaluation.residuals.tolist(),
            "gradient": None if evaluation.gradient is None else evaluation.gradient.tolist(),
            "jacobian": None if evaluation.jacobian is None else evaluation.jacobian.tolist(),
        }
        self._count(record)
        self.trace.append(record)
        if self.progress:
            self.progress(record)
        return record

    def value(self, u: np.ndarray) -> float:
        return self._run(np.asarray(u, dtype=float), None)["misfit"]

    def value_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        record = self._run(np.asarray(u, dtype=float), "gradient")
        if record["gradient"] is not None:
            return record["misfit"], np.array(record["gradient"])
        return record["misfit"], np.array(record["jacobian"]).T @ np.array(record["residuals"])

    def residuals(self, u: np.ndarray) -> np.ndarray:
        return np.array(self._run(np.asarray(u, dtype=float), None)["residuals"])

    def residuals_and_jacobian(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        record = self._run(np.asarray(u, dtype=float), "jacobian")
        return np.array(record["residuals"]), np.array(record["jacobian"])

    def values(self, population: np.ndarray) -> list[float]:
        """Misfits of a population, in order: one model run each, or one batched run where that pays."""
        population = [np.asarray(u, dtype=float) for u in population]
        if not self.objective.batches_populations:
            return [self.value(u) for u in population]
        new = [u for u in population if self._lookup(u, None) is None]
        affordable = new[: max(self.budget - self.evaluations, 0)]
        if affordable:
            for u, evaluation in zip(affordable, self.objective.evaluate_population(np.array(affordable)), strict=True):
                self._record(u, None, evaluation)
        if len(affordable) < len(new):
            raise BudgetExhausted
        return [self.value(u) for u in population]
