"""Aggregated corpora: `serzoo data merge`, masked tasks in training and evaluation, leave one corpus out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from serzoo.core.errors import ConfigError, DataError, OutputError
from serzoo.data.labels import MISSING_CLASS
from serzoo.data.loading import open_database
from serzoo.data.merge import merge_databases
from serzoo.training.config import TrainConfig

TINY = dict(blocks="fcn,dense", opts=["fcn.units=8", "dense.units=8"], epochs=1, batch_size=8, patience=0,
            jit_compile=False)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    """Corpus ``a``: 4 emotions, arousal, valence, 2 speakers; ``b``: neutral/angry only, no valence, 3 speakers."""
    from serzoo.data.demo import make_demo

    folder = tmp_path_factory.mktemp("corpora")
    a = make_demo(folder / "a.h5", speakers=2, per_class=2, max_steps=12)
    b = make_demo(folder / "b.h5", seed=1, speakers=3, per_class=2, max_steps=12, emotions=("neutral", "angry"),
                  labels=("emotion", "arousal"))
    return a, b


@pytest.fixture(scope="module")
def merged(corpora, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("merged") / "all.h5"
    return merge_databases(corpora, out)


def test_merge_joins_labels_by_class_name_and_masks_the_missing_task(corpora, merged):
    with open_database(corpora[0]) as a, open_database(corpora[1]) as b, open_database(merged) as m:
        assert m.label_names == ["emotion", "arousal", "valence"]
        assert m.class_names["emotion"] == ["neutral", "happy", "angry", "sad"]
        assert m.attrs["masked_labels"] == ["valence"]
        corpus = m.grouping("corpus")
        assert corpus.names == ["a", "b"] and corpus.sizes() == [a.n_rows, b.n_rows]
        # speakers stay apart per corpus and are the default grouping (rows ordered by them)
        assert m.grouping().name == "speaker"
        assert m.grouping("speaker").names == ["a/0", "a/1", "b/0", "b/1", "b/2"]
        for source, name in ((a, "a"), (b, "b")):
            rows = m.grouping("corpus").rows([m.grouping("corpus").names.index(name)])
            index = [source.utterances.index(u.split("/", 1)[1]) for u in np.asarray(m.utterances)[rows]]
            # features copied bit for bit, labels mapped by class name
            np.testing.assert_array_equal(m.features(rows), source.features(np.array(index)))
            names = [source.class_names["emotion"][int(v)] for v in source.labels[index, 0]]
            assert [m.class_names["emotion"][int(v)] for v in m.labels[rows, 0]] == names
        b_rows = m.grouping("corpus").rows([1])
        assert (m.labels[b_rows, 2] == MISSING_CLASS).all()
        assert m.describe()["tasks"][2]["missing"] == len(b_rows)


def test_map_renames_classes_and_an_empty_target_masks_rows(corpora, tmp_path):
    out = merge_databases(corpora, tmp_path / "m.h5", maps=["emotion=angry:anger,sad:"])
    with open_database(out) as m, open_database(corpora[0]) as a:
        assert m.class_names["emotion"] == ["neutral", "happy", "anger"]
        assert "emotion" in m.attrs["masked_labels"]
        sad = int((a.labels[:, 0] == a.class_names["emotion"].index("sad")).sum())
        assert int((m.labels[:, 0] == MISSING_CLASS).sum()) == sad


def test_per_corpus_tasks_and_label_rename(corpora, tmp_path):
    out = merge_databases(corpora, tmp_path / "m.h5", per_corpus="emotion", names="x,y", maps=["arousal:act"])
    with open_database(out) as m:
        assert m.label_names == ["emotion_x", "act", "valence", "emotion_y"]
        assert m.class_names["emotion_y"] == ["neutral", "angry"]
        x_rows = m.grouping("corpus").rows([0])
        assert (m.labels[x_rows, 3] == MISSING_CLASS).all() and (m.labels[x_rows, 0] >= 0).all()


def test_where_keeps_one_corpus_and_a_merged_file_keeps_its_names(merged, tmp_path):
    out = merge_databases([merged], tmp_path / "b_only.h5", where={"corpus": ["b"]})
    with open_database(out) as m:
        assert m.grouping("corpus").names == ["b"]
        assert m.grouping("speaker").names == ["b/0", "b/1", "b/2"]
        assert all(u.startswith("b/") for u in m.utterances)


def test_mismatched_features_are_refused_in_one_line(corpora, tmp_path):
    other = tmp_path / "other.h5"
    shutil.copy(corpora[1], other)
    with h5py.File(other, "r+") as f:
        settings = json.loads(f.attrs["features"])
        settings["extractors"][0]["options"]["n_mels"] = 64
        f.attrs["features"] = json.dumps(settings)
    with pytest.raises(DataError, match=r"differ in feature setting extractors\.0\.options\.n_mels: 64 vs 40"):
        merge_databases([corpora[0], other], tmp_path / "m.h5")
    short = tmp_path / "short.h5"
    with h5py.File(short, "w") as f:
        f["feat"] = np.zeros((4, 5, 40))
        f["label"] = np.zeros((4, 1))
    with pytest.raises(DataError, match=r"differ in feature layout/shape: 1d \(5, 40\) vs 1d \(12, 40\)"):
        merge_databases([corpora[0], short], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_outputs_are_never_inputs_and_existing_files_need_force(corpora, merged, tmp_path, invoke):
    with pytest.raises(OutputError, match="that is an input of this command"):
        merge_databases([corpora[0], merged], merged, force=True)
    result = invoke("data", "merge", corpora[0], corpora[1], "-o", merged, "-q")
    assert result.exit_code == 2 and "give --force to replace it" in result.output
    out = tmp_path / "cli.h5"
    result = invoke("data", "merge", *corpora, "-o", out, "-q", "--map", "emotion=nosuch:x")
    assert result.exit_code == 2 and "no input has class 'nosuch' in label 'emotion'" in result.output
    result = invoke("data", "merge", *corpora, "-o", out, "-q")
    assert result.exit_code == 0 and "valence (2, 12 rows masked)" in result.output


def test_mask_outside_masked_labels_is_still_a_broken_label(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["feat"] = np.zeros((4, 3))
        f["label"] = np.array([[0.0], [1.0], [-1.0], [1.0]])
        f.attrs["class_names"] = json.dumps({"label0": ["x", "y"]})
    with pytest.raises(DataError, match="row 2 is -1, outside the 2 declared classes"):
        open_database(path)


def test_evaluation_scores_only_rows_that_have_the_label():
    from serzoo.training.evaluate import evaluate, selection_score
    from serzoo.training.tasks import Task

    tasks = [Task("emo", 3, 0), Task("val", 2, 1)]
    labels = np.array([[0, 1], [1, -1], [2, -1], [0, 0]], dtype=float)
    rng = np.random.default_rng(0)
    pred = {"emo": rng.random((4, 3)), "val": rng.random((4, 2))}
    report = evaluate(tasks, labels, pred)
    garbage = {"emo": pred["emo"], "val": pred["val"].copy()}
    garbage["val"][1:3] = [[9, 0], [0, 9]]  # masked rows' outputs must not matter
    assert evaluate(tasks, labels, garbage)["val"] == report["val"]
    assert report["val"]["confusion"] == evaluate(tasks[1:], labels[[0, 3]], {"val": pred["val"][[0, 3]]})["val"][
        "confusion"]
    untrained = evaluate(tasks, labels, pred, untrained=["val"])
    assert np.isnan(untrained["val"]["uar"]) and untrained["emo"] == report["emo"]
    # a task without labelled validation rows leaves the selection to the others
    assert selection_score(tasks, untrained) == report["emo"]["uar"]


def _prepare(merged, **overrides):
    from serzoo.training.prepare import prepare

    return prepare(TrainConfig(data=str(merged), tasks="emotion,valence", **{**TINY, **overrides}))


def test_masked_head_trains_only_on_its_corpus(merged, tmp_path):
    """One optimizer step on rows of corpus b (no valence) leaves the valence head exactly as it was."""
    from serzoo.training.batches import _targets, training_data
    from serzoo.training.fold import _model

    prep = _prepare(merged, protocol="logo")
    split = prep.splits[0]
    data = training_data(prep, 0, split, standardize=True)
    b_rows = prep.db.grouping("corpus").rows([1])
    y, w = _targets(prep.tasks, prep.db.labels[b_rows], data.weights)
    assert (w["valence"] == 0).all() and (w["emotion"] > 0).all()
    model, _ = _model(prep, 0, data, tmp_path / "last.keras", None, lambda m: None)
    before = {t: [v.copy() for v in model.get_layer(t).get_weights()] for t in ("emotion", "valence")}
    model.train_on_batch(prep.db.features(b_rows), y, sample_weight=w)
    after = {t: model.get_layer(t).get_weights() for t in ("emotion", "valence")}
    assert all(np.array_equal(x, z) for x, z in zip(before["valence"], after["valence"]))
    assert not all(np.array_equal(x, z) for x, z in zip(before["emotion"], after["emotion"]))
    # deliberate breakage: with the mask ignored (weight 1), the same step moves the valence head
    model.train_on_batch(prep.db.features(b_rows), y, sample_weight={k: np.ones_like(v) for k, v in w.items()})
    assert not all(np.array_equal(x, z) for x, z in zip(before["valence"], model.get_layer("valence").get_weights()))


def test_weights_priors_and_samplers_count_labelled_rows_only(merged):
    prep = _prepare(merged, class_weights="auto")
    from serzoo.training.batches import training_data

    data = training_data(prep, 0, prep.splits[0], standardize=False)
    labelled = data.labels[:, 2][data.labels[:, 2] >= 0]
    assert np.allclose(data.priors["valence"] * len(labelled), np.bincount(labelled.astype(int), minlength=2))
    assert np.isfinite(data.weights["valence"]).all()
    with pytest.raises(ConfigError, match="task valence has training rows without its label"):
        training_data(_prepare(merged, sampler="oversample", sample_by="valence"), 0, prep.splits[0],
                      standardize=False)


def test_leave_one_corpus_out_on_the_merged_file(merged, tmp_path):
    from serzoo.training.run import run

    prep = _prepare(merged, protocol="loco")
    run(prep, tmp_path / "run", echo=lambda m: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    folds = {f["groups"]["test_names"][0]: f for f in results["folds"]}
    assert sorted(folds) == ["a", "b"]
    # tested on a after training on b alone: valence was never trained, so it is not scored
    assert folds["a"]["untrained_tasks"] == ["valence"] and np.isnan(folds["a"]["test"]["valence"]["uar"])
    # tested on b: b has no valence labels to score
    assert np.isnan(folds["b"]["test"]["valence"]["uar"]) and "untrained_tasks" not in folds["b"]
    assert all(np.isfinite(f["test"]["emotion"]["uar"]) for f in folds.values())
    assert sum(np.sum(f["test"]["emotion"]["confusion"]) for f in folds.values()) == prep.db.n_rows
