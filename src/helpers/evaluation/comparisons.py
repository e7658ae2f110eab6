"""Paired comparisons of two strategies on the same test images: DeLong, Holm and a results table.

* :func:`paired_difference`: t-interval over seeds of a metric's difference (from results rows);
* :func:`delong_test` (with :func:`delong_covariance`): DeLong's test for correlated ROC-AUCs,
  also for the mean over seeds;
* :func:`holm`: Holm's step-down adjustment;
* :func:`paired_comparisons`: bootstrap (:func:`helpers.evaluation.intervals.paired_bootstrap`),
  DeLong and Holm for a results table, from each run's saved scores.
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

from helpers.evaluation.intervals import (
    BootstrapSettings,
    MetricSpec,
    metric_name,
    paired_bootstrap,
    paired_rows,
    score_rows,
)
from helpers.evaluation.scores import binary_labels, score_vector

__all__ = [
    "paired_difference", "delong_covariance", "DeLongTest", "delong_test", "holm", "ComparisonSettings",
    "paired_comparisons", "holm_calls",
]


def paired_difference(
    table: pd.DataFrame,
    metric: str,
    strategy_a: str,
    strategy_b: str,
    by: str | Sequence[str] = "classifier",
) -> pd.DataFrame:
    """Mean of ``metric(a) - metric(b)`` over matching seeds, per group, with a 95% t-interval.

    One row per group: ``by``, ``metric``, ``strategy_a``, ``strategy_b``, ``mean_diff``, ``low``,
    ``high``, ``n_pairs`` and ``text`` ("-0.012 [-0.030, 0.006]"); the interval is NaN with fewer
    than two pairs. Raises when a (group, seed, strategy) occurs twice.
    """
    by = [by] if isinstance(by, str) else list(by)
    sub = table[table["strategy"].isin([strategy_a, strategy_b])]
    keys = [*by, "seed", "strategy"]
    dup = sub.duplicated(keys)
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows repeat a ({', '.join(keys)}) combination; filter the table or add "
            "the distinguishing column (dataset, image_size, ...) to `by`."
        )
    wide = sub.pivot_table(index=[*by, "seed"], columns="strategy", values=metric, aggfunc="first")
    rows = []
    for key, part in wide.groupby(level=list(range(len(by))), sort=False) if len(wide) else []:
        has_both = strategy_a in part and strategy_b in part
        diff = (part[strategy_a] - part[strategy_b]).dropna().to_numpy(dtype=float) if has_both else np.array([])
        n = len(diff)
        mean = float(diff.mean()) if n else float("nan")
        half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n)) if n >= 2 else float("nan")
        rows.append({
            **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
            "metric": metric, "strategy_a": strategy_a, "strategy_b": strategy_b, "mean_diff": mean,
            "low": mean - half, "high": mean + half, "n_pairs": n,
            "text": f"{mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}]",
        })
    columns = [*by, "metric", "strategy_a", "strategy_b", "mean_diff", "low", "high", "n_pairs", "text"]
    return pd.DataFrame(rows, columns=columns)


def delong_covariance(y_true: Any, scores: Any, *, positive_class: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUCs of ``k`` score rows on the same images and DeLong's ``(k, k)`` covariance of them.

    DeLong, DeLong & Clarke-Pearson (1988) with midranks (Sun & Xu 2014): ``S10 / m + S01 / n`` with
    ``S10``, ``S01`` the sample covariances of the positives' and negatives' placement values.
    Needs at least two images of each class.
    """
    y_bin = binary_labels(y_true, positive_class)
    rows = score_rows(scores, len(y_bin), "scores")
    pos, neg = rows[:, y_bin == 1], rows[:, y_bin == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong needs two or more images of each class (got {m} positive, {n} negative)")
    rank_pos, rank_neg = stats.rankdata(pos, axis=1), stats.rankdata(neg, axis=1)
    rank_all = stats.rankdata(np.hstack([pos, neg]), axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n  # per positive: share of negatives below it
    v01 = 1 - (rank_all[:, m:] - rank_neg) / m  # per negative: share of positives above it
    return aucs, np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


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
    y_true: Any, scores_a: Any, scores_b: Any, *, alpha: float = 0.05, positive_class: int = 1
) -> DeLongTest:
    """DeLong's two-sided test that two correlated ROC-AUCs (same images) are equal.

    ``z = (AUC_A - AUC_B) / SE``, ``SE² = var_A + var_B - 2 cov_AB``; interval ``diff ∓ z_{1-alpha/2} SE``.
    With ``(n_seeds, n_images)`` rows it tests the mean over seeds of the AUC difference. Zero SE
    with equal AUCs gives ``z = 0``, ``p = 1``.
    """
    y_bin, a, b = paired_rows(y_true, scores_a, scores_b, positive_class)
    k = len(a)
    aucs, cov = delong_covariance(y_bin, np.vstack([a, b]), positive_class=1)
    wa, wb = np.r_[np.full(k, 1 / k), np.zeros(k)], np.r_[np.zeros(k), np.full(k, 1 / k)]
    var_a, var_b, cov_ab = float(wa @ cov @ wa), float(wb @ cov @ wb), float(wa @ cov @ wb)
    diff = float((wa - wb) @ aucs)
    se = math.sqrt(max(var_a + var_b - 2 * cov_ab, 0.0))
    z = diff / se if se > 0 else 0.0 if diff == 0 else math.copysign(math.inf, diff)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    return DeLongTest(
        auc_a=float(wa @ aucs), auc_b=float(wb @ aucs), diff=diff, var_a=var_a, var_b=var_b, cov_ab=cov_ab,
        se=se, z=z, p_value=float(2 * stats.norm.sf(abs(z))), low=diff - half, high=diff + half, alpha=alpha,
        n_seeds=k, n_positive=int(y_bin.sum()), n_negative=int((1 - y_bin).sum()),
    )


def holm(p_values: Any) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in input order; NaNs stay NaN and do not count."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    q = p[finite]
    m = len(q)
    order = np.argsort(q, kind="stable")
    ranked = np.empty(m)
    ranked[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    out[finite] = ranked
    return out


_COMPARISON_COLUMNS: tuple[str, ...] = (
    "classifier", "target", "baseline", "metric", "n_seeds", "n_test", "value_target", "value_baseline",
    "mean_diff", "low", "high", "p_bootstrap", "z_delong", "p_delong", "low_delong", "high_delong",
    "test", "p_test", "p_holm", "n_comparisons", "alpha", "verdict",
)


@dataclass(frozen=True)
class ComparisonSettings:
    """Settings of :func:`paired_comparisons`.

    ``metric``: as in :func:`helpers.evaluation.intervals.paired_bootstrap`, or a confusion metric
    with the suffix ``_valthr`` (each run's ``val_threshold``); ``classifiers``: default all, in
    order; ``test``: ``"auto"`` (DeLong for ROC-AUC), ``"delong"`` or ``"bootstrap"``; then the
    bootstrap's ``n_boot``, ``seed``, ``alpha`` (also the verdicts'), ``stratified``, ``resample_seeds``.
    """

    metric: MetricSpec = "roc_auc"
    classifiers: Sequence[str] | None = None
    test: str = "auto"
    n_boot: int = 2000
    seed: int = 0
    alpha: float = 0.05
    stratified: bool = True
    resample_seeds: bool = False


def _calls(p: np.ndarray, diff: np.ndarray, alpha: float) -> np.ndarray:
    significant = p < alpha
    return np.where(significant & (diff > 0), "better",
                    np.where(significant & (diff < 0), "worse", "no clear difference"))


def _name_and_test(results: pd.DataFrame, s: ComparisonSettings) -> tuple[str, str, MetricSpec, bool]:
    valthr = isinstance(s.metric, str) and s.metric.endswith("_valthr")
    base_metric = s.metric[: -len("_valthr")] if valthr else s.metric
    name = metric_name(base_metric) + ("_valthr" if valthr else "")
    if valthr and "val_threshold" not in results.columns:
        raise KeyError(f"{name} needs the results' val_threshold column")
    test = ("delong" if name == "roc_auc" else "bootstrap") if s.test == "auto" else s.test
    if test not in ("delong", "bootstrap") or (test == "delong" and name != "roc_auc"):
        raise ValueError(f"test must be 'auto', 'bootstrap' or (for roc_auc) 'delong', got {test!r}")
    return name, test, base_metric, valthr


def _cached_loader(load_scores: Callable[[str, str, int], tuple[Any, Any] | None]):
    cache: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray] | None] = {}

    def scores_of(clf: str, strategy: str, s: int) -> tuple[np.ndarray, np.ndarray] | None:
        key = (clf, strategy, s)
        if key not in cache:
            loaded = load_scores(clf, strategy, s)
            if loaded is None:
                warnings.warn(f"no scores for {clf}/{strategy}/seed {s}: seed left out", stacklevel=4)
            cache[key] = None if loaded is None else (np.asarray(loaded[0]).ravel(), score_vector(loaded[1]))
        return cache[key]

    return scores_of


