"""Classifier two-sample test (Lopez-Paz & Oquab 2017): can a classifier tell real from fake?

The held-out ROC-AUC of a classifier trained on real (0) vs fake (1): 0.5 = indistinguishable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from helpers.data.images import as_model_batch
from helpers.evaluation.distances import as_rows

__all__ = ["two_sample_test"]


def _c2st_cnn(height: int, width: int):
    """[Conv3x3(f)-ReLU-MaxPool] while the map is over 8 px (at most 4 blocks, f = 16, 32, 64, 64),
    Conv3x3(64)-ReLU, global average pooling, Dense(1, sigmoid)."""
    import keras

    inputs = keras.Input(shape=(height, width, 1), name="image")
    z = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    size, block = min(height, width), 0
    while size > 8 and block < 4:
        z = keras.layers.Conv2D(min(16 * 2**block, 64), 3, padding="same", activation="relu")(z)
        z = keras.layers.MaxPooling2D(2)(z)
        size //= 2
        block += 1
    z = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(z)
    z = keras.layers.GlobalAveragePooling2D()(z)
    outputs = keras.layers.Dense(1, activation="sigmoid")(z)
    model = keras.Model(inputs, outputs, name="c2st_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def _as_inputs(real: Any, fake: Any, method: str) -> tuple[np.ndarray, np.ndarray]:
    if method == "cnn":
        x_real, x_fake = as_model_batch(real), as_model_batch(fake)
        if x_real.shape[1:] != x_fake.shape[1:]:
            raise ValueError(f"image shapes differ: {x_real.shape[1:]} vs {x_fake.shape[1:]}")
    elif method == "logistic":
        x_real, x_fake = as_rows(real), as_rows(fake)
        if x_real.shape[1] != x_fake.shape[1]:
            raise ValueError(f"feature dimensions differ: {x_real.shape[1]} vs {x_fake.shape[1]}")
    else:
        raise ValueError(f"method must be 'cnn' or 'logistic', not {method!r}")
    return x_real, x_fake


def two_sample_test(real: Any, fake: Any, *, seed: int = 0, method: str = "cnn", epochs: int = 10) -> dict[str, Any]:
    """Classifier two-sample test (C2ST) of real vs fake images or feature rows.

    ``n`` = min(len(real), len(fake)) seeded draws per set, each split into equal
    fit and held-out halves. ``method="cnn"``: a small seeded Keras CNN on uint8 images;
    ``"logistic"``: standardised logistic regression on feature rows. Returns ``auc`` (held-out
    ROC-AUC), ``null_sd`` (its SD under no difference, ``sqrt((2 m + 1) / (12 m²))`` for ``m``
    held-out images per class), ``n_per_set``, ``n_fit``, ``n_eval`` and ``method``.
    """
    x_real, x_fake = _as_inputs(real, fake, method)
    n = min(len(x_real), len(x_fake))
    if n < 4:
        raise ValueError(f"the two-sample test needs at least 4 images per set, got {n}")
    rng = np.random.default_rng(seed)
    idx_real = rng.permutation(len(x_real))[:n]
    idx_fake = rng.permutation(len(x_fake))[:n]
    n_fit, n_eval = n // 2, n - n // 2
    x_fit = np.concatenate([x_real[idx_real[:n_fit]], x_fake[idx_fake[:n_fit]]])
    x_eval = np.concatenate([x_real[idx_real[n_fit:]], x_fake[idx_fake[n_fit:]]])
    y_fit = np.repeat([0.0, 1.0], n_fit).astype("float32")
    if method == "cnn":
        from helpers.core.runtime import set_seeds

        set_seeds(seed)
        model = _c2st_cnn(x_fit.shape[1], x_fit.shape[2])
        model.fit(x_fit, y_fit, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
        scores = np.asarray(model.predict(x_eval, batch_size=256, verbose=0), dtype=float).ravel()
    else:
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        scores = clf.fit(x_fit, y_fit.astype(int)).predict_proba(x_eval)[:, 1]
    return {
        "auc": float(roc_auc_score(np.repeat([0, 1], n_eval), scores)),
        "null_sd": float(math.sqrt((2 * n_eval + 1) / (12.0 * n_eval**2))),
        "n_per_set": int(n),
        "n_fit": int(n_fit),
        "n_eval": int(n_eval),
        "method": method,
    }
