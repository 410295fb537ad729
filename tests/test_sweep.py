"""Sweeps: grid expansion, trial keys, resume, honest selection on validation, and Ray."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core.errors import ConfigError
from serzoo.sweep import leaderboard
from serzoo.sweep.grid import SweepSpec, expand, read_file, trial_key
from serzoo.sweep.trials import Trial
from serzoo.training.config import TrainConfig

from spies import write_db

FAST = ["--epochs", "1", "--max-folds", "2", "--set", "patience=0", "--set", "batch_size=16",
        "--tasks", "emotion:3:0", "--opt", "dense.units=4"]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    rng = np.random.default_rng(2)
    emo = np.tile(np.repeat([0, 1, 2], 6), 4)
    feats = rng.normal(size=(72, 5, 4)) + emo[:, None, None]
    return write_db(tmp_path_factory.mktemp("db") / "sweep.h5", feats, emo[:, None], 18)


def test_grid_is_the_product_of_axes_with_options_grouped_by_name_and_dropped_where_absent():
    spec = SweepSpec(fixed={"epochs": 3}, axes={
        "blocks": ["cnn1d,lstm,dense", "cnn2d,lstm"],
        "opts": ["cnn1d.filters=32,64", "cnn1d.filters=64,128", "lstm.units=16"],
        "sampler": ["none", "balanced"]})
    grid = expand(spec)
    configs = [(c.blocks, tuple(c.opts), c.sampler) for _, c in grid]
    assert configs == [
        ("cnn1d,lstm,dense", ("cnn1d.filters=32,64", "lstm.units=16"), "none"),
        ("cnn1d,lstm,dense", ("cnn1d.filters=32,64", "lstm.units=16"), "balanced"),
        ("cnn1d,lstm,dense", ("cnn1d.filters=64,128", "lstm.units=16"), "none"),
        ("cnn1d,lstm,dense", ("cnn1d.filters=64,128", "lstm.units=16"), "balanced"),
        ("cnn2d,lstm", ("lstm.units=16",), "none"),  # cnn1d's axis does not apply: two configurations, not four
        ("cnn2d,lstm", ("lstm.units=16",), "balanced"),
    ]
    assert all(c.epochs == 3 for _, c in grid)
    assert grid[0][0] == {"blocks": "cnn1d,lstm,dense", "opts:cnn1d.filters": "cnn1d.filters=32,64",
                          "opts:lstm.units": "lstm.units=16", "sampler": "none"}


def test_sweep_file_reads_like_the_command_line(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[fixed]\nepochs = 2\nval_share = "0.2"\n\n[grid]\nblocks = ["fcn,dense", "cnn1d,dense"]\n'
                    'learning_rate = [0.001, 0.003]\n')
    spec = read_file(path)
    assert spec.fixed == {"epochs": 2, "val_share": 0.2}
    assert [(c.blocks, c.learning_rate) for _, c in expand(spec)] == [
        ("fcn,dense", 0.001), ("fcn,dense", 0.003), ("cnn1d,dense", 0.001), ("cnn1d,dense", 0.003)]
    path.write_text("[grid]\nbatchsize = [8, 16]\n")
    with pytest.raises(ConfigError, match="'batchsize' is not a training option"):
        read_file(path)


def test_trial_key_follows_configuration_and_data_not_paths(db, tmp_path):
    from serzoo.data.fingerprint import fingerprint
    from serzoo.data.loading import open_database

    def key(path, **overrides):
        with open_database(path) as opened:
            return trial_key(TrainConfig(data=str(path), **overrides), fingerprint(opened))

    moved = tmp_path / "copy.h5"
    shutil.copy(db, moved)
    assert key(db) == key(db) == key(moved)  # same configuration and data, another path: the same trial
    assert key(db, tensorboard=True) == key(db)  # where logs go changes no number
    assert key(db, learning_rate=0.002) != key(db)
    with h5py.File(moved, "a") as f:
        label = f["label"][...]
        label[0, 0] = 2.0
        f["label"][...] = label
    assert key(moved) != key(db)  # the data changed: a new trial


def _trial(tmp_path, name, val, test, seconds=1.0, parameters=100):
    folder = tmp_path / name
    folder.mkdir()
    folds = [{"val": {"emotion": {"uar": v}}, "test": {"emotion": {"uar": t}}} for v, t in zip(val, test)]
    (folder / "results.json").write_text(json.dumps({"tasks": [{"name": "emotion"}], "folds": folds}))
    (folder / "trial.json").write_text(json.dumps({"seconds": seconds, "parameters": parameters}))
    return Trial(name, f"config {name}", {}, TrainConfig(), folder)


def test_leaderboard_selects_on_validation_even_when_test_disagrees(tmp_path):
    a = _trial(tmp_path, "a", val=[0.80, 0.70, 0.75], test=[0.40, 0.45, 0.50])
    b = _trial(tmp_path, "b", val=[0.60, 0.65, 0.62], test=[0.90, 0.85, 0.95])  # best on test, worse on validation
    board = leaderboard.build([b, a])
    assert board["selected"] == "a" and [row["key"] for row in board["trials"]] == ["a", "b"]
    first = board["trials"][0]
    assert first["val"]["mean"] == pytest.approx(0.75) and first["val"]["std"] == pytest.approx(0.05)
    # t(0.975, 2) = 4.303: half-width 4.303 * 0.05 / sqrt(3)
    assert first["val"]["ci95"] == pytest.approx([0.75 - 0.124217, 0.75 + 0.124217], abs=1e-5)
    text = leaderboard.table(board)
    assert "0.450 ± 0.050" in text and "0.900" not in text  # the test column: the selected trial's only
    leaderboard.write(board, tmp_path)
    assert json.loads((tmp_path / "leaderboard.json").read_text())["trials"][1]["test"]["mean"] == pytest.approx(0.9)
    assert "| 1 * | config a" in (tmp_path / "leaderboard.md").read_text()
    c = _trial(tmp_path, "c", val=[0.80, 0.70, 0.75], test=[0.1, 0.1, 0.1], parameters=50)
    assert leaderboard.build([a, c])["selected"] == "c"  # a tie on validation goes to the smaller model


def test_sweep_refuses_a_protocol_without_validation(invoke, db, tmp_path):
    result = invoke("sweep", "--data", db, "--out", tmp_path / "s", "--blocks", "fcn,dense", "--val-share", "0")
    assert result.exit_code == 2 and "selection cannot be honest" in result.output


@pytest.fixture
def count_folds(monkeypatch):
    """Count the folds actually trained (spy on the one function every fold goes through)."""
    from serzoo.training import run as run_module

    trained = []
    real = run_module.train_one_fold

    def spy(prep, fold, run_dir, echo=print):
        trained.append((Path(run_dir).name, fold))
        return real(prep, fold, run_dir, echo)

    monkeypatch.setattr(run_module, "train_one_fold", spy)
    return trained


@pytest.mark.slow
def test_sweep_runs_trials_resumes_and_skips_finished_ones(invoke, db, tmp_path, count_folds):
    out = tmp_path / "sweep"
    args = ["sweep", "--data", db, "--out", out, "--blocks", "fcn,dense", "--blocks", "cnn2d,lstm",
            "--opt", "fcn.units=4", "--opt", "fcn.units=8", *FAST]
    result = invoke(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "skipped blocks=cnn2d,lstm" in result.output  # a 1d database: the 2d chain cannot be planned
    assert len(result.output.strip().splitlines()) == 3 and not count_folds
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert len(count_folds) == 4  # two trials of two folds
    board = json.loads((out / "leaderboard.json").read_text())
    assert len(board["trials"]) == 2 and board["selected"] == board["trials"][0]["key"]
    for row in board["trials"]:
        run_dir = Path(row["run_dir"])
        assert (run_dir / "results.json").exists() and json.loads((run_dir / "config.json").read_text())["epochs"] == 1
        assert row["parameters"] > 0 and row["val"]["n"] == 2
    count_folds.clear()
    assert invoke(*args).exit_code == 0 and count_folds == []  # finished trials are skipped
    # an interrupted trial: results and one fold gone; the run's own resume trains just that fold
    half = Path(board["trials"][1]["run_dir"])
    (half / "results.json").unlink()
    shutil.rmtree(half / "fold01")
    result = invoke(*args)
    assert result.exit_code == 0 and count_folds == [(half.name, 1)]
    assert "continuing an interrupted trial" in result.output


@pytest.fixture(scope="module")
def ray_local():
    """One small local Ray instance for the module (its start-up is slow)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("the ray extra is not installed (pip install 'serzoo[ray]')")
    # the workers import this module's helpers by name, as the pytest process does
    here = str(Path(__file__).parent)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}})
    yield ray
    ray.shutdown()


