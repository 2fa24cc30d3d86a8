"""Pipeline parallelism: one report for a training (or inference) iteration through P pipeline stages.

Each distinct stage (the first, a middle one, the last) is simulated once for one micro-batch on one chip; this
module composes the iteration from those reports with the 1F1B schedule of Megatron-LM (Narayanan et al. 2021),
every stage's per-micro-batch time measured, not assumed equal:

* a stage's per-micro-batch time ``t_k`` is its report's cycles up to the end of its backward phase (the whole run
  when inference); its optimizer tail ``o_k`` (steps, data-parallel all-reduces) runs once per iteration;
* iteration = (m − 1)·max_k t_k + Σ_k t_k / v + (1 − 1/v)·max_k t_k + max_k o_k + p2p, with m micro-batches and v
  model chunks per stage (``pipeline_interleave``). For equal stages this is Megatron's (m + (P − 1)/v)·t: the
  pipeline fills and drains once (the bubble, (P − 1)/v stage times) and runs one micro-batch per stage time in
  between; unequal stages pay the slowest stage in the steady state and each stage once in the fill/drain;
* ``p2p``: the activation sends (and gradient sends back) that the fill and drain wait for, 2·(P·v − 1) of them in
  training (P·v − 1 in inference), each ``interconnect.latency`` + bytes / (bandwidth · efficiency), bytes = one
  micro-batch's hidden states / tensor_parallel (Megatron's scatter/gather of the send across the tensor-parallel
  ranks); the steady state's sends overlap compute.

Totals (``macs``, ``flops``, ``bytes``, ``stall_cycles``) are over the pipeline (P chips of one tensor-parallel rank
of one data-parallel replica) for the iteration: each stage's forward/backward ops counted m times and its
optimizer ops once. ``launch_overhead_s`` is the bottleneck stage's launch share of its time applied to the
iteration. ``mac_utilization`` = macs / (peak MACs per cycle · P · iteration cycles). ``ops``,
``utilization``, ``phases`` and ``memory`` are the bottleneck stage's (the largest t_k), its units' busy cycles
scaled by m over the iteration; ``pipeline`` gives the schedule, each stage's times and its memory with the
micro-batches whose activations 1F1B keeps in flight (stage k: min(P − k, m)).

With ``options.layer_samples`` (the default) a stage of n > 2 identical layers is simulated with 1 and with 2
layers and every figure extrapolated affinely (:func:`affine_report`; ``pipeline.layer_samples`` = [1, 2], the
ops shown are the 2-layer run's): the layers run back to back, so a stage's cycles, work and bytes are affine in n.
"""

from __future__ import annotations

from collections.abc import Sequence

SCALED = ("macs", "flops", "stall_cycles")


def split_optimizer(report: dict) -> tuple[int, int]:
    """(per-micro-batch cycles, optimizer-tail cycles) of a stage report: the end of its backward phase, the rest."""
    phases = report.get("phases") or {}
    total = int(report["total_cycles"])
    if "backward" not in phases:
        return total, 0
    end = int(phases["backward"]["end_cycle"])
    return end, max(total - end, 0)


def schedule_cycles(per_micro: Sequence[float], micro_batches: int, interleave: int) -> float:
    """Cycles of m micro-batches through stages taking ``per_micro`` cycles each (see the module docstring)."""
    slowest = max(per_micro)
    return ((micro_batches - 1) * slowest + sum(per_micro) / interleave + (1 - 1 / interleave) * slowest)


def _optimizer_share(report: dict) -> dict[str, float]:
    """Sums over the report's optimizer-phase ops: macs, flops, stall cycles and bytes per level."""
    out: dict[str, float] = {}
    for op in report.get("ops", ()):
        if (op.get("mapping") or {}).get("phase") != "optimizer":
            continue
        for key in SCALED:
            out[key] = out.get(key, 0) + op.get(key, 0)
        for lv, v in op.get("bytes", {}).items():
            out[f"bytes.{lv}"] = out.get(f"bytes.{lv}", 0) + v
    return out


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def affine_report(one: dict, two: dict, layers: int) -> dict:
    """A stage report for ``layers`` identical layers from the reports of the same stage with 1 and with 2 layers:
    every number f becomes f₁ + (layers − 1)·(f₂ − f₁) (ints stay ints), utilisation as extrapolated busy cycles
    over the extrapolated total; ``ops`` and other lists are the 2-layer run's."""
    def walk(a: object, b: object) -> object:
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: walk(a.get(k, v), v) for k, v in b.items()}
        if _number(a) and _number(b):
            value = a + (layers - 1) * (b - a)  # type: ignore[operator]
            return round(value) if isinstance(b, int) else value
        return b

    out = walk({**one, "_optimizer_share": _optimizer_share(one)}, {**two, "_optimizer_share": _optimizer_share(two)})
    assert isinstance(out, dict)
    total = out["total_cycles"]
    busy1 = {u: f * one["total_cycles"] for u, f in one["utilization"].items()}
    busy = {u: busy1.get(u, 0.0) + (layers - 1) * (f * two["total_cycles"] - busy1.get(u, 0.0))
            for u, f in two["utilization"].items()}
    out["utilization"] = {u: min(1.0, max(0.0, b / total)) if total else 0.0 for u, b in busy.items()}
    out["mac_utilization"] = out["macs"] / (out["arch"]["peak_macs_per_cycle"] * total) if total else 0.0
    out["layer_samples"] = [1, 2]
    return out


