"""A sweep's grid: fixed options and axes of alternatives, expanded into training configurations.

Every axis is a :class:`~serzoo.training.config.TrainConfig` field with a list of
alternatives. A list-valued field (``opts``, ``sampler_opts``, ...) makes one axis per
option name: ``--opt cnn1d.filters=32,64 --opt cnn1d.filters=64,128`` is one axis of two
values, ``cnn1d.filters``; an option for a block that is not in a configuration's chain is
dropped from that configuration (and configurations that became equal are run once).
A trial's key hashes its resolved configuration and the data's fingerprint.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from serzoo.core.errors import ConfigError
from serzoo.training.config import TrainConfig

_FIELDS = {f.name: f for f in fields(TrainConfig)}
#: fields that change where or how a run is written, never its numbers (``data``: the fingerprint stands for it)
NOT_HASHED = ("data", "tensorboard", "checkpoint_seconds")


@dataclass
class SweepSpec:
    """Fixed options and the axes to sweep, in the order they vary (the last fastest)."""

    fixed: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list] = field(default_factory=dict)


def _is_list(name: str) -> bool:
    return str(_FIELDS[name].type).startswith("list")


def coerce(name: str, value: Any, where: str) -> Any:
    """A value for TrainConfig field ``name`` from text or TOML, typed by the field's annotation.

    Raises:
        ConfigError: an unknown field or a value of the wrong type, naming ``where``.
    """
    if name not in _FIELDS:
        raise ConfigError(f"{where}: {name!r} is not a training option; options are {', '.join(sorted(_FIELDS))}")
    kind = str(_FIELDS[name].type)
    if _is_list(name):
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    if not isinstance(value, str):
        if value is None or isinstance(value, (int, float, bool)):
            return value
        raise ConfigError(f"{where}: {name} = {value!r} is not a single value")
    if value.lower() in ("none", "null") and "None" in kind:
        return None
    try:
        if kind.startswith("bool"):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except ValueError:
        raise ConfigError(f"{where}: {name}={value!r} is not a valid {kind.split()[0]}") from None
    return value


def read_file(path: str | Path) -> SweepSpec:
    """A sweep file: a ``[fixed]`` table of options and a ``[grid]`` table of lists of alternatives.

    Raises:
        ConfigError: unreadable TOML, unknown options, or a grid entry that is not a list.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError("--file needs Python 3.11 or later (or `pip install tomli`) to read TOML") from None
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the sweep file ({exc})") from None
    unknown = set(data) - {"fixed", "grid"}
    if unknown:
        raise ConfigError(f"{path}: unknown tables {', '.join(sorted(unknown))}; a sweep file has [fixed] and [grid]")
    spec = SweepSpec()
    for name, value in data.get("fixed", {}).items():
        spec.fixed[name] = coerce(name, value, f"{path} [fixed]")
    for name, values in data.get("grid", {}).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path} [grid]: {name} must be a non-empty list of alternatives")
        spec.axes[name] = [coerce(name, v, f"{path} [grid]") for v in values]
    return spec


def _axes(spec: SweepSpec) -> list[tuple[str, list]]:
    """The grid's axes: plain fields as they are, list fields split into one axis per option name."""
    out = []
    for name, values in spec.axes.items():
        if not _is_list(name):
            out.append((name, list(dict.fromkeys(values))))
            continue
        groups: dict[str, list] = {}
        for item in (v for vs in values for v in (vs if isinstance(vs, list) else [vs])):
            groups.setdefault(f"{name}:{item.partition('=')[0].strip()}", []).append(item)
        out.extend(groups.items())
    return out


def _in_chain(option: str, chain: str) -> bool:
    """Whether a ``BLOCK.OPTION=VALUE`` option names a block of the chain (by name or alias)."""
    from serzoo.core.errors import UnknownComponentError
    from serzoo.core.plugin_manager import blocks

    def canonical(name: str) -> str:
        try:
            return blocks().get(name.strip()).name
        except UnknownComponentError:
            return name.strip()

    return canonical(option.partition(".")[0]) in {canonical(n) for n in chain.split(",") if n.strip()}


def expand(spec: SweepSpec) -> list[tuple[dict, TrainConfig]]:
    """Every configuration of the grid, in order, once each: ``(the axis values it took, the configuration)``.

    Raises:
        ConfigError: a fixed option names no training option.
    """
    axes = _axes(spec)
    for name in spec.fixed:
        coerce(name, spec.fixed[name], "sweep")
    out, seen = [], set()
    for combination in itertools.product(*[values for _, values in axes]):
        values = dict(spec.fixed)
        choice = {}
        for (axis, _), value in zip(axes, combination):
            name = axis.partition(":")[0]
            if _is_list(name):
                values[name] = [*values.get(name, []), value]
            else:
                values[name] = value
            choice[axis] = value
        blocks = values.get("blocks", TrainConfig.blocks)
        if "opts" in values:  # options of blocks another chain has
            dropped = [o for o in values["opts"] if not _in_chain(o, blocks)]
            values["opts"] = sorted(o for o in values["opts"] if o not in dropped)
            choice = {k: v for k, v in choice.items() if v not in dropped}
        config = TrainConfig(**values)
        marker = json.dumps(config.to_dict(), sort_keys=True)
        if marker not in seen:
            seen.add(marker)
            out.append((choice, config))
    return out


def trial_key(config: TrainConfig, data_fingerprint: dict) -> str:
    """12 hex digits naming a configuration on a database: equal when both are, whatever the paths."""
    record = {k: v for k, v in config.to_dict().items() if k not in NOT_HASHED}
    data = {k: v for k, v in data_fingerprint.items() if k != "path"}
    text = json.dumps({"config": record, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def describe(choice: dict) -> str:
    """The axis values of one configuration, short: ``blocks=cnn1d,dense cnn1d.filters=32 sampler=none``."""
    parts = []
    for axis, value in choice.items():
        parts.append(str(value) if ":" in axis else f"{axis}={value}")
    return " ".join(parts) or "(the fixed configuration)"
