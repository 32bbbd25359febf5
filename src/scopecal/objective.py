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

    def _model_residuals(self, cell_u: torch.Tensor) -> tuple[torch.Tensor, bool, int]:
        """(cells, targets) weighted residuals for per-cell scaled parameters ``cell_u`` (cells, n_params)."""
        tensors = dict(self.tensors)
        for index, parameter in enumerate(self.problem.parameters):
            tensors[parameter.name] = parameter.to_physical(cell_u[:, index])
        outputs = run_tensors(self.runner, self.problem.workflow, tensors, self.outputs, chunk_size=self.chunk_size)
        model = torch.stack([outputs[name].reshape(cell_u.shape[0]) for name in self.targets], dim=1)
        nonconverged = int((outputs["converged"] == 0).sum()) if "converged" in outputs else 0
        failed = nonconverged > 0 or not bool(torch.isfinite(model).all())
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
            pieces = [residuals.reshape(-1)]
            background_u = u_tensor.clone().requires_grad_(derivative is not None)
            if self.background_matrix is not None:
                pieces.append(self._background_residuals(background_u))
            vector = torch.cat(pieces)
        gradient = jacobian = None
        if failed:
            values = np.full(self.n_residuals, FAILED_RESIDUAL)
            gradient = np.zeros(n_params) if derivative == "gradient" else None
            jacobian = np.zeros((self.n_residuals, n_params)) if derivative == "jacobian" else None
        else:
            values = vector.detach().cpu().numpy()
            if derivative == "gradient":
                (0.5 * (vector**2).sum()).backward()
                gradient = cell_u.grad.sum(0).cpu().numpy()
                if background_u.grad is not None:
                    gradient = gradient + background_u.grad.cpu().numpy()
            elif derivative == "jacobian":
                jacobian = self._jacobian(residuals, cell_u, pieces, background_u)
        norms = values[: self.observations.numel()].reshape(self.n_cells, -1)
        return Evaluation(
            residuals=values,
            misfit=0.5 * float(values @ values),
            target_norms={name: float(np.linalg.norm(norms[:, i])) for i, name in enumerate(self.targets)},
            gradient=gradient,
            jacobian=jacobian,
            failed=failed,
            nonconverged_cells=nonconverged,
            model_seconds=time.perf_counter() - started,
        )

    def _jacobian(self, residuals, cell_u, pieces, background_u) -> np.ndarray:
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
