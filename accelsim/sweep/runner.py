"""``accelsim sweep``: load a sweep file, validate every point, run the ones not yet finished, keep the results.

    summary = run_sweep("experiments/resnet50_array_dataflow_sweep.yaml", "runs/sweep", workers=2)
    summary.ok, summary.failed, summary.exit_status

Steps: (1) :func:`~accelsim.config.sweep.load_sweep` checks the file; (2) :func:`~accelsim.sweep.expand.plan_sweep`
expands and validates every point, so nothing runs when any point is invalid; (3) OUTDIR/sweep.json is written and
ids already in OUTDIR/results.jsonl are skipped; (4) the rest run on the executor, each record appended to
results.jsonl as its chunk returns; (5) results.csv and the plots are written. Ctrl-C or SIGTERM stops the
workers, keeps every finished record, writes results.csv and raises KeyboardInterrupt. While points run, OUTDIR is
locked (OUTDIR/.accelsim-sweep.lock): a second sweep into it is refused, naming the one that holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.sweep import load_sweep
from ..errors import AccelsimError
from .executors import DASK_MISSING, EXECUTORS, dispatch, make_executor
from .expand import Plan, plan_sweep
from .plots import plot_sweep_records
from .store import (
    CSV_FILE,
    RESULTS_FILE,
    SWEEP_FILE,
    ResultStore,
    is_sweep_dir,
    ordered_records,
    read_sweep_json,
    write_csv,
    write_sweep_json,
)

EXIT_OK = 0
EXIT_SOME_FAILED = 1


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did. ``points``: unique points of the sweep (after filters; duplicates run once);
    ``skipped``: already in results.jsonl; ``ran``: run now; ``ok``/``failed``: the status of every point of the
    sweep as stored now (earlier runs included); ``files``: results.csv and the plots written at the end."""

    name: str
    outdir: Path
    points: int
    expanded: int
    filtered: int
    duplicates: int
    skipped: int
    ran: int
    ok: int
    failed: int
    seconds: float
    executor: str
    files: tuple[Path, ...] = field(default=())

    @property
    def exit_status(self) -> int:
        """0 when every point of the sweep finished ok, 1 when some failed (their errors are in results.jsonl)."""
        return EXIT_OK if self.failed == 0 else EXIT_SOME_FAILED

    def __str__(self) -> str:
        rate = f", {self.ran / self.seconds:.1f} points/s" if self.ran and self.seconds > 0 else ""
        return (f"{self.name}: {self.points} points, {self.ok} ok, {self.failed} failed ({self.ran} run now, "
                f"{self.skipped} already done; {self.seconds:.1f} s{rate}) in {self.outdir}")


def _check_executor(executor: str, workers: int | None, scheduler: str | None) -> None:
    """Fail fast, before any loading, on executor arguments that cannot work."""
    if executor not in EXECUTORS:
        raise AccelsimError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise AccelsimError(f"workers(={workers!r}) must be a whole number >= 1")
    if scheduler and executor != "dask":
        raise AccelsimError("a scheduler address goes with the dask executor (--executor dask)")
    if executor == "dask":
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise AccelsimError(DASK_MISSING) from None


