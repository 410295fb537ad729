"""Built-in losses: cost-weighted cross-entropy, focal and CCC.

Each factory is called as ``factory(num_classes, class_priors, **options)``
and returns a Keras loss. Classification losses expect one-hot targets and
softmax probabilities; regression losses expect ``(batch, 1)`` targets and
linear outputs. The Keras code lives in :mod:`serzoo.plugins.loss_functions`,
imported inside the factories so that listing stays free of TensorFlow.

The default losses ``cce`` and ``mse`` belong to the core
(:mod:`serzoo.training.defaults`): a task that names no loss needs them even
when this plugin is disabled.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.core.errors import ConfigError
from serzoo.core.registry import Loss, Param

#: Where the custom Keras losses live; serzoo imports it before loading a saved model.
_KERAS_MODULE = ("serzoo.plugins.loss_functions",)


def _weighted_cce(num_classes, class_priors=None, mode="true_class"):
    from serzoo.plugins import loss_functions

    if class_priors is None:
        raise ConfigError("loss weighted_cce needs the class priors of the training fold; none were given")
    if len(class_priors) != num_classes:
        raise ConfigError(
            f"loss weighted_cce: got {len(class_priors)} class priors for a task with {num_classes} classes"
        )
    return loss_functions.CostWeightedCrossentropy.from_priors(class_priors, mode=mode)


def _focal(num_classes, class_priors=None, gamma=2.0, alpha=(0.25,)):
    from serzoo.plugins import loss_functions

    values = tuple(alpha) if isinstance(alpha, (list, tuple)) else (alpha,)
    if len(values) == 1:
        alpha = float(values[0])
    elif len(values) == num_classes:
        alpha = [float(a) for a in values]
    else:
        raise ConfigError(
            f"loss focal: alpha has {len(values)} values; give one for all classes or one per class ({num_classes})"
        )
    return loss_functions.FocalCrossentropy(gamma=gamma, alpha=alpha)


def _ccc(num_classes=1, class_priors=None):
    from serzoo.plugins import loss_functions

    return loss_functions.ConcordanceLoss()


def _check_focal(options) -> None:
    if options["gamma"] < 0:
        raise ValueError(f"gamma={options['gamma']} must be 0 or more (0 gives cross-entropy)")
    alpha = options["alpha"] if isinstance(options["alpha"], (list, tuple)) else (options["alpha"],)
    if not alpha or min(alpha) < 0 or max(alpha) <= 0:
        raise ValueError(f"alpha={','.join(map(str, alpha))} must be class weights of 0 or more, not all 0")


@hookimpl
def serzoo_register_losses(register):
    register(Loss(
        name="weighted_cce",
        description="cross-entropy scaled by misclassification costs from the training fold's class priors",
        factory=_weighted_cce,
        params=(
            Param("mode", "choice", "true_class",
                  "true_class: errors on true class t cost K(1-p_t)/sum(1-p); "
                  "first_class: the original layout, only confusions with class 0 are weighted",
                  choices=("true_class", "first_class")),
        ),
        aliases=("cost_cce", "weighted_categorical_crossentropy"),  # the latter: the original trainer's name
        task_types=("classification",),
        layer_modules=_KERAS_MODULE,
    ))
    register(Loss(
        name="focal",
        description="categorical focal loss: down-weights examples already classified well",
        factory=_focal,
        params=(
            Param("gamma", "float", 2.0, "focusing parameter; 0 gives cross-entropy"),
            Param("alpha", "floats", (0.25,), "class weight: one value for all classes or one per class"),
        ),
        check=_check_focal,
        aliases=("categorical_focal_loss",),  # the original trainer's name
        task_types=("classification",),
        layer_modules=_KERAS_MODULE,
    ))
    register(Loss(
        name="ccc",
        description="1 - concordance correlation coefficient over the batch",
        factory=_ccc,
        task_types=("regression",),
        layer_modules=_KERAS_MODULE,
    ))
