"""``accelsim sweep``: load a sweep file, validate every point, run the ones not yet finished, keep the results.

    summary = run_sweep("experiments/resnet50_array_dataflow_sweep.yaml", "runs/sweep", workers=2)
    summary.ok, summary.failed, summary.exit_status

Steps: (1) :func:`~accelsim.config.sweep.load_sweep` checks the file; (2) :meth:`~accelsim.sweep.expand.PlanStream.check`
validates the first points and every distinct axis value, so nothing runs when one is invalid; (3) OUTDIR/sweep.json
is written; (4) points are planned as the executor takes them (ids already in OUTDIR/results.jsonl skipped, a point
found invalid only now recorded as an error), each record appended to results.jsonl as its chunk returns, and
sweep.json rewritten as ids accrue; (5) results.csv and the plots are written. Ctrl-C or SIGTERM (at any step,
the end included) stops the workers, keeps every finished record, writes results.csv, frees OUTDIR and raises
KeyboardInterrupt. While points run, OUTDIR is locked (OUTDIR/.accelsim-sweep.lock): a second sweep into it is
refused, naming the one that holds it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.digest import code_fingerprint
from ..config.sweep import load_sweep
from ..errors import AccelsimError
from ..report.lock import LOCK_FILE  # noqa: F401  (tests and callers read it here)
from ..report.lock import FolderLock as _FolderLock
from ..report.writers import claim_folder
from .executors import DASK_MISSING, EXECUTORS, Executor, dispatch, make_executor, run_chunk
from .expand import MAX_ISSUE_LINES, PlannedPoint, PlanStream, describe
from .plots import SweepColumns, plot_sweep_records
from .store import (
    CSV_FILE,
    RESULTS_FILE,
    SWEEP_FILE,
    ResultStore,
    is_sweep_dir,
    plain,
    read_sweep_json,
    record,
    share_refusal,
    stream_csv,
    to_json,
    write_sweep_json,
)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
REWRITE_S = 5.0  # sweep.json (its ids) is rewritten at most this often while points are planned
REWRITE_SHARE = 0.05  # ... and so that writing it takes at most this share of the time


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did. ``points``: unique points of the sweep (after filters; duplicates run once);
    ``skipped``: already in results.jsonl; ``ran``: run now; ``ok``/``failed``: the status of every point of the
    sweep as stored now (earlier runs included); ``files``: results.csv and the plots written at the end;
    ``failures``: the points that failed while running now, a line per distinct error with the points that got it
    (:meth:`_Feed.failure_lines`), which :meth:`__str__` lists under the counts (probe p101 #3); ``stale``: a line
    saying how many reused points other accelsim code computed (another code fingerprint in their records) and one
    for those whose records carry none (code unknown), listed last (probe p283 #1)."""

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
    failures: tuple[str, ...] = field(default=())
    stale: tuple[str, ...] = field(default=())

    @property
    def exit_status(self) -> int:
        """0 when every point of the sweep finished ok, 1 when some failed (their errors are in results.jsonl)."""
        return EXIT_OK if self.failed == 0 else EXIT_SOME_FAILED

    def __str__(self) -> str:
        rate = f", {self.ran / self.seconds:.1f} points/s" if self.ran and self.seconds > 0 else ""
        return "\n".join((f"{self.name}: {self.points} points, {self.ok} ok, {self.failed} failed ({self.ran} run "
                           f"now, {self.skipped} already done; {self.seconds:.1f} s{rate}) in {self.outdir}",
                           *self.failures, *self.stale))


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


