"""Data-parallel training of one model with tf.distribute (``--distribute mirrored|multiworker``).

``mirrored`` replicates the model on every local device (GPUs, or logical CPU
devices) with ``MirroredStrategy``. ``multiworker`` replicates it on every device
of several processes, on one machine or several, with
``MultiWorkerMirroredStrategy``; each process is a worker started with the same
command and its own ``TF_CONFIG`` (see :func:`cluster`).

In both, the model is built and compiled inside ``strategy.scope()`` and
``--batch-size`` is the global batch: each replica takes its share of every
batch and the gradients are summed over the replicas, with every row weighing
1/batch as on one device, so training matches single-device training up to
floating-point summation order. A last batch with fewer rows than replicas
joins the batch before it (:func:`serzoo.training.batches.batch_bounds`), and
batch normalisation takes its statistics over the global batch
(:func:`synchronize_batchnorm`).

Keras 3's ``Model.fit`` fails under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585: its first-batch build and its reduction of the step's
logs do not handle values spread over workers), and under any strategy it
averages each replica's loss over that replica's rows, so that the rows of an
unevenly split batch weigh differently. :func:`fit` therefore runs the epochs
of a model made under a strategy with a loop of its own: Keras' own
``train_step`` in ``strategy.run`` with the sample weights scaled to give every
row its single-device weight, the same callbacks at the same points, and the
epoch's loss read from the metric variables, which sum over all replicas. Its
step is not compiled with XLA (``--jit`` does not apply). Evaluation needs no
communication: under ``multiworker`` every worker scores the whole validation
and test rows itself.

Only the chief (worker 0, or the ``chief`` task) writes the run directory;
the other workers write theirs into a private copy that is removed at the end
(:func:`worker_folder`). Checkpoints and ``--resume`` work as without a strategy
as long as every worker can read the run directory (one machine, or a shared
filesystem), which :func:`agree` checks at the start of each fold.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from serzoo.core.errors import ConfigError, OutputError, TrainingError
from serzoo.core.files import reason

_STRATEGIES: dict[str, object] = {}
_PREDICTORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # multi-worker models' traced calls

TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')


@dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker run, read from ``TF_CONFIG``.

    Args:
        members: ``host:port`` of every worker, the chief first.
        index: this process's position in ``members``.
    """

    members: tuple[str, ...]
    index: int

    @property
    def chief(self) -> bool:
        """Whether this process writes the run directory."""
        return self.index == 0

    def describe(self) -> str:
        role = "the chief, which writes the run directory" if self.chief else "not the chief"
        return f"worker {self.index} of {len(self.members)} ({role}; workers {', '.join(self.members)})"


