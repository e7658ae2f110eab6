"""How good are the GAN's fakes? Distances, coverage, copying, collapse and reclassification.

ImageNet Inception features need a download and describe photos, not radiographs, so the series
measures fakes in the feature space of a small CNN trained on the *real training images* with
their labels (:func:`train_domain_encoder`): it works offline and its features are the ones a
chest X-ray classifier cares about.

Every number comes with a real-vs-real reference **at the same sample size** (FD and k-NN
metrics depend on it): the real training minority images are split into two seeded halves A and
B, ``n`` = min(|A|, |B|, number of fakes), and the fakes (a seeded subsample of ``n``) are
compared with ``n`` images of A exactly as ``n`` images of B are. Against the test minority
images, ``n_test`` = min(n, test images) fakes and B images are compared with the same ``n_test``
test images (train and test NORMAL images are far apart, so "FD(fakes, test) is small" only means
something next to FD(real train, real test)).

Metrics (features: one row per image):

* Fréchet distance (Heusel et al. 2017): ``||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^½)``.
  Biased by sample size, hence the ratio to the equal-size real-vs-real value (1 = as close to
  the real images as other real images are).
* KID (Bińkowski et al. 2018): unbiased MMD² with the kernel ``k(x, y) = (x·y / d + 1)³``. About 0
  for two samples of one distribution (it can be negative), so no ratio: it is read in units of
  its own real-vs-real noise (:func:`kid_real_noise`), like a z-score.
* Classifier two-sample test (Lopez-Paz & Oquab 2017, :func:`two_sample_test`): ROC-AUC of a
  classifier trained to tell real from fake, on held-out images; 0.5 = indistinguishable.
* Precision / recall (Kynkäänniemi et al. 2019): share of fakes inside the real k-NN manifold /
  share of reals inside the fake k-NN manifold.
* Density / coverage (Naeem et al. 2020, :func:`density_coverage`): how many real k-NN balls hold
  each fake on average (over k) / share of real images whose ball holds at least one fake.
* Diversity: mean distance between random pairs (fakes vs reals; low = mode collapse).
* Collapse (:func:`collapse_check`): recall, coverage or diversity below fixed thresholds.
* Memorization: each fake's nearest training image, against the 1st percentile of real-to-real
  nearest-neighbour distances within train.
* Reclassification: share of fakes that a real-data classifier assigns to the minority class.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg
from sklearn.neighbors import NearestNeighbors

from helpers.data.images import BN_MOMENTUM, as_model_batch

__all__ = [
    "train_domain_encoder",
    "encoder_features",
    "encoder_scores",
    "frechet_distance",
    "kid",
    "kid_real_noise",
    "two_sample_test",
    "precision_recall",
    "density_coverage",
    "diversity",
    "memorization",
    "closest_pairs",
    "reclassification_share",
    "fidelity_report",
    "fidelity_report_from_features",
    "fidelity_rows",
    "collapse_check",
    "verdict_lines",
    "inception_kid",
    "RATIO_CLOSE",
    "RATIO_FAR",
    "KID_Z_NOISE",
    "C2ST_CLOSE",
    "C2ST_FAR",
    "DIVERSITY_LOW",
    "DIVERSITY_HIGH",
    "MEMORIZATION_WARN_SHARE",
    "RECALL_LOW_FRACTION",
    "COLLAPSE_RECALL",
    "COLLAPSE_COVERAGE",
    "COLLAPSE_DIVERSITY",
    "DUPLICATE_FRACTION",
    "DUPLICATE_SHARE_COLLAPSED",
    "ABSOLUTE_COLLAPSE_DISTANCE",
    "MIN_N_VERDICT",
    "evaluation_size",
    "enough_samples",
    "too_few_words",
    "sample_size_key",
]

# ---------------------------------------------------------------------------------------------
# Thresholds used by verdict_lines and collapse_check (the sentences are generated from the
# numbers and these).
# ---------------------------------------------------------------------------------------------
#: FD ratio (fakes vs the equal-size real-vs-real distance) up to which fakes count as "close".
RATIO_CLOSE = 2.0
#: FD ratio above which fakes count as "far from real" (easy to tell apart in the feature space).
RATIO_FAR = 10.0
#: KID in units of its real-vs-real SD up to which the fakes are within sampling noise of real.
KID_Z_NOISE = 3.0
#: Classifier two-sample test ROC-AUC up to which fakes count as hard to tell from real ...
C2ST_CLOSE = 0.75
#: ... and above which they are trivially separable.
C2ST_FAR = 0.95
#: diversity(fakes) / diversity(reals) below this suggests mode collapse ...
DIVERSITY_LOW = 0.8
#: ... and above this more spread than real images (noise, artefacts).
DIVERSITY_HIGH = 1.25
#: Share of fakes closer to a training image than the real-to-real percentile that calls for a look.
MEMORIZATION_WARN_SHARE = 0.01
#: Recall below this fraction of the real-vs-real reference recall reads as missing modes.
RECALL_LOW_FRACTION = 0.5
#: collapse_check: k-NN recall (k=3) below this = the fakes cover under a fifth of the real images.
#: Two equal halves of real images score about 0.7-0.9; a generator stuck on a few modes about 0.
COLLAPSE_RECALL = 0.2
#: collapse_check: coverage (k=5) below this = under a fifth of the real k-NN balls hold a fake.
#: Identical distributions give about 1 - 2^-5 = 0.97 at equal sizes (Naeem et al. 2020).
COLLAPSE_COVERAGE = 0.2
#: collapse_check: diversity(fakes) / diversity(reals) below this = fakes spread half as much as real
#: images (stricter than DIVERSITY_LOW, which only asks for a look).
COLLAPSE_DIVERSITY = 0.5
#: Pixel-level collapse check on a generator's samples (chapter 2): a pair of fakes closer than this
#: fraction of the real images' mean pair distance is a near-duplicate ...
DUPLICATE_FRACTION = 0.1
#: ... and a share of fakes with a near-duplicate among the other fakes above this reads as collapsed.
DUPLICATE_SHARE_COLLAPSED = 0.5
#: Without real images: mean pair distance (RMS, pixels in [0, 1]) below this reads as collapsed.
ABSOLUTE_COLLAPSE_DISTANCE = 0.02
#: Fewest images per set (fakes, real half A, real half B) at which a reading of "no difference"
#: (KID within noise, FD ratio close to 1, two-sample AUC near 0.5, no collapse) counts as evidence.
#: Below it these readings are reported as undecided; readings of a difference still count.
#: Measured with ``tools/fidelity_sample_size.py`` on real PneumoniaMNIST NORMAL images, 3
#: repetitions per n: "fakes" that repeat 5 real images pass collapse_check in 1 of 3 repetitions
#: at n = 15 and 30 and fail it in all from n = 60; KID flags them in 0-2 of 3 up to n = 120 and
#: in 3 of 3 at 240; other real images are never flagged (docs/instructors.md, "How many fakes
#: chapter 3 needs"). 120 is twice what the collapse check needed.
MIN_N_VERDICT = 120


def evaluation_size(n_train_minority: int) -> int:
    """How many fakes chapter 3 evaluates per generator and seed: as many as real training minority images.

    Every comparison then runs at the largest n the real images allow (half of them per set in
    the train comparisons, all of them in the two-sample tests); more fakes would not raise it.
    The size does not depend on how many fakes the oversampling needs.
    """
    n = int(n_train_minority)
    if n < 2:
        raise ValueError(f"need at least 2 real training minority images, got {n}")
    return n


def enough_samples(report: dict[str, float]) -> bool:
    """Whether ``report``'s train comparisons used at least :data:`MIN_N_VERDICT` images per set.

    A report without ``n_per_set`` (a hand-made dict) counts as enough.
    """
    n = report.get("n_per_set")
    return n is None or not np.isfinite(n) or n >= MIN_N_VERDICT


# ---------------------------------------------------------------------------------------------
# Domain encoder
# ---------------------------------------------------------------------------------------------
def train_domain_encoder(
    images_uint8: Any,
    labels: Any,
    *,
    seed: int = 0,
    epochs: int = 5,
    batch_size: int = 64,
    feature_dim: int = 128,
    validation_data: tuple[Any, Any] | None = None,
    filters: Sequence[int] = (32, 64, 128),
    learning_rate: float = 1e-3,
    verbose: int = 0,
):
    """Train a small CNN on real labelled images; its ``"features"`` layer is the domain space.

    Architecture: ``Rescaling(1/255)`` -> [Conv3x3-BN-ReLU-MaxPool] per entry of ``filters``
    (fewer blocks for tiny images) -> GlobalAveragePooling -> ``Dense(feature_dim, relu,
    name="features")`` -> ``Dense(1, sigmoid, name="score")`` = P(class 1). Seeded with
    :func:`helpers.core.runtime.set_seeds` (deterministic kernels). Returns the trained ``keras.Model``.
    """
    import keras

    from helpers.core.runtime import set_seeds

    x = as_model_batch(images_uint8)
    y = np.asarray(labels).astype("float32").ravel()
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    set_seeds(seed)
    h, w = x.shape[1:3]
    inputs = keras.Input(shape=(h, w, 1), name="image")
    z = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    size = min(h, w)
    for i, f in enumerate(filters):
        z = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(z)
        z = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i + 1}")(z)
        z = keras.layers.ReLU(name=f"relu{i + 1}")(z)
        if size >= 4:
            z = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(z)
            size //= 2
    z = keras.layers.GlobalAveragePooling2D(name="gap")(z)
    z = keras.layers.Dense(feature_dim, activation="relu", name="features")(z)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(z)
    model = keras.Model(inputs, outputs, name="domain_encoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    val = None
    if validation_data is not None:
        val = (
            as_model_batch(validation_data[0]),
            np.asarray(validation_data[1]).astype("float32").ravel(),
        )
    model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        validation_data=val,
        verbose=verbose,
    )
    return model


def encoder_features(model, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """Activations of the encoder's ``"features"`` layer, shape (N, feature_dim), float64."""
    import keras

    feature_model = keras.Model(model.inputs, model.get_layer("features").output)
    x = as_model_batch(images_uint8)
    return np.asarray(feature_model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def encoder_scores(model, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """The encoder's P(class 1) for each image, shape (N,)."""
    x = as_model_batch(images_uint8)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64).ravel()


# ---------------------------------------------------------------------------------------------
# Distribution distances
# ---------------------------------------------------------------------------------------------
def _feats(a: Any) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    return x.reshape(len(x), -1)


def frechet_distance(feats_a: Any, feats_b: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples).

    ``sqrtm(S_a S_b)`` is recomputed with ``eps * I`` added to both covariances when it is not
    finite (singular covariances, e.g. fewer samples than dimensions); the real part is kept
    (imaginary parts are round-off); tiny negative results are clipped to 0.
    """
    a, b = _feats(feats_a), _feats(feats_b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two samples per set")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(len(s_a)) * eps
            covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    fd = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with the KID kernel (U-statistic within sets, all pairs across)."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid(
    feats_a: Any,
    feats_b: Any,
    *,
    n_subsets: int = 50,
    subset_size: int | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD² with ``k(x, y) = (x·y/d + 1)³`` (Bińkowski 2018).

    Averaged over ``n_subsets`` random subsets of ``subset_size`` samples drawn without
    replacement from each set (default ``min(1000, n_a, n_b)``). Returns (mean, SD over subsets).
    Unbiased: about 0 (can be slightly negative) for two samples of one distribution. When
    ``subset_size`` equals the size of a set, every subset of it is the whole set, so the SD only
    reflects the subsampling of the larger set (0 for two sets of that size): use
    :func:`kid_real_noise` for the sampling noise of KID itself.
    """
    a, b = _feats(feats_a), _feats(feats_b)
    m = min(1000, len(a), len(b)) if subset_size is None else int(subset_size)
    if m < 2 or m > min(len(a), len(b)):
        raise ValueError(f"subset_size must be in [2, {min(len(a), len(b))}], got {m}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        values[i] = _mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std(ddof=1)) if n_subsets > 1 else 0.0


def kid_real_noise(
    real_feats: Any, n: int, *, draws: int = 20, seed: int = 0
) -> tuple[float, float]:
    """Mean and SD of KID between two disjoint random size-``n`` subsets of the same real set.

    This is KID's distribution when the fakes are as good as real images ("fakes" = other real
    images), at the sample size ``n`` of the comparison: the mean is about 0 and the SD is the
    noise floor. KID(fakes, real) / SD is the report's ``kid_z_*`` (a z-score: values within
    about ±:data:`KID_Z_NOISE` are indistinguishable from real at this ``n``). Needs
    ``2 * n <= len(real_feats)``.
    """
    x = _feats(real_feats)
    n = int(n)
    if n < 2 or 2 * n > len(x):
        raise ValueError(f"need 2 <= n and 2n <= {len(x)} real samples, got n={n}")
    rng = np.random.default_rng(seed)
    values = np.empty(draws)
    for i in range(draws):
        perm = rng.permutation(len(x))
        values[i] = _mmd2_unbiased(x[perm[:n]], x[perm[n : 2 * n]])
    return float(values.mean()), float(values.std(ddof=1)) if draws > 1 else float("nan")


# ---------------------------------------------------------------------------------------------
# Classifier two-sample test
# ---------------------------------------------------------------------------------------------
def _c2st_cnn(height: int, width: int, learning_rate: float):
    """Small pixel CNN: [Conv3x3(f)-ReLU-MaxPool] while the map is larger than 8 px (at most 4
    blocks, f = 16, 32, 64, 64), Conv3x3(64)-ReLU, global average pooling, Dense(1, sigmoid)."""
    import keras

    inputs = keras.Input(shape=(height, width, 1), name="image")
    z = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    size, block = min(height, width), 0
    while size > 8 and block < 4:
        z = keras.layers.Conv2D(min(16 * 2**block, 64), 3, padding="same", activation="relu")(z)
        z = keras.layers.MaxPooling2D(2)(z)
        size //= 2
        block += 1
    z = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(z)
    z = keras.layers.GlobalAveragePooling2D()(z)
    outputs = keras.layers.Dense(1, activation="sigmoid")(z)
    model = keras.Model(inputs, outputs, name="c2st_cnn")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def two_sample_test(
    real: Any,
    fake: Any,
    *,
    seed: int = 0,
    method: str = "cnn",
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    max_per_set: int | None = None,
) -> dict[str, Any]:
    """Classifier two-sample test (C2ST): can a classifier trained on real vs fake tell them apart?

    ``n`` = min(len(real), len(fake), ``max_per_set``) images are drawn from each set (seeded);
    each is split into a fit half and a held-out half of equal sizes, a classifier learns
    real (0) vs fake (1) on the fit halves and is scored on the held-out halves. ``method="cnn"``:
    a small Keras CNN on uint8-scale images (see :func:`_c2st_cnn`; seeded with
    :func:`helpers.core.runtime.set_seeds`), the most telling check of the pixels;
    ``method="logistic"``: standardised logistic regression on feature rows (e.g. the domain
    encoder's features; flattened images also work).

    Returns ``auc`` (held-out ROC-AUC; 0.5 = indistinguishable, 1 = perfectly separable; it can
    fall below 0.5 by chance; threshold-free, unlike accuracy, whose 0.5 cut a briefly trained net
    can miss), ``null_sd`` (the SD of the AUC when the two sets come from one distribution,
    ``sqrt((2 m + 1) / (12 m²))`` for ``m`` held-out images per class: values within about
    0.5 ± 2 ``null_sd`` are chance), ``n_per_set``, ``n_fit`` and ``n_eval`` (per class),
    ``method``.
    """
    from sklearn.metrics import roc_auc_score

    if method == "cnn":
        x_real, x_fake = as_model_batch(real), as_model_batch(fake)
        if x_real.shape[1:] != x_fake.shape[1:]:
            raise ValueError(f"image shapes differ: {x_real.shape[1:]} vs {x_fake.shape[1:]}")
    elif method == "logistic":
        x_real, x_fake = _feats(real), _feats(fake)
        if x_real.shape[1] != x_fake.shape[1]:
            raise ValueError(f"feature dimensions differ: {x_real.shape[1]} vs {x_fake.shape[1]}")
    else:
        raise ValueError(f"method must be 'cnn' or 'logistic', not {method!r}")
    n = min(len(x_real), len(x_fake))
    if max_per_set is not None:
        n = min(n, int(max_per_set))
    if n < 4:
        raise ValueError(f"the two-sample test needs at least 4 images per set, got {n}")
    rng = np.random.default_rng(seed)
    idx_real = rng.permutation(len(x_real))[:n]
    idx_fake = rng.permutation(len(x_fake))[:n]
    n_fit = n // 2
    n_eval = n - n_fit
    x_fit = np.concatenate([x_real[idx_real[:n_fit]], x_fake[idx_fake[:n_fit]]])
    x_eval = np.concatenate([x_real[idx_real[n_fit:]], x_fake[idx_fake[n_fit:]]])
    y_fit = np.repeat([0.0, 1.0], n_fit).astype("float32")
    y_eval = np.repeat([0, 1], n_eval)
    if method == "cnn":
        from helpers.core.runtime import set_seeds

        set_seeds(seed)
        model = _c2st_cnn(x_fit.shape[1], x_fit.shape[2], learning_rate)
        model.fit(x_fit, y_fit, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
        scores = np.asarray(model.predict(x_eval, batch_size=256, verbose=0), dtype=float).ravel()
    else:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        clf.fit(x_fit, y_fit.astype(int))
        scores = clf.predict_proba(x_eval)[:, 1]
    return {
        "auc": float(roc_auc_score(y_eval, scores)),
        "null_sd": float(math.sqrt((2 * n_eval + 1) / (12.0 * n_eval**2))),
        "n_per_set": int(n),
        "n_fit": int(n_fit),
        "n_eval": int(n_eval),
        "method": method,
    }


# ---------------------------------------------------------------------------------------------
# Coverage, diversity, copying, reclassification
# ---------------------------------------------------------------------------------------------
def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its k-th nearest neighbour in ``x``, excluding itself."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(x)}")
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def _inside_manifold(
    query: np.ndarray, ref: np.ndarray, radii: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """For each query row: is it within ``radii[j]`` of some ``ref[j]``?"""
    from scipy.spatial.distance import cdist

    inside = np.zeros(len(query), dtype=bool)
    for start in range(0, len(query), chunk):
        d = cdist(query[start : start + chunk], ref)
        inside[start : start + chunk] = (d <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(real_feats: Any, fake_feats: Any, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Each sample's ball has the radius of its k-th nearest neighbour in its own set (excluding
    itself). Precision = share of fakes inside some real ball (realism); recall = share of reals
    inside some fake ball (coverage). Both depend on sample sizes and ``k``: compare with a
    real-vs-real reference of similar sizes.
    """
    real, fake = _feats(real_feats), _feats(fake_feats)
    precision = float(_inside_manifold(fake, real, _knn_radii(real, k)).mean())
    recall = float(_inside_manifold(real, fake, _knn_radii(fake, k)).mean())
    return precision, recall


def density_coverage(real_feats: Any, fake_feats: Any, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), built on the real k-NN balls only.

    Each real sample's ball has the radius of its k-th nearest real neighbour (excluding itself).
    Density = (1 / (k M)) Σ_fakes (number of real balls holding the fake): about 1 when fakes
    are distributed like reals, above 1 when they crowd into dense real regions, below 1 when
    they fall outside. Coverage = share of real samples whose ball holds at least one fake:
    about 1 - 2^-k (0.97 for k=5) for identical distributions at equal sizes, near 0 for a
    collapsed generator. Unlike recall, coverage does not trust the fakes' own (possibly
    inflated) neighbourhoods, so outliers among the fakes cannot raise it. A point on a ball's
    boundary counts as inside (as in :func:`precision_recall`).
    """
    from scipy.spatial.distance import cdist

    real, fake = _feats(real_feats), _feats(fake_feats)
    if len(fake) == 0:
        raise ValueError("density and coverage need at least one fake")
    radii = _knn_radii(real, k)
    held = 0
    covered = np.zeros(len(real), dtype=bool)
    for start in range(0, len(fake), 1024):
        inside = cdist(fake[start : start + 1024], real) <= radii[None, :]
        held += int(inside.sum())
        covered |= inside.any(axis=0)
    return float(held / (k * len(fake))), float(covered.mean())


def diversity(feats: Any, n_pairs: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance between ``n_pairs`` random pairs of distinct samples."""
    x = _feats(feats)
    if len(x) < 2:
        raise ValueError("diversity needs at least two samples")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), n_pairs)
    j = (i + rng.integers(1, len(x), n_pairs)) % len(x)  # j != i
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def memorization(fake: Any, train: Any, *, percentile: float = 1.0) -> dict[str, Any]:
    """Nearest training sample of every fake, judged against real-to-real distances.

    Works on features or raw pixels (images are flattened). The threshold is the ``percentile``-th
    percentile of each training sample's distance to its nearest *other* training sample; a fake
    at or below it is "closer to a training image than real images usually are to each other".
    Returns ``share`` (of fakes at or below the threshold), ``n_memorized``, ``threshold``,
    ``percentile``, ``nn_index`` / ``nn_distance`` (per fake), ``train_nn_distance`` (per train
    sample), ``n_fake``, ``n_train``.
    """
    f, t = _feats(fake), _feats(train)
    if len(t) < 2:
        raise ValueError("memorization needs at least two training samples")
    nn = NearestNeighbors(n_neighbors=2).fit(t)
    train_dist, _ = nn.kneighbors(t)
    train_nn = train_dist[:, 1]
    fake_dist, fake_idx = nn.kneighbors(f, n_neighbors=1)
    threshold = float(np.percentile(train_nn, percentile))
    close = fake_dist[:, 0] <= threshold
    return {
        "share": float(close.mean()) if len(f) else float("nan"),
        "n_memorized": int(close.sum()),
        "threshold": threshold,
        "percentile": float(percentile),
        "nn_index": fake_idx[:, 0],
        "nn_distance": fake_dist[:, 0],
        "train_nn_distance": train_nn,
        "n_fake": len(f),
        "n_train": len(t),
    }


def closest_pairs(result: dict[str, Any], k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(fake indices, train indices) of the ``k`` fakes closest to a training sample, closest first."""
    order = np.argsort(result["nn_distance"], kind="stable")[:k]
    return order, np.asarray(result["nn_index"])[order]


def reclassification_share(
    scores_of_fakes: Any, minority_class: int, threshold: float = 0.5
) -> float:
    """Share of fakes that a real-data classifier (scores = P(class 1)) puts in ``minority_class``."""
    s = np.asarray(scores_of_fakes, dtype=float).ravel()
    if len(s) == 0:
        return float("nan")
    called_positive = s >= threshold
    return float((called_positive if minority_class == 1 else ~called_positive).mean())


# ---------------------------------------------------------------------------------------------
# One report
# ---------------------------------------------------------------------------------------------
def _split_halves(n: int, seed: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n // 2], perm[n // 2 :]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 and np.isfinite(a) and np.isfinite(b) else float("nan")


def _equal_size_indices(
    n_fake: int,
    n_train: int,
    n_test: int | None,
    *,
    halves_seed: int | Sequence[int],
    seed: int | Sequence[int],
) -> dict[str, Any]:
    """Seeded index sets of equal size for every comparison of the report.

    Train is split into halves A and B with ``halves_seed``; ``n`` = min(|A|, |B|, n_fake);
    ``ref`` = n images of A (what fakes and B are both compared with), ``real`` = n images of B,
    ``fake`` = a random n of the fakes (``seed``). With test images: ``n_test`` = min(n, n_test)
    and ``test`` = a random n_test of them; the test comparisons use the first n_test of
    ``fake`` and ``real``.
    """
    half_a, half_b = _split_halves(n_train, halves_seed)
    n = min(len(half_a), len(half_b), n_fake)
    out: dict[str, Any] = {
        "n": n,
        "ref": half_a[:n],
        "real": half_b[:n],
        "fake": np.random.default_rng(seed).permutation(n_fake)[:n],
    }
    if n_test is not None:
        out["n_test"] = min(n, n_test)
        test_seed = [*np.atleast_1d(seed), 1]  # independent of the fake subsample
        out["test"] = np.random.default_rng(test_seed).permutation(n_test)[: out["n_test"]]
    return out


def fidelity_report_from_features(
    fake_feats: Any,
    train_feats: Any,
    test_feats: Any = None,
    *,
    fake_scores: Any = None,
    test_scores: Any = None,
    minority_class: int = 0,
    halves_seed: int = 0,
    k: int = 3,
    density_k: int = 5,
    kid_noise_draws: int = 20,
    fd_draws: int = 5,
    memorization_percentile: float = 1.0,
    c2st: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """The fidelity numbers from precomputed features of fakes, real train and real test minority.

    See :func:`fidelity_report` for the keys (all but the pixel ones). ``test_feats=None`` leaves
    out the test comparisons. ``fake_scores`` / ``test_scores`` (P(class 1) from a real-data
    classifier) add the reclassification shares. ``c2st`` adds the logistic-regression
    two-sample test on the features. ``kid_noise_draws``: pairs of real subsets behind
    ``kid_real_sd``; ``fd_draws``: seeded splits the FD pair is averaged over. Needs at least
    ``max(k, density_k) + 1`` fakes and twice that many real training images.
    """
    fake_all, train = _feats(fake_feats), _feats(train_feats)
    test = None if test_feats is None else _feats(test_feats)
    idx = _equal_size_indices(
        len(fake_all),
        len(train),
        None if test is None else len(test),
        halves_seed=halves_seed,
        seed=seed,
    )
    n = idx["n"]
    if n <= max(k, density_k):
        raise ValueError(
            f"{len(fake_all)} fakes and {len(train)} real training images give {n} per set; "
            f"the k-NN metrics need more than max(k, density_k) = {max(k, density_k)}"
        )
    fake, ref, real = fake_all[idx["fake"]], train[idx["ref"]], train[idx["real"]]
    r: dict[str, float] = {
        "n_fake": float(len(fake_all)),
        "n_real_train": float(len(train)),
        "n_real_test": float("nan") if test is None else float(len(test)),
        "n_per_set": float(n),
    }
    # KID, the unbiased headline, and its real-vs-real noise at this n.
    r["kid_fake_train"] = _mmd2_unbiased(fake, ref)
    r["kid_train_halves"] = _mmd2_unbiased(real, ref)
    r["kid_real_sd"] = kid_real_noise(train, n, draws=kid_noise_draws, seed=seed)[1]
    r["kid_z_train"] = _ratio(r["kid_fake_train"], r["kid_real_sd"])
    r["kid_z_train_halves"] = _ratio(r["kid_train_halves"], r["kid_real_sd"])
    # FD and its equal-size real-vs-real ratio, averaged over fd_draws seeded splits (the first
    # is the split above): one FD at a few hundred images per set varies by about 25%.
    fd_fake, fd_real = [], []
    for draw in range(max(1, fd_draws)):
        d = (
            idx
            if draw == 0
            else _equal_size_indices(
                len(fake_all), len(train), None, halves_seed=[halves_seed, draw], seed=[seed, draw]
            )
        )
        fd_fake.append(frechet_distance(fake_all[d["fake"]], train[d["ref"]]))
        fd_real.append(frechet_distance(train[d["real"]], train[d["ref"]]))
    r["fd_fake_train"] = float(np.mean(fd_fake))
    r["fd_train_halves"] = float(np.mean(fd_real))
    r["fd_train_halves_sd"] = float(np.std(fd_real, ddof=1)) if len(fd_real) > 1 else float("nan")
    r["fd_draws"] = float(len(fd_real))
    r["relative_fd_train"] = _ratio(r["fd_fake_train"], r["fd_train_halves"])
    if test is not None:
        m = idx["n_test"]
        test_m = test[idx["test"]]
        r["n_per_set_test"] = float(m)
        r["fd_fake_test"] = frechet_distance(fake[:m], test_m)
        r["fd_train_test"] = frechet_distance(real[:m], test_m)
        r["relative_fd_test"] = _ratio(r["fd_fake_test"], r["fd_train_test"])
        r["kid_fake_test"] = _mmd2_unbiased(fake[:m], test_m)
        r["kid_train_test"] = _mmd2_unbiased(real[:m], test_m)
    if c2st:
        res = two_sample_test(train, fake_all, seed=seed, method="logistic")
        r["c2st_auc_features"] = res["auc"]
        r["c2st_null_sd_features"] = res["null_sd"]
        r["n_per_set_c2st"] = float(res["n_per_set"])
    # k-NN metrics: fakes judged against half A exactly as half B is.
    r["precision"], r["recall"] = precision_recall(ref, fake, k=k)
    r["precision_ref_halves"], r["recall_ref_halves"] = precision_recall(ref, real, k=k)
    r["density"], r["coverage"] = density_coverage(ref, fake, k=density_k)
    r["density_ref_halves"], r["coverage_ref_halves"] = density_coverage(ref, real, k=density_k)
    r["diversity_fake"] = diversity(fake, seed=seed)
    r["diversity_real"] = diversity(real, seed=seed)
    r["diversity_ratio"] = _ratio(r["diversity_fake"], r["diversity_real"])
    # Copying and reclassification use every fake and every training image.
    mem = memorization(fake_all, train, percentile=memorization_percentile)
    r["memorization_share_features"] = mem["share"]
    r["memorization_threshold_features"] = mem["threshold"]
    r["memorization_percentile"] = float(memorization_percentile)
    r["minority_class"] = float(minority_class)
    r["reclassification_share"] = (
        reclassification_share(fake_scores, minority_class)
        if fake_scores is not None
        else float("nan")
    )
    r["reclassification_share_real_test"] = (
        reclassification_share(test_scores, minority_class)
        if test_scores is not None
        else float("nan")
    )
    r["k"] = float(k)
    r["density_k"] = float(density_k)
    r["collapsed"] = float(collapse_check(r)["collapsed"])
    return r


def fidelity_report(
    encoder,
    fakes: Any,
    train_minority: Any,
    test_minority: Any = None,
    *,
    minority_class: int = 0,
    halves_seed: int = 0,
    k: int = 3,
    density_k: int = 5,
    kid_noise_draws: int = 20,
    fd_draws: int = 5,
    memorization_percentile: float = 1.0,
    pixel_memorization: bool = True,
    c2st: bool = True,
    c2st_epochs: int = 10,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """All fidelity numbers for uint8 fakes vs real minority images, as one flat dict of floats.

    ``encoder`` is a model from :func:`train_domain_encoder`; every metric but the pixel ones is
    computed in its feature space. Sample sizes (see the module docstring): ``n_fake``,
    ``n_real_train``, ``n_real_test`` (all given); ``n_per_set`` (images per set in every train
    comparison: min of the two train halves and the fakes), ``n_per_set_test`` (the same for
    the test comparisons), ``n_per_set_c2st`` / ``n_per_set_c2st_pixels`` (per class in the
    two-sample tests on features / pixels).

    * KID (headline, unbiased): ``kid_fake_train`` = KID(fakes, half A) and its reference
      ``kid_train_halves`` = KID(half B, half A); ``kid_real_sd`` = SD of KID between two
      disjoint size-n real subsets (:func:`kid_real_noise`); ``kid_z_train`` =
      ``kid_fake_train / kid_real_sd`` (KID in units of its real-vs-real noise; ``kid_z_train_halves``
      is the same for half B, a draw from that noise). KID is about 0 for real-vs-real and can
      be negative, so a ratio of two KIDs would be unstable; the z-score is its ratio form.
    * FD: ``fd_fake_train`` = FD(fakes, half A), ``fd_train_halves`` = FD(half B, half A),
      each the mean over ``fd_draws`` seeded splits and fake subsamples (``fd_train_halves_sd``:
      SD of the real-vs-real FD over them); ``relative_fd_train`` = their ratio (1 = as close as
      real images at this n).
    * Test (when given): ``fd_fake_test`` / ``fd_train_test`` (half B vs test),
      ``relative_fd_test``, ``kid_fake_test`` / ``kid_train_test``.
    * Two-sample tests (``c2st``): ``c2st_auc_pixels`` (small CNN on the images, real train
      minority vs fakes, ``c2st_epochs``) and ``c2st_auc_features`` (logistic regression on
      the encoder features), each with ``c2st_null_sd_*`` (chance spread around 0.5).
    * ``precision``, ``recall`` (k-NN, ``k``), ``density``, ``coverage`` (``density_k``), each
      with ``*_ref_halves`` (half B in place of the fakes); ``diversity_fake``,
      ``diversity_real`` (half B), ``diversity_ratio``; ``collapsed`` (1.0 / 0.0 from
      :func:`collapse_check`).
    * ``memorization_share_features`` / ``_pixels`` and their thresholds (every fake against
      every training image); ``reclassification_share`` (fakes called ``minority_class`` by the
      encoder) and ``reclassification_share_real_test``; ``mean_intensity_fake`` /
      ``mean_intensity_real`` (pixel means in [0, 1]).
    """
    fake_feats = encoder_features(encoder, fakes, batch_size)
    train_feats = encoder_features(encoder, train_minority, batch_size)
    test_feats = (
        None if test_minority is None else encoder_features(encoder, test_minority, batch_size)
    )
    report = fidelity_report_from_features(
        fake_feats,
        train_feats,
        test_feats,
        fake_scores=encoder_scores(encoder, fakes, batch_size),
        test_scores=None
        if test_minority is None
        else encoder_scores(encoder, test_minority, batch_size),
        minority_class=minority_class,
        halves_seed=halves_seed,
        k=k,
        density_k=density_k,
        kid_noise_draws=kid_noise_draws,
        fd_draws=fd_draws,
        memorization_percentile=memorization_percentile,
        c2st=c2st,
        seed=seed,
    )
    fake_px, train_px = as_model_batch(fakes), as_model_batch(train_minority)
    if c2st:
        res = two_sample_test(train_px, fake_px, seed=seed, method="cnn", epochs=c2st_epochs)
        report["c2st_auc_pixels"] = res["auc"]
        report["c2st_null_sd_pixels"] = res["null_sd"]
        report["n_per_set_c2st_pixels"] = float(res["n_per_set"])
    if pixel_memorization:
        mem = memorization(fake_px, train_px, percentile=memorization_percentile)
        report["memorization_share_pixels"] = mem["share"]
        report["memorization_threshold_pixels"] = mem["threshold"]
    else:
        report["memorization_share_pixels"] = report["memorization_threshold_pixels"] = float("nan")
    report["mean_intensity_fake"] = float(fake_px.mean() / 255.0)
    report["mean_intensity_real"] = float(train_px.mean() / 255.0)
    return report


# (metric, reference: a report key, a number or None, note) for the long-format results file.
_ROW_SPECS: tuple[tuple[str, str | float | None, str], ...] = (
    (
        "collapsed",
        None,
        "1 = collapse_check flags mode collapse (recall, coverage or diversity too low)",
    ),
    ("n_per_set", None, "images per set in every train comparison (fakes, half A, half B; seeded)"),
    ("n_per_set_test", None, "images per set in the test comparisons (fakes, half B, test)"),
    (
        "kid_fake_train",
        "kid_train_halves",
        "headline: KID(fakes, train half A), unbiased; reference: KID(half B, half A) at the same n",
    ),
    (
        "kid_z_train",
        "kid_z_train_halves",
        "KID(fakes, half A) / SD of real-vs-real KID at this n; |z| <= 3 = within real-vs-real noise",
    ),
    ("kid_real_sd", None, "SD of KID between disjoint random real train subsets of size n"),
    (
        "fd_fake_train",
        "fd_train_halves",
        "FD(fakes, train half A); reference: FD(half B, half A) at the same n",
    ),
    ("fd_train_halves", None, "reference: FD between two halves of real train minority (n each)"),
    (
        "relative_fd_train",
        None,
        "FD(fakes, half A) / FD(half B, half A); 1 = as close as real images",
    ),
    (
        "c2st_auc_pixels",
        0.5,
        "classifier two-sample test: held-out ROC-AUC of a small CNN telling real train minority from fakes; 0.5 = indistinguishable",
    ),
    (
        "c2st_auc_features",
        0.5,
        "same with logistic regression on the encoder features",
    ),
    (
        "precision",
        "precision_ref_halves",
        "share of fakes inside the real (half A) k-NN manifold; reference: half B",
    ),
    (
        "recall",
        "recall_ref_halves",
        "share of real (half A) inside the fake k-NN manifold; reference: half B",
    ),
    (
        "density",
        "density_ref_halves",
        "real k-NN balls holding each fake, over k (Naeem 2020); reference: half B",
    ),
    (
        "coverage",
        "coverage_ref_halves",
        "share of real (half A) k-NN balls holding a fake (Naeem 2020); reference: half B",
    ),
    (
        "diversity_fake",
        "diversity_real",
        "mean distance of random pairs; reference: real train half B",
    ),
    (
        "diversity_ratio",
        None,
        "diversity(fakes) / diversity(real); < 1 = less varied (mode collapse)",
    ),
    (
        "fd_fake_test",
        "fd_train_test",
        "FD(fakes, real test minority); reference: FD(real train half B, real test), same n",
    ),
    (
        "fd_train_test",
        None,
        "reference: FD(real train half B, real test minority) - the train/test shift",
    ),
    (
        "relative_fd_test",
        None,
        "FD(fakes, test) / FD(train, test); < 1 can come from the train/test shift",
    ),
    (
        "kid_fake_test",
        "kid_train_test",
        "KID(fakes, real test); reference: KID(real train half B, real test), same n",
    ),
    (
        "memorization_share_features",
        None,
        "share of fakes closer to a train image than the percentile of real-to-real NN distances (features)",
    ),
    ("memorization_share_pixels", None, "same, in pixel space"),
    (
        "reclassification_share",
        "reclassification_share_real_test",
        "share of fakes the real-data encoder assigns to the minority class; reference: real test minority",
    ),
    (
        "mean_intensity_fake",
        "mean_intensity_real",
        "mean pixel value in [0, 1]; reference: real train minority",
    ),
    ("n_fake", "n_real_train", "number of fakes; reference: real train minority images"),
)


def sample_size_key(metric: str) -> str:
    """The report key holding the images per set behind ``metric`` (``n_per_set`` for most)."""
    if metric == "c2st_auc_pixels":
        return "n_per_set_c2st_pixels"
    if metric == "c2st_auc_features":
        return "n_per_set_c2st"
    if metric.endswith("_test"):
        return "n_per_set_test"
    if metric.startswith(("memorization", "reclassification", "mean_intensity")) or metric == "n_fake":
        return "n_fake"
    return "n_per_set"


def fidelity_rows(report: dict[str, float]) -> list[dict[str, Any]]:
    """Long-format rows ``{metric, value, reference, n, note}`` for the metrics present in ``report``.

    ``n`` is the number of images per set behind the value (:func:`sample_size_key`). The
    ``collapsed`` row's note lists :func:`collapse_check`'s reasons when it fires and says when n
    is too small to call the generator not collapsed.
    """
    rows = []
    for metric, ref, note in _ROW_SPECS:
        if metric not in report:
            continue
        if isinstance(ref, str):
            reference = report.get(ref, float("nan"))
        else:
            reference = float("nan") if ref is None else ref
        if metric == "collapsed":
            check = collapse_check(report)
            note = ("; ".join(check["reasons"]) if check["reasons"] else
                    note if check["decided"] else f"undecided: {too_few_words(report)}")
        rows.append(
            {
                "metric": metric,
                "value": float(report[metric]),
                "reference": float(reference),
                "n": float(report.get(sample_size_key(metric), float("nan"))),
                "note": note,
            }
        )
    return rows


def _ok(report: dict[str, float], *keys: str) -> bool:
    return all(
        key in report and report[key] is not None and np.isfinite(report[key]) for key in keys
    )


def collapse_check(report: dict[str, float]) -> dict[str, Any]:
    """Is the generator collapsed? Decided from coverage-type metrics only, never from losses.

    ``report`` is a :func:`fidelity_report` dict (any dict with some of ``recall``,
    ``coverage``, ``diversity_ratio``). A run is collapsed when any available one is below its
    threshold: ``recall`` < :data:`COLLAPSE_RECALL` (0.2), ``coverage`` <
    :data:`COLLAPSE_COVERAGE` (0.2) or ``diversity_ratio`` < :data:`COLLAPSE_DIVERSITY` (0.5).
    Recall and coverage catch a generator stuck on a few modes even when each mode is varied
    enough to keep the diversity ratio up; the diversity ratio catches a generator whose fakes
    are all alike. Real-vs-real halves score about 0.7-0.9 (recall), 0.97 (coverage) and 1.0
    (diversity), so the thresholds leave a wide margin for merely imperfect generators. Coverage
    also falls when varied fakes are shifted off the real images (PneumoniaMNIST NORMAL images
    brightened by 40 grey levels: coverage 0.18, recall 0.57, diversity ratio 1.09); the check
    still fails such a run, and its reason says that recall and diversity look normal.

    Returns ``collapsed`` (bool), ``reasons`` (one sentence per failed check), ``checked``
    (metric -> value of the checks that could run), ``thresholds``, ``decided`` and ``state``.
    A failed check is evidence at any sample size; passing them is evidence only with at least
    :data:`MIN_N_VERDICT` images per set (:func:`enough_samples`), so with fewer and no failed
    check ``decided`` is False and ``state`` is ``"undecided"`` (else ``"collapsed"`` or ``"not
    collapsed"``). With none of the three metrics present, ``collapsed`` is False, ``checked`` is
    empty and ``state`` is ``"not checked"``.
    """
    thresholds = {
        "recall": COLLAPSE_RECALL,
        "coverage": COLLAPSE_COVERAGE,
        "diversity_ratio": COLLAPSE_DIVERSITY,
    }
    meaning = {
        "recall": "the fakes' k-NN manifold covers {v:.0%} of the real images",
        "coverage": "{v:.0%} of the real images have a fake among their k nearest neighbours",
        "diversity_ratio": "the fakes are {v:.2f}× as spread out as real images",
    }
    reference = {"recall": "recall_ref_halves", "coverage": "coverage_ref_halves"}
    checked: dict[str, float] = {}
    reasons: list[str] = []
    for key, threshold in thresholds.items():
        if not _ok(report, key):
            continue
        v = float(report[key])
        checked[key] = v
        if v < threshold:
            reason = f"{key} {v:.2f} < {threshold:g}: {meaning[key].format(v=v)}"
            if key in reference and _ok(report, reference[key]):
                reason += f" (real half vs half: {report[reference[key]]:.2f})"
            reasons.append(reason)
    only_coverage = (
        len(reasons) == 1
        and reasons[0].startswith("coverage")
        and checked.get("recall", 0.0) >= COLLAPSE_RECALL
        and checked.get("diversity_ratio", 0.0) >= DIVERSITY_LOW
    )
    if only_coverage:
        reasons[0] += (
            "; recall and diversity look normal, so the fakes may be varied but shifted away from "
            "the real images rather than stuck on a few modes (see precision and the two-sample "
            "test) - either way they miss most of the real distribution"
        )
    decided = bool(reasons) or enough_samples(report)
    state = ("not checked" if not checked else "collapsed" if reasons else
             "not collapsed" if decided else "undecided")
    return {
        "collapsed": bool(reasons),
        "reasons": reasons,
        "checked": checked,
        "thresholds": thresholds,
        "decided": decided,
        "state": state,
    }


def too_few_words(report: dict[str, float]) -> str:
    """``"n = 15 images per set is too few to tell (the checks need n >= 60)"``."""
    return (f"n = {int(report['n_per_set'])} images per set is too few to tell (a difference the checks "
            f"can see needs n >= {MIN_N_VERDICT})")


def _ordinal(p: float) -> str:
    """1 -> '1st', 2.5 -> '2.5th'."""
    if float(p).is_integer():
        n = int(p)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    return f"{p:g}th"


def _closeness(ratio: float) -> str:
    if ratio <= RATIO_CLOSE:
        return f"close to the real-vs-real reference (ratio <= {RATIO_CLOSE:g})"
    if ratio <= RATIO_FAR:
        return f"clearly separable from real images in the encoder's feature space (ratio {RATIO_CLOSE:g}-{RATIO_FAR:g})"
    return f"far from real images (ratio > {RATIO_FAR:g}): a classifier can likely tell fakes from reals"


def _c2st_words(auc: float, null_sd: float) -> str:
    if np.isfinite(null_sd) and auc <= 0.5 + 2 * null_sd:
        return "indistinguishable from real (within chance)"
    if auc <= C2ST_CLOSE:
        return f"hard to tell from real (AUC <= {C2ST_CLOSE:g})"
    if auc <= C2ST_FAR:
        return f"separable from real (AUC {C2ST_CLOSE:g}-{C2ST_FAR:g})"
    return f"trivially separable from real (AUC > {C2ST_FAR:g})"


def verdict_lines(report: dict[str, float], class_name: str = "NORMAL") -> list[str]:
    """Plain-language sentences generated from a :func:`fidelity_report` (thresholds: module constants).

    The first line is :func:`collapse_check`'s verdict (when recall, coverage or diversity are in
    the report), then sample sizes, KID, FD, the two-sample tests, test-set distances, precision
    / recall, density / coverage, diversity, memorization, reclassification and brightness.
    """
    lines: list[str] = []
    c = class_name
    collapse = collapse_check(report)
    if collapse["checked"]:
        if collapse["collapsed"]:
            lines.append(
                "Mode collapse: " + "; ".join(collapse["reasons"]) + ". Whatever the losses say, "
                "this generator misses most of the real variety."
            )
        else:
            values = ", ".join(f"{k} {v:.2f}" for k, v in collapse["checked"].items())
            limits = ", ".join(f"{k} < {collapse['thresholds'][k]:g}" for k in collapse["checked"])
            if collapse["decided"]:
                lines.append(f"No collapse detected: {values} (collapse means {limits}).")
            else:
                lines.append(f"Collapse undecided: {values} pass the checks (collapse means {limits}), but "
                             f"{too_few_words(report)}.")
    if _ok(report, "n_per_set"):
        line = (
            f"Every train comparison uses n = {int(report['n_per_set'])} images per set: fakes "
            f"(drawn from {int(report.get('n_fake', report['n_per_set']))}), half A of the real "
            f"training {c} images as the reference and half B as the real-vs-real control"
        )
        if _ok(report, "n_per_set_test"):
            line += f"; test comparisons use {int(report['n_per_set_test'])} per set"
        lines.append(line + ".")
    enough = enough_samples(report)
    if _ok(report, "kid_fake_train", "kid_train_halves", "kid_z_train"):
        z = report["kid_z_train"]
        what = (
            f"beyond the real-vs-real noise (|z| > {KID_Z_NOISE:g})"
            if abs(z) > KID_Z_NOISE
            else "within the real-vs-real noise"
            if enough
            else f"within the real-vs-real noise, which is no evidence: {too_few_words(report)}"
        )
        lines.append(
            f"KID(fakes, real training {c}) = {report['kid_fake_train']:.3g} against "
            f"{report['kid_train_halves']:.3g} for two real halves; that is {z:.1f} SDs of the "
            f"real-vs-real KID at this n ({report.get('kid_real_sd', float('nan')):.2g}): {what}."
        )
    if _ok(report, "relative_fd_train", "fd_fake_train", "fd_train_halves"):
        r = report["relative_fd_train"]
        lines.append(
            f"The fakes are {r:.1f}× as far (FD) from real training {c} images as two halves of the "
            f"training set are from each other ({report['fd_fake_train']:.3g} vs "
            f"{report['fd_train_halves']:.3g}, same n): "
            + (_closeness(r) if enough or r > RATIO_CLOSE else f"no evidence either way, {too_few_words(report)}")
            + "."
        )
    for space, model, n_key in (
        ("pixels", "a small CNN on the pixels", "n_per_set_c2st_pixels"),
        ("features", "logistic regression on the encoder features", "n_per_set_c2st"),
    ):
        key, sd_key = f"c2st_auc_{space}", f"c2st_null_sd_{space}"
        if _ok(report, key):
            auc, sd = report[key], report.get(sd_key, float("nan"))
            n_c2st = report.get(n_key, float("nan"))
            words = _c2st_words(auc, sd)
            if auc <= C2ST_CLOSE and np.isfinite(n_c2st) and n_c2st < MIN_N_VERDICT:
                words = (f"no evidence either way: n = {int(n_c2st)} images per set is too few to tell "
                         f"(the test needs n >= {MIN_N_VERDICT})")
            size = f", n = {int(n_c2st)} per set" if np.isfinite(n_c2st) else ""
            lines.append(
                f"Two-sample test, {model}: ROC-AUC {auc:.2f} on held-out images telling fakes "
                f"from real training {c} images (0.5 = indistinguishable, chance ± {2 * sd:.2f}{size}): "
                f"{words}."
            )
    if _ok(report, "relative_fd_test", "fd_fake_test", "fd_train_test"):
        r = report["relative_fd_test"]
        line = (
            f"The fakes are {r:.1f}× as far from real test {c} images as real training {c} images are "
            f"({report['fd_fake_test']:.3g} vs {report['fd_train_test']:.3g})"
        )
        if r < 1:
            line += (
                "; below 1 does not mean better than real: train and test differ (a shifted test "
                "set), so read it together with the distance to train."
            )
        else:
            line += "."
        lines.append(line)
    if _ok(report, "kid_fake_test", "kid_train_test"):
        lines.append(
            f"KID(fakes, real test {c}) = {report['kid_fake_test']:.3g} (real train vs real test: "
            f"{report['kid_train_test']:.3g})."
        )
    if _ok(report, "precision", "recall"):
        k = int(report.get("k", 3))
        line = (
            f"Precision {report['precision']:.2f}: {report['precision']:.0%} of the fakes lie inside the "
            f"real training {c} manifold (k={k}); recall {report['recall']:.2f}: the fakes cover "
            f"{report['recall']:.0%} of the real images"
        )
        if _ok(report, "precision_ref_halves", "recall_ref_halves"):
            line += (
                f" (real half vs real half: {report['precision_ref_halves']:.2f} / "
                f"{report['recall_ref_halves']:.2f})"
            )
            if report["recall"] < RECALL_LOW_FRACTION * report["recall_ref_halves"]:
                line += f"; recall is below {RECALL_LOW_FRACTION:.0%} of the real reference: parts of the real distribution are missing"
        lines.append(line + ".")
    if _ok(report, "density", "coverage"):
        k = int(report.get("density_k", 5))
        line = (
            f"Density {report['density']:.2f} (1 = fakes crowd the real k-NN balls as real images do, "
            f"k={k}); coverage {report['coverage']:.2f}: {report['coverage']:.0%} of the real images "
            f"have a fake among their neighbours"
        )
        if _ok(report, "density_ref_halves", "coverage_ref_halves"):
            line += (
                f" (real half vs real half: {report['density_ref_halves']:.2f} / "
                f"{report['coverage_ref_halves']:.2f})"
            )
        lines.append(line + ".")
    if _ok(report, "diversity_ratio"):
        ratio = report["diversity_ratio"]
        if ratio < DIVERSITY_LOW:
            what = (
                f"less varied than real images (below {DIVERSITY_LOW:g}): a sign of mode collapse"
            )
        elif ratio > DIVERSITY_HIGH:
            what = f"more spread than real images (above {DIVERSITY_HIGH:g}): noise or artefacts?"
        elif enough:
            what = "about as varied as real images"
        else:
            what = f"no evidence either way, {too_few_words(report)}"
        lines.append(
            f"Diversity of the fakes is {ratio:.2f}× that of real training {c} images: {what}."
        )
    for space in ("pixels", "features"):
        key = f"memorization_share_{space}"
        if _ok(report, key, "n_fake"):
            share, n = report[key], int(report["n_fake"])
            pct = report.get("memorization_percentile", 1.0)
            line = (
                f"In {space}, {round(share * n)} of {n} fakes ({share:.1%}) are closer to a training "
                f"image than the {_ordinal(pct)} percentile of real-to-real nearest-neighbour distances"
            )
            line += (
                f" - above {MEMORIZATION_WARN_SHARE:.0%}: look at the closest pairs for copies."
                if share > MEMORIZATION_WARN_SHARE
                else ": no sign of copying."
            )
            lines.append(line)
    if _ok(report, "reclassification_share"):
        line = f"The real-data encoder assigns {report['reclassification_share']:.0%} of the fakes to {c}"
        if _ok(report, "reclassification_share_real_test"):
            line += f" (real test {c} images: {report['reclassification_share_real_test']:.0%})"
        lines.append(line + ".")
    if _ok(report, "mean_intensity_fake", "mean_intensity_real"):
        f, r = report["mean_intensity_fake"], report["mean_intensity_real"]
        word = "brighter" if f > r else "darker" if f < r else "as bright"
        lines.append(
            f"Fakes are {word} than real training {c} images on average (mean {f:.3f} vs {r:.3f} in [0, 1])."
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Optional: ImageNet Inception KID (needs the weights download)
# ---------------------------------------------------------------------------------------------
def inception_kid(
    fakes_uint8: Any,
    reals_uint8: Any,
    *,
    image_size: int = 299,
    batch_size: int = 64,
    n_subsets: int = 50,
    seed: int = 0,
) -> tuple[tuple[float, float] | None, str]:
    """KID in InceptionV3-ImageNet pool features, for comparison with the literature.

    Returns ``((mean, sd), "ok")``, or ``(None, reason)`` when the ImageNet weights cannot be
    loaded (offline, download blocked). Grayscale images are resized and repeated to 3 channels.
    """
    import keras

    try:
        model = keras.applications.InceptionV3(
            include_top=False,
            weights="imagenet",
            pooling="avg",
            input_shape=(image_size, image_size, 3),
        )
    except Exception as err:  # offline: URLError / OSError / ValueError wrapped by get_file
        return None, f"InceptionV3 ImageNet weights unavailable ({type(err).__name__}: {err})"

    import tensorflow as tf

    def features(images: Any) -> np.ndarray:
        x = as_model_batch(images)
        out = []
        for start in range(0, len(x), batch_size):
            batch = tf.image.resize(x[start : start + batch_size], (image_size, image_size))
            batch = tf.repeat(batch, 3, axis=-1)
            batch = keras.applications.inception_v3.preprocess_input(batch)
            out.append(np.asarray(model(batch, training=False)))
        return np.concatenate(out).astype(np.float64)

    mean, sd = kid(features(fakes_uint8), features(reals_uint8), n_subsets=n_subsets, seed=seed)
    if not math.isfinite(mean):
        return None, "KID is not finite"
    return (mean, sd), "ok"
