"""Keras builders of the temporal blocks: LSTM stacks and pooling over time."""

from __future__ import annotations

from keras import layers

from serzoo.plugins.keras_layers import AttentionPooling, regularizer


def lstm_stack(x, *, name: str, units, bidirectional: bool, return_sequences: bool, dropout: float, l2: float):
    """Stacked LSTMs, one per entry of ``units``; all but the last return the whole sequence.

    Args:
        x: a (batch, T, F) sequence.
        return_sequences: whether the last LSTM returns every step (a sequence) or its last state (a vector).
        dropout: dropout on each LSTM's inputs.
    """
    for i, n in enumerate(units, 1):
        sequences = return_sequences or i < len(units)
        lstm = layers.LSTM(n, return_sequences=sequences, dropout=dropout, kernel_regularizer=regularizer(l2),
                           name=f"{name}_lstm{i}")
        x = layers.Bidirectional(lstm, name=f"{name}_bilstm{i}")(x) if bidirectional else lstm(x)
    return x


def average_pool(x, *, name: str):
    """Average a (batch, T, F) sequence over time."""
    return layers.GlobalAveragePooling1D(name=f"{name}_avg")(x)


def stats_pool(x, *, name: str):
    """Mean and standard deviation of a (batch, T, F) sequence over time (x-vector style statistics pooling)."""
    from serzoo.plugins.keras_layers import StatsPooling

    return StatsPooling(name=f"{name}_stats")(x)


def attention_pool(x, *, name: str, units: int, l2: float):
    """Pool a (batch, T, F) sequence with learned attention weights over time."""
    return AttentionPooling(units, kernel_regularizer=regularizer(l2), name=f"{name}_attention")(x)
