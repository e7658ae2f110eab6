"""Chapter 6's figures: ROC/PR overlays, with-vs-without bars, difference forests, calibration, ablation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import patches as mpatches
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from helpers.oversampling.strategies import ALL_STRATEGIES, TABLE_1_ARMS
from helpers.report.style import (
    CHANCE_HALF,
    Curves,
    bar_or_placeholder,
    classifier_colors,
    classifier_order,
    hatch_patch,
    metric_name,
    ordered,
    panel_grid,
    roc_axes,
    seed_note,
    strategy_color,
    zoom_floor,
)

__all__ = ["roc_overlay", "pr_overlay", "metric_bars_with_without", "difference_forest", "accuracy_over_epochs",
           "metric_grid", "reliability_diagram", "ablation_dots"]


def _operating_point(y: Any, s: Any, threshold: float) -> tuple[float, float]:
    """(false positive rate, true positive rate) when ``score >= threshold`` is called positive."""
    y, pred = np.asarray(y).astype(bool), np.asarray(s, dtype=float) >= threshold
    return float(pred[~y].mean()), float(pred[y].mean())


def roc_overlay(curves: Curves, title: str, *, thresholds: Mapping[str, float] | None = None) -> plt.Figure:
    """Every classifier's ROC curve in one panel, AUC in the legend (Ghosh & Dutta's Figures 18-19).

    Each curve marks its operating point at 0.5 (circle) and at ``thresholds[classifier]`` (cross).
    """
    if not curves:
        raise ValueError("roc_overlay needs at least one classifier's (y_true, y_score)")
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    for clf, color in classifier_colors(curves).items():
        y, s = curves[clf]
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.5, color=color, label=f"{clf} (AUC {roc_auc_score(y, s):.3f})")
        for thr, marker in ((0.5, "o"), ((thresholds or {}).get(clf), "X")):
            if thr is not None and np.isfinite(thr):
                ax.plot(*_operating_point(y, s, thr), marker=marker, ms=6, color=color, mec="black", mew=0.6,
                        ls="none", label="_point")
    roc_axes(ax)
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker="o", ls="none", color="0.5", mec="black", label="threshold 0.5")]
    if thresholds:
        handles += [plt.Line2D([], [], marker="X", ls="none", color="0.5", mec="black", label="validation threshold")]
    ax.legend(handles=handles, fontsize=6.5, loc="lower right")
    fig.tight_layout()
    return fig


def pr_overlay(curves: Curves, title: str) -> plt.Figure:
    """Every classifier's precision-recall curve (PNEUMONIA positive) in one panel, average precision in the legend."""
    if not curves:
        raise ValueError("pr_overlay needs at least one classifier's (y_true, y_score)")
    positive = "PNEUMONIA"
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    for clf, color in classifier_colors(curves).items():
        y, s = curves[clf]
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, lw=1.4, color=color, label=f"{clf} (AP {average_precision_score(y, s):.3f})")
    share = float(np.mean(np.asarray(next(iter(curves.values()))[0]) == 1))
    ax.axhline(share, ls="--", color="0.55", lw=1, label=f"no skill ({positive} share {share:.2f})")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(f"recall ({positive} positive)")
    ax.set_ylabel(f"precision ({positive} positive)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6.5, loc="lower left")
    fig.tight_layout()
    return fig


def metric_bars_with_without(results: pd.DataFrame, metrics: Sequence[str] = ("precision", "recall", "f1"),
                             arms: Sequence[str] = tuple(TABLE_1_ARMS), title: str | None = None) -> plt.Figure:
    """One panel per metric, bars per classifier per arm (Ghosh & Dutta's Figures 14-16): mean, sd, a dot per seed;
    an arm a classifier did not run is a hatched "n/a" placeholder."""
    classifiers = classifier_order(results["classifier"])
    metrics = [m for m in metrics if m in results.columns]
    if not metrics:
        raise ValueError("none of the requested metrics is a column of the results")
    width = 0.8 / len(arms)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(5.0, 1.2 + 0.45 * len(classifiers) * len(arms)), 2.5 * len(metrics) + 1.0),
                             squeeze=False, sharex=True)
    any_missing = False
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for j, arm in enumerate(arms):
            for i, clf in enumerate(classifiers):
                part = results[(results["classifier"] == clf) & (results["strategy"] == arm)][metric]
                any_missing |= not bar_or_placeholder(ax, i - 0.4 + width * (j + 0.5), width * 0.92, part,
                                                      strategy_color(arm), missing="n/a")
        ax.set_xticks(range(len(classifiers)), classifiers, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(metric_name(metric), fontsize=10)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("test value", fontsize=8)
    handles = [mpatches.Patch(color=strategy_color(a), label=f"{TABLE_1_ARMS[a]} ({a})" if a in TABLE_1_ARMS else a)
               for a in arms]
    if any_missing:
        handles.append(hatch_patch("n/a: not run"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 2), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title or f"With vs without GAN images: test metrics per classifier\n(bars: {seed_note(results, metrics[0])})",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


_VERDICT_COLORS = {"better": "#2ca02c", "no clear difference": "#4c72b0", "worse": "#d62728"}


def difference_forest(diffs: pd.DataFrame, title: str, *, sort: bool = True) -> plt.Figure:
    """:func:`helpers.evaluation.comparisons.paired_comparisons` rows as a forest: difference and interval coloured by
    verdict, Holm p in the labels, a dot per seed (``seed_diffs``); largest on top unless ``sort=False``."""
    diffs = diffs[np.isfinite(diffs["mean_diff"].to_numpy(dtype=float))]
    if diffs.empty:
        raise ValueError("no paired differences to draw: the strategies never ran on the same classifier and seed")
    if sort:
        diffs = diffs.sort_values("mean_diff", ascending=False, kind="stable")
    metric = str(diffs["metric"].iloc[0]) if "metric" in diffs and diffs["metric"].nunique() == 1 else "the metric"
    fig, ax = plt.subplots(figsize=(9.0, 0.42 * len(diffs) + 1.5))
    y = np.arange(len(diffs))
    means = diffs["mean_diff"].to_numpy(dtype=float)
    err = np.vstack([np.nan_to_num(means - diffs["low"].to_numpy(dtype=float)),
                     np.nan_to_num(diffs["high"].to_numpy(dtype=float) - means)])
    colors = [_VERDICT_COLORS.get(v, "#4c72b0") for v in diffs["verdict"]]
    ax.axvline(0, color="0.3", lw=1.1, label="no difference")
    for yi, m, e0, e1, c in zip(y, means, err[0], err[1], colors, strict=True):
        ax.errorbar(m, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=3, ms=5)
    if "seed_diffs" in diffs:
        for yi, text in zip(y, diffs["seed_diffs"].astype(str), strict=True):
            v = [float(x) for x in text.split(";") if x.strip() not in ("", "nan")]
            ax.scatter(v, np.full(len(v), yi + 0.22), s=8, color="black", zorder=4, lw=0)
    labels = [f"{c}: {t} − {b}  (Holm p {p:.3f})" if p >= 0.001 else f"{c}: {t} − {b}  (Holm p < 0.001)"
              for c, t, b, p in diffs[["classifier", "target", "baseline", "p_holm"]].itertuples(index=False)]
    handles = [mpatches.Patch(color=c, label=v) for v, c in _VERDICT_COLORS.items()]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="verdict (Holm-adjusted)", title_fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_locator(plt.MaxNLocator(6))
    ax.set_ylim(len(diffs) - 0.5, -0.5)
    ax.set_xlabel(f"difference in {metric_name(metric) if metric != 'the metric' else metric} (target − baseline)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


_EPOCH_METRICS = ("val_auc_exact", "val_balanced_accuracy")


def accuracy_over_epochs(long: pd.DataFrame, title: str | None = None, *, show_train: bool = False) -> plt.Figure:
    """Per-epoch validation ROC-AUC and balanced accuracy (mean, sd band): one row per model, one line per training set.

    ``long``: :func:`helpers.report.accuracy_over_epochs`. Validation accuracy is left out (on an imbalanced
    split it sits at the majority share); unrecorded metrics are noted; ``show_train`` adds training accuracy.
    """
    have = set(long.dropna(subset=["value"])["metric"])
    metrics_ = [m for m in _EPOCH_METRICS if m in have] + (["accuracy"] if show_train and "accuracy" in have else [])
    unrecorded = [metric_name(m) for m in _EPOCH_METRICS if m not in have]
    if not metrics_:
        raise ValueError(f"the histories record none of {list(_EPOCH_METRICS)}" + ("" if show_train else
                         " (show_train=True draws the training accuracy)"))
    models = list(dict.fromkeys(long["model"]))
    sets = list(dict.fromkeys(long["training_set"]))
    if "strategy" in long:
        first = long.drop_duplicates("training_set").set_index("training_set")["strategy"]
        palette = {t: strategy_color(first[t]) for t in sets}
    else:
        palette = dict(zip(sets, ("#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4"), strict=False))
    fig, axes = plt.subplots(len(models), len(metrics_), figsize=(4.4 * len(metrics_), 3.0 * len(models) + 0.4),
                             squeeze=False)
    for i, model in enumerate(models):
        for j, metric in enumerate(metrics_):
            ax = axes[i, j]
            part = long[(long["model"] == model) & (long["metric"] == metric)].dropna(subset=["value"])
            if part.empty:
                ax.text(0.5, 0.5, f"{metric_name(metric)}\nnot recorded in the histories", ha="center", va="center",
                        fontsize=8, color="0.35", transform=ax.transAxes)
            else:
                sns.lineplot(data=part, x="epoch", y="value", hue="training_set", errorbar="sd", marker="o",
                             markersize=3, ax=ax, palette=palette)
                ax.legend(fontsize=7, title=None)
                if metric in CHANCE_HALF:
                    ax.axhline(0.5, ls="--", color="0.4", lw=0.9)
            ax.set_title(f"{model}: {metric_name(metric)}", fontsize=9)
            ax.set_ylabel(metric_name(metric))
            ax.set_xlabel("epoch")
    shown = " and ".join(metric_name(m) for m in metrics_ if m != "accuracy")
    fig.suptitle((title or f"{shown[0].upper() + shown[1:]} over epochs: original vs GAN-augmented training set")
                 + (f"\n({', '.join(unrecorded)} per epoch: not recorded in these histories)" if unrecorded else ""),
                 fontsize=11)
    fig.tight_layout()
    return fig


def metric_grid(results: pd.DataFrame, metric: str = "roc_auc", title: str | None = None) -> plt.Figure:
    """One panel per classifier, four per row: a bar per strategy it ran (mean, sd), a dot per seed, on a shared
    y axis zoomed to the values (said on the axis)."""
    order = ordered(list(results["strategy"]), ALL_STRATEGIES)
    classifiers = classifier_order(results["classifier"])
    floor = zoom_floor(results[metric])
    top = min(1.0, float(np.nanmax(results[metric].to_numpy(dtype=float))) + 0.01)
    fig, axes = panel_grid(len(classifiers), 4, (3.1, 2.9), (0, 0.6), sharey=True)
    for ax, clf in zip(axes.ravel(), classifiers, strict=False):
        ran = results[(results["classifier"] == clf) & np.isfinite(results[metric].to_numpy(dtype=float))]
        names = [s for s in order if s in set(ran["strategy"])]
        for i, strategy in enumerate(names):
            bar_or_placeholder(ax, i, 0.8, ran.loc[ran["strategy"] == strategy, metric], strategy_color(strategy), top)
        ax.set_xticks(range(len(names)), names, rotation=55, ha="right", rotation_mode="anchor", fontsize=7)
        ax.set_title(clf, fontsize=9)
        ax.set_ylim(floor, top)
        ax.grid(axis="x", visible=False)
        ax.tick_params(axis="y", labelsize=7)
    for row in axes:
        row[0].set_ylabel(f"{metric_name(metric)}\n(axis from {floor:.2f})", fontsize=8)
    fig.suptitle(title or f"{metric_name(metric)} on the test split ({seed_note(results, metric)})", fontsize=10)
    fig.tight_layout()
    return fig


def reliability_diagram(panels: Mapping[str, Curves], title: str) -> plt.Figure:
    """Calibration, one panel per classifier and a line per strategy (``{classifier: {strategy: (y, score)}}``):
    10 equal-width bins of predicted P(PNEUMONIA) against the observed share; Brier scores in the legend."""
    if not panels:
        raise ValueError("reliability_diagram needs at least one classifier")
    fig, axes = panel_grid(len(panels), 3, (3.3, 3.3), (0, 0.5))
    for ax, (clf, per_strategy) in zip(axes.ravel(), panels.items(), strict=False):
        ax.plot([0, 1], [0, 1], ls="--", color="0.55", lw=1, label="perfectly calibrated")
        for strategy in ordered(per_strategy, ALL_STRATEGIES):
            y, s = per_strategy[strategy]
            s = np.clip(np.asarray(s, dtype=float), 0, 1)
            observed, predicted = calibration_curve(y, s, n_bins=10, strategy="uniform")
            ax.plot(predicted, observed, marker="o", ms=3, lw=1.2, color=strategy_color(strategy),
                    label=f"{strategy} (Brier {brier_score_loss(y, s):.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(clf, fontsize=9)
        ax.set_xlabel("predicted P(PNEUMONIA)", fontsize=8)
        ax.set_ylabel("observed share of PNEUMONIA", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def ablation_dots(summary: pd.DataFrame, per_seed: pd.DataFrame, metrics: Sequence[str], title: str, *,
                  directions: Mapping[str, str] | None = None) -> plt.Figure:
    """The GAN ablation (:func:`helpers.report.ablation_summary` and its rows): a panel per metric, a row per variant
    with a dot per seed, the mean and its interval; ``directions`` says which way is better."""
    metrics = [m for m in metrics if m in summary]
    names = list(summary["variant"])
    fig, axes = panel_grid(len(metrics), 3, (4.0, 0.3 * len(names) + 1.3), (1.6, 0.5), sharey=True)
    y = np.arange(len(names))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        for yi, name in zip(y, names, strict=True):
            row = summary[summary["variant"] == name].iloc[0]
            values = per_seed.loc[per_seed["variant"] == name, metric].to_numpy(dtype=float)
            ax.scatter(values, np.full(len(values), yi), s=14, color="0.35", zorder=3, lw=0)
            if np.isfinite(row[f"{metric}_low"]):
                ax.plot([row[f"{metric}_low"], row[f"{metric}_high"]], [yi, yi], color="#1f77b4", lw=2, zorder=2)
            ax.plot(row[metric], yi, marker="|", ms=12, mew=2, color="#1f77b4", zorder=4)
        direction = (directions or {}).get(metric)
        ax.set_title(metric + (f" ({direction} is better)" if direction else ""), fontsize=8.5)
        ax.tick_params(labelsize=7)
        ax.set_yticks(y, names, fontsize=7.5)
        ax.set_ylim(len(names) - 0.5, -0.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