def combine_pipeline(stages: Sequence[tuple[int, dict]], *, micro_batches: int, interleave: int, p2p_cycles: float,
                     p2p_count: int, name: str, simulation: dict) -> dict:
    """One report dict from ``(stage index, report)`` for every stage 0 … P − 1 in order (equal stages may share one
    report dict); ``simulation`` (tasks, events, passes) counts the simulations actually run; see the module
    docstring."""
    m, v, pp = micro_batches, interleave, len(stages)
    split = [split_optimizer(r) for _, r in stages]
    per_micro = [t for t, _ in split]
    fill = schedule_cycles(per_micro, m, v)
    tail = max(o for _, o in split)
    p2p = p2p_count * p2p_cycles
    total = fill + tail + p2p
    k_slow = max(range(pp), key=lambda k: per_micro[k])
    slow = stages[k_slow][1]
    out = {k: val for k, val in slow.items() if k not in ("ops", "_optimizer_share", "layer_samples")}
    out["name"] = name
    out["total_cycles"] = round(total)
    clock = float(slow["clock_hz"])
    out["seconds"] = total / clock
    slow_s = float(slow["seconds"])
    out["launch_overhead_s"] = float(slow.get("launch_overhead_s", 0.0)) / slow_s * out["seconds"] if slow_s else 0.0
    shares = {id(r): r.get("_optimizer_share") or _optimizer_share(r) for _, r in stages}  # once per distinct report
    for key in (*SCALED, "bytes"):
        acc: dict[str, float] = {}
        for _, r in stages:
            opt = shares[id(r)]
            items = r[key].items() if key == "bytes" else [(None, r[key])]
            for lv, val in items:
                once = opt.get(f"bytes.{lv}" if key == "bytes" else key, 0)
                acc[lv] = acc.get(lv, 0) + m * (val - once) + once
        out[key] = {lv: round(x) for lv, x in acc.items()} if key == "bytes" else round(acc[None])
    peak = slow["arch"]["peak_macs_per_cycle"]
    out["mac_utilization"] = out["macs"] / (peak * pp * total) if total else 0.0
    out["utilization"] = {u: min(1.0, frac * per_micro[k_slow] * m / total) if total else 0.0
                          for u, frac in slow["utilization"].items()}
    out["ops"] = [{**op, "stage": k_slow} for op in slow.get("ops", ())]
    stage_rows = []
    for (k, r), (t, o) in zip(stages, split, strict=True):
        mem = r.get("memory", {}).get("hbm", {})
        in_flight = min(pp - k, m)
        used = mem.get("used", 0) + (in_flight - 1) * mem.get("activations", 0)
        stage_rows.append({"stage": k, "micro_batch_s": t / clock, "optimizer_s": o / clock,
                           "activations_in_flight": in_flight, "hbm_used_bytes": used,
                           "hbm_fraction": used / mem["capacity"] if mem.get("capacity") else 0.0})
    ideal = m * max(per_micro)
    out["pipeline"] = {
        "stages": pp, "micro_batches": m, "interleave": v, "bottleneck_stage": k_slow,
        "iteration_s": out["seconds"], "bubble_s": (fill - ideal) / clock,
        "bubble_fraction": (fill - ideal) / total if total else 0.0,
        "optimizer_s": tail / clock, "p2p_s": p2p / clock, "p2p_transfers": p2p_count,
        "stage_times": stage_rows,
        "layer_samples": [1, 2] if any("layer_samples" in r for _, r in stages) else None,
    }
    notes = list(out.get("notes", []))
    for row in stage_rows:
        if row["hbm_fraction"] > 1:
            notes.append(f"pipeline stage {row['stage']}: {row['activations_in_flight']} micro-batches of "
                         f"activations in flight need {row['hbm_used_bytes']:,} B of HBM, more than its capacity "
                         f"(use recompute, more stages or smaller micro-batches)")
    out["notes"] = notes
    out["simulation"] = dict(simulation)
    return out
