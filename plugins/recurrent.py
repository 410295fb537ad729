"""Recurrent blocks: stacked (bidirectional) LSTMs, and the LSTM averaged over time.

Metadata only; the Keras code is in :mod:`serzoo.plugins.temporal_layers`,
imported when a model is built.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.plugins import common
from serzoo.core.registry import Block, Param


def _check(options) -> None:
    common.check_positive(options, "units")
    common.check_regularisers(options)


def _lstm_out(layout_in: str, options) -> str:
    return "sequence" if options["return_sequences"] else "vector"


def build_lstm(x, **options):
    from serzoo.plugins.temporal_layers import lstm_stack

    return lstm_stack(x, **options)


def build_lstm_avg(x, *, name: str, **options):
    """An LSTM stack returning every step, averaged over time (global average pooling)."""
    from serzoo.plugins.temporal_layers import average_pool, lstm_stack

    return average_pool(lstm_stack(x, name=name, return_sequences=True, **options), name=name)


_UNITS = Param("units", "ints", (128,), "units of each LSTM; one stacked LSTM per value")
_BIDIRECTIONAL = Param("bidirectional", "bool", False, "run each LSTM in both directions and concatenate")


@hookimpl
def serzoo_register_blocks(register):
    register(Block(
        name="lstm",
        description="Stacked LSTMs over time, returning the last state (vector) or every step (sequence)",
        factory=build_lstm,
        params=(
            _UNITS,
            _BIDIRECTIONAL,
            Param("return_sequences", "bool", False, "return every step (a sequence) instead of the last state"),
            common.dropout(),
            common.l2(),
        ),
        layouts_in=("sequence",),
        layout_out="sequence|vector",
        out_rule=_lstm_out,
        check=_check,
    ))
    register(Block(
        name="lstm_avg",
        description="Stacked LSTMs whose outputs are averaged over time (globally average-pooled LSTM)",
        factory=build_lstm_avg,
        params=(_UNITS, _BIDIRECTIONAL, common.dropout(), common.l2()),
        layouts_in=("sequence",),
        layout_out="vector",
        check=_check,
    ))
