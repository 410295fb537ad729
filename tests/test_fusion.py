"""Late fusion of finished runs: the mean of their outputs on the same test rows, refused across corpora."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

TINY = ["--blocks", "dense", "--opt", "dense.units=4", "--epochs", "1", "--batch-size", "8", "--max-folds", "2"]


def _db(path, seed=0, flip=False):
    rng = np.random.default_rng(seed)
    labels = np.tile([0.0, 1.0], 16).reshape(-1, 1)
    if flip:
        labels = 1 - labels
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(32, 5))
        f["label"] = labels
        f["start_indice"] = np.arange(4.0) * 8
        f["end_indice"] = (np.arange(4.0) + 1) * 8
    return path


def test_fused_outputs_are_the_mean_of_the_runs(invoke, tmp_path):
    a, b = _db(tmp_path / "a.h5", 0), _db(tmp_path / "b.h5", 1)  # other features, same corpus
    assert invoke("train", "--data", a, *TINY, "--run-dir", tmp_path / "ra").exit_code == 0
    assert invoke("train", "--data", b, *TINY, "--run-dir", tmp_path / "rb", "--seed", "0").exit_code == 0
    result = invoke("fuse", tmp_path / "ra", tmp_path / "rb", "-o", tmp_path / "fused")
    assert result.exit_code == 0, result.output
    for fold in range(2):
        pa, pb, pf = (np.load(tmp_path / r / f"fold{fold:02d}" / "predictions.npz") for r in ("ra", "rb", "fused"))
        np.testing.assert_allclose(pf["pred_label0"], (pa["pred_label0"] + pb["pred_label0"]) / 2, rtol=1e-6)
    fused = json.loads((tmp_path / "fused" / "results.json").read_text())
    assert fused["fusion"]["runs"] == [str(tmp_path / "ra"), str(tmp_path / "rb")]
    assert len(fused["folds"]) == 2 and "uar" in fused["summary"]["label0"]
    # per-group scores of the fused outputs (one test group per fold here: equal to the fold's)
    for fold in fused["folds"]:
        (name,) = fold["groups"]["test_names"]
        assert fold["groups_test"]["label0"][name]["uar"] == pytest.approx(fold["test"]["label0"]["uar"])
    assert fused["summary"]["label0"]["uncertainty"]["over_groups"]["n"] == 2


def test_runs_on_other_labels_are_not_fused(invoke, tmp_path):
    a, b = _db(tmp_path / "a.h5"), _db(tmp_path / "b.h5", flip=True)
    assert invoke("train", "--data", a, *TINY, "--run-dir", tmp_path / "ra").exit_code == 0
    assert invoke("train", "--data", b, *TINY, "--run-dir", tmp_path / "rb").exit_code == 0
    result = invoke("fuse", tmp_path / "ra", tmp_path / "rb", "-o", tmp_path / "fused")
    assert result.exit_code == 2 and "labels differ" in result.output
    assert not (tmp_path / "fused").exists()
