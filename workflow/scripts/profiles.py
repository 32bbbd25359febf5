import numpy as np
import pandas as pd

from scopecal.figures import profiles_figure, save_figure
from scopecal.logs import log_to
from scopecal.tables import (
    PROFILE_TOLERANCES,
    data_profile,
    performance_profile,
    profile_instances,
    profile_table,
    trace_job,
)

log = log_to(snakemake.log[0])
summary = pd.read_csv(snakemake.input.summary)
traces = {trace_job(path): pd.read_csv(path) for path in snakemake.input.traces}
instances = profile_instances(summary, traces)
largest = max(len(h) / (i["n"] + 1) for i in instances for h in i["histories"].values())
budgets = np.linspace(0, np.ceil(largest), 200)
ratios = 2.0 ** np.linspace(0, 6, 121)
data, performance, tables = {}, {}, []
for tau in PROFILE_TOLERANCES:
    table = profile_table(instances, tau)
    data[tau], performance[tau] = data_profile(table, budgets), performance_profile(table, ratios)
    tables.append(table.assign(tau=tau))
pd.concat(tables).to_csv(snakemake.output.table, index=False)
save_figure(
    profiles_figure(data, performance, instances=len(instances)), [snakemake.output.figure, snakemake.output.figure_svg]
)
log.info("profiles of %d instances, tolerances %s", len(instances), PROFILE_TOLERANCES)
