"""Chapter 5's grid: CNN / DenseNet121 x oversampling strategy x seed on pixels.

:func:`run_deep_grid` trains every (model, strategy, seed), scores val and test and records one
results row per run (``ResultsTable``), keyed by a fingerprint of everything that shaped it; a run
interrupted mid-training resumes at its next epoch. Run folders::

    run_dir/deep/<model>_<strategy>_seed<seed>/             one run (history.csv, best.weights.h5, ...)
    run_dir/deep/<model>_gan_weighted_w<w>_seed<seed>/      gan_weighted runs, one per weight tried
    run_dir/deep/<model>_gan_weighted_selection.json        val AUC per synthetic weight, the choice

Fakes only ever enter the training set; the grid checks that none is byte-identical to a val or test image.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.classifiers.recipes import DEEP_CLASSIFIERS, parse_classifier
from helpers.classifiers.results import ResultsTable
from helpers.core import artifacts, provenance
from helpers.core.runtime import precision_policy
from helpers.data.augment import training_augmentation_settings
from helpers.data.images import image_hashes
from helpers.evaluation.scores import METRIC_COLUMNS, classification_row
from helpers.oversampling import oversample
from helpers.oversampling.oversample import Fakes
from helpers.oversampling.strategies import (
    GAN_STRATEGIES,
    IMAGE_ONLY,
    PIXEL_STRATEGIES,
    check_strategies,
    synthetic_source,
)

__all__ = ["NOTEBOOK", "DEEP_MODELS", "GridSettings", "run_deep_grid", "run_dose_response", "load_histories"]

NOTEBOOK = "05"
#: Classifier names: an architecture (``cnn``, ``densenet121``) with the reference recipe, or
#: ``<architecture>_<recipe>`` (``cnn_strong``); see :mod:`helpers.classifiers.recipes`.
DEEP_MODELS: tuple[str, ...] = DEEP_CLASSIFIERS
_RESERVED = ("notebook", "classifier", "strategy", "seed", "features", "model_weights", "input_size",
             *METRIC_COLUMNS, "n_train", "n_synthetic", "synthetic_weight",
             "synthetic_keep_fraction", "weight_selection", "epochs_run", "best_epoch", "best_val_auc",
             "fit_seconds", "seconds_per_epoch", "dtype_policy", "recipe", "run_folder", "fingerprint")


def _run_folder_name(model: str, strategy: str, seed: int, synthetic_weight: float | None = None) -> str:
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


@dataclass
class _Grid:
    """State shared by the runs of one :func:`run_deep_grid` call."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    synthetic_sets: dict[str, np.ndarray]  # generator ("reference"/"default") -> uint8 fakes
    synthetic_class: int | None
    keep_mask: np.ndarray | None
    settings: GridSettings
    deep_dir: Path
    seeds: list[int]
    inputs: dict[str, Any]  # fingerprint of the data every run sees (train/val/test digests, base)
    densenet_weights_now: str | None = field(init=False)
    densenet_description: str | None = field(init=False, default=None)
    models: dict[str, Any] = field(init=False, default_factory=dict)  # one built model per architecture
    cnn_architecture: str | None = field(init=False, default=None)  # digest of a caller's CNN

    def __post_init__(self) -> None:
        self.densenet_weights_now = self.settings.densenet_weights
        if self.settings.build_cnn is not None:  # what the caller's CNN is, before any run is looked up
            spec = self.settings.build_cnn(int(self.x_train.shape[1])).to_json()
            self.cnn_architecture = hashlib.sha256(spec.encode()).hexdigest()[:16]

    def fingerprint(self, model_name: str, strategy: str, seed: int, synthetic_weight: float) -> dict[str, Any]:
        """Everything that shapes one run (the results row and the run folder carry it)."""
        arch, recipe = parse_classifier(model_name)
        st = self.settings
        fp = {**self.inputs, "classifier": model_name, "strategy": strategy, "seed": int(seed),
              "epochs": self.epochs_for(model_name), "batch_size": st.batch_size,
              "patience": st.patience, "max_steps_per_epoch": st.max_steps_per_epoch}
        if arch == "cnn" and st.build_cnn is not None:
            fp["architecture"] = self.cnn_architecture
        if recipe.name != "reference":
            fp["recipe"] = recipe.settings()
        policy = precision_policy()
        if policy != "float32":  # float32 runs keep the fingerprints they always had
            fp["dtype_policy"] = policy
        if arch == "densenet121":
            fp.update(densenet_input_size=st.densenet_input_size, densenet_weights=st.densenet_weights)
        if strategy in IMAGE_ONLY:
            fp["augmentation"] = training_augmentation_settings()
        if strategy in GAN_STRATEGIES:
            fakes = self.synthetic_sets[synthetic_source(strategy)]
            fp["synthetic_digest"] = provenance.array_digest(fakes, self.synthetic_class)
            fp["synthetic_weight"] = float(synthetic_weight)
            if strategy == "gan_filtered":
                fp["synthetic_keep_digest"] = provenance.array_digest(self.keep_mask)
        return fp

    def epochs_for(self, model_name: str) -> int:
        """The epoch budget of a classifier: its own entry, else its architecture's."""
        epochs = self.settings.epochs
        return int(epochs[model_name] if model_name in epochs else epochs[parse_classifier(model_name)[0]])

    def _fresh(self, model_name: str) -> tuple[Any, str, int]:
        from helpers.core.runtime import distribution_strategy

        with distribution_strategy().scope():  # one replica per GPU where there are several
            return self._build(model_name)

    def _build(self, model_name: str) -> tuple[Any, str, int]:
        from helpers import classifiers

        size, st = int(self.x_train.shape[1]), self.settings
        if parse_classifier(model_name)[0] == "cnn":
            if st.build_cnn is None:
                return classifiers.build_cnn(size), "from scratch (random init)", size
            return st.build_cnn(size), "from scratch (random init)", size
        model, desc = classifiers.build_densenet121(
            st.densenet_input_size, self.densenet_weights_now, image_size=size
        )
        if self.densenet_weights_now is not None and desc.startswith("from scratch"):
            # the weights failed once: say so in every row, but do not retry the download per run
            self.densenet_weights_now = None
            self.densenet_description = desc
        return model, self.densenet_description or desc, int(st.densenet_input_size)

    def build(self, model_name: str) -> tuple[Any, str, int]:
        """The model for a run, with initial weights drawn from the current (run's) seed.

        The first run of an architecture builds it; later runs re-use that model (already compiled
        and traced) and only copy in the weights of a fresh build under the run's seed, so each run
        starts exactly as a newly built model would, without paying for tracing again.
        """
        from helpers import classifiers

        model, description, input_size = self._fresh(model_name)
        cached = self.models.get(model_name)
        if cached is None:
            self.models[model_name] = model
            return model, description, input_size
        return classifiers.reset_weights(cached, model), description, input_size

    def train_set(self, strategy: str, seed: int, synthetic_weight: float) -> oversample.TrainSet:
        kw: dict[str, Any] = {}
        if strategy in GAN_STRATEGIES:
            kw = dict(synthetic_x=self.synthetic_sets[synthetic_source(strategy)],
                      synthetic_class=self.synthetic_class,
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
        from helpers.core.runtime import set_seeds

        if not self.models:
            keras.backend.clear_session()
        set_seeds(seed)
        ts = self.train_set(strategy, seed, synthetic_weight)
        model, description, input_size = self.build(model_name)
        folder_name = _run_folder_name(model_name, strategy, seed, synthetic_weight)
        folder = self.deep_dir / folder_name
        info = {"model": model_name, "strategy": strategy, "seed": int(seed),
                "synthetic_weight": float(synthetic_weight) if strategy in GAN_STRATEGIES else None,
                "role": role, "model_weights": description}
        artifacts.save_json(folder / "run.json", info)
        fit = classifiers.FitSettings(
            epochs=self.epochs_for(model_name), batch_size=self.settings.batch_size, seed=seed,
            patience=self.settings.patience, max_steps_per_epoch=self.settings.max_steps_per_epoch,
            recipe=parse_classifier(model_name)[1])
        model, history, fit_seconds = classifiers.fit_classifier(
            model, ts, self.x_val, self.y_val, fit, run_dir=folder,
            fingerprint=self.fingerprint(model_name, strategy, seed, synthetic_weight),
        )
        done = artifacts.load_json(folder / "done.json")
        return {"model": model, "train": ts, "history": history, "fit_seconds": float(fit_seconds),
                "description": description, "input_size": input_size, "folder": folder_name,
                "best_epoch": done.get("best_epoch"), "best_val_auc": done.get("best_val_auc")}

    def select_weight(self, model_name: str) -> tuple[float, str]:
        """Fit gan_weighted once per weight (first seed); pick the best exact val AUC (ties: first)."""
        seed = int(self.seeds[0])
        grid = [float(w) for w in self.settings.gan_weight_grid]
        path = self.deep_dir / f"{model_name}_gan_weighted_selection.json"
        fp_id = provenance.fingerprint_id(self.fingerprint(model_name, "gan_weighted", seed, 0.0))
        if path.exists():
            saved = artifacts.load_json(path)
            if saved.get("grid") == grid and saved.get("seed") == seed and saved.get("fingerprint") == fp_id:
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
                                   "summary": summary, "fingerprint": fp_id})
        print(f"{model_name:11s} gan_weighted: synthetic weight {chosen:g} chosen on val ({summary})")
        return chosen, summary


