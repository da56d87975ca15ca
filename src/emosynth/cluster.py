"""Waiting on a Dask cluster without hanging for ever.

A future of ``dask.distributed`` waits as long as its task has not run: when every worker has gone,
when the only workers are paused, or when a task is lost between scheduler and workers (this
project's CI saw two idle workers and a client waiting in ``Future.result()`` for ten minutes).
``wait_result`` waits in short polls instead. While no worker of the cluster is executing anything
and the awaited task has not finished, a clock runs; after ``stall_seconds`` it resubmits the work
once (``resubmit``: scoring is deterministic, so a second submission gives the same result), and if
the cluster then stays idle as long again it raises ``ClusterError``, one line saying what to do.
A slow task is never cut short: the clock only runs while nothing executes.
"""

from __future__ import annotations

import time
from typing import Callable

from .errors import ClusterError

__all__ = ["STALL_SECONDS", "ClusterError", "cluster_activity", "wait_result"]

#: seconds a cluster may sit idle with a task of ours unfinished before it is resubmitted (and, the
#: second time, before the run stops with ``ClusterError``)
STALL_SECONDS = 120.0


def cluster_activity(client) -> tuple[int, int]:
    """How many of the cluster's workers are running, and how many tasks they are executing now.

    Read from the scheduler's view of its workers (updated by their heartbeats), so a busy or
    unresponsive worker cannot block the question.

    Args:
        client: A connected ``distributed.Client``.

    Returns:
        ``(running workers, tasks executing on them)``.
    """

    def probe(dask_scheduler):
        running = [ws for ws in dask_scheduler.workers.values() if getattr(ws.status, "name", "") == "running"]
        return len(running), sum(len(ws.executing) for ws in running)

    n, executing = client.run_on_scheduler(probe)
    return int(n), int(executing)


def wait_result(client, future, where: str, stall_seconds: float = STALL_SECONDS,
                resubmit: Callable[[], object] | None = None, poll: float = 2.0,
                then: str = "run the same command again to resume"):
    """The result of ``future``, raising ``ClusterError`` instead of waiting for ever on an idle cluster.

    A task's own exception is raised as it is; a task that killed its workers
    (``distributed.KilledWorker``) or was cancelled by the cluster gives ``ClusterError``.

    Args:
        client: The ``distributed.Client`` the future belongs to.
        future: The future to wait on.
        where: The cluster as the user named it (its address), for the message.
        stall_seconds: Idle seconds (no worker executing anything) before resubmitting, then failing.
        resubmit: Called once after the first stall; returns a new future for the same work
            (None: fail at the first stall).
        poll: Seconds between looks at the cluster.
        then: What the user should do after fixing the cluster, ending the message.

    Returns:
        What the task returned.
    """
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    idle_since = None
    resubmitted = False
    while True:
        try:
            return future.result(timeout=poll)
        except TimeoutError:
            pass
        except KilledWorker as err:
            raise ClusterError(f"the Dask cluster at {where} lost the workers running a task "
                               f"({str(err).splitlines()[0][:120]}); check the workers' memory and logs, "
                               f"then {then}") from None
        except CancelledError:
            raise ClusterError(f"the Dask cluster at {where} cancelled a task (a restarted scheduler or "
                               f"another client); {then}") from None
        running, executing = cluster_activity(client)
        now = time.monotonic()
        if executing > 0:
            idle_since = None
            continue
        if idle_since is None:
            idle_since = now
            continue
        if now - idle_since < stall_seconds:
            continue
        if resubmit is not None and not resubmitted and running > 0:
            future.cancel()
            future = resubmit()
            resubmitted, idle_since = True, None
            continue
        state = ("has no running workers" if running == 0
                 else f"has {running} running worker{'s' * (running != 1)} that did no work")
        raise ClusterError(f"the Dask cluster at {where} {state} for {stall_seconds:g} s while a task waited; "
                           f"start or unpause workers, then {then}")
