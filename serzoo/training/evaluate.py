"""Model outputs for database rows and their scores per task; validation scores select the checkpoint."""

from __future__ import annotations

from typing import Callable

import numpy as np

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
    step = max(batch_size, 256)
    # under tf.distribute predict_on_batch would give every replica the whole batch; predict splits it
    distributed = getattr(model, "_distribute_strategy", None) is not None
    parts = []
    for i in range(0, len(rows), step):
        x = features[i:i + step] if features is not None else prep.db.features(rows[i:i + step])
        parts.append(model.predict(x, batch_size=step, verbose=0) if distributed else model.predict_on_batch(x))
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]} if parts else {}


def evaluate(tasks: list[Task], labels: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Metrics per task for label rows and the model's outputs."""
    report = {}
    for task in tasks:
        truth = labels[:, task.column]
        pred = predictions[task.name]
        if task.regression:
            report[task.name] = metrics.regression_report(truth, pred.reshape(-1))
        else:
            report[task.name] = metrics.classification_report(truth.astype(int), pred.argmax(-1), task.num_classes)
    return report


def selection_score(tasks: list[Task], report: dict[str, dict]) -> float:
    """Mean over tasks of each task's validation metric, signed so that higher is better.

    A metric registered with ``higher_is_better=False`` (an error such as MSE) counts negated.
    """
    scores = []
    for task in tasks:
        metric = metrics.lookup(task.resolved_metric())
        value = report[task.name][metric.name]
        scores.append(value if metric.higher_is_better else -value)
    return float(np.mean(scores))


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
