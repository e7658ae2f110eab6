import numpy as np
import pytest

from helpers.core import artifacts


def test_npz_round_trip_and_missing_keys(tmp_path):
    path = artifacts.save_npz(tmp_path / "a" / "x.npz", images=np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    loaded = artifacts.load_npz(path, keys=["images"])
    assert loaded["images"].shape == (1, 2, 3)
    with pytest.raises(artifacts.ArtifactError, match="x.npz lacks the arrays \\['labels'\\]"):
        artifacts.load_npz(path, keys=["labels"], hint="Run notebook 03.")
    with pytest.raises(artifacts.ArtifactError, match="missing.npz does not exist. Run notebook 03"):
        artifacts.load_npz(tmp_path / "missing.npz", hint="Run notebook 03.")


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_append_rows_unions_columns(tmp_path):
    path = tmp_path / "results.csv"
    artifacts.append_rows(path, [{"model": "cnn", "auc": 0.9}])
    artifacts.append_rows(path, [{"model": "svm", "auc": 0.8, "seconds": 2.0}])
    table = artifacts.read_rows(path)
    assert list(table["model"]) == ["cnn", "svm"] and list(table.columns) == ["model", "auc", "seconds"]
    assert np.isnan(table.loc[0, "seconds"])


def test_json_round_trip_with_numpy(tmp_path):
    path = artifacts.save_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(3)})
    assert artifacts.load_json(path) == {"a": 0.5, "b": [0, 1, 2]}


def test_replace_rows_drops_the_rerun_keys_only(tmp_path):
    path = tmp_path / "fidelity.csv"
    artifacts.append_rows(path, [{"dataset": "a", "metric": "fd", "value": 1.0}, {"dataset": "b", "metric": "fd", "value": 2.0}])
    artifacts.replace_rows(path, [{"dataset": "a", "metric": "fd", "value": 3.0}], keys=["dataset", "metric"])
    table = artifacts.read_rows(path)
    assert sorted(zip(table["dataset"], table["value"], strict=False)) == [("a", 3.0), ("b", 2.0)]
