"""Chapter 7's classifier: chapter 5's CNN with one sigmoid output per finding, trained on mean val AUROC."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from helpers.classifiers.callbacks import ValAUCCallback
from helpers.core import artifacts, provenance
from helpers.data import streaming
from helpers.data.augment import augmentation_layers
from helpers.data.images import as_model_batch
from helpers.multilabel.metrics import accuracies, per_finding_auroc


def build_cnn_multilabel(
    input_size: int, n_outputs: int, *, filters: Sequence[int] = (32, 64, 128), dense: int = 128,
    dropout: float = 0.5, head: str = "flatten", name: str = "cnn_multilabel",
) -> keras.Model:
    """Chapter 5's CNN (:func:`helpers.classifiers.build_cnn`) with a float32 Dense(``n_outputs``, sigmoid)
    head named ``findings``, built in :func:`helpers.core.runtime.distribution_strategy`'s scope.
    """
    from helpers.classifiers import build_cnn
    from helpers.core.runtime import distribution_strategy

    if int(n_outputs) < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
    with distribution_strategy().scope():
        body = build_cnn(int(input_size), filters=filters, dense=dense, dropout=dropout, head=head, name=name)
        x = body.get_layer("dropout").output
        outputs = keras.layers.Dense(int(n_outputs), activation="sigmoid", dtype="float32", name="findings")(x)
        return keras.Model(body.input, outputs, name=name)


def predict_multilabel(model: keras.Model, images: Any, batch_size: int = 256) -> np.ndarray:
    """Probabilities ``(N, C)`` (float64), converting 4,096 images (of an array or memory map) at a time."""
    n = len(images)
    out = None
    for start in range(0, n, 4096):
        x = as_model_batch(np.asarray(images[start:start + 4096]))
        pred = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
        if out is None:
            out = np.zeros((n, pred.shape[1]), dtype=np.float64)
        out[start:start + len(x)] = pred
    if out is None:
        out = np.zeros((0, int(model.output_shape[-1])), dtype=np.float64)
    return out


class MeanAUROCCallback(ValAUCCallback):
    """:class:`helpers.classifiers.callbacks.ValAUCCallback` on the mean val AUROC of several sigmoid outputs.

    Findings with one class in ``y_val`` are skipped. Logs ``val_mean_auroc``, ``val_loss``,
    ``val_elementwise_accuracy`` and ``val_exact_match``; ``rows`` keeps one dict per epoch.
    """

    def __init__(self, x_val: Any, y_val: Any, *, batch_size: int = 256, patience: int | None = 5,
                 min_delta: float = 0.0, checkpoint_path: str | Path | None = None, verbose: int = 0) -> None:
        keras.callbacks.Callback.__init__(self)
        self.x_val = x_val
        self.y_val = np.asarray(y_val)
        if self.y_val.ndim != 2 or len(self.y_val) != len(x_val):
            raise ValueError(f"y_val must be (N, C) multi-hot for {len(x_val)} images, got {self.y_val.shape}")
        positives = self.y_val.sum(axis=0)
        self.usable = np.flatnonzero((positives > 0) & (positives < len(self.y_val)))
        if not len(self.usable):
            raise ValueError("no finding has both classes in y_val: the mean val AUROC is undefined")
        self.batch_size, self.patience, self.min_delta = batch_size, patience, min_delta
        self.restore_best_weights = True
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.positive_class, self.verbose = 1, verbose
        self.rows: list[dict[str, float]] = []
        self._t0 = 0.0
        self._reset()

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self.rows = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def _val_scores(self) -> np.ndarray:
        return predict_multilabel(self.model, self.x_val, self.batch_size)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self._val_scores()
        finite = bool(np.all(np.isfinite(scores)))
        auc = float(np.nanmean(per_finding_auroc(self.y_val, scores)[self.usable])) if finite else float("nan")
        p = np.clip(scores, 1e-7, 1 - 1e-7)
        values = {"val_mean_auroc": auc,
                  "val_loss": float(-np.mean(self.y_val * np.log(p) + (1 - self.y_val) * np.log(1 - p)))}
        values["val_elementwise_accuracy"], values["val_exact_match"] = accuracies(self.y_val, scores)
        self.aucs.append(auc)
        if logs is not None:
            logs.update(values)
        improved = self._update_best(auc, epoch)
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items() if k in ("loss", "accuracy")},
               **values, "seconds": time.perf_counter() - self._t0}
        self.rows.append(row)
        if self.verbose:
            print(f"epoch {epoch + 1}: val mean AUROC = {auc:.4f}{' (best)' if improved else ''}")
        if self.patience is not None and self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit_multilabel` trains; ``batch_size`` is per replica, ``max_steps_per_epoch`` caps an epoch."""

    epochs: int
    batch_size: int
    seed: int
    patience: int | None
    augment: bool = True
    max_steps_per_epoch: int | None = None
    learning_rate: float = 1e-3


