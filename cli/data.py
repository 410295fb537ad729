"""``serzoo data build|info|demo``: make and inspect feature databases."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import Callable, Iterator

import click
from tabulate import tabulate

from serzoo.core import layouts


@contextlib.contextmanager
def progress_bar(quiet: bool, label: str = "Extracting features") -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a click bar on stderr (None when quiet).

    The bar opens on the first call, when the total is known, and closes on leaving the block.
    """
    if quiet:
        yield None
        return
    bars: list = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=label, file=sys.stderr,
                                          show_pos=True).__enter__())
        bars[0].update(done - bars[0].pos)

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


def _options_of_features(fn):
    """Feature and shape options shared by ``build`` and ``demo``.

    The extractors' own options are not repeated here: they are declared once, by each
    registered extractor (``serzoo show feature NAME``), and given with ``--feature-opt``;
    the few common ones (:data:`~serzoo.data.features.SHARED_OPTIONS`) also have a flag
    that sets them for every chosen extractor that declares them.
    """
    from serzoo.data.features import DEFAULT_FEATURES, SHARED_OPTIONS

    options = [
        click.option("--features", "--feature", "features", default=DEFAULT_FEATURES, show_default=True,
                     metavar="NAMES", help="Feature extractors, comma-separated; several frame-level ones stack "
                     "frame by frame, such as logmel,mfcc (see `serzoo list features`)."),
        click.option("-F", "--feature-opt", "feature_opts", multiple=True, metavar="NAME.OPTION=VALUE",
                     help="Option of one extractor, such as logmel.n_mels=64 or logmel.deltas=2; repeatable; "
                          "overrides the shared flags below (see `serzoo show feature NAME`)."),
        *[click.option(f"--{name.replace('_', '-')}", name, default=None, metavar="VALUE",
                       help=f"{text} For every chosen extractor with option {name} (default: its own).")
          for name, text in SHARED_OPTIONS.items()],
        click.option("--context", type=click.IntRange(1), default=1, show_default=True,
                     help="Consecutive frames per time step (context window)."),
        click.option("--layout", type=click.Choice(["auto", *layouts.file_layouts()]), default="auto",
                     show_default=True,
                     help="; ".join(f"{lay}: {layouts.get(lay).file_shape_text}" for lay in layouts.file_layouts())
                     + ", as SER_FEAT_EXT (flat for utterance-level features); auto: 1d, or flat for "
                       "utterance-level features."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
                     help="Feature precision in the file (SER_FEAT_EXT wrote float64)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group("data")
def data_group() -> None:
    """Build and inspect feature databases."""


@data_group.command("build")
@click.argument("meta", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HDF5 file to write.")
@click.option("--labels", default="", help="Label columns, comma-separated (default: every column after the "
              "first except the group column), e.g. emotion,arousal,valence.")
@click.option("--group", default="auto", show_default=True,
              help="Columns that define groupings for folds, comma-separated (speaker,corpus,fold); the first "
                   "orders the rows; train picks one with --group-by; an empty cell is in no group; auto: a "
                   "column named speaker, group, corpus or session; 'none' for no groups.")
@click.option("--class-names", multiple=True, metavar="LABEL=NAMES",
              help="Class names of a label, repeatable: --class-names emotion=anger,boredom,disgust,...")
@click.option("--max-steps", type=click.IntRange(0), default=0, show_default=True,
              help="Frames kept per utterance (zero-padded at the end); 0: the longest utterance, "
                   "at most 1000 (10 s at a 10 ms hop).")
@_options_of_features
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def build_command(meta, output, labels, group, class_names, max_steps, quiet, force, **features) -> None:
    """Extract features for the wav files of META (a tab-separated table) into an HDF5 database.

    META has a header line; its first column is the wav path relative to META,
    the others integer labels and group columns. Rows are stored ordered by the first group column.
    When the first column names .npy or .csv files (one per utterance, such as openSMILE
    writes: (frames, D) low-level descriptors or one (D,) vector of functionals), those
    features are stored instead of extracting any.

    \b
    Example:
      serzoo data build emodb/meta.tsv -o emodb.h5 --labels emotion,arousal,valence --group speaker
      serzoo data build meta.tsv -o db.h5 --group speaker,fold    # then: serzoo train --group-by fold
      serzoo data build opensmile_meta.tsv -o db.h5 --group speaker  # paths to .csv/.npy feature files
    """
    from serzoo.data.build import build_database
    from serzoo.data.loading import open_database

    start = time.perf_counter()
    with progress_bar(quiet) as progress:
        path = build_database(
            meta, output, labels=labels or None, group=None if group.lower() in ("", "none") else group,
            class_names=list(class_names), max_steps=max_steps, progress=progress, force=force, **features,
        )
    with open_database(path) as db:
        click.echo(f"Wrote {path}: {db.n_rows} rows, feat {db.file_shape}, {len(db.label_names)} labels, "
                   f"groupings {_groupings_text(db) or 'none'} in {time.perf_counter() - start:.1f} s")


@data_group.command("demo")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HDF5 file to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated corpus.")
@click.option("--speakers", type=click.IntRange(2), default=6, show_default=True, help="Synthetic speakers (groups).")
@click.option("--per-class", type=click.IntRange(1), default=8, show_default=True,
              help="Utterances per emotion and speaker.")
@click.option("--max-steps", type=click.IntRange(0), default=150, show_default=True,
              help="Frames kept per utterance; 0: the longest.")
@_options_of_features
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def demo_command(output, seed, speakers, per_class, max_steps, quiet, force, **features) -> None:
    """Generate the synthetic demo corpus (4 emotions, arousal, valence; several speakers) as a database.

    The same corpus backs `serzoo train` when no --data is given.
    """
    from serzoo.core.files import check_output
    from serzoo.data.demo import make_demo

    check_output(output, force=force)
    with progress_bar(quiet) as progress:
        path = make_demo(output, seed=seed, speakers=speakers, per_class=per_class, progress=progress,
                         max_steps=max_steps, force=True, **features)
    click.echo(f"Wrote {path}")


@data_group.command("merge")
@click.argument("databases", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HDF5 file to write.")
@click.option("--names", default="", metavar="A,B,...",
              help="Corpus name of each database, comma-separated (default: the file names without .h5).")
@click.option("--map", "maps", multiple=True, metavar="OLD:NEW | LABEL=OLD:NEW,...",
              help="Rename a label (emo:emotion) or classes of a label (emotion=anger:angry,joy:happy) before "
                   "the label sets are joined by name; an empty NEW (emotion=boredom:) leaves those rows "
                   "without the label. Repeatable.")
@click.option("--per-corpus", default="", metavar="LABELS",
              help="Labels kept as one task per corpus (emotion -> emotion_a, emotion_b), comma-separated.")
@click.option("--where", "where", multiple=True, metavar="GROUPING=NAMES",
              help="Keep only rows of these groups, such as corpus=a or speaker=a/03; repeatable.")
@click.option("--no-check-features", is_flag=True,
              help="Compare only layout and shape, not the recorded feature settings (files built elsewhere).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def merge_command(databases, output, names, maps, per_corpus, where, no_check_features, quiet, force) -> None:
    """Join feature databases of several corpora into one (aggregated corpora, cross-corpus tests).

    The features must be the same (layout, shape, feature settings). Labels and classes of
    the same name become one task; a corpus without a label stores the missing-label mask
    there (-1, NaN for continuous labels), so that head is neither trained nor scored on its
    rows. Groupings: speaker (corpus/speaker) and corpus, for --protocol loco.

    \b
    Example:
      serzoo data merge emodb.h5 ravdess.h5 -o all.h5 --map emotion=anger:angry
      serzoo train --data all.h5 --protocol loco --tasks emotion    # leave one corpus out
      serzoo data merge all.h5 --where corpus=emodb -o emodb_only.h5
    """
    from serzoo.data.loading import open_database
    from serzoo.data.merge import merge_databases, parse_where

    notes: list[str] = []
    with progress_bar(quiet, "Copying rows") as progress:
        path = merge_databases(databases, output, names=names or None, maps=maps, per_corpus=per_corpus,
                               where=parse_where(where), check_features=not no_check_features, force=force,
                               progress=progress, notes=notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    with open_database(path) as db:
        tasks = ", ".join(f"{t['name']} ({t['classes'] or 'continuous'}"
                          f"{', %d rows masked' % t['missing'] if t['missing'] else ''})" for t in db.describe()["tasks"])
        click.echo(f"Wrote {path}: {db.n_rows} rows, feat {db.file_shape}, labels {tasks}, "
                   f"groupings {_groupings_text(db)}")


@data_group.command("gain")
@click.argument("meta", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line as SER_FEAT_EXT's META.gain.txt, or JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def gain_command(meta, fmt, quiet) -> None:
    """Print the smallest and largest sample over the audio files of META (SER_FEAT_EXT's --gain_stat).

    \b
    Example:
      serzoo data gain emodb/meta.tsv
    """
    from serzoo.data.gain import gain_statistics

    with progress_bar(quiet, "Reading audio") as progress:
        stats = gain_statistics(meta, progress=progress)
    if fmt == "json":
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"min gain:\t{stats['min_gain']:.7g}, max gain:\t{stats['max_gain']:.7g}  "
               f"({stats['files']} files, peak {stats['peak_dbfs']:.1f} dBFS)")


@data_group.command("info")
@click.argument("database", type=click.Path(dir_okay=False))
@click.option("--loader", default=None, help="Loader to use (default: chosen by file name; see `serzoo list loaders`).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output tables or machine-readable JSON.")
def info_command(database, loader, fmt) -> None:
    """Show the layout, shapes, tasks with class counts, and groups with sizes of DATABASE."""
    from serzoo.data.loading import open_database

    with open_database(database, loader=loader) as db:
        info = db.describe()
    if fmt == "json":
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(f"{info['path']}")
    click.echo(f"  layout: {info['file_layout']} (model input: {info['input_layout']}), feat {tuple(info['file_shape'])}, "
               f"example {tuple(info['example_shape'])}")
    click.echo(f"  rows: {info['rows']}, features as float32: {info['feature_mbytes']} MB")
    settings = info["attrs"].get("features")
    if isinstance(settings, dict):
        shown = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None and k != "extractors")
        click.echo(f"  features: {shown}")
        for extractor in settings.get("extractors") or []:
            options = ", ".join(f"{k}={v}" for k, v in (extractor.get("options") or {}).items())
            click.echo(f"    {extractor.get('name')} (dim {extractor.get('dim')}): {options}")
    click.echo("")
    rows = []
    for task in info["tasks"]:
        if task["classes"] is None:
            rows.append([task["name"], "-", f"values {task['min']:g}..{task['max']:g}"])
        else:
            rows.append([task["name"], task["classes"], ", ".join(f"{c}: {n}" for c, n in task["counts"].items())])
        if task.get("missing"):
            rows[-1][-1] += f"; {task['missing']} rows without this label (masked)"
    click.echo(tabulate(rows, headers=["label", "classes", "rows per class"]))
    click.echo("")
    _echo_groupings(info)


def _groupings_text(db) -> str:
    """``speaker (10 groups), fold (5 groups)``."""
    return ", ".join(f"{g.name} ({g.n_groups} groups)" for g in db.groupings.values())


def _echo_groupings(info: dict) -> None:
    """One table per grouping; the first (the default of --group-by) with its start/end row ranges."""
    if not info["groupings"]:
        click.echo("groups: none (no start_indice/end_indice or groups/); folds will be over rows")
        return
    ranges = {g["index"]: g for g in info["groups"]}
    for i, grouping in enumerate(info["groupings"]):
        unused = f"; {grouping['unused_rows']} rows in no group" if grouping["unused_rows"] else ""
        default = ", the default" if i == 0 else ""
        click.echo(f"grouping {grouping['name']} ({len(grouping['groups'])} groups{default}{unused}):")
        if i == 0 and info["groups"]:
            table = [[g["index"], g["name"], g["rows"], ranges[g["index"]]["start"], ranges[g["index"]]["end"]]
                     for g in grouping["groups"]]
            headers = ["group", "name", "rows", "start", "end"]
        else:
            table, headers = [[g["index"], g["name"], g["rows"]] for g in grouping["groups"]], ["group", "name", "rows"]
        click.echo(tabulate(table, headers=headers))
        click.echo("")


def register(cli: click.Group) -> None:
    """Attach the ``data`` command group to the top-level ``serzoo`` group."""
    cli.add_command(data_group)
