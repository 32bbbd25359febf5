"""Cost and memory of the calibration objective as the observed cells grow: chunked against one scope-rtm call.

``scopecal.objective.Objective`` runs its cells in chunks (``forward.CHUNK_SIZE`` when ``scope.chunk_size`` is
null) and differentiates each chunk before the next one runs. This script prints, for the fluorescence problem
(target F740, parameter fqe) and the energy-balance problem (targets F740, Loutt, lEtot; parameters fqe, rss), at
100, 1,000 and 2,000 observed cells:

1. the per-cell cost of a value and of a value + gradient evaluation (process CPU time, one thread; wall time
   beside it). Target: the cost per cell at 2,000 cells within 1.2x of that at 100;
2. the peak memory of a value + gradient evaluation: the growth of the process's peak resident set (VmHWM, reset
   before the evaluation) over its resident set after setup and a warm-up, each measurement in a fresh
   subprocess. Target: at 2,000 cells within 1.5x of that at 100;
3. the same figures for one call over all cells (the path before chunking) where affordable, and the largest
   relative difference of residuals and gradient between the two paths. Target: 1e-10. The energy balance runs
   the project's rule (``forward.ENERGY_BALANCE_RULE``: 20 iterations for every cell), under which a cell's
   result does not depend on its batch; under scope-rtm's own stopping rule (iterate the batch until every cell
   is within 1 W m-2) chunking changes results, and the script prints by how much.

The cells: the default config's input settings on a 2x2 grid of 5 m pixels inside the default field with 6
acquisitions (24 cells, as benchmarks/objective_vs_arcope.py builds them), repeated to reach each size; twin
observations at the problem's truth, evaluated at its start point. Observed cells of a season of half-hourly
observations number about 2,000.

Run from the repository root (about 14 minutes on 2 CPU cores; it writes only to a temporary folder):

    python benchmarks/chunked_cost.py [--scope-assets ../shared/scope-upstream]

CPU time is what the targets use: wall time on a shared machine also counts other jobs. The load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import torch
import yaml
from scope.energy import EnergyBalanceOptions

from scopecal import bridge, forward, geometry, inputs, problems, retrieval, weather
from scopecal.config import default_field_geojson, default_weather_csv
from scopecal.objective import Objective

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ASSETS = ROOT.parent / "shared" / "scope-upstream"
DEFAULTS = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SETTINGS = inputs.input_settings(DEFAULTS["scope"])
PIXEL_SIZE_M, GRID_SHAPE, SEASON, REVISIT_DAYS = 5.0, (2, 2), (date(2021, 6, 1), date(2021, 8, 31)), 18

PROBLEMS = {
    "fluorescence": dict(
        workflow="fluorescence",
        parameters={"fqe": dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01])},
        targets={"F740": {"relative": 0.02}},
        observations={"clean": {}},
    ),
    "energy-balance": dict(
        workflow="energy-balance",
        parameters={
            "fqe": dict(truth=0.018, lower=0.001, upper=0.1, transform="log", starts=[0.01]),
            "rss": dict(truth=700.0, lower=10.0, upper=5000.0, transform="log", starts=[500.0]),
        },
        targets={"F740": {"relative": 0.02}, "Loutt": {"absolute": 0.2}, "lEtot": {"absolute": 10.0}},
        observations={"clean": {}},
    ),
}
# None: the project's rule (forward.ENERGY_BALANCE_RULE, 20 iterations for every cell); scope-rtm's own rule for
# comparison
OPTIONS = {"default": None, "scope-rtm": EnergyBalanceOptions()}
SIZES = (100, 1000, 2000)
# cells of the one-call runs that fit the time budget, and of the chunked vs one-call comparisons
ONE_CALL = {"fluorescence": 500, "energy-balance": 120}
COST_TARGET, MEMORY_TARGET, EQUAL_TARGET = 1.2, 1.5, 1e-10


def field_case(workflow: str, scope_root: Path):
    """The problem, a runner, the field's 24 cells' inputs, and twin observations and sigmas at the truth."""
    problem = problems.problem_from_config(workflow, PROBLEMS[workflow])
    field = default_field_geojson()
    grid = retrieval.field_grid(field, PIXEL_SIZE_M, GRID_SHAPE)
    doys = retrieval.acquisition_doys(*SEASON, REVISIT_DAYS)
    with tempfile.TemporaryDirectory(prefix="chunked_cost_") as tmp:
        npz = Path(tmp) / "arc.npz"
        retrieval.save_arc_npz(npz, retrieval.synthetic_arc_output(grid, doys, seed=5), source="synthetic", note="")
        biophysics = bridge.bridge_arc_npz(npz, SEASON[0].year)
    forcing = weather.load_local_weather(
        default_weather_csv(),
        DEFAULTS["weather"]["local"]["columns"],
        start=datetime(2021, 5, 1),
        end=datetime(2021, 9, 30),
    )
    angles = geometry.observation_geometry(
        doys, SEASON[0].year, field, overpass_local_solar_hour=10.5, viewing_zenith=0.0, viewing_azimuth=0.0
    )
    prepared = inputs.prepare_inputs(biophysics, forcing, angles, workflow=workflow, scope_root=scope_root, **SETTINGS)
    cpu, float64 = torch.device("cpu"), torch.float64
    runner = forward.build_runner(scope_root, device=cpu, dtype=float64)
    tensors = forward.stack_cells(prepared, device=cpu, dtype=float64).tensors
    targets = [target.name for target in problem.targets]
    truth = {p.name: torch.full_like(tensors["LAI"], p.truth) for p in problem.parameters}
    with torch.no_grad():  # under the project's rule the twin does not depend on how its cells are batched
        outputs = forward.run_tensors(runner, workflow, tensors | truth, targets)
    values = np.column_stack([outputs[name].numpy() for name in targets])
    sigma = np.column_stack([target.sigma(values[:, i]) for i, target in enumerate(problem.targets)])
    return problem, runner, tensors, values, sigma


def objective_on(case, n_cells: int, chunk_size: int | None, options: str) -> Objective:
    """The case's objective on ``n_cells`` cells: the field's cells repeated."""
    problem, runner, tensors, values, sigma = case
    repeat = torch.arange(n_cells) % len(values)
    tensors = {name: tensor[repeat] for name, tensor in tensors.items()}
    return Objective(
        runner, problem, tensors, values[repeat], sigma[repeat], chunk_size=chunk_size, energy_options=OPTIONS[options]
    )


def resident_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def timed(fn) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def measure(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process: peak memory and cost of value + gradient, cost of a value."""
    torch.set_num_threads(1)
    case = field_case(args.workflow, args.scope_assets)
    objective = objective_on(case, args.cells, args.chunk_size, args.options)
    u = case[0].to_scaled(case[0].start(0))
    objective_on(case, len(case[3]), args.chunk_size, args.options).evaluate(u, derivative="gradient")  # warm-up
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM) to the current one
    before = resident_kib("VmRSS")
    gradient_cpu, gradient_wall, evaluation = timed(lambda: objective.evaluate(u, derivative="gradient"))
    peak_mib = (resident_kib("VmHWM") - before) / 1024
    if evaluation.failed:
        raise RuntimeError(f"{args.workflow} at {args.cells} cells: the evaluation failed")
    times = {"gradient": [(gradient_cpu, gradient_wall)], "value": []}
    for _ in range(args.repeats):
        times["value"].append(timed(lambda: objective.evaluate(u))[:2])
    for _ in range(args.repeats - 1):
        times["gradient"].append(timed(lambda: objective.evaluate(u, derivative="gradient"))[:2])
    np.savez(args.save, residuals=evaluation.residuals, gradient=evaluation.gradient)
    result = {
        kind: {
            "cpu_ms_per_cell": 1e3 * statistics.median(c for c, _ in pairs) / args.cells,
            "wall_ms_per_cell": 1e3 * statistics.median(w for _, w in pairs) / args.cells,
        }
        for kind, pairs in times.items()
    }
    result.update(
        peak_mib=peak_mib,
        chunk_size=objective.chunk_size,
        unsolved=evaluation.unsolved_cells,
        maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(result))


class Runs:
    """Measurements, each in a fresh subprocess; results keyed by (workflow, cells, path, options)."""

    def __init__(self, directory: Path, scope_root: Path) -> None:
        self.directory, self.scope_root, self.results = directory, scope_root, {}

    def run(self, workflow: str, cells: int, path: str, options: str = "default", repeats: int = 1) -> dict:
        key = (workflow, cells, path, options)
        save = self.directory / f"{'_'.join(map(str, key))}.npz"
        command = [sys.executable, __file__, "--measure", workflow, "--cells", str(cells), "--options", options]
        command += ["--repeats", str(repeats), "--save", str(save), "--scope-assets", str(self.scope_root)]
        if path == "one call":
            command += ["--chunk-size", str(cells)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"measurement {key} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result.update(arrays=dict(np.load(save)), seconds=time.perf_counter() - started)
        self.results[key] = result
        print(f"  measured {workflow}, {cells} cells, {path}, {options} options: {result['seconds']:.0f} s", flush=True)
        return result


def largest_relative_difference(a: dict, b: dict) -> float:
    """Over residuals and gradient, elementwise: max |a - b| / |b|."""
    return max(
        float(np.max(np.abs(a["arrays"][name] - b["arrays"][name]) / np.maximum(np.abs(b["arrays"][name]), 1e-300)))
        for name in ("residuals", "gradient")
    )


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1 / 5 / 15 min)"


