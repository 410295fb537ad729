"""Trained models for inference: one ``.keras`` file, or every member of a run directory as an ensemble.

A run directory holds one model per fold (``foldNN/model.keras``) or, for seed
ensembles, one per fold and seed (``foldNN/seedS/model.keras``). Every member
must agree on the tasks, the class names and the input shape; their outputs are
averaged (class probabilities, or regression values), as the run's own ensembles are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serzoo.core.errors import ConfigError, DataError

#: examples per forward pass
BATCH = 64


def member_paths(source) -> list[Path]:
    """The model files of ``source``: a ``.keras`` file, or every fold (and seed) model of a run directory.

    Raises:
        DataError: no such file or folder, or a folder without trained models.
    """
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DataError(f"{source}: no such model file or run directory")
    paths = sorted(source.glob("fold*/model.keras")) + sorted(source.glob("fold*/seed*/model.keras"))
    if not paths:
        raise DataError(f"{source}: no trained models in this folder (expected foldNN/model.keras or "
                        "foldNN/seedS/model.keras, as `serzoo train` writes them)")
    return sorted(paths)


def _signature(meta: dict) -> tuple:
    tasks = tuple((t["name"], int(t["num_classes"])) for t in meta.get("tasks") or [])
    classes = tuple((k, tuple(v)) for k, v in sorted((meta.get("class_names") or {}).items()))
    return tasks, classes, tuple(meta.get("example_shape") or ())


@dataclass
class Predictor:
    """The members of a model source, called as one: ``predictor.predict(x) -> {task: outputs}``.

    Args:
        source: what was given (a file or a run directory).
        paths: the member files.
        models: the loaded Keras models, in the order of ``paths``.
        metadata: the first member's serzoo metadata (tasks, class names, features, layouts).
    """

    source: Path
    paths: list[Path]
    models: list[Any]
    metadata: dict
    priors: dict[str, np.ndarray] | None = field(default=None)

    @property
    def tasks(self) -> list[dict]:
        return list(self.metadata.get("tasks") or [])

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.metadata.get("example_shape") or self.models[0].input_shape[1:])

    @property
    def feature_settings(self) -> dict:
        """The training database's attributes (its ``features`` entry says how features were computed)."""
        return dict(self.metadata.get("features") or {})

    def classes(self, task: dict) -> list[str]:
        """Class names of a classification task (its indices as text when none were declared)."""
        names = (self.metadata.get("class_names") or {}).get(task["name"]) or []
        return list(names) if len(names) == int(task["num_classes"]) else [str(c) for c in range(task["num_classes"])]

    def label_name(self, task: dict) -> str:
        """The label column a task was trained on (its name in the training database)."""
        names = self.metadata.get("label_names") or []
        column = int(task.get("column", -1))
        return names[column] if 0 <= column < len(names) else task["name"]

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Mean of the members' outputs for model-layout features ``x``: ``{task: (N, classes)}``."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.example_shape:
            raise DataError(f"features shaped {x.shape[1:]} do not fit the model's input {self.example_shape}")
        if not len(x):
            return {t["name"]: np.zeros((0, int(t["num_classes"]))) for t in self.tasks}
        total: dict[str, np.ndarray] = {}
        for model in self.models:
            for name, out in _forward(model, x).items():
                total[name] = total.get(name, 0) + out
        return {name: out / len(self.models) for name, out in total.items()}


def _forward(model, x: np.ndarray) -> dict[str, np.ndarray]:
    parts = [model.predict_on_batch(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    return {k: np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in parts[0]}


def load_predictor(source) -> Predictor:
    """Load a model file or every model of a run directory.

    Raises:
        DataError: missing or unreadable models, a model serzoo did not save, or members that
            disagree on tasks, class names or input shape (naming the first that differs).
    """
    from serzoo.model.serialization import load_model, read_metadata

    paths = member_paths(source)
    metas = [read_metadata(p) for p in paths]
    if not metas[0].get("tasks"):
        raise DataError(f"{paths[0]}: the model carries no serzoo metadata (tasks, classes); "
                        "was it saved by `serzoo train`?")
    for path, meta in zip(paths[1:], metas[1:]):
        if _signature(meta) != _signature(metas[0]):
            raise DataError(f"{path} does not match {paths[0]} (tasks, class names or input shape differ); "
                            "an ensemble's members must agree")
    models = [load_model(p, compile=False)[0] for p in paths]
    priors = _mean_priors(metas)
    return Predictor(Path(source), paths, models, metas[0], priors)


def _mean_priors(metas: list[dict]) -> dict[str, np.ndarray] | None:
    """The members' training class priors, averaged; None when any member lacks them."""
    found = [m.get("class_priors") for m in metas]
    if not all(found):
        return None
    return {task: np.mean([np.asarray(p[task], dtype=np.float64) for p in found], axis=0) for task in found[0]}


def correct_priors(probabilities: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Divide class probabilities by the training priors and renormalise each row.

    A classifier trained on skewed classes leans towards the frequent ones; dividing
    by the priors gives scores as if every class had been equally common.

    Raises:
        ConfigError: the priors do not have one entry per class, or one is not positive.
    """
    priors = np.asarray(priors, dtype=np.float64)
    if priors.shape != probabilities.shape[-1:] or (priors <= 0).any():
        raise ConfigError(f"--prior-correction: the model's class priors {priors.tolist()} do not fit its "
                          f"{probabilities.shape[-1]} classes (each must be positive)")
    scaled = probabilities / priors
    return scaled / scaled.sum(axis=-1, keepdims=True)
