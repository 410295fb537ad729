"""serzoo: a plugin-based zoo of neural architectures for speech emotion recognition.

Importing this package is cheap: TensorFlow is imported only when a model is
built or trained.
"""

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations; third-party plugins use ``@serzoo.hookimpl``.
hookimpl = pluggy.HookimplMarker("serzoo")

__all__ = ["__version__", "hookimpl"]
