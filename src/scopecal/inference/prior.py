"""The prior of a problem on its scaled parameters, and the unconstrained coordinates samplers move in.

The prior density of the scaled vector u is uniform on the box ``problem.scaled_bounds`` (so uniform in the
value for identity parameters, in its logarithm for log parameters, in the logit for logit parameters), times
the background Gaussian evaluated at the physical values theta(u) where the problem has a background. The
objective's misfit already holds that Gaussian's term, so the posterior density of u is exp(-misfit(u)) on the
box and zero outside it: a sampler needs nothing from the prior but the box.

Samplers move in z in R^n with u = lower + (upper - lower) sigmoid(z), so the box needs no boundary handling;
the density of z is the density of u times |du/dz|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..problems import Problem

# rounds of rejection sampling before a background that hardly overlaps the box is reported
MAX_REJECTION_ROUNDS = 1000


def uniform_draws(bounds: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, p) draws from the uniform distribution on the box ``bounds`` (p, 2)."""
    lower, upper = np.asarray(bounds, dtype=float).T
    return rng.uniform(lower, upper, size=(n, len(lower)))


@dataclass(frozen=True)
class Prior:
    problem: Problem

    @property
    def bounds(self) -> np.ndarray:
        """(parameters, 2): the box of u."""
        return self.problem.scaled_bounds

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of u, (n, parameters): uniform on the box, or the background Gaussian of the physical
        values truncated to the box.

        With a background, the draws follow the truncated Gaussian in theta, which is the prior exactly where
        every transform is the identity; they serve as starting points either way.
        """
        background = self.problem.background
        if background is None:
            return uniform_draws(self.bounds, n, rng)
        lower, upper = self.bounds.T
        low, high = self.problem.to_physical(lower), self.problem.to_physical(upper)
        accepted: list[np.ndarray] = []
        for _ in range(MAX_REJECTION_ROUNDS):
            theta = rng.multivariate_normal(background.mean, background.covariance, size=n)
            accepted.extend(theta[((theta >= low) & (theta <= high)).all(axis=1)])
            if len(accepted) >= n:
                return np.array([self.problem.to_scaled(value) for value in accepted[:n]])
        raise ValueError(f"problem {self.problem.name}: the background hardly overlaps the parameter box")

    def to_box(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """u from unconstrained ``z`` (..., parameters), and log|du/dz| summed over the parameters."""
        lower, upper = torch.as_tensor(self.bounds, dtype=z.dtype, device=z.device).unbind(1)
        u = lower + (upper - lower) * torch.sigmoid(z)
        # log(sigmoid(z) sigmoid(-z)), written to stay finite where the product underflows; torch's logsigmoid
        # would do, but takes milliseconds per call on a CPU
        log_jacobian = (torch.log(upper - lower) - z.abs() - 2 * torch.log1p(torch.exp(-z.abs()))).sum(-1)
        return u, log_jacobian

    def from_box(self, u: np.ndarray) -> np.ndarray:
        """z of a u inside the box (the inverse of :meth:`to_box`)."""
        lower, upper = self.bounds.T
        fraction = (np.asarray(u, dtype=float) - lower) / (upper - lower)
        return np.log(fraction) - np.log1p(-fraction)
