"""Table 1 of Ghosh & Dutta beside ours: the published numbers, our means with intervals, captions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.evaluation.intervals import BootstrapSettings, bootstrap_interval
from helpers.oversampling.strategies import TABLE_1_ARMS

__all__ = ["GHOSH_DUTTA", "PUBLISHED_TABLE_1", "PUBLISHED_METRICS", "PUBLISHED_COLUMN", "GENERATOR_NAMES",
    "TABLE_1_METRICS", "INTERVAL_NOTE", "interval_note", "plain_classifiers", "table_1", "table_1_display",
    "table_1_caption", "generator_labels"]

#: The paper this series reproduces, as the report cites it.
GHOSH_DUTTA = ('S. Ghosh and S. Dutta, "Deep Convolutional GAN for Minority Class Oversampling: Evaluating Impact '
               'Across Classifiers", internship report, IIEST Shibpur')
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
    from helpers.classifiers.results import CLASSIFIERS

    present = set(results["classifier"])
    return [c for c in CLASSIFIERS if c in present
            and (c not in DEEP_CLASSIFIERS or parse_classifier(c)[1].name == "reference")]


def _join(values: Sequence[float], digits: int = 3, sep: str = "; ") -> str:
    return sep.join(f"{v:.{digits}f}" for v in values)


def table_1(results: pd.DataFrame, load_scores: Callable[[str, str, int], Any], *, n_boot: int = 2000,
            seed: int = 0) -> pd.DataFrame:
    """Classifier × configuration: per :data:`TABLE_1_METRICS` metric the mean, ``_low``/``_high``
    (:data:`INTERVAL_NOTE`) and ``_per_seed``; ``published_<metric>`` from :data:`PUBLISHED_TABLE_1` (else NaN)."""
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


def generator_labels(fidelity: pd.DataFrame) -> dict[str, str]:
    """``{generator variant: "variant = DCGAN (gan)"}`` for the two generators chapters 4-5 use (from ``fidelity.csv``)."""
    strategy = {"reference": "gan", "default": "gan_improved"}
    pairs = fidelity[["generator", "role"]].drop_duplicates()
    return {g: f"{g} = {GENERATOR_NAMES.get(r, r)} ({strategy.get(r, r)})" for g, r in zip(pairs["generator"], pairs["role"], strict=True)}
