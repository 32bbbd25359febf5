import json
from pathlib import Path

import arviz as az
import pandas as pd
import xarray as xr

from scopecal.inference.report import markdown, posterior_table
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
params, files, output = snakemake.params, snakemake.input, snakemake.output
problem = problem_from_config(snakemake.wildcards.problem, params.problem)
sets = params.observations


def per_set(paths):
    """The files of each observation set: one per set, in the order of the sets."""
    return dict(zip(sets, paths, strict=True)) if paths else {}


mcmc = {
    name: (az.from_netcdf(path), pd.read_csv(diagnostics, index_col="parameter"))
    for (name, path), diagnostics in zip(per_set(files.mcmc).items(), files.diagnostics, strict=True)
}
npe = {name: az.from_netcdf(path) for name, path in per_set(files.npe).items()}
coverage = pd.read_csv(files.coverage[0]) if files.coverage else None
training = json.loads(Path(files.training[0]).read_text()) if files.training else None
laplace = (params.laplace_sets, pd.read_csv(files.sensitivity[0])) if files.sensitivity else None
predictive = {name: xr.load_dataset(path) for name, path in per_set(files.predictive).items()}
table = posterior_table(
    problem,
    sets,
    mcmc=mcmc,
    npe=npe,
    coverage=coverage,
    training=training,
    laplace=laplace,
    predictive=predictive,
)
table.to_csv(output.table, index=False)
Path(output.markdown).write_text(markdown(table, problem))
verdicts = table["agrees_with_mcmc"].dropna()
log.info(
    "%s: %d rows; NPE agrees with MCMC on %d of %d", problem.name, len(table), (verdicts == "pass").sum(), len(verdicts)
)
