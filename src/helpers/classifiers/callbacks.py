"""Keras callbacks: :class:`ValAUCCallback` (exact val ROC-AUC, early stopping, best weights) and
the pieces that make :func:`helpers.classifiers.training.fit_classifier` resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from helpers.core.artifacts import atomic_write, load_json

__all__ = ["ValAUCCallback", "HISTORY_COLUMNS", "ResumableValAUC", "HistoryCSV", "RNGState", "read_history",
           "backup_epoch"]


class ValAUCCallback(keras.callbacks.Callback):
    """Exact validation ROC-AUC (scikit-learn) each epoch, best-weight restore and early stopping.

    Writes ``logs["val_auc_exact"]`` (Keras' 200-threshold AUC can read 0.5 for whole epochs), keeps
    the best weights (optionally also in ``checkpoint_path``: ``*.weights.h5`` or ``*.keras``), stops
    after ``patience`` epochs without an improvement above ``min_delta`` (None: never) and restores
    the best weights at the end. After training: ``best_auc``, ``best_epoch`` (0-based),
    ``best_weights``, ``aucs``, ``stopped_epoch``.
    """

    def __init__(self, x_val: Any, y_val: Any, *, batch_size: int = 256, patience: int | None = 5,
                 min_delta: float = 0.0, restore_best_weights: bool = True,
                 checkpoint_path: str | Path | None = None, positive_class: int = 1, verbose: int = 0) -> None:
        super().__init__()
        self.x_val = x_val
        self.y_val = (np.asarray(y_val).ravel() == positive_class).astype(int)
        if len(np.unique(self.y_val)) < 2:
            raise ValueError(
                "ValAUCCallback needs both classes in y_val (ROC-AUC is undefined otherwise)"
            )
        self.batch_size = batch_size
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.positive_class = positive_class
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.best_auc = -np.inf
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.aucs: list[float] = []
        self.stopped_epoch: int | None = None
        self._wait = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _val_scores(self) -> np.ndarray:
        pred = np.asarray(self.model.predict(self.x_val, batch_size=self.batch_size, verbose=0))
        if pred.ndim == 2 and pred.shape[1] > 1:  # softmax output: take the positive column
            pred = pred[:, self.positive_class]
        return pred.reshape(len(self.y_val), -1)[:, 0].astype(float)

    def _save_checkpoint(self) -> None:
        path = self.checkpoint_path
        assert path is not None
        if path.name.endswith(".weights.h5"):
            with atomic_write(path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
        elif path.suffix == ".keras":
            with atomic_write(path, suffix=".keras") as tmp:
                self.model.save(tmp)
        else:
            raise ValueError(f"checkpoint_path must end in .weights.h5 or .keras, got {path.name}")

    def _update_best(self, auc: float, epoch: int) -> bool:
        """Keep (and checkpoint) the weights when ``auc`` beats the best so far; count patience otherwise."""
        improved = bool(np.isfinite(auc) and (self.best_epoch is None or auc > self.best_auc + self.min_delta))
        if improved:
            self.best_auc, self.best_epoch, self._wait = auc, epoch, 0
            self.best_weights = [np.array(w, copy=True) for w in self.model.get_weights()]
            if self.checkpoint_path is not None:
                self._save_checkpoint()
        else:
            self._wait += 1
        return improved

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        scores = self._val_scores()
        auc = (
            float(roc_auc_score(self.y_val, scores))
            if np.all(np.isfinite(scores))
            else float("nan")
        )
        self.aucs.append(auc)
        if logs is not None:
            logs["val_auc_exact"] = auc
            # accuracy alone sits at the majority share on an imbalanced split; balanced accuracy does not
            logs["val_balanced_accuracy"] = (
                float(balanced_accuracy_score(self.y_val, scores >= 0.5)) if np.isfinite(auc) else float("nan"))
        improved = self._update_best(auc, epoch)
        if self.verbose:
            mark = " (best)" if improved else ""
            print(f"epoch {epoch + 1}: val_auc_exact = {auc:.4f}{mark}")
        if self.patience is not None and self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(
                    f"restored weights of epoch {self.best_epoch + 1} (val_auc_exact {self.best_auc:.4f})"
                )


# The resumable run of :func:`helpers.classifiers.training.fit_classifier`.

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch", "loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc_exact", "val_balanced_accuracy",
    "seconds",
)


def read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return pd.read_csv(path)


class ResumableValAUC(ValAUCCallback):
    """ValAUCCallback that also logs val loss/accuracy and rebuilds its state on resume.

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
        hist = read_history(self.history_path)
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


class HistoryCSV(keras.callbacks.Callback):
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
            hist = read_history(self.path)
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


class RNGState(keras.callbacks.Callback):
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


def backup_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore will resume at (0 without a backup)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(load_json(backup_dir / name)["epoch"])
        except Exception:  # missing or half-written: BackupAndRestore falls back the same way
            continue
    return 0
