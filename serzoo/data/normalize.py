"""Per-group (per-speaker) standardisation of a database's features, in memory.

Each group's features are standardised with that group's own mean and variance
per feature. For a test speaker this uses its (unlabeled) features, so results
obtained this way are transductive and are reported as such.
"""

from __future__ import annotations

import numpy as np

from serzoo.data.database import Database

#: added to each variance so a constant feature stays finite
EPSILON = 1e-8


def standardize_by_group(db: Database, group_of_row: np.ndarray, feature_axis: int) -> None:
    """Replace the database's in-memory features by per-group standardised ones.

    Args:
        db: the database; its features are read into memory.
        group_of_row: one group id per row (rows outside every group, -1, form one set of their own).
        feature_axis: the features' axis in model layout (negative).
    """
    x = np.array(db.features(), dtype=np.float32, copy=True)
    for group in np.unique(group_of_row):
        rows = np.flatnonzero(group_of_row == group)
        block = np.moveaxis(x[rows].astype(np.float64), feature_axis, -1)
        flat = block.reshape(-1, block.shape[-1])
        mean, std = flat.mean(0), np.sqrt(flat.var(0) + EPSILON)
        x[rows] = np.moveaxis((block - mean) / std, -1, feature_axis).astype(np.float32)
    db.replace_features(x)
