"""``serzoo predict`` and ``serzoo embed``: use a trained model on audio, meta tables or feature databases."""

from __future__ import annotations

from pathlib import Path

import click

from serzoo.cli.data import progress_bar
from serzoo.core.errors import ConfigError
from serzoo.inference.predict import FORMATS


def _load(model: str):
    """The model (or run directory's ensemble) and a lazy featurizer for audio."""
    from serzoo.inference.inputs import Featurizer
    from serzoo.inference.models import load_predictor

    predictor = load_predictor(model)
    made = []

    def featurizer():
        if not made:
            made.append(Featurizer(predictor.feature_settings, predictor.metadata.get("file_layout", "1d"),
                                   predictor.example_shape, where=str(model)))
        return made[0]

    return predictor, featurizer


def _read(predictor, featurizer, inputs, quiet: bool, model: str):
    from serzoo.inference.inputs import read_inputs

    with progress_bar(quiet, "Computing features") as progress:
        return read_inputs(inputs, featurizer, predictor.example_shape, predictor.feature_settings,
                           f"model {model}", progress)


def _emit(text: str, output: str | None) -> None:
    if output:
        from serzoo.core.files import write_text

        write_text(output, text)
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def _timeline(predictor, featurizer, inputs, stream, window, hop, rate, prior_correction, output) -> None:
    """Timeline CSV over files, or over a stream printed line by line as windows complete."""
    from serzoo.inference.timeline import HEADER, csv_line, file_chunks, pcm_chunks, timeline_rows

    window = window if window is not None else 2.0
    hop = hop if hop is not None else window / 2
    if stream is not None:
        if stream != "-" or inputs or output:
            raise ConfigError("--stream reads raw 16-bit PCM from standard input: give `--stream -` with no INPUT "
                              "and no -o (redirect the output instead)")
        out = click.get_text_stream("stdout")
        out.write(csv_line(HEADER))
        out.flush()
        chunks = pcm_chunks(click.get_binary_stream("stdin"))
        for row in timeline_rows(predictor, featurizer(), "-", chunks, rate, window, hop, prior_correction):
            out.write(csv_line(row))
            out.flush()  # a live listener sees each window as soon as it is complete
        return
    lines = [csv_line(HEADER)]
    for path in _audio_files(inputs):
        chunks, file_rate = file_chunks(path)
        lines += [csv_line(r) for r in timeline_rows(predictor, featurizer(), str(path), chunks, file_rate,
                                                     window, hop, prior_correction)]
    _emit("".join(lines), output)


def _audio_files(inputs) -> list[Path]:
    """The audio files a timeline runs over (folders give their wav files, sorted)."""
    from serzoo.inference.inputs import kind_of, wav_files

    files = []
    for path in map(Path, inputs):
        kind = kind_of(path)
        if kind == "folder":
            files += wav_files(path)
        elif kind == "audio":
            files.append(path)
        else:
            raise ConfigError(f"{path}: --window and --hop make timelines of audio files, not of a {kind} "
                              "(give wav files or folders)")
    return files


@click.command("predict")
@click.argument("model", type=click.Path(exists=True))
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table (for reading), csv (one row per utterance) or json.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of standard output.")
@click.option("--prior-correction", is_flag=True,
              help="Divide class probabilities by the training class priors and renormalise.")
@click.option("--window", type=float, help="Timeline: window length in seconds (a CSV row per window and task).")
@click.option("--hop", type=float, help="Timeline: seconds between window starts (default: half the window).")
@click.option("--stream", metavar="-", help="Read raw 16-bit little-endian mono PCM from standard input (`-`) "
              "and print a timeline line per window as it completes.")
@click.option("--rate", type=int, default=16000, show_default=True, help="Sample rate of --stream input.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def predict_command(model, inputs, fmt, output, prior_correction, window, hop, stream, rate, quiet) -> None:
    """Predict emotions with MODEL (a .keras file, or a run directory: its fold models averaged).

    INPUT is audio files, folders of wav files, meta tables or HDF5 feature databases;
    audio is turned into features with the settings stored in the model.

    \b
    Examples:
      serzoo predict runs/emodb/fold00/model.keras a.wav b.wav
      serzoo predict runs/emodb recordings/ --format csv -o predictions.csv
      serzoo predict model.keras --window 2.0 --hop 0.5 long.wav
      arecord -f S16_LE -r 16000 | serzoo predict model.keras --stream -
    """
    if stream is None and not inputs:
        raise ConfigError("give at least one INPUT (audio files, a folder, a meta table or a database), "
                          "or --stream - to read audio from standard input")
    if output:
        from serzoo.core.files import check_output

        check_output(output, [model, *inputs], force=True)  # replaces an earlier output, never an input
    predictor, featurizer = _load(model)
    if stream is not None or window is not None or hop is not None:
        _timeline(predictor, featurizer, inputs, stream, window, hop, rate, prior_correction, output)
        return
    from serzoo.inference.predict import format_records, predict_records

    utts = _read(predictor, featurizer, inputs, quiet, model)
    _emit(format_records(predict_records(predictor, utts, prior_correction), predictor, fmt), output)


@click.command("embed")
@click.argument("model", type=click.Path(exists=True))
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="OUT.h5 (a database to train on) or OUT.csv.")
@click.option("--layer", help="Layer whose activations to take (default: the layer feeding the heads).")
@click.option("--frames", is_flag=True, help="Keep one vector per time step (1d layout) instead of the average.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def embed_command(model, inputs, output, layer, frames, force, quiet) -> None:
    """Write the activations of a layer of MODEL for INPUT (audio, folders, meta tables, databases).

    \b
    Examples:
      serzoo embed model.keras emodb.h5 -o emb.h5 && serzoo train --data emb.h5 --blocks dense
      serzoo embed model.keras clips/ -o emb.csv --layer lstm_1 --frames
    """
    from serzoo.core.files import check_output
    from serzoo.inference.embed import activations, write_embeddings

    check_output(output, [model, *inputs], force=force)
    predictor, featurizer = _load(model)
    utts = _read(predictor, featurizer, inputs, quiet, model)
    values, name = activations(predictor, utts, layer, frames)
    write_embeddings(output, values, utts, predictor, name)
    click.echo(f"Wrote {output}: {len(values)} utterances, layer {name!r}, shape {values.shape[1:]}", err=True)


def register(cli: click.Group) -> None:
    """Attach ``predict`` and ``embed`` to the top-level ``serzoo`` group."""
    cli.add_command(predict_command)
    cli.add_command(embed_command)
