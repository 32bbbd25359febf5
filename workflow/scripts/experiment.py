from pathlib import Path

import pandas as pd

from scopecal.figures import misfit_comparison_figure, save_figure
from scopecal.logs import log_to
from scopecal.tables import experiment_csv, experiment_markdown, experiment_tables, run_label

log = log_to(snakemake.log[0])
wildcards, output = snakemake.wildcards, snakemake.output
summary = pd.read_csv(snakemake.input.summary)
tables = experiment_tables(summary, wildcards.problem, wildcards.observations)
experiment_csv(tables).to_csv(output.table, index=False)
Path(output.markdown).write_text(experiment_markdown(tables, wildcards.problem, wildcards.observations))
runs = [Path(path).parts[-3:-1] for path in snakemake.input.traces]  # .../<optimizer>/start<k>/trace.csv
several = len({start for _, start in runs}) > 1
traces = {
    run_label(optimizer, int(start.removeprefix("start")), several): pd.read_csv(path)
    for (optimizer, start), path in zip(runs, snakemake.input.traces, strict=True)
}
traces = {label: traces[label] for label in tables["performance"].index}
baseline = float(tables["performance"]["baseline_misfit"].iloc[0])
title = f"{wildcards.problem} / {wildcards.observations}: best misfit so far, every optimiser"
save_figure(
    misfit_comparison_figure(traces, title=title, baseline_misfit=baseline), [output.comparison, output.comparison_svg]
)
log.info("%s / %s: %d optimisers", wildcards.problem, wildcards.observations, len(traces))
