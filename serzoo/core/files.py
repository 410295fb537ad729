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
import re
import shutil
import sys
import tempfile
import traceback
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
    permissions the umask allows, and renamed over ``path``. Temporaries of the same
    file left by a killed process are removed first.

    Args:
        path: the final file name.
        suffix: suffix for the temporary (some writers choose the format by it, such as ``.keras``);
            default: the suffix of ``path``.

    Raises:
        OutputError: the folder or file cannot be written; nothing is left under either name.
    """
    path = Path(path)
    ensure_folder(path.parent)
    remove_orphans(path.parent, path.name)  # what a killed writer of this same file left behind
    try:
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.{os.getpid()}.", suffix=suffix or path.suffix,
                                    dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {reason(exc)}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        with _quiet_failed_h5_close():
            yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not _ERRNO.search(str(exc)):
            raise  # a bug, not a failed write
        raise OutputError(f"cannot write {path}: {reason(exc)}") from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass


#: how h5py reports the system error behind a failed write, close or flush (as OSError or RuntimeError)
_ERRNO = re.compile(r"errno = (\d+)")


def reason(exc: Exception) -> str:
    """The one-line reason of a failed write: ``No space left on device``, not a library's page of detail.

    h5py puts the C library's multi-line report in the message (and in ``strerror``);
    the error number says the same in words.
    """
    if getattr(exc, "errno", None):
        return os.strerror(exc.errno)
    found = _ERRNO.search(str(exc))
    if found:
        return os.strerror(int(found.group(1)))
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def _quiet_failed_h5_close() -> Iterator[None]:
    """Drop h5py's reports of a close that fails after a failed write, for the duration of a write.

    When a write into an HDF5 file fails (full disk), h5py closes the file while the
    error unwinds and prints the C library's page-long report of that second failure
    (through both ``sys.excepthook`` and ``sys.unraisablehook``); the write's own
    failure already becomes one :class:`OutputError` line.
    """
    def from_h5py(exc: BaseException | None, where) -> bool:
        return isinstance(exc, (OSError, RuntimeError)) and "h5py" in repr(where)

    except_hook, unraisable_hook = sys.excepthook, sys.unraisablehook

    def quiet_except(kind, exc, tb) -> None:
        frames = traceback.extract_tb(tb) if tb is not None else []
        if not from_h5py(exc, frames[-1].filename if frames else None):
            except_hook(kind, exc, tb)

    def quiet_unraisable(unraisable) -> None:
        if not from_h5py(unraisable.exc_value, unraisable.object):
            unraisable_hook(unraisable)

    sys.excepthook, sys.unraisablehook = quiet_except, quiet_unraisable
    try:
        yield
    finally:
        sys.excepthook, sys.unraisablehook = except_hook, unraisable_hook
@contextmanager
def atomic_tree(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for a writer that makes a file or a whole folder (a SavedModel).

    Yields a path that does not exist yet, inside a private temporary folder next to
    ``path``; after the block, what was written there replaces ``path`` (a file or a
    folder). If the block raises, nothing is left under either name.

    Raises:
        OutputError: the folder cannot be written, or the block wrote nothing.
    """
    path = Path(path)
    ensure_folder(path.parent)
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.{os.getpid()}.", dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {reason(exc)}") from None
    tmp = work / path.name
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"cannot write {path}: nothing was written")
        if path.is_dir() and not path.is_symlink():
            os.replace(path, work / ".replaced")  # a folder cannot be renamed over another
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {reason(exc)}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def remove_orphans(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete temporaries that a killed serzoo process left in ``folder`` (not recursive).

    A temporary's name carries the id of the process writing it; one whose process is
    still alive on this machine is another serzoo's write in progress and is kept.

    Args:
        folder: the folder to clean.
        name: only the temporaries of this final file name (``None``: all).

    Returns:
        The paths removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    prefix = TEMP_PREFIX + (f"{name}." if name else "")
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix) or not (entry.is_file() or entry.is_symlink()):
            continue
        if _writer_alive(entry.name[len(TEMP_PREFIX):], name):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def _writer_alive(rest: str, name: str | None) -> bool:
    """Whether the process id in a temporary's name (``NAME.PID.RANDOM...``) is a live process other than us."""
    if name is None:  # the final name may itself hold dots: the pid is the first all-digit part after it
        parts = rest.split(".")
        pids = [p for p in parts[1:] if p.isdigit()]
    else:
        pids = rest[len(name) + 1:].split(".")[:1]
    if not pids or not pids[0].isdigit():
        return False  # a temporary from before names carried the process id
    pid = int(pids[0])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


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
