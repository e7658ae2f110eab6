"""The Figure-2 augmentation gallery."""

from __future__ import annotations

import numpy as np

from helpers.augment import augmentation_gallery


def test_gallery_entries_differ_from_original_and_keep_shape():
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(110, 40, size=(28, 28)), 0, 255).astype(np.uint8)
    img[4:12, 6:20] = 230  # asymmetric structure: flips and rotations must move it
    gallery = augmentation_gallery(img, seed=0)
    assert list(gallery)[0] == "original"
    assert np.array_equal(gallery["original"], img)
    assert len(gallery) == 10
    for label, out in gallery.items():
        assert out.shape == img.shape and out.dtype == np.uint8, label
        if label != "original":
            assert not np.array_equal(out, img), label
    train = [k for k in gallery if "(train" in k]
    assert any(k.startswith("horizontal flip") for k in train)
    assert any(k.startswith("rotation -45°") for k in train)
    assert not any(k.startswith("vertical flip") for k in train)
    again = augmentation_gallery(img, seed=0)
    assert all(np.array_equal(gallery[k], again[k]) for k in gallery)
