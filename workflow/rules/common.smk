from snakemake.logging import logger

from scopecal.assets import check_scope_assets
from scopecal.config import (
    calibration_jobs,
    check_config,
    config_warnings,
    job_budget,
    optimizer_setup,
    pixel_jobs,
    posterior_settings,
    same_design,
    sensitivity_set,
)
from scopecal.problems import expand_observation_sets, problem_from_config

check_config(config)
for note in config_warnings(config):  # settings this config leaves unused
    logger.warning(f"config: {note}")

WORKFLOWS = config["scope"]["workflows"]
CALIBRATION_PROBLEMS = {name: config["problems"][name] for name in config["calibration"]["problems"]}
# the problems calibrated and those whose posteriors are asked for: the twin, observation and sensitivity stages
# serve both
PROBLEMS = {
    name: config["problems"][name]
    for name in dict.fromkeys(config["calibration"]["problems"] + config["posterior"]["problems"])
}
JOBS = calibration_jobs(config)
PIXEL_JOBS = pixel_jobs(config)


def results(path):
    """A path under the config's results folder (results/ by default; config/paper.yaml: results/paper)."""
    return f"{config['results_dir']}/{path}"


CALIBRATION_DIR = results("calibration/{problem}/{observations}/{optimizer}/{start}")


wildcard_constraints:
    workflow="reflectance|fluorescence|thermal|energy-balance",
    problem="[^/]+",
    observations="[^/]+",
    optimizer="[^/]+",
    start=r"start\d+",
    chunk=r"\d+",


if config["scope_assets"]:
    SCOPE_ASSETS = str(check_scope_assets(config["scope_assets"]))
else:
    SCOPE_ASSETS = "resources/scope-upstream"

# The SCOPE-heavy rules (every rule that runs SCOPE) go to the GPU partition with one GPU, from config `cluster`
# (gpu: false on CPU-only clusters). Slurm: -p <partition> --gpus=1.
SCOPE_HEAVY_RESOURCES = dict(
    slurm_partition=config["cluster"]["gpu_partition"],
    gpu=1 if config["cluster"]["gpu"] else 0,
    gpu_model=config["cluster"]["gpu_model"] if config["cluster"]["gpu"] else None,
)


# What each job reads from the config, and nothing more. Snakemake re-runs a job when its params change, and the job's
# NetCDF records their digest (params_sha256): a key outside them (cluster.*, docs, another problem's spec) leaves the
# job up to date.

# The scope keys scopecal.inputs.prepare_inputs reads for each workflow; the others go in as None.
INPUT_SCOPE_KEYS = {
    "reflectance": (),
    "fluorescence": ("fqe",),
    "thermal": ("temperature_offsets",),
    "energy-balance": ("fqe", "energy_balance", "canopy_height_m", "measurement_height_m"),
}
# The keys of a problem that decide which jobs run, not what one job computes (a job's budget and its posterior
# settings are params of their own).
PROBLEM_RUN_KEYS = ("optimizers", "runs", "budget", "sensitivity_set", "posterior")


def input_scope(wildcards):
    return input_scope_of(wildcards.workflow)


def input_scope_of(workflow):
    """The scope keys the inputs of one workflow are built from (None for those its workflow does not read)."""
    used = INPUT_SCOPE_KEYS[workflow]
    every = sorted(set().union(*INPUT_SCOPE_KEYS.values()))
    return {key: config["scope"][key] if key in used else None for key in every}


def scope_run():
    """How SCOPE runs (device, dtype, cells per call): the params of every job that runs SCOPE on given inputs."""
    return {key: config["scope"].get(key) for key in ("device", "dtype", "chunk_size")}


def retrieval_params():
    """The retrieval source and its own section only; the field's pixel grid for synthetic output and a crop table,
    its crop for ARC."""
    source = config["retrieval"]["source"]
    field_keys = {
        "synthetic": ("geojson", "pixel_size_m", "shape"),
        "table": ("geojson", "pixel_size_m", "shape"),
        "npz": ("geojson",),
        "arc": ("geojson", "crop"),
    }
    return dict(
        field={key: config["field"][key] for key in field_keys[source]},
        season=config["season"],
        retrieval={"source": source, source: config["retrieval"].get(source) or {}},
    )


def weather_settings():
    """The weather source and its own section only (weather.local or weather.era5)."""
    source = config["weather"]["source"]
    return {"source": source, source: config["weather"].get(source) or {}}


def problem_spec(name, observations=None, per_pixel_solver=False):
    """problems.<name> as one job of it reads it: without the keys that choose which jobs run, with only the
    entry of its observation set (noisy1 comes from the entry `noisy`; None: no observation set), and of a
    per_pixel section only its truth_seed unless the job solves the pixels (``per_pixel_solver``)."""
    spec = {key: value for key, value in config["problems"][name].items() if key not in PROBLEM_RUN_KEYS}
    if "per_pixel" in spec and not per_pixel_solver:
        spec["per_pixel"] = {key: value for key, value in spec["per_pixel"].items() if key == "truth_seed"}
    spec["observations"] = {
        entry: sampling
        for entry, sampling in spec["observations"].items()
        if observations in [s.name for s in expand_observation_sets({entry: sampling})]
    }
    return spec


