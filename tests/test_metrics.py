"""Tests for helpers.evaluation.scores, .intervals and .comparisons: rows, summaries, bootstrap, DeLong, Holm."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from helpers.evaluation.comparisons import (
    ComparisonSettings,
    delong_covariance,
    delong_test,
    holm,
    paired_comparisons,
    paired_difference,
)
from helpers.evaluation.intervals import BootstrapSettings, paired_bootstrap
from helpers.evaluation.scores import METRIC_COLUMNS, classification_row, format_summary, summarise


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
    # NORMAL positive: predicted NORMAL = .3 .4 .2 .1 .05 (4 truly NORMAL, 1 not).
    assert row["precision_normal"] == pytest.approx(4 / 5)
    assert row["recall_normal"] == pytest.approx(4 / 6)  # specificity
    # Ranked by 1 - score (ascending score): N N N P N N P N P P; precision at each NORMAL hit:
    assert row["pr_auc_normal"] == pytest.approx((1 + 1 + 1 + 4 / 5 + 5 / 6 + 6 / 8) / 6)
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
    # Test: at 0.5 everything is positive (the test set is shifted against train/val).
    y = np.array([0, 0, 1, 1])
    s = np.array([0.6, 0.75, 0.85, 0.99])
    row = classification_row(y, s, y_true_val=y_val, y_score_val=s_val)
    assert row["val_threshold"] == pytest.approx(0.8)
    assert row["val_roc_auc"] == pytest.approx(1.0)
    assert (row["tn"], row["fp"], row["fn"], row["tp"]) == (0, 2, 0, 2)
    assert row["f1_normal"] == 0.0
    assert (row["tn_valthr"], row["fp_valthr"], row["fn_valthr"], row["tp_valthr"]) == (2, 0, 0, 2)
    assert row["f1_normal_valthr"] == pytest.approx(1.0)
    assert row["recall_normal"] == 0.0 and row["precision_normal"] == 0.0  # no NORMAL call at 0.5
    assert row["recall_normal_valthr"] == 1.0 and row["precision_normal_valthr"] == 1.0
    assert row["pr_auc_normal"] == pytest.approx(1.0)


def test_single_class_y_true_is_nan_not_crash():
    with pytest.warns(UserWarning, match="single class"):
        row = classification_row(np.ones(5), np.linspace(0.1, 0.9, 5))
    assert math.isnan(row["roc_auc"]) and math.isnan(row["pr_auc_normal"])
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


# --------------------------------------------------------------------------------------------------
# DeLong
# --------------------------------------------------------------------------------------------------

# The aSAH data set shipped with the R package pROC (Turck et al., Intensive Care Med 2010;36:107):
# 113 patients, outcome Good/Poor, and three predictors (wfns as its numeric grade 1-5).
ASAH_POOR = (
    "GGGGPPGPGGPGPPGGPGPPPGPGGGGGGGGGPGGPPGPPGGGGGGGGGPPGGGPGGGPGPGGPPPGPPGPPPPGGGPPGPGGGGGGPGGGGGG"
    "GGGGGGPPPPPPGGGPGGG"
)
ASAH_WFNS = (
    "1111325412525512522521111212113421454142551124112552125122215112521452441412142123242145115422"
    "1113125225552445111"
)
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71, 0.04, 0.08,
    0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11, 0.13, 0.19, 0.05, 0.16,
    0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46, 0.16, 0.07, 0.43, 0.45, 0.11, 0.08,
    0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1, 0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3,
    0.03, 0.09, 0.04, 0.23, 0.7, 0.09, 0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08,
    0.11, 0.33, 0.11, 0.28, 0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14,
    0.1, 0.07, 0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18, 8.9, 13.41,
    20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29, 12.53, 6.54, 6.3, 80.3, 12.8,
    9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02, 7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34,
    41.43, 7.63, 7.06, 12.59, 13.56, 3.87, 9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22,
    11.73, 10.4, 58.83, 6.39, 11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57,
    15.54, 10.51, 10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83,
    5.37, 11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


def _asah():
    y = np.array([c == "P" for c in ASAH_POOR], dtype=int)
    wfns = np.array([int(c) for c in ASAH_WFNS], dtype=float)
    return y, {"wfns": wfns, "s100b": np.array(ASAH_S100B), "ndka": np.array(ASAH_NDKA)}


@pytest.mark.parametrize(
    ("a", "b", "z", "p", "low", "high"),
    [  # pROC's roc.test(roc(outcome, a), roc(outcome, b)), from pROC's test-roc.test.R
        (
            "wfns",
            "s100b",
            2.20898359144091,
            0.0271757822291882,
            0.0104061769564846,
            0.174214419249478,
        ),
        (
            "wfns",
            "ndka",
            2.79777591868904,
            0.00514557970691098,
            0.0634011709339876,
            0.3600405634833566,
        ),
        (
            "ndka",
            "s100b",
            -1.39077002573558,
            0.164295175223054,
            -0.2876917446341914,
            0.0488706064228094,
        ),
    ],
)
def test_delong_matches_proc_on_asah(a, b, z, p, low, high):
    y, x = _asah()
    assert len(y) == 113 and y.sum() == 41 and all(len(v) == 113 for v in x.values())
    result = delong_test(y, x[a], x[b])
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-9)
    assert result.auc_a == pytest.approx(roc_auc_score(y, x[a]), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(y, x[b]), abs=1e-12)
    # pROC prints AUCs 0.8237 (wfns), 0.7314 (s100b), 0.6120 (ndka).
    printed = {"wfns": 0.8237, "s100b": 0.7314, "ndka": 0.6120}
    assert round(result.auc_a, 4) == printed[a] and round(result.auc_b, 4) == printed[b]
    swapped = delong_test(y, x[b], x[a])
    assert swapped.z == pytest.approx(-z) and swapped.p_value == pytest.approx(p)


def _delong_by_definition(y, rows):
    """AUCs and DeLong covariance from the m x n comparison matrices (no ranks)."""
    rows = np.atleast_2d(rows)
    pos, neg = rows[:, y == 1], rows[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    psi = [
        (p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :])
        for p, q in zip(pos, neg, strict=True)
    ]
    v10 = np.array([s.mean(axis=1) for s in psi])  # (k, m)
    v01 = np.array([s.mean(axis=0) for s in psi])  # (k, n)
    aucs = v10.mean(axis=1)
    k = len(rows)
    s10 = np.array(
        [
            [np.sum((v10[i] - aucs[i]) * (v10[j] - aucs[j])) / (m - 1) for j in range(k)]
            for i in range(k)
        ]
    )
    s01 = np.array(
        [
            [np.sum((v01[i] - aucs[i]) * (v01[j] - aucs[j])) / (n - 1) for j in range(k)]
            for i in range(k)
        ]
    )
    return aucs, s10 / m + s01 / n


def test_delong_covariance_equals_placement_values_by_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    rows = np.round(rng.normal(size=(3, 40)) + y, 1)  # rounded: many ties
    aucs, cov = delong_covariance(y, rows)
    want_aucs, want_cov = _delong_by_definition(y, rows)
    np.testing.assert_allclose(aucs, want_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, want_cov, atol=1e-12)
    np.testing.assert_allclose(aucs, [roc_auc_score(y, r) for r in rows], atol=1e-12)
    # Hand example: y = 1 1 0 0, scores .9 .4 .5 .1 -> placements V10 = (1, .5), V01 = (.5, 1).
    auc, var = delong_covariance([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1])
    assert auc[0] == pytest.approx(0.75)
    assert var[0, 0] == pytest.approx(0.125 / 2 + 0.125 / 2)  # var(1, .5) = .125 (ddof 1)
    with pytest.raises(ValueError, match="two or more"):
        delong_covariance([1, 0, 0], [0.2, 0.1, 0.3])


def test_delong_over_seeds_tests_the_mean_auc_difference():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 60)
    a = rng.normal(size=(2, 60)) + 1.2 * y
    b = rng.normal(size=(2, 60)) + 0.8 * y
    result = delong_test(y, a, b)
    aucs, cov = _delong_by_definition(y, np.vstack([a, b]))
    w = np.array([0.5, 0.5, -0.5, -0.5])
    assert result.diff == pytest.approx(
        np.mean([roc_auc_score(y, a[s]) - roc_auc_score(y, b[s]) for s in (0, 1)])
    )
    assert result.se == pytest.approx(math.sqrt(w @ cov @ w), rel=1e-12)
    assert result.p_value == pytest.approx(
        2 * (1 - 0.5 * (1 + math.erf(abs(result.z) / math.sqrt(2))))
    )
    # A deterministic model: repeated identical seeds, or one row, give the one-seed test.
    one = delong_test(y, a[0], b[0])
    again = delong_test(y, np.vstack([a[0], a[0], a[0]]), b[0])
    assert again.z == pytest.approx(one.z) and again.se == pytest.approx(one.se)
    same = delong_test(y, a[0], a[0])
    assert (same.diff, same.se, same.z, same.p_value) == (0.0, 0.0, 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------------


def test_holm_matches_hand_computed_values():
    # Sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> running max .06.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # NaN stays NaN and does not count: m = 2.
    np.testing.assert_allclose(holm([0.02, np.nan, 0.5]), [0.04, np.nan, 0.5])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])  # capped at 1, monotone
    np.testing.assert_allclose(holm([0.01, 0.01]), [0.02, 0.02])  # ties
    assert holm([]).shape == (0,)
    # Holm rejects at least what Bonferroni rejects.
    p = np.array([0.001, 0.012, 0.013, 0.2])
    assert np.all((holm(p) <= 0.05) >= (np.minimum(1, p * len(p)) <= 0.05))


# --------------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------------


def _two_arms(n=80, k=3, seed=0, gain=0.3):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 3), np.ones(n - n // 3)].astype(int)
    a = np.round(rng.normal(size=(k, n)) + (1 + gain) * y, 1)  # rounded: ties
    b = np.round(rng.normal(size=(k, n)) + y, 1)
    return y, a, b


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("roc_auc", roc_auc_score),
        ("pr_auc", average_precision_score),
        ("pr_auc_normal", lambda y, s: average_precision_score(1 - y, -s)),
        ("f1_normal", lambda y, s: f1_score(y, s >= 0.5, pos_label=0, zero_division=0)),
        (
            "balanced_accuracy",
            lambda y, s: (np.mean(s[y == 1] >= 0.5) + np.mean(s[y == 0] < 0.5)) / 2,
        ),
    ],
)
def test_paired_bootstrap_closed_forms_equal_sklearn_on_every_replicate(name, reference):
    y, a, b = _two_arms()
    fast = paired_bootstrap(y, a, b, name, settings=BootstrapSettings(n_boot=150, seed=7))
    slow = paired_bootstrap(y, a, b, reference, settings=BootstrapSettings(n_boot=150, seed=7))  # sklearn on each resample
    for field in ("value_a", "value_b", "mean_diff", "low", "high", "p_value"):
        assert getattr(fast, field) == pytest.approx(getattr(slow, field), abs=1e-12), field
    assert fast.n_boot == slow.n_boot == 150


def test_paired_bootstrap_point_estimate_interval_and_p():
    y, a, b = _two_arms(n=120)
    result = paired_bootstrap(y, a, b, settings=BootstrapSettings(n_boot=500, seed=1))
    per_seed = [roc_auc_score(y, a[s]) - roc_auc_score(y, b[s]) for s in range(3)]
    assert result.seed_diffs == pytest.approx(per_seed)
    assert result.mean_diff == pytest.approx(np.mean(per_seed))
    assert result.value_a == pytest.approx(np.mean([roc_auc_score(y, r) for r in a]))
    assert result.low < result.mean_diff < result.high
    assert (result.n_seeds, result.n_images, result.metric) == (3, 120, "roc_auc")
    assert result == paired_bootstrap(y, a, b, settings=BootstrapSettings(n_boot=500, seed=1))  # seeded
    assert result.low != paired_bootstrap(y, a, b, settings=BootstrapSettings(n_boot=500, seed=2)).low
    # Swapping the arms mirrors everything.
    swapped = paired_bootstrap(y, b, a, settings=BootstrapSettings(n_boot=500, seed=1))
    assert swapped.mean_diff == pytest.approx(-result.mean_diff)
    assert (swapped.low, swapped.high) == pytest.approx((-result.high, -result.low))
    assert swapped.p_value == pytest.approx(result.p_value)
    # Identical arms: no difference, p = 1.
    same = paired_bootstrap(y, a, a, settings=BootstrapSettings(n_boot=200))
    assert (same.mean_diff, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    # A clear effect: every replicate positive, p at its floor 2 / (n_boot + 1).
    y2 = np.repeat([0, 1], 100)
    clear = paired_bootstrap(y2, y2 + 0.01 * np.arange(200), np.arange(200) % 7, settings=BootstrapSettings(n_boot=300))
    assert clear.low > 0 and clear.p_value == pytest.approx(2 / 301)


def test_paired_bootstrap_gives_a_deterministic_model_a_real_interval():
    y, a, b = _two_arms(n=100, k=1)
    repeated = paired_bootstrap(y, np.repeat(a, 3, axis=0), np.repeat(b, 3, axis=0), settings=BootstrapSettings(n_boot=300))
    single = paired_bootstrap(y, a[0], b, settings=BootstrapSettings(n_boot=300))
    assert repeated.high - repeated.low > 0.01
    assert (repeated.low, repeated.high, repeated.p_value) == (
        single.low,
        single.high,
        single.p_value,
    )
    # One row broadcasts against several seeds of the other arm.
    _, a3, _ = _two_arms(n=100, k=3)
    mixed = paired_bootstrap(y, a3, b[0], settings=BootstrapSettings(n_boot=100))
    assert mixed.n_seeds == 3 and mixed.seed_diffs == pytest.approx(
        [roc_auc_score(y, r) - roc_auc_score(y, b[0]) for r in a3]
    )
    with pytest.raises(ValueError, match="matching seeds"):
        paired_bootstrap(y, a3, np.vstack([b, b]))
    with pytest.raises(ValueError, match="single class"):
        paired_bootstrap(np.ones(100), a, b)


def test_paired_bootstrap_agrees_with_delong_and_resampling_seeds_widens_it():
    # The chapter's test set size: 234 NORMAL, 390 PNEUMONIA, three seeds.
    rng = np.random.default_rng(11)
    y = np.r_[np.zeros(234), np.ones(390)].astype(int)
    a = rng.normal(size=(3, 624)) + 1.6 * y
    b = rng.normal(size=(3, 624)) + 1.5 * y
    boot = paired_bootstrap(y, a, b, settings=BootstrapSettings(n_boot=2000, seed=0))
    dl = delong_test(y, a, b)
    assert boot.mean_diff == pytest.approx(dl.diff)
    # Same estimand, two approximations of the test-set noise: widths within 15%.
    assert (boot.high - boot.low) / (dl.high - dl.low) == pytest.approx(1, abs=0.15)
    assert abs(boot.p_value - dl.p_value) < 0.1
    # Seeds that disagree: drawing the seeds too adds their spread.
    b_spread = b + np.array([[-0.4], [0.0], [0.4]]) * y
    narrow = paired_bootstrap(y, a, b_spread, settings=BootstrapSettings(n_boot=1000))
    wide = paired_bootstrap(y, a, b_spread, settings=BootstrapSettings(n_boot=1000, resample_seeds=True))
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)


# --------------------------------------------------------------------------------------------------
# Paired comparisons from a results table
# --------------------------------------------------------------------------------------------------


def _scored_runs(seeds=(0, 1, 2)):
    """Results rows and test scores: gan helps cnn and hurts svm; random and none are alike."""
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(150), np.ones(250)].astype(int)
    noise = {s: rng.normal(size=400) for s in seeds}
    scores, rows = {}, []
    for clf, gan_sep in (("cnn", 3.0), ("svm", 0.5)):
        for strategy in ("none", "random", "gan"):
            for s in seeds:
                sep = {"none": 1.5, "random": 1.5, "gan": gan_sep}[strategy]
                other = rng.normal(size=400) if strategy == "random" else noise[s]
                logit = sep * (y - 0.5) * 2 + other
                score = 1 / (1 + np.exp(-logit))
                scores[(clf, strategy, s)] = (y, score)
                rows.append(
                    dict(
                        classifier=clf,
                        strategy=strategy,
                        seed=s,
                        roc_auc=roc_auc_score(y, score),
                        val_threshold=0.4 + 0.05 * s,
                    )
                )
    return pd.DataFrame(rows), scores


def test_paired_comparisons_verdicts_use_holm_adjusted_delong():
    results, scores = _scored_runs()
    pairs = [("gan", "random"), ("random", "none"), ("gan", "missing")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recorded roc_auc matches the scores: no warning
        out = paired_comparisons(results, lambda c, st, s: scores[(c, st, s)], pairs, ComparisonSettings(n_boot=300))
    assert list(out[["classifier", "target", "baseline"]].itertuples(index=False, name=None)) == [
        ("cnn", "gan", "random"),
        ("cnn", "random", "none"),
        ("svm", "gan", "random"),
        ("svm", "random", "none"),
    ]
    assert (
        (out["n_comparisons"] == 4).all()
        and (out["n_seeds"] == 3).all()
        and (out["n_test"] == 400).all()
    )
    np.testing.assert_allclose(out["p_holm"], holm(out["p_delong"]))
    assert (out["test"] == "delong").all() and (out["p_test"] == out["p_delong"]).all()
    by = out.set_index(["classifier", "target"])
    assert by.loc[("cnn", "gan"), "verdict"] == "better"
    assert by.loc[("svm", "gan"), "verdict"] == "worse"
    assert set(by.xs("random", level="target")["verdict"]) == {"no clear difference"}
    mean_auc = results.groupby(["classifier", "strategy"])["roc_auc"].mean()
    assert by.loc[("cnn", "gan"), "mean_diff"] == pytest.approx(
        mean_auc[("cnn", "gan")] - mean_auc[("cnn", "random")]
    )
    row = by.loc[("cnn", "gan")]
    one = delong_test(
        scores[("cnn", "gan", 0)][0],
        np.vstack([scores[("cnn", "gan", s)][1] for s in range(3)]),
        np.vstack([scores[("cnn", "random", s)][1] for s in range(3)]),
    )
    assert row["p_delong"] == pytest.approx(one.p_value) and row["z_delong"] == pytest.approx(one.z)
    assert row["low"] < row["mean_diff"] < row["high"]


def test_paired_comparisons_checks_scores_and_seeds():
    results, scores = _scored_runs()
    # Recorded values that the loaded scores do not reproduce are flagged.
    wrong = results.assign(roc_auc=results["roc_auc"] + 0.01)
    with pytest.warns(UserWarning, match="right scores"):
        paired_comparisons(wrong, lambda c, st, s: scores[(c, st, s)], [("gan", "none")], ComparisonSettings(n_boot=50))
    # Only seeds present for both strategies; a missing score file drops the seed.
    partial = results[~((results.strategy == "gan") & (results.seed == 2))]
    out = paired_comparisons(
        partial,
        lambda c, st, s: scores[(c, st, s)],
        [("gan", "none")],
        ComparisonSettings(classifiers=["cnn"], n_boot=50),
    )
    assert out["n_seeds"].tolist() == [2]
    with pytest.warns(UserWarning, match="seed left out"):
        out = paired_comparisons(
            results,
            lambda c, st, s: None if s == 0 else scores[(c, st, s)],
            [("gan", "none")],
            ComparisonSettings(classifiers=["cnn"], n_boot=50),
        )
    assert out["n_seeds"].tolist() == [2]
    with pytest.raises(ValueError, match="repeat"):
        paired_comparisons(
            pd.concat([results, results]), lambda c, st, s: scores[(c, st, s)], [("gan", "none")]
        )


def test_paired_comparisons_other_metrics_use_the_bootstrap_p():
    results, scores = _scored_runs()
    load = lambda c, st, s: scores[(c, st, s)]  # noqa: E731
    out = paired_comparisons(
        results, load, [("gan", "random")], ComparisonSettings(metric="f1_normal_valthr", n_boot=200)
    )
    assert (out["test"] == "bootstrap").all() and out["p_delong"].isna().all()
    np.testing.assert_allclose(out["p_holm"], holm(out["p_bootstrap"]))
    # The value is each seed's F1 (NORMAL positive) at that run's val threshold, averaged.
    y = scores[("cnn", "gan", 0)][0]
    want = np.mean(
        [f1_score(y, scores[("cnn", "gan", s)][1] >= 0.4 + 0.05 * s, pos_label=0) for s in range(3)]
    )
    assert out.loc[out.classifier == "cnn", "value_target"].item() == pytest.approx(want)
    with pytest.raises(ValueError, match="delong"):
        paired_comparisons(results, load, [("gan", "random")], ComparisonSettings(metric="pr_auc", test="delong"))
    with pytest.raises(ValueError, match="unknown metric"):
        paired_comparisons(results, load, [("gan", "random")], ComparisonSettings(metric="auc"))


def test_metrics_and_report_import_no_keras():
    code = (
        "import sys, helpers.evaluation.scores, helpers.evaluation.comparisons, helpers.report; "
        "bad = [m for m in ('keras', 'tensorflow') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_paired_bootstrap_without_stratification_drops_single_class_resamples():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0])  # one positive: about a third of resamples miss it
    a = np.linspace(0.1, 0.9, 8)
    b = a[::-1].copy()
    fast = paired_bootstrap(y, a, b, settings=BootstrapSettings(n_boot=300, seed=3, stratified=False))
    slow = paired_bootstrap(y, a, b, roc_auc_score, settings=BootstrapSettings(n_boot=300, seed=3, stratified=False))
    assert 150 < fast.n_boot == slow.n_boot < 250
    assert (fast.low, fast.high, fast.p_value) == pytest.approx((slow.low, slow.high, slow.p_value))


def test_bootstrap_interval_covers_the_value_and_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    from helpers.evaluation.intervals import bootstrap_interval

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(80, int), np.ones(120, int)]
    s = np.clip(y * 0.3 + rng.normal(0.4, 0.25, len(y)), 0, 1)
    value, low, high = bootstrap_interval(y, s, settings=BootstrapSettings(n_boot=500, seed=1))
    assert value == pytest.approx(roc_auc_score(y, s)) and low < value < high
    assert (value, low, high) == bootstrap_interval(y, s, settings=BootstrapSettings(n_boot=500, seed=1))  # seeded
    two = bootstrap_interval(y, np.vstack([s, s]), settings=BootstrapSettings(n_boot=500, seed=1))  # a deterministic model, twice
    assert two == pytest.approx((value, low, high))
    f1 = bootstrap_interval(y, s, "f1", threshold=0.5, settings=BootstrapSettings(n_boot=300))
    assert 0 < f1[1] < f1[0] < f1[2] < 1
