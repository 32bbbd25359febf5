"""The posterior stages' file handling and the comparison table, on made-up samples (no SCOPE runs)."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from scopecal.inference import report, stages
from scopecal.inference.mcmc import diagnostics as mcmc_diagnostics
from scopecal.problems import problem_from_config

SPEC = dict(
    workflow="thermal",
    parameters={
        "Tcu": dict(truth=30.0, lower=10.0, upper=50.0, starts=[25.0]),
        "rss": dict(truth=700.0, lower=10.0, upper=5000.0, transform="log", starts=[500.0]),
    },
    targets={"Loutt": {"absolute": 0.2}},
    observations={"clean": {}},
)


@pytest.fixture(scope="module")
def problem():
    return problem_from_config("made_up", SPEC)


def idata(problem, means, sds, chains=2, draws=2000, seed=0, correlation=0.0, **attrs):
    """Gaussian samples in the layout of the posterior stages' results (two parameters correlated as given)."""
    rng = np.random.default_rng(seed)
    mixing = np.linalg.cholesky([[1.0, correlation], [correlation, 1.0]])
    physical = np.asarray(means) + np.asarray(sds) * (rng.standard_normal((chains, draws, len(means))) @ mixing.T)
    u = np.stack([problem.to_scaled(p) for p in physical.reshape(-1, len(means))]).reshape(physical.shape)
    data = az.from_dict(
        posterior={name: physical[..., i] for i, name in enumerate(problem.names)} | {"u": u},
        coords={"parameter": problem.names},
        dims={"u": ["parameter"]},
    )
    data.posterior.attrs.update(attrs)
    return data


def test_npe_agrees_with_mcmc_within_the_tolerances(problem):
    mcmc = idata(
        problem, [30.0, 700.0], [1.0, 50.0], evaluations=[10, 12], gradient_evaluations=[9, 11], seconds=[1, 2]
    )
    diagnostics = mcmc_diagnostics(mcmc)
    close = idata(problem, [30.1, 700.0], [1.05, 50.0], chains=1, seed=1, seconds=0.1)  # within 0.3 sd and 25%
    off = idata(problem, [30.0, 760.0], [1.0, 80.0], chains=1, seed=2, seconds=0.1)  # rss: 1.2 sd off, sd 60% wider
    coverage = pd.DataFrame(
        dict(parameter=["Tcu", "Tcu", "rss", "rss"], level=[0.5, 0.9] * 2, coverage=[0.5, 0.85, 0.45, 0.9])
    )
    training = dict(simulations=100, simulation_seconds=5.0, training_seconds=2.0)
    laplace = pd.DataFrame(dict(parameter=["Tcu", "rss"], truth=[30.0, 700.0], posterior_sd=[1.0, 40.0]))
    table = report.posterior_table(
        problem,
        ["clean", "noisy1"],
        mcmc={"clean": (mcmc, diagnostics), "noisy1": (mcmc, diagnostics)},
        npe={"clean": close, "noisy1": off},
        coverage=coverage,
        training=training,
        laplace=(["clean"], laplace),
    )
    assert (
        list(table.columns) == report.SUMMARY_COLUMNS + ["r_Tcu", "r_rss"] + report.CHECK_COLUMNS + report.COST_COLUMNS
    )
    rows = table.set_index(["observations", "method", "parameter"])
    assert len(table) == 2 + 2 * 2 + 2 * 2  # laplace on clean only
    assert rows.loc[("clean", "npe", "Tcu"), "agrees_with_mcmc"] == "pass"
    assert rows.loc[("noisy1", "npe", "Tcu"), "agrees_with_mcmc"] == "pass"
    assert rows.loc[("noisy1", "npe", "rss"), "agrees_with_mcmc"] == "fail"
    assert rows.loc[("noisy1", "npe", "rss"), "sd_ratio_mcmc"] == pytest.approx(1.6, rel=0.05)
    assert rows.loc[("clean", "laplace", "rss"), "q95"] == pytest.approx(700 + 1.6449 * 40, rel=1e-4)
    assert rows.loc[("clean", "mcmc", "Tcu"), "model_evaluations"] == 22
    assert rows.loc[("clean", "npe", "rss"), "coverage_90"] == 0.9
    assert rows.loc[("clean", "npe", "Tcu"), "truth"] == 30.0
    assert pd.isna(rows.loc[("clean", "mcmc", "Tcu"), "agrees_with_mcmc"])
    markdown = report.markdown(table, problem)
    assert "on 3 of 4 parameters x sets; not on rss (noisy1)." in markdown
    assert "within 5 points of 50% and 90%: on every parameter." in markdown
    # Laplace sd 1 and 40 on clean; NPE's there about 1.05 and 50
    assert "NPE's standard deviations are 1.0" in markdown and " to 1.2" in markdown
    assert "MCMC: worst R-hat 1.00" in markdown and "(R-hat at most 1.01 on every parameter)" in markdown
    off_coverage = coverage.assign(coverage=[0.5, 0.7, 0.45, 0.9])
    verdicts = report.markdown(
        report.posterior_table(problem, ["clean"], npe={"clean": close}, coverage=off_coverage), problem
    )
    assert "not for Tcu at 90% (70%)." in verdicts
    laplace_posterior = report.laplace_rows(laplace)
    figure = report.corner_figure(
        problem, {"mcmc": report.physical_samples(mcmc, problem)}, laplace=laplace_posterior, title="t"
    )
    diagonal, pair, above = figure.axes[3], figure.axes[2], figure.axes[1]  # rss, (Tcu, rss), hidden
    assert diagonal.get_xscale() == pair.get_yscale() == "log" and not above.get_visible()
    # the Laplace marginal: a Gaussian at the truth with the Laplace sd, its peak 1 / (sd sqrt(2 pi))
    (curve,) = [line for line in figure.axes[0].get_lines() if line.get_label() == "laplace"]
    assert curve.get_xdata()[np.argmax(curve.get_ydata())] == pytest.approx(30.0, abs=0.3)
    assert curve.get_ydata().max() == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-3)


