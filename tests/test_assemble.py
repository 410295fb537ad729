"""Model assembly: chains with adapters, refusals before building, options, heads, the build command, reloading."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from serzoo.model.assemble import Head, adapter_path, build_model, parse_opts, plan_chain
from serzoo.core.errors import ConfigError, LayoutError, UnknownComponentError

SHAPES = {"volume": (8, 4, 6, 1), "frames": (8, 4, 6, 1), "sequence": (8, 6), "vector": (6,)}

#: small options, so the chains build in a moment
SMALL = {
    "cnn2d": {"filters": "4"}, "cnn3d": {"filters": "4"}, "resnet2d": {"filters": "4", "units": "1"},
    "lstm": {"units": "6"}, "dense": {"units": "8"}, "fcn": {"units": "8"}, "residual": {"units": "8"},
}


def _small(chain: str) -> dict:
    return {b: SMALL[b] for b in chain.split(",") if b in SMALL}


# -- the chains the issue names ----------------------------------------------------------------

CHAINS = [
    # chain, database layout, adapters before each block, adapter before the heads
    ("cnn3d,lstm", "volume", [None, "flatten_steps"], None),
    ("cnn2d,lstm,dense", "frames", [None, "flatten_steps", None], None),
    ("fcn,dense", "frames", ["flatten_steps", "average_time"], None),
    ("resnet2d,lstm,residual", "frames", [None, "flatten_steps", None], None),
    ("cnn3d,dense", "volume", [None, "flatten_steps+average_time"], None),
    ("cnn2d,lstm", "volume", ["as_frames", "flatten_steps"], None),
    ("cnn1d", "frames", ["flatten_steps"], "average_time"),
]


@pytest.mark.parametrize("chain,layout,adapters,final", CHAINS, ids=[f"{c}@{lay}" for c, lay, *_ in CHAINS])
def test_chain_plans_with_adapters_and_builds(chain, layout, adapters, final):
    import keras

    keras.backend.clear_session()
    plan = plan_chain(chain, layout, _small(chain))
    assert plan.blocks == chain.split(",")
    assert [s.adapter_before for s in plan.steps] == adapters
    assert plan.final_adapter == final
    model = build_model(plan, SHAPES[layout], [Head("emotion", 4), Head("valence", 1)])
    x = np.zeros((2, *SHAPES[layout]), "float32")
    out = model(x)
    assert set(out) == {"emotion", "valence"}
    assert tuple(out["emotion"].shape) == (2, 4) and tuple(out["valence"].shape) == (2, 1)
    assert model.get_layer("emotion").activation.__name__ == "softmax"
    assert model.get_layer("valence").activation.__name__ == "linear"


def test_describe_names_blocks_layouts_and_adapters():
    text = plan_chain("cnn3d,dense", "volume").describe()
    assert "volume (3d database)" in text
    assert "cnn3d" in text and "volume -> volume" in text and "filters=16,32" in text
    assert "flatten_steps+average_time" in text


def test_adapter_paths():
    assert adapter_path("volume", "vector") == ["flatten_steps", "average_time"]
    assert adapter_path("frames", "frames") == []
    assert adapter_path("frames", "volume") is None
    assert adapter_path("vector", "sequence") is None


# -- refusals, before anything is built ---------------------------------------------------------


def test_cnn3d_on_a_2d_database_names_what_would_fit():
    with pytest.raises(LayoutError) as err:
        plan_chain("cnn3d,lstm", "frames")
    assert str(err.value) == "cnn3d needs a 3d database; this one is 2d: rebuild it with --layout 3d or use cnn2d"


def test_sequence_block_after_a_vector_is_refused():
    with pytest.raises(LayoutError, match=r"lstm \(block 2\) needs sequence input, but dense \(block 1\) produces vector"):
        plan_chain("dense,lstm", "vector")


def test_refusal_suggests_the_option_that_fixes_it():
    with pytest.raises(LayoutError, match="set --opt lstm.return_sequences=true"):
        plan_chain("lstm,attention", "sequence")
    plan = plan_chain("lstm,attention", "sequence", {"lstm": {"return_sequences": "true"}})
    assert plan.steps[1].layout_in == "sequence"


def test_frame_level_block_on_a_flat_database():
    with pytest.raises(LayoutError, match="fcn needs a 1d, 2d or 3d database; this one is flat"):
        plan_chain("fcn", "vector")


def test_unknown_block_gets_close_matches():
    with pytest.raises(UnknownComponentError, match="unknown block 'cnn4d'; did you mean .*cnn3d"):
        plan_chain("cnn4d,lstm", "volume")


def test_unknown_option_lists_valid_ones():
    with pytest.raises(ConfigError, match="cnn2d has no option 'filter'; valid options: filters, kernel, strides"):
        plan_chain("cnn2d", "frames", parse_opts(["cnn2d.filter=16"]))


@pytest.mark.parametrize("item", ["cnn2d.filters", "filters=16", "cnn2d.=3", ".filters=3", "cnn2d.filters="])
def test_malformed_opt(item):
    with pytest.raises(ConfigError, match="expected BLOCK.OPTION=VALUE"):
        parse_opts([item])


@pytest.mark.parametrize("opt,message", [
    ("cnn2d.filters=a,b", "option cnn2d.filters='a,b': expected comma-separated integers"),
    ("cnn2d.batchnorm=maybe", "option cnn2d.batchnorm='maybe': expected true or false"),
    ("cnn2d.pool_type=min", "expected one of max, avg"),
    ("cnn2d.kernel=3,3,3", "cnn2d: kernel=3,3,3 needs 1 or 2 sizes"),
    ("cnn2d.filters=0", "cnn2d: filters=0 needs one or more values of at least 1"),
    ("cnn2d.dropout=1.5", "cnn2d: dropout=1.5 must be in"),
])
def test_bad_option_values(opt, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        plan_chain("cnn2d", "frames", parse_opts([opt]))


def test_options_for_a_block_outside_the_chain():
    with pytest.raises(ConfigError, match="--opt lstm.units: lstm is not in the chain cnn2d,dense"):
        plan_chain("cnn2d,dense", "frames", parse_opts(["lstm.units=8"]))


def test_empty_chain_and_unknown_layout():
    with pytest.raises(ConfigError, match="no blocks given"):
        plan_chain(" , ", "frames")
    with pytest.raises(ConfigError, match="unknown input layout '2d'"):
        plan_chain("cnn2d", "2d")


def test_shared_options_reach_every_block_that_declares_them_unless_overridden():
    plan = plan_chain("cnn2d,lstm,avgpool", "frames", parse_opts(["lstm.dropout=0.1", "lstm.return_sequences=yes"]),
                      shared={"dropout": 0.3, "l2": 1e-4})
    cnn, lstm, pool = plan.steps
    assert (cnn.options["dropout"], cnn.options["l2"]) == (0.3, 1e-4)
    assert (lstm.options["dropout"], lstm.options["l2"]) == (0.1, 1e-4)
    assert pool.options == {}
    assert plan_chain("cnn2d", "frames", shared={"dropout": None}).steps[0].options["dropout"] == 0.0


def test_planning_does_not_import_tensorflow():
    code = textwrap.dedent("""
        import sys
        from serzoo.model.assemble import plan_chain
        from serzoo.core.errors import LayoutError
        plan_chain("cnn2d,lstm,dense", "frames")
        try:
            plan_chain("cnn3d", "frames")
        except LayoutError:
            pass
        loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


