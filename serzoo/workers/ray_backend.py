"""Jobs as Ray tasks, on a running cluster (``--ray ADDRESS``) or a Ray instance started here (``--ray local``).

Ray is an optional extra (``pip install 'serzoo[ray]'``). Each job is one task asking for
``cpus_per_task`` CPUs, which is also its TensorFlow thread budget; results come back to
the driver, and a failed task is submitted once more before it is reported. On a cluster,
every node needs serzoo (and any plugins) installed and the database and output folder
under the same paths (a shared file system).
"""

from __future__ import annotations

import importlib.util
import os

from serzoo.core.errors import ConfigError
from serzoo.workers.backends import Echo, Job, Outcome, call_job, lost, set_thread_budget, settle

INSTALL_HINT = "pip install 'serzoo[ray]'"


def _task(fn, args, threads: int) -> dict:
    set_thread_budget(threads)
    return call_job(fn, args)


def connect(address: str, cpus: int | None = None):
    """Join the cluster at ``address`` (``auto`` finds one started with ``ray start``), or start a local one.

    A Ray instance already initialised in this process (a test's, say) is used as it is.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached.
    """
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"--ray needs the ray package: {INSTALL_HINT}")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # each trial's progress lines, not "repeated 3x"; read on import
    import ray

    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(num_cpus=cpus or os.cpu_count(), include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=address, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"--ray {address}: cannot reach a Ray cluster ({exc}); start one with `ray start --head` "
                          "or use --ray local") from None
    return ray


class RayBackend:
    """Run jobs as Ray tasks of ``cpus_per_task`` CPUs each."""

    def __init__(self, address: str, cpus_per_task: int = 1):
        if cpus_per_task < 1:
            raise ConfigError(f"--cpus-per-task {cpus_per_task}: give 1 or more")
        self.address, self.cpus_per_task = address, cpus_per_task
        self.ray = connect(address)
        self.description = f"Ray at {address} ({self.ray.cluster_resources().get('CPU', 0):.0f} CPUs), " \
                           f"{cpus_per_task} CPU per task"

    def run(self, jobs: list[Job], echo: Echo = print) -> list[Outcome]:
        ray = self.ray
        # max_retries=0: the retry is ours, so a task's failures are counted and reported the same everywhere
        remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=0)(_task)
        outcomes = [Outcome(job.name) for job in jobs]

        def submit(i: int):
            return remote.remote(jobs[i].fn, jobs[i].args, self.cpus_per_task)

        running = {submit(i): i for i in range(len(jobs))}
        try:
            while running:
                self._settle_next(running, outcomes, submit, echo)
        except KeyboardInterrupt:  # Ctrl-C: stop the cluster's work too; finished trials and folds are kept
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        return outcomes

    def _settle_next(self, running: dict, outcomes: list[Outcome], submit, echo: Echo) -> None:
        """Wait for the next task to end and record it; resubmit it once if it failed."""
        ray = self.ray
        ready = []
        while not ready:  # a short timeout, so that Ctrl-C reaches Python while tasks run
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
        i = running.pop(ready[0])
        try:
            report = ray.get(ready[0])
        except Exception as exc:  # the task's worker died or the node went away
            report = lost("Ray task", exc)
        if settle(echo, outcomes[i], report):
            running[submit(i)] = i
