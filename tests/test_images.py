"""helpers.data.images: the conversions every model and figure goes through."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.images import (
    as_model_batch,
    image_hashes,
    scale_images,
    tile_grid,
    to_uint8,
    unscale_images,
)


def test_scale_round_trip():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    t = scale_images(x)
    assert t.dtype == np.float32 and t.min() == -1.0 and t.max() == 1.0
    np.testing.assert_array_equal(unscale_images(t), x)
    np.testing.assert_array_equal(to_uint8(t[None, ..., None]), x[None])
    u = scale_images(x, to="unit")
    assert u.min() == 0.0 and u.max() == 1.0
    np.testing.assert_array_equal(unscale_images(u, frm="unit"), x)
    assert unscale_images(np.array([-3.0, 3.0])).tolist() == [0, 255]
    with pytest.raises(ValueError, match="tanh"):
        scale_images(x, to="sigmoid")
    with pytest.raises(ValueError, match="already scaled"):
        scale_images(t)


def test_as_model_batch_adds_the_channel_and_refuses_unit_floats():
    x = np.zeros((2, 8, 8), np.uint8)
    assert as_model_batch(x).shape == (2, 8, 8, 1) and as_model_batch(x).dtype == np.float32
    with pytest.raises(ValueError, match="grayscale images"):
        as_model_batch(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="unscale_images"):
        as_model_batch(np.full((2, 8, 8), 0.5, np.float32))


def test_hashes_and_tiles():
    a = np.zeros((3, 4, 4), np.uint8)
    a[1, 0, 0] = 1
    h = image_hashes(a)
    assert h[0] == h[2] != h[1]
    grid = tile_grid(a[..., None], ncols=3, pad=1)
    assert grid.shape == (6, 16) and grid[1, 6] == 1
