"""Per-pixel calibration: every pixel its own parameters over its own dates, all pixels solved together.

Cells are independent in SCOPE, so one model run evaluates every pixel's candidate and one backward pass per
target gives the block-diagonal Jacobian (each observation's row against its own pixel's parameters). Each pixel
then takes its own Levenberg-Marquardt step (Marquardt's diagonal scaling, projected on the scaled bounds) with its
own damping and stopping rule, and leaves the batch when it stops. One pixel alone takes exactly the steps it takes
in a batch: the energy balance runs a fixed number of iterations (``forward.ENERGY_BALANCE_RULE``), so a cell's
values do not depend on the cells run beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .calibrate import write_json
from .metrics import RECOVERY_ZONE
from .objective import Objective
from .problems import Problem
from .sensitivity import identifiability

# A batch evaluation: (pixels, their scaled candidates) -> per pixel (residuals, Jacobian or None, usable)
BatchEvaluate = Callable[[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray | None, bool]]]

# Stop reasons, in the order of their codes in the maps file (``stop_code``)
STOP_REASONS = (
    "misfit change below ftol",
    "step below xtol",
    "evaluation budget spent",
    "no improving step (damping above its limit)",
    "start not usable (SCOPE gave no value)",
)


@dataclass(frozen=True)
class Settings:
    """The batched Levenberg-Marquardt's stopping rule, the same for every pixel."""

    max_evaluations: int = 30  # model runs per pixel, each with its Jacobian
    ftol: float = 1e-10  # stop when an accepted step lowers the misfit by less than this fraction
    xtol: float = 1e-10  # stop when the step's norm (scaled) is below this
    damping: float = 1e-3  # initial damping, relative to the diagonal of J^T J
    max_damping: float = 1e10

    @classmethod
    def from_config(cls, per_pixel: Mapping[str, Any]) -> Settings:
        """From a problem's ``per_pixel`` section (its truth_seed is the twin's, not the solver's)."""
        return cls(**{key: value for key, value in per_pixel.items() if key != "truth_seed"})


TRUTH_SEED = 1  # per_pixel.truth_seed's default


@dataclass
class PixelState:
    """One pixel's incumbent (scaled parameters, residuals and Jacobian there), its damping, its evaluations and
    why it stopped (None while it runs)."""

    u: np.ndarray
    damping: float
    residuals: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    evaluations: int = 0
    reason: str | None = None

    @property
    def misfit(self) -> float:
        return 0.5 * float(self.residuals @ self.residuals) if self.residuals is not None else np.inf

    def consider(
        self, trial: np.ndarray, residuals: np.ndarray, jacobian: np.ndarray | None, usable: bool, settings: Settings
    ) -> bool:
        """Take the evaluated ``trial`` as the incumbent when it lowers the misfit (a start always, when usable),
        adapt the damping, and set the stop reason when the pixel is done. Returns whether it was accepted."""
        self.evaluations += 1
        start = self.residuals is None
        misfit = 0.5 * float(residuals @ residuals) if usable else np.inf
        accepted = usable and misfit < self.misfit
        if accepted:
            previous = self.misfit
            self.u, self.residuals, self.jacobian = trial, residuals, jacobian
            self.damping = max(self.damping / 3.0, 1e-12)
            if not start and previous - misfit <= settings.ftol * previous:
                self.reason = STOP_REASONS[0]
        elif start:
            self.reason = STOP_REASONS[4]
        else:
            self.damping *= 4.0
            if self.damping > settings.max_damping:
                self.reason = STOP_REASONS[3]
        if self.reason is None and self.evaluations >= settings.max_evaluations:
            self.reason = STOP_REASONS[2]
        return accepted

    def next_trial(self, bounds: np.ndarray, settings: Settings) -> np.ndarray | None:
        """The damped Gauss-Newton step from the incumbent, projected on the bounds; None (and the stop reason)
        when that step is below xtol."""
        information = self.jacobian.T @ self.jacobian
        gradient = self.jacobian.T @ self.residuals
        scaling = np.maximum(np.diag(information), 1e-12 * max(1.0, np.diag(information).max()))
        step = np.linalg.solve(information + self.damping * np.diag(scaling), -gradient)
        trial = np.clip(self.u + step, bounds[:, 0], bounds[:, 1])
        if np.linalg.norm(trial - self.u) <= settings.xtol:
            self.reason = STOP_REASONS[1]
            return None
        return trial


