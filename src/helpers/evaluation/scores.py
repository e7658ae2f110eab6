"""Classification metric rows of a binary classifier, and their summaries over seeds.

PNEUMONIA (label 1) is the positive class and ``y_score`` is the model's score for it; a sample
is called positive when ``score >= threshold``. Columns ending in ``_normal`` take NORMAL (label 0,
the minority class) as the positive one. Every row has the keys of :data:`METRIC_COLUMNS`:

* threshold-free: ``roc_auc``, ``pr_auc`` (average precision), ``pr_auc_normal``;
* at threshold 0.5: :data:`THRESHOLDED_COLUMNS` (precision, recall, F1 of each class, macro F1,
  balanced accuracy, accuracy, confusion counts);
* the same at the validation set's Youden threshold (suffix ``_valthr``), with ``val_threshold``
  and ``val_roc_auc`` (NaN without validation data); ``n_test``, ``n_test_positive``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "THRESHOLD_FREE_COLUMNS", "THRESHOLDED_COLUMNS", "METRIC_COLUMNS", "DEFAULT_SUMMARY_METRICS", "binary_labels",
    "score_vector", "safe_roc_auc", "thresholded_metrics", "youden_threshold", "classification_row", "summarise",
    "format_summary",
]

THRESHOLD_FREE_COLUMNS: tuple[str, ...] = ("roc_auc", "pr_auc", "pr_auc_normal")
THRESHOLDED_COLUMNS: tuple[str, ...] = (
    "precision", "recall", "f1", "precision_normal", "recall_normal", "f1_normal",
    "macro_f1", "balanced_accuracy", "accuracy", "tn", "fp", "fn", "tp",
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
DEFAULT_SUMMARY_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "f1", "f1_normal", "macro_f1", "balanced_accuracy")


def binary_labels(y_true: Any, positive_class: int) -> np.ndarray:
    """1 where ``y_true`` is ``positive_class``, else 0 (flattened)."""
    return (np.asarray(y_true).ravel() == positive_class).astype(int)


def score_vector(y_score: Any) -> np.ndarray:
    """One float score per sample ((N,) or (N, 1) input)."""
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


def thresholded_metrics(y_bin: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """:data:`THRESHOLDED_COLUMNS` at ``score >= threshold`` (``recall_normal`` = specificity)."""
    if not np.isfinite(threshold):
        return {c: float("nan") for c in THRESHOLDED_COLUMNS}
    y_pred = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_bin, y_pred, labels=[0, 1]).ravel()
    precision, recall, f1, _ = precision_recall_fscore_support(y_bin, y_pred, labels=[0, 1], zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-class y_true: sklearn warns, values stay defined
        balanced = float(balanced_accuracy_score(y_bin, y_pred))
    return {
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "f1": float(f1[1]),
        "precision_normal": float(precision[0]),
        "recall_normal": float(recall[0]),
        "f1_normal": float(f1[0]),
        "macro_f1": float(np.mean(f1)),
        "balanced_accuracy": balanced,
        "accuracy": float(accuracy_score(y_bin, y_pred)),
        **{k: float(v) for k, v in zip(("tn", "fp", "fn", "tp"), (tn, fp, fn, tp), strict=True)},
    }


def youden_threshold(y_bin: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising Youden's J = TPR - FPR; ties go to the highest threshold.

    NaN with a warning when ``y_bin`` holds a single class.
    """
    if len(np.unique(y_bin)) < 2:
        warnings.warn("validation labels hold a single class; no threshold chosen (NaN).", stacklevel=3)
        return float("nan")
    fpr, tpr, thr = roc_curve(y_bin, scores)
    finite = np.isfinite(thr)
    return float(thr[finite][int(np.argmax((tpr - fpr)[finite]))])


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

    With ``y_true_val`` / ``y_score_val`` the ``*_valthr`` columns use the Youden threshold chosen
    on val; otherwise they are NaN. ``class_names`` only words the warnings.
    """
    y_bin, scores = binary_labels(y_true, positive_class), score_vector(y_score)
    if len(y_bin) != len(scores):
        raise ValueError(f"{len(y_bin)} labels but {len(scores)} scores")
    row: dict[str, float] = {c: float("nan") for c in METRIC_COLUMNS}
    row["roc_auc"] = safe_roc_auc(y_bin, scores, f"test labels ({class_names[positive_class]} positive)")
    row["pr_auc"] = float(average_precision_score(y_bin, scores)) if y_bin.any() else float("nan")
    # The other class as positive, ranked by -score (the order of 1 - score without rounding ties).
    row["pr_auc_normal"] = float(average_precision_score(1 - y_bin, -scores)) if (y_bin == 0).any() else float("nan")
    row.update(thresholded_metrics(y_bin, scores, 0.5))
    if (y_true_val is None) != (y_score_val is None):
        raise ValueError("pass both y_true_val and y_score_val, or neither")
    if y_true_val is not None:
        yv, sv = binary_labels(y_true_val, positive_class), score_vector(y_score_val)
        row["val_roc_auc"] = safe_roc_auc(yv, sv, "validation labels")
        row["val_threshold"] = thr = youden_threshold(yv, sv)
        row.update({f"{k}_valthr": v for k, v in thresholded_metrics(y_bin, scores, thr).items()})
    row["n_test"] = float(len(y_bin))
    row["n_test_positive"] = float(y_bin.sum())
    return row


def summarise(
    table: pd.DataFrame,
    by: str | Sequence[str] = ("classifier", "strategy"),
    metrics: Sequence[str] = DEFAULT_SUMMARY_METRICS,
) -> pd.DataFrame:
    """Mean, sample SD (ddof=1) and number of rows (seeds) of each metric per group.

    Columns: ``by``, then ``<metric>_mean``, ``<metric>_sd`` per metric, then ``n``.
    """
    by = [by] if isinstance(by, str) else list(by)
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
    out = summary[[c for c in summary.columns if c != "n" and not c.endswith(("_mean", "_sd"))]].copy()
    for m in metrics:
        out[m] = [
            "nan" if not np.isfinite(mu) else f"{mu:.{digits}f}" if not np.isfinite(sd) else f"{mu:.{digits}f} ± {sd:.{digits}f}"
            for mu, sd in zip(summary[f"{m}_mean"], summary[f"{m}_sd"], strict=True)
        ]
    out["n"] = summary["n"]
    return out
