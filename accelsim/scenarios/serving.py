"""LLM serving: a prefill pass and N decode steps in one report, with TTFT, TPOT, throughput and footprint.

Each pass (prefill, decode step 0, 1, ...) is simulated on its own, one after another (batch sequences in
lock-step, the KV cache one token longer each step), and only its figures are kept (its task graph and trace
too with ``options.trace``, for the Chrome trace), so memory is bounded by the largest pass; with more steps than ``options.decode_samples`` only some
are simulated and the others interpolated (:mod:`accelsim.scenarios.sampling`). The report:

* ``total_cycles``, ``seconds``, ``launch_overhead_s``: sums over the prefill and every decode step;
  ``launch_bound_fraction`` their ratio; ``execution`` each phase's launch mode (with ``options.execution:
  auto`` the prefill runs eagerly and decode steps as CUDA graphs, :func:`pass_options`);
* ``ops``: the prefill's ops (``phase: prefill``, ``count`` 1) and the decode step's ops (``phase: decode``,
  ``count`` N), the latter with the work of all N steps (interpolated ones included) and the timing of the first
  decode step, on the run's timeline (it starts where the prefill ends). ``macs``, ``flops``, ``bytes``,
  ``stall_cycles`` and ``stalls_by_level`` are the sums of these rows (:mod:`accelsim.scenarios.passes`);
* ``utilization`` and ``mac_utilization``: over the whole run (busy cycles summed / total cycles);
  ``simulation`` counts the simulated passes; ``params`` is the model's and, under tensor parallelism,
  ``params_per_chip`` the parameters of the largest pass's graph (one chip's shard);
* ``serving``: ``ttft_s`` (the prefill, which yields each sequence's first token; without a prefill, the first
  decode step), ``tpot_s`` (mean seconds per decode step), ``tokens_per_s`` (batch · decode steps / decode
  seconds), ``step_cycles`` (every decode step), ``kv_cache_bytes``, ``weight_bytes`` and ``memory`` (the
  footprint per level, of the last step).
"""

from __future__ import annotations

from dataclasses import replace

from ..config import WorkloadSpec, build_graph
from ..energy import account
from ..hardware import Arch
from ..options import Options
from ..report import Report
from .passes import Pass, Rows, Work, compose_ops, counted_busy
from .sampling import decode_samples, interpolation_weights, pass_scales
from .single import Progress, simulate_pass


def serve(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
          progress: Progress | None = None) -> Report:
    """An LLM serving run: the prefill (when ``phase`` is prefill) then ``decode_steps`` decode steps, the KV
    cache one token longer each step, batch sequences in lock-step (see the module docstring).

    With more decode steps than ``options.decode_samples``, that many steps (evenly spread, first and last
    included) are simulated and the others interpolated linearly in the KV length between their simulated
    neighbours; the report says which steps were simulated.
    """
    options = options or Options()
    params = dict(workload.params)
    steps = int(params.get("decode_steps") or 0)
    plan: list[tuple[str, int, WorkloadSpec]] = []
    if params.get("phase", "prefill") == "prefill":
        plan.append(("prefill", 0, replace(workload, params={**params, "decode_steps": 0})))
        start_kv = int(params["seq_len"])
    else:
        start_kv = int(params["kv_len"])
    sampled = decode_samples(steps, options.decode_samples)
    for i in sampled:
        plan.append(("decode", i, replace(workload, params={**params, "phase": "decode", "kv_len": start_kv + i,
                                                                "decode_steps": 0})))
    prefill: list[Pass] = []
    decode: list[Pass] = []
    segments, offset = [], 0
    graph = None
    for n, (phase, step, spec) in enumerate(plan):
        if progress:
            progress(f"{phase} step {step}" if phase == "decode" else phase, n, len(plan))
        graph = build_graph(spec, arch.dtype)
        p, rep = simulate_pass(graph, arch, pass_options(options, phase), name=name, workload=workload)
        (prefill if phase == "prefill" else decode).append(p.without_tasks())
        if options.trace:  # each pass's task graph and trace are kept only for a Chrome trace
            segments.append((*rep.segments[0][:2], offset))
        del rep
        offset += p.timing.cycles
    assert graph is not None
    footprint = {"kv_cache_bytes": int(graph.meta.get("kv_cache_bytes", 0)), "weight_bytes": graph.weight_bytes,
                 "memory": (decode or prefill)[-1].timing.memory}
    data = _combine(prefill[0] if prefill else None, decode, sampled, steps=steps, batch=int(params.get("batch", 1)),
                    footprint=footprint, name=name or f"{graph.name}_{arch.name}")
    data.update(account(data, arch))  # energy of the composed run (the passes' own were copied)
    return Report(data, segments=segments)


