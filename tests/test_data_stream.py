"""Streaming from the HDF5 file gives the same examples as the in-memory mode."""

from __future__ import annotations

from collections import Counter

import h5py
import numpy as np
import pytest

from serzoo.data import stream
from serzoo.data.database import open_database
from serzoo.data.stream import make_dataset, use_streaming
from serzoo.core.errors import ConfigError


@pytest.fixture
def db(tmp_path, monkeypatch):
    # small blocks, so a streaming pass reads several of them
    monkeypatch.setattr(stream, "_BLOCK_BYTES", 10 * 4 * 3 * 2 * 1)
    rng = np.random.default_rng(0)
    path = tmp_path / "db.h5"
    with h5py.File(path, "w") as hf:
        hf["feat"] = rng.normal(size=(57, 4, 1, 3, 2))  # 2d layout, float64 like SER_FEAT_EXT
        hf["label"] = (np.arange(57) % 4)[:, None].astype(float)
    with open_database(path) as opened:
        yield opened


def collect(dataset):
    xs, rows = [], []
    for x, r in dataset:
        xs.append(x.numpy())
        rows.append(r.numpy())
    return xs, rows


def test_in_order_streaming_equals_memory(db):
    order = np.random.default_rng(1).permutation(57)
    mem_x, mem_rows = collect(make_dataset(db, lambda: order, 8, streaming=False, shuffle=False))
    db._cache = None  # drop what the memory mode cached: streaming must read the file
    st_x, st_rows = collect(make_dataset(db, lambda: order, 8, streaming=True, shuffle=False))
    assert db._cache is None
    assert [len(r) for r in mem_rows] == [8] * 7 + [1] == [len(r) for r in st_rows]
    np.testing.assert_array_equal(np.concatenate(mem_rows), order)
    np.testing.assert_array_equal(np.concatenate(st_rows), order)
    np.testing.assert_array_equal(np.concatenate(mem_x), np.concatenate(st_x))
    assert mem_x[0].shape == (8, 4, 3, 2, 1) and mem_x[0].dtype == np.float32


@pytest.mark.parametrize("streaming", [False, True])
def test_shuffled_epochs_give_the_same_examples_and_call_the_sampler(db, streaming):
    calls = []
    rng = np.random.default_rng(5)

    def rows_for_epoch():
        rows = rng.choice(57, size=70)  # a sampler: repeats allowed, redrawn each epoch
        calls.append(rows)
        return rows

    dataset = make_dataset(db, rows_for_epoch, 16, streaming=streaming, shuffle=True, seed=3, shuffle_buffer=20)
    reference = db.features()
    for epoch in range(2):
        xs, rows = collect(dataset)
        rows = np.concatenate(rows)
        assert len(calls) == epoch + 1  # one call per pass
        assert Counter(rows.tolist()) == Counter(calls[-1].tolist())  # same multiset as asked
        np.testing.assert_array_equal(np.concatenate(xs), reference[rows])  # each example matches its row
        assert not np.array_equal(rows, calls[-1])  # actually shuffled


def test_memory_shuffle_is_reproducible(db):
    rows = np.arange(57)
    first = collect(make_dataset(db, lambda: rows, 10, streaming=False, shuffle=True, seed=7))[1]
    second = collect(make_dataset(db, lambda: rows, 10, streaming=False, shuffle=True, seed=7))[1]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))


def test_use_streaming_modes(db):
    assert use_streaming(db, "stream") and not use_streaming(db, "memory")
    db._cache = None
    assert use_streaming(db, "auto", threshold_bytes=db.nbytes - 1)
    assert not use_streaming(db, "auto", threshold_bytes=db.nbytes)
    db.load()
    assert not use_streaming(db, "auto", threshold_bytes=0)  # already in memory
    with pytest.raises(ConfigError, match="choose one of auto, memory, stream"):
        use_streaming(db, "disk")
    with pytest.raises(ConfigError, match="batch size"):
        make_dataset(db, lambda: np.arange(3), 0, streaming=False, shuffle=False)


@pytest.mark.parametrize("streaming", [False, True])
def test_keras_fit_consumes_the_dataset(db, streaming, recwarn):
    """Keras iterates the dataset once per epoch; labels come from the rows; a declared epoch size keeps it quiet."""
    import keras
    import tensorflow as tf

    labels = tf.constant(db.labels[:, 0].astype("int64"))
    calls = []

    def rows_for_epoch():
        calls.append(1)
        return np.random.default_rng(len(calls)).choice(57, size=40)

    dataset = make_dataset(db, rows_for_epoch, 16, streaming=streaming, shuffle=True, epoch_rows=40)
    assert int(dataset.cardinality()) == 3
    dataset = dataset.map(lambda x, rows: (x, tf.gather(labels, rows)))
    model = keras.Sequential([keras.Input(db.example_shape), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    assert len(calls) == 3
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]
