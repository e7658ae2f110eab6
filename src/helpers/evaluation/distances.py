"""Distances between two feature sets: Fréchet distance and KID (rows = samples).

* Fréchet distance (Heusel et al. 2017): ``||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^½)``;
  biased by sample size, so it is read as a ratio to an equal-size real-vs-real value.
* KID (Bińkowski et al. 2018): unbiased MMD² with ``k(x, y) = (x·y / d + 1)³``; about 0 for two
  samples of one distribution (it can be negative), read in units of its real-vs-real noise.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import linalg

from helpers.data.images import as_model_batch

__all__ = ["as_rows", "frechet_distance", "mmd2_unbiased", "kid", "kid_real_noise", "inception_kid"]


def as_rows(a: Any) -> np.ndarray:
    """``a`` as a float64 (N, features) array (images are flattened)."""
    x = np.asarray(a, dtype=np.float64)
    return x.reshape(len(x), -1)


def frechet_distance(feats_a: Any, feats_b: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    When ``sqrtm(S_a S_b)`` is not finite it is recomputed with ``eps * I`` added to both
    covariances; the real part is kept and a tiny negative result is clipped to 0.
    """
    a, b = as_rows(feats_a), as_rows(feats_b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two samples per set")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(s_a)) * eps
            covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    diff = a.mean(0) - b.mean(0)
    fd = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(np.real(covmean)))
    return max(fd, 0.0)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the KID kernel (U-statistic within sets, all pairs across)."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid(
    feats_a: Any, feats_b: Any, *, n_subsets: int = 50, subset_size: int | None = None, seed: int = 0
) -> tuple[float, float]:
    """KID: (mean, SD) of :func:`mmd2_unbiased` over ``n_subsets`` random subsets.

    Each subset draws ``subset_size`` samples (default ``min(1000, n_a, n_b)``) without replacement
    from each set. When ``subset_size`` is a set's size the SD only reflects the other set's
    subsampling: :func:`kid_real_noise` gives KID's own sampling noise.
    """
    a, b = as_rows(feats_a), as_rows(feats_b)
    m = min(1000, len(a), len(b)) if subset_size is None else int(subset_size)
    if m < 2 or m > min(len(a), len(b)):
        raise ValueError(f"subset_size must be in [2, {min(len(a), len(b))}], got {m}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std(ddof=1)) if n_subsets > 1 else 0.0


def kid_real_noise(real_feats: Any, n: int, *, draws: int = 20, seed: int = 0) -> tuple[float, float]:
    """Mean and SD of KID between two disjoint random size-``n`` subsets of one real set.

    KID's distribution when the "fakes" are other real images, at sample size ``n``: the SD is the
    noise floor that turns KID(fakes, real) into a z-score. Needs ``2 * n <= len(real_feats)``.
    """
    x = as_rows(real_feats)
    n = int(n)
    if n < 2 or 2 * n > len(x):
        raise ValueError(f"need 2 <= n and 2n <= {len(x)} real samples, got n={n}")
    rng = np.random.default_rng(seed)
    values = np.empty(draws)
    for i in range(draws):
        perm = rng.permutation(len(x))
        values[i] = mmd2_unbiased(x[perm[:n]], x[perm[n : 2 * n]])
    return float(values.mean()), float(values.std(ddof=1)) if draws > 1 else float("nan")


def inception_kid(fakes_uint8: Any, reals_uint8: Any, *, seed: int = 0) -> tuple[tuple[float, float] | None, str]:
    """KID in InceptionV3-ImageNet pool features, for comparison with the literature.

    Returns ``((mean, sd), "ok")``, or ``(None, reason)`` when the ImageNet weights cannot be
    loaded (offline). Grayscale images are resized and repeated to 3 channels.
    """
    import keras

    size, batch_size = 299, 64
    try:
        model = keras.applications.InceptionV3(
            include_top=False, weights="imagenet", pooling="avg", input_shape=(size, size, 3)
        )
    except Exception as err:  # offline: URLError / OSError / ValueError wrapped by get_file
        return None, f"InceptionV3 ImageNet weights unavailable ({type(err).__name__}: {err})"

    import tensorflow as tf

    def features(images: Any) -> np.ndarray:
        x = as_model_batch(images)
        out = []
        for start in range(0, len(x), batch_size):
            batch = tf.image.resize(x[start : start + batch_size], (size, size))
            batch = keras.applications.inception_v3.preprocess_input(tf.repeat(batch, 3, axis=-1))
            out.append(np.asarray(model(batch, training=False)))
        return np.concatenate(out).astype(np.float64)

    mean, sd = kid(features(fakes_uint8), features(reals_uint8), seed=seed)
    if not math.isfinite(mean):
        return None, "KID is not finite"
    return (mean, sd), "ok"
