"""Test-time levers on a trained chapter-5 CNN: test-time augmentation and batch-norm statistics of the
images to be scored (transductive when those are the test images).

Loads a finished run folder of ``helpers.classifiers.fit_classifier`` (``best.weights.h5``), the same
splits it was trained on, and scores val and test four ways: plain, TTA (shifts of 2 px), batch norm
re-estimated on the scored split's unlabelled images, and both. For each: ROC-AUC, accuracy at 0.5 and
at the validation threshold (Youden's J on the plain or adapted val scores). Usage::

    nice -n 10 .venv/bin/python tools/test_time_levers.py --data-path DIR --run build/gap/cnn_patient_seed0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score


def main() -> None:
    from helpers import classifiers, data
    from helpers.evaluation.scores import youden_threshold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", required=True)
    parser.add_argument("--run", required=True, help="run folder with best.weights.h5")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--val-grouping", default="patient")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    splits = data.load_splits("kaggle_pneumonia", args.image_size, data_path=args.data_path, seed=args.seed,
                              val_grouping=args.val_grouping)
    model = classifiers.build_cnn(args.image_size)
    model.load_weights(Path(args.run) / "best.weights.h5")
    rows = []
    for lever in ("plain", "tta", "bn_adapted", "bn_adapted+tta"):
        scores = {}
        for split in ("val", "test"):
            images = splits[split].images
            scorer = classifiers.adapt_batchnorm(model, images) if lever.startswith("bn") else model
            predict = classifiers.predict_tta if lever.endswith("tta") else classifiers.predict_scores
            scores[split] = predict(scorer, images)
        y_val, y_test = splits["val"].labels, splits["test"].labels
        thr = youden_threshold(np.asarray(y_val), scores["val"])
        rows.append({"lever": lever, "transductive": lever.startswith("bn"),
                     "val_auc": roc_auc_score(y_val, scores["val"]), "test_auc": roc_auc_score(y_test, scores["test"]),
                     "test_acc_0.5": accuracy_score(y_test, scores["test"] >= 0.5),
                     "test_acc_valthr": accuracy_score(y_test, scores["test"] >= thr), "val_threshold": thr})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(4)
    table.to_csv(Path(args.run) / "test_time_levers.csv", index=False)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
