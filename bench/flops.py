"""Analytic FLOP counts of Keras models (multiply-adds count as 2 FLOPs), for the benchmarks' GFLOP/s figures.

Counted: Conv1D/Conv2D/Conv3D, Dense, LSTM and GRU (the layers that hold nearly all
the arithmetic of serzoo's chains); element-wise layers, pooling and normalisation
are left out, so the figures are slight underestimates. A training step costs about
three forward passes (forward, gradient with respect to the inputs and to the weights).
"""

from __future__ import annotations

import numpy as np

TRAIN_FACTOR = 3


def _out_positions(layer) -> int:
    shape = layer.output.shape  # (batch, ...spatial, channels)
    return int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


def layer_flops(layer) -> int:
    """Forward FLOPs of one layer for one example (0 for layers not counted)."""
    kind = type(layer).__name__
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        kernel = layer.kernel.shape  # (*window, in, out)
        return 2 * int(np.prod(kernel)) * _out_positions(layer)
    if kind == "Dense":
        in_shape = layer.input.shape
        positions = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
        return 2 * int(np.prod(layer.kernel.shape)) * positions
    if kind in ("LSTM", "GRU"):
        cell = layer.cell
        steps = int(layer.input.shape[1])
        gates = cell.kernel.shape[-1]  # 4 or 3 gates x units
        return 2 * steps * (int(cell.kernel.shape[0]) + int(cell.units)) * int(gates)
    if kind == "Bidirectional":
        return 2 * layer_flops(layer.forward_layer)
    return 0


def model_flops(model) -> int:
    """Forward FLOPs of a model for one example, summed over its counted layers (nested models included)."""
    total = 0
    for layer in model.layers:
        total += model_flops(layer) if hasattr(layer, "layers") else layer_flops(layer)
    return total


def train_flops(model, examples: int) -> float:
    """FLOPs of training ``model`` on ``examples`` examples (one optimizer pass over them)."""
    return float(TRAIN_FACTOR * model_flops(model) * examples)
