"""The ``serzoo`` command line: a thin Click layer over the core."""

from __future__ import annotations

import os
import sys
import warnings

import click

from serzoo import __version__
from serzoo.core.errors import SerzooError


class UserError(click.ClickException):
    """A :class:`SerzooError` shown as one line with exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


class SerzooGroup(click.Group):
    """A group that adds plugin commands on first use and turns SerzooError into exit status 2."""

    _plugins_seen = None

    def _load_plugin_commands(self) -> None:
        from serzoo.core.plugin_manager import call_each, get_plugin_manager

        pm = get_plugin_manager()
        if self._plugins_seen is not pm:  # a new plugin manager after plugin_manager.reset()
            self._plugins_seen = pm
            call_each("serzoo_register_commands", lambda _name: {"cli": self})

    def list_commands(self, ctx):
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SerzooError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            raise UserError(str(exc)) from exc


@click.group(cls=SerzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="serzoo")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train speech emotion recognition models from a zoo of pluggable blocks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _format_warning(message, category, filename, lineno, line=None):
    return f"Warning: {message}\n"


def main() -> None:
    """Entry point of the ``serzoo`` script."""
    # TensorFlow's C++ start-up chatter drowns serzoo's own progress lines; TF reads this at import
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.formatwarning = _format_warning
    # standalone_mode=False: click would turn Ctrl-C into "Aborted!" and exit status 1
    try:
        result = cli.main(prog_name="serzoo", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


from serzoo.cli import build, data, listing, train  # noqa: E402  (the commands attach themselves to cli)

for _module in (listing, data, train, build):
    _module.register(cli)
