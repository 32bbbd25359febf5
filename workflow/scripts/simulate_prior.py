import torch

from scopecal.calibrate import objective_from_files
from scopecal.inference.stages import simulate_chunk
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, files = snakemake.wildcards, snakemake.params, snakemake.input
problem = problem_from_config(wildcards.problem, params.problem)
objective, _, _ = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=params.scope
)
npe = params.npe
chunk = int(wildcards.chunk) - 1
simulations = simulate_chunk(
    objective, problem, simulations=npe["simulations"], chunks=npe["chunks"], chunk=chunk, seed=npe["seed"]
)
simulations.attrs["design"] = params.design
write_netcdf(simulations, snakemake.output[0], dict(snakemake.params.items()))
log.info(
    "%s: chunk %d of %d, %d prior draws on the %d observations of %s in %.1f s, %d without a usable value",
    problem.name,
    chunk + 1,
    npe["chunks"],
    simulations.sizes["draw"],
    objective.n_observations,
    params.design,
    simulations.attrs["seconds"],
    simulations.attrs["failed"],
)
