"""The original trainer's topologies as blocks: what gpool and flatten compute, and their one-line errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from serzoo.core.errors import ConfigError
from serzoo.model.assemble import Head, build_model, plan_chain


def _body(model, x):
    """The vector the heads see (the output of the last block)."""
    last = [l for l in model.layers if l.name.startswith("b")][-1]
    return keras.ops.convert_to_numpy(keras.Model(model.inputs, last.output)(x))


def test_gpool_concatenates_the_pooling_functions_in_the_order_given():
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    model = build_model(plan_chain("gpool", "sequence", {"gpool": {"modes": "std,avg,max"}}), (7, 4), [Head("e", 2)])
    expected = np.concatenate([np.sqrt(x.var(axis=1) + 1e-6), x.mean(axis=1), x.max(axis=1)], axis=-1)
    np.testing.assert_allclose(_body(model, x), expected, rtol=1e-5, atol=1e-6)


def test_flatten_keeps_the_first_steps():
    x = np.random.default_rng(1).normal(size=(2, 6, 3)).astype("float32")
    model = build_model(plan_chain("flatten", "sequence", {"flatten": {"steps": "4"}}), (6, 3), [Head("e", 2)])
    np.testing.assert_array_equal(_body(model, x), x[:, :4].reshape(2, -1))
    every = build_model(plan_chain("flatten", "sequence"), (6, 3), [Head("e", 2)])
    np.testing.assert_array_equal(_body(every, x), x.reshape(2, -1))


@pytest.mark.parametrize("opts,message", [
    ({"gpool": {"modes": "avg,median"}}, "gpool: modes='avg,median': give distinct pooling functions out of avg"),
    ({"gpool": {"modes": "avg,avg"}}, "give distinct pooling functions"),
    ({"flatten": {"steps": "-1"}}, "flatten: steps=-1 must be 0"),
])
def test_bad_topology_options_are_one_line_errors(opts, message):
    with pytest.raises(ConfigError, match=message):
        plan_chain(next(iter(opts)), "sequence", opts)


def test_flatten_longer_than_the_sequence_is_refused():
    with pytest.raises(ConfigError, match="flatten.steps=9: the sequence has only 6 time steps"):
        build_model(plan_chain("flatten", "sequence", {"flatten": {"steps": "9"}}), (6, 3), [Head("e", 2)])
