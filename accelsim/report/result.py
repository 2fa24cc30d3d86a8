"""The result of one run: the report dict plus what produced it, and the files it saves."""

from __future__ import annotations

from pathlib import Path

from ..tasks import TaskGraph
from ..trace import Trace
from .writers import OPS_CSV_FILE, REPORT_FILE, write_json, write_ops_csv


class Report:
    """One run's results: ``to_dict()`` is the report.json contract; ``save(outdir)`` writes the report folder.

    ``segments`` keeps each simulated pass's task graph, trace and start cycle (one pass, or a prefill and its
    decode steps) when the run produced them here, so a Chrome trace can be written.
    """

    def __init__(self, data: dict, *, segments: list[tuple[TaskGraph, Trace, int]] | None = None):
        self._data = data
        self.segments = list(segments or [])

    def to_dict(self) -> dict:
        """The report.json content (the object itself: copy it before changing it)."""
        return self._data

    def __getitem__(self, key: str) -> object:
        return self._data[key]

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

    def save(self, outdir: str | Path, *, plots: bool = True, trace: bool = False) -> list[Path]:
        """Write report.json, ops.csv, report.html and (optionally) the PNG plots and trace.json; return the paths.

        report.json is written first and every file atomically, so an interrupted save keeps what was done.
        """
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / REPORT_FILE, out / OPS_CSV_FILE]
        write_json(self._data, written[0])
        write_ops_csv(self._data, written[1])
        if trace:
            if not self.segments:
                raise ValueError("this Report has no task trace (it was loaded from a file)")
            from .chrome_trace import write_chrome_trace

            written.append(write_chrome_trace(self.segments, self._data["clock_hz"], out / "trace.json"))
        images: dict[str, bytes] = {}
        if plots:
            from .plots import plot_report

            pngs = plot_report(self._data, out)
            written.extend(pngs)
            images = {p.stem: p.read_bytes() for p in pngs}
        from .html import HTML_FILE, write_html

        written.append(write_html(self._data, out / HTML_FILE, plots=plots, images=images))
        return written
