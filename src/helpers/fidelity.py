"""How good are the GAN's fakes? Distances, coverage, copying and reclassification in a domain space.

ImageNet Inception features need a download and describe photos, not radiographs, so the series
measures fakes in the feature space of a small CNN trained on the *real training images* with
their labels (:func:`train_domain_encoder`): it works offline and its features are the ones a
chest X-ray classifier cares about.

Every distance comes with a real-vs-real reference (FINDINGS pitfall 3): train and test NORMAL
images are far apart in that space, so "FD(fakes, test) is small" means little unless it is read
against FD(real train, real test), and "FD(fakes, train)" against two halves of train.

Metrics (features: one row per image):

* Fréchet distance (Heusel et al. 2017): ``||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^½)``.
* KID (Bińkowski et al. 2018): unbiased MMD² with the kernel ``k(x, y) = (x·y / d + 1)³``,
  averaged over random subsets (mean and SD).
* Precision / recall (Kynkäänniemi et al. 2019): share of fakes inside the real k-NN manifold /
  share of reals inside the fake k-NN manifold.
* Diversity: mean distance between random pairs (fakes vs reals; low = mode collapse).
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

from helpers.images import BN_MOMENTUM, as_model_batch

__all__ = [
    "train_domain_encoder",
    "encoder_features",
    "encoder_scores",
    "frechet_distance",
    "kid",
    "precision_recall",
    "diversity",
    "memorization",
    "closest_pairs",
    "reclassification_share",
    "fidelity_report",
    "fidelity_report_from_features",
    "fidelity_rows",
    "verdict_lines",
    "inception_kid",
    "RATIO_CLOSE",
    "RATIO_FAR",
    "DIVERSITY_LOW",
    "DIVERSITY_HIGH",
    "MEMORIZATION_WARN_SHARE",
    "RECALL_LOW_FRACTION",
]

# ---------------------------------------------------------------------------------------------
# Thresholds used by verdict_lines (the sentences are generated from the numbers and these).
# ---------------------------------------------------------------------------------------------
#: FD ratio (fakes vs reference real-vs-real distance) up to which fakes count as "close to real".
RATIO_CLOSE = 2.0
#: FD ratio above which fakes count as "far from real" (easy to tell apart in the feature space).
RATIO_FAR = 10.0
#: diversity(fakes) / diversity(reals) below this suggests mode collapse ...
DIVERSITY_LOW = 0.8
#: ... and above this more spread than real images (noise, artefacts).
DIVERSITY_HIGH = 1.25
#: Share of fakes closer to a training image than the real-to-real percentile that calls for a look.
MEMORIZATION_WARN_SHARE = 0.01
#: Recall below this fraction of the real-vs-real reference recall reads as missing modes.
RECALL_LOW_FRACTION = 0.5


# ---------------------------------------------------------------------------------------------
# Domain encoder
# ---------------------------------------------------------------------------------------------
def _as_images(images: Any) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) uint8-scale images -> float32 (N, H, W, 1) in 0..255."""
    return as_model_batch(images)


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
    :func:`helpers.runtime.set_seeds` (deterministic kernels). Returns the trained ``keras.Model``.
    """
    import keras

    from helpers.runtime import set_seeds

    x = _as_images(images_uint8)
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
            _as_images(validation_data[0]),
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
    x = _as_images(images_uint8)
    return np.asarray(feature_model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)


def encoder_scores(model, images_uint8: Any, batch_size: int = 256) -> np.ndarray:
    """The encoder's P(class 1) for each image, shape (N,)."""
    x = _as_images(images_uint8)
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
    Unbiased: about 0 (can be slightly negative) for two samples of one distribution.
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
        k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
        term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        term_yy = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values[i] = term_xx + term_yy - 2.0 * k_xy.mean()
    return float(values.mean()), float(values.std(ddof=1)) if n_subsets > 1 else 0.0


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
def _split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n // 2], perm[n // 2 :]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 and np.isfinite(a) and np.isfinite(b) else float("nan")


