"""Whether a training run reads its batches from the file or holds the features in memory.

Either way the batches are the same: :func:`serzoo.training.run.train_fold` cuts
them from the sampler's order for the epoch, and streaming only changes where the
features of a chunk of that order come from (a read of those rows from the HDF5
file instead of a slice of an array in memory), so memory stays bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serzoo.core.errors import ConfigError
from serzoo.training.config import STREAMING_MODES

if TYPE_CHECKING:
    from serzoo.data.database import Database

#: default size above which ``auto`` streams: features as float32 in model layout
DEFAULT_THRESHOLD = 2 * 1024**3


def use_streaming(db: Database, mode: str = "auto", threshold_bytes: int = DEFAULT_THRESHOLD) -> bool:
    """Decide whether to stream a database from its file.

    Args:
        db: the database.
        mode: ``memory``, ``stream``, or ``auto`` (stream when the features
            as float32 exceed ``threshold_bytes`` and are not already in memory).
        threshold_bytes: the size limit for ``auto``.

    Returns:
        True to stream.

    Raises:
        ConfigError: an unknown mode.
    """
    if mode not in STREAMING_MODES:
        raise ConfigError(f"--streaming {mode!r}: choose one of {', '.join(STREAMING_MODES)}")
    if mode != "auto":
        return mode == "stream"
    return not db.in_memory and db.nbytes > threshold_bytes
