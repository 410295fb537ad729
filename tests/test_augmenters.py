"""Augmenters: every registered one through the matrix, and proof that only training batches reach them."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.registry import Augmenter
from serzoo.training.config import TrainConfig

SHAPES = {"volume": (6, 3, 4, 1), "frames": (6, 3, 4, 1), "sequence": (6, 4), "vector": (8,)}


def _cases():
    plugin_manager.reset()
    cases = [(a.name, lay) for a in plugin_manager.augmenters() for lay in a.layouts]
    plugin_manager.reset()
    return cases


def _batch(layout, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, *SHAPES[layout])).astype(np.float32)
    y = {"emotion": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)], "score": rng.normal(size=(8, 1)).astype(np.float32)}
    w = {"emotion": np.ones(8, np.float32), "score": np.ones(8, np.float32)}
    return x, y, w


@pytest.mark.parametrize("name,layout", _cases())
def test_every_augmenter_keeps_shapes_is_finite_deterministic_and_leaves_its_input(name, layout):
    aug = plugin_manager.augmenters().get(name)
    fn = aug.factory(**aug.defaults())
    x, y, w = _batch(layout)
    before = x.copy()
    out1 = fn(x, y, w, np.random.default_rng([1, 2, 3]))
    out2 = fn(x, y, w, np.random.default_rng([1, 2, 3]))
    np.testing.assert_array_equal(x, before)  # the caller's batch is not modified in place
    assert out1[0].shape == x.shape and np.isfinite(out1[0]).all()
    for task in y:
        assert out1[1][task].shape == y[task].shape and out1[2][task].shape == w[task].shape
    np.testing.assert_array_equal(out1[0], out2[0])  # same seed, same augmentation
    other = fn(x, y, w, np.random.default_rng([9, 9, 9]))
    assert not np.array_equal(out1[0], other[0])  # it does something, and the seed matters


def test_mixup_keeps_targets_distributions():
    fn = plugin_manager.augmenters().get("mixup").factory(alpha=0.4)
    x, y, w = _batch("sequence")
    _, y2, _ = fn(x, y, w, np.random.default_rng(0))
    np.testing.assert_allclose(y2["emotion"].sum(axis=1), 1.0, rtol=1e-6)


def test_specaugment_masks_whole_bands_of_time_and_features():
    fn = plugin_manager.augmenters().get("specaugment").factory(time_masks=1, time_width=0.5, freq_masks=1,
                                                                   freq_width=0.5, p=1.0)
    x = np.ones((4, 20, 10), np.float32)
    out, _, _ = fn(x, {}, {}, np.random.default_rng(3))
    zero_steps = (out == 0).all(axis=2).sum(axis=1)
    zero_feats = (out == 0).all(axis=1).sum(axis=1)
    assert (zero_steps > 0).any() and (zero_feats > 0).any()
    assert ((out == 0) | (out == 1)).all()


@pytest.fixture
def distinct_db(tmp_path):
    """Each row's features carry its row number, so a spy can tell which rows it saw."""
    path = tmp_path / "rows.h5"
    n = 32
    feat = np.zeros((n, 4, 3))
    feat[:, :, 0] = np.arange(n)[:, None]
    with h5py.File(path, "w") as f:
        f["feat"] = feat
        f["label"] = (np.arange(n) % 2).astype(float).reshape(-1, 1)
        f["start_indice"] = np.arange(4.0) * 8
        f["end_indice"] = (np.arange(4.0) + 1) * 8
    return path


def test_augmenters_see_training_rows_only(distinct_db, tmp_path, register_fake):
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    seen = []

    def spy():
        def augment(x, y, w, rng):
            seen.append(np.unique(x[:, :, 0]).astype(int))
            return x, y, w

        return augment

    register_fake("spy", serzoo_register_augmenters=lambda register: register(
        Augmenter("spy", "records the rows it augments", spy)))
    config = TrainConfig(data=str(distinct_db), blocks="dense", opts=["dense.units=2"], epochs=2, batch_size=8,
                         max_folds=1, augment="spy", normalize="none", seed=0)
    prep = prepare(config)
    run(prep, tmp_path / "run", echo=lambda m: None)
    split = prep.splits[0]
    rows = np.unique(np.concatenate(seen))
    np.testing.assert_array_equal(rows, np.sort(split.train))  # every training row, nothing else
    assert not set(rows) & (set(split.val) | set(split.test))
    import json

    record = json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())["augmentation"]
    assert record["rows"] == 2 * len(split.train) and record["augmenters"][0]["name"] == "spy"


@pytest.mark.parametrize("args,needle", [
    (["--augment", "specaugmnet"], "did you mean specaugment"),
    (["--augment", "mixup", "--augment-opt", "mixup.alpha=0"], "alpha=0.0 must be positive"),
    (["--augment", "mixup", "--augment-opt", "noise.snr_db=3"], "noise is not in --augment"),
])
def test_bad_augment_options_are_one_line(invoke, distinct_db, args, needle):
    result = invoke("train", "--data", distinct_db, "--blocks", "dense", "--dry-run", *args)
    assert result.exit_code == 2 and needle in result.output.strip().splitlines()[-1]


def test_seed_ensembles_average_the_members_outputs(distinct_db, tmp_path):
    import json

    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = TrainConfig(data=str(distinct_db), blocks="dense", opts=["dense.units=2"], epochs=1, batch_size=8,
                         max_folds=1, seeds="3,4")
    run(prepare(config), tmp_path / "run", echo=lambda m: None)
    fold = tmp_path / "run" / "fold00"
    members = [np.load(fold / f"seed{s}" / "predictions.npz")["pred_label0"] for s in (3, 4)]
    ensemble = np.load(fold / "predictions.npz")["pred_label0"]
    assert not np.allclose(members[0], members[1])  # different seeds, different models
    np.testing.assert_allclose(ensemble, (members[0] + members[1]) / 2, rtol=1e-6)
    result = json.loads((fold / "result.json").read_text())
    assert result["ensemble"]["seeds"] == [3, 4] and [m["seed"] for m in result["seeds"]] == [3, 4]


def test_tempo_stretches_time_and_keeps_each_frame():
    fn = plugin_manager.augmenters().get("tempo").factory(low=0.5, high=0.5, p=1.0)
    x = np.arange(10, dtype=np.float32).reshape(1, 10, 1) * np.ones((1, 10, 3), np.float32)
    out, _, _ = fn(x, {}, {}, np.random.default_rng(0))
    # half speed: output step t shows input time t/2, so steps ramp by 0.5 and every feature moves together
    np.testing.assert_allclose(out[0, :, 0], np.arange(10) * 0.5)
    np.testing.assert_allclose(out[0, :, 1], out[0, :, 2])
    fast = plugin_manager.augmenters().get("tempo").factory(low=2.0, high=2.0)(x, {}, {}, np.random.default_rng(0))[0]
    np.testing.assert_allclose(fast[0, :5, 0], [0, 2, 4, 6, 8])
    assert (fast[0, 5:] == 0).all()  # the end is padded, as in the database
