"""A problem's posteriors side by side: Laplace at the truth, NUTS (the reference) and amortised NPE per observation
set, with their diagnostics, costs and whether NPE agrees with NUTS; and a corner figure per set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import ticker

from ..figures import parameter_label  # also selects matplotlib's Agg backend
from ..problems import Problem
from ..tables import markdown_table

# NPE agrees with NUTS on a parameter when its mean lies within this many NUTS standard deviations of NUTS' mean ...
MEAN_TOLERANCE = 0.3
# ... and its standard deviation within this fraction of NUTS'
SD_TOLERANCE = 0.25
# NPE's expected coverage of held-out simulations passes within this of the nominal level; NUTS converged below
# this R-hat
COVERAGE_TOLERANCE = 0.05
R_HAT_LIMIT = 1.01
Z95 = 1.6448536269514722  # the standard normal's 95% quantile: a Gaussian's 5-95% interval is mean -+ Z95 sd
METHOD_COLOURS = {"mcmc": "tab:blue", "npe": "tab:orange"}
LAPLACE_COLOUR = "tab:green"
SCATTER_POINTS = 2000  # per method in a corner panel
BINS = 30

# a row's columns: which samples, their summary, the checks, then one value per (set, method) rather than per
# parameter (COST_COLUMNS); posterior_table puts the correlations r_<name> after the summary
SUMMARY_COLUMNS = ["observations", "parameter", "method", "truth", "mean", "sd", "q5", "q95"]
CHECK_COLUMNS = [
    "r_hat",
    "ess_bulk",
    "ess_tail",
    "coverage_50",
    "coverage_90",
    "mean_shift_mcmc_sd",
    "sd_ratio_mcmc",
    "agrees_with_mcmc",
]
COST_COLUMNS = [
    "predictive_90",
    "wall_s",
    "model_evaluations",
    "gradient_evaluations",
    "simulations",
    "simulation_s",
    "training_s",
]
COLUMNS = SUMMARY_COLUMNS + CHECK_COLUMNS + COST_COLUMNS


def physical_samples(idata: az.InferenceData, problem: Problem) -> np.ndarray:
    """(samples, parameters) physical values of every chain and draw."""
    return np.column_stack([idata.posterior[name].values.reshape(-1) for name in problem.names])


def summary(samples: np.ndarray, problem: Problem) -> pd.DataFrame:
    """Mean, sd (ddof 1, as ArviZ's), 5% and 95% quantiles of each parameter's samples, and its correlation
    with every parameter (``r_<name>``): the trade-offs a best fit hides."""
    table = pd.DataFrame(
        {
            "mean": samples.mean(axis=0),
            "sd": samples.std(axis=0, ddof=1),
            "q5": np.quantile(samples, 0.05, axis=0),
            "q95": np.quantile(samples, 0.95, axis=0),
        },
        index=pd.Index(problem.names, name="parameter"),
    )
    if len(problem.names) > 1:
        correlation = np.corrcoef(samples, rowvar=False)
        table = table.assign(**{f"r_{name}": correlation[:, i] for i, name in enumerate(problem.names)})
    return table


def correlation_columns(problem: Problem) -> list[str]:
    return [f"r_{name}" for name in problem.names] if len(problem.names) > 1 else []


def laplace_rows(sensitivity: pd.DataFrame) -> pd.DataFrame:
    """The Laplace posterior of the sensitivity table: a Gaussian at the truth with its posterior_sd."""
    table = sensitivity.set_index("parameter")
    sd = table["posterior_sd"]
    return pd.DataFrame(
        {"mean": table["truth"], "sd": sd, "q5": table["truth"] - Z95 * sd, "q95": table["truth"] + Z95 * sd}
    )


def mcmc_rows(idata: az.InferenceData, diagnostics: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """The diagnostics table with the samples' correlations and the job's wall time and model evaluations, summed
    over its chains."""
    attrs = idata.posterior.attrs
    correlations = summary(physical_samples(idata, problem), problem)[correlation_columns(problem)]
    return diagnostics.join(correlations).assign(
        wall_s=float(np.sum(attrs["seconds"])),
        model_evaluations=int(np.sum(attrs["evaluations"])),
        gradient_evaluations=int(np.sum(attrs["gradient_evaluations"])),
    )


def npe_rows(
    idata: az.InferenceData,
    problem: Problem,
    coverage: pd.DataFrame | None,
    training: Mapping[str, float] | None,
) -> pd.DataFrame:
    """Summary of the NPE samples with the network's coverage, its simulation and training times and the
    sampling time (``wall_s``)."""
    table = summary(physical_samples(idata, problem), problem).assign(wall_s=float(idata.posterior.attrs["seconds"]))
    if coverage is not None:
        for level in (0.5, 0.9):
            at_level = coverage[np.isclose(coverage["level"], level)].set_index("parameter")["coverage"]
            table[f"coverage_{round(level * 100)}"] = at_level
    if training is not None:
        table = table.assign(
            simulations=training["simulations"],
            simulation_s=training["simulation_seconds"],
            training_s=training["training_seconds"],
        )
    return table


def agreement(npe: pd.DataFrame, mcmc: pd.DataFrame) -> pd.DataFrame:
    """NPE's mean shift in NUTS standard deviations, its sd over NUTS', and pass where both are within tolerance."""
    shift = (npe["mean"] - mcmc["mean"]).abs() / mcmc["sd"]
    ratio = npe["sd"] / mcmc["sd"]
    passed = (shift <= MEAN_TOLERANCE) & ((ratio - 1).abs() <= SD_TOLERANCE)
    return npe.assign(mean_shift_mcmc_sd=shift, sd_ratio_mcmc=ratio, agrees_with_mcmc=np.where(passed, "pass", "fail"))


def posterior_table(
    problem: Problem,
    observations: list[str],
    *,
    mcmc: Mapping[str, tuple[az.InferenceData, pd.DataFrame]] | None = None,
    npe: Mapping[str, az.InferenceData] | None = None,
    coverage: pd.DataFrame | None = None,
    training: Mapping[str, float] | None = None,
    laplace: tuple[Sequence[str], pd.DataFrame] | None = None,
    predictive: Mapping[str, xr.Dataset] | None = None,
) -> pd.DataFrame:
    """One row per (observation set, parameter, method), in the order laplace, mcmc, npe.

    ``mcmc``: per set, the NUTS result and its diagnostics (``mcmc.diagnostics``); ``npe``: per set, the NPE
    samples; ``coverage``, ``training``: the network's coverage table and training record
    (``stages.train_on_simulations``); ``laplace``: the sets of the design the sensitivity stage ran on (its
    Jacobian at the truth, so the same for every noise realisation) and its table. NPE rows
    of a set that NUTS sampled too say whether they agree with it (``agrees_with_mcmc``: pass or fail).
    ``predictive``: per set, its posterior predictive (``stages.predictive``), whose share of observations inside
    the 90% band each method's rows carry (``predictive_90``)."""
    mcmc, npe = mcmc or {}, npe or {}
    frames = []
    for name in observations:
        methods = {}
        if laplace is not None and name in laplace[0]:
            methods["laplace"] = laplace_rows(laplace[1])
        if name in mcmc:
            methods["mcmc"] = mcmc_rows(*mcmc[name], problem)
        if name in npe:
            methods["npe"] = npe_rows(npe[name], problem, coverage, training)
            if "mcmc" in methods:
                methods["npe"] = agreement(methods["npe"], methods["mcmc"])
        for method, frame in methods.items():
            if predictive and name in predictive and method in predictive[name]["sampler"]:
                frame = frame.assign(predictive_90=float(predictive[name]["inside_90"].sel(sampler=method)))
            frame = frame.reindex(problem.names).rename_axis("parameter").reset_index()
            frames.append(frame.assign(observations=name, method=method, truth=problem.truth))
    columns = SUMMARY_COLUMNS + correlation_columns(problem) + CHECK_COLUMNS + COST_COLUMNS
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def markdown(table: pd.DataFrame, problem: Problem) -> str:
    """The table as Markdown: the posteriors per parameter, the costs per set and method, and the verdict."""
    shown = table.drop(columns=COST_COLUMNS).dropna(axis=1, how="all")
    costs = table.drop_duplicates(["observations", "method"])[["observations", "method", *COST_COLUMNS]]
    costs = costs[costs["method"] != "laplace"].dropna(axis=1, how="all")
    return "\n".join(
        [
            f"# Posteriors: {problem.name}\n",
            *checks(table),
            "Physical units. laplace: Gaussian at the truth with the Laplace sd of the sensitivity stage (sets of its "
            "design); mcmc: NUTS, the reference (r_hat, ess from ArviZ); npe: amortised neural posterior (coverage_50, "
            "coverage_90: share of held-out prior simulations inside the central 50% and 90% intervals); r_<name>: the "
            "samples' correlation with that parameter.\n",
            markdown_table(shown.set_index("observations")),
            "## Predictive check and costs\n",
            "predictive_90: share of the set's observations inside their 90% posterior predictive band. Seconds; "
            "MCMC: all chains, model evaluations with and without gradient; NPE: wall_s is the sampling of the set, "
            "simulation_s and training_s are paid once for every set of the design.\n",
            markdown_table(costs.set_index("observations")),
        ]
    )


def checks(table: pd.DataFrame) -> list[str]:
    """The verdicts, first in the Markdown: NUTS' convergence, NPE's coverage of held-out simulations and its
    agreement with NUTS; a failed check names its parameters and sets."""
    lines = ["## Checks\n"]
    mcmc = table[table["method"] == "mcmc"]
    if not mcmc.empty:
        unconverged = mcmc[mcmc["r_hat"] > R_HAT_LIMIT]
        lines.append(
            f"MCMC: worst R-hat {mcmc['r_hat'].max():.3f}, lowest bulk ESS {mcmc['ess_bulk'].min():.0f}"
            + (
                f" (R-hat at most {R_HAT_LIMIT} on every parameter)."
                if unconverged.empty
                else f"; R-hat above {R_HAT_LIMIT}: "
                + ", ".join(f"{p} ({o})" for o, p in unconverged[["observations", "parameter"]].itertuples(index=False))
                + "."
            )
            + "\n"
        )
    npe = table[table["method"] == "npe"].drop_duplicates("parameter")
    if not npe.empty and npe["coverage_50"].notna().any():
        levels = {50: npe["coverage_50"], 90: npe["coverage_90"]}
        outside = [
            f"{parameter} at {level}% ({value:.0%})"
            for level, values in levels.items()
            for parameter, value in zip(npe["parameter"], values, strict=True)
            if abs(value - level / 100) > COVERAGE_TOLERANCE + 1e-12  # 0.85 against 0.9 is within
        ]
        lines.append(
            f"NPE coverage of held-out prior simulations within {COVERAGE_TOLERANCE * 100:.0f} points of 50% and "
            "90%: " + ("on every parameter." if not outside else "not for " + ", ".join(outside) + ".") + "\n"
        )
    npe_sd = table[table["method"] == "npe"].set_index(["observations", "parameter"])["sd"]
    laplace_sd = table[table["method"] == "laplace"].set_index(["observations", "parameter"])["sd"]
    ratio = (npe_sd / laplace_sd).dropna()
    if not ratio.empty:  # a posterior as wide as the prior passes the coverage check: this shows its width
        lines.append(
            f"NPE's standard deviations are {ratio.min():.3g} to {ratio.max():.3g} times the Laplace ones at the "
            "truth.\n"
        )
    compared = table["agrees_with_mcmc"].dropna()
    if compared.empty:
        verdict = "NPE was not compared with MCMC (one of them did not run on any set)."
    else:
        failed = table.loc[compared.index[compared == "fail"], ["observations", "parameter"]]
        verdict = (
            f"NPE agrees with MCMC (mean within {MEAN_TOLERANCE} MCMC sd, sd within {SD_TOLERANCE:.0%}) on "
            f"{(compared == 'pass').sum()} of {len(compared)} parameters x sets"
            + (
                "."
                if failed.empty
                else "; not on " + ", ".join(f"{p} ({o})" for o, p in failed.itertuples(index=False)) + "."
            )
        )
    lines.append(verdict + "\n")
    return lines


def corner_figure(
    problem: Problem, samples: Mapping[str, np.ndarray], *, laplace: pd.DataFrame | None = None, title: str = ""
):
    """Pairwise scatter and marginal histograms of each method's (samples, parameters) physical values, the
    truth marked where there is one; log axes for log-transformed parameters. ``laplace`` (mean and sd per
    parameter, :func:`laplace_rows`): its Gaussian marginals on the diagonal."""
    n = len(problem.names)
    size = min(max(2.4 * n + 1.2, 5.0), 16.0)
    fig, axes = plt.subplots(n, n, figsize=(size, size), squeeze=False, layout="constrained")
    logs = [p.transform == "log" for p in problem.parameters]
    everything = np.concatenate(list(samples.values()))
    limits = [(everything[:, i].min(), everything[:, i].max()) for i in range(n)]
    rng = np.random.default_rng(0)
    for row in range(n):
        for column in range(n):
            ax = axes[row, column]
            if column > row:
                ax.set_visible(False)
                continue
            for method, values in samples.items():
                colour = METHOD_COLOURS.get(method, "tab:gray")
                if row == column:
                    low, high = limits[column]
                    bins = np.geomspace(low, high, BINS + 1) if logs[column] else np.linspace(low, high, BINS + 1)
                    ax.hist(values[:, column], bins=bins, density=True, histtype="step", color=colour, label=method)
                    if laplace is not None and method == next(iter(samples)):
                        mean, sd = laplace.loc[problem.names[column], ["mean", "sd"]]
                        grid = (np.geomspace if logs[column] else np.linspace)(low, high, 200)
                        density = np.exp(-0.5 * ((grid - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
                        ax.plot(grid, density, color=LAPLACE_COLOUR, lw=1, ls=":", label="laplace")
                else:
                    shown = values[rng.permutation(len(values))[:SCATTER_POINTS]]
                    ax.scatter(shown[:, column], shown[:, row], s=2, alpha=0.3, color=colour, rasterized=True)
            if problem.has_truth:
                ax.axvline(problem.truth[column], color="black", lw=1, ls="--")
                if row != column:
                    ax.axhline(problem.truth[row], color="black", lw=1, ls="--")
                    ax.plot(problem.truth[column], problem.truth[row], "k*", ms=9)
            if logs[column]:
                _log_axis(ax, "x", limits[column])
            if row != column and logs[row]:
                _log_axis(ax, "y", limits[row])
            if row == column:
                ax.set_yticks([])
            if row == n - 1:
                ax.set_xlabel(parameter_label(problem.names[column]))
            if column == 0 and row > 0:
                ax.set_ylabel(parameter_label(problem.names[row]))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if problem.has_truth:
        handles.append(plt.Line2D([], [], color="black", ls="--"))
        labels.append("truth")
    if n > 1:  # in the empty upper triangle
        fig.legend(handles, labels, loc="upper right", fontsize="small")
    else:
        axes[0, 0].legend(handles, labels, loc="upper left", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def _log_axis(ax, which: str, limits: tuple[float, float]) -> None:
    """A log axis with a few plain labels: matplotlib labels the minor ticks of a short range, and they collide."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    low, high = limits
    axis.set_major_locator(ticker.MaxNLocator(4) if high < 10 * low else ticker.LogLocator(subs=(1.0, 3.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:.4g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def predictive_figure(predictive: xr.Dataset, *, title: str = ""):
    """Per target, each method's 90% posterior predictive band (and median) against the observed value of every
    observation, beside the 1:1 line: a band that misses the line misses its observation."""
    targets = list(predictive["target"].values)
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 4.2), squeeze=False, layout="constrained")
    for ax, target in zip(axes[0], targets, strict=True):
        observed = predictive["observed"].sel(target=target).values
        for method in predictive["sampler"].values:
            low, median, high = predictive["band"].sel(sampler=method, target=target).values
            share = float(predictive["inside_90"].sel(sampler=method))
            ax.errorbar(
                observed,
                median,
                yerr=[median - low, high - median],
                fmt="o",
                ms=3,
                alpha=0.6,
                color=METHOD_COLOURS.get(str(method), "tab:gray"),
                label=f"{method} ({share:.0%} inside)",
            )
        limits = [np.nanmin(observed), np.nanmax(observed)]
        ax.plot(limits, limits, color="black", lw=1, ls="--")
        ax.set_xlabel(f"observed {target}")
        ax.set_ylabel(f"predicted {target} (median, 90% band)")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig
