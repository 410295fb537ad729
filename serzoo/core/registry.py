"""Component metadata and the registries that hold it.

Everything here is plain Python: a component declares its name, description,
parameters and (for blocks) the layouts it accepts and produces without
importing TensorFlow, so listing stays instant. The ``factory`` of a component
is only called when a model is built or trained; that is where TensorFlow may
be imported.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Mapping, TypeVar

from serzoo.core import layouts
from serzoo.core.errors import ConfigError, RegistrationError, UnknownComponentError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

PARAM_TYPES = ("int", "float", "bool", "str", "ints", "floats", "sizes", "choice")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One option of a component, with its type and default.

    Args:
        name: option name, a lowercase token (``filters``).
        type: one of ``int``, ``float``, ``bool``, ``str``, ``ints``, ``floats``
            (comma-separated lists on the command line), ``sizes`` (per-layer sizes
            over several axes: ``2x2,3x1``; see :func:`parse_sizes`) or ``choice``.
        default: value used when the option is not given.
        help: one line for ``serzoo show``.
        choices: allowed values for ``choice``.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    choices: tuple = ()

    def __post_init__(self):
        if not NAME_RE.match(self.name):
            raise RegistrationError(f"parameter name {self.name!r} must be lowercase letters, digits and '_'")
        if self.type not in PARAM_TYPES:
            raise RegistrationError(f"parameter {self.name!r}: type {self.type!r} is not one of {', '.join(PARAM_TYPES)}")
        if self.type == "choice" and not self.choices:
            raise RegistrationError(f"parameter {self.name!r}: a choice needs its choices")

    def parse(self, text: str, where: str = "") -> Any:
        """Convert a command-line string to this parameter's type.

        Raises:
            ConfigError: the text does not fit the type.
        """
        label = f"{where}{self.name}"
        try:
            if self.type == "int":
                return int(text)
            if self.type == "float":
                return _finite(float(text))
            if self.type == "bool":
                low = text.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            if self.type == "ints":
                return tuple(int(v) for v in text.split(",") if v.strip())
            if self.type == "floats":
                return tuple(_finite(float(v)) for v in text.split(",") if v.strip())
            if self.type == "sizes":
                return parse_sizes(text)
            if self.type == "choice":
                if text not in self.choices:
                    raise ValueError(text)
                return text
            return text
        except ValueError:
            expected = {
                "int": "an integer",
                "float": "a finite number",
                "bool": "true or false",
                "ints": "comma-separated integers such as 16,32",
                "floats": "comma-separated finite numbers such as 0.5,1",
                "sizes": "sizes per layer such as 2x2,3x1 (AxB per layer) or 3 or 3,5",
                "choice": "one of " + ", ".join(map(str, self.choices)),
            }[self.type]
            raise ConfigError(f"option {label}={text!r}: expected {expected}") from None

    def describe_type(self) -> str:
        if self.type == "choice":
            return "|".join(map(str, self.choices))
        return self.type


def _finite(value: float) -> float:
    """``value``, or ValueError for nan and infinities (no option of a component means them)."""
    if not math.isfinite(value):
        raise ValueError(value)
    return value


def parse_sizes(text: str) -> tuple:
    """Parse a ``sizes`` option: per-layer sizes over one or more axes.

    ``2x2,3x1`` (an ``x`` anywhere) gives one tuple per layer: ``((2, 2), (3, 1))``.
    Without ``x`` the value is a plain list of integers, ``3,5`` -> ``(3, 5)``,
    which a block reads as it always did: per axis for a 2-D or 3-D convolution
    (one size for all layers), per layer for a 1-D one.

    Raises:
        ValueError: an empty item or a size that is not an integer.
    """
    items = [item.strip() for item in str(text).split(",")]
    if any(not item for item in items):
        raise ValueError(text)
    if "x" not in str(text).lower():
        return tuple(int(item) for item in items)
    return tuple(tuple(int(v) for v in item.lower().split("x")) for item in items)


def parse_dotted_options(items, option: str = "--opt", example: str = "cnn2d.filters=16,32",
                         form: str = "NAME.OPTION=VALUE") -> dict[str, dict[str, str]]:
    """Group ``NAME.OPTION=VALUE`` strings (``--opt``, ``--feature-opt``, ``--augment-opt``) by component.

    Args:
        items: the strings given.
        option: the command-line option, for messages.
        example: a valid value, for messages.
        form: the expected form, for messages.

    Returns:
        ``{"cnn2d": {"filters": "16,32"}}``; values stay strings until the component's params type them.

    Raises:
        ConfigError: a string not of the form NAME.OPTION=VALUE.
    """
    result: dict[str, dict[str, str]] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        name, dot, key_option = key.strip().partition(".")
        if not sep or not dot or not name or not key_option or not value.strip():
            raise ConfigError(f"{option} {item!r}: expected {form}, such as {example}")
        result.setdefault(name.strip(), {})[key_option.strip()] = value.strip()
    return result


@dataclass
class Component:
    """Metadata every registered component shares.

    Args:
        name: the command-line token (lowercase letters, digits, ``_``).
        description: one line for ``serzoo list``.
        factory: called when the component is used; may import TensorFlow.
        params: the options it accepts.
        aliases: other names that resolve to this one.
        layer_modules: modules defining the custom Keras objects (layers, losses) the
            component uses; serzoo imports them before it loads a saved model.
        check: optional ``(options) -> None`` run on the resolved options before the
            component is used; raises ``ValueError`` (or ``ConfigError``) with one line
            saying which value is wrong and what would fit.
    """

    name: str
    description: str
    factory: Callable[..., Any]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    layer_modules: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any]], None] | None = None
    #: Filled in by the registry: the plugin that registered it.
    plugin: str = field(default="", compare=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        valid = ", ".join(p.name for p in self.params) or "none"
        raise ConfigError(f"{self.name} has no option {name!r}; valid options: {valid}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the full option dict: defaults overridden by ``given`` (names and values checked)."""
        values = self.defaults()
        for key, value in (given or {}).items():
            self.param(key)
            values[key] = value
        return self.validate(values)

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Run the component's ``check`` on resolved options.

        Raises:
            ConfigError: a value the component refuses, naming the component.
        """
        if self.check is not None:
            try:
                self.check(values)
            except ValueError as exc:
                raise ConfigError(f"{self.name}: {exc}") from None
        return values

    def row(self) -> dict[str, Any]:
        """The fields shown by ``serzoo list``."""
        return {"name": self.name, "plugin": self.plugin, "description": self.description}

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable metadata (``--format json``)."""
        return {
            **self.row(),
            "aliases": list(self.aliases),
            "params": [
                {"name": p.name, "type": p.type, "default": p.default, "help": p.help, "choices": list(p.choices)}
                for p in self.params
            ],
        }


