import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from helpers import report
from helpers.evaluation.comparisons import holm_calls
from helpers.evaluation.intervals import BootstrapSettings, bootstrap_interval
from helpers.evaluation.scores import classification_row


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


# --------------------------------------------------------------------------------------------------
# Table 1 beside Ghosh & Dutta's, intervals over seeds, the with-vs-without verdict
# --------------------------------------------------------------------------------------------------

PLAIN = ("decision_tree", "random_forest", "svm", "ann", "cnn", "densenet121")


def _table_1_runs(separations=(1.5, 1.5, 1.5), classifiers=PLAIN, strategies=("none", "gan", "gan_improved", "random")):
    """Synthetic runs: seed ``k`` separates the classes by ``separations[k]``; a row's metrics are recomputed."""
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(120), np.ones(180)].astype(int)
    scores, rows = {}, []
    for clf in classifiers:
        for strategy in strategies:
            for seed, sep in enumerate(separations):
                score = 1 / (1 + np.exp(-(sep * (2 * y - 1) + rng.normal(size=len(y)))))
                scores[(clf, strategy, seed)] = (y, score)
                row = classification_row(y, score)
                rows.append(dict(classifier=clf, strategy=strategy, seed=seed, **row))
    return pd.DataFrame(rows), lambda c, st, s: scores[(c, st, s)]


def test_table_1_puts_every_published_row_on_its_own_row():
    results, load = _table_1_runs()
    t1 = report.table_1(results, load, n_boot=200)
    assert len(report.PUBLISHED_TABLE_1) == 12
    for (clf, strategy), values in report.PUBLISHED_TABLE_1.items():
        row = t1.loc[(clf, report.TABLE_1_ARMS[strategy])]
        assert tuple(row[f"published_{m}"] for m in report.PUBLISHED_METRICS) == values
    assert t1.xs("with improved GAN", level="Configuration")["published_roc_auc"].isna().all()
    assert t1.loc[("cnn", "with DCGAN"), "published_roc_auc"] == 0.8728  # CNN + DCGAN, not CNN alone
    assert t1.loc[("cnn", "without DCGAN"), "published_roc_auc"] == 0.8031
    shown = report.table_1_display(t1)
    assert shown.loc[("densenet121", "with DCGAN"), report.PUBLISHED_COLUMN] == "0.7613 / 0.9974 / 0.8635 / 0.9568"
    assert shown.loc[("densenet121", "with improved GAN"), report.PUBLISHED_COLUMN] == ""
    assert "positive class not named" in report.PUBLISHED_COLUMN
    # both positive classes, and each seed's value from the results table
    assert {"F1 (PNEUMONIA+)", "F1 (NORMAL+)", "ROC-AUC per seed"} <= set(shown.columns)
    per_seed = results.query("classifier == 'svm' and strategy == 'none'").sort_values("seed")["roc_auc"]
    assert t1.loc[("svm", "without DCGAN"), "roc_auc_per_seed"] == "; ".join(f"{v:.4f}" for v in per_seed)
    assert t1.loc[("svm", "without DCGAN"), "roc_auc"] == pytest.approx(per_seed.mean())
    caption = report.table_1_caption("pneumoniamnist", 28, [0, 1, 2])
    assert "Ghosh and S. Dutta" in caption and "does not name its positive class" in caption and "(0, 1, 2)" in caption


def test_table_1_intervals_widen_when_seeds_disagree():
    agree, load_agree = _table_1_runs((1.0, 1.0, 1.0), classifiers=("cnn",), strategies=("none",))
    disagree, load_disagree = _table_1_runs((0.3, 1.0, 2.5), classifiers=("cnn",), strategies=("none",))
    width = {}
    for name, (results, load) in {"agree": (agree, load_agree), "disagree": (disagree, load_disagree)}.items():
        row = report.table_1(results, load, n_boot=400).iloc[0]
        width[name] = row["roc_auc_high"] - row["roc_auc_low"]
    assert width["disagree"] > 2 * width["agree"]
    y, s = load_disagree("cnn", "none", 0)
    scores = np.vstack([load_disagree("cnn", "none", k)[1] for k in range(3)])
    images_only = bootstrap_interval(y, scores, settings=BootstrapSettings(n_boot=400))
    hierarchical = bootstrap_interval(y, scores, settings=BootstrapSettings(n_boot=400, resample_seeds=True))
    assert hierarchical[2] - hierarchical[1] > images_only[2] - images_only[1]
    # one seed: drawing the seeds changes nothing
    assert bootstrap_interval(y, s, settings=BootstrapSettings(n_boot=300, resample_seeds=True)) == bootstrap_interval(y, s, settings=BootstrapSettings(n_boot=300))


