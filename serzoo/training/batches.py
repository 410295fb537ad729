"""The training data of one fold: rows, labels, class weights, standardisation statistics and batches.

Only the fold's training rows (or, in the adaptation stage, its adaptation rows) reach anything here: the sampler,
the class weights, the class priors of cost-sensitive losses and the standardisation
statistics are all computed from them, never from validation or test rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from serzoo.core.errors import ConfigError, TrainingError
from serzoo.core.plugin_manager import samplers
from serzoo.data.splits import Split
from serzoo.training.prepare import Prepared
from serzoo.training.defaults import NO_SAMPLER
from serzoo.data.labels import has_label
from serzoo.training.tasks import Task, class_weights, driving_labels, labelled_counts
from serzoo.core.tf import import_tensorflow

#: seed-sequence entry of the once-per-fold synthetic sampler (epochs use 0, 1, 2, ...)
SYNTHETIC_STREAM = 2**31 - 1
#: seed-sequence entry of the batch augmenters
AUGMENT_STREAM = 2**31 - 2


@dataclass
class FoldData:
    """What one fold trains on.

    Args:
        rows: the database rows of the fold's training groups (adaptation rows train in a later stage).
        labels: labels of the rows the model trains on (synthetic rows included).
        weights: class weights per classification task, from the training rows.
        priors: class priors per classification task, from the training rows.
        stats: per-feature (mean, variance) of the real training rows, or None.
        sampler_record: what the sampler did, for the fold's result.
        dataset: the ``tf.data.Dataset`` of training batches, one pass per epoch.
        epoch: ``{"epoch": n}``, set at each epoch start; index samplers redraw from it.
        steps_per_epoch: batches per epoch (learning-rate schedules count in steps).
        augment_record: the augmenters and how many training batches and rows they transformed.
        failures: the error that ended the batch generator early (see :meth:`raise_failure`).
    """

    rows: np.ndarray
    labels: np.ndarray
    weights: dict[str, np.ndarray]
    priors: dict[str, np.ndarray]
    stats: tuple[np.ndarray, np.ndarray] | None
    sampler_record: dict[str, Any]
    dataset: Any = None
    epoch: dict[str, int] = field(default_factory=lambda: {"epoch": 0})
    steps_per_epoch: int = 1
    augment_record: dict[str, Any] | None = None
    failures: list[BaseException] = field(default_factory=list)

    def raise_failure(self) -> None:
        """Raise what stopped the batch generator (a sampler or augmenter error), if anything did.

        tf.data would replace such an error with its own and a page of traceback; the
        generator keeps it here instead, and whoever ran the epoch raises it.
        """
        if self.failures:
            raise self.failures[0] from None  # not "during handling of" tf.data's own report


def training_data(prep: Prepared, fold: int, split: Split, *, standardize: bool) -> FoldData:
    """The training rows of a fold with their weights, statistics, sampler and batches.

    Args:
        prep: the prepared run.
        fold: the fold's index (seeds its random draws).
        split: the fold's split.
        standardize: compute the standardisation statistics (not needed when resuming).

    Raises:
        ConfigError: the fold has no training rows.
    """
    cfg, tasks, db = prep.config, prep.tasks, prep.db
    rows = np.asarray(split.train, dtype=np.int64)  # adaptation rows: a second stage (serzoo.training.adapt)
    if len(rows) == 0:
        raise ConfigError(f"fold {split.name}: no training rows")
    labels = db.labels[rows]
    priors = {}
    for t in tasks:
        if not t.regression:
            counts = labelled_counts(labels[:, t.column], t.num_classes)
            priors[t.name] = counts / max(counts.sum(), 1)
    data = FoldData(rows, labels, class_weights(cfg.class_weights, tasks, labels), priors, None, {})
    x = None if prep.streaming else db.features(rows)
    # statistics of the real training rows, before a sampler adds synthetic ones
    stats = feature_range if prep.config.normalize == "minmax" else feature_stats
    data.stats = stats(prep, x, rows) if standardize else None
    x, order_for_epoch = _sample(prep, fold, data, x)
    fetch = (lambda pos: db.features(rows[pos])) if prep.streaming else x.__getitem__
    augment = _augmentation(prep, fold, data) if prep.augmenters else None
    from serzoo.training.distribute import replicas

    rows_per_epoch, min_rows = data.sampler_record["rows_after"], replicas(cfg.distribute)
    if rows_per_epoch < min_rows:
        raise ConfigError(f"fold {split.name}: {rows_per_epoch} training rows for {min_rows} replicas "
                          "(--distribute); every replica needs at least one row of each batch")
    data.steps_per_epoch = len(batch_bounds(rows_per_epoch, cfg.batch_size, min_rows))
    data.dataset = train_dataset(fetch, data.labels, tasks, data.weights, order_for_epoch, cfg.batch_size,
                                 db.example_shape, cfg.label_smoothing, augment,
                                 rows_per_epoch=rows_per_epoch, failures=data.failures, min_rows=min_rows,
                                 sampler_name=data.sampler_record["name"],
                                 # a strategy rebatches by rewriting the dataset's graph: keep the rows out of it
                                 features=x if not prep.streaming and not cfg.distribute else None)
    return data


def _sample(prep: Prepared, fold: int, data: FoldData, x):
    """Apply the sampler to the training rows; returns the features and the per-epoch order function."""
    cfg, tasks = prep.config, prep.tasks
    sampler, options = prep.sampler, prep.sampler.resolve(prep.sampler_options)
    record = {"name": sampler.name, "options": prep.sampler_options}
    drive = np.zeros(len(data.rows), dtype=np.int64)
    if sampler.name != NO_SAMPLER:
        drive, record["driven_by"] = driving_labels(tasks, data.labels, cfg.sample_by)
    record["rows_before"] = int(len(drive))  # what the sampler is actually given
    if sampler.needs_features:
        # synthetic rows are made once per fold, from the training rows only; epochs then shuffle them
        rng = np.random.default_rng([cfg.seed, fold, SYNTHETIC_STREAM])
        x, drive = _synthetic(sampler, sampler.factory(drive, x, rng, cfg.batch_size, **options), x)
        data.labels = decode_joint(tasks, drive, data.labels, cfg.sample_by)
        sampler, options = samplers().get(NO_SAMPLER), {}

    def order_for_epoch() -> np.ndarray:
        """Positions into the training rows for the current epoch (index samplers redraw every epoch)."""
        rng = np.random.default_rng([cfg.seed, fold, data.epoch["epoch"]])
        return _positions(sampler, sampler.factory(drive, None, rng, cfg.batch_size, **options), len(drive))

    record["rows_after"] = int(len(x)) if prep.sampler.needs_features else int(len(order_for_epoch()))
    data.sampler_record = record
    return x, order_for_epoch


def _augmentation(prep: Prepared, fold: int, data: FoldData) -> Callable:
    """``augment(x, y, w, batch_index)`` applying the run's augmenters in order, counting what it touched."""
    chain = [(aug.name, aug.factory(**options)) for aug, options in prep.augmenters]
    record = {"augmenters": [{"name": aug.name, "options": options} for aug, options in prep.augmenters],
              "batches": 0, "rows": 0}
    data.augment_record = record

    def augment(x, y, w, batch: int):
        rng = np.random.default_rng([prep.config.seed, fold, data.epoch["epoch"], AUGMENT_STREAM, batch])
        for _name, fn in chain:
            x, y, w = fn(x, y, w, rng)
        record["batches"] += 1
        record["rows"] += len(x)
        return x, y, w

    return augment


