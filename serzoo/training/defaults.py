"""The components a default run needs: the no-op sampler and the default loss of each task type.

The core itself names these components: ``--sampler none`` is the default, a
task given no loss trains with ``cce`` (classification) or ``mse``
(regression), and a synthetic sampler hands its rows to the no-op sampler for
the epochs. So they belong to the core, not to a built-in plugin that
``SERZOO_DISABLE_PLUGINS`` may turn off: this module is a core plugin
(:data:`serzoo.core.plugin_manager.CORE_PLUGINS`), registered before every entry
point and never disabled, and its names are built-ins that no third-party
plugin can take over.

Keeping the names here, next to the components, is the one source of truth
that configurations (``config.json`` records ``"sampler": "none"``) and the
trainer share. Keras is imported inside the loss factories only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serzoo import hookimpl
from serzoo.core.registry import Loss, Sampler

if TYPE_CHECKING:
    import numpy as np

#: The sampler that leaves the training rows as they are (shuffled every epoch).
NO_SAMPLER = "none"

#: The loss of a task that names none, by task type.
DEFAULT_LOSSES = {"classification": "cce", "regression": "mse"}


def sample_none(y, x, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """Every training row once, in a new random order."""
    return rng.permutation(len(y))


def _cce(num_classes, class_priors=None):
    import keras

    return keras.losses.CategoricalCrossentropy(from_logits=False)  # on probabilities; Keras clips them


def _mse(num_classes=1, class_priors=None):
    import keras

    return keras.losses.MeanSquaredError()


@hookimpl
def serzoo_register_samplers(register):
    register(Sampler(
        name=NO_SAMPLER,
        description="every training row once per epoch, shuffled",
        factory=sample_none,
    ))


@hookimpl
def serzoo_register_losses(register):
    register(Loss(
        name=DEFAULT_LOSSES["classification"],
        description="categorical cross-entropy",
        factory=_cce,
        aliases=("categorical_crossentropy",),  # the original trainer's (Keras') name
        task_types=("classification",),
    ))
    register(Loss(
        name=DEFAULT_LOSSES["regression"],
        description="mean squared error",
        factory=_mse,
        aliases=("mean_squared_error",),  # the original trainer's (Keras') name
        task_types=("regression",),
    ))
