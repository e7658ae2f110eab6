"""Classification metric rows, seed summaries and paired comparisons of two strategies.

Conventions (as in Ghosh & Dutta's report): PNEUMONIA (label 1) is the positive class and ``y_score`` is the
model's score for the positive class (a probability, higher = more PNEUMONIA). A sample is
called positive when ``score >= threshold``. Columns ending in ``_normal`` treat the other class
(NORMAL, the minority class of the training set) as the positive one.

Every row has the same keys in the same order (:data:`METRIC_COLUMNS`), so rows from different
notebooks stack into one results table:

* threshold-free: ``roc_auc``, ``pr_auc`` (average precision, PNEUMONIA positive),
  ``pr_auc_normal`` (average precision with NORMAL positive, ranking by 1 - score) - lead with
  these (the official test split is shifted away from train/val, so thresholds chosen on val transfer
  badly);
* at threshold 0.5: ``precision``, ``recall``, ``f1`` (PNEUMONIA positive), ``precision_normal``,
  ``recall_normal`` (= specificity), ``f1_normal`` (NORMAL positive), ``macro_f1``,
  ``balanced_accuracy``, ``accuracy``, ``tn``, ``fp``, ``fn``, ``tp``;
* the same thresholded metrics at a threshold chosen on the validation set (suffix ``_valthr``)
  plus ``val_threshold`` and ``val_roc_auc``. The threshold maximises Youden's J
  (TPR - FPR) on val; it is one of the val scores and ties go to the highest such threshold.
  Without validation data these columns are NaN.

Paired comparisons of two arms (strategy A vs baseline B, same classifier, same test images):

* :func:`paired_bootstrap`: mean over seeds of ``metric(A) - metric(B)``, a percentile interval and
  a two-sided p-value from a bootstrap over test images (the same resample for both arms and all
  seeds), so a deterministic model still gets an interval from the finite test set;
* :func:`delong_test` (with :func:`delong_covariance`): DeLong's test for correlated ROC-AUCs,
  also for the mean over seeds;
* :func:`holm`: Holm's step-down adjustment for the number of comparisons;
* :func:`paired_comparisons`: all of the above for a results table, from each run's saved scores.

Both the bootstrap and DeLong hold the trained models fixed: they measure how much the test set's
finite size moves the comparison. Seed-to-seed training variation enters through the mean over seeds
(and through ``resample_seeds=True`` or :func:`paired_difference`'s t-interval over seeds).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "THRESHOLD_FREE_COLUMNS",
    "THRESHOLDED_COLUMNS",
    "METRIC_COLUMNS",
    "DEFAULT_SUMMARY_METRICS",
    "RANKING_METRICS",
    "CONFUSION_METRICS",
    "classification_row",
    "thresholded_metrics",
    "youden_threshold",
    "safe_roc_auc",
    "summarise",
    "format_summary",
    "paired_difference",
    "PairedBootstrap",
    "paired_bootstrap",
    "bootstrap_interval",
    "DeLongTest",
    "delong_covariance",
    "delong_test",
    "holm",
    "paired_comparisons",
    "holm_calls",
]

THRESHOLD_FREE_COLUMNS: tuple[str, ...] = ("roc_auc", "pr_auc", "pr_auc_normal")
THRESHOLDED_COLUMNS: tuple[str, ...] = (
    "precision",
    "recall",
    "f1",
    "precision_normal",
    "recall_normal",
    "f1_normal",
    "macro_f1",
    "balanced_accuracy",
    "accuracy",
    "tn",
    "fp",
    "fn",
    "tp",
)
METRIC_COLUMNS: tuple[str, ...] = (
    *THRESHOLD_FREE_COLUMNS,
    *THRESHOLDED_COLUMNS,
    *(f"{c}_valthr" for c in THRESHOLDED_COLUMNS),
    "val_threshold",
    "val_roc_auc",
    "n_test",
    "n_test_positive",
)
DEFAULT_SUMMARY_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "f1",
    "f1_normal",
    "macro_f1",
    "balanced_accuracy",
)


def _binary(y_true: Any, positive_class: int) -> np.ndarray:
    return (np.asarray(y_true).ravel() == positive_class).astype(int)


def _scores(y_score: Any) -> np.ndarray:
    s = np.asarray(y_score, dtype=float)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"y_score must be one score per sample, got shape {s.shape}")
    return s


def safe_roc_auc(y_bin: np.ndarray, scores: np.ndarray, what: str = "y_true") -> float:
    """ROC-AUC, or NaN with a warning when ``y_bin`` holds a single class."""
    if len(np.unique(y_bin)) < 2:
        warnings.warn(f"{what} holds a single class; ROC-AUC is undefined (NaN).", stacklevel=3)
        return float("nan")
    return float(roc_auc_score(y_bin, scores))


def thresholded_metrics(
    y_bin: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, float]:
    """Precision, recall, F1 (each class), macro F1, balanced accuracy, accuracy, confusion counts.

    ``y_bin`` is 1 for the positive class; a sample is predicted positive when ``score >= threshold``.
    The ``*_normal`` values take the other class (label 0) as positive: ``recall_normal`` is the
    specificity, ``precision_normal`` the negative predictive value.
    """
    if not np.isfinite(threshold):
        return {c: float("nan") for c in THRESHOLDED_COLUMNS}
    y_pred = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_bin, y_pred, labels=[0, 1]).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-class y_true: sklearn warns, values stay defined
        balanced = float(balanced_accuracy_score(y_bin, y_pred))
    return {
        "precision": float(precision_score(y_bin, y_pred, zero_division=0)),
        "recall": float(recall_score(y_bin, y_pred, zero_division=0)),
        "f1": float(f1_score(y_bin, y_pred, pos_label=1, zero_division=0)),
        "precision_normal": float(precision_score(y_bin, y_pred, pos_label=0, zero_division=0)),
        "recall_normal": float(recall_score(y_bin, y_pred, pos_label=0, zero_division=0)),
        "f1_normal": float(f1_score(y_bin, y_pred, pos_label=0, zero_division=0)),
        "macro_f1": float(f1_score(y_bin, y_pred, average="macro", labels=[0, 1], zero_division=0)),
        "balanced_accuracy": balanced,
        "accuracy": float(accuracy_score(y_bin, y_pred)),
        "tn": float(tn),
        "fp": float(fp),
        "fn": float(fn),
        "tp": float(tp),
    }


def youden_threshold(y_bin: np.ndarray, scores: np.ndarray) -> float:
    """Score threshold maximising Youden's J = TPR - FPR (NaN with a warning for one class).

    The threshold is one of the scores (``score >= threshold`` is positive); on ties the highest
    threshold wins (fewest positive calls).
    """
    if len(np.unique(y_bin)) < 2:
        warnings.warn(
            "validation labels hold a single class; no threshold chosen (NaN).", stacklevel=3
        )
        return float("nan")
    fpr, tpr, thr = roc_curve(y_bin, scores)
    finite = np.isfinite(thr)
    j = (tpr - fpr)[finite]
    return float(thr[finite][int(np.argmax(j))])


def classification_row(
    y_true: Any,
    y_score: Any,
    *,
    y_score_val: Any = None,
    y_true_val: Any = None,
    positive_class: int = 1,
    class_names: Sequence[str] = ("NORMAL", "PNEUMONIA"),
) -> dict[str, float]:
    """One results row (keys = :data:`METRIC_COLUMNS`) for a binary classifier on a test set.

    ``y_score`` is the score of ``positive_class`` (PNEUMONIA by default). The ``*_normal`` columns
    (``pr_auc_normal``, ``precision_normal``, ``recall_normal`` = specificity, ``f1_normal``) take
    the other class as positive. With ``y_true_val``/``y_score_val`` the ``*_valthr`` columns use the Youden
    threshold chosen on val; otherwise they are NaN. ``class_names`` only words the warnings.
    """
    y_bin = _binary(y_true, positive_class)
    scores = _scores(y_score)
    if len(y_bin) != len(scores):
        raise ValueError(f"{len(y_bin)} labels but {len(scores)} scores")
    label = f"test labels ({class_names[positive_class]} positive)"
    row: dict[str, float] = {c: float("nan") for c in METRIC_COLUMNS}
    row["roc_auc"] = safe_roc_auc(y_bin, scores, label)
    row["pr_auc"] = float(average_precision_score(y_bin, scores)) if y_bin.any() else float("nan")
    # The other class as positive, ranked by 1 - score (-score: same order, no rounding ties).
    has_negative = bool((y_bin == 0).any())
    row["pr_auc_normal"] = (
        float(average_precision_score(1 - y_bin, -scores)) if has_negative else float("nan")
    )
    row.update(thresholded_metrics(y_bin, scores, 0.5))
    if (y_true_val is None) != (y_score_val is None):
        raise ValueError("pass both y_true_val and y_score_val, or neither")
    if y_true_val is not None:
        yv = _binary(y_true_val, positive_class)
        sv = _scores(y_score_val)
        row["val_roc_auc"] = safe_roc_auc(yv, sv, "validation labels")
        thr = youden_threshold(yv, sv)
        row["val_threshold"] = thr
        for key, value in thresholded_metrics(y_bin, scores, thr).items():
            row[f"{key}_valthr"] = value
    row["n_test"] = float(len(y_bin))
    row["n_test_positive"] = float(y_bin.sum())
    return {c: row[c] for c in METRIC_COLUMNS}


def _as_list(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def summarise(
    table: pd.DataFrame,
    by: str | Sequence[str] = ("classifier", "strategy"),
    metrics: Sequence[str] = DEFAULT_SUMMARY_METRICS,
) -> pd.DataFrame:
    """Mean, sample SD (ddof=1) and number of rows (seeds) of each metric per group.

    Columns: the ``by`` columns, then ``<metric>_mean``, ``<metric>_sd`` per metric, then ``n``.
    NaNs are skipped in the means; SD is NaN for a single seed.
    """
    by = _as_list(by)
    missing = [c for c in [*by, *metrics] if c not in table.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table (it has {list(table.columns)})")
    grouped = table.groupby(by, sort=False, dropna=False)
    out = grouped.size().rename("n").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_sd"] = grouped[m].std(ddof=1)
    cols = [c for m in metrics for c in (f"{m}_mean", f"{m}_sd")] + ["n"]
    return out[cols].reset_index()


def format_summary(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Turn :func:`summarise` output into "mean ± sd" strings (just the mean when n = 1)."""
    metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean")]
    by = [c for c in summary.columns if c != "n" and not c.endswith(("_mean", "_sd"))]
    out = summary[by].copy()
    for m in metrics:
        means, sds = summary[f"{m}_mean"], summary[f"{m}_sd"]
        out[m] = [
            "nan"
            if not np.isfinite(mu)
            else (
                f"{mu:.{digits}f}" if not np.isfinite(sd) else f"{mu:.{digits}f} ± {sd:.{digits}f}"
            )
            for mu, sd in zip(means, sds, strict=True)
        ]
    out["n"] = summary["n"]
    return out