def test_verdict_names_minus_none_for_every_classifier():
    results, load = _table_1_runs(strategies=("none", "gan", "gan_improved", "random", "class_weight"))
    comparisons = report.with_without(results, load, n_boot=200)
    lines = report.verdict_lines(comparisons)
    for clf in PLAIN:
        line = next(line for line in lines if line.startswith(f"{clf} ("))
        assert line.index("gan − none") < line.index("gan_improved − none") < line.index("best other baseline")
        assert "Holm p" in line and "[" in line
    assert comparisons["n_comparisons"].iloc[0] == len(comparisons) == 4 * len(PLAIN)
    assert set(comparisons["role"]) == {"none", "best baseline"}
    assert not any("best mean" in line for line in lines)
    one = report.with_without(results[results["seed"] == 0], load, n_boot=100)
    one_lines = report.verdict_lines(one)
    assert "holds no seed-to-seed variation" in one_lines[0] and one_lines[1].startswith("decision_tree (1 seed): ")


def test_verdict_says_when_raw_and_adjusted_calls_differ():
    rows = pd.DataFrame([
        dict(classifier="cnn", target="gan", baseline="none", metric="roc_auc", n_seeds=3, mean_diff=0.007, low=0.001,
             high=0.014, p_test=0.01, role="none", seed_diffs="0.009;0.004;0.007"),
        dict(classifier="cnn", target="gan", baseline="random", metric="roc_auc", n_seeds=3, mean_diff=0.001,
             low=-0.01, high=0.01, p_test=0.02, role="best baseline", seed_diffs="0.001;0.0;0.002"),
        dict(classifier="svm", target="gan", baseline="none", metric="roc_auc", n_seeds=3, mean_diff=-0.05, low=-0.08,
             high=-0.02, p_test=0.001, role="none", seed_diffs="-0.05;-0.04;-0.06"),
    ])
    called = holm_calls(rows)
    assert list(called["p_holm"]) == pytest.approx([0.02, 0.02, 0.003])
    called.loc[0, "p_test"], called.loc[0, "p_holm"] = 0.01, 0.06  # adjusted call flips
    called.loc[0, "verdict"] = "no clear difference"
    cnn = report.verdict_lines(called)[1]
    assert "gan − none = +0.007 [+0.001, +0.014] (per seed +0.009, +0.004, +0.007; Holm p = 0.06: " in cnn
    assert "**no clear difference**, unadjusted p = 0.010: better" in cnn
    svm = report.verdict_lines(called)[2]
    assert "**worse**" in svm and "unadjusted" not in svm


def test_improved_vs_dcgan_and_fidelity_sentences_follow_the_numbers():
    rows = pd.DataFrame({"classifier": ["cnn", "svm"], "metric": ["roc_auc"] * 2, "mean_diff": [-0.01, 0.002],
                         "verdict": ["worse", "no clear difference"]})
    line = report.improved_vs_dcgan_line(rows)
    assert line.startswith("The improved GAN's images never beat the DCGAN's downstream")
    assert "worse for 1, no clear difference for 1 of 2" in line
    fidelity = pd.DataFrame([dict(seed=s, role=r, metric=m, value=v) for s in (0, 1)
                             for r, v in (("reference", 2.0), ("default", 1.0)) for m in ("kid_z_train", "recall")])
    text = report.fidelity_downstream_line(fidelity, rows)
    assert "over 2 seeds" in text and "kid_z_train 2/2" in text and "recall 0/2" in text


def test_ablation_summary_handles_one_and_several_seeds():
    one = pd.DataFrame({"variant": ["a", "b"], "kid_z_train": [1.0, 2.0]})
    summary = report.ablation_summary(one)
    assert list(summary["n_seeds"]) == [1, 1] and summary["kid_z_train_low"].isna().all()
    many = pd.DataFrame({"variant": ["a"] * 3, "seed": [0, 1, 2], "kid_z_train": [1.0, 2.0, 3.0]})
    row = report.ablation_summary(many).iloc[0]
    assert row["n_seeds"] == 3 and row["kid_z_train"] == 2.0
    assert row["kid_z_train_low"] < 2.0 < row["kid_z_train_high"]


