"""The result of one run: the report dict plus what produced it, and the files it saves."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import ConfigError
from ..tasks import TaskGraph
from ..trace import Trace
from .lock import writing
from .writers import (
    INCOMPLETE_FILE,
    OPS_CSV_FILE,
    REPORT_FILE,
    TRACE_FILE,
    atomic_write_text,
    save_folder,
    staged_chunks,
    write_json,
    write_ops_csv,
)

NO_TRACE = ("this Report kept no task trace to save: a composed run (decode steps, a pipeline, serving, a diffusion "
            "pipeline) keeps its passes' traces only when simulated with trace=True (accelsim.simulate(..., "
            "trace=True), accelsim run --trace), and a Report made from report.json's dict has none; save with "
            "trace=False")
INCOMPLETE_TEXT = ("accelsim was interrupted while writing this report folder: its files may be missing or "
                   "partial. Run the command again to rewrite it.\n")


class SaveInterrupted(KeyboardInterrupt):
    """A Ctrl-C (``KeyboardInterrupt``) during :meth:`Report.save`, saying which folder it left incomplete (``str()``:
    one line, which ``accelsim`` prints after "interrupted")."""


def _from_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised by a Ctrl-C: a KeyboardInterrupt, or an error it caused on its way (the
    interrupt landing in a class body as matplotlib is imported comes out as a RuntimeError from it)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def output_files(*, plots: bool, trace: bool) -> list[str]:
    """The names :meth:`Report.save` writes into a report folder, in the order it writes them."""
    from .html import HTML_FILE
    from .plots import PLOTS

    return [REPORT_FILE, OPS_CSV_FILE, *([TRACE_FILE] if trace else []),
            *([f"{stem}.png" for stem in PLOTS] if plots else []), HTML_FILE]


def live_dict(report: Report) -> dict:
    """``report``'s report.json dict itself, uncopied: for accelsim's own stages, which read it (a sweep's metrics,
    the summary) or finish it (a throttled run's marks) without the deep copy :meth:`Report.to_dict` hands a user
    (a deep copy of resnet50 on tpu-v1's report takes 6.9 ms, 12 % of its 57 ms run)."""
    return report._data


def known_output_files() -> list[str]:
    """Every name a report folder may hold from a run: what :meth:`Report.save` writes with plots and trace."""
    return output_files(plots=True, trace=True)


class Report(Mapping):
    """One run's results: ``to_dict()`` is the report.json contract; ``save(outdir)`` writes the report folder.

    A read-only :class:`collections.abc.Mapping` of report.json's top level (``report["seconds"]``,
    ``report.get("mfu")``, ``items()``, ``values()``, ``==``; each value a deep copy; no item assignment): it was
    documented as one but had no ``get`` / ``items`` / ``values`` and was not a Mapping (probe p179 #3).

    ``segments`` keeps each simulated pass's task graph, trace and start cycle (one pass, or a prefill and its
    decode steps), and for a composed run the pass's label ("decode step 2", "stage 1"), when the run produced
    them here, so a Chrome trace can be written. ``plots`` and ``trace`` are
    what :meth:`save` writes by default: the run's options ``plots`` and ``trace`` (a report made otherwise: the
    plots, no trace).
    """

    def __init__(self, data: dict, *, segments: list[tuple[TaskGraph, Trace, int] | tuple[TaskGraph, Trace, int, str]] | None = None,
                 plots: bool = True, trace: bool = False):
        self._data = data
        self.segments = list(segments or [])
        self.plots, self.trace = plots, trace

    def to_dict(self) -> dict:
        """The report.json content, as a deep copy: a script may change it without changing the report or what
        :meth:`save` writes (accelsim's own stages read the report's dict through :func:`live_dict`, uncopied)."""
        return copy.deepcopy(self._data)

    def __getitem__(self, key: str) -> object:
        """report.json's value at ``key``, as a deep copy (as :meth:`to_dict`)."""
        return copy.deepcopy(self._data[key])

    def __contains__(self, key: object) -> bool:
        """Whether report.json has ``key`` (``"energy" in report``; a key whose value is null is there). Without it
        ``in`` fell back to the sequence protocol and raised ``KeyError: 0`` (probe p174 #2)."""
        return key in self._data

    def keys(self) -> list[str]:
        """report.json's keys, in its order (so ``dict(report)`` is :meth:`to_dict`'s top level: each value a deep
        copy, through ``report[key]``)."""
        return list(self._data)

    def __iter__(self) -> Iterator[str]:
        """report.json's keys, as :meth:`keys` (``list(report)``). The Report is read-only: no item assignment."""
        return iter(self.keys())

    def __len__(self) -> int:
        """How many keys report.json has."""
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        """Whether ``other`` is a mapping of the same keys and values (Mapping's ``==``; two Reports compare their
        report.json dicts without copying them)."""
        if isinstance(other, Report):
            return self._data == other._data
        return super().__eq__(other)

    __hash__ = None  # equal by value, as a dict: not hashable (Mapping's rule)

    @property
    def total_cycles(self) -> int:
        """Cycles from the first task's start to the last task's end."""
        return self._data["total_cycles"]

    @property
    def seconds(self) -> float:
        """total_cycles / clock_hz."""
        return self._data["seconds"]

    def __repr__(self) -> str:
        return (f"Report({self._data['name']!r}, total_cycles={self.total_cycles}, "
                f"seconds={self.seconds:.6g}, mac_utilization={self._data['mac_utilization']:.3f})")

    def save(self, outdir: str | os.PathLike, *, plots: bool | None = None, trace: bool | None = None) -> list[Path]:
        """Write report.json, ops.csv, report.html and (optionally) the PNG plots and trace.json; return the paths.
        ``plots`` and ``trace`` default to the report's own (:attr:`plots`, :attr:`trace`: the run's options).

        The trace is written first, a batch of events at a time, to a temporary file in the folder (so it holds no
        event of each task in memory: :func:`~accelsim.report.chrome_trace.trace_chunks`), and put in place as
        trace.json after report.json and ops.csv: a run whose trace cannot be made changes nothing (a folder
        made for it is removed again). Then the folder is marked incomplete (:data:`INCOMPLETE_FILE`), every file
        an earlier run into it wrote (:func:`known_output_files`) is removed, this run's files are written (each
        atomically, report.json first) and the mark is removed last: so the folder never mixes two runs, and a save
        interrupted part-way (Ctrl-C) leaves a folder marked incomplete, which :func:`~accelsim.report.writers.
        read_report` refuses, and raises :class:`SaveInterrupted` naming it. Other files are left alone.

        ``outdir`` is taken as ``accelsim run -o`` takes it (:func:`~accelsim.report.lock.writing`): only a new
        folder, an empty one or one a run wrote (else :class:`~accelsim.errors.AccelsimError`, one line, nothing
        touched: a folder of a user's files, whose trace.json the save would replace, or another command's, such as a
        sweep's, which ``plot`` / ``compare`` would then refuse as two commands' outputs), and it holds the folder's
        lock (:class:`~accelsim.report.lock.FolderLock`) while it writes, so a save into a folder another accelsim
        process writes is refused (probe p145 #1).
        """
        plots = self.plots if plots is None else plots
        trace = self.trace if trace is None else trace
        if trace and not self.segments:
            raise ConfigError.one(None, "trace", NO_TRACE, value=True)
        out = save_folder(outdir)
        made = not os.path.lexists(out)
        try:
            with writing(out, "accelsim run", self._data.get("name") or out.name):
                out.mkdir(parents=True, exist_ok=True)
                return self._write(out, plots, trace)
        except BaseException:
            if made:  # made for this save, which wrote nothing into it (a trace that could not be made)
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise

    def _write(self, out: Path, plots: bool, trace: bool) -> list[Path]:
        """:meth:`save`'s writing, into folder ``out``, which it has claimed and locked."""
        written = [out / REPORT_FILE, out / OPS_CSV_FILE]
        with contextlib.ExitStack() as staged:  # trace.json is put in place as it closes
            if trace:
                from .chrome_trace import trace_chunks

                staged.enter_context(staged_chunks(out / TRACE_FILE,
                                                   trace_chunks(self.segments, self._data["clock_hz"])))
            atomic_write_text(out / INCOMPLETE_FILE, INCOMPLETE_TEXT)  # (interrupted here: nothing else touched)
            try:
                for name in known_output_files():
                    if (out / name).is_file():
                        (out / name).unlink()
                write_json(self._data, written[0])
                write_ops_csv(self._data, written[1])
                staged.close()  # trace.json in place
                if trace:
                    written.append(out / TRACE_FILE)
                images: dict[str, bytes] = {}
                if plots:
                    from .plots import plot_report

                    pngs = plot_report(self._data, out)
                    written.extend(pngs)
                    images = {p.stem: p.read_bytes() for p in pngs}
                from .html import HTML_FILE, write_html

                written.append(write_html(self._data, out / HTML_FILE, plots=plots, images=images))
                (out / INCOMPLETE_FILE).unlink()
            except Exception as e:
                if not _from_interrupt(e):  # (an OSError, a bug: the folder stays marked incomplete)
                    raise
                raise SaveInterrupted(self._incomplete(out)) from None
            except KeyboardInterrupt:
                raise SaveInterrupted(self._incomplete(out)) from None
        return written

    @staticmethod
    def _incomplete(out: Path) -> str:
        """The line :class:`SaveInterrupted` says of report folder ``out``."""
        return (f"{out} is incomplete (marked by its {INCOMPLETE_FILE} file; it may lack files of this run or "
                "the last): run the command again")
