"""Quicklook figures of forward SCOPE outputs: maps of the field and time series per pixel."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from .metrics import RECOVERY_ZONE  # noqa: E402
from .tables import run_label  # noqa: E402

# Headline quantities per workflow: (label, how to pick them from the output)
HEADLINES = {
    "reflectance": [
        ("red reflectance (650 nm)", lambda d: d["rsot"].sel(wavelength=650.0)),
        ("NIR reflectance (865 nm)", lambda d: d["rsot"].sel(wavelength=865.0)),
    ],
    "fluorescence": [("F740", lambda d: d["F740"]), ("F685", lambda d: d["F685"])],
    "thermal": [("Loutt", lambda d: d["Loutt"]), ("LST", lambda d: d["LST"])],
    "energy-balance": [
        ("lEtot", lambda d: d["lEtot"]),
        ("Htot", lambda d: d["Htot"]),
        ("Rntot", lambda d: d["Rntot"]),
        ("F740", lambda d: d["F740"]),
        ("LST", lambda d: d["LST"]),
    ],
}


def _units(variable: xr.DataArray) -> str:
    return variable.attrs.get("units", "")


def quicklook(outputs: xr.Dataset, workflow: str, path: str | Path) -> None:
    """One row per headline quantity: a map at the first and last date, and every pixel's time series."""
    headlines = HEADLINES[workflow]
    fig, axes = plt.subplots(
        len(headlines), 3, figsize=(12, 3.2 * len(headlines)), squeeze=False, gridspec_kw={"width_ratios": [1, 1, 1.6]}
    )
    for row, (label, pick) in zip(axes, headlines, strict=True):
        variable = pick(outputs)
        units = _units(variable)
        low, high = np.nanmin(variable.values), np.nanmax(variable.values)
        for ax, index in zip(row[:2], (0, -1), strict=True):
            snapshot = variable.isel(time=index)
            image = ax.imshow(snapshot.values, vmin=low, vmax=high, cmap="viridis")
            ax.set_title(f"{label}, {str(snapshot['time'].values)[:10]}")
            ax.set_xlabel("x (pixel)")
            ax.set_ylabel("y (pixel)")
            fig.colorbar(image, ax=ax, label=units)
        series = variable.stack(pixel=("y", "x")).dropna("pixel", how="all")
        row[2].plot(series["time"].values, series.values, color="tab:green", alpha=0.5)
        row[2].set_title(f"{label}, every pixel inside the field")
        row[2].set_ylabel(f"{label} ({units})" if units else label)
        row[2].tick_params(axis="x", rotation=30)
    fig.suptitle(f"SCOPE {workflow}: {outputs.sizes['y']}x{outputs.sizes['x']} pixels, {outputs.sizes['time']} dates")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------
# Calibration figures: from the traces (trace.csv) of the calibration jobs, no SCOPE runs.

PARAMETER_UNITS = {
    "fqe": "-",
    "rss": "s m-1",
    "rbs": "s m-1",
    "Cd": "-",
    "rwc": "-",
    "Tcu": "degC",
    "Tch": "degC",
    "Tsu": "degC",
    "Tsh": "degC",
    "Vcmax25": "umol m-2 s-1",
    "BallBerrySlope": "-",
}
MISFIT_LABEL = "misfit ½‖r/σ‖² (-)"
MISFIT_FLOOR = 1e-30  # a misfit of exactly zero cannot go on a log axis
OPTIMIZER_COLOURS = {
    "lbfgsb": "tab:blue",
    "dfols": "tab:orange",
    "gauss_newton": "tab:green",
    "neldermead": "tab:red",
    "cmaes": "tab:purple",
    "adam": "tab:brown",
    "de": "tab:pink",
}
# other labels (an optimiser with other settings, e.g. dfols_noisy) take these, in the order they are met
SPARE_COLOURS = ("tab:olive", "tab:cyan", "tab:gray", "black")


def parameter_label(name: str) -> str:
    units = PARAMETER_UNITS.get(name)
    return f"{name} ({units})" if units else name


