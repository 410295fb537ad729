"""Train/validation/test splits over the groups of one grouping (speakers, corpora, official folds).

The protocol is a registered splitter (``serzoo list splitters``; the core's
own are in :mod:`serzoo.data.splitters`) that only chooses what each fold
tests. Everything else is done here, the same way for every protocol: group
selections are parsed and checked against each other, training takes the
groups left, and validation is held out of the *training* groups (whole
groups, or rows when one training group is left), never the test data; each
fold is checked with :meth:`Split.check_disjoint`.

The vocabulary is SER_KERAS_TF_TRAINER's: groups are named by their index in
the chosen grouping (in ``start_indice``/``end_indice`` for the default one),
as lists (``0,3,5``), inclusive ranges (``0:9``) or both (``0:3,7``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.core.plugin_manager import splitters
from serzoo.core.registry import Splitter
from serzoo.data.database import Database
from serzoo.data.grouping import Grouping

#: the group-selection options, by the key make_splits uses for them
SELECTION_OPTIONS = {"test": "--test-groups", "val": "--val-groups", "train": "--train-groups",
                     "ignore": "--ignore-groups", "adapt": "--adapt-groups"}


class UnusedRowsWarning(UserWarning):
    """Rows that belong to no group of the chosen grouping, so no fold uses them."""


_TOKEN = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def parse_groups(text: str, n_groups: int, option: str) -> list[int]:
    """Parse a group selection such as ``0,3,5``, ``0:9`` (inclusive) or ``0:3,7``.

    Args:
        text: the selection as typed.
        n_groups: how many groups the database has.
        option: the option name for messages (``--test-groups``).

    Returns:
        The group indices, in the order given, without repeats.

    Raises:
        ConfigError: malformed text, a reversed range, or an index that does not exist.
    """
    chosen: list[int] = []
    for token in str(text).split(","):
        if not token.strip():
            continue
        m = _TOKEN.match(token)
        if not m:
            raise ConfigError(f"{option} {text!r}: {token.strip()!r} is not a group index or range "
                              "such as 0,3,5 or 0:9")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ConfigError(f"{option} {text!r}: range {lo}:{hi} runs backwards; write {hi}:{lo}")
        for g in range(lo, hi + 1):
            if g >= n_groups:
                have = f"groups 0..{n_groups - 1}" if n_groups else "no groups (no start_indice/end_indice)"
                raise ConfigError(f"{option} {text!r}: group {g} does not exist; the database has {have}")
            if g not in chosen:
                chosen.append(g)
    return chosen


@dataclass
class Split:
    """One fold: row indices of each part, and the groups they came from."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_groups: list[int] = field(default_factory=list)
    val_groups: list[int] = field(default_factory=list)
    test_groups: list[int] = field(default_factory=list)
    adapt: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: the grouping the group indices refer to, and its group names
    grouping: str = ""
    group_names: list[str] = field(default_factory=list, repr=False)
    #: how the split was made: the splitter's one-line summary
    protocol: str = ""
    #: the groups of the adaptation rows (trained on after the training stage, never tested)
    adapt_groups: list[int] = field(default_factory=list)

    @property
    def test_names(self) -> list[str]:
        """Names of the test groups (``["spk03"]``)."""
        return [self.group_names[g] if g < len(self.group_names) else str(g) for g in self.test_groups]

    def check_disjoint(self) -> None:
        """Refuse a split whose parts share rows or groups (leakage guard).

        Raises:
            ConfigError: naming the two parts and an example of what they share.
        """
        parts = {"train": self.train, "validation": self.val, "test": self.test, "adaptation": self.adapt}
        groups = {"train": self.train_groups, "validation": self.val_groups, "test": self.test_groups,
                  "adaptation": self.adapt_groups}
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                shared = np.intersect1d(parts[a], parts[b])
                if shared.size:
                    raise ConfigError(f"split {self.name}: {a} and {b} share {shared.size} rows (first {shared[0]})")
                common = set(groups.get(a, ())) & set(groups.get(b, ()))
                if common:
                    raise ConfigError(f"split {self.name}: group {min(common)} is in both {a} and {b}")

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test), "adapt": len(self.adapt)}


