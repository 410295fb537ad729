"""``serzoo translate``: an original SER_KERAS_TF_TRAINER command line as a ``serzoo train`` command."""

from __future__ import annotations

import click


@click.command("translate", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command_line", nargs=-1, required=True)
@click.option("--data-layout", type=click.Choice(["1d", "2d", "3d"]), default=None,
              help="Layout of the database the command names, when that file is not here to read "
                   "(default: read it, else 2d as SER_FEAT_EXT's --two_d).")
def translate(command_line, data_layout) -> None:
    """Print the serzoo command equivalent to an original trainer command line.

    The command goes to stdout; flags serzoo cannot honour, and approximations,
    are named on stderr. Unknown flags are an error (exit 2). The mapping of
    every flag is in docs/original_flags.md.

    \b
    Example:
      serzoo translate 'python ./src/trainer.py -dnn_depth 2 --conv --u_lstm -cs 64 -n_filter 2,4 \\
          -dt db.h5 -mt arousal:3:4::,valence:3:5:: -test_idx 0:9 -valid_idx 10:19'
    """
    from serzoo.compat.original import translate as run_translation

    result = run_translation(" ".join(command_line), data_kind=data_layout)
    click.echo(result.command())
    for flag, reason in result.unmapped:
        click.echo(f"not translated: {flag}: {reason}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(translate)
