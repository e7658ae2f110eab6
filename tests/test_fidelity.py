"""Tests for the fidelity modules of helpers.evaluation on synthetic Gaussian features and tiny blob images."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from helpers.evaluation import distances, manifold, two_sample, verdicts
from helpers.evaluation import encoder as enc
from helpers.evaluation import fidelity as fid
from helpers.evaluation.fidelity import FidelitySettings

NO_C2ST = FidelitySettings(c2st=False, kid_noise_draws=5)


@pytest.fixture(scope="module")
def gauss():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 4)), rng.normal(size=(400, 4))


def test_frechet_identical_is_zero_and_shift_matches_closed_form(gauss):
    a, b = gauss
    assert distances.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    # Same covariance exactly: FD = ||shift||².
    assert distances.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    # Two samples of N(0, I) and N(shift, I): close to the closed form, grows with the shift.
    d_small = distances.frechet_distance(a, b + 0.5 * shift)
    d_big = distances.frechet_distance(a, b + shift)
    assert d_big == pytest.approx(shift @ shift, abs=0.3)
    assert d_small < d_big


def test_frechet_singular_covariance_is_finite():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(6, 20))  # fewer samples than dimensions
    d = distances.frechet_distance(a, b)
    assert np.isfinite(d) and d >= 0


def test_kid_same_near_zero_shifted_positive(gauss):
    a, b = gauss
    same, same_sd = distances.kid(a, b, n_subsets=10, subset_size=200)
    shifted, _ = distances.kid(a, b + 1.0, n_subsets=10, subset_size=200)
    assert abs(same) < 3 * same_sd + 0.05
    assert shifted > 10 * abs(same) and shifted > 0.1


def test_precision_recall_copies_and_collapse(gauss):
    real = gauss[0]
    assert manifold.precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    collapsed = np.repeat(real[:1], 200, axis=0)
    precision, recall = manifold.precision_recall(real, collapsed, k=3)
    assert precision == 1.0 and recall < 0.02
    assert manifold.diversity(collapsed) < 0.1 * manifold.diversity(real)
    assert manifold.diversity(real, seed=3) == manifold.diversity(real, seed=3)


def test_density_coverage_hand_computed():
    # Reals on a line at 0, 1, 2, 3 with k=1: every ball has radius 1.
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # 0.5 lies in the balls of 0 and 1, 10 in none: density = (2 + 0) / (1 * 2) = 1;
    # the balls of 0 and 1 hold a fake, those of 2 and 3 do not: coverage = 2 / 4.
    assert manifold.density_coverage(real, fake, k=1) == (1.0, 0.5)
    # Precision: 0.5 inside, 10 outside; recall: both fakes' radius is 9.5, covering every real.
    assert manifold.precision_recall(real, fake, k=1) == (0.5, 1.0)
    # Copies of the reals: each real ball holds its own centre and its k neighbours, so density
    # = (k + 1) / k exactly and coverage = 1.
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    assert manifold.density_coverage(pts, pts.copy(), k=5) == (pytest.approx(6 / 5), 1.0)
    assert manifold.density_coverage(pts, pts[:1] + 1e-3 * rng.normal(size=(40, 3)), k=5)[1] < 0.2


def test_kid_real_noise_is_centred_and_needs_two_subsets(gauss):
    mean, sd = distances.kid_real_noise(gauss[0], 100, draws=10, seed=1)
    assert sd > 0 and abs(mean) < 3 * sd
    assert distances.kid_real_noise(gauss[0], 100, draws=10, seed=1) == (mean, sd)
    with pytest.raises(ValueError, match="2n"):
        distances.kid_real_noise(gauss[0], 201)


def test_report_uses_equal_sizes_so_real_like_fakes_score_about_one():
    # Fakes from the real distribution, many more than the real images: with unequal sizes the
    # FD of fakes vs all of train is much smaller than FD(half, half) (ratio about 0.4).
    rng = np.random.default_rng(0)
    train, fakes, test = (
        rng.normal(size=(410, 16)),
        rng.normal(size=(780, 16)),
        rng.normal(size=(150, 16)),
    )
    unequal = distances.frechet_distance(fakes, train) / distances.frechet_distance(train[:205], train[205:])
    assert unequal < 0.6
    r = fid.fidelity_report_from_features(fakes, train, test + 0.5, settings=FidelitySettings(kid_noise_draws=10))
    assert r["n_per_set"] == 205 and r["n_per_set_test"] == 150 and r["n_fake"] == 780
    assert 0.7 < r["relative_fd_train"] < 1.4
    assert 0.7 < r["relative_fd_test"] < 1.4
    assert abs(r["kid_z_train"]) < fid.KID_Z_NOISE
    assert abs(r["c2st_auc_features"] - 0.5) < 4 * r["c2st_null_sd_features"]
    assert r["coverage"] > 0.85 and abs(r["coverage"] - r["coverage_ref_halves"]) < 0.1
    assert r["recall"] > 0.6 and r["collapsed"] == 0.0
    # Seeded: the same call gives the same numbers; another seed draws other subsets.
    again = fid.fidelity_report_from_features(fakes, train, test + 0.5, settings=FidelitySettings(kid_noise_draws=10))
    np.testing.assert_equal(again, r)  # NaN == NaN here
    other = fid.fidelity_report_from_features(
        fakes, train, test + 0.5, settings=FidelitySettings(kid_noise_draws=10, seed=1)
    )
    assert other["fd_fake_train"] != r["fd_fake_train"]
    # Shifted fakes: far in every measure.
    far = fid.fidelity_report_from_features(fakes + 1.0, train, test, settings=FidelitySettings(kid_noise_draws=10))
    assert far["relative_fd_train"] > fid.RATIO_FAR and far["kid_z_train"] > 10 * fid.KID_Z_NOISE
    assert far["c2st_auc_features"] > 0.95


def test_two_sample_test_logistic_same_vs_shifted():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 10)), rng.normal(size=(500, 10))
    same = two_sample.two_sample_test(a, b, method="logistic", seed=0)
    assert same["n_per_set"] == 300 and same["n_fit"] == 150 and same["n_eval"] == 150
    assert abs(same["auc"] - 0.5) < 4 * same["null_sd"]
    shifted = two_sample.two_sample_test(a, b + 1.0, method="logistic", seed=0)
    assert shifted["auc"] > 0.95
    with pytest.raises(ValueError, match="method"):
        two_sample.two_sample_test(a, b, method="svm")


def test_two_sample_test_cnn_on_pixels():
    rng = np.random.default_rng(0)
    images = _blobs(320, 0, rng)
    same = two_sample.two_sample_test(images[:160], images[160:], seed=0, epochs=5)
    assert same["method"] == "cnn" and same["n_eval"] == 80
    assert abs(same["auc"] - 0.5) < 0.2
    brighter = np.clip(images[160:].astype(int) + 40, 0, 255).astype(np.uint8)
    shifted = two_sample.two_sample_test(images[:160], brighter, seed=0, epochs=5)
    assert shifted["auc"] > 0.9


def _collapse_sets(n_real: int = 400, d: int = 8):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n_real, d))
    held_out = rng.normal(size=(n_real, d))
    one_mode = real[:1] + 0.01 * rng.normal(size=(n_real, d))
    # Two far-apart modes: their spread keeps the diversity ratio near 1, recall still fails.
    modes = np.array([[3.0] + [0.0] * (d - 1), [-3.0] + [0.0] * (d - 1)])
    two_modes = modes[rng.integers(0, 2, n_real)] + 0.01 * rng.normal(size=(n_real, d))
    return real, held_out, one_mode, two_modes


def test_collapse_check_flags_collapsed_generators_not_healthy_ones():
    real, held_out, one_mode, two_modes = _collapse_sets()
    healthy = fid.fidelity_report_from_features(held_out, real, settings=NO_C2ST)
    assert fid.collapse_check(healthy)["collapsed"] is False and healthy["collapsed"] == 0.0
    assert set(fid.collapse_check(healthy)["checked"]) == {"recall", "coverage", "diversity_ratio"}

    one = fid.fidelity_report_from_features(one_mode, real, settings=NO_C2ST)
    check = fid.collapse_check(one)
    assert check["collapsed"] and one["collapsed"] == 1.0
    assert {r.split()[0] for r in check["reasons"]} == {"recall", "coverage", "diversity_ratio"}

    two = fid.fidelity_report_from_features(two_modes, real, settings=NO_C2ST)
    check = fid.collapse_check(two)
    assert check["collapsed"] and two["diversity_ratio"] > fid.COLLAPSE_DIVERSITY
    assert any(r.startswith("recall") for r in check["reasons"])
    assert any(r.startswith("coverage") for r in check["reasons"])
    row = {r["metric"]: r for r in verdicts.fidelity_rows(two)}["collapsed"]
    assert row["value"] == 1.0 and "recall" in row["note"]
    assert verdicts.verdict_lines(two)[0].startswith("Mode collapse")


def test_collapse_check_thresholds_and_missing_metrics():
    assert fid.collapse_check({}) == {
        "collapsed": False,
        "reasons": [],
        "checked": {},
        "thresholds": {"recall": 0.2, "coverage": 0.2, "diversity_ratio": 0.5},
        "decided": True,
        "state": "not checked",
    }
    ok = dict(recall=0.25, coverage=0.25, diversity_ratio=0.55)
    assert not fid.collapse_check(ok)["collapsed"]
    for key, low in (("recall", 0.19), ("coverage", 0.19), ("diversity_ratio", 0.49)):
        check = fid.collapse_check({**ok, key: low})
        assert check["collapsed"] and check["reasons"][0].startswith(key)
    # NaN (e.g. a metric that could not be computed) is skipped, not read as collapse.
    assert not fid.collapse_check({"recall": float("nan")})["collapsed"]
    # Low coverage alone with normal recall and diversity: still fails, and says why.
    shifted = fid.collapse_check(dict(recall=0.6, coverage=0.1, diversity_ratio=1.0))
    assert shifted["collapsed"] and "shifted" in shifted["reasons"][0]


def test_memorization_copies_and_far_points(gauss):
    train = gauss[0]
    copies = manifold.memorization(train[:50], train)
    assert copies["share"] == 1.0 and copies["n_memorized"] == 50
    np.testing.assert_array_equal(copies["nn_index"], np.arange(50))
    far = manifold.memorization(gauss[1][:50] + 100.0, train)
    assert far["share"] == 0.0 and far["threshold"] > 0
    fake_idx, train_idx = manifold.closest_pairs(copies, k=8)
    assert len(fake_idx) == 8 and np.array_equal(fake_idx, train_idx)


def test_reclassification_share():
    scores = np.array([0.1, 0.2, 0.7, 0.9])
    assert enc.reclassification_share(scores, minority_class=0) == 0.5
    assert enc.reclassification_share(scores, minority_class=1, threshold=0.8) == 0.25


def _blobs(n: int, label: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    imgs = []
    for _ in range(n):
        cy, cx = rng.uniform(4, size - 4, 2)
        r = 3.0 if label == 0 else 5.0
        blob = 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2)) + rng.normal(
            0, 10, (size, size)
        )
        imgs.append(np.clip(blob + 20, 0, 255))
    return np.asarray(imgs, dtype=np.uint8)


def test_encoder_report_and_verdicts():
    rng = np.random.default_rng(0)
    x = np.concatenate([_blobs(48, 0, rng), _blobs(48, 1, rng)])
    y = np.repeat([0, 1], 48)
    encoder = enc.train_domain_encoder(
        x, y, epochs=1, batch_size=32, feature_dim=16, filters=(8, 16)
    )
    feats = enc.encoder_features(encoder, x[:10])
    assert feats.shape == (10, 16) and np.isfinite(feats).all()
    scores = enc.encoder_scores(encoder, x[:10])
    assert scores.shape == (10,) and ((scores >= 0) & (scores <= 1)).all()
    with pytest.raises(ValueError, match="uint8"):
        enc.encoder_features(encoder, x[:4] / 255.0)

    fakes = _blobs(30, 0, rng)
    report = fid.fidelity_report(
        encoder,
        fakes,
        x[:48],
        _blobs(20, 0, rng),
        settings=FidelitySettings(minority_class=0, kid_noise_draws=5, c2st_epochs=2),
    )
    assert all(isinstance(v, float) for v in report.values())
    # 48 train images -> halves of 24; 30 fakes -> 24 per set; 20 test images -> 20 per set.
    assert report["n_per_set"] == 24 and report["n_per_set_test"] == 20
    assert report["n_per_set_c2st"] == 30
    for key in (
        "kid_fake_train",
        "kid_z_train",
        "fd_fake_train",
        "fd_train_halves",
        "relative_fd_test",
        "kid_fake_test",
        "c2st_auc_pixels",
        "c2st_auc_features",
        "precision",
        "density",
        "coverage",
        "coverage_ref_halves",
        "memorization_share_pixels",
        "reclassification_share",
        "diversity_ratio",
        "collapsed",
    ):
        assert np.isfinite(report[key]), key
    rows = verdicts.fidelity_rows(report)
    assert {"metric", "value", "reference", "n", "note"} == set(rows[0])
    by_metric = {row["metric"]: row for row in rows}
    assert by_metric["c2st_auc_pixels"]["reference"] == 0.5
    # Each row names the images per set behind its value.
    assert report["n_per_set_c2st_pixels"] == 30 and by_metric["c2st_auc_pixels"]["n"] == 30
    assert by_metric["kid_fake_train"]["n"] == 24 and by_metric["recall"]["n"] == 24
    assert by_metric["fd_fake_test"]["n"] == 20 and by_metric["memorization_share_pixels"]["n"] == 30
    assert by_metric["kid_fake_train"]["reference"] == report["kid_train_halves"]
    assert verdicts.verdict_lines(report)
    # Without test images the test comparisons are left out.
    no_test = fid.fidelity_report(encoder, fakes, x[:48], settings=FidelitySettings(c2st=False, kid_noise_draws=5))
    assert "fd_fake_test" not in no_test and "c2st_auc_pixels" not in no_test
    assert np.isnan(no_test["n_real_test"]) and no_test["n_per_set"] == 24


def test_verdict_lines_follow_the_numbers():
    base = dict(
        fd_fake_train=3.0,
        fd_train_halves=2.0,
        relative_fd_train=1.5,
        fd_fake_test=50.0,
        fd_train_test=100.0,
        relative_fd_test=0.5,
        diversity_ratio=1.0,
        memorization_share_pixels=0.0,
        n_fake=100.0,
    )
    close = verdicts.verdict_lines(base)
    far = verdicts.verdict_lines(
        {
            **base,
            "fd_fake_train": 64.0,
            "relative_fd_train": 32.0,
            "diversity_ratio": 0.3,
            "memorization_share_pixels": 0.2,
        }
    )
    assert close != far
    assert close[0].startswith("No collapse detected") and far[0].startswith("Mode collapse")
    assert "1.5×" in close[1] and "close to the real-vs-real" in close[1]
    assert "32.0×" in far[1] and "far from real" in far[1]
    assert "does not mean better" in close[2]
    assert any("mode collapse" in line for line in far)
    assert any(
        "20 of 100" in line and "1st percentile" in line and "copies" in line for line in far
    )
    assert not any("mode collapse" in line.lower() for line in close)


def test_verdict_lines_headline_kid_and_two_sample_test():
    report = dict(
        n_per_set=300.0,
        n_fake=780.0,
        n_per_set_test=234.0,
        kid_fake_train=0.05,
        kid_train_halves=0.0001,
        kid_real_sd=0.002,
        kid_z_train=25.0,
        c2st_auc_pixels=0.97,
        c2st_null_sd_pixels=0.02,
        c2st_auc_features=0.51,
        c2st_null_sd_features=0.02,
        density=0.9,
        coverage=0.7,
        density_ref_halves=1.0,
        coverage_ref_halves=0.97,
    )
    text = "\n".join(verdicts.verdict_lines(report))
    assert "n = 300 images per set" in text and "drawn from 780" in text and "234 per set" in text
    assert "25.0 SDs" in text and "beyond the real-vs-real noise" in text
    assert "ROC-AUC 0.97" in text and "trivially separable" in text
    assert "ROC-AUC 0.51" in text and "indistinguishable from real" in text
    assert "coverage 0.70" in text
    assert "within the real-vs-real noise" in "\n".join(
        verdicts.verdict_lines({**report, "kid_z_train": 1.2})
    )


def test_inception_kid_offline_returns_none_quickly(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    start = time.perf_counter()
    value, reason = distances.inception_kid(np.zeros((4, 8, 8), np.uint8), np.zeros((4, 8, 8), np.uint8))
    assert value is None and "no network" in reason
    assert time.perf_counter() - start < 5


REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DATA.is_file(), reason=f"{REAL_DATA} is absent")
def test_real_pneumoniamnist_halves_look_real_and_a_collapsed_set_is_flagged():
    data = np.load(REAL_DATA)
    x, y = data["train_images"], data["train_labels"].ravel()
    test_normal = data["test_images"][data["test_labels"].ravel() == 0]
    encoder = enc.train_domain_encoder(x, y, epochs=1, seed=0)
    normal = x[y == 0]
    perm = np.random.default_rng(123).permutation(len(normal))
    half_a, half_b = normal[perm[: len(normal) // 2]], normal[perm[len(normal) // 2 :]]

    real = fid.fidelity_report(encoder, half_b, half_a, test_normal)
    print({k: round(v, 3) for k, v in real.items()})
    assert real["n_per_set"] == len(half_a) // 2 and real["n_per_set_test"] == len(test_normal)
    assert abs(real["c2st_auc_pixels"] - 0.5) < 0.1 and abs(real["c2st_auc_features"] - 0.5) < 0.1
    assert real["coverage"] > 0.9 and real["recall"] > 0.7 and real["collapsed"] == 0.0
    assert (
        abs(real["kid_z_train"]) < fid.KID_Z_NOISE and real["relative_fd_train"] < fid.RATIO_CLOSE
    )

    rng = np.random.default_rng(1)
    two = np.repeat(half_b[:2], 300, axis=0).astype(float) + rng.normal(0, 3, (600, 28, 28))
    collapsed = fid.fidelity_report(encoder, np.clip(two, 0, 255).astype(np.uint8), half_a, test_normal)
    print({k: round(v, 3) for k, v in collapsed.items()})
    assert collapsed["collapsed"] == 1.0 and collapsed["coverage"] < 0.2
    assert collapsed["c2st_auc_pixels"] > 0.9 and collapsed["kid_z_train"] > 10 * fid.KID_Z_NOISE


def test_evaluation_size_is_the_training_minority_count():
    assert fid.evaluation_size(1207) == 1207 and fid.evaluation_size(2) == 2
    with pytest.raises(ValueError, match="at least 2"):
        fid.evaluation_size(1)


def _gauss_report(fakes: np.ndarray, real: np.ndarray) -> dict[str, float]:
    return fid.fidelity_report_from_features(
        fakes, real, settings=FidelitySettings(c2st=False, kid_noise_draws=5, fd_draws=2)
    )


def test_small_samples_are_undecided_not_real_like():
    rng = np.random.default_rng(3)
    real, other = rng.normal(size=(400, 6)), rng.normal(size=(400, 6))
    n_small = fid.MIN_N_VERDICT // 2
    small = _gauss_report(other[:n_small], real)
    assert small["n_per_set"] == n_small and not fid.enough_samples(small)
    check = fid.collapse_check(small)
    assert not check["collapsed"] and not check["decided"] and check["state"] == "undecided"
    lines = verdicts.verdict_lines(small)
    assert lines[0].startswith("Collapse undecided") and f"n >= {fid.MIN_N_VERDICT}" in lines[0]
    assert not any("No collapse detected" in line or "close to the real-vs-real" in line for line in lines)
    row = {r["metric"]: r for r in verdicts.fidelity_rows(small)}["collapsed"]
    assert row["value"] == 0.0 and row["note"].startswith("undecided") and row["n"] == n_small
    # Enough images: the same kind of generator is called not collapsed.
    large = _gauss_report(other[:200], real)
    assert fid.collapse_check(large)["state"] == "not collapsed"
    assert verdicts.verdict_lines(large)[0].startswith("No collapse detected")
    # A clear failure counts at any n: one mode is collapsed even with few fakes.
    one_mode = real[:1] + 0.01 * rng.normal(size=(n_small, 6))
    assert fid.collapse_check(_gauss_report(one_mode, real))["state"] == "collapsed"
    # Words of "no difference" need enough images; words of a difference do not.
    kid_line = next(line for line in verdicts.verdict_lines({**small, "kid_z_train": 0.5}) if line.startswith("KID("))
    assert "no evidence" in kid_line
    far = next(line for line in verdicts.verdict_lines({**small, "kid_z_train": 40.0}) if line.startswith("KID("))
    assert "beyond the real-vs-real noise" in far and "no evidence" not in far
    assert any(line.startswith("Diversity") and "no evidence" in line for line in lines)
    c2st = {**small, "c2st_auc_pixels": 0.55, "c2st_null_sd_pixels": 0.1, "n_per_set_c2st_pixels": n_small}
    assert any("no evidence either way" in line for line in verdicts.verdict_lines(c2st))
