"""helpers.features: ResNet-18 backbone, offline ImageNet fallback, extraction, caches."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

from helpers import features  # noqa: E402
from helpers.provenance import ProvenanceError  # noqa: E402


def _images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def _offline(*args, **kwargs):
    raise OSError("no internet in the test")


@pytest.fixture(scope="module")
def offline_extractor(tmp_path_factory):
    """An 'imagenet' request made offline: prints one line, trains 1 epoch on 32 images, saves."""
    run_dir = tmp_path_factory.mktemp("run")
    x = _images(32)
    y = np.arange(32) % 2
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(keras_hub.models.ResNetBackbone, "from_preset", _offline)
        model, desc, _ = features.feature_extractor_cached(
            run_dir, "imagenet", 32, seed=0, epochs=1, provenance_base={"data": "abc"},
            train_images=x, train_labels=y, batch_size=16,
        )
    return model, desc, out.getvalue(), run_dir


def test_build_resnet18_param_count():
    assert features.build_resnet18(32).count_params() == features.RESNET18_PARAMS == 11_186_112


def test_bad_weights_and_missing_training_data():
    with pytest.raises(ValueError, match="'imagenet' or 'task'"):
        features.load_feature_extractor("random", 32)
    with pytest.raises(ValueError, match="train_images"):
        features.load_feature_extractor("task", 32)


def test_imagenet_offline_falls_back_to_task_training(offline_extractor):
    model, desc, printed, _ = offline_extractor
    lines = [line for line in printed.splitlines() if line.strip()]
    assert len(lines) == 1 and "could not be loaded" in lines[0] and "OSError" in lines[0]
    assert "training ResNet-18 on the task instead" in lines[0]
    assert desc.startswith("task-trained (ImageNet preset unavailable: OSError")


def test_extractor_output_shapes(offline_extractor):
    model = offline_extractor[0]
    x = _images(5, seed=1)
    f = features.extract_features(model, x)
    assert f.shape == (5, 512) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_allclose(features.extract_features(model, x[..., None]), f, rtol=1e-5, atol=1e-5)
    assert features.extract_features(model, _images(2, size=28)).shape == (2, 512)  # resized inside
    with pytest.raises(ValueError, match="uint8-scale"):
        features.extract_features(model, x / 255.0)


def test_saved_extractor_reloads_without_retraining(offline_extractor):
    model, desc, _, run_dir = offline_extractor
    path = features.extractor_path(run_dir, "imagenet", 32, 0)
    assert path.exists() and path.with_suffix(".json").exists()

    def must_not_train(*args, **kwargs):
        raise AssertionError("retrained although a saved extractor exists")

    reloaded, desc2, _ = features.feature_extractor_cached(
        run_dir, "imagenet", 32, seed=0, epochs=1, provenance_base={"data": "abc"}, loader=must_not_train)
    assert desc2 == desc
    # the same folder asked for an extractor of other data, or other settings: never reused
    for changed in ({"provenance_base": {"data": "other"}, "epochs": 1}, {"provenance_base": {"data": "abc"}, "epochs": 2}):
        with pytest.raises(ProvenanceError, match="feature extractor made from other inputs"):
            features.feature_extractor_cached(run_dir, "imagenet", 32, seed=0, loader=must_not_train, **changed)
    x = _images(4, seed=2)
    np.testing.assert_allclose(features.extract_features(reloaded, x),
                               features.extract_features(model, x), rtol=1e-5, atol=1e-5)


class CountingExtractor:
    def __init__(self):
        self.calls = 0

    def predict(self, x, batch_size=256, verbose=0):
        self.calls += 1
        return np.asarray(x, dtype=np.float32).reshape(len(x), -1)[:, :4] + 0.5


def test_cached_features_hit_and_miss(tmp_path):
    counter = CountingExtractor()
    fake = features.Extractor(counter, "counting", "aaaaaaaaaaaa")
    x = _images(6, size=8)
    a = features.cached_features(tmp_path, split="train", images=x, extractor=fake)
    b = features.cached_features(tmp_path, split="train", images=x, extractor=fake)
    assert counter.calls == 1 and np.array_equal(a, b)
    x2 = x.copy()
    x2[0, 0, 0] ^= 1
    features.cached_features(tmp_path, split="train", images=x2, extractor=fake)
    assert counter.calls == 2
    features.cached_features(tmp_path, split="synthetic", images=x, extractor=fake)
    assert counter.calls == 3
    # another extractor (e.g. retrained on other data) never reads the first one's features
    other = features.Extractor(counter, "counting", "bbbbbbbbbbbb")
    features.cached_features(tmp_path, split="train", images=x, extractor=other)
    assert counter.calls == 4
    assert len(list(tmp_path.glob("*.npz"))) == 4


def test_embed_2d_keeps_groups_and_sizes():
    rng = np.random.default_rng(0)
    groups = {"real NORMAL": rng.normal(0, 1, (40, 8)), "synthetic NORMAL": rng.normal(3, 1, (30, 8))}
    for method in ("pca", "tsne"):
        xy = features.embed_2d(groups, method=method, seed=0, max_per_group=25)
        assert {k: v.shape for k, v in xy.items()} == {"real NORMAL": (25, 2), "synthetic NORMAL": (25, 2)}
    pca = features.embed_2d(groups, method="pca")
    gap = np.linalg.norm(pca["real NORMAL"].mean(0) - pca["synthetic NORMAL"].mean(0))
    assert gap > 1.0  # the shifted group lands apart
    with pytest.raises(ValueError, match="pca"):
        features.embed_2d(groups, method="umap")
