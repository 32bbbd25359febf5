"""The objective evaluated chunk by chunk (forward and backward per chunk) equals the one-call evaluation."""

import numpy as np
import pytest
import torch
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture

from scopecal import forward, inputs, problems
from scopecal.objective import FAILED_RESIDUAL, Objective

N_CELLS, CHUNK = 30, 7  # 5 chunks, the last one short
N_COSTLY = 12  # fluorescence and energy balance cost 10-50x more per cell: chunks of 7 and 5

PROBLEMS = {
    "thermal": dict(
        workflow="thermal",
        parameters={
            name: dict(truth=truth, lower=10.0, upper=50.0, starts=[start])
            for name, truth, start in [("Tcu", 30.0, 25.0), ("Tch", 27.0, 24.0), ("Tsu", 33.0, 30.0)]
        },
        targets={"Loutt": {"absolute": 0.2}, "Eoutt": {"absolute": 1.0}},
        observations={"clean": {}},
        background={"mean": {"Tcu": 29, "Tch": 27, "Tsu": 33}, "std": {"Tcu": 2, "Tch": 2, "Tsu": 2}},
    ),
    "fluorescence": dict(
        workflow="fluorescence",
        parameters={"fqe": dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01])},
        targets={"F740": {"relative": 0.02}},
        observations={"clean": {}},
    ),
    "energy-balance": dict(
        workflow="energy-balance",
        parameters={
            "fqe": dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01]),
            "rss": dict(truth=700.0, lower=10.0, upper=5000.0, transform="log", starts=[500.0]),
        },
        targets={"F740": {"relative": 0.02}, "Loutt": {"absolute": 0.2}, "lEtot": {"absolute": 10.0}},
        observations={"clean": {}},
    ),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Results do not depend on the thread count; on a busy 2-core machine two threads spin, 10-20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runner(scope_assets):
    return forward.build_runner(scope_assets, device=torch.device("cpu"), dtype=torch.float64)


@pytest.fixture(scope="module")
def twins(chain, scope_assets, runner):  # noqa: F811
    """Per workflow: N_CELLS or N_COSTLY cells (the field's, repeated) and twin observations at the problem's truth."""
    _, biophysics, forcing, angles = chain
    built = {}
    for workflow, spec in PROBLEMS.items():
        problem = problems.problem_from_config(workflow, spec)
        prepared = inputs.prepare_inputs(
            biophysics, forcing, angles, workflow=workflow, scope_root=scope_assets, **SETTINGS
        )
        stacked = forward.stack_cells(prepared, device=torch.device("cpu"), dtype=torch.float64)
        cells = torch.arange(N_CELLS if workflow == "thermal" else N_COSTLY) % len(stacked.cell_index)
        tensors = {name: tensor[cells] for name, tensor in stacked.tensors.items()}
        truth = dict(tensors, **{p.name: torch.full_like(tensors["LAI"], p.truth) for p in problem.parameters})
        targets = [t.name for t in problem.targets]
        with torch.no_grad():
            outputs = forward.run_tensors(runner, workflow, truth, targets)
        values = np.column_stack([outputs[name].numpy() for name in targets])
        sigma = np.column_stack([t.sigma(values[:, i]) for i, t in enumerate(problem.targets)])
        built[workflow] = problem, tensors, values, sigma
    return built


def objective(runner, twin, chunk_size):
    problem, tensors, values, sigma = twin
    return Objective(runner, problem, tensors, values, sigma, chunk_size=chunk_size)


def assert_same_evaluations(chunked, whole, u, derivatives=(None, "gradient", "jacobian")) -> dict:
    """The chunked objective's evaluations equal the one-call objective's; returns the chunked ones."""
    evaluations = {}
    for derivative in derivatives:
        a, b = chunked.evaluate(u, derivative=derivative), whole.evaluate(u, derivative=derivative)
        evaluations[derivative] = a
        np.testing.assert_allclose(a.residuals, b.residuals, rtol=1e-10, atol=0)
        np.testing.assert_allclose(a.misfit, b.misfit, rtol=1e-10)
        assert a.failed == b.failed and a.unsolved_cells == b.unsolved_cells
        if derivative == "gradient":
            np.testing.assert_allclose(a.gradient, b.gradient, rtol=1e-10)
        if derivative == "jacobian":
            assert a.jacobian.shape == (whole.n_residuals, len(u))
            np.testing.assert_allclose(a.jacobian, b.jacobian, rtol=1e-10, atol=1e-14 * np.abs(b.jacobian).max())
    return evaluations


