"""Small custom Keras layers shared by the feature extractor and the classifiers (serialisable)."""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["GrayToRGB"]


@keras.saving.register_keras_serializable(package="helpers")
class GrayToRGB(keras.layers.Layer):
    """Repeat a one-channel image ``(N, H, W, 1)`` to three channels ``(N, H, W, 3)``."""

    def call(self, inputs: Any) -> Any:
        return keras.ops.repeat(inputs, 3, axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], 3)