@dataclass
class Fold:
    """What one fold tests, as a splitter returns it: whole groups, or rows when there are no groups.

    Args:
        test_groups: group indices (in the chosen grouping) of the test set.
        test_rows: test row indices instead of groups (k-fold over rows); ``None`` when groups are given.
    """

    test_groups: Sequence[int] = ()
    test_rows: np.ndarray | None = None


class SplitContext:
    """What a splitter sees: the chosen grouping, the group selections of the command line, the seed.

    Args:
        protocol: the splitter's name, for messages.
        grouping: the grouping folds are made of (a group id per row).
        selections: parsed group indices by key: ``test``, ``val``, ``train``, ``ignore``, ``adapt``.
        seed: the run's seed; :meth:`rng` derives generators from it.
    """

    def __init__(self, protocol: str, grouping: Grouping, selections: Mapping[str, list[int]], seed: int):
        self.protocol = protocol
        self.grouping = grouping
        self.selections = {key: list(selections.get(key, ())) for key in SELECTION_OPTIONS}
        self.seed = seed

    test_groups = property(lambda self: self.selections["test"], doc="--test-groups, as indices.")
    val_groups = property(lambda self: self.selections["val"], doc="--val-groups, as indices.")
    train_groups = property(lambda self: self.selections["train"], doc="--train-groups, as indices.")
    ignore_groups = property(lambda self: self.selections["ignore"], doc="--ignore-groups, as indices.")
    adapt_groups = property(lambda self: self.selections["adapt"], doc="--adapt-groups, as indices.")

    @property
    def n_groups(self) -> int:
        return self.grouping.n_groups

    @property
    def excluded(self) -> set[int]:
        """Groups used neither for training nor testing: ignored and adaptation groups."""
        return set(self.ignore_groups) | set(self.adapt_groups)

    def testable(self) -> list[int]:
        """Groups that may take a turn as test: all but ignored, adaptation and validation groups."""
        return [g for g in range(self.n_groups) if g not in self.excluded and g not in self.val_groups]

    def pool(self) -> list[int]:
        """Groups to share out between test and training: ``--train-groups`` (or all) but the excluded
        and validation groups."""
        return [g for g in (self.train_groups or range(self.n_groups))
                if g not in self.excluded and g not in self.val_groups]

    def pool_rows(self) -> np.ndarray:
        """Rows of :meth:`pool`, in group order; every row when the grouping has no groups."""
        if not self.n_groups:
            return np.arange(self.grouping.n_rows, dtype=np.int64)
        return self.grouping.rows(self.pool())

    def rng(self, *key: int) -> np.random.Generator:
        """A generator seeded by the run's seed (and ``key``, such as the fold index)."""
        return np.random.default_rng([self.seed, *key] if key else self.seed)


def _as_groups(value, n_groups: int, option: str, padded: int = 0) -> list[int]:
    """Parse a selection; indices of padding groups (``n_groups`` on, ``padded`` of them) select nothing."""
    if value is None:
        return []
    text = value if isinstance(value, str) else ",".join(str(int(v)) for v in value)
    return [g for g in parse_groups(text, n_groups + padded, option) if g < n_groups] if text else []


def _hold_out(grouping: Grouping, pool_groups, pool_rows, val_share, rng, where):
    """Take a validation share from the training pool: whole groups when there are groups."""
    if val_share <= 0:
        return list(pool_groups), pool_rows, [], np.empty(0, dtype=np.int64)
    if len(pool_groups) >= 2:
        n_val = min(len(pool_groups) - 1, max(1, int(round(val_share * len(pool_groups)))))
        val_groups = sorted(rng.choice(pool_groups, size=n_val, replace=False).tolist())
        train_groups = [g for g in pool_groups if g not in val_groups]
        return train_groups, grouping.rows(train_groups), val_groups, grouping.rows(val_groups)
    if len(pool_rows) < 2:
        raise ConfigError(f"{where}: {len(pool_rows)} training rows leave nothing to hold out for validation; "
                          "give --val-groups or set the validation share to 0")
    # one training group (or none): hold out rows, but never test rows, since the pool excludes them
    n_val = min(len(pool_rows) - 1, max(1, int(round(val_share * len(pool_rows)))))
    picked = rng.permutation(len(pool_rows))
    val = np.sort(pool_rows[picked[:n_val]])
    train = np.sort(pool_rows[picked[n_val:]])
    return list(pool_groups), train, [], val


