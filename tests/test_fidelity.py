"""Tests for helpers.fidelity on synthetic Gaussian features and tiny blob images."""

from __future__ import annotations

import time

import numpy as np
import pytest

from helpers import fidelity as fid


@pytest.fixture(scope="module")
def gauss():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 4)), rng.normal(size=(400, 4))


def test_frechet_identical_is_zero_and_shift_matches_closed_form(gauss):
    a, b = gauss
    assert fid.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    # Same covariance exactly: FD = ||shift||².
    assert fid.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    # Two samples of N(0, I) and N(shift, I): close to the closed form, grows with the shift.
    d_small = fid.frechet_distance(a, b + 0.5 * shift)
    d_big = fid.frechet_distance(a, b + shift)
    assert d_big == pytest.approx(shift @ shift, abs=0.3)
    assert d_small < d_big


def test_frechet_singular_covariance_is_finite():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(6, 20))  # fewer samples than dimensions
    d = fid.frechet_distance(a, b)
    assert np.isfinite(d) and d >= 0


def test_kid_same_near_zero_shifted_positive(gauss):
    a, b = gauss
    same, same_sd = fid.kid(a, b, n_subsets=10, subset_size=200)
    shifted, _ = fid.kid(a, b + 1.0, n_subsets=10, subset_size=200)
    assert abs(same) < 3 * same_sd + 0.05
    assert shifted > 10 * abs(same) and shifted > 0.1


def test_precision_recall_copies_and_collapse(gauss):
    real = gauss[0]
    assert fid.precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    collapsed = np.repeat(real[:1], 200, axis=0)
    precision, recall = fid.precision_recall(real, collapsed, k=3)
    assert precision == 1.0 and recall < 0.02
    assert fid.diversity(collapsed) < 0.1 * fid.diversity(real)
    assert fid.diversity(real, seed=3) == fid.diversity(real, seed=3)


def test_memorization_copies_and_far_points(gauss):
    train = gauss[0]
    copies = fid.memorization(train[:50], train)
    assert copies["share"] == 1.0 and copies["n_memorized"] == 50
    np.testing.assert_array_equal(copies["nn_index"], np.arange(50))
    far = fid.memorization(gauss[1][:50] + 100.0, train)
    assert far["share"] == 0.0 and far["threshold"] > 0
    fake_idx, train_idx = fid.closest_pairs(copies, k=8)
    assert len(fake_idx) == 8 and np.array_equal(fake_idx, train_idx)


def test_reclassification_share():
    scores = np.array([0.1, 0.2, 0.7, 0.9])
    assert fid.reclassification_share(scores, minority_class=0) == 0.5
    assert fid.reclassification_share(scores, minority_class=1, threshold=0.8) == 0.25


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
    encoder = fid.train_domain_encoder(
        x, y, epochs=1, batch_size=32, feature_dim=16, filters=(8, 16)
    )
    feats = fid.encoder_features(encoder, x[:10])
    assert feats.shape == (10, 16) and np.isfinite(feats).all()
    scores = fid.encoder_scores(encoder, x[:10])
    assert scores.shape == (10,) and ((scores >= 0) & (scores <= 1)).all()
    with pytest.raises(ValueError, match="uint8"):
        fid.encoder_features(encoder, x[:4] / 255.0)

    fakes = _blobs(30, 0, rng)
    report = fid.fidelity_report(
        encoder, fakes, x[:48], _blobs(30, 0, rng), minority_class=0, kid_subsets=5
    )
    assert all(isinstance(v, float) for v in report.values())
    for key in (
        "fd_fake_train",
        "fd_train_halves",
        "relative_fd_test",
        "kid_fake_test",
        "precision",
        "memorization_share_pixels",
        "reclassification_share",
        "diversity_ratio",
    ):
        assert np.isfinite(report[key]), key
    rows = fid.fidelity_rows(report)
    assert {"metric", "value", "reference", "note"} == set(rows[0])
    assert fid.verdict_lines(report)


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
    close = fid.verdict_lines(base)
    far = fid.verdict_lines(
        {
            **base,
            "fd_fake_train": 64.0,
            "relative_fd_train": 32.0,
            "diversity_ratio": 0.3,
            "memorization_share_pixels": 0.2,
        }
    )
    assert close != far
    assert "1.5×" in close[0] and "close to the real-vs-real" in close[0]
    assert "32.0×" in far[0] and "far from real" in far[0]
    assert "does not mean better" in close[1]
    assert any("mode collapse" in line for line in far)
    assert any(
        "20 of 100" in line and "1st percentile" in line and "copies" in line for line in far
    )
    assert not any("mode collapse" in line for line in close)


def test_inception_kid_offline_returns_none_quickly(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.applications, "InceptionV3", offline)
    start = time.perf_counter()
    value, reason = fid.inception_kid(np.zeros((4, 8, 8), np.uint8), np.zeros((4, 8, 8), np.uint8))
    assert value is None and "no network" in reason
    assert time.perf_counter() - start < 5
