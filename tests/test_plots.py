import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from helpers import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def _images(n=6, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


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
    import pandas as pd

    history = pd.DataFrame({"epoch": [1, 2, 3], "d_loss": [1.3, 1.2, 1.1], "g_loss": [0.7, 0.8, 0.9]})
    figs = [
        plots.class_balance_bars({"train": {"NORMAL": 3, "PNEUMONIA": 9}, "test": {"NORMAL": 2, "PNEUMONIA": 4}}),
        plots.mean_images({"NORMAL": imgs[:10], "PNEUMONIA": imgs[10:]}),
        plots.intensity_histograms({"NORMAL": imgs[:10], "PNEUMONIA": imgs[10:]}),
        plots.label_frequency_bars({"A": 3, "B": 5}),
        plots.cooccurrence_heatmap(labels, list("ABCDE")),
        plots.history_curves(history, [["d_loss", "g_loss"]], ["losses"]),
        plots.real_vs_fake_grid(imgs[:10], imgs[10:], n=4, ncols=2),
        plots.pair_panel(imgs[:3], imgs[3:6], "fake", "nearest real", captions=["a", "b", "c"]),
    ]
    for i, fig in enumerate(figs):
        assert plots.save_fig(fig, f"fig{i}", tmp_path).stat().st_size > 1000


def test_image_grid_needs_images():
    with pytest.raises(ValueError, match="at least one"):
        plots.image_grid(np.zeros((0, 8, 8), np.uint8))


def test_result_plots_build(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    s = rng.random(8)
    results = pd.DataFrame({"classifier": ["cnn"] * 4 + ["svm"] * 4, "strategy": ["none", "gan"] * 4,
                            "seed": [0, 0, 1, 1] * 2, "roc_auc": rng.uniform(0.7, 0.9, 8)})
    diffs = pd.DataFrame({"classifier": ["cnn", "svm", "ann"], "strategy_a": ["gan"] * 3, "strategy_b": ["none"] * 3,
                          "mean_diff": [-0.02, 0.01, np.nan], "low": [-0.05, np.nan, np.nan], "high": [0.01, np.nan, np.nan]})
    history = pd.DataFrame({"model": ["cnn"] * 6, "strategy": ["none"] * 3 + ["gan"] * 3, "epoch": [1, 2, 3] * 2,
                            "val_auc_exact": rng.random(6), "accuracy": rng.random(6)})
    figs = [
        plots.feature_vectors({"NORMAL (train image 0)": rng.random(512), "synthetic NORMAL": rng.random(512)}),
        plots.embedding_scatter({"real NORMAL": rng.random((20, 2)), "synthetic NORMAL": rng.random((10, 2))}, "PCA"),
        plots.roc_panels({"cnn": {"none": (y, s), "gan": (y, s[::-1])}, "svm": {"none": (y, s)}}),
        plots.confusion_matrices({"cnn / none": np.array([[5, 1], [2, 9]])}, ["NORMAL", "PNEUMONIA"]),
        plots.metric_bars(results, "roc_auc"),
        plots.difference_forest(diffs, "gan − none"),
        plots.curves_by_group(history, ["val_auc_exact", "accuracy"]),
        plots.progress_panels([1, 5, 9], rng.integers(0, 255, (3, 16, 8, 8), dtype=np.uint8)),
    ]
    assert len(figs[5].axes[0].get_yticks()) == 2  # the pair that never ran is left out
    for i, fig in enumerate(figs):
        assert plots.save_fig(fig, f"result{i}", tmp_path).stat().st_size > 1000
    with pytest.raises(ValueError, match="train the GAN first"):
        plots.progress_panels([], np.zeros((0, 16, 8, 8)))
