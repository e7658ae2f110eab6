"""Run-time environment: seeds and determinism, device detection, mixed precision, Colab (and its
Google Drive), and the ``tf.distribute`` strategy that fits the hardware (TPU, several GPUs, or the default)."""

from __future__ import annotations

import functools
import os
import random
import sys
from pathlib import Path

import numpy as np

__all__ = ["IS_COLAB", "DRIVE_MOUNT", "drive_run_dir", "mount_drive", "set_seeds", "device_summary", "has_gpu",
           "enable_mixed_precision_if_gpu", "precision_policy", "enable_memory_growth", "tpu_address",
           "distribution_strategy", "global_batch_size"]

IS_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
#: Where Colab mounts Google Drive; a run folder on Drive is ``<DRIVE_MOUNT>/MyDrive/gan-cxr/<profile>``.
DRIVE_MOUNT = Path("/content/drive")


def mount_drive() -> Path:
    """Mount Google Drive at :data:`DRIVE_MOUNT` (Colab asks for permission once); return ``MyDrive``.

    Only on Colab: elsewhere it raises a RuntimeError that says so (a local disk keeps a run anyway).
    """
    if not IS_COLAB:
        raise RuntimeError(
            "Google Drive can only be mounted on Colab; here the run folder stays on this machine's disk, "
            "which keeps a run between sessions anyway (drive=True does nothing outside Colab)"
        )
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount(str(DRIVE_MOUNT))
    return DRIVE_MOUNT / "MyDrive"


def drive_run_dir(profile: str) -> Path:
    """The run folder on Drive for ``profile``: ``<DRIVE_MOUNT>/MyDrive/gan-cxr/<profile>``."""
    return DRIVE_MOUNT / "MyDrive" / "gan-cxr" / profile


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


#: Environment variable that picks chapter 5's precision policy instead of the default below.
PRECISION_ENV = "HELPERS_PRECISION"
PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def enable_mixed_precision_if_gpu() -> str:
    """Use ``mixed_float16`` on a GPU and ``float32`` elsewhere; return the policy name.

    ``HELPERS_PRECISION=mixed_bfloat16`` (or any of :data:`PRECISION_POLICIES`) overrides the
    choice, e.g. to try bfloat16 on a CPU with AVX512_BF16 (``benchmarks/bench_precision.py``
    measures what it does to speed and AUC); chapter 5 records the policy in every row.
    """
    import keras

    policy = precision_policy()
    keras.mixed_precision.set_global_policy(policy)
    return policy


def precision_policy() -> str:
    """The policy :func:`enable_mixed_precision_if_gpu` sets, without setting it (run fingerprints
    carry it, so a run trained in one precision is not reused for another)."""
    policy = os.environ.get(PRECISION_ENV) or ("mixed_float16" if has_gpu() else "float32")
    if policy not in PRECISION_POLICIES:
        raise ValueError(f"{PRECISION_ENV}={policy!r} is not a precision policy; use one of {PRECISION_POLICIES}")
    return policy


def enable_memory_growth() -> list[str]:
    """Let TensorFlow take GPU memory as it needs it instead of all of it at start; return the GPUs set.

    Call it before anything runs on a GPU: once TensorFlow has initialised them the setting cannot
    change, and those GPUs are left out (with a warning). Does nothing without a GPU.
    """
    import warnings

    import tensorflow as tf

    done = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            done.append(gpu.name)
        except (RuntimeError, ValueError) as err:  # already initialised, or virtual devices configured
            if tf.config.experimental.get_memory_growth(gpu):  # set before (a notebook's setup cell run twice)
                done.append(gpu.name)
            else:
                warnings.warn(f"memory growth not set on {gpu.name}: {err}", RuntimeWarning, stacklevel=2)
    return done


def tpu_address() -> str | None:
    """The TPU to connect to, or None: the ``grpc://`` address of a (legacy) Colab TPU node
    (``COLAB_TPU_ADDR``), ``TPU_NAME``, or ``"local"`` on a TPU VM such as Colab's current TPU
    runtimes (``TPU_ACCELERATOR_TYPE`` set, or a ``/dev/accel0`` device)."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.environ.get("TPU_ACCELERATOR_TYPE") or os.path.exists("/dev/accel0"):
        return "local"
    return None


@functools.cache
def distribution_strategy():
    """The ``tf.distribute`` strategy for this machine (one per process): ``TPUStrategy`` on a TPU,
    ``MirroredStrategy`` over several GPUs (or logical CPUs), else the default. A TPU that cannot be
    initialised raises."""
    import tensorflow as tf

    address = tpu_address()
    if address is not None:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
            if address != "local":
                tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except Exception as err:
            raise RuntimeError(f"a TPU was found ({address}) but could not be initialised: {err}") from err
        return tf.distribute.TPUStrategy(resolver)
    for kind in ("GPU", "CPU"):
        devices = tf.config.list_logical_devices(kind)
        if len(devices) > 1:
            return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica: int, strategy=None) -> int:
    """The batch to give ``fit``/``tf.data`` so each replica of ``strategy`` sees ``per_replica``."""
    if strategy is None:
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    return int(per_replica) * int(strategy.num_replicas_in_sync)