def report(workflow: str, runs: Runs) -> None:
    rows = sorted((key, result) for key, result in runs.results.items() if key[0] == workflow)
    print(f"\n{workflow}: targets {', '.join(PROBLEMS[workflow]['targets'])}; parameters ", end="")
    print(f"{', '.join(PROBLEMS[workflow]['parameters'])}; chunks of {forward.CHUNK_SIZE[workflow]} cells")
    header = "cells  path      options  value ms/cell (wall)  value+grad ms/cell (wall)  peak MiB  unsolved "
    print(header + "\n" + "-" * len(header))
    for (_, cells, path, options), r in rows:
        value, gradient = r["value"], r["gradient"]
        print(
            f"{cells:>5}  {path:<8}  {options:<7}  {value['cpu_ms_per_cell']:>8.2f} ({value['wall_ms_per_cell']:>7.2f})"
            f"  {gradient['cpu_ms_per_cell']:>13.2f} ({gradient['wall_ms_per_cell']:>7.2f})"
            f"  {r['peak_mib']:>8.0f}  {r['unsolved']:>9}"
        )
    chunked = {cells: runs.results[(workflow, cells, "chunked", "default")] for cells in SIZES}
    small, large = chunked[SIZES[0]], chunked[SIZES[-1]]
    for kind in ("value", "gradient"):
        ratio = large[kind]["cpu_ms_per_cell"] / small[kind]["cpu_ms_per_cell"]
        label = "value" if kind == "value" else "value+gradient"
        print(
            f"{verdict(ratio <= COST_TARGET)}  {label} CPU cost per cell at {SIZES[-1]} / at {SIZES[0]} cells: "
            f"{ratio:.2f} (target <= {COST_TARGET})"
        )
    ratio = large["peak_mib"] / small["peak_mib"]
    print(
        f"{verdict(ratio <= MEMORY_TARGET)}  value+gradient peak memory at {SIZES[-1]} / at {SIZES[0]} cells: "
        f"{large['peak_mib']:.0f} / {small['peak_mib']:.0f} MiB = {ratio:.2f} (target <= {MEMORY_TARGET})"
    )
    for options in ("default", "scope-rtm"):
        pair = [runs.results.get((workflow, ONE_CALL[workflow], path, options)) for path in ("chunked", "one call")]
        if None in pair:
            continue
        difference = largest_relative_difference(*pair)
        rule = {"default": "the project's 20 iterations", "scope-rtm": "scope-rtm's own stopping rule"}[options]
        rule = rule if workflow == "energy-balance" else "no energy balance"
        if workflow == "energy-balance" and options == "scope-rtm":
            print(
                f"info  chunked vs one call at {ONE_CALL[workflow]} cells ({rule}): largest relative difference "
                f"of residuals and gradient {difference:.2e} (a cell's result depends on its batch under this rule)"
            )
        else:
            print(
                f"{verdict(difference <= EQUAL_TARGET)}  chunked vs one call at {ONE_CALL[workflow]} cells ({rule}): "
                f"largest relative difference of residuals and gradient {difference:.2e} (target <= {EQUAL_TARGET})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scope-assets", type=Path, default=DEFAULT_ASSETS, help="SCOPE upstream input folder")
    parser.add_argument("--measure", choices=list(PROBLEMS), help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--options", choices=list(OPTIONS), default="default", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.scope_assets = args.scope_assets.resolve()
    if args.measure:
        args.workflow = args.measure
        measure(args)
        return 0
    import scope

    started = time.perf_counter()
    print("Objective cost and memory against the number of observed cells: chunked vs one scope-rtm call")
    print(f"torch {torch.__version__} (1 thread, float64, CPU), scope-rtm {scope.__version__}, {os.cpu_count()} cores")
    print(f"load average before: {load()}")
    print("progress:")
    with tempfile.TemporaryDirectory(prefix="chunked_cost_") as tmp:
        runs = Runs(Path(tmp), args.scope_assets)
        for workflow in PROBLEMS:
            for cells in SIZES:
                runs.run(workflow, cells, "chunked", repeats=3 if cells == SIZES[0] else 1)
            one_call = ONE_CALL[workflow]
            runs.run(workflow, one_call, "one call")
            runs.run(workflow, one_call, "chunked")
            if workflow == "energy-balance":
                for path in ("chunked", "one call"):
                    runs.run(workflow, one_call, path, options="scope-rtm")
        for workflow in PROBLEMS:
            report(workflow, runs)
    print(
        f"\nnot run (time and memory): one call over more than {ONE_CALL['fluorescence']} fluorescence cells "
        f"(5.4 GiB at 600) or more than {ONE_CALL['energy-balance']} energy-balance cells."
    )
    print(f"load average after: {load()}; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
