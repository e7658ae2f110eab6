"""Tables and plain-language sentences built from the results file (notebooks 04, 05 and 06).

Every sentence is generated from the numbers; nothing here knows what the answer "should" be.

Two kinds of verdict: :func:`strategy_verdicts` reads only the results table (a t-interval over
seeds); :func:`paired_verdicts` words :func:`helpers.evaluation.comparisons.paired_comparisons`, which also uses
each run's saved test scores (bootstrap over test images, DeLong's test, Holm's adjustment), and
``strategy_verdicts(..., load_scores=...)`` / ``gan_summary_line(..., comparisons=...)`` use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation.comparisons import (
    ComparisonSettings,
    holm_calls,
    paired_comparisons,
    paired_difference,
)
from helpers.evaluation.intervals import BootstrapSettings, bootstrap_interval
from helpers.evaluation.scores import format_summary, summarise
from helpers.oversampling.strategies import TABLE_1_ARMS

__all__ = [
    "save_table", "accuracy_over_epochs", "confusion_from_row", "LEAD_METRICS", "comparison_table",
    "strategy_verdicts", "paired_verdicts", "best_runs", "gan_summary_line", "PUBLISHED_TABLE_1", "table_1",
    "table_1_display", "table_1_caption", "with_without", "verdict_lines", "improved_vs_dcgan", "improved_vs_dcgan_line",
    "fidelity_downstream_line", "ablation_summary", "decision_tree_note", "weight_selection_note", "phantom_note",
    "GHOSH_DUTTA", "SUMITHRA_DEVI", "GENERATOR_NAMES", "best_baseline", "caption", "plain_classifiers",
    "lessons_lines", "figure_stamps", "provenance_line", "FIDELITY_DIRECTION", "INTERVAL_NOTE", "generator_labels",
    "interval_note",
    "export_tables", "run_id_of", "seed_ensembles", "ENSEMBLE_METRICS", "recipe_lines", "ensemble_lines",
]

# Threshold-free metrics lead (val and test distributions differ).
LEAD_METRICS = ("roc_auc", "pr_auc", "f1", "f1_normal", "macro_f1", "balanced_accuracy", "f1_valthr", "f1_normal_valthr")


def comparison_table(results: pd.DataFrame, metrics_: Sequence[str] = LEAD_METRICS, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` over seeds per (classifier, strategy), with the number of seeds."""
    present = [m for m in metrics_ if m in results.columns]
    summary = summarise(results, by=("classifier", "strategy"), metrics=present)
    return format_summary(summary, digits=digits).set_index(["classifier", "strategy"])


def _pairs(results: pd.DataFrame, metric: str, target: str, baseline: str) -> pd.DataFrame | None:
    have = set(results["strategy"])
    if target not in have or baseline not in have:
        return None
    return paired_difference(results, metric, target, baseline, by="classifier")


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
    :func:`helpers.evaluation.comparisons.paired_comparisons`).
    """
    if load_scores is not None:
        pairs = [(t, b) for t in targets for b in baselines if t != b]
        comparisons = paired_comparisons(results, load_scores, pairs, ComparisonSettings(metric=metric, **paired_options))
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
    """One sentence per row of :func:`helpers.evaluation.comparisons.paired_comparisons`, e.g.

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
    summary = summarise(results, by=("classifier", "strategy"), metrics=[metric])
    idx = summary.groupby("classifier")[f"{metric}_mean"].idxmax()
    return summary.loc[idx].reset_index(drop=True)


def gan_summary_line(results: pd.DataFrame, metric: str = "roc_auc", gan_strategies: Sequence[str] = ("gan",),
                     comparisons: pd.DataFrame | None = None) -> str:
    """How many classifiers a GAN strategy beat the best non-GAN strategy for (mean over seeds).

    With ``comparisons`` (:func:`helpers.evaluation.comparisons.paired_comparisons`) a second sentence counts the
    verdicts of its rows whose target is one of ``gan_strategies``.
    """
    summary = summarise(results, by=("classifier", "strategy"), metrics=[metric])
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


