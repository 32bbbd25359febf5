"""Flux-tower observation files: FLUXNET and PLUMBER2 presets, interval stamps, and energy-balance closure.

The same synthetic half-hours written as a FLUXNET CSV, a PLUMBER2-style NetCDF and a plain CSV with declared
units give the same observation set, hence the same fit; the closure choices do what the README says."""

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_bridge_inputs import chain  # noqa: F401 - shared fixture
from test_observations import inside_pixel, matched, pixel_latlon

from scopecal import observations, problems

UTC_OFFSET = 1  # the site's local standard time
STARTS = pd.date_range("2021-07-05 09:00", periods=8, freq="30min").append(
    pd.date_range("2021-08-10 09:00", periods=8, freq="30min")
)  # interval starts, local standard time
RNG = np.random.default_rng(3)
LE = RNG.uniform(150, 300, STARTS.size)
H = RNG.uniform(50, 120, STARTS.size)
RN = (LE + H) / 0.8 + 40.0 + RNG.uniform(-5, 5, STARTS.size)  # closure about 80 %
G = np.full(STARTS.size, 40.0)
LE_QC = np.array([0, 0, 1, 0, 0, 0, 0, 0] * 2)  # a gap-filled value is not fitted
LE[5] = np.nan  # a gap (-9999 in the files)


def problem_spec(entry):
    return {
        "workflow": "energy-balance",
        "parameters": {"rss": dict(lower=10.0, upper=5000.0, transform="log", starts=[500.0])},
        "targets": {"lEtot": {"absolute": 30.0}, "Htot": {"absolute": 30.0}},
        "observations": {"tower": entry},
    }


def tower_set(biophysics, **entry):
    lat, lon = pixel_latlon(biophysics, *inside_pixel(biophysics))
    spec = {"location": {"lat": lat, "lon": lon}, "holdout": {"start": "2021-08-01", "end": "2021-08-31"}, **entry}
    problem = problems.problem_from_config("eb", problem_spec(spec))
    return observations.FileSet.from_problem(problem, "tower")


def fluxnet_csv(path, starts=STARTS, le=LE):
    table = pd.DataFrame(
        {
            "TIMESTAMP_START": starts.strftime("%Y%m%d%H%M"),
            "TIMESTAMP_END": (starts + pd.Timedelta("30min")).strftime("%Y%m%d%H%M"),
            "LE_F_MDS": le,
            "LE_F_MDS_QC": LE_QC,
            "H_F_MDS": H,
            "H_F_MDS_QC": 0,
            "NETRAD": RN,
            "G_F_MDS": G,
            "LE_CORR": le * 1.25,
            "H_CORR": H * 1.25,
        }
    )
    table.fillna(-9999).to_csv(path, index=False)
    return path


def plumber2_netcdf(path):
    data = {
        "Qle": LE,
        "Qle_qc": LE_QC.astype(float),
        "Qh": H,
        "Qh_qc": np.zeros(STARTS.size),
        "Rnet": RN,
        "Qg": G,
        "Qle_cor": LE * 1.25,
        "Qh_cor": H * 1.25,
    }
    dataset = xr.Dataset(
        {
            name: (("time", "x", "y"), np.nan_to_num(values, nan=-9999.0)[:, None, None])
            for name, values in data.items()
        },
        coords={"time": STARTS.values},
    )
    dataset["time"].attrs.update(info="Time stamp indicates start time")
    dataset.to_netcdf(path)
    return path


