from datetime import datetime, time, timedelta

from arc_scope.utils.io import load_geojson_bounds, load_geojson_centroid

from scopecal.config import default_weather_csv, field_geojson, season_dates
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.tower_weather import WeatherFile, load_tower_weather
from scopecal.weather import fetch_era5_weather

log = log_to(snakemake.log[0])
settings = snakemake.params.weather
start_date, end_date = season_dates({"season": snakemake.params.season})
# a month either side, so that overpasses at the season's ends lie between two records of a coarse file
start = datetime.combine(start_date, time()) - timedelta(days=31)
end = datetime.combine(end_date, time()) + timedelta(days=31)
field = field_geojson({"field": {"geojson": snakemake.params.geojson}})
if settings["source"] == "local":
    spec = WeatherFile.from_config(settings["local"], default_path=default_weather_csv())
    # the field's longitude checks the stamps' time zone against the shortwave's diurnal peak
    forcing = load_tower_weather(spec, start=start, end=end, longitude=load_geojson_centroid(field)[0], log=log)
else:
    forcing = fetch_era5_weather(
        load_geojson_bounds(field), start=start, end=end, cache_dir=settings["era5"]["cache_dir"]
    )
write_netcdf(forcing, snakemake.output[0], dict(snakemake.params.items()))
log.info("%d weather records from %s", forcing.sizes["time"], settings["source"])
