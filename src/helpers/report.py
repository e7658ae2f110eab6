"""Tables and plain-language sentences built from the results file (notebooks 04, 05 and 06).

Every sentence is generated from the numbers; nothing here knows what the answer "should" be.

Two kinds of verdict: :func:`strategy_verdicts` reads only the results table (a t-interval over
seeds); :func:`paired_verdicts` words :func:`helpers.metrics.paired_comparisons`, which also uses
each run's saved test scores (bootstrap over test images, DeLong's test, Holm's adjustment), and
``strategy_verdicts(..., load_scores=...)`` / ``gan_summary_line(..., comparisons=...)`` use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import metrics

__all__ = [
    "save_table", "accuracy_over_epochs", "confusion_from_row", "LEAD_METRICS", "comparison_table",
    "strategy_verdicts", "paired_verdicts", "best_runs", "gan_summary_line", "SEED_REPORTED", "table_1",
    "export_tables", "run_id_of", "seed_ensembles", "ENSEMBLE_METRICS", "recipe_lines", "ensemble_lines",
]

# Threshold-free metrics lead (val and test distributions differ).
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
    *,
    load_scores: Callable[[str, str, int], Any] | None = None,
    **paired_options: Any,
) -> list[str]:
    """One sentence per classifier × target × baseline: the paired difference over seeds and what it says.

    With one seed there is no interval; the sentence then says the difference is from a single run.
    With ``load_scores(classifier, strategy, seed) -> (y_true, y_score)`` the sentences are
    :func:`paired_verdicts` instead (bootstrap over test images, DeLong, Holm over all the
    target × baseline comparisons of this call; ``paired_options`` go to
    :func:`helpers.metrics.paired_comparisons`).
    """
    if load_scores is not None:
        pairs = [(t, b) for t in targets for b in baselines if t != b]
        comparisons = metrics.paired_comparisons(results, load_scores, pairs, metric=metric, **paired_options)
        return paired_verdicts(comparisons)
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


_METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "pr_auc_normal": "PR-AUC (NORMAL positive)",
                  "accuracy": "accuracy at 0.5", "val_roc_auc": "validation ROC-AUC"}


def _signed(x: float, digits: int) -> str:
    """``+0.004`` / ``−0.004`` (a typographic minus)."""
    return f"{x:+.{digits}f}".replace("-", "−")


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "nan"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.01 else f"= {p:.2f}"


def paired_verdicts(comparisons: pd.DataFrame, digits: int = 3) -> list[str]:
    """One sentence per row of :func:`helpers.metrics.paired_comparisons`, e.g.

    "cnn: gan − random = −0.004 ROC-AUC [−0.012, +0.004] over 3 seeds, DeLong p = 0.31,
    Holm p = 0.62 (6 comparisons): no clear difference."

    The interval is the bootstrap's (test images resampled, averaged over seeds); the p-value is the
    row's ``test`` (DeLong for ROC-AUC, else the bootstrap's); the verdict uses the Holm-adjusted p.
    """
    lines = []
    for _, row in comparisons.iterrows():
        label = _METRIC_LABELS.get(row["metric"], row["metric"])
        test = "DeLong" if row["test"] == "delong" else "bootstrap"
        seeds = int(row["n_seeds"])
        lines.append(
            f"{row['classifier']}: {row['target']} − {row['baseline']} = {_signed(row['mean_diff'], digits)} "
            f"{label} [{_signed(row['low'], digits)}, {_signed(row['high'], digits)}] over {seeds} "
            f"seed{'s' if seeds != 1 else ''}, {test} p {_p_text(row['p_test'])}, Holm p {_p_text(row['p_holm'])} "
            f"({int(row['n_comparisons'])} comparisons): {row['verdict']}."
        )
    return lines


def best_runs(results: pd.DataFrame, metric: str = "roc_auc") -> pd.DataFrame:
    """Per classifier, the strategy with the best mean ``metric`` over seeds."""
    summary = metrics.summarise(results, by=("classifier", "strategy"), metrics=[metric])
    idx = summary.groupby("classifier")[f"{metric}_mean"].idxmax()
    return summary.loc[idx].reset_index(drop=True)


def gan_summary_line(results: pd.DataFrame, metric: str = "roc_auc", gan_strategies: Sequence[str] = ("gan",),
                     comparisons: pd.DataFrame | None = None) -> str:
    """How many classifiers a GAN strategy beat the best non-GAN strategy for (mean over seeds).

    With ``comparisons`` (:func:`helpers.metrics.paired_comparisons`) a second sentence counts the
    verdicts of its rows whose target is one of ``gan_strategies``.
    """
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
    return head + " " + "; ".join(parts) + "." + _paired_tally(comparisons, gan_strategies)


def _paired_tally(comparisons: pd.DataFrame | None, gan_strategies: Sequence[str]) -> str:
    if comparisons is None:
        return ""
    rows = comparisons[comparisons["target"].isin(gan_strategies)]
    if rows.empty:
        return " No paired test compares a GAN strategy yet."
    counts = rows["verdict"].value_counts()
    metric = _METRIC_LABELS.get(rows["metric"].iloc[0], rows["metric"].iloc[0])
    return (
        f" Paired tests on the test images ({metric}, Holm-adjusted over {int(rows['n_comparisons'].iloc[0])} "
        f"comparisons, alpha {rows['alpha'].iloc[0]:g}): GAN better in {counts.get('better', 0)}, worse in "
        f"{counts.get('worse', 0)}, no clear difference in {counts.get('no clear difference', 0)} "
        f"of {len(rows)}."
    )


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
    """Per-epoch curves of training on the original vs the GAN-augmented training set (long format).

    Columns ``model``, ``strategy``, ``seed``, ``epoch``, ``training_set``, ``metric``, ``value``;
    metrics: ``val_auc_exact`` (exact validation ROC-AUC), ``val_balanced_accuracy`` (where the
    histories record it), ``accuracy`` (training) and ``val_accuracy``, for
    :func:`helpers.plots.accuracy_over_epochs`.
    """
    part = histories[histories["strategy"].isin([original, augmented])]
    if "role" in part:
        part = part[part["role"] == "grid"]
    label = {original: "original training set", augmented: "GAN-augmented training set"}
    out = part.assign(training_set=part["strategy"].map(label))
    ids = [c for c in ("model", "strategy", "seed", "epoch", "training_set") if c in out]
    values = [c for c in ("val_auc_exact", "val_balanced_accuracy", "accuracy", "val_accuracy") if c in out]
    return out[ids + values].melt(id_vars=ids, var_name="metric", value_name="value")


# --------------------------------------------------------------------------------------------------
# The seed's Table 1, and the tables a report is rebuilt from
# --------------------------------------------------------------------------------------------------

#: Values the DCGAN seed paper reports (test set, PNEUMONIA positive), as transcribed for this
#: series: only the CNN and DenseNet121 rows, and without the configuration they belong to. Other
#: rows are left empty rather than guessed.
SEED_REPORTED: dict[str, dict[str, float]] = {
    "cnn": {"roc_auc": 0.873, "f1": 0.822},
    "densenet121": {"roc_auc": 0.957, "f1": 0.864},
}
#: Table 1's configurations: without GAN images, with the seed's DCGAN, with the series' generator.
TABLE_1_ARMS: dict[str, str] = {"none": "without DCGAN", "gan": "with DCGAN (seed)",
                                "gan_improved": "with improved GAN"}
TABLE_1_METRICS: dict[str, str] = {"precision": "Precision", "recall": "Recall", "f1": "F1",
                                   "roc_auc": "ROC-AUC"}


def table_1(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *, n_boot: int = 2000,
            seed: int = 0, digits: int = 3) -> pd.DataFrame:
    """The seed's Table 1 in its own layout: classifier × configuration, Precision/Recall/F1/ROC-AUC.

    Each cell is the mean over seeds and a 95% bootstrap interval over the test images (the same
    resample for every seed; :func:`helpers.metrics.bootstrap_interval`). The last column holds the
    seed paper's reported value for that model where :data:`SEED_REPORTED` has one.
    """
    from .recipes import DEEP_CLASSIFIERS, parse_classifier
    from .results import CLASSIFIERS

    rows = []
    # like with like: the seed papers' plain recipe only (cnn_strong & co. have their own table)
    order = [c for c in CLASSIFIERS if c in set(results["classifier"])
             and (c not in DEEP_CLASSIFIERS or parse_classifier(c)[1].name == "reference")]
    for clf in order:
        for arm, label in TABLE_1_ARMS.items():
            sub = results[(results["classifier"] == clf) & (results["strategy"] == arm)].sort_values("seed")
            if sub.empty:
                continue
            pairs = [load_scores(clf, arm, int(s)) for s in sub["seed"]]
            y, scores = pairs[0][0], np.vstack([p[1] for p in pairs])
            row: dict[str, Any] = {"Classifier": clf, "Configuration": label, "seeds": len(sub)}
            for metric, name in TABLE_1_METRICS.items():
                value, low, high = metrics.bootstrap_interval(y, scores, metric, n_boot=n_boot, seed=seed)
                row[name] = f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
            reported = SEED_REPORTED.get(clf, {})
            row["seed paper reports"] = ", ".join(f"{TABLE_1_METRICS[k]} {v:.3f}" for k, v in reported.items()) \
                if arm == "none" and reported else ""
            rows.append(row)
    return pd.DataFrame(rows).set_index(["Classifier", "Configuration"])


#: What :func:`seed_ensembles` reports for each ensemble.
ENSEMBLE_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "accuracy", "f1_normal")


def seed_ensembles(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *,
                   metrics_: Sequence[str] = ENSEMBLE_METRICS, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per classifier x strategy run with two or more seeds: the seeds as one ensemble.

    The ensemble's test score is the mean of its seeds' scores (probabilities); each metric gets a
    95% bootstrap interval over the test images (``<metric>_low``/``_high``) and, beside it, the
    mean of the single seeds (``<metric>_single``) so the gain of ensembling is visible.
    Thresholded metrics use 0.5.
    """
    rows = []
    for (clf, strategy), sub in results.groupby(["classifier", "strategy"], sort=False):
        seeds = sorted(int(s) for s in sub["seed"])
        if len(seeds) < 2:
            continue
        pairs = [load_scores(clf, strategy, s) for s in seeds]
        y = np.asarray(pairs[0][0])
        if any(not np.array_equal(np.asarray(p[0]), y) for p in pairs):
            raise ValueError(f"{clf} / {strategy}: the seeds were scored on different test labels")
        ensemble = np.mean([np.asarray(p[1], dtype=float) for p in pairs], axis=0)
        row: dict[str, Any] = {"classifier": clf, "strategy": strategy, "seeds": len(seeds)}
        for m in metrics_:
            value, low, high = metrics.bootstrap_interval(y, ensemble, m, n_boot=n_boot, seed=seed)
            row.update({m: value, f"{m}_low": low, f"{m}_high": high, f"{m}_single": float(sub[m].mean())})
        rows.append(row)
    columns = ["classifier", "strategy", "seeds"] + [f"{m}{s}" for m in metrics_ for s in ("", "_low", "_high", "_single")]
    return pd.DataFrame(rows, columns=columns)


