"""Saving and loading models that carry their own metadata.

A saved ``.keras`` file is a zip archive; serzoo adds one member,
``serzoo.json``, holding the task names, class names and feature settings
(and, for training checkpoints, the training state), so a model can be used
for prediction with nothing else.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from serzoo.core.errors import DataError
from serzoo.core.files import jsonable, atomic_path
from serzoo.core.tf import import_tensorflow
from serzoo.model.keras_objects import check_origins, import_layer_modules

METADATA_MEMBER = "serzoo.json"


def save_model(model, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Save a Keras model as ``.keras`` with serzoo metadata inside, atomically.

    Args:
        model: the Keras model (its optimizer state is saved too when compiled).
        path: destination ending in ``.keras``.
        metadata: JSON-serialisable dict stored as ``serzoo.json`` in the archive.
    """
    path = Path(path)
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(metadata, default=jsonable))
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The serzoo metadata of a saved model, without loading TensorFlow."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_MEMBER))
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .keras model ({exc})") from None
    except KeyError:
        return {}


def load_model(path: str | os.PathLike, compile: bool = True):
    """Load a ``.keras`` model saved by serzoo (plugins first, so custom layers resolve).

    Returns:
        (keras model, metadata dict)

    Raises:
        DataError: no such file, or a block or loss whose plugin is not installed (naming it).
    """
    import_tensorflow()
    import keras

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such model file")
    metadata = read_metadata(path)
    import_layer_modules()
    check_origins(metadata, path)
    try:
        return keras.saving.load_model(path, compile=compile), metadata
    except (TypeError, ValueError) as exc:
        missing = re.search(r"'registered_name': '([^']+>[^']+)'", str(exc))
        if "Could not locate" in str(exc) and missing:
            raise DataError(f"{path}: Keras object {missing.group(1)} is not registered; "
                            "is the plugin that made the model installed?") from None
        raise
