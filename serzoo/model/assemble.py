"""Model assembly: chain registered blocks, insert the layout adapters between them, add one head per task.

Planning (:func:`plan_chain`) is plain Python: it resolves names, options and
layouts, and refuses an impossible chain before TensorFlow is even imported.
Building (:func:`build_model`) turns a plan into a Keras 3 functional model
whose outputs are a dict keyed by task name; :func:`serzoo.model.serialization.load_model`
loads it back, plugins first.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from serzoo.core import layouts, plugin_manager
from serzoo.core.errors import ConfigError, LayoutError
from serzoo.core.layouts import HEAD_LAYOUT, adapter_path
from serzoo.core.registry import Block, parse_dotted_options
from serzoo.core.tf import import_tensorflow

#: what frame-level heads take: they classify every time step and average the posteriors per utterance
FRAME_HEAD_LAYOUT = "sequence"

#: ``cnn3d`` -> ``cnn``: names of blocks that differ only in their dimensionality
_DIMENSIONAL = re.compile(r"^(.+?)\d+d$")


@dataclass
class Step:
    """One block of a plan.

    Args:
        block: registered block name.
        options: every option of the block, resolved and typed.
        layout_in: the layout the block receives (after the adapter).
        layout_out: the layout it produces with these options.
        adapter_before: adapters applied before it, joined by ``+``, or None.
    """

    block: str
    options: dict[str, Any]
    layout_in: str
    layout_out: str
    adapter_before: str | None = None


@dataclass
class Plan:
    """A checked chain of blocks for one input layout; :func:`build_model` turns it into a model.

    Args:
        input_layout: layout of the model input (see :data:`serzoo.core.layouts.LAYOUTS`).
        steps: the blocks in order.
        final_adapter: adapters from the last block's layout to what the heads take, or None.
        shared: the shared options given (``dropout``, ``l2``, ``frame_heads``); the heads use ``l2``,
            and ``frame_heads`` makes them frame-level (see :func:`build_model`).
    """

    input_layout: str
    steps: list[Step]
    final_adapter: str | None
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> list[str]:
        return [s.block for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data (for a saved model's metadata or ``--format json``)."""
        return asdict(self)

    def describe(self) -> str:
        """The chain as text: each block with its layouts and options, and the adapters in between."""
        lines = [f"input: {self.input_layout} ({layouts.get(self.input_layout).file_layout} database)"]
        for i, step in enumerate(self.steps, 1):
            if step.adapter_before:
                lines.append(f"     ~ {step.adapter_before}")
            opts = " ".join(f"{k}={_show(v)}" for k, v in step.options.items())
            lines.append(f"  {i:>2} {step.block:<10} {step.layout_in} -> {step.layout_out}  {opts}".rstrip())
        if self.final_adapter:
            lines.append(f"     ~ {self.final_adapter}")
        lines.append(f"heads on: {FRAME_HEAD_LAYOUT}, each time step, posteriors averaged per utterance"
                     if self.shared.get("frame_heads") else f"heads on: {HEAD_LAYOUT}")
        return "\n".join(lines)


@dataclass
class Head:
    """One output of the model.

    Args:
        name: the task (label) name; names the output layer and the output dict key.
        num_classes: 1 for regression (linear unit), 2 or more for classification (softmax).
    """

    name: str
    num_classes: int


# -- options -----------------------------------------------------------------------------------


def parse_opts(items) -> dict[str, dict[str, str]]:
    """Group ``--opt BLOCK.OPTION=VALUE`` strings by block (see :func:`serzoo.core.registry.parse_dotted_options`)."""
    return parse_dotted_options(items, "--opt", "cnn2d.filters=16,32", form="BLOCK.OPTION=VALUE")


