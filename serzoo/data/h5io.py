"""Reading SER_FEAT_EXT HDF5 databases, and the attributes serzoo adds to them.

The original builder wrote four datasets and nothing else: ``feat``, ``label``
and, when folds were asked for, ``start_indice``/``end_indice`` (float arrays,
end exclusive). serzoo reads such files unchanged. Files it builds carry the
same datasets plus root attributes (label, class and group names, feature
settings, sample rate) and optional datasets the original trainer simply
ignores: ``n_frames``, ``utterance`` and one ``groups/<name>`` per grouping
(speaker, corpus, a benchmark's folds: a group id per row, -1 for none, the
group names in its ``names`` attribute). ``start_indice``/``end_indice``
still describe the first grouping, whose groups the rows are ordered by.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from serzoo.core import layouts
from serzoo.data.database import Database
from serzoo.data.grouping import Grouping
from serzoo.core.errors import DataError

#: extra datasets serzoo writes: valid time steps per row, source file per row
LENGTHS_DATASET = "n_frames"
UTTERANCE_DATASET = "utterance"
#: HDF5 group holding one dataset of group ids per grouping; its ``order`` attribute lists them
GROUPINGS_GROUP = "groups"


def encode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn attribute values into what HDF5 stores well: lists and dicts become JSON text."""
    out = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, dict)):
            value = json.dumps(value)
        out[key] = value
    return out


def decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Read HDF5 attributes back into JSON-serialisable Python values."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, np.ndarray):
            value = [v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v for v in value]
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def _group_bounds(f, path: Path) -> list[tuple[int, int]]:
    have = [n for n in ("start_indice", "end_indice") if n in f]
    if not have:
        return []
    if len(have) == 1:
        missing = ({"start_indice", "end_indice"} - set(have)).pop()
        raise DataError(f"{path}: dataset {have[0]!r} is there but {missing!r} is missing; groups need both")
    start = np.asarray(f["start_indice"][()], dtype=np.float64).reshape(-1)
    end = np.asarray(f["end_indice"][()], dtype=np.float64).reshape(-1)
    if len(start) != len(end):
        raise DataError(
            f"{path}: 'start_indice' has {len(start)} groups but 'end_indice' has {len(end)}; they must match"
        )
    for name, values in (("start_indice", start), ("end_indice", end)):
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            g = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}: dataset {name!r} group {g} is {float(values[g]):g}; row indices must be whole numbers")
    return list(zip(start.astype(np.int64).tolist(), end.astype(np.int64).tolist()))


class PaddedGroupsWarning(UserWarning):
    """A SER_FEAT_EXT file lists more groups than it has: the empty padding groups are skipped."""


def split_padding(bounds: list[tuple[int, int]], path) -> tuple[list[tuple[int, int]], int]:
    """Drop the trailing ``(0, 0)`` ranges SER_FEAT_EXT writes when ``-n_cc`` exceeds the groups.

    SER_FEAT_EXT sizes ``start_indice``/``end_indice`` by the number of folds asked
    for and fills them group after group, so groups past the last real one stay
    ``(0, 0)``; the original trainer skipped them. They are dropped here with one
    warning, and their indices stay valid (and select nothing) in group selections.

    Returns:
        The ranges of the real groups, and how many padding groups followed them.
    """
    real = len(bounds)
    while real and bounds[real - 1] == (0, 0):
        real -= 1
    padded = len(bounds) - real
    if padded and real:
        where = f"groups {real}..{len(bounds) - 1} are" if padded > 1 else f"group {real} is"
        warnings.warn(f"{path}: {where} empty padding (start_indice = end_indice = 0, as SER_FEAT_EXT writes when "
                      f"-n_cc exceeds the groups) and skipped; {real} groups remain", PaddedGroupsWarning,
                      stacklevel=3)
        return bounds[:real], padded
    return bounds, 0


def write_groupings(hf, groupings: Sequence[Grouping]) -> None:
    """Write each grouping as dataset ``groups/<name>`` (group id per row) with its group names.

    Args:
        hf: an ``h5py.File`` open for writing.
        groupings: the groupings, first the one the rows are ordered by.
    """
    folder = hf.create_group(GROUPINGS_GROUP)
    folder.attrs["order"] = json.dumps([g.name for g in groupings])
    for grouping in groupings:
        dataset = folder.create_dataset(grouping.name, data=grouping.ids.astype(np.int32))
        dataset.attrs["names"] = json.dumps(grouping.names)


