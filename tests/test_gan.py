"""Tests for helpers.gan (and helpers.evaluation.gan_health): tiny models (28/32 px, few filters), a few dozen images, 2-6 steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from helpers import gan as G
from helpers.core.provenance import ProvenanceError
from helpers.evaluation import gan_health
from helpers.gan.checkpoints import list_checkpoints
from helpers.gan.dcgan import n_resamplings

TINY = {"generator_filters": 32, "discriminator_filters": 16, "batch_size": 16}
METRICS = ["d_loss", "g_loss", "d_real", "d_fake"]
PROV = {"dataset": "unit-test", "image_size": 28}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (48, 28, 28), dtype=np.uint8)


def _train(images, *, run_dir, provenance=None, labels=None, seed=0, callbacks=(), **settings):
    """``train_gan`` with :data:`TINY` settings (overridable) and keyword arguments for everything."""
    return G.train_gan(images, G.GanSettings(**{**TINY, **settings}), run_dir, labels=labels,
                       provenance=provenance, seed=seed, callbacks=callbacks, verbose=0)


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """A 2-epoch run (3 steps per epoch) shared by several tests."""
    run_dir = tmp_path_factory.mktemp("gan2")
    gan, history = _train(images, image_size=28, epochs=2, run_dir=run_dir, provenance=PROV, **TINY)
    return run_dir, gan, history


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def _checkpoint_arrays(path: Path, group: str) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[k] for k in sorted(k for k in data.files if k.startswith(group + "/"))]


class _Capture(keras.callbacks.Callback):
    """Records G's and D's weights when training starts (i.e. right after any resume)."""

    def on_train_begin(self, logs=None):
        if not hasattr(self, "g"):  # a run may call fit more than once (rounds of unequal length)
            self.g = _weights(self.model.generator)
            self.d = _weights(self.model.discriminator)
            self.epochs = []
            self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(int(np.asarray(self.model.g_optimizer.iterations)))


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


def test_paper_architecture_128():
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
    assert list(history.columns) == ["step", "epoch", *METRICS, "seconds"]
    assert history["epoch"].tolist() == [1, 2] and history["step"].tolist() == [3, 6]
    assert np.isfinite(history[METRICS].to_numpy()).all()
    assert pd.read_csv(run_dir / "history.csv").shape == (2, 7)
    assert (run_dir / "progress" / "step_000006.png").stat().st_size > 0
    with np.load(run_dir / "progress" / "grids.npz") as grids:
        assert grids["steps"].tolist() == [3, 6] and grids["epochs"].tolist() == [1, 2]
        assert grids["images"].shape == (2, 16, 28, 28) and grids["images"].dtype == np.uint8
    info = json.loads((run_dir / "generator.json").read_text())
    assert info["steps"] == 6 and info["epochs"] == 2 and info["preset"] == "dcgan" and info["sampling"] == "raw"
    fp = info["fingerprint"]
    assert fp["dataset"] == "unit-test" and fp["gan_image_size"] == 28 and fp["gan_seed"] == 0
    assert fp["gan_steps"] == 6 and fp["gan_n_images"] == 48 and len(fp["gan_images_digest"]) == 16
    assert gan.epochs_trained == 2 and gan.steps_trained == 6
    ckpt = list_checkpoints(run_dir)[-1]
    assert ckpt is not None and ckpt[0] == 6
    with np.load(ckpt[1]) as data:
        assert json.loads(str(data["fingerprint"])) == fp
    for saved, now in zip(_checkpoint_arrays(ckpt[1], "g"), _weights(gan.generator), strict=False):
        assert np.array_equal(saved, now)


def test_fit_history_has_metrics(images):
    gen = G.build_generator(28, base_filters=16)
    disc = G.build_discriminator(28, base_filters=8)
    gan = G.DCGAN(gen, disc, d_steps=2, loss=G.BCELoss(label_smoothing=0.1))
    gan.compile()
    h = gan.fit(G.make_gan_dataset(images, batch_size=16), epochs=1, steps_per_epoch=2, verbose=0,
                shuffle=False)
    assert set(METRICS) <= set(h.history) and "r1" not in h.history
    assert gan.sampler is gan.generator and gan.ema_generator is None


def test_resume_runs_only_new_epoch_and_matches_uninterrupted(images, trained, tmp_path):
    run_dir = tmp_path / "resumed"
    shutil.copytree(trained[0], run_dir)
    gan2 = trained[1]
    capture = _Capture()
    gan3, history = _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance=PROV,
                                callbacks=[capture], **TINY)
    assert capture.epochs == [3]
    assert history["epoch"].tolist() == [1, 2, 3]
    # the weights training resumed from are exactly the step-6 checkpoint (= the 2-epoch model)
    ckpt2 = run_dir / "checkpoints" / "step_000006.npz"
    for saved, restored, before in zip(_checkpoint_arrays(ckpt2, "g"), capture.g, _weights(gan2.generator), strict=False):
        assert np.array_equal(saved, restored) and np.array_equal(restored, before)
    for restored, before in zip(capture.d, _weights(gan2.discriminator), strict=True):
        assert np.array_equal(restored, before)
    assert int(np.asarray(gan3.g_optimizer.iterations)) == 9
    # resuming reproduces an uninterrupted 3-epoch run
    straight, _ = _train(images, image_size=28, epochs=3, run_dir=tmp_path / "straight", provenance=PROV, **TINY)
    for a, b in zip(_weights(straight.generator), _weights(gan3.generator), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # nothing left to do: no epoch runs
    again = _Capture()
    _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance=PROV, callbacks=[again], **TINY)
    assert not hasattr(again, "epochs")


def test_step_budget_resumes_2_to_4_like_an_uninterrupted_run(images, tmp_path):
    """Rounds end at multiples of steps_per_epoch (3 here) and at the budget, resumed or not."""
    _, h2 = _train(images, image_size=28, steps=2, run_dir=tmp_path / "a", **TINY)
    assert h2["step"].tolist() == [2]
    capture = _Capture()
    gan4, h4 = _train(images, image_size=28, steps=4, run_dir=tmp_path / "a", callbacks=[capture], **TINY)
    assert capture.steps == [3, 4] and h4["step"].tolist() == [2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step_000003.npz", "step_000004.npz"]
    straight, hs = _train(images, image_size=28, steps=4, run_dir=tmp_path / "b", **TINY)
    assert hs["step"].tolist() == [3, 4]
    for a, b in zip(_weights(straight.generator), _weights(gan4.generator), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "a" / "generator.json").read_text())["steps"] == 4


def test_budget_is_steps_or_epochs(images, tmp_path):
    for budget in ({}, {"epochs": 1, "steps": 2}):
        with pytest.raises(ValueError, match="exactly one"):
            _train(images, image_size=28, run_dir=tmp_path, **budget, **TINY)


def test_killed_run_resumes_from_last_checkpoint(images, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _train(images, image_size=28, epochs=2, run_dir=tmp_path, callbacks=[_Kill()], **TINY)
    assert list_checkpoints(tmp_path)[-1][0] == 3
    capture = _Capture()
    _, history = _train(images, image_size=28, epochs=2, run_dir=tmp_path, callbacks=[capture], **TINY)
    assert capture.epochs == [2]
    assert history["epoch"].tolist() == [1, 2]
    for saved, restored in zip(_checkpoint_arrays(tmp_path / "checkpoints" / "step_000003.npz", "g"),
                               capture.g, strict=False):
        assert np.array_equal(saved, restored)


# ------------------------------------------------------------------------- resume that cannot lie
def test_checkpoint_from_other_architecture(images, trained):
    run_dir = trained[0]
    with pytest.raises(ProvenanceError, match=r"checkpoints holds a GAN checkpoint.*gan_generator_filters: "
                                              r"saved 32, now 64.*another run_dir"):
        _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance=PROV,
                    **{**TINY, "generator_filters": 64})


def test_stale_data_or_provenance_raises(images, trained):
    run_dir = trained[0]
    other = images.copy()
    other[0, 0, 0] ^= 1  # one pixel of one image
    with pytest.raises(ProvenanceError, match=r"gan_images_digest: saved"):
        _train(other, image_size=28, epochs=3, run_dir=run_dir, provenance=PROV, **TINY)
    with pytest.raises(ProvenanceError, match=r"dataset: saved 'unit-test', now 'other'"):
        _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance={**PROV, "dataset": "other"}, **TINY)
    with pytest.raises(ProvenanceError, match=r"gan_seed: saved 0, now 1"):
        _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance=PROV, **{**TINY, "seed": 1})
    with pytest.raises(ValueError, match="gan_"):
        _train(images, image_size=28, epochs=3, run_dir=run_dir, provenance={"gan_seed": 3}, **TINY)


def test_longer_finished_run_is_not_reported_as_a_shorter_one(images, trained):
    run_dir = trained[0]
    before = (run_dir / "generator.json").read_text()
    with pytest.raises(ProvenanceError, match=r"gan_steps: saved 6, now 3"):
        _train(images, image_size=28, epochs=1, run_dir=run_dir, provenance=PROV, **TINY)
    assert (run_dir / "generator.json").read_text() == before


@pytest.mark.parametrize("damage", ["truncated", "bad CRC"])
def test_corrupt_checkpoint_falls_back_to_the_previous_one(damage, images, tmp_path, capsys):
    _train(images, image_size=28, epochs=2, run_dir=tmp_path, **TINY)
    newest = tmp_path / "checkpoints" / "step_000006.npz"
    data = bytearray(newest.read_bytes())
    if damage == "truncated":  # as by a full disk or a killed copy
        data = data[: len(data) // 2]
    else:  # one flipped bit inside the stored generator weights
        data[len(data) // 3] ^= 0x10
    newest.write_bytes(bytes(data))
    leftover = tmp_path / "checkpoints" / ".step_000009.x1y2z3.tmp.npz"  # a killed atomic write
    leftover.write_bytes(b"partial")
    capture = _Capture()
    _, history = _train(images, image_size=28, epochs=2, run_dir=tmp_path, callbacks=[capture], **TINY)
    out = capsys.readouterr().out
    assert "step_000006.npz is unreadable" in out and "falling back to the previous checkpoint" in out
    assert capture.epochs == [2] and history["step"].tolist() == [3, 6]
    for saved, restored in zip(_checkpoint_arrays(tmp_path / "checkpoints" / "step_000003.npz", "g"),
                               capture.g, strict=True):
        assert np.array_equal(saved, restored)
    assert not leftover.exists()
    assert (tmp_path / "checkpoints" / "step_000006.npz.corrupt").exists()
    fresh = G.DCGAN(G.build_generator(28, base_filters=32), G.build_discriminator(28, 16))
    fresh.compile()
    assert G.restore_checkpoint(fresh, newest) == 6  # rewritten whole by the resumed run


def test_restore_checkpoint_names_an_unreadable_file(images, trained, tmp_path):
    bad = tmp_path / "step_000001.npz"
    bad.write_bytes(b"not a zip file")
    gan = trained[1]
    with pytest.raises(ValueError, match=r"step_000001\.npz is unreadable"):
        G.restore_checkpoint(gan, bad)


def test_folder_of_an_unknown_run_raises(images, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_0003.npz").write_bytes(b"old format")
    with pytest.raises(ProvenanceError, match=r"without a fingerprint.*epoch_0003"):
        _train(images, image_size=28, steps=2, run_dir=tmp_path, **TINY)


def test_load_generator_checks_expected(trained, tmp_path):
    run_dir = trained[0]
    assert G.load_generator(run_dir, expected=PROV) is not None
    assert G.load_generator(run_dir, expected={"gan_steps": 6, "gan_loss": "bce"}) is not None
    with pytest.raises(ProvenanceError, match=r"dataset: saved 'unit-test', now 'other'"):
        G.load_generator(run_dir, expected={**PROV, "dataset": "other"})
    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    (bare / "generator.json").write_text("{}")
    with pytest.raises(ProvenanceError, match="no fingerprint"):
        G.load_generator(bare, expected=PROV)


# ----------------------------------------------------------------------- options for limited data
def test_presets_are_complete_and_dcgan_is_the_papers():
    assert G.GAN_PRESETS["dcgan"] == {"loss": "bce", "r1_gamma": 0.0, "d_lr": 2e-4, "g_lr": 2e-4, "beta_1": 0.5,
                                      "diffaugment": "", "spectral_norm": False, "minibatch_std": False,
                                      "ema_decay": 0.0, "conditional": False}
    assert {"dcgan", "dcgan_diffaug", "sn_diffaug_ema"} <= set(G.GAN_PRESETS)
    for name, options in G.GAN_PRESETS.items():
        assert set(G.GAN_OPTIONS) <= set(options) <= set(G.GAN_OPTIONS) | set(G.GENERATOR_OPTIONS)
        assert G.gan_options(name) == {**options, "diffaugment": G.gan_options(name)["diffaugment"]}
    assert G.gan_options("sn_diffaug_ema", ema_decay=0.9, loss=None)["ema_decay"] == 0.9
    with pytest.raises(ValueError, match="unknown GAN preset"):
        G.gan_options("stylegan")
    with pytest.raises(TypeError, match="unknown GAN option"):
        G.gan_options("dcgan", dropout=0.1)
    with pytest.raises(ValueError, match="loss"):
        G.gan_options("dcgan", loss="wasserstein")


OPTION_CASES = {
    "diffaugment": ({"diffaugment": "color,translation,cutout"}, {"diffaugment": ""}),
    "spectral_norm": ({"spectral_norm": True}, {"spectral_norm": False}),
    "minibatch_std": ({"minibatch_std": True}, {"minibatch_std": False}),
    "ema": ({"ema_decay": 0.99}, {"ema_decay": 0.999}),
    "hinge": ({"loss": "hinge"}, {"loss": "bce"}),
    "r1": ({"r1_gamma": 1.0}, {"r1_gamma": 0.5}),
    "ttur": ({"d_lr": 4e-4, "g_lr": 1e-4}, {"g_lr": 2e-4}),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_option_runs_is_recorded_resumes_and_refuses_other_options(case, images, tmp_path):
    option, other = OPTION_CASES[case]
    gan, history = _train(images, image_size=28, steps=2, run_dir=tmp_path, **option, **TINY)
    assert np.isfinite(history.drop(columns="seconds").to_numpy(dtype=float)).all()
    fp = json.loads((tmp_path / "generator.json").read_text())["fingerprint"]
    for key, value in option.items():
        assert fp[f"gan_{key}"] == value
    capture = _Capture()
    gan, history = _train(images, image_size=28, steps=3, run_dir=tmp_path, callbacks=[capture], **option, **TINY)
    assert capture.steps == [3] and history["step"].tolist() == [2, 3]
    key = next(iter(other))
    with pytest.raises(ProvenanceError, match=rf"gan_{key}: saved"):
        _train(images, image_size=28, steps=4, run_dir=tmp_path, **{**option, **other}, **TINY)


def test_hinge_and_r1_losses_are_finite_and_logged(images, tmp_path):
    gan, history = _train(images, image_size=28, steps=3, run_dir=tmp_path, preset="sn_diffaug_ema_hinge",
                               r1_gamma=1.0, d_steps=2, **TINY)
    assert list(history.columns) == ["step", "epoch", *METRICS, "r1", "seconds"]
    assert np.isfinite(history[[*METRICS, "r1"]].to_numpy()).all() and (history["r1"] > 0).all()
    assert ((history[["d_real", "d_fake"]] > 0) & (history[["d_real", "d_fake"]] < 1)).all().all()
    assert isinstance(gan.gan_loss, G.HingeLoss) and gan.gan_loss.from_logits
    assert gan_health.diagnose_history(history, loss="hinge")["lines"][0].count("equilibrium 2.000") == 1


def test_ema_generator_differs_from_raw_and_is_the_saved_one(images, tmp_path):
    gan, _ = _train(images, image_size=28, steps=3, run_dir=tmp_path, preset="sn_diffaug_ema", **TINY)
    ema, raw = _weights(gan.ema_generator), _weights(gan.generator)
    assert any(not np.allclose(a, b) for a, b in zip(ema, raw, strict=True))
    saved = G.load_generator(tmp_path)
    for a, b in zip(_weights(saved), ema, strict=True):
        np.testing.assert_array_equal(a, b)
    raw_saved = keras.models.load_model(tmp_path / "generator_raw.keras", compile=False)
    for a, b in zip(_weights(raw_saved), raw, strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "generator.json").read_text())["sampling"] == "ema"
    assert np.array_equal(G.generate_images(gan, 4, seed=1), G.generate_images(saved, 4, seed=1))
    with np.load(list_checkpoints(tmp_path)[-1][1]) as data:
        assert any(k.startswith("ema/") for k in data.files)


def test_discriminator_options_build_the_layers():
    disc = G.build_discriminator(32, 8, spectral_norm=True, minibatch_std=True, logits=True)
    names = [type(layer).__name__ for layer in disc.layers]
    assert names.count("SpectralNormalization") == 4 and "MinibatchStdDev" in names
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1)).astype("float32")
    assert disc(x).shape == (4, 1)
    layer = G.MinibatchStdDev()
    same = np.repeat(x[:1, :4, :4], 4, axis=0)
    assert layer(x[:, :4, :4]).shape == (4, 4, 4, 2)
    assert float(np.asarray(layer(same))[..., 1].max()) < 1e-3 < float(np.asarray(layer(x[:, :4, :4]))[..., 1].min())
    gen, disc = G.build_networks(28, "sn_diffaug_ema_hinge", generator_filters=16, discriminator_filters=8)
    assert disc.get_layer("score_sn") is not None


def test_conditional_preset_trains_on_both_classes_and_draws_the_minority(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (32, 32, 32), dtype=np.uint8)
    labels = np.arange(32) % 2
    with pytest.raises(ValueError, match="conditional.*labels="):
        _train(imgs, image_size=32, steps=2, run_dir=tmp_path, preset="sn_diffaug_ema_cond", **TINY)
    gan, history = _train(imgs, labels=labels, sample_label=0, image_size=32, steps=2, run_dir=tmp_path,
                               preset="sn_diffaug_ema_cond", **TINY)
    assert gan.num_classes == 2 and gan.ema_generator is not None
    info = json.loads((tmp_path / "generator.json").read_text())
    assert info["sample_label"] == 0 and info["fingerprint"]["gan_conditional"] is True
    gen = G.load_generator(tmp_path)
    minority = G.generate_images(gen, 4, seed=0)  # the sample_label by default
    assert minority.shape == (4, 32, 32)
    assert np.array_equal(minority, G.generate_images(gen, 4, seed=0, labels=0))
    assert not np.array_equal(minority, G.generate_images(gen, 4, seed=0, labels=1))
    with pytest.raises(ValueError, match="labels were given with conditional=False"):
        _train(imgs, labels=labels, conditional=False, image_size=32, steps=2, run_dir=tmp_path, **TINY)


# ------------------------------------------------------------------------------- generator options
def test_generator_options_are_listed_only_when_they_differ_from_the_papers():
    assert "upsample" not in G.gan_options("sn_diffaug_ema") and "residual" not in G.gan_options("dcgan")
    assert G.gan_options("sn_diffaug_ema", upsample="transpose", residual=False) == G.gan_options("sn_diffaug_ema")
    assert G.gan_options("sn_diffaug_ema_resize")["upsample"] == "resize"
    assert G.gan_options("sn_diffaug_ema_resblock") == {**G.gan_options("sn_diffaug_ema_resize"), "residual": True}
    assert G.gan_options("dcgan", upsample="RESIZE")["upsample"] == "resize"
    with pytest.raises(ValueError, match="upsample must be one of"):
        G.gan_options("dcgan", upsample="bilinear")
    with pytest.raises(ValueError, match="upsample must be one of"):
        G.build_generator(32, base_filters=16, upsample="pixelshuffle")


@pytest.mark.parametrize("size", [28, 64])
def test_resize_and_residual_generators_draw_images_without_transposed_convolutions(size):
    z = np.random.default_rng(0).standard_normal((2, 100)).astype("float32")
    paper = G.build_generator(size, base_filters=32)
    for options in ({"upsample": "resize"}, {"upsample": "resize", "residual": True}):
        gen = G.build_generator(size, base_filters=32, **options)
        kinds = [type(layer).__name__ for layer in gen.layers]
        assert "Conv2DTranspose" not in kinds
        assert kinds.count("UpSampling2D") == (2 if options.get("residual") else 1) * n_resamplings(size)
        assert kinds.count("Add") == (n_resamplings(size) if options.get("residual") else 0)
        fake = np.asarray(gen(z))
        assert fake.shape == (2, size, size, 1) and np.all(np.abs(fake) <= 1.0)
        assert gen.count_params() != paper.count_params()
    transposed = [layer for layer in paper.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.kernel_size for layer in transposed] == [(4, 4)] * n_resamplings(size)


def test_resize_preset_trains_records_its_generator_and_the_papers_fingerprint_is_unchanged(images, tmp_path):
    _train(images, image_size=28, steps=2, run_dir=tmp_path / "resblock", preset="sn_diffaug_ema_resblock", **TINY)
    fp = json.loads((tmp_path / "resblock" / "generator.json").read_text())["fingerprint"]
    assert fp["gan_upsample"] == "resize" and fp["gan_residual"] is True
    gen = G.load_generator(tmp_path / "resblock")
    assert "Add" in [type(layer).__name__ for layer in gen.layers]
    _train(images, image_size=28, steps=2, run_dir=tmp_path / "plain", preset="sn_diffaug_ema", **TINY)
    fp = json.loads((tmp_path / "plain" / "generator.json").read_text())["fingerprint"]
    assert not {"gan_upsample", "gan_residual"} & set(fp)
    with pytest.raises(ProvenanceError, match="gan_upsample"):
        _train(images, image_size=28, steps=3, run_dir=tmp_path / "plain", preset="sn_diffaug_ema_resize", **TINY)


# ----------------------------------------------------------------------------- the training step
def _paper_step(gen, disc, real, z):
    """The paper's step written out: D on BCE(1, D(x)) + BCE(0, D(G(z))), then G on BCE(1, D(G(z)))."""
    bce = keras.losses.BinaryCrossentropy()
    opt_d, opt_g = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    with tf.GradientTape() as tape:
        p_real, p_fake = disc(real, training=True), disc(gen(z, training=True), training=True)
        d_loss = bce(tf.ones_like(p_real), p_real) + bce(tf.zeros_like(p_fake), p_fake)
    opt_d.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables, strict=True))
    with tf.GradientTape() as tape:
        p_gen = disc(gen(z, training=True), training=True)
        g_loss = bce(tf.ones_like(p_gen), p_gen)
    opt_g.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables, strict=True))
    return float(d_loss), float(g_loss)


