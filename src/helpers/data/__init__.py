"""Chest X-ray data sets behind one interface: ``load_splits(name, image_size) -> {"train", "val", "test"}``.

Registered sources (see :data:`DATASETS`):

``phantom``
    Synthetic chest-X-ray-like phantoms from :mod:`helpers.data.phantom` (offline, the default of the
    series). Each split is generated from its own child seed, so splits never share images.
``pneumoniamnist`` / ``chestmnist``
    MedMNIST+ ``.npz`` files (28, 64, 128 or 224 px) with their official splits, read from a local
    ``data_path`` or downloaded with pooch from Zenodo and checked against the md5 that MedMNIST
    publishes.
``kaggle_pneumonia``
    The Kaggle "Chest X-Ray Images (Pneumonia)" folder layout
    ``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg`` (Kermany et al. 2018). Its official
    val split has 16 images; a too-small val is merged into train and a seeded val is carved from
    train instead, patient-wise (the file names carry the patient, see
    :func:`patient_id_from_filename`) and stratified by class.
``nih``
    NIH ChestX-ray14 (``Data_Entry_2017.csv`` + ``images_*/images/*.png``), 14 multi-hot labels,
    patient-wise splits; images are streamed from disk through :class:`LazyImages`.

Every image is grayscale ``uint8`` of shape ``image_size x image_size``. Problems with the input data
raise :class:`DataError`, whose message names the file or key and says how to fix it; inputs are
checked before any image is resized. Every split of a single-label data set holds every class (a
split without one class cannot give a ROC AUC). :func:`find_duplicates` and :func:`patient_overlap`
report images and patients shared between splits.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers.data.images import image_hash, stretch_to_uint8

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DataError",
    "Dataset",
    "LazyImages",
    "DatasetInfo",
    "DATASETS",
    "SPLITS",
    "BINARY_CLASS_NAMES",
    "NIH_LABELS",
    "MEDMNIST_SIZES",
    "MEDMNIST_MD5",
    "IMAGE_EXTENSIONS",
    "load_splits",
    "read_image",
    "find_duplicates",
    "patient_overlap",
    "patient_id_from_filename",
    "PATIENT_PATTERNS",
    "medmnist_filename",
    "file_md5",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
BINARY_CLASS_NAMES: tuple[str, ...] = ("NORMAL", "PNEUMONIA")

#: The 14 ChestX-ray14 findings in the order of Wang et al. (CVPR 2017: the first eight, then the six
#: added in the 2017 release), which is also MedMNIST's ChestMNIST column order, so ``nih`` and
#: ``chestmnist`` label columns line up. Spelt as in ``Data_Entry_2017.csv``.
NIH_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{file}?download=1"
#: md5 of the MedMNIST+ files on Zenodo record 10519652, copied from the ``INFO`` table ("MD5",
#: "MD5_64", "MD5_128", "MD5_224") of medmnist/info.py, MedMNIST/MedMNIST v3.0.2
#: (commit 3bb56be69bca38e5f105b21e4d6482b91354d3a4).
MEDMNIST_MD5: dict[str, str] = {
    "pneumoniamnist.npz": "28209eda62fecd6e6a2d98b1501bb15f",
    "pneumoniamnist_64.npz": "8f4eceb4ccffa70c672198ea285246c6",
    "pneumoniamnist_128.npz": "05b46931834c231683c68f40c47b2971",
    "pneumoniamnist_224.npz": "d6a3c71de1b945ea11211b03746c1fe1",
    "chestmnist.npz": "02c8a6516a18b556561a56cbdd36c4a8",
    "chestmnist_64.npz": "9de6cd0b934ebb5b7426cfba5efbae16",
    "chestmnist_128.npz": "db107e5590b27930b62dbaf558aebee3",
    "chestmnist_224.npz": "45bd33e6f06c3e8cdb481c74a89152aa",
}

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm"}
)
KAGGLE_HANDLE = "paultimothymooney/chest-xray-pneumonia"
KAGGLE_LAYOUT = "chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg"
NIH_REQUIRED_COLUMNS: tuple[str, ...] = ("Image Index", "Finding Labels", "Patient ID")


class DataError(ValueError):
    """Bad or missing input data; the message names the file/key and the fix."""


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------


class LazyImages:
    """Array-like view of image files, decoded, made gray and resized only when indexed.

    ``images[i]`` gives one ``(S, S)`` uint8 image; a slice, an index array or a boolean mask gives
    ``(k, S, S)``; ``np.asarray(images)`` reads them all (mind the memory for large sets).
    """

    def __init__(self, paths: Sequence[str | os.PathLike], image_size: int) -> None:
        self.paths: tuple[str, ...] = tuple(str(p) for p in paths)
        self.image_size = int(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.paths), self.image_size, self.image_size)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @property
    def ndim(self) -> int:
        return 3

    def _read(self, i: int) -> np.ndarray:
        return read_image(self.paths[i], self.image_size)[0]

    def _indices(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            return np.arange(len(self))[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean index of shape {idx.shape} does not match {len(self)} images")
            return np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"LazyImages takes an int, a slice or a 1-D index array, not {key!r}")
        n = len(self)
        if idx.size and (idx.max() >= n or idx.min() < -n):
            raise IndexError(f"index out of range for {n} images")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} out of range for {len(self)} images")
            return self._read(i % len(self))
        idx = self._indices(key)
        out = np.empty((len(idx), self.image_size, self.image_size), dtype=np.uint8)
        for j, i in enumerate(idx):
            out[j] = self._read(int(i))
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._read(i)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype)

    def take(self, indices: Any) -> LazyImages:
        """A new lazy view over the selected files (nothing is read)."""
        idx = self._indices(indices)
        return LazyImages([self.paths[int(i)] for i in idx], self.image_size)

    def __repr__(self) -> str:
        return f"LazyImages(n={len(self)}, image_size={self.image_size})"


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of one data set: images, labels and where they came from."""

    name: str  # registry key
    split: str  # "train" | "val" | "test"
    images: np.ndarray | LazyImages  # uint8 (N, S, S) grayscale; LazyImages for nih
    labels: np.ndarray  # int64 (N,) class ids, or uint8 (N, C) multi-hot
    class_names: tuple[str, ...]
    source: str  # provenance: file path / URL / "phantom(seed=..)"
    multi_label: bool
    image_size: int
    paths: tuple[str, ...] | None = None  # per-image file, folder data sets
    original_sizes: np.ndarray | None = None  # (N, 2) int (height, width) before resizing
    #: (N,) str patient id per image where the source carries one (kaggle_pneumonia, nih), else None
    patient_ids: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, not {self.split!r}")
        if self.patient_ids is not None:
            object.__setattr__(self, "patient_ids", np.asarray(self.patient_ids).astype(str))
        n = len(self.labels)
        for what, value in (("images", self.images), ("paths", self.paths),
                            ("original_sizes", self.original_sizes), ("patient_ids", self.patient_ids)):
            if value is not None and len(value) != n:
                raise DataError(f"{self.name}/{self.split}: {len(value)} {what} but {n} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Images per class, or positives per label for multi-label data."""
        if self.multi_label:
            sums = np.asarray(self.labels).sum(axis=0) if len(self) else np.zeros(len(self.class_names))
            return {c: int(s) for c, s in zip(self.class_names, sums, strict=True)}
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.class_names))
        return {c: int(counts[i]) for i, c in enumerate(self.class_names)}

    def minority_class(self) -> int:
        """Index of the rarest class (ties: the lower index); single-label data only."""
        if self.multi_label:
            raise DataError(f"{self.name} is multi-label: pick a finding column instead of a minority class")
        return int(np.argmin(list(self.class_counts().values())))

    def subset(self, indices: Any) -> Dataset:
        """The same split restricted to ``indices`` (int array or boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        images = self.images.take(idx) if isinstance(self.images, LazyImages) else self.images[idx]
        return replace(
            self,
            images=images,
            labels=self.labels[idx],
            paths=None if self.paths is None else tuple(self.paths[int(i)] for i in idx),
            original_sizes=None if self.original_sizes is None else self.original_sizes[idx],
            patient_ids=None if self.patient_ids is None else self.patient_ids[idx],
        )

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image_size={self.image_size}, counts={self.class_counts()}, source={self.source!r})")


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry: how to load a data set and what it is."""

    name: str
    description: str
    loader: Callable[..., dict[str, Dataset]]
    multi_label: bool
    citation: str


