"""From audio files to samples: decoding (soundfile) and resampling (soxr).

Decoding uses ``soundfile`` (libsndfile: WAV in any PCM or float encoding,
FLAC, OGG, AIFF, ...), mixed down to mono float32; resampling uses ``soxr``
(libsoxr's high-quality filter). Both are imported only when audio is read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from serzoo.core.errors import ConfigError, DataError

FEATURES = ("logmel", "logspec", "raw")

#: added to power before the log so silence (exact zeros) stays finite
LOG_FLOOR = 1e-6


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


@dataclass(frozen=True)
class FeatureSettings:
    """How frames are computed; stored with a database so a model can carry them.

    Args:
        feature: ``logmel`` (log mel filter-bank energies), ``logspec`` (log power
            spectrogram) or ``raw`` (waveform frames).
        sample_rate: rate the audio is resampled to; 0 keeps the files' own rate.
        win_ms: analysis window length in milliseconds.
        hop_ms: step between frames in milliseconds.
        n_fft: FFT length; 0 means the next power of two at or above the window.
        n_mels: mel bands (``logmel``).
        fmin: lowest mel band edge in Hz.
        fmax: highest mel band edge in Hz; 0 means the Nyquist frequency.
    """

    feature: str = "logmel"
    sample_rate: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 0
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 0.0

    def resolved(self, file_rate: int | None = None) -> "FeatureSettings":
        """Fill the automatic values (rate, FFT length, fmax) and check them.

        Raises:
            ConfigError: values that do not make a feature.
        """
        if self.feature not in FEATURES:
            raise ConfigError(f"feature {self.feature!r}: choose one of {', '.join(FEATURES)}")
        rate = int(self.sample_rate or file_rate or 0)
        if rate <= 0:
            raise ConfigError("sample rate must be positive (0 keeps the files' own rate)")
        if self.win_ms <= 0 or self.hop_ms <= 0:
            raise ConfigError(f"window {self.win_ms} ms and hop {self.hop_ms} ms must be positive")
        win = int(round(rate * self.win_ms / 1000))
        n_fft = self.n_fft or 1 << max(0, (win - 1).bit_length())
        if n_fft < win:
            raise ConfigError(f"--n-fft {n_fft} is shorter than the {win}-sample window")
        fmax = self.fmax or rate / 2
        if self.feature == "logmel":
            if self.n_mels < 1:
                raise ConfigError(f"--n-mels must be at least 1, got {self.n_mels}")
            if not 0 <= self.fmin < fmax <= rate / 2:
                raise ConfigError(f"mel range {self.fmin:g}..{fmax:g} Hz must lie within 0..{rate / 2:g} Hz")
        return replace(self, sample_rate=rate, n_fft=n_fft, fmax=float(fmax))

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return max(1, int(round(self.sample_rate * self.hop_ms / 1000)))

    @property
    def dim(self) -> int:
        """Values per frame."""
        return {"logmel": self.n_mels, "logspec": self.n_fft // 2 + 1, "raw": self.win_length}[self.feature]

    def n_frames(self, n_samples: int) -> int:
        """Frames from ``n_samples`` at this rate (short signals are padded to one window)."""
        return 1 + max(0, n_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict:
        return {**asdict(self), "dim": self.dim, "log_floor": LOG_FLOOR if self.feature != "raw" else None}


class FeatureExtractor:
    """Compute (frames, dim) features for waveforms with one traced ``tf.signal`` graph.

    Args:
        settings: resolved :class:`FeatureSettings` (call ``resolved()`` first).
    """

    def __init__(self, settings: FeatureSettings):
        import tensorflow as tf

        self.settings = s = settings
        mel = None
        if s.feature == "logmel":
            mel = tf.signal.linear_to_mel_weight_matrix(
                num_mel_bins=s.n_mels, num_spectrogram_bins=s.n_fft // 2 + 1, sample_rate=s.sample_rate,
                lower_edge_hertz=s.fmin, upper_edge_hertz=s.fmax,
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def compute(x):
            if s.feature == "raw":
                return tf.signal.frame(x, s.win_length, s.hop_length)
            spec = tf.signal.stft(x, s.win_length, s.hop_length, fft_length=s.n_fft,
                                  window_fn=tf.signal.hann_window)
            power = tf.math.square(tf.math.abs(spec))
            if mel is not None:
                power = tf.linalg.matmul(power, mel)
            return tf.math.log(power + LOG_FLOOR)

        self._compute = compute

    def __call__(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Features of one utterance: resample to the target rate, then frame.

        Returns:
            float32 array of shape ``(n_frames, dim)``.
        """
        s = self.settings
        samples = resample(samples, rate, s.sample_rate)
        if len(samples) < s.win_length:
            samples = np.pad(samples, (0, s.win_length - len(samples)))
        return self._compute(samples).numpy()

    def from_file(self, path: Path | str) -> np.ndarray:
        """Features of one wav file."""
        samples, rate = read_audio(path)
        return self(samples, rate)