@dataclass(frozen=True)
class GridSettings:
    """How chapter 5 trains every run of a grid.

    ``epochs``: classifier (or architecture) -> epoch budget. ``gan_weighted`` picks its weight from
    ``gan_weight_grid`` by val AUC on the first seed; ``gan_filtered`` keeps the ``filter_keep_fraction``
    most realistic fakes. ``build_cnn(image_size)`` replaces the default CNN (its architecture joins
    the CNN runs' fingerprints).
    """

    epochs: Mapping[str, int]
    batch_size: int = 64
    patience: int | None = 5
    max_steps_per_epoch: int | None = None
    densenet_input_size: int = 32
    densenet_weights: str | None = None
    gan_weight_grid: tuple[float, ...] = (0.25, 0.5, 1.0)
    filter_keep_fraction: float = 0.5
    build_cnn: Callable[[int], Any] | None = None

    @classmethod
    def from_profile(cls, profile: Any, **changes: Any) -> GridSettings:
        """The settings of a :class:`helpers.config.Profile`, with ``changes`` on top."""
        base = dict(epochs={"cnn": profile.cnn_epochs, "densenet121": profile.densenet_epochs},
                    batch_size=profile.batch_size, patience=profile.patience,
                    max_steps_per_epoch=profile.max_steps_per_epoch,
                    densenet_input_size=profile.densenet_input_size, densenet_weights=profile.densenet_weights)
        return cls(**{**base, **changes})


