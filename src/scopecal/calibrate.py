"""One calibration job: (problem, observation set, optimiser, start) -> trace, result, calibrated output."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from .forward import (
    DTYPES,
    ENERGY_BALANCE_RULE,
    SOLVED_ENERGY_ERROR,
    build_runner,
    resolve_device,
    run_forward,
    stack_cells,
)
from .metrics import summarise
from .netcdf import config_digest
from .objective import Objective
from .optimizers import run_optimizer
from .problems import Problem
from .trace import Trace, TracedObjective
from .twin import with_parameters

log = logging.getLogger("scopecal")


@dataclass
class ObservedCells:
    """The observed cells' stacked inputs and, per observation, its values and sigmas (observations, targets),
    in the objective's order; ``weights``: a footprint's pixel weights (None: one cell an observation)."""

    tensors: dict[str, torch.Tensor]
    values: np.ndarray
    sigma: np.ndarray
    weights: np.ndarray | None


def observed_cells(
    inputs: xr.Dataset,
    observations: xr.Dataset,
    problem: Problem,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> ObservedCells:
    """Stack the observed cells' inputs once and pair them with their observations and sigmas.

    A footprint set (``footprint_weight`` on (y, x)) observes each time once, by the weighted mean of the
    footprint's pixels: its cells are ordered by time, the footprint's pixels together, one observation each."""
    device = device or torch.device("cpu")
    stacked = stack_cells(inputs, device=device, dtype=dtype)
    observed = observations["observed"].transpose("y", "x", "time").values.reshape(-1)[stacked.cell_index]
    cells = np.flatnonzero(observed)
    weights, first_of_observation = None, slice(None)
    if "footprint_weight" in observations:
        cells, weights = footprint_order(stacked.cell_index, cells, observations)
        first_of_observation = slice(None, None, len(weights))
    tensors = {name: tensor[torch.as_tensor(cells, device=device)] for name, tensor in stacked.tensors.items()}

    def at_observations(name: str) -> np.ndarray:
        return (
            observations[name]
            .transpose("y", "x", "time")
            .values.reshape(-1)[stacked.cell_index][cells][first_of_observation]
        )

    values = np.column_stack([at_observations(t.name) for t in problem.targets])
    sigma = np.column_stack([at_observations(f"sigma_{t.name}") for t in problem.targets])
    if not (np.isfinite(values).all() and (sigma > 0).all()):
        raise ValueError(f"observations for {problem.name} hold NaN or non-positive sigma at observed cells")
    return ObservedCells(tensors, values, sigma, weights)


def build_objective(
    inputs: xr.Dataset,
    observations: xr.Dataset,
    problem: Problem,
    *,
    scope_root: str | Path,
    device: str = "auto",
    dtype: str = "float64",
    chunk_size: int | None = None,
) -> Objective:
    """The objective of ``problem`` on the observed cells of ``observations`` (see :func:`observed_cells`)."""
    torch_device, torch_dtype = resolve_device(device), DTYPES[dtype]
    cells = observed_cells(inputs, observations, problem, device=torch_device, dtype=torch_dtype)
    runner = build_runner(scope_root, device=torch_device, dtype=torch_dtype)
    return Objective(
        runner,
        problem,
        cells.tensors,
        cells.values,
        cells.sigma,
        chunk_size=chunk_size,
        footprint_weights=cells.weights,
    )


def objective_from_files(
    inputs: str | Path, observations: str | Path, problem: Problem, *, scope_root: str | Path, scope: Mapping[str, Any]
) -> tuple[Objective, xr.Dataset, xr.Dataset]:
    """The objective of ``problem`` on an observation set's files, run as the config's ``scope`` section says
    (device, dtype, chunk_size), with the set's inputs and observations, loaded."""
    with xr.open_dataset(inputs) as prepared, xr.open_dataset(observations) as observed:
        prepared, observed = prepared.load(), observed.load()
    objective = build_objective(
        prepared,
        observed,
        problem,
        scope_root=scope_root,
        device=scope["device"],
        dtype=scope["dtype"],
        chunk_size=scope.get("chunk_size"),
    )
    return objective, prepared, observed


