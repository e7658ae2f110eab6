"""NIH ChestX-ray14: ``Data_Entry_2017.csv`` + PNG folders, 14 multi-hot labels, patient-wise splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers.data.dataset import NIH_LABELS, DataError, Dataset, LazyImages, label_columns
from helpers.data.splits import group_split

if TYPE_CHECKING:
    import pandas as pd


NIH_REQUIRED_COLUMNS: tuple[str, ...] = ("Image Index", "Finding Labels", "Patient ID")


def _nih_image_index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for pattern in ("images_*/images/*.png", "images_*/*.png", "images/*.png"):
        for f in sorted(root.glob(pattern)):
            index.setdefault(f.name, f)
    return index


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}




def _check_nih_table(table: pd.DataFrame, csv: Path) -> pd.DataFrame:
    """Drop blank lines; raise naming the line for an empty image name or findings cell or a bad patient id."""
    import pandas as pd

    table = table.loc[~table.isna().all(axis=1)]

    def fail(i: int, problem: str, fix: str) -> None:
        name = table.at[i, "Image Index"]
        image = f" (image {name!r})" if isinstance(name, str) and name.strip() else ""
        raise DataError(f"{csv}, line {i + 2}{image}: {problem}. {fix}, or use the original Data_Entry_2017.csv")

    names = table["Image Index"].astype("string").str.strip()
    for i in table.index[names.isna() | (names == "")][:1]:
        fail(i, "the 'Image Index' cell is empty", "Write the image file name there")
    findings = table["Finding Labels"].astype("string").str.strip()
    for i in table.index[findings.isna() | (findings == "")][:1]:
        fail(i, "the 'Finding Labels' cell is empty", "Write the findings separated by '|', or 'No Finding'")
    pid = table["Patient ID"].astype("string").str.strip()
    for i in table.index[~pid.fillna("").str.fullmatch(r"\d+")][:1]:
        value = table.at[i, "Patient ID"]
        fail(i, f"'Patient ID' is {'empty' if pd.isna(value) else repr(value)}, not a whole number",
             "Write the patient's number there (the first 8 digits of the image name)")
    return table.reset_index(drop=True)


def load_nih(
    image_size: int, *, data_path: Any = None, download: bool = False, seed: int = 0,
    val_fraction: float = 0.1, test_fraction: float = 0.2, labels: Sequence[str] | None = None,
    use_official_lists: bool = True,
) -> dict[str, Dataset]:
    """NIH ChestX-ray14; patient-wise splits, images streamed from disk (:class:`LazyImages`)."""
    import pandas as pd

    if data_path is None:
        raise DataError("nih needs data_path=<folder with Data_Entry_2017.csv and images_*/images/*.png>; "
                        "it cannot be downloaded automatically (get it from the NIH Box site or Kaggle)")
    root = Path(data_path).expanduser()
    csv = root / "Data_Entry_2017.csv"
    if not csv.is_file():
        raise DataError(f"{csv} not found: data_path must hold Data_Entry_2017.csv and images_*/images/*.png")
    try:  # blank lines kept, so that row i is line i + 2 of the file
        table = pd.read_csv(csv, skip_blank_lines=False, dtype={"Patient ID": str, "Finding Labels": str})
    except Exception as exc:
        raise DataError(f"{csv} is not a readable CSV file ({type(exc).__name__}: {exc}); "
                        "use the original Data_Entry_2017.csv") from exc
    missing = [c for c in NIH_REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{csv} lacks the columns {missing} (it has {list(table.columns)}); "
                        "use the original Data_Entry_2017.csv")
    table = _check_nih_table(table, csv)
    index = _nih_image_index(root)
    n_rows = len(table)
    present = table["Image Index"].map(lambda n: n in index).to_numpy(bool)
    table = table.loc[present].reset_index(drop=True)
    if not len(table):
        raise DataError(f"none of the {n_rows} images listed in {csv} is under {root}/images_*/images/")
    col = {c: i for i, c in enumerate(NIH_LABELS)}
    y = np.zeros((len(table), len(NIH_LABELS)), dtype=np.uint8)
    for r, text in enumerate(table["Finding Labels"].astype(str)):
        for lab in text.split("|"):
            lab = lab.strip()
            if lab in ("No Finding", ""):
                continue
            if lab not in col:
                raise DataError(f"{csv}: row {table['Image Index'][r]!r} has the unknown finding {lab!r}; "
                                f"known findings are {NIH_LABELS} and 'No Finding'")
            y[r, col[lab]] = 1
    names = NIH_LABELS
    if labels is not None:
        idx = label_columns(labels, NIH_LABELS, "nih")
        y, names = y[:, idx], tuple(NIH_LABELS[i] for i in idx)
    patients = table["Patient ID"].astype(np.int64).to_numpy()
    files = table["Image Index"].to_numpy(str)
    test_list, tv_list = root / "test_list.txt", root / "train_val_list.txt"
    if use_official_lists and test_list.is_file():
        in_test = np.isin(files, list(_read_list(test_list)))
        if tv_list.is_file():
            in_tv = np.isin(files, list(_read_list(tv_list))) & ~in_test
        else:
            in_tv = ~in_test
        # never let a patient straddle test and train/val, even if the lists disagreed
        leaked = np.isin(patients, patients[in_test]) & in_tv
        in_tv &= ~leaked
        test_idx, tv_idx = np.flatnonzero(in_test), np.flatnonzero(in_tv)
        how = (f"test = {test_list.name}; train/val = "
               f"{tv_list.name if tv_list.is_file() else 'the rest'} split patient-wise")
        if leaked.any():
            how += f" ({int(leaked.sum())} train/val images of test patients dropped)"
    else:
        tv_idx, test_idx = group_split(patients, test_fraction, seed, str(csv))
        how = f"patient-wise split (test_fraction={test_fraction:g})"
    if not len(test_idx) or not len(tv_idx):
        raise DataError(f"{csv}: the split left {len(tv_idx)} train/val and {len(test_idx)} test images")
    tr, va = group_split(patients[tv_idx], val_fraction, seed, str(csv))
    parts = {"train": tv_idx[tr], "val": tv_idx[va], "test": test_idx}
    source = (f"{csv}: {len(table)} of {n_rows} CSV rows have an image file ({n_rows - len(table)} without, "
              f"skipped); {how}, val_fraction={val_fraction:g}, seed={seed}")
    out = {}
    for split, rows in parts.items():
        paths = tuple(str(index[f]) for f in files[rows])
        out[split] = Dataset(
            name="nih", split=split, images=LazyImages(paths, image_size), labels=y[rows], class_names=names,
            source=source, multi_label=True, image_size=image_size, paths=paths,
            patient_ids=np.asarray([f"{p:08d}" for p in patients[rows]], dtype=str),
        )
    return out

