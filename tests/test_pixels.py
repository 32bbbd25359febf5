"""Per-pixel calibration's solver on a model with known answers, its checkpoint, and the pixel bookkeeping."""

import json

import numpy as np
import pytest
import xarray as xr

from scopecal.calibrate import observed_cells
from scopecal.config import check_config, pixel_jobs
from scopecal.pixels import (
    STOP_REASONS,
    Settings,
    observation_pixels,
    parameter_maps,
    pixel_truths,
    recovery,
    solve_pixels,
)
from scopecal.problems import problem_from_config

TIMES = np.linspace(0.0, 2.0, 6)
BOUNDS = np.array([[0.0, 1.0], [0.0, 1.0]])


def decay(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """y = (1 + 4 u0) exp(-3 u1 t) at TIMES, and its Jacobian."""
    amplitude, rate = 1.0 + 4.0 * u[0], 3.0 * u[1]
    values = amplitude * np.exp(-rate * TIMES)
    return values, np.column_stack([4.0 * np.exp(-rate * TIMES), -3.0 * TIMES * values])


class Pixels:
    """Pixels observing the decay at their own true u; counts the batched runs and the candidates of each."""

    def __init__(self, truths: np.ndarray, noise: float = 0.0, unusable: tuple[int, ...] = ()):
        rng = np.random.default_rng(3)
        self.observed = [decay(u)[0] + noise * rng.standard_normal(len(TIMES)) for u in truths]
        self.sigma = max(noise, 0.01)
        self.unusable = unusable
        self.batches: list[list[int]] = []

    def __call__(self, pixels, candidates):
        self.batches.append([int(p) for p in pixels])
        results = []
        for pixel, u in zip(pixels, candidates, strict=True):
            values, jacobian = decay(u)
            residuals = (values - self.observed[pixel]) / self.sigma
            results.append((residuals, jacobian / self.sigma, pixel not in self.unusable))
        return results


TRUTHS = np.array([[0.2, 0.3], [0.7, 0.6], [0.5, 0.9], [0.1, 0.15]])


def test_every_pixel_recovers_its_own_truth_and_leaves_the_batch_when_done():
    model = Pixels(TRUTHS)
    fits = solve_pixels(model, np.full_like(TRUTHS, 0.5), BOUNDS, Settings())
    for state, truth in zip(fits.states, TRUTHS, strict=True):
        assert state.u == pytest.approx(truth, abs=1e-7)
        assert state.reason in STOP_REASONS[:2] and state.misfit < 1e-12
    # pixels that stop drop out: later runs hold fewer pixels, and every run holds only running ones
    assert len(model.batches[0]) == 4 and len(model.batches[-1]) < 4
    assert fits.model_runs == len(model.batches)
    assert sum(state.evaluations for state in fits.states) == sum(map(len, model.batches)) == len(fits.trace)


def test_a_pixel_alone_takes_the_steps_it_takes_in_the_batch():
    together = solve_pixels(Pixels(TRUTHS, noise=0.02), np.full_like(TRUTHS, 0.5), BOUNDS, Settings())
    for pixel in range(len(TRUTHS)):
        model = Pixels(TRUTHS, noise=0.02)
        alone = solve_pixels(
            lambda _, candidates, pixel=pixel, model=model: model(np.array([pixel]), candidates),
            np.full((1, 2), 0.5),
            BOUNDS,
            Settings(),
        )
        assert alone.states[0].u.tolist() == together.states[pixel].u.tolist()
        assert alone.states[0].evaluations == together.states[pixel].evaluations


def test_stop_reasons_budget_bounds_and_unusable_start():
    model = Pixels(TRUTHS, unusable=(2,))
    fits = solve_pixels(model, np.full_like(TRUTHS, 0.5), BOUNDS, Settings(max_evaluations=2))
    reasons = [state.reason for state in fits.states]
    assert reasons[2] == STOP_REASONS[4] and fits.states[2].evaluations == 1
    assert reasons.count(STOP_REASONS[2]) == 3  # two runs are not enough for the others
    # a truth outside the bounds: the estimate stays on the bound
    outside = solve_pixels(Pixels(np.array([[1.3, 0.5]])), np.full((1, 2), 0.5), BOUNDS, Settings())
    assert outside.states[0].u[0] == 1.0


def test_a_killed_solve_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path):
    starts = np.full_like(TRUTHS, 0.5)
    whole = solve_pixels(Pixels(TRUTHS, noise=0.02), starts, BOUNDS, Settings())
    model = Pixels(TRUTHS, noise=0.02)

    def killed(pixels, candidates):
        if len(model.batches) == 3:
            raise KeyboardInterrupt
        return model(pixels, candidates)

    checkpoint = tmp_path / "checkpoint.json"
    with pytest.raises(KeyboardInterrupt):
        solve_pixels(killed, starts, BOUNDS, Settings(), checkpoint=checkpoint, fingerprint="a")
    assert json.loads(checkpoint.read_text())["model_runs"] == 3
    resumed_model = Pixels(TRUTHS, noise=0.02)
    resumed = solve_pixels(resumed_model, starts, BOUNDS, Settings(), checkpoint=checkpoint, fingerprint="a")
    assert fits_equal(resumed, whole)
    assert len(resumed_model.batches) == whole.model_runs - 3  # only the runs not saved
    # another job's checkpoint (another fingerprint) is not replayed
    again = Pixels(TRUTHS, noise=0.02)
    solve_pixels(again, starts, BOUNDS, Settings(), checkpoint=checkpoint, fingerprint="b")
    assert len(again.batches) == whole.model_runs


