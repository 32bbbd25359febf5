"""Forward SCOPE on scope-rtm's tensor path: stack the field's cells once, run, unstack.

Only cells inside the field are simulated; cells outside come back NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from scipy.constants import Stefan_Boltzmann
from scope import ScopeGridRunner, campbell_lidf
from scope.energy import EnergyBalanceOptions
from scope.runners import grid as scope_grid
from scope.variables import annotate_dataset

# scope-rtm 0.4.13 draws a tqdm bar on every call (one per calibration evaluation); TQDM_DISABLE only works
# if set before torch imports tqdm, so switch off the helper the bars come from.
scope_grid._tqdm = None

STACK_DIMS = ("y", "x", "time")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
# scope-rtm's tensor workflow for each of ours (the energy balance is run by energy_balance_outputs)
TENSOR_WORKFLOW = {"reflectance": "reflectance", "fluorescence": "layered_fluorescence", "thermal": "thermal"}
# What the forward stage writes for each workflow
OUTPUTS = {
    "reflectance": ("rsot",),
    "fluorescence": ("F685", "F740", "F761", "LoutF", "EoutF", "LoF_"),
    "thermal": ("Loutt", "Eoutt"),
    "energy-balance": (
        "Rntot",
        "lEtot",
        "Htot",
        "Gtot",
        "Actot",
        "Tcave",
        "Tsave",
        "F685",
        "F740",
        "LoutF",
        "Loutt",
        "Eoutt",
        "converged",
        "counter",
        "max_error",
    ),
}
# The energy balance's stopping rule: 20 iterations for every cell. scope-rtm's default iterates a whole call until
# every cell is within 1 W m-2 (at most 100), so a cell's result depends on the cells that share its call (H by up to
# 0.75 W m-2 on tower weather, ../shared/notes); a fixed count makes each cell's result its own: chunked, batched
# and one-by-one runs agree. Cost and agreement: benchmarks/energy_balance_rule.py.
ENERGY_BALANCE_RULE = EnergyBalanceOptions(fixed_iterations=True, max_iter=20)
# A cell is solved when its energy-balance residual after the rule (output `max_error`) is at most this. scope-rtm
# stops iterating a cell within 1 W m-2 (its `converged`), but on tower weather some cells cycle at 1-5 W m-2
# without settling, after 20 iterations as after 100: on the synthetic tower's 211 half-hours, up to 5.1 W m-2 inside
# the fitted bounds (rss 10-1000, Vcmax25 50-90) and 16 W m-2 at a corner of them. Counting the cycling cells as
# failures walled the optimisers off from the optimum (at 1 W m-2, then at 5); a cycle of a few W m-2 is a fraction
# of a flux observation's error (10-20 W m-2), while failing cells reach tens of W m-2 to 1e16.
SOLVED_ENERGY_ERROR = 10.0  # W m-2
# Cells per scope-rtm call when scope.chunk_size is null. One call's per-cell cost grows with its size beyond about
# 100 cells (memory-bound intermediates), and its autograd memory grows with it. Value + gradient per chunk size,
# float64, one thread, 2-core CPU (busy), ms per cell and peak MiB: fluorescence (600 cells) 36/148 at 25, 26/806 at
# 100, 29/1927 at 200, 29/5422 at 600; thermal (800 cells) 3.6/42 at 25, 2.9/155 at 100, 6.0/900 at 800; energy
# balance (300 cells) 79/524 at 25, 67/779 at 50, 84/2119 at 100, 72/5842 at 300. Not measured on a GPU, where
# larger chunks likely pay: set scope.chunk_size there. The energy balance's cost is flat in the chunk size.
CHUNK_SIZE = {"reflectance": 100, "fluorescence": 100, "thermal": 100, "energy-balance": 100}
FLUORESCENCE_FIELDS = ("F685", "F740", "F761", "LoutF", "EoutF", "LoF_", "F684")
THERMAL_FIELDS = ("Loutt", "Eoutt", "Lot_")
SPECTRAL_DIMS = {"rsot": "wavelength", "LoF_": "fluorescence_wavelength", "Lot_": "thermal_wavelength"}
# scope-rtm 0.4.13's registry gives these wavelength-integrated radiances the spectral unit
INTEGRATED_RADIANCE_UNITS = {"Loutt": "W m-2 sr-1", "LoutF": "W m-2 sr-1"}


def resolve_device(device: str) -> torch.device:
    """``auto`` = CUDA when a GPU is visible, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_runner(scope_root: str | Path, *, device: torch.device, dtype: torch.dtype) -> ScopeGridRunner:
    return ScopeGridRunner.from_scope_assets(
        lidf=campbell_lidf(57.0, device=device, dtype=dtype),
        device=device,
        dtype=dtype,
        scope_root_path=str(scope_root),
    )


