"""Every figure of the series: one house style and one :func:`save_fig` that writes them.

Figures are PNGs stamped with the run they came from (bottom-right corner and PNG metadata), so a
figure in ``figures/`` can always be traced back to a profile, dataset, commit and date.

Colours are fixed per meaning: :data:`PALETTE` per class, :data:`STRATEGY_COLORS` per oversampling
strategy (the same strategy has the same colour in every figure of the series).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import patches as mpatches

from helpers.core.artifacts import atomic_write
from helpers.oversampling.strategies import ALL_STRATEGIES, FEATURE_ONLY, IMAGE_ONLY, TABLE_1_ARMS

__all__ = [
    "PALETTE",
    "STRATEGY_COLORS",
    "strategy_color",
    "set_style",
    "save_fig",
    "image_grid",
    "class_balance_bars",
    "mean_images",
    "intensity_histograms",
    "label_frequency_bars",
    "cooccurrence_heatmap",
    "history_curves",
    "real_vs_fake_grid",
    "pair_panel",
    "nn_distance_histograms",
    "progress_panels",
    "feature_vectors",
    "embedding_scatter",
    "roc_panels",
    "roc_overlay",
    "confusion_matrices",
    "metric_bars",
    "metric_bars_with_without",
    "difference_forest",
    "metric_grid",
    "pr_overlay",
    "reliability_diagram",
    "ablation_dots",
    "MAX_WIDTH_PX",
    "curves_by_group",
    "accuracy_over_epochs",
    "class_counts_after_oversampling",
    "model_rows",
    "model_diagram",
    "gan_system_diagram",
    "backbone_stages",
    "backbone_diagram",
]

PALETTE = {"NORMAL": "#1f77b4", "PNEUMONIA": "#d62728", "synthetic": "#2ca02c"}

# One colour per strategy, in the order of ALL_STRATEGIES: baselines in muted/cool colours, GAN
# strategies in warm ones. A strategy added later gets a tab20 colour of its own.
_STRATEGY_PALETTE = ("#7f7f7f", "#8c564b", "#1f77b4", "#17becf", "#9467bd", "#bcbd22",
                     "#d62728", "#ff7f0e", "#e377c2", "#2ca02c", "#393b79")
#: ``{strategy: colour}`` for every name in :data:`helpers.oversampling.strategies.ALL_STRATEGIES`.
STRATEGY_COLORS: dict[str, str] = {
    s: _STRATEGY_PALETTE[i] if i < len(_STRATEGY_PALETTE) else mcolors.to_hex(plt.get_cmap("tab20")(i % 20))
    for i, s in enumerate(ALL_STRATEGIES)
}
_METRIC_NAMES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "pr_auc_normal": "PR-AUC (NORMAL positive)",
                 "f1": "F1 (PNEUMONIA positive)", "f1_normal": "F1 (NORMAL positive)", "macro_f1": "macro F1",
                 "balanced_accuracy": "balanced accuracy", "precision": "precision", "recall": "recall",
                 "val_auc_exact": "validation ROC-AUC", "val_balanced_accuracy": "validation balanced accuracy",
                 "accuracy": "training accuracy", "val_accuracy": "validation accuracy", "val_loss": "validation loss"}
#: Metrics whose chance level is 0.5 whatever the class balance (a dashed line marks it).
_CHANCE_HALF = ("roc_auc", "balanced_accuracy", "val_auc_exact", "val_balanced_accuracy", "val_roc_auc")


def strategy_color(strategy: str) -> str:
    """The series' colour of ``strategy`` (:data:`STRATEGY_COLORS`; a stable tab20 colour for other names)."""
    if strategy in STRATEGY_COLORS:
        return STRATEGY_COLORS[strategy]
    return mcolors.to_hex(plt.get_cmap("tab20")(sum(map(ord, str(strategy))) % 20))


def _metric_name(metric: str) -> str:
    base = metric[: -len("_valthr")] if metric.endswith("_valthr") else metric
    name = _METRIC_NAMES.get(base, base.replace("_", " "))
    return name + (" at the validation threshold" if base != metric else "")


def _ordinal(x: float) -> str:
    """``1st``, ``2nd``, ``5th``, ``2.5th``."""
    if float(x) != int(x):
        return f"{x:g}th"
    n = int(x)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _shape_text(shape: Any) -> str:
    dims = [d for d in tuple(shape)[1:]]
    return "×".join("?" if d is None else str(int(d)) for d in dims) or "scalar"


def _ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    return [n for n in order if n in names] + [n for n in names if n not in order]


def set_style() -> None:
    """Apply the series' plot style (seaborn whitegrid, readable sizes)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "image.cmap": "gray",
            "figure.autolayout": False,
        }
    )


#: Widest PNG :func:`save_fig` writes (its resolution drops for wider figures).
MAX_WIDTH_PX = 1900


def save_fig(fig: plt.Figure, name: str, figures_dir: str | os.PathLike, run_id: str = "") -> Path:
    """Write ``fig`` as ``<figures_dir>/<name>.png`` atomically, stamped with ``run_id`` below the figure.

    At most about :data:`MAX_WIDTH_PX` pixels wide (the resolution drops for wide figures).
    Returns the path. The figure stays open so a notebook still displays it.
    """
    if not name or any(c in name for c in "/\\") or name.endswith(".png"):
        raise ValueError(f"figure name {name!r} must be a bare name like '01_class_balance' (no folder, no .png)")
    path = Path(figures_dir) / f"{name}.png"
    stamp = None
    if run_id:  # just below everything drawn (axes, labels, legends), so it never overlaps them
        renderer = fig.canvas.get_renderer()
        bottom = fig.get_tightbbox(renderer).y0 / fig.get_size_inches()[1]
        stamp = fig.text(0.995, min(bottom, 0.0) - 0.005, f"run: {run_id}", ha="right", va="top", fontsize=6, color="0.45")
    dpi = min(float(plt.rcParams["savefig.dpi"]) if plt.rcParams["savefig.dpi"] != "figure" else fig.dpi,
              MAX_WIDTH_PX / max(fig.get_size_inches()[0], 1e-6))
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight",
                    metadata={"Description": f"run: {run_id}", "Software": "helpers.report.plots"})
    if stamp is not None:
        stamp.remove()
    return path


def image_grid(
    images: np.ndarray,
    *,
    ncols: int = 8,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell: float = 1.3,
    vmin: float = 0,
    vmax: float = 255,
) -> plt.Figure:
    """A grid of grayscale images (uint8 N×H×W, or floats with explicit vmin/vmax)."""
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
            ax.imshow(np.squeeze(images[i]), cmap="gray", vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def class_balance_bars(counts: Mapping[str, Mapping[str, int]], title: str = "Images per class and split",
                       log: bool = False) -> plt.Figure:
    """Grouped bars: one group per split, one bar per class (or finding), counts written on the bars.

    ``log=True`` draws a log axis (multi-label data, where findings differ by orders of magnitude)."""
    import pandas as pd
    import seaborn as sns

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
    """The pixel-wise mean image of each set, and each set's mean minus the first set's.

    Two sets: one row (mean A, mean B, B − A). More sets: means on the top row, the differences
    with the first set below them. The means share a gray colour bar (mean intensity, 0-255), the
    differences a symmetric blue-red one (difference of mean intensities, same 0-255 scale).
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


