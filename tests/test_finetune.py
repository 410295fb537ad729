"""Pretrained models, frozen layers, unfreezing, adaptation as a second stage and the final model, on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core.errors import ConfigError
from serzoo.training.config import TrainConfig

TINY = dict(tasks="emotion:3:0", blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=3, batch_size=16,
            patience=0, checkpoint_seconds=0.0)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """4 speakers of 24 rows (6 steps x 5 features), 3 emotions, a binary arousal label."""
    rng = np.random.default_rng(0)
    emo = np.array([0] * 12 + [1] * 8 + [2] * 4)
    x = np.concatenate([rng.normal(size=(24, 6, 5)) + emo[:, None, None] for _ in range(4)])
    labels = np.tile(np.stack([emo, emo > 0], axis=1), (4, 1)).astype(float)
    path = tmp_path_factory.mktemp("ft") / "tiny.h5"
    with h5py.File(path, "w") as f:
        f["feat"], f["label"] = x, labels
        f["start_indice"], f["end_indice"] = np.arange(4.0) * 24, (np.arange(4.0) + 1) * 24
    return path


def _train(db, run_dir, **overrides):
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    run(prepare(TrainConfig(data=str(db), **{**TINY, **overrides})), run_dir, echo=lambda m: None)
    return run_dir


@pytest.fixture(scope="module")
def background(db, tmp_path_factory) -> Path:
    """A final model trained on speakers 0 and 1 only (the 'background model' of the original's pretrained.sh)."""
    return _train(db, tmp_path_factory.mktemp("bg") / "run", final=True, train_groups="0,1")


def _weights(path: Path) -> dict[str, list[np.ndarray]]:
    from serzoo.model.serialization import load_model

    model, _ = load_model(path, compile=False)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_final_model_trains_on_all_selected_rows_and_has_no_test_score(background):
    results = json.loads((background / "results.json").read_text())
    assert results["test"] is None and "no test score" in results["no_test_score"]
    assert results["final"]["rows"] == 48 and results["final"]["group_names"] == ["0", "1"]
    fold = results["result"]
    assert fold["rows"] == {"train": 48, "val": 0, "test": 0, "adapt": 0} and fold["test"] is None
    assert fold["epochs_run"] == 3  # no validation: never stops early
    assert "NO TEST SCORE" in (background / "results.txt").read_text()
    from serzoo.model.serialization import read_metadata

    meta = read_metadata(background / "final" / "model.keras")
    assert meta["trained_on"]["group_names"] == ["0", "1"] and meta["final"]["epochs"] == 3


def test_finetune_frozen_block_stays_bit_identical_and_the_rest_trains(db, background, tmp_path):
    run = _train(db, tmp_path / "ft", init_from=str(background), freeze="b1_fcn", ignore_groups="0,1",
                 max_folds=1, learning_rate=0.05)
    before = _weights(background / "final" / "model.keras")
    after = _weights(run / "fold00" / "model.keras")
    for a, b in zip(before["b1_fcn_dense1"], after["b1_fcn_dense1"]):
        np.testing.assert_array_equal(a, b)  # frozen: not one bit moved
    for name in ("b2_dense_dense1", "emotion"):
        assert not np.array_equal(before[name][0], after[name][0]), f"{name} did not train"
    result = json.loads((run / "fold00" / "result.json").read_text())
    assert result["init"]["loaded"] == ["b1_fcn_dense1", "b2_dense_dense1", "emotion"]
    assert [n["layer"] for n in result["init"]["new"]] == ["standardize"]
    assert result["frozen"]["layers"] == ["b1_fcn_dense1", "b1_fcn_1_act"]
    assert "none is tested in this fold" in result["leakage_checks"]["pretrained_model"]


def test_load_report_names_new_heads_misfits_and_appended_blocks(db, background, tmp_path):
    run = _train(db, tmp_path / "ft", init_from=str(background), ignore_groups="0,1", max_folds=1, epochs=1,
                 tasks="emotion:3:0,arousal:2:1", blocks="fcn,dense,dense",
                 opts=["fcn.units=8", "dense.units=8"])
    report = json.loads((run / "fold00" / "result.json").read_text())["init"]
    assert report["loaded"] == ["b1_fcn_dense1", "b2_dense_dense1", "emotion"]
    new = {n["layer"]: n["why"] for n in report["new"]}
    assert new["arousal"] == "new task" and new["b3_dense_dense1"] == "not in the pretrained model"
    assert report["did_not_fit"] == []

    run = _train(db, tmp_path / "misfit", init_from=str(background), ignore_groups="0,1", max_folds=1, epochs=1,
                 opts=["fcn.units=8", "dense.units=4"])
    report = json.loads((run / "fold00" / "result.json").read_text())["init"]
    misfit = {d["layer"]: (d["pretrained"], d["here"]) for d in report["did_not_fit"]}
    assert misfit["b2_dense_dense1"] == ([[8, 8], [8]], [[8, 4], [4]])
    assert misfit["emotion"] == ([[8, 3], [3]], [[4, 3], [3]])
    assert report["loaded"] == ["b1_fcn_dense1"]


@pytest.mark.parametrize("spec, message", [
    ("0:40", "layer index 40 is beyond the model, which has 12 layers (0..11"),
    ("b1_fcn_dense9", "no layer or block of that name; blocks: fcn, dense; layers: features, standardize"),
    ("lstm", "--freeze lstm: no layer or block"),
])
def test_freeze_errors_are_one_line_exit_2(invoke, db, tmp_path, spec, message):
    result = invoke("train", "--data", db, "--tasks", "emotion:3:0", "--blocks", "fcn,dense", "--freeze", spec,
                    "--run-dir", tmp_path / "r")
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) <= 2  # the data line and the error
    assert not (tmp_path / "r").exists()


