"""A Dask cluster whose workers are all gone ends the sweep in bounded time with a one-line error.

The worker count is asked through the client's ``nthreads()`` (one entry per worker); a fake client and an
explicit clock make the timing exact: with ``no_workers_s = 60`` and checks at most every ``WORKER_CHECK_S = 2``
seconds, a cluster first seen empty at t = 4 s is given up at the first check at or after t = 64 s.
"""

from __future__ import annotations

import pytest

from accelsim.errors import AccelsimError
from accelsim.sweep.executors import WORKER_CHECK_S, DaskExecutor, dispatch


class FakeClient:
    """Answers ``nthreads()`` from a list of worker counts, one per call; None means the scheduler is gone."""

    def __init__(self, counts):
        self.counts, self.calls = list(counts), 0

    def nthreads(self):
        self.calls += 1
        n = self.counts.pop(0)
        if n is None:
            raise OSError("connection refused")
        return {f"tcp://w{i}": 1 for i in range(n)}


def executor(counts, no_workers_s=60.0):
    ex = DaskExecutor.__new__(DaskExecutor)  # no cluster: only the watchdog's state
    ex._client, ex.where, ex.no_workers_s = FakeClient(counts), "tcp://sched:8786", no_workers_s
    ex._checked, ex._workerless_since = 0.0, None
    return ex


def test_a_cluster_without_workers_for_the_grace_period_ends_the_sweep():
    ex = executor([1, 0, 0, 0])
    ex.check_workers(2.0)  # one worker: fine
    ex.check_workers(4.0)  # none from t = 4 s
    ex.check_workers(30.0)  # 26 s without a worker: still waiting
    with pytest.raises(AccelsimError, match=r"has had no worker for 60 s; finished points are kept") as e:
        ex.check_workers(64.0)
    assert "\n" not in str(e.value) and "tcp://sched:8786" in str(e.value)


def test_a_worker_coming_back_resets_the_clock_and_checks_are_throttled():
    ex = executor([0, 1, 0, 0])
    ex.check_workers(2.0)  # empty since 2
    ex.check_workers(2.0 + WORKER_CHECK_S / 2)  # too soon: the scheduler is not asked
    assert ex._client.calls == 1
    ex.check_workers(50.0)  # a worker is back
    ex.check_workers(60.0)  # empty again since 60
    ex.check_workers(119.0)  # 59 s: not yet
    assert ex._workerless_since == 60.0


def test_an_unreachable_scheduler_counts_as_no_workers():
    ex = executor([None, None], no_workers_s=10.0)
    ex.check_workers(5.0)
    with pytest.raises(AccelsimError, match="no worker for 10 s"):
        ex.check_workers(15.0)


def test_a_real_cluster_scaled_to_no_workers_stops_dispatch_in_bounded_time():
    pytest.importorskip("distributed")
    import time

    from accelsim.config.load import experiment_from_parts
    from accelsim.sweep.expand import PlannedPoint

    spec = experiment_from_parts("lenet5", "gemmini")
    points = [PlannedPoint(index=i, id=f"p{i}", values={"i": i}, experiment=spec) for i in range(4)]
    with DaskExecutor(workers=1, no_workers_s=1.0) as ex:
        ex._cluster.scale(0)  # every worker gone, as when a cluster's machines die
        while ex._client.nthreads():
            time.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(AccelsimError, match="has had no worker"):
            dispatch(ex, points, lambda rec: None)
        assert time.monotonic() - t0 < 1.0 + 2 * WORKER_CHECK_S + 2.0  # grace + two check periods + slack
