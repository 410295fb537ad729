"""Train/validation/test splits over the groups (speakers, corpora) of a database.

The vocabulary is SER_KERAS_TF_TRAINER's: groups are named by their index in
``start_indice``/``end_indice``, as lists (``0,3,5``), inclusive ranges
(``0:9``) or both (``0:3,7``). Unlike the original, validation data is never
the test data: without explicit validation groups a share of the *training*
groups (whole groups) is held out, or a share of training rows when the
database has no groups.

Protocols:

* ``logo``: leave one group out; each (non-ignored) group is the test set once,
  or each of ``test_groups`` when given.
* ``kfold``: random k-fold; over whole groups when the database has groups
  (speaker-independent folds), over rows otherwise (``kfold_by`` overrides).
* ``fixed``: one split whose test set is ``test_groups``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from serzoo.data.database import Database
from serzoo.core.errors import ConfigError

PROTOCOLS = ("logo", "kfold", "fixed")

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

    def check_disjoint(self) -> None:
        """Refuse a split whose parts share rows or groups (leakage guard).

        Raises:
            ConfigError: naming the two parts and an example of what they share.
        """
        parts = {"train": self.train, "validation": self.val, "test": self.test, "adaptation": self.adapt}
        groups = {"train": self.train_groups, "validation": self.val_groups, "test": self.test_groups}
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


def _as_groups(value, n_groups: int, option: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, str):
        return parse_groups(value, n_groups, option)
    out = [int(v) for v in value]
    return parse_groups(",".join(map(str, out)), n_groups, option) if out else []


def _rows(db: Database, groups: Sequence[int]) -> np.ndarray:
    if not groups:
        return np.empty(0, dtype=np.int64)
    return np.concatenate([np.arange(*db.groups[g], dtype=np.int64) for g in groups])


def _hold_out(db, pool_groups, pool_rows, val_share, rng, where):
    """Take a validation share from the training pool: whole groups when there are groups."""
    if val_share <= 0:
        return list(pool_groups), pool_rows, [], np.empty(0, dtype=np.int64)
    if len(pool_groups) >= 2:
        n_val = min(len(pool_groups) - 1, max(1, int(round(val_share * len(pool_groups)))))
        val_groups = sorted(rng.choice(pool_groups, size=n_val, replace=False).tolist())
        train_groups = [g for g in pool_groups if g not in val_groups]
        return train_groups, _rows(db, train_groups), val_groups, _rows(db, val_groups)
    if len(pool_rows) < 2:
        raise ConfigError(f"{where}: {len(pool_rows)} training rows leave nothing to hold out for validation; "
                          "give --val-groups or set the validation share to 0")
    # one training group (or none): hold out rows, but never test rows, since the pool excludes them
    n_val = min(len(pool_rows) - 1, max(1, int(round(val_share * len(pool_rows)))))
    picked = rng.permutation(len(pool_rows))
    val = np.sort(pool_rows[picked[:n_val]])
    train = np.sort(pool_rows[picked[n_val:]])
    return list(pool_groups), train, [], val


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
) -> list[Split]:
    """Cut a database into train/validation/test folds.

    Group selections are index lists or strings such as ``"0:3,7"``. When the
    database has groups, rows that no group covers are left out of every split.

    Args:
        db: the database; its ``groups`` are the units of speaker- or corpus-independent splits.
        protocol: ``logo``, ``kfold`` or ``fixed`` (see the module docstring).
        test_groups: ``fixed``: the test set; ``logo``: only these groups take a turn as test.
        val_groups: validation groups for every fold; else ``val_share`` of the training pool.
        train_groups: restrict training to these groups (default: all that remain).
        ignore_groups: groups used nowhere.
        adapt_groups: groups kept out of train/validation/test and returned as ``Split.adapt``.
        folds: number of folds for ``kfold``.
        val_share: share of the training pool held out for validation (0: none).
        seed: seeds every random choice (fold assignment, held-out groups).
        kfold_by: ``auto`` (groups when there are any), ``groups`` or ``rows``.

    Returns:
        The splits, each checked with :meth:`Split.check_disjoint`.

    Raises:
        ConfigError: unknown protocol, missing groups, or selections that contradict each other.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown split protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if not 0 <= val_share < 1:
        raise ConfigError(f"validation share {val_share} must be at least 0 and below 1")
    seed = int(seed) % 2**32  # NumPy seeds must be non-negative
    n = len(db.groups)
    sel = {
        "test": _as_groups(test_groups, n, "--test-groups"),
        "val": _as_groups(val_groups, n, "--val-groups"),
        "train": _as_groups(train_groups, n, "--train-groups"),
        "ignore": _as_groups(ignore_groups, n, "--ignore-groups"),
        "adapt": _as_groups(adapt_groups, n, "--adapt-groups"),
    }
    option = {"test": "--test-groups", "val": "--val-groups", "train": "--train-groups",
              "ignore": "--ignore-groups", "adapt": "--adapt-groups"}
    keys = list(sel)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            common = set(sel[a]) & set(sel[b])
            if common:
                raise ConfigError(f"group {min(common)} is in both {option[a]} and {option[b]}")
    excluded = set(sel["ignore"]) | set(sel["adapt"])
    adapt_rows = np.sort(_rows(db, sel["adapt"]))

    if protocol == "logo":
        if n < 2:
            raise ConfigError("protocol logo (leave one group out) needs at least 2 groups "
                              "(start_indice/end_indice); use --protocol kfold")
        candidates = sel["test"] or [g for g in range(n) if g not in excluded and g not in sel["val"]]
        tests = [[g] for g in candidates]
    elif protocol == "fixed":
        if not sel["test"]:
            raise ConfigError("protocol fixed needs --test-groups (for example --test-groups 0:1)")
        tests = [sel["test"]]
    else:
        return _kfold(db, sel, excluded, adapt_rows, folds, val_share, seed, kfold_by)

    splits = []
    for i, test in enumerate(tests):
        rng = np.random.default_rng([seed, i])
        pool = [g for g in (sel["train"] or range(n)) if g not in excluded and g not in test and g not in sel["val"]]
        if not pool:
            raise ConfigError(f"fold {i}: no groups left to train on after test {test}, validation, ignored "
                              "and adaptation groups")
        if sel["val"]:
            train_g, train, val_g, val = pool, _rows(db, pool), sel["val"], _rows(db, sel["val"])
        else:
            train_g, train, val_g, val = _hold_out(db, pool, _rows(db, pool), val_share, rng, f"fold {i}")
        split = Split(f"fold{i}", np.sort(train), np.sort(val), np.sort(_rows(db, test)),
                      list(train_g), list(val_g), list(test), adapt_rows)
        split.check_disjoint()
        splits.append(split)
    return splits


