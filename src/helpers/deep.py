"""Notebook 05's grid: CNN / DenseNet121 x oversampling strategy x seed on pixels.

:func:`run_deep_grid` trains every (model, strategy, seed), scores val and test, saves the scores
(``experiments.scores_path``: ``<results folder>/scores/nb05_<dataset>_<size>px_<model>_<strategy>_seed<seed>.npz``
with ``y_test``/``score_test``/``y_val``/``score_val`` and the aliases ``y_true``/``y_score`` for
test) and appends one row per run to the shared results table. Runs already in the table are
skipped, and a run interrupted mid-training resumes at its next epoch
(:func:`helpers.classifiers.fit_classifier`). Run folders::

    run_dir/deep/<model>_<strategy>_seed<seed>/             one run (history.csv, best.weights.h5, ...)
    run_dir/deep/<model>_gan_weighted_w<w>_seed<seed>/      gan_weighted runs, one per weight tried
    run_dir/deep/<model>_gan_weighted_selection.json        val AUC per synthetic weight, the choice

Synthetic images only ever enter the training set (``oversample.prepare_training_set`` sees train
only); the grid also checks that no fake is byte-identical to a val or test image.

:func:`load_histories` stacks every run's per-epoch history (notebook 06's accuracy curves).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import artifacts, metrics, oversample
from helpers.images import image_hashes

__all__ = [
    "NOTEBOOK",
    "DEEP_MODELS",
    "DEEP_STRATEGIES",
    "run_deep_grid",
    "load_histories",
    "run_folder_name",
]

NOTEBOOK = "05"
DEEP_MODELS: tuple[str, ...] = ("cnn", "densenet121")
DEEP_STRATEGIES: tuple[str, ...] = (
    "none", "class_weight", "random", "classical_aug", "gan", "gan_filtered", "gan_weighted", "gan_aug",
)
_RESERVED = ("notebook", "classifier", "strategy", "seed", "features", "model_weights", "input_size",
             *metrics.METRIC_COLUMNS, "n_train", "n_synthetic", "synthetic_weight",
             "synthetic_keep_fraction", "weight_selection", "epochs_run", "best_epoch", "best_val_auc",
             "fit_seconds", "seconds_per_epoch", "run_folder")


# --------------------------------------------------------------------------------------------------
# Bookkeeping
# --------------------------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """Normalise a key cell: ``5``, ``5.0`` and ``"05"`` all read ``"5"``; other text as is."""
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(float(text)))
    return text


def _key(dataset: Any, image_size: Any, classifier: Any, strategy: Any, seed: Any) -> tuple:
    return (_norm(NOTEBOOK), _norm(dataset), _norm(image_size), _norm(classifier), _norm(strategy),
            _norm(seed))


def _done_keys(results_path: Path) -> set[tuple]:
    cols = ["notebook", "dataset", "image_size", "classifier", "strategy", "seed"]
    if not results_path.exists():
        return set()
    table = pd.read_csv(results_path, dtype=str)
    if table.empty or not set(cols) <= set(table.columns):
        return set()
    return {tuple(_norm(v) for v in vals) for vals in table[cols].itertuples(index=False, name=None)}


def _grid_rows(results_path: Path, keys: set[tuple]) -> pd.DataFrame:
    if not results_path.exists():
        return pd.DataFrame()
    table = pd.read_csv(results_path)
    if table.empty:
        return table
    cols = ["notebook", "dataset", "image_size", "classifier", "strategy", "seed"]
    mask = [tuple(_norm(v) for v in vals) in keys
            for vals in table[cols].astype(str).itertuples(index=False, name=None)]
    return table[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def run_folder_name(model: str, strategy: str, seed: int, synthetic_weight: float | None = None) -> str:
    """``<model>_<strategy>_seed<seed>``; gan_weighted runs add ``_w<weight>``."""
    if strategy == "gan_weighted":
        return f"{model}_{strategy}_w{float(synthetic_weight):g}_seed{int(seed)}"
    return f"{model}_{strategy}_seed{int(seed)}"


def _assert_no_synthetic_in_eval(synthetic: np.ndarray | None, x_val: np.ndarray, x_test: np.ndarray) -> None:
    """Raise AssertionError when any fake is byte-identical to a val or test image."""
    if synthetic is None or len(synthetic) == 0:
        return
    fakes = set(image_hashes(synthetic))
    for split, x in (("val", x_val), ("test", x_test)):
        hits = sum(h in fakes for h in image_hashes(x))
        if hits:
            raise AssertionError(
                f"{hits} synthetic image(s) found in the {split} split: fakes may only enter training"
            )


def _binary_split(splits: Mapping[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in splits:
        raise ValueError(f"splits lacks {name!r} (it has {sorted(splits)})")
    ds = splits[name]
    if getattr(ds, "multi_label", False):
        raise ValueError(f"{name}: the deep grid needs binary labels, got a multi-label data set")
    x = np.asarray(ds.images)
    y = np.asarray(ds.labels).ravel().astype(np.int64)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 images (N, S, S), got {x.dtype} {x.shape}")
    if set(np.unique(y)) - {0, 1}:
        raise ValueError(f"{name}: labels must be 0/1, got {sorted(set(np.unique(y)))}")
    return x, y


# --------------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------------


class _Grid:
    """State shared by the runs of one :func:`run_deep_grid` call."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)
        self.densenet_weights_now = self.densenet_weights
        self.densenet_description: str | None = None

    def build(self, model_name: str) -> tuple[Any, str, int]:
        from helpers import classifiers

        size = int(self.x_train.shape[1])
        if model_name == "cnn":
            return classifiers.build_cnn(size), "from scratch (random init)", size
        model, desc = classifiers.build_densenet121(
            self.densenet_input_size, self.densenet_weights_now, image_size=size
        )
        if self.densenet_weights_now is not None and desc.startswith("from scratch"):
            # the weights failed once: say so in every row, but do not retry the download per run
            self.densenet_weights_now = None
            self.densenet_description = desc
        return model, self.densenet_description or desc, int(self.densenet_input_size)

    def train_set(self, strategy: str, seed: int, synthetic_weight: float) -> oversample.TrainSet:
        kw: dict[str, Any] = {}
        if strategy in oversample.GAN_STRATEGIES:
            kw = dict(synthetic_x=self.synthetic_images, synthetic_class=self.synthetic_class,
                      synthetic_weight=synthetic_weight, synthetic_keep=self.keep_mask)
        ts = oversample.prepare_training_set(strategy, self.x_train, self.y_train, seed=seed, **kw)
        n = len(self.y_train)
        if ts.n_real != n or not np.array_equal(ts.y[:n], self.y_train):
            raise AssertionError(f"{strategy}: the training set no longer starts with the real images")
        return ts

    def fit(self, model_name: str, strategy: str, seed: int, synthetic_weight: float,
            role: str) -> dict[str, Any]:
        """Train (or load) one run; return what the results row needs."""
        import keras

        from helpers import classifiers
        from helpers.runtime import set_seeds

        keras.backend.clear_session()
        set_seeds(seed)
        ts = self.train_set(strategy, seed, synthetic_weight)
        model, description, input_size = self.build(model_name)
        folder_name = run_folder_name(model_name, strategy, seed, synthetic_weight)
        folder = self.deep_dir / folder_name
        info = {"model": model_name, "strategy": strategy, "seed": int(seed),
                "synthetic_weight": float(synthetic_weight) if strategy in oversample.GAN_STRATEGIES else None,
                "role": role, "model_weights": description}
        artifacts.save_json(folder / "run.json", info)
        model, history, fit_seconds = classifiers.fit_classifier(
            model, ts, self.x_val, self.y_val, epochs=int(self.epochs[model_name]),
            batch_size=self.batch_size, seed=seed, patience=self.patience, run_dir=folder,
            max_steps_per_epoch=self.max_steps_per_epoch, verbose=self.verbose,
        )
        done = artifacts.load_json(folder / "done.json")
        return {"model": model, "train": ts, "history": history, "fit_seconds": float(fit_seconds),
                "description": description, "input_size": input_size, "folder": folder_name,
                "best_epoch": done.get("best_epoch"), "best_val_auc": done.get("best_val_auc")}

    def select_weight(self, model_name: str) -> tuple[float, str]:
        """Fit gan_weighted once per weight (first seed); pick the best exact val AUC (ties: first)."""
        seed = int(self.seeds[0])
        grid = [float(w) for w in self.gan_weight_grid]
        path = self.deep_dir / f"{model_name}_gan_weighted_selection.json"
        if path.exists():
            saved = artifacts.load_json(path)
            if saved.get("grid") == grid and saved.get("seed") == seed:
                return float(saved["chosen"]), str(saved["summary"])
        aucs: dict[str, float] = {}
        for w in grid:
            run = self.fit(model_name, "gan_weighted", seed, w, role="selection")
            auc = run["best_val_auc"]
            aucs[f"{w:g}"] = float("nan") if auc is None else float(auc)
        finite = {k: v for k, v in aucs.items() if math.isfinite(v)}
        if not finite:
            raise RuntimeError(f"{model_name}/gan_weighted: no weight reached a finite val AUC ({aucs})")
        chosen = float(max(finite, key=lambda k: (finite[k], -grid.index(float(k)))))
        summary = "; ".join(f"w={k}: val AUC {v:.4f}" for k, v in aucs.items())
        artifacts.save_json(path, {"grid": grid, "seed": seed, "val_auc": aucs, "chosen": chosen,
                                   "summary": summary})
        print(f"{model_name:11s} gan_weighted: synthetic weight {chosen:g} chosen on val ({summary})")
        return chosen, summary


