"""Where independent jobs (folds, sweep trials) run: in this process, a local pool of processes, or Ray.

A job is a module-level function and its (picklable) arguments. Every backend
runs a list of jobs, retries a failed one once, and returns one :class:`Outcome`
per job in the order given, with the failure (if it failed twice), the wall time,
the worker's process id and its peak resident memory. TensorFlow is never
imported here: a worker sets its thread budget before its job imports it.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable

from serzoo.core.errors import ConfigError

Echo = Callable[[str], None]
#: TensorFlow reads these when it starts its thread pools; OMP for the oneDNN kernels
THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
RETRIES = 1


@dataclass
class Job:
    """One independent piece of work: ``fn(*args)`` in some worker; ``name`` is how reports call it."""

    name: str
    fn: Callable
    args: tuple = ()


@dataclass
class Outcome:
    """What became of a job: its value, or the error of its last attempt."""

    name: str
    value: Any = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    pid: int = 0
    peak_rss_mb: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def set_thread_budget(threads: int) -> None:
    """Give this process ``threads`` TensorFlow threads; effective only before TensorFlow starts."""
    for name in THREAD_ENV:
        os.environ[name] = str(threads)


def thread_budget(workers: int, cores: int | None = None) -> int:
    """Cores per worker so that ``workers`` processes do not fight over the machine (at least 1)."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def call_job(fn: Callable, args: tuple) -> dict:
    """Run one job here and measure it; what every worker executes. Errors come back as text, not raised,
    so a backend can retry and report them whatever the exception's class (it may not unpickle)."""
    start = time.monotonic()
    try:
        value, error = fn(*args), None
    except BaseException as exc:  # noqa: BLE001  (the job's failure is reported, not the worker's)
        if isinstance(exc, KeyboardInterrupt):
            raise
        value, error = None, f"{type(exc).__name__}: {exc}"
        if not str(exc):
            error += " " + traceback.format_exc(limit=3).strip().splitlines()[-1]
    return {"value": value, "error": error, "seconds": time.monotonic() - start, "pid": os.getpid(),
            "peak_rss_mb": peak_rss_mb()}


def _record(outcome: Outcome, report: dict) -> bool:
    """Fold one attempt into the outcome; whether the job is settled (done, or out of retries)."""
    outcome.attempts += 1
    outcome.seconds += report["seconds"]
    outcome.pid, outcome.peak_rss_mb = report["pid"], report["peak_rss_mb"]
    if report["error"] is None:
        outcome.value, outcome.error = report["value"], None
        return True
    outcome.errors.append(report["error"])
    outcome.error = report["error"]
    return outcome.attempts > RETRIES


def settle(echo: Echo, outcome: Outcome, report: dict) -> bool:
    """Record one attempt (saying so when it failed); whether the job is to be tried again."""
    settled = _record(outcome, report)
    if outcome.ok:
        return False
    echo(f"{outcome.name}: attempt {outcome.attempts} failed ({outcome.error}); "
         f"{'gave up' if settled else 'retrying once'}")
    return not settled


def lost(what: str, exc: BaseException) -> dict:
    """The report of an attempt whose worker died (or went away) before it could report."""
    return {"value": None, "error": f"{what} lost ({type(exc).__name__}: {str(exc)[:200]})", "seconds": 0.0,
            "pid": 0, "peak_rss_mb": 0.0}


def prefixed_echo(prefix: str) -> Echo:
    """A worker's progress lines on its standard error (the driver's terminal, or Ray's log), tagged with its job."""

    def echo(message: str) -> None:
        print(f"[{prefix}] {message}", file=sys.stderr, flush=True)

    return echo


def memory_line(outcomes: list[Outcome]) -> str:
    """``peak memory per worker: 812, 790 MiB``: the largest resident size each worker process reached."""
    peaks: dict[int, float] = {}
    for outcome in outcomes:
        if outcome.pid:
            peaks[outcome.pid] = max(peaks.get(outcome.pid, 0.0), outcome.peak_rss_mb)
    values = ", ".join(f"{v:.0f}" for v in sorted(peaks.values(), reverse=True))
    return f"peak memory per worker: {values or 'unknown'} MiB ({len(peaks)} processes)"


class Inline:
    """Jobs one after another in this process (``--workers 1``): no start-up cost, the whole machine each."""

    description = "this process"

    def run(self, jobs: list[Job], echo: Echo = print) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            outcome = Outcome(job.name)
            while settle(echo, outcome, call_job(job.fn, job.args)):
                pass  # failed once: try again
            outcomes.append(outcome)
        return outcomes


def _init_worker(threads: int) -> None:
    set_thread_budget(threads)


class LocalPool:
    """A pool of ``workers`` spawned processes, each with ``cores // workers`` TensorFlow threads.

    Spawned (not forked) so that no worker inherits a started TensorFlow runtime. A worker
    that dies (killed, out of memory) breaks the pool: every job not finished by then is
    lost with it, counts one attempt, and is retried in a new pool.
    """

    def __init__(self, workers: int, threads: int | None = None):
        if workers < 1:
            raise ConfigError(f"--workers {workers}: give 1 or more worker processes")
        self.workers = workers
        self.threads = threads or thread_budget(workers)
        plural = "s" if self.threads != 1 else ""
        self.description = f"{workers} local worker processes, {self.threads} TensorFlow thread{plural} each"

    def run(self, jobs: list[Job], echo: Echo = print) -> list[Outcome]:
        import multiprocessing

        outcomes = {i: Outcome(job.name) for i, job in enumerate(jobs)}
        pending = list(range(len(jobs)))
        while pending:  # one round per attempt: a broken pool cannot take more work
            retry = []
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(self.workers, len(pending)), mp_context=context,
                                     initializer=_init_worker, initargs=(self.threads,)) as pool:
                futures = {pool.submit(call_job, jobs[i].fn, jobs[i].args): i for i in pending}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        report = future.result()
                    except Exception as exc:  # the worker process itself died
                        report = lost("worker process", exc)
                    if settle(echo, outcomes[i], report):
                        retry.append(i)
            pending = sorted(retry)
        return [outcomes[i] for i in range(len(jobs))]


def make_backend(workers: int | None = None, ray: str | None = None, cpus_per_task: int | None = None):
    """The backend the options ask for: Ray (``--ray ADDRESS|local``), a local pool (``--workers N``, N > 1), or inline.

    Raises:
        ConfigError: both asked for, a bad number, or Ray missing.
    """
    if ray:
        if workers not in (None, 1):
            raise ConfigError("--workers and --ray exclude each other: Ray places tasks by --cpus-per-task")
        from serzoo.workers.ray_backend import RayBackend

        return RayBackend(ray, cpus_per_task or 1)
    if workers is None or workers == 1:
        return Inline()
    return LocalPool(workers, cpus_per_task)
