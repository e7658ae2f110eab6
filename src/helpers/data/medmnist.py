"""MedMNIST+ ``.npz`` files (PneumoniaMNIST, ChestMNIST) with their official splits, md5-checked."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data.dataset import (
    BINARY_CLASS_NAMES,
    NIH_LABELS,
    SPLITS,
    DataError,
    Dataset,
    file_md5,
    label_columns,
)
from helpers.data.splits import require_every_class

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
    flag: str, class_names: tuple[str, ...], multi_label: bool, image_size: int, *, data_path: Any = None,
    download: bool = False, seed: int = 0, val_fraction: float = 0.1, verify: bool = True,
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
    col_idx = label_columns(labels, class_names, flag) if labels is not None else None
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
            require_every_class(y[:, 0], class_names, f"{path}: split {split!r} ({lk!r})",
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
load_pneumoniamnist = functools.partial(_load_medmnist, "pneumoniamnist", BINARY_CLASS_NAMES, False)
#: ChestMNIST: official NIH splits, 14 multi-hot labels in :data:`NIH_LABELS` order.
load_chestmnist = functools.partial(_load_medmnist, "chestmnist", NIH_LABELS, True)

