"""Config checks that the JSON schema cannot express, and the defaults that point into arcope."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .problems import ObservationSet, Problem


# retrieval sources laid on the field.pixel_size_m / field.shape grid (ARC and an NPZ bring their own)
GRIDDED_SOURCES = ("synthetic", "table")


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


SITE_PLACEHOLDER = "{site}"  # in a file observation set's path: the site's own file


def site_names(config: Mapping[str, Any]) -> list[str | None]:
    """The sites of a config; [None] for a config without ``sites`` (one field, paths without a site folder)."""
    return list(config.get("sites") or {}) or [None]


def problem_sites(config: Mapping[str, Any], name: str) -> list[str | None]:
    """The sites a problem runs on: its ``sites``, else every site."""
    return list(config["problems"][name].get("sites") or site_names(config))


def site_config(config: Mapping[str, Any], site: str | None) -> dict[str, Any]:
    """The config one site runs with: the shared sections with the site's own laid over them key by key, only the
    problems that run on the site, and ``{site}`` in file observation paths replaced by its name. None: the
    config itself (a config without sites)."""
    if site is None:
        return dict(config)
    merged = copy.deepcopy({key: value for key, value in config.items() if key != "sites"})
    _lay_over(merged, copy.deepcopy(config["sites"][site] or {}))
    for section in ("calibration", "posterior"):
        merged[section]["problems"] = [
            name for name in merged[section]["problems"] if site in problem_sites(config, name)
        ]
    for spec in merged["problems"].values():
        spec.pop("sites", None)
        for entry in spec["observations"].values():
            if "file" in entry:
                entry["file"] = entry["file"].replace(SITE_PLACEHOLDER, site)
    return merged


def _lay_over(base: dict, keys: Mapping[str, Any]) -> None:
    """Set ``keys`` in ``base`` one by one, mappings merged (as --configfile lays a file over the config)."""
    for key, value in keys.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _lay_over(base[key], value)
        else:
            base[key] = value


def check_config(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the key, for what the schema cannot say; run before any job. With ``sites``, each
    site's own config is checked, its errors named by site."""
    if config.get("sites"):
        check_sites(config)
        return
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
    if retrieval["source"] == "arc" and not config["field"].get("crop"):
        errors.append("field.crop must name the crop (ARC's crop model) when retrieval.source is 'arc'")
    if retrieval["source"] in GRIDDED_SOURCES and None in (config["field"].get(k) for k in ("pixel_size_m", "shape")):
        errors.append(
            f"field.pixel_size_m and field.shape (the pixel grid) are needed by retrieval.source "
            f"'{retrieval['source']}'"
        )
    table_path = (retrieval.get("table") or {}).get("path")
    if retrieval["source"] == "table" and table_path and not Path(table_path).is_file():
        errors.append(f"retrieval.table.path: file {table_path} does not exist")
    if retrieval["source"] == "npz" and not (retrieval.get("npz") or {}).get("path"):
        errors.append("retrieval.npz.path must name an ARC output file when retrieval.source is 'npz'")
    if retrieval["source"] == "synthetic" and not retrieval.get("synthetic"):
        errors.append("retrieval.synthetic (seed, revisit_days) is required when retrieval.source is 'synthetic'")
    weather = config["weather"]
    local_path = (weather.get("local") or {}).get("path")
    if weather["source"] == "local" and local_path and not Path(local_path).is_file():
        errors.append(f"weather.local.path: file {local_path} does not exist")
    # a site's own config has no `sites` key, nor its problems (site_config)
    errors += [
        f"problems.{name}.sites: {spec['sites']} names sites, and the config lists none (add them under sites)"
        for name, spec in config["problems"].items()
        if "sites" in spec
    ]
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))
    check_calibration(config)


