import numpy as np
import pytest

from helpers import synthetic
from helpers.artifacts import ArtifactError


def test_round_trip_and_png_sample(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (10, 16, 16), dtype=np.uint8)
    path = synthetic.save_synthetic(tmp_path, imgs, class_id=0, class_name="NORMAL", seed=3, n_png=4)
    assert path == tmp_path / "synthetic.npz"
    loaded = synthetic.load_synthetic(tmp_path, image_size=16)
    assert np.array_equal(loaded.images, imgs) and (loaded.class_id, loaded.class_name, loaded.seed) == (0, "NORMAL", 3)
    assert len(list((tmp_path / "png").glob("*.png"))) == 4


def test_missing_or_mismatched_artifact_names_notebook_03(tmp_path):
    with pytest.raises(ArtifactError, match="notebook 03"):
        synthetic.load_synthetic(tmp_path)
    synthetic.save_synthetic(tmp_path, np.zeros((2, 8, 8), np.uint8), class_id=0, class_name="NORMAL", seed=0)
    with pytest.raises(ValueError, match="8 px images but this run uses 32 px"):
        synthetic.load_synthetic(tmp_path, image_size=32)


def test_rejects_float_images(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        synthetic.save_synthetic(tmp_path, np.zeros((2, 8, 8), np.float32), class_id=0, class_name="NORMAL", seed=0)
