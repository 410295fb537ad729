"""Evaluation metrics in plain NumPy, and the built-in entries of the metric registry.

Conventions:

* Confusion matrices have true classes in rows and predicted classes in
  columns. Summing the matrices of several folds and calling
  :func:`confusion_report` gives the pooled result over folds.
* The definitions are the standard ones, equal to scikit-learn's (the test
  suite checks this on random labels): UAR is ``balanced_accuracy_score``, the
  mean recall over the classes present in the true labels; macro F1, precision
  and recall are ``f1_score``/``precision_score``/``recall_score`` with
  ``average="macro"`` and ``zero_division=0``, averaged over every class that
  is true or predicted, so predicting a class that never occurs costs a 0 in
  the average.
* An empty input gives ``nan`` rather than an exception, so one empty fold
  does not stop a cross-validation report.

Every metric is a :class:`serzoo.Metric` in the registry (``serzoo list
metrics``); the reports below compute all registered metrics of a task type,
so a plugin's metric appears in every fold and summary without further code.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from serzoo import hookimpl
from serzoo.core import plugin_manager
from serzoo.core.registry import Metric

#: The metric that selects the checkpoint when a task names none.
DEFAULT_METRIC = {"classification": "uar", "regression": "ccc"}


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Count true/predicted class pairs.

    Args:
        y_true: true class indices, shape ``(n,)``.
        y_pred: predicted class indices ``(n,)`` or ``(n, 1)``, or class
            scores ``(n, K)`` whose argmax is taken.
        num_classes: ``K``.

    Returns:
        ``(K, K)`` int64 matrix; ``cm[t, p]`` counts examples of class ``t`` predicted as ``p``.

    Raises:
        ValueError: lengths differ or a class index is outside ``[0, K)``.
    """
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = np.asarray(y_pred)
    # A (n, 1) column is class indices, not one-class scores.
    scores = y_pred.ndim == 2 and y_pred.shape[1] > 1
    y_pred = (y_pred.argmax(axis=-1) if scores else y_pred.reshape(-1)).astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.size} true labels but {y_pred.size} predictions")
    for what, values in (("true", y_true), ("predicted", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{what} class indices must lie in [0, {num_classes}), got {values.min()}..{values.max()}")
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _counts(cm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """True positives, true counts, predicted counts, and which classes are true or predicted."""
    cm = np.asarray(cm, dtype=np.float64)
    true, pred = cm.sum(axis=1), cm.sum(axis=0)
    return np.diag(cm), true, pred, (true + pred) > 0


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def uar(cm) -> float:
    """Unweighted average recall: mean recall over classes present in the true labels.

    Equals scikit-learn's ``balanced_accuracy_score``. Classes with no true
    example have no recall and are left out; ``nan`` when no class is present.
    """
    tp, true, _, _ = _counts(cm)
    present = true > 0
    if not present.any():
        return float("nan")
    return float(np.mean(tp[present] / true[present]))


def accuracy(cm) -> float:
    """Share of examples on the diagonal; ``nan`` for an empty matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else float("nan")


def macro_f1(cm) -> float:
    """Mean F1 over the classes that are true or predicted (scikit-learn ``f1_score(average="macro")``).

    Per class ``F1 = 2 TP / (2 TP + FP + FN)``, the harmonic mean of precision
    and recall: 0 for a true class never predicted and for a predicted class
    that never occurs. ``nan`` for an empty matrix.
    """
    tp, true, pred, used = _counts(cm)
    if not used.any():
        return float("nan")
    return float(np.mean(2 * tp[used] / (true[used] + pred[used])))


def macro_precision(cm) -> float:
    """Mean precision over the classes that are true or predicted; 0 for a class never predicted."""
    tp, _, pred, used = _counts(cm)
    return float(np.mean(_ratio(tp, pred)[used])) if used.any() else float("nan")


def macro_recall(cm) -> float:
    """Mean recall over the classes that are true or predicted; 0 for a predicted class that never occurs.

    Differs from :func:`uar` only when a class is predicted but never true:
    UAR leaves such a class out, macro recall averages it in as 0.
    """
    tp, true, _, used = _counts(cm)
    return float(np.mean(_ratio(tp, true)[used])) if used.any() else float("nan")


def _values(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true values but {p.size} predictions")
    return t, p


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient over all values.

    ``2 cov / (var_t + var_p + (mean_t - mean_p)**2)`` with population moments.
    The denominator is 0 only when both are the same constant, which is perfect
    agreement: 1.0. ``nan`` for empty input.
    """
    t, p = _values(y_true, y_pred)
    if t.size == 0:
        return float("nan")
    mt, mp = t.mean(), p.mean()
    denominator = t.var() + p.var() + (mt - mp) ** 2
    if denominator == 0:
        return 1.0
    return float(2 * np.mean((t - mt) * (p - mp)) / denominator)


def mse(y_true, y_pred) -> float:
    """Mean squared error over all values; ``nan`` for empty input."""
    t, p = _values(y_true, y_pred)
    return float(np.mean((t - p) ** 2)) if t.size else float("nan")


def mae(y_true, y_pred) -> float:
    """Mean absolute error over all values; ``nan`` for empty input."""
    t, p = _values(y_true, y_pred)
    return float(np.mean(np.abs(t - p))) if t.size else float("nan")


# -- the registry ---------------------------------------------------------------------------------

BUILTIN_METRICS = (
    Metric("uar", "unweighted average recall over the classes in the true labels (sklearn balanced_accuracy_score)",
           uar, aliases=("balanced_accuracy",)),
    Metric("accuracy", "share of correct predictions (sklearn accuracy_score)", accuracy),
    Metric("macro_f1", "mean F1 over the classes true or predicted (sklearn f1_score average='macro', "
                       "zero_division=0)", macro_f1, aliases=("f1",)),
    Metric("macro_precision", "mean precision over the classes true or predicted (sklearn precision_score "
                              "average='macro', zero_division=0)", macro_precision, aliases=("precision",)),
    Metric("macro_recall", "mean recall over the classes true or predicted (sklearn recall_score "
                           "average='macro', zero_division=0)", macro_recall, aliases=("recall",)),
    Metric("ccc", "Lin's concordance correlation coefficient (population moments)", ccc, task_types=("regression",)),
    Metric("mse", "mean squared error", mse, task_types=("regression",), higher_is_better=False),
    Metric("mae", "mean absolute error", mae, task_types=("regression",), higher_is_better=False),
)


@hookimpl
def serzoo_register_metrics(register):
    """Register the built-in metrics (the core registers them itself: a default run needs ``uar``)."""
    for metric in BUILTIN_METRICS:
        register(metric)


def lookup(name: str) -> Metric:
    """The registered metric called ``name`` (or aliased so).

    Raises:
        UnknownComponentError: with the closest registered names.
    """
    return plugin_manager.metrics().get(name)


def metrics_for(task_type: str) -> list[Metric]:
    """Every registered metric of a task type (``classification`` or ``regression``), sorted by name."""
    return [m for m in plugin_manager.metrics().list() if task_type in m.task_types]


def definitions(task_types: Iterable[str]) -> dict[str, dict]:
    """What each metric reported for these task types means, for ``results.json``.

    Returns:
        ``{name: {"description", "task_types", "higher_is_better", "plugin"}}``, sorted by name.
    """
    wanted = set(task_types)
    return {m.name: {"description": m.description, "task_types": list(m.task_types),
                     "higher_is_better": m.higher_is_better, "plugin": m.plugin}
            for m in plugin_manager.metrics().list() if wanted & set(m.task_types)}


# -- reports --------------------------------------------------------------------------------------


def confusion_report(cm) -> dict:
    """Every registered classification metric of one confusion matrix, and the matrix (lists of ints)."""
    cm = np.asarray(cm)
    report = {m.name: m.compute(cm) for m in metrics_for("classification")}
    report["confusion"] = cm.astype(np.int64).tolist()
    return report


def classification_report(y_true, y_pred, num_classes: int) -> dict:
    """Classification metrics of one task.

    Args:
        y_true: true class indices ``(n,)``.
        y_pred: predicted class indices ``(n,)`` or class scores ``(n, K)``.
        num_classes: ``K``.

    Returns:
        One entry per registered classification metric (``uar``, ``accuracy``,
        ``macro_f1``, ...) and ``confusion``, a list of lists (rows true,
        columns predicted), ready for JSON.
    """
    return confusion_report(confusion_matrix(y_true, y_pred, num_classes))


def regression_report(y_true, y_pred) -> dict:
    """Every registered regression metric (``ccc``, ``mse``, ``mae``, ...) of one regression task."""
    t, p = _values(y_true, y_pred)
    return {m.name: m.compute(t, p) for m in metrics_for("regression")}


def summarize(values: Sequence[float]) -> dict:
    """Mean and spread of one metric over folds.

    The standard deviation is the sample one (``ddof=1``), since folds are a
    sample of possible splits; it is 0.0 for a single value. ``nan`` values
    (an empty fold) are ignored; no values give ``nan`` for both.
    """
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std}
