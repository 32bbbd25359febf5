rule geometry:
    input:
        npz=results("retrieval/arc_output.npz"),
        field=optional_path(config["field"]["geojson"]),
    output:
        results("geometry/geometry.nc"),
    log:
        results("logs/geometry.log"),
    benchmark:
        results("benchmarks/geometry.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        geojson=config["field"]["geojson"],
        year=int(config["season"]["start"][:4]),
        geometry=config["geometry"],
    script:
        "../scripts/geometry.py"
