"""LLM serving: one report for a prefill pass and N decode steps, with TTFT, TPOT, throughput and footprint.

Each pass (prefill, decode step 0, 1, ...) is simulated on its own, one after another (batch sequences in
lock-step, the KV cache one token longer each step); this module adds their report dicts into one:

* totals (cycles, seconds, MACs, FLOPs, bytes, stalls, tasks, events) are sums over the passes; ``utilization``
  and ``mac_utilization`` are over the whole run (busy cycles summed / total cycles);
* ``ops`` holds the ops of the prefill pass, the first and the last decode step (each op tagged with
  ``phase`` and ``step``), on one timeline (a pass starts where the previous one ended);
* ``serving``: ``ttft_s`` (the prefill, which yields each sequence's first token; without a prefill, the first
  decode step), ``tpot_s`` (mean seconds per decode step), ``tokens_per_s`` (batch · decode steps / decode
  seconds), ``step_cycles`` (every decode step), ``kv_cache_bytes`` and ``memory`` (the footprint per level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SUMMED = ("total_cycles", "seconds", "macs", "flops", "stall_cycles")


def combine_passes(passes: Sequence[tuple[str, int, dict]], *, batch: int, footprint: Mapping[str, object],
                   name: str) -> dict:
    """One report dict from ``(phase, step, report)`` passes in run order (see the module docstring)."""
    first = passes[0][2]
    out = {k: v for k, v in first.items() if k not in ("ops",)}
    out["name"] = name
    total = sum(r["total_cycles"] for _, _, r in passes)
    for key in SUMMED:
        out[key] = sum(r[key] for _, _, r in passes)
    for key in ("bytes", "stalls_by_level"):
        merged: dict[str, int] = {}
        for _, _, r in passes:
            for lv, v in r[key].items():
                merged[lv] = merged.get(lv, 0) + v
        out[key] = merged
    busy: dict[str, float] = {}
    for _, _, r in passes:
        for unit, frac in r["utilization"].items():
            busy[unit] = busy.get(unit, 0.0) + frac * r["total_cycles"]
    out["utilization"] = {u: (b / total if total else 0.0) for u, b in busy.items()}
    peak = first["arch"]["peak_macs_per_cycle"]
    out["mac_utilization"] = out["macs"] / (peak * total) if total else 0.0
    out["simulation"] = {"tasks": sum(r["simulation"]["tasks"] for _, _, r in passes),
                         "events": sum(r["simulation"]["events"] for _, _, r in passes),
                         "passes": len(passes)}

    decode = [(step, r) for phase, step, r in passes if phase == "decode"]
    prefill = [r for phase, _, r in passes if phase == "prefill"]
    shown = {id(r) for r in prefill}
    if decode:
        shown |= {id(decode[0][1]), id(decode[-1][1])}
    ops, offset = [], 0
    for phase, step, r in passes:
        if id(r) in shown:
            for op in r["ops"]:
                ops.append({**op, "phase": phase, "step": step, "start_cycle": op["start_cycle"] + offset,
                            "end_cycle": op["end_cycle"] + offset})
        offset += r["total_cycles"]
    out["ops"] = ops

    decode_cycles = [r["total_cycles"] for _, r in decode]
    decode_s = sum(r["seconds"] for _, r in decode)
    ttft = prefill[0]["seconds"] if prefill else (decode[0][1]["seconds"] if decode else 0.0)
    out["serving"] = {
        "batch": batch,
        "prefill_cycles": prefill[0]["total_cycles"] if prefill else 0,
        "decode_steps": len(decode),
        "decode_cycles": sum(decode_cycles),
        "step_cycles": decode_cycles,
        "ttft_s": ttft,
        "tpot_s": decode_s / len(decode) if decode else None,
        "tokens_per_s": batch * len(decode) / decode_s if decode_s else None,
        **footprint,
    }
    return out
