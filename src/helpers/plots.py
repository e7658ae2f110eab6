"""Every figure of the series: one house style and one :func:`save_fig` that writes them.

Figures are PNGs stamped with the run they came from (bottom-right corner and PNG metadata), so a
figure in ``figures/`` can always be traced back to a profile, dataset, commit and date.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .artifacts import atomic_write

__all__ = [
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
    "progress_panels",
    "feature_vectors",
    "embedding_scatter",
    "roc_panels",
    "confusion_matrices",
    "metric_bars",
    "difference_forest",
    "curves_by_group",
    "accuracy_over_epochs",
]

PALETTE = {"NORMAL": "#1f77b4", "PNEUMONIA": "#d62728", "synthetic": "#2ca02c"}


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


def save_fig(fig: plt.Figure, name: str, figures_dir: str | os.PathLike, run_id: str = "") -> Path:
    """Write ``fig`` as ``<figures_dir>/<name>.png`` atomically, stamped with ``run_id``.

    Returns the path. The figure stays open so a notebook still displays it.
    """
    if not name or any(c in name for c in "/\\") or name.endswith(".png"):
        raise ValueError(f"figure name {name!r} must be a bare name like '01_class_balance' (no folder, no .png)")
    path = Path(figures_dir) / f"{name}.png"
    stamp = None
    if run_id:
        stamp = fig.text(0.995, 0.005, f"run: {run_id}", ha="right", va="bottom", fontsize=6, color="0.45")
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Description": f"run: {run_id}", "Software": "helpers.plots"})
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


def class_balance_bars(counts: Mapping[str, Mapping[str, int]], title: str = "Images per class and split") -> plt.Figure:
    """Grouped bars: one group per split, one bar per class, counts written on the bars."""
    import pandas as pd
    import seaborn as sns

    rows = [(split, cls, n) for split, per in counts.items() for cls, n in per.items()]
    table = pd.DataFrame(rows, columns=["split", "class", "images"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(counts), 3.4))
    palette = {c: PALETTE.get(c, None) for c in table["class"].unique()}
    if any(v is None for v in palette.values()):
        palette = None
    sns.barplot(data=table, x="split", y="images", hue="class", ax=ax, palette=palette)
    for container in ax.containers:
        ax.bar_label(container, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("")
    fig.tight_layout()
    return fig


def mean_images(images_by_class: Mapping[str, np.ndarray]) -> plt.Figure:
    """The pixel-wise mean image of each class side by side, plus their difference."""
    names = list(images_by_class)
    means = [np.asarray(images_by_class[n], dtype=np.float32).mean(axis=0) for n in names]
    ncols = len(names) + (1 if len(names) == 2 else 0)
    fig, axes = plt.subplots(1, ncols, figsize=(2.6 * ncols, 2.8))
    axes = np.atleast_1d(axes)
    for ax, name, mean in zip(axes, names, means, strict=False):
        ax.imshow(mean, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"mean {name}")
        ax.axis("off")
    if len(names) == 2:
        diff = means[1] - means[0]
        lim = float(np.abs(diff).max()) or 1.0
        im = axes[-1].imshow(diff, cmap="coolwarm", vmin=-lim, vmax=lim)
        axes[-1].set_title(f"{names[1]} − {names[0]}")
        axes[-1].axis("off")
        fig.colorbar(im, ax=axes[-1], fraction=0.046)
    fig.tight_layout()
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
    """Horizontal bars of per-label counts (multi-label data)."""
    names = list(frequencies)
    values = [frequencies[n] for n in names]
    fig, ax = plt.subplots(figsize=(5, 0.35 * len(names) + 1))
    ax.barh(names, values, color="#4c72b0")
    ax.invert_yaxis()
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:g}", va="center", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def cooccurrence_heatmap(labels: np.ndarray, names: Sequence[str]) -> plt.Figure:
    """Counts of images carrying each pair of labels (diagonal: the label alone or with others)."""
    import seaborn as sns

    labels = np.asarray(labels, dtype=np.int64)
    co = labels.T @ labels
    fig, ax = plt.subplots(figsize=(0.55 * len(names) + 2, 0.5 * len(names) + 1.5))
    sns.heatmap(co, annot=True, fmt="d", xticklabels=names, yticklabels=names, cmap="Blues", ax=ax, cbar=False)
    ax.set_title("Label co-occurrence (images)")
    fig.tight_layout()
    return fig


def history_curves(history, columns: Sequence[Sequence[str]], titles: Sequence[str], x: str = "epoch") -> plt.Figure:
    """One panel per group of history columns (e.g. losses; D outputs)."""
    fig, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 3.2), squeeze=False)
    for ax, cols, title in zip(axes[0], columns, titles, strict=False):
        for col in cols:
            if col in history:
                ax.plot(history[x], history[col], marker="o", ms=3, label=col)
        ax.set_xlabel(x)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def real_vs_fake_grid(real: np.ndarray, fake: np.ndarray, n: int = 16, ncols: int = 4, seed: int = 0) -> plt.Figure:
    """Real images on the left, synthetic ones on the right (the seed's Figure 12)."""
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
               captions: Sequence[str] | None = None) -> plt.Figure:
    """Two rows of paired images (e.g. each fake above its nearest training image)."""
    n = len(top)
    fig, axes = plt.subplots(2, n, figsize=(1.4 * n, 3.2), squeeze=False)
    for i in range(n):
        for row, imgs in enumerate((top, bottom)):
            axes[row, i].imshow(imgs[i], cmap="gray", vmin=0, vmax=255)
            axes[row, i].axis("off")
        if captions is not None:
            axes[1, i].set_title(captions[i], fontsize=7, y=-0.25)
    axes[0, 0].text(-0.1, 0.5, top_label, transform=axes[0, 0].transAxes, rotation=90, ha="right", va="center", fontsize=8)
    axes[1, 0].text(-0.1, 0.5, bottom_label, transform=axes[1, 0].transAxes, rotation=90, ha="right", va="center", fontsize=8)
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
    """One panel per image: its feature vector as bars (the seed's Figures 10-11)."""
    fig, axes = plt.subplots(len(vectors), 1, figsize=(8, 1.9 * len(vectors)), sharex=True, squeeze=False)
    for ax, (name, vec) in zip(axes[:, 0], vectors.items(), strict=False):
        vec = np.asarray(vec).ravel()
        ax.bar(np.arange(len(vec)), vec, width=1.0, color=PALETTE.get(name.split()[0], "#4c72b0"))
        ax.set_ylabel("activation")
        ax.set_title(name, fontsize=9)
    axes[-1, 0].set_xlabel("feature index")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def embedding_scatter(points: Mapping[str, np.ndarray], title: str) -> plt.Figure:
    """2-D embedding of several groups of feature vectors (e.g. real NORMAL, real PNEUMONIA, synthetic)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    markers = ["o", "s", "^", "D", "v"]
    for i, (name, xy) in enumerate(points.items()):
        xy = np.asarray(xy)
        color = PALETTE.get(name.split()[-1], None) if not name.startswith("synthetic") else PALETTE["synthetic"]
        ax.scatter(xy[:, 0], xy[:, 1], s=9, alpha=0.55, marker=markers[i % len(markers)], label=f"{name} ({len(xy)})", color=color)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, markerscale=2)
    fig.tight_layout()
    return fig


def roc_panels(curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str = "ROC curves on the test split") -> plt.Figure:
    """One ROC panel per classifier, one curve per strategy (``{classifier: {strategy: (y, score)}}``)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for ax, (clf, per_strategy) in zip(axes[0], curves.items(), strict=False):
        for strategy, (y, s) in per_strategy.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=1.3, label=f"{strategy} ({roc_auc_score(y, s):.3f})")
        ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
        ax.set_title(clf)
        ax.set_xlabel("false positive rate")
        ax.legend(fontsize=7, loc="lower right")
    axes[0, 0].set_ylabel("true positive rate")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrices(matrices: Mapping[str, np.ndarray], class_names: Sequence[str]) -> plt.Figure:
    """One annotated confusion matrix per entry (rows: true class, columns: predicted)."""
    import seaborn as sns

    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.0), squeeze=False)
    for ax, (name, cm) in zip(axes[0], matrices.items(), strict=False):
        sns.heatmap(np.asarray(cm), annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax,
                    xticklabels=class_names, yticklabels=class_names)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def metric_bars(results, metric: str = "roc_auc", title: str | None = None) -> plt.Figure:
    """Mean ± sd over seeds of one metric, grouped by classifier, one bar per strategy."""
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(1.4 + 1.3 * results["classifier"].nunique(), 3.6))
    sns.barplot(data=results, x="classifier", y=metric, hue="strategy", errorbar="sd", ax=ax, capsize=0.05)
    low = float(np.nanmin(results[metric])) if len(results) else 0.0
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_title(title or f"{metric} on the test split (mean ± sd over seeds)")
    ax.legend(fontsize=7, ncol=2, title="strategy", title_fontsize=8)
    fig.tight_layout()
    return fig


