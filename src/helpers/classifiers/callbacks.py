"""Keras callbacks (kept apart from :mod:`helpers.evaluation.scores`, which imports no Keras).

:class:`ValAUCCallback`: exact validation ROC-AUC (scikit-learn) each epoch, best-weight restore,
early stopping and an optional atomic checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

__all__ = ["ValAUCCallback"]


class ValAUCCallback(keras.callbacks.Callback):
    """Exact validation ROC-AUC (scikit-learn) each epoch, best-weight restore and early stopping.

    Why: ``keras.metrics.AUC`` (200 thresholds) read exactly 0.500 for several epochs with batch-
    normalised CNNs whose outputs were all > 0.995 in a reference run, so early stopping on it
    kept epoch 1. This callback predicts ``x_val`` at each epoch end, writes
    ``logs["val_auc_exact"]`` (History and later callbacks see it), keeps the best weights in
    memory, optionally writes them atomically to ``checkpoint_path`` (``*.weights.h5`` -> weights,
    ``*.keras`` -> whole model), stops after ``patience`` epochs without an improvement larger than
    ``min_delta`` (``patience=None``: never stops) and restores the best weights at train end.

    After training: ``best_auc``, ``best_epoch`` (0-based), ``best_weights``, ``aucs`` (per
    epoch), ``stopped_epoch`` (None when training ran to the end).
    """

    def __init__(
        self,
        x_val: Any,
        y_val: Any,
        *,
        batch_size: int = 256,
        patience: int | None = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        checkpoint_path: str | Path | None = None,
        positive_class: int = 1,
        verbose: int = 0,
    ) -> None:
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
        from helpers.core.artifacts import atomic_write

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
