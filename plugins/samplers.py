"""Built-in training-set samplers: oversample, undersample, balanced, smote, smoteenn.

A sampler sees the training rows of one fold only, never validation or test
rows. ``y`` holds the class index of each training row for the label that
drives the sampling (one task's label, or a joint label that the trainer
builds from several tasks).

Index samplers (``oversample``, ``undersample``, ``balanced``) are called once
per epoch and return positions into ``y``, already shuffled. The no-op sampler
``none`` belongs to the core (:mod:`serzoo.training.defaults`): the trainer
needs it even when this plugin is disabled.
Synthetic samplers (``smote``, ``smoteenn``) are called once per fold and
return new ``(x, y)``; they use imbalanced-learn, an optional extra.

Everything random comes from the ``numpy.random.Generator`` passed in, so the
same seed gives the same epochs. NumPy and imbalanced-learn are imported inside
the functions so that listing samplers stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serzoo import hookimpl
from serzoo.core.errors import ConfigError
from serzoo.core.registry import Param, Sampler

if TYPE_CHECKING:
    import numpy as np


def _by_class(y) -> list:
    """Positions of each class present in ``y``, in class order."""
    import numpy as np

    y = np.asarray(y).reshape(-1)
    return [np.flatnonzero(y == c) for c in np.unique(y)]


def sample_oversample(y, x, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """Every row once plus random repeats of smaller classes up to the majority count."""
    import numpy as np

    groups = _by_class(y)
    if not groups:
        return np.zeros(0, dtype=np.int64)
    target = max(len(g) for g in groups)
    extra = [rng.choice(g, size=target - len(g), replace=True) for g in groups]
    return rng.permutation(np.concatenate([*groups, *extra]))


def sample_undersample(y, x, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """A fresh random subset of every class, of the minority count, without repeats."""
    import numpy as np

    groups = _by_class(y)
    if not groups:
        return np.zeros(0, dtype=np.int64)
    target = min(len(g) for g in groups)
    return rng.permutation(np.concatenate([rng.choice(g, size=target, replace=False) for g in groups]))


def sample_balanced(y, x, rng: np.random.Generator, batch_size: int) -> np.ndarray:
    """Class-balanced batches: each block of ``batch_size`` positions has equal class shares.

    The epoch has ``ceil(n / batch_size)`` whole batches. A batch holds
    ``batch_size // C`` rows of each of the ``C`` present classes, and the
    remaining ``batch_size % C`` slots go to distinct classes drawn at random,
    so shares differ by at most one row. Each class walks through reshuffled
    passes over its rows: large classes are seen without repeats, small ones
    are repeated.
    """
    import numpy as np

    if batch_size < 1:
        raise ConfigError(f"sampler balanced: batch_size={batch_size} must be at least 1")
    groups = _by_class(y)
    if not groups:
        return np.zeros(0, dtype=np.int64)
    n_classes = len(groups)
    n_batches = -(-len(y) // batch_size)
    base, rest = divmod(batch_size, n_classes)
    # Class (by group number) of every slot of every batch, then shuffled inside each batch.
    fixed = np.tile(np.repeat(np.arange(n_classes), base), (n_batches, 1))
    extra = rng.permuted(np.tile(np.arange(n_classes), (n_batches, 1)), axis=1)[:, :rest]
    slots = rng.permuted(np.concatenate([fixed, extra], axis=1), axis=1).reshape(-1)

    out = np.empty(slots.size, dtype=np.int64)
    for c, rows in enumerate(groups):
        where = np.flatnonzero(slots == c)
        passes = -(-where.size // rows.size)
        stream = np.concatenate([rng.permutation(rows) for _ in range(passes)]) if passes else rows[:0]
        out[where] = stream[: where.size]
    return out


def _imblearn(name: str):
    try:
        from imblearn import combine, over_sampling
    except ImportError:
        raise ConfigError(f"sampler {name} needs imbalanced-learn: pip install 'serzoo[smote]'") from None
    return over_sampling, combine


def _check_neighbors(name: str, y, k_neighbors: int) -> None:
    """SMOTE interpolates each minority row with its k nearest same-class rows."""
    import numpy as np

    if k_neighbors < 1:
        raise ConfigError(f"sampler {name}: k_neighbors={k_neighbors} must be at least 1")
    classes, counts = np.unique(np.asarray(y).reshape(-1), return_counts=True)
    if classes.size < 2:
        raise ConfigError(f"sampler {name}: the training rows hold only class {classes.tolist()}; nothing to balance")
    # Only classes below the majority count get synthetic rows, so only they need neighbours.
    majority = counts.max()
    for cls, count in zip(classes.tolist(), counts.tolist()):
        if count >= majority or count > k_neighbors:
            continue
        if count == 1:
            fix = "SMOTE cannot interpolate a single row; use the oversample or balanced sampler"
        else:
            fix = f"set k_neighbors to at most {count - 1}"
        raise ConfigError(
            f"sampler {name}: class {cls} has {count} training rows in this fold, "
            f"fewer than k_neighbors+1={k_neighbors + 1}; {fix}"
        )


def _resample(resampler, x, y):
    """Run an imbalanced-learn resampler on ``x`` of any rank, keeping dtypes and row shape."""
    import numpy as np

    x = np.asarray(x)
    y = np.asarray(y).reshape(-1)
    flat = x.reshape(x.shape[0], -1)
    x_new, y_new = resampler.fit_resample(flat, y)
    return np.asarray(x_new, dtype=x.dtype).reshape(-1, *x.shape[1:]), np.asarray(y_new, dtype=y.dtype)


def _seed(rng) -> int:
    # imbalanced-learn takes an int seed; draw it from rng so the caller's seed decides.
    return int(rng.integers(0, 2**31 - 1))


def sample_smote(y, x, rng: np.random.Generator, batch_size: int, k_neighbors: int = 5):
    """SMOTE: synthetic rows for every class up to the majority count.

    ``x`` may have any rank; rows are flattened for imbalanced-learn and
    reshaped back. Returns ``(x_new, y_new)``: the original rows first, then the
    synthetic ones.
    """
    over_sampling, _ = _imblearn("smote")
    _check_neighbors("smote", y, k_neighbors)
    smote = over_sampling.SMOTE(k_neighbors=k_neighbors, random_state=_seed(rng))
    return _resample(smote, x, y)


def sample_smoteenn(y, x, rng: np.random.Generator, batch_size: int, k_neighbors: int = 5, enn_neighbors: int = 3):
    """SMOTE followed by edited nearest neighbours cleaning, as the original trainer did.

    Returns ``(x_new, y_new)``; ENN removes rows (original or synthetic) whose
    neighbours mostly disagree with their class, so classes end up close to,
    not exactly, balanced.
    """
    over_sampling, combine = _imblearn("smoteenn")
    _check_neighbors("smoteenn", y, k_neighbors)
    if enn_neighbors < 1:
        raise ConfigError(f"sampler smoteenn: enn_neighbors={enn_neighbors} must be at least 1")
    from imblearn.under_sampling import EditedNearestNeighbours

    seed = _seed(rng)
    resampler = combine.SMOTEENN(
        smote=over_sampling.SMOTE(k_neighbors=k_neighbors, random_state=seed),
        enn=EditedNearestNeighbours(n_neighbors=enn_neighbors),
        random_state=seed,
    )
    return _resample(resampler, x, y)


def _check_counts(options) -> None:
    """Neighbour counts of at least 1, checked before training starts (the data is checked per fold)."""
    for name in ("k_neighbors", "enn_neighbors"):
        if name in options and options[name] < 1:
            raise ValueError(f"{name}={options[name]} must be at least 1")


_K_NEIGHBORS = Param("k_neighbors", "int", 5, "same-class neighbours to interpolate with; every class needs k+1 rows")


@hookimpl
def serzoo_register_samplers(register):
    register(Sampler(
        name="oversample",
        description="repeat random rows of smaller classes up to the majority count",
        factory=sample_oversample,
    ))
    register(Sampler(
        name="undersample",
        description="a fresh random subset of every class, of the minority count, each epoch",
        factory=sample_undersample,
    ))
    register(Sampler(
        name="balanced",
        description="class-balanced batches: equal class shares in every batch, minority rows repeated",
        factory=sample_balanced,
    ))
    register(Sampler(
        name="smote",
        description="SMOTE synthetic rows up to the majority count (imbalanced-learn)",
        factory=sample_smote,
        params=(_K_NEIGHBORS,),
        check=_check_counts,
        needs_features=True,
    ))
    register(Sampler(
        name="smoteenn",
        description="SMOTE then edited-nearest-neighbours cleaning, as the original trainer (imbalanced-learn)",
        factory=sample_smoteenn,
        params=(_K_NEIGHBORS, Param("enn_neighbors", "int", 3, "neighbours ENN consults to remove a row")),
        check=_check_counts,
        needs_features=True,
    ))
