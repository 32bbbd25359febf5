"""Amortised neural posterior estimation (NPE, sbi) on the scaled parameter box.

Prior draws u ~ Uniform(scaled_bounds) go through the simulator; the problem's Gaussian observation noise is added
to the simulations, so the network learns the posterior under the noisy likelihood, prior x Gaussian likelihood.
One network is trained per problem (observation design) and then gives posterior samples for any observation set
of that design without further simulation. Calibration is checked by the expected coverage of per-parameter
central credible intervals on held-out prior simulations (simulation-based calibration).

Parameters are always in scaled coordinates u (``problem.to_physical`` maps them back). Simulations and
observations may have any per-draw shape, e.g. (n_observations, n_targets): they are flattened for the network.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sbi.diagnostics import run_sbc
from sbi.inference import NPE, DirectPosterior
from sbi.neural_nets import posterior_nn
from sbi.utils import BoxUniform

from .prior import uniform_draws

# seconds of rejection sampling before a set's NPE samples are cut short (see ``sample``)
SAMPLING_TIME_LIMIT = 120.0


def prior_draws(bounds: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(n, p) draws from the uniform prior on the box ``bounds`` (p, 2), seeded."""
    return uniform_draws(bounds, n, np.random.default_rng(seed))


def prior_chunk(bounds: np.ndarray, n: int, seed: int, chunk: int, n_chunks: int) -> np.ndarray:
    """Draws of chunk ``chunk`` (0-based) when the n draws are simulated in ``n_chunks`` contiguous chunks.

    Every chunk slices the same n draws, so draw i is the same whatever the chunking and the concatenated chunks
    equal ``prior_draws(bounds, n, seed)``. Drawing all n again per chunk is cheap next to one simulation.
    """
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} is not in 0..{n_chunks - 1}")
    return np.array_split(prior_draws(bounds, n, seed), n_chunks)[chunk]


def noisy(simulations: np.ndarray, sigma: np.ndarray | float, seed: int) -> np.ndarray:
    """Simulations plus Gaussian noise of standard deviation ``sigma`` (broadcastable to one simulation's shape)."""
    simulations = np.asarray(simulations, dtype=float)
    rng = np.random.default_rng(seed)
    return simulations + np.asarray(sigma, dtype=float) * rng.standard_normal(simulations.shape)


def _tensor(array: np.ndarray) -> torch.Tensor:
    # sbi's networks are float32.
    return torch.as_tensor(np.asarray(array), dtype=torch.float32)


class _NoTracking:
    """sbi tracker that records nothing: by default sbi writes TensorBoard logs under ./sbi-logs."""

    log_dir = None

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_params(self, params: dict) -> None:
        pass

    def add_figure(self, name: str, figure: object, step: int | None = None) -> None:
        pass

    def flush(self) -> None:
        pass


def train(
    theta: np.ndarray,
    x: np.ndarray,
    bounds: np.ndarray,
    *,
    seed: int,
    model: str = "nsf",
    hidden_features: int = 50,
    num_transforms: int = 5,
    batch_size: int = 200,
    learning_rate: float = 5e-4,
    max_epochs: int | None = None,
) -> DirectPosterior:
    """Train NPE on prior draws ``theta`` (N, p) and noisy simulations ``x`` (N, ...); return the posterior.

    The density estimator is an sbi flow (``model``: "nsf" neural spline flow by default, or "maf") with
    z-scored theta and x. Training stops when the validation loss has not improved for 20 epochs, or after
    ``max_epochs``. Simulations with NaN or inf are left out by sbi (failed SCOPE runs). The result is the same
    for the same seed and data (on the same machine and thread count); the global torch RNG is left untouched.
    """
    bounds = np.asarray(bounds, dtype=float)
    theta, x = _tensor(theta), _tensor(x).reshape(len(theta), -1)
    prior = BoxUniform(low=_tensor(bounds[:, 0]), high=_tensor(bounds[:, 1]))
    estimator = posterior_nn(
        model=model,
        z_score_theta="independent",
        z_score_x="independent",
        hidden_features=hidden_features,
        num_transforms=num_transforms,
    )
    with torch.random.fork_rng(devices=[]):
        # Seeds the network initialisation, the validation split and the batch order.
        torch.manual_seed(seed)
        inference = NPE(prior=prior, density_estimator=estimator, tracker=_NoTracking(), show_progress_bars=False)
        inference.append_simulations(theta, x)
        network = inference.train(
            training_batch_size=batch_size,
            learning_rate=learning_rate,
            max_num_epochs=max_epochs if max_epochs is not None else 2**31 - 1,
        )
    return inference.build_posterior(network)


