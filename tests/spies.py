"""Spy components for training tests: they record what training actually gave them.

Register them with the ``register_fake`` fixture (see conftest.py); each spy appends
to the list it was made with, so a test reads back what happened, not a constant.
"""

from __future__ import annotations

import h5py
import numpy as np

from serzoo.core.registry import Block, Loss, Sampler


def write_db(path, features, labels, groups_per_row: int):
    """A 1d SER_FEAT_EXT-style file with equal-sized groups of ``groups_per_row`` rows."""
    n_groups = len(features) // groups_per_row
    with h5py.File(path, "w") as f:
        f["feat"] = features
        f["label"] = np.asarray(labels, dtype=float)
        f["start_indice"] = np.arange(float(n_groups)) * groups_per_row
        f["end_indice"] = (np.arange(float(n_groups)) + 1) * groups_per_row
    return path


def batch_spy_block(seen: list) -> Block:
    """A block ``spy`` (sequence in, sequence out) appending every training batch it sees to ``seen``."""
    import keras
    import tensorflow as tf

    class BatchSpy(keras.layers.Layer):
        def call(self, x, training=None):
            if not training:
                return x

            def record(batch):
                seen.append(batch.numpy().copy())
                return np.float32(0.0)

            # py_function runs eagerly inside the compiled train step, once per batch
            done = tf.py_function(record, [x], tf.float32)
            done.set_shape(())
            return x + 0.0 * done

    return Block(name="spy", description="records training batches", layouts_in=("sequence",),
                 factory=lambda x, *, name: BatchSpy(name=f"{name}_seen")(x))


def index_spy_sampler(calls: list) -> Sampler:
    """An index sampler ``spy_index`` that draws rows with repeats and records ``(labels, order)`` per call."""

    def draw(y, x, rng, batch_size):
        order = rng.choice(len(y), size=len(y) + 3)  # repeats and a length of its own, like a real sampler
        calls.append((np.array(y), order))
        return order

    return Sampler(name="spy_index", description="records its labels", factory=draw)


def synthetic_spy_sampler(calls: list) -> Sampler:
    """A synthetic sampler ``spy_synth`` that returns its input unchanged and records ``(labels, features)``."""

    def make(y, x, rng, batch_size):
        calls.append((np.array(y), np.array(x)))
        return x, y

    return Sampler(name="spy_synth", description="records its rows", factory=make, needs_features=True)


def prior_spy_loss(calls: list) -> Loss:
    """A classification loss ``spy_loss`` (plain cross-entropy) recording the class priors it is built with."""

    def build(num_classes, class_priors):
        import keras

        calls.append(None if class_priors is None else np.array(class_priors))
        return keras.losses.CategoricalCrossentropy()

    return Loss(name="spy_loss", description="records its class priors", factory=build)