def recipe_lines(results: pd.DataFrame, metrics_: Sequence[str] = ("roc_auc", "accuracy", "val_roc_auc"),
                 digits: int = 3) -> list[str]:
    """One sentence per architecture run with more than one recipe: each recipe's mean over the
    strategies and seeds they share, and the difference to the reference recipe (test metrics, and
    validation ROC-AUC, on which the recipe was chosen; metrics absent from ``results`` are left out)."""
    from .recipes import DEEP_CLASSIFIERS, parse_classifier

    metrics_ = [m for m in metrics_ if m in results.columns]
    deep = results[results["classifier"].isin(DEEP_CLASSIFIERS)].copy()
    if deep.empty:
        return []
    deep["architecture"] = [parse_classifier(c)[0] for c in deep["classifier"]]
    deep["recipe"] = [parse_classifier(c)[1].name for c in deep["classifier"]]
    lines = []
    for arch, sub in deep.groupby("architecture", sort=False):
        by_recipe = {r: set(zip(g["strategy"], g["seed"], strict=True)) for r, g in sub.groupby("recipe")}
        if "reference" not in by_recipe or len(by_recipe) < 2:
            continue
        for recipe, runs in by_recipe.items():
            if recipe == "reference":
                continue
            shared = runs & by_recipe["reference"]
            if not shared:
                continue
            keep = [(s, int(seed)) in shared for s, seed in zip(sub["strategy"], sub["seed"], strict=True)]
            means = sub[keep].groupby("recipe")[list(metrics_)].mean()
            parts = [f"{_METRIC_LABELS.get(m, m)} {means.loc[recipe, m]:.{digits}f} vs {means.loc['reference', m]:.{digits}f} "
                     f"({_signed(means.loc[recipe, m] - means.loc['reference', m], digits)})" for m in metrics_]
            n_strat = len({s for s, _ in shared})
            lines.append(f"{arch}, `{recipe}` vs `reference` recipe over the same {n_strat} strategies x seeds "
                         f"({len(shared)} runs each): " + "; ".join(parts) + ".")
    return lines


