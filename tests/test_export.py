"""``serzoo export``: every format's parity with the Keras model, the sidecar, refusals, third-party blocks."""

from __future__ import annotations

import json
import sys
import warnings

import h5py
import numpy as np
import pytest

from serzoo.core.errors import ConfigError, ExportError
from serzoo.core.registry import Exporter
from spies import write_db

FORMATS = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}


def _train(folder, db, tasks: str, blocks: str, opts: list[str]):
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(db), tasks=tasks, blocks=blocks, opts=opts, epochs=1, batch_size=8, patience=0,
                         jit_compile=False, max_folds=1)
    run(prepare(config), folder / "run", echo=lambda m: None)
    return folder / "run" / "fold00" / "model.keras"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A 1d model (conv, recurrent, attention; two task heads, global standardisation) and a flat one."""
    rng = np.random.default_rng(2)
    emo = np.tile([0] * 8 + [1] * 6 + [2] * 4, 3)
    arousal = (emo > 0).astype(float)
    folder = tmp_path_factory.mktemp("export")
    with h5py.File(folder / "seq.h5", "w") as f:
        f["feat"] = rng.normal(size=(len(emo), 8, 4)) + emo[:, None, None]
        f["label"] = np.stack([emo, arousal], axis=1).astype(float)
        f["start_indice"], f["end_indice"] = np.arange(3.0) * 18, (np.arange(3.0) + 1) * 18
        f.attrs["label_names"] = json.dumps(["emotion", "arousal"])
        f.attrs["class_names"] = json.dumps({"emotion": ["anger", "joy", "sad"], "arousal": ["low", "high"]})
    flat = write_db(folder / "flat.h5", rng.normal(size=(len(emo), 10)) + emo[:, None], emo[:, None], 18)
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    return {
        "1d": _train(folder / "a", folder / "seq.h5", "emotion:3:0,arousal:2:1", "cnn1d,lstm,attention,dense",
                     ["cnn1d.filters=4", "lstm.units=6", "lstm.return_sequences=true", "attention.units=4",
                      "dense.units=8"]),
        "flat": _train(folder / "b", flat, "emotion:3:0", "dense", ["dense.units=8"]),
    }


def _run_export(fmt: str, path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run an export with its plain runtime, as a user without serzoo would (no Keras model involved)."""
    import tensorflow as tf

    if fmt == "savedmodel":
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return {k: v.numpy() for k, v in serve(features=tf.constant(x)).items()}
    if fmt == "tflite":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        rows = [runner(features=x[i:i + 1]) for i in range(len(x))]
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"features": x})))


