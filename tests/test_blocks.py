"""The registry is the test matrix: every registered block, on every layout it accepts,
builds a tiny model that trains one step, is saved through serzoo's ``save_model``, and
reloads through serzoo's ``load_model`` in a fresh Python process with equal outputs.

The fresh process is what proves a block registers its layers: in this process they are
registered already, because building the model imported them. Blocks of installed
third-party plugins (the example plugin included) are collected too, so a new block is
tested on arrival.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.model.assemble import Head, build_model, plan_chain
from serzoo.model.serialization import save_model

#: tiny examples per layout: T=8 steps, C=4 context frames, D=6 features
SHAPES = {"volume": (8, 4, 6, 1), "frames": (8, 4, 6, 1), "sequence": (8, 6), "vector": (6,)}
HEADS = [Head("emotion", 3), Head("arousal", 1)]
ADAPTER_LAYERS = ("_flatten_steps", "_average_time")


def _cases():
    plugin_manager.reset()
    cases = [pytest.param(b.name, lay, id=f"{b.name}-{lay}") for b in plugin_manager.blocks().list() for lay in b.layouts_in]
    plugin_manager.reset()
    return cases


def _batch(layout: str, n: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SHAPES[layout])).astype("float32")
    y = {"emotion": np.arange(n) % 3, "arousal": rng.normal(size=(n, 1)).astype("float32")}
    return x, y


def _compile(model):
    model.compile(optimizer="adam", loss={"emotion": "sparse_categorical_crossentropy", "arousal": "mse"})
    return model


def _outputs(model, x) -> dict[str, np.ndarray]:
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(x, training=False).items()}


def _train_and_save(block: str, layout: str, saved: dict, opts=None, shared=None):
    """Build, train one step and save through serzoo; ``saved`` maps the model path to its inputs and outputs."""
    keras.backend.clear_session()
    plan = plan_chain([block], layout, opts, shared)
    assert plan.steps[0].layout_in == layout  # the block takes its own layout without adapters
    model = _compile(build_model(plan, SHAPES[layout], HEADS))
    x, y = _batch(layout)

    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.all(np.isfinite(loss))
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "one step changed no weight"

    expected = _outputs(model, x)
    assert expected["emotion"].shape == (4, 3)
    assert expected["arousal"].shape == (4, 1)
    np.testing.assert_allclose(expected["emotion"].sum(axis=1), 1.0, rtol=1e-5)

    case = f"{block}-{layout}" + "".join(f"-{k}={v}" for k, v in sorted((opts or {}).get(block, {}).items()))
    case += "".join(f"-{k}" for k in sorted(shared or {}))
    path = saved["dir"] / f"{len(saved['models']):03d}.keras"
    save_model(model, path, {"block": block, "layout": layout})
    np.savez(f"{path}.in.npz", x=x)
    saved["models"][str(path)] = (case, expected)
    saved["cases"].add(case)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The matrix models saved so far in this module, for the one fresh-process reload at its end."""
    return {"dir": tmp_path_factory.mktemp("matrix"), "models": {}, "cases": set()}


@pytest.mark.parametrize("block,layout", _cases())
def test_block_trains_and_saves(block, layout, saved):
    model = _train_and_save(block, layout, saved)
    # every layer a block makes carries its prefix, so summaries and saved weights stay readable
    own = [l.name for l in model.layers if l.name not in ("features", "emotion", "arousal")
           and not l.name.endswith(ADAPTER_LAYERS)]
    assert own and all(name.startswith(f"b1_{block}") for name in own), own


#: options that change the structure a block builds (stacking, direction, strides, normalisation)
VARIANTS = [
    ("lstm", "sequence", {"units": "6,5", "bidirectional": "true", "return_sequences": "true"}),
    ("lstm_avg", "sequence", {"units": "5,4", "bidirectional": "true", "dropout": "0.2"}),
    ("cnn1d", "sequence", {"filters": "4,6,8", "kernel": "5", "strides": "2", "pool": "1", "batchnorm": "true"}),
    ("cnn2d", "frames", {"filters": "4", "kernel": "2,3", "strides": "1,2", "pool": "1,2", "pool_type": "avg"}),
    ("cnn3d", "volume", {"filters": "3,3,3", "kernel": "2", "pool": "2", "activation": "elu", "l2": "0.01"}),
    ("resnet2d", "frames", {"filters": "4,4", "units": "1", "batchnorm": "false", "pool": "1"}),
    ("convhw3d", "volume", {"filters": "1", "layers": "3", "kernel": "1,3,3", "dropout": "0.1"}),
    ("residual", "vector", {"units": "6,12", "batchnorm": "true", "activation": "tanh"}),
    ("highway", "sequence", {"layers": "3", "activation": "gelu", "gate_bias": "-1"}),
    ("attention", "sequence", {"units": "3", "l2": "0.001"}),
    ("gpool", "sequence", {"modes": "max,min"}),
    ("flatten", "sequence", {"steps": "5"}),
]


@pytest.mark.parametrize("block,layout,options", VARIANTS, ids=[f"{b}-{','.join(o)}" for b, _, o in VARIANTS])
def test_block_options_build_train_and_save(block, layout, options, saved):
    _train_and_save(block, layout, saved, {block: options})


