import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import metrics, report


def _results():
    rows = []
    rng = np.random.default_rng(0)
    for clf, gan_gain in (("cnn", -0.05), ("svm", 0.04)):
        for seed in range(4):
            base = 0.8 + rng.normal(0, 0.002)
            for strategy, auc in (("none", base), ("random", base + 0.01), ("gan", base + gan_gain)):
                rows.append(dict(classifier=clf, strategy=strategy, seed=seed, roc_auc=auc, pr_auc=auc, f1=0.5))
    return pd.DataFrame(rows)


def test_comparison_table_has_mean_and_sd():
    table = report.comparison_table(_results(), metrics_=("roc_auc", "f1"))
    assert table.loc[("cnn", "none"), "roc_auc"].count("±") == 1
    assert set(table.columns) == {"roc_auc", "f1", "n"}


def test_verdicts_follow_the_numbers():
    lines = report.strategy_verdicts(_results(), "roc_auc", targets=["gan"], baselines=["none"])
    cnn = next(line for line in lines if line.startswith("cnn"))
    svm = next(line for line in lines if line.startswith("svm"))
    assert "gan is worse" in cnn and "gan is better" in svm


def test_single_seed_is_called_anecdotal():
    one = _results().query("seed == 0")
    lines = report.strategy_verdicts(one, "roc_auc", targets=["gan"], baselines=["random"])
    assert lines and all("single seed" in line and "nan" not in line for line in lines)


def test_gan_summary_counts_wins():
    line = report.gan_summary_line(_results())
    assert line.startswith("GAN oversampling gave the best mean roc_auc for 1 of 2 classifiers")
    best = report.best_runs(_results())
    assert dict(zip(best["classifier"], best["strategy"], strict=False)) == {"cnn": "random", "svm": "gan"}


def test_confusion_from_row_layout():
    row = {"tn": 5, "fp": 1, "fn": 2, "tp": 9, "tn_valthr": 6, "fp_valthr": 0, "fn_valthr": 4, "tp_valthr": 7}
    assert report.confusion_from_row(row).tolist() == [[5, 1], [2, 9]]
    assert report.confusion_from_row(row, "_valthr").tolist() == [[6, 0], [4, 7]]


def test_save_table_writes_markdown_and_csv(tmp_path):
    table = report.comparison_table(_results(), metrics_=("roc_auc",))
    md, csv = report.save_table(table, tmp_path, "06_table", run_id="ci/phantom", caption="Caption.")
    text = md.read_text()
    assert text.startswith("Caption.") and "| classifier" in text and "_run: ci/phantom_" in text
    assert pd.read_csv(csv).shape[0] == len(table)


def _comparison_row(**overrides):
    row = dict(classifier="cnn", target="gan", baseline="random", metric="roc_auc", n_seeds=3, n_test=624,
               value_target=0.90, value_baseline=0.904, mean_diff=-0.004, low=-0.012, high=0.004,
               p_bootstrap=0.3, z_delong=-1.0, p_delong=0.31, low_delong=-0.012, high_delong=0.004,
               test="delong", p_test=0.31, p_holm=0.62, n_comparisons=6, alpha=0.05,
               verdict="no clear difference")
    row.update(overrides)
    return row


def test_paired_verdicts_word_the_row():
    rows = pd.DataFrame([
        _comparison_row(),
        _comparison_row(classifier="svm", metric="f1_normal", mean_diff=0.05, low=0.02, high=0.08,
                        test="bootstrap", p_test=0.0005, p_holm=0.003, n_seeds=1, verdict="better"),
    ])
    lines = report.paired_verdicts(rows)
    assert lines[0] == ("cnn: gan − random = −0.004 ROC-AUC [−0.012, +0.004] over 3 seeds, DeLong p = 0.31, "
                        "Holm p = 0.62 (6 comparisons): no clear difference.")
    assert lines[1] == ("svm: gan − random = +0.050 f1_normal [+0.020, +0.080] over 1 seed, bootstrap p < 0.001, "
                        "Holm p = 0.003 (6 comparisons): better.")


def _scored():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(100), np.ones(150)].astype(int)
    scores, rows = {}, []
    for clf, gan_sep in (("cnn", 3.0), ("svm", 0.3)):
        for strategy, sep in (("none", 1.2), ("random", 1.2), ("gan", gan_sep)):
            for seed in range(3):
                score = 1 / (1 + np.exp(-(sep * (2 * y - 1) + rng.normal(size=250))))
                scores[(clf, strategy, seed)] = (y, score)
                rows.append(dict(classifier=clf, strategy=strategy, seed=seed, roc_auc=roc_auc_score(y, score)))
    return pd.DataFrame(rows), scores


