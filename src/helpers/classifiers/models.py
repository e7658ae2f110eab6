"""Chapter 5's image classifiers and how they score images.

:func:`build_cnn` (the CNN of Sumithra Devi K A et al.), :func:`build_densenet121` (ImageNet weights
when they can be downloaded, otherwise from scratch, said out loud), :func:`predict_scores`,
test-time shifts (:func:`predict_tta`) and batch-norm adaptation (:func:`adapt_batchnorm`).
Models take raw 0-255 gray images ``(N, S, S)`` or ``(N, S, S, 1)``; every rescaling happens inside.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from helpers.classifiers.layers import GrayToRGB
from helpers.core.runtime import enable_mixed_precision_if_gpu
from helpers.data.images import BN_MOMENTUM, IMAGENET_MEAN, IMAGENET_STD, as_model_batch

__all__ = ["DENSENET_MIN_SIZE", "TTA_SHIFTS", "build_cnn", "build_densenet121", "to_model_input", "predict_scores",
           "predict_tta", "adapt_batchnorm"]

DENSENET_MIN_SIZE = 32


def build_cnn(input_size: int, *, filters: Sequence[int] = (32, 64, 128), dense: int = 128, dropout: float = 0.5,
              head: str = "flatten", name: str = "cnn") -> keras.Model:
    """The small CNN of Sumithra Devi K A et al. for 0-255 gray images ``(input_size, input_size, 1)``.

    Rescaling(1/255), per entry of ``filters`` Conv2D(3x3) -> BatchNorm -> ReLU -> MaxPool(2), then
    Flatten (or ``head="gap"``), Dense + Dropout and a float32 Dense(1, sigmoid).
    """
    if input_size < 2 ** len(filters):
        raise ValueError(f"input_size {input_size} is too small for {len(filters)} pooling blocks")
    if head not in ("flatten", "gap"):
        raise ValueError(f"head must be 'flatten' or 'gap', not {head!r}")
    enable_mixed_precision_if_gpu()
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(int(f), 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x) if head == "flatten" else (
        keras.layers.GlobalAveragePooling2D(name="gap")(x)
    )
    x = keras.layers.Dense(int(dense), activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name)


def _describe_weights(weights: str | None) -> str:
    if weights is None:
        return "from scratch (random init)"
    if weights == "imagenet":
        return "ImageNet"
    return f"weights from {weights}"


def build_densenet121(input_size: int, weights: str | None, *, image_size: int | None = None,
                      name: str = "densenet121") -> tuple[keras.Model, str]:
    """DenseNet121 with a sigmoid head for gray images; returns ``(model, weights description)``.

    Images of ``image_size`` (default ``input_size``) are resized inside to ``input_size`` (>= 32),
    repeated to RGB and ImageNet-normalised. ImageNet weights that cannot be downloaded: one printed
    line, a from-scratch model, and a description that says so.
    """
    image_size = int(input_size if image_size is None else image_size)
    input_size = int(input_size)
    if input_size < DENSENET_MIN_SIZE:
        hint = (
            f" Pass input_size={DENSENET_MIN_SIZE}, image_size={image_size} to resize inside the model."
            if image_size == input_size else ""
        )
        raise ValueError(
            f"DenseNet121 needs input_size >= {DENSENET_MIN_SIZE} px, got {input_size}.{hint}"
        )
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    enable_mixed_precision_if_gpu()
    shape = (input_size, input_size, 3)
    description = _describe_weights(weights)
    try:
        backbone = keras.applications.DenseNet121(
            include_top=False, weights=weights, input_shape=shape, pooling="avg"
        )
    except Exception as err:  # no network, bad file, ...: say so and go on from scratch
        if weights is None:
            raise
        reason = re.sub(r"\s+on\s+https?://\S+?:(?=\s)", ":", f"{type(err).__name__}: {err}")
        reason = re.sub(r"https?://\S+", "<url>", reason)
        reason = " ".join(reason.split())[:160]
        what = "ImageNet" if weights == "imagenet" else str(weights)
        print(f"DenseNet121: {what} weights unavailable ({reason}); building from scratch (weights=None).")
        backbone = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=shape, pooling="avg"
        )
        description = f"from scratch ({what} weights unavailable: {reason})"
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = inputs
    if image_size != input_size:
        x = keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(x)
    x = GrayToRGB(name="gray_to_rgb")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = keras.layers.Normalization(
        mean=list(IMAGENET_MEAN), variance=[s**2 for s in IMAGENET_STD], name="imagenet_norm"
    )(x)
    x = backbone(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name), description


def to_model_input(images: Any) -> np.ndarray:
    """``(N, S, S)`` or ``(N, S, S, 1)`` images -> float32 ``(N, S, S, 1)`` in the 0-255 range."""
    return as_model_batch(images)


def predict_scores(model: keras.Model, images: Any, batch_size: int = 256) -> np.ndarray:
    """P(PNEUMONIA = 1) per image, shape ``(N,)`` (float64); converts 4,096 images at a time."""
    n = len(images)
    out = np.zeros(n, dtype=np.float64)
    chunk = 4096
    for start in range(0, n, chunk):
        x = to_model_input(images[start:start + chunk])
        pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
        out[start:start + len(x)] = pred.reshape(len(x), -1)[:, 0]
    return out


# --------------------------------------------------------------------------------------------------
#: Test-time augmentation: shifts (rows, columns) in pixels; no flips (the heart sits on one side).
TTA_SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2))


def predict_tta(model: keras.Model, images: Any, shifts: Sequence[tuple[int, int]] = TTA_SHIFTS,
                batch_size: int = 256) -> np.ndarray:
    """Mean P(PNEUMONIA) over shifted copies of each image (edges repeated, never wrapped around)."""
    x = np.asarray(images)
    x = x[..., 0] if x.ndim == 4 else x
    h, w = x.shape[1:3]
    pad = max((max(abs(r), abs(c)) for r, c in shifts), default=0)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    views = [padded[:, pad - r:pad - r + h, pad - c:pad - c + w] for r, c in shifts]
    return np.mean([predict_scores(model, v, batch_size=batch_size) for v in views], axis=0)


def adapt_batchnorm(model: keras.Model, images: Any) -> keras.Model:
    """A copy of ``model`` whose batch-norm statistics are those of ``images`` (all other weights kept).

    Transductive when ``images`` are the unlabelled test images: the model sees the test split's
    distribution (not its labels) before scoring it. Rows made this way must say so.
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    norms = [layer for layer in clone._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        raise ValueError(f"{model.name} has no BatchNormalization layer to adapt")
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become those of the one batch below
    clone(to_model_input(images), training=True)  # one batch: every image's statistics at once
    return clone