@dataclass
class StackedCells:
    """Tensors over the field's cells (inside-field (y, x, time) points), and where they came from."""

    tensors: dict[str, torch.Tensor]
    cell_index: np.ndarray  # flat index into the (y, x, time) grid
    grid: xr.DataArray  # a (y, x, time) template


def stack_cells(inputs: xr.Dataset, *, device: torch.device, dtype: torch.dtype) -> StackedCells:
    """One tensor per input variable with the cell axis first, broadcasting field-constant ones."""
    grid = inputs["LAI"].transpose(*STACK_DIMS)
    inside = inputs["field_mask"].broadcast_like(grid).transpose(*STACK_DIMS).values.reshape(-1)
    cell_index = np.flatnonzero(inside)
    tensors = {}
    for name, variable in inputs.data_vars.items():
        if name == "field_mask" or not np.issubdtype(variable.dtype, np.number):
            continue
        extra = [dim for dim in variable.dims if dim not in STACK_DIMS]
        values = variable.broadcast_like(grid).transpose(*STACK_DIMS, *extra).values
        values = values.reshape(-1, *values.shape[3:])[cell_index]
        tensors[name] = torch.as_tensor(np.ascontiguousarray(values), dtype=dtype, device=device)
    return StackedCells(tensors=tensors, cell_index=cell_index, grid=grid)


def energy_balance_outputs(
    runner: ScopeGridRunner,
    tensors: Mapping[str, torch.Tensor],
    output_vars: Sequence[str],
    *,
    soil_heat_method: int = 2,
    options: EnergyBalanceOptions | None = None,
) -> dict[str, torch.Tensor]:
    """Fluxes, fluorescence and thermal radiance from ONE energy-balance solve.

    scope-rtm's public entry points solve the balance again for each branch
    (fluorescence, thermal); reusing one solution halves the cost. The
    helpers used are scope-rtm's own, pinned by its exact version.
    """
    varmap = {name: name for name in tensors}
    model = runner.energy_balance_model
    inputs = runner._build_energy_batch_inputs(
        tensors, varmap=varmap, hotspot_var=None, nlayers=None, soil_heat_method=soil_heat_method
    )
    energy = runner._solve_energy_batch(inputs, energy_options=options or ENERGY_BALANCE_RULE, biochem_options=None)
    outputs = {name: getattr(energy, name) for name in output_vars if hasattr(energy, name)}
    if any(name in FLUORESCENCE_FIELDS for name in output_vars):
        fluorescence = model._fluorescence_from_energy(
            energy=energy,
            leafbio=inputs.leafbio,
            soil_refl=inputs.soil_refl,
            lai=inputs.lai,
            tts=inputs.tts,
            tto=inputs.tto,
            psi=inputs.psi,
            Esun_sw=inputs.Esun_sw,
            Esky_sw=inputs.Esky_sw,
            hotspot=inputs.hotspot,
            lidf=inputs.lidf,
        )
        outputs.update({n: getattr(fluorescence, n) for n in output_vars if n in FLUORESCENCE_FIELDS})
    if any(name in THERMAL_FIELDS for name in output_vars):
        thermal = model._thermal_from_energy(
            energy=energy,
            lai=inputs.lai,
            tts=inputs.tts,
            tto=inputs.tto,
            psi=inputs.psi,
            thermal_optics=inputs.soil.thermal_optics,
            hotspot=inputs.hotspot,
            lidf=inputs.lidf,
            wlT=None,
        )
        outputs.update({n: getattr(thermal, n) for n in output_vars if n in THERMAL_FIELDS})
    return outputs


def chunk_slices(n_cells: int, chunk_size: int) -> list[slice]:
    """Consecutive slices of at most ``chunk_size`` cells covering ``n_cells``."""
    return [slice(start, min(start + chunk_size, n_cells)) for start in range(0, n_cells, chunk_size)]


def run_tensors(
    runner: ScopeGridRunner,
    workflow: str,
    tensors: Mapping[str, torch.Tensor],
    output_vars: Sequence[str],
    *,
    chunk_size: int | None = None,
    energy_options: EnergyBalanceOptions | None = None,
) -> dict[str, torch.Tensor]:
    """Run one workflow on stacked tensors, one scope-rtm call per chunk of ``chunk_size`` cells.

    ``chunk_size`` None takes ``CHUNK_SIZE[workflow]``. ``energy_options`` is the energy balance's stopping rule
    (None: ``ENERGY_BALANCE_RULE``).
    """
    n_cells = next(iter(tensors.values())).shape[0]
    pieces = []
    for cells in chunk_slices(n_cells, chunk_size or CHUNK_SIZE[workflow]):
        chunk = {name: tensor[cells] for name, tensor in tensors.items()}
        if workflow == "energy-balance":
            pieces.append(energy_balance_outputs(runner, chunk, output_vars, options=energy_options))
        else:
            pieces.append(
                runner.run_scope_tensors(
                    chunk, workflow=TENSOR_WORKFLOW[workflow], output_vars=list(output_vars), chunk_size=None
                )
            )
    return {name: torch.cat([piece[name] for piece in pieces]) for name in pieces[0]}


