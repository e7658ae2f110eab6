"""With-vs-without verdicts in plain sentences: paired differences over seeds or test images, Holm-adjusted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation.comparisons import ComparisonSettings, holm_calls, paired_comparisons
from helpers.evaluation.intervals import BootstrapSettings, bootstrap_interval
from helpers.evaluation.scores import summarise
from helpers.oversampling.strategies import BASELINE_STRATEGIES
from helpers.report.table1 import _join, interval_note

__all__ = ["ENSEMBLE_METRICS", "strategy_verdicts", "paired_verdicts", "gan_summary_line", "best_baseline",
    "with_without", "verdict_lines", "improved_vs_dcgan", "improved_vs_dcgan_line", "seed_ensembles",
    "ensemble_lines", "recipe_lines"]

_METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "pr_auc_normal": "PR-AUC (NORMAL positive)",
                  "accuracy": "accuracy at 0.5", "val_roc_auc": "validation ROC-AUC"}


def _label(metric: str) -> str:
    return _METRIC_LABELS.get(metric, metric)


def _signed(x: float, digits: int) -> str:
    """``+0.004`` / ``−0.004`` (a typographic minus)."""
    return f"{x:+.{digits}f}".replace("-", "−")


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "nan"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if p < 0.01 else f"= {p:.2f}"


def strategy_verdicts(results: pd.DataFrame, metric: str = "roc_auc", targets: Sequence[str] = ("gan",),
                      baselines: Sequence[str] = ("none", "class_weight", "random"), *,
                      load_scores: Callable[[str, str, int], Any], **paired_options: Any) -> list[str]:
    """:func:`paired_verdicts` of every target × baseline pair, Holm-adjusted together (``paired_options`` go to
    :func:`helpers.evaluation.comparisons.paired_comparisons`; ``load_scores(classifier, strategy, seed) -> (y, score)``)."""
    pairs = [(t, b) for t in targets for b in baselines if t != b]
    return paired_verdicts(paired_comparisons(results, load_scores, pairs, ComparisonSettings(metric=metric, **paired_options)))


def paired_verdicts(comparisons: pd.DataFrame, digits: int = 3) -> list[str]:
    """One sentence per :func:`helpers.evaluation.comparisons.paired_comparisons` row: difference, interval, the row's
    test p and the Holm-adjusted p with its verdict."""
    lines = []
    for _, row in comparisons.iterrows():
        label = _label(row["metric"])
        test = "DeLong" if row["test"] == "delong" else "bootstrap"
        seeds = int(row["n_seeds"])
        lines.append(
            f"{row['classifier']}: {row['target']} − {row['baseline']} = {_signed(row['mean_diff'], digits)} "
            f"{label} [{_signed(row['low'], digits)}, {_signed(row['high'], digits)}] over {seeds} "
            f"seed{'s' if seeds != 1 else ''}, {test} p {_p_text(row['p_test'])}, Holm p {_p_text(row['p_holm'])} "
            f"({int(row['n_comparisons'])} comparisons): {row['verdict']}."
        )
    return lines


def gan_summary_line(results: pd.DataFrame, metric: str = "roc_auc", gan_strategies: Sequence[str] = ("gan",)) -> str:
    """How many classifiers a GAN strategy beat the best non-GAN strategy for (mean over seeds)."""
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
    return head + " " + "; ".join(parts) + "."


def best_baseline(results: pd.DataFrame, metric: str = "roc_auc", exclude: Sequence[str] = ("none",)) -> str | None:
    """The baseline strategy (not GAN, not in ``exclude``) with the highest mean ``metric`` over seeds."""
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
    """Per classifier each target − ``none``, then − its :func:`best_baseline`, as one Holm family.

    Rows of :func:`helpers.evaluation.comparisons.paired_comparisons` (hierarchical bootstrap) plus ``role``,
    ``seed_diffs`` (per-seed differences) and ``verdict_raw`` (:func:`helpers.evaluation.comparisons.holm_calls`).
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
    label = _label(comparisons["metric"].iloc[0])
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
    label = _label(comparisons["metric"].iloc[0])
    better = counts.get("better", 0)
    head = ("The improved GAN's images never beat the DCGAN's downstream" if better == 0 else
            f"The improved GAN's images beat the DCGAN's downstream for {better} "
            f"classifier{'s' if better != 1 else ''}")
    return (f"{head}: gan_improved − gan in test {label} is Holm-adjusted better for {better}, worse for "
            f"{counts.get('worse', 0)}, no clear difference for {counts.get('no clear difference', 0)} of "
            f"{len(comparisons)} classifiers (higher mean for {higher}; mean difference "
            f"{_signed(float(comparisons['mean_diff'].mean()), 3)}).")


#: What :func:`seed_ensembles` reports for each ensemble.
ENSEMBLE_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "accuracy", "f1_normal")


def seed_ensembles(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *,
                   metrics_: Sequence[str] = ENSEMBLE_METRICS, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per classifier × strategy with two or more seeds, the mean of the seeds' scores as one ensemble: each metric
    with a bootstrap interval over test images (``_low``/``_high``) and the single seeds' mean (``_single``)."""
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


def recipe_lines(results: pd.DataFrame, metrics_: Sequence[str] = ("roc_auc", "accuracy", "val_roc_auc"),
                 digits: int = 3) -> list[str]:
    """Per architecture with several recipes: each recipe's means against the reference recipe's, on the shared runs."""
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
            parts = [f"{_label(m)} {means.loc[recipe, m]:.{digits}f} vs {means.loc['reference', m]:.{digits}f} "
                     f"({_signed(means.loc[recipe, m] - means.loc['reference', m], digits)})" for m in metrics_]
            n_strat = len({s for s, _ in shared})
            lines.append(f"{arch}, `{recipe}` vs `reference` recipe over the same {n_strat} strategies x seeds "
                         f"({len(shared)} runs each): " + "; ".join(parts) + ".")
    return lines
