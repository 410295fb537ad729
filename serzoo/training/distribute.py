"""Data-parallel training of one model with tf.distribute (``--distribute mirrored|multiworker``).

``mirrored`` replicates the model on every local device (GPUs, or logical CPU
devices) with ``MirroredStrategy``; ``multiworker`` spreads it over processes,
possibly on several machines, with ``MultiWorkerMirroredStrategy``, each
process started with the same command and its own ``TF_CONFIG``. The model is
built and compiled inside ``strategy.scope()`` and Keras splits every batch
across the replicas: ``--batch-size`` is the global batch (each of N replicas
computes the gradient of batch/N rows, and the gradients are summed), so the
same batch size gives the same updates as single-device training, up to
floating-point summation order.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext

from serzoo.core.errors import ConfigError

_STRATEGIES: dict[str, object] = {}


def strategy(mode: str | None):
    """The process's strategy for ``mode`` (made once: TensorFlow allows one collective setup per process).

    Args:
        mode: None (no strategy), ``mirrored`` or ``multiworker``.

    Raises:
        ConfigError: an unknown mode, or ``multiworker`` without a usable ``TF_CONFIG``.
    """
    if mode is None:
        return None
    if mode not in _STRATEGIES:
        _STRATEGIES[mode] = _make(mode)
    return _STRATEGIES[mode]


def _make(mode: str):
    if mode == "multiworker":
        cluster = worker_info()
        # collectives must be set up before TensorFlow runs its first operation
        import tensorflow as tf

        made = tf.distribute.MultiWorkerMirroredStrategy()
        if made.num_replicas_in_sync < cluster["workers"]:
            raise ConfigError(f"--distribute multiworker: only {made.num_replicas_in_sync} of "
                              f"{cluster['workers']} workers in TF_CONFIG joined")
        return made
    if mode == "mirrored":
        from serzoo.core.tf import import_tensorflow

        return import_tensorflow().distribute.MirroredStrategy()
    raise ConfigError(f"--distribute {mode!r}: choose mirrored or multiworker")


def worker_info() -> dict:
    """``{"workers": N, "index": i, "chief": bool}`` from ``TF_CONFIG``.

    Raises:
        ConfigError: ``TF_CONFIG`` is missing or is not a cluster with this worker in it.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("--distribute multiworker needs TF_CONFIG, such as "
                          '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                          '"index": 0}}, set in every worker\'s environment')
    try:
        config = json.loads(raw)
        workers = list(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"TF_CONFIG is not a cluster description with a task ({exc})") from None
    if task.get("type") != "worker" or not 0 <= index < len(workers):
        raise ConfigError(f"TF_CONFIG task {task} is not one of the {len(workers)} workers of its cluster")
    return {"workers": len(workers), "index": index, "chief": index == 0}


def is_chief(mode: str | None) -> bool:
    """Whether this process writes the run's results (always, unless it is a non-chief multiworker worker)."""
    return mode != "multiworker" or worker_info()["chief"]


def scope(mode: str | None):
    """``strategy.scope()`` of the mode's strategy, or a context that does nothing."""
    made = strategy(mode)
    return made.scope() if made is not None else nullcontext()
