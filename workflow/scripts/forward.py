import torch
import xarray as xr

from scopecal.figures import quicklook
from scopecal.forward import report_convergence, run_forward
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
scope = snakemake.params.scope
workflow = snakemake.wildcards.workflow
with xr.open_dataset(snakemake.input.inputs) as inputs:
    outputs = run_forward(
        inputs.load(),
        workflow,
        scope_root=snakemake.input.assets,
        device=scope["device"],
        dtype=scope["dtype"],
        chunk_size=scope.get("chunk_size"),
    )
log.info("%s on %s (%s), %d threads", workflow, outputs.attrs["torch_device"], scope["dtype"], snakemake.threads)
for line in report_convergence(outputs):
    log.warning(line)
write_netcdf(outputs, snakemake.output.outputs, dict(snakemake.params.items()))
quicklook(outputs, workflow, snakemake.output.quicklook)
