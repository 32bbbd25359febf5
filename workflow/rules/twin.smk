rule truth:
    input:
        inputs=problem_inputs,
        assets=SCOPE_ASSETS,
    output:
        results("twin/{problem}/truth.nc"),
    params:
        problem=lambda wildcards: PROBLEMS[wildcards.problem],
        scope=config["scope"],
        config=config,
    resources:
        **SCOPE_HEAVY_RESOURCES,
    log:
        results("logs/twin/{problem}/truth.log"),
    benchmark:
        results("benchmarks/twin/{problem}/truth.tsv")
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/truth.py"


rule twin:
    input:
        truth=results("twin/{problem}/truth.nc"),
        inputs=problem_inputs,
    output:
        results("twin/{problem}/observations/{observations}.nc"),
    params:
        problem=lambda wildcards: PROBLEMS[wildcards.problem],
        seed=config["calibration"]["seed"],
        config=config,
    log:
        results("logs/twin/{problem}/{observations}.log"),
    benchmark:
        results("benchmarks/twin/{problem}/{observations}.tsv")
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/twin.py"
