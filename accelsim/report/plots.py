"""Figures of one report: cycles per op, unit utilization, bytes per memory level, and the roofline.

Each figure is drawn from the plain report dict (the content of ``report.json``), so ``accelsim plot OUTDIR`` can
redraw them from a saved run. matplotlib is imported inside the functions that draw, with the Agg backend, so
importing this module costs nothing and plotting needs no display. Each plot function writes to a path or to a
binary file object (PNG), so the HTML report can draw them in memory.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import fmt
from .schema import (
    chips_covered,
    core_units,
    group_units,
    interconnect_units,
    memory_levels,
    op_part,
    op_span,
    op_stall_per_unit,
    ordered,
    run_covers,
    top_ops,
    transfer_units,
)

DPI = 120
MAX_OP_BARS = 60  # above this many ops, op_cycles shows the TOP_OPS busiest ops and one "other" bar
TOP_OPS = 40
NAME_WIDTH = 64  # characters of an op bar's label: a Megatron GPT's "…layers.1.self_attention.query_key_value.grad_input
# (stage 0)" whole to its layer number (the part that tells two bars apart); the figure grows to hold it

_COMPUTE_COLOR = "#4C72B0"
_STALL_COLORS = ("#DD8452", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
_WAIT_COLOR = "#D9D9D9"
_MEMORY_COLOR = "#55A868"
_LINK_COLOR = "#8172B3"  # between chips: the interconnect and a NIC (schema.interconnect_units)
_MAC_COLOR = "#C44E52"
_HOST_COLOR = "#937860"  # the host CPU issuing kernels (``launch``), as report.html's utilization table names it
HOST_CPU_LABEL = "host CPU (kernel launches)"


def attainable(ai, peak: float, bw: float):
    """Attainable FLOP/s at arithmetic intensity ``ai`` (FLOP/byte): ``min(peak, ai * bw)`` (the roofline).

    ``peak`` is in FLOP/s and ``bw`` in bytes/s (``inf`` for a memory that never limits). Takes a number or an
    array and returns the same kind.
    """
    a = np.asarray(ai, dtype=float)
    with np.errstate(invalid="ignore"):
        mem = np.where(a > 0, a * bw, 0.0) if math.isinf(bw) else a * bw
    out = np.minimum(peak, mem)
    return float(out) if out.ndim == 0 else out


def pyplot():
    """matplotlib.pyplot on the Agg backend (left alone if the caller already imported pyplot with another)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(report: dict, what: str, each: str = "") -> str:
    """The figure's title: the run's name and what the figure shows; for a composed run a second line says what
    the run covers (:func:`~accelsim.report.schema.run_covers`) and ``each``, what one bar of it is."""
    name = report.get("name")
    title = f"{name}: {what}" if name else what
    covers = run_covers(report)
    return f"{title}\n{covers}{'; ' + each if each else ''}" if covers else title


def _title_pt(report: dict) -> float:
    """The height the title of :func:`_title` takes above the axes (points): one 12 pt line more for a composed
    run's second line."""
    return _TITLE + (12 * _LINE if run_covers(report) else 0.0)


