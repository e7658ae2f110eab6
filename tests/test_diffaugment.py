"""Tests for helpers.gan.diffaugment: shapes, value ranges, identity, repeatability, gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.gan import diffaugment as DA


@pytest.fixture(scope="module")
def batch() -> tf.Tensor:
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32"))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_shapes_dtype_and_change(batch, policy):
    out = DA.diff_augment(batch, policy, seed=0)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert np.isfinite(out.numpy()).all()
    assert not np.array_equal(out.numpy(), batch.numpy())


@pytest.mark.parametrize("policy", ["", None, ",", []])
def test_empty_policy_is_the_identity(batch, policy):
    assert DA.diff_augment(batch, policy, seed=0) is batch


def test_translation_moves_whole_pixels_with_zero_fill(batch):
    x = np.arange(1, 16 * 16 + 1, dtype="float32").reshape(1, 16, 16, 1).repeat(6, axis=0)
    out = DA.rand_translation(tf.constant(x), seed=keras.random.SeedGenerator(3)).numpy()[..., 0]
    shifts = set()
    for img in out:
        rows, cols = np.nonzero(img)
        top, left = rows.min(), cols.min()
        source = int(img[top, left]) - 1
        dy, dx = source // 16 - top, source % 16 - left  # output (i, j) shows input (i + dy, j + dx)
        assert abs(dy) <= 2 and abs(dx) <= 2  # at most 1/8 of the size
        expected = np.zeros((16, 16), "float32")
        for i in range(16):
            for j in range(16):
                if 0 <= i + dy < 16 and 0 <= j + dx < 16:
                    expected[i, j] = x[0, i + dy, j + dx, 0]
        assert np.array_equal(img, expected)
        shifts.add((dy, dx))
    assert len(shifts) > 1  # each image gets its own shift
    values = DA.rand_translation(batch, seed=0).numpy()
    assert set(np.unique(values)) <= set(np.unique(batch.numpy())) | {0.0}  # values only move


def test_cutout_zeros_a_square_and_keeps_the_rest(batch):
    ones = tf.ones((16, 28, 28, 1))
    out = DA.rand_cutout(ones, seed=1).numpy()
    assert set(np.unique(out)) <= {0.0, 1.0}
    zeroed = (out == 0).reshape(16, -1).sum(axis=1)
    assert (zeroed <= 14 * 14).all() and (zeroed > 0).all()
    values = DA.rand_cutout(batch, seed=1).numpy()
    kept = values != 0
    assert np.array_equal(values[kept], batch.numpy()[kept])


def test_color_shifts_brightness_and_scales_contrast_in_bounds(batch):
    x = batch.numpy()
    bright = DA.rand_brightness(batch, seed=2).numpy()
    shift = (bright - x).reshape(8, -1)
    assert np.allclose(shift, shift[:, :1], atol=1e-6) and (np.abs(shift[:, 0]) <= 0.5).all()
    contrast = DA.rand_contrast(batch, seed=2).numpy()
    ratio = contrast.reshape(8, -1).std(axis=1) / x.reshape(8, -1).std(axis=1)
    assert ((ratio >= 0.5 - 1e-5) & (ratio <= 1.5 + 1e-5)).all()
    assert np.allclose(contrast.reshape(8, -1).mean(axis=1), x.reshape(8, -1).mean(axis=1), atol=1e-5)
    assert DA.rand_saturation(batch, seed=2) is batch  # one channel: nothing to saturate
    out = DA.diff_augment(batch, "color", seed=2).numpy()
    assert np.abs(out).max() <= 1.5 * (1.0 + 0.5) + 1.0  # |x| <= 1, shift <= 0.5, scale <= 1.5


def test_repeatable_with_a_seed_and_new_draws_from_a_generator(batch):
    a = DA.diff_augment(batch, DA.DEFAULT_POLICY, seed=5).numpy()
    b = DA.diff_augment(batch, DA.DEFAULT_POLICY, seed=5).numpy()
    assert np.array_equal(a, b)
    gen = keras.random.SeedGenerator(5)
    first = DA.diff_augment(batch, DA.DEFAULT_POLICY, seed=gen).numpy()
    second = DA.diff_augment(batch, DA.DEFAULT_POLICY, seed=gen).numpy()
    assert not np.array_equal(first, second)


def test_differentiable_in_a_graph(batch):
    gen = keras.random.SeedGenerator(0)

    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(DA.diff_augment(x, DA.DEFAULT_POLICY, seed=gen))
        return tape.gradient(total, x)

    g = grad(batch).numpy()
    assert g.shape == batch.shape and np.isfinite(g).all() and np.abs(g).sum() > 0


def test_policy_parsing():
    assert DA.parse_policy(" Translation, cutout ") == ("translation", "cutout")
    assert DA.policy_string(["color", "cutout"]) == "color,cutout"
    assert DA.policy_string(None) == ""
    with pytest.raises(ValueError, match="unknown DiffAugment policy 'flip'"):
        DA.parse_policy("flip")
    with pytest.raises(ValueError, match="twice"):
        DA.parse_policy("color,color")