def test_strategy_verdicts_with_scores_use_paired_tests():
    results, scores = _scored()
    lines = report.strategy_verdicts(results, "roc_auc", targets=["gan"], baselines=["none", "random"],
                                     load_scores=lambda c, st, s: scores[(c, st, s)], n_boot=200)
    assert len(lines) == 4 and all("Holm p" in line and "(4 comparisons)" in line for line in lines)
    assert [line.split(":")[-1] for line in lines] == [" better."] * 2 + [" worse."] * 2
    # Without scores the old seed-level sentences are unchanged.
    assert "over 3 seed(s)" in report.strategy_verdicts(results, targets=["gan"], baselines=["none"])[0]


def test_gan_summary_line_counts_paired_verdicts():
    results, scores = _scored()
    comparisons = metrics.paired_comparisons(results, lambda c, st, s: scores[(c, st, s)],
                                             [("gan", "none"), ("gan", "random"), ("random", "none")], n_boot=200)
    line = report.gan_summary_line(results, comparisons=comparisons)
    assert line.startswith("GAN oversampling gave the best mean roc_auc for 1 of 2 classifiers")
    assert line.endswith("Paired tests on the test images (ROC-AUC, Holm-adjusted over 6 comparisons, alpha 0.05): "
                         "GAN better in 2, worse in 2, no clear difference in 0 of 4.")
    assert report.gan_summary_line(results) == line[: line.index(" Paired tests")]


def test_seed_ensembles_average_probabilities_and_give_intervals():
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 60)
    base = y + rng.normal(0, 0.9, size=(3, len(y)))  # three noisy "seeds"
    scores = {s: 1 / (1 + np.exp(-base[s])) for s in range(3)}
    rows = []
    for s in range(3):
        p = scores[s]
        rows.append({"classifier": "cnn", "strategy": "none", "seed": s,
                     "roc_auc": roc_auc_score(y, p), "pr_auc": 0.0, "accuracy": float(np.mean((p >= 0.5) == y)),
                     "f1_normal": 0.0})
    rows.append({"classifier": "svm", "strategy": "none", "seed": 0, "roc_auc": 0.5, "pr_auc": 0.5,
                 "accuracy": 0.5, "f1_normal": 0.5})  # one seed: no ensemble
    results = pd.DataFrame(rows)
    ens = report.seed_ensembles(results, lambda clf, st, seed: (y, scores[seed]), n_boot=200)
    assert list(ens["classifier"]) == ["cnn"] and int(ens["seeds"].iloc[0]) == 3
    mean_p = np.mean([scores[s] for s in range(3)], axis=0)
    assert ens["roc_auc"].iloc[0] == pytest.approx(roc_auc_score(y, mean_p))
    assert ens["roc_auc_low"].iloc[0] < ens["roc_auc"].iloc[0] < ens["roc_auc_high"].iloc[0]
    assert ens["roc_auc_single"].iloc[0] == pytest.approx(np.mean([roc_auc_score(y, scores[s]) for s in range(3)]))
    assert ens["roc_auc"].iloc[0] > ens["roc_auc_single"].iloc[0]  # averaging noisy seeds helps here
    text = " ".join(report.ensemble_lines(ens))
    assert f"{ens['roc_auc'].iloc[0]:.3f}" in text and "3 seeds" in text
    assert "no seed ensemble" in report.ensemble_lines(ens.iloc[:0])[0]


def test_recipe_lines_compare_only_shared_runs():
    rows = [{"classifier": c, "strategy": s, "seed": seed, "roc_auc": auc, "accuracy": acc}
            for c, auc, acc in (("cnn", 0.90, 0.80), ("cnn_strong", 0.95, 0.85))
            for s in ("none", "gan") for seed in (0, 1)]
    rows.append({"classifier": "cnn", "strategy": "random", "seed": 0, "roc_auc": 0.1, "accuracy": 0.1})  # not shared
    (line,) = report.recipe_lines(pd.DataFrame(rows))
    assert "ROC-AUC 0.950 vs 0.900 (+0.050)" in line and "0.850 vs 0.800 (+0.050)" in line and "4 runs each" in line
    assert "validation" not in line  # no val_roc_auc column here
    assert report.recipe_lines(pd.DataFrame(rows[:4])) == []  # one recipe only
