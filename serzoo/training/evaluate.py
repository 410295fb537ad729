"""Model outputs for database rows and their scores per task; validation scores select the checkpoint."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from serzoo.data.labels import has_label
from serzoo.data.splits import Split
from serzoo.training import metrics
from serzoo.training.prepare import Prepared
from serzoo.training.tasks import Task


def predict_rows(model, prep: Prepared, rows: np.ndarray, batch_size: int, features=None) -> dict[str, np.ndarray]:
    """Model outputs for database rows; ``features`` are those rows already in memory, if at hand."""
    if features is None and not prep.streaming:
        features = prep.db.features(rows)
    # predict_on_batch reuses the compiled predict function; model.predict would build a
    # tf.data pipeline on every call, which costs more than the prediction on small splits
    from serzoo.training.distribute import predict_batch

    step = max(batch_size, 256)
    parts = []
    for i in range(0, len(rows), step):
        x = features[i:i + step] if features is not None else prep.db.features(rows[i:i + step])
        parts.append(predict_batch(model, x))
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]} if parts else {}


def evaluate(tasks: list[Task], labels: np.ndarray, predictions: dict[str, np.ndarray],
             untrained: Sequence[str] = ()) -> dict[str, dict]:
    """Metrics per task for label rows and the model's outputs.

    Each task is scored on the rows that have its label only (see :mod:`serzoo.data.labels`);
    rows of a corpus without it are left out, and a set with none gives ``nan`` scores.
    Tasks named in ``untrained`` (no training row had their label) are scored on no rows
    either: an untrained head's chance-level scores must not enter a mean over folds.
    """
    report = {}
    for task in tasks:
        present = has_label(labels[:, task.column], task.regression) & (task.name not in untrained)
        truth = labels[present, task.column]
        pred = predictions[task.name][present]
        if task.regression:
            report[task.name] = metrics.regression_report(truth, pred.reshape(-1))
        else:
            report[task.name] = metrics.classification_report(truth.astype(int), pred.argmax(-1), task.num_classes)
    return report


def untrained_tasks(tasks: list[Task], train_labels: np.ndarray) -> list[str]:
    """Tasks whose label no training row has (a fold that trains on corpora without that task)."""
    return [t.name for t in tasks if not has_label(train_labels[:, t.column], t.regression).any()]


def selection_score(tasks: list[Task], report: dict[str, dict]) -> float:
    """Mean over tasks of each task's validation metric, signed so that higher is better.

    A metric registered with ``higher_is_better=False`` (an error such as MSE) counts negated.
    A task without labelled validation rows (``nan``: another corpus's task) does not count.
    """
    scores = []
    for task in tasks:
        metric = metrics.lookup(task.resolved_metric())
        value = report[task.name][metric.name]
        scores.append(value if metric.higher_is_better else -value)
    scores = [s for s in scores if not np.isnan(s)]
    return float(np.mean(scores)) if scores else float("nan")


def validator(prep: Prepared, split: Split) -> Callable | None:
    """``model -> (selection score, report)`` on the fold's validation rows, or None without any."""
    if len(split.val) == 0:
        return None
    labels = prep.db.labels[split.val]
    x_val = prep.db.features(split.val) if not prep.streaming else None

    def validate(model) -> tuple[float, dict]:
        report = evaluate(prep.tasks, labels, predict_rows(model, prep, split.val, prep.config.batch_size, x_val))
        return selection_score(prep.tasks, report), report

    return validate


def headline(report: dict) -> str:
    """One task's main test score as text (UAR, or CCC for regression)."""
    if "uar" in report:
        return f"UAR {report['uar']:.3f}"
    return f"CCC {report['ccc']:.3f}"


def save_predictions(path, rows: np.ndarray, predictions: dict[str, np.ndarray]) -> None:
    """Write test outputs atomically: ``rows`` and one ``pred_TASK`` array per task (``predictions.npz``)."""
    from serzoo.core.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, rows=rows, **{f"pred_{k}": v for k, v in predictions.items()})
