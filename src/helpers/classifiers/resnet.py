"""ResNet-18 (basic blocks ``[2, 2, 2, 2]``, 11,186,112 parameters) in plain Keras, for chapter 4's features.

Laid out like keras-hub's ``ResNetBackbone`` layer for layer (names, creation order, initialisers,
BatchNorm ``epsilon=1e-5, momentum=0.9``), so after the same seed its random weights equal
keras-hub's and :func:`copy_weights` moves the ``resnet_18_imagenet`` preset's weights in by name.
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["RESNET18_PARAMS", "STAGES", "basic_block", "resnet18", "copy_weights"]

RESNET18_PARAMS = 11_186_112
#: (filters, blocks, stride of the first block) per stage.
STAGES: tuple[tuple[int, int, int], ...] = ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(axis=-1, epsilon=1e-5, momentum=0.9, name=name)


def basic_block(x: keras.KerasTensor, filters: int, stride: int = 1, conv_shortcut: bool = False,
                name: str = "block") -> keras.KerasTensor:
    """One basic block: ``relu(shortcut(x) + BN(conv3x3(relu(BN(conv3x3(x, stride))))))``.

    The shortcut is ``x`` itself, or a strided 1x1 conv + BN when ``conv_shortcut`` (shape changes).
    """
    shortcut = x
    if conv_shortcut:  # created first, as keras-hub does: the order decides the random init
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    if stride > 1:  # PyTorch-style explicit padding before a strided conv
        x = layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, padding="valid" if stride > 1 else "same",
                      use_bias=False, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn")(x))
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet18(input_size: int | None = None, name: str = "resnet18") -> keras.Model:
    """Randomly initialised ResNet-18: ``(N, S, S, 3)`` -> the last stage's ``(N, S/32, S/32, 512)`` map.

    ``input_size=None`` accepts any size. Seed first (:func:`helpers.core.runtime.set_seeds`) for a
    reproducible initialisation (the same as keras-hub's ``ResNetBackbone`` after the same seed).
    """
    if input_size is not None and int(input_size) < 32:
        raise ValueError(f"input_size={input_size} is too small for ResNet-18 (five stride-2 steps); use >= 32")
    size = None if input_size is None else int(input_size)
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, padding="valid", use_bias=False, name="conv1_conv")(x)
    x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for s, (filters, blocks, stride) in enumerate(STAGES):
        for b in range(blocks):
            x = basic_block(x, filters, stride=stride if b == 0 else 1, conv_shortcut=(b == 0 and s > 0),
                            name=f"stack{s}_block{b}")
    return keras.Model(inputs, x, name=name)


def copy_weights(source: keras.Model, target: keras.Model) -> keras.Model:
    """Copy a keras-hub ResNet-18 ``ResNetBackbone``'s weights into :func:`resnet18`'s model, by layer name.

    Every layer of ``target`` that holds weights must find a layer of the same name and the same
    weight shapes in ``source``; otherwise a ValueError names the first that does not.
    """
    missing, copied = [], 0
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            missing.append(layer.name)
            continue
        values = src.get_weights()
        shapes = [tuple(v.shape) for v in values]
        wanted = [tuple(w.shape) for w in layer.weights]
        if shapes != wanted:
            raise ValueError(f"layer {layer.name!r}: source weights {shapes} do not fit {wanted}; "
                             "copy_weights expects a ResNet-18 (basic blocks [2, 2, 2, 2]) backbone")
        layer.set_weights(values)
        copied += 1
    if missing:
        raise ValueError(f"{len(missing)} layers of {target.name!r} have no counterpart in {source.name!r} "
                         f"(first: {missing[0]!r}); copy_weights expects keras-hub's ResNet-18 ResNetBackbone")
    return target