def run_deep_grid(splits: Mapping[str, Any], *, models: Sequence[str], strategies: Sequence[str],
                  seeds: Sequence[int], settings: GridSettings, run_dir: str | Path, fakes: Fakes | None = None,
                  context: Mapping[str, Any] | None = None, provenance_base: Mapping[str, Any] | None = None,
                  model_cache: dict[str, Any] | None = None) -> pd.DataFrame:
    """Train models x strategies x seeds on pixels; record one results row per run; return the grid's rows.

    ``splits``: binary train/val/test ``Dataset``; ``fakes``: the GAN images the ``gan*`` strategies need.
    ``context`` columns go into every row; ``provenance_base`` joins every fingerprint. ``model_cache``:
    a dict shared by several calls so each architecture is built and traced once.
    """
    models, seeds = list(models), [int(s) for s in seeds]
    strategies = _check_grid(models, strategies, seeds, settings.epochs)
    x_train, y_train = _binary_split(splits, "train")
    x_val, y_val = _binary_split(splits, "val")
    x_test, y_test = _binary_split(splits, "test")
    if len(np.unique(y_val)) < 2:
        raise ValueError("val holds a single class: early stopping on val ROC-AUC needs both")
    sets, keep_mask = _synthetic_inputs(fakes, strategies, settings, x_train, (x_val, x_test))
    ctx = _row_context(context, splits, x_train)
    table = ResultsTable(run_dir)
    deep_dir = Path(run_dir) / "deep"
    deep_dir.mkdir(parents=True, exist_ok=True)
    inputs = {**dict(provenance_base or {}),
              "train_digest": provenance.array_digest(x_train, y_train),
              "val_digest": provenance.array_digest(x_val, y_val),
              "test_digest": provenance.array_digest(x_test, y_test)}
    grid = _Grid(
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, synthetic_sets=sets,
        synthetic_class=None if fakes is None else fakes.class_id, keep_mask=keep_mask, settings=settings,
        deep_dir=deep_dir, seeds=seeds, inputs=inputs,
    )
    if model_cache is not None:
        grid.models = model_cache
    keys = [(NOTEBOOK, m, s, seed) for m in models for s in strategies for seed in seeds]
    for model_name in models:
        for strategy in strategies:
            done = table.read()
            weight, selection = grid.select_weight(model_name) if strategy == "gan_weighted" else (1.0, None)
            todo = []
            for seed in seeds:
                fp = grid.fingerprint(model_name, strategy, seed, weight)
                if not table.is_done(NOTEBOOK, model_name, strategy, seed, fingerprint=fp, table=done):
                    todo.append((seed, fp))
            for seed, fp in todo:
                run = grid.fit(model_name, strategy, seed, weight, role="grid")
                _record_run(table, ctx, run, (model_name, strategy, seed, fp), (weight, selection),
                            (x_val, y_val, x_test, y_test), settings)
    return table.rows(keys)


