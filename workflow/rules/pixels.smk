# Per-pixel calibration: every observed pixel of a per_pixel problem calibrated on its own dates, all pixels
# solved together in one job (one batched SCOPE run per iteration), written as parameter maps.


rule calibrate_pixels:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        assets=SCOPE_ASSETS,
    output:
        # checkpoint.json, the state a killed job resumes from, is deliberately not an output: Snakemake deletes
        # the outputs of a failed job.
        maps=f"{PIXELS_DIR}/parameters.nc",
        trace=f"{PIXELS_DIR}/trace.csv",
    log:
        results("logs/maps/{problem}/{observations}.log"),
    benchmark:
        results("benchmarks/maps/{problem}/{observations}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations, per_pixel_solver=True),
        scope=scope_run(),
    script:
        "../scripts/calibrate_pixels.py"


rule pixel_maps_figure:
    input:
        f"{PIXELS_DIR}/parameters.nc",
    output:
        png=report(
            f"{PIXELS_FIGURES_DIR}/maps.png",
            caption="../report/pixel_maps.rst",
            category="Parameter maps",
            labels={"problem": "{problem}", "observations": "{observations}"},
        ),
        svg=f"{PIXELS_FIGURES_DIR}/maps.svg",
    log:
        results("logs/figures/maps/{problem}/{observations}.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
    script:
        "../scripts/pixel_maps_figure.py"
