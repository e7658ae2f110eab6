"""Tests for helpers.gan: tiny models (28/32 px, few filters), a few dozen images, 1-3 epochs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from helpers import gan as G

TINY = {"generator_filters": 32, "discriminator_filters": 16, "batch_size": 16, "verbose": 0}
METRICS = ["d_loss", "g_loss", "d_real", "d_fake"]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (48, 28, 28), dtype=np.uint8)


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """A 2-epoch run (3 steps per epoch) shared by several tests."""
    run_dir = tmp_path_factory.mktemp("gan2")
    gan, history = G.train_gan(images, image_size=28, epochs=2, run_dir=run_dir, **TINY)
    return run_dir, gan, history


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def _checkpoint_arrays(path: Path, group: str) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[k] for k in sorted(k for k in data.files if k.startswith(group + "/"))]


class _Capture(keras.callbacks.Callback):
    """Records G's and D's weights when training starts (i.e. right after any resume)."""

    def on_train_begin(self, logs=None):
        self.g = _weights(self.model.generator)
        self.d = _weights(self.model.discriminator)
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)


class _Kill(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == 1 and batch == 1:
            raise KeyboardInterrupt("simulated kill in epoch 2")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


# ----------------------------------------------------------------------------------- builders
@pytest.mark.parametrize("size", G.SUPPORTED_SIZES)
def test_shapes_and_range(size):
    gen = G.build_generator(size, base_filters=32)
    disc = G.build_discriminator(size, base_filters=8)
    assert gen.output_shape == (None, size, size, 1)
    assert disc.output_shape == (None, 1)
    fake = np.asarray(gen(np.random.default_rng(0).standard_normal((2, 100)).astype("float32")))
    assert fake.shape == (2, size, size, 1)
    assert np.all(np.abs(fake) <= 1.0)
    p = np.asarray(disc(fake))
    assert p.shape == (2, 1) and np.all((p >= 0) & (p <= 1))
    assert not any("batch_normalization" in layer.name for layer in gen.layers + disc.layers)


def test_seed_architecture_128():
    gen = G.build_generator(128)
    assert gen.get_layer("project").units == 4 * 4 * 512
    ups = [layer for layer in gen.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in ups] == [256, 128, 64, 32, 16]
    disc = G.build_discriminator(128)
    downs = [layer for layer in disc.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(downs) == 5 and downs[0].filters == 64
    assert G.build_generator(28).get_layer("project").units == 7 * 7 * 512


@pytest.mark.parametrize("build", [G.build_generator, G.build_discriminator])
def test_unsupported_size(build):
    with pytest.raises(ValueError, match=r"48.*SUPPORTED_SIZES"):
        build(48)


# ---------------------------------------------------------------------------------------- data
def test_dataset_scaling_and_batches(images):
    ds = G.make_gan_dataset(images, batch_size=16, seed=0)
    batches = list(ds)
    assert len(batches) == 3 and batches[0].shape == (16, 28, 28, 1)
    values = np.concatenate([b.numpy() for b in batches])
    assert values.min() >= -1.0 and values.max() <= 1.0
    assert np.allclose(np.sort(values.ravel()), np.sort(images.astype("float32").ravel() / 127.5 - 1))
    again = [b.numpy() for b in G.make_gan_dataset(images, batch_size=16, seed=0)]
    assert np.array_equal(again[0], batches[0].numpy())


def test_too_few_images(images):
    with pytest.raises(ValueError, match=r"only 10 images for batch_size=64.*smaller batch_size"):
        G.make_gan_dataset(images[:10], batch_size=64)


def test_minority_training_images(images):
    labels = np.array([0, 1] * 24)
    assert np.array_equal(G.minority_training_images(images, labels, 0), images[::2])
    with pytest.raises(ValueError):
        G.minority_training_images(images, labels, 5)


# ------------------------------------------------------------------------------------ training
def test_train_logs_and_artifacts(trained):
    run_dir, gan, history = trained
    assert list(history.columns) == ["epoch", *METRICS, "seconds"]
    assert history["epoch"].tolist() == [1, 2]
    assert np.isfinite(history[METRICS].to_numpy()).all()
    assert pd.read_csv(run_dir / "history.csv").shape == (2, 6)
    assert (run_dir / "progress" / "epoch_0002.png").stat().st_size > 0
    with np.load(run_dir / "progress" / "grids.npz") as grids:
        assert grids["epochs"].tolist() == [1, 2]
        assert grids["images"].shape == (2, 16, 28, 28) and grids["images"].dtype == np.uint8
    info = json.loads((run_dir / "generator.json").read_text())
    assert info["epochs"] == 2 and info["image_size"] == 28 and info["seed"] == 0
    assert gan.epochs_trained == 2
    ckpt = G.latest_checkpoint(run_dir)
    assert ckpt is not None and ckpt[0] == 2
    for saved, now in zip(_checkpoint_arrays(ckpt[1], "g"), _weights(gan.generator), strict=False):
        assert np.array_equal(saved, now)


def test_fit_history_has_metrics(images):
    gen = G.build_generator(28, base_filters=16)
    disc = G.build_discriminator(28, base_filters=8)
    gan = G.DCGAN(gen, disc, d_steps=2, label_smoothing=0.1)
    gan.compile()
    h = gan.fit(G.make_gan_dataset(images, batch_size=16), epochs=1, steps_per_epoch=2, verbose=0,
                shuffle=False)
    assert set(METRICS) <= set(h.history)


def test_resume_runs_only_new_epoch_and_matches_uninterrupted(images, trained, tmp_path):
    run_dir = tmp_path / "resumed"
    shutil.copytree(trained[0], run_dir)
    gan2 = trained[1]
    capture = _Capture()
    gan3, history = G.train_gan(images, image_size=28, epochs=3, run_dir=run_dir,
                                callbacks=[capture], **TINY)
    assert capture.epochs == [3]
    assert history["epoch"].tolist() == [1, 2, 3]
    # the weights training resumed from are exactly the epoch-2 checkpoint (= the 2-epoch model)
    ckpt2 = run_dir / "checkpoints" / "epoch_0002.npz"
    for saved, restored, before in zip(_checkpoint_arrays(ckpt2, "g"), capture.g, _weights(gan2.generator), strict=False):
        assert np.array_equal(saved, restored) and np.array_equal(restored, before)
    for restored, before in zip(capture.d, _weights(gan2.discriminator), strict=True):
        assert np.array_equal(restored, before)
    assert int(np.asarray(gan3.g_optimizer.iterations)) == 9
    # resuming reproduces an uninterrupted 3-epoch run
    straight, _ = G.train_gan(images, image_size=28, epochs=3, run_dir=tmp_path / "straight", **TINY)
    for a, b in zip(_weights(straight.generator), _weights(gan3.generator), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # nothing left to do: no epoch runs
    again = _Capture()
    G.train_gan(images, image_size=28, epochs=3, run_dir=run_dir, callbacks=[again], **TINY)
    assert not hasattr(again, "epochs")


def test_killed_run_resumes_from_last_checkpoint(images, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        G.train_gan(images, image_size=28, epochs=2, run_dir=tmp_path, callbacks=[_Kill()], **TINY)
    assert G.latest_checkpoint(tmp_path)[0] == 1
    capture = _Capture()
    _, history = G.train_gan(images, image_size=28, epochs=2, run_dir=tmp_path, callbacks=[capture], **TINY)
    assert capture.epochs == [2]
    assert history["epoch"].tolist() == [1, 2]
    for saved, restored in zip(_checkpoint_arrays(tmp_path / "checkpoints" / "epoch_0001.npz", "g"),
                               capture.g, strict=False):
        assert np.array_equal(saved, restored)


def test_checkpoint_from_other_architecture(images, trained):
    run_dir = trained[0]
    with pytest.raises(ValueError, match=r"checkpoints.*another architecture.*generator_filters.*Delete"):
        G.train_gan(images, image_size=28, epochs=3, run_dir=run_dir, **{**TINY, "generator_filters": 64})


# ------------------------------------------------------------------------------------ sampling
def test_generate_requires_trained_generator(tmp_path):
    with pytest.raises(ValueError, match="train the GAN first"):
        G.generate_images(None, 4)
    with pytest.raises(ValueError, match="train the GAN first"):
        G.generate_images(G.build_generator(28, base_filters=16), 4)
    with pytest.raises(FileNotFoundError, match=r"generator\.keras.*run notebook 02 first"):
        G.load_generator(tmp_path)


def test_generate_images_deterministic(trained):
    run_dir, gan, _ = trained
    gen = G.load_generator(run_dir)
    a = G.generate_images(gen, 10, seed=3, batch_size=4)
    b = G.generate_images(gan, 10, seed=3)
    c = G.generate_images(gen, 10, seed=4)
    assert a.shape == (10, 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conditional_gan_trains_and_samples_per_class(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (32, 32, 32), dtype=np.uint8)
    labels = np.arange(32) % 3
    gan, history = G.train_gan(imgs, labels=labels, image_size=32, epochs=1, run_dir=tmp_path,
                               steps_per_epoch=2, **TINY)
    assert isinstance(gan, G.ConditionalDCGAN) and gan.num_classes == 3
    assert np.isfinite(history[METRICS].to_numpy()).all()
    gen = G.load_generator(tmp_path)
    per_class = [G.generate_images(gen, 4, seed=0, labels=k) for k in range(3)]
    assert all(x.shape == (4, 32, 32) for x in per_class)
    assert not np.array_equal(per_class[0], per_class[1])
    mixed = G.generate_images(gen, 3, seed=0, labels=np.array([0, 1, 2]))
    assert mixed.shape == (3, 32, 32)
    with pytest.raises(ValueError, match="conditional"):
        G.generate_images(gen, 2)


def test_diagnose_history_reads_the_curves():
    balanced = pd.DataFrame({"epoch": [1, 2, 3], "d_loss": [1.37, 1.38, 1.39], "g_loss": [0.72, 0.70, 0.69],
                             "d_real": [0.51, 0.51, 0.50], "d_fake": [0.49, 0.49, 0.49]})
    dominated = balanced.assign(d_loss=[0.4, 0.1, 0.05], g_loss=[3.0, 5.0, 6.0], d_real=[0.9, 0.97, 0.98],
                                d_fake=[0.1, 0.03, 0.02])
    healthy = G.diagnose_history(balanced)
    assert healthy["state"] == "near equilibrium" and healthy["epochs"] == 3
    assert "averaged 1.380 (equilibrium 1.386)" in healthy["lines"][0]
    assert G.diagnose_history(dominated)["state"] == "discriminator dominates"
    with pytest.raises(ValueError, match="train the GAN first"):
        G.diagnose_history(pd.DataFrame(columns=balanced.columns))


def test_load_progress_names_notebook_02(tmp_path):
    from helpers.artifacts import ArtifactError

    with pytest.raises(ArtifactError, match="notebook 02"):
        G.load_progress(tmp_path)


def test_gan_training_set_holds_train_minority_images_only():
    """What notebook 02 hands the GAN: exactly the training split's minority images, nothing of val/test."""
    import hashlib

    from helpers import data

    splits = data.load_splits("phantom", 32, seed=3, n_train=120, n_val=40, n_test=40)
    train = splits["train"]
    gan_images = G.minority_training_images(train.images, train.labels, train.minority_class())
    assert len(gan_images) == train.class_counts()["NORMAL"]

    def digests(images):
        return {hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in images}

    assert digests(gan_images) <= digests(train.images[train.labels == 0])
    assert not digests(gan_images) & (digests(splits["val"].images) | digests(splits["test"].images))
