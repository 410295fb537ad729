"""Training one fold: build or resume the model, fit with validation-based selection, test once, save.

Leakage rules enforced here and recorded in each fold's ``result.json``: train,
validation and test rows and groups are disjoint; the test rows are used once,
after training, for evaluation only; samplers, class weights and standardisation
statistics see training rows only (see :mod:`serzoo.training.batches`).
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.files import ensure_folder, write_json
from serzoo.core.plugin_manager import losses
from serzoo.training.config import STORED_NORMALIZATIONS
from serzoo.data.splits import Split
from serzoo.model.serialization import read_metadata, save_model
from serzoo.training.batches import FoldData, training_data
from serzoo.training.optim import make_optimizer
from serzoo.training.evaluate import evaluate, predict_rows, save_predictions, untrained_tasks, validator
from serzoo.training.prepare import Prepared
from serzoo.training.adapt import adapt
from serzoo.training import distribute
from serzoo.training.pretrained import add_stage_records, before_phase, epoch_phases, prepare_model, stage_metadata
from serzoo.core.tf import import_tensorflow

Echo = Callable[[str], None]


def train_fold(prep: Prepared, fold: int, split: Split, fold_dir: Path, echo: Echo) -> dict:
    """Train, select on validation, evaluate on test; resumes from ``fold_dir/last.keras``.

    Returns:
        The fold's result, also written to ``fold_dir/result.json``.
    """
    split.check_disjoint()
    last_path = fold_dir / "last.keras"
    state = read_metadata(last_path).get("state") if last_path.exists() else None
    data = training_data(prep, fold, split, standardize=prep.config.normalize in STORED_NORMALIZATIONS and state is None)
    model, initial_epoch = _model(prep, fold, data, last_path, state, echo)
    # multiworker: every worker must start this fold at the same epoch (it resumes from the chief's files)
    distribute.agree({"fold": fold, "seed": prep.config.seed, "first epoch": initial_epoch + 1}, f"fold {split.name}")
    checkpoint = _fit(prep, model, split, data, fold_dir, state, initial_epoch, echo)
    with warnings.catch_warnings():
        # best weights written before --unfreeze-after carry the smaller optimizer; only the weights are needed
        warnings.filterwarnings("ignore", message=".*Skipping variable loading for optimizer.*")
        checkpoint.restore_best(model)
    adaptation = adapt(prep, fold, split, model, fold_dir, compile_fold, echo)  # None without adaptation groups
    result = _test_and_save(prep, fold, split, model, data, checkpoint, fold_dir, adaptation)
    if last_path.exists():
        last_path.unlink()  # only needed to resume this fold; the selected model is model.keras
    return result


def train_fold_ensemble(prep: Prepared, fold: int, split: Split, fold_dir: Path, seeds: list[int],
                        echo: Echo) -> dict:
    """Train one model per seed (each in ``fold_dir/seedN``, each resumable) and test their averaged outputs.

    Returns:
        The fold's result: the ensemble's test scores, with each seed's own result under ``seeds``.
    """
    members = []
    for seed in seeds:
        sub = fold_dir / f"seed{seed}"
        done = sub / "result.json"
        if done.exists():
            from serzoo.training.rundir import read_fold_result

            members.append(read_fold_result(done))
            continue
        echo(f"  seed {seed}")
        ensure_folder(sub)
        members.append(train_fold(replace(prep, config=replace(prep.config, seed=seed)), fold, split, sub, echo))
    outputs = [np.load(fold_dir / f"seed{seed}" / "predictions.npz") for seed in seeds]
    averaged = {t.name: np.mean([o[f"pred_{t.name}"] for o in outputs], axis=0) for t in prep.tasks}
    untrained = untrained_tasks(prep.tasks, prep.db.labels[np.concatenate([split.train, split.adapt]).astype(int)])
    test_report = evaluate(prep.tasks, prep.db.labels[split.test], averaged, untrained)
    save_predictions(fold_dir / "predictions.npz", split.test, averaged)
    first = members[0]
    result = {**{k: first[k] for k in ("fold", "name", "groups", "rows", "leakage_checks")},
              "ensemble": {"seeds": seeds, "combination": "mean of the models' outputs (probabilities)"},
              "best_epoch": round(float(np.mean([m["best_epoch"] for m in members])), 1),
              "epochs_run": round(float(np.mean([m["epochs_run"] for m in members])), 1),
              "seeds": [{"seed": s, "best_epoch": m["best_epoch"], "val": m["val"], "test": m["test"]}
                        for s, m in zip(seeds, members)],
              "val": None, "test": test_report}
    write_json(fold_dir / "result.json", result)
    return result


def _model(prep: Prepared, fold: int, data: FoldData, last_path: Path, state: dict | None, echo: Echo):
    """A new compiled model, or the checkpointed one with its optimizer and random states; and the first epoch."""
    import_tensorflow()
    import keras

    from serzoo.training.callbacks import restore_seed_states
    from serzoo.training.precision import precision_scope

    keras.utils.set_random_seed(prep.config.seed + fold)
    # variables made in the strategy's scope are mirrored; layers made in the precision scope keep its policy
    with distribute.scope(prep.config.distribute), precision_scope(prep.config.precision):
        if state is not None:
            from serzoo.model.serialization import load_model

            model, _ = load_model(last_path)
            restore_seed_states(model, state["seed_states"])
            echo(f"  resuming at epoch {state['epoch'] + 2}")
            distribute.synchronize_batchnorm(model)
            return model, state["epoch"] + 1
        model = new_model(prep, fold, data, last_path.parent, echo)
        distribute.synchronize_batchnorm(model)
        return model, 0


def new_model(prep: Prepared, fold: int, data: FoldData, fold_dir: Path, echo: Echo = lambda _m: None):
    """A new model of the run's plan for this fold, compiled with its losses and optimizer."""
    from serzoo.model.assemble import Head, build_model

    cfg = prep.config
    heads = [Head(t.name, t.num_classes) for t in prep.tasks]
    model = build_model(prep.plan, prep.db.example_shape, heads, name=f"serzoo_fold{fold}", normalization=data.stats,
                        per_utterance=cfg.normalize == "utterance")
    prepare_model(model, prep, fold_dir, echo)  # --init-from and --freeze, before compiling
    compile_fold(model, prep, data.priors, make_optimizer(cfg, data.steps_per_epoch))
    return model


