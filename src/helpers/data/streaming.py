"""Images from files as a ``tf.data`` pipeline: decode and resize in parallel, cache once, shuffle, prefetch.

:func:`decode_dataset` decodes files (``decoder="cv2"``: the pixels of :func:`helpers.data.read_image`;
``"tf"``: ``tf.io.decode_image`` + area resizing); :func:`build_cache` does it once into
``<cache_root>/<S>px-<decoder>-<key>/images.npy``, read back as a memory map; :func:`training_dataset`
batches arrays and caches for ``Model.fit`` in a permutation seeded by ``(seed, epoch)``;
:func:`stream_files` does both in one call. ``benchmarks/bench_streaming.py`` measures it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DECODERS", "cache_key", "cache_folder", "decode_dataset", "build_cache", "open_cache",
    "is_cached", "sources_digest", "gather", "training_dataset", "epoch_orders", "stream_files",
]

#: ``"cv2"``: :func:`helpers.data.read_image` inside ``tf.numpy_function`` (OpenCV releases the GIL, so
#: the parallel map decodes on every core); ``"tf"``: ``tf.io.decode_image`` and ``tf.image.resize``.
DECODERS: tuple[str, ...] = ("cv2", "tf")
_CACHE_FILE = "images.npy"
_INFO_FILE = "cache.json"
_CACHE_VERSION = 1


def _check(paths: Sequence[str | os.PathLike], image_size: int, decoder: str) -> tuple[list[str], int]:
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}")
    size = int(image_size)
    if size < 1 or size != image_size:
        raise ValueError(f"image_size must be a positive integer, not {image_size!r}")
    return [os.fspath(p) for p in paths], size


def cache_key(paths: Sequence[str | os.PathLike], image_size: int, decoder: str = "cv2") -> str:
    """16 hex digits from every file's name (without folder) and size in bytes, the image size and decoder."""
    names, size = _check(paths, image_size, decoder)
    from helpers.core.provenance import files_digest

    return files_digest(names, prefix=f"v{_CACHE_VERSION};{size};{decoder};{len(names)};")


def cache_folder(cache_root: str | os.PathLike, paths: Sequence[str | os.PathLike], image_size: int,
                 decoder: str = "cv2") -> Path:
    """``<cache_root>/<S>px-<decoder>-<key>``: where :func:`build_cache` keeps these images."""
    return Path(cache_root) / f"{int(image_size)}px-{decoder}-{cache_key(paths, image_size, decoder)}"


def _decode_fn(image_size: int, decoder: str) -> Callable[[Any], Any]:
    import tensorflow as tf

    if decoder == "cv2":
        from helpers.data import read_image

        def read(path: bytes) -> np.ndarray:
            return read_image(path.decode(), image_size)[0]

        def decode(path: Any) -> Any:
            img = tf.numpy_function(read, [path], tf.uint8, stateful=False)
            img.set_shape((image_size, image_size))
            return img

        return decode

    def decode_tf(path: Any) -> Any:
        img = tf.io.decode_image(tf.io.read_file(path), channels=1, dtype=tf.uint8, expand_animations=False)
        img = tf.image.resize(tf.cast(img, tf.float32), (image_size, image_size), method="area")
        img = tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)[:, :, 0]
        img.set_shape((image_size, image_size))
        return img

    return decode_tf


def decode_dataset(
    paths: Sequence[str | os.PathLike], image_size: int, *, decoder: str = "cv2", batch_size: int = 256,
    num_parallel_calls: int | None = None,
) -> Any:
    """``tf.data.Dataset`` of uint8 ``(B, S, S)`` batches of the decoded, resized files, in path order."""
    import tensorflow as tf

    names, size = _check(paths, image_size, decoder)
    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else int(num_parallel_calls)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(names, dtype=tf.string))
    ds = ds.map(_decode_fn(size, decoder), num_parallel_calls=parallel, deterministic=True)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


def is_cached(cache_root: str | os.PathLike, paths: Sequence[str | os.PathLike], image_size: int,
              decoder: str = "cv2") -> bool:
    """True when :func:`build_cache` finished these images at this size (opening it decodes nothing)."""
    folder = cache_folder(cache_root, paths, image_size, decoder)
    return (folder / _INFO_FILE).is_file() and (folder / _CACHE_FILE).is_file()