def test_freeze_by_original_index_range_and_dry_run_lists_layers(invoke, db):
    result = invoke("train", "--data", db, "--tasks", "emotion:3:0", "--blocks", "fcn,dense", "--freeze", "0:2,11",
                    "--dry-run")
    assert result.exit_code == 0
    assert "    2  b1_fcn_dense1  (frozen)" in result.output and "   11  emotion  (frozen)" in result.output
    assert "    3  b1_fcn_1_act\n" in result.output and "    7  b2_dense_dense1\n" in result.output


def test_init_from_refuses_a_model_that_trained_on_a_test_speaker(db, background):
    from serzoo.training.prepare import prepare

    with pytest.raises(ConfigError, match="trained on group 0, which fold fold0 tests"):
        prepare(TrainConfig(data=str(db), init_from=str(background), **TINY))


def test_init_from_a_cross_validation_run_asks_for_one_model(db, background, tmp_path):
    from serzoo.training.pretrained import resolve_source

    for fold in ("fold00", "fold01"):
        (tmp_path / fold).mkdir()
        (tmp_path / fold / "model.keras").write_bytes(b"")
    with pytest.raises(ConfigError, match="the run has 2 fold models; give one"):
        resolve_source(tmp_path)
    assert resolve_source(background) == background / "final" / "model.keras"


class Killed(Exception):
    pass


def _kill_at(line_start: str):
    def echo(message):
        if message.strip().startswith(line_start):
            raise Killed(message)
    return echo


