"""An example serzoo plugin: one block (``stats_pool``) and one sampler (``cap_majority``).

This module is imported whenever serzoo starts (``serzoo list`` included), so it
only declares metadata; the Keras code lives in :mod:`serzoo_example_plugin.layers`
and is imported when a model is actually built.
"""

from __future__ import annotations

import numpy as np

from serzoo import Block, Param, Sampler, hookimpl


def build_stats_pool(x, *, name: str = "stats_pool", with_std: bool = True):
    """Pool a sequence (batch, T, F) to one vector of its mean (and standard deviation) over time."""
    from serzoo_example_plugin.layers import StatsPooling  # TensorFlow is imported only here

    return StatsPooling(with_std=with_std, name=f"{name}_pool")(x)


def cap_majority(y: np.ndarray, x, rng: np.random.Generator, batch_size: int, ratio: float = 2.0):
    """Keep every row of small classes; draw at most ``ratio`` x the smallest class count from larger ones."""
    counts = np.bincount(y)
    cap = max(1, int(round(ratio * counts[counts > 0].min())))
    keep = []
    for cls in np.flatnonzero(counts):
        rows = np.flatnonzero(y == cls)
        keep.append(rows if len(rows) <= cap else rng.choice(rows, size=cap, replace=False))
    return rng.permutation(np.concatenate(keep))


@hookimpl
def serzoo_register_blocks(register):
    register(Block(
        name="stats_pool",
        description="Statistics pooling: mean and standard deviation over time (x-vector style)",
        factory=build_stats_pool,
        params=(Param("with_std", "bool", True, "append the standard deviation to the mean"),),
        layouts_in=("sequence",),
        layout_out="vector",
        layer_modules=("serzoo_example_plugin.layers",),
    ))


@hookimpl
def serzoo_register_samplers(register):
    register(Sampler(
        name="cap_majority",
        description="Undersample classes larger than ratio x the smallest class, keep the rest",
        factory=cap_majority,
        params=(Param("ratio", "float", 2.0, "largest allowed class size as a multiple of the smallest"),),
    ))
