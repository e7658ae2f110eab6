"""helpers.multilabel: chapter 7's data folder, GAN images per finding, CNN with sigmoid outputs, metrics, results."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from helpers import config, multilabel
from helpers.classifiers.results import ResultsError
from helpers.core import provenance


def _cfg(tmp_path, clean_env, **overrides):
    cfg = config.resolve("ci", run_dir=tmp_path / "run")
    if overrides:
        from dataclasses import replace

        cfg = replace(cfg, profile=replace(cfg.profile, **overrides))
    return cfg


# ------------------------------------------------------------------------------------------ metrics


def test_auroc_per_finding_skips_findings_with_one_class():
    y = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    s = np.array([[0.9, 0.1, 0.2], [0.2, 0.3, 0.4], [0.8, 0.2, 0.1], [0.1, 0.4, 0.3]])
    per = multilabel.per_finding_auroc(y, s)
    assert per[0] == 1.0 and np.isnan(per[1]) and per[2] == 1.0
    assert multilabel.mean_auroc(y, s) == 1.0
    assert np.isnan(multilabel.mean_auroc(y[:, 1:2], s[:, 1:2]))
    with pytest.raises(ValueError, match="same"):
        multilabel.per_finding_auroc(y, s[:, :2])


def test_accuracy_summary_sits_beside_the_all_negative_predictor():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 14)) < 0.05).astype(int)
    nothing = multilabel.accuracy_summary(y, np.zeros(y.shape))
    assert nothing["elementwise_accuracy"] == nothing["all_negative_elementwise"] == pytest.approx(1 - y.mean())
    assert nothing["exact_match"] == nothing["all_negative_exact_match"] == pytest.approx((y.sum(axis=1) == 0).mean())
    perfect = multilabel.accuracy_summary(y, y.astype(float))
    assert perfect["elementwise_accuracy"] == perfect["exact_match"] == 1.0
    assert 0.9 < perfect["all_negative_elementwise"] < 1.0  # predicting nothing already scores about 0.95


def test_thresholds_are_chosen_on_val_for_the_best_f1():
    y = np.array([[0], [0], [1], [1], [0]])
    s = np.array([[0.1], [0.3], [0.35], [0.8], [0.2]])
    thr = multilabel.f1_thresholds(y, s)
    assert thr[0] == pytest.approx(0.35)
    table = multilabel.finding_metrics(y, s, thr, ["A"])
    assert table.loc[0, "f1"] == 1.0 and table.loc[0, "auroc"] == 1.0 and table.loc[0, "n_positive"] == 2
    assert multilabel.f1_thresholds(np.zeros((4, 1)), np.ones((4, 1)))[0] == 0.5  # one class in val
    one_class = multilabel.finding_metrics(np.zeros((4, 1)), np.ones((4, 1)), [0.5], ["B"])
    assert np.isnan(one_class.loc[0, "auroc"]) and np.isnan(one_class.loc[0, "pr_auc"])


def test_gan_effect_is_a_paired_bootstrap_per_finding_with_holm():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 3)) < 0.3).astype(int)
    y[:, 2] = 0  # a finding without positives in test: not tested
    noise = rng.normal(size=(2, 300, 3))
    better = y + 0.6 * noise  # arm A separates the classes well
    worse = y + 3.0 * noise[::-1]
    table = multilabel.gan_effect(y, better, worse, ["a", "b", "c"], n_boot=300, seed=0)
    assert list(table["finding"]) == ["a", "b", "c"]
    assert (table.loc[:1, "mean_diff"] > 0.1).all() and (table.loc[:1, "low"] > 0).all()
    assert (table.loc[:1, "verdict"] == "higher with GAN images").all()
    assert np.isnan(table.loc[2, "p_value"]) and table.loc[2, "verdict"].startswith("not tested")
    assert (table.loc[:1, "p_holm"] >= table.loc[:1, "p_value"]).all() and (table["n_seeds"] == 2).all()
    same = multilabel.gan_effect(y[:, :2], better[:, :, :2], better[:, :, :2], ["a", "b"], n_boot=200)
    assert (same["mean_diff"] == 0).all() and (same["verdict"] == "no difference shown").all()


# ------------------------------------------------------------------------------------------ generation


def test_scarcest_findings_and_the_gan_training_set():
    y = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 1]])
    names = ["A", "B", "C", "D"]
    assert multilabel.scarcest_findings(y, names, 2) == [2, 1]  # D has one positive: too few for a GAN
    assert multilabel.scarcest_findings(y, names, 2, min_positive=1) == [3, 2]
    images = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    x, ids = multilabel.gan_training_set(images, y, [2, 1])
    assert x[:, 0, 0].tolist() == [2, 4, 0, 2, 4] and ids.tolist() == [0, 0, 1, 1, 1]  # image 2 once per finding


class _Gens(multilabel.FindingGenerators):
    def sample(self, column, n, seed):
        return np.full((n, 8, 8), column, dtype=np.uint8)


def test_synthetic_images_top_up_each_finding_with_its_label_alone():
    y = np.zeros((10, 3), dtype=np.uint8)
    y[:2, 0] = 1
    y[:7, 2] = 1
    gens = _Gens("p", 1, (0, 2), True, {}, {}, {}, {}, 0.0)
    images, labels, added = multilabel.synthetic_for_findings(gens, y, 5, seed=0)
    assert added == {0: 3, 2: 0} and images.shape == (3, 8, 8) and (images == 0).all()
    np.testing.assert_array_equal(labels, [[1, 0, 0]] * 3)


def test_finding_fidelity_calls_identical_fakes_collapsed():
    from helpers.data.phantom import generate_phantoms

    reals, _ = generate_phantoms(24, 32, seed=0)
    varied = multilabel.finding_fidelity(generate_phantoms(24, 32, seed=1)[0], reals)
    assert varied["collapsed"] == 0.0 and 0.7 < varied["diversity_ratio"] < 1.4 and varied["recall"] > 0.2
    same = multilabel.finding_fidelity(np.repeat(reals[:1], 24, axis=0), reals)
    assert same["collapsed"] == 1.0 and same["reasons"]
    few = multilabel.finding_fidelity(reals[:1], reals)
    assert np.isnan(few["collapsed"])


# ------------------------------------------------------------------------------------------ model


def test_the_multilabel_cnn_is_chapter_5s_body_with_sigmoid_outputs():
    from helpers.classifiers import build_cnn

    model = multilabel.build_cnn_multilabel(32, 14)
    binary = build_cnn(32)
    assert model.output_shape == (None, 14) and model.get_layer("findings").activation.__name__ == "sigmoid"
    body = [layer.name for layer in binary.layers if layer.name != "pneumonia"]
    assert [layer.name for layer in model.layers if layer.name != "findings"] == body
    assert model.count_params() == binary.count_params() + 13 * (128 + 1)
    with pytest.raises(ValueError):
        multilabel.build_cnn_multilabel(32, 0)


def _toy(n, seed):
    """Images whose first finding is a bright square; the second is never visible."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 2), dtype=np.uint8)
    y[:, 0] = rng.random(n) < 0.5
    y[:, 1] = rng.random(n) < 0.3
    x = rng.integers(0, 60, size=(n, 16, 16)).astype(np.uint8)
    x[y[:, 0] == 1, 4:12, 4:12] = 230
    return x, y


