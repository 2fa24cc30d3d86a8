"""A Dask worker preload for the LocalCluster a sweep starts: the worker process ignores SIGINT.

Ctrl-C reaches the whole process group; workers that died of it printed tracebacks while the sweep process was
stopping the cluster itself (as the local executor's workers do, the sweep process handles Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:  # noqa: ARG001 - Dask's preload hook
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
