"""Chapter 7's data: the multi-label study set, its label counts, and the scarcest findings."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.core import provenance
from helpers.data import streaming

STUDY_DATASETS: tuple[str, ...] = ("phantom", "chestmnist", "nih")


@dataclass(frozen=True)
class Study:
    """Chapter 7's data: splits (images in RAM, or cache memory maps for NIH), names, folder, fingerprint."""

    dataset: str
    image_size: int
    splits: dict[str, Any]
    names: tuple[str, ...]
    folder: Path
    fingerprint: dict[str, Any] = field(repr=False)
    seed: int = 0

    @property
    def data_id(self) -> str:
        """Short hash of the data fingerprint (the ``data`` entry of every artifact fingerprint)."""
        return provenance.fingerprint_id(self.fingerprint)

    def fp(self, **fields: Any) -> dict[str, Any]:
        """An artifact's fingerprint: the data id plus the ``fields`` that shape the artifact."""
        return {"data": self.data_id, **fields}

    @property
    def source(self) -> str:
        return str(self.splits["train"].source)


def load_study(
    cfg: Any, *, dataset: str | None = None, data_path: str | os.PathLike | None = None,
    image_size: int | None = None, options: Mapping[str, Any] | None = None, seed: int | None = None,
    log: Callable[[str], Any] | None = print,
) -> Study:
    """Load chapter 7's data into ``cfg.run_dir/nih/`` and stamp that folder with its fingerprint.

    ``dataset`` (default the profile's ``nih_dataset``): ``"phantom"`` (multi-label), ``"chestmnist"`` or
    ``"nih"`` (``data_path``: the folder with ``Data_Entry_2017.csv``); ``options`` default to the profile's
    ``nih_data_options``. Other data already there raise ProvenanceError; NIH images are decoded once into
    ``nih/cache/`` and read as memory maps.
    """
    from helpers import config, data, gan

    prof = cfg.profile
    dataset = dataset or prof.nih_dataset
    if dataset not in STUDY_DATASETS:
        raise ValueError(f"chapter 7 runs on multi-label data: dataset must be one of {STUDY_DATASETS}, not {dataset!r}")
    size = int(image_size or prof.nih_image_size)
    if size not in gan.SUPPORTED_SIZES:
        raise ValueError(f"nih_image_size={size}: the GAN needs one of {gan.SUPPORTED_SIZES} px")
    opts = dict(options if options is not None else (prof.nih_data_options if dataset == prof.nih_dataset else {}))
    if dataset == "phantom":
        if not opts.setdefault("multi_label", True):
            raise ValueError("chapter 7 needs the phantom's multi-label mode (multi_label=True)")
    seed = int(cfg.seed if seed is None else seed)
    download = data_path is None and dataset in config.DOWNLOADABLE
    splits = data.load_splits(dataset, size, data_path=data_path, seed=seed, download=download, **opts)
    fp = provenance.data_fingerprint(splits, dataset=dataset, image_size=size, options={**opts, "split_seed": seed})
    folder = Path(cfg.run_dir) / "nih"
    provenance.check_or_stamp(folder, fp, "chapter-7 folder", must_be_empty=("gan", "models", "scores"))
    for name, ds in list(splits.items()):
        if isinstance(ds.images, data.LazyImages):
            images = streaming.build_cache(ds.images.paths, size, folder / "cache", log=log)
            splits[name] = replace(ds, images=images)
    names = tuple(splits["train"].class_names)
    return Study(dataset=dataset, image_size=size, splits=splits, names=names, folder=folder, fingerprint=fp,
                 seed=seed)


def label_counts(study: Study) -> pd.DataFrame:
    """Positives per finding (rows) and split (columns), plus each split's size in ``attrs["n"]``."""
    table = pd.DataFrame({s: np.asarray(ds.labels).sum(axis=0).astype(int) for s, ds in study.splits.items()},
                         index=list(study.names))
    table.attrs["n"] = {s: len(ds) for s, ds in study.splits.items()}
    table.attrs["no_finding"] = {s: int((np.asarray(ds.labels).sum(axis=1) == 0).sum())
                                 for s, ds in study.splits.items()}
    return table


def conditional_rates(labels: Any, names: Sequence[str]) -> pd.DataFrame:
    """P(column finding | row finding): the share of images with the row finding that also carry the column one."""
    y = np.asarray(labels, dtype=np.int64)
    co = y.T @ y
    n = np.diag(co).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n[:, None] > 0, co / n[:, None], np.nan)
    np.fill_diagonal(rate, np.nan)
    return pd.DataFrame(rate, index=list(names), columns=list(names))


def scarcest_findings(labels: Any, names: Sequence[str], k: int, min_positive: int = 2) -> list[int]:
    """Column indices of the ``k`` findings with the fewest positive training images (ties: column order).

    Findings with fewer than ``min_positive`` positives cannot train a GAN and are passed over.
    """
    counts = np.asarray(labels).sum(axis=0)
    if len(counts) != len(names):
        raise ValueError(f"{len(counts)} label columns but {len(names)} names")
    eligible = [j for j in np.argsort(counts, kind="stable") if counts[j] >= min_positive]
    return [int(j) for j in eligible[: max(0, int(k))]]


def gan_training_set(images: Any, labels: Any, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Training images of the findings ``columns`` with a class id each (the finding's position in ``columns``).

    An image that carries several of the findings appears once per finding.
    """
    y = np.asarray(labels)
    picked, ids = [], []
    for pos, j in enumerate(columns):
        rows = np.flatnonzero(y[:, j] == 1)
        picked.append(rows)
        ids.append(np.full(len(rows), pos, dtype=np.int32))
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    if not len(rows):
        raise ValueError("no training image carries any of the chosen findings")
    return np.asarray(streaming.gather(images, rows)), np.concatenate(ids)
