"""Speed and scale: mixed precision, tf.distribute, the cheaper checkpoint and coalesced streaming reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core.errors import ConfigError
from serzoo.training.config import TrainConfig

TINY = dict(blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=2, batch_size=16, patience=0,
            jit_compile=False, tasks="emotion:3:0", max_folds=1)


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    """4 speakers x 24 rows of (6 steps, 5 features), 3 imbalanced classes."""
    rng = np.random.default_rng(0)
    emo = np.tile(np.array([0] * 14 + [1] * 7 + [2] * 3), 4)
    path = tmp_path_factory.mktemp("scale") / "tiny.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(96, 6, 5)) * 50 + 1000 + emo[:, None, None] * 40  # raw-feature magnitudes
        f["label"] = emo[:, None].astype(float)
        f["start_indice"] = np.arange(4.0) * 24
        f["end_indice"] = (np.arange(4.0) + 1) * 24
    return path


def _fold_model(db, **overrides):
    from serzoo.training.batches import training_data
    from serzoo.training.fold import _model
    from serzoo.training.prepare import prepare

    prep = prepare(TrainConfig(data=str(db), **{**TINY, **overrides}))
    data = training_data(prep, 0, prep.splits[0], standardize=True)
    model, _ = _model(prep, 0, data, Path("unused"), None, echo=lambda m: None)
    return prep, data, model


@pytest.mark.parametrize("precision, compute", [("fp32", "float32"), ("bf16", "bfloat16"), ("fp16", "float16")])
def test_precision_policy_heads_float32_and_the_saved_model_predicts(tiny_db, tmp_path, precision, compute):
    import keras

    from serzoo.model.serialization import load_model, save_model

    prep, data, model = _fold_model(tiny_db, precision=precision)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    blocks = [layer for layer in model.layers if layer.name.startswith("b")]
    assert blocks and all(layer.dtype_policy.compute_dtype == compute for layer in blocks if layer.weights)
    fixed = [model.get_layer("emotion"), model.get_layer("standardize")]
    assert all(layer.dtype_policy.name == "float32" for layer in fixed)
    assert type(model.optimizer).__name__ == ("LossScaleOptimizer" if precision == "fp16" else "Adam")
    model.fit(data.dataset, epochs=1, verbose=0)
    x = prep.db.features(prep.splits[0].test)
    before = model.predict_on_batch(x)["emotion"]
    assert before.dtype == np.float32 and np.isfinite(before).all()
    save_model(model, tmp_path / "m.keras", {})
    loaded, _ = load_model(tmp_path / "m.keras")
    after = loaded.predict_on_batch(x)["emotion"]
    assert after.dtype == np.float32
    np.testing.assert_array_equal(before, after)


def test_bad_precision_and_multiworker_are_one_line_errors(invoke, tiny_db, tmp_path):
    with pytest.raises(ConfigError, match="--precision"):
        TrainConfig(precision="fp8").validate()
    result = invoke("train", "--data", str(tiny_db), "--distribute", "multiworker", "--run-dir", str(tmp_path / "r"))
    assert result.exit_code == 2 and "keras-team/keras#20585" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


MIRRORED = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from serzoo.training.config import TrainConfig
    from serzoo.training.distribute import strategy
    from serzoo.training.fold import train_fold
    from serzoo.training.prepare import prepare
    from serzoo.training import callbacks

    out = {"replicas": strategy("mirrored").num_replicas_in_sync}
    base = dict(data=sys.argv[1], blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=3,
                batch_size=16, patience=0, tasks="emotion:3:0", max_folds=1, checkpoint_seconds=0, seed=5)
    for name, mode in (("single", None), ("mirrored", "mirrored"), ("resumed", "mirrored")):
        prep = prepare(TrainConfig(distribute=mode, **base))
        fold_dir = Path(sys.argv[2]) / name
        fold_dir.mkdir()
        if name == "resumed":  # stop after epoch 2 as a kill would, then resume from the checkpoint
            original = callbacks.FoldCheckpoint.on_epoch_end
            def stop(self, epoch, logs=None):
                original(self, epoch, logs)
                if epoch == 1:
                    raise KeyboardInterrupt
            callbacks.FoldCheckpoint.on_epoch_end = stop
            try:
                train_fold(prep, 0, prep.splits[0], fold_dir, echo=print)
            except KeyboardInterrupt:
                pass
            callbacks.FoldCheckpoint.on_epoch_end = original
            assert (fold_dir / "last.keras").exists()
        train_fold(prep, 0, prep.splits[0], fold_dir, echo=print)
        log = (fold_dir / "log.csv").read_text().splitlines()
        out[name] = {"pred": np.load(fold_dir / "predictions.npz")["pred_emotion"].tolist(),
                     "loss": [float(r.split(",")[1]) for r in log[1:]]}
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_on_two_logical_devices_matches_single_device_and_resumes(tiny_db, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(tiny_db), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert out["replicas"] == 2
    single, mirrored, resumed = out["single"], out["mirrored"], out["resumed"]
    assert len(single["loss"]) == 3 and single["loss"][0] != single["loss"][-1]  # it did train
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=1e-5)
    np.testing.assert_allclose(mirrored["pred"], single["pred"], atol=1e-5)
    assert np.array(mirrored["pred"]).shape == np.array(single["pred"]).shape  # no replica's rows twice
    np.testing.assert_array_equal(resumed["pred"], mirrored["pred"])  # resume under the strategy is exact
    # the interrupted session logged epoch 1 only (stopped before the CSV logger ran), the resumed one epoch 3
    assert resumed["loss"] == [mirrored["loss"][0], mirrored["loss"][2]]


def test_the_checkpoint_is_never_written_after_the_last_epoch(tiny_db, tmp_path, monkeypatch):
    from serzoo.training import callbacks
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    written = []
    original = callbacks.FoldCheckpoint._checkpoint
    monkeypatch.setattr(callbacks.FoldCheckpoint, "_checkpoint",
                        lambda self, epoch: (written.append(epoch), original(self, epoch)))
    prep = prepare(TrainConfig(data=str(tiny_db), **{**TINY, "epochs": 4, "checkpoint_seconds": 0}))
    run(prep, tmp_path / "run", echo=lambda m: None)
    assert written == [0, 1, 2]  # every epoch but the last, which the fold's result follows at once
    result = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())
    assert result["epochs_run"] == 4 and not (tmp_path / "run" / "fold00" / "last.keras").exists()


def test_best_weights_come_from_memory_or_from_the_checkpoint(tiny_db):
    from serzoo.training.callbacks import FoldCheckpoint

    prep, data, model = _fold_model(tiny_db)
    weights = [w + 1 for w in model.get_weights()]
    checkpoint = FoldCheckpoint(last_path=Path("l.keras"), best_path=Path("missing.weights.h5"), state=None,
                                patience=0, validate=None, epoch_state={}, echo=print, epochs=2, metadata={})
    with pytest.raises(Exception):  # nothing improved in this session: the file is read, here missing
        checkpoint.restore_best(model)
    checkpoint.best_weights = weights
    checkpoint.restore_best(model)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [5, 0, 5, 17, 3], list(range(0, 200, 7)), [199, 0], [42]])
def test_streamed_rows_equal_rows_in_memory(tmp_path, rows):
    from serzoo.data.database import read_rows

    x = np.random.default_rng(1).normal(size=(200, 50, 40)).astype(np.float32)  # 8 kB rows: gaps of 32 coalesce
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("feat", data=x, chunks=(16, 50, 40))
    with h5py.File(tmp_path / "x.h5") as f:
        unique, inverse = np.unique(rows, return_inverse=True)
        np.testing.assert_array_equal(read_rows(f["feat"], unique)[inverse], x[rows])
        np.testing.assert_array_equal(read_rows(f["feat"], unique, gap_bytes=1)[inverse], x[rows])  # one per row


@pytest.mark.parametrize("compression, cached", [(None, False), ("gzip", True)])
def test_uncompressed_chunked_features_are_read_without_the_chunk_cache(tmp_path, compression, cached):
    from serzoo.data.loading import open_database

    x = np.random.default_rng(2).normal(size=(40, 6, 5)).astype(np.float32)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("feat", data=x, chunks=(8, 6, 5), compression=compression)
        f["label"] = (np.arange(40) % 2).astype(float)[:, None]
    with open_database(str(tmp_path / "c.h5")) as db:
        nbytes = db._feat.id.get_access_plist().get_chunk_cache()[1]
        assert (nbytes > 0) == cached
        rows = np.array([39, 3, 3, 17])
        np.testing.assert_array_equal(db.features(rows), x[rows])
