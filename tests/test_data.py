"""Offline tests of helpers.data on small synthetic files built in tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import data as D
from helpers.data import (
    DataError,
    Dataset,
    LazyImages,
    find_duplicates,
    load_splits,
    read_image,
)

# ------------------------------------------------------------------------------------------------
# phantom
# ------------------------------------------------------------------------------------------------

SMALL = {"n_train": 40, "n_val": 12, "n_test": 16}


@pytest.fixture(scope="module")
def phantom_splits():
    return load_splits("phantom", 28, seed=3, **SMALL)


def test_phantom_shapes_dtypes_counts(phantom_splits):
    assert list(phantom_splits) == ["train", "val", "test"]
    for split, n in zip(("train", "val", "test"), (40, 12, 16), strict=True):
        ds = phantom_splits[split]
        assert ds.split == split and ds.name == "phantom" and len(ds) == n
        assert ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8
        assert ds.labels.shape == (n,) and ds.labels.dtype == np.int64
        assert ds.class_names == ("NORMAL", "PNEUMONIA") and not ds.multi_label
        assert "phantom(seed=3" in ds.source
        assert sum(ds.class_counts().values()) == n
    train = phantom_splits["train"]
    assert train.minority_class() == 0  # NORMAL is the minority by default
    assert train.class_counts()["NORMAL"] == round(40 / 3.9)


def test_phantom_deterministic_and_seeded(phantom_splits):
    again = load_splits("phantom", 28, seed=3, **SMALL)
    other = load_splits("phantom", 28, seed=4, **SMALL)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(again[split].images, phantom_splits[split].images)
        np.testing.assert_array_equal(again[split].labels, phantom_splits[split].labels)
    assert not np.array_equal(other["train"].images, phantom_splits["train"].images)


def test_phantom_no_cross_split_duplicates(phantom_splits):
    dups = find_duplicates(phantom_splits)
    assert not dups["cross_split"].any()


def test_phantom_multilabel_and_size():
    splits = load_splits("phantom", 32, n_train=10, n_val=4, n_test=4, multi_label=True)
    from helpers.data import phantom

    ds = splits["train"]
    assert ds.multi_label and ds.class_names == tuple(phantom.PHANTOM_LABELS)
    assert ds.labels.dtype == np.uint8 and ds.labels.shape == (10, len(phantom.PHANTOM_LABELS))
    assert ds.images.shape == (10, 32, 32)
    with pytest.raises(DataError, match="multi-label"):
        ds.minority_class()


def test_registry_errors():
    with pytest.raises(DataError, match="registered datasets are .*phantom"):
        load_splits("mnist")
    with pytest.raises(DataError, match="unknown options .*n_trian"):
        load_splits("phantom", n_trian=5)
    assert set(D.DATASETS) == {"phantom", "pneumoniamnist", "chestmnist", "kaggle_pneumonia", "nih"}


def test_dataset_subset_and_counts(phantom_splits):
    train = phantom_splits["train"]
    sub = train.subset(np.arange(5))
    assert len(sub) == 5 and sub.images.shape == (5, 28, 28)
    np.testing.assert_array_equal(sub.labels, train.labels[:5])
    mask = train.labels == 0
    assert train.subset(mask).class_counts() == {"NORMAL": int(mask.sum()), "PNEUMONIA": 0}
    with pytest.raises(DataError, match="labels"):
        Dataset("x", "train", np.zeros((3, 4, 4), np.uint8), np.zeros(2, np.int64), ("a", "b"), "s",
                False, 4)


# ------------------------------------------------------------------------------------------------
# MedMNIST npz
# ------------------------------------------------------------------------------------------------

COUNTS = {"train": 12, "val": 4, "test": 6}


def make_npz(path: Path, size: int = 28, n_cols: int = 1, drop: str | None = None, **override) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in COUNTS.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, n_cols), dtype=np.uint8)
    arrays.update(override)
    arrays.pop(drop, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def test_npz_local_file_nonstandard_name(tmp_path):
    f = make_npz(tmp_path / "mine.npz")
    splits = load_splits("pneumoniamnist", 28, data_path=f)
    for split, n in COUNTS.items():
        ds = splits[split]
        assert ds.images.shape == (n, 28, 28) and ds.labels.shape == (n,) and ds.labels.dtype == np.int64
        assert ds.class_names == ("NORMAL", "PNEUMONIA") and "md5 not checked" in ds.source
    with np.load(f) as z:
        np.testing.assert_array_equal(splits["val"].images, z["val_images"])


def test_npz_resized_when_size_differs(tmp_path):
    f = make_npz(tmp_path / "mine.npz", size=28)
    ds = load_splits("pneumoniamnist", 16, data_path=f)["train"]
    assert ds.images.shape == (12, 16, 16) and ds.image_size == 16
    assert "INTER_AREA" in ds.source and "28->16" in ds.source


def test_npz_folder_and_md5_mismatch(tmp_path):
    make_npz(tmp_path / "pneumoniamnist.npz")  # a standard name, but not the official bytes
    with pytest.raises(DataError) as err:
        load_splits("pneumoniamnist", 28, data_path=tmp_path)
    msg = str(err.value)
    assert "pneumoniamnist.npz" in msg and D.MEDMNIST_MD5["pneumoniamnist.npz"] in msg
    assert D.file_md5(tmp_path / "pneumoniamnist.npz") in msg and "delete" in msg
    ds = load_splits("pneumoniamnist", 28, data_path=tmp_path, verify=False)["test"]
    assert len(ds) == 6 and "verify=False" in ds.source


def test_npz_md5_ok_when_matching(tmp_path, monkeypatch):
    f = make_npz(tmp_path / "pneumoniamnist_64.npz", size=64)
    monkeypatch.setitem(D.MEDMNIST_MD5, "pneumoniamnist_64.npz", D.file_md5(f))
    ds = load_splits("pneumoniamnist", 64, data_path=tmp_path)["train"]
    assert ds.images.shape == (12, 64, 64) and "md5 verified" in ds.source


def test_npz_missing_key(tmp_path):
    f = make_npz(tmp_path / "mine.npz", drop="val_labels")
    with pytest.raises(DataError, match=r"mine\.npz.*'val_labels'"):
        load_splits("pneumoniamnist", data_path=f)


def test_npz_wrong_shapes(tmp_path):
    f = make_npz(tmp_path / "a.npz", train_images=np.zeros((12, 28), np.uint8))
    with pytest.raises(DataError, match=r"a\.npz.*'train_images'"):
        load_splits("pneumoniamnist", data_path=f)
    f = make_npz(tmp_path / "b.npz", test_labels=np.zeros((5, 1), np.uint8))
    with pytest.raises(DataError, match=r"b\.npz.*'test_labels'"):
        load_splits("pneumoniamnist", data_path=f)
    f = make_npz(tmp_path / "c.npz", n_cols=1)  # pneumonia labels given to chestmnist
    with pytest.raises(DataError, match=r"c\.npz.*'train_labels'.*14"):
        load_splits("chestmnist", data_path=f)


def test_npz_unsupported_size(tmp_path):
    with pytest.raises(DataError, match=r"28, 64, 128, 224"):
        load_splits("pneumoniamnist", 32, download=True)
    with pytest.raises(DataError, match=r"28, 64, 128, 224"):
        load_splits("chestmnist", 100, data_path=tmp_path)


def test_npz_folder_without_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"pneumoniamnist_128\.npz.*download=True"):
        load_splits("pneumoniamnist", 128, data_path=tmp_path)
    with pytest.raises(DataError, match=r"download=True"):
        load_splits("pneumoniamnist", 28)


def test_chestmnist_multilabel(tmp_path):
    f = make_npz(tmp_path / "chest.npz", n_cols=14)
    splits = load_splits("chestmnist", 28, data_path=f)
    ds = splits["train"]
    assert ds.multi_label and ds.labels.shape == (12, 14) and ds.labels.dtype == np.uint8
    assert ds.class_names == D.NIH_LABELS and ds.class_names[12] == "Pleural_Thickening"
    sub = load_splits("chestmnist", 28, data_path=f, labels=["Effusion", "hernia"])["train"]
    assert sub.class_names == ("Effusion", "Hernia")
    np.testing.assert_array_equal(sub.labels, ds.labels[:, [2, 13]])
    with pytest.raises(DataError, match="Fracture"):
        load_splits("chestmnist", 28, data_path=f, labels=["Fracture"])


def test_npz_download_with_patched_pooch(tmp_path, monkeypatch):
    import pooch

    source = make_npz(tmp_path / "src" / "x.npz")
    calls = []

    def fake_retrieve(url, known_hash, fname, path, **kwargs):
        calls.append((url, known_hash, fname, Path(path)))
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, Path(path) / fname)
        return str(Path(path) / fname)

    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "cache"))
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    splits = load_splits("pneumoniamnist", 28, download=True)
    url, known_hash, fname, path = calls[0]
    assert url == "https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1"
    assert known_hash == "md5:28209eda62fecd6e6a2d98b1501bb15f"
    assert fname == "pneumoniamnist.npz" and path == tmp_path / "cache"
    assert len(splits["train"]) == 12 and url in splits["train"].source

    # a later call without download finds the cached file, and checks its md5
    with pytest.raises(DataError, match="does not match"):
        load_splits("pneumoniamnist", 28)
    monkeypatch.setitem(D.MEDMNIST_MD5, "pneumoniamnist.npz", D.file_md5(source))
    assert len(load_splits("pneumoniamnist", 28)["val"]) == 4

    def failing(*args, **kwargs):
        raise ValueError("MD5 hash of downloaded file does not match the known hash")

    monkeypatch.setattr(pooch, "retrieve", failing)
    with pytest.raises(DataError, match=r"md5.*pneumoniamnist\.npz"):
        load_splits("pneumoniamnist", 28, download=True)

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError, match="could not download"):
        load_splits("chestmnist", 64, download=True)


def test_npz_download_real_pooch_hash_check(tmp_path, monkeypatch):
    """pooch.retrieve itself verifies a file already in the cache (no network needed)."""
    cache = tmp_path / "cache"
    f = make_npz(cache / "chestmnist_64.npz", size=64, n_cols=14)
    monkeypatch.setenv("MEDMNIST_ROOT", str(cache))
    monkeypatch.setitem(D.MEDMNIST_MD5, "chestmnist_64.npz", D.file_md5(f))
    ds = load_splits("chestmnist", 64, download=True)["test"]
    assert ds.images.shape == (6, 64, 64) and "pooch" in ds.source


# ------------------------------------------------------------------------------------------------
# image reading
# ------------------------------------------------------------------------------------------------


def test_read_image_modes(tmp_path):
    gray = np.tile(np.arange(40, dtype=np.uint8) * 5, (30, 1))
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    Image.fromarray(np.stack([gray] * 3, -1), "RGB").save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([gray] * 3 + [np.full_like(gray, 255)]), "RGBA").save(tmp_path / "rgba.png")
    sixteen = np.zeros((30, 40), np.uint16)
    sixteen[:, 20:] = 3000
    sixteen[:, :20] = 1000
    cv2.imwrite(str(tmp_path / "g16.png"), sixteen)
    for name in ("l.png", "rgb.png", "rgba.png"):
        img, size = read_image(tmp_path / name, 40)
        assert size == (30, 40) and img.shape == (40, 40) and img.dtype == np.uint8
    same, _ = read_image(tmp_path / "rgb.png", 40)
    np.testing.assert_array_equal(same, read_image(tmp_path / "l.png", 40)[0])
    native = cv2.resize(gray, (40, 40), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(same, native)
    img16, size16 = read_image(tmp_path / "g16.png", 40)
    assert size16 == (30, 40) and img16.dtype == np.uint8
    assert img16[:, 0].max() == 0 and img16[:, -1].min() == 255  # scaled by its range
    with pytest.raises(DataError, match="nope.png"):
        read_image(tmp_path / "nope.png", 8)


# ------------------------------------------------------------------------------------------------
# Kaggle folders
# ------------------------------------------------------------------------------------------------

MODES = ("L", "RGB", "RGBA", "I16", "L")


def _write_image(path: Path, mode: str, h: int, w: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = np.full((h, w), value, np.uint8)
    base[: h // 2] = 255 - value  # two levels, so 16-bit range scaling keeps structure
    if mode == "L":
        Image.fromarray(base, "L").save(path, format="JPEG" if path.suffix == ".jpeg" else "PNG")
    elif mode == "RGB":
        Image.fromarray(np.stack([base] * 3, -1), "RGB").save(path)
    elif mode == "RGBA":
        Image.fromarray(np.dstack([base] * 3 + [np.full_like(base, 200)]), "RGBA").save(path)
    elif mode == "I16":
        cv2.imwrite(str(path), base.astype(np.uint16) * 16)
    else:
        raise AssertionError(mode)


def make_kaggle(root: Path, counts: dict[str, tuple[int, int]], nested: bool = False) -> Path:
    """Build chest_xray/{split}/{NORMAL,PNEUMONIA}; returns the folder that holds chest_xray."""
    base = root / "chest_xray" / "chest_xray" if nested else root / "chest_xray"
    k = 0
    for split, (n_norm, n_pneu) in counts.items():
        for cname, n in (("NORMAL", n_norm), ("PNEUMONIA", n_pneu)):
            folder = base / split / cname
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                mode = MODES[k % len(MODES)]
                ext = ".jpeg" if mode == "L" and k % 2 else ".png"
                _write_image(folder / f"{cname}-{split}-{i}{ext}", mode, 17 + k % 5, 23 + 3 * (k % 7), 40)
                k += 1
            (folder / ".DS_Store").write_bytes(b"\x00\x01junk")
    return root


KAGGLE_COUNTS = {"train": (10, 20), "val": (1, 1), "test": (4, 5)}


@pytest.fixture(scope="module")
def kaggle_root(tmp_path_factory):
    return make_kaggle(tmp_path_factory.mktemp("kaggle"), KAGGLE_COUNTS)


def test_kaggle_reads_all_modes(kaggle_root):
    splits = load_splits("kaggle_pneumonia", 16, data_path=kaggle_root)
    total = sum(a + b for a, b in KAGGLE_COUNTS.values())
    assert sum(len(ds) for ds in splits.values()) == total
    assert len(splits["test"]) == 9 and splits["test"].class_counts() == {"NORMAL": 4, "PNEUMONIA": 5}
    for ds in splits.values():
        assert ds.images.shape == (len(ds), 16, 16) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int64 and len(ds.paths) == len(ds)
        assert not any(p.endswith(".DS_Store") for p in ds.paths)
        for p, (h, w), label in zip(ds.paths, ds.original_sizes, ds.labels, strict=True):
            with Image.open(p) as im:
                assert (h, w) == (im.height, im.width)
            assert ("PNEUMONIA" in Path(p).parent.name) == bool(label)
        # every mode becomes the same two-level gray picture: top half bright, bottom half dark
        assert (ds.images[:, 0, :].astype(int) > ds.images[:, -1, :].astype(int)).all()
    sizes = np.concatenate([ds.original_sizes for ds in splits.values()])
    assert len({tuple(s) for s in sizes}) > 5


def test_kaggle_val_carved_stratified_seeded(kaggle_root):
    a = load_splits("kaggle_pneumonia", 8, data_path=kaggle_root, seed=1)
    b = load_splits("kaggle_pneumonia", 8, data_path=kaggle_root, seed=1)
    c = load_splits("kaggle_pneumonia", 8, data_path=kaggle_root, seed=2)
    assert a["val"].paths == b["val"].paths and a["val"].paths != c["val"].paths
    pool = 32  # 30 train + 2 original val images
    assert len(a["val"]) == 4 and len(a["train"]) == pool - 4  # ceil(0.1 * 32)
    assert a["val"].class_counts() == {"NORMAL": 1, "PNEUMONIA": 3}  # 11 : 21 kept
    assert not set(a["val"].paths) & set(a["train"].paths)
    originals = {p for p in a["train"].paths + a["val"].paths if "-val-" in p}
    assert len(originals) == 2  # the tiny original val was merged in
    assert "carved" in a["val"].source and "only 2 images" in a["val"].source
    kept = load_splits("kaggle_pneumonia", 8, data_path=kaggle_root, min_val=2)
    assert len(kept["val"]) == 2 and len(kept["train"]) == 30 and "carved" not in kept["val"].source


def test_kaggle_no_val_folder_and_nested(tmp_path):
    root = make_kaggle(tmp_path / "outer", {"train": (5, 5), "test": (2, 2)}, nested=True)
    for dp in (root, root / "chest_xray", root / "chest_xray" / "chest_xray"):
        splits = load_splits("kaggle_pneumonia", 8, data_path=dp, val_fraction=0.2)
        assert [len(splits[s]) for s in ("train", "val", "test")] == [8, 2, 4]
        assert "no val folder" in splits["val"].source
        assert splits["val"].class_counts() == {"NORMAL": 1, "PNEUMONIA": 1}
    assert len(load_splits("kaggle_pneumonia", 8, data_path=root, val_fraction=0.2, min_val=0)["val"]) == 2


def test_kaggle_corrupt_image(tmp_path):
    root = make_kaggle(tmp_path, {"train": (3, 3), "test": (2, 2)})
    bad = root / "chest_xray" / "test" / "NORMAL" / "broken.jpeg"
    bad.write_bytes(b"this is not a jpeg at all")
    with pytest.raises(DataError, match="broken.jpeg"):
        load_splits("kaggle_pneumonia", 8, data_path=root, val_fraction=0.34)


def test_kaggle_layout_errors(tmp_path):
    root = make_kaggle(tmp_path / "a", {"train": (3, 3), "test": (2, 2)})
    shutil.rmtree(root / "chest_xray" / "test" / "PNEUMONIA")
    with pytest.raises(DataError, match=r"test[/\\]PNEUMONIA"):
        load_splits("kaggle_pneumonia", 8, data_path=root)

    root = make_kaggle(tmp_path / "b", {"train": (3, 3), "test": (0, 0)})
    with pytest.raises(DataError, match=r"test.*no images"):
        load_splits("kaggle_pneumonia", 8, data_path=root)

    root = make_kaggle(tmp_path / "c", {"train": (3, 3)})
    with pytest.raises(DataError, match=r"missing split folder .*test"):
        load_splits("kaggle_pneumonia", 8, data_path=root)

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*chest_xray"):
        load_splits("kaggle_pneumonia", 8, data_path=tmp_path / "empty")
    with pytest.raises(DataError, match="download=True"):
        load_splits("kaggle_pneumonia", 8)


def test_kaggle_download_patched(tmp_path, monkeypatch):
    import kagglehub

    root = make_kaggle(tmp_path / "dl", {"train": (4, 6), "test": (1, 1)}, nested=True)
    seen = []

    def fake_download(handle, *args, **kwargs):
        seen.append(handle)
        return str(root)

    monkeypatch.setattr(kagglehub, "dataset_download", fake_download)
    splits = load_splits("kaggle_pneumonia", 8, download=True)
    assert seen == ["paultimothymooney/chest-xray-pneumonia"]
    assert sum(len(s) for s in splits.values()) == 12


# ------------------------------------------------------------------------------------------------
# NIH
# ------------------------------------------------------------------------------------------------

NIH_ROWS = [  # (image, labels, patient)
    ("00000001_000.png", "Cardiomegaly", 1),
    ("00000001_001.png", "Cardiomegaly|Emphysema", 1),
    ("00000002_000.png", "No Finding", 2),
    ("00000003_000.png", "Hernia", 3),
    ("00000003_001.png", "Hernia|Infiltration", 3),
    ("00000004_000.png", "Mass|Nodule", 4),
    ("00000005_000.png", "No Finding", 5),
    ("00000005_001.png", "Effusion|Pleural_Thickening", 5),
    ("00000006_000.png", "Pneumothorax", 6),
    ("00000007_000.png", "No Finding", 7),
    ("00000008_000.png", "Atelectasis", 8),
    ("00000009_000.png", "Edema", 9),
    ("00000010_000.png", "Fibrosis|Consolidation", 10),
    ("00000010_001.png", "Pneumonia", 10),
    ("00000011_000.png", "No Finding", 11),  # listed, but no image file
    ("00000012_000.png", "Mass", 12),  # listed, but no image file
]
NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")


def make_nih(root: Path, lists: bool = False, header: str = NIH_HEADER) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [header]
    for k, (name, labels, pid) in enumerate(NIH_ROWS):
        lines.append(f"{name},{labels},0,{pid},50,M,PA,2500,2048,0.168,0.168\n")
        if pid >= 11:
            continue
        folder = root / ("images_001" if k < 7 else "images_002") / "images"
        folder.mkdir(parents=True, exist_ok=True)
        img = np.full((20 + k, 24), 10 * k, np.uint8)
        Image.fromarray(img, "L").save(folder / name)
    (root / "Data_Entry_2017.csv").write_text("".join(lines))
    if lists:
        test = [r[0] for r in NIH_ROWS if r[2] in (3, 10, 12)]
        (root / "test_list.txt").write_text("\n".join(test) + "\n")
        (root / "train_val_list.txt").write_text("\n".join(r[0] for r in NIH_ROWS if r[0] not in test) + "\n")
    return root


def _patients(splits) -> dict[str, set[int]]:
    return {s: {int(Path(p).name[:8]) for p in ds.paths} for s, ds in splits.items()}


def test_nih_labels_and_patient_split(tmp_path):
    root = make_nih(tmp_path / "nih")
    splits = load_splits("nih", 16, data_path=root, seed=0, val_fraction=0.2, test_fraction=0.2)
    assert sum(len(ds) for ds in splits.values()) == 14  # 16 rows, 2 without an image
    pats = _patients(splits)
    assert not pats["train"] & pats["val"] and not pats["train"] & pats["test"] and not pats["val"] & pats["test"]
    for ds in splits.values():
        assert ds.multi_label and ds.labels.dtype == np.uint8 and ds.labels.shape == (len(ds), 14)
        assert isinstance(ds.images, LazyImages) and ds.images.shape == (len(ds), 16, 16)
        assert ds.patient_ids.tolist() == [Path(p).name[:8] for p in ds.paths]
        assert "14 of 16 CSV rows have an image file (2 without" in ds.source
    expected = {name: labels for name, labels, _ in NIH_ROWS}
    for ds in splits.values():
        for p, y in zip(ds.paths, ds.labels, strict=True):
            text = expected[Path(p).name]
            want = set() if text == "No Finding" else set(text.split("|"))
            assert {ds.class_names[j] for j in np.flatnonzero(y)} == want
            if text == "No Finding":
                assert y.sum() == 0
    again = load_splits("nih", 16, data_path=root, seed=0, val_fraction=0.2, test_fraction=0.2)
    assert again["val"].paths == splits["val"].paths


def test_nih_official_lists(tmp_path):
    root = make_nih(tmp_path / "nih", lists=True)
    splits = load_splits("nih", 8, data_path=root, val_fraction=0.2)
    assert {Path(p).name for p in splits["test"].paths} == {
        "00000003_000.png", "00000003_001.png", "00000010_000.png", "00000010_001.png"}
    pats = _patients(splits)
    assert pats["test"] == {3, 10}
    assert not pats["train"] & pats["val"] and len(pats["val"]) == 2  # ceil(0.2 * 8 patients)
    assert "test_list.txt" in splits["test"].source
    sub = load_splits("nih", 8, data_path=root, labels=["Hernia", "Effusion"])["test"]
    assert sub.class_names == ("Hernia", "Effusion") and sub.labels.shape == (4, 2)
    assert sub.labels[:, 0].tolist() == [1, 1, 0, 0]


def test_nih_missing_columns_and_files(tmp_path):
    root = make_nih(tmp_path / "nih", header=NIH_HEADER.replace("Patient ID", "Patient"))
    with pytest.raises(DataError, match=r"Data_Entry_2017\.csv.*'Patient ID'"):
        load_splits("nih", 8, data_path=root)
    with pytest.raises(DataError, match=r"Data_Entry_2017\.csv"):
        load_splits("nih", 8, data_path=tmp_path)


def test_lazy_images_indexing(tmp_path):
    root = make_nih(tmp_path / "nih")
    paths = sorted(str(p) for p in root.glob("images_*/images/*.png"))
    lazy = LazyImages(paths, 12)
    assert len(lazy) == 14 and lazy.shape == (14, 12, 12) and lazy.dtype == np.uint8
    first = read_image(paths[0], 12)[0]
    np.testing.assert_array_equal(lazy[0], first)
    np.testing.assert_array_equal(lazy[-1], read_image(paths[-1], 12)[0])
    assert lazy[2:5].shape == (3, 12, 12) and lazy[np.array([0, 3])].shape == (2, 12, 12)
    mask = np.zeros(14, bool)
    mask[[1, 2]] = True
    np.testing.assert_array_equal(lazy[mask], lazy[[1, 2]])
    arr = np.asarray(lazy)
    assert arr.shape == (14, 12, 12) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr[0], first)
    assert len(lazy.take([4, 5])) == 2 and lazy.take([4, 5]).paths == (paths[4], paths[5])
    with pytest.raises(IndexError):
        lazy[14]
    ds = load_splits("nih", 12, data_path=root)["train"]
    sub = ds.subset([0, 1])
    assert isinstance(sub.images, LazyImages) and len(sub) == 2 and sub.paths == ds.paths[:2]


# ------------------------------------------------------------------------------------------------
# duplicates and scaling
# ------------------------------------------------------------------------------------------------


def _ds(split, images):
    return Dataset("t", split, images, np.zeros(len(images), np.int64), ("A", "B"), "test", False, 4)


def test_find_duplicates_within_and_across():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (6, 4, 4), dtype=np.uint8)
    test = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    train[3] = train[0]  # within train
    test[1] = train[5]  # across splits
    frame = find_duplicates({"train": _ds("train", train), "test": _ds("test", test)})
    assert list(frame.columns) == ["hash", "n", "splits", "indices", "cross_split"]
    assert len(frame) == 2
    cross = frame[frame.cross_split].iloc[0]
    assert cross.n == 2 and cross.indices == {"train": [5], "test": [1]}
    assert set(cross.splits) == {"train", "test"}
    within = frame[~frame.cross_split].iloc[0]
    assert within.indices == {"train": [0, 3]} and within.splits == ("train",)
    clean = find_duplicates({"test": _ds("test", test)})
    assert len(clean) == 0 and "cross_split" in clean.columns


# ------------------------------------------------------------------------------------------------
# inputs checked before any work
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "shown"),
    [
        (np.random.default_rng(0).random((12, 28, 28)), r"float64 values in \[0"),  # [0, 1] would become zeros
        (np.full((12, 28, 28), 300, np.int32), r"int32 values in \[300, 300\]"),  # would wrap to 44
    ],
)
def test_npz_images_must_be_uint8(tmp_path, images, shown):
    f = make_npz(tmp_path / "scaled.npz", train_images=images)
    with pytest.raises(DataError, match=rf"scaled\.npz: 'train_images' holds {shown}.*uint8 in 0-255") as err:
        load_splits("pneumoniamnist", 28, data_path=f)
    assert "Re-save" in str(err.value)


def test_npz_binary_labels_must_be_0_or_1(tmp_path):
    y = np.zeros((4, 1), np.int64)
    y[1], y[2], y[3] = 1, 3, -1
    f = make_npz(tmp_path / "five.npz", val_labels=y)
    with pytest.raises(DataError, match=r"five\.npz: 'val_labels' holds the values \[-1, 3\] \(first in row 2, "
                                        r"2 rows.*0 \(NORMAL\) or 1 \(PNEUMONIA\)"):
        load_splits("pneumoniamnist", 28, data_path=f)


def test_npz_multilabel_labels_must_be_0_or_1(tmp_path):
    y = np.random.default_rng(1).integers(0, 2, (6, 14)).astype(np.uint8)
    y[4, 7] = 2
    f = make_npz(tmp_path / "chest.npz", n_cols=14, test_labels=y)
    with pytest.raises(DataError, match=r"chest\.npz: 'test_labels' holds the values \[2\] \(first in row 4.*"
                                        r"0 or 1 in each of the 14 finding columns"):
        load_splits("chestmnist", 28, data_path=f)


def test_npz_object_array_names_the_file(tmp_path):
    labels = np.empty((12, 1), dtype=object)
    labels[:] = 1
    labels[0] = 0
    f = make_npz(tmp_path / "pickled.npz", train_labels=labels)
    with pytest.raises(DataError, match=r"pickled\.npz: 'train_labels' is an object array.*allow_pickle"):
        load_splits("pneumoniamnist", 28, data_path=f)


def test_npz_every_split_holds_every_class(tmp_path):
    f = make_npz(tmp_path / "onesided.npz", val_labels=np.ones((4, 1), np.uint8))
    with pytest.raises(DataError, match=r"onesided\.npz: split 'val' \('val_labels'\) holds no NORMAL \(class 0\)"):
        load_splits("pneumoniamnist", 28, data_path=f)


def test_phantom_split_without_a_class_is_refused():
    # round(1 * normal_fraction) = 0 NORMAL images in val
    with pytest.raises(DataError, match=r"phantom split 'val' .* holds no NORMAL \(class 0\)"):
        load_splits("phantom", 16, n_train=20, n_val=1, n_test=8)


@pytest.mark.parametrize(("split", "cname"), [("train", "NORMAL"), ("test", "PNEUMONIA")])
def test_kaggle_empty_class_folder(tmp_path, split, cname):
    root = make_kaggle(tmp_path, {"train": (6, 6), "test": (2, 2)})
    for f in (root / "chest_xray" / split / cname).iterdir():
        f.unlink()
    with pytest.raises(DataError, match=rf"class folder \S*{split}[/\\]{cname} holds no images.*the {split} split "
                                        r"needs images of every class"):
        load_splits("kaggle_pneumonia", 8, data_path=root)


def test_kaggle_val_folder_class_empty(tmp_path):
    root = make_kaggle(tmp_path, {"train": (6, 6), "val": (0, 3), "test": (2, 2)})
    with pytest.raises(DataError, match=r"class folder \S*val[/\\]NORMAL holds no images"):
        load_splits("kaggle_pneumonia", 8, data_path=root, min_val=3)  # kept as the val split
    # too small, so merged into train and val carved afresh: both classes in every split
    splits = load_splits("kaggle_pneumonia", 8, data_path=root, val_fraction=0.2)
    assert all(min(ds.class_counts().values()) > 0 for ds in splits.values())


def test_kaggle_carving_needs_two_units_per_class(tmp_path):
    root = make_kaggle(tmp_path, {"train": (1, 6), "test": (2, 2)})
    with pytest.raises(DataError, match=r"train: cannot carve a val split in which train and val both hold "
                                        r"NORMAL: it has only 1 image"):
        load_splits("kaggle_pneumonia", 8, data_path=root)


NIH_BAD_ROWS = [
    ("Finding Labels", "", r"line 4 \(image '00000002_000.png'\): the 'Finding Labels' cell is empty"),
    ("Patient ID", "P7", r"line 4 \(image '00000002_000.png'\): 'Patient ID' is 'P7', not a whole number"),
    ("Patient ID", "", r"line 4 \(image '00000002_000.png'\): 'Patient ID' is empty"),
]


@pytest.mark.parametrize(("column", "value", "message"), NIH_BAD_ROWS)
def test_nih_bad_cells_name_the_line(tmp_path, column, value, message):
    root = make_nih(tmp_path / "nih")
    csv = root / "Data_Entry_2017.csv"
    lines = csv.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")  # line 4: 00000002_000.png
    cells[{"Finding Labels": 1, "Patient ID": 3}[column]] = value
    lines[3] = ",".join(cells)
    csv.write_text("".join(lines))
    with pytest.raises(DataError, match=r"Data_Entry_2017\.csv, " + message):
        load_splits("nih", 8, data_path=root)


def test_nih_blank_lines_keep_line_numbers(tmp_path):
    root = make_nih(tmp_path / "nih")
    csv = root / "Data_Entry_2017.csv"
    lines = csv.read_text().splitlines(keepends=True)
    with_blank = lines[:2] + ["\n"] + lines[2:]
    csv.write_text("".join(with_blank))
    assert sum(len(ds) for ds in load_splits("nih", 8, data_path=root).values()) == 14  # blank line skipped
    with_blank[7] = with_blank[7].replace("Mass|Nodule", "")  # 00000004_000.png on line 8
    csv.write_text("".join(with_blank))
    with pytest.raises(DataError, match=r"line 8 \(image '00000004_000.png'\): the 'Finding Labels' cell"):
        load_splits("nih", 8, data_path=root)


# ------------------------------------------------------------------------------------------------
# patients
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "patient"),
    [
        ("person1_bacteria_1.jpeg", "person1"),
        ("person1_virus_6.jpeg", "person1"),
        ("person1946_bacteria_4874.jpeg", "person1946"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0539-0001-0001.jpeg", "IM-0539"),
        ("NORMAL2-IM-0381-0001.jpeg", "NORMAL2-IM-0381"),
        ("00000001_000.png", "00000001"),
        ("/some/folder/00030805_000.png", "00030805"),
        ("NORMAL-train-0.png", None),
        ("scan.jpeg", None),
        ("IM-0115.jpeg", None),
    ],
)
def test_patient_id_from_filename(name, patient):
    assert D.patient_id_from_filename(name) == patient


# (class folder, file names): NORMAL patients IM-0001..0012 (some with 2-3 images), PNEUMONIA person1..20
KERMANY_NAMES = {
    "NORMAL": [f"IM-{p:04d}-{k + 1:04d}.jpeg" for p in range(1, 9) for k in range(1 + p % 3)]
    + [f"NORMAL2-IM-{p:04d}-0001.jpeg" for p in range(1, 5)],
    "PNEUMONIA": [f"person{p}_{'virus' if k % 2 else 'bacteria'}_{10 * p + k}.jpeg"
                  for p in range(1, 21) for k in range(1 + p % 3)],
}


def make_kermany(root: Path, test_patients: tuple[str, ...] = ()) -> Path:
    """Kaggle layout with Kermany names in train; test holds two new patients per class plus ``test_patients``."""
    base = root / "chest_xray"
    for cname, names in KERMANY_NAMES.items():
        for name in names:
            _write_image(base / "train" / cname / name, "L", 12, 14, 60)
    test = {"NORMAL": ["IM-0901-0001.jpeg", "IM-0902-0001.jpeg"],
            "PNEUMONIA": ["person901_virus_1.jpeg", "person902_bacteria_2.jpeg"]}
    for name in test_patients:
        test["PNEUMONIA" if name.startswith("person") else "NORMAL"].append(name)
    for cname, names in test.items():
        for name in names:
            _write_image(base / "test" / cname / name, "L", 12, 14, 60)
    return root


def test_kaggle_val_carved_patient_wise(tmp_path):
    root = make_kermany(tmp_path)
    n_pool = sum(len(v) for v in KERMANY_NAMES.values())
    a = load_splits("kaggle_pneumonia", 8, data_path=root, seed=1, val_fraction=0.2)
    b = load_splits("kaggle_pneumonia", 8, data_path=root, seed=1, val_fraction=0.2)
    c = load_splits("kaggle_pneumonia", 8, data_path=root, seed=5, val_fraction=0.2)
    assert a["val"].paths == b["val"].paths and a["val"].paths != c["val"].paths
    assert len(a["train"]) + len(a["val"]) == n_pool
    for ds in a.values():
        assert ds.patient_ids.tolist() == [D.patient_id_from_filename(p) for p in ds.paths]
        assert min(ds.class_counts().values()) > 0
    assert not set(a["train"].patient_ids) & set(a["val"].patient_ids)
    # stratified: about val_fraction of each class's images, whole patients only
    for cname, names in KERMANY_NAMES.items():
        assert abs(a["val"].class_counts()[cname] - 0.2 * len(names)) <= 2
    assert "patient-wise" in a["val"].source and "patient ids from the file names" in a["val"].source
    assert "image-wise" not in a["val"].source
    sub = a["train"].subset([0, 2])
    assert sub.patient_ids.tolist() == [a["train"].patient_ids[0], a["train"].patient_ids[2]]
    assert D.patient_overlap(a)["shared_patients"].tolist() == [0, 0, 0]


def test_kaggle_val_grouping_image_lets_patients_straddle_train_and_val(tmp_path):
    root = make_kermany(tmp_path)
    by_patient = load_splits("kaggle_pneumonia", 8, data_path=root, seed=1, val_fraction=0.3)
    by_image = load_splits("kaggle_pneumonia", 8, data_path=root, seed=1, val_fraction=0.3, val_grouping="image")
    assert "image-wise" in by_image["val"].source and "val_grouping='image'" in by_image["val"].source
    assert by_image["val"].patient_ids is not None  # ids still parsed, so the overlap can be counted
    assert len(by_image["train"]) + len(by_image["val"]) == len(by_patient["train"]) + len(by_patient["val"])
    shared = D.patient_overlap({"train": by_image["train"], "val": by_image["val"]})["shared_patients"]
    assert shared.tolist()[0] > 0
    assert D.patient_overlap({"train": by_patient["train"], "val": by_patient["val"]})["shared_patients"].tolist() == [0]
    with pytest.raises(D.DataError, match="val_grouping must be 'patient' or 'image'"):
        load_splits("kaggle_pneumonia", 8, data_path=root, val_grouping="study")


def test_kaggle_without_patient_names_is_image_wise(kaggle_root):
    splits = load_splits("kaggle_pneumonia", 8, data_path=kaggle_root, seed=1)
    assert all(ds.patient_ids is None for ds in splits.values())
    assert "image-wise" in splits["val"].source and "no patient id, e.g. NORMAL-" in splits["val"].source
    assert len(D.patient_overlap(splits)) == 0


def test_patient_overlap_reports_shared_patients(tmp_path):
    root = make_kermany(tmp_path, test_patients=("person3_virus_999.jpeg", "IM-0002-0009.jpeg"))
    splits = load_splits("kaggle_pneumonia", 8, data_path=root, seed=0, val_fraction=0.2)
    frame = D.patient_overlap(splits)
    assert list(frame.columns) == ["splits", "shared_patients", "examples"]
    assert frame["splits"].tolist() == [("train", "val"), ("train", "test"), ("val", "test")]
    assert frame["shared_patients"].iloc[0] == 0  # the carved val never shares a patient with train
    shared = {p for ex in frame["examples"].iloc[1:] for p in ex}
    assert shared == {"person3", "IM-0002"} and frame["shared_patients"].iloc[1:].sum() == 2
    assert len(D.patient_overlap(splits, max_examples=0)["examples"].iloc[1]) == 0


def test_patient_ids_field():
    images = np.zeros((3, 4, 4), np.uint8)
    ds = Dataset("t", "train", images, np.array([0, 1, 1]), ("A", "B"), "s", False, 4,
                 patient_ids=np.array([7, 7, 8]))
    assert ds.patient_ids.tolist() == ["7", "7", "8"] and ds.subset([2]).patient_ids.tolist() == ["8"]
    with pytest.raises(DataError, match="2 patient_ids but 3 labels"):
        Dataset("t", "train", images, np.array([0, 1, 1]), ("A", "B"), "s", False, 4, patient_ids=["a", "b"])
    assert load_splits("phantom", 16, n_train=20, n_val=8, n_test=8)["train"].patient_ids is None