def unstack_outputs(
    outputs: Mapping[str, torch.Tensor], stacked: StackedCells, spectral_coords: Mapping[str, np.ndarray]
) -> xr.Dataset:
    """Put cell outputs back on the (y, x, time) grid, NaN outside the field."""
    grid = stacked.grid
    n_grid = grid.size
    data_vars = {}
    for name, tensor in outputs.items():
        values = tensor.detach().to("cpu", torch.float64).numpy()
        full = np.full((n_grid, *values.shape[1:]), np.nan)
        full[stacked.cell_index] = values
        dims = list(STACK_DIMS)
        coords = {dim: grid[dim].values for dim in STACK_DIMS}
        if values.ndim == 2:
            dim = SPECTRAL_DIMS.get(name, f"{name}_dim")
            dims.append(dim)
            if dim in spectral_coords and len(spectral_coords[dim]) == values.shape[1]:
                coords[dim] = spectral_coords[dim]
        data_vars[name] = xr.DataArray(full.reshape(*grid.shape, *values.shape[1:]), dims=dims, coords=coords)
    dataset = annotate_dataset(xr.Dataset(data_vars))
    for name, units in INTEGRATED_RADIANCE_UNITS.items():
        if name in dataset:
            dataset[name].attrs["units"] = units
    if "Eoutt" in dataset:
        dataset["LST"] = (dataset["Eoutt"] / Stefan_Boltzmann) ** 0.25 - 273.15
        dataset["LST"].attrs.update(
            units="degC", long_name="broadband radiometric surface temperature from Eoutt (emissivity 1)"
        )
    return dataset


def run_forward(
    inputs: xr.Dataset,
    workflow: str,
    *,
    scope_root: str | Path,
    device: str = "auto",
    dtype: str = "float64",
    chunk_size: int | None = None,
    output_vars: Sequence[str] | None = None,
) -> xr.Dataset:
    """Simulate the field's cells with scope-rtm and return the outputs on the input grid."""
    torch_device = resolve_device(device)
    torch_dtype = DTYPES[dtype]
    runner = build_runner(scope_root, device=torch_device, dtype=torch_dtype)
    stacked = stack_cells(inputs, device=torch_device, dtype=torch_dtype)
    with torch.no_grad():
        outputs = run_tensors(
            runner, workflow, stacked.tensors, output_vars or OUTPUTS[workflow], chunk_size=chunk_size
        )
    spectral = runner.fluspect.spectral
    coords = {"wavelength": spectral.wlP.cpu().numpy(), "fluorescence_wavelength": spectral.wlF.cpu().numpy()}
    dataset = unstack_outputs(outputs, stacked, coords)
    dataset.attrs.update(scope_workflow=workflow, torch_device=str(torch_device), torch_dtype=dtype)
    return dataset


def energy_solved(max_error):
    """Where an energy-balance residual (tensor, array or DataArray) is within ``SOLVED_ENERGY_ERROR``; NaN is not."""
    return max_error <= SOLVED_ENERGY_ERROR


def solved(outputs: xr.Dataset) -> xr.DataArray:
    """(y, x, time) True where SCOPE gave a usable value: every output finite and, for the energy balance
    (``max_error`` among the outputs), a residual within ``SOLVED_ENERGY_ERROR``. An unsolved cell's fluxes are not
    a solution (at low wind they can reach 1e16 W m-2)."""
    usable = np.isfinite(outputs.to_array()).all("variable")
    if "max_error" in outputs:
        usable = usable & energy_solved(outputs["max_error"])
    return usable.transpose(*STACK_DIMS)


def report_convergence(outputs: xr.Dataset) -> list[str]:
    """One line per energy-balance cell left unsolved (empty for other workflows)."""
    if "max_error" not in outputs:
        return []
    unsolved = (outputs["max_error"] > SOLVED_ENERGY_ERROR).transpose(*STACK_DIMS)  # NaN: outside the field
    lines = []
    for iy, ix, it in np.argwhere(unsolved.values):
        cell = outputs.isel(y=iy, x=ix, time=it)
        lines.append(
            f"energy balance unsolved at pixel (y={iy}, x={ix}), {str(cell['time'].values)[:16]}: "
            f"energy error {float(cell['max_error']):.3g} W m-2 after {int(cell['counter'])} iterations"
        )
    return lines