def test_the_table_shows_how_parameters_trade_off(problem):
    ridge = idata(
        problem,
        [30.0, 700.0],
        [1.0, 50.0],
        correlation=-0.95,
        seconds=[1, 1],
        evaluations=[9, 9],
        gradient_evaluations=[8, 8],
    )
    diagnostics = mcmc_diagnostics(ridge)
    table = report.posterior_table(problem, ["clean"], mcmc={"clean": (ridge, diagnostics)})
    rows = table.set_index("parameter")
    assert rows.loc["Tcu", "r_rss"] == pytest.approx(-0.95, abs=0.01) == rows.loc["rss", "r_Tcu"]
    assert rows.loc["Tcu", "r_Tcu"] == pytest.approx(1.0)
    assert "r_rss" in report.markdown(table, problem)


def test_a_table_of_npe_alone_says_it_was_not_compared(problem):
    npe = idata(problem, [30.0, 700.0], [1.0, 50.0], chains=1, seconds=0.1)
    table = report.posterior_table(problem, ["clean"], npe={"clean": npe})
    assert set(table["method"]) == {"npe"} and table["agrees_with_mcmc"].isna().all()
    assert "NPE was not compared with MCMC" in report.markdown(table, problem)


def test_chains_of_other_settings_are_discarded(tmp_path):
    chain = tmp_path / "chain0"
    chain.mkdir()
    (chain / "warmup.npz").write_bytes(b"")
    assert stages.discard_stale_chain(chain, "a")  # stages of unknown settings
    assert not list(chain.glob("*.npz")) and (chain / stages.FINGERPRINT).read_text() == "a\n"
    (chain / "warmup.npz").write_bytes(b"")
    assert not stages.discard_stale_chain(chain, "a") and (chain / "warmup.npz").exists()
    assert stages.discard_stale_chain(chain, "b") and not (chain / "warmup.npz").exists()
    assert not stages.discard_stale_chain(tmp_path / "chain1", "b") and (tmp_path / "chain1").is_dir()


