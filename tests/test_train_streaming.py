"""Streaming from the file trains on exactly the batches in-memory training sees, with bounded reads.

Every row's first feature is its row number, so a spy block that records the
training batches tells which rows the model saw, in which order.
"""

from __future__ import annotations

import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError
from serzoo.data.database import Database
from serzoo.data.loading import open_database
from serzoo.training.config import TrainConfig
from serzoo.training.streaming import use_streaming
from spies import batch_spy_block, index_spy_sampler, write_db

BASE = dict(tasks="emotion:3:0", blocks="spy,fcn,dense", opts=["fcn.units=4", "dense.units=4"], patience=0,
            jit_compile=False, normalize="none", max_folds=1)


def _numbered_db(path, n_rows: int, groups: int):
    """Features (rows, 3 steps, 2 dims), the row number in every step of dim 0; 3 classes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_rows, 3, 2))
    x[:, :, 0] = np.arange(n_rows)[:, None]
    return write_db(path, x, (np.arange(n_rows) % 3)[:, None], n_rows // groups)


def _train(db_path, run_dir, register_fake, **overrides):
    """Train with the spy block and the spy sampler; returns (batches seen, sampler calls, prep)."""
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    seen, calls = [], []
    plugin_manager.unregister_plugin("spies")  # the spies of an earlier run in this test
    register_fake("spies", serzoo_register_blocks=lambda register: register(batch_spy_block(seen)),
                  serzoo_register_samplers=lambda register: register(index_spy_sampler(calls)))
    prep = prepare(TrainConfig(data=str(db_path), **{**BASE, **overrides}))
    run(prep, run_dir, echo=lambda m: None)
    return [b[:, 0, 0].astype(np.int64) for b in seen], calls, prep


def test_streaming_and_memory_train_on_the_same_batches(tmp_path, register_fake):
    db = _numbered_db(tmp_path / "n.h5", 120, groups=4)
    options = dict(sampler="spy_index", epochs=3, batch_size=8)
    memory, memory_calls, prep = _train(db, tmp_path / "m", register_fake, streaming="memory", **options)
    stream, _, stream_prep = _train(db, tmp_path / "s", register_fake, streaming="stream", **options)
    assert not prep.streaming and stream_prep.streaming

    assert len(memory) == len(stream) and len(memory) > 3
    for a, b in zip(memory, stream):  # the same rows, in the same order and the same batches
        np.testing.assert_array_equal(a, b)

    # each epoch is one draw of the sampler, in its order, over the fold's training rows
    split = prep.splits[0]
    train_rows = np.concatenate([split.train, split.adapt])
    per_epoch = len(train_rows) + 3
    rows = np.concatenate(memory)
    assert len(rows) == 3 * per_epoch
    drawn = {order.tobytes(): order for _, order in memory_calls}
    epochs = [rows[e * per_epoch:(e + 1) * per_epoch] for e in range(3)]
    for epoch in epochs:
        assert any(np.array_equal(epoch, train_rows[order]) for order in drawn.values()), "not a sampler draw"
    assert not np.array_equal(epochs[0], epochs[1]), "the sampler is drawn anew each epoch"


def test_streaming_reads_bounded_chunks_from_the_file(tmp_path, register_fake, monkeypatch):
    db_path = _numbered_db(tmp_path / "big.h5", 3000, groups=4)  # 1500 training rows in fold 0
    reads = []
    original = Database.features

    def spy(self, rows=None):
        reads.append(None if rows is None else len(rows))
        return original(self, rows)

    monkeypatch.setattr(Database, "features", spy)
    seen, _, prep = _train(db_path, tmp_path / "s", register_fake, streaming="stream", epochs=1, batch_size=64,
                           normalize="global")
    n_train = len(prep.splits[0].train) + len(prep.splits[0].adapt)
    assert n_train > 1024, "the training rows must span several chunks"
    assert None not in reads, "streaming never loads the whole file"
    assert not prep.db.in_memory
    assert max(reads) <= 1024 < n_train  # a chunk of whole batches, never the training set at once
    assert sum(len(b) for b in seen) == n_train  # and yet every training row was trained on


def test_use_streaming_modes(tmp_path):
    path = _numbered_db(tmp_path / "n.h5", 12, groups=2)
    with open_database(path) as db:
        assert use_streaming(db, "stream") and not use_streaming(db, "memory")
        assert use_streaming(db, "auto", threshold_bytes=db.nbytes - 1)
        assert not use_streaming(db, "auto", threshold_bytes=db.nbytes)
        db.load()
        assert not use_streaming(db, "auto", threshold_bytes=0)  # already in memory
        with pytest.raises(ConfigError, match="choose one of auto, memory, stream"):
            use_streaming(db, "disk")


@pytest.mark.parametrize("rows, batch, min_rows", [(37, 8, 1), (33, 8, 2), (5, 8, 1), (32, 8, 1)])
def test_the_three_ways_of_making_batches_give_the_same_batches(rows, batch, min_rows):
    """Gathered in tf.data, handed over a read at a time, or one batch at a time: the same batches."""
    from serzoo.training.batches import batch_bounds, train_dataset
    from serzoo.training.tasks import Task

    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 4, 2)).astype(np.float32)
    labels = np.stack([np.arange(rows) % 3, rng.normal(size=rows)], axis=1)
    tasks = [Task("emotion", 3, 0), Task("arousal", 1, 1)]
    weights = {"emotion": np.array([1.0, 2.0, 0.5])}
    epoch = {"n": 0}

    def order():
        return np.random.default_rng(epoch["n"]).permutation(rows)

    def batches(**how):
        dataset = train_dataset(x.__getitem__, labels, tasks, weights, order, batch, x.shape[1:], 0.1,
                                rows_per_epoch=rows, min_rows=min_rows, failures=[], **how)
        # batches of one size: the spec says so (Keras traces the step for that size)
        full = min(rows, batch) if rows % batch == 0 or rows < batch else None
        full = None if "augment" in how else full  # an augmenter may change the size
        assert dataset.element_spec[0].shape[0] == full
        seen = []
        for epoch["n"] in range(2):
            seen += [[np.asarray(v) for v in (b[0], *b[1].values(), *b[2].values())] for b in dataset]
        return seen

    # rows in memory (gathered in tf.data), read in stacks (streaming), one batch at a time (augmenters)
    gathered, stacked = batches(features=x), batches()
    one_by_one = batches(augment=lambda *batch_and_index: batch_and_index[:3])
    assert len(gathered) == len(stacked) == len(one_by_one) == 2 * len(batch_bounds(rows, batch, min_rows))
    for a, b, c in zip(gathered, stacked, one_by_one):
        assert [v.shape for v in a] == [v.shape for v in b] == [v.shape for v in c]
        for va, vb, vc in zip(a, b, c):
            np.testing.assert_array_equal(va, vb)
            np.testing.assert_array_equal(va, vc)
    assert not np.array_equal(gathered[0][0], gathered[len(gathered) // 2][0]), "each epoch has its own order"


def test_a_failing_sampler_is_kept_for_the_caller_with_rows_in_memory():
    from serzoo.training.batches import train_dataset
    from serzoo.training.tasks import Task

    x = np.zeros((10, 2, 2), np.float32)
    failures = []

    def order():
        raise ValueError("the sampler broke")

    dataset = train_dataset(x.__getitem__, np.zeros((10, 1)), [Task("emotion", 2, 0)], {}, order, 4, x.shape[1:],
                            rows_per_epoch=10, failures=failures, features=x)
    with pytest.raises(Exception):
        list(dataset)
    assert [str(f) for f in failures] == ["the sampler broke"]
