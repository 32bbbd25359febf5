"""Amortised NPE on a linear-Gaussian model, where the exact posterior is known.

x = A theta + noise on 4 cells x 2 targets, theta in [0, 1]^2, noise sigma per target. The posterior sd is about
0.05, so for mid-box truths the uniform prior truncates nothing and the posterior is the Gaussian
N(P^-1 A^T S^-1 x, P^-1) with P = A^T S^-1 A, S = diag(sigma^2).
"""

import time

import numpy as np
import pytest
import torch

from scopecal.inference import amortised

torch.set_num_threads(1)

BOUNDS = np.array([[0.0, 1.0], [0.0, 1.0]])
DESIGN = np.random.default_rng(1).normal(size=(4, 2, 2))  # cells x targets x parameters
SIGMA = np.array([0.06, 0.12])  # per target, broadcast over the cells
N_TRAIN = 4000
TRUTHS = [(0.5, 0.5), (0.35, 0.6), (0.6, 0.4)]


def simulate(theta: np.ndarray) -> np.ndarray:
    return np.einsum("ctp,np->nct", DESIGN, theta)


def exact_posterior(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the Gaussian posterior (flat prior, no truncation)."""
    design = DESIGN.reshape(-1, 2)
    weights = 1 / np.broadcast_to(SIGMA, x.shape).reshape(-1) ** 2
    covariance = np.linalg.inv(design.T @ (weights[:, None] * design))
    return covariance @ design.T @ (weights * x.reshape(-1)), covariance


@pytest.fixture(scope="module")
def posterior():
    theta = amortised.prior_draws(BOUNDS, N_TRAIN, seed=0)
    x = amortised.noisy(simulate(theta), SIGMA, seed=1)
    start = time.perf_counter()
    # A small spline flow with a raised learning rate: converges in well under a minute on one thread.
    trained = amortised.train(theta, x, BOUNDS, seed=0, hidden_features=32, num_transforms=2, learning_rate=2e-3)
    print(f"\ntraining on {N_TRAIN} simulations: {time.perf_counter() - start:.1f} s")
    return trained


def test_chunked_prior_draws_equal_unchunked():
    bounds = np.array([[0.0, 1.0], [-1.0, 2.0]])
    whole = amortised.prior_draws(bounds, 11, seed=4)
    assert whole.shape == (11, 2)
    assert ((whole >= bounds[:, 0]) & (whole <= bounds[:, 1])).all()
    assert whole[:, 1].min() < 0  # the draws span the second box, not [0, 1]
    for n_chunks in (1, 3, 4):
        chunks = [amortised.prior_chunk(bounds, 11, 4, k, n_chunks) for k in range(n_chunks)]
        np.testing.assert_array_equal(np.concatenate(chunks), whole)
    assert not np.array_equal(amortised.prior_draws(bounds, 11, seed=5), whole)
    with pytest.raises(ValueError):
        amortised.prior_chunk(bounds, 11, 4, 3, 3)


def test_noise_has_the_problem_sigma():
    simulations = np.ones((20_000, 4, 2))
    noisy = amortised.noisy(simulations, SIGMA, seed=2)
    np.testing.assert_allclose(noisy.std(axis=0), np.broadcast_to(SIGMA, (4, 2)), rtol=0.03)
    np.testing.assert_allclose(noisy.mean(axis=0), 1.0, atol=4 * SIGMA.max() / np.sqrt(20_000))
    np.testing.assert_array_equal(noisy, amortised.noisy(simulations, SIGMA, seed=2))


@pytest.mark.filterwarnings("ignore:Maximum number of epochs")  # two epochs on purpose: only determinism counts
def test_training_is_deterministic_given_the_seed():
    theta = amortised.prior_draws(BOUNDS, 300, seed=0)
    x = amortised.noisy(simulate(theta), SIGMA, seed=1)
    runs = [
        amortised.sample(amortised.train(theta, x, BOUNDS, seed=seed, num_transforms=1, max_epochs=2), x[0], 50, 0)
        for seed in (3, 3, 4)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("truth", TRUTHS)
def test_posterior_matches_the_exact_one(posterior, truth):
    x = amortised.noisy(simulate(np.array([truth])), SIGMA, seed=100)[0]
    mean, covariance = exact_posterior(x)
    sd = np.sqrt(np.diag(covariance))
    assert ((mean - 4 * sd > 0) & (mean + 4 * sd < 1)).all(), "the test needs a posterior well inside the box"

    samples = amortised.sample(posterior, x, 2000, seed=0)
    assert samples.shape == (2000, 2)
    mean_error = (samples.mean(axis=0) - mean) / sd
    sd_ratio = samples.std(axis=0) / sd
    print(f"\ntruth {truth}: (mean - exact) / sd {mean_error.round(3)}, sd / exact {sd_ratio.round(3)}")
    assert (np.abs(mean_error) < 0.3).all()
    assert (np.abs(sd_ratio - 1) < 0.25).all()


def test_expected_coverage(posterior):
    """Central 50% and 90% intervals cover the held-out truth at their level, within 8 points.

    With 300 held-out simulations the binomial scatter of an exact posterior's coverage is 2.9 points at 50%
    and 1.7 at 90%, so 8 points leaves room for that and a little network error, yet fails a posterior whose
    sd is 20% too small (coverage about 41% and 81%) or too large (58% and 95%).
    """
    theta = amortised.prior_draws(BOUNDS, 300, seed=7)
    x = amortised.noisy(simulate(theta), SIGMA, seed=8)
    levels = (0.5, 0.9)
    coverage = amortised.expected_coverage(posterior, theta, x, levels=levels, n_samples=500)
    print(f"\ncoverage (rows: levels {levels}, columns: parameters)\n{coverage}")
    assert coverage.shape == (2, 2)
    assert (np.abs(coverage - np.array(levels)[:, None]) <= 0.08).all()


def test_saved_posterior_gives_identical_samples(posterior, tmp_path):
    x = simulate(np.array([TRUTHS[0]]))[0]
    amortised.save(posterior, tmp_path / "posterior.pt")
    loaded = amortised.load(tmp_path / "posterior.pt")
    np.testing.assert_array_equal(amortised.sample(loaded, x, 500, seed=3), amortised.sample(posterior, x, 500, seed=3))
    assert not np.array_equal(amortised.sample(loaded, x, 500, seed=4), amortised.sample(posterior, x, 500, seed=3))


def test_sampling_past_its_time_limit_returns_what_it_has_and_warns(posterior):
    # the time NPE sampling takes is measured by the posterior runs (benchmarks/posterior_cost.py), not here
    x = simulate(np.array([TRUTHS[1]]))[0]
    with pytest.warns(UserWarning, match=r"only \d+ of 1000000 NPE samples fell inside the prior's bounds"):
        samples = amortised.sample(posterior, x, 1_000_000, seed=0, time_limit=0.05)
    assert 0 < len(samples) < 1_000_000 and samples.shape[1] == 2
    with pytest.raises(ValueError, match="no NPE sample fell inside the prior's bounds in 0 s"):
        amortised.sample(posterior, x, 1_000_000, seed=0, time_limit=0.0)
