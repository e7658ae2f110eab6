"""Training recipes for chapter 5's CNN and DenseNet121: optimizer, schedule, loss and per-batch augmentation.

``reference``: both papers' plain settings (Adam 1e-3, constant, binary cross-entropy); Table 1 uses it.
``strong``: AdamW (2e-3, weight decay 1e-4), one-epoch warm-up + cosine decay, label smoothing 0.05,
contrast and brightness jitter up to 10% (no flips: the heart sits on one side); chosen on val only.
A results row names the classifier ``<architecture>`` (reference) or ``<architecture>_<recipe>``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Recipe", "RECIPES", "ARCHITECTURES", "classifier_name", "parse_classifier", "DEEP_CLASSIFIERS"]

#: The deep architectures chapter 5 trains.
ARCHITECTURES: tuple[str, ...] = ("cnn", "densenet121")


@dataclass(frozen=True)
class Recipe:
    """How a deep model is trained (everything but the architecture and the strategy)."""

    name: str
    optimizer: str = "adam"  # "adam" | "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0  # AdamW only
    schedule: str = "constant"  # "constant" | "cosine" (per step, to 0 at the last epoch)
    warmup_epochs: float = 0.0  # linear warm-up from 0 (cosine only)
    label_smoothing: float = 0.0
    shift: float = 0.0  # augmentation on every batch: fractions of the image size / intensity range
    zoom: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"recipe {self.name}: optimizer must be 'adam' or 'adamw', not {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"recipe {self.name}: schedule must be 'constant' or 'cosine', not {self.schedule!r}")
        if self.warmup_epochs and self.schedule != "cosine":
            raise ValueError(f"recipe {self.name}: warm-up needs schedule='cosine'")

    @property
    def augments(self) -> bool:
        """Whether every training batch is augmented."""
        return any((self.shift, self.zoom, self.contrast, self.brightness))

    def settings(self) -> dict[str, Any]:
        """Every field (they go into each run's fingerprint)."""
        return asdict(self)

    def augmentation(self, seed: int) -> Any:
        """The recipe's seeded augmentation layers (``None`` when it has none)."""
        if not self.augments:
            return None
        from helpers.data.augment import augmentation_layers

        return augmentation_layers(seed, rotation=0.0, zoom=self.zoom, flip=False, shift=self.shift,
                                   contrast=self.contrast, brightness=self.brightness)


RECIPES: dict[str, Recipe] = {
    "reference": Recipe("reference"),
    "strong": Recipe("strong", optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, schedule="cosine",
                     warmup_epochs=1.0, label_smoothing=0.05, contrast=0.1, brightness=0.1),
}

def classifier_name(architecture: str, recipe: str = "reference") -> str:
    """``cnn`` for the reference recipe, ``cnn_strong`` for the strong one."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {list(ARCHITECTURES)}")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {list(RECIPES)}")
    return architecture if recipe == "reference" else f"{architecture}_{recipe}"


#: Every deep classifier name a results row may carry.
DEEP_CLASSIFIERS: tuple[str, ...] = tuple(classifier_name(arch, r) for r in RECIPES for arch in ARCHITECTURES)


def parse_classifier(name: str) -> tuple[str, Recipe]:
    """``"cnn_strong"`` -> ``("cnn", RECIPES["strong"])``; ``"cnn"`` -> the reference recipe."""
    for arch in ARCHITECTURES:
        if name == arch:
            return arch, RECIPES["reference"]
        if name.startswith(arch + "_") and name[len(arch) + 1:] in RECIPES:
            return arch, RECIPES[name[len(arch) + 1:]]
    raise ValueError(f"unknown deep classifier {name!r}; choose from {list(DEEP_CLASSIFIERS)} "
                     f"(<architecture>_<recipe>, recipes: {list(RECIPES)})")
