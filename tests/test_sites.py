"""Several sites in one run (config `sites`): each site's own config, the checks that name a site, and the two-site
test suite (.test/sites.yaml) end to end: per-site outputs, the cross-site table and figure, and a dry run that adds
only a new site's jobs."""

import copy

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from conftest import ROOT, workflow_copy
from test_workflow import ASSETS, default_config, planned_jobs, snakemake

from scopecal.config import check_config, config_warnings, problem_sites, site_config, site_names
from scopecal.problems import problem_from_config
from scopecal.sites import map_rows, site_table
from scopecal.validation import validate_config

SCHEMA = ROOT / "config/schema.yaml"
CONFIGS = [".test/config.yaml", ".test/sites.yaml"]
SECOND_FIELD = "examples/sites/field_synthetic.geojson"


def two_sites(**problem_sites_of):
    config = default_config()
    config["scope_assets"] = None
    config["sites"] = {"home": {}, "away": {"field": {"geojson": SECOND_FIELD}, "season": {"start": "2022-06-01"}}}
    config["season"]["end"] = "2021-08-31"
    for name, sites in problem_sites_of.items():
        config["problems"][name]["sites"] = sites
    return validate_config(config, SCHEMA)


def test_a_config_without_sites_is_one_site_as_before():
    config = default_config()
    assert site_names(config) == [None]
    assert site_config(config, None) == config


def test_a_site_lays_its_keys_over_the_shared_sections_key_by_key():
    config = two_sites()
    home, away = site_config(config, "home"), site_config(config, "away")
    assert home["field"] == config["field"] and "sites" not in home
    assert away["field"]["geojson"] == SECOND_FIELD
    assert away["field"]["shape"] == config["field"]["shape"]  # not set by the site: shared
    assert away["season"] == {"start": "2022-06-01", "end": "2021-08-31"}
    assert config["field"]["geojson"] is None  # the shared config is left as it was


def test_problems_run_on_their_sites_only():
    config = two_sites(thermal_temperatures=["away"])
    assert problem_sites(config, "sif_fqe") == ["home", "away"]
    assert "thermal_temperatures" not in site_config(config, "home")["calibration"]["problems"]
    assert "thermal_temperatures" in site_config(config, "away")["calibration"]["problems"]


def test_a_file_set_may_name_each_site_s_own_file():
    config = two_sites()
    config["problems"]["sif_fqe"]["observations"]["measured"] = {"file": "data/{site}/sif.csv"}
    assert site_config(config, "away")["problems"]["sif_fqe"]["observations"]["measured"]["file"] == "data/away/sif.csv"


def test_errors_name_the_site():
    config = two_sites()
    config["season"]["end"] = "2021-05-01"  # before home's start; away's season has another year
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert "sites.home: season.end (2021-05-01) is before season.start (2021-06-01)" in str(error.value)
    assert "sites.away: season.start and season.end must lie in one year" in str(error.value)


def test_a_problem_naming_sites_needs_the_config_to_list_them():
    config = default_config()
    config["scope_assets"] = None
    config["problems"]["sif_fqe"]["sites"] = ["home"]
    with pytest.raises(
        ValueError, match=r"problems\.sif_fqe\.sites: \['home'\] names sites, and the config lists none"
    ):
        check_config(config)


def test_unknown_sites_and_one_site_suites_are_refused():
    config = two_sites(sif_fqe=["home", "elsewhere"])
    config["docs"] = {"folder": "docs", "figures_of": "lbfgsb"}
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert "problems.sif_fqe.sites: ['elsewhere'] are not among sites (['home', 'away'])" in str(error.value)
    assert "docs: not available with sites" in str(error.value)


def test_the_schema_checks_each_site_s_merged_sections():
    config = two_sites()
    config["sites"]["away"]["field"]["pixel_size_m"] = -5
    with pytest.raises(ValueError, match=r"sites\.away: config key field\.pixel_size_m"):
        validate_config(config, SCHEMA)
    config = two_sites()
    config["sites"]["summary"] = {}  # results_dir/summary holds the cross-site table
    with pytest.raises(ValueError, match="config key sites"):
        validate_config(config, SCHEMA)
    config = two_sites()
    config["sites"]["away"]["scope"] = {"fqe": 0.02}  # SCOPE's settings are shared
    with pytest.raises(ValueError, match="config key sites.away"):
        validate_config(config, SCHEMA)


def test_a_warning_every_site_has_is_given_once():
    config = two_sites()
    config["cluster"].update(gpu=False, gpu_model="a100")  # not requested: the same at both sites
    config["sites"]["away"]["retrieval"] = {"source": "npz", "npz": {"path": "x.npz"}}
    notes = config_warnings(config)
    assert [note for note in notes if "gpu_model" in note] == [
        "cluster.gpu_model (a100) is not requested: cluster.gpu is false"
    ]
    assert any(note.startswith("sites.away: field.pixel_size_m") for note in notes)


@pytest.fixture(scope="module")
def sites_run(tmp_path_factory):
    work = workflow_copy(tmp_path_factory.mktemp("sites"))
    result = snakemake("--cores", "2", "--configfile", *CONFIGS, "--config", ASSETS, cwd=work)
    return work, result.stdout + result.stderr