def optimizer_colour(label: str, labels: list[str]) -> str:
    """A fixed colour per optimiser; ``labels`` (every label of the figure, in order) places the others."""
    if label in OPTIMIZER_COLOURS:
        return OPTIMIZER_COLOURS[label]
    others = [other for other in dict.fromkeys(labels) if other not in OPTIMIZER_COLOURS]
    return SPARE_COLOURS[others.index(label) % len(SPARE_COLOURS)]


def _save(fig, path: str | Path) -> None:
    """Write ``path`` (PNG, SVG, ... by its suffix)."""
    fig.savefig(path, dpi=150)


def save_figure(fig, paths) -> None:
    for path in [paths] if isinstance(paths, str | Path) else paths:
        _save(fig, path)
    plt.close(fig)


def incumbent_misfit(misfit) -> np.ndarray:
    return np.minimum.accumulate(np.maximum(np.asarray(misfit, dtype=float), MISFIT_FLOOR))


def misfit_history_figure(trace, *, title: str = "", baseline_misfit: float = 0.0):
    """Misfit against evaluation number for one job: every evaluation a point, the incumbent (best so far) a
    line, the baseline misfit a horizontal line; for population methods (trace column
    ``generation``) the best and worst of each generation."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    evaluation = trace["evaluation"].to_numpy()
    misfit = np.maximum(trace["misfit"].to_numpy(dtype=float), MISFIT_FLOOR)
    failed = trace["failed"].astype(str).str.lower().eq("true").to_numpy() if "failed" in trace else None
    ax.scatter(evaluation, misfit, s=14, color="0.55", label="evaluation", zorder=2)
    if failed is not None and failed.any():
        ax.scatter(evaluation[failed], misfit[failed], s=30, marker="x", color="tab:red", label="failed run", zorder=3)
    ax.step(evaluation, incumbent_misfit(misfit), where="post", color="tab:blue", lw=2, label="best so far", zorder=4)
    if "generation" in trace and trace["generation"].notna().any():
        generations = trace.dropna(subset=["generation"]).groupby("generation")
        ends = generations["evaluation"].max()
        for extreme, style, colour in (("min", "v-", "tab:green"), ("max", "^-", "tab:orange")):
            misfits = np.maximum(generations["misfit"].agg(extreme), MISFIT_FLOOR)
            label = f"generation {'best' if extreme == 'min' else 'worst'}"
            ax.plot(ends, misfits, style, color=colour, ms=4, lw=1, label=label)
    if baseline_misfit > 0:
        ax.axhline(baseline_misfit, color="black", ls="--", lw=1, label="baseline misfit")
    ax.set_yscale("log")
    ax.set_xlabel("model evaluation")
    ax.set_ylabel(MISFIT_LABEL)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncol=3)
    return fig


def recovery_zone(parameter) -> tuple[float, float]:
    """The band within RECOVERY_ZONE of the parameter's range around its truth."""
    half = RECOVERY_ZONE * (parameter.upper - parameter.lower)
    return parameter.truth - half, parameter.truth + half


