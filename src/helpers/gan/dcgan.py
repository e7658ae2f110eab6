"""The paper's DCGAN (S. Ghosh and S. Dutta, IIEST Shibpur), grayscale, for any supported image size.

* generator: 100-d noise -> Dense to a 4x4xF map (7x7 at 28 px) -> LeakyReLU(0.2) -> Conv2DTranspose
  (kernel 4, stride 2) + LeakyReLU(0.2) blocks halving the filters -> Conv2D(1, 3, tanh);
* discriminator: Conv2D(kernel 4, stride 2) + LeakyReLU(0.2) blocks doubling the filters -> Flatten ->
  Dropout(0.4) -> Dense(1, sigmoid);
* :class:`DCGAN`: Goodfellow et al.'s Algorithm 1 with Adam(2e-4, beta_1=0.5); the options for few
  images plug in as pieces (a loss, DiffAugment, an EMA generator, a class label).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from helpers.data.images import SUPPORTED_SIZES
from helpers.gan.diffaugment import diff_augment, policy_string
from helpers.gan.ema import ema_copy, update_ema
from helpers.gan.losses import BCELoss, HingeLoss, r1_penalty
from helpers.gan.presets import GENERATOR_OPTIONS, UPSAMPLING, d_logits, gan_options

__all__ = ["build_generator", "build_discriminator", "build_networks", "MinibatchStdDev", "DCGAN"]

TRAINED_ATTR = "gan_steps_trained"  # set on generators: 0 = freshly built, untrained
LABEL_ATTR = "gan_sample_label"  # set on conditional generators: the class to draw by default


def check_size(image_size: int) -> int:
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(
            f"image_size={image_size!r} is not supported; use one of SUPPORTED_SIZES={SUPPORTED_SIZES}."
        )
    return int(image_size)


def _start_size(image_size: int) -> int:
    """Side of the generator's first feature map: 7 for 28 px, 4 for the powers of two."""
    return 7 if image_size == 28 else 4


def n_resamplings(image_size: int) -> int:
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


def _label_plane(x: Any, num_classes: int, size: int) -> tuple[Any, Any]:
    """Conditioning: a label input embedded as one ``size`` x ``size`` plane concatenated to ``x``."""
    label = keras.Input((1,), dtype="int32", name="label")
    e = keras.layers.Embedding(num_classes, size * size, name="label_embedding")(label)
    e = keras.layers.Reshape((size, size, 1))(e)
    return keras.layers.Concatenate()([x, e]), label


def build_generator(
    image_size: int,
    latent_dim: int = 100,
    base_filters: int = 512,
    num_classes: int | None = None,
    *,
    upsample: str = "transpose",
    residual: bool = False,
) -> keras.Model:
    """The paper's generator: noise (and label) -> image in [-1, 1], (size, size, 1).

    Each upsampling stage halves ``base_filters`` (never below 8). With ``num_classes`` the model
    takes ``[noise, label]`` and the embedded label is an extra channel of the first map.
    """
    image_size = check_size(image_size)
    if base_filters < 1 or latent_dim < 1:
        raise ValueError(f"base_filters and latent_dim must be positive, got {base_filters}, {latent_dim}.")
    start, n_up = _start_size(image_size), n_resamplings(image_size)
    z = keras.Input((latent_dim,), name="noise")
    x = keras.layers.Dense(start * start * base_filters, name="project")(z)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Reshape((start, start, base_filters))(x)
    inputs: list[Any] = [z]
    if num_classes:
        x, label = _label_plane(x, num_classes, start)
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
    setattr(model, TRAINED_ATTR, 0)
    return model