def ensemble_lines(ensembles: pd.DataFrame, digits: int = 3) -> list[str]:
    """Sentences on :func:`seed_ensembles`: the best ensemble with its interval, and what ensembling added."""
    if ensembles.empty:
        return ["No classifier and strategy ran with two or more seeds, so there is no seed ensemble here."]
    top = ensembles.sort_values("roc_auc", ascending=False).iloc[0]
    gain = ensembles["roc_auc"] - ensembles["roc_auc_single"]
    acc_gain = ensembles["accuracy"] - ensembles["accuracy_single"] if "accuracy" in ensembles else None
    lines = [f"Best seed ensemble: {top['classifier']} / `{top['strategy']}` ({int(top['seeds'])} seeds), ROC-AUC "
             f"{top['roc_auc']:.{digits}f} [{top['roc_auc_low']:.{digits}f}, {top['roc_auc_high']:.{digits}f}] against "
             f"{top['roc_auc_single']:.{digits}f} for its seeds one by one.",
             f"Averaging the seeds changed ROC-AUC by {_signed(gain.mean(), digits)} on average over {len(ensembles)} "
             f"classifier/strategy pairs (from {_signed(gain.min(), digits)} to {_signed(gain.max(), digits)})"
             + (f" and accuracy at 0.5 by {_signed(acc_gain.mean(), digits)}." if acc_gain is not None else ".")]
    return lines


#: What :func:`export_tables` copies from a run folder (numbers only; small).
EXPORTED = ("results.csv", "fidelity.csv", "gan_ablation.csv", "provenance.json")


def export_tables(run_dir, out_dir, run_id: str) -> list:
    """Copy a run's result tables into ``out_dir`` (e.g. the repository's ``results/``) for offline reports.

    Writes the files in :data:`EXPORTED`, ``scores/``, the chapters' ``metrics/*.json``, every deep run's
    history as one ``histories.csv`` and ``run.json`` (the run's id, which every figure is stamped
    with). Chapter 6 rebuilds the report from such a folder (its ``tables_dir`` parameter).
    """
    import shutil
    from pathlib import Path

    from .artifacts import atomic_write, save_json
    from .deep import load_histories

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


def run_id_of(tables_dir, default: str) -> str:
    """The run id stored by :func:`export_tables` (``default`` for a live run folder)."""
    from pathlib import Path

    from .artifacts import load_json

    path = Path(tables_dir) / "run.json"
    return str(load_json(path)["run_id"]) if path.exists() else default
