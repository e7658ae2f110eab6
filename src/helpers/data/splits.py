"""Checks across splits: duplicate images, shared patients, every class present; patient-wise val carving."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers.data.dataset import DataError, Dataset
from helpers.data.images import image_hash

if TYPE_CHECKING:
    import pandas as pd


def find_duplicates(splits: Mapping[str, Dataset]) -> pd.DataFrame:
    """Groups of identical images (same pixels at the loaded size) within and across splits, reported.

    Columns: ``hash``, ``n``, ``splits``, ``indices`` (split -> indices), ``cross_split``.
    """
    import pandas as pd

    groups: dict[str, list[tuple[str, int]]] = {}
    for split, ds in splits.items():
        for i, img in enumerate(ds.images):
            groups.setdefault(image_hash(np.asarray(img)), []).append((split, i))
    rows = []
    for digest, members in groups.items():
        if len(members) < 2:
            continue
        indices: dict[str, list[int]] = {}
        for split, i in members:
            indices.setdefault(split, []).append(i)
        rows.append({"hash": digest, "n": len(members), "splits": tuple(indices),
                     "indices": indices, "cross_split": len(indices) > 1})
    frame = pd.DataFrame(rows, columns=["hash", "n", "splits", "indices", "cross_split"])
    if len(frame):
        frame = frame.sort_values(["cross_split", "n"], ascending=False, kind="stable").reset_index(drop=True)
    return frame



#: File-name patterns that carry the patient (matched against the name without its extension):
#: Kermany pneumonia ``person1_bacteria_1`` / ``person1_virus_6`` -> ``person1``; Kermany normal
#: ``IM-0115-0001`` -> ``IM-0115`` and ``NORMAL2-IM-0381-0001`` -> ``NORMAL2-IM-0381``; NIH
#: ChestX-ray14 ``00000001_000`` -> ``00000001``.
PATIENT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(person\d+)_.+"),
    re.compile(r"((?:NORMAL2-)?IM-\d+)-\d+.*"),
    re.compile(r"(\d{8})_\d+"),
)


def patient_id_from_filename(name: str | os.PathLike) -> str | None:
    """The patient a Kermany or NIH image file belongs to, from its name; None when the name has none.

    ``person1_virus_6.jpeg`` -> ``"person1"``, ``IM-0115-0001.jpeg`` -> ``"IM-0115"``,
    ``NORMAL2-IM-0381-0001.jpeg`` -> ``"NORMAL2-IM-0381"``, ``00000001_000.png`` -> ``"00000001"``.
    """
    stem = Path(name).name.rsplit(".", 1)[0]
    for pattern in PATIENT_PATTERNS:
        m = pattern.fullmatch(stem)
        if m:
            return m.group(1)
    return None


def patient_overlap(splits: Mapping[str, Dataset], max_examples: int = 5) -> pd.DataFrame:
    """Patients shared by each pair of splits that carry ``patient_ids``, reported (empty without ids).

    Columns: ``splits``, ``shared_patients``, ``examples`` (up to ``max_examples`` ids, sorted).
    """
    import pandas as pd

    ids = {s: set(ds.patient_ids.tolist()) for s, ds in splits.items() if ds.patient_ids is not None}
    rows = []
    for a, b in itertools.combinations(ids, 2):
        shared = sorted(ids[a] & ids[b])
        rows.append({"splits": (a, b), "shared_patients": len(shared), "examples": shared[:max_examples]})
    return pd.DataFrame(rows, columns=["splits", "shared_patients", "examples"])


def missing_classes(labels: Any, n_classes: int) -> list[int]:
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    return [k for k in range(n_classes) if counts[k] == 0]


def require_every_class(labels: Any, class_names: Sequence[str], where: str, fix: str) -> None:
    """Raise DataError naming ``where`` when a class has no image there (a split needs every class)."""
    missing = missing_classes(labels, len(class_names))
    if missing:
        names = ", ".join(f"{class_names[k]} (class {k})" for k in missing)
        raise DataError(f"{where} holds no {names} images: every split needs images of every class "
                        f"({', '.join(class_names)}), or its ROC AUC and val-AUC early stopping are undefined. "
                        f"{fix}")


def carve_val(
    labels: np.ndarray, groups: np.ndarray, n_carve: int, seed: int, class_names: Sequence[str], where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Split off about ``n_carve`` images as val, whole groups (patients) at a time, stratified by class.

    Each group goes with its most frequent class; per class, seeded-shuffled groups are moved to val
    until the class has its share of ``n_carve`` (at least one image), never its last group. Both
    parts hold every class, or DataError is raised naming ``where``.
    """
    n_classes = len(class_names)
    uniq, inv = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(uniq), n_classes), dtype=np.int64)
    np.add.at(per_group, (inv, labels), 1)
    group_class = per_group.argmax(axis=1)
    n_k = np.bincount(labels, minlength=n_classes)
    raw = n_carve * n_k / len(labels)
    target = np.maximum(np.floor(raw), 1).astype(np.int64)
    for k in np.argsort(-(raw - np.floor(raw)), kind="stable")[: max(0, n_carve - int(target.sum()))]:
        target[k] += 1
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(uniq), dtype=bool)
    for k in range(n_classes):
        cand = np.flatnonzero(group_class == k)
        if len(cand) < 2:
            has = (f"it has only {len(cand)} image" if len(uniq) == len(labels) else
                   f"its images come from only {len(cand)} patient")
            raise DataError(f"{where}: cannot carve a val split in which train and val both hold "
                            f"{class_names[k]}: {has}. Add {class_names[k]} images (of more patients), or "
                            "provide a val folder with at least min_val images of each class.")
        taken = 0
        for g in rng.permutation(cand)[:-1]:
            if taken >= target[k]:
                break
            in_val[g] = True
            taken += per_group[g, k]
    va_mask = in_val[inv]
    tr_idx, va_idx = np.flatnonzero(~va_mask), np.flatnonzero(va_mask)
    for part, idx in (("train", tr_idx), ("val", va_idx)):
        require_every_class(labels[idx], class_names, f"{where}: the carved {part} split",
                             "Some patients have images of several classes; add images of more patients.")
    return tr_idx, va_idx




def group_split(groups: np.ndarray, fraction: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit

    if len(np.unique(groups)) < 2:
        raise DataError(f"{where}: need images of at least 2 patients for a patient-wise split, "
                        f"found {len(np.unique(groups))}")
    gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held = next(gss.split(np.zeros(len(groups)), groups=groups))
    return np.sort(keep), np.sort(held)

