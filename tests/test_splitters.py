"""Cross-validation protocols as registered splitters, splitting by any grouping of a database.

Every registered splitter (built-in or installed) runs through the same leakage checks, so a new
one is tested on arrival; a fake third-party splitter shows the plugin path end to end.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

from serzoo import Param, Splitter
from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError, DataError, UnknownComponentError
from serzoo.data.database import Database
from serzoo.data.grouping import Grouping
from serzoo.data.splits import Fold, Split, SplitContext, UnusedRowsWarning, make_splits
from serzoo.training.config import TrainConfig

SIZES = [5, 7, 4, 6, 8, 5, 3, 6, 4, 7]  # ten speakers of different sizes
N = sum(SIZES)
CORPUS_OF_SPEAKER = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
#: an official fold assignment that cuts across speakers (rows of one fold are not contiguous)
FOLD_IDS = (np.arange(N) * 7) % 5

#: what a built-in needs beyond the defaults to run at all; a newly registered splitter runs with none
NEEDS = {"fixed": {"test_groups": "8:9"}}


def make_db(fold_ids=FOLD_IDS, corpus=True) -> Database:
    ends = np.cumsum(SIZES)
    ranges = list(zip((ends - SIZES).tolist(), ends.tolist()))
    speaker_of_row = np.repeat(np.arange(len(SIZES)), SIZES)
    groupings = [Grouping("fold", fold_ids, [f"f{k}" for k in range(5)])]
    if corpus:
        groupings.insert(0, Grouping("corpus", np.asarray(CORPUS_OF_SPEAKER)[speaker_of_row], ["a", "b", "c"]))
    return Database(np.zeros((N, 2), np.float32), (np.arange(N) % 3)[:, None], file_layout="flat",
                    groups=ranges, group_names=[f"spk{g}" for g in range(10)], group_column="speaker",
                    groupings=groupings)


def assert_leak_free(split: Split, grouping: Grouping) -> None:
    """Parts share no row and no group; test rows are their groups' rows; validation only from training groups."""
    split.check_disjoint()
    parts = [split.train, split.val, split.test, split.adapt]
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert not np.intersect1d(a, b).size
    assert len(split.train) and len(split.test) and split.grouping == grouping.name
    ids = grouping.ids
    if split.test_groups:
        np.testing.assert_array_equal(split.test, np.flatnonzero(np.isin(ids, split.test_groups)))
        assert not set(ids[split.train]) & set(split.test_groups)
        assert not set(ids[split.val]) & set(split.test_groups)
        assert set(ids[split.train]) == set(split.train_groups)
        if split.val_groups:  # whole groups held out of the training pool
            assert set(ids[split.val]) == set(split.val_groups)
            assert not set(split.val_groups) & (set(split.train_groups) | set(split.test_groups))
        else:  # rows held out of the training groups
            assert set(ids[split.val]) <= set(split.train_groups)
    assert split.test_names == [grouping.names[g] for g in split.test_groups]


def _splitter_names() -> list[str]:
    return [s.name for s in plugin_manager.splitters()]


def test_builtin_splitters_are_registered_by_the_core(monkeypatch):
    # disabling every plugin of the distribution (and the module by name) cannot lose the default protocol
    monkeypatch.setenv("SERZOO_DISABLE_PLUGINS", "serzoo,serzoo.data.splitters")
    plugin_manager.reset()
    assert {"logo", "kfold", "fixed", "loco"} <= {s.name for s in plugin_manager.splitters()}
    assert len(make_splits(make_db(), "logo")) == 10


@pytest.mark.parametrize("name", _splitter_names())
def test_every_splitter_gives_leak_free_folds(name):
    db = make_db()
    splitter = plugin_manager.splitters().get(name)
    grouping = db.grouping(splitter.grouping or None)
    splits = make_splits(db, name, val_share=0.25, seed=4, **NEEDS.get(name, {}))
    assert splits and all(s.protocol for s in splits)
    for split in splits:
        assert_leak_free(split, grouping)


