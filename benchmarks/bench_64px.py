"""What one unit of each chapter's work costs at 64 px: the numbers the kermany64 profile is sized from.

Times, on random uint8 images of the Kaggle training split's size (shape-only work, so no data
needed), with medians over a few repeats after a warm-up:

* a GAN training step (one D and one G update, batch 64) of the paper's DCGAN (``dcgan``) and the
  series' default (``sn_diffaug_ema``), generator ``--generator-filters`` filters;
* an epoch of chapter 5's CNN and of DenseNet121 from scratch (64 px inside), extrapolated from
  steps of batch 64 to ``--n-train`` images;
* an epoch of ResNet-18 task training and ResNet-18 feature extraction at 64 px;
* an epoch of chapter 3's domain encoder.

Each number is given as wall seconds and as CPU seconds of this process (all its threads): on a
shared machine only the second is stable. Writes build/benchmarks/bench_64px.json and prints a
Markdown table::

    nice -n 10 .venv/bin/python benchmarks/bench_64px.py --steps 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from helpers.core.artifacts import atomic_write  # noqa: E402

SIZE = 64
ROOT = Path(__file__).resolve().parents[1]


def median_seconds(step: Callable[[], object], steps: int, warmup: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process, all threads) of ``step()``.

    On a shared machine the wall time grows with the other jobs; the CPU time does not, so
    CPU seconds / cores is the wall time the step would take on idle cores with perfect threading.
    """
    wall, cpu = [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if i >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def gan_step(preset: str, images: np.ndarray, filters: int) -> Callable[[], object]:
    """One compiled ``DCGAN.train_step`` of ``preset`` on batches of 64."""
    from helpers.gan import DCGAN, build_networks, gan_options, make_gan_dataset
    from helpers.gan.losses import make_loss

    opts = gan_options(preset)
    keras.utils.set_random_seed(0)
    g, d = build_networks(SIZE, opts, generator_filters=filters)
    model = DCGAN(g, d, loss=make_loss(opts), r1_gamma=opts["r1_gamma"],
                  diffaugment=opts["diffaugment"], ema_decay=opts["ema_decay"])
    model.compile(d_lr=opts["d_lr"], g_lr=opts["g_lr"], beta_1=opts["beta_1"])
    model.build_optimizers()
    model.make_train_function()
    iterator = iter(make_gan_dataset(images, batch_size=64, seed=0).repeat())
    return lambda: model.train_function(iterator)


def train_step(model: keras.Model, images: np.ndarray) -> Callable[[], object]:
    """One ``train_on_batch`` of 64 images with binary labels (Adam, BCE)."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x = images[:64, ..., None].astype("float32")
    y = (np.arange(64) % 2).astype("float32")
    return lambda: model.train_on_batch(x, y)


def main() -> None:
    from helpers import classifiers
    from helpers.classifiers import features
    from helpers.evaluation import encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=4694, help="training images per epoch (Kaggle train - val)")
    parser.add_argument("--n-minority", type=int, default=1207, help="GAN training images (train NORMAL)")
    parser.add_argument("--generator-filters", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "benchmarks" / "bench_64px.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (512, SIZE, SIZE), dtype=np.uint8)
    epoch_steps = -(-args.n_train // 64)
    rows: dict[str, tuple[float, float]] = {}
    gan_steps = -(-args.n_minority // 64)
    for preset in ("dcgan", "sn_diffaug_ema"):
        wall, cpu = median_seconds(gan_step(preset, images, args.generator_filters), args.steps, args.warmup)
        rows[f"GAN step, {preset}"] = (wall, cpu)
        rows[f"GAN epoch ({gan_steps} steps), {preset}"] = (wall * gan_steps, cpu * gan_steps)
        print(rows, flush=True)
    models = {"cnn": classifiers.build_cnn(SIZE),
              "densenet121": classifiers.build_densenet121(SIZE, None)[0],
              "resnet18_task": keras.Sequential([features.build_extractor(features.build_resnet18(SIZE), SIZE),
                                                 keras.layers.Dense(1, activation="sigmoid")]),
              "domain_encoder": encoder.train_domain_encoder(images[:64], np.arange(64) % 2, epochs=1)}
    for name, model in models.items():
        wall, cpu = median_seconds(train_step(model, images), args.steps, args.warmup)
        rows[f"{name} step (batch 64)"] = (wall, cpu)
        rows[f"{name} epoch ({epoch_steps} steps)"] = (wall * epoch_steps, cpu * epoch_steps)
        print(rows, flush=True)
    extractor = features.build_extractor(features.build_resnet18(SIZE), SIZE)
    wall, cpu = median_seconds(lambda: features.extract_features(extractor, images), 3, 1)
    rows[f"ResNet-18 features, {len(images)} images"] = (wall, cpu)
    result = {"size": SIZE, "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(), "args": {
        k: str(v) for k, v in vars(args).items()}, "wall_and_cpu_seconds": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print("| what (64 px) | wall s | CPU s |\n|---|---|---|")
    for key, (wall, cpu) in rows.items():
        print(f"| {key} | {wall:.3f} | {cpu:.3f} |")
    print(f"\nload average {os.getloadavg()}; wrote {args.out}")


if __name__ == "__main__":
    main()
