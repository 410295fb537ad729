"""Option declarations and checks the built-in block families share; plain Python, no TensorFlow.

Every built-in block that regularises declares ``dropout`` and ``l2`` under
exactly these names, so ``--dropout`` and ``--l2`` reach it (see
:func:`serzoo.model.assemble.plan_chain`).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from serzoo.core import layouts
from serzoo.core.registry import Param

def deferred_factory(function: str, name: str, doc: str, **fixed: Any) -> Callable:
    """A block factory that imports ``serzoo.plugins.conv_layers`` only when a model is built.

    Args:
        function: the builder in ``conv_layers`` to call as ``function(x, **fixed, **options)``.
        name: the block name, for the factory's ``__name__``.
        doc: the factory's docstring.
        fixed: arguments bound at registration, such as ``kind="2d"``.
    """

    def build(x, **options):
        builder = getattr(importlib.import_module("serzoo.plugins.conv_layers"), function)
        return builder(x, **fixed, **options)

    build.__name__ = f"build_{name}"
    build.__doc__ = doc
    return build


ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "sigmoid", "linear")


def dropout(default: float = 0.0) -> Param:
    return Param("dropout", "float", default, "dropout rate after each layer (0 = none)")


def l2(default: float = 0.0) -> Param:
    return Param("l2", "float", default, "L2 weight penalty on kernels (0 = none)")


def activation(default: str = "relu") -> Param:
    return Param("activation", "choice", default, "activation of the hidden layers", ACTIVATIONS)


def batchnorm(default: bool = False) -> Param:
    return Param("batchnorm", "bool", default, "batch normalisation before each activation")


def check_regularisers(options: Mapping[str, Any]) -> None:
    """Refuse a dropout outside [0, 1) or a negative L2 weight.

    Raises:
        ValueError: naming the option and the allowed range.
    """
    if "dropout" in options and not 0.0 <= options["dropout"] < 1.0:
        raise ValueError(f"dropout={options['dropout']} must be in [0, 1)")
    if "l2" in options and options["l2"] < 0:
        raise ValueError(f"l2={options['l2']} must be 0 or more")


def check_positive(options: Mapping[str, Any], *names: str) -> None:
    """Refuse empty lists and values below 1 for the integer options ``names``.

    Raises:
        ValueError: naming the first offending option.
    """
    for name in names:
        value = options[name]
        values = value if isinstance(value, (tuple, list)) else (value,)
        if not values or any(v < 1 for v in values):
            raise ValueError(f"{name}={_show(value)} needs one or more values of at least 1")


def per_axis(value, rank: int) -> tuple[int, ...]:
    """Broadcast a one-size option to every axis: ``(3,)`` -> ``(3, 3, 3)`` for rank 3."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return value * rank if len(value) == 1 else value


def _nested(value) -> bool:
    return isinstance(value, (tuple, list)) and any(isinstance(v, (tuple, list)) for v in value)


def layer_sizes(value, rank: int, depth: int, name: str = "sizes") -> list[tuple[int, ...]]:
    """The sizes of each of ``depth`` layers over ``rank`` axes, from a ``sizes`` option.

    ``3`` or ``(3,)``: 3 on every axis of every layer. A flat list is per axis for
    ``rank`` > 1 (``(3, 5)``: 3x5 for every layer, as before per-layer lists
    existed) and per layer for ``rank`` 1. Nested lists (``2x2,3x1`` on the
    command line) are per layer; each layer gives 1 or ``rank`` sizes.

    Raises:
        ValueError: a list whose length fits neither 1 nor the depth (or the rank), or a size below 1.
    """
    if _nested(value):
        layers = [tuple(v) if isinstance(v, (tuple, list)) else (v,) for v in value]
    elif rank == 1 and isinstance(value, (tuple, list)):
        layers = [(v,) for v in value]
    else:
        sizes = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if len(sizes) not in (1, rank):
            raise ValueError(f"{name}={_show(value)} needs 1 or {rank} sizes (one for all axes, or one per axis); "
                             f"per layer, write AxB per layer such as {_example(rank)}")
        layers = [sizes]
    if len(layers) not in (1, depth):
        raise ValueError(f"{name}={_show(value)} gives {len(layers)} layers but the block has {depth}; "
                         f"give one size for all layers or one per layer")
    for sizes in layers:
        if len(sizes) not in (1, rank) or any(int(v) < 1 for v in sizes):
            what = "one size" if rank == 1 else f"1 or {rank} sizes"
            raise ValueError(f"{name}={_show(value)} needs {what} of at least 1 per layer")
    return [per_axis(tuple(int(v) for v in sizes), rank) for sizes in layers] * (depth if len(layers) == 1 else 1)