def _twin_dcgans(seed: int = 0) -> tuple[G.DCGAN, G.DCGAN]:
    """Two ``dcgan`` models with equal variables (weights, dropout RNG state)."""
    models = []
    for _ in range(2):
        gen, disc = G.build_networks(32, "dcgan", generator_filters=16, discriminator_filters=8)
        model = G.DCGAN(gen, disc, seed=seed)
        model.compile()
        models.append(model)
    for a, b in ((models[0].generator, models[1].generator), (models[0].discriminator, models[1].discriminator)):
        for va, vb in zip(a.variables, b.variables, strict=True):
            vb.assign(va)
    return models[0], models[1]


def test_adversarial_step_is_the_papers_step_written_out():
    model, twin = _twin_dcgans()
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (8, 32, 32, 1)), tf.float32)
    z = tf.constant(np.random.default_rng(2).standard_normal((8, 100)), tf.float32)
    out = model.adversarial_step(real, [z])
    d_loss, g_loss = _paper_step(twin.generator, twin.discriminator, real, z)
    assert np.isclose(float(out["d_loss"]), d_loss, atol=1e-5) and np.isclose(float(out["g_loss"]), g_loss, atol=1e-5)
    for a, b in zip(model.generator.weights + model.discriminator.weights,
                    twin.generator.weights + twin.discriminator.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="one noise batch per discriminator step"):
        model.adversarial_step(real, [z, z])


