"""User-facing errors: one line that says what was wrong, where, and what would be right."""


class SerzooError(Exception):
    """An error caused by the user's input; the CLI prints it on one line and exits with 2."""

    exit_code = 2


class RegistrationError(SerzooError):
    """A plugin tried to register an invalid or duplicate component."""


class UnknownComponentError(SerzooError):
    """A component name that no plugin registered."""


class LayoutError(SerzooError):
    """A chain of blocks that cannot be assembled for the given input layout."""


class DataError(SerzooError):
    """A feature database or metadata table that cannot be used as it is."""


class ConfigError(SerzooError):
    """A training option or task specification that cannot be used."""


class OutputError(SerzooError):
    """A file or folder that cannot be written (full disk, read-only, no permission, a file in the way)."""


class TrainingError(SerzooError):
    """Training that cannot give a meaningful model (a loss that became NaN or infinite, a sampler that broke)."""


class ExportError(SerzooError):
    """An exported model that does not compute what the Keras model computes (parity above the tolerance)."""
