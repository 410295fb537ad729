"""The ``--workers``/``--ray`` options shared by ``serzoo train`` and ``serzoo sweep``."""

from __future__ import annotations

import click


def worker_options(what: str):
    """Decorate a command with ``--workers``, ``--ray`` and ``--cpus-per-task``; ``what`` names the jobs."""

    def decorate(command):
        options = [
            click.option("--workers", type=click.IntRange(min=1), default=None,
                         help=f"Spread the {what} over N local worker processes, each with cores/N TensorFlow "
                              "threads (default: one after another in this process)."),
            click.option("--ray", "ray_address", default=None, metavar="ADDRESS|auto|local",
                         help=f"Run the {what} as Ray tasks on the cluster at ADDRESS (auto: the one `ray start` "
                              "made here; local: start Ray in this process); pip install 'serzoo[ray]'."),
            click.option("--cpus-per-task", type=click.IntRange(min=1), default=None,
                         help="CPUs (and TensorFlow threads) per worker or Ray task; default: cores/N locally, 1 on Ray."),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def backend_from(workers: int | None, ray_address: str | None, cpus_per_task: int | None):
    """The backend the options name, or None for the plain sequential path (no option, or ``--workers 1``)."""
    if ray_address is None and (workers or 1) == 1:
        return None
    from serzoo.workers.backends import make_backend

    return make_backend(workers, ray_address, cpus_per_task)
