"""Training a GAN into a run folder, resumable: :class:`GanSettings` and :func:`train_gan`.

The folder holds ``checkpoints/`` (:mod:`helpers.gan.checkpoints`), ``progress/`` (a grid of G(fixed
noise) per round as ``step_*.png`` and in ``grids.npz``), ``history.csv`` (one row per round),
``generator.keras`` (the one to sample from: EMA when there is one), ``generator_raw.keras`` (with
EMA) and ``generator.json`` (fingerprint, steps, preset); every file is written atomically.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.core import provenance as prov
from helpers.core.artifacts import append_rows, atomic_write, load_npz, save_json, save_npz
from helpers.core.runtime import distribution_strategy, global_batch_size
from helpers.data.images import tile_grid, to_uint8
from helpers.gan import checkpoints as ckpt
from helpers.gan.dcgan import DCGAN, LABEL_ATTR, TRAINED_ATTR, build_networks, check_size
from helpers.gan.losses import make_loss
from helpers.gan.presets import GAN_OPTIONS, GENERATOR_OPTIONS, d_logits, gan_options

__all__ = ["GanSettings", "train_gan", "make_gan_dataset", "minority_training_images", "load_progress"]

_HISTORY_COLUMNS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "seconds")
_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "r1")


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square grayscale images (N, H, W), got shape {images.shape}.")
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images in [0, 255], got dtype {images.dtype}.")
    return images


def make_gan_dataset(images_uint8: np.ndarray, batch_size: int = 64, seed: int = 0,
                     labels: np.ndarray | None = None) -> tf.data.Dataset:
    """uint8 (N, H, W) -> cached, reshuffled (``seed``) full batches of float32 (B, H, W, 1) in [-1, 1]."""
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


def minority_training_images(train_images: np.ndarray, train_labels: np.ndarray, minority_class: int) -> np.ndarray:
    """The training images of ``minority_class`` (the only real images the GAN may see)."""
    train_labels = np.asarray(train_labels).reshape(-1)
    if len(train_labels) != len(train_images):
        raise ValueError(f"{len(train_images)} training images but {len(train_labels)} labels.")
    selected = np.asarray(train_images)[train_labels == minority_class]
    if len(selected) == 0:
        raise ValueError(f"no training image has label {minority_class!r} (labels: {np.unique(train_labels)}).")
    return selected


@dataclass(frozen=True)
class GanSettings:
    """Everything :func:`train_gan` needs besides the data; change one with ``dataclasses.replace``.

    Budget: ``steps`` generator updates or ``epochs`` passes over the images (exactly one), in rounds
    of ``steps_per_epoch`` updates (default one pass); grids and checkpoints every ``grid_every`` /
    ``checkpoint_every`` rounds and at the end (``grid_every=None``: about 8 grids); a checkpoint at a step of
    ``keep_steps`` (written when a round ends there) is never deleted, so a shorter budget can be read off
    the run (:func:`helpers.gan.generators.derive_from_checkpoint`). ``batch_size`` is
    per replica. ``preset`` (:data:`~helpers.gan.presets.GAN_PRESETS`) sets the options from ``loss``
    on; each of those, when not None, overrides it. ``num_classes`` / ``sample_label`` only with labels.
    """

    image_size: int
    epochs: int | None = None
    steps: int | None = None
    preset: str | None = None
    batch_size: int = 64
    steps_per_epoch: int | None = None
    checkpoint_every: int = 1
    grid_every: int | None = 1
    keep_checkpoints: int = 2
    keep_steps: tuple[int, ...] = ()
    d_steps: int = 1
    generator_filters: int = 512
    discriminator_filters: int = 64
    latent_dim: int = 100
    label_smoothing: float = 0.0
    num_classes: int | None = None
    sample_label: int | None = None
    loss: str | None = None
    r1_gamma: float | None = None
    d_lr: float | None = None
    g_lr: float | None = None
    beta_1: float | None = None
    diffaugment: str | None = None
    spectral_norm: bool | None = None
    minibatch_std: bool | None = None
    ema_decay: float | None = None
    conditional: bool | None = None
    upsample: str | None = None
    residual: bool | None = None

    def __post_init__(self) -> None:
        check_size(self.image_size)
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give the budget as either epochs= or steps= (exactly one).")
        if min(self.checkpoint_every, self.grid_every or 1, self.keep_checkpoints, self.epochs or 1,
               self.steps or 1) < 1:
            raise ValueError("epochs, steps, checkpoint_every, grid_every and keep_checkpoints must be >= 1.")
        if any(int(k) < 1 for k in self.keep_steps):
            raise ValueError(f"keep_steps must be steps >= 1, not {self.keep_steps}.")

    def options(self) -> dict[str, Any]:
        """The preset's options with this object's overrides (:func:`~helpers.gan.presets.gan_options`)."""
        return gan_options(self.preset, **{k: getattr(self, k) for k in (*GAN_OPTIONS, *GENERATOR_OPTIONS)})


def _label_setup(s: GanSettings, labels: np.ndarray | None) -> tuple[np.ndarray | None, int | None, dict]:
    """Checked ``(labels int32, num_classes, options)``: with labels the GAN is conditional."""
    options = s.options()
    if labels is not None and s.conditional is False:
        raise ValueError("labels were given with conditional=False: leave labels out for an unconditional GAN.")
    if options["conditional"] and labels is None:
        raise ValueError(f"the GAN options (preset {s.preset or 'dcgan'!r}) are conditional: pass labels= (all "
                         "training images and their labels; sample_label= the class to draw).")
    num_classes = s.num_classes
    if labels is not None:
        labels = np.asarray(labels).reshape(-1).astype(np.int32)
        num_classes = int(num_classes or int(np.max(labels)) + 1)
    elif num_classes:
        raise ValueError("num_classes was given without labels; pass the labels of the images.")
    options["conditional"] = labels is not None
    if s.sample_label is not None and not (labels is not None and 0 <= int(s.sample_label) < num_classes):
        raise ValueError(f"sample_label={s.sample_label!r} needs a conditional GAN with that class.")
    return labels, num_classes, options


class _RunDirCallback(keras.callbacks.Callback):
    """At the end of each round: history row, progress grid, checkpoint (in that order), all atomic."""

    def __init__(self, run_dir: Path, fingerprint: Mapping[str, Any], spe: int, total: int,
                 settings: GanSettings, grid_every: int, fixed_inputs: Any) -> None:
        super().__init__()
        self.run_dir, self.fingerprint, self.spe, self.total = run_dir, fingerprint, spe, total
        self.settings, self.grid_every, self.fixed_inputs = settings, grid_every, fixed_inputs
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t0
        gan: DCGAN = self.model
        step = int(np.asarray(gan.g_optimizer.iterations))
        spe = self.spe
        logs = logs or {}
        metrics = {k: float(logs[k]) for k in _METRICS if k in logs}
        append_rows(self.run_dir / "history.csv", [{"step": step, "epoch": round(step / spe, 4), **metrics,
                                                     "seconds": seconds}])
        gan.steps_trained, gan.epochs_trained = step, math.ceil(step / spe)
        last, whole = step >= self.total, step % spe == 0
        if last or (whole and (step // spe) % self.grid_every == 0):
            images = to_uint8(np.asarray(gan.sampler(self.fixed_inputs, training=False)))
            _save_progress(self.run_dir / ckpt.PROGRESS_DIR, step, step / spe, images)
        kept = {int(k) for k in self.settings.keep_steps}
        if last or step in kept or (whole and (step // spe) % self.settings.checkpoint_every == 0):
            ckpt.save_checkpoint(gan, self.run_dir, step, self.fingerprint)
            rolling = [path for k, path in ckpt.list_checkpoints(self.run_dir) if k not in kept]
            for old in rolling[: -self.settings.keep_checkpoints]:
                old.unlink(missing_ok=True)


def _save_progress(folder: Path, step: int, epoch: float, images: np.ndarray) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    grids = folder / "grids.npz"
    if grids.exists():
        old = load_npz(grids, ("steps", "epochs", "images"))
        keep = old["steps"] < step
        steps = np.concatenate([old["steps"][keep], [step]])
        epochs = np.concatenate([old["epochs"][keep], [epoch]])
        stack = np.concatenate([old["images"][keep], images[None]])
    else:
        steps, epochs, stack = np.asarray([step]), np.asarray([epoch]), images[None]
    save_npz(grids, steps=steps.astype(np.int64), epochs=epochs.astype(np.float64), images=stack)

    fig = Figure(figsize=(4, 4.3), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(tile_grid(images), cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"step {step} (epoch {epoch:g})")
    ax.axis("off")
    with atomic_write(folder / f"step_{step:06d}.png") as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def load_progress(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The progress grids :func:`train_gan` rendered: ``steps``, ``epochs`` (E,) and ``images`` (E, 16, H, W)."""
    return load_npz(Path(run_dir) / ckpt.PROGRESS_DIR / "grids.npz", ("steps", "epochs", "images"),
                    hint="Run notebook 02 (GAN training) first.")


