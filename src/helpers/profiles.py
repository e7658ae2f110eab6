"""The run profiles: every size, count and epoch budget that changes between a smoke run and the paper run.

A notebook names a profile (``ci``, ``demo``, ``quick``, ``colab``, ``kermany64``, ``paper``);
:func:`helpers.config.resolve` turns it into a run configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.classifiers.recipes import parse_classifier
from helpers.oversampling.strategies import FEATURE_STRATEGIES, PIXEL_STRATEGIES, check_strategies

__all__ = ["Profile", "PROFILES", "DOWNLOADABLE", "NIH_PHANTOM_OPTIONS", "get_profile", "strategies_for"]

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
                                     "sn_diffaug_ema_cond")  # chapter 2/3's ablation
    gan_ablation_seeds: str = "all"  # the ablation's seeds: "all" of the run's or the "first"; at two budgets
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
        dataset="phantom", image_size=32, seeds=(0,), data_options={"n_train": 320, "n_val": 96, "n_test": 128},
        gan_epochs=2, gan_batch_size=32, gan_generator_filters=64, gan_steps_per_epoch=2, gan_checkpoint_every=1,
        gan_steps=4, gan_ablation=("dcgan", "sn_diffaug_ema"), gan_ablation_seeds="first", c2st_epochs=1, encoder_epochs=1, resnet_epochs=1,
        ann_epochs=2, classical_strategies=("none", "random", "smote", "gan", "gan_improved"),
        ann_strategies=("none", "gan_improved"), embedding="pca", cnn_epochs=2, densenet_epochs=1,
        deep_models=("cnn", "densenet121", "cnn_strong"), deep_strategies=("none", "gan", "gan_improved"),
        model_strategies={"cnn_strong": ("none", "gan_improved")}, batch_size=32, patience=2, max_steps_per_epoch=4,
        nih_data_options={**NIH_PHANTOM_OPTIONS, "n_train": 256, "n_val": 96, "n_test": 128,
                          "finding_prevalence": [2 * p for p in NIH_PREVALENCE]},
        k_scarce=2, nih_gan_steps=2, nih_cnn_epochs=2, nih_target_per_finding=32, nih_seeds=(0,),
    ),
    "demo": Profile(
        name="demo",
        description="the `make report` default: phantom X-rays at 32 px, minutes on a CPU",
        dataset="phantom", image_size=32, seeds=(0, 1), data_options={"n_train": 1600, "n_val": 300, "n_test": 600},
        gan_epochs=60, gan_batch_size=64, gan_generator_filters=128, gan_checkpoint_every=5, gan_steps=1500,
        gan_ablation=("dcgan", "dcgan_diffaug", "sn_diffaug_ema"), c2st_epochs=5, encoder_epochs=4, resnet_epochs=2,
        ann_epochs=20, cnn_epochs=12, densenet_epochs=2,
        # DenseNet121 from scratch cannot learn the phantoms in a CPU-minute budget (test ROC-AUC 0.48-0.56,
        # below chance): it stays out of the demo rather than sit in its figures; quick and paper run it.
        deep_models=("cnn",),
        deep_strategies=("none", "class_weight", "random", "classical_aug", "gan", "gan_improved", "gan_filtered",
                         "gan_weighted"),
        model_strategies={"densenet121": ("none", "gan", "gan_improved")}, patience=3, nih_gan_steps=600,
        nih_cnn_epochs=10, nih_target_per_finding=300,
    ),
    "quick": Profile(
        name="quick",
        description="real PneumoniaMNIST at 28 px on a CPU: the committed report (about 4.5 h on 2 cores)",
        dataset="pneumoniamnist", image_size=28, seeds=(0, 1, 2), gan_epochs=30, gan_batch_size=64,
        gan_generator_filters=256, gan_checkpoint_every=5, encoder_epochs=6, resnet_epochs=5, ann_epochs=40,
        cnn_epochs=30,
        densenet_epochs=6,  # about 1.5 min a run from scratch on 2 CPU cores (28 px resized to 32), traced once
        deep_models=("cnn", "densenet121", "cnn_strong", "densenet121_strong"),
        model_strategies={"densenet121": ("none", "class_weight", "random", "gan", "gan_improved"),
                          "cnn_strong": ("none", "class_weight", "random", "gan", "gan_improved"),
                          "densenet121_strong": ("none", "gan_improved")},
        patience=6, nih_data_options={**NIH_PHANTOM_OPTIONS, "n_train": 4000, "n_val": 1000, "n_test": 2000},
        nih_gan_steps=1500, nih_cnn_epochs=15, nih_target_per_finding=600, nih_seeds=(0, 1, 2),
    ),
    "colab": Profile(
        name="colab",
        description="Colab's default (profile=None there): real PneumoniaMNIST at 64 px, GPU-sized budgets",
        dataset="pneumoniamnist",  # downloaded through pooch, md5 checked
        image_size=64, seeds=(0, 1, 2), gan_epochs=50, gan_batch_size=64, gan_generator_filters=512, gan_steps=5000,
        gan_checkpoint_every=5, encoder_epochs=8, resnet_weights="imagenet", resnet_epochs=5, resnet_input_size=64,
        ann_epochs=60, cnn_epochs=30, densenet_epochs=20, densenet_input_size=64, densenet_weights="imagenet",
        patience=6,
        nih_dataset="chestmnist",  # downloaded through pooch, md5 checked
        nih_data_options={}, nih_image_size=64, nih_gan_steps=5000, nih_cnn_epochs=20, nih_target_per_finding=2000,
        nih_seeds=(0, 1, 2),
    ),
    "kermany64": Profile(
        name="kermany64",
        description="the Kaggle Kermany set at 64 px on a 2-core CPU: chapters 1-6 in one resumable background run (about 3 h)",
        dataset="kaggle_pneumonia",  # data_path=<folder with chest_xray/{train,test}/{NORMAL,PNEUMONIA}>
        image_size=64, seeds=(0, 1, 2), gan_epochs=30, gan_batch_size=64, gan_generator_filters=256, gan_steps=1500,
        gan_checkpoint_every=5,
        gan_preset="sn_diffaug_ema_resize",  # at 64 px resize-convolution keeps the fakes varied (benchmarks/README.md)
        gan_ablation=(),  # no extra GANs; e.g. -p gan_ablation dcgan adds the paper's DCGAN at 1,500 steps
        c2st_epochs=5, encoder_epochs=3, resnet_weights="task", resnet_epochs=2, resnet_input_size=64,
        ann_epochs=20, classical_strategies=("none", "class_weight", "random", "gan", "gan_improved"),
        ann_strategies=("none", "class_weight", "random", "gan", "gan_improved"), embedding="pca", cnn_epochs=15,
        densenet_epochs=3,  # from scratch: about 45 s an epoch here, the largest share of chapter 5
        densenet_input_size=64, deep_models=("cnn", "densenet121"),
        deep_strategies=("none", "class_weight", "random", "gan", "gan_improved"), patience=4,
    ),
    "paper": Profile(
        name="paper",
        description="the paper's settings (Ghosh and Dutta): 128 px real data, 100 GAN epochs, ImageNet weights (GPU)",
        dataset="pneumoniamnist", image_size=128, seeds=(0, 1, 2, 3, 4), gan_epochs=100, gan_batch_size=64,
        gan_generator_filters=512, gan_steps=10000, gan_checkpoint_every=5, encoder_epochs=10,
        resnet_weights="imagenet", resnet_epochs=5, resnet_input_size=128, ann_epochs=100, cnn_epochs=30,
        densenet_epochs=30, densenet_input_size=128, densenet_weights="imagenet", patience=10,
        nih_dataset="chestmnist", nih_data_options={}, nih_image_size=128, nih_gan_steps=10000, nih_cnn_epochs=30,
        nih_target_per_finding=3000, nih_seeds=(0, 1, 2, 3, 4),
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
