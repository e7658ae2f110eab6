"""Tests for helpers.metrics: rows, summaries, intervals and the exact-AUC callback."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.metrics import (
    METRIC_COLUMNS,
    ValAUCCallback,
    bootstrap_ci,
    classification_row,
    format_summary,
    paired_difference,
    summarise,
)


def test_row_matches_hand_confusion_matrix():
    # labels:  1    1    1    1    0    0    0    0    0    0
    # scores: .9   .8   .6   .3   .7   .4   .2   .1   .55  .05
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.55, 0.05])
    row = classification_row(y, s)
    assert list(row) == list(METRIC_COLUMNS)
    # at 0.5: predicted positive = .9 .8 .6 (tp=3), .7 .55 (fp=2); fn=1 (.3); tn=4
    assert (row["tn"], row["fp"], row["fn"], row["tp"]) == (4, 2, 1, 3)
    assert row["precision"] == pytest.approx(3 / 5)
    assert row["recall"] == pytest.approx(3 / 4)
    f1_pos = 2 * 0.6 * 0.75 / (0.6 + 0.75)
    prec_neg, rec_neg = 4 / 5, 4 / 6
    f1_neg = 2 * prec_neg * rec_neg / (prec_neg + rec_neg)
    assert row["f1"] == pytest.approx(f1_pos)
    assert row["f1_normal"] == pytest.approx(f1_neg)
    assert row["macro_f1"] == pytest.approx((f1_pos + f1_neg) / 2)
    assert row["balanced_accuracy"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert row["accuracy"] == pytest.approx(7 / 10)
    # AUC: pairs (pos, neg) ranked correctly: .9,.8 beat all 6; .6 beats 4 (not .7, .55 ... .6>.55 yes)
    # .6 > .4,.2,.1,.55,.05 = 5; .3 > .2,.1,.05 = 3 -> (6+6+5+3)/24
    assert row["roc_auc"] == pytest.approx(20 / 24)
    assert math.isnan(row["val_threshold"]) and math.isnan(row["f1_valthr"])
    assert row["n_test"] == 10 and row["n_test_positive"] == 4


def test_val_threshold_chosen_on_val_and_applied_to_test():
    # Val: positives score >= 0.8, negatives <= 0.7 -> Youden threshold is 0.8.
    y_val = np.array([0, 0, 0, 1, 1, 1])
    s_val = np.array([0.1, 0.6, 0.7, 0.8, 0.9, 0.95])
    # Test: at 0.5 everything is positive (shifted test set, FINDINGS pitfall 2).
    y = np.array([0, 0, 1, 1])
    s = np.array([0.6, 0.75, 0.85, 0.99])
    row = classification_row(y, s, y_true_val=y_val, y_score_val=s_val)
    assert row["val_threshold"] == pytest.approx(0.8)
    assert row["val_roc_auc"] == pytest.approx(1.0)
    assert (row["tn"], row["fp"], row["fn"], row["tp"]) == (0, 2, 0, 2)
    assert row["f1_normal"] == 0.0
    assert (row["tn_valthr"], row["fp_valthr"], row["fn_valthr"], row["tp_valthr"]) == (2, 0, 0, 2)
    assert row["f1_normal_valthr"] == pytest.approx(1.0)


def test_single_class_y_true_is_nan_not_crash():
    with pytest.warns(UserWarning, match="single class"):
        row = classification_row(np.ones(5), np.linspace(0.1, 0.9, 5))
    assert math.isnan(row["roc_auc"])
    assert row["tp"] == 3 and row["fn"] == 2
    assert list(row) == list(METRIC_COLUMNS)


def _toy_table() -> pd.DataFrame:
    rows = []
    for clf in ("cnn", "rf"):
        for seed in range(3):
            rows.append(
                dict(classifier=clf, strategy="random", seed=seed, roc_auc=0.90 + 0.01 * seed)
            )
            rows.append(
                dict(
                    classifier=clf,
                    strategy="gan",
                    seed=seed,
                    roc_auc=0.88 + 0.01 * seed + 0.001 * seed,
                )
            )
    return pd.DataFrame(rows)


def test_summarise_mean_sd_and_format():
    table = _toy_table()
    summary = summarise(table, metrics=("roc_auc",))
    row = summary[(summary.classifier == "cnn") & (summary.strategy == "random")].iloc[0]
    assert row["roc_auc_mean"] == pytest.approx(0.91)
    assert row["roc_auc_sd"] == pytest.approx(np.std([0.90, 0.91, 0.92], ddof=1))
    assert row["n"] == 3
    text = format_summary(summary)
    assert text.loc[0, "roc_auc"] == "0.910 ± 0.010"
    with pytest.raises(KeyError):
        summarise(table, metrics=("missing",))


def test_bootstrap_ci_contains_point_estimate_and_is_seeded():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    s = rng.normal(size=120) + y
    low, high = bootstrap_ci(y, s, n_boot=200, seed=1)
    assert low < roc_auc_score(y, s) < high
    assert (low, high) == bootstrap_ci(y, s, n_boot=200, seed=1)


def test_paired_difference_sign_and_interval():
    out = paired_difference(_toy_table(), "roc_auc", "gan", "random")
    assert list(out.classifier) == ["cnn", "rf"]
    row = out.iloc[0]
    assert row["mean_diff"] == pytest.approx(-0.019)
    assert row["low"] < row["mean_diff"] < row["high"] < 0
    assert row["n_pairs"] == 3
    assert row["text"].startswith("-0.019 [")
    table = pd.concat([_toy_table(), _toy_table()])
    with pytest.raises(ValueError, match="repeat"):
        paired_difference(table, "roc_auc", "gan", "random")


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