def parameter_history_figure(trace, parameters, *, title: str = ""):
    """One panel per parameter: every evaluated value (points) and the incumbent's (line) against evaluation
    number, and where there is a truth, the truth (dashed) and the recovery zone (±5% of its range, shaded).
    ``parameters``: scopecal.problems.Parameter."""
    n = len(parameters)
    columns = min(n, 2)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns + 0.6, 2.6 * rows + 1.0), squeeze=False, layout="constrained"
    )
    evaluation = trace["evaluation"].to_numpy()
    misfit = trace["misfit"].to_numpy(dtype=float)
    best = np.array([int(np.argmin(misfit[: i + 1])) for i in range(len(misfit))]) if len(misfit) else np.array([])
    for ax, parameter in zip(axes.flat, parameters, strict=False):
        values = trace[parameter.name].to_numpy(dtype=float)
        if parameter.truth is not None:  # observations from a file have no truth to draw
            low, high = recovery_zone(parameter)
            ax.axhspan(low, high, color="tab:green", alpha=0.2, lw=0, label="recovery zone (±5% of range)")
            ax.axhline(parameter.truth, color="tab:green", ls="--", lw=1.2, label="truth")
        ax.scatter(evaluation, values, s=10, color="0.55", label="evaluation", zorder=2)
        if len(best):
            ax.step(evaluation, values[best], where="post", color="tab:blue", lw=1.8, label="best so far", zorder=3)
        if parameter.transform == "log":
            ax.set_yscale("log")
        ax.set_ylim(parameter.lower, parameter.upper)
        ax.set_ylabel(parameter_label(parameter.name))
        ax.set_xlabel("model evaluation")
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2 if columns == 1 else 4, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def misfit_comparison_figure(traces: dict, *, title: str = "", baseline_misfit: float = 0.0):
    """Every run's incumbent (best-so-far) misfit against evaluation number on one panel; ``traces`` maps
    (optimizer, start) to a trace. One colour per optimiser, dashed from a later start; the evaluation axis is
    logarithmic where one run is ten times longer than the typical one (CMA-ES beside DFO-LS)."""
    legend_rows = -(-(len(traces) + 1) // 3)
    fig, ax = plt.subplots(figsize=(6.4, 4.0 + 0.2 * legend_rows), layout="constrained")
    optimizers = [optimizer for optimizer, _ in traces]
    several_starts = len({start for _, start in traces}) > 1
    for (optimizer, start), trace in traces.items():
        ax.step(
            trace["evaluation"],
            incumbent_misfit(trace["misfit"]),
            where="post",
            lw=1.8,
            ls="-" if start == 1 else "--",
            color=optimizer_colour(optimizer, optimizers),
            label=run_label(optimizer, start, several_starts),
        )
    if baseline_misfit > 0:
        ax.axhline(baseline_misfit, color="black", ls="--", lw=1, label="baseline")
    ax.set_yscale("log")
    lengths = [len(trace) for trace in traces.values()]
    if max(lengths) > 10 * np.median(lengths):
        ax.set_xscale("log")
    ax.set_xlabel("model evaluation")
    ax.set_ylabel(f"best {MISFIT_LABEL}")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncol=3)
    return fig


