from scopecal.assets import fetch_scope_assets
from scopecal.logs import log_to

log = log_to(snakemake.log[0])
log.info("SCOPE assets ready in %s", fetch_scope_assets(snakemake.output[0]))
