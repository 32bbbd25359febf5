rule inputs:
    input:
        biophysics=results("bridge/biophysics.nc"),
        weather=results("weather/forcing.nc"),
        geometry=results("geometry/geometry.nc"),
        assets=SCOPE_ASSETS,
    output:
        results("inputs/{workflow}.nc"),
    log:
        results("logs/inputs/{workflow}.log"),
    benchmark:
        results("benchmarks/inputs/{workflow}.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        scope=input_scope,
    script:
        "../scripts/inputs.py"
