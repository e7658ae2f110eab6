"""Markdown tables of one run folder: GAN fidelity per generator and seed, classifiers per strategy, chapter times.

``python tools/run_summary.py build/kermany64`` prints what results/kermany64/README.md quotes: the fidelity bars
at the run's image size, every classifier's test ROC-AUC, accuracy at 0.5 and at the validation threshold next
to its validation ROC-AUC (mean and per seed), the seed ensembles, the GAN's seconds per step and each chapter's
wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

#: Chapter 3's bars for a generator worth asking the question with (the issue's targets at 28 and 64 px).
FIDELITY_BARS = {"recall": (">=", 0.6), "coverage": (">=", 0.6), "c2st_auc_pixels": ("<=", 0.75),
                 "relative_fd_train": ("<=", 5.0), "memorization_share_pixels": ("<=", 0.0)}
FIDELITY_COLUMNS = ("n_per_set", "precision", "recall", "coverage", "density", "relative_fd_train", "kid_z_train",
                    "c2st_auc_pixels", "c2st_auc_features", "diversity_ratio", "memorization_share_pixels",
                    "collapsed")


def _md(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_markdown(index=False, floatfmt=f".{digits}f")


def fidelity_table(run_dir: Path) -> pd.DataFrame:
    """One row per generator and seed, the bars' columns first, and how many bars the row passes."""
    raw = pd.read_csv(run_dir / "fidelity.csv")
    wide = raw.pivot_table(index=["generator", "seed"], columns="metric", values="value").reset_index()
    cols = [c for c in FIDELITY_COLUMNS if c in wide]
    out = wide[["generator", "seed", *cols]].copy()
    passed = pd.Series(0, index=out.index)
    for col, (op, bar) in FIDELITY_BARS.items():
        if col in out:
            passed += (out[col] >= bar) if op == ">=" else (out[col] <= bar)
    out["bars passed"] = passed.astype(int).astype(str) + f" / {len(FIDELITY_BARS)}"
    return out


def classifier_table(run_dir: Path) -> pd.DataFrame:
    """Per classifier and strategy: mean (and per-seed) test ROC-AUC, accuracy at 0.5 and at the val threshold,
    validation ROC-AUC."""
    rows = pd.read_csv(run_dir / "results.csv")
    metrics = ["roc_auc", "accuracy", "accuracy_valthr", "val_roc_auc"]
    out = rows.groupby(["classifier", "strategy"], sort=False).agg(
        seeds=("seed", "nunique"), **{m: (m, "mean") for m in metrics},
        roc_auc_per_seed=("roc_auc", lambda v: " / ".join(f"{x:.3f}" for x in v))).reset_index()
    return out.rename(columns={"roc_auc": "test ROC-AUC", "accuracy": "acc @0.5",
                               "accuracy_valthr": "acc @val thr", "val_roc_auc": "val ROC-AUC"})


def ensemble_table(run_dir: Path) -> pd.DataFrame | None:
    """Chapter 6's seed ensembles, when the run got that far."""
    path = run_dir / "figures" / "06_seed_ensembles.csv"
    return pd.read_csv(path) if path.exists() else None


def _planned(run_dir: Path) -> set[str] | None:
    """The GAN folders chapter 2's plan names (other folders are left from earlier plans)."""
    path = run_dir / "gan" / "plan.json"
    if not path.exists():
        return None
    plan = json.loads(path.read_text())
    variants = [plan["reference"], plan["default"], *plan.get("ablation", [])]
    return {f"{v['preset']}_{v['epochs']}epochs" if v.get("epochs") else f"{v['preset']}_{v['steps']}steps"
            for v in variants}


def gan_step_seconds(run_dir: Path) -> pd.DataFrame:
    """Median seconds per generator update of each planned GAN (from its history, steps between rows)."""
    rows, planned = [], _planned(run_dir)
    for hist in sorted((run_dir / "gan").glob("*/seed*/history.csv")):
        if planned is not None and hist.parent.parent.name not in planned:
            continue
        h = pd.read_csv(hist)
        if len(h) > 1 and {"step", "seconds"} <= set(h.columns):
            steps = h["step"].diff().iloc[1:]
            rows.append({"generator": hist.parent.parent.name, "seed": int(hist.parent.name[4:]),
                         "steps": int(h["step"].iloc[-1]),
                         "s/step": float((h["seconds"].iloc[1:] / steps).median()),
                         "minutes": float(h["seconds"].sum() / 60)})
    return pd.DataFrame(rows)


def chapter_times(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / "series_timings.json"
    if not path.exists():
        return None
    timings = json.loads(path.read_text())  # the runner's {"profile": ..., "seconds": {notebook: s}}
    seconds = timings.get("seconds", {}) if isinstance(timings, dict) else {}
    return pd.DataFrame([{"notebook": k, "seconds": v} for k, v in seconds.items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    run = args.run_dir
    if not (run / "fidelity.csv").exists() and not (run / "results.csv").exists():
        print(f"{run}: no fidelity.csv or results.csv; run chapters 3-5 into it first", file=sys.stderr)
        return 2
    sections = [("GAN fidelity per generator and seed", fidelity_table(run) if (run / "fidelity.csv").exists() else None),
                ("GAN speed", gan_step_seconds(run)),
                ("Classifiers (official test split; val carved from train)",
                 classifier_table(run) if (run / "results.csv").exists() else None),
                ("Seed ensembles (chapter 6)", ensemble_table(run)),
                ("Chapter wall times", chapter_times(run))]
    for title, frame in sections:
        if frame is not None and len(frame):
            print(f"### {title}\n\n{_md(frame)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