class _SweepJson:
    """OUTDIR/sweep.json while the plan streams: written at the start (``complete`` false, the ids planned so
    far), rewritten as ids accrue (at most every :data:`REWRITE_S` s and :data:`REWRITE_SHARE` of the time, so
    a killed sweep's folder lists nearly every id it ran), and at the end or on Ctrl-C."""

    def __init__(self, out: Path, stream: PlanStream, kept: bool = False):
        self.out, self.stream = out, stream
        self._last = self._cost = 0.0
        self._ids = -1
        # the other accelsim versions whose results the folder keeps (``kept``: results.jsonl holds some), so that
        # every later run still warns of them
        self.earlier: list[str] = []
        # likewise the code fingerprints (fingerprint.code_fingerprint) of the results the folder keeps: other code
        # of the same version (a change without a version bump) whose records of unchanged ids are reused
        self.fingerprint = code_fingerprint()
        self.earlier_code: list[str] = []
        self.axes_before: list[str] | None = None  # the axes of the run that wrote the folder
        self.values_before: Any = None  # its axis values as written: sweep.json's grid and zip
        # a relabelling not yet done (its axes before; sweep.json carries them as relabel_from until the stream of
        # points has been read through, so that a run stopped earlier leaves it to the next, which sees the new axes)
        self.relabel_from: list[str] | None = None
        self.relabel_left = False  # the run that wrote the folder stopped before relabelling every reused point
        # results.jsonl kept, sweep.json missing or torn (probe p199 #2): why it cannot be read, and every reused
        # record is relabelled with this sweep's axes where they differ, the axes before being unknown
        self.lost: str | None = None
        try:
            before = read_sweep_json(out) if kept else None
        except AccelsimError as e:
            missing = not (Path(out) / SWEEP_FILE).exists()
            before, self.lost = None, f"{Path(out) / SWEEP_FILE} is missing" if missing else str(e)
            self.relabel_left, self.axes_before = True, []
        if before is not None:
            seen = {before.get("accelsim_version"), *before.get("earlier_versions", [])}
            self.earlier = sorted(str(v) for v in seen if v not in (None, __version__))
            seen = {before.get("code_fingerprint"), *before.get("earlier_fingerprints", [])}
            self.earlier_code = sorted(str(v) for v in seen if v not in (None, self.fingerprint))
            self.axes_before = list(before.get("axes") or [])
            self.values_before = [before.get("grid"), before.get("zip")]
            if isinstance(before.get("relabel_from"), list):
                self.relabel_left = True
                self.axes_before = list(before["relabel_from"])

    def relabels(self) -> bool:
        """Whether reused records are recorded again with this sweep's axis values: the axes changed (one added,
        renamed or removed), a value was written otherwise (``3350GB/s`` → ``3.35TB/s``: the same point, labelled
        as the file now writes it; probe p283 #4), sweep.json was lost, or an earlier relabelling was cut short."""
        if self.axes_before is None:
            return False
        desc = self.stream.spec.describe()
        now = json.loads(to_json(plain([desc["grid"], desc["zip"]])))
        return self.relabel_left or self.axes_before != list(self.stream.spec.keys) or self.values_before != now

    def info(self) -> dict[str, Any]:
        s, spec = self.stream, self.stream.spec
        return {**spec.describe(), "accelsim_version": __version__, "code_fingerprint": self.fingerprint,
                "axes": list(spec.keys), **({"earlier_versions": self.earlier} if self.earlier else {}),
                **({"earlier_fingerprints": self.earlier_code} if self.earlier_code else {}),
                **({"relabel_from": self.relabel_from} if self.relabel_from is not None else {}),
                "complete": s.complete, "points": s.planned, "expanded": s.expanded, "filtered": s.filtered,
                "duplicates": s.duplicates, "invalid": s.invalid, "ids": s.id_list()}

    def write(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        info = self.info()
        write_sweep_json(self.out, info)
        self._last = time.perf_counter()
        self._cost, self._ids = self._last - t0, self.stream.planned
        return info

    def maybe_write(self) -> None:
        if self.stream.planned != self._ids and \
                time.perf_counter() - self._last >= max(REWRITE_S, self._cost / REWRITE_SHARE):
            self.write()


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

    def advance(self, ok: bool, total: int | None = None) -> None:
        """One point done; ``total``: the total as now known (planning refines it)."""
        self.done += 1
        self.failed += not ok
        self.total = total if total is not None else self.total
        if self._progress is not None:
            elapsed = time.perf_counter() - self._t0
            rate = f"{self.done / elapsed:.1f}" if elapsed > 0 else "-"
            self._progress.update(self._task, advance=1, failed=self.failed, rate=rate, total=self.total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


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
    file, one of its first points or a value of an axis is invalid (:meth:`PlanStream.check`); a point found
    invalid only later, while points are planned as they run, is recorded as an "error" record; and :class:`~accelsim.errors.AccelsimError` for bad executor arguments, a
    worker that dies or a Dask LocalCluster that cannot start (naming the missing ``if __name__ == "__main__":``
    guard when a script without one is the likely cause: its workers import it, and re-run the sweep). A point that fails is recorded with its one-line error and the sweep goes on: see
    :attr:`SweepSummary.exit_status`. Ctrl-C stops the workers, keeps what finished, writes results.csv and
    re-raises KeyboardInterrupt.
    """
    t0 = time.perf_counter()
    # SIGTERM is Ctrl-C from the start until OUTDIR is freed, the end (results.csv, plots) included: a kill then
    # leaves no lock behind and says what it kept
    with _sigterm_interrupts():
        _check_executor(executor, workers, scheduler)
        spec = load_sweep(sweep_file)
        stream = PlanStream(spec)
        stream.check()
        out = Path(outdir or spec.output or f"runs/{spec.name}")
        claim_folder(out, "accelsim sweep")  # not into another command's folder (probe p118 #2)
        # a running scheduler is reached before OUTDIR is written: one that cannot be reached is a setup error that
        # leaves no folder behind (probe p283 #2); a LocalCluster starts only when a point is left to run
        early = make_executor(executor, workers, scheduler) if scheduler else None
        with early if early is not None else contextlib.nullcontext(), _FolderLock(out, spec.name):
            return _run(stream, out, t0, executor=executor, workers=workers, scheduler=scheduler,
                        progress=progress, con=_console(console, progress), plots=plots, early=early)


class _Feed:
    """The points a sweep runs now, taken from the plan stream: points already in results.jsonl are skipped,
    a point found invalid while streaming is recorded at once as an "error" record (counted as run now), the
    rest go to the executor. ``record`` stores one record and moves the progress bar; a point a worker refused
    for its share of the default memory budget (:func:`~accelsim.sweep.store.share_refusal`) is held back instead,
    and :meth:`run_deferred` runs it again in this process once the workers are gone."""

    def __init__(self, stream: PlanStream, done: set[str], store: ResultStore, sweep_json: _SweepJson,
                 relabel: dict[str, int] | None = None):
        self.stream, self.done, self.store, self.sweep_json = stream, done, store, sweep_json
        self.relabel = relabel
        # the reused points other code computed, by that code's fingerprint (None: a record without one, of unknown
        # code): what the summary's stale lines count (probe p283 #1)
        self.stale: dict[str | None, int] = {}
        self.skipped = self.ran = self.sent = self.relabelled = 0
        self.bar: _Bar | None = None
        self.inflight: dict[str, PlannedPoint] = {}  # points sent to the executor, by id, until their record is back
        self.deferred: list[PlannedPoint] = []  # points refused for their worker's share of memory
        self.failed: dict[str, list] = {}  # a run-time error → [points that got it, the first of them]
        self.invalid_now = 0  # points found invalid while streaming, recorded now

    def __iter__(self) -> Iterator[PlannedPoint]:
        with open(self.store.path, "rb") if self.relabel is not None else contextlib.nullcontext() as reader:
            for point in self.stream:
                if point.id in self.done:
                    self.skipped += 1
                    if point.id in self.store.other_code:
                        code = self.store.other_code[point.id]
                        self.stale[code] = self.stale.get(code, 0) + 1
                    if reader is not None:
                        self._relabel(point, reader)
                elif point.experiment is None:
                    self.invalid_now += 1
                    self.record(record(point.id, point.values, error=point.error))
                else:
                    self.sent += 1
                    self.inflight[point.id] = point
                    yield point
        self.sweep_json.relabel_from = None  # every reused point read through: relabelled

    def _relabel(self, point: PlannedPoint, reader) -> None:
        """A point reused after the sweep's axes or their values as written changed (:meth:`_SweepJson.relabels`):
        its record again with this sweep's axis values, appended, so results.csv and the plots show them (the
        record's metrics hold: the id hashes the resolved config; its ``code`` stays the one that computed them)."""
        reader.seek(self.relabel[point.id])
        rec = json.loads(reader.readline())
        values = json.loads(to_json(plain(point.values)))
        if rec.get("point") != values:
            self.store.append({**rec, "point": values})
            self.relabelled += 1

    def total(self) -> int:
        """Points to run: those sent so far and at most those not yet planned (exact once planning is done)."""
        return self.sent + self.stream.remaining()

    def record(self, rec: dict) -> None:
        point = self.inflight.pop(rec["id"], None)
        if point is not None and rec["status"] == "error" and share_refusal(rec.get("error")):
            self.deferred.append(point)  # run again alone (run_deferred); not stored, so an interrupt re-runs it
            return
        self.store.append({**rec, "code": self.sweep_json.fingerprint})  # the code that computed it (probe p283 #1)
        self.ran += 1
        if point is not None and rec["status"] == "error":
            self._failed(rec, point)
        if self.bar is not None:
            self.bar.advance(rec["status"] == "ok", self.total())
        self.sweep_json.maybe_write()


    def run_deferred(self, con, workers: int) -> None:
        """Run the points the ``workers`` refused for their share of the default options.memory_budget again, one
        at a time in this process (the workers are gone by now), each with the whole default, as ``--workers 1``
        or ``accelsim run`` would: a point's outcome does not depend on how many workers ran beside it."""
        points, self.deferred = self.deferred, []
        if not points:
            return
        if con is not None:
            many = len(points) > 1
            con.print(f"{len(points)} point{'s' if many else ''} needed more than a worker's share of the default "
                      f"options.memory_budget (half of this machine's memory over {workers} workers): running "
                      f"{'them' if many else 'it'} again here{', one at a time,' if many else ''} with the whole "
                      f"default (fewer --workers, or options.memory_budget set, would run such points in parallel)",
                      soft_wrap=True)
        for point in points:
            for rec, _ in run_chunk([(point.id, point.values, point.experiment)]):
                self.record(rec)
                if rec["status"] == "error":
                    self._failed(rec, point)

    def _failed(self, rec: dict, point: PlannedPoint) -> None:
        entry = self.failed.setdefault(str(rec.get("error") or "failed without a message"), [0, point])
        entry[0] += 1
        if point.index < entry[1].index:
            entry[1] = point

    def failure_lines(self, failed: int) -> tuple[str, ...]:
        """The points that failed while running now, as the points found invalid are listed (:class:`Problems`):
        ``N points failed while running:`` and a line per distinct error, ``ERROR in K points, first point #I
        (values)``, in the order of their first points (at most :data:`MAX_ISSUE_LINES`); and how many of the
        ``failed`` points of the sweep failed in an earlier run (their errors: results.csv's ``error`` column)."""
        now = sum(count for count, _ in self.failed.values())
        lines = [f"{now} point{'s' if now != 1 else ''} failed while running:"] if now else []
        entries = sorted(self.failed.items(), key=lambda e: e[1][1].index)
        for error, (count, first) in entries[:MAX_ISSUE_LINES]:
            many = f"in {count} points, first" if count > 1 else "in"
            lines.append(f"  {error} {many} point #{first.index} ({describe(first.values)})")
        if len(entries) > MAX_ISSUE_LINES:
            lines.append(f"  ... and {len(entries) - MAX_ISSUE_LINES} more errors (results.csv's error column)")
        earlier = failed - now - self.invalid_now
        if earlier > 0:
            lines.append(f"{earlier} point{'s' if earlier != 1 else ''} failed in an earlier run (results.csv's "
                         f"error column says why)")
        return tuple(lines)


def _warning(con, text: str) -> None:
    """``warning: TEXT`` on ``con`` (the text printed as it is, not read as rich markup)."""
    from rich.markup import escape

    con.print(f"[yellow]warning:[/yellow] {escape(text)}", soft_wrap=True)


def _start_lines(con, stream: PlanStream, out: Path, store: ResultStore, done: set[str],
                 earlier: list[str], earlier_code: list[str]) -> None:
    """What the console says before the first point: the sweep's size and what results.jsonl already holds."""
    spec = stream.spec
    filters = f", {len(spec.filters)} filters" if spec.filters else ""
    con.print(f"sweep {spec.name}: {stream.expanded} points expanded{filters}; {_done_text(stream, done)} "
              f"{out / RESULTS_FILE}; planning points as they run", soft_wrap=True)
    if earlier:
        old_version = ", ".join(earlier)
        con.print(f"[yellow]warning:[/yellow] {out} holds results of accelsim {old_version}; they are kept "
                  f"(ids hash the config, not the version): use a new OUTDIR to re-run them with "
                  f"{__version__}", soft_wrap=True)
    if earlier_code:
        _warning(con, f"{out} holds results of other accelsim code (fingerprint {', '.join(earlier_code)}; this "
                      f"is {code_fingerprint()}); they are kept (ids hash the config, not the code): use a new OUTDIR "
                      f"to re-run them with this code")
    note = store.skipped_note()
    if note is not None:
        _warning(con, f"{note} (its point runs again)")


def _done_text(stream: PlanStream, done: set[str]) -> str:
    """What the start line says of results.jsonl: this sweep's points already there when the checked stream holds
    them all (not every record: another sweep's, or points of axes since changed, are no points of this one;
    probe p75 #3), else how many records it holds (which of them are points of this sweep is known as they are
    planned: the end line's "already done")."""
    if not done:
        return "0 already done in"
    if not stream.complete:
        return f"{len(done)} records in"
    mine = sum(1 for i in stream.id_list() if i in done)
    others = f" ({len(done)} records there)" if len(done) != mine else ""
    return f"{mine} already done{others} in"


def _end_lines(con, stream: PlanStream, feed: _Feed) -> None:
    """The plan's counts, and the problems of points found invalid while streaming."""
    dropped = f", {stream.filtered} filtered out" if stream.filtered else ""
    dup = f", {stream.duplicates} duplicates" if stream.duplicates else ""
    relabelled = f" ({feed.relabelled} recorded again with this sweep's axis values)" if feed.relabelled else ""
    con.print(f"planned {stream.planned} points ({stream.expanded} expanded{dropped}{dup}); {feed.skipped} were "
              f"already done{relabelled}", soft_wrap=True)
    if stream.invalid:
        con.print(f"[yellow]warning:[/yellow] {stream.invalid} points do not validate; recorded as errors:",
                  soft_wrap=True)
        con.print(str(stream.problems.error(stream.spec, stream.kept)), soft_wrap=True, markup=False)


def _run(stream: PlanStream, out: Path, t0: float, *, executor: str, workers: int | None, scheduler: str | None,
         progress: bool, con, plots: bool, early: Executor | None = None) -> SweepSummary:
    """The body of :func:`run_sweep` once OUTDIR is locked; ``early``: the executor started before (a scheduler's)."""
    spec = stream.spec
    store = ResultStore(out)
    done = store.ids(code=code_fingerprint())
    sweep_json = _SweepJson(out, stream, kept=bool(done))
    relabel = None  # where each finished record lies, when the axes changed since the folder was written
    if sweep_json.relabels():
        relabel = {rec["id"]: at for at, rec in store.scan()}  # the last record of an id wins, as in load()
        sweep_json.relabel_from = sweep_json.axes_before
    if con is not None:
        _start_lines(con, stream, out, store, done, sweep_json.earlier, sweep_json.earlier_code)
        if sweep_json.lost is not None:
            con.print(f"[yellow]warning:[/yellow] {sweep_json.lost}; rebuilt from {spec.file or 'the sweep'} (the "
                      f"{RESULTS_FILE} records are reused)", soft_wrap=True)
    sweep_json.write()
    feed = _Feed(stream, done, store, sweep_json, relabel)
    used = executor
    ran_through = False  # every point run: an interrupt now stops the end step (results.csv, plots)
    try:
        with store:
            points = iter(feed)
            first = next(points, None)  # no executor is started when nothing is left to run
            if first is not None:
                used = _dispatch(feed, itertools.chain([first], points), executor, workers, scheduler, progress,
                                 con, spec.name, early)
        ran_through = True
        info = sweep_json.write()
        files, counts = _write_end(out, info, plots, spec.name,
                                   plot_warn=None if con is None else (lambda note: _warning(con, note)))
    except (KeyboardInterrupt, AccelsimError) as e:  # Ctrl-C, a worker gone, a filter failing on a later point
        info = sweep_json.write()
        _write_end(out, info, False, spec.name)
        if con is not None and isinstance(e, KeyboardInterrupt):
            if ran_through:
                con.print(f"interrupted at the end of the sweep: every point is kept in {out / RESULTS_FILE} and "
                          f"{out / CSV_FILE}; 'accelsim plot {out}' draws the plots", soft_wrap=True)
            else:
                con.print(f"interrupted: {feed.ran} points finished now and kept in {out / RESULTS_FILE}; run the "
                          f"same command again to continue", soft_wrap=True)
        raise
    summary = SweepSummary(
        name=spec.name, outdir=out, points=stream.planned, expanded=stream.expanded, filtered=stream.filtered,
        duplicates=stream.duplicates, skipped=feed.skipped, ran=feed.ran, ok=counts["ok"],
        failed=counts["error"], seconds=time.perf_counter() - t0, executor=used, files=tuple(files),
        failures=feed.failure_lines(counts["error"]), stale=_stale_lines(feed.stale, sweep_json.fingerprint))
    if con is not None:
        _end_lines(con, stream, feed)
        con.print(str(summary), soft_wrap=True, markup=False, highlight=False)
    return summary


def _stale_lines(stale: Mapping[str | None, int], fingerprint: str) -> tuple[str, ...]:
    """The summary's lines on the reused points whose records other code computed: ``stale`` counts them by the
    fingerprint their records carry (None: a record written before records carried one, whose code is unknown).
    A folder's other records, of points no longer in the sweep, are no reused points (probe p283 #1)."""
    known = {code: n for code, n in stale.items() if code is not None}
    lines = []
    if known:
        n = sum(known.values())
        lines.append(f"{n} point{'s' if n != 1 else ''} reused from results of other accelsim code (fingerprint "
                     f"{', '.join(sorted(known))}; this is {fingerprint}): use a new OUTDIR to re-run them")
    if stale.get(None):
        n = stale[None]
        lines.append(f"{n} point{'s' if n != 1 else ''} reused from results that carry no code fingerprint (written "
                     f"before each result recorded one: which accelsim code computed them is unknown; this is "
                     f"{fingerprint}): use a new OUTDIR to re-run them")
    return tuple(lines)


def _dispatch(feed: _Feed, points, executor: str, workers: int | None, scheduler: str | None, progress: bool,
              con, name: str, early: Executor | None = None) -> str:
    """Run ``points`` on a new executor (or ``early``, one started before) with a progress bar; returns the
    executor's description. The executor is closed on the way out (cancelling what is queued on an error)."""
    with early if early is not None else make_executor(executor, workers, scheduler) as ex:
        used = ex.describe()
        enabled = progress and con is not None and con.is_terminal
        with _Bar(con, feed.total(), enabled, f"{name} ({used})") as bar:
            feed.bar = bar
            dispatch(ex, points, feed.record, remaining=feed.stream.remaining)
            if feed.deferred:
                ex.close()  # the workers and their memory gone before a point runs here with the whole default
                feed.run_deferred(con, ex.slots)
    return used


def plot_sweep(outdir: str | os.PathLike, *, console=None) -> list[Path]:
    """Rewrite results.csv and redraw the plots of a sweep folder from its sweep.json and results.jsonl (also
    after a killed or interrupted run); returns the paths written. :class:`AccelsimError` naming the file (and
    line) if ``outdir`` is not a sweep folder, and naming the sweep when one is running into it (its lock). A complete line of results.jsonl that is not a result record is
    ignored, as a sweep into the folder ignores it, with the same warning on ``console`` (default: stderr); a torn
    last line left by a killed run is ignored without one."""
    info = read_sweep_json(outdir)

    def warn(note: str) -> None:
        _warning(console or _console(None, True), note)

    name = str(info.get("name") or "sweep")
    # a sweep running into the folder holds its lock: its results are partial and its own end step rewrites these
    # files, so the plot is refused (probe p75 #6); the plot holds the lock while it writes, so no sweep starts then
    with _FolderLock(Path(outdir), name, command="plot"):
        return _write_end(Path(outdir), info, True, name, warn=warn, plot_warn=warn)[0]


def _zip_keys(info: Mapping[str, Any]) -> list[list[str]]:
    """sweep.json's zip groups as lists of their keys (one axis each in the lines plot and heatmap)."""
    groups = info.get("zip") or []
    return [list(g) for g in groups if isinstance(g, Mapping)] if isinstance(groups, list) else []


def _write_end(out: Path, info: dict[str, Any], plots: bool, name: str, *,
               warn=None, plot_warn=None) -> tuple[list[Path], dict[str, int]]:
    """The end of a sweep in bounded memory: results.csv streamed from results.jsonl (a record at a time, in
    the sweep's order), the plots' columns gathered on the way (numbers, not records), sweep.json's ``pareto``
    (the ids of results.csv's points on their workload's front) when it changed, then the plots. Returns the
    files written and the count of records by status; ``warn(text)`` hears of lines that are not records (a
    sweep said so as it read them), ``plot_warn(text)`` of points the Pareto plot leaves off."""
    axes = list(info.get("axes") or [])
    cols = SweepColumns(axes) if plots else None
    front: list[str] = []
    path, counts = stream_csv(out, info, sink=None if cols is None else cols.add, warn=warn, front=front)
    if info.get("pareto") != front:
        info = {**{k: v for k, v in info.items() if k != "format"}, "pareto": front}
        write_sweep_json(out, info)
    files = [path]
    if cols is not None:
        files += plot_sweep_records(cols, axes, out, name=name, warn=plot_warn, zips=_zip_keys(info))
    return files, counts


__all__ = ["CSV_FILE", "RESULTS_FILE", "SWEEP_FILE", "SweepSummary", "is_sweep_dir", "plot_sweep", "run_sweep"]