def open_cache(folder: str | os.PathLike) -> np.memmap:
    """The finished cache in ``folder`` as a read-only uint8 ``(N, S, S)`` memory map."""
    from helpers.core.artifacts import ArtifactError

    folder = Path(folder)
    info_path, data_path = folder / _INFO_FILE, folder / _CACHE_FILE
    if not info_path.is_file() or not data_path.is_file():
        raise ArtifactError(f"{folder} holds no finished image cache; build it with helpers.data.streaming.build_cache")
    info = json.loads(info_path.read_text())
    images = np.load(data_path, mmap_mode="r")
    want = (int(info["n"]), int(info["image_size"]), int(info["image_size"]))
    if images.shape != want or images.dtype != np.uint8:
        raise ArtifactError(f"{data_path} holds {images.dtype} {images.shape}, its {info_path.name} says uint8 "
                            f"{want}: the cache is damaged. Delete {folder} and build it again.")
    return images


def build_cache(
    paths: Sequence[str | os.PathLike], image_size: int, cache_root: str | os.PathLike, *,
    decoder: str = "cv2", batch_size: int = 256, num_parallel_calls: int | None = None,
    log: Callable[[str], Any] | None = print,
) -> np.memmap:
    """Decode and resize ``paths`` once into a cache on disk; return it as a read-only memory map.

    A finished cache for the same files, size and decoder is opened without decoding. A new one is filled
    batch by batch under a temporary name, renamed into place when complete, and ``cache.json`` is
    written last, so an interrupted cache is never used. ``log`` gets one line (None: silent).
    """
    from helpers.core.artifacts import save_json

    names, size = _check(paths, image_size, decoder)
    folder = cache_folder(cache_root, names, size, decoder)
    if is_cached(cache_root, names, size, decoder):
        return open_cache(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{_CACHE_FILE}.{os.getpid()}.tmp"
    t0 = time.perf_counter()
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(names), size, size))
        start = 0
        for batch in decode_dataset(names, size, decoder=decoder, batch_size=batch_size,
                                    num_parallel_calls=num_parallel_calls).as_numpy_iterator():
            out[start:start + len(batch)] = batch
            start += len(batch)
        if start != len(names):
            raise RuntimeError(f"decoded {start} of {len(names)} images into {tmp}")
        out.flush()
        del out
        os.replace(tmp, folder / _CACHE_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    save_json(folder / _INFO_FILE, {"n": len(names), "image_size": size, "decoder": decoder,
                                    "key": folder.name.rsplit("-", 1)[-1], "seconds": round(seconds, 3),
                                    "version": _CACHE_VERSION})
    if log is not None:
        rate = len(names) / seconds if seconds > 0 else float("inf")
        plural = "s" if len(names) != 1 else ""
        log(f"decoded {len(names):,} image{plural} to {size} px in {seconds:.1f} s ({rate:,.0f} images/s) "
            f"into the cache {folder}")
    return open_cache(folder)


def sources_digest(sources: Any) -> str:
    """A short digest of training images given as one array or a list (a cache by its folder's key)."""
    from helpers.core.provenance import array_digest

    parts = []
    for src in sources if isinstance(sources, (list, tuple)) else [sources]:
        filename = getattr(src, "filename", None)
        if isinstance(src, np.memmap) and filename:
            parts.append(f"cache:{Path(filename).parent.name}:{src.shape}")
        else:
            parts.append(array_digest(np.asarray(src)))
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


def _as_sources(sources: Any) -> list[Any]:
    out = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    if not out:
        raise ValueError("no image source given")
    shapes = {tuple(np.shape(s)[1:]) for s in out}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"every source must hold (N, S, S) images of one size, got shapes {[np.shape(s) for s in out]}")
    return out


def gather(sources: Any, indices: Any) -> np.ndarray:
    """uint8 images ``indices`` of the sources indexed as one (source 0 first), in the order asked."""
    srcs = _as_sources(sources)
    idx = np.asarray(indices, dtype=np.int64).ravel()
    ends = np.cumsum([len(s) for s in srcs])
    if idx.size and (idx.min() < 0 or idx.max() >= ends[-1]):
        raise IndexError(f"index out of range for {int(ends[-1])} images")
    which = np.searchsorted(ends, idx, side="right")
    starts = np.r_[0, ends[:-1]]
    out = np.empty((len(idx), *np.shape(srcs[0])[1:]), dtype=np.uint8)
    for k in np.unique(which):
        mask = which == k
        local = idx[mask] - starts[k]
        order = np.argsort(local, kind="stable")  # ascending reads: sequential pages of a memory map
        picked = np.asarray(srcs[k][local[order]])
        out[np.flatnonzero(mask)[order]] = picked
    return out