def run_deep_grid(
    *,
    splits: Mapping[str, Any],
    synthetic_images: np.ndarray | None,
    synthetic_class: int | None,
    synthetic_realism_scores: np.ndarray | None,
    models: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int],
    epochs: Mapping[str, int],
    batch_size: int,
    patience: int | None,
    max_steps_per_epoch: int | None,
    densenet_input_size: int,
    densenet_weights: str | None,
    run_dir: str | Path,
    results_path: str | Path,
    context: Mapping[str, Any],
    gan_weight_grid: Sequence[float] = (0.25, 0.5, 1.0),
    filter_keep_fraction: float = 0.5,
    verbose: int = 0,
) -> pd.DataFrame:
    """Train models x strategies x seeds on pixels; append one results row per run; return the grid's rows.

    ``splits``: ``helpers.data.Dataset`` train/val/test with binary labels. ``synthetic_images``:
    uint8 fakes of class ``synthetic_class`` (needed by the ``gan*`` strategies).
    ``gan_filtered`` keeps the ``filter_keep_fraction`` of fakes with the highest
    ``synthetic_realism_scores`` (scored by the caller with a model fitted on real *train* data
    only). ``gan_weighted`` picks its synthetic-sample weight from ``gan_weight_grid`` by val AUC
    with the first seed, once per model, and reuses it for every seed (the first seed's run is
    the selection run itself). ``epochs`` maps model name -> epoch budget. ``context`` columns
    (e.g. run id, profile) go into every row; ``dataset``/``image_size`` default to the splits'.
    """
    models, strategies, seeds = list(models), list(strategies), [int(s) for s in seeds]
    unknown = [m for m in models if m not in DEEP_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(DEEP_MODELS)}")
    bad = [s for s in strategies if s not in DEEP_STRATEGIES]
    if bad:
        raise ValueError(f"strategies {bad} do not run on pixels; choose from {list(DEEP_STRATEGIES)} "
                         "(SMOTE/ADASYN are feature-space methods: notebook 04)")
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    missing_epochs = [m for m in models if m not in epochs]
    if missing_epochs:
        raise ValueError(f"epochs lacks a budget for {missing_epochs} (e.g. {{'cnn': 30, 'densenet121': 12}})")
    x_train, y_train = _binary_split(splits, "train")
    x_val, y_val = _binary_split(splits, "val")
    x_test, y_test = _binary_split(splits, "test")
    if len(np.unique(y_val)) < 2:
        raise ValueError("val holds a single class: early stopping on val ROC-AUC needs both")

    needs_fakes = [s for s in strategies if s in oversample.GAN_STRATEGIES]
    fakes = None
    keep_mask = None
    if needs_fakes:
        if synthetic_images is None or synthetic_class is None:
            raise ValueError(f"strategies {needs_fakes} need synthetic_images and synthetic_class "
                             "(notebook 03 writes the fakes)")
        fakes = np.asarray(synthetic_images)
        if fakes.ndim == 4 and fakes.shape[-1] == 1:
            fakes = fakes[..., 0]
        if fakes.dtype != np.uint8 or fakes.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"synthetic_images must be uint8 {x_train.shape[1:]} like the training "
                             f"images, got {fakes.dtype} {fakes.shape[1:]}")
        if "gan_filtered" in strategies:
            if synthetic_realism_scores is None:
                raise ValueError("gan_filtered needs synthetic_realism_scores (one per fake, higher = "
                                 "more realistic, from a model fitted on real train data only)")
            scores = np.asarray(synthetic_realism_scores, dtype=float).ravel()
            if len(scores) != len(fakes):
                raise ValueError(f"{len(scores)} realism scores for {len(fakes)} synthetic images")
            keep_mask = oversample.select_realistic(scores, filter_keep_fraction)
    _assert_no_synthetic_in_eval(fakes, x_val, x_test)

    ctx = dict(context)
    clash = [k for k in ctx if k in _RESERVED]
    if clash:
        raise ValueError(f"context keys {clash} are filled in by the grid; drop them from context")
    ctx.setdefault("dataset", getattr(splits["train"], "name", "unknown"))
    ctx.setdefault("image_size", int(x_train.shape[1]))
    results_path = Path(results_path)
    deep_dir = Path(run_dir) / "deep"
    deep_dir.mkdir(parents=True, exist_ok=True)
    grid = _Grid(
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, synthetic_images=fakes,
        synthetic_class=synthetic_class, keep_mask=keep_mask, epochs=dict(epochs),
        batch_size=int(batch_size), patience=patience, max_steps_per_epoch=max_steps_per_epoch,
        densenet_input_size=int(densenet_input_size), densenet_weights=densenet_weights,
        deep_dir=deep_dir, seeds=seeds, gan_weight_grid=tuple(gan_weight_grid), verbose=verbose,
    )
    from helpers.classifiers import predict_scores
    from helpers.experiments import scores_path

    grid_keys = {_key(ctx["dataset"], ctx["image_size"], m, s, seed)
                 for m in models for s in strategies for seed in seeds}
    for model_name in models:
        for strategy in strategies:
            todo = [s for s in seeds if _key(ctx["dataset"], ctx["image_size"], model_name, strategy, s)
                    not in _done_keys(results_path)]
            if not todo:
                continue
            weight, selection = 1.0, None
            if strategy == "gan_weighted":
                weight, selection = grid.select_weight(model_name)
            for seed in todo:
                run = grid.fit(model_name, strategy, seed, weight, role="grid")
                model, ts = run["model"], run["train"]
                val_scores = predict_scores(model, x_val)
                test_scores = predict_scores(model, x_test)
                artifacts.save_npz(
                    scores_path(results_path.parent, NOTEBOOK, ctx["dataset"], ctx["image_size"],
                                model_name, strategy, seed),
                    y_test=y_test, score_test=test_scores, y_val=y_val, score_val=val_scores,
                    y_true=y_test, y_score=test_scores,
                )
                epochs_run = int(len(run["history"]))
                row: dict[str, Any] = dict(ctx)
                row.update(notebook=NOTEBOOK, classifier=model_name, strategy=strategy, seed=int(seed),
                           features="pixels", model_weights=run["description"],
                           input_size=run["input_size"])
                row.update(metrics.classification_row(y_test, test_scores, y_score_val=val_scores,
                                                      y_true_val=y_val))
                is_gan = strategy in oversample.GAN_STRATEGIES
                row.update(
                    n_train=int(len(ts.y)), n_synthetic=int(ts.n_synthetic),
                    synthetic_weight=float(weight) if is_gan else float("nan"),
                    synthetic_keep_fraction=float(filter_keep_fraction) if strategy == "gan_filtered" else float("nan"),
                    weight_selection=selection or "",
                    epochs_run=epochs_run, best_epoch=run["best_epoch"], best_val_auc=run["best_val_auc"],
                    fit_seconds=round(run["fit_seconds"], 3),
                    seconds_per_epoch=round(run["fit_seconds"] / max(epochs_run, 1), 3),
                    run_folder=run["folder"],
                )
                artifacts.append_rows(results_path, [row])
                print(f"{model_name:11s} {strategy:13s} seed {seed}: test ROC-AUC {row['roc_auc']:.3f}, "
                      f"F1 {row['f1']:.3f}, NORMAL F1 {row['f1_normal']:.3f} (val AUC "
                      f"{row['val_roc_auc']:.3f}, best epoch {row['best_epoch']}/{epochs_run}, "
                      f"fit {run['fit_seconds']:.1f} s; {run['description']})")
    return _grid_rows(results_path, grid_keys)


