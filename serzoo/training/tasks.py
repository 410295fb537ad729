"""Tasks in the original trainer's notation, their losses, and class weights.

``--tasks arousal:3:4,valence:3:5`` means: a task ``arousal`` with 3 classes read
from label column 4, and ``valence`` with 3 classes from column 5. Optional
fields follow: ``name:classes:column:loss:weight:metric``. One class means
regression. The column may be a label name instead of an index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from serzoo.core.errors import ConfigError, UnknownComponentError
from serzoo.data.labels import has_label
from serzoo.training import metrics
from serzoo.training.defaults import DEFAULT_LOSSES


@dataclass
class Task:
    """One prediction target with its own head.

    Args:
        name: output name (head layer and results key).
        num_classes: number of classes; 1 means regression.
        column: index of the label column in the database.
        loss: registered loss name; ``None`` picks the core's default for the task type
            (:data:`serzoo.training.defaults.DEFAULT_LOSSES`).
        weight: weight of this task's loss in the total loss.
        metric: the registered metric (``serzoo list metrics``) this task contributes to
            checkpoint selection on validation; ``None`` picks ``uar`` or ``ccc``.
    """

    name: str
    num_classes: int
    column: int
    loss: str | None = None
    weight: float = 1.0
    metric: str | None = None

    @property
    def regression(self) -> bool:
        return self.num_classes == 1

    @property
    def task_type(self) -> str:
        return "regression" if self.regression else "classification"

    def resolved_loss(self) -> str:
        return self.loss or DEFAULT_LOSSES[self.task_type]

    def resolved_metric(self) -> str:
        return self.metric or metrics.DEFAULT_METRIC[self.task_type]

    def to_dict(self) -> dict:
        return asdict(self)


def _column(text: str, label_names: Sequence[str], where: str) -> int:
    if text.isdigit():
        col = int(text)
        if col >= len(label_names):
            raise ConfigError(
                f"{where}: label column {col} does not exist; the database has {len(label_names)} "
                f"label columns (0-{len(label_names) - 1}: {', '.join(label_names)})"
            )
        return col
    if text in label_names:
        return list(label_names).index(text)
    raise ConfigError(f"{where}: no label column {text!r}; the database has {', '.join(label_names)}")


def class_count(labels: np.ndarray, name: str, declared: Sequence[str] | None = None) -> int:
    """The class count of a label column that ``--tasks`` does not give.

    Declared class names decide; otherwise integer labels must be the class indices
    0..K-1 (every one present), and non-integer labels mean regression (1).

    Raises:
        ConfigError: a single class, or integer values with gaps (a typo such as 999 would
            otherwise make a 1000-class model), saying how to give the count.
    """
    if declared:
        return len(declared)
    column = np.asarray(labels, dtype=np.float64).reshape(-1)
    column = column[has_label(column)]  # rows of other corpora, masked, say nothing about the classes
    if column.size == 0 or (column != np.round(column)).any():
        return 1
    values = np.unique(column).astype(np.int64)
    if len(values) < 2:
        raise ConfigError(f"label {name!r} has the value {values[0] if len(values) else 'none'} in every row; "
                          "a classification task needs at least 2 classes (for regression give 1 class in --tasks)")
    if values[0] != 0 or values[-1] != len(values) - 1:
        shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise ConfigError(f"label {name!r} holds the values {shown}, not the class indices 0..K-1; give the class "
                          f"count in --tasks ({name}:CLASSES:{name}) or class names when building the database")
    return len(values)


class ClassCounts(Mapping):
    """The class count of every label of a database, worked out when a task asks for it."""

    def __init__(self, labels: np.ndarray, label_names: Sequence[str], class_names: Mapping[str, Sequence[str]]):
        self._labels, self._names, self._declared = labels, list(label_names), class_names

    def __getitem__(self, name: str) -> int:
        return class_count(self._labels[:, self._names.index(name)], name, self._declared.get(name))

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def parse_tasks(text: str | None, label_names: Sequence[str], class_counts: Mapping[str, int] | None = None) -> list[Task]:
    """Parse ``--tasks``; without it, one classification task on the first label column.

    Args:
        text: the option value, or ``None`` for the default task.
        label_names: the database's label column names.
        class_counts: known class counts per label name (from the database), used
            when a task omits its class count (``emotion`` or ``emotion::0``).

    Raises:
        ConfigError: a malformed entry, a missing column, a bad weight or metric.
    """
    class_counts = class_counts or {}
    if not text:
        name = label_names[0]
        if name not in class_counts:
            raise ConfigError(f"give --tasks: the number of classes of label {name!r} is not recorded in the database")
        return [Task(name=name, num_classes=class_counts[name], column=0)]
    tasks = []
    for entry in [e.strip() for e in text.split(",") if e.strip()]:
        fields = entry.split(":")
        where = f"--tasks entry {entry!r}"
        if len(fields) > 6:
            raise ConfigError(f"{where}: expected name:classes:column[:loss[:weight[:metric]]]")
        name = fields[0]
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"{where}: a task name is letters, digits and '_'")
        column = _column(fields[2] if len(fields) > 2 and fields[2] else name, label_names, where)
        if len(fields) > 1 and fields[1]:
            try:
                num_classes = int(fields[1])
            except ValueError:
                raise ConfigError(f"{where}: the class count {fields[1]!r} is not an integer") from None
        elif label_names[column] in class_counts:
            num_classes = class_counts[label_names[column]]
        else:
            raise ConfigError(f"{where}: give the number of classes (name:classes:column)")
        if num_classes < 1:
            raise ConfigError(f"{where}: the class count must be 1 (regression) or more")
        loss = fields[3] if len(fields) > 3 and fields[3] else None
        weight = 1.0
        if len(fields) > 4 and fields[4]:
            try:
                weight = float(fields[4])
            except ValueError:
                raise ConfigError(f"{where}: the loss weight {fields[4]!r} is not a number") from None
            if not np.isfinite(weight) or weight < 0:
                raise ConfigError(f"{where}: the loss weight {fields[4]!r} must be a finite number, 0 or more")
        task = Task(name, num_classes, column, loss, weight)
        if len(fields) > 5 and fields[5]:
            task.metric = _metric(fields[5], task.task_type, where)
        tasks.append(task)
    names = [t.name for t in tasks]
    if not any(t.weight > 0 for t in tasks):
        raise ConfigError("--tasks: every task has loss weight 0, so nothing would be trained; give one a positive weight")
    if len(set(names)) != len(names):
        raise ConfigError(f"--tasks: task names must differ, got {', '.join(names)}")
    return tasks


def _metric(name: str, task_type: str, where: str) -> str:
    """The registered name of a task's selection metric (an alias such as ``f1`` resolves to ``macro_f1``).

    Raises:
        ConfigError: an unknown metric (with close matches) or one for another task type.
    """
    try:
        metric = metrics.lookup(name)
    except UnknownComponentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if task_type not in metric.task_types:
        allowed = ", ".join(m.name for m in metrics.metrics_for(task_type))
        raise ConfigError(f"{where}: metric {name!r} does not fit a {task_type} task; use one of {allowed}")
    return metric.name


def check_labels(tasks: Sequence[Task], labels: np.ndarray, maskable: Sequence[int] = ()) -> None:
    """Check each classification task's labels are class indices below its class count.

    Args:
        tasks: the tasks.
        labels: the database's label array.
        maskable: label columns where rows may lack the label (the mask value, see
            :mod:`serzoo.data.labels`; an aggregated database's ``masked_labels``).

    Raises:
        ConfigError: naming the task, the offending value and how many rows have it; a task no row has.
    """
    for task in tasks:
        present = has_label(labels[:, task.column], task.regression)
        if task.column not in maskable:
            present[:] = True  # a -1 here is a broken label, reported below, not a missing one
        elif not present.any():
            raise ConfigError(f"task {task.name}: no row has label column {task.column} (every value is the "
                              "missing-label mask: -1, or NaN for regression); drop the task or pick another column")
        if task.regression:
            continue
        column = labels[present, task.column]
        fractional = column != np.round(column)
        if fractional.any():
            raise ConfigError(
                f"task {task.name}: label column {task.column} holds non-integer values such as "
                f"{column[fractional][0]:g}, which are no class indices; for regression give 1 class in --tasks"
            )
        bad = (column < 0) | (column >= task.num_classes)
        if bad.any():
            first = column[bad][0]
            raise ConfigError(
                f"task {task.name}: label column {task.column} holds {first:g} ({int(bad.sum())} rows), "
                f"which is not a class index below {task.num_classes}; raise the class count in --tasks "
                f"or use 1 class for regression"
            )


def class_weights(spec: str | None, tasks: Sequence[Task], train_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-task class weights from ``--class-weights``.

    ``auto`` gives ``n / (k * count_c)`` per class from the training rows (the
    "balanced" heuristic; absent classes get 0); explicit weights are
    ``task=w0/w1/...`` entries separated by ``;``, or in the original trainer's
    ``-cw`` notation ``task:w0:w1:...`` entries separated by ``,`` (see
    :func:`from_original_weights`). Regression tasks get none.

    Raises:
        ConfigError: unknown task, wrong number of weights, a negative weight.
    """
    if not spec or spec == "none":
        return {}
    spec = from_original_weights(spec)
    classification = [t for t in tasks if not t.regression]
    if spec == "auto":
        weights = {}
        for task in classification:
            counts = labelled_counts(train_labels[:, task.column], task.num_classes).astype(float)
            present = counts > 0
            w = np.zeros(task.num_classes)
            w[present] = counts.sum() / (present.sum() * counts[present])
            weights[task.name] = w
        return weights
    by_name = {t.name: t for t in classification}
    weights = {}
    for entry in [e.strip() for e in spec.split(";") if e.strip()]:
        name, _, values = entry.partition("=")
        if name not in by_name:
            raise ConfigError(f"--class-weights: {name!r} is not a classification task ({', '.join(by_name) or 'none'})")
        try:
            w = np.array([float(v) for v in values.split("/")])
        except ValueError:
            raise ConfigError(f"--class-weights {entry!r}: weights are numbers separated by '/'") from None
        if len(w) != by_name[name].num_classes:
            raise ConfigError(
                f"--class-weights {entry!r}: {len(w)} weights for {by_name[name].num_classes} classes of task {name}"
            )
        if not np.isfinite(w).all() or (w < 0).any():
            raise ConfigError(f"--class-weights {entry!r}: weights must be finite numbers, 0 or more")
        if not (w > 0).any():
            raise ConfigError(f"--class-weights {entry!r}: all weights are 0, so task {name} would not be trained")
        weights[name] = w
    return weights


def labelled_counts(column: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows per class of a class-label column, counting only the rows that have the label."""
    column = np.asarray(column)
    return np.bincount(column[has_label(column)].astype(np.int64), minlength=num_classes)


def from_original_weights(spec: str) -> str:
    """The original trainer's ``-cw`` value in serzoo's ``--class-weights`` notation; serzoo's unchanged.

    ``arousal:0.5:1.0:0.5,valence:0.5:1:0.1`` -> ``arousal=0.5/1.0/0.5;valence=0.5/1/0.1``;
    ``auto`` means the same in both.
    """
    text = spec.strip()
    if "=" in text or ":" not in text:
        return spec
    entries = [e.strip() for e in text.split(",") if e.strip()]
    return ";".join(f"{name}={'/'.join(values)}" for name, *values in (e.split(":") for e in entries))


def driving_labels(tasks: Sequence[Task], labels: np.ndarray, by: str | None) -> tuple[np.ndarray, str]:
    """The class index a sampler balances: one task's labels or the joint label of all classification tasks.

    Returns:
        (one int per row, a description such as ``task emotion`` or ``joint arousal x valence``).

    Raises:
        ConfigError: sampling by a regression task or an unknown task; several tasks and no choice.
    """
    classification = [t for t in tasks if not t.regression]
    if not classification:
        raise ConfigError("samplers balance classes; all tasks are regression: use --sampler none")
    if by is None:
        if len(classification) > 1:
            raise ConfigError(
                f"several classification tasks: say which drives the sampler with --sample-by "
                f"{'|'.join(t.name for t in classification)}|joint"
            )
        by = classification[0].name
    drivers = classification if by == "joint" else [t for t in tasks if t.name == by]
    for task in drivers:
        if not has_label(labels[:, task.column]).all():
            raise ConfigError(f"--sample-by {by}: task {task.name} has training rows without its label (another "
                              "corpus's rows); balance by a task every row has, or use --sampler none")
    if by == "joint":
        joint = np.zeros(len(labels), dtype=np.int64)
        for task in classification:
            joint = joint * task.num_classes + labels[:, task.column].astype(np.int64)
        return joint, "joint " + " x ".join(t.name for t in classification)
    match = [t for t in tasks if t.name == by]
    if not match:
        raise ConfigError(f"--sample-by {by!r}: no such task; use {'|'.join(t.name for t in classification)}|joint")
    if match[0].regression:
        raise ConfigError(f"--sample-by {by!r}: a regression task has no classes to balance")
    return labels[:, match[0].column].astype(np.int64), f"task {by}"
