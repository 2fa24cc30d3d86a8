"""Terminal tables of one report: the key figures of the run, and the ops that took the most cycles.

Built from the plain report dict with rich, so ``accelsim run`` and ``accelsim plot OUTDIR`` print the same thing.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table

from accelsim.units import format_frequency, format_size, format_time

MAX_UNIT_ROWS = 16  # above this many units, per-core units are merged into one row per kind (mean, min-max)


def _num(value: object, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def _count(value: object) -> str:
    """An integer with thousands separators ("123,456"); "-" for null."""
    if value is None:
        return "-"
    return f"{int(value):,}"


def _si(value: float) -> str:
    """A large count in SI form ("4.09 G") to read beside the exact one."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}"
    return f"{value:.3g}"


def _pct(fraction: object) -> str:
    return "-" if fraction is None else f"{100 * _num(fraction):.1f} %"


def _workload_text(workload: dict) -> str:
    name = workload.get("name") or workload.get("model") or "?"
    bits = [f"batch {workload['batch']}"] if workload.get("batch") is not None else []
    if workload.get("dtype"):
        bits.append(str(workload["dtype"]))
    params = [f"{k}={v}" for k, v in (workload.get("params") or {}).items() if k not in ("batch", "dtype", "mode")]
    if params:
        bits.append(", ".join(params[:6]) + (", ..." if len(params) > 6 else ""))
    return f"{name} ({'; '.join(bits)})" if bits else str(name)


def _arch_text(arch: dict, clock_hz: object) -> str:
    bits = []
    clock = arch.get("clock_hz", clock_hz)
    if _num(clock) > 0:
        bits.append(format_frequency(_num(clock)))
    if arch.get("cores") is not None:
        bits.append(f"{arch['cores']} core{'s' if arch['cores'] != 1 else ''}")
    if arch.get("sram_bytes"):
        bits.append(f"{format_size(_num(arch['sram_bytes']))} SRAM")
    name = arch.get("name") or "?"
    return f"{name} ({', '.join(bits)})" if bits else str(name)


def _unit_rows(util: dict) -> list[tuple[str, str]]:
    items = [(str(k), _num(v)) for k, v in util.items()]
    if len(items) <= MAX_UNIT_ROWS:
        return [(k, _pct(v)) for k, v in items]
    groups: dict[str, list[float]] = {}
    for k, v in items:
        groups.setdefault(re.sub(r"^core\d+\.", "core*.", k), []).append(v)
    rows = []
    for k, vs in groups.items():
        if len(vs) == 1:
            rows.append((k, _pct(vs[0])))
        else:
            mean = sum(vs) / len(vs)
            rows.append((f"{k} ({len(vs)})", f"{_pct(mean)} mean ({_pct(min(vs))}-{_pct(max(vs))})"))
    return rows


def summary_table(report: dict) -> Table:
    """A two-column table of the run's key figures: workload, arch, cycles, time, work, utilization, bytes, stalls."""
    table = Table(title=f"accelsim: {report.get('name', 'run')}", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="left")
    table.add_row("workload", _workload_text(report.get("workload") or {}))
    table.add_row("arch", _arch_text(report.get("arch") or {}, report.get("clock_hz")))
    table.add_row("total cycles", _count(report.get("total_cycles")))
    seconds = report.get("seconds")
    table.add_row("time", "-" if seconds is None else format_time(_num(seconds)))
    pipe = report.get("pipeline")
    if pipe:
        table.add_row("pipeline", f"{pipe['stages']} stages × {pipe['micro_batches']} micro-batches, interleave "
                                  f"{pipe['interleave']}: bubble {_pct(pipe['bubble_fraction'])}, optimizer "
                                  f"{format_time(_num(pipe['optimizer_s']))}, p2p {format_time(_num(pipe['p2p_s']))}")
        for row in pipe.get("stage_times", []):
            table.add_row(f"  stage {row['stage']}", f"{format_time(_num(row['micro_batch_s']))} per micro-batch, "
                                                     f"HBM {_pct(row['hbm_fraction'])} with "
                                                     f"{row['activations_in_flight']} in flight")
    for key, label in (("macs", "MACs"), ("flops", "FLOPs"), ("params", "params")):
        if report.get(key) is not None:
            table.add_row(label, f"{_count(report[key])} ({_si(_num(report[key]))})")
    table.add_row("MAC utilization", _pct(report.get("mac_utilization")))
    for unit, text in _unit_rows(report.get("utilization") or {}):
        table.add_row(f"  busy {unit}", text)
    for level, nbytes in (report.get("bytes") or {}).items():
        table.add_row(f"  bytes {level}", format_size(_num(nbytes)))
    table.add_row("stall cycles", _count(report.get("stall_cycles")))
    for level, cycles in (report.get("stalls_by_level") or {}).items():
        table.add_row(f"  stall {level}", _count(cycles))
    sim = report.get("simulation") or {}
    if sim:
        table.add_row("simulation", ", ".join(f"{_count(v)} {k}" for k, v in sim.items()))
    return table


def _duration(op: dict) -> int:
    return max(0, int(_num(op.get("end_cycle")) - _num(op.get("start_cycle"))))


def top_ops_table(report: dict, n: int = 10) -> Table:
    """The ``n`` ops with the most cycles (end - start), most first: name, kind, unit, cycles, stall %, HBM bytes, bound.

    stall % is the op's stall cycles over its stall plus compute cycles, both summed over every unit it ran on.
    """
    ops = report.get("ops") or []
    top = sorted(ops, key=_duration, reverse=True)[:n]  # stable: ties keep execution order
    table = Table(title=f"top {len(top)} of {len(ops)} ops by cycles", title_justify="left")
    for col, justify in (("op", "left"), ("kind", "left"), ("unit", "left"), ("cycles", "right"),
                         ("stall %", "right"), ("HBM bytes", "right"), ("bound", "left")):
        table.add_column(col, justify=justify)
    for op in top:
        cycles = _duration(op)
        stall = _num(op.get("stall_cycles"))
        work = _num((op.get("mapping") or {}).get("work_cycles", op.get("compute_cycles")))
        hbm = (op.get("bytes") or {}).get("hbm")
        table.add_row(
            str(op.get("name", "?")),
            str(op.get("kind", "")),
            str(op.get("unit", "")),
            f"{cycles:,}",
            f"{100 * stall / (stall + work):.1f}" if stall + work else "-",
            format_size(_num(hbm)) if hbm is not None else "-",
            str(op.get("bound") or ""),
        )
    return table


def print_summary(report: dict, console: Console | None = None) -> None:
    """Print :func:`summary_table` and :func:`top_ops_table` of ``report`` to ``console`` (stdout by default)."""
    console = console or Console()
    console.print(summary_table(report))
    console.print(top_ops_table(report))
    for note in report.get("notes") or []:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
