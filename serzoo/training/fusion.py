"""Late fusion: average the test outputs of finished runs that share the corpus, the labels and the folds.

Runs on different feature databases of the same corpus (say openSMILE functionals
and frame-level descriptors, both built from one meta table) test the same rows in
every fold; the mean of their class probabilities is a new, usually better,
classifier. The weights are equal and fixed: nothing is tuned on test rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.core.files import write_json, write_text
from serzoo.training import metrics
from serzoo.training.evaluate import evaluate, save_predictions
from serzoo.training.results import format_results, summarize_run
from serzoo.training.rundir import DATA_FILE
from serzoo.training.tasks import Task


def _load(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text())
        data = json.loads((run_dir / DATA_FILE).read_text()) if (run_dir / DATA_FILE).exists() else {}
    except (OSError, ValueError) as exc:
        raise DataError(f"{run_dir}: not a finished serzoo run ({exc}); fuse finished runs only") from None
    if not isinstance(results, dict) or "folds" not in results:
        raise DataError(f"{path}: not a serzoo results file")
    return {"dir": run_dir, "results": results, "data": data}


def _check_compatible(runs: list[dict]) -> None:
    """Same labels, groups and folds in every run, so the same test rows are fused."""
    first = runs[0]
    for run in runs[1:]:
        for key, what in (("labels", "labels"), ("groups", "groups"), ("rows", "number of rows")):
            a, b = first["data"].get(key), run["data"].get(key)
            if a is not None and b is not None and a != b:
                raise ConfigError(f"{run['dir']} and {first['dir']}: the databases' {what} differ; "
                                  "fuse runs on the same corpus, built from the same meta table")
        if len(run["results"]["folds"]) != len(first["results"]["folds"]):
            raise ConfigError(f"{run['dir']} has {len(run['results']['folds'])} folds, {first['dir']} "
                              f"{len(first['results']['folds'])}: fuse runs of the same protocol")


def fuse_runs(run_dirs: list[Path], out_dir: Path, labels: np.ndarray, grouping_of=None) -> dict:
    """Fuse finished runs into ``out_dir`` (``results.json``, ``results.txt``, per-fold predictions).

    Args:
        run_dirs: two or more finished run directories.
        out_dir: where the fused results go.
        labels: the label array of the corpus (from the first run's database).
        grouping_of: ``grouping name -> (ids per row, names)`` of that database, for per-group scores
            (see :func:`serzoo.training.groups.add_group_results`); ``None``: none.

    Returns:
        The fused summary per task.

    Raises:
        ConfigError: fewer than two runs, or runs that do not share corpus, folds, test rows or tasks.
    """
    if len(run_dirs) < 2:
        raise ConfigError("fuse needs at least two runs")
    runs = [_load(Path(d)) for d in run_dirs]
    _check_compatible(runs)
    task_sets = [{t["name"]: t for t in run["results"]["tasks"]} for run in runs]
    common = [name for name in task_sets[0] if all(name in ts for ts in task_sets)]
    tasks = [Task(**{k: v for k, v in task_sets[0][n].items() if k in Task.__dataclass_fields__}) for n in common]
    if not tasks:
        raise ConfigError("the runs share no task to fuse")
    folds = [_fuse_fold(runs, i, tasks, labels, out_dir) for i in range(len(runs[0]["results"]["folds"]))]
    if grouping_of is not None:
        from serzoo.training.groups import add_group_results

        add_group_results(out_dir, folds, tasks, labels, grouping_of)
    class_names = {t.name: runs[0]["results"]["summary"][t.name].get("class_names") for t in tasks if not t.regression}
    summary = summarize_run(tasks, class_names, folds)
    base = runs[0]["results"]
    results = {
        "serzoo_results": 1, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "fusion": {"runs": [str(r["dir"]) for r in runs], "combination": "mean of the runs' test outputs, equal weights",
                   "blocks": [r["results"]["config"]["blocks"] for r in runs]},
        "data": base["data"], "protocol": base["protocol"],
        "normalization": _normalizations(runs),
        "config": {"blocks": " + ".join(r["results"]["config"]["blocks"] for r in runs), "sampler": "per run"},
        "tasks": [t.to_dict() for t in tasks], "seed": base["seed"], "versions": base["versions"],
        "metrics": metrics.definitions({t.task_type for t in tasks}), "summary": summary, "folds": folds,
    }
    write_json(out_dir / "results.json", results)
    write_text(out_dir / "results.txt", format_results(results))
    return summary


def _normalizations(runs: list[dict]) -> dict:
    """The runs' normalisation modes together; transductive if any run was."""
    records = [r["results"].get("normalization") or {"mode": "global", "description": "", "transductive": False}
               for r in runs]
    return {"mode": " + ".join(r["mode"] for r in records),
            "description": "; ".join(f"{r['mode']}: {r['description']}" for r in records),
            "transductive": any(r.get("transductive") for r in records)}


def _fuse_fold(runs: list[dict], index: int, tasks: list[Task], labels: np.ndarray, out_dir: Path) -> dict:
    outputs = []
    for run in runs:
        fold = run["results"]["folds"][index]
        path = run["dir"] / f"fold{index:02d}" / "predictions.npz"
        try:
            outputs.append(dict(np.load(path)))
        except OSError as exc:
            raise DataError(f"{path}: missing test predictions ({exc})") from None
        if fold["name"] != runs[0]["results"]["folds"][index]["name"]:
            raise ConfigError(f"{run['dir']}: fold {index} is {fold['name']}, not {runs[0]['results']['folds'][index]['name']}")
    rows = outputs[0]["rows"]
    for run, out in zip(runs[1:], outputs[1:]):
        if not np.array_equal(out["rows"], rows):
            raise ConfigError(f"{run['dir']}: fold {index} tests other rows than {runs[0]['dir']}; "
                              "fuse runs with the same protocol, groups and seed")
    fused = {t.name: np.mean([out[f"pred_{t.name}"] for out in outputs], axis=0) for t in tasks}
    fold_dir = out_dir / f"fold{index:02d}"
    save_predictions(fold_dir / "predictions.npz", rows, fused)
    first = runs[0]["results"]["folds"][index]
    return {"fold": index, "name": first["name"], "groups": first.get("groups"), "rows": first.get("rows"),
            "best_epoch": "-", "test": evaluate(tasks, labels[rows], fused)}
