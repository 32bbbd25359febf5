"""The NUTS reference sampler on a linear-Gaussian fake objective whose posterior is known in closed form."""

import numpy as np
import pytest
import torch
import xarray as xr

from scopecal.inference import mcmc
from scopecal.inference.prior import Prior
from scopecal.objective import Evaluation
from scopecal.problems import problem_from_config

SPEC = dict(
    workflow="thermal",
    parameters={
        "LAI": dict(lower=0.5, upper=6.0, starts=[2.0]),
        "Cab": dict(lower=5.0, upper=80.0, transform="log", starts=[40.0]),
    },
    targets={"LST": {"absolute": 1.0}},
    observations={"clean": {}},
)
# the posterior of u: far inside the unit box, so the truncation to it is negligible
MEAN = np.array([0.4, 0.6])
SD = np.array([0.05, 0.04])
CORRELATION = -0.95
COVARIANCE = np.outer(SD, SD) * np.array([[1.0, CORRELATION], [CORRELATION, 1.0]])


class Interrupted(Exception):
    """Stands for the kill of a sampling job."""


class LinearGaussian:
    """The objective's interface for r = (A u - y) / sigma with A = L^-1, y = A MEAN, sigma = 1, where
    COVARIANCE = L L^T: then exp(-misfit) is the Gaussian N(MEAN, COVARIANCE).

    ``fails_above``: the model fails where u[0] exceeds it; ``interrupt_after``: evaluations before a kill.
    """

    def __init__(self, fails_above: float = np.inf, interrupt_after: int | None = None) -> None:
        self.matrix = np.linalg.inv(np.linalg.cholesky(COVARIANCE))
        self.data = self.matrix @ MEAN
        self.fails_above = fails_above
        self.interrupt_after = interrupt_after
        self.calls = 0

    def evaluate(self, u: np.ndarray, *, derivative: str | None = None) -> Evaluation:
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise Interrupted
        failed = u[0] > self.fails_above
        residuals = np.full(2, 1e4) if failed else self.matrix @ u - self.data
        derivatives = dict(
            gradient=np.zeros(2) if failed else self.matrix.T @ residuals,
            jacobian=np.zeros((2, 2)) if failed else self.matrix,
        )
        return Evaluation(
            residuals,
            0.5 * float(residuals @ residuals),
            {"LST": 0.0},
            **({derivative: derivatives[derivative]} if derivative else {}),
            failed=failed,
        )


@pytest.fixture(scope="module")
def problem():
    return problem_from_config("gaussian", SPEC)


@pytest.fixture(scope="module")
def posterior(problem, tmp_path_factory):
    return mcmc.sample_posterior(
        LinearGaussian(), problem, tmp_path_factory.mktemp("mcmc"), chains=4, warmup=100, draws=500, block=250, seed=3
    )


def test_prior_box_map_and_draws(problem):
    prior = Prior(problem)
    draws = prior.sample(200, np.random.default_rng(0))
    assert draws.shape == (200, 2) and ((draws > 0) & (draws < 1)).all()
    z = torch.as_tensor(prior.from_box(draws[:3]))
    u, log_jacobian = prior.to_box(z)
    np.testing.assert_allclose(u.numpy(), draws[:3], rtol=1e-12)
    jacobian = torch.autograd.functional.jacobian(lambda x: prior.to_box(x)[0], z[0])
    np.testing.assert_allclose(log_jacobian[0].item(), torch.log(torch.det(jacobian).abs()).item(), rtol=1e-10)

    spec = SPEC | dict(background={"mean": {"LAI": 5.5, "Cab": 40.0}, "std": {"LAI": 1.0, "Cab": 10.0}})
    background = Prior(problem_from_config("background", spec))
    physical = background.problem.to_physical(background.sample(500, np.random.default_rng(1)).T)
    assert (physical[0] <= 6.0).all() and physical[0].mean() < 5.5  # truncated at the upper bound


def test_posterior_matches_the_closed_form(posterior, problem):
    table = mcmc.diagnostics(posterior)
    assert list(table.index) == problem.names
    assert (table["r_hat"] <= 1.01).all()
    u = posterior.posterior["u"].values.reshape(-1, 2)
    ess = table["ess_bulk"].to_numpy()
    assert (np.abs(u.mean(0) - MEAN) < 4 * SD / np.sqrt(ess)).all()
    np.testing.assert_allclose(u.std(0), SD, rtol=0.15)
    assert np.corrcoef(u.T)[0, 1] == pytest.approx(CORRELATION, abs=0.02)
    assert not posterior.sample_stats["diverging"].values.any()

    physical = np.stack([posterior.posterior[name].values for name in problem.names])
    np.testing.assert_array_equal(physical, problem.to_physical(np.moveaxis(posterior.posterior["u"].values, -1, 0)))
    lai = table.loc["LAI"]
    assert lai["q5"] < lai["mean"] < lai["q95"]


