"""Feeding a database to Keras as a ``tf.data.Dataset``, from memory or streamed from the file.

Both modes yield ``(features, rows)`` batches and call ``rows_for_epoch()`` at
the start of every pass, so a sampler can redraw (and repeat) rows each epoch.
In memory, the features are read once and batches are cut by fancy indexing;
streaming reads sorted blocks of rows from the HDF5 file, shuffles the block
order and mixes examples in a shuffle buffer, so a database larger than memory
trains with bounded memory and yields the same examples.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from serzoo.data.database import Database
from serzoo.core.errors import ConfigError

MODES = ("auto", "memory", "stream")

#: default size above which ``auto`` streams: features as float32 in model layout
DEFAULT_THRESHOLD = 2 * 1024**3

#: bytes read from the file per streaming block
_BLOCK_BYTES = 16 * 1024**2


def use_streaming(db: Database, mode: str = "auto", threshold_bytes: int = DEFAULT_THRESHOLD) -> bool:
    """Decide whether to stream a database from its file.

    Args:
        db: the database.
        mode: ``memory``, ``stream``, or ``auto`` (stream when the features
            as float32 exceed ``threshold_bytes`` and are not already in memory).
        threshold_bytes: the size limit for ``auto``.

    Returns:
        True to stream.

    Raises:
        ConfigError: an unknown mode.
    """
    if mode not in MODES:
        raise ConfigError(f"data mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode != "auto":
        return mode == "stream"
    return not db.in_memory and db.nbytes > threshold_bytes


def _memory_batches(db: Database, rows_for_epoch, batch_size, shuffle, seed):
    features = db.features()  # read once, kept by the database for later folds
    epochs = itertools.count()

    def generate():
        rows = np.asarray(rows_for_epoch(), dtype=np.int64).reshape(-1)
        if shuffle:
            rows = rows[np.random.default_rng([seed, next(epochs)]).permutation(len(rows))]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            yield features[chunk], chunk

    return generate


def _stream_blocks(db: Database, rows_for_epoch, block_rows, shuffle, seed):
    epochs = itertools.count()

    def generate():
        rows = np.asarray(rows_for_epoch(), dtype=np.int64).reshape(-1)
        if shuffle:
            # Sorted blocks keep reads close together in the file; their order is random,
            # and the shuffle buffer downstream mixes examples across blocks.
            rng = np.random.default_rng([seed, next(epochs)])
            rows = np.sort(rows)
            starts = np.arange(0, len(rows), block_rows)
            order = rng.permutation(len(starts))
            blocks = [rows[starts[i]:starts[i] + block_rows] for i in order]
        else:
            blocks = [rows[s:s + block_rows] for s in range(0, len(rows), block_rows)]
        for block in blocks:
            yield db.features(block), block

    return generate


def make_dataset(
    db: Database,
    rows_for_epoch: Callable[[], np.ndarray],
    batch_size: int,
    *,
    streaming: bool,
    shuffle: bool,
    seed: int = 0,
    shuffle_buffer: int = 1024,
    epoch_rows: int | None = None,
):
    """Build a ``tf.data.Dataset`` of ``(features float32, rows int64)`` batches.

    Args:
        db: the database to read.
        rows_for_epoch: called at the start of each pass over the dataset; returns
            the rows of that pass (repeats allowed), in order when ``shuffle`` is False.
        batch_size: examples per batch (the last batch may be smaller).
        streaming: read blocks from the file instead of holding every row in memory.
        shuffle: permute the rows each pass (in memory) or shuffle blocks and a
            buffer of examples (streaming).
        seed: seed of the shuffling; each pass uses a new permutation derived from it.
        shuffle_buffer: examples in the streaming shuffle buffer.
        epoch_rows: when every pass has this many rows, say so: the dataset then
            declares its number of batches, so Keras knows the epoch length from
            the start (no "ran out of data" warning after the first epoch). A
            pass with another number of rows is then an error.

    Returns:
        The dataset; iterate it once per epoch (Keras does).
    """
    import tensorflow as tf

    seed = int(seed) % 2**32  # NumPy and tf.data seeds must be non-negative
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    signature = (
        tf.TensorSpec((None, *db.example_shape), tf.float32),
        tf.TensorSpec((None,), tf.int64),
    )
    if not streaming:
        generate = _memory_batches(db, rows_for_epoch, batch_size, shuffle, seed)
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    else:
        row_bytes = max(1, int(np.prod(db.example_shape)) * 4)
        block_rows = max(batch_size, _BLOCK_BYTES // row_bytes)
        generate = _stream_blocks(db, rows_for_epoch, block_rows, shuffle, seed)
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature).unbatch()
        if shuffle:
            # a fresh order each pass; the seed keeps runs reproducible
            dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
    if epoch_rows is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-int(epoch_rows) // batch_size)))
    return dataset.prefetch(tf.data.AUTOTUNE)
