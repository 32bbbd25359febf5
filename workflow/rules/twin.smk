rule truth:
    input:
        inputs=problem_inputs,
        assets=SCOPE_ASSETS,
    output:
        results("twin/{problem}/truth.nc"),
    log:
        results("logs/twin/{problem}/truth.log"),
    benchmark:
        results("benchmarks/twin/{problem}/truth.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards),
        scope=scope_run(),
    script:
        "../scripts/truth.py"


rule twin:
    input:
        truth=results("twin/{problem}/truth.nc"),
        inputs=problem_inputs,
    output:
        results("twin/{problem}/observations/{observations}.nc"),
    log:
        results("logs/twin/{problem}/{observations}.log"),
    benchmark:
        results("benchmarks/twin/{problem}/{observations}.tsv")
    conda:
        "../../envs/scope.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        seed=config["calibration"]["seed"],
    script:
        "../scripts/twin.py"
