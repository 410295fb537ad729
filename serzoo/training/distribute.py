"""Data-parallel training of one model with tf.distribute (``--distribute mirrored``).

``mirrored`` replicates the model on every local device (GPUs, or logical CPU
devices) with ``MirroredStrategy``. The model is built and compiled inside
``strategy.scope()`` and Keras splits every batch across the replicas:
``--batch-size`` is the global batch (each of N replicas computes the gradient
of batch/N rows and the gradients are summed), so the same batch size gives
the same updates as single-device training, up to floating-point summation
order. Checkpoints and ``--resume`` work as without a strategy.

``multiworker`` (``MultiWorkerMirroredStrategy`` over processes with
``TF_CONFIG``) is refused: Keras 3's ``Model.fit`` fails on its distributed
batches (keras-team/keras#20585, TensorFlow 2.16 and later), so it would need a
training loop of its own.
"""

from __future__ import annotations

from contextlib import nullcontext

from serzoo.core.errors import ConfigError

_STRATEGIES: dict[str, object] = {}


def strategy(mode: str | None):
    """The process's strategy for ``mode``, made once; None without one.

    Raises:
        ConfigError: ``multiworker`` (not supported by Keras 3's fit) or an unknown mode.
    """
    if mode is None:
        return None
    if mode == "multiworker":
        raise ConfigError("--distribute multiworker: Keras 3's fit does not run under MultiWorkerMirroredStrategy "
                          "(keras-team/keras#20585); use --distribute mirrored on one machine, or spread folds "
                          "over machines instead")
    if mode != "mirrored":
        raise ConfigError(f"--distribute {mode!r}: choose mirrored")
    if mode not in _STRATEGIES:
        from serzoo.core.tf import import_tensorflow

        _STRATEGIES[mode] = import_tensorflow().distribute.MirroredStrategy()
    return _STRATEGIES[mode]


def scope(mode: str | None):
    """``strategy.scope()`` of the mode's strategy, or a context that does nothing."""
    made = strategy(mode)
    return made.scope() if made is not None else nullcontext()
