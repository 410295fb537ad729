"""The sweep's leaderboard: every finished trial's validation and test scores over folds; selection by validation only.

The selected trial is the one with the best mean validation score (ties: the smaller
spread, then fewer parameters, then the key); test scores never enter the choice.
Tables show the test score of the selected trial only, so the table invites no
selection on test data; ``leaderboard.json`` holds every trial's scores for the record.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from tabulate import tabulate

from serzoo.core.errors import ConfigError
from serzoo.core.files import write_json, write_text
from serzoo.training import metrics
from serzoo.training.metrics import summarize

#: two-sided 95 % quantiles of Student's t by degrees of freedom (1..30); larger samples use 1.96
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def interval(values: list[float]) -> dict:
    """Mean, sample standard deviation and the 95 % confidence interval of the mean (Student's t) over folds."""
    stats = summarize(values)
    n = int(np.sum(~np.isnan(np.asarray(values, dtype=float)))) if values else 0
    if n < 2:
        return {**stats, "n": n, "ci95": [float("nan"), float("nan")]}
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    half = t * stats["std"] / math.sqrt(n)
    return {**stats, "n": n, "ci95": [stats["mean"] - half, stats["mean"] + half]}


def _fold_val(fold: dict, task: str, metric: str) -> float:
    """A fold's validation score of the selected checkpoint; for a seed ensemble, the seeds' mean."""
    if fold.get("val"):
        return float(fold["val"][task][metric])
    members = [s["val"][task][metric] for s in fold.get("seeds") or [] if s.get("val")]
    return float(np.mean(members)) if members else float("nan")


def trial_scores(results: dict, task: str | None, metric: str | None) -> tuple[str, str, list, list]:
    """``(task, metric, validation per fold, test per fold)`` from a finished run's ``results.json``.

    Raises:
        ConfigError: the task or metric is not in the run.
    """
    tasks = [t["name"] for t in results["tasks"]]
    task = task or tasks[0]
    if task not in tasks:
        raise ConfigError(f"--task {task}: the trials have tasks {', '.join(tasks)}")
    folds = results["folds"]
    metric = metric or ("uar" if "uar" in folds[0]["test"][task] else "ccc")
    if metric not in folds[0]["test"][task]:
        raise ConfigError(f"--metric {metric}: task {task} has metrics {', '.join(folds[0]['test'][task])}")
    return task, metric, [_fold_val(f, task, metric) for f in folds], [float(f["test"][task][metric]) for f in folds]


def build(trials, task: str | None = None, metric: str | None = None) -> dict:
    """The leaderboard of the finished trials (those with ``results.json``), best validation first."""
    rows = []
    for trial in trials:
        path = trial.folder / "results.json"
        if not path.exists():
            continue
        task_name, metric_name, val, test = trial_scores(json.loads(path.read_text()), task, metric)
        record = json.loads((trial.folder / "trial.json").read_text()) if (trial.folder / "trial.json").exists() else {}
        rows.append({"key": trial.key, "configuration": trial.label, "run_dir": str(trial.folder),
                     "val": interval(val), "test": interval(test), "seconds": record.get("seconds"),
                     "parameters": record.get("parameters"), "task": task_name, "metric": metric_name})
    sign = 1.0 if not rows or metrics.lookup(rows[0]["metric"]).higher_is_better else -1.0

    def order(row):  # validation only: test scores are not in this key
        mean = row["val"]["mean"]
        return (-(sign * mean) if not math.isnan(mean) else math.inf, row["val"]["std"],
                row["parameters"] or 0, row["key"])

    rows.sort(key=order)
    selected = rows[0]["key"] if rows else None
    for row in rows:
        row["selected"] = row["key"] == selected
    return {"selection": "best mean validation score over folds; test scores never used to choose",
            "task": rows[0]["task"] if rows else task, "metric": rows[0]["metric"] if rows else metric,
            "selected": selected, "trials": rows}


def _cell(stats: dict) -> str:
    lo, hi = stats["ci95"]
    ci = f" [{lo:.3f}, {hi:.3f}]" if not math.isnan(lo) else ""
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}{ci}"


def table(board: dict, fmt: str = "simple") -> str:
    """The leaderboard as text (``fmt`` a tabulate format: ``simple``, ``github``)."""
    metric = board["metric"] or "score"
    headers = ["", "configuration", f"val {metric} (mean ± std [95% CI])", f"test {metric} (selected only)",
               "time (s)", "parameters", "key"]
    rows = []
    for rank, row in enumerate(board["trials"], 1):
        rows.append([f"{rank}{' *' if row['selected'] else ''}", row["configuration"], _cell(row["val"]),
                     _cell(row["test"]) if row["selected"] else "", f"{row['seconds']:.0f}" if row["seconds"] else "",
                     f"{row['parameters']:,}" if row["parameters"] else "", row["key"]])
    note = (f"* selected by validation {metric} of task {board['task']} alone; the test column is the selected "
            f"trial's only (every trial's test scores are in leaderboard.json, not for choosing)")
    return tabulate(rows, headers=headers, tablefmt=fmt) + "\n" + note + "\n"


def write(board: dict, out: Path) -> None:
    """``leaderboard.json`` and ``leaderboard.md`` in the sweep folder."""
    write_json(out / "leaderboard.json", board)
    write_text(out / "leaderboard.md", f"# Sweep leaderboard\n\n{table(board, 'github')}")
