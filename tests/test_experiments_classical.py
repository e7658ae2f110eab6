"""helpers.experiments (classical part): feature grid, resume, saved scores, ANN grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import experiments
from helpers.metrics import METRIC_COLUMNS

CONTEXT = {"dataset": "blobs", "image_size": 16, "profile": "test"}


def _blobs(n: int, seed: int, shift: float = 4.0):
    """Two Gaussian blobs in 8-D, class 0 the minority (1/3)."""
    rng = np.random.default_rng(seed)
    n0 = n // 3
    x = np.concatenate([rng.normal(0, 1, (n0, 8)), rng.normal(shift, 1, (n - n0, 8))])
    y = np.array([0] * n0 + [1] * (n - n0))
    return x.astype(np.float32), y


def _grid(results_path, **overrides):
    xtr, ytr = _blobs(60, 0)
    xva, yva = _blobs(30, 1)
    xte, yte = _blobs(30, 2)
    fakes = np.random.default_rng(3).normal(0, 1, (20, 8)).astype(np.float32)
    kwargs = dict(
        train_feats=xtr, y_train=ytr, val_feats=xva, y_val=yva, test_feats=xte, y_test=yte,
        synthetic_feats=fakes, synthetic_class=0, classifiers=["decision_tree", "svm"],
        strategies=["none", "class_weight", "random"], seeds=[0, 1], results_path=results_path,
        context=CONTEXT, feature_note="blobs", verbose=False,
    )
    kwargs.update(overrides)
    return experiments.run_classical_grid(**kwargs)


def test_classical_grid_rows_resume_and_scores(tmp_path, capsys):
    path = tmp_path / "results.csv"
    rows = _grid(path)
    table = pd.read_csv(path)
    assert len(table) == len(rows) == 12
    for col in (*CONTEXT, "notebook", "classifier", "strategy", "seed", "features", *METRIC_COLUMNS,
                "n_train", "n_synthetic", "fit_seconds"):
        assert col in table.columns, col
    assert (table["roc_auc"] > 0.9).all()
    random_rows = table[table["strategy"] == "random"]
    assert (random_rows["n_train"] == 80).all() and (random_rows["n_synthetic"] == 20).all()

    again = _grid(path)  # resumes: nothing new
    assert len(pd.read_csv(path)) == 12 and len(again) == 12

    y_true, y_score = experiments.load_scores(tmp_path, "04", "svm", "random", 1)
    assert len(y_true) == len(y_score) == 30 and ((y_score > 0) & (y_score < 1)).all()
    with pytest.raises(FileNotFoundError, match="notebook 04"):
        experiments.load_scores(tmp_path, "04", "svm", "smote", 1)

    more = _grid(path, classifiers=["svm"], strategies=["gan", "smote", "adasyn", "classical_aug"],
                 seeds=[0], verbose=True)
    out = capsys.readouterr().out
    assert "adasyn / seed 0: skipped" in out  # separated blobs: no majority neighbours
    assert "classical_aug: skipped" in out
    assert len(more) == 2 and len(pd.read_csv(path)) == 14
    assert more.loc[more["strategy"] == "gan", "n_synthetic"].item() == 20


def test_classical_grid_rejects_ann_and_bad_context(tmp_path):
    with pytest.raises(ValueError, match="run_ann_grid"):
        _grid(tmp_path / "r.csv", classifiers=["ann"])
    with pytest.raises(ValueError, match="image_size"):
        _grid(tmp_path / "r.csv", context={"dataset": "x"})


def _images(n: int, seed: int):
    """16x16 uint8 images; class 1 has a bright centre square (separable)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 100, (n, 16, 16)).astype(np.uint8)
    y = np.array([0] * (n // 3) + [1] * (n - n // 3))
    x[y == 1, 4:12, 4:12] += 120
    return x, y


def test_ann_grid_writes_rows(tmp_path, capsys):
    path = tmp_path / "results.csv"
    xtr, ytr = _images(48, 0)
    xva, yva = _images(24, 1)
    xte, yte = _images(24, 2)
    fakes = _images(8, 3)[0][:8]
    kwargs = dict(
        train_images=xtr, y_train=ytr, val_images=xva, y_val=yva, test_images=xte, y_test=yte,
        synthetic_images=fakes, synthetic_class=0,
        strategies=["none", "class_weight", "smote", "gan", "classical_aug"], seeds=[0], epochs=2,
        results_path=path, context=CONTEXT, batch_size=16, max_steps_per_epoch=2,
    )
    rows = experiments.run_ann_grid(**kwargs)
    assert "skipping ['smote']" in capsys.readouterr().out
    assert len(rows) == 4 and set(rows["classifier"]) == {"ann"}
    assert set(rows["strategy"]) == {"none", "class_weight", "gan", "classical_aug"}
    assert rows[list(METRIC_COLUMNS)].notna().all().all()
    assert rows.loc[rows["strategy"] == "gan", "n_synthetic"].item() == 8
    experiments.run_ann_grid(**kwargs)
    assert len(pd.read_csv(path)) == 4
