import builtins
from datetime import date

import numpy as np
import pytest
from arc_scope.bridge.parameter_map import BIO_SCALES

from scopecal import retrieval
from scopecal.config import default_field_geojson


@pytest.fixture(scope="module")
def grid():
    return retrieval.field_grid(default_field_geojson(), 20.0, (4, 4))


def test_grid_masks_pixels_outside_the_polygon(grid):
    assert grid.mask.shape == (4, 4)
    assert 0 < grid.mask.sum() < 16  # the field is not a rectangle
    assert "UTM zone 31N" in grid.crs_wkt  # Belgium, 5 degrees east
    assert grid.geotransform[1] == 20.0 and grid.geotransform[5] == -20.0


def test_synthetic_output_has_arc_keys_shapes_and_integer_coding(grid):
    doys = retrieval.acquisition_doys(date(2021, 6, 1), date(2021, 8, 31), 15)
    arrays = retrieval.synthetic_arc_output(grid, doys, seed=1)
    n_valid = int((~grid.mask).sum())
    assert set(retrieval.ARC_KEYS) <= set(arrays)
    assert arrays["post_bio_tensor"].shape == (n_valid, 7, doys.size)
    assert arrays["post_bio_tensor"].dtype.kind == "i"
    assert arrays["dat"].shape == (n_valid, 15)
    lai = arrays["post_bio_tensor"][:, 4, :] * BIO_SCALES[4]
    cab = arrays["post_bio_tensor"][:, 1, :] * BIO_SCALES[1]
    assert 0.2 < lai.min() and lai.max() < 7.0
    assert 15.0 < cab.min() and cab.max() < 80.0
    # a season: green-up then senescence
    mean_lai = lai.mean(axis=0)
    assert mean_lai.argmax() not in (0, doys.size - 1)


def test_synthetic_output_is_deterministic_from_the_seed(grid):
    doys = np.array([160, 190])
    first = retrieval.synthetic_arc_output(grid, doys, seed=3)
    again = retrieval.synthetic_arc_output(grid, doys, seed=3)
    other = retrieval.synthetic_arc_output(grid, doys, seed=4)
    np.testing.assert_array_equal(first["post_bio_tensor"], again["post_bio_tensor"])
    assert not np.array_equal(first["post_bio_tensor"], other["post_bio_tensor"])


def test_npz_round_trip_and_label(grid, tmp_path):
    arrays = retrieval.synthetic_arc_output(grid, np.array([160, 175]), seed=0)
    path = tmp_path / "arc.npz"
    retrieval.save_arc_npz(path, arrays, source="synthetic", note="test")
    loaded = retrieval.load_arc_npz(path)
    np.testing.assert_array_equal(loaded["post_bio_tensor"], arrays["post_bio_tensor"])
    assert str(loaded["source"]) == "synthetic"


def test_npz_errors_name_file_and_key(grid, tmp_path):
    with pytest.raises(FileNotFoundError, match="retrieval.npz.path"):
        retrieval.load_arc_npz(tmp_path / "absent.npz")
    arrays = retrieval.synthetic_arc_output(grid, np.array([160, 175]), seed=0)
    no_dat = {key: value for key, value in arrays.items() if key != "dat"}
    np.savez(tmp_path / "no_dat.npz", **no_dat)
    with pytest.raises(ValueError, match=r"no_dat.npz lacks the ARC keys \['dat'\]"):
        retrieval.load_arc_npz(tmp_path / "no_dat.npz")
    wrong = dict(arrays, post_bio_tensor=arrays["post_bio_tensor"][:, :5])
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(ValueError, match="'post_bio_tensor' has shape"):
        retrieval.load_arc_npz(tmp_path / "wrong.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="text.npz is not a readable NPZ"):
        retrieval.load_arc_npz(tmp_path / "text.npz")


def test_arc_source_without_arc_says_how_to_install(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_arc(name, *args, **kwargs):
        if name == "arc":
            raise ImportError("No module named 'arc'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_arc)
    with pytest.raises(ImportError, match="pip install git\\+https://github.com/MarcYin/ARC"):
        retrieval.run_arc(
            geojson=default_field_geojson(),
            start=date(2021, 6, 1),
            end=date(2021, 8, 31),
            start_of_season=170,
            crop="wheat",
            output_npz=tmp_path / "x.npz",
            num_samples=10,
            growth_season_length=45,
            s2_data_folder=tmp_path,
            data_source="aws",
        )


def test_arc_is_called_with_the_configured_arguments(monkeypatch, tmp_path):
    import sys
    import types

    calls = []
    fake = types.ModuleType("arc")
    fake.arc_field = lambda *args: calls.append(args)
    monkeypatch.setitem(sys.modules, "arc", fake)
    retrieval.run_arc(
        geojson="field.geojson",
        start=date(2021, 6, 1),
        end=date(2021, 8, 31),
        start_of_season=170,
        crop="wheat",
        output_npz=tmp_path / "x.npz",
        num_samples=10,
        growth_season_length=45,
        s2_data_folder="S2",
        data_source="cdse",
    )
    assert calls == [
        ("2021-06-01", "2021-08-31", "field.geojson", 170, "wheat", str(tmp_path / "x.npz"), 10, 45, "S2", "cdse")
    ]
