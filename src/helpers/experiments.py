"""Experiment grids: train every (model, strategy, seed), score val and test, append result rows.

Every run appends one row to the shared results table (``artifacts.append_rows``) with the context
(dataset, image size, ...), ``notebook``, ``classifier``, ``strategy``, ``seed``, ``features``, all
of :data:`helpers.metrics.METRIC_COLUMNS`, ``n_train``, ``n_synthetic`` and ``fit_seconds``, and
saves its val/test scores under ``<results folder>/scores/`` for ROC curves (:func:`load_scores`).
A run whose row is already in the table is skipped, so re-running a notebook resumes a grid.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import artifacts, metrics, oversample

__all__ = [
    "CLASSICAL_CLASSIFIERS",
    "ANN_STRATEGIES",
    "RUN_KEY",
    "run_classical_grid",
    "run_ann_grid",
    "build_ann",
    "make_classifier",
    "load_scores",
    "scores_path",
    "existing_keys",
]

CLASSICAL_CLASSIFIERS: tuple[str, ...] = ("decision_tree", "random_forest", "svm")
#: Strategies the ANN (pixel MLP) runs; SMOTE/ADASYN are feature-space methods and are skipped.
ANN_STRATEGIES: tuple[str, ...] = (
    "none", "class_weight", "random", "gan", "gan_filtered", "gan_weighted", "gan_aug", "classical_aug",
)
#: Columns identifying one run in the results table (a re-run skips rows with the same key).
RUN_KEY: tuple[str, ...] = ("notebook", "dataset", "image_size", "classifier", "strategy", "seed")
_RESERVED = ("notebook", "classifier", "strategy", "seed", "features", *metrics.METRIC_COLUMNS,
             "n_train", "n_synthetic", "fit_seconds")


# ==================================================================================================
# Shared bookkeeping (results rows, resume keys, saved scores)
# ==================================================================================================
def _norm_notebook(value: Any) -> str:
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):  # "04" read back from CSV as 4 / 4.0
        return f"{int(float(text)):02d}"
    return text


def _norm_int(value: Any) -> Any:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(f) if math.isfinite(f) and f == int(f) else str(value)


def _key(notebook: Any, dataset: Any, image_size: Any, classifier: Any, strategy: Any,
         seed: Any) -> tuple:
    return (_norm_notebook(notebook), str(dataset), _norm_int(image_size), str(classifier),
            str(strategy), _norm_int(seed))


def existing_keys(results_path: str | os.PathLike) -> set[tuple]:
    """Run keys (:data:`RUN_KEY`, normalised) already in the results table."""
    path = Path(results_path)
    if not path.exists():
        return set()
    table = pd.read_csv(path)
    if not set(RUN_KEY) <= set(table.columns) or table.empty:
        return set()
    return {_key(*vals) for vals in table[list(RUN_KEY)].itertuples(index=False, name=None)}


def _check_context(context: Mapping[str, Any]) -> dict[str, Any]:
    ctx = dict(context)
    missing = [k for k in ("dataset", "image_size") if k not in ctx]
    if missing:
        raise ValueError(f"context must name {missing} (e.g. {{'dataset': cfg.dataset, "
                         "'image_size': cfg.image_size}})")
    clash = [k for k in ctx if k in _RESERVED]
    if clash:
        raise ValueError(f"context keys {clash} are filled in by the grid; drop them from context")
    return ctx


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(value)).strip("-") or "x"


def scores_path(run_dir: str | os.PathLike, notebook: str, dataset: str, image_size: int,
                classifier: str, strategy: str, seed: int) -> Path:
    """``run_dir/scores/nb<notebook>_<dataset>_<size>px_<classifier>_<strategy>_seed<seed>.npz``."""
    name = (f"nb{_norm_notebook(notebook)}_{_slug(dataset)}_{int(image_size)}px_{_slug(classifier)}_"
            f"{_slug(strategy)}_seed{int(seed)}.npz")
    return Path(run_dir) / "scores" / name


def load_scores(
    run_dir: str | os.PathLike,
    notebook: str,
    classifier: str,
    strategy: str,
    seed: int,
    *,
    dataset: str | None = None,
    image_size: int | None = None,
    split: str = "test",
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_score)`` of one run on ``split`` ("test" or "val"), saved by the grids.

    ``dataset`` / ``image_size`` pick among runs of several data sets in one run folder; they may be
    left out when only one matches.
    """
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', not {split!r}")
    folder = Path(run_dir) / "scores"
    ds = _slug(dataset) if dataset is not None else "*"
    size = f"{int(image_size)}px" if image_size is not None else "*px"
    pattern = (f"nb{_norm_notebook(notebook)}_{ds}_{size}_{_slug(classifier)}_{_slug(strategy)}_"
               f"seed{int(seed)}.npz")
    matches = sorted(folder.glob(pattern))
    hint = f"Run notebook {_norm_notebook(notebook)} first (it saves the scores of every run)."
    if not matches:
        raise artifacts.ArtifactError(f"no scores {folder / pattern}. {hint}")
    if len(matches) > 1:
        raise ValueError(f"several runs match {pattern}: {[m.name for m in matches]}; pass dataset= "
                         "and image_size=")
    data = artifacts.load_npz(matches[0], keys=(f"y_{split}", f"score_{split}"), hint=hint)
    return data[f"y_{split}"], data[f"score_{split}"]


