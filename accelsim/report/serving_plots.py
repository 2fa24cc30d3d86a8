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


def plot_curve(name: str, key: str, rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Throughput–latency curve of a sweep: p50 and p99 TTFT and end-to-end latency against output tokens/s, each
    point labelled with the swept value (``rows``: value, output_tokens_per_s, ttft_p50_s, ... as in sweep.csv)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = [float(r["output_tokens_per_s"] or 0) for r in rows]  # type: ignore[arg-type]
    for ax, what in zip(axes, ("ttft", "e2e"), strict=True):
        for q, style in (("p50", "o-"), ("p99", "s--")):
            y = [float(r[f"{what}_{q}_s"]) * 1e3 if r[f"{what}_{q}_s"] is not None else np.nan for r in rows]
            ax.plot(x, y, style, label=q)
        for r, xi in zip(rows, x, strict=True):
            ax.annotate(str(r["value"]), (xi, float(r[f"{what}_p50_s"] or 0) * 1e3), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
        ax.set_xlabel("output tokens/s")
        ax.set_ylabel(f"{'TTFT' if what == 'ttft' else 'end-to-end'} (ms)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{name}: throughput vs latency over {key}")
    return _save(plt, fig, path)