def test_fit_multilabel_stops_on_mean_val_auroc_and_reuses_a_finished_run(tmp_path):
    x, y = _toy(96, 0)
    xv, yv = _toy(48, 1)
    yv[:, 1] = 0  # one class in val: skipped by the mean AUROC
    model = multilabel.build_cnn_multilabel(16, 2, filters=(8, 16), dense=16)
    fit = multilabel.FitSettings(epochs=3, batch_size=16, seed=0, patience=5)
    kw = dict(run_dir=tmp_path / "run", fingerprint={"data": "x"})
    model, history, done = multilabel.fit_multilabel(model, ([x[:64], x[64:]], y), (xv, yv), fit, **kw)
    assert list(history["epoch"]) == [1, 2, 3] and done["epochs_run"] == 3
    assert {"loss", "accuracy", "val_mean_auroc", "val_elementwise_accuracy", "val_exact_match"} <= set(history)
    best = int(history["val_mean_auroc"].idxmax())
    assert done["best_epoch"] == best + 1 and done["best_val_mean_auroc"] == pytest.approx(history["val_mean_auroc"][best])
    scores = multilabel.predict_multilabel(model, xv)
    assert scores.shape == (48, 2)
    assert multilabel.mean_auroc(yv, scores) == pytest.approx(done["best_val_mean_auroc"])  # best weights restored
    fresh = multilabel.build_cnn_multilabel(16, 2, filters=(8, 16), dense=16)
    again, history2, done2 = multilabel.fit_multilabel(fresh, ([x[:64], x[64:]], y), (xv, yv), fit, **kw)
    assert done2 == done and history2.equals(history)
    np.testing.assert_allclose(multilabel.predict_multilabel(again, xv), scores, atol=1e-6)
    other = multilabel.build_cnn_multilabel(16, 2, filters=(8, 16), dense=16)
    with pytest.raises(provenance.ProvenanceError, match="classifier run"):
        multilabel.fit_multilabel(other, (x, y), (xv, yv), dataclasses.replace(fit, epochs=4), **kw)
    hist = multilabel.load_histories(tmp_path / "nothing")
    assert hist.empty


