"""Summaries behind the figures: class balance, intensity and size statistics (chapter 1), where the
synthetic points sit in a 2-D feature map (chapter 4), last-epoch training values (chapter 5)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["class_counts", "imbalance_ratio", "focus_class", "absent_note", "intensity_groups", "intensity_table", "size_table", "label_frequencies", "images_of_class",
           "synthetic_neighbours", "last_epoch_values"]


def class_counts(splits: Mapping[str, object]) -> dict[str, dict[str, int]]:
    """``{split: {class name: images}}`` (per-label positives for multi-label data)."""
    return {name: ds.class_counts() for name, ds in splits.items()}


def imbalance_ratio(counts: Mapping[str, int], present_only: bool = False) -> float:
    """Largest class count over smallest (inf when a class is empty; ``present_only``: over the
    classes or findings with at least one image, nan when none has)."""
    values = [v for v in counts.values() if v > 0] if present_only else list(counts.values())
    if not values:
        return float("nan")
    return float("inf") if min(values) == 0 else max(values) / min(values)


def focus_class(dataset) -> tuple[int, str, int]:
    """``(id, name, training count)`` of the class the series is about: the minority class of binary
    data; for multi-label data the scarcest finding with at least one positive (ties: the lower index)."""
    counts = dataset.class_counts()
    if dataset.multi_label:
        values = np.array(list(counts.values()), dtype=float)
        if not (values > 0).any():
            raise ValueError(f"{dataset.name} {dataset.split}: no image carries any finding")
        cid = int(np.argmin(np.where(values > 0, values, np.inf)))
    else:
        cid = dataset.minority_class()
    name = dataset.class_names[cid]
    return cid, name, int(counts[name])


def absent_note(counts: Mapping[str, int]) -> str:
    """``"; 2 findings (Hernia, Mass) have no image here"`` for the classes or findings counted 0, else ``""``."""
    absent = [k for k, v in counts.items() if v == 0]
    if not absent:
        return ""
    return f"; {len(absent)} finding{'s' if len(absent) > 1 else ''} ({', '.join(absent)}) {'have' if len(absent) > 1 else 'has'} no image here"


def intensity_groups(dataset, limit: int | None = None) -> dict[str, np.ndarray]:
    """Images to compare intensities across: one group per class for binary data; ``No Finding`` and
    ``Any finding`` for multi-label data (per-finding groups overlap, so their differences mix findings)."""
    labels = np.asarray(dataset.labels)
    if not dataset.multi_label:
        return {name: images_of_class(dataset, cid, limit) for cid, name in enumerate(dataset.class_names)}
    groups = {}
    for name, mask in (("No Finding", labels.sum(axis=1) == 0), ("Any finding", labels.sum(axis=1) > 0)):
        idx = np.flatnonzero(mask)[:limit]
        groups[name] = np.asarray(dataset.images[idx])
    return groups


def images_of_class(dataset, class_id: int, limit: int | None = None) -> np.ndarray:
    """The images of one class (binary labels) as uint8 N×H×W, at most ``limit`` of them (first ones)."""
    labels = np.asarray(dataset.labels)
    idx = np.flatnonzero(labels[:, class_id] > 0) if labels.ndim == 2 else np.flatnonzero(labels == class_id)
    if limit is not None:
        idx = idx[:limit]
    return np.asarray(dataset.images[idx])


def intensity_table(splits: Mapping[str, object], max_images: int = 2000) -> pd.DataFrame:
    """Mean, sd and percentiles of pixel intensity per split and :func:`intensity_groups` group."""
    rows = []
    for split, ds in splits.items():
        for cname, imgs in intensity_groups(ds, limit=max_images).items():
            imgs = imgs.astype(np.float32)
            if imgs.size == 0:
                continue
            per_image_mean = imgs.reshape(len(imgs), -1).mean(axis=1)
            rows.append(
                {
                    "split": split,
                    "class": cname,
                    "images used": len(imgs),
                    "mean": imgs.mean(),
                    "sd": imgs.std(),
                    "p1": np.percentile(imgs, 1),
                    "p99": np.percentile(imgs, 99),
                    "sd of image means": per_image_mean.std(),
                }
            )
    return pd.DataFrame(rows).round(1)


def size_table(splits: Mapping[str, object]) -> pd.DataFrame | None:
    """Original (pre-resize) height/width statistics per split, or None when the source has one fixed size."""
    rows = []
    for split, ds in splits.items():
        sizes = getattr(ds, "original_sizes", None)
        if sizes is None or len(sizes) == 0:
            continue
        sizes = np.asarray(sizes)
        for axis, label in ((0, "height"), (1, "width")):
            col = sizes[:, axis]
            rows.append({"split": split, "dimension": label, "min": col.min(), "median": np.median(col),
                         "max": col.max(), "images": len(col)})
    return pd.DataFrame(rows) if rows else None


def label_frequencies(dataset) -> dict[str, int]:
    """Per-label positive counts plus 'No Finding' (all-zero rows) for multi-label data."""
    labels = np.asarray(dataset.labels)
    freq = {name: int(labels[:, i].sum()) for i, name in enumerate(dataset.class_names)}
    freq["No Finding"] = int((labels.sum(axis=1) == 0).sum())
    return freq


def synthetic_neighbours(points: Mapping[str, np.ndarray], real_group: str, synthetic_prefix: str = "synthetic",
                         own_cluster: float = 0.9, mixed_margin: float = 0.15) -> pd.DataFrame:
    """Do the synthetic points of a 2-D map form their own cluster? One row per synthetic group.

    For each point of a group (name starting with ``synthetic_prefix``), the group of its nearest neighbour
    among that group and the real groups: ``nn_synthetic``, ``nn_real_group``, ``nn_other_real``, the
    ``mixed_expectation`` (n - 1) / (n + n_real - 1), and a ``verdict`` ("own cluster" at ``own_cluster``,
    "mixed with real" within ``mixed_margin`` of the expectation, else "partly separate").
    """
    from sklearn.neighbors import NearestNeighbors

    if real_group not in points:
        raise ValueError(f"real_group {real_group!r} is not one of {list(points)}")
    real = {k: np.asarray(v, dtype=float) for k, v in points.items() if not k.startswith(synthetic_prefix)}
    rows = []
    for name, xy in points.items():
        if not name.startswith(synthetic_prefix) or len(xy) < 2:
            continue
        xy = np.asarray(xy, dtype=float)
        stacked = np.concatenate([xy, *real.values()])
        owner = np.concatenate([np.zeros(len(xy), int)] + [np.full(len(v), i + 1) for i, v in enumerate(real.values())])
        _, idx = NearestNeighbors(n_neighbors=2).fit(stacked).kneighbors(xy)
        nn = owner[idx[:, 1]]
        k_real = list(real).index(real_group) + 1
        n_real = len(real[real_group])
        share_syn, share_real = float((nn == 0).mean()), float((nn == k_real).mean())
        expected = (len(xy) - 1) / (len(xy) + n_real - 1)
        verdict = ("own cluster" if share_syn >= own_cluster else
                   "mixed with real" if share_syn <= expected + mixed_margin else "partly separate")
        rows.append({"group": name, "n": len(xy), "nn_synthetic": share_syn, "nn_real_group": share_real,
                     "nn_other_real": 1.0 - share_syn - share_real, "mixed_expectation": expected, "verdict": verdict})
    return pd.DataFrame(rows)


def last_epoch_values(histories: pd.DataFrame, column: str = "accuracy",
                      by: tuple[str, ...] = ("model", "strategy")) -> pd.DataFrame:
    """``column`` at each run's last epoch, averaged over seeds: one row per ``by`` group with ``n_runs``."""
    runs = [*by, "seed"] if "seed" in histories else list(by)
    last = histories.sort_values("epoch").groupby(runs, sort=False).tail(1)
    out = last.groupby(list(by), sort=False)[column].agg(["mean", "count"])
    return out.rename(columns={"mean": column, "count": "n_runs"}).reset_index()
