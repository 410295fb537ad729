"""Embeddings: the activations of one layer of a trained model, written as a database to train on again.

By default the layer is the one feeding the task heads (the model's last shared
representation). Temporal activations ``(T, ...)`` are averaged over time into one
vector per utterance (padded steps included, as the model saw them), or kept per
step with ``frames``. The output is serzoo's own database layout (``flat`` for
vectors, ``1d`` for steps) with the inputs' labels and groupings, so
``serzoo train --data EMBEDDINGS.h5`` works on it; or a CSV table.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from serzoo import __version__
from serzoo.core.errors import ConfigError
from serzoo.core.files import atomic_path
from serzoo.inference.inputs import Utterances
from serzoo.inference.models import BATCH, Predictor

#: layer names shown when a name is not found
SHOWN_LAYERS = 12


def head_input_layer(model, task_names: Sequence[str]) -> str:
    """Name of the layer whose output feeds the first task head."""
    head = model.get_layer(task_names[0])
    feeding = head.input
    for layer in model.layers:
        if layer is not head and layer.output is feeding:
            return layer.name
    raise ConfigError(f"cannot find the layer feeding head {task_names[0]!r}; name one with --layer")


def layer_names(model, task_names: Sequence[str]) -> list[str]:
    """Layers whose activations can be taken (every layer but the input and the heads)."""
    return [layer.name for layer in model.layers
            if layer.name not in task_names and type(layer).__name__ != "InputLayer"]


def activations(predictor: Predictor, utts: Utterances, layer: str | None = None,
                frames: bool = False) -> tuple[np.ndarray, str]:
    """Activations of ``layer`` for every utterance, from the first member of ``predictor``.

    Returns:
        ``(values, layer name)``: ``(N, D)`` vectors, or ``(N, T, D)`` steps with ``frames``.

    Raises:
        ConfigError: an unknown layer (listing some that exist), a run directory of several
            models (their layers differ), or ``frames`` for a layer without a time axis.
    """
    import keras

    if len(predictor.models) > 1:
        raise ConfigError(f"{predictor.source}: embed takes one model file; a run directory holds "
                          f"{len(predictor.models)} (choose one, such as {predictor.paths[0]})")
    model = predictor.models[0]
    tasks = [t["name"] for t in predictor.tasks]
    name = layer or head_input_layer(model, tasks)
    valid = layer_names(model, tasks)
    if name not in valid:
        shown = ", ".join(valid[-SHOWN_LAYERS:])
        raise ConfigError(f"--layer {name!r}: {predictor.paths[0]} has no such layer; layers include {shown}")
    sub = keras.Model(model.inputs, model.get_layer(name).output)
    x = utts.features
    parts = [np.asarray(sub.predict_on_batch(x[i:i + BATCH])) for i in range(0, len(x), BATCH)]
    values = np.concatenate(parts).astype(np.float32)
    if values.ndim == 2:
        if frames:
            raise ConfigError(f"--frames: layer {name!r} gives one vector per utterance (no time axis)")
        return values, name
    steps = values.reshape(values.shape[0], values.shape[1], -1)
    return (steps if frames else steps.mean(axis=1)), name


def write_embeddings(path, values: np.ndarray, utts: Utterances, predictor: Predictor, layer: str) -> Path:
    """Write embeddings as an HDF5 database (``.h5``/``.hdf5``) or a CSV table (anything else)."""
    path = Path(path)
    labels = {k: v for k, v in utts.labels.items() if np.isfinite(v).all()}  # a label must be known for every row
    if path.suffix.lower() in (".h5", ".hdf5"):
        _write_h5(path, values, utts, labels, predictor, layer)
    else:
        _write_csv(path, values, utts, labels)
    return path


def _class_names(predictor: Predictor, labels: dict) -> dict[str, list[str]]:
    """The model's class names for the labels its tasks were trained on."""
    out = {}
    for task in predictor.tasks:
        name = predictor.label_name(task)
        if int(task["num_classes"]) > 1 and name in labels:
            classes = predictor.classes(task)
            if labels[name].min() >= 0 and labels[name].max() < len(classes):
                out[name] = classes
    return out


def _write_h5(path: Path, values, utts: Utterances, labels: dict, predictor: Predictor, layer: str) -> None:
    import h5py

    from serzoo.data.h5io import LENGTHS_DATASET, UTTERANCE_DATASET, encode_attrs, write_groupings

    n = len(values)
    label_array = np.stack(list(labels.values()), axis=1) if labels else np.zeros((n, 0))
    attrs = {
        "creator": f"serzoo {__version__}", "layout": "1d" if values.ndim == 3 else "flat",
        "label_names": list(labels), "class_names": _class_names(predictor, labels),
        "group_column": utts.groupings[0].name if utts.groupings else None,
        "embedding": {"model": str(predictor.paths[0]), "layer": layer, "frames": values.ndim == 3},
    }
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as hf:
        hf.create_dataset("feat", data=values.astype(np.float32))
        hf.create_dataset("label", data=label_array.astype(np.float64))
        hf.create_dataset(UTTERANCE_DATASET, data=list(utts.names), dtype=h5py.string_dtype())
        if values.ndim == 3:
            hf.create_dataset(LENGTHS_DATASET, data=np.full(n, values.shape[1], np.int32))
        if utts.groupings:
            write_groupings(hf, utts.groupings)
        hf.attrs.update(encode_attrs(attrs))


def _write_csv(path: Path, values, utts: Utterances, labels: dict) -> None:
    groups = [(g.name, g) for g in utts.groupings]
    frame_level = values.ndim == 3
    dims = values.shape[-1]
    header = ["utterance", *(["frame"] if frame_level else []), *labels, *(n for n, _ in groups),
              *(f"e{d}" for d in range(dims))]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for i, name in enumerate(utts.names):
            keys = [*(f"{v[i]:g}" for v in labels.values()),
                    *(g.names[g.ids[i]] if g.ids[i] >= 0 else "" for _, g in groups)]
            vectors = values[i] if frame_level else values[i][None]
            for t, vector in enumerate(vectors):
                frame = [t] if frame_level else []
                writer.writerow([name, *frame, *keys, *(f"{v:.6g}" for v in vector)])
