"""Figures of a sweep, chosen from its axes and drawn from the results records alone (so ``accelsim plot
OUTDIR`` redraws them from the folder):

* ``sweep_lines.png``: a metric (the latency, ``seconds``: points of archs with other clocks compare in time, not
  cycles; for one clock it ranks as total cycles do) against the first varying axis, one line per value of the
  second; one panel per value of a third axis (up to :data:`MAX_PANELS`), the best (lowest) value over any further
  axes. A zip group is one axis (:class:`_Unit`), and other work is never folded: when a further axis changes the
  workload, the panels are the workloads and only the other axes are folded (:func:`_layout`). The latency's axis
  label says what a composed run's seconds cover (:func:`_covers`: "prefill + 2 decode steps").
* ``sweep_heatmap.png``: the metric over the first two varying axes (panels and the best over the rest as above).
* ``sweep_pareto.png``: latency (``seconds``) against chip area (``area_mm2``) for every point, coloured by its
  energy (``energy_j``), with the Pareto front over all three (no other point is at least as small, fast and
  frugal and better in one) highlighted; not drawn when the arch gives no energy constants (docs/energy.md); the
  points of such archs in a sweep with others are left off, which the title and a warning say.

A figure that the axes cannot support (a heatmap of one axis) is not drawn. matplotlib comes through
:mod:`accelsim.report.plots` (imported lazily, Agg backend), the one module that imports it.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import units as _units_mod
from ..report import fmt
from .expand import describe, short_names

LINES_FILE = "sweep_lines.png"
HEATMAP_FILE = "sweep_heatmap.png"
PARETO_FILE = "sweep_pareto.png"
LATENCY = "seconds"
METRIC = LATENCY  # what the lines and the heatmap draw and rank: seconds, as total cycles mislead across clocks
AREA = "system_area_mm2"  # the Pareto plot's area and energy: the whole system's (every chip of the arch); a record
ENERGY = "system_energy_j"  # written before these metrics existed gives its area_mm2 and energy_j (FALLBACK)
FALLBACK = {AREA: "area_mm2", ENERGY: "energy_j"}
LOG_METRIC_SPAN = 100  # sweep_lines.png's metric axis is logarithmic when the panel's values span this factor or more
MAX_PANELS = 6  # a third axis with more values than this is folded (best over it) instead of paneled
MAX_WORKLOAD_PANELS = 12  # workloads (never folded) drawn as panels of a lines plot or heatmap; the title says so
MAX_ANNOTATED = 12  # heatmap cells are labelled when both sides have at most this many values
MAX_LABELLED_FRONT = 10  # a larger front is ringed, not labelled: its labels would cover the plot
MAX_TICKS = 12  # tick labels on a heatmap side or a lines plot's axis of named values; beyond: every k-th (_ticks)
MAX_LEGEND = 10  # lines of more series than this (matplotlib's 10-colour cycle) take a colormap and a colorbar
MAX_SCATTER = 20_000  # a Pareto scatter of more points draws a sample of them (scatter_sample)


def _pyplot():
    from ..report.plots import pyplot

    return pyplot()


def _key(value: Any) -> str:
    """A hashable, comparable stand-in for an axis value (values may be lists or mappings)."""
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


QUANTITIES = ((_units_mod.parse_size, fmt.size), (_units_mod.parse_bandwidth, fmt.bandwidth),
              (_units_mod.parse_time, fmt.seconds), (_units_mod.parse_frequency, fmt.frequency))
"""The kinds of quantity an axis's values may be written as ("64KiB", "34GB/s", "50ns", "1GHz"): the config's
parser of each (:mod:`accelsim.units`) and the formatter of its tick labels."""


def quantities(values: Sequence[Any]) -> tuple[list[float] | None, Any]:
    """``values`` as numbers to order and place them by, and the formatter of such numbers (None: str): the
    numbers themselves when all are numbers; when some are written with a unit, what the first kind of
    :data:`QUANTITIES` whose parser reads every one of them (all finite) gives; else (None, None): categories
    (dataflows, preset names, sizes mixed with times), drawn in written order (probe p101 #2)."""
    if all(_is_number(v) for v in values):
        return [float(v) for v in values], None
    if not any(isinstance(v, str) for v in values):
        return None, None
    for parse, text in QUANTITIES:
        try:
            nums = [float(parse(v)) for v in values]
        except (ValueError, TypeError, OverflowError):
            continue
        if all(math.isfinite(n) for n in nums):
            return nums, text
    return None, None


class SweepColumns:
    """The columns the figures draw, of the ok records only: per axis an int code per record (into
    ``values[axis]``, the distinct values in order of first appearance) and per metric of :data:`METRICS` a float
    per record (NaN where missing or not a finite number). Records are added one at a time (:meth:`add`, as
    results.csv is streamed), so a sweep of 10⁶ points costs a few arrays of 10⁶ numbers, not 10⁶ dicts."""

    METRICS = (LATENCY, AREA, ENERGY)

    def __init__(self, axes: Sequence[str]):
        from array import array

        self.axes = list(axes)
        self.values: dict[str, list[Any]] = {a: [] for a in self.axes}
        self._seen: dict[str, dict[str, int]] = {a: {} for a in self.axes}
        self._codes = {a: array("i") for a in self.axes}
        self._metrics = {m: array("d") for m in self.METRICS}
        self.covers: dict[str, None] = {}  # what the points' latency covers, where it is not one pass (_covers)
        self._work_seen: dict[tuple, int] = {}
        self._works = array("i")  # each point's work (work_of), numbered in order of first appearance

    @classmethod
    def of(cls, records, axes: Sequence[str]) -> SweepColumns:
        """``records`` as columns (``records`` may already be a SweepColumns)."""
        if isinstance(records, SweepColumns):
            return records
        cols = cls(axes)
        for r in records:
            cols.add(r)
        return cols

    def add(self, record: Mapping[str, Any]) -> None:
        """Add one results record (ignored unless its status is "ok")."""
        if record.get("status") != "ok":
            return
        point, metrics = record.get("point") or {}, record.get("metrics") or {}
        for a in self.axes:
            v = point.get(a)
            seen = self._seen[a]
            code = seen.setdefault(_key(v), len(seen))
            if code == len(self.values[a]):
                self.values[a].append(v)
            self._codes[a].append(code)
        for m, column in self._metrics.items():
            v = metrics.get(m, metrics.get(FALLBACK.get(m, m)))
            column.append(float(v) if _is_number(v) else math.nan)
        work = work_of(point, metrics, self.axes)
        self._works.append(self._work_seen.setdefault(work, len(self._work_seen)))
        covers = _covers(metrics)
        if covers:
            self.covers[covers] = None

    def __len__(self) -> int:
        return len(self._metrics[METRIC])

    def codes(self, axis: str):
        import numpy as np

        return np.frombuffer(self._codes[axis], dtype=np.int32) if len(self) else np.zeros(0, np.int32)

    def works(self):
        """Each point's work number (:func:`work_of`): points of one number run the same work."""
        import numpy as np

        return np.frombuffer(self._works, dtype=np.int32) if len(self) else np.zeros(0, np.int32)

    def metric(self, name: str):
        import numpy as np

        return np.frombuffer(self._metrics[name], dtype=np.float64) if len(self) else np.zeros(0)

    def varying(self) -> list[str]:
        """The axes that take more than one value, in axis order."""
        return [a for a in self.axes if len(self.values[a]) > 1]

    def sorted_values(self, axis: str) -> list[Any]:
        """The distinct values of ``axis``: sorted by value when all are numbers or quantities of one kind
        (:func:`quantities`: ``2GB/s`` before ``16GB/s``), else in order of first appearance."""
        values = self.values[axis]
        nums, _ = quantities(values)
        return list(values) if nums is None else [values[i] for i in sorted(range(len(values)),
                                                                          key=nums.__getitem__)]

    def best(self, keys: Sequence[str], metric: str) -> dict[tuple, float]:
        """The lowest ``metric`` for each combination of the values of ``keys`` (over every other axis), keyed by
        the values' :func:`_key`."""
        import numpy as np

        m = self.metric(metric)
        has = ~np.isnan(m)
        dims = tuple(max(len(self.values[a]), 1) for a in keys)
        flat = np.ravel_multi_index(tuple(self.codes(a)[has] for a in keys), dims) if keys else \
            np.zeros(int(has.sum()), np.intp)
        low = np.full(math.prod(dims), np.inf)
        np.minimum.at(low, flat, m[has])
        found = np.flatnonzero(np.isfinite(low))
        combos = np.unravel_index(found, dims)
        return {tuple(_key(self.values[a][int(c[i])]) for a, c in zip(keys, combos, strict=True)): float(low[f])
                for i, f in enumerate(found)}


def varying_axes(records, axes: Sequence[str]) -> list[str]:
    """The axes that take more than one value among the ok ``records``, in axis order."""
    return SweepColumns.of(records, axes).varying()


def _tight(fig) -> None:
    """``fig.tight_layout()``; a figure whose decorations cannot be fitted is left as it is, without matplotlib's
    "Tight layout not applied" warning on stderr (in the middle of a sweep's console output)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
        fig.tight_layout()


THIN: weakref.WeakSet = weakref.WeakSet()
"""Axes whose x tick labels sit at the values themselves (a lines plot of numbers or quantities): they may meet
where values lie close on a log axis, which :func:`_thin_labels` resolves once the figure is laid out."""
LABEL_GAP = 4.0  # pixels kept clear between two neighbouring tick labels


def _thin_labels(fig) -> int:
    """Hide the x tick labels of the :data:`THIN` axes of ``fig`` that would overlap the one shown before them (left
    to right, the first always shown; probe p221 #6: 34GB/s and 68GB/s on an axis from 500MB/s to 1TB/s printed as
    "34GB/68GB/s"); the tick stays. Returns how many were hidden."""
    renderer = fig.canvas.get_renderer()
    hidden = 0
    for ax in fig.axes:
        if ax not in THIN:
            continue
        labels = sorted((t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()),
                        key=lambda t: t.get_window_extent(renderer).x0)
        right = -math.inf
        for t in labels:
            box = t.get_window_extent(renderer)
            if box.x0 < right + LABEL_GAP:
                t.set_visible(False)
                hidden += 1
            else:
                right = box.x1
    return hidden


def _save(plt, fig, path: Path) -> Path:
    """Save ``fig`` as PNG to ``path`` atomically (a temporary file, then a rename) and close it; tick labels
    that would overlap are thinned first (:func:`_thin_labels`)."""
    from ..report.plots import DPI

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # unique: two writers never
    os.close(fd)                                                                             # share a temporary file
    tmp = Path(name)
    try:
        _tight(fig)
        _thin_labels(fig)
        fig.savefig(tmp, dpi=DPI, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def _panels(plt, n: int, width: float = 5.0, height: float = 3.8):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axs for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _ticks(n: int) -> list[int]:
    """Which of ``n`` positions get a tick label: all up to :data:`MAX_TICKS`, else every ``ceil(n / MAX_TICKS)``-th
    from the first (201 values: every 17th, 12 labels), so labels never overlap into a black band."""
    return list(range(0, n, max(1, math.ceil(n / MAX_TICKS))))


def _set_ticks(axis, values: Sequence[Any], rotate: bool = False) -> None:
    """Ticks at 0, 1, ... for ``values`` on ``axis`` (an x or y axis), labelled as :func:`_ticks` picks."""
    at = _ticks(len(values))
    axis.set_ticks(at, [str(values[i]) for i in at], rotation=45 if rotate and len(at) > 6 else 0)


class _Unit:
    """One axis of a lines plot or heatmap: a grid axis, a zip group's keys that vary (in lock step: one axis, as
    validation counts it), or several such taken together (the panels of the workloads). ``codes``: an int per
    record into ``values`` (a value, or a tuple of the keys' values); ``order``: the codes in drawing order."""

    def __init__(self, cols: SweepColumns, keys: Sequence[str], names: Mapping[str, str]):
        import numpy as np

        self.keys = list(keys)
        self.label = "/".join(names[k] for k in self.keys)
        self.workload = any(workload_axis(k) for k in self.keys)
        if len(self.keys) == 1:
            key = self.keys[0]
            self.codes, self.values = cols.codes(key), list(cols.values[key])
            self.positions, self.formatter = quantities(self.values)
        else:
            dims = tuple(len(cols.values[k]) for k in self.keys)
            flat = np.ravel_multi_index(tuple(cols.codes(k) for k in self.keys), dims)
            _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
            seen = np.argsort(first, kind="stable")  # codes numbered in order of first appearance
            rank = np.empty_like(seen)
            rank[seen] = np.arange(len(seen))
            self.codes = rank[inverse.reshape(-1)].astype(np.int32)
            self.values = [tuple(cols.values[k][int(cols.codes(k)[first[g]])] for k in self.keys) for g in seen]
            self.positions, self.formatter = None, None
        # numbers and quantities (``34GB/s``, ``64KiB``: :func:`quantities`) in order of value, placed at it;
        # categories in written order at 0, 1, ...
        self.numeric = self.positions is not None
        self.order = sorted(range(len(self.values)), key=self.positions.__getitem__) if self.positions else \
            list(range(len(self.values)))
        self._names = names

    def at(self, code: int) -> float:
        """Where a numeric unit's value lies on its axis (its number: ``34GB/s`` at 3.4e10)."""
        return self.positions[code]  # type: ignore[index]

    def text(self, code: int) -> str:
        """A value as a tick shows it: ``128/128`` for a zip group's."""
        v = self.values[code]
        return "/".join(str(x) for x in v) if isinstance(v, tuple) else str(v)

    def title(self, code: int) -> str:
        """A value as a panel's title or a legend entry shows it: ``m=128, k=128``."""
        v = self.values[code]
        return ", ".join(f"{self._names[k]}={x}" for k, x in zip(self.keys, v if isinstance(v, tuple) else (v,),
                                                                     strict=True))


def _units(cols: SweepColumns, zips: Sequence[Sequence[str]], names: Mapping[str, str]) -> list[_Unit]:
    """The varying axes as figure axes (:class:`_Unit`), in axis order; a zip group's varying keys are one, where
    its first varying key is."""
    varying = cols.varying()
    group = {k: [g for g in keys if g in varying] for keys in zips for k in keys}
    units, taken = [], set()
    for a in varying:
        if a not in taken:
            keys = group.get(a, [a])
            taken.update(keys)
            units.append(_Unit(cols, keys, names))
    return units


def _layout(cols: SweepColumns, units: list[_Unit], used: int,
            names: Mapping[str, str]) -> tuple[_Unit | None, list[int], list[_Unit], int]:
    """The panel axis after the ``used`` units, the codes of its panels drawn, the units folded into "best
    over", and how many panels there would be. Work is never folded: when a unit after the ``used`` ones changes
    the workload, the panels are the workloads (every combination of those units' values found, up to
    :data:`MAX_WORKLOAD_PANELS` drawn) and only the others are folded. Else the next unit is the panel axis if it
    has at most :data:`MAX_PANELS` values, and the rest are folded."""
    rest = units[used:]
    work = [u for u in rest if u.workload]
    if work:
        panel = work[0] if len(work) == 1 else _Unit(cols, [k for u in work for k in u.keys], names)
        panel.workload = True
        return panel, panel.order[:MAX_WORKLOAD_PANELS], [u for u in rest if not u.workload], len(panel.values)
    if rest and len(rest[0].values) <= MAX_PANELS:
        return rest[0], rest[0].order, rest[1:], len(rest[0].values)
    return None, [-1], rest, 1


def _best(cols: SweepColumns, units: Sequence[_Unit], metric: str) -> dict[tuple[int, ...], float]:
    """The lowest ``metric`` for each combination of the codes of ``units`` (over every other axis)."""
    import numpy as np

    m = cols.metric(metric)
    has = ~np.isnan(m)
    dims = tuple(max(len(u.values), 1) for u in units)
    flat = np.ravel_multi_index(tuple(u.codes[has] for u in units), dims) if units else \
        np.zeros(int(has.sum()), np.intp)
    low = np.full(math.prod(dims), np.inf)
    np.minimum.at(low, flat, m[has])
    found = np.flatnonzero(np.isfinite(low))
    combos = np.unravel_index(found, dims)
    return {tuple(int(c[i]) for c in combos): float(low[f]) for i, f in enumerate(found)}


def _panel_note(drawn: int, total: int) -> str:
    return f"; the first {drawn} of {total} workloads" if drawn < total else ""


def _covers(metrics: Mapping[str, Any]) -> str:
    """What a point's latency covers where it is more than one pass: a serving run's prefill and decode steps (not
    its TTFT or TPOT, which are ``serving.ttft_s``, ``serving.tpot_s``), a pipeline's iteration; else ""."""
    serving, pipe = metrics.get("serving"), metrics.get("pipeline")
    if isinstance(serving, Mapping) and serving:
        steps = int(serving.get("decode_steps") or 0)
        return f"prefill + {steps} decode step{'s' if steps != 1 else ''}"
    if isinstance(pipe, Mapping) and pipe:
        return "one pipeline iteration"
    return ""


def _label(metric: str, covers: Sequence[str] = ()) -> str:
    """The axis label of ``metric``; the latency's says what it covers (``covers``: :attr:`SweepColumns.covers`,
    one phrase, or "prefill + decode steps" for serving runs of several step counts)."""
    if metric != LATENCY:
        return metric
    if not covers:
        return f"{metric} (latency)"
    what = covers[0] if len(covers) == 1 else \
        "prefill + decode steps" if all(c.startswith("prefill") for c in covers) else "whole run"
    return f"{metric} (latency: {what})"


def _text(metric: str, value: float) -> str:
    """A value of ``metric`` as a label shows it: a latency with its unit ("11.5 ms"), else a compact count."""
    return fmt.quantity(value, "s") if metric == LATENCY else fmt.si(value, sep="")


def _digits(value: float, step: float) -> int:
    """Significant digits that show ``value`` to the resolution of ``step`` (the spacing of its neighbours on an
    axis), at least 3: 156.2 µs and 156.4 µs, not 156 µs twice (probe p101 #6)."""
    if not (value and step and math.isfinite(value) and math.isfinite(step)):
        return 3
    return max(3, min(12, math.floor(math.log10(abs(value))) - math.floor(math.log10(abs(step))) + 1))


def _step(locs: Sequence[float]) -> float:
    """The smallest spacing of consecutive tick locations (0 for fewer than two)."""
    gaps = [abs(b - a) for a, b in zip(locs, locs[1:], strict=False) if b != a]
    return min(gaps) if gaps else 0.0


def _quantity_text(metric: str, value: float, digits: int) -> str:
    if metric == LATENCY:
        return fmt.quantity(value, "s", digits)
    if metric in (ENERGY, FALLBACK[ENERGY]):
        return fmt.quantity(value, "J", digits)
    return fmt.si(value, digits, sep="")


def _formatters(axis, metric: str) -> None:
    """Tick labels of ``metric`` on ``axis`` (an x or y axis, or a colorbar's) in the project's units
    (:func:`accelsim.report.fmt.quantity`: "156.2 µs", "112 µJ"), each with the digits its ticks' spacing needs
    (:func:`_digits`). A log axis labels its minor ticks at 2 and 5 times a power of ten only when at most one
    major tick (a power of ten) is in view, else none: matplotlib's own minor labels are raw ("6×10⁻⁵") and crowd
    each other (probe p101 #6)."""
    def major(value, _pos=None):
        return _quantity_text(metric, value, _digits(value, _step(list(axis.get_majorticklocs()))))

    def minor(value, _pos=None):
        lo, hi = sorted(axis.get_view_interval())
        if axis.get_scale() != "log" or not (lo > 0 and value > 0):
            return ""
        decades = math.floor(math.log10(hi)) - math.ceil(math.log10(lo)) + 1  # powers of ten in view
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        return _quantity_text(metric, value, 3) if decades <= 1 and round(mantissa, 6) in (2.0, 5.0) else ""

    axis.set_major_formatter(major)
    axis.set_minor_formatter(minor)


def _title(spec_name: str, what: str, folded: Sequence[_Unit], note: str = "") -> str:
    best = f" (best over {', '.join(u.label for u in folded)}{note})" if folded else f" ({note[2:]})" if note else ""
    return f"{spec_name}: {what}{best}"


def plot_lines(records, axes: Sequence[str], path: Path, *, name: str = "sweep", metric: str = METRIC,
               zips: Sequence[Sequence[str]] = ()) -> Path | None:
    """``metric`` against the first varying axis, a line per value of the second, panels as :func:`_layout` says
    (never the best over other work); None if nothing varies. ``records``: results records or their
    :class:`SweepColumns`; ``zips``: the sweep's zip groups (their keys), each one axis."""
    ok = SweepColumns.of(records, axes)
    names = short_names(list(axes))
    units = _units(ok, zips, names)
    if not units:
        return None
    x, series = units[0], (units[1] if len(units) > 1 else None)
    panel, panel_codes, folded, panels = _layout(ok, units, 2, names)
    used = [u for u in (x, series, panel) if u is not None]
    best = _best(ok, used, metric)
    numeric = x.numeric
    xs = [x.at(c) for c in x.order] if numeric else []
    series_codes = series.order if series else [-1]
    plt = _pyplot()
    fig, axs = _panels(plt, len(panel_codes))
    # more series than the legend takes: each line a colour of a colormap, in the series' order, and a colorbar
    shaded = plt.get_cmap("viridis") if len(series_codes) > MAX_LEGEND else None
    for ax, pc in zip(axs, panel_codes, strict=True):
        drawn: list[float] = []
        for n, sc in enumerate(series_codes):
            pts = []
            for i, xc in enumerate(x.order):
                k = tuple(c for c, u in ((xc, x), (sc, series), (pc, panel)) if u is not None)
                if k in best:
                    pts.append((x.at(xc) if numeric else i, best[k]))
            drawn += [p[1] for p in pts]
            if pts:
                label = series.title(sc) if series else None
                style = {"label": label} if shaded is None else \
                    {"color": shaded(n / (len(series_codes) - 1)), "markersize": 3, "linewidth": 1}
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", **style)
        if numeric and min(xs) > 0 and max(xs) / min(xs) >= 8:
            ax.set_xscale("log", base=2)
        if drawn and min(drawn) > 0 and max(drawn) / min(drawn) >= LOG_METRIC_SPAN:
            ax.set_yscale("log")  # a metric over decades (a collective from 64 KiB to 1 GiB): small points not flat at 0
        if numeric and len(xs) <= MAX_ANNOTATED:  # each value at its place, as written (34GB/s, 64KiB)
            ax.set_xticks(xs, [x.text(c) for c in x.order])
            ax.minorticks_off()
            THIN.add(ax)  # values close on a log axis (34GB/s, 68GB/s) may meet: _save thins them (_thin_labels)
        elif numeric and x.formatter is not None:  # many values: matplotlib's ticks, in the values' unit
            ax.xaxis.set_major_formatter(lambda v, _pos, text=x.formatter: text(v) if v > 0 else str(v))
        if not numeric:
            _set_ticks(ax.xaxis, [x.text(c) for c in x.order], rotate=True)
        ax.set_xlabel(x.label)
        ax.set_ylabel(_label(metric, list(ok.covers)))
        _formatters(ax.yaxis, metric)
        ax.grid(True, alpha=0.3)
        if panel is not None:
            ax.set_title(panel.title(pc), fontsize=10)
        if shaded is not None:
            bar = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(0, len(series_codes) - 1), shaded), ax=ax,
                               label=series.label)  # type: ignore[union-attr]
            _set_ticks(bar.ax.yaxis, [series.text(c) for c in series_codes])  # type: ignore[union-attr]
        elif series is not None:
            ax.legend(fontsize=8)
    note = _panel_note(len(panel_codes), panels)
    fig.suptitle(_title(name, f"{metric} vs {x.label}", folded, note), fontsize=11)
    return _save(plt, fig, path)


