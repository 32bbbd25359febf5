from scopecal.assets import check_scope_assets
from scopecal.config import calibration_jobs, check_config, optimizer_setup

check_config(config)

WORKFLOWS = config["scope"]["workflows"]
PROBLEMS = {name: config["problems"][name] for name in config["calibration"]["problems"]}
JOBS = calibration_jobs(config)
CALIBRATION_DIR = "results/calibration/{problem}/{observations}/{optimizer}/{start}"

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
    return expand(["results/forward/{workflow}.nc", "results/forward/{workflow}.png"], workflow=WORKFLOWS)


def problem_inputs(wildcards):
    return f"results/inputs/{PROBLEMS[wildcards.problem]['workflow']}.nc"


def calibration_results():
    return [f"{CALIBRATION_DIR.format(**job)}/result.json" for job in JOBS]