def label_frequency_bars(frequencies: Mapping[str, float], title: str = "Label frequency",
                         log: bool = True) -> plt.Figure:
    """Horizontal bars of per-label counts (multi-label data), on a log axis by default: the rarest
    findings are orders of magnitude below the commonest and would vanish on a linear one."""
    names = list(frequencies)
    values = [frequencies[n] for n in names]
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(names) + 1))
    ax.barh(names, values, color="#4c72b0")
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(max(v, 1), y, f" {v:g}", va="center", fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("images (log scale)" if log else "images")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def cooccurrence_heatmap(labels: np.ndarray, names: Sequence[str], conditional: bool = True) -> plt.Figure:
    """Which labels appear together (multi-hot ``labels``, one column per name).

    ``conditional=True`` (default): cell (A, B) is P(B | A), the share of the images carrying the
    row label A that also carry the column label B (rows normalised by the row label's count, shown
    on its tick label; the diagonal, always 1, is left blank). ``conditional=False``: raw counts of
    images carrying both labels.
    """
    import seaborn as sns

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


def history_curves(history, columns: Sequence[Sequence[str]], titles: Sequence[str], x: str = "epoch", *,
                   ylabels: Sequence[str] | None = None,
                   references: Sequence[Mapping[str, float]] | None = None) -> plt.Figure:
    """One panel per group of history columns (e.g. losses; D outputs).

    ``ylabels``: one y-axis label per panel. ``references``: per panel ``{label: value}`` drawn as
    dashed horizontal lines (e.g. the equilibrium values); a label that is one of the panel's
    columns takes that curve's colour.
    """
    fig, axes = plt.subplots(1, len(columns), figsize=(4.8 * len(columns), 3.4), squeeze=False)
    for i, (ax, cols, title) in enumerate(zip(axes[0], columns, titles, strict=False)):
        drawn = {}
        for col in cols:
            if col in history:
                marker = "o" if len(history) <= 60 else None
                (line,) = ax.plot(history[x], history[col], marker=marker, ms=3, lw=1.3, label=col)
                drawn[col] = line.get_color()
        for label, value in (references[i] if references is not None and i < len(references) else {}).items():
            ax.axhline(value, ls="--", lw=1.1, color=drawn.get(label, "0.25"), alpha=0.9,
                       label=f"{label} at equilibrium ({value:.4g})" if label in drawn else f"{label} ({value:.4g})")
        ax.set_xlabel(x)
        if ylabels is not None and i < len(ylabels):
            ax.set_ylabel(ylabels[i])
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def real_vs_fake_grid(real: np.ndarray, fake: np.ndarray, n: int = 16, ncols: int = 4, seed: int = 0) -> plt.Figure:
    """Real images on the left, synthetic ones on the right (Ghosh & Dutta's Figure 12)."""
    rng = np.random.default_rng(seed)
    real = np.asarray(real)[rng.choice(len(real), size=min(n, len(real)), replace=False)]
    fake = np.asarray(fake)[rng.choice(len(fake), size=min(n, len(fake)), replace=False)]
    nrows = int(np.ceil(max(len(real), len(fake)) / ncols))
    fig = plt.figure(figsize=(2 * 1.3 * ncols + 0.4, 1.3 * nrows + 0.6))
    subfigs = fig.subfigures(1, 2, wspace=0.04)
    for sub, imgs, title in ((subfigs[0], real, "real"), (subfigs[1], fake, "synthetic")):
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(imgs):
                ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=255)
        sub.suptitle(title)
    return fig


def pair_panel(top: np.ndarray, bottom: np.ndarray, top_label: str, bottom_label: str,
               captions: Sequence[str] | None = None, title: str | None = None) -> plt.Figure:
    """Two rows of paired images (e.g. each fake above its nearest training image)."""
    n = len(top)
    fig, axes = plt.subplots(2, n, figsize=(max(1.4 * n, 4.0), 3.5 + (0.4 if title else 0)), squeeze=False)
    for i in range(n):
        for row, imgs in enumerate((top, bottom)):
            axes[row, i].imshow(imgs[i], cmap="gray", vmin=0, vmax=255)
            axes[row, i].axis("off")
        if captions is not None:
            axes[1, i].set_title(captions[i], fontsize=7, y=-0.36)
    axes[0, 0].text(-0.1, 0.5, top_label, transform=axes[0, 0].transAxes, rotation=90, ha="right", va="center", fontsize=8)
    axes[1, 0].text(-0.1, 0.5, bottom_label, transform=axes[1, 0].transAxes, rotation=90, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def nn_distance_histograms(distances: Mapping[str, np.ndarray], threshold: float, *, pixels: int | None = None,
                           percentile: float | None = None, title: str | None = None, bins: int = 40) -> plt.Figure:
    """Histograms of nearest-neighbour distances (e.g. fakes → nearest training image next to real → real).

    ``distances``: ``{label: distances}`` on one scale (:func:`helpers.evaluation.manifold.memorization` gives
    Euclidean distances between flattened 0-255 images). With ``pixels`` (H·W) every distance and the
    ``threshold`` are divided by √pixels: the root-mean-square difference per pixel on the 0-255
    scale. The near-copy ``threshold`` (the ``percentile``-th percentile of real-to-real distances)
    is a vertical line; values left of it count as near copies.
    """
    if not distances:
        raise ValueError("nn_distance_histograms needs at least one set of distances")
    scale = float(np.sqrt(pixels)) if pixels else 1.0
    sets = {k: np.asarray(v, dtype=float).ravel() / scale for k, v in distances.items()}
    thr = float(threshold) / scale
    edges = np.histogram_bin_edges(np.concatenate([*sets.values(), [thr]]), bins=bins)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colors = ["#2ca02c", "#9467bd", "#1f77b4", "#7f7f7f", "#ff7f0e"]
    for i, (label, d) in enumerate(sets.items()):
        below = float((d <= thr).mean()) if len(d) else float("nan")
        ax.hist(d, bins=edges, density=True, histtype="step", lw=1.6, color=colors[i % len(colors)],
                label=f"{label} (n={len(d):,}, median {np.median(d):.1f}, {below:.1%} ≤ threshold)")
    what = f"{_ordinal(percentile)} percentile of real → real" if percentile is not None else "threshold"
    ax.axvline(thr, color="#d62728", ls="--", lw=1.3, label=f"near-copy threshold: {what} ({thr:.1f})")
    unit = "RMS pixel difference (0-255 scale)" if pixels else "Euclidean distance"
    ax.set_xlabel(f"distance to the nearest training image: {unit}")
    ax.set_ylabel("density")
    ax.set_title(title or "Nearest-neighbour distances to the training images")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def progress_panels(epochs: Sequence[int], grids: np.ndarray, max_panels: int = 4) -> plt.Figure:
    """Tiled generator samples at up to ``max_panels`` epochs (first, last and evenly between)."""
    epochs = np.asarray(epochs)
    grids = np.asarray(grids)
    if len(epochs) == 0:
        raise ValueError("no progress grids were saved: train the GAN first")
    pick = np.unique(np.linspace(0, len(epochs) - 1, min(max_panels, len(epochs))).round().astype(int))
    fig, axes = plt.subplots(1, len(pick), figsize=(3.2 * len(pick), 3.5), squeeze=False)
    for ax, i in zip(axes[0], pick, strict=False):
        stack = grids[i]
        n, h, w = stack.shape
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        tile = np.zeros((rows * (h + 1) - 1, cols * (w + 1) - 1), dtype=stack.dtype)
        for j, img in enumerate(stack):
            r, c = divmod(j, cols)
            tile[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"epoch {int(epochs[i])}")
        ax.axis("off")
    fig.tight_layout()
    return fig


def feature_vectors(vectors: Mapping[str, np.ndarray], title: str = "512-d ResNet-18 feature vector of one image") -> plt.Figure:
    """One panel per image: its feature vector as a filled profile (Ghosh & Dutta's Figures 10-11).

    512 bars of one pixel each vanish when rendered, so each vector is drawn as a filled step line
    over the feature index; the panels share the y axis, so heights compare across images.
    """
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


def _roc_axes(ax: plt.Axes) -> None:
    ax.plot([0, 1], [0, 1], ls="--", color="0.55", lw=1, label="chance (AUC 0.5)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")


def roc_panels(curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str = "ROC curves on the test split") -> plt.Figure:
    """One ROC panel per classifier, one curve per strategy (``{classifier: {strategy: (y, score)}}``).

    A strategy has the same colour in every panel (:data:`STRATEGY_COLORS`); the legend gives each
    curve's ROC-AUC; the dashed diagonal is chance.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(3.7 * n, 4.0), squeeze=False)
    for ax, (clf, per_strategy) in zip(axes[0], curves.items(), strict=False):
        for strategy in _ordered(per_strategy, ALL_STRATEGIES):
            y, s = per_strategy[strategy]
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=1.4, color=strategy_color(strategy), label=f"{strategy} (AUC {roc_auc_score(y, s):.3f})")
        _roc_axes(ax)
        ax.set_title(clf)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _operating_point(y: Any, s: Any, threshold: float) -> tuple[float, float]:
    """(false positive rate, true positive rate) when ``score >= threshold`` is called positive."""
    y, pred = np.asarray(y).astype(bool), np.asarray(s, dtype=float) >= threshold
    return float(pred[~y].mean()), float(pred[y].mean())


def roc_overlay(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, *,
                thresholds: Mapping[str, float] | None = None) -> plt.Figure:
    """Every classifier's ROC curve in one panel (``{classifier: (y_true, y_score)}``), AUC in the legend.

    Ghosh & Dutta's Figures 18-19: call it once for the runs without GAN images and once with them.
    Each curve marks its operating point at threshold 0.5 (circle) and, with ``thresholds``
    (``{classifier: validation threshold}``), at that threshold (cross).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    from helpers.report.results import CLASSIFIERS

    if not curves:
        raise ValueError("roc_overlay needs at least one classifier's (y_true, y_score)")
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    for i, clf in enumerate(_ordered(curves, CLASSIFIERS)):
        y, s = curves[clf]
        k = CLASSIFIERS.index(clf) if clf in CLASSIFIERS else len(CLASSIFIERS) + i
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.5, color=cmap(k % 10), label=f"{clf} (AUC {roc_auc_score(y, s):.3f})")
        for thr, marker in ((0.5, "o"), ((thresholds or {}).get(clf), "X")):
            if thr is not None and np.isfinite(thr):
                ax.plot(*_operating_point(y, s, thr), marker=marker, ms=6, color=cmap(k % 10), mec="black", mew=0.6,
                        ls="none", label="_point")
    _roc_axes(ax)
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker="o", ls="none", color="0.5", mec="black", label="threshold 0.5")]
    if thresholds:
        handles += [plt.Line2D([], [], marker="X", ls="none", color="0.5", mec="black", label="validation threshold")]
    ax.legend(handles=handles, fontsize=6.5, loc="lower right")
    fig.tight_layout()
    return fig


