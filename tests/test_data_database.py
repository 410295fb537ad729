"""Reading SER_FEAT_EXT databases in every layout, and refusing bad ones with one clear line."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from serzoo.data.database import Database
from serzoo.data.loading import open_database
from serzoo.core.errors import DataError, UnknownComponentError
from serzoo.core.registry import Loader

N, T, C, D = 12, 6, 3, 4


def write_legacy(path, feat, labels, groups=None, **attrs):
    """Write a file the way SER_FEAT_EXT's h5db_builder did: float64, no attributes (unless given)."""
    with h5py.File(path, "w") as hf:
        if feat is not None:
            hf.create_dataset("feat", data=np.asarray(feat, dtype=np.float64))
        if labels is not None:
            hf.create_dataset("label", data=np.asarray(labels, dtype=np.float64))
        if groups is not None:
            hf.create_dataset("start_indice", data=np.array([s for s, _ in groups], dtype=np.float64))
            hf.create_dataset("end_indice", data=np.array([e for _, e in groups], dtype=np.float64))
        for key, value in attrs.items():
            hf.attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return path


def _labels(n=N):
    return np.stack([np.arange(n) % 3, np.arange(n) % 2], axis=1)


FRAMES = np.arange(N * T * C * D, dtype=np.float64).reshape(N, T, C, D)

LAYOUT_CASES = {
    # file layout: (array in the file, expected model-layout features)
    "1d": (FRAMES.reshape(N, T, C * D), FRAMES.reshape(N, T, C * D)),
    "2d": (FRAMES[:, :, None], FRAMES[..., None]),
    "3d": (FRAMES[:, None], FRAMES[..., None]),
    "flat": (FRAMES.reshape(N, -1), FRAMES.reshape(N, -1)),
}
INPUT = {"1d": "sequence", "2d": "frames", "3d": "volume", "flat": "vector"}


@pytest.mark.parametrize("layout", sorted(LAYOUT_CASES))
def test_every_layout_reads_unchanged(tmp_path, layout):
    stored, expected = LAYOUT_CASES[layout]
    path = write_legacy(tmp_path / "db.h5", stored, _labels(), groups=[(0, 5), (5, 12)])
    with open_database(path) as db:
        assert db.file_layout == layout and db.input_layout == INPUT[layout]
        assert db.example_shape == expected.shape[1:]
        assert db.n_rows == N and db.nbytes == expected[0].size * 4 * N
        assert db.labels.dtype == np.float64 and db.labels.shape == (N, 2)
        assert db.label_names == ["label0", "label1"]
        assert db.group_names == ["0", "1"] and db.groups == [(0, 5), (5, 12)]
        np.testing.assert_array_equal(db.row_groups, [0] * 5 + [1] * 7)
        rows = np.array([7, 2, 2, 11, 0])  # any order, repeats allowed
        got = db.features(rows)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected[rows].astype(np.float32))
        np.testing.assert_array_equal(db.features(), expected.astype(np.float32))


def test_sparse_rows_read_by_point_selection(tmp_path):
    feat = np.random.default_rng(0).normal(size=(200, 3, 2))
    path = write_legacy(tmp_path / "db.h5", feat, np.zeros((200, 1)))
    with open_database(path) as db:
        rows = np.array([199, 3, 150, 3])
        np.testing.assert_allclose(db.features(rows), feat[rows].astype(np.float32))
        with pytest.raises(DataError, match="row 200 does not exist"):
            db.features([200])


def test_attributes_give_names_and_settings(tmp_path):
    path = write_legacy(
        tmp_path / "db.h5", LAYOUT_CASES["1d"][0], _labels(), groups=[(0, 6), (6, 12)],
        label_names=["emotion", "gender"], class_names={"emotion": ["a", "b", "c"]},
        group_names=["spk03", "spk08"], sample_rate=16000, features={"feature": "logmel"},
    )
    with open_database(path) as db:
        assert db.label_names == ["emotion", "gender"]
        assert db.class_names == {"emotion": ["a", "b", "c"]}
        assert db.group_names == ["spk03", "spk08"]
        assert db.attrs["sample_rate"] == 16000 and db.attrs["features"] == {"feature": "logmel"}
        assert db.num_classes("emotion") == 3 and db.num_classes("gender") == 2
        np.testing.assert_array_equal(db.class_counts("emotion"), [4, 4, 4])
        info = db.describe()
        assert info["tasks"][0]["counts"] == {"a": 4, "b": 4, "c": 4}
        assert [g["rows"] for g in info["groups"]] == [6, 6]
        json.dumps(info)  # serialisable for --format json


def test_ambiguous_single_step_5d_uses_option(tmp_path):
    feat = np.zeros((4, 1, 1, 2, 3))
    path = write_legacy(tmp_path / "db.h5", feat, np.zeros((4, 1)))
    with open_database(path) as db:
        assert db.file_layout == "2d"
    with open_database(path, layout="3d") as db:
        assert db.file_layout == "3d" and db.example_shape == (1, 2, 3, 1)
    with pytest.raises(DataError, match="is not layout '1d'"):
        open_database(path, layout="1d")


def _error(path, **options) -> str:
    with pytest.raises(DataError) as info:
        open_database(path, **options)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_datasets(tmp_path):
    assert "missing dataset 'feat'" in _error(write_legacy(tmp_path / "a.h5", None, _labels()))
    assert "missing dataset 'label'" in _error(write_legacy(tmp_path / "b.h5", np.zeros((N, 3)), None))
    with h5py.File(tmp_path / "c.h5", "w") as hf:
        hf["feat"], hf["label"], hf["start_indice"] = np.zeros((N, 3)), _labels(), [0.0]
    assert "'end_indice' is missing" in _error(tmp_path / "c.h5")


