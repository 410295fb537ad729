"""Importing TensorFlow without its native start-up chatter.

TensorFlow's C++ side prints oneDNN, CUDA-probe and absl lines straight to file
descriptor 2 when it loads, even with ``TF_CPP_MIN_LOG_LEVEL`` set; on a CPU
machine they read like failures ("failed call to cuInit"). serzoo imports
TensorFlow through :func:`import_tensorflow` at the points where a model or a
feature extractor is first needed, with descriptor 2 sent to /dev/null for the
duration, unless ``SERZOO_VERBOSE`` is set (``serzoo --debug`` or ``-v``).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

VERBOSE_ENV = "SERZOO_VERBOSE"


@contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow(setup=None):
    """Import TensorFlow and Keras once, quietly unless ``SERZOO_VERBOSE`` is set; returns the tensorflow module.

    Args:
        setup: called with the module right after the import, before TensorFlow runs its first
            operation (a multi-worker strategy must be made then); on a later call, at once.
    """
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        tf = sys.modules["tensorflow"]
        if setup is not None:
            setup(tf)
        return tf
    if os.environ.get(VERBOSE_ENV):
        import keras  # noqa: F401
        import tensorflow as tf

        if setup is not None:
            setup(tf)
        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_silenced():
        import keras  # noqa: F401
        import tensorflow as tf

        if setup is not None:
            setup(tf)
        tf.config.list_physical_devices()  # the CUDA probe prints on first use of the devices
        tf.constant(0.0) + 1.0  # and loading the CPU kernels prints the absl preamble once more
    # Python-side notices (such as tf.function retracing in per-seed ensembles) are not the user's problem
    tf.get_logger().setLevel("ERROR")
    return tf
