"""Tables and plain-language sentences built from the results file (notebooks 04, 05 and 06).

Every sentence is generated from the numbers; nothing here knows what the answer "should" be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import metrics

__all__ = ["save_table", "accuracy_over_epochs", "confusion_from_row", "LEAD_METRICS", "comparison_table", "strategy_verdicts", "best_runs", "gan_summary_line"]

# Threshold-free metrics lead (val and test distributions differ: FINDINGS pitfall 2).
LEAD_METRICS = ("roc_auc", "pr_auc", "f1", "f1_normal", "macro_f1", "balanced_accuracy", "f1_valthr", "f1_normal_valthr")


def comparison_table(results: pd.DataFrame, metrics_: Sequence[str] = LEAD_METRICS, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` over seeds per (classifier, strategy), with the number of seeds."""
    present = [m for m in metrics_ if m in results.columns]
    summary = metrics.summarise(results, by=("classifier", "strategy"), metrics=present)
    return metrics.format_summary(summary, digits=digits).set_index(["classifier", "strategy"])


def _pairs(results: pd.DataFrame, metric: str, target: str, baseline: str) -> pd.DataFrame | None:
    have = set(results["strategy"])
    if target not in have or baseline not in have:
        return None
    return metrics.paired_difference(results, metric, target, baseline, by="classifier")


def strategy_verdicts(
    results: pd.DataFrame,
    metric: str = "roc_auc",
    targets: Sequence[str] = ("gan",),
    baselines: Sequence[str] = ("none", "class_weight", "random"),
) -> list[str]:
    """One sentence per classifier × target × baseline: the paired difference over seeds and what it says.

    With one seed there is no interval; the sentence then says the difference is from a single run.
    """
    lines = []
    for target in targets:
        for baseline in baselines:
            if target == baseline:
                continue
            diff = _pairs(results, metric, target, baseline)
            if diff is None:
                continue
            for _, row in diff.iterrows():
                if row["n_pairs"] == 0 or not np.isfinite(row["mean_diff"]):
                    continue
                if row["n_pairs"] < 2 or not np.isfinite(row["low"]):
                    verdict = "a single seed, so no interval: treat it as anecdotal"
                elif row["low"] > 0:
                    verdict = f"**{target} is better**"
                elif row["high"] < 0:
                    verdict = f"**{target} is worse**"
                else:
                    verdict = "the interval includes 0: **no clear difference**"
                value = row["text"] if np.isfinite(row["low"]) else f"{row['mean_diff']:+.3f}"
                lines.append(
                    f"{row['classifier']}: {target} − {baseline} in {metric} = {value} "
                    f"over {int(row['n_pairs'])} seed(s): {verdict}."
                )
    return lines


def best_runs(results: pd.DataFrame, metric: str = "roc_auc") -> pd.DataFrame:
    """Per classifier, the strategy with the best mean ``metric`` over seeds."""
    summary = metrics.summarise(results, by=("classifier", "strategy"), metrics=[metric])
    idx = summary.groupby("classifier")[f"{metric}_mean"].idxmax()
    return summary.loc[idx].reset_index(drop=True)


def gan_summary_line(results: pd.DataFrame, metric: str = "roc_auc", gan_strategies: Sequence[str] = ("gan",)) -> str:
    """How many classifiers a GAN strategy beat the best non-GAN strategy for (mean over seeds)."""
    summary = metrics.summarise(results, by=("classifier", "strategy"), metrics=[metric])
    col = f"{metric}_mean"
    wins, total, parts = 0, 0, []
    for clf, group in summary.groupby("classifier", sort=False):
        g = group[group["strategy"].isin(gan_strategies)]
        other = group[~group["strategy"].str.startswith("gan")]
        if g.empty or other.empty:
            continue
        total += 1
        best_gan = g.loc[g[col].idxmax()]
        best_other = other.loc[other[col].idxmax()]
        won = best_gan[col] > best_other[col]
        wins += int(won)
        parts.append(
            f"{clf}: best GAN variant {best_gan['strategy']} {best_gan[col]:.3f} vs best baseline "
            f"{best_other['strategy']} {best_other[col]:.3f}"
        )
    if total == 0:
        return "No classifier has both GAN and non-GAN rows yet."
    head = (f"GAN oversampling gave the best mean {metric} for {wins} of {total} classifiers"
            + (" — it did not beat the simpler baselines." if wins == 0 else "."))
    return head + " " + "; ".join(parts) + "."


def confusion_from_row(row, suffix: str = "") -> np.ndarray:
    """The 2×2 confusion matrix of a results row (rows: true NORMAL, PNEUMONIA; columns: predicted)."""
    def get(k):
        return (row[f"{k}{suffix}"])
    return np.array([[get("tn"), get("fp")], [get("fn"), get("tp")]], dtype=np.int64)


def save_table(table: pd.DataFrame, folder, name: str, run_id: str = "", caption: str = "") -> tuple:
    """Write a table as Markdown (with caption and run stamp) and CSV, atomically; return both paths."""
    from pathlib import Path

    from .artifacts import atomic_write

    folder = Path(folder)
    md_path, csv_path = folder / f"{name}.md", folder / f"{name}.csv"
    text = (f"{caption}\n\n" if caption else "") + table.reset_index().to_markdown(index=False) + (f"\n\n_run: {run_id}_\n" if run_id else "\n")
    with atomic_write(md_path) as tmp:
        tmp.write_text(text)
    with atomic_write(csv_path) as tmp:
        table.to_csv(tmp)
    return md_path, csv_path


def accuracy_over_epochs(histories: pd.DataFrame, original: str = "none", augmented: str = "gan") -> pd.DataFrame:
    """Per-epoch accuracy of training on the original vs the GAN-augmented training set (long format)."""
    part = histories[histories["strategy"].isin([original, augmented])]
    if "role" in part:
        part = part[part["role"] == "grid"]
    label = {original: "original training set", augmented: "GAN-augmented training set"}
    out = part.assign(training_set=part["strategy"].map(label))
    cols = [c for c in ("model", "seed", "epoch", "training_set", "accuracy", "val_accuracy", "val_auc_exact") if c in out]
    return out[cols].melt(id_vars=[c for c in ("model", "seed", "epoch", "training_set") if c in out],
                          var_name="metric", value_name="value")
