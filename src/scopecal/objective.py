"""The calibration objective on scope-rtm's tensor path.

r(u) = (model(theta(u)) - obs) / sigma over the observed cells and targets,
plus B^-1/2 (theta - theta_b) when the problem has a background; the misfit
is 0.5 ||r||^2. Inputs are stacked once; each evaluation injects the
parameters as tensors, runs only the requested outputs in float64, and gets
the gradient (one backward pass) or the Jacobian (one backward pass per
target) from the same forward run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scope import ScopeGridRunner

from .forward import run_tensors
from .problems import Problem

# a failed evaluation (NaN, or an energy balance that did not converge) is this far from every observation
FAILED_RESIDUAL = 1e4


@dataclass
class Evaluation:
    residuals: np.ndarray
    misfit: float
    target_norms: dict[str, float]
    gradient: np.ndarray | None = None
    jacobian: np.ndarray | None = None
    failed: bool = False
    nonconverged_cells: int = 0
    model_seconds: float = 0.0


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
    ) -> None:
        """``tensors``: inputs of the observed cells; ``observations``, ``sigma``: (cells, targets)."""
        self.runner = runner
        self.problem = problem
        self.tensors = dict(tensors)
        self.chunk_size = chunk_size
        reference = next(iter(self.tensors.values()))
        self.device, self.dtype = reference.device, reference.dtype
        self.n_cells = observations.shape[0]
        self.observations = torch.as_tensor(observations, dtype=self.dtype, device=self.device)
        self.sigma = torch.as_tensor(sigma, dtype=self.dtype, device=self.device)
        self.targets = [target.name for target in problem.targets]
        self.outputs = self.targets + (["converged"] if problem.workflow == "energy-balance" else [])
        self.background_matrix = (
            torch.as_tensor(problem.background.inverse_sqrt, dtype=self.dtype, device=self.device)
            if problem.background is not None
            else None
        )

    @property
    def n_residuals(self) -> int:
        background = len(self.problem.parameters) if self.background_matrix is not None else 0
        return self.observations.numel() + background

    def _model_residuals(
        self, cell_u: torch.Tensor, members: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weighted residuals (members, cells, targets) for per-cell scaled parameters ``cell_u``.

        ``members`` > 1 runs that many parameter sets in one call, stacked along the cell axis. Also
        returns, per member, whether the evaluation failed and how many cells did not converge.
        """
        tensors = {name: tensor.repeat(members, *[1] * (tensor.dim() - 1)) for name, tensor in self.tensors.items()}
        for index, parameter in enumerate(self.problem.parameters):
            tensors[parameter.name] = parameter.to_physical(cell_u[:, index])
        outputs = run_tensors(self.runner, self.problem.workflow, tensors, self.outputs, chunk_size=self.chunk_size)
        model = torch.stack([outputs[name].reshape(-1) for name in self.targets], dim=1)
        model = model.reshape(members, self.n_cells, len(self.targets))
        nonconverged = torch.zeros(members, dtype=torch.long)
        if "converged" in outputs:
            nonconverged = (outputs["converged"].reshape(members, self.n_cells) == 0).sum(1).cpu()
        failed = (nonconverged > 0) | ~torch.isfinite(model).reshape(members, -1).all(1).cpu()
        return (model - self.observations) / self.sigma, failed, nonconverged

    def _background_residuals(self, u: torch.Tensor) -> torch.Tensor:
        physical = torch.stack([p.to_physical(u[i]) for i, p in enumerate(self.problem.parameters)])
        mean = torch.as_tensor(self.problem.background.mean, dtype=self.dtype, device=self.device)
        return self.background_matrix @ (physical - mean)

    def evaluate(self, u: np.ndarray, *, derivative: str | None = None) -> Evaluation:
        """One model run at scaled ``u``; ``derivative`` is None, ``"gradient"`` or ``"jacobian"``."""
        started = time.perf_counter()
        n_params = len(u)
        u_tensor = torch.as_tensor(np.asarray(u, dtype=float), dtype=self.dtype, device=self.device)
        cell_u = u_tensor.expand(self.n_cells, n_params).clone().requires_grad_(derivative is not None)
        with torch.set_grad_enabled(derivative is not None):
            residuals, failed, nonconverged = self._model_residuals(cell_u)
            residuals, failed, nonconverged = residuals[0], bool(failed[0]), int(nonconverged[0])
            pieces = [residuals.reshape(-1)]
            background_u = u_tensor.clone().requires_grad_(derivative is not None)
            if self.background_matrix is not None:
                pieces.append(self._background_residuals(background_u))
            vector = torch.cat(pieces)
        gradient = jacobian = None
        if failed:
            gradient = np.zeros(n_params) if derivative == "gradient" else None
            jacobian = np.zeros((self.n_residuals, n_params)) if derivative == "jacobian" else None
        elif derivative == "gradient":
            (0.5 * (vector**2).sum()).backward()
            gradient = cell_u.grad.sum(0).cpu().numpy()
            if background_u.grad is not None:
                gradient = gradient + background_u.grad.cpu().numpy()
        elif derivative == "jacobian":
            jacobian = self._jacobian(residuals, cell_u, background_u)
        return self._evaluation(
            vector.detach().cpu().numpy(),
            failed,
            nonconverged,
            time.perf_counter() - started,
            gradient=gradient,
            jacobian=jacobian,
        )

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
            residuals, failed, nonconverged = self._model_residuals(cell_u.repeat_interleave(self.n_cells, 0), members)
            vectors = [residuals[k].reshape(-1) for k in range(members)]
            if self.background_matrix is not None:
                vectors = [torch.cat([v, self._background_residuals(cell_u[k])]) for k, v in enumerate(vectors)]
        seconds = (time.perf_counter() - started) / members
        return [
            self._evaluation(v.cpu().numpy(), bool(f), int(n), seconds)
            for v, f, n in zip(vectors, failed, nonconverged, strict=True)
        ]

    def _evaluation(self, values: np.ndarray, failed: bool, nonconverged: int, seconds: float, **derivatives):
        if failed:
            values = np.full(self.n_residuals, FAILED_RESIDUAL)
        norms = values[: self.observations.numel()].reshape(self.n_cells, -1)
        return Evaluation(
            residuals=values,
            misfit=0.5 * float(values @ values),
            target_norms={name: float(np.linalg.norm(norms[:, i])) for i, name in enumerate(self.targets)},
            failed=failed,
            nonconverged_cells=nonconverged,
            model_seconds=seconds,
            **derivatives,
        )

    def _jacobian(self, residuals, cell_u, background_u) -> np.ndarray:
        """d r / d u: cells are independent, so one backward pass per target gives every cell's row."""
        n_params = cell_u.shape[1]
        rows = torch.zeros((self.n_cells, len(self.targets), n_params), dtype=self.dtype, device=self.device)
        for index in range(len(self.targets)):
            (grad,) = torch.autograd.grad(residuals[:, index].sum(), cell_u, retain_graph=True)
            rows[:, index, :] = grad
        blocks = [rows.reshape(-1, n_params)]
        if self.background_matrix is not None:
            blocks.append(torch.autograd.functional.jacobian(self._background_residuals, background_u.detach()))
        return torch.cat(blocks).cpu().numpy()
