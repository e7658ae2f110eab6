"""Seconds per classifier run: a new model per run (built, compiled, traced) vs one model per grid.

The deep grid (chapter 5) re-uses one model per architecture and only re-draws its weights per run
(``helpers.classifiers.reset_weights``), so Keras traces the train and predict functions once per
grid instead of once per run. This benchmark fits the same short runs both ways on random images and
prints (and writes to ``build/benchmarks/classifiers.json``) the per-run wall time of each.

    python benchmarks/bench_classifiers.py --models cnn densenet121 --runs 3 --steps 4 --size 32
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _data(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(np.int64)
    y[:2] = [0, 1]
    x = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    return x, y


def _build(name: str, size: int):
    from helpers import classifiers

    if name == "cnn":
        return classifiers.build_cnn(size)
    return classifiers.build_densenet121(max(size, 32), None, image_size=size)[0]


def bench(name: str, runs: int, steps: int, size: int, batch: int) -> dict[str, list[float]]:
    import keras

    from helpers import classifiers
    from helpers.core.runtime import set_seeds
    from helpers.oversampling.oversample import prepare_training_set

    x, y = _data(batch * steps, size, 0)
    xv, yv = _data(64, size, 1)
    ts = prepare_training_set("none", x, y, seed=0)
    out: dict[str, list[float]] = {"new model per run": [], "one model per grid": []}
    for mode in out:
        keras.backend.clear_session()
        kept = None
        for run in range(runs):
            t0 = time.perf_counter()
            set_seeds(run)
            model = _build(name, size)
            if mode == "one model per grid":
                kept = model if kept is None else classifiers.reset_weights(kept, model)
                model = kept
            with tempfile.TemporaryDirectory() as tmp:
                fit = classifiers.FitSettings(epochs=1, batch_size=batch, seed=run, patience=None)
                classifiers.fit_classifier(model, ts, xv, yv, fit, run_dir=tmp)
            classifiers.predict_scores(model, xv)
            out[mode].append(round(time.perf_counter() - t0, 2))
            print(f"{name:11s} {mode:18s} run {run + 1}: {out[mode][-1]:.1f} s", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "densenet121"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="training steps per run (one epoch)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    table = {m: bench(m, args.runs, args.steps, args.size, args.batch) for m in args.models}
    print("\nper-run seconds (first run, then the mean of the later runs):")
    for m, modes in table.items():
        for mode, times in modes.items():
            later = np.mean(times[1:]) if len(times) > 1 else float("nan")
            print(f"  {m:11s} {mode:18s} first {times[0]:6.1f}  later {later:6.1f}")
    path = ROOT / "build" / "benchmarks" / "classifiers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "seconds": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
