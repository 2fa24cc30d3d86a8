"""LLM serving: one report for a prefill pass and N decode steps, with TTFT, TPOT, throughput and footprint.

Each pass (prefill, decode step 0, 1, ...) is simulated on its own, one after another (batch sequences in
lock-step, the KV cache one token longer each step); this module adds their report dicts into one:

* totals (cycles, seconds, MACs, FLOPs, bytes, stalls) are sums over the passes, the decode steps that were not
  simulated counted by interpolation from their simulated neighbours; ``utilization`` and ``mac_utilization``
  are over the whole run (busy cycles summed / total cycles); ``simulation`` counts the simulated passes;
* ``ops`` holds the ops of the prefill pass, the first and the last decode step (each op tagged with
  ``phase`` and ``step``), on one timeline (a pass starts where the previous one ended);
* ``serving``: ``ttft_s`` (the prefill, which yields each sequence's first token; without a prefill, the first
  decode step), ``tpot_s`` (mean seconds per decode step), ``tokens_per_s`` (batch · decode steps / decode
  seconds), ``step_cycles`` (every decode step), ``kv_cache_bytes`` and ``memory`` (the footprint per level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SUMMED = ("total_cycles", "seconds", "macs", "flops", "stall_cycles")


def interpolation_weights(steps: int, sampled: Sequence[int]) -> list[list[tuple[int, float]]]:
    """For every decode step, the simulated steps (indices into ``sampled``) and weights that give its value
    by linear interpolation between its simulated neighbours (a simulated step is its own value, weight 1)."""
    out: list[list[tuple[int, float]]] = []
    j = 0
    for s in range(steps):
        while j + 1 < len(sampled) and sampled[j + 1] <= s:
            j += 1
        lo = sampled[j]
        if lo == s or j + 1 == len(sampled):
            out.append([(j, 1.0)])
            continue
        hi = sampled[j + 1]
        w = (s - lo) / (hi - lo)
        out.append([(j, 1.0 - w), (j + 1, w)])
    return out


def combine_passes(passes: Sequence[tuple[str, int, dict]], *, steps: int, batch: int,
                   footprint: Mapping[str, object], name: str) -> dict:
    """One report dict from ``(phase, step, report)`` passes in run order (see the module docstring).

    ``steps`` is the number of decode steps served; when fewer were simulated, each missing step's totals are
    interpolated from its simulated neighbours (:func:`interpolation_weights`)."""
    prefill = [r for phase, _, r in passes if phase == "prefill"]
    decode = [(step, r) for phase, step, r in passes if phase == "decode"]
    weights = interpolation_weights(steps, [s for s, _ in decode])
    # each simulated pass stands for itself and its share of the steps interpolated from it
    scale = [1.0] * len(prefill) + [0.0] * len(decode)
    for row in weights:
        for j, w in row:
            scale[len(prefill) + j] += w
    ordered = prefill + [r for _, r in decode]
    first = ordered[0]
    out = {k: v for k, v in first.items() if k not in ("ops",)}
    out["name"] = name
    for key in SUMMED:
        total_value = sum(f * r[key] for f, r in zip(scale, ordered, strict=True))
        out[key] = round(total_value) if isinstance(first[key], int) else total_value
    total = out["total_cycles"]
    for key in ("bytes", "stalls_by_level"):
        merged: dict[str, float] = {}
        for f, r in zip(scale, ordered, strict=True):
            for lv, v in r[key].items():
                merged[lv] = merged.get(lv, 0) + f * v
        out[key] = {lv: round(v) for lv, v in merged.items()}
    busy: dict[str, float] = {}
    for f, r in zip(scale, ordered, strict=True):
        for unit, frac in r["utilization"].items():
            busy[unit] = busy.get(unit, 0.0) + f * frac * r["total_cycles"]
    out["utilization"] = {u: (b / total if total else 0.0) for u, b in busy.items()}
    peak = first["arch"]["peak_macs_per_cycle"]
    out["mac_utilization"] = out["macs"] / (peak * total) if total else 0.0
    out["simulation"] = {"tasks": sum(r["simulation"]["tasks"] for _, _, r in passes),
                         "events": sum(r["simulation"]["events"] for _, _, r in passes),
                         "passes": len(passes)}

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

    clock = first["clock_hz"]
    step_cycles = [round(sum(w * decode[j][1]["total_cycles"] for j, w in row)) for row in weights]
    decode_s = sum(step_cycles) / clock
    ttft = prefill[0]["seconds"] if prefill else (step_cycles[0] / clock if step_cycles else 0.0)
    out["serving"] = {
        "batch": batch,
        "prefill_cycles": prefill[0]["total_cycles"] if prefill else 0,
        "decode_steps": steps,
        "decode_steps_simulated": [s for s, _ in decode],
        "decode_cycles": sum(step_cycles),
        "step_cycles": step_cycles,
        "ttft_s": ttft,
        "tpot_s": decode_s / steps if steps else None,
        "tokens_per_s": batch * steps / decode_s if decode_s else None,
        **footprint,
    }
    return out
