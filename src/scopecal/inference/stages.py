"""The posterior stages of the workflow on their files: prior simulations of a problem's observation design, the
NPE network trained on them with its coverage check, a set's NPE samples, the record a NUTS job resumes from,
and the posterior predictive of a set.

Simulations are noise-free model values (draw, observation, target) in the objective's order of the design's
observed cells; the problem's noise (the design's sigma) is added when the network is trained, so one set of
simulations serves any noise seed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ..config import held_out_count
from ..problems import Problem
from . import amortised

LEVELS = (0.5, 0.9)
# posterior samples per held-out simulation in the coverage check
COVERAGE_SAMPLES = 500
# independent random streams drawn from one posterior seed (the prior draws use the seed itself)
NOISE_STREAM, TRAINING_STREAM, COVERAGE_STREAM, SAMPLING_STREAM, PREDICTIVE_STREAM = 1, 2, 3, 4, 5
PREDICTIVE_QUANTILES = (0.05, 0.5, 0.95)
FINGERPRINT = "settings.sha256"


def stream(seed: int, purpose: int) -> int:
    """A seed for one use of the posterior seed, independent of the others."""
    return int(np.random.SeedSequence([seed, purpose]).generate_state(1)[0])


def discard_stale_chain(directory: str | Path, fingerprint: str) -> bool:
    """Empty the directory of a NUTS chain that a job with other settings (problem, observations, sampler, SCOPE)
    left, and record ``fingerprint``: its stages would otherwise be resumed. True if any were removed."""
    directory = Path(directory)
    record = directory / FINGERPRINT
    stale = any(directory.glob("*.npz")) and (not record.exists() or record.read_text().strip() != fingerprint)
    if stale:
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record.write_text(fingerprint + "\n")
    return stale


def simulate_chunk(objective, problem: Problem, *, simulations: int, chunks: int, chunk: int, seed: int) -> xr.Dataset:
    """Chunk ``chunk`` (0-based) of ``simulations`` prior draws and the model's noise-free values at them.

    ``objective``: the problem's objective on its observation design, whose observations and sigma the result
    carries. Draws where SCOPE gave no usable value have NaN rows (``failed`` counts those draws)."""
    u = amortised.prior_chunk(problem.scaled_bounds, simulations, seed, chunk, chunks)
    started = time.perf_counter()
    values = objective.simulate(u)
    seconds = time.perf_counter() - started
    draw = np.array_split(np.arange(simulations), chunks)[chunk]
    physical = problem.to_physical(u.T)
    targets = objective.targets
    dataset = xr.Dataset(
        {
            "u": (("draw", "parameter"), u, {"long_name": "scaled parameters (the prior is uniform on their box)"}),
            "simulated": (
                ("draw", "observation", "target"),
                values,
                {"long_name": "noise-free model values at the design's observations (NaN: no usable value)"},
            ),
            "observations": (
                ("observation", "target"),
                objective.observations.cpu().numpy(),
                {"long_name": "the design set's observations"},
            ),
            "sigma": (("observation", "target"), objective.sigma.cpu().numpy(), {"long_name": "observation error"}),
            **{name: ("draw", physical[i]) for i, name in enumerate(problem.names)},
        },
        coords={"draw": draw, "parameter": problem.names, "target": targets},
        attrs=dict(
            problem=problem.name,
            chunk=chunk + 1,
            chunks=chunks,
            simulations=simulations,
            seed=seed,
            seconds=seconds,
            failed=int(np.isnan(values).any(axis=(1, 2)).sum()),
        ),
    )
    return dataset


def read_simulations(paths: Sequence[str | Path]) -> xr.Dataset:
    """The chunks of one problem's simulations as one dataset, draws in order; ``seconds`` and ``failed`` summed."""
    chunks = []
    for path in paths:
        with xr.open_dataset(path) as chunk:
            chunks.append(chunk.load())
    chunks.sort(key=lambda chunk: chunk.attrs["chunk"])
    # sigma and the observations must agree between chunks (compat="equals"): they were simulated on one design
    whole = xr.concat(
        chunks, dim="draw", data_vars="minimal", coords="minimal", compat="equals", combine_attrs="drop_conflicts"
    )
    if len(chunks) != whole.attrs["chunks"] or len(whole["draw"]) != whole.attrs["simulations"]:
        raise ValueError(f"{len(chunks)} chunks of {len(whole['draw'])} draws; expected {whole.attrs['chunks']}")
    whole.attrs.update(
        seconds=float(sum(chunk.attrs["seconds"] for chunk in chunks)),
        failed=int(sum(chunk.attrs["failed"] for chunk in chunks)),
    )
    return whole