def test_simulation_chunks_join_in_order_and_must_agree(tmp_path):
    def chunk(index, sigma=1.0):
        draws = np.arange(3) + 3 * (index - 1)
        return xr.Dataset(
            dict(u=(("draw", "parameter"), draws[:, None] / 10.0), sigma=(("observation", "target"), [[sigma]])),
            coords=dict(draw=draws),
            attrs=dict(chunk=index, chunks=2, simulations=6, seconds=float(index), failed=index - 1, design="clean"),
        )

    paths = [tmp_path / "chunk2.nc", tmp_path / "chunk1.nc"]
    chunk(2).to_netcdf(paths[0])
    chunk(1).to_netcdf(paths[1])
    whole = stages.read_simulations(paths)
    np.testing.assert_array_equal(whole["u"].values[:, 0], np.arange(6) / 10.0)
    assert (whole.attrs["seconds"], whole.attrs["failed"], whole.attrs["design"]) == (3.0, 1, "clean")
    chunk(2, sigma=2.0).to_netcdf(paths[0])
    with pytest.raises(ValueError):
        stages.read_simulations(paths)


def test_a_set_of_another_design_is_refused():
    observed = xr.DataArray(np.array([[[True, False]]]), dims=("y", "x", "time"), coords={"time": [0, 1]})
    design = xr.Dataset({"observed": observed})
    stages.check_design(design.copy(), design, "noisy1", "clean")
    with pytest.raises(ValueError, match="observes other cells or times than the design set 'clean'"):
        stages.check_design(xr.Dataset({"observed": ~observed}), design, "sparse", "clean")
    with pytest.raises(ValueError, match="other observation errors"):
        stages.check_sigma(np.ones((2, 1)), np.full((2, 1), 2.0), "noisy1")


class LinearObjective:
    """An objective whose model is linear in u: 40 observations of one target, unit noise."""

    targets = ["Loutt"]

    def __init__(self, problem, truth_u, seed=0):
        rng = np.random.default_rng(seed)
        self.design = rng.normal(size=(40, 2))
        self.sigma = torch.ones(40, 1, dtype=torch.float64)
        truth = self.simulate(np.asarray(truth_u)[None])[0]
        self.observations = torch.as_tensor(truth + rng.standard_normal(truth.shape))

    def simulate(self, u):
        return (10 * np.asarray(u) @ self.design.T)[..., None]


def test_the_posterior_predictive_covers_the_observations_only_where_the_posterior_is_right(problem):
    truth_u = problem.to_scaled(np.array([30.0, 700.0]))
    objective = LinearObjective(problem, truth_u)
    right = idata(
        problem, [30.0, 700.0], [0.01, 0.1], chains=1, draws=300, seconds=1, evaluations=9, gradient_evaluations=8
    )
    wrong = idata(problem, [45.0, 700.0], [0.01, 0.1], chains=1, draws=300)  # Tcu far off
    bands = stages.predictive(objective, {"mcmc": right, "npe": wrong}, draws=100, seed=3)
    assert bands["band"].shape == (2, 3, 40, 1) and list(bands["draws"].values) == [100, 100]
    # the band of a right posterior is the noise's: 90% of the observations inside, up to the scatter of 40
    assert 0.75 <= float(bands["inside_90"].sel(sampler="mcmc")) <= 1.0
    assert float(bands["inside_90"].sel(sampler="npe")) < 0.4
    table = report.posterior_table(
        problem, ["clean"], mcmc={"clean": (right, mcmc_diagnostics(right))}, predictive={"clean": bands}
    )
    assert table["predictive_90"].iloc[0] == float(bands["inside_90"].sel(sampler="mcmc"))
    figure = report.predictive_figure(bands, title="t")
    assert "mcmc (" in figure.axes[0].get_legend().get_texts()[0].get_text()


def test_a_posterior_scope_gives_no_value_for_has_no_predictive_share(problem):
    objective = LinearObjective(problem, problem.to_scaled(np.array([30.0, 700.0])))
    objective.simulate = lambda u: np.full((len(u), 40, 1), np.nan)  # e.g. every energy balance unsolved
    samples = idata(problem, [30.0, 700.0], [0.01, 0.1], chains=1, draws=50)
    bands = stages.predictive(objective, {"npe": samples}, draws=20, seed=0)
    assert int(bands["draws"].sel(sampler="npe")) == 0
    assert np.isnan(float(bands["inside_90"].sel(sampler="npe"))) and np.isnan(bands["band"].values).all()
