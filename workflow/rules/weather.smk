rule weather:
    input:
        optional_path(config["weather"].get("local", {}).get("path"))
        if config["weather"]["source"] == "local"
        else [],
    output:
        results("weather/forcing.nc"),
    params:
        field=config["field"],
        season=config["season"],
        weather=config["weather"],
        config=config,
    log:
        results("logs/weather.log"),
    benchmark:
        results("benchmarks/weather.tsv")
    conda:
        "../../envs/prepare.yaml"
    script:
        "../scripts/weather.py"
