"""The final model: one model on all groups, for the number of epochs a cross-validation run chose.

A cross-validation run gives one model per fold; a user ships one. ``serzoo train --final``
trains it on every selected group (``--train-groups``/``--ignore-groups`` still select),
with no validation and no test data, so no test score exists for it: the cross-validation
run that chose its epochs (``--epochs-from RUN_DIR``: the median of its folds' best epochs)
is the estimate of how well it does. The model is ``RUN/final/model.keras``.

Also here: the checks of the options of the later stages (pretrained models, adaptation,
the final model), which need no data.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from serzoo.core.errors import ConfigError
from serzoo.data.database import Database
from serzoo.data.splits import Split, parse_groups

Echo = Callable[[str], None]
FINAL_DIR = "final"
NO_TEST = ("no test score: the final model trained on every selected group; the cross-validation run that chose "
           "its epochs estimates how well it does")


def check_stage_options(config) -> None:
    """Refuse contradictory options of the pretrained, adaptation and final stages (one line each)."""
    checks = [
        (config.unfreeze_after is None or config.unfreeze_after >= 1, "--unfreeze-after must be at least 1 epoch"),
        (config.unfreeze_after is None or config.freeze, "--unfreeze-after needs --freeze (layers to unfreeze)"),
        (config.unfreeze_after is None or config.unfreeze_after < config.epochs,
         f"--unfreeze-after {config.unfreeze_after} must be below --epochs {config.epochs}, or nothing unfreezes"),
        (config.adapt_epochs >= 1, "--adapt-epochs must be at least 1"),
        (config.adapt_lr is None or (math.isfinite(config.adapt_lr) and config.adapt_lr > 0),
         "--adapt-lr must be a positive finite number"),
        (config.adapt_groups or (config.adapt_lr is None and not config.adapt_freeze),
         "--adapt-lr and --adapt-freeze need --adapt-groups (the groups to adapt to)"),
        (config.final or not config.epochs_from, "--epochs-from goes with --final (a final model on all groups)"),
    ]
    if config.final:
        for option, value in (("--test-groups", config.test_groups), ("--val-groups", config.val_groups),
                              ("--adapt-groups", config.adapt_groups), ("--seeds", config.seeds)):
            checks.append((not value, f"--final trains one model on all groups with no test or validation "
                                      f"data; drop {option}"))
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def epochs_from_run(run_dir: str | Path) -> tuple[int, list[int]]:
    """The median of a finished run's per-fold best epochs (rounded half up), and those epochs.

    The median, not the mean, so that one fold that stopped very early or late does not move it.

    Raises:
        ConfigError: not a finished run, or one without best epochs.
    """
    path = Path(run_dir) / "results.json"
    try:
        folds = json.loads(path.read_text())["folds"]
        best = [int(round(float(f["best_epoch"]))) for f in folds]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--epochs-from {run_dir}: no finished run there ({path} missing or unreadable)") from None
    if not best:
        raise ConfigError(f"--epochs-from {run_dir}: the run has no folds")
    return max(1, int(math.floor(float(np.median(best)) + 0.5))), best


def final_split(db: Database, config) -> Split:
    """Every row of the selected groups for training; no validation, no test."""
    grouping = db.grouping(config.group_by)
    n = grouping.n_groups
    ignore = set(parse_groups(config.ignore_groups, n, "--ignore-groups")) if config.ignore_groups else set()
    chosen = parse_groups(config.train_groups, n, "--train-groups") if config.train_groups else list(range(n))
    groups = [g for g in chosen if g not in ignore]
    rows = grouping.rows(groups) if n else np.arange(db.n_rows, dtype=np.int64)
    if not len(rows):
        raise ConfigError("--final: no rows left to train on after --train-groups and --ignore-groups")
    empty = np.empty(0, dtype=np.int64)
    return Split(FINAL_DIR, np.sort(rows), empty, empty, groups, [], [], grouping=grouping.name,
                 group_names=grouping.names, protocol="final model: every selected group trains; no validation, "
                                                      "no test")


def run_final(prep, run_dir: Path, echo: Echo) -> dict:
    """Train (or resume) the final model in ``RUN/final`` and write the run's results, which have no test score."""
    from serzoo.core.files import ensure_folder
    from serzoo.training.fold import train_fold

    split = prep.splits[0]
    fold_dir = run_dir / FINAL_DIR
    done = fold_dir / "result.json"
    if done.exists():
        result = json.loads(done.read_text())
        echo("final model: done before, kept")
    else:
        ensure_folder(fold_dir)
        echo(f"final model: train {len(split.train)} rows of {len(split.train_groups) or 'all'} groups for "
             f"{prep.config.epochs} epochs")
        result = train_fold(prep, 0, split, fold_dir, echo)
    _write_results(run_dir, prep, result)
    return result


def final_record(prep) -> dict:
    """How the final model's epochs were chosen (saved in its metadata and results)."""
    cfg = prep.config
    record = {"epochs": cfg.epochs, "epochs_from": cfg.epochs_from, "rule": "--epochs given"}
    if cfg.epochs_from:
        _, best = epochs_from_run(cfg.epochs_from)
        record.update(rule="median of the run's per-fold best epochs, rounded half up", fold_best_epochs=best)
    return record


def _write_results(run_dir: Path, prep, result: dict) -> None:
    from serzoo.core.files import write_json, write_text
    from serzoo.training.results import normalization_record

    split = prep.splits[0]
    results = {
        "serzoo_results": 1, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": {"path": prep.db.path, "layout": prep.db.file_layout, "rows": prep.db.n_rows,
                 "label_names": prep.db.label_names, "features": prep.db.attrs},
        "protocol": split.protocol, "normalization": normalization_record(prep.config.normalize),
        "config": prep.config.to_dict(), "tasks": [t.to_dict() for t in prep.tasks],
        "final": {**final_record(prep), "model": f"{FINAL_DIR}/model.keras", "groups": split.train_groups,
                  "group_names": [split.group_names[g] for g in split.train_groups if g < len(split.group_names)],
                  "rows": len(split.train)},
        "test": None, "no_test_score": NO_TEST, "summary": {}, "result": result,
    }
    write_json(run_dir / "results.json", results)
    final = results["final"]
    lines = [f"final model: {run_dir / FINAL_DIR / 'model.keras'}",
             f"data: {prep.db.path}  ({len(split.train)} of {prep.db.n_rows} rows; groups "
             f"{', '.join(final['group_names']) or 'all'})",
             f"blocks: {prep.config.blocks}  epochs: {final['epochs']} ({final['rule']}"
             f"{', from ' + str(final['epochs_from']) if final['epochs_from'] else ''})",
             NO_TEST.upper()[:13] + NO_TEST[13:]]
    if result.get("init"):
        from serzoo.training.pretrained import load_summary

        lines.append(load_summary(result["init"]))
    write_text(run_dir / "results.txt", "\n".join(lines) + "\n")
