"""DCGAN for oversampling the minority class: the paper's networks, options for limited data, resumable training.

* :mod:`~helpers.gan.dcgan`: the paper's generator, discriminator and training step (:class:`DCGAN`);
* :mod:`~helpers.gan.losses`, :mod:`~helpers.gan.diffaugment`, :mod:`~helpers.gan.ema`: the pieces for
  few images; :mod:`~helpers.gan.presets`: their named combinations (:data:`GAN_PRESETS`);
* :mod:`~helpers.gan.training`: :func:`train_gan` with :class:`GanSettings`, into a run folder
  (:mod:`~helpers.gan.checkpoints`); :mod:`~helpers.gan.sampling`: drawing fakes;
* :mod:`~helpers.gan.generators`: which generators a run trains and where they live.

A run's health (losses, mode collapse) is :mod:`helpers.evaluation.gan_health`'s.
"""

from helpers.data.images import SUPPORTED_SIZES
from helpers.gan.checkpoints import restore_checkpoint
from helpers.gan.dcgan import (
    DCGAN,
    MinibatchStdDev,
    build_discriminator,
    build_generator,
    build_networks,
)
from helpers.gan.losses import BCELoss, HingeLoss
from helpers.gan.presets import GAN_OPTIONS, GAN_PRESETS, GENERATOR_OPTIONS, gan_options
from helpers.gan.sampling import generate_images, load_generator
from helpers.gan.training import (
    GanSettings,
    load_progress,
    make_gan_dataset,
    minority_training_images,
    train_gan,
)

__all__ = [
    "SUPPORTED_SIZES", "GAN_PRESETS", "GAN_OPTIONS", "GENERATOR_OPTIONS", "gan_options",
    "build_generator", "build_discriminator", "build_networks", "MinibatchStdDev", "DCGAN", "BCELoss", "HingeLoss",
    "GanSettings", "train_gan", "make_gan_dataset", "minority_training_images", "load_progress",
    "restore_checkpoint", "load_generator", "generate_images",
]
