"""What a trained model is asked about: audio files, folders, meta tables or feature databases, as model input.

Audio becomes features exactly as ``serzoo data build`` made them for training:
the extractors and options the training database recorded (kept in the model's
metadata), stacked by :class:`~serzoo.data.features.FeatureStack`, then framed into
the file layout by :meth:`~serzoo.core.layouts.Layout.arrange` (same time steps,
context, padding and cropping). A database is read as it is, after checking that its
rows fit the model's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from serzoo.core import layouts
from serzoo.core.errors import ConfigError, DataError
from serzoo.data.features import FeatureStack, recorded_features
from serzoo.data.grouping import Grouping

#: file endings read as feature databases, and as meta tables (tab-separated, as `serzoo data build` reads)
DATABASE_SUFFIXES = (".h5", ".hdf5")
META_SUFFIXES = (".tsv", ".txt", ".csv")
#: file endings read as audio (what libsndfile decodes)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".snd", ".w64", ".mp3", ".opus")


@dataclass
class Utterances:
    """Model-layout features of some utterances, with whatever labels and groups their source had.

    Args:
        names: one name per row (the wav path, or ``DATABASE#row``).
        features: ``(N, *example_shape)`` float32.
        labels: label name -> ``(N,)`` values (NaN where a source had none).
        groupings: the source's groupings (speaker, ...), when it had any.
    """

    names: list[str]
    features: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    groupings: list[Grouping] = field(default_factory=list)


class Featurizer:
    """Features of raw audio as the model was trained on them: ``featurizer(samples, rate) -> example``.

    Args:
        settings: the training database's attributes (``Predictor.feature_settings``).
        file_layout: the training database's file layout.
        example_shape: the model's input shape, checked against what the settings make.
        where: the model, for error messages.

    Raises:
        ConfigError: the model records no feature settings (trained on a database built elsewhere).
    """

    def __init__(self, settings: dict, file_layout: str, example_shape: Sequence[int], where: str = "model"):
        specs = recorded_features(settings)
        if not specs:
            raise ConfigError(f"{where}: the model records no feature settings (its training database was not built "
                              "by `serzoo data build`), so it cannot predict on audio; give an HDF5 database instead")
        self.stack = FeatureStack(specs)
        shape = settings.get("features") or {}
        self.layout = layouts.get(file_layout)
        self.steps = int(shape.get("time_steps", 1) or 1)
        self.context = int(shape.get("context", 1) or 1)
        self.example_shape = tuple(int(s) for s in example_shape)
        self.where = where
        made = self.layout.model_shape(self.layout.file_shape(1, self.steps, self.context, self.stack.dim)[1:])
        if made != self.example_shape:
            raise DataError(f"{where}: its feature settings make examples shaped {made}, but its input is "
                            f"{self.example_shape}; the model's metadata does not describe its input")

    @property
    def sample_rate(self) -> int | None:
        return self.stack.sample_rate

    def min_seconds(self) -> float:
        """The shortest audio that fills one time step: one analysis window plus ``context - 1`` hops."""
        if self.stack.level != "frame":
            return 0.0
        win = max(float(s.options.get("win_ms", 0) or 0) for s in self.stack.specs)
        return (win + (self.context - 1) * float(self.stack.hop_ms or 0)) / 1000.0

    def __call__(self, samples: np.ndarray, rate: int, where: str = "") -> np.ndarray:
        """One example in model layout from mono samples at ``rate``."""
        row, _ = self.layout.arrange(self.stack(samples, rate, where=where), self.steps, self.context)
        return self.layout.to_model(row[None])[0]

    def files(self, paths: Sequence[Path], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Examples of audio files (decoded with :func:`~serzoo.data.audio.read_audio`)."""
        from serzoo.data.audio import read_audio

        out = np.empty((len(paths), *self.example_shape), np.float32)
        for i, path in enumerate(paths):
            samples, rate = read_audio(path)
            out[i] = self(samples, rate, where=str(path))
            if progress is not None:
                progress(i + 1, len(paths))
        return out


def kind_of(path: Path) -> str:
    """``folder``, ``database``, ``meta`` or ``audio`` by what ``path`` is.

    Raises:
        DataError: a missing path, or a file ending none of the kinds has.
    """
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    for kind, suffixes in (("database", DATABASE_SUFFIXES), ("meta", META_SUFFIXES), ("audio", AUDIO_SUFFIXES)):
        if suffix in suffixes:
            return kind
    raise DataError(f"{path}: unknown input type {suffix or '(no ending)'!r}; give audio files "
                    f"({', '.join(AUDIO_SUFFIXES[:4])}, ...), a folder of wav files, a meta table "
                    f"({', '.join(META_SUFFIXES)}) or a feature database ({', '.join(DATABASE_SUFFIXES)})")


def wav_files(folder: Path) -> list[Path]:
    """Every ``.wav`` file under ``folder``, recursively, sorted.

    Raises:
        DataError: there is none.
    """
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
    if not found:
        raise DataError(f"{folder}: the folder holds no .wav files")
    return found


def check_database_fits(db, example_shape: Sequence[int], settings: dict, where: str) -> None:
    """A database's rows fit the model's input and were computed like its training features.

    Raises:
        DataError: other shape (saying both), or other recorded extractors or options.
    """
    shape = tuple(int(s) for s in example_shape)
    if tuple(db.example_shape) != shape:
        raise DataError(f"{db.path}: its examples are shaped {tuple(db.example_shape)} ({db.file_layout} layout) "
                        f"but {where} takes {shape}; build the database with the model's feature settings")
    mine, theirs = recorded_features(settings), recorded_features(db.attrs)
    if mine and theirs and mine != theirs:
        said = lambda specs: "+".join(s.name for s in specs) + " " + str([s.options for s in specs])  # noqa: E731
        raise DataError(f"{db.path}: features {said(theirs)} differ from the model's {said(mine)}")


def from_database(path: Path, example_shape, settings: dict, where: str) -> Utterances:
    """Every row of a feature database, with its labels and groupings."""
    from serzoo.data.loading import open_database

    with open_database(path) as db:
        check_database_fits(db, example_shape, settings, where)
        features = db.features()
        names = db.utterances or [f"{path}#{i}" for i in range(db.n_rows)]
        labels = {name: db.labels[:, k].astype(np.float64) for k, name in enumerate(db.label_names)}
        return Utterances(list(names), features, labels, list(db.groupings.values()))


def _meta_rows(path: Path) -> tuple[list[Path], dict[str, np.ndarray], list[Grouping]]:
    """Wav paths, label columns (numbers only) and the usual group column of a meta table."""
    from serzoo.data.build import AUTO_GROUP_COLUMNS, read_meta

    meta = read_meta(path)
    group = next((c for c in AUTO_GROUP_COLUMNS if c in meta.header[1:]), None)
    groupings = [Grouping.from_values(group, [r[meta.header.index(group)] for r in meta.rows])] if group else []
    labels = {}
    for col, name in enumerate(meta.header[1:], start=1):
        if name == group:
            continue
        try:
            labels[name] = np.array([float(r[col]) if r[col] else np.nan for r in meta.rows])
        except ValueError:
            continue  # a text column (a transcript, a gender letter) is no label
    return meta.wav_paths(), labels, groupings


def read_inputs(paths: Sequence[Path | str], featurizer: Callable[[], Featurizer], example_shape,
                settings: dict, where: str, progress=None) -> Utterances:
    """All inputs, in the order given (a folder's wav files sorted, recursively).

    Args:
        paths: audio files, folders, meta tables and feature databases, mixed freely.
        featurizer: makes the :class:`Featurizer` when audio is first met (a model with no
            feature settings can still predict on databases).
        example_shape: the model's input shape.
        settings: the model's feature settings (``Predictor.feature_settings``).
        where: the model, for error messages.
        progress: ``progress(done, total)`` while audio is turned into features.
    """
    parts: list[Utterances] = []
    audio: list[Path] = []

    def flush():
        if audio:
            feats = featurizer().files(list(audio), progress)
            parts.append(Utterances([str(p) for p in audio], feats))
            audio.clear()

    for path in map(Path, paths):
        kind = kind_of(path)
        if kind == "audio":
            audio.append(path)
        elif kind == "folder":
            audio.extend(wav_files(path))
        else:
            flush()
            if kind == "database":
                parts.append(from_database(path, example_shape, settings, where))
            else:
                wavs, labels, groupings = _meta_rows(path)
                parts.append(Utterances([str(p) for p in wavs], featurizer().files(wavs, progress), labels, groupings))
    flush()
    return _concatenate(parts)


def _concatenate(parts: list[Utterances]) -> Utterances:
    """One set of utterances; labels a part lacks are NaN there, groupings kept only when there is one part."""
    if len(parts) == 1:
        return parts[0]
    names = [n for p in parts for n in p.names]
    features = np.concatenate([p.features for p in parts])
    label_names = list(dict.fromkeys(k for p in parts for k in p.labels))
    labels = {k: np.concatenate([p.labels.get(k, np.full(len(p.names), np.nan)) for p in parts])
              for k in label_names}
    return Utterances(names, features, labels, [])
