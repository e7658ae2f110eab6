"""Benchmark helpers.data.phantom.generate_phantoms against its goal (1,000 images at 128 px in 5 s).

Usage: python benchmarks/bench_phantom.py [--n 1000] [--size 128] [--repeats 3]

Prints images/s and seconds per 1,000 images (median of the repeats after one warm-up) for the
requested size and for 64 px, and exits 1 when the requested size misses the goal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from helpers.data.phantom import generate_phantoms  # noqa: E402

GOAL_S_PER_1000 = 5.0


def time_generation(n: int, size: int, repeats: int) -> float:
    """Median wall-clock seconds for generate_phantoms(n, size) after one small warm-up."""
    generate_phantoms(min(n, 20), size, seed=123)  # warm-up: imports, grid caches
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        generate_phantoms(n, size, seed=r)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images per run (default 1000)")
    parser.add_argument("--size", type=int, default=128, help="image size in px (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        parser.error("--n and --repeats must be >= 1")

    results = {}
    for size in dict.fromkeys((args.size, 64)):
        t = time_generation(args.n, size, args.repeats)
        per_1000 = t * 1000 / args.n
        results[size] = per_1000
        print(f"{args.n} images at {size} px: median {t:.3f} s over {args.repeats} runs, "
              f"{args.n / t:,.0f} images/s, {per_1000:.2f} s per 1,000")

    per_1000 = results[args.size]
    ok = per_1000 <= GOAL_S_PER_1000
    print(f"goal: <= {GOAL_S_PER_1000:.1f} s per 1,000 at {args.size} px -> "
          f"{'OK' if ok else 'TOO SLOW'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
