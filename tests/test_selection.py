"""The hard validation half and how validation ranks runs (helpers.evaluation.selection)."""

import numpy as np
import pandas as pd
import pytest

from helpers import report
from helpers.evaluation.selection import hard_half, validation_ranking


def test_hard_half_keeps_each_class_half_its_hardest():
    y = np.array([1, 1, 1, 1, 0, 0, 0])
    s = np.array([0.9, 0.2, 0.6, 0.4, 0.1, 0.8, 0.3])
    mask = hard_half(y, s)
    # positives scored lowest (0.2, 0.4), negatives scored highest (0.8, 0.3; ceil(3/2) = 2)
    assert mask.tolist() == [False, True, False, True, False, True, True]


def test_hard_half_needs_both_classes_and_matching_shapes():
    with pytest.raises(ValueError, match="no class 0"):
        hard_half(np.ones(4), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        hard_half(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))


def _runs(n_val=400, seed=0):
    """Five runs whose test order follows their skill on the hard cases; on the easy ones the better runs err more."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n_val // 2)
    easy = np.arange(n_val) < n_val // 2
    ref = np.where(easy, np.where(y == 1, 5.0, -5.0), np.where(y == 1, 0.2, -0.2))  # hard cases near the boundary
    scores, rows = {}, []
    for i, skill in enumerate([0.0, 0.3, 0.6, 0.9, 1.2]):
        noise = rng.normal(size=n_val)
        wrong = rng.random(n_val) < 0.15 * i  # easy cases this run gets wrong: more for the better runs
        s = np.where(easy, np.where(y == 1, 5.0, -5.0) * np.where(wrong, -1, 1), (2 * y - 1) * skill + noise)
        scores[("cnn", f"s{i}", 0)] = (y, s)
        rows.append({"classifier": "cnn", "strategy": f"s{i}", "seed": 0, "roc_auc": 0.8 + 0.02 * i})
    scores[("cnn", "none", 0)] = (y, ref)
    rows.append({"classifier": "cnn", "strategy": "none", "seed": 0, "roc_auc": 0.5})
    table = pd.DataFrame(rows)
    from sklearn.metrics import roc_auc_score

    table["val_roc_auc"] = [roc_auc_score(*scores[(r.classifier, r.strategy, r.seed)]) for r in table.itertuples()]
    return table, lambda c, s, k: scores[(c, s, int(k))]


def test_validation_ranking_scores_runs_on_the_hard_half_and_leaves_out_the_reference():
    rows, load = _runs()
    runs, summary = validation_ranking(rows, load, reference=("cnn", "none", 0))
    assert len(runs) == 5 and "none" not in set(runs["strategy"])
    # the hard half holds the ambiguous cases, where the runs differ as on test: it ranks like test
    assert summary.loc["hard val", "n_images"] == 200 and summary.loc["val", "n_images"] == 400
    assert summary.loc["hard val", "rho_runs"] == pytest.approx(1.0)
    assert summary.loc["val", "rho_runs"] < 0 and summary.loc["val", "picks"] != "cnn / s4"
    assert summary.loc["hard val", "picks"] == "cnn / s4"
    assert summary.loc["hard val", "pick_test_roc_auc"] == pytest.approx(0.88)
    line = report.validation_ranking_line(summary, ("cnn", "none", 0), len(runs))
    assert "200 of 400 images" in line and "orders the runs more like test" in line


def test_validation_ranking_refuses_runs_on_other_validation_splits():
    rows, load = _runs()

    def other(c, s, k):
        y, sc = load(c, s, k)
        return (1 - y if s == "s2" else y), sc

    with pytest.raises(ValueError, match="s2/seed 0: validation labels differ"):
        validation_ranking(rows, other, reference=("cnn", "none", 0))
