"""How good are the GAN's fakes? One report of distances, coverage, copying and reclassification.

The fakes are measured in the feature space of a small CNN trained on the real training images
(:mod:`helpers.evaluation.encoder`). Every number comes with a real-vs-real reference **at the same
sample size**: the real training minority images are split into two seeded halves A and B,
``n`` = min(|A|, |B|, number of fakes), and a seeded ``n`` of the fakes are compared with ``n``
images of A exactly as ``n`` images of B are. Against the test minority images, ``n_test`` =
min(n, test images) fakes and B images are compared with the same ``n_test`` test images.

This module also holds the thresholds that read the report, :func:`collapse_check` and the
sample-size rules; :mod:`helpers.evaluation.verdicts` words the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.data.images import as_model_batch
from helpers.evaluation.distances import as_rows, frechet_distance, kid_real_noise, mmd2_unbiased
from helpers.evaluation.encoder import encoder_features, encoder_scores, reclassification_share
from helpers.evaluation.manifold import density_coverage, diversity, memorization, precision_recall
from helpers.evaluation.two_sample import two_sample_test

__all__ = [
    "FidelitySettings", "fidelity_report", "fidelity_report_from_features", "collapse_check", "evaluation_size",
    "enough_samples", "RATIO_CLOSE", "RATIO_FAR", "KID_Z_NOISE", "C2ST_CLOSE", "C2ST_FAR", "DIVERSITY_LOW",
    "DIVERSITY_HIGH", "MEMORIZATION_WARN_SHARE", "RECALL_LOW_FRACTION", "COLLAPSE_RECALL", "COLLAPSE_COVERAGE",
    "COLLAPSE_DIVERSITY", "DUPLICATE_FRACTION", "DUPLICATE_SHARE_COLLAPSED", "ABSOLUTE_COLLAPSE_DISTANCE",
    "MIN_N_VERDICT",
]

#: FD ratio (fakes vs the equal-size real-vs-real distance) up to which fakes count as "close" ...
RATIO_CLOSE = 2.0
#: ... and above which they count as "far from real".
RATIO_FAR = 10.0
#: KID in units of its real-vs-real SD up to which the fakes are within sampling noise of real.
KID_Z_NOISE = 3.0
#: Two-sample test ROC-AUC up to which fakes count as hard to tell from real ...
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
#: collapse_check: k-NN recall (k=3) below this (real halves score about 0.7-0.9).
COLLAPSE_RECALL = 0.2
#: collapse_check: coverage (k=5) below this (identical distributions give about 0.97).
COLLAPSE_COVERAGE = 0.2
#: collapse_check: diversity(fakes) / diversity(reals) below this (stricter than DIVERSITY_LOW).
COLLAPSE_DIVERSITY = 0.5
#: Pixel-level check on a generator's samples (chapter 2): a pair of fakes closer than this
#: fraction of the real images' mean pair distance is a near-duplicate ...
DUPLICATE_FRACTION = 0.1
#: ... and a share of fakes with a near-duplicate above this reads as collapsed.
DUPLICATE_SHARE_COLLAPSED = 0.5
#: Without real images: mean pair distance (RMS, pixels in [0, 1]) below this reads as collapsed.
ABSOLUTE_COLLAPSE_DISTANCE = 0.02
#: Fewest images per set at which a reading of "no difference" counts as evidence (below it such
#: readings are undecided; a difference counts at any n). Measured with
#: ``tools/fidelity_sample_size.py`` (docs/instructors.md, "How many fakes chapter 3 needs").
MIN_N_VERDICT = 120


def evaluation_size(n_train_minority: int) -> int:
    """How many fakes chapter 3 evaluates per generator and seed: as many as real training minority images."""
    n = int(n_train_minority)
    if n < 2:
        raise ValueError(f"need at least 2 real training minority images, got {n}")
    return n


def enough_samples(report: dict[str, float]) -> bool:
    """Whether ``report``'s train comparisons used at least :data:`MIN_N_VERDICT` images per set
    (a report without ``n_per_set`` counts as enough)."""
    n = report.get("n_per_set")
    return n is None or not np.isfinite(n) or n >= MIN_N_VERDICT


def _ok(report: dict[str, float], *keys: str) -> bool:
    return all(key in report and report[key] is not None and np.isfinite(report[key]) for key in keys)


_COLLAPSE_THRESHOLDS = {"recall": COLLAPSE_RECALL, "coverage": COLLAPSE_COVERAGE, "diversity_ratio": COLLAPSE_DIVERSITY}
_COLLAPSE_MEANING = {
    "recall": "the fakes' k-NN manifold covers {v:.0%} of the real images",
    "coverage": "{v:.0%} of the real images have a fake among their k nearest neighbours",
    "diversity_ratio": "the fakes are {v:.2f}× as spread out as real images",
}
_COLLAPSE_REFERENCE = {"recall": "recall_ref_halves", "coverage": "coverage_ref_halves"}
_SHIFTED_NOTE = (
    "; recall and diversity look normal, so the fakes may be varied but shifted away from the real "
    "images rather than stuck on a few modes (see precision and the two-sample test) - either way "
    "they miss most of the real distribution"
)


def collapse_check(report: dict[str, float]) -> dict[str, Any]:
    """Is the generator collapsed? Decided from ``recall``, ``coverage`` and ``diversity_ratio``.

    Collapsed when any of them present is below its threshold (:data:`COLLAPSE_RECALL`,
    :data:`COLLAPSE_COVERAGE`, :data:`COLLAPSE_DIVERSITY`). Returns ``collapsed``, ``reasons`` (one
    sentence per failed check), ``checked`` (metric -> value), ``thresholds``, ``decided`` (a
    failure counts at any n, a pass only with :func:`enough_samples`) and ``state``
    (``"collapsed"``, ``"not collapsed"``, ``"undecided"`` or ``"not checked"``).
    """
    checked: dict[str, float] = {}
    reasons: list[str] = []
    for key, threshold in _COLLAPSE_THRESHOLDS.items():
        if not _ok(report, key):
            continue
        v = checked[key] = float(report[key])
        if v < threshold:
            reason = f"{key} {v:.2f} < {threshold:g}: {_COLLAPSE_MEANING[key].format(v=v)}"
            if key in _COLLAPSE_REFERENCE and _ok(report, _COLLAPSE_REFERENCE[key]):
                reason += f" (real half vs half: {report[_COLLAPSE_REFERENCE[key]]:.2f})"
            reasons.append(reason)
    if (len(reasons) == 1 and reasons[0].startswith("coverage") and checked.get("recall", 0.0) >= COLLAPSE_RECALL
            and checked.get("diversity_ratio", 0.0) >= DIVERSITY_LOW):
        reasons[0] += _SHIFTED_NOTE
    decided = bool(reasons) or enough_samples(report)
    state = ("not checked" if not checked else "collapsed" if reasons else
             "not collapsed" if decided else "undecided")
    return {"collapsed": bool(reasons), "reasons": reasons, "checked": checked,
            "thresholds": dict(_COLLAPSE_THRESHOLDS), "decided": decided, "state": state}


@dataclass(frozen=True)
class FidelitySettings:
    """Settings of :func:`fidelity_report` (the feature ones also of :func:`fidelity_report_from_features`).

    ``minority_class``: the class the fakes should be; ``halves_seed``: the split into halves A/B;
    ``k`` / ``density_k``: neighbours of precision/recall and density/coverage; ``kid_noise_draws``:
    real subset pairs behind ``kid_real_sd``; ``fd_draws``: seeded splits the FD pair is averaged
    over; ``memorization_percentile``; ``pixel_memorization``; ``c2st`` (two-sample tests) with
    ``c2st_epochs`` for the pixel CNN; ``seed``; ``batch_size`` of the encoder.
    """

    minority_class: int = 0
    halves_seed: int = 0
    k: int = 3
    density_k: int = 5
    kid_noise_draws: int = 20
    fd_draws: int = 5
    memorization_percentile: float = 1.0
    pixel_memorization: bool = True
    c2st: bool = True
    c2st_epochs: int = 10
    seed: int = 0
    batch_size: int = 256


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 and np.isfinite(a) and np.isfinite(b) else float("nan")


def _equal_size_indices(
    n_fake: int, n_train: int, n_test: int | None, *, halves_seed: int | Sequence[int], seed: int | Sequence[int]
) -> dict[str, Any]:
    """Seeded index sets: ``ref`` = n of half A, ``real`` = n of half B, ``fake`` = n fakes, and
    with test images ``test`` = n_test = min(n, n_test) of them."""
    perm = np.random.default_rng(halves_seed).permutation(n_train)
    half_a, half_b = perm[: n_train // 2], perm[n_train // 2 :]
    n = min(len(half_a), len(half_b), n_fake)
    out: dict[str, Any] = {
        "n": n, "ref": half_a[:n], "real": half_b[:n], "fake": np.random.default_rng(seed).permutation(n_fake)[:n]
    }
    if n_test is not None:
        out["n_test"] = min(n, n_test)
        test_seed = [*np.atleast_1d(seed), 1]  # independent of the fake subsample
        out["test"] = np.random.default_rng(test_seed).permutation(n_test)[: out["n_test"]]
    return out


def _kid_and_fd(fake_all: np.ndarray, train: np.ndarray, idx: dict[str, Any], s: FidelitySettings) -> dict[str, float]:
    """KID against half A with its real-vs-real noise; FD and its ratio, averaged over ``fd_draws`` splits."""
    fake, ref, real = fake_all[idx["fake"]], train[idx["ref"]], train[idx["real"]]
    r = {"kid_fake_train": mmd2_unbiased(fake, ref), "kid_train_halves": mmd2_unbiased(real, ref)}
    r["kid_real_sd"] = kid_real_noise(train, idx["n"], draws=s.kid_noise_draws, seed=s.seed)[1]
    r["kid_z_train"] = _ratio(r["kid_fake_train"], r["kid_real_sd"])
    r["kid_z_train_halves"] = _ratio(r["kid_train_halves"], r["kid_real_sd"])
    fd_fake, fd_real = [], []
    for draw in range(max(1, s.fd_draws)):
        d = idx if draw == 0 else _equal_size_indices(
            len(fake_all), len(train), None, halves_seed=[s.halves_seed, draw], seed=[s.seed, draw])
        fd_fake.append(frechet_distance(fake_all[d["fake"]], train[d["ref"]]))
        fd_real.append(frechet_distance(train[d["real"]], train[d["ref"]]))
    r["fd_fake_train"] = float(np.mean(fd_fake))
    r["fd_train_halves"] = float(np.mean(fd_real))
    r["fd_train_halves_sd"] = float(np.std(fd_real, ddof=1)) if len(fd_real) > 1 else float("nan")
    r["fd_draws"] = float(len(fd_real))
    r["relative_fd_train"] = _ratio(r["fd_fake_train"], r["fd_train_halves"])
    return r


def _test_distances(fake: np.ndarray, real: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """FD and KID of the fakes and of half B to the same test images (all of equal size)."""
    m = len(test)
    r = {"n_per_set_test": float(m), "fd_fake_test": frechet_distance(fake[:m], test),
         "fd_train_test": frechet_distance(real[:m], test)}
    r["relative_fd_test"] = _ratio(r["fd_fake_test"], r["fd_train_test"])
    r["kid_fake_test"] = mmd2_unbiased(fake[:m], test)
    r["kid_train_test"] = mmd2_unbiased(real[:m], test)
    return r


def _manifold(ref: np.ndarray, fake: np.ndarray, real: np.ndarray, s: FidelitySettings) -> dict[str, float]:
    """k-NN metrics and diversity: the fakes judged against half A exactly as half B is."""
    r: dict[str, float] = {}
    r["precision"], r["recall"] = precision_recall(ref, fake, k=s.k)
    r["precision_ref_halves"], r["recall_ref_halves"] = precision_recall(ref, real, k=s.k)
    r["density"], r["coverage"] = density_coverage(ref, fake, k=s.density_k)
    r["density_ref_halves"], r["coverage_ref_halves"] = density_coverage(ref, real, k=s.density_k)
    r["diversity_fake"] = diversity(fake, seed=s.seed)
    r["diversity_real"] = diversity(real, seed=s.seed)
    r["diversity_ratio"] = _ratio(r["diversity_fake"], r["diversity_real"])
    return r


def fidelity_report_from_features(
    fake_feats: Any,
    train_feats: Any,
    test_feats: Any = None,
    *,
    fake_scores: Any = None,
    test_scores: Any = None,
    settings: FidelitySettings = FidelitySettings(),
) -> dict[str, float]:
    """The fidelity numbers from features of fakes, real train and (optional) real test minority.

    See :func:`fidelity_report` for the keys (all but the pixel ones). ``fake_scores`` /
    ``test_scores`` (P(class 1) from a real-data classifier) add the reclassification shares. Needs
    more than ``max(k, density_k)`` images per set.
    """
    s = settings
    fake_all, train = as_rows(fake_feats), as_rows(train_feats)
    test = None if test_feats is None else as_rows(test_feats)
    idx = _equal_size_indices(len(fake_all), len(train), None if test is None else len(test),
                              halves_seed=s.halves_seed, seed=s.seed)
    n = idx["n"]
    if n <= max(s.k, s.density_k):
        raise ValueError(
            f"{len(fake_all)} fakes and {len(train)} real training images give {n} per set; "
            f"the k-NN metrics need more than max(k, density_k) = {max(s.k, s.density_k)}"
        )
    fake, ref, real = fake_all[idx["fake"]], train[idx["ref"]], train[idx["real"]]
    r: dict[str, float] = {"n_fake": float(len(fake_all)), "n_real_train": float(len(train)),
                           "n_real_test": float("nan") if test is None else float(len(test)), "n_per_set": float(n)}
    r.update(_kid_and_fd(fake_all, train, idx, s))
    if test is not None:
        r.update(_test_distances(fake, real, test[idx["test"]]))
    if s.c2st:
        res = two_sample_test(train, fake_all, seed=s.seed, method="logistic")
        r.update(c2st_auc_features=res["auc"], c2st_null_sd_features=res["null_sd"],
                 n_per_set_c2st=float(res["n_per_set"]))
    r.update(_manifold(ref, fake, real, s))
    mem = memorization(fake_all, train, percentile=s.memorization_percentile)  # every fake, every train image
    r["memorization_share_features"] = mem["share"]
    r["memorization_threshold_features"] = mem["threshold"]
    r["memorization_percentile"] = float(s.memorization_percentile)
    r["minority_class"] = float(s.minority_class)
    nan = float("nan")
    r["reclassification_share"] = nan if fake_scores is None else reclassification_share(fake_scores, s.minority_class)
    r["reclassification_share_real_test"] = (
        nan if test_scores is None else reclassification_share(test_scores, s.minority_class))
    r["k"] = float(s.k)
    r["density_k"] = float(s.density_k)
    r["collapsed"] = float(collapse_check(r)["collapsed"])
    return r


def fidelity_report(
    encoder, fakes: Any, train_minority: Any, test_minority: Any = None, *, settings: FidelitySettings = FidelitySettings()
) -> dict[str, float]:
    """All fidelity numbers for uint8 fakes vs real minority images, as one flat dict of floats.

    ``encoder`` comes from :func:`helpers.evaluation.encoder.train_domain_encoder`; all but the pixel
    metrics use its features. Keys:

    * sizes: ``n_fake``, ``n_real_train``, ``n_real_test``, ``n_per_set`` (train comparisons),
      ``n_per_set_test``, ``n_per_set_c2st`` / ``n_per_set_c2st_pixels`` (two-sample tests);
    * KID: ``kid_fake_train`` = KID(fakes, half A), ``kid_train_halves`` = KID(half B, half A),
      ``kid_real_sd`` (real-vs-real noise at n), ``kid_z_train`` / ``kid_z_train_halves`` (in its units);
    * FD: ``fd_fake_train``, ``fd_train_halves`` (means over ``fd_draws`` splits),
      ``fd_train_halves_sd``, ``relative_fd_train`` (1 = as close as real images at this n);
    * test (when given): ``fd_fake_test``, ``fd_train_test``, ``relative_fd_test``, ``kid_fake_test``,
      ``kid_train_test``;
    * two-sample tests (``c2st``): ``c2st_auc_pixels`` (small CNN), ``c2st_auc_features`` (logistic
      regression), each with ``c2st_null_sd_*``;
    * ``precision``, ``recall``, ``density``, ``coverage``, each with ``*_ref_halves`` (half B);
      ``diversity_fake``, ``diversity_real``, ``diversity_ratio``; ``collapsed`` (:func:`collapse_check`);
    * ``memorization_share_*`` / ``memorization_threshold_*`` (features, pixels);
      ``reclassification_share`` (fakes the encoder calls ``minority_class``) and
      ``reclassification_share_real_test``; ``mean_intensity_fake`` / ``mean_intensity_real`` in [0, 1].
    """
    s = settings

    def features(x: Any) -> np.ndarray:
        return encoder_features(encoder, x, s.batch_size)

    report = fidelity_report_from_features(
        features(fakes),
        features(train_minority),
        None if test_minority is None else features(test_minority),
        fake_scores=encoder_scores(encoder, fakes, s.batch_size),
        test_scores=None if test_minority is None else encoder_scores(encoder, test_minority, s.batch_size),
        settings=s,
    )
    fake_px, train_px = as_model_batch(fakes), as_model_batch(train_minority)
    if s.c2st:
        res = two_sample_test(train_px, fake_px, seed=s.seed, method="cnn", epochs=s.c2st_epochs)
        report["c2st_auc_pixels"] = res["auc"]
        report["c2st_null_sd_pixels"] = res["null_sd"]
        report["n_per_set_c2st_pixels"] = float(res["n_per_set"])
    if s.pixel_memorization:
        mem = memorization(fake_px, train_px, percentile=s.memorization_percentile)
        report["memorization_share_pixels"] = mem["share"]
        report["memorization_threshold_pixels"] = mem["threshold"]
    else:
        report["memorization_share_pixels"] = report["memorization_threshold_pixels"] = float("nan")
    report["mean_intensity_fake"] = float(fake_px.mean() / 255.0)
    report["mean_intensity_real"] = float(train_px.mean() / 255.0)
    return report
