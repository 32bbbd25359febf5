import xarray as xr

from scopecal.config import field_geojson
from scopecal.inputs import input_settings
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.observations import FileSet, exclude_unsolved_at_start, prepare_file_set
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
params = snakemake.params
problem = problem_from_config(snakemake.wildcards.problem, params.problem)
file_set = FileSet.from_problem(problem, snakemake.wildcards.observations)
with (
    xr.open_dataset(snakemake.input.biophysics) as biophysics,
    xr.open_dataset(snakemake.input.weather) as weather,
):
    observations, inputs = prepare_file_set(
        file_set,
        problem.workflow,
        biophysics=biophysics.load(),
        weather=weather.load(),
        geojson=field_geojson({"field": {"geojson": params.geojson}}),
        season=(params.season["start"], params.season["end"]),
        scope_root=snakemake.input.assets,
        input_settings=input_settings(params.scope),
        log=log,
        **params.viewing,
    )
observations = exclude_unsolved_at_start(
    observations, inputs, problem, scope_root=snakemake.input.assets, run=params.run, log=log
)
write_netcdf(observations, snakemake.output.observations, dict(params.items()))
write_netcdf(inputs, snakemake.output.inputs, dict(params.items()))
log.info("%s inputs at %d times: %s", problem.workflow, inputs.sizes["time"], dict(inputs.sizes))
