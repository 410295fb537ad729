"""Keras builders of the convolution families: plain, residual (ResNet) and highway convolutions.

Tensors are channels-last, as TensorFlow's CPU kernels require:
``1d`` convolves a sequence (batch, T, F) over time with Conv1D; ``2d`` and
``3d`` convolve (batch, T, C, D, channels) with Conv3D. The 2-D case, a
convolution over each time step's context window x features, is a Conv3D whose
kernel, strides and pooling are 1 along time: the same result as a per-step
Conv2D, without TimeDistributed's reshapes. Padding is always ``same`` so no
combination of kernel, stride and pool sizes can shrink an axis to nothing.
"""

from __future__ import annotations

import keras
from keras import layers

from serzoo.plugins.common import layer_sizes, per_axis
from serzoo.plugins.keras_layers import activate, dropout as drop, highway_gate, regularizer

#: kind -> (convolution class, pooling classes by pool_type)
_CLASSES = {
    "1d": (layers.Conv1D, {"max": layers.MaxPooling1D, "avg": layers.AveragePooling1D}),
    "2d": (layers.Conv3D, {"max": layers.MaxPooling3D, "avg": layers.AveragePooling3D}),
    "3d": (layers.Conv3D, {"max": layers.MaxPooling3D, "avg": layers.AveragePooling3D}),
}


def axes(kind: str, sizes) -> tuple[int, ...]:
    """Sizes per convolved axis of ``kind``; a ``2d`` block gets size 1 along time."""
    if kind == "1d":
        return per_axis(sizes, 1)
    if kind == "2d":
        return (1, *per_axis(sizes, 2))
    return per_axis(sizes, 3)


def conv(kind: str, filters: int, kernel, name: str, *, strides=1, l2: float = 0.0, **kwargs):
    """The convolution layer of ``kind`` with ``same`` padding."""
    cls = _CLASSES[kind][0]
    return cls(filters, axes(kind, kernel), strides=axes(kind, strides), padding="same",
               kernel_regularizer=regularizer(l2), name=name, **kwargs)


def apply_pool(x, kind: str, sizes, pool_type: str, name: str):
    """Pool with ``same`` padding; sizes of all 1 add no layer."""
    sizes = axes(kind, sizes)
    if all(s == 1 for s in sizes):
        return x
    return _CLASSES[kind][1][pool_type](sizes, padding="same", name=name)(x)


def per_layer(kind: str, depth: int, **sizes) -> list[dict]:
    """The ``sizes`` options (kernel, strides, pool) of each of ``depth`` layers, one dict per layer."""
    rank = int(kind[0])
    columns = {key: layer_sizes(value, rank, depth, key) for key, value in sizes.items()}
    return [{key: column[i] for key, column in columns.items()} for i in range(depth)]


def conv_stack(x, *, name: str, kind: str, filters, kernel, strides, pool: tuple, pool_type: str,
               activation: str, batchnorm: bool, dropout: float, l2: float):
    """One convolution per entry of ``filters``, each followed by activation, pooling and dropout.

    ``kernel``, ``strides`` and ``pool`` give one size for all layers or one per layer.
    """
    sizes = per_layer(kind, len(filters), kernel=kernel, strides=strides, pool=pool)
    for i, (f, own) in enumerate(zip(filters, sizes), 1):
        x = conv(kind, f, own["kernel"], f"{name}_conv{i}", strides=own["strides"], l2=l2, use_bias=not batchnorm)(x)
        x = activate(x, activation, batchnorm, f"{name}_{i}")
        x = apply_pool(x, kind, own["pool"], pool_type, f"{name}_pool{i}")
        x = drop(x, dropout, f"{name}_drop{i}")
    return x


def resnet_stack(x, *, name: str, kind: str, filters, units: int, kernel, pool: tuple, pool_type: str,
                 activation: str, batchnorm: bool, dropout: float, l2: float):
    """Residual stages, one per entry of ``filters``, of ``units`` residual units each, pooled after each stage.

    A unit is ``act(skip + BN(conv(act(BN(conv(x))))))``; the skip is the identity
    (He et al., 2016) except where a stage changes the number of channels, where a
    1x1 convolution projects it. ``kernel`` and ``pool`` give one size for all stages or one per stage.
    """
    sizes = per_layer(kind, len(filters), kernel=kernel, pool=pool)
    for s, (f, own) in enumerate(zip(filters, sizes), 1):
        kernel = own["kernel"]
        for u in range(1, units + 1):
            p = f"{name}_s{s}u{u}"
            y = conv(kind, f, kernel, f"{p}_conv1", l2=l2, use_bias=not batchnorm)(x)
            y = activate(y, activation, batchnorm, f"{p}_1")
            y = drop(y, dropout, f"{p}_drop")
            y = conv(kind, f, kernel, f"{p}_conv2", l2=l2, use_bias=not batchnorm)(y)
            if batchnorm:
                y = layers.BatchNormalization(name=f"{p}_2_bn")(y)
            skip = x if x.shape[-1] == f else conv(kind, f, 1, f"{p}_proj", l2=l2, use_bias=False)(x)
            x = layers.Add(name=f"{p}_add")([skip, y])
            if activation != "linear":
                x = layers.Activation(activation, name=f"{p}_out")(x)
        x = apply_pool(x, kind, own["pool"], pool_type, f"{name}_s{s}_pool")
    return x


def highway_conv_stack(x, *, name: str, kind: str, filters: int, layers: int, kernel, pool: tuple,
                       pool_type: str, activation: str, gate_bias: float, dropout: float, l2: float):
    """``layers`` convolutional highway layers of ``filters`` channels, pooled once at the end.

    Transform and gate are convolutions of the same kernel; an input with another
    number of channels is first brought to ``filters`` by one plain convolution (with the first
    layer's kernel). ``kernel`` gives one size for all layers or one per layer.
    """
    kernels = [own["kernel"] for own in per_layer(kind, layers, kernel=kernel)]
    if x.shape[-1] != filters:
        x = conv(kind, filters, kernels[0], f"{name}_in", l2=l2, activation=activation)(x)
    for i, kernel in enumerate(kernels, 1):
        h = conv(kind, filters, kernel, f"{name}_h{i}", l2=l2, activation=activation)(x)
        t = conv(kind, filters, kernel, f"{name}_t{i}", l2=l2, activation="sigmoid",
                 bias_initializer=keras.initializers.Constant(gate_bias))(x)
        x = highway_gate(x, h, t, f"{name}_gate{i}")
        x = drop(x, dropout, f"{name}_drop{i}")
    return apply_pool(x, kind, layer_sizes(pool, int(kind[0]), 1, "pool")[0], pool_type, f"{name}_pool")