@pytest.mark.e2e
def test_a_map_row_counts_the_pixels_without_an_estimate():
    fqe = {"lower": 0.001, "upper": 0.1, "starts": [0.01]}
    spec = {"workflow": "fluorescence", "parameters": {"fqe": fqe}, "targets": {"F740": {"relative": 0.02}}}
    problem = problem_from_config("map", spec | {"observations": {"noisy": {}}})
    grid = ("y", "x")
    maps = xr.Dataset(
        {
            # three observed pixels, SCOPE gave the last none; the fourth pixel lies outside the field
            "fqe": (grid, [[0.018, 0.02], [np.nan, np.nan]]),
            "sd_fqe": (grid, [[1e-4, 1e-4], [np.nan, np.nan]]),
            "truth_fqe": (grid, [[0.018, 0.018], [0.018, np.nan]]),
            "misfit": (grid, [[1.0, 2.0], [np.nan, np.nan]]),
            "evaluations": (grid, [[5, 6], [7, 0]]),
            "observations": (grid, [[3, 3], [3, 0]]),
        },
        attrs={"pixels": 3, "seconds": 1.5},
    )
    (row,) = map_rows("here", problem, "noisy", maps)
    assert row["pixels"] == 3 and row["without_estimate"] == 1
    assert row["recovered"] == pytest.approx(2 / 3) and row["misfit"] == 3.0 and row["evaluations"] == 18
    table = site_table([row])
    assert table.columns[table.columns.get_loc("pixels") + 1] == "without_estimate"


def test_every_stage_is_keyed_by_site(sites_run):
    work, _ = sites_run
    results = work / "results/sites"
    outputs = {}
    for site in ("belgium", "france_synthetic"):
        assert (results / site / "calibration/summary.csv").is_file()
        with xr.open_dataset(results / site / "forward/fluorescence.nc") as forward:
            outputs[site] = forward["F740"].load()
    assert (results / "france_synthetic/calibration/thermal_temperatures").is_dir()
    assert not (results / "belgium/calibration/thermal_temperatures").exists()  # a problem on one site only
    belgium, france = outputs["belgium"], outputs["france_synthetic"]
    assert str(belgium["time"].values[0])[:4] == "2021" and str(france["time"].values[0])[:4] == "2022"
    assert belgium.shape != france.shape or not np.allclose(belgium, france, equal_nan=True)


@pytest.mark.e2e
def test_a_site_runs_as_the_same_config_without_sites(sites_run):
    """belgium sets nothing of its own: its forward outputs are those of the test config run without sites."""
    work, _ = sites_run
    single = "results/single"
    snakemake(
        "--cores",
        "2",
        "--configfile",
        ".test/config.yaml",
        "--config",
        ASSETS,
        f"results_dir={single}",
        "--",
        f"{single}/forward/fluorescence.nc",
        cwd=work,
    )
    with (
        xr.open_dataset(work / single / "forward/fluorescence.nc") as alone,
        xr.open_dataset(work / "results/sites/belgium/forward/fluorescence.nc") as site,
    ):
        xr.testing.assert_allclose(alone[["F740", "F685"]].load(), site[["F740", "F685"]].load(), rtol=1e-12)


@pytest.mark.e2e
def test_cross_site_table_and_figure(sites_run):
    work, console = sites_run
    summary = work / "results/sites/summary"
    table = pd.read_csv(summary / "sites.csv")
    assert set(table["site"]) == {"belgium", "france_synthetic"}
    sif = table[table["problem"] == "sif_fqe"]
    assert len(sif) == 4  # 2 sites x (clean, noisy1) x gauss_newton
    assert (sif["recovered"] == 1).all()
    assert np.allclose(sif[sif["observations"] == "clean"]["estimate"], 0.018, rtol=1e-6)
    assert (sif["sd"] > 0).all() and (sif["sd_kind"] == "Laplace at the truth").all()
    per_site = {site: rows for site, rows in sif.groupby("site")}
    assert per_site["belgium"]["sd"].iloc[0] != per_site["france_synthetic"]["sd"].iloc[0]  # each site's own design
    thermal = table[table["problem"] == "thermal_temperatures"]
    assert set(thermal["site"]) == {"france_synthetic"} and len(thermal) == 8
    assert (table["evaluations"] > 0).all() and (table["time_s"] > 0).all()
    assert "| belgium | sif_fqe | clean |" in (summary / "sites.md").read_text()
    assert (summary / "sites.png").stat().st_size > 10_000 and (summary / "sites.svg").is_file()
    assert "2 sites, 12 rows: belgium, france_synthetic" in (summary / "sites.log").read_text()


@pytest.mark.e2e
def test_adding_a_site_adds_only_its_jobs(sites_run):
    work, _ = sites_run
    sites = yaml.safe_load((work / ".test/sites.yaml").read_text())["sites"]
    third = copy.deepcopy(sites["france_synthetic"])
    third["retrieval"] = {"synthetic": {"seed": 11}}
    jobs = planned_jobs(work, {"sites": {**sites, "third": third}}, CONFIGS)
    per_rule = {}
    for rule, wildcards in jobs:
        assert wildcards.get("site") in ("third", None), (rule, wildcards)
        per_rule.setdefault(rule, 0)
        per_rule[rule] += 1
    assert per_rule.pop("sites_summary") == 1 and per_rule.pop("all") == 1
    assert per_rule["retrieval"] == per_rule["weather"] == 1
    assert per_rule["calibrate"] == 2  # sif_fqe's clean and noisy1 (thermal_temperatures names its site)


def test_posteriors_and_parameter_maps_are_per_site(tmp_path):
    work = workflow_copy(tmp_path / "plan")
    overlay = {"posterior": {"problems": ["sif_fqe"]}, "calibration": {"problems": ["sif_fqe", "sif_map"]}}
    overlay["problems"] = {"sif_map": {"sites": ["france_synthetic"]}}
    jobs = planned_jobs(work, overlay, CONFIGS)
    sites_of = {}
    for rule, wildcards in jobs:
        sites_of.setdefault(rule, set()).add(wildcards.get("site"))
    assert sites_of["mcmc"] == sites_of["train_posterior"] == {"belgium", "france_synthetic"}
    assert sites_of["calibrate_pixels"] == {"france_synthetic"}