def pass_options(options: Options, phase: str) -> Options:
    """A pass's options: with ``execution: auto``, decode steps run as CUDA graphs (as serving engines replay
    captured decode graphs: vLLM, TensorRT-LLM, SGLang) and the prefill eagerly."""
    if options.execution == "auto":
        return options.model_copy(update={"execution": "cuda_graph" if phase == "decode" else "eager"})
    return options


def _decode_work(decode: list[Pass], scales: list[float]) -> list[Work]:
    """Per op of a decode step, the work of every step: each simulated step's work times its scale."""
    names = [r["name"] for r in decode[0].rows]
    for p in decode[1:]:
        assert [r["name"] for r in p.rows] == names, "decode steps differ in their ops"
    return [Work.combination(zip(works, scales, strict=True))
            for works in zip(*(p.work for p in decode), strict=True)]


def _combine(prefill: Pass | None, decode: list[Pass], sampled: list[int], *, steps: int, batch: int,
             footprint: dict, name: str) -> dict:
    """The serving report (see the module docstring)."""
    weights = interpolation_weights(steps, sampled)
    scales = pass_scales(weights, len(decode))
    weighted = ([(prefill, 1.0)] if prefill else []) + list(zip(decode, scales, strict=True))
    parts = []
    if prefill:
        parts.append(Rows(prefill, prefill.work, [1] * len(prefill.work), {"phase": "prefill"}))
    if decode:
        parts.append(Rows(decode[0], _decode_work(decode, scales), [steps] * len(decode[0].work),
                          {"phase": "decode"}, offset=prefill.timing.cycles if prefill else 0))
    ops, totals = compose_ops(parts)
    first = weighted[0][0]
    clock = float(first.report["clock_hz"])
    total = round(sum(s * p.timing.cycles for p, s in weighted))
    busy = counted_busy((p.units, p.unit_busy, [s]) for p, s in weighted)
    out = {k: v for k, v in first.report.items() if k not in ("ops", "kernel_dispatch_s")}  # the latter: one pass's
    seconds = sum(s * p.timing.seconds for p, s in weighted)
    launch_s = sum(s * p.timing.launch_s for p, s in weighted)
    out.update({
        "name": name,
        "total_cycles": total,
        "seconds": seconds,
        "launch_overhead_s": launch_s,
        "launch_bound_fraction": launch_s / seconds if seconds else 0.0,
        "execution": ", ".join(dict.fromkeys(f"{phase} {p.report['execution']}" for phase, p in
                                             (("prefill", prefill), ("decode", decode[0] if decode else None)) if p)),
        "macs": totals.macs,
        "flops": totals.flops,
        "params": first.timing.model_params,
        # where build_report gives one chip's share (tensor parallelism): the largest pass's
        **({"params_per_chip": max(p.timing.params for p, _ in weighted)} if "params_per_chip" in out else {}),
        "utilization": {u: (b / total if total else 0.0) for u, b in busy.items()},
        "mac_utilization": totals.macs / (first.report["arch"]["peak_macs_per_cycle"] * total) if total else 0.0,
        "stall_cycles": totals.stall_cycles,
        "stalls_by_level": totals.stalls_by_level,
        "bytes": totals.bytes,
        "simulation": {"tasks": sum(p.tasks for p, _ in weighted), "events": sum(p.events for p, _ in weighted),
                       "passes": len(weighted)},
        "ops": ops,
    })
    step_cycles = [round(sum(w * decode[j].timing.cycles for j, w in row)) for row in weights]
    decode_s = sum(step_cycles) / clock
    ttft = prefill.timing.seconds if prefill else (step_cycles[0] / clock if step_cycles else 0.0)
    out["serving"] = {
        "batch": batch,
        "prefill_cycles": prefill.timing.cycles if prefill else 0,
        "decode_steps": steps,
        "decode_steps_simulated": list(sampled),
        "decode_cycles": sum(step_cycles),
        "step_cycles": step_cycles,
        "ttft_s": ttft,
        "tpot_s": decode_s / steps if steps else None,
        "tokens_per_s": batch * steps / decode_s if decode_s else None,
        **footprint,
    }
    return out
