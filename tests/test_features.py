"""helpers.classifiers.features and helpers.classifiers.resnet: ResNet-18 backbone, keras-hub weights, offline ImageNet fallback,
extraction, caches."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers.classifiers import features, resnet
from helpers.core.provenance import ProvenanceError
from helpers.core.runtime import set_seeds


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
        mp.setattr(features, "imagenet_resnet18", _offline)
        model, desc, _ = features.feature_extractor_cached(
            run_dir, "imagenet", 32, features.TaskTraining(epochs=1, seed=0, batch_size=16),
            provenance_base={"data": "abc"}, train=(x, y),
        )
    return model, desc, out.getvalue(), run_dir


def test_build_resnet18_param_count_and_stage_maps():
    model = features.build_resnet18(64)
    assert model.count_params() == features.RESNET18_PARAMS == resnet.RESNET18_PARAMS == 11_186_112
    shapes = [tuple(model.get_layer(f"stack{s}_block1_out").output.shape[1:]) for s in range(4)]
    assert shapes == [(16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512)]
    with pytest.raises(ValueError, match=">= 32"):
        resnet.resnet18(16)


def _keras_hub_resnet18(size):
    keras_hub = pytest.importorskip("keras_hub")
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(size, size, 3))


def test_random_init_equals_keras_hubs_after_the_same_seed():
    set_seeds(5)
    hub = _keras_hub_resnet18(32)
    set_seeds(5)
    ours = resnet.resnet18(32)
    assert [layer.name for layer in ours.layers[1:]] == [layer.name for layer in hub.layers[1:]]
    for layer in (layer for layer in ours.layers if layer.weights):
        for a, b in zip(layer.get_weights(), hub.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)


def test_copy_weights_from_a_saved_keras_hub_backbone_gives_the_same_outputs(tmp_path):
    set_seeds(1)
    hub = _keras_hub_resnet18(64)
    rng = np.random.default_rng(0)
    for layer in hub.layers:  # random weights everywhere, BN statistics included (not the init)
        layer.set_weights([(rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(0, 0.1, w.shape))
                           .astype("float32") for w in layer.weights])
    hub.save(tmp_path / "hub.keras")
    import keras

    reloaded = keras.models.load_model(tmp_path / "hub.keras", compile=False)
    set_seeds(2)  # another init: only the copy can make them agree
    ours = resnet.copy_weights(reloaded, resnet.resnet18(64))
    x = rng.normal(0, 1, (3, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(hub(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours(x, training=True)), np.asarray(hub(x, training=True)),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no counterpart"):
        resnet.copy_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), resnet.resnet18(32))


def test_imagenet_weights_arrive_in_our_architecture(monkeypatch):
    keras_hub = pytest.importorskip("keras_hub")
    set_seeds(7)
    hub = _keras_hub_resnet18(32)
    monkeypatch.setattr(keras_hub.models.ResNetBackbone, "from_preset", lambda preset: hub)
    model, desc = features.load_feature_extractor("imagenet", 32)
    assert desc == "imagenet (keras-hub resnet_18_imagenet)"
    backbone = model.get_layer("resnet18")
    np.testing.assert_array_equal(backbone.get_layer("stack3_block1_2_conv").get_weights()[0],
                                  hub.get_layer("stack3_block1_2_conv").get_weights()[0])


def test_keras_hub_is_installed_with_everything_installed_pinned(monkeypatch):
    calls = []

    def fake_pip(cmd, **kwargs):
        constraints = cmd[cmd.index("-c") + 1]
        calls.append((cmd, open(constraints).read().splitlines()))
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for keras-hub")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    monkeypatch.setattr(features, "_installed_versions",
                        lambda: {"tensorflow": "2.19.1", "keras": "3.10.0", "numpy": "2.0.2", "protobuf": "5.29.5"})
    with pytest.raises(RuntimeError, match=r"(?s)^pip could not add keras-hub without changing installed packages \(tensorflow 2.19.1, "
                       r"keras 3.10.0\)\n.*No matching distribution"):
        features.install_keras_hub()
    ((cmd, pins),) = calls
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert cmd[-2:] == ["keras-hub", "tensorflow-text==2.19.*"]
    assert pins == ["keras==3.10.0", "numpy==2.0.2", "protobuf==5.29.5", "tensorflow==2.19.1"]


def test_bad_weights_and_missing_training_data():
    with pytest.raises(ValueError, match="'imagenet' or 'task'"):
        features.load_feature_extractor("random", 32)
    with pytest.raises(ValueError, match="train="):
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
        run_dir, "imagenet", 32, features.TaskTraining(epochs=1), provenance_base={"data": "abc"},
        loader=must_not_train)
    assert desc2 == desc
    # the same folder asked for an extractor of other data, or other settings: never reused
    for data, epochs in (("other", 1), ("abc", 2)):
        with pytest.raises(ProvenanceError, match="feature extractor made from other inputs"):
            features.feature_extractor_cached(run_dir, "imagenet", 32, features.TaskTraining(epochs=epochs),
                                              provenance_base={"data": data}, loader=must_not_train)
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


def test_the_backbone_needs_no_keras_hub():
    code = ("import sys; from helpers.classifiers import features; features.build_resnet18(32); "
            "assert 'keras_hub' not in sys.modules, 'keras_hub was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_an_unloadable_saved_extractor_names_the_file_and_the_fix(tmp_path):
    settings = {"data": "abc", "weights": "task", "input_size": 32, "seed": 0, "epochs": 1}
    path = features.extractor_path(tmp_path, "task", 32, 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a keras file")
    path.with_suffix(".json").write_text(json.dumps({**settings, "description": "x"}))
    with pytest.raises(ValueError, match=r"resnet18_task_32_seed0.keras could not be loaded .*delete it and "
                                         r"resnet18_task_32_seed0.json"):
        features.feature_extractor_cached(tmp_path, "task", 32, features.TaskTraining(epochs=1),
                                          provenance_base={"data": "abc"})


def test_imagenet_weights_without_keras_hub_try_the_pinned_install_first(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "keras_hub" else real_find_spec(name, *a))
    tried = []

    def no_install():
        tried.append(True)
        raise RuntimeError("pip could not add keras-hub without changing installed packages (tensorflow 2.19.1, keras 3.10.0)")

    monkeypatch.setattr(features, "install_keras_hub", no_install)
    with pytest.raises(RuntimeError, match="could not add keras-hub"):
        features.imagenet_resnet18(32)
    assert tried == [True]
