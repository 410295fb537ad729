"""Build a SER_FEAT_EXT-compatible HDF5 database from a meta table and wav files.

The meta table is tab-separated with a header; its first column is the wav
path relative to the table, the others integer labels and group columns
(speaker, corpus, a benchmark's official fold). The database gets
SER_FEAT_EXT's datasets and shapes (``feat``, ``label``,
``start_indice``/``end_indice`` for the first group column, rows ordered by
its groups in order of first appearance), plus the attributes the original
lacked (label, class and group names, feature settings, sample rate), per-row
``n_frames`` and ``utterance`` datasets, and one ``groups/<column>`` per group
column, so training can split by any of them (``serzoo train --group-by``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from serzoo import __version__
from serzoo.core import layouts, plugin_manager
from serzoo.core.files import atomic_path, check_output
from serzoo.data.audio import audio_info
from serzoo.data.features import (DEFAULT_FEATURES, SHARED_OPTIONS, FeatureStack, feature_attrs, plan_features,
                                  with_file_rate)
from serzoo.data.grouping import Grouping
from serzoo.data.h5io import LENGTHS_DATASET, UTTERANCE_DATASET, encode_attrs, write_groupings
from serzoo.core.errors import ConfigError, DataError

#: ``max_steps=0`` uses the longest utterance, but never more than this many frames (10 s at 10 ms)
AUTO_MAX_STEPS_CAP = 1000

#: ``group="auto"`` uses the first of these columns the table has
AUTO_GROUP_COLUMNS = ("speaker", "group", "corpus", "session")

#: rows written to the file at once
_WRITE_ROWS = 64


@dataclass
class MetaTable:
    """A parsed meta table: header, rows of text, and the wav path of each row."""

    path: Path
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str, option: str) -> int:
        """Index of a column named in an option (a header name, or a 0-based index)."""
        if name in self.header:
            return self.header.index(name)
        if name.isdigit() and int(name) < len(self.header):
            return int(name)
        raise ConfigError(f"{option} {name!r}: {self.path} has no such column; columns are {', '.join(self.header)}")

    def wav_paths(self) -> list[Path]:
        base = self.path.parent
        return [base / row[0] for row in self.rows]

    def int_column(self, col: int) -> np.ndarray:
        """A label column as integers; a cell that is not one is an error naming its line."""
        out = np.empty(len(self.rows), dtype=np.int64)
        for i, row in enumerate(self.rows):
            try:
                out[i] = int(row[col])
            except ValueError:
                raise DataError(
                    f"{self.path} line {i + 2}, column {self.header[col]!r}: {row[col]!r} is not an integer label"
                ) from None
        return out


def read_meta(path) -> MetaTable:
    """Read a tab-separated meta table with a header line.

    Raises:
        DataError: missing file, no rows, or rows whose column count differs from the header.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            lines = [r for r in csv.reader(fh, delimiter="\t") if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise DataError(f"{path}: no such meta table") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable meta table ({exc})") from None
    if len(lines) < 2:
        raise DataError(f"{path}: a meta table needs a header line and at least one row")
    header = [c.strip() for c in lines[0]]
    if len(header) < 2:
        raise DataError(f"{path}: the header has {len(header)} column; expected the wav path then label "
                        "columns, separated by tabs")
    rows = []
    for i, row in enumerate(lines[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {i}: {len(row)} columns where the header has {len(header)} (tab-separated)")
        rows.append([c.strip() for c in row])
    return MetaTable(path, header, rows)


def parse_class_names(specs: Sequence[str] | dict | None) -> dict[str, list[str]]:
    """Parse ``emotion=anger,boredom,...`` items into ``{"emotion": ["anger", ...]}``."""
    if not specs:
        return {}
    if isinstance(specs, dict):
        return {str(k): [str(c) for c in v] for k, v in specs.items()}
    out = {}
    for spec in specs:
        name, sep, classes = spec.partition("=")
        names = [c.strip() for c in classes.split(",") if c.strip()]
        if not sep or not name.strip() or not names:
            raise ConfigError(f"--class-names {spec!r}: expected LABEL=name0,name1,... such as emotion=neutral,angry")
        out[name.strip()] = names
    return out


@dataclass
class _Table:
    """The labels and groups of a meta table, with the order rows are written in."""

    label_names: list[str]
    label_values: np.ndarray
    classes: dict[str, list[str]]
    group_cols: list[int]
    groupings: list[Grouping]
    order: list[int]


def _group_columns(meta: MetaTable, group: Sequence[str] | str | None) -> list[int]:
    """Columns named by ``--group`` (a list or comma-separated; ``auto``: the first usual one there is)."""
    if group == "auto":
        found = next((c for c in AUTO_GROUP_COLUMNS if c in meta.header[1:]), None)
        group = [found] if found else []
    names = [n.strip() for n in group.split(",") if n.strip()] if isinstance(group, str) else list(group or ())
    cols: list[int] = []
    for name in names:
        col = meta.column(name, "--group")
        if col == 0:
            raise ConfigError(f"--group {name!r}: the first column holds the wav paths, not groups")
        if "/" in meta.header[col] or meta.header[col] in (".", ".."):
            raise ConfigError(f"--group {name!r}: a grouping name cannot contain '/' or be '.'; rename the column")
        if col not in cols:
            cols.append(col)
    return cols


def _order_by_groups(meta: MetaTable, cols: list[int]) -> tuple[list[int], list[Grouping]]:
    """Row order and groupings: rows ordered by the first column's groups, as SER_FEAT_EXT did.

    Groups come in order of first appearance, rows keep file order inside a group,
    and rows in no group of the first column (an empty cell) come last.
    """
    groupings = [Grouping.from_values(meta.header[c], [row[c] for row in meta.rows]) for c in cols]
    if not groupings:
        return list(range(len(meta.rows))), []
    first = groupings[0]
    order = np.argsort(np.where(first.ids < 0, first.n_groups, first.ids), kind="stable")
    return order.tolist(), [g.reordered(order) for g in groupings]


def _table(meta: MetaTable, labels, group, class_names) -> _Table:
    """Label columns (checked against the class names) and groups of the meta table."""
    group_cols = _group_columns(meta, group)
    order, groupings = _order_by_groups(meta, group_cols)
    if isinstance(labels, str):
        labels = [n.strip() for n in labels.split(",") if n.strip()]
    label_cols = [meta.column(n, "--labels") for n in labels] if labels else [
        c for c in range(1, len(meta.header)) if c not in group_cols]
    if not label_cols or 0 in label_cols:
        raise ConfigError("--labels must name at least one label column (the first column holds the wav paths)")
    label_names = [meta.header[c] for c in label_cols]
    label_values = np.stack([meta.int_column(c) for c in label_cols], axis=1)
    classes = parse_class_names(class_names)
    for name, names in classes.items():
        if name not in label_names:
            raise ConfigError(f"--class-names {name}=...: {name!r} is not one of the labels ({', '.join(label_names)})")
        column = label_values[:, label_names.index(name)]
        bad = np.flatnonzero((column < 0) | (column >= len(names)))
        if bad.size:
            raise DataError(f"{meta.path} line {bad[0] + 2}: {name} {column[bad[0]]} is outside the {len(names)} "
                            f"classes given by --class-names (0..{len(names) - 1})")
    return _Table(label_names, label_values, classes, group_cols, groupings, order)


def _check_layout(layout: str, level: str, context: int, max_steps: int, dtype: str) -> layouts.Layout:
    """The file layout for the extractors' level (``auto``: 1d for frames, the flat one for utterances)."""
    frame_level = level == "frame"
    if layout == "auto":
        layout = "1d" if frame_level else layouts.buildable(frame_level=False)[0]
    if layout not in layouts.file_layouts():
        raise ConfigError(f"--layout {layout!r}: choose one of {', '.join(layouts.file_layouts())} or auto")
    chosen = layouts.get(layout)
    if chosen.frame_level != frame_level:
        need = " or ".join(layouts.buildable(frame_level))
        raise ConfigError(f"--layout {layout}: {level}-level features are stored in the {need} layout")
    if context < 1 or max_steps < 0:
        raise ConfigError(f"--context {context} must be at least 1 and --max-steps {max_steps} not negative")
    if not frame_level and context != 1:
        raise ConfigError(f"--context {context}: utterance-level features have no frames to group")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"--dtype {dtype!r}: choose float32 or float64")
    return chosen


def frame_shape(layout: layouts.Layout, max_steps: int, context: int,
                longest: Callable[[], int]) -> tuple[int, dict[str, int]]:
    """The time steps of a frame-level database and its shape attributes (``max_steps``, ``context``, ``time_steps``).

    Args:
        layout: the file layout; utterance-level layouts have one step and no shape attributes.
        max_steps: frames kept per utterance; 0 takes ``longest()`` (the longest file's frames), capped.
        context: frames per time step.
        longest: computes the longest file's frame count, only when it is needed.
    """
    if not layout.frame_level:
        return 1, {}
    if not max_steps:
        max_steps = min(longest(), AUTO_MAX_STEPS_CAP)
    steps = max_steps // context
    if steps < 1:
        raise ConfigError(f"--max-steps {max_steps} is shorter than one context window of {context} frames")
    return steps, {"max_steps": max_steps, "context": context, "time_steps": steps}


def database_attrs(meta: MetaTable, table: _Table, layout: layouts.Layout, features: dict, **extra) -> dict:
    """The attributes every built database carries: creator, layout, label, class and group names, features, source."""
    return {
        "creator": f"serzoo {__version__}",
        "layout": layout.file_layout,
        "label_names": table.label_names,
        "class_names": table.classes,
        "group_column": table.groupings[0].name if table.groupings else None,
        "group_names": table.groupings[0].names if table.groupings else [],
        **extra,
        "features": features,
        "source": str(meta.path),
    }


def build_database(
    meta_path,
    out_path,
    *,
    labels: Sequence[str] | str | None = None,
    group: Sequence[str] | str | None = "auto",
    features: Sequence[str] | str = DEFAULT_FEATURES,
    feature_opts=None,
    max_steps: int = 0,
    context: int = 1,
    layout: str = "auto",
    class_names: Sequence[str] | dict | None = None,
    dtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    **shared_options: Any,
) -> Path:
    """Extract features for every audio file of a meta table and write an HDF5 database.

    A table whose first column names ``.npy``/``.csv`` feature files instead of audio builds
    the database from those (see :mod:`serzoo.data.feature_files`).

    Args:
        meta_path: the tab-separated meta table.
        out_path: the ``.h5`` file to write (replaced atomically when complete).
        labels: label column names (list or comma-separated); default: every column
            after the first except the group column.
        group: the columns whose values define the groupings folds can be made of (speakers,
            corpora, official folds; list or comma-separated), the first ordering the rows and
            giving ``start_indice``/``end_indice``; an empty cell puts its row in no group of
            that column; ``"auto"`` takes a column named speaker, group, corpus or session if
            there is one; ``None`` or ``""`` writes no groups.
        features: registered extractors (``serzoo list features``), stacked in this order.
        feature_opts: their options, as ``NAME.OPTION=VALUE`` strings or ``{name: {option: value}}``.
        max_steps: frames kept per utterance (SER_FEAT_EXT's ``-m_steps``); 0 uses the
            longest utterance, capped at 1000; time steps are ``max_steps // context``.
        context: consecutive frames per time step (SER_FEAT_EXT's ``-c_len``).
        layout: a file layout (see :mod:`serzoo.core.layouts`): ``1d`` (N, T, C*D), ``2d``
            (N, T, 1, C, D) or ``3d`` (N, 1, T, C, D) for frame-level features, ``flat`` (N, D)
            for utterance-level ones; ``auto`` picks 1d or flat by the extractors' level.
        class_names: class names per label, as ``["emotion=anger,..."]`` or a dict.
        dtype: ``float32`` (default, half the size) or ``float64`` (as SER_FEAT_EXT wrote).
        progress: called as ``progress(done, total)`` after each utterance (the CLI draws a bar with it).
        force: replace ``out_path`` if it exists (it is never one of the inputs).
        **shared_options: options for every chosen extractor that declares them
            (:data:`~serzoo.data.features.SHARED_OPTIONS`: ``sample_rate``, ``n_mels``, ...).

    Returns:
        The path written.

    Raises:
        ConfigError: options that do not fit the table, the extractors or each other.
        DataError: a bad meta table or an unreadable audio file, naming it.
    """
    unknown = sorted(set(shared_options) - set(SHARED_OPTIONS))
    if unknown:
        raise TypeError(f"build_database() got unexpected keyword arguments: {', '.join(unknown)}")
    progress = progress if callable(progress) else None  # tolerate the former progress=True/False
    meta = read_meta(meta_path)
    from serzoo.data.feature_files import are_feature_files, build_from_feature_files

    if are_feature_files(meta.wav_paths()):  # features extracted elsewhere (openSMILE, ...): one file per row
        given = [n for n, v in shared_options.items() if v is not None]
        if feature_opts or given or features != DEFAULT_FEATURES:
            raise ConfigError(f"{meta.path} names feature files, which are features already; drop --features, "
                              "--feature-opt and the extractor flags")
        return build_from_feature_files(meta, out_path, table=_table(meta, labels, group, class_names),
                                        layout=layout, max_steps=max_steps, context=context, dtype=dtype,
                                        progress=progress, force=force)
    specs = plan_features(features, feature_opts, shared_options)
    layout = _check_layout(layout, plugin_manager.features().get(specs[0].name).level, context, max_steps, dtype)
    table = _table(meta, labels, group, class_names)
    wavs = meta.wav_paths()
    check_output(out_path, [meta.path, *wavs], force=force)
    missing = [p for p in wavs if not p.is_file()]
    if missing:
        raise DataError(f"{meta.path}: {len(missing)} of {len(wavs)} wav files are missing; the first is {missing[0]}")
    # Headers first: catches undecodable files before any work, and fixes the rates and lengths.
    headers = [audio_info(p) for p in wavs]
    rates = {r for _, r in headers}
    stack = FeatureStack(with_file_rate(specs, rates))
    longest = max(range(len(wavs)), key=lambda i: headers[i][0] / headers[i][1])
    steps, shape_keys = frame_shape(layout, max_steps, context, lambda: len(stack.from_file(wavs[longest])))
    attrs = database_attrs(meta, table, layout, feature_attrs(stack, **shape_keys),
                           sample_rate=stack.sample_rate or min(rates))
    _write(Path(out_path), meta, table, stack, wavs, (layout, steps, context, dtype), attrs, progress)
    return Path(out_path)


def _write(out_path: Path, meta: MetaTable, table: _Table, stack: FeatureStack, wavs, shape_options: tuple,
           attrs: dict, progress) -> None:
    """Write the datasets and attributes to a temporary file, extract into it, then publish it."""
    import h5py

    layout, steps, context, dtype = shape_options
    order, n = table.order, len(table.order)
    shape = layout.file_shape(n, steps, context, stack.dim)
    row_bytes = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
    chunk_rows = max(1, min(n, (1 << 20) // max(1, row_bytes)))
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as hf:
        feat = hf.create_dataset("feat", shape=shape, dtype=dtype, chunks=(chunk_rows, *shape[1:]))
        hf.create_dataset("label", data=table.label_values[order].astype(np.float64))
        if table.groupings:  # SER_FEAT_EXT's ranges for the first grouping; every grouping per row
            counts = np.asarray(table.groupings[0].sizes())
            ends = np.cumsum(counts)
            hf.create_dataset("start_indice", data=(ends - counts).astype(np.float64))
            hf.create_dataset("end_indice", data=ends.astype(np.float64))
            write_groupings(hf, table.groupings)
        hf.create_dataset(UTTERANCE_DATASET, data=[meta.rows[i][0] for i in order],
                          dtype=h5py.string_dtype())
        hf.attrs.update(encode_attrs(attrs))
        lengths = np.zeros(n, np.int32)
        _extract(stack, wavs, order, feat, lengths, layout, steps, context, progress)
        if layout.frame_level:  # an utterance-level row has no padding to mark
            hf.create_dataset(LENGTHS_DATASET, data=lengths)


def _extract(stack: FeatureStack, wavs, order, feat, lengths, layout: layouts.Layout, steps, context,
             progress) -> None:
    """Fill ``feat`` row by row, writing in blocks, reporting ``progress(done, total)`` after each row."""
    buffer, first = [], 0
    for i, src in enumerate(order):
        row, used = layout.arrange(stack.from_file(wavs[src]), steps, context)
        buffer.append(row)
        lengths[i] = used
        if len(buffer) == _WRITE_ROWS or i == len(order) - 1:
            feat[first:first + len(buffer)] = np.stack(buffer)
            first += len(buffer)
            buffer = []
        if progress is not None:
            progress(i + 1, len(order))


def cached_build(meta_path, cache_folder, **options) -> Path:
    """Build a meta table into ``cache_folder`` once per table, wav files and options; reuse it after.

    The cache key covers the table's bytes, each wav file's size and modification
    time, and the options, so editing any of them builds afresh.
    """
    import hashlib
    import json

    meta = read_meta(meta_path)
    digest = hashlib.sha256(Path(meta_path).read_bytes())
    for wav in meta.wav_paths():
        try:
            st = wav.stat()
            digest.update(f"{wav}|{st.st_size}|{st.st_mtime_ns}".encode())
        except OSError:
            digest.update(f"{wav}|missing".encode())  # build_database reports it
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    digest.update(__version__.encode())
    out = Path(cache_folder) / f"{Path(meta_path).stem}-{digest.hexdigest()[:16]}.h5"
    if not out.exists():
        build_database(meta_path, out, **options)
    return out
