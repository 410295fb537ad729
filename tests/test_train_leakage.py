"""Nothing of a fold's validation or test rows reaches the sampler, the loss, the class weights
or the standardisation statistics: spies record what training actually gave them.

The speakers of the database have different class mixes, so statistics of the
training rows differ from those of all rows and a leak shows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from serzoo.training.config import TrainConfig
from spies import index_spy_sampler, prior_spy_loss, synthetic_spy_sampler, write_db

BASE = dict(tasks="emotion:3:0", blocks="fcn,dense", opts=["fcn.units=4", "dense.units=4"], epochs=1,
            batch_size=16, patience=0, jit_compile=False, max_folds=1)
#: rows of class 0, 1, 2 per speaker: each speaker its own mix
MIXES = [(16, 6, 2), (4, 10, 10), (2, 4, 18), (12, 10, 2)]


def _features_and_labels():
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.repeat([0, 1, 2], mix) for mix in MIXES])
    features = rng.normal(size=(len(labels), 6, 5)) + labels[:, None, None]
    return features, labels[:, None]


@pytest.fixture(scope="module")
def skewed_db(tmp_path_factory):
    return write_db(tmp_path_factory.mktemp("skewed") / "skewed.h5", *_features_and_labels(), groups_per_row=24)


def _run(db_path, run_dir, **overrides):
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    prep = prepare(TrainConfig(data=str(db_path), **{**BASE, **overrides}))
    run(prep, run_dir, echo=lambda m: None)
    fold = json.loads((run_dir / "fold00" / "result.json").read_text())
    split = prep.splits[0]
    return fold, split, np.concatenate([split.train, split.adapt]), prep.db


def test_synthetic_sampler_gets_exactly_the_training_rows(skewed_db, tmp_path, register_fake):
    calls = []
    register_fake("spies", serzoo_register_samplers=lambda register: register(synthetic_spy_sampler(calls)))
    fold, split, train_rows, db = _run(skewed_db, tmp_path, sampler="spy_synth")
    (labels, features), = calls  # once per fold
    np.testing.assert_array_equal(features, db.features(train_rows))
    np.testing.assert_array_equal(labels, db.labels[train_rows, 0])
    held_out = db.features(np.concatenate([split.val, split.test])).reshape(len(split.val) + len(split.test), -1)
    seen = {row.tobytes() for row in features.reshape(len(features), -1)}
    assert not [row for row in held_out if row.tobytes() in seen], "a validation or test row reached the sampler"
    assert fold["sampler"]["rows_before"] == len(labels) == len(train_rows)
    assert fold["sampler"]["rows_after"] == len(features)


def test_index_sampler_gets_the_training_labels_every_epoch(skewed_db, tmp_path, register_fake):
    calls = []
    register_fake("spies", serzoo_register_samplers=lambda register: register(index_spy_sampler(calls)))
    fold, _, train_rows, db = _run(skewed_db, tmp_path, sampler="spy_index", epochs=3)
    assert len({order.tobytes() for _, order in calls}) >= 3, "drawn anew for each of the 3 epochs"
    for labels, _ in calls:
        np.testing.assert_array_equal(labels, db.labels[train_rows, 0])
    assert fold["sampler"]["rows_before"] == len(train_rows)
    assert fold["sampler"]["rows_after"] == len(train_rows) + 3  # what the spy returns


def test_loss_priors_and_class_weights_come_from_the_training_rows(skewed_db, tmp_path, register_fake):
    priors = []
    register_fake("spies", serzoo_register_losses=lambda register: register(prior_spy_loss(priors)))
    fold, _, train_rows, db = _run(skewed_db, tmp_path, tasks="emotion:3:0:spy_loss", class_weights="auto")

    def by_hand(rows):
        counts = np.bincount(db.labels[rows, 0].astype(int), minlength=3)
        return counts / counts.sum(), counts.sum() / (3 * counts)

    train_priors, train_weights = by_hand(train_rows)
    all_priors, all_weights = by_hand(np.arange(db.n_rows))
    assert not np.allclose(train_priors, all_priors), "the test needs folds whose class mix differs"
    (got,) = priors
    np.testing.assert_allclose(got, train_priors)
    np.testing.assert_allclose(fold["class_weights"]["emotion"], train_weights)


def _normalization(run_dir):
    from serzoo.model.serialization import load_model

    model, _ = load_model(run_dir / "fold00" / "model.keras", compile=False)
    layer = model.get_layer("standardize")
    return np.asarray(layer.mean).ravel(), np.asarray(layer.variance).ravel()


def _shifted_copy(path, rows, shift=1000.0):
    features, labels = _features_and_labels()
    features[rows] += shift
    return write_db(path, features, labels, groups_per_row=24)


def test_standardisation_statistics_come_from_the_training_rows_only(skewed_db, tmp_path):
    _, split, train_rows, _ = _run(skewed_db, tmp_path / "plain")
    mean, variance = _normalization(tmp_path / "plain")

    held_out = _shifted_copy(tmp_path / "held_out.h5", np.concatenate([split.val, split.test]))
    fold, moved_split, _, _ = _run(held_out, tmp_path / "held_out")
    np.testing.assert_array_equal(moved_split.test, split.test)  # the same fold on the copy
    held_mean, held_variance = _normalization(tmp_path / "held_out")
    np.testing.assert_allclose(held_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(held_variance, variance, rtol=1e-5)

    one_training_row = _shifted_copy(tmp_path / "train.h5", train_rows[:1])
    _run(one_training_row, tmp_path / "train")
    train_mean, _ = _normalization(tmp_path / "train")
    assert np.all(train_mean > mean + 1), "shifting a training row moves the statistics"


def test_minmax_scales_the_training_rows_to_unit_range_with_their_own_extremes(skewed_db, tmp_path):
    _, split, train_rows, db = _run(skewed_db, tmp_path / "plain", normalize="minmax")
    low, variance = _normalization(tmp_path / "plain")
    train = db.features(np.sort(train_rows)).reshape(-1, 5)
    np.testing.assert_allclose(low, train.min(0), rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(variance), train.max(0) - train.min(0), rtol=1e-5)
    scaled = (train - low) / np.sqrt(variance)
    np.testing.assert_allclose([scaled.min(), scaled.max()], [0.0, 1.0], atol=1e-5)
    everything = db.features().reshape(-1, 5)
    assert (everything.min(0) < low - 1e-6).any() or (everything.max(0) > train.max(0) + 1e-6).any(), \
        "the held-out rows reach beyond the training range, so a leak would show"
    held_out = _shifted_copy(tmp_path / "held_out.h5", np.concatenate([split.val, split.test]), shift=-1000.0)
    _run(held_out, tmp_path / "held_out", normalize="minmax")
    np.testing.assert_allclose(_normalization(tmp_path / "held_out")[0], low, rtol=1e-6)


def test_disjointness_record_is_computed_from_the_rows_used():
    from serzoo.training.fold import _disjoint

    rows = [np.arange(0, 5), np.arange(5, 8), np.arange(8, 12)]
    assert _disjoint([(rows[0], [0]), (rows[1], [1]), (rows[2], [2])])
    assert not _disjoint([(rows[0], [0]), (np.r_[rows[1], 4], [1]), (rows[2], [2])])  # a row used twice
    assert not _disjoint([(rows[0], [0]), (rows[1], [1]), (rows[2], [1])])  # a group in two parts
    assert _disjoint([(rows[0], []), (rows[1], []), (rows[2], [])])  # no groups: rows decide


@pytest.mark.parametrize("layout_shape, axis", [((70, 130, 3), -1), ((70, 1, 130, 2, 3), -1)])
def test_feature_statistics_are_exact_over_several_blocks_in_memory_and_streamed(layout_shape, axis, monkeypatch):
    """Blocks merged pairwise give float64 mean and variance, even for a large mean with a small spread."""
    from types import SimpleNamespace

    from serzoo.training import batches

    monkeypatch.setattr(batches, "STATS_BLOCK", 1000)  # 9100 or 18200 frames: many uneven blocks
    rng = np.random.default_rng(1)
    x = (rng.normal(size=layout_shape) * [0.01, 1.0, 30.0] + [1e4, -3.0, 0.0]).astype(np.float32)
    reads = []

    def features(rows):
        reads.append(len(rows))
        return x[rows]

    prep = SimpleNamespace(db=SimpleNamespace(layout=SimpleNamespace(feature_axis=axis), features=features))
    flat = x.astype(np.float64).reshape(-1, 3)
    in_memory = batches.feature_stats(prep, x, None)
    assert not reads
    streamed = batches.feature_stats(prep, None, np.arange(len(x))[::-1])
    assert sum(reads) == len(x) and max(reads) <= 256
    for mean, variance in (in_memory, streamed):
        np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-12)
        np.testing.assert_allclose(variance, flat.var(0), rtol=1e-9)
    low, span = batches.feature_range(prep, x, None)
    np.testing.assert_array_equal(low, flat.min(0))
    np.testing.assert_allclose(np.sqrt(span), flat.max(0) - flat.min(0), rtol=1e-12)