def check_sites(config: Mapping[str, Any]) -> None:
    """Raise ValueError for a problem on a site that is not listed, a suite that has no site folder (docs,
    paper_comparison), or what makes one site's own config invalid."""
    sites = list(config["sites"])
    errors = [
        f"{key}: not available with sites (it reads one site's results)"
        for key in ("docs", "paper_comparison")
        if key in config
    ]
    for name, spec in config["problems"].items():
        if unknown := sorted(set(spec.get("sites") or []) - set(sites)):
            errors.append(f"problems.{name}.sites: {unknown} are not among sites ({sites})")
    if not errors:
        for site in sites:
            try:
                check_config(site_config(config, site))
            except ValueError as error:
                errors += [f"sites.{site}: {line[2:]}" for line in str(error).splitlines()[1:]]
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))


def config_warnings(config: Mapping[str, Any]) -> list[str]:
    """Settings the schema accepts that this config's other choices leave unused: each one names the key, its value
    and why it has no effect. The workflow prints them when it loads the config (they do not stop it)."""
    if config.get("sites"):  # a note every site has is given once
        per_site = {site: config_warnings(site_config(config, site)) for site in config["sites"]}
        shared = [note for note in next(iter(per_site.values())) if all(note in n for n in per_site.values())]
        return shared + [
            f"sites.{site}: {note}" for site, notes in per_site.items() for note in notes if note not in shared
        ]
    notes = []
    field, source = config["field"], config["retrieval"]["source"]
    if field.get("crop") and source != "arc":
        notes.append(
            f"field.crop ({field['crop']}) is used only by retrieval.source 'arc' (ARC's crop model); the {source} "
            "crop state does not depend on it: set it to null, or use retrieval.source: arc"
        )
    grid = {key: field.get(key) for key in ("pixel_size_m", "shape") if field.get(key) is not None}
    if grid and source not in GRIDDED_SOURCES:
        notes.append(
            f"field.{' and field.'.join(grid)} ({', '.join(map(str, grid.values()))}) set the pixel grid of the "
            f"synthetic retrieval and of a crop table; with retrieval.source '{source}' the grid is the retrieval's "
            "own: set them to null"
        )
    cluster = config.get("cluster") or {}
    if cluster.get("gpu_model") and not cluster.get("gpu"):
        notes.append(f"cluster.gpu_model ({cluster['gpu_model']}) is not requested: cluster.gpu is false")
    for name in config["calibration"]["problems"]:
        spec = config["problems"].get(name) or {}
        if "runs" in spec and "optimizers" in spec:
            notes.append(
                f"problems.{name}.optimizers ({spec['optimizers']}) is not used: problems.{name}.runs names the "
                "optimizers of each run"
            )
        for entry, observations in (spec.get("observations") or {}).items():
            if "realisations" in observations and not observations.get("noise") and "file" not in observations:
                notes.append(
                    f"problems.{name}.observations.{entry}.realisations ({observations['realisations']}) is not used: "
                    "a noise-free set has one realisation (set noise: true for noisy sets)"
                )
    return notes


# The options each optimizer reads from calibration.optimizers.<label> (besides `method` and `budget`); a test
# checks them against the optimizer modules. Any other key is a typo the optimizer would silently ignore.
OPTIMIZER_OPTIONS = {
    "lbfgsb": ("ftol", "gtol"),
    "dfols": ("rhobeg", "rhoend", "noisy", "user_params"),
    "cmaes": ("sigma0", "population_size", "restarts"),
    "neldermead": ("xatol", "fatol", "adaptive"),
    "adam": ("lr", "patience", "gtol"),
    "gauss_newton": ("xtol", "ftol", "gtol"),
    "de": ("popsize", "tol"),
}


