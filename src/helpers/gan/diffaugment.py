"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs trained on few images.

The same kind of random, differentiable transformation goes to every image the discriminator sees,
real and fake, in both updates: D cannot memorise exact pixels and G still gets gradients. Policies
(comma-separated, in order; ``""`` is the identity): ``color`` (brightness U(-0.5, 0.5), saturation
(a no-op on one channel), contrast x U(0.5, 1.5)), ``translation`` (up to 1/8 of the size, zero fill),
``cutout`` (a zeroed square of half the size). Randomness: a ``keras.random.SeedGenerator`` or an int.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

__all__ = ["POLICIES", "DEFAULT_POLICY", "parse_policy", "policy_string", "diff_augment", "rand_brightness",
           "rand_saturation", "rand_contrast", "rand_translation", "rand_cutout"]

#: Transformations by policy name (the reference implementation's names).
POLICIES: tuple[str, ...] = ("color", "translation", "cutout")
#: The policy Zhao et al. recommend for limited data.
DEFAULT_POLICY = "color,translation,cutout"


def parse_policy(policy: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"color,translation"`` (or a list of names) -> ``("color", "translation")``; None/"" -> ()."""
    if policy is None:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    out: list[str] = []
    for name in (str(n).strip().lower() for n in names):
        if not name:
            continue
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r}; use a comma-separated subset of {POLICIES}.")
        if name in out:
            raise ValueError(f"DiffAugment policy {name!r} is listed twice in {policy!r}.")
        out.append(name)
    return tuple(out)


def policy_string(policy: str | Sequence[str] | None) -> str:
    """The canonical form of a policy (what run records store): ``"color,translation"``, or ``""``."""
    return ",".join(parse_policy(policy))


def _per_image(x: Any, seed: Any, low: float, high: float) -> Any:
    return keras.random.uniform((tf.shape(x)[0], 1, 1, 1), minval=low, maxval=high, dtype=x.dtype, seed=seed)


def rand_brightness(x: Any, seed: Any = None) -> Any:
    """Add one U(-0.5, 0.5) offset to each image."""
    return x + _per_image(x, seed, -0.5, 0.5)


def rand_saturation(x: Any, seed: Any = None) -> Any:
    """Scale each pixel's deviation from its channel mean by U(0, 2); the identity on one channel."""
    if x.shape[-1] == 1:
        return x
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_image(x, seed, 0.0, 2.0) + mean


def rand_contrast(x: Any, seed: Any = None) -> Any:
    """Scale each image's deviation from its mean by U(0.5, 1.5)."""
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_image(x, seed, 0.5, 1.5) + mean


def rand_translation(x: Any, seed: Any = None, ratio: float = 0.125) -> Any:
    """Shift each image by up to ``ratio`` of its height/width (whole pixels, zero fill)."""
    height, width = int(x.shape[1]), int(x.shape[2])
    batch = tf.shape(x)[0]
    max_y, max_x = int(height * ratio), int(width * ratio)
    shift_y = keras.random.randint((batch, 1), -max_y, max_y + 1, dtype="int32", seed=seed)
    shift_x = keras.random.randint((batch, 1), -max_x, max_x + 1, dtype="int32", seed=seed)
    # Output pixel (i, j) reads input pixel (i + dy, j + dx); indices outside the image land on
    # the one-pixel zero border added by the padding.
    rows = tf.clip_by_value(tf.range(height)[None, :] + shift_y + 1, 0, height + 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] + shift_x + 1, 0, width + 1)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def rand_cutout(x: Any, seed: Any = None, ratio: float = 0.5) -> Any:
    """Zero a square of ``ratio`` times the image size at a random centre of each image."""
    height, width = int(x.shape[1]), int(x.shape[2])
    batch = tf.shape(x)[0]
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    # centres as in the reference implementation (a square may stick out of the image)
    centre_y = keras.random.randint((batch, 1), 0, height + (1 - cut_h % 2), dtype="int32", seed=seed)
    centre_x = keras.random.randint((batch, 1), 0, width + (1 - cut_w % 2), dtype="int32", seed=seed)
    top, left = centre_y - cut_h // 2, centre_x - cut_w // 2
    rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
    in_rows = (rows >= top) & (rows < top + cut_h)  # (B, H)
    in_cols = (cols >= left) & (cols < left + cut_w)  # (B, W)
    inside = tf.logical_and(in_rows[:, :, None], in_cols[:, None, :])
    return x * tf.cast(tf.logical_not(inside), x.dtype)[..., None]


_FUNCTIONS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: Any, policy: str | Sequence[str] | None, seed: Any = None) -> Any:
    """Apply the DiffAugment ``policy`` to a batch ``x`` (B, H, W, C); an empty policy returns ``x`` itself.

    ``seed``: a ``keras.random.SeedGenerator`` (new draws each call), an int (the same int, the same
    transformations) or None.
    """
    names = parse_policy(policy)
    if names and isinstance(seed, int):
        seed = keras.random.SeedGenerator(seed)
    for name in names:
        for fn in _FUNCTIONS[name]:
            x = fn(x, seed)
    return x
