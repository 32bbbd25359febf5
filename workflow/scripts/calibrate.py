from pathlib import Path

import torch

from scopecal.calibrate import calibrate, calibrated_output, job_fingerprint, objective_from_files, write_json
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, scope = snakemake.wildcards, snakemake.params, snakemake.params.scope
problem = problem_from_config(wildcards.problem, params.problem)
method, options = params.optimizer
start = int(wildcards.start.removeprefix("start")) - 1
files = snakemake.input
objective, inputs, observations = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=scope
)
log.info(
    "%s / %s / %s (%s) / %s: %d observed cells on %s, budget %d",
    problem.name,
    wildcards.observations,
    wildcards.optimizer,
    method,
    wildcards.start,
    objective.n_cells,
    objective.device,
    params.budget,
)
# how SCOPE runs is part of it: under scope-rtm's default stopping rule an energy-balance cell's result depends on
# the cells of its chunk, so a record made with another chunk size (or device, dtype) is not replayed
settings = dict(problem=params.problem, method=method, options=options, seed=params.seed, start=start, scope=scope)
result = calibrate(
    objective,
    optimizer=method,
    options=options,
    start=start,
    budget=params.budget,
    seed=params.seed,
    baseline_misfit=float(observations.attrs["baseline_misfit"]),
    directory=Path(snakemake.output.result).parent,
    fingerprint=job_fingerprint(settings, observations, problem.workflow),
)
result.update(
    observations=wildcards.observations,
    optimizer=wildcards.optimizer,
    method=method,
    device=str(objective.device),
    # observations left out before the fit: SCOPE gave no usable value there (at the truth, or at the first start)
    unsolved_observations_excluded=int(observations.attrs.get("unsolved_cells", 0)),
    # a tower's latent and sensible heat: which closure was fitted, and the measured fluxes' closure fraction
    **{
        key: value.item() if hasattr(value, "item") else value  # NetCDF attributes come back as numpy scalars
        for key, value in observations.attrs.items()
        if key.startswith(("closure_", "dropped_"))
    },
)
log.info(
    "stopped: %s; final misfit %.6g after %d evaluations (%d with gradient)",
    result["stop_reason"],
    result["final_misfit"],
    result["evaluations"],
    result["gradient_evaluations"],
)
write_netcdf(
    calibrated_output(
        inputs,
        result,
        scope_root=files.assets,
        device=scope["device"],
        dtype=scope["dtype"],
        chunk_size=scope.get("chunk_size"),
    ),
    snakemake.output.calibrated,
    dict(snakemake.params.items()),
)
write_json(result, snakemake.output.result)
