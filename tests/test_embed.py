"""serzoo embed: a layer's activations as a database with labels and groups, that training takes again."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from inference_fixtures import demo_run  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.slow


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def test_default_embedding_is_what_the_heads_see(demo_run, invoke, tmp_path):
    from serzoo.data.loading import open_database
    from serzoo.inference.models import load_predictor

    out = tmp_path / "emb.h5"
    _ok(invoke("embed", demo_run.model, demo_run.db, "-o", out, "-q"))
    model = load_predictor(demo_run.model).models[0]
    with open_database(out) as emb, open_database(demo_run.db) as db:
        assert emb.file_layout == "flat" and emb.n_rows == db.n_rows
        assert np.array_equal(emb.labels, db.labels) and emb.label_names == ["emotion"]
        assert emb.class_names == db.class_names
        assert np.array_equal(emb.grouping("speaker").ids, db.grouping("speaker").ids)
        assert emb.utterances == db.utterances
        # the head applied to the embedding gives the model's own outputs: it is the layer feeding the head
        heads = np.asarray(model.get_layer("emotion")(emb.features()))
        whole = np.asarray(model.predict_on_batch(db.features())["emotion"])
    assert heads == pytest.approx(whole, abs=1e-5)


def test_frames_average_to_the_utterance_embedding(demo_run, invoke, tmp_path):
    from serzoo.data.loading import open_database

    layer = "b1_fcn_1_act"  # fcn keeps the time axis
    _ok(invoke("embed", demo_run.model, *demo_run.wavs[:3], "-o", tmp_path / "f.h5", "--layer", layer, "--frames", "-q"))
    _ok(invoke("embed", demo_run.model, *demo_run.wavs[:3], "-o", tmp_path / "u.csv", "--layer", layer, "-q"))
    with open_database(tmp_path / "f.h5") as frames:
        assert frames.file_layout == "1d" and frames.example_shape == (100, 8)
        assert frames.label_names == [] and frames.lengths.tolist() == [100] * 3
        mean = frames.features().mean(axis=1)
    rows = list(csv.reader((tmp_path / "u.csv").open()))
    assert rows[0] == ["utterance", *(f"e{d}" for d in range(8))]
    assert [r[0] for r in rows[1:]] == [str(p) for p in demo_run.wavs[:3]]
    assert np.array([[float(v) for v in r[1:]] for r in rows[1:]]) == pytest.approx(mean, rel=1e-4, abs=1e-6)


def test_embeddings_train_again_and_carry_no_audio_settings(demo_run, invoke, tmp_path):
    out = tmp_path / "emb.h5"
    _ok(invoke("embed", demo_run.model, demo_run.meta, "-o", out, "-q"))
    _ok(invoke("train", "--data", out, "--blocks", "dense", "--opt", "dense.units=4", "--epochs", "1",
               "--max-folds", "1", "--run-dir", tmp_path / "run"))
    model = tmp_path / "run" / "fold00" / "model.keras"
    records = _ok(invoke("predict", model, out, "--format", "csv", "-q")).stdout.splitlines()
    assert records[0].startswith("utterance,emotion,emotion_index") and len(records) == 31
    result = invoke("predict", model, demo_run.wavs[0])
    assert result.exit_code == 2 and "records no feature settings" in result.output


def test_embed_errors(demo_run, invoke, tmp_path):
    result = invoke("embed", demo_run.model, demo_run.db, "-o", tmp_path / "x.h5", "--layer", "nope")
    assert result.exit_code == 2 and "--layer 'nope'" in result.output and "b2_dense_1_act" in result.output
    result = invoke("embed", demo_run.model, demo_run.db, "-o", tmp_path / "x.h5", "--frames")
    assert result.exit_code == 2 and "no time axis" in result.output
    result = invoke("embed", demo_run.run_dir, demo_run.db, "-o", tmp_path / "x.h5")
    assert result.exit_code == 2 and "embed takes one model file" in result.output
    assert not (tmp_path / "x.h5").exists()
