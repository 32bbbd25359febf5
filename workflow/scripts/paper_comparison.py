from pathlib import Path

import pandas as pd

from scopecal.logs import log_to
from scopecal.tables import paper_comparison, paper_markdown

log = log_to(snakemake.log[0])
table = paper_comparison(pd.read_csv(snakemake.input.summary), snakemake.params.reference)
table.to_csv(snakemake.output.table, index=False)
Path(snakemake.output.markdown).write_text(paper_markdown(table))
mirrored = table["paper_experiment"].notna().sum()
log.info("%d jobs of %s, %d mirror a published experiment", len(table), table["problem"].iloc[0], mirrored)