def paired_difference(
    table: pd.DataFrame,
    metric: str,
    strategy_a: str,
    strategy_b: str,
    by: str | Sequence[str] = "classifier",
    *,
    seed_col: str = "seed",
    strategy_col: str = "strategy",
    alpha: float = 0.05,
    digits: int = 3,
) -> pd.DataFrame:
    """Mean of ``metric(a) - metric(b)`` over matching seeds, per group, with a t-interval.

    Returns one row per group: the ``by`` columns, ``metric``, ``strategy_a``, ``strategy_b``,
    ``mean_diff``, ``low``, ``high``, ``n_pairs`` and ``text`` ("-0.012 [-0.030, 0.006]").
    The interval is mean ± t_{1-alpha/2, n-1} * sd / sqrt(n) (NaN with fewer than two pairs).
    Seeds present for only one strategy are dropped. Raises when a (group, seed, strategy) occurs
    twice: filter the table (dataset, image size) or add the column to ``by``.
    """
    by = _as_list(by)
    sub = table[table[strategy_col].isin([strategy_a, strategy_b])]
    keys = [*by, seed_col, strategy_col]
    dup = sub.duplicated(keys)
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows repeat a ({', '.join(keys)}) combination; filter the table or add "
            "the distinguishing column (dataset, image_size, ...) to `by`."
        )
    wide = sub.pivot_table(
        index=[*by, seed_col], columns=strategy_col, values=metric, aggfunc="first"
    )
    rows = []
    groups = wide.groupby(level=list(range(len(by))), sort=False) if len(wide) else []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        if strategy_a in part and strategy_b in part:
            diff = (part[strategy_a] - part[strategy_b]).dropna().to_numpy(dtype=float)
        else:
            diff = np.array([])
        n = len(diff)
        mean = float(diff.mean()) if n else float("nan")
        if n >= 2:
            half = float(stats.t.ppf(1 - alpha / 2, n - 1) * diff.std(ddof=1) / math.sqrt(n))
        else:
            half = float("nan")
        row = dict(zip(by, key, strict=True))
        row.update(
            metric=metric,
            strategy_a=strategy_a,
            strategy_b=strategy_b,
            mean_diff=mean,
            low=mean - half,
            high=mean + half,
            n_pairs=n,
            text=f"{mean:+.{digits}f} [{mean - half:+.{digits}f}, {mean + half:+.{digits}f}]",
        )
        rows.append(row)
    columns = [
        *by,
        "metric",
        "strategy_a",
        "strategy_b",
        "mean_diff",
        "low",
        "high",
        "n_pairs",
        "text",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------------
# Paired comparisons on the same test images: bootstrap, DeLong, Holm
# --------------------------------------------------------------------------------------------------

#: Score-ranking metrics the bootstrap computes in closed form for all replicates at once.
RANKING_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "pr_auc_normal")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    return np.divide(num, den, out=out, where=den > 0)


