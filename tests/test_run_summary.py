"""tools/run_summary.py: the fidelity bars are counted per generator and seed, classifiers averaged over seeds."""

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_summary", ROOT / "tools" / "run_summary.py")
run_summary = importlib.util.module_from_spec(_spec)
sys.modules["run_summary"] = run_summary
_spec.loader.exec_module(run_summary)


def _run(tmp_path: Path) -> Path:
    fid = [("good", 0, {"recall": 0.7, "coverage": 0.65, "c2st_auc_pixels": 0.7, "relative_fd_train": 3.0,
                        "memorization_share_pixels": 0.0}),
           ("bad", 0, {"recall": 0.1, "coverage": 0.65, "c2st_auc_pixels": 1.0, "relative_fd_train": 50.0,
                       "memorization_share_pixels": 0.01})]
    pd.DataFrame([{"generator": g, "seed": s, "metric": m, "value": v} for g, s, d in fid for m, v in d.items()]
                 ).to_csv(tmp_path / "fidelity.csv", index=False)
    pd.DataFrame([{"classifier": "cnn", "strategy": "none", "seed": s, "roc_auc": a, "accuracy": 0.8,
                   "accuracy_valthr": 0.7, "val_roc_auc": 0.99} for s, a in ((0, 0.90), (1, 0.94))]
                 ).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "gan" / "x_10steps" / "seed0").mkdir(parents=True)
    pd.DataFrame({"step": [0, 5, 10], "seconds": [0.0, 2.0, 3.0]}).to_csv(
        tmp_path / "gan" / "x_10steps" / "seed0" / "history.csv", index=False)
    (tmp_path / "gan" / "plan.json").write_text(json.dumps(
        {"reference": {"preset": "x", "steps": 10, "epochs": None}, "default": {"preset": "x", "steps": 10},
         "ablation": []}))
    return tmp_path


def test_bars_means_per_seed_values_and_step_seconds(tmp_path):
    run = _run(tmp_path)
    fid = run_summary.fidelity_table(run).set_index("generator")["bars passed"]
    assert fid.to_dict() == {"bad": "1 / 5", "good": "5 / 5"}
    clf = run_summary.classifier_table(run).iloc[0]
    assert abs(clf["test ROC-AUC"] - 0.92) < 1e-12 and clf["roc_auc_per_seed"] == "0.900 / 0.940" and clf["seeds"] == 2
    speed = run_summary.gan_step_seconds(run).iloc[0]
    assert speed["steps"] == 10 and abs(speed["s/step"] - 0.5) < 1e-9  # "seconds" is each row's own: 2 s and 3 s per 5 steps


def test_a_folder_without_tables_is_an_error_naming_it(tmp_path, capsys):
    assert run_summary.main([str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_chapter_times_read_the_runners_timings(tmp_path):
    (tmp_path / "series_timings.json").write_text(json.dumps(
        {"profile": "kermany64", "seconds": {"01_data_exploration.ipynb": 8.2, "05_cnn_densenet.ipynb": 1969.9}}))
    times = run_summary.chapter_times(tmp_path).set_index("notebook")["seconds"]
    assert times.to_dict() == {"01_data_exploration.ipynb": 8.2, "05_cnn_densenet.ipynb": 1969.9}
