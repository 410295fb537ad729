"""Built-in data loaders: ``h5`` (SER_FEAT_EXT feature databases) and ``audio`` (meta table + audio files).

Like any third-party loader, these register through ``serzoo_register_loaders``;
their factories import the data modules (and TensorFlow, for audio) only when called.
The audio loader's feature options are those of the registered extractors
(``serzoo show feature NAME``), not a copy of them.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.core import layouts
from serzoo.core.registry import Loader, Param
from serzoo.data.features import DEFAULT_FEATURES, SHARED_OPTIONS


def _open_audio(path, labels="", group="auto", class_names="", features=DEFAULT_FEATURES, feature_opts="",
                max_steps=0, context=1, layout="auto", dtype="float32", **shared):
    from serzoo.data.build import cached_build
    from serzoo.data.demo import cache_dir
    from serzoo.data.h5io import read_h5

    classes = [spec for spec in class_names.split(";") if spec.strip()]
    opts = [item for item in feature_opts.split(";") if item.strip()] if isinstance(feature_opts, str) else feature_opts
    built = cached_build(
        path, cache_dir() / "audio", labels=labels or None, group=group or None,
        class_names=classes or None, features=features, feature_opts=opts, max_steps=max_steps,
        context=context, layout=layout, dtype=dtype,
        **{k: v for k, v in shared.items() if v not in ("", None)},
    )
    return read_h5(built)


@hookimpl
def serzoo_register_loaders(register):
    register(Loader(
        name="audio",
        description="tab-separated meta table of audio files and integer labels, built to features (cached)",
        factory=_open_audio,
        patterns=("*.tsv",),
        params=(
            Param("labels", "str", "", "label columns, comma-separated; empty: every column but the path and group"),
            Param("group", "str", "auto", "group column for folds; auto: speaker, group, corpus or session"),
            Param("class_names", "str", "", "class names, e.g. emotion=neutral,angry;arousal=low,high"),
            Param("features", "str", DEFAULT_FEATURES, "feature extractors, comma-separated (serzoo list features)"),
            Param("feature_opts", "str", "", "extractor options, e.g. logmel.n_mels=64;logmel.deltas=2"),
            *[Param(name, "str", "", f"{text[:-1]}; for every extractor that has it, "
                                            "empty: its own default")
              for name, text in SHARED_OPTIONS.items()],
            Param("max_steps", "int", 0, "frames kept per utterance; 0: the longest (at most 1000)"),
            Param("context", "int", 1, "consecutive frames per time step"),
            Param("layout", "choice", "auto", "file layout to build; auto: 1d for frames, flat for utterances",
                  choices=("auto", *layouts.file_layouts())),
            Param("dtype", "choice", "float32", "feature precision in the file", choices=("float32", "float64")),
        ),
    ))
