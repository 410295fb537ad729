"""``serzoo train``: cross-validated training with results written to a run directory."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from serzoo.training.config import (DISTRIBUTE_MODES, NORMALIZATIONS, OPTIMIZERS, PRECISIONS, SCHEDULES,
                                   STREAMING_MODES, TrainConfig)
from serzoo.core.errors import ConfigError
from serzoo.cli.build import model_options
from serzoo.cli.stages import check_final_epochs, stage_options
from serzoo.cli.workers import backend_from, worker_options


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _infer_fixed(options: dict) -> None:
    """``--test-groups`` without ``--protocol`` means one fixed split, as the original trainer's ``-test_idx`` did.

    An explicit ``--protocol logo`` keeps its meaning: each of those groups takes a turn as test.
    """
    source = click.get_current_context().get_parameter_source("protocol")
    if options.get("test_groups") and source is click.core.ParameterSource.DEFAULT:
        options["protocol"] = "fixed"
        _echo(f"--test-groups {options['test_groups']} without --protocol: one fixed split testing these groups "
              "together (--protocol logo would test each in turn)")


@click.command("train")
@click.option("--data", "data", type=click.Path(dir_okay=False), default=None,
              help="Feature database (.h5) or meta table (.tsv); default: the built-in demo corpus.")
@click.option("--loader", default=None, help="Loader to use (see `serzoo list loaders`); default: by file name.")
@model_options(TrainConfig.blocks)
@click.option("--tasks", default=None, metavar="NAME:CLASSES:COLUMN[:LOSS[:WEIGHT[:METRIC]]],...",
              help="Tasks, one head each; 1 class = regression. Default: the first label.")
@click.option("--loss-opt", "loss_opts", multiple=True, metavar="LOSS.OPTION=VALUE",
              help="A loss option, e.g. --loss-opt focal.gamma=1.5 (repeatable; see `serzoo show loss NAME`).")
@click.option("--class-weights", default=None, metavar="auto|TASK=W0/W1/..;...",
              help="Class weights per head: auto (inverse frequency in the training fold) or explicit "
                   "(also the original trainer's TASK:W0:W1,... notation).")
@click.option("--sampler", default=TrainConfig.sampler, show_default=True, help="Training-set sampler (see `serzoo list samplers`).")
@click.option("--sampler-opt", "sampler_opts", multiple=True, metavar="OPTION=VALUE", help="A sampler option (repeatable).")
@click.option("--sample-by", default=None, metavar="TASK|joint", help="Which task's labels (or their joint label) drive the sampler.")
@click.option("--augment", default=None, metavar="NAME[,NAME...]",
              help="Augment training batches (never validation or test) with these augmenters, in order "
                   "(see `serzoo list augmenters`).")
@click.option("--augment-opt", "augment_opts", multiple=True, metavar="NAME.OPTION=VALUE",
              help="An augmenter option, e.g. --augment-opt mixup.alpha=0.4 (repeatable).")
@click.option("--lr", "learning_rate", type=float, default=TrainConfig.learning_rate, show_default=True,
              help="Peak learning rate.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=TrainConfig.optimizer, show_default=True,
              help="adam, adamw (decoupled weight decay) or sgd (Nesterov momentum 0.9).")
@click.option("--weight-decay", type=float, default=TrainConfig.weight_decay, show_default=True,
              help="Decoupled weight decay (AdamW style) for any optimizer; 0 = none.")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=TrainConfig.schedule, show_default=True,
              help="Learning rate over the planned epochs: constant, cosine decay, or onecycle "
                   "(warm-up from lr/25, then cosine down to lr/10^4).")
@click.option("--warmup", type=float, default=TrainConfig.warmup, show_default=True,
              help="Epochs of linear learning-rate warm-up (onecycle: 30% of the steps when 0).")
@click.option("--label-smoothing", type=float, default=TrainConfig.label_smoothing, show_default=True,
              help="Smooth classification targets towards uniform by this much (training batches only).")
@click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True)
@click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True, help="Maximum epochs per fold.")
@click.option("--clipnorm", type=float, default=None, help="Clip each gradient to this norm.")
@click.option("--patience", type=int, default=TrainConfig.patience, show_default=True,
              help="Stop a fold after this many epochs without validation improvement (0: never).")
@click.option("--seed", type=int, default=TrainConfig.seed, show_default=True, help="Seed of everything random.")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Train one model per seed in every fold and test the mean of their outputs (an ensemble); "
                   "folds and validation groups still follow --seed.")
@click.option("--protocol", default=TrainConfig.protocol, show_default=True, metavar="SPLITTER",
              help="Cross-validation protocol, a registered splitter (see `serzoo list splitters`): logo: leave "
                   "one group (speaker) out; kfold: k folds (by whole groups when there are groups); fixed: one "
                   "split given by --test-groups; loco: leave one corpus out.")
@click.option("--group-by", default=None, metavar="GROUPING",
              help="Grouping the folds are made of, one the database carries (see `serzoo data info`), such as "
                   "speaker, corpus or fold; default: the database's first.")
@click.option("--split-opt", "split_opts", multiple=True, metavar="OPTION=VALUE",
              help="An option of the splitter, e.g. --split-opt by=rows (repeatable; "
                   "see `serzoo show splitter NAME`).")
@click.option("--test-groups", default=None, metavar="0,3,5|0:9", help="Test groups (fixed protocol).")
@click.option("--val-groups", default=None, metavar="GROUPS", help="Validation groups; default: a share of the training groups.")
@click.option("--train-groups", default=None, metavar="GROUPS", help="Training groups; default: all the others.")
@click.option("--ignore-groups", default=None, metavar="GROUPS", help="Groups left out of everything.")
@click.option("--adapt-groups", default=None, metavar="GROUPS",
              help="Adaptation groups: after training, each fold's model trains on these (--adapt-epochs, --adapt-lr); "
                   "test scores before and after are reported; never tested or validated on.")
@click.option("--folds", type=int, default=TrainConfig.folds, show_default=True, help="Folds of the kfold protocol.")
@click.option("--val-share", type=float, default=TrainConfig.val_share, show_default=True,
              help="Share of the training groups held out for validation when --val-groups is not given (0: none).")
@click.option("--max-folds", type=int, default=None, help="Run only the first N folds (quick checks; results say so).")
@click.option("--streaming", type=click.Choice(STREAMING_MODES), default="auto", show_default=True,
              help="Read batches from the file (stream) or hold the data in memory; auto picks by size.")
@click.option("--normalize", type=click.Choice(NORMALIZATIONS), default=TrainConfig.normalize, show_default=True,
              help="Feature standardisation: global (training-fold statistics, stored in the model), minmax "
                   "(scaled to [0, 1] by the training fold's minimum and maximum, stored in the model), utterance "
                   "(each utterance over its own time steps), speaker (each group with its own statistics; "
                   "transductive, reported as such) or none.")
@click.option("--jit/--no-jit", "jit_compile", default=False, show_default=True,
              help="Compile training steps with XLA (measured slower for CNN-LSTMs on CPU here: bench/train_speed.py).")
@click.option("--precision", type=click.Choice(PRECISIONS), default=TrainConfig.precision, show_default=True,
              help="Compute in bf16 or fp16 (Keras mixed precision; variables, input standardisation, heads and "
                   "losses stay float32; fp16 scales the loss) or fp32.")
@click.option("--distribute", type=click.Choice(DISTRIBUTE_MODES), default=None,
              help="Data-parallel training of each model with tf.distribute (--batch-size is the global batch): "
                   "mirrored over all local devices, or multiworker over several processes or machines, each "
                   "started with this same command, --run-dir included, and its own TF_CONFIG (README: "
                   "Training on several machines).")
@click.option("--tensorboard", is_flag=True, help="Also write TensorBoard logs in each fold directory (pip install 'serzoo[tensorboard]').")
@click.option("--checkpoint-every", "checkpoint_seconds", type=float, default=TrainConfig.checkpoint_seconds,
              show_default=True, metavar="SECONDS",
              help="Write the resumable checkpoint at most this often (and after the last epoch); 0: every epoch. "
                   "--resume continues exactly from the last one.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Where models, logs and results go; default: runs/TIMESTAMP-BLOCKS.")
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True), default=None,
              help="Continue an interrupted run in this directory with its saved configuration.")
@click.option("--dry-run", is_flag=True, help="Check everything, print the model and the folds, train nothing.")
@stage_options
@worker_options("folds")
@click.option("-q", "--quiet", is_flag=True, help="Print only the results (stdout): no progress on stderr.")
@click.option("--log-every", type=click.IntRange(min=0), default=1, show_default=True, metavar="N",
              help="Print every N-th epoch line of a fold (and its last), with the whole run's progress; 0: none.")
@click.pass_context
def train(ctx, resume, run_dir, dry_run, workers, ray_address, cpus_per_task, quiet, log_every, **options) -> None:
    """Train and cross-validate a model; print and save UAR, accuracy and F1 per task.

    \b
    Examples:
      serzoo train                                   # the built-in demo corpus
      serzoo train --data emodb.h5 --blocks cnn1d,lstm,dense --class-weights auto
      serzoo train --data db.h5 --tasks arousal:3:4,valence:3:5 --sampler oversample --sample-by arousal
      serzoo train --resume runs/20261123-101500-cnn1d-attention-dense
      serzoo train --data db.h5 --init-from runs/background --freeze cnn1d --unfreeze-after 5
      serzoo train --data db.h5 --final --epochs-from runs/20261123-101500-cnn1d-attention-dense
      serzoo train --data emodb.h5 --workers 2       # two folds at a time, same results
      TF_CONFIG=... serzoo train --data db.h5 --distribute multiworker --run-dir runs/big   # on every worker
    """
    from serzoo.training import run as training
    from serzoo.training import rundir
    from serzoo.training.distribute import agree, worker_folder
    from serzoo.training.prepare import prepare
    from serzoo.training.progress import Progress

    echo = Progress(quiet=quiet, log_every=log_every)

    with contextlib.ExitStack() as held:  # the run directory's lock, released however this ends
        if resume:
            run_dir = Path(resume)
            rundir.require_run(run_dir)
            config = rundir.load_config(run_dir)
        else:
            _infer_fixed(options)
            for name in ("opts", "sampler_opts", "loss_opts", "split_opts", "augment_opts"):
                options[name] = list(options[name])
            check_final_epochs(ctx, options)
            config = TrainConfig(**options)
            if run_dir and not dry_run:
                rundir.check_new(Path(run_dir))  # before the data is read (and before workers wait for each other)
        chief = _start_strategy(config, run_dir, workers, ray_address, dry_run, echo)
        taken = None  # another process holds the run: said after the workers met, so that all of them say it
        if resume and chief:
            try:
                held.enter_context(rundir.claim(run_dir))
            except ConfigError as exc:
                taken = exc
        if resume and not taken:
            echo(f"resuming {run_dir}")
        # where this process writes: the run directory, or a private copy on a multiworker run's other workers
        write_dir = held.enter_context(worker_folder(Path(run_dir), copy=bool(resume and not taken))) \
            if run_dir else None
        agree({"options": json.dumps(config.to_dict(), sort_keys=True), "resume": int(bool(resume)),
               "taken": int(taken is not None)}, "serzoo train --distribute multiworker",  # also waits for every copy
              explain={"taken": f"{run_dir} is being trained by another process; stop it, then resume"})
        if taken:
            raise taken
        prep = prepare(config, echo=echo)
        echo(f"data: {prep.db.path} ({prep.db.n_rows} rows, {prep.db.file_layout} layout, "
             f"{_groups_text(prep)}); tasks: {', '.join(t.name for t in prep.tasks)}; "
             f"{len(prep.splits)} folds; {'streaming' if prep.streaming else 'in memory'}")
        if dry_run:
            _print_dry_run(prep)
            return
        if prep.config.freeze or prep.config.adapt_freeze:
            from serzoo.training.pretrained import check_freeze

            check_freeze(prep)  # a bad --freeze fails here, before the run directory is made
        backend = backend_from(workers, ray_address, cpus_per_task)  # a missing Ray fails before the run starts
        if resume:
            rundir.check_same_data(write_dir, prep.db)
        else:
            run_dir = Path(run_dir) if run_dir else training.default_run_dir(config)
            write_dir = write_dir or run_dir
            held.enter_context(rundir.claim(write_dir))
            rundir.start_run(write_dir, config, prep.db)
        echo(f"run directory: {run_dir}" + (f" (written by the chief; this worker writes a copy in {write_dir}, "
                                             "removed at the end)" if write_dir != Path(run_dir) else ""))
        training.run(prep, write_dir, echo=echo, backend=backend)
        if write_dir == Path(run_dir):
            _pictures(run_dir, echo)
        click.echo((write_dir / "results.txt").read_text())
    click.echo(f"results: {Path(run_dir) / 'results.json'}")


def _start_strategy(config: TrainConfig, run_dir, workers, ray_address, dry_run: bool, echo) -> bool:
    """Make the run's tf.distribute strategy (before the data is read); whether this process is the chief.

    A multiworker run waits here until every worker has started.
    """
    if not config.distribute or dry_run:
        return True
    from serzoo.training.distribute import cluster, strategy

    if config.distribute != "multiworker":
        strategy(config.distribute)  # a refused strategy says so before the data is read
        return True
    where = cluster()
    if not run_dir:
        raise ConfigError("--distribute multiworker: name the run directory with --run-dir (the same in every "
                          "worker), so that the workers agree on it")
    if (workers or 1) > 1 or ray_address:
        raise ConfigError("--distribute multiworker trains each fold on all workers together: it does not combine "
                          "with --workers or --ray, which spread folds over processes")
    echo(f"{where.describe()}: waiting for every worker to start")
    strategy(config.distribute)
    return where.chief


def _pictures(run_dir: Path, echo) -> None:
    """The run's PNG pictures in ``RUN_DIR/plots`` when matplotlib is installed; a one-line note otherwise."""
    from serzoo.report import plots

    if not plots.available():
        echo(f"note: no pictures ({plots.INSTALL_HINT})")
        return
    echo(f"pictures: {len(plots.write_pictures(run_dir))} in {run_dir / 'plots'}")


