"""torch.optim.Adam on the scaled parameters, projected onto the bounds after each step."""

import numpy as np
import torch


def minimize(objective, u0, bounds, options, seed):
    u = torch.tensor(u0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([u], lr=options.get("lr", 0.05))
    lower, upper = torch.as_tensor(bounds[:, 0]), torch.as_tensor(bounds[:, 1])
    patience, best, stale = options.get("patience", 20), np.inf, 0
    while True:
        misfit, gradient = objective.value_and_grad(u.detach().numpy().copy())
        if objective.last_failed:  # its gradient is zero and says nothing: back to the best point, half the step
            if misfit <= objective.best_misfit:
                return "Adam: SCOPE failed at the start point"
            with torch.no_grad():
                u.copy_(torch.as_tensor(objective.best_u))
            for group in optimizer.param_groups:
                group["lr"] /= 2
            continue
        if np.linalg.norm(gradient) < options.get("gtol", 1e-8):
            return "Adam: gradient norm below gtol"
        best, stale = (misfit, 0) if misfit < best * (1 - 1e-9) else (best, stale + 1)
        if stale >= patience:
            return f"Adam: no improvement in {patience} steps"
        optimizer.zero_grad()
        u.grad = torch.as_tensor(gradient)
        optimizer.step()
        with torch.no_grad():
            u.copy_(torch.clamp(u, lower, upper))