def confusion_matrices(matrices: Mapping[str, np.ndarray], class_names: Sequence[str], *, ncols: int | None = None,
                       title: str | None = None) -> plt.Figure:
    """One annotated confusion matrix per entry (rows: true class, columns: predicted), ``ncols`` per row."""
    import seaborn as sns

    n = len(matrices)
    ncols = min(n, ncols or n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.7 * nrows + (0.5 if title else 0)), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
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
    from helpers.classifiers.classical import CLASSICAL_CLASSIFIERS

    return strategy not in (IMAGE_ONLY if classifier in CLASSICAL_CLASSIFIERS else FEATURE_ONLY)


def _mean_sd(values: Any) -> tuple[float, float, int]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def _bar_or_placeholder(ax: plt.Axes, x: float, width: float, values: Any, color: str, top: float = 1.0,
                        missing: str = "not run") -> bool:
    """A bar (mean) with an sd error bar, or a hatched full-height placeholder saying ``missing``."""
    mean, sd, n = _mean_sd(values)
    if n == 0:
        ax.bar(x, top, width, color="none", edgecolor="0.55", hatch="////", lw=0.6)
        ax.text(x, top / 2, missing, rotation=90, ha="center", va="center", fontsize=6.5, color="0.3",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
        return False
    ax.bar(x, mean, width, color=color, edgecolor="white", lw=0.4)
    if n > 1:
        ax.errorbar(x, mean, yerr=sd, color="0.15", lw=0.9, capsize=2)
    _seed_dots(ax, x, width, values)
    return True


def _seed_dots(ax: plt.Axes, x: float, width: float, values: Any) -> None:
    """One black dot per seed's value, spread across the bar so equal values stay visible."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    offsets = np.linspace(-0.25, 0.25, len(v)) * width if len(v) > 1 else np.zeros(len(v))
    ax.scatter(x + offsets, v, s=9, color="black", zorder=4, lw=0, label="_seed")


def _zoom_floor(values: Any) -> float:
    """A y-axis floor just below the lowest finite value (rounded down to 0.05)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(max(0.0, np.floor((v.min() - 0.02) * 20) / 20)) if len(v) else 0.0


def _seed_note(results, metric: str) -> str:
    counts = results[np.isfinite(results[metric].to_numpy(dtype=float))].groupby(["classifier", "strategy"]).size()
    if counts.empty:
        return "no runs"
    lo, hi = int(counts.min()), int(counts.max())
    seeds = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"mean over {seeds} seed{'s' if hi > 1 else ''}, dots: seeds, error bars: sd over seeds" + (
        " (none with one seed)" if lo == 1 else "")


def metric_bars(results, metric: str = "roc_auc", title: str | None = None, *,
                strategies: Sequence[str] | None = None, zoom: bool = False) -> plt.Figure:
    """Mean ± sd over seeds of one metric: one group per classifier, one bar per strategy.

    The y axis runs from 0 to 1 (``zoom``: from just below the lowest seed value, said on the axis); ROC-AUC and
    balanced accuracy get a dashed chance
    line at 0.5. Bars are coloured by :data:`STRATEGY_COLORS` and named below; error bars are the sd
    over seeds (none with one seed). Every strategy of ``strategies`` (default: those in ``results``)
    that could run on a classifier's input but has no finite value is drawn as a hatched full-height
    placeholder marked "not run", so a missing run never looks like a zero. Strategies that cannot run
    on a classifier's input (SMOTE/ADASYN on pixels, augmentation on features) are left out.
    """
    from helpers.report.results import CLASSIFIERS

    order = _ordered(strategies or list(results["strategy"]), ALL_STRATEGIES)
    classifiers = _ordered(list(results["classifier"]), CLASSIFIERS)
    slots = [(c, s) for c in classifiers for s in order if _applicable(c, s)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 0.3 * len(slots) + 0.25 * len(classifiers)), 4.4))
    x, ticks, labels, gap = 0.0, [], [], 0.8
    top = max(1.0, float(np.nanmax(results[metric].to_numpy(dtype=float), initial=0.0)))
    any_missing = False
    for clf in classifiers:
        start = x
        for s in (s for c, s in slots if c == clf):
            part = results[(results["classifier"] == clf) & (results["strategy"] == s)][metric]
            any_missing |= not _bar_or_placeholder(ax, x, 0.85, part, strategy_color(s), top)
            ticks.append(x)
            labels.append(s)
            x += 1.0
        ax.text((start + x - 1.0) / 2, 1.01, clf, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8.5, fontweight="bold")
        if clf != classifiers[-1]:
            ax.axvline(x - 1.0 + (1.0 + gap) / 2, color="0.8", lw=0.8)
        x += gap
    handles = []
    if metric in _CHANCE_HALF:
        handles.append(ax.axhline(0.5, ls="--", color="0.25", lw=1.0, label="chance (0.5)"))
    if any_missing:
        handles.append(mpatches.Patch(facecolor="none", edgecolor="0.55", hatch="////", label="not run (no result)"))
    ax.set_xticks(ticks, labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=7.5)
    ax.set_xlim(-0.7, x - gap - 0.3)
    ax.set_ylim(_zoom_floor(results[metric]) if zoom else 0, top)
    ax.set_ylabel(_metric_name(metric) + (" (axis zoomed)" if zoom else ""))
    ax.grid(axis="x", visible=False)
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(1.005, 0.0), framealpha=0.9)
    fig.suptitle(title or f"{_metric_name(metric)} on the test split", fontsize=11)
    ax.set_title(f"bars: {_seed_note(results, metric)}", fontsize=7.5, color="0.3", pad=16)
    fig.tight_layout()
    return fig


_ARM_LABELS = {arm: f"{label} ({arm})" for arm, label in TABLE_1_ARMS.items()}