def test_ablation_summary_t_interval_on_known_numbers_per_variant_and_budget():
    rows = pd.DataFrame({"variant": ["a"] * 4 + ["a_short"] * 2, "preset": ["a"] * 6,
                         "budget": ["gan_steps"] * 4 + ["reference"] * 2, "seed": [0, 1, 2, 3, 0, 1],
                         "recall": [0.2, 0.4, 0.6, 0.8, 0.5, 0.5], "collapsed": [0, 0, 1, 1, 0, 0]})
    summary = report.ablation_summary(rows).set_index("variant")
    a = summary.loc["a"]
    # mean 0.5, sd 0.2582, t(0.975, 3) = 3.1824: half-width 3.1824 * 0.2582 / 2 = 0.4108
    assert a["n_seeds"] == 4 and a["budget"] == "gan_steps" and a["recall"] == pytest.approx(0.5)
    assert a["recall_low"] == pytest.approx(0.5 - 0.41082, abs=1e-4)
    assert a["recall_high"] == pytest.approx(0.5 + 0.41082, abs=1e-4)
    assert a["collapsed"] == 0.5 and summary.loc["a_short", "recall_low"] == 0.5  # no spread, zero width


def test_equal_budget_line_says_whether_intervals_overlap():
    rows = pd.DataFrame({"variant": ["ref"] * 3 + ["x_540"] * 3 + ["x_3000"] * 3, "preset": ["dcgan"] * 3 + ["x"] * 6,
                         "budget": ["reference"] * 6 + ["gan_steps"] * 3, "steps": [540] * 6 + [3000] * 3,
                         "seed": [0, 1, 2] * 3, "recall": [0.1, 0.11, 0.12, 0.5, 0.51, 0.52, 0.9, 0.9, 0.9],
                         "coverage": [0.3, 0.5, 0.7, 0.35, 0.55, 0.65, 0.9, 0.9, 0.9]})
    line = report.equal_budget_line(report.ablation_summary(rows), "ref")
    assert "540 generator steps" in line and "over 3 seeds" in line and "x_3000" not in line
    assert "recall 0.51 vs 0.11 (beats it, intervals apart)" in line
    assert "coverage 0.52 vs 0.50 (intervals overlap: no clear difference)" in line
    one = report.equal_budget_line(report.ablation_summary(rows[rows["seed"] == 0]), "ref")
    assert "one seed, no interval" in one and "over 1 seed:" not in one


def test_notes_on_scores_weights_and_phantom_numbers():
    y = np.array([0, 0, 1, 1])
    results = pd.DataFrame({"classifier": ["decision_tree"], "strategy": ["none"], "seed": [0]})
    note = report.decision_tree_note(lambda c, st, s: (y, np.array([0.0, 1.0, 1.0, 1.0])), results)
    assert note and "2 distinct" in note and "one operating point" in note
    graded = (np.r_[np.zeros(20), np.ones(20)], np.linspace(0, 1, 40))
    assert report.decision_tree_note(lambda c, st, s: graded, results) is None
    weights = pd.DataFrame({"strategy": ["gan_weighted"], "synthetic_weight": [0.25],
                            "weight_selection": ["w=0.25: val AUC 0.9975; w=0.5: val AUC 0.9971; w=1: val AUC 0.9972"]})
    assert "at most 0.0004" in report.weight_selection_note(weights)
    assert "phantom run" in report.phantom_note({"dataset": "phantom", "collapsed": {"Mass": 1.0, "Nodule": 0.0}})
    assert "Mass" in report.phantom_note({"dataset": "phantom", "collapsed": {"Mass": 1.0}})
    assert report.phantom_note({"dataset": "nih"}) is None


def test_provenance_line_names_the_tables_folder_and_other_stamps():
    from helpers.report import provenance_line

    run = "kermany64/kaggle_pneumonia/64px/seeds 0,1,2 @ abc1234 2026-12-03"
    line = provenance_line(run, {run: ["06_roc_none"]}, tables="results/kermany64/")
    assert "rebuilt from `results/kermany64/`" in line and "`results/kermany64/run.json`" in line
    assert "Every committed figure carries that stamp" in line
    other = provenance_line(run, {run: ["06_roc_none"], "quick @ 0000000": ["01_samples", "03_fakes"]})
    assert "`results/run.json`" in other and "01, 03 stamped `quick @ 0000000`" in other
