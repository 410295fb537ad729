"""Built-in training-batch augmenters: SpecAugment-style masking, mixup, tempo perturbation and feature noise.

They work on NumPy batches in model layout, so they need no TensorFlow; the time
axis is 1 and the feature axis is the last (sequences) or the one before the
channel axis (frames and volumes).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from serzoo import Augmenter, Param, hookimpl

from serzoo.core import layouts

#: the layouts with a time axis (all but the utterance-level vector)
TIME_LAYOUTS = tuple(lay.name for lay in layouts.LAYOUTS if lay.frame_level)


def _feature_axis(x: np.ndarray) -> int:
    """The feature axis of a batch, from the layout of that rank (batch axis counted)."""
    return next(lay.feature_axis for lay in layouts.LAYOUTS if lay.rank == x.ndim - 1)


def _masks(size: int, count: int, width: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean keep-mask over ``size`` positions with ``count`` bands of up to ``width`` (share) removed."""
    keep = np.ones(size, dtype=bool)
    longest = int(round(width * size))
    for _ in range(count):
        w = int(rng.integers(0, longest + 1)) if longest > 0 else 0
        if w:
            start = int(rng.integers(0, size - w + 1))
            keep[start:start + w] = False
    return keep


def specaugment(time_masks=2, time_width=0.1, freq_masks=2, freq_width=0.15, p=1.0):
    """Zero random bands of time steps and of features in each example (Park et al., 2019, without warping)."""

    def augment(x, y, w, rng):
        x = x.copy()
        f_axis = _feature_axis(x)
        for i in range(len(x)):
            if rng.random() >= p:
                continue
            t_keep = _masks(x.shape[1], time_masks, time_width, rng)
            f_keep = _masks(x.shape[f_axis], freq_masks, freq_width, rng)
            x[i][~t_keep] = 0.0
            view = np.moveaxis(x[i], f_axis, -1)
            view[..., ~f_keep] = 0.0
        return x, y, w

    return augment


def mixup(alpha=0.2):
    """Mix each example with another of the batch: features, targets and weights alike (Zhang et al., 2018)."""

    def augment(x, y, w, rng):
        lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
        partner = rng.permutation(len(x))

        def mix(a):
            shape = (len(a),) + (1,) * (a.ndim - 1)
            return lam.reshape(shape) * a + (1 - lam.reshape(shape)) * a[partner]

        return mix(x), {k: mix(v) for k, v in y.items()}, {k: mix(v) for k, v in w.items()}

    return augment


def noise(snr_db=20.0, p=1.0):
    """Add Gaussian noise to the features at ``snr_db`` below each example's own feature variance."""

    def augment(x, y, w, rng):
        x = x.copy()
        for i in range(len(x)):
            if rng.random() < p:
                std = float(np.std(x[i])) * 10 ** (-snr_db / 20)
                x[i] += rng.normal(0.0, std, size=x[i].shape).astype(np.float32)
        return x, y, w

    return augment


def tempo(low=0.9, high=1.1, p=1.0):
    """Speed each example up or slow it down by a random factor in [low, high], on its features.

    The time axis is resampled by linear interpolation (features of frame ``t * factor``), then
    cut or zero-padded back to the same number of steps: a tempo change of the frame sequence
    that leaves each frame's spectrum (so the pitch) as it was, and needs no audio.
    """

    def augment(x, y, w, rng):
        x = x.copy()
        steps = x.shape[1]
        for i in range(len(x)):
            if rng.random() >= p:
                continue
            factor = float(rng.uniform(low, high))
            source = np.arange(steps) * factor  # output step t shows input time t * factor
            keep = source <= steps - 1
            lo = np.floor(source[keep]).astype(int)
            hi = np.minimum(lo + 1, steps - 1)
            frac = (source[keep] - lo).reshape(-1, *([1] * (x.ndim - 2))).astype(np.float32)
            out = np.zeros_like(x[i])
            out[keep] = (1 - frac) * x[i][lo] + frac * x[i][hi]
            x[i] = out
        return x, y, w

    return augment


def _check_tempo(options: Mapping[str, Any]) -> None:
    if not 0 < options["low"] <= options["high"]:
        raise ValueError(f"low={options['low']} and high={options['high']} need 0 < low <= high")
    if not 0 <= options["p"] <= 1:
        raise ValueError(f"p={options['p']} must be a share between 0 and 1")


def _check_shares(*names: str):
    def check(options: Mapping[str, Any]) -> None:
        for name in names:
            if not 0 <= options[name] <= 1:
                raise ValueError(f"{name}={options[name]} must be a share between 0 and 1")

    return check


def _check_specaugment(options: Mapping[str, Any]) -> None:
    _check_shares("time_width", "freq_width", "p")(options)
    for name in ("time_masks", "freq_masks"):
        if options[name] < 0:
            raise ValueError(f"{name}={options[name]} must be 0 or more")


def _check_mixup(options: Mapping[str, Any]) -> None:
    if not options["alpha"] > 0:
        raise ValueError(f"alpha={options['alpha']} must be positive")


@hookimpl
def serzoo_register_augmenters(register):
    register(Augmenter(
        name="specaugment", description="SpecAugment-style masking: random bands of time steps and of features set to 0",
        factory=specaugment, layouts=TIME_LAYOUTS,
        params=(
            Param("time_masks", "int", 2, "number of time masks per example"),
            Param("time_width", "float", 0.1, "longest time mask, as a share of the time steps"),
            Param("freq_masks", "int", 2, "number of feature (frequency) masks per example"),
            Param("freq_width", "float", 0.15, "longest feature mask, as a share of the features"),
            Param("p", "float", 1.0, "probability that an example is masked"),
        ),
        check=_check_specaugment,
    ))
    register(Augmenter(
        name="mixup", description="mixup: convex combinations of example pairs and of their targets",
        factory=mixup, params=(Param("alpha", "float", 0.2, "Beta(alpha, alpha) of the mixing weight"),),
        check=_check_mixup,
    ))
    register(Augmenter(
        name="tempo", description="tempo perturbation on the features: the time axis stretched by a random factor",
        factory=tempo, layouts=TIME_LAYOUTS,
        params=(Param("low", "float", 0.9, "smallest speed factor (below 1: slower, longer)"),
                Param("high", "float", 1.1, "largest speed factor (above 1: faster, shorter)"),
                Param("p", "float", 1.0, "probability that an example is stretched")),
        check=_check_tempo,
    ))
    register(Augmenter(
        name="noise", description="Gaussian noise on the features at a signal-to-noise ratio per example",
        factory=noise,
        params=(Param("snr_db", "float", 20.0, "signal-to-noise ratio in dB"),
                Param("p", "float", 1.0, "probability that an example gets noise")),
        check=_check_shares("p"),
    ))
