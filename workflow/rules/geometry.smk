rule geometry:
    input:
        npz=results("retrieval/arc_output.npz"),
        field=field_file,
    output:
        results("geometry/geometry.nc"),
    log:
        results("logs/geometry.log"),
    benchmark:
        results("benchmarks/geometry.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        geojson=field_geojson,
        year=season_year,
        geometry=lambda wildcards: settings(wildcards)["geometry"],
    script:
        "../scripts/geometry.py"