def _read_groupings(f, path: Path) -> list[Grouping]:
    import h5py

    if GROUPINGS_GROUP not in f:
        return []
    folder = f[GROUPINGS_GROUP]
    if not isinstance(folder, h5py.Group):
        raise DataError(f"{path}: {GROUPINGS_GROUP!r} is a dataset; serzoo expects a group of per-row group ids")
    order = decode_attrs(folder.attrs).get("order")
    names = [str(n) for n in order] if isinstance(order, list) else sorted(folder)
    out = []
    for name in names:
        where = f"{path}: dataset {GROUPINGS_GROUP}/{name}"
        if name not in folder or not isinstance(folder[name], h5py.Dataset):
            raise DataError(f"{where} is listed in the 'order' attribute of {GROUPINGS_GROUP!r} but missing")
        ids = np.asarray(folder[name][()])
        if ids.dtype.kind not in "iu" or ids.ndim != 1:
            raise DataError(f"{where} has shape {ids.shape} and dtype {ids.dtype}; expected one integer group "
                            "id per row (-1 for none)")
        group_names = decode_attrs(folder[name].attrs).get("names")
        if group_names is not None and not isinstance(group_names, list):
            raise DataError(f"{where}: attribute 'names' is {group_names!r}; expected a list of group names")
        out.append(Grouping(name, ids, group_names))
    return out


def _without_chunk_cache(f, name: str):
    """Dataset ``name``, opened without HDF5's chunk cache when its chunks are stored uncompressed.

    Streaming reads random rows; through the cache each one-row read copies its
    whole chunk (about 1 MiB in files serzoo builds) first. Uncached, HDF5 reads
    just the row. Compressed chunks keep the cache: they must be decoded whole.
    """
    import h5py

    dataset = f[name]
    if dataset.chunks is None or dataset.id.get_create_plist().get_nfilters():
        return dataset
    del dataset  # HDF5 shares one open dataset: a second open would get the first one's cache
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(0, 0, 1.0)
    return h5py.Dataset(h5py.h5d.open(f.id, name.encode(), access))


def read_h5(path, layout: str | None = None) -> Database:
    """Open an HDF5 feature database without reading the features.

    Args:
        path: the ``.h5`` file.
        layout: force ``1d``, ``2d``, ``3d`` or ``flat`` when the shape is
            ambiguous (a 5-D file with one time step); ``None`` or ``"auto"``
            uses the file's ``layout`` attribute, else the shape.

    Returns:
        A :class:`Database` reading from the open file (closed by ``close()``).

    Raises:
        DataError: unreadable file, missing datasets, malformed shapes or group bounds.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        missing = [n for n in ("feat", "label") if n not in f or not isinstance(f[n], h5py.Dataset)]
        if missing:
            raise DataError(
                f"{path}: missing dataset {' and '.join(repr(m) for m in missing)}; a feature database needs "
                "'feat' (features, rows first) and 'label' (N, K label indices)"
            )
        feat = _without_chunk_cache(f, "feat")
        if feat.dtype.kind not in "fiu":
            raise DataError(f"{path}: dataset 'feat' has dtype {feat.dtype}; features must be numbers")
        labels = np.asarray(f["label"][()])
        if labels.dtype.kind not in "fiub" or labels.ndim not in (1, 2):
            raise DataError(f"{path}: dataset 'label' has shape {labels.shape} and dtype {labels.dtype}; "
                            "expected numbers shaped (N, K)")
        attrs = decode_attrs(f.attrs)
        hint = None if layout in (None, "", "auto") else layout
        found = layouts.detect(feat.shape, hint or attrs.get("layout"), where=f"{path}: dataset 'feat'")
        file_layout = found.file_layout
        groups, padded = split_padding(_group_bounds(f, path), path)
        groupings = _read_groupings(f, path)
        group_column = attrs.get("group_column")
        if group_column is not None and not isinstance(group_column, str):
            raise DataError(f"{path}: attribute group_column is {group_column!r}; expected the grouping's name")
        if attrs.get("group_names") is not None and not isinstance(attrs["group_names"], list):
            raise DataError(f"{path}: attribute group_names is {attrs['group_names']!r}; expected a list of names")
        lengths = np.asarray(f[LENGTHS_DATASET][()]) if LENGTHS_DATASET in f else None
        utterances = None
        if UTTERANCE_DATASET in f:
            utterances = [u.decode() if isinstance(u, bytes) else str(u) for u in f[UTTERANCE_DATASET][()]]
        return Database(
            feat, labels, file_layout=file_layout, path=str(path), groups=groups,
            group_names=attrs.get("group_names"), group_column=group_column, groupings=groupings,
            label_names=attrs.get("label_names"),
            class_names=attrs.get("class_names"), attrs=attrs, lengths=lengths, utterances=utterances,
            on_close=f.close, padded_groups=padded,
        )
    except Exception:
        f.close()
        raise