def test_the_callback_needs_a_finding_with_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        multilabel.MeanAUROCCallback(np.zeros((4, 8, 8)), np.zeros((4, 2)))


# ------------------------------------------------------------------------------------------ results


def _rows(arm, seed, value):
    return [{"finding": f, "auroc": value, "pr_auc": 0.5, "f1": 0.4, "mean_auroc": value} for f in ("A", "B")]


def test_results_are_fingerprinted_rows_with_their_scores(tmp_path):
    res = multilabel.FindingResults(tmp_path, tmp_path / "nih" / "scores")
    assert res.read().empty
    y, s = np.eye(2, dtype=np.uint8), np.full((2, 2), 0.5)
    fp = {"data": "d1", "arm": "original", "seed": 0}
    assert not res.is_done("original", 0, fp)
    res.record(arm="original", seed=0, fingerprint=fp, rows=_rows("original", 0, 0.6), y_test=y, score_test=s,
               y_val=y, score_val=s)
    res.record(arm="gan", seed=0, fingerprint={**fp, "arm": "gan"}, rows=_rows("gan", 0, 0.7), y_test=y,
               score_test=s, y_val=y, score_val=s)
    table = res.read()
    assert len(table) == 4 and list(table.columns)[-1] == "fingerprint"
    assert res.is_done("original", 0, fp) and not res.is_done("original", 1, fp)
    with pytest.raises(provenance.ProvenanceError, match="arm original / seed 0"):
        res.is_done("original", 0, {**fp, "data": "d2"})
    got_y, got_s = res.load_scores("gan", 0)
    np.testing.assert_array_equal(got_y, y) and np.testing.assert_array_equal(got_s, s)
    res.record(arm="original", seed=0, fingerprint=fp, rows=_rows("original", 0, 0.65), y_test=y, score_test=s,
               y_val=y, score_val=s)  # a re-recorded run replaces its rows
    table = res.read()
    assert len(table) == 4 and set(table.loc[table["arm"] == "original", "auroc"]) == {0.65}
    res.scores_path("gan", 0).unlink()
    assert not res.is_done("gan", 0, {**fp, "arm": "gan"})  # rows without scores are re-run


def test_a_damaged_results_table_names_the_line(tmp_path):
    res = multilabel.FindingResults(tmp_path, tmp_path / "scores")
    y, s = np.eye(2, dtype=np.uint8), np.full((2, 2), 0.5)
    res.record(arm="original", seed=0, fingerprint={"a": 1}, rows=_rows("original", 0, 0.6), y_test=y,
               score_test=s, y_val=y, score_val=s)
    text = res.path.read_text().splitlines()
    res.path.write_text("\n".join([*text, text[1].rsplit(",", 1)[0] + ","]) + "\n")
    with pytest.raises(ResultsError, match="line 4"):
        res.read()
    res.path.write_text("\n".join([text[0], text[1].replace("original", "other", 1)]) + "\n")
    with pytest.raises(ResultsError, match="unknown arm"):
        res.read()
    frame = pd.read_csv(tmp_path / multilabel.RESULTS_FILE)
    assert len(frame) == 1
    with pytest.raises(ValueError, match="unknown arm"):
        res.record(arm="x", seed=0, fingerprint={}, rows=[], y_test=y, score_test=s, y_val=y, score_val=s)


# ------------------------------------------------------------------------------------------ the whole chapter


