from pathlib import Path

import torch

from scopecal.calibrate import job_fingerprint, objective_from_files
from scopecal.inference.mcmc import sample_chain, save_chain
from scopecal.inference.stages import discard_stale_chain
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, scope, files = snakemake.wildcards, snakemake.params, snakemake.params.scope, snakemake.input
problem = problem_from_config(wildcards.problem, params.problem)
objective, _, observations = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=scope
)
settings, chain = params.mcmc, int(wildcards.chain)
log.info(
    "%s / %s: NUTS chain %d, %d warmup + %d draws, %d observed cells on %s",
    problem.name,
    wildcards.observations,
    chain,
    settings["warmup"],
    settings["draws"],
    objective.n_cells,
    objective.device,
)
directory = Path(snakemake.output[0]).parent
# the saved stages of an earlier job are resumed only if they were drawn for the same problem, observations, SCOPE
# run and sampler; more draws extend them
fixed = dict(problem=params.problem, scope=scope, **{key: settings[key] for key in ("seed", "warmup", "block")})
if discard_stale_chain(directory / f"chain{chain}", job_fingerprint(fixed, observations, problem.workflow)):
    log.info("discarded the stages of an earlier job with other settings")
record = sample_chain(objective, problem, directory, chain, **settings)
save_chain(record, snakemake.output[0])
log.info(
    "%d model evaluations (%d with gradient, %d after warm-up) in %.1f s; %d divergent draws",
    record["evaluations"],
    record["gradient_evaluations"],
    record["draw_gradient_evaluations"],
    record["seconds"],
    record["diverging"].sum(),
)
