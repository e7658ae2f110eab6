"""Tests for helpers.classifiers.callbacks: the exact-AUC early-stopping callback."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.classifiers.callbacks import ValAUCCallback


def test_val_auc_callback_restores_best_and_stops(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype("float32")
    x_val, y_val = x[:100], y[:100]
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")

    last = {}

    class LastWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last["weights"] = [w.copy() for w in self.model.get_weights()]

    ckpt = tmp_path / "best.weights.h5"
    cb = ValAUCCallback(
        x_val, y_val, batch_size=64, patience=2, min_delta=1e-3, checkpoint_path=ckpt
    )
    history = model.fit(
        x[100:], y[100:], epochs=40, batch_size=32, verbose=0, callbacks=[cb, LastWeights()]
    )
    n_epochs = len(history.epoch)
    assert n_epochs < 40 and cb.stopped_epoch == n_epochs - 1
    assert n_epochs == cb.best_epoch + 2 + 1
    assert history.history["val_auc_exact"] == pytest.approx(cb.aucs)
    assert cb.best_auc == pytest.approx(max(cb.aucs))
    # Weights at train end are the best epoch's, not the last epoch's.
    for w, best in zip(model.get_weights(), cb.best_weights, strict=True):
        np.testing.assert_array_equal(w, best)
    assert any(
        not np.array_equal(w, lw)
        for w, lw in zip(model.get_weights(), last["weights"], strict=True)
    )
    # The checkpoint holds the same weights.
    assert ckpt.exists() and not list(tmp_path.glob(".*tmp*"))
    clone = keras.models.clone_model(model)
    clone.load_weights(ckpt)
    for w, best in zip(clone.get_weights(), cb.best_weights, strict=True):
        np.testing.assert_array_equal(w, best)


def test_val_auc_callback_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        ValAUCCallback(np.zeros((4, 2)), np.ones(4))