def optimizer_errors(optimizers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What in ``calibration.optimizers`` names an option its optimizer does not read."""
    errors = []
    for label, options in optimizers.items():
        method, options = optimizer_setup({"calibration": {"optimizers": optimizers}}, label)
        if method not in OPTIMIZER_OPTIONS:
            errors.append(
                f"calibration.optimizers.{label}: no optimizer of that name; name one in its method "
                f"({', '.join(OPTIMIZER_OPTIONS)})"
            )
        elif unknown := sorted(set(options) - set(OPTIMIZER_OPTIONS[method])):
            errors.append(
                f"calibration.optimizers.{label}: {unknown} not options of {method} "
                f"(it reads {', '.join(OPTIMIZER_OPTIONS[method])}, method and budget)"
            )
    return errors


def optimizer_setup(config: Mapping[str, Any], label: str) -> tuple[str, dict]:
    """(registry name, options) of an optimizer label in ``calibration.optimizers``."""
    options = dict(config["calibration"]["optimizers"][label])
    options.pop("budget", None)
    return options.pop("method", label), options


def job_budget(config: Mapping[str, Any], problem: str, label: str) -> int:
    """Model evaluations for one job: the optimizer's budget, else the problem's, else ``calibration.budget``."""
    return int(
        config["calibration"]["optimizers"][label].get("budget")
        or config["problems"][problem].get("budget")
        or config["calibration"]["budget"]
    )


def problem_runs(config: Mapping[str, Any], name: str) -> list[tuple[list[str], list[str], list[int]]]:
    """(observation sets, optimizer labels, 1-based starts) of each run block of a problem; without ``runs``, one
    block: every set with every optimizer from every start."""
    from .problems import problem_from_config

    spec = config["problems"][name]
    problem = problem_from_config(name, spec)
    every_start = list(range(1, problem.n_starts + 1))
    labels = list(spec.get("optimizers") or config["calibration"]["optimizers"])
    if "runs" not in spec:
        return [([s.name for s in problem.observation_sets], labels, every_start)]
    return [
        (list(run["observations"]), list(run["optimizers"]), list(run.get("starts", every_start)))
        for run in spec["runs"]
    ]


def sensitivity_set(problem: Problem, spec: Mapping[str, Any]) -> str | None:
    """The noise-free observation set the sensitivity stage uses: ``sensitivity_set``, or the only one (None if
    the problem has none). Several without ``sensitivity_set`` is an error: their order is not dependable once
    --configfile has merged configs."""
    noise_free = [s.name for s in problem.observation_sets if s.realisation == 0 and s.is_twin]
    if "sensitivity_set" in spec:
        if spec["sensitivity_set"] not in noise_free:
            raise ValueError(f"sensitivity_set {spec['sensitivity_set']!r} is not a noise-free set ({noise_free})")
        return spec["sensitivity_set"]
    if len(noise_free) > 1:
        raise ValueError(f"several noise-free observation sets ({noise_free}): name one in sensitivity_set")
    return noise_free[0] if noise_free else None


def calibration_jobs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every (problem, observations, optimizer, start) the config asks for, each once."""
    jobs = []
    for name in config["calibration"]["problems"]:
        if "per_pixel" in config["problems"][name]:
            continue  # pixel_jobs
        for observation_sets, labels, starts in problem_runs(config, name):
            for observations in observation_sets:
                for label in labels:
                    for start in starts:
                        job = dict(problem=name, observations=observations, optimizer=label, start=f"start{start}")
                        if job not in jobs:
                            jobs.append(job)
    return jobs


def pixel_jobs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every (problem, observations) of the per-pixel problems calibrated: one job calibrates all its pixels."""
    from .problems import expand_observation_sets

    return [
        dict(problem=name, observations=observation_set.name)
        for name in config["calibration"]["problems"]
        if "per_pixel" in config["problems"][name]
        for observation_set in expand_observation_sets(config["problems"][name]["observations"])
    ]


# what a per-pixel problem has no use for: its pixels are solved by one batched Levenberg-Marquardt, with no prior
PER_PIXEL_UNUSED = ("optimizers", "runs", "budget", "background", "posterior", "sensitivity_set")


def check_calibration(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the key of a problem or optimizer that cannot run."""
    from .problems import problem_from_config

    labels = config["calibration"]["optimizers"]
    errors = optimizer_errors(labels)
    for name in config["calibration"]["problems"]:
        if name not in config["problems"]:
            errors.append(
                f"calibration.problems: {name!r} is not defined under problems ({sorted(config['problems'])})"
            )
            continue
        spec = config["problems"][name]
        unknown = sorted(set(spec.get("optimizers", [])) - set(labels))
        if unknown:
            errors.append(f"problems.{name}.optimizers: {unknown} not in calibration.optimizers ({sorted(labels)})")
        try:
            problem = problem_from_config(name, spec)
            errors += [f"problems.{name}: {error}" for error in problem_errors(problem, spec)]
            errors += run_errors(problem, spec.get("runs", []), labels)
        except ValueError as error:
            errors.append(f"problems.{name}: {error}")
    if not errors:
        jobs = ["{problem}/{observations}/{optimizer}/{start}".format(**job) for job in calibration_jobs(config)]
        for experiment, entry in (config.get("paper_comparison") or {}).items():
            if entry["job"] not in jobs:
                errors.append(f"paper_comparison.{experiment}: job {entry['job']} is not one of this config's jobs")
    if "docs" in config and config["docs"]["figures_of"] not in labels:
        errors.append(f"docs.figures_of: {config['docs']['figures_of']!r} not in calibration.optimizers")
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))
    check_posterior(config)


