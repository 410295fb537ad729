"""Temporal pooling blocks: a sequence of vectors to one vector, by average, statistics or attention.

Metadata only; the Keras code is in :mod:`serzoo.plugins.temporal_layers`,
imported when a model is built.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.plugins import common
from serzoo.core.registry import Block, Param


def build_avgpool(x, *, name: str):
    from serzoo.plugins.temporal_layers import average_pool

    return average_pool(x, name=name)


def build_statspool(x, *, name: str):
    from serzoo.plugins.temporal_layers import stats_pool

    return stats_pool(x, name=name)


def build_attention(x, **options):
    from serzoo.plugins.temporal_layers import attention_pool

    return attention_pool(x, **options)


def _check_attention(options) -> None:
    common.check_positive(options, "units")
    common.check_regularisers(options)


@hookimpl
def serzoo_register_blocks(register):
    register(Block(
        name="avgpool",
        description="Global average pooling over time",
        factory=build_avgpool,
        layouts_in=("sequence",),
        layout_out="vector",
    ))
    register(Block(
        name="statspool",
        description="Statistics pooling over time: the mean and standard deviation of every feature",
        factory=build_statspool,
        layouts_in=("sequence",),
        layout_out="vector",
        layer_modules=("serzoo.plugins.keras_layers",),
    ))
    register(Block(
        name="attention",
        description="Attention pooling over time: a learned weighted average of the steps",
        factory=build_attention,
        params=(Param("units", "int", 64, "hidden units of the attention scorer"), common.l2()),
        layouts_in=("sequence",),
        layout_out="vector",
        layer_modules=("serzoo.plugins.keras_layers",),
        check=_check_attention,
    ))
