"""Built-in feature extractors on ``tf.signal``: log-mel (with deltas), MFCC, log spectrogram, raw frames.

Like any third-party extractor, these register through ``serzoo_register_features``.
Their options are checked in plain Python; TensorFlow is imported only when an
extractor is made, and each extractor traces one ``tf.function`` graph. Deltas
are the usual regression over two frames on each side (HTK, edges repeated).
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass
from typing import Callable

import numpy as np

from serzoo import Feature, Param, hookimpl
from serzoo.core.errors import ConfigError

#: added to power before the log so silence (exact zeros) stays finite
LOG_FLOOR = 1e-6

#: frames on each side of the delta regression
DELTA_WIDTH = 2

_FRAMING = (
    Param("sample_rate", "int", 16000, "resample to this rate in Hz; 0: the files' own rate"),
    Param("win_ms", "float", 25.0, "analysis window in ms"),
    Param("hop_ms", "float", 10.0, "frame step in ms"),
)
_FFT = Param("n_fft", "int", 0, "FFT length; 0: the next power of two at or above the window")
_MEL = (
    Param("n_mels", "int", 40, "mel bands"),
    Param("fmin", "float", 20.0, "lowest mel band edge in Hz"),
    Param("fmax", "float", 0.0, "highest mel band edge in Hz; 0: half the sample rate"),
)
_DELTAS = Param("deltas", "int", 0, "0: none; 1: append deltas; 2: append deltas and delta-deltas")


@dataclass(frozen=True)
class Framing:
    """Window, hop and FFT length in samples at the extractor's rate."""

    rate: int
    win: int
    hop: int
    hop_ms: float
    n_fft: int


#: the lowest sample rate a speech feature is computed at (telephone speech is 8000 Hz)
MIN_RATE = 4000


def framing(name: str, sample_rate: int, win_ms: float, hop_ms: float, n_fft: int = 0) -> Framing:
    """Check the framing options of extractor ``name`` and turn them into samples.

    Raises:
        ConfigError: a rate, window, hop or FFT length that does not make frames.
    """
    if sample_rate <= 0:
        raise ConfigError(f"{name}: sample_rate must be positive (0, the files' own rate, is filled in when building)")
    if sample_rate < MIN_RATE:
        raise ConfigError(f"{name}: sample_rate {sample_rate} Hz is below {MIN_RATE} Hz, too low for speech "
                          "(the rate is in Hz: 16000, not 16)")
    if win_ms <= 0 or hop_ms <= 0:
        raise ConfigError(f"{name}: window {win_ms} ms and hop {hop_ms} ms must be positive")
    win = max(1, int(round(sample_rate * win_ms / 1000)))
    n_fft = n_fft or 1 << max(0, (win - 1).bit_length())
    if n_fft < win:
        raise ConfigError(f"{name}: n_fft {n_fft} is shorter than the {win}-sample window")
    return Framing(sample_rate, win, max(1, int(round(sample_rate * hop_ms / 1000))), float(hop_ms), n_fft)