def train_on_simulations(
    simulations: xr.Dataset, problem: Problem, *, holdout: float, seed: int, network: Mapping[str, Any]
) -> tuple[amortised.DirectPosterior, pd.DataFrame, dict[str, Any]]:
    """The NPE posterior trained on the noisy simulations, the coverage of its central 50% and 90% intervals
    on the last ``holdout`` share of them (held out), and a record of counts and times.

    Draws without a usable model value are left out of both parts (the model's failures bound the posterior's
    support, as they do for NUTS)."""
    theta = simulations["u"].values
    x = amortised.noisy(simulations["simulated"].values, simulations["sigma"].values, stream(seed, NOISE_STREAM))
    usable = np.isfinite(x).reshape(len(x), -1).all(axis=1)
    held_out = np.arange(len(x)) >= len(x) - held_out_count(len(x), holdout)
    train, test = usable & ~held_out, usable & held_out
    started = time.perf_counter()
    posterior = amortised.train(
        theta[train], x[train], problem.scaled_bounds, seed=stream(seed, TRAINING_STREAM), **network
    )
    training_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if test.any():
        coverage = amortised.expected_coverage(
            posterior, theta[test], x[test], LEVELS, COVERAGE_SAMPLES, stream(seed, COVERAGE_STREAM)
        )
    else:
        coverage = np.full((len(LEVELS), len(problem.names)), np.nan)
    table = pd.DataFrame(
        [
            dict(parameter=name, level=level, coverage=coverage[i, j], held_out=int(test.sum()))
            for j, name in enumerate(problem.names)
            for i, level in enumerate(LEVELS)
        ]
    )
    record = dict(
        problem=problem.name,
        simulations=len(x),
        failed_simulations=int((~usable).sum()),
        trained_on=int(train.sum()),
        held_out=int(test.sum()),
        simulation_seconds=float(simulations.attrs["seconds"]),
        training_seconds=training_seconds,
        coverage_seconds=time.perf_counter() - started,
    )
    return posterior, table, record


def check_design(observations: xr.Dataset, design: xr.Dataset, name: str, design_name: str) -> None:
    """Raise ValueError unless set ``name`` observes the cells, times and footprint of the design set."""
    for variable in ("observed", "footprint_weight"):
        if (variable in observations) != (variable in design):
            raise ValueError(f"set {name!r} and the design set {design_name!r} differ in their {variable}")
        if variable in observations and not observations[variable].equals(design[variable]):
            raise ValueError(
                f"set {name!r} observes other cells or times than the design set {design_name!r} that the NPE "
                "network was trained on: sample it by MCMC only, or train a network on its design"
            )


def check_sigma(sigma: np.ndarray, trained: np.ndarray, name: str) -> None:
    """Raise ValueError unless set ``name``'s observation errors are those the network was trained with."""
    if sigma.shape != trained.shape or not np.allclose(sigma, trained, rtol=1e-9, atol=0):
        raise ValueError(f"set {name!r} has other observation errors (sigma) than the NPE network was trained with")


def npe_samples(
    posterior: amortised.DirectPosterior, x: np.ndarray, problem: Problem, *, samples: int, seed: int
) -> az.InferenceData:
    """``samples`` NPE draws for observations ``x`` in the layout of the NUTS result: one chain, the physical
    values under the parameter names and the scaled ``u``; the sampling time in the posterior's attrs."""
    started = time.perf_counter()
    u = amortised.sample(posterior, x, samples, stream(seed, SAMPLING_STREAM))
    seconds = time.perf_counter() - started
    physical = problem.to_physical(u.T)
    idata = az.from_dict(
        posterior={name: values[None] for name, values in zip(problem.names, physical, strict=True)} | {"u": u[None]},
        coords={"parameter": problem.names},
        dims={"u": ["parameter"]},
    )
    idata.posterior.attrs.update(problem=problem.name, method="npe", samples=samples, seed=seed, seconds=seconds)
    return idata


def predictive(objective, posteriors: Mapping[str, az.InferenceData], *, draws: int, seed: int) -> xr.Dataset:
    """The posterior predictive of each method's samples at the set's observations: SCOPE at ``draws`` of its
    samples (drawn without replacement, at most all), the observation noise added; its 5, 50 and 95% quantiles per
    observation and target, and ``inside_90``, the share of the observations inside their 90% band (about 0.9
    when the posterior and the noise model are right).

    ``objective``: the problem's objective on the set, whose observations and sigma the bands are set against."""
    observed, sigma = objective.observations.cpu().numpy(), objective.sigma.cpu().numpy()
    bands, inside, used = [], [], []
    for idata in posteriors.values():
        u = idata.posterior["u"].values.reshape(-1, idata.posterior.sizes["parameter"])
        rng = np.random.default_rng(stream(seed, PREDICTIVE_STREAM))
        chosen = u[rng.choice(len(u), size=min(draws, len(u)), replace=False)]
        simulated = amortised.noisy(objective.simulate(chosen), sigma, stream(seed, NOISE_STREAM))
        usable = np.isfinite(simulated).all(axis=(1, 2))  # draws SCOPE gave a value at every observation
        band = (
            np.quantile(simulated[usable], PREDICTIVE_QUANTILES, axis=0)
            if usable.any()
            else np.full((len(PREDICTIVE_QUANTILES), *observed.shape), np.nan)
        )
        bands.append(band)
        # no draw with a value everywhere: no band, and no share to report (NaN, never 0)
        inside.append(float(((observed >= band[0]) & (observed <= band[-1])).mean()) if usable.any() else np.nan)
        used.append(int(usable.sum()))
    methods = list(posteriors)  # not a dimension named method: .sel has a method argument
    return xr.Dataset(
        {
            "band": (
                ("sampler", "quantile", "observation", "target"),
                np.stack(bands),
                {"long_name": "quantiles of the noisy posterior predictive"},
            ),
            "observed": (("observation", "target"), observed, {"long_name": "the set's observations"}),
            "sigma": (("observation", "target"), sigma, {"long_name": "observation error"}),
            "inside_90": ("sampler", inside, {"long_name": "share of observations inside their 90% band"}),
            "draws": ("sampler", used, {"long_name": "posterior draws SCOPE gave a value for at every observation"}),
        },
        coords={"sampler": methods, "quantile": list(PREDICTIVE_QUANTILES), "target": objective.targets},
    )
