"""Topologies of the original trainer as blocks: flattening over time, and concatenated global pooling.

The original trainer fed a frame sequence to its utterance-level network either
flattened (``--f_dnn`` with ``-t_max`` steps) or pooled with several global pooling
functions concatenated (``--g_pool``). Here they are blocks (sequence -> vector), so
any chain can use them: ``cnn1d,flatten,dense`` or ``lstm,gpool,dense``. Its separate
depths before and after the temporal model (``-dnn_depth``, ``-p_dnn_depth``) need no
option: write the chain, such as ``dense,lstm,dense`` with ``--opt`` per block.

Metadata only; the Keras code is in :mod:`serzoo.plugins.topology_layers`.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.core.registry import Block, Param

#: pooling functions ``gpool`` concatenates, in the order given
POOL_MODES = ("avg", "max", "min", "std")


def pool_modes(text: str) -> tuple[str, ...]:
    """``"avg,max,std"`` as a tuple, each mode checked.

    Raises:
        ValueError: an empty list, an unknown or a repeated mode.
    """
    modes = tuple(m.strip() for m in str(text).split(",") if m.strip())
    unknown = [m for m in modes if m not in POOL_MODES]
    if not modes or unknown or len(set(modes)) != len(modes):
        raise ValueError(f"modes={text!r}: give distinct pooling functions out of {', '.join(POOL_MODES)}, "
                         "comma-separated, such as avg,max,std")
    return modes


def _check_gpool(options) -> None:
    pool_modes(options["modes"])


def _check_flatten(options) -> None:
    if options["steps"] < 0:
        raise ValueError(f"steps={options['steps']} must be 0 (every step) or more")


def build_gpool(x, *, name: str, modes: str):
    from serzoo.plugins.topology_layers import GlobalPooling

    return GlobalPooling(modes=pool_modes(modes), name=f"{name}_gpool")(x)


def build_flatten(x, *, name: str, steps: int):
    from serzoo.plugins.topology_layers import flatten_steps

    return flatten_steps(x, name=name, steps=steps)


@hookimpl
def serzoo_register_blocks(register):
    register(Block(
        name="gpool",
        description="Global pooling over time with several functions concatenated (the original's --g_pool)",
        factory=build_gpool,
        params=(Param("modes", "str", "avg,max,std", f"pooling functions, comma-separated: {', '.join(POOL_MODES)}"),),
        layouts_in=("sequence",),
        layout_out="vector",
        layer_modules=("serzoo.plugins.topology_layers",),
        check=_check_gpool,
    ))
    register(Block(
        name="flatten",
        description="Flatten a fixed-length sequence into one vector (the original's --f_dnn with -t_max)",
        factory=build_flatten,
        params=(Param("steps", "int", 0, "keep the first STEPS time steps (0: every step); the original's -t_max"),),
        layouts_in=("sequence",),
        layout_out="vector",
        check=_check_flatten,
    ))