def save(posterior: DirectPosterior, path: str | Path) -> None:
    """Pickle the whole posterior (network weights, z-scoring, prior box) with torch.save."""
    torch.save(posterior, path)


def load(path: str | Path) -> DirectPosterior:
    """A posterior written by :func:`save`.

    ``weights_only=False`` unpickles arbitrary objects, which is needed for the sbi classes: load only files
    this workflow wrote, never untrusted ones.
    """
    return torch.load(path, weights_only=False)


def sample(
    posterior: DirectPosterior, x_observed: np.ndarray, n: int, seed: int, time_limit: float = SAMPLING_TIME_LIMIT
) -> np.ndarray:
    """(n, p) posterior samples in u for one observation set (any shape that flattens to the training x).

    Samples outside the box (the flow's leakage) are rejected, so all lie within the prior's support. A network
    that puts nearly all its mass outside the box for this set (it does not fit it) would be sampled for ever:
    after ``time_limit`` seconds the samples accepted so far are returned, fewer than n, and a warning says so."""
    x = _tensor(x_observed).reshape(1, -1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Timeout exceeded")  # said below, with what it means
                samples = posterior.sample(
                    (n,), x=x, show_progress_bars=False, max_sampling_time=time_limit, return_partial_on_timeout=True
                )
        except RuntimeError as error:  # sbi's timeout before a sample was accepted
            raise ValueError(
                f"no NPE sample fell inside the prior's bounds in {time_limit:g} s: the network does not fit these "
                "observations (more simulations, or another design, may)"
            ) from error
    if len(samples) < n:
        warnings.warn(
            f"only {len(samples)} of {n} NPE samples fell inside the prior's bounds in {time_limit:g} s: the "
            "network does not fit these observations (more simulations, or another design, may)",
            stacklevel=2,
        )
    return samples.numpy().astype(float)


def expected_coverage(
    posterior: DirectPosterior,
    theta_test: np.ndarray,
    x_test: np.ndarray,
    levels: Sequence[float] = (0.5, 0.9),
    n_samples: int = 500,
    seed: int = 0,
) -> np.ndarray:
    """(len(levels), p) fraction of held-out (theta, x) whose theta lies in the central credible interval.

    The interval per parameter is the central one (equal tails) of the marginal posterior at each level. From
    sbi's SBC ranks: theta is inside when the fraction of its ``n_samples`` posterior samples below it lies in
    [(1 - level) / 2, (1 + level) / 2]. For a calibrated posterior and theta_test drawn from the prior the
    coverage equals the level up to binomial scatter over the len(theta_test) cases.
    """
    theta, x = _tensor(theta_test), _tensor(x_test).reshape(len(theta_test), -1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            # sbi announces that it samples the held-out cases in batches of 500 draws: expected, not a problem.
            warnings.filterwarnings("ignore", message="Capping max_sampling_batch_size")
            ranks, _ = run_sbc(theta, x, posterior, num_posterior_samples=n_samples, show_progress_bar=False)
    below = ranks.numpy() / n_samples
    tails = (1 - np.asarray(levels, dtype=float)[:, None, None]) / 2
    return ((below >= tails) & (below <= 1 - tails)).mean(axis=1)
