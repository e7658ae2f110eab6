"""Chapter 7's evaluation: AUROC per finding, F1 thresholds chosen on val, accuracies, the GAN effect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def per_finding_auroc(y_true: Any, scores: Any) -> np.ndarray:
    """Exact ROC-AUC per column (scikit-learn); NaN where the column holds one class only."""
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be the same (N, C) shape")
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y) and np.all(np.isfinite(s[:, j])):
            out[j] = roc_auc_score(y[:, j], s[:, j])
    return out


def mean_auroc(y_true: Any, scores: Any) -> float:
    """Mean of :func:`per_finding_auroc` over the findings with both classes (NaN when none has)."""
    per = per_finding_auroc(y_true, scores)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")


def accuracies(y: np.ndarray, scores: np.ndarray, threshold: Any = 0.5) -> tuple[float, float]:
    pred = np.asarray(scores) >= np.asarray(threshold)
    hit = pred == (np.asarray(y) == 1)
    return float(hit.mean()), float(hit.all(axis=1).mean())


def f1_thresholds(y_val: Any, val_scores: Any, default: float = 0.5) -> np.ndarray:
    """Per finding, the score threshold with the highest F1 on val (``default`` where val has one class)."""
    y, s = np.asarray(y_val), np.asarray(val_scores, dtype=float)
    out = np.full(y.shape[1], float(default))
    for j in range(y.shape[1]):
        if not 0 < y[:, j].sum() < len(y):
            continue
        precision, recall, thresholds = precision_recall_curve(y[:, j], s[:, j])
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
        out[j] = float(thresholds[int(np.argmax(f1))])
    return out


def finding_metrics(y_true: Any, scores: Any, thresholds: Any, names: Sequence[str]) -> pd.DataFrame:
    """One row per finding: positives, prevalence, AUROC, PR-AUC (NaN with one class), F1/precision/recall at its threshold."""
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=float), (y.shape[1],))
    auroc = per_finding_auroc(y, s)
    rows = []
    for j, name in enumerate(names):
        yj, pred = y[:, j] == 1, s[:, j] >= thr[j]
        tp, fp, fn = int((yj & pred).sum()), int((~yj & pred).sum()), int((yj & ~pred).sum())
        both = 0 < yj.sum() < len(yj)
        rows.append({
            "finding": name, "n_positive": int(yj.sum()), "prevalence": float(yj.mean()) if len(yj) else np.nan,
            "auroc": float(auroc[j]), "pr_auc": float(average_precision_score(yj, s[:, j])) if both else np.nan,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else np.nan,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan, "threshold": float(thr[j]),
        })
    return pd.DataFrame(rows)


def accuracy_summary(y_true: Any, scores: Any, threshold: Any = 0.5) -> dict[str, float]:
    """Element-wise and exact-match accuracy at ``threshold``, next to the all-negative predictor's.

    Keys: ``elementwise_accuracy``, ``exact_match``, ``all_negative_elementwise``,
    ``all_negative_exact_match``, ``mean_prevalence``.
    """
    y = np.asarray(y_true)
    elem, exact = accuracies(y, np.asarray(scores, dtype=float), threshold)
    neg_elem, neg_exact = accuracies(y, np.zeros(y.shape), 0.5)
    return {"elementwise_accuracy": elem, "exact_match": exact, "all_negative_elementwise": neg_elem,
            "all_negative_exact_match": neg_exact, "mean_prevalence": float(y.mean())}


def gan_effect(
    y_test: Any, scores_gan: Any, scores_original: Any, names: Sequence[str], *, metric: str = "roc_auc",
    n_boot: int = 2000, seed: int = 0, alpha: float = 0.05, resample_seeds: bool | None = None,
) -> pd.DataFrame:
    """Per finding: ``metric`` with GAN images minus without, a paired bootstrap interval and Holm's p.

    ``scores_*``: ``(n_seeds, N, C)`` test scores of the two arms, paired by seed;
    :func:`helpers.evaluation.intervals.paired_bootstrap` per finding (also resampling seeds when there are
    several), NaN where the test split has one class; ``verdict`` reads ``p_holm`` at ``alpha``.
    """
    from helpers.evaluation.comparisons import holm
    from helpers.evaluation.intervals import BootstrapSettings, paired_bootstrap

    y = np.asarray(y_test)
    a, b = np.asarray(scores_gan, dtype=float), np.asarray(scores_original, dtype=float)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if resample_seeds is None:
        resample_seeds = len(a) > 1
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {"finding": name, "n_positive": int(y[:, j].sum()), "metric": metric}
        if 0 < y[:, j].sum() < len(y):
            res = paired_bootstrap(y[:, j], a[:, :, j], b[:, :, j], metric, settings=BootstrapSettings(
                n_boot=n_boot, seed=seed, alpha=alpha, resample_seeds=bool(resample_seeds)))
            row.update(value_gan=res.value_a, value_original=res.value_b, mean_diff=res.mean_diff, low=res.low,
                       high=res.high, p_value=res.p_value, n_seeds=res.n_seeds)
        else:
            row.update(value_gan=np.nan, value_original=np.nan, mean_diff=np.nan, low=np.nan, high=np.nan,
                       p_value=np.nan, n_seeds=len(a))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy(float))

    def verdict(r: pd.Series) -> str:
        if not np.isfinite(r["p_holm"]):
            return "not tested (one class in test)"
        if r["p_holm"] <= alpha:
            return "higher with GAN images" if r["mean_diff"] > 0 else "lower with GAN images"
        return "no difference shown"

    table["verdict"] = table.apply(verdict, axis=1)
    return table