def optional_path(path):
    """An input that exists only when the config names a file (null = a file bundled with arcope)."""
    return [path] if path else []


def forward_outputs():
    return expand([results("forward/{workflow}.nc"), results("forward/{workflow}.png")], workflow=WORKFLOWS)


def problem_inputs(wildcards):
    return results(f"inputs/{PROBLEMS[wildcards.problem]['workflow']}.nc")


def calibration_results():
    return [f"{CALIBRATION_DIR.format(**job)}/result.json" for job in JOBS]


# Figures and tables (workflow/rules/figures.smk)
FIGURES_DIR = results("figures/calibration/{problem}/{observations}")
TABLES_DIR = results("tables/calibration/{problem}")
DOCS_DIR = config["docs"]["folder"] if "docs" in config else None


def noise_free_set(problem):
    """The noise-free observation set of a problem's sensitivity stage (None if it has none)."""
    return sensitivity_set(problem_from_config(problem, PROBLEMS[problem]), PROBLEMS[problem])


def noise_free_observations(wildcards):
    return results(f"twin/{wildcards.problem}/observations/{noise_free_set(wildcards.problem)}.nc")


# not for per-pixel problems: their truth is a map, and each pixel's Laplace sd is in its maps
SENSITIVITY_PROBLEMS = [name for name in PROBLEMS if noise_free_set(name) and "per_pixel" not in PROBLEMS[name]]


def experiments():
    return list(dict.fromkeys((job["problem"], job["observations"]) for job in JOBS))


def experiment_traces(wildcards):
    return [
        f"{CALIBRATION_DIR.format(**job)}/trace.csv"
        for job in JOBS
        if (job["problem"], job["observations"]) == (wildcards.problem, wildcards.observations)
    ]


def figure_outputs():
    jobs = [f"{FIGURES_DIR}/{{optimizer}}/{{start}}".format(**job) for job in JOBS]
    per_job = [f"{job}/{kind}.{ext}" for job in jobs for kind in ("misfit", "parameters") for ext in ("png", "svg")]
    per_experiment = [
        path.format(problem=problem, observations=observations)
        for problem, observations in experiments()
        for path in (
            f"{FIGURES_DIR}/misfit_comparison.png",
            f"{FIGURES_DIR}/misfit_comparison.svg",
            f"{TABLES_DIR}/{{observations}}.csv",
            f"{TABLES_DIR}/{{observations}}.md",
        )
    ]
    sensitivity = expand(
        results("sensitivity/{problem}/sensitivity.{ext}"),
        problem=SENSITIVITY_PROBLEMS,
        ext=["csv", "md", "png", "svg"],
    )
    profiles = expand(results("figures/profiles.{ext}"), ext=["png", "svg"]) + [results("tables/profiles.csv")]
    profiles = profiles if JOBS else []  # a config that only samples posteriors calibrates nothing
    paper = [results(f"tables/paper_comparison.{ext}") for ext in ("csv", "md")] if "paper_comparison" in config else []
    docs = [f"{DOCS_DIR}/summary.json"] if "docs" in config else []
    return per_job + per_experiment + sensitivity + profiles + paper + docs


# Observation sets read from files (workflow/rules/observations.smk)
def is_file_set(problem, observations):
    """Whether an observation set of a problem is read from a file (else it is a twin set)."""
    return "file" in PROBLEMS[problem]["observations"].get(observations, {})


def observation_set_file(problem, observations):
    """An observation set: a twin set, or a file set once matched to the field and times."""
    if is_file_set(problem, observations):
        return results(f"observations/{problem}/{observations}.nc")
    return results(f"twin/{problem}/observations/{observations}.nc")


def set_inputs_file(problem, observations):
    """SCOPE inputs of an observation set: at the overpasses for twins, at the observation times for a file set."""
    if is_file_set(problem, observations):
        return results(f"observations/{problem}/{observations}_inputs.nc")
    return results(f"inputs/{PROBLEMS[problem]['workflow']}.nc")


def observation_set_path(wildcards):
    return observation_set_file(wildcards.problem, wildcards.observations)


def calibration_inputs(wildcards):
    return set_inputs_file(wildcards.problem, wildcards.observations)


def validation_outputs():
    """The validation report, fit table and figures of every calibration job on a file set."""
    outputs = []
    for job in JOBS:
        if is_file_set(job["problem"], job["observations"]):
            outputs.append(f"{CALIBRATION_DIR.format(**job)}/validation.json")
            outputs += [
                f"{FIGURES_DIR}/{{optimizer}}/{{start}}/{kind}.{ext}".format(**job)
                for kind in ("timeseries", "scatter", "residuals", "validation_period")
                for ext in ("png", "svg")
            ]
    return outputs


