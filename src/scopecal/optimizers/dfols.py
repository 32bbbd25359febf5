"""DFO-LS (derivative-free Gauss-Newton trust region) on the residual vector.

``rhobeg``/``rhoend`` are the initial and final trust-region radii in the
scaled space; ``noisy: true`` selects DFO-LS's settings for noisy objectives
(and allows soft restarts); ``user_params`` passes any other DFO-LS setting.
"""

import dfols as dfo


def minimize(objective, u0, bounds, options, seed):
    solution = dfo.solve(
        objective.residuals,
        u0,
        bounds=(bounds[:, 0], bounds[:, 1]),
        rhobeg=options.get("rhobeg", 0.1),
        rhoend=options.get("rhoend", 1e-8),
        maxfun=10**6,
        objfun_has_noise=options.get("noisy", False),
        user_params=options.get("user_params"),
        do_logging=False,
    )
    return f"DFO-LS: {solution.msg}"