def _fail_first(counter: str) -> str:
    path = Path(counter)
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    if calls == 0:
        raise OSError("node lost its disk")
    return os.environ.get("TF_NUM_INTRAOP_THREADS")


@pytest.mark.slow
def test_ray_retries_a_failed_task_once_and_reports_it(ray_local, tmp_path):
    from serzoo.workers.backends import Job
    from serzoo.workers.ray_backend import RayBackend

    said = []
    outcome, = RayBackend("local", cpus_per_task=1).run([Job("flaky", _fail_first, (str(tmp_path / "n"),))],
                                                        said.append)
    assert outcome.ok and outcome.attempts == 2 and outcome.value == "1"  # the task's CPUs are its TF threads
    assert outcome.errors == ["OSError: node lost its disk"] and any("retrying once" in s for s in said)


@pytest.mark.slow
def test_sweep_on_local_ray(invoke, ray_local, db, tmp_path):
    out = tmp_path / "sweep"
    result = invoke("sweep", "--data", db, "--out", out, "--blocks", "fcn,dense", "--opt", "fcn.units=4",
                    "--opt", "fcn.units=8", *FAST, "--ray", "local")
    assert result.exit_code == 0, result.output
    assert "on Ray at local" in result.output
    board = json.loads((out / "leaderboard.json").read_text())
    assert len(board["trials"]) == 2 and all(Path(r["run_dir"], "results.json").exists() for r in board["trials"])