def _positions(sampler, order, n: int) -> np.ndarray:
    """An index sampler's output, checked: a non-empty list of whole positions below ``n``.

    Raises:
        TrainingError: naming the sampler and what it returned.
    """
    order = np.asarray(order)
    where = f"sampler {sampler.name} (plugin {sampler.plugin})"
    if order.ndim != 1 or order.size == 0:
        raise TrainingError(f"{where} returned {order.size} positions (shape {order.shape}); it must return "
                            "a non-empty 1-D array of training-row positions")
    if order.dtype.kind not in "iu" and not (order.dtype.kind == "f" and np.all(order == np.round(order))):
        raise TrainingError(f"{where} returned {order.dtype} values; positions must be integers")
    order = order.astype(np.int64)
    if order.min() < 0 or order.max() >= n:
        raise TrainingError(f"{where} returned position {int(order.min() if order.min() < 0 else order.max())}; "
                            f"the fold has training rows 0..{n - 1}")
    return order


def _synthetic(sampler, result, x) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic sampler's ``(x_new, y_new)``, checked against the features it was given."""
    where = f"sampler {sampler.name} (plugin {sampler.plugin})"
    try:
        x_new, y_new = result
        x_new, y_new = np.asarray(x_new, dtype=np.float32), np.asarray(y_new).reshape(-1)
    except (TypeError, ValueError):
        raise TrainingError(f"{where} must return (features, labels), got {type(result).__name__}") from None
    if len(x_new) == 0 or len(x_new) != len(y_new) or x_new.shape[1:] != x.shape[1:]:
        raise TrainingError(f"{where} returned {len(x_new)} rows of shape {x_new.shape[1:]} with {len(y_new)} "
                            f"labels; expected a non-empty set of rows shaped {x.shape[1:]} with one label each")
    if not np.isfinite(x_new).all() or (y_new < 0).any() or (y_new != np.round(y_new)).any():
        raise TrainingError(f"{where} returned non-finite features or labels that are not class indices")
    return x_new, y_new.astype(np.int64)


