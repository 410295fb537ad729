"""The in-process view of a feature database, whatever loader produced it.

A :class:`Database` holds the features in the layout of the file (SER_FEAT_EXT's
``1d``, ``2d``, ``3d`` or ``flat``; see :mod:`serzoo.core.layouts`) and hands them
out in the channels-last layout models take, one row selection at a time, so a
file larger than memory is never read whole unless asked to.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from serzoo.core import layouts
from serzoo.core.errors import DataError
from serzoo.data.grouping import DEFAULT_GROUPING, NO_GROUP, Grouping
from serzoo.data.labels import has_label

#: entry-point name of the built-in loaders plugin; it wins ties on file patterns
#: rows converted per read when the whole file is needed; bounds peak memory
_READ_BYTES = 64 * 1024**2


class Database:
    """Features, labels and groups of one corpus.

    Args:
        feat: features in file layout, rows first: a NumPy array or an h5py dataset.
        labels: (N, K) label array.
        file_layout: a file layout name (``1d``, ``2d``, ``3d`` or ``flat``; see :mod:`serzoo.core.layouts`).
        path: the file it came from, if any.
        groups: SER_FEAT_EXT's (start, end) row ranges, end exclusive: the range grouping.
        group_names: one name per range group; defaults to "0", "1", ...
        group_column: name of the range grouping (``speaker``); default ``group``.
        groupings: further groupings (per-row group ids, see :class:`Grouping`), in order;
            one named like the range grouping replaces it (validation checks they agree).
            The first grouping is the default for splits.
        label_names: one name per label column; defaults to "label0", ...
        class_names: class names per label name, for the labels that declare them.
        attrs: feature settings and other JSON-serialisable facts about the file.
        lengths: number of valid (unpadded) time steps per row, when known.
        utterances: the source of each row (a wav path), when known.
        on_close: called once by :meth:`close` (closes the file, removes temporaries).
        padded_groups: empty padding groups that followed the range groups in the file (dropped; see
            :func:`serzoo.data.h5io.split_padding`); selections may still name them.
    """

    def __init__(
        self,
        feat: Any,
        labels: np.ndarray,
        *,
        file_layout: str,
        path: str | None = None,
        groups: Sequence[tuple[int, int]] = (),
        group_names: Sequence[str] | None = None,
        group_column: str | None = None,
        groupings: Mapping[str, Grouping] | Sequence[Grouping] | None = None,
        label_names: Sequence[str] | None = None,
        class_names: dict[str, list[str]] | None = None,
        attrs: dict | None = None,
        lengths: np.ndarray | None = None,
        utterances: Sequence[str] | None = None,
        on_close: Callable[[], None] | None = None,
        padded_groups: int = 0,
    ):
        layout = layouts.find(file_layout, side="file")
        if layout is None:
            raise DataError(f"unknown layout {file_layout!r}; expected one of {', '.join(layouts.file_layouts())}")
        if not layout.matches(feat.shape):
            raise DataError(f"{path or 'database'}: features shaped {tuple(feat.shape)} are not layout {file_layout}, "
                            f"which stores {layout.file_shape_text}")
        self._feat = feat
        self.path = None if path is None else str(path)
        #: the :class:`~serzoo.core.layouts.Layout` record: rank, feature axis, conversion
        self.layout = layout
        self.file_layout = layout.file_layout
        self.input_layout = layout.name
        labels = np.asarray(labels, dtype=np.float64)
        self.labels = labels.reshape(-1, 1) if labels.ndim == 1 else labels
        self.n_rows = int(feat.shape[0])
        k = self.labels.shape[1] if self.labels.ndim == 2 else 0
        self.label_names = list(label_names) if label_names else [f"label{i}" for i in range(k)]
        self.class_names = {str(n): list(c) for n, c in (class_names or {}).items()}
        self.groups = [(int(s), int(e)) for s, e in groups]
        self.attrs = dict(attrs or {})
        self.lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        self.utterances = None if utterances is None else list(utterances)
        self.example_shape = layout.model_shape(feat.shape[1:])
        self.nbytes = int(self.n_rows * np.prod(self.example_shape) * 4)
        self._cache: np.ndarray | None = None
        self._on_close = on_close
        self._direct: Any = None  # serzoo.data.rowfile.DirectRows, opened at the first row read
        self._direct_tried = False
        self.padded_groups = int(padded_groups)
        if group_names is not None and self.padded_groups and len(group_names) == len(self.groups) + self.padded_groups:
            group_names = list(group_names)[:len(self.groups)]  # names of the padding groups go with them
        self._set_groupings(group_names, group_column, groupings)

    # -- groupings -----------------------------------------------------------------------------

    def _set_groupings(self, group_names, group_column, groupings) -> None:
        self.range_grouping: Grouping | None = None
        self.groupings: dict[str, Grouping] = {}
        if self.groups:
            self.range_grouping = Grouping.from_ranges(group_column or DEFAULT_GROUPING, self.groups,
                                                       self.n_rows, group_names, padded=self.padded_groups)
            self.groupings[self.range_grouping.name] = self.range_grouping
        items = groupings.values() if isinstance(groupings, Mapping) else (groupings or ())
        for grouping in items:
            self.groupings[grouping.name] = grouping  # keeps the range grouping's place, so it stays the default

    def grouping(self, name: str | None = None) -> Grouping:
        """A grouping by name; ``None`` for the default (the first: the file's start/end ranges if any).

        Without any grouping the default is an empty one (every row in no group).

        Raises:
            DataError: no grouping of that name, naming the ones there are.
        """
        if name is None or name == "":
            if self.groupings:
                return next(iter(self.groupings.values()))
            return Grouping(DEFAULT_GROUPING, np.full(self.n_rows, NO_GROUP), [])
        if name in self.groupings:
            return self.groupings[name]
        close = difflib.get_close_matches(name, list(self.groupings), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        have = ", ".join(self.groupings) or "none"
        raise DataError(f"{self.path or 'database'}: no grouping {name!r}{hint} (groupings: {have}; "
                        f"add one with `serzoo data build META --group COLUMN,{name}`)")

    @property
    def group_names(self) -> list[str]:
        """Names of the groups of the default grouping."""
        return self.grouping().names

    @property
    def row_groups(self) -> np.ndarray:
        """Group index of each row in the default grouping (-1: in no group)."""
        return self.grouping().ids

    # -- layout --------------------------------------------------------------------------------

    @property
    def file_shape(self) -> tuple:
        """Shape of the features as stored, rows first."""
        return tuple(int(s) for s in self._feat.shape)

    @property
    def in_memory(self) -> bool:
        """True when the features are already a NumPy array (no file reads needed)."""
        return self._cache is not None or isinstance(self._feat, np.ndarray)

    # -- reading -------------------------------------------------------------------------------

    def file_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the file's own layout (what :meth:`iter_blocks` yields), in the order given."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not rows.size:
            return np.empty((0, *self.file_shape[1:]), dtype=self._feat.dtype)
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing, unique indices
        return np.asarray(self._feat[unique])[inverse]

    def iter_blocks(self, max_bytes: int = _READ_BYTES):
        """Yield ``(start, rows_in_file_layout)`` over the whole file, in bounded-size blocks."""
        row_bytes = max(1, int(np.prod(self._feat.shape[1:])) * 8)
        step = max(1, max_bytes // row_bytes)
        for start in range(0, self.n_rows, step):
            yield start, np.asarray(self._feat[start:start + step])

    def features(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Features in model layout (float32, channels-last).

        Args:
            rows: row indices in the order wanted (repeats allowed); ``None`` for
                every row, which also keeps them in memory for later calls.

        Returns:
            An array of shape ``(len(rows), *example_shape)``.
        """
        if rows is None:
            if self._cache is None:
                out = np.empty((self.n_rows, *self.example_shape), dtype=np.float32)
                for start, block in self.iter_blocks():
                    out[start:start + len(block)] = self.layout.to_model(block)
                self._cache = out
            return self._cache
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            bad = int(rows[(rows < 0) | (rows >= self.n_rows)][0])
            raise DataError(f"{self.path or 'database'}: row {bad} does not exist; it has rows 0..{self.n_rows - 1}")
        if self._cache is not None:
            return self._cache[rows]
        if isinstance(self._feat, np.ndarray):
            return self.layout.to_model(self._feat[rows])
        if not rows.size:
            return np.empty((0, *self.example_shape), dtype=np.float32)
        direct = self._direct_rows(rows)  # straight from the file's bytes, in the order asked
        if direct is not None:
            return self.layout.to_model(direct)
        # through HDF5: each row once, in increasing order, then restore order and repeats
        unique, inverse = np.unique(rows, return_inverse=True)
        return self.layout.to_model(read_rows(self._feat, unique))[inverse]

    def _direct_rows(self, rows: np.ndarray) -> np.ndarray | None:
        """File rows read by :class:`~serzoo.data.rowfile.DirectRows`, or None where HDF5 must read them."""
        if not self._direct_tried:
            from serzoo.data.rowfile import OPEN_LOCK, DirectRows

            with OPEN_LOCK:
                if not self._direct_tried:
                    self._direct, self._direct_tried = DirectRows.open(self._feat), True
        return self._direct.read(rows) if self._direct is not None else None

    def replace_features(self, features: np.ndarray) -> None:
        """Use these features (model layout, every row) instead of the file's from now on.

        Raises:
            DataError: their shape is not ``(rows, *example_shape)``.
        """
        features = np.asarray(features, dtype=np.float32)
        if features.shape != (self.n_rows, *self.example_shape):
            raise DataError(f"replacement features have shape {features.shape}, "
                            f"expected {(self.n_rows, *self.example_shape)}")
        self._cache = features

    def load(self) -> "Database":
        """Read every row into memory now; later :meth:`features` calls cost no I/O."""
        self.features()
        return self

    # -- labels --------------------------------------------------------------------------------

    def label_index(self, name: str | int) -> int:
        """Column of a label given by name or position.

        Raises:
            DataError: no such label.
        """
        if isinstance(name, int) or (isinstance(name, str) and name.isdigit() and name not in self.label_names):
            k = int(name)
            if 0 <= k < len(self.label_names):
                return k
        elif name in self.label_names:
            return self.label_names.index(name)
        raise DataError(f"{self.path or 'database'}: no label {name!r}; labels are {', '.join(self.label_names)}")

    def num_classes(self, name: str | int) -> int:
        """Number of classes of a label: its declared class names, else the largest index + 1."""
        k = self.label_index(name)
        declared = self.class_names.get(self.label_names[k])
        if declared:
            return len(declared)
        column = self.labels[:, k]
        return int(np.nanmax(column)) + 1 if column.size else 0

    def class_counts(self, name: str | int, rows: np.ndarray | None = None) -> np.ndarray:
        """Number of rows of each class of a label (over ``rows`` if given); rows without the label do not count."""
        k = self.label_index(name)
        column = self.labels[:, k] if rows is None else self.labels[rows, k]
        column = column[has_label(column)]
        return np.bincount(column.astype(np.int64), minlength=self.num_classes(k))

    def describe(self) -> dict:
        """Layout, shapes, tasks, range groups and groupings as plain data (``serzoo data info``)."""
        names = self.range_grouping.names if self.range_grouping is not None else []
        tasks = []
        for k, name in enumerate(self.label_names):
            column = self.labels[:, k]
            missing = int((~has_label(column, regression=not self.class_names.get(name))).sum())
            if not self.class_names.get(name) and ((column < 0).any() or (column != np.round(column)).any()):
                tasks.append({"name": name, "classes": None, "min": float(np.nanmin(column)),
                              "max": float(np.nanmax(column)), "missing": missing})
                continue
            counts = self.class_counts(k)
            names = self.class_names.get(name) or [str(c) for c in range(len(counts))]
            tasks.append({"name": name, "classes": len(counts), "missing": missing,
                          "counts": {names[c]: int(n) for c, n in enumerate(counts)}})
        return {
            "path": self.path,
            "file_layout": self.file_layout,
            "input_layout": self.input_layout,
            "file_shape": list(self.file_shape),
            "example_shape": list(self.example_shape),
            "rows": self.n_rows,
            "feature_mbytes": round(self.nbytes / 1024**2, 2),
            "tasks": tasks,
            "groups": [{"index": g, "name": names[g] if g < len(names) else str(g), "start": s, "end": e,
                        "rows": e - s} for g, (s, e) in enumerate(self.groups)],
            "groupings": [g.describe() for g in self.groupings.values()],
            "attrs": self.attrs,
        }

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file (and any temporary it owns); the cached features stay usable."""
        callback, self._on_close = self._on_close, None
        from serzoo.data.rowfile import OPEN_LOCK

        with OPEN_LOCK:  # not while a reading thread opens it
            direct, self._direct, self._direct_tried = self._direct, None, True
        if direct is not None:
            direct.close()
        if callback is not None:
            callback()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Database({self.path!r}, layout={self.file_layout}, rows={self.n_rows}, "
                f"example_shape={self.example_shape}, labels={self.label_names}, groupings={list(self.groupings)})")


def read_rows(dataset, rows: np.ndarray, gap_bytes: int = 1 << 18) -> np.ndarray:
    """Rows of an HDF5 dataset (sorted, unique indices) in few contiguous reads.

    h5py's point selection (``dataset[rows]``) costs milliseconds per row; a slice
    read costs a fraction of one. Rows closer than ``gap_bytes`` are read as one
    slice with the rows between them (dropped after), so a dense selection is a
    few large reads and a sparse one a read per row; memory stays one slice. The
    reads go through h5py's low-level calls, whose overhead per read is half that
    of ``read_direct``: streaming random rows is a read per row.
    """
    if not hasattr(dataset, "id") or not hasattr(dataset.id, "read"):  # not an h5py dataset: its own indexing
        return np.asarray(dataset[rows])
    import h5py

    row_shape = tuple(dataset.shape[1:])
    gap = max(1, gap_bytes // max(1, int(np.prod(row_shape)) * dataset.dtype.itemsize))
    out = np.empty((len(rows), *row_shape), dtype=dataset.dtype)
    space = dataset.id.get_space()
    breaks = np.flatnonzero(np.diff(rows) > gap) + 1
    for first, last in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])):
        lo, hi = int(rows[first]), int(rows[last - 1]) + 1
        full = hi - lo == last - first  # every row of the slice is wanted: read it straight into place
        target = out[first:last] if full else np.empty((hi - lo, *row_shape), dtype=dataset.dtype)
        space.select_hyperslab((lo, *[0] * len(row_shape)), (hi - lo, *row_shape))
        dataset.id.read(h5py.h5s.create_simple(target.shape), space, target)
        if not full:
            out[first:last] = target[rows[first:last] - lo]
    return out
