"""Several groupings per database: written by `data build --group a,b`, read back, chosen at training time."""

from __future__ import annotations

import json
import wave

import h5py
import numpy as np
import pytest

from serzoo.core.errors import DataError
from serzoo.data.database import Database
from serzoo.data.loading import open_database
from serzoo.data.grouping import Grouping
from serzoo.data.splits import UnusedRowsWarning, make_splits
from serzoo.training.config import TrainConfig

SPEAKERS = ["s2", "s1", "s2", "s3", "s1", "s2", "s3", "s1"]
FOLDS = ["b", "a", "a", "", "b", "c", "c", "a"]  # one utterance is in no official fold


def write_wav(path, samples, rate=16000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.round(np.asarray(samples) * 32767).astype("<i2").tobytes())


@pytest.fixture
def meta(tmp_path):
    """Eight short utterances by three speakers with an official fold column that cuts across them."""
    rng = np.random.default_rng(0)
    (tmp_path / "wav").mkdir()
    lines = ["file\temotion\tspeaker\tfold"]
    for i, (spk, fold) in enumerate(zip(SPEAKERS, FOLDS)):
        write_wav(tmp_path / f"wav/u{i}.wav", 0.1 * rng.standard_normal(int(16000 * 0.2)).clip(-3, 3))
        lines.append(f"wav/u{i}.wav\t{i % 2}\t{spk}\t{fold}")
    (tmp_path / "meta.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path / "meta.tsv"


def _row_of(db, i: int) -> int:
    return db.utterances.index(f"wav/u{i}.wav")


def test_grouping_from_values_and_rows():
    g = Grouping.from_values("fold", ["b", "a", " ", "b", "a"])
    assert g.names == ["b", "a"] and g.ids.tolist() == [0, 1, -1, 0, 1] and g.unused == 1
    np.testing.assert_array_equal(g.rows([1, 0]), [1, 4, 0, 3])  # group after group, in the order asked
    assert g.sizes() == [2, 2]
    r = Grouping.from_ranges("speaker", [(2, 4), (0, 2)], 6, ["x", "y"])
    assert r.ids.tolist() == [1, 1, 0, 0, -1, -1] and r.unused == 2
    assert g.reordered(np.array([4, 3, 2, 1, 0])).ids.tolist() == [1, 0, -1, 1, 0]


def test_build_with_two_group_columns_round_trips(meta, tmp_path, invoke):
    out = tmp_path / "db.h5"
    result = invoke("data", "build", meta, "-o", out, "--group", "speaker,fold", "--n-mels", 8,
                    "--max-steps", 10, "-q")
    assert result.exit_code == 0, result.output
    assert "groupings speaker (3 groups), fold (3 groups)" in result.output
    with h5py.File(out, "r") as hf:  # SER_FEAT_EXT's ranges still describe the first grouping
        np.testing.assert_array_equal(hf["start_indice"][()], [0, 3, 6])
        np.testing.assert_array_equal(hf["end_indice"][()], [3, 6, 8])
        assert json.loads(hf["groups"].attrs["order"]) == ["speaker", "fold"]
        assert hf["groups/fold"].dtype.kind == "i"
    with open_database(out) as db:
        assert list(db.groupings) == ["speaker", "fold"] and db.label_names == ["emotion"]
        assert db.group_names == ["s2", "s1", "s3"] and db.attrs["group_column"] == "speaker"
        for i, (spk, fold) in enumerate(zip(SPEAKERS, FOLDS)):
            row = _row_of(db, i)
            assert db.grouping("speaker").names[db.grouping("speaker").ids[row]] == spk
            fold_id = db.grouping("fold").ids[row]
            assert (db.grouping("fold").names[fold_id] if fold_id >= 0 else "") == fold
        assert db.grouping("fold").unused == 1
    info = invoke("data", "info", out).output
    assert "grouping speaker (3 groups, the default)" in info and "grouping fold (3 groups; 1 rows in no group)" in info
    described = json.loads(invoke("data", "info", out, "--format", "json").output)
    assert [g["name"] for g in described["groupings"]] == ["speaker", "fold"]


def test_training_chooses_the_grouping_without_rebuilding(meta, tmp_path):
    from serzoo.data.build import build_database
    from serzoo.training.prepare import prepare

    out = build_database(meta, tmp_path / "db.h5", group="speaker,fold", n_mels=8, max_steps=10, progress=False)
    base = dict(data=str(out), blocks="fcn,dense", val_share=0)
    prep = prepare(TrainConfig(**base))
    assert [s.test_names for s in prep.splits] == [["s2"], ["s1"], ["s3"]]
    with pytest.warns(UnusedRowsWarning, match="1 of 8 rows are in no group of grouping 'fold'"):
        prep = prepare(TrainConfig(**base, group_by="fold"))
    assert [s.test_names for s in prep.splits] == [["b"], ["a"], ["c"]]
    for split in prep.splits:
        tested = sorted(i for i, fold in enumerate(FOLDS) if fold == split.test_names[0])
        assert sorted(prep.db.utterances.index(f"wav/u{i}.wav") for i in tested) == split.test.tolist()
        assert _row_of(prep.db, 3) not in np.concatenate([split.train, split.val, split.test])
    assert "leave-one-group-out by fold" in prep.splits[0].protocol


def write_ranges(path, n=12, ranges=((0, 5), (5, 12)), **attrs):
    """A file as SER_FEAT_EXT wrote it: feat, label and start/end ranges only (plus optional attributes)."""
    with h5py.File(path, "w") as hf:
        hf["feat"], hf["label"] = np.zeros((n, 4, 2)), (np.arange(n) % 2)[:, None].astype(float)
        hf["start_indice"] = np.array([s for s, _ in ranges], dtype=float)
        hf["end_indice"] = np.array([e for _, e in ranges], dtype=float)
        hf.attrs.update(attrs)
    return path


def test_old_start_end_files_are_the_default_range_grouping(tmp_path):
    with open_database(write_ranges(tmp_path / "plain.h5")) as db:
        assert list(db.groupings) == ["group"] and db.group_names == ["0", "1"]
        assert db.grouping().ids.tolist() == [0] * 5 + [1] * 7
        assert [s.test_groups for s in make_splits(db, "logo", val_share=0)] == [[0], [1]]
        assert len(make_splits(db, "logo", group_by="group", val_share=0)) == 2
    with open_database(write_ranges(tmp_path / "named.h5", group_column="speaker")) as db:
        assert list(db.groupings) == ["speaker"]


def test_ranges_that_leave_rows_out_warn_with_the_count(tmp_path):
    with open_database(write_ranges(tmp_path / "gap.h5", n=48, ranges=((0, 10), (10, 20), (28, 38)))) as db:
        with pytest.warns(UnusedRowsWarning, match="18 of 48 rows are in no group of grouping 'group'"):
            splits = make_splits(db, "logo", val_share=0)
    used = np.concatenate([np.r_[s.train, s.test] for s in splits])
    assert np.unique(used).size == 30


def _bad_grouping(path, edit):
    write_ranges(path, group_column="speaker", group_names=json.dumps(["a", "b"]))
    with h5py.File(path, "a") as hf:
        folder = hf.create_group("groups")
        folder.attrs["order"] = json.dumps(["speaker"])
        edit(folder)
    with pytest.raises(DataError) as info:
        open_database(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def _dataset(ids, names=("a", "b")):
    def edit(folder):
        folder["speaker"] = np.asarray(ids)
        folder["speaker"].attrs["names"] = json.dumps(list(names))
    return edit


@pytest.mark.parametrize("edit, message", [
    (_dataset([0] * 5 + [1] * 6), "grouping 'speaker' (dataset groups/speaker) has 11 rows but 'feat' has 12"),
    (_dataset([0] * 5 + [2] * 7), "row 5 has group 2, but there are 2 named groups"),
    (_dataset([0] * 6 + [1] * 6), "disagrees with start_indice/end_indice at row 5"),
    (_dataset([0] * 5 + [1] * 7, names=("a", "c")), "its group names disagree with attribute group_names"),
    (_dataset(np.zeros(12) + 0.5), "expected one integer group id per row"),
    (_dataset([0] * 12), "group 1 ('b') has no rows"),
    (lambda folder: folder.attrs.__setitem__("order", json.dumps(["speaker", "fold"])), "groups/speaker is listed"),
])
def test_bad_groupings_are_one_line_errors(tmp_path, edit, message):
    assert message in _bad_grouping(tmp_path / "bad.h5", edit)


def test_a_consistent_grouping_next_to_the_ranges_is_accepted(tmp_path):
    path = tmp_path / "ok.h5"
    write_ranges(path, group_column="speaker", group_names=json.dumps(["a", "b"]))
    with h5py.File(path, "a") as hf:
        _dataset([0] * 5 + [1] * 7)(hf.create_group("groups"))
    with open_database(path) as db:
        assert list(db.groupings) == ["speaker"] and db.group_names == ["a", "b"]


def test_wrongly_typed_group_attributes_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="attribute group_names is 3; expected a list of names"):
        open_database(write_ranges(tmp_path / "a.h5", group_names=3))
    with pytest.raises(DataError, match="attribute group_column is 4; expected the grouping's name"):
        open_database(write_ranges(tmp_path / "b.h5", group_column=4))


def test_database_without_groups_has_an_empty_default_grouping():
    db = Database(np.zeros((6, 2)), np.zeros((6, 1)), file_layout="flat")
    assert db.groupings == {} and db.grouping().n_groups == 0 and db.group_names == []
    assert db.row_groups.tolist() == [-1] * 6
    assert len(make_splits(db, "kfold", folds=3)) == 3  # over rows