def cluster(environ=None) -> Cluster:
    """This process's place among the workers, from the ``TF_CONFIG`` environment variable.

    ``TF_CONFIG`` is tf.distribute's JSON: ``cluster`` maps ``worker`` (and optionally one
    ``chief``) to ``host:port`` addresses, ``task`` says which of them this process is.

    Raises:
        ConfigError: ``TF_CONFIG`` is missing or does not describe this process.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        raise ConfigError(f"--distribute multiworker: set TF_CONFIG in every worker's environment, such as "
                          f"{TF_CONFIG_EXAMPLE} (index 1 on the second machine)")
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not JSON ({exc.msg} at character {exc.pos}); for example "
                          f"{TF_CONFIG_EXAMPLE}") from None
    jobs = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(jobs, dict) or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' and a 'task' object, such as {TF_CONFIG_EXAMPLE}")
    unknown = sorted(set(jobs) - {"chief", "worker"})
    if unknown:
        raise ConfigError(f"TF_CONFIG: serzoo's workers are 'worker' (and at most one 'chief') tasks; not {unknown}")
    chiefs, workers = jobs.get("chief", []), jobs.get("worker", [])
    members = [*chiefs, *workers] if isinstance(chiefs, list) and isinstance(workers, list) else []
    if not members or len(chiefs) > 1 or not all(isinstance(m, str) and _is_address(m) for m in members):
        raise ConfigError(f"TF_CONFIG: the cluster must list 'host:port' addresses under 'worker' (and at most one "
                          f"'chief'); got {jobs}")
    if len(set(members)) != len(members):
        raise ConfigError(f"TF_CONFIG: an address is listed twice in {members}")
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in ("chief", "worker") or not isinstance(index, int) or isinstance(index, bool):
        raise ConfigError(f"TF_CONFIG: the task must be {{\"type\": \"worker\" or \"chief\", \"index\": N}}; got {task}")
    listed = chiefs if kind == "chief" else workers
    if not 0 <= index < len(listed):
        raise ConfigError(f"TF_CONFIG: task {kind} {index} is not in the cluster ({len(listed)} {kind} "
                          f"address{'es' if len(listed) != 1 else ''})")
    return Cluster(tuple(members), index if kind == "chief" else len(chiefs) + index)


def local_cluster(workers: int) -> list[str]:
    """``TF_CONFIG`` values for ``workers`` worker processes on this machine, one per worker (free ports).

    For tests and benchmarks: start one ``serzoo train --distribute multiworker`` per value.
    """
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        members = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [json.dumps({"cluster": {"worker": members}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def _is_address(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def strategy(mode: str | None):
    """The process's strategy for ``mode``, made once; None without one.

    Raises:
        ConfigError: an unknown mode, or ``multiworker`` without a usable ``TF_CONFIG``.
    """
    if mode is None:
        return None
    if mode not in ("mirrored", "multiworker"):
        raise ConfigError(f"--distribute {mode!r}: choose mirrored or multiworker")
    if mode not in _STRATEGIES:
        from serzoo.core.tf import import_tensorflow

        if mode == "mirrored":
            _STRATEGIES[mode] = import_tensorflow().distribute.MirroredStrategy()
        else:
            cluster()  # a bad TF_CONFIG says so in one line, before TensorFlow reads it

            def make(tf):  # before TensorFlow's first operation, which fixes how it communicates
                try:
                    _STRATEGIES[mode] = tf.distribute.MultiWorkerMirroredStrategy()
                except RuntimeError as exc:  # "Collective ops must be configured at program startup"
                    raise ConfigError(f"--distribute multiworker: {exc}; the strategy must be made before "
                                      "TensorFlow runs anything in this process") from None
                except (tf.errors.OpError, ValueError) as exc:  # such as a port in use: no gRPC server
                    me = cluster()
                    raise ConfigError(f"--distribute multiworker: worker {me.index} cannot start at "
                                      f"{me.members[me.index]} ({_first_line(exc)}); is the port in use?") from None

            with _interruptible():
                import_tensorflow(setup=make)
    return _STRATEGIES[mode]


def replicas(mode: str | None) -> int:
    """How many replicas share each batch under ``mode``'s strategy (1 without one)."""
    made = strategy(mode)
    return int(made.num_replicas_in_sync) if made is not None else 1


def scope(mode: str | None):
    """``strategy.scope()`` of the mode's strategy, or a context that does nothing."""
    made = strategy(mode)
    return made.scope() if made is not None else nullcontext()


def model_scope(model):
    """The scope of the strategy ``model`` was made under (nothing without one).

    An optimizer made or built outside it, as for adaptation or at ``--unfreeze-after``,
    would not be the strategy's, and training would stop on the mix.
    """
    made = getattr(model, "_distribute_strategy", None)
    return made.scope() if made is not None else nullcontext()


def synchronize_batchnorm(model) -> None:
    """Under a strategy, batch normalisation takes its batch statistics over the global batch.

    Each replica would otherwise normalise its share of the batch by that share's own
    statistics, unlike single-device training, and keep its own moving averages: the
    replicas' copies would drift apart (and a replica given no rows of a last, small
    batch would average NaN). Keras' ``synchronized`` option sums the statistics over
    every replica; without a strategy nothing changes.
    """
    if getattr(model, "_distribute_strategy", None) is None:
        return
    import keras

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def multiworker(model) -> bool:
    """Whether ``model`` was made under the multi-worker strategy."""
    made = _STRATEGIES.get("multiworker")
    return made is not None and getattr(model, "distribute_strategy", None) is made


