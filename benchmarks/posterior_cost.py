"""What a posterior costs by each method, from a finished posterior run's tables (tables/posterior/<problem>.csv):
per problem the prior simulations and the NPE training (paid once), NPE's sampling time for one observation set,
NUTS' time for one set, and after how many sets NPE is cheaper overall.

    python benchmarks/posterior_cost.py results/posterior

Times are those the library measured inside the jobs (SCOPE, training, sampling), not the jobs' start-up. A
problem sampled by one method only prints what that method cost. A second table sums the run's job times by stage
and problem from Snakemake's benchmark records (start-up included): what dominates the suite.

    python benchmarks/posterior_cost.py results/posterior --gradient energy_balance_6/noisy1

times instead one value and gradient of the misfit (what a NUTS step costs) on that set's files, at the truth
(median of 3, one thread), for a problem the run did not sample by NUTS.
"""

import argparse
import json
import math
import time
from pathlib import Path

import pandas as pd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("results_dir", type=Path, help="the posterior run's results_dir (results/posterior)")
parser.add_argument("--gradient", metavar="PROBLEM/SET", help="time a gradient of this set's misfit instead")
parser.add_argument("--scope-assets", type=Path, default=Path("../shared/scope-upstream"))
arguments = parser.parse_args()
folder = arguments.results_dir


def gradient_seconds(problem_name: str, observations: str) -> float:
    """Median wall time of a value and gradient of the set's misfit at the truth, from the run's own files."""
    import numpy as np
    import torch
    import xarray as xr

    from scopecal.calibrate import objective_from_files
    from scopecal.problems import problem_from_config

    torch.set_num_threads(1)
    twin = folder / "twin" / problem_name
    with (
        xr.open_dataset(twin / f"observations/{observations}.nc") as observed,
        xr.open_dataset(twin / "truth.nc") as truth,
    ):
        spec, scope = (
            json.loads(observed.attrs["params_json"])["problem"],
            json.loads(truth.attrs["params_json"])["scope"],
        )
    problem = problem_from_config(problem_name, spec)
    objective, _, _ = objective_from_files(
        folder / f"inputs/{problem.workflow}.nc",
        twin / f"observations/{observations}.nc",
        problem,
        scope_root=arguments.scope_assets,
        scope=scope,
    )
    truth = problem.to_scaled(problem.truth)
    seconds = []
    for _ in range(3):
        started = time.perf_counter()
        objective.evaluate(truth, derivative="gradient")
        seconds.append(time.perf_counter() - started)
    print(f"{problem_name} / {observations}: {objective.n_cells} cells, {len(problem.names)} parameters")
    return float(np.median(seconds))


if arguments.gradient:
    seconds = gradient_seconds(*arguments.gradient.split("/"))
    print(f"value and gradient of the misfit: {seconds:.2f} s (median of 3, one thread)")
    raise SystemExit
tables = sorted((folder / "tables/posterior").glob("*.csv"))
if not tables:
    raise SystemExit(f"{folder}/tables/posterior holds no posterior table: run the posterior suite first")

rows = []
for path in tables:
    table = pd.read_csv(path).drop_duplicates(["observations", "method"]).set_index("method")
    row = dict(problem=path.stem)
    if "npe" in table.index:
        npe = table.loc[["npe"]]
        row.update(
            simulations=int(npe["simulations"].iloc[0]),
            simulation_s=npe["simulation_s"].iloc[0],
            training_s=npe["training_s"].iloc[0],
            npe_sampling_s=npe["wall_s"].median(),
        )
    if "mcmc" in table.index:
        mcmc = table.loc[["mcmc"]]
        row.update(
            mcmc_s=mcmc["wall_s"].mean(),
            mcmc_gradients=int(mcmc["gradient_evaluations"].mean()),
            s_per_gradient=(mcmc["wall_s"] / mcmc["gradient_evaluations"]).mean(),
        )
    if {"npe", "mcmc"} <= set(table.index):
        upfront = row["simulation_s"] + row["training_s"]
        row["mcmc_over_npe_sampling"] = row["mcmc_s"] / row["npe_sampling_s"]
        # NPE is cheaper overall from the n-th set on: upfront + n * sampling <= n * mcmc
        row["break_even_sets"] = math.ceil(upfront / (row["mcmc_s"] - row["npe_sampling_s"]))
    rows.append(row)

costs = pd.DataFrame(rows).set_index("problem")
print(costs.to_string(float_format=lambda value: f"{value:.3g}"))

problems, records = {path.stem for path in tables}, folder / "benchmarks"
jobs = []
for path in records.rglob("*.tsv"):
    parts = path.relative_to(records).with_suffix("").parts
    stage = parts[-1].rstrip("0123456789") if parts[0] == "posterior" else parts[0]
    jobs.append(
        dict(
            stage={
                "chunk": "simulate_prior",
                "train": "train_posterior",
                "npe": "posterior",
                "predictive": "posterior_predictive",
            }.get(stage, stage),
            problem=next((part for part in parts if part in problems), "shared"),
            seconds=pd.read_csv(path, sep="\t")["s"].iloc[-1],
        )
    )
job_seconds = pd.DataFrame(jobs).pivot_table(
    index="stage", columns="problem", values="seconds", aggfunc="sum", fill_value=0, margins=True, margins_name="all"
)
print(f"\njob seconds by stage and problem ({len(jobs)} benchmarked jobs):")
print(job_seconds.sort_values("all", ascending=False).round(0).astype(int).to_string())
