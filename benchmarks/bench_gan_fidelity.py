"""Fidelity of GAN presets at equal steps on real data: train each preset, then chapter 3's numbers.

Trains every named preset of :data:`helpers.gan.GAN_PRESETS` on the training split's minority
images for the same number of generator steps (batch 64, one seed), then draws ``--n-fake`` fakes
from each and measures them against the real training minority images with
:func:`helpers.evaluation.fidelity.fidelity_report` (k-NN precision/recall, density/coverage, FD ratio, KID,
two-sample tests, diversity, memorisation) in the feature space of one domain encoder trained on the
training split. ``--at-step`` evaluates an earlier checkpoint instead (train with
``--keep-checkpoints`` large enough to keep it). Each preset trains in its own process, so several
can run side by side (``train`` then ``eval``); finished runs are loaded, killed ones resume::

    nice -n 10 .venv/bin/python benchmarks/bench_gan_fidelity.py train sn_diffaug_ema \\
        --dataset kaggle_pneumonia --data-path ~/chest_xray --image-size 64 --steps 1000
    nice -n 10 .venv/bin/python benchmarks/bench_gan_fidelity.py eval sn_diffaug_ema sn_diffaug_ema_resize \\
        --dataset kaggle_pneumonia --data-path ~/chest_xray --image-size 64 --steps 1000

Writes ``<work-dir>/fidelity_<steps>steps_seed<k>.json`` (one row per preset) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from helpers import data, gan  # noqa: E402
from helpers.core.artifacts import atomic_write, save_npz  # noqa: E402
from helpers.evaluation import fidelity
from helpers.evaluation.encoder import train_domain_encoder

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("n_fake", "n_per_set", "precision", "recall", "coverage", "density", "relative_fd_train", "kid_z_train",
           "c2st_auc_pixels", "c2st_auc_features", "diversity_ratio", "memorization_share_pixels", "collapsed",
           "precision_ref_halves", "recall_ref_halves", "coverage_ref_halves")


def load_data(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Train/val/test images and labels of the data set, cached in the work folder."""
    cache = args.work_dir / f"{args.dataset}_{args.image_size}px_seed{args.seed}.npz"
    if not cache.exists():
        splits = data.load_splits(args.dataset, args.image_size, data_path=args.data_path, seed=args.seed)
        arrays = {f"{k}_{a}": np.asarray(getattr(s, a)) for k, s in splits.items() for a in ("images", "labels")}
        save_npz(cache, **arrays)
    with np.load(cache) as d:
        out = {k: d[k] for k in d.files}
    out["minority"] = np.asarray(int(np.argmin(np.bincount(out["train_labels"].reshape(-1)))))
    return out


def run_folder(args: argparse.Namespace, preset: str) -> Path:
    return args.work_dir / f"{preset}_{args.steps}steps_seed{args.seed}"


def train(args: argparse.Namespace, preset: str, d: dict[str, np.ndarray]) -> None:
    """Train (or resume, or load) one preset for ``--steps`` generator steps."""
    images = gan.minority_training_images(d["train_images"], d["train_labels"], int(d["minority"]))
    settings = gan.GanSettings(image_size=args.image_size, steps=args.steps, preset=preset, batch_size=64,
                               generator_filters=args.generator_filters, checkpoint_every=5, grid_every=None,
                               keep_checkpoints=args.keep_checkpoints)
    _, history = gan.train_gan(images, settings, run_folder(args, preset), seed=args.seed, verbose=0,
                               provenance={"data": f"{args.dataset}_{args.image_size}px"})
    print(f"{preset}: {int(history['step'].max())} steps, {history['seconds'].sum() / args.steps:.3f} s/step")


