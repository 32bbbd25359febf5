"""CMA-ES from the cmaes package; IPOP restarts (doubling population) when ``restarts`` > 0.

A generation is handed to the objective as a whole, which runs it as one batch on a GPU.
"""

import numpy as np
from cmaes import CMA


def minimize(objective, u0, bounds, options, seed):
    population = options.get("population_size")
    mean = np.asarray(u0, dtype=float)
    messages = []
    for restart in range(options.get("restarts", 0) + 1):
        strategy = CMA(
            mean=mean, sigma=options.get("sigma0", 0.2), bounds=bounds, seed=seed + restart, population_size=population
        )
        while not strategy.should_stop():
            objective.generation = (objective.generation or 0) + 1
            candidates = [strategy.ask() for _ in range(strategy.population_size)]
            misfits = objective.values(np.array(candidates))
            strategy.tell(list(zip(candidates, misfits, strict=True)))
        messages.append(f"run {restart + 1} stopped (population {strategy.population_size})")
        population = 2 * strategy.population_size
        mean = np.random.default_rng(seed + restart).uniform(bounds[:, 0], bounds[:, 1])
    return "CMA-ES: " + "; ".join(messages)
