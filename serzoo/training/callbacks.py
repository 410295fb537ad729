"""The fold checkpoint: validation-based model selection, early stopping and resumable state.

Keras' EarlyStopping and ModelCheckpoint keep their state in memory, so a run
killed with kill -9 could not continue where it stopped. This callback saves,
after every epoch and atomically, the full model with its optimizer and the
selection state (best score, best epoch, epochs without improvement) in one
``.keras`` file, and the best weights so far in another. Writing costs more than
a short epoch, so it happens at most every ``every_seconds`` and never after the
last epoch: the finished fold takes its best weights from memory, and a run
killed before the fold's result is written resumes from the last checkpoint,
which repeats a few epochs but gives the same, bit-identical, result.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import keras

from serzoo.core.errors import TrainingError
from serzoo.core.files import atomic_path
from serzoo.model.serialization import save_model


class FoldCheckpoint(keras.callbacks.Callback):
    """Select on validation, stop after ``patience`` epochs without improvement, save state each epoch.

    Args:
        last_path: ``.keras`` file holding the model, optimizer and state after the last finished epoch.
        best_path: ``.weights.h5`` file holding the best weights so far.
        state: the state read back from ``last_path`` when resuming, else ``None``.
        patience: epochs without improvement before stopping; 0 never stops early.
        validate: ``model -> (score, report)`` on the validation rows, higher is better;
            ``None`` when there is no validation split (the last epoch is kept).
        epoch_state: dict whose ``epoch`` key is set at each epoch start (the samplers read it).
        echo: progress printer.
        epochs: the planned number of epochs (for progress lines).
        metadata: serzoo metadata stored with the checkpoint.
        where: names the fold in messages, such as ``fold 3 (fold2)``.
        every_seconds: write the resumable checkpoint after an epoch only when this many seconds
            have passed since the last one (never after the last epoch); 0: every epoch but the last.
            A resume continues exactly from the last checkpoint, so this trades the work a
            kill -9 can lose against the time spent writing the model.
    """

    def __init__(self, *, last_path: Path, best_path: Path, state: dict | None, patience: int,
                 validate: Callable | None, epoch_state: dict, echo: Callable[[str], None], epochs: int,
                 metadata: dict, where: str = "this fold", every_seconds: float = 0.0):
        super().__init__()
        self.last_path, self.best_path = Path(last_path), Path(best_path)
        self.patience, self.validate, self.epoch_state = patience, validate, epoch_state
        self.echo, self.epochs, self.metadata, self.where = echo, epochs, metadata, where
        self.every_seconds, self.saved_at, self.pending_best = every_seconds, time.monotonic(), None
        self.best_weights = None  # the best weights of this session, once an epoch improved
        state = state or {}
        self.best_score = state.get("best_score", float("-inf"))
        self.best_epoch = state.get("best_epoch", -1)
        self.best_report = state.get("best_report")
        self.wait = state.get("wait", 0)
        self.last_epoch = state.get("epoch", -1)
        self.finished = bool(state.get("finished", False)) or self.last_epoch + 1 >= epochs

    def _checkpoint(self, epoch: int) -> None:
        """Write the best weights so far (if they changed) and then the resumable state of this epoch."""
        if self.pending_best is not None:
            current = self.model.get_weights()
            self.model.set_weights(self.pending_best)
            with atomic_path(self.best_path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            self.model.set_weights(current)
            self.pending_best = None
        state = {"epoch": epoch, "best_score": self.best_score, "best_epoch": self.best_epoch,
                 "best_report": self.best_report, "wait": self.wait, "finished": self.finished,
                 "seed_states": seed_states(self.model)}
        save_model(self.model, self.last_path, {**self.metadata, "state": state})
        self.saved_at = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_state["epoch"] = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        loss = float(logs.get("loss", 0.0))
        if not math.isfinite(loss):
            # a diverged model would be "selected" and tested like any other: stop the run instead
            raise TrainingError(f"{self.where}: the training loss became {loss} in epoch {epoch + 1}; lower --lr, "
                                "add --clipnorm, or check the class and task weights")
        if self.validate is not None:
            score, report = self.validate(self.model)
            logs["val_score"] = score
            # the first epoch always counts, so best weights exist even when scores are NaN
            improved = self.best_epoch < 0 or score > self.best_score or (
                math.isnan(self.best_score) and not math.isnan(score))
        else:
            score, report, improved = float("nan"), None, True
        if improved:
            self.best_score, self.best_epoch, self.best_report, self.wait = score, epoch, report, 0
            # kept in memory; written with the next checkpoint, so the two files always agree
            self.pending_best = self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
        stop = self.patience > 0 and self.wait >= self.patience
        self.last_epoch = epoch
        self.finished = stop or epoch + 1 >= self.epochs
        if not self.finished and time.monotonic() - self.saved_at >= self.every_seconds:
            self._checkpoint(epoch)
        val = f", val score {score:.3f}" if self.validate is not None else ""
        mark = " *" if improved and self.validate is not None else ""
        line = f"  epoch {epoch + 1}/{self.epochs}: loss {loss:.4f}{val}{mark}"
        report = getattr(self.echo, "epoch", None)  # a Progress (serzoo.training.progress) filters and adds status
        report(epoch + 1, self.epochs, line, self.finished) if report is not None else self.echo(line)
        if stop:
            self.echo(f"  early stop: no validation improvement for {self.wait} epochs")
            self.model.stop_training = True

    def restore_best(self, model) -> None:
        """Give ``model`` the selected weights: from memory, or from the last checkpoint when none improved since."""
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
        else:
            model.load_weights(self.best_path)



def seed_states(model) -> list[list[int]]:
    """The random-number states of dropout and other random layers, in model order.

    Keras saves them neither with the model nor with its weights; without them a
    resumed run would draw other dropout masks than an uninterrupted one. A list,
    not a dict by path: every seed generator's variable has the same path.
    """
    return [[int(i) for i in keras.ops.convert_to_numpy(v).ravel()] for v in _seed_variables(model)]


def restore_seed_states(model, states: list[list[int]]) -> None:
    """Put back the states saved by :func:`seed_states` (the model must have the same architecture)."""
    variables = _seed_variables(model)
    if len(variables) != len(states):
        raise ValueError(f"checkpoint has {len(states)} random-layer states, the model {len(variables)}")
    for variable, state in zip(variables, states):
        variable.assign(keras.ops.reshape(keras.ops.convert_to_tensor(state, variable.dtype), variable.shape))


def _seed_variables(model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]
