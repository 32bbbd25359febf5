import arviz as az
import pandas as pd

from scopecal.figures import save_figure
from scopecal.inference.report import corner_figure, laplace_rows, physical_samples
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
wildcards, files, output = snakemake.wildcards, dict(snakemake.input.items()), snakemake.output
problem = problem_from_config(wildcards.problem, snakemake.params.problem)
laplace = laplace_rows(pd.read_csv(files.pop("laplace"))) if "laplace" in files else None
samples = {method: physical_samples(az.from_netcdf(path), problem) for method, path in files.items()}
title = f"{problem.name} / {wildcards.observations}: " + ", ".join(
    f"{m} ({len(s)} samples)" for m, s in samples.items()
)
save_figure(corner_figure(problem, samples, laplace=laplace, title=title), [output.figure, output.figure_svg])
