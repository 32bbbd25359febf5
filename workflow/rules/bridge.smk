rule bridge:
    input:
        results("retrieval/arc_output.npz"),
    output:
        results("bridge/biophysics.nc"),
    log:
        results("logs/bridge.log"),
    benchmark:
        results("benchmarks/bridge.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        year=season_year,
    script:
        "../scripts/bridge.py"
