"""Config checks that the JSON schema cannot express, and the defaults that point into arcope."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any


def default_field_geojson() -> Path:
    """arcope's bundled test field (a crop field in Belgium)."""
    return Path(str(files("arc_scope.data") / "test_field.geojson"))


def default_weather_csv() -> Path:
    """arcope's bundled station weather for the test field, May-September 2021."""
    return Path(str(files("arc_scope.data") / "showcase_weather.csv"))


def field_geojson(config: Mapping[str, Any]) -> Path:
    return Path(config["field"]["geojson"]) if config["field"]["geojson"] else default_field_geojson()


def season_dates(config: Mapping[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(config["season"]["start"]), date.fromisoformat(config["season"]["end"])


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the key, for what the schema cannot say; run before any job."""
    errors = []
    start, end = season_dates(config)
    if end < start:
        errors.append(f"season.end ({end}) is before season.start ({start})")
    if end.year != start.year:
        errors.append(
            f"season.start and season.end must lie in one year (ARC counts days of year), got {start} and {end}"
        )
    if config["field"]["geojson"] and not Path(config["field"]["geojson"]).is_file():
        errors.append(f"field.geojson: file {config['field']['geojson']} does not exist")
    retrieval = config["retrieval"]
    if retrieval["source"] == "npz" and not (retrieval.get("npz") or {}).get("path"):
        errors.append("retrieval.npz.path must name an ARC output file when retrieval.source is 'npz'")
    if retrieval["source"] == "synthetic" and not retrieval.get("synthetic"):
        errors.append("retrieval.synthetic (seed, revisit_days) is required when retrieval.source is 'synthetic'")
    weather = config["weather"]
    local_path = (weather.get("local") or {}).get("path")
    if weather["source"] == "local" and local_path and not Path(local_path).is_file():
        errors.append(f"weather.local.path: file {local_path} does not exist")
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))
    check_calibration(config)


def optimizer_setup(config: Mapping[str, Any], label: str) -> tuple[str, dict]:
    """(registry name, options) of an optimizer label in ``calibration.optimizers``."""
    options = dict(config["calibration"]["optimizers"][label])
    return options.pop("method", label), options


def calibration_jobs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every (problem, observations, optimizer, start) the config asks for."""
    from .problems import problem_from_config

    jobs = []
    for name in config["calibration"]["problems"]:
        spec = config["problems"][name]
        problem = problem_from_config(name, spec)
        for observation_set in problem.observation_sets:
            for label in spec.get("optimizers") or config["calibration"]["optimizers"]:
                for start in range(problem.n_starts):
                    jobs.append(
                        dict(
                            problem=name, observations=observation_set.name, optimizer=label, start=f"start{start + 1}"
                        )
                    )
    return jobs


def check_calibration(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the key of a problem or optimizer that cannot run."""
    from .problems import problem_from_config

    errors = []
    labels = config["calibration"]["optimizers"]
    for name in config["calibration"]["problems"]:
        if name not in config["problems"]:
            errors.append(
                f"calibration.problems: {name!r} is not defined under problems ({sorted(config['problems'])})"
            )
            continue
        spec = config["problems"][name]
        try:
            problem_from_config(name, spec)
        except ValueError as error:
            errors.append(f"problems.{name}: {error}")
        unknown = sorted(set(spec.get("optimizers", [])) - set(labels))
        if unknown:
            errors.append(f"problems.{name}.optimizers: {unknown} not in calibration.optimizers ({sorted(labels)})")
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))
