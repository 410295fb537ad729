"""Build a database from features another tool already extracted: one ``.npy`` or ``.csv`` file per utterance.

``serzoo data build META`` takes this path when the first column of META names
feature files instead of audio (detected by extension). A file holds either
frame-level features, ``(frames, D)`` (a 2-D array, or a CSV with one line per
frame, as openSMILE writes low-level descriptors), or one utterance-level
vector, ``(D,)`` (a 1-D array, or a CSV with a single data line, as openSMILE
writes functionals). CSV files may use ``,`` or ``;`` and may start with a
header line; columns that are not features (``name``, ``file``, ``frameTime``,
``start``, ``end``, or any non-numeric column) are dropped. Every file must
have the same feature dimension; frame-level files fill the 1d/2d/3d layouts
exactly as extracted audio features do (``--max-steps``, ``--context``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from serzoo.core.errors import DataError
from serzoo.core.files import check_output

#: extensions of per-utterance feature files
FEATURE_FILE_SUFFIXES = (".npy", ".csv")
#: CSV columns that describe a row rather than hold a feature (openSMILE's among them)
NON_FEATURE_COLUMNS = {"name", "file", "filename", "frametime", "start", "end", "class"}


def are_feature_files(paths: Sequence[Path]) -> bool:
    """Whether a meta table names feature files (all of them) rather than audio (none of them).

    Raises:
        DataError: a table mixing both.
    """
    kinds = {Path(p).suffix.lower() in FEATURE_FILE_SUFFIXES for p in paths}
    if len(kinds) > 1:
        first = next(p for p in paths if Path(p).suffix.lower() in FEATURE_FILE_SUFFIXES)
        raise DataError(f"the meta table mixes feature files (such as {first}) and audio files; use one kind")
    return kinds == {True}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv_features(path: Path) -> np.ndarray:
    """The numeric feature columns of a CSV file: ``(lines, D)``.

    Raises:
        DataError: no numeric columns, or lines of different lengths.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    dialect = ";" if text.count(";") > text.count(",") else ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=dialect) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: an empty feature file")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip().strip("'\"").lower() for c in rows[0]]
    body = rows[1:] if header is not None else rows
    if not body or any(len(r) != len(body[0]) for r in body):
        raise DataError(f"{path}: feature lines must all have the same number of columns, and there must be one")
    keep = [c for c in range(len(body[0]))
            if (header is None or header[c] not in NON_FEATURE_COLUMNS) and all(_is_number(r[c]) for r in body)]
    if not keep:
        raise DataError(f"{path}: no numeric feature columns")
    return np.array([[float(r[c]) for c in keep] for r in body], dtype=np.float64)


def read_feature_file(path: Path) -> np.ndarray:
    """One utterance's features: ``(frames, D)`` or ``(D,)`` (a CSV with one data line is a vector).

    Raises:
        DataError: unreadable, of another rank, or holding NaN/Inf.
    """
    try:
        if path.suffix.lower() == ".npy":
            features = np.load(path, allow_pickle=False)
        else:
            features = read_csv_features(path)
            features = features[0] if len(features) == 1 else features
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable feature file ({exc})") from None
    if features.ndim not in (1, 2) or features.dtype.kind not in "fiu" or not features.size:
        raise DataError(f"{path}: features shaped {features.shape} ({features.dtype}); expected numbers shaped "
                        "(frames, D) or (D,)")
    if not np.isfinite(features).all():
        raise DataError(f"{path}: the features hold NaN or Inf values")
    return features


class FileFeatures:
    """The stand-in for a :class:`~serzoo.data.features.FeatureStack` that reads features from files.

    Args:
        paths: the feature files; the first fixes the level and the dimension.
    """

    def __init__(self, paths: Sequence[Path]):
        first = read_feature_file(Path(paths[0]))
        self.level = "frame" if first.ndim == 2 else "utterance"
        self.dim = int(first.shape[-1])
        self.formats = sorted({Path(p).suffix.lower().lstrip(".") for p in paths})

    def from_file(self, path) -> np.ndarray:
        """The features of one file, checked against the first file's level and dimension.

        Raises:
            DataError: another level or dimension, naming the file.
        """
        features = read_feature_file(Path(path))
        level = "frame" if features.ndim == 2 else "utterance"
        if level != self.level or features.shape[-1] != self.dim:
            raise DataError(f"{path}: features shaped {features.shape}, but the first file holds {self.level}-level "
                            f"features of dimension {self.dim}; every file must have the same kind")
        return features

    def attrs(self, **shape) -> dict:
        """The ``features`` attribute of the database: the source format and dimension (and the shape keys)."""
        return {"feature": "files", "formats": self.formats, "dim": self.dim, "level": self.level, **shape}


def build_from_feature_files(meta, out_path, *, table, layout: str, max_steps: int, context: int, dtype: str,
                             progress: Callable[[int, int], None] | None, force: bool) -> Path:
    """Write a database from the feature files a meta table names (see the module docstring).

    Args:
        meta: the parsed meta table (:class:`~serzoo.data.build.MetaTable`).
        out_path: the ``.h5`` file to write.
        table: its labels and groups (from :func:`serzoo.data.build._table`).
        layout, max_steps, context, dtype, progress, force: as for
            :func:`~serzoo.data.build.build_database`; ``max_steps`` 0 takes the longest file, capped.

    Raises:
        DataError: missing or inconsistent feature files. ConfigError: options that do not fit them.
    """
    from serzoo.data.build import _check_layout, _write, database_attrs, frame_shape

    files = meta.wav_paths()
    check_output(out_path, [meta.path, *files], force=force)
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise DataError(f"{meta.path}: {len(missing)} of {len(files)} feature files are missing; the first is "
                        f"{missing[0]}")
    stack = FileFeatures(files)
    chosen = _check_layout(layout, stack.level, context, max_steps, dtype)
    steps, shape = frame_shape(chosen, max_steps, context, lambda: max(len(stack.from_file(p)) for p in files))
    attrs = database_attrs(meta, table, chosen, stack.attrs(**shape))
    _write(Path(out_path), meta, table, stack, files, (chosen, steps, context, dtype), attrs, progress)
    return Path(out_path)
