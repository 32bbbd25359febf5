"""scipy L-BFGS-B with the autograd gradient of the misfit (value and gradient from one model run)."""

from scipy.optimize import minimize as scipy_minimize


def minimize(objective, u0, bounds, options, seed):
    result = scipy_minimize(
        objective.value_and_grad,
        u0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={
            "maxfun": 10**6,
            "maxiter": 10**6,
            "ftol": options.get("ftol", 1e-12),
            "gtol": options.get("gtol", 1e-8),
        },
    )
    return f"L-BFGS-B: {result.message}"
