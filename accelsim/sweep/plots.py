"""Figures of a sweep, chosen from its axes and drawn from the results records alone (so ``accelsim plot
OUTDIR`` redraws them from the folder):

* ``sweep_lines.png``: a metric (total cycles) against the first varying axis, one line per value of the second;
  one panel per value of a third axis (up to :data:`MAX_PANELS`), the best (lowest) value over any further axes.
* ``sweep_heatmap.png``: the metric over the first two varying axes (panels and the best over the rest as above).
* ``sweep_pareto.png``: latency (``seconds``) against chip area (``area_mm2``) for every point, coloured by its
  energy (``energy_j``), with the Pareto front over all three (no other point is at least as small, fast and
  frugal and better in one) highlighted; not drawn when the arch gives no energy constants (docs/energy.md).

A figure that the axes cannot support (a heatmap of one axis) is not drawn. matplotlib comes through
:mod:`accelsim.report.plots` (imported lazily, Agg backend), the one module that imports it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..report import fmt
from .expand import describe, short_names

LINES_FILE = "sweep_lines.png"
HEATMAP_FILE = "sweep_heatmap.png"
PARETO_FILE = "sweep_pareto.png"
METRIC = "total_cycles"
LATENCY = "seconds"
AREA = "area_mm2"
ENERGY = "energy_j"
MAX_PANELS = 6  # a third axis with more values than this is folded (best over it) instead of paneled
MAX_ANNOTATED = 12  # heatmap cells are labelled when both sides have at most this many values
MAX_LABELLED_FRONT = 10


def _pyplot():
    from ..report.plots import pyplot

    return pyplot()


def _key(value: Any) -> str:
    """A hashable, comparable stand-in for an axis value (values may be lists or mappings)."""
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def varying_axes(records: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> list[str]:
    """The axes that take more than one value among ``records``, in axis order."""
    return [a for a in axes if len({_key((r.get("point") or {}).get(a)) for r in records}) > 1]


def _values(records: Sequence[Mapping[str, Any]], axis: str) -> list[Any]:
    """The distinct values of ``axis``: sorted when all are numbers, else in order of first appearance."""
    seen: dict[str, Any] = {}
    for r in records:
        v = (r.get("point") or {}).get(axis)
        seen.setdefault(_key(v), v)
    values = list(seen.values())
    return sorted(values) if all(_is_number(v) for v in values) else values


def _metric(record: Mapping[str, Any], name: str) -> float | None:
    value = (record.get("metrics") or {}).get(name)
    return float(value) if _is_number(value) else None


def _best(records: Sequence[Mapping[str, Any]], keys: Sequence[str], metric: str) -> dict[tuple, float]:
    """The lowest ``metric`` for each combination of the values of ``keys`` (over every other axis)."""
    out: dict[tuple, float] = {}
    for r in records:
        m = _metric(r, metric)
        if m is None:
            continue
        k = tuple(_key((r.get("point") or {}).get(a)) for a in keys)
        out[k] = min(out.get(k, math.inf), m)
    return out


def _save(plt, fig, path: Path) -> Path:
    """Save ``fig`` as PNG to ``path`` atomically (a temporary file, then a rename) and close it."""
    from ..report.plots import DPI

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # unique: two writers never
    os.close(fd)                                                                             # share a temporary file
    tmp = Path(name)
    try:
        fig.tight_layout()
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


def _layout(records, varying: list[str], used: int) -> tuple[str | None, list[Any], list[str]]:
    """The panel axis (the varying axis after the ``used`` ones, if it has at most MAX_PANELS values), its
    values, and the axes folded into "best over"."""
    rest = varying[used:]
    if rest and len(_values(records, rest[0])) <= MAX_PANELS:
        return rest[0], _values(records, rest[0]), rest[1:]
    return None, [None], rest


def _title(spec_name: str, what: str, folded: list[str], names: Mapping[str, str]) -> str:
    best = f" (best over {', '.join(names[a] for a in folded)})" if folded else ""
    return f"{spec_name}: {what}{best}"


def plot_lines(records, axes: Sequence[str], path: Path, *, name: str = "sweep", metric: str = METRIC) -> Path | None:
    """``metric`` against the first varying axis, a line per value of the second; None if nothing varies."""
    ok = [r for r in records if r.get("status") == "ok"]
    varying = varying_axes(ok, axes)
    if not varying:
        return None
    names = short_names(list(axes))
    x_axis, series_axis = varying[0], (varying[1] if len(varying) > 1 else None)
    panel_axis, panel_values, folded = _layout(ok, varying, 2)
    keys = [k for k in (x_axis, series_axis, panel_axis) if k]
    best = _best(ok, keys, metric)
    xs = _values(ok, x_axis)
    numeric = all(_is_number(v) for v in xs)
    series = _values(ok, series_axis) if series_axis else [None]
    plt = _pyplot()
    fig, axs = _panels(plt, len(panel_values))
    for ax, pv in zip(axs, panel_values, strict=True):
        for sv in series:
            pts = []
            for i, xv in enumerate(xs):
                k = tuple(_key(v) for v, a in ((xv, x_axis), (sv, series_axis), (pv, panel_axis)) if a)
                if k in best:
                    pts.append((xv if numeric else i, best[k]))
            if pts:
                label = f"{names[series_axis]}={sv}" if series_axis else None
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        if numeric and min(xs) > 0 and max(xs) / min(xs) >= 8:
            ax.set_xscale("log", base=2)
        if numeric and len(xs) <= MAX_ANNOTATED:
            ax.set_xticks(xs, [str(v) for v in xs])
            ax.minorticks_off()
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_xlabel(names[x_axis])
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        if panel_axis:
            ax.set_title(f"{names[panel_axis]}={pv}", fontsize=10)
        if series_axis:
            ax.legend(fontsize=8)
    fig.suptitle(_title(name, f"{metric} vs {names[x_axis]}", folded, names), fontsize=11)
    return _save(plt, fig, path)


def plot_heatmap(records, axes: Sequence[str], path: Path, *, name: str = "sweep",
                 metric: str = METRIC) -> Path | None:
    """``metric`` over the first two varying axes (rows: the first, columns: the second); None if fewer vary."""
    ok = [r for r in records if r.get("status") == "ok"]
    varying = varying_axes(ok, axes)
    if len(varying) < 2:
        return None
    import numpy as np

    names = short_names(list(axes))
    row_axis, col_axis = varying[0], varying[1]
    panel_axis, panel_values, folded = _layout(ok, varying, 2)
    keys = [k for k in (row_axis, col_axis, panel_axis) if k]
    best = _best(ok, keys, metric)
    rows, cols = _values(ok, row_axis), _values(ok, col_axis)
    plt = _pyplot()
    fig, axs = _panels(plt, len(panel_values), width=5.5, height=4.5)
    finite = [v for v in best.values() if math.isfinite(v)]
    vmin, vmax = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for ax, pv in zip(axs, panel_values, strict=True):
        grid = np.full((len(rows), len(cols)), np.nan)
        for i, rv in enumerate(rows):
            for j, cv in enumerate(cols):
                k = tuple(_key(v) for v, a in ((rv, row_axis), (cv, col_axis), (pv, panel_axis)) if a)
                grid[i, j] = best.get(k, np.nan)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis_r", vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(cols)), [str(v) for v in cols], rotation=45 if len(cols) > 6 else 0)
        ax.set_yticks(range(len(rows)), [str(v) for v in rows])
        ax.set_xlabel(names[col_axis])
        ax.set_ylabel(names[row_axis])
        if len(rows) <= MAX_ANNOTATED and len(cols) <= MAX_ANNOTATED:
            for i in range(len(rows)):
                for j in range(len(cols)):
                    if not np.isnan(grid[i, j]):
                        dark = (grid[i, j] - vmin) / ((vmax - vmin) or 1.0) > 0.5
                        ax.text(j, i, fmt.si(grid[i, j], sep=""), ha="center", va="center", fontsize=7,
                                color="white" if dark else "black")
        if panel_axis:
            ax.set_title(f"{names[panel_axis]}={pv}", fontsize=10)
        fig.colorbar(im, ax=ax, label=metric)
    fig.suptitle(_title(name, f"{metric} (lower is better)", folded, names), fontsize=11)
    return _save(plt, fig, path)


def pareto_front_nd(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (at most as large in every coordinate, smaller in one), all
    coordinates minimised, in the order given; of equal points the first is kept."""
    front = []
    for i, p in enumerate(points):
        beaten = any((all(a <= b for a, b in zip(q, p, strict=True)) and (tuple(q) != tuple(p) or j < i))
                     for j, q in enumerate(points) if j != i)
        if not beaten:
            front.append(i)
    return front


