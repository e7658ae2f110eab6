"""ResNet-18 features for chapter 4's classical classifiers.

The backbone is :func:`helpers.classifiers.resnet.resnet18` (laid out like keras-hub's ``ResNetBackbone``).
``weights="imagenet"`` copies the keras-hub ``resnet_18_imagenet`` preset's weights into it (keras-hub
is pip-installed on demand with every installed package pinned); when they cannot be had, one printed
line says so and the backbone is trained on the task instead, and the description records it.
``weights="task"`` trains it with a ``Dense(1, sigmoid)`` head on the training split (:class:`TaskTraining`).
The extractor maps gray 0..255 ``(N, H, W, 1)`` -> RGB -> resize -> ImageNet normalisation ->
backbone -> global average pooling (512-d).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from helpers.classifiers.layers import GrayToRGB
from helpers.classifiers.resnet import RESNET18_PARAMS, copy_weights, resnet18
from helpers.data.images import IMAGENET_MEAN, IMAGENET_STD, as_model_batch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "RESNET18_PARAMS", "PRESET", "GrayToRGB", "build_resnet18",
           "imagenet_resnet18", "install_keras_hub", "build_extractor", "TaskTraining", "load_feature_extractor",
           "extract_features", "Extractor", "cached_features", "feature_extractor_cached", "extractor_path"]

PRESET = "resnet_18_imagenet"
FEATURE_DIM = 512

#: ``(images, labels)`` of one split.
Split = tuple[Any, Any]


@dataclass(frozen=True)
class TaskTraining:
    """How a ``weights="task"`` backbone trains: Adam 1e-3 + BCE for ``epochs`` on train."""

    epochs: int = 3
    seed: int = 0
    batch_size: int = 64
    max_steps_per_epoch: int | None = None
    verbose: int = 0


def build_resnet18(input_size: int) -> keras.Model:
    """Randomly initialised ResNet-18 (:func:`helpers.classifiers.resnet.resnet18`) for ``input_size`` square RGB input.

    Outputs the last stage's feature map (512 channels); 11,186,112 parameters. Seed first
    (:func:`helpers.core.runtime.set_seeds`) for a reproducible initialisation (the same weights as
    keras-hub's ``ResNetBackbone`` built after the same seed).
    """
    return resnet18(int(input_size))


def _installed_versions() -> dict[str, str]:
    """``{normalised name: version}`` of every distribution installed in this environment."""
    import re
    from importlib import metadata

    versions = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and dist.version and re.fullmatch(r"[0-9][0-9A-Za-z.+!_-]*", dist.version):
            versions[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return versions


def install_keras_hub(timeout: int = 600) -> str:
    """pip-install keras-hub with every installed distribution pinned (pip may only add packages); its version.

    Raises a RuntimeError with pip's last lines when that is impossible (offline, or no fitting release).
    """
    import importlib
    import subprocess
    import sys
    import tempfile

    installed = _installed_versions()
    wanted = ["keras-hub"]
    if "tensorflow" in installed and sys.platform != "win32":  # keras-hub needs tensorflow-text off Windows
        wanted.append("tensorflow-text==" + ".".join(installed["tensorflow"].split(".")[:2]) + ".*")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"{name}=={version}\n" for name, version in sorted(installed.items())))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--retries", "1", "--timeout", "15", "-c", handle.name, *wanted]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(handle.name)
    if out.returncode != 0:
        tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-6:])
        raise RuntimeError(
            f"pip could not add keras-hub without changing installed packages (tensorflow "
            f"{installed.get('tensorflow', '?')}, keras {installed.get('keras', '?')})\n"
            f"keras-hub is needed for the ImageNet ResNet-18 weights only. Asked for {', '.join(wanted)} with every "
            "installed package pinned. Use weights='task', or install a keras-hub that fits these versions "
            f"yourself. pip said:\n{tail}")
    importlib.invalidate_caches()
    added = sorted(set(_installed_versions()) - set(installed))
    version = _installed_versions().get("keras-hub", "?")
    print(f"installed keras-hub {version} for the ImageNet weights (added: {', '.join(added)}; nothing changed)")
    return version


def imagenet_resnet18(input_size: int) -> keras.Model:
    """:func:`helpers.classifiers.resnet.resnet18` holding the ImageNet weights of keras-hub's ``resnet_18_imagenet``.

    Installs keras-hub first when it is missing (:func:`install_keras_hub`); downloads the preset the
    first time (internet). Raises what keras-hub or pip raised when either is impossible.
    """
    import importlib.util

    if importlib.util.find_spec("keras_hub") is None:
        install_keras_hub()
    import keras_hub

    source = keras_hub.models.ResNetBackbone.from_preset(PRESET)
    return copy_weights(source, resnet18(int(input_size)))


def build_extractor(backbone: keras.Model, input_size: int) -> keras.Model:
    """Wrap a backbone: gray 0..255 ``(N, H, W, 1)`` -> 512-d pooled features (see module doc)."""
    size = int(input_size)
    inputs = keras.Input(shape=(None, None, 1), name="image")
    x = GrayToRGB(name="gray_to_rgb")(inputs)
    x = keras.layers.Resizing(size, size, interpolation="bilinear", name="resize")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = keras.layers.Normalization(
        mean=list(IMAGENET_MEAN),
        variance=[s * s for s in IMAGENET_STD],
        name="imagenet_norm",
    )(x)
    x = backbone(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, outputs, name="resnet18_features")


def _binary_labels(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels).ravel()
    if len(y) != n:
        raise ValueError(f"{n} images but {len(y)} labels")
    if not np.isin(np.unique(y), [0, 1]).all():
        raise ValueError(
            f"task training needs binary labels 0/1, got classes {np.unique(y)[:10].tolist()}"
        )
    return y.astype(np.float32)


def _short_reason(exc: BaseException, limit: int = 110) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _train_on_task(input_size: int, train: Split, val: Split | None, training: TaskTraining) -> keras.Model:
    """Random-init ResNet-18 + GAP + Dense(1, sigmoid) trained on train; returns the feature model."""
    from helpers.core.runtime import set_seeds

    x = as_model_batch(train[0])
    y = _binary_labels(train[1], len(x))
    set_seeds(training.seed)
    extractor = build_extractor(build_resnet18(input_size), input_size)
    head = keras.layers.Dense(1, activation="sigmoid", name="score")(extractor.output)
    classifier = keras.Model(extractor.input, head, name="resnet18_task")
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    callbacks: list[keras.callbacks.Callback] = []
    if val is not None and val[0] is not None and val[1] is not None:
        from helpers.classifiers.callbacks import ValAUCCallback

        xv = as_model_batch(val[0])
        yv = _binary_labels(val[1], len(xv))
        if len(np.unique(yv)) == 2:  # keep the epoch with the best exact val ROC-AUC
            callbacks.append(ValAUCCallback(xv, yv, patience=None, verbose=training.verbose))
    steps = None
    if training.max_steps_per_epoch is not None:
        steps = max(1, min(math.ceil(len(x) / training.batch_size), int(training.max_steps_per_epoch)))
    classifier.fit(x, y, epochs=int(training.epochs), batch_size=int(training.batch_size), shuffle=True,
                   steps_per_epoch=steps, callbacks=callbacks, verbose=training.verbose)
    return extractor  # shares the trained layers; output = pooled features


def load_feature_extractor(weights: str, input_size: int, *, train: Split | None = None, val: Split | None = None,
                           training: TaskTraining = TaskTraining()) -> tuple[keras.Model, str]:
    """A ResNet-18 feature extractor (uint8 gray images -> 512-d) and a description of what it is.

    ``weights="imagenet"``: the keras-hub preset's weights (:func:`imagenet_resnet18`); when they cannot
    be had, one printed line says so and it trains on ``train`` instead. ``weights="task"``: random
    init trained on ``train``; with ``val`` the epoch with the best exact val ROC-AUC is kept.
    """
    if weights not in ("imagenet", "task"):
        raise ValueError(f"weights must be 'imagenet' or 'task', not {weights!r}")
    has_train = train is not None and train[0] is not None and train[1] is not None
    epochs = int(training.epochs)
    task_desc = f"{epochs} epoch{'s' if epochs != 1 else ''} on train, random init"
    if weights == "imagenet":
        try:
            backbone = imagenet_resnet18(input_size)
        except Exception as exc:  # offline: requests ConnectionError (an OSError), kagglehub, pip errors
            reason = _short_reason(exc, limit=170)
            if not has_train:
                raise ValueError(
                    f"The ImageNet preset {PRESET!r} could not be loaded ({reason}) and no training "
                    "images were given to fall back on: pass train=(images, labels), or use weights='task'."
                ) from exc
            print(f"ResNet-18 ImageNet preset {PRESET!r} could not be loaded ({reason}); "
                  f"training ResNet-18 on the task instead ({task_desc}).")
            model = _train_on_task(input_size, train, val, training)
            return model, f"task-trained (ImageNet preset unavailable: {type(exc).__name__}; {task_desc})"
        return build_extractor(backbone, input_size), f"imagenet (keras-hub {PRESET})"
    if not has_train:
        raise ValueError("weights='task' trains the backbone on the training split: pass train=(images, labels).")
    return _train_on_task(input_size, train, val, training), f"task-trained ({task_desc})"


def extract_features(extractor: Any, images: Any, batch_size: int = 256) -> np.ndarray:
    """Features of uint8 gray images ``(N, H, W)`` / ``(N, H, W, 1)``: float32 ``(N, 512)``.

    ``extractor`` is anything with a Keras-style ``predict(x, batch_size=, verbose=)``.
    """
    x = as_model_batch(images)
    if len(x) == 0:
        return np.zeros((0, FEATURE_DIM), dtype=np.float32)
    feats = np.asarray(extractor.predict(x, batch_size=int(batch_size), verbose=0), dtype=np.float32)
    return feats.reshape(len(x), -1)


class Extractor(NamedTuple):
    """A feature extractor, what it is (for the rows), and the fingerprint id its features are keyed by."""

    model: keras.Model
    description: str
    fingerprint: str


def cached_features(cache_dir: str | os.PathLike, *, split: str, images: Any, extractor: Extractor,
                    batch_size: int = 256) -> np.ndarray:
    """Features of ``images``, computed once and cached in ``cache_dir`` as an ``.npz``.

    The file name holds the split (``"synthetic"`` for GAN fakes), the extractor's fingerprint id and
    a digest of the images, so other images or another extractor never hit the cache. Written
    atomically; an unreadable cache file stops with an error naming it.
    """
    from helpers.core.artifacts import load_npz, save_npz
    from helpers.core.provenance import array_digest

    arr = np.asarray(images)
    path = Path(cache_dir) / f"{split}_{extractor.fingerprint}_{array_digest(arr)}.npz"
    if path.exists():
        feats = load_npz(path, keys=("features",))["features"]
        if len(feats) != len(arr):
            raise ValueError(f"{path} holds {len(feats)} feature vectors for {len(arr)} images: delete "
                             "it (it is a cache) and re-run.")
        return feats
    feats = extract_features(extractor.model, arr, batch_size=batch_size)
    save_npz(path, features=feats)
    return feats


def extractor_path(run_dir: str | os.PathLike, weights: str, input_size: int, seed: int) -> Path:
    """``run_dir/features/resnet18_<weights>_<size>_seed<seed>.keras``."""
    return Path(run_dir) / "features" / f"resnet18_{weights}_{int(input_size)}_seed{int(seed)}.keras"


def feature_extractor_cached(
    run_dir: str | os.PathLike,
    weights: str,
    input_size: int,
    training: TaskTraining = TaskTraining(),
    *,
    provenance_base: Mapping[str, Any] | None = None,
    train: Split | None = None,
    val: Split | None = None,
    loader: Callable[..., tuple[keras.Model, str]] | None = None,
) -> Extractor:
    """:func:`load_feature_extractor`, saved to / reloaded from :func:`extractor_path`.

    A sidecar ``.json`` keeps the description and the fingerprint (weights, input size, seed, epochs
    and ``provenance_base``); a saved extractor of another fingerprint raises ``ProvenanceError``.
    """
    from helpers.core.artifacts import atomic_write, load_json, save_json
    from helpers.core.provenance import fingerprint_id, mismatch_error, normalise

    seed, epochs = training.seed, training.epochs
    path = extractor_path(run_dir, weights, input_size, seed)
    meta_path = path.with_suffix(".json")
    settings = normalise({**dict(provenance_base or {}), "weights": weights, "input_size": int(input_size),
                          "seed": int(seed), "epochs": int(epochs)})
    fp_id = fingerprint_id(settings)
    if path.exists() or meta_path.exists():
        meta = load_json(meta_path, hint=f"{path} has no sidecar: delete it and re-run.")
        saved = {k: v for k, v in meta.items() if k != "description"}
        if normalise(saved) != settings:
            raise mismatch_error(path, saved, settings, "feature extractor")
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # e.g. saved with keras-hub's backbone, which this environment lacks
            raise ValueError(f"{path} could not be loaded ({_short_reason(exc)}): delete it and {meta_path.name} "
                             "(a cache; rebuilt the same way from the same seed) and re-run.") from exc
        print(f"reusing the feature extractor {path} ({meta['description']})")
        return Extractor(model, str(meta["description"]), fp_id)
    loader = loader or load_feature_extractor
    model, description = loader(weights, input_size, train=train, val=val, training=training)
    with atomic_write(path, suffix=".keras") as tmp:
        model.save(tmp)
    save_json(meta_path, {**settings, "description": description})
    return Extractor(model, description, fp_id)


def features_for_splits(
    cache_dir: str | os.PathLike,
    extractor: Extractor,
    images_by_split: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """:func:`cached_features` for several named image sets (train, val, test, synthetic) at once."""
    return {split: cached_features(cache_dir, split=split, images=images, extractor=extractor)
            for split, images in images_by_split.items()}


def embed_2d(groups: Mapping[str, np.ndarray], *, method: str = "pca", seed: int = 0,
             max_per_group: int = 500) -> dict[str, np.ndarray]:
    """Project groups of feature vectors to 2-D together (scikit-learn PCA or t-SNE), subsampled per group."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")
    rng = np.random.default_rng(seed)
    picked = {}
    for name, feats in groups.items():
        feats = np.asarray(feats, dtype=np.float32)
        idx = np.sort(rng.choice(len(feats), size=min(max_per_group, len(feats)), replace=False))
        picked[name] = feats[idx]
    stacked = StandardScaler().fit_transform(np.concatenate(list(picked.values())))
    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(stacked)
    else:
        perplexity = float(min(30, max(5, (len(stacked) - 1) // 4)))
        xy = TSNE(n_components=2, random_state=seed, init="pca", perplexity=perplexity).fit_transform(stacked)
    out, start = {}, 0
    for name, feats in picked.items():
        out[name] = xy[start:start + len(feats)]
        start += len(feats)
    return out
