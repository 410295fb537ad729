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


def test_train_with_frame_heads_saves_frame_posteriors(tmp_path, invoke):
    import h5py

    from serzoo.model.serialization import load_model
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    rng = np.random.default_rng(0)
    labels = np.arange(24) % 2
    path = tmp_path / "tiny.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(24, 6, 4)) + labels[:, None, None]
        f["label"] = labels[:, None].astype(float)
        f["start_indice"] = np.array([0.0, 8, 16])
        f["end_indice"] = np.array([8.0, 16, 24])
    config = TrainConfig(data=str(path), blocks="cnn1d", opts=["cnn1d.filters=4"], tasks="label0:2:0", epochs=1,
                         batch_size=8, max_folds=1, frame_heads=True, jit_compile=False)
    run(prepare(config), tmp_path / "run", echo=lambda m: None)
    model, _ = load_model(tmp_path / "run" / "fold00" / "model.keras", compile=False)
    frames = model.get_layer("label0_frames").output.shape
    assert len(frames) == 3 and frames[1] > 1 and frames[2] == 2  # posteriors per time step
    result = invoke("build", "--layout", "1d", "--input-shape", "6,4", "--heads", "e:3", "--blocks", "cnn1d",
                    "--frame-heads")
    assert result.exit_code == 0 and "heads on: sequence, each time step, posteriors averaged" in result.output