def plot_pareto(records, axes: Sequence[str], path: Path, *, name: str = "sweep", metric: str = LATENCY,
                area: str = AREA, energy: str = ENERGY) -> Path | None:
    """``metric`` (latency) against ``area`` for every ok point, coloured by ``energy``, the Pareto front over the
    three highlighted; None with fewer than 2 points that have all three."""
    ok = [r for r in records if r.get("status") == "ok"
          and all(_metric(r, m) is not None for m in (metric, area, energy))]
    if len(ok) < 2:
        return None
    pts = [(_metric(r, area), _metric(r, metric), _metric(r, energy)) for r in ok]
    front = pareto_front_nd(pts)  # type: ignore[arg-type]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    dots = ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, c=[p[2] for p in pts], cmap="viridis",
                      label="points")
    fig.colorbar(dots, ax=ax, label=f"{energy} (J)")
    ax.scatter([pts[i][0] for i in front], [pts[i][1] for i in front], s=60, facecolors="none",
               edgecolors="#C44E52", linewidths=1.4, label=f"Pareto front ({len(front)})", zorder=3)
    varying = varying_axes(ok, axes)
    if len(front) <= MAX_LABELLED_FRONT and varying:
        for i in front:
            point = {a: (ok[i].get("point") or {}).get(a) for a in varying}
            ax.annotate(describe(point), (pts[i][0], pts[i][1]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if min(xs) > 0 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    if min(ys) > 0 and max(ys) / min(ys) >= 10:
        ax.set_yscale("log")
    ax.set_xlabel(f"{area} (chip area, mm²)")
    ax.set_ylabel(f"{metric} (latency)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{name}: latency vs energy vs area", fontsize=11)
    return _save(plt, fig, path)


def plot_sweep_records(records: Sequence[Mapping[str, Any]], axes: Sequence[str], outdir: str | os.PathLike, *,
                       name: str = "sweep") -> list[Path]:
    """Draw every figure the axes support into ``outdir``; returns the paths written."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for draw, file in ((plot_lines, LINES_FILE), (plot_heatmap, HEATMAP_FILE), (plot_pareto, PARETO_FILE)):
        path = draw(records, axes, outdir / file, name=name)
        if path is not None:
            written.append(path)
        elif (outdir / file).exists():  # drawn by an earlier run whose axes allowed it: no longer true
            (outdir / file).unlink()
    return written


__all__ = ["HEATMAP_FILE", "LINES_FILE", "PARETO_FILE", "pareto_front_nd", "plot_heatmap", "plot_lines",
           "plot_pareto", "plot_sweep_records", "varying_axes"]
