"""The Layout record: round trips, detection, adapters, and one table that every consumer follows."""

from __future__ import annotations

import json
import subprocess
import sys
import wave

import h5py
import numpy as np
import pytest

from serzoo.core import layouts
from serzoo.core.errors import ConfigError, DataError, LayoutError
from serzoo.core.layouts import HEAD_LAYOUT, Adapter, Layout

N, STEPS, CONTEXT, DIM = 5, 4, 3, 2
RNG = np.random.default_rng(0)

#: SER_FEAT_EXT's arrangements, written out by hand: windows (T, C, D) -> (file row, model row)
SER_FEAT_EXT = {
    "volume": (lambda w: w[None], lambda w: w[..., None]),
    "frames": (lambda w: w[:, None], lambda w: w[..., None]),
    "sequence": (lambda w: w.reshape(len(w), -1), lambda w: w.reshape(len(w), -1)),
}


def _frame_level():
    return [lay for lay in layouts.LAYOUTS if lay.frame_level]


def _windows(used: int) -> np.ndarray:
    """``STEPS`` windows of ``CONTEXT`` x ``DIM``, the first ``used`` real, the rest zero padding."""
    w = np.zeros((STEPS, CONTEXT, DIM), np.float32)
    w[:used] = RNG.normal(size=(used, CONTEXT, DIM))
    return w


# -- one layout at a time ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", _frame_level(), ids=lambda lay: lay.name)
def test_frame_level_rows_round_trip_to_model_rows(layout):
    used = [STEPS, 2, 1, STEPS, 3]
    rows, expected = [], []
    for u in used:
        w = _windows(u)
        # frames of one utterance, with a last incomplete window that must be dropped
        frames = np.concatenate([w[:u].reshape(u * CONTEXT, DIM), RNG.normal(size=(CONTEXT - 1, DIM))])
        row, got_used = layout.arrange(frames, STEPS, CONTEXT)
        assert got_used == u and row.dtype == np.float32
        rows.append(row)
        expected.append(w)
    feat = np.stack(rows).astype(np.float64)  # SER_FEAT_EXT wrote float64
    assert feat.shape == layout.file_shape(N, STEPS, CONTEXT, DIM)
    assert layout.matches(feat.shape)
    model = layout.to_model(feat)
    assert model.dtype == np.float32
    assert model.shape == (N, *layout.model_shape(feat.shape[1:])) and model.ndim - 1 == layout.rank
    # whatever the arrangement, the model row holds the windows in time order, features on feature_axis
    assert model.shape[layout.feature_axis] in (DIM, CONTEXT * DIM)
    core = model[..., 0] if layout.model_axes[-1] == "1" else model
    np.testing.assert_array_equal(core.reshape(N, STEPS, CONTEXT, DIM), np.stack(expected))
    if layout.name in SER_FEAT_EXT:
        to_file, to_model = SER_FEAT_EXT[layout.name]
        for i, w in enumerate(expected):
            np.testing.assert_array_equal(feat[i], to_file(w))
            np.testing.assert_array_equal(model[i], to_model(w))


def test_every_builtin_layout_is_covered():
    assert {lay.name for lay in _frame_level()} == set(SER_FEAT_EXT)
    assert [lay.name for lay in layouts.LAYOUTS if not lay.frame_level] == ["vector"]


def test_flat_rows_are_utterance_level_vectors():
    flat = layouts.get("flat")
    vectors = RNG.normal(size=(N, 7))
    rows = [flat.arrange(v) for v in vectors]
    assert all(used == 1 for _, used in rows)
    feat = np.stack([row for row, _ in rows])
    assert feat.shape == flat.file_shape(N, STEPS, CONTEXT, 7) == (N, 7)
    np.testing.assert_array_equal(flat.to_model(feat), vectors.astype(np.float32))
    assert flat.rank == 1 and flat.feature_axis == -1
    with pytest.raises(LayoutError, match="layout flat stores one utterance-level vector per row"):
        flat.arrange(RNG.normal(size=(10, 7)))
    with pytest.raises(LayoutError, match="layout 1d is built from \\(frames, D\\) features"):
        layouts.get("1d").arrange(vectors[0], STEPS, CONTEXT)


def test_lookup_by_either_name():
    for lay in layouts.LAYOUTS:
        assert layouts.get(lay.name) is layouts.get(lay.file_layout) is lay
        assert layouts.find(lay.name, side="file") is None and layouts.find(lay.file_layout, side="model") is None
    with pytest.raises(LayoutError, match="unknown layout '4d'; expected one of volume, frames, sequence, vector"):
        layouts.get("4d")