def fits_equal(one, other) -> bool:
    keys = ("pixel", "evaluation", "misfit", "accepted", "u")
    same_trace = [{k: row[k] for k in keys} for row in one.trace] == [
        {k: list(row[k]) if k == "u" else row[k] for k in keys} for row in other.trace
    ]
    same_states = all(
        a.u.tolist() == b.u.tolist() and a.reason == b.reason and a.evaluations == b.evaluations
        for a, b in zip(one.states, other.states, strict=True)
    )
    return same_trace and same_states and one.model_runs == other.model_runs


def grid_dataset() -> tuple[xr.Dataset, xr.Dataset]:
    """A 3x3 field with its corner outside, 4 dates; LAI codes each cell's (y, x, time)."""
    y, x, t = np.meshgrid(np.arange(3), np.arange(3), np.arange(4), indexing="ij")
    dims = ("y", "x", "time")
    mask = np.ones((3, 3), bool)
    mask[0, 0] = False
    inputs = xr.Dataset(
        {"LAI": (dims, 100.0 * y + 10.0 * x + t), "field_mask": (("y", "x"), mask)},
        coords=dict(y=[0.0, 1.0, 2.0], x=[0.0, 1.0, 2.0], time=np.arange(4)),
    )
    observed = np.zeros((3, 3, 4), bool)
    observed[0, 0] = True  # outside the field: never a row
    observed[1, 2, [0, 3]] = True
    observed[2, 0, [1, 2]] = True
    observed[0, 1, [2]] = True
    code = inputs["LAI"].values
    observations = xr.Dataset(
        {"observed": (dims, observed), "F740": (dims, code), "sigma_F740": (dims, np.ones_like(code))},
        coords=inputs.coords,
    )
    return inputs, observations


