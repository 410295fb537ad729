"""Gain statistics of a corpus: the smallest and largest sample value over all its audio files.

SER_FEAT_EXT's ``--gain_stat`` pass wrote them to ``META.gain.txt`` (``min gain: ...,
max gain: ...``) before extraction, so that recordings of different level could be
compared or rescaled by the corpus's own range. ``serzoo data gain META`` reports the
same two numbers (samples decoded to [-1, 1], channels mixed down to mono), plus the
file each comes from and the peak level in dBFS.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from serzoo.data.audio import read_audio
from serzoo.data.build import read_meta


def gain_statistics(meta_path, progress: Callable[[int, int], None] | None = None) -> dict:
    """Minimum and maximum sample over the audio files a meta table names.

    Returns:
        ``{"files", "min_gain", "max_gain", "min_file", "max_file", "peak_dbfs"}``.

    Raises:
        DataError: a bad meta table or an unreadable audio file, naming it.
    """
    meta = read_meta(meta_path)
    paths = meta.wav_paths()
    low, high = math.inf, -math.inf
    low_file = high_file = None
    for i, path in enumerate(paths):
        samples, _ = read_audio(path)
        if samples.min() < low:
            low, low_file = float(samples.min()), str(path)
        if samples.max() > high:
            high, high_file = float(samples.max()), str(path)
        if progress is not None:
            progress(i + 1, len(paths))
    peak = max(abs(low), abs(high))
    return {"files": len(paths), "min_gain": low, "max_gain": high, "min_file": low_file, "max_file": high_file,
            "peak_dbfs": float(20 * np.log10(peak)) if peak > 0 else float("-inf")}
