"""The plugin manager: entry points, SERZOO_DISABLE_PLUGINS, and the component registries.

Built-in plugins are found exactly like third-party ones, through the
``serzoo`` entry-point group of installed distributions; this module never
imports one by name. A plugin that fails to import, implements a hook that
does not exist, or raises in a hook is dropped with one warning naming its
distribution, and everything else keeps working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from serzoo import __version__
from serzoo.core import hookspecs
from serzoo.core.registry import Block, Feature, Loader, Loss, Registry, Sampler

ENTRY_POINT_GROUP = "serzoo"
DISABLE_ENV = "SERZOO_DISABLE_PLUGINS"

#: Modules of the core that implement hooks themselves (the components a default run
#: needs, such as the no-op sampler): registered first, under their module name, and
#: never disabled, so turning every plugin off still leaves a working core.
CORE_PLUGINS: tuple[str, ...] = ()

#: registry kind -> (hook name, component class)
KINDS: dict[str, tuple[str, type]] = {
    "blocks": ("serzoo_register_blocks", Block),
    "losses": ("serzoo_register_losses", Loss),
    "samplers": ("serzoo_register_samplers", Sampler),
    "loaders": ("serzoo_register_loaders", Loader),
    "features": ("serzoo_register_features", Feature),
}


class PluginWarning(UserWarning):
    """A plugin was skipped because it is broken; the message names its distribution."""


@dataclass
class PluginInfo:
    """A loaded plugin and where it came from."""

    name: str
    distribution: str
    version: str
    plugin: Any = field(repr=False)


class _State:
    def __init__(self):
        self.pm = pluggy.PluginManager("serzoo")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registries: dict[str, Registry] = {}


_state: _State | None = None


def _warn(message: str) -> None:
    warnings.warn(message, PluginWarning, stacklevel=3)


def disabled_plugins() -> set[str]:
    """Plugin (entry point) or distribution names listed in SERZOO_DISABLE_PLUGINS."""
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _describe(info: PluginInfo | None, name: str) -> str:
    if info is None or not info.distribution:
        return f"plugin {name!r}"
    return f"plugin {name!r} from distribution {info.distribution} {info.version}"


def _add(state: _State, plugin: Any, info: PluginInfo) -> None:
    """Register one plugin object, dropping it with a warning when pluggy rejects it."""
    try:
        state.pm.register(plugin, name=info.name)
    except Exception as exc:  # pluggy validates hook signatures here
        _warn(f"{_describe(info, info.name)} skipped: {type(exc).__name__}: {exc}")
        return
    state.infos[info.name] = info


def _load_core(state: _State) -> None:
    for module in CORE_PLUGINS:
        plugin = importlib.import_module(module)
        _add(state, plugin, PluginInfo(module, "serzoo", __version__, plugin))


def _load_entry_points(state: _State) -> None:
    disabled = disabled_plugins()
    seen: set[str] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(ep.name)
        dist = ep.dist.metadata["Name"] if ep.dist is not None else ""
        version = ep.dist.version if ep.dist is not None else ""
        if ep.name in disabled or dist in disabled:
            state.pm.set_blocked(ep.name)
            continue
        info = PluginInfo(ep.name, dist, version, None)
        try:
            info.plugin = ep.load()
        except Exception as exc:
            _warn(f"{_describe(info, ep.name)} failed to import and was skipped: {type(exc).__name__}: {exc}")
            continue
        _add(state, info.plugin, info)


def _check_pending(state: _State) -> None:
    """Drop plugins that implement hooks serzoo does not define (misspelt names)."""
    while True:
        try:
            state.pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = state.pm.get_name(exc.plugin)
            _warn(f"{_describe(state.infos.get(name), name)} skipped: {exc}")
            state.pm.unregister(exc.plugin)
            state.infos.pop(name, None)


def _state_or_load() -> _State:
    global _state
    if _state is None:
        state = _State()
        _load_core(state)
        _load_entry_points(state)
        _check_pending(state)
        _state = state
    return _state


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    return _state_or_load().pm


def plugin_infos() -> list[PluginInfo]:
    """Every loaded plugin, in load order."""
    return list(_state_or_load().infos.values())


def hooks_of(info: PluginInfo) -> list[str]:
    """Names of the hooks a loaded plugin implements."""
    pm = get_plugin_manager()
    return sorted(caller.name for caller in pm.get_hookcallers(info.plugin) or [])


def register_plugin(plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
    """Add a plugin object at run time (tests, notebooks); registries are rebuilt on next use."""
    state = _state_or_load()
    _add(state, plugin, PluginInfo(name, distribution, version, plugin))
    _check_pending(state)
    state.registries.clear()


def unregister_plugin(name: str) -> None:
    """Remove a plugin added by entry point or :func:`register_plugin`; registries are rebuilt."""
    state = _state_or_load()
    plugin = state.pm.get_plugin(name)
    if plugin is not None:
        state.pm.unregister(plugin)
    state.infos.pop(name, None)
    state.registries.clear()


def reset() -> None:
    """Forget every loaded plugin and registry; the next use reloads entry points."""
    global _state
    _state = None


def call_each(hook_name: str, kwargs_for: Callable[[str], dict], on_error: Callable[[str], None] | None = None) -> None:
    """Call every implementation of a hook on its own, in registration order.

    One broken plugin cannot take the others down: an implementation that
    raises is reported with one warning naming its distribution, and
    ``on_error(plugin_name)`` may undo what it did half-way. ``kwargs_for(plugin_name)``
    gives the keyword arguments for that plugin's implementation.
    """
    state = _state_or_load()
    caller = getattr(state.pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration order (pluggy calls them last-first)
        name = impl.plugin_name
        try:
            impl.function(**kwargs_for(name))
        except Exception as exc:
            if on_error is not None:
                on_error(name)
            _warn(f"{_describe(state.infos.get(name), name)}: {hook_name} failed and was skipped: "
                  f"{type(exc).__name__}: {exc}")


def _build_registry(kind: str) -> Registry:
    hook_name, component_type = KINDS[kind]
    registry: Registry = Registry(kind, component_type)

    # The register callback is made per plugin so the registry records who registered what.
    def kwargs_for(plugin_name: str) -> dict:
        return {"register": lambda component: registry.register(component, plugin=plugin_name)}

    call_each(hook_name, kwargs_for, on_error=registry.unregister_plugin)
    return registry


def registry(kind: str) -> Registry:
    """The registry of one kind: ``blocks``, ``losses``, ``samplers``, ``loaders`` or ``features``."""
    state = _state_or_load()
    if kind not in state.registries:
        state.registries[kind] = _build_registry(kind)
    return state.registries[kind]


def blocks() -> Registry[Block]:
    return registry("blocks")


def losses() -> Registry[Loss]:
    return registry("losses")


def samplers() -> Registry[Sampler]:
    return registry("samplers")


def loaders() -> Registry[Loader]:
    return registry("loaders")


def features() -> Registry[Feature]:
    return registry("features")