def choose_grouping(db: Database, splitter: Splitter, group_by: str | None) -> Grouping:
    """The grouping a protocol splits by: the splitter's own, else ``group_by``, else the database's first.

    Raises:
        ConfigError: ``group_by`` contradicts a splitter bound to another grouping.
        DataError: the database lacks the grouping, naming the ones it has.
    """
    if splitter.grouping:
        if group_by and group_by != splitter.grouping:
            raise ConfigError(f"protocol {splitter.name} always splits by {splitter.grouping!r}; "
                              f"drop --group-by {group_by}")
        if splitter.grouping not in db.groupings:
            have = ", ".join(db.groupings) or "none"
            raise DataError(f"{db.path or 'database'}: protocol {splitter.name} needs a {splitter.grouping!r} "
                            f"grouping, and this database has {have}; build it with "
                            f"`serzoo data build META --group speaker,{splitter.grouping}`")
    return db.grouping(splitter.grouping or group_by)


def _options(splitter: Splitter, options, shared: Mapping[str, Any]) -> dict[str, Any]:
    """The splitter's options: shared values (``--folds``) where it declares them, then ``options``."""
    declared = {p.name for p in splitter.params}
    values = {k: v for k, v in shared.items() if k in declared}
    if isinstance(options, Mapping):
        values.update(options)
    else:  # NAME=VALUE strings from the command line, typed by the splitter's declared parameters
        for item in options or ():
            key, sep, text = str(item).partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--split-opt {item!r}: expected NAME=VALUE (see `serzoo show splitter "
                                  f"{splitter.name}`)")
            values[key.strip()] = splitter.param(key.strip()).parse(text.strip(), where=f"{splitter.name}.")
    return splitter.resolve(values)


def _folds(splitter: Splitter, ctx: SplitContext, options: dict) -> list[Fold]:
    tests = splitter.factory(ctx, **options)
    if not isinstance(tests, (list, tuple)) or not all(isinstance(t, Fold) for t in tests):
        raise ConfigError(f"splitter {splitter.name} (plugin {splitter.plugin}) returned {repr(tests)[:60]}; "
                          "it must return a list of serzoo.data.splits.Fold")
    if not tests:
        raise ConfigError(f"protocol {splitter.name} made no folds: every {ctx.grouping.name} group is ignored, "
                          "an adaptation or a validation group")
    for test in tests:
        bad = [g for g in test.test_groups if not 0 <= int(g) < ctx.n_groups or int(g) in ctx.excluded]
        if bad:
            raise ConfigError(f"splitter {splitter.name} tests group {bad[0]}, which is not a usable "
                              f"{ctx.grouping.name} group (0..{ctx.n_groups - 1}, not ignored or adaptation)")
    return list(tests)


def _warn_unused(grouping: Grouping) -> None:
    if grouping.n_groups and grouping.unused:
        warnings.warn(f"{grouping.unused} of {grouping.n_rows} rows are in no group of grouping {grouping.name!r} "
                      "and are left out of every fold", UnusedRowsWarning, stacklevel=3)


