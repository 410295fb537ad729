"""Uncertainty of a run's scores: mean ± std, percentile-bootstrap confidence intervals, a paired test.

The bootstrap resamples the units (folds, or groups such as speakers) with
replacement, ``RESAMPLES`` times from a generator seeded with ``SEED``, and
takes the 2.5th and 97.5th percentiles of the resampled means: the same run
always gets the same interval. The paired test is SciPy's Wilcoxon
signed-rank test; nothing here hand-codes a distribution.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from serzoo.core.errors import ConfigError

RESAMPLES = 10000
SEED = 0
LEVEL = 0.95
METHOD = "percentile bootstrap of the mean"


def bootstrap_ci(values: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED,
                 level: float = LEVEL) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` (``nan`` values dropped).

    Args:
        values: one score per unit (fold or group).
        resamples: number of bootstrap resamples.
        seed: seed of the NumPy generator, so the interval is reproducible.
        level: coverage of the interval (0.95: the 2.5th and 97.5th percentiles).

    Returns:
        ``(low, high)``; ``(nan, nan)`` without values.
    """
    arr = _finite(values)
    if arr.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def describe(values: Sequence[float]) -> dict:
    """Mean, sample std (``ddof=1``), bootstrap CI and the number of units, as stored in ``results.json``."""
    arr = _finite(values)
    low, high = bootstrap_ci(arr)
    return {"n": int(arr.size), "mean": float(arr.mean()) if arr.size else float("nan"),
           "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0 if arr.size else float("nan"),
           "ci_low": low, "ci_high": high}


def method_record() -> dict:
    """How every interval was made, stored next to the intervals."""
    return {"method": METHOD, "resamples": RESAMPLES, "seed": SEED, "level": LEVEL,
            "std": "sample standard deviation (ddof=1)"}


def method_text(record: dict | None = None) -> str:
    """``95% CI: percentile bootstrap of the mean, 10000 resamples, seed 0``."""
    r = record or method_record()
    return f"{r['level']:.0%} CI: {r['method']}, {r['resamples']} resamples, seed {r['seed']}"


def wilcoxon(differences: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired differences (SciPy), with its smallest reachable p.

    Zero differences are dropped (SciPy's ``zero_method="wilcox"``). With ``n`` non-zero
    differences the exact test cannot give a p-value below ``2 / 2**n``, so with 5 or fewer
    units no difference can be significant at 0.05; ``min_p`` says so.

    Raises:
        ConfigError: SciPy is not installed.
    """
    try:
        from scipy.stats import wilcoxon as scipy_wilcoxon
    except ImportError:
        raise ConfigError("the paired test needs SciPy: pip install 'serzoo[stats]'") from None
    d = _finite(differences)
    n = int(np.count_nonzero(d))
    record = {"test": "Wilcoxon signed-rank, two-sided (scipy.stats.wilcoxon)", "n": n,
              "min_p": float(min(1.0, 2.0 * 0.5 ** n)) if n else 1.0}
    if n == 0:
        return {**record, "statistic": float("nan"), "p": 1.0}
    result = scipy_wilcoxon(d)
    return {**record, "statistic": float(result.statistic), "p": float(result.pvalue)}


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=np.float64).reshape(-1)
    return arr[~np.isnan(arr)]
