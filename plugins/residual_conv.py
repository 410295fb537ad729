"""Convolutions with skip connections: ResNet (identity skips) in 2-D and 3-D, convolutional highway in 1-D, 2-D and 3-D.

Metadata only; the Keras code is in :mod:`serzoo.plugins.conv_layers`, imported
when a model is built.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.plugins import common
from serzoo.core.registry import Block, Param

LAYERS = ("serzoo.plugins.keras_layers",)

_AXES = {"1d": "time", "2d": "context x features of each time step", "3d": "time x context x features"}


@hookimpl
def serzoo_register_blocks(register):
    for kind in ("2d", "3d"):
        layout = common.conv_layout(kind)
        register(Block(
            name=f"resnet{kind}",
            description=f"Residual convolutions (ResNet, identity skip connections) over {_AXES[kind]}",
            factory=common.deferred_factory(
                "resnet_stack", f"resnet{kind}", kind=kind,
                doc=f"Build a resnet{kind} block: residual stages with identity skips."),
            params=(
                Param("filters", "ints", (16, 32), "filters of each stage; one stage per value"),
                Param("units", "int", 2, "residual units (two convolutions each) per stage"),
                *common.axis_params(kind, strides=False),
                common.activation(),
                common.batchnorm(True),
                common.dropout(),
                common.l2(),
            ),
            layouts_in=(layout,),
            layout_out=layout,
            check=common.conv_checker(kind, "kernel", "pool", positive=("filters", "units")),  # per stage
        ))
    for kind in ("1d", "2d", "3d"):
        layout = common.conv_layout(kind)
        register(Block(
            name=f"convhw{kind}",
            description=f"Convolutional highway layers (gated skip) over {_AXES[kind]}",
            factory=common.deferred_factory(
                "highway_conv_stack", f"convhw{kind}", kind=kind,
                doc=f"Build a convhw{kind} block: gated convolutions with carried-through inputs."),
            params=(
                Param("filters", "int", 32 if kind == "1d" else 16, "channels of every highway layer"),
                Param("layers", "int", 2, "number of highway layers"),
                *common.axis_params(kind, strides=False, pool_once=True),
                common.activation(),
                Param("gate_bias", "float", -1.0, "initial gate bias; negative starts by carrying the input through"),
                common.dropout(),
                common.l2(),
            ),
            layouts_in=(layout,),
            layout_out=layout,
            layer_modules=LAYERS,
            check=common.conv_checker(kind, "kernel", "pool", positive=("filters", "layers"),
                                      depth=lambda options: options["layers"], once=("pool",)),
        ))
