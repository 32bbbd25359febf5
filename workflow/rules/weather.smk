rule weather:
    input:
        optional_path(config["weather"].get("local", {}).get("path")) if config["weather"]["source"] == "local" else [],
    output:
        results("weather/forcing.nc"),
    log:
        results("logs/weather.log"),
    benchmark:
        results("benchmarks/weather.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        geojson=config["field"]["geojson"],
        season=config["season"],
        weather=weather_settings(),
    script:
        "../scripts/weather.py"
