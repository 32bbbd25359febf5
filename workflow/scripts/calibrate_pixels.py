from pathlib import Path

import numpy as np
import torch

from scopecal.calibrate import job_fingerprint, objective_from_files
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.pixels import STOP_REASONS, Settings, calibrate_pixels, recovery
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, files = snakemake.wildcards, snakemake.params, snakemake.input
problem = problem_from_config(wildcards.problem, params.problem)
objective, inputs, observations = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=params.scope
)
settings = Settings.from_config(problem.per_pixel)
maps, trace = calibrate_pixels(
    objective,
    problem,
    inputs,
    observations,
    settings,
    checkpoint=Path(snakemake.output.maps).with_name("checkpoint.json"),
    fingerprint=job_fingerprint(dict(problem=params.problem, scope=params.scope), observations, problem.workflow),
)
trace.to_csv(snakemake.output.trace, index=False)
write_netcdf(maps, snakemake.output.maps, dict(params.items()))
codes = maps["stop_code"].values[maps["stop_code"].values >= 0]
log.info(
    "%s / %s: %d pixels, %d batched SCOPE runs on %s, %.1f s; stops: %s",
    problem.name,
    wildcards.observations,
    maps.attrs["pixels"],
    maps.attrs["model_runs"],
    objective.device,
    maps.attrs["seconds"],
    ", ".join(f"{np.sum(codes == code)} {reason}" for code, reason in enumerate(STOP_REASONS) if np.any(codes == code)),
)
for name, figures in (recovery(maps, problem) or {}).items():
    log.info(
        "%s: %.0f%% of pixels within the recovery zone, worst error %.2g of it; truth within 2 Laplace sd: %.0f%%",
        name,
        100 * figures["within_zone"],
        figures["worst_error_of_zone"],
        100 * figures["within_2_sd"],
    )
