"""Whole rows of an uncompressed HDF5 dataset, read straight from the file's bytes.

Streaming reads a fold's rows in the sampler's (random) order. Through HDF5 each row
selection costs about 80 µs even without its chunk cache: most of the time of a streamed
batch of small rows. When the rows lie whole and uncompressed in the file (contiguous
storage, or chunks that span whole rows; no filters; native byte order; a plain file
without a user block), each row's byte offset follows from the dataset's layout, and a row
is one positional read (``os.preadv``), a run of adjacent rows one read for all of them:
about 6 µs a row. :meth:`DirectRows.open` checks every condition (also: the file is open
read-only, and the stored type is exactly the machine's type for the dtype), reads through a
duplicate of HDF5's own descriptor, and compares the first and last rows with HDF5's
reading; where anything differs it returns None and the caller reads through HDF5
(:func:`serzoo.data.database.read_rows`).
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np


class DirectRows:
    """Positional reads of whole rows at known byte offsets of one file.

    Args:
        fd: a file descriptor of the file, owned (closed) by the reader.
        offsets: byte offset of each row, -1 for a row whose chunk was never written
            (HDF5 gives its fill value: :meth:`read` leaves such reads to HDF5).
        row_shape: shape of one row.
        dtype: the stored element type (native byte order).
    """

    def __init__(self, fd: int, offsets: np.ndarray, row_shape: tuple[int, ...], dtype: np.dtype):
        self.offsets = offsets
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = fd

    @classmethod
    def open(cls, dataset) -> "DirectRows | None":
        """A reader for ``dataset`` (an ``h5py.Dataset``), or None where its rows can't be read directly.

        It reads through a duplicate of HDF5's own file descriptor: the very file HDF5 opened,
        even if the path now names another file or the working directory changed.
        """
        reader = None
        try:
            offsets = _row_offsets(dataset)
            if offsets is None:
                return None
            reader = cls(os.dup(dataset.file.id.get_vfd_handle()), offsets, dataset.shape[1:], dataset.dtype)
            if reader._agrees_with(dataset):
                return reader
        except (AttributeError, TypeError, ValueError, OSError, RuntimeError):
            pass  # not h5py, an older HDF5 without chunk queries, or an unreadable layout: HDF5 reads
        if reader is not None:
            reader.close()
        return None

    def read(self, rows: np.ndarray) -> np.ndarray | None:
        """The rows, in the order given (repeats allowed), or None when one of them has no stored bytes."""
        offsets = self.offsets[rows]
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        if not len(rows) or offsets.min() < 0:
            return None if len(rows) else out
        raw = out.reshape(len(rows), self.row_bytes // self.dtype.itemsize).view(np.uint8)
        breaks = np.flatnonzero(np.diff(offsets) != self.row_bytes) + 1
        for first, last in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
            target = memoryview(raw[first:last]).cast("B")
            done, at = 0, int(offsets[first])
            while done < target.nbytes:  # a positional read may return less than asked
                got = os.preadv(self._fd, [target[done:]], at + done)
                if got <= 0:
                    raise OSError(f"the feature file ended {target.nbytes - done} bytes early at offset {at + done}")
                done += got
        return out

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self):
        try:
            self.close()
        except OSError:  # already closed with its process's files
            pass

    def _agrees_with(self, dataset) -> bool:
        """The first and last stored rows read the same as through HDF5 (a last sanity check)."""
        stored = np.flatnonzero(self.offsets >= 0)
        if not len(stored):
            return False
        probe = np.unique(stored[[0, -1]])
        return bool(np.array_equal(self.read(probe), np.asarray(dataset[probe.tolist()]), equal_nan=True))


#: guards the lazy opening of a database's reader (the read-ahead thread and the main thread both read)
OPEN_LOCK = threading.Lock()


def _row_offsets(dataset) -> np.ndarray | None:
    """Each row's byte offset in the file (-1: chunk not written), or None when rows aren't stored whole."""
    import h5py

    if not isinstance(dataset, h5py.Dataset) or dataset.ndim < 1 or dataset.shape[0] == 0:
        return None
    f = dataset.file
    byte_order = "<" if sys.byteorder == "little" else ">"
    if (f.driver != "sec2" or f.mode != "r" or f.userblock_size or dataset.is_virtual or dataset.external
            or dataset.dtype.kind not in "fiu" or dataset.dtype.byteorder not in ("=", "|", byte_order)
            or dataset.id.get_create_plist().get_nfilters()):
        return None  # (a file open for writing: HDF5 may hold written rows in its buffers)
    # the stored type must be exactly the machine's type for the dtype (not, say, 12-bit integers in 16)
    if not dataset.id.get_type().equal(h5py.h5t.py_create(dataset.dtype)):
        return None
    rows, row_shape = dataset.shape[0], dataset.shape[1:]
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dataset.dtype.itemsize
    if dataset.chunks is None:
        base = dataset.id.get_offset()
        return None if base is None else base + np.arange(rows, dtype=np.int64) * row_bytes
    if tuple(dataset.chunks[1:]) != tuple(row_shape):
        return None  # a row spread over several chunks
    per_chunk = dataset.chunks[0]
    offsets = np.full(rows, -1, dtype=np.int64)
    within = np.arange(per_chunk, dtype=np.int64) * row_bytes

    misplaced = []

    def visit(info):
        if any(info.chunk_offset[1:]):
            misplaced.append(info.chunk_offset)  # a chunk that does not start at a row's beginning
            return
        start = info.chunk_offset[0]
        n = min(per_chunk, rows - start)
        offsets[start:start + n] = info.byte_offset + within[:n]

    dataset.id.chunk_iter(visit)
    return None if misplaced else offsets
