"""Bad input through the CLI: one line, exit status 2, no traceback, nothing half-written left behind."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from serzoo.core.files import TEMP_PREFIX, atomic_path, remove_orphans, write_json
from serzoo.core.errors import OutputError


def _one_line_error(result):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    # progress lines may come first; the error is one line, and the last
    assert len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


@pytest.fixture
def small_db(tmp_path):
    """Four speakers, two classes, 1d features."""
    rng = np.random.default_rng(0)
    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(32, 6, 3))
        f["label"] = np.repeat([[0.0], [1.0]], 16, axis=0)[rng.permutation(32)]
        f["start_indice"] = np.arange(4.0) * 8
        f["end_indice"] = (np.arange(4.0) + 1) * 8
    return path


TINY = ["--blocks", "dense", "--opt", "dense.units=4", "--epochs", "1", "--batch-size", "8", "--max-folds", "1"]


@pytest.mark.parametrize("args,needle", [
    (["--lr", "inf"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "99999999999"], "--seed"),
    (["--clipnorm", "inf"], "--clipnorm"),
    (["--class-weights", "label0=nan/1"], "finite"),
    (["--class-weights", "label0=inf/1"], "finite"),
    (["--class-weights", "label0=0/0"], "all weights are 0"),
    (["--class-weights", "label0=-1/1"], "finite"),
    (["--tasks", "label0:2:0::nan"], "loss weight"),
    (["--tasks", "label0:2:0::-1"], "loss weight"),
    (["--tasks", "label0:2:0::0"], "weight 0"),
])
def test_non_finite_or_negative_weights_are_refused_up_front(invoke, small_db, tmp_path, args, needle):
    result = invoke("train", "--data", small_db, *TINY, "--run-dir", tmp_path / "run", *args)
    assert needle in _one_line_error(result)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,needle", [
    (["--tasks", "label0:2:0:focal", "--loss-opt", "focal.gamma=nan"], "focal.gamma='nan': expected a finite"),
    (["--tasks", "label0:2:0:focal", "--loss-opt", "focal.gamma=-1"], "focal: gamma=-1.0 must be 0 or more"),
    (["--tasks", "label0:2:0:focal", "--loss-opt", "focal.alpha=0,inf"], "expected comma-separated finite"),
    (["--tasks", "label0:2:0:focal", "--loss-opt", "focal.alpha=0,0"], "not all 0"),
    (["--augment", "specaugment", "--augment-opt", "specaugment.time_masks=-1"], "time_masks=-1 must be 0 or more"),
    (["--augment", "mixup", "--augment-opt", "mixup.alpha=inf"], "mixup.alpha='inf'"),
    (["--sampler", "smote", "--sampler-opt", "k_neighbors=0"], "smote: k_neighbors=0 must be at least 1"),
    (["--sampler", "smoteenn", "--sampler-opt", "enn_neighbors=-2"], "enn_neighbors=-2 must be at least 1"),
])
def test_component_options_are_checked_before_anything_runs(invoke, small_db, tmp_path, args, needle):
    """Every kind of component runs its own option check up front (losses and samplers too, not only blocks)."""
    result = invoke("train", "--data", small_db, *TINY, "--run-dir", tmp_path / "run", *args)
    assert needle in _one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_a_diverging_fold_stops_with_its_name_and_epoch(invoke, small_db, tmp_path, register_fake):
    from serzoo.core.registry import Loss

    def exploding(num_classes, class_priors=None):
        import keras

        def loss(y_true, y_pred):
            return keras.ops.mean(y_pred) * np.inf

        return loss

    register_fake("boom", serzoo_register_losses=lambda register: register(
        Loss("boom", "a loss that is infinite", exploding)))
    result = invoke("train", "--data", small_db, *TINY, "--tasks", "label0:2:0:boom", "--run-dir", tmp_path / "run")
    line = _one_line_error(result)
    assert "fold fold0" in line and "epoch 1" in line and "loss" in line


@pytest.mark.parametrize("returned,needle", [
    ([], "non-empty"),
    ([0, 1, 10_000], "position 10000"),
    ([-1, 0], "position -1"),
    ([0.5, 1.0], "integers"),
])
def test_a_sampler_returning_bad_positions_is_stopped(invoke, small_db, tmp_path, register_fake, returned, needle):
    from serzoo.core.registry import Sampler

    register_fake("bad", serzoo_register_samplers=lambda register: register(
        Sampler("bad_sampler", "returns nonsense", lambda y, x, rng, batch_size: returned)))
    result = invoke("train", "--data", small_db, *TINY, "--sampler", "bad_sampler", "--run-dir", tmp_path / "run")
    assert needle in _one_line_error(result)


def test_a_sampler_changing_its_epoch_length_is_stopped(invoke, small_db, tmp_path, register_fake):
    """An epoch's length in steps drives the schedules; a sampler must keep it, and is named when it does not."""
    from serzoo.core.registry import Sampler

    calls = []

    def growing(y, x, rng, batch_size):
        calls.append(1)
        return np.arange(len(y) - 8 + len(calls)) % len(y)

    register_fake("grow", serzoo_register_samplers=lambda register: register(
        Sampler("growing_sampler", "one more row each epoch", growing)))
    result = invoke("train", "--data", small_db, *TINY, "--epochs", "3", "--sampler", "growing_sampler",
                    "--run-dir", tmp_path / "run")
    assert "must give the same number every epoch" in _one_line_error(result)


