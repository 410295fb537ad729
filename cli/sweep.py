"""``serzoo sweep``: a grid of training configurations, each a run directory, and a leaderboard chosen on validation."""

from __future__ import annotations

from pathlib import Path

import click

from serzoo.cli.workers import worker_options
from serzoo.core.errors import ConfigError, TrainingError

#: repeatable options that become axes of the grid: option name -> TrainConfig field
AXES = {"blocks": "blocks", "opt": "opts", "sampler": "sampler", "lr": "learning_rate", "dropout": "dropout",
        "optimizer": "optimizer", "batch_size": "batch_size", "augment": "augment"}
#: single options fixed for every trial
FIXED = {"data": "data", "tasks": "tasks", "epochs": "epochs", "seed": "seed", "protocol": "protocol",
         "val_share": "val_share", "max_folds": "max_folds"}


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _spec(file, sets, options):
    """The sweep from the file (if any), then the command line's fixed options and axes over it."""
    from serzoo.sweep.grid import SweepSpec, coerce, read_file

    spec = read_file(file) if file else SweepSpec()
    for item in sets:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected OPTION=VALUE, such as --set patience=5")
        spec.fixed[name.strip()] = coerce(name.strip(), value.strip(), "--set")
    for option, name in FIXED.items():
        if options[option] is not None:
            spec.fixed[name] = options[option]
    for option, name in AXES.items():
        if options[option]:
            spec.axes[name] = list(options[option])
    share = spec.fixed.get("val_share", 0.1)
    if not spec.fixed.get("val_groups") and share == 0:
        raise ConfigError("--val-share 0 leaves no validation split, and the sweep selects by validation score: "
                          "the selection cannot be honest; give --val-share > 0 (or val_groups)")
    return spec


@click.command("sweep")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Sweep folder: one run directory per trial, leaderboard.json and leaderboard.md.")
@click.option("--file", "file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A TOML sweep file with [fixed] options and a [grid] of lists; command-line options win.")
@click.option("--data", default=None, type=click.Path(dir_okay=False), help="Feature database; default: the demo corpus.")
@click.option("--blocks", multiple=True, help="A chain to try (repeatable: one axis).")
@click.option("--opt", multiple=True, metavar="BLOCK.OPTION=VALUE",
              help="A block option value to try; repeated with the same BLOCK.OPTION = alternatives on that axis.")
@click.option("--sampler", multiple=True, help="A sampler to try (repeatable).")
@click.option("--lr", type=float, multiple=True, help="A learning rate to try (repeatable).")
@click.option("--dropout", type=float, multiple=True, help="A dropout to try (repeatable).")
@click.option("--optimizer", multiple=True, help="An optimizer to try (repeatable).")
@click.option("--batch-size", type=int, multiple=True, help="A batch size to try (repeatable).")
@click.option("--augment", multiple=True, help="An augmenter chain to try (repeatable).")
@click.option("--tasks", default=None, help="Tasks, as for serzoo train (fixed).")
@click.option("--epochs", type=int, default=None, help="Maximum epochs per fold (fixed).")
@click.option("--seed", type=int, default=None, help="Seed of every trial (fixed: the same folds and seeds).")
@click.option("--protocol", default=None, help="Cross-validation protocol (fixed).")
@click.option("--val-share", type=float, default=None,
              help="Share of training groups for validation (fixed; must be > 0: selection is on validation).")
@click.option("--max-folds", type=int, default=None, help="Only the first N folds of every trial.")
@click.option("--set", "sets", multiple=True, metavar="OPTION=VALUE",
              help="Any other training option, fixed for every trial, by its config.json name (--set patience=5).")
@click.option("--max-trials", type=click.IntRange(min=1), default=None, help="Only the first N configurations of the grid.")
@click.option("--task", default=None, help="Task the leaderboard ranks by (default: the first).")
@click.option("--metric", default=None, help="Metric it ranks by (default: uar, ccc for regression).")
@click.option("--dry-run", is_flag=True, help="List the grid (key, status, configuration) and train nothing.")
@worker_options("trials")
def sweep(out, file, sets, max_trials, task, metric, dry_run, workers, ray_address, cpus_per_task, **options):
    """Train a grid of configurations with the same folds and seed; rank them on validation.

    \b
    Every trial is a normal run directory in OUT, keyed by a hash of its configuration and the
    data: run the same command again and finished trials are skipped, interrupted ones resumed.
    Examples:
      serzoo sweep --data db.h5 --out sweeps/a --blocks cnn1d,lstm,dense --blocks cnn2d,lstm \\
          --opt cnn1d.filters=32,64 --opt cnn1d.filters=64,128 --sampler none --sampler balanced --workers 2
      serzoo sweep --file sweep.toml --out sweeps/b --ray local
    """
    from serzoo.core.files import ensure_folder, write_json
    from serzoo.sweep import leaderboard
    from serzoo.sweep.trials import plan, run_trials
    from serzoo.workers.backends import make_backend

    out = Path(out)
    trials, skipped = plan(_spec(file, sets, options), out, _echo)
    for label, reason in skipped:
        _echo(f"skipped {label}: {reason}")
    if not trials:
        raise ConfigError("no configuration of the grid can be trained (each skipped above)")
    trials = trials[:max_trials] if max_trials else trials
    if dry_run:
        for trial in trials:
            click.echo(f"{trial.key}  {trial.status:8s} {trial.label}")
        return
    backend = make_backend(workers, ray_address, cpus_per_task)
    ensure_folder(out)
    write_json(out / "sweep.json", {"trials": [{"key": t.key, "configuration": t.label, "run_dir": t.folder.name}
                                               for t in trials], "skipped": [list(s) for s in skipped]})
    outcomes = run_trials(trials, backend, _echo)
    board = leaderboard.build(trials, task, metric)
    leaderboard.write(board, out)
    click.echo(leaderboard.table(board))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise TrainingError(f"{len(failed)} trials failed twice ({'; '.join(f'{o.name}: {o.error}' for o in failed)}); "
                            f"the leaderboard holds the others; run the same command to retry them")


def register(cli: click.Group) -> None:
    cli.add_command(sweep)
