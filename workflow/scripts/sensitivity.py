from pathlib import Path

import torch
import xarray as xr

from scopecal.calibrate import build_objective
from scopecal.figures import save_figure, sensitivity_figure
from scopecal.logs import log_to
from scopecal.problems import problem_from_config
from scopecal.sensitivity import analyse, markdown

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params, scope, output = snakemake.params, snakemake.params.scope, snakemake.output
problem = problem_from_config(snakemake.wildcards.problem, params.problem)
device = dict(device=scope["device"], dtype=scope["dtype"], chunk_size=scope.get("chunk_size"))
with xr.open_dataset(snakemake.input.inputs) as inputs, xr.open_dataset(snakemake.input.observations) as observations:
    inputs, observations = inputs.load(), observations.load()
objective = build_objective(inputs, observations, problem, scope_root=snakemake.input.assets, **device)
table, result = analyse(objective, problem)
table.to_csv(output.table, index=False)
Path(output.markdown).write_text(markdown(table, result, problem, params.observations))
title = f"{problem.name} at the truth, {params.observations} observations ({objective.n_cells} cells)"
save_figure(sensitivity_figure(table, result, problem.names, title=title), [output.figure, output.figure_svg])
log.info(
    "%s: condition number %.4g, singular values %s", problem.name, result["condition_number"], result["singular_values"]
)
