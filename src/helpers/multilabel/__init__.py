"""Chapter 7: multi-label chest X-ray classification (the NIH ChestX-ray14 findings), with and without GAN images.

The second paper the series reproduces (Sumithra Devi K A et al., *Data Augmentation using GANs for
Image Classifications*, DSATM Bangalore) trains "a CNN with 14 sigmoid outputs" on NIH ChestX-ray14 and reports that GAN
augmentation lifted its accuracy from 92% to 98%. Everything chapter 7 does beyond its notebook:

* **data** - :func:`load_study` loads the chapter's own data set (the phantom's multi-label mode,
  ChestMNIST or the NIH folder) into ``run_dir/nih/`` with its own provenance stamp; NIH's PNGs stay
  on disk (a :mod:`helpers.data.streaming` cache of the resized images, read as memory maps);
* **generation** - :func:`scarcest_findings`, :func:`train_finding_gans` (one conditional GAN for the
  k scarcest findings, or one GAN per finding with an unconditional preset), :func:`synthetic_for_findings`
  (GAN images labelled with their finding alone) and :func:`finding_fidelity` (a cheap collapse check);
* **the classifier** - :func:`build_cnn_multilabel` (chapter 5's CNN body with one sigmoid output per
  finding), :class:`MeanAUROCCallback` (exact mean validation AUROC per epoch, early stopping, best
  weights restored), :func:`fit_multilabel` (a run folder reused only for the same spec) and
  :func:`predict_multilabel`;
* **evaluation** - :func:`per_finding_auroc`, :func:`f1_thresholds` (chosen on val),
  :func:`finding_metrics`, :func:`accuracy_summary` (element-wise and exact-match accuracy next to the
  all-negative predictor's) and :func:`gan_effect` (a paired bootstrap per finding over the seeds'
  test scores, Holm over the findings);
* **results** - :class:`FindingResults`: ``run_dir/results_07.csv``, one row per arm, seed and finding,
  with a ``fingerprint`` column (a re-run skips only runs made from the same inputs); each run's val
  and test scores in ``run_dir/nih/scores/``. :func:`run_arm` trains, scores and records one run.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from helpers.classifiers.callbacks import ValAUCCallback
from helpers.core import artifacts, provenance
from helpers.data import streaming
from helpers.data.images import as_model_batch
from helpers.report.results import damaged_table, file_slug

__all__ = [
    "ARMS",
    "RESULTS_FILE",
    "CHEXNET_AUROC",
    "CHEXNET_SOURCE",
    "STUDY_DATASETS",
    "Study",
    "load_study",
    "label_counts",
    "conditional_rates",
    "scarcest_findings",
    "gan_training_set",
    "FindingGenerators",
    "train_finding_gans",
    "synthetic_for_findings",
    "finding_fidelity",
    "build_cnn_multilabel",
    "MeanAUROCCallback",
    "fit_multilabel",
    "predict_multilabel",
    "load_histories",
    "per_finding_auroc",
    "mean_auroc",
    "f1_thresholds",
    "finding_metrics",
    "accuracy_summary",
    "gan_effect",
    "FindingResults",
    "run_arm",
]

#: The two arms of the comparison; both train with classical augmentation (flip, rotation, zoom).
ARMS: tuple[str, ...] = ("original", "gan")
RESULTS_FILE = "results_07.csv"
#: The data sets chapter 7 can run on (multi-label ones).
STUDY_DATASETS: tuple[str, ...] = ("phantom", "chestmnist", "nih")

#: Test AUROC per finding of CheXNet (a 121-layer DenseNet at 224 px, ImageNet-pretrained), from
#: Rajpurkar et al. 2017, "CheXNet: Radiologist-Level Pneumonia Detection on Chest X-Rays with Deep
#: Learning", arXiv:1711.05225, Table 1. Measured on a random patient-wise 70/10/20 split of the full
#: ChestX-ray14 set: not the official test list, not ChestMNIST's resized images, not this run's
#: split. The numbers were checked against the CheXNet column that github.com/arnoweng/CheXNet's README
#: quotes from that table; the paper's PDF itself was not at hand.
CHEXNET_AUROC: dict[str, float] = {
    "Atelectasis": 0.8094, "Cardiomegaly": 0.9248, "Effusion": 0.8638, "Infiltration": 0.7345,
    "Mass": 0.8676, "Nodule": 0.7802, "Pneumonia": 0.7680, "Pneumothorax": 0.8887,
    "Consolidation": 0.7901, "Edema": 0.8878, "Emphysema": 0.9371, "Fibrosis": 0.8047,
    "Pleural_Thickening": 0.8062, "Hernia": 0.9164,
}
CHEXNET_SOURCE = "CheXNet, Rajpurkar et al. 2017 (arXiv:1711.05225), Table 1; another split of ChestX-ray14"


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """Chapter 7's data: splits (images in RAM, or cache memory maps for NIH), names, folder, fingerprint."""

    dataset: str
    image_size: int
    splits: dict[str, Any]
    names: tuple[str, ...]
    folder: Path
    fingerprint: dict[str, Any] = field(repr=False)
    seed: int = 0

    @property
    def data_id(self) -> str:
        """Short hash of the data fingerprint (the ``data`` entry of every artifact fingerprint)."""
        return provenance.fingerprint_id(self.fingerprint)

    def fp(self, **fields: Any) -> dict[str, Any]:
        """An artifact's fingerprint: the data id plus the ``fields`` that shape the artifact."""
        return {"data": self.data_id, **fields}

    @property
    def source(self) -> str:
        return str(self.splits["train"].source)


def load_study(
    cfg: Any,
    *,
    dataset: str | None = None,
    data_path: str | os.PathLike | None = None,
    image_size: int | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    log: Callable[[str], Any] | None = print,
) -> Study:
    """Load chapter 7's data (not chapter 1's) into ``cfg.run_dir/nih/`` and bind that folder to it.

    ``dataset`` (default: the profile's ``nih_dataset``): ``"phantom"`` (multi-label mode),
    ``"chestmnist"`` (downloaded with its md5 checked when ``data_path`` is None) or ``"nih"``
    (``data_path`` = the folder with ``Data_Entry_2017.csv``). ``options`` default to the profile's
    ``nih_data_options`` when the data set is the profile's. The folder is stamped with the data's
    fingerprint (:func:`helpers.core.provenance.check_or_stamp`): another data set there stops with a
    :class:`helpers.core.provenance.ProvenanceError`. NIH images are decoded once into ``nih/cache/``
    (:func:`helpers.data.streaming.build_cache`) and read back as memory maps.
    """
    from helpers import config, data, gan

    prof = cfg.profile
    dataset = dataset or prof.nih_dataset
    if dataset not in STUDY_DATASETS:
        raise ValueError(f"chapter 7 runs on multi-label data: dataset must be one of {STUDY_DATASETS}, not {dataset!r}")
    size = int(image_size or prof.nih_image_size)
    if size not in gan.SUPPORTED_SIZES:
        raise ValueError(f"nih_image_size={size}: the GAN needs one of {gan.SUPPORTED_SIZES} px")
    opts = dict(options if options is not None else (prof.nih_data_options if dataset == prof.nih_dataset else {}))
    if dataset == "phantom":
        if not opts.setdefault("multi_label", True):
            raise ValueError("chapter 7 needs the phantom's multi-label mode (multi_label=True)")
    seed = int(cfg.seed if seed is None else seed)
    download = data_path is None and dataset in config.DOWNLOADABLE
    splits = data.load_splits(dataset, size, data_path=data_path, seed=seed, download=download, **opts)
    fp = provenance.data_fingerprint(splits, dataset=dataset, image_size=size, options={**opts, "split_seed": seed})
    folder = Path(cfg.run_dir) / "nih"
    provenance.check_or_stamp(folder, fp, "chapter-7 folder", must_be_empty=("gan", "models", "scores"))
    for name, ds in list(splits.items()):
        if isinstance(ds.images, data.LazyImages):
            images = streaming.build_cache(ds.images.paths, size, folder / "cache", log=log)
            splits[name] = replace(ds, images=images)
    names = tuple(splits["train"].class_names)
    return Study(dataset=dataset, image_size=size, splits=splits, names=names, folder=folder, fingerprint=fp,
                 seed=seed)


def label_counts(study: Study) -> pd.DataFrame:
    """Positives per finding (rows) and split (columns), plus each split's size in ``attrs["n"]``."""
    table = pd.DataFrame({s: np.asarray(ds.labels).sum(axis=0).astype(int) for s, ds in study.splits.items()},
                         index=list(study.names))
    table.attrs["n"] = {s: len(ds) for s, ds in study.splits.items()}
    table.attrs["no_finding"] = {s: int((np.asarray(ds.labels).sum(axis=1) == 0).sum())
                                 for s, ds in study.splits.items()}
    return table


def conditional_rates(labels: Any, names: Sequence[str]) -> pd.DataFrame:
    """P(column finding | row finding): the share of images with the row finding that also carry the column one."""
    y = np.asarray(labels, dtype=np.int64)
    co = y.T @ y
    n = np.diag(co).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n[:, None] > 0, co / n[:, None], np.nan)
    np.fill_diagonal(rate, np.nan)
    return pd.DataFrame(rate, index=list(names), columns=list(names))


# --------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------


def scarcest_findings(labels: Any, names: Sequence[str], k: int, min_positive: int = 2) -> list[int]:
    """Column indices of the ``k`` findings with the fewest positive training images (ties: column order).

    Findings with fewer than ``min_positive`` positives cannot train a GAN and are passed over.
    """
    counts = np.asarray(labels).sum(axis=0)
    if len(counts) != len(names):
        raise ValueError(f"{len(counts)} label columns but {len(names)} names")
    eligible = [j for j in np.argsort(counts, kind="stable") if counts[j] >= min_positive]
    return [int(j) for j in eligible[: max(0, int(k))]]