def test_an_augmenter_failing_mid_run_raises_its_own_error(invoke, small_db, tmp_path, register_fake):
    """tf.data would replace a generator's exception with its own report; the plugin's error comes through."""
    from serzoo.core.registry import Augmenter

    def factory():
        seen = []

        def augment(x, y, w, rng):
            seen.append(1)
            if len(seen) > 3:
                raise FloatingPointError("augmenter broke in batch 4")
            return x, y, w
        return augment

    register_fake("breaks", serzoo_register_augmenters=lambda register: register(
        Augmenter("breaking_aug", "fails on its fourth batch", factory)))
    with pytest.raises(FloatingPointError, match="augmenter broke in batch 4"):
        invoke("train", "--data", small_db, *TINY, "--epochs", "3", "--augment", "breaking_aug",
               "--run-dir", tmp_path / "run")


def test_resume_refuses_another_database_of_the_same_name(invoke, small_db, tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert invoke("train", "--data", small_db, *TINY, "--run-dir", run).exit_code == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(small_db.resolve())  # stored absolute, so a resume elsewhere finds it
    # the run's data is replaced by other data under the same name; a resume must notice
    (run / "fold00" / "result.json").unlink()
    with h5py.File(small_db, "r+") as f:
        f["label"][0, 0] = 1 - f["label"][0, 0]
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(invoke("train", "--resume", run))
    assert "not the database this run started on" in line and "labels differ" in line


def test_resume_with_a_corrupt_configuration_or_fold_result_is_one_line(invoke, small_db, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--data", small_db, *TINY, "--run-dir", run).exit_code == 0
    shutil.copy(run / "config.json", tmp_path / "config.bak")
    (run / "config.json").write_text("{not json")
    assert "config.json" in _one_line_error(invoke("train", "--resume", run))
    (run / "config.json").write_text(json.dumps({"epochs": "many"}))
    assert "config.json" in _one_line_error(invoke("train", "--resume", run))
    shutil.copy(tmp_path / "config.bak", run / "config.json")
    (run / "fold00" / "result.json").write_text("[1, 2]")
    assert "result.json" in _one_line_error(invoke("train", "--resume", run))


def test_atomic_path_leaves_nothing_on_failure_and_uses_the_umask(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": 1})
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_a_planted_symlink_at_a_temporary_name_is_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # a guessable temporary name would have been .out.json.<pid>.tmp; plant links at likely names
    for name in (f"{TEMP_PREFIX}out.json.", ".out.json.tmp"):
        (tmp_path / name).symlink_to(victim)
    write_json(tmp_path / "out.json", {"a": 1})
    assert victim.read_text() == "keep me"


def test_write_failures_become_one_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="in the way"):
        write_json(blocker / "sub" / "out.json", {})


def test_orphaned_temporaries_are_removed(tmp_path):
    (tmp_path / f"{TEMP_PREFIX}model.keras.abc123.keras").write_text("orphan")
    (tmp_path / "model.keras").write_text("real")
    assert [p.name for p in remove_orphans(tmp_path)] == [f"{TEMP_PREFIX}model.keras.abc123.keras"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _db_with_labels(path, labels):
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f["feat"] = rng.normal(size=(len(labels), 4, 3))
        f["label"] = np.asarray(labels, dtype=np.float64).reshape(-1, 1)
        f["start_indice"] = np.arange(4.0) * (len(labels) // 4)
        f["end_indice"] = (np.arange(4.0) + 1) * (len(labels) // 4)
    return path


@pytest.mark.parametrize("labels,needle", [
    ([0, 1, 2, 999] * 8, "not the class indices 0..K-1"),
    ([0] * 32, "needs at least 2 classes"),
    ([0, 1, 1e6, 2] * 8, "not the class indices 0..K-1"),
])
def test_the_class_count_is_never_guessed_from_a_stray_label(invoke, tmp_path, labels, needle):
    db = _db_with_labels(tmp_path / "db.h5", labels)
    assert needle in _one_line_error(invoke("train", "--data", db, *TINY, "--dry-run"))


def test_labels_beyond_a_given_class_count_or_fractional_are_named(invoke, tmp_path):
    db = _db_with_labels(tmp_path / "db.h5", [0, 1, 2, 3] * 8)
    assert "not a class index below 3" in _one_line_error(
        invoke("train", "--data", db, *TINY, "--tasks", "label0:3:0", "--dry-run"))
    db = _db_with_labels(tmp_path / "db2.h5", [0.5, 1.0, 2.0, 3.0] * 8)
    assert "non-integer" in _one_line_error(invoke("train", "--data", db, *TINY, "--tasks", "label0:4:0", "--dry-run"))


def test_non_integer_labels_without_tasks_are_regression(invoke, tmp_path):
    db = _db_with_labels(tmp_path / "db.h5", np.linspace(-1, 1, 32))
    result = invoke("train", "--data", db, *TINY, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "label0" in result.output and "Dense" in result.output


def test_data_build_never_overwrites_its_input_and_asks_before_replacing(invoke, tmp_path):
    from serzoo.data.demo import write_demo_audio

    meta = write_demo_audio(tmp_path / "audio", speakers=2, per_class=1)
    before = meta.read_bytes()
    line = _one_line_error(invoke("data", "build", meta, "-o", meta, "-q"))
    assert "input of this command" in line and meta.read_bytes() == before
    out = tmp_path / "db.h5"
    out.write_text("precious")
    assert "--force" in _one_line_error(invoke("data", "build", meta, "-o", out, "-q"))
    assert out.read_text() == "precious"
    result = invoke("data", "build", meta, "-o", out, "-q", "--force")
    assert result.exit_code == 0 and h5py.is_hdf5(out)
    assert result.stdout.startswith("Wrote ")  # the result line is on stdout, for scripts


def test_per_speaker_standardisation_uses_each_groups_own_rows_only():
    from serzoo.data.database import Database
    from serzoo.data.normalize import standardize_by_group

    rng = np.random.default_rng(0)
    feat = np.concatenate([rng.normal(5, 2, (10, 4, 3)), rng.normal(-3, 0.5, (10, 4, 3))])
    groups = np.repeat([0, 1], 10)
    db = Database(feat.copy(), np.zeros((20, 1)), file_layout="1d", groups=[(0, 10), (10, 20)])
    standardize_by_group(db, groups, -1)
    x = db.features()
    for g in (0, 1):
        block = x[groups == g].reshape(-1, 3)
        np.testing.assert_allclose(block.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(block.std(0), 1, atol=1e-3)
    # changing speaker 1's features leaves speaker 0's standardised features as they were
    other = feat.copy()
    other[10:] *= 7
    db2 = Database(other, np.zeros((20, 1)), file_layout="1d", groups=[(0, 10), (10, 20)])
    standardize_by_group(db2, groups, -1)
    np.testing.assert_allclose(db2.features()[:10], x[:10], rtol=1e-6)


def test_speaker_normalisation_is_marked_transductive(invoke, small_db, tmp_path):
    result = invoke("train", "--data", small_db, *TINY, "--normalize", "speaker", "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["normalization"]["transductive"] is True
    assert "TRANSDUCTIVE" in (tmp_path / "run" / "results.txt").read_text()
    assert json.loads((tmp_path / "run" / "fold00" / "result.json").read_text())["normalization"] == "speaker"


def test_max_folds_says_folds_were_skipped(invoke, small_db, tmp_path):
    assert invoke("train", "--data", small_db, *TINY, "--run-dir", tmp_path / "run").exit_code == 0
    text = (tmp_path / "run" / "results.txt").read_text()
    assert "1 fold of 4 (--max-folds 1: 3 folds skipped)" in text and "1 folds" not in text