def _check_recorded(runs: pd.DataFrame, name: str, clf: str, used: list[int], values: dict[str, float]) -> None:
    """Warn when the results' recorded ``name`` differs from the value recomputed from the scores."""
    for st, value in values.items():
        recorded = float(np.mean([runs.loc[(clf, st, s), name] for s in used]))
        if not math.isclose(recorded, value, abs_tol=1e-6):
            warnings.warn(f"{clf}/{st}: {name} from the loaded scores is {value:.6f} but the results say "
                          f"{recorded:.6f} (seeds {used}): are these the right scores?", stacklevel=3)


def _arms(scores_of, clf: str, arms: tuple[str, str], seeds: list[int], y_ref: np.ndarray | None):
    """(y_ref, target rows, baseline rows, seeds used): the seeds whose two runs have scores, checked
    to share the test labels ``y_ref`` (set from the first run when None)."""
    rows: dict[str, list[np.ndarray]] = {st: [] for st in arms}
    used = []
    for seed in seeds:
        loaded = [scores_of(clf, st, seed) for st in arms]
        if any(x is None for x in loaded):
            continue
        for st, (y, score) in zip(arms, loaded, strict=True):
            y_ref = y if y_ref is None else y_ref
            if len(y) != len(y_ref) or not np.array_equal(y, y_ref):
                raise ValueError(f"{clf}/{st}/seed {seed}: test labels differ from the other runs")
            rows[st].append(score)
        used.append(seed)
    if not used:
        return y_ref, None, None, used
    return y_ref, np.vstack(rows[arms[0]]), np.vstack(rows[arms[1]]), used


