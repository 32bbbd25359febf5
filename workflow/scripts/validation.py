import json
from pathlib import Path

import torch
import xarray as xr

from scopecal.calibrate import build_objective, write_json
from scopecal.config import field_geojson
from scopecal.figures import (
    fit_residuals_figure,
    fit_scatter_figure,
    fit_timeseries_figure,
    save_figure,
    validation_period_figure,
)
from scopecal.holdout import assess, callmip_markdown, callmip_table, markdown, solar_time_longitude
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.problems import problem_from_config

log = log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params, output = snakemake.wildcards, snakemake.params, snakemake.output
problem = problem_from_config(wildcards.problem, params.problem)
device = dict(device=params.scope["device"], dtype=params.scope["dtype"], chunk_size=params.scope.get("chunk_size"))
result = json.loads(Path(snakemake.input.result).read_text())
with xr.open_dataset(snakemake.input.inputs) as inputs, xr.open_dataset(snakemake.input.observations) as observations:
    inputs, observations = inputs.load(), observations.load()
objective = build_objective(inputs, observations, problem, scope_root=snakemake.input.assets, **device)
final = [result["parameters_final"][name] for name in problem.names]
at_fit = objective.evaluate(problem.to_scaled(final), derivative="jacobian")
if at_fit.failed:
    log.warning("SCOPE failed at the calibrated point (%d cells unsolved): no Laplace", at_fit.unsolved_cells)
report, table = assess(
    inputs,
    observations,
    problem,
    result,
    jacobian=None if at_fit.failed else at_fit.jacobian,
    n_residuals=objective.n_residuals,
    scope_root=snakemake.input.assets,
    **device,
)
title = f"{wildcards.problem} / {wildcards.observations} / {wildcards.optimizer} / {wildcards.start}"
report = dict(
    problem=wildcards.problem,
    observations=wildcards.observations,
    optimizer=wildcards.optimizer,
    start=wildcards.start,
    final_misfit=result["final_misfit"],
    **report,
)
write_json(report, output.report)
Path(output.markdown).write_text(markdown(report, title))
write_netcdf(table, output.fit, dict(params.items()))
targets = [t.name for t in problem.targets]
save_figure(fit_timeseries_figure(table, targets, title=title), [output.timeseries, output.timeseries_svg])
save_figure(fit_scatter_figure(table, targets, report, title=title), [output.scatter, output.scatter_svg])
save_figure(fit_residuals_figure(table, targets, title=title), [output.residuals, output.residuals_svg])
callmip = callmip_table(table, report)
callmip.to_csv(output.callmip_csv, index=False)  # a score without a value is an empty cell
Path(output.callmip_markdown).write_text(callmip_markdown(callmip, title))
location = problem.observation_set(wildcards.observations).file.get("location")
longitude = solar_time_longitude(location, field_geojson({"field": {"geojson": params.geojson}}))
save_figure(
    validation_period_figure(table, targets, longitude=longitude, title=title),
    [output.validation_period, output.validation_period_svg],
)
for role, scores in report["scores"].items():
    for target, entry in scores.items():
        log.info(
            "%s %s: RMSE %.4g -> %.4g (n = %d)",
            role,
            target,
            entry["before"]["rmse"],
            entry["after"]["rmse"],
            entry["after"]["n"],
        )
