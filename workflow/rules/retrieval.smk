rule retrieval:
    input:
        field=field_file,
        npz=retrieval_file("npz"),
        table=retrieval_file("table"),
    output:
        results("retrieval/arc_output.npz"),
    log:
        results("logs/retrieval.log"),
    benchmark:
        results("benchmarks/retrieval.tsv")
    conda:
        "../../envs/retrieval.yaml"
    params:
        field=lambda wildcards: retrieval_params(wildcards)["field"],
        season=lambda wildcards: retrieval_params(wildcards)["season"],
        retrieval=lambda wildcards: retrieval_params(wildcards)["retrieval"],
    script:
        "../scripts/retrieval.py"