@pytest.mark.parametrize("name", _splitter_names())
def test_every_splitter_keeps_given_validation_and_ignored_groups_out_of_tests(name):
    db = make_db()
    splitter = plugin_manager.splitters().get(name)
    grouping = db.grouping(splitter.grouping or None)
    if grouping.n_groups < 4:
        pytest.skip("needs four groups to give validation and ignored ones")
    needs = dict(NEEDS.get(name, {}))
    splits = make_splits(db, name, val_groups="0", ignore_groups="1", seed=2, **needs)
    ignored = np.flatnonzero(grouping.ids == 1)
    for split in splits:
        assert_leak_free(split, grouping)
        assert split.val_groups == [0] and 0 not in split.test_groups and 1 not in split.test_groups
        assert not np.isin(ignored, np.concatenate([split.train, split.val, split.test])).any()


def test_group_by_a_second_grouping_gives_the_folds_of_that_column():
    db = make_db()
    splits = make_splits(db, "logo", group_by="fold", val_share=0)
    assert [s.test_groups for s in splits] == [[k] for k in range(5)]
    for k, split in enumerate(splits):
        np.testing.assert_array_equal(split.test, np.flatnonzero(FOLD_IDS == k))
        np.testing.assert_array_equal(split.train, np.flatnonzero(FOLD_IDS != k))
        assert split.test_names == [f"f{k}"] and split.grouping == "fold"
        assert_leak_free(split, db.grouping("fold"))
    # the default grouping is still the speakers
    assert len(make_splits(db, "logo", val_share=0)) == 10
    # kfold over the fold grouping tests every official fold exactly once
    tested = sorted(g for s in make_splits(db, "kfold", group_by="fold", folds=5) for g in s.test_groups)
    assert tested == list(range(5))


def test_unknown_grouping_is_one_line_with_close_matches():
    with pytest.raises(DataError) as info:
        make_splits(make_db(), "logo", group_by="fodl")
    message = str(info.value)
    assert "no grouping 'fodl'; did you mean fold?" in message and "speaker, corpus, fold" in message
    assert "\n" not in message


def test_loco_leaves_each_corpus_out():
    db = make_db()
    splits = make_splits(db, "loco", val_share=0.5, seed=1)
    assert [s.test_names for s in splits] == [["a"], ["b"], ["c"]]
    for split in splits:
        assert_leak_free(split, db.grouping("corpus"))
    assert "leave-one-corpus-out" in splits[0].protocol


def test_loco_needs_a_corpus_grouping_and_refuses_another():
    with pytest.raises(DataError) as info:
        make_splits(make_db(corpus=False), "loco")
    message = str(info.value)
    assert "protocol loco needs a 'corpus' grouping" in message and "speaker, fold" in message
    assert "--group speaker,corpus" in message and "\n" not in message
    with pytest.raises(ConfigError, match="protocol loco always splits by 'corpus'; drop --group-by speaker"):
        make_splits(make_db(), "loco", group_by="speaker")


def test_rows_in_no_group_are_counted_in_one_warning():
    fold_ids = FOLD_IDS.copy()
    fold_ids[:8] = -1  # utterances outside every official fold
    db = make_db(fold_ids=fold_ids)
    with pytest.warns(UnusedRowsWarning) as record:
        splits = make_splits(db, "logo", group_by="fold")
    assert [str(w.message) for w in record] == [
        f"8 of {N} rows are in no group of grouping 'fold' and are left out of every fold"]
    for split in splits:
        assert not np.isin(np.arange(8), np.concatenate([split.train, split.val, split.test])).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedRowsWarning)
        make_splits(db, "logo")  # every row has a speaker: no warning


def test_a_protocol_that_makes_no_fold_is_refused():
    with pytest.raises(ConfigError, match="protocol logo made no folds"):
        make_splits(make_db(), "logo", ignore_groups="0:9", val_share=0)


def _halves(ctx: SplitContext, parts: int = 2) -> list[Fold]:
    return [Fold(list(chunk)) for chunk in np.array_split(ctx.testable(), parts)]


HALVES = Splitter(name="halves", description="test the groups in equal parts", factory=_halves,
                  params=(Param("parts", "int", 2, "number of parts"),),
                  summary=lambda ctx, options: f"{options['parts']} parts of the {ctx.grouping.name} groups")


