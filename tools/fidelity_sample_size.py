"""How many images per set do chapter 3's fidelity calls need? A measurement on real images.

Real minority images are split into a reference pool (the report's "training minority": halves A
and B) and a disjoint pool that makes three kinds of "fakes" of known quality:

* ``real``: other real images (a perfect generator: every call should say "real-like");
* ``blurred``: other real images, Gaussian-blurred (``--blur`` px), obviously not real;
* ``collapsed``: ``--modes`` real images repeated with faint noise (a generator stuck on a few modes).

For each n in ``--sizes`` and each repetition, :func:`helpers.evaluation.fidelity.fidelity_report` runs on n
fakes (so every comparison uses n images per set) with a domain encoder trained once on the real
training split; the table gives the two-sample test AUC on pixels, KID z, FD ratio, recall, coverage
and the collapse call per kind, n and repetition. Usage::

    nice -n 10 .venv/bin/python tools/fidelity_sample_size.py --data-path pneumoniamnist_28.npz --out build/n_needed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ("c2st_auc_pixels", "c2st_null_sd_pixels", "kid_z_train", "relative_fd_train", "precision", "recall",
        "coverage", "diversity_ratio", "collapsed")


def make_fakes(pool: np.ndarray, kind: str, n: int, *, seed: int, blur: float, modes: int) -> np.ndarray:
    """``n`` uint8 images of one kind drawn from ``pool`` (real images the reference never sees)."""
    import cv2

    rng = np.random.default_rng(seed)
    if kind == "collapsed":
        base = pool[rng.choice(len(pool), modes, replace=False)][rng.integers(0, modes, n)].astype(float)
        return np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8)
    picked = pool[rng.choice(len(pool), n, replace=False)]
    if kind == "real":
        return picked
    if kind == "blurred":
        return np.stack([cv2.GaussianBlur(img, (0, 0), blur) for img in picked])
    raise ValueError(f"kind must be real, blurred or collapsed, not {kind!r}")


def main() -> None:
    from helpers import data
    from helpers.evaluation import encoder as domain
    from helpers.evaluation import fidelity

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 30, 60, 120, 240])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--blur", type=float, default=1.0, help="Gaussian sigma in pixels")
    parser.add_argument("--modes", type=int, default=5)
    parser.add_argument("--encoder-epochs", type=int, default=6)
    parser.add_argument("--c2st-epochs", type=int, default=10)
    parser.add_argument("--out", default="build/fidelity_sample_size")
    args = parser.parse_args()

    splits = data.load_splits(args.dataset, args.image_size, data_path=args.data_path)
    train = splits["train"]
    minority = train.minority_class()
    real = np.asarray(train.images)[np.asarray(train.labels).ravel() == minority]
    order = np.random.default_rng(0).permutation(len(real))
    n_ref = 2 * max(args.sizes)
    if n_ref >= len(real) - max(args.sizes):
        raise SystemExit(f"{len(real)} minority images: too few for sizes up to {max(args.sizes)}")
    reference, pool = real[order[:n_ref]], real[order[n_ref:]]
    encoder = domain.train_domain_encoder(train.images, train.labels, seed=0, epochs=args.encoder_epochs)
    rows = []
    for n in args.sizes:
        for rep in range(args.reps):
            for kind in ("real", "blurred", "collapsed"):
                fakes = make_fakes(pool, kind, n, seed=1000 * rep + n, blur=args.blur, modes=args.modes)
                report = fidelity.fidelity_report(encoder, fakes, reference, settings=fidelity.FidelitySettings(
                    minority_class=minority, seed=rep, halves_seed=rep, c2st_epochs=args.c2st_epochs,
                    pixel_memorization=False))
                rows.append({"kind": kind, "n": int(report["n_per_set"]), "rep": rep,
                             **{k: float(report[k]) for k in KEYS}})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "runs.csv", index=False)
    summary = table.groupby(["kind", "n"])[list(KEYS)].agg(["mean", "min", "max"]).round(3)
    summary.to_csv(out / "summary.csv")
    print(table.groupby(["kind", "n"])[list(KEYS)].mean().round(3).to_string())


if __name__ == "__main__":
    main()