def gan_training_set(images: Any, labels: Any, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Training images of the findings ``columns`` with a class id each (the finding's position in ``columns``).

    An image that carries several of the findings appears once per finding.
    """
    y = np.asarray(labels)
    picked, ids = [], []
    for pos, j in enumerate(columns):
        rows = np.flatnonzero(y[:, j] == 1)
        picked.append(rows)
        ids.append(np.full(len(rows), pos, dtype=np.int32))
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    if not len(rows):
        raise ValueError("no training image carries any of the chosen findings")
    return np.asarray(streaming.gather(images, rows)), np.concatenate(ids)


@dataclass
class FindingGenerators:
    """The trained generators of one seed: one conditional GAN for all ``columns``, or one GAN each."""

    preset: str
    steps: int
    columns: tuple[int, ...]
    conditional: bool
    models: dict[int, Any]  # finding column -> the model to sample from
    folders: dict[int, Path]
    fingerprint_ids: dict[int, str]
    n_train: dict[int, int]
    train_seconds: float
    histories: dict[int, pd.DataFrame] = field(repr=False, default_factory=dict)

    def sample(self, column: int, n: int, seed: int) -> np.ndarray:
        """``n`` uint8 images of finding ``column``, from noise seeded by ``(seed, column)``."""
        from helpers import gan

        noise_seed = int(np.random.SeedSequence([int(seed), int(column)]).generate_state(1)[0])
        labels = self.columns.index(column) if self.conditional else None
        return gan.generate_images(self.models[column], int(n), seed=noise_seed, labels=labels)


def train_finding_gans(
    study: Study,
    columns: Sequence[int],
    *,
    seed: int,
    profile: Any,
    preset: str | None = None,
    steps: int | None = None,
    verbose: int | str = 0,
) -> FindingGenerators:
    """Train (or resume, or load) the GANs of one seed on the TRAIN images that carry each finding.

    A conditional preset (default ``profile.nih_gan_preset``, ``sn_diffaug_ema_cond``) trains one GAN on
    the images of all ``columns`` with the finding's position as its label (:func:`gan_training_set`);
    an unconditional one (or a single finding) trains one GAN per finding. Budget: ``steps`` (default
    ``profile.nih_gan_steps``) generator updates, the other settings from the profile. Folders:
    ``nih/gan/<preset>_<steps>steps/seed<k>/`` (``.../<finding>/seed<k>/`` per finding), each
    fingerprinted by :func:`helpers.gan.train_gan` with the data id and the findings.
    """
    from helpers import gan

    preset = preset or profile.nih_gan_preset
    steps = int(steps or profile.nih_gan_steps)
    columns = tuple(int(c) for c in columns)
    if not columns:
        raise ValueError("no finding to train a GAN for")
    conditional = gan.gan_options(preset)["conditional"] and len(columns) > 1  # one finding: nothing to condition on
    train = study.splits["train"]
    base = study.folder / "gan" / f"{preset}_{steps}steps"
    jobs = ([(columns, base / f"seed{int(seed)}")] if conditional else
            [((c,), base / file_slug(study.names[c]) / f"seed{int(seed)}") for c in columns])
    out = FindingGenerators(preset, steps, columns, conditional, {}, {}, {}, {}, 0.0)
    for cols, folder in jobs:
        images, ids = gan_training_set(train.images, train.labels, cols)
        prov = study.fp(findings=[study.names[c] for c in cols], images="train images carrying each finding")
        extra = ({"labels": ids, "num_classes": len(cols), "sample_label": 0} if conditional else
                 {"conditional": False})
        model, history = gan.train_gan(
            images, image_size=study.image_size, run_dir=folder, steps=steps, preset=preset, provenance=prov,
            batch_size=min(int(profile.gan_batch_size), len(images)), seed=int(seed),
            generator_filters=int(profile.gan_generator_filters), steps_per_epoch=profile.gan_steps_per_epoch,
            checkpoint_every=int(profile.gan_checkpoint_every), grid_every=None, verbose=verbose, **extra)
        info = json.loads((folder / "generator.json").read_text())
        out.train_seconds += float(history["seconds"].sum()) if len(history) else 0.0
        for c in cols:
            out.models[c], out.folders[c] = model, folder
            out.fingerprint_ids[c] = str(info["fingerprint_id"])
            out.n_train[c] = int(np.asarray(train.labels)[:, c].sum())
            out.histories[c] = history
    return out


def synthetic_for_findings(
    generators: FindingGenerators,
    train_labels: Any,
    target: int,
    *,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """GAN images that lift each of the generators' findings to ``target`` training images.

    Returns ``(images uint8 (M, S, S), labels uint8 (M, C), added {column: n})``. Each synthetic image
    is labelled with its finding **alone** (every other column 0): a simplification, since real images
    with that finding often carry others too.
    """
    y = np.asarray(train_labels)
    n_cols = y.shape[1]
    images, labels, added = [], [], {}
    for c in generators.columns:
        n = max(0, int(target) - int(y[:, c].sum()))
        added[c] = n
        if n:
            images.append(generators.sample(c, n, seed))
            row = np.zeros((n, n_cols), dtype=np.uint8)
            row[:, c] = 1
            labels.append(row)
    if not images:
        first = generators.models[generators.columns[0]]
        size = int(first.outputs[0].shape[1])
        return np.zeros((0, size, size), np.uint8), np.zeros((0, n_cols), np.uint8), added
    return np.concatenate(images), np.concatenate(labels), added


def _small_features(images: Any, size: int = 16) -> np.ndarray:
    import cv2

    x = np.asarray(images)
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in x])
    return out.reshape(len(x), -1).astype(np.float64) / 255.0


def finding_fidelity(fakes: Any, reals: Any, *, seed: int = 0, k: int = 3, density_k: int = 5,
                     max_images: int = 300) -> dict[str, Any]:
    """A cheap collapse check of one finding's GAN images against the real training images with it.

    Pixel level: :func:`helpers.gan.collapse_from_samples` (diversity ratio, near-duplicates). On
    16x16 thumbnails: k-NN precision/recall and density/coverage (:mod:`helpers.evaluation.manifold`, needing more
    than ``max(k, density_k)`` images of each). Then :func:`helpers.evaluation.fidelity.collapse_check` on what
    could be computed. Returns those numbers, ``collapsed`` (NaN with too few images), ``reasons``.
    """
    from helpers import gan
    from helpers.evaluation import fidelity, manifold

    fakes, reals = np.asarray(fakes), np.asarray(reals)
    out: dict[str, Any] = {"n_fake": len(fakes), "n_real": len(reals)}
    if len(fakes) < 2 or len(reals) < 2:
        return out | {"collapsed": float("nan"), "reasons": ["too few images for a check"]}
    pix = gan.collapse_from_samples(fakes, reals, max_images=max_images, seed=seed)
    out.update(diversity_ratio=pix["diversity_ratio"], duplicate_share=pix["duplicate_share"])
    rng = np.random.default_rng(seed)
    f = _small_features(fakes[rng.permutation(len(fakes))[:max_images]])
    r = _small_features(reals[rng.permutation(len(reals))[:max_images]])
    if min(len(f), len(r)) > max(k, density_k):
        out["precision"], out["recall"] = manifold.precision_recall(r, f, k=k)
        out["density"], out["coverage"] = manifold.density_coverage(r, f, k=density_k)
    check = fidelity.collapse_check(out)
    return out | {"collapsed": float(check["collapsed"]), "reasons": check["reasons"]}


# --------------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------------


def build_cnn_multilabel(
    input_size: int,
    n_outputs: int,
    *,
    filters: Sequence[int] = (32, 64, 128),
    dense: int = 128,
    dropout: float = 0.5,
    head: str = "flatten",
    name: str = "cnn_multilabel",
) -> keras.Model:
    """Chapter 5's CNN (:func:`helpers.classifiers.build_cnn`) with ``n_outputs`` sigmoid outputs.

    The body is the same network (Rescaling, Conv-BN-ReLU-MaxPool blocks, Dense + Dropout); only the
    single sigmoid unit is replaced by a Dense(``n_outputs``, sigmoid) layer named ``findings`` (kept
    in float32): one independent probability per finding, trained with binary cross-entropy. Built
    in :func:`helpers.core.runtime.distribution_strategy`'s scope (one replica per GPU where there are several).
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


def per_finding_auroc(y_true: Any, scores: Any) -> np.ndarray:
    """Exact ROC-AUC per column (scikit-learn); NaN where the column holds one class only."""
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 2:
        raise ValueError(f"labels {y.shape} and scores {s.shape} must be the same (N, C) shape")
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y) and np.all(np.isfinite(s[:, j])):
            out[j] = roc_auc_score(y[:, j], s[:, j])
    return out


def mean_auroc(y_true: Any, scores: Any) -> float:
    """Mean of :func:`per_finding_auroc` over the findings with both classes (NaN when none has)."""
    per = per_finding_auroc(y_true, scores)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")


def _accuracies(y: np.ndarray, scores: np.ndarray, threshold: Any = 0.5) -> tuple[float, float]:
    pred = np.asarray(scores) >= np.asarray(threshold)
    hit = pred == (np.asarray(y) == 1)
    return float(hit.mean()), float(hit.all(axis=1).mean())


class MeanAUROCCallback(ValAUCCallback):
    """:class:`helpers.classifiers.callbacks.ValAUCCallback` for several sigmoid outputs: the exact *mean* val AUROC.

    Each epoch: predict ``x_val``, compute the ROC-AUC of every finding with both classes in ``y_val``
    (findings with one class are skipped) and their mean, written to ``logs["val_mean_auroc"]`` with
    ``val_loss`` (binary cross-entropy), ``val_elementwise_accuracy`` and ``val_exact_match`` (at 0.5).
    Best weights (by the mean AUROC), patience, checkpoint and the restore at train end work as in
    the parent. ``rows`` keeps one dict per epoch (with the training logs and seconds).
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
        values["val_elementwise_accuracy"], values["val_exact_match"] = _accuracies(self.y_val, scores)
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


def fit_multilabel(
    model: keras.Model,
    sources: Any,
    y_train: Any,
    x_val: Any,
    y_val: Any,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    patience: int | None,
    run_dir: str | os.PathLike,
    augment: bool = True,
    max_steps_per_epoch: int | None = None,
    learning_rate: float = 1e-3,
    fingerprint: Mapping[str, Any] | None = None,
    verbose: int = 0,
) -> tuple[keras.Model, pd.DataFrame, dict[str, Any]]:
    """Train ``model`` (sigmoid outputs) with binary cross-entropy; keep the epoch with the best mean val AUROC.

    ``sources``: the training images (an array, a cache memory map, or a list of them indexed as one,
    e.g. real then synthetic) with ``y_train`` multi-hot rows; batches come from
    :func:`helpers.data.streaming.training_dataset` (a seeded permutation per epoch, at most
    ``max_steps_per_epoch`` batches) through ``oversample.augmentation_layers(seed)`` when ``augment``.
    Adam(``learning_rate``). Early stopping (``patience``) and the checkpoint follow
    :class:`MeanAUROCCallback`. The run folder holds ``spec.json`` (everything that shaped the run,
    with the caller's ``fingerprint`` id), ``best.weights.h5``, ``history.csv`` and ``done.json``
    (written last): a finished run with the same spec is loaded, not retrained; another spec there
    stops with a :class:`helpers.core.provenance.ProvenanceError`; an unfinished one starts again.

    Returns ``(model with the best weights, per-epoch history, done info)``.
    """
    from helpers.oversampling.oversample import augmentation_layers

    run_dir = Path(run_dir)
    y = np.asarray(y_train, dtype=np.uint8)
    yv = np.asarray(y_val, dtype=np.uint8)
    srcs = streaming._as_sources(sources)
    n = int(sum(len(s) for s in srcs))
    if y.ndim != 2 or len(y) != n or y.shape[1] != int(model.output_shape[-1]):
        raise ValueError(f"y_train must be ({n}, {model.output_shape[-1]}) multi-hot, got {y.shape}")
    if tuple(model.input_shape[1:3]) != tuple(np.shape(srcs[0])[1:]):
        raise ValueError(f"model expects {model.input_shape[1:3]} images, training images are {np.shape(srcs[0])[1:]}")
    replicas = int(model.distribute_strategy.num_replicas_in_sync)
    per_replica, batch_size = int(batch_size), int(batch_size) * replicas  # batch_size is per replica
    steps = -(-n // batch_size)
    if max_steps_per_epoch:
        steps = min(steps, int(max_steps_per_epoch))
    spec = {
        "model": model.name, "n_params": int(model.count_params()), "input_shape": list(model.input_shape[1:]),
        "n_outputs": int(y.shape[1]), "n_train": n, "n_val": len(yv), "epochs": int(epochs),
        "batch_size": per_replica, **({"replicas": replicas} if replicas > 1 else {}),
        **({"dtype_policy": model.dtype_policy.name} if model.dtype_policy.name != "float32" else {}),
        "steps_per_epoch": int(steps), "seed": int(seed), "patience": patience,
        "augment": bool(augment), "learning_rate": float(learning_rate),
        "data_digest": provenance.array_digest(streaming.sources_digest(srcs), y, yv),
        "fingerprint": provenance.fingerprint_id(fingerprint) if fingerprint is not None else None,
    }
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
    artifacts.save_json(spec_path, spec)
    with model.distribute_strategy.scope():
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    ds = streaming.training_dataset(srcs, y, batch_size=int(batch_size), seed=int(seed), epochs=int(epochs),
                                    steps_per_epoch=steps, augment=augmentation_layers(int(seed)) if augment else None)
    cb = MeanAUROCCallback(x_val, yv, patience=patience, checkpoint_path=best_path, verbose=verbose)
    t0 = time.perf_counter()
    model.fit(ds, epochs=int(epochs), steps_per_epoch=steps, callbacks=[cb], verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - t0
    history = pd.DataFrame(cb.rows)
    with artifacts.atomic_write(history_path) as tmp:
        history.to_csv(tmp, index=False)
    done = {"epochs_run": len(history), "best_epoch": None if cb.best_epoch is None else int(cb.best_epoch) + 1,
            "best_val_mean_auroc": None if cb.best_epoch is None else float(cb.best_auc),
            "stopped_early": cb.stopped_epoch is not None, "fit_seconds": float(seconds)}
    artifacts.save_json(done_path, done)
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


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


def f1_thresholds(y_val: Any, val_scores: Any, default: float = 0.5) -> np.ndarray:
    """Per finding, the score threshold with the highest F1 on val (``default`` where val has one class)."""
    y, s = np.asarray(y_val), np.asarray(val_scores, dtype=float)
    out = np.full(y.shape[1], float(default))
    for j in range(y.shape[1]):
        if not 0 < y[:, j].sum() < len(y):
            continue
        precision, recall, thresholds = precision_recall_curve(y[:, j], s[:, j])
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)[:-1]
        out[j] = float(thresholds[int(np.argmax(f1))])
    return out


def finding_metrics(y_true: Any, scores: Any, thresholds: Any, names: Sequence[str]) -> pd.DataFrame:
    """One row per finding: positives, prevalence, AUROC, PR-AUC (NaN with one class), F1/precision/recall at its threshold."""
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=float), (y.shape[1],))
    auroc = per_finding_auroc(y, s)
    rows = []
    for j, name in enumerate(names):
        yj, pred = y[:, j] == 1, s[:, j] >= thr[j]
        tp, fp, fn = int((yj & pred).sum()), int((~yj & pred).sum()), int((yj & ~pred).sum())
        both = 0 < yj.sum() < len(yj)
        rows.append({
            "finding": name, "n_positive": int(yj.sum()), "prevalence": float(yj.mean()) if len(yj) else np.nan,
            "auroc": float(auroc[j]), "pr_auc": float(average_precision_score(yj, s[:, j])) if both else np.nan,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else np.nan,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan, "threshold": float(thr[j]),
        })
    return pd.DataFrame(rows)


def accuracy_summary(y_true: Any, scores: Any, threshold: Any = 0.5) -> dict[str, float]:
    """Accuracy as the paper reported it, next to the predictor that calls every image "no finding".

    ``elementwise_accuracy``: the share of (image, finding) decisions that are right at ``threshold``;
    ``exact_match``: the share of images whose whole label row is right; the ``all_negative_*`` keys
    are the same for a predictor that says 0 everywhere (element-wise: one minus the mean prevalence;
    exact match: the share of images without any finding); ``mean_prevalence``.
    """
    y = np.asarray(y_true)
    elem, exact = _accuracies(y, np.asarray(scores, dtype=float), threshold)
    neg_elem, neg_exact = _accuracies(y, np.zeros(y.shape), 0.5)
    return {"elementwise_accuracy": elem, "exact_match": exact, "all_negative_elementwise": neg_elem,
            "all_negative_exact_match": neg_exact, "mean_prevalence": float(y.mean())}


def gan_effect(
    y_test: Any,
    scores_gan: Any,
    scores_original: Any,
    names: Sequence[str],
    *,
    metric: str = "roc_auc",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    resample_seeds: bool | None = None,
) -> pd.DataFrame:
    """Per finding: ``metric`` with GAN images minus without, a paired bootstrap interval and Holm's p.

    ``scores_*``: ``(n_seeds, N, C)`` test scores of the two arms (row ``s`` of one pairs with row ``s``
    of the other). Each finding gets :func:`helpers.evaluation.intervals.paired_bootstrap` (the same resampled test
    images for both arms and every seed, stratified by the finding's label; with several seeds it also
    resamples the seed pairs, ``resample_seeds`` default, so the interval carries the seed-to-seed
    spread too); findings with one class in the test split get NaN. ``p_holm`` adjusts the p-values over the findings tested
    (:func:`helpers.evaluation.comparisons.holm`); ``verdict`` reads them at ``alpha``.
    """
    from helpers.evaluation.comparisons import holm
    from helpers.evaluation.intervals import BootstrapSettings, paired_bootstrap

    y = np.asarray(y_test)
    a, b = np.asarray(scores_gan, dtype=float), np.asarray(scores_original, dtype=float)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if resample_seeds is None:
        resample_seeds = len(a) > 1
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {"finding": name, "n_positive": int(y[:, j].sum()), "metric": metric}
        if 0 < y[:, j].sum() < len(y):
            res = paired_bootstrap(y[:, j], a[:, :, j], b[:, :, j], metric, settings=BootstrapSettings(
                n_boot=n_boot, seed=seed, alpha=alpha, resample_seeds=bool(resample_seeds)))
            row.update(value_gan=res.value_a, value_original=res.value_b, mean_diff=res.mean_diff, low=res.low,
                       high=res.high, p_value=res.p_value, n_seeds=res.n_seeds)
        else:
            row.update(value_gan=np.nan, value_original=np.nan, mean_diff=np.nan, low=np.nan, high=np.nan,
                       p_value=np.nan, n_seeds=len(a))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy(float))

    def verdict(r: pd.Series) -> str:
        if not np.isfinite(r["p_holm"]):
            return "not tested (one class in test)"
        if r["p_holm"] <= alpha:
            return "higher with GAN images" if r["mean_diff"] > 0 else "lower with GAN images"
        return "no difference shown"

    table["verdict"] = table.apply(verdict, axis=1)
    return table


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

_ROW_KEY = ("arm", "seed", "finding")
_UNIT_COLUMNS = ("auroc", "pr_auc", "f1", "precision", "recall", "mean_auroc", "elementwise_accuracy", "exact_match")


class FindingResults:
    """``run_dir/results_07.csv`` (one row per arm, seed and finding) and the runs' scores (``scores_dir``).

    The same contract as :class:`helpers.report.results.ResultsTable`, for a multi-label table: the scores are
    saved before the rows, the ``fingerprint`` column comes last, every write is atomic, and
    :meth:`read` stops with a :class:`helpers.report.results.ResultsError` naming the line of a damaged row.
    """

    def __init__(self, run_dir: str | os.PathLike, scores_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.scores_dir = Path(scores_dir)

    def read(self) -> pd.DataFrame:
        """The validated table (empty with the key columns when nothing was recorded)."""

        if not self.path.exists():
            return pd.DataFrame(columns=[*_ROW_KEY, "fingerprint"])

        def damaged(line: int | None, detail: str):
            return damaged_table(self.path, line, detail)

        try:
            table = pd.read_csv(self.path, dtype={"fingerprint": str, "finding": str, "arm": str})
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise damaged(None, f"it cannot be read ({exc})") from None
        missing = [c for c in (*_ROW_KEY, "auroc", "fingerprint") if c not in table.columns]
        if missing:
            raise damaged(1, f"the header lacks the columns {missing}")
        for i, rec in enumerate(table.to_dict("records")):
            fp = rec["fingerprint"]
            if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{12}", fp):
                raise damaged(i + 2, f"the row is incomplete (fingerprint {fp!r})")
            if rec["arm"] not in ARMS:
                raise damaged(i + 2, f"unknown arm {rec['arm']!r} (the arms are {ARMS})")
            if not float(rec["seed"]).is_integer():
                raise damaged(i + 2, f"seed {rec['seed']!r} is not an integer")
            for col in _UNIT_COLUMNS:
                v = rec.get(col)
                if v is not None and not (isinstance(v, (int, float)) and (np.isnan(v) or -1e-9 <= v <= 1 + 1e-9)):
                    raise damaged(i + 2, f"{col} = {v!r} is not a number in [0, 1]")
        table["seed"] = table["seed"].astype(int)
        dup = table.duplicated(list(_ROW_KEY), keep="first")
        if dup.any():
            raise damaged(int(np.flatnonzero(dup)[0]) + 2, "a run and finding appear twice")
        return table

    def scores_path(self, arm: str, seed: int) -> Path:
        return self.scores_dir / f"{file_slug(arm)}_seed{int(seed)}.npz"

    def load_scores(self, arm: str, seed: int, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(y (N, C), scores (N, C))`` of one recorded run on ``split`` ("test" or "val")."""
        if split not in ("test", "val"):
            raise ValueError(f"split must be 'test' or 'val', not {split!r}")
        data = artifacts.load_npz(self.scores_path(arm, seed), (f"y_{split}", f"score_{split}"),
                                  hint="Run chapter 7 (it saves every run's scores).")
        return data[f"y_{split}"], data[f"score_{split}"]

    def is_done(self, arm: str, seed: int, fingerprint: Mapping[str, Any], table: pd.DataFrame | None = None) -> bool:
        """True when the run's rows exist with this fingerprint and its scores are saved; raise when they differ."""
        table = self.read() if table is None else table
        hit = table[(table["arm"] == arm) & (table["seed"] == int(seed))] if len(table) else table
        if hit.empty:
            return False
        want = provenance.fingerprint_id(fingerprint)
        if set(hit["fingerprint"]) == {want}:
            return self.scores_path(arm, seed).exists()
        saved = {"fingerprint_id": sorted(set(hit["fingerprint"]))}
        path = self.scores_path(arm, seed)
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                if "provenance" in data.files:
                    saved = json.loads(str(data["provenance"]))
        raise provenance.mismatch_error(f"{self.path} (arm {arm} / seed {seed})", saved, fingerprint, "result row")

    def record(self, *, arm: str, seed: int, fingerprint: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
               y_test: Any, score_test: Any, y_val: Any, score_val: Any) -> pd.DataFrame:
        """Save the run's scores (with the fingerprint), then replace its rows in the table; return them."""
        if arm not in ARMS:
            raise ValueError(f"unknown arm {arm!r}; the arms are {ARMS}")
        fp = provenance.normalise(dict(fingerprint))
        artifacts.save_npz(self.scores_path(arm, seed), y_test=np.asarray(y_test),
                           score_test=np.asarray(score_test, dtype=np.float64), y_val=np.asarray(y_val),
                           score_val=np.asarray(score_val, dtype=np.float64),
                           provenance=np.str_(json.dumps(fp, sort_keys=True)))
        new = pd.DataFrame([{"arm": arm, "seed": int(seed), **{k: v for k, v in r.items() if k not in ("arm", "seed")}}
                            for r in rows])
        new["fingerprint"] = provenance.fingerprint_id(fp)
        old = self.read()
        if len(old):
            old = old[~((old["arm"] == arm) & (old["seed"] == int(seed)))]
            table = pd.concat([old, new], ignore_index=True) if len(old) else new
        else:
            table = new
        cols = [c for c in table.columns if c != "fingerprint"] + ["fingerprint"]
        with artifacts.atomic_write(self.path) as tmp:
            table[cols].to_csv(tmp, index=False)
        return new


def run_arm(
    study: Study,
    arm: str,
    seed: int,
    *,
    profile: Any,
    results: FindingResults,
    scarce: Sequence[int] = (),
    synthetic: tuple[np.ndarray, np.ndarray, Mapping[str, Any]] | None = None,
    verbose: int = 0,
) -> pd.DataFrame:
    """Train, score and record one run (arm ``"original"`` or ``"gan"``, one seed); return its rows.

    ``synthetic``: ``(images, labels, about)`` appended to the training split (``gan`` arm only;
    ``about`` goes into the fingerprint: generator ids, target, counts). A run already in the table
    with the same fingerprint is not repeated. Both arms train :func:`build_cnn_multilabel` with
    classical augmentation, ``profile.nih_cnn_epochs`` epochs and the profile's batch size, patience
    and step cap; thresholds for F1 are chosen on val (:func:`f1_thresholds`).
    """
    from helpers.core.runtime import set_seeds

    if arm not in ARMS or (arm == "gan") != (synthetic is not None):
        raise ValueError(f"arm {arm!r}: the gan arm needs synthetic images, the original arm takes none")
    train, val, test = (study.splits[s] for s in ("train", "val", "test"))
    settings = {"model": "cnn_multilabel", "epochs": int(profile.nih_cnn_epochs), "batch_size": int(profile.batch_size),
                "patience": profile.patience, "max_steps_per_epoch": profile.max_steps_per_epoch,
                "augment": "flip,rotation,zoom"}
    fingerprint = study.fp(arm=arm, seed=int(seed), **settings, synthetic=None if synthetic is None else synthetic[2])
    table = results.read()
    if results.is_done(arm, seed, fingerprint, table):
        return table[(table["arm"] == arm) & (table["seed"] == int(seed))].reset_index(drop=True)
    sources, y = [train.images], np.asarray(train.labels)
    n_syn = np.zeros(len(study.names), dtype=int)
    if synthetic is not None and len(synthetic[0]):
        sources.append(synthetic[0])
        y = np.concatenate([y, synthetic[1]])
        n_syn = np.asarray(synthetic[1]).sum(axis=0).astype(int)
    set_seeds(int(seed))
    model = build_cnn_multilabel(study.image_size, len(study.names))
    model, history, done = fit_multilabel(
        model, sources, y, val.images, val.labels, epochs=int(profile.nih_cnn_epochs),
        batch_size=int(profile.batch_size), seed=int(seed), patience=profile.patience,
        max_steps_per_epoch=profile.max_steps_per_epoch, run_dir=study.folder / "models" / arm / f"seed{int(seed)}",
        fingerprint=fingerprint, verbose=verbose)
    s_val, s_test = predict_multilabel(model, val.images), predict_multilabel(model, test.images)
    per = finding_metrics(test.labels, s_test, f1_thresholds(val.labels, s_val), study.names)
    acc = accuracy_summary(test.labels, s_test)
    val_auc = per_finding_auroc(val.labels, s_val)
    n_real = np.asarray(train.labels).sum(axis=0).astype(int)
    rows = [{"dataset": study.dataset, "image_size": study.image_size, "profile": profile.name, "arm": arm,
             "seed": int(seed), "finding": r["finding"], "scarce": j in set(scarce),
             "n_train_positive": int(n_real[j]), "n_synthetic": int(n_syn[j]), "n_test_positive": r["n_positive"],
             "prevalence_test": r["prevalence"], "auroc": r["auroc"], "pr_auc": r["pr_auc"], "f1": r["f1"],
             "precision": r["precision"], "recall": r["recall"], "threshold": r["threshold"],
             "val_auroc": float(val_auc[j]), "mean_auroc": mean_auroc(test.labels, s_test),
             "elementwise_accuracy": acc["elementwise_accuracy"], "exact_match": acc["exact_match"],
             "all_negative_elementwise": acc["all_negative_elementwise"],
             "all_negative_exact_match": acc["all_negative_exact_match"], "best_epoch": done["best_epoch"],
             "epochs_run": done["epochs_run"], "fit_seconds": round(float(done["fit_seconds"]), 2)}
            for j, r in per.iterrows()]
    return results.record(arm=arm, seed=seed, fingerprint=fingerprint, rows=rows, y_test=test.labels,
                          score_test=s_test, y_val=val.labels, score_val=s_val)
