"""Built-in samplers on a tiny imbalanced label set, and a property check of every registered one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from serzoo.core import plugin_manager
from serzoo.core.errors import ConfigError

# 24 / 6 / 4 rows of classes 0, 1, 2, interleaved like a real fold.
Y = np.random.default_rng(7).permutation(np.repeat([0, 1, 2], [24, 6, 4]))
COUNTS = np.bincount(Y)


def _x(rows=len(Y)):
    """Features of rank 3 (rows, frames, features), separable by class so ENN keeps rows."""
    rng = np.random.default_rng(3)
    return (rng.normal(size=(rows, 5, 4)) * 0.1 + Y[:rows, None, None]).astype("float32")


def _run(name, seed=0, y=Y, x=None, batch_size=8, **options):
    sampler = plugin_manager.samplers().get(name)
    if any(p.name == "k_neighbors" for p in sampler.params):
        options.setdefault("k_neighbors", 3)  # class 2 has only 4 rows
    opts = sampler.resolve(options)
    if sampler.needs_features:
        x = _x() if x is None else x
    return sampler.factory(y, x if sampler.needs_features else None, np.random.default_rng(seed), batch_size, **opts)


def _index_samplers():
    return [s.name for s in plugin_manager.samplers().list() if not s.needs_features]


def _synthetic_samplers():
    return [s.name for s in plugin_manager.samplers().list() if s.needs_features]


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b)) if isinstance(a, tuple) else np.array_equal(a, b)


@pytest.mark.parametrize("name", _index_samplers())
def test_every_index_sampler_returns_valid_positions(name):
    idx = _run(name)
    assert idx.ndim == 1 and idx.dtype.kind == "i" and idx.size > 0
    assert idx.min() >= 0 and idx.max() < len(Y)
    assert set(Y[idx]) == {0, 1, 2}, "every class must stay in the training rows"


@pytest.mark.parametrize("name", _index_samplers() + _synthetic_samplers())
def test_every_sampler_is_reproducible_from_its_generator(name):
    assert _same(_run(name, seed=11), _run(name, seed=11))
    assert not _same(_run(name, seed=11), _run(name, seed=12))


@pytest.mark.parametrize("name", _index_samplers())
def test_every_index_sampler_copes_with_a_missing_class_number(name):
    # Class 1 is absent from this fold's training rows: the sampler must not invent it.
    y = np.array([0] * 9 + [2] * 3)
    idx = _run(name, y=y, batch_size=4)
    assert set(y[idx]) == {0, 2}


@pytest.mark.parametrize("name", _synthetic_samplers())
def test_every_synthetic_sampler_keeps_row_shape_and_dtype(name):
    x = _x()
    x_new, y_new = _run(name, x=x)
    assert x_new.shape[1:] == x.shape[1:] and x_new.dtype == x.dtype
    assert y_new.shape == (x_new.shape[0],) and set(y_new) <= {0, 1, 2}


def test_none_is_a_permutation():
    idx = _run("none")
    assert sorted(idx.tolist()) == list(range(len(Y)))
    assert idx.tolist() != list(range(len(Y)))


def test_oversample_raises_every_class_to_the_majority_and_keeps_all_rows():
    idx = _run("oversample")
    assert np.bincount(Y[idx]).tolist() == [24, 24, 24]
    assert set(idx.tolist()) == set(range(len(Y)))


def test_undersample_cuts_every_class_to_the_minority_without_repeats():
    idx = _run("undersample")
    assert np.bincount(Y[idx]).tolist() == [4, 4, 4]
    assert len(set(idx.tolist())) == idx.size
    # Called once per epoch, it shows other majority rows each time.
    assert set(idx.tolist()) != set(_run("undersample", seed=1).tolist())


@pytest.mark.parametrize("batch_size", [8, 6, 2])
def test_balanced_batches_have_near_equal_class_shares(batch_size):
    idx = _run("balanced", batch_size=batch_size)
    n_batches = -(-len(Y) // batch_size)
    assert idx.size == n_batches * batch_size
    for start in range(0, idx.size, batch_size):
        shares = np.bincount(Y[idx[start:start + batch_size]], minlength=3)
        assert shares.max() - shares.min() <= 1, shares
        assert shares.max() <= -(-batch_size // 3)


def test_balanced_repeats_minority_rows_only():
    idx = _run("balanced", batch_size=6)  # 6 batches of 2 rows per class
    majority = idx[Y[idx] == 0]
    minority = idx[Y[idx] == 2]
    assert len(set(majority.tolist())) == majority.size == 12
    assert minority.size == 12 and set(minority.tolist()) == set(np.flatnonzero(Y == 2).tolist())


def test_smote_adds_synthetic_rows_up_to_the_majority():
    x = _x()
    x_new, y_new = _run("smote", x=x)
    assert np.bincount(y_new).tolist() == [24, 24, 24]
    assert x_new.shape == (72, 5, 4)
    np.testing.assert_array_equal(x_new[: len(Y)], x)
    synthetic = x_new[len(Y):]
    # Interpolated between two rows of the same class, so inside that class's value range.
    for cls in (1, 2):
        rows = synthetic[y_new[len(Y):] == cls]
        own = x[Y == cls]
        assert rows.min() >= own.min() - 1e-6 and rows.max() <= own.max() + 1e-6


def test_smoteenn_returns_a_nearly_balanced_set():
    x_new, y_new = _run("smoteenn")
    counts = np.bincount(y_new, minlength=3)
    assert counts.min() > 0.8 * counts.max()
    assert x_new.shape == (y_new.size, 5, 4)


@pytest.mark.parametrize("name", ["smote", "smoteenn"])
def test_smote_names_the_class_with_too_few_rows(name):
    with pytest.raises(ConfigError) as err:
        _run(name, k_neighbors=5)  # the default; class 2 has 4 rows
    assert str(err.value) == (
        f"sampler {name}: class 2 has 4 training rows in this fold, fewer than k_neighbors+1=6; "
        "set k_neighbors to at most 3"
    )


def test_smote_rejects_a_single_row_class():
    y = np.array([0] * 6 + [1])
    with pytest.raises(ConfigError, match="class 1 has 1 training rows.*use the oversample or balanced sampler"):
        _run("smote", y=y, x=np.zeros((7, 3), "float32"), k_neighbors=2)


def test_smote_without_imbalanced_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "imblearn", None)  # makes `import imblearn` fail
    with pytest.raises(ConfigError, match=r"sampler smote needs imbalanced-learn: pip install 'serzoo\[smote\]'"):
        _run("smote")


def test_sampler_plugin_imports_neither_numpy_nor_imblearn():
    code = ("import sys, serzoo.plugins.samplers; "
            "print(sorted(m for m in ('numpy', 'imblearn', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
