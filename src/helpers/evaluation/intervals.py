"""Bootstrap intervals over test images (and optionally seeds) for one arm or a paired difference.

Both hold the trained models fixed: they measure how much the test set's finite size moves a
metric. A replicate draws the test images with replacement (within each class when stratified),
the same draw for every arm and seed; ``resample_seeds`` also draws the seeds (a hierarchical
bootstrap: seeds, then images). Ranking and confusion metrics are computed in closed form for all
replicates at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.evaluation.scores import binary_labels

__all__ = [
    "RANKING_METRICS", "CONFUSION_METRICS", "MetricSpec", "metric_name", "score_rows", "paired_rows",
    "BootstrapSettings", "PairedBootstrap", "paired_bootstrap", "bootstrap_interval",
]

#: Score-ranking metrics the bootstrap computes in closed form.
RANKING_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "pr_auc_normal")


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    return np.divide(num, den, out=out, where=den > 0)


_CONFUSION_FORMULAS: dict[str, Callable[..., np.ndarray]] = {
    "precision": lambda tn, fp, fn, tp: _div(tp, tp + fp),
    "recall": lambda tn, fp, fn, tp: _div(tp, tp + fn),
    "f1": lambda tn, fp, fn, tp: _div(2 * tp, 2 * tp + fp + fn),
    "precision_normal": lambda tn, fp, fn, tp: _div(tn, tn + fn),
    "recall_normal": lambda tn, fp, fn, tp: _div(tn, tn + fp),
    "f1_normal": lambda tn, fp, fn, tp: _div(2 * tn, 2 * tn + fn + fp),
    "macro_f1": lambda tn, fp, fn, tp: (_div(2 * tp, 2 * tp + fp + fn) + _div(2 * tn, 2 * tn + fn + fp)) / 2,
    "balanced_accuracy": lambda tn, fp, fn, tp: (_div(tp, tp + fn) + _div(tn, tn + fp)) / 2,
    "accuracy": lambda tn, fp, fn, tp: _div(tp + tn, tn + fp + fn + tp),
}
#: Thresholded metrics the bootstrap computes from resampled confusion counts.
CONFUSION_METRICS: tuple[str, ...] = tuple(_CONFUSION_FORMULAS)

MetricSpec = str | Callable[[np.ndarray, np.ndarray], float]


def metric_name(metric: MetricSpec) -> str:
    """The metric's name; raises for an unknown metric name."""
    if isinstance(metric, str):
        if metric not in RANKING_METRICS and metric not in CONFUSION_METRICS:
            raise ValueError(
                f"unknown metric {metric!r}: use one of {RANKING_METRICS + CONFUSION_METRICS} "
                "or a function f(y_true, y_score)"
            )
        return metric
    return getattr(metric, "__name__", "metric")


