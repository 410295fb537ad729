"""Choosing, stacking and recording feature extractors (the ``features`` plugin kind).

The options of an extractor are declared once, as the ``Param``s of its
registered :class:`~serzoo.core.registry.Feature`; the builder, the audio
loader and the CLI all resolve them here. Several frame-level extractors stack
frame by frame (equal hops; frames aligned at the start and cut to the
shortest), several utterance-level ones side by side. The database records each
extractor with its resolved options, so a model can compute the same features
later. Nothing here imports TensorFlow; the extractors' factories may.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from serzoo.core.errors import ConfigError, DataError
from serzoo.core.registry import parse_dotted_options

#: options that may be given once for every chosen extractor that declares them
#: (``--sample-rate 8000`` instead of ``--feature-opt logmel.sample_rate=8000 --feature-opt mfcc...``)
SHARED_OPTIONS = {
    "sample_rate": "Sample rate in Hz the features are computed at; 0: the files' own rate.",
    "win_ms": "Analysis window in ms.",
    "hop_ms": "Frame step in ms.",
    "n_fft": "FFT length; 0: the next power of two at or above the window.",
    "n_mels": "Mel bands.",
    "fmin": "Lowest mel edge in Hz.",
    "fmax": "Highest mel edge in Hz; 0: half the sample rate.",
}

DEFAULT_FEATURES = "logmel"


@dataclass(frozen=True)
class FeatureSpec:
    """One chosen extractor and its resolved, typed options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_feature_opts(items) -> dict[str, dict[str, str]]:
    """Group ``NAME.OPTION=VALUE`` strings by extractor.

    Args:
        items: strings such as ``logmel.n_mels=64``, or an already grouped mapping.

    Raises:
        ConfigError: a string not of the form NAME.OPTION=VALUE.
    """
    if isinstance(items, Mapping):
        return {str(k): dict(v) for k, v in items.items()}
    return parse_dotted_options(items, "--feature-opt", "logmel.n_mels=64")


def _typed(component, option: str, value: Any) -> Any:
    param = component.param(option)
    return param.parse(value, f"{component.name}.") if isinstance(value, str) else value


def plan_features(names: Sequence[str] | str = DEFAULT_FEATURES, opts=None,
                  shared: Mapping[str, Any] | None = None) -> list[FeatureSpec]:
    """Resolve chosen extractors and their options, without running any of them.

    Args:
        names: extractor names, a list or comma-separated (``logmel,mfcc``).
        opts: per-extractor options, ``NAME.OPTION=VALUE`` strings or ``{name: {option: value}}``.
        shared: options applied to every chosen extractor that declares them (see
            :data:`SHARED_OPTIONS`), unless its own options override them; None values are ignored.

    Returns:
        One :class:`FeatureSpec` per extractor, in the order given.

    Raises:
        UnknownComponentError: an unknown extractor, with close matches.
        ConfigError: no extractor, a repeated one, an unknown option or value, options for an
            extractor that is not chosen, a shared option none of them has, or mixed levels.
    """
    from serzoo.core import plugin_manager

    listed = names.split(",") if isinstance(names, str) else list(names)
    listed = [n.strip() for n in listed if n and n.strip()]
    if not listed:
        raise ConfigError("no features given; name at least one, such as --features logmel (see `serzoo list features`)")
    registry = plugin_manager.features()
    chosen = [registry.get(n) for n in listed]
    if len({c.name for c in chosen}) < len(chosen):
        raise ConfigError(f"--features {','.join(listed)}: an extractor is named twice")
    levels = {c.level for c in chosen}
    if len(levels) > 1:
        raise ConfigError(f"--features {','.join(listed)}: frame-level and utterance-level extractors do not stack")
    given = parse_feature_opts(opts)
    for key, values in given.items():
        if registry.get(key).name not in {c.name for c in chosen}:
            raise ConfigError(f"--feature-opt {key}.{next(iter(values))}: {key} is not in --features {','.join(listed)}")
    shared = {k: v for k, v in (shared or {}).items() if v is not None}
    for option in shared:
        if not any(option in {p.name for p in c.params} for c in chosen):
            raise ConfigError(f"--{option.replace('_', '-')}: none of the features {','.join(listed)} has this option")
    specs = []
    for component in chosen:
        declared = {p.name for p in component.params}
        values = component.defaults()
        values.update({k: _typed(component, k, v) for k, v in shared.items() if k in declared})
        own = next((v for k, v in given.items() if registry.get(k) is component), {})
        values.update({k: _typed(component, k, v) for k, v in own.items()})
        specs.append(FeatureSpec(component.name, values))
    return specs


def with_file_rate(specs: Sequence[FeatureSpec], rates: set[int]) -> list[FeatureSpec]:
    """Fill ``sample_rate=0`` ("the files' own rate") with the rate all the files share.

    Raises:
        ConfigError: the files have several rates, so 0 does not name one.
    """
    out = []
    for spec in specs:
        if spec.options.get("sample_rate", None) == 0:
            if len(rates) != 1:
                raise ConfigError(f"the audio files have several sample rates ({', '.join(map(str, sorted(rates)))}); "
                                  f"choose one for {spec.name} with --sample-rate")
            spec = FeatureSpec(spec.name, {**spec.options, "sample_rate": next(iter(rates))})
        out.append(spec)
    return out


