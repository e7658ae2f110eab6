"""Classification metric rows, seed summaries, confidence intervals and an exact-AUC callback.

Conventions (the seed's): PNEUMONIA (label 1) is the positive class and ``y_score`` is the
model's score for the positive class (a probability, higher = more PNEUMONIA). A sample is
called positive when ``score >= threshold``.

Every row has the same keys in the same order (:data:`METRIC_COLUMNS`), so rows from different
notebooks stack into one results table:

* threshold-free: ``roc_auc``, ``pr_auc`` (average precision) - lead with these (FINDINGS
  pitfall 2: the official test split is shifted away from train/val);
* at threshold 0.5: ``precision``, ``recall``, ``f1`` (positive class), ``f1_normal`` (F1 of the
  negative class), ``macro_f1``, ``balanced_accuracy``, ``accuracy``, ``tn``, ``fp``, ``fn``,
  ``tp``;
* the same thresholded metrics at a threshold chosen on the validation set (suffix ``_valthr``)
  plus ``val_threshold`` and ``val_roc_auc``. The threshold maximises Youden's J
  (TPR - FPR) on val; it is one of the val scores and ties go to the highest such threshold.
  Without validation data these columns are NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
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
    "classification_row",
    "thresholded_metrics",
    "youden_threshold",
    "safe_roc_auc",
    "summarise",
    "format_summary",
    "bootstrap_ci",
    "paired_difference",
    "ValAUCCallback",
]

THRESHOLD_FREE_COLUMNS: tuple[str, ...] = ("roc_auc", "pr_auc")
THRESHOLDED_COLUMNS: tuple[str, ...] = (
    "precision",
    "recall",
    "f1",
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
    """Precision, recall, F1 (both classes), macro F1, balanced accuracy, accuracy, confusion counts.

    ``y_bin`` is 1 for the positive class; a sample is predicted positive when ``score >= threshold``.
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

    ``y_score`` is the score of ``positive_class`` (PNEUMONIA by default). ``f1_normal`` is the F1 of
    the other class. With ``y_true_val``/``y_score_val`` the ``*_valthr`` columns use the Youden
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


def bootstrap_ci(
    y_true: Any,
    y_score: Any,
    metric: Callable[[np.ndarray, np.ndarray], float] = roc_auc_score,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    positive_class: int = 1,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y_true, y_score)`` on one test set.

    Resampling is stratified: positives and negatives are drawn with replacement separately, so every
    resample keeps the class counts (and ROC-AUC stays defined). Seeded with ``seed``.
    """
    y_bin = _binary(y_true, positive_class)
    scores = _scores(y_score)
    pos, neg = np.flatnonzero(y_bin == 1), np.flatnonzero(y_bin == 0)
    if len(pos) == 0 or len(neg) == 0:
        warnings.warn("single-class y_true: no bootstrap interval (NaN, NaN).", stacklevel=2)
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values[b] = metric(y_bin[idx], scores[idx])
    low, high = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


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


class ValAUCCallback(keras.callbacks.Callback):
    """Exact validation ROC-AUC (scikit-learn) each epoch, best-weight restore and early stopping.

    Why: ``keras.metrics.AUC`` (200 thresholds) read exactly 0.500 for several epochs with batch-
    normalised CNNs whose outputs were all > 0.995 (FINDINGS pitfall 1), so early stopping on it
    kept epoch 1. This callback predicts ``x_val`` at each epoch end, writes
    ``logs["val_auc_exact"]`` (History and later callbacks see it), keeps the best weights in
    memory, optionally writes them atomically to ``checkpoint_path`` (``*.weights.h5`` -> weights,
    ``*.keras`` -> whole model), stops after ``patience`` epochs without an improvement larger than
    ``min_delta`` (``patience=None``: never stops) and restores the best weights at train end.

    After training: ``best_auc``, ``best_epoch`` (0-based), ``best_weights``, ``aucs`` (per
    epoch), ``stopped_epoch`` (None when training ran to the end).
    """

    def __init__(
        self,
        x_val: Any,
        y_val: Any,
        *,
        batch_size: int = 256,
        patience: int | None = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        checkpoint_path: str | Path | None = None,
        positive_class: int = 1,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.x_val = x_val
        self.y_val = _binary(y_val, positive_class)
        if len(np.unique(self.y_val)) < 2:
            raise ValueError(
                "ValAUCCallback needs both classes in y_val (ROC-AUC is undefined otherwise)"
            )
        self.batch_size = batch_size
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.positive_class = positive_class
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.best_auc = -np.inf
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.aucs: list[float] = []
        self.stopped_epoch: int | None = None
        self._wait = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _val_scores(self) -> np.ndarray:
        pred = np.asarray(self.model.predict(self.x_val, batch_size=self.batch_size, verbose=0))
        if pred.ndim == 2 and pred.shape[1] > 1:  # softmax output: take the positive column
            pred = pred[:, self.positive_class]
        return pred.reshape(len(self.y_val), -1)[:, 0].astype(float)

    def _save_checkpoint(self) -> None:
        from helpers.artifacts import atomic_write

        path = self.checkpoint_path
        assert path is not None
        if path.name.endswith(".weights.h5"):
            with atomic_write(path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
        elif path.suffix == ".keras":
            with atomic_write(path, suffix=".keras") as tmp:
                self.model.save(tmp)
        else:
            raise ValueError(f"checkpoint_path must end in .weights.h5 or .keras, got {path.name}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self._val_scores()
        auc = (
            float(roc_auc_score(self.y_val, scores))
            if np.all(np.isfinite(scores))
            else float("nan")
        )
        self.aucs.append(auc)
        if logs is not None:
            logs["val_auc_exact"] = auc
        improved = np.isfinite(auc) and (
            self.best_epoch is None or auc > self.best_auc + self.min_delta
        )
        if improved:
            self.best_auc, self.best_epoch, self._wait = auc, epoch, 0
            self.best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]
            if self.checkpoint_path is not None:
                self._save_checkpoint()
        else:
            self._wait += 1
        if self.verbose:
            mark = " (best)" if improved else ""
            print(f"epoch {epoch + 1}: val_auc_exact = {auc:.4f}{mark}")
        if self.patience is not None and self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(
                    f"restored weights of epoch {self.best_epoch + 1} (val_auc_exact {self.best_auc:.4f})"
                )