def metric_bars_with_without(results, metrics: Sequence[str] = ("precision", "recall", "f1"),
                             arms: Sequence[str] = tuple(TABLE_1_ARMS), title: str | None = None, *,
                             arm_labels: Mapping[str, str] | None = None) -> plt.Figure:
    """Ghosh & Dutta's Figures 14-16: one panel per metric (stacked), bars per classifier with vs without GAN images.

    Each bar is the mean over seeds with an sd error bar (none with one seed) and a dot per seed; an arm a classifier
    did not run is a hatched "n/a" placeholder. y runs from 0 to 1. ``arms`` are strategy names
    (labels from ``arm_labels`` or the defaults: without GAN / with DCGAN / with improved GAN).
    """
    from helpers.report.results import CLASSIFIERS

    labels = {**_ARM_LABELS, **(arm_labels or {})}
    classifiers = _ordered(list(results["classifier"]), CLASSIFIERS)
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
                any_missing |= not _bar_or_placeholder(ax, i - 0.4 + width * (j + 0.5), width * 0.92, part,
                                                       strategy_color(arm), missing="n/a")
        ax.set_xticks(range(len(classifiers)), classifiers, rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(_metric_name(metric), fontsize=10)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("test value", fontsize=8)
    handles = [mpatches.Patch(color=strategy_color(a), label=labels.get(a, a)) for a in arms]
    if any_missing:
        handles.append(mpatches.Patch(facecolor="none", edgecolor="0.55", hatch="////", label="n/a: not run"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 2), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title or f"With vs without GAN images: test metrics per classifier\n(bars: {_seed_note(results, metrics[0])})",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


def difference_forest(diffs, title: str, *, metric: str | None = None, sort: bool = True) -> plt.Figure:
    """Paired differences (target − baseline) with their intervals, one row per comparison.

    Accepts :func:`helpers.evaluation.comparisons.paired_comparisons` rows (``classifier``, ``target``, ``baseline``,
    ``mean_diff``, ``low``, ``high``, ``p_holm``, ``verdict``: points coloured by verdict, Holm p
    written on the right) or :func:`helpers.evaluation.comparisons.paired_difference` rows (``strategy_a``,
    ``strategy_b``). Rows are sorted by the difference (largest on top; ``sort=False`` keeps their order); the solid line at 0 is "no
    difference". Pairs without a difference (a strategy a classifier did not run) are left out. A
    ``seed_diffs`` column (``;``-separated per-seed differences) adds one dot per seed under each row.
    """
    diffs = diffs[np.isfinite(diffs["mean_diff"].to_numpy(dtype=float))]
    if diffs.empty:
        raise ValueError("no paired differences to draw: the strategies never ran on the same classifier and seed")
    target, baseline = ("target", "baseline") if "target" in diffs else ("strategy_a", "strategy_b")
    if sort:
        diffs = diffs.sort_values("mean_diff", ascending=False, kind="stable")
    metric = metric or (str(diffs["metric"].iloc[0]) if "metric" in diffs and diffs["metric"].nunique() == 1 else "the metric")
    fig, ax = plt.subplots(figsize=(9.0 if "p_holm" in diffs else 7.0, 0.42 * len(diffs) + 1.5))
    labels = [f"{r[0]}: {r[1]} − {r[2]}" for r in diffs[["classifier", target, baseline]].itertuples(index=False)]
    y = np.arange(len(diffs))
    means = diffs["mean_diff"].to_numpy(dtype=float)
    err = np.vstack([np.nan_to_num(means - diffs["low"].to_numpy(dtype=float)),
                     np.nan_to_num(diffs["high"].to_numpy(dtype=float) - means)])
    verdict_colors = {"better": "#2ca02c", "worse": "#d62728"}
    colors = [verdict_colors.get(v, "#4c72b0") for v in (diffs["verdict"] if "verdict" in diffs else [""] * len(diffs))]
    ax.axvline(0, color="0.3", lw=1.1, label="no difference")
    for yi, m, e0, e1, c in zip(y, means, err[0], err[1], colors, strict=True):
        ax.errorbar(m, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=3, ms=5)
    if "seed_diffs" in diffs:  # one small black dot per seed's difference
        for yi, text in zip(y, diffs["seed_diffs"].astype(str), strict=True):
            v = [float(x) for x in text.split(";") if x.strip() not in ("", "nan")]
            ax.scatter(v, np.full(len(v), yi + 0.22), s=8, color="black", zorder=4, lw=0)
    if "p_holm" in diffs:
        labels = [f"{label}  (Holm p {p:.3f})" if p >= 0.001 else f"{label}  (Holm p < 0.001)"
                  for label, p in zip(labels, diffs["p_holm"].to_numpy(dtype=float), strict=True)]
    if "verdict" in diffs:
        handles = [mpatches.Patch(color=c, label=v) for v, c in (("better", "#2ca02c"), ("no clear difference", "#4c72b0"),
                                                                  ("worse", "#d62728"))]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  title="verdict (Holm-adjusted)", title_fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.set_major_locator(plt.MaxNLocator(6))
    ax.set_ylim(len(diffs) - 0.5, -0.5)
    ax.set_xlabel(f"difference in {_metric_name(metric) if metric != 'the metric' else metric} (target − baseline)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def curves_by_group(history, y: Sequence[str], col: str = "model", hue: str = "strategy",
                    x: str = "epoch", title: str | None = None) -> plt.Figure:
    """Per-epoch curves: one row per metric in ``y``, one column per value of ``col``, one line per ``hue``.

    With ``hue="strategy"`` the lines take :data:`STRATEGY_COLORS`; the lines are means over seeds
    with an sd band.
    """
    import seaborn as sns

    cols = list(dict.fromkeys(history[col]))
    palette = {s: strategy_color(s) for s in history[hue].unique()} if hue == "strategy" else None
    fig, axes = plt.subplots(len(y), len(cols), figsize=(4.2 * len(cols), 2.9 * len(y)), squeeze=False, sharex="col")
    for j, c in enumerate(cols):
        part = history[history[col] == c]
        for i, metric in enumerate(y):
            ax = axes[i, j]
            if metric in part and part[metric].notna().any():
                sns.lineplot(data=part, x=x, y=metric, hue=hue, ax=ax, errorbar="sd", marker="o", markersize=3,
                             palette=palette)
                ax.legend(fontsize=7, title=None)
            if metric in _CHANCE_HALF:
                ax.axhline(0.5, ls="--", color="0.4", lw=0.9)
            ax.set_ylabel(_metric_name(metric))
            ax.set_title(f"{c}: {_metric_name(metric)}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


_EPOCH_METRICS = ("val_auc_exact", "val_balanced_accuracy")


def accuracy_over_epochs(long, title: str | None = None, *, show_train: bool = False) -> plt.Figure:
    """Per-epoch validation ROC-AUC and balanced accuracy: one row per model, one line per training set.

    ``long``: :func:`helpers.report.accuracy_over_epochs` (columns ``model``, ``epoch``,
    ``training_set``, ``metric``, ``value``; optional ``strategy``, ``seed``). Validation *accuracy*
    is left out: on an imbalanced split it sits at the majority share while the model learns nothing.
    A metric the histories did not record at all gets no panel and a note under the title (one
    recorded for some models only: a note in the empty panels). ``show_train=True`` adds the training
    accuracy. Lines are means over seeds with an sd band; dashed lines mark chance (0.5).
    """
    import seaborn as sns

    have = set(long.dropna(subset=["value"])["metric"])
    metrics_ = [m for m in _EPOCH_METRICS if m in have] + (["accuracy"] if show_train and "accuracy" in have else [])
    unrecorded = [_metric_name(m) for m in _EPOCH_METRICS if m not in have]
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
                ax.text(0.5, 0.5, f"{_metric_name(metric)}\nnot recorded in the histories", ha="center", va="center",
                        fontsize=8, color="0.35", transform=ax.transAxes)
            else:
                sns.lineplot(data=part, x="epoch", y="value", hue="training_set", errorbar="sd", marker="o",
                             markersize=3, ax=ax, palette=palette)
                ax.legend(fontsize=7, title=None)
            if metric in _CHANCE_HALF and not part.empty:
                ax.axhline(0.5, ls="--", color="0.4", lw=0.9)
            ax.set_title(f"{model}: {_metric_name(metric)}", fontsize=9)
            ax.set_ylabel(_metric_name(metric))
            ax.set_xlabel("epoch")
    shown = " and ".join(_metric_name(m) for m in metrics_ if m != "accuracy")
    fig.suptitle((title or f"{shown[0].upper() + shown[1:]} over epochs: original vs GAN-augmented training set")
                 + (f"\n({', '.join(unrecorded)} per epoch: not recorded in these histories)" if unrecorded else ""),
                 fontsize=11)
    fig.tight_layout()
    return fig


_ADDED_KIND = {"random": "duplicated real", "smote": "interpolated (SMOTE)", "adasyn": "interpolated (ADASYN)"}
_ADDED_COLOR = {"duplicated real": "#9ecae1", "interpolated (SMOTE)": "#c5b0d5", "interpolated (ADASYN)": "#dbb7a0",
                "GAN fakes": PALETTE["synthetic"], "added": "#bbbbbb"}


def class_counts_after_oversampling(rows, train_counts: Mapping[str, int], minority: str,
                                    title: str | None = None) -> plt.Figure:
    """Training images per class after each strategy (Ghosh & Dutta's Figure 13): real and added rows stacked.

    ``rows``: result rows (a DataFrame or records) with ``strategy``, ``n_train`` and ``n_synthetic``
    (the rows a strategy added; one row per strategy is used, they agree over seeds);
    ``train_counts``: ``{class name: images}`` of the real training split; ``minority``: the class the
    added rows belong to. Added rows are hatched and named by kind (duplicates, interpolations, GAN
    fakes); class weights add no rows, their minority weight is written on the bar.
    """
    import pandas as pd

    table = pd.DataFrame(rows)
    if minority not in train_counts or len(train_counts) < 2:
        raise ValueError(f"train_counts must hold {minority!r} and at least one other class, got {dict(train_counts)}")
    n_min = int(train_counts[minority])
    n_maj = int(sum(v for k, v in train_counts.items() if k != minority))
    majority = " + ".join(k for k in train_counts if k != minority)
    order = _ordered(list(table["strategy"]), ALL_STRATEGIES)
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


# ---------------------------------------------------------------------------------------------
# Diagrams drawn from built models
# ---------------------------------------------------------------------------------------------
#: Parameter-free (or normalising) layers that join the box of the layer before them.
_ATTACH = ("LeakyReLU", "ReLU", "Activation", "ELU", "PReLU", "Softmax", "Dropout", "BatchNormalization")
_BOX_COLORS = {"conv": "#d6e6f5", "dense": "#fde2c8", "input": "#e8e8e8", "shape": "#fff4c2", "other": "#e6f2e1"}


def _layer_kind(layer: Any) -> tuple[str, str, str]:
    """``(type name, detail, colour key)`` of one Keras layer."""
    name = type(layer).__name__
    inner = getattr(layer, "layer", None)
    cfg = (inner or layer).get_config() if hasattr(inner or layer, "get_config") else {}
    core = type(inner).__name__ if inner is not None else name
    detail = ""
    if core in ("Conv2D", "Conv2DTranspose", "Conv1D", "SeparableConv2D", "DepthwiseConv2D"):
        k = "×".join(str(v) for v in cfg.get("kernel_size", ()))
        s = cfg.get("strides", (1,))[0]
        detail = f"{cfg.get('filters', '')} filters {k}" + (f", stride {s}" if s != 1 else "")
    elif core == "Dense":
        detail = f"{cfg.get('units')} unit{'s' if cfg.get('units') != 1 else ''}"
    elif core == "Embedding":
        detail = f"{cfg.get('input_dim')} classes → {cfg.get('output_dim')}"
    elif core == "Dropout":
        detail = f"rate {cfg.get('rate')}"
    elif core == "LeakyReLU":
        detail = f"slope {cfg.get('negative_slope', cfg.get('alpha', ''))}"
    act = cfg.get("activation")
    if core in ("Conv2D", "Conv2DTranspose", "Dense") and act not in (None, "linear"):
        detail += f", {act}"
    label = f"SpectralNorm({core})" if inner is not None and name == "SpectralNormalization" else core
    key = ("input" if core == "InputLayer" else "conv" if "Conv" in core else "dense" if core in ("Dense", "Embedding")
           else "shape" if core in ("Reshape", "Flatten", "Concatenate", "Resizing") else "other")
    return label, detail, key


def model_rows(model: Any) -> list[dict[str, Any]]:
    """The boxes of :func:`model_diagram`: one per layer, activations/dropout/BN merged into the layer before.

    Each row: ``kind`` (e.g. ``"Conv2DTranspose + LeakyReLU"``), ``detail``, ``shape`` (output, no
    batch axis), ``params``, ``layers`` (the Keras layer names), ``color`` (a box colour key),
    ``inputs`` (how many tensors flow in).
    """
    rows: list[dict[str, Any]] = []
    for layer in model.layers:
        label, detail, key = _layer_kind(layer)
        try:
            shape = _shape_text(layer.output.shape)
        except (AttributeError, ValueError):
            shape = "?"
        params = int(layer.count_params()) if layer.built else 0
        inbound = getattr(layer, "_inbound_nodes", [])
        n_in = len(inbound[0].input_tensors) if inbound and hasattr(inbound[0], "input_tensors") else 1
        if label in _ATTACH and rows and rows[-1]["color"] != "input" and n_in == 1:
            prev = rows[-1]
            prev["kind"] += f" + {label}"
            prev["detail"] = ", ".join(d for d in (prev["detail"], detail) if d)
            prev["shape"], prev["params"] = shape, prev["params"] + params
            prev["layers"].append(layer.name)
            continue
        if label == "InputLayer":
            label = f"Input '{layer.name}'"
        elif n_in > 1:
            detail = ", ".join(d for d in (detail, f"joins {n_in} inputs") if d)
        rows.append({"kind": label, "detail": detail, "shape": shape, "params": params, "layers": [layer.name],
                     "color": key, "inputs": n_in})
    return rows


def _collapse_rows(rows: list[dict[str, Any]], max_rows: int) -> list[dict[str, Any]]:
    """Runs of boxes of the same kind become one box ``kind ×n`` (first → last shape) when there are too many."""
    if len(rows) <= max_rows:
        return rows
    out: list[dict[str, Any]] = []
    for row in rows:
        prev = out[-1] if out else None
        if prev is not None and prev["kind"].split(" ×")[0] == row["kind"]:
            n = int(prev.get("repeat", 1)) + 1
            prev.update(kind=f"{row['kind']} ×{n}", repeat=n, params=prev["params"] + row["params"],
                        shape=f"{prev.get('first_shape', prev['shape'])} → {row['shape']}", layers=prev["layers"] + row["layers"],
                        detail="repeated blocks")
        else:
            out.append(dict(row, first_shape=row["shape"]))
    if len(out) > max_rows:
        head, tail = out[: max_rows // 2], out[-(max_rows - max_rows // 2 - 1):]
        hidden = out[len(head): len(out) - len(tail)]
        gap = {"kind": f"… {len(hidden)} more boxes …", "detail": "", "shape": "", "color": "other", "inputs": 1,
               "params": sum(r["params"] for r in hidden), "layers": [n for r in hidden for n in r["layers"]]}
        out = [*head, gap, *tail]
    return out


def _box(ax: plt.Axes, x: float, y: float, w: float, h: float, color: str, *, dashed: bool = False,
         lw: float = 0.9) -> None:
    ax.add_patch(mpatches.FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06", facecolor=color,
                                         edgecolor="0.3", lw=lw, ls="--" if dashed else "-"))


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], *, color: str = "0.25",
           style: str = "-|>", ls: str = "-", rad: float = 0.0, lw: float = 1.1) -> None:
    ax.add_patch(mpatches.FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, color=color, lw=lw,
                                          linestyle=ls, connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1))