def _record(
    *, results_path: Path, ctx: dict[str, Any], notebook: str, classifier: str, strategy: str,
    seed: int, features: str, y_test: np.ndarray, test_scores: np.ndarray, y_val: np.ndarray,
    val_scores: np.ndarray, n_train: int, n_synthetic: int, fit_seconds: float,
) -> dict[str, Any]:
    """Save the scores, then append the row (a row in the table implies its scores exist)."""
    artifacts.save_npz(
        scores_path(results_path.parent, notebook, ctx["dataset"], ctx["image_size"], classifier,
                    strategy, seed),
        y_test=np.asarray(y_test), score_test=np.asarray(test_scores, dtype=np.float64),
        y_val=np.asarray(y_val), score_val=np.asarray(val_scores, dtype=np.float64),
    )
    row: dict[str, Any] = dict(ctx)
    row.update(notebook=notebook, classifier=classifier, strategy=strategy, seed=int(seed),
               features=features)
    row.update(metrics.classification_row(y_test, test_scores, y_score_val=val_scores,
                                          y_true_val=y_val))
    row.update(n_train=int(n_train), n_synthetic=int(n_synthetic),
               fit_seconds=round(float(fit_seconds), 3))
    artifacts.append_rows(results_path, [row])
    return row


def _grid_rows(results_path: Path, keys: set[tuple]) -> pd.DataFrame:
    table = pd.read_csv(results_path) if results_path.exists() else pd.DataFrame()
    if table.empty:
        return table
    mask = [_key(*vals) in keys for vals in table[list(RUN_KEY)].itertuples(index=False, name=None)]
    return table[np.asarray(mask, dtype=bool)].reset_index(drop=True)