def test_laplace_start_is_the_mode_and_its_covariance(problem):
    objective = LinearGaussian()
    z, covariance = mcmc.laplace(lambda u: objective.evaluate(u, derivative="jacobian"), problem)
    np.testing.assert_allclose(Prior(problem).to_box(torch.as_tensor(z))[0].numpy(), MEAN, atol=1e-9)
    lower, upper = problem.scaled_bounds.T
    du_dz = (MEAN - lower) * (upper - MEAN) / (upper - lower)
    np.testing.assert_allclose(covariance * np.outer(du_dz, du_dz), COVARIANCE, rtol=1e-6)
    # a model that fails at the problem's start gives no Laplace approximation: the chains start at prior draws
    failing = LinearGaussian(fails_above=0.0)
    assert mcmc.laplace(lambda u: failing.evaluate(u, derivative="jacobian"), problem) is None


def test_cost_and_misfit_are_recorded(posterior):
    attrs = posterior.posterior.attrs
    chains, draws = posterior.posterior.sizes["chain"], posterior.posterior.sizes["draw"]
    # every draw's leapfrog steps, plus one evaluation at the start of each block
    blocks = chains * draws // attrs["block"]
    assert sum(attrs["draw_gradient_evaluations"]) == posterior.sample_stats["n_steps"].values.sum() + blocks
    assert (np.array(attrs["gradient_evaluations"]) > np.array(attrs["draw_gradient_evaluations"])).all()
    assert len(attrs["seconds"]) == chains
    print(f"gradient evaluations per draw: {sum(attrs['draw_gradient_evaluations']) / (chains * draws):.2f}")
    expected = 0.5 * _mahalanobis(posterior.posterior["u"].values)
    np.testing.assert_allclose(posterior.sample_stats["misfit"], expected, rtol=1e-8, atol=1e-12)


def _mahalanobis(u: np.ndarray) -> np.ndarray:
    d = u - MEAN
    return np.einsum("...i,ij,...j->...", d, np.linalg.inv(COVARIANCE), d)


def test_killed_run_resumes_to_the_same_draws(problem, tmp_path):
    settings = dict(chains=2, warmup=60, draws=40, block=10, seed=5)
    reference = LinearGaussian()
    whole = mcmc.sample_posterior(reference, problem, tmp_path / "whole", **settings)

    with pytest.raises(Interrupted):
        mcmc.sample_posterior(
            LinearGaussian(interrupt_after=reference.calls * 2 // 3), problem, tmp_path / "resumed", **settings
        )
    assert list((tmp_path / "resumed" / "chain0").glob("block*.npz"))
    assert not (tmp_path / "resumed" / "posterior.nc").exists()
    resumed = mcmc.sample_posterior(LinearGaussian(), problem, tmp_path / "resumed", **settings)

    for group in ("posterior", "sample_stats"):
        for name, values in whole[group].items():
            assert np.array_equal(values.values, resumed[group][name].values), (group, name)
    for name in ("evaluations", "gradient_evaluations", "draw_gradient_evaluations"):
        assert whole.posterior.attrs[name] == resumed.posterior.attrs[name]
    saved = xr.open_dataset(tmp_path / "resumed" / "posterior.nc", group="posterior")
    np.testing.assert_array_equal(saved["LAI"].values, whole.posterior["LAI"].values)

    with pytest.raises(ValueError, match="other settings"):
        mcmc.sample_posterior(LinearGaussian(), problem, tmp_path / "resumed", **settings | dict(block=20))


def test_failed_region_is_never_drawn(problem, tmp_path):
    limit = MEAN[0] + SD[0]
    idata = mcmc.sample_posterior(
        LinearGaussian(fails_above=limit), problem, tmp_path, chains=2, warmup=100, draws=100, block=50, seed=1
    )
    u = idata.posterior["u"].values
    assert (u[..., 0] <= limit).all()
    assert np.isfinite(idata.sample_stats["lp"].values).all()
    assert idata.sample_stats["diverging"].values.any()
