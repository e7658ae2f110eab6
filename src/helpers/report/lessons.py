"""Notes and README lessons computed from a run's tables: fidelity vs downstream, ablation, caveats."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from helpers.report.table1 import GENERATOR_NAMES
from helpers.report.verdicts import _signed

__all__ = ["FIDELITY_DIRECTION", "fidelity_downstream_line", "ablation_summary", "equal_budget_line", "validation_ranking_line",
    "decision_tree_note",
    "weight_selection_note", "phantom_note", "lessons_lines"]

#: Fidelity metrics compared per seed between the two generators, and which direction is better.
FIDELITY_DIRECTION: dict[str, str] = {"kid_z_train": "lower", "relative_fd_train": "lower", "c2st_auc_pixels": "lower",
                                      "c2st_auc_features": "lower", "precision": "higher", "recall": "higher",
                                      "density": "higher", "coverage": "higher", "diversity_ratio": "higher"}


def _fidelity_by_seed(fidelity: pd.DataFrame) -> pd.DataFrame:
    """Chapter 3's headline metrics as seed × (role, metric) values (roles: reference, default)."""
    part = fidelity[fidelity["metric"].isin(list(FIDELITY_DIRECTION))]
    return part.pivot_table(index="seed", columns=["role", "metric"], values="value", aggfunc="first")


def fidelity_downstream_line(fidelity: pd.DataFrame, improved: pd.DataFrame) -> str:
    """One sentence: did the generator with better fidelity (chapter 3) give better classifiers (:func:`improved_vs_dcgan`)?"""
    wide = _fidelity_by_seed(fidelity)
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
    bought = ("and better fidelity went with better classifiers for "
              f"{downstream_better} classifier{'s' if downstream_better != 1 else ''}"
              if fidelity_better and downstream_better else
              "so better fidelity did not buy better classifiers" if fidelity_better else
              "so the improved GAN did not have the better fidelity either")
    return (f"Fidelity over {n_seeds} seed{'s' if n_seeds != 1 else ''} (chapter 3; seeds where the improved GAN beats "
            f"the DCGAN): {', '.join(parts)}; downstream, gan_improved − gan is Holm-adjusted better for "
            f"{downstream_better} of {len(improved)} classifiers, {bought}.")


def ablation_summary(ablation: pd.DataFrame, metrics_: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Per (variant, budget) of ``gan_ablation.csv``: ``n_seeds`` and per metric the mean over seeds with its
    ``1 - alpha`` t-interval ``mean ± t(1 - alpha/2, n - 1) · sd / √n`` (``_low``, ``_high``; NaN with one seed)."""
    metrics_ = [m for m in (metrics_ or (*FIDELITY_DIRECTION, "collapsed")) if m in ablation.columns]
    group = [c for c in ("variant", "preset", "budget", "steps") if c in ablation.columns]
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


def equal_budget_line(summary: pd.DataFrame, reference: str, metrics_: Sequence[str] = ("recall", "coverage"),
                      digits: int = 2) -> str:
    """One sentence: per preset at the reference's budget (rows ``budget`` ``reference``/``both``), does it beat the
    reference variant ``reference`` on each metric: means with their intervals, and whether those overlap."""
    rows = summary[summary["budget"].isin(["reference", "both"])] if "budget" in summary else summary
    if reference not in set(rows["variant"]):
        return f"The reference {reference} is not in the ablation, so no preset is compared with it at equal budget."
    ref = rows[rows["variant"] == reference].iloc[0]
    n = int(ref["n_seeds"])
    parts = []
    for _, row in rows[rows["variant"] != reference].iterrows():
        said = []
        for m in metrics_:
            better = row[m] < ref[m] if FIDELITY_DIRECTION.get(m) == "lower" else row[m] > ref[m]
            if not np.isfinite(row[f"{m}_low"]) or not np.isfinite(ref[f"{m}_low"]):
                verdict = "one seed, no interval"
            elif row[f"{m}_low"] > ref[f"{m}_high"] or row[f"{m}_high"] < ref[f"{m}_low"]:
                verdict = "beats it, intervals apart" if better else "falls behind, intervals apart"
            else:
                verdict = "intervals overlap: no clear difference"
            said.append(f"{m} {row[m]:.{digits}f} vs {ref[m]:.{digits}f} ({verdict})")
        parts.append(f"{row['preset']}: " + ", ".join(said))
    if not parts:
        return f"No preset besides the reference {reference} trained at its budget."
    return (f"At the reference's budget ({int(ref['steps']):,} generator steps), means over {n} seed{'s' if n != 1 else ''}"
            f" against the paper's DCGAN {reference}: " + "; ".join(parts) + ".")


def validation_ranking_line(ranking: pd.DataFrame, reference_run: Sequence[Any], n_runs: int) -> str:
    """Sentences on :func:`helpers.evaluation.selection.validation_ranking`'s summary: does the hard half rank
    the runs more like test than the whole validation split (rho over runs up by more than 0.05)?"""
    hard, whole = ranking.loc["hard val"], ranking.loc["val"]
    better = hard["rho_runs"] > whole["rho_runs"] + 0.05
    return (
        f"On its hard half ({hard['n_images']} of {whole['n_images']} images, marked by "
        f"{'/'.join(map(str, reference_run))}) validation ROC-AUC reads {hard['mean_roc_auc']:.3f} against "
        f"{whole['mean_roc_auc']:.3f} on the whole split (mean over {n_runs} runs); its rank correlation with test "
        "over runs is "
        f"{hard['rho_runs']:+.2f} against {whole['rho_runs']:+.2f} for the whole split. "
        + ("The harder half orders the runs more like test." if better else
           "The harder half does not order the runs more like test, so a harder validation split does not fix "
           "model selection here.")
        + f" The whole split would pick {whole['picks']} (test {whole['pick_test_roc_auc']:.3f}), the hard half "
        f"{hard['picks']} (test {hard['pick_test_roc_auc']:.3f})."
    )


def decision_tree_note(load_scores: Callable[[str, str, int], Any], results: pd.DataFrame) -> str | None:
    """A sentence when the decision tree's test scores take few values (its ROC-AUC is then an operating point)."""
    rows = results[results["classifier"] == "decision_tree"]
    if rows.empty:
        return None
    levels = sorted({int(np.unique(load_scores("decision_tree", s, int(k))[1]).size)
                     for s, k in zip(rows["strategy"], rows["seed"], strict=True)})
    if max(levels) > 10:
        return None
    values = "value" if levels == [1] else "values"
    return (f"The decision tree's test scores take {'/'.join(map(str, levels))} distinct {values} per run, so its "
            "ROC curve is one operating point joined to the corners and its ROC-AUC equals its balanced accuracy "
            "at that point, not a ranking of the images.")


def weight_selection_note(results: pd.DataFrame) -> str | None:
    """A sentence on how far apart the validation ROC-AUCs were from which ``gan_weighted`` picked its weight."""
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
