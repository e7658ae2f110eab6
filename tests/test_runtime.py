"""The tf.distribute strategy follows the hardware; GPU memory growth; the batch scales with replicas."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from helpers.core import runtime

TPU_ENV = ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE")

# Logical devices must be configured before TensorFlow initialises, so this runs in a fresh process.
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, os
    for key in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE"):
        os.environ.pop(key, None)
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from helpers.core import runtime

    strategy = runtime.distribution_strategy()
    batch = runtime.global_batch_size(8, strategy)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    history = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
    print("RESULT " + json.dumps({
        "strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync, "batch": batch,
        "variable": type(getattr(model.weights[0], "value", model.weights[0])).__name__,
        "loss": history.history["loss"],
    }))
""")


def test_mirrored_strategy_over_two_logical_cpu_devices(tmp_path):
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["strategy"] == "MirroredStrategy" and out["replicas"] == 2
    assert out["batch"] == 16  # 8 per replica
    assert out["variable"] == "MirroredVariable"  # built in the scope: one copy per device
    assert len(out["loss"]) == 2 and all(v == v and v < 10 for v in out["loss"])  # finite


@pytest.fixture
def no_tpu(monkeypatch):
    for key in TPU_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(os.path, "exists", lambda p, _real=os.path.exists: False if p == "/dev/accel0" else _real(p))
    runtime.distribution_strategy.cache_clear()  # one strategy per process: look again under these settings
    yield monkeypatch
    runtime.distribution_strategy.cache_clear()


def test_default_strategy_on_one_cpu(no_tpu):
    import tensorflow as tf

    if len(tf.config.list_logical_devices("GPU")) > 1:
        pytest.skip("several GPUs here")
    strategy = runtime.distribution_strategy()
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert runtime.global_batch_size(32, strategy) == 32 and runtime.global_batch_size(32) == 32


def test_tpu_address_from_colab_and_tpu_vms(no_tpu):
    assert runtime.tpu_address() is None
    no_tpu.setenv("TPU_ACCELERATOR_TYPE", "v2-8")
    assert runtime.tpu_address() == "local"
    no_tpu.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert runtime.tpu_address() == "grpc://10.0.0.2:8470"


def test_a_colab_tpu_gets_a_tpu_strategy(no_tpu):
    import tensorflow as tf

    calls = []

    class FakeResolver:
        def __init__(self, tpu):
            calls.append(("resolver", tpu))

    no_tpu.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    no_tpu.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", FakeResolver)
    no_tpu.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append(("connect", type(r).__name__)))
    no_tpu.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append(("init", type(r).__name__)))
    no_tpu.setattr(tf.distribute, "TPUStrategy", lambda r: ("TPUStrategy", r))
    name, resolver = runtime.distribution_strategy()
    assert name == "TPUStrategy" and isinstance(resolver, FakeResolver)
    assert calls == [("resolver", "grpc://10.0.0.2:8470"), ("connect", "FakeResolver"), ("init", "FakeResolver")]

    def broken(_resolver):
        raise ValueError("TPU busy")

    no_tpu.setattr(tf.tpu.experimental, "initialize_tpu_system", broken)
    runtime.distribution_strategy.cache_clear()
    with pytest.raises(RuntimeError, match="TPU was found .*grpc://10.0.0.2:8470.* TPU busy"):
        runtime.distribution_strategy()


def test_memory_growth_is_set_on_every_gpu(monkeypatch):
    import tensorflow as tf

    class Gpu:
        def __init__(self, name):
            self.name = name

    gpus, set_calls = [Gpu("/physical_device:GPU:0"), Gpu("/physical_device:GPU:1")], []

    def set_growth(device, enable):
        if device.name.endswith("1"):
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        set_calls.append((device.name, enable))

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", set_growth)
    growth = {"/physical_device:GPU:1": False}
    monkeypatch.setattr(tf.config.experimental, "get_memory_growth", lambda device: growth[device.name])
    with pytest.warns(RuntimeWarning, match="GPU:1"):
        assert runtime.enable_memory_growth() == ["/physical_device:GPU:0"]
    assert set_calls == [("/physical_device:GPU:0", True)]
    growth["/physical_device:GPU:1"] = True  # set by an earlier call (a setup cell run twice): no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runtime.enable_memory_growth() == ["/physical_device:GPU:0", "/physical_device:GPU:1"]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert runtime.enable_memory_growth() == []


# The GAN and a chapter-5 classifier under MirroredStrategy on two logical CPU devices.
MIRRORED_TRAINING_SCRIPT = textwrap.dedent("""
    import json, os, sys
    for key in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE"):
        os.environ.pop(key, None)
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from helpers import classifiers, gan
    from helpers.classifiers import deep, recipes
    from helpers.oversampling import oversample
    from helpers.data import Dataset
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(128, 32, 32), dtype=np.uint8)
    settings = gan.GanSettings(image_size=32, steps=4, steps_per_epoch=2, batch_size=8, preset="sn_diffaug_ema",
                               generator_filters=32, discriminator_filters=8)
    _, hist = gan.train_gan(x, settings, "gan", verbose=0)
    fp = json.load(open("gan/generator.json"))["fingerprint"]
    y = (x.mean(axis=(1, 2)) > np.median(x.mean(axis=(1, 2)))).astype(np.int64)
    splits = {s: Dataset(name="t", split=s, images=x, labels=y, class_names=("NORMAL", "PNEUMONIA"), source="test",
                         multi_label=False, image_size=32) for s in ("train", "val", "test")}
    settings = deep.GridSettings(epochs={"cnn": 1}, batch_size=8, patience=None, max_steps_per_epoch=3)
    rows = deep.run_deep_grid(splits, models=["cnn_strong"], strategies=["none"], seeds=[0], settings=settings,
                              run_dir="clf")
    spec = json.load(open("clf/deep/cnn_strong_none_seed0/spec.json"))
    print("RESULT " + json.dumps({"gan_replicas": fp.get("gan_replicas"), "d_loss": hist["d_loss"].tolist(),
                                  "g_loss": hist["g_loss"].tolist(), "d_real": hist["d_real"].tolist(),
                                  "clf_replicas": spec.get("replicas"), "clf_batch": spec["batch_size"],
                                  "auc": float(rows["roc_auc"].iloc[0])}))
""")


def test_gan_and_classifier_train_under_mirrored_strategy(tmp_path):
    result = subprocess.run([sys.executable, "-c", MIRRORED_TRAINING_SCRIPT], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["gan_replicas"] == 2 and out["clf_replicas"] == 2 and out["clf_batch"] == 8  # 8 per replica
    # losses read as on one device (each replica's loss is scaled once): BCE near ln 4 and ln 2 at the start
    assert 0.9 < out["d_loss"][0] < 2.2 and 0.3 < out["g_loss"][0] < 1.5 and 0.2 < out["d_real"][0] < 0.8
    assert 0.0 <= out["auc"] <= 1.0


def test_precision_policy_can_be_chosen_and_bad_names_raise(monkeypatch):
    import keras

    try:
        monkeypatch.setenv("HELPERS_PRECISION", "mixed_bfloat16")
        assert runtime.enable_mixed_precision_if_gpu() == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        monkeypatch.setenv("HELPERS_PRECISION", "half")
        with pytest.raises(ValueError, match="HELPERS_PRECISION='half' is not a precision policy"):
            runtime.enable_mixed_precision_if_gpu()
        monkeypatch.delenv("HELPERS_PRECISION")
        assert runtime.enable_mixed_precision_if_gpu() == ("mixed_float16" if runtime.has_gpu() else "float32")
    finally:
        keras.mixed_precision.set_global_policy("float32")