def test_a_malformed_layout_is_refused():  # RegistrationError, a SerzooError
    with pytest.raises(Exception, match="model axes .* must be the file axes"):
        Layout("bad", "9d", ("T", "D"), ("D", "T"))
    with pytest.raises(Exception, match="time must be the first axis"):
        Layout("bad", "9d", ("C", "T", "D"), ("C", "T", "D"))
    with pytest.raises(Exception, match="a layout without time holds one utterance-level vector"):
        Layout("bad", "9d", ("C", "D"), ("C", "D"))


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", layouts.LAYOUTS, ids=lambda lay: lay.name)
def test_each_layout_is_detected_from_its_shape(layout):
    shape = layout.file_shape(N, STEPS, CONTEXT, DIM)
    assert layouts.detect(shape) is layout
    assert [lay.name for lay in layouts.LAYOUTS if lay.matches(shape)] == [layout.name]


def test_one_time_step_in_five_axes_is_settled_by_the_hint():
    shape = (N, 1, 1, CONTEXT, DIM)
    assert layouts.detect(shape).file_layout == "2d"  # as before: 2d unless told otherwise
    assert layouts.detect(shape, "3d").file_layout == "3d"
    with pytest.raises(DataError, match=r"x.h5: shape \(5, 1, 1, 3, 2\) is not layout '1d'; it fits 2d, 3d"):
        layouts.detect(shape, "1d", where="x.h5")


def test_a_shape_that_fits_nothing_lists_every_layout():
    with pytest.raises(DataError) as err:
        layouts.detect((N, 2, 2, 2))
    assert str(err.value) == ("feat: shape (5, 2, 2, 2) fits no layout; expected (N, D), (N, T, C*D), "
                              "(N, T, 1, C, D) for 2d or (N, 1, T, C, D) for 3d")


# -- adapters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", layouts.LAYOUTS, ids=lambda lay: lay.name)
def test_adapters_reach_the_heads_from_every_layout(layout):
    import keras

    path = layouts.adapter_path(layout.name, HEAD_LAYOUT)
    assert path is not None
    example = layout.model_shape(layout.file_shape(1, STEPS, CONTEXT, DIM)[1:])
    x = inputs = keras.Input(shape=example)
    current = layout.name
    for name in path:
        step = next(a for a in layouts.ADAPTERS if a.src == current and a.name == name)
        x = step.build(x, "t")
        current = step.dst
        assert len(x.shape) - 1 == layouts.get(current).rank  # each adapter gives its layout's rank
    assert current == HEAD_LAYOUT
    out = keras.Model(inputs, x)(np.ones((2, *example), np.float32))
    assert tuple(out.shape)[0] == 2 and len(out.shape) == 2


def test_adapters_only_lose_structure():
    order = layouts.names()
    for item in layouts.ADAPTERS:
        assert order.index(item.src) < order.index(item.dst)
    assert layouts.adapter_path("vector", "sequence") is None
    with pytest.raises(LayoutError, match="unknown layout adapter 'squash'"):
        layouts.adapter("squash")


# -- one table, every consumer -----------------------------------------------------------------

#: a layout that exists only in this test: steps x context x features with no singleton axis
GRID = Layout("grid", "4d", ("T", "C", "D"), ("T", "C", "D", "1"), "test-only 4-D layout")


@pytest.fixture
def grid(monkeypatch):
    """Put GRID into the tables, between frames and sequence, with an adapter to sequence."""
    flatten = layouts.adapter("flatten_steps").build
    monkeypatch.setattr(layouts, "LAYOUTS", (*layouts.LAYOUTS[:2], GRID, *layouts.LAYOUTS[2:]))
    monkeypatch.setattr(layouts, "ADAPTERS", (*layouts.ADAPTERS, Adapter("grid", "sequence", "flatten_steps", flatten)))
    return GRID


def _grid_file(path, n_per=8, groups=4):
    rng = np.random.default_rng(1)
    labels = np.tile(np.arange(n_per) % 2, groups)
    feat = rng.normal(size=(n_per * groups, STEPS, CONTEXT, DIM)) * [1.0, 5.0] + [0.0, 3.0] + labels[:, None, None, None]
    with h5py.File(path, "w") as f:
        f["feat"] = feat
        f["label"] = labels[:, None].astype(float)
        f["start_indice"] = np.arange(groups) * float(n_per)
        f["end_indice"] = (np.arange(groups) + 1) * float(n_per)
    return path, feat


def test_the_reader_follows_the_table(grid, tmp_path, monkeypatch):
    from serzoo.data.database import Database
    from serzoo.data.loading import open_database

    path, feat = _grid_file(tmp_path / "grid.h5")
    with open_database(path) as db:
        assert (db.file_layout, db.input_layout, db.layout) == ("4d", "grid", grid)
        assert db.example_shape == (STEPS, CONTEXT, DIM, 1)
        np.testing.assert_array_equal(db.features([3, 0]), feat[[3, 0], ..., None].astype(np.float32))
    assert Database(feat, np.zeros(len(feat)), file_layout="4d").input_layout == "grid"
    monkeypatch.undo()  # without the record, the same file is refused
    with pytest.raises(DataError, match="fits no layout"):
        open_database(path)