def footprint_order(
    cell_index: np.ndarray, cells: np.ndarray, observations: xr.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """The observed stacked cells reordered time by time, each time's footprint pixels together in (y, x)
    order, and the footprint's weights in that order."""
    n_times = observations.sizes["time"]
    weight = observations["footprint_weight"].transpose("y", "x").values.reshape(-1)
    pixels = np.flatnonzero(weight > 0)
    flat = cell_index[cells]  # (pixel, time) flattened pixel-major, as stack_cells orders them
    order = np.lexsort((flat // n_times, flat % n_times))
    pixel_of_cell = flat[order] // n_times
    if pixel_of_cell.size % pixels.size or not (pixel_of_cell.reshape(-1, pixels.size) == pixels).all():
        raise ValueError("a footprint observation must observe every pixel of its footprint at each of its times")
    return cells[order], weight[pixels]


def job_fingerprint(settings: Mapping[str, Any], observations: xr.Dataset, workflow: str) -> str:
    """Digest of a job's settings and of its observations' values (not of their file, which carries a date).

    An energy-balance job's holds the energy balance's stopping rule and which cells count as solved: under
    another, a recorded model value may differ, or an evaluation have failed or not."""
    if workflow == "energy-balance":
        rule = asdict(ENERGY_BALANCE_RULE) | {"solved_energy_error": SOLVED_ENERGY_ERROR}
        settings = {**settings, "energy_balance_rule": rule}
    digest = hashlib.sha256()
    for name in sorted(observations.data_vars):
        digest.update(np.ascontiguousarray(observations[name].values).tobytes())
    return config_digest({**settings, "observations": digest.hexdigest()})


def write_json(payload: Mapping[str, Any], path: str | Path) -> None:
    partial = Path(path).with_name(f".{Path(path).name}.partial")
    partial.write_text(json.dumps(payload, indent=2))
    os.replace(partial, path)


def calibrate(
    objective: Objective,
    *,
    optimizer: str,
    options: Mapping[str, Any],
    start: int,
    budget: int,
    seed: int,
    baseline_misfit: float,
    directory: str | Path,
    fingerprint: str = "",
) -> dict:
    """Run one optimiser from one start within the budget; the trace in ``directory`` makes it resumable."""
    problem = objective.problem
    trace = Trace(directory, problem, fingerprint)
    if trace.records:
        log.info("resuming: %d evaluations already in %s", len(trace.records), trace.record_path)

    def progress(record: dict) -> None:
        values = ", ".join(f"{name}={value:.6g}" for name, value in record["parameters"].items())
        log.info(
            "evaluation %d (%s): misfit %.6g%s | %s",
            record["evaluation"],
            record["kind"],
            record["misfit"],
            " FAILED" if record["failed"] else (" *" if record["improved"] else ""),
            values,
        )

    traced = TracedObjective(objective, trace, budget, progress=progress)
    started = time.perf_counter()
    u0 = problem.to_scaled(problem.start(start))
    stop_reason = run_optimizer(optimizer, traced, u0, options, seed)
    trace.close()
    if traced.replayed:
        log.info(
            "%d evaluations were replayed from the trace, %d run now",
            traced.replayed,
            traced.evaluations - traced.replayed,
        )
    records = trace.records[: traced.evaluations]
    return {
        "problem": problem.name,
        "workflow": problem.workflow,
        "optimizer": optimizer,
        "start": start + 1,
        "stop_reason": stop_reason,
        "target_variables": [t.name for t in problem.targets],
        "parameters_initial": dict(zip(problem.names, map(float, problem.start(start)), strict=True)),
        "parameters_true": {p.name: p.truth for p in problem.parameters},
        "evaluations": traced.evaluations,
        "gradient_evaluations": traced.gradient_evaluations,
        "budget": budget,
        **summarise(records, problem, baseline_misfit),
        "wall_time_s": time.perf_counter() - started,
        # time of the SCOPE runs made by this run (replayed ones ran before a kill, outside wall_time_s)
        "model_time_s": sum(record["wall_s"] for record in records[traced.replayed :]),
        "observed_cells": objective.n_observations,
        "replayed_evaluations": traced.replayed,
    }


def calibrated_output(
    inputs: xr.Dataset,
    result: Mapping[str, Any],
    *,
    scope_root: str | Path,
    device: str,
    dtype: str,
    chunk_size: int | None,
) -> xr.Dataset:
    """Forward SCOPE over the whole field at the calibrated parameters, labelled as calibrated."""
    outputs = run_forward(
        with_parameters(inputs, result["parameters_final"]),
        result["workflow"],
        scope_root=scope_root,
        device=device,
        dtype=dtype,
        chunk_size=chunk_size,
    )
    outputs.attrs.update(
        calibrated=1,
        calibration_problem=result["problem"],
        calibration_optimizer=result["optimizer"],
        calibration_start=result["start"],
        calibrated_parameters=json.dumps(result["parameters_final"]),
        calibration_final_misfit=result["final_misfit"],
    )
    return outputs
