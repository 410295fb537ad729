"""A sweep's trials: each configuration planned (checked, keyed) and run as a normal run directory.

``SWEEP_DIR/BLOCKS-KEY/`` is a run directory like any other (``config.json``, ``foldNN/``,
``results.json``), plus ``trial.json`` (key, axis values, wall time, parameters). A trial
with ``results.json`` is finished and skipped; one with only ``config.json`` was
interrupted and is continued with the run's own resume.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from serzoo.core.errors import ConfigError, SerzooError
from serzoo.core.files import write_json
from serzoo.sweep.grid import SweepSpec, describe, expand, trial_key
from serzoo.training.config import TrainConfig
from serzoo.workers.backends import Echo, Job, Outcome, memory_line, prefixed_echo

TRIAL_FILE = "trial.json"


@dataclass
class Trial:
    """One configuration of the grid, checked and placed."""

    key: str
    label: str
    choice: dict
    config: TrainConfig
    folder: Path

    @property
    def status(self) -> str:
        if (self.folder / "results.json").exists():
            return "done"
        return "partial" if (self.folder / "config.json").exists() else "new"


def _needs_validation(prep) -> None:
    """A sweep selects on validation scores: refuse folds without validation rows."""
    if any(len(split.val) == 0 for split in prep.splits):
        raise ConfigError("the sweep selects by validation score, and these folds have no validation rows "
                          "(--val-share 0?), so the selection cannot be honest: give --val-share > 0 or --val-groups")


def plan(spec: SweepSpec, out: Path, echo: Echo) -> tuple[list[Trial], list[tuple[str, str]]]:
    """Check every configuration of the grid without TensorFlow; returns the trials and the skipped ones.

    A configuration that fails to plan (a chain that does not fit the data, say) is skipped with
    its reason; a missing validation split fails the whole sweep (no trial could be selected honestly).
    """
    from serzoo.data.fingerprint import fingerprint
    from serzoo.training.prepare import prepare
    from serzoo.training.rundir import absolute

    trials, skipped, prints = [], [], {}
    for choice, config in expand(spec):
        label = describe(choice)
        try:
            prep = prepare(config, echo=echo)
        except SerzooError as exc:
            skipped.append((label, str(exc)))
            continue
        try:
            _needs_validation(prep)
            path = prep.db.path or config.data
            if path not in prints:
                prints[path] = fingerprint(prep.db)
            config = absolute(replace(config, data=path))
        finally:
            prep.db.close()
        key = trial_key(config, prints[path])
        trials.append(Trial(key, label, choice, config, out / f"{config.blocks.replace(',', '-')}-{key}"))
    return trials, skipped


def trial_job(config: dict, folder: str, label: str, choice: dict, key: str) -> dict:
    """Run (or continue) one trial in this worker; returns its ``trial.json`` record."""
    from serzoo.training import rundir
    from serzoo.training.run import run

    start = time.monotonic()
    folder_path = Path(folder)
    echo = prefixed_echo(label)
    record_path = folder_path / TRIAL_FILE
    hold = rundir.claim(folder_path)  # one process per trial, even when two sweeps share SWEEP_DIR
    try:
        prep = _open_trial(config, folder_path, echo)
        try:
            run(prep, folder_path, echo=echo)
            earlier = _read_json(record_path).get("seconds", 0.0)
            record = {"key": key, "label": label, "choice": choice, "parameters": _parameters(prep),
                      "seconds": earlier + time.monotonic() - start}
            write_json(record_path, record)
        finally:
            prep.db.close()
    finally:
        hold.close()
    return record


def _open_trial(config: dict, folder: Path, echo: Echo):
    """The trial's prepared run: a new run directory, or the interrupted one on the data it started with."""
    from serzoo.training import rundir
    from serzoo.training.prepare import prepare

    if (folder / rundir.CONFIG_FILE).exists():
        prep = prepare(rundir.load_config(folder), echo=echo)
        rundir.check_same_data(folder, prep.db)
        echo("continuing an interrupted trial")
    else:
        prep = prepare(TrainConfig.from_dict(config), echo=echo)
        rundir.start_run(folder, prep.config, prep.db)
    return prep


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _parameters(prep) -> int:
    """Trainable and other weights of the trial's model (built once more; its layout fixes the count)."""
    from serzoo.core.tf import import_tensorflow
    from serzoo.model.assemble import Head, build_model

    import_tensorflow()
    import keras

    model = build_model(prep.plan, prep.db.example_shape, [Head(t.name, t.num_classes) for t in prep.tasks])
    count = int(model.count_params())
    keras.backend.clear_session()  # a worker runs many trials: free this one's graph
    return count


def run_trials(trials: list[Trial], backend, echo: Echo) -> list[Outcome]:
    """Run the trials not finished yet on ``backend``; returns one outcome per trial run."""
    todo = [t for t in trials if t.status != "done"]
    if len(todo) < len(trials):
        echo(f"{len(trials) - len(todo)} of {len(trials)} trials finished before: kept")
    if not todo:
        return []
    echo(f"running {len(todo)} trials on {backend.description}")
    jobs = [Job(f"trial {t.label}", trial_job, (t.config.to_dict(), str(t.folder.resolve()), t.label, t.choice, t.key))
            for t in todo]
    outcomes = backend.run(jobs, echo)
    echo(memory_line(outcomes))
    return outcomes
