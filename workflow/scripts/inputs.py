import xarray as xr

from scopecal.inputs import input_settings, prepare_inputs
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf

log = log_to(snakemake.log[0])
scope = snakemake.params.scope
with (
    xr.open_dataset(snakemake.input.biophysics) as biophysics,
    xr.open_dataset(snakemake.input.weather) as weather,
    xr.open_dataset(snakemake.input.geometry) as geometry,
):
    inputs = prepare_inputs(
        biophysics.load(),
        weather.load(),
        geometry.load(),
        workflow=snakemake.wildcards.workflow,
        scope_root=snakemake.input.assets,
        **input_settings(scope),
    )
write_netcdf(inputs, snakemake.output[0], dict(snakemake.params.items()))
log.info("%s inputs: %s, variables %s", snakemake.wildcards.workflow, dict(inputs.sizes), sorted(inputs.data_vars))
