rule calibrate:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        assets=SCOPE_ASSETS,
    output:
        # evaluations.jsonl, the record a killed job resumes from, is deliberately not an output: Snakemake
        # deletes the outputs of a failed job.
        result=f"{CALIBRATION_DIR}/result.json",
        trace=f"{CALIBRATION_DIR}/trace.csv",
        calibrated=f"{CALIBRATION_DIR}/calibrated.nc",
    log:
        results("logs/calibration/{problem}/{observations}/{optimizer}/{start}.log"),
    benchmark:
        results("benchmarks/calibration/{problem}/{observations}/{optimizer}/{start}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        optimizer=lambda wildcards: optimizer_setup(config, wildcards.optimizer),
        budget=lambda wildcards: job_budget(config, wildcards.problem, wildcards.optimizer),
        seed=config["calibration"]["seed"],
        scope=scope_run(),
    script:
        "../scripts/calibrate.py"


rule summary:
    input:
        calibration_results,
    output:
        report(
            results("calibration/summary.csv"),
            caption="../report/summary.rst",
            category="Calibration",
        ),
    log:
        results("logs/calibration/summary.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/summary.py"
