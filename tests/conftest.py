import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_ASSETS = ROOT.parent / "shared" / "scope-upstream"


@pytest.fixture(scope="session")
def scope_assets() -> Path:
    if not SHARED_ASSETS.is_dir():
        pytest.fail(f"the SCOPE asset copy {SHARED_ASSETS} is missing: the tests run with ../shared beside the repo")
    return SHARED_ASSETS


WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles", "envs", ".test", "examples")


def workflow_copy(path: Path) -> Path:
    """A scratch copy of the workflow, so runs share no results/ with the repository or each other."""
    path.mkdir(exist_ok=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, path / name)
    return path


def overlay(name: str) -> dict:
    """config/config.yaml with config/<name>.yaml laid over it, as --configfile does (dicts merge, lists replace)."""

    def merge(base, update):
        for key, value in update.items():
            base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
        return base

    default, laid_over = (yaml.safe_load((ROOT / f"config/{n}.yaml").read_text()) for n in ("config", name))
    return merge(default, laid_over)
