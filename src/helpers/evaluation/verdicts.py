"""A fidelity report in words: plain-language verdict lines and a long-format table with notes."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.evaluation.fidelity import (
    C2ST_CLOSE,
    C2ST_FAR,
    DIVERSITY_HIGH,
    DIVERSITY_LOW,
    KID_Z_NOISE,
    MEMORIZATION_WARN_SHARE,
    MIN_N_VERDICT,
    RATIO_CLOSE,
    RATIO_FAR,
    RECALL_LOW_FRACTION,
    _ok,
    collapse_check,
    enough_samples,
)

__all__ = ["verdict_lines", "fidelity_rows", "sample_size_key", "too_few_words"]

Report = dict[str, float]


def too_few_words(report: Report) -> str:
    """``"n = 15 images per set is too few to tell (a difference the checks can see needs n >= 120)"``."""
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


def _collapse_lines(report: Report) -> list[str]:
    collapse = collapse_check(report)
    if not collapse["checked"]:
        return []
    if collapse["collapsed"]:
        return ["Mode collapse: " + "; ".join(collapse["reasons"]) + ". Whatever the losses say, "
                "this generator misses most of the real variety."]
    values = ", ".join(f"{k} {v:.2f}" for k, v in collapse["checked"].items())
    limits = ", ".join(f"{k} < {collapse['thresholds'][k]:g}" for k in collapse["checked"])
    if collapse["decided"]:
        return [f"No collapse detected: {values} (collapse means {limits})."]
    return [f"Collapse undecided: {values} pass the checks (collapse means {limits}), but {too_few_words(report)}."]


def _size_and_distance_lines(report: Report, c: str, enough: bool) -> list[str]:
    lines = []
    if _ok(report, "n_per_set"):
        line = (f"Every train comparison uses n = {int(report['n_per_set'])} images per set: fakes "
                f"(drawn from {int(report.get('n_fake', report['n_per_set']))}), half A of the real "
                f"training {c} images as the reference and half B as the real-vs-real control")
        if _ok(report, "n_per_set_test"):
            line += f"; test comparisons use {int(report['n_per_set_test'])} per set"
        lines.append(line + ".")
    if _ok(report, "kid_fake_train", "kid_train_halves", "kid_z_train"):
        z = report["kid_z_train"]
        what = (f"beyond the real-vs-real noise (|z| > {KID_Z_NOISE:g})" if abs(z) > KID_Z_NOISE
                else "within the real-vs-real noise" if enough
                else f"within the real-vs-real noise, which is no evidence: {too_few_words(report)}")
        lines.append(
            f"KID(fakes, real training {c}) = {report['kid_fake_train']:.3g} against "
            f"{report['kid_train_halves']:.3g} for two real halves; that is {z:.1f} SDs of the "
            f"real-vs-real KID at this n ({report.get('kid_real_sd', float('nan')):.2g}): {what}.")
    if _ok(report, "relative_fd_train", "fd_fake_train", "fd_train_halves"):
        r = report["relative_fd_train"]
        lines.append(
            f"The fakes are {r:.1f}× as far (FD) from real training {c} images as two halves of the "
            f"training set are from each other ({report['fd_fake_train']:.3g} vs "
            f"{report['fd_train_halves']:.3g}, same n): "
            + (_closeness(r) if enough or r > RATIO_CLOSE else f"no evidence either way, {too_few_words(report)}")
            + ".")
    return lines


def _c2st_lines(report: Report, c: str) -> list[str]:
    lines = []
    for space, model, n_key in (("pixels", "a small CNN on the pixels", "n_per_set_c2st_pixels"),
                                ("features", "logistic regression on the encoder features", "n_per_set_c2st")):
        if not _ok(report, f"c2st_auc_{space}"):
            continue
        auc, sd = report[f"c2st_auc_{space}"], report.get(f"c2st_null_sd_{space}", float("nan"))
        n_c2st = report.get(n_key, float("nan"))
        words = _c2st_words(auc, sd)
        if auc <= C2ST_CLOSE and np.isfinite(n_c2st) and n_c2st < MIN_N_VERDICT:
            words = (f"no evidence either way: n = {int(n_c2st)} images per set is too few to tell "
                     f"(the test needs n >= {MIN_N_VERDICT})")
        size = f", n = {int(n_c2st)} per set" if np.isfinite(n_c2st) else ""
        lines.append(f"Two-sample test, {model}: ROC-AUC {auc:.2f} on held-out images telling fakes "
                     f"from real training {c} images (0.5 = indistinguishable, chance ± {2 * sd:.2f}{size}): {words}.")
    return lines


def _test_lines(report: Report, c: str) -> list[str]:
    lines = []
    if _ok(report, "relative_fd_test", "fd_fake_test", "fd_train_test"):
        r = report["relative_fd_test"]
        line = (f"The fakes are {r:.1f}× as far from real test {c} images as real training {c} images are "
                f"({report['fd_fake_test']:.3g} vs {report['fd_train_test']:.3g})")
        if r < 1:
            line += ("; below 1 does not mean better than real: train and test differ (a shifted test "
                     "set), so read it together with the distance to train.")
        lines.append(line if r < 1 else line + ".")
    if _ok(report, "kid_fake_test", "kid_train_test"):
        lines.append(f"KID(fakes, real test {c}) = {report['kid_fake_test']:.3g} (real train vs real test: "
                     f"{report['kid_train_test']:.3g}).")
    return lines


def _manifold_lines(report: Report, c: str, enough: bool) -> list[str]:
    lines = []
    if _ok(report, "precision", "recall"):
        p, r = report["precision"], report["recall"]
        line = (f"Precision {p:.2f}: {p:.0%} of the fakes lie inside the real training {c} manifold "
                f"(k={int(report.get('k', 3))}); recall {r:.2f}: the fakes cover {r:.0%} of the real images")
        if _ok(report, "precision_ref_halves", "recall_ref_halves"):
            line += (f" (real half vs real half: {report['precision_ref_halves']:.2f} / "
                     f"{report['recall_ref_halves']:.2f})")
            if r < RECALL_LOW_FRACTION * report["recall_ref_halves"]:
                line += f"; recall is below {RECALL_LOW_FRACTION:.0%} of the real reference: parts of the real distribution are missing"
        lines.append(line + ".")
    if _ok(report, "density", "coverage"):
        line = (f"Density {report['density']:.2f} (1 = fakes crowd the real k-NN balls as real images do, "
                f"k={int(report.get('density_k', 5))}); coverage {report['coverage']:.2f}: "
                f"{report['coverage']:.0%} of the real images have a fake among their neighbours")
        if _ok(report, "density_ref_halves", "coverage_ref_halves"):
            line += (f" (real half vs real half: {report['density_ref_halves']:.2f} / "
                     f"{report['coverage_ref_halves']:.2f})")
        lines.append(line + ".")
    if _ok(report, "diversity_ratio"):
        ratio = report["diversity_ratio"]
        what = (f"less varied than real images (below {DIVERSITY_LOW:g}): a sign of mode collapse" if ratio < DIVERSITY_LOW
                else f"more spread than real images (above {DIVERSITY_HIGH:g}): noise or artefacts?" if ratio > DIVERSITY_HIGH
                else "about as varied as real images" if enough
                else f"no evidence either way, {too_few_words(report)}")
        lines.append(f"Diversity of the fakes is {ratio:.2f}× that of real training {c} images: {what}.")
    return lines


def _copy_lines(report: Report, c: str) -> list[str]:
    lines = []
    for space in ("pixels", "features"):
        key = f"memorization_share_{space}"
        if _ok(report, key, "n_fake"):
            share, n = report[key], int(report["n_fake"])
            pct = report.get("memorization_percentile", 1.0)
            end = (f" - above {MEMORIZATION_WARN_SHARE:.0%}: look at the closest pairs for copies."
                   if share > MEMORIZATION_WARN_SHARE else ": no sign of copying.")
            lines.append(f"In {space}, {round(share * n)} of {n} fakes ({share:.1%}) are closer to a training "
                         f"image than the {_ordinal(pct)} percentile of real-to-real nearest-neighbour distances{end}")
    if _ok(report, "reclassification_share"):
        line = f"The real-data encoder assigns {report['reclassification_share']:.0%} of the fakes to {c}"
        if _ok(report, "reclassification_share_real_test"):
            line += f" (real test {c} images: {report['reclassification_share_real_test']:.0%})"
        lines.append(line + ".")
    if _ok(report, "mean_intensity_fake", "mean_intensity_real"):
        f, r = report["mean_intensity_fake"], report["mean_intensity_real"]
        word = "brighter" if f > r else "darker" if f < r else "as bright"
        lines.append(f"Fakes are {word} than real training {c} images on average (mean {f:.3f} vs {r:.3f} in [0, 1]).")
    return lines


def verdict_lines(report: Report, class_name: str = "NORMAL") -> list[str]:
    """Plain-language sentences from a :func:`helpers.evaluation.fidelity.fidelity_report`.

    First :func:`helpers.evaluation.fidelity.collapse_check`'s verdict, then sample sizes, KID, FD,
    the two-sample tests, test-set distances, precision / recall, density / coverage, diversity,
    memorisation, reclassification and brightness (each when its keys are present).
    """
    enough = enough_samples(report)
    return [*_collapse_lines(report), *_size_and_distance_lines(report, class_name, enough),
            *_c2st_lines(report, class_name), *_test_lines(report, class_name),
            *_manifold_lines(report, class_name, enough), *_copy_lines(report, class_name)]


# (metric, reference: a report key, a number or None, note) for the long-format results file.
_ROW_SPECS: tuple[tuple[str, str | float | None, str], ...] = (
    ("collapsed", None, "1 = collapse_check flags mode collapse (recall, coverage or diversity too low)"),
    ("n_per_set", None, "images per set in every train comparison (fakes, half A, half B; seeded)"),
    ("n_per_set_test", None, "images per set in the test comparisons (fakes, half B, test)"),
    ("kid_fake_train", "kid_train_halves",
     "headline: KID(fakes, train half A), unbiased; reference: KID(half B, half A) at the same n"),
    ("kid_z_train", "kid_z_train_halves",
     "KID(fakes, half A) / SD of real-vs-real KID at this n; |z| <= 3 = within real-vs-real noise"),
    ("kid_real_sd", None, "SD of KID between disjoint random real train subsets of size n"),
    ("fd_fake_train", "fd_train_halves", "FD(fakes, train half A); reference: FD(half B, half A) at the same n"),
    ("fd_train_halves", None, "reference: FD between two halves of real train minority (n each)"),
    ("relative_fd_train", None, "FD(fakes, half A) / FD(half B, half A); 1 = as close as real images"),
    ("c2st_auc_pixels", 0.5, "classifier two-sample test: held-out ROC-AUC of a small CNN telling real train "
     "minority from fakes; 0.5 = indistinguishable"),
    ("c2st_auc_features", 0.5, "same with logistic regression on the encoder features"),
    ("precision", "precision_ref_halves", "share of fakes inside the real (half A) k-NN manifold; reference: half B"),
    ("recall", "recall_ref_halves", "share of real (half A) inside the fake k-NN manifold; reference: half B"),
    ("density", "density_ref_halves", "real k-NN balls holding each fake, over k (Naeem 2020); reference: half B"),
    ("coverage", "coverage_ref_halves",
     "share of real (half A) k-NN balls holding a fake (Naeem 2020); reference: half B"),
    ("diversity_fake", "diversity_real", "mean distance of random pairs; reference: real train half B"),
    ("diversity_ratio", None, "diversity(fakes) / diversity(real); < 1 = less varied (mode collapse)"),
    ("fd_fake_test", "fd_train_test",
     "FD(fakes, real test minority); reference: FD(real train half B, real test), same n"),
    ("fd_train_test", None, "reference: FD(real train half B, real test minority) - the train/test shift"),
    ("relative_fd_test", None, "FD(fakes, test) / FD(train, test); < 1 can come from the train/test shift"),
    ("kid_fake_test", "kid_train_test", "KID(fakes, real test); reference: KID(real train half B, real test), same n"),
    ("memorization_share_features", None,
     "share of fakes closer to a train image than the percentile of real-to-real NN distances (features)"),
    ("memorization_share_pixels", None, "same, in pixel space"),
    ("reclassification_share", "reclassification_share_real_test",
     "share of fakes the real-data encoder assigns to the minority class; reference: real test minority"),
    ("mean_intensity_fake", "mean_intensity_real", "mean pixel value in [0, 1]; reference: real train minority"),
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


def fidelity_rows(report: Report) -> list[dict[str, Any]]:
    """Long-format rows ``{metric, value, reference, n, note}`` for the metrics present in ``report``.

    ``n`` is the images per set behind the value; the ``collapsed`` row's note gives
    :func:`helpers.evaluation.fidelity.collapse_check`'s reasons, or says n is too small to tell.
    """
    rows = []
    for metric, ref, note in _ROW_SPECS:
        if metric not in report:
            continue
        reference = report.get(ref, float("nan")) if isinstance(ref, str) else float("nan") if ref is None else ref
        if metric == "collapsed":
            check = collapse_check(report)
            note = ("; ".join(check["reasons"]) if check["reasons"] else
                    note if check["decided"] else f"undecided: {too_few_words(report)}")
        rows.append({"metric": metric, "value": float(report[metric]), "reference": float(reference),
                     "n": float(report.get(sample_size_key(metric), float("nan"))), "note": note})
    return rows
