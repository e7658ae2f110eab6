"""Image-wise vs patient-wise validation on Kaggle-layout data: does the val split read like test?

Trains chapter 5's ``cnn`` (reference recipe, strategy ``none``) once per way of carving val from
train, with early stopping on the exact val ROC-AUC, and writes one row per carving: val ROC-AUC at
the chosen epoch, test ROC-AUC, the epoch chosen, the epochs run, and how many val patients also
have images in train. Usage::

    nice -n 10 .venv/bin/python tools/val_test_gap.py --data-path DIR --image-size 64 --out build/gap
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def run_one(grouping: str, args: argparse.Namespace) -> dict[str, object]:
    """Load the splits with ``val_grouping=grouping``, train the CNN, score val and test."""
    from sklearn.metrics import roc_auc_score

    from helpers import classifiers, data
    from helpers.core.runtime import set_seeds
    from helpers.oversampling import oversample

    splits = data.load_splits("kaggle_pneumonia", args.image_size, data_path=args.data_path, seed=args.seed,
                              val_grouping=grouping)
    train, val, test = splits["train"], splits["val"], splits["test"]
    shared = data.patient_overlap({"train": train, "val": val})
    set_seeds(args.seed)
    model = classifiers.build_cnn(args.image_size)
    train_set = oversample.prepare_training_set("none", train.images, train.labels, seed=args.seed)
    folder = Path(args.out) / f"cnn_{grouping}_seed{args.seed}"
    model, history, seconds = classifiers.fit_classifier(
        model, train_set, val.images, val.labels,
        classifiers.FitSettings(epochs=args.epochs, batch_size=64, seed=args.seed, patience=args.patience),
        run_dir=folder)
    done = json.loads((folder / "done.json").read_text())
    test_auc = roc_auc_score(test.labels, classifiers.predict_scores(model, test.images))
    return {"val_grouping": grouping, "n_train": len(train), "n_val": len(val),
            "val_patients_in_train": int(shared["shared_patients"].sum()) if len(shared) else 0,
            "val_auc": round(float(done["best_val_auc"]), 4), "test_auc": round(float(test_auc), 4),
            "best_epoch": done["best_epoch"], "epochs_run": done["epochs_run"], "fit_seconds": round(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", required=True, help="folder with chest_xray/{train,test}/{NORMAL,PNEUMONIA}")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/val_test_gap")
    args = parser.parse_args()
    rows = []
    for grouping in ("image", "patient"):
        t0 = time.perf_counter()
        rows.append(run_one(grouping, args) | {"wall_seconds": round(time.perf_counter() - t0)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out) / "val_test_gap.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
