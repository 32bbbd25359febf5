"""Make the SYNTHETIC flux-tower example of config/tower.yaml (not measurements): one site in FLUXNET2015 format.

Writes, beside this script, ``FLX_XX-Syn_FLUXNET2015_FULLSET_HH_2021_synthetic.csv``: a half-hourly FLUXNET2015
FULLSET-style CSV (a subset of its columns) for a tower at the centre of the default field, 1 June to 31 August
2021. Its ``#`` header lines say SYNTHETIC, what made it and how; pandas (``comment="#"``) and
:mod:`scopecal.tower_weather` skip them.

- Stamps: ``TIMESTAMP_START``/``TIMESTAMP_END`` (YYYYMMDDHHMM) in local standard time, UTC+1, all summer (FLUXNET
  never applies daylight saving).
- Weather: ``TA_F`` degC, ``SW_IN_F`` and ``LW_IN_F`` W m-2, ``WS_F`` m s-1 with ``_QC`` flags (0 measured, 1 and
  2 gap-filled, the 2s a little off), ``RH`` % and no vapour pressure, no pressure column (the config gives the
  site's elevation). It is examples/observed/weather_halfhourly_synthetic.csv (SYNTHETIC, UTC, SCOPE's units)
  interpolated to the half-hours' middles, with RH from its vapour pressure by SCOPE's own saturation vapour
  pressure (that of :func:`scopecal.tower_weather.saturation_vapour_pressure`, which inverts it), a few calm
  daytime half-hours (wind below 0.3 m s-1, where SCOPE's energy balance can fail to converge), short gaps
  (-9999, under 2 h) and one 6-hour gap in every weather column.
- Fluxes (W m-2): SCOPE's energy balance (``Rntot``, ``Gtot``, ``lEtot``, ``Htot``) at every half-hour with the sun
  above 10 degrees, from the crop table examples/tower/crop_table_synthetic.csv and the weather as written, with
  ``TRUE_SETTINGS`` and a canopy that differs from the one the calibration assumes (``STRUCTURE``: mean leaf angle
  40 instead of 57.3 degrees, soil brightness 0.4 instead of 0.5). ``NETRAD`` and ``G_F_MDS`` are SCOPE's plus
  noise; ``LE_F_MDS`` and ``H_F_MDS`` are SCOPE's times one closure factor (so that (LE + H) / (NETRAD - G) is
  0.8 over the period, the Bowen ratio kept) plus noise; ``LE_CORR``/``H_CORR`` are those divided by the factor
  (what a Bowen-ratio-preserving correction gives: SCOPE's own fluxes plus noise). ``_QC`` 0 measured, 1-3
  gap-filled (values with a larger error), ``_RANDUNC`` the noise's standard deviation; gaps are -9999. With the
  sun below 10 degrees SCOPE is not run: every flux column is -9999 there (the weather is complete).

Run from the repository root (2 minutes on the 2-core machine while it was busy: 2394 energy-balance half-hours
with 20 iterations, 111 of them again with 100):

    python examples/tower/make_example.py --scope-assets ../shared/scope-upstream
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
import yaml
from arc_scope.utils.io import load_geojson_centroid
from scope.energy import EnergyBalanceOptions

from scopecal import bridge, crop_table, forward, geometry, inputs, retrieval, tower_weather
from scopecal.config import default_field_geojson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULTS = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
OUTPUT = HERE / "FLX_XX-Syn_FLUXNET2015_FULLSET_HH_2021_synthetic.csv"
SOURCE_WEATHER = ROOT / "examples/observed/weather_halfhourly_synthetic.csv"  # SYNTHETIC, UTC, SCOPE's units
CROP_TABLE = HERE / "crop_table_synthetic.csv"
CROP_TABLE_UNITS = {"LAI": "m2 m-2", "Cab": "ug cm-2", "Cw": "cm", "Cdm": "g m-2"}
CROP_TABLE_MARGIN_DAYS = 5
SEED = 14
UTC_OFFSET_HOURS = 1  # the site's local standard time (Belgium): FLUXNET's UTC_OFFSET
ELEVATION_M = 30.0  # the site's elevation, for the pressure the file lacks (the source weather is near sea level)
FIRST_START, LAST_START = "2021-06-01 00:00", "2021-08-31 23:30"  # local standard time, the default season
MIN_SUN_ELEVATION = 10.0  # degrees; SCOPE runs only above it (the observations default keeps 15 and above)
# What the "real" canopy differs in from the model that is calibrated (the crop table's defaults, ala 57.3 and
# BSMBrightness 0.5), and the parameter values that made the fluxes, in SCOPE's names
STRUCTURE = {"ala": 40.0, "BSMBrightness": 0.4}
TRUE_SETTINGS = {"fqe": 0.015, "rss": 300.0, "rbs": 15.0, "Vcmax25": 80.0, "BallBerrySlope": 9.0, "Cd": 0.3}
CLOSURE_FRACTION = 0.8  # (LE + H) / (NETRAD - G) of the measured fluxes over the period
NOISE_SD = {"LE": 15.0, "H": 15.0, "NETRAD": 10.0, "G": 5.0}  # W m-2, measured records
GAP_FILLED_SD = {1: 25.0, 2: 50.0, 3: 80.0}  # W m-2: the error of LE and H gap-filled with each quality flag
FLUX_QC_PROBABILITY = {0: 0.82, 1: 0.10, 2: 0.05, 3: 0.03}
# Calm daytime half-hours (local standard start, wind speed in m s-1): the stability iteration of SCOPE's energy
# balance can fail there, and the workflow must drop such cells with a count
CALM_HALF_HOURS = {
    "2021-06-23 11:00": 0.18,
    "2021-07-08 09:30": 0.22,
    "2021-07-08 10:00": 0.15,
    "2021-07-20 13:30": 0.12,
    "2021-08-12 12:00": 0.20,
}
LONG_WEATHER_GAP = ("2021-07-17 08:00", "2021-07-17 13:30")  # local standard starts, inclusive: 6 h
WEATHER_COLUMNS = ("TA_F", "SW_IN_F", "LW_IN_F", "WS_F", "RH")  # RH has no _QC column in FLUXNET2015
TRUE_FLUX_NAMES = ("Rntot", "Gtot", "lEtot", "Htot")
FLUX_OUTPUTS = [*TRUE_FLUX_NAMES, "converged", "max_error"]
WORKFLOW_ITERATIONS = 20  # the workflow's energy-balance rule (scopecal.forward)
TRUTH_ITERATIONS = 100  # for the cells that rule leaves unconverged
TRUTH_TOLERANCE_WM2 = 5.0  # energy-balance residual of a solution after TRUTH_ITERATIONS (some settle at 1.1)
# the error of gap-filled weather with QC 2 (QC 1: a fifth of it), added or relative
GAP_FILLED_WEATHER_ERROR = {
    "TA_F": ("absolute", 1.0),
    "SW_IN_F": ("relative", 0.15),
    "LW_IN_F": ("absolute", 15.0),
    "WS_F": ("relative", 0.25),
}
FLUX_FLAGS = ("LE_F_MDS_QC", "H_F_MDS_QC", "G_F_MDS_QC")
DECIMALS = {"TA_F": 3, "SW_IN_F": 2, "LW_IN_F": 2, "WS_F": 3, "RH": 3, "PA_F": 4}


def local_standard_starts() -> pd.DatetimeIndex:
    return pd.date_range(FIRST_START, LAST_START, freq="30min")


def utc_middles(starts: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The UTC middle of each half-hour whose local standard start is ``starts`` (where SCOPE runs)."""
    return starts - pd.Timedelta(hours=UTC_OFFSET_HOURS) + pd.Timedelta(minutes=15)


