import torch
import xarray as xr

from scopecal.forward import run_forward
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config
from scopecal.twin import with_parameters

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
problem = problem_from_config(snakemake.wildcards.problem, snakemake.params.problem)
scope = snakemake.params.scope
outputs = [target.name for target in problem.targets]
if problem.workflow == "energy-balance":
    outputs.append("max_error")
with xr.open_dataset(snakemake.input.inputs) as inputs:
    truth = run_forward(
        with_parameters(inputs.load(), dict(zip(problem.names, problem.truth, strict=True))),
        problem.workflow,
        scope_root=snakemake.input.assets,
        device=scope["device"],
        dtype=scope["dtype"],
        chunk_size=scope.get("chunk_size"),
        output_vars=outputs,
    )
truth.attrs.update(problem=problem.name, truth=", ".join(f"{p.name}={p.truth}" for p in problem.parameters))
write_netcdf(truth, snakemake.output[0], dict(snakemake.params.items()))
log.info(
    "%s: SCOPE %s at the truth (%s) on %s",
    problem.name,
    problem.workflow,
    truth.attrs["truth"],
    truth.attrs["torch_device"],
)
