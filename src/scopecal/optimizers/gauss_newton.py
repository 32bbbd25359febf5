"""scipy least_squares (trust-region reflective) with the autograd Jacobian of the residuals.

Each trial point is run with its Jacobian, so an accepted step costs no second model run.
"""

from scipy.optimize import least_squares


def minimize(objective, u0, bounds, options, seed):
    result = least_squares(
        lambda u: objective.residuals_and_jacobian(u)[0],
        u0,
        jac=lambda u: objective.residuals_and_jacobian(u)[1],
        bounds=(bounds[:, 0], bounds[:, 1]),
        method="trf",
        max_nfev=10**6,
        xtol=options.get("xtol", 1e-10),
        ftol=options.get("ftol", 1e-12),
        gtol=options.get("gtol", 1e-10),
    )
    return f"Gauss-Newton (TRF): {result.message}"
