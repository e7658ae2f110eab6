"""DCGAN for oversampling the minority class: models, data pipeline, resumable training, sampling.

The architecture follows the series' seed notebook, parametrised by image size:

* generator: 100-d N(0, 1) noise -> Dense to a 4x4xF map (7x7xF at 28 px) -> LeakyReLU(0.2) ->
  Conv2DTranspose(kernel 4, stride 2, "same") + LeakyReLU(0.2) blocks halving the filters up to the
  image size -> Conv2D(1, kernel 3, "same", tanh). No batch normalisation.
* discriminator: strided Conv2D(kernel 4, stride 2, "same") + LeakyReLU(0.2) blocks doubling the
  filters (down to 4x4, 7x7 at 28 px) -> Flatten -> Dropout(0.4) -> Dense(1, sigmoid).

:class:`DCGAN` is a ``keras.Model`` whose ``train_step`` (graph mode, no XLA) makes ``d_steps``
discriminator updates and one non-saturating generator update per batch, so ``fit`` shows the
usual progress bar and ``History`` holds ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake``. With
``num_classes`` (or :class:`ConditionalDCGAN`) both networks also see an embedded class label.

:func:`train_gan` trains into a run folder and resumes from its last checkpoint when re-run::

    run_dir/
      checkpoints/epoch_0007.npz   weights of G and D, both optimizers' state, RNG states, epoch
      progress/epoch_0007.png      grid of G(fixed noise); progress/grids.npz keeps the arrays
      progress/fixed_noise.npz     the fixed noise (and labels) the grids use
      history.csv                  epoch,d_loss,g_loss,d_real,d_fake,seconds (one row per epoch)
      generator.keras              the final generator; generator.json: its configuration

Every file is written atomically (:func:`helpers.artifacts.atomic_write`).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.artifacts import (
    ArtifactError,
    append_rows,
    atomic_write,
    load_npz,
    save_json,
    save_npz,
)
from helpers.images import tile_grid, to_uint8

__all__ = [
    "SUPPORTED_SIZES",
    "load_progress",
    "diagnose_history",
    "build_generator",
    "build_discriminator",
    "DCGAN",
    "ConditionalDCGAN",
    "make_gan_dataset",
    "minority_training_images",
    "train_gan",
    "latest_checkpoint",
    "restore_checkpoint",
    "load_generator",
    "generate_images",
]

SUPPORTED_SIZES: tuple[int, ...] = (28, 32, 64, 128)
_TRAINED_ATTR = "gan_epochs_trained"  # set on generators: 0 = freshly built, untrained
_CKPT_DIR = "checkpoints"
_PROGRESS_DIR = "progress"
_HISTORY_COLUMNS = ("epoch", "d_loss", "g_loss", "d_real", "d_fake", "seconds")


# --------------------------------------------------------------------------------------- models
def _check_size(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(
            f"image_size={image_size!r} is not supported; use one of SUPPORTED_SIZES={SUPPORTED_SIZES}."
        )
    return int(image_size)


def _start_size(image_size: int) -> int:
    """Side of the generator's first feature map: 7 for 28 px, 4 for the powers of two."""
    return 7 if image_size == 28 else 4


def _n_resamplings(image_size: int) -> int:
    """Number of stride-2 layers between the 4x4 (7x7) map and the image."""
    return int(round(math.log2(image_size / _start_size(image_size))))


