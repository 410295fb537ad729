"""The label side of ``serzoo data merge``: one common label set for several corpora.

Labels and classes of the same name become one task, with the class lists united
in order of first appearance; a :class:`LabelMap` (``--map``, ``--per-corpus``)
renames labels and classes first, or keeps a label a separate task per corpus.
A corpus without a label gets the missing-label mask (:mod:`serzoo.data.labels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from serzoo.core.errors import ConfigError
from serzoo.data.database import Database
from serzoo.data.labels import MISSING_CLASS, has_label, missing_value


@dataclass
class LabelMap:
    """What ``--map`` and ``--per-corpus`` ask for.

    Args:
        labels: old label name -> new label name.
        classes: label name (after renaming) -> {old class name: new class name, or "" for no label}.
        per_corpus: labels kept as one task per corpus.
    """

    labels: dict[str, str] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)
    per_corpus: tuple[str, ...] = ()

    @classmethod
    def parse(cls, specs: Sequence[str] = (), per_corpus: Sequence[str] | str = ()) -> "LabelMap":
        """Parse ``--map`` items: ``OLD:NEW`` renames a label, ``LABEL=OLD:NEW,...`` renames classes.

        Raises:
            ConfigError: an item of neither form.
        """
        out = cls(per_corpus=tuple(names_list(per_corpus)))
        for spec in specs:
            label, eq, pairs = spec.partition("=")
            if not eq:
                old, colon, new = spec.partition(":")
                if not colon or not old.strip() or not new.strip():
                    raise ConfigError(f"--map {spec!r}: expected OLD:NEW (a label) or LABEL=OLD:NEW,... (classes)")
                out.labels[old.strip()] = new.strip()
                continue
            renames = out.classes.setdefault(label.strip(), {})
            for pair in [p for p in pairs.split(",") if p.strip()]:
                old, colon, new = pair.partition(":")
                if not colon or not old.strip():
                    raise ConfigError(f"--map {spec!r}: class item {pair!r} is not OLD:NEW (NEW empty: no label)")
                renames[old.strip()] = new.strip()
        return out


def names_list(value: Sequence[str] | str | None) -> list[str]:
    """Names given as a list or as comma-separated text."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value or ()]


def _continuous(db: Database, k: int) -> bool:
    """A label without class names whose values are not class indices (a regression target)."""
    if db.class_names.get(db.label_names[k]):
        return False
    column = db.labels[:, k]
    column = column[~np.isnan(column)]
    return bool(((column < 0) & (column != MISSING_CLASS)).any() or (column != np.round(column)).any())


def _classnames_list(db: Database, k: int) -> list[str]:
    declared = db.class_names.get(db.label_names[k])
    return list(declared) if declared else [str(c) for c in range(db.num_classes(k))]


def _corpus_label(name: str, corpus: str) -> str:
    suffix = re.sub(r"[^0-9a-zA-Z_]", "_", corpus)
    return f"{name}_{suffix}"


def merge_labels(dbs: Sequence[Database], corpora: Sequence[str], mapping: LabelMap):
    """The common label set and each corpus's labels in it (mask where a corpus lacks one).

    Returns:
        ``(label_names, class_names, labels per corpus)``; class names only for class labels.

    Raises:
        ConfigError: a label that is a class label in one corpus and continuous in another;
            a map naming a label or class no input has.
    """
    plan: dict[str, dict] = {}  # out label -> {"continuous": bool, "classes": [...]}
    columns = []  # per corpus: [(k, out name, class index map or None)]
    for db, corpus in zip(dbs, corpora):
        mine = []
        for k, name in enumerate(db.label_names):
            out = mapping.labels.get(name, name)
            out = _corpus_label(out, corpus) if out in mapping.per_corpus else out
            continuous = _continuous(db, k)
            entry = plan.setdefault(out, {"continuous": continuous, "classes": []})
            if entry["continuous"] != continuous:
                raise ConfigError(f"label {out!r} is continuous in one input and a class label in another "
                                  f"({db.path}); rename one with --map OLD:NEW")
            targets = None
            if not continuous:
                renames = mapping.classes.get(mapping.labels.get(name, name), {})
                targets = [renames.get(c, c) for c in _classnames_list(db, k)]
                entry["classes"].extend(t for t in targets if t and t not in entry["classes"])
            mine.append((k, out, targets))
        columns.append(mine)
    _check_map_used(mapping, dbs, plan)
    names = list(plan)
    out_labels = []
    for db, mine in zip(dbs, columns):
        block = np.tile([missing_value(plan[n]["continuous"]) for n in names], (db.n_rows, 1))
        for k, out, targets in mine:
            column = db.labels[:, k]
            if targets is None:
                block[:, names.index(out)] = column
                continue
            classes = plan[out]["classes"]
            lookup = np.array([classes.index(t) if t else MISSING_CLASS for t in targets] or [0], dtype=np.float64)
            present = has_label(column)
            block[present, names.index(out)] = lookup[column[present].astype(np.int64)]
        out_labels.append(block)
    class_names = {n: p["classes"] for n, p in plan.items() if not p["continuous"]}
    return names, class_names, out_labels


def _check_map_used(mapping: LabelMap, dbs: Sequence[Database], plan: dict) -> None:
    """A map naming nothing in the inputs is a typo: say so rather than merge unmapped."""
    have = {n for db in dbs for n in db.label_names}
    for old in mapping.labels:
        if old not in have:
            raise ConfigError(f"--map {old}:...: no input has a label {old!r} (labels: {', '.join(sorted(have))})")
    for label, renames in mapping.classes.items():
        known = {c for db in dbs for k, n in enumerate(db.label_names) if mapping.labels.get(n, n) == label
                 and not _continuous(db, k) for c in _classnames_list(db, k)}
        unknown = sorted(set(renames) - known)
        if unknown:
            raise ConfigError(f"--map {label}=...: no input has class {unknown[0]!r} in label {label!r} "
                              f"(classes: {', '.join(sorted(known)) or 'none'})")
    for name in mapping.per_corpus:
        if not any(mapping.labels.get(n, n) == name for n in have):
            raise ConfigError(f"--per-corpus {name}: no input has that label (labels: {', '.join(sorted(have))})")
