from scopecal.assets import check_scope_assets
from scopecal.config import check_config

check_config(config)

WORKFLOWS = config["scope"]["workflows"]

wildcard_constraints:
    workflow="|".join(WORKFLOWS),

if config["scope_assets"]:
    SCOPE_ASSETS = str(check_scope_assets(config["scope_assets"]))
else:
    SCOPE_ASSETS = "resources/scope-upstream"


def optional_path(path):
    """An input that exists only when the config names a file (null = a file bundled with arcope)."""
    return [path] if path else []


def forward_outputs():
    return expand(["results/forward/{workflow}.nc", "results/forward/{workflow}.png"], workflow=WORKFLOWS)
