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
    problem_sites,
    same_design,
    sensitivity_set,
    site_config,
    site_names,
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
# Sites (config `sites`): every path under results_dir/<site> and every job keyed by the {site} wildcard. A config
# without sites is one site, None, with paths as they always were.
SITES = site_names(config)
SITE_CONFIGS = {site: site_config(config, site) for site in SITES}
JOBS = [dict(job, site=site) for site in SITES for job in calibration_jobs(SITE_CONFIGS[site])]
PIXEL_JOBS = [dict(job, site=site) for site in SITES for job in pixel_jobs(SITE_CONFIGS[site])]
CALIBRATED_SITES = list(dict.fromkeys(job["site"] for job in JOBS))  # the sites with a calibration summary


def results(path, site=None):
    """A path under the config's results folder (results/ by default; config/paper.yaml: results/paper); with
    sites, under the folder of ``site``, or of the {site} wildcard when none is given."""
    if not config.get("sites"):
        return f"{config['results_dir']}/{path}"
    return f"{config['results_dir']}/{site or '{site}'}/{path}"


def site_of(wildcards):
    """The job's site (None without sites)."""
    return wildcards.get("site")


def settings(wildcards):
    """The config of the job's site: its field, season, retrieval, weather and geometry over the shared ones."""
    return SITE_CONFIGS[site_of(wildcards)]


CALIBRATION_DIR = results("calibration/{problem}/{observations}/{optimizer}/{start}")


wildcard_constraints:
    site="[^/]+",
    workflow="reflectance|fluorescence|thermal|energy-balance",
    problem="[^/]+",
    observations="[^/]+",
    optimizer="[^/]+",
    start=r"start\d+",
    chunk=r"\d+",
    chain=r"\d+",


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
PROBLEM_RUN_KEYS = ("optimizers", "runs", "budget", "sensitivity_set", "posterior", "sites")


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


def retrieval_params(wildcards):
    """The retrieval source and its own section only; the field's pixel grid for synthetic output and a crop table,
    its crop for ARC."""
    site = settings(wildcards)
    source = site["retrieval"]["source"]
    field_keys = {
        "synthetic": ("geojson", "pixel_size_m", "shape"),
        "table": ("geojson", "pixel_size_m", "shape"),
        "npz": ("geojson",),
        "arc": ("geojson", "crop"),
    }
    return dict(
        field={key: site["field"][key] for key in field_keys[source]},
        season=site["season"],
        retrieval={"source": source, source: site["retrieval"].get(source) or {}},
    )


def retrieval_file(source):
    """The input file of retrieval source ``source`` (npz, table) where the site's retrieval reads one."""

    def path(wildcards):
        retrieval = settings(wildcards)["retrieval"]
        return optional_path((retrieval.get(source) or {}).get("path")) if retrieval["source"] == source else []

    return path


def weather_settings(wildcards):
    """The weather source and its own section only (weather.local or weather.era5)."""
    weather = settings(wildcards)["weather"]
    return {"source": weather["source"], weather["source"]: weather.get(weather["source"]) or {}}


def weather_file(wildcards):
    weather = settings(wildcards)["weather"]
    return optional_path((weather.get("local") or {}).get("path")) if weather["source"] == "local" else []


def field_geojson(wildcards):
    """The site's field polygon (None: arcope's bundled test field)."""
    return settings(wildcards)["field"]["geojson"]


def field_file(wildcards):
    return optional_path(field_geojson(wildcards))


def season(wildcards):
    return settings(wildcards)["season"]


def season_year(wildcards):
    return int(season(wildcards)["start"][:4])


def problem_spec(wildcards, observations=None, per_pixel_solver=False):
    """The job's problem as the job reads it (site_problem_spec)."""
    return site_problem_spec(wildcards.problem, site_of(wildcards), observations, per_pixel_solver)


