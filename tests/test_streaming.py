"""helpers.data.streaming: decode once into a disk cache, read it back as memory maps, batch it for fit."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from helpers.data import read_image, streaming
from helpers.data.phantom import generate_phantoms


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    images, _ = generate_phantoms(12, 48, seed=3)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"{i:05d}.png"
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    rgb = folder / "rgb.png"  # a colour file is made gray like read_image does
    cv2.imwrite(str(rgb), np.dstack([images[0], images[1], images[2]]))
    return folder, paths + [str(rgb)]


def test_the_cache_holds_exactly_the_loader_pixels_and_is_built_once(png_folder, tmp_path):
    _, paths = png_folder
    lines = []
    cached = streaming.build_cache(paths, 32, tmp_path, batch_size=5, log=lines.append)
    assert isinstance(cached, np.memmap) and cached.shape == (len(paths), 32, 32) and cached.dtype == np.uint8
    expected = np.stack([read_image(p, 32)[0] for p in paths])
    np.testing.assert_array_equal(cached, expected)  # the cv2 decoder is read_image / LazyImages
    folder = streaming.cache_folder(tmp_path, paths, 32)
    assert folder.parent == tmp_path and folder.name.startswith("32px-cv2-") and len(lines) == 1
    info = json.loads((folder / "cache.json").read_text())
    assert info["n"] == len(paths) and info["image_size"] == 32
    assert streaming.is_cached(tmp_path, paths, 32)
    stamp = (folder / "images.npy").stat().st_mtime_ns
    again = streaming.build_cache(paths, 32, tmp_path, log=lines.append)  # opened, not decoded
    assert len(lines) == 1 and (folder / "images.npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again, expected)
    with pytest.raises(ValueError):
        again[0, 0, 0] = 1  # read-only


def test_another_size_list_or_file_gets_its_own_cache(png_folder, tmp_path):
    _, paths = png_folder
    key = streaming.cache_key(paths, 32)
    assert streaming.cache_key(paths, 28) != key
    assert streaming.cache_key(paths[:-1], 32) != key
    assert streaming.cache_key(paths[::-1], 32) != key
    assert streaming.cache_key(paths, 32, "tf") != key
    copy = tmp_path / "changed.png"
    img = read_image(paths[0], 48)[0]
    cv2.imwrite(str(copy), np.flipud(np.pad(img, 3)))
    renamed = tmp_path / os.path.basename(paths[0])
    renamed.write_bytes(copy.read_bytes())  # same name, other content and size
    assert streaming.cache_key([str(renamed), *paths[1:]], 32) != key


def test_an_interrupted_build_leaves_no_cache(png_folder, tmp_path):
    _, paths = png_folder
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(Exception, match="broken.png"):
        streaming.build_cache([*paths[:3], str(broken)], 32, tmp_path / "cache", log=None)
    assert not streaming.is_cached(tmp_path / "cache", [*paths[:3], str(broken)], 32)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_the_tf_decoder_is_within_a_grey_level_of_cv2(png_folder, tmp_path):
    _, paths = png_folder
    gray = paths[:-1]
    a = streaming.build_cache(gray, 32, tmp_path, log=None)
    b = streaming.build_cache(gray, 32, tmp_path, decoder="tf", log=None)
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.5
    with pytest.raises(ValueError, match="decoder"):
        streaming.cache_key(gray, 32, "pil")


def test_gather_indexes_several_sources_as_one():
    a = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    b = 100 + np.arange(3 * 4, dtype=np.uint8).reshape(3, 2, 2)
    got = streaming.gather([a, b], [6, 0, 4, 5, 1])
    np.testing.assert_array_equal(got, np.concatenate([a, b])[[6, 0, 4, 5, 1]])
    with pytest.raises(IndexError):
        streaming.gather([a, b], [8])
    with pytest.raises(ValueError, match="one size"):
        streaming.gather([a, np.zeros((2, 3, 3), np.uint8)], [0])


def test_training_batches_are_seeded_permutations_per_epoch(png_folder, tmp_path):
    _, paths = png_folder
    cached = streaming.build_cache(paths, 16, tmp_path, log=None)
    synthetic = np.full((3, 16, 16), 7, dtype=np.uint8)
    n = len(cached) + len(synthetic)
    labels = np.eye(n, dtype=np.float32)  # one-hot: each row names its image
    ds = streaming.training_dataset([cached, synthetic], labels, batch_size=4, seed=5, epochs=2)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert batches[0][0].shape[1:] == (16, 16, 1) and batches[0][0].dtype == np.float32
    order = np.concatenate([y.argmax(axis=1) for _, y in batches])
    assert len(order) == 2 * n
    first, second = order[:n], order[n:]
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n)) and list(first) != list(second)
    pool = np.concatenate([np.asarray(cached), synthetic])
    for x, y in batches:  # every image arrives with its own label
        np.testing.assert_array_equal(x[..., 0], pool[y.argmax(axis=1)])
    again = np.concatenate([y.numpy().argmax(axis=1) for _, y in
                            streaming.training_dataset([cached, synthetic], labels, batch_size=4, seed=5, epochs=2)])
    np.testing.assert_array_equal(order, again)
    capped = list(streaming.training_dataset(cached, labels[:len(cached)], batch_size=4, steps_per_epoch=2, epochs=3))
    assert len(capped) == 6 and all(len(x) == 4 for x, _ in capped)
    with pytest.raises(ValueError, match="label rows"):
        streaming.training_dataset(cached, labels, batch_size=4)


def test_stream_files_with_and_without_a_cache(png_folder, tmp_path):
    _, paths = png_folder
    labels = np.arange(len(paths), dtype=np.float32)[:, None]
    plain = list(streaming.stream_files(paths, labels, 16, batch_size=5, seed=1, log=None))
    assert sum(len(x) for x, _ in plain) == len(paths) and plain[0][0].shape[1:] == (16, 16, 1)
    seen = np.sort(np.concatenate([y.numpy()[:, 0] for _, y in plain]))
    np.testing.assert_array_equal(seen, labels[:, 0])
    cached = list(streaming.stream_files(paths, labels, 16, batch_size=5, cache_root=tmp_path, log=None))
    assert streaming.is_cached(tmp_path, paths, 16) and sum(len(x) for x, _ in cached) == len(paths)
    decoded = [b for b in streaming.decode_dataset(paths, 16, batch_size=4).as_numpy_iterator()]
    np.testing.assert_array_equal(np.concatenate(decoded), streaming.open_cache(streaming.cache_folder(tmp_path, paths, 16)))


def test_sources_digest_names_a_cache_by_its_key(png_folder, tmp_path):
    _, paths = png_folder
    cached = streaming.build_cache(paths, 16, tmp_path, log=None)
    arr = np.asarray(cached).copy()
    assert streaming.sources_digest(cached) == streaming.sources_digest(streaming.build_cache(paths, 16, tmp_path))
    assert streaming.sources_digest([cached, arr[:2]]) != streaming.sources_digest(cached)
    assert streaming.sources_digest(arr) == streaming.sources_digest(arr.copy())
