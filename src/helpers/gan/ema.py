"""An exponential moving average (EMA) of the generator's weights, the generator to sample from."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

__all__ = ["ema_copy", "update_ema"]


def ema_copy(generator: keras.Model) -> keras.Model:
    """A frozen clone of ``generator`` with its current weights."""
    average = keras.models.clone_model(generator)
    average.set_weights(generator.get_weights())
    average.trainable = False
    return average


def update_ema(average: keras.Model, generator: keras.Model, decay: float, updates: Any) -> None:
    """``average = d * average + (1 - d) * generator`` with ``d = min(decay, (1 + t) / (10 + t))``.

    ``updates`` (``t``) is the number of generator updates so far; works in and out of tf.distribute.
    """
    t = tf.cast(updates, "float32")
    d = tf.minimum(decay, (1.0 + t) / (10.0 + t))
    pairs = list(zip(average.weights, generator.weights, strict=True))
    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        for avg, w in pairs:
            avg.assign(d * avg + (1.0 - d) * w)
        return

    def update(strategy: Any) -> None:  # cross-replica: every replica holds the same weights
        for avg, w in pairs:
            strategy.extended.update(avg.value, lambda a, v: a.assign(d * a + (1.0 - d) * v), args=(w.value,))

    tf.distribute.get_replica_context().merge_call(update)