def test_observation_pixels_follow_the_objective_s_row_order():
    inputs, observations = grid_dataset()
    pixels, pixel_of_row = observation_pixels(inputs, observations)
    problem = problem_from_config(
        "p",
        dict(
            workflow="fluorescence",
            parameters=dict(fqe=dict(lower=0.001, upper=0.1, starts=[0.01])),
            targets=dict(F740=dict(relative=0.02)),
            observations=dict(clean={}),
        ),
    )
    rows = observed_cells(inputs, observations, problem).values[:, 0]  # each row's code 100 y + 10 x + t
    assert pixels.tolist() == [[0, 1], [1, 2], [2, 0]]
    assert [pixels[p].tolist() for p in pixel_of_row] == [[int(c // 100), int(c // 10 % 10)] for c in rows]


def test_pixel_truths_are_seeded_draws_within_the_spread():
    problem = problem_from_config("sif_map", default_config()["problems"]["sif_map"])
    mask = xr.DataArray(np.ones((5, 6), bool), dims=("y", "x"))
    truths = pixel_truths(problem, mask, seed=1)
    for parameter in problem.parameters:
        low, high = parameter.truth_spread
        values = truths[parameter.name].values
        assert values.shape == (5, 6) and (values >= low).all() and (values <= high).all()
        assert values.std() > 0.1 * (high - low)  # not one value
    assert truths["fqe"].values.tolist() == pixel_truths(problem, mask, seed=1)["fqe"].values.tolist()
    assert truths["fqe"].values.tolist() != pixel_truths(problem, mask, seed=2)["fqe"].values.tolist()


def default_config():
    from conftest import overlay

    return overlay("pixels")


def test_per_pixel_jobs_and_what_a_per_pixel_problem_refuses():
    config = default_config()
    check_config(config)
    assert pixel_jobs(config) == [
        dict(problem="sif_map", observations="clean"),
        dict(problem="sif_map", observations="noisy1"),
    ]
    config["problems"]["sif_map"]["optimizers"] = ["dfols"]
    with pytest.raises(ValueError, match=r"\['optimizers'\] do not apply to a per_pixel problem"):
        check_config(config)
    config = default_config()
    config["posterior"]["problems"] = ["sif_map"]
    with pytest.raises(ValueError, match="sif_map is a per_pixel problem"):
        check_config(config)
    config = default_config()
    del config["problems"]["sif_map"]["per_pixel"]
    with pytest.raises(ValueError, match="truth_spread needs per_pixel"):
        check_config(config)


def test_a_pixel_without_a_usable_start_has_no_estimate_in_the_maps_and_counts_as_not_recovered():
    problem = problem_from_config(
        "decay",
        dict(
            workflow="fluorescence",
            per_pixel={},
            parameters={name: dict(truth=0.5, lower=0.0, upper=1.0, starts=[0.5]) for name in ("a", "b")},
            targets=dict(F740=dict(relative=0.02)),
            observations=dict(clean={}),
        ),
    )
    fits = solve_pixels(Pixels(TRUTHS, unusable=(2,)), np.full_like(TRUTHS, 0.5), BOUNDS, Settings())
    mask = xr.DataArray(np.ones((2, 2), bool), dims=("y", "x"))
    pixels = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    truths = xr.Dataset({f"truth_{name}": (("y", "x"), TRUTHS[:, i].reshape(2, 2)) for i, name in enumerate("ab")})
    maps = parameter_maps(fits, problem, pixels, np.full(4, len(TIMES)), mask, truths)
    assert np.isnan([maps["a"].values[1, 0], maps["sd_a"].values[1, 0], maps["misfit"].values[1, 0]]).all()
    assert maps["stop_code"].values[1, 0] == 4 and np.isfinite(maps["a"].values[0]).all()
    summary = recovery(maps, problem)
    assert summary["a"]["within_zone"] == summary["b"]["within_zone"] == 0.75
    assert summary["a"]["worst_error_of_zone"] < 1e-4  # over the pixels with an estimate


def test_a_footprint_set_is_refused_for_a_per_pixel_problem():
    inputs, observations = grid_dataset()
    observations["footprint_weight"] = xr.DataArray(np.ones((3, 3)), dims=("y", "x"))
    with pytest.raises(ValueError, match="cannot use a footprint observation set"):
        observation_pixels(inputs, observations)