@dataclass
class Block(Component):
    """A model block: a function ``factory(x, *, name, **options) -> y`` over Keras tensors.

    The factory gets one Keras functional tensor in a layout it accepts, every
    declared option as a keyword (resolved and typed), and ``name``: a prefix
    unique in the model (``b2_cnn2d``) that it must start each of its layers'
    names with (``b2_cnn2d_conv1``). ``name`` is therefore no option name.

    Args:
        layouts_in: the layouts (see :data:`serzoo.core.layouts.LAYOUTS`) the block accepts.
        layout_out: the layout it produces, or ``"same"`` for the input layout.
        out_rule: optional ``(layout_in, options) -> layout`` when the output
            depends on the options (an LSTM returning the sequence or the last state);
            ``layout_out`` then lists the possibilities for display, such as ``sequence|vector``.
    """

    layouts_in: tuple[str, ...] = ()
    layout_out: str = "same"
    out_rule: Callable[[str, Mapping[str, Any]], str] | None = None

    def __post_init__(self):
        known = layouts.names()
        bad = [lay for lay in self.layouts_in if lay not in known]
        if not self.layouts_in or bad:
            raise RegistrationError(
                f"block {self.name!r}: layouts_in must be a non-empty subset of {', '.join(known)}, got {self.layouts_in!r}"
            )
        outs = self.layout_out.split("|")
        if self.layout_out != "same" and any(o not in known for o in outs):
            raise RegistrationError(f"block {self.name!r}: layout_out {self.layout_out!r} is not 'same' or one of {', '.join(known)}")
        if len(outs) > 1 and self.out_rule is None:
            raise RegistrationError(f"block {self.name!r}: several output layouts need an out_rule")
        if any(p.name == "name" for p in self.params):
            raise RegistrationError(f"block {self.name!r}: 'name' is reserved for the layer-name prefix")

    def output_layout(self, layout_in: str, options: Mapping[str, Any]) -> str:
        if self.out_rule is not None:
            return self.out_rule(layout_in, options)
        return layout_in if self.layout_out == "same" else self.layout_out

    def row(self) -> dict[str, Any]:
        return {**super().row(), "layouts_in": ",".join(self.layouts_in), "layout_out": self.layout_out}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "layouts_in": list(self.layouts_in), "layout_out": self.layout_out}


