"""Aggregated corpora: join feature databases of several corpora into one (``serzoo data merge``).

Training on several corpora at once, and testing across them, needs one
database whose rows know their corpus. :func:`merge_databases` joins databases
with the same features (layout, shape and recorded feature settings must agree)
and:

* maps the label sets onto a common one: labels and classes of the same name
  become one task, with the class lists united in order of first appearance;
  ``--map`` renames labels (``emo:emotion``) or classes (``emotion=anger:angry``)
  before that, and an empty class target (``emotion=boredom:``) leaves those rows
  without the label; ``per_corpus`` keeps a label a separate task per corpus
  (``emotion_a``, ``emotion_b``);
* gives rows of a corpus that lacks a label the missing-label mask
  (:mod:`serzoo.data.labels`): its head is not trained on them and they are not
  scored for it;
* keeps the corpus and the speaker as groupings (``groups/corpus``, and
  ``groups/speaker`` with speakers made unique per corpus: ``corpus/speaker``),
  plus every other grouping all inputs have, also per corpus; rows are ordered by
  speaker, which gives SER_FEAT_EXT's ``start_indice``/``end_indice``;
* can keep only some groups' rows (``where={"corpus": ["a"]}``), which also
  makes a one-corpus database out of an aggregated one.

An input that already has a ``corpus`` grouping (an earlier merge, or a table built
with ``--group speaker,corpus``) keeps its corpus names; its speakers are made unique
per corpus too, so ``serzoo data merge one.h5 --where corpus=a -o a.h5`` filters by corpus. The speaker grouping of any other input is its
``speaker`` grouping, else its default (first) grouping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from serzoo import __version__
from serzoo.core.errors import ConfigError, DataError
from serzoo.core.files import atomic_path, check_output
from serzoo.data.database import Database
from serzoo.data.grouping import Grouping
from serzoo.data.h5io import LENGTHS_DATASET, UTTERANCE_DATASET, encode_attrs, write_groupings
from serzoo.data.labels import MASKED_ATTR, has_label
from serzoo.data.merge_labels import LabelMap, merge_labels, names_list

CORPUS, SPEAKER = "corpus", "speaker"
#: rows copied per write
_COPY_ROWS = 256


def _flat(value, prefix: str = "") -> dict[str, object]:
    """Nested settings as ``{"extractors.0.options.n_mels": 40, ...}``, for naming what differs."""
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return {prefix: value}
    out: dict[str, object] = {prefix: f"{type(value).__name__} of {len(value)}"} if prefix else {}
    for key, item in items:
        out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_same_features(dbs: Sequence[Database], check_settings: bool = True) -> list[str]:
    """Refuse databases whose features differ in layout, shape or recorded settings.

    Returns:
        Notes for the user (settings that could not be compared).

    Raises:
        DataError: one line naming both files and the first thing that differs.
    """
    first, notes = dbs[0], []
    for db in dbs[1:]:
        pair = f"{db.path} and {first.path}"
        if db.file_layout != first.file_layout or db.file_shape[1:] != first.file_shape[1:]:
            raise DataError(f"{pair} differ in feature layout/shape: {db.file_layout} {db.file_shape[1:]} vs "
                            f"{first.file_layout} {first.file_shape[1:]}; merge databases built with the same "
                            "features, layout and --max-steps")
        if not check_settings:
            continue
        mine, theirs = db.attrs.get("features"), first.attrs.get("features")
        if mine is None and theirs is None:
            notes.append(f"{pair} record no feature settings; only their shapes were compared")
            continue
        if (mine is None) != (theirs is None):
            lacking = db.path if mine is None else first.path
            raise DataError(f"{lacking} records no feature settings, so they cannot be compared with the other "
                            "file's; give --no-check-features to merge on equal shapes alone")
        a, b = _flat(mine), _flat(theirs)
        differ = [k for k in dict.fromkeys([*b, *a]) if a.get(k) != b.get(k)]
        if differ:
            key = differ[0]
            raise DataError(f"{pair} differ in feature setting {key}: {a.get(key)!r} vs {b.get(key)!r}; merge "
                            "databases built with the same features (or give --no-check-features)")
    return notes


def _row_values(grouping: Grouping | None, n_rows: int) -> list[str]:
    """The group name of each row ("" for a row in no group)."""
    if grouping is None:
        return [""] * n_rows
    return [grouping.names[g] if 0 <= g < grouping.n_groups else "" for g in grouping.ids]


def _speaker_grouping(db: Database) -> Grouping | None:
    if SPEAKER in db.groupings:
        return db.groupings[SPEAKER]
    rest = [g for g in db.groupings.values() if g.name != CORPUS]
    return rest[0] if rest else None


def merge_groupings(dbs: Sequence[Database], corpora: Sequence[str]) -> dict[str, list[str]]:
    """Group name per row of every output grouping: speaker, corpus, then the groupings all inputs share.

    Speakers and the shared groupings are made unique per corpus (``corpus/name``); an input with a
    corpus grouping of its own (an aggregated database, or one built with ``--group speaker,corpus``)
    keeps its corpus names, and names that already start with their corpus stay as they are.
    """
    shared = [name for name in dbs[0].groupings if name not in (CORPUS, SPEAKER)
              and all(name in db.groupings for db in dbs)]
    values: dict[str, list[str]] = {SPEAKER: [], CORPUS: [], **{name: [] for name in shared}}
    for db, corpus in zip(dbs, corpora):
        merged_before = CORPUS in db.groupings
        corpus_rows = _row_values(db.groupings[CORPUS], db.n_rows) if merged_before else [corpus] * db.n_rows
        values[CORPUS].extend(corpus_rows)
        own = {SPEAKER: _speaker_grouping(db), **{name: db.groupings[name] for name in shared}}
        for name, grouping in own.items():
            rows = _row_values(grouping, db.n_rows)
            values[name].extend(v if not v or v.startswith(f"{c}/") else f"{c}/{v}" for c, v in zip(corpus_rows, rows))
    return values


def _select(values: dict[str, list[str]], where: Mapping[str, Sequence[str]] | None) -> np.ndarray:
    """Rows kept by ``where`` (grouping -> group names); all rows without it.

    Raises:
        ConfigError: an unknown grouping or group name.
    """
    n = len(values[CORPUS])
    keep = np.ones(n, dtype=bool)
    for name, wanted in (where or {}).items():
        if name not in values:
            raise ConfigError(f"--where {name}=...: no grouping {name!r}; groupings are {', '.join(values)}")
        column = np.asarray(values[name], dtype=object)
        have = set(values[name]) - {""}
        unknown = sorted(set(wanted) - have)
        if unknown:
            raise ConfigError(f"--where {name}={','.join(wanted)}: no {name} {unknown[0]!r} "
                              f"({name}s: {', '.join(sorted(have)[:12])})")
        keep &= np.isin(column, list(wanted))
    if not keep.any():
        raise ConfigError("--where keeps no rows")
    return np.flatnonzero(keep)


def parse_where(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["corpus=a,b", "speaker=a/03"]`` as ``{"corpus": ["a", "b"], ...}``.

    Raises:
        ConfigError: an item that is not GROUPING=NAMES.
    """
    out: dict[str, list[str]] = {}
    for spec in specs:
        name, eq, wanted = spec.partition("=")
        if not eq or not name.strip() or not names_list(wanted):
            raise ConfigError(f"--where {spec!r}: expected GROUPING=NAME[,NAME...] such as corpus=emodb")
        out.setdefault(name.strip(), []).extend(names_list(wanted))
    return out


