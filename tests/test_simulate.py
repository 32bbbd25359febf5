"""Objective.simulate: the model values of many parameter sets from batched SCOPE calls, as evaluate sees them."""

import numpy as np
import pytest
import torch
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture

from scopecal import forward, inputs, problems
from scopecal.objective import Objective

THERMAL = dict(
    workflow="thermal",
    parameters={
        "Tcu": dict(truth=30.0, lower=10.0, upper=50.0, starts=[25.0]),
        "Tsu": dict(truth=33.0, lower=10.0, upper=50.0, transform="log", starts=[30.0]),
    },
    targets={"Loutt": {"absolute": 0.2}, "Eoutt": {"absolute": 1.0}},
    observations={"clean": {}},
)
N_CELLS, CHUNK = 9, 20  # two members per call: a population of 5 takes three calls, the last with one member


@pytest.fixture(scope="module")
def objective(chain, scope_assets):  # noqa: F811
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the results do not depend on it; two threads spin on a busy 2-core machine
    _, biophysics, forcing, angles = chain
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="thermal", scope_root=scope_assets, **SETTINGS
    )
    stacked = forward.stack_cells(prepared, device=torch.device("cpu"), dtype=torch.float64)
    cells = torch.arange(N_CELLS) % len(stacked.cell_index)
    tensors = {name: tensor[cells] for name, tensor in stacked.tensors.items()}
    problem = problems.problem_from_config("thermal", THERMAL)
    # observations need not be the model's at any point: simulate ignores them, evaluate's residuals hold them
    rng = np.random.default_rng(0)
    observed = np.column_stack([rng.uniform(80, 120, N_CELLS), rng.uniform(300, 500, N_CELLS)])
    sigma = np.column_stack([np.full(N_CELLS, 0.2), np.full(N_CELLS, 1.0)])
    runner = forward.build_runner(scope_assets, device=torch.device("cpu"), dtype=torch.float64)
    yield Objective(runner, problem, tensors, observed, sigma, chunk_size=CHUNK)
    torch.set_num_threads(threads)


def model_of(objective, u):
    """The model values one evaluation implies: observation + residual * sigma."""
    evaluation = objective.evaluate(u)
    residuals = evaluation.residuals.reshape(objective.n_observations, -1)
    return objective.observations.numpy() + residuals * objective.sigma.numpy(), evaluation


def test_simulate_equals_the_model_of_each_evaluation(objective):
    population = np.random.default_rng(1).uniform(0.05, 0.95, size=(5, 2))
    simulated = objective.simulate(population)
    assert simulated.shape == (5, N_CELLS, 2)
    for member, u in enumerate(population):
        model, evaluation = model_of(objective, u)
        assert not evaluation.failed
        np.testing.assert_allclose(simulated[member], model, rtol=1e-10)
    # the parameters move the model: members differ
    assert np.ptp(simulated[:, :, 0], axis=0).min() > 1.0
    assert objective.simulate(population[:0]).shape == (0, N_CELLS, 2)


def test_rows_scope_gives_no_value_for_are_nan(objective):
    broken = Objective(
        objective.runner,
        objective.problem,
        dict(objective.tensors, LAI=objective.tensors["LAI"].clone().index_fill_(0, torch.tensor([4]), float("nan"))),
        objective.observations.numpy(),
        objective.sigma.numpy(),
        chunk_size=CHUNK,
    )
    population = np.array([[0.3, 0.4], [0.6, 0.7], [0.5, 0.5]])
    simulated = broken.simulate(population)
    assert np.isnan(simulated[:, 4]).all()
    good = np.delete(simulated, 4, axis=1)
    np.testing.assert_allclose(good, np.delete(objective.simulate(population), 4, axis=1), rtol=1e-12)
    assert np.isfinite(good).all()
    assert broken.evaluate(population[0]).failed  # where evaluate fails the whole point


def test_derivatives_do_not_depend_on_the_callers_grad_mode(objective):
    """The NUTS sampler asks for the gradient from inside a torch.autograd.Function, where grad mode is off."""
    u = np.array([0.4, 0.6])
    expected = objective.evaluate(u, derivative="gradient").gradient
    jacobian = objective.evaluate(u, derivative="jacobian").jacobian
    with torch.no_grad():
        np.testing.assert_allclose(objective.evaluate(u, derivative="gradient").gradient, expected, rtol=1e-12)
        np.testing.assert_allclose(objective.evaluate(u, derivative="jacobian").jacobian, jacobian, rtol=1e-12)
    assert np.abs(expected).min() > 0
