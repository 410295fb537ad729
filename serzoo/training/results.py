"""Aggregate fold results into ``results.json`` and a readable ``results.txt``."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from serzoo import __version__
from serzoo.training import metrics
from serzoo.core.files import write_json, write_text
from serzoo.training.prepare import Prepared

CLASSIFICATION_KEYS = ("uar", "accuracy", "macro_f1")
REGRESSION_KEYS = ("ccc", "mse")


def summarize_run(prep: Prepared, fold_results: list[dict]) -> dict:
    """Per task: mean +- std over folds of each metric, the summed confusion matrix and its pooled scores."""
    summary = {}
    for task in prep.tasks:
        reports = [r["test"][task.name] for r in fold_results]
        keys = REGRESSION_KEYS if task.regression else CLASSIFICATION_KEYS
        entry = {"type": task.task_type, "folds": len(reports)}
        for key in keys:
            entry[key] = metrics.summarize([rep[key] for rep in reports])
        if not task.regression:
            summed = np.sum([np.asarray(rep["confusion"]) for rep in reports], axis=0)
            entry["confusion_summed"] = summed.astype(int).tolist()
            entry["pooled"] = {k: v for k, v in metrics.confusion_report(summed).items() if k != "confusion"}
            entry["class_names"] = prep.class_names()[task.name]
        summary[task.name] = entry
    return summary


def _versions() -> dict:
    import h5py
    import keras
    import tensorflow as tf

    return {"serzoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


def protocol_description(prep: Prepared) -> str:
    cfg = prep.config
    grouped = bool(prep.db.groups)
    if cfg.protocol == "logo":
        what = "leave-one-group-out" + (" (speaker-/group-independent)" if grouped else "")
    elif cfg.protocol == "kfold":
        what = f"{cfg.folds}-fold" + (" by whole groups" if grouped else " by rows")
    else:
        what = f"fixed split, test groups {cfg.test_groups}"
    val = f"validation {cfg.val_groups and 'groups ' + cfg.val_groups or f'share {cfg.val_share} of training groups'}"
    return f"{what}; {val}; {len(prep.splits)} folds"


def write_results(run_dir: Path, prep: Prepared, fold_results: list[dict], summary: dict) -> None:
    """Write ``results.json`` (everything needed to repeat the run) and ``results.txt``."""
    results = {
        "serzoo_results": 1,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"path": prep.db.path, "layout": prep.db.file_layout, "rows": prep.db.n_rows,
                 "groups": len(prep.db.groups), "label_names": prep.db.label_names, "features": prep.db.attrs},
        "protocol": protocol_description(prep),
        "config": prep.config.to_dict(),
        "tasks": [t.to_dict() for t in prep.tasks],
        "seed": prep.config.seed,
        "versions": _versions(),
        "summary": summary,
        "folds": fold_results,
    }
    write_json(run_dir / "results.json", results)
    write_text(run_dir / "results.txt", format_results(results))


def format_results(results: dict) -> str:
    """The human-readable report: per-fold table, mean +- std, summed confusion matrices."""
    lines = [f"serzoo {results['versions']['serzoo']} results  ({results['finished']})",
             f"data: {results['data']['path']}  ({results['data']['rows']} rows, layout {results['data']['layout']})",
             f"protocol: {results['protocol']}",
             f"blocks: {results['config']['blocks']}  sampler: {results['config']['sampler']}  "
             f"seed: {results['seed']}", ""]
    for task, entry in results["summary"].items():
        keys = REGRESSION_KEYS if entry["type"] == "regression" else CLASSIFICATION_KEYS
        rows = []
        for fold in results["folds"]:
            rep = fold["test"][task]
            rows.append([fold["name"], fold["best_epoch"], *[f"{rep[k]:.4f}" for k in keys]])
        rows.append(["mean ± std", "", *[f"{entry[k]['mean']:.4f} ± {entry[k]['std']:.4f}" for k in keys]])
        lines.append(f"task {task} ({entry['type']}), test set of each fold:")
        lines.append(tabulate(rows, headers=["fold", "best epoch", *keys]))
        if "confusion_summed" in entry:
            names = entry["class_names"]
            pooled = entry["pooled"]
            lines.append("")
            lines.append(f"confusion matrix summed over folds (rows true, columns predicted); "
                         f"pooled UAR {pooled['uar']:.4f}, accuracy {pooled['accuracy']:.4f}")
            lines.append(tabulate([[n, *row] for n, row in zip(names, entry["confusion_summed"])],
                                  headers=["", *names]))
        lines.append("")
    return "\n".join(lines)