def _groups_text(prep) -> str:
    """``10 groups (speaker)``: the grouping the folds are made of."""
    first = prep.splits[0] if prep.splits else None
    return f"{len(first.group_names)} groups ({first.grouping})" if first and first.group_names else "no groups"


def _print_dry_run(prep) -> None:
    from serzoo.model.assemble import Head, build_model, summary_text

    click.echo(f"protocol: {prep.splits[0].protocol if prep.splits else prep.config.protocol}")
    click.echo(prep.plan.describe())
    model = build_model(prep.plan, prep.db.example_shape, [Head(t.name, t.num_classes) for t in prep.tasks])
    click.echo(summary_text(model))
    if prep.config.freeze or prep.config.init_from or prep.config.adapt_freeze:
        from serzoo.training.pretrained import check_freeze

        click.echo("layers (index for --freeze):\n" + "\n".join(check_freeze(prep)))
    for split in prep.splits:
        groups = (f"test groups {split.test_groups} ({', '.join(split.test_names)}), "
                  f"val groups {split.val_groups}; " if split.test_groups else "")
        click.echo(f"{split.name}: {groups}rows " + json.dumps(split.sizes()))




@click.command("fuse")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the fused results (results.json, results.txt, per-fold predictions).")
def fuse(runs, output) -> None:
    """Fuse finished runs on one corpus: average their test outputs fold by fold (equal weights).

    \b
    The runs must share the corpus (labels and groups), the protocol and the folds; their
    feature databases and models may differ (late fusion of, say, functionals and LLDs).
    Example:
      serzoo fuse runs/emodb-mlp runs/emodb-cnn -o runs/emodb-fused
    """
    from serzoo.data.loading import open_database
    from serzoo.training.fusion import fuse_runs
    from serzoo.training.rundir import load_config

    out = Path(output)
    if (out / "results.json").exists():
        raise ConfigError(f"{out} already holds results; choose another -o")
    config = load_config(Path(runs[0]))
    with open_database(config.data) as db:
        labels = db.labels
        groupings = {name: (g.ids, g.names) for name, g in db.groupings.items()}
    grouping_of = (lambda name: groupings.get(name) or next(iter(groupings.values()))) if groupings else None
    fuse_runs([Path(r) for r in runs], out, labels, grouping_of)
    click.echo((out / "results.txt").read_text())


