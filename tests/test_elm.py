"""The ELM back-end (the original's --post_elm): statistics of frame posteriors, the closed-form fit, `serzoo elm`."""

from __future__ import annotations

import json

import h5py
import numpy as np
from serzoo.training.elm import ELM, posterior_statistics


def test_posterior_statistics_per_class():
    p = np.array([[[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.3, 0.7]]])
    stats = posterior_statistics(p, threshold=0.4)
    np.testing.assert_allclose(stats[0], [0.9, 0.1, 0.45, 0.5, 0.9, 0.1, 0.55, 0.75])


def test_elm_solves_the_ridge_output_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    targets = np.eye(2)[y]
    model = ELM(hidden=40, c=10.0, seed=3).fit(x, targets)
    h = 1 / (1 + np.exp(-(x @ model.weights + model.bias)))
    # the normal equations of ridge regression hold at the solution
    np.testing.assert_allclose(h.T @ (h @ model.beta - targets) + model.beta / 10.0, 0, atol=1e-8)
    assert (model.predict(x).argmax(1) == y).mean() > 0.9
    np.testing.assert_array_equal(ELM(hidden=40, c=10.0, seed=3).fit(x, targets).beta, model.beta)


def _tiny(path):
    rng = np.random.default_rng(0)
    labels = np.arange(36) % 3
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(36, 8, 4)) + labels[:, None, None]
        f["label"] = labels[:, None].astype(float)
        f["start_indice"] = np.array([0.0, 12, 24])
        f["end_indice"] = np.array([12.0, 24, 36])
    return path


def test_elm_command_over_a_frame_level_run(tmp_path, invoke):
    data = _tiny(tmp_path / "tiny.h5")
    common = ["--data", data, "--blocks", "cnn1d", "--opt", "cnn1d.filters=4", "--tasks", "label0:3:0", "--epochs",
              "2", "--batch-size", "12", "--max-folds", "2"]
    assert invoke("train", *common, "--frame-heads", "--run-dir", tmp_path / "run").exit_code == 0
    result = invoke("elm", tmp_path / "run", "-o", tmp_path / "elm", "--hidden", "20")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "elm" / "results.json").read_text())
    assert len(results["folds"]) == 2 and results["elm"]["hidden"] == 20
    run = json.loads((tmp_path / "run" / "results.json").read_text())
    for mine, theirs in zip(results["folds"], run["folds"]):
        assert mine["groups"]["test"] == theirs["groups"]["test"]
        assert np.sum(mine["test"]["label0"]["confusion"]) == np.sum(theirs["test"]["label0"]["confusion"])
    saved = np.load(tmp_path / "elm" / "fold00" / "predictions.npz")
    assert saved["pred_label0"].shape == (12, 3)
    plain = invoke("train", *common[:-2], "--max-folds", "1", "--epochs", "1", "--run-dir", tmp_path / "plain")
    assert plain.exit_code == 0
    refused = invoke("elm", tmp_path / "plain", "-o", tmp_path / "elm2")
    assert refused.exit_code == 2 and "train with --frame-heads" in refused.output


def test_elm_fits_on_training_rows_only(tmp_path, monkeypatch):
    """A spy on the ELM's fit sees exactly the fold's training rows (their count and labels)."""
    from serzoo.training import elm as elm_module
    from serzoo.training.config import TrainConfig
    from serzoo.training.prepare import prepare
    from serzoo.training.rundir import start_run
    from serzoo.training.run import run

    data = _tiny(tmp_path / "tiny.h5")
    config = TrainConfig(data=str(data), blocks="cnn1d", opts=["cnn1d.filters=4"], tasks="label0:3:0", epochs=1,
                         batch_size=12, max_folds=1, frame_heads=True, jit_compile=False)
    prep = prepare(config)
    start_run(tmp_path / "run", config, prep.db)
    run(prep, tmp_path / "run", echo=lambda m: None)
    seen = []
    original = ELM.fit
    monkeypatch.setattr(elm_module.ELM, "fit", lambda self, x, t: seen.append(t) or original(self, x, t))
    elm_module.elm_run(tmp_path / "run", tmp_path / "elm", elm=ELM(hidden=10))
    split = prep.splits[0]
    train = np.concatenate([split.train, split.adapt])
    assert len(seen) == 1 and len(seen[0]) == len(train)
    np.testing.assert_array_equal(seen[0].argmax(1), prep.db.labels[train, 0])
