from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ASSETS = ROOT.parent / "shared" / "scope-upstream"


@pytest.fixture(scope="session")
def scope_assets() -> Path:
    if not SHARED_ASSETS.is_dir():
        pytest.fail(f"the SCOPE asset copy {SHARED_ASSETS} is missing: the tests run with ../shared beside the repo")
    return SHARED_ASSETS