def _sweep_info(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    return {**spec.describe(), "accelsim_version": __version__, "axes": list(spec.keys),
            "points": len(plan.points), "expanded": plan.expanded, "filtered": plan.filtered,
            "duplicates": plan.duplicates, "ids": [p.id for p in plan.points]}


class _Bar:
    """A rich progress bar on ``console``: done/total, failed count, points per second and ETA."""

    def __init__(self, console, total: int, enabled: bool, label: str):
        self.console, self.total, self.enabled, self.label = console, total, enabled, label
        self.done = self.failed = 0
        self._t0 = time.perf_counter()
        self._progress = self._task = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed[/red]"), TextColumn("{task.fields[rate]} pts/s"),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, failed=0, rate="-")
        self._t0 = time.perf_counter()
        return self

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self._progress is not None:
            elapsed = time.perf_counter() - self._t0
            rate = f"{self.done / elapsed:.1f}" if elapsed > 0 else "-"
            self._progress.update(self._task, advance=1, failed=self.failed, rate=rate)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


LOCK_FILE = ".accelsim-sweep.lock"


class _FolderLock:
    """OUTDIR/.accelsim-sweep.lock while a sweep runs into OUTDIR: a second sweep into the same folder is refused
    with who holds it (two would run every point twice). A lock whose process is gone (same host) is stale and
    taken over."""

    def __init__(self, outdir: Path, name: str):
        self.path = Path(outdir) / LOCK_FILE
        self.name = name
        self.held = False

    def __enter__(self) -> _FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "sweep": self.name,
              "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and not self._stale(holder):
                    raise AccelsimError(
                        f"{self.path.parent} is in use by sweep {holder.get('sweep')!r} (pid {holder.get('pid')} on "
                        f"{holder.get('host')} since {holder.get('since')}); wait for it to finish or use another "
                        f"OUTDIR (remove {self.path} if that process is gone)") from None
                self.path.unlink(missing_ok=True)  # stale, or unreadable: the writer died
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise AccelsimError(f"cannot lock {self.path.parent}: {self.path} keeps reappearing")

    def _holder(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _stale(holder: dict) -> bool:
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False  # another machine's process: we cannot tell, so it holds the folder
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


@contextlib.contextmanager
def _sigterm_interrupts():
    """While a sweep runs, SIGTERM ends it as Ctrl-C does (workers stopped, finished points and results.csv
    kept): the handler raises KeyboardInterrupt in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _console(console, progress: bool):
    if console is not None or not progress:
        return console
    from rich.console import Console

    return Console(stderr=True)


def run_sweep(sweep_file: str | os.PathLike, outdir: str | os.PathLike | None = None, *, executor: str = "local",
              workers: int | None = None, scheduler: str | None = None, progress: bool = True, console=None,
              plots: bool = True) -> SweepSummary:
    """Run the sweep in ``sweep_file`` into ``outdir`` (default: the file's ``output:``, else runs/NAME).

    ``executor`` is "local" (a process pool of ``workers`` processes, default one per core) or "dask" (a
    ``LocalCluster`` of ``workers`` processes, or the running scheduler at ``scheduler``). ``progress`` shows a
    progress bar and a closing line on ``console`` (default: a rich Console on stderr); ``plots=False`` skips
    the figures (results.csv is always written).

    Raises :class:`~accelsim.errors.ConfigError` (one line per problem) before anything runs when the sweep
    file or any point is invalid, and :class:`~accelsim.errors.AccelsimError` for bad executor arguments or a
    worker that dies. A point that fails is recorded with its one-line error and the sweep goes on: see
    :attr:`SweepSummary.exit_status`. Ctrl-C stops the workers, keeps what finished, writes results.csv and
    re-raises KeyboardInterrupt.
    """
    t0 = time.perf_counter()
    _check_executor(executor, workers, scheduler)
    spec = load_sweep(sweep_file)
    plan = plan_sweep(spec)
    out = Path(outdir or spec.output or f"runs/{spec.name}")
    with _FolderLock(out, spec.name):
        return _run(plan, out, t0, executor=executor, workers=workers, scheduler=scheduler, progress=progress,
                    con=_console(console, progress), plots=plots)


def _run(plan: Plan, out: Path, t0: float, *, executor: str, workers: int | None, scheduler: str | None,
         progress: bool, con, plots: bool) -> SweepSummary:
    """The body of :func:`run_sweep` once OUTDIR is locked."""
    spec = plan.spec
    store = ResultStore(out)
    done = store.load()
    old_version = None
    if done and is_sweep_dir(out):
        old_version = read_sweep_json(out).get("accelsim_version")
    info = _sweep_info(plan)
    write_sweep_json(out, info)
    pending = [p for p in plan.points if p.id not in done]
    skipped = len(plan.points) - len(pending)
    if con is not None:
        dropped = f", {plan.filtered} filtered out" if plan.filtered else ""
        dup = f", {plan.duplicates} duplicates" if plan.duplicates else ""
        con.print(f"sweep {spec.name}: {len(plan.points)} points ({plan.expanded} expanded{dropped}{dup}); "
                  f"{skipped} already in {out / RESULTS_FILE}, {len(pending)} to run", soft_wrap=True)
        if old_version not in (None, __version__):
            con.print(f"[yellow]warning:[/yellow] {out} holds results of accelsim {old_version}; they are kept "
                      f"(ids hash the config, not the version): use a new OUTDIR to re-run them with "
                      f"{__version__}", soft_wrap=True)
        if store.skipped_lines:
            con.print(f"[yellow]warning:[/yellow] {store.skipped_lines} lines of {store.path} are not results; "
                      f"ignored", soft_wrap=True)
    ran = 0
    used = executor
    if pending:
        try:
            with _sigterm_interrupts(), store, make_executor(executor, workers, scheduler) as ex:
                used = ex.describe()
                label = f"{spec.name} ({used})"
                with _Bar(con, len(pending), progress and con is not None and con.is_terminal, label) as bar:
                    def on_record(rec: dict) -> None:
                        nonlocal ran
                        store.append(rec)
                        done[rec["id"]] = rec
                        ran += 1
                        bar.advance(rec["status"] == "ok")

                    dispatch(ex, pending, on_record)
        except KeyboardInterrupt:
            write_csv(out, ordered_records(out, info), info["axes"])
            if con is not None:
                con.print(f"interrupted: {ran} points finished now and kept in {out / RESULTS_FILE}; run the same "
                          f"command again to continue", soft_wrap=True)
            raise
    files = [write_csv(out, [done[p.id] for p in plan.points if p.id in done], info["axes"])]
    if plots:
        files += plot_sweep_records([done[p.id] for p in plan.points if p.id in done], info["axes"], out,
                                    name=spec.name)
    statuses = [done[p.id]["status"] for p in plan.points if p.id in done]
    summary = SweepSummary(
        name=spec.name, outdir=out, points=len(plan.points), expanded=plan.expanded, filtered=plan.filtered,
        duplicates=plan.duplicates, skipped=skipped, ran=ran, ok=statuses.count("ok"),
        failed=statuses.count("error"), seconds=time.perf_counter() - t0, executor=used, files=tuple(files))
    if con is not None:
        con.print(str(summary), soft_wrap=True)
    return summary


def plot_sweep(outdir: str | os.PathLike) -> list[Path]:
    """Rewrite results.csv and redraw the plots of a sweep folder from its sweep.json and results.jsonl (also
    after a killed or interrupted run); returns the paths written. :class:`AccelsimError` naming the file and
    line if ``outdir`` is not a sweep folder or a complete line of results.jsonl is not a result record (a torn
    last line left by a killed run is ignored)."""
    info = read_sweep_json(outdir)
    records = ordered_records(outdir, info, strict=True)
    axes = list(info.get("axes") or [])
    return [write_csv(outdir, records, axes),
            *plot_sweep_records(records, axes, outdir, name=str(info.get("name") or "sweep"))]


__all__ = ["CSV_FILE", "RESULTS_FILE", "SWEEP_FILE", "SweepSummary", "is_sweep_dir", "plot_sweep", "run_sweep"]
