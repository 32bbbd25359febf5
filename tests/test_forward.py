import numpy as np
import pytest
import torch
import xarray as xr
from scope.energy import EnergyBalanceOptions
from test_bridge_inputs import SETTINGS, chain  # noqa: F401 - shared fixture

from scopecal import forward
from scopecal import inputs as scope_inputs


@pytest.fixture(scope="module")
def runner(scope_assets):
    return forward.build_runner(scope_assets, device=torch.device("cpu"), dtype=torch.float64)


def test_reference_scene_reflectance(runner):
    """scope-rtm's documented scene: Cab 45, Cw 0.010, Cdm 0.012, LAI 2.2, tts 30, tto 20, psi 15, soil spectrum 1."""
    scene = dict(Cab=45.0, Cw=0.010, Cdm=0.012, LAI=2.2, tts=30.0, tto=20.0, psi=15.0, soil_spectrum=1.0)
    tensors = {name: torch.tensor([value], dtype=torch.float64) for name, value in scene.items()}
    rsot = forward.run_tensors(runner, "reflectance", tensors, ["rsot"])["rsot"][0]
    wavelength = runner.fluspect.spectral.wlP
    measured = [float(rsot[wavelength == band][0]) for band in (650.0, 865.0, 1600.0)]
    np.testing.assert_allclose(measured, [0.0471382, 0.4100650, 0.2699489], atol=1e-6)


def test_one_energy_balance_solve_matches_scope_rtm_branches(runner, chain, scope_assets):  # noqa: F811
    _, biophysics, forcing, angles = chain
    prepared = scope_inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="energy-balance", scope_root=scope_assets, **SETTINGS
    )
    stacked = forward.stack_cells(prepared, device=torch.device("cpu"), dtype=torch.float64)
    # scope-rtm's branches run its own stopping rule: ours under the same rule gives the same numbers
    ours = forward.run_tensors(
        runner,
        "energy-balance",
        stacked.tensors,
        ["F740", "Loutt", "lEtot", "converged"],
        energy_options=EnergyBalanceOptions(),
    )
    fluorescence = runner.run_scope_tensors(
        stacked.tensors, workflow="energy_balance_fluorescence", output_vars=["F740", "lEtot"], chunk_size=None
    )
    thermal = runner.run_scope_tensors(
        stacked.tensors, workflow="energy_balance_thermal", output_vars=["Loutt"], chunk_size=None
    )
    torch.testing.assert_close(ours["F740"], fluorescence["F740"])
    torch.testing.assert_close(ours["lEtot"], fluorescence["lEtot"])
    torch.testing.assert_close(ours["Loutt"], thermal["Loutt"])
    assert bool(ours["converged"].all())


def test_cells_outside_the_field_come_back_nan(chain, scope_assets):  # noqa: F811
    _, biophysics, forcing, angles = chain
    prepared = scope_inputs.prepare_inputs(
        biophysics, forcing, angles, workflow="thermal", scope_root=scope_assets, **SETTINGS
    )
    outputs = forward.run_forward(prepared, "thermal", scope_root=scope_assets, device="cpu")
    inside = prepared["field_mask"].values
    loutt = outputs["Loutt"].transpose("y", "x", "time").values
    assert np.isfinite(loutt[inside]).all() and np.isnan(loutt[~inside]).all()
    assert outputs["Loutt"].attrs["units"] and outputs["LST"].attrs["units"] == "degC"
    assert outputs.attrs["torch_device"] == "cpu"


def test_unsolved_cells_are_reported():
    """A cell is solved within SOLVED_ENERGY_ERROR (10 W m-2), above scope-rtm's 1 W m-2 where it stops iterating:
    a cell cycling at 3 W m-2 is a solution, one at 12.5 W m-2 is not, and is named; NaN (outside the field) is
    not a solution either, and not named."""
    energy_error = xr.DataArray(
        np.array([[[3.0, 12.5, np.nan]]]),
        dims=("y", "x", "time"),
        coords={"time": np.array(["2021-06-01T10:07", "2021-07-01T10:09", "2021-07-02T10:09"], "datetime64[ns]")},
    )
    outputs = xr.Dataset({"max_error": energy_error, "counter": energy_error * 0 + 20, "lEtot": energy_error * 0})
    lines = forward.report_convergence(outputs)
    assert lines == [
        "energy balance unsolved at pixel (y=0, x=0), 2021-07-01T10:09: energy error 12.5 W m-2 after 20 iterations"
    ]
    assert forward.solved(outputs).values.ravel().tolist() == [True, False, False]
    assert forward.report_convergence(outputs.drop_vars("max_error")) == []


def test_auto_device_is_cpu_without_a_gpu():
    assert forward.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
