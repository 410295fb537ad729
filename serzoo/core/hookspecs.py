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
def serzoo_register_splitters(register):
    """Register cross-validation protocols; runs once, the first time the splitter registry is used.

    The core registers ``logo``, ``kfold``, ``fixed`` and ``loco`` itself; a plugin
    adds others (``serzoo train --protocol NAME``).

    Args:
        register: callable taking one :class:`serzoo.core.registry.Splitter`; it rejects
            invalid names and names another plugin already registered.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_metrics(register):
    """Register evaluation metrics; runs once, the first time the metric registry is used.

    Every registered metric of a task's type is reported for each fold and summarised in
    ``results.json``; any of them can select the checkpoint (``--tasks name:classes:column:::metric``).

    Args:
        register: callable taking one :class:`serzoo.core.registry.Metric`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_augmenters(register):
    """Register training-batch augmenters; runs the first time the augmenter registry is used.

    ``serzoo train --augment NAME`` applies them, in the order given, to training batches
    only; validation and test rows are never augmented.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Augmenter`.

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
