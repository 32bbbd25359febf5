"""scipy Nelder-Mead on the misfit, within the bounds."""

from scipy.optimize import minimize as scipy_minimize


def minimize(objective, u0, bounds, options, seed):
    result = scipy_minimize(
        objective.value,
        u0,
        method="Nelder-Mead",
        bounds=bounds,
        options={
            "maxfev": 10**6,
            "xatol": options.get("xatol", 1e-6),
            "fatol": options.get("fatol", 1e-10),
            "adaptive": options.get("adaptive", False),
        },
    )
    return f"Nelder-Mead: {result.message}"
