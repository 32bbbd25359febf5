# SCOPE calibration workflow: ARC retrieval -> bridge -> weather -> geometry -> SCOPE inputs -> forward SCOPE,
# twin observations or observations read from files -> one calibration job per (problem, observation set, optimizer,
# start), or per (problem, observation set) for a per-pixel problem, all its pixels at once, into parameter maps ->
# summary -> figures and tables (and fit and hold-out validation of file sets), the sensitivity and identifiability
# of each problem at its truth, and posteriors of the problems' parameters (NUTS and amortised NPE).
from snakemake.utils import min_version

from scopecal.validation import validate_config

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate_config(config, f"{workflow.basedir}/config/schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/assets.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/bridge.smk"
include: "workflow/rules/weather.smk"
include: "workflow/rules/geometry.smk"
include: "workflow/rules/inputs.smk"
include: "workflow/rules/forward.smk"
include: "workflow/rules/twin.smk"
include: "workflow/rules/observations.smk"
include: "workflow/rules/calibration.smk"
include: "workflow/rules/pixels.smk"
include: "workflow/rules/sites.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/posterior.smk"
include: "workflow/rules/docs.smk"


rule all:
    default_target: True
    input:
        forward_outputs(),
        summary_outputs(),
        figure_outputs(),
        validation_outputs(),
        posterior_outputs(),
        pixel_outputs(),
        sites_outputs(),