def _box_stack(ax: plt.Axes, boxes: Sequence[dict[str, Any]], *, x: float, width: float, h: float,
               detail_size: float) -> None:
    """Boxes top to bottom joined by arrows, each with a bold ``title`` and a ``detail`` line on the
    left, its ``shape`` and parameter count on the right, filled with ``color`` (the model and
    backbone diagrams)."""
    n = len(boxes)
    for i, b in enumerate(boxes):
        y = n - 1 - i + (1 - h) / 2
        _box(ax, x, y, width, h, b["color"])
        ax.text(x + 0.03, y + h * 0.68, b["title"], fontsize=8.5, fontweight="bold", va="center")
        if b["detail"]:
            ax.text(x + 0.03, y + h * 0.27, b["detail"], fontsize=detail_size, va="center", color="0.2")
        right = x + width - 0.02
        ax.text(right, y + h * 0.68, b["shape"], fontsize=8, va="center", ha="right", family="monospace")
        ax.text(right, y + h * 0.27, f"{b['params']:,} params", fontsize=detail_size, va="center", ha="right",
                color="0.3")
        if i + 1 < n:
            _arrow(ax, (0.5, y), (0.5, y - (1 - h)))


def model_diagram(model: Any, title: str | None = None, max_rows: int = 22) -> plt.Figure:
    """A block diagram of a built Keras model: one box per layer, top to bottom.

    Each box names the layer type (activations, dropout and batch normalisation merged into the layer
    they follow, e.g. "Conv2DTranspose + LeakyReLU"), its settings, its output shape (batch axis left
    out) and its parameter count. With more than ``max_rows`` boxes, runs of boxes of the same kind
    are collapsed into one ("… ×n"), then the middle is elided. Layers are listed in the model's
    order; a box that joins several inputs says so (conditional GANs).
    """
    rows = _collapse_rows(model_rows(model), max_rows)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(6.6, 0.62 * n + 1.1))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.35, n)
    ax.axis("off")
    boxes = [{**row, "title": row["kind"], "color": _BOX_COLORS.get(row["color"], "white")} for row in rows]
    _box_stack(ax, boxes, x=0.03, width=0.94, h=0.62, detail_size=7.5)
    total = int(model.count_params())
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    ax.text(0.5, -0.3, f"{total:,} parameters ({trainable:,} trainable) · shapes without the batch axis",
            ha="center", va="bottom", fontsize=7.5, color="0.3")
    ax.set_title(title or model.name, fontsize=11)
    fig.tight_layout()
    return fig