def site_problem_spec(name, site, observations=None, per_pixel_solver=False):
    """problems.<name> at a site as one job of it reads it: without the keys that choose which jobs run, with only
    the entry of its observation set (noisy1 comes from the entry `noisy`; None: no observation set), and of a
    per_pixel section only its truth_seed unless the job solves the pixels (``per_pixel_solver``)."""
    problem = SITE_CONFIGS[site]["problems"][name]
    spec = {key: value for key, value in problem.items() if key not in PROBLEM_RUN_KEYS}
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
    return [
        results(f"forward/{workflow}.{ext}", site) for site in SITES for workflow in WORKFLOWS for ext in ("nc", "png")
    ]


def problem_inputs(wildcards):
    return results(f"inputs/{PROBLEMS[wildcards.problem]['workflow']}.nc", site_of(wildcards))


def site_jobs(wildcards):
    """The calibration jobs of the job's site."""
    return [job for job in JOBS if job["site"] == site_of(wildcards)]


def calibration_results(wildcards):
    return [f"{CALIBRATION_DIR.format(**job)}/result.json" for job in site_jobs(wildcards)]


def calibration_traces(wildcards):
    return [f"{CALIBRATION_DIR.format(**job)}/trace.csv" for job in site_jobs(wildcards)]


def summary_outputs():
    """Each site's summary of its calibration jobs."""
    return [results("calibration/summary.csv", site) for site in CALIBRATED_SITES]


# Figures and tables (workflow/rules/figures.smk)
FIGURES_DIR = results("figures/calibration/{problem}/{observations}")
TABLES_DIR = results("tables/calibration/{problem}")
DOCS_DIR = config["docs"]["folder"] if "docs" in config else None


def noise_free_set(problem):
    """The noise-free observation set of a problem's sensitivity stage (None if it has none)."""
    return sensitivity_set(problem_from_config(problem, PROBLEMS[problem]), PROBLEMS[problem])


def noise_free_observations(wildcards):
    return results(f"twin/{wildcards.problem}/observations/{noise_free_set(wildcards.problem)}.nc", site_of(wildcards))


# not for per-pixel problems: their truth is a map, and each pixel's Laplace sd is in its maps
SENSITIVITY_PROBLEMS = [name for name in PROBLEMS if noise_free_set(name) and "per_pixel" not in PROBLEMS[name]]


def experiments():
    return list(dict.fromkeys((job["site"], job["problem"], job["observations"]) for job in JOBS))


def experiment_traces(wildcards):
    return [
        f"{CALIBRATION_DIR.format(**job)}/trace.csv"
        for job in site_jobs(wildcards)
        if (job["problem"], job["observations"]) == (wildcards.problem, wildcards.observations)
    ]


def figure_outputs():
    jobs = [f"{FIGURES_DIR}/{{optimizer}}/{{start}}".format(**job) for job in JOBS]
    per_job = [f"{job}/{kind}.{ext}" for job in jobs for kind in ("misfit", "parameters") for ext in ("png", "svg")]
    per_experiment = [
        path.format(site=site, problem=problem, observations=observations)
        for site, problem, observations in experiments()
        for path in (
            f"{FIGURES_DIR}/misfit_comparison.png",
            f"{FIGURES_DIR}/misfit_comparison.svg",
            f"{TABLES_DIR}/{{observations}}.csv",
            f"{TABLES_DIR}/{{observations}}.md",
        )
    ]
    sensitivity = [
        results(f"sensitivity/{problem}/sensitivity.{ext}", site)
        for problem in SENSITIVITY_PROBLEMS
        for site in problem_sites(config, problem)
        for ext in ("csv", "md", "png", "svg")
    ]
    # a site that only samples posteriors calibrates nothing
    profiles = [
        results(path, site)
        for site in CALIBRATED_SITES
        for path in ("figures/profiles.png", "figures/profiles.svg", "tables/profiles.csv")
    ]
    paper = [results(f"tables/paper_comparison.{ext}") for ext in ("csv", "md")] if "paper_comparison" in config else []
    docs = [f"{DOCS_DIR}/summary.json"] if "docs" in config else []
    return per_job + per_experiment + sensitivity + profiles + paper + docs


# Observation sets read from files (workflow/rules/observations.smk)
def is_file_set(problem, observations):
    """Whether an observation set of a problem is read from a file (else it is a twin set)."""
    return "file" in PROBLEMS[problem]["observations"].get(observations, {})


