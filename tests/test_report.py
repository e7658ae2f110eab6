import numpy as np
import pandas as pd

from helpers import report


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