def true_weather(starts: pd.DatetimeIndex) -> pd.DataFrame:
    """The site's complete weather in FLUXNET's names and units, with the calm half-hours, and pressure (``PA_F``,
    kPa: only for the simulation, the written file has none)."""
    source = pd.read_csv(SOURCE_WEATHER)
    source_seconds = pd.DatetimeIndex(source["time"]).asi8 / 1e9
    seconds = utc_middles(starts).asi8 / 1e9

    def at_middles(column: str) -> np.ndarray:
        return np.interp(seconds, source_seconds, source[column].to_numpy(float))

    air_temperature = at_middles("air_temp_c").round(DECIMALS["TA_F"])
    saturation = tower_weather.saturation_vapour_pressure(air_temperature)
    # the source's vapour pressure can exceed saturation on cool nights: fog, 100 %
    humidity = np.minimum(100.0 * at_middles("vapour_pressure_hpa") / saturation, 100.0)
    wind = at_middles("wind_speed_ms")
    for start, speed in CALM_HALF_HOURS.items():
        wind[starts.get_loc(pd.Timestamp(start))] = speed
    return pd.DataFrame(
        {
            "TA_F": air_temperature,
            "SW_IN_F": at_middles("sw_down_wm2").round(DECIMALS["SW_IN_F"]),
            "LW_IN_F": at_middles("lw_down_wm2").round(DECIMALS["LW_IN_F"]),
            "WS_F": wind.round(DECIMALS["WS_F"]),
            "RH": humidity.round(DECIMALS["RH"]),
            "PA_F": (at_middles("pressure_hpa") / 10.0).round(DECIMALS["PA_F"]),
        }
    )


