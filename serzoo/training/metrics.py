"""Evaluation metrics in plain NumPy: UAR, accuracy, macro-F1, CCC, MSE.

Conventions:

* Confusion matrices have true classes in rows and predicted classes in
  columns. Summing the matrices of several folds and calling
  :func:`confusion_report` gives the pooled result over folds.
* Class averages (UAR, macro-F1) run over the classes present in the true
  labels. A class with no true example has no recall, and averaging it in as 0
  or 1 would say something about the data split, not the model; predictions of
  such a class still count, as errors on the true classes.
* An empty input gives ``nan`` rather than an exception, so one empty fold
  does not stop a cross-validation report.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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


def _supported(cm: np.ndarray) -> np.ndarray:
    return np.asarray(cm).sum(axis=1) > 0


def uar(cm) -> float:
    """Unweighted average recall: mean recall over classes present in the true labels.

    Classes with no true example are left out (see the module docstring);
    ``nan`` when no class is present.
    """
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def accuracy(cm) -> float:
    """Share of examples on the diagonal; ``nan`` for an empty matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else float("nan")


def macro_f1(cm) -> float:
    """Mean F1 over classes present in the true labels.

    Per class ``F1 = 2 TP / (2 TP + FP + FN)``, which equals the harmonic mean
    of precision and recall and is 0 (not undefined) for a present class that
    is never predicted. Classes with no true example are left out, as in :func:`uar`.
    """
    cm = np.asarray(cm, dtype=np.float64)
    present = _supported(cm)
    if not present.any():
        return float("nan")
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    f1 = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    return float(np.mean(f1))


def ccc(y_true, y_pred) -> float:
    """Lin's concordance correlation coefficient over all values.

    ``2 cov / (var_t + var_p + (mean_t - mean_p)**2)`` with population moments.
    The denominator is 0 only when both are the same constant, which is perfect
    agreement: 1.0. ``nan`` for empty input.
    """
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true values but {p.size} predictions")
    if t.size == 0:
        return float("nan")
    mt, mp = t.mean(), p.mean()
    denominator = t.var() + p.var() + (mt - mp) ** 2
    if denominator == 0:
        return 1.0
    return float(2 * np.mean((t - mt) * (p - mp)) / denominator)


def mse(y_true, y_pred) -> float:
    """Mean squared error over all values; ``nan`` for empty input."""
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true values but {p.size} predictions")
    return float(np.mean((t - p) ** 2)) if t.size else float("nan")


def confusion_report(cm) -> dict:
    """UAR, accuracy, macro-F1 and the matrix (lists of ints) of one confusion matrix."""
    cm = np.asarray(cm)
    return {
        "uar": uar(cm),
        "accuracy": accuracy(cm),
        "macro_f1": macro_f1(cm),
        "confusion": cm.astype(np.int64).tolist(),
    }


def classification_report(y_true, y_pred, num_classes: int) -> dict:
    """Classification metrics of one task.

    Args:
        y_true: true class indices ``(n,)``.
        y_pred: predicted class indices ``(n,)`` or class scores ``(n, K)``.
        num_classes: ``K``.

    Returns:
        ``{"uar", "accuracy", "macro_f1", "confusion"}``; ``confusion`` is a
        list of lists (rows true, columns predicted), ready for JSON.
    """
    return confusion_report(confusion_matrix(y_true, y_pred, num_classes))


def regression_report(y_true, y_pred) -> dict:
    """``{"ccc", "mse"}`` of one regression task."""
    return {"ccc": ccc(y_true, y_pred), "mse": mse(y_true, y_pred)}


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
