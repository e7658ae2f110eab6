"""Classical augmentation: the training layers and the Figure-2 gallery."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.augment import augmentation_gallery, augmentation_layers


def test_gallery_entries_differ_from_original_and_keep_shape():
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(110, 40, size=(28, 28)), 0, 255).astype(np.uint8)
    img[4:12, 6:20] = 230  # asymmetric structure: flips and rotations must move it
    gallery = augmentation_gallery(img, seed=0)
    assert list(gallery)[0] == "original"
    assert np.array_equal(gallery["original"], img)
    assert len(gallery) == 8 and not any("flip" in k for k in gallery)  # training never flips: no flip panels
    for label, out in gallery.items():
        assert out.shape == img.shape and out.dtype == np.uint8, label
        if label != "original":
            assert not np.array_equal(out, img), label
    train = [k for k in gallery if "(train" in k]
    assert any(k.startswith("rotation -45°") for k in train)
    assert not any("flip" in k for k in train)  # training never flips a chest film: the heart sits on one side
    again = augmentation_gallery(img, seed=0)
    assert all(np.array_equal(gallery[k], again[k]) for k in gallery)


def test_clahe_raises_local_contrast_and_refuses_other_input():
    from helpers.data.augment import clahe

    rng = np.random.default_rng(0)
    dull = (100 + rng.integers(0, 12, size=(3, 32, 32))).astype(np.uint8)  # a narrow band of grays
    out = clahe(dull)
    assert out.shape == dull.shape and out.dtype == np.uint8
    assert out.std() > 2 * dull.std()
    np.testing.assert_array_equal(clahe(dull[:1]), out[:1])  # image by image
    with pytest.raises(ValueError, match="uint8 images"):
        clahe(dull.astype(np.float32))


def test_augmentation_layers_shape_and_effect():
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype(np.float32)
    aug = augmentation_layers(seed=0)
    out = np.asarray(aug(x, training=True))
    assert out.shape == x.shape
    assert not np.allclose(out, x)
    np.testing.assert_allclose(np.asarray(aug(x, training=False)), x)


def test_augmentation_layers_seeded():
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype(np.float32)
    a = np.asarray(augmentation_layers(seed=3)(x, training=True))
    b = np.asarray(augmentation_layers(seed=3)(x, training=True))
    np.testing.assert_allclose(a, b)
