import numpy as np
import pytest

from helpers.core.artifacts import ArtifactError
from helpers.core.provenance import ProvenanceError
from helpers.data import synthetic

FP = {"data": "d1", "generator": "g1"}


def test_round_trip_and_png_sample(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (10, 16, 16), dtype=np.uint8)
    path = synthetic.save_synthetic(tmp_path, imgs, class_id=0, class_name="NORMAL", seed=3, n_png=4,
                                    provenance=FP)
    assert path == tmp_path / "synthetic.npz"
    loaded = synthetic.load_synthetic(tmp_path, image_size=16, data_id="d1")
    assert np.array_equal(loaded.images, imgs) and (loaded.class_id, loaded.class_name, loaded.seed) == (0, "NORMAL", 3)
    assert loaded.provenance == FP
    assert len(list((tmp_path / "png").glob("*.png"))) == 4


def test_missing_mismatched_or_stale_artifact(tmp_path):
    with pytest.raises(ArtifactError, match="notebook 03"):
        synthetic.load_synthetic(tmp_path)
    synthetic.save_synthetic(tmp_path, np.zeros((2, 8, 8), np.uint8), class_id=0, class_name="NORMAL", seed=0,
                             provenance=FP)
    with pytest.raises(ValueError, match="8 px images but this run uses 32 px"):
        synthetic.load_synthetic(tmp_path, image_size=32)
    with pytest.raises(ProvenanceError, match="synthetic image set made from other inputs .*data: saved 'd1', now 'd2'"):
        synthetic.load_synthetic(tmp_path, data_id="d2")


def test_rejects_float_images_and_missing_provenance(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        synthetic.save_synthetic(tmp_path, np.zeros((2, 8, 8), np.float32), class_id=0, class_name="NORMAL",
                                 seed=0, provenance=FP)
    with pytest.raises(ValueError, match="data id"):
        synthetic.save_synthetic(tmp_path, np.zeros((2, 8, 8), np.uint8), class_id=0, class_name="NORMAL",
                                 seed=0, provenance={})
