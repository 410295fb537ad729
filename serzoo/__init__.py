"""serzoo: a plugin-based zoo of neural architectures for speech emotion recognition.

Importing this package is cheap: TensorFlow is imported only when a model is
built or trained.

The package is laid out by the stages a run flows through:

* :mod:`serzoo.core`: hook specs, component records and registries, the plugin manager, errors;
* :mod:`serzoo.data`: feature databases, building them from audio, splits into folds;
* :mod:`serzoo.model`: assembling blocks into a Keras model, saving and loading it;
* :mod:`serzoo.training`: configuration, tasks, the fold loop, metrics and results.

Plugin authors need only what this module exports: ``hookimpl`` and the
component records (``Block``, ``Loss``, ``Sampler``, ``Loader``, ``Splitter``, ``Feature``, ``Exporter``, ``Param``, ...).
"""

import pluggy

__version__ = "0.2.0"

#: Marker for hook implementations; third-party plugins use ``@serzoo.hookimpl``.
hookimpl = pluggy.HookimplMarker("serzoo")

# plain Python, no TensorFlow
from serzoo.core.registry import (  # noqa: E402
    Augmenter, Block, Exporter, Feature, Loader, Loss, Metric, Param, Sampler, Splitter,
)

__all__ = ["__version__", "hookimpl", "Augmenter", "Block", "Exporter", "Feature", "Loader", "Loss", "Metric", "Param",
           "Sampler", "Splitter"]

# `keras.saving.load_model` finds serzoo's layers (and plugins') once Keras is imported, with no TensorFlow now
from serzoo.model import keras_objects as _keras_objects  # noqa: E402

_keras_objects.install()