def _targets(tasks: list[Task], labels: np.ndarray, weights: dict[str, np.ndarray], smoothing: float = 0.0):
    """Per-task targets (one-hot, smoothed towards uniform by ``smoothing``, or float) and sample weights.

    A row without the task's label (the mask value, see :mod:`serzoo.data.labels`) gets the
    sample weight 0 and a neutral target (class 0, or 0.0), so it adds nothing to that
    head's loss or gradient while still training the other heads it has labels for.
    """
    y, w = {}, {}
    for task in tasks:
        column = labels[:, task.column]
        present = has_label(column, task.regression)
        column = np.where(present, column, 0)
        if task.regression:
            y[task.name] = column.astype(np.float32).reshape(-1, 1)
            w[task.name] = np.ones(len(column), np.float32)
        else:
            idx = column.astype(np.int64)
            one_hot = np.eye(task.num_classes, dtype=np.float32)[idx]
            y[task.name] = one_hot * (1 - smoothing) + smoothing / task.num_classes
            w[task.name] = (weights[task.name][idx] if task.name in weights else np.ones(len(idx))).astype(np.float32)
        w[task.name] = w[task.name] * present
    return y, w


def _signature(tf, shape, tasks, rows=None):
    """The specs of a batch of ``rows`` rows (None: batches of different sizes)."""
    return (
        tf.TensorSpec((rows, *shape), tf.float32),
        {t.name: tf.TensorSpec((rows, t.num_classes), tf.float32) for t in tasks},
        {t.name: tf.TensorSpec((rows,), tf.float32) for t in tasks},
    )


