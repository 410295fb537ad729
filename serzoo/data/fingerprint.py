"""A database's fingerprint: enough to tell, when a run resumes, that it is the same data it started on."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from serzoo.data.database import Database


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    return h.hexdigest()[:32]


def fingerprint(db: Database) -> dict:
    """Path, size, rows, shapes, feature settings and hashes of the labels and groups of a database."""
    size = os.path.getsize(db.path) if db.path and Path(db.path).is_file() else None
    return {
        "path": str(Path(db.path).resolve()) if db.path else None,
        "bytes": size,
        "rows": db.n_rows,
        "file_shape": list(db.file_shape),
        "labels": _digest(db.labels.astype(np.float64)),
        "groups": _digest(db.row_groups.astype(np.int64)),
        "features": db.attrs.get("features"),
    }


def differences(saved: dict, now: dict) -> list[str]:
    """What differs between two fingerprints, as short phrases (the path alone may differ: files move)."""
    names = {"bytes": "size in bytes", "rows": "rows", "file_shape": "feature shape", "labels": "labels",
             "groups": "groups", "features": "feature settings"}
    out = []
    for key, name in names.items():
        if key in saved and saved.get(key) != now.get(key):
            if key in ("labels", "groups", "features"):
                out.append(f"{name} differ")
            else:
                out.append(f"{name} {saved.get(key)} vs {now.get(key)}")
    return out