def _target(path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Where a figure goes: a :class:`Path`, or a writable binary file object (``io.BytesIO``) as given."""
    return path if hasattr(path, "write") else Path(path)


def _save(plt, fig, path: Path | BinaryIO) -> Path | BinaryIO:
    """Save ``fig`` to ``path`` (format from the suffix; PNG into a file object) and close it.

    The figure is already laid out (:func:`_margins`), so saving is its one draw: no tight_layout pass.
    """
    try:
        fig.savefig(path, dpi=DPI, **({} if isinstance(path, Path) else {"format": "png"}))
    finally:
        plt.close(fig)
    return path


_PT = 1 / 72  # inches per point
_LINE = 1.25  # line height, in font sizes
_TICK = 3.5 + 3.5  # tick length + pad (points; matplotlib's defaults)
_LABEL = 4.0 + 10 * _LINE  # axis-label pad + one line of a 10 pt label (points)
_TITLE = 6.0 + 12 * _LINE  # title pad + one line of a 12 pt title (points)
_KEY = 18.0  # one row of an 8 pt legend without a frame, and its pad (points)
_EDGE = 0.12  # blank border kept around the figure (inches)
_MIN_AXES = 3.0  # the least height of op_cycles' bars (inches), its legend's 4 rows and the y ticks beside them


def _text_size(text: str, size: float) -> tuple[float, float]:
    """(width, height) in inches of ``text`` (plain, one or more lines) in DejaVu-style ``size`` pt type."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=size)
    lines = str(text).split("\n") or [""]
    width = max(text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0] for line in lines)
    return width * _PT, len(lines) * size * _LINE * _PT


def _widest(texts, size: float) -> float:
    """The width in inches of the widest of ``texts`` at ``size`` pt (0 for none)."""
    return max((_text_size(t, size)[0] for t in texts), default=0.0)


def _tick_texts(axis) -> list[str]:
    """The major tick labels ``axis`` will draw within its view limits (formatted, no text layout)."""
    lo, hi = sorted(axis.get_view_interval())
    locs = [v for v in axis.get_majorticklocs() if lo - 1e-9 * abs(lo) <= v <= hi + 1e-9 * abs(hi)]
    return [t for t in axis.get_major_formatter().format_ticks(locs) if t]


BYTE_TICKS = 6  # about this many ticks on a linear axis of bytes


def binary_step(top: float, ticks: int = BYTE_TICKS) -> float:
    """A tick step for a linear axis of bytes from 0 to ``top``: a round number (1, 2, 2.5 or 5 × 10ⁿ) of the
    binary unit the axis reaches (B, KiB, MiB, GiB, ...), so that the ticks read "100MiB", "200MiB" (a decimal
    step of 15e6 bytes read "14.31MiB", "28.61MiB"); at least 1 byte."""
    if top <= 0:
        return 1.0
    unit = 1024.0 ** max(0, math.floor(math.log(top, 1024)))
    raw = top / unit / ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return max(step * unit, 1.0)


def _margins(fig, left: float, right: float, bottom: float, top: float, gap: float | None = None) -> None:
    """Lay ``fig``'s subplots out with these margins in inches (and ``gap`` inches between two columns)."""
    w, h = fig.get_size_inches()
    kw = {}
    if gap is not None:  # wspace is a fraction of the mean column width
        kw["wspace"] = gap / max(1e-3, (w - left - right - gap) / 2)
    fig.subplots_adjust(left=(left + _EDGE) / w, right=1 - (right + _EDGE) / w,
                        bottom=(bottom + _EDGE) / h, top=1 - (top + _EDGE) / h, **kw)


def _y_margin(ax, size: float = 10, label: bool = True) -> float:
    """The left margin in inches that ``ax``'s y tick labels (and its y label) take."""
    return _widest(_tick_texts(ax.yaxis), size) + _TICK * _PT + (_LABEL * _PT if label else 0.0)


def _minor_ticks(ax) -> None:
    """Draw a log axes' minor ticks as one marker line per axis instead of a Tick object each (~80 on a roofline).

    Same places (the axis' own minor locator), length and width as matplotlib's minor ticks; call after the limits
    are final."""
    from matplotlib import rcParams
    from matplotlib.markers import TICKDOWN, TICKLEFT
    from matplotlib.ticker import NullLocator

    for axis, marker, trans in ((ax.xaxis, TICKDOWN, ax.get_xaxis_transform()),
                                (ax.yaxis, TICKLEFT, ax.get_yaxis_transform())):
        lo, hi = sorted(axis.get_view_interval())
        major = set(np.round(np.log10(axis.get_majorticklocs()), 9))
        locs = [v for v in axis.get_minor_locator()() if lo <= v <= hi and round(math.log10(v), 9) not in major]
        axis.set_minor_locator(NullLocator())
        key = axis.axis_name + "tick.minor."
        xy = (locs, [0.0] * len(locs)) if axis is ax.xaxis else ([0.0] * len(locs), locs)
        ax.plot(*xy, ls="none", marker=marker, ms=rcParams[key + "size"], mew=rcParams[key + "width"],
                color=rcParams[axis.axis_name + "tick.color"], transform=trans, clip_on=False, zorder=2.5)


