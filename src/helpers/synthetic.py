"""The synthetic-image artifact: written by notebook 03, read by notebooks 04 and 05.

``<run_dir>/synthetic/synthetic.npz`` holds ``images`` (uint8 N×H×W), ``class_id``, ``class_name``
and ``seed``; ``png/`` next to it holds a browsable sample. Only training sets ever receive these
images (see :mod:`helpers.oversample`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import atomic_write, load_npz, save_npz

__all__ = ["SyntheticImages", "save_synthetic", "load_synthetic"]

FILE_NAME = "synthetic.npz"


@dataclass(frozen=True)
class SyntheticImages:
    """Generated minority images and the class they stand for."""

    images: np.ndarray
    class_id: int
    class_name: str
    seed: int

    def __len__(self) -> int:
        return len(self.images)


def save_synthetic(folder: str | os.PathLike, images: np.ndarray, *, class_id: int, class_name: str,
                   seed: int, n_png: int = 64) -> Path:
    """Write the npz (atomically) and the first ``n_png`` images as PNG files; return the npz path."""
    import cv2

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"synthetic images must be uint8 N×H×W, got {images.dtype} {images.shape}")
    folder = Path(folder)
    path = save_npz(folder / FILE_NAME, images=images, class_id=np.int64(class_id),
                    class_name=np.str_(class_name), seed=np.int64(seed))
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


def load_synthetic(folder: str | os.PathLike, image_size: int | None = None) -> SyntheticImages:
    """Read what :func:`save_synthetic` wrote; errors name notebook 03 as the fix."""
    path = Path(folder) / FILE_NAME
    hint = "Run notebook 03 (generation) first with the same profile and run_dir."
    data = load_npz(path, keys=("images", "class_id", "class_name", "seed"), hint=hint)
    images = data["images"]
    if image_size is not None and images.shape[1:] != (image_size, image_size):
        raise ValueError(
            f"{path} holds {images.shape[1]} px images but this run uses {image_size} px. {hint}"
        )
    return SyntheticImages(images=images, class_id=int(data["class_id"]), class_name=str(data["class_name"]),
                           seed=int(data["seed"]))