def sampler_at(args: argparse.Namespace, preset: str, step: int) -> Any:
    """The sampling generator (EMA when the preset has one) of the checkpoint written at ``step``."""
    options = gan.gan_options(preset)
    g, d = gan.build_networks(args.image_size, options, generator_filters=args.generator_filters)
    model = gan.DCGAN(g, d, diffaugment=options["diffaugment"], ema_decay=options["ema_decay"])
    model.compile(d_lr=options["d_lr"], g_lr=options["g_lr"], beta_1=options["beta_1"])
    gan.restore_checkpoint(model, run_folder(args, preset) / "checkpoints" / f"step_{step:06d}.npz")
    model.steps_trained = step
    model.sampler.gan_steps_trained = step
    return model.sampler


def encoder(args: argparse.Namespace, d: dict[str, np.ndarray]) -> Any:
    """Chapter 3's domain encoder trained on the training split (cached in the work folder)."""
    import keras

    path = args.work_dir / f"encoder_{args.dataset}_{args.image_size}px_seed{args.seed}.keras"
    if path.exists():
        return keras.models.load_model(path)
    positive = d["train_labels"].reshape(-1) == 1
    model = train_domain_encoder(d["train_images"], positive, seed=args.seed, epochs=args.encoder_epochs,
                                 validation_data=(d["val_images"], d["val_labels"].reshape(-1) == 1))
    model.save(path)
    return model


def evaluate(args: argparse.Namespace, presets: list[str], d: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One row per preset: steps, seconds per step and the fidelity numbers of ``--n-fake`` fakes."""
    import pandas as pd

    minority = int(d["minority"])
    train_minority = d["train_images"][d["train_labels"].reshape(-1) == minority]
    test_minority = d["test_images"][d["test_labels"].reshape(-1) == minority]
    model = encoder(args, d)
    rows = []
    for preset in presets:
        history = pd.read_csv(run_folder(args, preset) / "history.csv")
        step = args.at_step or args.steps
        history = history[history["step"] <= step]
        generator = (sampler_at(args, preset, step) if args.at_step
                     else gan.load_generator(run_folder(args, preset)))
        fakes = gan.generate_images(generator, args.n_fake, seed=args.seed)
        report = fidelity.fidelity_report(model, fakes, train_minority, test_minority, settings=fidelity.FidelitySettings(
            minority_class=minority, seed=args.seed, c2st_epochs=args.c2st_epochs))
        rows.append({"preset": preset, "steps": step, "s_per_step": float(history["seconds"].sum()) / step,
                     **{k: float(report[k]) for k in COLUMNS if k in report}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("train", "eval"))
    parser.add_argument("presets", nargs="+", choices=sorted(gan.GAN_PRESETS), metavar="PRESET")
    parser.add_argument("--dataset", default="kaggle_pneumonia")
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--image-size", type=int, default=64, choices=gan.SUPPORTED_SIZES)
    parser.add_argument("--steps", type=int, default=1000, help="generator steps of every preset")
    parser.add_argument("--at-step", type=int, default=None, help="eval: the checkpoint of this step")
    parser.add_argument("--keep-checkpoints", type=int, default=2)
    parser.add_argument("--generator-filters", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-fake", type=int, default=603, help="fakes per preset (>= 500; half the real ones)")
    parser.add_argument("--encoder-epochs", type=int, default=6)
    parser.add_argument("--c2st-epochs", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "benchmarks" / "gan_fidelity")
    args = parser.parse_args(argv)
    d = load_data(args)
    if args.what == "train":
        for preset in args.presets:
            train(args, preset, d)
        return []
    rows = evaluate(args, args.presets, d)
    print("\n| preset | steps | s/step | precision | recall | coverage | FD ratio | two-sample AUC (px) | diversity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['preset']}` | {r['steps']:,} | {r['s_per_step']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
              f"{r['coverage']:.3f} | {r['relative_fd_train']:.1f} | {r['c2st_auc_pixels']:.3f} | "
              f"{r['diversity_ratio']:.2f} |")
    out = args.work_dir / f"fidelity_{args.at_step or args.steps}steps_seed{args.seed}.json"
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwrote {out}")
    return rows


if __name__ == "__main__":
    main()