def profiles_figure(data: dict, performance: dict, *, instances: int):
    """Data profiles (top) and performance profiles (bottom), one column per tolerance tau; ``data`` and
    ``performance`` map tau to the frames of scopecal.tables.data_profile / performance_profile."""
    taus = list(data)
    fig, axes = plt.subplots(
        2, len(taus), figsize=(3.6 * len(taus) + 0.4, 6.4), squeeze=False, sharey=True, layout="constrained"
    )
    for column, tau in enumerate(taus):
        for row, (frame, xlabel) in enumerate(
            (
                (data[tau], "budget (simplex gradients: evaluations / (n+1))"),
                (performance[tau], "performance ratio (evaluations / fastest's)"),
            )
        ):
            ax = axes[row, column]
            for solver in frame.columns:
                ax.step(
                    frame.index,
                    frame[solver],
                    where="post",
                    lw=1.8,
                    color=optimizer_colour(solver, list(frame.columns)),
                    label=solver,
                )
            if row == 1:
                ax.set_xscale("log", base=2)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(xlabel, fontsize=9)
            ax.set_title(f"{'data' if row == 0 else 'performance'} profile, τ = {tau:g}", fontsize=10)
            ax.grid(True, alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of instances solved")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 7), fontsize=8)
    fig.suptitle(f"{instances} (problem, observation set) instances; solved: f ≤ f_L + τ (f_0 − f_L)", fontsize=10)
    return fig


def sensitivity_figure(table, result: dict, names: list[str], *, title: str = ""):
    """One-at-a-time misfit changes (bars, log), Laplace posterior correlation matrix, Jacobian singular values."""
    fig, (bars, heat, spectrum) = plt.subplots(
        1, 3, figsize=(13, 4.4), layout="constrained", gridspec_kw={"width_ratios": [1.2, 1.1, 0.8]}
    )
    positions = np.arange(len(names))
    width = 0.38
    for offset, side, colour in ((-width / 2, "minus", "tab:blue"), (width / 2, "plus", "tab:orange")):
        bars.bar(
            positions + offset,
            np.maximum(table[f"misfit_{side}"], MISFIT_FLOOR),
            width,
            color=colour,
            label=f"truth {'−' if side == 'minus' else '+'} 10% of range",
        )
    bars.set_yscale("log")
    bars.set_xticks(positions, names, rotation=30, ha="right")
    bars.set_xlim(-0.8, len(names) - 0.2)
    bars.set_ylabel(MISFIT_LABEL)
    bars.set_title("one-at-a-time sensitivity", fontsize=10)
    bars.legend(fontsize=8)
    bars.grid(True, axis="y", alpha=0.3)
    image = heat.imshow(result["correlation"], vmin=-1, vmax=1, cmap="RdBu_r")
    for (i, j), value in np.ndenumerate(result["correlation"]):
        heat.text(
            j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color="white" if abs(value) > 0.6 else "black"
        )
    heat.set_xticks(positions, names, rotation=30, ha="right")
    heat.set_yticks(positions, names)
    heat.set_title("Laplace posterior correlation", fontsize=10)
    fig.colorbar(image, ax=heat, label="correlation (-)", shrink=0.85)
    singular = np.asarray(result["singular_values"])
    spectrum.semilogy(np.arange(1, len(singular) + 1), np.maximum(singular, MISFIT_FLOOR), "o-", color="tab:blue")
    spectrum.set_xticks(np.arange(1, len(singular) + 1))
    spectrum.set_xlabel("index")
    spectrum.set_ylabel("singular value of J (scaled parameters)")
    spectrum.set_title(f"Jacobian singular values\ncondition number {result['condition_number']:.3g}", fontsize=10)
    spectrum.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    return fig


def _fit_panels(targets: list[str], width: float = 11.0):
    fig, axes = plt.subplots(
        len(targets), 1, figsize=(width, 2.8 * len(targets) + 0.8), squeeze=False, layout="constrained"
    )
    return fig, axes[:, 0]


def fit_timeseries_figure(table: xr.Dataset, targets: list[str], *, title: str = ""):
    """Per target: observations with their sigma as error bars (held-out ones open), the model at the start
    and at the calibrated point, against time."""
    fig, axes = _fit_panels(targets)
    time = table["time"].values
    held = table["held_out"].values.astype(bool)
    for ax, target in zip(axes, targets, strict=True):
        observed, sigma = table[f"{target}_observed"].values, table[f"{target}_sigma"].values
        for mask, label, face in ((~held, "observed (fitted)", "k"), (held, "observed (held out)", "none")):
            if mask.any():
                ax.errorbar(
                    time[mask],
                    observed[mask],
                    yerr=sigma[mask],
                    fmt="o",
                    ms=3,
                    mfc=face,
                    mec="k",
                    ecolor="0.6",
                    lw=0.8,
                    label=label,
                    zorder=2,
                )
        ax.plot(time, table[f"{target}_start"].values, ".", ms=4, color="tab:orange", label="model, start")
        ax.plot(time, table[f"{target}_calibrated"].values, ".", ms=4, color="tab:blue", label="model, calibrated")
        units = table[f"{target}_observed"].attrs.get("units", "")
        ax.set_ylabel(f"{target} ({units})" if units else target)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, ncol=4, loc="best")
    fig.suptitle(title, fontsize=10)
    return fig


def fit_scatter_figure(table: xr.Dataset, targets: list[str], report: dict, *, title: str = ""):
    """Per target: calibrated model against observation (1:1 line), fitted and held-out points, with the
    RMSE and R^2 of each after calibration."""
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 4.4), squeeze=False, layout="constrained")
    held = table["held_out"].values.astype(bool)
    for ax, target in zip(axes[0], targets, strict=True):
        observed, model = table[f"{target}_observed"].values, table[f"{target}_calibrated"].values
        for mask, role, face in ((~held, "fitted", "tab:blue"), (held, "held_out", "none")):
            if mask.any():
                after = report["scores"][role][target]["after"]
                ax.scatter(
                    observed[mask],
                    model[mask],
                    s=12,
                    facecolors=face,
                    edgecolors="tab:blue",
                    label=f"{role.replace('_', ' ')}: RMSE {after['rmse']:.3g}, R² {after['r2']:.2f}",
                )
        low, high = np.nanmin([observed, model]), np.nanmax([observed, model])
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--")
        units = table[f"{target}_observed"].attrs.get("units", "")
        ax.set_xlabel(f"observed {target} ({units})")
        ax.set_ylabel(f"calibrated model {target}")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return fig