def _pow10(v: float, _pos=None) -> str:
    """A log-axis tick label as "10" with a Unicode superscript exponent (plain text: no mathtext parse)."""
    if v <= 0:
        return ""
    e = math.log10(v)
    if abs(e - round(e)) > 1e-6:
        return f"{v:.3g}"
    return "10" + str(round(e)).translate(str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3"
                                                                       "\u2074\u2075\u2076\u2077\u2078\u2079"))


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _short(name: object, width: int | None = None, suffix: str = "") -> str:
    """``name`` and ``suffix`` (a composed run's part: " (decode)") in ``width`` characters, the name cut by an
    ellipsis that keeps its end, which tells an op from its neighbours ("…layers.11.mlp"), as the console's
    tables cut it; the suffix is kept whole."""
    text = str(name)
    room = max((NAME_WIDTH if width is None else width) - len(suffix), 2)
    return (text if len(text) <= room else "\u2026" + text[len(text) - room + 1:]) + suffix


def _bars(ax, x, heights, bottom, color: str, label: str) -> None:
    """Bars 0.8 wide at ``x`` from ``bottom`` up by ``heights``, as one collection (what ``ax.bar`` draws, without
    a patch per bar: a 40-op figure has 120 of them)."""
    from matplotlib.collections import PolyCollection

    x0, x1, top = x - 0.4, x + 0.4, bottom + heights
    corners = np.stack([np.column_stack(c) for c in ((x0, bottom), (x0, top), (x1, top), (x1, bottom))], axis=1)
    bars = PolyCollection(corners, facecolors=color, edgecolors="none", linewidths=0, label=label)
    bars.sticky_edges.y.append(0.0)  # as ax.bar: no margin below zero
    ax.add_collection(bars)


