"""The 64-px Kaggle (Kermany) path of the `kermany64` profile at `ci` size: chapters 1-3 on a small folder in
the Kaggle layout, with the ablation switched off from the runner (`-p gan_ablation ""`), as `kermany64` has it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import series

pytestmark = pytest.mark.notebook


def _kaggle_folder(root: Path) -> Path:
    """Kermany-named JPEGs: 50 NORMAL and 110 PNEUMONIA patients with 2 films each in train, 40 + 40 in test."""
    import cv2

    rng = np.random.default_rng(0)
    names = {("train", "NORMAL"): [f"IM-{p:04d}-000{k}.jpeg" for p in range(1, 51) for k in (1, 2)],
             ("train", "PNEUMONIA"): [f"person{p}_bacteria_{p * 10 + k}.jpeg" for p in range(1, 111) for k in (1, 2)],
             ("test", "NORMAL"): [f"IM-{p:04d}-0001.jpeg" for p in range(901, 941)],
             ("test", "PNEUMONIA"): [f"person{p}_virus_1.jpeg" for p in range(901, 941)]}
    for (split, cname), files in names.items():
        folder = root / "chest_xray" / split / cname
        folder.mkdir(parents=True)
        for name in files:
            img = rng.integers(0, 80, (90, 110), dtype=np.uint8)
            if cname == "PNEUMONIA":
                img[30:60, 40:70] += 120
            assert cv2.imwrite(str(folder / name), img)
    return root


def test_kaggle_layout_at_64_px_through_chapters_1_to_3_without_ablation(clean_env, tmp_path):
    data = _kaggle_folder(tmp_path / "data")
    run = tmp_path / "run"
    series.run_series("ci", only=["01", "02", "03"], run_dir=run, html=False, log=print,
                      parameters={"dataset": "kaggle_pneumonia", "data_path": str(data), "image_size": 64,
                                  "gan_ablation": ""})
    counts = json.loads((run / "metrics" / "01.json").read_text())["counts"]
    assert counts["test"] == {"NORMAL": 40, "PNEUMONIA": 40}  # the official test folder, untouched
    assert counts["train"]["NORMAL"] + counts["val"]["NORMAL"] == 100 and counts["val"]["NORMAL"] > 0
    plan = json.loads((run / "gan" / "plan.json").read_text())
    assert plan["ablation"] == []  # the runner's override reached chapter 2
    fidelity = pd.read_csv(run / "fidelity.csv")
    assert set(fidelity["image_size"]) == {64} and set(fidelity["role"]) == {"reference", "default"}
    assert {"recall", "coverage", "c2st_auc_pixels"} <= set(fidelity["metric"])
    assert (run / "figures" / "03_fakes_by_seed.png").stat().st_size > 1000
