"""The folds of one run spread over workers: each worker prepares the run from its configuration
and trains its fold exactly as :func:`serzoo.training.run.train_one_fold` would here.

Folds are independent (each seeds everything from ``--seed`` plus its index and writes
only its own ``foldNN/``), so the results equal a sequential run's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from serzoo.core.errors import TrainingError
from serzoo.training.config import TrainConfig
from serzoo.workers.backends import Echo, Job, memory_line, prefixed_echo


def fold_job(config: dict, run_dir: str, fold: int, split_name: str) -> dict:
    """Prepare the run in this worker and train one fold of it; returns the fold's result."""
    from serzoo.training.prepare import prepare
    from serzoo.training.run import train_one_fold

    prep = prepare(TrainConfig.from_dict(config))
    if prep.splits[fold].name != split_name:  # the worker must see the very folds the driver planned
        raise TrainingError(f"fold {fold}: the worker made split {prep.splits[fold].name!r}, the driver {split_name!r}")
    try:
        return train_one_fold(prep, fold, Path(run_dir), prefixed_echo(f"fold {fold + 1}"))
    finally:
        prep.db.close()


def train_folds(backend, prep, run_dir: Path, folds: list[int], echo: Echo) -> dict[int, dict]:
    """Train ``folds`` of a prepared run on ``backend``; returns their results by fold.

    Raises:
        TrainingError: a fold failed twice; the others' results are kept for ``--resume``.
    """
    # the worker opens the very file the driver opened, whatever folder it starts in
    data = prep.db.path or prep.config.data
    config = replace(prep.config, data=str(Path(data).resolve()) if data else None).to_dict()
    echo(f"training {len(folds)} folds on {backend.description}")
    jobs = [Job(f"fold {fold + 1} ({prep.splits[fold].name})", fold_job,
                (config, str(Path(run_dir).resolve()), fold, prep.splits[fold].name)) for fold in folds]
    outcomes = backend.run(jobs, echo)
    echo(memory_line(outcomes))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        what = "; ".join(f"{o.name}: {o.error}" for o in failed)
        raise TrainingError(f"{len(failed)} of {len(folds)} folds failed twice ({what}); the finished folds are "
                            f"kept: fix the cause and continue with serzoo train --resume {run_dir}")
    return {fold: outcome.value for fold, outcome in zip(folds, outcomes)}
