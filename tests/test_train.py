"""Training and honest evaluation on tiny data: losses, samplers, protocols, results, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.training.config import TrainConfig
from serzoo.core.errors import SerzooError

TINY = dict(blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=2, batch_size=16, patience=0,
            jit_compile=False)


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    """A 1d SER_FEAT_EXT-style file: 4 speakers, imbalanced 3-class emotion, binary arousal, a float score."""
    rng = np.random.default_rng(0)
    n_per, steps, dims = 24, 6, 5
    feats, labels = [], []
    for speaker in range(4):
        emo = np.array([0] * 14 + [1] * 7 + [2] * 3)
        x = rng.normal(size=(n_per, steps, dims)) + emo[:, None, None] * 1.5
        feats.append(x)
        labels.append(np.stack([emo, emo > 0, emo * 0.5 + rng.normal(scale=0.1, size=n_per)], axis=1))
    path = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = np.concatenate(feats)
        f["label"] = np.concatenate(labels).astype(float)
        f["start_indice"] = np.arange(4.0) * n_per
        f["end_indice"] = (np.arange(4.0) + 1) * n_per
    return path


def _run(tiny_db, tmp_path, **overrides):
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(tiny_db), **{**TINY, **overrides})
    prep = prepare(config)
    return run(prep, tmp_path / "run", echo=lambda m: None), prep


def test_logo_results_and_leakage_record(tiny_db, tmp_path):
    summary, prep = _run(tiny_db, tmp_path, tasks="emotion:3:0", max_folds=None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert len(results["folds"]) == 4
    tested = sorted(g for fold in results["folds"] for g in fold["groups"]["test"])
    assert tested == [0, 1, 2, 3]  # every speaker is the test speaker exactly once
    for fold in results["folds"]:
        train, val, test = (set(fold["groups"][k]) for k in ("train", "val", "test"))
        assert not (train & val) and not (train & test) and not (val & test)
        assert val, "a validation speaker is taken from the training speakers"
        assert fold["leakage_checks"]["disjoint_rows_and_groups"] is True  # computed from the rows used
        assert fold["leakage_checks"]["model_selection"] == "best validation score"
        assert 0.0 <= fold["test"]["emotion"]["uar"] <= 1.0
    cm = np.array(results["summary"]["emotion"]["confusion_summed"])
    assert cm.sum() == 96  # each row tested once
    assert results["config"]["seed"] == 0 and results["versions"]["tensorflow"]
    text = (tmp_path / "run" / "results.txt").read_text()
    assert "mean ± std" in text and "confusion matrix summed" in text
    for fold in range(4):
        assert (tmp_path / "run" / f"fold{fold:02d}" / "model.keras").exists()
        assert (tmp_path / "run" / f"fold{fold:02d}" / "log.csv").exists()


def test_saved_model_carries_tasks_and_reloads(tiny_db, tmp_path):
    from serzoo.model.serialization import load_model

    _run(tiny_db, tmp_path, tasks="emotion:3:0,score:1:2", max_folds=1)
    model, meta = load_model(tmp_path / "run" / "fold00" / "model.keras")
    assert [t["name"] for t in meta["tasks"]] == ["emotion", "score"]
    assert meta["input_layout"] == "sequence"
    out = model.predict(np.zeros((2, 6, 5), np.float32), verbose=0)
    assert out["emotion"].shape == (2, 3) and out["score"].shape == (2, 1)


@pytest.mark.parametrize("loss", [loss.name for loss in plugin_manager.losses().list()])
def test_every_loss_trains(tiny_db, tmp_path, loss):
    task_type = plugin_manager.losses().get(loss).task_types[0]
    tasks = f"emotion:3:0:{loss}" if task_type == "classification" else f"score:1:2:{loss}"
    summary, _ = _run(tiny_db, tmp_path, tasks=tasks, max_folds=1, epochs=1)
    (name, entry), = summary.items()
    assert entry["type"] == task_type
    assert np.isfinite(entry["uar" if task_type == "classification" else "ccc"]["mean"])


@pytest.mark.parametrize("sampler", [s.name for s in plugin_manager.samplers().list()])
def test_every_sampler_trains(tiny_db, tmp_path, sampler):
    # which rows a sampler gets is proven with a spy in test_train_leakage.py
    options = ["k_neighbors=2"] if sampler.startswith("smote") else []
    _run(tiny_db, tmp_path, tasks="emotion:3:0", sampler=sampler, sampler_opts=options, max_folds=1, epochs=1)
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    assert fold["sampler"]["name"] == sampler
    assert fold["sampler"]["rows_before"] == fold["rows"]["train"]
    assert fold["sampler"]["rows_after"] > 0 and fold["epochs_run"] == 1


def test_oversample_counts_in_fold_record(tiny_db, tmp_path):
    _run(tiny_db, tmp_path, tasks="emotion:3:0", sampler="oversample", max_folds=1, epochs=1)
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    # 2 training speakers of 24 rows with 14 of class 0: 3 classes x 28
    assert fold["sampler"]["rows_after"] == 3 * 14 * len(fold["groups"]["train"])


def test_multitask_class_weights_and_kfold(tiny_db, tmp_path):
    summary, prep = _run(tiny_db, tmp_path, tasks="emotion:3:0,arousal:2:1,score:1:2", protocol="kfold", folds=2,
                         class_weights="auto", sampler="oversample", sample_by="joint")
    assert set(summary) == {"emotion", "arousal", "score"} and summary["score"]["type"] == "regression"
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    assert len(fold["class_weights"]["emotion"]) == 3 and "score" not in fold["class_weights"]
    assert fold["sampler"]["driven_by"] == "joint emotion x arousal"


def test_fixed_protocol_with_explicit_groups(tiny_db, tmp_path):
    _run(tiny_db, tmp_path, tasks="emotion:3:0", protocol="fixed", test_groups="3", val_groups="2", train_groups="0:1")
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    assert fold["groups"]["test"] == [3] and fold["groups"]["val"] == [2] and fold["groups"]["train"] == [0, 1]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(tasks="emotion:3:7"), "label column 7 does not exist"),
        (dict(tasks="emotion:2:0"), "not a class index below 2"),
        (dict(tasks="emotion:3:0:mse"), "loss mse does not fit classification task emotion"),
        (dict(tasks="score:1:2:cce"), "loss cce does not fit regression task score"),
        (dict(tasks="emotion:3:0,arousal:2:1", sampler="smote", sample_by="emotion"), "--sample-by joint"),
        (dict(tasks="emotion:3:0,arousal:2:1", sampler="oversample"), "--sample-by"),
        (dict(tasks="emotion:3:0", class_weights="emotion=1/2"), "2 weights for 3 classes"),
        (dict(tasks="emotion:3:0", sampler="oversampel"), "did you mean oversample"),
        (dict(tasks="emotion:3:0", batch_size=0), "--batch-size"),
        (dict(tasks="emotion:3:0", blocks="cnn3d"), "cnn3d"),
    ],
)
def test_bad_configuration_fails_before_training(tiny_db, overrides, message):
    from serzoo.training.prepare import prepare

    with pytest.raises(SerzooError, match=message):
        prepare(TrainConfig(data=str(tiny_db), **{**TINY, **overrides}))


def test_cli_train_one_line_error(invoke, tiny_db, tmp_path):
    result = invoke("train", "--data", tiny_db, "--tasks", "emotion:3:9", "--run-dir", tmp_path / "r")
    assert result.exit_code == 2
    assert "label column 9 does not exist" in result.output
    assert not (tmp_path / "r").exists()  # nothing written for a refused run


def _train_cmd(tiny_db, run_dir, *extra):
    code = "import sys; from serzoo.cli import main; sys.argv[0] = 'serzoo'; main()"
    return [sys.executable, "-c", code, "train", "--data", str(tiny_db), "--tasks", "emotion:3:0",
            "--blocks", "fcn,dense", "--opt", "fcn.units=8", "--dropout", "0.3", "--epochs", "6", "--patience", "0",
            "--max-folds", "2", "--batch-size", "8", "--no-jit", "--seed", "3", "--checkpoint-every", "0", *extra]


@pytest.mark.slow
def test_resume_after_kill_equals_uninterrupted_run(tiny_db, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    straight = subprocess.run(_train_cmd(tiny_db, None, "--run-dir", str(tmp_path / "straight")),
                              env=env, capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_db, None, "--run-dir", str(killed_dir)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # kill -9 once fold 2 has finished a few epochs
        seen.append(line)
        if "epoch 3/6" in line and any("fold 2/2 (" in s for s in seen):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert (killed_dir / "fold00" / "result.json").exists()
    assert not (killed_dir / "fold01" / "result.json").exists()
    assert not (killed_dir / "results.json").exists()

    resumed = subprocess.run([*_train_cmd(tiny_db, None)[:3], "train", "--resume", str(killed_dir)],
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "fold 1/2 (" in resumed.stderr and "done before, kept" in resumed.stderr
    assert "resuming at epoch" in resumed.stderr
    a = json.loads((tmp_path / "straight" / "results.json").read_text())
    b = json.loads((killed_dir / "results.json").read_text())
    assert [f["test"] for f in a["folds"]] == [f["test"] for f in b["folds"]]
    assert a["summary"] == b["summary"]
    for fold in ("fold00", "fold01"):  # the predictions themselves, not only rounded metrics
        pa = np.load(tmp_path / "straight" / fold / "predictions.npz")
        pb = np.load(killed_dir / fold / "predictions.npz")
        np.testing.assert_array_equal(pa["pred_emotion"], pb["pred_emotion"])


def test_loading_a_model_whose_plugin_is_gone_names_the_layer(tmp_path):
    import keras

    from serzoo.core.errors import DataError
    from serzoo.model.serialization import load_model, save_model

    @keras.saving.register_keras_serializable(package="vanishing-plugin")
    class Vanishing(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Vanishing()(inputs))
    save_model(model, tmp_path / "m.keras", {"tasks": []})
    del keras.saving.get_custom_objects()["vanishing-plugin>Vanishing"]
    with pytest.raises(DataError, match="vanishing-plugin>Vanishing is not registered"):
        load_model(tmp_path / "m.keras")


def test_dry_run_prints_model_and_folds_and_trains_nothing(invoke, tiny_db, tmp_path):
    result = invoke("train", "--data", tiny_db, "--tasks", "emotion:3:0", "--blocks", "cnn1d,lstm,dense",
                    "--dry-run", "--run-dir", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert "b1_cnn1d" in result.output and "Parameters:" in result.output
    assert result.output.count("test groups") == 4
    assert not (tmp_path / "r").exists()


def test_smote_with_joint_label_keeps_every_task_label(tiny_db, tmp_path):
    _run(tiny_db, tmp_path, tasks="emotion:3:0,arousal:2:1", sampler="smote", sample_by="joint",
         sampler_opts=["k_neighbors=2"], max_folds=1, epochs=1)
    fold = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    # joint classes present in training: (0,0), (1,1), (2,1); all raised to the majority count
    assert fold["sampler"]["rows_after"] == 3 * 14 * len(fold["groups"]["train"])
    assert fold["sampler"]["driven_by"] == "joint emotion x arousal"


def test_decode_joint_inverts_the_joint_label():
    from serzoo.training.tasks import driving_labels, parse_tasks
    from serzoo.training.batches import decode_joint as _decode_joint

    tasks = parse_tasks("a:3:0,b:2:1", ["a", "b"])
    labels = np.array([[2, 1], [0, 0], [1, 1]], dtype=float)
    joint, _ = driving_labels(tasks, labels, "joint")
    np.testing.assert_array_equal(_decode_joint(tasks, joint, labels, "joint"), labels)


def test_tensorboard_logs_per_fold(tiny_db, tmp_path):
    _run(tiny_db, tmp_path, tasks="emotion:3:0", max_folds=1, epochs=1, tensorboard=True)
    assert list((tmp_path / "run" / "fold00" / "tensorboard").rglob("events.out.tfevents.*"))
