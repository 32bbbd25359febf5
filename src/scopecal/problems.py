"""Calibration problems: parameters with bounds and transforms, targets, observation sets.

Optimisers work on a scaled vector ``u``: ``identity`` and ``log`` parameters
map their bounds to [0, 1] (linearly in the value or in its logarithm);
``logit`` parameters map the open interval (lower, upper) to the real line.
Physical values are what the model, the trace and the results see.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# logit coordinates are boxed for the optimisers that need bounds: the value then stays within 3e-4 of the range
LOGIT_BOX = 8.0


@dataclass(frozen=True)
class Parameter:
    name: str
    truth: float | None  # None where observations come from a file: nothing is known to recover
    lower: float
    upper: float
    transform: str = "identity"
    starts: tuple[float, ...] = ()
    truth_spread: tuple[float, float] | None = None  # per-pixel twins: true values drawn per pixel between these

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"parameter {self.name}: lower {self.lower} must be below upper {self.upper}")
        if self.transform not in ("identity", "log", "logit"):
            raise ValueError(f"parameter {self.name}: transform {self.transform!r} is not identity, log or logit")
        if self.transform == "log" and self.lower <= 0:
            raise ValueError(f"parameter {self.name}: a log transform needs lower > 0, got {self.lower}")
        spread = self.truth_spread
        if spread is not None and not self.lower <= spread[0] < spread[1] <= self.upper:
            raise ValueError(
                f"parameter {self.name}: truth_spread {list(self.truth_spread)} must be increasing within "
                f"[{self.lower}, {self.upper}]"
            )
        for value in (self.truth, *self.starts):
            if value is not None and not self.lower <= value <= self.upper:
                raise ValueError(f"parameter {self.name}: {value} lies outside [{self.lower}, {self.upper}]")

    @property
    def truth_label(self) -> str:
        """``name=truth``, or the range its per-pixel truths are drawn from."""
        if self.truth_spread is not None:
            return f"{self.name} per pixel in [{self.truth_spread[0]}, {self.truth_spread[1]}]"
        return f"{self.name}={self.truth}"

    @property
    def span(self) -> float:
        return self.upper - self.lower

    def to_physical(self, u):
        """Scaled -> physical; works on floats, numpy arrays and torch tensors (differentiably).

        torch is not imported here (figures and tables use this module without it): a tensor means it is loaded.
        """
        torch = sys.modules.get("torch")
        lib = torch if torch is not None and isinstance(u, torch.Tensor) else np
        if self.transform == "log":
            return lib.exp(np.log(self.lower) + u * (np.log(self.upper) - np.log(self.lower)))
        if self.transform == "logit":
            return self.lower + self.span / (1.0 + lib.exp(-u))
        return self.lower + u * self.span

    def to_scaled(self, value: float) -> float:
        if self.transform == "log":
            return float((np.log(value) - np.log(self.lower)) / (np.log(self.upper) - np.log(self.lower)))
        fraction = (value - self.lower) / self.span
        if self.transform == "logit":
            fraction = np.clip(fraction, 1e-12, 1 - 1e-12)
            return float(np.clip(np.log(fraction / (1 - fraction)), -LOGIT_BOX, LOGIT_BOX))
        return float(fraction)

    @property
    def scaled_bounds(self) -> tuple[float, float]:
        return (-LOGIT_BOX, LOGIT_BOX) if self.transform == "logit" else (0.0, 1.0)


@dataclass(frozen=True)
class Target:
    """A SCOPE output compared with observations; ``sigma`` is relative (to the true value) or absolute."""

    name: str
    relative: float | None = None
    absolute: float | None = None

    def __post_init__(self) -> None:
        if (self.relative is None) == (self.absolute is None):
            raise ValueError(f"target {self.name}: give exactly one of relative or absolute sigma")

    def sigma(self, truth_values: np.ndarray) -> np.ndarray:
        if self.absolute is not None:
            return np.full_like(truth_values, self.absolute, dtype=float)
        return self.relative * np.abs(truth_values)


@dataclass(frozen=True)
class ObservationSet:
    """How one set of twin observations is drawn: which cells, and which noise realisation (0 = noise-free);
    or, with ``file``, the config of a set read from the user's file (scopecal.observations)."""

    name: str
    realisation: int
    dates: tuple[int, ...] | None = None
    pixels: tuple[tuple[int, int], ...] | None = None
    fraction: float = 1.0
    seed: int = 0
    file: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    @property
    def is_twin(self) -> bool:
        return self.file is None


