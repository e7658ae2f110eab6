"""The adversarial losses: the paper's binary cross-entropy (non-saturating), hinge, and the R1 penalty.

Each loss turns the discriminator's outputs into the two players' losses; every term is a mean over the
batch, and the caller scales it for tf.distribute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import tensorflow as tf

from helpers.gan.presets import d_logits

__all__ = ["BCELoss", "HingeLoss", "make_loss", "r1_penalty"]


@dataclass(frozen=True)
class BCELoss:
    """D: ``BCE(1 - label_smoothing, D(x)) + BCE(0, D(G(z)))``; G: ``BCE(1, D(G(z)))`` (non-saturating)."""

    label_smoothing: float = 0.0
    from_logits: bool = False
    name: ClassVar[str] = "bce"

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}.")

    def _bce(self, target: Any, s: Any) -> Any:
        return tf.reduce_mean(keras.losses.binary_crossentropy(target, s, from_logits=self.from_logits))

    def discriminator(self, s_real: Any, s_fake: Any) -> Any:
        real_target = tf.fill(tf.shape(s_real), 1.0 - self.label_smoothing)
        return self._bce(real_target, s_real) + self._bce(tf.zeros_like(s_fake), s_fake)

    def generator(self, s_gen: Any) -> Any:
        return self._bce(tf.ones_like(s_gen), s_gen)

    def probability(self, s: Any) -> Any:
        """Mean P(real) of D's outputs."""
        return tf.reduce_mean(tf.sigmoid(s) if self.from_logits else s)


@dataclass(frozen=True)
class HingeLoss:
    """D: ``relu(1 - D(x)) + relu(1 + D(G(z)))``; G: ``-D(G(z))``; D outputs raw scores."""

    from_logits: ClassVar[bool] = True
    name: ClassVar[str] = "hinge"

    def discriminator(self, s_real: Any, s_fake: Any) -> Any:
        return tf.reduce_mean(tf.nn.relu(1.0 - s_real)) + tf.reduce_mean(tf.nn.relu(1.0 + s_fake))

    def generator(self, s_gen: Any) -> Any:
        return -tf.reduce_mean(s_gen)

    def probability(self, s: Any) -> Any:
        return tf.reduce_mean(tf.sigmoid(s))


def make_loss(options: Mapping[str, Any], label_smoothing: float = 0.0) -> BCELoss | HingeLoss:
    """The loss of an options dict (:func:`helpers.gan.presets.gan_options`)."""
    if options["loss"] == "hinge":
        return HingeLoss()
    return BCELoss(float(label_smoothing), from_logits=d_logits(options))


def r1_penalty(score: Callable[[Any], Any], real: Any, gamma: float) -> tuple[Any, Any]:
    """``(score(real), gamma / 2 * E ||grad_x score(x)||²)``: R1 on real images (Mescheder et al. 2018)."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        s_real = score(real)
        summed = tf.reduce_sum(s_real)
    grad = tape.gradient(summed, real)
    return s_real, 0.5 * gamma * tf.reduce_mean(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