def _weighted_ranking(name: str, y_bin: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC-AUC or average precision of one score vector on each resample (``counts``: (B, n) multiplicities).

    Equal to scikit-learn's on the resampled images (ties count 1/2 in ROC-AUC).
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
    return (pos * _div(tp, tp + fp)).sum(axis=1) / n_pos


def _metric_matrix(
    metric: MetricSpec, y_bin: np.ndarray, rows: np.ndarray, thresholds: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """``metric`` of each score row (R, n) on each resample (B, n): (B, R); NaN where a class is missing."""
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
            tn, fp, fn, tp = (counts @ ((y_bin == a) & (pred == b)).astype(float)
                              for a, b in ((0, False), (0, True), (1, False), (1, True)))
            out[valid, r] = formula(tn, fp, fn, tp)
    else:
        for b, weights in zip(np.flatnonzero(valid), counts, strict=True):
            idx = np.repeat(np.arange(len(y_bin)), weights.astype(np.int64))
            for r, scores in enumerate(rows):
                out[b, r] = metric(y_bin[idx], scores[idx])
    return out


def _resample_counts(rng: np.random.Generator, y_bin: np.ndarray, n_boot: int, stratified: bool) -> np.ndarray:
    """(n_boot, n) multiplicities of a bootstrap over images (within each class when stratified)."""
    counts = np.zeros((n_boot, len(y_bin)), dtype=np.int64)
    groups = (np.flatnonzero(y_bin == 1), np.flatnonzero(y_bin == 0)) if stratified else (np.arange(len(y_bin)),)
    for members in groups:
        k = len(members)
        draws = rng.integers(0, k, size=(n_boot, k)) + k * np.arange(n_boot)[:, None]
        counts[:, members] = np.bincount(draws.ravel(), minlength=n_boot * k).reshape(n_boot, k)
    return counts


def _replicates(
    y_bin: np.ndarray, per_seed: Callable[[np.ndarray], np.ndarray], settings: BootstrapSettings
) -> np.ndarray:
    """Finite means over seeds of ``per_seed(counts)`` ((B, k)) for ``n_boot`` resamples, in chunks."""
    n_boot, rng = settings.n_boot, np.random.default_rng(settings.seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(len(y_bin), 1)))
    means = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        values = per_seed(_resample_counts(rng, y_bin, size, settings.stratified))
        if settings.resample_seeds:
            k = values.shape[1]
            values = np.take_along_axis(values, rng.integers(0, k, size=(size, k)), axis=1)
        means.append(values.mean(axis=1))
    d = np.concatenate(means)
    return d[np.isfinite(d)]


def score_rows(scores: Any, n: int, what: str) -> np.ndarray:
    """``scores`` as finite (n_seeds, n) rows (one vector is one row)."""
    rows = np.asarray(scores, dtype=float)
    if rows.ndim == 1:
        rows = rows[None, :]
    elif rows.ndim == 3 and rows.shape[2] == 1:
        rows = rows[:, :, 0]
    if rows.ndim != 2 or rows.shape[1] != n:
        raise ValueError(f"{what} must be (n_seeds, {n}) scores or one vector of {n}, got {rows.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{what} holds non-finite scores")
    return rows


def paired_rows(y_true: Any, scores_a: Any, scores_b: Any, positive_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels and the two arms' score rows, a single row broadcast against several."""
    y_bin = binary_labels(y_true, positive_class)
    a, b = score_rows(scores_a, len(y_bin), "scores_a"), score_rows(scores_b, len(y_bin), "scores_b")
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
        raise ValueError(f"{what} must be one threshold or one per seed ({k}), got {np.shape(value)}")
    return arr


@dataclass(frozen=True)
class BootstrapSettings:
    """``n_boot`` replicates seeded by ``seed``; a ``1 - alpha`` interval; ``stratified``: resample
    within each class; ``resample_seeds``: also draw the seeds (hierarchical bootstrap)."""

    n_boot: int = 2000
    seed: int = 0
    alpha: float = 0.05
    stratified: bool = True
    resample_seeds: bool = False


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
    positive_class: int = 1,
    settings: BootstrapSettings = BootstrapSettings(),
) -> PairedBootstrap:
    """Mean over seeds of ``metric(A) - metric(B)`` with a bootstrap over test images.

    ``scores_a`` / ``scores_b``: ``(n_seeds, n_images)`` (or one vector), row ``s`` of A paired with
    row ``s`` of B; one row broadcasts. Interval: the ``alpha/2`` and ``1 - alpha/2`` quantiles of
    the replicate differences; ``p_value``: ``2 * min(#(d <= 0) + 1, #(d >= 0) + 1) / (n_boot + 1)``
    capped at 1. ``metric``: a name in :data:`RANKING_METRICS` or :data:`CONFUSION_METRICS` (at
    ``threshold_a`` / ``threshold_b``, one or one per seed) or any ``f(y_true, y_score)`` (slow;
    NaN replicates are left out of ``n_boot``).
    """
    name = metric_name(metric)
    y_bin, a, b = paired_rows(y_true, scores_a, scores_b, positive_class)
    k, n = a.shape
    thresholds = np.r_[_per_seed(threshold_a, k, "threshold_a"), _per_seed(threshold_b, k, "threshold_b")]
    rows = np.vstack([a, b])
    # Evaluate each distinct (scores, threshold) once: deterministic models repeat their rows.
    seen: dict[bytes, int] = {}
    where = [seen.setdefault(r.tobytes() + t.tobytes(), len(seen)) for r, t in zip(rows, thresholds, strict=True)]
    uniq = [where.index(j) for j in range(len(seen))]

    def values(counts: np.ndarray) -> np.ndarray:
        return _metric_matrix(metric, y_bin, rows[uniq], thresholds[uniq], counts)[:, where]

    observed = values(np.ones((1, n), dtype=np.int64))[0]
    seed_diffs = observed[:k] - observed[k:]
    d = _replicates(y_bin, lambda c: (v := values(c))[:, :k] - v[:, k:], settings)
    if len(d) == 0:
        raise ValueError(f"no bootstrap replicate gave a finite {name}")
    alpha = settings.alpha
    low, high = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    tail = min(np.sum(d <= 0), np.sum(d >= 0)) + 1
    return PairedBootstrap(
        metric=name, value_a=float(observed[:k].mean()), value_b=float(observed[k:].mean()),
        mean_diff=float(seed_diffs.mean()), low=float(low), high=float(high),
        p_value=float(min(1.0, 2 * tail / (len(d) + 1))), alpha=alpha, n_boot=len(d), n_seeds=k,
        n_images=n, seed_diffs=tuple(float(x) for x in seed_diffs),
    )


def bootstrap_interval(
    y_true: Any,
    scores: Any,
    metric: MetricSpec = "roc_auc",
    *,
    threshold: float | Sequence[float] = 0.5,
    positive_class: int = 1,
    settings: BootstrapSettings = BootstrapSettings(),
) -> tuple[float, float, float]:
    """``(value, low, high)``: the mean over seeds of ``metric`` and its bootstrap interval.

    ``scores``: ``(n_seeds, n_images)`` (or one vector). With ``resample_seeds`` the interval
    widens when the seeds disagree; with one seed it equals the image bootstrap.
    """
    y_bin = binary_labels(y_true, positive_class)
    rows = score_rows(scores, len(y_bin), "scores")
    thresholds = _per_seed(threshold, len(rows), "threshold")
    observed = _metric_matrix(metric, y_bin, rows, thresholds, np.ones((1, len(y_bin)), dtype=np.int64))[0]
    d = _replicates(y_bin, lambda c: _metric_matrix(metric, y_bin, rows, thresholds, c), settings)
    low, high = np.quantile(d, [settings.alpha / 2, 1 - settings.alpha / 2])
    return float(observed.mean()), float(low), float(high)