def merge_databases(paths: Sequence, out_path, *, names: Sequence[str] | str | None = None,
                    maps: Sequence[str] = (), per_corpus: Sequence[str] | str = (),
                    where: Mapping[str, Sequence[str]] | None = None, check_features: bool = True,
                    force: bool = False, progress: Callable[[int, int], None] | None = None,
                    notes: list[str] | None = None) -> Path:
    """Join feature databases of several corpora into one HDF5 database (see the module docstring).

    Args:
        paths: the input databases.
        out_path: the ``.h5`` file to write (atomically; never one of the inputs).
        names: one corpus name per input (list or comma-separated); default: the file names' stems.
        maps: ``--map`` items: ``OLD:NEW`` renames a label, ``LABEL=OLD:NEW,...`` renames classes
            (an empty NEW leaves that class's rows without the label).
        per_corpus: labels kept as one task per corpus (``emotion`` -> ``emotion_a``, ``emotion_b``).
        where: keep only rows of these groups, such as ``{"corpus": ["a"]}``.
        check_features: compare the recorded feature settings, not only layout and shape.
        force: replace ``out_path`` if it exists.
        progress: called as ``progress(done, total)`` while rows are copied.
        notes: receives one line per thing the user should know (settings that could not be checked).

    Returns:
        The path written.

    Raises:
        ConfigError: bad names, maps or filters. DataError: inputs with different features.
        OutputError: the output is an input, or exists without ``force``.
    """
    from serzoo.data.loading import open_database

    paths = [Path(p) for p in paths]
    corpora = names_list(names) or [p.stem for p in paths]
    if not paths:
        raise ConfigError("give at least one database to merge")
    if len(corpora) != len(paths):
        raise ConfigError(f"--names gives {len(corpora)} names for {len(paths)} databases; give one per database")
    if len(set(corpora)) != len(corpora):
        raise ConfigError(f"corpus names must differ, got {', '.join(corpora)}; give them with --names a,b,...")
    check_output(out_path, paths, force=force)
    mapping = LabelMap.parse(maps, per_corpus)
    dbs: list[Database] = []
    try:
        for path in paths:
            dbs.append(open_database(path))
        found = check_same_features(dbs, check_features)
        if notes is not None:
            notes.extend(found)
        label_names, class_names, labels = merge_labels(dbs, corpora, mapping)
        values = merge_groupings(dbs, corpora)
        rows = _select(values, where)
        corpus = Grouping.from_values(CORPUS, [values[CORPUS][i] for i in rows])
        rows = rows[np.argsort(corpus.ids, kind="stable")]  # corpus after corpus, so speakers are too
        speaker = Grouping.from_values(SPEAKER, [values[SPEAKER][i] for i in rows])
        # rows ordered by speaker (those in none last), as SER_FEAT_EXT's start/end ranges need
        order = rows[np.argsort(np.where(speaker.ids < 0, speaker.n_groups, speaker.ids), kind="stable")]
        groupings = [g for g in (Grouping.from_values(n, [v[i] for i in order]) for n, v in values.items())
                     if g.n_groups]
        labels = np.concatenate(labels)[order]
        attrs = _attrs(dbs, corpora, label_names, class_names, labels, groupings)
        _write(Path(out_path), dbs, corpora, order, labels, groupings, attrs, progress)
    finally:
        for db in dbs:
            db.close()
    return Path(out_path)