def test_the_study_folder_runs_both_arms_and_skips_finished_runs(tmp_path, clean_env):
    cfg = _cfg(tmp_path, clean_env, nih_data_options={**config.NIH_PHANTOM_OPTIONS, "n_train": 96, "n_val": 48,
                                                      "n_test": 64, "finding_prevalence": 0.3},
               k_scarce=1, nih_gan_steps=1, nih_cnn_epochs=1, nih_target_per_finding=40)
    prof = cfg.profile
    study = multilabel.load_study(cfg, seed=0, log=None)
    assert study.dataset == "phantom" and study.folder == cfg.run_dir / "nih" and len(study.names) == 6
    assert provenance.read(study.folder)["dataset"] == "phantom"
    assert not (cfg.run_dir / "provenance.json").exists()  # chapter 1's binding is left alone
    counts = multilabel.label_counts(study)
    assert counts.attrs["n"] == {"train": 96, "val": 48, "test": 64} and list(counts.columns) == ["train", "val", "test"]
    scarce = multilabel.scarcest_findings(study.splits["train"].labels, study.names, prof.k_scarce)
    gens = multilabel.train_finding_gans(study, scarce, seed=0, profile=prof)
    folder = gens.folders[scarce[0]]
    name = study.names[scarce[0]]
    assert folder == study.folder / "gan" / "sn_diffaug_ema_cond_1steps" / name / "seed0" and not gens.conditional
    saved = json.loads((folder / "generator.json").read_text())["fingerprint"]
    assert saved["data"] == study.data_id
    images, labels, added = multilabel.synthetic_for_findings(gens, study.splits["train"].labels, 40, seed=0)
    assert len(images) == added[scarce[0]] == 40 - int(counts["train"].iloc[scarce[0]])
    res = multilabel.FindingResults(cfg.run_dir, study.folder / "scores")
    about = {"generators": sorted(set(gens.fingerprint_ids.values())), "target": 40}
    rows = {arm: multilabel.run_arm(study, arm, 0, profile=prof, results=res, scarce=scarce,
                                    synthetic=None if arm == "original" else (images, labels, about))
            for arm in multilabel.ARMS}
    table = res.read()
    assert len(table) == 12 and set(table["arm"]) == {"original", "gan"}
    gan_rows = table[table["arm"] == "gan"].set_index("finding")
    assert gan_rows.loc[study.names[scarce[0]], "n_synthetic"] == len(images) and gan_rows["scarce"].sum() == 1
    assert (table.loc[table["arm"] == "original", "n_synthetic"] == 0).all()
    assert table["auroc"].dropna().between(0, 1).all()
    again = multilabel.run_arm(study, "original", 0, profile=prof, results=res, scarce=scarce)
    pd.testing.assert_frame_equal(again.drop(columns="fingerprint"), rows["original"].drop(columns="fingerprint"),
                                  check_dtype=False)
    with pytest.raises(ValueError, match="gan arm"):
        multilabel.run_arm(study, "gan", 0, profile=prof, results=res)
    hist = multilabel.load_histories(study.folder)
    assert set(hist["arm"]) == {"original", "gan"} and (hist["seed"] == 0).all()
    other = _cfg(tmp_path, clean_env, nih_data_options={**config.NIH_PHANTOM_OPTIONS, "n_train": 80, "n_val": 48,
                                                        "n_test": 64})
    with pytest.raises(provenance.ProvenanceError, match="chapter-7 folder"):
        multilabel.load_study(other, seed=0, log=None)
    with pytest.raises(ValueError, match="multi-label"):
        multilabel.load_study(cfg, dataset="pneumoniamnist")


# ------------------------------------------------------------------------------------------ figures


def test_chapter_7_figures_draw_from_the_tables(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from helpers.report import plots

    counts = pd.DataFrame({"train": [500, 3, 0], "val": [60, 1, 0], "test": [120, 2, 1]}, index=["A", "B", "Hernia"])
    fig = plots.finding_frequency_bars(counts, {"train": 1000, "val": 100, "test": 200})
    assert fig.axes[0].get_xscale() == "log" and [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "Hernia", "B", "A"]
    rows = pd.DataFrame([{"finding": f, "arm": arm, "seed": s, "auroc": 0.6 + 0.1 * (arm == "gan") + 0.01 * s}
                         for f in ("A", "Hernia") for arm in multilabel.ARMS for s in (0, 1)])
    fig = plots.finding_auroc_dots(rows, published=multilabel.CHEXNET_AUROC, published_label="CheXNet",
                                   scarce=["Hernia"])
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["original", "gan", "CheXNet"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "Hernia *"]
    diamonds = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(np.asarray(diamonds), [[multilabel.CHEXNET_AUROC["Hernia"], 1]])
    hist = pd.DataFrame([{"arm": arm, "seed": s, "epoch": e, "val_mean_auroc": 0.5 + 0.05 * e,
                          "val_elementwise_accuracy": 0.94} for arm in multilabel.ARMS for s in (0, 1) for e in (1, 2, 3)])
    fig = plots.multilabel_epoch_curves(hist, all_negative=0.95)
    assert "0.950" in fig.axes[1].get_legend_handles_labels()[1][-1]
    real = np.zeros((3, 8, 8), np.uint8)
    fig = plots.real_vs_synthetic_rows({"A": (real, real[:0]), "B": (real, real + 200)}, n=2)
    assert len(fig.axes) == 8
    plots.save_fig(fig, "07_test", tmp_path, "run")
    assert (tmp_path / "07_test.png").stat().st_size > 0
    with pytest.raises(ValueError):
        plots.real_vs_synthetic_rows({})