def fit_residuals_figure(table: xr.Dataset, targets: list[str], *, title: str = ""):
    """Per target: (calibrated model - observation) / sigma against time, held-out points open."""
    fig, axes = _fit_panels(targets)
    time = table["time"].values
    held = table["held_out"].values.astype(bool)
    for ax, target in zip(axes, targets, strict=True):
        residual = (table[f"{target}_calibrated"].values - table[f"{target}_observed"].values) / table[
            f"{target}_sigma"
        ].values
        ax.axhspan(-1, 1, color="0.9", lw=0)
        ax.axhline(0, color="0.4", lw=1)
        for mask, label, face in ((~held, "fitted", "tab:blue"), (held, "held out", "none")):
            if mask.any():
                ax.scatter(time[mask], residual[mask], s=10, facecolors=face, edgecolors="tab:blue", label=label)
        ax.set_ylabel(f"{target}: (model − obs) / σ")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def validation_period_figure(table: xr.Dataset, targets: list[str], *, longitude: float | None = None, title: str = ""):
    """Per target, over the validation period (the held-out observations; where none was held out, the fitted
    ones, and the figure says so): the mean diurnal cycle by half-hour of day (local mean solar time with a
    ``longitude``, else UTC) of the observation (± its spread in the bin) and of the model at the start and
    calibrated, with the observations per bin; and the time series, observations with their sigma as error bars.
    Only cells where SCOPE gave a usable value at both points enter a composite (the same cells as the scores)."""
    from .holdout import COMPOSITE_BIN_HOURS, diurnal_composite, in_role  # imports SCOPE (torch): only needed here

    held_out = in_role(table, "held_out")
    shown = held_out if held_out.any() else in_role(table, "fitted")
    time = table["time"].values
    dates = pd.DatetimeIndex(time[shown])
    span = f"{dates.min():%Y-%m-%d %H:%M} to {dates.max():%Y-%m-%d %H:%M} UTC, {int(shown.sum())} observations"
    period = (
        f"validation period (held out of the fit): {span}"
        if held_out.any()
        else f"no observation was held out of the fit: the fit period is shown, {span}"
    )
    hour_axis = (
        "UTC time of day (h)" if longitude is None else f"local mean solar time (h) = UTC + {longitude:.2f}° / 15"
    )
    fig, axes = plt.subplots(
        len(targets),
        2,
        figsize=(13, 3.3 * len(targets) + 0.9),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"width_ratios": [1, 2]},
    )
    for (cycle, series), target in zip(axes, targets, strict=True):
        units = table[f"{target}_observed"].attrs.get("units", "")
        label = f"{target} ({units})" if units else target
        composite = diurnal_composite(table, target, shown, longitude=longitude)
        hours = composite.index.values
        counts = cycle.twinx()
        counts.bar(hours, composite["n"].values, width=0.8 * COMPOSITE_BIN_HOURS, color="0.88", label="observations")
        counts.set_ylim(0, 3 * max(int(composite["n"].max()) if len(composite) else 1, 1))  # bars in the lower third
        counts.set_ylabel("observations per half-hour", color="0.5", fontsize=8)
        counts.tick_params(axis="y", colors="0.5", labelsize=8)
        cycle.set_zorder(counts.get_zorder() + 1)  # the cycle over the count bars
        cycle.patch.set_visible(False)
        cycle.errorbar(
            hours,
            composite["observed"].values,
            yerr=composite["observed_sd"].values,
            fmt="o-",
            ms=4,
            color="k",
            ecolor="0.5",
            capsize=2,
            lw=1,
            label="observed (mean ± sd)",
        )
        cycle.plot(hours, composite["start"].values, "s--", ms=3, color="tab:orange", label="model, start")
        cycle.plot(hours, composite["calibrated"].values, "^-", ms=3, color="tab:blue", label="model, calibrated")
        left_out = int(shown.sum()) - int(composite["n"].sum())
        cycle.set_title(
            f"{target}: mean by half-hour of day, n = {int(composite['n'].sum())}"
            + (f"\n({left_out} without a usable SCOPE value left out)" if left_out else ""),
            fontsize=9,
        )
        if len(hours):  # an hour of margin: daily means around noon fill one bin
            cycle.set_xlim(hours.min() - 1.0, hours.max() + 1.0)
        cycle.set_xlabel(hour_axis, fontsize=9)
        cycle.set_ylabel(label)
        cycle.grid(True, alpha=0.3)
        series.errorbar(
            time[shown],
            table[f"{target}_observed"].values[shown],
            yerr=table[f"{target}_sigma"].values[shown],
            fmt="o",
            ms=3,
            mfc="none" if held_out.any() else "k",
            mec="k",
            ecolor="0.6",
            lw=0.8,
            label="observed ± σ",
            zorder=2,
        )
        for when, colour in (("start", "tab:orange"), ("calibrated", "tab:blue")):
            model = table[f"{target}_{when}"].values[shown]  # NaN where SCOPE gave no usable value: not drawn
            series.plot(time[shown], model, ".", ms=4, color=colour, label=f"model, {when}")
        series.set_title(f"{target}: time series", fontsize=9)
        series.set_ylabel(label)
        series.tick_params(axis="x", rotation=30)
        series.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="best")
    axes[0, 1].legend(fontsize=8, ncol=3, loc="best")
    fig.suptitle(f"{title}\n{period}" if title else period, fontsize=10)
    return fig