TASK_TYPES = ("classification", "regression")


def _check_task_types(what: str, name: str, task_types: tuple[str, ...]) -> None:
    if not task_types or any(t not in TASK_TYPES for t in task_types):
        raise RegistrationError(
            f"{what} {name!r}: task_types must be a non-empty subset of {TASK_TYPES}, got {task_types!r}"
        )


@dataclass
class Loss(Component):
    """A loss: ``factory(num_classes=..., class_priors=..., **options) -> keras loss``.

    Args:
        task_types: the task types it fits (``classification``, ``regression``).
    """

    task_types: tuple[str, ...] = ("classification",)

    def __post_init__(self):
        _check_task_types("loss", self.name, self.task_types)

    def row(self) -> dict[str, Any]:
        return {**super().row(), "task_types": ",".join(self.task_types)}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "task_types": list(self.task_types)}


@dataclass
class Metric(Component):
    """An evaluation metric of one task on one split, in plain NumPy (no TensorFlow).

    ``factory`` computes it. For a classification task it is called as
    ``factory(cm)`` with the ``(K, K)`` integer confusion matrix (rows true
    classes, columns predicted), so that summing the matrices of folds or
    speakers and calling it again gives the pooled score. For a regression task
    it is called as ``factory(y_true, y_pred)`` with two float arrays of shape
    ``(n,)``. It returns a float, and ``nan`` for an empty input rather than
    raising. A metric listing both task types accepts both calls. Metrics take
    no options (``params`` stays empty): a variant is another registered name.

    Args:
        task_types: the task types it scores (``classification``, ``regression``).
        higher_is_better: the direction checkpoint selection follows; ``False``
            for errors such as MSE.
    """

    task_types: tuple[str, ...] = ("classification",)
    higher_is_better: bool = True

    def __post_init__(self):
        _check_task_types("metric", self.name, self.task_types)
        if self.params:
            raise RegistrationError(f"metric {self.name!r}: metrics take no options; register each variant by name")

    def compute(self, *args) -> float:
        """The metric's value: ``compute(cm)`` for classification, ``compute(y_true, y_pred)`` for regression."""
        return float(self.factory(*args))

    def row(self) -> dict[str, Any]:
        return {**super().row(), "task_types": ",".join(self.task_types),
                "better": "higher" if self.higher_is_better else "lower"}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "task_types": list(self.task_types), "higher_is_better": self.higher_is_better}


@dataclass
class Sampler(Component):
    """A training-set resampler; sees the training rows of a fold only.

    ``factory(y, x, rng, batch_size, **options)`` gets the class index of each
    training row (``y``, the driving label), the features (``x``; ``None``
    unless ``needs_features``), a ``numpy.random.Generator`` and the batch size.
    An index sampler returns an integer array of positions into ``y`` (repeats
    allowed) in the order training should see them, and is called once per
    epoch, with as many positions every epoch (the epoch's length in steps
    drives learning-rate schedules); a sampler with ``needs_features`` returns ``(x_new, y_new)``
    (synthetic rows allowed) and is called once per fold.
    """

    needs_features: bool = False

    def row(self) -> dict[str, Any]:
        return {**super().row(), "kind": "synthetic" if self.needs_features else "index"}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "needs_features": self.needs_features}


