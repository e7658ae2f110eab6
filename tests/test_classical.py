"""helpers.classifiers.classical: feature grid, resume by fingerprint, saved scores, ANN grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.classifiers import classical
from helpers.classifiers.results import ResultsTable
from helpers.core.provenance import ProvenanceError
from helpers.evaluation.scores import METRIC_COLUMNS
from helpers.oversampling.oversample import Fakes

CONTEXT = {"dataset": "blobs", "image_size": 16, "profile": "test"}


def _blobs(n: int, seed: int, shift: float = 4.0):
    """Two Gaussian blobs in 8-D, class 0 the minority (1/3)."""
    rng = np.random.default_rng(seed)
    n0 = n // 3
    x = np.concatenate([rng.normal(0, 1, (n0, 8)), rng.normal(shift, 1, (n - n0, 8))])
    y = np.array([0] * n0 + [1] * (n - n0))
    return x.astype(np.float32), y


def _grid(run_dir, **overrides):
    xtr, ytr = _blobs(60, 0)
    xva, yva = _blobs(30, 1)
    xte, yte = _blobs(30, 2)
    fakes = np.random.default_rng(3).normal(0, 1, (20, 8)).astype(np.float32)
    kwargs = dict(
        data={"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)},
        fakes=Fakes({"reference": fakes, "default": fakes[::-1].copy()}, class_id=0),
        classifiers=["decision_tree", "svm"],
        strategies=["none", "class_weight", "random"], seeds=[0, 1], run_dir=run_dir,
        context=CONTEXT, feature_note="blobs", provenance_base={"data": "blobs-v1"}, verbose=False,
    )
    kwargs.update(overrides)
    return classical.run_classical_grid(**kwargs)


def test_classical_grid_rows_resume_and_scores(tmp_path, capsys):
    path = tmp_path / "results.csv"
    rows = _grid(tmp_path)
    table = pd.read_csv(path)
    assert len(table) == len(rows) == 12
    for col in (*CONTEXT, "notebook", "classifier", "strategy", "seed", "features", *METRIC_COLUMNS,
                "n_train", "n_synthetic", "fit_seconds", "fingerprint"):
        assert col in table.columns, col
    assert (table["roc_auc"] > 0.9).all()
    random_rows = table[table["strategy"] == "random"]
    assert (random_rows["n_train"] == 80).all() and (random_rows["n_synthetic"] == 20).all()

    assert table.columns[-1] == "fingerprint"

    again = _grid(tmp_path)  # resumes: nothing new
    assert len(pd.read_csv(path)) == 12 and len(again) == 12

    results = ResultsTable(tmp_path)
    y_true, y_score = results.load_scores("04", "svm", "random", 1)
    assert len(y_true) == len(y_score) == 30 and ((y_score > 0) & (y_score < 1)).all()
    with pytest.raises(FileNotFoundError, match="notebook 04"):
        results.load_scores("04", "svm", "smote", 1)

    more = _grid(tmp_path, classifiers=["svm"], strategies=["gan", "smote", "adasyn", "classical_aug"],
                 seeds=[0], verbose=True)
    out = capsys.readouterr().out
    assert "adasyn / seed 0: skipped" in out  # separated blobs: no majority neighbours
    assert "classical_aug skipped" in out
    assert len(more) == 2 and len(pd.read_csv(path)) == 14
    assert more.loc[more["strategy"] == "gan", "n_synthetic"].item() == 20


def test_classical_grid_never_reuses_rows_of_other_inputs(tmp_path):
    """The stale-reuse case: the same run folder, other data / other fakes -> an error, not old rows."""
    _grid(tmp_path, strategies=["none", "gan"], seeds=[0])
    before = pd.read_csv(tmp_path / "results.csv")
    xtr, ytr = _blobs(60, 7)  # other training data
    with pytest.raises(ProvenanceError, match=r"results.csv \(run decision_tree / none / seed 0\) holds a result "
                       r"row made from other inputs \(train_digest: saved"):
        _grid(tmp_path, strategies=["none", "gan"], seeds=[0],
              data={"train": (xtr, ytr), "val": _blobs(30, 1), "test": _blobs(30, 2)})
    other_fakes = np.random.default_rng(9).normal(0, 1, (20, 8)).astype(np.float32)
    with pytest.raises(ProvenanceError, match="synthetic_digest: saved"):
        _grid(tmp_path, strategies=["gan"], seeds=[0], fakes=Fakes({"reference": other_fakes}, class_id=0))
    with pytest.raises(ProvenanceError, match="data: saved 'blobs-v1', now 'blobs-v2'"):
        _grid(tmp_path, strategies=["none"], seeds=[0], provenance_base={"data": "blobs-v2"})
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results.csv"), before)  # nothing rewritten


def test_classical_grid_rejects_ann_and_bad_context(tmp_path):
    with pytest.raises(ValueError, match="run_ann_grid"):
        _grid(tmp_path, classifiers=["ann"])
    with pytest.raises(ValueError, match="image_size"):
        _grid(tmp_path, context={"dataset": "x"})
    with pytest.raises(ValueError, match="not allowed"):
        _grid(tmp_path, strategies=["gan_filterd"])


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
        data={"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)},
        fakes=Fakes({"reference": fakes}, class_id=0),
        strategies=["none", "class_weight", "smote", "gan", "classical_aug"], seeds=[0],
        settings=classical.AnnSettings(epochs=2, batch_size=16, max_steps_per_epoch=2),
        run_dir=tmp_path, context=CONTEXT,
    )
    rows = classical.run_ann_grid(**kwargs)
    assert "skipping ['smote']" in capsys.readouterr().out
    assert len(rows) == 4 and set(rows["classifier"]) == {"ann"}
    assert set(rows["strategy"]) == {"none", "class_weight", "gan", "classical_aug"}
    assert rows[list(METRIC_COLUMNS)].notna().all().all()
    assert rows.loc[rows["strategy"] == "gan", "n_synthetic"].item() == 8
    classical.run_ann_grid(**kwargs)
    assert len(pd.read_csv(path)) == 4
    with pytest.raises(ProvenanceError, match="epochs: saved 2, now 3"):
        classical.run_ann_grid(**{**kwargs, "settings": classical.AnnSettings(epochs=3, batch_size=16,
                                                                               max_steps_per_epoch=2)})