def _frame_cases():
    """Every block and layout whose output keeps a time axis (its own, or through an adapter)."""
    from serzoo.core.errors import LayoutError

    cases = []
    for param in _cases():
        block, layout = param.values
        opts = {"lstm": {"return_sequences": "true"}} if block == "lstm" else None
        try:
            plan_chain([block], layout, opts, {"frame_heads": True})
        except LayoutError:
            continue
        cases.append(pytest.param(block, layout, opts, id=f"{block}-{layout}"))
    return cases


@pytest.mark.parametrize("block,layout,opts", _frame_cases())
def test_frame_level_heads_pool_frame_posteriors(block, layout, opts, saved):
    """--frame-heads: every time-keeping block trains, saves and reloads with heads on each step."""
    model = _train_and_save(block, layout, saved, opts, {"frame_heads": True})
    frames = keras.Model(model.inputs, model.get_layer("emotion_frames").output)
    x, _ = _batch(layout)
    posteriors = keras.ops.convert_to_numpy(frames(x, training=False))
    assert posteriors.ndim == 3 and posteriors.shape[-1] == 3
    np.testing.assert_allclose(_outputs(model, x)["emotion"], posteriors.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_frame_heads_need_a_chain_that_keeps_time():
    from serzoo.core.errors import LayoutError

    assert len(_frame_cases()) >= 8
    with pytest.raises(LayoutError, match="--frame-heads classifies every time step, but the chain ends with "
                                          "statspool, which gives a vector"):
        plan_chain("lstm,statspool", "sequence", {"lstm": {"return_sequences": "true"}}, {"frame_heads": True})


def test_lstm_output_follows_return_sequences():
    keras.backend.clear_session()
    seq = plan_chain("lstm", "sequence", {"lstm": {"return_sequences": "true", "units": "5"}})
    assert seq.steps[0].layout_out == "sequence" and seq.final_adapter == "average_time"
    last = plan_chain("lstm", "sequence", {"lstm": {"units": "5"}})
    assert last.steps[0].layout_out == "vector" and last.final_adapter is None
    model = build_model(seq, SHAPES["sequence"], [Head("emotion", 3)])
    assert model.get_layer("b1_lstm_lstm1").output.shape == (None, 8, 5)


def test_custom_layers_are_registered_with_complete_configs():
    from serzoo.plugins.keras_layers import AttentionPooling, HighwayGate

    assert keras.saving.get_registered_name(AttentionPooling) == "serzoo>AttentionPooling"
    assert keras.saving.get_registered_name(HighwayGate) == "serzoo>HighwayGate"
    layer = AttentionPooling(7, kernel_regularizer=keras.regularizers.L2(0.5), name="att")
    clone = AttentionPooling.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.units == 7 and clone.kernel_regularizer.l2 == pytest.approx(0.5)


def test_attention_pooling_ignores_masked_steps():
    from serzoo.plugins.keras_layers import AttentionPooling

    layer = AttentionPooling(4)
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[True, True, False, False, False]] * 2)
    changed = x.copy()
    changed[:, 2:] = 100.0  # values behind the mask must not matter
    a = keras.ops.convert_to_numpy(layer(x, mask=mask))
    b = keras.ops.convert_to_numpy(layer(changed, mask=mask))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_highway_gate_carries_input_when_closed():
    from serzoo.plugins.keras_layers import HighwayGate

    x, h = np.ones((2, 3), "float32"), np.full((2, 3), 5.0, "float32")
    closed = keras.ops.convert_to_numpy(HighwayGate()([x, h, np.zeros_like(x)]))
    open_ = keras.ops.convert_to_numpy(HighwayGate()([x, h, np.ones_like(x)]))
    np.testing.assert_allclose(closed, x)
    np.testing.assert_allclose(open_, h)


RELOAD = """
import json, sys
import numpy as np
from serzoo.model.serialization import load_model

errors = {}
for path in sys.argv[1:]:
    try:
        model, _ = load_model(path)  # loads the plugins and their layer modules first
        outputs = model(np.load(path + ".in.npz")["x"], training=False)
        np.savez(path + ".out.npz", **{k: np.asarray(v) for k, v in outputs.items()})
    except Exception as exc:
        errors[path] = f"{type(exc).__name__}: {exc}"[:400]
print(json.dumps(errors))
"""


def test_every_matrix_model_reloads_in_a_fresh_process(saved, request):
    """One fresh interpreter reloads every saved matrix model through serzoo and gives the same outputs."""
    for block, layout in [c.values for c in _cases()]:  # cases not trained above (a -k run) are trained now
        if f"{block}-{layout}" not in saved["cases"]:
            _train_and_save(block, layout, saved)
    paths = list(saved["models"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(request.config.example_plugin_path), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", RELOAD, *paths], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    errors = json.loads(run.stdout.strip().splitlines()[-1])
    failed = {saved["models"][p][0]: message for p, message in errors.items()}
    assert not failed, f"these models do not reload in a fresh process: {failed}"
    for path, (case, expected) in saved["models"].items():
        got = np.load(f"{path}.out.npz")
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], atol=1e-5, err_msg=f"{case} output {name}")
