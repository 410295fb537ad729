"""Training one fold: build or resume the model, fit with validation-based selection, test once, save.

Leakage rules enforced here and recorded in each fold's ``result.json``: train,
validation and test rows and groups are disjoint; the test rows are used once,
after training, for evaluation only; samplers, class weights and standardisation
statistics see training rows only (see :mod:`serzoo.training.batches`).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.files import atomic_path, write_json
from serzoo.core.plugin_manager import losses
from serzoo.data.splits import Split
from serzoo.model.serialization import read_metadata, save_model
from serzoo.training.batches import FoldData, training_data
from serzoo.training.evaluate import evaluate, predict_rows, validator
from serzoo.training.prepare import Prepared

Echo = Callable[[str], None]


def train_fold(prep: Prepared, fold: int, split: Split, fold_dir: Path, echo: Echo) -> dict:
    """Train, select on validation, evaluate on test; resumes from ``fold_dir/last.keras``.

    Returns:
        The fold's result, also written to ``fold_dir/result.json``.
    """
    split.check_disjoint()
    last_path = fold_dir / "last.keras"
    state = read_metadata(last_path).get("state") if last_path.exists() else None
    data = training_data(prep, fold, split, standardize=prep.config.standardize and state is None)
    model, initial_epoch = _model(prep, fold, data, last_path, state, echo)
    checkpoint = _fit(prep, model, split, data, fold_dir, state, initial_epoch, echo)
    model.load_weights(checkpoint.best_path)
    result = _test_and_save(prep, fold, split, model, data, checkpoint, fold_dir)
    if last_path.exists():
        last_path.unlink()  # only needed to resume this fold; the selected model is model.keras
    return result


def _model(prep: Prepared, fold: int, data: FoldData, last_path: Path, state: dict | None, echo: Echo):
    """A new compiled model, or the checkpointed one with its optimizer and random states; and the first epoch."""
    import keras

    from serzoo.model.assemble import Head, build_model
    from serzoo.training.callbacks import restore_seed_states

    keras.utils.set_random_seed(prep.config.seed + fold)
    if state is not None:
        from serzoo.model.serialization import load_model

        model, _ = load_model(last_path)
        restore_seed_states(model, state["seed_states"])
        echo(f"  resuming at epoch {state['epoch'] + 2}")
        return model, state["epoch"] + 1
    cfg, tasks = prep.config, prep.tasks
    heads = [Head(t.name, t.num_classes) for t in tasks]
    model = build_model(prep.plan, prep.db.example_shape, heads, name=f"serzoo_fold{fold}", normalization=data.stats)
    loss_objects = {}
    for t in tasks:
        loss = losses().get(t.resolved_loss())
        loss_objects[t.name] = loss.factory(num_classes=t.num_classes, class_priors=data.priors.get(t.name),
                                            **loss.resolve(prep.loss_options.get(loss.name)))
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, clipnorm=cfg.clipnorm)
    model.compile(optimizer=optimizer, loss=loss_objects, loss_weights={t.name: t.weight for t in tasks},
                  jit_compile=cfg.jit_compile)
    return model, 0


def _fit(prep: Prepared, model, split: Split, data: FoldData, fold_dir: Path, state: dict | None,
         initial_epoch: int, echo: Echo):
    """Run the remaining epochs with the resumable checkpoint; returns the checkpoint (best epoch, report)."""
    import keras

    from serzoo.training.callbacks import FoldCheckpoint

    cfg = prep.config
    checkpoint = FoldCheckpoint(
        last_path=fold_dir / "last.keras", best_path=fold_dir / "best.weights.h5", state=state,
        patience=cfg.patience, validate=validator(prep, split), epoch_state=data.epoch, echo=echo,
        epochs=cfg.epochs, metadata=model_metadata(prep), where=f"fold {split.name}",
    )
    log_path = fold_dir / "log.csv"
    _truncate_log(log_path, initial_epoch)
    callbacks = [checkpoint, keras.callbacks.CSVLogger(str(log_path), append=initial_epoch > 0)]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(fold_dir / "tensorboard")))
    if not checkpoint.finished:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
            model.fit(data.dataset, epochs=cfg.epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
    return checkpoint


def _test_and_save(prep: Prepared, fold: int, split: Split, model, data: FoldData, checkpoint,
                   fold_dir: Path) -> dict:
    """Evaluate the selected model on the test rows once; save the model, predictions and result."""
    db = prep.db
    test_pred = predict_rows(model, prep, split.test, prep.config.batch_size)
    test_report = evaluate(prep.tasks, db.labels[split.test], test_pred)
    save_model(model, fold_dir / "model.keras", model_metadata(prep))
    with atomic_path(fold_dir / "predictions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, rows=split.test, **{f"pred_{k}": v for k, v in test_pred.items()})
    has_val = len(split.val) > 0
    result = {
        "fold": fold, "name": split.name,
        "groups": {"train": split.train_groups, "val": split.val_groups, "test": split.test_groups,
                   "test_names": [db.group_names[g] for g in split.test_groups] if db.groups else []},
        "rows": split.sizes(),
        "leakage_checks": {
            "disjoint_rows_and_groups": True,
            "model_selection": "best validation score" if has_val else "last epoch (no validation split)",
            "test_used_for": "final evaluation only",
        },
        "sampler": data.sampler_record,
        "class_weights": {k: v.tolist() for k, v in data.weights.items()},
        "epochs_run": checkpoint.last_epoch + 1, "best_epoch": checkpoint.best_epoch + 1,
        "val": checkpoint.best_report, "test": test_report,
    }
    write_json(fold_dir / "result.json", result)
    return result


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


def model_metadata(prep: Prepared) -> dict:
    db = prep.db
    return {
        "tasks": [t.to_dict() for t in prep.tasks],
        "class_names": {t.name: db.class_names.get(db.label_names[t.column], []) for t in prep.tasks},
        "label_names": db.label_names,
        "input_layout": db.input_layout, "file_layout": db.file_layout,
        "example_shape": list(db.example_shape),
        "features": db.attrs,
        "blocks": prep.config.blocks,
    }
