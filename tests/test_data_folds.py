"""Every split option and protocol; validation data is never test data."""

from __future__ import annotations

import numpy as np
import pytest

from serzoo.data.database import Database
from serzoo.data.splits import Split, make_splits, parse_groups
from serzoo.core.errors import ConfigError, SerzooError, UnknownComponentError

SIZES = [5, 7, 4, 6, 8, 5, 3, 6, 4, 7]  # ten groups of different sizes


def make_db(sizes=SIZES, grouped=True) -> Database:
    n = sum(sizes)
    ends = np.cumsum(sizes)
    groups = list(zip((ends - sizes).tolist(), ends.tolist())) if grouped else []
    return Database(np.zeros((n, 2), np.float32), (np.arange(n) % 3)[:, None], file_layout="flat", groups=groups)


def rows_of(db, groups):
    return np.sort(np.concatenate([np.arange(*db.groups[g]) for g in groups])) if groups else np.empty(0, int)


def assert_clean(split: Split, db: Database):
    """Parts are disjoint, validation is never test, and the groups match the rows."""
    split.check_disjoint()
    assert not np.intersect1d(split.val, split.test).size
    assert len(split.test) and len(split.train)
    if db.groups:
        np.testing.assert_array_equal(split.test, rows_of(db, split.test_groups))
        if split.val_groups or not len(split.val):
            np.testing.assert_array_equal(split.train, rows_of(db, split.train_groups))
            np.testing.assert_array_equal(split.val, rows_of(db, split.val_groups))
        else:  # validation rows taken from the training groups
            np.testing.assert_array_equal(np.sort(np.r_[split.train, split.val]), rows_of(db, split.train_groups))


@pytest.mark.parametrize("text, expected", [
    ("0,3,5", [0, 3, 5]),
    ("0:9", list(range(10))),
    ("0:3,7", [0, 1, 2, 3, 7]),
    (" 2 , 4:5 ,2", [2, 4, 5]),
    ("9:9", [9]),
])
def test_parse_groups(text, expected):
    assert parse_groups(text, 10, "--test-groups") == expected


@pytest.mark.parametrize("text, message", [
    ("10", "group 10 does not exist; the database has groups 0..9"),
    ("8:12", "group 10 does not exist"),
    ("a", "'a' is not a group index or range"),
    ("-1", "is not a group index"),
    ("5:2", "range 5:2 runs backwards"),
])
def test_parse_groups_errors_name_the_option(text, message):
    with pytest.raises(ConfigError) as info:
        parse_groups(text, 10, "--val-groups")
    assert message in str(info.value) and "--val-groups" in str(info.value)


def test_logo_leaves_each_group_out_once_with_group_validation():
    db = make_db()
    splits = make_splits(db, "logo", val_share=0.2, seed=1)
    assert [s.test_groups for s in splits] == [[g] for g in range(10)]
    for split in splits:
        assert_clean(split, db)
        assert len(split.val_groups) == 2  # 20 % of the 9 training groups, as whole groups
        assert sorted(split.train_groups + split.val_groups + split.test_groups) == list(range(10))
    # the held-out validation groups vary with the fold and are reproducible with the seed
    assert len({tuple(s.val_groups) for s in splits}) > 1
    again = make_splits(db, "logo", val_share=0.2, seed=1)
    assert [s.val_groups for s in again] == [s.val_groups for s in splits]


def test_logo_with_explicit_validation_groups():
    db = make_db()
    splits = make_splits(db, "logo", val_groups="0:1")
    assert [s.test_groups[0] for s in splits] == list(range(2, 10))  # validation groups are never tested
    for split in splits:
        assert split.val_groups == [0, 1]
        assert_clean(split, db)


def test_logo_restricted_test_train_ignore_and_adapt():
    db = make_db()
    splits = make_splits(db, "logo", test_groups="0,3", train_groups="4:7", ignore_groups="9",
                         adapt_groups="8", val_share=0)
    assert [s.test_groups for s in splits] == [[0], [3]]
    for split in splits:
        assert split.train_groups == [4, 5, 6, 7]
        assert len(split.val) == 0  # val_share 0: no validation
        np.testing.assert_array_equal(split.adapt, rows_of(db, [8]))
        assert not np.isin(rows_of(db, [9]), np.concatenate([split.train, split.test, split.adapt])).any()
        assert_clean(split, db)
    # ignored groups take no turn as test either
    splits = make_splits(db, "logo", ignore_groups="0:7")
    assert [s.test_groups for s in splits] == [[8], [9]]
    assert all(s.train_groups == [9 - s.test_groups[0] + 8] for s in splits)


