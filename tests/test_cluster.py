"""Waiting on a real Dask cluster (a LocalCluster of worker processes) never hangs: a task that cannot run
is sent again once, then the wait ends with one line; a task that kills its workers ends it at once."""

import os
import time

import pytest

from emosynth.cluster import ClusterError, cluster_activity, wait_result


@pytest.fixture(scope="module")
def client():
    import dask
    from distributed import Client, LocalCluster

    # One death is enough for the scheduler to give up on a task (the default retries it on 3 workers).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            cluster.wait_for_workers(1, timeout=120)
            with Client(cluster.scheduler_address, set_as_default=False) as c:
                yield c


def stuck(client):
    """A task no worker may run (restricted to an address where there is none): it waits for ever."""
    return client.submit(sum, [1, 2], workers=["tcp://127.0.0.1:9"], allow_other_workers=False, pure=False)


def test_a_task_the_idle_cluster_never_runs_is_sent_again_once(client):
    assert cluster_activity(client) == (1, 0)  # one running worker, nothing executing
    t0 = time.monotonic()
    again = []

    def resubmit():
        again.append(time.monotonic() - t0)
        return client.submit(sum, [1, 2], pure=False)

    assert wait_result(client, stuck(client), "here", stall_seconds=2, resubmit=resubmit, poll=0.5) == 3
    assert len(again) == 1 and again[0] >= 2  # after the stall, not before


def test_an_idle_cluster_ends_the_wait_with_one_line(client):
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match="at here has 1 running worker that did no work for 2 s") as err:
        wait_result(client, stuck(client), "here", stall_seconds=2, poll=0.5)
    assert 2 <= time.monotonic() - t0 < 30
    assert "\n" not in str(err.value) and "resume" in str(err.value)


def test_a_slow_task_is_never_cut_short(client):
    # 5 s of work against a 2 s stall: the clock only runs while nothing executes.
    fut = client.submit(time.sleep, 5, pure=False)
    t0 = time.monotonic()
    assert wait_result(client, fut, "here", stall_seconds=2, poll=0.5) is None
    assert time.monotonic() - t0 >= 4


def test_a_task_that_kills_its_worker_ends_the_wait_with_one_line(client):
    with pytest.raises(ClusterError, match="lost the workers running a task") as err:
        wait_result(client, client.submit(os._exit, 1, pure=False), "here", stall_seconds=60, poll=0.5)
    assert "\n" not in str(err.value)
    client.wait_for_workers(1, timeout=120)  # the nanny restarts it