def _check_grid(models: list[str], strategies: Sequence[str], seeds: list[int],
                epochs: Mapping[str, int]) -> list[str]:
    """Raise on unknown models, pixel-less strategies, no seeds or a missing epoch budget; the strategies."""
    unknown = [m for m in models if m not in DEEP_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {list(DEEP_MODELS)}")
    strategies = list(check_strategies(strategies, PIXEL_STRATEGIES, "run_deep_grid strategies "
                                       "(SMOTE/ADASYN are feature-space methods: chapter 4)"))
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    missing_epochs = [m for m in models if m not in epochs and parse_classifier(m)[0] not in epochs]
    if missing_epochs:
        raise ValueError(f"epochs lacks a budget for {missing_epochs} (e.g. {{'cnn': 30, 'densenet121': 12}})")
    return strategies


def _synthetic_inputs(fakes: Fakes | None, strategies: Sequence[str], settings: GridSettings,
                      x_train: np.ndarray, evaluation: tuple[np.ndarray, np.ndarray],
                      ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The checked fakes per generator the GAN strategies need, and gan_filtered's keep mask."""
    synthetic_images = None if fakes is None else fakes.images
    synthetic_class = None if fakes is None else fakes.class_id
    sets: dict[str, np.ndarray] = {}
    keep_mask = None
    for src in sorted({synthetic_source(s) for s in strategies if s in GAN_STRATEGIES}):
        images = None if synthetic_images is None else synthetic_images.get(src)
        if images is None or synthetic_class is None:
            raise ValueError(f"the GAN strategies need the {src!r} generator's images in fakes "
                             "(chapter 3 writes them)")
        images = np.asarray(images)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.dtype != np.uint8 or images.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"fakes.images[{src!r}] must be uint8 {x_train.shape[1:]} like the "
                             f"training images, got {images.dtype} {images.shape[1:]}")
        _assert_no_synthetic_in_eval(images, *evaluation)
        sets[src] = images
    if "gan_filtered" in strategies:
        realism = None if fakes is None else fakes.realism
        if realism is None:
            raise ValueError("gan_filtered needs fakes.realism (one score per default fake, higher "
                             "= more realistic, from a model fitted on real train data only)")
        scores = np.asarray(realism, dtype=float).ravel()
        if len(scores) != len(sets["default"]):
            raise ValueError(f"{len(scores)} realism scores for {len(sets['default'])} synthetic images")
        keep_mask = oversample.select_realistic(scores, settings.filter_keep_fraction)
    return sets, keep_mask


def _row_context(context: Mapping[str, Any] | None, splits: Mapping[str, Any], x_train: np.ndarray) -> dict:
    ctx = dict(context or {})
    clash = [k for k in ctx if k in _RESERVED]
    if clash:
        raise ValueError(f"context keys {clash} are filled in by the grid; drop them from context")
    ctx.setdefault("dataset", getattr(splits["train"], "name", "unknown"))
    ctx.setdefault("image_size", int(x_train.shape[1]))
    return ctx


def _record_run(table: ResultsTable, ctx: dict[str, Any], run: dict[str, Any], key: tuple, weighting: tuple,
                evaluation: tuple, settings: GridSettings) -> None:
    """Score one fitted run on val and test and record its results row."""
    from helpers.classifiers.models import predict_scores

    model_name, strategy, seed, fp = key
    weight, selection = weighting
    x_val, y_val, x_test, y_test = evaluation
    model, ts = run["model"], run["train"]
    val_scores = predict_scores(model, x_val)
    test_scores = predict_scores(model, x_test)
    epochs_run = int(len(run["history"]))
    columns: dict[str, Any] = dict(ctx)
    columns.update(features="pixels", model_weights=run["description"], input_size=run["input_size"])
    columns.update(classification_row(y_test, test_scores, y_score_val=val_scores, y_true_val=y_val))
    columns.update(
        n_train=int(len(ts.y)), n_synthetic=int(ts.n_synthetic),
        synthetic_weight=float(weight) if strategy in GAN_STRATEGIES else float("nan"),
        synthetic_keep_fraction=float(settings.filter_keep_fraction) if strategy == "gan_filtered" else float("nan"),
        weight_selection=selection or "",
        epochs_run=epochs_run, best_epoch=run["best_epoch"], best_val_auc=run["best_val_auc"],
        fit_seconds=round(run["fit_seconds"], 3),
        seconds_per_epoch=round(run["fit_seconds"] / max(epochs_run, 1), 3),
        dtype_policy=model.dtype_policy.name, recipe=parse_classifier(model_name)[1].name,
        run_folder=run["folder"],
    )
    row = table.record(notebook=NOTEBOOK, classifier=model_name, strategy=strategy, seed=seed,
                       fingerprint=fp, y_test=y_test, score_test=test_scores, y_val=y_val,
                       score_val=val_scores, columns=columns)
    print(f"{model_name:11s} {strategy:13s} seed {seed}: test ROC-AUC {row['roc_auc']:.3f}, "
          f"F1 {row['f1']:.3f}, NORMAL F1 {row['f1_normal']:.3f} (val AUC "
          f"{row['val_roc_auc']:.3f}, best epoch {row['best_epoch']}/{epochs_run}, "
          f"fit {run['fit_seconds']:.1f} s; {run['description']})")


def load_histories(run_dir: str | Path) -> pd.DataFrame:
    """Every deep run's per-epoch history with ``model``, ``strategy``, ``seed``, ``synthetic_weight``,
    ``role`` and ``run`` columns, from the folder given to :func:`run_deep_grid` (or its ``deep`` subfolder)."""
    run_dir = Path(run_dir)
    if not (run_dir / "deep").is_dir() and (run_dir / "histories.csv").exists():  # an exported report folder
        return pd.read_csv(run_dir / "histories.csv")
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


def run_dose_response(
    splits: Mapping[str, Any],
    *,
    model: str,
    fakes: Mapping[int, Fakes],
    gaps: Mapping[int, int],
    multipliers: Sequence[float],
    settings: GridSettings,
    run_dir: str | Path,
    **grid: Any,
) -> pd.DataFrame:
    """``model`` with strategy ``gan`` when the first ``round(m × gap)`` fakes are added, per multiplier ``m``.

    ``fakes[seed]``: the reference generator's images, nested. Each multiplier runs in ``run_dir/dose/x<m>/``,
    except 1×: that is the grid's own ``gan`` run in ``run_dir``, reused as it is, so the first ``gap`` fakes must be
    the grid's (other ones meet that run's folder and raise ``ProvenanceError``). Returns every row with
    ``multiplier`` and ``n_fakes``. ``grid``: other :func:`run_deep_grid` arguments.
    """
    rows = []
    for seed, seed_fakes in fakes.items():
        pool = np.asarray(seed_fakes.images["reference"])
        for m in multipliers:
            n = int(round(float(m) * int(gaps[seed])))
            if n > len(pool):
                raise ValueError(f"seed {seed}: {m}× the gap needs {n} fakes, only {len(pool)} were given")
            dosed = Fakes({"reference": pool[:n]}, seed_fakes.class_id)
            folder = Path(run_dir) if float(m) == 1.0 else Path(run_dir) / "dose" / f"x{float(m):g}"
            got = run_deep_grid(splits, models=[model], strategies=["gan"], seeds=[seed], settings=settings,
                                fakes=dosed, run_dir=folder, **grid)
            rows.append(got.assign(multiplier=float(m), n_fakes=n))
    return pd.concat(rows, ignore_index=True)
