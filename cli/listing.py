"""``serzoo list``, ``serzoo show`` and ``serzoo plugins``: what is registered, without TensorFlow."""

from __future__ import annotations

import json

import click
from tabulate import tabulate

from serzoo.core import plugin_manager
from serzoo.core.plugin_manager import KINDS

KIND_CHOICE = click.Choice(sorted(KINDS))
FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="Output a table or machine-readable JSON.",
)

#: column headers per row field
HEADERS = {
    "name": "name", "plugin": "plugin", "description": "description", "layouts_in": "accepts",
    "layout_out": "produces", "task_types": "tasks", "kind": "kind", "files": "files", "better": "better",
    "grouping": "splits by", "level": "level", "runtime": "runs with",
}


#: `serzoo show block cnn2d` reads better than `serzoo show blocks cnn2d`; accept both
SINGULAR = {"block": "blocks", "loss": "losses", "sampler": "samplers", "loader": "loaders", "metric": "metrics",
            "augmenter": "augmenters", "splitter": "splitters", "feature": "features", "exporter": "exporters"}


@click.command("list")
@click.argument("kind", type=KIND_CHOICE)
@click.argument("pattern", default="*")
@FORMAT_OPTION
def list_components(kind: str, pattern: str, fmt: str) -> None:
    """List registered components of one KIND, optionally filtered by a shell-style PATTERN.

    \b
    Examples:
      serzoo list blocks
      serzoo list blocks 'cnn*'
      serzoo list losses --format json
      serzoo list metrics
    """
    items = plugin_manager.registry(kind).list(pattern)
    if fmt == "json":
        click.echo(json.dumps([c.to_dict() for c in items], indent=2, default=str))
        return
    if not items:
        click.echo(f"No {kind} match {pattern!r}.", err=True)
        return
    rows = [c.row() for c in items]
    click.echo(tabulate([list(r.values()) for r in rows], headers=[HEADERS.get(k, k) for k in rows[0]]))


@click.command("show")
@click.argument("kind", type=click.Choice(sorted(SINGULAR) + sorted(KINDS) + ["model"]))
@click.argument("name")
@FORMAT_OPTION
def show_component(kind: str, name: str, fmt: str) -> None:
    """Show one component (description, layouts, options with defaults), or a saved model.

    \b
    Examples:
      serzoo show block cnn2d
      serzoo show model runs/emodb-cnn/fold00/model.keras      # chain, tasks, classes, data, scores
    """
    if kind == "model":
        from serzoo.cli.model_info import show_model

        show_model(name, fmt)
        return
    kind = SINGULAR.get(kind, kind)
    component = plugin_manager.registry(kind).get(name)
    if fmt == "json":
        click.echo(json.dumps(component.to_dict(), indent=2, default=str))
        return
    row = component.row()
    click.echo(f"{component.name}  ({kind[:-1]} from plugin {component.plugin})")
    click.echo(f"  {component.description}")
    for key, value in row.items():
        if key not in ("name", "plugin", "description"):
            click.echo(f"  {HEADERS.get(key, key)}: {value}")
    if component.aliases:
        click.echo(f"  aliases: {', '.join(component.aliases)}")
    if not component.params:
        click.echo("  options: none")
        return
    click.echo("  options:")
    table = [[p.name, p.describe_type(), _fmt_default(p.default), p.help] for p in component.params]
    click.echo("    " + tabulate(table, headers=["option", "type", "default", "help"]).replace("\n", "\n    "))


def _fmt_default(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


@click.command("plugins")
@FORMAT_OPTION
def list_plugins(fmt: str) -> None:
    """List loaded plugins with their distribution, version and hooks."""
    infos = plugin_manager.plugin_infos()
    rows = [
        {"name": i.name, "distribution": i.distribution, "version": i.version,
         "hooks": plugin_manager.hooks_of(i)}
        for i in infos
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(tabulate([[r["name"], r["distribution"], r["version"], ", ".join(r["hooks"])] for r in rows],
                        headers=["plugin", "distribution", "version", "hooks"]))


def register(cli: click.Group) -> None:
    for command in (list_components, show_component, list_plugins):
        cli.add_command(command)