# --------------------------------------------------------------------------------------------------
# Image reading and scaling
# --------------------------------------------------------------------------------------------------


def _decode_cv2(path: Path) -> np.ndarray | None:
    import cv2

    buf = np.fromfile(path, dtype=np.uint8)  # works for non-ASCII paths too
    if buf.size == 0:
        return None
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if img is None:
        return None
    if img.ndim == 3:
        channels = img.shape[2]
        if channels == 1:
            img = img[:, :, 0]
        else:
            if img.dtype not in (np.uint8, np.uint16, np.float32):
                img = img.astype(np.float32)
            code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
            img = cv2.cvtColor(img[:, :, :4] if channels > 4 else img, code)
    return img


def _decode_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGB", "RGBA", "P", "PA", "LA", "CMYK", "YCbCr", "1", "LAB", "HSV"):
            im = im.convert("L")
        return np.array(im)


def read_image(path: str | os.PathLike, image_size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Read any image file as gray uint8 resized to ``image_size`` square; also its original (h, w).

    Colour (RGB/RGBA) is converted to gray, 16-bit and float images are scaled to 8 bits by their
    own min-max range, and the image is resized with ``cv2.INTER_AREA`` (aspect ratio not kept).
    An unreadable file raises :class:`DataError` naming it.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file {path} does not exist")
    img = _decode_cv2(path)
    if img is None:
        try:
            img = _decode_pil(path)
        except Exception as exc:  # PIL raises many kinds
            raise DataError(
                f"{path} is not a readable image ({type(exc).__name__}: {exc}). "
                "Delete or replace the corrupt file, or re-download the data set."
            ) from exc
    if img.ndim != 2 or img.size == 0:
        raise DataError(f"{path} decoded to an unexpected array of shape {img.shape}; expected a 2-D image")
    h, w = img.shape
    img = stretch_to_uint8(img)
    if (h, w) != (image_size, image_size):
        img = cv2.resize(img, (int(image_size), int(image_size)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img, dtype=np.uint8), (int(h), int(w))


def _read_many(paths: Sequence[Path], image_size: int, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    workers = workers or min(8, os.cpu_count() or 1)
    images = np.empty((len(paths), image_size, image_size), dtype=np.uint8)
    sizes = np.empty((len(paths), 2), dtype=np.int64)

    def work(i: int) -> None:
        images[i], sizes[i] = read_image(paths[i], image_size)

    if workers <= 1 or len(paths) < 16:
        for i in range(len(paths)):
            work(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # cv2 releases the GIL
            list(pool.map(work, range(len(paths))))
    return images, sizes


def file_md5(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------------------


def find_duplicates(splits: Mapping[str, Dataset]) -> pd.DataFrame:
    """Exact duplicate images (same pixels at the loaded size) within and across splits.

    Returns a pandas DataFrame with one row per group of identical images and the columns
    ``hash``, ``n``, ``splits`` (tuple of split names), ``indices`` (dict split -> list of indices)
    and ``cross_split`` (bool). Duplicates are reported, never dropped.
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


# --------------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------------

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
    """Patients with images in two splits, for each pair of splits that carry ``patient_ids``.

    Returns a pandas DataFrame with one row per split pair and the columns ``splits`` (tuple of two
    split names), ``shared_patients`` (int) and ``examples`` (up to ``max_examples`` shared ids,
    sorted). The frame is empty when fewer than two splits carry patient ids (phantom, MedMNIST).
    Shared patients are reported, never removed.
    """
    import pandas as pd

    ids = {s: set(ds.patient_ids.tolist()) for s, ds in splits.items() if ds.patient_ids is not None}
    rows = []
    for a, b in itertools.combinations(ids, 2):
        shared = sorted(ids[a] & ids[b])
        rows.append({"splits": (a, b), "shared_patients": len(shared), "examples": shared[:max_examples]})
    return pd.DataFrame(rows, columns=["splits", "shared_patients", "examples"])


def _missing_classes(labels: Any, n_classes: int) -> list[int]:
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    return [k for k in range(n_classes) if counts[k] == 0]


def _require_every_class(labels: Any, class_names: Sequence[str], where: str, fix: str) -> None:
    """Raise DataError naming ``where`` when a class has no image there (a split needs every class)."""
    missing = _missing_classes(labels, len(class_names))
    if missing:
        names = ", ".join(f"{class_names[k]} (class {k})" for k in missing)
        raise DataError(f"{where} holds no {names} images: every split needs images of every class "
                        f"({', '.join(class_names)}), or its ROC AUC and val-AUC early stopping are undefined. "
                        f"{fix}")


def _carve_val(
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
        _require_every_class(labels[idx], class_names, f"{where}: the carved {part} split",
                             "Some patients have images of several classes; add images of more patients.")
    return tr_idx, va_idx


# --------------------------------------------------------------------------------------------------
# phantom
# --------------------------------------------------------------------------------------------------


def _child_seeds(seed: int, n: int = 3) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]


def _load_phantom(
    image_size: int,
    *,
    data_path: Any = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    n_train: int = 2000,
    n_val: int = 300,
    n_test: int = 600,
    normal_fraction: float | None = None,
    eval_normal_fraction: float | None = None,
    multi_label: bool = False,
    finding_prevalence: float | None = None,
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


# --------------------------------------------------------------------------------------------------
# MedMNIST+
# --------------------------------------------------------------------------------------------------


def medmnist_filename(flag: str, size: int) -> str:
    """Standard MedMNIST+ file name: ``pneumoniamnist.npz`` at 28 px, ``pneumoniamnist_64.npz`` etc."""
    if size not in MEDMNIST_SIZES:
        raise DataError(f"{flag}: image size {size} is not published; supported sizes are {MEDMNIST_SIZES}")
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def _expected_md5(file_name: str) -> str | None:
    """Published md5 for an official MedMNIST+ file name (``pneumoniamnist.npz``, ``..._64.npz``...).

    Other names (a re-saved copy such as ``pneumoniamnist_28.npz``) are not official bytes: they
    are checked for keys and shapes only, and their own md5 is recorded in ``Dataset.source``.
    """
    return MEDMNIST_MD5.get(file_name)


def _medmnist_cache_dir() -> Path:
    return Path(os.environ.get("MEDMNIST_ROOT") or Path.home() / ".medmnist").expanduser()


def _check_md5(path: Path, expected: str) -> None:
    actual = file_md5(path)
    if actual != expected:
        raise DataError(
            f"{path}: md5 {actual} does not match the published md5 {expected}. The file is corrupt, "
            f"truncated or a different version: delete {path} and download it again "
            "(download=True), or pass verify=False to use it anyway."
        )


def _download_medmnist(file_name: str) -> Path:
    import pooch

    cache = _medmnist_cache_dir()
    url = MEDMNIST_URL.format(file=file_name)
    expected = MEDMNIST_MD5[file_name]
    try:
        got = pooch.retrieve(url=url, known_hash=f"md5:{expected}", fname=file_name, path=cache,
                             progressbar=False)
    except ValueError as exc:  # pooch's hash mismatch
        raise DataError(
            f"download of {url} into {cache / file_name} failed the md5 check (expected {expected}): {exc}. "
            f"Delete {cache / file_name} and download again."
        ) from exc
    except Exception as exc:  # network errors of all kinds
        raise DataError(
            f"could not download {url} into {cache} ({type(exc).__name__}: {exc}). Check the internet "
            "connection, or download the file by hand and pass data_path=..., or use name='phantom'."
        ) from exc
    return Path(got)


def _resolve_medmnist(flag: str, image_size: int, data_path: Any, download: bool) -> tuple[Path, str | None]:
    """Return (file, url or None)."""
    if data_path is not None:
        p = Path(data_path).expanduser()
        if p.is_file():
            return p, None
        if p.is_dir():
            std = medmnist_filename(flag, image_size)
            candidates = [p / std] + ([p / f"{flag}_28.npz"] if image_size == 28 else [])
            for c in candidates:
                if c.is_file():
                    return c, None
            if not download:
                raise DataError(
                    f"{p} has no {' or '.join(c.name for c in candidates)}. Put the MedMNIST+ file there, "
                    "pass the file itself as data_path, or use download=True."
                )
        elif not download:
            raise DataError(f"data_path {p} does not exist; pass the .npz file or the folder holding it")
    std = medmnist_filename(flag, image_size)
    cached = _medmnist_cache_dir() / std
    if download:
        return _download_medmnist(std), MEDMNIST_URL.format(file=std)
    if cached.is_file():
        return cached, None
    raise DataError(
        f"{flag} at {image_size} px: no data_path given and {cached} is not there. Use download=True "
        f"(fetches {MEDMNIST_URL.format(file=std)}), or data_path=<folder or .npz>, or name='phantom'."
    )


def _load_medmnist(
    flag: str,
    class_names: tuple[str, ...],
    multi_label: bool,
    image_size: int,
    *,
    data_path: Any = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    verify: bool = True,
    labels: Sequence[str] | None = None,
) -> dict[str, Dataset]:
    import cv2

    path, url = _resolve_medmnist(flag, image_size, data_path, download)
    expected = _expected_md5(path.name)
    if url is not None:
        check = "md5 verified by pooch"
    elif expected is not None and verify:
        _check_md5(path, expected)
        check = "md5 verified"
    else:
        check = "md5 not checked" + (" (verify=False)" if expected else f" (non-standard file name; md5 {file_md5(path)})")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); delete it and download again") from exc
    n_cols = len(class_names)
    col_idx = _label_columns(labels, class_names, flag) if labels is not None else None
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with npz:  # check all three splits before any resizing
        for split in SPLITS:
            ik, lk = f"{split}_images", f"{split}_labels"
            for key in (ik, lk):
                if key not in npz.files:
                    raise DataError(f"{path} lacks the key {key!r} (it has {sorted(npz.files)}); "
                                    "it is not a MedMNIST file: use the official .npz")
            raw[split] = (_npz_array(npz, ik, path), _npz_array(npz, lk, path))
    for split, (images, y) in raw.items():
        ik, lk = f"{split}_images", f"{split}_labels"
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise DataError(f"{path}: {ik!r} has shape {images.shape}; expected (N, S, S) gray images")
        _check_npz_images(images, ik, path)
        if y.ndim == 1 and n_cols == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != (1 if not multi_label else n_cols) or len(y) != len(images):
            want = f"({len(images)}, {1 if not multi_label else n_cols})"
            raise DataError(f"{path}: {lk!r} has shape {y.shape}; expected {want} for {flag}")
        _check_npz_labels(y, lk, path, flag, class_names, multi_label)
        if not multi_label:
            _require_every_class(y[:, 0], class_names, f"{path}: split {split!r} ({lk!r})",
                                 "Use the official MedMNIST file, or re-split the data so that every split "
                                 "holds both classes.")
        raw[split] = (images, y)
    out = {}
    for split, (images, y) in raw.items():
        file_size = images.shape[1]
        note = ""
        if file_size != image_size:
            images = np.stack([cv2.resize(im, (image_size, image_size), interpolation=cv2.INTER_AREA)
                               for im in images]) if len(images) else images.reshape(0, image_size, image_size)
            note = f"; resized {file_size}->{image_size} px with cv2.INTER_AREA"
        if multi_label:
            y = y.astype(np.uint8)
            names = class_names
            if col_idx is not None:
                y, names = y[:, col_idx], tuple(class_names[i] for i in col_idx)
        else:
            y, names = y[:, 0].astype(np.int64), class_names
        out[split] = Dataset(
            name=flag, split=split, images=np.ascontiguousarray(images), labels=y, class_names=names,
            source=(f"{url} -> {path}" if url else str(path)) + f" (MedMNIST+ {flag}, {check}{note})",
            multi_label=multi_label, image_size=image_size,
        )
    return out


def _npz_array(npz: Any, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(f"{path}: {key!r} is an object array, which only loads with allow_pickle=True "
                            "(unpickling can run code, so it is not done). Re-save the file with numeric "
                            "arrays (uint8 images, integer labels), or use the official MedMNIST file.") from exc
        raise DataError(f"{path}: {key!r} cannot be read ({exc}); delete the file and download it again") from exc
    except Exception as exc:  # a damaged zip member
        raise DataError(f"{path}: {key!r} cannot be read ({type(exc).__name__}: {exc}); delete the file and "
                        "download it again") from exc


def _check_npz_images(images: np.ndarray, key: str, path: Path) -> None:
    """MedMNIST images are uint8 in 0-255; anything else would be wrapped or zeroed by a uint8 cast."""
    if images.dtype == np.uint8:
        return
    if images.size and np.issubdtype(images.dtype, np.number):
        lo, hi = float(np.nanmin(images)), float(np.nanmax(images))
        values = f"{images.dtype} values in [{lo:g}, {hi:g}]"
    else:
        values = f"{images.dtype} values"
    hint = ("for images scaled to [0, 1], np.rint(x * 255).astype(np.uint8)"
            if np.issubdtype(images.dtype, np.floating) else "np.clip(x, 0, 255).astype(np.uint8) once the "
            "values are known to be 0-255 intensities")
    raise DataError(f"{path}: {key!r} holds {values}; MedMNIST images must be uint8 in 0-255 (a cast would "
                    f"silently wrap or zero them). Re-save them as uint8 ({hint}), or use the official file.")


def _check_npz_labels(y: np.ndarray, key: str, path: Path, flag: str, class_names: tuple[str, ...],
                      multi_label: bool) -> None:
    """Binary labels are 0/1 class ids; multi-label labels are 0/1 per finding column."""
    ok = np.isin(y, (0, 1)) if np.issubdtype(y.dtype, np.number) or y.dtype == bool else np.zeros(y.shape, bool)
    if ok.all():
        return
    rows = np.flatnonzero(~ok.all(axis=1) if ok.ndim == 2 else ~ok)
    bad = np.unique(y[~ok])[:5].tolist()
    want = (f"0 or 1 in each of the {len(class_names)} finding columns (multi-hot)" if multi_label else
            f"0 ({class_names[0]}) or 1 ({class_names[1]})")
    raise DataError(f"{path}: {key!r} holds the values {bad} (first in row {int(rows[0])}, {len(rows)} "
                    f"row{'s' if len(rows) > 1 else ''} in all); {flag} labels must be {want}. This file is "
                    f"not a {flag} file: use the official one, or map its labels to 0/1 and re-save it.")


#: PneumoniaMNIST: official splits; ``verify`` checks the md5 of a local file with a standard name.
_load_pneumoniamnist = functools.partial(_load_medmnist, "pneumoniamnist", BINARY_CLASS_NAMES, False)
#: ChestMNIST: official NIH splits, 14 multi-hot labels in :data:`NIH_LABELS` order.
_load_chestmnist = functools.partial(_load_medmnist, "chestmnist", NIH_LABELS, True)


def _label_columns(labels: Sequence[str], class_names: tuple[str, ...], where: str) -> list[int]:
    if isinstance(labels, str):
        labels = [labels]
    lookup = {c.lower(): i for i, c in enumerate(class_names)}
    bad = [lab for lab in labels if lab.lower() not in lookup]
    if bad or not labels:
        raise DataError(f"{where}: unknown labels {bad or '[]'}; choose from {class_names}")
    return [lookup[lab.lower()] for lab in labels]


# --------------------------------------------------------------------------------------------------
# Kaggle chest_xray folders
# --------------------------------------------------------------------------------------------------


def _kaggle_root(path: Path) -> Path:
    """Find the folder holding train/ (accepts the parent of chest_xray, chest_xray, or the nested copy)."""
    for cand in (path, path / "chest_xray", path / "chest_xray" / "chest_xray"):
        if (cand / "train").is_dir():
            return cand
    raise DataError(
        f"{path}: no train folder found (looked in {path}, {path / 'chest_xray'} and "
        f"{path / 'chest_xray' / 'chest_xray'}). Expected the Kaggle layout {KAGGLE_LAYOUT}."
    )


def _list_images(folder: Path) -> list[Path]:
    files = []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.name.startswith("._"):  # macOS AppleDouble companions
            continue
        if f.suffix.lower() in IMAGE_EXTENSIONS:
            files.append(f)
    return files


def _scan_split(
    root: Path, split: str, class_names: tuple[str, ...], *, require_every_class: bool = True,
) -> tuple[list[Path], list[int]]:
    folder = root / split
    paths: list[Path] = []
    labels: list[int] = []
    for k, cname in enumerate(class_names):
        cdir = folder / cname
        if not cdir.is_dir():
            raise DataError(f"missing class folder {cdir}. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
        files = _list_images(cdir)
        paths += files
        labels += [k] * len(files)
    if not paths:
        raise DataError(f"split folder {folder} holds no images in {', '.join(class_names)}. "
                        f"Expected the Kaggle layout {KAGGLE_LAYOUT}.")
    if require_every_class:
        _check_class_folders(folder, labels, class_names)
    return paths, labels


def _check_class_folders(folder: Path, labels: Sequence[int], class_names: tuple[str, ...]) -> None:
    for k in _missing_classes(labels, len(class_names)):
        cdir = folder / class_names[k]
        raise DataError(f"class folder {cdir} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}): the "
                        f"{folder.name} split needs images of every class ({', '.join(class_names)}). Put the "
                        f"images back (re-extract the archive), or use the Kaggle layout {KAGGLE_LAYOUT}.")


def _kaggle_patients(paths: Sequence[Path]) -> tuple[np.ndarray | None, str]:
    """Per-image patient ids parsed from the file names, or (None, why) when any name carries none."""
    ids = [patient_id_from_filename(p) for p in paths]
    unknown = [p for p, i in zip(paths, ids, strict=True) if i is None]
    if unknown:
        return None, (f"{len(unknown)} of {len(paths)} file names carry no patient id, e.g. {unknown[0].name}; "
                      "names like person1_virus_6.jpeg, IM-0115-0001.jpeg or 00000001_000.png do")
    return np.asarray(ids, dtype=str), f"{len(set(ids))} patients"


def _load_kaggle(
    image_size: int,
    *,
    data_path: Any = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    min_val: int = 100,
    val_grouping: str = "patient",
    workers: int | None = None,
) -> dict[str, Dataset]:
    """Kaggle "Chest X-Ray Images (Pneumonia)"; a val split under ``min_val`` images is re-carved.

    ``val_grouping="patient"`` (default) carves each patient (parsed from the file names with
    :func:`patient_id_from_filename`) onto one side, stratified by class and seeded; when some file
    name carries no patient id it falls back to single images. ``val_grouping="image"`` carves single
    images, so one patient's images can sit in train and val (for measuring that leakage).
    ``Dataset.source`` says which was done. Every split holds every class.
    """
    if val_grouping not in ("patient", "image"):
        raise DataError(f"kaggle_pneumonia: val_grouping must be 'patient' or 'image', not {val_grouping!r}")
    if data_path is None:
        if not download:
            raise DataError(
                f"kaggle_pneumonia needs data_path=<folder with {KAGGLE_LAYOUT}> or download=True "
                f"(kagglehub, dataset {KAGGLE_HANDLE}, needs Kaggle credentials)."
            )
        try:
            import kagglehub

            data_path = kagglehub.dataset_download(KAGGLE_HANDLE)
        except Exception as exc:
            raise DataError(
                f"kagglehub could not download {KAGGLE_HANDLE} ({type(exc).__name__}: {exc}). Set up Kaggle "
                "credentials (~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY), or download the archive "
                "by hand and pass data_path=..."
            ) from exc
    data_path = Path(data_path).expanduser()
    if not data_path.is_dir():
        raise DataError(f"data_path {data_path} is not a folder. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
    root = _kaggle_root(data_path)
    classes = BINARY_CLASS_NAMES
    found: dict[str, tuple[list[Path], list[int]]] = {}
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(f"missing split folder {root / split}. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
        found[split] = _scan_split(root, split, classes)
    note = ""
    if (root / "val").is_dir():  # a too-small val is merged into train below, so it may lack a class
        found["val"] = _scan_split(root, "val", classes, require_every_class=False)
    n_val = len(found["val"][0]) if "val" in found else 0
    if "val" in found and n_val >= min_val:
        _check_class_folders(root / "val", found["val"][1], classes)
    else:
        tr_paths, tr_labels = found["train"]
        if "val" in found:
            tr_paths, tr_labels = tr_paths + found["val"][0], tr_labels + found["val"][1]
        y = np.asarray(tr_labels, dtype=np.int64)
        pool_ids, how = _kaggle_patients(tr_paths)
        if val_grouping == "image":
            pool_ids, how = None, "val_grouping='image' asked for single images"
        # at least one image per class in val, as many as val_fraction asks for otherwise
        n_carve = max(int(np.ceil(val_fraction * len(y))), len(classes))
        groups = pool_ids if pool_ids is not None else np.arange(len(y))
        where = f"{root / 'train'}" + (f" + {root / 'val'}" if "val" in found else "")
        tr_idx, va_idx = _carve_val(y, groups, n_carve, seed, classes, where)
        found["train"] = ([tr_paths[i] for i in tr_idx], [tr_labels[i] for i in tr_idx])
        found["val"] = ([tr_paths[i] for i in va_idx], [tr_labels[i] for i in va_idx])
        if pool_ids is not None:
            by = (f"patient-wise (val_fraction={val_fraction:g}: {len(set(pool_ids[va_idx].tolist()))} of the "
                  f"{how} named in the file names, each patient on one side; stratified by class, seed={seed})")
        else:
            by = f"image-wise (val_fraction={val_fraction:g}; stratified by class, seed={seed}; {how})"
        why = f"the val folder has only {n_val} images (< min_val={min_val})" if n_val else "there is no val folder"
        merged = f", its {n_val} images merged into train first" if n_val else ""
        note = f"; val carved from train {by} because {why}{merged}"
    patients = {split: _kaggle_patients(found[split][0])[0] for split in SPLITS}
    if all(ids is not None for ids in patients.values()):
        ids_note = "; patient ids from the file names"
    else:
        patients = dict.fromkeys(SPLITS)
        ids_note = "; no patient ids (some file names carry none)"
    out = {}
    for split in SPLITS:
        paths, labels = found[split]
        images, sizes = _read_many(paths, image_size, workers)
        out[split] = Dataset(
            name="kaggle_pneumonia", split=split, images=images, labels=np.asarray(labels, dtype=np.int64),
            class_names=classes, source=f"{root} (Kaggle chest_xray layout{ids_note}{note})", multi_label=False,
            image_size=image_size, paths=tuple(str(p) for p in paths), original_sizes=sizes,
            patient_ids=patients[split],
        )
    return out


# --------------------------------------------------------------------------------------------------
# NIH ChestX-ray14
# --------------------------------------------------------------------------------------------------


def _nih_image_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for pattern in ("images_*/images/*.png", "images_*/*.png", "images/*.png"):
        for f in sorted(root.glob(pattern)):
            index.setdefault(f.name, f)
    return index


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _group_split(groups: np.ndarray, fraction: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit

    if len(np.unique(groups)) < 2:
        raise DataError(f"{where}: need images of at least 2 patients for a patient-wise split, "
                        f"found {len(np.unique(groups))}")
    gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held = next(gss.split(np.zeros(len(groups)), groups=groups))
    return np.sort(keep), np.sort(held)


def _check_nih_table(table: pd.DataFrame, csv: Path) -> pd.DataFrame:
    """Drop blank lines; raise naming the line for an empty image name or findings cell or a bad patient id."""
    import pandas as pd

    table = table.loc[~table.isna().all(axis=1)]

    def fail(i: int, problem: str, fix: str) -> None:
        name = table.at[i, "Image Index"]
        image = f" (image {name!r})" if isinstance(name, str) and name.strip() else ""
        raise DataError(f"{csv}, line {i + 2}{image}: {problem}. {fix}, or use the original Data_Entry_2017.csv")

    names = table["Image Index"].astype("string").str.strip()
    for i in table.index[names.isna() | (names == "")][:1]:
        fail(i, "the 'Image Index' cell is empty", "Write the image file name there")
    findings = table["Finding Labels"].astype("string").str.strip()
    for i in table.index[findings.isna() | (findings == "")][:1]:
        fail(i, "the 'Finding Labels' cell is empty", "Write the findings separated by '|', or 'No Finding'")
    pid = table["Patient ID"].astype("string").str.strip()
    for i in table.index[~pid.fillna("").str.fullmatch(r"\d+")][:1]:
        value = table.at[i, "Patient ID"]
        fail(i, f"'Patient ID' is {'empty' if pd.isna(value) else repr(value)}, not a whole number",
             "Write the patient's number there (the first 8 digits of the image name)")
    return table.reset_index(drop=True)


def _load_nih(
    image_size: int,
    *,
    data_path: Any = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    labels: Sequence[str] | None = None,
    use_official_lists: bool = True,
) -> dict[str, Dataset]:
    """NIH ChestX-ray14; patient-wise splits, images streamed from disk (:class:`LazyImages`)."""
    import pandas as pd

    if data_path is None:
        raise DataError("nih needs data_path=<folder with Data_Entry_2017.csv and images_*/images/*.png>; "
                        "it cannot be downloaded automatically (get it from the NIH Box site or Kaggle)")
    root = Path(data_path).expanduser()
    csv = root / "Data_Entry_2017.csv"
    if not csv.is_file():
        raise DataError(f"{csv} not found: data_path must hold Data_Entry_2017.csv and images_*/images/*.png")
    try:  # blank lines kept, so that row i is line i + 2 of the file
        table = pd.read_csv(csv, skip_blank_lines=False, dtype={"Patient ID": str, "Finding Labels": str})
    except Exception as exc:
        raise DataError(f"{csv} is not a readable CSV file ({type(exc).__name__}: {exc}); "
                        "use the original Data_Entry_2017.csv") from exc
    missing = [c for c in NIH_REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{csv} lacks the columns {missing} (it has {list(table.columns)}); "
                        "use the original Data_Entry_2017.csv")
    table = _check_nih_table(table, csv)
    index = _nih_image_index(root)
    n_rows = len(table)
    present = table["Image Index"].map(lambda n: n in index).to_numpy(bool)
    table = table.loc[present].reset_index(drop=True)
    if not len(table):
        raise DataError(f"none of the {n_rows} images listed in {csv} is under {root}/images_*/images/")
    col = {c: i for i, c in enumerate(NIH_LABELS)}
    y = np.zeros((len(table), len(NIH_LABELS)), dtype=np.uint8)
    for r, text in enumerate(table["Finding Labels"].astype(str)):
        for lab in text.split("|"):
            lab = lab.strip()
            if lab in ("No Finding", ""):
                continue
            if lab not in col:
                raise DataError(f"{csv}: row {table['Image Index'][r]!r} has the unknown finding {lab!r}; "
                                f"known findings are {NIH_LABELS} and 'No Finding'")
            y[r, col[lab]] = 1
    names = NIH_LABELS
    if labels is not None:
        idx = _label_columns(labels, NIH_LABELS, "nih")
        y, names = y[:, idx], tuple(NIH_LABELS[i] for i in idx)
    patients = table["Patient ID"].astype(np.int64).to_numpy()
    files = table["Image Index"].to_numpy(str)
    test_list, tv_list = root / "test_list.txt", root / "train_val_list.txt"
    if use_official_lists and test_list.is_file():
        in_test = np.isin(files, list(_read_list(test_list)))
        if tv_list.is_file():
            in_tv = np.isin(files, list(_read_list(tv_list))) & ~in_test
        else:
            in_tv = ~in_test
        # never let a patient straddle test and train/val, even if the lists disagreed
        leaked = np.isin(patients, patients[in_test]) & in_tv
        in_tv &= ~leaked
        test_idx, tv_idx = np.flatnonzero(in_test), np.flatnonzero(in_tv)
        how = (f"test = {test_list.name}; train/val = "
               f"{tv_list.name if tv_list.is_file() else 'the rest'} split patient-wise")
        if leaked.any():
            how += f" ({int(leaked.sum())} train/val images of test patients dropped)"
    else:
        tv_idx, test_idx = _group_split(patients, test_fraction, seed, str(csv))
        how = f"patient-wise split (test_fraction={test_fraction:g})"
    if not len(test_idx) or not len(tv_idx):
        raise DataError(f"{csv}: the split left {len(tv_idx)} train/val and {len(test_idx)} test images")
    tr, va = _group_split(patients[tv_idx], val_fraction, seed, str(csv))
    parts = {"train": tv_idx[tr], "val": tv_idx[va], "test": test_idx}
    source = (f"{csv}: {len(table)} of {n_rows} CSV rows have an image file ({n_rows - len(table)} without, "
              f"skipped); {how}, val_fraction={val_fraction:g}, seed={seed}")
    out = {}
    for split, rows in parts.items():
        paths = tuple(str(index[f]) for f in files[rows])
        out[split] = Dataset(
            name="nih", split=split, images=LazyImages(paths, image_size), labels=y[rows], class_names=names,
            source=source, multi_label=True, image_size=image_size, paths=paths,
            patient_ids=np.asarray([f"{p:08d}" for p in patients[rows]], dtype=str),
        )
    return out


# --------------------------------------------------------------------------------------------------
# Registry and entry points
# --------------------------------------------------------------------------------------------------

DATASETS: dict[str, DatasetInfo] = {
    "phantom": DatasetInfo(
        "phantom", "Synthetic chest-X-ray-like phantoms (offline; NORMAL minority).", _load_phantom, False,
        "helpers.data.phantom (this project)"),
    "pneumoniamnist": DatasetInfo(
        "pneumoniamnist", "PneumoniaMNIST (MedMNIST+), pediatric CXR, NORMAL vs PNEUMONIA, official splits.",
        _load_pneumoniamnist, False,
        "Kermany et al., Cell 2018; Yang et al., MedMNIST v2, Scientific Data 2023 (CC BY 4.0)"),
    "chestmnist": DatasetInfo(
        "chestmnist", "ChestMNIST (MedMNIST+), NIH ChestX-ray14 at low resolution, 14 findings, multi-label.",
        _load_chestmnist, True,
        "Wang et al., CVPR 2017; Yang et al., MedMNIST v2, Scientific Data 2023 (CC BY 4.0)"),
    "kaggle_pneumonia": DatasetInfo(
        "kaggle_pneumonia", "Kaggle 'Chest X-Ray Images (Pneumonia)' JPEG folders (Kermany et al.).",
        _load_kaggle, False, "Kermany et al., Cell 2018 (CC BY 4.0)"),
    "nih": DatasetInfo(
        "nih", "NIH ChestX-ray14 PNGs + Data_Entry_2017.csv, 14 findings, patient-wise splits.", _load_nih,
        True, "Wang et al., CVPR 2017; NIH Clinical Center"),
}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; registered datasets are {sorted(DATASETS)}")
    return DATASETS[name]


def load_splits(
    name: str,
    image_size: int = 28,
    *,
    data_path: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
    **options: Any,
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
            _require_every_class(ds.labels, ds.class_names, f"{name} split {split!r} ({ds.source})",
                                 f"Change the {name} options so that each split gets images of every class.")
    return splits