@pytest.mark.parametrize("kill_at", ["epoch 1/4", "epoch 3/4"])  # before and after the unfreezing
def test_unfreeze_after_trains_the_frozen_block_and_resumes_exactly(db, background, tmp_path, kill_at):
    from serzoo.training.prepare import prepare
    from serzoo.training.run import run

    config = dict(init_from=str(background), freeze="b1_fcn", unfreeze_after=2, epochs=4, ignore_groups="0,1",
                  max_folds=1, dropout=0.3, learning_rate=0.05, val_share=0.0)  # the last epoch is kept
    straight = _train(db, tmp_path / "straight", **config)
    w0 = _weights(background / "final" / "model.keras")["b1_fcn_dense1"][0]
    assert not np.array_equal(w0, _weights(straight / "fold00" / "model.keras")["b1_fcn_dense1"][0])
    log = (straight / "fold00" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1", "2", "3"]  # both phases in one log

    killed = tmp_path / "killed"
    with pytest.raises(Killed):
        run(prepare(TrainConfig(data=str(db), **{**TINY, **config})), killed, echo=_kill_at(kill_at))
    assert (killed / "fold00" / "last.keras").exists() and not (killed / "fold00" / "result.json").exists()
    run(prepare(TrainConfig(data=str(db), **{**TINY, **config})), killed, echo=lambda m: None)
    a = np.load(straight / "fold00" / "predictions.npz")["pred_emotion"]
    b = np.load(killed / "fold00" / "predictions.npz")["pred_emotion"]
    np.testing.assert_array_equal(a, b)


def test_adaptation_is_a_second_stage_reporting_before_and_after(db, tmp_path):
    common = dict(protocol="fixed", test_groups="0", train_groups="2", val_groups="3", learning_rate=0.05)
    plain = _train(db, tmp_path / "plain", **common)
    adapted = _train(db, tmp_path / "adapted", adapt_groups="1", adapt_epochs=2, adapt_lr=0.05, **common)
    # the training stage never saw the adaptation rows: its test outputs equal the run without adaptation
    np.testing.assert_array_equal(np.load(plain / "fold00" / "predictions.npz")["pred_emotion"],
                                  np.load(adapted / "fold00" / "predictions_before_adaptation.npz")["pred_emotion"])
    after = np.load(adapted / "fold00" / "predictions.npz")["pred_emotion"]
    assert not np.array_equal(after, np.load(plain / "fold00" / "predictions.npz")["pred_emotion"])
    result = json.loads((adapted / "fold00" / "result.json").read_text())
    assert result["rows"] == {"train": 24, "val": 24, "test": 24, "adapt": 24}
    assert result["adaptation"]["groups"] == [1] and result["adaptation"]["epochs"] == 2
    assert result["adaptation"]["test_before"] == json.loads((plain / "fold00" / "result.json").read_text())["test"]
    assert result["leakage_checks"]["disjoint_rows_and_groups"] is True
    text = (adapted / "results.txt").read_text()
    assert "adaptation to groups 1" in text and "test scores before -> after" in text


def test_final_takes_the_median_best_epoch_of_a_run_and_refuses_test_options(db, tmp_path):
    from serzoo.training.prepare import prepare

    cv = tmp_path / "cv"
    cv.mkdir()
    (cv / "results.json").write_text(json.dumps({"folds": [{"best_epoch": e} for e in (2, 7, 3, 1, 5)]}))
    prep = prepare(TrainConfig(data=str(db), **{**TINY, "final": True, "epochs_from": str(cv)}))
    assert prep.config.epochs == 3 and len(prep.splits) == 1 and len(prep.splits[0].train) == 96
    with pytest.raises(ConfigError, match="drop --test-groups"):
        prepare(TrainConfig(data=str(db), **{**TINY, "final": True, "test_groups": "1"}))
    with pytest.raises(ConfigError, match="--epochs-from goes with --final"):
        prepare(TrainConfig(data=str(db), **{**TINY, "epochs_from": str(cv)}))


def test_cli_final_needs_its_epochs(invoke, db, tmp_path):
    result = invoke("train", "--data", db, "--final", "--run-dir", tmp_path / "r")
    assert result.exit_code == 2 and "--epochs-from RUN_DIR" in result.output


def test_init_from_a_model_that_fits_nowhere_is_refused(db, background, tmp_path):
    with pytest.raises(ConfigError, match="no layer of it fits this model"):
        _train(db, tmp_path / "x", init_from=str(background), ignore_groups="0,1", max_folds=1, blocks="dense",
               opts=["dense.units=4"])
