"""Keras code of the topology blocks (:mod:`serzoo.plugins.topology`), imported when a model is built."""

from __future__ import annotations

import keras
from keras import layers, ops

from serzoo.core.errors import ConfigError
from serzoo.plugins.keras_layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class GlobalPooling(layers.Layer):
    """Pool a (batch, T, F) sequence over time with several functions, concatenated: (batch, len(modes) * F).

    Args:
        modes: pooling functions in output order, out of ``avg``, ``max``, ``min`` and ``std``.
    """

    def __init__(self, modes=("avg", "max", "std"), **kwargs):
        super().__init__(**kwargs)
        self.modes = tuple(modes)

    def call(self, inputs):
        parts = []
        for mode in self.modes:
            if mode == "avg":
                parts.append(ops.mean(inputs, axis=1))
            elif mode == "max":
                parts.append(ops.max(inputs, axis=1))
            elif mode == "min":
                parts.append(ops.min(inputs, axis=1))
            else:  # the epsilon keeps the gradient of sqrt finite on constant (zero-padded) steps
                parts.append(ops.sqrt(ops.maximum(ops.var(inputs, axis=1), 0.0) + 1e-6))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        return (input_shape[0], None if features is None else len(self.modes) * features)

    def get_config(self):
        return {**super().get_config(), "modes": list(self.modes)}


def flatten_steps(x, *, name: str, steps: int):
    """The first ``steps`` steps (0: all) of a (batch, T, F) sequence as one (batch, steps * F) vector.

    Raises:
        ConfigError: the sequence has no fixed length, or fewer steps than asked for.
    """
    length = x.shape[1]
    if length is None:
        raise ConfigError(f"{name}: flatten needs a fixed number of time steps; this sequence has none")
    if steps > length:
        raise ConfigError(f"flatten.steps={steps}: the sequence has only {length} time steps here")
    if steps and steps < length:
        x = layers.Cropping1D((0, length - steps), name=f"{name}_crop")(x)
    return layers.Flatten(name=f"{name}_flatten")(x)