def batch_bounds(rows: int, batch_size: int, min_rows: int = 1) -> list[tuple[int, int]]:
    """``(start, end)`` of each batch of an epoch of ``rows`` rows.

    A last batch of fewer than ``min_rows`` rows (the replicas of a tf.distribute strategy,
    each of which needs a row) joins the batch before it.
    """
    bounds = [(start, min(start + batch_size, rows)) for start in range(0, rows, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_rows:
        bounds[-2:] = [(bounds[-2][0], rows)]
    return bounds


def train_dataset(fetch, labels, tasks, weights, order_for_epoch, batch_size, example_shape, smoothing=0.0,
                  augment=None, *, rows_per_epoch: int | None = None, failures: list | None = None,
                  min_rows: int = 1, sampler_name: str = "?", features: np.ndarray | None = None):
    """Batches in exactly the order ``order_for_epoch()`` gives, drawn anew each epoch.

    ``fetch(positions)`` returns the features of those training positions: a slice of
    the rows in memory, or a read from the file when streaming. Keeping the sampler's
    order (rather than a shuffle buffer) keeps class-balanced batches balanced and makes
    streaming and in-memory training see the same batches.

    With ``rows_per_epoch`` the dataset declares its number of batches, so Keras knows where
    an epoch ends: without it, ``fit`` found the end by asking for one batch more, and
    that empty step still advanced the optimizer's step count (learning-rate schedules and
    Adam's bias correction ran one step ahead per epoch). Every epoch must then have that
    many rows. An error in the generator (the sampler's or an augmenter's) ends the epoch
    and is appended to ``failures`` for the caller to raise (:meth:`FoldData.raise_failure`).
    ``min_rows``: see :func:`batch_bounds`.

    With ``features`` (the training rows in memory), no augmenter and a known ``rows_per_epoch``,
    Python only draws each epoch's order: the batches are cut from it and gathered from the
    rows inside tf.data, as Keras does for arrays, instead of one Python step per batch.
    The batches are the same either way.
    """
    import_tensorflow()
    import tensorflow as tf

    y, w = _targets(tasks, labels, weights, smoothing)
    per_chunk = max(1, 1024 // batch_size)  # file reads of whole batches, about 1024 rows

    def epoch_order():
        order = order_for_epoch()
        if rows_per_epoch is not None and len(order) != rows_per_epoch:
            raise TrainingError(f"sampler {sampler_name} gave {len(order)} training rows for this epoch and "
                                f"{rows_per_epoch} for the first; an index sampler must give the same number "
                                "every epoch (its length in steps drives the learning-rate schedule)")
        return order

    def kept(generator):
        def generate():
            try:
                yield from generator()
            except Exception as exc:  # kept for the caller: tf.data would bury it in its own error
                if failures is None:
                    raise
                failures.append(exc)
        return generate

    def reads():
        """``(batch bounds, first position, positions, features)`` of each read of about 1024 rows."""
        order = epoch_order()
        bounds = batch_bounds(len(order), batch_size, min_rows)
        groups = [bounds[k:k + per_chunk] for k in range(0, len(bounds), per_chunk)]
        spans = [(group[0][0], group[-1][1]) for group in groups]
        for group, (first, pos, x) in zip(groups, _read_ahead(fetch, order, spans)):
            yield group, first, pos, x

    def batches():
        for group, first, pos, x in reads():
            for start, end in group:
                p = pos[start - first:end - first]
                batch = x[start - first:end - first], {k: v[p] for k, v in y.items()}, {k: v[p] for k, v in w.items()}
                yield augment(*batch, start // batch_size) if augment is not None else batch

    def stacks():  # the batches of a read, stacked by size: one hand-over to tf.data per read, not per batch
        for group, first, pos, x in reads():
            for size, run in itertools.groupby(group, key=lambda b: b[1] - b[0]):
                start = next(run)[0] - first
                end = start + size * (1 + sum(1 for _ in run))
                p = pos[start:end]
                yield (x[start:end].reshape(-1, size, *x.shape[1:]),
                       {k: v[p].reshape(-1, size, *v.shape[1:]) for k, v in y.items()},
                       {k: v[p].reshape(-1, size) for k, v in w.items()})

    if features is not None and augment is None and rows_per_epoch is not None:
        bounds = np.asarray(batch_bounds(rows_per_epoch, batch_size, min_rows), dtype=np.int64)
        orders = tf.data.Dataset.from_generator(kept(lambda: iter([epoch_order()])),
                                                output_signature=tf.TensorSpec((rows_per_epoch,), tf.int64))
        dataset = _gathered(tf, orders, bounds, (np.asarray(features, np.float32), y, w))
    elif augment is None:
        # batches of one size: that size in the spec, as the gathered batches have (Keras traces the training
        # step for it, and a step with known shapes ran about a fifth faster for cnn1d,lstm,dense)
        sizes = {e - s for s, e in batch_bounds(rows_per_epoch, batch_size, min_rows)} if rows_per_epoch else ()
        full = next(iter(sizes)) if len(sizes) == 1 else None
        stacked = tf.nest.map_structure(lambda spec: tf.TensorSpec((None, *spec.shape), spec.dtype),
                                        _signature(tf, example_shape, tasks, full))
        dataset = tf.data.Dataset.from_generator(kept(stacks), output_signature=stacked).unbatch()
    else:
        dataset = tf.data.Dataset.from_generator(kept(batches), output_signature=_signature(tf, example_shape, tasks))
    if rows_per_epoch is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(
            len(batch_bounds(rows_per_epoch, batch_size, min_rows))))
    return dataset.prefetch(2)


def _gathered(tf, orders, bounds: np.ndarray, arrays):
    """The batches ``arrays[order[start:end]]`` of each epoch's ``order`` and each ``(start, end)`` of ``bounds``."""
    size = int(bounds[0, 1] - bounds[0, 0])
    whole = int(np.sum(bounds[:, 1] - bounds[:, 0] == size))  # batch_bounds: only the last one may differ

    def cut(order):  # one reshape, not one slice per batch (the cheaper way, as in Keras' array adapter)
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:whole * size], (whole, size)))
        return batches.concatenate(tf.data.Dataset.from_tensors(order[whole * size:])) if whole < len(bounds) \
            else batches

    positions = orders.flat_map(cut)
    rows = tf.data.Dataset.from_tensors(arrays).repeat()
    dataset = tf.data.Dataset.zip((positions, rows)).map(
        lambda p, a: tf.nest.map_structure(lambda v: tf.gather(v, p), a), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()  # as Keras' array adapter: no graph rewrites when each epoch's iterator starts
    options.experimental_optimization.apply_default_optimizations = False
    return dataset.with_options(options)


def _read_ahead(fetch, order: np.ndarray, spans: list[tuple[int, int]]):
    """``(start, positions, features)`` of each ``(start, end)`` span of ``order``, the next read while this one trains.

    A chunk read from the file (streaming) takes as long as several training steps; reading it in a
    thread while the batches of the previous chunk are consumed hides that time (h5py and the
    training step both release the interpreter while they work). The chunks and their order are
    exactly those of a plain loop.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="serzoo-read") as pool:
        pending = pool.submit(fetch, order[spans[0][0]:spans[0][1]]) if spans else None
        for i, (start, end) in enumerate(spans):
            x = pending.result()
            if i + 1 < len(spans):
                pending = pool.submit(fetch, order[spans[i + 1][0]:spans[i + 1][1]])
            yield start, order[start:end], x


#: frames per block of the statistics: small enough that its float64 copy stays in the cache
STATS_BLOCK = 4096


def _feature_rows(prep: Prepared, x_train, train_rows):
    """The training features as float64 (frames, features) blocks of at most ``STATS_BLOCK`` frames.

    In memory, the blocks are slices of one view of the rows; streamed, the rows are read 256 at a time.
    Only one block is ever held in float64, so the statistics cost no copy of the whole fold.
    """
    axis = prep.db.layout.feature_axis
    chunks = [x_train] if x_train is not None else (
        prep.db.features(np.sort(train_rows[i:i + 256])) for i in range(0, len(train_rows), 256))
    for chunk in chunks:
        frames = np.moveaxis(np.asarray(chunk), axis, -1).reshape(-1, chunk.shape[axis])
        for i in range(0, len(frames), STATS_BLOCK):
            yield frames[i:i + STATS_BLOCK].astype(np.float64)


def feature_range(prep: Prepared, x_train, train_rows) -> tuple[np.ndarray, np.ndarray]:
    """Min-max scaling as the ``(mean, variance)`` of the model's Normalization layer: ``(min, (max - min)**2)``.

    The layer computes ``(x - mean) / sqrt(variance)``, so these give ``(x - min) / (max - min)``:
    the training rows (all steps and context frames) span [0, 1], as the original trainer's
    min-max scaling did; a constant feature keeps a tiny range rather than dividing by zero.
    """
    low = high = None
    for flat in _feature_rows(prep, x_train, train_rows):
        low = flat.min(0) if low is None else np.minimum(low, flat.min(0))
        high = flat.max(0) if high is None else np.maximum(high, flat.max(0))
    return low, np.maximum((high - low) ** 2, 1e-8)


def feature_stats(prep: Prepared, x_train, train_rows) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of each feature over the training rows (all steps and context frames).

    Each block's mean and sum of squared deviations are merged with Chan et al.'s pairwise
    update, in float64: no cancellation of a large mean (raw energies, pitch in Hz) as in
    ``E[x**2] - E[x]**2``, and no float32 accumulation error.
    """
    count, mean, m2 = 0, None, None
    for flat in _feature_rows(prep, x_train, train_rows):
        n = len(flat)
        block_mean = flat.mean(0)
        flat -= block_mean
        block_m2 = np.einsum("ij,ij->j", flat, flat)
        if mean is None:
            count, mean, m2 = n, block_mean, block_m2
            continue
        delta, total = block_mean - mean, count + n
        mean = mean + delta * (n / total)
        m2 = m2 + block_m2 + delta ** 2 * (count * n / total)
        count = total
    return mean, np.maximum(m2 / count, 1e-8)


def decode_joint(tasks, drive_new, train_labels, sample_by) -> np.ndarray:
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
