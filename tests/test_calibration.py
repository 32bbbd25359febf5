"""Twin observations, the objective, every optimiser, and resuming a killed calibration job."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture

from scopecal import calibrate, forward, inputs, problems, twin
from scopecal.optimizers import OPTIMIZERS

THERMAL = dict(
    workflow="thermal",
    parameters={
        name: dict(truth=truth, lower=10.0, upper=50.0, starts=[start])
        for name, truth, start in [("Tcu", 30.0, 25.0), ("Tch", 27.0, 24.0), ("Tsu", 33.0, 30.0), ("Tsh", 28.5, 27.0)]
    },
    targets={"Loutt": {"absolute": 0.2}},
    observations={"clean": {}, "noisy": {"noise": True, "realisations": 2, "sampling": {"fraction": 0.7, "seed": 2}}},
)


@pytest.fixture(scope="module")
def thermal_twin(chain, scope_assets, tmp_path_factory):  # noqa: F811
    _, biophysics, forcing, angles = chain
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="thermal", scope_root=scope_assets, **SETTINGS
    )
    problem = problems.problem_from_config("thermal_temperatures", THERMAL)
    truth = forward.run_forward(
        twin.with_parameters(prepared, dict(zip(problem.names, problem.truth, strict=True))),
        "thermal",
        scope_root=scope_assets,
        device="cpu",
        output_vars=["Loutt"],
    )
    folder = tmp_path_factory.mktemp("twin")
    prepared.to_netcdf(folder / "inputs.nc")
    sets = {}
    for observation_set in problem.observation_sets:
        sets[observation_set.name] = twin.observe(truth, problem, observation_set, prepared["field_mask"], seed=1)
        sets[observation_set.name].to_netcdf(folder / f"{observation_set.name}.nc")
    return prepared, problem, truth, sets, folder


def test_observation_sets_expand_realisations():
    problem = problems.problem_from_config("t", THERMAL)
    assert [s.name for s in problem.observation_sets] == ["clean", "noisy1", "noisy2"]
    assert [s.realisation for s in problem.observation_sets] == [0, 1, 2]


def test_twin_observations_and_baseline(thermal_twin):
    prepared, problem, truth, sets, _ = thermal_twin
    inside = int(prepared["field_mask"].sum()) * prepared.sizes["time"]
    clean = sets["clean"].attrs
    assert clean["observed_cells"] == inside and clean["truth_misfit"] == 0.0
    # a noise-free set's baseline is the expected misfit of noisy observations: half the residual count (one target)
    assert clean["baseline_misfit"] == 0.5 * inside
    np.testing.assert_allclose(
        sets["clean"]["Loutt"].where(sets["clean"]["observed"]),
        truth["Loutt"].transpose("y", "x", "time").where(sets["clean"]["observed"]),
    )
    noisy1, noisy2 = sets["noisy1"], sets["noisy2"]
    assert noisy1.attrs["observed_cells"] < inside  # 70% sampled
    assert not np.allclose(noisy1["Loutt"].fillna(0), noisy2["Loutt"].fillna(0))
    # baseline = 0.5 * chi-square with one degree of freedom per observation: about half the count
    for observations in (noisy1, noisy2):
        count = observations.attrs["observed_cells"]
        assert (
            0.5 * count - 3 * np.sqrt(count / 2)
            < observations.attrs["baseline_misfit"]
            < 0.5 * count + 3 * np.sqrt(count / 2)
        )


def test_objective_is_zero_at_the_truth_and_gradient_matches_finite_differences(thermal_twin, scope_assets):
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    truth_u = problem.to_scaled(problem.truth)
    assert objective.evaluate(truth_u).misfit < 1e-18
    u = problem.to_scaled(problem.start(0))
    evaluation = objective.evaluate(u, derivative="gradient")
    jacobian = objective.evaluate(u, derivative="jacobian")
    step = 1e-6
    finite = [
        (objective.evaluate(u + step * e).misfit - objective.evaluate(u - step * e).misfit) / (2 * step)
        for e in np.eye(len(u))
    ]
    np.testing.assert_allclose(evaluation.gradient, finite, rtol=1e-6)
    np.testing.assert_allclose(jacobian.jacobian.T @ jacobian.residuals, evaluation.gradient, rtol=1e-10)


def test_background_term_appends_scaled_departures(thermal_twin, scope_assets):
    prepared, _, _, sets, _ = thermal_twin
    spec = dict(
        THERMAL,
        background={
            "mean": {"Tcu": 29, "Tch": 27, "Tsu": 33, "Tsh": 28.5},
            "std": {"Tcu": 2, "Tch": 2, "Tsu": 2, "Tsh": 2},
        },
    )
    problem = problems.problem_from_config("t", spec)
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    evaluation = objective.evaluate(problem.to_scaled(problem.truth), derivative="jacobian")
    np.testing.assert_allclose(evaluation.residuals[-4:], [0.5, 0, 0, 0], atol=1e-12)  # (30 - 29) / 2
    assert evaluation.jacobian.shape == (objective.n_residuals, 4)
    np.testing.assert_allclose(evaluation.jacobian[-4:], np.diag([40 / 2] * 4), rtol=1e-12)  # d theta / d u = span


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_improves_within_budget_and_bounds(thermal_twin, scope_assets, tmp_path, optimizer):
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    result = calibrate.calibrate(
        objective, optimizer=optimizer, options={}, start=0, budget=30, seed=1, baseline_misfit=0.0, directory=tmp_path
    )
    assert result["evaluations"] <= 30
    assert result["final_misfit"] < result["initial_misfit"]
    assert result["within_bounds"]
    rows = (tmp_path / "trace.csv").read_text().splitlines()
    assert len(rows) == result["evaluations"] + 1  # header
    if optimizer in ("dfols", "gauss_newton"):  # the acceptance: all four to 1% in <= 25 evaluations
        assert result["evaluations_to_1pct"] is not None and result["evaluations_to_1pct"] <= 25


def test_failed_evaluation_is_a_large_misfit(thermal_twin, scope_assets):
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    objective.tensors["LAI"] = objective.tensors["LAI"] * float("nan")
    evaluation = objective.evaluate(problem.to_scaled(problem.truth), derivative="gradient")
    assert evaluation.failed and evaluation.misfit > 1e8 and not evaluation.gradient.any()


def test_adam_backs_off_from_a_failed_evaluation(thermal_twin, scope_assets, tmp_path):
    # SCOPE "fails" beyond Tcu = 28 (scaled 0.45): a failed run's gradient is zero, which must not read as converged
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    evaluate = objective.evaluate

    def failing_beyond(u, derivative=None):
        if u[0] <= 0.45:
            return evaluate(u, derivative=derivative)
        return objective._evaluation(np.zeros(objective.n_residuals), True, 1, 0.0, gradient=np.zeros(len(u)))

    objective.evaluate = failing_beyond
    result = calibrate.calibrate(
        objective, optimizer="adam", options={}, start=0, budget=40, seed=1, baseline_misfit=0.0, directory=tmp_path
    )
    assert result["failed_evaluations"] >= 1 and "gtol" not in result["stop_reason"]
    assert result["evaluations"] > result["failed_evaluations"] + 10  # it went on after failing
    assert result["final_misfit"] < 0.2 * result["initial_misfit"] and result["parameters_final"]["Tcu"] <= 28.0


RUNNER = """
import sys, xarray as xr
from scopecal import calibrate, problems
spec, folder, optimizer, out = eval(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
problem = problems.problem_from_config("thermal_temperatures", spec)
inputs, observations = xr.load_dataset(folder + "/inputs.nc"), xr.load_dataset(folder + "/noisy1.nc")
objective = calibrate.build_objective(inputs, observations, problem, scope_root=sys.argv[5], device="cpu")
calibrate.calibrate(objective, optimizer=optimizer, options={}, start=0, budget=40, seed=3,
                    baseline_misfit=observations.attrs["baseline_misfit"], directory=out)
"""


@pytest.mark.parametrize("optimizer", ["dfols", "cmaes"])
def test_killed_job_resumes_from_its_trace_with_the_same_result(thermal_twin, scope_assets, tmp_path, optimizer):
    prepared, problem, _, sets, folder = thermal_twin
    observations = xr.load_dataset(folder / "noisy1.nc")
    objective = calibrate.build_objective(
        xr.load_dataset(folder / "inputs.nc"), observations, problem, scope_root=scope_assets, device="cpu"
    )
    run = dict(
        optimizer=optimizer,
        options={},
        start=0,
        budget=40,
        seed=3,
        baseline_misfit=observations.attrs["baseline_misfit"],
    )
    uninterrupted = calibrate.calibrate(objective, **run, directory=tmp_path / "whole")

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, repr(THERMAL), str(folder), optimizer, str(killed), str(scope_assets)]
    )
    record = killed / "evaluations.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not record.exists() or len(record.read_text().splitlines()) < 6):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before_kill = len(record.read_text().splitlines())
    assert 6 <= done_before_kill < uninterrupted["evaluations"], "the job was not killed mid-way"

    resumed = calibrate.calibrate(objective, **run, directory=killed)
    assert resumed["replayed_evaluations"] == done_before_kill
    assert resumed["evaluations"] == uninterrupted["evaluations"]
    assert resumed["parameters_final"] == uninterrupted["parameters_final"]
    assert resumed["final_misfit"] == uninterrupted["final_misfit"]
    assert 0 < resumed["model_time_s"] <= resumed["wall_time_s"]  # only what ran after the kill
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["evaluation"] for line in lines] == list(range(1, uninterrupted["evaluations"] + 1))


def test_record_of_other_settings_is_not_replayed(thermal_twin, scope_assets, tmp_path):
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    run = dict(
        optimizer="gauss_newton", options={}, start=0, budget=20, seed=1, baseline_misfit=0.0, directory=tmp_path
    )
    calibrate.calibrate(objective, **run, fingerprint="a")
    again = calibrate.calibrate(objective, **run, fingerprint="a")
    other = calibrate.calibrate(objective, **run, fingerprint="b")
    assert again["replayed_evaluations"] == again["evaluations"] and other["replayed_evaluations"] == 0


def test_population_batch_equals_one_by_one(thermal_twin, scope_assets):
    """The batched path CMA-ES takes on a GPU, run here on the CPU: same misfits as separate runs."""
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["noisy1"], problem, scope_root=scope_assets, device="cpu")
    population = np.random.default_rng(0).uniform(0.2, 0.8, (5, 4))
    batched = [evaluation.misfit for evaluation in objective.evaluate_population(population)]
    separate = [objective.evaluate(u).misfit for u in population]
    np.testing.assert_allclose(batched, separate, rtol=1e-12)
    assert not objective.batches_populations  # a CPU device never batches


def test_bad_sampling_and_bad_observations_are_named(thermal_twin, scope_assets):
    prepared, problem, truth, sets, _ = thermal_twin
    n_dates = prepared.sizes["time"]
    late = problems.ObservationSet(name="late", realisation=0, dates=(0, n_dates))
    with pytest.raises(ValueError, match=rf"late: sampling.dates \[0, {n_dates}\] must index the {n_dates}"):
        twin.observe(truth, problem, late, prepared["field_mask"], seed=1)
    outside = problems.ObservationSet(name="outside", realisation=0, pixels=((0, 99),))
    with pytest.raises(ValueError, match=r"outside: sampling.pixels \[\(0, 99\)\] must lie in the 3x3 grid"):
        twin.observe(truth, problem, outside, prepared["field_mask"], seed=1)
    broken = sets["clean"].copy(deep=True)
    broken["Loutt"] = broken["Loutt"].where(~broken["observed"], np.nan)
    with pytest.raises(ValueError, match="observations for thermal_temperatures hold NaN"):
        calibrate.build_objective(prepared, broken, problem, scope_root=scope_assets, device="cpu")
