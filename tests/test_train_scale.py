"""Speed and scale: mixed precision, tf.distribute, the cheaper checkpoint and coalesced streaming reads."""

from __future__ import annotations

import json
import os
import re
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


def test_an_epoch_is_exactly_its_steps(tiny_db):
    """The dataset declares its length: fit's optimizer counts epochs x steps, with no empty step per epoch
    (which advanced learning-rate schedules and Adam's bias correction one step too many each epoch)."""
    from serzoo.training.distribute import fit

    _prep, data, model = _fold_model(tiny_db)
    assert int(data.dataset.cardinality()) == data.steps_per_epoch == 3  # 48 training rows in batches of 16
    fit(model, data, epochs=2)
    assert int(model.optimizer.iterations.numpy()) == 2 * data.steps_per_epoch


@pytest.mark.parametrize("rows, size, min_rows, bounds", [
    (10, 4, 1, [(0, 4), (4, 8), (8, 10)]),
    (9, 4, 1, [(0, 4), (4, 8), (8, 9)]),
    (9, 4, 2, [(0, 4), (4, 9)]),  # one row left for two replicas: it joins the batch before
    (10, 4, 2, [(0, 4), (4, 8), (8, 10)]),
    (3, 4, 2, [(0, 3)]),
])
def test_a_last_batch_too_small_for_the_replicas_joins_the_one_before(rows, size, min_rows, bounds):
    from serzoo.training.batches import batch_bounds

    assert batch_bounds(rows, size, min_rows) == bounds


def test_bad_precision_is_a_one_line_error():
    with pytest.raises(ConfigError, match="--precision"):
        TrainConfig(precision="fp8").validate()


def _tf_config(workers, kind="worker", index=0, chief=None) -> dict:
    jobs = {"worker": workers, **({"chief": chief} if chief else {})}
    return {"TF_CONFIG": json.dumps({"cluster": jobs, "task": {"type": kind, "index": index}})}


def test_tf_config_names_this_worker_and_the_chief():
    from serzoo.training.distribute import cluster

    two = ["a:1", "b:2"]
    assert cluster(_tf_config(two, index=1)).index == 1 and not cluster(_tf_config(two, index=1)).chief
    assert cluster(_tf_config(two)).chief
    with_chief = cluster(_tf_config(two, index=0, chief=["c:3"]))
    assert with_chief.members == ("c:3", "a:1", "b:2") and with_chief.index == 1 and not with_chief.chief
    assert cluster(_tf_config(two, kind="chief", chief=["c:3"])).chief
    from serzoo.training.distribute import local_cluster

    local = [cluster({"TF_CONFIG": config}) for config in local_cluster(3)]
    assert [c.index for c in local] == [0, 1, 2] and len(set(local[0].members)) == 3


