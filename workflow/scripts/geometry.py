import numpy as np

from scopecal.config import field_geojson
from scopecal.geometry import observation_geometry
from scopecal.logs import log_to
from scopecal.netcdf import write_netcdf

log = log_to(snakemake.log[0])
with np.load(snakemake.input.npz, allow_pickle=False) as arc:
    doys = arc["doys"]
settings = snakemake.params.geometry
geometry = observation_geometry(
    doys,
    snakemake.params.year,
    field_geojson({"field": {"geojson": snakemake.params.geojson}}),
    overpass_local_solar_hour=settings["overpass_local_solar_hour"],
    viewing_zenith=settings["viewing_zenith"],
    viewing_azimuth=settings["viewing_azimuth"],
)
write_netcdf(geometry, snakemake.output[0], dict(snakemake.params.items()))
log.info("overpasses (UTC): %s", [str(t)[:16] for t in geometry["time"].values])
