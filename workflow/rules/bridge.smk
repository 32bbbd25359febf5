rule bridge:
    input:
        results("retrieval/arc_output.npz"),
    output:
        results("bridge/biophysics.nc"),
    params:
        year=int(config["season"]["start"][:4]),
        config=config,
    log:
        results("logs/bridge.log"),
    benchmark:
        results("benchmarks/bridge.tsv")
    conda:
        "../../envs/prepare.yaml"
    script:
        "../scripts/bridge.py"
