"""The augmentation gallery of Figure 2 of Sumithra Devi K A et al. (DSATM), and which of it the training pipeline uses.

:func:`augmentation_gallery` applies each transform of that figure once, with fixed
strengths so every panel visibly differs from the original: flips, rotations of ±45°, Gaussian
blur, brightening, Gaussian noise, darkening and a random crop resized back. The transforms are
Keras preprocessing layers (``RandomRotation`` / ``RandomBrightness`` with a fixed factor,
``GaussianNoise``, ``RandomCrop`` + ``Resizing``), ``keras.ops.flip`` for the flips (``RandomFlip``
flips only half of the time), and OpenCV for the blur (Keras has no blur layer).

The training pipeline (``helpers.oversampling.oversample.augmentation_layers``, used by the ``classical_aug``
and ``gan_aug`` strategies) applies only a random horizontal flip, small rotations and a small
zoom; the labels say which panels it uses and how strongly, e.g. ``"rotation +45° (train: ±18°)"``.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from helpers.data.images import unscale_images

__all__ = ["training_augmentation_settings", "augmentation_gallery", "clahe"]


def training_augmentation_settings() -> dict[str, Any]:
    """The defaults of ``oversample.augmentation_layers``: rotation (turns), zoom, flip."""
    from helpers.oversampling.oversample import augmentation_layers

    params = inspect.signature(augmentation_layers).parameters
    return {k: params[k].default for k in ("rotation", "zoom", "flip")}


def augmentation_gallery(image: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Each Figure-2 augmentation applied to one gray ``uint8`` image ``(H, W)``.

    Returns ``{label: uint8 (H, W)}`` in display order, starting with ``"original"``; labels of
    transforms the training pipeline uses end in ``(train...)`` with its strength.
    """
    import cv2
    import keras

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected one gray image (H, W), got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    h, w = img.shape
    x = img.astype(np.float32)[None, :, :, None]  # (1, H, W, 1), 0-255
    train = training_augmentation_settings()
    rot_deg = round(float(train["rotation"] or 0.0) * 360)
    zoom_pct = round(float(train["zoom"] or 0.0) * 100)
    rot_tag = f" (train: ±{rot_deg}°)" if rot_deg else ""
    flip_tag = " (train)" if train["flip"] else ""
    zoom_tag = f" (train: zoom ±{zoom_pct}%)" if zoom_pct else ""

    def rotate(turns: float) -> np.ndarray:  # positive = counter-clockwise
        layer = keras.layers.RandomRotation((turns, turns), fill_mode="constant", fill_value=0.0, seed=seed)
        return layer(x, training=True)

    def brightness(delta: float) -> np.ndarray:
        layer = keras.layers.RandomBrightness((delta, delta), value_range=(0, 255), seed=seed)
        return layer(x, training=True)

    noise = keras.layers.GaussianNoise(0.08, seed=seed)(x / 255.0, training=True) * 255.0
    ch, cw = max(2, int(round(0.7 * h))), max(2, int(round(0.7 * w)))
    crop = keras.layers.RandomCrop(ch, cw, seed=seed)(x, training=True)
    crop = keras.layers.Resizing(h, w, interpolation="bilinear")(crop)
    k = max(3, (min(h, w) // 8) | 1)  # odd kernel, ~1/8 of the image
    blur = cv2.GaussianBlur(img, (k, k), sigmaX=k / 3.0)

    gallery = {
        "original": img.copy(),
        f"horizontal flip{flip_tag}": keras.ops.flip(x, axis=2),
        "vertical flip": keras.ops.flip(x, axis=1),
        f"rotation +45°{rot_tag}": rotate(0.125),
        f"rotation -45°{rot_tag}": rotate(-0.125),
        "Gaussian blur": blur,
        "brightness up": brightness(0.3),
        "Gaussian noise": noise,
        "darkening": brightness(-0.3),
        f"random crop{zoom_tag}": crop,
    }
    out: dict[str, np.ndarray] = {}
    for label, value in gallery.items():
        arr = unscale_images(keras.ops.convert_to_numpy(value) / 255.0, frm="unit")
        out[label] = arr.reshape(h, w)
    return out


def clahe(images: Any, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV) of uint8 gray images ``(N, H, W)``.

    Each image is equalised in ``tiles`` × ``tiles`` regions, each region's histogram clipped at
    ``clip_limit`` times its mean so noise is not amplified: local contrast no longer depends on
    exposure, one source of the shift between the Kaggle test split and its training split.
    """
    import cv2

    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"clahe expects uint8 images (N, H, W), got {x.dtype} {x.shape}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles)))
    return np.stack([op.apply(img) for img in x]) if len(x) else x.copy()