class FeatureStack:
    """The extractors of a list of specs, called as one: ``stack(samples, rate) -> features``.

    Args:
        specs: resolved specs (see :func:`plan_features`, :func:`with_file_rate`).

    Raises:
        ConfigError: an extractor's options do not make a feature, or frame steps differ.
    """

    def __init__(self, specs: Sequence[FeatureSpec]):
        from serzoo.core import plugin_manager

        registry = plugin_manager.features()
        self.specs = list(specs)
        components = [registry.get(s.name) for s in self.specs]
        self.level = components[0].level
        self.extractors = [c.factory(**s.options) for c, s in zip(components, self.specs)]
        self.dims = [int(e.dim) for e in self.extractors]
        self.dim = sum(self.dims)
        self.hop_ms = None
        if self.level == "frame":
            hops = {s.name: float(e.hop_ms) for s, e in zip(self.specs, self.extractors)}
            if len(set(hops.values())) > 1:
                shown = ", ".join(f"{n} {h:g} ms" for n, h in hops.items())
                raise ConfigError(f"features stack frame by frame only with equal hops; got {shown} "
                                  "(set one with --hop-ms)")
            self.hop_ms = next(iter(hops.values()))

    @property
    def sample_rate(self) -> int | None:
        """The rate of the first extractor that declares one."""
        return next((int(e.sample_rate) for e in self.extractors if getattr(e, "sample_rate", None)), None)

    def __call__(self, samples: np.ndarray, rate: int, where: str = "") -> np.ndarray:
        """Features of one utterance: ``(frames, dim)`` at frame level, ``(dim,)`` at utterance level.

        Raises:
            DataError: an extractor returned a shape other than it declared (naming it and ``where``).
        """
        outputs, resampled = [], {int(rate): samples}
        for spec, extractor, dim in zip(self.specs, self.extractors, self.dims):
            target = int(getattr(extractor, "sample_rate", 0) or rate)
            if target not in resampled:  # once per rate, however many extractors share it
                from serzoo.data.audio import resample

                resampled[target] = resample(samples, rate, target)
            out = np.asarray(extractor(resampled[target], target), dtype=np.float32)
            want = 2 if self.level == "frame" else 1
            if out.ndim != want or out.shape[-1] != dim:
                shape = "(frames, dim)" if want == 2 else "(dim,)"
                raise DataError(f"{where or 'audio'}: feature {spec.name!r} returned shape {out.shape}; "
                                f"expected {shape} with dim {dim}")
            outputs.append(out)
        if len(outputs) == 1:
            return outputs[0]
        if self.level == "frame":
            frames = min(len(o) for o in outputs)  # aligned at the start; window lengths may differ
            return np.concatenate([o[:frames] for o in outputs], axis=1)
        return np.concatenate(outputs)

    def from_file(self, path: Path | str) -> np.ndarray:
        """Features of one audio file."""
        from serzoo.data.audio import read_audio

        samples, rate = read_audio(path)
        return self(samples, rate, where=str(path))

    def record(self) -> list[dict[str, Any]]:
        """What a database stores per extractor: name, level, resolved options, dim (and hop)."""
        return [
            {"name": s.name, "level": self.level, "options": dict(s.options), "dim": d,
             **({"hop_ms": self.hop_ms} if self.hop_ms is not None else {})}
            for s, d in zip(self.specs, self.dims)
        ]


def feature_attrs(stack: FeatureStack, **shape: Any) -> dict[str, Any]:
    """The ``features`` attribute of a database built with ``stack``.

    The list under ``extractors`` is what prediction reuses; the flat keys of the
    first extractor (``feature``, ``sample_rate``, ``n_mels``, ...) keep the
    attribute readable as databases of earlier serzoo versions wrote it.
    """
    first = dict(stack.specs[0].options)
    return {
        **first,
        "feature": "+".join(s.name for s in stack.specs),
        "dim": stack.dim,
        **({"hop_ms": stack.hop_ms} if stack.hop_ms is not None else {}),
        **({"sample_rate": stack.sample_rate} if stack.sample_rate else {}),
        "extractors": stack.record(),
        **shape,
    }


#: option names of the single extractor that databases of earlier versions described with flat keys
_LEGACY_KEYS = ("sample_rate", "win_ms", "hop_ms", "n_fft", "n_mels", "fmin", "fmax")


def recorded_features(attrs: Mapping[str, Any]) -> list[FeatureSpec]:
    """The extractors a database was built with, for databases of this and earlier versions.

    Returns:
        The specs, or an empty list when the database does not say (built elsewhere).
    """
    settings = attrs.get("features")
    if not isinstance(settings, Mapping):
        return []
    if isinstance(settings.get("extractors"), list):
        return [FeatureSpec(str(e["name"]), dict(e.get("options") or {})) for e in settings["extractors"]]
    if settings.get("feature"):
        from serzoo.core import plugin_manager

        name = str(settings["feature"])
        keys = set(_LEGACY_KEYS)
        if name in plugin_manager.features():  # older files also list options their feature did not use
            keys &= {p.name for p in plugin_manager.features().get(name).params}
        return [FeatureSpec(name, {k: settings[k] for k in _LEGACY_KEYS if k in settings and k in keys})]
    return []
