import shutil

import pytest

from scopecal.assets import REQUIRED_FILES, check_scope_assets


def test_shared_copy_passes_without_the_atmosphere_file(scope_assets):
    assert not (scope_assets / "input/radiationdata/FLEX-S3_std.atm").exists()
    assert check_scope_assets(scope_assets) == scope_assets.resolve()


def test_missing_file_is_named(scope_assets, tmp_path):
    copy = tmp_path / "scope"
    shutil.copytree(scope_assets, copy)
    (copy / REQUIRED_FILES[2]).unlink()
    with pytest.raises(FileNotFoundError, match="soilnew.txt"):
        check_scope_assets(copy)


def test_missing_folder_names_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="scope_assets"):
        check_scope_assets(tmp_path / "nowhere")
