import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ASSETS = ROOT.parent / "shared" / "scope-upstream"


@pytest.fixture(scope="session")
def scope_assets() -> Path:
    if not SHARED_ASSETS.is_dir():
        pytest.fail(f"the SCOPE asset copy {SHARED_ASSETS} is missing: the tests run with ../shared beside the repo")
    return SHARED_ASSETS


WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles", "envs", ".test")


def workflow_copy(path: Path) -> Path:
    """A scratch copy of the workflow, so runs share no results/ with the repository or each other."""
    path.mkdir(exist_ok=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, path / name)
    return path