@dataclass
class PixelFits:
    """Every pixel's final state, the trace (one row per pixel evaluation), the wall time and the number of
    batched model runs."""

    states: list[PixelState]
    trace: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    model_runs: int = 0


def solve_pixels(
    evaluate: BatchEvaluate,
    starts: np.ndarray,
    bounds: np.ndarray,
    settings: Settings,
    *,
    checkpoint: str | Path | None = None,
    fingerprint: str = "",
) -> PixelFits:
    """Levenberg-Marquardt on every pixel at once: ``starts`` (pixels, parameters) and ``bounds`` (parameters, 2)
    scaled; ``evaluate`` runs the model once for the pixels it is given, each at its own candidate, with the
    Jacobian. A pixel leaves the batch when it stops.

    With ``checkpoint`` (a JSON file) every pixel's state is saved after each model run, and a run that finds
    one saved under the same ``fingerprint`` continues from it: a killed job loses at most one model run, and
    ends as the uninterrupted one would have."""
    started = time.perf_counter()
    saved = _load(checkpoint, fingerprint)
    if saved is None:
        fits = PixelFits(states=[PixelState(u=np.asarray(u, dtype=float), damping=settings.damping) for u in starts])
        trials = {pixel: state.u for pixel, state in enumerate(fits.states)}
    else:
        fits, trials = saved
    elapsed = fits.seconds
    while trials:
        pixels = np.array(sorted(trials))
        results = evaluate(pixels, np.array([trials[pixel] for pixel in pixels]))
        fits.model_runs += 1
        next_trials = {}
        for pixel, (residuals, jacobian, usable) in zip(pixels, results, strict=True):
            state = fits.states[pixel]
            accepted = state.consider(trials[pixel], residuals, jacobian, usable, settings)
            fits.trace.append(
                dict(
                    pixel=int(pixel),
                    evaluation=state.evaluations,
                    misfit=0.5 * float(residuals @ residuals) if usable else np.nan,
                    accepted=accepted,
                    seconds=elapsed + time.perf_counter() - started,
                    u=[float(value) for value in trials[pixel]],
                )
            )
            trial = state.next_trial(bounds, settings) if state.reason is None else None
            if trial is not None:
                next_trials[int(pixel)] = trial
        trials = next_trials
        fits.seconds = elapsed + time.perf_counter() - started
        if checkpoint is not None:
            _save(checkpoint, fingerprint, fits, trials)
    return fits


def _save(path: str | Path, fingerprint: str, fits: PixelFits, trials: dict[int, np.ndarray]) -> None:
    def listed(array):
        return None if array is None else np.asarray(array).tolist()

    states = [
        dict(
            u=listed(s.u),
            damping=s.damping,
            residuals=listed(s.residuals),
            jacobian=listed(s.jacobian),
            evaluations=s.evaluations,
            reason=s.reason,
        )
        for s in fits.states
    ]
    payload = dict(
        fingerprint=fingerprint,
        states=states,
        trials={str(pixel): listed(u) for pixel, u in trials.items()},
        trace=fits.trace,
        seconds=fits.seconds,
        model_runs=fits.model_runs,
    )
    write_json(payload, path)


def _load(path: str | Path | None, fingerprint: str) -> tuple[PixelFits, dict[int, np.ndarray]] | None:
    """The saved fits and pending trials, if ``path`` holds them under ``fingerprint``."""
    if path is None or not Path(path).is_file():
        return None
    payload = json.loads(Path(path).read_text())
    if payload["fingerprint"] != fingerprint:
        return None

    def array(values):
        return None if values is None else np.array(values, dtype=float)

    states = [
        PixelState(
            u=array(s["u"]),
            damping=s["damping"],
            residuals=array(s["residuals"]),
            jacobian=array(s["jacobian"]),
            evaluations=s["evaluations"],
            reason=s["reason"],
        )
        for s in payload["states"]
    ]
    fits = PixelFits(states, payload["trace"], payload["seconds"], payload["model_runs"])
    return fits, {int(pixel): array(u) for pixel, u in payload["trials"].items()}


