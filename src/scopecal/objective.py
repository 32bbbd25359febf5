"""The calibration objective on scope-rtm's tensor path.

r(u) = (model(theta(u)) - obs) / sigma over the observations and targets,
plus B^-1/2 (theta - theta_b) when the problem has a background; the misfit
is 0.5 ||r||^2. An observation is one cell's model value, or for a footprint
the weighted sum of several cells' values at one time. Inputs are stacked once; each evaluation injects the
parameters as tensors and runs only the requested outputs in float64, in
chunks of cells. A chunk's gradient (one backward pass) or Jacobian rows (one
backward pass per target) come from its own forward run, and its graph is
freed before the next chunk runs: memory does not grow with the number of
cells, and the cost grows linearly with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scope import ScopeGridRunner
from scope.energy import EnergyBalanceOptions

from .forward import CHUNK_SIZE, chunk_slices, energy_solved, run_tensors
from .problems import Problem

# a failed evaluation (NaN, or an energy balance left unsolved) is this far from every observation
FAILED_RESIDUAL = 1e4


@dataclass
class Evaluation:
    residuals: np.ndarray
    misfit: float
    target_norms: dict[str, float]
    gradient: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    failed: bool = False
    unsolved_cells: int = 0
    max_energy_error: float | None = None  # W m-2, the worst cell's energy-balance residual (energy balance only)
    model_seconds: float = 0.0


class _Piece(NamedTuple):
    """One chunk of observations (or the background term) of an evaluation."""

    residuals: torch.Tensor  # flat, detached
    derivative: torch.Tensor | None  # gradient of 0.5 ||residuals||^2, or the Jacobian rows
    failed: bool = False
    unsolved: int = 0
    max_energy_error: float | None = None


class Objective:
    """Residuals, misfit, gradient and Jacobian of one problem against one observation set."""

    def __init__(
        self,
        runner: ScopeGridRunner,
        problem: Problem,
        tensors: Mapping[str, torch.Tensor],
        observations: np.ndarray,
        sigma: np.ndarray,
        *,
        chunk_size: int | None = None,
        energy_options: EnergyBalanceOptions | None = None,
        footprint_weights: np.ndarray | None = None,
    ) -> None:
        """``tensors``: inputs of the modelled cells; ``observations``, ``sigma``: (observations, targets).

        ``footprint_weights``: (k,) when each observation is the weighted sum of the model at k consecutive
        cells (a footprint at one time); None: one cell an observation. ``chunk_size``: cells per model run
        (None: ``forward.CHUNK_SIZE`` of the workflow; a chunk holds whole footprints); ``energy_options``:
        the energy balance's stopping rule (None: ``forward.ENERGY_BALANCE_RULE``).
        """
        self.runner = runner
        self.problem = problem
        self.tensors = dict(tensors)
        self.chunk_size = chunk_size or CHUNK_SIZE[problem.workflow]
        self.energy_options = energy_options
        reference = next(iter(self.tensors.values()))
        self.device, self.dtype = reference.device, reference.dtype
        self.weights = (
            None
            if footprint_weights is None
            else torch.as_tensor(footprint_weights, dtype=self.dtype, device=self.device)
        )
        self.cells_per_observation = 1 if self.weights is None else len(self.weights)
        self.observations_per_chunk = max(1, self.chunk_size // self.cells_per_observation)
        self.n_observations = observations.shape[0]
        self.n_cells = self.n_observations * self.cells_per_observation
        if reference.shape[0] != self.n_cells:
            raise ValueError(
                f"{reference.shape[0]} modelled cells for {self.n_observations} observations of "
                f"{self.cells_per_observation} cells each"
            )
        self.observations = torch.as_tensor(observations, dtype=self.dtype, device=self.device)
        self.sigma = torch.as_tensor(sigma, dtype=self.dtype, device=self.device)
        self.targets = [target.name for target in problem.targets]
        self.outputs = self.targets + (["max_error"] if problem.workflow == "energy-balance" else [])
        self.background_matrix = (
            torch.as_tensor(problem.background.inverse_sqrt, dtype=self.dtype, device=self.device)
            if problem.background is not None
            else None
        )

    @property
    def n_residuals(self) -> int:
        background = len(self.problem.parameters) if self.background_matrix is not None else 0
        return self.observations.numel() + background

    def _row_index(self, rows: slice | torch.Tensor) -> torch.Tensor:
        """The observations ``rows`` (a slice or an index tensor) as an index tensor."""
        if not isinstance(rows, slice):
            rows = torch.as_tensor(rows, device=self.device)
        return torch.arange(self.n_observations, device=self.device)[rows]

    def _model(
        self, cell_u: torch.Tensor, rows: slice | torch.Tensor = slice(None), members: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Model values (members, observations, targets) of the observations ``rows`` (a slice or an index
        tensor) for per-cell scaled parameters ``cell_u`` (one row per modelled cell), and whether each (member,
        observation) is usable.

        ``members`` > 1 runs that many parameter sets in one call, stacked along the cell axis. An observation is
        unusable when one of its cells gave a non-finite value or an energy balance left unsolved. Also returns,
        per member, how many cells were left unsolved and the worst cell's energy-balance residual (None without
        an energy balance).
        """
        per_row = self.cells_per_observation
        index = self._row_index(rows)
        n_rows = len(index)
        cells = (index[:, None] * per_row + torch.arange(per_row, device=self.device)).reshape(-1)
        tensors = {
            name: tensor[cells].repeat(members, *[1] * (tensor.dim() - 1)) for name, tensor in self.tensors.items()
        }
        for index, parameter in enumerate(self.problem.parameters):
            tensors[parameter.name] = parameter.to_physical(cell_u[:, index])
        outputs = run_tensors(
            self.runner,
            self.problem.workflow,
            tensors,
            self.outputs,
            chunk_size=self.chunk_size,
            energy_options=self.energy_options,
        )
        model = torch.stack([outputs[name].reshape(-1) for name in self.targets], dim=1)
        model = model.reshape(members, n_rows, per_row, len(self.targets))
        usable = torch.isfinite(model).all(3).all(2).cpu()
        model = model[:, :, 0] if self.weights is None else (model * self.weights[:, None]).sum(2)
        unsolved, energy_error = torch.zeros(members, dtype=torch.long), None
        if "max_error" in outputs:
            solved = energy_solved(outputs["max_error"]).reshape(members, n_rows, per_row).cpu()
            usable &= solved.all(2)
            unsolved = (~solved).reshape(members, -1).sum(1)
            energy_error = outputs["max_error"].detach().reshape(members, -1).amax(1).cpu()
        return model, usable, unsolved, energy_error

    def _model_residuals(
        self, cell_u: torch.Tensor, rows: slice | torch.Tensor = slice(None), members: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Weighted residuals (members, observations, targets) of the observations ``rows`` (see :meth:`_model`).

        Also returns whether each (member, observation) is usable and, per member, how many cells were left
        unsolved and the worst cell's energy-balance residual (None without an energy balance).
        """
        model, usable, unsolved, energy_error = self._model(cell_u, rows, members)
        index = self._row_index(rows)
        residuals = (model - self.observations[index]) / self.sigma[index]
        return residuals, usable, unsolved, energy_error

    def _background_residuals(self, u: torch.Tensor) -> torch.Tensor:
        physical = torch.stack([p.to_physical(u[i]) for i, p in enumerate(self.problem.parameters)])
        mean = torch.as_tensor(self.problem.background.mean, dtype=self.dtype, device=self.device)
        return self.background_matrix @ (physical - mean)

    def evaluate(self, u: np.ndarray, *, derivative: str | None = None) -> Evaluation:
        """One model run at scaled ``u``, chunk by chunk; ``derivative`` is None, ``"gradient"`` or ``"jacobian"``."""
        started = time.perf_counter()
        n_params = len(u)
        u_tensor = torch.as_tensor(np.asarray(u, dtype=float), dtype=self.dtype, device=self.device)
        pieces = [
            self._cells(u_tensor, rows, derivative)
            for rows in chunk_slices(self.n_observations, self.observations_per_chunk)
        ]
        if self.background_matrix is not None:
            pieces.append(self._background(u_tensor, derivative))
        failed = any(piece.failed for piece in pieces)
        gradient = jacobian = None
        if derivative == "gradient":
            gradient = np.zeros(n_params) if failed else sum(piece.derivative for piece in pieces).cpu().numpy()
        elif derivative == "jacobian":
            jacobian = (
                np.zeros((self.n_residuals, n_params))
                if failed
                else torch.cat([piece.derivative for piece in pieces]).cpu().numpy()
            )
        errors = [piece.max_energy_error for piece in pieces if piece.max_energy_error is not None]
        return self._evaluation(
            torch.cat([piece.residuals for piece in pieces]).cpu().numpy(),
            failed,
            sum(piece.unsolved for piece in pieces),
            time.perf_counter() - started,
            max_energy_error=max(errors) if errors else None,
            gradient=gradient,
            jacobian=jacobian,
        )

    def _cells(self, u: torch.Tensor, rows: slice, derivative: str | None) -> _Piece:
        """Residuals of one chunk of observations and their derivative; the chunk's graph is freed on return."""
        n_chunk = len(range(self.n_observations)[rows]) * self.cells_per_observation
        cell_u = u.expand(n_chunk, len(u)).clone().requires_grad_(derivative is not None)
        # the derivative is taken inside: under the caller's grad mode (off where the NUTS sampler calls from a
        # torch.autograd.Function) indexing the residuals would cut them from the graph
        with torch.set_grad_enabled(derivative is not None):
            residuals, usable, unsolved, energy_error = self._model_residuals(cell_u, rows)
            residuals, failed = residuals[0], not bool(usable[0].all())
            derived = None if failed else self._derivative(residuals, cell_u, derivative, self.cells_per_observation)
        energy_error = None if energy_error is None else float(energy_error[0])
        return _Piece(residuals.detach().reshape(-1), derived, failed, int(unsolved[0]), energy_error)

    def _background(self, u: torch.Tensor, derivative: str | None) -> _Piece:
        """The background term as one more piece: a single row whose "targets" are the background components."""
        row_u = u.reshape(1, -1).clone().requires_grad_(derivative is not None)
        with torch.set_grad_enabled(derivative is not None):
            residuals = self._background_residuals(row_u[0]).reshape(1, -1)
            derived = self._derivative(residuals, row_u, derivative)
        return _Piece(residuals.detach().reshape(-1), derived)

    @staticmethod
    def _derivative(
        residuals: torch.Tensor, cell_u: torch.Tensor, derivative: str | None, cells_per_row: int = 1
    ) -> torch.Tensor | None:
        """d(0.5 ||r||^2)/du, or the Jacobian rows d r/du in r's (observation, target) order, of residuals
        (observations, targets) modelled by ``cells_per_row`` consecutive rows of ``cell_u`` each.

        Cells are independent, so one backward pass per target gives every cell's contribution to that target;
        an observation's row sums its cells'.
        """
        if derivative == "gradient":
            (grad,) = torch.autograd.grad(0.5 * (residuals**2).sum(), cell_u)
            return grad.sum(0)
        if derivative == "jacobian":
            n_targets = residuals.shape[1]
            columns = [
                torch.autograd.grad(residuals[:, index].sum(), cell_u, retain_graph=index < n_targets - 1)[0]
                for index in range(n_targets)
            ]
            rows = torch.stack(columns, dim=1).reshape(residuals.shape[0], cells_per_row, n_targets, -1).sum(1)
            return rows.reshape(-1, cell_u.shape[1])
        return None

    def evaluate_rows(
        self, row_u: np.ndarray, rows: np.ndarray, *, jacobian: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Weighted residuals (rows, targets) of the observations ``rows``, each at its own scaled parameters
        (``row_u``: one row per observation), in model runs of one chunk each; whether each observation was
        usable; with ``jacobian``, d residual / d its row's parameters (rows, targets, parameters).

        This is the per-pixel calibration's batched evaluation: cells are independent, so observations of many
        pixels, each pixel at its own candidate, share one run, and one backward pass per target gives every
        row's derivatives.
        """
        if self.cells_per_observation != 1:
            raise ValueError("per-row parameters need one modelled cell per observation, not a footprint")
        pieces = [self._rows(row_u[chunk], rows[chunk], jacobian) for chunk in chunk_slices(len(rows), self.chunk_size)]
        residuals, usable, derivatives = zip(*pieces, strict=True)
        return np.concatenate(residuals), np.concatenate(usable), np.concatenate(derivatives) if jacobian else None

    def _rows(
        self, row_u: np.ndarray, rows: np.ndarray, jacobian: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One chunk of :meth:`evaluate_rows`; its graph is freed on return."""
        cell_u = torch.as_tensor(np.asarray(row_u, dtype=float), dtype=self.dtype, device=self.device)
        cell_u.requires_grad_(jacobian)
        with torch.set_grad_enabled(jacobian):
            residuals, usable, _, _ = self._model_residuals(cell_u, torch.as_tensor(rows))
            residuals = residuals[0]
            derivatives = None
            if jacobian:
                derivatives = self._derivative(residuals, cell_u, "jacobian").reshape(*residuals.shape, -1)
                derivatives = derivatives.cpu().numpy()
        return residuals.detach().cpu().numpy(), usable[0].numpy(), derivatives

    @property
    def batches_populations(self) -> bool:
        """Run a population in one call on a GPU; never for the energy balance, whose batch members interact
        (a batch iterates until its slowest member converges), nor on a CPU, where it does not pay."""
        return self.device.type == "cuda" and self.problem.workflow != "energy-balance"

    def evaluate_population(self, population: np.ndarray) -> list[Evaluation]:
        """Misfits of several scaled points from one model run (no derivatives)."""
        started = time.perf_counter()
        members = len(population)
        cell_u = torch.as_tensor(np.asarray(population, dtype=float), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            residuals, usable, unsolved, energy_error = self._model_residuals(
                cell_u.repeat_interleave(self.n_cells, 0), members=members
            )
            failed = ~usable.all(1)
            vectors = [residuals[k].reshape(-1) for k in range(members)]
            if self.background_matrix is not None:
                vectors = [torch.cat([v, self._background_residuals(cell_u[k])]) for k, v in enumerate(vectors)]
        seconds = (time.perf_counter() - started) / members
        errors = [None] * members if energy_error is None else [float(e) for e in energy_error]
        return [
            self._evaluation(v.cpu().numpy(), bool(f), int(n), seconds, max_energy_error=e)
            for v, f, n, e in zip(vectors, failed, unsolved, errors, strict=True)
        ]

    def simulate(self, population: np.ndarray) -> np.ndarray:
        """Model values (members, observations, targets) in physical units at several scaled points, NaN in the
        rows of observations SCOPE gave no usable value for (a non-finite output, an energy balance unsolved).

        Members are stacked along the cell axis as in :meth:`evaluate_population`, as many per call as fill one
        chunk of cells (at least one), so memory stays that of one evaluation however many members there are.
        """
        population = np.asarray(population, dtype=float).reshape(-1, len(self.problem.parameters))
        per_call = max(1, self.chunk_size // self.n_cells)
        values = [np.empty((0, self.n_observations, len(self.targets)))]
        with torch.no_grad():
            for members in chunk_slices(len(population), per_call):
                batch = torch.as_tensor(population[members], dtype=self.dtype, device=self.device)
                model, usable, _, _ = self._model(batch.repeat_interleave(self.n_cells, 0), members=len(batch))
                model = model.masked_fill(~usable[..., None].to(model.device), float("nan"))
                values.append(model.to("cpu", torch.float64).numpy())
        return np.concatenate(values)

    def _evaluation(
        self,
        values: np.ndarray,
        failed: bool,
        unsolved: int,
        seconds: float,
        max_energy_error: float | None = None,
        **derivatives,
    ):
        if failed:
            values = np.full(self.n_residuals, FAILED_RESIDUAL)
        norms = values[: self.observations.numel()].reshape(self.n_observations, -1)
        return Evaluation(
            residuals=values,
            misfit=0.5 * float(values @ values),
            target_norms={name: float(np.linalg.norm(norms[:, i])) for i, name in enumerate(self.targets)},
            failed=failed,
            unsolved_cells=unsolved,
            max_energy_error=max_energy_error,
            model_seconds=seconds,
            **derivatives,
        )
