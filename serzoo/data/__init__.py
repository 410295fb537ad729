"""Feature databases: reading, validation, folds, building from audio.

Importing this package is cheap (NumPy only): TensorFlow is imported by
:mod:`serzoo.data.audio` inside its functions.
"""

from serzoo.data.database import Database
from serzoo.data.loading import open_database
from serzoo.data.grouping import Grouping
from serzoo.data.splits import Fold, Split, SplitContext, make_splits, parse_groups

__all__ = ["Database", "Fold", "Grouping", "Split", "SplitContext", "make_splits", "open_database", "parse_groups"]