def _elbow(ax: plt.Axes, points: Sequence[tuple[float, float]], *, color: str, ls: str = "--", lw: float = 1.2) -> None:
    """A polyline through ``points`` ending in an arrow head."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=color, ls=ls, lw=lw, solid_capstyle="butt")
    _arrow(ax, points[-2], points[-1], color=color, ls=ls, lw=lw)


def gan_system_diagram(*, diffaugment: str | bool | None = None, conditional: bool = False, loss: str = "bce",
                       latent_dim: int = 100, image_size: int | None = None, ema: bool = False,
                       minority: str = "minority", title: str | None = None) -> plt.Figure:
    """The GAN as a system (Ghosh & Dutta's Figures 1-2), drawn with matplotlib patches.

    Noise z → generator G → fake images; the training split's real ``minority`` images (both classes
    with their labels when ``conditional``) and the fakes
    → DiffAugment (only when ``diffaugment`` names a policy or is True) → discriminator D → real/fake
    loss (``"bce"`` or ``"hinge"``), whose gradients update D (tell real from fake) and G (make D call
    fakes real). ``conditional`` adds the class label fed to both networks; ``ema`` notes the averaged
    copy of G that draws the samples.
    """
    size = f"{image_size}×{image_size}×1" if image_size else "H×W×1"
    fig, ax = plt.subplots(figsize=(11.5, 4.9))
    ax.set_xlim(0, 14.6)
    ax.set_ylim(0, 6.3)
    ax.axis("off")
    bh = 1.0

    def node(x: float, y: float, w: float, text: str, color: str) -> None:
        _box(ax, x, y, w, bh, color, lw=1.2)
        ax.text(x + w / 2, y + bh / 2, text, ha="center", va="center", fontsize=8.5)

    top, bottom, mid = 3.9, 0.9, 2.4
    node(0.2, top, 1.9, f"noise z\n~ N(0, I$_{{{latent_dim}}}$)", "#e8e8e8")
    node(2.6, top, 1.9, "Generator G", "#fde2c8")
    node(5.0, top, 2.1, f"fake images\nG(z), {size}", "#f7d4d4")
    real = "real images, both classes\n+ their labels" if conditional else f"real {minority} images"
    node(5.0, bottom, 2.1, f"{real}\n(training split only)", "#d6e6f5")
    _arrow(ax, (2.1, top + 0.5), (2.6, top + 0.5))
    _arrow(ax, (4.5, top + 0.5), (5.0, top + 0.5))
    policy = diffaugment if isinstance(diffaugment, str) and diffaugment else ("on" if diffaugment else "")
    d_x, d_w = 9.9, 2.0
    if policy:
        node(7.7, mid, 1.7, "DiffAugment\n" + "\n".join(textwrap.wrap(policy.replace(",", ", "), 18)), "#e6f2e1")
        _arrow(ax, (7.1, top + 0.5), (8.55, mid + bh), rad=-0.2)
        _arrow(ax, (7.1, bottom + 0.5), (8.55, mid), rad=0.2)
        _arrow(ax, (9.4, mid + 0.5), (d_x, mid + 0.5))
        ax.text(8.55, mid - 0.15, "every image D sees,\nreal and fake", ha="center", va="top", fontsize=6.5, color="0.35")
    else:
        _arrow(ax, (7.1, top + 0.5), (d_x + d_w / 2, mid + bh), rad=-0.15)
        _arrow(ax, (7.1, bottom + 0.5), (d_x + d_w / 2, mid), rad=0.15)
    node(d_x, mid, d_w, "Discriminator D\n" + ("P(real)" if loss == "bce" else "score"), "#fde2c8")
    loss_text = ("BCE loss\nD: real → 1, fake → 0\nG: fake → 1" if loss == "bce"
                 else "hinge loss\nD: relu(1 − D(x))\n + relu(1 + D(G(z)))\nG: −D(G(z))")
    l_x = 12.4
    ax.text(l_x + 1.0, mid + 0.5, loss_text, ha="center", va="center", fontsize=7.5,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.3"})
    _arrow(ax, (d_x + d_w, mid + 0.5), (l_x, mid + 0.5))
    _elbow(ax, [(l_x + 1.0, mid - 0.25), (l_x + 1.0, 0.35), (d_x + d_w / 2, 0.35), (d_x + d_w / 2, mid)], color="#1f77b4")
    ax.text((l_x + d_x + d_w / 2 + 1.0) / 2, 0.42, "update D", color="#1f77b4", fontsize=7.5, ha="center", va="bottom")
    _elbow(ax, [(l_x + 1.0, mid + 1.3), (l_x + 1.0, 5.75), (3.55, 5.75), (3.55, top + bh)], color="#d62728")
    ax.text(8.0, 5.82, "update G: gradients flow back through D" + (" (non-saturating loss)" if loss == "bce" else ""),
            color="#d62728", fontsize=7.5, ha="center", va="bottom")
    if conditional:
        node(0.2, bottom, 1.9, "class label y", "#fff4c2")
        _arrow(ax, (2.1, bottom + 0.7), (3.2, top), rad=0.1)
        ax.text(1.15, bottom - 0.1, "also fed to D with every image", fontsize=6.5, color="0.35", ha="center", va="top")
    if ema:
        ax.text(3.55, top - 0.12, "an EMA copy of G's weights\ndraws the samples", ha="center", va="top", fontsize=6.8,
                color="0.35")
    ax.set_title(title or f"The GAN as a system ({'conditional, ' if conditional else ''}{loss.upper()} loss"
                 f"{', DiffAugment' if policy else ', no augmentation'})", fontsize=11)
    fig.tight_layout()
    return fig


def _flat_layers(model: Any) -> list[tuple[Any, bool]]:
    """Every layer of ``model``, nested models expanded in place: ``(layer, inside a nested model)``."""
    out: list[tuple[Any, bool]] = []

    def walk(m: Any, nested: bool) -> None:
        for layer in m.layers:
            if hasattr(layer, "layers") and layer.layers and type(layer).__name__ not in ("Sequential",):
                walk(layer, True)
            else:
                out.append((layer, nested))

    walk(model, False)
    return out


def _stage(label: str, detail: str, layers: Sequence[Any], kind: str) -> dict[str, Any]:
    shape = _shape_text(layers[-1].output.shape) if layers else ""
    return {"label": label, "detail": detail, "shape": shape, "params": int(sum(lay.count_params() for lay in layers)),
            "kind": kind}


_PREPROCESSING = {"Resizing": "resize", "GrayToRGB": "gray → 3 channels", "Rescaling": "÷ 255",
                  "Normalization": "ImageNet mean/std"}


def backbone_stages(model: Any) -> dict[str, Any]:
    """The stage-level structure of a built DenseNet121 or keras-hub ResNet-18 model, read from its layers.

    DenseNet121 (``keras.applications`` names): the stem up to ``pool1``, dense block k from the
    ``conv{k+1}_block*`` layers (its output ``conv{k+1}_block{n}_concat``), transition k from
    ``pool{k+1}_*``, then the final BN-ReLU and pooling. ResNet-18 (keras-hub names): the stem
    ``conv1_*``/``pool1_*``, stage k from ``stack{k-1}_*`` (output ``stack{k-1}_block{n}_out``). Layers of
    the wrapping model before the backbone (resize, gray→RGB, normalisation) form an "input" stage and
    those after it (pooling, the sigmoid head) a "head" stage. Returns ``name``, ``stages`` (``label``,
    ``detail``, ``shape`` without the batch axis, ``params``, ``kind``), ``unit`` (the inside of one
    block: ``title``, ``steps``, ``merge``) and ``total_params``.
    """
    import re

    flat = _flat_layers(model)
    names = {layer.name: layer for layer, _ in flat}
    if "conv2_block1_concat" in names:
        family = "densenet"
    elif "stack0_block0_add" in names:
        family = "resnet"
    else:
        raise ValueError("backbone_stages knows DenseNet121 (keras.applications) and keras-hub ResNet layer names; "
                         f"found neither in {model.name!r}")
    groups: dict[str, list[Any]] = {}
    order: list[str] = []
    seen_backbone = False
    for layer, nested in flat:
        n = layer.name
        if type(layer).__name__ == "InputLayer":
            continue
        if not nested and not seen_backbone:
            key = "input"
        elif not nested:
            key = "head"
        else:
            seen_backbone = True
            m_block = re.match(r"conv(\d+)_block", n) if family == "densenet" else re.match(r"stack(\d+)_", n)
            m_trans = re.match(r"pool(\d+)_", n) if family == "densenet" else None
            if m_block and (family == "resnet" or int(m_block[1]) >= 2):
                key = f"block{int(m_block[1]) - (1 if family == 'densenet' else -1)}"
            elif m_trans and int(m_trans[1]) >= 2:
                key = f"transition{int(m_trans[1]) - 1}"
            elif n.startswith(("conv1", "pool1", "zero_padding2d")):
                key = "stem"
            else:
                key = "post"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(layer)
    stages = []
    for key in order:
        layers = groups[key]
        if key == "input":
            stages.append(_stage("Input + preprocessing", " · ".join(_PREPROCESSING.get(type(lay).__name__, lay.name)
                                                                      for lay in layers), layers, "input"))
        elif key == "stem":
            stages.append(_stage("Stem", "7×7 conv 64, stride 2 · BN-ReLU · 3×3 max pool, stride 2", layers, "stem"))
        elif key.startswith("block") and family == "densenet":
            k = key[len("block"):]
            n_layers = len({re.match(r"conv\d+_block(\d+)_", lay.name)[1] for lay in layers})
            stages.append(_stage(f"Dense block {k}", f"{n_layers} layers, each BN-ReLU-Conv1×1-BN-ReLU-Conv3×3 → concat",
                                 layers, "block"))
        elif key.startswith("block"):
            k = key[len("block"):]
            n_blocks = len({re.match(r"stack\d+_block(\d+)_", lay.name)[1] for lay in layers})
            conv = names.get(f"stack{int(k) - 1}_block0_1_conv")
            filters = conv.get_config()["filters"] if conv is not None else "?"
            stride = conv.get_config()["strides"][0] if conv is not None else 1
            stages.append(_stage(f"Stage {k}", f"{n_blocks} basic blocks, {filters} filters"
                                 + (f", first stride {stride}" if stride != 1 else ""), layers, "block"))
        elif key.startswith("transition"):
            stages.append(_stage(f"Transition {key[len('transition'):]}", "BN-ReLU · 1×1 conv (halves channels) · "
                                 "2×2 avg pool, stride 2", layers, "transition"))
        elif key == "post":
            stages.append(_stage("Final BN-ReLU + global average pool" if family == "densenet" else "Backbone output",
                                 "", layers, "head"))
        else:
            parts = [" ".join(p for p in _layer_kind(lay)[:2] if p) for lay in layers]
            stages.append(_stage("Head", " · ".join(p.replace("GlobalAveragePooling2D", "global average pool")
                                                     for p in parts), layers, "head"))
    if family == "densenet":
        bott, grow = names["conv2_block1_1_conv"].get_config()["filters"], names["conv2_block1_2_conv"].get_config()["filters"]
        unit = {"title": "inside a dense block (one layer)", "merge": "concat",
                "steps": ["BN", "ReLU", f"Conv 1×1, {bott} filters", "BN", "ReLU", f"Conv 3×3, {grow} filters",
                          f"concatenate with the input (+{grow} channels)"]}
        name = "DenseNet121"
    else:
        unit = {"title": "inside a basic block", "merge": "add",
                "steps": ["Conv 3×3 (stride 1 or 2)", "BN", "ReLU", "Conv 3×3", "BN",
                          "add the shortcut (1×1 conv, stride 2,\nwhen the shape changes)", "ReLU"]}
        name = "ResNet-18"
    return {"name": name, "stages": stages, "unit": unit, "total_params": int(model.count_params())}


_STAGE_COLORS = {"input": "#e8e8e8", "stem": "#d6e6f5", "block": "#fde2c8", "transition": "#e6f2e1", "head": "#fff4c2"}


def backbone_diagram(stages: Any, title: str | None = None) -> plt.Figure:
    """A stage-level diagram of a backbone (left) and the inside of one of its blocks (right).

    ``stages``: :func:`backbone_stages` output, or a built DenseNet121 / keras-hub ResNet-18 model
    (read with :func:`backbone_stages`). Each stage box gives its output shape and parameter count.
    """
    spec = stages if isinstance(stages, Mapping) else backbone_stages(stages)
    rows, unit = spec["stages"], spec["unit"]
    n = len(rows)
    fig = plt.figure(figsize=(10.2, 0.62 * max(n, len(unit["steps"]) + 1) + 1.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[2.5, 1.15], wspace=0.05)
    ax = fig.add_subplot(grid[0])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.4, n)
    ax.axis("off")
    boxes = [{**row, "title": row["label"], "color": _STAGE_COLORS.get(row["kind"], "white"),
              "detail": "\n".join(textwrap.wrap(row["detail"], 70))[:140]} for row in rows]
    _box_stack(ax, boxes, x=0.02, width=0.96, h=0.64, detail_size=7)
    ax.text(0.5, -0.35, f"{spec['total_params']:,} parameters · output shapes without the batch axis",
            ha="center", va="bottom", fontsize=7.5, color="0.3")
    ax2 = fig.add_subplot(grid[1])
    steps = unit["steps"]
    m = len(steps)
    ax2.set_xlim(0, 1)
    ax2.set_ylim(-0.4, n)
    ax2.axis("off")
    pitch = min(0.85, (n - 1.2) / (m + 0.5))
    y_in = n - 0.75
    ax2.text(0.4, n - 0.35, unit["title"], ha="center", va="center", fontsize=9, fontweight="bold")
    ax2.text(0.4, y_in, "block input", ha="center", va="center", fontsize=7, color="0.3")
    prev, merge_y = y_in - 0.12, None
    for j, step in enumerate(steps):
        y = y_in - pitch * (j + 1)
        merge = step.startswith(("add", "concatenate"))
        _box(ax2, 0.06, y, 0.68, pitch * 0.62, "#fde2c8" if "Conv" in step else "#d6e6f5" if merge else "#f3f3f3")
        ax2.text(0.4, y + pitch * 0.31, "\n".join(textwrap.wrap(step.replace("\n", " "), 30)), ha="center", va="center",
                 fontsize=6.6)
        _arrow(ax2, (0.4, prev), (0.4, y + pitch * 0.62))
        prev = y
        if merge:
            merge_y = y + pitch * 0.31
    if merge_y is not None:
        _elbow(ax2, [(0.56, y_in), (0.86, y_in), (0.86, merge_y), (0.74, merge_y)], color="#1f77b4")
        ax2.text(0.9, (y_in + merge_y) / 2, "the block input itself" if unit["merge"] == "concat" else "shortcut",
                 rotation=90, fontsize=7, color="#1f77b4", ha="left", va="center")
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.55 / height, bottom=0.02)
    fig.suptitle(title or f"{spec['name']}: stages and output shapes", fontsize=11)
    return fig


# --------------------------------------------------------------------------------------------------
# Chapter 7: multi-label findings (NIH ChestX-ray14 labels)
# --------------------------------------------------------------------------------------------------

__all__ += ["ARM_COLORS", "finding_frequency_bars", "finding_auroc_dots", "multilabel_epoch_curves",
            "real_vs_synthetic_rows"]

#: Chapter 7's two arms: real images only (grey) and real + GAN images (the synthetic colour).
ARM_COLORS = {"original": "#7f7f7f", "gan": PALETTE["synthetic"]}


def finding_frequency_bars(counts: Any, sizes: Mapping[str, int], title: str = "Images per finding") -> plt.Figure:
    """Horizontal bars of positives per finding (rows of ``counts``) and split (its columns) on a log axis.

    ``sizes``: images per split; the train bar is labelled with its count and share. Findings are
    sorted from the most to the least frequent in the first column.
    """
    import pandas as pd

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
    """Per finding, test AUROC of each arm: the mean over seeds (large marker) and each seed (small dots).

    ``results``: rows with ``finding``, ``arm``, ``seed``, ``auroc``. ``published``: reference values per
    finding drawn as hollow black diamonds, labelled ``published_label`` (values measured on other data
    or splits: context, not a comparison). Findings in ``scarce`` (the GAN-augmented ones) get a star.
    """
    import pandas as pd

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
    """Sumithra Devi K A et al.'s Figure 3 made honest: val mean AUROC (left) and element-wise accuracy (right) per epoch.

    ``histories``: rows with ``arm``, ``seed``, ``epoch``, ``val_mean_auroc``, ``val_elementwise_accuracy``;
    one line per arm (mean over seeds, band from the lowest to the highest seed). ``all_negative``: the
    element-wise accuracy of predicting "no finding" everywhere, drawn as a dashed line on the right.
    """
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

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
    """Sumithra Devi K A et al.'s Figure 4 per finding: one row each, ``n`` real training images left, ``n`` GAN images right."""
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