# Posteriors (workflow/rules/posterior.smk)
POSTERIOR_DIR = results("posterior/{problem}")
POSTERIOR_SET_DIR = results("posterior/{problem}/{observations}")
POSTERIOR_FIGURES_DIR = results("figures/posterior/{problem}/{observations}")
POSTERIOR = {name: posterior_settings(config, name) for name in config["posterior"]["problems"]}


def posterior_params(*keys):
    """What a posterior job reads of its problem's posterior settings, and nothing more."""
    return lambda wildcards: {key: POSTERIOR[wildcards.problem][key] for key in keys}


def design_set(wildcards):
    return POSTERIOR[wildcards.problem]["design"]


def design_observations(wildcards):
    return observation_set_file(wildcards.problem, design_set(wildcards))


def design_inputs(wildcards):
    return set_inputs_file(wildcards.problem, design_set(wildcards))


def simulation_chunks(wildcards):
    chunks = POSTERIOR[wildcards.problem]["chunks"]
    return [f"{POSTERIOR_DIR}/npe/simulations/chunk{chunk}.nc".format(**wildcards) for chunk in range(1, chunks + 1)]


def uses(problem, method):
    return method in POSTERIOR[problem]["methods"]


def posterior_report_inputs(wildcards):
    """Each method's results on every set of the problem; the Laplace posterior where the sensitivity stage runs."""
    problem, sets = wildcards.problem, POSTERIOR[wildcards.problem]["observations"]

    def per_set(path):
        return [path.format(problem=problem, observations=name) for name in sets]

    mcmc, npe = uses(problem, "mcmc"), uses(problem, "npe")
    return dict(
        mcmc=per_set(f"{POSTERIOR_SET_DIR}/mcmc/posterior.nc") if mcmc else [],
        diagnostics=per_set(f"{POSTERIOR_SET_DIR}/mcmc/diagnostics.csv") if mcmc else [],
        npe=per_set(f"{POSTERIOR_SET_DIR}/npe/posterior.nc") if npe else [],
        coverage=[f"{POSTERIOR_DIR}/npe/coverage.csv".format(problem=problem)] if npe else [],
        training=[f"{POSTERIOR_DIR}/npe/training.json".format(problem=problem)] if npe else [],
        sensitivity=[results(f"sensitivity/{problem}/sensitivity.csv")] if LAPLACE_SETS[problem] else [],
        predictive=per_set(f"{POSTERIOR_SET_DIR}/predictive.nc"),
    )


def laplace_sets(problem):
    """The sets the Laplace posterior at the truth applies to: those of the sensitivity stage's design."""
    if problem not in SENSITIVITY_PROBLEMS:
        return []
    sets = {s.name: s for s in problem_from_config(problem, PROBLEMS[problem]).observation_sets}
    design = sets[noise_free_set(problem)]
    return [name for name in POSTERIOR[problem]["observations"] if same_design(sets[name], design)]


# once per problem: the input functions below ask for each of its jobs
LAPLACE_SETS = {problem: laplace_sets(problem) for problem in POSTERIOR}


def posterior_methods(wildcards):
    return [method for method in ("mcmc", "npe") if uses(wildcards.problem, method)]


def posterior_samples(wildcards):
    """Each method's samples of the set, in the order of posterior_methods."""
    return [f"{POSTERIOR_SET_DIR}/{method}/posterior.nc".format(**wildcards) for method in posterior_methods(wildcards)]


def posterior_figure_inputs(wildcards):
    """Each method's samples of the set, and the Laplace posterior where it applies."""
    inputs = dict(zip(posterior_methods(wildcards), posterior_samples(wildcards)))
    if wildcards.observations in LAPLACE_SETS[wildcards.problem]:
        inputs["laplace"] = results(f"sensitivity/{wildcards.problem}/sensitivity.csv")
    return inputs


def posterior_outputs():
    """Every problem's table, and a corner and a posterior predictive figure per observation set."""
    outputs = []
    for problem, settings in POSTERIOR.items():
        outputs += [results(f"tables/posterior/{problem}.{ext}") for ext in ("csv", "md")]
        outputs += [
            f"{POSTERIOR_FIGURES_DIR}/{figure}.{ext}".format(problem=problem, observations=name)
            for name in settings["observations"]
            for figure in ("corner", "predictive")
            for ext in ("png", "svg")
        ]
    return outputs


# Per-pixel calibration (workflow/rules/pixels.smk)
PIXELS_DIR = results("maps/{problem}/{observations}")
PIXELS_FIGURES_DIR = results("figures/maps/{problem}/{observations}")


def pixel_outputs():
    """The parameter maps, trace and map figure of every per-pixel problem's observation sets."""
    return [
        path.format(**job)
        for job in PIXEL_JOBS
        for path in (
            f"{PIXELS_DIR}/parameters.nc",
            f"{PIXELS_DIR}/trace.csv",
            f"{PIXELS_FIGURES_DIR}/maps.png",
            f"{PIXELS_FIGURES_DIR}/maps.svg",
        )
    ]
