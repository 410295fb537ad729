"""Emotion over time: predictions on sliding windows of a long recording or of a live stream.

A file and a stream go through the same code: samples arrive in chunks (one chunk
for a file, whatever the pipe delivers for a stream), :func:`windows` cuts complete
windows of ``window`` seconds every ``hop`` seconds as soon as their samples are
there, and each window is turned into features and predicted on its own, so the
same samples give the same windows and answers whichever way they came. Input
shorter than one window gives one window over all of it.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.inference.inputs import Featurizer
from serzoo.inference.models import Predictor
from serzoo.inference.predict import DIGITS, outputs

HEADER = ("file", "start", "end", "task", "class", "index", "probabilities")
#: bytes read from a stream at a time (at most; a pipe hands over what it has)
READ_BYTES = 8192


def check_window(featurizer: Featurizer, window: float, hop: float) -> None:
    """A window and hop the model can use.

    Raises:
        ConfigError: a window or hop that is not positive, or a window shorter than one time step of features.
    """
    if window <= 0 or hop <= 0:
        raise ConfigError(f"--window {window:g} and --hop {hop:g} must be positive (seconds)")
    need = featurizer.min_seconds()
    if window < need:
        raise ConfigError(f"--window {window:g} s is shorter than the {need:g} s the model's features need for one "
                          f"time step ({featurizer.context} frame(s) of a {need * 1000:g} ms span); "
                          f"use --window {need:g} or more")


def windows(chunks: Iterable[np.ndarray], rate: int, window: float, hop: float) -> Iterator[tuple[float, float, np.ndarray]]:
    """Yield ``(start, end, samples)`` for each complete window, as soon as its samples have arrived.

    Args:
        chunks: mono float32 samples in consecutive pieces of any length.
        rate: their sample rate.
        window: window length in seconds.
        hop: seconds between window starts.
    """
    win, step = max(1, int(round(window * rate))), max(1, int(round(hop * rate)))
    buffer, offset, start, emitted = np.zeros(0, np.float32), 0, 0, False
    for chunk in chunks:
        buffer = np.concatenate([buffer, np.asarray(chunk, np.float32)])
        while start + win <= offset + len(buffer):
            yield start / rate, (start + win) / rate, buffer[start - offset:start - offset + win]
            emitted, start = True, start + step
        drop = min(start - offset, len(buffer))  # keep only what later windows need
        buffer, offset = buffer[drop:], offset + drop
    if not emitted and len(buffer):
        yield 0.0, len(buffer) / rate, buffer


def pcm_chunks(stream: BinaryIO, read_bytes: int = READ_BYTES) -> Iterator[np.ndarray]:
    """Raw 16-bit little-endian mono PCM from a binary stream, as float32 in [-1, 1), chunk by chunk.

    Each chunk is what one read returned, so windows complete as soon as the data is there.
    """
    read = getattr(stream, "read1", stream.read)
    rest = b""
    while True:
        data = read(read_bytes)
        if not data:
            break
        data = rest + data
        usable = len(data) - len(data) % 2  # a sample may be split between reads
        rest = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


def file_chunks(path) -> tuple[list[np.ndarray], int]:
    """A whole audio file as one chunk, and its sample rate."""
    from serzoo.data.audio import read_audio

    samples, rate = read_audio(path)
    return [samples], rate


def timeline_rows(predictor: Predictor, featurizer: Featurizer, name: str, chunks: Iterable[np.ndarray], rate: int,
                  window: float, hop: float, prior_correction: bool = False) -> Iterator[list[str]]:
    """One CSV row per window and task (see :data:`HEADER`), yielded as each window completes."""
    check_window(featurizer, window, hop)
    if rate <= 0:
        raise DataError(f"{name}: sample rate {rate} must be positive")
    for start, end, samples in windows(chunks, rate, window, hop):
        x = featurizer(samples, rate, where=f"{name} {start:g}-{end:g} s")[None]
        out = outputs(predictor, x, prior_correction)
        for task in predictor.tasks:
            values = out[task["name"]][0]
            times = [name, f"{start:.3f}", f"{end:.3f}", task["name"]]
            if int(task["num_classes"]) == 1:
                yield times + [f"{float(values[0]):.{DIGITS}f}", "", ""]
                continue
            classes = predictor.classes(task)
            k = int(np.argmax(values))
            probs = " ".join(f"{c}={p:.{DIGITS}f}" for c, p in zip(classes, values))
            yield times + [classes[k], str(k), probs]


def csv_line(row) -> str:
    """One CSV line (with its newline)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()
