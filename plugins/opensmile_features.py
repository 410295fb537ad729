"""openSMILE feature sets through the ``opensmile`` package (the optional extra ``serzoo[opensmile]``).

Low-level descriptors (frame level, 10 ms hop): eGeMAPSv02 (25 per frame) and
ComParE_2016 (65, optionally with their 65 deltas). Functionals (utterance
level, the flat layout): eGeMAPSv02 (88) and ComParE_2016 (6373), the classic
SER baselines. Prosodic contours (``pitch``: F0, voicing probability, log energy)
come from openSMILE too: its subharmonic-summation pitch tracker with Viterbi
smoothing is an established one, so serzoo does not hand-write its own. The extractors are registered whether or not the package is
installed, so ``serzoo list features`` shows them; making one without it is a
one-line error naming the extra.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import sys
import warnings

import numpy as np

from serzoo import Feature, Param, hookimpl
from serzoo.core.errors import ConfigError

#: openSMILE's frame step for both sets' low-level descriptors
HOP_MS = 10.0

#: signals are zero-padded to this length, so even a click gives one frame (openSMILE gives NaN below it)
MIN_SECONDS = 0.1

_RATE = Param("sample_rate", "int", 16000, "resample to this rate in Hz before openSMILE; 0: the files' own rate")


def _preload_smile_library() -> None:
    """Load openSMILE's C library bound to its own symbols, before the opensmile package loads it.

    Loaded after TensorFlow with the default flags, libSMILEapi resolves some symbols
    to TensorFlow's copies and crashes (a segfault in ``Smile.process_signal``);
    ``RTLD_DEEPBIND`` makes it prefer its own. The package's later ``LoadLibrary``
    of the same file gets this handle.
    """
    if "opensmile" in sys.modules or platform.system() != "Linux" or not hasattr(os, "RTLD_DEEPBIND"):
        return
    spec = importlib.util.find_spec("opensmile")
    if spec is None or not spec.origin:
        return
    core = os.path.join(os.path.dirname(os.path.realpath(spec.origin)), "core")
    library = os.path.join(core, "bin", f"manylinux_2_17_{platform.machine().lower()}", "libSMILEapi.so")
    if os.path.isfile(library):
        ctypes.CDLL(library, mode=os.RTLD_DEEPBIND | os.RTLD_LOCAL)


def _opensmile(name: str):
    try:
        _preload_smile_library()
        import opensmile
    except ImportError:
        raise ConfigError(f"feature {name!r} needs the opensmile package: pip install 'serzoo[opensmile]'") from None
    return opensmile


class OpenSmileExtractor:
    """One openSMILE feature set at one or more feature levels, side by side.

    Args:
        name: the registered name (for messages).
        feature_set: an ``opensmile.FeatureSet`` member name (``eGeMAPSv02``).
        levels: ``opensmile.FeatureLevel`` member names; LLDs and their deltas stack frame by frame.
        sample_rate: the rate openSMILE gets (resampled with the core's resampler).
        frame_level: True for descriptors (``(frames, dim)``), False for functionals (``(dim,)``).
        columns: keep only these descriptors, in this order (default: all).
    """

    def __init__(self, name: str, feature_set: str, levels: tuple[str, ...], sample_rate: int, frame_level: bool,
                 columns: tuple[str, ...] = ()):
        opensmile = _opensmile(name)
        if sample_rate <= 0:
            raise ConfigError(f"{name}: sample_rate must be positive (0, the files' own rate, is filled in when building)")
        self.sample_rate, self.frame_level = int(sample_rate), frame_level
        self.hop_ms = HOP_MS if frame_level else None
        self._smiles = [opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                                        feature_level=getattr(opensmile.FeatureLevel, level)) for level in levels]
        names = [n for smile in self._smiles for n in smile.feature_names]
        self._keep = [names.index(c) for c in columns] if columns else None
        self.feature_names = list(columns) if columns else names
        self.dim = len(self.feature_names)

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Features of one utterance: float32 ``(frames, dim)`` (descriptors) or ``(dim,)`` (functionals)."""
        from serzoo.data.audio import resample

        x = resample(samples, sample_rate, self.sample_rate)
        shortest = int(MIN_SECONDS * self.sample_rate)
        if len(x) < shortest:
            x = np.pad(x, (0, shortest - len(x)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "segment too short": padded above
            parts = [smile.process_signal(x, self.sample_rate).to_numpy(np.float32) for smile in self._smiles]
        if not self.frame_level:
            return np.concatenate([p.reshape(-1) for p in parts])
        frames = min(len(p) for p in parts)  # deltas run two frames longer; both start at 0 s
        out = np.concatenate([p[:frames] for p in parts], axis=1)
        return out if self._keep is None else out[:, self._keep]


#: the prosodic contours of ComParE_2016: SHS pitch (Viterbi-smoothed), its voicing probability, RMS energy
PITCH_COLUMNS = ("F0final_sma", "voicingFinalUnclipped_sma", "pcm_RMSenergy_sma")


class PitchExtractor(OpenSmileExtractor):
    """Pitch (Hz, 0 where unvoiced), voicing probability and log RMS energy per 10 ms frame."""

    def __init__(self, sample_rate: int):
        super().__init__("pitch", "ComParE_2016", ("LowLevelDescriptors",), sample_rate, True, PITCH_COLUMNS)

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        out = super().__call__(samples, sample_rate)
        out[:, 2] = np.log(out[:, 2] + 1e-6)  # energy spans decades; its log is what models compare
        return out


def make_egemaps_lld(sample_rate=16000):
    """eGeMAPSv02 low-level descriptors: pitch, jitter, shimmer, loudness, formants, ... (25 per frame)."""
    return OpenSmileExtractor("egemaps_lld", "eGeMAPSv02", ("LowLevelDescriptors",), sample_rate, True)


def make_compare_lld(sample_rate=16000, deltas=False):
    """ComParE_2016 low-level descriptors (65 per frame; 130 with their deltas)."""
    levels = ("LowLevelDescriptors", "LowLevelDescriptors_Deltas") if deltas else ("LowLevelDescriptors",)
    return OpenSmileExtractor("compare_lld", "ComParE_2016", levels, sample_rate, True)


def make_pitch(sample_rate=16000):
    """Pitch, voicing and energy contours (3 per frame) from openSMILE's ComParE_2016 descriptors."""
    return PitchExtractor(sample_rate)


def make_egemaps_functionals(sample_rate=16000):
    """eGeMAPSv02 functionals (88 per utterance)."""
    return OpenSmileExtractor("egemaps_functionals", "eGeMAPSv02", ("Functionals",), sample_rate, False)


def make_compare_functionals(sample_rate=16000):
    """ComParE_2016 functionals (6373 per utterance)."""
    return OpenSmileExtractor("compare_functionals", "ComParE_2016", ("Functionals",), sample_rate, False)


@hookimpl
def serzoo_register_features(register):
    register(Feature(
        name="egemaps_lld", factory=make_egemaps_lld, params=(_RATE,),
        description="openSMILE eGeMAPSv02 low-level descriptors, 25 per 10 ms frame (serzoo[opensmile])",
    ))
    register(Feature(
        name="compare_lld", factory=make_compare_lld,
        params=(_RATE, Param("deltas", "bool", False, "append the 65 deltas of the descriptors")),
        description="openSMILE ComParE_2016 low-level descriptors, 65 per 10 ms frame (serzoo[opensmile])",
    ))
    register(Feature(
        name="pitch", factory=make_pitch, params=(_RATE,),
        description="pitch (Hz, 0 unvoiced), voicing probability and log energy per 10 ms frame "
                    "(openSMILE SHS pitch; serzoo[opensmile])",
    ))
    register(Feature(
        name="egemaps_functionals", factory=make_egemaps_functionals, params=(_RATE,), level="utterance",
        description="openSMILE eGeMAPSv02 functionals, 88 per utterance (serzoo[opensmile])",
    ))
    register(Feature(
        name="compare_functionals", factory=make_compare_functionals, params=(_RATE,), level="utterance",
        description="openSMILE ComParE_2016 functionals, 6373 per utterance (serzoo[opensmile])",
    ))