def pixel_maps_figure(maps: xr.Dataset, parameters, *, title: str = ""):
    """Per parameter (rows): the twin's truth where there is one, the per-pixel estimate on the truth's colour
    scale, the estimate's error in recovery-zone units (|error| <= 1: recovered), and its Laplace sd."""
    columns = ["truth", "estimate", "error / recovery zone", "Laplace sd"]
    fig, axes = plt.subplots(len(parameters), 4, figsize=(13, 3.0 * len(parameters)), squeeze=False)
    for row, parameter in zip(axes, parameters, strict=True):
        estimate = maps[parameter.name]
        truth = maps.get(f"truth_{parameter.name}")
        shown = [truth, estimate] if truth is not None else [estimate]
        low = min(float(field.min()) for field in shown)
        high = max(float(field.max()) for field in shown)
        panels = [
            (truth, dict(vmin=low, vmax=high, cmap="viridis")),
            (estimate, dict(vmin=low, vmax=high, cmap="viridis")),
            (
                None if truth is None else (estimate - truth) / (RECOVERY_ZONE * parameter.span),
                dict(vmin=-1, vmax=1, cmap="RdBu_r"),
            ),
            (maps[f"sd_{parameter.name}"], dict(cmap="magma")),
        ]
        for ax, column, (field, style) in zip(row, columns, panels, strict=True):
            ax.set_title(f"{parameter_label(parameter.name)}: {column}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if field is None:
                ax.text(0.5, 0.5, "no truth (observations from a file)", ha="center", va="center", fontsize=8)
                continue
            image = ax.imshow(field.transpose("y", "x").values, origin="upper", **style)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sites_figure(table: pd.DataFrame, *, title: str = ""):
    """Per problem and parameter (panels): each site's estimates (x: site; one marker per method and observation
    set, error bars: the row's sd), the truth as a black bar where the twin has one."""
    panels = list(dict.fromkeys(zip(table["problem"], table["parameter"], strict=True)))
    sites = list(dict.fromkeys(table["site"]))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 4.2 * nrows), squeeze=False)
    for ax, (problem, name) in zip(axes.flat, panels, strict=False):
        rows = table[(table["problem"] == problem) & (table["parameter"] == name)]
        runs = list(dict.fromkeys(rows["observations"] + " " + rows["method"]))
        for index, run in enumerate(runs):
            mine = rows[rows["observations"] + " " + rows["method"] == run]
            x = np.array([sites.index(site) for site in mine["site"]]) + 0.3 * (index / max(len(runs) - 1, 1) - 0.5)
            ax.errorbar(x, mine["estimate"], yerr=mine["sd"].fillna(0.0), fmt="o", ms=4, capsize=2, label=run)
        truths = rows.groupby("site", sort=False)["truth"].first().dropna()
        ax.hlines(
            truths.values,
            [sites.index(s) - 0.4 for s in truths.index],
            [sites.index(s) + 0.4 for s in truths.index],
            colors="black",
            lw=1.5,
            label="truth",
        )
        ax.set_xticks(range(len(sites)), sites, fontsize=8, rotation=15)
        ax.set_xlim(-0.6, len(sites) - 0.4)
        ax.set_title(f"{problem}: {parameter_label(name)}", fontsize=9)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
