import xarray as xr

from scopecal.figures import pixel_maps_figure, save_figure
from scopecal.logs import log_to
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
wildcards = snakemake.wildcards
problem = problem_from_config(wildcards.problem, snakemake.params.problem)
with xr.open_dataset(snakemake.input[0]) as maps:
    title = f"{problem.name} / {wildcards.observations}: {maps.attrs['pixels']} pixels calibrated each on its own"
    save_figure(pixel_maps_figure(maps.load(), problem.parameters, title=title), snakemake.output)
log.info("%s / %s: parameter maps drawn", problem.name, wildcards.observations)
