"""Quicklook figures of forward SCOPE outputs: maps of the field and time series per pixel."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

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
