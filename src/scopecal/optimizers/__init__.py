"""One module per optimiser, each with ``minimize(objective, u0, bounds, options, seed) -> str``.

``objective`` is a :class:`scopecal.trace.TracedObjective` over the scaled
parameters ``u``; ``bounds`` is an (n, 2) array of scaled bounds; the return
value is the optimiser's own reason for stopping. Budgets are enforced by the
objective (it raises ``BudgetExhausted``), never by iteration counts.
Adding an optimiser: a module here, a line in ``OPTIMIZERS``, its name in
config/schema.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..trace import BudgetExhausted, TracedObjective
from . import adam, cmaes, de, dfols, gauss_newton, lbfgsb, neldermead

Minimizer = Callable[[TracedObjective, np.ndarray, np.ndarray, Mapping[str, Any], int], str]

OPTIMIZERS: dict[str, Minimizer] = {
    "lbfgsb": lbfgsb.minimize,
    "dfols": dfols.minimize,
    "cmaes": cmaes.minimize,
    "neldermead": neldermead.minimize,
    "adam": adam.minimize,
    "gauss_newton": gauss_newton.minimize,
    "de": de.minimize,
}


def run_optimizer(name: str, objective: TracedObjective, u0: np.ndarray, options: Mapping[str, Any], seed: int) -> str:
    """Run optimiser ``name`` until it stops or the budget is spent; return why it stopped."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of {sorted(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](
            objective, np.asarray(u0, dtype=float), objective.problem.scaled_bounds, dict(options), seed
        )
    except BudgetExhausted:
        return f"budget of {objective.budget} model evaluations used"