@click.command("elm")
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the ELM results (results.json, results.txt, per-fold predictions).")
@click.option("--hidden", type=click.IntRange(1), default=100, show_default=True, help="Hidden units of the ELM.")
@click.option("--c", "c", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Regularisation: output weights (H'H + I/C)^-1 H'T (the original's omega).")
@click.option("--activation", type=click.Choice(["sigmoid", "linear"]), default="sigmoid", show_default=True,
              help="Hidden activation; linear is the original trainer's ELM.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Posterior a time step must exceed to count in the share-above-threshold statistic.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random hidden layer.")
def elm(run, output, hidden, c, activation, threshold, seed) -> None:
    """Classify utterances from statistics of frame posteriors with an ELM (the original's --post_elm).

    \b
    RUN is a finished run trained with --frame-heads. For each fold, the selected model's
    frame posteriors give per class their max, min, mean and share above --threshold; an
    extreme learning machine is fitted on the fold's training rows and scored on its test rows.
    Example:
      serzoo train --data emodb_lld.h5 --blocks cnn1d,lstm --opt lstm.return_sequences=true \\
          --frame-heads --run-dir runs/frames
      serzoo elm runs/frames -o runs/frames-elm
    """
    from serzoo.training.elm import ELM, elm_run

    out = Path(output)
    if (out / "results.json").exists():
        raise ConfigError(f"{out} already holds results; choose another -o")
    elm_run(Path(run), out, elm=ELM(hidden, c, activation, seed), threshold=threshold,
            echo=lambda m: click.echo(m, err=True))
    click.echo((out / "results.txt").read_text())


def register(cli: click.Group) -> None:
    cli.add_command(train)
    cli.add_command(fuse)
    cli.add_command(elm)
