"""helpers.oversampling.oversample: every strategy's counts, errors, untouched real rows, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.oversampling import oversample
from helpers.oversampling.oversample import prepare_training_set


@pytest.fixture
def feats():
    """Overlapping 2-class features: 20 of class 0 (minority), 50 of class 1."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.0, 1.0, (20, 6)), rng.normal(0.7, 1.0, (50, 6))]).astype(np.float32)
    y = np.array([0] * 20 + [1] * 50)
    return x, y


@pytest.fixture
def pixels():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (30, 8, 8), dtype=np.uint8), np.array([0] * 10 + [1] * 20)


def _real_rows_untouched(ts, x, y):
    n = len(y)
    assert np.array_equal(ts.x[:n], x) and np.array_equal(ts.y[:n], y)
    assert not ts.is_synthetic[:n].any() and ts.is_synthetic[n:].all()
    assert ts.n_synthetic == int(ts.is_synthetic.sum()) == len(ts.y) - n
    assert len(ts.x) == len(ts.y) == len(ts.is_synthetic)


@pytest.mark.parametrize("strategy", ["none", "class_weight", "classical_aug"])
def test_unchanged_data_strategies(feats, strategy):
    x, y = feats
    ts = prepare_training_set(strategy, x, y, seed=0)
    _real_rows_untouched(ts, x, y)
    assert ts.n_synthetic == 0 and ts.sample_weight is None
    assert ts.augment is (strategy == "classical_aug")
    if strategy == "class_weight":
        assert ts.class_weight == pytest.approx({0: 70 / (2 * 20), 1: 70 / (2 * 50)})
    else:
        assert ts.class_weight is None


def test_random_balances_exactly_on_features_and_pixels(feats, pixels):
    for x, y in (feats, pixels):
        ts = prepare_training_set("random", x, y, seed=3)
        _real_rows_untouched(ts, x, y)
        counts = ts.class_counts()
        assert counts[0] == counts[1] == max(np.bincount(y))
        assert ts.n_synthetic == np.bincount(y).max() - np.bincount(y).min()
        # duplicates are copies of minority rows
        dup = ts.x[ts.is_synthetic]
        assert all(any(np.array_equal(d, r) for r in x[y == 0]) for d in dup)


@pytest.mark.parametrize("strategy", ["smote", "adasyn"])
def test_smote_adasyn_balance_approximately(feats, strategy):
    x, y = feats
    ts = prepare_training_set(strategy, x, y, seed=0)
    _real_rows_untouched(ts, x, y)
    counts = ts.class_counts()
    assert abs(counts[0] - counts[1]) <= 0.1 * counts[1]
    assert (ts.y[ts.is_synthetic] == 0).all()


def test_adasyn_on_separated_classes_is_not_applicable():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (10, 4)), rng.normal(20, 1, (30, 4))])
    y = np.array([0] * 10 + [1] * 30)
    with pytest.raises(oversample.StrategyNotApplicable, match="adasyn"):
        prepare_training_set("adasyn", x, y, seed=0)


def test_smote_on_pixels_errors(pixels):
    x, y = pixels
    for strategy in ("smote", "adasyn"):
        with pytest.raises(ValueError, match="features"):
            prepare_training_set(strategy, x, y, seed=0)


def test_unknown_strategy_lists_the_known(feats):
    with pytest.raises(ValueError, match="choose one of .*smote"):
        prepare_training_set("mixup", *feats, seed=0)


def test_gan_strategies(pixels):
    x, y = pixels
    fakes = np.random.default_rng(2).integers(0, 256, (7, 8, 8), dtype=np.uint8)
    ts = prepare_training_set("gan", x, y, seed=0, synthetic_x=fakes, synthetic_class=0)
    _real_rows_untouched(ts, x, y)
    assert ts.n_synthetic == 7 and (ts.y[ts.is_synthetic] == 0).all()
    assert np.array_equal(ts.x[ts.is_synthetic], fakes) and not ts.augment

    keep = np.array([True, False, True, False, False, False, True])
    tf_ = prepare_training_set("gan_filtered", x, y, seed=0, synthetic_x=fakes, synthetic_class=0,
                               synthetic_keep=keep)
    _real_rows_untouched(tf_, x, y)
    assert np.array_equal(tf_.x[tf_.is_synthetic], fakes[keep])
    ti = prepare_training_set("gan_filtered", x, y, seed=0, synthetic_x=fakes, synthetic_class=0,
                              synthetic_keep=np.flatnonzero(keep))
    assert np.array_equal(ti.x, tf_.x)

    tw = prepare_training_set("gan_weighted", x, y, seed=0, synthetic_x=fakes, synthetic_class=0,
                              synthetic_weight=0.25)
    _real_rows_untouched(tw, x, y)
    assert (tw.sample_weight[~tw.is_synthetic] == 1).all()
    assert (tw.sample_weight[tw.is_synthetic] == 0.25).all()

    ta = prepare_training_set("gan_aug", x, y, seed=0, synthetic_x=fakes, synthetic_class=0)
    assert ta.augment and ta.n_synthetic == 7


def test_gan_errors(pixels):
    x, y = pixels
    with pytest.raises(ValueError, match="run notebook 03 first"):
        prepare_training_set("gan", x, y, seed=0, synthetic_class=0)
    fakes = np.zeros((3, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="synthetic_keep"):
        prepare_training_set("gan_filtered", x, y, seed=0, synthetic_x=fakes, synthetic_class=0)
    with pytest.raises(ValueError, match="synthetic_class"):
        prepare_training_set("gan", x, y, seed=0, synthetic_x=fakes)
    with pytest.raises(ValueError, match="shape"):
        prepare_training_set("gan", x, y, seed=0, synthetic_x=np.zeros((3, 4, 4), np.uint8),
                             synthetic_class=0)
    with pytest.raises(ValueError, match="unscale_images"):
        prepare_training_set("gan", x, y, seed=0, synthetic_x=fakes / 255.0, synthetic_class=0)


@pytest.mark.parametrize("strategy", ["random", "smote", "adasyn"])
def test_determinism(feats, strategy):
    x, y = feats
    a = prepare_training_set(strategy, x, y, seed=5)
    b = prepare_training_set(strategy, x, y, seed=5)
    c = prepare_training_set(strategy, x, y, seed=6)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_select_realistic():
    mask = oversample.select_realistic(np.array([0.1, 0.9, 0.5, 0.7]), 0.5)
    assert mask.tolist() == [False, True, False, True]
    assert oversample.select_realistic(np.arange(10), 0.25).sum() == 3  # ceil
    with pytest.raises(ValueError):
        oversample.select_realistic(np.arange(3), 0.0)