def difference_forest(diffs, title: str) -> plt.Figure:
    """Paired differences with intervals (rows of :func:`helpers.metrics.paired_difference`).

    Pairs without a difference (a strategy a classifier did not run) are left out.
    """
    diffs = diffs[np.isfinite(diffs["mean_diff"].to_numpy(dtype=float))]
    if diffs.empty:
        raise ValueError("no paired differences to draw: the strategies never ran on the same classifier and seed")
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(diffs) + 1.2))
    labels = [f"{r.classifier}: {r.strategy_a} − {r.strategy_b}" for r in diffs.itertuples()]
    y = np.arange(len(diffs))
    means = diffs["mean_diff"].to_numpy(dtype=float)
    low = diffs["low"].to_numpy(dtype=float)
    high = diffs["high"].to_numpy(dtype=float)
    err = np.vstack([np.nan_to_num(means - low), np.nan_to_num(high - means)])
    ax.errorbar(means, y, xerr=err, fmt="o", color="#4c72b0", capsize=3)
    ax.axvline(0, color="0.4", ls="--", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def curves_by_group(history, y: Sequence[str], col: str = "model", hue: str = "strategy",
                    x: str = "epoch", title: str | None = None) -> plt.Figure:
    """Per-epoch curves: one row per metric in ``y``, one column per value of ``col``, one line per ``hue``."""
    import seaborn as sns

    cols = list(dict.fromkeys(history[col]))
    fig, axes = plt.subplots(len(y), len(cols), figsize=(4.2 * len(cols), 2.9 * len(y)), squeeze=False, sharex="col")
    for j, c in enumerate(cols):
        part = history[history[col] == c]
        for i, metric in enumerate(y):
            ax = axes[i, j]
            if metric in part and part[metric].notna().any():
                sns.lineplot(data=part, x=x, y=metric, hue=hue, ax=ax, errorbar="sd", marker="o", markersize=3)
                ax.legend(fontsize=7, title=None)
            ax.set_title(f"{c}: {metric}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_over_epochs(long, title: str = "Accuracy over epochs: original vs GAN-augmented training set") -> plt.Figure:
    """The seed's figure: per-epoch (val) accuracy, one panel per model × metric, one line per training set."""
    import seaborn as sns

    models = list(dict.fromkeys(long["model"]))
    metrics_ = [m for m in ("accuracy", "val_accuracy") if m in set(long["metric"])]
    fig, axes = plt.subplots(len(models), len(metrics_), figsize=(4.4 * len(metrics_), 3.0 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, metric in enumerate(metrics_):
            part = long[(long["model"] == model) & (long["metric"] == metric)]
            sns.lineplot(data=part, x="epoch", y="value", hue="training_set", errorbar="sd", marker="o",
                         markersize=3, ax=axes[i, j])
            axes[i, j].set_title(f"{model}: {metric.replace('_', ' ')}", fontsize=9)
            axes[i, j].set_ylabel("accuracy")
            axes[i, j].legend(fontsize=7, title=None)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
