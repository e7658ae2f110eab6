"""Chapter 5's resumable training loop: :func:`fit_classifier` with a :class:`FitSettings`.

Adam (or a :mod:`~helpers.classifiers.recipes` recipe) + binary cross-entropy on a seeded ``tf.data``
pipeline; early stopping and the best checkpoint follow the exact validation ROC-AUC; an interrupted
run resumes at its next epoch. Run folder::

    run_dir/
      spec.json          what was trained, with a fingerprint of its inputs (another spec stops)
      backup/            BackupAndRestore state while a run is in progress
      best.weights.h5    weights of the best epoch (exact val AUC), written atomically
      history.csv        one row per epoch (callbacks.HISTORY_COLUMNS)
      done.json          written last; a finished run is loaded instead of retrained
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.classifiers.callbacks import (
    HistoryCSV,
    ResumableValAUC,
    RNGState,
    backup_epoch,
    read_history,
)
from helpers.classifiers.models import to_model_input
from helpers.classifiers.recipes import RECIPES, Recipe
from helpers.core.artifacts import load_json, save_json
from helpers.core.provenance import (
    ProvenanceError,
    array_digest,
    fingerprint_id,
    mismatch_error,
    normalise,
)
from helpers.core.runtime import enable_mixed_precision_if_gpu
from helpers.data.streaming import epoch_orders

if TYPE_CHECKING:
    from helpers.oversampling.oversample import TrainSet

__all__ = ["FitSettings", "WarmupCosine", "fit_classifier", "reset_weights"]


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit_classifier` trains. ``batch_size`` is per replica; ``patience=None`` never stops early;
    ``max_steps_per_epoch`` caps the batches per epoch."""

    epochs: int
    batch_size: int
    seed: int
    patience: int | None
    max_steps_per_epoch: int | None = None
    recipe: Recipe = RECIPES["reference"]
    verbose: int = 0


def _train_weights(train: Any, y: np.ndarray) -> np.ndarray | None:
    """Per-sample weights: ``sample_weight`` times ``class_weight[y]`` (None when both are absent)."""
    sw = getattr(train, "sample_weight", None)
    cw = getattr(train, "class_weight", None)
    if sw is None and not cw:
        return None
    w = np.ones(len(y), dtype=np.float32) if sw is None else np.asarray(sw, dtype=np.float32).ravel()
    if len(w) != len(y):
        raise ValueError(f"{len(w)} sample weights for {len(y)} training images")
    if cw:
        missing = {int(c) for c in np.unique(y)} - {int(k) for k in cw}
        if missing:
            raise ValueError(f"class_weight {cw} lacks the classes {sorted(missing)}")
        w = w * np.array([float(cw[int(c)]) for c in y], dtype=np.float32)
    return w


