"""Hook specifications: the contracts between serzoo and its plugins.

A plugin is a module (or object) with functions decorated ``@serzoo.hookimpl``
and named after the specs below, exposed through an entry point in the
``serzoo`` group of its distribution. Hooks are called with keyword arguments
only; a spec evolves by gaining arguments, never by renaming one.

serzoo calls each hook through pluggy once per plugin, so a
``@serzoo.hookimpl(wrapper=True)`` implementation wraps the implementations of
its own plugin (a plugin that raises is skipped alone, nothing it registered
kept). Registries and plugin commands are rebuilt whenever plugins are added
or removed, so every hook here may run more than once per process: make it
idempotent, registering the same components (or commands) each time and
keeping no state between calls.

Names belong to the first claimant, except that built-ins (components and
commands of the ``serzoo`` distribution) always keep theirs: a clashing
component or command is dropped alone, with a warning naming both
distributions.
"""

import pluggy

hookspec = pluggy.HookspecMarker("serzoo")


@hookspec
def serzoo_register_blocks(register):
    """Register model blocks; runs each time the block registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same blocks every time.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Block`; it raises
            on an invalid name, and drops (with a warning) a block whose name a
            built-in or an earlier plugin already holds.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_losses(register):
    """Register losses; runs each time the loss registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same losses every time.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Loss`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_samplers(register):
    """Register training-set samplers; runs each time the sampler registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same samplers every time.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Sampler`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_loaders(register):
    """Register data loaders; runs each time the loader registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same loaders every time. When several loaders
    handle a file name, serzoo's built-in loaders are preferred.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Loader`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_splitters(register):
    """Register cross-validation protocols; runs each time the splitter registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same splitters every time. The core registers
    ``logo``, ``kfold``, ``fixed`` and ``loco`` itself; a plugin adds others
    (``serzoo train --protocol NAME``).

    Args:
        register: callable taking one :class:`serzoo.core.registry.Splitter`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_metrics(register):
    """Register evaluation metrics; runs each time the metric registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same metrics every time. Every registered metric of a task's type is reported for each fold and summarised in
    ``results.json``; any of them can select the checkpoint (``--tasks name:classes:column:::metric``).

    Args:
        register: callable taking one :class:`serzoo.core.registry.Metric`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_augmenters(register):
    """Register training-batch augmenters; runs each time the augmenter registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same augmenters every time. ``serzoo train --augment NAME`` applies them, in the order given, to training batches
    only; validation and test rows are never augmented.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Augmenter`.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_features(register):
    """Register feature extractors; runs each time the feature registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same extractors every time. ``serzoo data build
    --features NAME`` and the audio loader use them.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Feature`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_exporters(register):
    """Register model export formats; runs each time the exporter registry is built, so possibly more than once.

    The registry is built on first use and rebuilt whenever plugins are added
    or removed: register the same exporters every time. ``serzoo export
    --format NAME`` uses them; every export is run against the Keras model
    before it is kept.

    Args:
        register: callable taking one :class:`serzoo.core.registry.Exporter`; name
            rules and clashes as for blocks.

    Returns:
        Nothing; the return value is ignored.
    """


@hookspec
def serzoo_register_commands(cli):
    """Add subcommands to the command line; runs when the ``serzoo`` command starts, and again if plugins change.

    Plugin commands are rebuilt from the built-in ones whenever plugins are
    added or removed: add the same commands every time. A command that would
    replace a built-in one (``train``, ``list``, ...) or another plugin's is
    refused with a warning naming the plugin and its distribution.

    Args:
        cli: the top-level :class:`click.Group`; call ``cli.add_command(...)``
            or decorate with ``@cli.command()``.

    Returns:
        Nothing; the return value is ignored.
    """
