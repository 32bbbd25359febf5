"""Twin observations: SCOPE at the true parameters, sampled and perturbed, with the baseline misfit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from .forward import solved
from .problems import ObservationSet, Problem


def with_parameters(inputs: xr.Dataset, values: Mapping[str, float | xr.DataArray]) -> xr.Dataset:
    """The inputs with each named parameter set to one value over the whole field, or to a map (y, x) of values
    (per-pixel problems)."""
    updated = inputs.copy()
    for name, value in values.items():
        if isinstance(value, xr.DataArray):
            updated[name] = value.broadcast_like(inputs["LAI"]).transpose(*inputs["LAI"].dims)
        else:
            updated[name] = xr.full_like(inputs["LAI"], float(value))
    return updated


def observed_cells(field_mask: xr.DataArray, grid: xr.DataArray, observation_set: ObservationSet) -> xr.DataArray:
    """(y, x, time) True where the set observes: inside the field, on its dates and pixels, a seeded fraction."""
    observed = field_mask.astype(bool).broadcast_like(grid).transpose("y", "x", "time").copy()
    n_dates, (ny, nx) = grid.sizes["time"], (grid.sizes["y"], grid.sizes["x"])
    if observation_set.dates is not None and not all(0 <= d < n_dates for d in observation_set.dates):
        raise ValueError(
            f"observation set {observation_set.name}: sampling.dates {list(observation_set.dates)} "
            f"must index the {n_dates} acquisitions (0..{n_dates - 1})"
        )
    if observation_set.pixels is not None and not all(0 <= y < ny and 0 <= x < nx for y, x in observation_set.pixels):
        raise ValueError(
            f"observation set {observation_set.name}: sampling.pixels {list(observation_set.pixels)} "
            f"must lie in the {ny}x{nx} grid"
        )
    if observation_set.dates is not None:
        keep = np.zeros(grid.sizes["time"], bool)
        keep[list(observation_set.dates)] = True
        observed &= xr.DataArray(keep, dims="time")
    if observation_set.pixels is not None:
        keep = np.zeros((grid.sizes["y"], grid.sizes["x"]), bool)
        for y, x in observation_set.pixels:
            keep[y, x] = True
        observed &= xr.DataArray(keep, dims=("y", "x"))
    if observation_set.fraction < 1.0:
        rng = np.random.default_rng(observation_set.seed)
        observed &= xr.DataArray(rng.random(observed.shape) < observation_set.fraction, dims=observed.dims)
    if not bool(observed.any()):
        raise ValueError(f"observation set {observation_set.name} observes no cell inside the field")
    return observed


def observe(
    truth: xr.Dataset, problem: Problem, observation_set: ObservationSet, field_mask: xr.DataArray, seed: int
) -> xr.Dataset:
    """Observations of each target where observed (NaN elsewhere), their sigma, and the baseline misfit.

    The baseline misfit is 0.5 * sum(((truth - obs) / sigma)^2): what the
    noise alone costs, the level below which a fit is fitting noise. A
    noise-free set takes its expected value, half the number of residuals:
    a fit below it is as close as observations with that noise could tell
    (the truth's own misfit, ~0, is kept as ``truth_misfit``).
    """
    grid = truth[problem.targets[0].name].transpose("y", "x", "time")
    drawn = observed_cells(field_mask, grid, observation_set)
    # a cell where SCOPE gave no usable value at the truth (an energy balance left unsolved) has nothing
    # to observe
    targets = [t.name for t in problem.targets] + (["max_error"] if "max_error" in truth else [])
    observed = drawn & solved(truth[targets])
    if not bool(observed.any()):
        raise ValueError(f"observation set {observation_set.name}: SCOPE solved none of its cells at the truth")
    rng = np.random.default_rng([seed, observation_set.realisation])
    dataset = xr.Dataset({"observed": observed})
    truth_misfit = 0.0
    for target in problem.targets:
        true_values = truth[target.name].transpose("y", "x", "time")
        sigma = xr.DataArray(target.sigma(true_values.values), dims=true_values.dims, coords=true_values.coords)
        noise = rng.standard_normal(true_values.shape) if observation_set.realisation else 0.0
        values = (true_values + noise * sigma).where(observed)
        truth_misfit += 0.5 * float((((true_values - values) / sigma) ** 2).where(observed).sum())
        dataset[target.name] = values.assign_attrs(true_values.attrs)
        dataset[f"sigma_{target.name}"] = sigma.where(observed).assign_attrs(
            units=true_values.attrs.get("units", ""), long_name=f"observation error standard deviation of {target.name}"
        )
    dataset.attrs.update(
        problem=problem.name,
        observation_set=observation_set.name,
        noise_realisation=observation_set.realisation,
        baseline_misfit=truth_misfit
        if observation_set.realisation
        else 0.5 * len(problem.targets) * int(observed.sum()),
        truth_misfit=truth_misfit,
        observed_cells=int(observed.sum()),
        unsolved_cells=int((drawn & ~observed).sum()),
        truth=", ".join(p.truth_label for p in problem.parameters),
    )
    # a per-pixel twin's true parameter maps go with its observations, for the maps and their figure
    return dataset.assign({name: truth[name] for name in truth.data_vars if name.startswith("truth_")})