@keras.saving.register_keras_serializable(package="helpers")
class MinibatchStdDev(keras.layers.Layer):
    """Append the batch's mean standard deviation as a constant feature map (Karras et al. 2018).

    A batch of near-identical fakes gets a value near 0 that real batches never have.
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
    """The paper's discriminator: image (and label) -> P(real), or a raw score with ``logits``.

    The filters double from ``base_filters`` (capped at 8x). ``spectral_norm`` wraps every Conv2D and
    the Dense; ``minibatch_std`` adds a :class:`MinibatchStdDev` map before Flatten.
    """
    image_size = check_size(image_size)
    if base_filters < 1:
        raise ValueError(f"base_filters must be positive, got {base_filters}.")

    def sn(layer: keras.layers.Layer) -> keras.layers.Layer:
        return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if spectral_norm else layer

    img = keras.Input((image_size, image_size, 1), name="image")
    x = img
    inputs: list[Any] = [img]
    if num_classes:
        x, label = _label_plane(x, num_classes, image_size)
        inputs.append(label)
    for i in range(n_resamplings(image_size)):
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
    """Generator and discriminator for a preset name or an options dict; conditional ones need ``num_classes``."""
    opts = gan_options(options) if options is None or isinstance(options, str) else gan_options(None, **options)
    if opts["conditional"] and not num_classes:
        raise ValueError("a conditional GAN needs num_classes (e.g. 2).")
    n = num_classes if opts["conditional"] else None
    generator = build_generator(image_size, latent_dim, generator_filters, n,
                                **{k: opts.get(k, v) for k, v in GENERATOR_OPTIONS.items()})
    discriminator = build_discriminator(image_size, discriminator_filters, n, spectral_norm=opts["spectral_norm"],
                                        minibatch_std=opts["minibatch_std"], logits=d_logits(opts))
    return generator, discriminator


class DCGAN(keras.Model):
    """Generator + discriminator trained by ``fit``: ``d_steps`` D updates, then one G update.

    The G update reuses the fakes of the last D step. Every image D sees goes through DiffAugment
    (``diffaugment``; the paper's ``""`` is the identity). ``loss``: :class:`~helpers.gan.losses.BCELoss`
    (default) or :class:`~helpers.gan.losses.HingeLoss`; ``r1_gamma`` > 0 adds the R1 penalty (logged as
    ``r1``); ``ema_decay`` > 0 keeps :attr:`ema_generator`. With ``num_classes`` the networks take a
    class id and ``fit`` reads ``(images, labels)``. Noise and augmentations come from seeded
    ``keras.random.SeedGenerator`` s, checkpointed with the weights.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        latent_dim: int = 100,
        d_steps: int = 1,
        num_classes: int | None = None,
        seed: int = 0,
        loss: BCELoss | HingeLoss | None = None,
        r1_gamma: float = 0.0,
        diffaugment: str | Sequence[str] | None = "",
        ema_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if d_steps < 1:
            raise ValueError(f"d_steps must be >= 1, got {d_steps}.")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes!r}.")
        if r1_gamma < 0 or not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"r1_gamma must be >= 0 and ema_decay in [0, 1), got {r1_gamma}, {ema_decay}.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.d_steps = int(d_steps)
        self.num_classes = int(num_classes) if num_classes else None
        self.gan_loss = loss or BCELoss()
        self.r1_gamma = float(r1_gamma)
        self.diffaugment = policy_string(diffaugment)
        self.ema_decay = float(ema_decay)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.augment_seed_generator = keras.random.SeedGenerator(seed + 1)
        self.ema_generator = ema_copy(generator) if self.ema_decay > 0 else None
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_real", "d_fake")}
        if self.r1_gamma > 0:
            self.trackers["r1"] = keras.metrics.Mean(name="r1")
        self.steps_trained = 0
        self.epochs_trained = 0
        self.built = True  # its networks are built; under a tf.distribute strategy fit would else trace call()

    def compile(self, *, d_lr: float = 2e-4, g_lr: float = 2e-4, beta_1: float = 0.5, **kwargs: Any) -> None:  # type: ignore[override]
        """Adam(lr, beta_1) for each network (2e-4 and 0.5 in the paper); never XLA."""
        super().compile(**{**kwargs, "jit_compile": False})
        self.d_optimizer = keras.optimizers.Adam(d_lr, beta_1=beta_1)
        self.g_optimizer = keras.optimizers.Adam(g_lr, beta_1=beta_1)

    def build_optimizers(self) -> None:
        """Create the optimizers' slot variables (needed before restoring their state)."""
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw images from: the EMA generator when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def score(self, images: Any, labels: Any) -> Any:
        """D's output on DiffAugment-ed ``images``."""
        x = diff_augment(images, self.diffaugment, seed=self.augment_seed_generator)
        return self.discriminator(x if labels is None else [x, labels], training=True)

    def train_step(self, data: Any) -> dict[str, Any]:
        """:meth:`adversarial_step` on a real batch with noise from the seeded generator; updates the metrics."""
        if self.num_classes:
            real, labels = data[0], tf.reshape(tf.cast(data[1], "int32"), (-1, 1))
        else:
            real, labels = (data[0] if isinstance(data, (tuple, list)) else data), None
        batch = tf.shape(real)[0]
        noise = [keras.random.normal((batch, self.latent_dim), seed=self.seed_generator) for _ in range(self.d_steps)]
        step = self.adversarial_step(real, noise, labels)
        for name, tracker in self.trackers.items():
            tracker.update_state(step[name])
        return {m.name: m.result() for m in self.metrics}

    def adversarial_step(self, real: Any, noise: Sequence[Any], labels: Any = None) -> dict[str, Any]:
        """One round: ``noise[i]`` feeds the i-th D update, then G updates on the last fakes (and the EMA).

        Returns this round's losses and mean D outputs. ``labels`` (batch, 1) int32 when conditional.
        """
        if len(noise) != self.d_steps:
            raise ValueError(f"give one noise batch per discriminator step: {self.d_steps}, got {len(noise)}.")
        # each replica's loss is divided by the replica count: the optimizer sums the replicas' gradients
        scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        def g_inputs(z: Any) -> Any:
            return z if labels is None else [z, labels]

        with tf.GradientTape() as g_tape:
            for step, z in enumerate(noise):
                if step == self.d_steps - 1:  # the generator update reuses these fakes
                    fake = self.generator(g_inputs(z), training=True)
                    fake_for_d = tf.stop_gradient(fake)
                else:
                    with g_tape.stop_recording():
                        fake_for_d = self.generator(g_inputs(z), training=True)
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    penalty = None
                    if self.r1_gamma > 0:
                        s_real, penalty = r1_penalty(lambda x: self.score(x, labels), real, self.r1_gamma)
                    else:
                        s_real = self.score(real, labels)
                    s_fake = self.score(fake_for_d, labels)
                    d_loss = self.gan_loss.discriminator(s_real, s_fake)
                    total = (d_loss if penalty is None else d_loss + penalty) * scale
                grads = d_tape.gradient(total, d_vars)
                with g_tape.stop_recording():
                    self.d_optimizer.apply_gradients(zip(grads, d_vars, strict=True))
            g_loss = self.gan_loss.generator(self.score(fake, labels))
            g_scaled = g_loss * scale
        grads = g_tape.gradient(g_scaled, g_vars)
        self.g_optimizer.apply_gradients(zip(grads, g_vars, strict=True))
        if self.ema_generator is not None:
            update_ema(self.ema_generator, self.generator, self.ema_decay, self.g_optimizer.iterations)
        out = {"d_loss": d_loss, "g_loss": g_loss, "d_real": self.gan_loss.probability(s_real),
               "d_fake": self.gan_loss.probability(s_fake)}
        return out | ({"r1": penalty} if penalty is not None else {})