def with_stamps(starts: pd.DatetimeIndex, table: pd.DataFrame) -> pd.DataFrame:
    stamps = pd.DataFrame(
        {
            "TIMESTAMP_START": starts.strftime("%Y%m%d%H%M"),
            "TIMESTAMP_END": (starts + pd.Timedelta(minutes=30)).strftime("%Y%m%d%H%M"),
        }
    )
    return pd.concat([stamps, table.reset_index(drop=True)], axis=1)


def forcing_as_read(weather: pd.DataFrame, starts: pd.DatetimeIndex, longitude: float) -> xr.Dataset:
    """SCOPE's forcing from the complete weather through the workflow's own FLUXNET reader, so that SCOPE sees
    exactly what the workflow derives from the written columns (ea from RH and TA_F), with the true pressure."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "complete.csv"
        with_stamps(starts, weather).to_csv(path, index=False)
        spec = tower_weather.WeatherFile.from_config(
            {"path": str(path), "format": "fluxnet", "time": {"utc_offset": UTC_OFFSET_HOURS}}
        )
        middles = utc_middles(starts)
        return tower_weather.load_tower_weather(
            spec, start=middles[0].to_pydatetime(), end=middles[-1].to_pydatetime(), longitude=longitude
        )


def crop_state(field: Path) -> xr.Dataset:
    """The crop table's biophysics with the true canopy structure, at one in-field pixel (the table is
    field-uniform: one pixel is the field mean the tower sees)."""
    grid = retrieval.field_grid(field, DEFAULTS["field"]["pixel_size_m"], tuple(DEFAULTS["field"]["shape"]))
    schema_defaults = SCHEMA["properties"]["retrieval"]["properties"]["table"]["properties"]["defaults"]
    defaults = {name: entry["default"] for name, entry in schema_defaults["properties"].items()} | STRUCTURE
    season = (date.fromisoformat(DEFAULTS["season"]["start"]), date.fromisoformat(DEFAULTS["season"]["end"]))
    table = crop_table.read_crop_table(CROP_TABLE, units=CROP_TABLE_UNITS)
    arrays, _ = crop_table.crop_table_arc_output(
        table, grid, season=season, margin_days=CROP_TABLE_MARGIN_DAYS, defaults=defaults
    )
    with tempfile.TemporaryDirectory() as folder:
        npz = Path(folder) / "arc_output.npz"
        retrieval.save_arc_npz(npz, arrays, source="table", note="SYNTHETIC tower example")
        biophysics = bridge.bridge_arc_npz(npz, season[0].year)
    inside = biophysics["field_mask"].values
    one_pixel = np.zeros_like(inside)
    one_pixel[tuple(np.argwhere(inside)[0])] = True
    biophysics["field_mask"] = biophysics["field_mask"].copy(data=one_pixel)
    return biophysics


def simulate(
    biophysics: xr.Dataset, forcing: xr.Dataset, times: pd.DatetimeIndex, field: Path, scope_assets: str
) -> dict[str, np.ndarray]:
    """SCOPE's energy balance at ``times`` (UTC) with the true settings: Rntot, Gtot, lEtot, Htot, max_error, and
    whether the workflow's rule (20 iterations) converged (``converged_in_rule``) and the cell is solved (``solved``).

    The cells the workflow's rule leaves more than 1 W m-2 off balance (a few percent of daytime half-hours, the
    calm ones among them) are solved again with 100 iterations: most then settle within a few W m-2, and the data
    hold a solution where the calibrated model will fail. Some oscillate for ever (at calm midday): not solved.
    Fixed iteration counts make each cell's result independent of its chunk-mates, so solving a subset again
    changes nothing else."""
    angles = geometry.geometry_at_times(
        times.values,
        field,
        viewing_zenith=DEFAULTS["geometry"]["viewing_zenith"],
        viewing_azimuth=DEFAULTS["geometry"]["viewing_azimuth"],
    )
    settings = inputs.input_settings(DEFAULTS["scope"])
    settings["fqe"] = TRUE_SETTINGS["fqe"]
    settings["energy_balance"] = {
        **settings["energy_balance"],
        **{name: value for name, value in TRUE_SETTINGS.items() if name != "fqe"},
    }
    prepared = inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="energy-balance", scope_root=scope_assets, **settings
    )
    # scope-rtm builds each cell's leaf angle distribution from the input ala, not from the runner's LIDF
    assert np.allclose(prepared["ala"].values[prepared["field_mask"].values], STRUCTURE["ala"])
    device, dtype = torch.device("cpu"), torch.float64
    runner = forward.build_runner(scope_assets, device=device, dtype=dtype)
    tensors = forward.stack_cells(prepared, device=device, dtype=dtype).tensors  # one pixel: cells in time order

    def solve(cells: np.ndarray, iterations: int) -> dict[str, np.ndarray]:
        options = EnergyBalanceOptions(fixed_iterations=True, max_iter=iterations)
        pieces = []
        with torch.no_grad():
            for chunk_cells in forward.chunk_slices(cells.size, 100):
                chunk = {name: tensor[cells[chunk_cells]] for name, tensor in tensors.items()}
                pieces.append(forward.energy_balance_outputs(runner, chunk, FLUX_OUTPUTS, options=options))
                print(f"{iterations} iterations: solved {chunk_cells.stop} of {cells.size} half-hours", flush=True)
        return {name: torch.cat([piece[name] for piece in pieces]).numpy().astype(float) for name in pieces[0]}

    simulated = solve(np.arange(len(times)), WORKFLOW_ITERATIONS)
    simulated["converged_in_rule"] = simulated.pop("converged") > 0
    again = np.flatnonzero(~simulated["converged_in_rule"])
    if again.size:
        for name, values in solve(again, TRUTH_ITERATIONS).items():
            if name in simulated:
                simulated[name][again] = values
    simulated["solved"] = simulated["converged_in_rule"] | (simulated["max_error"] <= TRUTH_TOLERANCE_WM2)
    return simulated


def true_fluxes(simulated: dict[str, np.ndarray], daytime: np.ndarray, starts: pd.DatetimeIndex) -> pd.DataFrame:
    """SCOPE's fluxes at every half-hour: NaN where SCOPE was not run, and where it has no solution interpolated in
    time from the solved half-hours of the same day (the real canopy has fluxes there); ``interpolated`` marks
    those."""
    fluxes = pd.DataFrame(np.nan, index=starts, columns=list(TRUE_FLUX_NAMES))
    rows = np.flatnonzero(daytime)[simulated["solved"]]
    for name in TRUE_FLUX_NAMES:
        fluxes.iloc[rows, fluxes.columns.get_loc(name)] = simulated[name][simulated["solved"]]
    unsolved = np.zeros(len(starts), bool)
    unsolved[np.flatnonzero(daytime)[~simulated["solved"]]] = True
    # within a day the daytime half-hours are one block, so "inside" never reaches into the night
    fluxes = fluxes.groupby(starts.date).transform(lambda series: series.interpolate(limit_area="inside"))
    fluxes["interpolated"] = unsolved & fluxes["Rntot"].notna().to_numpy()
    return fluxes.reset_index(drop=True)


def tower_fluxes(truth: pd.DataFrame, calm: np.ndarray, rng: np.random.Generator) -> tuple[pd.DataFrame, float]:
    """The flux columns at every half-hour (NaN where missing) and the closure factor applied to LE and H. The calm
    half-hours are measured (QC 0, no gap): the workflow must meet them and drop them for SCOPE's sake."""
    n_records = len(truth)
    net_radiation, soil_heat = truth["Rntot"].to_numpy(), truth["Gtot"].to_numpy()
    latent, sensible = truth["lEtot"].to_numpy(), truth["Htot"].to_numpy()
    valid = np.isfinite(latent)
    available = np.sum(net_radiation[valid] - soil_heat[valid])
    closure_factor = CLOSURE_FRACTION * available / np.sum(latent[valid] + sensible[valid])

    columns: dict[str, np.ndarray] = {
        "NETRAD": net_radiation + rng.normal(0.0, NOISE_SD["NETRAD"], n_records),
        "G_F_MDS": soil_heat + rng.normal(0.0, NOISE_SD["G"], n_records),
        "G_F_MDS_QC": np.where(rng.random(n_records) < 0.05, 1, 0),
    }
    for name, model in (("LE", latent), ("H", sensible)):
        flag = np.where(calm, 0, rng.choice(list(FLUX_QC_PROBABILITY), n_records, p=list(FLUX_QC_PROBABILITY.values())))
        uncertainty = np.where(flag == 0, NOISE_SD[name], pd.Series(flag).map(GAP_FILLED_SD).to_numpy())
        measured = closure_factor * model + rng.normal(0.0, 1.0, n_records) * uncertainty
        columns[f"{name}_F_MDS"] = measured
        columns[f"{name}_F_MDS_QC"] = flag
        columns[f"{name}_CORR"] = measured / closure_factor
        columns[f"{name}_RANDUNC"] = uncertainty
    fluxes = pd.DataFrame(columns)
    # gaps that no gap-filling closed: the eddy-covariance system down for a few half-days (LE and H), scattered
    # records of either, and of the radiometers
    lost_both = np.zeros(n_records, bool)
    for start in rng.integers(0, n_records - 12, 5):
        lost_both[start : start + 12] = True
    for name in ("LE", "H"):
        lost = (lost_both | (rng.random(n_records) < 0.02)) & ~calm
        fluxes.loc[lost, [f"{name}_F_MDS", f"{name}_CORR", f"{name}_RANDUNC"]] = np.nan
    for name in ("NETRAD", "G_F_MDS"):
        fluxes.loc[(rng.random(n_records) < 0.01) & ~calm, name] = np.nan
    fluxes.loc[~np.isfinite(net_radiation), :] = np.nan  # SCOPE not run or not solved: nothing to write
    for name, flag in (("LE_F_MDS", "LE_F_MDS_QC"), ("H_F_MDS", "H_F_MDS_QC"), ("G_F_MDS", "G_F_MDS_QC")):
        fluxes.loc[fluxes[name].isna(), flag] = np.nan
    order = ["NETRAD", "G_F_MDS", "G_F_MDS_QC"] + [
        f"{name}_{suffix}" for name in ("LE", "H") for suffix in ("F_MDS", "F_MDS_QC", "CORR", "RANDUNC")
    ]
    return fluxes[order], float(closure_factor)