def problem_errors(problem: Problem, spec: Mapping[str, Any]) -> list[str]:
    """What makes a problem unable to run at all: twin sets without a truth, an unclear noise-free set, file sets
    that cannot be read."""
    if problem.per_pixel is None and (spread := [p.name for p in problem.parameters if p.truth_spread]):
        return [f"parameters {spread}: truth_spread needs per_pixel (one parameter set for the field has one truth)"]
    if problem.per_pixel is not None and (unused := [key for key in PER_PIXEL_UNUSED if key in spec]):
        return [
            f"{unused} do not apply to a per_pixel problem: its pixels are solved together by one batched "
            "Levenberg-Marquardt (per_pixel.max_evaluations, ftol, xtol), without a background"
        ]
    twins = [s.name for s in problem.observation_sets if s.is_twin]
    if twins and not problem.has_truth:
        untrue = [p.name for p in problem.parameters if p.truth is None]
        return [f"parameters {untrue} need a truth: the twin observation sets {twins} are drawn at it"]
    try:
        sensitivity_set(problem, spec)
    except ValueError as error:
        return [str(error)]
    return file_set_errors(problem)


def run_errors(problem: Problem, runs: Sequence[Mapping[str, Any]], labels: Mapping[str, Any]) -> list[str]:
    """What in ``problems.<name>.runs`` names an observation set, optimizer or start the config does not define."""
    sets = [s.name for s in problem.observation_sets]
    errors = []
    for index, run in enumerate(runs):
        where = f"problems.{problem.name}.runs[{index}]"
        if unknown := sorted(set(run["observations"]) - set(sets)):
            errors.append(f"{where}.observations: {unknown} are not observation sets of {problem.name} ({sets})")
        if unknown := sorted(set(run["optimizers"]) - set(labels)):
            errors.append(f"{where}.optimizers: {unknown} not in calibration.optimizers ({sorted(labels)})")
        if beyond := sorted(s for s in run.get("starts", []) if s > problem.n_starts):
            errors.append(f"{where}.starts: {beyond} beyond the {problem.n_starts} start(s) its parameters list")
    return errors


TWIN_KEYS = ("noise", "realisations", "sampling")


def file_set_errors(problem: Problem) -> list[str]:
    """What in a file observation set cannot work: twin keys beside ``file``, a missing file, variables that are
    not the problem's targets, an incomplete hold-out."""
    errors = []
    targets = sorted(t.name for t in problem.targets)
    for observation_set in problem.observation_sets:
        if observation_set.is_twin:
            continue
        spec, where = observation_set.file, f"problems.{problem.name}.observations.{observation_set.name}"
        if mixed := [key for key in TWIN_KEYS if key in spec]:
            errors.append(f"{where}: {mixed} belong to twin sets, not to a set read from a file")
        if not Path(spec["file"]).is_file():
            errors.append(f"{where}.file: {spec['file']} does not exist")
        if sorted(spec["variables"]) != targets:
            errors.append(f"{where}.variables: {sorted(spec['variables'])} must map exactly the targets {targets}")
        holdout = spec.get("holdout") or {}
        if holdout and not (("every" in holdout) != ({"start", "end"} <= set(holdout))):
            errors.append(f"{where}.holdout: give either start and end (dates) or every (every k-th day)")
    return errors


