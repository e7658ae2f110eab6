"""Run-time environment: seeds and determinism, device detection, mixed precision, Colab."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

__all__ = ["IS_COLAB", "set_seeds", "device_summary", "has_gpu", "enable_mixed_precision_if_gpu"]

IS_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def set_seeds(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow/Keras; ask TensorFlow for deterministic kernels.

    Call it once per notebook (after the parameters cell) and again before each seeded run.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):  # old TF or already initialised
            pass


def has_gpu() -> bool:
    """True when TensorFlow sees at least one GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_summary() -> str:
    """One line naming the accelerator TensorFlow will use (or the CPU)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
            except Exception:  # pragma: no cover - driver dependent
                names.append(gpu.name)
        return f"GPU: {', '.join(names)}"
    return f"CPU only ({os.cpu_count()} cores); TensorFlow {tf.__version__}"


def enable_mixed_precision_if_gpu() -> str:
    """Use ``mixed_float16`` on a GPU and ``float32`` elsewhere; return the policy name."""
    import keras

    policy = "mixed_float16" if has_gpu() else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy
