"""Checks a database must pass before anything trains on it.

Each failure is one line naming the file, the dataset or label, and the first
offending row, so the user can find it; every check runs on whatever loader
produced the :class:`~serzoo.data.database.Database`.
"""

from __future__ import annotations

import numpy as np

from serzoo.data.database import Database
from serzoo.data.labels import MISSING_CLASS, masked_columns
from serzoo.core.errors import DataError


def _where(db: Database) -> str:
    return db.path or "database"


def check_shapes(db: Database) -> None:
    """Row counts of features, labels and per-row extras agree; names match their columns."""
    where = _where(db)
    if db.labels.ndim != 2:
        raise DataError(f"{where}: dataset 'label' has shape {db.labels.shape}; expected (N, K)")
    if db.labels.shape[0] != db.n_rows:
        raise DataError(
            f"{where}: row counts disagree: 'feat' has {db.n_rows} rows but 'label' has {db.labels.shape[0]}"
        )
    if db.n_rows == 0:
        raise DataError(f"{where}: the database has no rows")
    if len(db.label_names) != db.labels.shape[1]:
        raise DataError(
            f"{where}: attribute label_names lists {len(db.label_names)} names "
            f"but 'label' has {db.labels.shape[1]} columns"
        )
    if db.lengths is not None and len(db.lengths) != db.n_rows:
        raise DataError(f"{where}: row counts disagree: 'feat' has {db.n_rows} rows but 'n_frames' has {len(db.lengths)}")
    if db.utterances is not None and len(db.utterances) != db.n_rows:
        raise DataError(
            f"{where}: row counts disagree: 'feat' has {db.n_rows} rows but 'utterance' has {len(db.utterances)}"
        )


def check_labels(db: Database) -> None:
    """Labels are finite; labels with declared classes hold valid class indices.

    In the labels the file lists as ``masked_labels`` the missing-label mask
    (:mod:`serzoo.data.labels`) is allowed: ``-1`` in a label with declared classes,
    ``NaN`` in one without.
    """
    where = _where(db)
    maskable = masked_columns(db.label_names, db.attrs)
    for k, name in enumerate(db.label_names):
        column = db.labels[:, k]
        declared = db.class_names.get(name)
        masked = k in maskable
        bad = np.isinf(column) | (np.isnan(column) if declared or not masked else False)
        if bad.any():
            raise DataError(
                f"{where}: label {name!r} has {int(bad.sum())} NaN/Inf values, first in row {int(np.flatnonzero(bad)[0])}"
            )
        if declared:
            n = len(declared)
            bad = ((column < 0) & ~(masked & (column == MISSING_CLASS))) | (column >= n) | (column != np.round(column))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"{where}: label {name!r} row {row} is {column[row]:g}, outside the {n} declared classes "
                    f"(0..{n - 1}: {', '.join(declared)}); {int(bad.sum())} rows are affected"
                )
    unknown = sorted(set(db.class_names) - set(db.label_names))
    if unknown:
        raise DataError(f"{where}: class names are given for {', '.join(unknown)}, which is not a label "
                        f"(labels: {', '.join(db.label_names)})")


def check_groups(db: Database) -> None:
    """Group ranges lie inside the file, are not empty and do not overlap; every grouping fits the rows."""
    where = _where(db)
    range_names = db.range_grouping.names if db.range_grouping is not None else []
    if len(range_names) != len(db.groups):
        raise DataError(
            f"{where}: attribute group_names lists {len(range_names)} names for {len(db.groups)} groups"
        )
    for g, (start, end) in enumerate(db.groups):
        if start < 0 or end > db.n_rows:
            raise DataError(
                f"{where}: group {g} covers rows {start}..{end - 1}, outside the file's rows 0..{db.n_rows - 1} "
                "(start_indice/end_indice)"
            )
        if end <= start:
            raise DataError(f"{where}: group {g} is empty (start_indice {start}, end_indice {end}); "
                            "end_indice is exclusive and must exceed start_indice")
    order = sorted(range(len(db.groups)), key=lambda g: db.groups[g])
    for a, b in zip(order, order[1:]):
        (s1, e1), (s2, e2) = db.groups[a], db.groups[b]
        if s2 < e1:
            raise DataError(
                f"{where}: groups {a} and {b} overlap (rows {s1}..{e1 - 1} and {s2}..{e2 - 1}); "
                "each row may belong to one group only"
            )
    for grouping in db.groupings.values():
        if grouping is not db.range_grouping:
            _check_grouping(db, grouping)


def _check_grouping(db: Database, grouping) -> None:
    """A per-row grouping: one id per row, ids of existing groups, no empty group, agrees with the ranges."""
    where = f"{_where(db)}: grouping {grouping.name!r} (dataset groups/{grouping.name})"
    if grouping.n_rows != db.n_rows:
        raise DataError(f"{where} has {grouping.n_rows} rows but 'feat' has {db.n_rows}; one group id per row")
    bad = (grouping.ids < -1) | (grouping.ids >= grouping.n_groups)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{where}: row {row} has group {grouping.ids[row]}, but there are {grouping.n_groups} "
                        f"named groups (0..{grouping.n_groups - 1}; -1 for no group)")
    empty = [g for g, size in enumerate(grouping.sizes()) if not size]
    if empty:
        raise DataError(f"{where}: group {empty[0]} ({grouping.names[empty[0]]!r}) has no rows")
    ranges = db.range_grouping
    if ranges is not None and ranges.name == grouping.name and not np.array_equal(ranges.ids, grouping.ids):
        row = int(np.flatnonzero(ranges.ids != grouping.ids)[0])
        raise DataError(f"{where} disagrees with start_indice/end_indice at row {row} (group {grouping.ids[row]} "
                        f"against {ranges.ids[row]}); rebuild the database")
    if ranges is not None and ranges.name == grouping.name and ranges.names != grouping.names:
        raise DataError(f"{where}: its group names disagree with attribute group_names "
                        f"({grouping.names[:3]} against {ranges.names[:3]}); rebuild the database")


def check_finite(db: Database) -> None:
    """No NaN or Inf in the features; reads the file in bounded blocks."""
    count, first = 0, None
    for start, block in db.iter_blocks():
        flat = block.reshape(len(block), -1)
        bad_rows = ~np.isfinite(flat).all(axis=1)
        if bad_rows.any():
            count += int((~np.isfinite(flat[bad_rows])).sum())
            if first is None:
                first = start + int(np.flatnonzero(bad_rows)[0])
    if count:
        raise DataError(f"{_where(db)}: dataset 'feat' has {count} NaN/Inf values, first in row {first}")


def validate(db: Database) -> None:
    """Run every check; raise :class:`DataError` at the first failure."""
    check_shapes(db)
    check_labels(db)
    check_groups(db)
    check_finite(db)