def compile_fold(model, prep: Prepared, priors: dict, optimizer) -> None:
    """Compile with the run's losses (cost-sensitive ones get the training rows' class ``priors``)."""
    loss_objects = {}
    for t in prep.tasks:
        loss = losses().get(t.resolved_loss())
        loss_objects[t.name] = loss.factory(num_classes=t.num_classes, class_priors=priors.get(t.name),
                                            **loss.resolve(prep.loss_options.get(loss.name)))
    model.compile(optimizer=optimizer, loss=loss_objects, loss_weights={t.name: t.weight for t in prep.tasks},
                  jit_compile=prep.config.jit_compile)


def _fit(prep: Prepared, model, split: Split, data: FoldData, fold_dir: Path, state: dict | None,
         initial_epoch: int, echo: Echo):
    """Run the remaining epochs with the resumable checkpoint; returns the checkpoint (best epoch, report)."""
    import_tensorflow()
    import keras

    from serzoo.training.callbacks import FoldCheckpoint

    cfg = prep.config
    checkpoint = FoldCheckpoint(
        last_path=fold_dir / "last.keras", best_path=fold_dir / "best.weights.h5", state=state,
        patience=cfg.patience, validate=distribute.chief_scores(validator(prep, split)), epoch_state=data.epoch,
        echo=echo,
        epochs=cfg.epochs, metadata=model_metadata(prep, data.priors), where=f"fold {split.name}",
        every_seconds=cfg.checkpoint_seconds,
    )
    log_path = fold_dir / "log.csv"
    _truncate_log(log_path, initial_epoch)
    callbacks = [checkpoint, keras.callbacks.CSVLogger(str(log_path), append=initial_epoch > 0)]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(fold_dir / "tensorboard")))
    if not checkpoint.finished:
        for start, end in epoch_phases(cfg, initial_epoch):  # two with --unfreeze-after, else one
            with distribute.model_scope(model):  # a new optimizer at --unfreeze-after is the strategy's
                before_phase(model, prep, start, lambda: make_optimizer(cfg, data.steps_per_epoch),
                             lambda opt: compile_fold(model, prep, data.priors, opt), echo)
            distribute.fit(model, data, epochs=end, initial_epoch=start, callbacks=callbacks)
            callbacks[1].append = True  # the next phase appends to the log
            if checkpoint.finished:
                break
    return checkpoint


