"""``serzoo runs``, ``serzoo compare`` and ``serzoo report``: finished runs read back, without TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("runs")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
def runs(folder) -> None:
    """List runs: date, data, chain, protocol, mean ± std and pooled UAR, status.

    \b
    FOLDER defaults to $SERZOO_RUNS or runs/. Status: finished (results.json written), running
    (a process holds it), interrupted (some folds finished; continue with `serzoo train --resume
    RUN`) or empty.
    Example:
      serzoo runs runs/
    """
    from serzoo.report.rundata import list_runs, runs_table

    rows = list_runs(folder or os.environ.get("SERZOO_RUNS", "runs"))
    click.echo(runs_table(rows) if rows else "no runs")


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True, help="Output format (json, csv and markdown for papers).")
def compare(run_dirs, fmt) -> None:
    """Compare finished runs on the same data and folds: differences, bootstrap CI and a paired test.

    \b
    Every run is compared with the first (B - A): per fold, then the mean over groups
    (speakers) with a 95% percentile-bootstrap CI and the Wilcoxon signed-rank test
    (SciPy: pip install 'serzoo[stats]'). Runs on other data or folds are refused.
    Example:
      serzoo compare runs/emodb-mlp runs/emodb-cnn --format markdown
    """
    from serzoo.report.compare import compare_runs, format_comparison

    click.echo(format_comparison(compare_runs(list(run_dirs)), fmt), nl=False)


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The HTML page; default: RUN_DIR/report.html.")
@click.option("--plots-dir", type=click.Path(file_okay=False), default=None,
              help="Where the PNG pictures go; default: RUN_DIR/plots.")
def report(run_dir, output, plots_dir) -> None:
    """Write one self-contained HTML page (tables and pictures) and the PNG pictures of a finished run.

    \b
    Pictures need matplotlib (pip install 'serzoo[plots]'); without it the page has the tables only.
    Example:
      serzoo report runs/emodb-cnn -o emodb-cnn.html
    """
    from serzoo.core.errors import ConfigError
    from serzoo.core.files import write_text
    from serzoo.report import plots
    from serzoo.report.html import report_html
    from serzoo.report.rundata import load_run

    run = load_run(run_dir)
    if run.results is None:
        raise ConfigError(f"{run_dir}: the run has not finished (no results.json); report finished runs")
    pictures = None
    if plots.available():
        pictures = plots.run_pictures(run)
        folder = Path(plots_dir) if plots_dir else Path(run_dir) / "plots"
        for name, data in pictures.items():
            plots.write_png(folder / name, data)
        click.echo(f"pictures: {folder} ({len(pictures)})", err=True)
    else:
        click.echo(f"note: {plots.INSTALL_HINT}; the page has the tables only", err=True)
    out = Path(output) if output else Path(run_dir) / "report.html"
    write_text(out, report_html(run, pictures))
    click.echo(f"report: {out}")


def register(cli: click.Group) -> None:
    cli.add_command(runs)
    cli.add_command(compare)
    cli.add_command(report)
