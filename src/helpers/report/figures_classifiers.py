"""Chapters 4-5's figures: feature vectors, embeddings, ROC panels, confusion matrices, metric bars, curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import patches as mpatches
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.oversampling.strategies import ALL_STRATEGIES, FEATURE_ONLY, IMAGE_ONLY
from helpers.report.style import (
    CHANCE_HALF,
    PALETTE,
    Curves,
    bar_or_placeholder,
    classifier_order,
    hatch_patch,
    metric_name,
    ordered,
    panel_grid,
    roc_axes,
    seed_note,
    strategy_color,
)

__all__ = ["feature_vectors", "embedding_scatter", "roc_panels", "confusion_matrices", "metric_bars",
           "curves_by_group", "class_counts_after_oversampling"]

def feature_vectors(vectors: Mapping[str, np.ndarray], title: str = "512-d ResNet-18 feature vector of one image") -> plt.Figure:
    """One panel per image, its feature vector as a filled step profile on a shared y axis (Ghosh & Dutta's Figures 10-11)."""
    fig, axes = plt.subplots(len(vectors), 1, figsize=(8, 1.9 * len(vectors) + 0.4), sharex=True, sharey=True,
                             squeeze=False)
    for ax, (name, vec) in zip(axes[:, 0], vectors.items(), strict=False):
        vec = np.asarray(vec, dtype=float).ravel()
        idx = np.arange(len(vec))
        words = name.split()
        color = PALETTE["synthetic"] if words[0] == "synthetic" else PALETTE.get(words[0], "#4c72b0")
        ax.fill_between(idx, 0, vec, step="mid", color=color, alpha=0.45, lw=0)
        ax.step(idx, vec, where="mid", color=color, lw=0.7)
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xlim(-0.5, len(vec) - 0.5)
        ax.set_ylabel("activation")
        ax.set_title(f"{name}: mean {vec.mean():.3g}, max {vec.max():.3g}, {np.mean(vec > 0):.0%} of features > 0",
                     fontsize=9)
    axes[-1, 0].set_xlabel(f"feature index (0-{len(vec) - 1})")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def embedding_scatter(points: Mapping[str, np.ndarray], title: str, axis_label: str = "component") -> plt.Figure:
    """2-D embedding of several groups of feature vectors (e.g. real NORMAL, real PNEUMONIA, synthetic)."""
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    markers = ["o", "s", "^", "D", "v"]
    synthetic_colors = iter(["#2ca02c", "#9467bd", "#8c564b", "#e377c2"])
    for i, (name, xy) in enumerate(points.items()):
        xy = np.asarray(xy)
        color = next(synthetic_colors) if name.startswith("synthetic") else PALETTE.get(name.split()[-1], None)
        ax.scatter(xy[:, 0], xy[:, 1], s=9, alpha=0.55, marker=markers[i % len(markers)], label=f"{name} ({len(xy)})", color=color)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{axis_label} 1")
    ax.set_ylabel(f"{axis_label} 2")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    return fig


def roc_panels(curves: Mapping[str, Curves], title: str = "ROC curves on the test split") -> plt.Figure:
    """One ROC panel per classifier, one curve per strategy (``{classifier: {strategy: (y, score)}}``), AUC in the legend."""
    fig, axes = panel_grid(len(curves), len(curves), (3.7, 4.0))
    for ax, (clf, per_strategy) in zip(axes[0], curves.items(), strict=False):
        for strategy in ordered(per_strategy, ALL_STRATEGIES):
            y, s = per_strategy[strategy]
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=1.4, color=strategy_color(strategy), label=f"{strategy} (AUC {roc_auc_score(y, s):.3f})")
        roc_axes(ax)
        ax.set_title(clf)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrices(matrices: Mapping[str, np.ndarray], class_names: Sequence[str], *, ncols: int | None = None,
                       title: str | None = None) -> plt.Figure:
    """One annotated confusion matrix per entry (rows: true class, columns: predicted), ``ncols`` per row."""
    fig, axes = panel_grid(len(matrices), ncols or len(matrices), (2.9, 2.7), (0, 0.5 if title else 0))
    if title:
        fig.suptitle(title, fontsize=10)
    for ax, (name, cm) in zip(axes.ravel(), matrices.items(), strict=False):
        sns.heatmap(np.asarray(cm), annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                    xticklabels=class_names, yticklabels=class_names)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def _applicable(classifier: str, strategy: str) -> bool:
    """Whether ``strategy`` can run on ``classifier``'s input (features: no image-only; pixels: no SMOTE/ADASYN)."""
    from helpers.classifiers.results import CLASSICAL_CLASSIFIERS

    return strategy not in (IMAGE_ONLY if classifier in CLASSICAL_CLASSIFIERS else FEATURE_ONLY)