def metric_grid(results, metric: str = "roc_auc", title: str | None = None, *, ncols: int = 4,
                strategies: Sequence[str] | None = None) -> plt.Figure:
    """One small panel per classifier (``ncols`` per row): a bar per strategy (mean), a dot per seed.

    The y axis is zoomed to the values (shared by all panels, said on the axis) so differences of a
    few thousandths stay visible; error bars are the sd over seeds. Each panel shows the strategies
    that classifier ran (the others are absent, not zero).
    """
    from helpers.report.results import CLASSIFIERS

    order = _ordered(strategies or list(results["strategy"]), ALL_STRATEGIES)
    classifiers = _ordered(list(results["classifier"]), CLASSIFIERS)
    ncols = min(ncols, len(classifiers))
    nrows = -(-len(classifiers) // ncols)
    floor = _zoom_floor(results[metric])
    top = min(1.0, float(np.nanmax(results[metric].to_numpy(dtype=float))) + 0.01)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 2.9 * nrows + 0.6), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(classifiers):]:
        ax.set_axis_off()
    for ax, clf in zip(axes.ravel(), classifiers, strict=False):
        ran = results[(results["classifier"] == clf) & np.isfinite(results[metric].to_numpy(dtype=float))]
        names = [s for s in order if s in set(ran["strategy"])]
        for i, strategy in enumerate(names):
            _bar_or_placeholder(ax, i, 0.8, ran.loc[ran["strategy"] == strategy, metric], strategy_color(strategy), top)
        ax.set_xticks(range(len(names)), names, rotation=55, ha="right", rotation_mode="anchor", fontsize=7)
        ax.set_title(clf, fontsize=9)
        ax.set_ylim(floor, top)
        ax.grid(axis="x", visible=False)
        ax.tick_params(axis="y", labelsize=7)
    for row in axes:
        row[0].set_ylabel(f"{_metric_name(metric)}\n(axis from {floor:.2f})", fontsize=8)
    fig.suptitle(title or f"{_metric_name(metric)} on the test split ({_seed_note(results, metric)})", fontsize=10)
    fig.tight_layout()
    return fig


