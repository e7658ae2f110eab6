"""Image classifiers for notebook 05: a small CNN, DenseNet121, and a resumable training loop.

* :func:`build_cnn` - the CNN of Sumithra Devi K A et al. (DSATM): blocks of Conv2D(3x3) -> BatchNorm -> ReLU -> MaxPool,
  then Dense + Dropout and a sigmoid output (P(PNEUMONIA)).
* :func:`build_densenet121` - ``keras.applications.DenseNet121`` (ImageNet weights when they can
  be downloaded, otherwise from scratch - said out loud, never silently) behind gray -> RGB,
  optional resizing and DenseNet's own ``torch``-mode preprocessing.
* :func:`fit_classifier` - Adam + binary cross-entropy on a seeded ``tf.data`` pipeline; early
  stopping and the best checkpoint follow the *exact* validation ROC-AUC (scikit-learn; Keras'
  200-threshold AUC can read 0.5 for whole epochs); ``BackupAndRestore`` lets an interrupted run resume at its next epoch. Run folder::

      run_dir/
        spec.json          what was trained, with a fingerprint of its inputs (another spec stops)
        backup/            BackupAndRestore state while a run is in progress
        best.weights.h5    weights of the best epoch (exact val AUC), written atomically
        history.csv        epoch, loss, accuracy, auc, val_loss, val_accuracy, val_auc_exact, seconds
        done.json          written last; a finished run is loaded instead of retrained

* :func:`predict_scores` - P(PNEUMONIA) per image.

Models take raw ``uint8``-range gray images ``(N, S, S)`` or ``(N, S, S, 1)`` (as float); every
rescaling happens inside the model, so the same arrays go to every model.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.classifiers.callbacks import ValAUCCallback
from helpers.classifiers.layers import GrayToRGB
from helpers.classifiers.recipes import RECIPES, Recipe
from helpers.core.artifacts import atomic_write, load_json, save_json
from helpers.core.provenance import (
    ProvenanceError,
    array_digest,
    fingerprint_id,
    mismatch_error,
    normalise,
)
from helpers.core.runtime import enable_mixed_precision_if_gpu
from helpers.data.images import BN_MOMENTUM, IMAGENET_MEAN, IMAGENET_STD, as_model_batch
from helpers.data.streaming import epoch_orders

if TYPE_CHECKING:
    from helpers.oversampling.oversample import TrainSet

__all__ = [
    "HISTORY_COLUMNS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DENSENET_MIN_SIZE",
    "GrayToRGB",
    "build_cnn",
    "build_densenet121",
    "fit_classifier",
    "reset_weights",
    "WarmupCosine",
    "predict_scores",
    "to_model_input",
    "TTA_SHIFTS",
    "predict_tta",
    "adapt_batchnorm",
]

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch", "loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc_exact", "val_balanced_accuracy",
    "seconds",
)
DENSENET_MIN_SIZE = 32


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------




def build_cnn(
    input_size: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    dense: int = 128,
    dropout: float = 0.5,
    head: str = "flatten",
    name: str = "cnn",
) -> keras.Model:
    """The small CNN of Sumithra Devi K A et al. for ``(input_size, input_size, 1)`` images in the 0-255 range.

    Rescaling(1/255), then per entry of ``filters`` Conv2D(3x3, "same") -> BatchNormalization ->
    ReLU -> MaxPool(2), then Flatten (``head="flatten"``, the paper's) or global average pooling
    (``head="gap"``), Dense(``dense``, ReLU) + Dropout(``dropout``) and Dense(1, sigmoid) kept in
    float32 so mixed precision on a GPU stays numerically safe.
    """
    if input_size < 2 ** len(filters):
        raise ValueError(f"input_size {input_size} is too small for {len(filters)} pooling blocks")
    if head not in ("flatten", "gap"):
        raise ValueError(f"head must be 'flatten' or 'gap', not {head!r}")
    enable_mixed_precision_if_gpu()
    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(int(f), 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x) if head == "flatten" else (
        keras.layers.GlobalAveragePooling2D(name="gap")(x)
    )
    x = keras.layers.Dense(int(dense), activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name)


def _describe_weights(weights: str | None) -> str:
    if weights is None:
        return "from scratch (random init)"
    if weights == "imagenet":
        return "ImageNet"
    return f"weights from {weights}"


def build_densenet121(
    input_size: int,
    weights: str | None,
    *,
    image_size: int | None = None,
    name: str = "densenet121",
) -> tuple[keras.Model, str]:
    """DenseNet121 with a sigmoid head for gray images; returns ``(model, weights description)``.

    ``image_size`` is the size of the images fed in (default ``input_size``); when it differs,
    a ``Resizing`` layer brings them to ``input_size`` (DenseNet needs >= 32 px, so 28 px
    PneumoniaMNIST runs with ``input_size=32, image_size=28``). Inside the model: gray -> 3
    channels, ``/255`` and ImageNet mean/std (what ``densenet.preprocess_input`` does), the
    DenseNet121 backbone (``pooling="avg"``) and Dense(1, sigmoid, float32).

    ``weights="imagenet"`` that cannot be downloaded prints one line and builds from scratch; the
    description then reads ``"from scratch (ImageNet weights unavailable: ...)"``.
    """
    image_size = int(input_size if image_size is None else image_size)
    input_size = int(input_size)
    if input_size < DENSENET_MIN_SIZE:
        hint = (
            f" Pass input_size={DENSENET_MIN_SIZE}, image_size={image_size} to resize inside the model."
            if image_size == input_size else ""
        )
        raise ValueError(
            f"DenseNet121 needs input_size >= {DENSENET_MIN_SIZE} px, got {input_size}.{hint}"
        )
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    enable_mixed_precision_if_gpu()
    shape = (input_size, input_size, 3)
    description = _describe_weights(weights)
    try:
        backbone = keras.applications.DenseNet121(
            include_top=False, weights=weights, input_shape=shape, pooling="avg"
        )
    except Exception as err:  # no network, bad file, ...: say so and go on from scratch
        if weights is None:
            raise
        reason = re.sub(r"\s+on\s+https?://\S+?:(?=\s)", ":", f"{type(err).__name__}: {err}")
        reason = re.sub(r"https?://\S+", "<url>", reason)
        reason = " ".join(reason.split())[:160]
        what = "ImageNet" if weights == "imagenet" else str(weights)
        print(f"DenseNet121: {what} weights unavailable ({reason}); building from scratch (weights=None).")
        backbone = keras.applications.DenseNet121(
            include_top=False, weights=None, input_shape=shape, pooling="avg"
        )
        description = f"from scratch ({what} weights unavailable: {reason})"
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = inputs
    if image_size != input_size:
        x = keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(x)
    x = GrayToRGB(name="gray_to_rgb")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = keras.layers.Normalization(
        mean=list(IMAGENET_MEAN), variance=[s**2 for s in IMAGENET_STD], name="imagenet_norm"
    )(x)
    x = backbone(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="pneumonia")(x)
    return keras.Model(inputs, outputs, name=name), description


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def to_model_input(images: Any) -> np.ndarray:
    """``(N, S, S)`` or ``(N, S, S, 1)`` images -> float32 ``(N, S, S, 1)`` in the 0-255 range."""
    return as_model_batch(images)


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


def _train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    *,
    batch_size: int,
    steps: int,
    seed: int,
    start_epoch: int,
    epochs: int,
    augment: Sequence[keras.Model] = (),
) -> tf.data.Dataset:
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


# --------------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------------


def _read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return pd.read_csv(path)


class _ResumableValAUC(ValAUCCallback):
    """:class:`ValAUCCallback` that also logs val loss/accuracy and rebuilds its state on resume.

    On resume (first epoch > 0) the best AUC, best epoch and patience counter are replayed from
    ``history.csv`` and the best weights are read back from the best checkpoint.
    """

    def __init__(self, x_val: np.ndarray, y_val: np.ndarray, *, history_path: Path,
                 expected_start: int, **kwargs: Any) -> None:
        super().__init__(x_val, y_val, **kwargs)
        self.history_path = history_path
        self.expected_start = expected_start
        self.start_epoch: int | None = None
        self._last_scores: np.ndarray | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.start_epoch = None

    def _val_scores(self) -> np.ndarray:
        self._last_scores = super()._val_scores()
        return self._last_scores

    def _restore(self, start: int) -> None:
        hist = _read_history(self.history_path)
        hist = hist[hist["epoch"] <= start].sort_values("epoch")
        for epoch0, auc in enumerate(hist["val_auc_exact"].astype(float)):
            self.aucs.append(auc)
            if np.isfinite(auc) and (self.best_epoch is None or auc > self.best_auc + self.min_delta):
                self.best_auc, self.best_epoch, self._wait = auc, epoch0, 0
            else:
                self._wait += 1
        path = self.checkpoint_path
        if self.best_epoch is not None and path is not None and path.exists():
            current = [np.array(v) for v in self.model.get_weights()]
            opt = self.model.optimizer
            opt_state = [np.array(v) for v in opt.variables] if opt is not None and opt.built else None
            self.model.load_weights(path)
            self.best_weights = [np.array(v, copy=True) for v in self.model.get_weights()]
            self.model.set_weights(current)
            if opt_state is not None:
                for var, value in zip(opt.variables, opt_state, strict=True):
                    var.assign(value)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.start_epoch is None:
            self.start_epoch = epoch
            if epoch > 0:
                self._restore(epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if logs is not None and self._last_scores is not None:
            p = np.clip(self._last_scores, 1e-7, 1 - 1e-7)
            y = self.y_val
            logs["val_loss"] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
            logs["val_accuracy"] = float(np.mean((self._last_scores >= 0.5) == (y == 1)))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.start_epoch is None and self.expected_start > 0:  # resumed after the last epoch
            self.start_epoch = self.expected_start
            self._restore(self.expected_start)
        super().on_train_end(logs)


class _HistoryCSV(keras.callbacks.Callback):
    """Write one row per epoch to ``history.csv`` (atomically), keeping rows of earlier sessions."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.rows: list[dict[str, float]] | None = None
        self._t0 = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.rows = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.rows is None:
            hist = _read_history(self.path)
            self.rows = hist[hist["epoch"] <= epoch].to_dict("records")
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        row = {"epoch": epoch + 1}
        for key in HISTORY_COLUMNS[1:-1]:
            row[key] = float(logs[key]) if key in logs else float("nan")
        row["seconds"] = time.perf_counter() - self._t0
        assert self.rows is not None
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        with atomic_write(self.path) as tmp:
            pd.DataFrame(self.rows, columns=list(HISTORY_COLUMNS)).to_csv(tmp, index=False)


class _RNGState(keras.callbacks.Callback):
    """Back up the model's random-generator states (dropout) per epoch; restore them on resume.

    ``BackupAndRestore`` saves weights and optimizer state but not the ``SeedGenerator`` counters,
    so without this a resumed run would draw other dropout masks than an uninterrupted one.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._started = False

    def _variables(self) -> list:
        return [v for v in self.model.variables if "seed_generator_state" in v.path]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._started = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._started:
            return
        self._started = True
        if epoch == 0 or not self.path.exists():
            return
        with np.load(self.path) as saved:
            if int(saved["epoch"]) != epoch:
                return
            values = [saved[f"v{i}"] for i in range(int(saved["n"]))]
        variables = self._variables()
        if len(values) == len(variables):
            for var, value in zip(variables, values, strict=True):
                var.assign(value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(self._variables())}
        with atomic_write(self.path) as tmp:
            np.savez(tmp, epoch=epoch + 1, n=len(arrays), **arrays)


def _backup_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will resume at (0 without a backup)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(load_json(backup_dir / name)["epoch"])
        except Exception:  # missing or half-written: BackupAndRestore falls back the same way
            continue
    return 0


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


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


def fit_classifier(
    model: keras.Model,
    train: TrainSet,
    x_val: Any,
    y_val: Any,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    patience: int | None,
    run_dir: str | Path,
    max_steps_per_epoch: int | None = None,
    learning_rate: float | None = None,
    recipe: Recipe | None = None,
    verbose: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    fingerprint: Mapping[str, Any] | None = None,
) -> tuple[keras.Model, pd.DataFrame, float]:
    """Train ``model`` on ``train`` with early stopping on the exact val ROC-AUC; resumable.

    ``train`` is a :class:`helpers.oversampling.oversample.TrainSet` (``x``, ``y``, ``sample_weight``,
    ``class_weight``, ``augment``, ...). Class weights are folded into per-sample weights (the
    same loss as ``fit(class_weight=...)``, and combinable with synthetic-sample weights). With
    ``train.augment`` the batches go through ``helpers.data.augment.augmentation_layers(seed)``.
    ``recipe`` (:mod:`helpers.classifiers.recipes`; default the reference recipe, Adam at ``learning_rate``
    or 1e-3) sets the optimizer, schedule, loss and the augmentation every batch gets.
    ``batch_size`` is per replica: a model built in a ``tf.distribute`` strategy's scope (the deep
    grid uses :func:`helpers.core.runtime.distribution_strategy`) trains on ``batch_size x replicas``.

    Each epoch: ``loss``, ``accuracy``, ``auc`` (``keras.metrics.AUC``, for curves only) on train;
    ``val_loss``, ``val_accuracy``, ``val_auc_exact`` on val. Early stopping (``patience``) and the
    best checkpoint use ``val_auc_exact`` only. An interrupted run resumes at its next epoch; a
    finished one (``done.json`` with the same spec) is loaded instead of retrained. The spec holds
    the model, the settings, a digest of the training/val arrays and the caller's ``fingerprint``
    (data id, synthetic images, ...); a folder holding a run with another spec stops with a
    :class:`helpers.core.provenance.ProvenanceError` instead of being reused or silently overwritten.
    Extra ``callbacks`` run after the built-in ones.

    Returns ``(model with the best weights, per-epoch history, fit seconds)``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    policy = enable_mixed_precision_if_gpu()
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
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

    if recipe is None:
        recipe = RECIPES["reference"]
    if learning_rate is not None:
        recipe = dataclasses.replace(recipe, learning_rate=float(learning_rate))
    replicas = int(model.distribute_strategy.num_replicas_in_sync)
    per_replica, batch_size = int(batch_size), int(batch_size) * replicas  # batch_size is per replica
    steps = math.ceil(len(y) / batch_size)
    if max_steps_per_epoch:
        steps = min(steps, int(max_steps_per_epoch))
    extra: dict[str, Any] = {} if recipe.name == "reference" else {"recipe": recipe.settings()}
    if replicas > 1:
        extra["replicas"] = replicas
    if policy != "float32":
        extra["dtype_policy"] = policy
    spec = _spec(
        model, train, len(yv), epochs=int(epochs), batch_size=per_replica, seed=int(seed),
        patience=patience, steps_per_epoch=int(steps), learning_rate=float(recipe.learning_rate), **extra,
        data_digest=array_digest(x, y, w, xv, yv),
        fingerprint=fingerprint_id(fingerprint) if fingerprint is not None else None,
    )
    best_path = run_dir / "best.weights.h5"
    history_path = run_dir / "history.csv"
    spec_path, done_path = run_dir / "spec.json", run_dir / "done.json"
    if spec_path.exists():
        saved = load_json(spec_path)
        if normalise(saved) != normalise(spec):
            raise mismatch_error(run_dir, saved, spec, "classifier run")
    elif any(run_dir.glob("*.weights.h5")) or (run_dir / "backup").exists():
        raise ProvenanceError(f"{run_dir} holds a classifier run without its spec.json: its inputs are "
                              "unknown. Delete that folder, use another run_dir, or fresh=True / --fresh.")
    if done_path.exists() and best_path.exists():
        done = load_json(done_path)
        model.load_weights(best_path)
        return model, _read_history(history_path), float(done["fit_seconds"])
    done_path.unlink(missing_ok=True)
    save_json(spec_path, spec)

    _compile_once(model, recipe, epochs=epochs, steps_per_epoch=steps)
    model._initial_epoch = None  # Keras never resets what BackupAndRestore set on an earlier fit
    backup_dir = run_dir / "backup"
    start = min(_backup_epoch(backup_dir), epochs)
    if start == 0:
        history_path.unlink(missing_ok=True)
        best_path.unlink(missing_ok=True)
    augment = []
    if getattr(train, "augment", False):
        from helpers.data.augment import augmentation_layers

        augment.append(augmentation_layers(seed))
    if recipe.augments:
        augment.append(recipe.augmentation(seed + 100))
    ds = _train_dataset(
        x, y, w, batch_size=batch_size, steps=steps, seed=seed, start_epoch=start,
        epochs=epochs, augment=augment,
    )
    earlier = _read_history(history_path)
    earlier_seconds = float(earlier.loc[earlier["epoch"] <= start, "seconds"].sum())
    val_cb = _ResumableValAUC(
        xv, yv, history_path=history_path, expected_start=start, batch_size=256,
        patience=patience, checkpoint_path=best_path, verbose=verbose,
    )
    cbs = [
        val_cb,
        _HistoryCSV(history_path),
        _RNGState(backup_dir / "rng_state.npz"),
        # last of the built-ins: an epoch counts as done once history and checkpoint are written
        keras.callbacks.BackupAndRestore(str(backup_dir), double_checkpoint=True),
        *callbacks,
    ]
    t0 = time.perf_counter()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=cbs, verbose=verbose,
              shuffle=False)  # the dataset is already shuffled, per (seed, epoch)
    fit_seconds = earlier_seconds + (time.perf_counter() - t0)
    if val_cb.best_weights is None and best_path.exists():
        model.load_weights(best_path)
    history = _read_history(history_path)
    best_epoch = None if val_cb.best_epoch is None else int(val_cb.best_epoch) + 1
    save_json(done_path, {
        "epochs_run": int(len(history)),
        "best_epoch": best_epoch,
        "best_val_auc": None if best_epoch is None else float(val_cb.best_auc),
        "stopped_early": val_cb.stopped_epoch is not None,
        "resumed_at_epoch": int(start) + 1 if start else None,
        "fit_seconds": float(fit_seconds),
        "spec": spec,
    })
    return model, history, float(fit_seconds)


