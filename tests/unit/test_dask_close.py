"""A Dask executor closes quietly: distributed's tear-down races (a worker's heartbeat to a closing scheduler,
logged at ERROR with a traceback) must not reach a sweep's stderr, yet its loggers are as they were afterwards.

A fake client and cluster record, from inside their ``close()``, whether an ERROR record of distributed's worker
and comm loggers would be emitted; no cluster is started.
"""

from __future__ import annotations

import logging

import pytest

from accelsim.sweep import dask_worker
from accelsim.sweep.executors import DaskExecutor

WATCHED = ("distributed", "distributed.worker", "distributed.core", "distributed.comm.tcp")


@pytest.fixture
def levels():
    """The watched loggers' levels put back after the test (dask_teardown leaves them at CRITICAL, as a worker
    process that ends with it may)."""
    before = {n: logging.getLogger(n).level for n in WATCHED}
    logging.getLogger("distributed.worker").setLevel(logging.WARNING)  # a level of its own, to see it restored
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


class Closing:
    """Records, when closed, which watched loggers would emit an ERROR record; ``fail`` raises from close()."""

    def __init__(self, fail: bool = False):
        self.heard: dict[str, bool] | None = None
        self.fail = fail

    def close(self):
        self.heard = {n: logging.getLogger(n).isEnabledFor(logging.ERROR) for n in WATCHED}
        if self.fail:
            raise OSError("stream is closed")


def executor(client: Closing, cluster: Closing | None) -> DaskExecutor:
    ex = DaskExecutor.__new__(DaskExecutor)  # no cluster started: only what close() uses
    ex._client, ex._cluster, ex._submitted = client, cluster, set()
    return ex


def test_distributed_logs_nothing_below_critical_while_the_executor_closes(levels):
    client, cluster = Closing(), Closing()
    executor(client, cluster).close()
    assert client.heard == cluster.heard == dict.fromkeys(WATCHED, False)
    # afterwards as before: distributed.worker's own WARNING level, the others inheriting (NOTSET)
    assert logging.getLogger("distributed.worker").level == logging.WARNING
    assert logging.getLogger("distributed.worker").isEnabledFor(logging.ERROR)


def test_the_cluster_is_closed_and_the_levels_restored_when_the_client_fails_to_close(levels):
    client, cluster = Closing(fail=True), Closing()
    with pytest.raises(OSError):
        executor(client, cluster).close()
    assert cluster.heard == dict.fromkeys(WATCHED, False)
    assert logging.getLogger("distributed.worker").level == logging.WARNING


def test_a_worker_is_quiet_from_the_start_of_its_close(levels):
    # Worker.close runs the preloads' dask_teardown before it stops its heartbeat and closes its connections
    dask_worker.dask_teardown(None)
    assert not any(logging.getLogger(n).isEnabledFor(logging.ERROR) for n in WATCHED)
    assert logging.getLogger("distributed.worker").isEnabledFor(logging.CRITICAL)
