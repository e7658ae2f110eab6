"""Profiles and run folders: every size, count, epoch budget and path a notebook needs.

A notebook's ``parameters`` cell names a profile (``ci``, ``demo``, ``quick``, ``colab``,
``kermany64``, ``paper``) and may override a few fields; :func:`resolve` turns that into a
:class:`RunConfig`. Environment variables set by the tests and the series runner win over the cell
(so nbval, which cannot pass parameters, runs the ``ci`` profile):

``HELPERS_PROFILE``, ``HELPERS_RUN_DIR``, ``HELPERS_FIGURES_DIR``, ``HELPERS_DATASET``,
``HELPERS_DATA_PATH``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.classifiers.recipes import parse_classifier
from helpers.data.images import SUPPORTED_SIZES
from helpers.oversampling.strategies import FEATURE_STRATEGIES, PIXEL_STRATEGIES, check_strategies

__all__ = ["Profile", "RunConfig", "PROFILES", "REPO_ROOT", "SUPPORTED_SIZES", "default_profile", "get_profile",
           "profile_name", "resolve", "strategies_for"]


def _checkout_holding(folder: Path) -> Path | None:
    """The checkout of this repository (``pyproject.toml`` beside ``src/helpers/``) holding ``folder``."""
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "helpers" / "config.py").is_file():
            return candidate
    return None


_SOURCE = Path(__file__).resolve().parent  # <checkout>/src/helpers, or site-packages/helpers
#: The checkout this package is imported from (an editable install, or ``src/`` on the path);
#: ``None`` when it was installed into site-packages (then nothing here may depend on it).
REPO_ROOT: Path | None = _SOURCE.parents[1] if _checkout_holding(_SOURCE) == _SOURCE.parents[1] else None


def work_root() -> Path:
    """Where default and relative run folders live: the checkout of this repository holding the
    current working directory (so a notebook running in ``notebooks/`` and a command run at the
    root share ``<checkout>/build/``), else the current working directory itself."""
    cwd = Path.cwd()
    return _checkout_holding(cwd) or cwd


DOWNLOADABLE = ("pneumoniamnist", "chestmnist", "kaggle_pneumonia")
#: Share of images with each phantom finding (helpers.data.phantom.PHANTOM_LABELS order: Cardiomegaly, Effusion,
#: Nodule, Mass, Pneumothorax, Consolidation) in NIH's Data_Entry_2017.csv (112,120 images).
NIH_PREVALENCE = (0.0248, 0.1188, 0.0565, 0.0516, 0.0473, 0.0416)
#: Chapter 7's offline data: the phantom's multi-label mode with NIH's finding rates.
NIH_PHANTOM_OPTIONS: dict[str, Any] = {"multi_label": True, "n_train": 2000, "n_val": 500, "n_test": 1000,
                                       "finding_prevalence": list(NIH_PREVALENCE)}


@dataclass(frozen=True)
class Profile:
    """Everything that changes between a seconds-long smoke run and the paper run."""

    name: str
    description: str
    dataset: str
    image_size: int
    seeds: tuple[int, ...]
    data_options: dict[str, Any] = field(default_factory=dict)
    # DCGAN (notebook 02)
    gan_epochs: int = 30
    gan_batch_size: int = 64
    gan_generator_filters: int = 512
    gan_steps_per_epoch: int | None = None
    gan_checkpoint_every: int = 5
    gan_preset: str = "sn_diffaug_ema"  # the series' generator for limited data (chapters 4-5's default fakes)
    gan_steps: int = 3000  # its budget in generator updates (the paper's dcgan keeps gan_epochs)
    gan_ablation: tuple[str, ...] = ("dcgan", "dcgan_diffaug", "sn_diffaug_ema", "sn_diffaug_ema_hinge",
                                     "sn_diffaug_ema_cond")  # chapter 2/3's ablation (first seed)
    c2st_epochs: int = 10  # epochs of chapter 3's real-vs-fake two-sample test
    # Evaluation of the fakes (notebook 03)
    encoder_epochs: int = 5
    # Features + classical classifiers (notebook 04)
    resnet_weights: str = "task"  # "imagenet" (online) or "task" (trained briefly on train)
    resnet_epochs: int = 3
    resnet_input_size: int = 32
    ann_epochs: int = 30
    classical_classifiers: tuple[str, ...] = ("decision_tree", "random_forest", "svm", "ann")
    classical_strategies: tuple[str, ...] = ("none", "class_weight", "random", "smote", "adasyn", "gan",
                                             "gan_improved")
    ann_strategies: tuple[str, ...] = ("none", "class_weight", "random", "classical_aug", "gan", "gan_improved")
    embedding: str = "tsne"  # 2-D map of the features: "tsne" or "pca"
    # CNN / DenseNet121 (notebook 05)
    cnn_epochs: int = 30
    densenet_epochs: int = 30
    densenet_input_size: int = 32
    densenet_weights: str | None = None  # "imagenet" when it can be downloaded
    deep_models: tuple[str, ...] = ("cnn", "densenet121")  # <architecture>[_<recipe>], helpers.classifiers.recipes
    deep_strategies: tuple[str, ...] = (
        "none", "class_weight", "random", "classical_aug", "gan", "gan_improved", "gan_filtered", "gan_weighted",
        "gan_aug",
    )
    model_strategies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # classifier -> strategies
    # (a classifier not named runs deep_strategies; "densenet121" also covers densenet121_<recipe>)
    batch_size: int = 64
    patience: int = 5
    max_steps_per_epoch: int | None = None
    # NIH ChestX-ray14 multi-label study (notebook 07): its own data, GANs and CNN budget
    nih_dataset: str = "phantom"  # phantom (multi-label mode) offline | chestmnist | nih (local folder)
    nih_data_options: dict[str, Any] = field(default_factory=lambda: dict(NIH_PHANTOM_OPTIONS))
    nih_image_size: int = 32
    k_scarce: int = 3  # GAN images for the k scarcest findings of the training split
    nih_gan_preset: str = "sn_diffaug_ema_cond"  # conditional: one GAN for the k findings
    nih_gan_steps: int = 1500
    nih_cnn_epochs: int = 12
    nih_target_per_finding: int = 400  # training images per scarce finding after adding GAN images
    nih_seeds: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        check_strategies(self.classical_strategies, FEATURE_STRATEGIES, f"profile {self.name}: classical_strategies")
        check_strategies(self.ann_strategies, PIXEL_STRATEGIES, f"profile {self.name}: ann_strategies")
        check_strategies(self.deep_strategies, PIXEL_STRATEGIES, f"profile {self.name}: deep_strategies")
        for model in (*self.deep_models, *self.model_strategies):
            try:
                parse_classifier(model)
            except ValueError as err:
                raise ValueError(f"profile {self.name}: {err}") from None
        for model, chosen in self.model_strategies.items():
            check_strategies(chosen, PIXEL_STRATEGIES, f"profile {self.name}: model_strategies[{model!r}]")


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        description="seconds per notebook: tiny phantom data, one seed, a few steps (tests)",
        dataset="phantom",
        image_size=32,
        seeds=(0,),
        data_options={"n_train": 320, "n_val": 96, "n_test": 128},
        gan_epochs=2,
        gan_batch_size=32,
        gan_generator_filters=64,
        gan_steps_per_epoch=2,
        gan_checkpoint_every=1,
        gan_steps=4,
        gan_ablation=("dcgan", "sn_diffaug_ema"),
        c2st_epochs=1,
        encoder_epochs=1,
        resnet_epochs=1,
        ann_epochs=2,
        classical_strategies=("none", "random", "smote", "gan", "gan_improved"),
        ann_strategies=("none", "gan_improved"),
        embedding="pca",
        cnn_epochs=2,
        densenet_epochs=1,
        deep_models=("cnn", "densenet121", "cnn_strong"),
        deep_strategies=("none", "gan", "gan_improved"),
        model_strategies={"cnn_strong": ("none", "gan_improved")},
        batch_size=32,
        patience=2,
        max_steps_per_epoch=4,
        nih_data_options={**NIH_PHANTOM_OPTIONS, "n_train": 256, "n_val": 96, "n_test": 128,
                          "finding_prevalence": [2 * p for p in NIH_PREVALENCE]},
        k_scarce=2,
        nih_gan_steps=2,
        nih_cnn_epochs=2,
        nih_target_per_finding=32,
        nih_seeds=(0,),
    ),
    "demo": Profile(
        name="demo",
        description="the `make report` default: phantom X-rays at 32 px, minutes on a CPU",
        dataset="phantom",
        image_size=32,
        seeds=(0, 1),
        data_options={"n_train": 1600, "n_val": 300, "n_test": 600},
        gan_epochs=60,
        gan_batch_size=64,
        gan_generator_filters=128,
        gan_checkpoint_every=5,
        gan_steps=1500,
        gan_ablation=("dcgan", "dcgan_diffaug", "sn_diffaug_ema"),
        c2st_epochs=5,
        encoder_epochs=4,
        resnet_epochs=2,
        ann_epochs=20,
        cnn_epochs=12,
        densenet_epochs=2,
        # DenseNet121 from scratch cannot learn the phantoms in a CPU-minute budget (test ROC-AUC 0.48-0.56,
        # below chance): it stays out of the demo rather than sit in its figures; quick and paper run it.
        deep_models=("cnn",),
        deep_strategies=("none", "class_weight", "random", "classical_aug", "gan", "gan_improved", "gan_filtered",
                         "gan_weighted"),
        model_strategies={"densenet121": ("none", "gan", "gan_improved")},
        patience=3,
        nih_gan_steps=600,
        nih_cnn_epochs=10,
        nih_target_per_finding=300,
    ),
    "quick": Profile(
        name="quick",
        description="real PneumoniaMNIST at 28 px on a CPU (tens of minutes)",
        dataset="pneumoniamnist",
        image_size=28,
        seeds=(0, 1, 2),
        gan_epochs=30,
        gan_batch_size=64,
        gan_generator_filters=256,
        gan_checkpoint_every=5,
        encoder_epochs=6,
        resnet_epochs=5,
        ann_epochs=40,
        cnn_epochs=30,
        densenet_epochs=6,  # about 1.5 min a run from scratch on 2 CPU cores (28 px resized to 32), traced once
        deep_models=("cnn", "densenet121", "cnn_strong", "densenet121_strong"),
        model_strategies={"densenet121": ("none", "class_weight", "random", "gan", "gan_improved"),
                          "cnn_strong": ("none", "class_weight", "random", "gan", "gan_improved"),
                          "densenet121_strong": ("none", "gan_improved")},
        patience=6,
        nih_data_options={**NIH_PHANTOM_OPTIONS, "n_train": 4000, "n_val": 1000, "n_test": 2000},
        nih_gan_steps=1500,
        nih_cnn_epochs=15,
        nih_target_per_finding=600,
        nih_seeds=(0, 1, 2),
    ),
    "colab": Profile(
        name="colab",
        description="Colab's default (profile=None there): real PneumoniaMNIST at 64 px, GPU-sized budgets",
        dataset="pneumoniamnist",  # downloaded through pooch, md5 checked
        image_size=64,
        seeds=(0, 1, 2),
        gan_epochs=50,
        gan_batch_size=64,
        gan_generator_filters=512,
        gan_steps=5000,
        gan_checkpoint_every=5,
        encoder_epochs=8,
        resnet_weights="imagenet",
        resnet_epochs=5,
        resnet_input_size=64,
        ann_epochs=60,
        cnn_epochs=30,
        densenet_epochs=20,
        densenet_input_size=64,
        densenet_weights="imagenet",
        patience=6,
        nih_dataset="chestmnist",  # downloaded through pooch, md5 checked
        nih_data_options={},
        nih_image_size=64,
        nih_gan_steps=5000,
        nih_cnn_epochs=20,
        nih_target_per_finding=2000,
        nih_seeds=(0, 1, 2),
    ),
    "kermany64": Profile(
        name="kermany64",
        description="the Kaggle Kermany set at 64 px on a 2-core CPU: chapters 1-6 in one background run (about 2.3 h)",
        dataset="kaggle_pneumonia",  # data_path=<folder with chest_xray/{train,test}/{NORMAL,PNEUMONIA}>
        image_size=64,
        seeds=(0, 1, 2),
        gan_epochs=30,
        gan_batch_size=64,
        gan_generator_filters=256,
        gan_steps=1500,
        gan_checkpoint_every=5,
        gan_preset="sn_diffaug_ema_resize",  # at 64 px resize-convolution keeps the fakes varied (benchmarks/README.md)
        gan_ablation=(),  # no extra GANs; e.g. -p gan_ablation dcgan adds the paper's DCGAN at 1,500 steps
        c2st_epochs=5,
        encoder_epochs=3,
        resnet_weights="task",
        resnet_epochs=2,
        resnet_input_size=64,
        ann_epochs=20,
        classical_strategies=("none", "class_weight", "random", "gan", "gan_improved"),
        ann_strategies=("none", "class_weight", "random", "gan", "gan_improved"),
        embedding="pca",
        cnn_epochs=15,
        densenet_epochs=3,  # from scratch: about 45 s an epoch here, the largest share of chapter 5
        densenet_input_size=64,
        deep_models=("cnn", "densenet121"),
        deep_strategies=("none", "class_weight", "random", "gan", "gan_improved"),
        patience=4,
    ),
    "paper": Profile(
        name="paper",
        description="the paper's settings (Ghosh and Dutta): 128 px real data, 100 GAN epochs, ImageNet weights (GPU)",
        dataset="pneumoniamnist",
        image_size=128,
        seeds=(0, 1, 2, 3, 4),
        gan_epochs=100,
        gan_batch_size=64,
        gan_generator_filters=512,
        gan_steps=10000,
        gan_checkpoint_every=5,
        encoder_epochs=10,
        resnet_weights="imagenet",
        resnet_epochs=5,
        resnet_input_size=128,
        ann_epochs=100,
        cnn_epochs=30,
        densenet_epochs=30,
        densenet_input_size=128,
        densenet_weights="imagenet",
        patience=10,
        nih_dataset="chestmnist",
        nih_data_options={},
        nih_image_size=128,
        nih_gan_steps=10000,
        nih_cnn_epochs=30,
        nih_target_per_finding=3000,
        nih_seeds=(0, 1, 2, 3, 4),
    ),
}


def strategies_for(profile: Profile, model: str) -> tuple[str, ...]:
    """The oversampling strategies a deep classifier runs in this profile (some run fewer).

    Its own ``model_strategies`` entry, else its architecture's, else ``deep_strategies``.
    """
    arch = parse_classifier(model)[0]
    for key in (model, arch):
        if key in profile.model_strategies:
            return tuple(profile.model_strategies[key])
    return profile.deep_strategies


def get_profile(name: str) -> Profile:
    """Return the named profile, or raise a ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