def test_row_counts_disagree(tmp_path):
    msg = _error(write_legacy(tmp_path / "a.h5", np.zeros((N, 3)), _labels(N - 1)))
    assert "row counts disagree" in msg and f"{N} rows" in msg and f"{N - 1}" in msg
    path = write_legacy(tmp_path / "b.h5", np.zeros((N, 3)), _labels(), label_names=["only_one"])
    assert "label_names lists 1 names" in _error(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_features_reports_count_and_first_row(tmp_path, bad):
    feat = np.zeros((N, T, D))
    feat[4, 1, 2] = feat[9, 0, 0] = feat[9, 5, 3] = bad
    msg = _error(write_legacy(tmp_path / "db.h5", feat, _labels()))
    assert "3 NaN/Inf values, first in row 4" in msg


def test_nan_in_labels(tmp_path):
    labels = _labels().astype(float)
    labels[7, 1] = np.nan
    assert "label 'label1' has 1 NaN/Inf values, first in row 7" in _error(
        write_legacy(tmp_path / "db.h5", np.zeros((N, 2)), labels))


def test_label_outside_declared_classes(tmp_path):
    labels = _labels().astype(np.float64)
    labels[5, 0] = 3  # classes 0..2 declared
    path = write_legacy(tmp_path / "db.h5", np.zeros((N, 2)), labels, label_names=["emotion", "gender"],
                        class_names={"emotion": ["a", "b", "c"]})
    msg = _error(path)
    assert "label 'emotion' row 5 is 3, outside the 3 declared classes" in msg
    labels[5, 0] = 1.5
    path = write_legacy(tmp_path / "f.h5", np.zeros((N, 2)), labels, label_names=["emotion", "gender"],
                        class_names={"emotion": ["a", "b", "c"]})
    assert "row 5 is 1.5" in _error(path)


@pytest.mark.parametrize("groups, expected", [
    ([(0, 6), (4, 12)], "groups 0 and 1 overlap (rows 0..5 and 4..11)"),
    ([(6, 12), (0, 7)], "groups 1 and 0 overlap"),
    ([(0, 6), (6, 13)], "group 1 covers rows 6..12, outside the file's rows 0..11"),
    ([(-1, 6)], "group 0 covers rows -1..5"),
    ([(0, 6), (6, 6)], "group 1 is empty"),
])
def test_bad_group_ranges(tmp_path, groups, expected):
    assert expected in _error(write_legacy(tmp_path / "db.h5", np.zeros((N, 2)), _labels(), groups=groups))


def test_group_bounds_must_pair_and_be_whole(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as hf:
        hf["feat"], hf["label"] = np.zeros((N, 3)), _labels()
        hf["start_indice"], hf["end_indice"] = [0.0, 6.0], [6.0]
    assert "'start_indice' has 2 groups but 'end_indice' has 1" in _error(tmp_path / "a.h5")
    path = write_legacy(tmp_path / "b.h5", np.zeros((N, 2)), _labels(), groups=[(0, 5.5)])
    assert "must be whole numbers" in _error(path)


def test_unusable_files(tmp_path):
    (tmp_path / "junk.h5").write_text("not hdf5")
    assert "not a readable HDF5 file" in _error(tmp_path / "junk.h5")
    assert "fits no layout" in _error(write_legacy(tmp_path / "4d.h5", np.zeros((N, 2, 2, 2)), _labels()))
    assert "no such file" in _error(tmp_path / "absent.h5")
    (tmp_path / "x.unknown").write_text("")
    assert "no loader handles" in _error(tmp_path / "x.unknown")
    with pytest.raises(UnknownComponentError, match="did you mean h5"):
        open_database(tmp_path / "junk.h5", loader="h55")


def test_third_party_loader_csv(tmp_path, register_fake):
    """A plugin adds a loader for CSV files of precomputed utterance features (flat layout)."""

    def open_csv(path, label_columns=1):
        table = np.loadtxt(path, delimiter=",", ndmin=2)
        return Database(table[:, label_columns:], table[:, :label_columns], file_layout="flat", path=path,
                        label_names=["emotion"])

    def register_loaders(register):
        register(Loader(name="csv_feats", description="CSV: label, then features", factory=open_csv,
                        patterns=("*.csv",)))

    register_fake("csvplugin", serzoo_register_loaders=register_loaders)
    (tmp_path / "feats.csv").write_text("0,0.5,1.5\n1,2.5,3.5\n1,4.0,5.0\n")
    with open_database(tmp_path / "feats.csv") as db:
        assert db.input_layout == "vector" and db.example_shape == (2,)
        np.testing.assert_array_equal(db.features([2]), [[4.0, 5.0]])
        assert db.labels[:, 0].tolist() == [0, 1, 1]
    (tmp_path / "bad.csv").write_text("0,nan,1\n")
    assert "1 NaN/Inf values, first in row 0" in _error(tmp_path / "bad.csv")


def test_cli_info_and_error_exit_code(tmp_path, invoke):
    path = write_legacy(tmp_path / "db.h5", LAYOUT_CASES["2d"][0], _labels(), groups=[(0, 5), (5, 12)])
    result = invoke("data", "info", path)
    assert result.exit_code == 0, result.output
    assert "2d (model input: frames)" in result.output and "label0" in result.output
    assert "0: 4, 1: 4, 2: 4" in result.output
    result = invoke("data", "info", path, "--format", "json")
    assert json.loads(result.output)["groups"][1]["rows"] == 7
    bad = write_legacy(tmp_path / "bad.h5", np.zeros((N, 2)), _labels(), groups=[(0, 6), (4, 12)])
    result = invoke("data", "info", bad)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("Error:") and "overlap" in result.output