@pytest.mark.parametrize("kind", ["1d", "flat"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_matches_the_keras_model(invoke, models, kind, fmt, tmp_path):
    from serzoo.model.serialization import load_model

    out = tmp_path / f"model{FORMATS[fmt] or '_savedmodel'}"
    result = invoke("export", models[kind], "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert f"{fmt}: largest absolute difference to the Keras model {sidecar['parity']['max_abs_diff']:.2g}" \
        in result.output
    assert sidecar["parity"]["max_abs_diff"] < 1e-4
    # checked again here on other inputs, with the runtime alone, against the Keras model
    model, _ = load_model(models[kind], compile=False)
    x = np.random.default_rng(7).normal(scale=2.0, size=(3, *model.input_shape[1:])).astype("float32")
    expected = model.predict(x, verbose=0)
    got = _run_export(fmt, out, x)
    assert sorted(got) == sorted(expected) == [o["name"] for o in sidecar["outputs"]]
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4)
    print(f"PARITY {kind} {fmt} {sidecar['parity']['max_abs_diff']:.3g}", file=sys.stderr)


def test_sidecar_carries_label_map_tasks_and_input(invoke, models, tmp_path):
    out = tmp_path / "m.onnx"
    assert invoke("export", models["1d"], "--format", "onnx", "-o", out).exit_code == 0
    sidecar = json.loads((tmp_path / "m.onnx.json").read_text())
    outputs = {o["name"]: o for o in sidecar["outputs"]}
    assert outputs["emotion"]["classes"] == ["anger", "joy", "sad"] and outputs["arousal"]["classes"] == ["low", "high"]
    assert sidecar["input"] == {**sidecar["input"], "name": "features", "shape": [None, 8, 4], "layout": "sequence",
                                "file_layout": "1d"}
    assert [t["name"] for t in sidecar["tasks"]] == ["emotion", "arousal"]
    assert sidecar["data"]["rows"] == 54 and sidecar["format"] == "onnx" and sidecar["file"] == "m.onnx"


def test_an_export_off_by_more_than_the_tolerance_is_refused_and_nothing_is_left(invoke, models, tmp_path,
                                                                                register_fake):
    def factory(model, path, **options):
        path.write_bytes(b"not a model")
        return (lambda x: {k: np.asarray(v) + 2e-4 for k, v in model.predict(x, verbose=0).items()}), {}

    register_fake("offbyone", serzoo_register_exporters=lambda register: register(
        Exporter(name="drifty", description="off by 2e-4", factory=factory, suffix=".bin")))
    out = tmp_path / "out" / "m.bin"
    result = invoke("export", models["flat"], "--format", "drifty", "-o", out)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "drifty export differs from the Keras model by 0.0002" in errors[0]
    assert list((tmp_path / "out").iterdir()) == []  # no export, no sidecar, no temporary


def test_existing_output_needs_force(invoke, models, tmp_path):
    out = tmp_path / "m.tflite"
    out.write_text("keep me")
    result = invoke("export", models["flat"], "--format", "tflite", "-o", out)
    assert result.exit_code == 2 and "--force" in result.output and out.read_text() == "keep me"


def test_onnx_without_its_extra_names_the_extra(models, tmp_path, monkeypatch):
    from serzoo.model.export import export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now raises ImportError
    with pytest.raises(ConfigError, match=r"exporter onnx needs tf2onnx: pip install 'serzoo\[onnx\]'"):
        export(models["flat"], "onnx", tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_unknown_option_of_a_format_is_refused(invoke, models, tmp_path):
    result = invoke("export", models["flat"], "--format", "tflite", "--opt", "batchsize=2", "-o", tmp_path / "m")
    assert result.exit_code == 2 and "tflite has no option 'batchsize'; valid options: batch" in result.output


def test_parity_rejects_renamed_or_reshaped_outputs():
    from serzoo.model.export import parity

    expected = {"emotion": np.zeros((2, 3))}
    with pytest.raises(ExportError, match="outputs"):
        parity(expected, {"output_0": np.zeros((2, 3))}, "x")
    with pytest.raises(ExportError, match="shape"):
        parity(expected, {"emotion": np.zeros((2, 2))}, "x")
    assert parity(expected, {"emotion": np.full((2, 3), 1e-3)}, "x") == {"emotion": pytest.approx(1e-3)}


def test_a_model_with_a_third_party_block_predicts_and_exports(invoke, tmp_path):
    from serzoo.model.serialization import load_model

    rng = np.random.default_rng(3)
    emo = np.tile([0] * 6 + [1] * 6, 3)
    db = write_db(tmp_path / "db.h5", rng.normal(size=(len(emo), 6, 3)) + emo[:, None, None], emo[:, None], 12)
    path = _train(tmp_path, db, "emotion:2:0", "cnn1d,stats_pool,dense", ["cnn1d.filters=4", "dense.units=4"])
    model, _ = load_model(path)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    assert model.predict(x, verbose=0)["emotion"].shape == (4, 2)
    assert "StatsPooling" in {type(layer).__name__ for layer in model.layers}
    for fmt in ("onnx", "tflite"):
        out = tmp_path / f"m.{fmt}"
        result = invoke("export", path, "--format", fmt, "-o", out)
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(_run_export(fmt, out, x)["emotion"], model.predict(x, verbose=0)["emotion"],
                                   atol=1e-4)


def test_parity_inputs_follow_the_training_statistics_so_outputs_are_not_saturated(models):
    from serzoo.model.export import sample_inputs
    from serzoo.model.serialization import load_model

    model, _ = load_model(models["1d"], compile=False)
    x, drawn = sample_inputs(model)
    assert "training mean and variance" in drawn and x.shape == (4, 8, 4) and not x[-1].any()
    standardised = np.asarray(model.get_layer("standardize")(x[:3]))
    assert abs(standardised.mean()) < 0.5 and 0.5 < standardised.std() < 1.5  # features-like, not extreme


def test_tflite_with_an_open_batch_on_a_recurrent_model_says_to_fix_the_batch(invoke, models, tmp_path):
    result = invoke("export", models["1d"], "--format", "tflite", "--opt", "batch=0", "-o", tmp_path / "m.tflite")
    assert result.exit_code == 2
    assert "no TFLite built-in form for tf.TensorListReserve" in result.output and "--opt batch=1" in result.output
    assert not list(tmp_path.iterdir())