def fit(model, data, *, epochs: int, initial_epoch: int = 0, callbacks: Sequence = ()) -> None:
    """Train ``model`` on ``data.dataset`` (a :class:`~serzoo.training.batches.FoldData`) for the given epochs.

    ``Model.fit`` does it without a strategy; under one, serzoo's own loop (see the module's text).

    Raises:
        Exception: what stopped the batch generator (a sampler's or augmenter's error) rather
            than tf.data's report of the shortened epoch.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
            if getattr(model, "_distribute_strategy", None) is not None:
                with _lost_workers() if multiworker(model) else nullcontext():
                    _fit_distributed(model, data.dataset, epochs, initial_epoch, list(callbacks))
            else:
                model.fit(data.dataset, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
                          callbacks=list(callbacks))
    except Exception:
        data.raise_failure()
        raise


@contextmanager
def _lost_workers():
    """A worker that stopped (killed, crashed, unreachable) ends the others with one line, not a traceback.

    TensorFlow notices the silence within seconds and aborts the collective operations.
    """
    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as exc:
        raise TrainingError(f"a worker stopped or became unreachable ({_first_line(exc)}); what the chief "
                            "saved is kept: once every worker can run, start them again (with --resume RUN_DIR "
                            "if the run had started)") from None


def _fit_distributed(model, dataset, epochs: int, initial_epoch: int, callbacks: list) -> None:
    """``Model.fit`` for a model made under a strategy: the same steps, callbacks and logs."""
    import keras

    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    made = model.distribute_strategy
    with made.scope():
        _build_for_training(model, dataset.element_spec)
    options = tf.data.Options()
    # each worker runs the same generator and keeps its share of every global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = made.experimental_distribute_dataset(dataset.with_options(options))

    tracker = next(m for m in model.metrics if m.name == "loss")  # Keras' running mean of the loss

    def replica_step(batch):
        # Keras averages each replica's loss over its own rows and divides by the replicas: with an
        # uneven split (a last, smaller batch) rows would weigh 1/(R n_r) instead of 1/N. Scaling the
        # sample weights by R n_r / N makes every row weigh as on one device.
        x, y, w = batch
        context = tf.distribute.get_replica_context()
        rows = tf.cast(tf.shape(x)[0], tf.float32)
        factor = rows * context.num_replicas_in_sync / context.all_reduce("SUM", rows)
        before = tf.identity(tracker.total)
        model.train_step((x, y, tf.nest.map_structure(lambda v: v * factor, w)))
        # what the step added to the running loss, with this replica's rows weighed as on one device
        return (tracker.total - before) / factor, rows

    @tf.function
    def step(batch):
        added, rows = made.run(replica_step, args=(batch,))
        return made.reduce("SUM", added, axis=None), made.reduce("SUM", rows, axis=None)

    hooks = keras.callbacks.CallbackList(callbacks, add_history=True, model=model)
    model.stop_training = False
    logs: dict = {}
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        hooks.on_epoch_begin(epoch)
        loss_sum, rows_sum = 0.0, 0.0
        for i, batch in enumerate(batches):  # a new pass over the generator, drawn for this epoch
            hooks.on_train_batch_begin(i)
            added, rows = step(batch)
            loss_sum, rows_sum = loss_sum + added, rows_sum + rows
            hooks.on_train_batch_end(i, {})
        # metric variables sum over every replica of every worker when read here
        logs = {name: float(value) for name, value in model.get_metrics_result().items()}
        logs["loss"] = float(loss_sum / rows_sum)  # the mean over the epoch's rows, as on one device
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)


def _build_for_training(model, spec) -> None:
    """Make the optimizer's and the loss trackers' variables in the strategy's scope, before any step.

    One loss computation on a batch of zeros builds the compiled losses (and their trackers);
    the metrics are then reset, so nothing of it counts.
    """
    import keras

    def zeros(s):
        return keras.ops.zeros((1, *s.shape[1:]), dtype=s.dtype.name)

    x, y, w = (keras.tree.map_structure(zeros, part) for part in spec)
    model.compute_loss(x, y, model(x, training=False), w)
    if not model.optimizer.built:  # a resumed model's optimizer holds its loaded state
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def predict_batch(model, x):
    """The model's outputs for one batch of rows; under a strategy, without splitting it over workers.

    ``predict_on_batch`` would give every replica the whole batch; under ``mirrored``
    ``Model.predict`` splits it over the local devices, and under ``multiworker`` every
    worker computes the batch itself (its variables are local copies), which needs no
    communication and so leaves the workers free to evaluate in their own time.
    """
    made = getattr(model, "_distribute_strategy", None)
    if made is None:
        return model.predict_on_batch(x)
    if multiworker(model):
        if model not in _PREDICTORS:  # a traced call: eager calls run op by op
            from serzoo.core.tf import import_tensorflow

            _PREDICTORS[model] = import_tensorflow().function(lambda rows: model(rows, training=False),
                                                             reduce_retracing=True)
        return {name: np.asarray(value) for name, value in _PREDICTORS[model](x).items()}
    return model.predict(x, batch_size=len(x), verbose=0)


def agree(what: dict[str, int | str], where: str, explain: dict[str, str] | None = None) -> None:
    """Check that every worker of a multi-worker run is at the same place (a no-op otherwise).

    ``what`` maps names to values (strings count by their hash); every worker calls this at
    the same point with its own values. The first call also waits for every worker.

    Args:
        explain: what to say, instead of listing the values, when that name differs.

    Raises:
        TrainingError: the workers disagree (they read different run directories, or were
            started with different options), in every worker.
    """
    if "multiworker" not in _STRATEGIES:
        return
    names = list(what)
    everyone = _gather([_number(what[name]) for name in names], np.int64)
    differ = [name for j, name in enumerate(names) if len(set(everyone[:, j].tolist())) > 1]
    for name in differ:
        if explain and name in explain:
            raise TrainingError(f"{where}: {explain[name]}")
    if differ:
        rows = "; ".join(f"worker {i}: " + ", ".join(f"{n} {v}" for n, v in zip(names, row) if n in differ)
                         for i, row in enumerate(everyone.tolist()))
        raise TrainingError(f"{where}: the workers disagree on {', '.join(differ)} ({rows}); start every worker "
                            "with the same command, and keep the run directory where every worker reads it "
                            "(one machine, or a shared filesystem)")


def chief_scores(validate):
    """``validate`` whose score every worker takes from the chief (unchanged without multiworker).

    Each worker scores the validation rows itself; the checkpoint's decisions (improved,
    early stop) must still be the same everywhere, or one worker would leave the epoch
    loop while another waits for it. Floating-point results can differ in the last bits
    between machines, so the chief's score decides for all.
    """
    if validate is None or "multiworker" not in _STRATEGIES:
        return validate

    def shared(model):
        score, report = validate(model)
        chief = cluster().chief
        everyone = _gather([1.0 if chief else 0.0, score if chief else 0.0], np.float64)
        return float(everyone[everyone[:, 0] == 1.0][0, 1]), report

    return shared


def _gather(values: list, dtype) -> np.ndarray:
    """Every worker's ``values``, one row per worker in worker order (collective: all workers call it)."""
    from serzoo.core.tf import import_tensorflow

    tf = import_tensorflow()
    made = _STRATEGIES["multiworker"]
    mine = np.array([values], dtype=dtype)
    with _lost_workers(), _interruptible():  # the first call waits for every worker to start
        rows = made.gather(made.run(lambda: tf.constant(mine)), axis=0).numpy()
    per_worker = len(rows) // len(cluster().members)  # one row per replica: a worker's devices repeat its values
    return rows[::max(per_worker, 1)]


