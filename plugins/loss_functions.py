"""Keras code of the built-in losses; imported only when a loss is built.

:mod:`serzoo.plugins.losses` registers the metadata and imports this module
inside its factories, so listing losses never imports TensorFlow. Every class
here is registered with ``package="serzoo"`` and returns all its constructor
arguments from ``get_config``, so a compiled model saved as ``.keras`` reloads
with its loss.

Conventions: classification targets are one-hot ``(batch, K)`` and predictions
softmax probabilities ``(batch, K)``; regression targets and predictions are
``(batch, d)`` (``d`` is 1 for one regression task).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from serzoo.core.errors import ConfigError

#: Cost-matrix layouts of :class:`CostWeightedCrossentropy`.
COST_MODES = ("true_class", "first_class")


def misclassification_costs(class_priors: Sequence[float]) -> np.ndarray:
    """Per-class misclassification costs from class priors.

    The original trainer gave class ``c`` the cost ``(1 - p_c) / sum_k (1 - p_k)``,
    so rare classes cost more. Here the costs are scaled by ``K`` so that they
    average to 1: uniform priors give every class the cost 1, and the loss
    keeps the scale of plain cross-entropy.

    Args:
        class_priors: relative class frequencies of the training fold, shape ``(K,)``.

    Returns:
        Costs ``K * (1 - p_c) / sum_k (1 - p_k)``, shape ``(K,)``, float64.

    Raises:
        ConfigError: fewer than two classes, or priors that are negative or sum to 0.
    """
    priors = np.asarray(class_priors, dtype=np.float64).reshape(-1)
    if priors.size < 2:
        raise ConfigError(f"loss weighted_cce needs at least 2 classes, got priors {priors.tolist()}")
    if np.any(priors < 0) or not np.isfinite(priors).all() or priors.sum() <= 0:
        raise ConfigError(f"loss weighted_cce: class priors must be non-negative frequencies, got {priors.tolist()}")
    priors = priors / priors.sum()
    inverse = 1.0 - priors
    return priors.size * inverse / inverse.sum()


def cost_matrix(class_priors: Sequence[float], mode: str = "true_class") -> np.ndarray:
    """The ``(K, K)`` cost of predicting class ``p`` (column) for true class ``t`` (row).

    Args:
        class_priors: relative class frequencies, shape ``(K,)``.
        mode: ``true_class``: a wrong prediction of true class ``t`` costs
            ``cost_t`` and a right one costs 1. ``first_class``: the original
            trainer's layout, where class 0 (typically *neutral*) is the
            reference: confusing class 0 with class ``c`` in either direction
            costs ``cost_c``, a right prediction of class 0 costs ``cost_0``,
            and every other cell costs 1.

    Returns:
        The cost matrix, float64.
    """
    costs = misclassification_costs(class_priors)
    k = costs.size
    if mode == "true_class":
        matrix = np.repeat(costs[:, None], k, axis=1)
        np.fill_diagonal(matrix, 1.0)
    elif mode == "first_class":
        matrix = np.ones((k, k))
        matrix[0, :] = costs
        matrix[:, 0] = costs
    else:
        raise ConfigError(f"loss weighted_cce: mode={mode!r} is not one of {', '.join(COST_MODES)}")
    return matrix


@keras.saving.register_keras_serializable(package="serzoo")
class CostWeightedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy scaled by a misclassification cost.

    For each example with true class ``t`` and predicted class
    ``p = argmax(y_pred)`` the loss is ``cost[t, p] * CE(y_true, y_pred)``,
    where ``CE = -sum_k y_k log(clip(y_pred_k))``. The cost only scales the
    gradient of the cross-entropy (the argmax has none); it makes mistakes on
    rare classes expensive. With soft targets the cost row is the target-weighted
    mix of rows. :func:`cost_matrix` derives the costs from the training fold's
    class priors, as the original trainer did; uniform priors give plain
    cross-entropy. (The original looked up both row and column from the
    prediction's argmax, so only the diagonal ever applied; here the row is
    the true class, which is what its cost matrix was meant for.)

    Args:
        costs: the ``(K, K)`` cost matrix (rows true class, columns predicted), nested lists.
        name: loss name.
        reduction: Keras reduction over the batch.
        dtype: Keras loss dtype.
    """

    def __init__(self, costs, name="weighted_cce", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        matrix = np.asarray(costs, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ConfigError(f"loss weighted_cce: the cost matrix must be square, got shape {matrix.shape}")
        self.costs = matrix.tolist()
        self._costs = matrix.astype("float32")

    @classmethod
    def from_priors(cls, class_priors, mode="true_class", **kwargs):
        """Build the loss with :func:`cost_matrix` of the given priors."""
        return cls(cost_matrix(class_priors, mode), **kwargs)

    def call(self, y_true, y_pred):
        # Keras' functional cross-entropy renormalises and clips the probabilities.
        ce = keras.losses.categorical_crossentropy(y_true, y_pred)
        k = len(self.costs)
        costs = ops.cast(ops.convert_to_tensor(self._costs), y_pred.dtype)
        predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), k, dtype=y_pred.dtype)
        weight = ops.sum(ops.matmul(ops.cast(y_true, y_pred.dtype), costs) * predicted, axis=-1)
        return ce * weight

    def get_config(self):
        return {**super().get_config(), "costs": self.costs}


