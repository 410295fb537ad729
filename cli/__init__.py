"""The ``serzoo`` command line: a thin Click layer over the core."""

from __future__ import annotations

import os
import sys
import warnings

import click

from serzoo import __version__
from serzoo.core.errors import OutputError, SerzooError


class UserError(click.ClickException):
    """A :class:`SerzooError` shown as one line with exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


class SerzooGroup(click.Group):
    """A group that adds plugin commands on first use and turns SerzooError into exit status 2.

    Plugin commands are rebuilt from the built-in ones whenever the set of
    plugins changes, so a removed plugin's command goes with it. A plugin may
    add new command names only: replacing a built-in command, or another
    plugin's, is undone with a warning naming the plugin and its distribution.
    """

    _plugins_seen = None
    _builtin_commands: dict | None = None

    def _load_plugin_commands(self) -> None:
        from serzoo.core import plugin_manager

        generation = plugin_manager.generation()
        if self._plugins_seen is generation:
            return
        self._plugins_seen = generation
        if self._builtin_commands is None:  # the first load: everything attached so far is built in
            self._builtin_commands = dict(self.commands)
        self.commands = dict(self._builtin_commands)
        before: dict = {}

        def kwargs_for(_name: str) -> dict:
            before.clear()
            before.update(self.commands)
            return {"cli": self}

        def undo(_name: str) -> None:  # the plugin raised: drop whatever it added half-way
            self.commands = dict(before)

        def keep_existing(name: str) -> None:
            for cmd_name, command in before.items():
                if self.commands.get(cmd_name) is not command:
                    owner = "serzoo's built-in" if cmd_name in self._builtin_commands else "another plugin's"
                    warnings.warn(f"{plugin_manager.describe_plugin(name)} tried to replace {owner} command "
                                  f"{cmd_name!r}; the command was kept and the plugin's ignored",
                                  plugin_manager.PluginWarning, stacklevel=2)
                    self.commands[cmd_name] = command

        plugin_manager.call_each("serzoo_register_commands", kwargs_for, on_error=undo, after=keep_existing)

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
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors, and TensorFlow's own start-up lines.")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's own start-up lines (hidden by default).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Train speech emotion recognition models from a zoo of pluggable blocks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug or verbose:
        from serzoo.core.tf import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"


def _format_warning(message, category, filename, lineno, line=None):
    return f"Warning: {message}\n"


def _exit_now(code: int) -> None:
    """Exit without the interpreter's shutdown, after a failed write.

    A library whose write failed (h5py on a full disk) can leave a file half
    closed; closing it again during shutdown, after HDF5 is unloaded, crashes
    the process (exit 139). Every serzoo file is published atomically, so there
    is nothing left to flush but the standard streams.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Entry point of the ``serzoo`` script."""
    warnings.formatwarning = _format_warning
    # standalone_mode=False: click would turn Ctrl-C into "Aborted!" and exit status 1
    try:
        result = cli.main(prog_name="serzoo", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        if isinstance(exc.__cause__, OutputError):
            _exit_now(exc.exit_code)
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


from serzoo.cli import (build, data, export, listing, predict, report, sweep, train,  # noqa: E402
                        translate)  # (the commands attach themselves)

for _module in (listing, data, train, build, predict, export, translate, sweep, report):
    _module.register(cli)
