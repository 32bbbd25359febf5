from pathlib import Path

import torch

from scopecal.calibrate import job_fingerprint, objective_from_files
from scopecal.inference.mcmc import diagnostics, sample_posterior
from scopecal.inference.stages import discard_stale_chains
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, scope, files = snakemake.wildcards, snakemake.params, snakemake.params.scope, snakemake.input
problem = problem_from_config(wildcards.problem, params.problem)
objective, _, observations = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=scope
)
settings = params.mcmc
log.info(
    "%s / %s: NUTS, %d chains x (%d warmup + %d draws), %d observed cells on %s",
    problem.name,
    wildcards.observations,
    settings["chains"],
    settings["warmup"],
    settings["draws"],
    objective.n_cells,
    objective.device,
)
directory = Path(snakemake.output.posterior).parent
# the saved blocks of an earlier job are resumed only if they were drawn for the same problem, observations, SCOPE
# run and sampler; more chains or draws extend them
fixed = dict(problem=params.problem, scope=scope, **{key: settings[key] for key in ("seed", "warmup", "block")})
if discard_stale_chains(directory, job_fingerprint(fixed, observations, problem.workflow)):
    log.info("discarded the chains of an earlier job with other settings")
idata = sample_posterior(objective, problem, directory, **settings)
table = diagnostics(idata)
table.to_csv(snakemake.output.diagnostics, index_label="parameter")
attrs = idata.posterior.attrs
log.info(
    "%d model evaluations (%d with gradient) in %.1f s; worst r_hat %.3f, lowest bulk ESS %.0f",
    sum(attrs["evaluations"]),
    sum(attrs["gradient_evaluations"]),
    sum(attrs["seconds"]),
    table["r_hat"].max(),
    table["ess_bulk"].min(),
)
