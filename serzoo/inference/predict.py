"""Predictions per utterance and task, and their text forms (table, CSV, JSON).

A record is one utterance: its name and, per task, the predicted class (name and
index) with every class probability, or the value of a regression task, plus the
utterance's label when its source had one.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Sequence

import numpy as np

from serzoo.core.errors import ConfigError
from serzoo.inference.inputs import Utterances
from serzoo.inference.models import Predictor, correct_priors

FORMATS = ("table", "csv", "json")
#: decimals of probabilities and values in text output
DIGITS = 4


def outputs(predictor: Predictor, features: np.ndarray, prior_correction: bool = False) -> dict[str, np.ndarray]:
    """The ensemble's outputs per task, divided by the training class priors when asked.

    Raises:
        ConfigError: prior correction for a model that stores no class priors.
    """
    out = predictor.predict(features)
    if not prior_correction:
        return out
    if predictor.priors is None:
        raise ConfigError(f"--prior-correction: {predictor.source} stores no training class priors "
                          "(saved by an older serzoo); retrain it, or predict without the correction")
    for task in predictor.tasks:
        if int(task["num_classes"]) > 1 and task["name"] in predictor.priors:
            out[task["name"]] = correct_priors(out[task["name"]], predictor.priors[task["name"]])
    return out


def task_result(predictor: Predictor, task: dict, output: np.ndarray, label: float | None = None) -> dict:
    """One task's answer for one utterance: class, index and probabilities (or value), and the label if known."""
    out: dict = {}
    if int(task["num_classes"]) == 1:
        out["value"] = round(float(np.asarray(output).reshape(-1)[0]), 6)
        if label is not None and np.isfinite(label):
            out["label"] = float(label)
        return out
    classes = predictor.classes(task)
    index = int(np.argmax(output))
    out.update({"class": classes[index], "index": index,
                "probabilities": {c: round(float(p), 6) for c, p in zip(classes, output)}})
    if label is not None and np.isfinite(label):
        k = int(label)
        out["label"] = classes[k] if 0 <= k < len(classes) else str(k)
        out["label_index"] = k
    return out


def predict_records(predictor: Predictor, utts: Utterances, prior_correction: bool = False) -> list[dict]:
    """One record per utterance: ``{"utterance": name, "tasks": {task: result}}`` (see :func:`task_result`)."""
    out = outputs(predictor, utts.features, prior_correction)
    records = []
    for i, name in enumerate(utts.names):
        tasks = {}
        for task in predictor.tasks:
            labels = utts.labels.get(predictor.label_name(task))
            tasks[task["name"]] = task_result(predictor, task, out[task["name"]][i],
                                              None if labels is None else float(labels[i]))
        records.append({"utterance": name, "tasks": tasks})
    return records


def _columns(predictor: Predictor, with_labels: bool, probabilities: bool = True) -> list[tuple[str, str, str]]:
    """Wide columns (header, task, field) of a record: per task its class, index, probabilities, label."""
    cols = []
    for task in predictor.tasks:
        name = task["name"]
        if int(task["num_classes"]) == 1:
            cols.append((name, name, "value"))
        else:
            cols += [(name, name, "class"), (f"{name}_index", name, "index")]
            if probabilities:
                cols += [(f"{name}_p_{c}", name, f"p:{c}") for c in predictor.classes(task)]
        if with_labels:
            cols.append((f"{name}_label", name, "label"))
    return cols


def _cell(result: dict, field: str):
    if field.startswith("p:"):
        return f"{result['probabilities'][field[2:]]:.{DIGITS}f}"
    value = result.get(field, "")
    return f"{value:.{DIGITS}f}" if isinstance(value, float) else value


def format_records(records: Sequence[dict], predictor: Predictor, fmt: str = "table") -> str:
    """Records as text: ``table`` (aligned, for reading), ``csv`` (one row per utterance) or ``json``.

    Raises:
        ConfigError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(records, indent=2) + "\n"
    with_labels = any("label" in r for rec in records for r in rec["tasks"].values())
    cols = _columns(predictor, with_labels, probabilities=fmt == "csv")
    rows = [[rec["utterance"], *(_cell(rec["tasks"][t], f) for _, t, f in cols)] for rec in records]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["utterance", *(c[0] for c in cols)])
        writer.writerows(rows)
        return buffer.getvalue()
    from tabulate import tabulate

    # the table shows the winning class's probability; CSV and JSON carry every class
    for row, rec in zip(rows, records):
        for k, (header, task, field) in enumerate(cols):
            if field == "class":
                row[k + 1] = f"{row[k + 1]} ({rec['tasks'][task]['probabilities'][row[k + 1]]:.2f})"
    return tabulate(rows, headers=["utterance", *(c[0] for c in cols)], disable_numparse=True) + "\n"
