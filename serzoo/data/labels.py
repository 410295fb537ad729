"""Missing labels: how a row that has no value for a task is stored, and how it is recognised.

An aggregated database (``serzoo data merge``) joins corpora that do not all
annotate the same things: an acted corpus has categorical emotions but no
valence ratings, another the reverse. A row without a value for a label stores
the mask value there, and everything that learns from or scores a task looks
only at the rows that have its label (:func:`has_label`):

* the file lists the labels that may be missing in its ``masked_labels`` attribute
  (:data:`MASKED_ATTR`); anywhere else a ``-1`` or ``NaN`` is refused as a broken label,
  so a typo in an ordinary database is never silently skipped;
* class labels store :data:`MISSING_CLASS` (``-1``), never a class index;
* continuous labels (regression targets) store ``NaN``, since ``-1`` may be a
  real rating;
* training gives masked rows the sample weight 0 for that task's loss (their
  head is not trained on them), and class weights, priors and samplers count
  labelled rows only;
* evaluation scores each task on its labelled rows only; a test set with none
  gives ``nan`` for that task, which the summaries over folds leave out.
"""

from __future__ import annotations

import numpy as np

#: the value a class label takes in a row that has no label for it
MISSING_CLASS = -1
#: database attribute: the label names whose columns may hold the mask
MASKED_ATTR = "masked_labels"


def masked_columns(label_names, attrs) -> list[int]:
    """Label columns a database allows the mask in (its ``masked_labels`` attribute)."""
    names = attrs.get(MASKED_ATTR) or []
    return [k for k, name in enumerate(label_names) if name in names]


def has_label(column, regression: bool = False) -> np.ndarray:
    """Which rows of a label column carry a value (not ``NaN``; for class labels also not ``-1``).

    Args:
        column: one label column.
        regression: the column holds continuous values, where only ``NaN`` marks a missing one.

    Returns:
        A boolean array, one entry per row.
    """
    column = np.asarray(column, dtype=np.float64).reshape(-1)
    present = ~np.isnan(column)
    if not regression:
        present &= column != MISSING_CLASS
    return present


def missing_value(regression: bool) -> float:
    """The mask value stored for a missing label of a class (``-1``) or continuous (``NaN``) column."""
    return float("nan") if regression else float(MISSING_CLASS)
