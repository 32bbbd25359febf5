"""Reference posterior samples of a problem's parameters by NUTS (pyro), resumable block by block.

The sampler moves in the unconstrained z of :mod:`.prior`; its potential is misfit(u(z)) - log|du/dz|, with
the misfit and its gradient from the objective (one model run each; pyro traces no model). An evaluation that
fails has potential +inf: NUTS ends the trajectory there as divergent and never draws the point.

Each chain starts from the Laplace approximation: a Gauss-Newton solve from the problem's first start finds the
posterior mode, the inverse of J^T J there (in z) is the first mass matrix, and the chain starts at a draw of
that Gaussian widened ``OVERDISPERSION`` times, so that R-hat still compares chains from different places. The
observations are precise (a posterior sd is 1/20 to 1/1,300 of the prior box), so a chain started at a prior draw
with a unit mass matrix spends most of its warm-up on trajectories of hundreds of steps. Then the chain is warmed
up once, adapting the step size (and the dense mass matrix where the search finds no usable mode: the chain then
starts at a prior draw), and draws come in blocks: each block is a fresh NUTS kernel
with adaptation off, the warmed-up step size and mass matrix, the previous block's last draw as its start, and a
random stream seeded from (seed, chain, block). Every finished stage is written to ``directory/chain<k>`` before
the next starts, so a killed run resumes at the first missing block and ends with exactly the numbers of an
uninterrupted run. Chains are independent: :func:`sample_chain` runs one (a workflow job each), and
:func:`posterior_from_chains` gathers them.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pandas as pd
import pyro
import torch
from pyro.infer.mcmc import NUTS
from scipy.optimize import least_squares

from ..problems import Problem
from .prior import Prior

if TYPE_CHECKING:  # the objective module loads SCOPE
    from ..objective import Evaluation

LOG = logging.getLogger("scopecal")

SITE = "z"
# starting points drawn before a chain gives up finding one where the model runs
MAX_START_TRIES = 100
# model runs (each with its Jacobian) the Gauss-Newton search for the posterior mode may take
MODE_EVALUATIONS = 40
# chains start at draws of the Laplace Gaussian with its standard deviations this many times wider
OVERDISPERSION = 2.0
# the mode is kept this share of the box away from its faces, where z is infinite
FACE_MARGIN = 1e-6
# settings that must match between a run and the stages it resumes from
SETTINGS = ("seed", "warmup", "block", "target_accept", "max_tree_depth")
# what each saved block holds per draw
STAGE_ARRAYS = ("z", "potential", "diverging", "n_steps")


class _Potential:
    """pyro's ``potential_fn``: misfit(u(z)) - log|du/dz| of ``{SITE: z}``, counting model evaluations."""

    def __init__(self, objective, prior: Prior) -> None:
        self.objective = objective
        self.prior = prior
        self.evaluations = 0
        self.gradient_evaluations = 0

    def __call__(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        u, log_jacobian = self.prior.to_box(params[SITE])
        return _Misfit.apply(u, self) - log_jacobian

    def residuals_and_jacobian(self, u: np.ndarray) -> Evaluation:
        self.evaluations += 1
        self.gradient_evaluations += 1
        return self.objective.evaluate(u, derivative="jacobian")

    def misfit(self, u: np.ndarray, gradient: bool) -> tuple[float, np.ndarray | None]:
        self.evaluations += 1
        self.gradient_evaluations += gradient
        evaluation: Evaluation = self.objective.evaluate(u, derivative="gradient" if gradient else None)
        if evaluation.failed:
            return math.inf, np.zeros_like(u)
        return evaluation.misfit, evaluation.gradient


class _Misfit(torch.autograd.Function):
    """The objective's misfit of u as a torch function, its gradient computed with the value."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, potential: _Potential) -> torch.Tensor:
        # pyro asks for the value alone when it only probes a step size: skip the backward pass then
        misfit, gradient = potential.misfit(u.detach().cpu().numpy(), gradient=ctx.needs_input_grad[0])
        if gradient is not None:
            ctx.save_for_backward(torch.as_tensor(gradient, dtype=u.dtype, device=u.device))
        return u.new_tensor(misfit)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (gradient,) = ctx.saved_tensors
        return grad_output * gradient, None


def _seed(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def _save(path: Path, **arrays) -> None:
    """Write an .npz so that a killed run leaves either the whole file or none."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as stream:
        np.savez(stream, **arrays)
    os.replace(partial, path)


def _run_kernel(
    kernel: NUTS,
    potential: _Potential,
    z: np.ndarray,
    steps: int,
    warmup: int,
    seed: int,
    inverse_mass_matrix: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``steps`` NUTS transitions from ``z``, the first ``warmup`` of them adapting; the draws after warmup.

    The kernel is driven directly rather than through ``pyro.infer.MCMC``, which runs ``setup`` (resetting the
    mass matrix to the identity) right before its first transition and cannot run a warmup without draws.
    """
    started, evaluations, gradients = time.perf_counter(), potential.evaluations, potential.gradient_evaluations
    draws, potentials, n_steps = [], [], []
    # the caller's random streams stay as they were
    with torch.random.fork_rng(devices=[]), pyro.validation_enabled(False):
        torch.manual_seed(seed)
        kernel.initial_params = {SITE: torch.as_tensor(z, dtype=torch.float64)}
        kernel.setup(warmup)
        if inverse_mass_matrix is not None:
            kernel.mass_matrix_adapter.inverse_mass_matrix = {(SITE,): torch.as_tensor(inverse_mass_matrix)}
            if warmup:  # setup chose its first step size for the unit mass matrix
                kernel._adapter.reset_step_size_adaptation(kernel.initial_params)
        params = kernel.initial_params
        for step in range(steps):
            before = potential.gradient_evaluations
            params = kernel.sample(params)
            if step >= warmup:
                draws.append(params[SITE].detach().numpy().copy())
                # pyro keeps the current state's potential here and offers no public accessor
                potentials.append(float(kernel._potential_energy_last))
                n_steps.append(potential.gradient_evaluations - before)
        diverging = np.zeros(steps - warmup, dtype=bool)
        if steps > warmup:  # diagnostics() divides by the number of draws
            diverging[kernel.diagnostics()["divergences"]] = True
        result = dict(
            z=np.array(draws).reshape(-1, len(z)) if steps > warmup else params[SITE].detach().numpy()[None],
            potential=np.array(potentials),
            n_steps=np.array(n_steps, dtype=int),
            diverging=diverging,
            step_size=np.float64(kernel.step_size),
            inverse_mass_matrix=kernel.inverse_mass_matrix[(SITE,)].detach().numpy().copy(),
        )
        kernel.cleanup()
    return result | dict(
        evaluations=potential.evaluations - evaluations,
        gradient_evaluations=potential.gradient_evaluations - gradients,
        seconds=time.perf_counter() - started,
    )


def laplace(evaluate: Callable[[np.ndarray], Evaluation], problem: Problem) -> tuple[np.ndarray, np.ndarray] | None:
    """z at the posterior mode and the Laplace covariance of z there, or None where the search finds no mode
    with a usable Jacobian.

    ``evaluate(u)``: the objective's evaluation with its Jacobian. The mode in u is found by Gauss-Newton
    (scipy's trust-region reflective least squares) from the problem's first start; its covariance (J^T J)^-1
    is carried to z by du/dz. The uniform prior adds nothing to either.
    """
    evaluations: dict[bytes, Evaluation] = {}

    def run(u: np.ndarray) -> Evaluation:
        key = np.asarray(u, dtype=float).tobytes()
        if key not in evaluations:
            evaluations[key] = evaluate(np.asarray(u, dtype=float))
        return evaluations[key]

    lower, upper = problem.scaled_bounds.T
    u0 = np.clip(problem.to_scaled(problem.start(0)), lower, upper)
    if run(u0).failed:
        return None
    result = least_squares(
        lambda u: run(u).residuals,
        u0,
        jac=lambda u: run(u).jacobian,
        bounds=(lower, upper),
        method="trf",
        max_nfev=MODE_EVALUATIONS,
    )
    margin = FACE_MARGIN * (upper - lower)
    mode = np.clip(result.x, lower + margin, upper - margin)
    evaluation = run(mode)
    information = evaluation.jacobian.T @ evaluation.jacobian if not evaluation.failed else None
    if information is None or np.linalg.cond(information) > 1 / np.finfo(float).eps:
        return None
    fraction = (mode - lower) / (upper - lower)
    du_dz = (upper - lower) * fraction * (1 - fraction)
    covariance = np.linalg.inv(information) / np.outer(du_dz, du_dz)
    return Prior(problem).from_box(mode), covariance


def _start(potential: _Potential, seed: int, chain: int, laplace_z: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """z where the model runs: a draw of the widened Laplace Gaussian, or of the prior where there is none."""
    rng = np.random.default_rng([seed, chain])
    for _ in range(MAX_START_TRIES):
        if laplace_z is None:
            z = potential.prior.from_box(potential.prior.sample(1, rng)[0])
        else:
            z = rng.multivariate_normal(laplace_z[0], OVERDISPERSION**2 * laplace_z[1])
        u = potential.prior.to_box(torch.as_tensor(z))[0].numpy()
        if math.isfinite(potential.misfit(u, gradient=False)[0]):
            return z
    raise RuntimeError(f"chain {chain}: the model failed at {MAX_START_TRIES} starting points")


def _warm_up(potential: _Potential, chain: int, settings: dict, options: dict) -> dict[str, np.ndarray]:
    """A chain's Laplace search, start and warm-up; the model runs and seconds count all three."""
    started, evaluations, gradients = time.perf_counter(), potential.evaluations, potential.gradient_evaluations
    laplace_z = laplace(potential.residuals_and_jacobian, potential.prior.problem)
    LOG.info(
        "chain %d: %s in %d model runs",
        chain,
        "no Laplace approximation, starts at a prior draw" if laplace_z is None else "Laplace approximation",
        potential.evaluations - evaluations,
    )
    start = _start(potential, settings["seed"], chain, laplace_z)
    searched = dict(
        evaluations=potential.evaluations - evaluations,
        gradient_evaluations=potential.gradient_evaluations - gradients,
        seconds=time.perf_counter() - started,
    )
    # the posteriors are close to Gaussian: the Laplace covariance beats an estimate from a short warm-up
    kernel = NUTS(
        potential_fn=potential, adapt_step_size=True, adapt_mass_matrix=laplace_z is None, full_mass=True, **options
    )
    warmup, seed = settings["warmup"], _seed(settings["seed"], chain, 0)
    warm = _run_kernel(kernel, potential, start, warmup, warmup, seed, None if laplace_z is None else laplace_z[1])
    return warm | {name: warm[name] + searched[name] for name in searched}


def _chain(
    potential: _Potential, directory: Path, chain: int, settings: dict, draws: int
) -> list[dict[str, np.ndarray]]:
    """Warmup and the draw blocks of one chain, each read from ``directory`` when an earlier run wrote it."""
    seed, block = settings["seed"], settings["block"]
    options = dict(target_accept_prob=settings["target_accept"], max_tree_depth=settings["max_tree_depth"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "warmup.npz"
    if not path.exists():
        warm = _warm_up(potential, chain, settings, options)
        _save(path, **warm, **settings)
        LOG.info("chain %d: warmed up, step size %.3g", chain, warm["step_size"])
    warm = dict(np.load(path))
    changed = [name for name in SETTINGS if warm[name] != settings[name]]
    if changed:
        raise ValueError(f"{directory} was sampled with other settings ({', '.join(changed)}): use a new directory")
    blocks, z = [], warm["z"][-1]
    for index in range(draws // block):
        path = directory / f"block{index:05d}.npz"
        if not path.exists():
            kernel = NUTS(
                potential_fn=potential,
                step_size=float(warm["step_size"]),
                adapt_step_size=False,
                adapt_mass_matrix=False,
                full_mass=True,
                **options,
            )
            result = _run_kernel(
                kernel, potential, z, block, 0, _seed(seed, chain, 1 + index), warm["inverse_mass_matrix"]
            )
            _save(path, **result)
            divergent = result["diverging"].sum()
            LOG.info("chain %d: block %d of %d, %d divergent", chain, index + 1, draws // block, divergent)
        blocks.append(dict(np.load(path)))
        z = blocks[-1]["z"][-1]
    return [warm, *blocks]


def sample_chain(
    objective,
    problem: Problem,
    directory: str | Path,
    chain: int,
    *,
    warmup: int = 500,
    draws: int = 1000,
    block: int = 100,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
) -> dict[str, np.ndarray]:
    """Chain ``chain`` of NUTS samples of the posterior exp(-misfit(u)) on the box of ``problem``, its stages
    saved under ``directory/chain<chain>``; returns its record for :func:`posterior_from_chains`.

    ``objective``: anything with ``evaluate(u, derivative=None | "gradient" | "jacobian") -> Evaluation``.
    ``draws`` must be a multiple of ``block``; a run with more draws than an earlier one extends it. The record
    holds the draws' ``z``, ``potential``, ``diverging`` and ``n_steps`` (gradient evaluations of the draw), the
    ``step_size``, the chain's model ``evaluations``, ``gradient_evaluations`` and wall ``seconds`` (over the
    whole run, resumed parts and the Laplace search included), ``draw_gradient_evaluations`` (those after
    warm-up) and the sampler settings.
    """
    if draws % block:
        raise ValueError(f"draws ({draws}) must be a multiple of block ({block})")
    settings = dict(seed=seed, warmup=warmup, block=block, target_accept=target_accept, max_tree_depth=max_tree_depth)
    stages = _chain(_Potential(objective, Prior(problem)), Path(directory) / f"chain{chain}", chain, settings, draws)
    warm, blocks = stages[0], stages[1:]
    return dict(
        **{name: np.concatenate([stage[name] for stage in blocks]) for name in STAGE_ARRAYS},
        step_size=warm["step_size"],
        **{name: np.sum([stage[name] for stage in stages]) for name in ("evaluations", "gradient_evaluations")},
        draw_gradient_evaluations=np.sum([stage["gradient_evaluations"] for stage in blocks]),
        seconds=np.sum([stage["seconds"] for stage in stages]),
        **settings,
    )


def posterior_from_chains(problem: Problem, chains: Sequence[Mapping[str, np.ndarray]]) -> az.InferenceData:
    """The chains' records (:func:`sample_chain`) as one InferenceData.

    Its posterior holds the physical values under the parameter names and the scaled ``u``; sample_stats hold
    ``lp`` (-potential, the log density of z), ``misfit``, ``diverging``, ``n_steps`` and ``step_size``; the
    posterior's attrs hold the sampler settings and, per chain, model ``evaluations``, ``gradient_evaluations``,
    ``draw_gradient_evaluations`` and wall ``seconds``.
    """
    settings = {name: np.asarray(chains[0][name]).item() for name in SETTINGS}
    for index, chain in enumerate(chains):
        changed = [name for name in SETTINGS if chain[name] != settings[name]]
        if changed:
            raise ValueError(f"chain {index} was sampled with other settings than chain 0 ({', '.join(changed)})")

    def stat(name: str) -> np.ndarray:
        return np.stack([chain[name] for chain in chains])

    u, log_jacobian = (tensor.numpy() for tensor in Prior(problem).to_box(torch.as_tensor(stat("z"))))
    physical = problem.to_physical(np.moveaxis(u, -1, 0))
    potential, draws = stat("potential"), len(chains[0]["potential"])
    idata = az.from_dict(
        posterior={name: values for name, values in zip(problem.names, physical, strict=True)} | {"u": u},
        sample_stats=dict(
            lp=-potential,
            misfit=potential + log_jacobian,
            diverging=stat("diverging"),
            n_steps=stat("n_steps"),
            step_size=np.repeat(stat("step_size")[:, None], draws, axis=1),
        ),
        coords={"parameter": problem.names},
        dims={"u": ["parameter"]},
    )
    counts = ("evaluations", "gradient_evaluations", "draw_gradient_evaluations")
    idata.posterior.attrs.update(
        problem=problem.name,
        **{name: [int(chain[name]) for chain in chains] for name in counts},
        seconds=[float(chain["seconds"]) for chain in chains],
        **settings,
    )
    return idata


def sample_posterior(
    objective, problem: Problem, directory: str | Path, *, chains: int = 4, **settings
) -> az.InferenceData:
    """``chains`` chains of :func:`sample_chain` (``settings`` are its keywords) one after another, gathered by
    :func:`posterior_from_chains` and saved as ``directory/posterior.nc``."""
    records = [sample_chain(objective, problem, directory, chain, **settings) for chain in range(chains)]
    idata = posterior_from_chains(problem, records)
    write_idata(idata, Path(directory) / "posterior.nc")
    return idata


def save_chain(record: Mapping[str, np.ndarray], path: str | Path) -> None:
    """Write a chain's record (an .npz) so that a killed job leaves the whole file or none."""
    _save(Path(path), **record)


def load_chain(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as record:
        return dict(record)


def write_idata(idata: az.InferenceData, path: str | Path) -> None:
    """Write an InferenceData so that a killed job leaves the whole file or none."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    idata.to_netcdf(str(partial))
    os.replace(partial, path)


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """Per physical parameter: mean, sd, 5% and 95% quantiles, r_hat, ess_bulk and ess_tail (ArviZ's)."""
    quantiles = {"q5": lambda x: np.quantile(x, 0.05), "q95": lambda x: np.quantile(x, 0.95)}
    table = az.summary(idata, var_names=["~u"], stat_funcs=quantiles, extend=True, round_to="none")
    return table[["mean", "sd", "q5", "q95", "r_hat", "ess_bulk", "ess_tail"]]
