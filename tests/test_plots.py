import matplotlib
import matplotlib.pyplot as plt

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import report
from helpers.data import explore
from helpers.oversampling.strategies import ALL_STRATEGIES
from helpers.report import plots
from helpers.report.figures_results import _operating_point


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def _images(n=6, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def _saved(fig, tmp_path, name):
    path = plots.save_fig(fig, name, tmp_path, run_id="test")
    assert path.stat().st_size > 1000
    return path


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_save_fig_writes_a_stamped_png_atomically(tmp_path):
    fig = plots.image_grid(_images(), ncols=3, suptitle="grid")
    path = plots.save_fig(fig, "01_grid", tmp_path, run_id="ci/phantom/32px")
    assert path == tmp_path / "01_grid.png" and path.exists()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100
        assert "ci/phantom/32px" in im.info.get("Description", "")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left behind"
    assert len(fig.texts) == 1  # the stamp is removed again; the suptitle stays


@pytest.mark.parametrize("bad", ["", "a/b", "x.png"])
def test_save_fig_rejects_paths_as_names(tmp_path, bad):
    fig = plots.image_grid(_images(2))
    with pytest.raises(ValueError, match="bare name"):
        plots.save_fig(fig, bad, tmp_path)


def test_every_plot_builds(tmp_path):
    imgs = _images(20)
    labels = np.random.default_rng(1).integers(0, 2, size=(20, 5))
    history = pd.DataFrame({"step": [10, 20, 30], "d_loss": [1.3, 1.2, 1.1], "g_loss": [0.7, 0.8, 0.9],
                            "d_real": [0.6, 0.55, 0.5], "d_fake": [0.4, 0.45, 0.5]})
    figs = [
        plots.class_balance_bars({"train": {"NORMAL": 3, "PNEUMONIA": 9}, "test": {"NORMAL": 2, "PNEUMONIA": 4}}),
        plots.mean_images({"NORMAL": imgs[:10], "PNEUMONIA": imgs[10:]}),
        plots.mean_images({"real": imgs[:6], "default (sn_diffaug_ema, a long name)": imgs[6:12], "reference": imgs[12:]}),
        plots.intensity_histograms({"NORMAL": imgs[:10], "PNEUMONIA": imgs[10:]}),
        plots.label_frequency_bars({"A": 3, "B": 5}),
        plots.cooccurrence_heatmap(labels, list("ABCDE")),
        plots.cooccurrence_heatmap(labels, list("ABCDE"), conditional=False),
        plots.history_curves(history, [["d_loss", "g_loss"], ["d_real", "d_fake"]], ["losses", "D outputs"], x="step",
                             ylabels=["loss", "mean D output"],
                             references=[{"d_loss": 1.386, "g_loss": 0.693}, {"D(x) = D(G(z))": 0.5}]),
        plots.real_vs_fake_grid(imgs[:10], imgs[10:], n=4, ncols=2),
        plots.pair_panel(imgs[:3], imgs[3:6], "fake", "nearest real", captions=["a", "b", "c"], title="pairs"),
        plots.nn_distance_histograms({"fakes → train": np.random.default_rng(0).random(50) * 900,
                                      "real train → other train": np.random.default_rng(1).random(40) * 900},
                                     threshold=120.0, pixels=16 * 16, percentile=1),
    ]
    for i, fig in enumerate(figs):
        _saved(fig, tmp_path, f"fig{i}")


def test_mean_images_have_labelled_colour_bars():
    imgs = _images(12)
    fig = plots.mean_images({"real": imgs[:4], "default": imgs[4:8], "reference": imgs[8:]})
    labels = {ax.get_ylabel() for ax in fig.axes}
    assert "mean intensity (0-255)" in labels
    assert any("difference of means" in label for label in labels)


def test_cooccurrence_is_conditional_by_default():
    labels = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 0]])
    fig = plots.cooccurrence_heatmap(labels, ["A", "B", "C"])
    ax = fig.axes[0]
    assert "P(B | A)" in ax.get_title()
    cells = {t.get_text() for t in ax.texts}
    assert "67%" in cells  # P(B | A) = 2 of the 3 images with A
    assert "A (n=3)" in [t.get_text() for t in ax.get_yticklabels()]


def test_image_grid_needs_images():
    with pytest.raises(ValueError, match="at least one"):
        plots.image_grid(np.zeros((0, 8, 8), np.uint8))


