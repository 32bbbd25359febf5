import xarray as xr

from scopecal.config import field_geojson
from scopecal.forward import run_forward
from scopecal.inputs import input_settings
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.observations import FileSet, exclude_unsolved, prepare_file_set
from scopecal.problems import problem_from_config
from scopecal.twin import with_parameters

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
if problem.workflow == "energy-balance":
    start = dict(zip(problem.names, map(float, problem.start(0)), strict=True))
    at_start = run_forward(
        with_parameters(inputs, start),
        problem.workflow,
        scope_root=snakemake.input.assets,
        device=params.run["device"],
        dtype=params.run["dtype"],
        chunk_size=params.run["chunk_size"],
        output_vars=[t.name for t in problem.targets] + ["converged", "max_error"],
    )
    observations = exclude_unsolved(observations, at_start, at=f"the first start {start}", log=log)
write_netcdf(observations, snakemake.output.observations, dict(params.items()))
write_netcdf(inputs, snakemake.output.inputs, dict(params.items()))
log.info("%s inputs at %d times: %s", problem.workflow, inputs.sizes["time"], dict(inputs.sizes))