@dataclass
class Augmenter(Component):
    """A training-batch augmenter; it sees training batches only, never validation or test rows.

    ``factory(**options)`` returns ``augment(x, y, w, rng) -> (x, y, w)`` over one NumPy batch:
    ``x`` the features (float32, model layout, batch first), ``y`` the targets per task
    (one-hot rows for classification, values for regression), ``w`` the sample weights per
    task, and ``rng`` a ``numpy.random.Generator`` seeded per run, fold, epoch and batch (so
    augmented training is reproducible and resumes exactly). It must not change the shapes.

    Args:
        layouts: the model input layouts it can augment (see :func:`serzoo.core.layouts.names`).
    """

    layouts: tuple[str, ...] = field(default_factory=lambda: layouts.names())

    def __post_init__(self):
        known = layouts.names()
        bad = [lay for lay in self.layouts if lay not in known]
        if not self.layouts or bad:
            raise RegistrationError(f"augmenter {self.name!r}: layouts must be a non-empty subset of "
                                    f"{', '.join(known)}, got {self.layouts!r}")

    def row(self) -> dict[str, Any]:
        return {**super().row(), "layouts_in": ",".join(self.layouts)}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "layouts": list(self.layouts)}


@dataclass
class Loader(Component):
    """A data loader: ``factory(path, **options) -> serzoo.data.Database``.

    Args:
        patterns: shell-style file name patterns it handles (``*.h5``), used to
            pick a loader when the user names none.
    """

    patterns: tuple[str, ...] = ()

    def handles(self, path: str) -> bool:
        name = str(path).rsplit("/", 1)[-1]
        return any(fnmatch.fnmatch(name, pat) for pat in self.patterns)

    def row(self) -> dict[str, Any]:
        return {**super().row(), "files": ",".join(self.patterns)}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "patterns": list(self.patterns)}


@dataclass
class Splitter(Component):
    """A cross-validation protocol: chooses what each fold tests.

    ``factory(ctx, **options) -> list[serzoo.data.splits.Fold]`` gets a
    :class:`serzoo.data.splits.SplitContext` (the chosen grouping with a group id
    per row, the group selections of the command line, the seed) and returns one
    ``Fold`` per fold: the groups it tests or, without groups, the rows. The
    core builds each fold's training part from the groups left and holds its
    validation part out of the training groups only, so a splitter cannot leak
    test data into training or model selection.

    Args:
        grouping: the grouping it always splits by (``corpus`` for leave one corpus
            out); empty: the one chosen with ``--group-by``, else the database's first.
        summary: optional ``(ctx, options) -> str``, one line for the results
            (``5-fold by whole speaker groups``); default: the description.
    """

    grouping: str = ""
    summary: Callable[[Any, Mapping[str, Any]], str] | None = None

    def summarize(self, ctx: Any, options: Mapping[str, Any]) -> str:
        """The one-line description of this protocol as run, for the results."""
        return self.summary(ctx, options) if self.summary is not None else self.description

    def row(self) -> dict[str, Any]:
        return {**super().row(), "grouping": self.grouping or "chosen (--group-by)"}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "grouping": self.grouping or None}


#: the input name of every export (its outputs are named by task)
EXPORT_INPUT = "features"


