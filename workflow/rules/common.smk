from scopecal.assets import check_scope_assets
from scopecal.config import calibration_jobs, check_config, job_budget, optimizer_setup, sensitivity_set
from scopecal.problems import problem_from_config

check_config(config)

WORKFLOWS = config["scope"]["workflows"]
PROBLEMS = {name: config["problems"][name] for name in config["calibration"]["problems"]}
JOBS = calibration_jobs(config)


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

if config["scope_assets"]:
    SCOPE_ASSETS = str(check_scope_assets(config["scope_assets"]))
else:
    SCOPE_ASSETS = "resources/scope-upstream"

# The SCOPE-heavy rules (forward, truth, calibrate) go to the GPU partition with one GPU, from config `cluster`
# (gpu: false on CPU-only clusters). Slurm: -p <partition> --gpus=1.
SCOPE_HEAVY_RESOURCES = dict(
    slurm_partition=config["cluster"]["gpu_partition"],
    gpu=1 if config["cluster"]["gpu"] else 0,
    gpu_model=config["cluster"]["gpu_model"] if config["cluster"]["gpu"] else None,
)


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


SENSITIVITY_PROBLEMS = [name for name in PROBLEMS if noise_free_set(name)]


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
    paper = [results(f"tables/paper_comparison.{ext}") for ext in ("csv", "md")] if "paper_comparison" in config else []
    docs = [f"{DOCS_DIR}/summary.json"] if "docs" in config else []
    return per_job + per_experiment + sensitivity + profiles + paper + docs