@pytest.mark.parametrize("environ, message", [
    ({}, "set TF_CONFIG in every worker's environment"),
    ({"TF_CONFIG": "{cluster"}, "TF_CONFIG is not JSON"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}})}, "needs a 'cluster' and a 'task'"),
    (_tf_config(["a:1", "b:2"], index=2), "task worker 2 is not in the cluster"),
    (_tf_config(["a:1"], kind="evaluator"), "the task must be"),
    (_tf_config(["a:1", "b"]), "'host:port' addresses"),
    (_tf_config(["a:1", "a:1"]), "listed twice"),
    ({"TF_CONFIG": json.dumps({"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}})}, "not ['ps']"),
])
def test_a_bad_tf_config_is_one_clear_error(environ, message):
    from serzoo.training.distribute import cluster

    with pytest.raises(ConfigError, match=re.escape(message)):
        cluster(environ)


@pytest.mark.parametrize("extra, environ, message", [
    (["--run-dir", "R"], {}, "set TF_CONFIG"),
    ([], _tf_config(["localhost:1", "localhost:2"]), "name the run directory with --run-dir"),
    (["--run-dir", "R", "--workers", "2"], _tf_config(["localhost:1", "localhost:2"]), "does not combine"),
])
def test_multiworker_misuse_is_refused_before_anything_starts(invoke, tiny_db, tmp_path, monkeypatch, extra,
                                                              environ, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    result = invoke("train", "--data", str(tiny_db), "--distribute", "multiworker", *extra)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, before the "waiting for every worker" one
    assert not (tmp_path / "R").exists()


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


WORKER = textwrap.dedent("""
    import os, sys
    from serzoo.training import callbacks

    original = callbacks.FoldCheckpoint.on_epoch_end
    def on_epoch_end(self, index, logs=None):
        # the rows the epoch's loss was averaged over, summed over every replica of every worker
        print(f"ROWS {self.where} {index + 1} {int(self.model._loss_tracker.count.numpy())}", file=sys.stderr)
        original(self, index, logs)
        stop = os.environ.get("STOP_AFTER", "")  # die as kill -9 would after this epoch of this fold ("fold1:2")
        if stop and self.where == f"fold {stop.split(':')[0]}" and index + 1 == int(stop.split(":")[1]):
            sys.stderr.flush()
            os._exit(9)
    callbacks.FoldCheckpoint.on_epoch_end = on_epoch_end
    from serzoo.cli import main
    sys.argv = ["serzoo", *sys.argv[1:]]
    main()
""")


def _workers(args: list[str], cwd: Path, *, stop_after: str | None = None, per_worker=None):
    """Run ``serzoo ARGS`` as the two workers of a local multi-worker cluster; their (returncode, stderr)."""
    from serzoo.training.distribute import local_cluster

    procs = []
    for index, config in enumerate(local_cluster(2)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": config}
        if stop_after:
            env["STOP_AFTER"] = stop_after
        extra = per_worker[index] if per_worker else []
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, *args, *extra], cwd=cwd, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        out.append((proc.returncode, err))
    return out


@pytest.mark.slow
def test_multiworker_with_two_worker_processes_matches_single_device_and_resumes(tiny_db, tmp_path):
    args = ["train", "--data", str(tiny_db), "--blocks", "fcn,dense", "--opt", "fcn.units=8", "--opt",
            "dense.units=8", "--epochs", "4", "--patience", "0", "--tasks", "emotion:3:0",
            "--max-folds", "2", "--checkpoint-every", "0", "--seed", "5",
            "--batch-size", "13",  # 48 rows: 13, 13, 13, 9, each split unevenly (7 + 6, 5 + 4) between the workers
            "--opt", "fcn.batchnorm=true",  # batch statistics over the global batch, as on one device
            "--freeze", "fcn", "--unfreeze-after", "3"]  # a new optimizer mid-fold, made in the strategy's scope
    single = subprocess.run([sys.executable, "-c", WORKER, *args, "--run-dir", "single"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert single.returncode == 0, single.stderr[-3000:]

    # a straight run, then one killed in the second fold's second epoch and resumed by both workers
    (rc0, err0), (rc1, err1) = _workers([*args, "--distribute", "multiworker", "--run-dir", "mw"], tmp_path)
    assert rc0 == rc1 == 0, (err0 + err1)[-3000:]
    # each epoch's 48 training rows were split between the workers, not trained twice
    assert re.findall(r"ROWS fold fold0 \d (\d+)", single.stderr) == ["48"] * 4
    assert re.findall(r"ROWS fold fold0 \d (\d+)", err0) == re.findall(r"ROWS fold fold0 \d (\d+)", err1) == ["48"] * 4
    killed = _workers([*args, "--distribute", "multiworker", "--run-dir", "again"], tmp_path, stop_after="fold1:2")
    assert [rc for rc, _ in killed] == [9, 9]
    assert (tmp_path / "again" / "fold00" / "result.json").exists()
    assert (tmp_path / "again" / "fold01" / "last.keras").exists()
    (rc0, err0), (rc1, err1) = _workers(["train", "--resume", "again", "--distribute", "multiworker"], tmp_path)
    assert rc0 == rc1 == 0, (err0 + err1)[-3000:]
    assert "resuming at epoch 3" in err1  # the other worker resumed from its copy of the chief's files

    for fold in ("fold00", "fold01"):
        reference = np.load(tmp_path / "single" / fold / "predictions.npz")["pred_emotion"]
        loss = [float(r.split(",")[1]) for r in (tmp_path / "single" / fold / "log.csv").read_text().splitlines()[1:]]
        assert len(loss) == 4 and loss[2] < loss[0]  # it did train (before the unfreezing in epoch 4)
        for run in ("mw", "again"):
            pred = np.load(tmp_path / run / fold / "predictions.npz")["pred_emotion"]
            assert pred.shape == reference.shape  # every test row once, whatever worker computed it
            np.testing.assert_allclose(pred, reference, atol=1e-5)
            logged = [float(r.split(",")[1]) for r in (tmp_path / run / fold / "log.csv").read_text().splitlines()[1:]]
            # the killed session died before logging epoch 2 (as a kill -9 would); the resumed one logged 3 and 4
            expected = [loss[0], *loss[2:]] if (run, fold) == ("again", "fold01") else loss
            np.testing.assert_allclose(logged, expected, rtol=1e-5)
    assert json.loads((tmp_path / "mw" / "results.json").read_text())["config"]["distribute"] == "multiworker"
    # only the chief writes the run directory; the other worker's private copy is gone
    copy = re.search(r"writes a copy in (\S+),", err1)
    assert copy and not Path(copy.group(1)).exists()

    # a last batch of one row leaves one worker none: no NaN (batch statistics are summed over the workers)
    uneven = ["train", "--data", str(tiny_db), "--blocks", "fcn,dense", "--opt", "fcn.units=8", "--opt",
              "fcn.batchnorm=true", "--epochs", "2", "--batch-size", "47", "--tasks", "emotion:3:0", "--max-folds", "1"]
    (rc0, err0), (rc1, err1) = _workers([*uneven, "--distribute", "multiworker", "--run-dir", "uneven"], tmp_path)
    assert rc0 == rc1 == 0, (err0 + err1)[-3000:]
    pred = np.load(tmp_path / "uneven" / "fold00" / "predictions.npz")["pred_emotion"]
    assert np.isfinite(pred).all() and np.allclose(pred.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_multiworker_workers_started_differently_stop_with_one_line(tiny_db, tmp_path):
    args = ["train", "--data", str(tiny_db), "--blocks", "fcn,dense", "--opt", "fcn.units=8", "--epochs", "2",
            "--tasks", "emotion:3:0", "--max-folds", "1", "--distribute", "multiworker", "--run-dir", "r", "-q"]
    results = _workers(args, tmp_path, per_worker=[["--seed", "1"], ["--seed", "2"]])
    for rc, err in results:
        assert rc == 2, err[-3000:]
        assert "the workers disagree on options" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "config.json").exists()
