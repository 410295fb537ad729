"""The optimizer and learning-rate schedule of a fold, from the run's configuration.

Schedules are Keras' own :class:`~keras.optimizers.schedules.CosineDecay`, which is
saved with the optimizer, so a resumed fold continues at exactly the same step.
"""

from __future__ import annotations

from serzoo.training.config import TrainConfig

#: one-cycle: the warm-up starts at this fraction of the peak rate and the decay ends at 1e-4 of it
ONECYCLE_START = 1 / 25
ONECYCLE_END = 1e-4
#: share of the steps spent warming up in one-cycle when --warmup is not given
ONECYCLE_WARMUP = 0.3


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """The peak learning rate as a constant or a cosine/one-cycle schedule over ``epochs`` epochs."""
    import keras

    lr = config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warm = int(round(config.warmup * steps_per_epoch))
    if config.schedule == "cosine":
        if not warm:
            return keras.optimizers.schedules.CosineDecay(lr, total)
        return keras.optimizers.schedules.CosineDecay(0.0, max(1, total - warm), warmup_target=lr, warmup_steps=warm)
    if config.schedule == "onecycle":
        warm = warm or int(round(ONECYCLE_WARMUP * total))
        return keras.optimizers.schedules.CosineDecay(lr * ONECYCLE_START, max(1, total - warm), alpha=ONECYCLE_END,
                                                      warmup_target=lr, warmup_steps=warm)
    if warm:
        # a constant rate after a linear warm-up: a cosine that never decays (alpha 1)
        return keras.optimizers.schedules.CosineDecay(0.0, max(1, total - warm), alpha=1.0, warmup_target=lr,
                                                      warmup_steps=warm)
    return lr


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """Adam, AdamW (decoupled weight decay) or SGD with Nesterov momentum, with the run's schedule and clipping."""
    import keras

    kwargs = {"learning_rate": learning_rate(config, steps_per_epoch), "clipnorm": config.clipnorm}
    decay = config.weight_decay or None
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=config.weight_decay, **kwargs)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=0.9, nesterov=True, weight_decay=decay, **kwargs)
    return keras.optimizers.Adam(weight_decay=decay, **kwargs)
