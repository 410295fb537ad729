"""Keras layers of the example plugin, registered under the plugin's distribution name."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="serzoo-example-plugin")
class StatsPooling(keras.layers.Layer):
    """Mean (and standard deviation) over the time axis of a (batch, T, F) sequence.

    Args:
        with_std: append the standard deviation, giving 2F features instead of F.
    """

    def __init__(self, with_std: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.with_std = with_std

    def call(self, inputs):
        mean = ops.mean(inputs, axis=1)
        if not self.with_std:
            return mean
        # the epsilon keeps the gradient of sqrt finite on constant (e.g. zero-padded) inputs
        std = ops.sqrt(ops.maximum(ops.var(inputs, axis=1), 0.0) + 1e-6)
        return ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        features = input_shape[-1] * (2 if self.with_std else 1) if input_shape[-1] is not None else None
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "with_std": self.with_std}