def make_splits(
    db: Database,
    protocol: str = "logo",
    *,
    test_groups=None,
    val_groups=None,
    train_groups=None,
    ignore_groups=None,
    adapt_groups=None,
    folds: int = 5,
    val_share: float = 0.1,
    seed: int = 0,
    kfold_by: str = "auto",
    group_by: str | None = None,
    options: Mapping[str, Any] | Sequence[str] | None = None,
) -> list[Split]:
    """Cut a database into train/validation/test folds with a registered splitter.

    Group selections are index lists or strings such as ``"0:3,7"``, in the
    chosen grouping. Rows that no group of it covers are left out of every
    split, with a :class:`UnusedRowsWarning` saying how many.

    Args:
        db: the database; its groupings are the units of speaker- or corpus-independent splits.
        protocol: a registered splitter (``logo``, ``kfold``, ``fixed``, ``loco``, or a plugin's).
        test_groups: ``fixed``: the test set; ``logo``: only these groups take a turn as test.
        val_groups: validation groups for every fold; else ``val_share`` of the training pool.
        train_groups: restrict training to these groups (default: all that remain).
        ignore_groups: groups used nowhere.
        adapt_groups: groups kept out of train/validation/test and returned as ``Split.adapt``.
        folds: number of folds, for a splitter with a ``folds`` option (``kfold``).
        val_share: share of the training pool held out for validation (0: none).
        seed: seeds every random choice (fold assignment, held-out groups).
        kfold_by: ``by`` option of a splitter that has one (``kfold``: ``auto``, ``groups`` or ``rows``).
        group_by: the grouping to split by (``speaker``, ``fold``); default: the database's first.
        options: splitter options, typed or as ``NAME=VALUE`` strings; they override ``folds``/``kfold_by``.

    Returns:
        The splits, each checked with :meth:`Split.check_disjoint`.

    Raises:
        UnknownComponentError: no splitter of that name (with close matches).
        ConfigError: missing groups, or selections that contradict each other.
        DataError: the database lacks the grouping asked for.
    """
    splitter = splitters().get(protocol)
    if not 0 <= val_share < 1:
        raise ConfigError(f"validation share {val_share} must be at least 0 and below 1")
    seed = int(seed) % 2**32  # NumPy seeds must be non-negative
    values = _options(splitter, options, {"folds": folds, "by": kfold_by})
    grouping = choose_grouping(db, splitter, group_by)
    n = grouping.n_groups
    sel = {key: _as_groups(value, n, SELECTION_OPTIONS[key], grouping.padded) for key, value in (
        ("test", test_groups), ("val", val_groups), ("train", train_groups),
        ("ignore", ignore_groups), ("adapt", adapt_groups))}
    keys = list(sel)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            common = set(sel[a]) & set(sel[b])
            if common:
                raise ConfigError(f"group {min(common)} is in both {SELECTION_OPTIONS[a]} and {SELECTION_OPTIONS[b]}")
    ctx = SplitContext(splitter.name, grouping, sel, seed)
    tests = _folds(splitter, ctx, values)
    _warn_unused(grouping)
    summary = splitter.summarize(ctx, values)
    splits = []
    for i, test in enumerate(tests):
        split = _fold(ctx, i, test, val_share)
        split.protocol = summary
        split.check_disjoint()
        splits.append(split)
    return splits


def _fold(ctx: SplitContext, i: int, test: Fold, val_share: float) -> Split:
    """One fold: the test set given, training from what is left, validation out of the training part."""
    grouping, rng, where = ctx.grouping, ctx.rng(i), f"fold {i}"
    adapt_rows = np.sort(grouping.rows(ctx.adapt_groups))
    fixed_val = ctx.val_groups
    if test.test_rows is None:
        test_groups = [int(g) for g in test.test_groups]
        pool = [g for g in (ctx.train_groups or range(ctx.n_groups))
                if g not in ctx.excluded and g not in test_groups and g not in fixed_val]
        if not pool:
            raise ConfigError(f"{where}: no groups left to train on after test {test_groups}, validation, ignored "
                              "and adaptation groups")
        test_rows = grouping.rows(test_groups)
        if fixed_val:
            train_g, train, val_g, val = pool, grouping.rows(pool), fixed_val, grouping.rows(fixed_val)
        else:
            train_g, train, val_g, val = _hold_out(grouping, pool, grouping.rows(pool), val_share, rng, where)
    else:  # rows, not groups, are tested: the rest of the pool trains, validation is rows of it
        test_groups, test_rows = [], np.unique(np.asarray(test.test_rows, dtype=np.int64))
        rest = np.setdiff1d(ctx.pool_rows(), test_rows)
        if fixed_val:
            train_g, train, val_g, val = [], rest, fixed_val, grouping.rows(fixed_val)
        else:
            _, train, _, val = _hold_out(grouping, [], rest, val_share, rng, where)
            train_g, val_g = [], []
    return Split(f"fold{i}", np.sort(train), np.sort(val), np.sort(test_rows), list(train_g), list(val_g),
                 list(test_groups), adapt_rows, grouping=grouping.name, group_names=grouping.names,
                 adapt_groups=list(ctx.adapt_groups))
