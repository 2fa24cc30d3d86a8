"""A Dask worker preload for the LocalCluster a sweep starts: the worker process ignores SIGINT, and is quiet while
it closes.

Ctrl-C reaches the whole process group; workers that died of it printed tracebacks while the sweep process was
stopping the cluster itself (as the local executor's workers do, the sweep process handles Ctrl-C). A closing
worker closes its connections while a heartbeat to the scheduler may still be in flight; distributed logs that
heartbeat's failure at ERROR with a traceback (about 1 sweep in 5 printed one at its end), so from the start of
its close (``dask_teardown``) the worker's distributed loggers pass only CRITICAL records."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any


def quiet_distributed() -> dict[str, int]:
    """Set the "distributed" logger and every logger under it to CRITICAL; returns their levels before, for
    :func:`restore_levels`. For a cluster being closed: its tear-down races (a heartbeat to a closing scheduler,
    a comm closed under a pending call) are logged at ERROR with tracebacks, and are no failure of the sweep."""
    names = ["distributed", *sorted(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]
    before = {}
    for name in names:
        logger = logging.getLogger(name)
        before[name] = logger.level
        logger.setLevel(logging.CRITICAL)
    return before


def restore_levels(before: dict[str, int]) -> None:
    """Put back the logger levels :func:`quiet_distributed` returned."""
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def dask_setup(worker: Any) -> None:  # noqa: ARG001 - Dask's preload hook
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_teardown(worker: Any) -> None:  # noqa: ARG001 - Dask's preload hook, called as the worker starts closing
    quiet_distributed()  # the process ends with the worker: nothing to restore