def _first_line(exc: BaseException) -> str:
    """An error's first line without TensorFlow's ``{{function_node ...}}`` prefix."""
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(exc)).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@contextmanager
def _interruptible():
    """Ctrl-C ends the process even while TensorFlow waits in native code for the other workers.

    Python's own handler would only run once the wait returned, which it may never do.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _number(value) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return int.from_bytes(hashlib.sha256(str(value).encode()).digest()[:7], "big")


@contextmanager
def worker_folder(run_dir: Path, copy: bool) -> Iterator[Path]:
    """The folder this process writes the run into: ``run_dir`` on the chief (and without multiworker).

    Any other worker trains in step with the chief but writes into a private temporary
    folder, removed at the end; with ``copy`` (a resumed run) it starts as a copy of
    ``run_dir``, so that the worker resumes where the chief does. The chief changes
    nothing in ``run_dir`` before every worker has made its copy (:func:`agree` waits for
    all of them), and only ends an epoch together with the others.
    """
    if "multiworker" not in _STRATEGIES or cluster().chief:
        yield Path(run_dir)
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"serzoo-worker{cluster().index}-"))
    try:
        target = scratch / "run"
        if copy:
            try:
                shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns(
                    ".lock", ".serzoo-tmp-*", "plots", "tensorboard", "report*"))
            except (OSError, shutil.Error) as exc:
                raise OutputError(f"worker {cluster().index}: cannot copy {run_dir} to {scratch} to resume "
                                  f"({reason(exc) if isinstance(exc, OSError) else exc}); free space there or "
                                  "point TMPDIR elsewhere") from None
        yield target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