def test_fixed_split_and_its_validation():
    db = make_db()
    (split,) = make_splits(db, "fixed", test_groups="8:9", val_groups=[7])
    assert split.test_groups == [8, 9] and split.val_groups == [7] and split.train_groups == list(range(7))
    assert_clean(split, db)
    # no validation groups given: a share of the training groups, never the test groups
    (split,) = make_splits(db, "fixed", test_groups="8:9")
    assert split.val_groups and not set(split.val_groups) & {8, 9}
    assert_clean(split, db)
    with pytest.raises(ConfigError, match="needs --test-groups"):
        make_splits(db, "fixed")


@pytest.mark.parametrize("kwargs, message", [
    ({"test_groups": "1", "val_groups": "1:2"}, "group 1 is in both --test-groups and --val-groups"),
    ({"test_groups": "1", "train_groups": "0:3"}, "group 1 is in both --test-groups and --train-groups"),
    ({"test_groups": "1", "ignore_groups": "1"}, "in both --test-groups and --ignore-groups"),
    ({"test_groups": "12"}, "--test-groups '12': group 12 does not exist"),
    ({"test_groups": "1", "adapt_groups": "3", "val_groups": "3"}, "in both --val-groups and --adapt-groups"),
])
def test_contradicting_selections(kwargs, message):
    with pytest.raises(ConfigError) as info:
        make_splits(make_db(), "fixed", **kwargs)
    assert message in str(info.value)


def test_kfold_over_groups_is_speaker_independent():
    db = make_db()
    splits = make_splits(db, "kfold", folds=5, seed=3)
    tested = sorted(g for s in splits for g in s.test_groups)
    assert tested == list(range(10))  # every group tested exactly once
    for split in splits:
        assert len(split.test_groups) == 2 and split.val_groups
        assert_clean(split, db)


def test_kfold_over_rows_without_groups():
    db = make_db(grouped=False)
    splits = make_splits(db, "kfold", folds=4, val_share=0.25, seed=0)
    all_test = np.concatenate([s.test for s in splits])
    np.testing.assert_array_equal(np.sort(all_test), np.arange(db.n_rows))
    for split in splits:
        assert_clean(split, db)
        assert len(split.val) == round(0.25 * (db.n_rows - len(split.test)))
        assert len(split.train) + len(split.val) + len(split.test) == db.n_rows
    forced = make_splits(make_db(), "kfold", folds=3, kfold_by="rows")
    assert all(not s.test_groups for s in forced)


def test_validation_rows_when_one_training_group_remains():
    db = make_db(sizes=[10, 10])
    splits = make_splits(db, "logo", val_share=0.2)
    for split in splits:
        assert len(split.val) == 2 and not split.val_groups  # rows of the one training group
        assert_clean(split, db)
        assert set(db.row_groups[split.val]) == set(split.train_groups)


def test_protocol_errors():
    with pytest.raises(ConfigError, match="needs at least 2 groups"):
        make_splits(make_db(grouped=False), "logo")
    with pytest.raises(UnknownComponentError, match="unknown splitter 'loso'; did you mean logo, loco"):
        make_splits(make_db(), "loso")
    with pytest.raises(ConfigError, match="5-fold over groups needs at least 5 groups, 3"):
        make_splits(make_db(sizes=[3, 3, 3]), "kfold", folds=5)
    with pytest.raises(ConfigError, match="drop --test-groups"):
        make_splits(make_db(), "kfold", test_groups="0")
    with pytest.raises(ConfigError, match="validation share"):
        make_splits(make_db(), "logo", val_share=1.0)
    with pytest.raises(ConfigError, match="no groups left to train on"):
        make_splits(make_db(sizes=[3, 3]), "logo", val_groups="0")


def test_check_disjoint_refuses_leaks():
    ok = Split("f", np.array([0, 1]), np.array([2]), np.array([3]), [0], [1], [2])
    ok.check_disjoint()
    leaky = Split("f", np.array([0, 1]), np.array([3]), np.array([3]))
    with pytest.raises(SerzooError, match="validation and test share 1 rows"):
        leaky.check_disjoint()
    same_group = Split("f", np.array([0]), np.array([1]), np.array([2]), [0], [2], [2])
    with pytest.raises(SerzooError, match="group 2 is in both validation and test"):
        same_group.check_disjoint()
