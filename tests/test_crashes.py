"""Crashes and full disks: kill -9 storms, killed builds and failed writes lose nothing and leave nothing behind.

Every case runs the real command line in a subprocess: a kill -9 at random
points of a multi-fold run, resumed each time, must end in the very results of
an uninterrupted run; a write that fails (file size limit, a full file system)
must end in one line and exit status 2, with the run still resumable.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core.files import TEMP_PREFIX, remove_orphans

CLI = [sys.executable, "-c", "import sys; from serzoo.cli import main; sys.argv[0] = 'serzoo'; main()"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """3 speakers of a separable 3-class task, SER_FEAT_EXT layout."""
    rng = np.random.default_rng(1)
    n_per, steps, dims = 18, 6, 5
    labels = np.tile(np.repeat(np.arange(3), n_per // 3), 3)
    feats = rng.normal(size=(labels.size, steps, dims)) + labels[:, None, None] * 1.5
    path = tmp_path_factory.mktemp("crash") / "db.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = feats
        f["label"] = labels[:, None].astype(float)
        f["start_indice"] = np.arange(3.0) * n_per
        f["end_indice"] = (np.arange(3.0) + 1) * n_per
    return path


def _train(db: Path, run_dir: Path) -> list[str]:
    return [*CLI, "train", "--data", str(db), "--tasks", "emotion:3:0", "--blocks", "fcn,dense",
            "--opt", "fcn.units=8", "--dropout", "0.3", "--epochs", "5", "--patience", "0", "--batch-size", "8",
            "--no-jit", "--seed", "5", "--checkpoint-every", "0", "--run-dir", str(run_dir)]


def _resume(run_dir: Path) -> list[str]:
    return [*CLI, "train", "--resume", str(run_dir)]


def _limited(max_bytes: int):
    """A ``preexec_fn`` capping the size of any file the child writes (writes beyond it fail with EFBIG)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"{TEMP_PREFIX}*")]


def _same_results(a: Path, b: Path) -> None:
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert [f["test"] for f in ra["folds"]] == [f["test"] for f in rb["folds"]]
    for fold in sorted(p.name for p in a.glob("fold*")):
        np.testing.assert_array_equal(np.load(a / fold / "predictions.npz")["pred_emotion"],
                                      np.load(b / fold / "predictions.npz")["pred_emotion"])


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def straight(db, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    proc = subprocess.run(_train(db, run_dir), env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return run_dir


@pytest.mark.slow
def test_a_kill_storm_then_resume_gives_the_uninterrupted_results(db, straight, tmp_path):
    run_dir = tmp_path / "stormy"
    rng = random.Random(11)
    kills = 0
    command = _train(db, run_dir)
    for _ in range(3):
        proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:  # the first epoch line: TensorFlow is up and training has begun
            if "epoch" in line:
                break
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        command = _resume(run_dir)
    assert kills >= 2, "the storm should have interrupted the run"
    final = subprocess.run(_resume(run_dir), env=ENV, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    _same_results(straight, run_dir)
    assert _temporaries(run_dir) == []


@pytest.mark.slow
def test_a_run_that_hits_the_file_size_limit_fails_in_one_line_and_resumes(db, straight, tmp_path):
    run_dir = tmp_path / "limited"
    # config.json, data.json and log.csv fit in 8 kB; the first weights file does not
    full = subprocess.run(_train(db, run_dir), env=ENV, capture_output=True, text=True,
                          preexec_fn=_limited(8_000))
    _one_line_error(full, "File too large")
    assert not (run_dir / "results.json").exists()
    assert _temporaries(run_dir) == []
    resumed = subprocess.run(_resume(run_dir), env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    _same_results(straight, run_dir)


@pytest.mark.parametrize("limit, needle", [(20_000, "cannot write the demo's audio"),  # a wav is ~48 kB
                                            (400_000, "demo.h5: File too large")])  # the database ~5 MB
def test_a_database_build_that_hits_the_file_size_limit_leaves_nothing(tmp_path, limit, needle):
    out = tmp_path / "demo.h5"
    proc = subprocess.run([*CLI, "data", "demo", "-o", str(out), "--quiet"], env=ENV, capture_output=True,
                          text=True, preexec_fn=_limited(limit))
    _one_line_error(proc, needle)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_database_build_leaves_only_a_temporary_that_the_next_build_removes(tmp_path):
    out = tmp_path / "demo.h5"
    proc = subprocess.Popen([*CLI, "data", "demo", "-o", str(out), "--quiet"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _temporaries(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    assert not out.exists()
    assert _temporaries(tmp_path), "the killed build should have left its temporary"
    again = subprocess.run([*CLI, "data", "demo", "-o", str(out), "--quiet"], env=ENV, capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    assert out.exists() and _temporaries(tmp_path) == []


def test_temporaries_of_a_live_writer_are_kept_and_a_dead_ones_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live_pid = os.getppid()  # the shell or runner that started pytest: alive while we run
    (tmp_path / f"{TEMP_PREFIX}out.h5.{dead.pid}.x1.h5").write_text("orphan")
    (tmp_path / f"{TEMP_PREFIX}out.h5.{live_pid}.x2.h5").write_text("in progress")
    (tmp_path / f"{TEMP_PREFIX}other.h5.{dead.pid}.x3.h5").write_text("another file's orphan")
    removed = remove_orphans(tmp_path, "out.h5")
    assert [p.name for p in removed] == [f"{TEMP_PREFIX}out.h5.{dead.pid}.x1.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{TEMP_PREFIX}out.h5.{live_pid}.x2.h5",
                                                                  f"{TEMP_PREFIX}other.h5.{dead.pid}.x3.h5"])
    assert [p.name for p in remove_orphans(tmp_path)] == [f"{TEMP_PREFIX}other.h5.{dead.pid}.x3.h5"]


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_full_file_system_ends_in_one_line_and_the_run_resumes_once_there_is_space(db, straight, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "64k"):
        pytest.skip("needs root and tmpfs to make a small file system (the file-size-limit test covers the rest)")
    try:
        run_dir = disk / "run"
        full = subprocess.run(_train(db, run_dir), env=ENV, capture_output=True, text=True)
        _one_line_error(full, "No space left on device")
        assert _temporaries(run_dir) == []
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        resumed = subprocess.run(_resume(run_dir), env=ENV, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        _same_results(straight, run_dir)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_two_processes_never_train_the_same_run(db, tmp_path):
    run_dir = tmp_path / "shared"
    first = subprocess.Popen(_train(db, run_dir), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        for line in first.stderr:  # the first process is training
            if "epoch" in line:
                break
        second = subprocess.run(_resume(run_dir), env=ENV, capture_output=True, text=True)
        _one_line_error(second, f"is being trained by another process (pid {first.pid})")
        third = subprocess.run(_train(db, run_dir), env=ENV, capture_output=True, text=True)
        _one_line_error(third, "is being trained by another process")
    finally:
        first.kill()
        first.wait()
    resumed = subprocess.run(_resume(run_dir), env=ENV, capture_output=True, text=True)  # the holder is gone
    assert resumed.returncode == 0, resumed.stderr
