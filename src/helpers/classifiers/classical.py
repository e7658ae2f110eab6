"""Chapter 4's grids: Decision Tree / Random Forest / SVM on ResNet-18 features, and an ANN on pixels.

Every (classifier, strategy, seed) run records one results row and its val/test scores
(``ResultsTable``), keyed by a fingerprint of the arrays, the synthetic rows a strategy adds, the
settings and the seed: a re-run skips only a run whose fingerprint matches.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.classifiers.results import CLASSICAL_CLASSIFIERS, ResultsTable
from helpers.core import provenance
from helpers.data.augment import training_augmentation_settings
from helpers.data.images import as_model_batch
from helpers.evaluation.scores import METRIC_COLUMNS, classification_row
from helpers.oversampling import oversample
from helpers.oversampling.strategies import (
    FEATURE_STRATEGIES,
    GAN_STRATEGIES,
    IMAGE_ONLY,
    PIXEL_STRATEGIES,
    check_strategies,
    synthetic_source,
)

__all__ = ["CLASSICAL_CLASSIFIERS", "run_classical_grid", "run_ann_grid", "AnnSettings"]

#: What the ANN's rows say it saw.
_ANN_FEATURES = "pixels (flattened, /255)"
NOTEBOOK = "04"
_RESERVED = ("notebook", "classifier", "strategy", "seed", "features", *METRIC_COLUMNS,
             "n_train", "n_synthetic", "fit_seconds", "fingerprint")


def _splits(data: Mapping[str, tuple[Any, Any]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(x, y)]`` of train, val and test from ``{"train": (x, y), ...}``, labels flattened."""
    missing = [s for s in ("train", "val", "test") if s not in data]
    if missing:
        raise ValueError(f"data lacks the split(s) {missing}: pass {{'train': (x, y), 'val': ..., 'test': ...}}")
    return [(np.asarray(data[s][0]), np.asarray(data[s][1]).ravel()) for s in ("train", "val", "test")]


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


def _inputs_fingerprint(base: Mapping[str, Any], arrays: Mapping[str, tuple]) -> dict[str, Any]:
    """``base`` (from the caller: data id, settings) + a digest of each named tuple of input arrays."""
    fp = dict(base)
    fp.update({f"{name}_digest": provenance.array_digest(*arr) for name, arr in arrays.items()})
    return fp


def _synthetic_sets(synthetic: Mapping[str, Any] | None, synthetic_class: int | None,
                    strategies: Sequence[str], where: str) -> dict[str, tuple[Any, str]]:
    """``{source: (array, digest)}`` for the sources the GAN strategies need (see strategies.SYNTHETIC_SOURCE)."""
    needed = sorted({synthetic_source(s) for s in strategies if s in GAN_STRATEGIES})
    sets = dict(synthetic or {})
    missing = [src for src in needed if sets.get(src) is None]
    if missing or (needed and synthetic_class is None):
        raise ValueError(f"{where}: the GAN strategies need synthetic sets {missing or needed} and "
                         "synthetic_class (chapter 3 writes the fakes of the reference and default "
                         "generators)")
    out = {}
    for src in needed:
        arr = np.asarray(sets[src])
        out[src] = (arr, provenance.array_digest(arr, synthetic_class))
    return out


def _run_fingerprint(inputs: Mapping[str, Any], *, classifier: str, strategy: str, seed: int,
                     synthetic_digest: str, synthetic_weight: float, keep_digest: str,
                     **settings: Any) -> dict[str, Any]:
    fp = {**inputs, "classifier": classifier, "strategy": strategy, "seed": int(seed), **settings}
    if strategy in IMAGE_ONLY:
        fp["augmentation"] = training_augmentation_settings()
    if strategy in GAN_STRATEGIES:
        fp["synthetic_digest"] = synthetic_digest
        if strategy == "gan_weighted":
            fp["synthetic_weight"] = float(synthetic_weight)
        if strategy == "gan_filtered":
            fp["synthetic_keep_digest"] = keep_digest
    return fp


