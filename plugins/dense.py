"""Dense blocks: fully connected stacks per time step (fcn) and per utterance (dense), highway and residual.

Metadata only; the Keras code is in :mod:`serzoo.plugins.dense_layers`, imported
when a model is built.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.plugins import common
from serzoo.core.registry import Block, Param

LAYERS = ("serzoo.plugins.keras_layers",)


def _units(default=(256, 256)) -> Param:
    return Param("units", "ints", default, "width of each layer; one layer per value")


def _check_stack(options) -> None:
    common.check_positive(options, "units")
    common.check_regularisers(options)


def _check_highway(options) -> None:
    common.check_positive(options, "layers")
    common.check_regularisers(options)


def build_fcn(x, **options):
    """Dense layers applied to every time step with shared weights."""
    from serzoo.plugins.dense_layers import dense_stack

    return dense_stack(x, **options)


def build_dense(x, **options):
    """Dense layers on the utterance vector."""
    from serzoo.plugins.dense_layers import dense_stack

    return dense_stack(x, **options)


def build_highway(x, **options):
    from serzoo.plugins.dense_layers import highway_stack

    return highway_stack(x, **options)


def build_residual(x, **options):
    from serzoo.plugins.dense_layers import residual_stack

    return residual_stack(x, **options)


_STACK_PARAMS = (_units(), common.activation(), common.batchnorm(), common.dropout(), common.l2())


@hookimpl
def serzoo_register_blocks(register):
    register(Block(
        name="fcn",
        description="Fully connected layers applied to each time step (frame level)",
        factory=build_fcn,
        params=_STACK_PARAMS,
        layouts_in=("sequence",),
        layout_out="sequence",
        check=_check_stack,
    ))
    register(Block(
        name="dense",
        description="Fully connected layers on the utterance vector (utterance level)",
        factory=build_dense,
        params=_STACK_PARAMS,
        layouts_in=("vector",),
        layout_out="vector",
        check=_check_stack,
    ))
    register(Block(
        name="highway",
        description="Highway layers (gated skip) per time step or on the utterance vector; keeps the width",
        factory=build_highway,
        params=(
            Param("layers", "int", 2, "number of highway layers"),
            common.activation(),
            Param("gate_bias", "float", -2.0, "initial gate bias; negative starts by carrying the input through"),
            common.dropout(),
            common.l2(),
        ),
        layouts_in=("sequence", "vector"),
        layout_out="same",
        layer_modules=LAYERS,
        check=_check_highway,
    ))
    register(Block(
        name="residual",
        description="Residual dense units (identity skip) per time step or on the utterance vector",
        factory=build_residual,
        params=_STACK_PARAMS,
        layouts_in=("sequence", "vector"),
        layout_out="same",
        check=_check_stack,
    ))