def _wav_corpus(folder, count=4):
    rng = np.random.default_rng(2)
    (folder / "wav").mkdir()
    lines = ["file\temotion\tspeaker"]
    for i in range(count):
        samples = np.round(0.1 * rng.standard_normal(int(16000 * 0.2)) * 32767).astype("<i2")
        with wave.open(str(folder / f"wav/u{i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(samples.tobytes())
        lines.append(f"wav/u{i}.wav\t{i % 2}\ts{i % 2}")
    (folder / "meta.tsv").write_text("\n".join(lines) + "\n")
    return folder / "meta.tsv"


def test_the_builder_follows_the_table(grid, tmp_path, monkeypatch):
    from serzoo.data.build import build_database
    from serzoo.data.loading import open_database

    meta = _wav_corpus(tmp_path)
    options = dict(n_mels=DIM, max_steps=8, context=2, layout="4d", progress=False)
    out = build_database(meta, tmp_path / "grid.h5", **options)
    with h5py.File(out, "r") as hf:
        assert hf["feat"].shape == (4, 4, 2, DIM)
    with open_database(out) as db:
        assert db.attrs["layout"] == "4d" and db.input_layout == "grid" and db.example_shape == (4, 2, DIM, 1)
        assert db.features().any()
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="--layout '4d': choose one of 1d, 2d, 3d"):
        build_database(meta, tmp_path / "again.h5", **options)


def test_the_assembler_and_block_registry_follow_the_table(grid, register_fake):
    from serzoo import Block
    from serzoo.model.assemble import Head, build_model, plan_chain

    def grid_blocks(register):  # a block may declare the new layout, and the registry accepts it
        register(Block(name="gridconv", description="keeps a grid", factory=lambda x, *, name: x,
                       layouts_in=("grid",), layout_out="same"))

    register_fake("gridplugin", serzoo_register_blocks=grid_blocks)
    plan = plan_chain("gridconv,fcn", "grid", {"fcn": {"units": "4"}})
    assert plan.steps[1].adapter_before == "flatten_steps" and plan.final_adapter == "average_time"
    assert "input: grid (4d database)" in plan.describe()
    with pytest.raises(LayoutError, match="cnn3d needs a 3d database; this one is 4d"):
        plan_chain("cnn3d", "grid")
    mean, variance = np.arange(DIM, dtype=float), np.full(DIM, 4.0)
    model = build_model(plan, (STEPS, CONTEXT, DIM, 1), [Head("emotion", 2)], normalization=(mean, variance))
    x = np.ones((2, STEPS, CONTEXT, DIM, 1), np.float32)
    standardized = model.get_layer("standardize")(x)  # features on the grid's feature axis
    np.testing.assert_allclose(np.asarray(standardized)[0, 0, 0, :, 0], (1 - mean) / 2, rtol=1e-5)
    assert model(x)["emotion"].shape == (2, 2)


def test_training_standardises_on_the_layouts_feature_axis(grid, tmp_path):
    from serzoo.model.serialization import load_model
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run
    from serzoo.training.config import TrainConfig

    path, feat = _grid_file(tmp_path / "grid.h5")
    config = TrainConfig(data=str(path), blocks="fcn", opts=["fcn.units=4"], epochs=1, batch_size=8, patience=0,
                         jit_compile=False, max_folds=1)
    run(prepare(config), tmp_path / "run", echo=lambda m: None)
    result = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    rows = np.concatenate([np.arange(g * 8, g * 8 + 8) for g in result["groups"]["train"]])
    model, _ = load_model(tmp_path / "run" / "fold00" / "model.keras")
    mean = np.asarray(model.get_layer("standardize").mean).reshape(-1)
    np.testing.assert_allclose(mean, feat[rows].mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)


def test_the_option_choices_follow_the_table(grid):
    import click

    from serzoo.cli import build as cli_build
    from serzoo.cli import data as cli_data
    from serzoo.data import loading
    from serzoo.plugins import loaders

    found = []
    loading.serzoo_register_loaders(found.append)
    loaders.serzoo_register_loaders(found.append)
    choices = {(c.name, p.name): p.choices for c in found for p in c.params if p.name == "layout"}
    assert choices[("h5", "layout")] == ("auto", "1d", "2d", "3d", "4d", "flat")
    # the builder writes every layout: frame-level extractors the ones with time, utterance-level ones flat
    assert choices[("audio", "layout")] == ("auto", "1d", "2d", "3d", "4d", "flat")
    command = click.command()(cli_data._options_of_features(lambda **kw: None))
    layout = next(p for p in command.params if p.name == "layout")
    assert list(layout.type.choices) == ["auto", "1d", "2d", "3d", "4d", "flat"] and "4d: (N, T, C, D)" in layout.help
    assert "grid" in cli_build.layout_choice().choices and "4d" in cli_build.layout_choice().choices


def test_importing_the_layouts_imports_no_tensorflow():
    code = ("import sys, serzoo.core.layouts; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
