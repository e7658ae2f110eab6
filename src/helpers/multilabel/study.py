"""Chapter 7's runs: the two arms, the results table ``results_07.csv`` and :func:`run_arm`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.classifiers.results import damaged_table, file_slug
from helpers.core import artifacts, provenance
from helpers.multilabel.data import Study
from helpers.multilabel.metrics import (
    accuracy_summary,
    f1_thresholds,
    finding_metrics,
    mean_auroc,
    per_finding_auroc,
)
from helpers.multilabel.model import (
    FitSettings,
    build_cnn_multilabel,
    fit_multilabel,
    predict_multilabel,
)

#: The two arms of the comparison; both train with classical augmentation (rotation, zoom; no flip).
ARMS: tuple[str, ...] = ("original", "gan")
RESULTS_FILE = "results_07.csv"


#: Test AUROC per finding of CheXNet (a 121-layer DenseNet at 224 px, ImageNet-pretrained), from
#: Rajpurkar et al. 2017, "CheXNet: Radiologist-Level Pneumonia Detection on Chest X-Rays with Deep
#: Learning", arXiv:1711.05225, Table 1. Measured on a random patient-wise 70/10/20 split of the full
#: ChestX-ray14 set: not the official test list, not ChestMNIST's resized images, not this run's
#: split. The numbers were checked against the CheXNet column that github.com/arnoweng/CheXNet's README
#: quotes from that table; the paper's PDF itself was not at hand.
CHEXNET_AUROC: dict[str, float] = {
    "Atelectasis": 0.8094, "Cardiomegaly": 0.9248, "Effusion": 0.8638, "Infiltration": 0.7345,
    "Mass": 0.8676, "Nodule": 0.7802, "Pneumonia": 0.7680, "Pneumothorax": 0.8887,
    "Consolidation": 0.7901, "Edema": 0.8878, "Emphysema": 0.9371, "Fibrosis": 0.8047,
    "Pleural_Thickening": 0.8062, "Hernia": 0.9164,
}
CHEXNET_SOURCE = "CheXNet, Rajpurkar et al. 2017 (arXiv:1711.05225), Table 1; another split of ChestX-ray14"


_ROW_KEY = ("arm", "seed", "finding")
_UNIT_COLUMNS = ("auroc", "pr_auc", "f1", "precision", "recall", "mean_auroc", "elementwise_accuracy", "exact_match")


class FindingResults:
    """``run_dir/results_07.csv`` (one row per arm, seed and finding) and the runs' scores in ``scores_dir``.

    Like :class:`helpers.classifiers.results.ResultsTable`: scores saved before rows, a ``fingerprint`` column
    last, atomic writes, and :meth:`read` naming the line of a damaged row.
    """

    def __init__(self, run_dir: str | os.PathLike, scores_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.scores_dir = Path(scores_dir)

    def read(self) -> pd.DataFrame:
        """The validated table (empty with the key columns when nothing was recorded)."""

        if not self.path.exists():
            return pd.DataFrame(columns=[*_ROW_KEY, "fingerprint"])

        def damaged(line: int | None, detail: str):
            return damaged_table(self.path, line, detail)

        try:
            table = pd.read_csv(self.path, dtype={"fingerprint": str, "finding": str, "arm": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise damaged(None, f"it cannot be read ({exc})") from None
        missing = [c for c in (*_ROW_KEY, "auroc", "fingerprint") if c not in table.columns]
        if missing:
            raise damaged(1, f"the header lacks the columns {missing}")
        for i, rec in enumerate(table.to_dict("records")):
            fp = rec["fingerprint"]
            if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{12}", fp):
                raise damaged(i + 2, f"the row is incomplete (fingerprint {fp!r})")
            if rec["arm"] not in ARMS:
                raise damaged(i + 2, f"unknown arm {rec['arm']!r} (the arms are {ARMS})")
            if not float(rec["seed"]).is_integer():
                raise damaged(i + 2, f"seed {rec['seed']!r} is not an integer")
            for col in _UNIT_COLUMNS:
                v = rec.get(col)
                if v is not None and not (isinstance(v, (int, float)) and (np.isnan(v) or -1e-9 <= v <= 1 + 1e-9)):
                    raise damaged(i + 2, f"{col} = {v!r} is not a number in [0, 1]")
        table["seed"] = table["seed"].astype(int)
        dup = table.duplicated(list(_ROW_KEY), keep="first")
        if dup.any():
            raise damaged(int(np.flatnonzero(dup)[0]) + 2, "a run and finding appear twice")
        return table

    def scores_path(self, arm: str, seed: int) -> Path:
        return self.scores_dir / f"{file_slug(arm)}_seed{int(seed)}.npz"

    def load_scores(self, arm: str, seed: int, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(y (N, C), scores (N, C))`` of one recorded run on ``split`` ("test" or "val")."""
        if split not in ("test", "val"):
            raise ValueError(f"split must be 'test' or 'val', not {split!r}")
        data = artifacts.load_npz(self.scores_path(arm, seed), (f"y_{split}", f"score_{split}"),
                                  hint="Run chapter 7 (it saves every run's scores).")
        return data[f"y_{split}"], data[f"score_{split}"]

    def is_done(self, arm: str, seed: int, fingerprint: Mapping[str, Any], table: pd.DataFrame | None = None) -> bool:
        """True when the run's rows exist with this fingerprint and its scores are saved; raise when they differ."""
        table = self.read() if table is None else table
        hit = table[(table["arm"] == arm) & (table["seed"] == int(seed))] if len(table) else table
        if hit.empty:
            return False
        want = provenance.fingerprint_id(fingerprint)
        if set(hit["fingerprint"]) == {want}:
            return self.scores_path(arm, seed).exists()
        saved = {"fingerprint_id": sorted(set(hit["fingerprint"]))}
        path = self.scores_path(arm, seed)
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                if "provenance" in data.files:
                    saved = json.loads(str(data["provenance"]))
        raise provenance.mismatch_error(f"{self.path} (arm {arm} / seed {seed})", saved, fingerprint, "result row")

    def record(self, *, arm: str, seed: int, fingerprint: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
               y_test: Any, score_test: Any, y_val: Any, score_val: Any) -> pd.DataFrame:
        """Save the run's scores (with the fingerprint), then replace its rows in the table; return them."""
        if arm not in ARMS:
            raise ValueError(f"unknown arm {arm!r}; the arms are {ARMS}")
        fp = provenance.normalise(dict(fingerprint))
        artifacts.save_npz(self.scores_path(arm, seed), y_test=np.asarray(y_test),
                           score_test=np.asarray(score_test, dtype=np.float64), y_val=np.asarray(y_val),
                           score_val=np.asarray(score_val, dtype=np.float64),
                           provenance=np.str_(json.dumps(fp, sort_keys=True)))
        new = pd.DataFrame([{"arm": arm, "seed": int(seed), **{k: v for k, v in r.items() if k not in ("arm", "seed")}}
                            for r in rows])
        new["fingerprint"] = provenance.fingerprint_id(fp)
        old = self.read()
        if len(old):
            old = old[~((old["arm"] == arm) & (old["seed"] == int(seed)))]
            table = pd.concat([old, new], ignore_index=True) if len(old) else new
        else:
            table = new
        cols = [c for c in table.columns if c != "fingerprint"] + ["fingerprint"]
        with artifacts.atomic_write(self.path) as tmp:
            table[cols].to_csv(tmp, index=False)
        return new


