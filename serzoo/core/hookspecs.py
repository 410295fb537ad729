"""Hook specifications: the contracts between serzoo and its plugins.

A plugin is a module (or object) with functions decorated ``@serzoo.hookimpl``
and named after the specs below, exposed through an entry point in the
``serzoo`` group of its distribution. Hooks are called with keyword arguments
only; a spec evolves by gaining arguments, never by renaming one.
"""

import pluggy

hookspec = pluggy.HookspecMarker("serzoo")


@hookspec
def serzoo_register_blocks(register):
    """Register model blocks; runs once, the first time the block registry is used.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Block`; it rejects
            invalid names and names another plugin already registered.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_losses(register):
    """Register losses; runs once, the first time the loss registry is used.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Loss`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_samplers(register):
    """Register training-set samplers; runs once, the first time the sampler registry is used.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Sampler`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_loaders(register):
    """Register data loaders; runs once, the first time the loader registry is used.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Loader`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_features(register):
    """Register feature extractors; runs each time the feature registry is (re)built.

    Implementations must only call ``register`` (no other side effects), since the
    registry is rebuilt when plugins are added or removed at run time.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Feature`; it rejects
            invalid names and names another plugin already registered.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_commands(cli):
    """Add subcommands to the command line; runs when the ``serzoo`` command starts.

    Args:
        cli: the top-level :class:`click.Group`; call ``cli.add_command(...)``
            or decorate with ``@cli.command()``.

    Returns:
        Nothing; the return value is ignored.
    """