def metric_bars(results: pd.DataFrame, metric: str = "roc_auc", title: str | None = None) -> plt.Figure:
    """Mean ± sd over seeds of one metric, a dot per seed: one group per classifier, one bar per strategy (0 to 1).

    A strategy that could run on a classifier's input but has no value is a hatched "not run" placeholder;
    those that cannot (SMOTE/ADASYN on pixels, augmentation on features) are left out.
    """
    order = ordered(list(results["strategy"]), ALL_STRATEGIES)
    classifiers = classifier_order(results["classifier"])
    slots = [(c, s) for c in classifiers for s in order if _applicable(c, s)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 0.3 * len(slots) + 0.25 * len(classifiers)), 4.4))
    x, ticks, labels, gap = 0.0, [], [], 0.8
    top = max(1.0, float(np.nanmax(results[metric].to_numpy(dtype=float), initial=0.0)))
    any_missing = False
    for clf in classifiers:
        start = x
        for s in (s for c, s in slots if c == clf):
            part = results[(results["classifier"] == clf) & (results["strategy"] == s)][metric]
            any_missing |= not bar_or_placeholder(ax, x, 0.85, part, strategy_color(s), top)
            ticks.append(x)
            labels.append(s)
            x += 1.0
        ax.text((start + x - 1.0) / 2, 1.01, clf, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8.5, fontweight="bold")
        if clf != classifiers[-1]:
            ax.axvline(x - 1.0 + (1.0 + gap) / 2, color="0.8", lw=0.8)
        x += gap
    handles = []
    if metric in CHANCE_HALF:
        handles.append(ax.axhline(0.5, ls="--", color="0.25", lw=1.0, label="chance (0.5)"))
    if any_missing:
        handles.append(hatch_patch("not run (no result)"))
    ax.set_xticks(ticks, labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=7.5)
    ax.set_xlim(-0.7, x - gap - 0.3)
    ax.set_ylim(0, top)
    ax.set_ylabel(metric_name(metric))
    ax.grid(axis="x", visible=False)
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(1.005, 0.0), framealpha=0.9)
    fig.suptitle(title or f"{metric_name(metric)} on the test split", fontsize=11)
    ax.set_title(f"bars: {seed_note(results, metric)}", fontsize=7.5, color="0.3", pad=16)
    fig.tight_layout()
    return fig


def curves_by_group(history: pd.DataFrame, y: Sequence[str]) -> plt.Figure:
    """Per-epoch curves: one row per metric in ``y``, one column per model, one line per strategy (mean, sd band)."""
    cols = list(dict.fromkeys(history["model"]))
    palette = {s: strategy_color(s) for s in history["strategy"].unique()}
    fig, axes = plt.subplots(len(y), len(cols), figsize=(4.2 * len(cols), 2.9 * len(y)), squeeze=False, sharex="col")
    for j, c in enumerate(cols):
        part = history[history["model"] == c]
        for i, metric in enumerate(y):
            ax = axes[i, j]
            if metric in part and part[metric].notna().any():
                sns.lineplot(data=part, x="epoch", y=metric, hue="strategy", ax=ax, errorbar="sd", marker="o",
                             markersize=3, palette=palette)
                ax.legend(fontsize=7, title=None)
            if metric in CHANCE_HALF:
                ax.axhline(0.5, ls="--", color="0.4", lw=0.9)
            ax.set_ylabel(metric_name(metric))
            ax.set_title(f"{c}: {metric_name(metric)}", fontsize=9)
    fig.tight_layout()
    return fig


