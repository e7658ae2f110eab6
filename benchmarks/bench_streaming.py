"""Images per second and peak memory of helpers.data.streaming on a folder of generated PNGs.

Writes ``--n`` phantom chest X-rays (helpers.data.phantom, ``--png-size`` px) as PNG files into a temporary
folder (or ``--folder``, reused when it already holds them), then times, each phase in a fresh
process so that its peak memory is its own:

* ``cache``: :func:`helpers.data.streaming.build_cache` - decode and resize every file to ``--size`` px,
  in parallel, into the cache on disk (the one-time cost; per decoder in ``--decoders``);
* ``epoch``: one pass of :func:`helpers.data.streaming.training_dataset` over the finished cache (seeded
  permutation, batches of ``--batch``, gathered from the memory map, prefetched): what every later
  epoch costs;
* ``stream``: one pass of :func:`helpers.data.streaming.stream_files` without a cache (every epoch decodes
  the files again).

Reported per phase: images per second, the process's peak resident memory (``resource.getrusage``,
``ru_maxrss``; it includes TensorFlow itself, so the baseline after importing it is reported too),
and the peak of Python-level allocations (``tracemalloc``; NumPy buffers count, TensorFlow's own
allocator does not). For scale: the resized images take ``n * size²`` bytes, the PNGs decoded at
full size ``n * png_size²``. Writes build/benchmarks/streaming.json.

    python benchmarks/bench_streaming.py --n 10000 --png-size 256 --size 128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_pngs(folder: Path, n: int, size: int, chunk: int = 250) -> list[str]:
    """``n`` phantom PNGs ``00000.png`` ... in ``folder`` (kept when they are already there)."""
    import cv2

    from helpers.data.phantom import generate_phantoms

    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"{i:05d}.png") for i in range(n)]
    missing = [i for i, p in enumerate(paths) if not os.path.exists(p)]
    t0 = time.perf_counter()
    for start in range(0, len(missing), chunk):
        idx = missing[start:start + chunk]
        images, _ = generate_phantoms(len(idx), size, seed=idx[0])
        for i, img in zip(idx, images, strict=True):
            cv2.imwrite(paths[i], img)
    if missing:
        print(f"wrote {len(missing):,} PNGs of {size} px into {folder} in {time.perf_counter() - t0:.0f} s")
    return paths


def run_phase(phase: str, folder: Path, n: int, size: int, batch: int, decoder: str, cache_root: Path) -> dict:
    """One timed phase in this process (called in a child process by main)."""
    import numpy as np
    import tensorflow as tf  # noqa: F401  (imported first: its memory is the baseline)

    from helpers.data import streaming

    paths = [str(folder / f"{i:05d}.png") for i in range(n)]
    labels = np.zeros((n, 14), dtype=np.float32)
    baseline = _peak_rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    if phase == "cache":
        images = streaming.build_cache(paths, size, cache_root, decoder=decoder, batch_size=batch, log=None)
        count = len(images)
    elif phase == "epoch":
        images = streaming.build_cache(paths, size, cache_root, decoder=decoder, log=None)  # opened, not decoded
        t0 = time.perf_counter()
        count = sum(len(x) for x, _ in streaming.training_dataset(images, labels, batch_size=batch, seed=0))
    elif phase == "stream":
        count = sum(len(x) for x, _ in streaming.stream_files(paths, labels, size, batch_size=batch, decoder=decoder,
                                                              log=None))
    else:
        raise ValueError(phase)
    seconds = time.perf_counter() - t0
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"phase": phase, "decoder": decoder, "images": int(count), "seconds": round(seconds, 2),
            "images_per_s": round(count / seconds, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
            "baseline_rss_mb": round(baseline, 1), "tracemalloc_peak_mb": round(py_peak / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="PNG files (default 10,000)")
    parser.add_argument("--png-size", type=int, default=256, help="size of the PNG files in px (default 256)")
    parser.add_argument("--size", type=int, default=128, help="size to resize to in px (default 128)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    parser.add_argument("--decoders", nargs="+", default=["cv2", "tf"], choices=["cv2", "tf"])
    parser.add_argument("--folder", type=Path, help="where to write (or find) the PNGs; default: a temporary folder")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "streaming.json")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one phase in this process
    parser.add_argument("--decoder", default="cv2", help=argparse.SUPPRESS)
    parser.add_argument("--cache-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:
        print(json.dumps(run_phase(args.phase, args.folder, args.n, args.size, args.batch, args.decoder,
                                   args.cache_root)))
        return 0
    temp = args.folder is None
    folder = Path(tempfile.mkdtemp(prefix="bench-streaming-")) if temp else args.folder
    cache_root = Path(tempfile.mkdtemp(prefix="bench-streaming-cache-"))
    try:
        write_pngs(folder, args.n, args.png_size)
        disk = sum(os.path.getsize(folder / f"{i:05d}.png") for i in range(args.n))
        rows = []
        for decoder in args.decoders:
            for phase in ("cache", "epoch", "stream"):
                cmd = [sys.executable, __file__, "--phase", phase, "--decoder", decoder, "--folder", str(folder),
                       "--n", str(args.n), "--size", str(args.size), "--batch", str(args.batch),
                       "--cache-root", str(cache_root)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{decoder:>4} {phase:<6} {row['images']:,} images in {row['seconds']:7.2f} s: "
                      f"{row['images_per_s']:8,.0f} images/s | peak RSS {row['peak_rss_mb']:6.0f} MB "
                      f"(after importing TensorFlow {row['baseline_rss_mb']:.0f} MB) | tracemalloc peak "
                      f"{row['tracemalloc_peak_mb']:.1f} MB")
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
        if temp:
            shutil.rmtree(folder, ignore_errors=True)
    resized_mb = args.n * args.size**2 / 2**20
    full_mb = args.n * args.png_size**2 / 2**20
    print(f"for scale: {args.n:,} PNGs take {disk / 2**20:.0f} MB on disk; decoded at {args.png_size} px they would "
          f"take {full_mb:.0f} MB of RAM, resized to {args.size} px {resized_mb:.0f} MB")
    result = {"n": args.n, "png_size": args.png_size, "size": args.size, "batch": args.batch,
              "png_mb_on_disk": round(disk / 2**20, 1), "decoded_full_mb": round(full_mb, 1),
              "resized_mb": round(resized_mb, 1), "cpu_count": os.cpu_count(), "python": platform.python_version(),
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
