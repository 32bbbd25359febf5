import arviz as az
import torch

from scopecal.calibrate import objective_from_files
from scopecal.figures import save_figure
from scopecal.inference.report import predictive_figure
from scopecal.inference.stages import predictive
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, files, output = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
problem = problem_from_config(wildcards.problem, params.problem)
objective, _, _ = objective_from_files(
    files.inputs, files.observations, problem, scope_root=files.assets, scope=params.scope
)
posteriors = {method: az.from_netcdf(path) for method, path in zip(params.methods, files.samples, strict=True)}
settings = params.predictive
bands = predictive(objective, posteriors, draws=settings["predictive"], seed=settings["seed"])
write_netcdf(bands, output.predictive, dict(snakemake.params.items()))
title = f"{problem.name} / {wildcards.observations}: posterior predictive"
save_figure(predictive_figure(bands, title=title), [output.figure, output.figure_svg])
log.info(
    "%s / %s: posterior predictive of %s; share of observations inside their 90%% band: %s",
    problem.name,
    wildcards.observations,
    ", ".join(f"{m} ({d} draws)" for m, d in zip(params.methods, bands["draws"].values, strict=True)),
    dict(zip(params.methods, bands["inside_90"].values.round(3).tolist(), strict=True)),
)
