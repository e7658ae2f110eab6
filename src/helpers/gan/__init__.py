"""DCGAN for oversampling the minority class: models, options for limited data, resumable training.

The reference (preset ``"dcgan"``) is the DCGAN of S. Ghosh and S. Dutta, *Deep Convolutional GAN for
Minority Class Oversampling: Evaluating Impact Across Classifiers* (IIEST Shibpur), in grayscale and
parametrised by image size:

* generator: 100-d N(0, 1) noise -> Dense to a 4x4xF map (7x7xF at 28 px) -> LeakyReLU(0.2) ->
  Conv2DTranspose(kernel 4, stride 2, "same") + LeakyReLU(0.2) blocks halving the filters up to the
  image size -> Conv2D(1, kernel 3, "same", tanh). No batch normalisation.
* discriminator: strided Conv2D(kernel 4, stride 2, "same") + LeakyReLU(0.2) blocks doubling the
  filters (down to 4x4, 7x7 at 28 px) -> Flatten -> Dropout(0.4) -> Dense(1, sigmoid).
* training: Goodfellow et al.'s Algorithm 1 (``d_steps`` discriminator updates, then one
  non-saturating generator update), binary cross-entropy, Adam(2e-4, beta_1=0.5) for both.

Options for a few hundred training images, each a parameter of :func:`train_gan` (and of the
builders), all recorded in the run's fingerprint; :data:`GAN_PRESETS` names useful combinations:

* ``diffaugment``: DiffAugment (Zhao et al. 2020, :mod:`helpers.gan.diffaugment`) on every image the
  discriminator sees, real and fake, in both updates;
* ``spectral_norm``: spectral normalisation (Miyato et al. 2018) of the discriminator's layers;
* ``minibatch_std``: a minibatch standard-deviation feature map (Karras et al. 2018) before the
  discriminator's Flatten, so it can see a batch of fakes that all look alike;
* ``ema_decay``: an exponential moving average of the generator's weights, used for sampling;
* ``loss``: ``"bce"`` (the paper's, non-saturating) or ``"hinge"``; ``r1_gamma``: R1 gradient
  penalty on real images (Mescheder et al. 2018); ``d_lr`` / ``g_lr``: two learning rates (TTUR);
* ``conditional``: one GAN trained on *all* training images with their labels, asked for the
  minority class when sampling (every image teaches anatomy), next to the minority-only GAN;
* ``upsample`` / ``residual`` (:data:`GENERATOR_OPTIONS`): the generator's upsampling stages as a
  nearest-neighbour resize + 3x3 convolution instead of a transposed convolution (no checkerboard),
  and as residual blocks.

The budget is ``steps`` (generator updates) or, as in the paper, ``epochs`` (passes over the images):
30 epochs of 352 images are only 150 updates at batch 64 (5 full batches an epoch).

:func:`train_gan` trains into a run folder and resumes there only when the folder's fingerprint
(the caller's ``provenance`` of the data, a digest of the training arrays and every setting that
shapes the generator) equals the new one; otherwise it raises
:class:`helpers.core.provenance.ProvenanceError`::

    run_dir/
      checkpoints/step_000180.npz  G, D (and EMA) weights, both optimizers, RNG states, step, fingerprint
      progress/step_000180.png     grid of G(fixed noise); progress/grids.npz keeps the arrays
      progress/fixed_noise.npz     the fixed noise (and labels) the grids use
      history.csv                  step,epoch,d_loss,g_loss,d_real,d_fake[,r1],seconds per round
      generator.keras              the generator to sample from (the EMA one when ema_decay > 0)
      generator_raw.keras          the trained weights themselves (only with EMA)
      generator.json               fingerprint, steps done, preset, sampling label

Every file is written atomically (:func:`helpers.core.artifacts.atomic_write`). A checkpoint that cannot
be read (truncated, bad CRC) is moved aside and the previous one is used, with a printed message.
"""

from __future__ import annotations

import json
import math
import os
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers.core import provenance as prov
from helpers.core.artifacts import (
    ArtifactError,
    append_rows,
    atomic_write,
    load_npz,
    save_json,
    save_npz,
)
from helpers.core.runtime import distribution_strategy, global_batch_size
from helpers.data.images import SUPPORTED_SIZES, tile_grid, to_uint8
from helpers.gan.diffaugment import DEFAULT_POLICY, diff_augment, policy_string

__all__ = [
    "SUPPORTED_SIZES",
    "GAN_PRESETS",
    "GAN_OPTIONS",
    "gan_options",
    "load_progress",
    "diagnose_history",
    "collapse_from_samples",
    "build_generator",
    "build_discriminator",
    "build_networks",
    "MinibatchStdDev",
    "DCGAN",
    "ConditionalDCGAN",
    "make_gan_dataset",
    "minority_training_images",
    "train_gan",
    "restore_checkpoint",
    "load_generator",
    "generate_images",
]

_TRAINED_ATTR = "gan_steps_trained"  # set on generators: 0 = freshly built, untrained
_LABEL_ATTR = "gan_sample_label"  # set on conditional generators: the class to draw by default
_CKPT_DIR = "checkpoints"
_PROGRESS_DIR = "progress"
_HISTORY_COLUMNS = ("step", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "seconds")
_METRICS = ("d_loss", "g_loss", "d_real", "d_fake")
#: Version of the training algorithm; part of every fingerprint, so a change here never resumes old runs.
_ALGORITHM_VERSION = 2

# ---------------------------------------------------------------------------------------- presets
_REFERENCE: dict[str, Any] = {
    "loss": "bce",
    "r1_gamma": 0.0,
    "d_lr": 2e-4,
    "g_lr": 2e-4,
    "beta_1": 0.5,
    "diffaugment": "",
    "spectral_norm": False,
    "minibatch_std": False,
    "ema_decay": 0.0,
    "conditional": False,
}
#: Names of the options a preset sets (each also a parameter of :func:`train_gan`).
GAN_OPTIONS: tuple[str, ...] = tuple(_REFERENCE)
#: Generator options and the paper's values: ``upsample`` ``"transpose"`` (Conv2DTranspose, kernel 4,
#: stride 2) or ``"resize"`` (nearest-neighbour x2, then Conv2D kernel 3: no checkerboard from uneven
#: kernel overlap); ``residual``: each upsampling stage is a residual block (two convolutions, and a
#: 1x1 convolution of the upsampled input added back). :func:`gan_options` lists one only when it
#: differs from the paper's, so the paper's generator has the same options and fingerprint with or
#: without these.
GENERATOR_OPTIONS: dict[str, Any] = {"upsample": "transpose", "residual": False}
UPSAMPLING = ("transpose", "resize")
_LIMITED_DATA = {**_REFERENCE, "diffaugment": DEFAULT_POLICY, "spectral_norm": True, "minibatch_std": True,
                 "ema_decay": 0.999}