def _train_dataset(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, *, batch_size: int, steps: int, seed: int,
                   start_epoch: int, epochs: int, augment: Sequence[keras.Model] = ()) -> tf.data.Dataset:
    """Batches for epochs ``start_epoch..epochs-1``; each epoch's order depends only on (seed, epoch).

    So a run resumed at epoch ``k`` sees the same batches as an uninterrupted one (up to the
    augmentation draws). ``x`` stays uint8 in memory and is gathered + cast per batch.
    """
    n = len(y)
    per_epoch = min(n, steps * batch_size)
    order = epoch_orders(n, per_epoch, seed, start_epoch, epochs)
    x_t = tf.constant(x)
    y_t = tf.constant(y.astype(np.float32).reshape(-1, 1))
    w_t = None if w is None else tf.constant(w.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices(order).flat_map(
        lambda idx: tf.data.Dataset.from_tensor_slices(idx).batch(batch_size)
    )

    def gather(idx: tf.Tensor) -> tuple:
        xb = tf.cast(tf.gather(x_t, idx), tf.float32)
        yb = tf.gather(y_t, idx)
        if w_t is None:
            return xb, yb
        return xb, yb, tf.gather(w_t, idx)

    ds = ds.map(gather)  # cheap; a parallel map only adds TF log noise here
    for layers in augment:
        # sequential: the augmentation layers draw from one seeded generator, in batch order
        ds = ds.map(lambda xb, *rest, layers=layers: (layers(xb, training=True), *rest))
    return ds.prefetch(tf.data.AUTOTUNE)



def _spec(model: keras.Model, train: Any, n_val: int, **kw: Any) -> dict[str, Any]:
    return {
        "model": model.name,
        "n_params": int(model.count_params()),
        "input_shape": list(model.input_shape[1:]),
        "n_train": int(len(train.y)),
        "n_synthetic": int(getattr(train, "n_synthetic", 0) or 0),
        "augment": bool(getattr(train, "augment", False)),
        "n_val": int(n_val),
        **kw,
    }


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak``, then a cosine decay to 0 at ``total`` steps.

    The step counts live in variables so one compiled (and traced) model can train runs of other
    lengths: :meth:`set_steps` changes them without re-compiling.
    """

    def __init__(self, peak: float, total: int = 1, warmup: int = 0) -> None:
        self.peak = float(peak)
        self.total = tf.Variable(float(max(total, 1)), trainable=False, dtype=tf.float32)
        self.warmup = tf.Variable(float(warmup), trainable=False, dtype=tf.float32)

    def set_steps(self, total: int, warmup: int) -> None:
        self.total.assign(float(max(int(total), 1)))
        self.warmup.assign(float(min(int(warmup), max(int(total) - 1, 0))))

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        warm = self.peak * step / tf.maximum(self.warmup, 1.0)
        frac = tf.clip_by_value((step - self.warmup) / tf.maximum(self.total - self.warmup, 1.0), 0.0, 1.0)
        cos = 0.5 * self.peak * (1.0 + tf.cos(math.pi * frac))
        return tf.where(step < self.warmup, warm, cos)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total": int(self.total.numpy()), "warmup": int(self.warmup.numpy())}


def _compile_once(model: keras.Model, recipe: Recipe, *, epochs: int, steps_per_epoch: int) -> None:
    """Compile ``model`` for ``recipe`` the first time; afterwards clear the optimizer state and metrics.

    Re-compiling drops Keras' traced train function, and tracing DenseNet121 costs about 40-50 s on
    a CPU: a grid that re-uses one model per architecture (see :func:`reset_weights`) traces once.
    A cosine schedule's length is a variable, set here for each run without re-compiling.
    """
    signature = normalise(recipe.settings())
    total, warmup = int(epochs) * int(steps_per_epoch), int(round(recipe.warmup_epochs * steps_per_epoch))
    if getattr(model, "_helpers_compiled", None) == signature and model.optimizer.built:
        for v in model.optimizer.variables:
            if not v.path.endswith("learning_rate"):
                v.assign(np.zeros(v.shape, dtype=v.dtype))
        model.reset_metrics()
    else:
        with model.distribute_strategy.scope():  # the strategy the model was built under (tf.distribute)
            lr: Any = WarmupCosine(recipe.learning_rate) if recipe.schedule == "cosine" else recipe.learning_rate
            opt = (keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay) if recipe.optimizer == "adamw"
                   else keras.optimizers.Adam(lr))
            model.compile(
                optimizer=opt, loss=keras.losses.BinaryCrossentropy(label_smoothing=recipe.label_smoothing),
                metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
            )
        model._helpers_compiled = signature
        model._helpers_schedule = lr if isinstance(lr, WarmupCosine) else None
    if model._helpers_schedule is not None:
        model._helpers_schedule.set_steps(total, warmup)


def reset_weights(model: keras.Model, template: keras.Model) -> keras.Model:
    """Give ``model`` the freshly drawn weights of ``template`` (same architecture, built under the run's seed).

    With :func:`fit_classifier`'s compile-once this re-draws a run's initial weights without
    re-tracing the model; the optimizer state is cleared by the next fit.
    """
    if len(model.weights) != len(template.weights):
        raise ValueError(f"{template.name} does not have the architecture of {model.name}")
    model.set_weights(template.get_weights())
    # dropout's random-generator states too, so the run draws the masks a new model would
    rng = [v for v in model.variables if "seed_generator_state" in v.path]
    rng_new = [v for v in template.variables if "seed_generator_state" in v.path]
    for var, value in zip(rng, rng_new, strict=True):
        var.assign(value)
    return model



def _arrays(model: keras.Model, train: Any, x_val: Any, y_val: Any) -> tuple[np.ndarray, ...]:
    """Checked ``(x uint8 (N, S, S), y, per-sample weights or None, x_val, y_val)``."""
    x = np.asarray(train.x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"training images must be (N, S, S), got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    y = np.asarray(train.y).ravel().astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} training images but {len(y)} labels")
    if set(np.unique(y)) - {0, 1}:
        raise ValueError(f"labels must be binary 0/1, got {sorted(set(np.unique(y)))}")
    w = _train_weights(train, y)
    xv = to_model_input(x_val)
    yv = np.asarray(y_val).ravel().astype(np.int64)
    if len(xv) != len(yv):
        raise ValueError(f"{len(xv)} validation images but {len(yv)} labels")
    if tuple(model.input_shape[1:3]) != x.shape[1:]:
        raise ValueError(f"model expects {model.input_shape[1:3]} images, training images are {x.shape[1:]}")
    return x, y, w, xv, yv


def _check_folder(run_dir: Path, spec: dict[str, Any]) -> None:
    """Stop when ``run_dir`` holds a run of another spec, or one without its spec."""
    spec_path = run_dir / "spec.json"
    if spec_path.exists():
        saved = load_json(spec_path)
        if normalise(saved) != normalise(spec):
            raise mismatch_error(run_dir, saved, spec, "classifier run")
    elif any(run_dir.glob("*.weights.h5")) or (run_dir / "backup").exists():
        raise ProvenanceError(f"{run_dir} holds a classifier run without its spec.json: its inputs are "
                              "unknown. Delete that folder, use another run_dir, or fresh=True / --fresh.")


def _run_spec(model: keras.Model, train: Any, arrays: tuple[np.ndarray, ...], settings: FitSettings, policy: str,
              fingerprint: Mapping[str, Any] | None) -> tuple[dict[str, Any], int, int]:
    """The run's spec (what was trained, from what), the global batch size and the steps per epoch."""
    recipe = settings.recipe
    x, y, w, xv, yv = arrays
    replicas = int(model.distribute_strategy.num_replicas_in_sync)
    per_replica = int(settings.batch_size)
    batch_size = per_replica * replicas
    steps = math.ceil(len(y) / batch_size)
    if settings.max_steps_per_epoch:
        steps = min(steps, int(settings.max_steps_per_epoch))
    extra: dict[str, Any] = {} if recipe.name == "reference" else {"recipe": recipe.settings()}
    if replicas > 1:
        extra["replicas"] = replicas
    if policy != "float32":
        extra["dtype_policy"] = policy
    spec = _spec(
        model, train, len(yv), epochs=int(settings.epochs), batch_size=per_replica, seed=int(settings.seed),
        patience=settings.patience, steps_per_epoch=int(steps), learning_rate=float(recipe.learning_rate),
        **extra, data_digest=array_digest(x, y, w, xv, yv),
        fingerprint=fingerprint_id(fingerprint) if fingerprint is not None else None,
    )
    return spec, batch_size, steps


def _batches(train: Any, arrays: tuple[np.ndarray, ...], settings: FitSettings, *, batch_size: int, steps: int,
             start: int) -> tf.data.Dataset:
    """The training batches from epoch ``start`` on, through ``train.augment``'s and the recipe's augmentation."""
    seed, recipe = settings.seed, settings.recipe
    augment = []
    if getattr(train, "augment", False):
        from helpers.data.augment import augmentation_layers

        augment.append(augmentation_layers(seed))
    if recipe.augments:
        augment.append(recipe.augmentation(seed + 100))
    x, y, w = arrays[:3]
    return _train_dataset(x, y, w, batch_size=batch_size, steps=steps, seed=seed, start_epoch=start,
                          epochs=settings.epochs, augment=augment)


def _finish(run_dir: Path, model: keras.Model, val_cb: ResumableValAUC, start: int, fit_seconds: float,
            spec: dict[str, Any]) -> pd.DataFrame:
    """Load the best weights when the callback holds none, write ``done.json``; the history."""
    best_path = run_dir / "best.weights.h5"
    if val_cb.best_weights is None and best_path.exists():
        model.load_weights(best_path)
    history = read_history(run_dir / "history.csv")
    best_epoch = None if val_cb.best_epoch is None else int(val_cb.best_epoch) + 1
    save_json(run_dir / "done.json", {
        "epochs_run": int(len(history)),
        "best_epoch": best_epoch,
        "best_val_auc": None if best_epoch is None else float(val_cb.best_auc),
        "stopped_early": val_cb.stopped_epoch is not None,
        "resumed_at_epoch": int(start) + 1 if start else None,
        "fit_seconds": float(fit_seconds),
        "spec": spec,
    })
    return history


def fit_classifier(model: keras.Model, train: TrainSet, x_val: Any, y_val: Any, settings: FitSettings, *,
                   run_dir: str | Path, fingerprint: Mapping[str, Any] | None = None,
                   callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[keras.Model, pd.DataFrame, float]:
    """Train ``model`` on ``train`` (a ``TrainSet``) with early stopping on the exact val ROC-AUC; resumable.

    Class weights are folded into per-sample weights; ``train.augment`` and the recipe's augmentation
    transform every batch. The spec (model, settings, a digest of the arrays and the caller's
    ``fingerprint``) must match a folder's earlier run, else ``ProvenanceError``; a finished run is
    loaded. Extra ``callbacks`` run after the built-in ones.
    Returns ``(model with the best weights, per-epoch history, fit seconds)``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    policy = enable_mixed_precision_if_gpu()
    if settings.epochs < 1 or settings.batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {settings.epochs}, {settings.batch_size}")
    arrays = _arrays(model, train, x_val, y_val)
    spec, batch_size, steps = _run_spec(model, train, arrays, settings, policy, fingerprint)
    best_path, history_path, done_path = run_dir / "best.weights.h5", run_dir / "history.csv", run_dir / "done.json"
    _check_folder(run_dir, spec)
    if done_path.exists() and best_path.exists():
        done = load_json(done_path)
        model.load_weights(best_path)
        return model, read_history(history_path), float(done["fit_seconds"])
    done_path.unlink(missing_ok=True)
    save_json(run_dir / "spec.json", spec)

    _compile_once(model, settings.recipe, epochs=settings.epochs, steps_per_epoch=steps)
    model._initial_epoch = None  # Keras never resets what BackupAndRestore set on an earlier fit
    backup_dir = run_dir / "backup"
    start = min(backup_epoch(backup_dir), settings.epochs)
    if start == 0:
        history_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    ds = _batches(train, arrays, settings, batch_size=batch_size, steps=steps, start=start)
    earlier = read_history(history_path)
    earlier_seconds = float(earlier.loc[earlier["epoch"] <= start, "seconds"].sum())
    val_cb = ResumableValAUC(arrays[3], arrays[4], history_path=history_path, expected_start=start, batch_size=256,
                             patience=settings.patience, checkpoint_path=best_path, verbose=settings.verbose)
    cbs = [
        val_cb,
        HistoryCSV(history_path),
        RNGState(backup_dir / "rng_state.npz"),
        # last of the built-ins: an epoch counts as done once history and checkpoint are written
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True),
        *callbacks,
    ]
    t0 = time.perf_counter()
    model.fit(ds, epochs=settings.epochs, steps_per_epoch=steps, callbacks=cbs, verbose=settings.verbose,
              shuffle=False)  # the dataset is already shuffled, per (seed, epoch)
    fit_seconds = earlier_seconds + (time.perf_counter() - t0)
    return model, _finish(run_dir, model, val_cb, start, fit_seconds, spec), float(fit_seconds)
