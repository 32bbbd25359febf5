from scopecal import crop_table, retrieval
from scopecal.config import field_geojson, season_dates
from scopecal.logs import log_to

log = log_to(snakemake.log[0])
config = {"field": snakemake.params.field, "season": snakemake.params.season}
settings = snakemake.params.retrieval
source = settings["source"]
start, end = season_dates(config)
geojson = field_geojson(config)
output = snakemake.output[0]

if source == "synthetic":
    grid = retrieval.field_grid(geojson, config["field"]["pixel_size_m"], tuple(config["field"]["shape"]))
    doys = retrieval.acquisition_doys(start, end, settings["synthetic"]["revisit_days"])
    arrays = retrieval.synthetic_arc_output(grid, doys, settings["synthetic"]["seed"])
    note = "SYNTHETIC: double-logistic crop phenology model in ARC's format, not a Sentinel-2 retrieval"
    retrieval.save_arc_npz(output, arrays, source="synthetic", note=note)
    log.info("%s; %d of %d pixels inside the field, %d dates", note, (~grid.mask).sum(), grid.mask.size, doys.size)
elif source == "npz":
    arrays = retrieval.load_arc_npz(snakemake.input.npz[0])
    retrieval.save_arc_npz(output, arrays, source="npz", note=f"ARC output read from {snakemake.input.npz[0]}")
    log.info("ARC output %s: mask %s, %d dates", snakemake.input.npz[0], arrays["mask"].shape, arrays["doys"].size)
elif source == "table":
    arrays, lines = crop_table.crop_table_output(
        snakemake.input.table[0],
        settings["table"],
        geojson=geojson,
        pixel_size_m=config["field"]["pixel_size_m"],
        shape=config["field"]["shape"],
        season=(start, end),
    )
    note = f"crop state measured in the field, read from {snakemake.input.table[0]}"
    retrieval.save_arc_npz(output, arrays, source="table", note=note)
    for line in lines:
        log.info(line)
else:
    arc = settings["arc"]
    raw = f"{output}.arc.npz"
    retrieval.run_arc(
        geojson=geojson,
        start=start,
        end=end,
        start_of_season=arc["start_of_season"],
        crop=config["field"]["crop"],
        output_npz=raw,
        num_samples=arc["num_samples"],
        growth_season_length=arc["growth_season_length"],
        s2_data_folder=arc["s2_data_folder"],
        data_source=arc["data_source"],
    )
    retrieval.save_arc_npz(output, retrieval.load_arc_npz(raw), source="arc", note="ARC arc_field retrieval")
    log.info("ARC retrieval written to %s", output)
