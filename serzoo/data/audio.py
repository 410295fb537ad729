"""From audio files to samples: decoding (soundfile) and resampling (soxr).

Decoding uses ``soundfile`` (libsndfile: WAV in any PCM or float encoding,
FLAC, OGG, AIFF, ...), mixed down to mono float32; resampling uses ``soxr``
(libsoxr's high-quality filter). Both are imported only when audio is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serzoo.core.errors import DataError


def _unreadable(path, exc: Exception) -> DataError:
    """One line naming the file and what libsndfile said (never an empty reason)."""
    reason = (getattr(exc, "error_string", "") or str(exc)).strip().rstrip(".")
    if not reason or reason == "System error":
        reason = "unreadable or truncated header"
    return DataError(f"{path}: cannot decode audio ({reason}); serzoo reads what libsndfile reads "
                     "(WAV, FLAC, OGG, AIFF, ...)")


def _check_file(path) -> Path:
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: no such audio file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read audio file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an audio file")
    if size == 0:
        raise DataError(f"{path}: the audio file is empty (0 bytes)")
    return path


def audio_info(path) -> tuple[int, int]:
    """(number of samples, sample rate) of an audio file, reading only its header.

    Raises:
        DataError: missing, empty or undecodable file, naming it.
    """
    import soundfile

    path = _check_file(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise _unreadable(path, exc) from None
    return int(info.frames), int(info.samplerate)


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode an audio file (any format and channel count libsndfile reads) to mono float32 in [-1, 1].

    Channels are averaged (mixed down to mono).

    Returns:
        ``(samples, sample_rate)``.

    Raises:
        DataError: missing, empty, undecodable or sample-less file, naming it.
    """
    import soundfile

    path = _check_file(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError) as exc:
        raise _unreadable(path, exc) from None
    if data.size == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    samples = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(samples), int(rate)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a mono signal with libsoxr's high-quality filter.

    Args:
        x: samples at ``rate_in``.
        rate_in: input sample rate in Hz.
        rate_out: output sample rate in Hz.

    Returns:
        float32 samples at ``rate_out`` (about ``len(x) * rate_out / rate_in`` of them).
    """
    x = np.asarray(x, dtype=np.float32)
    if rate_in == rate_out:
        return x
    import soxr

    return soxr.resample(x, int(rate_in), int(rate_out), quality="HQ").astype(np.float32, copy=False)