def build_generator(
    image_size: int,
    latent_dim: int = 100,
    base_filters: int = 512,
    num_classes: int | None = None,
) -> keras.Model:
    """Seed generator for ``image_size`` px: noise (and label) -> image in [-1, 1], (size, size, 1).

    ``base_filters`` is the depth of the first map (512 as the seed; 128-256 for light CPU runs);
    each Conv2DTranspose halves it (never below 8). With ``num_classes`` the model takes
    ``[noise, label]`` and the embedded label is an extra channel of the first map.
    """
    image_size = _check_size(image_size)
    if base_filters < 1 or latent_dim < 1:
        raise ValueError(f"base_filters and latent_dim must be positive, got {base_filters}, {latent_dim}.")
    start, n_up = _start_size(image_size), _n_resamplings(image_size)
    z = keras.Input((latent_dim,), name="noise")
    x = keras.layers.Dense(start * start * base_filters, name="project")(z)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Reshape((start, start, base_filters))(x)
    inputs: list[Any] = [z]
    if num_classes:
        label = keras.Input((1,), dtype="int32", name="label")
        e = keras.layers.Embedding(num_classes, start * start, name="label_embedding")(label)
        e = keras.layers.Reshape((start, start, 1))(e)
        x = keras.layers.Concatenate()([x, e])
        inputs.append(label)
    for i in range(n_up):
        filters = max(base_filters // 2 ** (i + 1), 8)
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=f"up{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="tanh", name="image")(x)
    model = keras.Model(inputs if num_classes else z, out, name=f"generator_{image_size}px")
    setattr(model, _TRAINED_ATTR, 0)
    return model


def build_discriminator(
    image_size: int, base_filters: int = 64, num_classes: int | None = None
) -> keras.Model:
    """Seed discriminator for ``image_size`` px: image (and label) -> P(real), sigmoid.

    Strided Conv2D + LeakyReLU blocks (2 at 28 px, 3 at 32, 4 at 64, 5 at 128) doubling the filters
    from ``base_filters`` (capped at 8x), Flatten, Dropout(0.4), Dense(1). With ``num_classes`` the
    model takes ``[image, label]`` and the embedded label is an extra image channel.
    """
    image_size = _check_size(image_size)
    if base_filters < 1:
        raise ValueError(f"base_filters must be positive, got {base_filters}.")
    img = keras.Input((image_size, image_size, 1), name="image")
    x = img
    inputs: list[Any] = [img]
    if num_classes:
        label = keras.Input((1,), dtype="int32", name="label")
        e = keras.layers.Embedding(num_classes, image_size * image_size, name="label_embedding")(label)
        e = keras.layers.Reshape((image_size, image_size, 1))(e)
        x = keras.layers.Concatenate()([x, e])
        inputs.append(label)
    for i in range(_n_resamplings(image_size)):
        filters = base_filters * min(2**i, 8)
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{i + 1}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.4)(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_real")(x)
    return keras.Model(inputs if num_classes else img, out, name=f"discriminator_{image_size}px")


class DCGAN(keras.Model):
    """Generator + discriminator trained by ``fit`` with the alternating DCGAN updates.

    Each ``train_step`` makes ``d_steps`` discriminator updates (real and fresh fake batches;
    real targets ``1 - label_smoothing``), then one generator update with the non-saturating loss
    ``BCE(1, D(G(z)))`` on the fakes of the last discriminator step (as PyTorch's DCGAN example
    does; G has not changed since they were drawn). Noise comes from a seeded
    ``keras.random.SeedGenerator``, so runs are repeatable and the RNG state can be checkpointed.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int = 100,
        d_steps: int = 1,
        label_smoothing: float = 0.0,
        num_classes: int | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}.")
        if not 0.0 <= label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.d_steps = int(d_steps)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes) if num_classes else None
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.epochs_trained = 0

    def compile(  # type: ignore[override]
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        loss_fn: keras.losses.Loss | None = None,
        **kwargs: Any,
    ) -> None:
        """Set the optimizers (Adam(2e-4, beta_1=0.5) each) and loss (BCE); never XLA."""
        kwargs["jit_compile"] = False
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.loss_fn = loss_fn or keras.losses.BinaryCrossentropy()

    def build_optimizers(self) -> None:
        """Create the optimizers' slot variables (needed before restoring their state)."""
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Generate images from noise (``[noise, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    def _g_inputs(self, z: Any, labels: Any) -> Any:
        return z if labels is None else [z, labels]

    def _d_inputs(self, x: Any, labels: Any) -> Any:
        return x if labels is None else [x, labels]

    def train_step(self, data: Any) -> dict[str, Any]:
        """``d_steps`` discriminator updates, then one generator update; returns the 4 metrics."""
        if self.num_classes:
            real, labels = data[0], data[1]
            labels = tf.reshape(tf.cast(labels, "int32"), (-1, 1))
        else:
            real = data[0] if isinstance(data, (tuple, list)) else data
            labels = None
        batch = tf.shape(real)[0]
        real_target = tf.fill((batch, 1), 1.0 - self.label_smoothing)
        ones = tf.ones((batch, 1))
        zeros = tf.zeros((batch, 1))
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        with tf.GradientTape() as g_tape:
            for step in range(self.d_steps):
                z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
                if step == self.d_steps - 1:  # the generator update reuses these fakes
                    fake = self.generator(self._g_inputs(z, labels), training=True)
                    fake_for_d = tf.stop_gradient(fake)
                else:
                    with g_tape.stop_recording():
                        fake_for_d = self.generator(self._g_inputs(z, labels), training=True)
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    p_real = self.discriminator(self._d_inputs(real, labels), training=True)
                    p_fake = self.discriminator(self._d_inputs(fake_for_d, labels), training=True)
                    d_loss = self.loss_fn(real_target, p_real) + self.loss_fn(zeros, p_fake)
                grads = d_tape.gradient(d_loss, d_vars)
                with g_tape.stop_recording():
                    self.d_optimizer.apply_gradients(zip(grads, d_vars, strict=True))
            p_gen = self.discriminator(self._d_inputs(fake, labels), training=True)
            g_loss = self.loss_fn(ones, p_gen)
        grads = g_tape.gradient(g_loss, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars, strict=True))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.reduce_mean(p_real))
        self.d_fake_tracker.update_state(tf.reduce_mean(p_fake))
        return {m.name: m.result() for m in self.metrics}


class ConditionalDCGAN(DCGAN):
    """:class:`DCGAN` whose networks also take a class id; trains on ``(images, labels)``.

    Build the networks with the same ``num_classes``; any integer condition works (for the
    multi-label chapter, each class id is one condition).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, num_classes: int, **kwargs: Any) -> None:
        if not num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes!r}.")
        super().__init__(generator, discriminator, num_classes=num_classes, **kwargs)


# ----------------------------------------------------------------------------------------- data
def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square grayscale images (N, H, W), got shape {images.shape}.")
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images in [0, 255], got dtype {images.dtype}.")
    return images


def make_gan_dataset(
    images_uint8: np.ndarray,
    batch_size: int = 64,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """uint8 (N, H, W) -> batches of float32 (B, H, W, 1) in [-1, 1] (with int32 labels if given).

    Cached, shuffled with ``seed`` (a new order each epoch), batched with ``drop_remainder=True``
    and prefetched.
    """
    images = _as_images(images_uint8)
    n = len(images)
    if n < batch_size:
        raise ValueError(
            f"only {n} images for batch_size={batch_size}: no full batch (batches drop the "
            f"remainder). Pass a smaller batch_size (at most {n})."
        )
    if labels is not None:
        labels = np.asarray(labels).reshape(-1).astype("int32")
        if len(labels) != n:
            raise ValueError(f"{n} images but {len(labels)} labels.")
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32)[..., None] / 127.5 - 1.0, y))
    else:
        ds = tf.data.Dataset.from_tensor_slices(images)
        ds = ds.map(lambda x: tf.cast(x, tf.float32)[..., None] / 127.5 - 1.0)
    ds = ds.cache().shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def minority_training_images(
    train_images: np.ndarray, train_labels: np.ndarray, minority_class: int
) -> np.ndarray:
    """The training images of ``minority_class`` (the only real images the GAN may see)."""
    train_labels = np.asarray(train_labels).reshape(-1)
    if len(train_labels) != len(train_images):
        raise ValueError(f"{len(train_images)} training images but {len(train_labels)} labels.")
    selected = np.asarray(train_images)[train_labels == minority_class]
    if len(selected) == 0:
        raise ValueError(f"no training image has label {minority_class!r} (labels: {np.unique(train_labels)}).")
    return selected


# ----------------------------------------------------------------------------------- checkpoints
def _state_groups(gan: DCGAN) -> dict[str, list[Any]]:
    gan.build_optimizers()
    return {
        "g": list(gan.generator.variables),
        "d": list(gan.discriminator.variables),
        "gopt": list(gan.g_optimizer.variables),
        "dopt": list(gan.d_optimizer.variables),
        "rng": [gan.seed_generator.state],
    }


def _save_checkpoint(gan: DCGAN, path: Path, epoch: int, config: dict[str, Any]) -> Path:
    arrays: dict[str, np.ndarray] = {
        "epoch": np.asarray(epoch, dtype=np.int64),
        "config": np.asarray(json.dumps(config, sort_keys=True)),
    }
    for group, variables in _state_groups(gan).items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:04d}"] = np.asarray(v.numpy())
    with atomic_write(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def latest_checkpoint(run_dir: str | os.PathLike) -> tuple[int, Path] | None:
    """``(epoch, path)`` of the newest checkpoint in ``run_dir/checkpoints``, or None."""
    folder = Path(run_dir) / _CKPT_DIR
    found = []
    for p in folder.glob("epoch_*.npz"):
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return max(found) if found else None


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _architecture_error(path: Path, detail: str) -> ValueError:
    return ValueError(
        f"The checkpoint folder {path.parent} holds a checkpoint of another architecture "
        f"({detail}). Delete that folder (or the whole run_dir) to start afresh, or pass another run_dir."
    )


_ARCH_KEYS = ("image_size", "latent_dim", "generator_filters", "discriminator_filters", "num_classes")


def restore_checkpoint(gan: DCGAN, path: str | os.PathLike, config: dict[str, Any] | None = None) -> int:
    """Load a checkpoint written by :func:`train_gan` into ``gan``; return its epoch.

    Restores G and D (weights and dropout RNG states), both optimizers' state and the noise RNG.
    Raises ValueError when the checkpoint comes from another architecture.
    """
    path = Path(path)
    data = _read_checkpoint(path)
    saved = json.loads(str(data["config"]))
    if config is not None:
        diff = {k: (saved.get(k), config.get(k)) for k in _ARCH_KEYS if saved.get(k) != config.get(k)}
        if diff:
            detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            raise _architecture_error(path, detail)
    groups = _state_groups(gan)
    for group, variables in groups.items():
        n_saved = sum(1 for k in data if k.startswith(group + "/"))
        if n_saved != len(variables):
            raise _architecture_error(path, f"{group}: {n_saved} saved variables vs {len(variables)} now")
        for i, v in enumerate(variables):
            value = data[f"{group}/{i:04d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise _architecture_error(path, f"{group} variable {v.path}: {value.shape} vs {tuple(v.shape)}")
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            v.assign(data[f"{group}/{i:04d}"])
    return int(data["epoch"])


# ------------------------------------------------------------------------------------ training
class _RunDirCallback(keras.callbacks.Callback):
    """Per epoch: history row, progress grid, checkpoint (in that order), all atomic."""

    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        epochs: int,
        checkpoint_every: int,
        grid_every: int,
        fixed_inputs: Any,
        keep_checkpoints: int,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.config = config
        self.epochs = epochs
        self.checkpoint_every = checkpoint_every
        self.grid_every = grid_every
        self.fixed_inputs = fixed_inputs
        self.keep_checkpoints = keep_checkpoints
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t0
        done = epoch + 1
        logs = logs or {}
        row = {"epoch": done, **{k: float(logs[k]) for k in _HISTORY_COLUMNS[1:5]}, "seconds": seconds}
        append_rows(self.run_dir / "history.csv", [row])
        last = done == self.epochs
        gan: DCGAN = self.model
        gan.epochs_trained = done
        if last or done % self.grid_every == 0:
            images = to_uint8(np.asarray(gan.generator(self.fixed_inputs, training=False)))
            _save_progress(self.run_dir / _PROGRESS_DIR, done, images)
        if last or done % self.checkpoint_every == 0:
            folder = self.run_dir / _CKPT_DIR
            _save_checkpoint(gan, folder / f"epoch_{done:04d}.npz", done, self.config)
            olds = sorted(folder.glob("epoch_*.npz"))[: -self.keep_checkpoints]
            for p in olds:
                p.unlink(missing_ok=True)


def _save_progress(folder: Path, epoch: int, images: np.ndarray) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grids = folder / "grids.npz"
    if grids.exists():
        old = load_npz(grids, ("epochs", "images"))
        keep = old["epochs"] < epoch
        epochs = np.concatenate([old["epochs"][keep], [epoch]])
        stack = np.concatenate([old["images"][keep], images[None]])
    else:
        epochs, stack = np.asarray([epoch]), images[None]
    save_npz(grids, epochs=epochs.astype(np.int64), images=stack)

    fig = Figure(figsize=(4, 4.3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(tile_grid(images), cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"epoch {epoch}")
    ax.axis("off")
    path = folder / f"epoch_{epoch:04d}.png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def _truncate_after(run_dir: Path, epoch: int) -> None:
    """Drop history rows and progress grids later than the checkpoint we resume from."""
    import pandas as pd

    history = run_dir / "history.csv"
    if history.exists():
        table = pd.read_csv(history)
        if (table["epoch"] > epoch).any():
            with atomic_write(history) as tmp:
                table[table["epoch"] <= epoch].to_csv(tmp, index=False)
    grids = run_dir / _PROGRESS_DIR / "grids.npz"
    if grids.exists():
        old = load_npz(grids, ("epochs", "images"))
        keep = old["epochs"] <= epoch
        if not keep.all():
            save_npz(grids, epochs=old["epochs"][keep], images=old["images"][keep])


def _fixed_inputs(run_dir: Path, latent_dim: int, num_classes: int | None, seed: int, n: int = 16) -> Any:
    path = run_dir / _PROGRESS_DIR / "fixed_noise.npz"
    if path.exists():
        data = load_npz(path, ("noise",))
        noise, labels = data["noise"], data.get("labels")
    else:
        noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
        labels = (np.arange(n) % num_classes).astype(np.int32) if num_classes else None
        save_npz(path, noise=noise, **({"labels": labels} if labels is not None else {}))
    if noise.shape[1] != latent_dim:
        raise _architecture_error(path, f"fixed noise has latent_dim {noise.shape[1]}, now {latent_dim}")
    return noise if not num_classes else [noise, labels.reshape(-1, 1)]


def train_gan(
    images: np.ndarray,
    *,
    image_size: int,
    epochs: int,
    run_dir: str | os.PathLike,
    batch_size: int = 64,
    seed: int = 0,
    checkpoint_every: int = 1,
    grid_every: int = 1,
    d_steps: int = 1,
    generator_filters: int = 512,
    discriminator_filters: int = 64,
    latent_dim: int = 100,
    label_smoothing: float = 0.0,
    labels: np.ndarray | None = None,
    num_classes: int | None = None,
    steps_per_epoch: int | None = None,
    keep_checkpoints: int = 2,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> tuple[DCGAN, Any]:
    """Train a DCGAN on ``images`` (uint8, N x size x size) into ``run_dir``; resume if possible.

    Re-running with the same ``run_dir`` continues from the last checkpoint (finished epochs are
    not redone; the data order and noise continue as in an uninterrupted run). With ``labels`` the
    GAN is conditional (``num_classes`` defaults to ``max(labels) + 1``). Returns the model and the
    whole history (a DataFrame with epoch,d_loss,g_loss,d_real,d_fake,seconds). Seeds Python,
    NumPy and TensorFlow with ``keras.utils.set_random_seed(seed)``; extra ``callbacks`` go to
    ``fit`` after the run-folder callback.
    """
    import pandas as pd

    image_size = _check_size(image_size)
    images = _as_images(images)
    if images.shape[1] != image_size:
        raise ValueError(f"images are {images.shape[1]} px but image_size={image_size}; resize them first.")
    if labels is not None and not num_classes:
        num_classes = int(np.max(labels)) + 1
    if num_classes and labels is None:
        raise ValueError("num_classes was given without labels; pass the labels of the images.")
    if min(checkpoint_every, grid_every, keep_checkpoints, epochs) < 1:
        raise ValueError("epochs, checkpoint_every, grid_every and keep_checkpoints must be >= 1.")
    run_dir = Path(run_dir)
    config = {
        "image_size": image_size,
        "latent_dim": int(latent_dim),
        "generator_filters": int(generator_filters),
        "discriminator_filters": int(discriminator_filters),
        "num_classes": int(num_classes) if num_classes else None,
        "seed": int(seed),
        "batch_size": int(batch_size),
        "d_steps": int(d_steps),
        "label_smoothing": float(label_smoothing),
    }
    keras.utils.set_random_seed(seed)  # before the dataset: tf.data also reads the global seed
    dataset = make_gan_dataset(images, batch_size=batch_size, seed=seed, labels=labels)
    steps = int(steps_per_epoch or len(images) // batch_size)

    latest = latest_checkpoint(run_dir)
    if latest is not None:  # fail fast, before building anything
        saved = json.loads(str(_read_checkpoint(latest[1])["config"]))
        diff = [f"{k}: checkpoint {saved.get(k)!r} vs now {config[k]!r}" for k in _ARCH_KEYS if saved.get(k) != config[k]]
        if diff:
            raise _architecture_error(latest[1], ", ".join(diff))

    keras.utils.set_random_seed(seed)
    generator = build_generator(image_size, latent_dim, generator_filters, num_classes)
    discriminator = build_discriminator(image_size, discriminator_filters, num_classes)
    cls = ConditionalDCGAN if num_classes else DCGAN
    extra = {"num_classes": num_classes} if num_classes else {}
    gan = cls(generator, discriminator, latent_dim=latent_dim, d_steps=d_steps,
              label_smoothing=label_smoothing, seed=seed, **extra)
    gan.compile()

    initial_epoch = 0
    if latest is not None:
        initial_epoch = restore_checkpoint(gan, latest[1], config)
        _truncate_after(run_dir, initial_epoch)
    gan.epochs_trained = initial_epoch

    if initial_epoch < epochs:
        fixed = _fixed_inputs(run_dir, latent_dim, num_classes, seed)
        # One endless stream of reshuffled epochs; skipping what earlier runs consumed makes a
        # resumed run see the same batches as an uninterrupted one.
        stream = dataset.repeat().skip(initial_epoch * steps)
        run_cb = _RunDirCallback(run_dir, config, epochs, checkpoint_every, grid_every, fixed, keep_checkpoints)
        gan.fit(stream, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                callbacks=[run_cb, *callbacks], verbose=verbose, shuffle=False)

    done = gan.epochs_trained
    setattr(generator, _TRAINED_ATTR, done)
    with atomic_write(run_dir / "generator.keras") as tmp:
        generator.save(tmp)
    save_json(run_dir / "generator.json", {**config, "epochs": done})
    history_path = run_dir / "history.csv"
    history = pd.read_csv(history_path) if history_path.exists() else pd.DataFrame(columns=_HISTORY_COLUMNS)
    return gan, history


# ------------------------------------------------------------------------------------ sampling
def load_generator(run_dir: str | os.PathLike) -> keras.Model:
    """Load ``run_dir/generator.keras`` written by :func:`train_gan`."""
    path = Path(run_dir) / "generator.keras"
    if not path.exists():
        raise ArtifactError(f"{path} does not exist: run notebook 02 first (it trains the GAN).")
    generator = keras.models.load_model(path, compile=False)
    info = Path(run_dir) / "generator.json"
    epochs = json.loads(info.read_text()).get("epochs") if info.exists() else None
    setattr(generator, _TRAINED_ATTR, epochs)
    return generator


def generate_images(
    generator: keras.Model | DCGAN | None,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    labels: int | np.ndarray | None = None,
) -> np.ndarray:
    """``n`` fake images as uint8 (n, H, W), from seeded N(0, 1) noise in batches of ``batch_size``.

    The same ``seed`` gives the same images (the noise does not depend on ``batch_size``). A
    conditional generator needs ``labels`` (one class id for all, or one per image).
    """
    if isinstance(generator, DCGAN):
        if generator.epochs_trained == 0:
            generator = None
        else:
            generator = generator.generator
    if generator is None or getattr(generator, _TRAINED_ATTR, None) == 0:
        raise ValueError(
            "the generator is untrained: train the GAN first (train_gan) or load a trained one "
            "with load_generator(run_dir)."
        )
    conditional = len(generator.inputs) == 2
    if conditional and labels is None:
        raise ValueError("this generator is conditional: pass labels (a class id or one per image).")
    if not conditional and labels is not None:
        raise ValueError("this generator is unconditional: it takes no labels.")
    latent_dim = int(generator.inputs[0].shape[-1])
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    if conditional:
        lab = np.broadcast_to(np.asarray(labels, dtype=np.int32).reshape(-1), (n,)).reshape(-1, 1)
    size = int(generator.outputs[0].shape[1])
    out = np.empty((n, size, size), dtype=np.uint8)
    for start in range(0, n, batch_size):
        z = noise[start : start + batch_size]
        inputs = [z, lab[start : start + batch_size]] if conditional else z
        out[start : start + len(z)] = to_uint8(np.asarray(generator(inputs, training=False)))
    return out


# ------------------------------------------------------------------------------- diagnostics
D_LOSS_EQUILIBRIUM = 2 * float(np.log(2))  # BCE(1, 1/2) + BCE(0, 1/2)
G_LOSS_EQUILIBRIUM = float(np.log(2))  # non-saturating -log D(G(z)) at D = 1/2
D_WINS_GAP = 0.6  # mean D(x) - D(G(z)) above this over the last epochs: the discriminator dominates


def load_progress(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The progress grids :func:`train_gan` rendered: ``epochs`` (E,) and ``images`` (E, 16, H, W)."""
    return load_npz(Path(run_dir) / _PROGRESS_DIR / "grids.npz", ("epochs", "images"),
                    hint="Run notebook 02 (GAN training) first.")


def diagnose_history(history: Any, last: int = 3) -> dict[str, Any]:
    """Numbers and sentences that say whether a GAN run looks healthy, from its per-epoch history.

    Uses the mean of the last ``last`` epochs: distance of both losses from their equilibrium values,
    the gap between D(x) and D(G(z)), and the trend of the generator loss. Returns the numbers and
    ``lines`` (plain-language sentences built from them).
    """
    import pandas as pd

    h = pd.DataFrame(history)
    if h.empty:
        raise ValueError("the history is empty: train the GAN first")
    tail = h.tail(last)
    d_loss, g_loss = float(tail["d_loss"].mean()), float(tail["g_loss"].mean())
    d_real, d_fake = float(tail["d_real"].mean()), float(tail["d_fake"].mean())
    gap = d_real - d_fake
    first_g = float(h["g_loss"].iloc[0])
    out: dict[str, Any] = {
        "final_d_loss": d_loss, "final_g_loss": g_loss, "final_d_real": d_real, "final_d_fake": d_fake,
        "d_gap": gap, "epochs": int(h["epoch"].max()),
    }
    lines = [
        f"Over the last {len(tail)} epoch(s) the discriminator loss averaged {d_loss:.3f} "
        f"(equilibrium {D_LOSS_EQUILIBRIUM:.3f}) and the generator loss {g_loss:.3f} "
        f"(equilibrium {G_LOSS_EQUILIBRIUM:.3f}); the generator loss started at {first_g:.3f}.",
        f"Mean D(x) = {d_real:.2f} and mean D(G(z)) = {d_fake:.2f}: a gap of {gap:.2f}.",
    ]
    if gap > D_WINS_GAP or d_loss < 0.3 * D_LOSS_EQUILIBRIUM:
        out["state"] = "discriminator dominates"
        lines.append(
            "The discriminator separates real from fake almost perfectly, so the generator gets weak "
            "gradients: expect poor images. More epochs, a lighter discriminator or label smoothing help."
        )
    elif gap < 0.05 and abs(d_loss - D_LOSS_EQUILIBRIUM) < 0.15:
        out["state"] = "near equilibrium"
        lines.append(
            "Both networks sit near the game's equilibrium. That is what a healthy run looks like, but it "
            "does not prove the images are good (or varied): chapter 3 measures that."
        )
    else:
        out["state"] = "adversarial balance"
        lines.append(
            "Neither network dominates: the discriminator still tells reals from fakes somewhat, and the "
            "generator keeps getting a useful signal. Check the progress grids for variety (mode collapse "
            "shows as near-identical images for different noise)."
        )
    return out | {"lines": lines}
