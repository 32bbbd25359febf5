import torch
import xarray as xr

from scopecal.calibrate import observed_cells
from scopecal.inference import amortised
from scopecal.inference.mcmc import write_idata
from scopecal.inference.stages import check_design, check_sigma, npe_samples
from scopecal.logs import log_to
from scopecal.netcdf import provenance
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, files = snakemake.wildcards, snakemake.params, snakemake.input
problem = problem_from_config(wildcards.problem, params.problem)
with (
    xr.open_dataset(files.inputs) as inputs,
    xr.open_dataset(files.observations) as observations,
    xr.open_dataset(files.design) as design,
    xr.open_dataset(files.simulations) as simulations,
):
    check_design(observations, design, wildcards.observations, params.design)
    cells = observed_cells(inputs.load(), observations.load(), problem)
    check_sigma(cells.sigma, simulations["sigma"].values, wildcards.observations)
posterior = amortised.load(files.network)
npe = params.npe
idata = npe_samples(posterior, cells.values, problem, samples=npe["samples"], seed=npe["seed"])
idata.posterior.attrs.update(observations=wildcards.observations, design=params.design)
idata.posterior.attrs.update(provenance(dict(snakemake.params.items())))
write_idata(idata, snakemake.output[0])
log.info(
    "%s / %s: %d of %d NPE samples in %.2f s",
    problem.name,
    wildcards.observations,
    idata.posterior.sizes["draw"],
    npe["samples"],
    idata.posterior.attrs["seconds"],
)
