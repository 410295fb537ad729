"""Exporting a saved model to another runtime, checked against the Keras model before it is kept.

Every export is run, the way a user without serzoo would run it, on sample inputs
of the model's input shape (normal random rows and a row of zeros) and compared
with the Keras model's outputs; an export whose largest absolute difference
reaches :data:`TOLERANCE` is refused and nothing is left at the output. A
sidecar JSON next to the export (``OUT.json``) carries what serzoo's own
``serzoo.json`` carries (tasks, class names, feature settings, input shape and
layout, output names), so the export is usable with no serzoo installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from serzoo import __version__
from serzoo.core.errors import ConfigError, ExportError, OutputError
from serzoo.core.files import atomic_tree, write_json
from serzoo.core.plugin_manager import exporters
from serzoo.core.registry import EXPORT_INPUT
from serzoo.model.serialization import load_model

#: largest absolute difference to the Keras model an export may have
TOLERANCE = 1e-4
#: sample inputs of the parity check: this many normal random rows, then one row of zeros
RANDOM_ROWS = 3
SAMPLE_SEED = 0


def sidecar_path(out: str | Path) -> Path:
    """Where the sidecar JSON of an export goes: ``OUT.json`` next to it."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def default_output(model_path: str | Path, suffix: str) -> Path:
    """``model.onnx`` for ``model.keras`` (``model_savedmodel`` for a folder format)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + (suffix or "_savedmodel"))


def sample_inputs(model) -> tuple[np.ndarray, str]:
    """The parity check's float32 batch, and its description.

    :data:`RANDOM_ROWS` standard normal rows and one row of zeros; with the training
    statistics in the model (global standardisation), the random rows are drawn with
    that mean and standard deviation, so that they look like features and the outputs
    are not all saturated (which would hide differences).
    """
    shape = tuple(model.input_shape[1:])
    rows = np.random.default_rng(SAMPLE_SEED).standard_normal((RANDOM_ROWS, *shape))
    drawn = "standard normal"
    stats = _standardisation(model)
    if stats is not None:
        mean, variance = stats
        rows = mean + np.sqrt(np.maximum(variance, 0.0)) * rows
        drawn = "normal with the training mean and variance"
    text = f"{RANDOM_ROWS} random rows ({drawn}, seed {SAMPLE_SEED}) and 1 row of zeros"
    return np.concatenate([rows, np.zeros((1, *shape))]).astype(np.float32), text


def _standardisation(model) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and variance of the model's global standardisation layer, if it has one."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and getattr(layer, "mean", None) is not None:
            return np.asarray(layer.mean, dtype=np.float64)[0], np.asarray(layer.variance, dtype=np.float64)[0]
    return None


def parity(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], fmt: str) -> dict[str, float]:
    """The largest absolute difference per output.

    Raises:
        ExportError: an output is missing, renamed or of another shape.
    """
    if sorted(got) != sorted(expected):
        raise ExportError(f"the {fmt} export gives outputs {sorted(got)}, the Keras model {sorted(expected)}")
    diffs = {}
    for name, value in expected.items():
        value_got = np.asarray(got[name])
        if value_got.shape != value.shape:
            raise ExportError(f"the {fmt} export's output {name} has shape {value_got.shape}, "
                              f"the Keras model's {value.shape}")
        diffs[name] = float(np.max(np.abs(value_got.astype(np.float64) - value)))
    return diffs


def export(model_path: str | Path, fmt: str, out: str | Path | None = None, options: dict[str, Any] | None = None,
           force: bool = False, echo: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Export a saved serzoo model, check it against the Keras model, and write its sidecar JSON.

    Args:
        model_path: the ``.keras`` model.
        fmt: a registered exporter (``savedmodel``, ``tflite``, ``onnx``; ``serzoo list exporters``).
        out: the export's path; default: next to the model (``model.onnx``).
        options: the exporter's options (strings are parsed by its parameter types).
        force: replace an existing export.
        echo: progress lines.

    Returns:
        The sidecar's content (with ``path`` and ``parity``).

    Raises:
        ExportError: the export differs from the Keras model by :data:`TOLERANCE` or more.
        ConfigError: bad options, or a converter that is not installed.
        OutputError: the output exists (without ``force``) or cannot be written.
    """
    exporter = exporters().get(fmt)
    values = {k: exporter.param(k).parse(v, f"{fmt}.") if isinstance(v, str) else v
              for k, v in (options or {}).items()}
    values = exporter.resolve(values)
    out = Path(out) if out is not None else default_output(model_path, exporter.suffix)
    _check_output(out, model_path, force)
    model, metadata = load_model(model_path, compile=False)
    x, drawn = sample_inputs(model)
    expected = {k: np.asarray(v, dtype=np.float64) for k, v in _as_dict(model, model.predict(x, verbose=0)).items()}
    echo(f"exporting {model_path} as {fmt} ...")
    with atomic_tree(out) as tmp:
        run, details = exporter.factory(model, tmp, **values)
        diffs = parity(expected, run(x), fmt)
        worst = max(diffs.values())
        if not worst < TOLERANCE:  # also refuses NaN
            raise ExportError(f"the {fmt} export differs from the Keras model by {worst:.3g} (output "
                              f"{max(diffs, key=diffs.get)}; tolerance {TOLERANCE:g}); nothing was written to {out}")
    sidecar = _sidecar(metadata, model, exporter, out, values, details, diffs, drawn)
    write_json(sidecar_path(out), sidecar)
    return {**sidecar, "path": str(out)}


def _check_output(out: Path, model_path: str | Path, force: bool) -> None:
    if out.resolve() == Path(model_path).resolve():
        raise OutputError(f"-o {out}: that is the model being exported; choose another output")
    if (out.exists() or out.is_symlink()) and not force:
        raise OutputError(f"-o {out}: it exists; give --force to replace it")


def _as_dict(model, outputs) -> dict[str, np.ndarray]:
    """The Keras model's outputs by name, whether it returns a dict, a list or one array."""
    if isinstance(outputs, dict):
        return outputs
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(model.output_names, outputs))


def _sidecar(metadata: dict, model, exporter, out: Path, options: dict, details: dict, diffs: dict,
             drawn: str) -> dict[str, Any]:
    """What a user of the export needs without serzoo: input, outputs by task with class names, features."""
    tasks = {t["name"]: t for t in metadata.get("tasks", [])}
    class_names = metadata.get("class_names", {})
    outputs = []
    for name in sorted(diffs):
        task = tasks.get(name, {})
        k = int(task.get("num_classes", 0))
        names = list(class_names.get(name) or [])
        outputs.append({
            "name": name, "task": name,
            "type": "regression" if k == 1 else "classification",
            "classes": (names if len(names) == k else [str(i) for i in range(k)]) if k > 1 else None,
            "values": "class probabilities (softmax), one column per class" if k > 1 else "the predicted value",
        })
    batch = details.get("batch")
    return {
        "format": exporter.name, "file": out.name, "runtime": exporter.runtime, "serzoo_version": __version__,
        "options": options, "details": details,
        "input": {"name": EXPORT_INPUT, "shape": [batch, *model.input_shape[1:]], "dtype": "float32",
                  "layout": metadata.get("input_layout"), "file_layout": metadata.get("file_layout"),
                  "normalization": "inside the model: give raw features as the database holds them"},
        "outputs": outputs,
        "tasks": metadata.get("tasks", []), "label_names": metadata.get("label_names", []),
        "features": metadata.get("features", {}), "data": metadata.get("data"),
        "parity": {"max_abs_diff": max(diffs.values()), "per_output": diffs, "tolerance": TOLERANCE,
                   "inputs": drawn},
    }
