"""Tests for helpers.data.phantom (procedural chest X-ray phantoms); each runs in well under a second."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data.phantom import (
    CLASS_NAMES,
    DEFAULT_MINORITY_FRACTION,
    PHANTOM_LABELS,
    generate_phantoms,
    render_phantom,
)


def _lung_region(size: int) -> np.ndarray:
    """Boolean mask of a box inside both lung fields (relative coordinates, pose-tolerant)."""
    c = (np.arange(size) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(c, c)
    return (np.abs(xx) > 0.3) & (np.abs(xx) < 0.6) & (yy > -0.4) & (yy < 0.25)


def test_constants() -> None:
    assert CLASS_NAMES == ("NORMAL", "PNEUMONIA")
    assert PHANTOM_LABELS[:5] == ("Cardiomegaly", "Effusion", "Nodule", "Mass", "Pneumothorax")
    assert DEFAULT_MINORITY_FRACTION == pytest.approx(1 / 3.9)


@pytest.mark.parametrize("size", [16, 28, 32, 64, 128])
def test_shapes_and_dtypes(size: int) -> None:
    x, y = generate_phantoms(6, size, seed=1)
    assert x.shape == (6, size, size) and x.dtype == np.uint8
    assert y.shape == (6,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}


def test_large_size_and_empty() -> None:
    x, y = generate_phantoms(1, 512, seed=0)
    assert x.shape == (1, 512, 512)
    x, y = generate_phantoms(0, 32)
    assert x.shape == (0, 32, 32) and y.shape == (0,)
    x, y = generate_phantoms(0, 32, multi_label=True)
    assert x.shape == (0, 32, 32) and y.shape == (0, len(PHANTOM_LABELS))


@pytest.mark.parametrize(("n", "fraction"), [(10, 0.3), (37, DEFAULT_MINORITY_FRACTION),
                                             (20, 0.0), (20, 1.0), (101, 0.5)])
def test_exact_class_counts(n: int, fraction: float) -> None:
    _, y = generate_phantoms(n, 16, seed=3, normal_fraction=fraction)
    assert int((y == 0).sum()) == round(n * fraction)
    assert int((y == 1).sum()) == n - round(n * fraction)


def test_labels_are_shuffled() -> None:
    _, y = generate_phantoms(60, 16, seed=0, normal_fraction=0.5)
    assert not (np.all(y[:30] == 0) or np.all(y[:30] == 1))


def test_determinism() -> None:
    a = generate_phantoms(8, 32, seed=7)
    b = generate_phantoms(8, 32, seed=7)
    c = generate_phantoms(8, 32, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # images differ from each other within one call as well
    assert not np.array_equal(a[0][0], a[0][1])


def test_does_not_touch_global_random_state() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    generate_phantoms(3, 32, seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_render_phantom_direct() -> None:
    img = render_phantom(np.random.default_rng(0), 64, pneumonia=True, findings=PHANTOM_LABELS)
    assert img.shape == (64, 64) and img.dtype == np.uint8
    img2 = render_phantom(np.random.default_rng(0), 64, pneumonia=True, findings=PHANTOM_LABELS)
    np.testing.assert_array_equal(img, img2)


def test_multi_label_shape_and_cooccurrence() -> None:
    x, y = generate_phantoms(300, 16, seed=2, multi_label=True, finding_prevalence=0.3)
    assert x.shape == (300, 16, 16) and x.dtype == np.uint8
    assert y.shape == (300, len(PHANTOM_LABELS)) and y.dtype == np.uint8
    assert set(np.unique(y)) <= {0, 1}
    per_row = y.sum(axis=1)
    assert (per_row >= 2).any(), "findings should co-occur"
    assert (per_row == 0).any(), "some rows should be 'No Finding'"
    assert np.all(np.abs(y.mean(axis=0) - 0.3) < 0.1)


def test_multi_label_per_finding_prevalence() -> None:
    prev = [0.0, 1.0] + [0.0] * (len(PHANTOM_LABELS) - 2)
    _, y = generate_phantoms(20, 16, seed=0, multi_label=True, finding_prevalence=prev)
    assert y[:, 0].sum() == 0 and y[:, 1].sum() == 20 and y[:, 2:].sum() == 0


def test_pneumonia_raises_lung_intensity() -> None:
    x, y = generate_phantoms(200, 64, seed=0, normal_fraction=0.5)
    lung = _lung_region(64)
    means = x[:, lung].mean(axis=1)
    normal, pneumonia = means[y == 0], means[y == 1]
    assert pneumonia.mean() > normal.mean() + 3.0  # grey levels, about 7 expected


def test_findings_change_the_image() -> None:
    base = render_phantom(np.random.default_rng(4), 64)
    for name in PHANTOM_LABELS:
        img = render_phantom(np.random.default_rng(4), 64, findings=[name])
        assert not np.array_equal(img, base), name


def test_broad_intensity_range() -> None:
    x, _ = generate_phantoms(20, 64, seed=5)
    for img in x:
        lo, hi = np.percentile(img, [2, 98])
        assert hi - lo > 100, "image should use a broad intensity range"
        assert (img == 255).mean() < 0.05, "image should not be saturated"
        assert img.std() > 25, "image should not be blank"
    # lungs darker than the abdomen below them (bright = dense)
    lung = _lung_region(64)
    abdomen = np.zeros((64, 64), bool)
    abdomen[58:, 16:48] = True
    assert x[:, lung].mean() + 30 < x[:, abdomen].mean()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, "n must"),
        ({"n": 2.5}, "n must"),
        ({"n": 2, "image_size": 8}, "image_size"),
        ({"n": 2, "image_size": 2048}, "image_size"),
        ({"n": 2, "image_size": 64.0}, "image_size"),
        ({"n": 2, "normal_fraction": 1.5}, "normal_fraction"),
        ({"n": 2, "normal_fraction": -0.1}, "normal_fraction"),
        ({"n": 2, "multi_label": True, "finding_prevalence": 1.2}, "finding_prevalence"),
        ({"n": 2, "multi_label": True, "finding_prevalence": [0.1, 0.2]},
         "finding_prevalence"),
        ({"n": 2, "seed": -3}, "seed"),
    ],
)
def test_argument_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_phantoms(**kwargs)


def test_render_validation() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="findings"):
        render_phantom(rng, 32, findings=["Fracture"])
    with pytest.raises(ValueError, match="image_size"):
        render_phantom(rng, 15)
