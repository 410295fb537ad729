"""Make the custom Keras objects of serzoo and its plugins known to Keras, and say which plugin a model needs.

Keras 3 finds a saved custom layer or loss only by its registered name
(``serzoo>AttentionPooling``): its fallback of importing the object's module
is limited to Keras' own packages. The modules defining serzoo's layers and
losses (and those of plugins, listed in their components' ``layer_modules``)
are imported only when a model is built, so that ``serzoo list`` never loads
TensorFlow. ``import serzoo`` therefore calls :func:`install`: the moment
Keras itself is imported, every plugin's layer modules are imported too, and a
plain ``keras.saving.load_model(path)`` resolves them, safe mode on. If Keras
is already imported, they are imported at once.

A saved model records which plugin and distribution provided each of its blocks
and losses (:func:`component_origins`), so loading one whose plugin is gone
fails with one line naming the distribution to install (:func:`check_origins`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

from serzoo.core.errors import DataError

#: the top-level module whose import triggers the registration
KERAS_MODULE = "keras"
#: the core's own layers (per-utterance standardisation), not owned by a plugin
CORE_LAYER_MODULE = "serzoo.model.layers"
#: the registries of the components a model records the origin of
ORIGIN_KINDS = {"block": "blocks", "loss": "losses"}


def import_layer_modules() -> None:
    """Load the plugins and import every module that registers custom Keras objects.

    A module that fails to import is skipped with a warning naming its plugin:
    models that do not use its layers still load.
    """
    from serzoo.core.plugin_manager import PluginWarning, blocks, losses

    owners = {m: c.plugin for kind in (blocks(), losses()) for c in kind for m in c.layer_modules}
    owners[CORE_LAYER_MODULE] = "serzoo"
    for module, plugin in sorted(owners.items()):
        try:
            importlib.import_module(module)
        except Exception as exc:
            warnings.warn(f"plugin {plugin!r}: layer module {module} failed to import: {type(exc).__name__}: {exc}",
                          PluginWarning, stacklevel=2)


def _import_quietly() -> None:
    """:func:`import_layer_modules` inside someone's ``import keras``: a failure must not break their import."""
    try:
        import_layer_modules()
    except Exception as exc:  # the plugin machinery itself failed; say so and leave Keras usable
        warnings.warn(f"serzoo could not register its Keras layers: {type(exc).__name__}: {exc}", stacklevel=2)


class _RegisterAfter(importlib.abc.Loader):
    """Keras' own loader, followed by the import of the layer modules once Keras is complete."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        uninstall()
        _import_quietly()

    def __getattr__(self, name):  # resource readers and the like come from the real loader
        return getattr(self._loader, name)


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Wraps Keras' loader on its import; removed once Keras has been imported.

    It stays in place until Keras is actually executed: TensorFlow looks Keras'
    spec up (``importlib.util.find_spec``) before importing it.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != KERAS_MODULE:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if finder is not self and find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisterAfter(spec.loader)
                return spec
        return None


def install() -> None:
    """Register the layer modules now if Keras is imported, else as soon as it is (idempotent)."""
    keras = sys.modules.get(KERAS_MODULE)
    if keras is not None:
        if not getattr(getattr(keras, "__spec__", None), "_initializing", False):
            _import_quietly()
        return
    if not any(isinstance(finder, _KerasImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportHook())


def uninstall() -> None:
    """Remove the import hook (it removes itself once Keras is imported)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KerasImportHook)]


# -- which plugin made a model ------------------------------------------------------------------


def component_origins(blocks: list[str], losses: list[str]) -> list[dict[str, Any]]:
    """The plugin, distribution and version of each block and loss a model uses, for its metadata."""
    from serzoo.core import plugin_manager

    infos = {i.name: i for i in plugin_manager.plugin_infos()}
    out = []
    for kind, names in (("block", blocks), ("loss", losses)):
        registry = plugin_manager.registry(ORIGIN_KINDS[kind])
        for name in dict.fromkeys(names):
            component = registry.get(name)
            info = infos.get(component.plugin)
            out.append({"kind": kind, "name": component.name, "plugin": component.plugin,
                        "distribution": info.distribution if info else "", "version": info.version if info else ""})
    return out


def origin_installed(origin: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the recorded origin of a block or loss is loaded now, and which plugin holds its name now."""
    from serzoo.core import plugin_manager

    registry = plugin_manager.registry(ORIGIN_KINDS[origin["kind"]])
    if origin["name"] not in registry:
        return False, None
    holder = registry.get(origin["name"]).plugin
    distributions = {i.name: i.distribution for i in plugin_manager.plugin_infos()}
    return distributions.get(holder, "") == origin.get("distribution", ""), holder


def check_origins(metadata: dict[str, Any], path: str | Path) -> None:
    """Refuse, in one line, a model whose blocks or losses come from a plugin that is not loaded.

    Raises:
        DataError: naming the component, its plugin and the distribution to install.
    """
    for origin in metadata.get("plugins", []):
        installed, holder = origin_installed(origin)
        if installed:
            continue
        wanted = origin.get("distribution") or origin["plugin"]
        where = f"plugin {origin['plugin']!r} of distribution {wanted} {origin.get('version', '')}".rstrip()
        now = f" (the name now belongs to plugin {holder!r})" if holder is not None else ""
        raise DataError(f"{path}: {origin['kind']} {origin['name']!r} comes from {where}, which is not installed"
                        f"{now}; install it (pip install {wanted}) to load this model")
