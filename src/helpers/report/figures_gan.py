"""Chapters 2-3's figures: training curves, real vs fake images, near-copy distances, progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.report.style import ordinal

__all__ = ["history_curves", "real_vs_fake_grid", "fakes_side_by_side", "pair_panel", "nn_distance_histograms",
           "progress_panels"]


def history_curves(history, columns: Sequence[Sequence[str]], titles: Sequence[str], x: str = "epoch", *,
                   ylabels: Sequence[str] | None = None,
                   references: Sequence[Mapping[str, float]] | None = None) -> plt.Figure:
    """One panel per group of history columns; ``references``: per panel ``{label: value}`` dashed lines
    (e.g. equilibrium values), in the colour of the column of that name."""
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


def fakes_side_by_side(sets: Mapping[tuple[str, int], np.ndarray], real: np.ndarray, n: int = 16,
                       seed: int = 0) -> plt.Figure:
    """One tile of ``n`` random images per (generator, seed) of ``sets``, a row per generator and a
    column per seed, with ``n`` real images in the first column; every tile is drawn with the same rng. A tile's
    title is the generator's name (a newline in it starts a second line) above its seed."""
    from helpers.data.images import tile_grid

    names = list(dict.fromkeys(g for g, _ in sets))
    seeds = sorted({s for _, s in sets})
    fig, axes = plt.subplots(len(names), len(seeds) + 1, figsize=(2.3 * (len(seeds) + 1), 2.9 * len(names)),
                             squeeze=False)

    def tile(ax, images, title):
        images = np.asarray(images)
        pick = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
        ax.imshow(tile_grid(images[pick], pad=1), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=7)

    for r, name in enumerate(names):
        if r == 0:
            tile(axes[r, 0], real, "real (train)")
        for c, s in enumerate(seeds, start=1):
            if (name, s) in sets:
                tile(axes[r, c], sets[name, s], f"{name}\nseed {s}")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
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
                           percentile: float | None = None, title: str | None = None) -> plt.Figure:
    """Histograms of nearest-neighbour distances (``{label: distances}``, e.g. fakes → train next to real → real)
    with the near-copy ``threshold`` as a line; with ``pixels`` (H·W) as RMS pixel differences (distance / √pixels)."""
    if not distances:
        raise ValueError("nn_distance_histograms needs at least one set of distances")
    scale = float(np.sqrt(pixels)) if pixels else 1.0
    sets = {k: np.asarray(v, dtype=float).ravel() / scale for k, v in distances.items()}
    thr = float(threshold) / scale
    edges = np.histogram_bin_edges(np.concatenate([*sets.values(), [thr]]), bins=40)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colors = ["#2ca02c", "#9467bd", "#1f77b4", "#7f7f7f", "#ff7f0e"]
    for i, (label, d) in enumerate(sets.items()):
        below = float((d <= thr).mean()) if len(d) else float("nan")
        ax.hist(d, bins=edges, density=True, histtype="step", lw=1.6, color=colors[i % len(colors)],
                label=f"{label} (n={len(d):,}, median {np.median(d):.1f}, {below:.1%} ≤ threshold)")
    what = f"{ordinal(percentile)} percentile of real → real" if percentile is not None else "threshold"
    ax.axvline(thr, color="#d62728", ls="--", lw=1.3, label=f"near-copy threshold: {what} ({thr:.1f})")
    unit = "RMS pixel difference (0-255 scale)" if pixels else "Euclidean distance"
    ax.set_xlabel(f"distance to the nearest training image: {unit}")
    ax.set_ylabel("density")
    ax.set_title(title or "Nearest-neighbour distances to the training images")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def progress_panels(epochs: Sequence[int], grids: np.ndarray) -> plt.Figure:
    """Tiled generator samples at up to four epochs (first, last and evenly between)."""
    epochs = np.asarray(epochs)
    grids = np.asarray(grids)
    if len(epochs) == 0:
        raise ValueError("no progress grids were saved: train the GAN first")
    pick = np.unique(np.linspace(0, len(epochs) - 1, min(4, len(epochs))).round().astype(int))
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
