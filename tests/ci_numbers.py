"""The numbers each chapter computes on the `ci` profile that no refactoring may move.

``tests/data/ci_numbers.json`` holds them as recorded before the package was restructured;
``test_notebooks.test_ci_numbers_did_not_move`` compares a fresh `ci` run with it. Chapter 3's fidelity
numbers are left out on purpose: they are measured on an evaluation sample whose size is a setting.
Regenerate (only when a change of results is intended, and say why in the commit):
``python tests/ci_numbers.py <ci run folder> > tests/data/ci_numbers.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROW_METRICS = ("roc_auc", "pr_auc", "f1", "f1_normal", "accuracy", "balanced_accuracy", "val_roc_auc")
GAN_METRICS = ("final_d_loss", "final_g_loss", "final_d_real", "final_d_fake")
NIH_METRICS = ("mean_auroc", "elementwise_accuracy", "exact_match", "all_negative_elementwise",
               "all_negative_exact_match")


def _read(run_dir: Path, chapter: str) -> dict[str, Any]:
    return json.loads((run_dir / "metrics" / f"{chapter}.json").read_text())


def ci_numbers(run_dir: str | Path) -> dict[str, Any]:
    """Chapter 1's counts, chapter 2's final GAN losses, every chapter 4-5 results row's metrics, chapter 7's."""
    run_dir = Path(run_dir)
    rows = pd.read_csv(run_dir / "results.csv")
    results = {f"{int(r.notebook):02d}/{r.classifier}/{r.strategy}/{int(r.seed)}": {m: float(getattr(r, m))
                                                                                   for m in ROW_METRICS}
               for r in rows.itertuples()}
    first, second, seventh = _read(run_dir, "01"), _read(run_dir, "02"), _read(run_dir, "07")
    return {"01": {"counts": first["counts"], "train_imbalance_ratio": first["train_imbalance_ratio"]},
            "02": {k: second[k] for k in GAN_METRICS},
            "03": {"n_synthetic": _read(run_dir, "03")["n_synthetic"]},
            "results": results,
            "07": {k: seventh[k] for k in NIH_METRICS}}


if __name__ == "__main__":
    print(json.dumps(ci_numbers(sys.argv[1]), indent=1, sort_keys=True))
