import pandas as pd
import xarray as xr

from scopecal.figures import save_figure, sites_figure
from scopecal.logs import log_to
from scopecal.problems import problem_from_config
from scopecal.sites import calibration_rows, map_rows, site_table, sites_markdown

log = log_to(snakemake.log[0])
inputs, params = snakemake.input, snakemake.params
laplace = {}
for (site, problem), path in zip(params.sensitivity, inputs.sensitivity, strict=True):
    laplace.setdefault(site, {})[problem] = pd.read_csv(path)
rows = []
for site, path in zip(params.summaries, inputs.summaries, strict=True):
    rows += calibration_rows(site, pd.read_csv(path), laplace.get(site, {}))
for (site, name, observations), path in zip(params.maps, inputs.maps, strict=True):
    with xr.open_dataset(path) as maps:
        rows += map_rows(site, problem_from_config(name, params.pixel_problems[name]), observations, maps.load())
table = site_table(rows)
table.to_csv(snakemake.output.table, index=False)
with open(snakemake.output.markdown, "w") as out:
    out.write(sites_markdown(table))
sites = list(dict.fromkeys(table["site"]))
save_figure(
    sites_figure(table, title=f"calibrated parameters at {len(sites)} sites"),
    [snakemake.output.figure, snakemake.output.figure_svg],
)
log.info("%d sites, %d rows: %s", len(sites), len(table), ", ".join(sites))
