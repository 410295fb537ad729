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


def check_axes(options: Mapping[str, Any], rank: int, *names: str) -> None:
    """Refuse per-axis options (kernel, strides, pool) that give neither 1 nor ``rank`` sizes.

    Raises:
        ValueError: naming the option and the number of sizes expected.
    """
    for name in names:
        value = options[name]
        sizes = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if len(sizes) not in (1, rank) or any(v < 1 for v in sizes):
            what = "one size" if rank == 1 else f"1 or {rank} sizes"
            raise ValueError(f"{name}={_show(value)} needs {what} of at least 1")


def per_axis(value, rank: int) -> tuple[int, ...]:
    """Broadcast a one-size option to every axis: ``(3,)`` -> ``(3, 3, 3)`` for rank 3."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return value * rank if len(value) == 1 else value


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


def axis_params(kind: str, *, strides: bool = True) -> tuple[Param, ...]:
    """Kernel, (strides,) pooling and pool type options of a convolution of ``kind`` (1d, 2d, 3d)."""
    over, kernel, stride, pool = _CONV_AXES[kind]
    typ = "int" if kind == "1d" else "ints"
    sizes = "size over time" if kind == "1d" else f"sizes over {over} (one value for all)"
    params = [Param("kernel", typ, kernel, f"kernel {sizes}")]
    if strides:
        params.append(Param("strides", typ, stride, f"strides {sizes}"))
    params += [
        Param("pool", typ, pool, f"pooling {sizes}; 1 = no pooling"),
        Param("pool_type", "choice", "max", "max or average pooling", ("max", "avg")),
    ]
    return tuple(params)


def conv_checker(kind: str, *axis_names: str, positive: tuple[str, ...] = ("filters",)):
    """A ``Block.check`` for a convolution of ``kind``: positive sizes, 1 or rank sizes per axis option."""

    def check(options: Mapping[str, Any]) -> None:
        check_positive(options, *positive)
        check_axes(options, int(kind[0]), *axis_names)
        check_regularisers(options)

    return check


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
