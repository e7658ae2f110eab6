"""Every numbered notebook runs top to bottom with the ci profile (papermill), and records numbers
that are in range. New notebooks are found automatically; nbval runs them a second time (pytest
collects notebooks/ with --nbval-lax, see pyproject.toml)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import series
from helpers.notebook import read_metrics

NOTEBOOKS = series.discover_notebooks()
pytestmark = pytest.mark.notebook


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """Run the whole series once with the ci profile; remember what failed instead of raising.

    It runs in nbval's run folder (HELPERS_RUN_DIR, set by the root conftest), so nbval's second
    execution of every notebook afterwards exercises the resume path: finished GANs are loaded and
    finished runs are skipped because their fingerprints match.
    """
    run_dir = Path(os.environ.get("HELPERS_RUN_DIR") or tmp_path_factory.mktemp("ci-run"))
    try:
        timings = series.run_series("ci", run_dir=run_dir, log=print)
        failure = None
    except series.NotebookFailed as err:
        timings, failure = {}, err
    return run_dir, timings, failure


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_ci_profile(ci_run, notebook: Path):
    run_dir, timings, failure = ci_run
    if failure is not None:
        order = [p.name for p in NOTEBOOKS]
        if order.index(notebook.name) >= order.index(failure.notebook.name):
            pytest.fail(str(failure))
    executed = run_dir / "notebooks" / notebook.name
    assert executed.exists()
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # every chapter records its key numbers for the tests and for notebook 06
    assert read_metrics(run_dir, notebook.name[:2])


def _metrics(ci_run, chapter):
    run_dir, _, failure = ci_run
    if failure is not None:
        pytest.skip(f"series failed: {failure}")
    return read_metrics(run_dir, chapter)


def test_01_numbers_are_sensible(ci_run):
    m = _metrics(ci_run, "01")
    assert m["dataset"] == "phantom" and m["minority_class"] == "NORMAL"
    assert 2.0 < m["train_imbalance_ratio"] < 4.0  # phantom default is about 1 : 2.9
    assert m["cross_split_duplicate_groups"] == 0
    assert set(m["counts"]) == {"train", "val", "test"}
    figures = {p.name for p in (ci_run[0] / "figures").glob("01_*.png")}
    assert {"01_class_balance.png", "01_mean_images.png", "01_intensity_histograms.png",
            "01_samples_normal.png"} <= figures
    assert not {"01_label_cooccurrence.png", "01_label_frequency.png"} & figures  # multi-label data only


def test_02_trains_the_gan_and_saves_it(ci_run):
    from helpers.config import PROFILES

    prof = PROFILES["ci"]
    m = _metrics(ci_run, "02")
    assert m["steps"] == prof.gan_steps and m["minority_class"] == "NORMAL" and m["gan_preset"] == prof.gan_preset
    assert m["n_train_minority"] == _metrics(ci_run, "01")["counts"]["train"]["NORMAL"]
    # per seed: the reference (seed DCGAN, epochs) and the default; on the first seed the ablation too
    trained = {(g["generator"], g["seed"]) for g in m["generators"]}
    reference = f"dcgan_{prof.gan_epochs}epochs"
    default = f"{prof.gan_preset}_{prof.gan_steps}steps"
    expected = {(reference, s) for s in prof.seeds} | {(default, s) for s in prof.seeds}
    expected |= {(f"{p}_{prof.gan_steps}steps", prof.seeds[0]) for p in prof.gan_ablation}
    assert trained == expected
    for name, seed in trained:
        folder = ci_run[0] / "gan" / name / f"seed{seed}"
        assert (folder / "generator.keras").exists() and json.loads((folder / "generator.json").read_text())["fingerprint"]
        assert len(list((folder / "checkpoints").glob("*.npz"))) >= 1


def test_03_balances_the_training_split_and_measures_the_fakes(ci_run):
    import numpy as np
    import pandas as pd

    from helpers.config import PROFILES
    from helpers.core.artifacts import read_rows
    from helpers.gan.generators import load_synthetic_sets

    prof = PROFILES["ci"]
    counts = _metrics(ci_run, "01")["counts"]["train"]
    m = _metrics(ci_run, "03")
    assert m["n_synthetic"] == counts["PNEUMONIA"] - counts["NORMAL"]
    data_id = json.loads((ci_run[0] / "provenance.json").read_text())
    from helpers.core.provenance import fingerprint_id

    for seed in prof.seeds:  # one set per generator and seed, bound to the run's data
        sets = load_synthetic_sets(ci_run[0], seed, data_id=fingerprint_id(data_id), image_size=32)
        assert {k: len(v) for k, v in sets.items()} == {"reference": m["n_synthetic"], "default": m["n_synthetic"]}
    for key in ("fd_fake_train", "fd_train_halves", "precision", "recall", "coverage", "c2st_auc_pixels"):
        assert np.isfinite(m[key]) and m[key] >= 0, key
    assert 0 <= m["memorization_share_pixels"] <= 1 and 0 <= m["reclassification_share"] <= 1
    rows = read_rows(ci_run[0] / "fidelity.csv")
    assert {"kid_z_train", "c2st_auc_pixels", "coverage", "collapsed"} <= set(rows["metric"])
    assert set(rows["role"]) == {"reference", "default"}
    assert not rows.duplicated(["dataset", "image_size", "seed", "generator", "feature_space", "metric"]).any()
    ablation = pd.read_csv(ci_run[0] / "gan_ablation.csv")
    assert len(ablation) == len({f"dcgan_{prof.gan_epochs}epochs", *(f"{p}_{prof.gan_steps}steps" for p in
                                                                     (prof.gan_preset, *prof.gan_ablation))})
    assert m["ablation_pick"] in set(ablation["variant"])


def _rows(ci_run, notebook):
    from helpers.core.artifacts import read_rows

    _metrics(ci_run, notebook)
    table = read_rows(ci_run[0] / "results.csv")
    return table[table["notebook"].astype(str).str.zfill(2) == notebook]


def test_04_writes_one_row_per_classifier_strategy_seed(ci_run):
    from helpers.config import PROFILES

    prof = PROFILES["ci"]
    rows = _rows(ci_run, "04")
    expected = 3 * len(prof.classical_strategies) * len(prof.seeds) + len(prof.ann_strategies) * len(prof.seeds)
    assert len(rows) == expected
    assert rows["roc_auc"].between(0, 1).all()
    resnet = rows["classifier"] != "ann"
    assert rows.loc[resnet, "features"].str.contains("task-trained").all()
    assert (rows.loc[~resnet, "features"] == "pixels (flattened, /255)").all()
    test_size = sum(_metrics(ci_run, "01")["counts"]["test"].values())
    assert (rows["n_test"] == test_size).all()  # no synthetic image reached the test split
    gan_rows = rows[rows["strategy"] == "gan"]
    assert (gan_rows["n_synthetic"] == _metrics(ci_run, "03")["n_synthetic"]).all()
    assert (rows.loc[rows["strategy"] == "none", "n_synthetic"] == 0).all()


def test_05_trains_cnn_and_densenet(ci_run):
    from helpers.config import PROFILES, strategies_for

    prof = PROFILES["ci"]
    rows = _rows(ci_run, "05")
    assert len(rows) == sum(len(strategies_for(prof, m)) for m in prof.deep_models) * len(prof.seeds)
    assert set(rows["classifier"]) == {"cnn", "densenet121", "cnn_strong"}
    assert set(rows.loc[rows["classifier"] == "cnn_strong", "recipe"]) == {"strong"}
    assert rows["roc_auc"].between(0, 1).all() and (rows["fit_seconds"] > 0).all()
    assert {"05_augmentations.png", "05_learning_curves.png", "05_confusion_matrices.png", "05_dose_response.png"} <= {
        p.name for p in (ci_run[0] / "figures").glob("05_*")}
    m = _metrics(ci_run, "05")
    assert set(m["dose_response"]) == {"0.5", "1", "2"} and set(m["val_test_gap"]) == set(prof.deep_models)
    # the 1x dose is the grid's own gan run: the same fakes, seed and settings give the same score
    none = rows.query("classifier == 'cnn' and strategy == 'none'")["roc_auc"].mean()
    gan = rows.query("classifier == 'cnn' and strategy == 'gan'")["roc_auc"].mean()
    assert abs(m["dose_response"]["1"] - (gan - none)) < 1e-9


def test_06_writes_the_report(ci_run):
    import pandas as pd

    m = _metrics(ci_run, "06")
    assert m["n_runs"] == len(_rows(ci_run, "04")) + len(_rows(ci_run, "05"))
    # every paired comparison got exactly one verdict word
    assert m["n_comparisons"] > 0 and sum(m["verdict_counts"].values()) == m["n_comparisons"]
    assert set(m["verdict_counts"]) <= {"better", "worse", "no clear difference"}
    figures = ci_run[0] / "figures"
    expected = {"06_table_1.md", "06_comparison_table.md", "06_roc_auc_bars.png", "06_f1_normal_bars.png",
                "06_precision_recall_f1.png", "06_roc_none.png", "06_roc_gan.png", "06_roc_gan_improved.png",
                "06_gan_differences.png", "06_accuracy_over_epochs.png", "06_paired_comparisons.csv"}
    assert expected <= {p.name for p in figures.glob("06_*")}
    for name in expected:
        assert (figures / name).stat().st_size > 0, name
    table_1 = pd.read_csv(figures / "06_table_1.csv")
    assert set(table_1["Configuration"]) == {"without DCGAN", "with DCGAN", "with improved GAN"}
    assert table_1["ROC-AUC"].str.fullmatch(r"[01]\.\d{3} \[[01]\.\d{3}, [01]\.\d{3}\]").all()
    assert (ci_run[0] / "html" / "index.html").exists()


def test_chapter_figures_are_written_and_not_empty(ci_run):
    _metrics(ci_run, "05")
    figures = ci_run[0] / "figures"
    for name in ("01_class_balance", "02_gan_curves", "02_gan_system", "02_generator_diagram",
                 "02_discriminator_diagram", "03_mean_real_vs_synthetic", "03_memorization_pairs",
                 "03_nn_distances", "04_feature_vectors", "04_feature_embedding", "04_resnet18_diagram",
                 "04_roc_curves", "05_learning_curves", "05_densenet121_diagram", "05_class_counts"):
        assert (figures / f"{name}.png").stat().st_size > 1000, name


def test_07_trains_the_multilabel_cnn_with_and_without_gan_images(ci_run):
    from helpers.config import PROFILES
    from helpers.core.artifacts import read_rows

    prof = PROFILES["ci"]
    m = _metrics(ci_run, "07")
    assert m["dataset"] == "phantom" and len(m["findings"]) == 6 and len(m["scarce"]) == prof.k_scarce
    assert m["seeds"] == list(prof.nih_seeds) and set(m["scarce"]) <= set(m["findings"])
    for arm in ("original", "gan"):
        assert 0 <= m["mean_auroc"][arm] <= 1
        assert 0 <= m["elementwise_accuracy"][arm] <= 1 and 0 <= m["exact_match"][arm] <= 1
    assert 0.5 < m["all_negative_elementwise"] < 1 and 0 < m["all_negative_exact_match"] < 1
    assert all(n > 0 for n in m["n_synthetic"].values()) and len(m["effect"]) == len(m["findings"])
    rows = read_rows(ci_run[0] / "results_07.csv")
    assert len(rows) == 2 * len(m["findings"]) * len(prof.nih_seeds) == m["n_rows"]
    assert set(rows["arm"]) == {"original", "gan"} and rows["fingerprint"].str.fullmatch("[0-9a-f]{12}").all()
    assert rows["auroc"].dropna().between(0, 1).all() and not rows.duplicated(["arm", "seed", "finding"]).any()
    gan = rows[rows["arm"] == "gan"].set_index("finding")
    assert (gan.loc[m["scarce"], "n_synthetic"] > 0).all() and (rows.loc[rows["arm"] == "original", "n_synthetic"] == 0).all()
    assert (ci_run[0] / "nih" / "provenance.json").exists()
    assert {"07_label_frequency.png", "07_cooccurrence.png", "07_real_vs_synthetic.png", "07_auroc_per_finding.png",
            "07_training_curves.png"} <= {p.name for p in (ci_run[0] / "figures").glob("07_*")}


def test_01_explores_multilabel_nih_data_and_02_refuses_it(tmp_path, clean_env):
    """Chapter 1 on the NIH sample (multi-label): per-finding counts on a log scale, the scarcest finding;
    chapter 2 stops at once with an error that points to chapter 7."""
    from helpers.data import DataError
    from helpers.notebook import setup

    nih = Path(__file__).resolve().parents[2] / "shared" / "data" / "nih_sample"
    if not (nih / "Data_Entry_2017.csv").exists():
        pytest.skip("the NIH ChestX-ray14 sample is not on this machine")
    params = {"dataset": "nih", "data_path": str(nih)}
    series.run_series("ci", only=["01"], run_dir=tmp_path / "run", parameters=params, html=False, log=print)
    m = read_metrics(tmp_path / "run", "01")
    assert m["multi_label"] is True and m["minority_class"] in m["counts"]["train"]
    assert m["counts"]["train"][m["minority_class"]] == min(v for v in m["counts"]["train"].values() if v > 0)
    assert (tmp_path / "run" / "figures" / "01_label_frequency.png").stat().st_size > 1000
    with pytest.raises(DataError, match="chapter 02 compares two classes.*'nih' is multi-label.*chapter 7"):
        setup(profile="ci", run_dir=str(tmp_path / "run"), chapter="02", **params)


def test_ci_numbers_did_not_move(ci_run):
    """What chapters 1, 2, 4, 5 and 7 compute on `ci` equals the numbers recorded before the package was
    restructured (tests/data/ci_numbers.json, see tests/ci_numbers.py)."""
    import numpy as np
    import pandas as pd
    from ci_numbers import ci_numbers

    _metrics(ci_run, "07")
    recorded = json.loads((Path(__file__).parent / "data" / "ci_numbers.json").read_text())
    now = ci_numbers(ci_run[0])
    assert now["01"] == recorded["01"] and now["03"] == recorded["03"]
    assert set(now["results"]) == set(recorded["results"])
    moved = [f"{key} {m}: recorded {value}, now {now['results'][key][m]}"
             for key, row in recorded["results"].items() for m, value in row.items()
             if not np.isclose(now["results"][key][m], value, rtol=1e-6, atol=1e-9, equal_nan=True)]
    flat = {f"{c} {k}": v for c in ("02", "07") for k, v in recorded[c].items()}
    flat_now = {f"{c} {k}": v for c in ("02", "07") for k, v in now[c].items()}
    moved += [f"{key}: recorded {value}, now {flat_now[key]}" for key, value in flat.items()
              if not np.allclose(pd.Series(flat_now[key], dtype=float).sort_index(), pd.Series(value, dtype=float).sort_index(),
                                 rtol=1e-6, atol=1e-9)]
    assert not moved, "\n".join(moved)