def epoch_orders(n: int, per_epoch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool = True) -> np.ndarray:
    """Row indices for epochs ``start_epoch..epochs-1``, shape ``(epochs - start_epoch, per_epoch)``.

    Each epoch is a permutation seeded by ``(seed, epoch)`` alone, cut to ``per_epoch`` (``shuffle=False``:
    ``0, 1, 2, ...``), so a resumed run sees the batches of an uninterrupted one.
    """
    if epochs <= start_epoch:
        return np.zeros((0, per_epoch), dtype=np.int64)
    if not shuffle:
        return np.tile(np.arange(per_epoch, dtype=np.int64) % n, (epochs - start_epoch, 1))
    return np.stack([np.random.default_rng([int(seed), int(e)]).permutation(n)[:per_epoch]
                     for e in range(start_epoch, epochs)]).astype(np.int64)


def training_dataset(
    sources: Any, labels: Any, *, batch_size: int, seed: int = 0, epochs: int = 1, start_epoch: int = 0,
    steps_per_epoch: int | None = None, shuffle: bool = True, augment: Any = None, sample_weight: Any = None,
    num_parallel_calls: int | None = None,
) -> Any:
    """Batches ``(float32 (B, S, S, 1) on 0-255, float32 labels[, weights])`` for ``Model.fit``.

    ``sources``: one uint8 ``(N, S, S)`` array or cache memory map, or a list of them indexed as one;
    ``labels``: one row per image. Epochs ``start_epoch .. epochs - 1`` follow in one dataset, each a
    permutation seeded by ``(seed, epoch)`` (cut to ``steps_per_epoch * batch_size``); ``augment`` is a
    Keras layer called with ``training=True``.
    """
    import tensorflow as tf

    srcs = _as_sources(sources)
    n = int(sum(len(s) for s in srcs))
    y = np.asarray(labels, dtype=np.float32)
    if len(y) != n:
        raise ValueError(f"{n} images but {len(y)} label rows")
    if n == 0 or batch_size < 1 or epochs < 1:
        raise ValueError(f"need images, batch_size >= 1 and epochs >= 1 (got {n}, {batch_size}, {epochs})")
    steps = steps_per_epoch or -(-n // batch_size)
    per_epoch = min(n, int(steps) * int(batch_size))
    order = epoch_orders(n, per_epoch, seed, start_epoch, epochs, shuffle)
    size = int(np.shape(srcs[0])[1])
    y_t = tf.constant(y)
    w_t = None if sample_weight is None else tf.constant(np.asarray(sample_weight, dtype=np.float32).ravel())

    def load(idx: Any) -> tuple:
        x = tf.numpy_function(lambda i: gather(srcs, i), [idx], tf.uint8, stateful=False)
        x = tf.reshape(tf.cast(x, tf.float32), (-1, size, size, 1))
        out = (x, tf.gather(y_t, idx))
        return out if w_t is None else (*out, tf.gather(w_t, idx))

    ds = tf.data.Dataset.from_tensor_slices(order).flat_map(
        lambda idx: tf.data.Dataset.from_tensor_slices(idx).batch(int(batch_size)))
    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else int(num_parallel_calls)
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)
    if augment is not None:
        ds = ds.map(lambda x, *rest: (augment(x, training=True), *rest))
    return ds.prefetch(tf.data.AUTOTUNE)


def stream_files(
    paths: Sequence[str | os.PathLike], labels: Any, image_size: int, *, batch_size: int,
    cache_root: str | os.PathLike | None = None, decoder: str = "cv2", seed: int = 0, epochs: int = 1,
    shuffle: bool = True, augment: Any = None, num_parallel_calls: int | None = None,
    log: Callable[[str], Any] | None = print,
) -> Any:
    """Training batches from image files: through a cache (:func:`build_cache`) with ``cache_root``,
    else decoded again every epoch in a seeded, reshuffled order.
    """
    import tensorflow as tf

    names, size = _check(paths, image_size, decoder)
    if cache_root is not None:
        images = build_cache(names, size, cache_root, decoder=decoder, num_parallel_calls=num_parallel_calls,
                             log=log)
        return training_dataset(images, labels, batch_size=batch_size, seed=seed, epochs=epochs, shuffle=shuffle,
                                augment=augment, num_parallel_calls=num_parallel_calls)
    y = np.asarray(labels, dtype=np.float32)
    if len(y) != len(names):
        raise ValueError(f"{len(names)} files but {len(y)} label rows")
    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else int(num_parallel_calls)
    decode = _decode_fn(size, decoder)
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(names, dtype=tf.string), y))
    if shuffle:
        ds = ds.shuffle(len(names), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat(int(epochs)).map(lambda p, t: (tf.cast(decode(p), tf.float32)[..., None], t),
                                    num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(int(batch_size))
    if augment is not None:
        ds = ds.map(lambda x, t: (augment(x, training=True), t))
    return ds.prefetch(tf.data.AUTOTUNE)
