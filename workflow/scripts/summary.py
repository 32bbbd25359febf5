import json

from scopecal.logs import log_to
from scopecal.metrics import summary_table

log = log_to(snakemake.log[0])
table = summary_table([json.loads(open(path).read()) for path in snakemake.input])
table.to_csv(snakemake.output[0], index=False)
log.info("%d calibration jobs summarised", len(table))