@dataclass(frozen=True)
class RunConfig:
    """A resolved profile plus the dataset, folders and identity of one run."""

    profile: Profile
    dataset: str
    image_size: int
    seeds: tuple[int, ...]
    data_path: str | None
    run_dir: Path
    figures_dir: Path
    run_id: str
    _state: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def seed(self) -> int:
        """The first seed: the one single-seed steps (data, GAN) use."""
        return self.seeds[0]

    def path(self, *parts: str) -> Path:
        """A path inside the run folder (parent folders created)."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def folder(self, *parts: str) -> Path:
        """A folder inside the run folder (created)."""
        p = self.run_dir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def load_splits(self, **options: Any):
        """Load train/val/test of this run's dataset (:func:`helpers.data.load_splits`) and bind the run folder to it.

        The first call stamps ``run_dir/provenance.json`` with the data's fingerprint; later calls
        (other chapters, re-runs) must find the same data there, or stop with a
        :class:`helpers.core.provenance.ProvenanceError` (use another ``run_dir`` or ``fresh=True``).
        """
        from helpers import data
        from helpers.core import provenance

        opts = dict(self.profile.data_options if self.dataset == self.profile.dataset else {})
        if self.data_path is None and self.dataset in DOWNLOADABLE:
            opts["download"] = True  # pooch / kagglehub cache: downloads once, md5-checked
        opts.update(options)
        splits = data.load_splits(
            self.dataset, self.image_size, data_path=self.data_path, seed=self.seed, **opts
        )
        shaping = {k: v for k, v in opts.items() if k != "download"}
        fp = provenance.data_fingerprint(splits, dataset=self.dataset, image_size=self.image_size,
                                         options={**shaping, "split_seed": self.seed})
        provenance.check_or_stamp(self.run_dir, fp, "run folder",
                                  must_be_empty=("results.csv", "gan", "synthetic", "features", "deep"))
        self._state["data_fingerprint"] = fp
        return splits

    @property
    def multi_label(self) -> bool:
        """Whether this run's data carry several findings per image (chestmnist, nih, the multi-label phantom)."""
        from helpers.data import DATASETS

        info = DATASETS.get(self.dataset)
        opts = self.profile.data_options if self.dataset == self.profile.dataset else {}
        return bool((info is not None and info.multi_label) or opts.get("multi_label"))

    @property
    def data_id(self) -> str:
        """Short hash of the run's data fingerprint (call :meth:`load_splits` first)."""
        from helpers.core.provenance import fingerprint_id

        fp = self._state.get("data_fingerprint")
        if fp is None:
            raise RuntimeError("call cfg.load_splits() before asking for the data fingerprint")
        return fingerprint_id(fp)

    def fingerprint(self, **fields: Any) -> dict[str, Any]:
        """An artifact's fingerprint: the run's data id plus the ``fields`` that shape the artifact."""
        return {"data": self.data_id, **fields}

    def describe(self) -> str:
        """One line for the top of a notebook."""
        return (
            f"profile={self.profile.name} dataset={self.dataset} image_size={self.image_size} "
            f"seeds={list(self.seeds)} run_dir={self.run_dir}"
        )


