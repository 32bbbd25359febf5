from datetime import datetime, time, timedelta

from arc_scope.utils.io import load_geojson_bounds

from scopecal.config import default_weather_csv, field_geojson, season_dates
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf
from scopecal.weather import fetch_era5_weather, load_local_weather

log = log_to(snakemake.log[0])
settings = snakemake.params.weather
start_date, end_date = season_dates({"season": snakemake.params.season})
# a month either side, so that overpasses at the season's ends lie between two records of a coarse file
start = datetime.combine(start_date, time()) - timedelta(days=31)
end = datetime.combine(end_date, time()) + timedelta(days=31)
if settings["source"] == "local":
    local = settings["local"]
    path = local["path"] or default_weather_csv()
    forcing = load_local_weather(path, local["columns"], start=start, end=end, time_column=local["time_column"])
else:
    bounds = load_geojson_bounds(field_geojson({"field": {"geojson": snakemake.params.geojson}}))
    forcing = fetch_era5_weather(bounds, start=start, end=end, cache_dir=settings["era5"]["cache_dir"])
write_netcdf(forcing, snakemake.output[0], dict(snakemake.params.items()))
log.info("%d weather records from %s", forcing.sizes["time"], settings["source"])
