"""Options of ``serzoo train`` for pretrained models, adaptation and the final model (kept apart from train.py)."""

from __future__ import annotations

import click

from serzoo.core.errors import ConfigError
from serzoo.training.config import TrainConfig


def stage_options(f):
    """Add ``--init-from``, ``--freeze``, ``--unfreeze-after``, ``--adapt-*``, ``--final`` and ``--epochs-from``."""
    options = [
        click.option("--init-from", default=None, metavar="MODEL.keras|RUN_DIR",
                     help="Start from a trained model's weights, matched by layer name (a report says what was "
                          "loaded, new or did not fit; input standardisation comes from this run's data). A "
                          "RUN_DIR gives its final model (train --final) or its only fold model."),
        click.option("--freeze", default=None, metavar="0:7|LAYER|BLOCK,...",
                     help="Layers that do not train: indices into the model's layer list with inclusive ranges "
                          "(the original's -frozen 0:7; index 0 is the input; `--dry-run` lists them), layer "
                          "names, or block names (cnn1d freezes every layer of every cnn1d block)."),
        click.option("--unfreeze-after", type=int, default=None, metavar="N",
                     help="Unfreeze the --freeze layers after N epochs (the optimizer keeps the moments of the "
                          "layers that trained; resumable)."),
        click.option("--adapt-epochs", type=int, default=TrainConfig.adapt_epochs, show_default=True,
                     help="Epochs of the adaptation stage (with --adapt-groups)."),
        click.option("--adapt-lr", type=float, default=None, help="Learning rate of the adaptation stage (default: --lr)."),
        click.option("--adapt-freeze", default=None, metavar="SPEC|none",
                     help="Layers frozen while adapting, as --freeze (default: as training left them; none: all train)."),
        click.option("--final", is_flag=True,
                     help="Train one model on all (selected) groups with no validation or test; it goes to "
                          "RUN/final/model.keras and has no test score. Give --epochs-from or --epochs."),
        click.option("--epochs-from", default=None, metavar="RUN_DIR",
                     help="With --final: the median of this cross-validation run's per-fold best epochs."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def check_final_epochs(ctx: click.Context, options: dict) -> None:
    """``--final`` needs its epochs said: ``--epochs-from RUN_DIR`` or an explicit ``--epochs``, not both."""
    if not options.get("final"):
        return
    explicit = ctx.get_parameter_source("epochs") not in (click.core.ParameterSource.DEFAULT, None)
    if options.get("epochs_from") and explicit:
        raise ConfigError("--final: give --epochs-from RUN_DIR or --epochs N, not both")
    if not options.get("epochs_from") and not explicit:
        raise ConfigError("--final: say how long to train: --epochs-from RUN_DIR (the cross-validation run's median "
                          "best epoch) or --epochs N")
