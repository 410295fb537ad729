"""``serzoo export``: a trained model as a SavedModel, TFLite or ONNX file, checked against the Keras model."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", required=True, metavar="NAME",
              help="Export format: savedmodel, tflite, onnx, or a plugin's (`serzoo list exporters`).")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Where to write the export (default: next to the model, model.onnx / model_savedmodel).")
@click.option("--opt", "opts", multiple=True, metavar="OPTION=VALUE",
              help="An option of the format (`serzoo show exporter tflite`), such as batch=4; repeatable.")
@click.option("--force", is_flag=True, help="Replace an existing export.")
def export_command(model: str, fmt: str, output: str | None, opts: tuple[str, ...], force: bool) -> None:
    """Export MODEL for another runtime, checked against the Keras model (largest difference < 1e-4).

    Writes the export and a sidecar OUT.json (label map, tasks, feature settings, input
    shape and layout, output names), so it runs with no serzoo installed. ONNX needs
    `pip install 'serzoo[onnx]'`.

    \b
    Examples:
      serzoo export runs/emodb-cnn/fold00/model.keras --format onnx -o emodb.onnx
      serzoo export model.keras --format tflite --opt batch=1 -o model.tflite
      serzoo export model.keras --format savedmodel -o model_savedmodel
    """
    from serzoo.model.export import export, sidecar_path

    options = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected OPTION=VALUE, such as batch=4", param_hint="--opt")
        options[key.strip()] = value.strip()
    report = export(model, fmt, output, options, force=force, echo=lambda m: click.echo(m, err=True))
    parity = report["parity"]
    per_output = ", ".join(f"{k} {v:.2g}" for k, v in parity["per_output"].items())
    click.echo(f"{fmt}: largest absolute difference to the Keras model {parity['max_abs_diff']:.2g} "
               f"({per_output}; tolerance {parity['tolerance']:g}, {parity['inputs']})")
    click.echo(f"wrote {report['path']} and {sidecar_path(report['path'])}")


def register(cli: click.Group) -> None:
    cli.add_command(export_command)