def predict_scores(model: keras.Model, images: Any, batch_size: int = 256) -> np.ndarray:
    """P(PNEUMONIA = 1) per image, shape ``(N,)`` (float64); converts 4,096 images at a time."""
    n = len(images)
    out = np.zeros(n, dtype=np.float64)
    chunk = 4096
    for start in range(0, n, chunk):
        x = to_model_input(images[start:start + chunk])
        pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
        out[start:start + len(x)] = pred.reshape(len(x), -1)[:, 0]
    return out


# --------------------------------------------------------------------------------------------------
# Test-time levers
# --------------------------------------------------------------------------------------------------


#: Test-time augmentation: shifts (rows, columns) in pixels; no flips (the heart sits on one side).
TTA_SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2))


def predict_tta(model: keras.Model, images: Any, shifts: Sequence[tuple[int, int]] = TTA_SHIFTS,
                batch_size: int = 256) -> np.ndarray:
    """Mean P(PNEUMONIA) over shifted copies of each image (edges repeated, never wrapped around)."""
    x = np.asarray(images)
    x = x[..., 0] if x.ndim == 4 else x
    h, w = x.shape[1:3]
    pad = max((max(abs(r), abs(c)) for r, c in shifts), default=0)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    views = [padded[:, pad - r:pad - r + h, pad - c:pad - c + w] for r, c in shifts]
    return np.mean([predict_scores(model, v, batch_size=batch_size) for v in views], axis=0)


def adapt_batchnorm(model: keras.Model, images: Any) -> keras.Model:
    """A copy of ``model`` whose batch-norm statistics are those of ``images`` (all other weights kept).

    Transductive when ``images`` are the unlabelled test images: the model sees the test split's
    distribution (not its labels) before scoring it. Rows made this way must say so.
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    norms = [layer for layer in clone._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        raise ValueError(f"{model.name} has no BatchNormalization layer to adapt")
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become those of the one batch below
    clone(to_model_input(images), training=True)  # one batch: every image's statistics at once
    return clone