def weather_as_measured(
    weather: pd.DataFrame, starts: pd.DatetimeIndex, calm: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """The weather columns as the file holds them: quality flags (1 and 2 gap-filled, the 2s off by what a
    reanalysis would be), short gaps, one 6-hour gap, no pressure. The calm half-hours stay measured."""
    table = weather.drop(columns="PA_F").copy()
    n_records = len(table)
    for name, (kind, error) in GAP_FILLED_WEATHER_ERROR.items():
        flag = np.where(calm, 0, rng.choice([0, 1, 2], n_records, p=[0.95, 0.035, 0.015]))
        size = rng.normal(0.0, 1.0, n_records) * np.where(flag == 2, error, np.where(flag == 1, 0.2 * error, 0.0))
        values = table[name].to_numpy()
        values = values * (1.0 + size) if kind == "relative" else values + size
        if name == "WS_F":  # a gap-filled wind is never calm
            values = np.where(flag > 0, np.maximum(values, 0.3), values)
        table[name] = values.round(DECIMALS[name])
        table[f"{name}_QC"] = flag
    for name in WEATHER_COLUMNS:  # short gaps of 1 to 3 half-hours (the reader interpolates up to 2 h)
        for start in rng.integers(0, n_records - 3, 4):
            gap = np.arange(start, start + rng.integers(1, 4))
            table.loc[gap[~calm[gap]], name] = np.nan
    first, last = (starts.get_loc(pd.Timestamp(stamp)) for stamp in LONG_WEATHER_GAP)
    table.loc[first:last, list(WEATHER_COLUMNS)] = np.nan
    for name in GAP_FILLED_WEATHER_ERROR:
        table.loc[table[name].isna(), f"{name}_QC"] = np.nan
    return table[[column for name in WEATHER_COLUMNS for column in (name, f"{name}_QC") if column in table]]


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, -9999 where missing, flags as integers."""
    text = {}
    for name in table.columns:
        pattern = "{:.0f}" if name.endswith("_QC") else f"{{:.{DECIMALS.get(name, 2)}f}}"
        text[name] = ["-9999" if not np.isfinite(value) else pattern.format(value) for value in table[name]]
    return pd.DataFrame(text, index=table.index)


def header_lines(
    latitude: float, longitude: float, closure_factor: float, interpolated: list[str], unsolved: int
) -> list[str]:
    """The file's ``#`` lines: that it is synthetic, and everything that made it."""
    return [
        "SYNTHETIC flux-tower data, not measurements: made by examples/tower/make_example.py (scopecal), seed "
        f"{SEED}; FLUXNET2015 FULLSET half-hourly layout (a subset of its columns); -9999 missing",
        f"site: centre of scopecal's default field (Belgium), lat {latitude:.6f}, lon {longitude:.6f}, elevation "
        f"{ELEVATION_M:g} m; TIMESTAMP_START and TIMESTAMP_END (YYYYMMDDHHMM) in local standard time "
        f"UTC{UTC_OFFSET_HOURS:+d} all summer (no daylight saving)",
        "weather: examples/observed/weather_halfhourly_synthetic.csv (SYNTHETIC) interpolated to the half-hours' "
        "middles; TA_F degC, SW_IN_F W m-2, LW_IN_F W m-2, WS_F m s-1, RH % (from vapour pressure by SCOPE's "
        "saturation vapour pressure 6.107*10^(7.5*TA/(237.3+TA)) hPa); no pressure column; _QC 0 measured, 1 and 2 "
        f"gap-filled; calm half-hours (WS_F < 0.3 m s-1) starting {', '.join(CALM_HALF_HOURS)}; every weather "
        f"column missing from {LONG_WEATHER_GAP[0]} to {LONG_WEATHER_GAP[1]} (starts, 6 h), short gaps elsewhere",
        f"fluxes (W m-2): SCOPE (scope-rtm) energy balance where the sun is above {MIN_SUN_ELEVATION:g} degrees "
        f"(elsewhere -9999), {WORKFLOW_ITERATIONS} fixed iterations ({TRUTH_ITERATIONS} where {WORKFLOW_ITERATIONS} "
        f"left it more than 1 W m-2 off balance; where it stays over {TRUTH_TOLERANCE_WM2:g} W m-2 off, at "
        f"{', '.join(interpolated) or 'no half-hour'}, interpolated in time from the day's solved half-hours; "
        f"-9999 at {unsolved} more, with no solved half-hour on one side of them that day), "
        f"crop state examples/tower/crop_table_synthetic.csv, true parameters {TRUE_SETTINGS}, canopy {STRUCTURE} "
        "where the calibration assumes ala 57.3 degrees and BSMBrightness 0.5",
        f"NETRAD = Rntot + noise, G_F_MDS = Gtot + noise, LE_F_MDS and H_F_MDS = {closure_factor:.4f} x lEtot and "
        f"Htot + noise (closure (LE+H)/(NETRAD-G) = {CLOSURE_FRACTION:g} over the period, Bowen ratio kept), "
        f"LE_CORR and H_CORR = LE_F_MDS and H_F_MDS / {closure_factor:.4f}; noise sd {NOISE_SD} where _QC is 0 "
        f"(measured), {GAP_FILLED_SD} for LE and H gap-filled with _QC 1, 2, 3 (not to be fitted); _RANDUNC is "
        "that sd",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scope-assets", default=str(ROOT.parent / "shared" / "scope-upstream"))
    args = parser.parse_args()
    began = time.perf_counter()
    # one thread: on the shared 2-core machine two threads beside another job ran the energy balance 5x slower
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    field = default_field_geojson()
    longitude, latitude = load_geojson_centroid(field)

    starts = local_standard_starts()
    middles = utc_middles(starts)
    calm = np.asarray(starts.isin(pd.DatetimeIndex(list(CALM_HALF_HOURS))))
    weather = true_weather(starts)
    forcing = forcing_as_read(weather, starts, longitude)
    daytime = geometry.sun_elevation(middles.values, field) > MIN_SUN_ELEVATION
    simulated = simulate(crop_state(field), forcing, middles[daytime], field, args.scope_assets)
    truth = true_fluxes(simulated, daytime, starts)
    fluxes, closure_factor = tower_fluxes(truth, calm, rng)
    measured_weather = weather_as_measured(weather, starts, calm, rng)

    interpolated = list(starts[truth["interpolated"].to_numpy()].strftime("%Y-%m-%d %H:%M"))
    table = with_stamps(starts, pd.concat([formatted(measured_weather), formatted(fluxes)], axis=1))
    with open(OUTPUT, "w") as stream:
        unsolved = int((~simulated["solved"]).sum()) - len(interpolated)
        lines = header_lines(latitude, longitude, closure_factor, interpolated, unsolved)
        stream.writelines(f"# {line}\n" for line in lines)
        table.to_csv(stream, index=False)
    print(
        f"wrote {OUTPUT}: {len(table)} half-hours starting {FIRST_START} to {LAST_START} "
        f"(UTC{UTC_OFFSET_HOURS:+d}), {OUTPUT.stat().st_size / 1e3:.0f} kB, in {time.perf_counter() - began:.0f} s"
    )
    print(summary(simulated, truth, fluxes, measured_weather, starts, daytime, calm, closure_factor))


def summary(
    simulated: dict[str, np.ndarray],
    truth: pd.DataFrame,
    fluxes: pd.DataFrame,
    weather: pd.DataFrame,
    starts: pd.DatetimeIndex,
    daytime: np.ndarray,
    calm: np.ndarray,
    closure_factor: float,
) -> str:
    """What the file holds, in numbers."""
    measured = (
        (fluxes["LE_F_MDS_QC"] == 0) & (fluxes["H_F_MDS_QC"] == 0) & fluxes[["NETRAD", "G_F_MDS"]].notna().all(axis=1)
    )
    july = measured & (starts.month == 7)
    closure = (fluxes.loc[july, "LE_F_MDS"] + fluxes.loc[july, "H_F_MDS"]).sum() / (
        fluxes.loc[july, "NETRAD"] - fluxes.loc[july, "G_F_MDS"]
    ).sum()
    midday = measured & (starts.hour >= 12) & (starts.hour < 14)
    means = ", ".join(
        f"{name} {fluxes.loc[midday, name].mean():.0f}" for name in ("LE_F_MDS", "H_F_MDS", "LE_CORR", "H_CORR")
    )
    means += f", NETRAD {fluxes.loc[midday, 'NETRAD'].mean():.0f}, G_F_MDS {fluxes.loc[midday, 'G_F_MDS'].mean():.0f}"
    missing_weather = weather[list(WEATHER_COLUMNS)].isna()
    flags = {name: np.bincount(fluxes[name].dropna().astype(int), minlength=4).tolist() for name in FLUX_FLAGS}
    return "\n".join(
        [
            f"SCOPE: {int(daytime.sum())} half-hours with the sun above {MIN_SUN_ELEVATION:g} degrees; "
            f"{int((~simulated['converged_in_rule']).sum())} not converged in {WORKFLOW_ITERATIONS} iterations, "
            f"solved again with {TRUTH_ITERATIONS}: {int((~simulated['solved']).sum())} still over "
            f"{TRUTH_TOLERANCE_WM2:g} W m-2 off balance (fluxes interpolated at {int(truth['interpolated'].sum())}, "
            "the others -9999); "
            f"calm half-hours {int(calm.sum())}, {int((~simulated['converged_in_rule'][calm[daytime]]).sum())} of "
            f"them not converged in {WORKFLOW_ITERATIONS} iterations with the true settings",
            f"closure factor {closure_factor:.4f}; (LE+H)/(NETRAD-G) over July's measured records (LE and H QC 0): "
            f"{closure:.3f}; mean at 12-14 h local standard time, measured records (W m-2): {means}",
            f"daytime flux records {int(daytime.sum())}: LE_F_MDS missing "
            f"{int(fluxes.loc[daytime, 'LE_F_MDS'].isna().sum())}, H_F_MDS missing "
            f"{int(fluxes.loc[daytime, 'H_F_MDS'].isna().sum())}, NETRAD missing "
            f"{int(fluxes.loc[daytime, 'NETRAD'].isna().sum())}; QC counts 0/1/2/3 {flags}",
            f"weather values missing (-9999) per column {missing_weather.sum().to_dict()}, records with any missing "
            f"{int(missing_weather.any(axis=1).sum())}; weather QC 1/2 counts "
            + str(
                {name: [int((weather[f"{name}_QC"] == q).sum()) for q in (1, 2)] for name in GAP_FILLED_WEATHER_ERROR}
            ),
        ]
    )


if __name__ == "__main__":
    main()