def _results(rng, strategies=("none", "gan"), classifiers=("cnn", "svm"), seeds=(0, 1)):
    rows = [{"classifier": c, "strategy": s, "seed": k, "roc_auc": rng.uniform(0.7, 0.9),
             "precision": rng.uniform(0.5, 1), "recall": rng.uniform(0.5, 1), "f1": rng.uniform(0.5, 1)}
            for c in classifiers for s in strategies for k in seeds]
    return pd.DataFrame(rows)


def _comparisons():
    return pd.DataFrame({
        "classifier": ["cnn", "cnn", "svm"], "target": ["gan", "gan_improved", "gan"], "baseline": ["random"] * 3,
        "metric": ["roc_auc"] * 3, "n_seeds": [3] * 3, "mean_diff": [-0.02, 0.03, 0.001],
        "low": [-0.04, 0.01, -0.01], "high": [-0.005, 0.05, 0.012], "p_holm": [0.01, 0.0004, 0.8],
        "verdict": ["worse", "better", "no clear difference"]})


def test_result_plots_build(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    s = rng.random(8)
    results = _results(rng)
    diffs = pd.DataFrame({"classifier": ["cnn", "svm", "ann"], "target": ["gan"] * 3, "baseline": ["none"] * 3,
                          "mean_diff": [-0.02, 0.01, np.nan], "low": [-0.05, np.nan, np.nan], "high": [0.01, np.nan, np.nan],
                          "p_holm": [0.2, 0.0005, np.nan], "verdict": ["no clear difference", "better", "nan"]})
    history = pd.DataFrame({"model": ["cnn"] * 6, "strategy": ["none"] * 3 + ["gan"] * 3, "epoch": [1, 2, 3] * 2,
                            "seed": [0] * 6, "role": ["grid"] * 6,
                            "val_auc_exact": rng.random(6), "accuracy": rng.random(6), "val_accuracy": rng.random(6)})
    rows = pd.DataFrame({"strategy": ["none", "class_weight", "random", "gan", "gan_filtered"],
                         "n_train": [100, 100, 160, 160, 130], "n_synthetic": [0, 0, 60, 60, 30]})
    figs = [
        plots.feature_vectors({"NORMAL (train image 0)": rng.random(512), "synthetic NORMAL": rng.random(512)}),
        plots.embedding_scatter({"real NORMAL": rng.random((20, 2)), "synthetic NORMAL": rng.random((10, 2))}, "PCA"),
        plots.roc_panels({"cnn": {"none": (y, s), "gan": (y, s[::-1])}, "svm": {"none": (y, s)}}),
        plots.confusion_matrices({"cnn / none": np.array([[5, 1], [2, 9]])}, ["NORMAL", "PNEUMONIA"]),
        plots.metric_bars(results, "roc_auc"),
        plots.difference_forest(diffs, "gan − none"),
        plots.curves_by_group(history, ["val_auc_exact", "accuracy"]),
        plots.progress_panels([1, 5, 9], rng.integers(0, 255, (3, 16, 8, 8), dtype=np.uint8)),
        plots.difference_forest(_comparisons(), "GAN − random"),
        plots.roc_overlay({"cnn": (y, s), "densenet121": (y, s[::-1])}, "without GAN images"),
        plots.metric_bars_with_without(_results(rng, ("none", "gan", "gan_improved"))),
        plots.class_counts_after_oversampling(rows, {"NORMAL": 20, "PNEUMONIA": 80}, "NORMAL"),
        plots.accuracy_over_epochs(report.accuracy_over_epochs(history)),
        plots.accuracy_over_epochs(report.accuracy_over_epochs(history), show_train=True),
        plots.gan_system_diagram(diffaugment="color,translation,cutout", ema=True, image_size=28, minority="NORMAL"),
        plots.gan_system_diagram(conditional=True, loss="hinge"),
    ]
    assert len(figs[5].axes[0].get_yticks()) == 2  # the pair that never ran is left out
    for i, fig in enumerate(figs):
        _saved(fig, tmp_path, f"result{i}")
    with pytest.raises(ValueError, match="train the GAN first"):
        plots.progress_panels([], np.zeros((0, 16, 8, 8)))


def test_feature_vectors_are_visible():
    fig = plots.feature_vectors({"NORMAL (train image 0)": np.random.default_rng(0).random(512)})
    ax = fig.axes[0]
    assert ax.collections, "the vector is drawn as a filled area, not 512 hairline bars"
    assert ax.get_xlabel().startswith("feature index") and ax.get_ylabel() == "activation"


def test_every_strategy_has_its_own_colour():
    assert set(plots.STRATEGY_COLORS) == set(ALL_STRATEGIES)
    assert len(set(plots.STRATEGY_COLORS.values())) == len(ALL_STRATEGIES)
    assert plots.strategy_color("something_new") == plots.strategy_color("something_new")


def test_roc_panels_use_one_colour_per_strategy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    curves = {"cnn": {"gan": (y, rng.random(40)), "none": (y, rng.random(40))},
              "svm": {"none": (y, rng.random(40)), "random": (y, rng.random(40)), "gan": (y, rng.random(40))}}
    fig = plots.roc_panels(curves)
    seen = {}
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(label.startswith("chance") for label in labels)
        for line in ax.get_lines():
            strategy = line.get_label().split(" (")[0]
            if strategy in ALL_STRATEGIES:
                assert "AUC" in line.get_label()
                seen.setdefault(strategy, set()).add(matplotlib.colors.to_hex(line.get_color()))
    assert seen.keys() == {"gan", "none", "random"}
    assert all(len(c) == 1 for c in seen.values())
    assert seen["gan"] == {plots.STRATEGY_COLORS["gan"]}


def test_metric_bars_mark_missing_runs_not_zeros():
    rng = np.random.default_rng(0)
    results = _results(rng, ("none", "gan"), ("cnn", "svm"))
    results = results[~((results["classifier"] == "svm") & (results["strategy"] == "gan"))].copy()
    results.loc[(results["classifier"] == "cnn") & (results["strategy"] == "none"), "roc_auc"] = 0.0
    fig = plots.metric_bars(results, "roc_auc")
    ax = fig.axes[0]
    assert _texts(fig).count("not run") == 1  # svm/gan is missing; cnn/none is a real zero
    assert any(p.get_hatch() for p in ax.patches)
    assert ax.get_ylim() == (0.0, 1.0)
    assert any(line.get_ydata()[0] == 0.5 for line in ax.get_lines())  # chance line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "gan", "none", "gan"]
    assert "sd over seeds" in fig.axes[0].get_title()


def test_metric_bars_leave_out_strategies_a_classifier_cannot_run():
    rng = np.random.default_rng(0)
    results = pd.concat([_results(rng, ("none", "smote"), ("svm",)), _results(rng, ("none", "classical_aug"), ("cnn",))])
    fig = plots.metric_bars(results, "roc_auc")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["none", "smote", "none", "classical_aug"]
    assert "not run" not in _texts(fig)


def test_metric_bars_with_without_marks_missing_arms(tmp_path):
    rng = np.random.default_rng(0)
    results = _results(rng, ("none", "gan", "gan_improved"), ("cnn", "densenet121"))
    results = results[~((results["classifier"] == "densenet121") & (results["strategy"] == "gan_improved"))]
    fig = plots.metric_bars_with_without(results)
    assert len([a for a in fig.axes if a.get_title()]) == 3
    assert _texts(fig).count("n/a") == 3  # one per metric panel
    _saved(fig, tmp_path, "with_without")


def test_difference_forest_accepts_paired_comparisons():
    fig = plots.difference_forest(_comparisons(), "GAN − random")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert [t.split("  (")[0] for t in labels] == ["cnn: gan_improved − random", "svm: gan − random", "cnn: gan − random"]
    assert "target − baseline" in ax.get_xlabel() and "ROC-AUC" in ax.get_xlabel()
    assert labels[0].endswith("(Holm p < 0.001)")


def test_class_counts_after_oversampling_checks_the_rows():
    rows = [{"strategy": "gan", "n_train": 150, "n_synthetic": 60}]
    with pytest.raises(ValueError, match="train_counts"):
        plots.class_counts_after_oversampling(rows, {"NORMAL": 20, "PNEUMONIA": 80}, "NORMAL")


def test_accuracy_over_epochs_shows_validation_auc_not_accuracy():
    history = pd.DataFrame({"model": ["cnn"] * 4, "strategy": ["none"] * 2 + ["gan"] * 2, "seed": [0] * 4,
                            "epoch": [1, 2] * 2, "accuracy": [0.7, 0.8, 0.8, 0.9], "val_accuracy": [0.74] * 4,
                            "val_auc_exact": [0.6, 0.7, 0.65, 0.72]})
    long = report.accuracy_over_epochs(history)
    assert {"val_auc_exact", "accuracy"} <= set(long["metric"]) and "strategy" in long
    fig = plots.accuracy_over_epochs(long)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("validation ROC-AUC" in t for t in titles)
    assert not any("validation accuracy" in t for t in titles)
    assert "validation balanced accuracy per epoch: not recorded" in fig._suptitle.get_text()  # not in this history
    long_ba = report.accuracy_over_epochs(history.assign(val_balanced_accuracy=[0.5, 0.6, 0.55, 0.62]))
    titles = [ax.get_title() for ax in plots.accuracy_over_epochs(long_ba).axes]
    assert titles == ["cnn: validation ROC-AUC", "cnn: validation balanced accuracy"]


def test_model_diagram_lists_the_layers_of_a_built_model(tmp_path):
    import keras

    inputs = keras.Input((8,), name="x")
    h = keras.layers.Dense(4, name="hidden")(inputs)
    h = keras.layers.ReLU()(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(h)
    model = keras.Model(inputs, out, name="tiny")
    rows = plots.model_rows(model)
    assert [r["kind"] for r in rows] == ["Input 'x'", "Dense + ReLU", "Dense"]
    assert [r["params"] for r in rows] == [0, 36, 5] and rows[1]["shape"] == "4"
    fig = plots.model_diagram(model, "tiny")
    texts = _texts(fig)
    assert "Dense + ReLU" in texts and "36 params" in texts and any("41 parameters" in t for t in texts)
    _saved(fig, tmp_path, "tiny")

    deep = keras.Sequential([keras.Input((4,)), *[keras.layers.Dense(4) for _ in range(30)]])
    collapsed = plots.model_diagram(deep, max_rows=8)
    assert any("×30" in t for t in _texts(collapsed))


def test_backbone_diagrams_read_stages_from_built_models(tmp_path):
    from helpers import classifiers
    from helpers.classifiers import features

    densenet, _ = classifiers.build_densenet121(32, None, image_size=28)
    spec = plots.backbone_stages(densenet)
    blocks = [s for s in spec["stages"] if s["label"].startswith("Dense block")]
    assert [b["detail"].split()[0] for b in blocks] == ["6", "12", "24", "16"]
    assert blocks[0]["shape"] == "8×8×256" and spec["total_params"] == densenet.count_params()
    _saved(plots.backbone_diagram(spec), tmp_path, "densenet")

    resnet = features.build_extractor(features.build_resnet18(32), 32)
    spec = plots.backbone_stages(resnet)
    stages = [s for s in spec["stages"] if s["label"].startswith("Stage")]
    assert [s["shape"] for s in stages] == ["8×8×64", "4×4×128", "2×2×256", "1×1×512"]
    assert sum(s["params"] for s in spec["stages"]) == resnet.count_params()
    _saved(plots.backbone_diagram(resnet, "ResNet-18"), tmp_path, "resnet")


def test_synthetic_neighbours_tell_a_separate_cluster_from_a_mixed_one():
    rng = np.random.default_rng(0)
    real = {"real NORMAL": rng.normal(0, 1, (200, 2)), "real PNEUMONIA": rng.normal(5, 1, (200, 2))}
    far = explore.synthetic_neighbours({**real, "synthetic (default)": rng.normal(20, 1, (100, 2))}, "real NORMAL")
    mixed = explore.synthetic_neighbours({**real, "synthetic (default)": rng.normal(0, 1, (100, 2))}, "real NORMAL")
    assert far.loc[0, "verdict"] == "own cluster" and far.loc[0, "nn_synthetic"] == 1.0
    assert mixed.loc[0, "verdict"] == "mixed with real"
    assert mixed.loc[0, "mixed_expectation"] == pytest.approx(99 / 299)


def test_last_epoch_values_average_over_seeds():
    h = pd.DataFrame({"model": ["cnn"] * 4, "strategy": ["gan"] * 4, "seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
                      "accuracy": [0.5, 0.9, 0.6, 0.7]})
    out = explore.last_epoch_values(h, "accuracy")
    assert out.loc[0, "accuracy"] == pytest.approx(0.8) and out.loc[0, "n_runs"] == 2


def test_wide_figures_stay_under_the_width_limit_and_the_stamp_sits_below_the_axes(tmp_path):
    fig, ax = plt.subplots(figsize=(30, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("a label the stamp must not cover")
    seen, original = {}, fig.savefig

    def spy(*args, **kwargs):  # where the stamp and the axes are at the moment of saving
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        seen["stamp"] = fig.texts[-1].get_window_extent(renderer)
        seen["axes"] = ax.get_tightbbox(renderer)
        return original(*args, **kwargs)

    fig.savefig = spy
    path = plots.save_fig(fig, "wide", tmp_path, run_id="quick/x @ abc1234")
    with Image.open(path) as im:
        assert im.size[0] <= plots.MAX_WIDTH_PX + 50
    assert seen["stamp"].y1 <= seen["axes"].y0


def test_every_bar_shows_its_seeds_as_dots():
    rng = np.random.default_rng(0)
    results = _results(rng, ("none", "gan"), ("cnn", "svm"), seeds=(0, 1, 2))
    for fig in (plots.metric_bars(results, "roc_auc"), plots.metric_grid(results, "roc_auc"),
                plots.metric_bars_with_without(_results(rng, ("none", "gan", "gan_improved"), seeds=(0, 1, 2)))):
        dots = [c for ax in fig.axes for c in ax.collections if c.get_label() == "_seed"]
        bars = [p for ax in fig.axes for p in ax.patches if p.get_height() > 0 and not p.get_hatch()]
        assert sum(len(c.get_offsets()) for c in dots) == 3 * len(bars)
        plt.close(fig)


def test_metric_grid_zooms_to_the_values():
    rng = np.random.default_rng(0)
    results = _results(rng, ("none", "gan"), ("cnn", "svm"))
    fig = plots.metric_grid(results, "roc_auc")
    low = fig.axes[0].get_ylim()[0]
    assert 0 < low <= results["roc_auc"].min() and "axis from" in fig.axes[0].get_ylabel()


def test_threshold_and_calibration_figures(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.clip(y * 0.4 + rng.random(200) * 0.6, 0, 1)
    roc = plots.roc_overlay({"cnn": (y, s), "svm": (y, s[::-1])}, "ROC, seed 0", thresholds={"cnn": 0.7})
    labels = [t.get_text() for t in roc.axes[0].get_legend().get_texts()]
    assert "threshold 0.5" in labels and "validation threshold" in labels
    assert _operating_point(y, s, 0.5) == (float((s[y == 0] >= 0.5).mean()), float((s[y == 1] >= 0.5).mean()))
    pr = plots.pr_overlay({"cnn": (y, s)}, "PR, seed 0")
    assert "PNEUMONIA" in pr.axes[0].get_xlabel()
    rel = plots.reliability_diagram({"cnn": {"none": (y, s), "gan": (y, s)}, "svm": {"none": (y, s)}}, "Reliability")
    assert len([a for a in rel.axes if a.get_title()]) == 2
    cm = plots.confusion_matrices({f"m{i}": np.eye(2, dtype=int) for i in range(7)}, ["N", "P"], ncols=3, title="summed")
    assert len([a for a in cm.axes if a.get_title()]) == 7
    summary = report.ablation_summary(pd.DataFrame({"variant": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
                                                    "kid_z_train": [1.0, 2.0, 3.0, 5.0]}))
    abl = plots.ablation_dots(summary, pd.DataFrame({"variant": ["a", "a", "b", "b"], "kid_z_train": [1.0, 2.0, 3.0, 5.0]}),
                              ["kid_z_train"], "ablation", directions={"kid_z_train": "lower"})
    assert "lower is better" in abl.axes[0].get_title()
    for i, fig in enumerate((roc, pr, rel, cm, abl)):
        _saved(fig, tmp_path, f"threshold{i}")


def test_fakes_side_by_side_draws_a_tile_per_generator_and_seed_and_the_real_images():
    rng = np.random.default_rng(0)
    sets = {(g, s): rng.integers(0, 255, (20, 16, 16), dtype=np.uint8) for g in ("reference", "default") for s in (0, 2)}
    fig = plots.fakes_side_by_side(sets, rng.integers(0, 255, (30, 16, 16), dtype=np.uint8), n=4)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["real (train)", "reference\nseed 0", "reference\nseed 2", "default\nseed 0", "default\nseed 2"]
    assert fig.axes[1].images[0].get_array().shape == (2 * 17 + 1, 2 * 17 + 1)  # 4 images of 16 px, 2 x 2, 1-px pad
