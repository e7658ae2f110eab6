"""The domain encoder: a small CNN trained on the real training images, whose features the
fidelity metrics use (ImageNet Inception features need a download and describe photos)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from helpers.data.images import BN_MOMENTUM, as_model_batch

__all__ = ["train_domain_encoder", "encoder_features", "encoder_scores", "reclassification_share"]


def train_domain_encoder(
    images_uint8: Any,
    labels: Any,
    *,
    seed: int = 0,
    epochs: int = 5,
    batch_size: int = 64,
    feature_dim: int = 128,
    validation_data: tuple[Any, Any] | None = None,
    filters: Sequence[int] = (32, 64, 128),
):
    """Train a small CNN on real labelled images; its ``"features"`` layer is the domain space.

    ``Rescaling(1/255)`` -> [Conv3x3-BN-ReLU-MaxPool] per entry of ``filters`` (no pooling below
    4 px) -> GlobalAveragePooling -> ``Dense(feature_dim, relu, name="features")`` ->
    ``Dense(1, sigmoid, name="score")`` = P(class 1). Seeded with :func:`helpers.core.runtime.set_seeds`.
    """
    import keras

    from helpers.core.runtime import set_seeds

    x = as_model_batch(images_uint8)
    y = np.asarray(labels).astype("float32").ravel()
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    set_seeds(seed)
    h, w = x.shape[1:3]
    inputs = keras.Input(shape=(h, w, 1), name="image")
    z = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    size = min(h, w)
    for i, f in enumerate(filters):
        z = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(z)
        z = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}")(z)
        z = keras.layers.ReLU(name=f"relu{i + 1}")(z)
        if size >= 4:
            z = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(z)
            size //= 2
    z = keras.layers.GlobalAveragePooling2D(name="gap")(z)
    z = keras.layers.Dense(feature_dim, activation="relu", name="features")(z)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(z)
    model = keras.Model(inputs, outputs, name="domain_encoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    val = None
    if validation_data is not None:
        val = (as_model_batch(validation_data[0]), np.asarray(validation_data[1]).astype("float32").ravel())
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, validation_data=val, verbose=0)
    return model


def encoder_features(model, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """Activations of the encoder's ``"features"`` layer, shape (N, feature_dim), float64."""
    import keras

    feature_model = keras.Model(model.inputs, model.get_layer("features").output)
    x = as_model_batch(images_uint8)
    return np.asarray(feature_model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def encoder_scores(model, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """The encoder's P(class 1) for each image, shape (N,)."""
    x = as_model_batch(images_uint8)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64).ravel()


def reclassification_share(scores_of_fakes: Any, minority_class: int, threshold: float = 0.5) -> float:
    """Share of fakes that a real-data classifier (scores = P(class 1)) puts in ``minority_class``."""
    s = np.asarray(scores_of_fakes, dtype=float).ravel()
    if len(s) == 0:
        return float("nan")
    called_positive = s >= threshold
    return float((called_positive if minority_class == 1 else ~called_positive).mean())
