"""Figures of a serving run (``accelsim serve``): latency CDFs and, per replica, requests and KV-cache use over
time. Drawn from plain lists (what requests.csv and timeseries.csv hold), with matplotlib's Agg backend imported
only when drawing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .plots import DPI, pyplot

LATENCY_PNG = "latency_cdf.png"
TIMESERIES_PNG = "serving_timeseries.png"


def _save(plt, fig, path: Path) -> Path:
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def plot_latency_cdf(name: str, latencies: Mapping[str, Sequence[float]], path: Path) -> Path:
    """One panel per latency (``{"TTFT": [...], ...}``, seconds): its empirical CDF in milliseconds."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(latencies), figsize=(4.2 * len(latencies), 3.6), squeeze=False)
    for ax, (label, values) in zip(axes[0], latencies.items(), strict=True):
        x = np.sort(np.asarray(values, dtype=float)) * 1e3
        if x.size:
            ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", color="#4C72B0")
            for q, style in ((0.5, ":"), (0.99, "--")):
                ax.axvline(float(np.quantile(x, q)), color="#C44E52", linestyle=style, linewidth=1,
                           label=f"p{round(q * 100)} {np.quantile(x, q):,.1f} ms")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("fraction of requests")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{name}: latency distributions")
    return _save(plt, fig, path)


def plot_timeseries(name: str, series: Mapping[int, Mapping[str, Sequence[float]]], path: Path) -> Path:
    """Per replica (``{replica: {"t", "running", "waiting", "kv_fraction"}}``): requests running and waiting, and
    the fraction of KV blocks in use, against time (s)."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for replica, s in series.items():
        t = np.asarray(s["t"], dtype=float)
        top.plot(t, s["running"], linewidth=1, label=f"replica {replica} running")
        top.plot(t, s["waiting"], linewidth=1, linestyle="--", label=f"replica {replica} waiting")
        bottom.plot(t, np.asarray(s["kv_fraction"], dtype=float) * 100, linewidth=1, label=f"replica {replica}")
    top.set_ylabel("requests")
    bottom.set_ylabel("KV blocks in use (%)")
    bottom.set_xlabel("time (s)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8, ncol=2)
    fig.suptitle(f"{name}: load over time")
    return _save(plt, fig, path)


def plot_curve(name: str, key: str | None, rows: Sequence[Mapping[str, object]], path: Path,
               lines: Sequence[tuple[str, Sequence[int], str]] = ()) -> Path:
    """Throughput–latency curve of a sweep: p50 and p99 TTFT and end-to-end latency against output tokens/s, each
    point labelled with the swept value (``rows``: value, output_tokens_per_s, ttft_p50_s, ... as in sweep.csv).
    The title names ``name`` (the model and arch: the serving file's name may carry one value of the key, "_8rps")
    and the key's values (``key`` None: a redraw from sweep.csv, which does not hold the key).

    ``lines`` (a sweep of several keys, ``serving.curve.curve_lines``): one curve per (legend label, the rows'
    indices in order, the column whose value labels its points), so that a curve runs along one key at fixed
    values of the others instead of zigzagging across them; empty: one curve through every row."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = [float(r["output_tokens_per_s"] or 0) for r in rows]  # type: ignore[arg-type]
    curves = lines or [("", range(len(rows)), "value")]
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for ax, what in zip(axes, ("ttft", "e2e"), strict=True):
        ys = []
        for n, (label, idx, point_label) in enumerate(curves):
            idx = list(idx)
            color = colors[n % len(colors)] if lines else None
            for q, style in (("p50", "o-"), ("p99", "s--")):
                y = [float(rows[i][f"{what}_{q}_s"]) * 1e3 if rows[i][f"{what}_{q}_s"] is not None else np.nan
                     for i in idx]
                ax.plot([x[i] for i in idx], y, style, label=f"{label} {q}".strip(), color=color)
                ys += y
            for i in idx:
                ax.annotate(str(rows[i][point_label]), (x[i], float(rows[i][f"{what}_p50_s"] or 0) * 1e3),
                            fontsize=7, textcoords="offset points", xytext=(3, 3))
        ax.set_xlabel("output tokens/s")
        ax.set_ylabel(f"{'TTFT' if what == 'ttft' else 'end-to-end'} (ms)")
        ax.set_yscale("log")
        _readable_log_ticks(ax, [v for v in ys if v == v and v > 0])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8 if len(curves) < 4 else 6)
    values = ", ".join(str(r["value"]) for r in rows)
    fig.suptitle(f"{name}: throughput vs latency along {curves[0][2]}, a line per value of the other keys" if lines
                 else f"{name}: throughput vs latency, {key} = {values}" if key else
                 f"{name}: throughput vs latency over the swept values {values}")
    return _save(plt, fig, path)


FINE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9)


def _steps(lo: float, hi: float) -> tuple[float, ...]:
    """The mantissas a log axis from ``lo`` to ``hi`` is labelled at: :data:`FINE_STEPS` within half a decade
    (so that the tick below the lowest value is near it), 1-9 up to 1.2 decades, 1, 2 and 5 up to three, 1
    beyond."""
    decades = np.log10(hi / lo)
    if decades <= 0.5:
        return FINE_STEPS
    return tuple(range(1, 10)) if decades <= 1.2 else (1, 2, 5) if decades <= 3 else (1,)


def _readable_log_ticks(ax, values: Sequence[float]) -> None:
    """Label a log y axis in plain numbers ("20", "30", "1,000", "0.5"; matplotlib wrote "3×10¹" and, within a
    decade, left most ticks bare) at round steps (:func:`_steps`), with the axis reaching a labelled tick below
    its lowest value and above its highest, so that no point lies beyond the labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if not values:
        return
    lo, hi = min(values), max(values)
    hi = max(hi, lo * 1.01)
    subs = _steps(lo, hi)
    ticks = [m * 10.0 ** e for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
             for m in subs]
    below = max(t for t in ticks if t <= lo)
    above = min(t for t in ticks if t >= hi)
    ax.set_ylim(below / 1.05, above * 1.05)
    ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if below <= t <= above]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.6g}"))