# -- building ----------------------------------------------------------------------------------


def test_build_refuses_a_shape_of_another_layout_and_bad_heads():
    plan = plan_chain("cnn2d", "frames")
    with pytest.raises(ConfigError, match=r"input shape \(8, 6\) does not fit layout frames"):
        build_model(plan, (8, 6), [Head("emotion", 3)])
    with pytest.raises(ConfigError, match="no heads"):
        build_model(plan, SHAPES["frames"], [])
    with pytest.raises(ConfigError, match="given twice"):
        build_model(plan, SHAPES["frames"], [Head("emotion", 3), Head("emotion", 2)])


def test_block_returning_another_layout_is_named(register_fake):
    from serzoo.core.registry import Block

    def serzoo_register_blocks(register):
        # claims a sequence but returns the input's 4-D frames unchanged
        register(Block(name="liar", description="wrong output", factory=lambda x, *, name: x,
                       layouts_in=("frames",), layout_out="sequence"))

    register_fake("liar_plugin", serzoo_register_blocks=serzoo_register_blocks)
    plan = plan_chain("liar", "frames")
    with pytest.raises(LayoutError, match=r"block liar from plugin liar_plugin returned shape \(8, 4, 6, 1\)"):
        build_model(plan, SHAPES["frames"], [Head("emotion", 3)])


