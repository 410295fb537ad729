"""Build a SER_FEAT_EXT-compatible HDF5 database from a meta table and wav files.

The meta table is tab-separated with a header; its first column is the wav
path relative to the table, the others integer labels (and usually a group
column such as the speaker). The database gets SER_FEAT_EXT's datasets and
shapes (``feat``, ``label``, ``start_indice``/``end_indice`` with rows ordered
by group, groups in order of first appearance), plus the attributes the
original lacked (label, class and group names, feature settings, sample rate)
and per-row ``n_frames`` and ``utterance`` datasets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from serzoo import __version__
from serzoo.data.audio import FeatureExtractor, FeatureSettings, audio_info
from serzoo.core.files import atomic_path
from serzoo.data.h5io import LENGTHS_DATASET, UTTERANCE_DATASET, encode_attrs
from serzoo.core.errors import ConfigError, DataError

BUILD_LAYOUTS = ("1d", "2d", "3d")

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


def _layout_rows(frames: np.ndarray, layout: str, steps: int, context: int) -> tuple[np.ndarray, int]:
    """Arrange (n, D) frames into one row of the file layout, zero-padded at the end.

    Frames are grouped into non-overlapping windows of ``context`` consecutive
    frames (SER_FEAT_EXT's context windows); only complete windows are kept.
    """
    dim = frames.shape[1]
    used = min(len(frames) // context, steps)
    windows = frames[: used * context].reshape(used, context, dim)
    if layout == "1d":
        row = np.zeros((steps, context * dim), np.float32)
        row[:used] = windows.reshape(used, context * dim)
    elif layout == "2d":
        row = np.zeros((steps, 1, context, dim), np.float32)
        row[:used, 0] = windows
    else:
        row = np.zeros((1, steps, context, dim), np.float32)
        row[0, :used] = windows
    return row, used


def build_database(
    meta_path,
    out_path,
    *,
    labels: Sequence[str] | str | None = None,
    group: str | None = "auto",
    feature: str = "logmel",
    n_mels: int = 40,
    sample_rate: int = 16000,
    win_ms: float = 25.0,
    hop_ms: float = 10.0,
    n_fft: int = 0,
    fmin: float = 20.0,
    fmax: float = 0.0,
    max_steps: int = 0,
    context: int = 1,
    layout: str = "1d",
    class_names: Sequence[str] | dict | None = None,
    dtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Extract features for every wav of a meta table and write an HDF5 database.

    Args:
        meta_path: the tab-separated meta table.
        out_path: the ``.h5`` file to write (replaced atomically when complete).
        labels: label column names (list or comma-separated); default: every column
            after the first except the group column.
        group: the column whose values define the groups (speakers, corpora) used for folds;
            ``"auto"`` takes a column named speaker, group, corpus or session if there is one;
            ``None`` or ``""`` writes no groups.
        feature, n_mels, sample_rate, win_ms, hop_ms, n_fft, fmin, fmax: see
            :class:`~serzoo.data.audio.FeatureSettings`.
        max_steps: frames kept per utterance (SER_FEAT_EXT's ``-m_steps``); 0 uses the
            longest utterance, capped at 1000; time steps are ``max_steps // context``.
        context: consecutive frames per time step (SER_FEAT_EXT's ``-c_len``).
        layout: ``1d`` (N, T, C*D), ``2d`` (N, T, 1, C, D) or ``3d`` (N, 1, T, C, D).
        class_names: class names per label, as ``["emotion=anger,..."]`` or a dict.
        dtype: ``float32`` (default, half the size) or ``float64`` (as SER_FEAT_EXT wrote).
        progress: called as ``progress(done, total)`` after each utterance (the CLI draws a bar with it).

    Returns:
        The path written.

    Raises:
        ConfigError: options that do not fit the table or each other.
        DataError: a bad meta table or an unreadable wav file, naming it.
    """
    import h5py

    meta = read_meta(meta_path)
    out_path = Path(out_path)
    if layout not in BUILD_LAYOUTS:
        raise ConfigError(f"--layout {layout!r}: choose one of {', '.join(BUILD_LAYOUTS)}")
    if context < 1 or max_steps < 0:
        raise ConfigError(f"--context {context} must be at least 1 and --max-steps {max_steps} not negative")
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"--dtype {dtype!r}: choose float32 or float64")
    if group == "auto":
        group = next((c for c in AUTO_GROUP_COLUMNS if c in meta.header[1:]), None)
    group_col = meta.column(group, "--group") if group else None
    if isinstance(labels, str):
        labels = [n.strip() for n in labels.split(",") if n.strip()]
    label_cols = [meta.column(n, "--labels") for n in labels] if labels else [
        c for c in range(1, len(meta.header)) if c != group_col]
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

    # Rows ordered by group, groups in order of first appearance (as SER_FEAT_EXT did).
    if group_col is not None:
        keys = [row[group_col] for row in meta.rows]
        group_names = list(dict.fromkeys(keys))
        index = {name: g for g, name in enumerate(group_names)}
        order = sorted(range(len(keys)), key=lambda i: index[keys[i]])  # stable: keeps file order inside a group
        counts = np.bincount([index[k] for k in keys], minlength=len(group_names))
    else:
        group_names, order, counts = [], list(range(len(meta.rows))), np.zeros(0, int)
    wavs = meta.wav_paths()
    missing = [p for p in wavs if not p.is_file()]
    if missing:
        raise DataError(f"{meta.path}: {len(missing)} of {len(wavs)} wav files are missing; the first is {missing[0]}")

    # Headers first: catches non-PCM files before any work, and fixes the rate and length.
    headers = [audio_info(p) for p in wavs]
    rates = {r for _, r in headers}
    if not sample_rate and len(rates) > 1:
        raise ConfigError(f"the wav files have several sample rates ({', '.join(map(str, sorted(rates)))}); "
                          "choose one with --sample-rate")
    settings = FeatureSettings(feature, sample_rate, win_ms, hop_ms, n_fft, n_mels, fmin, fmax).resolved(min(rates))
    if not max_steps:
        longest = max(settings.n_frames(int(round(n * settings.sample_rate / r))) for n, r in headers)
        max_steps = min(longest, AUTO_MAX_STEPS_CAP)
    steps = max_steps // context
    if steps < 1:
        raise ConfigError(f"--max-steps {max_steps} is shorter than one context window of {context} frames")

    extractor = FeatureExtractor(settings)
    n, dim = len(order), settings.dim
    shape = {"1d": (n, steps, context * dim), "2d": (n, steps, 1, context, dim), "3d": (n, 1, steps, context, dim)}[layout]
    row_bytes = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
    chunk_rows = max(1, min(n, (1 << 20) // max(1, row_bytes)))
    attrs = {
        "creator": f"serzoo {__version__}",
        "layout": layout,
        "label_names": label_names,
        "class_names": classes,
        "group_column": meta.header[group_col] if group_col is not None else None,
        "group_names": group_names,
        "sample_rate": settings.sample_rate,
        "features": {**settings.to_dict(), "max_steps": max_steps, "context": context, "time_steps": steps},
        "source": str(meta.path),
    }
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as hf:
        feat = hf.create_dataset("feat", shape=shape, dtype=dtype, chunks=(chunk_rows, *shape[1:]))
        hf.create_dataset("label", data=label_values[order].astype(np.float64))
        if group_col is not None:
            ends = np.cumsum(counts)
            hf.create_dataset("start_indice", data=(ends - counts).astype(np.float64))
            hf.create_dataset("end_indice", data=ends.astype(np.float64))
        hf.create_dataset(UTTERANCE_DATASET, data=[meta.rows[i][0] for i in order],
                          dtype=h5py.string_dtype())
        hf.attrs.update(encode_attrs(attrs))
        lengths = np.zeros(n, np.int32)
        _extract(extractor, wavs, order, feat, lengths, layout, steps, context, progress)
        hf.create_dataset(LENGTHS_DATASET, data=lengths)
    return out_path


def _extract(extractor, wavs, order, feat, lengths, layout, steps, context, progress) -> None:
    """Fill ``feat`` row by row, writing in blocks, reporting ``progress(done, total)`` after each row."""
    buffer, first = [], 0
    for i, src in enumerate(order):
        row, used = _layout_rows(extractor.from_file(wavs[src]), layout, steps, context)
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
