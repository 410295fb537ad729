"""``serzoo show model MODEL.keras``: what a saved model is, from its archive alone (no TensorFlow)."""

from __future__ import annotations

import json

import click


def show_model(path: str, fmt: str) -> None:
    """Print a saved model's chain, input, tasks and classes, features, training data, plugins and scores."""
    from serzoo.model.info import describe_model

    info = describe_model(path)
    if fmt == "json":
        click.echo(json.dumps(info, indent=2, default=str))
        return
    shape = "x".join(map(str, info["input"]["shape"] or [])) or "?"
    click.echo(f"model {info['path']}  ({info['parameters'] or '?'} weights)")
    click.echo(f"  input: {info['input']['layout']} ({info['input']['file_layout']} database), {shape} per utterance")
    click.echo("  chain:")
    for i, step in enumerate(info["chain"], 1):
        options = " ".join(f"{k}={_short(v)}" for k, v in step.get("options", {}).items())
        layouts = f"{step['layout_in']} -> {step['layout_out']}  " if "layout_in" in step else ""
        click.echo(f"    {i:>2} {step['block']:<10} {layouts}{options}".rstrip())
    click.echo("  tasks:")
    for task in info["tasks"]:
        kind = "regression" if task["num_classes"] == 1 else f"{task['num_classes']} classes"
        classes = f": {', '.join(task['classes'])}" if task.get("classes") else ""
        click.echo(f"    {task['name']} (label column {task['column']}, {kind}, loss {task['loss'] or 'default'}){classes}")
    settings = info["features"].get("features", info["features"])  # a database's attrs hold the extractor settings
    click.echo(f"  features: {_short(settings) if settings else 'none recorded'}")
    data = info["data"]
    if data:
        click.echo(f"  trained on: {data['path']} ({data['rows']} rows, shape {data['file_shape']}, "
                   f"labels {data['labels']}, groups {data['groups']})")
    for origin in info["plugins"]:
        if not origin["installed"]:
            click.echo(f"  needs: {origin['kind']} {origin['name']} from {origin['distribution']} "
                       f"{origin['version']} (NOT INSTALLED)")
    scores = info["scores"]
    if scores:
        for split in ("val", "test"):
            for task, values in (scores.get(split) or {}).items():
                text = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if isinstance(v, (int, float)))
                click.echo(f"  {split} {task} ({scores['fold']}, epoch {scores['best_epoch']}): {text}")


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)
