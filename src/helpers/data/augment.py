"""Classical augmentation: the training pipeline's seeded Keras layers, Figure 2's gallery, CLAHE.

:func:`augmentation_layers` is what training applies (``classical_aug`` and ``gan_aug`` strategies,
chapter 7); :func:`augmentation_gallery` shows each transform of Figure 2 of Sumithra Devi K A et al.
once, labelled with the strength training uses where it does.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from helpers.data.images import unscale_images

__all__ = ["augmentation_layers", "training_augmentation_settings", "augmentation_gallery", "clahe"]


def augmentation_layers(
    seed: int, rotation: float = 0.05, zoom: float = 0.1, flip: bool = False, *,
    shift: float = 0.0, contrast: float = 0.0, brightness: float = 0.0,
) -> Any:
    """Seeded ``keras.Sequential``: RandomRotation, RandomZoom, with ``flip`` RandomFlip("horizontal") (off by
    default: a chest film's heart sits on one side), and optionally
    RandomTranslation (``shift``), RandomContrast and RandomBrightness.

    For float batches ``(N, H, W, 1)`` on the 0-255 scale, called with ``training=True``. ``rotation``
    is a fraction of a turn (0.05 = ±18°); ``zoom``/``shift`` fractions of the size; ``contrast``/
    ``brightness`` fractions of the intensity range.
    """
    import keras

    layers: list[Any] = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1,
                                                  name="rotation"))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2, name="zoom"))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed + 3,
                                                     name="shift"))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 4,
                                                  name="contrast"))
    if brightness:
        layers.append(keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed + 5,
                                                    name="brightness"))
    if not layers:
        raise ValueError("augmentation_layers: every transform is off")
    return keras.Sequential(layers, name="augmentation")


def training_augmentation_settings() -> dict[str, Any]:
    """The defaults of :func:`augmentation_layers`: rotation (turns), zoom, flip."""
    params = inspect.signature(augmentation_layers).parameters
    return {k: params[k].default for k in ("rotation", "zoom", "flip")}


def augmentation_gallery(image: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Each Figure-2 augmentation applied to one gray ``uint8`` image ``(H, W)``.

    Returns ``{label: uint8 (H, W)}`` in display order, starting with ``"original"``; labels of
    transforms the training pipeline uses end in ``(train...)`` with its strength. The panel's two flips
    appear only when training flips (it does not by default: a flipped chest film puts the heart on the right).
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

    flips = {"horizontal flip (train)": keras.ops.flip(x, axis=2), "vertical flip": keras.ops.flip(x, axis=1)}
    gallery = {
        "original": img.copy(),
        **(flips if train["flip"] else {}),
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
    """OpenCV CLAHE of uint8 gray images ``(N, H, W)`` in ``tiles`` x ``tiles`` regions, clipped at ``clip_limit``."""
    import cv2

    x = np.asarray(images)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"clahe expects uint8 images (N, H, W), got {x.dtype} {x.shape}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles)))
    return np.stack([op.apply(img) for img in x]) if len(x) else x.copy()