class FrameExtractor:
    """A frame-level extractor: resample, pad to one window, run a traced ``tf.signal`` graph.

    Args:
        frames: the framing (rate, window, hop).
        dim: values per frame.
        graph: ``(tf module, samples tensor) -> (frames, dim) tensor``.
    """

    def __init__(self, frames: Framing, dim: int, graph: Callable):
        from serzoo.core.tf import import_tensorflow

        tf = import_tensorflow()

        self.framing, self.dim = frames, dim
        self.sample_rate, self.hop_ms = frames.rate, frames.hop_ms
        self._compute = tf.function(lambda x: graph(tf, x), input_signature=[tf.TensorSpec([None], tf.float32)])

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Features of one utterance, float32 ``(frames, dim)``; short signals give one frame."""
        from serzoo.data.audio import resample

        x = resample(samples, sample_rate, self.sample_rate)
        if len(x) < self.framing.win:
            x = np.pad(x, (0, self.framing.win - len(x)))
        return self._compute(x).numpy()


def _power(tf, x, f: Framing):
    spec = tf.signal.stft(x, f.win, f.hop, fft_length=f.n_fft, window_fn=tf.signal.hann_window)
    return tf.math.square(tf.math.abs(spec))


def _delta(tf, c):
    """Regression deltas over time of (frames, dim) ``c``, edges repeated."""
    n, length = DELTA_WIDTH, tf.shape(c)[0]
    padded = tf.concat([tf.repeat(c[:1], n, axis=0), c, tf.repeat(c[-1:], n, axis=0)], axis=0)
    num = sum(k * (padded[n + k: n + k + length] - padded[n - k: n - k + length]) for k in range(1, n + 1))
    return num / float(2 * sum(k * k for k in range(1, n + 1)))


def _with_deltas(tf, base, deltas: int):
    parts = [base]
    for _ in range(deltas):
        parts.append(_delta(tf, parts[-1]))
    return tf.concat(parts, axis=1) if deltas else base


def _mel_matrix(name, f: Framing, n_mels: int, fmin: float, fmax: float):
    fmax = fmax or f.rate / 2
    if n_mels < 1:
        raise ConfigError(f"{name}: n_mels must be at least 1, got {n_mels}")
    if not 0 <= fmin < fmax <= f.rate / 2:
        raise ConfigError(f"{name}: mel range {fmin:g}..{fmax:g} Hz must lie within 0..{f.rate / 2:g} Hz")
    empty = _empty_mel_bands(f, n_mels, fmin, fmax)
    if empty:
        warnings.warn(f"{name}: {empty} of {n_mels} mel bands contain no FFT bin at {f.rate} Hz with n_fft "
                      f"{f.n_fft}, so their features are constant; use fewer n_mels, a higher fmin or a larger n_fft",
                      stacklevel=2)
    return lambda tf: tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=n_mels, num_spectrogram_bins=f.n_fft // 2 + 1, sample_rate=f.rate,
        lower_edge_hertz=fmin, upper_edge_hertz=fmax)


def _empty_mel_bands(f: Framing, n_mels: int, fmin: float, fmax: float) -> int:
    """How many triangular mel bands (HTK mel scale, as ``tf.signal``) hold no FFT bin between their edges."""
    mel = np.linspace(*(1127.0 * np.log1p(np.array([fmin, fmax]) / 700.0)), n_mels + 2)
    edges = 700.0 * np.expm1(mel / 1127.0)
    bins = np.arange(1, f.n_fft // 2 + 1) * f.rate / f.n_fft  # tf.signal leaves out the DC bin
    return sum(not np.any((bins > lo) & (bins < hi)) for lo, hi in zip(edges[:-2], edges[2:]))


def _check_deltas(name: str, deltas: int) -> None:
    if deltas not in (0, 1, 2):
        raise ConfigError(f"{name}: deltas {deltas} must be 0, 1 (deltas) or 2 (deltas and delta-deltas)")


def make_logmel(sample_rate=16000, win_ms=25.0, hop_ms=10.0, n_fft=0, n_mels=40, fmin=20.0, fmax=0.0, deltas=0):
    """Log mel filter-bank energies, optionally with deltas and delta-deltas."""
    f = framing("logmel", sample_rate, win_ms, hop_ms, n_fft)
    mel = _mel_matrix("logmel", f, n_mels, fmin, fmax)
    _check_deltas("logmel", deltas)

    def graph(tf, x):
        logmel = tf.math.log(tf.linalg.matmul(_power(tf, x, f), mel(tf)) + LOG_FLOOR)
        return _with_deltas(tf, logmel, deltas)

    return FrameExtractor(f, n_mels * (1 + deltas), graph)


def make_mfcc(sample_rate=16000, win_ms=25.0, hop_ms=10.0, n_fft=0, n_mels=40, fmin=20.0, fmax=0.0,
              n_mfcc=13, deltas=0):
    """Mel-frequency cepstral coefficients (DCT-II of the log mel energies), optionally with deltas."""
    f = framing("mfcc", sample_rate, win_ms, hop_ms, n_fft)
    mel = _mel_matrix("mfcc", f, n_mels, fmin, fmax)
    _check_deltas("mfcc", deltas)
    if not 1 <= n_mfcc <= n_mels:
        raise ConfigError(f"mfcc: n_mfcc {n_mfcc} must lie within 1..n_mels ({n_mels})")

    def graph(tf, x):
        logmel = tf.math.log(tf.linalg.matmul(_power(tf, x, f), mel(tf)) + LOG_FLOOR)
        return _with_deltas(tf, tf.signal.mfccs_from_log_mel_spectrograms(logmel)[:, :n_mfcc], deltas)

    return FrameExtractor(f, n_mfcc * (1 + deltas), graph)


def make_logspec(sample_rate=16000, win_ms=25.0, hop_ms=10.0, n_fft=0):
    """Log power spectrogram (``n_fft // 2 + 1`` bins)."""
    f = framing("logspec", sample_rate, win_ms, hop_ms, n_fft)
    return FrameExtractor(f, f.n_fft // 2 + 1, lambda tf, x: tf.math.log(_power(tf, x, f) + LOG_FLOOR))


def make_raw(sample_rate=16000, win_ms=25.0, hop_ms=10.0):
    """Waveform frames (one window of samples per frame)."""
    f = framing("raw", sample_rate, win_ms, hop_ms)
    return FrameExtractor(f, f.win, lambda tf, x: tf.signal.frame(x, f.win, f.hop))


@hookimpl
def serzoo_register_features(register):
    register(Feature(
        name="logmel", factory=make_logmel, params=(*_FRAMING, _FFT, *_MEL, _DELTAS),
        description="log mel filter-bank energies (tf.signal), optional deltas and delta-deltas",
    ))
    register(Feature(
        name="mfcc", factory=make_mfcc,
        params=(*_FRAMING, _FFT, *_MEL, Param("n_mfcc", "int", 13, "cepstral coefficients kept"), _DELTAS),
        description="mel-frequency cepstral coefficients (tf.signal), optional deltas and delta-deltas",
    ))
    register(Feature(
        name="logspec", factory=make_logspec, params=(*_FRAMING, _FFT),
        description="log power spectrogram (tf.signal STFT, Hann window)",
    ))
    register(Feature(
        name="raw", factory=make_raw, params=_FRAMING,
        description="raw waveform frames, one analysis window of samples per frame",
    ))