def load_histories(run_dir: str | Path) -> pd.DataFrame:
    """Every deep run's per-epoch history with ``model``, ``strategy``, ``seed``, ``synthetic_weight``,
    ``role`` (``grid`` or ``selection``) and ``run`` columns.

    ``run_dir`` is the folder given to :func:`run_deep_grid` (or its ``deep`` subfolder).
    """
    run_dir = Path(run_dir)
    deep_dir = run_dir / "deep" if (run_dir / "deep").is_dir() else run_dir
    frames = []
    for hist_path in sorted(deep_dir.glob("*/history.csv")):
        folder = hist_path.parent
        info_path = folder / "run.json"
        if info_path.exists():
            info = artifacts.load_json(info_path)
        else:  # fall back on the folder name
            m = re.fullmatch(r"(.+?)_(.+?)(?:_w([0-9.eE+-]+))?_seed(\d+)", folder.name)
            if not m:
                continue
            info = {"model": m[1], "strategy": m[2], "seed": int(m[4]),
                    "synthetic_weight": float(m[3]) if m[3] else None, "role": "grid"}
        hist = pd.read_csv(hist_path)
        hist.insert(0, "run", folder.name)
        for i, col in enumerate(("model", "strategy", "seed", "synthetic_weight", "role")):
            hist.insert(i, col, info.get(col))
        frames.append(hist)
    if not frames:
        raise artifacts.ArtifactError(f"no training histories under {deep_dir}. Run notebook 05 first.")
    return pd.concat(frames, ignore_index=True)
