"""The plugin manager: entry points, SERZOO_DISABLE_PLUGINS, and the component registries.

Built-in plugins are found exactly like third-party ones, through the
``serzoo`` entry-point group of installed distributions; this module never
imports one by name. A plugin that fails to import, implements a hook that
does not exist, or raises in a hook is dropped with one warning naming its
distribution, and everything else keeps working.

Hooks are called through pluggy, one plugin at a time (a subset hook caller
that leaves the other plugins out), so ``wrapper=True`` implementations run
around their own plugin's implementations and a broken plugin is isolated.
Registries (and plugin commands) are rebuilt whenever the set of plugins
changes, so registration hooks may run more than once per process.

Built-ins (plugins and core modules of the ``serzoo`` distribution) keep their
component names whatever the load order; see :meth:`Registry.register`.
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
from serzoo.core.registry import (
    Augmenter, Block, Exporter, Feature, Loader, Loss, Metric, Registry, Sampler, Splitter,
)

ENTRY_POINT_GROUP = "serzoo"
DISABLE_ENV = "SERZOO_DISABLE_PLUGINS"

#: The distribution of serzoo itself: its plugins and core modules are the built-ins.
BUILTIN_DISTRIBUTION = Registry.BUILTIN_DISTRIBUTION

#: Modules of the core that implement hooks themselves (the components a default run
#: needs, such as the no-op sampler): registered first, under their module name, and
#: never disabled, so turning every plugin off still leaves a working core.
CORE_PLUGINS: tuple[str, ...] = (
    "serzoo.training.defaults", "serzoo.training.metrics", "serzoo.data.splitters", "serzoo.data.loading",
)

#: registry kind -> (hook name, component class)
KINDS: dict[str, tuple[str, type]] = {
    "blocks": ("serzoo_register_blocks", Block),
    "losses": ("serzoo_register_losses", Loss),
    "samplers": ("serzoo_register_samplers", Sampler),
    "loaders": ("serzoo_register_loaders", Loader),
    "metrics": ("serzoo_register_metrics", Metric),
    "augmenters": ("serzoo_register_augmenters", Augmenter),
    "splitters": ("serzoo_register_splitters", Splitter),
    "features": ("serzoo_register_features", Feature),
    "exporters": ("serzoo_register_exporters", Exporter),
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

    @property
    def builtin(self) -> bool:
        """Whether it belongs to serzoo itself (a built-in plugin or a core module)."""
        return self.distribution == BUILTIN_DISTRIBUTION


class _State:
    def __init__(self):
        self.pm = pluggy.PluginManager("serzoo")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registries: dict[str, Registry] = {}
        #: replaced whenever the set of plugins changes; see :func:`generation`
        self.generation = object()


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
        _add(state, plugin, PluginInfo(module, BUILTIN_DISTRIBUTION, __version__, plugin))


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    return ep.dist.metadata["Name"] if ep.dist is not None else ""


def _named_entry_points() -> list[tuple[str, importlib.metadata.EntryPoint]]:
    """Every ``serzoo`` entry point with the plugin name it is registered under.

    Two distributions exposing one entry-point name are both loaded, with a
    warning naming both: the built-in (else the first found) keeps the plain
    name, the other is registered as ``name[distribution]``.
    """
    found: dict[str, list[importlib.metadata.EntryPoint]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        group = found.setdefault(ep.name, [])
        if all(_dist_name(other) != _dist_name(ep) for other in group):  # not one distribution seen twice on sys.path
            group.append(ep)
    named = []
    for name, group in found.items():
        group.sort(key=lambda ep: _dist_name(ep) != BUILTIN_DISTRIBUTION)  # stable: otherwise discovery order
        named.append((name, group[0]))
        for ep in group[1:]:
            qualified = f"{name}[{_dist_name(ep) or 'unknown'}]"
            _warn(f"entry point {name!r} (group {ENTRY_POINT_GROUP!r}) is exposed by distributions "
                  f"{_dist_name(group[0]) or 'unknown'} and {_dist_name(ep) or 'unknown'}; "
                  f"both are loaded, the second as plugin {qualified!r}")
            named.append((qualified, ep))
    return named


def _load_entry_points(state: _State) -> None:
    disabled = disabled_plugins()
    for name, ep in _named_entry_points():
        dist = _dist_name(ep)
        version = ep.dist.version if ep.dist is not None else ""
        if {name, ep.name, dist} & disabled:
            state.pm.set_blocked(name)
            continue
        info = PluginInfo(name, dist, version, None)
        try:
            info.plugin = ep.load()
        except Exception as exc:
            _warn(f"{_describe(info, name)} failed to import and was skipped: {type(exc).__name__}: {exc}")
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


def describe_plugin(name: str) -> str:
    """``plugin 'NAME' from distribution DIST VERSION``, for messages about a loaded plugin."""
    return _describe(_state_or_load().infos.get(name), name)


def generation() -> object:
    """A token that changes whenever plugins are added or removed (registries are rebuilt then)."""
    return _state_or_load().generation


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
    state.generation = object()


def unregister_plugin(name: str) -> None:
    """Remove a plugin added by entry point or :func:`register_plugin`; registries are rebuilt."""
    state = _state_or_load()
    plugin = state.pm.get_plugin(name)
    if plugin is not None:
        state.pm.unregister(plugin)
    state.infos.pop(name, None)
    state.registries.clear()
    state.generation = object()


def reset() -> None:
    """Forget every loaded plugin and registry; the next use reloads entry points."""
    global _state
    _state = None


def _implementers(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """(name, plugin) of every plugin implementing a hook, wrappers included, in registration order."""
    implementing = {id(impl.plugin) for impl in getattr(pm.hook, hook_name).get_hookimpls()}
    return [(name, plugin) for name, plugin in pm.list_name_plugin()
            if plugin is not None and id(plugin) in implementing]


def call_each(hook_name: str, kwargs_for: Callable[[str], dict], on_error: Callable[[str], None] | None = None,
              after: Callable[[str], None] | None = None) -> None:
    """Call a hook through pluggy once per plugin, in registration order.

    Each call is a pluggy subset hook caller holding one plugin's
    implementations, so its ``wrapper=True`` implementations run around its
    own, and one broken plugin cannot take the others down: a plugin whose
    call raises is reported with one warning naming its distribution, and
    ``on_error(plugin_name)`` may undo what it did half-way.

    Args:
        hook_name: the hook (``serzoo_register_blocks``).
        kwargs_for: ``plugin_name -> keyword arguments`` for that plugin's call.
        on_error: called with the plugin's name after its call raised.
        after: called with the plugin's name after its call succeeded (to check what it did).
    """
    state = _state_or_load()
    implementers = _implementers(state.pm, hook_name)
    for name, plugin in implementers:
        others = [other for _, other in implementers if other is not plugin]
        caller = state.pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            caller(**kwargs_for(name))
        except Exception as exc:
            if on_error is not None:
                on_error(name)
            _warn(f"{_describe(state.infos.get(name), name)}: {hook_name} failed and was skipped: "
                  f"{type(exc).__name__}: {exc}")
            continue
        if after is not None:
            after(name)


def _distribution(plugin_name: str) -> str:
    info = _state_or_load().infos.get(plugin_name)
    return info.distribution if info is not None else ""


def _build_registry(kind: str) -> Registry:
    hook_name, component_type = KINDS[kind]
    # a clash drops one component with a warning, never the whole plugin
    registry: Registry = Registry(kind, component_type, distribution_of=_distribution, on_clash=_warn)

    # The register callback is made per plugin so the registry records who registered what.
    def kwargs_for(plugin_name: str) -> dict:
        return {"register": lambda component: registry.register(component, plugin=plugin_name)}

    call_each(hook_name, kwargs_for, on_error=registry.unregister_plugin)
    return registry


def registry(kind: str) -> Registry:
    """The registry of one kind: a key of :data:`KINDS` (``blocks``, ``losses``, ..., ``features``)."""
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


def metrics() -> Registry[Metric]:
    return registry("metrics")


def augmenters() -> Registry[Augmenter]:
    return registry("augmenters")


def splitters() -> Registry[Splitter]:
    return registry("splitters")


def features() -> Registry[Feature]:
    return registry("features")


def exporters() -> Registry[Exporter]:
    return registry("exporters")