@keras.saving.register_keras_serializable(package="serzoo")
class FocalCrossentropy(keras.losses.Loss):
    """Categorical focal loss (Lin et al. 2017), one value per example.

    ``-sum_k alpha_k * y_k * (1 - q_k)**gamma * log(q_k)``, where ``q`` is the
    prediction renormalised and clipped to ``[eps, 1 - eps]``. ``gamma`` lowers
    the weight of examples the model already gets right; ``alpha`` weighs the
    classes: one number for all of them, or one per class. ``gamma=0`` and
    ``alpha=1`` give plain cross-entropy.

    Args:
        gamma: focusing parameter, >= 0.
        alpha: class weight, a number or a list of K numbers.
        name: loss name.
        reduction: Keras reduction over the batch.
        dtype: Keras loss dtype.
    """

    def __init__(self, gamma=2.0, alpha=0.25, name="focal", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if gamma < 0:
            raise ConfigError(f"loss focal: gamma={gamma} must be >= 0")
        self.gamma = float(gamma)
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) else float(alpha)

    def call(self, y_true, y_pred):
        alpha = ops.cast(ops.convert_to_tensor(self.alpha), y_pred.dtype)
        return keras.losses.categorical_focal_crossentropy(y_true, y_pred, alpha=alpha, gamma=self.gamma)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="serzoo")
class ConcordanceLoss(keras.losses.Loss):
    """``1 - CCC`` over the batch, averaged over output columns.

    Lin's concordance correlation coefficient
    ``CCC = 2 cov(y, p) / (var(y) + var(p) + (mean(y) - mean(p))**2)`` uses
    population moments over the batch axis, so the loss is one number per
    batch, not per example (sample weights, if given, scale it by their mean).
    ``epsilon`` in the denominator keeps a constant batch finite; the loss is
    then 1. Batches should be large enough for the moments to mean something.

    Args:
        epsilon: added to the denominator.
        name: loss name.
        reduction: Keras reduction (the value is already a scalar).
        dtype: Keras loss dtype.
    """

    def __init__(self, epsilon=1e-7, name="ccc", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        mean_t = ops.mean(y_true, axis=0)
        mean_p = ops.mean(y_pred, axis=0)
        var_t = ops.mean(ops.square(y_true - mean_t), axis=0)
        var_p = ops.mean(ops.square(y_pred - mean_p), axis=0)
        cov = ops.mean((y_true - mean_t) * (y_pred - mean_p), axis=0)
        ccc = 2.0 * cov / (var_t + var_p + ops.square(mean_t - mean_p) + self.epsilon)
        return 1.0 - ops.mean(ccc)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
