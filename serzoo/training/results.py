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
from serzoo.training.adapt import adaptation_lines, adaptation_summary
from serzoo.training.groups import per_group, uncertainty, uncertainty_lines
from serzoo.core.files import write_json, write_text
from serzoo.training.prepare import Prepared
from serzoo.training.tasks import Task
from serzoo.core.tf import import_tensorflow


def summarize_run(tasks: list[Task], class_names: dict[str, list[str]], fold_results: list[dict]) -> dict:
    """Per task: mean +- std over folds of each registered metric of its type, summed confusion, pooled scores.

    A fold finished (and resumed from) before a metric was registered lacks it; it counts as missing (``nan``).
    """
    summary = {}
    for task in tasks:
        reports = [r["test"][task.name] for r in fold_results]
        entry = {"type": task.task_type, "folds": len(reports)}
        for metric in metrics.metrics_for(task.task_type):
            entry[metric.name] = metrics.summarize([rep.get(metric.name, float("nan")) for rep in reports])
        if not task.regression:
            summed = np.sum([np.asarray(rep["confusion"]) for rep in reports], axis=0)
            entry["confusion_summed"] = summed.astype(int).tolist()
            entry["pooled"] = {k: v for k, v in metrics.confusion_report(summed).items() if k != "confusion"}
            entry["class_names"] = class_names[task.name]
        entry["per_group"] = per_group(fold_results, task.name)
        entry["uncertainty"] = uncertainty(fold_results, task.name, task.task_type)
        summary[task.name] = entry
    return summary


def _versions() -> dict:
    import_tensorflow()
    import h5py
    import keras
    import tensorflow as tf

    return {"serzoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "h5py": h5py.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


def protocol_description(prep: Prepared) -> str:
    """One line: the protocol as its splitter describes it, the validation rule, the number of folds."""
    cfg = prep.config
    what = next((s.protocol for s in prep.splits if s.protocol), cfg.protocol)
    val = f"validation {cfg.val_groups and 'groups ' + cfg.val_groups or f'share {cfg.val_share} of training groups'}"
    n = len(prep.splits)
    folds = f"{n} fold{'s' if n != 1 else ''}"
    if prep.total_folds > n:
        skipped = prep.total_folds - n
        folds += f" of {prep.total_folds} (--max-folds {n}: {skipped} fold{'s' if skipped != 1 else ''} skipped)"
    return f"{what}; {val}; {folds}"


def normalization_record(mode: str) -> dict:
    """How features were standardised, and whether that used the test groups' own (unlabeled) features."""
    descriptions = {
        "global": "training-fold mean and variance per feature, stored in the model",
        "minmax": "scaled to [0, 1] by the training-fold minimum and maximum per feature, stored in the model",
        "utterance": "each utterance standardised over its own time steps",
        "speaker": "each group standardised with its own statistics, test groups included",
        "none": "no standardisation",
    }
    return {"mode": mode, "description": descriptions.get(mode, mode), "transductive": mode == "speaker"}


def write_results(run_dir: Path, prep: Prepared, fold_results: list[dict], summary: dict) -> None:
    """Write ``results.json`` (everything needed to repeat the run) and ``results.txt``."""
    results = {
        "serzoo_results": 1,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"path": prep.db.path, "layout": prep.db.file_layout, "rows": prep.db.n_rows,
                 "groups": len(prep.db.groups), "label_names": prep.db.label_names, "features": prep.db.attrs},
        "protocol": protocol_description(prep),
        "normalization": normalization_record(prep.config.normalize),
        "config": prep.config.to_dict(),
        "tasks": [t.to_dict() for t in prep.tasks],
        "seed": prep.config.seed,
        "versions": _versions(),
        "metrics": metrics.definitions({t.task_type for t in prep.tasks}),
        "summary": summary,
        "adaptation": adaptation_summary(prep.tasks, fold_results),
        "folds": fold_results,
    }
    write_json(run_dir / "results.json", results)
    write_text(run_dir / "results.txt", format_results(results))


def _normalization_line(record: dict | None) -> str:
    if not record:
        return "normalisation: global"
    mark = ("  TRANSDUCTIVE: the test speakers' own unlabeled features were used; report these results "
            "separately from speaker-independent ones") if record.get("transductive") else ""
    return f"normalisation: {record['mode']} ({record['description']}){mark}"


def format_results(results: dict) -> str:
    """The human-readable report: per-fold table, mean +- std, summed confusion matrices, metric definitions."""
    lines = [f"serzoo {results['versions']['serzoo']} results  ({results['finished']})",
             f"data: {results['data']['path']}  ({results['data']['rows']} rows, layout {results['data']['layout']})",
             f"protocol: {results['protocol']}",
             _normalization_line(results.get("normalization")),
             f"blocks: {results['config']['blocks']}  sampler: {results['config']['sampler']}  "
             f"seed: {results['seed']}", ""]
    for task, entry in results["summary"].items():
        keys = [name for name, d in results["metrics"].items() if entry["type"] in d["task_types"]]
        rows = []
        for fold in results["folds"]:
            rep = fold["test"][task]
            rows.append([fold["name"], fold["best_epoch"], *[f"{rep.get(k, float('nan')):.4f}" for k in keys]])
        rows.append(["mean ± std", "", *[f"{entry[k]['mean']:.4f} ± {entry[k]['std']:.4f}" for k in keys]])
        after = " (after adaptation)" if results.get("adaptation") else ""
        lines.append(f"task {task} ({entry['type']}), test set of each fold{after}:")
        lines.append(tabulate(rows, headers=["fold", "best epoch", *keys]))
        lines.extend(uncertainty_lines(entry, keys))
        if "confusion_summed" in entry:
            names = entry["class_names"]
            pooled = entry["pooled"]
            lines.append("")
            lines.append(f"confusion matrix summed over folds (rows true, columns predicted); "
                         f"pooled UAR {pooled['uar']:.4f}, accuracy {pooled['accuracy']:.4f}")
            lines.append(tabulate([[n, *row] for n, row in zip(names, entry["confusion_summed"])],
                                  headers=["", *names]))
        lines.append("")
    lines.extend(adaptation_lines(results.get("adaptation"), results["folds"]))
    lines.append("metrics:")
    lines.extend(f"  {name}: {d['description']}{'' if d['higher_is_better'] else ' (lower is better)'}"
                 for name, d in results["metrics"].items())
    return "\n".join(lines) + "\n"
