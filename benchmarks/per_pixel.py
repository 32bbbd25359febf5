"""Per-pixel calibration: all pixels in one batched Levenberg-Marquardt against one pixel at a time.

Builds an N-pixel field by repeating the in-field pixels of a prepared SCOPE input file (the default suite's
results/inputs/fluorescence.nc), gives every pixel its own true fqe and Cab (a synthetic twin, seeded), observes
F685 and F740 on every date with 2% noise, and calibrates every pixel twice with the same solver and stopping
rule: all pixels together (one SCOPE run per iteration for the pixels still running) and each pixel alone. Prints
wall times, model runs, the largest relative difference of the final misfits and the recovery.

    python benchmarks/per_pixel.py results/inputs/fluorescence.nc --pixels 16 100
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import xarray as xr

from scopecal.calibrate import build_objective
from scopecal.forward import run_forward
from scopecal.pixels import Settings, batch_evaluator, calibrate_pixels, observation_pixels, pixel_truths, solve_pixels
from scopecal.problems import problem_from_config
from scopecal.twin import observe, with_parameters

SPEC = dict(
    workflow="fluorescence",
    parameters=dict(
        fqe=dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01], truth_spread=[0.008, 0.04]),
        Cab=dict(truth=40.0, lower=10.0, upper=80.0, starts=[30.0], truth_spread=[25.0, 60.0]),
    ),
    targets=dict(F685=dict(relative=0.02), F740=dict(relative=0.02)),
    observations=dict(noisy=dict(noise=True)),
    per_pixel={},
)


def field_of(inputs: xr.Dataset, n_pixels: int) -> xr.Dataset:
    """An (n_pixels, 1) field whose pixel i is the input file's in-field pixel i modulo their number."""
    inside = inputs["field_mask"].astype(bool).values
    ys, xs = np.nonzero(inside)
    order = np.arange(n_pixels) % len(ys)
    pixels = dict(y=xr.DataArray(ys[order], dims="pixel"), x=xr.DataArray(xs[order], dims="pixel"))
    stacked = inputs.isel(pixels).drop_vars(["y", "x"], errors="ignore").rename(pixel="y")
    field = stacked.expand_dims("x").transpose("y", "x", ...)
    return field.assign_coords(y=np.arange(n_pixels, dtype=float), x=[0.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", help="a fluorescence SCOPE input file (results/inputs/fluorescence.nc)")
    parser.add_argument("--pixels", type=int, nargs="+", default=[16, 100])
    parser.add_argument("--scope-assets", default="../shared/scope-upstream")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    problem = problem_from_config("per_pixel_benchmark", SPEC)
    settings = Settings()
    with xr.open_dataset(args.inputs) as opened:
        source = opened.load()
    print(f"{source.sizes['time']} dates a pixel, F685 and F740 (2% noise), parameters fqe and Cab, synthetic twin")
    print("pixels | batched s | runs | sequential s | runs | speed-up | max rel. misfit diff | worst error / range")
    for n_pixels in args.pixels:
        inputs = field_of(source, n_pixels)
        truths = pixel_truths(problem, inputs["field_mask"], args.seed)
        truth = run_forward(
            with_parameters(inputs, truths),
            problem.workflow,
            scope_root=args.scope_assets,
            device="cpu",
            dtype="float64",
            output_vars=[target.name for target in problem.targets],
        )
        observations = observe(truth, problem, problem.observation_sets[0], inputs["field_mask"], args.seed)
        observations = observations.assign({f"truth_{name}": value for name, value in truths.items()})
        objective = build_objective(inputs, observations, problem, scope_root=args.scope_assets, device="cpu")

        maps, _ = calibrate_pixels(objective, problem, inputs, observations, settings)
        batched_misfit = maps["misfit"].values[:, 0]

        _, pixel_of_row = observation_pixels(inputs, observations)
        evaluate = batch_evaluator(objective, pixel_of_row)
        start = problem.to_scaled(problem.start(0))
        started, runs, sequential_misfit = time.perf_counter(), 0, np.empty(n_pixels)
        for pixel in range(n_pixels):
            alone = solve_pixels(
                lambda _, candidates, pixel=pixel, evaluate=evaluate: evaluate(np.array([pixel]), candidates),
                start[None],
                problem.scaled_bounds,
                settings,
            )
            runs += alone.model_runs
            sequential_misfit[pixel] = alone.states[0].misfit
        sequential = time.perf_counter() - started

        difference = np.max(np.abs(batched_misfit - sequential_misfit) / np.abs(sequential_misfit))
        errors = [np.nanmax(np.abs(maps[p.name] - maps[f"truth_{p.name}"]).values) / p.span for p in problem.parameters]
        print(
            f"{n_pixels} | {maps.attrs['seconds']:.1f} | {maps.attrs['model_runs']} | {sequential:.1f} | {runs} | "
            f"{sequential / maps.attrs['seconds']:.2f}x | {difference:.1e} | "
            + ", ".join(f"{p.name} {e:.3f}" for p, e in zip(problem.parameters, errors, strict=True))
        )


if __name__ == "__main__":
    main()
