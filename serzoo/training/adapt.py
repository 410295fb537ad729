"""Adaptation as a second stage: continue training a fold's selected model on the adaptation groups.

With ``--adapt-groups``, a fold trains on its training groups as usual (selection on its
validation groups), is scored on its test rows ("before"), then trains on the adaptation
groups' rows for ``--adapt-epochs`` epochs at ``--adapt-lr`` (optionally with
``--adapt-freeze`` layers frozen) and is scored on the same test rows again ("after").
Adaptation rows are never test or validation rows (:meth:`serzoo.data.splits.Split.check_disjoint`),
and there is no model selection in this stage: the last adaptation epoch is kept, since
selecting on the test rows would be leakage and the adaptation groups have no held-out part.
As in SER_KERAS_TF_TRAINER (``-adopt_idx``), the training groups are first used, then the
model is adapted to these; the original optimizer restarts with the adaptation learning rate.

The stage has no checkpoint of its own: it is deterministic from the fold's selected model,
so a fold killed during adaptation resumes from its finished training checkpoint and
adapts again to the same result.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.errors import TrainingError
from serzoo.core.tf import import_tensorflow
from serzoo.data.splits import Split
from serzoo.training import distribute, metrics
from serzoo.training.batches import training_data
from serzoo.training.evaluate import evaluate, headline, predict_rows, save_predictions
from serzoo.training.optim import make_optimizer

Echo = Callable[[str], None]
#: added to the fold index in the seed sequence of the adaptation batches (epochs restart at 0)
ADAPT_STREAM = 2**20
SELECTION = "the last adaptation epoch (no model selection on adaptation or test rows)"


def adapt(prep, fold: int, split: Split, model, fold_dir: Path, compile_fold: Callable, echo: Echo) -> dict | None:
    """Score the test rows, adapt ``model`` in place on ``split.adapt``, and return the stage's record.

    Returns:
        None without adaptation rows; else the groups, rows, settings, frozen layers and the
        test scores before adaptation (the fold's ``test`` holds those after).
    """
    if not len(split.adapt) or not prep.config.adapt_groups:
        return None
    import_tensorflow()
    import keras

    cfg = prep.config
    before = predict_rows(model, prep, split.test, cfg.batch_size)
    report_before = evaluate(prep.tasks, prep.db.labels[split.test], before)
    save_predictions(fold_dir / "predictions_before_adaptation.npz", split.test, before)
    stage = replace(cfg, learning_rate=cfg.adapt_lr or cfg.learning_rate, epochs=cfg.adapt_epochs, warmup=0.0)
    stage_prep = replace(prep, config=stage)
    empty = np.empty(0, dtype=np.int64)
    data = training_data(stage_prep, fold + ADAPT_STREAM, replace(split, train=split.adapt, val=empty, adapt=empty),
                         standardize=False)  # the model keeps its training-stage standardisation
    frozen = _adapt_freeze(model, prep)
    with distribute.model_scope(model):  # the stage's optimizer belongs to the model's strategy, if any
        compile_fold(model, stage_prep, data.priors, make_optimizer(stage, data.steps_per_epoch))
    echo(f"  adapting on {len(split.adapt)} rows of groups {split.adapt_groups} for {stage.epochs} epochs "
         f"(lr {stage.learning_rate}{'; frozen ' + ', '.join(frozen) if frozen else ''})")

    def epoch_begin(epoch, logs=None):
        data.epoch["epoch"] = epoch

    def epoch_end(epoch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingError(f"fold {split.name}: the adaptation loss became {loss} in epoch {epoch + 1}; "
                                "lower --adapt-lr")
        echo(f"  adaptation epoch {epoch + 1}/{stage.epochs}: loss {loss:.4f}")

    distribute.fit(model, data, epochs=stage.epochs,
                   callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=epoch_begin, on_epoch_end=epoch_end)])
    return {"groups": split.adapt_groups,
            "group_names": [split.group_names[g] for g in split.adapt_groups if g < len(split.group_names)],
            "rows": int(len(split.adapt)), "epochs": stage.epochs, "learning_rate": stage.learning_rate,
            "frozen": frozen, "sampler": data.sampler_record, "model_selection": SELECTION,
            "test_before": report_before}


def _adapt_freeze(model, prep) -> list[str]:
    """Apply ``--adapt-freeze`` (``none``: every layer trains); without it the layers stay as training left them."""
    from serzoo.training.pretrained import freeze_names, set_trainable

    spec = prep.config.adapt_freeze
    if spec:
        set_trainable(model, [layer.name for layer in model.layers], True)
        if spec.strip().lower() != "none":
            set_trainable(model, freeze_names(spec, model, prep.plan.blocks, "--adapt-freeze"), False)
    return [layer.name for layer in model.layers if not layer.trainable and layer.weights]


def adaptation_summary(tasks, fold_results: list[dict]) -> dict | None:
    """Per task: each metric's mean over folds before and after adaptation (None without adaptation)."""
    adapted = [r for r in fold_results if r.get("adaptation")]
    if not adapted:
        return None
    out = {}
    for task in tasks:
        entry = {}
        for metric in metrics.metrics_for(task.task_type):
            before = [r["adaptation"]["test_before"][task.name].get(metric.name, float("nan")) for r in adapted]
            after = [r["test"][task.name].get(metric.name, float("nan")) for r in adapted]
            entry[metric.name] = {"before": metrics.summarize(before), "after": metrics.summarize(after)}
        out[task.name] = entry
    first = adapted[0]["adaptation"]
    return {"groups": first["group_names"] or first["groups"], "epochs": first["epochs"],
            "learning_rate": first["learning_rate"], "folds": len(adapted), "tasks": out}


def adaptation_lines(summary: dict | None, fold_results: list[dict]) -> list[str]:
    """results.txt lines: the test scores of every fold before and after adaptation, and their means."""
    if not summary:
        return []
    lines = [f"adaptation to groups {', '.join(map(str, summary['groups']))} ({summary['epochs']} epochs, "
             f"lr {summary['learning_rate']}; {SELECTION}): test scores before -> after"]
    for task in summary["tasks"]:
        for result in fold_results:
            if result.get("adaptation"):
                lines.append(f"  {result['name']} {task}: {headline(result['adaptation']['test_before'][task])} -> "
                             f"{headline(result['test'][task])}")
        for name, entry in summary["tasks"][task].items():
            lines.append(f"  {task} {name}: {entry['before']['mean']:.4f} ± {entry['before']['std']:.4f} -> "
                         f"{entry['after']['mean']:.4f} ± {entry['after']['std']:.4f}")
    return lines + [""]
