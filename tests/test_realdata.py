"""Loaders on the real-data samples next to the checkout (tests/conftest.py: SHARED_DATA); skipped when absent.

Run with ``-s`` to see the counts each loader returned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.data import (
    MEDMNIST_MD5,
    DataError,
    file_md5,
    find_duplicates,
    load_splits,
    patient_id_from_filename,
    patient_overlap,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent"),
]


def _report(name: str, splits) -> None:
    for split, ds in splits.items():
        print(f"{name} {split}: n={len(ds)} {ds.class_counts()}")


def test_pneumoniamnist_28():
    path = DATA / "pneumoniamnist_28.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    official = MEDMNIST_MD5["pneumoniamnist.npz"]
    actual = file_md5(path)
    print(f"{path.name}: md5 {actual}, published md5 of pneumoniamnist.npz {official}")
    # a re-saved copy under a non-official name is checked for keys/shapes, its md5 recorded
    splits = load_splits("pneumoniamnist", 28, data_path=path)
    assert "non-standard file name" in splits["train"].source and actual in splits["train"].source
    _report("pneumoniamnist", splits)
    expected = {"train": (1214, 3494), "val": (135, 389), "test": (234, 390)}
    for split, (normal, pneumonia) in expected.items():
        ds = splits[split]
        assert ds.class_counts() == {"NORMAL": normal, "PNEUMONIA": pneumonia}
        assert ds.images.shape == (normal + pneumonia, 28, 28) and ds.images.dtype == np.uint8
    assert splits["train"].minority_class() == 0
    # same data through the folder route (the _28 name is found next to the official name)
    via_folder = load_splits("pneumoniamnist", 28, data_path=DATA)
    np.testing.assert_array_equal(via_folder["test"].images, splits["test"].images)
    dups = find_duplicates(splits)
    print(f"pneumoniamnist exact duplicates: {len(dups)} groups, {int(dups.cross_split.sum())} across splits")


def test_pneumoniamnist_md5_is_checked_under_the_official_name(tmp_path):
    path = DATA / "pneumoniamnist_28.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    official = MEDMNIST_MD5["pneumoniamnist.npz"]
    actual = file_md5(path)
    (tmp_path / "pneumoniamnist.npz").symlink_to(path)
    if actual == official:
        assert "md5 verified" in load_splits("pneumoniamnist", 28, data_path=tmp_path)["test"].source
    else:  # the shared copy is not byte-identical to Zenodo's: the check must say so
        with pytest.raises(DataError) as err:
            load_splits("pneumoniamnist", 28, data_path=tmp_path)
        assert "pneumoniamnist.npz" in str(err.value) and official in str(err.value) and actual in str(err.value)


def test_kermany_sample():
    root = DATA / "kermany_sample"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    splits = load_splits("kaggle_pneumonia", 64, data_path=root, seed=0)
    _report("kaggle_pneumonia", splits)
    assert "no val folder" in splits["val"].source and "patient-wise" in splits["val"].source
    assert splits["test"].class_counts() == {"NORMAL": 10, "PNEUMONIA": 10}
    assert splits["train"].class_counts() == {"NORMAL": 18, "PNEUMONIA": 18}
    assert splits["val"].class_counts() == {"NORMAL": 2, "PNEUMONIA": 2}
    n_rgb = 0
    for ds in splits.values():
        assert ds.images.shape == (len(ds), 64, 64) and ds.images.dtype == np.uint8
        for i, p in enumerate(ds.paths):
            with Image.open(p) as im:
                assert tuple(ds.original_sizes[i]) == (im.height, im.width)
                if im.mode == "RGB":
                    n_rgb += 1
                    gray = np.asarray(im.convert("L").resize((64, 64), Image.BOX), dtype=float)
                    assert np.abs(ds.images[i].astype(float) - gray).mean() < 3
    assert n_rgb == 5  # README: a few are RGB; all came out as 2-D gray
    widths = np.concatenate([ds.original_sizes[:, 1] for ds in splits.values()])
    print(f"kaggle_pneumonia widths {widths.min()}..{widths.max()}, {len(set(widths))} distinct; {n_rgb} RGB")
    assert len(set(widths)) > 20 and widths.max() > 2 * widths.min()


def test_kermany_sample_patients():
    root = DATA / "kermany_sample"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    files = sorted(root.glob("chest_xray/*/*/*.jpeg"))
    ids = {f.name: patient_id_from_filename(f.name) for f in files}
    assert len(files) == 60 and None not in ids.values()  # every real Kermany name carries its patient
    for name, pid in ids.items():
        assert name.startswith(pid) and pid.startswith(("person", "IM-", "NORMAL2-IM-"))
        assert pid.startswith("person") == (name.split("_")[0] == pid)
    assert ids.get("IM-0539-0001-0001.jpeg") == "IM-0539" and ids.get("NORMAL2-IM-0402-0001.jpeg") == "NORMAL2-IM-0402"
    splits = load_splits("kaggle_pneumonia", 16, data_path=root, seed=0)
    for ds in splits.values():
        assert ds.patient_ids.tolist() == [ids[Path(p).name] for p in ds.paths]
    assert not set(splits["train"].patient_ids) & set(splits["val"].patient_ids)
    frame = patient_overlap(splits)
    print(f"kermany_sample patient overlap:\n{frame.to_string()}")
    assert frame["splits"].tolist() == [("train", "val"), ("train", "test"), ("val", "test")]
    assert frame["shared_patients"].iloc[0] == 0  # the carved val never shares a patient with train
    # the sample's test folder is a second sample of training images: whatever it shares is reported
    test_ids = set(splits["test"].patient_ids)
    want = len(test_ids & set(splits["train"].patient_ids)) + len(test_ids & set(splits["val"].patient_ids))
    assert frame["shared_patients"].iloc[1:].sum() == want


def test_nih_sample():
    root = DATA / "nih_sample"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    splits = load_splits("nih", 64, data_path=root, seed=0)
    _report("nih", splits)
    print(f"nih source: {splits['train'].source}")
    assert sum(len(ds) for ds in splits.values()) == 24
    patients = {s: {int(i) for i in ds.patient_ids.tolist()} for s, ds in splits.items()}
    print(f"nih patients per split: {patients}")
    assert patients["test"] == {3}  # all of patient 3 is in the official test_list
    assert len(splits["test"]) == 8
    assert len(splits["train"]) + len(splits["val"]) == 16
    assert not patients["train"] & patients["val"] and not (patients["train"] | patients["val"]) & {3}
    assert set().union(*patients.values()) == set(range(1, 9))
    for ds in splits.values():  # the CSV's Patient ID is the first 8 digits of the image name
        assert ds.patient_ids.tolist() == [patient_id_from_filename(p) for p in ds.paths]
    assert patient_overlap(splits)["shared_patients"].tolist() == [0, 0, 0]
    assert "24 of 112120 CSV rows" in splits["train"].source
    labels = {}
    for ds in splits.values():
        for p, y in zip(ds.paths, ds.labels, strict=True):
            labels[Path(p).name] = {ds.class_names[j] for j in np.flatnonzero(y)}
    assert labels["00000001_001.png"] == {"Cardiomegaly", "Emphysema"}
    assert labels["00000003_003.png"] == {"Hernia", "Infiltration"}
    assert labels["00000004_000.png"] == {"Mass", "Nodule"}
    assert labels["00000005_007.png"] == {"Effusion", "Infiltration"}
    assert labels["00000002_000.png"] == set()  # No Finding
    img = splits["test"].images[0]
    assert img.shape == (64, 64) and img.dtype == np.uint8 and img.std() > 0


def test_kermany_full_set_through_the_kermany64_profile(clean_env, tmp_path):
    """The whole Kaggle set at 64 px as ``kermany64`` loads it: official counts, val carved by patient."""
    from helpers import config

    root = DATA / "kermany_224"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    cfg = config.resolve("kermany64", data_path=str(root), run_dir=tmp_path / "run")
    splits = cfg.load_splits()
    _report("kermany_224 @64", splits)
    assert all(ds.images.shape[1:] == (64, 64) for ds in splits.values())
    pool = {c: splits["train"].class_counts()[c] + splits["val"].class_counts()[c] for c in ("NORMAL", "PNEUMONIA")}
    assert pool == {"NORMAL": 1341, "PNEUMONIA": 3875}
    assert splits["test"].class_counts() == {"NORMAL": 234, "PNEUMONIA": 390}
    assert 0.08 < len(splits["val"]) / sum(pool.values()) < 0.12
    assert not set(splits["train"].patient_ids) & set(splits["val"].patient_ids)
