import json

import pandas as pd

from scopecal.figures import misfit_history_figure, parameter_history_figure, save_figure
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
wildcards, output = snakemake.wildcards, snakemake.output
parameters = problem_from_config(wildcards.problem, snakemake.params.problem).parameters
trace = pd.read_csv(snakemake.input.trace)
result = json.loads(open(snakemake.input.result).read())
title = f"{wildcards.problem} / {wildcards.observations} / {wildcards.optimizer} / {wildcards.start}"
figure = misfit_history_figure(trace, title=title, baseline_misfit=float(result["baseline_misfit"] or 0.0))
save_figure(figure, [output.misfit, output.misfit_svg])
save_figure(parameter_history_figure(trace, parameters, title=title), [output.parameters, output.parameters_svg])
log.info("%s: %d evaluations drawn", title, len(trace))
