"""Where sweep points run: a local process pool (default) or a Dask cluster, fed in chunks.

A chunk is a list of points that one worker runs one after another (:func:`run_chunk`), so a worker imports
accelsim once and the per-chunk scheduling cost is spread over many sub-second points. :class:`Chunker` sizes
chunks from the measured time per point to about :data:`TARGET_CHUNK_S` seconds of work each (results reach the
store that often) while keeping every worker busy to the end. :func:`dispatch` keeps two chunks per worker in
flight and hands each finished record to a callback as its chunk completes.

Dask is imported only inside :class:`DaskExecutor`, when ``--executor dask`` asks for it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..api import run_experiment
from ..config.schema import ExperimentSpec
from ..errors import AccelsimError
from ..options import share_memory
from ..report import live_dict
from .expand import PlannedPoint
from .store import metrics_from_report, one_line, record

EXECUTORS = ("local", "dask")
TARGET_CHUNK_S = 0.5  # seconds of work per chunk once the point time is known
MAX_CHUNK = 64
FIRST_CHUNK = 2  # points per chunk before any point time has been measured
WATCH_S = 0.5  # how often a local worker checks that the sweep process is still there
INFLIGHT_PER_SLOT = 2  # chunks queued per worker, so a worker never waits for the parent
NO_WORKERS_S = 60.0  # a Dask cluster without a single worker for this long ends the sweep (finished points kept)
WORKER_CHECK_S = 2.0  # how often the sweep asks the Dask scheduler how many workers it has
DASK_MISSING = 'the dask executor needs dask.distributed, which is not installed: pip install "accelsim[dask]"'

Item = tuple[str, dict, ExperimentSpec]  # (id, point values, experiment): what a worker receives per point
Result = tuple[dict, float]  # (results.jsonl record, seconds the point took in the worker)


def _fileless_main() -> tuple[Any, str] | None:
    """``(__main__, its __file__)`` when ``__main__`` names a file that does not exist (``python -`` and a piped
    script give ``'<stdin>'``), else None. A spawned or forkserver worker re-runs such a path as a script
    (multiprocessing's ``_fixup_main_from_path``) and dies with FileNotFoundError; with no ``__file__`` it does what
    it does for an interactive session: nothing."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or getattr(getattr(main, "__spec__", None), "name", None) is not None:
        return None  # a REPL, or ``python -m`` (the worker imports the module by name)
    from multiprocessing import process

    full = path if os.path.isabs(path) else os.path.join(process.ORIGINAL_DIR or os.getcwd(), path)
    return None if os.path.isfile(full) else (main, path)


@contextlib.contextmanager
def _main_as_interactive():
    """Within the block, a ``__main__`` whose ``__file__`` is not a real file (:func:`_fileless_main`) has none, so
    the workers started in it treat it as an interactive session's (probe p65 #1: a sweep run from
    ``python - <<EOF`` lost every worker). Workers start in ``submit`` (the pool starts them as chunks come) and in a
    Dask LocalCluster's start."""
    found = _fileless_main()
    if found is None:
        yield
        return
    main, path = found
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def main_guard_hint() -> str:
    """Why a worker that died at start may have died, when the sweep was started from a Python script that does
    not guard its top-level code (heuristic: the ``__main__`` script's text never names ``__main__``): a worker
    process (spawned, or forked from the forkserver) imports that script, which then starts the sweep again
    instead of working. "" when the cause is not that or cannot be told (a guarded script, ``python -m``, an
    interactive session, a script read from stdin or any ``__file__`` that cannot be read: its guard is unknown)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if not path or (spec is not None and spec.name.endswith("__main__")):  # a package's __main__ is not re-run
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if "__main__" in text:
        return ""
    return (f"; {path} runs the sweep without 'if __name__ == \"__main__\":': each worker process imports that "
            f"script and, unguarded, starts the sweep again instead of working; call run_sweep under the guard "
            f"(docs/sweeps.md)")


def _worker_failed(who: str, e: BaseException) -> AccelsimError:
    """The error for a worker that died (not a point's error): with :func:`main_guard_hint` when it applies."""
    hint = main_guard_hint()
    return AccelsimError(f"{who} failed: {one_line(e)}"
                         + (hint or "; finished points are kept, re-run to continue"))


def run_chunk(items: Sequence[Item], workers: int | None = None) -> list[Result]:
    """Run each point of a chunk in this process; a point that raises becomes an "error" record (one line) and
    the chunk goes on. Returns ``(record, seconds)`` per point, in order. ``workers``: the processes of this
    machine running chunks at once, which share the default options.memory_budget (a Dask LocalCluster's); a
    point refused for that share (:func:`~accelsim.sweep.store.share_refusal`) is run again alone by the sweep."""
    if workers is not None:
        share_memory(workers)
    out = []
    for pid, values, experiment in items:
        t0 = time.perf_counter()
        try:
            report = run_experiment(experiment)
            rec = record(pid, values, metrics=metrics_from_report(live_dict(report)))
        except Exception as e:  # noqa: BLE001 - any failure of one point is that point's result
            rec = record(pid, values, error=one_line(e))
        out.append((rec, time.perf_counter() - t0))
    return out


class Chunker:
    """Chooses how many points the next chunk gets: about ``target_s`` seconds of work at the median of the
    recent per-point times, at most ``max_size``, and no more than an even share of what remains per slot."""

    def __init__(self, slots: int, target_s: float = TARGET_CHUNK_S, max_size: int = MAX_CHUNK,
                 first: int = FIRST_CHUNK):
        self.slots, self.target_s, self.max_size, self.first = max(1, slots), target_s, max_size, first
        self._recent: deque[float] = deque(maxlen=64)

    def observe(self, seconds: float) -> None:
        """Record one point's run time."""
        self._recent.append(seconds)

    def size(self, remaining: int) -> int:
        """Points for the next chunk, given ``remaining`` points not yet sent."""
        if self._recent:
            per_point = max(statistics.median(self._recent), 1e-6)
            n = int(self.target_s / per_point)
        else:
            n = self.first
        share = math.ceil(remaining / self.slots)
        return max(1, min(n, self.max_size, share, remaining))


class Executor:
    """Runs chunks somewhere. ``slots`` is how many run at once; :meth:`submit` returns a handle,
    :meth:`wait` the handles that finished within ``timeout``, :meth:`result` a finished chunk's results (it
    re-raises a failure of the worker itself), :meth:`close` shuts down (``cancel`` drops unfinished work; leaving
    the ``with`` block after an explicit close does nothing more)."""

    name = "executor"
    slots = 1
    closed = False

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if not self.closed:
            self.close(cancel=exc_type is not None)

    def submit(self, items: list[Item]) -> Any:
        raise NotImplementedError

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        raise NotImplementedError

    def result(self, handle: Any) -> list[Result]:
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ×{self.slots}"


# ---- local process pool --------------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time)`` of process ``pid`` from /proc (Linux); None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), fields[19].decode()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (from /proc), to tell it from a later process that reuses the pid."""
    stat = _stat(pid)
    return stat[1] if stat else None


def _alive(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` (started at ``started``) still runs: not gone, not a zombie, not a reused pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == started


def _watch(pid: int, started: str | None) -> None:
    """Exit this worker once the sweep process ``pid`` is gone (killed with SIGKILL, say). The worker's parent
    is the forkserver, which lives as long as its children do, so the sweep process itself is watched."""
    while _alive(pid, started):
        time.sleep(WATCH_S)
    os._exit(1)


def _init_worker(sweep_pid: int, started: str | None, workers: int = 1) -> None:
    """Worker setup: Ctrl-C is the sweep process's to handle (it stops the pool), and an orphan exits. A worker
    only simulates, so its cyclic garbage collector runs less often (a generation-0 threshold of 200,000 instead
    of 700: a simulation allocates millions of short-lived tuples, few of them in cycles; measured ~30 % faster on
    the validation jobs of benchmarks/validation). The default options.memory_budget is its share of the pool's
    ``workers`` (:func:`~accelsim.options.share_memory`)."""
    share_memory(workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(200_000, 50, 100)
    threading.Thread(target=_watch, args=(sweep_pid, started), daemon=True, name="accelsim-watch-sweep").start()


@contextlib.contextmanager
def _ctrl_c_after():
    """Ctrl-C (SIGINT) and SIGTERM held back until the block ends, then handled as they would have been (the
    sweep's SIGTERM handler raises KeyboardInterrupt): a submit may start a worker, and a KeyboardInterrupt between
    the forkserver's fork and the pool's record of the new process left a worker the pool could not stop, which
    then failed on the pool's freed semaphore with a traceback; one inside the pool's queue put left its lock
    held, and the sweep hung stopping the pool."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held}  # noqa: ARG005
    try:
        yield
    finally:
        for sig in held:
            signal.signal(sig, before[sig])
        if caught:
            sig = caught[0]
            handler = before[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL and sig == signal.SIGINT:
                raise KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)


def _start_forkserver() -> None:
    """Start the forkserver with SIGINT ignored, which it and the workers forked from it inherit (a server still
    importing accelsim when Ctrl-C came printed a KeyboardInterrupt traceback: it ignores SIGINT only once its
    imports are done). The window is the server's spawn, not its imports."""
    from multiprocessing import forkserver

    with _ctrl_c_ignored():
        forkserver.ensure_running()


@contextlib.contextmanager
def _ctrl_c_ignored():
    """SIGINT ignored in the block, so that the processes started in it inherit it (Python gives a process
    started with SIGINT ignored no KeyboardInterrupt handler): Ctrl-C reaches the whole process group, and workers
    still importing when it came died with tracebacks while the sweep process was stopping them itself. A Ctrl-C
    within the block is lost (the forkserver's spawn; a Dask LocalCluster's start, about 1-2 s). Outside the main
    thread (where signals cannot be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where it exists (workers fork from a server that has already imported accelsim: fast starts,
    and no fork of a parent that runs threads such as the progress bar's), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        _start_forkserver()
        return ctx
    return multiprocessing.get_context("spawn")


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (default: one per CPU core)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.slots = workers or os.cpu_count() or 1
        me = os.getpid()
        self._pool = ProcessPoolExecutor(self.slots, mp_context=_context(), initializer=_init_worker,
                                         initargs=(me, _start_time(me), self.slots))

    def submit(self, items: list[Item]) -> Future:
        try:
            with _ctrl_c_after(), _main_as_interactive():
                return self._pool.submit(run_chunk, items)
        except BrokenProcessPool as e:  # a worker died (killed, out of memory) before this chunk could be sent
            raise _worker_failed("a local worker", e) from e

    def wait(self, handles: list[Future], timeout: float) -> list[Future]:
        with _ctrl_c_after():  # at most ``timeout`` (the dispatch loop's 0.25 s) late; wait() takes the futures' locks
            done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Future) -> list[Result]:
        try:
            return handle.result()
        except Exception as e:  # the worker process died (killed, out of memory): not a point's error
            raise _worker_failed("a local worker", e) from e

    def close(self, cancel: bool = False) -> None:
        self.closed = True
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # stop the chunks now running; what finished is already stored
            p.terminate()
        for p in processes:
            p.join(timeout=5)


# ---- Dask ------------------------------------------------------------------------------------------------------------
class DaskExecutor(Executor):
    """Chunks run on a Dask cluster: a running scheduler at ``scheduler`` ("tcp://host:8786"), or a
    ``LocalCluster`` of ``workers`` single-threaded worker processes started here (and stopped at the end).
    The cluster's workers must be able to import accelsim."""

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 no_workers_s: float = NO_WORKERS_S):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise AccelsimError(DASK_MISSING) from None
        import logging

        self._cluster = None
        if scheduler:
            try:
                self._client = Client(scheduler, timeout="30s")
            except OSError as e:
                raise AccelsimError(f"cannot reach the Dask scheduler at {scheduler}: {one_line(e)}") from None
        else:
            try:
                with _ctrl_c_ignored(), _main_as_interactive():  # the workers inherit SIGINT ignored
                    self._cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                                 processes=True, dashboard_address=None,
                                                 silence_logs=logging.ERROR, preload=["accelsim.sweep.dask_worker"])
            except Exception as e:  # noqa: BLE001 - dask raises RuntimeError("Nanny failed to start.") and others
                raise AccelsimError(f"cannot start a Dask LocalCluster: {one_line(e)}{main_guard_hint()}") from e
            self._client = Client(self._cluster)
        self.slots = max(1, sum(self._client.nthreads().values()))
        # a LocalCluster's workers share this machine's memory; a scheduler's may be spread over several machines,
        # each worker keeping its machine's default (options.memory_budget sets one for all)
        self._sharing = None if scheduler else self.slots
        self.where = scheduler or "LocalCluster"
        self._submitted: set = set()
        self.no_workers_s = no_workers_s
        self._checked = time.monotonic()  # when the worker count was last asked
        self._workerless_since: float | None = None  # since when the cluster has had no worker

    def check_workers(self, now: float) -> None:
        """Raise :class:`AccelsimError` once the cluster has had no worker (or no reachable scheduler) for
        :attr:`no_workers_s` seconds: a cluster whose workers all died would otherwise leave the sweep waiting
        for ever. Asks the scheduler at most every :data:`WORKER_CHECK_S` seconds."""
        if now - self._checked < WORKER_CHECK_S:
            return
        self._checked = now
        try:
            workers = len(self._client.nthreads())
        except Exception:  # noqa: BLE001 - a scheduler that cannot answer has, for the sweep, no workers
            workers = 0
        if workers:
            self._workerless_since = None
            return
        if self._workerless_since is None:
            self._workerless_since = now
        if now - self._workerless_since >= self.no_workers_s:
            raise AccelsimError(f"the Dask cluster ({self.where}) has had no worker for "
                                f"{now - self._workerless_since:.0f} s; finished points are kept, re-run to "
                                f"continue once workers are back")

    def describe(self) -> str:
        return f"dask ({self.where}) ×{self.slots}"

    def submit(self, items: list[Item]) -> Any:
        with _ctrl_c_after():  # an interrupted Client call logs a tornado traceback (its sync's cancel)
            future = self._client.submit(run_chunk, items, self._sharing, pure=False)
            self._submitted.add(future)  # so that a Ctrl-C held back to the block's end cancels it
        return future

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        from dask.distributed import TimeoutError as DaskTimeout
        from dask.distributed import wait

        try:
            with _ctrl_c_after():  # at most ``timeout`` (the dispatch loop's 0.25 s) late
                done, _ = wait(handles, timeout=timeout, return_when="FIRST_COMPLETED")
        except (TimeoutError, DaskTimeout):
            self.check_workers(time.monotonic())
            return []
        self._submitted.difference_update(done)
        return list(done)

    def result(self, handle: Any) -> list[Result]:
        try:
            return handle.result()
        except Exception as e:
            raise _worker_failed("a Dask worker", e) from e

    def close(self, cancel: bool = False) -> None:
        """Cancel what is queued (``cancel``), close the client, then the cluster started here (which retires its
        workers before it closes the scheduler). distributed's loggers pass only CRITICAL meanwhile (in the
        workers, the preload's ``dask_teardown``): the tear-down's races are logged at ERROR with a traceback,
        which a sweep's stderr must not show (docs/sweeps.md)."""
        from .dask_worker import quiet_distributed, restore_levels

        self.closed = True
        before = quiet_distributed()
        try:
            if cancel and self._submitted:
                self._client.cancel(list(self._submitted))
            self._client.close()
        finally:
            try:
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                restore_levels(before)


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor ``kind`` names ("local" or "dask"); :class:`AccelsimError` for a bad combination."""
    if kind not in EXECUTORS:
        raise AccelsimError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise AccelsimError(f"workers(={workers}) must be >= 1")
    if scheduler and kind != "dask":
        raise AccelsimError("--scheduler goes with --executor dask")
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    return LocalExecutor(workers)


def dispatch(executor: Executor, points: Iterable[PlannedPoint], on_record: Callable[[dict], None], *,
             chunker: Chunker | None = None, poll_s: float = 0.25, remaining: Callable[[], int] | None = None) -> None:
    """Run ``points`` on ``executor`` in chunks and call ``on_record`` with each point's record as soon as its
    chunk is back. ``points`` may be a generator (a :class:`~accelsim.sweep.expand.PlanStream`): it is taken a
    chunk at a time, as slots free up, so only the chunks in flight are held. ``remaining()`` says at most how
    many points are still to come (for a sized ``points``: its length less those sent), for the even share per
    slot near the end. Keeps :data:`INFLIGHT_PER_SLOT` chunks per slot queued. Ctrl-C (KeyboardInterrupt) and
    worker failures propagate to the caller, who closes the executor."""
    chunker = chunker or Chunker(executor.slots)
    source = iter(points)
    sent = 0
    if remaining is None and isinstance(points, Sized):
        size = len(points)
        remaining = lambda: size - sent  # noqa: E731
    inflight: dict[Any, int] = {}
    exhausted = False
    while not exhausted or inflight:
        while not exhausted and len(inflight) < INFLIGHT_PER_SLOT * executor.slots:
            n = chunker.size(max(1, remaining() if remaining is not None else chunker.max_size * executor.slots))
            chunk = list(itertools.islice(source, n))
            exhausted = len(chunk) < n
            if chunk:
                sent += len(chunk)
                inflight[executor.submit([(p.id, p.values, p.experiment) for p in chunk])] = len(chunk)
        done = set(executor.wait(list(inflight), timeout=poll_s))
        for handle in [h for h in inflight if h in done]:  # in submission order: a set's order would vary by run
            del inflight[handle]
            for rec, seconds in executor.result(handle):
                chunker.observe(seconds)
                on_record(rec)


__all__ = ["Chunker", "DaskExecutor", "EXECUTORS", "Executor", "LocalExecutor", "dispatch", "main_guard_hint",
           "make_executor", "run_chunk"]