#: Named option sets (a notebook or profile picks one by name; explicit parameters override it):
#:
#: * ``dcgan``: the paper's DCGAN, unchanged (reference): BCE, Adam 2e-4 / 0.5, no augmentation;
#: * ``dcgan_diffaug``: the paper's DCGAN + DiffAugment ``color,translation,cutout``;
#: * ``sn_diffaug_ema``: + spectral norm and minibatch-std in D, EMA generator (decay 0.999);
#: * ``sn_diffaug_ema_hinge``: the same with the hinge loss and TTUR (D 4e-4, G 1e-4);
#: * ``sn_diffaug_ema_cond``: ``sn_diffaug_ema`` as a conditional GAN on both classes;
#: * ``sn_diffaug_ema_resize``: ``sn_diffaug_ema`` with resize-convolution upsampling in G;
#: * ``sn_diffaug_ema_resblock``: the same with residual upsampling blocks in G.
#:
#: Which one feeds chapters 4-5 is the profile's ``gan_preset``, chosen by chapter 2/3's ablation.
GAN_PRESETS: dict[str, dict[str, Any]] = {
    "dcgan": dict(_REFERENCE),
    "dcgan_diffaug": {**_REFERENCE, "diffaugment": DEFAULT_POLICY},
    "sn_diffaug_ema": dict(_LIMITED_DATA),
    "sn_diffaug_ema_hinge": {**_LIMITED_DATA, "loss": "hinge", "d_lr": 4e-4, "g_lr": 1e-4},
    "sn_diffaug_ema_cond": {**_LIMITED_DATA, "conditional": True},
    "sn_diffaug_ema_resize": {**_LIMITED_DATA, "upsample": "resize"},
    "sn_diffaug_ema_resblock": {**_LIMITED_DATA, "upsample": "resize", "residual": True},
}
LOSSES = ("bce", "hinge")


def gan_options(preset: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The options of ``preset`` (default ``"dcgan"``) with the non-None ``overrides`` applied, checked.

    Returns a dict with the keys of :data:`GAN_OPTIONS`, plus those of :data:`GENERATOR_OPTIONS`
    whose value differs from the paper's; the DiffAugment policy in its canonical form (``""`` when off).
    """
    name = preset or "dcgan"
    if name not in GAN_PRESETS:
        raise ValueError(f"unknown GAN preset {name!r}; use one of {sorted(GAN_PRESETS)}.")
    unknown = sorted(set(overrides) - set(GAN_OPTIONS) - set(GENERATOR_OPTIONS))
    if unknown:
        raise TypeError(f"unknown GAN option(s) {unknown}; the options are {GAN_OPTIONS + tuple(GENERATOR_OPTIONS)}.")
    out = {**_REFERENCE, **GENERATOR_OPTIONS, **GAN_PRESETS[name],
           **{k: v for k, v in overrides.items() if v is not None}}
    out["upsample"], out["residual"] = str(out["upsample"]).lower(), bool(out["residual"])
    if out["upsample"] not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {out['upsample']!r}.")
    for key, paper in GENERATOR_OPTIONS.items():
        if out[key] == paper:
            del out[key]
    out["loss"] = str(out["loss"]).lower()
    if out["loss"] not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {out['loss']!r}.")
    out["diffaugment"] = policy_string(out["diffaugment"])
    for key in ("r1_gamma", "d_lr", "g_lr", "beta_1", "ema_decay"):
        out[key] = float(out[key])
    for key in ("spectral_norm", "minibatch_std", "conditional"):
        out[key] = bool(out[key])
    if out["r1_gamma"] < 0 or out["d_lr"] <= 0 or out["g_lr"] <= 0:
        raise ValueError(f"r1_gamma must be >= 0 and the learning rates > 0, got {out}.")
    if not 0.0 <= out["beta_1"] < 1.0 or not 0.0 <= out["ema_decay"] < 1.0:
        raise ValueError(f"beta_1 and ema_decay must be in [0, 1), got {out['beta_1']}, {out['ema_decay']}.")
    return out


def _d_logits(options: Mapping[str, Any]) -> bool:
    """The discriminator outputs a raw score (logit) for the hinge loss and for R1; else P(real)."""
    return options["loss"] == "hinge" or float(options["r1_gamma"]) > 0


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


def _upsample(x: Any, filters: int, how: str, name: str) -> Any:
    """Double the map's side: Conv2DTranspose (kernel 4, stride 2) or nearest x2 + Conv2D (kernel 3)."""
    if how == "transpose":
        return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=name)(x)
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
    return keras.layers.Conv2D(filters, 3, padding="same", name=name)(x)


def _residual_up(x: Any, filters: int, how: str, name: str) -> Any:
    """LeakyReLU -> upsample + conv -> LeakyReLU -> conv 3x3, plus a 1x1 conv of the resized input."""
    h = _upsample(keras.layers.LeakyReLU(0.2)(x), filters, how, name)
    h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(h)
    skip = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_skip_resize")(x)
    skip = keras.layers.Conv2D(filters, 1, name=f"{name}_skip")(skip)
    return keras.layers.Add(name=f"{name}_add")([h, skip])


