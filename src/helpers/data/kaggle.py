"""The Kaggle "Chest X-Ray Images (Pneumonia)" folders (Kermany et al. 2018); a too-small val is re-carved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data.dataset import (
    BINARY_CLASS_NAMES,
    IMAGE_EXTENSIONS,
    SPLITS,
    DataError,
    Dataset,
    read_many,
)
from helpers.data.splits import carve_val, missing_classes, patient_id_from_filename

KAGGLE_HANDLE = "paultimothymooney/chest-xray-pneumonia"
KAGGLE_LAYOUT = "chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg"


def _kaggle_root(path: Path) -> Path:
    """Find the folder holding train/ (accepts the parent of chest_xray, chest_xray, or the nested copy)."""
    for cand in (path, path / "chest_xray", path / "chest_xray" / "chest_xray"):
        if (cand / "train").is_dir():
            return cand
    raise DataError(
        f"{path}: no train folder found (looked in {path}, {path / 'chest_xray'} and "
        f"{path / 'chest_xray' / 'chest_xray'}). Expected the Kaggle layout {KAGGLE_LAYOUT}."
    )


def _list_images(folder: Path) -> list[Path]:
    files = []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or f.name.startswith("._"):  # macOS AppleDouble companions
            continue
        if f.suffix.lower() in IMAGE_EXTENSIONS:
            files.append(f)
    return files


def _scan_split(
    root: Path, split: str, class_names: tuple[str, ...], *, require_every_class: bool = True,
) -> tuple[list[Path], list[int]]:
    folder = root / split
    paths: list[Path] = []
    labels: list[int] = []
    for k, cname in enumerate(class_names):
        cdir = folder / cname
        if not cdir.is_dir():
            raise DataError(f"missing class folder {cdir}. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
        files = _list_images(cdir)
        paths += files
        labels += [k] * len(files)
    if not paths:
        raise DataError(f"split folder {folder} holds no images in {', '.join(class_names)}. "
                        f"Expected the Kaggle layout {KAGGLE_LAYOUT}.")
    if require_every_class:
        _check_class_folders(folder, labels, class_names)
    return paths, labels


def _check_class_folders(folder: Path, labels: Sequence[int], class_names: tuple[str, ...]) -> None:
    for k in missing_classes(labels, len(class_names)):
        cdir = folder / class_names[k]
        raise DataError(f"class folder {cdir} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}): the "
                        f"{folder.name} split needs images of every class ({', '.join(class_names)}). Put the "
                        f"images back (re-extract the archive), or use the Kaggle layout {KAGGLE_LAYOUT}.")


def _kaggle_patients(paths: Sequence[Path]) -> tuple[np.ndarray | None, str]:
    """Per-image patient ids parsed from the file names, or (None, why) when any name carries none."""
    ids = [patient_id_from_filename(p) for p in paths]
    unknown = [p for p, i in zip(paths, ids, strict=True) if i is None]
    if unknown:
        return None, (f"{len(unknown)} of {len(paths)} file names carry no patient id, e.g. {unknown[0].name}; "
                      "names like person1_virus_6.jpeg, IM-0115-0001.jpeg or 00000001_000.png do")
    return np.asarray(ids, dtype=str), f"{len(set(ids))} patients"


def load_kaggle(
    image_size: int, *, data_path: Any = None, download: bool = False, seed: int = 0,
    val_fraction: float = 0.1, min_val: int = 100, val_grouping: str = "patient", workers: int | None = None,
) -> dict[str, Dataset]:
    """Kaggle "Chest X-Ray Images (Pneumonia)"; a val split under ``min_val`` images is re-carved from train.

    ``val_grouping="patient"`` carves whole patients (from the file names), stratified and seeded, falling
    back to images when a name carries no patient; ``"image"`` carves single images. ``source`` says which.
    """
    if val_grouping not in ("patient", "image"):
        raise DataError(f"kaggle_pneumonia: val_grouping must be 'patient' or 'image', not {val_grouping!r}")
    if data_path is None:
        if not download:
            raise DataError(
                f"kaggle_pneumonia needs data_path=<folder with {KAGGLE_LAYOUT}> or download=True "
                f"(kagglehub, dataset {KAGGLE_HANDLE}, needs Kaggle credentials)."
            )
        try:
            import kagglehub

            data_path = kagglehub.dataset_download(KAGGLE_HANDLE)
        except Exception as exc:
            raise DataError(
                f"kagglehub could not download {KAGGLE_HANDLE} ({type(exc).__name__}: {exc}). Set up Kaggle "
                "credentials (~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY), or download the archive "
                "by hand and pass data_path=..."
            ) from exc
    data_path = Path(data_path).expanduser()
    if not data_path.is_dir():
        raise DataError(f"data_path {data_path} is not a folder. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
    root = _kaggle_root(data_path)
    classes = BINARY_CLASS_NAMES
    found: dict[str, tuple[list[Path], list[int]]] = {}
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(f"missing split folder {root / split}. Expected the Kaggle layout {KAGGLE_LAYOUT}.")
        found[split] = _scan_split(root, split, classes)
    note = ""
    if (root / "val").is_dir():  # a too-small val is merged into train below, so it may lack a class
        found["val"] = _scan_split(root, "val", classes, require_every_class=False)
    n_val = len(found["val"][0]) if "val" in found else 0
    if "val" in found and n_val >= min_val:
        _check_class_folders(root / "val", found["val"][1], classes)
    else:
        tr_paths, tr_labels = found["train"]
        if "val" in found:
            tr_paths, tr_labels = tr_paths + found["val"][0], tr_labels + found["val"][1]
        y = np.asarray(tr_labels, dtype=np.int64)
        pool_ids, how = _kaggle_patients(tr_paths)
        if val_grouping == "image":
            pool_ids, how = None, "val_grouping='image' asked for single images"
        # at least one image per class in val, as many as val_fraction asks for otherwise
        n_carve = max(int(np.ceil(val_fraction * len(y))), len(classes))
        groups = pool_ids if pool_ids is not None else np.arange(len(y))
        where = f"{root / 'train'}" + (f" + {root / 'val'}" if "val" in found else "")
        tr_idx, va_idx = carve_val(y, groups, n_carve, seed, classes, where)
        found["train"] = ([tr_paths[i] for i in tr_idx], [tr_labels[i] for i in tr_idx])
        found["val"] = ([tr_paths[i] for i in va_idx], [tr_labels[i] for i in va_idx])
        if pool_ids is not None:
            by = (f"patient-wise (val_fraction={val_fraction:g}: {len(set(pool_ids[va_idx].tolist()))} of the "
                  f"{how} named in the file names, each patient on one side; stratified by class, seed={seed})")
        else:
            by = f"image-wise (val_fraction={val_fraction:g}; stratified by class, seed={seed}; {how})"
        why = f"the val folder has only {n_val} images (< min_val={min_val})" if n_val else "there is no val folder"
        merged = f", its {n_val} images merged into train first" if n_val else ""
        note = f"; val carved from train {by} because {why}{merged}"
    patients = {split: _kaggle_patients(found[split][0])[0] for split in SPLITS}
    if all(ids is not None for ids in patients.values()):
        ids_note = "; patient ids from the file names"
    else:
        patients = dict.fromkeys(SPLITS)
        ids_note = "; no patient ids (some file names carry none)"
    out = {}
    for split in SPLITS:
        paths, labels = found[split]
        images, sizes = read_many(paths, image_size, workers)
        out[split] = Dataset(
            name="kaggle_pneumonia", split=split, images=images, labels=np.asarray(labels, dtype=np.int64),
            class_names=classes, source=f"{root} (Kaggle chest_xray layout{ids_note}{note})", multi_label=False,
            image_size=image_size, paths=tuple(str(p) for p in paths), original_sizes=sizes,
            patient_ids=patients[split],
        )
    return out


