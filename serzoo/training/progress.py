"""Progress of a whole run on stderr: quiet mode, every N-th epoch line, and folds done, elapsed, time left.

A :class:`Progress` is the ``echo`` the training code is given: called with a
message it prints it (unless quiet). The run loop and the fold checkpoint call its
optional methods (``start``, ``fold_started``, ``fold_finished``, ``epoch``) when
they find them, so a plain ``print`` still works as an echo.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def duration(seconds: float) -> str:
    """``45s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """The echo of a training command.

    Args:
        quiet: print nothing (``serzoo train -q``: only the results, on stdout).
        log_every: print every N-th epoch line of a fold (and its last); 0: none.
        stream: where messages go (default: stderr).
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, quiet: bool = False, log_every: int = 1, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.quiet, self.log_every, self.stream, self.clock = quiet, max(0, log_every), stream, clock
        self.total = self.todo = self.done_before = self.seeds = 1
        self.finished_now = self.seeds_done = 0
        self.fold, self.last_epoch, self.current = 0, (0, 0), 0.0
        self.started = self.clock()
        self.fraction0: float | None = None
        self.live = False

    def _out(self) -> TextIO:
        return self.stream or sys.stderr

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(message, file=self._out(), flush=True)

    def start(self, total: int, todo: int, seeds: int) -> None:
        """A run begins: ``total`` folds, ``todo`` of them still to train, ``seeds`` models per fold."""
        self.total, self.todo, self.seeds = total, max(todo, 1), max(seeds, 1)
        self.done_before = total - todo
        self.started, self.fraction0 = self.clock(), None

    def fold_started(self, number: int) -> None:
        self.fold, self.seeds_done, self.current = number, 0, 0.0

    def fold_finished(self) -> None:
        self.finished_now, self.current = self.finished_now + 1, 0.0

    def fraction(self) -> float:
        """Share of this session's work done (folds still to train, seeds, epochs)."""
        return min(1.0, (self.finished_now + min(self.current, 1.0)) / self.todo)

    def status(self) -> str:
        """``[3/10 folds done, fold 4 epoch 12/40, elapsed 5m10s, ~9m40s left]``."""
        elapsed = self.clock() - self.started
        fraction = self.fraction()
        base = self.fraction0 if self.fraction0 is not None else 0.0
        left = (f", ~{duration((1 - fraction) * elapsed / (fraction - base))} left"
                if fraction > base and elapsed > 0 else "")
        epoch, epochs = self.last_epoch
        return (f"[{self.done_before + self.finished_now}/{self.total} folds done, fold {self.fold} epoch "
                f"{epoch}/{epochs}, elapsed {duration(elapsed)}{left}]")

    def epoch(self, epoch: int, epochs: int, line: str, finished: bool) -> None:
        """One epoch ended (1-based ``epoch``): print its line if due, with the whole-run status."""
        if self.fraction0 is None:  # a resumed fold starts part-way: time only what this session trains
            self.current = (self.seeds_done + (epoch - 1) / epochs) / self.seeds
            self.fraction0 = self.fraction()
        self.last_epoch = (epoch, epochs)
        # early stopping ends a model before its last epoch: the rest of its epochs count as done
        self.seeds_done += bool(finished)
        self.current = (self.seeds_done + (0.0 if finished else epoch / epochs)) / self.seeds
        if self.quiet:
            return
        due = self.log_every > 0 and (epoch % self.log_every == 0 or finished)
        if due:
            self(f"{line}  {self.status()}")
        elif self._out().isatty():
            print(f"\r{self.status()}", end="", file=self._out(), flush=True)
            self.live = True

    def _clear(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=self._out(), flush=True)
            self.live = False


def notify(echo, event: str, *args) -> None:
    """Call ``echo.EVENT(*args)`` when the echo has it (a :class:`Progress`), else nothing."""
    method = getattr(echo, event, None)
    if method is not None:
        method(*args)
