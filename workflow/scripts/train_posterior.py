import torch

from scopecal.calibrate import write_json
from scopecal.inference import amortised
from scopecal.inference.stages import read_simulations, train_on_simulations
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params, output = snakemake.params, snakemake.output
problem = problem_from_config(snakemake.wildcards.problem, params.problem)
npe = params.npe
simulations = read_simulations(snakemake.input.chunks)
posterior, coverage, record = train_on_simulations(
    simulations, problem, holdout=npe["holdout"], seed=npe["seed"], network=npe["network"]
)
amortised.save(posterior, output.network)
coverage.to_csv(output.coverage, index=False)
write_json(record | dict(design=simulations.attrs["design"], coverage=coverage.to_dict("records")), output.training)
log.info(
    "%s: trained on %d simulations (%d failed, %d held out) in %.1f s; coverage at 50%%/90%%: %s",
    problem.name,
    record["trained_on"],
    record["failed_simulations"],
    record["held_out"],
    record["training_seconds"],
    coverage.groupby("level")["coverage"].mean().round(3).to_dict(),
)
