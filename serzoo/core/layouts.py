"""Layouts: the one definition of how an example's features are arranged, in the file and in the model.

A :class:`Layout` ties a model-side name (``volume``, ``frames``, ``sequence``,
``vector``; what blocks declare they accept and produce) to the SER_FEAT_EXT
file layout that stores it (``3d``, ``2d``, ``1d``, ``flat``). Both arrangements
are written as axis symbols, and everything else is derived from them: the rank,
the feature axis, detection from a ``feat`` shape, the file-to-model conversion,
the file shape to build and how one utterance's features become one file row.

:data:`LAYOUTS` lists the layouts from the richest structure to the poorest and
:data:`ADAPTERS` the conversions the assembler may insert between them. Every
other module looks layouts up here, at call time, so adding one means adding one
record (and its adapters) to these two tables. Plain Python: NumPy is imported when
rows are converted, Keras only when an adapter is built, so the component records
that import this module stay free of both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from serzoo.core.errors import DataError, LayoutError, RegistrationError

if TYPE_CHECKING:
    import numpy as np

#: Axis symbols. ``T``: time steps; ``C``: consecutive frames per step (the context window);
#: ``D``: features per frame (per utterance in ``flat``); ``C*D``: context and features merged;
#: ``1``: an axis of size one (SER_FEAT_EXT's singleton in the file, the channel axis in the model).
SYMBOLS = ("T", "C", "D", "C*D", "1")

#: the layout the task heads take: one vector per utterance
HEAD_LAYOUT = "vector"


@dataclass(frozen=True)
class Layout:
    """One layout: its names, its axes in the file and in the model, and what follows from them.

    Args:
        name: model-side name, what blocks declare (``frames``).
        file_layout: the SER_FEAT_EXT name of the stored layout (``2d``).
        file_axes: axes of one file row (rows excluded), as :data:`SYMBOLS` (``("T", "1", "C", "D")``).
        model_axes: axes of one model example, channels-last: the file axes without the
            ``1`` axes, plus a trailing ``1`` when the model wants a channel axis.
        description: one line for users.
    """

    name: str
    file_layout: str
    file_axes: tuple[str, ...]
    model_axes: tuple[str, ...]
    description: str = ""

    def __post_init__(self):
        where = f"layout {self.name!r}"
        if any(a not in SYMBOLS for a in (*self.file_axes, *self.model_axes)):
            raise RegistrationError(f"{where}: axes must be among {', '.join(SYMBOLS)}")
        core = tuple(a for a in self.file_axes if a != "1")
        if tuple(a for a in self.model_axes if a != "1") != core or "1" in self.model_axes[:-1]:
            raise RegistrationError(f"{where}: model axes {self.model_axes} must be the file axes {self.file_axes} "
                                    "without their '1' axes, plus an optional trailing channel axis '1'")
        if "T" in core and core[0] != "T":
            raise RegistrationError(f"{where}: time must be the first axis that is not '1'")
        if "T" not in core and core != ("D",):
            raise RegistrationError(f"{where}: a layout without time holds one utterance-level vector, axes ('D',)")

    # -- derived facts -------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        """Axes of one model example, batch excluded."""
        return len(self.model_axes)

    @property
    def feature_axis(self) -> int:
        """The (negative) model axis that holds the features: the last one, before a channel axis."""
        return -2 if self.model_axes[-1] == "1" else -1

    @property
    def frame_level(self) -> bool:
        """True when a file row is built from frame features; False when from one utterance-level vector."""
        return "T" in self.file_axes

    @property
    def file_shape_text(self) -> str:
        """The stored shape with rows first, such as ``(N, T, 1, C, D)``."""
        return "(N, " + ", ".join(self.file_axes) + ")"

    # -- reading -------------------------------------------------------------------------------

    def matches(self, shape: Sequence[int]) -> bool:
        """Whether a ``feat`` shape (rows first) can be stored in this layout."""
        return len(shape) == 1 + len(self.file_axes) and all(
            int(size) == 1 for size, axis in zip(shape[1:], self.file_axes) if axis == "1")

    def model_shape(self, row_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of one model example from the shape of one file row: ``(T, 1, C, D)`` -> ``(T, C, D, 1)``."""
        return self._core(row_shape) + ((1,) if self.model_axes[-1] == "1" else ())

    def _core(self, row_shape: Sequence[int]) -> tuple[int, ...]:
        """The sizes of the axes that are not ``1``: what file and model rows share."""
        return tuple(int(s) for s, axis in zip(row_shape, self.file_axes) if axis != "1")

    def to_model(self, block: np.ndarray) -> np.ndarray:
        """Rows in file layout -> float32 rows in model layout (channels-last)."""
        import numpy as np

        block = np.asarray(block, dtype=np.float32)
        # only axes of size one move, so a reshape is the whole conversion
        return block.reshape((block.shape[0], *self.model_shape(block.shape[1:])))

    # -- building ------------------------------------------------------------------------------

    def file_shape(self, n: int, steps: int, context: int, dim: int) -> tuple[int, ...]:
        """Shape of the ``feat`` dataset to build: ``n`` rows of ``steps`` steps of ``context`` frames of ``dim``.

        A layout uses only the sizes it has axes for: ``flat`` is ``(n, dim)``.
        """
        sizes = {"T": steps, "C": context, "D": dim, "C*D": context * dim, "1": 1}
        return (int(n), *(int(sizes[axis]) for axis in self.file_axes))

    def arrange(self, features: np.ndarray, steps: int = 1, context: int = 1) -> tuple[np.ndarray, int]:
        """Arrange one utterance's features into one file row, zero-padded at the end.

        Args:
            features: ``(frames, D)`` frame features for a frame-level layout, grouped into
                non-overlapping windows of ``context`` frames (SER_FEAT_EXT's context windows;
                only complete windows are kept); ``(D,)`` one utterance-level vector for ``flat``.
            steps: time steps per row.
            context: frames per time step.

        Returns:
            ``(row, used)``: the float32 row and the number of valid time steps in it
            (1 for an utterance-level vector).

        Raises:
            LayoutError: features of the other kind (frames for ``flat``, a vector for ``1d``).
        """
        import numpy as np

        features = np.asarray(features)
        if not self.frame_level:
            if features.ndim != 1:
                raise LayoutError(f"layout {self.file_layout} stores one utterance-level vector per row, "
                                  f"not features shaped {features.shape}; use a frame-level layout or extractor")
            return features.astype(np.float32).reshape(self.file_shape(1, 1, 1, len(features))[1:]), 1
        if features.ndim != 2:
            raise LayoutError(f"layout {self.file_layout} is built from (frames, D) features, "
                              f"not features shaped {features.shape}; use the flat layout for one vector")
        dim = features.shape[1]
        used = min(len(features) // context, steps)
        shape = self.file_shape(1, steps, context, dim)[1:]
        core = np.zeros(self._core(shape), np.float32)  # time first (checked on construction)
        core[:used] = features[: used * context].reshape(used, *core.shape[1:])
        return core.reshape(shape), used


@dataclass(frozen=True)
class Adapter:
    """A conversion the assembler inserts between two layouts.

    Args:
        src: the layout it takes.
        dst: the layout it gives.
        name: what plans show and save (``flatten_steps``); one name is one transformation.
        build: ``build(x, prefix) -> y`` over Keras tensors; imports Keras itself and names
            its layers ``{prefix}_{name}``.
    """

    src: str
    dst: str
    name: str
    build: Callable[[Any, str], Any]


def _same(x, prefix: str):
    return x


def _flatten_steps(x, prefix: str):
    from keras import layers

    width = 1
    for size in x.shape[2:]:
        width *= size
    return layers.Reshape((-1, width), name=f"{prefix}_flatten_steps")(x)


def _average_time(x, prefix: str):
    from keras import layers

    return layers.GlobalAveragePooling1D(name=f"{prefix}_average_time")(x)


#: every layout, from the richest structure to the poorest (ties between blocks' layouts go to the richest)
LAYOUTS: tuple[Layout, ...] = (
    Layout("volume", "3d", ("1", "T", "C", "D"), ("T", "C", "D", "1"),
           "one 3-D volume per utterance (3-D convolution over time x context x features)"),
    Layout("frames", "2d", ("T", "1", "C", "D"), ("T", "C", "D", "1"),
           "one 2-D map per time step (context x features)"),
    Layout("sequence", "1d", ("T", "C*D"), ("T", "C*D"), "a sequence of vectors"),
    Layout("vector", "flat", ("D",), ("D",), "one vector per utterance"),
)

#: the conversions the assembler inserts by itself; longer ones chain these
ADAPTERS: tuple[Adapter, ...] = (
    Adapter("volume", "frames", "as_frames", _same),  # the same tensor: a volume is also one map per step
    Adapter("volume", "sequence", "flatten_steps", _flatten_steps),
    Adapter("frames", "sequence", "flatten_steps", _flatten_steps),
    Adapter("sequence", "vector", "average_time", _average_time),
)


# -- lookups (read the tables at call time, so a layout added to them reaches every consumer) ------


def names() -> tuple[str, ...]:
    """Model-side names, richest first: ``volume, frames, sequence, vector``."""
    return tuple(lay.name for lay in LAYOUTS)


def file_layouts() -> tuple[str, ...]:
    """File layout names in SER_FEAT_EXT's order: ``1d, 2d, 3d, flat``."""
    return tuple(sorted(lay.file_layout for lay in LAYOUTS))


def buildable(frame_level: bool = True) -> tuple[str, ...]:
    """File layouts a builder can write from frame features (or, with False, from utterance-level vectors)."""
    return tuple(sorted(lay.file_layout for lay in LAYOUTS if lay.frame_level == frame_level))


def find(name: str, side: str = "any") -> Layout | None:
    """The layout named ``name`` on ``side`` (``model``, ``file`` or ``any``), or None."""
    for lay in LAYOUTS:
        if (side != "file" and lay.name == name) or (side != "model" and lay.file_layout == name):
            return lay
    return None


def get(name: str) -> Layout:
    """The layout with this model or file name.

    Raises:
        LayoutError: no such layout, listing both kinds of names.
    """
    lay = find(name)
    if lay is None:
        raise LayoutError(f"unknown layout {name!r}; expected one of {', '.join(names())} "
                          f"(or a file layout: {', '.join(file_layouts())})")
    return lay


def detect(shape: Sequence[int], hint: str | None = None, where: str = "feat") -> Layout:
    """The file layout of a ``feat`` array from its shape.

    Args:
        shape: shape of the ``feat`` dataset, rows first.
        hint: the file layout stored in the file or asked for; settles the one ambiguous
            case, a 5-D array with a single time step (``2d`` without a hint).
        where: what to name in errors.

    Raises:
        DataError: the shape fits no layout, or contradicts ``hint``.
    """
    by_file = sorted(LAYOUTS, key=lambda lay: lay.file_layout)
    found = [lay for lay in by_file if lay.matches(shape)]
    if not found:
        shapes = []
        for lay in sorted(by_file, key=lambda lay: len(lay.file_axes)):
            alike = sum(len(other.file_axes) == len(lay.file_axes) for other in LAYOUTS) > 1
            shapes.append(lay.file_shape_text + (f" for {lay.file_layout}" if alike else ""))
        expected = f"{', '.join(shapes[:-1])} or {shapes[-1]}" if len(shapes) > 1 else shapes[0]
        raise DataError(f"{where}: shape {tuple(shape)} fits no layout; expected {expected}")
    if hint:
        chosen = next((lay for lay in found if lay.file_layout == hint), None)
        if chosen is None:
            fits = ", ".join(lay.file_layout for lay in found)
            raise DataError(f"{where}: shape {tuple(shape)} is not layout {hint!r}; it fits {fits}")
        return chosen
    return found[0]


def adapter(name: str) -> Adapter:
    """The adapter called ``name``.

    Raises:
        LayoutError: no adapter has that name (a plan saved by another version).
    """
    for item in ADAPTERS:
        if item.name == name:
            return item
    raise LayoutError(f"unknown layout adapter {name!r}; known: {', '.join(sorted({a.name for a in ADAPTERS}))}")


def adapter_path(src: str, dst: str) -> list[str] | None:
    """Adapter names that turn layout ``src`` into ``dst`` (empty when equal), or None when none can."""
    queue, seen = deque([(src, [])]), {src}
    while queue:
        layout, path = queue.popleft()
        if layout == dst:
            return path
        for item in ADAPTERS:
            if item.src == layout and item.dst not in seen:
                seen.add(item.dst)
                queue.append((item.dst, [*path, item.name]))
    return None
