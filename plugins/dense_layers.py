"""Keras builders of the dense family: plain, highway and residual stacks.

Dense layers act on the last axis, so one builder serves a sequence (applied
to every time step with shared weights) and a single vector alike.
"""

from __future__ import annotations

import keras
from keras import layers

from serzoo.plugins.keras_layers import activate, dropout as drop, highway_gate, regularizer


def dense_stack(x, *, name: str, units, activation: str, batchnorm: bool, dropout: float, l2: float):
    """One Dense layer per entry of ``units``, each followed by activation and dropout."""
    for i, n in enumerate(units, 1):
        x = layers.Dense(n, kernel_regularizer=regularizer(l2), use_bias=not batchnorm, name=f"{name}_dense{i}")(x)
        x = activate(x, activation, batchnorm, f"{name}_{i}")
        x = drop(x, dropout, f"{name}_drop{i}")
    return x


def highway_stack(x, *, name: str, layers: int, activation: str, gate_bias: float, dropout: float, l2: float):
    """``layers`` highway layers of the input's width: ``t * H(x) + (1 - t) * x``.

    The gate bias starts negative so that a fresh layer mostly carries its input
    through, which is what lets deep highway stacks train.
    """
    width = x.shape[-1]
    for i in range(1, layers + 1):
        h = keras.layers.Dense(width, activation=activation, kernel_regularizer=regularizer(l2), name=f"{name}_h{i}")(x)
        t = keras.layers.Dense(width, activation="sigmoid", kernel_regularizer=regularizer(l2),
                               bias_initializer=keras.initializers.Constant(gate_bias), name=f"{name}_t{i}")(x)
        x = highway_gate(x, h, t, f"{name}_gate{i}")
        x = drop(x, dropout, f"{name}_drop{i}")
    return x


def residual_stack(x, *, name: str, units, activation: str, batchnorm: bool, dropout: float, l2: float):
    """One residual unit per entry of ``units``: ``act(skip(x) + Dense(act(Dense(x))))``.

    The skip is the identity when the width stays, a linear projection when it changes.
    """
    for i, n in enumerate(units, 1):
        y = layers.Dense(n, kernel_regularizer=regularizer(l2), use_bias=not batchnorm, name=f"{name}_u{i}_dense1")(x)
        y = activate(y, activation, batchnorm, f"{name}_u{i}_1")
        y = drop(y, dropout, f"{name}_u{i}_drop")
        y = layers.Dense(n, kernel_regularizer=regularizer(l2), use_bias=not batchnorm, name=f"{name}_u{i}_dense2")(y)
        if batchnorm:
            y = layers.BatchNormalization(name=f"{name}_u{i}_2_bn")(y)
        skip = x
        if x.shape[-1] != n:
            skip = layers.Dense(n, use_bias=False, kernel_regularizer=regularizer(l2), name=f"{name}_u{i}_proj")(x)
        x = layers.Add(name=f"{name}_u{i}_add")([skip, y])
        if activation != "linear":
            x = layers.Activation(activation, name=f"{name}_u{i}_out")(x)
    return x
