"""Summary tables, captions, and the files a report is written to and rebuilt from."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from helpers.core.artifacts import atomic_write, load_json, save_json
from helpers.evaluation.scores import format_summary, summarise

__all__ = ["LEAD_METRICS", "EXPORTED", "comparison_table", "best_runs", "confusion_from_row", "caption",
    "save_table", "accuracy_over_epochs", "export_tables", "run_id_of", "figure_stamps", "provenance_line"]

LEAD_METRICS = ("roc_auc", "pr_auc", "f1", "f1_normal", "macro_f1", "balanced_accuracy", "f1_valthr", "f1_normal_valthr")


def comparison_table(results: pd.DataFrame, metrics_: Sequence[str] = LEAD_METRICS, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` over seeds per (classifier, strategy), with the number of seeds."""
    present = [m for m in metrics_ if m in results.columns]
    summary = summarise(results, by=("classifier", "strategy"), metrics=present)
    return format_summary(summary, digits=digits).set_index(["classifier", "strategy"])


def best_runs(results: pd.DataFrame, metric: str = "roc_auc") -> pd.DataFrame:
    """Per classifier, the strategy with the best mean ``metric`` over seeds."""
    summary = summarise(results, by=("classifier", "strategy"), metrics=[metric])
    idx = summary.groupby("classifier")[f"{metric}_mean"].idxmax()
    return summary.loc[idx].reset_index(drop=True)


def confusion_from_row(row: Any, suffix: str = "") -> np.ndarray:
    """The 2×2 confusion matrix of a results row (rows: true NORMAL, PNEUMONIA; columns: predicted)."""
    return np.array([[row[f"tn{suffix}"], row[f"fp{suffix}"]], [row[f"fn{suffix}"], row[f"tp{suffix}"]]], dtype=np.int64)


def caption(number: str, text: str, **facts: Any) -> str:
    """A figure caption: ``**Figure <number>** <text> (<fact>: <value>; ...).`` (underscores in names become spaces)."""
    details = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts.items())
    return f"**Figure {number}** {text.rstrip('.')}" + (f" ({details})." if details else ".")


def save_table(table: pd.DataFrame, folder: str | PathLike, name: str, run_id: str = "", caption: str = "",
               csv_table: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """Write ``table`` as Markdown (caption, run stamp) and ``csv_table`` (default ``table``) as CSV; return both paths."""
    folder = Path(folder)
    md_path, csv_path = folder / f"{name}.md", folder / f"{name}.csv"
    text = (f"{caption}\n\n" if caption else "") + table.reset_index().to_markdown(index=False) + (f"\n\n_run: {run_id}_\n" if run_id else "\n")
    with atomic_write(md_path) as tmp:
        tmp.write_text(text)
    with atomic_write(csv_path) as tmp:
        (table if csv_table is None else csv_table).to_csv(tmp)
    return md_path, csv_path


def accuracy_over_epochs(histories: pd.DataFrame, original: str = "none", augmented: str = "gan") -> pd.DataFrame:
    """Per-epoch metrics of the original vs the GAN-augmented training set, long format, for
    :func:`helpers.report.plots.accuracy_over_epochs` (columns ``model`` … ``training_set``, ``metric``, ``value``)."""
    part = histories[histories["strategy"].isin([original, augmented])]
    if "role" in part:
        part = part[part["role"] == "grid"]
    label = {original: "original training set", augmented: "GAN-augmented training set"}
    out = part.assign(training_set=part["strategy"].map(label))
    ids = [c for c in ("model", "strategy", "seed", "epoch", "training_set") if c in out]
    values = [c for c in ("val_auc_exact", "val_balanced_accuracy", "accuracy", "val_accuracy") if c in out]
    return out[ids + values].melt(id_vars=ids, var_name="metric", value_name="value")


#: What :func:`export_tables` copies from a run folder (numbers only; small).
EXPORTED = ("results.csv", "fidelity.csv", "gan_ablation.csv", "provenance.json")


def export_tables(run_dir: str | PathLike, out_dir: str | PathLike, run_id: str) -> list[Path]:
    """Copy a run's tables (:data:`EXPORTED`, ``scores/``, ``metrics/``, deep histories, ``run.json``) into
    ``out_dir``, from which chapter 6 rebuilds the report offline."""
    from helpers.classifiers.deep import load_histories

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXPORTED:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, out_dir / name)
            written.append(out_dir / name)
    for sub, pattern in (("scores", "*.npz"), ("metrics", "*.json")):
        (out_dir / sub).mkdir(exist_ok=True)
        for path in sorted((run_dir / sub).glob(pattern)):
            shutil.copy2(path, out_dir / sub / path.name)
            written.append(out_dir / sub / path.name)
    if (run_dir / "deep").is_dir():
        with atomic_write(out_dir / "histories.csv") as tmp:
            load_histories(run_dir).to_csv(tmp, index=False)
        written.append(out_dir / "histories.csv")
    written.append(save_json(out_dir / "run.json", {"run_id": run_id}))
    return written


def run_id_of(tables_dir: str | PathLike, default: str) -> str:
    """The run id stored by :func:`export_tables` (``default`` for a live run folder)."""
    path = Path(tables_dir) / "run.json"
    return str(load_json(path)["run_id"]) if path.exists() else default


def figure_stamps(figures_dir: str | PathLike) -> dict[str, list[str]]:
    """``{run stamp: [figure names]}`` read from the PNG metadata :func:`helpers.report.plots.save_fig` writes."""
    stamps: dict[str, list[str]] = {}
    for path in sorted(Path(figures_dir).glob("*.png")):
        with Image.open(path) as im:
            stamp = str(im.info.get("Description", "")).removeprefix("run: ") or "no stamp"
        stamps.setdefault(stamp, []).append(path.stem)
    return stamps


def provenance_line(run_id: str, stamps: Mapping[str, Sequence[str]], tables: str = "results") -> str:
    """Which commit the results came from (``tables``: the folder of exported tables, as the reader finds it), and
    which commit each group of figures was drawn at."""
    groups = [f"{', '.join(sorted({n[:2] for n in names}))} stamped `{stamp}`" for stamp, names in stamps.items()
              if stamp != run_id]
    tables = tables.rstrip("/")
    return (f"**Provenance.** Every table and chapter-6 figure above is rebuilt from `{tables}/`, exported from the "
            f"run `{run_id}` (`{tables}/run.json`: the commit is the code the results came from)."
            + (f" The other chapters' figures were drawn when those chapters ran and keep their own stamps: "
               f"{'; '.join(groups)}." if groups else " Every committed figure carries that stamp."))
