"""Mixed precision: the Keras dtype policy a model is built under (``--precision``).

Under ``bf16`` or ``fp16`` the blocks compute in half precision while their
variables stay float32; the input standardisation and the task heads are
built with ``dtype="float32"`` (see :func:`serzoo.model.assemble.build_model`),
so losses, metrics and saved predictions stay float32. With ``fp16`` Keras
wraps the optimizer in a ``LossScaleOptimizer`` at compile time (dynamic loss
scaling); bfloat16 has float32's exponent range and needs none.
"""

from __future__ import annotations

from contextlib import contextmanager

from serzoo.core.errors import ConfigError
from serzoo.training.config import PRECISIONS

#: ``--precision`` value -> Keras dtype policy
POLICIES = dict(zip(PRECISIONS, ("float32", "mixed_bfloat16", "mixed_float16")))


def policy_name(precision: str) -> str:
    """The Keras dtype policy of a ``--precision`` value.

    Raises:
        ConfigError: an unknown value.
    """
    if precision not in POLICIES:
        raise ConfigError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return POLICIES[precision]


@contextmanager
def precision_scope(precision: str):
    """Build (and compile) models under the policy of ``precision``; the global policy is restored after.

    Keras reads the global policy when a layer is created, so a model built in
    this scope keeps its policy after the scope ends, and other models built
    later in the process (other folds, other runs) are not affected.
    """
    import keras

    name = policy_name(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