def posterior_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A problem's posterior settings: the ``posterior`` section with the keys of ``problems.<name>.posterior`` in
    place of its own (``network`` key by key), the observation sets to sample (default: all) and the ``design``,
    the set whose cells NPE is trained on (default: the noise-free twin set, else the first set sampled)."""
    from .problems import problem_from_config

    spec = config["problems"][name]
    own = spec.get("posterior") or {}
    settings = {key: value for key, value in config["posterior"].items() if key != "problems"}
    settings.update({key: value for key, value in own.items() if key != "network"})
    settings["network"] = {**settings["network"], **own.get("network", {})}
    problem = problem_from_config(name, spec)
    settings["observations"] = list(own.get("observations") or [s.name for s in problem.observation_sets])
    settings["design"] = own.get("design") or sensitivity_set(problem, spec) or settings["observations"][0]
    return settings


def held_out_count(simulations: int, share: float) -> int:
    """How many of the simulations the coverage check holds out (at least one)."""
    return max(1, round(share * simulations))


def check_posterior(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the key of a posterior setting that cannot run."""
    from .problems import problem_from_config

    errors = []
    for name in config["posterior"]["problems"]:
        if name not in config["problems"]:
            errors.append(f"posterior.problems: {name!r} is not defined under problems ({sorted(config['problems'])})")
            continue
        where, spec = f"problems.{name}.posterior", config["problems"][name]
        try:
            problem = problem_from_config(name, spec)
            if name not in config["calibration"]["problems"]:  # else check_calibration has said it
                errors += [f"problems.{name}: {error}" for error in problem_errors(problem, spec)]
            settings = posterior_settings(config, name)
        except ValueError as error:
            errors.append(f"problems.{name}: {error}")
            continue
        if problem.per_pixel is not None:
            errors.append(f"posterior.problems: {name} is a per_pixel problem; posteriors are of one parameter set")
            continue
        sets = {s.name: s for s in problem.observation_sets}
        if unknown := [s for s in settings["observations"] if s not in sets]:
            errors.append(f"{where}.observations: {unknown} are not observation sets of {name} ({list(sets)})")
            continue
        if settings["design"] not in sets:
            errors.append(f"{where}.design: {settings['design']!r} is not an observation set of {name} ({list(sets)})")
            continue
        if settings["draws"] % settings["block"]:
            errors.append(f"{where}: draws ({settings['draws']}) must be a multiple of block ({settings['block']})")
        if settings["chunks"] > settings["simulations"]:
            errors.append(f"{where}: more chunks ({settings['chunks']}) than simulations ({settings['simulations']})")
        if settings["simulations"] - held_out_count(settings["simulations"], settings["holdout"]) < 2:
            errors.append(f"{where}: holdout {settings['holdout']} leaves fewer than 2 simulations to train on")
        if "npe" in settings["methods"] and problem.background is not None:
            errors.append(
                f"{where}.methods: npe trains on draws from the uniform prior on the bounds, and {name} has a "
                "background prior: sample its posterior by mcmc only"
            )
        elif "npe" in settings["methods"]:
            design = sets[settings["design"]]
            other = [s for s in settings["observations"] if not same_design(sets[s], design)]
            if other:
                errors.append(
                    f"{where}: the sets {other} do not observe the cells of the design set {design.name!r} that NPE is "
                    "trained on: sample only sets of one design, name another design, or drop npe from methods"
                )
    if errors:
        raise ValueError("invalid config:\n- " + "\n- ".join(errors))


def same_design(one: ObservationSet, other: ObservationSet) -> bool:
    """Whether two observation sets of a problem may observe the same cells with the same errors: twin sets
    sampled alike; two file sets (checked when the posterior is sampled); never a twin set and a file set, which
    are at other times."""
    if one.is_twin != other.is_twin:
        return False
    if not one.is_twin:
        return True
    return (one.dates, one.pixels, one.fraction, one.seed) == (other.dates, other.pixels, other.fraction, other.seed)
