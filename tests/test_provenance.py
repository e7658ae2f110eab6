"""helpers.core.provenance: fingerprints, checks, fresh runs; the run folder is bound to its data."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from helpers import config
from helpers.core import artifacts, provenance
from helpers.core.provenance import ProvenanceError


def test_fingerprint_ids_are_stable_and_sensitive():
    a = {"seed": 1, "opts": (1, 2), "x": np.int64(3)}
    assert provenance.fingerprint_id(a) == provenance.fingerprint_id({"x": 3, "opts": [1, 2], "seed": 1.0})
    assert provenance.fingerprint_id(a) != provenance.fingerprint_id({**a, "seed": 2})
    x = np.zeros((2, 3), np.uint8)
    assert provenance.array_digest(x) != provenance.array_digest(x.astype(np.int16))
    assert provenance.array_digest(x) != provenance.array_digest(x.reshape(3, 2))


def test_check_or_stamp_and_mismatch(tmp_path):
    assert provenance.check_or_stamp(tmp_path, {"data": "a"}) is False
    assert provenance.check_or_stamp(tmp_path, {"data": "a"}) is True
    with pytest.raises(ProvenanceError, match=r"holds a GAN made from other inputs \(data: saved 'a', now 'b'\)"):
        provenance.check(tmp_path, {"data": "b"}, "GAN")
    legacy = tmp_path / "legacy"
    (legacy / "gan").mkdir(parents=True)
    with pytest.raises(ProvenanceError, match="without a provenance stamp"):
        provenance.check_or_stamp(legacy, {"data": "a"}, must_be_empty=("gan",))


def test_move_aside(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "x.txt").write_text("old")
    moved = provenance.move_aside(run)
    assert moved is not None and not run.exists() and (moved / "x.txt").read_text() == "old"
    assert moved.name.startswith("run.old-")
    assert provenance.move_aside(run) is None


def test_artifacts_have_normal_permissions(tmp_path):
    path = artifacts.save_json(tmp_path / "a.json", {"a": 1})
    mode = stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def _cfg(run_dir, **kw):
    return config.resolve("ci", run_dir=run_dir, **kw)


def test_run_folder_is_bound_to_its_data(tmp_path, clean_env):
    """The most dangerous case: the same run folder, other data -> one clear error, before any work."""
    cfg = _cfg(tmp_path / "run")
    splits = cfg.load_splits()
    data_id = cfg.data_id
    assert len(data_id) == 12 and (cfg.run_dir / "provenance.json").exists()
    again = _cfg(tmp_path / "run")
    again.load_splits()
    assert again.data_id == data_id and len(splits["train"]) == 320
    other = _cfg(tmp_path / "run")
    with pytest.raises(ProvenanceError, match=r"run folder made from other inputs \(data_options: saved"):
        other.load_splits(n_train=64)
    other_seed = _cfg(tmp_path / "run", seeds=[5])
    with pytest.raises(ProvenanceError, match="train_digest: saved"):
        other_seed.load_splits()
    fresh = _cfg(tmp_path / "run", seeds=[5], fresh=True)
    fresh.load_splits()
    assert fresh.data_id != data_id and len(list(tmp_path.glob("run.old-*"))) == 1


def test_resolve_checks_inputs_before_any_work(tmp_path, clean_env):
    with pytest.raises(ValueError, match="image_size=50 is not supported"):
        _cfg(tmp_path, image_size=50)
    for bad in ([], 0, "0", 3, [0.5], [1, 1]):
        with pytest.raises(ValueError, match="seeds"):
            _cfg(tmp_path, seeds=bad)
    with pytest.raises(RuntimeError, match="load_splits"):
        _ = _cfg(tmp_path).data_id


def test_models_carry_provenance(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = provenance.save_model(model, tmp_path / "m.keras", provenance={"data": "a", "epochs": 1})
    provenance.load_model(path, expected={"data": "a", "epochs": 1})
    with pytest.raises(ProvenanceError, match="epochs: saved 1, now 2"):
        provenance.load_model(path, expected={"data": "a", "epochs": 2})
    bare = provenance.save_model(model, tmp_path / "bare.keras")
    with pytest.raises(ProvenanceError, match="carries no provenance"):
        provenance.load_model(bare, expected={"data": "a"})