def _run_spec(model: keras.Model, srcs: list[Any], y: np.ndarray, yv: np.ndarray, s: FitSettings,
              fingerprint: Mapping[str, Any] | None) -> tuple[dict[str, Any], int, int]:
    """``(spec.json contents, global batch size, steps per epoch)`` of one run."""
    n = int(sum(len(x) for x in srcs))
    if y.ndim != 2 or len(y) != n or y.shape[1] != int(model.output_shape[-1]):
        raise ValueError(f"y_train must be ({n}, {model.output_shape[-1]}) multi-hot, got {y.shape}")
    if tuple(model.input_shape[1:3]) != tuple(np.shape(srcs[0])[1:]):
        raise ValueError(f"model expects {model.input_shape[1:3]} images, training images are {np.shape(srcs[0])[1:]}")
    replicas = int(model.distribute_strategy.num_replicas_in_sync)
    per_replica, batch_size = int(s.batch_size), int(s.batch_size) * replicas
    steps = -(-n // batch_size)
    if s.max_steps_per_epoch:
        steps = min(steps, int(s.max_steps_per_epoch))
    spec = {
        "model": model.name, "n_params": int(model.count_params()), "input_shape": list(model.input_shape[1:]),
        "n_outputs": int(y.shape[1]), "n_train": n, "n_val": len(yv), "epochs": int(s.epochs),
        "batch_size": per_replica, **({"replicas": replicas} if replicas > 1 else {}),
        **({"dtype_policy": model.dtype_policy.name} if model.dtype_policy.name != "float32" else {}),
        "steps_per_epoch": int(steps), "seed": int(s.seed), "patience": s.patience,
        "augment": bool(s.augment), "learning_rate": float(s.learning_rate),
        "data_digest": provenance.array_digest(streaming.sources_digest(srcs), y, yv),
        "fingerprint": provenance.fingerprint_id(fingerprint) if fingerprint is not None else None,
    }
    return spec, batch_size, steps


def _finished_run(model: keras.Model, run_dir: Path, spec: dict[str, Any]) -> tuple | None:
    """The saved ``(model, history, done)`` of a finished run with this spec; None when it must (re)train."""
    spec_path, done_path = run_dir / "spec.json", run_dir / "done.json"
    best_path, history_path = run_dir / "best.weights.h5", run_dir / "history.csv"
    if spec_path.exists():
        saved = artifacts.load_json(spec_path)
        if provenance.normalise(saved) != provenance.normalise(spec):
            raise provenance.mismatch_error(run_dir, saved, spec, "classifier run")
        if done_path.exists() and best_path.exists():
            model.load_weights(best_path)
            return model, pd.read_csv(history_path), artifacts.load_json(done_path)
    elif best_path.exists():
        raise provenance.ProvenanceError(f"{run_dir} holds weights without a spec.json: their inputs are unknown. "
                                         f"{provenance.FIX}")
    for stale in (done_path, best_path, history_path):
        stale.unlink(missing_ok=True)
    return None


def fit_multilabel(
    model: keras.Model, train: tuple[Any, Any], val: tuple[Any, Any], settings: FitSettings,
    run_dir: str | os.PathLike, *, fingerprint: Mapping[str, Any] | None = None, verbose: int = 0,
) -> tuple[keras.Model, pd.DataFrame, dict[str, Any]]:
    """Train with binary cross-entropy, keeping the epoch with the best mean val AUROC.

    ``train``: ``(sources, y)``, sources one image array / cache memory map or a list of them indexed as
    one, batched by :func:`helpers.data.streaming.training_dataset` through
    :func:`helpers.data.augment.augmentation_layers` when ``settings.augment``; ``val``: ``(x, y)``.
    ``run_dir`` holds ``spec.json``, ``best.weights.h5``, ``history.csv`` and ``done.json`` (last): a
    finished run with the same spec is loaded; another spec raises ProvenanceError.
    Returns ``(model with the best weights, per-epoch history, done info)``.
    """
    s, run_dir = settings, Path(run_dir)
    srcs = streaming._as_sources(train[0])
    y, yv = np.asarray(train[1], dtype=np.uint8), np.asarray(val[1], dtype=np.uint8)
    spec, batch_size, steps = _run_spec(model, srcs, y, yv, s, fingerprint)
    finished = _finished_run(model, run_dir, spec)
    if finished is not None:
        return finished
    artifacts.save_json(run_dir / "spec.json", spec)
    with model.distribute_strategy.scope():
        model.compile(optimizer=keras.optimizers.Adam(s.learning_rate), loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    ds = streaming.training_dataset(srcs, y, batch_size=int(batch_size), seed=int(s.seed), epochs=int(s.epochs),
                                    steps_per_epoch=steps,
                                    augment=augmentation_layers(int(s.seed)) if s.augment else None)
    cb = MeanAUROCCallback(val[0], yv, patience=s.patience, checkpoint_path=run_dir / "best.weights.h5",
                           verbose=verbose)
    t0 = time.perf_counter()
    model.fit(ds, epochs=int(s.epochs), steps_per_epoch=steps, callbacks=[cb], verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - t0
    history = pd.DataFrame(cb.rows)
    with artifacts.atomic_write(run_dir / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    done = {"epochs_run": len(history), "best_epoch": None if cb.best_epoch is None else int(cb.best_epoch) + 1,
            "best_val_mean_auroc": None if cb.best_epoch is None else float(cb.best_auc),
            "stopped_early": cb.stopped_epoch is not None, "fit_seconds": float(seconds)}
    artifacts.save_json(run_dir / "done.json", done)
    return model, history, done


def load_histories(folder: str | os.PathLike) -> pd.DataFrame:
    """Every finished run's ``history.csv`` under ``folder/models/<arm>/seed<k>/``, with ``arm`` and ``seed``."""
    frames = []
    for path in sorted(Path(folder).glob("models/*/seed*/history.csv")):
        if not (path.parent / "done.json").exists():
            continue
        frame = pd.read_csv(path)
        frame.insert(0, "seed", int(path.parent.name[4:]))
        frame.insert(0, "arm", path.parent.parent.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["arm", "seed", "epoch"])