def _record(table: ResultsTable, *, ctx: dict[str, Any], classifier: str, strategy: str, seed: int,
            fingerprint: dict[str, Any], features: str, y_test: np.ndarray, test_scores: np.ndarray,
            y_val: np.ndarray, val_scores: np.ndarray, n_train: int, n_synthetic: int,
            fit_seconds: float) -> dict[str, Any]:
    columns: dict[str, Any] = dict(ctx)
    columns["features"] = features
    columns.update(classification_row(y_test, test_scores, y_score_val=val_scores, y_true_val=y_val))
    columns.update(n_train=int(n_train), n_synthetic=int(n_synthetic), fit_seconds=round(float(fit_seconds), 3))
    return table.record(notebook=NOTEBOOK, classifier=classifier, strategy=strategy, seed=int(seed),
                        fingerprint=fingerprint, y_test=y_test, score_test=test_scores, y_val=y_val,
                        score_val=val_scores, columns=columns)


def _make_classifier(name: str, seed: int, class_weight: str | None = None):
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


def _fit_classical(name: str, strategy: str, seed: int, ts: oversample.TrainSet, x_val: np.ndarray,
                   x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Scale, fit one estimator on a training set; its val and test scores and fit seconds."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(ts.x)
    model = _make_classifier(name, seed, "balanced" if strategy == "class_weight" else None)
    fit_kwargs = {} if ts.sample_weight is None else {"sample_weight": ts.sample_weight}
    t0 = time.perf_counter()
    model.fit(scaler.transform(ts.x), ts.y, **fit_kwargs)
    fit_seconds = time.perf_counter() - t0
    return _positive_scores(model, scaler.transform(x_val)), _positive_scores(model, scaler.transform(x_test)), fit_seconds


def run_classical_grid(data: Mapping[str, tuple[Any, Any]], *, classifiers: Sequence[str],
                       strategies: Sequence[str], seeds: Sequence[int], run_dir: str | os.PathLike,
                       context: Mapping[str, Any], feature_note: str, fakes: oversample.Fakes | None = None,
                       provenance_base: Mapping[str, Any] | None = None, verbose: bool = True) -> pd.DataFrame:
    """Fit every classifier × strategy × seed on features, score val/test, record result rows.

    Per run: the strategy resamples the training features -> ``StandardScaler`` -> the estimator
    (``class_weight="balanced"`` for ``class_weight``, ``sample_weight`` for ``gan_weighted``).
    ``data``: ``{"train"|"val"|"test": (features, labels)}``; ``fakes.images``: generator -> features
    of its fakes. Image-only strategies, and one that cannot run on the data, are skipped with a note.
    Returns this grid's rows (old and new).
    """
    table = ResultsTable(run_dir)
    ctx = _check_context(context)
    bad = [c for c in classifiers if c not in CLASSICAL_CLASSIFIERS]
    if bad:
        hint = " ('ann' runs in run_ann_grid)" if "ann" in bad else ""
        raise ValueError(f"unknown classifiers {bad}{hint}; choose from {list(CLASSICAL_CLASSIFIERS)}")
    strategies = check_strategies(strategies, where="run_classical_grid strategies")
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(data)
    for what, arr in (("train", xtr), ("val", xva), ("test", xte)):
        if arr.ndim != 2:
            raise ValueError(f"{what} features must be 2-D (N, D), got shape {arr.shape}")
    synthetic_class = None if fakes is None else fakes.class_id
    inputs = _inputs_fingerprint(provenance_base or {}, {
        "train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)})
    syn_sets = _synthetic_sets(None if fakes is None else fakes.images, synthetic_class,
                               [s for s in strategies if s in FEATURE_STRATEGIES], "run_classical_grid")
    keep_digest = provenance.array_digest(None)

    done = table.read()
    grid_keys: set[tuple] = set()
    for clf_name in classifiers:
        for strategy in strategies:
            if strategy not in FEATURE_STRATEGIES:
                if verbose:
                    print(f"{clf_name}: {strategy} skipped (augmentation acts on images; see the ANN "
                          "and chapter 5)")
                continue
            for seed in seeds:
                syn, syn_digest = syn_sets.get(synthetic_source(strategy), (None, "")) \
                    if strategy in GAN_STRATEGIES else (None, "")
                fp = _run_fingerprint(inputs, classifier=clf_name, strategy=strategy, seed=int(seed),
                                      synthetic_digest=syn_digest, synthetic_weight=1.0,
                                      keep_digest=keep_digest)
                key = (NOTEBOOK, clf_name, strategy, int(seed))
                if table.is_done(*key, fingerprint=fp, table=done):
                    grid_keys.add(key)
                    continue
                try:
                    ts = oversample.prepare_training_set(strategy, xtr, ytr, seed=int(seed), synthetic_x=syn,
                                                         synthetic_class=synthetic_class)
                except oversample.StrategyNotApplicable as exc:
                    if verbose:
                        print(f"{clf_name} / {strategy} / seed {seed}: skipped ({exc})")
                    continue
                grid_keys.add(key)
                val_scores, test_scores, fit_seconds = _fit_classical(clf_name, strategy, int(seed), ts, xva, xte)
                row = _record(
                    table, ctx=ctx, classifier=clf_name, strategy=strategy, seed=int(seed),
                    fingerprint=fp, features=feature_note, y_test=yte, test_scores=test_scores,
                    y_val=yva, val_scores=val_scores, n_train=len(ts), n_synthetic=ts.n_synthetic,
                    fit_seconds=fit_seconds,
                )
                if verbose:
                    print(f"{clf_name:13s} {strategy:13s} seed {seed}: test ROC-AUC "
                          f"{row['roc_auc']:.3f}, F1 {row['f1']:.3f}, NORMAL F1 "
                          f"{row['f1_normal']:.3f} (n_train {len(ts)}, fit {fit_seconds:.1f} s)")
    return table.rows(grid_keys)


def _build_ann(n_inputs: int, *, hidden: Sequence[int] = (256, 128), dropout: float = 0.3,
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
        from helpers.data.augment import augmentation_layers

        aug = augmentation_layers(seed)

        def augment(x, *rest):
            return (aug(x, training=True), *rest)

        ds = ds.map(augment)

    def flatten(x, *rest):
        return (tf.reshape(x, (-1, flat)), *rest)

    ds = ds.map(flatten)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(2)


@dataclass(frozen=True)
class AnnSettings:
    """How the ANN trains: epoch budget, batch size, early-stopping patience, step cap, learning rate."""

    epochs: int
    batch_size: int = 64
    patience: int | None = 5
    max_steps_per_epoch: int | None = None
    learning_rate: float = 1e-3

    @classmethod
    def from_profile(cls, profile: Any) -> AnnSettings:
        """The settings of a :class:`helpers.config.Profile`."""
        return cls(epochs=profile.ann_epochs, batch_size=profile.batch_size, patience=profile.patience,
                   max_steps_per_epoch=profile.max_steps_per_epoch)


def _fit_ann(ts: oversample.TrainSet, settings: AnnSettings, seed: int, val: tuple[np.ndarray, np.ndarray],
             x_test: np.ndarray, verbose: int) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Train one ANN (early stopping on the exact val AUC); val/test scores, fit seconds, best epoch (1-based)."""
    from helpers.classifiers.callbacks import ValAUCCallback
    from helpers.core.runtime import set_seeds

    batch_size, max_steps = int(settings.batch_size), settings.max_steps_per_epoch
    x_unit = as_model_batch(ts.x) / np.float32(255)
    set_seeds(seed)
    model = _build_ann(int(np.prod(x_unit.shape[1:])), learning_rate=float(settings.learning_rate))
    batches = math.ceil(len(ts) / batch_size)
    steps = None if max_steps is None else max(1, min(batches, max_steps))
    ds = _ann_dataset(ts, x_unit, seed=seed, batch_size=batch_size, repeat=steps is not None)
    callback = ValAUCCallback(val[0], val[1], patience=settings.patience, verbose=verbose)
    t0 = time.perf_counter()
    model.fit(ds, epochs=int(settings.epochs), steps_per_epoch=steps, class_weight=ts.class_weight,
              shuffle=False, callbacks=[callback], verbose=verbose)
    fit_seconds = time.perf_counter() - t0
    val_scores = model.predict(val[0], batch_size=256, verbose=0).ravel()
    test_scores = model.predict(x_test, batch_size=256, verbose=0).ravel()
    return val_scores, test_scores, fit_seconds, (callback.best_epoch or 0) + 1


def run_ann_grid(data: Mapping[str, tuple[Any, Any]], *, strategies: Sequence[str], seeds: Sequence[int],
                 settings: AnnSettings, run_dir: str | os.PathLike, context: Mapping[str, Any],
                 fakes: oversample.Fakes | None = None, provenance_base: Mapping[str, Any] | None = None,
                 verbose: int = 0) -> pd.DataFrame:
    """The ANN baseline (an MLP on flattened pixels / 255) over strategies × seeds, early stopping on val AUC.

    ``data``: ``{"train"|"val"|"test": (uint8 images, labels)}``; ``fakes``: the GAN images. Augmenting
    strategies augment each batch before flattening; SMOTE/ADASYN (feature methods) are skipped.
    """
    table = ResultsTable(run_dir)
    ctx = _check_context(context)
    strategies = check_strategies(strategies, where="run_ann_grid strategies")
    skipped = [s for s in strategies if s not in PIXEL_STRATEGIES]
    if skipped:
        print(f"ANN: skipping {skipped}: SMOTE/ADASYN interpolate feature vectors, not pixels "
              "(they run on the ResNet features above)")
    (xtr, ytr), (xva, yva), (xte, yte) = _splits(data)
    xva, xte = as_model_batch(xva) / np.float32(255), as_model_batch(xte) / np.float32(255)
    synthetic_class = None if fakes is None else fakes.class_id
    xva_flat, xte_flat = xva.reshape(len(xva), -1), xte.reshape(len(xte), -1)
    sets = {k: (np.asarray(v)[..., 0] if np.ndim(v) == 4 and xtr.ndim == 3 else v)
            for k, v in ({} if fakes is None else fakes.images).items()}
    inputs = _inputs_fingerprint(provenance_base or {}, {
        "train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)})
    fit_settings = dict(epochs=int(settings.epochs), batch_size=int(settings.batch_size), patience=settings.patience,
                        max_steps_per_epoch=settings.max_steps_per_epoch, learning_rate=float(settings.learning_rate))
    syn_sets = _synthetic_sets(sets, synthetic_class, [s for s in strategies if s in PIXEL_STRATEGIES],
                               "run_ann_grid")
    keep_digest = provenance.array_digest(None)

    done = table.read()
    grid_keys: set[tuple] = set()
    for strategy in strategies:
        if strategy not in PIXEL_STRATEGIES:
            continue
        for seed in seeds:
            syn, syn_digest = syn_sets.get(synthetic_source(strategy), (None, "")) \
                if strategy in GAN_STRATEGIES else (None, "")
            fp = _run_fingerprint(inputs, classifier="ann", strategy=strategy, seed=int(seed),
                                  synthetic_digest=syn_digest, synthetic_weight=1.0,
                                  keep_digest=keep_digest, **fit_settings)
            key = (NOTEBOOK, "ann", strategy, int(seed))
            grid_keys.add(key)
            if table.is_done(*key, fingerprint=fp, table=done):
                continue
            ts = oversample.prepare_training_set(strategy, xtr, ytr, seed=int(seed), synthetic_x=syn,
                                                 synthetic_class=synthetic_class)
            val_scores, test_scores, fit_seconds, best_epoch = _fit_ann(
                ts, settings, int(seed), (xva_flat, yva), xte_flat, verbose)
            row = _record(
                table, ctx=ctx, classifier="ann", strategy=strategy, seed=int(seed), fingerprint=fp,
                features=_ANN_FEATURES, y_test=yte, test_scores=test_scores, y_val=yva,
                val_scores=val_scores, n_train=len(ts), n_synthetic=ts.n_synthetic,
                fit_seconds=fit_seconds,
            )
            print(f"ann           {strategy:13s} seed {seed}: test ROC-AUC {row['roc_auc']:.3f}, "
                  f"F1 {row['f1']:.3f}, NORMAL F1 {row['f1_normal']:.3f} (best epoch "
                  f"{best_epoch}, fit {fit_seconds:.1f} s)")
    return table.rows(grid_keys)
