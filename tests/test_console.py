"""What a user sees on the console (Snakemake's stdout and stderr, not the job logs) when something is wrong."""

import subprocess
import sys

import jsonschema
import pandas as pd
import pytest
import yaml
from conftest import ROOT, SHARED_ASSETS, workflow_copy

from scopecal.config import default_weather_csv
from scopecal.logs import failure_line
from scopecal.validation import validate_config

ASSETS = f"scope_assets={SHARED_ASSETS}"


def console(work, *args) -> tuple[int, str]:
    """Run snakemake in ``work`` on the test config; its exit status and everything it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", ".test/config.yaml", *args],
        cwd=work,
        capture_output=True,
        text=True,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return workflow_copy(tmp_path_factory.mktemp("console"))


def test_bad_schema_value_is_a_short_message_with_key_value_and_allowed(work):
    (work / "bad_dtype.yaml").write_text(yaml.safe_dump({"scope": {"dtype": "float16"}}))
    status, output = console(work, "bad_dtype.yaml", "--config", ASSETS, "-n")
    assert status != 0
    assert "config key scope.dtype: 'float16' is not one of ['float64', 'float32']" in output
    assert len(output.splitlines()) < 40, output  # not the whole schema and config after it
    assert "Building DAG" not in output


def test_missing_scope_assets_names_the_config_key(work):
    status, output = console(work, "--config", "scope_assets=/nonexistent/scope", "-n")
    assert status != 0
    assert "SCOPE asset folder /nonexistent/scope does not exist (config key scope_assets)." in output
    assert "scope_assets.path" not in output


def test_failing_script_prints_its_cause_on_the_console(work):
    weather = pd.read_csv(default_weather_csv())
    weather.loc[3, "air_temp_c"] = 99.0
    weather.to_csv(work / "hot_weather.csv", index=False)
    (work / "hot.yaml").write_text(yaml.safe_dump({"weather": {"local": {"path": "hot_weather.csv"}}}))
    status, output = console(work, "hot.yaml", "--config", ASSETS, "--", "results/weather/forcing.nc")
    assert status != 0
    cause = (
        "results/logs/weather.log: ValueError: hot_weather.csv: Ta (air temperature) has 1 missing or implausible "
        "values (outside -60.0..60.0 degC), first at 2021-05-30T10:30:00"
    )
    assert cause in output.splitlines(), output
    log = (work / "results/logs/weather.log").read_text()
    assert "Traceback (most recent call last)" in log and "Ta (air temperature) has 1 missing" in log


def test_failure_line_is_one_line():
    error = ValueError("weather from a to b\n  does not cover the overpasses ['2021-07-31T10:16']")
    assert failure_line("results/logs/inputs/thermal.log", error) == (
        "results/logs/inputs/thermal.log: ValueError: weather from a to b does not cover the overpasses "
        "['2021-07-31T10:16']"
    )


def test_validation_fills_schema_defaults(tmp_path):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "scope": {
                "type": "object",
                "default": {},
                "properties": {"dtype": {"enum": ["float64", "float32"], "default": "float64"}},
            }
        },
    }
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    assert validate_config({}, tmp_path / "schema.yaml") == {"scope": {"dtype": "float64"}}
    with pytest.raises(ValueError, match=r"config key scope.dtype: 'float16' is not one of \['float64', 'float32'\]"):
        validate_config({"scope": {"dtype": "float16"}}, tmp_path / "schema.yaml")


def test_schema_is_a_valid_json_schema():
    # validate_config does not check the schema itself at every Snakemake start (it is slow): this does
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_a_bad_observation_file_prints_its_cause_on_the_console(work):
    # config/observed.yaml's tower set with a column the file does not have: the observations job stops
    bad = {
        "problems": {
            "sif_tower": {
                "observations": {"tower": {"variables": {"F740": {"name": "SIF_757", "units": "mW m-2 nm-1 sr-1"}}}}
            }
        }
    }
    (work / "bad_column.yaml").write_text(yaml.safe_dump(bad))
    status, output = console(
        work,
        "config/observed.yaml",
        ".test/observed.yaml",
        "bad_column.yaml",
        "--config",
        ASSETS,
        "--",
        "results/observed/observations/sif_tower/tower.nc",
    )
    assert status != 0
    assert (
        "results/observed/logs/observations/sif_tower/tower.log: ValueError: examples/observed/tower_synthetic.csv: "
        "no variable 'SIF_757' (mapped to F740); the file has ['LE', 'LE_QC', 'SIF_760', 'SIF_QC', 'TS']"
    ) in output