def _kfold(db, sel, excluded, adapt_rows, folds, val_share, seed, kfold_by) -> list[Split]:
    if kfold_by not in ("auto", "groups", "rows"):
        raise ConfigError(f"kfold_by {kfold_by!r}: choose auto, groups or rows")
    if sel["test"]:
        raise ConfigError("protocol kfold chooses its own test folds; drop --test-groups or use --protocol fixed")
    n = len(db.groups)
    by_groups = kfold_by == "groups" or (kfold_by == "auto" and n > 0)
    if by_groups and n == 0:
        raise ConfigError("k-fold over groups needs groups (start_indice/end_indice); use rows")
    if folds < 2:
        raise ConfigError(f"k-fold needs at least 2 folds, got {folds}")
    rng = np.random.default_rng(seed)
    fixed_val = sel["val"]
    if by_groups:
        pool = [g for g in (sel["train"] or range(n)) if g not in excluded and g not in fixed_val]
        if len(pool) < folds:
            raise ConfigError(f"{folds}-fold over groups needs at least {folds} groups, {len(pool)} are available; "
                              "use fewer folds or k-fold over rows")
        units = np.array_split(rng.permutation(pool), folds)
    else:
        if n:  # rows of the selected groups only
            keep = [g for g in (sel["train"] or range(n)) if g not in excluded and g not in fixed_val]
            pool_rows = _rows(db, keep)
        else:
            pool_rows = np.arange(db.n_rows, dtype=np.int64)
        if len(pool_rows) < folds:
            raise ConfigError(f"{folds}-fold needs at least {folds} rows, {len(pool_rows)} are available")
        units = np.array_split(rng.permutation(pool_rows), folds)
    splits = []
    for i, unit in enumerate(units):
        fold_rng = np.random.default_rng([seed, i])
        if by_groups:
            test_g = sorted(int(g) for g in unit)
            rest = [g for g in pool if g not in test_g]
            test = _rows(db, test_g)
            if fixed_val:
                train_g, train, val_g, val = rest, _rows(db, rest), fixed_val, _rows(db, fixed_val)
            else:
                train_g, train, val_g, val = _hold_out(db, rest, _rows(db, rest), val_share, fold_rng, f"fold {i}")
        else:
            test_g, test = [], np.sort(unit)
            rest = np.setdiff1d(pool_rows, test)
            if fixed_val:
                train_g, train, val_g, val = [], rest, fixed_val, _rows(db, fixed_val)
            else:
                _, train, _, val = _hold_out(db, [], rest, val_share, fold_rng, f"fold {i}")
                train_g, val_g = [], []
        split = Split(f"fold{i}", np.sort(train), np.sort(val), np.sort(test),
                      list(train_g), list(val_g), list(test_g), adapt_rows)
        split.check_disjoint()
        splits.append(split)
    return splits
