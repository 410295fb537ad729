"""serzoo predict: audio and databases agree, run directories average their members, timelines and streams."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from inference_fixtures import demo_run  # noqa: F401  (the session fixture)
from serzoo.data.demo import EMOTIONS

pytestmark = pytest.mark.slow


def _predict(invoke, *args) -> list[dict]:
    result = invoke("predict", *args, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _probs(record: dict) -> list[float]:
    return [record["tasks"]["emotion"]["probabilities"][c] for c in EMOTIONS]


def _fails(invoke, *args) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one line, no traceback
    return result.output


def test_audio_features_are_bit_identical_to_the_built_database(demo_run):
    from serzoo.data.loading import open_database
    from serzoo.inference.inputs import Featurizer
    from serzoo.inference.models import load_predictor

    predictor = load_predictor(demo_run.model)
    featurizer = Featurizer(predictor.feature_settings, predictor.metadata["file_layout"], predictor.example_shape)
    with open_database(demo_run.db) as db:
        order = [demo_run.wavs.index(demo_run.meta.parent / u) for u in db.utterances]
        stored = db.features()
    computed = featurizer.files([demo_run.wavs[i] for i in order])
    assert computed.dtype == stored.dtype and np.array_equal(computed, stored)
    assert np.abs(stored).sum() > 0 and not np.array_equal(computed[0], computed[1])


def test_predict_on_database_and_on_the_same_wavs_agree(demo_run, invoke):
    from_db = _predict(invoke, demo_run.model, demo_run.db)
    from_wav = {Path(r["utterance"]).name: r for r in _predict(invoke, demo_run.model, *demo_run.wavs)}
    from_meta = {Path(r["utterance"]).name: r for r in _predict(invoke, demo_run.model, demo_run.meta)}
    assert len(from_db) == len(from_wav) == len(from_meta) == len(demo_run.wavs) == 30
    for record in from_db:
        name = Path(record["utterance"]).name
        emotion = name.split("_")[1]
        assert record["tasks"]["emotion"]["label"] == emotion  # labels travel with the database rows
        assert from_meta[name]["tasks"]["emotion"]["label"] == emotion  # and with the meta table's
        assert "label" not in from_wav[name]["tasks"]["emotion"]  # plain wav files have none
        assert _probs(from_wav[name]) == pytest.approx(_probs(record), abs=1e-6)
        assert from_wav[name]["tasks"]["emotion"]["index"] == record["tasks"]["emotion"]["index"]


def test_folder_input_is_every_wav_sorted(demo_run, invoke):
    records = _predict(invoke, demo_run.model, demo_run.meta.parent)
    names = [r["utterance"] for r in records]
    assert names == sorted(names) and len(names) == len(list(demo_run.meta.parent.rglob("*.wav")))


def test_run_directory_averages_its_members(demo_run, invoke, tmp_path):
    ensemble = _predict(invoke, demo_run.run_dir, demo_run.db)
    members = [_predict(invoke, demo_run.run_dir / f"fold{f:02d}" / "model.keras", demo_run.db) for f in (0, 1)]
    assert not np.allclose([_probs(r) for r in members[0]], [_probs(r) for r in members[1]])
    for i, record in enumerate(ensemble):
        assert _probs(record) == pytest.approx(np.mean([_probs(m[i]) for m in members], axis=0), abs=2e-6)
    # a seed ensemble's layout (foldNN/seedS/model.keras) is found too
    for seed, fold in enumerate(("fold00", "fold01")):
        (tmp_path / "seeds" / "fold00" / f"seed{seed}").mkdir(parents=True)
        shutil.copy(demo_run.run_dir / fold / "model.keras", tmp_path / "seeds" / "fold00" / f"seed{seed}")
    seeds = _predict(invoke, tmp_path / "seeds", demo_run.db)
    assert [_probs(r) for r in seeds] == [_probs(r) for r in ensemble]


def test_members_that_disagree_are_refused(demo_run, invoke, tmp_path):
    from serzoo.model.serialization import load_model, read_metadata, save_model

    model, meta = load_model(demo_run.model, compile=False)
    (tmp_path / "run" / "fold00").mkdir(parents=True)
    (tmp_path / "run" / "fold01").mkdir(parents=True)
    shutil.copy(demo_run.model, tmp_path / "run" / "fold00")
    save_model(model, tmp_path / "run" / "fold01" / "model.keras",
               {**meta, "class_names": {"emotion": ["a", "b", "c", "d"]}})
    assert read_metadata(tmp_path / "run" / "fold01" / "model.keras")["class_names"]["emotion"][0] == "a"
    assert "an ensemble's members must agree" in _fails(invoke, "predict", tmp_path / "run", demo_run.db)


def test_csv_and_table_formats(demo_run, invoke, tmp_path):
    out = tmp_path / "p.csv"
    result = invoke("predict", demo_run.model, demo_run.db, "--format", "csv", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30
    for row in rows:
        probs = [float(row[f"emotion_p_{c}"]) for c in EMOTIONS]
        assert sum(probs) == pytest.approx(1, abs=1e-3)
        assert row["emotion"] == EMOTIONS[int(np.argmax(probs))] == EMOTIONS[int(row["emotion_index"])]
        assert row["emotion_label"] == Path(row["utterance"]).name.split("_")[1]
    table = invoke("predict", demo_run.model, demo_run.wavs[0], "-q").stdout
    assert demo_run.wavs[0].name in table and "emotion_label" not in table
    assert any(f"{c} (0." in table for c in EMOTIONS)


def test_prior_correction(demo_run, invoke, tmp_path):
    from serzoo.data.loading import open_database
    from serzoo.inference.models import load_predictor
    from serzoo.inference.predict import outputs
    from serzoo.model.serialization import load_model, save_model

    predictor = load_predictor(demo_run.model)
    result = json.loads((demo_run.run_dir / "fold00" / "result.json").read_text())
    with open_database(demo_run.db) as db:
        x, labels = db.features(), db.labels[:, 0].astype(int)
        train = np.isin(db.grouping("speaker").ids, result["groups"]["train"])
    # the stored priors are the class shares of the fold's training rows (sad is rare there)
    expected = np.bincount(labels[train], minlength=4) / train.sum()
    assert predictor.priors["emotion"] == pytest.approx(expected, abs=1e-12) and expected[3] < 0.2
    raw, fixed = outputs(predictor, x)["emotion"], outputs(predictor, x, prior_correction=True)["emotion"]
    assert fixed.sum(axis=1) == pytest.approx(np.ones(len(x)))
    assert (fixed.argmax(1) == (raw / expected).argmax(1)).all()
    assert (fixed.argmax(1) != raw.argmax(1)).any()  # the rare class gains where it was close
    cli = _predict(invoke, demo_run.model, demo_run.db, "--prior-correction")
    assert [_probs(r) for r in cli] == pytest.approx(fixed, abs=2e-6)
    model, meta = load_model(demo_run.model, compile=False)
    meta.pop("class_priors")
    save_model(model, tmp_path / "old.keras", meta)
    assert "stores no training class priors" in _fails(invoke, "predict", tmp_path / "old.keras", demo_run.db,
                                                       "--prior-correction")


@pytest.fixture(scope="module")
def long_wav(demo_run, tmp_path_factory) -> tuple[Path, np.ndarray]:
    import soundfile

    samples = np.concatenate([soundfile.read(str(p), dtype="int16")[0] for p in demo_run.wavs[:4]])
    path = tmp_path_factory.mktemp("long") / "long.wav"
    soundfile.write(str(path), samples, 16000, subtype="PCM_16")
    return path, samples


def _timeline(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["file", "start", "end", "task", "class", "index", "probabilities"]
    return rows[1:]


def test_timeline_windows_and_times(demo_run, invoke, long_wav):
    path, samples = long_wav
    result = invoke("predict", demo_run.model, "--window", "1.0", "--hop", "0.5", path)
    assert result.exit_code == 0, result.output
    rows = _timeline(result.stdout)
    duration = len(samples) / 16000
    assert len(rows) == int((duration - 1.0) // 0.5) + 1 > 3
    for k, row in enumerate(rows):
        assert (float(row[1]), float(row[2])) == (k * 0.5, k * 0.5 + 1.0)
        assert row[4] == EMOTIONS[int(row[5])] and row[6].startswith("neutral=")
    short = _timeline(invoke("predict", demo_run.model, "--window", "60", demo_run.wavs[0]).stdout)
    assert len(short) == 1 and float(short[0][1]) == 0 and 0.3 < float(short[0][2]) < 60


def test_windows_do_not_depend_on_how_samples_arrive():
    from serzoo.inference.timeline import windows

    x = np.arange(1000, dtype=np.float32)
    whole = list(windows([x], 100, 2.0, 0.7))
    pieces = list(windows(np.split(x, [1, 7, 300, 301, 650]), 100, 2.0, 0.7))
    assert [(a, b) for a, b, _ in whole] == [(a, b) for a, b, _ in pieces]
    assert [a for a, _, _ in whole] == pytest.approx([k * 0.7 for k in range(12)])
    assert all(np.array_equal(p, w) for (_, _, p), (_, _, w) in zip(pieces, whole))
    gaps = list(windows([x], 100, 1.0, 3.0))  # hops longer than windows skip samples
    assert [w[0] for _, _, w in gaps] == [0, 300, 600, 900]


def test_stream_from_a_pipe_matches_the_file_and_prints_as_it_goes(demo_run, invoke, long_wav):
    path, samples = long_wav
    on_file = _timeline(invoke("predict", demo_run.model, "--window", "1.0", "--hop", "0.5", path).stdout)
    command = [sys.executable, "-c", "from serzoo.cli import main; main()", "predict", str(demo_run.model),
               "--stream", "-", "--window", "1.0", "--hop", "0.5", "--rate", "16000"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(120, proc.kill)
    timer.start()
    try:
        data = samples.astype("<i2").tobytes()
        proc.stdin.write(data[:32001])  # one window and an odd byte: the first line must come before the rest
        proc.stdin.flush()
        first = [proc.stdout.readline(), proc.stdout.readline()]
        proc.stdin.write(data[32001:])
        proc.stdin.close()
        rest = proc.stdout.read()
        assert proc.wait() == 0, proc.stderr.read().decode()
    finally:
        timer.cancel()
    streamed = _timeline((b"".join(first) + rest).decode())
    assert [r[0] for r in streamed] == ["-"] * len(on_file)
    assert [r[1:] for r in streamed] == [r[1:] for r in on_file]


def test_a_stream_at_another_rate_is_resampled_to_the_model_rate(demo_run, long_wav, monkeypatch):
    from serzoo.data import audio
    from serzoo.inference.inputs import Featurizer
    from serzoo.inference.models import load_predictor
    from serzoo.inference.timeline import timeline_rows

    _, samples = long_wav
    predictor = load_predictor(demo_run.model)
    featurizer = Featurizer(predictor.feature_settings, predictor.metadata["file_layout"], predictor.example_shape)
    x = samples.astype(np.float32) / 32768
    rates = []
    real = audio.resample
    monkeypatch.setattr(audio, "resample", lambda s, a, b: (a != b and rates.append((a, b))) or real(s, a, b))
    native = list(timeline_rows(predictor, featurizer, "-", [x], 16000, 1.0, 0.5))
    assert rates == []
    slow = list(timeline_rows(predictor, featurizer, "-", [audio.resample(x, 16000, 8000)], 8000, 1.0, 0.5))
    assert set(rates[1:]) == {(8000, 16000)} and len(rates) == len(slow) + 1  # once per window, to 16 kHz
    assert [r[1:3] for r in slow] == [r[1:3] for r in native]  # windows in seconds, whatever the rate


def test_clear_errors(demo_run, invoke, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really audio")
    assert "cannot decode audio" in _fails(invoke, "predict", demo_run.model, bad)
    (tmp_path / "notes.json").write_text("{}")
    assert "unknown input type '.json'" in _fails(invoke, "predict", demo_run.model, tmp_path / "notes.json")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["feat"] = np.zeros((4, 50, 40), np.float32)
        f["label"] = np.zeros((4, 1))
    message = _fails(invoke, "predict", demo_run.model, other)
    assert "(50, 40)" in message and "(100, 40)" in message
    message = _fails(invoke, "predict", demo_run.model, "--window", "0.01", demo_run.wavs[0])
    assert "--window 0.01 s is shorter than the 0.025 s" in message
    assert "make timelines of audio files" in _fails(invoke, "predict", demo_run.model, "--window", "1", demo_run.db)
    assert "give at least one INPUT" in _fails(invoke, "predict", demo_run.model)
    assert "--stream reads raw 16-bit PCM" in _fails(invoke, "predict", demo_run.model, demo_run.wavs[0],
                                                     "--stream", "-")
    assert "no trained models" in _fails(invoke, "predict", tmp_path, demo_run.wavs[0])
    copy = shutil.copy(demo_run.wavs[0], tmp_path / "copy.wav")
    assert "that is an input" in _fails(invoke, "predict", demo_run.model, copy, "-o", copy)
    assert Path(copy).read_bytes() == demo_run.wavs[0].read_bytes()


class _Stub:
    """A stand-in Keras model: fixed outputs per task, scaled by ``factor``, whatever the batch."""

    def __init__(self, factor: float):
        self.factor = factor

    def predict_on_batch(self, x):
        n = len(x)
        return {"score": np.full((n, 1), self.factor), "mood": np.tile([0.2, 0.8], (n, 1)) * self.factor}


def test_regression_values_and_their_mean_over_members():
    from serzoo.inference.inputs import Utterances
    from serzoo.inference.models import Predictor
    from serzoo.inference.predict import format_records, predict_records

    meta = {"tasks": [{"name": "score", "num_classes": 1, "column": 0}, {"name": "mood", "num_classes": 2,
                                                                         "column": 1}],
            "label_names": ["score", "mood"], "class_names": {"mood": ["calm", "tense"]}, "example_shape": [3]}
    predictor = Predictor(Path("m"), [Path("a"), Path("b")], [_Stub(1.0), _Stub(0.5)], meta)
    utts = Utterances(["u0", "u1"], np.zeros((2, 3), np.float32), {"score": np.array([0.25, np.nan])})
    records = predict_records(predictor, utts)
    assert records[0]["tasks"]["score"] == {"value": 0.75, "label": 0.25}
    assert records[1]["tasks"]["score"] == {"value": 0.75}  # an unknown label is left out
    assert records[0]["tasks"]["mood"]["class"] == "tense" and records[0]["tasks"]["mood"]["index"] == 1
    rows = list(csv.DictReader(io.StringIO(format_records(records, predictor, "csv"))))
    assert rows[0]["score"] == "0.7500" and rows[0]["score_label"] == "0.2500" and rows[1]["score_label"] == ""
    assert rows[0]["mood_p_calm"] == "0.1500" and rows[0]["mood_p_tense"] == "0.6000"
    with pytest.raises(Exception, match="do not fit the model's input"):
        predictor.predict(np.zeros((1, 4), np.float32))


def test_a_model_with_a_third_party_block_predicts_on_audio(demo_run, invoke, tmp_path):
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(demo_run.db), tasks="emotion:4:0", blocks="fcn,stats_pool,dense",
                         opts=["fcn.units=8", "dense.units=8"], epochs=1, batch_size=16, patience=0,
                         jit_compile=False, max_folds=1)
    run(prepare(config), tmp_path / "run", echo=lambda m: None)
    model = tmp_path / "run" / "fold00" / "model.keras"
    from_wav = _predict(invoke, model, *demo_run.wavs[:4])
    from_db = {Path(r["utterance"]).name: r for r in _predict(invoke, model, demo_run.db)}
    for record in from_wav:
        assert _probs(record) == pytest.approx(_probs(from_db[Path(record["utterance"]).name]), abs=1e-6)
