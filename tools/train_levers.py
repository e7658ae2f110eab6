"""Training levers for chapter 5's CNN on Kaggle-layout data: the strong recipe, CLAHE preprocessing.

Trains ``cnn`` (strategy ``none``, validation carved by patient, early stopping on the exact val
ROC-AUC) once per variant and writes one row per variant: val ROC-AUC at the chosen epoch, test
ROC-AUC, test accuracy at 0.5 and at the validation threshold (Youden's J), the epoch chosen. Usage::

    nice -n 10 .venv/bin/python tools/train_levers.py --data-path DIR --variants strong clahe --out build/levers
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

VARIANTS = {"reference": ("reference", False), "strong": ("strong", False), "clahe": ("reference", True),
            "clahe_strong": ("strong", True)}


def main() -> None:
    from helpers import classifiers, data
    from helpers.classifiers.recipes import RECIPES
    from helpers.core.runtime import set_seeds
    from helpers.data import augment
    from helpers.evaluation.scores import youden_threshold
    from helpers.oversampling import oversample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/levers")
    args = parser.parse_args()
    splits = data.load_splits("kaggle_pneumonia", args.image_size, data_path=args.data_path, seed=args.seed,
                              val_grouping="patient")
    rows = []
    for name in args.variants:
        recipe, equalise = VARIANTS[name]
        x = {s: augment.clahe(splits[s].images) if equalise else splits[s].images for s in ("train", "val", "test")}
        y = {s: np.asarray(splits[s].labels) for s in x}
        t0 = time.perf_counter()
        set_seeds(args.seed)
        model = classifiers.build_cnn(args.image_size)
        folder = Path(args.out) / f"cnn_{name}_seed{args.seed}"
        model, _, seconds = classifiers.fit_classifier(
            model, oversample.prepare_training_set("none", x["train"], y["train"], seed=args.seed), x["val"], y["val"],
            classifiers.FitSettings(epochs=args.epochs, batch_size=64, seed=args.seed, patience=args.patience,
                                    recipe=RECIPES[recipe]), run_dir=folder)
        done = json.loads((folder / "done.json").read_text())
        val, test = (classifiers.predict_scores(model, x[s]) for s in ("val", "test"))
        thr = youden_threshold(y["val"], val)
        rows.append({"variant": name, "recipe": recipe, "clahe": equalise, "val_auc": roc_auc_score(y["val"], val),
                     "test_auc": roc_auc_score(y["test"], test), "test_acc_0.5": accuracy_score(y["test"], test >= 0.5),
                     "test_acc_valthr": accuracy_score(y["test"], test >= thr), "best_epoch": done["best_epoch"],
                     "epochs_run": done["epochs_run"], "fit_seconds": round(seconds),
                     "wall_seconds": round(time.perf_counter() - t0)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(4)
    out = Path(args.out) / "train_levers.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
