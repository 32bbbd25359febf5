rule retrieval:
    input:
        field=optional_path(config["field"]["geojson"]),
        npz=(
            optional_path(config["retrieval"].get("npz", {}).get("path"))
            if config["retrieval"]["source"] == "npz"
            else []
        ),
        table=(
            optional_path(config["retrieval"].get("table", {}).get("path"))
            if config["retrieval"]["source"] == "table"
            else []
        ),
    output:
        results("retrieval/arc_output.npz"),
    log:
        results("logs/retrieval.log"),
    benchmark:
        results("benchmarks/retrieval.tsv")
    conda:
        "../../envs/retrieval.yaml"
    params:
        **retrieval_params(),
    script:
        "../scripts/retrieval.py"