def _test_and_save(prep: Prepared, fold: int, split: Split, model, data: FoldData, checkpoint,
                   fold_dir: Path, adaptation: dict | None = None) -> dict:
    """Evaluate the selected model on the test rows once; save the model, predictions and result."""
    db = prep.db
    test_report, untrained = None, []  # a final model (serzoo.training.final) has no test rows
    if len(split.test):
        test_pred = predict_rows(model, prep, split.test, prep.config.batch_size)
        untrained = untrained_tasks(prep.tasks, db.labels[data.rows])
        test_report = evaluate(prep.tasks, db.labels[split.test], test_pred, untrained)
        save_predictions(fold_dir / "predictions.npz", split.test, test_pred)
    save_model(model, fold_dir / "model.keras", {**model_metadata(prep, data.priors), **stage_metadata(prep, split)})
    has_val = len(split.val) > 0
    result = {
        "fold": fold, "name": split.name,
        "groups": {"train": split.train_groups, "val": split.val_groups, "test": split.test_groups,
                   "test_names": split.test_names, "grouping": split.grouping},
        "rows": split.sizes(),
        "leakage_checks": {
            "disjoint_rows_and_groups": _disjoint([(data.rows, split.train_groups), (split.val, split.val_groups),
                                                   (split.test, split.test_groups),
                                                   (split.adapt, split.adapt_groups)]),
            "model_selection": "best validation score" if has_val else "last epoch (no validation split)",
        },
        "sampler": data.sampler_record,
        "augmentation": data.augment_record,
        "normalization": prep.config.normalize,
        "class_weights": {k: v.tolist() for k, v in data.weights.items()},
        "epochs_run": checkpoint.last_epoch + 1, "best_epoch": checkpoint.best_epoch + 1,
        "val": checkpoint.best_report, "test": test_report,
    }
    add_stage_records(result, prep, split, fold_dir, adaptation)
    if untrained:  # aggregated corpora: a task none of the training corpora has is not scored
        result["untrained_tasks"] = untrained
    write_json(fold_dir / "result.json", result)
    return result


def _disjoint(parts: list[tuple[np.ndarray, list[int]]]) -> bool:
    """Whether no two parts of a fold share a row they actually used or a group they were given."""
    for i, (rows_a, groups_a) in enumerate(parts):
        for rows_b, groups_b in parts[i + 1:]:
            if np.intersect1d(rows_a, rows_b).size or set(groups_a) & set(groups_b):
                return False
    return True


def _truncate_log(path: Path, initial_epoch: int) -> None:
    """Drop CSV rows of epochs that will be trained again after a resume."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) < initial_epoch]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(keep)


def model_metadata(prep: Prepared, priors: dict | None = None) -> dict:
    """What a saved model carries (``serzoo.json``); ``priors``: the training rows' class priors per task."""
    from serzoo.data.fingerprint import fingerprint
    from serzoo.model.keras_objects import component_origins

    db = prep.db
    return {
        "tasks": [t.to_dict() for t in prep.tasks],
        "class_names": {t.name: db.class_names.get(db.label_names[t.column], []) for t in prep.tasks},
        "label_names": db.label_names,
        "input_layout": db.input_layout, "file_layout": db.file_layout,
        "example_shape": list(db.example_shape),
        "features": db.attrs,
        "blocks": prep.config.blocks,
        **({"class_priors": {k: np.asarray(v).tolist() for k, v in priors.items()}} if priors else {}),
        "plan": prep.plan.to_dict(),
        "plugins": component_origins(prep.plan.blocks, [t.resolved_loss() for t in prep.tasks]),
        "data": fingerprint(db),
    }