def _example(rank: int) -> str:
    return ",".join("x".join([str(k)] * rank) for k in (3, 5))


#: kind -> (what the per-axis sizes run over, defaults of kernel, strides, pool)
_CONV_AXES = {
    "1d": ("time", 3, 1, 2),
    "2d": ("context,features", (3, 3), (1, 1), (2, 2)),
    "3d": ("time,context,features", (3, 3, 3), (1, 1, 1), (2, 2, 2)),
}

#: the kinds of convolution
CONV_KINDS = tuple(_CONV_AXES)


def conv_layout(kind: str) -> str:
    """The layout a convolution of ``kind`` convolves: the one stored as file layout ``kind`` (2d -> frames)."""
    return layouts.get(kind).name


def axis_params(kind: str, *, strides: bool = True, pool_once: bool = False) -> tuple[Param, ...]:
    """Kernel, (strides,) pooling and pool type options of a convolution of ``kind`` (1d, 2d, 3d).

    Each size option is a ``sizes`` parameter: one size for every layer, or one per
    layer (``2x2,3x1``); ``pool_once`` says the block pools once, after its last layer.
    """
    over, kernel, stride, pool = _CONV_AXES[kind]
    if kind == "1d":
        sizes = "size over time; one per layer (3,5) or one for all"
    else:
        rank = int(kind[0])
        sizes = f"sizes over {over}: one for all layers ({'x'.join(['3'] * rank)}) or one per layer ({_example(rank)})"
    params = [Param("kernel", "sizes", kernel, f"kernel {sizes}")]
    if strides:
        params.append(Param("strides", "sizes", stride, f"strides {sizes}"))
    pool_help = f"pooling {sizes.split(':')[0]} after the last layer" if pool_once else f"pooling {sizes}"
    params += [
        Param("pool", "sizes", pool, f"{pool_help}; 1 = no pooling"),
        Param("pool_type", "choice", "max", "max or average pooling", ("max", "avg")),
    ]
    return tuple(params)


def filters_depth(options: Mapping[str, Any]) -> int:
    """The depth of a block with one layer (or stage) per entry of ``filters``."""
    return len(options["filters"])


def conv_checker(kind: str, *axis_names: str, positive: tuple[str, ...] = ("filters",),
                 depth: Callable[[Mapping[str, Any]], int] = filters_depth, once: tuple[str, ...] = ()):
    """A ``Block.check`` for a convolution of ``kind``: positive sizes, per-layer size lists that fit the depth.

    Args:
        kind: ``1d``, ``2d`` or ``3d``.
        axis_names: the ``sizes`` options (kernel, strides, pool).
        positive: integer options that must be at least 1.
        depth: the number of layers, from the options.
        once: the size options applied once rather than per layer (a final pooling).
    """

    def check(options: Mapping[str, Any]) -> None:
        check_positive(options, *positive)
        for name in axis_names:
            layer_sizes(options[name], int(kind[0]), 1 if name in once else depth(options), name)
        check_regularisers(options)

    return check


def _show(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join("x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v) for v in value)
    return str(value)