def build_generator(
    image_size: int,
    latent_dim: int = 100,
    base_filters: int = 512,
    num_classes: int | None = None,
    *,
    upsample: str = "transpose",
    residual: bool = False,
) -> keras.Model:
    """The paper's generator for ``image_size`` px: noise (and label) -> image in [-1, 1], (size, size, 1).

    ``base_filters`` is the depth of the first map (512 in the paper; 128-256 for light CPU runs);
    each upsampling stage halves it (never below 8). With ``num_classes`` the model takes
    ``[noise, label]`` and the embedded label is an extra channel of the first map. ``upsample`` and
    ``residual`` (:data:`GENERATOR_OPTIONS`) change the stages; the defaults are the paper's.
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
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {UPSAMPLING}, got {upsample!r}.")
    for i in range(n_up):
        filters = max(base_filters // 2 ** (i + 1), 8)
        if residual:
            x = _residual_up(x, filters, upsample, f"up{i + 1}")
        else:
            x = keras.layers.LeakyReLU(0.2)(_upsample(x, filters, upsample, f"up{i + 1}"))
    if residual:
        x = keras.layers.LeakyReLU(0.2)(x)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="tanh", name="image")(x)
    model = keras.Model(inputs if num_classes else z, out, name=f"generator_{image_size}px")
    setattr(model, _TRAINED_ATTR, 0)
    return model


@keras.saving.register_keras_serializable(package="helpers")
class MinibatchStdDev(keras.layers.Layer):
    """Append one feature map: the batch's mean standard deviation (Karras et al. 2018, ProGAN).

    For every feature and position the standard deviation over the batch is taken, averaged into
    one number, and appended as a constant channel. A batch of near-identical fakes gets a value
    near 0 that real batches never have, so the discriminator can penalise a collapsed generator.
    The discriminator sees real and fake batches separately, so the statistic is never mixed.
    """

    def call(self, x: Any) -> Any:
        mean = keras.ops.mean(x, axis=0, keepdims=True)
        std = keras.ops.sqrt(keras.ops.mean(keras.ops.square(x - mean), axis=0) + 1e-8)
        feature = keras.ops.ones_like(x[..., :1]) * keras.ops.mean(std)
        return keras.ops.concatenate([x, feature], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], input_shape[-1] + 1)


def build_discriminator(
    image_size: int,
    base_filters: int = 64,
    num_classes: int | None = None,
    *,
    spectral_norm: bool = False,
    minibatch_std: bool = False,
    logits: bool = False,
) -> keras.Model:
    """The paper's discriminator for ``image_size`` px: image (and label) -> P(real), sigmoid.

    Strided Conv2D + LeakyReLU blocks (2 at 28 px, 3 at 32, 4 at 64, 5 at 128) doubling the filters
    from ``base_filters`` (capped at 8x), Flatten, Dropout(0.4), Dense(1). With ``num_classes`` the
    model takes ``[image, label]`` and the embedded label is an extra image channel. Options (all
    off in the paper): ``spectral_norm`` wraps every Conv2D and the Dense in
    ``keras.layers.SpectralNormalization``; ``minibatch_std`` adds a :class:`MinibatchStdDev` map
    before Flatten; ``logits`` drops the sigmoid (a raw score, for the hinge loss and R1).
    """
    image_size = _check_size(image_size)
    if base_filters < 1:
        raise ValueError(f"base_filters must be positive, got {base_filters}.")

    def sn(layer: keras.layers.Layer) -> keras.layers.Layer:
        return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if spectral_norm else layer

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
        x = sn(keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{i + 1}"))(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    if minibatch_std:
        x = MinibatchStdDev(name="minibatch_std")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.4)(x)
    out = sn(keras.layers.Dense(1, activation=None if logits else "sigmoid", name="score" if logits else "p_real"))(x)
    return keras.Model(inputs if num_classes else img, out, name=f"discriminator_{image_size}px")


def build_networks(
    image_size: int,
    options: Mapping[str, Any] | str | None = None,
    *,
    generator_filters: int = 512,
    discriminator_filters: int = 64,
    latent_dim: int = 100,
    num_classes: int | None = None,
) -> tuple[keras.Model, keras.Model]:
    """Generator and discriminator for a preset name or an options dict (:func:`gan_options`).

    A conditional option set needs ``num_classes`` (2 for NORMAL/PNEUMONIA).
    """
    opts = gan_options(options) if options is None or isinstance(options, str) else gan_options(None, **options)
    if opts["conditional"] and not num_classes:
        raise ValueError("a conditional GAN needs num_classes (e.g. 2).")
    n = num_classes if opts["conditional"] else None
    generator = build_generator(image_size, latent_dim, generator_filters, n,
                                **{k: opts.get(k, v) for k, v in GENERATOR_OPTIONS.items()})
    discriminator = build_discriminator(image_size, discriminator_filters, n, spectral_norm=opts["spectral_norm"],
                                        minibatch_std=opts["minibatch_std"], logits=_d_logits(opts))
    return generator, discriminator


class DCGAN(keras.Model):
    """Generator + discriminator trained by ``fit`` with the alternating minibatch updates.

    Each ``train_step`` makes ``d_steps`` discriminator updates (real and fresh fake batches;
    real targets ``1 - label_smoothing`` with BCE), then one generator update on the fakes of the
    last discriminator step (as PyTorch's DCGAN example does; G has not changed since they were
    drawn). Every image the discriminator sees first goes through :meth:`augment` (DiffAugment; the
    identity with the paper's empty policy). Noise and augmentations come from seeded
    ``keras.random.SeedGenerator`` s, so runs are repeatable and the RNG states can be checkpointed.

    ``loss``: ``"bce"`` (discriminator ``BCE(1, D(x)) + BCE(0, D(G(z)))``, generator ``BCE(1,
    D(G(z)))``, non-saturating) or ``"hinge"`` (``relu(1 - D(x)) + relu(1 + D(G(z)))``, generator
    ``-D(G(z))``); ``d_logits``: the discriminator outputs raw scores (sigmoid applied for the
    ``d_real`` / ``d_fake`` metrics); ``r1_gamma``: weight of the R1 penalty
    ``gamma / 2 * E ||grad_x D(x)||²`` on real images (logged as ``r1``); ``ema_decay`` > 0 keeps
    :attr:`ema_generator`, an exponential moving average of the generator's weights with the
    warm-up ``decay_t = min(ema_decay, (1 + t) / (10 + t))`` after ``t`` generator updates.
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
        *,
        loss: str = "bce",
        d_logits: bool = False,
        r1_gamma: float = 0.0,
        diffaugment: str | Sequence[str] | None = "",
        ema_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}.")
        if not 0.0 <= label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}.")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        if loss == "hinge" and not d_logits:
            raise ValueError("the hinge loss needs a discriminator with raw scores: build it with logits=True.")
        if r1_gamma < 0 or not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"r1_gamma must be >= 0 and ema_decay in [0, 1), got {r1_gamma}, {ema_decay}.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.d_steps = int(d_steps)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes) if num_classes else None
        self.loss_name = loss
        self.d_logits = bool(d_logits)
        self.r1_gamma = float(r1_gamma)
        self.diffaugment = policy_string(diffaugment)
        self.ema_decay = float(ema_decay)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.augment_seed_generator = keras.random.SeedGenerator(seed + 1)
        self.ema_generator: keras.Model | None = None
        if self.ema_decay > 0:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.r1_tracker = keras.metrics.Mean(name="r1") if self.r1_gamma > 0 else None
        self.steps_trained = 0
        self.epochs_trained = 0
        self.built = True  # its networks are built; under a tf.distribute strategy fit would else trace call()

    def compile(  # type: ignore[override]
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        loss_fn: Any = None,
        *,
        d_lr: float = 2e-4,
        g_lr: float = 2e-4,
        beta_1: float = 0.5,
        **kwargs: Any,
    ) -> None:
        """Set the optimizers (Adam(lr, beta_1=0.5); 2e-4 each as in the paper) and BCE; never XLA."""
        kwargs["jit_compile"] = False
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(d_lr, beta_1=beta_1)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(g_lr, beta_1=beta_1)
        # a plain function, not a keras.losses.Loss: those divide by the replica count under a
        # tf.distribute strategy by themselves, and train_step scales every loss term once
        self.loss_fn = loss_fn or self._bce

    def build_optimizers(self) -> None:
        """Create the optimizers' slot variables (needed before restoring their state)."""
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]
        return trackers + ([self.r1_tracker] if self.r1_tracker is not None else [])

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw images from: the EMA generator when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Generate images from noise (``[noise, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    def _g_inputs(self, z: Any, labels: Any) -> Any:
        return z if labels is None else [z, labels]

    def _d_inputs(self, x: Any, labels: Any) -> Any:
        return x if labels is None else [x, labels]

    def augment(self, images: Any) -> Any:
        """DiffAugment with this model's policy (no op when it is empty)."""
        return diff_augment(images, self.diffaugment, seed=self.augment_seed_generator)

    def score(self, images: Any, labels: Any) -> Any:
        """The discriminator's output on augmented ``images``: P(real), or a raw score with ``d_logits``."""
        return self.discriminator(self._d_inputs(self.augment(images), labels), training=True)

    def discriminator_loss(self, real: Any, fake: Any, labels: Any) -> tuple[Any, Any, Any, Any]:
        """``(adversarial loss, R1 penalty or None, D on reals, D on fakes)`` for one D update."""
        penalty = None
        if self.r1_gamma > 0:
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(real)
                s_real = self.score(real, labels)
                summed = tf.reduce_sum(s_real)
            grad = r1_tape.gradient(summed, real)
            penalty = 0.5 * self.r1_gamma * tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
        else:
            s_real = self.score(real, labels)
        s_fake = self.score(fake, labels)
        if self.loss_name == "hinge":
            loss = tf.reduce_mean(tf.nn.relu(1.0 - s_real)) + tf.reduce_mean(tf.nn.relu(1.0 + s_fake))
        else:
            real_target = tf.fill(tf.shape(s_real), 1.0 - self.label_smoothing)
            loss = self.loss_fn(real_target, s_real) + self.loss_fn(tf.zeros_like(s_fake), s_fake)
        return loss, penalty, s_real, s_fake

    def generator_loss(self, s_gen: Any) -> Any:
        """Non-saturating ``BCE(1, D(G(z)))``, or ``-mean D(G(z))`` for the hinge loss."""
        if self.loss_name == "hinge":
            return -tf.reduce_mean(s_gen)
        return self.loss_fn(tf.ones_like(s_gen), s_gen)

    def _bce(self, target: Any, s: Any) -> Any:
        """Mean binary cross-entropy of D's outputs (logits or probabilities) against ``target``."""
        return tf.reduce_mean(keras.losses.binary_crossentropy(target, s, from_logits=self.d_logits))

    def _probability(self, s: Any) -> Any:
        return tf.reduce_mean(tf.sigmoid(s) if self.d_logits else s)

    def train_step(self, data: Any) -> dict[str, Any]:
        """``d_steps`` discriminator updates, then one generator update (and the EMA update).

        Draws the noise from the model's seeded generator and runs :meth:`adversarial_step`.
        """
        if self.num_classes:
            real, labels = data[0], tf.reshape(tf.cast(data[1], "int32"), (-1, 1))
        else:
            real, labels = (data[0] if isinstance(data, (tuple, list)) else data), None
        batch = tf.shape(real)[0]
        noise = [keras.random.normal((batch, self.latent_dim), seed=self.seed_generator) for _ in range(self.d_steps)]
        step = self.adversarial_step(real, noise, labels)
        self.d_loss_tracker.update_state(step["d_loss"])
        self.g_loss_tracker.update_state(step["g_loss"])
        self.d_real_tracker.update_state(step["d_real"])
        self.d_fake_tracker.update_state(step["d_fake"])
        if self.r1_tracker is not None:
            self.r1_tracker.update_state(step["r1"])
        return {m.name: m.result() for m in self.metrics}

    def adversarial_step(self, real: Any, noise: Sequence[Any], labels: Any = None) -> dict[str, Any]:
        """One round on a real batch with given noise; returns this round's losses and mean D outputs.

        ``noise[i]`` (batch, latent_dim) feeds the i-th of the ``d_steps`` discriminator updates;
        the generator update then reuses the last one's fakes. Updates the weights (and the EMA),
        not the metrics. ``labels`` (batch, 1) int32 for a conditional GAN.
        """
        if len(noise) != self.d_steps:
            raise ValueError(f"give one noise batch per discriminator step: {self.d_steps}, got {len(noise)}.")
        # Under a tf.distribute strategy each replica sees batch/replicas images and the optimizer
        # sums the replicas' gradients, so each replica's loss is divided by the replica count.
        scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        with tf.GradientTape() as g_tape:
            for step, z in enumerate(noise):
                if step == self.d_steps - 1:  # the generator update reuses these fakes
                    fake = self.generator(self._g_inputs(z, labels), training=True)
                    fake_for_d = tf.stop_gradient(fake)
                else:
                    with g_tape.stop_recording():
                        fake_for_d = self.generator(self._g_inputs(z, labels), training=True)
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    d_loss, penalty, s_real, s_fake = self.discriminator_loss(real, fake_for_d, labels)
                    total = (d_loss if penalty is None else d_loss + penalty) * scale
                grads = d_tape.gradient(total, d_vars)
                with g_tape.stop_recording():
                    self.d_optimizer.apply_gradients(zip(grads, d_vars, strict=True))
            g_loss = self.generator_loss(self.score(fake, labels))  # D sees augmented fakes here too
            g_scaled = g_loss * scale
        grads = g_tape.gradient(g_scaled, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars, strict=True))
        if self.ema_generator is not None:
            self._update_ema()
        out = {"d_loss": d_loss, "g_loss": g_loss, "d_real": self._probability(s_real),
               "d_fake": self._probability(s_fake)}
        return out | ({"r1": penalty} if penalty is not None else {})

    def _update_ema(self) -> None:
        t = tf.cast(self.g_optimizer.iterations, "float32")
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        pairs = list(zip(self.ema_generator.weights, self.generator.weights, strict=True))
        if tf.distribute.get_strategy().num_replicas_in_sync == 1:
            for avg, w in pairs:
                avg.assign(decay * avg + (1.0 - decay) * w)
            return

        def update(strategy: Any) -> None:  # cross-replica: every replica holds the same weights
            for avg, w in pairs:
                strategy.extended.update(avg.value, lambda a, v: a.assign(decay * a + (1.0 - decay) * v),
                                         args=(w.value,))

        tf.distribute.get_replica_context().merge_call(update)


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
#: What reading a damaged ``.npz`` raises (truncated file, bad CRC, cut-off member, garbage).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError)


def _state_groups(gan: DCGAN) -> dict[str, list[Any]]:
    gan.build_optimizers()
    return {
        "g": list(gan.generator.variables),
        "d": list(gan.discriminator.variables),
        "gopt": list(gan.g_optimizer.variables),
        "dopt": list(gan.d_optimizer.variables),
        "rng": [gan.seed_generator.state, gan.augment_seed_generator.state],
        "ema": list(gan.ema_generator.variables) if gan.ema_generator is not None else [],
    }


def _checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / _CKPT_DIR / f"step_{step:06d}.npz"


def _save_checkpoint(gan: DCGAN, path: Path, step: int, fingerprint: Mapping[str, Any]) -> Path:
    arrays: dict[str, np.ndarray] = {
        "step": np.asarray(step, dtype=np.int64),
        "fingerprint": np.asarray(json.dumps(prov.normalise(dict(fingerprint)), sort_keys=True)),
    }
    for group, variables in _state_groups(gan).items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:04d}"] = np.asarray(v.numpy())
    with atomic_write(path) as tmp:
        np.savez(tmp, **arrays)
    return path


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for p in (run_dir / _CKPT_DIR).glob("step_*.npz"):
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """Every array of a checkpoint (reading them all checks the CRCs); ValueError naming the file if damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["step"] = int(arrays["step"])
        arrays["fingerprint"] = json.loads(str(arrays["fingerprint"]))
    except _UNREADABLE as exc:
        raise ValueError(f"GAN checkpoint {path} is unreadable ({type(exc).__name__}: {exc}).") from exc
    return arrays


def _usable_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The newest checkpoint that reads back whole; damaged newer ones are moved aside, with a message."""
    for _, path in reversed(_checkpoints(run_dir)):
        try:
            data = _read_checkpoint(path)
        except ValueError as exc:
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            print(f"{exc} Moved it aside to {aside.name}; falling back to the previous checkpoint.")
            continue
        data["path"] = path
        return data
    return None


