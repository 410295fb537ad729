"""Cross-validated training: every fold of a prepared run, resumable, then the run's results.

A run directory holds ``config.json``, one ``foldNN`` folder per fold (see
:mod:`serzoo.training.fold`) and, when every fold is done, ``results.json`` and
``results.txt``. Folds that finished before an interruption are kept as they are.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from serzoo.core.files import ensure_folder
from serzoo.training.config import TrainConfig
from serzoo.training.evaluate import headline
from serzoo.training.fold import train_fold, train_fold_ensemble
from serzoo.training.prepare import Prepared
from serzoo.training.progress import notify
from serzoo.training.rundir import read_fold_result

Echo = Callable[[str], None]


def run(prep: Prepared, run_dir: Path, echo: Echo = print, backend=None) -> dict:
    """Train every fold not finished yet, then write ``results.json`` and ``results.txt``.

    Args:
        backend: spreads the unfinished folds over worker processes or Ray tasks
            (see :mod:`serzoo.workers`); None trains them here, one after another.

    Returns:
        The summary per task (see :func:`serzoo.training.results.summarize_run`).
    """
    from serzoo.training.groups import add_group_results
    from serzoo.training.results import summarize_run, write_results

    ensure_folder(run_dir)
    if prep.config.final:
        from serzoo.training.final import run_final

        return run_final(prep, run_dir, echo)  # one model, no test: no summary over folds
    fold_results = {}
    total = len(prep.splits)
    todo = sum(not (run_dir / f"fold{i:02d}" / "result.json").exists() for i in range(total))
    notify(echo, "start", total, todo, len(prep.config.model_seeds()))
    for fold, split in enumerate(prep.splits):
        done = run_dir / f"fold{fold:02d}" / "result.json"
        if done.exists():
            fold_results[fold] = read_fold_result(done)
            echo(f"fold {fold + 1}/{total} ({split.name}): done before, kept")
    pending = [fold for fold in range(total) if fold not in fold_results]
    if backend is not None and len(pending) > 1:
        from serzoo.workers.folds import train_folds

        finished = train_folds(backend, prep, run_dir, pending, echo)
        fold_results.update(finished)
        for _ in finished:
            notify(echo, "fold_finished")
    for fold in pending:
        if fold not in fold_results:
            fold_results[fold] = train_one_fold(prep, fold, run_dir, echo)
    fold_results = [fold_results[fold] for fold in range(total)]
    add_group_results(run_dir, fold_results, prep.tasks, prep.db.labels,
                      lambda name: (prep.db.grouping(name).ids, prep.db.grouping(name).names))
    summary = summarize_run(prep.tasks, prep.class_names(), fold_results)
    write_results(run_dir, prep, fold_results, summary)
    return summary


def train_one_fold(prep: Prepared, fold: int, run_dir: Path, echo: Echo = print) -> dict:
    """Train (or resume) fold ``fold`` of a run in ``run_dir/foldNN``; returns its result."""
    split = prep.splits[fold]
    total = len(prep.splits)
    fold_dir = ensure_folder(run_dir / f"fold{fold:02d}")
    echo(f"fold {fold + 1}/{total} ({split.name}): train {len(split.train)}, val {len(split.val)}, "
         f"test {len(split.test)} rows")
    start = time.monotonic()
    notify(echo, "fold_started", fold + 1)
    seeds = prep.config.model_seeds()
    if len(seeds) == 1:
        result = train_fold(prep, fold, split, fold_dir, echo)
    else:
        result = train_fold_ensemble(prep, fold, split, fold_dir, seeds, echo)
    scores = ", ".join(f"{name} {headline(rep)}" for name, rep in result["test"].items())
    echo(f"fold {fold + 1}/{total} done in {time.monotonic() - start:.0f}s: "
         f"best epoch {result['best_epoch']}, test {scores}")
    notify(echo, "fold_finished")
    return result


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/TIMESTAMP-BLOCKS`` (``$SERZOO_RUNS`` replaces ``runs``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    blocks = config.blocks.replace(",", "-")
    return Path(os.environ.get("SERZOO_RUNS", "runs")) / f"{stamp}-{blocks}"
