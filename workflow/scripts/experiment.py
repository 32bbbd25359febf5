from pathlib import Path

import pandas as pd

from scopecal.figures import misfit_comparison_figure, save_figure
from scopecal.logs import log_to
from scopecal.tables import experiment_csv, experiment_markdown, experiment_tables, trace_job

log = log_to(snakemake.log[0])
wildcards, output = snakemake.wildcards, snakemake.output
summary = pd.read_csv(snakemake.input.summary)
tables = experiment_tables(summary, wildcards.problem, wildcards.observations)
experiment_csv(tables).to_csv(output.table, index=False)
Path(output.markdown).write_text(experiment_markdown(tables, wildcards.problem, wildcards.observations))
paths = {trace_job(path)[2:]: path for path in snakemake.input.traces}  # (optimizer, start), in job order
traces = {run: pd.read_csv(paths[run]) for run in sorted(paths, key=lambda run: run[1])}  # the tables' row order
baseline = float(tables["performance"]["baseline_misfit"].iloc[0])
title = f"{wildcards.problem} / {wildcards.observations}: best misfit so far, every optimiser"
save_figure(
    misfit_comparison_figure(traces, title=title, baseline_misfit=baseline), [output.comparison, output.comparison_svg]
)
log.info("%s / %s: %d optimisers", wildcards.problem, wildcards.observations, len(traces))
