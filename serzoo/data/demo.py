"""A small synthetic emotional-speech corpus, generated on the fly, for a first run without data.

Each utterance is a train of voiced "syllables": a harmonic source whose pitch
contour, loudness and syllable rate depend on the emotion, shaped by a few
vowel-like resonances, spoken by one of several synthetic speakers (each with
its own pitch range and timbre), with a little breath noise. The wav files
and meta table are written to a temporary folder and go through the same
:func:`~serzoo.data.build.build_database` path as real audio.
"""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core import layouts
from serzoo.core.errors import OutputError
from serzoo.core.files import reason
from serzoo.data.build import build_database

#: bump when the generated corpus changes, so cached copies are rebuilt
DEMO_VERSION = 1
RATE = 16000

EMOTIONS = ("neutral", "happy", "angry", "sad")
AROUSAL = ("low", "high")
VALENCE = ("negative", "positive")
#: emotion -> (arousal, valence) class indices
_DIMENSIONS = {"neutral": (0, 1), "happy": (1, 1), "angry": (1, 0), "sad": (0, 0)}

#: emotion -> pitch factor, pitch contour slope over the utterance (octaves), pitch
#: excursion per syllable (octaves), loudness, syllables per second, spectral tilt
_STYLE = {
    "neutral": (1.00, -0.10, 0.05, 0.35, 4.0, 1.3),
    "happy": (1.25, 0.35, 0.30, 0.60, 5.5, 1.1),
    "angry": (1.15, -0.45, 0.15, 0.90, 6.0, 0.7),
    "sad": (0.85, -0.30, 0.03, 0.20, 2.6, 1.8),
}

#: vowel-like resonances (Hz) cycled over the syllables
_VOWELS = ((700, 1200), (400, 2000), (300, 900), (500, 1700))


def _speakers(n: int, rng: np.random.Generator) -> list[dict]:
    """Speakers alternate low/high voices, each with its own base pitch and vocal-tract scale."""
    out = []
    for s in range(n):
        high = s % 2 == 1
        out.append({
            "f0": rng.uniform(190, 240) if high else rng.uniform(100, 135),
            "tract": rng.uniform(1.05, 1.2) if high else rng.uniform(0.9, 1.0),
            "gender": int(high),
        })
    return out


def synthesize(emotion: str, speaker: dict, rng: np.random.Generator) -> np.ndarray:
    """One utterance (float32 samples at 16 kHz) of an emotion by a speaker."""
    pitch, slope, excursion, loudness, rate, tilt = _STYLE[emotion]
    rate *= rng.uniform(0.85, 1.15)
    n_syll = int(rng.integers(2, 5))
    syll_len = 1.0 / rate
    duration = n_syll * syll_len + 0.2
    t = np.arange(int(duration * RATE)) / RATE
    pos = t / duration
    # pitch contour in octaves: a global slope plus a bump per syllable, with jitter
    octaves = slope * (pos - 0.5) + np.log2(pitch * rng.uniform(0.93, 1.07))
    syll_phase = np.clip((t - 0.1) / syll_len, 0, n_syll)
    octaves += excursion * np.sin(np.pi * (syll_phase % 1.0))
    f0 = speaker["f0"] * 2.0 ** octaves
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    vowel = np.array(_VOWELS[int(rng.integers(len(_VOWELS)))], float) * speaker["tract"]
    signal = np.zeros_like(t)
    for h in range(1, 40):
        freq = h * f0
        gain = h ** -tilt * sum(1.0 / (1.0 + ((freq - fmt) / 120.0) ** 2) for fmt in vowel)
        gain = np.where(freq < RATE / 2 - 200, gain, 0.0)
        signal += gain * np.sin(h * phase)
    # syllable envelope: voiced bursts with short pauses between them
    inside = (t >= 0.1) & (syll_phase < n_syll)
    envelope = np.where(inside, np.sin(np.pi * np.clip((syll_phase % 1.0) / 0.8, 0, 1)) ** 2, 0.0)
    signal *= envelope / (np.abs(signal).max() + 1e-9)
    signal = loudness * rng.uniform(0.8, 1.2) * signal + 0.01 * rng.standard_normal(len(t))
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((samples * 32767).astype("<i2").tobytes())


