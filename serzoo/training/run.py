"""Cross-validated training: one model per fold, early stopping on validation only, resumable.

Leakage rules enforced here and recorded per fold in ``results.json``: train,
validation and test rows and groups are disjoint; the test rows are used once,
after training, for evaluation only; samplers and class weights see training
rows only.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.training import metrics
from serzoo.model.assemble import Head, Plan, parse_opts, plan_chain
from serzoo.training.config import TrainConfig
from serzoo.data.database import Database, open_database
from serzoo.data.splits import Split, make_splits
from serzoo.core.errors import ConfigError
from serzoo.core.plugin_manager import losses, samplers
from serzoo.core.registry import Sampler
from serzoo.core.files import write_json
from serzoo.model.serialization import read_metadata, save_model
from serzoo.training.tasks import Task, check_labels, class_weights, driving_labels, parse_tasks

Echo = Callable[[str], None]


@dataclass
class Prepared:
    """Everything checked before TensorFlow is touched."""

    config: TrainConfig
    db: Database
    tasks: list[Task]
    plan: Plan
    splits: list[Split]
    sampler: Sampler
    sampler_options: dict
    loss_options: dict
    streaming: bool


def _key_values(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {item!r}: expected name=value")
        out[key.strip()] = value.strip()
    return out


def prepare(config: TrainConfig) -> Prepared:
    """Open the data and check the whole configuration; raises one-line errors before any training."""
    from serzoo.data.demo import default_demo_path
    from serzoo.training.streaming import use_streaming

    config.validate()
    if config.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'serzoo[tensorboard]'")
    db = open_database(config.data or default_demo_path(), loader=config.loader)
    # declared class names, else the largest index + 1 (a float label then fails check_labels, clearly)
    counts = {name: db.num_classes(name) for name in db.label_names}
    tasks = parse_tasks(config.tasks, db.label_names, counts)
    check_labels(tasks, db.labels)
    for task in tasks:
        loss = losses().get(task.resolved_loss())
        if task.task_type not in loss.task_types:
            raise ConfigError(
                f"loss {loss.name} does not fit {task.task_type} task {task.name}; "
                f"use one made for {task.task_type} (see `serzoo list losses`)"
            )
    loss_options = {}
    for name, values in parse_opts(config.loss_opts).items():
        if name not in {t.resolved_loss() for t in tasks}:
            raise ConfigError(f"--loss-opt {name}.*: no task uses loss {name!r}")
        loss = losses().get(name)
        loss_options[name] = {k: loss.param(k).parse(v, where=f"{name}.") for k, v in values.items()}
    class_weights(config.class_weights, tasks, db.labels)  # checks the spec; recomputed per fold
    sampler = samplers().get(config.sampler)
    sampler_options = {k: sampler.param(k).parse(v, where=f"{sampler.name}.")
                       for k, v in _key_values(config.sampler_opts, "--sampler-opt").items()}
    if sampler.name != "none":
        driving_labels(tasks, db.labels, config.sample_by)
        if sampler.needs_features and len(tasks) > 1 and (config.sample_by != "joint" or any(t.regression for t in tasks)):
            raise ConfigError(
                f"sampler {sampler.name} makes synthetic rows and needs a label for every task: with several "
                "tasks use --sample-by joint (classification tasks only), or an index sampler such as oversample"
            )
    shared = {k: v for k, v in (("dropout", config.dropout), ("l2", config.l2)) if v is not None}
    plan = plan_chain(config.blocks, db.input_layout, parse_opts(config.opts), shared)
    splits = make_splits(
        db, config.protocol, test_groups=config.test_groups, val_groups=config.val_groups,
        train_groups=config.train_groups, ignore_groups=config.ignore_groups, adapt_groups=config.adapt_groups,
        folds=config.folds, val_share=config.val_share, seed=config.seed,
    )
    if config.max_folds:
        splits = splits[: config.max_folds]
    streaming = use_streaming(db, config.streaming)
    if streaming and sampler.needs_features:
        raise ConfigError(f"sampler {sampler.name} needs every training row in memory; use --streaming memory")
    return Prepared(config, db, tasks, plan, splits, sampler, sampler_options, loss_options, streaming)


# -- data for one fold ---------------------------------------------------------------------------


def _targets(tasks: list[Task], labels: np.ndarray, weights: dict[str, np.ndarray]):
    """Per-task targets (one-hot or float) and sample weights for label rows."""
    y, w = {}, {}
    for task in tasks:
        column = labels[:, task.column]
        if task.regression:
            y[task.name] = column.astype(np.float32).reshape(-1, 1)
            w[task.name] = np.ones(len(column), np.float32)
        else:
            idx = column.astype(np.int64)
            y[task.name] = np.eye(task.num_classes, dtype=np.float32)[idx]
            w[task.name] = (weights[task.name][idx] if task.name in weights else np.ones(len(idx))).astype(np.float32)
    return y, w


def _signature(tf, shape, tasks):
    return (
        tf.TensorSpec((None, *shape), tf.float32),
        {t.name: tf.TensorSpec((None, t.num_classes), tf.float32) for t in tasks},
        {t.name: tf.TensorSpec((None,), tf.float32) for t in tasks},
    )


def _train_dataset(fetch, labels, tasks, weights, order_for_epoch, batch_size, example_shape):
    """Batches in exactly the order ``order_for_epoch()`` gives, drawn anew each epoch.

    ``fetch(positions)`` returns the features of those training positions: a slice of
    the rows in memory, or a read from the file when streaming. Keeping the sampler's
    order (rather than a shuffle buffer) keeps class-balanced batches balanced and makes
    streaming and in-memory training see the same batches.
    """
    import tensorflow as tf

    y, w = _targets(tasks, labels, weights)
    chunk = max(batch_size, 1024 // batch_size * batch_size)  # file reads of whole batches

    def generate():
        order = order_for_epoch()
        for c in range(0, len(order), chunk):
            pos = order[c:c + chunk]
            x = fetch(pos)
            for b in range(0, len(pos), batch_size):
                p = pos[b:b + batch_size]
                yield x[b:b + batch_size], {k: v[p] for k, v in y.items()}, {k: v[p] for k, v in w.items()}

    sig = _signature(tf, example_shape, tasks)
    return tf.data.Dataset.from_generator(generate, output_signature=sig).prefetch(2)


def _predict(model, prep: Prepared, rows: np.ndarray, batch_size: int, features=None) -> dict[str, np.ndarray]:
    """Model outputs for database rows; ``features`` are those rows already in memory, if at hand."""
    if features is None and not prep.streaming:
        features = prep.db.features(rows)
    # predict_on_batch reuses the compiled predict function; model.predict would build a
    # tf.data pipeline on every call, which costs more than the prediction on small splits
    step = max(batch_size, 256)
    parts = []
    for i in range(0, len(rows), step):
        x = features[i:i + step] if features is not None else prep.db.features(rows[i:i + step])
        parts.append(model.predict_on_batch(x))
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]} if parts else {}


def evaluate(tasks: list[Task], labels: np.ndarray, predictions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Metrics per task for label rows and the model's outputs."""
    report = {}
    for task in tasks:
        truth = labels[:, task.column]
        pred = predictions[task.name]
        if task.regression:
            report[task.name] = metrics.regression_report(truth, pred.reshape(-1))
        else:
            report[task.name] = metrics.classification_report(truth.astype(int), pred.argmax(-1), task.num_classes)
    return report