def _attrs(dbs, corpora, label_names, class_names, labels, groupings) -> dict:
    first = dbs[0]
    masked = [n for k, n in enumerate(label_names)
              if not has_label(labels[:, k], regression=n not in class_names).all()]
    head = groupings[0] if groupings else None
    return {
        "creator": f"serzoo {__version__} (data merge)",
        "layout": first.file_layout,
        "label_names": label_names,
        "class_names": class_names,
        MASKED_ATTR: masked,
        "group_column": head.name if head is not None else None,
        "group_names": head.names if head is not None else [],
        "sample_rate": first.attrs.get("sample_rate"),
        "features": first.attrs.get("features"),
        "corpora": [{"name": c, "path": db.path, "rows": db.n_rows} for c, db in zip(corpora, dbs)],
        "source": "merged: " + ", ".join(str(db.path) for db in dbs),
    }


def _write(out_path: Path, dbs, corpora, order, labels, groupings, attrs, progress) -> None:
    """Copy the rows in ``order`` (indices into the inputs one after another) into a new file, atomically."""
    import h5py

    offsets = np.cumsum([0] + [db.n_rows for db in dbs])
    source = np.searchsorted(offsets, order, side="right") - 1
    local = order - offsets[source]
    row_shape = dbs[0].file_shape[1:]
    dtype = np.result_type(*(db.file_rows([0]).dtype for db in dbs))
    utterances = [_utterance(dbs[s], corpora[s], int(r)) for s, r in zip(source, local)]
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as hf:
        feat = hf.create_dataset("feat", shape=(len(order), *row_shape), dtype=dtype,
                                 chunks=(min(len(order), 64), *row_shape))
        hf.create_dataset("label", data=labels.astype(np.float64))
        if groupings:
            counts = np.asarray(groupings[0].sizes())
            ends = np.cumsum(counts)
            hf.create_dataset("start_indice", data=(ends - counts).astype(np.float64))
            hf.create_dataset("end_indice", data=ends.astype(np.float64))
            write_groupings(hf, groupings)
        hf.create_dataset(UTTERANCE_DATASET, data=utterances, dtype=h5py.string_dtype())
        if all(db.lengths is not None for db in dbs):
            hf.create_dataset(LENGTHS_DATASET, data=np.array([dbs[s].lengths[r] for s, r in zip(source, local)],
                                                             dtype=np.int32))
        hf.attrs.update(encode_attrs(attrs))
        for start in range(0, len(order), _COPY_ROWS):
            part = slice(start, start + _COPY_ROWS)
            block = np.empty((len(order[part]), *row_shape), dtype=dtype)
            for s in np.unique(source[part]):
                mine = source[part] == s
                block[mine] = dbs[s].file_rows(local[part][mine])
            feat[start:start + len(block)] = block
            if progress is not None:
                progress(start + len(block), len(order))


def _utterance(db: Database, corpus: str, row: int) -> str:
    """``corpus/source`` of a row (an aggregated input's rows already say their corpus)."""
    name = db.utterances[row] if db.utterances is not None else f"row{row}"
    return name if CORPUS in db.groupings else f"{corpus}/{name}"