def batch_evaluator(objective: Objective, pixel_of_row: np.ndarray) -> BatchEvaluate:
    """The objective's observations grouped by pixel (``pixel_of_row``: each observation's pixel number), as one
    batched evaluation of any subset of pixels at their own candidates."""
    rows_of = [np.flatnonzero(pixel_of_row == pixel) for pixel in range(int(pixel_of_row.max()) + 1)]
    n_parameters = len(objective.problem.parameters)

    def evaluate(pixels: np.ndarray, candidates: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None, bool]]:
        counts = [len(rows_of[pixel]) for pixel in pixels]
        rows = np.concatenate([rows_of[pixel] for pixel in pixels])
        row_u = np.repeat(candidates, counts, axis=0)
        residuals, usable, jacobian = objective.evaluate_rows(row_u, rows, jacobian=True)
        split = np.cumsum(counts)[:-1]
        return [
            (r.reshape(-1), j.reshape(-1, n_parameters), bool(ok.all()))
            for r, j, ok in zip(
                np.split(residuals, split), np.split(jacobian, split), np.split(usable, split), strict=True
            )
        ]

    return evaluate


def observation_pixels(inputs: xr.Dataset, observations: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The observed pixels' (y, x) indices and each observation's pixel number, in the order
    ``calibrate.observed_cells`` stacks the observations ((y, x, time) order of the observed in-field cells)."""
    if "footprint_weight" in observations:
        raise ValueError("a per-pixel problem cannot use a footprint observation set: it mixes pixels")
    dims = ("y", "x", "time")
    grid = inputs["LAI"].transpose(*dims)
    inside = inputs["field_mask"].astype(bool).broadcast_like(grid).transpose(*dims).values
    observed = observations["observed"].astype(bool).transpose(*dims).values
    y, x, _ = np.nonzero(inside & observed)
    pixels, pixel_of_row = np.unique(np.column_stack([y, x]), axis=0, return_inverse=True)
    return pixels, pixel_of_row.reshape(-1)


def pixel_truths(problem: Problem, field_mask: xr.DataArray, seed: int) -> dict[str, xr.DataArray]:
    """The twin's true value of each parameter on every pixel of the grid (y, x): seeded uniform draws in the
    parameter's scaled coordinate between the ends of its ``truth_spread``, or its ``truth`` without a spread."""
    rng = np.random.default_rng(seed)
    truths = {}
    for parameter in problem.parameters:
        if parameter.truth_spread is None:
            values = np.full(field_mask.shape, parameter.truth)
        else:
            low, high = (parameter.to_scaled(value) for value in parameter.truth_spread)
            values = parameter.to_physical(rng.uniform(low, high, size=field_mask.shape))
        truths[parameter.name] = xr.DataArray(values, dims=field_mask.dims, coords=field_mask.coords)
    return truths


def calibrate_pixels(
    objective: Objective,
    problem: Problem,
    inputs: xr.Dataset,
    observations: xr.Dataset,
    settings: Settings,
    *,
    start: int = 0,
    checkpoint: str | Path | None = None,
    fingerprint: str = "",
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Every observed pixel calibrated on its own observations, all pixels solved together from the problem's
    start ``start`` (``checkpoint``, ``fingerprint``: see :func:`solve_pixels`). Returns the parameter maps (y, x)
    and the trace (one row per pixel evaluation)."""
    pixels, pixel_of_row = observation_pixels(inputs, observations)
    if len(pixel_of_row) != objective.n_observations:
        raise ValueError(f"{len(pixel_of_row)} observed cells for the objective's {objective.n_observations}")
    starts = np.tile(problem.to_scaled(problem.start(start)), (len(pixels), 1))
    fits = solve_pixels(
        batch_evaluator(objective, pixel_of_row),
        starts,
        problem.scaled_bounds,
        settings,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
    )
    observed_per_pixel = np.bincount(pixel_of_row, minlength=len(pixels))
    maps = parameter_maps(fits, problem, pixels, observed_per_pixel, inputs["field_mask"], observations)
    trace = pd.DataFrame(fits.trace)
    u = np.stack(trace.pop("u").to_numpy())
    trace[["y", "x"]] = pixels[trace["pixel"]]
    for index, parameter in enumerate(problem.parameters):
        trace[parameter.name] = parameter.to_physical(u[:, index])
    return maps, trace


def parameter_maps(
    fits: PixelFits,
    problem: Problem,
    pixels: np.ndarray,
    observed_per_pixel: np.ndarray,
    field_mask: xr.DataArray,
    observations: xr.Dataset,
) -> xr.Dataset:
    """Per pixel: each parameter's estimate and Laplace sd ((J^T J)^-1 at the estimate, physical units), the
    truth where the twin has one, the misfit, evaluations, observations and the stop reason's code."""
    shape = field_mask.shape

    def grid(values, dtype=float, fill=np.nan) -> np.ndarray:
        array = np.full(shape, fill, dtype=dtype)
        array[pixels[:, 0], pixels[:, 1]] = values
        return array

    # a pixel SCOPE gave no usable value for at its start has no estimate: NaN, not its start (stop code 4)
    estimates = np.array(
        [
            problem.to_physical(state.u) if state.residuals is not None else np.full(len(problem.parameters), np.nan)
            for state in fits.states
        ]
    )
    sds = np.array(
        [
            identifiability(state.jacobian, problem, values)["posterior_sd"]
            if state.jacobian is not None
            else np.full(len(problem.parameters), np.nan)
            for state, values in zip(fits.states, estimates, strict=True)
        ]
    )
    dims, coords = field_mask.dims, field_mask.coords
    maps = xr.Dataset(coords=coords)
    for index, parameter in enumerate(problem.parameters):
        maps[parameter.name] = xr.DataArray(grid(estimates[:, index]), dims=dims).assign_attrs(
            long_name=f"calibrated {parameter.name}"
        )
        maps[f"sd_{parameter.name}"] = xr.DataArray(grid(sds[:, index]), dims=dims).assign_attrs(
            long_name=f"Laplace standard deviation of {parameter.name} at the estimate"
        )
        if f"truth_{parameter.name}" in observations:
            maps[f"truth_{parameter.name}"] = (
                observations[f"truth_{parameter.name}"].transpose(*dims).where(field_mask.astype(bool))
            )
    maps["misfit"] = xr.DataArray(
        grid([state.misfit if state.residuals is not None else np.nan for state in fits.states]), dims=dims
    )
    maps["evaluations"] = xr.DataArray(grid([s.evaluations for s in fits.states], int, 0), dims=dims)
    maps["observations"] = xr.DataArray(grid(observed_per_pixel, int, 0), dims=dims)
    maps["stop_code"] = xr.DataArray(
        grid([STOP_REASONS.index(state.reason) for state in fits.states], int, -1), dims=dims
    ).assign_attrs(flag_values=list(range(len(STOP_REASONS))), flag_meanings="; ".join(STOP_REASONS))
    maps.attrs.update(
        problem=problem.name,
        observation_set=observations.attrs.get("observation_set", ""),
        pixels=len(pixels),
        model_runs=fits.model_runs,
        seconds=fits.seconds,
    )
    return maps


def recovery(maps: xr.Dataset, problem: Problem) -> dict[str, dict[str, float]] | None:
    """Per parameter of a twin's maps: the share of observed pixels within the recovery zone, the worst error in
    zone units, and the share of pixels whose truth lies within 2 Laplace sd (None without truth maps). A pixel
    without an estimate counts as neither recovered nor within 2 sd; the worst error is over the pixels with one."""
    if not all(f"truth_{name}" in maps for name in problem.names):
        return None
    observed = maps["observations"].values > 0
    summary = {}
    for parameter in problem.parameters:
        error = np.abs(maps[parameter.name] - maps[f"truth_{parameter.name}"]).values[observed]
        zone = RECOVERY_ZONE * parameter.span
        summary[parameter.name] = dict(
            within_zone=float(np.mean(error <= zone)),
            worst_error_of_zone=float(np.nanmax(error, initial=0.0) / zone),
            within_2_sd=float(np.mean(error <= 2 * maps[f"sd_{parameter.name}"].values[observed])),
        )
    return summary
