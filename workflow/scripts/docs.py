import json
import shutil
from pathlib import Path

import pandas as pd

from scopecal.logs import log_to
from scopecal.tables import docs_markdown, docs_summary

log = log_to(snakemake.log[0])
examples = docs_summary(pd.read_csv(snakemake.input.summary), snakemake.params.problems)
Path(snakemake.output.summary).write_text(json.dumps(examples, indent=2) + "\n")
Path(snakemake.output.markdown).write_text(docs_markdown(examples))
sources = [path for pair in zip(snakemake.input.misfit, snakemake.input.parameters, strict=True) for path in pair]
for source, target in zip(sources, snakemake.output.figures, strict=True):
    shutil.copyfile(source, target)
log.info("%d examples, %d figures", len(examples), len(sources))
