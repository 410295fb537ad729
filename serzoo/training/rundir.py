"""Run directories: starting one, and resuming one only on the data and configuration it started with.

``config.json`` holds the resolved configuration (the database path made absolute,
so a resume from another folder finds the same file) and ``data.json`` the
database's fingerprint; a resume refuses a database that differs.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from serzoo.core.errors import ConfigError, DataError
from serzoo.core.files import ensure_folder, remove_orphans, write_json
from serzoo.data.database import Database
from serzoo.data.fingerprint import differences, fingerprint
from serzoo.training.config import TrainConfig

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
LOCK_FILE = ".lock"


def absolute(config: TrainConfig) -> TrainConfig:
    """The configuration with its database path made absolute (as it is stored)."""
    return replace(config, data=str(Path(config.data).resolve())) if config.data else config


def claim(run_dir: Path):
    """Hold ``run_dir`` for this process, so two processes never train (or resume) the same run at once.

    The hold is an advisory lock (``flock``) on ``run_dir/.lock``, released when the
    returned file is closed or the process ends, however it ends (kill -9 included).

    Returns:
        The open lock file; keep a reference to it while training.

    Raises:
        ConfigError: another process holds the run.
        OutputError: the folder cannot be created.
    """
    import fcntl

    ensure_folder(run_dir)
    handle = open(run_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"{run_dir} is being trained by another process (pid {holder}); wait for it to finish "
                          "or stop it, then resume") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def start_run(run_dir: Path, config: TrainConfig, db: Database) -> None:
    """Record the configuration and the data fingerprint of a new run.

    Raises:
        ConfigError: the folder already holds a run.
        OutputError: the folder cannot be written.
    """
    check_new(run_dir)
    write_json(run_dir / DATA_FILE, fingerprint(db))
    write_json(run_dir / CONFIG_FILE, absolute(config).to_dict())


def check_new(run_dir: Path) -> None:
    """Refuse a folder that already holds a run (checked early, and again when the run starts).

    Raises:
        ConfigError: ``run_dir`` has a configuration.
    """
    if (Path(run_dir) / CONFIG_FILE).exists():
        holder = _holder(Path(run_dir))
        if holder is not None:
            raise ConfigError(f"{run_dir} is being trained by another process (pid {holder}); choose another "
                              "--run-dir")
        raise ConfigError(f"{run_dir} already holds a run: use --resume {run_dir} or another --run-dir")


def _holder(run_dir: Path) -> str | None:
    """The pid of the process holding ``run_dir`` (see :func:`claim`), or None when none does."""
    import fcntl

    try:
        handle = open(run_dir / LOCK_FILE)
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def require_run(run_dir: Path) -> Path:
    """The run's ``config.json``.

    Raises:
        ConfigError: ``run_dir`` is not a run directory.
    """
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir}: no {CONFIG_FILE}, so this is not a serzoo run directory")
    return path


def load_config(run_dir: Path) -> TrainConfig:
    """The configuration a run started with; removes temporaries a killed process left behind.

    Raises:
        ConfigError: not a run directory, or an unreadable configuration.
    """
    path = require_run(run_dir)
    for folder in [run_dir, *sorted(p for p in run_dir.glob("fold*") if p.is_dir())]:
        remove_orphans(folder)
    return TrainConfig.load(path)


def check_same_data(run_dir: Path, db: Database) -> None:
    """Refuse to resume on a database other than the one the run started with.

    Raises:
        DataError: the fingerprints differ (or the record is unreadable), naming what differs.
    """
    path = run_dir / DATA_FILE
    if not path.exists():
        return  # a run from before fingerprints were recorded
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable data record ({exc}); the run cannot be checked") from None
    diff = differences(saved if isinstance(saved, dict) else {}, fingerprint(db))
    if diff:
        raise DataError(f"{db.path}: not the database this run started on ({saved.get('path')}): "
                        f"{'; '.join(diff)}; resume with the original data or start a new run")


def read_fold_result(path: Path) -> dict:
    """A finished fold's ``result.json``.

    Raises:
        DataError: the file is not a fold result (edited or damaged), saying how to redo the fold.
    """
    try:
        result = json.loads(path.read_text())
        if isinstance(result, dict) and isinstance(result.get("test"), dict):
            return result
    except (OSError, ValueError):
        pass
    raise DataError(f"{path}: not a readable fold result; delete it to train that fold again with --resume")
