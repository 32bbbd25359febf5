rule weather:
    input:
        weather_file,
    output:
        results("weather/forcing.nc"),
    log:
        results("logs/weather.log"),
    benchmark:
        results("benchmarks/weather.tsv")
    conda:
        "../../envs/prepare.yaml"
    params:
        geojson=field_geojson,
        season=season,
        weather=weather_settings,
    script:
        "../scripts/weather.py"