def test_fluxnet_plumber2_and_a_plain_csv_give_the_same_observations(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    offset = {"utc_offset": UTC_OFFSET}
    fluxnet = matched(
        tower_set(
            biophysics,
            file=str(fluxnet_csv(tmp_path / "f.csv")),
            format="fluxnet",
            time=offset,
            variables={"lEtot": {}, "Htot": {}},
        ),
        biophysics,
    )
    plumber2 = matched(
        tower_set(
            biophysics,
            file=str(plumber2_netcdf(tmp_path / "p.nc")),
            format="plumber2",
            time=offset,
            variables={"lEtot": {}, "Htot": {}},
        ),
        biophysics,
    )
    # a plain CSV: middles of the intervals in UTC with an ISO offset, LE in MJ m-2 h-1, H in W m-2
    middles = STARTS + pd.Timedelta("15min") - pd.Timedelta(hours=UTC_OFFSET)
    plain_path = tmp_path / "plain.csv"
    pd.DataFrame(
        {"time": [t.isoformat() + "Z" for t in middles], "LE": LE * 3600 / 1e6, "LE_QC": LE_QC, "H": H}
    ).to_csv(plain_path, index=False)
    plain = matched(
        tower_set(
            biophysics,
            file=str(plain_path),
            variables={
                "lEtot": {"name": "LE", "units": "MJ m-2 h-1", "quality": {"name": "LE_QC", "accept": [0]}},
                "Htot": {"name": "H", "units": "W m-2"},
            },
        ),
        biophysics,
    )
    iy, ix = inside_pixel(biophysics)
    series = fluxnet["lEtot"].isel(y=iy, x=ix)
    expected_times = middles[np.isfinite(LE) & (LE_QC == 0)]
    np.testing.assert_array_equal(series["time"].values, expected_times.values)
    np.testing.assert_allclose(series.values, LE[np.isfinite(LE) & (LE_QC == 0)], rtol=1e-12)
    for other in (plumber2, plain):
        xr.testing.assert_allclose(fluxnet.drop_attrs(), other.drop_attrs(), rtol=1e-12)
    assert fluxnet.attrs["closure_method"] == "measured"
    # July is the fit period; measured records only (the gap-filled one is left out, like the gap)
    july = np.isfinite(LE[:8]) & (LE_QC[:8] == 0)
    expected = (LE[:8][july] + H[:8][july]).sum() / (RN[:8][july] - G[:8][july]).sum()
    assert fluxnet.attrs["closure_fraction"] == pytest.approx(expected, rel=1e-12)


def test_interval_start_stamps_declared_as_ends_give_the_same_set(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    variables = {"lEtot": {}, "Htot": {}}
    as_start = matched(
        tower_set(
            biophysics,
            file=str(fluxnet_csv(tmp_path / "s.csv")),
            format="fluxnet",
            time={"utc_offset": UTC_OFFSET},
            variables=variables,
        ),
        biophysics,
    )
    ends = fluxnet_csv(tmp_path / "e.csv", starts=STARTS + pd.Timedelta("30min"))
    as_end = matched(
        tower_set(
            biophysics,
            file=str(ends),
            format="fluxnet",
            variables=variables,
            time={"utc_offset": UTC_OFFSET, "stamp": "end"},
        ),
        biophysics,
    )
    xr.testing.assert_identical(as_start, as_end.assign_attrs(source_file=as_start.attrs["source_file"]))


def test_closure_choices(chain, tmp_path, caplog):  # noqa: F811
    _, biophysics, _, _ = chain
    path = str(fluxnet_csv(tmp_path / "f.csv"))
    common = dict(file=path, format="fluxnet", time={"utc_offset": UTC_OFFSET}, variables={"lEtot": {}, "Htot": {}})
    iy, ix = inside_pixel(biophysics)
    measured = matched(tower_set(biophysics, **common), biophysics).isel(y=iy, x=ix)
    corrected = matched(tower_set(biophysics, **common, closure={"method": "corrected"}), biophysics).isel(y=iy, x=ix)
    np.testing.assert_allclose(corrected["lEtot"].values, 1.25 * measured["lEtot"].values, rtol=1e-12)
    with caplog.at_level(logging.INFO, logger="scopecal"):
        closed = matched(
            tower_set(biophysics, **common, closure={"method": "bowen_ratio", "window_days": 2}), biophysics
        )
    assert "energy-balance closure (LE + H) / (Rn - G) of the measured fluxes over the fit period" in caplog.text
    assert closed.attrs["closure_method"] == "bowen_ratio" and closed.attrs["closure_window_days"] == 2
    closed = closed.isel(y=iy, x=ix)
    # the Bowen ratio is kept; within each 2-day window (one a day here) LE + H closes to Rn - G
    ratio = closed["Htot"] / closed["lEtot"]
    np.testing.assert_allclose(ratio.values, (measured["Htot"] / measured["lEtot"]).values, rtol=1e-12)
    july = np.isfinite(LE[:8]) & (LE_QC[:8] == 0)
    factor = (RN[:8][july] - G[:8][july]).sum() / (LE[:8][july] + H[:8][july]).sum()
    np.testing.assert_allclose(
        closed["lEtot"].sel(time="2021-07").values, factor * measured["lEtot"].sel(time="2021-07").values, rtol=1e-12
    )
    np.testing.assert_allclose(closed["sigma_lEtot"].sel(time="2021-07").values, factor * 30.0, rtol=1e-12)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(variables={"lEtot": {}, "Htot": {}, "Actot": {}}), r"variables.Actot needs name and units"),
        (dict(closure={"method": "bowen_ratio"}, variables={"lEtot": {}}), r"closure bowen_ratio needs lEtot and Htot"),
        (dict(time={}), r"carry no UTC offset; set problems.eb.observations.tower.time.utc_offset"),
    ],
)
def test_bad_tower_observation_files_are_named(chain, tmp_path, entry, message):  # noqa: F811
    _, biophysics, _, _ = chain
    path = fluxnet_csv(tmp_path / "f.csv")
    spec = dict(file=str(path), format="fluxnet", time={"utc_offset": UTC_OFFSET}, variables={"lEtot": {}, "Htot": {}})
    spec.update(entry)
    with pytest.raises(ValueError, match=message):
        matched(tower_set(biophysics, **spec), biophysics)


def test_a_fluxnet_file_without_the_flux_names_what_it_has(chain, tmp_path):  # noqa: F811
    _, biophysics, _, _ = chain
    path = tmp_path / "f.csv"
    pd.read_csv(fluxnet_csv(path)).drop(columns=["LE_F_MDS"]).to_csv(path, index=False)
    fs = tower_set(biophysics, file=str(path), format="fluxnet", time={"utc_offset": 1}, variables={"lEtot": {}})
    with pytest.raises(ValueError, match=r"the fluxnet format expects LE_F_MDS or LE for lEtot; the file has"):
        matched(fs, biophysics)
