"""Make the SYNTHETIC example observation files of config/observed.yaml (not measurements).

Writes, beside this script:

- ``weather_halfhourly_synthetic.csv``: half-hourly forcing for the default field (UTC), May to September 2021
  (its ``note`` column says SYNTHETIC on every row),
  from a clear-sky shortwave model with day-to-day cloudiness, a diurnal air-temperature cycle, vapour
  pressure, longwave from an effective sky emissivity, pressure and wind, all seeded.
- ``tower_synthetic.csv``: a tower-format series at one pixel of the default field, June to August 2021, in
  local time (Europe/Brussels, no offset in the stamps): SIF at 760 nm (``SIF_760``, mW m-2 nm-1 sr-1),
  surface temperature (``TS``, degC), latent heat (``LE``, W m-2), with quality flags (``SIF_QC``, ``LE_QC``:
  0 = good), gaps (empty cells) and noise.

The observations are SCOPE's energy balance on the workflow's own synthetic crop state, but with structural
settings that differ from those the calibration uses (soil brightness 20% lower), so a calibration against them
has model error as a real one does. The mean leaf angle of 40 degrees in ``STRUCTURE`` reaches only the
runner's leaf angle distribution, which scope-rtm's energy balance ignores (it builds each cell's from ``ala``):
the committed files were made with the crop state's own leaf angles. Setting ``ala`` in the inputs would apply
it; the files would then have to be made again. The parameters used are in the file's header comment and in
``TRUE_SETTINGS`` below. The committed weather file's vapour pressure was made with Tetens' constants 6.1078 hPa
and 17.27 (natural exponent); :func:`scopecal.weather.synthetic_weather` now takes SCOPE's (6.107 hPa, 7.5, base
10), which differ by at most 0.003 hPa (all other columns
are as before).

Run from the repository root (28 minutes on the 2-core machine while it was busy: 2295 energy-balance
half-hours with 20 fixed iterations each):

    python examples/observed/make_example.py --scope-assets ../shared/scope-upstream
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from pyproj import CRS, Transformer
from scipy.constants import Stefan_Boltzmann
from scope import ScopeGridRunner, campbell_lidf
from scope.energy import EnergyBalanceOptions

from scopecal import bridge, forward, geometry, inputs, retrieval, weather
from scopecal.config import default_field_geojson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULTS = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SEED = 2021
TOWER_PIXEL = (1, 1)  # (y, x) of the default 4x4 grid, inside the field
# what the "real" canopy differs in from the model that is calibrated, and its parameter values
STRUCTURE = {"mean_leaf_angle": 40.0, "soil_brightness_factor": 0.8}
TRUE_SETTINGS = {"fqe": 0.016, "rss": 300.0, "rbs": 15.0, "Vcmax25": 75.0, "BallBerrySlope": 9.0, "Cd": 0.3}
NOISE = {"SIF_760": (0.08, 0.03), "TS": (0.0, 0.5), "LE": (0.10, 15.0)}  # (relative, absolute) sd


def tower_location(grid: retrieval.FieldGrid) -> tuple[float, float]:
    """lat, lon of the tower pixel's centre."""
    x0, size, _, y0, _, _ = grid.geotransform
    x, y = x0 + (TOWER_PIXEL[1] + 0.5) * size, y0 - (TOWER_PIXEL[0] + 0.5) * size
    lon, lat = Transformer.from_crs(CRS.from_wkt(grid.crs_wkt), "EPSG:4326", always_xy=True).transform(x, y)
    return round(lat, 6), round(lon, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope-assets", default=str(ROOT.parent / "shared" / "scope-upstream"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    field = default_field_geojson()

    times = pd.date_range("2021-05-01", "2021-09-30 23:30", freq="30min")
    weather_table = weather.synthetic_weather(field, times, rng)
    weather_path = HERE / "weather_halfhourly_synthetic.csv"
    weather_table["note"] = "SYNTHETIC (examples/observed/make_example.py)"
    weather_table.to_csv(weather_path, index=False)

    # the workflow's own synthetic crop state (config/config.yaml's field, season and retrieval settings)
    settings = DEFAULTS["retrieval"]["synthetic"]
    grid = retrieval.field_grid(field, DEFAULTS["field"]["pixel_size_m"], tuple(DEFAULTS["field"]["shape"]))
    doys = retrieval.acquisition_doys(date(2021, 6, 1), date(2021, 8, 31), settings["revisit_days"])
    arc_npz = HERE / ".arc_output.npz"
    retrieval.save_arc_npz(
        arc_npz, retrieval.synthetic_arc_output(grid, doys, settings["seed"]), source="synthetic", note="example"
    )
    biophysics = bridge.bridge_arc_npz(arc_npz, 2021)
    arc_npz.unlink()
    only_tower = np.zeros_like(biophysics["field_mask"].values)
    only_tower[TOWER_PIXEL] = True
    biophysics["field_mask"] = biophysics["field_mask"].copy(data=only_tower)
    scale = biophysics["post_bio_scale"]
    biophysics["post_bio_scale"] = scale.where(
        scale["scale_band"] != "BSMBrightness", scale * STRUCTURE["soil_brightness_factor"]
    )

    times = pd.date_range("2021-06-01", "2021-08-30 23:30", freq="30min")
    daylight = times[geometry.sun_elevation(times.values, field) > 12.0]
    forcing = weather.load_local_weather(
        weather_path, DEFAULTS["weather"]["local"]["columns"], start=datetime(2021, 5, 1), end=datetime(2021, 10, 1)
    )
    angles = geometry.geometry_at_times(daylight.values, field, viewing_zenith=0.0, viewing_azimuth=0.0)
    scope_settings = inputs.input_settings(DEFAULTS["scope"])
    scope_settings["fqe"] = TRUE_SETTINGS["fqe"]
    scope_settings["energy_balance"] = {
        **scope_settings["energy_balance"],
        **{k: v for k, v in TRUE_SETTINGS.items() if k != "fqe"},
    }
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="energy-balance", scope_root=args.scope_assets, **scope_settings
    )
    runner = ScopeGridRunner.from_scope_assets(
        lidf=campbell_lidf(STRUCTURE["mean_leaf_angle"], dtype=torch.float64),
        dtype=torch.float64,
        device=torch.device("cpu"),
        scope_root_path=args.scope_assets,
    )
    stacked = forward.stack_cells(prepared, device=torch.device("cpu"), dtype=torch.float64)
    # a fixed number of energy-balance iterations: each half-hour's result does not depend on its batch-mates, and
    # a low-sun cell cannot hold a whole chunk to scope-rtm's 100 iterations
    options = EnergyBalanceOptions(fixed_iterations=True, max_iter=20)
    pieces = []
    n_cells = next(iter(stacked.tensors.values())).shape[0]
    with torch.no_grad():
        for cells in forward.chunk_slices(n_cells, 100):
            chunk = {name: tensor[cells] for name, tensor in stacked.tensors.items()}
            pieces.append(
                forward.energy_balance_outputs(runner, chunk, ["F740", "Eoutt", "lEtot", "converged"], options=options)
            )
            print(f"simulated {cells.stop} of {n_cells} half-hours", flush=True)
    simulated = {name: torch.cat([piece[name] for piece in pieces]).numpy() for name in pieces[0]}
    converged = simulated.pop("converged") > 0

    table = pd.DataFrame({"utc": times})
    model = pd.DataFrame(
        {
            "utc": daylight,
            "SIF_760": np.where(converged, simulated["F740"], np.nan),  # W m-2 um-1 sr-1 = mW m-2 nm-1 sr-1
            "TS": np.where(converged, (simulated["Eoutt"] / Stefan_Boltzmann) ** 0.25 - 273.15, np.nan),
            "LE": np.where(converged, simulated["lEtot"], np.nan),
        }
    )
    table = table.merge(model, on="utc", how="left")
    night = table["SIF_760"].isna()
    air = forcing["Ta"].interp(time=table["utc"].values).values
    table.loc[night, "SIF_760"] = 0.0
    table.loc[night, "TS"] = air[night.values] - 1.5
    table.loc[night, "LE"] = 5.0
    for name, (relative, absolute) in NOISE.items():
        values = table[name].to_numpy()
        table[name] = values + rng.normal(0.0, 1.0, len(values)) * np.hypot(relative * np.abs(values), absolute)
    table["SIF_QC"] = np.where(rng.random(len(table)) < 0.05, 1, 0)
    table.loc[table["SIF_QC"] == 1, "SIF_760"] *= rng.uniform(1.5, 3.0, int((table["SIF_QC"] == 1).sum()))
    table["LE_QC"] = rng.choice([0, 1, 2], len(table), p=[0.85, 0.1, 0.05])
    table.loc[table["LE_QC"] == 2, "LE"] += rng.normal(0.0, 60.0, int((table["LE_QC"] == 2).sum()))
    for name in ("SIF_760", "TS", "LE"):  # gaps: a few half-day blocks and scattered missing records
        for start in rng.integers(0, len(table) - 24, 6):
            table.loc[start : start + 24, name] = np.nan
        table.loc[rng.random(len(table)) < 0.03, name] = np.nan
    local = table["utc"].dt.tz_localize("UTC").dt.tz_convert("Europe/Brussels").dt.tz_localize(None)
    table.insert(0, "timestamp", local.dt.strftime("%Y-%m-%d %H:%M"))
    table = table.drop(columns="utc").round({"SIF_760": 4, "TS": 3, "LE": 2})
    lat, lon = tower_location(grid)
    tower_path = HERE / "tower_synthetic.csv"
    with open(tower_path, "w") as stream:
        stream.write(
            f"# SYNTHETIC tower observations (not measurements) made by examples/observed/make_example.py; "
            f"tower at lat {lat}, lon {lon}; local time Europe/Brussels; SIF_760 mW m-2 nm-1 sr-1, TS degC, "
            f"LE W m-2; QC 0 = good; SCOPE energy balance with {STRUCTURE} and {TRUE_SETTINGS}, plus noise "
            f"(relative, absolute sd) {NOISE}\n"
        )
        table.to_csv(stream, index=False)
    print(
        f"wrote {weather_path} ({len(weather_table)} records) and {tower_path} ({len(table)} records, "
        f"{int(converged.sum())} of {converged.size} simulated half-hours converged); tower at lat {lat}, lon {lon}"
    )


if __name__ == "__main__":
    main()