def selection_score(tasks: list[Task], report: dict[str, dict]) -> float:
    """Mean over tasks of each task's validation metric; higher is better (MSE counts negated)."""
    scores = []
    for task in tasks:
        value = report[task.name][task.resolved_metric()]
        scores.append(-value if task.resolved_metric() == "mse" else value)
    return float(np.mean(scores))


# -- one fold ------------------------------------------------------------------------------------


#: seed-sequence entry of the once-per-fold synthetic sampler (epochs use 0, 1, 2, ...)
SYNTHETIC_STREAM = 2**31 - 1


def train_fold(prep: Prepared, fold: int, split: Split, fold_dir: Path, echo: Echo) -> dict:
    """Train, select on validation, evaluate on test; resumes from ``fold_dir/last.keras``."""
    import keras

    from serzoo.model.assemble import build_model
    from serzoo.training.callbacks import FoldCheckpoint, restore_seed_states

    cfg, tasks, db = prep.config, prep.tasks, prep.db
    split.check_disjoint()
    train_rows = np.concatenate([split.train, split.adapt]).astype(np.int64)
    if len(train_rows) == 0:
        raise ConfigError(f"fold {split.name}: no training rows")
    train_labels = db.labels[train_rows]
    weights = class_weights(cfg.class_weights, tasks, train_labels)
    priors = {t.name: np.bincount(train_labels[:, t.column].astype(int), minlength=t.num_classes) / len(train_rows)
              for t in tasks if not t.regression}
    sampler_record = {"name": prep.sampler.name, "options": prep.sampler_options}

    last_path, best_path = fold_dir / "last.keras", fold_dir / "best.weights.h5"
    state = read_metadata(last_path).get("state") if last_path.exists() else None
    x_train = None if prep.streaming else db.features(train_rows)
    # statistics of the real training rows, before a sampler adds synthetic ones (a resumed model has them)
    stats = _feature_stats(prep, x_train, train_rows) if cfg.standardize and state is None else None
    sampler, options = prep.sampler, prep.sampler.resolve(prep.sampler_options)
    drive = np.zeros(len(train_rows), dtype=np.int64)
    if sampler.name != "none":
        drive, sampler_record["driven_by"] = driving_labels(tasks, train_labels, cfg.sample_by)
    sampler_record["rows_before"] = int(len(drive))  # the labels every sampler call below is given
    if sampler.needs_features:
        # synthetic rows are made once per fold, from the training rows only; epochs then shuffle them
        rng = np.random.default_rng([cfg.seed, fold, SYNTHETIC_STREAM])
        x_train, drive = sampler.factory(drive, x_train, rng, cfg.batch_size, **options)
        train_labels = _decode_joint(tasks, drive, train_labels, cfg.sample_by)
        sampler, options = samplers().get("none"), {}
    epoch_state = {"epoch": 0}

    def order_for_epoch() -> np.ndarray:
        """Positions into the training rows for the current epoch (index samplers redraw every epoch)."""
        rng = np.random.default_rng([cfg.seed, fold, epoch_state["epoch"]])
        return np.asarray(sampler.factory(drive, None, rng, cfg.batch_size, **options), dtype=np.int64)

    sampler_record["rows_after"] = int(len(x_train)) if prep.sampler.needs_features else int(len(order_for_epoch()))
    if prep.streaming:
        fetch = lambda pos: db.features(train_rows[pos])  # noqa: E731
    else:
        fetch = x_train.__getitem__
    dataset = _train_dataset(fetch, train_labels, tasks, weights, order_for_epoch, cfg.batch_size, db.example_shape)

    keras.utils.set_random_seed(cfg.seed + fold)
    if state is not None:
        from serzoo.model.serialization import load_model

        model, _ = load_model(last_path)
        restore_seed_states(model, state["seed_states"])
        initial_epoch = state["epoch"] + 1
        echo(f"  resuming at epoch {initial_epoch + 1}")
    else:
        heads = [Head(t.name, t.num_classes) for t in tasks]
        model = build_model(prep.plan, db.example_shape, heads, name=f"serzoo_fold{fold}", normalization=stats)
        optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, clipnorm=cfg.clipnorm)
        loss_objects = {}
        for t in tasks:
            loss = losses().get(t.resolved_loss())
            loss_objects[t.name] = loss.factory(num_classes=t.num_classes, class_priors=priors.get(t.name),
                                                **loss.resolve(prep.loss_options.get(loss.name)))
        model.compile(optimizer=optimizer, loss=loss_objects, loss_weights={t.name: t.weight for t in tasks},
                      jit_compile=cfg.jit_compile)
        initial_epoch = 0

    has_val = len(split.val) > 0
    val_labels = db.labels[split.val] if has_val else None
    x_val = db.features(split.val) if has_val and not prep.streaming else None

    def validate_fn(m) -> tuple[float, dict]:
        report = evaluate(tasks, val_labels, _predict(m, prep, split.val, cfg.batch_size, x_val))
        return selection_score(tasks, report), report

    checkpoint = FoldCheckpoint(
        last_path=last_path, best_path=best_path, state=state, patience=cfg.patience,
        validate=validate_fn if has_val else None, epoch_state=epoch_state, echo=echo, epochs=cfg.epochs,
        metadata=_model_metadata(prep),
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
            model.fit(dataset, epochs=cfg.epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks)
    model.load_weights(best_path)

    test_pred = _predict(model, prep, split.test, cfg.batch_size)
    test_report = evaluate(tasks, db.labels[split.test], test_pred)
    save_model(model, fold_dir / "model.keras", _model_metadata(prep))
    np.savez(fold_dir / "predictions.npz", rows=split.test, **{f"pred_{k}": v for k, v in test_pred.items()})
    result = {
        "fold": fold, "name": split.name,
        "groups": {"train": split.train_groups, "val": split.val_groups, "test": split.test_groups,
                   "test_names": [db.group_names[g] for g in split.test_groups] if db.groups else []},
        "rows": split.sizes(),
        "leakage_checks": {
            "disjoint_rows_and_groups": _disjoint([(train_rows, split.train_groups), (split.val, split.val_groups),
                                                   (split.test, split.test_groups)]),
            "model_selection": "best validation score" if has_val else "last epoch (no validation split)",
        },
        "sampler": sampler_record,
        "class_weights": {k: v.tolist() for k, v in weights.items()},
        "epochs_run": checkpoint.last_epoch + 1, "best_epoch": checkpoint.best_epoch + 1,
        "val": checkpoint.best_report, "test": test_report,
    }
    write_json(fold_dir / "result.json", result)
    if last_path.exists():
        last_path.unlink()  # only needed to resume this fold; the selected model is model.keras
    return result


def _disjoint(parts: list[tuple[np.ndarray, list[int]]]) -> bool:
    """Whether no two parts of a fold share a row they actually used or a group they were given."""
    for i, (rows_a, groups_a) in enumerate(parts):
        for rows_b, groups_b in parts[i + 1:]:
            if np.intersect1d(rows_a, rows_b).size or set(groups_a) & set(groups_b):
                return False
    return True


def _feature_stats(prep: Prepared, x_train, train_rows) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each feature over the training rows (all steps and context frames)."""
    axis = -2 if prep.db.input_layout in ("volume", "frames") else -1
    total = sq = None
    count = 0
    chunks = [x_train] if x_train is not None else (
        prep.db.features(np.sort(train_rows[i:i + 256])) for i in range(0, len(train_rows), 256))
    for chunk in chunks:
        flat = np.moveaxis(np.asarray(chunk, dtype=np.float64), axis, -1).reshape(-1, chunk.shape[axis])
        total = flat.sum(0) if total is None else total + flat.sum(0)
        sq = (flat ** 2).sum(0) if sq is None else sq + (flat ** 2).sum(0)
        count += len(flat)
    mean = total / count
    variance = np.maximum(sq / count - mean ** 2, 1e-8)
    return mean, variance


def _decode_joint(tasks, drive_new, train_labels, sample_by) -> np.ndarray:
    """Labels of (possibly synthetic) rows from the driving label the sampler returned."""
    classification = [t for t in tasks if not t.regression]
    labels = np.zeros((len(drive_new), train_labels.shape[1]))
    if sample_by == "joint" and len(classification) > 1:
        rest = np.asarray(drive_new, dtype=np.int64)
        for task in reversed(classification):
            labels[:, task.column] = rest % task.num_classes
            rest = rest // task.num_classes
    else:
        labels[:, classification[0].column] = drive_new
    return labels


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


def _model_metadata(prep: Prepared) -> dict:
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


# -- all folds -----------------------------------------------------------------------------------


def run(prep: Prepared, run_dir: Path, echo: Echo = print) -> dict:
    """Train every fold not finished yet, then write ``results.json`` and ``results.txt``."""
    from serzoo.training.results import summarize_run, write_results

    run_dir.mkdir(parents=True, exist_ok=True)
    fold_results = []
    total = len(prep.splits)
    for fold, split in enumerate(prep.splits):
        fold_dir = run_dir / f"fold{fold:02d}"
        done = fold_dir / "result.json"
        if done.exists():
            import json

            fold_results.append(json.loads(done.read_text()))
            echo(f"fold {fold + 1}/{total} ({split.name}): done before, kept")
            continue
        fold_dir.mkdir(parents=True, exist_ok=True)
        echo(f"fold {fold + 1}/{total} ({split.name}): train {len(split.train)}, val {len(split.val)}, "
             f"test {len(split.test)} rows")
        start = time.monotonic()
        result = train_fold(prep, fold, split, fold_dir, echo)
        scores = ", ".join(f"{name} {_headline(rep)}" for name, rep in result["test"].items())
        echo(f"fold {fold + 1}/{total} done in {time.monotonic() - start:.0f}s: "
             f"best epoch {result['best_epoch']}, test {scores}")
        fold_results.append(result)
    summary = summarize_run(prep, fold_results)
    write_results(run_dir, prep, fold_results, summary)
    return summary


def _headline(report: dict) -> str:
    if "uar" in report:
        return f"UAR {report['uar']:.3f}"
    return f"CCC {report['ccc']:.3f}"


def default_run_dir(config: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    blocks = config.blocks.replace(",", "-")
    return Path(os.environ.get("SERZOO_RUNS", "runs")) / f"{stamp}-{blocks}"