def _git_sha(folder: Path) -> str | None:
    """``<short sha>[+dirty]`` when ``folder`` is the top of a git checkout, else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "--short", "HEAD"],
                             cwd=folder, capture_output=True, text=True, timeout=5)
        lines = out.stdout.split()
        if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != folder.resolve():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True, timeout=5).stdout.strip()
        return lines[1] + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _installed_version() -> str:
    """``v<version>`` of the installed package, ``+g<commit>`` when pip installed it from git."""
    from helpers import __version__

    try:
        from importlib import metadata

        dist = metadata.distribution("gan-cxr-helpers")
        commit = json.loads(dist.read_text("direct_url.json") or "{}").get("vcs_info", {}).get("commit_id", "")
        return f"v{dist.version}" + (f"+g{commit[:7]}" if commit else "")
    except Exception:  # not installed as a distribution (src/ on the path), odd metadata
        return f"v{__version__}"


def _git_short_sha() -> str:
    """The commit stamp of a run: the git commit of the checkout of this repository holding the
    working directory, else of the checkout the package is imported from, else the installed version."""
    for root in dict.fromkeys(r for r in (_checkout_holding(Path.cwd()), REPO_ROOT) if r is not None):
        sha = _git_sha(root)
        if sha:
            return sha
    return _installed_version()




def _check_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes)) or isinstance(seeds, (int, float)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a list of integers such as [0, 1, 2], got {seeds!r}")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int,)) and not (isinstance(s, float) and s.is_integer()):
            raise ValueError(f"seeds must be a list of integers such as [0, 1, 2]; {s!r} in {seeds!r} is not one")
        out.append(int(s))
    if not out:
        raise ValueError("seeds must name at least one seed, e.g. [0, 1, 2] (got an empty list)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds must not repeat, got {seeds!r}")
    return tuple(out)


def _check_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, float)) or int(image_size) != image_size:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES} (pixels), got {image_size!r}")
    if int(image_size) not in SUPPORTED_SIZES:
        raise ValueError(
            f"image_size={image_size!r} is not supported: every chapter runs at {SUPPORTED_SIZES} px "
            "(the GAN's up-sampling stack needs 7x7 or 4x4 times a power of two). Pick one of those."
        )
    return int(image_size)


def default_profile() -> str:
    """The profile ``profile=None`` means: ``colab`` on Google Colab, ``demo`` elsewhere."""
    from helpers.core import runtime

    return "colab" if runtime.IS_COLAB else "demo"


def profile_name(profile: str | None = None) -> str:
    """The profile a run uses: ``HELPERS_PROFILE``, else ``profile``, else :func:`default_profile`."""
    return os.environ.get("HELPERS_PROFILE") or profile or default_profile()


def resolve(
    profile: str | None = None,
    dataset: str | None = None,
    image_size: int | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    data_path: str | None = None,
    run_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    fresh: bool = False,
) -> RunConfig:
    """Build the run configuration from a notebook's parameters (environment variables win).

    ``profile=None`` picks :func:`default_profile`: ``colab`` on Google Colab, ``demo`` elsewhere.
    ``fresh=True`` moves an existing run folder aside (``<run_dir>.old-<time>``) and starts afresh;
    without it, artifacts made from other inputs stop the run with a
    :class:`helpers.core.provenance.ProvenanceError`. Unsupported sizes and malformed seeds raise
    a ValueError here, before anything loads or downloads.
    """
    env = os.environ
    prof = get_profile(profile_name(profile))
    dataset = env.get("HELPERS_DATASET") or dataset or prof.dataset
    data_path = env.get("HELPERS_DATA_PATH") or data_path
    image_size = _check_size(prof.image_size if image_size is None else image_size)
    seeds = _check_seeds(prof.seeds if seeds is None else seeds)
    default_run = work_root() / "build" / prof.name  # ./build/<profile>, or <checkout>/build/<profile>
    run_dir = Path(env.get("HELPERS_RUN_DIR") or run_dir or default_run).expanduser().resolve()
    figures_dir = Path(env.get("HELPERS_FIGURES_DIR") or figures_dir or run_dir / "figures").expanduser()
    figures_dir = figures_dir if figures_dir.is_absolute() else (work_root() / figures_dir).resolve()
    if fresh:
        from helpers.core.provenance import move_aside

        move_aside(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    run_id = f"{prof.name}/{dataset}/{image_size}px/seeds {','.join(map(str, seeds))} @ {_git_short_sha()} {stamp}"
    return RunConfig(
        profile=prof,
        dataset=dataset,
        image_size=image_size,
        seeds=seeds,
        data_path=data_path,
        run_dir=run_dir,
        figures_dir=figures_dir,
        run_id=run_id,
    )