@dataclass
class Exporter(Component):
    """A model export format (``serzoo export --format NAME``): ``factory(model, path, **options) -> (run, details)``.

    The factory writes the Keras ``model`` at ``path`` (a file ending in ``suffix``, or a
    folder when ``suffix`` is empty), its input named ``features`` and its outputs named
    by task. It returns ``run(x) -> {task: array}``, which loads what was written the way
    a user without serzoo would and runs it on a float32 batch of any size (serzoo checks
    every export against the Keras model with it), and ``details``: a dict for the sidecar
    JSON (such as ``{"batch": 1}`` for a fixed batch size). It imports its converter
    itself and raises ``ConfigError`` naming the package to install when it is missing.

    Args:
        suffix: the file suffix (``.onnx``), or ``""`` for a folder (a SavedModel).
        runtime: one line saying what runs the export without serzoo (``onnxruntime``).
    """

    suffix: str = ""
    runtime: str = ""

    def row(self) -> dict[str, Any]:
        return {**super().row(), "files": self.suffix or "folder", "runtime": self.runtime}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "suffix": self.suffix, "runtime": self.runtime}


#: what a feature extractor returns for one utterance: a sequence of frames, or one vector
FEATURE_LEVELS = ("frame", "utterance")


@dataclass
class Feature(Component):
    """A feature extractor: ``factory(**options) -> extractor``, turning audio into features.

    The extractor has ``dim`` (values per frame, or per utterance) and, at frame
    level, ``hop_ms`` (the frame step in milliseconds; extractors stack frame by
    frame only with equal steps); it may have ``sample_rate`` (the rate it works
    at). It is called as ``extractor(samples, sample_rate)`` with mono float32
    samples at any rate, resamples them itself as needed
    (:func:`serzoo.data.audio.resample`), and returns float32 ``(frames, dim)``
    (frame level) or ``(dim,)`` (utterance level). The factory checks its options
    (``ConfigError`` with one line) and may import TensorFlow or other heavy
    libraries. An option named ``sample_rate`` given as 0 means "the files' own
    rate": the builder fills in the rate of the files before calling the factory.

    Args:
        level: ``frame`` (a sequence of frames per utterance: the 1d/2d/3d layouts)
            or ``utterance`` (one vector per utterance: the flat layout).
    """

    level: str = "frame"

    def __post_init__(self):
        if self.level not in FEATURE_LEVELS:
            raise RegistrationError(f"feature {self.name!r}: level {self.level!r} is not one of {', '.join(FEATURE_LEVELS)}")

    def row(self) -> dict[str, Any]:
        return {**super().row(), "level": self.level}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "level": self.level}


C = TypeVar("C", bound=Component)


