"""The synthetic-image artifact: written by notebook 03, read by notebooks 04 and 05.

``<run_dir>/synthetic/synthetic.npz`` holds ``images`` (uint8 N×H×W), ``class_id``, ``class_name``,
``seed`` and ``provenance`` (the fingerprint: the run's data id, the generator's fingerprint, seed,
count); ``png/`` next to it holds a browsable sample. Only training sets ever receive these
images (see :mod:`helpers.oversampling.oversample`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.core.artifacts import atomic_write, load_npz, save_npz
from helpers.core.provenance import mismatch_error, normalise

__all__ = ["SyntheticImages", "save_synthetic", "load_synthetic"]

FILE_NAME = "synthetic.npz"


@dataclass(frozen=True)
class SyntheticImages:
    """Generated minority images and the class they stand for."""

    images: np.ndarray
    class_id: int
    class_name: str
    seed: int
    provenance: dict[str, Any]

    def __len__(self) -> int:
        return len(self.images)


def save_synthetic(folder: str | os.PathLike, images: np.ndarray, *, class_id: int, class_name: str,
                   seed: int, provenance: Mapping[str, Any], n_png: int = 64) -> Path:
    """Write the npz (atomically) and the first ``n_png`` images as PNG files; return the npz path.

    ``provenance`` must name the run's data (``{"data": cfg.data_id, ...}``): readers check it.
    """
    if "data" not in provenance:
        raise ValueError("provenance must name the run's data id: {'data': cfg.data_id, ...}")
    import cv2

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"synthetic images must be uint8 N×H×W, got {images.dtype} {images.shape}")
    folder = Path(folder)
    path = save_npz(folder / FILE_NAME, images=images, class_id=np.int64(class_id),
                    class_name=np.str_(class_name), seed=np.int64(seed),
                    provenance=np.str_(json.dumps(normalise(dict(provenance)), sort_keys=True)))
    png_dir = folder / "png"
    png_dir.mkdir(parents=True, exist_ok=True)
    for old in png_dir.glob("*.png"):
        old.unlink()
    for i, img in enumerate(images[:n_png]):
        ok, buf = cv2.imencode(".png", img)
        if not ok:  # pragma: no cover - cv2 failure
            raise OSError(f"could not encode synthetic image {i} as PNG")
        with atomic_write(png_dir / f"{class_name.lower()}_synthetic_{i:04d}.png") as tmp:
            tmp.write_bytes(buf.tobytes())
    return path


def load_synthetic(folder: str | os.PathLike, image_size: int | None = None,
                   data_id: str | None = None) -> SyntheticImages:
    """Read what :func:`save_synthetic` wrote; errors name notebook 03 as the fix.

    ``data_id``: the run's data id (``cfg.data_id``); fakes made for other data raise a
    :class:`helpers.core.provenance.ProvenanceError`.
    """
    path = Path(folder) / FILE_NAME
    hint = "Run notebook 03 (generation) first with the same profile and run_dir."
    data = load_npz(path, keys=("images", "class_id", "class_name", "seed", "provenance"), hint=hint)
    fp = json.loads(str(data["provenance"]))
    if data_id is not None and fp.get("data") != data_id:
        raise mismatch_error(path, fp, {**fp, "data": data_id}, "synthetic image set")
    images = data["images"]
    if image_size is not None and images.shape[1:] != (image_size, image_size):
        raise ValueError(
            f"{path} holds {images.shape[1]} px images but this run uses {image_size} px. {hint}"
        )
    return SyntheticImages(images=images, class_id=int(data["class_id"]), class_name=str(data["class_name"]),
                           seed=int(data["seed"]), provenance=fp)
