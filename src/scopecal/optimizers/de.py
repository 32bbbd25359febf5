"""scipy differential evolution: a global, population-based search seeded with the start point."""

from scipy.optimize import differential_evolution


def minimize(objective, u0, bounds, options, seed):
    result = differential_evolution(
        objective.value,
        bounds,
        x0=u0,
        seed=seed,
        popsize=options.get("popsize", 8),
        polish=False,
        maxiter=10**6,
        tol=options.get("tol", 1e-8),
        init="latinhypercube",
    )
    return f"differential evolution: {result.message}"