def _fixed_inputs(run_dir: Path, latent_dim: int, num_classes: int | None, seed: int, n: int = 16) -> Any:
    path = run_dir / ckpt.PROGRESS_DIR / "fixed_noise.npz"
    noise = labels = None
    if path.exists():
        data = load_npz(path, ("noise",))
        noise, labels = data["noise"], data.get("labels")
        if noise.shape[1] != latent_dim or (labels is None) != (not num_classes):
            noise = None  # from a run of another shape: the fingerprint check let this run start afresh
    if noise is None:
        noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
        labels = (np.arange(n) % num_classes).astype(np.int32) if num_classes else None
        save_npz(path, noise=noise, **({"labels": labels} if labels is not None else {}))
    return noise if not num_classes else [noise, labels.reshape(-1, 1)]


def _rounds(done: int, total: int, steps_per_epoch: int) -> list[tuple[int, int, int]]:
    """``(first round, n rounds, steps each)`` segments from ``done`` to ``total``, ending at multiples of
    ``steps_per_epoch`` and at ``total`` (so resumed and uninterrupted runs checkpoint at the same steps)."""
    out = []
    while done < total:
        length = min(steps_per_epoch - done % steps_per_epoch, total - done)
        n = (total - done) // steps_per_epoch if length == steps_per_epoch else 1
        out.append((done // steps_per_epoch, n, length))
        done += n * length
    return out


def _build_gan(s: GanSettings, options: Mapping[str, Any], num_classes: int | None, seed: int) -> DCGAN:
    generator, discriminator = build_networks(s.image_size, options, generator_filters=s.generator_filters,
                                              discriminator_filters=s.discriminator_filters,
                                              latent_dim=s.latent_dim, num_classes=num_classes)
    gan = DCGAN(generator, discriminator, latent_dim=s.latent_dim, d_steps=s.d_steps, num_classes=num_classes,
                seed=seed, loss=make_loss(options, s.label_smoothing), r1_gamma=options["r1_gamma"],
                diffaugment=options["diffaugment"], ema_decay=options["ema_decay"])
    gan.compile(d_lr=options["d_lr"], g_lr=options["g_lr"], beta_1=options["beta_1"])
    gan.build_optimizers()  # in the scope, before fit (a replica cannot create variables)
    return gan


def _save_generator(gan: DCGAN, run_dir: Path, fp: Mapping[str, Any], spe: int, s: GanSettings) -> None:
    done = gan.steps_trained
    for model in {id(gan.generator): gan.generator, id(gan.sampler): gan.sampler}.values():
        setattr(model, TRAINED_ATTR, done)
        if s.sample_label is not None:
            setattr(model, LABEL_ATTR, int(s.sample_label))
    with atomic_write(run_dir / "generator.keras") as tmp:
        gan.sampler.save(tmp)
    if gan.ema_generator is not None:
        with atomic_write(run_dir / "generator_raw.keras") as tmp:
            gan.generator.save(tmp)
    save_json(run_dir / "generator.json", {
        "fingerprint": fp, "fingerprint_id": prov.fingerprint_id(fp), "steps": done,
        "epochs": round(done / spe, 4), "steps_per_epoch": spe, "preset": s.preset or "dcgan",
        "sampling": "ema" if gan.ema_generator is not None else "raw",
        "sample_label": None if s.sample_label is None else int(s.sample_label),
    })


def train_gan(
    images: np.ndarray,
    settings: GanSettings,
    run_dir: str | os.PathLike,
    *,
    labels: np.ndarray | None = None,
    provenance: Mapping[str, Any] | None = None,
    seed: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> tuple[DCGAN, Any]:
    """Train a GAN on ``images`` (uint8, N x size x size) into ``run_dir``; resume only the same run.

    With ``labels`` the GAN is conditional: it trains on all the images with their labels. The run's
    fingerprint is ``provenance`` (a JSON-able dict describing the data) + every setting that shapes the
    generator + a digest of ``images`` and ``labels``; a re-run continues from the last checkpoint only
    when it is equal (the budget may grow), else :class:`helpers.core.provenance.ProvenanceError`.
    Networks are built in :func:`helpers.core.runtime.distribution_strategy`'s scope (the replica count
    joins the fingerprint when > 1). Seeds with ``keras.utils.set_random_seed(seed)``; ``callbacks`` go to
    ``fit`` after the run-folder one. Returns the model and the history (a DataFrame, one row per round).
    """
    import pandas as pd

    s = settings
    images = _as_images(images)
    if images.shape[1] != s.image_size:
        raise ValueError(f"images are {images.shape[1]} px but image_size={s.image_size}; resize them first.")
    labels, num_classes, options = _label_setup(s, labels)
    run_dir = Path(run_dir)
    keras.utils.set_random_seed(seed)  # before the dataset: tf.data also reads the global seed
    strategy = distribution_strategy()  # the default one on one device; MirroredStrategy on several GPUs
    replicas = int(strategy.num_replicas_in_sync)
    global_batch = global_batch_size(s.batch_size, strategy)  # batch_size images per replica and step
    dataset = make_gan_dataset(images, batch_size=global_batch, seed=seed, labels=labels)
    spe = int(s.steps_per_epoch or len(images) // global_batch)
    total = int(s.steps) if s.steps is not None else int(s.epochs) * spe
    grid_every = int(s.grid_every or max(1, math.ceil(total / spe) // 8))
    shaping = {
        "image_size": s.image_size, "latent_dim": int(s.latent_dim), "generator_filters": int(s.generator_filters),
        "discriminator_filters": int(s.discriminator_filters), "num_classes": num_classes,
        "seed": int(seed), "batch_size": int(s.batch_size), "d_steps": int(s.d_steps),
        "label_smoothing": float(s.label_smoothing), **options, "d_output": "logit" if d_logits(options) else "sigmoid",
        "steps": total, **({"replicas": replicas} if replicas > 1 else {}),
    }
    fp = ckpt.fingerprint(provenance, images, labels, shaping)
    found = ckpt.resume_point(run_dir, fp, total)  # fail fast, before building anything

    keras.utils.set_random_seed(seed)
    with strategy.scope():  # variables (networks, optimizer slots) mirrored on each replica
        gan = _build_gan(s, options, num_classes, seed)
    done = ckpt.restore_arrays(gan, found, found["path"]) if found is not None else 0
    ckpt.truncate_after(run_dir, done)
    gan.steps_trained, gan.epochs_trained = done, math.ceil(done / spe)

    if done < total:
        fixed = _fixed_inputs(run_dir, s.latent_dim, num_classes, seed)
        run_cb = _RunDirCallback(run_dir, fp, spe, total, s, grid_every, fixed)
        for first, n, length in _rounds(done, total, spe):
            # one endless stream of reshuffled epochs; skipping what was consumed replays a resumed run
            stream = dataset.repeat().skip(gan.steps_trained)
            gan.fit(stream, epochs=first + n, initial_epoch=first, steps_per_epoch=length,
                    callbacks=[run_cb, *callbacks], verbose=verbose, shuffle=False)
    _save_generator(gan, run_dir, fp, spe, s)
    history_path = run_dir / "history.csv"
    history = pd.read_csv(history_path) if history_path.exists() else pd.DataFrame(columns=_HISTORY_COLUMNS)
    return gan, history