@pytest.mark.parametrize("workflow", ["thermal", "fluorescence"])
def test_chunked_objective_equals_one_call(runner, twins, workflow):
    problem, _, values, _ = twins[workflow]
    chunked, whole = objective(runner, twins[workflow], CHUNK), objective(runner, twins[workflow], len(values))
    u = problem.to_scaled(problem.start(0))
    evaluations = assert_same_evaluations(chunked, whole, u)
    jacobian, gradient = evaluations["jacobian"], evaluations["gradient"].gradient
    assert jacobian.misfit > 1.0 and np.abs(jacobian.jacobian).sum(0).all()
    # the chunked Jacobian's rows follow the residual vector: J^T r is the chunked gradient of 0.5 ||r||^2
    np.testing.assert_allclose(jacobian.jacobian.T @ jacobian.residuals, gradient, rtol=1e-10)
    at_truth = chunked.evaluate(problem.to_scaled(problem.truth)).residuals[: chunked.observations.numel()]
    assert np.abs(at_truth).max() < 1e-9


def test_energy_balance_chunked_equals_one_call_under_its_fixed_iterations(runner, twins):
    problem, _, values, _ = twins["energy-balance"]
    chunked = objective(runner, twins["energy-balance"], CHUNK)
    whole = objective(runner, twins["energy-balance"], len(values))
    # the Jacobian evaluation returns the residuals too
    u = problem.to_scaled(problem.start(0))
    evaluation = assert_same_evaluations(chunked, whole, u, ("gradient", "jacobian"))["jacobian"]
    assert evaluation.misfit > 1.0 and not evaluation.failed
    assert np.abs(evaluation.jacobian).sum(0).all()  # both parameters move the model


def test_chunk_size_defaults_per_workflow_and_config_wins(runner, twins):
    assert objective(runner, twins["thermal"], None).chunk_size == forward.CHUNK_SIZE["thermal"]
    assert objective(runner, twins["thermal"], CHUNK).chunk_size == CHUNK
    assert forward.chunk_slices(30, 7) == [slice(0, 7), slice(7, 14), slice(14, 21), slice(21, 28), slice(28, 30)]
    # run_tensors with the default chunking over more cells than one chunk equals one call over them all
    _, tensors, _, _ = twins["thermal"]
    n_cells = 2 * forward.CHUNK_SIZE["thermal"] + 3
    many = {name: tensor[torch.arange(n_cells) % N_CELLS] for name, tensor in tensors.items()}
    with torch.no_grad():
        default = forward.run_tensors(runner, "thermal", many, ["Loutt"])["Loutt"]
        one_call = forward.run_tensors(runner, "thermal", many, ["Loutt"], chunk_size=n_cells)["Loutt"]
    assert default.shape == (n_cells,)
    torch.testing.assert_close(default, one_call, rtol=1e-12, atol=0)


def test_a_nan_in_one_chunk_fails_the_whole_evaluation(runner, twins):
    problem, tensors, values, sigma = twins["thermal"]
    tensors = dict(tensors, LAI=tensors["LAI"].clone())
    tensors["LAI"][N_CELLS - 1] = float("nan")  # a cell of the last chunk
    chunked = Objective(runner, problem, tensors, values, sigma, chunk_size=CHUNK)
    u = problem.to_scaled(problem.start(0))
    for derivative in ("gradient", "jacobian"):
        evaluation = chunked.evaluate(u, derivative=derivative)
        assert evaluation.failed and (evaluation.residuals == FAILED_RESIDUAL).all()
        assert not (evaluation.gradient if derivative == "gradient" else evaluation.jacobian).any()