_CONFUSION_FORMULAS: dict[str, Callable[..., np.ndarray]] = {
    "precision": lambda tn, fp, fn, tp: _ratio(tp, tp + fp),
    "recall": lambda tn, fp, fn, tp: _ratio(tp, tp + fn),
    "f1": lambda tn, fp, fn, tp: _ratio(2 * tp, 2 * tp + fp + fn),
    "precision_normal": lambda tn, fp, fn, tp: _ratio(tn, tn + fn),
    "recall_normal": lambda tn, fp, fn, tp: _ratio(tn, tn + fp),
    "f1_normal": lambda tn, fp, fn, tp: _ratio(2 * tn, 2 * tn + fn + fp),
    "macro_f1": lambda tn, fp, fn, tp: (
        (_ratio(2 * tp, 2 * tp + fp + fn) + _ratio(2 * tn, 2 * tn + fn + fp)) / 2
    ),
    "balanced_accuracy": lambda tn, fp, fn, tp: (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2,
    "accuracy": lambda tn, fp, fn, tp: _ratio(tp + tn, tn + fp + fn + tp),
}
#: Thresholded metrics (names as in :data:`THRESHOLDED_COLUMNS`) the bootstrap computes from
#: resampled confusion counts; append ``_valthr`` in :func:`paired_comparisons` for the val threshold.
CONFUSION_METRICS: tuple[str, ...] = tuple(_CONFUSION_FORMULAS)

MetricSpec = str | Callable[[np.ndarray, np.ndarray], float]


def _metric_name(metric: MetricSpec) -> str:
    if isinstance(metric, str):
        if metric not in RANKING_METRICS and metric not in CONFUSION_METRICS:
            raise ValueError(
                f"unknown metric {metric!r}: use one of {RANKING_METRICS + CONFUSION_METRICS} "
                "or a function f(y_true, y_score)"
            )
        return metric
    return getattr(metric, "__name__", "metric")


def _weighted_ranking(
    name: str, y_bin: np.ndarray, scores: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """ROC-AUC or average precision of one score vector for each row of ``counts`` (B, n).

    ``counts[b, i]`` is how often image ``i`` occurs in resample ``b``; the values equal scikit-learn's
    on the resampled images (ties count 1/2 in ROC-AUC; average precision steps at distinct scores).
    """
    if name == "pr_auc_normal":
        name, y_bin, scores = "pr_auc", 1 - y_bin, -scores
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # tie groups, ascending
    is_pos = y_bin[order].astype(bool)
    c = counts[:, order].astype(float)
    pos = np.add.reduceat(np.where(is_pos, c, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(is_pos, 0.0, c), starts, axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    if name == "roc_auc":
        below = np.cumsum(neg, axis=1) - neg
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
    pos, neg = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    return (pos * _ratio(tp, tp + fp)).sum(axis=1) / n_pos


def _metric_matrix(
    metric: MetricSpec,
    y_bin: np.ndarray,
    rows: np.ndarray,
    thresholds: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """``metric`` of each score row (R, n) on each resample (B, n counts): a (B, R) array.

    Resamples lacking a class give NaN (only possible without stratification).
    """
    out = np.full((counts.shape[0], rows.shape[0]), np.nan)
    valid = (counts @ y_bin.astype(float) > 0) & (counts @ (1 - y_bin).astype(float) > 0)
    counts = counts[valid]
    if isinstance(metric, str) and metric in RANKING_METRICS:
        for r, scores in enumerate(rows):
            out[valid, r] = _weighted_ranking(metric, y_bin, scores, counts)
    elif isinstance(metric, str):
        formula = _CONFUSION_FORMULAS[metric]
        for r, (scores, thr) in enumerate(zip(rows, thresholds, strict=True)):
            pred = scores >= thr
            tn, fp, fn, tp = (
                counts @ ((y_bin == a) & (pred == b)).astype(float)
                for a, b in ((0, False), (0, True), (1, False), (1, True))
            )
            out[valid, r] = formula(tn, fp, fn, tp)
    else:
        for b, weights in zip(np.flatnonzero(valid), counts, strict=True):
            idx = np.repeat(np.arange(len(y_bin)), weights.astype(np.int64))
            for r, scores in enumerate(rows):
                out[b, r] = metric(y_bin[idx], scores[idx])
    return out


def _resample_counts(
    rng: np.random.Generator, y_bin: np.ndarray, n_boot: int, stratified: bool
) -> np.ndarray:
    """(n_boot, n) multiplicities of a bootstrap over images (within each class when stratified)."""
    counts = np.zeros((n_boot, len(y_bin)), dtype=np.int64)
    groups = (
        (np.flatnonzero(y_bin == 1), np.flatnonzero(y_bin == 0))
        if stratified
        else (np.arange(len(y_bin)),)
    )
    for members in groups:
        k = len(members)
        draws = rng.integers(0, k, size=(n_boot, k)) + k * np.arange(n_boot)[:, None]
        counts[:, members] = np.bincount(draws.ravel(), minlength=n_boot * k).reshape(n_boot, k)
    return counts


def _score_rows(scores: Any, n: int, what: str) -> np.ndarray:
    rows = np.asarray(scores, dtype=float)
    if rows.ndim == 1:
        rows = rows[None, :]
    elif rows.ndim == 3 and rows.shape[2] == 1:
        rows = rows[:, :, 0]
    if rows.ndim != 2 or rows.shape[1] != n:
        raise ValueError(
            f"{what} must be (n_seeds, {n}) scores or one vector of {n}, got {rows.shape}"
        )
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{what} holds non-finite scores")
    return rows


def _paired_rows(
    y_true: Any, scores_a: Any, scores_b: Any, positive_class: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_bin = _binary(y_true, positive_class)
    a = _score_rows(scores_a, len(y_bin), "scores_a")
    b = _score_rows(scores_b, len(y_bin), "scores_b")
    if len(a) != len(b):
        if 1 not in (len(a), len(b)):
            raise ValueError(f"{len(a)} seeds for A but {len(b)} for B: pass matching seeds")
        shape = (max(len(a), len(b)), len(y_bin))
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    if y_bin.all() or not y_bin.any():
        raise ValueError("y_true holds a single class: no paired comparison")
    return y_bin, a, b


def _per_seed(value: Any, k: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float).ravel()
    if arr.size == 1:
        arr = np.full(k, arr[0])
    if arr.shape != (k,):
        raise ValueError(
            f"{what} must be one threshold or one per seed ({k}), got {np.shape(value)}"
        )
    return arr


@dataclass(frozen=True)
class PairedBootstrap:
    """Result of :func:`paired_bootstrap` (A minus B; values are means over seeds)."""

    metric: str
    value_a: float
    value_b: float
    mean_diff: float
    low: float
    high: float
    p_value: float
    alpha: float
    n_boot: int
    n_seeds: int
    n_images: int
    seed_diffs: tuple[float, ...]


def paired_bootstrap(
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    metric: MetricSpec = "roc_auc",
    *,
    threshold_a: float | Sequence[float] = 0.5,
    threshold_b: float | Sequence[float] = 0.5,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    stratified: bool = True,
    resample_seeds: bool = False,
    positive_class: int = 1,
) -> PairedBootstrap:
    """Mean over seeds of ``metric(A) - metric(B)`` with a bootstrap over test images.

    ``scores_a`` and ``scores_b`` are ``(n_seeds, n_images)`` arrays (or one vector): row ``s`` of A
    pairs with row ``s`` of B (same seed number); a single row broadcasts against several (a
    deterministic model run once), and a deterministic model may also repeat identical rows. All
    rows score the same images, whose labels are ``y_true``.

    Each of the ``n_boot`` replicates draws the test images with replacement - within each class
    when ``stratified`` (the class counts stay fixed, as in pROC) - applies the *same* draw to both
    arms and every seed, computes the metric per seed and arm, averages over seeds and takes A - B.
    With ``resample_seeds`` a replicate also draws the seed pairs with replacement (a two-stage
    bootstrap that adds the seed-to-seed spread; crude with a handful of seeds).

    * interval: percentile ``[alpha/2, 1 - alpha/2]`` quantiles of the replicate differences;
    * ``p_value``: two-sided, ``2 * min(#(d <= 0) + 1, #(d >= 0) + 1) / (n_boot + 1)`` capped at 1
      (the percentile interval inverted; never 0, smallest ``2 / (n_boot + 1)``).

    ``metric``: ``"roc_auc"`` (default), ``"pr_auc"``, ``"pr_auc_normal"``, any name in
    :data:`CONFUSION_METRICS` (at ``threshold_a``/``threshold_b``: one value or one per seed) - all
    computed in closed form for every replicate at once - or any ``f(y_true, y_score)`` (called once
    per replicate, seed and arm: slow). Replicates where ``f`` is NaN are left out (``n_boot`` in the
    result counts those used). Seeded by ``seed``: same inputs, same result.
    """
    name = _metric_name(metric)
    y_bin, a, b = _paired_rows(y_true, scores_a, scores_b, positive_class)
    k, n = a.shape
    thresholds = np.r_[
        _per_seed(threshold_a, k, "threshold_a"), _per_seed(threshold_b, k, "threshold_b")
    ]
    rows = np.vstack([a, b])
    # Evaluate each distinct (scores, threshold) once: deterministic models repeat their rows.
    seen: dict[bytes, int] = {}
    uniq, where = [], []
    for i, (r, t) in enumerate(zip(rows, thresholds, strict=True)):
        key = r.tobytes() + t.tobytes()
        if key not in seen:
            seen[key] = len(uniq)
            uniq.append(i)
        where.append(seen[key])

    observed = _metric_matrix(
        metric, y_bin, rows[uniq], thresholds[uniq], np.ones((1, n), dtype=np.int64)
    )[0][where]
    seed_diffs = observed[:k] - observed[k:]

    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    diffs = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        counts = _resample_counts(rng, y_bin, size, stratified)
        values = _metric_matrix(metric, y_bin, rows[uniq], thresholds[uniq], counts)[:, where]
        per_seed = values[:, :k] - values[:, k:]
        if resample_seeds:
            picks = rng.integers(0, k, size=(size, k))
            per_seed = np.take_along_axis(per_seed, picks, axis=1)
        diffs.append(per_seed.mean(axis=1))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        raise ValueError(f"no bootstrap replicate gave a finite {name}")
    low, high = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    tail = min(np.sum(d <= 0), np.sum(d >= 0)) + 1
    return PairedBootstrap(
        metric=name,
        value_a=float(observed[:k].mean()),
        value_b=float(observed[k:].mean()),
        mean_diff=float(seed_diffs.mean()),
        low=float(low),
        high=float(high),
        p_value=float(min(1.0, 2 * tail / (len(d) + 1))),
        alpha=alpha,
        n_boot=len(d),
        n_seeds=k,
        n_images=n,
        seed_diffs=tuple(float(x) for x in seed_diffs),
    )


def bootstrap_interval(
    y_true: Any,
    scores: Any,
    metric: MetricSpec = "roc_auc",
    *,
    threshold: float | Sequence[float] = 0.5,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    stratified: bool = True,
    resample_seeds: bool = False,
    positive_class: int = 1,
) -> tuple[float, float, float]:
    """``(value, low, high)``: the mean over seeds of ``metric`` and its bootstrap interval over test images.

    ``scores`` is ``(n_seeds, n_images)`` (or one vector); each replicate resamples the images (the
    same draw for every seed; within each class when ``stratified``) and averages the metric over
    seeds, so a deterministic model still gets an interval. With ``resample_seeds`` each replicate
    also draws the seeds with replacement (a hierarchical bootstrap: seeds, then test images), so the
    interval widens when the seeds disagree; with one seed it equals the image bootstrap. Seeded by ``seed``.
    """
    y_bin = _binary(y_true, positive_class)
    rows = _score_rows(scores, len(y_bin), "scores")
    thresholds = _per_seed(threshold, len(rows), "threshold")
    observed = _metric_matrix(metric, y_bin, rows, thresholds, np.ones((1, len(y_bin)), dtype=np.int64))[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(len(y_bin), 1)))
    means = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        counts = _resample_counts(rng, y_bin, size, stratified)
        values = _metric_matrix(metric, y_bin, rows, thresholds, counts)
        if resample_seeds:
            values = np.take_along_axis(values, rng.integers(0, len(rows), size=(size, len(rows))), axis=1)
        means.append(values.mean(axis=1))
    d = np.concatenate(means)
    d = d[np.isfinite(d)]
    low, high = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    return float(observed.mean()), float(low), float(high)


def delong_covariance(
    y_true: Any, scores: Any, *, positive_class: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUCs of ``k`` score rows on the same images and DeLong's ``(k, k)`` covariance of them.

    DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837, computed with midranks as in Sun & Xu
    (2014), IEEE Signal Processing Letters 21:1389: with ``m`` positives and ``n`` negatives, the
    placement value of a positive is the fraction of negatives it outscores (ties 1/2), that of a
    negative the fraction of positives that outscore it; the covariance is
    ``S10 / m + S01 / n`` with ``S10``, ``S01`` the sample covariances (ddof 1) of the placements.
    Needs at least two images of each class.
    """
    y_bin = _binary(y_true, positive_class)
    rows = _score_rows(scores, len(y_bin), "scores")
    pos, neg = rows[:, y_bin == 1], rows[:, y_bin == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong needs two or more images of each class (got {m} positive, {n} negative)"
        )
    rank_pos = stats.rankdata(pos, axis=1)
    rank_neg = stats.rankdata(neg, axis=1)
    rank_all = stats.rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n  # per positive: share of negatives below it
    v01 = 1 - (rank_all[:, m:] - rank_neg) / m  # per negative: share of positives above it
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


@dataclass(frozen=True)
class DeLongTest:
    """Result of :func:`delong_test` (A minus B; AUCs are means over seeds)."""

    auc_a: float
    auc_b: float
    diff: float
    var_a: float
    var_b: float
    cov_ab: float
    se: float
    z: float
    p_value: float
    low: float
    high: float
    alpha: float
    n_seeds: int
    n_positive: int
    n_negative: int


def delong_test(
    y_true: Any,
    scores_a: Any,
    scores_b: Any,
    *,
    alpha: float = 0.05,
    positive_class: int = 1,
) -> DeLongTest:
    """DeLong's test that two correlated ROC-AUCs (same images) are equal, two-sided.

    ``z = (AUC_A - AUC_B) / SE`` with ``SE^2 = var_A + var_B - 2 cov_AB`` from
    :func:`delong_covariance`; ``p = 2 (1 - Phi(|z|))``; interval ``diff -/+ z_{1-alpha/2} SE``
    (pROC's ``roc.test``). With several seeds (``(n_seeds, n_images)`` arrays, rows paired as in
    :func:`paired_bootstrap`, one row broadcasts) it tests the mean over seeds of the AUC difference,
    the contrast ``mean(AUC_A,s) - mean(AUC_B,s)`` of all ``2 n_seeds`` correlated AUCs; one seed
    each gives the textbook test. Zero SE with equal AUCs gives ``z = 0``, ``p = 1``.
    """
    y_bin, a, b = _paired_rows(y_true, scores_a, scores_b, positive_class)
    k = len(a)
    aucs, cov = delong_covariance(y_bin, np.vstack([a, b]), positive_class=1)
    wa = np.r_[np.full(k, 1 / k), np.zeros(k)]
    wb = np.r_[np.zeros(k), np.full(k, 1 / k)]
    var_a, var_b, cov_ab = float(wa @ cov @ wa), float(wb @ cov @ wb), float(wa @ cov @ wb)
    diff = float((wa - wb) @ aucs)
    se = math.sqrt(max(var_a + var_b - 2 * cov_ab, 0.0))
    if se > 0:
        z = diff / se
    else:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return DeLongTest(
        auc_a=float(wa @ aucs),
        auc_b=float(wb @ aucs),
        diff=diff,
        var_a=var_a,
        var_b=var_b,
        cov_ab=cov_ab,
        se=se,
        z=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        low=diff - half,
        high=diff + half,
        alpha=alpha,
        n_seeds=k,
        n_positive=int(y_bin.sum()),
        n_negative=int((1 - y_bin).sum()),
    )


def holm(p_values: Any) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values (family-wise error), same order as the input.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))`` with ``m`` the
    number of finite p-values; NaNs stay NaN and do not count. Reject where adjusted ``p <= alpha``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    q = p[finite]
    m = len(q)
    order = np.argsort(q, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    ranked = np.empty(m)
    ranked[order] = adjusted
    out[finite] = ranked
    return out


_COMPARISON_COLUMNS: tuple[str, ...] = (
    "classifier",
    "target",
    "baseline",
    "metric",
    "n_seeds",
    "n_test",
    "value_target",
    "value_baseline",
    "mean_diff",
    "low",
    "high",
    "p_bootstrap",
    "z_delong",
    "p_delong",
    "low_delong",
    "high_delong",
    "test",
    "p_test",
    "p_holm",
    "n_comparisons",
    "alpha",
    "verdict",
)


def paired_comparisons(
    results: pd.DataFrame,
    load_scores: Callable[[str, str, int], tuple[Any, Any] | None],
    pairs: Sequence[tuple[str, str]],
    *,
    metric: MetricSpec = "roc_auc",
    classifiers: Sequence[str] | None = None,
    test: str = "auto",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    stratified: bool = True,
    resample_seeds: bool = False,
    classifier_col: str = "classifier",
    strategy_col: str = "strategy",
    seed_col: str = "seed",
) -> pd.DataFrame:
    """Paired tests of ``(target, baseline)`` strategies per classifier, Holm-adjusted together.

    For every classifier (``classifiers``, default: all in ``results``, in order) and every pair in
    ``pairs`` whose two strategies both have rows, the seeds present for both (sorted) are compared:
    ``load_scores(classifier, strategy, seed)`` gives that run's ``(y_true, y_score)`` on the test
    set (``None`` skips the seed, with a warning). All runs of a classifier must share ``y_true``.

    One row per comparison (columns in this order):

    * ``classifier``, ``target``, ``baseline``, ``metric``, ``n_seeds``, ``n_test``;
    * ``value_target``, ``value_baseline``, ``mean_diff`` (target - baseline, means over seeds),
      ``low``, ``high`` and ``p_bootstrap`` from :func:`paired_bootstrap` (``n_boot`` replicates,
      ``seed``; every comparison gets the same resamples of the images);
    * ``z_delong``, ``p_delong``, ``low_delong``, ``high_delong``: :func:`delong_test` of the mean
      over the same seeds of the per-seed AUC differences - the estimand of ``mean_diff`` - with the
      DeLong covariance of all the seeds' AUCs (not the AUC of seed-averaged scores, which is a
      different model, an ensemble). Only for ``metric="roc_auc"``, NaN otherwise;
    * ``test`` (``"delong"`` or ``"bootstrap"``: ``test="auto"`` picks DeLong for ROC-AUC), its
      ``p_test``, ``p_holm`` (:func:`holm` over all ``n_comparisons`` rows of this call) and
      ``verdict``: ``"better"`` / ``"worse"`` when ``p_holm < alpha`` (sign of ``mean_diff``), else
      ``"no clear difference"``.

    ``metric``: as in :func:`paired_bootstrap`; a name in :data:`CONFUSION_METRICS` with the suffix
    ``_valthr`` uses each run's ``val_threshold`` from ``results``. When ``results`` has a column
    named ``metric``, its mean over the compared seeds must match the value recomputed from the
    scores (a warning names the run otherwise: wrong scores loaded). The sign is from the ``target``
    side. Raises when a (classifier, strategy, seed) has several rows: filter the table first.
    """
    valthr = isinstance(metric, str) and metric.endswith("_valthr")
    base_metric = metric[: -len("_valthr")] if valthr else metric
    name = _metric_name(base_metric) + ("_valthr" if valthr else "")
    if valthr and "val_threshold" not in results.columns:
        raise KeyError(f"{name} needs the results' val_threshold column")
    if test == "auto":
        test = "delong" if name == "roc_auc" else "bootstrap"
    if test not in ("delong", "bootstrap") or (test == "delong" and name != "roc_auc"):
        raise ValueError(
            f"test must be 'auto', 'bootstrap' or (for roc_auc) 'delong', got {test!r}"
        )
    keys = [classifier_col, strategy_col, seed_col]
    dup = results.duplicated(keys)
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows repeat a ({', '.join(keys)}) combination; filter the table "
            "(notebook, dataset, image size) before comparing."
        )
    runs = results.set_index(keys).sort_index()
    cache: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray] | None] = {}

    def scores_of(clf: str, strategy: str, s: int) -> tuple[np.ndarray, np.ndarray] | None:
        key = (clf, strategy, s)
        if key not in cache:
            loaded = load_scores(clf, strategy, s)
            if loaded is None:
                warnings.warn(
                    f"no scores for {clf}/{strategy}/seed {s}: seed left out", stacklevel=3
                )
                cache[key] = None
            else:
                y, score = loaded
                cache[key] = (np.asarray(y).ravel(), _scores(score))
        return cache[key]

    rows = []
    order = (
        list(dict.fromkeys(results[classifier_col])) if classifiers is None else list(classifiers)
    )
    for clf in order:
        part = results[results[classifier_col] == clf]
        seeds_of = {st: set(g[seed_col].tolist()) for st, g in part.groupby(strategy_col)}
        y_ref: np.ndarray | None = None
        for target, baseline in pairs:
            if target == baseline or target not in seeds_of or baseline not in seeds_of:
                continue
            arms: dict[str, list[np.ndarray]] = {target: [], baseline: []}
            used = []
            for s in sorted(seeds_of[target] & seeds_of[baseline]):
                loaded = [scores_of(clf, st, s) for st in (target, baseline)]
                if any(x is None for x in loaded):
                    continue
                for st, (y, score) in zip((target, baseline), loaded, strict=True):
                    if y_ref is None:
                        y_ref = y
                    if len(y) != len(y_ref) or not np.array_equal(y, y_ref):
                        raise ValueError(
                            f"{clf}/{st}/seed {s}: test labels differ from the other runs"
                        )
                    arms[st].append(score)
                used.append(s)
            if not used:
                continue
            assert y_ref is not None
            thr = {
                st: [float(runs.loc[(clf, st, s), "val_threshold"]) for s in used]
                if valthr
                else 0.5
                for st in (target, baseline)
            }
            boot = paired_bootstrap(
                y_ref,
                np.vstack(arms[target]),
                np.vstack(arms[baseline]),
                base_metric,
                threshold_a=thr[target],
                threshold_b=thr[baseline],
                n_boot=n_boot,
                seed=seed,
                alpha=alpha,
                stratified=stratified,
                resample_seeds=resample_seeds,
            )
            if name in results.columns:
                for st, value in ((target, boot.value_a), (baseline, boot.value_b)):
                    recorded = float(np.mean([runs.loc[(clf, st, s), name] for s in used]))
                    if not math.isclose(recorded, value, abs_tol=1e-6):
                        warnings.warn(
                            f"{clf}/{st}: {name} from the loaded scores is {value:.6f} but the "
                            f"results say {recorded:.6f} (seeds {used}): are these the right scores?",
                            stacklevel=2,
                        )
            nan = float("nan")
            dl = (
                delong_test(y_ref, np.vstack(arms[target]), np.vstack(arms[baseline]), alpha=alpha)
                if name == "roc_auc"
                else None
            )
            rows.append(
                {
                    "classifier": clf,
                    "target": target,
                    "baseline": baseline,
                    "metric": name,
                    "n_seeds": len(used),
                    "n_test": len(y_ref),
                    "value_target": boot.value_a,
                    "value_baseline": boot.value_b,
                    "mean_diff": boot.mean_diff,
                    "low": boot.low,
                    "high": boot.high,
                    "p_bootstrap": boot.p_value,
                    "z_delong": dl.z if dl else nan,
                    "p_delong": dl.p_value if dl else nan,
                    "low_delong": dl.low if dl else nan,
                    "high_delong": dl.high if dl else nan,
                    "test": test,
                    "p_test": dl.p_value if (dl and test == "delong") else boot.p_value,
                }
            )
    out = pd.DataFrame(rows, columns=list(_COMPARISON_COLUMNS[:-4]))
    out["p_holm"] = holm(out["p_test"].to_numpy(dtype=float)) if len(out) else []
    out["n_comparisons"] = len(out)
    out["alpha"] = alpha
    significant = out["p_holm"] < alpha
    out["verdict"] = np.where(
        significant & (out["mean_diff"] > 0),
        "better",
        np.where(significant & (out["mean_diff"] < 0), "worse", "no clear difference"),
    )
    return out[list(_COMPARISON_COLUMNS)]


def _calls(p: np.ndarray, diff: np.ndarray, alpha: float) -> np.ndarray:
    significant = p < alpha
    return np.where(significant & (diff > 0), "better",
                    np.where(significant & (diff < 0), "worse", "no clear difference"))


def holm_calls(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``comparisons`` (rows of :func:`paired_comparisons`, possibly from several calls) as one family.

    Recomputes ``p_holm`` (:func:`holm` over all rows), ``n_comparisons``, ``alpha`` and ``verdict``
    (from ``p_holm``), and adds ``verdict_raw``: the same call from the unadjusted ``p_test``.
    """
    out = comparisons.reset_index(drop=True).copy()
    p = out["p_test"].to_numpy(dtype=float)
    diff = out["mean_diff"].to_numpy(dtype=float)
    out["p_holm"] = holm(p) if len(out) else []
    out["n_comparisons"] = len(out)
    out["alpha"] = alpha
    out["verdict"] = _calls(out["p_holm"].to_numpy(dtype=float), diff, alpha)
    out["verdict_raw"] = _calls(p, diff, alpha)
    return out