def _stack(ax, ops: list[dict], levels: list[str], x) -> None:
    """Draw the stacked compute / stall-per-level / other-wait bars of ``ops`` at positions ``x``."""
    compute = np.array([fmt.num(op.get("compute_cycles")) for op in ops])
    per_unit = np.array([op_stall_per_unit(op) for op in ops])  # stalls of one unit in one execution, as compute
    stall_total = np.array([fmt.num(op.get("stall_cycles")) for op in ops]) * per_unit
    if len(levels) > 1:
        stalls = {f"stall: {lvl}": per_unit * np.array([fmt.num((op.get("stalls_by_level") or {}).get(lvl))
                                                        for op in ops]) for lvl in levels}
    else:
        stalls = {f"stall: {levels[0]}" if levels else "stall": stall_total}
    wait = np.maximum(0.0, np.array([op_span(op) for op in ops]) - compute - stall_total)
    bottom = np.zeros(len(ops))
    _bars(ax, x, compute, bottom, _COMPUTE_COLOR, "compute")
    bottom += compute
    for i, (label, values) in enumerate(stalls.items()):
        _bars(ax, x, values, bottom, _STALL_COLORS[i % len(_STALL_COLORS)], label)
        bottom += values
    if wait.any():
        _bars(ax, x, wait, bottom, _WAIT_COLOR, "other wait (end - start - compute - stall)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 5))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _sum_ops(ops: list[dict]) -> dict:
    """One op-like dict whose cycles are the sums of those of ``ops`` (the "other" bar), stalls per unit and
    execution (:func:`accelsim.report.schema.op_stall_per_unit`) as each op's bar draws them."""
    total: dict = {"start_cycle": 0, "end_cycle": 0, "compute_cycles": 0.0, "stall_cycles": 0.0,
                   "stalls_by_level": {}}
    for op in ops:
        per_unit = op_stall_per_unit(op)
        total["end_cycle"] += op_span(op)
        total["compute_cycles"] += fmt.num(op.get("compute_cycles"))
        total["stall_cycles"] += per_unit * fmt.num(op.get("stall_cycles"))
        for lvl, c in (op.get("stalls_by_level") or {}).items():
            total["stalls_by_level"][lvl] = total["stalls_by_level"].get(lvl, 0.0) + per_unit * fmt.num(c)
    return total


def op_bars(ops: list[dict]) -> tuple[list[dict], list[dict]]:
    """The ops op_cycles draws a bar each, and those it sums into the "other" bar: every op in execution order
    when there are at most ``MAX_OP_BARS``, else the ``TOP_OPS`` busiest (by their own busy cycles,
    :func:`accelsim.report.schema.op_busy_cycles`, not their span), busiest first, and the rest."""
    if len(ops) <= MAX_OP_BARS:
        return list(ops), []
    top = top_ops(ops, TOP_OPS)
    shown = set(top)
    return [ops[i] for i in top], [op for i, op in enumerate(ops) if i not in shown]


def plot_op_cycles(report: dict, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Stacked bars of each op's cycles: compute, then stall cycles per memory level, then other waiting, all
    counted for one unit in one execution as ``compute_cycles`` and the span are (an op's stalls are summed over
    its units and executions in the report: :func:`accelsim.report.schema.op_stall_per_unit`).

    Ops are in execution order; with more than ``MAX_OP_BARS`` ops, the ``TOP_OPS`` busiest ones (:func:`op_bars`)
    are shown busiest first, and the rest are summed in one "other" bar on its own axis at the right (it would
    flatten the others on a shared one).
    """
    plt = pyplot()
    path = _target(path)
    all_ops = list(report.get("ops") or [])
    levels = ordered([lvl for op in all_ops for lvl, c in (op.get("stalls_by_level") or {}).items() if c], report)
    ops, rest = op_bars(all_ops)

    width = min(24.0, max(8.0, 0.22 * len(ops) + 2.5 + (1.5 if rest else 0)))
    if rest:
        fig, (ax, ax_other) = plt.subplots(1, 2, figsize=(width, 5.5), gridspec_kw={"width_ratios": [len(ops), 3]})
    else:
        fig, ax = plt.subplots(figsize=(width, 5.5))
    fig.suptitle(_title(report, "cycles per op (compute vs stall)", "each bar one execution of its op"))
    if not ops:
        _empty(ax, "no ops in this report")
        _margins(fig, 0.2, 0.2, 0.2, _title_pt(report) * _PT)
        return _save(plt, fig, path)
    x = np.arange(len(ops))
    _stack(ax, ops, levels, x)
    names, size = [_short(op.get("name", "?"), suffix=op_part(op)) for op in ops], 8 if len(ops) <= 30 else 6
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=size)
    ax.set_xlim(-0.7, len(ops) - 0.3)
    ax.set_ylabel("cycles")
    ax.legend(loc="upper right", fontsize=8)
    under = _widest(names, size)  # the rotated labels hang below the axis by their length
    top = (_title_pt(report) + 10 * _LINE) * _PT  # suptitle, then room for the y axis' offset text ("1e5")
    gap = None
    if rest:
        ax.set_xlabel(f"op: the {len(ops)} busiest of {len(ops) + len(rest)} (by compute cycles), busiest first")
        _stack(ax_other, [_sum_ops(rest)], levels, np.array([0]))
        ax_other.set_xticks([0])
        other = f"other\n({len(rest)} ops)"
        ax_other.set_xticklabels([other], fontsize=8)
        ax_other.set_xlim(-0.8, 0.8)
        ax_other.set_title("summed", fontsize=9, y=1.0, pad=6 + 10 * _LINE)  # above the offset text ("1e5")
        under = max(under, _text_size(other, 8)[1])
        top = (_title_pt(report) + 6 + 10 * _LINE + 9 * _LINE) * _PT
        gap = _y_margin(ax_other, label=False) + 0.15
    else:
        ax.set_xlabel("op (execution order)")
    bottom = under + (_TICK + _LABEL) * _PT
    # long names (up to NAME_WIDTH characters) hang far below the axis: the figure grows so the bars keep their height
    fig.set_figheight(max(5.5, bottom + top + 2 * _EDGE + _MIN_AXES))
    _margins(fig, _y_margin(ax), 0.05, bottom, top, gap)
    return _save(plt, fig, path)


def _unit_bars(util: dict) -> list[tuple[str, float, float, float]]:
    """(label, value, min, max) per bar: one per kind of unit, as the console's and the HTML page's rows
    (:func:`~accelsim.report.schema.group_units`), a group's bar its mean with its range."""
    bars = []
    for k, values in group_units(util).items():
        vs = [fmt.num(v) for v in values]
        bars.append((f"{k} (mean of {len(vs)})" if len(vs) > 1 else k, float(np.mean(vs)), min(vs), max(vs)))
    return bars


def plot_utilization(report: dict, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Horizontal bars of the busy fraction (0-100 %) of every unit and memory level, and the MAC utilization."""
    plt = pyplot()
    path = _target(path)
    from .console import utilization_in_order

    bars = _unit_bars(utilization_in_order(report))  # compute, then the levels innermost first (probe p221 #4)
    memory, links = transfer_units(report), interconnect_units(report)
    mac = report.get("mac_utilization")
    n = len(bars) + (mac is not None)
    fig, ax = plt.subplots(figsize=(8.5, min(30.0, max(3.0, 0.32 * n + 1.6))))
    ax.set_title(_title(report, "utilization (busy fraction of the run)"), y=1.0, pad=6 + _KEY)
    if n == 0:
        _empty(ax, "no utilization figures in this report")
        _margins(fig, 0.2, 0.2, 0.2, (_title_pt(report) + _KEY) * _PT)
        return _save(plt, fig, path)
    labels, values, colors, lo, hi = [], [], [], [], []
    if mac is not None:
        labels.append("MAC utilization (of peak)")
        values.append(100 * fmt.num(mac))
        colors.append(_MAC_COLOR)
        lo.append(0.0)
        hi.append(0.0)
    hosts = set()  # units outside the cores, levels and links: the host CPU issuing kernels (``launch``), not a
    # compute unit (probe p221 #4: its 99.9 % bar in the compute colour beside a MAC utilization of 0.2 %)
    for label, v, vmin, vmax in bars:
        labels.append(label)
        values.append(100 * v)
        is_host = label not in links and label not in memory and not core_units({"utilization": {label: 0.0}})
        if is_host:
            hosts.add(label)
        colors.append(_LINK_COLOR if label in links else _MEMORY_COLOR if label in memory else
                      _HOST_COLOR if is_host else _COMPUTE_COLOR)
        lo.append(100 * (v - vmin))
        hi.append(100 * (vmax - v))
    y = np.arange(len(labels))
    rects = ax.barh(y, values, color=colors)
    ranged = [i for i in range(len(labels)) if lo[i] or hi[i]]
    if ranged:  # merged per-core units: the whiskers span the lowest and highest core
        ax.errorbar([values[i] for i in ranged], [y[i] for i in ranged], fmt="none", ecolor="#333333",
                    capsize=3, lw=0.8, xerr=[[lo[i] for i in ranged], [hi[i] for i in ranged]])
    if mac is not None:
        rects[0].set_hatch("//")
        rects[0].set_edgecolor("white")
        ax.axhline(0.5, color="#888888", lw=0.8, ls="--")
    for yi, v, up in zip(y, values, hi, strict=True):
        ax.text(min(v + up, 100) + 1, yi, f"{v:.1f} %", va="center", fontsize=8)
    size = 9 if len(labels) <= 25 else 7
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=size)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("busy fraction (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    from matplotlib.patches import Patch

    handles = [Patch(color=_COMPUTE_COLOR, label="compute unit"), Patch(color=_MEMORY_COLOR, label="memory level")]
    if links & set(labels):
        handles.append(Patch(color=_LINK_COLOR, label="between chips"))
    if hosts:
        handles.append(Patch(color=_HOST_COLOR, label=HOST_CPU_LABEL))
    if mac is not None:
        handles.insert(0, Patch(facecolor=_MAC_COLOR, hatch="//", edgecolor="white", label="MAC utilization"))
    # the key sits in one row between the title and the axes, where no bar or value label can be under it
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles), fontsize=8,
              frameon=False, borderaxespad=0.2)
    _margins(fig, _widest(labels, size) + _TICK * _PT, 0.15, (_TICK + 10 * _LINE + _LABEL) * _PT,
             (_title_pt(report) + _KEY) * _PT)
    return _save(plt, fig, path)


def plot_bytes_per_level(report: dict, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Bars of the bytes moved to and from each memory level, labelled with sizes; log scale if they span > 100x."""
    plt = pyplot()
    path = _target(path)
    given = report.get("bytes") or {}
    moved = {lvl: fmt.num(given[lvl]) for lvl in ordered(given, report)}
    memories, links = set(memory_levels(report)), interconnect_units(report)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.2 * len(moved) + 2.5), 4.5))
    ax.set_title(_title(report, "bytes moved per memory level"), y=1.0)
    if not moved:
        _empty(ax, "no memory traffic in this report")
        _margins(fig, 0.2, 0.2, 0.2, _title_pt(report) * _PT)
        return _save(plt, fig, path)
    levels, values = list(moved), np.array(list(moved.values()))
    positive = values[values > 0]
    log = positive.size > 0 and positive.max() / positive.min() > 100
    x = np.arange(len(levels))
    ax.bar(x, values, color=[_LINK_COLOR if lvl in links else _MEMORY_COLOR if lvl in memories else _COMPUTE_COLOR
                             for lvl in levels])
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, MultipleLocator, NullLocator

    if log:
        ax.set_yscale("log")
        ax.set_ylim(positive.min() / 3, positive.max() * 5)
        ax.yaxis.set_major_locator(LogLocator(base=2, numticks=8))  # ticks at powers of 2: "4KiB", "1MiB"
        ax.yaxis.set_minor_locator(NullLocator())
        base = positive.min() / 3
    else:
        top = values.max() if positive.size else 1.0
        ax.set_ylim(0, top * 1.15)
        ax.yaxis.set_major_locator(MultipleLocator(binary_step(top * 1.15)) if positive.size else
                                   MaxNLocator(nbins=1))
        base = 0.0
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt.size(v) if v > 0 else "0"))
    for xi, v in zip(x, values, strict=True):
        ax.text(xi, v if v > 0 else base, fmt.size(v), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels(levels)
    ax.set_xlabel("memory level (innermost first; green: memories, blue: on-chip"
                  + (", purple: between chips)" if links & set(levels) else ")"))
    ax.set_ylabel("bytes moved" + (" (log scale)" if log else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if not positive.size:
        ax.text(0.5, 0.5, "no bytes moved", ha="center", va="center", transform=ax.transAxes, color="#555555")
    rows = max(_text_size(lvl, 10)[1] for lvl in levels)
    _margins(fig, _y_margin(ax), 0.15, _TICK * _PT + rows + _LABEL * _PT, _title_pt(report) * _PT)
    return _save(plt, fig, path)


def _run_point(report: dict) -> tuple[float, float] | None:
    """(FLOP per off-chip byte, FLOP/s) of the whole run, or None when either is undefined; the FLOPs the kernels
    computed (``computed_flops``: a causal fused attention's skipped blocks left out), as the ops' points count;
    FLOP/s a chip (:func:`chips_covered`: a pipeline's FLOPs are its P chips'), as the roof is one chip's."""
    flops = fmt.num(report.get("computed_flops", report.get("flops")))
    seconds = fmt.num(report.get("seconds"))
    moved = report.get("bytes") or {}
    offchip = sum(fmt.num(moved.get(lvl)) for lvl in memory_levels(report))
    if flops <= 0 or seconds <= 0 or offchip <= 0:
        return None
    return flops / offchip, flops / seconds / chips_covered(report)


def roofline_left_out(report: dict) -> tuple[int, int] | None:
    """The ops the roofline leaves out, by reason: (those without off-chip bytes or a duration: an arithmetic
    intensity or an achieved FLOP/s that is null, as a view's; those with no FLOPs: both defined but 0, as a dropout
    mask's or an embedding gather's, whose intensity of 0 a log axis cannot show), or None when none is left out
    (probe p221 #5: 40 ops of the second kind were counted as the first)."""
    idle = zero = 0
    for op in report.get("ops") or []:
        ai, rate = fmt.number(op.get("arithmetic_intensity")), fmt.number(op.get("achieved_flops_per_s"))
        if ai is not None and rate is not None and ai > 0 and rate > 0:
            continue
        if ai is None or rate is None or (ai > 0 or rate > 0) or fmt.num(op.get("flops")) > 0:
            idle += 1
        else:
            zero += 1
    return (idle, zero) if idle or zero else None


def roofline_left_out_text(idle: int, zero: int) -> str:
    """The roofline's note of the ops it leaves out (:func:`roofline_left_out`)."""
    parts = ([f"{idle} op(s) without off-chip bytes or duration"] if idle else []) + \
        ([f"{zero} op(s) with no FLOPs (intensity 0)"] if zero else [])
    return ", ".join(parts) + " not shown"


def plot_roofline(report: dict, path: str | os.PathLike | BinaryIO) -> Path | BinaryIO:
    """Log-log roofline: attainable FLOP/s against FLOP per off-chip byte, with each op and the whole run on it.

    Ops whose arithmetic intensity or achieved FLOP/s is null (or not positive, which a log axis cannot show) are
    left out, and the figure says how many.
    """
    plt = pyplot()
    path = _target(path)
    roof = report.get("roofline") or {}
    arch = report.get("arch") or {}
    peak = fmt.num(roof.get("peak_flops_per_s"), fmt.num(arch.get("peak_flops_per_s")))
    given = roof.get("bandwidth_bytes_per_s")  # null: an unbounded memory (the roof is flat at the peak)
    bw = math.inf if given is None and "bandwidth_bytes_per_s" in roof else fmt.num(given)
    ridge = fmt.num(roof.get("ridge_flops_per_byte"), peak / bw if peak > 0 and bw > 0 else 0.0)

    pts = [(float(op["arithmetic_intensity"]), float(op["achieved_flops_per_s"]), str(op.get("kind", "?")))
           for op in report.get("ops") or []
           if fmt.num(op.get("arithmetic_intensity")) > 0 and fmt.num(op.get("achieved_flops_per_s")) > 0]
    skipped = roofline_left_out(report)
    run = _run_point(report)

    xs = [p[0] for p in pts] + ([run[0]] if run else []) + ([ridge] if 0 < ridge < math.inf else [])
    ys = [p[1] for p in pts] + ([run[1]] if run else []) + ([peak] if 0 < peak < math.inf else [])
    xlo, xhi = (min(xs) / 10, max(xs) * 10) if xs else (0.1, 1e4)
    ylo, yhi = (min(ys) / 10, max(ys) * 3) if ys else (1e6, 1e15)

    fig, ax = plt.subplots(figsize=(8.5, 6))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(_title(report, "roofline"), y=1.0)
    if peak > 0 and bw > 0:
        grid = np.logspace(math.log10(xlo), math.log10(xhi), 400)
        roofline = attainable(grid, peak, bw)
        ax.plot(grid, roofline, color="black", lw=2,
                label=f"roof: {fmt.flops_rate(peak)} peak, {fmt.bandwidth(bw)}")
        ylo = min(ylo, roofline[roofline > 0].min() / 2) if (roofline > 0).any() else ylo
        if 0 < ridge < math.inf:
            ax.axvline(ridge, color="#888888", ls=":", lw=1)
            ax.plot([ridge], [peak], "o", color="black", ms=6)
            ax.annotate(f"ridge {ridge:.4g} FLOP/B", (ridge, peak), textcoords="offset points", xytext=(6, 6),
                        fontsize=8, zorder=5, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                                                    "alpha": 0.8})
    kinds = list(dict.fromkeys(p[2] for p in pts))
    cmap = plt.get_cmap("tab10" if len(kinds) <= 10 else "tab20")
    for i, kind in enumerate(kinds):
        kx = [p[0] for p in pts if p[2] == kind]
        ky = [p[1] for p in pts if p[2] == kind]
        ax.scatter(kx, ky, s=22 if len(pts) <= 100 else 10, color=cmap(i % cmap.N), alpha=0.8,
                   edgecolors="none", label=f"{kind} ({len(kx)})", zorder=3)
    if run:
        ax.scatter([run[0]], [run[1]], marker="*", s=220, color="gold", edgecolors="black", zorder=4,
                   label="whole run" + (f" (a chip of {chips_covered(report)})" if chips_covered(report) > 1 else ""))
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    from matplotlib.ticker import FuncFormatter

    for axis in (ax.xaxis, ax.yaxis):  # plain-text powers of ten: mathtext's parser costs ~0.3 s to build
        axis.set_major_formatter(FuncFormatter(_pow10))
    _minor_ticks(ax)
    ax.set_xlabel("arithmetic intensity (FLOP per off-chip byte)")
    ax.set_ylabel("performance (FLOP/s)")
    ax.grid(which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, ncol=2 if len(kinds) > 8 else 1)
    if skipped:
        ax.text(0.01, 0.99, roofline_left_out_text(*skipped), transform=ax.transAxes,
                ha="left", va="top", fontsize=8, color="#444444")
    if not pts and not run and not (peak > 0 and bw > 0):
        ax.text(0.5, 0.5, "nothing to place on the roofline", ha="center", va="center", transform=ax.transAxes,
                color="#555555")
    _margins(fig, _y_margin(ax), 0.15, (_TICK + 10 * _LINE + _LABEL) * _PT, _title_pt(report) * _PT)
    return _save(plt, fig, path)


PLOTS = {
    "op_cycles": plot_op_cycles,
    "utilization": plot_utilization,
    "bytes_per_level": plot_bytes_per_level,
    "roofline": plot_roofline,
}
"""The four figures by file stem, in the order :func:`plot_report` writes them. Each function takes the report dict
and a path (format from its suffix) or a writable binary file object (PNG: what the HTML report embeds)."""


def plot_report(report: dict, outdir: str | os.PathLike, fmt: str = "png") -> list[Path]:
    """Draw the four figures of ``report`` into ``outdir`` as ``fmt`` files; returns their paths.

    ``op_cycles``, ``utilization``, ``bytes_per_level`` and ``roofline``, each ``<name>.<fmt>`` (png, svg, pdf).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fmt = fmt.lstrip(".")
    return [
        plot_op_cycles(report, outdir / f"op_cycles.{fmt}"),
        plot_utilization(report, outdir / f"utilization.{fmt}"),
        plot_bytes_per_level(report, outdir / f"bytes_per_level.{fmt}"),
        plot_roofline(report, outdir / f"roofline.{fmt}"),
    ]
