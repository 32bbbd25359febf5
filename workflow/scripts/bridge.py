from scopecal.bridge import bridge_arc_npz
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf

log = log_to(snakemake.log[0])
biophysics = bridge_arc_npz(snakemake.input[0], snakemake.params.year)
write_netcdf(biophysics, snakemake.output[0], dict(snakemake.params.items()))
log.info("biophysics %s from %s retrieval", dict(biophysics.sizes), biophysics.attrs["retrieval_source"])
