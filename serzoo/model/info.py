"""What a saved model is, read from its ``.keras`` archive alone (no TensorFlow): ``serzoo show model``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from serzoo.core.errors import DataError
from serzoo.model.serialization import read_metadata

#: the fold result written next to each model
RESULT_FILE = "result.json"


def describe_model(path: str | Path) -> dict[str, Any]:
    """The chain, tasks, classes, features, input, training data, plugins and scores of a saved model.

    Raises:
        DataError: not a readable ``.keras`` file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    metadata = read_metadata(path)
    if not metadata:
        raise DataError(f"{path}: a .keras file without serzoo metadata (serzoo.json); was it saved by serzoo?")
    return {
        "path": str(path),
        "chain": _chain(metadata),
        "input": {"layout": metadata.get("input_layout"), "file_layout": metadata.get("file_layout"),
                  "shape": metadata.get("example_shape")},
        "tasks": [{**t, "classes": metadata.get("class_names", {}).get(t["name"]) or None}
                  for t in metadata.get("tasks", [])],
        "features": metadata.get("features", {}),
        "parameters": _parameter_count(path),
        "plugins": _plugin_status(metadata.get("plugins", [])),
        "data": metadata.get("data"),
        "scores": _scores(path.parent / RESULT_FILE),
    }


def _chain(metadata: dict) -> list[dict[str, Any]]:
    plan = metadata.get("plan")
    if plan:
        return [{"block": s["block"], "options": s["options"], "layout_in": s["layout_in"],
                 "layout_out": s["layout_out"]} for s in plan["steps"]]
    return [{"block": b.strip()} for b in str(metadata.get("blocks", "")).split(",") if b.strip()]


def _parameter_count(path: Path) -> int | None:
    """Weights in the archive's ``model.weights.h5`` (h5py reads it from memory; no TensorFlow)."""
    import h5py

    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read("model.weights.h5")
    except (KeyError, OSError, zipfile.BadZipFile):
        return None
    total = 0

    def count(name, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset) and name.startswith("layers/"):
            total += int(obj.size)

    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(count)
    return total


def _plugin_status(origins: list[dict]) -> list[dict[str, Any]]:
    """Each recorded block's and loss's origin, and whether that plugin is installed now."""
    from serzoo.model.keras_objects import origin_installed

    return [{**origin, "installed": origin_installed(origin)[0]} for origin in origins]


def _scores(result_path: Path) -> dict[str, Any] | None:
    """The fold's validation and test scores when its ``result.json`` is next to the model."""
    if not result_path.is_file():
        return None
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        return None
    return {"source": str(result_path), "fold": result.get("name"), "best_epoch": result.get("best_epoch"),
            "val": result.get("val"), "test": result.get("test")}