class Registry(Generic[C]):
    """The components of one kind, by name, and the policy for names two plugins both claim.

    Args:
        kind: plural noun used in messages (``blocks``).
        component_type: the metadata class its entries must be.
        distribution_of: ``plugin name -> distribution name`` (``""`` when unknown);
            components of :attr:`BUILTIN_DISTRIBUTION` are built-ins.
        on_clash: called with a one-line message when two components claim one name
            (see :meth:`register`); without it a clash raises and changes nothing.
    """

    #: Components of this distribution (built-in plugins and core modules) keep their names whatever the load order.
    BUILTIN_DISTRIBUTION = "serzoo"

    def __init__(self, kind: str, component_type: type[C], *,
                 distribution_of: Callable[[str], str] | None = None,
                 on_clash: Callable[[str], None] | None = None):
        self.kind = kind
        self.component_type = component_type
        self._items: dict[str, C] = {}
        self._aliases: dict[str, str] = {}
        self._distribution_of = distribution_of or (lambda plugin: "")
        self._on_clash = on_clash

    def register(self, component: C, *, plugin: str) -> C | None:
        """Add a component on behalf of ``plugin``.

        A name or alias that another component already holds is a clash. A
        built-in keeps its name whatever the load order; between two
        non-built-ins the first registration keeps it. Only the losing
        component is dropped: the other components of its plugin stay. With
        ``on_clash`` the registry reports the clash there (naming the component,
        both plugins and both distributions) and goes on; without it the clash
        raises before anything changes.

        Returns:
            The component, or ``None`` when it lost a clash.

        Raises:
            RegistrationError: wrong type, invalid name, or a clash without ``on_clash``.
        """
        self._check(component, plugin)
        rivals = self._rivals(component)
        if rivals:
            wins = self._is_builtin_plugin(plugin) and not any(self.is_builtin(r) for r in rivals)
            messages = [self._clash_message(component, plugin, rival, wins) for rival in rivals]
            if self._on_clash is None:
                raise RegistrationError(messages[0])
            for message in messages:
                self._on_clash(message)
            if not wins:
                return None
            for rival in rivals:
                self._remove(rival.name)
        component.plugin = plugin
        self._items[component.name] = component
        for alias in component.aliases:
            self._aliases[alias] = component.name
        return component

    def _check(self, component: C, plugin: str) -> None:
        if not isinstance(component, self.component_type):
            raise RegistrationError(
                f"plugin {plugin!r} registered {component!r} as one of the {self.kind}; "
                f"expected a serzoo.core.registry.{self.component_type.__name__}"
            )
        for name in (component.name, *component.aliases):
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise RegistrationError(
                    f"plugin {plugin!r}: {self.singular} name {name!r} is not a command-line token "
                    "(lowercase letters, digits and '_', starting with a letter)"
                )

    def _rivals(self, component: C) -> list[C]:
        """The registered components holding one of ``component``'s names or aliases."""
        rivals: list[C] = []
        for name in (component.name, *component.aliases):
            owner = self._items.get(self._aliases.get(name, name))
            if owner is not None and all(owner is not rival for rival in rivals):
                rivals.append(owner)
        return rivals

    @property
    def singular(self) -> str:
        """The kind in the singular, for messages (``loss``, ``block``)."""
        return self.kind[:-2] if self.kind.endswith("sses") else self.kind[:-1]

    def _is_builtin_plugin(self, plugin: str) -> bool:
        return self._distribution_of(plugin) == self.BUILTIN_DISTRIBUTION

    def is_builtin(self, component: C) -> bool:
        """Whether a registered component comes from serzoo itself (a built-in plugin or the core)."""
        return self._is_builtin_plugin(component.plugin)

    def _origin(self, plugin: str) -> str:
        dist = self._distribution_of(plugin)
        return f"plugin {plugin!r} ({f'distribution {dist}' if dist else 'no distribution'})"

    def _clash_message(self, component: C, plugin: str, rival: C, newcomer_wins: bool) -> str:
        names = sorted({component.name, *component.aliases} & {rival.name, *rival.aliases}) or [rival.name]
        claimed = f"{self.singular} {names[0]!r} from {self._origin(plugin)}"
        held = f"{self._origin(rival.plugin)}"
        if newcomer_wins:
            return (f"{claimed} is also registered by {held}; the built-in keeps the name, and only "
                    f"{self.singular} {rival.name!r} of plugin {rival.plugin!r} is dropped")
        rule = "the built-in keeps it" if self.is_builtin(rival) else "the first registration keeps it"
        return (f"{claimed} is already registered by {held}; {rule}, and only "
                f"{self.singular} {component.name!r} of plugin {plugin!r} is dropped")

    def _remove(self, name: str) -> None:
        del self._items[name]
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def get(self, name: str) -> C:
        """Look a component up by name or alias.

        Raises:
            UnknownComponentError: with the closest registered names.
        """
        if name in self._items:
            return self._items[name]
        if name in self._aliases:
            return self._items[self._aliases[name]]
        known = sorted([*self._items, *self._aliases])
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        listing = f" (see `serzoo list {self.kind}`)"
        raise UnknownComponentError(f"unknown {self.singular} {name!r}{hint}{listing}")

    def list(self, pattern: str = "*") -> list[C]:
        """Components whose name matches the shell-style ``pattern``, sorted by name."""
        return [c for n, c in sorted(self._items.items()) if fnmatch.fnmatchcase(n, pattern)]

    def unregister_plugin(self, plugin: str) -> None:
        """Drop everything ``plugin`` registered (used when one of its hooks fails half-way)."""
        for name in [n for n, c in self._items.items() if c.plugin == plugin]:
            del self._items[name]
        self._aliases = {a: n for a, n in self._aliases.items() if n in self._items}

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[C]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._items)
