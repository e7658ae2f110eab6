"""The containers every loader returns: :class:`Dataset`, :class:`LazyImages`, and image-file reading."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data.images import stretch_to_uint8

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



IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm"}
)


class DataError(ValueError):
    """Bad or missing input data; the message names the file/key and the fix."""



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


def read_many(paths: Sequence[Path], image_size: int, workers: int | None) -> tuple[np.ndarray, np.ndarray]:
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



def label_columns(labels: Sequence[str], class_names: tuple[str, ...], where: str) -> list[int]:
    if isinstance(labels, str):
        labels = [labels]
    lookup = {c.lower(): i for i, c in enumerate(class_names)}
    bad = [lab for lab in labels if lab.lower() not in lookup]
    if bad or not labels:
        raise DataError(f"{where}: unknown labels {bad or '[]'}; choose from {class_names}")
    return [lookup[lab.lower()] for lab in labels]