def paired_comparisons(
    results: pd.DataFrame,
    load_scores: Callable[[str, str, int], tuple[Any, Any] | None],
    pairs: Sequence[tuple[str, str]],
    settings: ComparisonSettings = ComparisonSettings(),
) -> pd.DataFrame:
    """Paired tests of ``(target, baseline)`` strategies per classifier, Holm-adjusted together.

    For every classifier and pair whose strategies both have rows, the seeds present for both
    (sorted) are compared on ``load_scores(classifier, strategy, seed) -> (y_true, y_score)``
    (``None`` skips the seed with a warning; all runs of a classifier must share ``y_true``). One
    row per comparison, columns: ``classifier``, ``target``, ``baseline``, ``metric``, ``n_seeds``,
    ``n_test``, ``value_target``, ``value_baseline``, ``mean_diff``, ``low``, ``high``,
    ``p_bootstrap`` (paired bootstrap, the same resamples for every comparison), ``z_delong``,
    ``p_delong``, ``low_delong``, ``high_delong`` (DeLong of the mean over seeds of the per-seed AUC
    differences; ROC-AUC only), ``test``, ``p_test``, ``p_holm`` (over all ``n_comparisons``),
    ``alpha`` and ``verdict`` (``"better"`` / ``"worse"`` when ``p_holm < alpha``, else ``"no clear
    difference"``). A recorded ``metric`` column in ``results`` that differs from the recomputed
    value gets a warning. Raises when a (classifier, strategy, seed) has several rows.
    """
    s = settings
    name, test, base_metric, valthr = _name_and_test(results, s)
    keys = ["classifier", "strategy", "seed"]
    dup = results.duplicated(keys)
    if dup.any():
        raise ValueError(f"{int(dup.sum())} rows repeat a ({', '.join(keys)}) combination; filter the table "
                         "(notebook, dataset, image size) before comparing.")
    runs = results.set_index(keys).sort_index()
    bootstrap = BootstrapSettings(s.n_boot, s.seed, s.alpha, s.stratified, s.resample_seeds)
    scores_of = _cached_loader(load_scores)
    rows = []
    for clf in list(dict.fromkeys(results["classifier"])) if s.classifiers is None else list(s.classifiers):
        part = results[results["classifier"] == clf]
        seeds_of = {st: set(g["seed"].tolist()) for st, g in part.groupby("strategy")}
        y_ref: np.ndarray | None = None
        for target, baseline in pairs:
            if target == baseline or target not in seeds_of or baseline not in seeds_of:
                continue
            y_ref, a, b, used = _arms(scores_of, clf, (target, baseline), sorted(seeds_of[target] & seeds_of[baseline]), y_ref)
            if not used:
                continue
            thr = {st: [float(runs.loc[(clf, st, x), "val_threshold"]) for x in used] if valthr else 0.5
                   for st in (target, baseline)}
            boot = paired_bootstrap(y_ref, a, b, base_metric, threshold_a=thr[target], threshold_b=thr[baseline],
                                    settings=bootstrap)
            if name in results.columns:
                _check_recorded(runs, name, clf, used, {target: boot.value_a, baseline: boot.value_b})
            dl = delong_test(y_ref, a, b, alpha=s.alpha) if name == "roc_auc" else None
            nan = float("nan")
            rows.append({
                "classifier": clf, "target": target, "baseline": baseline, "metric": name, "n_seeds": len(used),
                "n_test": len(y_ref), "value_target": boot.value_a, "value_baseline": boot.value_b,
                "mean_diff": boot.mean_diff, "low": boot.low, "high": boot.high, "p_bootstrap": boot.p_value,
                "z_delong": dl.z if dl else nan, "p_delong": dl.p_value if dl else nan,
                "low_delong": dl.low if dl else nan, "high_delong": dl.high if dl else nan, "test": test,
                "p_test": dl.p_value if (dl and test == "delong") else boot.p_value,
            })
    return holm_calls(pd.DataFrame(rows, columns=list(_COMPARISON_COLUMNS[:-4])), s.alpha)[list(_COMPARISON_COLUMNS)]


def holm_calls(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``comparisons`` (rows of :func:`paired_comparisons`, possibly from several calls) as one family.

    Recomputes ``p_holm``, ``n_comparisons``, ``alpha`` and ``verdict``, and adds ``verdict_raw``
    (the same call from the unadjusted ``p_test``).
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