def run_arm(
    study: Study, arm: str, seed: int, *, profile: Any, results: FindingResults, scarce: Sequence[int] = (),
    synthetic: tuple[np.ndarray, np.ndarray, Mapping[str, Any]] | None = None, verbose: int = 0,
) -> pd.DataFrame:
    """Train, score and record one run (arm ``"original"`` or ``"gan"``, one seed); return its rows.

    ``synthetic``: ``(images, labels, about)`` for the gan arm (``about`` joins the fingerprint). A run
    recorded with the same fingerprint is not repeated. F1 thresholds are chosen on val.
    """
    from helpers.core.runtime import set_seeds

    if arm not in ARMS or (arm == "gan") != (synthetic is not None):
        raise ValueError(f"arm {arm!r}: the gan arm needs synthetic images, the original arm takes none")
    train, val, test = (study.splits[s] for s in ("train", "val", "test"))
    settings = {"model": "cnn_multilabel", "epochs": int(profile.nih_cnn_epochs), "batch_size": int(profile.batch_size),
                "patience": profile.patience, "max_steps_per_epoch": profile.max_steps_per_epoch,
                "augment": "rotation,zoom"}
    fingerprint = study.fp(arm=arm, seed=int(seed), **settings, synthetic=None if synthetic is None else synthetic[2])
    table = results.read()
    if results.is_done(arm, seed, fingerprint, table):
        return table[(table["arm"] == arm) & (table["seed"] == int(seed))].reset_index(drop=True)
    sources, y = [train.images], np.asarray(train.labels)
    n_syn = np.zeros(len(study.names), dtype=int)
    if synthetic is not None and len(synthetic[0]):
        sources.append(synthetic[0])
        y = np.concatenate([y, synthetic[1]])
        n_syn = np.asarray(synthetic[1]).sum(axis=0).astype(int)
    set_seeds(int(seed))
    model = build_cnn_multilabel(study.image_size, len(study.names))
    fit = FitSettings(epochs=int(profile.nih_cnn_epochs), batch_size=int(profile.batch_size), seed=int(seed),
                      patience=profile.patience, max_steps_per_epoch=profile.max_steps_per_epoch)
    model, history, done = fit_multilabel(model, (sources, y), (val.images, val.labels), fit,
                                          study.folder / "models" / arm / f"seed{int(seed)}",
                                          fingerprint=fingerprint, verbose=verbose)
    s_val, s_test = predict_multilabel(model, val.images), predict_multilabel(model, test.images)
    per = finding_metrics(test.labels, s_test, f1_thresholds(val.labels, s_val), study.names)
    acc = accuracy_summary(test.labels, s_test)
    val_auc = per_finding_auroc(val.labels, s_val)
    n_real = np.asarray(train.labels).sum(axis=0).astype(int)
    rows = [{"dataset": study.dataset, "image_size": study.image_size, "profile": profile.name, "arm": arm,
             "seed": int(seed), "finding": r["finding"], "scarce": j in set(scarce),
             "n_train_positive": int(n_real[j]), "n_synthetic": int(n_syn[j]), "n_test_positive": r["n_positive"],
             "prevalence_test": r["prevalence"], "auroc": r["auroc"], "pr_auc": r["pr_auc"], "f1": r["f1"],
             "precision": r["precision"], "recall": r["recall"], "threshold": r["threshold"],
             "val_auroc": float(val_auc[j]), "mean_auroc": mean_auroc(test.labels, s_test),
             "elementwise_accuracy": acc["elementwise_accuracy"], "exact_match": acc["exact_match"],
             "all_negative_elementwise": acc["all_negative_elementwise"],
             "all_negative_exact_match": acc["all_negative_exact_match"], "best_epoch": done["best_epoch"],
             "epochs_run": done["epochs_run"], "fit_seconds": round(float(done["fit_seconds"]), 2)}
            for j, r in per.iterrows()]
    return results.record(arm=arm, seed=seed, fingerprint=fingerprint, rows=rows, y_test=test.labels,
                          score_test=s_test, y_val=val.labels, score_val=s_val)
