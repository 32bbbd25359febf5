from scopecal.inference.mcmc import diagnostics, load_chain, posterior_from_chains, write_idata
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
problem = problem_from_config(snakemake.wildcards.problem, snakemake.params.problem)
idata = posterior_from_chains(problem, [load_chain(path) for path in snakemake.input])
write_idata(idata, snakemake.output.posterior)
table = diagnostics(idata)
table.to_csv(snakemake.output.diagnostics, index_label="parameter")
attrs = idata.posterior.attrs
log.info(
    "%s / %s: %d chains, %d model evaluations (%d with gradient) in %.1f s; worst r_hat %.3f, lowest bulk ESS %.0f",
    problem.name,
    snakemake.wildcards.observations,
    len(snakemake.input),
    sum(attrs["evaluations"]),
    sum(attrs["gradient_evaluations"]),
    sum(attrs["seconds"]),
    table["r_hat"].max(),
    table["ess_bulk"].min(),
)