def test_a_third_party_splitter_is_used_by_name(register_fake, invoke):
    register_fake("halves_plugin", serzoo_register_splitters=lambda register: register(HALVES))
    db = make_db()
    splits = make_splits(db, "halves", options=["parts=5"], seed=3, group_by="speaker")
    assert [s.test_groups for s in splits] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    for split in splits:
        assert_leak_free(split, db.grouping("speaker"))
    assert splits[0].protocol == "5 parts of the speaker groups"  # the results' protocol line
    assert len(make_splits(db, "halves", val_share=0)) == 2  # the declared default
    listed = invoke("list", "splitters")
    assert "halves" in listed.output and "halves_plugin" in listed.output
    shown = invoke("show", "splitter", "halves")
    assert "parts" in shown.output and "number of parts" in shown.output
    TrainConfig(protocol="halves").validate()
    with pytest.raises(UnknownComponentError, match="--protocol: unknown splitter 'halvse'; did you mean halves"):
        TrainConfig(protocol="halvse").validate()


def test_a_splitter_sees_the_chosen_grouping_and_the_selections(register_fake):
    seen = []

    def spy(ctx: SplitContext) -> list[Fold]:
        seen.append(ctx)
        return [Fold([ctx.pool()[0]])]

    register_fake("spy_plugin", serzoo_register_splitters=lambda register: register(
        Splitter(name="spy", description="records what it sees", factory=spy)))
    make_splits(make_db(), "spy", group_by="fold", ignore_groups="1", adapt_groups="2", val_groups="3", seed=7)
    (ctx,) = seen
    assert ctx.grouping.name == "fold" and ctx.seed == 7 and ctx.protocol == "spy"
    assert ctx.pool() == [0, 4] and ctx.testable() == [0, 4]
    assert ctx.excluded == {1, 2} and ctx.val_groups == [3]


@pytest.mark.parametrize("result, message", [
    ([[0]], "splitter bad (plugin bad_plugin) returned [[0]]; it must return a list of serzoo.data.splits.Fold"),
    ([Fold([1])], "splitter bad tests group 1, which is not a usable speaker group"),
    ([Fold([12])], "tests group 12"),
])
def test_a_misbehaving_splitter_is_refused_in_one_line(register_fake, result, message):
    register_fake("bad_plugin", serzoo_register_splitters=lambda register: register(
        Splitter(name="bad", description="broken", factory=lambda ctx: result)))
    with pytest.raises(ConfigError) as info:
        make_splits(make_db(), "bad", ignore_groups="1")
    assert message in str(info.value)


def test_protocol_description_comes_from_the_splitter():
    from serzoo.training.results import protocol_description

    db = make_db()
    config = TrainConfig(protocol="kfold", folds=3)
    splits = make_splits(db, "kfold", folds=3)
    line = protocol_description(types.SimpleNamespace(config=config, splits=splits, db=db, total_folds=len(splits)))
    assert line.startswith("3-fold by whole speaker groups; validation share 0.1 of training groups; 3 folds")
    splits = make_splits(db, "kfold", folds=3, options={"by": "rows"})
    assert protocol_description(types.SimpleNamespace(config=config, splits=splits, db=db, total_folds=len(splits))).startswith("3-fold by rows")


def test_cli_protocol_and_split_options_errors(invoke, tmp_path):
    import h5py

    path = tmp_path / "db.h5"
    with h5py.File(path, "w") as hf:
        hf["feat"], hf["label"] = np.zeros((N, 3, 2)), (np.arange(N) % 3)[:, None].astype(float)
        ends = np.cumsum(SIZES).astype(float)
        hf["start_indice"], hf["end_indice"] = ends - SIZES, ends
    base = ("train", "--data", path, "--blocks", "fcn,dense")
    result = invoke(*base, "--protocol", "loso")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: --protocol: unknown splitter 'loso'; did you mean logo, loco? "
                                     "(see `serzoo list splitters`)")
    result = invoke(*base, "--protocol", "kfold", "--split-opt", "by=diagonal")
    assert result.exit_code == 2 and "kfold.by='diagonal': expected one of auto, groups, rows" in result.output
    result = invoke(*base, "--group-by", "fold")
    assert result.exit_code == 2 and "no grouping 'fold'" in result.output and "(groupings: group;" in result.output
