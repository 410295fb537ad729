"""Convolution blocks: 1-D over time, 2-D over each step's context x features, 3-D over time x context x features.

Metadata only; the Keras code is in :mod:`serzoo.plugins.conv_layers`, imported
when a model is built.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.plugins import common
from serzoo.core.registry import Block, Param


_DESCRIPTIONS = {
    "1d": "1-D convolutions over time on a sequence of vectors",
    "2d": "2-D convolutions over each time step's context window x features",
    "3d": "3-D convolutions over time x context window x features",
}


@hookimpl
def serzoo_register_blocks(register):
    for kind in common.CONV_KINDS:
        layout = common.conv_layout(kind)
        register(Block(
            name=f"cnn{kind}",
            description=_DESCRIPTIONS[kind],
            factory=common.deferred_factory(
                "conv_stack", f"cnn{kind}", kind=kind,
                doc=f"Build a cnn{kind} block: convolutions, each followed by activation, pooling and dropout."),
            params=(
                Param("filters", "ints", (32, 64) if kind == "1d" else (16, 32), "filters of each layer; one layer per value"),
                *common.axis_params(kind),
                common.activation(),
                common.batchnorm(),
                common.dropout(),
                common.l2(),
            ),
            layouts_in=(layout,),
            layout_out=layout,
            check=common.conv_checker(kind, "kernel", "strides", "pool"),
        ))
