# Observation sets from the user's files: read, converted to SCOPE units, matched to the field's pixels and to
# times, with the SCOPE inputs at the observation times (sun angles, weather and crop state at each time).
from types import SimpleNamespace


rule observations:
    input:
        file=lambda wildcards: PROBLEMS[wildcards.problem]["observations"][wildcards.observations]["file"],
        biophysics=results("bridge/biophysics.nc"),
        weather=results("weather/forcing.nc"),
        field=optional_path(config["field"]["geojson"]),
        assets=SCOPE_ASSETS,
    output:
        observations=results("observations/{problem}/{observations}.nc"),
        inputs=results("observations/{problem}/{observations}_inputs.nc"),
    log:
        results("logs/observations/{problem}/{observations}.log"),
    benchmark:
        results("benchmarks/observations/{problem}/{observations}.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards.problem, wildcards.observations),
        scope=lambda wildcards: input_scope(SimpleNamespace(workflow=PROBLEMS[wildcards.problem]["workflow"])),
        geojson=config["field"]["geojson"],
        season=config["season"],
        viewing=lambda wildcards: {key: config["geometry"][key] for key in ("viewing_zenith", "viewing_azimuth")},
    script:
        "../scripts/observations.py"


def is_file_set(problem, observations):
    """Whether an observation set of a problem is read from a file (else it is a twin set)."""
    return "file" in PROBLEMS[problem]["observations"].get(observations, {})


def observation_set_path(wildcards):
    """The observations of a calibration job: a twin set, or a file set once matched to the field and times."""
    if is_file_set(wildcards.problem, wildcards.observations):
        return results(f"observations/{wildcards.problem}/{wildcards.observations}.nc")
    return results(f"twin/{wildcards.problem}/observations/{wildcards.observations}.nc")


def calibration_inputs(wildcards):
    """SCOPE inputs of a calibration job: at the overpasses for twins, at the observation times for a file set."""
    if is_file_set(wildcards.problem, wildcards.observations):
        return results(f"observations/{wildcards.problem}/{wildcards.observations}_inputs.nc")
    return problem_inputs(wildcards)


def validation_outputs():
    """The validation report, fit table and figures of every calibration job on a file set."""
    outputs = []
    for job in JOBS:
        if is_file_set(job["problem"], job["observations"]):
            outputs.append(f"{CALIBRATION_DIR.format(**job)}/validation.json")
            outputs += [
                f"{FIGURES_DIR}/{{optimizer}}/{{start}}/{kind}.{ext}".format(**job)
                for kind in ("timeseries", "scatter", "residuals")
                for ext in ("png", "svg")
            ]
    return outputs


rule validation:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        result=f"{CALIBRATION_DIR}/result.json",
        assets=SCOPE_ASSETS,
    output:
        report=f"{CALIBRATION_DIR}/validation.json",
        markdown=f"{CALIBRATION_DIR}/validation.md",
        fit=f"{CALIBRATION_DIR}/fit.nc",
        timeseries=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/timeseries.png",
            caption="../report/fit_timeseries.rst",
            category="Calibration against observations",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "time series"},
        ),
        timeseries_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/timeseries.svg",
        scatter=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/scatter.png",
            caption="../report/fit_scatter.rst",
            category="Calibration against observations",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "1:1"},
        ),
        scatter_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/scatter.svg",
        residuals=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/residuals.png",
            caption="../report/fit_residuals.rst",
            category="Calibration against observations",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "residuals"},
        ),
        residuals_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/residuals.svg",
    log:
        results("logs/validation/{problem}/{observations}/{optimizer}/{start}.log"),
    benchmark:
        results("benchmarks/validation/{problem}/{observations}/{optimizer}/{start}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards.problem, wildcards.observations),
        scope=scope_run(),
    script:
        "../scripts/validation.py"
