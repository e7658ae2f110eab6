"""Chapter 7's figures: findings per split, AUROC per finding, epoch curves, real vs GAN images per finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from helpers.report.style import PALETTE

__all__ = ["ARM_COLORS", "finding_frequency_bars", "finding_auroc_dots", "multilabel_epoch_curves",
    "real_vs_synthetic_rows"]

#: Chapter 7's two arms: real images only (grey) and real + GAN images (the synthetic colour).
ARM_COLORS = {"original": "#7f7f7f", "gan": PALETTE["synthetic"]}


def finding_frequency_bars(counts: Any, sizes: Mapping[str, int], title: str = "Images per finding") -> plt.Figure:
    """Positives per finding (rows of ``counts``) and split (columns) on a log axis, the first split's bars
    labelled with count and share of ``sizes[split]`` images."""
    table = pd.DataFrame(counts)
    table = table.sort_values(table.columns[0], ascending=True)
    splits = list(table.columns)
    height = 0.8 / len(splits)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.4))
    shades = {"train": "#4c72b0", "val": "#8fb0d8", "test": "#c9d8ec"}
    for i, split in enumerate(splits):
        y = np.arange(len(table)) + (len(splits) - 1 - i) * height - 0.4 + height / 2
        values = table[split].to_numpy(float)
        ax.barh(y, np.maximum(values, 0.5), height=height, color=shades.get(split, f"C{i}"),
                label=f"{split} ({sizes.get(split, 0):,} images)")
        if i == 0:
            for yy, v in zip(y, values, strict=True):
                ax.text(max(v, 0.5) * 1.08, yy, f"{int(v):,} ({v / max(sizes.get(split, 1), 1):.1%})", va="center",
                        fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(table)), table.index)
    ax.set_xlabel("images with the finding (log scale; 0 drawn at 0.5)")
    ax.set_xlim(0.4, max(2.0, float(table.to_numpy().max())) * 4)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def finding_auroc_dots(results: Any, *, published: Mapping[str, float] | None = None, published_label: str = "",
                       scarce: Sequence[str] = (), title: str = "Test AUROC per finding") -> plt.Figure:
    """Per finding (rows ``finding``, ``arm``, ``seed``, ``auroc``) each arm's mean over seeds and each seed;
    ``published`` values as hollow diamonds (context, not a comparison); ``scarce`` findings get a star."""
    table = pd.DataFrame(results)
    findings = list(dict.fromkeys(table["finding"]))
    arms = [a for a in ARM_COLORS if a in set(table["arm"])] + sorted(set(table["arm"]) - set(ARM_COLORS))
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(findings) + 1.6))
    offsets = np.linspace(-0.15, 0.15, len(arms)) if len(arms) > 1 else [0.0]
    for arm, off in zip(arms, offsets, strict=True):
        sub = table[table["arm"] == arm]
        color = ARM_COLORS.get(arm, "C3")
        for i, f in enumerate(findings):
            vals = sub.loc[sub["finding"] == f, "auroc"].to_numpy(float)
            vals = vals[np.isfinite(vals)]
            if not len(vals):
                continue
            ax.scatter(vals, np.full(len(vals), i + off), s=12, color=color, alpha=0.5, lw=0)
            ax.scatter([vals.mean()], [i + off], s=55, color=color, edgecolor="white", zorder=3,
                       label=arm if i == 0 or arm not in ax.get_legend_handles_labels()[1] else None)
    if published:
        xs = [(published[f], i) for i, f in enumerate(findings) if f in published]
        if xs:
            ax.scatter([x for x, _ in xs], [i for _, i in xs], marker="D", s=40, facecolor="none", edgecolor="black",
                       zorder=4, label=published_label or "published")
    ax.axvline(0.5, color="0.4", ls=":", lw=1)
    ax.set_yticks(range(len(findings)), [f"{f} *" if f in set(scarce) else f for f in findings])
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("test AUROC (dotted: chance)")
    ax.set_title(title + (" (* = GAN-augmented finding)" if scarce else ""), fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def multilabel_epoch_curves(histories: Any, *, all_negative: float | None = None,
                            title: str = "Validation mean AUROC and element-wise accuracy per epoch") -> plt.Figure:
    """Val mean AUROC and element-wise accuracy per epoch, a line per arm (mean, min-max band over seeds), beside
    the accuracy of predicting "no finding" everywhere (``all_negative``; Sumithra Devi K A et al.'s Figure 3)."""
    h = pd.DataFrame(histories)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, col, label in ((axes[0], "val_mean_auroc", "val mean AUROC"),
                           (axes[1], "val_elementwise_accuracy", "val element-wise accuracy")):
        for arm in [a for a in ARM_COLORS if a in set(h.get("arm", []))]:
            g = h[h["arm"] == arm].groupby("epoch")[col]
            mean, lo, hi = g.mean(), g.min(), g.max()
            color = ARM_COLORS[arm]
            ax.plot(mean.index, mean.to_numpy(), marker="o", ms=3, color=color, label=arm)
            ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), color=color, alpha=0.15, lw=0)
        if col == "val_elementwise_accuracy" and all_negative is not None:
            ax.axhline(all_negative, ls="--", color="black", lw=1.1,
                       label=f"predict 'no finding' everywhere ({all_negative:.3f})")
        if col == "val_mean_auroc":
            ax.axhline(0.5, ls=":", color="0.4", lw=1)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def real_vs_synthetic_rows(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], n: int = 6,
                           seed: int = 0) -> plt.Figure:
    """One row per finding: ``n`` real training images left, ``n`` GAN images right (Sumithra Devi K A et al.'s Figure 4)."""
    rng = np.random.default_rng(seed)
    rows = list(pairs.items())
    if not rows:
        raise ValueError("real_vs_synthetic_rows needs at least one finding")
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(1.2 * 2 * n + 0.6, 1.3 * len(rows) + 0.5), squeeze=False)
    for r, (name, (real, fake)) in enumerate(rows):
        for half, (imgs, kind) in enumerate(((real, "real"), (fake, "GAN"))):
            imgs = np.asarray(imgs)
            pick = rng.permutation(len(imgs))[:n] if len(imgs) else []
            for c in range(n):
                ax = axes[r, half * n + c]
                ax.axis("off")
                if c < len(pick):
                    ax.imshow(imgs[pick[c]], cmap="gray", vmin=0, vmax=255)
                if c == 0:
                    ax.set_title(f"{name}: {kind}", fontsize=8, loc="left")
    fig.suptitle("Real training images (left) and GAN images (right) per augmented finding", fontsize=10)
    fig.tight_layout()
    return fig
