"""Built-in data loaders: ``h5`` (SER_FEAT_EXT feature databases) and ``audio`` (meta table + wav files).

Like any third-party loader, these register through ``serzoo_register_loaders``;
their factories import the data modules (and TensorFlow, for audio) only when called.
"""

from __future__ import annotations

from serzoo import hookimpl
from serzoo.core import layouts
from serzoo.core.registry import Loader, Param

_FEATURES = ("logmel", "logspec", "raw")


def _open_h5(path, layout="auto"):
    from serzoo.data.h5io import read_h5

    return read_h5(path, layout=layout)


def _open_audio(path, labels="", group="auto", class_names="", feature="logmel", n_mels=40,
                sample_rate=16000, win_ms=25.0, hop_ms=10.0, max_steps=0, context=1, layout="1d"):
    from serzoo.data.build import cached_build
    from serzoo.data.demo import cache_dir
    from serzoo.data.h5io import read_h5

    classes = [spec for spec in class_names.split(";") if spec.strip()]
    built = cached_build(
        path, cache_dir() / "audio", labels=labels or None, group=group or None,
        class_names=classes or None, feature=feature, n_mels=n_mels, sample_rate=sample_rate,
        win_ms=win_ms, hop_ms=hop_ms, max_steps=max_steps, context=context, layout=layout,
    )
    return read_h5(built)


@hookimpl
def serzoo_register_loaders(register):
    register(Loader(
        name="h5",
        description="HDF5 feature database in SER_FEAT_EXT format (feat, label, start_indice/end_indice)",
        factory=_open_h5,
        patterns=("*.h5", "*.hdf5"),
        params=(
            Param("layout", "choice", "auto", "file layout; auto reads the layout attribute or the shape",
                  choices=("auto", *layouts.file_layouts())),
        ),
    ))
    register(Loader(
        name="audio",
        description="tab-separated meta table of wav files and integer labels, built to features (cached)",
        factory=_open_audio,
        patterns=("*.tsv",),
        params=(
            Param("labels", "str", "", "label columns, comma-separated; empty: every column but the path and group"),
            Param("group", "str", "auto", "group column for folds; auto: speaker, group, corpus or session"),
            Param("class_names", "str", "", "class names, e.g. emotion=neutral,angry;arousal=low,high"),
            Param("feature", "choice", "logmel", "frame features", choices=_FEATURES),
            Param("n_mels", "int", 40, "mel bands (logmel)"),
            Param("sample_rate", "int", 16000, "resample to this rate in Hz; 0 keeps the files' rate"),
            Param("win_ms", "float", 25.0, "analysis window in ms"),
            Param("hop_ms", "float", 10.0, "frame step in ms"),
            Param("max_steps", "int", 0, "frames kept per utterance; 0: the longest (at most 1000)"),
            Param("context", "int", 1, "consecutive frames per time step"),
            Param("layout", "choice", "1d", "file layout to build", choices=layouts.buildable()),
        ),
    ))
