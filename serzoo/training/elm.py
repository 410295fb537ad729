"""The extreme learning machine back-end on utterance statistics of frame posteriors (``serzoo elm RUN``).

The original trainer's ``--post_elm`` (after Han, Yu and Tashev, 2014): a network
with frame-level heads (``serzoo train --frame-heads``) gives every time step class
posteriors; per utterance and class, their maximum, minimum, mean and the share of
steps above a threshold form a small feature vector; an extreme learning machine
(a fixed random hidden layer whose output weights are solved in closed form, ridge
regression onto one-hot targets) classifies the utterance from it.

It is a post-training step over a finished run: each fold's selected model gives the
statistics of that fold's *training* rows (the ELM learns from them only) and of its
test rows (scored once). Nothing is selected on test rows; validation rows are not
used. Rows without a task's label (aggregated corpora) are left out of that task.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.core.files import write_json, write_text
from serzoo.data.labels import has_label
from serzoo.training import metrics
from serzoo.training.evaluate import evaluate, save_predictions
from serzoo.training.results import format_results, summarize_run

ACTIVATIONS = ("sigmoid", "linear")


def posterior_statistics(posteriors: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """Per utterance and class: max, min, mean and share of steps above ``threshold``.

    Args:
        posteriors: ``(N, T, K)`` frame posteriors.
        threshold: the posterior a step must exceed to count in the share.

    Returns:
        ``(N, 4K)``: the four statistics of class 0, then of class 1, ...
    """
    p = np.asarray(posteriors, dtype=np.float64)
    stats = [p.max(axis=1), p.min(axis=1), p.mean(axis=1), (p > threshold).mean(axis=1)]
    return np.stack(stats, axis=-1).reshape(len(p), -1)


@dataclass
class ELM:
    """An extreme learning machine: ``H = act(x W + b)`` with fixed random ``W, b``; ``y = H beta``.

    Args:
        hidden: hidden units.
        c: regularisation: ``beta = (H'H + I / c)^-1 H'T`` (the original's omega).
        activation: ``sigmoid``, or ``linear`` as the original trainer's ELM.
        seed: seeds ``W`` and ``b``.
    """

    hidden: int = 100
    c: float = 1.0
    activation: str = "sigmoid"
    seed: int = 0

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        h = x @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-h)) if self.activation == "sigmoid" else h

    def fit(self, x: np.ndarray, targets: np.ndarray) -> "ELM":
        """Draw the hidden layer and solve the output weights for ``targets`` ``(N, O)``."""
        rng = np.random.default_rng(self.seed)
        self.weights = rng.standard_normal((x.shape[1], self.hidden))
        self.bias = rng.standard_normal(self.hidden)
        h = self._hidden(x)
        self.beta = np.linalg.solve(h.T @ h + np.eye(self.hidden) / self.c, h.T @ targets)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Output scores ``(N, O)``; the largest is the predicted class."""
        return self._hidden(x) @ self.beta


def _frame_posteriors(model, tasks, db, rows, batch_size: int) -> dict[str, np.ndarray]:
    """Each task's frame posteriors ``(len(rows), T, K)`` from the layers ``TASK_frames``."""
    import keras

    outputs = {t.name: model.get_layer(f"{t.name}_frames").output for t in tasks}
    frames = keras.Model(model.inputs, outputs)
    parts = [frames.predict_on_batch(db.features(rows[i:i + batch_size])) for i in range(0, len(rows), batch_size)]
    return {t.name: np.concatenate([np.asarray(p[t.name]) for p in parts]) for t in tasks}


def elm_fold(model, prep, split, tasks, elm: ELM, threshold: float) -> tuple[dict, dict]:
    """Fit one ELM per task on the fold's training rows; the test outputs and scores.

    Returns:
        ``(test scores per task, test report)``.
    """
    train = np.concatenate([split.train, split.adapt]).astype(np.int64)
    size = max(prep.config.batch_size, 256)
    train_post = _frame_posteriors(model, tasks, prep.db, train, size)
    test_post = _frame_posteriors(model, tasks, prep.db, split.test, size)
    scores = {}
    for task in tasks:
        column = prep.db.labels[train, task.column]
        present = has_label(column)
        if not present.any():
            raise ConfigError(f"fold {split.name}: no training row has task {task.name}'s label to fit the ELM on")
        x = posterior_statistics(train_post[task.name][present], threshold)
        targets = np.eye(task.num_classes)[column[present].astype(np.int64)]
        fitted = replace(elm).fit(x, targets)
        scores[task.name] = fitted.predict(posterior_statistics(test_post[task.name], threshold))
    return scores, evaluate(tasks, prep.db.labels[split.test], scores)


def elm_run(run_dir: Path, out_dir: Path, *, elm: ELM, threshold: float = 0.2,
            echo: Callable[[str], None] = lambda m: None) -> dict:
    """The ELM back-end over every finished fold of a run with frame-level heads (see the module docstring).

    Returns:
        The summary per task, also in ``out_dir/results.json`` and ``results.txt``.

    Raises:
        ConfigError: a run without frame-level heads or without classification tasks.
        DataError: an unfinished run.
    """
    from serzoo.core.tf import import_tensorflow
    from serzoo.model.serialization import load_model
    from serzoo.training.prepare import prepare
    from serzoo.training.rundir import check_same_data, load_config

    config = load_config(run_dir)
    if not config.frame_heads:
        raise ConfigError(f"{run_dir}: the ELM back-end needs frame posteriors; train with --frame-heads")
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        raise DataError(f"{run_dir}: no readable results.json; finish the run first (serzoo train --resume)") from None
    import_tensorflow()
    prep = prepare(config)
    check_same_data(run_dir, prep.db)
    tasks = [t for t in prep.tasks if not t.regression]
    if not tasks:
        raise ConfigError(f"{run_dir}: the ELM back-end classifies; the run has no classification task")
    folds = []
    for fold in results["folds"]:
        index = int(fold["fold"])
        echo(f"fold {index + 1}/{len(results['folds'])}: {fold['name']}")
        model, _ = load_model(run_dir / f"fold{index:02d}" / "model.keras", compile=False)
        split = prep.splits[index]
        scores, report = elm_fold(model, prep, split, tasks, elm, threshold)
        save_predictions(out_dir / f"fold{index:02d}" / "predictions.npz", split.test, scores)
        folds.append({**{k: fold[k] for k in ("fold", "name", "groups", "rows")}, "best_epoch": fold["best_epoch"],
                      "test": report})
    summary = summarize_run(tasks, {t.name: results["summary"][t.name].get("class_names") for t in tasks}, folds)
    record = {**results, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "tasks": [t.to_dict() for t in tasks],
              "metrics": metrics.definitions({"classification"}), "summary": summary, "folds": folds,
              "elm": {"run": str(run_dir), "hidden": elm.hidden, "c": elm.c, "activation": elm.activation,
                      "seed": elm.seed, "threshold": threshold,
                      "input": "per class: max, min, mean and share above threshold of the frame posteriors",
                      "trained_on": "each fold's training rows; validation rows unused"}}
    write_json(out_dir / "results.json", record)
    write_text(out_dir / "results.txt", format_results(record))
    return summary
