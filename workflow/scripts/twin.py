import xarray as xr

from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config
from scopecal.twin import observe

log = log_to(snakemake.log[0])
problem = problem_from_config(snakemake.wildcards.problem, snakemake.params.problem)
observation_set = problem.observation_set(snakemake.wildcards.observations)
with xr.open_dataset(snakemake.input.truth) as truth, xr.open_dataset(snakemake.input.inputs) as inputs:
    observations = observe(truth.load(), problem, observation_set, inputs["field_mask"].load(), snakemake.params.seed)
write_netcdf(observations, snakemake.output[0], dict(snakemake.params.items()))
log.info(
    "%s/%s: %d observed cells, noise realisation %d, baseline misfit %.6g",
    problem.name,
    observation_set.name,
    observations.attrs["observed_cells"],
    observation_set.realisation,
    observations.attrs["baseline_misfit"],
)
