"""The one way serzoo writes files: to a private temporary next to the target, then renamed over it.

Every writer (HDF5 databases, models, JSON and text results) goes through
:func:`atomic_path`, so a reader never sees a half-written file, a kill -9
leaves at most an orphaned temporary (removed by :func:`remove_orphans` on the
next run or resume), and a failed write (full disk, read-only folder, no
permission) becomes one :class:`~serzoo.core.errors.OutputError` line.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from serzoo.core.errors import OutputError

#: every temporary starts with this, so orphans of a killed process can be recognised and removed
TEMP_PREFIX = ".serzoo-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some file systems do not open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and parents) if needed.

    Raises:
        OutputError: it cannot be created (a file is in the way, no permission, read-only).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"cannot create folder {folder}: a file is in the way") from None
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    return folder


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path``; publish it under ``path`` only if the block succeeds.

    The temporary is created with ``O_EXCL`` (:func:`tempfile.mkstemp`), so a planted
    file or symlink is never followed; after the block it is flushed to disk, given the
    permissions the umask allows, and renamed over ``path``.

    Args:
        path: the final file name.
        suffix: suffix for the temporary (some writers choose the format by it, such as ``.keras``);
            default: the suffix of ``path``.

    Raises:
        OutputError: the folder or file cannot be written; nothing is left under either name.
    """
    path = Path(path)
    ensure_folder(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (NumPy values, tuples, sets and paths become lists and strings)."""
    write_text(path, json.dumps(data, indent=2, default=jsonable) + "\n")


def jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def remove_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete temporaries a killed serzoo process left in ``folder`` (not recursive).

    Returns:
        The paths removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name.startswith(TEMP_PREFIX) and (entry.is_file() or entry.is_symlink()):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def check_output(path: str | os.PathLike, inputs=(), force: bool = False, option: str = "-o") -> Path:
    """Refuse to write over one of the command's own inputs, or over an existing file unless ``force``.

    Raises:
        OutputError: naming the file and the way out (another name, or ``--force``).
    """
    path = Path(path)
    target = path.resolve()
    for source in inputs:
        if Path(source).resolve() == target:
            raise OutputError(f"{option} {path}: that is an input of this command ({source}); choose another output")
    if path.is_dir():
        raise OutputError(f"{option} {path}: a folder of that name is in the way")
    if path.exists() and not force:
        raise OutputError(f"{option} {path}: the file exists; give --force to replace it")
    return path