def _clean_temporary_files(run_dir: Path) -> None:
    """Remove what a killed :func:`atomic_write` left behind (``.step_*.tmp*``, ``.generator.*.tmp*`` ...)."""
    for folder in (run_dir, run_dir / _CKPT_DIR, run_dir / _PROGRESS_DIR):
        if folder.is_dir():
            for p in folder.glob(".*.tmp*"):
                if p.is_file():
                    p.unlink(missing_ok=True)


def restore_checkpoint(gan: DCGAN, path: str | os.PathLike, fingerprint: Mapping[str, Any] | None = None) -> int:
    """Load a checkpoint written by :func:`train_gan` into ``gan``; return its step.

    Restores G and D (weights, spectral-norm vectors, dropout RNG states), the EMA generator, both
    optimizers' state and the noise/augmentation RNGs. With ``fingerprint``, raises
    :class:`helpers.core.provenance.ProvenanceError` when the checkpoint's differs (the budget aside).
    """
    path = Path(path)
    data = _read_checkpoint(path)
    if fingerprint is not None:
        _check_fingerprint(path.parent, data["fingerprint"], fingerprint, "GAN checkpoint")
    return _restore_arrays(gan, data, path)


def _restore_arrays(gan: DCGAN, data: Mapping[str, Any], path: Path) -> int:
    groups = _state_groups(gan)
    for group, variables in groups.items():
        n_saved = sum(1 for k in data if k.startswith(group + "/"))
        if n_saved != len(variables):
            raise prov.ProvenanceError(
                f"{path} holds {n_saved} {group!r} variables, the model has {len(variables)}: another "
                f"architecture. {prov.FIX}")
        for i, v in enumerate(variables):
            value = data[f"{group}/{i:04d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise prov.ProvenanceError(
                    f"{path}: {group} variable {v.path} has shape {value.shape}, the model {tuple(v.shape)}: "
                    f"another architecture. {prov.FIX}")
    for group, variables in groups.items():
        for i, v in enumerate(variables):
            v.assign(data[f"{group}/{i:04d}"])
    return int(data["step"])


