"""Rebalancing strategies for a training set: class weights, random/SMOTE/ADASYN oversampling, GAN fakes.

One function, :func:`prepare_training_set`, turns the *training* arrays into what a model is fitted
on. It is generic over arrays: notebook 04 passes ResNet features ``(N, 512)``, notebook 05 passes
pixels ``(N, H, W)``. It never sees val or test, so nothing synthetic can leak into evaluation.

The input rows always come first, unchanged and in order; rows the strategy adds follow and are
flagged in :attr:`TrainSet.is_synthetic` (GAN fakes, SMOTE/ADASYN interpolations, and the
duplicates of random oversampling).

Strategies (:data:`ALL_STRATEGIES`):

``none``            the data as is
``class_weight``    the data as is + balanced class weights (``n / (k * count_c)``)
``random``          imblearn ``RandomOverSampler``: minority rows duplicated until balanced
``smote``/``adasyn`` imblearn SMOTE / ADASYN on 2-D feature arrays (not pixels)
``gan``             all GAN fakes appended with label ``synthetic_class`` (the paper's DCGAN's, by convention)
``gan_improved``    the same with the fakes of the series' improved generator
``gan_filtered``    only the fakes selected by ``synthetic_keep`` (see :func:`select_realistic`)
``gan_weighted``    all fakes, ``sample_weight`` = ``synthetic_weight`` for them and 1 for real rows
``gan_aug``         ``gan`` + ``augment=True`` (the training loop applies :func:`helpers.data.augment.augmentation_layers`)
``classical_aug``   the data as is + ``augment=True``
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.oversampling.strategies import ALL_STRATEGIES

__all__ = [
    "Fakes",
    "TrainSet",
    "StrategyNotApplicable",
    "prepare_training_set",
    "select_realistic",
]



class StrategyNotApplicable(ValueError):
    """The strategy cannot run on these data (e.g. ADASYN with perfectly separated classes)."""


@dataclass(frozen=True)
class Fakes:
    """A seed's GAN images (or their features) for the ``gan*`` strategies.

    ``images``: generator role (``"reference"``, ``"default"``; :data:`helpers.oversampling.strategies.SYNTHETIC_SOURCE`)
    -> uint8 fakes of class ``class_id``. ``realism``: one score per default fake, higher = more realistic,
    from a model fitted on real *train* data only (``gan_filtered`` needs it).
    """

    images: Mapping[str, np.ndarray]
    class_id: int
    realism: np.ndarray | None = None


@dataclass
class TrainSet:
    """What a model is fitted on, plus how it was made."""

    x: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    class_weight: dict[int, float] | None
    n_synthetic: int
    is_synthetic: np.ndarray  # bool per row: True for every row not among the inputs
    augment: bool
    strategy: str = ""

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_real(self) -> int:
        """Number of input (real) rows."""
        return int(len(self.y) - self.n_synthetic)

    def class_counts(self) -> dict[int, int]:
        """Rows per label."""
        labels, counts = np.unique(self.y, return_counts=True)
        return {int(k): int(c) for k, c in zip(labels, counts, strict=True)}


def select_realistic(scores: Any, keep_fraction: float) -> np.ndarray:
    """Boolean mask keeping the ``keep_fraction`` of fakes with the highest realism ``scores``.

    Higher score = more realistic (e.g. a real-vs-fake discriminator's P(real), or minus the
    distance to the real class). Keeps ``ceil(keep_fraction * n)`` rows; ties go to earlier rows.
    """
    s = np.asarray(scores, dtype=float).ravel()
    if not 0.0 < float(keep_fraction) <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], not {keep_fraction}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; score every fake before filtering")
    n_keep = min(len(s), math.ceil(float(keep_fraction) * len(s)))
    order = np.argsort(-s, kind="stable")
    mask = np.zeros(len(s), dtype=bool)
    mask[order[:n_keep]] = True
    return mask


def _result(strategy: str, x: np.ndarray, y: np.ndarray, n_real: int, *,
            sample_weight: np.ndarray | None = None, class_weight: dict[int, float] | None = None,
            augment: bool = False) -> TrainSet:
    is_syn = np.zeros(len(y), dtype=bool)
    is_syn[n_real:] = True
    return TrainSet(x=x, y=y, sample_weight=sample_weight, class_weight=class_weight,
                    n_synthetic=int(is_syn.sum()), is_synthetic=is_syn, augment=augment,
                    strategy=strategy)


def _append_synthetic(
    x: np.ndarray, y: np.ndarray, synthetic_x: Any, synthetic_class: int | None,
    keep: Any = None, strategy: str = "gan",
) -> tuple[np.ndarray, np.ndarray]:
    if synthetic_x is None:
        raise ValueError(
            f"strategy {strategy!r} needs synthetic samples (synthetic_x is None): run notebook 03 "
            "first (it writes the GAN fakes and their features)."
        )
    if synthetic_class is None:
        raise ValueError(f"strategy {strategy!r} needs synthetic_class (the class the fakes belong to)")
    sx = np.asarray(synthetic_x)
    if sx.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"synthetic rows have shape {sx.shape[1:]} but the training rows {x.shape[1:]}: pass "
            "fakes in the same space (pixels with pixels, features with features)"
        )
    if np.issubdtype(x.dtype, np.integer) and np.issubdtype(sx.dtype, np.floating):
        raise ValueError(
            f"training rows are {x.dtype} pixels but the fakes are {sx.dtype}: convert them with "
            "helpers.data.images.unscale_images (GAN output in [-1, 1] -> uint8) first"
        )
    if keep is not None:
        k = np.asarray(keep)
        if k.dtype == bool:
            if k.shape != (len(sx),):
                raise ValueError(f"synthetic_keep mask has shape {k.shape}, expected ({len(sx)},)")
            sx = sx[k]
        else:
            sx = sx[k.astype(np.int64).ravel()]
    sy = np.full(len(sx), synthetic_class, dtype=y.dtype)
    return np.concatenate([x, sx.astype(x.dtype, copy=False)]), np.concatenate([y, sy])


def _check_prefix(strategy: str, x: np.ndarray, x_res: np.ndarray) -> None:
    n = len(x)
    if len(x_res) < n or not np.array_equal(x_res[:n], x):
        raise RuntimeError(
            f"{strategy}: imbalanced-learn no longer returns the input rows first; "
            "helpers.oversampling.oversample needs updating"
        )


def prepare_training_set(
    strategy: str,
    x: Any,
    y: Any,
    *,
    seed: int,
    synthetic_x: Any = None,
    synthetic_class: int | None = None,
    synthetic_weight: float = 1.0,
    synthetic_keep: Any = None,
) -> TrainSet:
    """Apply a rebalancing ``strategy`` (see the module doc) to the training arrays only.

    ``x`` may be features ``(N, D)`` or images ``(N, H, W[, C])``; SMOTE/ADASYN need 2-D features.
    ``seed`` seeds every random step. The input rows come first, unchanged; added rows follow and
    are flagged in ``is_synthetic``.
    """
    if strategy not in ALL_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {list(ALL_STRATEGIES)}")
    x = np.asarray(x)
    y = np.asarray(y).ravel()
    if len(x) != len(y):
        raise ValueError(f"{len(x)} training rows but {len(y)} labels")
    n = len(y)

    if strategy in ("none", "classical_aug"):
        return _result(strategy, x, y, n, augment=strategy == "classical_aug")

    if strategy == "class_weight":
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.unique(y)
        weights = compute_class_weight("balanced", classes=classes, y=y)
        cw = {int(c): float(w) for c, w in zip(classes, weights, strict=True)}
        return _result(strategy, x, y, n, class_weight=cw)

    if strategy == "random":
        from imblearn.over_sampling import RandomOverSampler

        ros = RandomOverSampler(random_state=seed)
        idx, y_res = ros.fit_resample(np.arange(n).reshape(-1, 1), y)
        idx = idx.ravel()
        if not np.array_equal(idx[:n], np.arange(n)):
            raise RuntimeError("random: imbalanced-learn no longer returns the input rows first")
        return _result(strategy, x[idx], np.asarray(y_res), n)

    if strategy in ("smote", "adasyn"):
        if x.ndim != 2:
            raise ValueError(
                f"{strategy.upper()} interpolates feature vectors: it runs on 2-D features (N, D), "
                f"not on pixels of shape {x.shape}. Use it on ResNet features (notebook 04), or "
                "'random'/'gan' for image models."
            )
        _, counts = np.unique(y, return_counts=True)
        if len(counts) < 2:
            raise ValueError(f"{strategy} needs at least two classes in y")
        k = int(min(5, counts.min() - 1))
        if k < 1:
            raise StrategyNotApplicable(
                f"{strategy}: the minority class has {counts.min()} sample(s); need at least 2"
            )
        if strategy == "smote":
            from imblearn.over_sampling import SMOTE

            sampler: Any = SMOTE(k_neighbors=k, random_state=seed)
        else:
            from imblearn.over_sampling import ADASYN

            sampler = ADASYN(n_neighbors=k, random_state=seed)
        try:
            x_res, y_res = sampler.fit_resample(x, y)
        except RuntimeError as exc:  # ADASYN: no majority neighbours around the minority
            raise StrategyNotApplicable(
                f"{strategy} cannot run on these features: {exc}"
            ) from exc
        except ValueError as exc:
            if "No samples will be generated" in str(exc):  # already balanced
                return _result(strategy, x, y, n)
            raise
        x_res = np.asarray(x_res)
        _check_prefix(strategy, x, x_res)
        return _result(strategy, x_res.astype(x.dtype, copy=False), np.asarray(y_res), n)

    # GAN strategies
    if strategy == "gan_filtered" and synthetic_keep is None:
        raise ValueError(
            "strategy 'gan_filtered' needs synthetic_keep (a boolean mask or indices of the fakes to "
            "keep), e.g. helpers.oversampling.oversample.select_realistic(scores, keep_fraction)"
        )
    keep = synthetic_keep if strategy == "gan_filtered" else None
    x_out, y_out = _append_synthetic(x, y, synthetic_x, synthetic_class, keep, strategy)
    sample_weight = None
    if strategy == "gan_weighted":
        if not float(synthetic_weight) >= 0.0:
            raise ValueError(f"synthetic_weight must be >= 0, not {synthetic_weight}")
        sample_weight = np.ones(len(y_out), dtype=np.float32)
        sample_weight[n:] = float(synthetic_weight)
    return _result(strategy, x_out, y_out, n, sample_weight=sample_weight,
                   augment=strategy == "gan_aug")