def test_train_step_is_adversarial_step_on_noise_from_the_seeded_generator():
    model, twin = _twin_dcgans(seed=3)
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (8, 32, 32, 1)), tf.float32)
    logs = model.train_step(real)
    z = keras.random.normal((8, 100), seed=keras.random.SeedGenerator(3))
    out = twin.adversarial_step(real, [z])
    assert np.isclose(float(logs["d_loss"]), float(out["d_loss"]), atol=1e-6)
    for a, b in zip(model.generator.weights, twin.generator.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


# ------------------------------------------------------------------------------------- ablation
def test_ablation_presets_come_from_the_profile_or_the_runners_value():
    from helpers import config, series
    from helpers.gan import generators

    ci = config.get_profile("ci")
    assert generators.ablation_presets(None, ci) == ci.gan_ablation
    for value in ("dcgan,sn_diffaug_ema_resize", "dcgan sn_diffaug_ema_resize", "['dcgan', 'sn_diffaug_ema_resize']"):
        parsed = series._parse_value(value)  # what `-p gan_ablation <value>` hands the notebook
        assert generators.ablation_presets(parsed, ci) == ("dcgan", "sn_diffaug_ema_resize")
    for empty in ("", "[]", "()"):
        assert generators.ablation_variants(ci, None, series._parse_value(empty)) == []
    assert [v.name for v in generators.ablation_variants(ci, 7, "dcgan,dcgan")] == ["dcgan_7steps"]
    with pytest.raises(ValueError, match="unknown GAN preset.*stylegan"):
        generators.ablation_presets("dcgan,stylegan", ci)


def test_plan_without_ablation_round_trips(tmp_path):
    from helpers import config
    from helpers.gan import generators

    ci = config.get_profile("ci")
    reference, default = generators.reference_variant(ci), generators.default_variant(ci)
    assert reference == generators.Variant("dcgan", epochs=ci.gan_epochs)
    assert generators.reference_variant(ci, 5).epochs == 5
    generators.save_plan(tmp_path, reference=reference, default=default,
                         ablation=generators.ablation_variants(ci, None, ""))
    assert generators.load_plan(tmp_path) == {"reference": reference, "default": default, "ablation": [],
                                              "ablation_seeds": None, "budgets": None}


def test_ablation_plan_covers_every_seed_at_two_budgets_and_dedupes_equal_ones(tmp_path):
    from dataclasses import replace

    from helpers import config
    from helpers.gan import generators

    quick = config.get_profile("quick")
    assert quick.gan_ablation_seeds == "all" and config.get_profile("ci").gan_ablation_seeds == "first"
    assert generators.ablation_seeds(quick, (0, 1, 2)) == (0, 1, 2)
    assert generators.ablation_seeds(quick, (0, 1, 2), "first") == (0,)
    with pytest.raises(ValueError, match="all.*first"):
        generators.ablation_seeds(quick, (0, 1), "some")
    reference, default = generators.reference_variant(quick), generators.default_variant(quick)
    ref_steps = generators.reference_steps(reference, quick, 1214)  # 30 epochs x 1214 // 64 = 18 steps each
    assert ref_steps == 540
    budgets = generators.Budgets(ref_steps, quick.gan_steps)
    ablation = [v for v in generators.ablation_variants(quick, None, "dcgan,sn_diffaug_ema", ref_steps)
                if v not in (default, reference)]
    assert [v.name for v in ablation] == ["dcgan_3000steps", "sn_diffaug_ema_540steps"]  # dcgan_540steps = reference
    plan = generators.training_plan(reference, default, ablation, (0, 1, 2), (0, 1, 2))
    assert len(plan) == 3 + 3 + 2 * 3 and len(set(plan)) == len(plan)
    assert plan[6:9] == [(ablation[0], s) for s in (0, 1, 2)]  # the longer budget first: the short one reads it
    assert [generators.budget_label(v, budgets) for v in (reference, default, *ablation)] == [
        "reference", "gan_steps", "gan_steps", "reference"]
    generators.save_plan(tmp_path, reference=reference, default=default, ablation=ablation, ablation_seeds=(0, 1, 2),
                         budgets=budgets)
    loaded = generators.load_plan(tmp_path)
    assert loaded["budgets"] == budgets and loaded["ablation_seeds"] == [0, 1, 2] and loaded["ablation"] == ablation
    # equal budgets (as on ci): one run per preset, labelled "both"
    ci = config.get_profile("ci")
    ci_ref = generators.reference_variant(ci)
    equal = generators.reference_steps(ci_ref, ci, 100)
    assert equal == ci.gan_steps == 4  # 2 epochs x gan_steps_per_epoch 2
    variants = generators.ablation_variants(ci, None, None, equal)
    assert [v.name for v in variants] == ["dcgan_4steps", "sn_diffaug_ema_4steps"]
    assert generators.budget_label(variants[0], generators.Budgets(equal, equal)) == "both"
    assert len(generators.training_plan(ci_ref, generators.default_variant(ci), variants, ci.seeds, ci.seeds)) == 3
    assert generators.ablation_variants(replace(ci, gan_ablation=()), None, None, 2) == []


def test_reference_budget_read_off_a_longer_runs_checkpoint_equals_a_run_stopped_there(images, tmp_path):
    """The short variant resumes from the long run's kept checkpoint: same generator (EMA) as a 3-step run."""
    from helpers.gan import generators

    short, long = generators.Variant("sn_diffaug_ema", steps=3), generators.Variant("sn_diffaug_ema", steps=6)
    settings = {**TINY, "image_size": 28, "preset": "sn_diffaug_ema", "steps_per_epoch": 3, "checkpoint_every": 2,
                "keep_checkpoints": 1}
    _train(images, run_dir=long.folder(tmp_path, 0), provenance=PROV, steps=6, keep_steps=(3,), **settings)
    kept = [k for k, _ in list_checkpoints(long.folder(tmp_path, 0))]
    assert kept == [3, 6]  # step 3 is no checkpoint round (every 2) and keep_checkpoints=1: kept for the ablation
    assert generators.derive_from_checkpoint(short, long, tmp_path, 0)
    capture = _Capture()
    derived, h = _train(images, run_dir=short.folder(tmp_path, 0), provenance=PROV, steps=3, callbacks=[capture],
                        **settings)
    assert not hasattr(capture, "steps") and h["step"].tolist() == [3]  # nothing trained: read off the checkpoint
    stopped, hs = _train(images, run_dir=tmp_path / "stopped", provenance=PROV, steps=3, **settings)
    for x, y in zip(_weights(derived.ema_generator), _weights(stopped.ema_generator), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    a, b = (G.load_generator(d) for d in (short.folder(tmp_path, 0), tmp_path / "stopped"))  # the saved (EMA) ones
    for x, y in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    info, direct = (json.loads((d / "generator.json").read_text()) for d in (short.folder(tmp_path, 0), tmp_path / "stopped"))
    assert info["fingerprint_id"] == direct["fingerprint_id"] and info["sampling"] == "ema" and info["steps"] == 3
    assert json.loads((short.folder(tmp_path, 0) / "derived_from.json").read_text())["variant"] == long.name
    assert not generators.derive_from_checkpoint(short, long, tmp_path, 0)  # already there: left alone
    assert not generators.derive_from_checkpoint(generators.Variant("sn_diffaug_ema", steps=2), long, tmp_path, 1)


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
    gan, history = _train(imgs, labels=labels, image_size=32, epochs=1, run_dir=tmp_path,
                               steps_per_epoch=2, **TINY)
    assert gan.num_classes == 3
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
    healthy = gan_health.diagnose_history(balanced)
    assert healthy["state"] == "near equilibrium" and healthy["epochs"] == 3
    assert "averaged 1.380 (equilibrium 1.386)" in healthy["lines"][0]
    assert gan_health.diagnose_history(dominated)["state"] == "discriminator dominates"
    for verdict in (healthy, gan_health.diagnose_history(dominated)):
        assert "cannot detect mode collapse" in verdict["lines"][-1] and "chapter 3" in verdict["lines"][-1]
    with pytest.raises(ValueError, match="train the GAN first"):
        gan_health.diagnose_history(pd.DataFrame(columns=balanced.columns))


def test_collapse_from_samples_flags_a_constant_generator_not_real_images(images, trained):
    gen = keras.models.clone_model(trained[1].generator)
    gen.set_weights([np.zeros_like(w) for w in gen.get_weights()])
    gen.gan_steps_trained = 1
    constant = G.generate_images(gen, 64, seed=0)
    verdict = gan_health.collapse_from_samples(constant, images)
    assert verdict["collapsed"] and verdict["state"] == "collapsed"
    assert verdict["diversity_ratio"] < 0.01 and verdict["duplicate_share"] == 1.0
    assert any("Mode collapse" in line for line in verdict["lines"])
    assert gan_health.collapse_from_samples(constant)["collapsed"]  # without reals: absolute distances
    real = gan_health.collapse_from_samples(images[:24], images[24:])
    assert real["state"] == "varied" and not real["collapsed"] and 0.8 < real["diversity_ratio"] < 1.25
    assert real["duplicate_share"] == 0.0
    assert not gan_health.collapse_from_samples(images)["collapsed"]
    floats = images.astype("float32") / 127.5 - 1  # the generator's own [-1, 1] scale
    assert gan_health.collapse_from_samples(floats, images)["diversity_ratio"] == pytest.approx(1.0)
    # a generator with a few modes: most fakes have a near-duplicate
    few = np.repeat(images[:4], 16, axis=0)
    assert gan_health.collapse_from_samples(few, images)["collapsed"]


def test_load_progress_names_notebook_02(tmp_path):
    from helpers.core.artifacts import ArtifactError

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