def observation_set_file(problem, observations, site):
    """An observation set: a twin set, or a file set once matched to the field and times."""
    if is_file_set(problem, observations):
        return results(f"observations/{problem}/{observations}.nc", site)
    return results(f"twin/{problem}/observations/{observations}.nc", site)


def set_inputs_file(problem, observations, site):
    """SCOPE inputs of an observation set: at the overpasses for twins, at the observation times for a file set."""
    if is_file_set(problem, observations):
        return results(f"observations/{problem}/{observations}_inputs.nc", site)
    return results(f"inputs/{PROBLEMS[problem]['workflow']}.nc", site)


def observation_set_path(wildcards):
    return observation_set_file(wildcards.problem, wildcards.observations, site_of(wildcards))


def calibration_inputs(wildcards):
    return set_inputs_file(wildcards.problem, wildcards.observations, site_of(wildcards))


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
    return observation_set_file(wildcards.problem, design_set(wildcards), site_of(wildcards))


def design_inputs(wildcards):
    return set_inputs_file(wildcards.problem, design_set(wildcards), site_of(wildcards))


def mcmc_chains(wildcards):
    chains = POSTERIOR[wildcards.problem]["chains"]
    return [f"{POSTERIOR_SET_DIR}/mcmc/chain{chain}.npz".format(**wildcards) for chain in range(chains)]


def simulation_chunks(wildcards):
    chunks = POSTERIOR[wildcards.problem]["chunks"]
    return [f"{POSTERIOR_DIR}/npe/simulations/chunk{chunk}.nc".format(**wildcards) for chunk in range(1, chunks + 1)]


def uses(problem, method):
    return method in POSTERIOR[problem]["methods"]


def posterior_report_inputs(wildcards):
    """Each method's results on every set of the problem; the Laplace posterior where the sensitivity stage runs."""
    problem, sets, site = wildcards.problem, POSTERIOR[wildcards.problem]["observations"], site_of(wildcards)

    def per_set(path):
        return [path.format(site=site, problem=problem, observations=name) for name in sets]

    mcmc, npe = uses(problem, "mcmc"), uses(problem, "npe")
    return dict(
        mcmc=per_set(f"{POSTERIOR_SET_DIR}/mcmc/posterior.nc") if mcmc else [],
        diagnostics=per_set(f"{POSTERIOR_SET_DIR}/mcmc/diagnostics.csv") if mcmc else [],
        npe=per_set(f"{POSTERIOR_SET_DIR}/npe/posterior.nc") if npe else [],
        coverage=[f"{POSTERIOR_DIR}/npe/coverage.csv".format(site=site, problem=problem)] if npe else [],
        training=[f"{POSTERIOR_DIR}/npe/training.json".format(site=site, problem=problem)] if npe else [],
        sensitivity=[results(f"sensitivity/{problem}/sensitivity.csv", site)] if LAPLACE_SETS[problem] else [],
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
        inputs["laplace"] = results(f"sensitivity/{wildcards.problem}/sensitivity.csv", site_of(wildcards))
    return inputs


def posterior_outputs():
    """Every problem's table, and a corner and a posterior predictive figure per observation set."""
    outputs = []
    for problem, posterior in POSTERIOR.items():
        for site in problem_sites(config, problem):
            outputs += [results(f"tables/posterior/{problem}.{ext}", site) for ext in ("csv", "md")]
            outputs += [
                f"{POSTERIOR_FIGURES_DIR}/{figure}.{ext}".format(site=site, problem=problem, observations=name)
                for name in posterior["observations"]
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


# The cross-site summary (workflow/rules/sites.smk)
SITES_SUMMARY_DIR = f"{config['results_dir']}/summary"
SITE_SENSITIVITY = [
    (site, problem)
    for site in SITES
    for problem in dict.fromkeys(job["problem"] for job in JOBS if job["site"] == site)
    if problem in SENSITIVITY_PROBLEMS
]


def sites_outputs():
    if not config.get("sites"):
        return []
    return [f"{SITES_SUMMARY_DIR}/sites.{ext}" for ext in ("csv", "md", "png", "svg")]