_ADDED_KIND = {"random": "duplicated real", "smote": "interpolated (SMOTE)", "adasyn": "interpolated (ADASYN)"}
_ADDED_COLOR = {"duplicated real": "#9ecae1", "interpolated (SMOTE)": "#c5b0d5", "interpolated (ADASYN)": "#dbb7a0",
                "GAN fakes": PALETTE["synthetic"], "added": "#bbbbbb"}


def class_counts_after_oversampling(rows: Any, train_counts: Mapping[str, int], minority: str,
                                    title: str | None = None) -> plt.Figure:
    """Training images per class after each strategy, real and added rows stacked (Ghosh & Dutta's Figure 13).

    ``rows``: result rows with ``strategy``, ``n_train``, ``n_synthetic`` (the first row per strategy is used);
    ``train_counts``: ``{class: images}`` of the real training split. Class weights' minority weight is written on the bar.
    """
    table = pd.DataFrame(rows)
    if minority not in train_counts or len(train_counts) < 2:
        raise ValueError(f"train_counts must hold {minority!r} and at least one other class, got {dict(train_counts)}")
    n_min = int(train_counts[minority])
    n_maj = int(sum(v for k, v in train_counts.items() if k != minority))
    majority = " + ".join(k for k in train_counts if k != minority)
    order = ordered(list(table["strategy"]), ALL_STRATEGIES)
    first = table.drop_duplicates("strategy").set_index("strategy")
    fig, ax = plt.subplots(figsize=(max(4.8, 1.2 + 0.95 * len(order)), 3.9))
    kinds_seen: dict[str, str] = {}
    for i, s in enumerate(order):
        n_train, added = int(first.loc[s, "n_train"]), int(first.loc[s, "n_synthetic"])
        if n_train - added != n_min + n_maj:
            raise ValueError(f"{s}: n_train - n_synthetic = {n_train - added}, but train_counts sum to {n_min + n_maj}")
        ax.bar(i - 0.2, n_maj, 0.38, color=PALETTE.get(majority, "#4c72b0"))
        ax.bar(i + 0.2, n_min, 0.38, color=PALETTE.get(minority, "#d62728"))
        if added:
            kind = _ADDED_KIND.get(s, "GAN fakes" if s.startswith("gan") else "added")
            kinds_seen.setdefault(kind, _ADDED_COLOR[kind])
            ax.bar(i + 0.2, added, 0.38, bottom=n_min, color=_ADDED_COLOR[kind], hatch="///", edgecolor="white")
        weight = f"\nweight ×{(n_min + n_maj) / (2 * n_min):.2f}" if s == "class_weight" and n_min else ""
        ax.text(i + 0.2, n_min + added, f"{n_min + added:,}{weight}", ha="center", va="bottom", fontsize=7)
        ax.text(i - 0.2, n_maj, f"{n_maj:,}", ha="center", va="bottom", fontsize=7)
    handles = [mpatches.Patch(color=PALETTE.get(majority, "#4c72b0"), label=f"{majority} (real)"),
               mpatches.Patch(color=PALETTE.get(minority, "#d62728"), label=f"{minority} (real)")]
    handles += [mpatches.Patch(facecolor=c, hatch="///", edgecolor="white", label=f"{minority}: {k}")
                for k, c in kinds_seen.items()]
    ax.set_xticks(range(len(order)), order, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_ylabel("training images")
    ax.set_ylim(0, max(n_maj, n_min + int(first["n_synthetic"].max())) * 1.15)
    ax.grid(axis="x", visible=False)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "Training images per class after each strategy")
    fig.tight_layout()
    return fig

