"""The energy balance's stopping rule: scope-rtm's default against the project's fixed 20 iterations.

scope-rtm iterates a whole call until every cell's energy-balance residual is within 1 W m-2 (at most 100
iterations), so a cell's result depends on the cells that share its call. ``scopecal.forward.ENERGY_BALANCE_RULE``
runs 20 iterations for every cell (scope-rtm stops updating a cell within 1 W m-2, its `converged`); the workflow
counts a cell as solved within ``forward.SOLVED_ENERGY_ERROR`` (10 W m-2). For each rule
this script prints, over one pixel of the default field at every daytime half-hour (sun above 15 degrees) of
the SYNTHETIC half-hourly weather of examples/observed/ from 1 to 21 July 2021, with a second copy of the same
half-hours in calm air (wind 0.3 m s-1, where the stability iteration fails):

1. the cost: seconds per cell of one value evaluation in chunks of 100 cells (wall and process CPU, one thread);
2. batch dependence: the largest difference of H, lE and Loutt between one call per cell and chunks of 100,
   over 100 cells spread evenly over both halves (one call per cell costs the call overhead 1,048 times);
3. accuracy: the largest difference of H and lE from 100 fixed iterations, over the cells both call converged;
4. the cells not converged (residual above 1 W m-2 at the end), those unsolved (above 10 W m-2: left out of
   every misfit) and the worst residual.

Run from the repository root (about 8 minutes on 2 CPU cores):

    python benchmarks/energy_balance_rule.py [--scope-assets ../shared/scope-upstream]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import torch
import yaml
from scope.energy import EnergyBalanceOptions

from scopecal import bridge, forward, inputs, retrieval, weather
from scopecal.config import default_field_geojson
from scopecal.geometry import geometry_at_times, sun_elevation
from scopecal.twin import with_parameters

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / "examples/observed/weather_halfhourly_synthetic.csv"
COLUMNS = dict(
    Rin="sw_down_wm2", Rli="lw_down_wm2", Ta="air_temp_c", ea="vapour_pressure_hpa", p="pressure_hpa", u="wind_speed_ms"
)
SETTINGS = inputs.input_settings(yaml.safe_load((ROOT / "config/config.yaml").read_text())["scope"])
OUTPUTS = ["Htot", "lEtot", "Loutt", "converged", "max_error"]
RULES = {
    "scope-rtm default (1 W m-2, at most 100)": EnergyBalanceOptions(),
    "fixed 20 iterations (scopecal)": forward.ENERGY_BALANCE_RULE,
}
REFERENCE = EnergyBalanceOptions(fixed_iterations=True, max_iter=100)


def half_hourly_inputs(scope_assets: str) -> dict[str, torch.Tensor]:
    """Stacked energy-balance inputs: one pixel at every daytime half-hour, then the same in calm air."""
    geojson = default_field_geojson()
    grid = retrieval.field_grid(geojson, 20.0, (4, 4))
    doys = retrieval.acquisition_doys(date(2021, 6, 1), date(2021, 8, 31), 15)
    with TemporaryDirectory() as folder:
        path = Path(folder) / "arc.npz"
        retrieval.save_arc_npz(path, retrieval.synthetic_arc_output(grid, doys, 42), source="synthetic", note="")
        biophysics = bridge.bridge_arc_npz(path, 2021)
    one_pixel = np.zeros(biophysics["field_mask"].shape, bool)
    one_pixel[tuple(np.argwhere(biophysics["field_mask"].values)[0])] = True
    biophysics = biophysics.assign(field_mask=(("y", "x"), one_pixel))
    forcing = weather.load_local_weather(
        WEATHER,
        COLUMNS,
        start=pd.Timestamp("2021-06-25").to_pydatetime(),
        end=pd.Timestamp("2021-07-25").to_pydatetime(),
    )
    times = pd.date_range("2021-07-01", "2021-07-21 23:30", freq="30min")
    times = times[sun_elevation(times.values, geojson) >= 15.0].values
    geometry = geometry_at_times(times, geojson, viewing_zenith=0.0, viewing_azimuth=0.0)
    prepared = inputs.prepare_inputs(
        biophysics, forcing, geometry, workflow="energy-balance", scope_root=scope_assets, **SETTINGS
    )
    prepared = with_parameters(prepared, {"rss": 500.0})
    stacked = forward.stack_cells(prepared, device=torch.device("cpu"), dtype=torch.float64).tensors
    calm = dict(stacked, u=torch.full_like(stacked["u"], 0.3))
    return {name: torch.cat([stacked[name], calm[name]]) for name in stacked}


def run(runner, tensors, rule, chunk_size) -> tuple[dict[str, np.ndarray], float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        outputs = forward.run_tensors(
            runner, "energy-balance", tensors, OUTPUTS, chunk_size=chunk_size, energy_options=rule
        )
    return {k: v.numpy() for k, v in outputs.items()}, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope-assets", default=str(ROOT.parent / "shared/scope-upstream"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at the start: {os.getloadavg()}")
    tensors = half_hourly_inputs(args.scope_assets)
    n_cells = next(iter(tensors.values())).shape[0]
    runner = forward.build_runner(args.scope_assets, device=torch.device("cpu"), dtype=torch.float64)
    reference, _, _ = run(runner, tensors, REFERENCE, 100)
    print(f"{n_cells} cells: {n_cells // 2} daytime half-hours, then the same in calm air (u = 0.3 m s-1)\n")
    print(
        "| rule | s per cell (wall / CPU) | batch dependence H / lE / Loutt | from 100 iterations H / lE "
        "| not converged (of which calm) | unsolved (of which calm) | worst residual (W m-2) |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, rule in RULES.items():
        batched, wall, cpu = run(runner, tensors, rule, 100)
        sample = np.linspace(0, n_cells - 1, 100).astype(int)
        alone, _, _ = run(runner, {name: tensor[sample] for name, tensor in tensors.items()}, rule, 1)
        solved = (batched["converged"][sample] == 1) & (alone["converged"] == 1)
        dependence = [np.nanmax(np.abs(alone[k] - batched[k][sample])[solved]) for k in ("Htot", "lEtot", "Loutt")]
        both = (batched["converged"] == 1) & (reference["converged"] == 1)
        accuracy = [np.nanmax(np.abs(batched[k] - reference[k])[both]) for k in ("Htot", "lEtot")]
        failed = batched["converged"] == 0
        unsolved = ~forward.energy_solved(batched["max_error"])
        print(
            f"| {label} | {wall / n_cells:.4f} / {cpu / n_cells:.4f} | "
            + " / ".join(f"{d:.2g}" for d in dependence)
            + " | "
            + " / ".join(f"{a:.2g}" for a in accuracy)
            + f" | {int(failed.sum())} ({int(failed[n_cells // 2 :].sum())})"
            + f" | {int(unsolved.sum())} ({int(unsolved[n_cells // 2 :].sum())})"
            + f" | {np.nanmax(batched['max_error']):.3g} |"
        )
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