# ------------------------------------------------------------------------------------ fingerprint
_BUDGET_KEY = "gan_steps"


def _fingerprint(
    provenance: Mapping[str, Any] | None,
    images: np.ndarray,
    labels: np.ndarray | None,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The caller's ``provenance`` + ``gan_*`` settings + a digest of the training arrays."""
    caller = prov.normalise(dict(provenance or {}))
    reserved = sorted(k for k in caller if k.startswith("gan_"))
    if reserved:
        raise ValueError(f"provenance keys starting with 'gan_' are train_gan's own: {reserved}.")
    own = {f"gan_{k}": v for k, v in settings.items()}
    own["gan_algorithm"] = _ALGORITHM_VERSION
    own["gan_n_images"] = int(len(images))
    own["gan_images_digest"] = prov.array_digest(images, labels)
    return prov.normalise({**caller, **own})


def _without_budget(fp: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fp.items() if k != _BUDGET_KEY}


def _check_fingerprint(where: Path, saved: Mapping[str, Any], now: Mapping[str, Any], what: str) -> None:
    """Raise ProvenanceError unless ``saved`` and ``now`` agree on everything but the budget."""
    a, b = prov.normalise(_without_budget(saved)), prov.normalise(_without_budget(now))
    if a != b:
        raise prov.mismatch_error(where, a, b, what)


# ------------------------------------------------------------------------------------ training
class _RunDirCallback(keras.callbacks.Callback):
    """At the end of each round: history row, progress grid, checkpoint (in that order), all atomic.

    A round is ``steps_per_epoch`` generator updates (the last one may be shorter); grids and
    checkpoints are written every ``grid_every`` / ``checkpoint_every`` rounds and at the end.
    """

    def __init__(self, run_dir: Path, fingerprint: Mapping[str, Any], steps_per_epoch: int, total: int,
                 checkpoint_every: int, grid_every: int, fixed_inputs: Any, keep_checkpoints: int) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.fingerprint = fingerprint
        self.steps_per_epoch = steps_per_epoch
        self.total = total
        self.checkpoint_every = checkpoint_every
        self.grid_every = grid_every
        self.fixed_inputs = fixed_inputs
        self.keep_checkpoints = keep_checkpoints
        self._t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._t0
        gan: DCGAN = self.model
        step = int(np.asarray(gan.g_optimizer.iterations))
        spe = self.steps_per_epoch
        logs = logs or {}
        metrics = {k: float(logs[k]) for k in (*_METRICS, "r1") if k in logs}
        row = {"step": step, "epoch": round(step / spe, 4), **metrics, "seconds": seconds}
        append_rows(self.run_dir / "history.csv", [row])
        gan.steps_trained, gan.epochs_trained = step, math.ceil(step / spe)
        last, whole = step >= self.total, step % spe == 0
        if last or (whole and (step // spe) % self.grid_every == 0):
            images = to_uint8(np.asarray(gan.sampler(self.fixed_inputs, training=False)))
            _save_progress(self.run_dir / _PROGRESS_DIR, step, step / spe, images)
        if last or (whole and (step // spe) % self.checkpoint_every == 0):
            _save_checkpoint(gan, _checkpoint_path(self.run_dir, step), step, self.fingerprint)
            for _, old in _checkpoints(self.run_dir)[: -self.keep_checkpoints]:
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
    path = folder / f"step_{step:06d}.png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def _truncate_after(run_dir: Path, step: int) -> None:
    """Drop history rows, progress grids and pictures later than the checkpoint we resume from."""
    import pandas as pd

    history = run_dir / "history.csv"
    if history.exists():
        table = pd.read_csv(history)
        if "step" not in table.columns:
            history.unlink()
        elif (table["step"] > step).any():
            with atomic_write(history) as tmp:
                table[table["step"] <= step].to_csv(tmp, index=False)
    grids = run_dir / _PROGRESS_DIR / "grids.npz"
    if grids.exists():
        old = load_npz(grids)
        if "steps" not in old:  # grids of an older format
            grids.unlink()
            old = {"steps": np.zeros(0, np.int64)}
        keep = old["steps"] <= step
        if not keep.all():
            save_npz(grids, steps=old["steps"][keep], epochs=old["epochs"][keep], images=old["images"][keep])
    for png in (run_dir / _PROGRESS_DIR).glob("step_*.png"):
        try:
            if int(png.stem.split("_")[1]) > step:
                png.unlink()
        except (IndexError, ValueError):
            continue


def _fixed_inputs(run_dir: Path, latent_dim: int, num_classes: int | None, seed: int, n: int = 16) -> Any:
    path = run_dir / _PROGRESS_DIR / "fixed_noise.npz"
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
    """``(first round, n rounds, steps each)`` segments from step ``done`` to ``total``.

    Rounds end at multiples of ``steps_per_epoch`` and at ``total``, so a resumed run and an
    uninterrupted one write checkpoints at the same steps.
    """
    out = []
    while done < total:
        length = min(steps_per_epoch - done % steps_per_epoch, total - done)
        n = (total - done) // steps_per_epoch if length == steps_per_epoch else 1
        out.append((done // steps_per_epoch, n, length))
        done += n * length
    return out


def _check_unstamped_folder(run_dir: Path, fingerprint: Mapping[str, Any]) -> None:
    """No usable checkpoint: refuse files of another run (old format, or a generator of other inputs)."""
    old = sorted(p.name for p in (run_dir / _CKPT_DIR).glob("epoch_*.npz"))
    if old:
        raise prov.ProvenanceError(
            f"{run_dir / _CKPT_DIR} holds GAN checkpoints without a fingerprint ({', '.join(old[:3])}): "
            f"their data and settings are unknown. {prov.FIX}")
    info = run_dir / "generator.json"
    if info.exists():
        saved = json.loads(info.read_text()).get("fingerprint")
        if saved is None:
            raise prov.ProvenanceError(
                f"{info} carries no fingerprint: the generator's data and settings are unknown. {prov.FIX}")
        _check_fingerprint(run_dir, saved, fingerprint, "GAN generator")


def train_gan(
    images: np.ndarray,
    *,
    image_size: int,
    run_dir: str | os.PathLike,
    epochs: int | None = None,
    steps: int | None = None,
    preset: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    checkpoint_every: int = 1,
    grid_every: int | None = 1,
    d_steps: int = 1,
    generator_filters: int = 512,
    discriminator_filters: int = 64,
    latent_dim: int = 100,
    label_smoothing: float = 0.0,
    labels: np.ndarray | None = None,
    num_classes: int | None = None,
    sample_label: int | None = None,
    steps_per_epoch: int | None = None,
    keep_checkpoints: int = 2,
    loss: str | None = None,
    r1_gamma: float | None = None,
    d_lr: float | None = None,
    g_lr: float | None = None,
    beta_1: float | None = None,
    diffaugment: str | None = None,
    spectral_norm: bool | None = None,
    minibatch_std: bool | None = None,
    ema_decay: float | None = None,
    conditional: bool | None = None,
    upsample: str | None = None,
    residual: bool | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> tuple[DCGAN, Any]:
    """Train a GAN on ``images`` (uint8, N x size x size) into ``run_dir``; resume only the same run.

    **Budget**: ``steps`` generator updates, or ``epochs`` passes over the images (as in the paper);
    exactly one. Training runs in rounds of ``steps_per_epoch`` updates (default: one pass over
    the images); the history gets one row per round, and grids / checkpoints are written every
    ``grid_every`` / ``checkpoint_every`` rounds and at the end (``grid_every=None``: about 8 grids).

    **Options**: ``preset`` (a name of :data:`GAN_PRESETS`, default ``"dcgan"``) sets ``loss``,
    ``r1_gamma``, ``d_lr``, ``g_lr``, ``beta_1``, ``diffaugment``, ``spectral_norm``,
    ``minibatch_std``, ``ema_decay``, ``conditional`` and the generator's ``upsample`` and ``residual``;
    each of these parameters, when not None, overrides the preset. With ``labels`` (or a conditional preset, which then needs them) the GAN
    is conditional: it trains on all the images with their labels (``num_classes`` defaults to
    ``max(labels) + 1``) and ``sample_label`` is the class :func:`generate_images` draws by default.

    **Resume**: the fingerprint is the caller's ``provenance`` (a JSON-able dict describing the
    data: dataset, source hash, image size, ...) + every setting above that shapes the generator
    (``gan_*`` keys) + a digest of ``images`` and ``labels``; it is stored in every checkpoint and in
    ``generator.json``. A re-run continues from the last checkpoint only when the fingerprints are
    equal (the budget may grow: a 2-step run resumes to 4 steps exactly as an uninterrupted 4-step
    run); otherwise, or when the folder holds a run already longer than ``steps``, it raises
    :class:`helpers.core.provenance.ProvenanceError`. Unreadable checkpoints are moved aside (the previous
    one is used, ``keep_checkpoints`` >= 2); temporary files of a killed write are removed.

    **Devices**: the networks are built in :func:`helpers.core.runtime.distribution_strategy`'s scope;
    ``batch_size`` is per replica, so on several GPUs each step sees ``batch_size x replicas``
    images (the replica count joins the fingerprint) and each replica's loss is scaled by 1/replicas.

    Returns the model and the whole history (a DataFrame with step, epoch, d_loss, g_loss,
    d_real, d_fake[, r1], seconds). Seeds Python, NumPy and TensorFlow with
    ``keras.utils.set_random_seed(seed)``; extra ``callbacks`` go to ``fit`` after the run-folder one.
    """
    import pandas as pd

    image_size = _check_size(image_size)
    images = _as_images(images)
    if images.shape[1] != image_size:
        raise ValueError(f"images are {images.shape[1]} px but image_size={image_size}; resize them first.")
    options = gan_options(preset, loss=loss, r1_gamma=r1_gamma, d_lr=d_lr, g_lr=g_lr, beta_1=beta_1,
                          diffaugment=diffaugment, spectral_norm=spectral_norm, minibatch_std=minibatch_std,
                          ema_decay=ema_decay, conditional=conditional, upsample=upsample, residual=residual)
    if labels is not None and conditional is False:
        raise ValueError("labels were given with conditional=False: leave labels out for an unconditional GAN.")
    if options["conditional"] and labels is None:
        raise ValueError(f"the GAN options (preset {preset or 'dcgan'!r}) are conditional: pass labels= (all "
                         "training images and their labels; sample_label= the class to draw).")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1).astype(np.int32)
        num_classes = int(num_classes or int(np.max(labels)) + 1)
    elif num_classes:
        raise ValueError("num_classes was given without labels; pass the labels of the images.")
    options["conditional"] = labels is not None
    if sample_label is not None and not (labels is not None and 0 <= int(sample_label) < num_classes):
        raise ValueError(f"sample_label={sample_label!r} needs a conditional GAN with that class.")
    if (epochs is None) == (steps is None):
        raise ValueError("give the budget as either epochs= or steps= (exactly one).")
    if min(checkpoint_every, grid_every or 1, keep_checkpoints, epochs or 1, steps or 1) < 1:
        raise ValueError("epochs, steps, checkpoint_every, grid_every and keep_checkpoints must be >= 1.")
    run_dir = Path(run_dir)
    keras.utils.set_random_seed(seed)  # before the dataset: tf.data also reads the global seed
    strategy = distribution_strategy()  # the default one on one device; MirroredStrategy on several GPUs
    replicas = int(strategy.num_replicas_in_sync)
    global_batch = global_batch_size(batch_size, strategy)  # batch_size images per replica and step
    dataset = make_gan_dataset(images, batch_size=global_batch, seed=seed, labels=labels)
    spe = int(steps_per_epoch or len(images) // global_batch)
    total = int(steps) if steps is not None else int(epochs) * spe
    n_rounds = math.ceil(total / spe)
    grid_every = int(grid_every or max(1, n_rounds // 8))
    settings = {
        "image_size": image_size, "latent_dim": int(latent_dim), "generator_filters": int(generator_filters),
        "discriminator_filters": int(discriminator_filters), "num_classes": num_classes if labels is not None else None,
        "seed": int(seed), "batch_size": int(batch_size), "d_steps": int(d_steps),
        "label_smoothing": float(label_smoothing), **options, "d_output": "logit" if _d_logits(options) else "sigmoid",
        "steps": total, **({"replicas": replicas} if replicas > 1 else {}),
    }
    fingerprint = _fingerprint(provenance, images, labels, settings)

    _clean_temporary_files(run_dir)
    found = _usable_checkpoint(run_dir)  # fail fast, before building anything
    if found is not None:
        _check_fingerprint(found["path"].parent, found["fingerprint"], fingerprint, "GAN checkpoint")
        if found["step"] > total:
            raise prov.mismatch_error(found["path"].parent, {_BUDGET_KEY: found["step"]}, {_BUDGET_KEY: total},
                                      "GAN checkpoint (a longer run)")
    else:
        _check_unstamped_folder(run_dir, fingerprint)

    keras.utils.set_random_seed(seed)
    with strategy.scope():  # variables (networks, optimizer slots) mirrored on each replica
        generator, discriminator = build_networks(image_size, options, generator_filters=generator_filters,
                                                  discriminator_filters=discriminator_filters,
                                                  latent_dim=latent_dim, num_classes=num_classes)
        cls = ConditionalDCGAN if labels is not None else DCGAN
        extra = {"num_classes": num_classes} if labels is not None else {}
        gan = cls(generator, discriminator, latent_dim=latent_dim, d_steps=d_steps,
                  label_smoothing=label_smoothing, seed=seed, loss=options["loss"], d_logits=_d_logits(options),
                  r1_gamma=options["r1_gamma"], diffaugment=options["diffaugment"],
                  ema_decay=options["ema_decay"], **extra)
        gan.compile(d_lr=options["d_lr"], g_lr=options["g_lr"], beta_1=options["beta_1"])
        gan.build_optimizers()  # in the scope, before fit (a replica cannot create variables)

    done = _restore_arrays(gan, found, found["path"]) if found is not None else 0
    _truncate_after(run_dir, done)
    gan.steps_trained, gan.epochs_trained = done, math.ceil(done / spe)

    if done < total:
        fixed = _fixed_inputs(run_dir, latent_dim, num_classes if labels is not None else None, seed)
        run_cb = _RunDirCallback(run_dir, fingerprint, spe, total, checkpoint_every, grid_every, fixed,
                                 keep_checkpoints)
        for first, n, length in _rounds(done, total, spe):
            # One endless stream of reshuffled epochs; skipping what was already consumed makes a
            # resumed run see the same batches as an uninterrupted one.
            stream = dataset.repeat().skip(gan.steps_trained)
            gan.fit(stream, epochs=first + n, initial_epoch=first, steps_per_epoch=length,
                    callbacks=[run_cb, *callbacks], verbose=verbose, shuffle=False)

    done = gan.steps_trained
    for model in {id(gan.generator): gan.generator, id(gan.sampler): gan.sampler}.values():
        setattr(model, _TRAINED_ATTR, done)
        if sample_label is not None:
            setattr(model, _LABEL_ATTR, int(sample_label))
    with atomic_write(run_dir / "generator.keras") as tmp:
        gan.sampler.save(tmp)
    if gan.ema_generator is not None:
        with atomic_write(run_dir / "generator_raw.keras") as tmp:
            gan.generator.save(tmp)
    save_json(run_dir / "generator.json", {
        "fingerprint": fingerprint, "fingerprint_id": prov.fingerprint_id(fingerprint), "steps": done,
        "epochs": round(done / spe, 4), "steps_per_epoch": spe, "preset": preset or "dcgan",
        "sampling": "ema" if gan.ema_generator is not None else "raw",
        "sample_label": None if sample_label is None else int(sample_label),
    })
    history_path = run_dir / "history.csv"
    history = pd.read_csv(history_path) if history_path.exists() else pd.DataFrame(columns=_HISTORY_COLUMNS)
    return gan, history


# ------------------------------------------------------------------------------------ sampling
def load_generator(run_dir: str | os.PathLike, expected: Mapping[str, Any] | None = None) -> keras.Model:
    """Load ``run_dir/generator.keras`` written by :func:`train_gan`.

    ``expected``: fingerprint entries the generator must have been trained with (the caller's data
    provenance, ``gan_*`` settings, or the whole fingerprint); every key given must match
    ``generator.json``, else :class:`helpers.core.provenance.ProvenanceError`.
    """
    path = Path(run_dir) / "generator.keras"
    if not path.exists():
        raise ArtifactError(f"{path} does not exist: run notebook 02 first (it trains the GAN).")
    info_path = Path(run_dir) / "generator.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    if expected is not None:
        saved = info.get("fingerprint")
        if saved is None:
            raise prov.ProvenanceError(
                f"{info_path} carries no fingerprint: the generator's data and settings are unknown. {prov.FIX}")
        want = prov.normalise(dict(expected))
        have = {k: prov.normalise(saved.get(k)) for k in want}
        if have != want:
            raise prov.mismatch_error(path, have, want, "generator")
    generator = keras.models.load_model(path, compile=False)
    setattr(generator, _TRAINED_ATTR, info.get("steps"))
    if info.get("sample_label") is not None:
        setattr(generator, _LABEL_ATTR, int(info["sample_label"]))
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
    :class:`DCGAN` samples from its EMA generator when it has one. A conditional generator needs
    ``labels`` (one class id for all, or one per image) unless it was trained with a
    ``sample_label`` (then that class is the default).
    """
    if isinstance(generator, DCGAN):
        generator = generator.sampler if generator.steps_trained else None
    if generator is None or getattr(generator, _TRAINED_ATTR, None) == 0:
        raise ValueError(
            "the generator is untrained: train the GAN first (train_gan) or load a trained one "
            "with load_generator(run_dir)."
        )
    conditional = len(generator.inputs) == 2
    if conditional and labels is None:
        labels = getattr(generator, _LABEL_ATTR, None)
        if labels is None:
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
#: Hinge losses where D scores everything 0 (D loss relu(1 - 0) + relu(1 + 0), G loss -0).
HINGE_EQUILIBRIUM = {"d_loss": 2.0, "g_loss": 0.0}
D_WINS_GAP = 0.6  # mean D(x) - D(G(z)) above this over the last epochs: the discriminator dominates
LOSSES_CANNOT_SEE_COLLAPSE = (
    "Losses cannot detect mode collapse: a generator that draws the same image for every noise "
    "vector can sit right at the equilibrium values. Check its samples (collapse_from_samples, "
    "right below) and chapter 3's fidelity check, which decides whether the fakes are usable."
)


def load_progress(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The progress grids :func:`train_gan` rendered: ``steps``, ``epochs`` (E,) and ``images`` (E, 16, H, W)."""
    return load_npz(Path(run_dir) / _PROGRESS_DIR / "grids.npz", ("steps", "epochs", "images"),
                    hint="Run notebook 02 (GAN training) first.")


def diagnose_history(history: Any, last: int = 3, loss: str = "bce") -> dict[str, Any]:
    """Numbers and sentences about a GAN run's losses, from its per-round history.

    Uses the mean of the last ``last`` rounds: distance of both losses from their equilibrium values
    (``loss``: ``"bce"`` or ``"hinge"``), the gap between D(x) and D(G(z)), and the trend of the
    generator loss. Returns the numbers, ``state`` and ``lines`` (plain-language sentences). The
    losses say whether the *game* is balanced, never whether the images are varied: the last line
    says so (see :func:`collapse_from_samples` and chapter 3).
    """
    import pandas as pd

    h = pd.DataFrame(history)
    if h.empty:
        raise ValueError("the history is empty: train the GAN first")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    d_eq, g_eq = (D_LOSS_EQUILIBRIUM, G_LOSS_EQUILIBRIUM) if loss == "bce" else (
        HINGE_EQUILIBRIUM["d_loss"], HINGE_EQUILIBRIUM["g_loss"])
    tail = h.tail(last)
    d_loss, g_loss = float(tail["d_loss"].mean()), float(tail["g_loss"].mean())
    d_real, d_fake = float(tail["d_real"].mean()), float(tail["d_fake"].mean())
    gap = d_real - d_fake
    first_g = float(h["g_loss"].iloc[0])
    out: dict[str, Any] = {
        "final_d_loss": d_loss, "final_g_loss": g_loss, "final_d_real": d_real, "final_d_fake": d_fake,
        "d_gap": gap, "epochs": int(math.ceil(float(h["epoch"].max()))),
    }
    if "step" in h:
        out["steps"] = int(h["step"].max())
    lines = [
        f"Over the last {len(tail)} round(s) the discriminator loss averaged {d_loss:.3f} "
        f"(equilibrium {d_eq:.3f}) and the generator loss {g_loss:.3f} "
        f"(equilibrium {g_eq:.3f}); the generator loss started at {first_g:.3f}.",
        f"Mean D(x) = {d_real:.2f} and mean D(G(z)) = {d_fake:.2f}: a gap of {gap:.2f}.",
    ]
    if gap > D_WINS_GAP or d_loss < 0.3 * d_eq:
        out["state"] = "discriminator dominates"
        lines.append(
            "The discriminator separates real from fake almost perfectly, so the generator gets weak "
            "gradients: expect poor images. More steps, DiffAugment, a lighter discriminator or label "
            "smoothing help."
        )
    elif gap < 0.05 and abs(d_loss - d_eq) < 0.15:
        out["state"] = "near equilibrium"
        lines.append(
            "Both networks sit near the game's equilibrium. That is what a healthy run looks like, but it "
            "does not prove the images are good (or varied)."
        )
    else:
        out["state"] = "adversarial balance"
        lines.append(
            "Neither network dominates: the discriminator still tells reals from fakes somewhat, and the "
            "generator keeps getting a useful signal."
        )
    lines.append(LOSSES_CANNOT_SEE_COLLAPSE)
    return out | {"lines": lines}


def _flat_unit(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"expected images (N, H, W) or (N, H, W, 1), got shape {x.shape}.")
    x = x.reshape(len(x), -1).astype(np.float64)
    return x / 255.0 if np.issubdtype(np.asarray(images).dtype, np.integer) else (x + 1.0) / 2.0


def _pair_distances(x: np.ndarray) -> np.ndarray:
    """RMS pixel distance between every two rows (N, N)."""
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    return np.sqrt(d2 / x.shape[1])


def collapse_from_samples(
    images: Any,
    reference: Any | None = None,
    *,
    max_images: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """A quick mode-collapse check on a generator's samples, whatever the losses say.

    ``images``: fakes, uint8 (0-255) or floats in [-1, 1]; ``reference``: real training images (the
    same scale rules). Up to ``max_images`` of each are used. Distances are RMS pixel differences
    with pixels in [0, 1]. Returns:

    * ``diversity``: mean distance between two different fakes; ``reference_diversity`` and
      ``diversity_ratio`` (fakes / reals; about 1 for a healthy generator);
    * ``duplicate_share``: share of fakes whose nearest other fake is a near-duplicate (closer than
      ``DUPLICATE_FRACTION`` of the real mean distance, or ``ABSOLUTE_COLLAPSE_DISTANCE`` / 2
      without reals);
    * ``state``: ``"collapsed"`` (ratio below ``COLLAPSE_DIVERSITY`` or most fakes duplicated; without
      reals, a mean distance below ``ABSOLUTE_COLLAPSE_DISTANCE``), ``"low diversity"`` (ratio
      below ``DIVERSITY_LOW``) or ``"varied"``; ``collapsed`` (bool) and ``lines``.

    The thresholds are :mod:`helpers.evaluation.fidelity`'s (chapter 3 reads collapse with the same numbers).
    """
    from helpers.evaluation.fidelity import (
        ABSOLUTE_COLLAPSE_DISTANCE,
        COLLAPSE_DIVERSITY,
        DIVERSITY_LOW,
        DUPLICATE_FRACTION,
        DUPLICATE_SHARE_COLLAPSED,
    )

    rng = np.random.default_rng(seed)

    def sample(x: Any) -> np.ndarray:
        flat = _flat_unit(x)
        if len(flat) < 2:
            raise ValueError("collapse_from_samples needs at least two images.")
        return flat[rng.choice(len(flat), max_images, replace=False)] if len(flat) > max_images else flat

    fakes = sample(images)
    d_fake = _pair_distances(fakes)
    off = ~np.eye(len(fakes), dtype=bool)
    diversity = float(d_fake[off].mean())
    out: dict[str, Any] = {"n": len(fakes), "diversity": diversity}
    if reference is not None:
        reals = sample(reference)
        d_real = _pair_distances(reals)
        ref = float(d_real[~np.eye(len(reals), dtype=bool)].mean())
        ratio = diversity / ref if ref > 0 else float("inf")
        threshold = DUPLICATE_FRACTION * ref
        out.update(reference_diversity=ref, diversity_ratio=ratio)
    else:
        ratio = None
        threshold = ABSOLUTE_COLLAPSE_DISTANCE / 2
        out.update(reference_diversity=None, diversity_ratio=None)
    nearest = np.where(off, d_fake, np.inf).min(axis=1)
    dup_share = float((nearest < threshold).mean())
    out.update(duplicate_share=dup_share, duplicate_threshold=threshold)

    if ratio is not None:
        collapsed = ratio < COLLAPSE_DIVERSITY or dup_share > DUPLICATE_SHARE_COLLAPSED
        low = not collapsed and ratio < DIVERSITY_LOW
        lines = [f"The {len(fakes)} samples differ from each other by {diversity:.3f} on average (RMS, "
                 f"pixels in [0, 1]); real training images by {out['reference_diversity']:.3f}: a ratio of "
                 f"{ratio:.2f} (about 1 is healthy)."]
    else:
        collapsed = diversity < ABSOLUTE_COLLAPSE_DISTANCE or dup_share > DUPLICATE_SHARE_COLLAPSED
        low = False
        lines = [f"The {len(fakes)} samples differ from each other by {diversity:.3f} on average (RMS, "
                 "pixels in [0, 1]); pass real images as reference for a ratio."]
    lines.append(f"{dup_share:.0%} of the samples have a near-duplicate among the others "
                 f"(closer than {threshold:.3f}).")
    if collapsed:
        state = "collapsed"
        lines.append("Mode collapse: the generator draws (nearly) the same image whatever the noise, "
                     "whatever its losses say. Do not use these fakes; train longer with DiffAugment, "
                     "minibatch-std or another preset.")
    elif low:
        state = "low diversity"
        lines.append("The samples vary less than real images: partial collapse. Chapter 3's fidelity "
                     "check (recall, coverage) tells how much of the real variety is missing.")
    else:
        state = "varied"
        lines.append("The samples vary about as much as real images. Variety is necessary, not "
                     "sufficient: chapter 3's fidelity check decides whether they look real.")
    return out | {"state": state, "collapsed": collapsed, "lines": lines}
