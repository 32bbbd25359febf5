"""The energy balance on hard weather: one cell's result is its own (batch-independent iterations), and a cell
SCOPE does not solve (low wind) reaches no misfit: it is left out before the fit, counted, and every evaluation
records the worst cell's energy-balance residual."""

import logging

import numpy as np
import pytest
import xarray as xr
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture

from scopecal import calibrate, forward, inputs, observations, problems, twin

OUTPUTS = ["lEtot", "Htot", "Loutt", "F740", "converged", "max_error"]
PROBLEM = dict(
    workflow="energy-balance",
    parameters={
        "fqe": dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01]),
        "rss": dict(truth=700.0, lower=10.0, upper=5000.0, transform="log", starts=[500.0]),
    },
    targets={"F740": {"relative": 0.02}, "lEtot": {"absolute": 10.0}},
    observations={"clean": {}},
)


@pytest.fixture(scope="module")
def energy_inputs(chain, scope_assets):  # noqa: F811
    biophysics, forcing, angles = chain[1:]
    return inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="energy-balance", scope_root=scope_assets, **SETTINGS
    )


@pytest.fixture(scope="module")
def calm_day(energy_inputs, scope_assets):
    """The inputs with the second date's wind at 0.3 m s-1 (the balance's stability iteration fails there), and
    SCOPE at the truth."""
    calm = energy_inputs.copy()
    calm["u"] = calm["u"].where(calm["time"] != calm["time"][1], 0.3)
    problem = problems.problem_from_config("eb", PROBLEM)
    truth = forward.run_forward(
        twin.with_parameters(calm, dict(zip(problem.names, problem.truth, strict=True))),
        "energy-balance",
        scope_root=scope_assets,
        device="cpu",
        output_vars=OUTPUTS,
    )
    return calm, problem, truth


def test_a_cell_gives_the_same_alone_and_in_any_batch(energy_inputs, scope_assets):
    """Under the project's stopping rule (20 iterations for every cell) one call over the field and one call per
    cell agree to rounding; under scope-rtm's own rule they need not."""
    run = dict(scope_root=scope_assets, device="cpu", output_vars=OUTPUTS)
    together = forward.run_forward(energy_inputs, "energy-balance", **run)
    alone = forward.run_forward(energy_inputs, "energy-balance", chunk_size=1, **run)
    assert int(together["converged"].sum()) == int(energy_inputs["field_mask"].sum()) * energy_inputs.sizes["time"]
    for name in ("lEtot", "Htot", "Loutt", "F740"):
        np.testing.assert_allclose(alone[name].values, together[name].values, rtol=1e-10, atol=1e-10)


def test_a_calm_half_hour_is_left_out_of_the_twin_and_counted(calm_day):
    calm, problem, truth = calm_day
    unsolved = ~forward.solved(truth[["F740", "lEtot", "max_error"]])
    inside = calm["field_mask"].values.astype(bool)
    assert unsolved.values[inside][:, 1].any() and not unsolved.values[inside][:, [0, 2, 3]].any()
    observed = twin.observe(truth, problem, problem.observation_set("clean"), calm["field_mask"], seed=1)
    assert observed.attrs["unsolved_cells"] == int(unsolved.values[inside].sum())
    assert not (observed["observed"] & unsolved).any()
    assert observed.attrs["observed_cells"] == inside.sum() * calm.sizes["time"] - observed.attrs["unsolved_cells"]


def test_a_file_set_drops_what_scope_does_not_solve_at_the_start(calm_day, caplog):
    calm, problem, truth = calm_day
    shape = truth["lEtot"].transpose("y", "x", "time").shape
    inside = calm["field_mask"].values.astype(bool)
    observed = xr.DataArray(np.broadcast_to(inside[..., None], shape).copy(), dims=("y", "x", "time"))
    sets = xr.Dataset(
        {
            "observed": observed,
            "holdout": xr.zeros_like(observed),
            "lEtot": truth["lEtot"].transpose("y", "x", "time").where(observed),
            "sigma_lEtot": xr.full_like(observed, 10.0, dtype=float).where(observed),
        },
        attrs={"observation_set": "tower"},
    )
    with caplog.at_level(logging.INFO, logger="scopecal"):
        per_cell = observations.exclude_unsolved(sets, truth, at="the truth")
    unsolved = int((~forward.solved(truth).values & inside[..., None]).sum())
    assert per_cell.attrs["unsolved_cells"] == unsolved > 0
    assert per_cell.attrs["observed_cells"] == int(observed.sum()) - unsolved
    assert per_cell.attrs["baseline_misfit"] == 0.5 * per_cell.attrs["observed_cells"]
    assert "observations dropped: SCOPE gave no usable value at the truth (worst energy-balance residual" in caplog.text
    # a footprint over the field loses the whole calm time
    footprint = sets.assign(footprint_weight=(("y", "x"), inside / inside.sum()))
    whole = observations.exclude_unsolved(footprint, truth, at="the truth")
    assert whole.attrs["unsolved_cells"] == 1 and whole.attrs["observed_cells"] == calm.sizes["time"] - 1
    assert not whole["observed"].isel(time=1).any()


def test_the_fit_sees_only_solved_cells_and_records_their_worst_residual(calm_day, scope_assets, tmp_path):
    calm, problem, truth = calm_day
    observed = twin.observe(truth, problem, problem.observation_set("clean"), calm["field_mask"], seed=1)
    objective = calibrate.build_objective(calm, observed, problem, scope_root=scope_assets, device="cpu")
    at_truth = objective.evaluate(problem.to_scaled(problem.truth))
    assert not at_truth.failed and at_truth.misfit < 1e-16 and 0 < at_truth.max_energy_error <= 1.0
    result = calibrate.calibrate(
        objective,
        optimizer="gauss_newton",
        options={},
        start=0,
        budget=3,
        seed=1,
        baseline_misfit=observed.attrs["baseline_misfit"],
        directory=tmp_path,
    )
    assert np.isfinite(result["final_misfit"])
    trace = (tmp_path / "trace.csv").read_text().splitlines()
    assert "max_energy_error" in trace[0].split(",")
    column = trace[0].split(",").index("max_energy_error")
    assert all(0 < float(row.split(",")[column]) for row in trace[1:])
