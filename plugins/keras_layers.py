"""The custom Keras layers of the built-in blocks, and helpers their builders share.

Imported only when a model is built or loaded (blocks list this module in
``layer_modules``), never when serzoo merely lists its plugins. Everything
else the blocks build is a standard Keras layer, so models serialise with no
custom code at all; the two layers here exist because Keras has no equivalent:
the highway gate and attention pooling over time.
"""

from __future__ import annotations

import keras
from keras import layers, ops

#: the Keras package name the layers are registered under: serzoo's distribution name
PACKAGE = "serzoo"


@keras.saving.register_keras_serializable(package=PACKAGE)
class HighwayGate(layers.Layer):
    """Mix a transform with its input through a gate: ``t * h + (1 - t) * x``.

    The gate ``t`` (in [0, 1]) and the transform ``h`` are computed by ordinary
    Dense or convolution layers; this layer only carries the input through where
    the gate is closed (Srivastava et al., 2015). Called on ``[x, h, t]`` of one shape.
    """

    def call(self, inputs):
        x, h, t = inputs
        return x + t * (h - x)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPooling(layers.Layer):
    """Pool a sequence (batch, T, F) to one vector (batch, F) by learned attention over time.

    Each step gets the score ``v . tanh(W h_t + b)``; a softmax over time turns the
    scores into weights, and the output is the weighted sum of the steps. Masked
    steps get no weight.

    Args:
        units: size of the hidden layer that scores the steps.
        kernel_regularizer: regulariser of ``W`` and ``v``.
    """

    def __init__(self, units: int = 64, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(features, self.units), initializer="glorot_uniform",
                                 regularizer=self.kernel_regularizer)
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform",
                                 regularizer=self.kernel_regularizer)

    def call(self, inputs, mask=None):
        scores = ops.matmul(ops.tanh(ops.matmul(inputs, self.w) + self.b), self.v)  # (batch, T, 1)
        if mask is not None:
            scores = ops.where(ops.expand_dims(mask, -1), scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        return ops.sum(weights * inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None  # the time axis, and with it the mask, is gone

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


# -- helpers for the builders -------------------------------------------------------------------


def regularizer(l2: float):
    """An L2 kernel regulariser, or None when the weight is 0 (keeps configs and losses clean)."""
    return keras.regularizers.L2(l2) if l2 else None


def dropout(x, rate: float, name: str):
    """Apply Dropout when ``rate`` > 0; a rate of 0 adds no layer."""
    return layers.Dropout(rate, name=name)(x) if rate else x


def activate(x, activation: str, batchnorm: bool, name: str):
    """Optional batch normalisation, then the activation (skipped for ``linear``)."""
    if batchnorm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation != "linear":
        x = layers.Activation(activation, name=f"{name}_act")(x)
    return x


def highway_gate(x, h, t, name: str):
    """Combine input, transform and gate with :class:`HighwayGate`."""
    return HighwayGate(name=name)([x, h, t])


@keras.saving.register_keras_serializable(package=PACKAGE)
class StatsPooling(keras.layers.Layer):
    """Mean and standard deviation over time of a (batch, T, F) sequence: (batch, 2F)."""

    def call(self, inputs):
        mean = keras.ops.mean(inputs, axis=1)
        # the epsilon keeps the gradient of sqrt finite on constant (zero-padded) steps
        std = keras.ops.sqrt(keras.ops.maximum(keras.ops.var(inputs, axis=1), 0.0) + 1e-6)
        return keras.ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[-1] is None else 2 * input_shape[-1])