def fidelity_report_from_features(
    fake_feats: Any,
    train_feats: Any,
    test_feats: Any,
    *,
    fake_scores: Any = None,
    test_scores: Any = None,
    minority_class: int = 0,
    halves_seed: int = 0,
    k: int = 3,
    kid_subsets: int = 50,
    memorization_percentile: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """The fidelity numbers from precomputed features of fakes, real train and real test minority.

    See :func:`fidelity_report` for the keys. ``fake_scores`` / ``test_scores`` (P(class 1) from a
    real-data classifier) add the reclassification shares.
    """
    fake, train, test = _feats(fake_feats), _feats(train_feats), _feats(test_feats)
    half_a, half_b = _split_halves(len(train), halves_seed)
    r: dict[str, float] = {
        "n_fake": float(len(fake)),
        "n_real_train": float(len(train)),
        "n_real_test": float(len(test)),
    }
    r["fd_fake_train"] = frechet_distance(fake, train)
    r["fd_fake_test"] = frechet_distance(fake, test)
    r["fd_train_test"] = frechet_distance(train, test)
    r["fd_train_halves"] = frechet_distance(train[half_a], train[half_b])
    r["relative_fd_test"] = _ratio(r["fd_fake_test"], r["fd_train_test"])
    r["relative_fd_train"] = _ratio(r["fd_fake_train"], r["fd_train_halves"])
    for name, other in (("test", test), ("train", train)):
        mean, sd = kid(fake, other, n_subsets=kid_subsets, seed=seed)
        r[f"kid_fake_{name}"], r[f"kid_fake_{name}_sd"] = mean, sd
    r["kid_train_test"], r["kid_train_test_sd"] = kid(train, test, n_subsets=kid_subsets, seed=seed)
    r["kid_train_halves"], r["kid_train_halves_sd"] = kid(
        train[half_a], train[half_b], n_subsets=kid_subsets, seed=seed
    )
    r["precision"], r["recall"] = precision_recall(train, fake, k=k)
    # Reference: one half of the real training set judged against the other half (sizes differ
    # from the fake-vs-train comparison, so read it as a rough ceiling).
    r["precision_ref_halves"], r["recall_ref_halves"] = precision_recall(
        train[half_a], train[half_b], k=k
    )
    r["diversity_fake"] = diversity(fake, seed=seed)
    r["diversity_real"] = diversity(train, seed=seed)
    r["diversity_ratio"] = _ratio(r["diversity_fake"], r["diversity_real"])
    mem = memorization(fake, train, percentile=memorization_percentile)
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
    return r


def fidelity_report(
    encoder,
    fakes: Any,
    train_minority: Any,
    test_minority: Any,
    *,
    minority_class: int = 0,
    halves_seed: int = 0,
    k: int = 3,
    kid_subsets: int = 50,
    memorization_percentile: float = 1.0,
    pixel_memorization: bool = True,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """All fidelity numbers for uint8 fakes vs real minority images, as one flat dict of floats.

    ``encoder`` is a model from :func:`train_domain_encoder`. Keys:
    ``n_fake``, ``n_real_train``, ``n_real_test``; ``fd_fake_train``, ``fd_fake_test`` and the
    references ``fd_train_test`` and ``fd_train_halves`` (two random halves of train, split with
    ``halves_seed``); ``relative_fd_test`` = FD(fake, test) / FD(train, test) and
    ``relative_fd_train`` = FD(fake, train) / FD(half, half); ``kid_fake_test``, ``kid_fake_train``,
    ``kid_train_test``, ``kid_train_halves`` (each with ``_sd``); ``precision``, ``recall`` (fakes
    vs train, k-NN) and ``precision_ref_halves``, ``recall_ref_halves``; ``diversity_fake``,
    ``diversity_real``, ``diversity_ratio``; ``memorization_share_features`` / ``_pixels`` and
    their thresholds; ``reclassification_share`` (fakes called ``minority_class`` by the encoder)
    and ``reclassification_share_real_test`` (same for real test minority images);
    ``mean_intensity_fake`` / ``mean_intensity_real`` (pixel means in [0, 1]).
    """
    fake_feats = encoder_features(encoder, fakes, batch_size)
    train_feats = encoder_features(encoder, train_minority, batch_size)
    test_feats = encoder_features(encoder, test_minority, batch_size)
    report = fidelity_report_from_features(
        fake_feats,
        train_feats,
        test_feats,
        fake_scores=encoder_scores(encoder, fakes, batch_size),
        test_scores=encoder_scores(encoder, test_minority, batch_size),
        minority_class=minority_class,
        halves_seed=halves_seed,
        k=k,
        kid_subsets=kid_subsets,
        memorization_percentile=memorization_percentile,
        seed=seed,
    )
    fake_px, train_px = _as_images(fakes), _as_images(train_minority)
    if pixel_memorization:
        mem = memorization(fake_px, train_px, percentile=memorization_percentile)
        report["memorization_share_pixels"] = mem["share"]
        report["memorization_threshold_pixels"] = mem["threshold"]
    else:
        report["memorization_share_pixels"] = report["memorization_threshold_pixels"] = float("nan")
    report["mean_intensity_fake"] = float(fake_px.mean() / 255.0)
    report["mean_intensity_real"] = float(train_px.mean() / 255.0)
    return report


# (metric, reference key or None, note) for the long-format results file.
_ROW_SPECS: tuple[tuple[str, str | None, str], ...] = (
    (
        "fd_fake_train",
        "fd_train_halves",
        "FD(fakes, real train minority); reference: FD between two halves of real train",
    ),
    (
        "fd_fake_test",
        "fd_train_test",
        "FD(fakes, real test minority); reference: FD(real train, real test)",
    ),
    ("fd_train_test", None, "reference: FD(real train, real test minority) - the train/test shift"),
    ("fd_train_halves", None, "reference: FD between two random halves of real train minority"),
    ("relative_fd_train", None, "FD(fakes, train) / FD(half, half); 1 = as close as real images"),
    (
        "relative_fd_test",
        None,
        "FD(fakes, test) / FD(train, test); < 1 can come from the train/test shift",
    ),
    (
        "kid_fake_test",
        "kid_train_test",
        "KID(fakes, real test); reference: KID(real train, real test)",
    ),
    (
        "kid_fake_train",
        "kid_train_halves",
        "KID(fakes, real train); reference: KID between halves of train",
    ),
    (
        "precision",
        "precision_ref_halves",
        "share of fakes inside the real train k-NN manifold; reference: half vs half",
    ),
    (
        "recall",
        "recall_ref_halves",
        "share of real train inside the fake k-NN manifold; reference: half vs half",
    ),
    (
        "diversity_fake",
        "diversity_real",
        "mean distance of random pairs; reference: real train minority",
    ),
    (
        "diversity_ratio",
        None,
        "diversity(fakes) / diversity(real); < 1 = less varied (mode collapse)",
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


def fidelity_rows(report: dict[str, float]) -> list[dict[str, Any]]:
    """Long-format rows ``{metric, value, reference, note}`` for the metrics present in ``report``."""
    rows = []
    for metric, ref, note in _ROW_SPECS:
        if metric not in report:
            continue
        reference = report.get(ref, float("nan")) if ref is not None else float("nan")
        rows.append(
            {
                "metric": metric,
                "value": float(report[metric]),
                "reference": float(reference),
                "note": note,
            }
        )
    return rows


def _ok(report: dict[str, float], *keys: str) -> bool:
    return all(
        key in report and report[key] is not None and np.isfinite(report[key]) for key in keys
    )


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


def verdict_lines(report: dict[str, float], class_name: str = "NORMAL") -> list[str]:
    """Plain-language sentences generated from a :func:`fidelity_report` (thresholds: module constants)."""
    lines: list[str] = []
    c = class_name
    if _ok(report, "relative_fd_train", "fd_fake_train", "fd_train_halves"):
        r = report["relative_fd_train"]
        lines.append(
            f"The fakes are {r:.1f}× as far (FD) from real training {c} images as two halves of the "
            f"training set are from each other ({report['fd_fake_train']:.3g} vs "
            f"{report['fd_train_halves']:.3g}): {_closeness(r)}."
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
    if _ok(report, "kid_fake_test", "kid_fake_test_sd", "kid_train_test"):
        lines.append(
            f"KID(fakes, real test {c}) = {report['kid_fake_test']:.3g} ± {report['kid_fake_test_sd']:.2g} "
            f"(real train vs real test: {report['kid_train_test']:.3g}); KID(fakes, real train) = "
            f"{report.get('kid_fake_train', float('nan')):.3g} (two halves of train: "
            f"{report.get('kid_train_halves', float('nan')):.3g})."
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
    if _ok(report, "diversity_ratio"):
        ratio = report["diversity_ratio"]
        if ratio < DIVERSITY_LOW:
            what = (
                f"less varied than real images (below {DIVERSITY_LOW:g}): a sign of mode collapse"
            )
        elif ratio > DIVERSITY_HIGH:
            what = f"more spread than real images (above {DIVERSITY_HIGH:g}): noise or artefacts?"
        else:
            what = "about as varied as real images"
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
        x = _as_images(images)
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
