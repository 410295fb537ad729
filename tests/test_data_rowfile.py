"""Rows read straight from the file's bytes equal HDF5's reading, and every file it can't read goes through HDF5."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from serzoo.data.rowfile import DirectRows

ROWS = [[0], [199], [0, 1, 2, 3, 50], list(range(0, 200, 7)), list(range(40, 120)), [3, 4, 5, 16, 17, 199]]


def _write(path, x, **options):
    with h5py.File(path, "w") as f:
        f.create_dataset("feat", data=x, **options)
    return path


@pytest.mark.parametrize("options", [{}, {"chunks": (16, 5, 3, 4)}, {"chunks": (7, 5, 3, 4)}],
                         ids=["contiguous", "chunked", "uneven-last-chunk"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_direct_reads_equal_hdf5(tmp_path, options, dtype):
    x = (np.random.default_rng(0).normal(size=(200, 5, 3, 4)) * 100).astype(dtype)  # a 2d-layout row: (5, 3, 4)
    path = _write(tmp_path / "x.h5", x, **options)
    with h5py.File(path) as f:
        reader = DirectRows.open(f["feat"])
        assert reader is not None
        try:
            for rows in ROWS:
                got = reader.read(np.asarray(rows))
                assert got.dtype == x.dtype
                np.testing.assert_array_equal(got, x[rows])
        finally:
            reader.close()


@pytest.mark.parametrize("options", [
    {"chunks": (16, 2, 3, 4)},  # a row spread over several chunks
    {"chunks": (16, 5, 3, 4), "compression": "gzip"},
    {"chunks": (16, 5, 3, 4), "shuffle": True},
    {"dtype": ">f4"},  # not the machine's byte order
], ids=["split-rows", "gzip", "shuffle", "big-endian"])
def test_files_it_cannot_read_directly_are_left_to_hdf5(tmp_path, options):
    x = np.random.default_rng(0).normal(size=(40, 5, 3, 4)).astype("float32")
    path = _write(tmp_path / "x.h5", x, **options)
    with h5py.File(path) as f:
        assert DirectRows.open(f["feat"]) is None
    assert DirectRows.open(x) is None  # not a file at all


def test_a_user_block_or_unwritten_chunks_fall_back(tmp_path):
    x = np.arange(40 * 6, dtype=np.float32).reshape(40, 6) + 1
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=512) as f:
        f.create_dataset("feat", data=x)
    with h5py.File(tmp_path / "ub.h5") as f:
        assert DirectRows.open(f["feat"]) is None
    with h5py.File(tmp_path / "holes.h5", "w") as f:
        d = f.create_dataset("feat", shape=(40, 6), dtype="float32", chunks=(8, 6), fillvalue=-5)
        d[0:8], d[24:40] = x[0:8], x[24:40]  # rows 8..23 never written: HDF5 gives the fill value
    with h5py.File(tmp_path / "holes.h5") as f:
        reader = DirectRows.open(f["feat"])
        np.testing.assert_array_equal(reader.read(np.array([0, 7, 24, 39])), x[[0, 7, 24, 39]])
        assert reader.read(np.array([3, 10])) is None
        reader.close()


def test_a_database_reads_its_rows_directly_and_closes_the_file(tmp_path):
    from serzoo.data.loading import open_database

    x = np.random.default_rng(2).normal(size=(60, 8, 5)).astype("float32")
    with h5py.File(tmp_path / "db.h5", "w") as f:
        f.create_dataset("feat", data=x, chunks=(8, 8, 5))
        f["label"] = (np.arange(60) % 3)[:, None].astype(float)
    db = open_database(str(tmp_path / "db.h5"))
    rows = np.array([5, 0, 5, 59, 17, 18, 19])
    np.testing.assert_array_equal(db.features(rows), x[rows])
    assert db._direct is not None, "an uncompressed chunked file is read directly"
    fd = db._direct._fd
    db.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_rows_come_in_the_order_asked_with_repeats(tmp_path):
    x = np.random.default_rng(4).normal(size=(50, 7)).astype("float32")
    path = _write(tmp_path / "x.h5", x, chunks=(8, 7))
    rows = np.array([49, 3, 4, 5, 3, 0, 48, 49, 17, 16])
    with h5py.File(path) as f:
        reader = DirectRows.open(f["feat"])
        np.testing.assert_array_equal(reader.read(rows), x[rows])
        assert reader.read(np.array([], dtype=np.int64)).shape == (0, 7)
        reader.close()


def _custom_type(path, x, stored):
    with h5py.File(path, "w") as f:
        h5py.h5d.create(f.id, b"feat", stored, h5py.h5s.create_simple(x.shape)).write(h5py.h5s.ALL, h5py.h5s.ALL, x)
    return path


def test_stored_types_other_than_the_machines_own_are_left_to_hdf5(tmp_path):
    """12-bit integers in 16 bits, or 2-byte floats h5py widens to float32: HDF5 converts them, bytes would lie."""
    x = np.zeros((10, 4), np.int16)
    x[1:-1] = -np.arange(32).reshape(8, 4) - 1  # zero first and last rows: the probe alone would not see it
    twelve = h5py.h5t.STD_I16LE.copy()
    twelve.set_precision(12)
    half = h5py.h5t.IEEE_F32LE.copy()
    half.set_fields(15, 7, 8, 0, 7)
    half.set_size(2)
    half.set_ebias(127)
    for name, data, stored in (("i12", x, twelve), ("f16", (x / 2).astype(np.float32), half)):
        path = _custom_type(tmp_path / f"{name}.h5", data, stored)
        with h5py.File(path) as f:
            np.testing.assert_array_equal(f["feat"][()], data)  # HDF5 reads it right
            assert DirectRows.open(f["feat"]) is None


def test_it_reads_the_file_hdf5_opened_even_when_the_path_changes(tmp_path, monkeypatch):
    """A relative path after a change of directory, or a file replaced at the path, still reads the opened file."""
    x = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    other = x.copy()
    other[1:-1] += 1000  # same first and last rows: the probe could not tell them apart
    _write(tmp_path / "x.h5", x, chunks=(8, 3))
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "x.h5", other, chunks=(8, 3))
    monkeypatch.chdir(tmp_path)
    with h5py.File("x.h5") as f:
        monkeypatch.chdir(tmp_path / "sub")  # "x.h5" now names the other file
        reader = DirectRows.open(f["feat"])
        np.testing.assert_array_equal(reader.read(np.array([5, 6])), x[[5, 6]])
        reader.close()
        (tmp_path / "x.h5").unlink()  # removed or replaced: the open file is still the one read
        _write(tmp_path / "x.h5", other, chunks=(8, 3))
        reader = DirectRows.open(f["feat"])
        np.testing.assert_array_equal(reader.read(np.array([20])), x[[20]])
        reader.close()


def test_a_file_open_for_writing_is_left_to_hdf5(tmp_path):
    path = _write(tmp_path / "x.h5", np.zeros((16, 3), np.float32), chunks=(4, 3))
    with h5py.File(path, "r+") as f:
        f["feat"][2] = 7.0  # may sit in HDF5's buffers, not yet in the file's bytes
        assert DirectRows.open(f["feat"]) is None
