"""Opening a feature database through the loader that handles it; the core's own ``h5`` loader.

The SER_FEAT_EXT HDF5 layout is the core's data format, so its loader is
registered by the core itself (a core plugin, never disabled); other loaders
(the built-in ``audio`` loader, third-party ones) come from plugins.
"""

from __future__ import annotations

from pathlib import Path

from serzoo import hookimpl
from serzoo.core import layouts
from serzoo.core.errors import DataError
from serzoo.core.registry import Loader, Param
from serzoo.data.database import Database
from serzoo.data.validate import validate


def _open_h5(path, layout="auto"):
    from serzoo.data.h5io import read_h5

    return read_h5(path, layout=layout)


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


def open_database(path, loader: str | None = None, **options) -> Database:
    """Open a feature database with the loader plugin that handles it, and validate it.

    Args:
        path: the file (an HDF5 database, a meta table of wav files, or whatever
            a third-party loader handles).
        loader: a registered loader name; ``None`` picks the first loader whose
            file patterns match ``path``.
        **options: passed to the loader (see ``serzoo show loader NAME``).

    Returns:
        The validated :class:`Database`.

    Raises:
        DataError: no loader handles the file, or the file fails validation.
    """
    from serzoo.core import plugin_manager

    path = Path(path)
    registry = plugin_manager.loaders()
    if loader is None:
        matches = [c for c in registry.list() if c.handles(str(path))]
        if not matches:
            known = "; ".join(f"{c.name}: {','.join(c.patterns)}" for c in registry.list()) or "none registered"
            raise DataError(f"{path}: no loader handles this file name (loaders: {known}); name one with --loader")
        # built-ins (serzoo's own loaders, whatever their plugin) first, so a plugin cannot silently take over *.h5
        matches.sort(key=lambda c: not registry.is_builtin(c))
        component = matches[0]
    else:
        component = registry.get(loader)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    db = component.factory(str(path), **component.resolve(options))
    if not isinstance(db, Database):
        raise DataError(f"loader {component.name!r} returned {type(db).__name__}, not a serzoo Database")
    try:
        validate(db)
    except Exception:
        db.close()
        raise
    return db