def plot_heatmap(records, axes: Sequence[str], path: Path, *, name: str = "sweep",
                 metric: str = METRIC, zips: Sequence[Sequence[str]] = ()) -> Path | None:
    """``metric`` over the first two varying axes (rows: the first, columns: the second; a zip group is one),
    panels as :func:`_layout` says; None if fewer vary."""
    ok = SweepColumns.of(records, axes)
    names = short_names(list(axes))
    units = _units(ok, zips, names)
    if len(units) < 2:
        return None
    import numpy as np

    row, col = units[0], units[1]
    panel, panel_codes, folded, panels = _layout(ok, units, 2, names)
    best = _best(ok, [u for u in (row, col, panel) if u is not None], metric)
    plt = _pyplot()
    fig, axs = _panels(plt, len(panel_codes), width=5.5, height=4.5)
    for ax, pc in zip(axs, panel_codes, strict=True):
        grid = np.full((len(row.order), len(col.order)), np.nan)
        for i, rc in enumerate(row.order):
            for j, cc in enumerate(col.order):
                grid[i, j] = best.get((rc, cc, pc) if panel is not None else (rc, cc), np.nan)
        norm = _norm(plt, grid)
        # one flat cell per point ("nearest"): matplotlib's default smooths cells under ~3 pixels (a Hanning
        # filter), blending neighbours and painting over cells that have no point
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis_r", norm=norm, interpolation="nearest")
        _set_ticks(ax.xaxis, [col.text(c) for c in col.order], rotate=True)
        _set_ticks(ax.yaxis, [row.text(c) for c in row.order])
        ax.set_xlabel(col.label)
        ax.set_ylabel(row.label)
        if len(row.order) <= MAX_ANNOTATED and len(col.order) <= MAX_ANNOTATED:
            for i in range(len(row.order)):
                for j in range(len(col.order)):
                    if not np.isnan(grid[i, j]):
                        dark = float(norm(grid[i, j])) > 0.5
                        ax.text(j, i, _text(metric, grid[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
        if panel is not None:
            ax.set_title(panel.title(pc), fontsize=10)
        bar = fig.colorbar(im, ax=ax, label=_label(metric, list(ok.covers)))
        _formatters(bar.ax.yaxis, metric)
    note = _panel_note(len(panel_codes), panels)
    fig.suptitle(_title(name, f"{metric} (lower is better)", folded, note), fontsize=11)
    return _save(plt, fig, path)


def _norm(plt, grid):
    """A heatmap panel's colour scale, of its own cells only (panels are other work or other folds, never
    compared by colour): logarithmic when they span :data:`LOG_METRIC_SPAN` or more (24.8 µs to 8.1 ms: on a
    linear scale every cell below 190 µs is one colour), else linear from its lowest to its highest cell
    (probe p101 #4)."""
    import numpy as np

    finite = grid[np.isfinite(grid)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo > 0 and hi / lo >= LOG_METRIC_SPAN:
        return plt.matplotlib.colors.LogNorm(lo, hi)
    if hi == lo:
        lo, hi = lo - (abs(lo) or 1.0) * 0.5, hi + (abs(hi) or 1.0) * 0.5
    return plt.Normalize(lo, hi)


def pareto_front_nd(points) -> list[int]:
    """Indices of the points no other point dominates, all coordinates minimised, in the order given. A point
    dominates another when it is no worse in every coordinate and strictly better in at least one (Deb 2001,
    *Multi-Objective Optimization using Evolutionary Algorithms*, Def. 2.5), so equal points do not dominate each
    other: every copy of a non-dominated tuple is on the front, whatever the order of ``points``. ``points``: an
    (n, d) array or a list of d-tuples.

    Sort-based, O(n log n) for d <= 3: the points are sorted on all coordinates (first, then the others) and equal
    points grouped, so the front is found among the distinct tuples, where only an earlier tuple can dominate a
    later one, and every copy of a kept tuple is kept. d = 2: a tuple is on the front iff its second coordinate is
    below every earlier one's (a running minimum). d = 3: a skyline of the front so far projected on the last two
    coordinates (a staircase, ascending in one, descending in the other) is searched by bisection: a tuple is
    dominated iff the staircase step at or below its second coordinate has a third coordinate at most its own.
    d > 3: each tuple is checked against the front so far (O(n x front))."""
    import numpy as np

    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return []
    n, d = pts.shape
    order = np.lexsort(tuple(pts[:, k] for k in reversed(range(d))))  # stable: equal tuples in given order
    s = pts[order]
    starts = np.flatnonzero(np.concatenate(([True], np.any(s[1:] != s[:-1], axis=1))))  # each distinct tuple
    u = s[starts]
    if d == 1:
        keep = np.zeros(len(u), bool)
        keep[0] = True
    elif d == 2:
        before = np.concatenate(([np.inf], np.minimum.accumulate(u[:-1, 1])))
        keep = u[:, 1] < before
    elif d == 3:
        keep = _skyline3(u[:, 1].tolist(), u[:, 2].tolist())
    else:
        keep = np.zeros(len(u), bool)
        front: list[int] = []
        for i in range(len(u)):
            if not front or not np.any(np.all(u[front] <= u[i], axis=1)):
                front.append(i)
        keep[front] = True
    copies = np.diff(np.append(starts, n))
    return sorted(order[np.repeat(keep, copies)].tolist())


def _skyline3(ys: list[float], zs: list[float]):
    """Which of the distinct points (x sorted ascending, ties by y then z, given as their y and z) no earlier point
    dominates (see :func:`pareto_front_nd`)."""
    import bisect

    import numpy as np

    keep = np.zeros(len(ys), bool)
    sy: list[float] = []  # the staircase: y ascending, z strictly descending
    sz: list[float] = []
    for i, (y, z) in enumerate(zip(ys, zs, strict=True)):
        k = bisect.bisect_right(sy, y) - 1
        if k >= 0 and sz[k] <= z:
            continue
        keep[i] = True
        lo = bisect.bisect_left(sy, y)
        hi = lo
        while hi < len(sy) and sz[hi] >= z:
            hi += 1
        sy[lo:hi], sz[lo:hi] = [y], [z]
    return keep


def scatter_sample(n: int, must: Sequence[int] = (), limit: int | None = None):
    """The indices of ``n`` points a scatter draws: all of them up to ``limit`` (:data:`MAX_SCATTER`); above it
    every ``ceil(n / limit)``-th point in sweep order (0, k, 2k, ...), plus the points in ``must`` (the Pareto
    front), sorted. Deterministic, so the figure does not change between redraws."""
    import numpy as np

    limit = MAX_SCATTER if limit is None else limit
    if n <= limit:
        return np.arange(n)
    return np.union1d(np.arange(0, n, math.ceil(n / limit)), np.asarray(must, dtype=np.int64))


def workload_axis(key: str) -> bool:
    """Whether a sweep axis is a workload setting (``workload`` itself, or a ``workload.`` key): the lines plot and
    heatmap never fold it (a panel each). Whether two points run the same work on the Pareto front is decided by
    :func:`work_of`, not by the key: a fused and an unfused run, or TP 1 and TP 8, are the same work."""
    return key == "workload" or key.startswith("workload.")


SPLIT_KEYS = ("tensor_parallel", "context_parallel")
"""The workload settings whose chips each hold 1/N of the model's ``macs`` in report.json (docs/architecture.md:
a tensor-parallel chip's share; "under context parallelism one chip's 1/C of the unsplit model's"), so that the
model's MACs of a point are its ``macs`` × these (:func:`work_of`)."""


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def work_of(point: Mapping[str, Any], metrics: Mapping[str, Any], axes: Sequence[str]) -> tuple:
    """What a point's work is, for the Pareto front (docs/sweeps.md "pareto"): points with equal tuples are
    compared. With no workload axis, () (every point runs the base's work). Else the model's MACs of the run
    (report.json's ``macs``, per chip under tensor and context parallelism, so × :data:`SPLIT_KEYS`' values taken
    from the point), its parameter count (``params``: a GEMM of m × k × n and one of n × k × m have the MACs but
    not the weights) and the values of its ``*dtype`` axes (a lower precision is other work, and would always win).
    A training step's ``model_flops`` stand in for its MACs (recomputed forwards left out; an op every
    tensor-parallel chip runs whole counted once over them). The attention kernel, the chips the model is split
    over, recompute, sequence parallelism and such leave these equal: the same work, on one front (but for an
    inference run over tensor-parallel chips that each run an op whole, GPT-2's head: its per-chip MACs × T count
    the head T times, so those points are other work). A workload without MACs (softmax, norms, embedding look-ups,
    a collective, whose bytes are its work) and a record without ``macs`` (written by hand, or by an older version)
    fall back to the values of every workload axis: other values, other work (probe p232 #1: every collective of the
    NCCL sweep, 64 KiB to 1 GiB, was one workload; probe p233 #4: keyed by FLOPs, a 1024 x 4096 and a 4096 x 1024
    softmax were one)."""
    keys = [a for a in axes if workload_axis(a)]
    if not keys:
        return ()
    macs, params = metrics.get("macs"), metrics.get("params")
    if not (_is_number(macs) and _is_number(params)) or macs == 0:
        return ("axes", *(_key(point.get(a)) for a in keys))
    # a training step's model FLOPs leave out recomputed forwards and count an op every tensor-parallel chip runs
    # whole once over them (probe p225 #1: recompute none / full, 1.75e12 / 2.18e12 MACs, were other work)
    flops = metrics.get("model_flops")
    scale = 1
    for a in keys:
        if a.rsplit(".", 1)[-1] in SPLIT_KEYS and _positive_int(point.get(a)):
            scale *= point[a]
    total = (flops if _is_number(flops) else macs) * scale
    return ("work", int(total) if float(total).is_integer() else total, params,
            *(_key(point.get(a)) for a in keys if a.endswith("dtype")))


def front_mask(values, groups):
    """Which points are on their workload's Pareto front (a bool array): ``values`` an (n, d) array (a row with a
    NaN is on none), ``groups`` each point's workload number (-1: none). Each workload's points are ranked alone
    (:func:`pareto_front_nd`: equal points are all on the front or all off, whatever their order); a workload of one point is its own front. results.csv's ``pareto``
    column, which marks the points :func:`plot_pareto` rings."""
    import numpy as np

    values, groups = np.asarray(values, dtype=np.float64), np.asarray(groups)
    on = np.zeros(len(groups), bool)
    rows = np.flatnonzero((groups >= 0) & ~np.isnan(values).any(axis=1)) if len(groups) else np.zeros(0, np.intp)
    if not len(rows):
        return on
    order = rows[np.argsort(groups[rows], kind="stable")]  # each workload's rows together, in sweep order
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, cuts):
        on[members[pareto_front_nd(values[members])]] = True
    return on


def pareto_groups(cols: SweepColumns, rows) -> list:
    """``rows`` (indices into ``cols``) split by work (:func:`work_of`): index arrays in order of each group's first
    row; one group when no workload axis varies."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.intp)
    if not any(workload_axis(a) for a in cols.varying()) or not len(rows):
        return [rows]
    _, first, inverse = np.unique(cols.works()[rows], return_index=True, return_inverse=True)
    return [rows[inverse.reshape(-1) == g] for g in np.argsort(first, kind="stable")]


def pareto_left_off(cols: SweepColumns, *, metric: str = LATENCY, area: str = AREA, energy: str = ENERGY) -> int:
    """How many ok points with a ``metric`` (latency) have no ``energy`` or no ``area``, which the Pareto plot leaves
    off: points whose arch has no ``energy`` block (multicore-4, a SCALE-Sim cfg's; docs/energy.md)."""
    import numpy as np

    y = cols.metric(metric)
    return int(np.count_nonzero(~np.isnan(y) & (np.isnan(cols.metric(area)) | np.isnan(cols.metric(energy)))))


def left_off_text(n: int) -> str:
    """The note that ``n`` points without energy or area are not on the Pareto plot."""
    return f"{n} point{'s' if n != 1 else ''} without energy or area (an arch with no energy block) left off"


def no_front_text(cols: SweepColumns) -> str:
    """Why a sweep of 2 or more ok points has no Pareto plot: no two points with latency, area and energy run the
    same work (:func:`work_of`), or fewer than two have all three."""
    import numpy as np

    x, y, e = cols.metric(AREA), cols.metric(LATENCY), cols.metric(ENERGY)
    rows = np.flatnonzero(~(np.isnan(x) | np.isnan(y) | np.isnan(e)))
    if len(rows) < 2:
        return f"{len(rows)} point{'s' if len(rows) != 1 else ''} with latency, area and energy (an arch with no " \
               "energy block has none)"
    return f"no two of its {len(rows)} points run the same work (model MACs and parameters), so none is compared"


def plot_pareto(records, axes: Sequence[str], path: Path, *, name: str = "sweep", metric: str = LATENCY,
                area: str = AREA, energy: str = ENERGY) -> Path | None:
    """``metric`` (latency) against ``area`` for every ok point, coloured by ``energy`` (the whole system's: every
    chip of the arch), the Pareto front over the three highlighted. Points of different workloads
    (:func:`pareto_groups`) are not compared: each workload of at least 2 points gets its own front, in a panel of
    its own (up to :data:`MAX_PANELS` of them; beyond, one panel rings every workload's front and labels none); a
    workload of one point is left out. None when no workload has 2 points with all three metrics. Above
    :data:`MAX_SCATTER` points in a panel a sample is drawn (:func:`scatter_sample`; the front is computed on every
    point and always drawn)."""
    import numpy as np

    cols = SweepColumns.of(records, axes)
    x, y, e = cols.metric(area), cols.metric(metric), cols.metric(energy)
    rows = np.flatnonzero(~(np.isnan(x) | np.isnan(y) | np.isnan(e)))
    left = pareto_left_off(cols, metric=metric, area=area, energy=energy)
    groups = [g for g in pareto_groups(cols, rows) if len(g) >= 2]
    if not groups:
        return None
    pts = np.column_stack((x, y, e))
    fronts = [g[pareto_front_nd(pts[g])] for g in groups]
    varying = cols.varying()
    # the axes one value of which each front's points share (its work's: its title), and the others (its labels)
    keys = [a for a in varying if workload_axis(a) and all(len(set(cols.codes(a)[g].tolist())) == 1 for g in groups)]
    own = [a for a in varying if a not in keys]  # what tells a workload's points apart
    panels = list(zip(groups, fronts, strict=True)) if len(groups) <= MAX_PANELS else \
        [(np.sort(np.concatenate(groups)), np.sort(np.concatenate(fronts)))]
    many = len(panels) < len(groups)  # one panel for every workload's front
    plt = _pyplot()
    one = len(panels) == 1
    fig, axs = _panels(plt, len(panels), width=7.5 if one else 6.0, height=5.2 if one else 4.6)
    labels = []
    for ax, (members, front) in zip(axs, panels, strict=True):  # members and front: sorted indices
        shown = members[scatter_sample(len(members), np.searchsorted(members, front))]
        label = "points" if len(shown) == len(members) else \
            f"points (1 in {math.ceil(len(members) / MAX_SCATTER)} of {len(members):,}, and the front)"
        dots = ax.scatter(x[shown], y[shown], s=18 if len(shown) <= MAX_SCATTER // 10 else 4, c=e[shown],
                          cmap="viridis", label=label)
        joules = energy in (ENERGY, FALLBACK[ENERGY])  # its ticks carry their unit ("260 µJ", "1.6 mJ"): no
        # "(J)" in the title beside them (probe p118 #6: "system_energy_j (J)" over ticks in µJ and mJ)
        bar = fig.colorbar(dots, ax=ax, label=energy if joules else f"{energy} (J)")
        _formatters(bar.ax.yaxis, ENERGY if joules else energy)
        ax.scatter(x[front], y[front], s=60, facecolors="none", edgecolors="#C44E52", linewidths=1.4,
                   label=f"Pareto fronts, one per workload ({len(front)})" if many else
                   f"Pareto front ({len(front)})", zorder=3)
        xs, ys = x[members], y[members]
        if xs.min() > 0 and xs.max() / xs.min() >= 10:
            ax.set_xscale("log")
        if ys.min() > 0 and ys.max() / ys.min() >= 10:
            ax.set_yscale("log")
        ax.set_xlabel(f"{area} (mm², every chip)")
        ax.set_ylabel(_label(metric, list(cols.covers)))
        _formatters(ax.yaxis, metric)
        _formatters(ax.xaxis, area)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        workload = "" if many or not keys else \
            describe({a: cols.values[a][int(cols.codes(a)[members[0]])] for a in keys})
        if not one:
            ax.set_title(workload, fontsize=10)
        if len(front) <= MAX_LABELLED_FRONT and own and not many:
            labels.append((ax, [(x[i], y[i], describe({a: cols.values[a][int(cols.codes(a)[i])] for a in own}))
                                for i in front]))
    what = f"{name}: latency vs energy vs area"
    if len(groups) > 1:
        what += f", a Pareto front per workload ({len(groups)})"
    if left:
        what += f"\n{left_off_text(left)}"
    if one:
        axs[0].set_title(f"{what} ({workload})" if workload else what, fontsize=11)
    else:
        fig.suptitle(what, fontsize=11)
    if labels:
        _tight(fig)  # the axes' final place, which the labels are fitted into
        for ax, items in labels:
            _label_inside(ax, fig, items)
    return _save(plt, fig, path)


LABEL_PLACES = ((4, 4, "left", "bottom"), (4, -4, "left", "top"), (-4, 4, "right", "bottom"),
                (-4, -4, "right", "top"))  # a label's offset (points) from its point and its alignment, in order tried
LABEL_REACH = (1, 3, 5, 8, 12, 17, 23, 30)  # the offsets tried, as multiples of LABEL_PLACES' (farther: a leader line)
LABEL_SIDES = ((0, 1, "center", "bottom"), (0, -1, "center", "top"), (1, 0, "left", "center_baseline"),
               (-1, 0, "right", "center_baseline"))  # straight above, below, right, left: tried after the corners


def _label_places():
    """Every place a label is tried, nearest first: the corners of :data:`LABEL_PLACES`, then at each further
    reach of :data:`LABEL_REACH` the corners and the sides (:data:`LABEL_SIDES`)."""
    yield from LABEL_PLACES
    for reach in LABEL_REACH[1:]:
        for dx, dy, ha, va in LABEL_PLACES:
            yield dx * reach, dy * reach, ha, va
        for sx, sy, ha, va in LABEL_SIDES:
            yield 4 * reach * sx, 4 * reach * sy, ha, va


def _label_inside(ax, fig, labels: Sequence[tuple[float, float, str]]) -> int:
    """Annotate each (x, y, text) at the first place of :func:`_label_places` around its point where the text lies
    inside the axes (not under the colorbar or the title) and clear of the labels placed before it; a label
    placed away from the corners next to its point gets a leader line to it. A label with no such place is left
    off (never drawn over another: probe p101 #5); returns how many were, which the caller notes in the axes."""
    bbox = _pyplot().matplotlib.transforms.Bbox
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    r = 4 * fig.dpi / 72  # a ringed point's radius (s=60: some 8 points across) in pixels
    placed: list = [bbox.from_extents(px - r, py - r, px + r, py + r)  # the points themselves stay uncovered
                    for px, py in ax.transData.transform([(x, y) for x, y, _ in labels])]
    left = 0
    for x, y, text in labels:
        for n, (dx, dy, ha, va) in enumerate(_label_places()):
            note = ax.annotate(text, (x, y), fontsize=7, textcoords="offset points", xytext=(dx, dy), ha=ha, va=va)
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                placed.append(box)
                if n >= len(LABEL_PLACES):
                    note.remove()
                    ax.annotate(text, (x, y), fontsize=7, textcoords="offset points", xytext=(dx, dy), ha=ha,
                                va=va, arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.6,
                                                   "shrinkA": 0, "shrinkB": 3})
                break
            note.remove()
        else:
            left += 1
    if left:
        ax.text(0.99, 0.01, f"{left} label{'s' if left != 1 else ''} left off: no clear place", fontsize=7,
                ha="right", va="bottom", transform=ax.transAxes, color="0.4")
    return left


def plot_sweep_records(records, axes: Sequence[str], outdir: str | os.PathLike, *,
                       name: str = "sweep", warn=None, zips: Sequence[Sequence[str]] = ()) -> list[Path]:
    """Draw every figure the axes support into ``outdir``; returns the paths written. ``records``: results
    records or their :class:`SweepColumns` (what the end of a sweep passes, gathered while results.csv streams).
    ``warn(text)`` hears that a drawn Pareto plot left points off (:func:`pareto_left_off`), as its title says.
    ``zips``: the sweep's zip groups (lists of keys; sweep.json's ``zip``), each one axis of the lines and heatmap."""
    records = SweepColumns.of(records, axes)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for draw, file in ((plot_lines, LINES_FILE), (plot_heatmap, HEATMAP_FILE), (plot_pareto, PARETO_FILE)):
        path = draw(records, axes, outdir / file, name=name, **({"zips": zips} if draw is not plot_pareto else {}))
        if path is not None:
            written.append(path)
            left = pareto_left_off(records) if file == PARETO_FILE and warn is not None else 0
            if left:
                warn(f"{path}: {left_off_text(left)}")
        else:
            if file == PARETO_FILE and warn is not None and len(records) >= 2:
                warn(f"{outdir / file} not drawn: {no_front_text(records)}")
            if (outdir / file).exists():  # drawn by an earlier run whose axes allowed it: no longer true
                (outdir / file).unlink()
    return written


__all__ = ["HEATMAP_FILE", "LINES_FILE", "MAX_SCATTER", "MAX_WORKLOAD_PANELS", "PARETO_FILE", "SweepColumns", "front_mask",
           "left_off_text", "no_front_text", "work_of", "pareto_front_nd", "pareto_left_off", "plot_heatmap", "plot_lines", "plot_pareto",
           "plot_sweep_records", "scatter_sample", "varying_axes", "workload_axis"]
