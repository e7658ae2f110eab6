"""The registry of data sets and its entry point :func:`load_splits`."""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from helpers.data.dataset import SPLITS, DataError, Dataset, DatasetInfo
from helpers.data.kaggle import load_kaggle
from helpers.data.medmnist import load_chestmnist, load_pneumoniamnist
from helpers.data.nih import load_nih
from helpers.data.splits import require_every_class


def _child_seeds(seed: int, n: int = 3) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _load_phantom(
    image_size: int, *, data_path: Any = None, download: bool = False, seed: int = 0,
    val_fraction: float = 0.1, n_train: int = 2000, n_val: int = 300, n_test: int = 600,
    normal_fraction: float | None = None, eval_normal_fraction: float | None = None,
    multi_label: bool = False, finding_prevalence: float | None = None,
) -> dict[str, Dataset]:
    """Generated phantoms; ``data_path``, ``download`` and ``val_fraction`` are ignored."""
    from helpers.data import phantom

    if normal_fraction is None:
        normal_fraction = phantom.DEFAULT_MINORITY_FRACTION
    if eval_normal_fraction is None:
        eval_normal_fraction = normal_fraction
    class_names = tuple(phantom.PHANTOM_LABELS) if multi_label else tuple(phantom.CLASS_NAMES)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    out = {}
    for split, child in zip(SPLITS, _child_seeds(seed), strict=True):
        frac = normal_fraction if split == "train" else eval_normal_fraction
        kwargs: dict[str, Any] = {"seed": child, "normal_fraction": frac, "multi_label": multi_label}
        if finding_prevalence is not None:
            kwargs["finding_prevalence"] = finding_prevalence
        images, labels = phantom.generate_phantoms(int(sizes[split]), image_size, **kwargs)
        labels = np.asarray(labels, dtype=np.uint8 if multi_label else np.int64)
        if multi_label:
            prevalence = "default" if finding_prevalence is None else finding_prevalence
            desc = f"finding_prevalence={prevalence}"
        else:
            desc = f"normal_fraction={frac:.4g}"
        out[split] = Dataset(
            name="phantom", split=split, images=np.asarray(images, dtype=np.uint8), labels=labels,
            class_names=class_names,
            source=f"phantom(seed={seed}, split_seed={child}, n={sizes[split]}, {desc}, "
                   f"generator=helpers.data.phantom.generate_phantoms)",
            multi_label=multi_label, image_size=image_size,
        )
    return out




DATASETS: dict[str, DatasetInfo] = {
    "phantom": DatasetInfo(
        "phantom", "Synthetic chest-X-ray-like phantoms (offline; NORMAL minority).", _load_phantom, False,
        "helpers.data.phantom (this project)"),
    "pneumoniamnist": DatasetInfo(
        "pneumoniamnist", "PneumoniaMNIST (MedMNIST+), pediatric CXR, NORMAL vs PNEUMONIA, official splits.",
        load_pneumoniamnist, False,
        "Kermany et al., Cell 2018; Yang et al., MedMNIST v2, Scientific Data 2023 (CC BY 4.0)"),
    "chestmnist": DatasetInfo(
        "chestmnist", "ChestMNIST (MedMNIST+), NIH ChestX-ray14 at low resolution, 14 findings, multi-label.",
        load_chestmnist, True,
        "Wang et al., CVPR 2017; Yang et al., MedMNIST v2, Scientific Data 2023 (CC BY 4.0)"),
    "kaggle_pneumonia": DatasetInfo(
        "kaggle_pneumonia", "Kaggle 'Chest X-Ray Images (Pneumonia)' JPEG folders (Kermany et al.).",
        load_kaggle, False, "Kermany et al., Cell 2018 (CC BY 4.0)"),
    "nih": DatasetInfo(
        "nih", "NIH ChestX-ray14 PNGs + Data_Entry_2017.csv, 14 findings, patient-wise splits.", load_nih,
        True, "Wang et al., CVPR 2017; NIH Clinical Center"),
}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; registered datasets are {sorted(DATASETS)}")
    return DATASETS[name]


def load_splits(
    name: str, image_size: int = 28, *, data_path: str | os.PathLike | None = None, download: bool = False,
    seed: int = 0, val_fraction: float = 0.1, **options: Any,
) -> dict[str, Dataset]:
    """Load the train/val/test splits of a registered data set as ``{"train", "val", "test"}``.

    ``options`` are source-specific (e.g. ``n_train`` for phantom, ``verify`` for MedMNIST,
    ``min_val`` for kaggle_pneumonia, ``labels`` for nih/chestmnist); unknown ones raise DataError.
    Every split of a single-label data set holds every class, or DataError names the split.
    """
    info = _info(name)
    image_size = int(image_size)
    if image_size < 1:
        raise DataError(f"image_size must be positive, not {image_size}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise DataError(f"val_fraction must be in (0, 1), not {val_fraction}")
    params = inspect.signature(info.loader).parameters
    accepted = [p for p in params if p not in ("image_size", "data_path", "download", "seed", "val_fraction")]
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise DataError(f"{name}: unknown options {unknown}; it accepts {accepted}")
    splits = info.loader(image_size, data_path=data_path, download=download, seed=seed,
                         val_fraction=val_fraction, **options)
    for split, ds in splits.items():  # the loaders check their inputs; this holds for every source
        if not ds.multi_label:
            require_every_class(ds.labels, ds.class_names, f"{name} split {split!r} ({ds.source})",
                                 f"Change the {name} options so that each split gets images of every class.")
    return splits