def test_saved_model_reloads_in_a_fresh_process(tmp_path, request):
    """Custom layers of built-in and third-party blocks are found by loading the plugins, not by imports."""
    import keras

    keras.backend.clear_session()
    chains = {
        "builtin": ("convhw2d,lstm,attention,highway", {"convhw2d": {"filters": "3"},
                                                       "lstm": {"units": "5", "return_sequences": "true"}}),
        "example": ("cnn2d,lstm,stats_pool", {"cnn2d": {"filters": "3"},
                                              "lstm": {"units": "5", "return_sequences": "true"}}),
    }
    x = np.random.default_rng(3).normal(size=(3, *SHAPES["frames"])).astype("float32")
    np.save(tmp_path / "x.npy", x)
    for key, (chain, opts) in chains.items():
        model = build_model(plan_chain(chain, "frames", opts), SHAPES["frames"], [Head("emotion", 3), Head("level", 1)])
        model.save(tmp_path / f"{key}.keras")
        for head, value in model(x).items():
            np.save(tmp_path / f"{key}-{head}.npy", keras.ops.convert_to_numpy(value))
    code = textwrap.dedent("""
        import sys, numpy as np
        from serzoo.model.serialization import load_model
        folder = sys.argv[1]
        x = np.load(f"{folder}/x.npy")
        for key in ("builtin", "example"):
            model, _ = load_model(f"{folder}/{key}.keras")
            out = model.predict(x, verbose=0)
            for head in ("emotion", "level"):
                np.testing.assert_allclose(out[head], np.load(f"{folder}/{key}-{head}.npy"), atol=1e-5)
        print("reloaded")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(request.config.example_plugin_path),
                                                          os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reloaded" in done.stdout


# -- command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_with_build():
    from serzoo.cli import cli
    from serzoo.cli.build import register

    if "build" not in cli.commands:  # until cli/__init__.py registers it
        register(cli)
    return cli


def test_show_block_prints_description_layouts_and_defaults(invoke):
    result = invoke("show", "block", "cnn2d")
    assert result.exit_code == 0
    out = result.output
    assert "2-D convolutions over each time step's context window x features" in out
    assert "accepts: frames" in out and "produces: frames" in out
    assert "filters" in out and "16,32" in out and "pool_type" in out and "max|avg" in out


def test_build_command_prints_plan_summary_and_parameter_count(runner, cli_with_build):
    result = runner.invoke(cli_with_build, [
        "build", "--layout", "2d", "--input-shape", "8,4,6,1", "--heads", "emotion:7,arousal:1",
        "--blocks", "cnn2d,lstm", "--opt", "cnn2d.filters=4", "--opt", "lstm.units=6", "--dropout", "0.2",
    ])
    assert result.exit_code == 0, result.output
    assert "input: frames (2d database)" in result.output
    assert "dropout=0.2" in result.output
    assert "b1_cnn2d_conv1" in result.output and "b2_lstm_lstm1" in result.output
    assert "Parameters:" in result.output


def test_build_command_refuses_before_building(runner, cli_with_build):
    result = runner.invoke(cli_with_build, ["build", "--layout", "2d", "--input-shape", "8,4,6,1",
                                            "--heads", "emotion:7", "--blocks", "cnn3d,lstm"])
    assert result.exit_code == 2
    assert "cnn3d needs a 3d database; this one is 2d" in result.output
    result = runner.invoke(cli_with_build, ["build", "--blocks", "cnn2d"])
    assert result.exit_code == 2 and "without --data, give --layout, --input-shape and --heads" in result.output
    result = runner.invoke(cli_with_build, ["build", "--layout", "frames", "--input-shape", "8,4,6,1",
                                            "--heads", "emotion", "--blocks", "cnn2d"])
    assert result.exit_code == 2 and "expected NAME:CLASSES" in result.output


def test_build_command_takes_layout_shape_and_first_label_from_the_database(runner, cli_with_build, tmp_path,
                                                                            monkeypatch):
    from serzoo.data import database

    feat = np.zeros((5, 1, 8, 4, 6), "float32")  # a 3d database
    labels = np.array([[0, 1.5], [1, 0.2], [2, 0.1], [0, 0.3], [1, 0.9]])
    db = database.Database(feat, labels, file_layout="3d", label_names=["emotion", "arousal"],
                           class_names={"emotion": ["angry", "happy", "sad"]})
    path = tmp_path / "db.h5"
    path.write_bytes(b"")
    from serzoo.data import loading

    monkeypatch.setattr(loading, "open_database", lambda p, *a, **k: db)
    result = runner.invoke(cli_with_build, ["build", "--data", str(path), "--blocks", "cnn3d,dense",
                                            "--opt", "cnn3d.filters=2", "--opt", "dense.units=4"])
    assert result.exit_code == 0, result.output
    assert "input: volume (3d database)" in result.output
    assert "(None, 8, 4, 6, 1)" in result.output
    assert "emotion (Dense)" in result.output and "arousal" not in result.output

