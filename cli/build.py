"""``serzoo build``: assemble a model from blocks and print its summary, without training.

:func:`model_options` is the set of model options ``serzoo train`` shares.
"""

from __future__ import annotations

import click

from serzoo.core import layouts
from serzoo.core.errors import ConfigError
from serzoo.model.assemble import Head, Plan, parse_opts, plan_chain


def model_options(blocks_default: str | None = None):
    """Add ``--blocks``, ``--opt``, ``--dropout`` and ``--l2`` to a command (``serzoo build`` and ``serzoo train``).

    The command receives ``blocks`` (str), ``opts`` (tuple of str), ``dropout`` and
    ``l2`` (float or None) and ``frame_heads`` (bool); :func:`plan_from_options` turns them into a plan.

    Args:
        blocks_default: the chain used when ``--blocks`` is not given; None makes it required.
    """

    def decorate(f):
        # applied bottom-up, so --blocks comes first in --help
        f = click.option("--frame-heads", is_flag=True, default=False,
                         help="Heads classify every time step and average their posteriors per utterance "
                              "(the chain must keep time: end it with a convolution or lstm "
                              "return_sequences=true).")(f)
        f = click.option("--l2", type=float, default=None, metavar="WEIGHT",
                         help="L2 weight penalty for every block with an l2 option, and the heads.")(f)
        f = click.option("--dropout", type=float, default=None, metavar="RATE",
                         help="Dropout rate for every block with a dropout option.")(f)
        f = click.option("--opt", "opts", multiple=True, metavar="BLOCK.OPTION=VALUE",
                         help="Option of one block, such as cnn2d.filters=16,32; repeatable; "
                              "overrides --dropout/--l2 (see `serzoo show block NAME`).")(f)
        return click.option("--blocks", required=blocks_default is None, default=blocks_default,
                            show_default=blocks_default is not None, metavar="NAMES",
                            help="Comma-separated chain of blocks, such as cnn2d,lstm (see `serzoo list blocks`).")(f)

    return decorate


def plan_from_options(input_layout: str, blocks: str, opts, dropout: float | None, l2: float | None,
                      frame_heads: bool = False) -> Plan:
    """The plan for the values of :func:`model_options`.

    Raises:
        SerzooError: see :func:`serzoo.model.assemble.plan_chain`.
    """
    return plan_chain(blocks, input_layout, parse_opts(opts),
                      shared={"dropout": dropout, "l2": l2, "frame_heads": frame_heads or None})


def parse_heads(text: str) -> list[Head]:
    """Parse ``emotion:7,arousal:1`` into heads (1 class = regression).

    Raises:
        ConfigError: an item not of the form NAME:CLASSES.
    """
    heads = []
    for item in (part.strip() for part in text.split(",")):
        name, sep, classes = item.partition(":")
        if not item or not sep or not name.strip() or not classes.strip().isdigit() or int(classes) < 1:
            raise ConfigError(f"--heads {item!r}: expected NAME:CLASSES such as emotion:7 (1 class = regression)")
        heads.append(Head(name.strip(), int(classes)))
    return heads


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``20,5,40,1`` into a shape.

    Raises:
        ConfigError: not a list of positive integers.
    """
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise ConfigError(f"--input-shape {text!r}: expected positive sizes such as 20,5,40,1")
    return shape


def layout_choice() -> click.Choice:
    """``--layout`` takes either name of a layout: the model's (``frames``) or the database's (``2d``)."""
    return click.Choice([*layouts.names(), *(lay.file_layout for lay in layouts.LAYOUTS)])


def _from_data(path: str, heads: str | None):
    from serzoo.data.loading import open_database

    with open_database(path) as db:
        if heads:
            return db.input_layout, db.example_shape, parse_heads(heads)
        label = db.label_names[0]
        return db.input_layout, db.example_shape, [Head(label, db.num_classes(label))]


@click.command("build")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), metavar="DB",
              help="Feature database whose layout and example shape the model takes.")
@click.option("--layout", type=layout_choice(),
              help="Input layout, without --data (a database layout such as 2d, or a model layout such as frames).")
@click.option("--input-shape", metavar="SIZES", help="Shape of one example, without --data, such as 20,5,40,1.")
@click.option("--heads", metavar="NAME:CLASSES,...",
              help="Outputs, such as emotion:7,arousal:1 (1 class = regression); default: the database's first label.")
@model_options()
def build(data, layout, input_shape, heads, blocks, opts, dropout, l2, frame_heads):
    """Assemble a model and print its plan, summary and parameter count, without training.

    \b
    Examples:
      serzoo build --data emodb_2d.h5 --blocks cnn2d,lstm --opt cnn2d.filters=16,32
      serzoo build --layout 3d --input-shape 100,5,40,1 --heads emotion:7 --blocks cnn3d,lstm
    """
    if data and (layout or input_shape):
        raise ConfigError("give either --data or --layout with --input-shape, not both")
    if data:
        input_layout, shape, head_list = _from_data(data, heads)
    else:
        if not (layout and input_shape and heads):
            raise ConfigError("without --data, give --layout, --input-shape and --heads "
                              "(such as --layout 2d --input-shape 20,5,40,1 --heads emotion:7)")
        input_layout, shape, head_list = layouts.get(layout).name, parse_shape(input_shape), parse_heads(heads)
    plan = plan_from_options(input_layout, blocks, opts, dropout, l2, frame_heads)
    click.echo(plan.describe())  # the plan is checked before TensorFlow is imported

    from serzoo.model.assemble import build_model, summary_text

    model = build_model(plan, shape, head_list)
    click.echo(summary_text(model))


def register(cli: click.Group) -> None:
    cli.add_command(build)
