"""Test scores per group (speaker): who is hard, even when a fold tests several groups.

Each fold's ``predictions.npz`` holds the test rows and the model's outputs; the
database's grouping names the group of every row. A fold's result gets a
``groups_test`` entry: per task, one report per test group (every registered
metric of the task type, without the confusion matrix) and its number of rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from serzoo.core.errors import DataError
from serzoo.training import stats
from serzoo.training.evaluate import evaluate
from serzoo.training.metrics import DEFAULT_METRIC
from serzoo.training.tasks import Task

KEY = "groups_test"


def group_reports(tasks: list[Task], labels: np.ndarray, group_ids: np.ndarray, group_names: list[str],
                  rows: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per task, the test report of each group among ``rows``.

    Args:
        tasks: the run's tasks.
        labels: the label array of the whole database.
        group_ids: the group index of every database row (``-1``: no group).
        group_names: the name of each group index.
        rows: the test rows, in the order of ``predictions``.
        predictions: ``pred_TASK`` or task name -> outputs for ``rows``.

    Returns:
        ``{task: {group name: {"rows": n, metric: value, ...}}}``, groups in index order.
    """
    rows = np.asarray(rows)
    ids = np.asarray(group_ids)[rows]
    preds = {t.name: np.asarray(predictions[t.name]) for t in tasks}
    out: dict[str, dict] = {t.name: {} for t in tasks}
    for g in sorted(set(ids.tolist())):
        mask = ids == g
        name = group_names[g] if 0 <= g < len(group_names) else "no group"
        report = evaluate(tasks, labels[rows[mask]], {k: v[mask] for k, v in preds.items()})
        for task in tasks:
            entry = {k: v for k, v in report[task.name].items() if k != "confusion"}
            out[task.name][name] = {"rows": int(mask.sum()), **entry}
    return out


def add_group_results(run_dir: Path, fold_results: list[dict], tasks: list[Task], labels: np.ndarray,
                      grouping_of) -> None:
    """Put each fold's per-group test reports into its result (key ``groups_test``), from its predictions.

    Args:
        run_dir: the run directory holding ``foldNN/predictions.npz``.
        fold_results: the folds' results, changed in place.
        tasks: the run's tasks.
        labels: the database's labels.
        grouping_of: ``grouping name -> (ids per row, names)`` of the database.

    Raises:
        DataError: a fold's predictions are missing or unreadable.
    """
    for result in fold_results:
        path = Path(run_dir) / f"fold{result['fold']:02d}" / "predictions.npz"
        try:
            with np.load(path) as saved:
                rows = saved["rows"]
                predictions = {t.name: saved[f"pred_{t.name}"] for t in tasks}
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the fold's test predictions ({exc}); "
                            "train that fold again with --resume after deleting its result.json") from None
        ids, names = grouping_of((result.get("groups") or {}).get("grouping"))
        result[KEY] = group_reports(tasks, labels, ids, names, rows, predictions)


def headline_metric(task_type: str) -> str:
    """The score the uncertainty is given for: UAR for classification, CCC for regression."""
    return DEFAULT_METRIC.get(task_type, "uar")


def per_group(fold_results: list[dict], task: str) -> dict[str, dict]:
    """``{group: {"fold": fold name, "rows": n, metric: ...}}`` over all folds of one task.

    Runs from before per-group results were written: a fold that tested exactly one group
    gives that group's scores (its fold scores); other folds give nothing.
    """
    groups: dict[str, dict] = {}
    for fold in fold_results:
        if KEY in fold:
            for name, report in fold[KEY].get(task, {}).items():
                groups[name] = {"fold": fold["name"], **report}
        else:
            names = (fold.get("groups") or {}).get("test_names") or []
            if len(names) == 1:
                report = {k: v for k, v in fold["test"][task].items() if k != "confusion"}
                groups[names[0]] = {"fold": fold["name"], "rows": (fold.get("rows") or {}).get("test"), **report}
    return groups


def uncertainty(fold_results: list[dict], task: str, task_type: str) -> dict:
    """The headline metric's mean ± std and bootstrap CI over folds and over groups, with the method."""
    metric = headline_metric(task_type)
    fold_values = [f["test"][task].get(metric, float("nan")) for f in fold_results]
    groups = per_group(fold_results, task)
    out = {"metric": metric, **stats.method_record(),
           "over_folds": stats.describe(fold_values)}
    if groups:
        grouping = next(((f.get("groups") or {}).get("grouping") for f in fold_results), None) or "group"
        out["over_groups"] = {"grouping": grouping,
                              **stats.describe([g.get(metric, float("nan")) for g in groups.values()])}
    return out


def uncertainty_lines(entry: dict, keys: list[str]) -> list[str]:
    """Text for ``results.txt``: the intervals of one task's summary and its per-group table."""
    record = entry.get("uncertainty")
    if not record:
        return []
    name = record["metric"].upper()
    lines = [""]
    for key in ("over_folds", "over_groups"):
        if key in record:
            r = record[key]
            what = r.get("grouping", "fold") + ("s" if r["n"] != 1 else "")
            lines.append(f"{name} over {r['n']} {what}: mean {r['mean']:.4f} ± {r['std']:.4f} (std), "
                         f"{record['level']:.0%} CI [{r['ci_low']:.4f}, {r['ci_high']:.4f}]")
    lines.append(f"({stats.method_text(record)})")
    groups = entry.get("per_group") or {}
    if groups:
        grouping = record.get("over_groups", {}).get("grouping", "group")
        rows = [[name_, g.get("fold", ""), g.get("rows", ""), *[_number(g.get(k)) for k in keys]]
                for name_, g in groups.items()]
        lines += ["", f"test scores per {grouping}:",
                  tabulate(rows, headers=[grouping, "fold", "rows", *keys], disable_numparse=True)]
    return lines


def _number(value) -> str:
    return "" if value is None else f"{value:.4f}"