def write_demo_audio(folder, seed: int = 0, speakers: int = 6, per_class: int = 8,
                     emotions: tuple[str, ...] = EMOTIONS) -> Path:
    """Write the demo wav files and their meta table (emotions indexed in ``emotions``); returns the table's path."""
    folder = Path(folder)
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["file\temotion\tarousal\tvalence\tspeaker\tgender"]
    for s, speaker in enumerate(_speakers(speakers, rng)):
        for e, emotion in enumerate(emotions):
            for k in range(per_class):
                name = f"wav/spk{s}_{emotion}_{k}.wav"
                _write_wav(folder / name, synthesize(emotion, speaker, rng))
                arousal, valence = _DIMENSIONS[emotion]
                lines.append(f"{name}\t{e}\t{arousal}\t{valence}\t{s}\t{speaker['gender']}")
    meta = folder / "meta.tsv"
    meta.write_text("\n".join(lines) + "\n")
    return meta


def make_demo(out_path, seed: int = 0, speakers: int = 6, per_class: int = 8,
              progress: Callable[[int, int], None] | None = None, emotions: tuple[str, ...] = EMOTIONS,
              labels: tuple[str, ...] = ("emotion", "arousal", "valence"), **feature_options) -> Path:
    """Generate the demo corpus and build it into an HDF5 database.

    Args:
        out_path: the ``.h5`` file to write.
        seed: seeds speakers and utterances; the same seed gives the same corpus.
        speakers: synthetic speakers (the groups, for leave-one-speaker-out).
        per_class: utterances per emotion and speaker.
        progress: called as ``progress(done, total)`` during feature extraction.
        emotions: the emotions spoken (a subset of :data:`EMOTIONS` makes a corpus with other
            classes, for aggregated-corpus tests).
        labels: the label columns to keep (fewer make a corpus without some tasks).
        **feature_options: passed to :func:`build_database` (``features``, ``feature_opts``, ``layout``, ...).

    Returns:
        The path written. Labels: ``emotion`` (4 classes), ``arousal`` and ``valence`` (2 each).
    """
    options = {"max_steps": 150, **feature_options}  # 1.5 s keeps training fast
    with tempfile.TemporaryDirectory(prefix="serzoo-demo-") as tmp:
        try:
            meta = write_demo_audio(tmp, seed=seed, speakers=speakers, per_class=per_class, emotions=tuple(emotions))
        except OSError as exc:
            raise OutputError(f"cannot write the demo's audio to the temporary folder {tmp}: {reason(exc)}") from None
        names = {"emotion": list(emotions), "arousal": list(AROUSAL), "valence": list(VALENCE)}
        return build_database(
            meta, out_path, labels=list(labels), group="speaker",
            class_names={k: v for k, v in names.items() if k in labels}, progress=progress, **options,
        )


def cache_dir() -> Path:
    """Where serzoo keeps generated data: ``$SERZOO_CACHE``, else ``~/.cache/serzoo``."""
    root = os.environ.get("SERZOO_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "serzoo"
    return Path(root)


#: context frames per time step of the demo corpus in the 2d and 3d layouts
DEMO_CONTEXT = 5


def default_demo_path(layout: str = "1d", echo: Callable[[str], None] | None = None) -> Path:
    """The built-in demo database in a file layout, generated once into the cache folder and reused.

    Args:
        layout: ``1d`` (the default), ``2d`` or ``3d`` (steps of 5 context frames) or ``flat``
            (utterance-level openSMILE-free statistics are not built in: flat is refused).
        echo: told, in one line, when the corpus is generated (it takes a few seconds).
    """
    suffix = "" if layout == "1d" else f"-{layout}"
    path = cache_dir() / f"demo-v{DEMO_VERSION}{suffix}.h5"
    if not path.exists():
        if echo is not None:
            echo(f"making the built-in demo corpus ({layout} layout) once, cached as {path}")
        # layouts with a context axis of their own get steps of several frames
        context = {"context": DEMO_CONTEXT} if "C" in layouts.get(layout).file_axes else {}
        # build_database writes a temporary file and renames it, so a crash leaves no half file
        make_demo(path, layout=layout, **context)
    return path
