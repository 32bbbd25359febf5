# Observation sets from the user's files: read, converted to SCOPE units, matched to the field's pixels and to
# times, with the SCOPE inputs at the observation times (sun angles, weather and crop state at each time).


rule observations:
    input:
        file=lambda wildcards: settings(wildcards)["problems"][wildcards.problem]["observations"][
            wildcards.observations
        ]["file"],
        biophysics=results("bridge/biophysics.nc"),
        weather=results("weather/forcing.nc"),
        field=field_file,
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
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        scope=lambda wildcards: input_scope_of(PROBLEMS[wildcards.problem]["workflow"]),
        run=scope_run(),
        geojson=field_geojson,
        season=season,
        viewing=lambda wildcards: {
            key: settings(wildcards)["geometry"][key] for key in ("viewing_zenith", "viewing_azimuth")
        },
    script:
        "../scripts/observations.py"


rule validation:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        result=f"{CALIBRATION_DIR}/result.json",
        field=field_file,
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
        callmip_csv=report(
            f"{CALIBRATION_DIR}/callmip.csv",
            caption="../report/callmip_table.rst",
            category="Calibration against observations",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "CalLMIP table"},
        ),
        callmip_markdown=f"{CALIBRATION_DIR}/callmip.md",
        validation_period=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/validation_period.png",
            caption="../report/validation_period.rst",
            category="Calibration against observations",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "validation period"},
        ),
        validation_period_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/validation_period.svg",
    log:
        results("logs/validation/{problem}/{observations}/{optimizer}/{start}.log"),
    benchmark:
        results("benchmarks/validation/{problem}/{observations}/{optimizer}/{start}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        scope=scope_run(),
        geojson=field_geojson,
    script:
        "../scripts/validation.py"
