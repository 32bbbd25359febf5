import torch
import xarray as xr

from scopecal.forward import run_forward
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.pixels import TRUTH_SEED, pixel_truths
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
    inputs = inputs.load()
    if problem.per_pixel is None:
        values = dict(zip(problem.names, problem.truth, strict=True))
    else:
        seed = problem.per_pixel.get("truth_seed", TRUTH_SEED)
        values = pixel_truths(problem, inputs["field_mask"], seed)
    truth = run_forward(
        with_parameters(inputs, values),
        problem.workflow,
        scope_root=snakemake.input.assets,
        device=scope["device"],
        dtype=scope["dtype"],
        chunk_size=scope.get("chunk_size"),
        output_vars=outputs,
    )
if problem.per_pixel is not None:
    truth = truth.assign({f"truth_{name}": value for name, value in values.items()})
truth.attrs.update(problem=problem.name, truth=", ".join(p.truth_label for p in problem.parameters))
write_netcdf(truth, snakemake.output[0], dict(snakemake.params.items()))
log.info(
    "%s: SCOPE %s at the truth (%s) on %s",
    problem.name,
    problem.workflow,
    truth.attrs["truth"],
    truth.attrs["torch_device"],
)
