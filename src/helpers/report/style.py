"""The series' house style: colours per class and strategy, metric names, shared drawing helpers, :func:`save_fig`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib import patches as mpatches

from helpers.core.artifacts import atomic_write
from helpers.oversampling.strategies import ALL_STRATEGIES

__all__ = ["PALETTE", "STRATEGY_COLORS", "MAX_WIDTH_PX", "strategy_color", "set_style", "save_fig"]

PALETTE = {"NORMAL": "#1f77b4", "PNEUMONIA": "#d62728", "synthetic": "#2ca02c"}
# In the order of ALL_STRATEGIES: baselines muted/cool, GAN strategies warm; later ones get tab20 colours.
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
CHANCE_HALF = ("roc_auc", "balanced_accuracy", "val_auc_exact", "val_balanced_accuracy", "val_roc_auc")
#: ``{name: (y_true, y_score)}``, the curves of the ROC, PR and calibration figures.
Curves = Mapping[str, tuple[np.ndarray, np.ndarray]]
#: Widest PNG :func:`save_fig` writes (its resolution drops for wider figures).
MAX_WIDTH_PX = 1900
_HATCH = {"facecolor": "none", "edgecolor": "0.55", "hatch": "////"}


def strategy_color(strategy: str) -> str:
    """The series' colour of ``strategy`` (:data:`STRATEGY_COLORS`; a stable tab20 colour for other names)."""
    if strategy in STRATEGY_COLORS:
        return STRATEGY_COLORS[strategy]
    return mcolors.to_hex(plt.get_cmap("tab20")(sum(map(ord, str(strategy))) % 20))


def metric_name(metric: str) -> str:
    base = metric[: -len("_valthr")] if metric.endswith("_valthr") else metric
    name = _METRIC_NAMES.get(base, base.replace("_", " "))
    return name + (" at the validation threshold" if base != metric else "")


def ordinal(x: float) -> str:
    """``1st``, ``2nd``, ``5th``, ``2.5th``."""
    if float(x) != int(x):
        return f"{x:g}th"
    n = int(x)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    """``names`` once each: those in ``order`` in that order, then the others as they come."""
    names = list(dict.fromkeys(names))
    return [n for n in order if n in names] + [n for n in names if n not in order]


def classifier_order(names: Sequence[str]) -> list[str]:
    from helpers.classifiers.results import CLASSIFIERS

    return ordered(list(names), CLASSIFIERS)


def classifier_colors(names: Sequence[str]) -> dict[str, Any]:
    """One tab10 colour per classifier, fixed by its place in the results' classifier order."""
    from helpers.classifiers.results import CLASSIFIERS

    cmap = plt.get_cmap("tab10")
    return {c: cmap((CLASSIFIERS.index(c) if c in CLASSIFIERS else len(CLASSIFIERS) + i) % 10)
            for i, c in enumerate(classifier_order(names))}


def panel_grid(n: int, ncols: int, panel: tuple[float, float], extra: tuple[float, float] = (0.0, 0.0),
               **kwargs: Any) -> tuple[plt.Figure, np.ndarray]:
    """``n`` panels of ``panel`` inches, ``ncols`` per row (plus ``extra`` inches), unused panels hidden."""
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols + extra[0], panel[1] * nrows + extra[1]),
                             squeeze=False, **kwargs)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes


def roc_axes(ax: plt.Axes) -> None:
    ax.plot([0, 1], [0, 1], ls="--", color="0.55", lw=1, label="chance (AUC 0.5)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")


def _finite(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v)]


def bar_or_placeholder(ax: plt.Axes, x: float, width: float, values: Any, color: str, top: float = 1.0,
                       missing: str = "not run") -> bool:
    """A bar (mean), sd error bar and a dot per seed; or a hatched full-height placeholder saying ``missing``."""
    v = _finite(values)
    if len(v) == 0:
        ax.bar(x, top, width, lw=0.6, **_HATCH)
        ax.text(x, top / 2, missing, rotation=90, ha="center", va="center", fontsize=6.5, color="0.3",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
        return False
    mean = float(v.mean())
    ax.bar(x, mean, width, color=color, edgecolor="white", lw=0.4)
    if len(v) > 1:
        ax.errorbar(x, mean, yerr=float(v.std(ddof=1)), color="0.15", lw=0.9, capsize=2)
    offsets = np.linspace(-0.25, 0.25, len(v)) * width if len(v) > 1 else np.zeros(len(v))
    ax.scatter(x + offsets, v, s=9, color="black", zorder=4, lw=0, label="_seed")
    return True


def hatch_patch(label: str) -> mpatches.Patch:
    """The legend entry of :func:`bar_or_placeholder`'s placeholder."""
    return mpatches.Patch(label=label, **_HATCH)


def zoom_floor(values: Any) -> float:
    """A y-axis floor just below the lowest finite value (rounded down to 0.05)."""
    v = _finite(values)
    return float(max(0.0, np.floor((v.min() - 0.02) * 20) / 20)) if len(v) else 0.0


def seed_note(results: Any, metric: str) -> str:
    counts = results[np.isfinite(results[metric].to_numpy(dtype=float))].groupby(["classifier", "strategy"]).size()
    if counts.empty:
        return "no runs"
    lo, hi = int(counts.min()), int(counts.max())
    seeds = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"mean over {seeds} seed{'s' if hi > 1 else ''}, dots: seeds, error bars: sd over seeds" + (
        " (none with one seed)" if lo == 1 else "")


def set_style() -> None:
    """Apply the series' plot style (seaborn whitegrid, readable sizes)."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titlesize": 11, "axes.labelsize": 10,
                         "image.cmap": "gray", "figure.autolayout": False})


def save_fig(fig: plt.Figure, name: str, figures_dir: str | os.PathLike, run_id: str = "") -> Path:
    """Write ``fig`` as ``<figures_dir>/<name>.png`` atomically, at most :data:`MAX_WIDTH_PX` wide, stamped
    with ``run_id`` below the figure and in its metadata. Returns the path; the figure stays open."""
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