def pr_overlay(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, *, positive: str = "PNEUMONIA") -> plt.Figure:
    """Every classifier's precision-recall curve in one panel (``{classifier: (y_true, y_score)}``).

    ``y_score`` ranks the positive class (label 1, named ``positive``); the legend gives average
    precision, the dashed line the positive share (a classifier without skill).
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from helpers.report.results import CLASSIFIERS

    if not curves:
        raise ValueError("pr_overlay needs at least one classifier's (y_true, y_score)")
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    for i, clf in enumerate(_ordered(curves, CLASSIFIERS)):
        y, s = curves[clf]
        k = CLASSIFIERS.index(clf) if clf in CLASSIFIERS else len(CLASSIFIERS) + i
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, lw=1.4, color=cmap(k % 10), label=f"{clf} (AP {average_precision_score(y, s):.3f})")
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


def reliability_diagram(panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str, *,
                        n_bins: int = 10, ncols: int = 3, positive: str = "PNEUMONIA") -> plt.Figure:
    """Calibration: one panel per classifier, one line per strategy (``{classifier: {strategy: (y, score)}}``).

    Each point is a bin of predicted probability (``n_bins`` equal-width bins, empty ones left out):
    its mean prediction against the observed share of ``positive``; the diagonal is perfect
    calibration. Brier scores are in the legend.
    """
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    n = len(panels)
    if n == 0:
        raise ValueError("reliability_diagram needs at least one classifier")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.3 * nrows + 0.5), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    for ax, (clf, per_strategy) in zip(axes.ravel(), panels.items(), strict=False):
        ax.plot([0, 1], [0, 1], ls="--", color="0.55", lw=1, label="perfectly calibrated")
        for strategy in _ordered(per_strategy, ALL_STRATEGIES):
            y, s = per_strategy[strategy]
            s = np.clip(np.asarray(s, dtype=float), 0, 1)
            observed, predicted = calibration_curve(y, s, n_bins=n_bins, strategy="uniform")
            ax.plot(predicted, observed, marker="o", ms=3, lw=1.2, color=strategy_color(strategy),
                    label=f"{strategy} (Brier {brier_score_loss(y, s):.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(clf, fontsize=9)
        ax.set_xlabel(f"predicted P({positive})", fontsize=8)
        ax.set_ylabel(f"observed share of {positive}", fontsize=8)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def ablation_dots(summary, per_seed, metrics: Sequence[str], title: str, *, label: str = "variant",
                  directions: Mapping[str, str] | None = None) -> plt.Figure:
    """The GAN ablation: one panel per metric, one row per variant; a dot per seed, the mean and its interval.

    ``summary`` is :func:`helpers.report.ablation_summary` (``<metric>``, ``_low``, ``_high``);
    ``per_seed`` the ablation rows it came from. ``directions`` (``{metric: "lower"|"higher"}``) is
    written under each panel.
    """
    metrics = [m for m in metrics if m in summary]
    names = list(summary[label])
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols + 1.6, 0.3 * len(names) * nrows + 1.3 * nrows + 0.5),
                             squeeze=False, sharey=True)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_axis_off()
    y = np.arange(len(names))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        for yi, name in zip(y, names, strict=True):
            row = summary[summary[label] == name].iloc[0]
            values = per_seed.loc[per_seed[label] == name, metric].to_numpy(dtype=float)
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
