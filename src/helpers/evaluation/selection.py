"""Does validation rank runs as test does? The whole validation split against its harder half.

A validation split that is nearly separable (ROC-AUC 0.999) cannot order models that differ on test by
a few thousandths. :func:`hard_half` keeps the half of each class that a first model finds hardest
(the positives it scores lowest, the negatives it scores highest); :func:`validation_ranking` scores
every other run on that half and asks which split orders the runs as test does (Spearman's rho over
runs) and which configuration each split would pick.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from helpers.evaluation.scores import safe_roc_auc, score_vector

__all__ = ["hard_half", "validation_ranking"]

ScoreLoader = Callable[[str, str, int], tuple[np.ndarray, np.ndarray]]


def hard_half(y_true: np.ndarray, reference_scores: np.ndarray) -> np.ndarray:
    """Boolean mask of the harder half of each class by ``reference_scores`` (label 1 positive).

    Within a class the order needs no threshold: a positive is harder the lower it is scored, a negative the
    higher. Each class keeps ``ceil(n / 2)`` images, so the half has the split's class balance.
    """
    y = np.asarray(y_true).astype(int)
    s = score_vector(reference_scores)
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    mask = np.zeros(len(y), dtype=bool)
    for label, sign in ((1, 1.0), (0, -1.0)):
        idx = np.flatnonzero(y == label)
        if len(idx) == 0:
            raise ValueError(f"validation labels hold no class {label}: the hard half needs both classes")
        order = idx[np.argsort(sign * s[idx], kind="stable")]  # hardest first
        mask[order[: int(np.ceil(len(idx) / 2))]] = True
    return mask


def validation_ranking(rows: pd.DataFrame, load_val: ScoreLoader,
                       reference: tuple[str, str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each run's ROC-AUC on the whole validation split, on its hard half, and on test; how each split ranks.

    ``rows``: results rows (``classifier``, ``strategy``, ``seed``, ``val_roc_auc``, ``roc_auc``);
    ``load_val(classifier, strategy, seed)``: that run's ``(y_val, score_val)``; ``reference``: the run
    whose scores define the hard half (left out of the ranking: the half is hard for it by construction).
    Returns ``(runs, summary)``: one row per run with ``hard_val_roc_auc``; one row per split ("val",
    "hard val") with its images, Spearman's rho with test over all runs, over each classifier's runs
    (``rho_<classifier>``) and over configurations (classifier, strategy: means over seeds), the
    configuration it would pick and that one's test ROC-AUC.
    """
    y_ref, s_ref = load_val(*reference)
    mask = hard_half(y_ref, s_ref)
    key = ["classifier", "strategy", "seed"]
    others = rows[[tuple(r) != tuple(reference) for r in rows[key].itertuples(index=False)]].copy()
    if len(others) < 3:
        raise ValueError(f"{len(others)} runs besides the reference {reference}: a ranking needs at least 3")
    hard = []
    for r in others.itertuples():
        y, s = load_val(r.classifier, r.strategy, int(r.seed))
        if not np.array_equal(np.asarray(y).astype(int), np.asarray(y_ref).astype(int)):
            raise ValueError(f"{r.classifier}/{r.strategy}/seed {r.seed}: validation labels differ from the "
                             f"reference run's, so the runs saw different validation splits")
        hard.append(safe_roc_auc(np.asarray(y).astype(int)[mask], score_vector(s)[mask], "hard validation half"))
    runs = others[key + ["val_roc_auc", "roc_auc"]].assign(hard_val_roc_auc=hard).reset_index(drop=True)
    configs = runs.groupby(["classifier", "strategy"])[["val_roc_auc", "hard_val_roc_auc", "roc_auc"]].mean()
    summary = []
    for split, column, n in (("val", "val_roc_auc", len(mask)), ("hard val", "hard_val_roc_auc", int(mask.sum()))):
        pick = configs[column].idxmax()
        summary.append({
            "split": split, "n_images": n, "mean_roc_auc": float(runs[column].mean()),
            "rho_runs": _rho(runs[column], runs["roc_auc"]),
            **{f"rho_{c}": _rho(g[column], g["roc_auc"]) for c, g in runs.groupby("classifier")},
            "rho_configs": _rho(configs[column], configs["roc_auc"]),
            "picks": " / ".join(pick), "pick_test_roc_auc": float(configs.loc[pick, "roc_auc"]),
        })
    return runs, pd.DataFrame(summary).set_index("split")


def _rho(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho, NaN for fewer than 3 pairs."""
    return float(stats.spearmanr(a, b).statistic) if len(a) >= 3 else float("nan")
