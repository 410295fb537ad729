"""Groupings of the rows of a database: speaker, corpus, a benchmark's official folds.

A database may carry several groupings; cross-validation splits by the one
chosen at training time (``serzoo train --group-by fold``), so changing the
protocol never means rebuilding the features. A grouping is a group index per
row (``-1``: the row belongs to no group of it) and the names of its groups.
Rows of one group need not be contiguous; SER_FEAT_EXT's
``start_indice``/``end_indice`` ranges are one grouping among others.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: name of the range grouping (start_indice/end_indice) of a file that does not name its group column
DEFAULT_GROUPING = "group"

#: row id of a row that belongs to no group of a grouping
NO_GROUP = -1


class Grouping:
    """One grouping of the rows: a group index per row and a name per group.

    Args:
        name: what the groups are (``speaker``, ``corpus``, ``fold``).
        ids: group index of each row; ``-1`` for a row in no group.
        names: one name per group (defaults to "0", "1", ...).
        n_groups: number of groups when ``names`` is not given (default: the largest id + 1).
        padded: empty padding groups that followed these in the file (indices ``n_groups`` on);
            group selections may name them and select nothing (see :func:`serzoo.data.h5io.split_padding`).
    """

    def __init__(self, name: str, ids, names: Sequence[str] | None = None, n_groups: int | None = None,
                 padded: int = 0):
        self.name = str(name)
        self.padded = int(padded)
        self.ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if names is None:
            count = n_groups if n_groups is not None else (int(self.ids.max()) + 1 if self.ids.size else 0)
            names = [str(g) for g in range(max(count, 0))]
        self.names = [str(n) for n in names]
        self._members: list[np.ndarray] | None = None

    @classmethod
    def from_ranges(cls, name: str, ranges: Sequence[tuple[int, int]], n_rows: int,
                    names: Sequence[str] | None = None, padded: int = 0) -> "Grouping":
        """A grouping from SER_FEAT_EXT ``(start, end)`` row ranges (end exclusive), clipped to the rows."""
        ids = np.full(n_rows, NO_GROUP, dtype=np.int64)
        for g, (start, end) in enumerate(ranges):
            ids[max(start, 0):max(min(end, n_rows), 0)] = g
        return cls(name, ids, list(names) if names else None, n_groups=len(ranges), padded=padded)

    @classmethod
    def from_values(cls, name: str, values: Sequence[str]) -> "Grouping":
        """A grouping from one value per row (a meta-table column); groups in order of first appearance.

        An empty value puts its row in no group (an utterance outside every official fold).
        """
        keys = [str(v).strip() for v in values]
        names = list(dict.fromkeys(k for k in keys if k))
        index = {n: g for g, n in enumerate(names)}
        return cls(name, [index.get(k, NO_GROUP) for k in keys], names)

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def unused(self) -> int:
        """Number of rows that belong to no group."""
        return int((self.ids < 0).sum())

    def members(self) -> list[np.ndarray]:
        """Row indices of each group, ascending."""
        if self._members is None:
            valid = (self.ids >= 0) & (self.ids < self.n_groups)
            rows = np.flatnonzero(valid)
            order = rows[np.argsort(self.ids[rows], kind="stable")]
            counts = np.bincount(self.ids[rows], minlength=self.n_groups)[: self.n_groups]
            self._members = np.split(order, np.cumsum(counts)[:-1]) if self.n_groups else []
        return self._members

    def rows(self, groups: Sequence[int]) -> np.ndarray:
        """Rows of the given groups, group after group in the order given."""
        if not len(groups):
            return np.empty(0, dtype=np.int64)
        members = self.members()
        return np.concatenate([members[g] for g in groups]).astype(np.int64)

    def sizes(self) -> list[int]:
        """Number of rows of each group."""
        return [len(m) for m in self.members()]

    def reordered(self, order: np.ndarray) -> "Grouping":
        """The same grouping with its rows taken in ``order`` (a permutation of the rows)."""
        return Grouping(self.name, self.ids[np.asarray(order)], self.names, padded=self.padded)

    def describe(self) -> dict:
        """Name, groups with their sizes, and rows in no group, as plain data (``serzoo data info``)."""
        groups = [{"index": g, "name": n, "rows": s} for g, (n, s) in enumerate(zip(self.names, self.sizes()))]
        return {"name": self.name, "unused_rows": self.unused, "groups": groups}

    def __eq__(self, other) -> bool:
        return (isinstance(other, Grouping) and self.name == other.name and self.names == other.names
                and np.array_equal(self.ids, other.ids))

    __hash__ = None  # mutable arrays inside

    def __repr__(self) -> str:
        return f"Grouping({self.name!r}, groups={self.n_groups}, rows={self.n_rows}, unused={self.unused})"
