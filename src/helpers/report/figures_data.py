"""Chapter 1's figures: images, class balance, intensities, label frequencies and co-occurrence."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from helpers.report.style import PALETTE

__all__ = ["image_grid", "class_balance_bars", "mean_images", "intensity_histograms", "label_frequency_bars",
    "cooccurrence_heatmap"]


def image_grid(
    images: np.ndarray,
    *,
    ncols: int = 8,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell: float = 1.3,
) -> plt.Figure:
    """A grid of grayscale images (N×H×W, 0-255)."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + (0.4 if suptitle else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.squeeze(images[i]), cmap="gray", vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def class_balance_bars(counts: Mapping[str, Mapping[str, int]], title: str = "Images per class and split",
                       log: bool = False) -> plt.Figure:
    """Grouped bars: one group per split, one bar per class (or finding) with its count; ``log``: a log axis."""
    rows = [(split, cls, n) for split, per in counts.items() for cls, n in per.items()]
    table = pd.DataFrame(rows, columns=["split", "class", "images"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(counts), 3.4))
    palette = {c: PALETTE.get(c, None) for c in table["class"].unique()}
    if any(v is None for v in palette.values()):
        palette = None
    sns.barplot(data=table, x="split", y="images", hue="class", ax=ax, palette=palette)
    if log:
        ax.set_yscale("log")
        ax.set_ylabel("images (log scale)")
        ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        for container in ax.containers:
            ax.bar_label(container, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("")
    fig.tight_layout()
    return fig


def mean_images(images_by_class: Mapping[str, np.ndarray], title: str | None = None) -> plt.Figure:
    """Each set's pixel-wise mean image (gray) and its difference from the first set's (blue-red).

    Two sets: one row (mean A, mean B, B − A); more sets: the differences in a second row.
    """
    names = list(images_by_class)
    if not names:
        raise ValueError("mean_images needs at least one set of images")
    means = [np.asarray(images_by_class[n], dtype=np.float32).mean(axis=0) for n in names]
    diffs = [(f"{n} − {names[0]}", m - means[0]) for n, m in zip(names[1:], means[1:], strict=True)]
    one_row = len(names) <= 2
    nrows, ncols = (1, len(names) + len(diffs)) if one_row else (2, len(names))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.7 * ncols + 0.8, 2.9 * nrows + (0.3 if title else 0)),
                             squeeze=False, layout="constrained")
    mean_axes = list(axes[0, : len(names)])
    for ax, name, mean in zip(mean_axes, names, means, strict=True):
        im = ax.imshow(mean, cmap="gray", vmin=0, vmax=255)
        ax.set_title("\n".join(textwrap.wrap(f"mean: {name}", 24)), fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=mean_axes, fraction=0.046, shrink=0.9, label="mean intensity (0-255)")
    if diffs:
        diff_axes = list(axes[0, len(names):]) if one_row else list(axes[1, 1:])
        lim = max(float(np.abs(d).max()) for _, d in diffs) or 1.0
        for ax, (label, diff) in zip(diff_axes, diffs, strict=True):
            dim = ax.imshow(diff, cmap="coolwarm", vmin=-lim, vmax=lim)
            ax.set_title("\n".join(textwrap.wrap(label, 24)), fontsize=9)
            ax.axis("off")
        fig.colorbar(dim, ax=diff_axes, fraction=0.046, shrink=0.9, label="difference of means\n(intensity, 0-255 scale)")
        if not one_row:
            axes[1, 0].axis("off")
            axes[1, 0].text(0.5, 0.5, "bottom row:\neach set's mean\nminus the first's", ha="center", va="center",
                            fontsize=8, color="0.35", transform=axes[1, 0].transAxes)
    if title:
        fig.suptitle(title)
    return fig


def intensity_histograms(images_by_class: Mapping[str, np.ndarray], bins: int = 64) -> plt.Figure:
    """Normalised pixel-intensity histograms per class."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, imgs in images_by_class.items():
        ax.hist(np.asarray(imgs).ravel(), bins=bins, range=(0, 255), density=True, histtype="step", lw=1.6,
                label=name, color=PALETTE.get(name))
    ax.set_xlabel("pixel intensity (0-255)")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title("Intensity distribution per class")
    fig.tight_layout()
    return fig


def label_frequency_bars(frequencies: Mapping[str, float], title: str = "Label frequency") -> plt.Figure:
    """Horizontal bars of per-label counts on a log axis (rare findings would vanish on a linear one)."""
    names = list(frequencies)
    values = [frequencies[n] for n in names]
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(names) + 1))
    ax.barh(names, values, color="#4c72b0")
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(max(v, 1), y, f" {v:g}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("images (log scale)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def cooccurrence_heatmap(labels: np.ndarray, names: Sequence[str], conditional: bool = True) -> plt.Figure:
    """Which labels appear together (multi-hot ``labels``): cell (A, B) is P(B | A) with A's count on its tick
    label, the diagonal blank; ``conditional=False``: counts of images with both labels."""
    labels = np.asarray(labels, dtype=np.int64)
    co = labels.T @ labels
    n = np.diag(co)
    fig, ax = plt.subplots(figsize=(0.7 * len(names) + 2.8, 0.55 * len(names) + 1.6))
    if conditional:
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(n[:, None] > 0, co / n[:, None], np.nan)
        rows = [f"{name} (n={count:,})" for name, count in zip(names, n, strict=True)]
        sns.heatmap(rate, annot=True, fmt=".0%", xticklabels=names, yticklabels=rows, cmap="Blues", vmin=0, vmax=1,
                    ax=ax, mask=np.eye(len(names), dtype=bool), cbar_kws={"label": "P(column label | row label)"},
                    annot_kws={"fontsize": 8})
        ax.set_title("Label co-occurrence: P(B | A), share of images with row label A\nthat also carry column label B")
        ax.set_ylabel("A (given)")
        ax.set_xlabel("B")
    else:
        sns.heatmap(co, annot=True, fmt="d", xticklabels=names, yticklabels=names, cmap="Blues", ax=ax,
                    cbar_kws={"label": "images with both labels"})
        ax.set_title("Label co-occurrence (images with both labels)")
    ax.tick_params(axis="x", rotation=45)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    fig.tight_layout()
    return fig