# ==================================================================================================
# Classical classifiers on ResNet-18 features (notebook 04)
# ==================================================================================================
def make_classifier(name: str, seed: int, class_weight: str | None = None):
    """A fresh scikit-learn estimator: ``decision_tree``, ``random_forest`` (300 trees) or ``svm`` (RBF)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    if name == "decision_tree":
        return DecisionTreeClassifier(random_state=seed, class_weight=class_weight)
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=2,
                                      class_weight=class_weight)
    if name == "svm":
        return SVC(kernel="rbf", random_state=seed, class_weight=class_weight)
    if name == "ann":
        raise ValueError("'ann' is trained on pixels by run_ann_grid, not by run_classical_grid")
    raise ValueError(f"unknown classifier {name!r}; choose from {list(CLASSICAL_CLASSIFIERS)}")


def _positive_scores(model: Any, x: np.ndarray, positive_class: int = 1) -> np.ndarray:
    """P(positive) for trees/forests; logistic(decision_function) for the SVM.

    The logistic keeps the SVM's ranking (ROC-AUC of the decision function) and maps its own
    decision boundary (0) to 0.5, so the thresholded columns at 0.5 mean what SVC.predict means.
    """
    if hasattr(model, "predict_proba") and not hasattr(model, "decision_function"):
        proba = model.predict_proba(x)
        classes = list(model.classes_)
        if positive_class not in classes:
            return np.zeros(len(x))
        return proba[:, classes.index(positive_class)]
    d = np.asarray(model.decision_function(x), dtype=np.float64)
    if model.classes_[-1] != positive_class:  # decision_function is for classes_[1]
        d = -d
    return 1.0 / (1.0 + np.exp(-np.clip(d, -500, 500)))


def run_classical_grid(
    *,
    train_feats: Any,
    y_train: Any,
    val_feats: Any,
    y_val: Any,
    test_feats: Any,
    y_test: Any,
    synthetic_feats: Any,
    synthetic_class: int | None,
    classifiers: Sequence[str],
    strategies: Sequence[str],
    seeds: Sequence[int],
    results_path: str | os.PathLike,
    context: Mapping[str, Any],
    feature_note: str,
    synthetic_keep: Any = None,
    synthetic_weight: float = 1.0,
    notebook: str = "04",
    verbose: bool = True,
) -> pd.DataFrame:
    """Fit every classifier × strategy × seed on features, score val/test, append result rows.

    Per run: :func:`helpers.oversample.prepare_training_set` on the training features only ->
    ``StandardScaler`` fitted on that (resampled) training set -> estimator from
    :func:`make_classifier` (``class_weight="balanced"`` for the ``class_weight`` strategy,
    ``sample_weight`` for ``gan_weighted``) -> scores on val and test (see :func:`_positive_scores`)
    -> :func:`helpers.metrics.classification_row`. ``classical_aug`` needs images and is skipped
    here with a note, as is a strategy that cannot run on the data (ADASYN on separated classes).
    Runs already in ``results_path`` are skipped. Returns this grid's rows (old and new).
    """
    from sklearn.preprocessing import StandardScaler

    results_path = Path(results_path)
    ctx = _check_context(context)
    bad = [c for c in classifiers if c not in CLASSICAL_CLASSIFIERS]
    if bad:
        hint = " ('ann' runs in run_ann_grid)" if "ann" in bad else ""
        raise ValueError(f"unknown classifiers {bad}{hint}; choose from {list(CLASSICAL_CLASSIFIERS)}")
    unknown = [s for s in strategies if s not in oversample.ALL_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {list(oversample.ALL_STRATEGIES)}")
    xtr, ytr = np.asarray(train_feats), np.asarray(y_train).ravel()
    xva, yva = np.asarray(val_feats), np.asarray(y_val).ravel()
    xte, yte = np.asarray(test_feats), np.asarray(y_test).ravel()
    for what, arr in (("train_feats", xtr), ("val_feats", xva), ("test_feats", xte)):
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 2-D features (N, D), got shape {arr.shape}")

    done = existing_keys(results_path)
    grid_keys: set[tuple] = set()
    skipped_note: set[str] = set()
    for clf_name in classifiers:
        for strategy in strategies:
            if strategy == "classical_aug":
                if strategy not in skipped_note and verbose:
                    print("classical_aug: skipped for feature classifiers (augmentation acts on "
                          "images; see the ANN and notebook 05)")
                skipped_note.add(strategy)
                continue
            for seed in seeds:
                key = _key(notebook, ctx["dataset"], ctx["image_size"], clf_name, strategy, seed)
                grid_keys.add(key)
                if key in done:
                    continue
                try:
                    ts = oversample.prepare_training_set(
                        strategy, xtr, ytr, seed=int(seed), synthetic_x=synthetic_feats,
                        synthetic_class=synthetic_class, synthetic_weight=synthetic_weight,
                        synthetic_keep=synthetic_keep,
                    )
                except oversample.StrategyNotApplicable as exc:
                    if verbose:
                        print(f"{clf_name} / {strategy} / seed {seed}: skipped ({exc})")
                    grid_keys.discard(key)
                    continue
                scaler = StandardScaler().fit(ts.x)
                model = make_classifier(clf_name, int(seed),
                                        "balanced" if strategy == "class_weight" else None)
                fit_kwargs = {} if ts.sample_weight is None else {"sample_weight": ts.sample_weight}
                t0 = time.perf_counter()
                model.fit(scaler.transform(ts.x), ts.y, **fit_kwargs)
                fit_seconds = time.perf_counter() - t0
                val_scores = _positive_scores(model, scaler.transform(xva))
                test_scores = _positive_scores(model, scaler.transform(xte))
                row = _record(
                    results_path=results_path, ctx=ctx, notebook=notebook, classifier=clf_name,
                    strategy=strategy, seed=int(seed), features=feature_note, y_test=yte,
                    test_scores=test_scores, y_val=yva, val_scores=val_scores, n_train=len(ts),
                    n_synthetic=ts.n_synthetic, fit_seconds=fit_seconds,
                )
                done.add(key)
                if verbose:
                    print(f"{clf_name:13s} {strategy:13s} seed {seed}: test ROC-AUC "
                          f"{row['roc_auc']:.3f}, F1 {row['f1']:.3f}, NORMAL F1 "
                          f"{row['f1_normal']:.3f} (n_train {len(ts)}, fit {fit_seconds:.1f} s)")
    return _grid_rows(results_path, grid_keys)


# --------------------------------------------------------------------------------------------------
# ANN (MLP on flattened pixels), reported with the classical classifiers in notebook 04
# --------------------------------------------------------------------------------------------------
def build_ann(n_inputs: int, *, hidden: Sequence[int] = (256, 128), dropout: float = 0.3,
              learning_rate: float = 1e-3):
    """MLP: Dense 256-128 ReLU with Dropout -> Dense(1, sigmoid); Adam + binary cross-entropy."""
    import keras

    inputs = keras.Input(shape=(int(n_inputs),), name="pixels")
    z = inputs
    for i, units in enumerate(hidden):
        z = keras.layers.Dense(int(units), activation="relu", name=f"dense{i + 1}")(z)
        z = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(z)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(z)
    model = keras.Model(inputs, outputs, name="ann")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    return model


def _unit_images(images: Any, what: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 1) -> float32 (N, H, W, 1) in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1:
        raise ValueError(f"{what}: expected grayscale images (N, H, W[, 1]), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{what}: expected uint8 pixels, got {x.dtype}; convert GAN output with "
                         "helpers.images.unscale_images first")
    return x.astype(np.float32) / np.float32(255.0)


def _ann_dataset(ts: oversample.TrainSet, x_unit: np.ndarray, *, seed: int, batch_size: int,
                 repeat: bool):
    """tf.data pipeline: shuffle (seeded) -> batch -> [augment] -> flatten (-> repeat)."""
    import tensorflow as tf

    n, flat = len(x_unit), int(np.prod(x_unit.shape[1:]))
    y = ts.y.astype(np.float32).reshape(-1, 1)
    tensors: tuple = (x_unit, y) if ts.sample_weight is None else (
        x_unit, y, ts.sample_weight.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if ts.augment:
        aug = oversample.augmentation_layers(seed)

        def augment(x, *rest):
            return (aug(x, training=True), *rest)

        ds = ds.map(augment)

    def flatten(x, *rest):
        return (tf.reshape(x, (-1, flat)), *rest)

    ds = ds.map(flatten)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(2)


def run_ann_grid(
    *,
    train_images: Any,
    y_train: Any,
    val_images: Any,
    y_val: Any,
    test_images: Any,
    y_test: Any,
    synthetic_images: Any,
    synthetic_class: int | None,
    strategies: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    results_path: str | os.PathLike,
    context: Mapping[str, Any],
    batch_size: int = 64,
    patience: int | None = 5,
    max_steps_per_epoch: int | None = None,
    learning_rate: float = 1e-3,
    synthetic_keep: Any = None,
    synthetic_weight: float = 1.0,
    feature_note: str = "pixels (flattened, /255)",
    notebook: str = "04",
    verbose: int = 0,
) -> pd.DataFrame:
    """The ANN baseline (:func:`build_ann` on flattened uint8 pixels / 255) over strategies × seeds.

    Early stopping on an exact val ROC-AUC (:class:`helpers.metrics.ValAUCCallback`, best weights
    restored). ``classical_aug`` / ``gan_aug`` augment each batch before flattening
    (:func:`helpers.oversample.augmentation_layers` in a ``tf.data`` map); SMOTE/ADASYN are skipped
    (they run on features, not pixels). ``max_steps_per_epoch`` caps the batches per epoch (ci).
    Rows go to ``results_path`` with ``classifier="ann"``; runs already there are skipped.
    """
    from helpers.runtime import set_seeds

    results_path = Path(results_path)
    ctx = _check_context(context)
    unknown = [s for s in strategies if s not in oversample.ALL_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; choose from {list(oversample.ALL_STRATEGIES)}")
    skipped = [s for s in strategies if s not in ANN_STRATEGIES]
    if skipped:
        print(f"ANN: skipping {skipped}: SMOTE/ADASYN interpolate feature vectors, not pixels "
              "(they run on the ResNet features above)")
    xtr = np.asarray(train_images)
    ytr = np.asarray(y_train).ravel()
    xva, yva = _unit_images(val_images, "val_images"), np.asarray(y_val).ravel()
    xte, yte = _unit_images(test_images, "test_images"), np.asarray(y_test).ravel()
    xva_flat, xte_flat = xva.reshape(len(xva), -1), xte.reshape(len(xte), -1)
    syn = None if synthetic_images is None else np.asarray(synthetic_images)
    if syn is not None and syn.ndim == 4 and xtr.ndim == 3:
        syn = syn[..., 0]

    done = existing_keys(results_path)
    grid_keys: set[tuple] = set()
    for strategy in strategies:
        if strategy not in ANN_STRATEGIES:
            continue
        for seed in seeds:
            key = _key(notebook, ctx["dataset"], ctx["image_size"], "ann", strategy, seed)
            grid_keys.add(key)
            if key in done:
                continue
            ts = oversample.prepare_training_set(
                strategy, xtr, ytr, seed=int(seed), synthetic_x=syn,
                synthetic_class=synthetic_class, synthetic_weight=synthetic_weight,
                synthetic_keep=synthetic_keep,
            )
            x_unit = _unit_images(ts.x, "train_images")
            set_seeds(int(seed))
            model = build_ann(int(np.prod(x_unit.shape[1:])), learning_rate=learning_rate)
            batches = math.ceil(len(ts) / batch_size)
            steps = None if max_steps_per_epoch is None else max(1, min(batches, max_steps_per_epoch))
            ds = _ann_dataset(ts, x_unit, seed=int(seed), batch_size=batch_size,
                              repeat=steps is not None)
            callback = metrics.ValAUCCallback(xva_flat, yva, patience=patience, verbose=verbose)
            t0 = time.perf_counter()
            model.fit(ds, epochs=int(epochs), steps_per_epoch=steps, class_weight=ts.class_weight,
                      shuffle=False, callbacks=[callback], verbose=verbose)
            fit_seconds = time.perf_counter() - t0
            val_scores = model.predict(xva_flat, batch_size=256, verbose=0).ravel()
            test_scores = model.predict(xte_flat, batch_size=256, verbose=0).ravel()
            row = _record(
                results_path=results_path, ctx=ctx, notebook=notebook, classifier="ann",
                strategy=strategy, seed=int(seed), features=feature_note, y_test=yte,
                test_scores=test_scores, y_val=yva, val_scores=val_scores, n_train=len(ts),
                n_synthetic=ts.n_synthetic, fit_seconds=fit_seconds,
            )
            done.add(key)
            print(f"ann           {strategy:13s} seed {seed}: test ROC-AUC {row['roc_auc']:.3f}, "
                  f"F1 {row['f1']:.3f}, NORMAL F1 {row['f1_normal']:.3f} (best epoch "
                  f"{(callback.best_epoch or 0) + 1}, fit {fit_seconds:.1f} s)")
    return _grid_rows(results_path, grid_keys)


# ==================================================================================================
# Deep models on pixels (notebook 05): added below by the notebook-05 helpers
# ==================================================================================================