def _resolve(block: Block, given: Mapping[str, Any], shared: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then shared options the block declares, then its own options; typed and checked."""
    where = f"{block.name}."
    declared = {p.name for p in block.params}
    values = block.defaults()
    for key, value in [*((k, v) for k, v in shared.items() if k in declared), *given.items()]:
        param = block.param(key)  # an unknown option: ConfigError listing the valid ones
        values[key] = param.parse(value, where) if isinstance(value, str) else value
    return block.validate(values)


# -- layouts -----------------------------------------------------------------------------------


def _fit(layout: str, block: Block) -> tuple[str, list[str]] | None:
    """The accepted layout reachable from ``layout`` with the fewest adapters (richest on a tie)."""
    order = layouts.names()
    options = []
    for target in block.layouts_in:
        path = adapter_path(layout, target)
        if path is not None:
            options.append((len(path), order.index(target), target, path))
    if not options:
        return None
    _, _, target, path = min(options)
    return target, path


def _family(name: str) -> str:
    """``cnn3d`` -> ``cnn``: blocks differing only in their dimensionality are alternatives."""
    match = _DIMENSIONAL.match(name)
    return match.group(1) if match else name


def _alternatives(block: Block, layout: str) -> list[str]:
    """Blocks of the same family that take ``layout`` with the fewest adapters (``cnn2d`` for ``cnn3d`` on frames)."""
    family = _family(block.name)
    if family == block.name:
        return []
    found = []
    for other in plugin_manager.blocks().list(f"{family}*"):
        if other.name != block.name and _family(other.name) == family:
            fit = _fit(layout, other)
            if fit is not None:
                found.append((len(fit[1]), other.name))
    return [name for cost, name in sorted(found) if cost == min(found)[0]]


def _or(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _output_hint(prev: Block, options: Mapping[str, Any], layout_in: str, block: Block) -> str | None:
    """An option of the previous block that would make it produce what ``block`` takes, as ``--opt`` text."""
    if prev.out_rule is None:
        return None
    for param in prev.params:
        candidates = [not options[param.name]] if param.type == "bool" else list(param.choices)
        for value in candidates:
            changed = {**options, param.name: value}
            if _fit(prev.output_layout(layout_in, changed), block) is not None:
                shown = str(value).lower() if isinstance(value, bool) else value
                return f"--opt {prev.name}.{param.name}={shown}"
    return None


def _input_mismatch(block: Block, layout: str) -> str:
    order = layouts.names()
    have = layouts.get(layout).file_layout
    direct = [lay for lay in order if lay in block.layouts_in]
    # then the layouts adapters can bring to it, the closest (fewest adapters, least structure) first
    reachable = sorted((lay for lay in order if lay not in direct and _fit(lay, block) is not None),
                       key=lambda lay: (len(_fit(lay, block)[1]), -order.index(lay)))
    needed = [layouts.get(lay).file_layout for lay in (*direct, *reachable)]
    message = f"{block.name} needs a {_or(needed)} database; this one is {have}: rebuild it with --layout {needed[0]}"
    alternatives = _alternatives(block, layout)
    return message + (f" or use {_or(alternatives)}" if alternatives else "")


def _chain_mismatch(block: Block, index: int, prev: Step, layout: str) -> str:
    prev_block = plugin_manager.blocks().get(prev.block)
    message = (f"{block.name} (block {index}) needs {_or(block.layouts_in)} input, but {prev.block} "
               f"(block {index - 1}) produces {layout}, which cannot become {_or(block.layouts_in)}")
    hint = _output_hint(prev_block, prev.options, prev.layout_in, block)
    if hint:
        return f"{message}: set {hint}"
    alternatives = _alternatives(block, layout)
    if alternatives:
        return f"{message}: use {_or(alternatives)} instead of {block.name}"
    return f"{message}: put {block.name} before {prev.block}"


def plan_chain(blocks, input_layout: str, opts: Mapping[str, Mapping[str, Any]] | None = None,
               shared: Mapping[str, Any] | None = None) -> Plan:
    """Check a chain of blocks against an input layout and resolve every option, without TensorFlow.

    Args:
        blocks: block names in order, as a list or a comma-separated string (``cnn2d,lstm``).
        input_layout: the layout of the data (``volume``, ``frames``, ``sequence`` or ``vector``).
        opts: per-block options, as from :func:`parse_opts`; an option given for a
            block applies to every occurrence of that block in the chain.
        shared: options (``dropout``, ``l2``) applied to every block that declares
            them unless its own options override them; None values are ignored.
            ``frame_heads`` (true) makes the heads frame-level: the chain must then end in
            (or adapt to) a sequence.

    Returns:
        The :class:`Plan`.

    Raises:
        UnknownComponentError: an unknown block name, with close matches.
        ConfigError: an empty chain, an unknown option, a value of the wrong type or range,
            or options for a block that is not in the chain.
        LayoutError: a block that cannot take what the data or the previous block gives.
    """
    if layouts.find(input_layout, side="model") is None:
        raise ConfigError(f"unknown input layout {input_layout!r}; expected one of {', '.join(layouts.names())}")
    names = [n.strip() for n in blocks.split(",")] if isinstance(blocks, str) else [str(n).strip() for n in blocks]
    names = [n for n in names if n]
    if not names:
        raise ConfigError("no blocks given; name at least one, such as --blocks cnn2d,lstm (see `serzoo list blocks`)")
    registry = plugin_manager.blocks()
    chain = [registry.get(n) for n in names]
    given: dict[str, Mapping[str, Any]] = {}
    for key, values in (opts or {}).items():
        block = registry.get(key)
        if block.name not in {b.name for b in chain}:
            option = next(iter(values), "OPTION")
            raise ConfigError(f"--opt {key}.{option}: {block.name} is not in the chain {','.join(names)}")
        given[block.name] = values
    shared = {k: v for k, v in (shared or {}).items() if v is not None}

    steps: list[Step] = []
    layout = input_layout
    for index, block in enumerate(chain, 1):
        options = _resolve(block, given.get(block.name, {}), shared)
        fit = _fit(layout, block)
        if fit is None:
            raise LayoutError(_input_mismatch(block, layout) if not steps
                              else _chain_mismatch(block, index, steps[-1], layout))
        target, path = fit
        out = block.output_layout(target, options)
        steps.append(Step(block.name, options, target, out, "+".join(path) or None))
        layout = out
    final = adapter_path(layout, _head_layout(shared))
    if final is None:
        raise LayoutError(f"--frame-heads classifies every time step, but the chain ends with {steps[-1].block}, "
                          f"which gives a {layout} with no time axis; end it with a block that keeps time "
                          "(a convolution, or lstm with return_sequences=true)")
    return Plan(input_layout, steps, "+".join(final) or None, dict(shared))


def _head_layout(shared: Mapping[str, Any]) -> str:
    """What the heads take: one vector per utterance, or (``frame_heads``) the sequence of time steps."""
    return FRAME_HEAD_LAYOUT if shared.get("frame_heads") else HEAD_LAYOUT


# -- building ----------------------------------------------------------------------------------


def _adapt(x, adapters: str | None, prefix: str):
    """Apply a plan's ``+``-joined adapter names (see :data:`serzoo.core.layouts.ADAPTERS`)."""
    for name in filter(None, (adapters or "").split("+")):
        x = layouts.adapter(name).build(x, prefix)
    return x


def _check_heads(heads) -> None:
    if not heads:
        raise ConfigError("no heads given; name at least one task, such as emotion:7")
    seen = set()
    for head in heads:
        if not head.name or "/" in head.name or head.name == "features":
            raise ConfigError(f"head name {head.name!r} cannot name a Keras layer; use letters, digits and '_'")
        if head.name in seen:
            raise ConfigError(f"head {head.name!r} is given twice")
        if int(head.num_classes) < 1:
            raise ConfigError(f"head {head.name}: num_classes={head.num_classes} must be 1 (regression) or more")
        seen.add(head.name)


def build_model(plan: Plan, input_shape, heads, name: str = "serzoo", normalization=None, per_utterance: bool = False):
    """Build the Keras functional model of a plan.

    Args:
        plan: from :func:`plan_chain`.
        input_shape: shape of one example, channels-last, such as ``(T, C, D, 1)``.
        heads: one :class:`Head` per task.
        name: the model's name.
        normalization: optional ``(mean, variance)`` per feature (the layout's
            :attr:`~serzoo.core.layouts.Layout.feature_axis`), standardising the input inside the model, so that a saved
            model carries the training statistics.
        per_utterance: standardise each example over its own time steps instead (no statistics needed).

    Returns:
        A ``keras.Model`` with input ``features`` and a dict of outputs keyed by head name:
        softmax probabilities for classification, one linear unit for regression. With the
        plan's ``frame_heads`` each head classifies every time step (layer ``NAME_frames``) and
        its output is the mean of those frame posteriors over the utterance (the original
        trainer's frame-level models; padded steps count like the average-time adapter's).

    Raises:
        ConfigError: an input shape that does not fit the plan's layout, or bad heads.
        LayoutError: a block returned a tensor of another rank than its layout.
    """
    input_shape = tuple(None if s is None else int(s) for s in input_shape)
    layout = layouts.get(plan.input_layout)
    rank = layout.rank
    if len(input_shape) != rank:
        raise ConfigError(f"input shape {input_shape} does not fit layout {plan.input_layout}, "
                          f"which has {rank} axes per example")
    _check_heads(heads)

    import_tensorflow()
    import keras

    registry = plugin_manager.blocks()
    inputs = keras.Input(shape=input_shape, name="features")
    x = inputs
    if normalization is not None:
        mean, variance = (np.asarray(v, dtype="float32") for v in normalization)
        # float32 under mixed precision too: raw features (energies, F0 in Hz) lose too much when cast first
        x = keras.layers.Normalization(axis=layout.feature_axis, mean=mean, variance=variance, name="standardize",
                                       dtype="float32")(x)
    elif per_utterance:
        from serzoo.model.layers import UtteranceStandardization

        x = UtteranceStandardization(feature_axis=layout.feature_axis, name="standardize_utterance",
                                     dtype="float32")(x)
    for index, step in enumerate(plan.steps, 1):
        prefix = f"b{index}_{step.block}"
        x = _adapt(x, step.adapter_before, f"b{index}")
        block = registry.get(step.block)
        x = block.factory(x, name=prefix, **step.options)
        if len(x.shape) - 1 != layouts.get(step.layout_out).rank:
            raise LayoutError(f"block {step.block} from plugin {block.plugin} returned shape {tuple(x.shape[1:])}, "
                              f"not the {step.layout_out} layout it declares")
    x = _adapt(x, plan.final_adapter, "head")
    l2 = plan.shared.get("l2")
    reg = keras.regularizers.L2(l2) if l2 else None
    outputs = {}
    for head in heads:
        units, activation = (1, "linear") if int(head.num_classes) == 1 else (int(head.num_classes), "softmax")
        # heads stay float32 under mixed precision, so losses and predictions are float32
        if plan.shared.get("frame_heads"):
            # frame posteriors (a Dense acts on each step of a sequence), averaged into the utterance's
            frames = keras.layers.Dense(units, activation=activation, kernel_regularizer=reg,
                                        name=f"{head.name}_frames", dtype="float32")(x)
            outputs[head.name] = keras.layers.GlobalAveragePooling1D(name=head.name, dtype="float32")(frames)
        else:
            outputs[head.name] = keras.layers.Dense(units, activation=activation, kernel_regularizer=reg,
                                                    name=head.name, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def summary_text(model) -> str:
    """``model.summary()`` as text, followed by the parameter count."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.append(text.rstrip("\n")))
    lines.append(f"Parameters: {model.count_params():,}")
    return "\n".join(lines)


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