def caption(number: str, text: str, **facts: Any) -> str:
    """A figure caption: ``**Figure <number>** <text> (<fact>: <value>; ...).`` (underscores in names become spaces)."""
    details = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts.items())
    return f"**Figure {number}** {text.rstrip('.')}" + (f" ({details})." if details else ".")


def save_table(table: pd.DataFrame, folder, name: str, run_id: str = "", caption: str = "",
               csv_table: pd.DataFrame | None = None) -> tuple:
    """Write a table as Markdown (with caption and run stamp) and CSV, atomically; return both paths.

    The CSV holds ``csv_table`` when given (e.g. the numbers behind a formatted table), else ``table``.
    """
    from pathlib import Path

    from helpers.core.artifacts import atomic_write

    folder = Path(folder)
    md_path, csv_path = folder / f"{name}.md", folder / f"{name}.csv"
    text = (f"{caption}\n\n" if caption else "") + table.reset_index().to_markdown(index=False) + (f"\n\n_run: {run_id}_\n" if run_id else "\n")
    with atomic_write(md_path) as tmp:
        tmp.write_text(text)
    with atomic_write(csv_path) as tmp:
        (table if csv_table is None else csv_table).to_csv(tmp)
    return md_path, csv_path


def accuracy_over_epochs(histories: pd.DataFrame, original: str = "none", augmented: str = "gan") -> pd.DataFrame:
    """Per-epoch curves of training on the original vs the GAN-augmented training set (long format).

    Columns ``model``, ``strategy``, ``seed``, ``epoch``, ``training_set``, ``metric``, ``value``;
    metrics: ``val_auc_exact`` (exact validation ROC-AUC), ``val_balanced_accuracy`` (where the
    histories record it), ``accuracy`` (training) and ``val_accuracy``, for
    :func:`helpers.report.plots.accuracy_over_epochs`.
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
# Table 1 of Ghosh & Dutta, the with-vs-without verdict, and the tables a report is rebuilt from
# --------------------------------------------------------------------------------------------------

#: The two papers this series compares with, named as the report cites them.
GHOSH_DUTTA = ('S. Ghosh and S. Dutta, "Deep Convolutional GAN for Minority Class Oversampling: Evaluating Impact '
               'Across Classifiers", internship report, IIEST Shibpur')
SUMITHRA_DEVI = ('Sumithra Devi K A et al., "Data Augmentation using GANs for Image Classifications", '
                 'DSATM Bangalore')
#: Ghosh & Dutta's Table 1 (Kermany data, one run): ``(classifier, strategy) -> (P, R, F1, ROC-AUC)``.
#: The paper says its metrics "focus on the minority class" without naming the positive class.
PUBLISHED_TABLE_1: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("decision_tree", "gan"): (0.7439, 0.7372, 0.7151, 0.6752),
    ("decision_tree", "none"): (0.7539, 0.7324, 0.7004, 0.6594),
    ("random_forest", "gan"): (0.7858, 0.7500, 0.7182, 0.6761),
    ("random_forest", "none"): (0.7882, 0.7388, 0.6987, 0.6577),
    ("svm", "gan"): (0.8333, 0.7885, 0.7642, 0.7205),
    ("svm", "none"): (0.8338, 0.7933, 0.7711, 0.7278),
    ("ann", "gan"): (0.8135, 0.7804, 0.7575, 0.8569),
    ("ann", "none"): (0.8123, 0.7484, 0.7079, 0.8418),
    ("cnn", "gan"): (0.8472, 0.8317, 0.8220, 0.8728),
    ("cnn", "none"): (0.8102, 0.7372, 0.6902, 0.8031),
    ("densenet121", "gan"): (0.7613, 0.9974, 0.8635, 0.9568),
    ("densenet121", "none"): (0.7647, 1.0000, 0.8667, 0.9074),
}
PUBLISHED_METRICS: tuple[str, ...] = ("precision", "recall", "f1", "roc_auc")
PUBLISHED_COLUMN = "Ghosh & Dutta: P / R / F1 / ROC-AUC (positive class not named)"
#: One name per generator: ``gan`` appends the DCGAN's fakes, the other GAN strategies the improved GAN's.
GENERATOR_NAMES: dict[str, str] = {"reference": "DCGAN", "default": "improved GAN"}
#: Table 1's metrics: P/R/F1 at threshold 0.5 with each class as the positive one, and ROC-AUC.
TABLE_1_METRICS: dict[str, str] = {
    "roc_auc": "ROC-AUC", "precision": "Precision (PNEUMONIA+)", "recall": "Recall (PNEUMONIA+)",
    "f1": "F1 (PNEUMONIA+)", "precision_normal": "Precision (NORMAL+)", "recall_normal": "Recall (NORMAL+)",
    "f1_normal": "F1 (NORMAL+)",
}
#: How every interval of chapter 6 is made (one sentence for captions).
INTERVAL_NOTE = ("95% hierarchical bootstrap interval: each replicate draws the seeds with replacement, then the "
                 "test images within each class, so the interval holds both seed-to-seed and test-set variation")


def interval_note(n_seeds: int) -> str:
    """:data:`INTERVAL_NOTE`, or with one seed the plain bootstrap over test images it then reduces to."""
    if n_seeds > 1:
        return INTERVAL_NOTE
    return ("95% bootstrap interval over the test images (within each class); with one seed it holds no "
            "seed-to-seed variation")


def plain_classifiers(results: pd.DataFrame) -> list[str]:
    """Classifiers in the published order, deep models with the reference recipe only (like with like)."""
    from helpers.classifiers.recipes import DEEP_CLASSIFIERS, parse_classifier
    from helpers.report.results import CLASSIFIERS

    present = set(results["classifier"])
    return [c for c in CLASSIFIERS if c in present
            and (c not in DEEP_CLASSIFIERS or parse_classifier(c)[1].name == "reference")]


def _join(values: Sequence[float], digits: int = 3, sep: str = "; ") -> str:
    return sep.join(f"{v:.{digits}f}" for v in values)


def table_1(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *, n_boot: int = 2000,
            seed: int = 0) -> pd.DataFrame:
    """Table 1's numbers: classifier × configuration (:data:`TABLE_1_ARMS`), every metric of :data:`TABLE_1_METRICS`.

    Per metric: the mean over seeds, ``_low``/``_high`` (:data:`INTERVAL_NOTE`, from the saved test
    scores) and ``_per_seed`` (the results' per-seed values, ``;``-separated, seeds in ``seed_list``);
    ``published_<metric>`` holds :data:`PUBLISHED_TABLE_1`'s value for that row (NaN where it has none).
    """
    rows = []
    for clf in plain_classifiers(results):
        for arm, label in TABLE_1_ARMS.items():
            sub = results[(results["classifier"] == clf) & (results["strategy"] == arm)].sort_values("seed")
            if sub.empty:
                continue
            pairs = [load_scores(clf, arm, int(s)) for s in sub["seed"]]
            y, scores = pairs[0][0], np.vstack([p[1] for p in pairs])
            row: dict[str, Any] = {"Classifier": clf, "Configuration": label, "strategy": arm, "seeds": len(sub),
                                   "seed_list": ";".join(str(int(s)) for s in sub["seed"])}
            for metric in TABLE_1_METRICS:
                value, low, high = bootstrap_interval(y, scores, metric, settings=BootstrapSettings(
                    n_boot=n_boot, seed=seed, resample_seeds=True))
                row.update({metric: value, f"{metric}_low": low, f"{metric}_high": high,
                            f"{metric}_per_seed": _join(sub[metric].to_numpy(dtype=float), 4)})
            published = PUBLISHED_TABLE_1.get((clf, arm))
            for i, metric in enumerate(PUBLISHED_METRICS):
                row[f"published_{metric}"] = published[i] if published else float("nan")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["Classifier", "Configuration"])


def table_1_display(numbers: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """:func:`table_1` as text: ``mean [low, high]`` per metric, ROC-AUC per seed, the published row."""
    out = pd.DataFrame(index=numbers.index)
    out["seeds"] = numbers["seeds"]
    for metric, name in TABLE_1_METRICS.items():
        out[name] = [f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" for v, lo, hi in
                     numbers[[metric, f"{metric}_low", f"{metric}_high"]].itertuples(index=False)]
        if metric == "roc_auc":
            out["ROC-AUC per seed"] = [" · ".join(f"{float(v):.{digits}f}" for v in text.split(";"))
                                       for text in numbers["roc_auc_per_seed"]]
    published = numbers[[f"published_{m}" for m in PUBLISHED_METRICS]].to_numpy(dtype=float)
    out[PUBLISHED_COLUMN] = ["" if np.isnan(r).all() else " / ".join(f"{v:.4f}" for v in r) for r in published]
    return out


def table_1_caption(dataset: str, size: int, seeds: Sequence[int]) -> str:
    """Table 1's caption: data, seeds, threshold, positive classes, intervals and the published source."""
    n = len(seeds)
    return (f"Table 1: test split of {dataset} at {size} px, mean over {n} seed{'s' if n != 1 else ''} "
            f"({', '.join(map(str, seeds))}) [{interval_note(n)}]. Precision, recall and F1 at threshold 0.5, with "
            "PNEUMONIA (+) or NORMAL (+) as the positive class. Last column: Table 1 of "
            f"{GHOSH_DUTTA} (Kermany data, one run), on the rows it reports; the paper says its metrics focus on the "
            "minority class but does not name its positive class.")


def best_baseline(results: pd.DataFrame, metric: str = "roc_auc", exclude: Sequence[str] = ("none",)) -> str | None:
    """The baseline strategy (not GAN, not in ``exclude``) with the highest mean ``metric`` over seeds."""
    from helpers.oversampling.strategies import BASELINE_STRATEGIES

    part = results[results["strategy"].isin(BASELINE_STRATEGIES) & ~results["strategy"].isin(exclude)]
    if part.empty:
        return None
    return str(part.groupby("strategy")[metric].mean().idxmax())


def _seed_diffs(results: pd.DataFrame, clf: str, target: str, baseline: str, metric: str) -> list[float]:
    part = results[results["classifier"] == clf].pivot_table(index="seed", columns="strategy", values=metric)
    return (part[target] - part[baseline]).dropna().tolist()


def with_without(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *, metric: str = "roc_auc",
                 targets: Sequence[str] = ("gan", "gan_improved"), n_boot: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> pd.DataFrame:
    """The verdict's comparisons, one Holm family: per classifier each target − ``none``, then − the best baseline.

    The best baseline is :func:`best_baseline` of that classifier (chosen on the test means, which
    favours it). Each row is :func:`helpers.evaluation.comparisons.paired_comparisons` with the hierarchical
    bootstrap (seeds, then test images) as its test, plus ``role`` (``"none"`` / ``"best baseline"``),
    ``seed_diffs`` (per-seed differences from ``results``) and ``verdict_raw`` (:func:`helpers.evaluation.comparisons.holm_calls`).
    """
    parts = []
    for clf in dict.fromkeys(results["classifier"]):
        part = results[results["classifier"] == clf]
        have = set(part["strategy"])
        present = [t for t in targets if t in have]
        if "none" not in have or not present:
            continue
        best = best_baseline(part, metric)
        pairs = [(t, "none") for t in present] + ([(t, best) for t in present] if best else [])
        comp = paired_comparisons(part, load_scores, pairs, ComparisonSettings(
            metric=metric, test="bootstrap", resample_seeds=True, n_boot=n_boot, seed=seed, alpha=alpha))
        comp["role"] = np.where(comp["baseline"] == "none", "none", "best baseline")
        comp["seed_diffs"] = [_join(_seed_diffs(part, clf, t, b, metric), 4) for t, b in zip(comp["target"], comp["baseline"], strict=True)]
        parts.append(comp)
    if not parts:
        raise ValueError("no classifier ran `none` and a GAN strategy: nothing to compare")
    return holm_calls(pd.concat(parts, ignore_index=True), alpha)


def _diff_text(row: Any, digits: int = 3) -> str:
    seeds = [float(x) for x in str(row["seed_diffs"]).split(";") if x]
    per_seed = f"per seed {', '.join(_signed(x, digits) for x in seeds)}; " if len(seeds) > 1 else "one seed; "
    raw = (f", unadjusted p = {row['p_test']:.3f}: {row['verdict_raw']}"
           if row["verdict_raw"] != row["verdict"] else "")
    return (f"{row['target']} − {row['baseline']} = {_signed(row['mean_diff'], digits)} "
            f"[{_signed(row['low'], digits)}, {_signed(row['high'], digits)}] ({per_seed}Holm p {_p_text(row['p_holm'])}: "
            f"**{row['verdict']}**{raw})")


def verdict_lines(comparisons: pd.DataFrame, digits: int = 3) -> list[str]:
    """The verdict from :func:`with_without`: a lead sentence, then one line per classifier (− none first)."""
    label = _METRIC_LABELS.get(comparisons["metric"].iloc[0], comparisons["metric"].iloc[0])
    n_seeds = sorted(set(comparisons["n_seeds"].astype(int)))
    lines = [f"Test {label} differences per classifier, with vs without GAN images first, then against the classifier's "
             f"best other baseline (highest mean test {label}, which favours it); {'/'.join(map(str, n_seeds))} "
             f"seed{'s' if max(n_seeds) != 1 else ''}, {interval_note(max(n_seeds))}; p from the same bootstrap, Holm-adjusted over all {len(comparisons)} comparisons "
             f"(alpha {comparisons['alpha'].iloc[0]:g}); where the unadjusted call differs it is given too."]
    for clf, part in comparisons.groupby("classifier", sort=False):
        none = part[part["role"] == "none"]
        best = part[part["role"] == "best baseline"]
        n = int(part["n_seeds"].max())
        text = f"{clf} ({n} seed{'s' if n != 1 else ''}): " + "; ".join(_diff_text(r, digits) for _, r in none.iterrows())
        if len(best):
            text += (f". Against the best other baseline, `{best['baseline'].iloc[0]}`: "
                     + "; ".join(_diff_text(r, digits) for _, r in best.iterrows()))
        lines.append(text + ".")
    for target, part in comparisons[comparisons["role"] == "none"].groupby("target", sort=False):
        counts = part["verdict"].value_counts()
        lines.append(f"{target} − none over {len(part)} classifiers: better for {counts.get('better', 0)}, worse for "
                     f"{counts.get('worse', 0)}, no clear difference for {counts.get('no clear difference', 0)} (Holm-adjusted).")
    return lines


def improved_vs_dcgan(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *, metric: str = "roc_auc",
                      n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """``gan_improved − gan`` per classifier that ran both (hierarchical bootstrap, Holm over these rows)."""
    comp = paired_comparisons(results, load_scores, [("gan_improved", "gan")], ComparisonSettings(
        metric=metric, test="bootstrap", resample_seeds=True, n_boot=n_boot, seed=seed, alpha=alpha))
    return holm_calls(comp, alpha)


def improved_vs_dcgan_line(comparisons: pd.DataFrame) -> str:
    """One sentence: whether the improved GAN's images ever beat the DCGAN's downstream."""
    if comparisons.empty:
        return "No classifier ran both `gan` and `gan_improved`."
    counts = comparisons["verdict"].value_counts()
    higher = int((comparisons["mean_diff"] > 0).sum())
    label = _METRIC_LABELS.get(comparisons["metric"].iloc[0], comparisons["metric"].iloc[0])
    better = counts.get("better", 0)
    head = ("The improved GAN's images never beat the DCGAN's downstream" if better == 0 else
            f"The improved GAN's images beat the DCGAN's downstream for {better} classifier(s)")
    return (f"{head}: gan_improved − gan in test {label} is Holm-adjusted better for {better}, worse for "
            f"{counts.get('worse', 0)}, no clear difference for {counts.get('no clear difference', 0)} of "
            f"{len(comparisons)} classifiers (higher mean for {higher}; mean difference "
            f"{_signed(float(comparisons['mean_diff'].mean()), 3)}).")


#: Fidelity metrics compared per seed between the two generators, and which direction is better.
FIDELITY_DIRECTION: dict[str, str] = {"kid_z_train": "lower", "relative_fd_train": "lower", "c2st_auc_pixels": "lower",
                                      "c2st_auc_features": "lower", "precision": "higher", "recall": "higher",
                                      "density": "higher", "coverage": "higher", "diversity_ratio": "higher"}


def fidelity_by_seed(fidelity: pd.DataFrame) -> pd.DataFrame:
    """Chapter 3's headline metrics as seed × (role, metric) values (roles: reference, default)."""
    part = fidelity[fidelity["metric"].isin(list(FIDELITY_DIRECTION))]
    return part.pivot_table(index="seed", columns=["role", "metric"], values="value", aggfunc="first")


def fidelity_downstream_line(fidelity: pd.DataFrame, improved: pd.DataFrame) -> str:
    """One sentence: did the generator with better fidelity (chapter 3) give better classifiers (:func:`improved_vs_dcgan`)?"""
    wide = fidelity_by_seed(fidelity)
    if "reference" not in wide.columns.get_level_values(0) or "default" not in wide.columns.get_level_values(0):
        return "Chapter 3 did not score both generators, so fidelity and downstream results cannot be set side by side."
    parts, wins, total = [], 0, 0
    for metric, direction in FIDELITY_DIRECTION.items():
        if ("default", metric) not in wide or ("reference", metric) not in wide:
            continue
        d, r = wide[("default", metric)], wide[("reference", metric)]
        better = int(((d < r) if direction == "lower" else (d > r)).sum())
        n = int((d.notna() & r.notna()).sum())
        wins, total = wins + better, total + n
        parts.append(f"{metric} {better}/{n}")
    n_seeds = len(wide)
    fidelity_better = wins > total / 2
    downstream_better = (improved["verdict"] == "better").sum() if len(improved) else 0
    bought = ("and better fidelity went with better classifiers for " f"{downstream_better} classifier(s)"
              if fidelity_better and downstream_better else
              "yet better fidelity did not buy better classifiers" if fidelity_better else
              "so the improved GAN did not have the better fidelity either")
    return (f"Fidelity over {n_seeds} seed{'s' if n_seeds != 1 else ''} (chapter 3; seeds where the improved GAN beats "
            f"the DCGAN): {', '.join(parts)}; downstream, gan_improved − gan is Holm-adjusted better for "
            f"{downstream_better} of {len(improved)} classifiers, {bought}.")


def ablation_summary(ablation: pd.DataFrame, metrics_: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Chapter 3's GAN ablation per variant over every seed present: ``n_seeds``, mean and a t-interval per metric.

    ``ablation`` is ``gan_ablation.csv`` (one row per variant and seed; no ``seed`` column = one seed).
    The interval is mean ± t(1 - alpha/2, n - 1) · sd / √n (NaN with one seed).
    """
    from scipy import stats

    metrics_ = [m for m in (metrics_ or FIDELITY_DIRECTION) if m in ablation.columns]
    group = [c for c in ("variant", "preset", "steps") if c in ablation.columns]
    rows = []
    for key, part in ablation.groupby(group, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(group, key, strict=True))
        row["n_seeds"] = int(part["seed"].nunique()) if "seed" in part else len(part)
        for m in metrics_:
            v = part[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            mean = float(v.mean()) if len(v) else float("nan")
            half = float(stats.t.ppf(1 - alpha / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
            row.update({m: mean, f"{m}_low": mean - half, f"{m}_high": mean + half})
        rows.append(row)
    return pd.DataFrame(rows)


def decision_tree_note(load_scores: Callable[[str, str, int], Any], results: pd.DataFrame) -> str | None:
    """A sentence when the decision tree's test scores take few values (its ROC-AUC is then an operating point)."""
    rows = results[results["classifier"] == "decision_tree"]
    if rows.empty:
        return None
    levels = sorted({int(np.unique(load_scores("decision_tree", s, int(k))[1]).size)
                     for s, k in zip(rows["strategy"], rows["seed"], strict=True)})
    if max(levels) > 10:
        return None
    return (f"The decision tree's test scores take {'/'.join(map(str, levels))} distinct value(s) per run, so its "
            "ROC curve is one operating point joined to the corners and its ROC-AUC equals its balanced accuracy "
            "at that point, not a ranking of the images.")


def weight_selection_note(results: pd.DataFrame) -> str | None:
    """A sentence on how far apart the validation ROC-AUCs were from which ``gan_weighted`` picked its weight."""
    import re

    rows = results[(results["strategy"] == "gan_weighted") & results.get("weight_selection", pd.Series(dtype=str)).notna()]
    if rows.empty:
        return None
    spreads, picks = [], []
    for text, weight in zip(rows["weight_selection"], rows["synthetic_weight"], strict=True):
        aucs = [float(x) for x in re.findall(r"val AUC ([0-9.]+)", str(text))]
        if len(aucs) > 1:
            spreads.append(max(aucs) - min(aucs))
            picks.append(f"{float(weight):g}")
    if not spreads:
        return None
    return (f"gan_weighted's weight on the synthetic images ({', '.join(picks)} by seed) was chosen on validation "
            f"ROC-AUCs that differed by at most {max(spreads):.4f} between the candidate weights: a choice on tiny "
            "differences, close to a coin toss.")


def phantom_note(metrics_07: Mapping[str, Any] | None) -> str | None:
    """A label for chapter 7's recorded numbers when they come from phantom data (with its collapsed GANs)."""
    if not metrics_07 or metrics_07.get("dataset") != "phantom":
        return None
    collapsed = [k for k, v in (metrics_07.get("collapsed") or {}).items() if v]
    return ("**Chapter 7's recorded numbers (`results/metrics/07.json`) come from a phantom run, not from real data**"
            " (procedural multi-label phantoms): not a medical result"
            + (f"; its GANs for {', '.join(collapsed)} collapsed." if collapsed else "."))


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
            value, low, high = bootstrap_interval(y, ensemble, m, settings=BootstrapSettings(n_boot=n_boot, seed=seed))
            row.update({m: value, f"{m}_low": low, f"{m}_high": high, f"{m}_single": float(sub[m].mean())})
        rows.append(row)
    columns = ["classifier", "strategy", "seeds"] + [f"{m}{s}" for m in metrics_ for s in ("", "_low", "_high", "_single")]
    return pd.DataFrame(rows, columns=columns)


def recipe_lines(results: pd.DataFrame, metrics_: Sequence[str] = ("roc_auc", "accuracy", "val_roc_auc"),
                 digits: int = 3) -> list[str]:
    """One sentence per architecture run with more than one recipe: each recipe's mean over the
    strategies and seeds they share, and the difference to the reference recipe (test metrics, and
    validation ROC-AUC, on which the recipe was chosen; metrics absent from ``results`` are left out)."""
    from helpers.classifiers.recipes import DEEP_CLASSIFIERS, parse_classifier

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

    from helpers.classifiers.deep import load_histories
    from helpers.core.artifacts import atomic_write, save_json

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

    from helpers.core.artifacts import load_json

    path = Path(tables_dir) / "run.json"
    return str(load_json(path)["run_id"]) if path.exists() else default


def lessons_lines(results: pd.DataFrame, fidelity: pd.DataFrame | None, comparisons: pd.DataFrame | None,
                  digits: int = 3) -> list[str]:
    """README "Lessons" bullets, each computed from this run's tables (a bullet whose numbers are missing is left out)."""
    lines = []
    if {"val_roc_auc", "roc_auc"} <= set(results.columns) and results["val_roc_auc"].notna().any():
        by = results.groupby("classifier")[["val_roc_auc", "roc_auc"]].mean()
        lines.append(f"Validation comes from the training distribution, the official test split is shifted: validation "
                     f"ROC-AUC averaged {results['val_roc_auc'].mean():.{digits}f} (classifiers {by['val_roc_auc'].min():.2f}-"
                     f"{by['val_roc_auc'].max():.2f}) against {results['roc_auc'].mean():.{digits}f} on test "
                     f"({by['roc_auc'].min():.2f}-{by['roc_auc'].max():.2f}) over {len(results)} runs. Threshold-free "
                     "metrics lead; thresholded ones are given at 0.5 and at the validation threshold.")
    if {"f1_normal", "f1_normal_valthr"} <= set(results.columns) and results["f1_normal_valthr"].notna().any():
        change = results["f1_normal_valthr"] - results["f1_normal"]
        lines.append(f"The validation threshold moved NORMAL F1 by {_signed(change.mean(), digits)} on average against "
                     f"threshold 0.5 (from {_signed(change.min(), digits)} to {_signed(change.max(), digits)} over runs), "
                     "so both thresholds are reported.")
    if fidelity is not None and len(fidelity):
        fd = fidelity.pivot_table(index="seed", columns="metric", values="value", aggfunc="first")
        if {"fd_train_test", "fd_train_halves"} <= set(fd.columns):
            lines.append(f"Train and test minority images lie far apart: FD between them averaged "
                         f"{fd['fd_train_test'].mean():.2f} against {fd['fd_train_halves'].mean():.2f} between two halves of "
                         "the training minority, so FD(fakes, test) alone can rate fakes better than real images; "
                         "chapter 3 reports FD against train and test with real-vs-real references.")
        flagged = fidelity[(fidelity["metric"] == "collapsed")]
        if len(flagged):
            names = sorted({f"{GENERATOR_NAMES.get(r, r)} (seed {int(s)})" for r, s, v in
                            zip(flagged["role"], flagged["seed"], flagged["value"], strict=True) if v})
            lines.append(f"Chapter 3's collapse check (recall, coverage, diversity) ran on {len(flagged)} generator runs and "
                         f"flagged {', '.join(names) if names else 'none'}; it reads the generated samples, not the losses.")
    if comparisons is not None and len(comparisons):
        none = comparisons[comparisons["role"] == "none"]
        counts = none["verdict"].value_counts()
        lines.append(f"GAN oversampling against no oversampling, {len(none)} classifier × generator comparisons of test "
                     f"ROC-AUC (intervals over seeds and test images, Holm-adjusted): better {counts.get('better', 0)}, "
                     f"worse {counts.get('worse', 0)}, no clear difference {counts.get('no clear difference', 0)}.")
    return lines


def figure_stamps(figures_dir) -> dict[str, list[str]]:
    """``{run stamp: [figure names]}`` read from the PNG metadata :func:`helpers.report.plots.save_fig` writes."""
    from pathlib import Path

    from PIL import Image

    stamps: dict[str, list[str]] = {}
    for path in sorted(Path(figures_dir).glob("*.png")):
        with Image.open(path) as im:
            stamp = str(im.info.get("Description", "")).removeprefix("run: ") or "no stamp"
        stamps.setdefault(stamp, []).append(path.stem)
    return stamps


def provenance_line(run_id: str, stamps: Mapping[str, Sequence[str]]) -> str:
    """Which commit the results came from, and which commit each group of figures was drawn at."""
    groups = [f"{', '.join(sorted({n[:2] for n in names}))} stamped `{stamp}`" for stamp, names in stamps.items()
              if stamp != run_id]
    return (f"**Provenance.** Every table and chapter-6 figure above is rebuilt from `results/`, exported from the run "
            f"`{run_id}` (`results/run.json`: the commit is the code the results came from)."
            + (f" The other chapters' figures were drawn when those chapters ran and keep their own stamps: "
               f"{'; '.join(groups)}." if groups else " Every committed figure carries that stamp."))


def generator_labels(fidelity: pd.DataFrame) -> dict[str, str]:
    """``{generator variant: "variant = DCGAN (gan)"}`` for the two generators chapters 4-5 use (from ``fidelity.csv``)."""
    strategy = {"reference": "gan", "default": "gan_improved"}
    pairs = fidelity[["generator", "role"]].drop_duplicates()
    return {g: f"{g} = {GENERATOR_NAMES.get(r, r)} ({strategy.get(r, r)})" for g, r in zip(pairs["generator"], pairs["role"], strict=True)}