@dataclass(frozen=True)
class Background:
    """Prior mean and covariance of the physical parameters (variational inversion's background term)."""

    mean: np.ndarray
    covariance: np.ndarray

    @property
    def inverse_sqrt(self) -> np.ndarray:
        """B^-1/2 from the Cholesky factor L of B: residual = L^-1 (theta - theta_b)."""
        return np.linalg.inv(np.linalg.cholesky(self.covariance))


@dataclass(frozen=True)
class Problem:
    name: str
    workflow: str
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]
    observation_sets: tuple[ObservationSet, ...]
    background: Background | None = None
    optimizers: tuple[str, ...] = field(default_factory=tuple)
    per_pixel: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)  # None: one parameter set

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def truth(self) -> np.ndarray:
        """The true values (NaN where a parameter has none)."""
        return np.array([p.truth for p in self.parameters], dtype=float)

    @property
    def has_truth(self) -> bool:
        return all(p.truth is not None for p in self.parameters)

    def to_physical(self, u: np.ndarray) -> np.ndarray:
        return np.array([p.to_physical(value) for p, value in zip(self.parameters, u, strict=True)])

    def to_scaled(self, values: np.ndarray) -> np.ndarray:
        return np.array([p.to_scaled(value) for p, value in zip(self.parameters, values, strict=True)])

    @property
    def scaled_bounds(self) -> np.ndarray:
        return np.array([p.scaled_bounds for p in self.parameters])

    def start(self, index: int) -> np.ndarray:
        """Physical start point ``index`` (every parameter lists its start values)."""
        return np.array([p.starts[index] for p in self.parameters])

    @property
    def n_starts(self) -> int:
        return len(self.parameters[0].starts)

    def observation_set(self, name: str) -> ObservationSet:
        for candidate in self.observation_sets:
            if candidate.name == name:
                return candidate
        raise KeyError(
            f"problem {self.name} has no observation set {name!r}; it has {[s.name for s in self.observation_sets]}"
        )


def expand_observation_sets(spec: Mapping[str, Mapping[str, Any]]) -> tuple[ObservationSet, ...]:
    """``noisy: {noise: true, realisations: 3}`` becomes noisy1, noisy2, noisy3; a noise-free set and a file set
    keep their names."""
    sets = []
    for name, entry in spec.items():
        if "file" in entry:
            sets.append(ObservationSet(name=name, realisation=0, file=dict(entry)))
            continue
        sampling = entry.get("sampling", {})
        common = dict(
            dates=tuple(sampling["dates"]) if sampling.get("dates") is not None else None,
            pixels=tuple(tuple(p) for p in sampling["pixels"]) if sampling.get("pixels") is not None else None,
            fraction=float(sampling.get("fraction", 1.0)),
            seed=int(sampling.get("seed", 0)),
        )
        if entry.get("noise", False):
            for realisation in range(1, int(entry.get("realisations", 1)) + 1):
                sets.append(ObservationSet(name=f"{name}{realisation}", realisation=realisation, **common))
        else:
            sets.append(ObservationSet(name=name, realisation=0, **common))
    return tuple(sets)


def problem_from_config(name: str, spec: Mapping[str, Any]) -> Problem:
    parameters = tuple(
        Parameter(
            name=pname,
            truth=float(p["truth"]) if p.get("truth") is not None else None,
            lower=float(p["lower"]),
            upper=float(p["upper"]),
            transform=p.get("transform", "identity"),
            starts=tuple(float(s) for s in p["starts"]),
            truth_spread=tuple(float(v) for v in p["truth_spread"]) if p.get("truth_spread") else None,
        )
        for pname, p in spec["parameters"].items()
    )
    if len({len(p.starts) for p in parameters}) != 1:
        raise ValueError(f"problems.{name}: every parameter must list the same number of starts")
    targets = tuple(Target(name=tname, **sigma) for tname, sigma in spec["targets"].items())
    background = None
    if spec.get("background"):
        mean = np.array([float(spec["background"]["mean"][p.name]) for p in parameters])
        std = np.array([float(spec["background"]["std"][p.name]) for p in parameters])
        background = Background(mean=mean, covariance=np.diag(std**2))
    return Problem(
        name=name,
        workflow=spec["workflow"],
        parameters=parameters,
        targets=targets,
        observation_sets=expand_observation_sets(spec["observations"]),
        background=background,
        optimizers=tuple(spec.get("optimizers", ())),
        per_pixel=spec.get("per_pixel"),
    )
