"""Summaries for the data-exploration chapter: class balance, intensity and size statistics."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["class_counts", "imbalance_ratio", "intensity_table", "size_table", "label_frequencies", "images_of_class"]


def class_counts(splits: Mapping[str, object]) -> dict[str, dict[str, int]]:
    """``{split: {class name: images}}`` (per-label positives for multi-label data)."""
    return {name: ds.class_counts() for name, ds in splits.items()}


def imbalance_ratio(counts: Mapping[str, int]) -> float:
    """Largest class count over smallest (inf when a class is empty)."""
    values = list(counts.values())
    return float("inf") if min(values) == 0 else max(values) / min(values)


def images_of_class(dataset, class_id: int, limit: int | None = None) -> np.ndarray:
    """The images of one class (binary labels) as uint8 N×H×W, at most ``limit`` of them (first ones)."""
    labels = np.asarray(dataset.labels)
    idx = np.flatnonzero(labels[:, class_id] > 0) if labels.ndim == 2 else np.flatnonzero(labels == class_id)
    if limit is not None:
        idx = idx[:limit]
    return np.asarray(dataset.images[idx])


def intensity_table(splits: Mapping[str, object], max_images: int = 2000) -> pd.DataFrame:
    """Mean, sd and percentiles of pixel intensity per split and class (binary datasets)."""
    rows = []
    for split, ds in splits.items():
        for cid, cname in enumerate(ds.class_names):
            imgs = images_of_class(ds, cid, limit=max_images).astype(np.float32)
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
