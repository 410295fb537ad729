"""Keras layers of the core itself (not of a block plugin); registered so saved models reload."""

from __future__ import annotations

import keras

PACKAGE = "serzoo"


@keras.saving.register_keras_serializable(package=PACKAGE)
class UtteranceStandardization(keras.layers.Layer):
    """Standardise each feature of each example over that example's own time steps (and context frames).

    Per-utterance normalisation needs no training statistics, so a saved model
    carries nothing data-specific and behaves the same on any recording.

    Args:
        feature_axis: the axis holding the features (negative, counted from the end).
        epsilon: added to the variance.
    """

    def __init__(self, feature_axis: int = -1, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.feature_axis = int(feature_axis)
        self.epsilon = float(epsilon)

    def call(self, x):
        rank = len(x.shape)
        keep = self.feature_axis % rank
        axes = [a for a in range(1, rank) if a != keep]
        mean = keras.ops.mean(x, axis=axes, keepdims=True)
        variance = keras.ops.var(x, axis=axes, keepdims=True)
        return (x - mean) / keras.ops.sqrt(variance + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "feature_axis": self.feature_axis, "epsilon": self.epsilon}
