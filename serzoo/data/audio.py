"""From wav files to frame features: PCM decoding, resampling and tf.signal front ends.

Decoding uses Python's ``wave`` module (integer PCM, any channel count, mixed
down to mono); resampling is a windowed-sinc polyphase filter in NumPy; the
spectral features come from ``tf.signal`` (STFT and mel filter bank).
TensorFlow is imported only when an extractor is made.
"""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from serzoo.core.errors import ConfigError, DataError

FEATURES = ("logmel", "logspec", "raw")

#: added to power before the log so silence (exact zeros) stays finite
LOG_FLOOR = 1e-6

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {3: "IEEE float", 6: "A-law", 7: "mu-law", 0x55: "MP3", 2: "ADPCM", 0x11: "IMA ADPCM"}


def _format_error(path, code: int) -> DataError:
    kind = _FORMAT_NAMES.get(code, f"format code {code}")
    return DataError(
        f"{path}: {kind} audio is not supported; convert it to 16-bit PCM "
        "(for example `sox IN -b 16 -e signed-integer OUT.wav` or `ffmpeg -i IN -c:a pcm_s16le OUT.wav`)"
    )


def _extensible_header(path) -> tuple[int, int, int, int, int]:
    """(channels, sample width, rate, data offset, data bytes) of a WAVE_FORMAT_EXTENSIBLE PCM file.

    Python 3.11's ``wave`` rejects the extensible header that many tools write
    for 24-bit or multichannel PCM, so its two chunks are read here.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise DataError(f"{path}: not a RIFF/WAVE file")
        fmt = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise DataError(f"{path}: WAV file has no data chunk")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(size + (size & 1))
            elif cid == b"data":
                if fmt is None:
                    raise DataError(f"{path}: WAV data chunk comes before its fmt chunk")
                _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
                sub = struct.unpack("<H", fmt[24:26])[0] if len(fmt) >= 26 else 0
                if sub != _WAVE_FORMAT_PCM:
                    raise _format_error(path, sub)
                return channels, (bits + 7) // 8, rate, fh.tell(), size
            else:
                fh.seek(size + (size & 1), 1)


def _decode(raw: bytes, width: int, channels: int) -> np.ndarray:
    frames = len(raw) // (width * channels)
    raw = raw[: frames * width * channels]
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{width * 8}-bit samples")
    return x.reshape(frames, channels).mean(axis=1) if channels > 1 else x


def wav_header(path) -> tuple[int, int]:
    """(number of samples, sample rate) of a PCM wav file, reading only its header.

    Raises:
        DataError: missing, unreadable or non-PCM file, naming it.
    """
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes(), w.getframerate()
    except wave.Error as exc:
        code = _unknown_format(exc)
        if code == _WAVE_FORMAT_EXTENSIBLE:
            channels, width, rate, _, size = _extensible_header(path)
            return size // (channels * width), rate
        if code is not None:
            raise _format_error(path, code) from None
        raise DataError(f"{path}: unreadable WAV file ({exc})") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such audio file") from None
    except (EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable WAV file ({exc or 'truncated header'})") from None


def _unknown_format(exc: Exception) -> int | None:
    text = str(exc)
    if text.startswith("unknown format:"):
        try:
            return int(text.split(":", 1)[1])
        except ValueError:
            return None
    return None


def read_wav(path) -> tuple[np.ndarray, int]:
    """Decode an integer-PCM wav file (8, 16, 24 or 32 bit, any channels) to mono float32 in [-1, 1].

    Returns:
        ``(samples, sample_rate)``.

    Raises:
        DataError: missing, unreadable, empty or non-PCM file, naming it.
    """
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        if _unknown_format(exc) != _WAVE_FORMAT_EXTENSIBLE:
            wav_header(path)  # raises the right message
            raise DataError(f"{path}: unreadable WAV file ({exc})") from None
        channels, width, rate, offset, size = _extensible_header(path)
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(size)
    except FileNotFoundError:
        raise DataError(f"{path}: no such audio file") from None
    except (EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable WAV file ({exc or 'truncated'})") from None
    try:
        samples = _decode(raw, width, channels)
    except ValueError as exc:
        raise DataError(f"{path}: {exc} are not supported; use 8, 16, 24 or 32-bit PCM") from None
    if samples.size == 0:
        raise DataError(f"{path}: the WAV file holds no samples")
    return samples, rate


def _kernel_table(up: int, down: int, half_width: int, rolloff: float, beta: float):
    """Windowed-sinc taps for each of the ``up`` fractional positions an output sample can fall on."""
    scale = min(1.0, up / down)  # below 1 when downsampling: the filter must cut below the new Nyquist
    cutoff = 0.5 * scale * rolloff  # cycles per input sample
    k_half = int(math.ceil(half_width / scale))
    offsets = np.arange(-k_half + 1, k_half + 1)
    frac = np.arange(up) / up  # row r: an output sample r/up of an input step past an input sample
    t = offsets[None, :] - frac[:, None]
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (t / k_half) ** 2, 0.0, 1.0))) / np.i0(beta)
    taps = 2 * cutoff * np.sinc(2 * cutoff * t) * window
    taps /= taps.sum(axis=1, keepdims=True)  # unit gain at DC for every phase
    return offsets, taps.astype(np.float32)


def resample(x: np.ndarray, rate_in: int, rate_out: int, half_width: int = 16,
             rolloff: float = 0.94, beta: float = 8.0) -> np.ndarray:
    """Resample a mono signal by a rational factor with a Kaiser-windowed sinc (polyphase).

    Args:
        x: samples at ``rate_in``.
        rate_in: input sample rate in Hz.
        rate_out: output sample rate in Hz.
        half_width: zero crossings of the sinc on each side (at the lower of the two rates).
        rolloff: cutoff as a share of the lower Nyquist frequency (anti-aliasing margin).
        beta: Kaiser window shape.

    Returns:
        ``round(len(x) * rate_out / rate_in)`` float32 samples.
    """
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    g = math.gcd(int(rate_in), int(rate_out))
    up, down = rate_out // g, rate_in // g
    offsets, taps = _kernel_table(up, down, half_width, rolloff, beta)
    pad = len(offsets)
    padded = np.concatenate([np.zeros(pad, np.float32), np.asarray(x, np.float32), np.zeros(pad, np.float32)])
    n_out = int(round(len(x) * up / down))
    out = np.empty(n_out, dtype=np.float32)
    step = max(1, (1 << 20) // len(offsets))  # bound the (samples x taps) index matrix
    for start in range(0, n_out, step):
        n = np.arange(start, min(n_out, start + step), dtype=np.int64)
        base = n * down // up
        phase = n * down % up
        segment = padded[pad + base[:, None] + offsets[None, :]]
        out[start:start + len(n)] = np.einsum("ij,ij->i", segment, taps[phase])
    return out


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
        samples, rate = read_wav(path)
        return self(samples, rate)
