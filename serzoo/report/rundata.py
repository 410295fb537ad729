"""A run directory read back from its JSON files alone: no TensorFlow, no database.

``config.json`` and ``data.json`` are written when a run starts, ``foldNN/result.json``
when a fold finishes and ``results.json`` when the whole run has; a fused run holds
``results.json`` only (its ``fusion`` entry names the runs it fused).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from serzoo.core.errors import DataError
from serzoo.training.groups import headline_metric

RESULTS = "results.json"
CONFIG = "config.json"
DATA = "data.json"


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _held(path: Path) -> bool:
    """Whether a training process holds the run's lock (see :func:`serzoo.training.rundir.claim`)."""
    lock = path / ".lock"  # rundir.LOCK_FILE; not imported, so listing runs stays free of the data stack
    if not lock.exists():
        return False
    import fcntl

    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@dataclass
class RunData:
    """What a run directory holds.

    Args:
        path: the run directory.
        results: ``results.json`` (``None`` until the run finished).
        config: ``config.json`` (``None`` for a fused run).
        data: the data fingerprint (``data.json``; a fused run's first run's).
        folds: results of the finished folds (``results.json``'s, else each ``foldNN/result.json``).
    """

    path: Path
    results: dict | None
    config: dict | None
    data: dict | None
    folds: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``finished``, ``running`` (a process holds it), ``interrupted`` (some folds done) or ``empty``."""
        if self.results is not None:
            return "finished"
        if _held(self.path):
            return "running"
        return "interrupted" if self.folds else "empty"

    @property
    def blocks(self) -> str:
        return str((self.results or {}).get("config", {}).get("blocks") or (self.config or {}).get("blocks", "?"))

    @property
    def data_path(self) -> str:
        return str((self.results or {}).get("data", {}).get("path") or (self.config or {}).get("data") or "demo")

    @property
    def date(self) -> str:
        """When the run finished, else when it started (``config.json``'s time)."""
        if self.results and self.results.get("finished"):
            return self.results["finished"].replace("T", " ")[:16]
        for name in (CONFIG, RESULTS):
            if (self.path / name).exists():
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(self.path / name)))
        return "?"

    def tasks(self) -> list[dict]:
        """The run's tasks as recorded (name, task_type, ...)."""
        return list((self.results or {}).get("tasks") or [])

    def first_task(self) -> tuple[str, str] | None:
        """``(task name, task type)`` of the first task, from the results or the first finished fold."""
        if self.tasks():
            t = self.tasks()[0]
            return t["name"], t.get("task_type", "classification")
        if self.folds:
            name, report = next(iter(self.folds[0]["test"].items()))
            return name, "classification" if "uar" in report else "regression"
        return None


def load_run(path: str | os.PathLike) -> RunData:
    """Read a run directory (finished, interrupted or empty).

    Raises:
        DataError: the folder holds neither ``results.json`` nor ``config.json``.
    """
    path = Path(path)
    results, config = _read(path / RESULTS), _read(path / CONFIG)
    if results is None and config is None:
        raise DataError(f"{path}: neither {RESULTS} nor {CONFIG}, so not a serzoo run directory")
    data = _read(path / DATA)
    if data is None and results and results.get("fusion"):
        first = Path(results["fusion"]["runs"][0])  # as given to `serzoo fuse`: maybe relative, maybe moved
        data = _read(first / DATA) or _read(path.parent / first.name / DATA)
    if results is not None:
        folds = list(results.get("folds") or [])
    else:
        folds = [f for f in (_read(p / "result.json") for p in sorted(path.glob("fold[0-9]*")) if p.is_dir())
                 if f and isinstance(f.get("test"), dict)]
    return RunData(path, results, config, data, folds)


def is_run(path: Path) -> bool:
    """Whether a folder looks like a run directory."""
    return (path / RESULTS).is_file() or (path / CONFIG).is_file()


def headline(run: RunData) -> tuple[str, dict | None, float | None]:
    """``(metric, {"mean", "std"} over the finished folds, pooled value)`` of the first task."""
    first = run.first_task()
    if first is None:
        return "uar", None, None
    task, task_type = first
    metric = headline_metric(task_type)
    entry = ((run.results or {}).get("summary") or {}).get(task)
    if entry is not None:
        pooled = (entry.get("pooled") or {}).get(metric)
        return metric, entry.get(metric), pooled
    from serzoo.training.stats import describe

    values = [f["test"].get(task, {}).get(metric, float("nan")) for f in run.folds]
    return metric, describe(values), None


def list_runs(folder: str | os.PathLike) -> list[dict]:
    """One row per run directory in ``folder`` (or ``folder`` itself when it is a run), oldest first.

    Each row: ``run``, ``date``, ``data``, ``chain``, ``protocol``, ``metric``, ``mean``, ``std``,
    ``pooled``, ``folds`` (finished) and ``status``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; give the folder that holds your runs (default: runs/)")
    candidates = [folder] if is_run(folder) else sorted(p for p in folder.iterdir() if p.is_dir() and is_run(p))
    rows = []
    for path in candidates:
        run = load_run(path)
        metric, spread, pooled = headline(run)
        cfg = (run.results or {}).get("config") or run.config or {}
        protocol = cfg.get("protocol") or ("fusion" if (run.results or {}).get("fusion") else "?")
        if cfg.get("group_by"):
            protocol += f" by {cfg['group_by']}"
        rows.append({"run": str(path) if path == folder else path.name, "date": run.date, "data": Path(run.data_path).name, "chain": run.blocks,
                     "protocol": protocol, "metric": metric,
                     "mean": (spread or {}).get("mean"), "std": (spread or {}).get("std"), "pooled": pooled,
                     "folds": len(run.folds), "status": run.status})
    return sorted(rows, key=lambda r: (r["date"], r["run"]))


def runs_table(rows: list[dict]) -> str:
    """The listing as a plain-text table."""
    from tabulate import tabulate

    def score(r):
        if r["mean"] is None or r["mean"] != r["mean"]:
            return ""
        return f"{r['mean']:.4f} ± {r['std']:.4f}"

    table = [[r["date"], r["run"], r["data"], r["chain"], r["protocol"], r["folds"],
              f"{r['metric'].upper()} {score(r)}" if score(r) else "",
              "" if r["pooled"] is None else f"{r['pooled']:.4f}", r["status"]] for r in rows]
    return tabulate(table, headers=["date", "run", "data", "chain", "protocol", "folds", "mean ± std",
                                    "pooled", "status"], disable_numparse=True)
