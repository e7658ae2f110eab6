"""Image arrays, the bottom of the package: conversions, hashes, tiling and shared constants.

Every model of the series takes gray ``uint8``-scale images through :func:`as_model_batch`; GAN
output in [-1, 1] comes back through :func:`to_uint8`. Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "BN_MOMENTUM", "SUPPORTED_SIZES", "as_model_batch",
    "scale_images", "unscale_images", "to_uint8", "stretch_to_uint8", "image_hash", "image_hashes",
    "tile_grid",
]

#: ImageNet statistics ("torch" mode of ``keras.applications``; keras-hub's ResNet converter).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Batch-norm momentum of every model the series builds: 0.9 instead of Keras' 0.99, so the moving
#: statistics keep up with the weights in trainings of a few epochs (with 0.99 such a model can rank
#: images well yet put every probability near 1 in inference mode).
BN_MOMENTUM = 0.9
#: The image sizes every chapter runs at (pixels, square): the GAN's architectures are built for these.
SUPPORTED_SIZES: tuple[int, ...] = (28, 32, 64, 128)


def as_model_batch(images: Any) -> np.ndarray:
    """Gray images (N, H, W) or (N, H, W, 1) on the 0-255 scale -> float32 (N, H, W, 1), 0-255.

    The one conversion every Keras model of the series takes its input through (each model rescales
    inside itself). Floats already in [0, 1] or [-1, 1] are refused: convert GAN output with
    :func:`unscale_images` first.
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1:
        raise ValueError(f"expected grayscale images (N, H, W) or (N, H, W, 1), got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating) and x.size and float(np.nanmax(x)) <= 1.0:
        raise ValueError(
            "expected uint8-scale images (0-255); got floats with max <= 1. Convert GAN output with "
            "helpers.data.images.unscale_images first."
        )
    return x.astype(np.float32, copy=False)


def scale_images(images: np.ndarray, to: str = "tanh") -> np.ndarray:
    """uint8 images -> float32 in [-1, 1] (``to="tanh"``) or [0, 1] (``to="unit"``)."""
    arr = np.asarray(images)
    if np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"scale_images expects uint8 pixels, got {arr.dtype}: the images look already scaled")
    arr = arr.astype(np.float32)
    if to == "tanh":
        return arr / np.float32(127.5) - np.float32(1.0)
    if to == "unit":
        return arr / np.float32(255.0)
    raise ValueError(f"to must be 'tanh' or 'unit', not {to!r}")


def unscale_images(images: np.ndarray, frm: str = "tanh") -> np.ndarray:
    """Inverse of :func:`scale_images`: float images in [-1, 1] or [0, 1] -> uint8 (clipped, rounded)."""
    arr = np.asarray(images, dtype=np.float32)
    if frm == "tanh":
        arr = (arr + 1.0) * 127.5
    elif frm == "unit":
        arr = arr * 255.0
    else:
        raise ValueError(f"frm must be 'tanh' or 'unit', not {frm!r}")
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """tanh output in [-1, 1] (N, H, W[, 1]) -> uint8 (N, H, W)."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    return unscale_images(images, "tanh")


def stretch_to_uint8(img: np.ndarray) -> np.ndarray:
    """A decoded gray image of any dtype (16-bit PNG, float) -> uint8 by its own min-max range."""
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float64)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.uint8)
    return np.clip(np.rint((img - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def image_hash(img: np.ndarray) -> str:
    """SHA-1 of one image's shape and bytes (exact-duplicate checks)."""
    img = np.ascontiguousarray(img)
    h = hashlib.sha1(str(img.shape).encode())
    h.update(img.tobytes())
    return h.hexdigest()


def image_hashes(images: Any) -> list[str]:
    """:func:`image_hash` of every image in a batch."""
    return [image_hash(np.asarray(im)) for im in images]


def tile_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (N, H, W[, 1]) images into one 2-D array (``ncols`` defaults to ceil(sqrt(N)))."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    n, h, w = images.shape[:3]
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad), dtype=images.dtype)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    return grid
