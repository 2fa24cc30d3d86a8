"""Totals, utilisation, bytes, stalls, the per-op table and the roofline of one run: the report.json dict.

Metric definitions (docs/architecture.md repeats them):

* ``total_cycles``: cycle at which the last task completes; ``seconds`` = total_cycles / clock_hz.
* ``launch_overhead_s``: the time kernel launches add to the run (:func:`launch_on_critical_path`: ``seconds``
  less the same schedule replayed with free launches; the host issue time the device waited for, not the host's
  busy time, plus each kernel's device-side dispatch latency);
  ``kernel_dispatch_s``: the device-side dispatch part of it (so ``launch_overhead_s - kernel_dispatch_s`` is the
  host's; a measurement of kernels replayed back to back on the device, e.g. a CUDA graph timed with events,
  includes the dispatch gaps but no host time); ``launch_bound_fraction`` = its share of ``seconds``;
  ``execution``: how the host dispatched kernels ("eager", "cuda_graph", "none": no host time modelled).
* ``utilization[unit]``: cycles the unit was busy / total_cycles (memory units: cycles transferring).
* ``bandwidth_share[level]``: bytes[level] / (the level's bandwidth × seconds), every level of bounded bandwidth:
  the share of its bandwidth the run used, where ``utilization[level]`` is the share of the run it was
  transferring (a latency-bound kernel's transfers, paced below the bandwidth, count as busy all along).
* ``mac_utilization``: MACs / (peak MACs per cycle of the chip × total_cycles), each op's MACs at the peak of
  its dtype (divided by its rate multiplier: :func:`accelsim.report.schema.base_rate_macs`), so at most 1; the
  peak (``arch.peak_macs_per_cycle``, the roofline's) counts the lanes of a core without an array where ops with
  MACs ran on them beside units of ``core.units`` with MACs (:func:`lanes_ran_macs`).
* ``model_flops`` and ``mfu`` (training runs only): 2 × the step's model MACs (forward + backward without the
  recomputed ops: :func:`model_share`, :func:`accelsim.report.schema.model_work`) and model FLOPs utilization =
  model_flops / (the roofline's peak, the chip's peak at the dtype the run computes in, × seconds); where
  ``mac_utilization`` counts what the arrays ran (recomputed forward ops included: hardware FLOPs utilization).
* ``stall_cycles``: summed over compute tasks, the cycles a unit sat idle waiting for a memory task that
  finished after both the unit was free and the task's other dependencies were done (times the cores of a lock-step
  unit that ran the op, its ``mapping.units``); ``stalls_by_level`` splits
  it by the memory level that was late. Several units can stall at once, so it can exceed total_cycles.
* ``bytes[level]``: bytes moved at every level of the hierarchy (``Arch.hierarchy``): at each cache and memory
  (a memory behind a link: over the link), and at the scratchpad the bytes the arrays and vector units read and
  write plus the fills and drains of off-chip transfers. ``levels`` lists the hierarchy in order.
* per op: ``start_cycle``/``end_cycle`` span its device tasks (not its host LAUNCH, which runs ahead of the device:
  eager launches are issued long before a busy device reaches the kernel); ``ready_cycle`` when its inputs were
  ready (its producers' last end, 0 for an op reading only graph inputs; at most its end, before or after its
  start: its parameters may load ahead of it, or it may wait for its unit, so end − ready is its time from its
  inputs ready, a chain's rows adding up to the run); ``arithmetic_intensity`` = work / off-chip bytes
  and ``achieved_flops_per_s`` = work / op duration, ``achieved_bytes_per_s[level]`` = the op's bytes at each
  memory level it touched / op duration (empty for a zero-length op), where a matmul's work is 2 × the MACs its kernel computes (no
  bias adds, no skipped causal blocks: what the arrays' peak counts) and another op's its flops; ``bound`` is ``memory`` when the op's bytes at some memory
  level take longer at that level's bandwidth than its flops at the peak (each level's roofline).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import NamedTuple, get_args

import numpy as np

from ..cost import collective, gpu_tiles, vector
from ..cost.attention import FLASH
from ..energy import account, executed_macs, peak_dynamic_power
from ..energy.model import LINK, NIC
from ..energy.profile import COMPUTE_PART, NO_PART, task_pools
from ..hardware import DEFAULT_VECTOR_COSTS, Arch, OutputPathFn, SystolicArray, dtype_rate, first_unit, usable_bytes
from ..ir import Graph, OpKind
from ..options import Options, recorded
from ..tasks import TaskGraph, TaskKind, UnitKind
from ..trace import Trace
from ..units import format_size
from .data_parallel import data_parallel_notes, data_parallel_record, grad_reduce_phase, grad_reduce_tasks
from .schema import STEP_SCOPE, base_rate_macs, computed_work, model_counts, model_work


def build_report(graph: Graph, arch: Arch, tg: TaskGraph, trace: Trace, *, name: str,
                 workload: Mapping[str, object], version: str, options: Options | None = None) -> dict:
    """The report.json dict of a finished simulation (keys as DESIGN.md's contract, plus details); ``options``
    (the run's) gives its ``options`` record (:func:`accelsim.options.recorded`)."""
    total = trace.total_cycles
    clock = arch.clock_hz
    t = _TaskArrays.of(tg, trace)
    on_unit = t.unit >= 0  # JOIN tasks take no unit
    busy = (np.bincount(t.unit[on_unit], weights=t.occ[on_unit], minlength=len(tg.units)) if len(t.op)
            else np.zeros(len(tg.units)))
    # a stall of a unit standing for `count` lock-step cores (a GPU's SMs) is the stall of the cores its op ran on:
    # `count`, or the op's `mapping.units` when it ran on fewer (a plug-in's fewer whole pieces: emit.lockstep_cores)
    counts = np.array([u.count for u in tg.units] + [0], dtype=np.int64)  # [-1] (a JOIN's unit) → 0
    most = np.iinfo(np.int64).max
    ran = [m.mapping.get("units") for m in tg.ops]
    cores = np.array([n if isinstance(n, int) and n > 0 else most for n in ran] + [most], dtype=np.int64)  # [-1]
    stall = (np.where(t.compute, trace.stall * np.minimum(counts[t.unit], cores[t.op]), 0) if len(t.op)
             else np.zeros(0, dtype=np.int64))
    stalls_by_level, per_op_level = _stalls(arch, trace, t, stall)
    lanes = lanes_ran_macs(arch, tg)  # a core without an array whose lanes ran MACs beside units with MACs
    peak_macs = arch.peak_macs(lanes)
    peak_flops = 2.0 * peak_macs * clock
    roof = peak_flops * _array_rate(graph, arch, lanes)  # the peak of the dtype the run computes in
    bw = arch.memory(arch.main_memory).bandwidth
    ridge = roof / bw if not math.isinf(bw) else 0.0
    ops, bytes_total = _op_rows(graph, arch, tg, trace, t, stall, per_op_level, roof)
    macs = graph.macs
    memory = footprint(graph, arch, tg)
    info = graph.info
    launch, dispatch = launch_on_critical_path(tg, trace)
    work = computed_work(macs, graph.flops, ops)  # what the kernels ran: the ops' own counts, less what they skip
    macs, flops = model_counts(ops)  # the model's: every query × key at any context-parallel split
    mac_util = base_rate_macs(ops) / (peak_macs * total) if total else 0.0
    phases = {**_phases(ops), **grad_reduce_phase(tg, trace), **host_step_phase(tg, trace)}
    dp = data_parallel_record(graph, tg, total / clock, workload)
    util = {u.name: (float(busy[i]) / total if total else 0.0) for i, u in enumerate(tg.units)}
    shares = bandwidth_share(arch, bytes_total, total / clock)
    report = {
        "accelsim_version": version,
        "name": name,
        "workload": dict(workload),
        "arch": _arch_summary(arch, peak_flops, peak_macs),
        "total_cycles": int(total),
        "seconds": total / clock,
        "launch_overhead_s": launch / clock,
        "kernel_dispatch_s": dispatch / clock,
        "launch_bound_fraction": launch / total if total else 0.0,
        "active_fraction": active_cycles(trace, t.work) / total if total else 0.0,
        "execution": tg.execution or "none",
        "kernel_order": tg.kernel_order or "none",
        "options": recorded(options),
        "clock_hz": clock,
        "macs": macs,
        "flops": flops,
        **work,
        "params": info.model_params or graph.params,
        # expert parallelism splits the experts too, as `accelsim info` counts it (probe p213 #2: Mixtral EP 8's
        # 7,242,780,672 a chip was missing from report.json)
        **({"params_per_chip": graph.params} if info.tensor_parallel * info.pipeline_parallel * info.expert_parallel
           * info.embedding_parallel > 1 else {}),
        "levels": report_levels(arch),
        "utilization": util,
        "bandwidth_share": shares,
        "mac_utilization": mac_util,
        **(model_utilization(model_work(ops), roof, total / clock) if graph.meta.get("mode") == "training" else {}),
        "stall_cycles": int(stall.sum()),
        "stalls_by_level": stalls_by_level,
        "bytes": bytes_total,
        "roofline": {"peak_flops_per_s": roof, "bandwidth_bytes_per_s": bounded(bw), "ridge_flops_per_byte": ridge},
        "placement": _placement(tg.placement, tg.tables),
        "memory": memory,
        "notes": (_notes(arch, memory, graph, tg) + rate_notes(tg, arch) + base_rate_notes(arch, tg)
                  + lanes_peak_notes(arch, ops, lanes)
                  + flash_fallback_notes(tg) + kv_dequant_notes(tg)
                  + activation_spill_notes(arch, graph, ops) + depthwise_notes(arch, graph, ops, total)
                  + narrow_tile_notes(ops) + row_pass_notes(arch, graph, ops)
                  + inflight_bound_notes(arch, ops) + sparse_latency_notes(arch, ops)
                  + preload_bound_notes(arch, tg, ops, total, util, graph)
                  + split_activation_notes(arch, graph, ops, bytes_total, (options or Options()).activations_on_chip)
                  + computed_work_notes(flops, computed_work(graph.macs, graph.flops, [
                      op for op in ops if op.get("unit") != "none"
                      and not (op.get("mapping") or {}).get("folded")])["computed_flops"], total / clock,
                      windowed=windowed_attention(graph, ops))
                  + unfused_attention_notes(graph, arch, ops, total, launch, dispatch)
                  + launch_notes(arch, launch / total if total else 0.0,
                                 [("", tg.execution or "none", launch / total if total else 0.0)],
                                 max((util[u.name] for u in tg.units if u.kind is UnitKind.HOST), default=0.0))
                  + epilogue_fusion_notes(graph, arch, tg)
                  + nccl_channel_notes(arch, tg) + nvls_dtype_notes(arch, graph, tg) + custom_all_reduce_notes(
                      arch, ops, total, training=graph.info.mode == "training")
                  + vector_key_notes(arch, graph) + scratchpad_rate_notes(arch) + over_share_notes(arch, shares)
                  + idle_unit_notes(arch, tg, t) + unpriced_fn_notes(arch, graph, ops) + idle_chip_notes(arch, graph)
                  + idle_replica_notes(arch, graph) + tp_across_nodes_notes(arch, graph, ops)
                  + embedding_parallel_notes(arch, graph) + one_chip_notes(arch, graph, mac_util)
                  + moe_drop_notes(graph)
                  + data_parallel_notes(dp, phases, clock, arch.chips, embedding_parallel=info.embedding_parallel)
                  + [str(n) for n in graph.meta.get("notes", ())]),
        **({"tables": {n: _table(t, arch) for n, t in tg.tables.items()}} if tg.tables else {}),
        **({"phases": phases, "phases_scope": STEP_SCOPE} if any("phase" in m.mapping for m in tg.ops) else {}),
        **dp,
        **({"moe": graph.meta["moe"]} if "moe" in graph.meta else {}),
        **({"embedding_parallel": graph.meta["embedding_shards"]} if "embedding_shards" in graph.meta else {}),
        "simulation": {"tasks": len(tg.tasks), "events": trace.events},
        "ops": ops,
    }
    # launches do no op's work; an offloaded optimizer step's host CPUs (options.offload: optimizer_cpu) do it off
    # the chip, drawing none of its power (probe p137 #1)
    off_chip = [i for i, u in enumerate(tg.units) if u.kind in (UnitKind.HOST, UnitKind.HOST_CPU)]
    work = on_unit & ~np.isin(t.unit, off_chip) if off_chip else on_unit

    def peak(computes: list[float], moved: dict[str, list[float]]) -> float:
        # each part of an op's energy drawn by the tasks that spend it (energy.profile.task_pools): its compute by
        # its COMPUTE tasks, a level's bytes by the tasks on that level's bandwidth server
        levels = list(moved)
        column = {lv: k for k, lv in enumerate(levels)}
        unit_part = np.array([1 + column[u.level] if u.kind is UnitKind.MEMORY and u.level in column else NO_PART
                              for u in tg.units] + [NO_PART], dtype=np.int64)  # [-1]: a JOIN's unit
        part = np.where(t.compute, COMPUTE_PART, unit_part[t.unit])
        compute_j = np.array(computes, dtype=np.float64)
        level_j = (np.array([moved[lv] for lv in levels], dtype=np.float64).T if levels
                   else np.zeros((len(compute_j), 0)))
        op, occ, start = t.op[work], t.occ[work], trace.start[work]
        pool_j, pool, index = task_pools(compute_j, level_j, op, part[work], occ)
        return peak_dynamic_power(pool_j, pool, start[index], occ[index], total, clock)

    report.update(account(report, arch, peak_dynamic_w=peak))
    return report


class _TaskArrays(NamedTuple):
    """Per-task columns of a TaskGraph as numpy arrays: op index, unit index, occupancy, is-compute,
    the-chip-does-an-op's-work (:func:`chip_work`) and runs-on-the-device (every task but a host LAUNCH)."""

    op: np.ndarray
    unit: np.ndarray
    occ: np.ndarray
    compute: np.ndarray
    work: np.ndarray
    device: np.ndarray

    @classmethod
    def of(cls, tg: TaskGraph, trace: Trace | None = None) -> _TaskArrays:
        """The columns of ``tg``'s tasks: those the engine kept in ``trace`` where it has them (a transpose of
        resnet152 training's 168,414 tasks in Python took 0.2 s of a 2.9 s run), else ``tg``'s transposed."""
        if not tg.tasks:
            empty = np.zeros(0, dtype=np.int64)
            no = np.zeros(0, dtype=bool)
            return cls(empty, empty, empty, no, no, no)
        if trace is not None and trace.kind is not None and len(trace.kind) == len(tg.tasks):
            op, unit, cycles, kinds = trace.op, trace.unit, trace.cycles, trace.kind
        else:
            _, op, kind, unit, cycles, *_ = zip(*tg.tasks, strict=True)  # Task is a NamedTuple: its columns at once
            kinds = np.array(kind, dtype=np.int64)
        unit = np.asarray(unit, dtype=np.int64)
        return cls(np.asarray(op, dtype=np.int64), unit, np.asarray(cycles, dtype=np.int64),
                   kinds == TaskKind.COMPUTE, chip_work(tg, kinds, unit), kinds != TaskKind.LAUNCH)


def chip_work(tg: TaskGraph, kinds: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Which of ``tg``'s tasks (their ``kinds`` and ``units`` columns) do some op's work on the chip: a LOAD,
    COMPUTE or STORE (not a host launch, a device dispatch gap or a JOIN) on a unit other than the host's CPUs
    running an offloaded optimizer step (``UnitKind.HOST_CPU``, ``options.offload: optimizer_cpu``: the chip
    idles while they compute; probe p137 #1 found their 48.6 ms counted as gpt2's chip activity on dgx-h100)."""
    work = np.isin(kinds, (TaskKind.LOAD, TaskKind.COMPUTE, TaskKind.STORE))
    cpus = [i for i, u in enumerate(tg.units) if u.kind is UnitKind.HOST_CPU]
    return work & ~np.isin(units, cpus) if cpus else work


def active_cycles(trace: Trace, work: np.ndarray, until: int | None = None) -> int:
    """Cycles in which the chip does some op's work: the union of the ``work`` tasks' [start, end) intervals
    (:func:`chip_work`: a kernel's loads, tiles and stores; not the host's launches, the device's dispatch gaps
    between kernels nor an offloaded optimizer step on the host's CPUs), those before cycle ``until`` where given. The energy model draws ``energy.activity_power_share``
    over them (docs/energy.md)."""
    start, end = trace.start[work], trace.end[work]
    if until is not None:
        before = start < until
        start, end = start[before], np.minimum(end[before], until)
    if not len(start):
        return 0
    order = np.argsort(start, kind="stable")
    start, end = start[order], np.maximum.accumulate(end[order])  # end: the furthest end reached so far
    gaps = start[1:] - end[:-1]  # a positive gap: no task running between the two
    return int(end[-1] - start[0] - gaps[gaps > 0].sum())


def active_cycles_before(tg: TaskGraph, trace: Trace, until: int) -> int:
    """:func:`active_cycles` of the run of ``tg`` before cycle ``until`` (a training pass's forward and backward,
    which a pipeline runs once per micro-batch, without its optimizer tail), its work tasks as ``active_fraction``'s."""
    kinds = np.fromiter((t.kind for t in tg.tasks), dtype=np.int64, count=len(tg.tasks))
    units = np.fromiter((t.unit for t in tg.tasks), dtype=np.int64, count=len(tg.tasks))
    return active_cycles(trace, chip_work(tg, kinds, units), until)


def _stalls(arch: Arch, trace: Trace, t: _TaskArrays, stall: np.ndarray
            ) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """Stall cycles by level (every memory listed, zero or not) and by op and level."""
    by_level = {lv: 0 for lv in arch.memories}
    per_op: dict[int, dict[str, int]] = {}
    for lv_i, lv in enumerate(trace.levels):
        mask = (trace.stall_level == lv_i) & t.compute
        by_level[lv] = int(stall[mask].sum())
        if mask.any():
            for oi, s in _group_sum(t.op[mask], stall[mask]):
                per_op.setdefault(oi, {})[lv] = s
    return in_level_order(arch, by_level), per_op


def report_levels(arch: Arch) -> list[dict]:
    """report.json's ``levels``: the hierarchy innermost first, and after the scratchpad the SRAM that holds the
    systolic arrays' partial sums where the core has one of its own (``core.systolic.accumulator_sram``, role
    ``accumulator``: tpu-v1's accumulators, capacity per core, bandwidth null; it holds no tensor and no task moves
    its bytes, probe p279 #1)."""
    out = [{"name": lv.name, "role": lv.role, "capacity": lv.capacity, "bandwidth": bounded(lv.bandwidth)}
           for lv in arch.hierarchy()]
    held = arch.partial_sum_sram()
    if held is not None:
        out.insert(1, {"name": held, "role": "accumulator", "capacity": arch.partial_sum_sram_bytes(),
                       "bandwidth": None})
    return out


def in_level_order(arch: Arch, by_level: dict) -> dict:
    """``by_level`` with the levels of the hierarchy first, innermost first (as report.json's ``levels``: a cache
    before the memories behind it), then any other key (the chip link) as it came."""
    order = [lv["name"] for lv in report_levels(arch) if lv["name"] in by_level]
    return {**{lv: by_level[lv] for lv in order}, **by_level}


def _op_rows(graph: Graph, arch: Arch, tg: TaskGraph, trace: Trace, t: _TaskArrays, stall: np.ndarray,
             per_op_level: dict[int, dict[str, int]], roof: float) -> tuple[list[dict], dict[str, int]]:
    """The per-op rows of report.json (span, cycles, stalls, bytes, roofline position) and the bytes per level.
    An op is memory-bound when moving its bytes at some memory level's bandwidth takes longer than its work at its
    own unit's peak (a matmul's FLOPs at the arrays' peak ``roof``; another op's compute cycles, which its vector
    units' lanes set): the roofline of each level (a hierarchical roofline), so an op whose weights live in host
    memory is bound by the host link even when its intensity is above the main memory's ridge."""
    n_ops = len(tg.ops)
    starts = np.full(n_ops, -1, dtype=np.int64)
    ends = np.full(n_ops, -1, dtype=np.int64)
    op_stall = np.zeros(n_ops, dtype=np.int64)
    if len(t.op):
        # an op's span is its time on the device: from its dispatch (or first load) to its last task, not from
        # its host LAUNCH, which the host issues ahead of the device (in eager mode long before a busy device
        # reaches the kernel, so counting it would make spans, and the training phases', overlap)
        # (nor the data-parallel gradient reduction the mapper attributes to the optimizer steps: a step's row spans
        # its own math, the reduction is phases.grad_reduce)
        own = t.device & ~grad_reduce_tasks(tg)
        dev = t.op[own]
        np.maximum.at(ends, dev, trace.end[own])
        first = np.full(n_ops, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, dev, trace.start[own])
        starts = np.where(first == np.iinfo(np.int64).max, -1, first)
        np.add.at(op_stall, t.op, stall)
    clock = arch.clock_hz
    memories = arch.memories  # (a property: read once, not once per op)
    bandwidth = {lv: arch.memory(lv).bandwidth for lv in memories}
    # every level of the hierarchy (a cache too) and, with chips, the link: 0 when untouched, so the keys (and
    # ops.csv's bytes_ columns) are the arch's, whatever the workload touches, as levels and stalls_by_level are
    held = arch.partial_sum_sram()  # the arrays' partial sums' own SRAM (tpu-v1's accumulators), after the scratchpad
    bytes_total = ({lv.name: 0 for lv in arch.hierarchy()} | ({held: 0} if held else {})
                   | ({LINK: 0} if arch.chips > 1 else {}))
    ops = []
    op_end: dict[str, int] = {}
    starts_l, ends_l, stall_l = starts.tolist(), ends.tolist(), op_stall.tolist()
    for i, m in enumerate(tg.ops):
        into = m.mapping.get("ring_folded_into")
        if into in op_end:  # a ring step folded into an earlier one (mapping/ring.py): done when the op standing
            s_c = e_c = op_end[into]  # for it ends (no span of its own: that op's spans its r copies)
        elif starts_l[i] < 0:  # no tasks: a view or a folded op happens when its inputs are ready
            s_c = e_c = max((op_end.get(s, 0) for s in graph.ops[i].inputs), default=0)
        else:
            s_c, e_c = starts_l[i], ends_l[i]
        # when its inputs were ready: its producers' last end (0 for an op reading only graph inputs or none), not
        # after its end: its parameters may load before it, and it may start after it, waiting for its unit; an op
        # run in another's kernel (Op.in_kernel_of: a training max pool's indices, which read nothing) after that one
        after = (*graph.ops[i].inputs, *(k for k in (graph.ops[i].in_kernel_of,) if k is not None))
        ready = min(e_c, max((op_end.get(src, 0) for src in after), default=0))
        op_end[m.name] = e_c
        for lv, b in m.bytes.items():
            bytes_total[lv] = bytes_total.get(lv, 0) + b
        off = sum(m.bytes.get(lv, 0) for lv in memories)
        # a matmul's work is what its arrays compute, in the units of their peak: 2 FLOPs a MAC of the blocks its
        # kernel computes (a causal FlashAttention skips about half; an array that does not skip a pruned op's
        # zeros multiplies them), not its bias adds, which the arrays' peak does not count (as PyTorch's
        # FlopCounterMode); another op's FLOPs are its own
        matmul = graph.ops[i].kind.is_matmul
        work = 2 * executed_macs({"macs": m.macs, "mapping": m.mapping}) if matmul else m.flops
        ai = work / off if off else None
        memory_s = max((m.bytes.get(lv, 0) / bw for lv, bw in bandwidth.items() if bw < math.inf), default=0.0)
        # the op's work at its own unit's peak: a matmul's FLOPs at the arrays' (the roofline's), any other op's
        # cycles on its units (the vector model's elements x lane-cycles / lanes)
        compute_s = work / roof if matmul else m.compute_cycles / clock
        # "none": an op with no work of its own, on no unit (a batch norm folded into its conv) or taking no cycles
        # and moving no bytes (an activation fused into its producer's epilogue): it has no roofline position
        # (probe p86 #6: ResNet-50's fused relu rows read "compute", its folded bn rows "none")
        bound = ("none" if m.unit == "none" or (not m.compute_cycles and not any(m.bytes.values()))
                 else LINK if m.unit in (LINK, NIC) else "memory" if memory_s > compute_s else "compute")
        ops.append({
            "name": m.name, "kind": m.kind, "fn": m.fn, "unit": m.unit, "core": m.core,
            "macs": m.macs, "flops": m.flops, "start_cycle": s_c, "end_cycle": e_c,
            "ready_cycle": ready, "compute_cycles": m.compute_cycles, "stall_cycles": stall_l[i],
            **({"fixed_cycles": fx} if (fx := gpu_tiles.exposed_fixed(m.mapping, m.mapping.get("units", 1))) else {}),
            "stalls_by_level": per_op_level.get(i, {}), "bytes": dict(m.bytes), "tiles": m.tiles,
            # one execution's rate: a row standing for r folded ring steps (mapping ring_repeat) spans all r
            "arithmetic_intensity": ai,
            "achieved_flops_per_s": int(m.mapping.get("ring_repeat", 1)) * work / ((e_c - s_c) / clock)
            if e_c > s_c else None,
            # the bytes each memory level moved for it over its span, one execution's rate as above
            "achieved_bytes_per_s": {lv: int(m.mapping.get("ring_repeat", 1)) * b / ((e_c - s_c) / clock)
                                     for lv in memories if (b := m.bytes.get(lv, 0))} if e_c > s_c else {},
            "bound": bound, "mapping": m.mapping,
            **({} if (share := model_share(graph.ops[i])) == 1.0 else {"model_share": share}),
            **({"model_scale": float(scale)} if (scale := graph.ops[i].attrs.get("model_scale")) else {}),
        })
    return ops, in_level_order(arch, bytes_total)


def model_share(op) -> float:
    """The share of ``op``'s MACs that are the model's own work in a training step (``builders.training`` marks
    both kinds of recomputation with attrs ``recompute``): a fused attention backward's MACs less the score matrix
    S = QKᵀ it recomputes (it also has ``bwd_gemms``, the first of which is S); 0 for a recomputed copy of a
    forward op (``{op}.recompute``); 1 otherwise. Times attrs ``model_scale`` where a context-parallel attention
    (and its backward, which copies the attr) has one: the model's count of a causal attention is every query ×
    key at any context_parallel, so the chunk pairs above the diagonal that the split leaves out still count
    (``TransformerBuilder._cp_model_scale``; above 1). Divided by attrs ``tp_replicas``, the copies of the op the
    tensor-parallel chips run together (``TransformerBuilder.replicated``: tp for GPT-2's tied LM head, which every
    chip runs whole; tp / kv_heads for a K/V projection of fewer KV heads than chips), so the model counts it once
    over them and ``model_flops`` is this chip's share of the model's work (probe p138 #1: GPT-2 at
    TP 2 counted its head on both chips, 4.448e12 FLOPs a chip where the model's 7.0e12 over 2 is 3.5e12)."""
    attrs = op.attrs
    scale = float(attrs.get("model_scale", 1.0)) / float(attrs.get("tp_replicas", 1))  # type: ignore[call-overload]
    if not attrs.get("recompute") or not op.macs:
        return scale
    gemms = attrs.get("bwd_gemms")
    if gemms:
        m, n, k, count = gemms[0]
        return scale * (1.0 - m * n * k * count / op.macs)
    return 0.0


def model_utilization(model_macs: float, peak_flops_per_s: float, chip_seconds: float) -> dict[str, float | int]:
    """``model_flops`` (2 × ``model_macs``) and ``mfu`` = model_flops / (``peak_flops_per_s`` × ``chip_seconds``:
    the seconds of the run times the chips whose work ``model_macs`` counts)."""
    flops = 2 * model_macs
    denom = peak_flops_per_s * chip_seconds
    return {"model_flops": round(flops), "mfu": flops / denom if denom > 0 else 0.0}


def _array_rate(graph: Graph, arch: Arch, lanes: bool = False) -> float:
    """The MAC units' best rate multiplier over the dtypes the graph's MAC ops compute in (``dtype_rate``; 1 for
    a unit that lists no rates), averaged over the units by their peak MACs (the systolic arrays and any unit of
    ``core.units`` with MACs): the roofline's peak is that of the fastest dtype the run uses (an int8 GEMM on an
    H100 has twice the bf16 peak; an fp32 one a fifteenth of it), so no op sits above the roof."""
    dtypes = list(dict.fromkeys(op.dtype for op in graph.ops if op.macs))
    parts = []
    for u in arch.core.unit_specs(lanes):
        macs = u.macs_per_cycle
        if macs:
            rates = getattr(u.spec, "rates", None)
            parts.append((macs, max((dtype_rate(rates, d)[1] for d in dtypes), default=1.0) if rates else 1.0))
    if len({rate for _, rate in parts}) <= 1:
        return parts[0][1] if parts else 1.0
    return sum(macs * rate for macs, rate in parts) / sum(macs for macs, _ in parts)


def lanes_ran_macs(arch: Arch, tg: TaskGraph) -> bool:
    """Whether ops with MACs ran on the vector lanes of a core with no systolic array beside units of ``core.units``
    with MACs, which then are the peak (:meth:`~accelsim.hardware.Core.unit_specs`): those units' ``accepts`` left
    some matmul-family op to the lanes (a crossbar taking only linear layers and convolutions leaves an attention's
    matmuls there). The run's peak then counts the lanes too (:meth:`~accelsim.hardware.Arch.peak_macs`), as their
    MACs count in ``mac_utilization``: against the units' peak alone a vector DSP with a slow crossbar ran its
    attention at 17,007.8 % (probe p103 #3)."""
    specs = arch.core.unit_specs()
    if arch.core.systolic is None and not any(u.runs_gemms for u in specs) and any(u.macs_per_unit for u in specs):
        lanes = {i for i, u in enumerate(tg.units) if u.kind is UnitKind.COMPUTE and u.group == "vector"}
        ran = {task.op for task in tg.tasks if task.kind is TaskKind.COMPUTE and task.unit in lanes}
        return any(tg.ops[i].macs for i in ran)
    return False


def peak_report(reports: Sequence[Mapping[str, object]]) -> Mapping[str, object]:
    """Of the reports of a composed run's passes, the one whose peak (``arch.peak_macs_per_cycle``) is largest, the
    first on a tie: its ``arch`` and ``roofline`` are the composed run's, and ``mac_utilization`` the composed MACs
    over that peak. The passes' peaks differ only where some pass ran MACs on the lanes of a core without an array
    and another did not (:func:`lanes_ran_macs`): the largest bounds every pass's MACs, so the share stays ≤ 1."""
    return max(reports, key=lambda r: float(r["arch"]["peak_macs_per_cycle"]))  # type: ignore[index]


LANES_NOTE_MARK = " on the vector lanes"
"""What :func:`lanes_peak_notes`' line says after its MACs (:func:`sampled_notes` finds a layer sample's by it)."""


def lanes_peak_notes(arch: Arch, ops: Sequence[Mapping[str, object]], lanes: bool) -> list[str]:
    """One line when the run's peak counts the vector lanes beside the units of ``core.units`` (:func:`lanes_ran_macs`):
    which ops ran their MACs there, and how to keep them off the lanes. A row stands for its ``count`` ops (a
    layer sample's, :func:`sampled_notes`)."""
    if not lanes:
        return []
    on = [op for op in ops if str(op.get("unit", "")).split(" ")[0].endswith(".vector") and op.get("macs")]
    macs = sum(_count(op) * int(op["macs"]) for op in on)  # type: ignore[call-overload]
    kinds = ", ".join(dict.fromkeys(str(op.get("kind")) for op in on))
    return [f"{sum(_count(op) for op in on):,} op(s) ({kinds}) ran {macs:,} MACs{LANES_NOTE_MARK}, which the units "
            f"of core.units do not take (their accepts()): the peak counts the lanes' {arch.core.vector.lanes} MACs a cycle a core "
            f"beside the units' (peak_macs_per_cycle {arch.peak_macs(True):g}, not the {arch.peak_macs_per_cycle:g} "
            f"'accelsim info' gives), so mac_utilization is their share of both; write accepts() to take those ops "
            f"to run them on the units"]


def bandwidth_share(arch: Arch, moved: Mapping[str, int], seconds: float) -> dict[str, float]:
    """The share of each bounded level's bandwidth the run's bytes used: ``bytes[level]`` / (its ``bandwidth`` as
    ``levels`` states it × ``seconds``), in hierarchy order. ``utilization[level]`` is another figure: the share of
    the run the level was transferring, which counts a latency-bound kernel's waits (a modelled GPU kernel's walk,
    :data:`accelsim.cost.vector.KERNELS`, paces its transfers at a fraction of the bandwidth), so a level can be
    busy nearly all the run while moving half of what its bandwidth allows."""
    return {lv.name: (moved.get(lv.name, 0) / (lv.bandwidth * seconds) if seconds else 0.0)
            for lv in arch.hierarchy() if not math.isinf(lv.bandwidth) and lv.bandwidth > 0}


def bounded(bandwidth: float) -> float | None:
    """A bandwidth as report.json states it: the number, or None (JSON null) for an unbounded one (RFC 8259 JSON
    has no Infinity)."""
    return None if math.isinf(bandwidth) else bandwidth


def _arch_summary(arch: Arch, peak_flops: float, peak_macs: float) -> dict:
    """report.json's ``arch``: the figures of the chip a reader needs beside the results (``peak_macs``: the run's
    peak MACs per cycle, :func:`lanes_ran_macs`)."""
    sa, pads = arch.core.systolic, arch.core.sram.total_bytes * arch.cores  # the scratchpads; caches are on chip too
    return {"name": arch.name, "clock_hz": arch.clock_hz, "cores": arch.cores, "chips": arch.chips,
            "dtype": arch.dtype, "peak_macs_per_cycle": peak_macs, "peak_flops_per_s": peak_flops,
            "systolic": {"rows": sa.rows, "cols": sa.cols, "dataflow": sa.dataflow, "count": sa.count} if sa else None,
            "vector": {"lanes": arch.core.vector.lanes},  # a core's (probe p82 #2: compare could not show it)
            **({"units": arch.core.model_dump(mode="json", include={"units"})["units"]} if arch.core.units else {}),
            "memory_bytes_per_s": {lv: bounded(arch.memory(lv).bandwidth) for lv in arch.memories},
            "sram_bytes": pads, "on_chip_bytes": pads + sum(arch.memory(c).capacity for c in arch.caches),
            "levels": {lv: _level_summary(arch, lv) for lv in (*arch.caches, *arch.memories)},
            **({"interconnect": interconnect_summary(arch.interconnect)}
               if arch.chips > 1 and arch.interconnect is not None else {})}


def _level_summary(arch: Arch, name: str) -> dict:
    """report.json's ``arch.levels[name]``: what the arch gives a cache or memory level (units in the keys)."""
    lv = arch.memory(name)
    return {"role": lv.role, "capacity_bytes": lv.capacity, "bytes_per_s": bounded(lv.bandwidth),
            "latency_s": lv.latency, "access_bytes": lv.access_bytes}


def interconnect_summary(ic) -> dict:
    """report.json's ``arch.interconnect``: the chips' links as resolved, every field set (bandwidth and latency
    with their units in the keys; nested tuning as written)."""
    out = {k: v for k, v in ic.model_dump(mode="json", exclude_none=True).items()
           if v != "" and (k != "wraparound" or ic.topology == "torus")}  # (no kind; a torus's wraparound only)
    return {"bytes_per_s": out.pop("bandwidth"), "latency_s": out.pop("latency"), **out}


def _notes(arch: Arch, memory: dict[str, dict[str, float]], graph: Graph, tg: TaskGraph) -> list[str]:
    """The memory notes (:func:`spill_notes`), and one line for each memory that holds host data (Weight role
    "host", placed there on purpose)."""
    held = held_bytes(arch, graph, tg)
    data = [w.name for op in graph.ops for w in op.weights if w.role == "host"]
    hosted = held["host_data"]
    return spill_notes(memory, held, tg.offload) + [
        f"{_b(hosted[lv])} of host data ({', '.join(dict.fromkeys(data))}: tensors the host holds, such as a "
        f"graph's node features a host-side sampler gathers) live in {lv} memory; their reads cross the {lv} link"
        for lv in arch.memories[1:] if hosted[lv]]


def held_bytes(arch: Arch, graph: Graph, tg: TaskGraph) -> dict[str, dict[str, int]]:
    """Per memory, the bytes of host data placed there (``host_data``: Weight role "host") and of weights the pass
    holds but does not read (``unread``: an ``unused_params`` view's): what :func:`spill_notes` says apart."""
    data = {w.name: w.nbytes(op.dtype) for op in graph.ops for w in op.weights if w.role == "host"}
    idle = graph.unread_weights()
    return {"host_data": {lv: sum(_bytes_at(n, b, lv, tg) for n, b in data.items()) for lv in arch.memories},
            "unread": {lv: sum(_bytes_at(n, b, lv, tg) for n, b in idle.items()) for lv in arch.memories}}


OFFLOADED = {"optimizer": ("optimizer_states", "optimizer states"),
             "optimizer_cpu": ("optimizer_states", "optimizer states"),
             "activations": ("activations", "activations stashed for the backward pass")}
"""``options.offload``: the footprint key of the state it moves to the second memory, and its name in a note."""


def spill_notes(memory: Mapping[str, Mapping[str, float]], held: Mapping[str, Mapping[str, float]],
                offload: str = "") -> list[str]:
    """One line for each memory beyond the main one (``memory``'s first level; its levels in order) that holds
    state: what ``options.offload`` put in the second memory (``offload``: the optimizer states or the training
    stash), and what did not fit the memories before it (it streams over its link; saying how much of it the pass
    does not read, ``held["unread"]``), host data (``held["host_data"]``) left out; and a line when the main
    memory would hold more than its capacity. From numbers only, so a composed report (a pipeline stage of n
    layers known from samples of 1 and 2, a serving run's last decode step) says it of its own footprint."""
    levels = list(memory)
    if not levels:
        return []
    main = levels[0]
    key, what = OFFLOADED.get(offload, ("", ""))
    hosted, unread = held.get("host_data", {}), held.get("unread", {})
    out = []
    for i, lv in enumerate(levels[1:], start=1):
        moved = int(memory[lv].get(key, 0)) if key and i == 1 else 0
        if moved:
            out.append(f"{_b(moved)} of {what} live in {lv} memory as options.offload: {offload} asks, "
                       + (f"where {lv}'s CPU runs the optimizer step on them (ZeRO-Offload, Ren et al. 2021): only "
                          f"the gradients and the updated parameters cross the {lv} link; with data parallelism "
                          f"each rank's {lv} holds and steps its 1/dp share (ZeRO-2's partition: "
                          f"options.distributed_optimizer implied)"
                          if offload == "optimizer_cpu" else f"reached over the {lv} link"))
        rest = memory[lv]["used"] - hosted.get(lv, 0) - moved
        if rest:
            out.append(f"{_b(rest)} of weights, KV cache, tables or training state do not fit "
                       + " or ".join(f"{m} ({_b(usable_bytes(memory[m]))})" for m in levels[:i])
                       + f" and live in {lv} memory, reached over the {lv} link"
                       + (f"; {_b(unread[lv])} of them are weights this pass does not read (experts no token is "
                          f"routed to, an encoder it skips), so a pass that reads them would also stream them over "
                          f"the link" if unread.get(lv) else ""))
    if memory[main]["used"] > usable_bytes(memory[main]):  # what is written during the pass is not placed ahead
        out.insert(0, f"{main} would hold {_b(memory[main]['used'])} ({_b(memory[main]['kv_cache'])} of it the KV "
                      f"cache after this pass" + (f", {_b(memory[main]['state'])} recurrent layers' states"
                                                  if memory[main].get("state") else "") + f") but has {_b(usable_bytes(memory[main]))}: the run does not fit; with "
                      f"decode_steps a serving run places the cache and spills what does not fit")
    return out


# keys of a vector unit's tables that name no op function but a rule: the built-in table's fallback, the fused
# attention kernel's softmax, the embedding gather, the short rows' softmax kernel (cost.vector.cost_key)
_VECTOR_RULE_KEYS = ("default", "flash_softmax", "embedding", "softmax_short", "log_softmax_short")


def _transposed(typo: str, name: str) -> bool:
    """Whether ``typo`` is ``name`` with two adjacent letters swapped (``gleu`` for ``gelu``): a slip of the fingers
    that difflib's similarity scores low on short names (0.75 for gleu / gelu)."""
    if len(typo) != len(name) or typo == name:
        return False
    diff = [i for i, (a, b) in enumerate(zip(typo, name, strict=True)) if a != b]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and typo[diff[0]] == name[diff[1]] \
        and typo[diff[1]] == name[diff[0]]


def vector_key_notes(arch: Arch, graph: Graph) -> list[str]:
    """One line per key of a vector unit's ``cycles_per_element`` or ``input_passes`` that is no function the
    simulator knows nor one of this run's ops', and is close to one of those (a misspelt ``gelue``, or two letters
    swapped: ``gleu``): it prices nothing. Keys far from every name are left alone (a function of another
    workload's ops)."""
    known = {op.fn for op in graph.ops if op.fn} | set(DEFAULT_VECTOR_COSTS) | set(_VECTOR_RULE_KEYS) \
        | set(get_args(OutputPathFn))
    out = []
    for spec in arch.core.unit_specs():
        for table in ("cycles_per_element", "input_passes"):
            for key in getattr(spec.spec, table, None) or {}:
                close = [] if key in known else (
                    [k for k in sorted(known) if _transposed(key, k)][:1]
                    or difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8))
                if close:
                    out.append(f"core.{spec.name}.{table}: {key!r} is no function of this run or the simulator; did "
                               f"you mean {close[0]!r}? (it prices nothing)")
    return out


def scratchpad_rate_notes(arch: Arch) -> list[str]:
    """An arch that sets ``core.sram.bytes_per_cycle`` where nothing it runs reads it: the rate bounds only the
    operand reads of FlashAttention-2's warp-level MMAs (a GPU-like core whose attention or SDPA kernel is one), not
    the systolic arrays' or vector units' SRAM reads; one line saying it prices nothing here (report.json's
    scratchpad bandwidth still states it)."""
    sram = arch.core.sram
    if sram.bytes_per_cycle is None:
        return []
    names = [n for n in (arch.core.attention_kernel, arch.core.sdpa_kernel) if n]
    kernels = [FLASH[n] for n in names] + [FLASH[n].decode for n in names if FLASH[n].decode]
    if arch.core.tile is not None and any(k.warp_mma for k in kernels if k is not None):
        return []
    return [f"core.sram.bytes_per_cycle ({sram.bytes_per_cycle}) bounds only FlashAttention-2's warp-level MMA "
            f"operand reads (core.attention_kernel or core.sdpa_kernel flash2 on a GPU-like core); on this arch it "
            f"prices nothing (systolic and vector ops read SRAM unbounded), though report.json's scratchpad "
            f"bandwidth states it"]


def over_share_notes(arch: Arch, shares: Mapping[str, float]) -> list[str]:
    """One line for each level whose ``bandwidth_share`` exceeds 1: the run moved more bytes there than the level's
    stated bandwidth carries in the run's time, which only a level the engine does not time every transfer of
    against that rate can do. The scratchpad is one on every arch: ``core.sram.bytes_per_cycle`` bounds only
    FlashAttention-2's warp-level MMA operand reads (:func:`scratchpad_rate_notes`), so the arrays' and vector
    units' reads and writes, a GPU GEMM's included, are unbounded there (probe p127 #1: h100's 8192³ bf16 GEMM
    showed 153.1 % with no note)."""
    roles = {lv.name: lv.role for lv in arch.hierarchy()}
    out = []
    for name, share in shares.items():
        if share <= 1.0:
            continue
        why = ("core.sram.bytes_per_cycle bounds only FlashAttention-2's warp-level MMA operand reads; the arrays' "
               "and vector units' reads and writes there are not timed against it" if roles.get(name) == "scratchpad"
               else "not every transfer at it is timed against that rate")
        out.append(f"bandwidth_share.{name} is {share:.1%}: the run moved more bytes at {name} than its stated "
                   f"bandwidth carries in the run's time ({why})")
    return out


def _b(nbytes: float) -> str:
    """A byte count in a note: exact, then with binary prefixes ("27220934656 B (25.35GiB)")."""
    return f"{int(nbytes)} B ({format_size(nbytes)})"


LAUNCH_NOTE_SHARE = 0.25
"""The ``launch_bound_fraction`` of an eager GPU run above which :func:`launch_notes` suggests CUDA graphs."""


def _unfused_attention_ops(graph: Graph) -> list[int]:
    """Indices of the unfused attention's ops: each score MATMUL (``transpose_b``, attr ``kv_len``) and the ops on
    its way to the MATMUL that reads the probabilities (mask, soft-cap, softmax, dropout, the context itself), and
    the copies of K and V out to every head that the two MATMULs read (fn "repeat_kv", eager GQA's ``repeat_kv``,
    which a fused kernel does not make)."""
    index = {op.name: i for i, op in enumerate(graph.ops)}
    out: list[int] = []
    for i, op in enumerate(graph.ops):
        if not (op.kind is OpKind.MATMUL and op.attrs.get("transpose_b") and "kv_len" in op.attrs):
            continue
        chain = [i]
        name = op.name
        for _ in range(8):  # scores → [add_rel_pos] → [softcap] → [causal_mask] → softmax → [dropout] → context
            nxt = [index[c] for c in graph.consumers(name) if c in index]
            if len(nxt) != 1:
                break
            chain.append(nxt[0])
            if graph.ops[nxt[0]].kind is OpKind.MATMUL:
                break
            name = graph.ops[nxt[0]].name
        copies = [index[x] for j in {chain[0], chain[-1]} for x in graph.ops[j].inputs
                  if x in index and graph.ops[index[x]].fn == "repeat_kv"]
        out += copies + chain
    return out


def unfused_attention_names(graph: Graph, arch: Arch) -> frozenset[str]:
    """The names of ``graph``'s unfused attention ops (:func:`_unfused_attention_ops`): what
    :func:`reattention_notes` finds in a composed run's op rows. Every arch prices the fused op (``arch`` is kept
    for the callers), as :func:`unfused_attention_notes` says. None where the workload's ``attention`` is
    ``fused``: what stays unfused then is what its builder keeps unfused whatever the key (FLUX's eager T5 encoder),
    of which :func:`unfused_attention_notes` says nothing either (probe p151 #2: a FLUX pipeline got the note
    "workload.attention: unfused" from T5's 96 op executions at the preset's attention: fused)."""
    del arch
    if graph.meta.get("attention") == "fused":
        return frozenset()
    return frozenset(graph.ops[i].name for i in _unfused_attention_ops(graph))


UNFUSED_NOTE_HEAD = "attention runs unfused (workload.attention: unfused): its "
"""How an unfused-attention note begins: :func:`reattention_notes` replaces a pass's share with the composed run's."""
_UNFUSED_NOTE_SHARE_END = " of the run (their device time and their share of the kernel launches)"


_UNFUSED_NOTE_ADVICE = ("; serving and training stacks run fused attention kernels (FlashAttention on GPUs, as "
                        "transformers' default sdpa does; Pallas flash/splash or ragged paged attention on TPUs), "
                        "which this arch models: --set workload.attention=fused")
"""How an unfused-attention note ends, on every arch (the fused op is priced on each: a GPU-like core's
FlashAttention kernel, else an array's QKᵀ and PV runs with the softmax on chip, ``cost/systolic.py``)."""

_BIASED_NOTE_ADVICE = ("; its scores add a bias tensor (add_rel_pos: T5's relative position bias, Swin's, SAM's), "
                       "which no FlashAttention kernel takes, so transformers runs T5 eager or through sdpa's "
                       "memory-efficient kernel, not FlashAttention; that kernel is not modelled, so on a GPU "
                       "workload.attention=fused is refused (off a GPU it prices one fused kernel that reads the bias, "
                       "as Pallas flash attention on TPUs takes it)")
"""How an unfused-attention note ends where its scores add a bias tensor (probe p133 #1: T5 was told that fused
attention is FlashAttention, "as transformers' default sdpa does", though FlashAttention takes no bias tensor and
transformers keeps T5 off it, huggingface/transformers#47014 ``_supports_flash_attn = False``)."""
_MIXED_NOTE_ADVICE = (f"{_UNFUSED_NOTE_ADVICE}, except for the ops whose scores add a bias tensor (add_rel_pos: "
                      f"T5's relative position bias), which no FlashAttention kernel takes")
"""How a composed run's unfused-attention note ends where some of its passes' attention adds a bias tensor and
some does not (a FLUX pipeline at attention: unfused: T5's encoder beside the transformer's and the VAE's): fused
attention is what the others run (probe p151 #2: the note took T5's "workload.attention=fused is refused", false
of FLUX, whose preset default is fused)."""
_NOTE_ADVICES = (_UNFUSED_NOTE_ADVICE, _BIASED_NOTE_ADVICE, _MIXED_NOTE_ADVICE)


def _unfused_note(ops: str, share: float, memory: str, advice: str = _UNFUSED_NOTE_ADVICE) -> str:
    about = f"about {share:.0%}" if share >= 0.005 else "under 1%"
    return f"{UNFUSED_NOTE_HEAD}{ops} take {about}{_UNFUSED_NOTE_SHARE_END}{memory}{advice}"


def unfused_attention_notes(graph: Graph, arch: Arch, ops: list[dict], total: float, launch: float,
                            dispatch: float) -> list[str]:
    """A run whose attention runs unfused: one line with its share of the run (and its score matrices' bytes where
    they go through main memory), and how to run the fused kernels the arch models (what serving stacks run:
    FlashAttention on GPUs, Pallas flash/splash/ragged attention on TPUs). Given on every arch, since every arch
    prices the fused op (probe p92 #2: a TPU got no note, though fused attention cut llama3_70b's TP8 prefill on
    tpu-v6e-8 by 20 %), and whatever the share, so that a workload gets the same advice on every GPU (a 5 %
    threshold gave llama3_8b's decode step the note on an H100, 5.9 %, and none on an A100, 4.5 %: probe p39). Its
    share of the run's ``total`` cycles, each cycle counted once: the union of its ops' own spans (:func:`_busy_cycles`:
    an op row spans its device tasks, from its DISPATCH on, the cycles before its inputs were ready left out), plus, of the host's launch wait on the critical path
    (``launch`` less ``dispatch``, :func:`launch_on_critical_path`: the device idle, waiting for a kernel to be
    launched, outside every op's span), the share of the run's kernels (ops with a unit) that are its own. The
    device-side ``dispatch`` cycles are already inside the ops' spans, so adding the whole ``launch`` counted them
    twice (probe p96 #2: a launch-bound 3-op attention on mi210 read 104 %, (29,854 + 164,421) / 186,268, of which
    8,007 dispatch cycles twice). A run whose device time and launch wait tile the timeline, as a serial eager run's
    do, gets a share of at most the whole run; the replay behind ``launch`` is a what-if on one schedule, so the share
    is also capped at 1. The score tensors go through the main memory (named, as
    the activation-spill note names it) where they outgrow the last cache, or, on an arch with no cache, where a
    score op's output does not stay in its core's scratchpad (op row ``mapping.resident_output`` false)."""
    attention = _unfused_attention_ops(graph)
    if not attention or graph.meta.get("attention") == "fused":  # (a builder keeping some attention unfused
        # whatever the key, FLUX's eager T5 encoder: the note's "workload.attention: unfused" would be false)
        return []
    at = [i for i in attention if graph.ops[i].kind is OpKind.MATMUL and graph.ops[i].attrs.get("transpose_b")
          and "kv_len" in graph.ops[i].attrs]
    scores = [graph.ops[i] for i in at]
    # a layer sample (2 of the model's n identical layers: the serving scenario's) stands for all n layers
    scale = float(graph.meta.get("sample_layer_scale", 1.0))  # type: ignore[arg-type]
    count, nbytes = round(len(scores) * scale), round(sum(op.out_bytes for op in scores) * scale)
    # (an eager-only kernel, attr eager_copy, is in place off a GPU preset and no op of the run there: mapping.aliases)
    eager = arch.core.tile is not None
    n_ops = round(sum(1 for i in attention if eager or graph.ops[i].attrs.get("eager_copy") is not True) * scale)
    kernels = sum(1 for row in ops if row["unit"] != "none")
    own = sum(1 for i in attention if ops[i]["unit"] != "none")
    spans = _busy_cycles([ops[i] for i in attention])
    wait = max(0.0, launch - dispatch)  # the host's launches the device waited for: in no op's span
    share = min(1.0, (spans + (wait * own / kernels if kernels else 0.0)) / total) if total else 0.0
    if arch.caches:  # (not where any score byte reaches the main memory: a GPU op writes its output back to it in
        # this model, 65,600 B a layer of llama2_7b's decode scores, so every unfused run would say so; probe p95 #5)
        spill = nbytes > arch.memory(arch.caches[-1]).capacity
    else:  # a scratchpad arch: whether the scores' outputs left the core
        spill = any(not (ops[i].get("mapping") or {}).get("resident_output") for i in at)
    memory = (f"; its score tensors ({count} ops, {_b(nbytes)} in all) go through {arch.main_memory} (written, read "
              f"and written by the softmax, read again)" if spill else "")
    biased = any(graph.ops[i].fn == "add_rel_pos" for i in attention)
    return [_unfused_note(f"{n_ops} ops", share, memory, _BIASED_NOTE_ADVICE if biased else _UNFUSED_NOTE_ADVICE)]


def reattention_notes(notes: Sequence[str], ops: Sequence[Mapping], attention: Mapping[str, Collection[str]],
                      run_cycles: float, modes: Sequence[tuple[str, str, float]]) -> list[str]:
    """A composed run's notes: its passes' (``notes``) with their unfused-attention note's share (one pass's)
    replaced by the whole run's, where the first of theirs stood (else last; added where no pass's note was, as
    :func:`unfused_attention_notes` would). The run's share, from its op rows
    (``ops``, each standing for its ``count`` executions): the attention rows' ``count`` x their own spans (end less
    :func:`_busy_from`, the later of start and ready) cycles
    over ``run_cycles``, plus, for each pass of ``modes`` (label, execution, its launches' share of the run, as
    :func:`launch_notes` takes them; a row's ``phase`` names its pass, label ``""`` every row), that launch share
    times the attention's share of the pass's kernel executions (rows with a unit), at most the whole run. The
    passes' launch shares include their device-side dispatch cycles, which also lie in the rows' spans (the composed
    report keeps no ``kernel_dispatch_s`` to take them out, as :func:`unfused_attention_notes` does), so the share can
    count those twice; the cap keeps it from reading over 100 % (probe p96 #2). ``attention``: per pass label, its
    attention ops' names (:func:`unfused_attention_names`)."""
    def rows(label: str) -> list[Mapping]:
        return [r for r in ops if not label or r.get("phase") == label]

    def own(label: str, row: Mapping) -> bool:
        return row["name"] in attention.get(label, ())

    spans = launch = 0.0
    n_ops = 0
    for label, _, share in modes:
        mine = [r for r in rows(label) if own(label, r)]
        spans += sum(int(r.get("count", 1)) * (r["end_cycle"] - _busy_from(r)) for r in mine)  # (own spans: p268 #1)
        n_ops += sum(int(r.get("count", 1)) for r in mine)
        kernels = sum(int(r.get("count", 1)) for r in rows(label) if r["unit"] != "none")
        launch += share * sum(int(r.get("count", 1)) for r in mine if r["unit"] != "none") / kernels if kernels else 0.0
    share = min(1.0, spans / run_cycles + launch) if run_cycles else 0.0
    theirs = [n for n in notes if n.startswith(UNFUSED_NOTE_HEAD) and _UNFUSED_NOTE_SHARE_END in n]
    kept = [n for n in notes if n not in theirs]
    at = next((i for i, n in enumerate(notes) if n in theirs), len(notes))
    memory, advice = "", _UNFUSED_NOTE_ADVICE
    if theirs:  # the score tensors' memory clause and the advice, as the pass found them
        tail = theirs[0].split(_UNFUSED_NOTE_SHARE_END, 1)[1]
        advice = next((a for a in _NOTE_ADVICES if tail.endswith(a)), advice)
        memory = tail[: -len(advice)] if tail.endswith(advice) else ""
        advices = {next((a for a in _NOTE_ADVICES if n.endswith(a)), None) for n in theirs}
        if _BIASED_NOTE_ADVICE in advices and advices - {_BIASED_NOTE_ADVICE}:  # passes of both kinds
            advice = _MIXED_NOTE_ADVICE
    if not n_ops:  # no attention op found among the rows: the passes' notes as they are
        return list(notes)
    note = _unfused_note(f"{n_ops:,} op executions", share, memory, advice)
    return kept[:at] + [note] + kept[at:]


SPILL_NOTE = re.compile(r"activations: [\d,]+ op outputs? \(")
"""How :func:`activation_spill_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def activation_spill_notes(arch: Arch, graph: Graph, ops: Sequence[Mapping]) -> list[str]:
    """A run whose activations the scratchpad would keep (``options.activations_on_chip``; every reader on the
    producer's core) but some of which do not fit beside what it holds (op rows' ``mapping.output_spilled``: the
    output's bytes): one line with how many and how large, that they go to main memory and back, and, when the
    largest one's first dimension is the batch, the largest batch at which it would fit the region alone (a
    compiler running the batch in smaller pieces keeps it on chip; accelsim runs the batch it is given). A row
    stands for its ``count`` ops (a layer sample's, :func:`sampled_notes`: llama2_7b of 4 layers, prefill 2048 on
    tpu-v1, said the 2-layer sample's 34 outputs and 2.059 GiB for the model's 66 and 4.102 GiB)."""
    spilled = [(op["mapping"]["output_spilled"], op["name"], _count(op)) for op in ops
               if isinstance(op.get("mapping"), Mapping) and op["mapping"].get("output_spilled")]
    if not spilled:
        return []
    region = arch.core.sram.total_bytes // 2  # mapping.choice.activation_region
    size, name, _ = max(x for x in spilled if x[2] > 0)  # (a shown row: sampled_notes counts others negatively)
    n = sum(c for _, _, c in spilled)
    batch = graph.info.batch
    shapes = {op.name: op.out_shape for op in graph.ops}
    hint = ""
    if isinstance(batch, int) and batch > 1 and shapes.get(name, (0,))[0] == batch:
        fits = region // -(-size // batch)
        hint = (f"; at batch {batch} it is {_b(-(-size // batch))} a sample, so a batch of "
                f"{fits if fits else 'even 1'} {'would hold it' if fits else 'would not hold it'} (accelsim runs "
                f"the batch it is given; a compiler may run it in smaller pieces)")
    real = ""
    if arch.core.sram.holds != "all":  # TPU v1: the main memory feeds the weights only (probe p192 #1)
        real = (f"; this arch's scratchpad and {arch.main_memory} do not exchange activations (core.sram.holds: "
                f"{arch.core.sram.holds}), so this spill path is not the real one: the chip sends them to "
                + (f"{arch.spill_memory} over its link, slower, which accelsim does not model" if arch.spill_memory
                   else "no memory, and the run would not fit it"))
    return [f"activations: {n:,} op output{'s' if n > 1 else ''} ({_b(sum(b * c for b, _, c in spilled))}"
            f" in all; the largest, {name}'s, {_b(size)}) would stay in the scratchpad for their readers but did "
            f"not fit its activation region ({_b(region)}: half the core's SRAM) beside what it held, and went to "
            f"{arch.main_memory} and back{hint}{real}"]


SPLIT_NOTE_SHARE = 0.1
"""The share of a run's main-memory bytes from which :func:`split_activation_notes` says so."""


def split_activation_notes(arch: Arch, graph: Graph, ops: list[dict], bytes_total: Mapping[str, int],
                           on_chip: bool) -> list[str]:
    """A multi-core run (not GPU-like) whose ops split over several cores (op rows with no one ``core``) write their
    outputs to the main memory for their readers (architecture.md step 5), and that traffic is
    :data:`SPLIT_NOTE_SHARE` of the run's main-memory bytes or more: one line with how many outputs and how large,
    their bytes written and read back (once per reader, through folded ops; at most the run's), against the run's,
    and how many of them one core's activation region would hold alone (with ``on_chip``,
    ``options.activations_on_chip``), so that a one-core run could keep them on chip (no figure: a one-core run
    plans afresh)."""
    main = arch.main_memory
    moved_all = bytes_total.get(main, 0)
    if arch.cores < 2 or arch.core.tile is not None or not on_chip or not moved_all:
        return []
    rows = {op["name"]: op for op in ops}
    by_name = {op.name: op for op in graph.ops}

    consumers: dict[str, list[str]] = {}  # (not Graph.consumers: its networkx graph costs a serving run ~11 MB)
    for op in graph.ops:
        for src in dict.fromkeys(op.inputs):
            consumers.setdefault(src, []).append(op.name)
    counted: dict[str, int] = {}

    def passes(name: str) -> bool:  # an op on no unit (a folded batch norm reads and passes the output on) or one
        row = rows.get(name, {})     # fused into its producer (mapping/fusion.py: the producer writes its output)
        return row.get("unit") == "none" or "fused_into" in (row.get("mapping") or {})

    def readers(name: str) -> int:  # through such ops
        if name not in counted:
            counted[name] = sum(readers(c) if passes(c) else 1 for c in consumers.get(name, ()))
        return counted[name]

    region = arch.core.sram.total_bytes // 2  # mapping.choice.activation_region
    outputs = []  # (bytes, bytes written and read back)
    for row in ops:
        op = by_name.get(row["name"])
        mapping = row.get("mapping")
        if (op is None or passes(row["name"]) or row.get("core") is not None or not isinstance(mapping, Mapping)
                or mapping.get("resident_output")):
            continue
        n = readers(op.name)
        if n:
            outputs.append((op.out_bytes, op.out_bytes * (1 + n)))
    # an estimate from the outputs' sizes (a reader of a slice reads less, a cache serves some): never more than
    # the run moved (probe p64 #1: SAM ViT-B on tpu-v4 said 13.41 GiB of the run's 12.98 GiB)
    sized = sum(t for _, t in outputs)
    traffic = min(sized, moved_all)
    if traffic < SPLIT_NOTE_SHARE * moved_all:
        return []
    fit = sum(b <= region for b, _ in outputs)
    # no figure for the one-core run: it plans its tiles and residency afresh (weights, larger intermediates), so
    # the run less this traffic was no estimate of it (probe p64 #1: ViT-B/16 batch 8 on tpu-v4, "about 345 MiB";
    # the one-core run moves 1118 MiB)
    one = (f"; {fit} of them fit one core's activation region ({_b(region)}: half its SRAM) alone and could stay "
           f"there on one core (--set arch.cores=1 measures it)" if fit else "")
    return [f"activations: {len(outputs)} output{'s' if len(outputs) > 1 else ''} of ops split over several cores "
            f"({_b(sum(b for b, _ in outputs))} in all) went to {main} and back, as such ops write it for their readers: "
            f"about {_b(traffic)} written and read ({'from their sizes' if sized <= moved_all else 'their sizes give more: capped'}), of the run's {_b(moved_all)} of {main} bytes{one}"]


PASS_FIGURE_NOTES = ("activations: ", "depthwise convs: ", "weight preload: ")
"""How the notes begin that quote one pass's figures as "the run's" (:func:`split_activation_notes`' bytes,
:func:`depthwise_notes`' and :func:`preload_bound_notes`' cycles): :func:`pass_notes` says whose they are."""


def pass_notes(notes: Sequence[str], whose: str) -> list[str]:
    """``notes`` of one pass of a composed run (serving, a diffusion pipeline) with each :data:`PASS_FIGURE_NOTES`
    note's "the run" said as ``whose`` (e.g. "the sampled prefill pass"): its figures are that pass's, not the
    composed run's (probe p86 #2: "of the run's 5.031GiB of hbm bytes" in a run that moved 1.743 TiB)."""
    return [re.sub(r"\bthe run\b", whose, n) if n.startswith(PASS_FIGURE_NOTES) else n for n in notes]


DEPTHWISE_NOTE_SHARE = 0.25
"""The share of a run its depthwise convs on the systolic arrays take from which :func:`depthwise_notes` says so."""


def _busy_from(op: Mapping) -> int:
    """When an op row's own time begins: its ``start_cycle``, or its ``ready_cycle`` where its inputs were ready
    after it started. An op's parameter loads start it ahead of its producer (``start_cycle`` is its first device
    task), so the cycles before its inputs are ready are its producers' time, not its own (probe p268 #1:
    MobileNet-V2's features.2.dw.conv on eyeriss-like starts 602,164 cycles before features.2.expand.act, a relu6
    writing its output to DRAM and back, ends). Its first compute task is in no report field; from max(start,
    ready) to its end may add a wait for its unit, where another op holds it, but no producer's time (MobileNet-V2's
    17 depthwise convs there: 2,675,912 cycles, against their 2,665,937 compute + stall cycles; 4,578,655 from
    start to end). Not
    ``compute_cycles`` + ``stall_cycles``: for an op over several units they are its busiest unit's and all its
    tasks' (the stalls add up over the units), and they place no interval on the run's timeline to take the union
    of. A row without ``ready_cycle`` (a hand-made one) starts at its start."""
    return max(int(op["start_cycle"]), int(op.get("ready_cycle") or 0))


def _busy_cycles(rows: Sequence[Mapping]) -> int:
    """The cycles of the union of op rows' own spans (:func:`_busy_from` to end; ops on several cores or units may
    overlap), each cycle counted once."""
    busy, end = 0, 0
    for a, b in sorted((_busy_from(op), int(op["end_cycle"])) for op in rows):
        busy += max(0, b - max(a, end))
        end = max(end, b)
    return busy


def depthwise_notes(arch: Arch, graph: Graph, ops: list[dict], total: int) -> list[str]:
    """A run whose depthwise convs (groups = input channels: each channel its own m x 1 x kh·kw GEMM, SCALE-Sim's
    per-channel layers) ran on the systolic arrays of a non-GPU core and took :data:`DEPTHWISE_NOTE_SHARE` of its
    cycles or more: one line with how many, their share of the run (the union of their own spans, :func:`_busy_cycles`,
    over ``total``) and of its MACs, the longest of them (by its own span, not from its weights' loads: probe p268 #1
    named features.2.dw.conv, not features.3's 144 channels), and the share of the array's PEs they keep busy
    (``mapping_efficiency``, at most)."""
    if arch.core.tile is not None or not total:
        return []
    depthwise = set()
    for op in graph.ops:
        groups, kernel = op.attrs.get("groups", 1), op.attrs.get("kernel")
        if (op.kind in (OpKind.CONV,) and op.gemm is not None and isinstance(groups, int) and groups > 1
                and isinstance(kernel, tuple) and op.gemm.count == groups and op.gemm.k == math.prod(kernel)):
            depthwise.add(op.name)
    rows = [op for op in ops if op["name"] in depthwise and isinstance(op.get("mapping"), Mapping)
            and "array" in op["mapping"]]
    busy = _busy_cycles(rows)
    if busy < DEPTHWISE_NOTE_SHARE * total:
        return []
    macs = sum(int(op.get("macs") or 0) for op in rows)
    used = max(float(op["mapping"].get("mapping_efficiency", 0.0)) for op in rows)
    top = max(rows, key=lambda op: int(op["end_cycle"]) - _busy_from(op))  # (not from its weights' loads: p268 #1)
    m, n, k, count = top["mapping"]["gemm"]
    return [f"depthwise convs: {len(rows)} op{'s' if len(rows) > 1 else ''} ran per channel on the systolic arrays "
            f"(the longest, {top['name']}: {count} GEMMs of {m}x{n}x{k} on the {top['mapping']['array']} array) and "
            f"kept at most {used:.3%} of an array's PEs busy (mapping_efficiency); they took {busy / total:.0%} of "
            f"the run ({busy:,} of {total:,} cycles) for {macs / graph.macs:.1%} of its MACs (SCALE-Sim's per-channel "
            f"mapping; a compiler packing channels onto the array would be faster, and --set options.depthwise=vector "
            f"runs them on the vector lanes)"]


NARROW_NOTE_HEAD = "scratchpad: "
"""How :func:`narrow_tile_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def narrow_tile_notes(ops: Sequence[Mapping]) -> list[str]:
    """A run with systolic ops that ran tiles narrower than the array's folds (``mapping.tiling.whole_folds``
    false: ``mapping/tiling.py``; their scratchpad holds no tile of whole folds, or a smaller one's narrower
    tiles take less estimated time, probe p187 #1): one line with how many and the first, saying their compute
    is priced at those tiles' own folds (``mapping.tiling.fold_cycles``, probe p188 #2; before, as the whole
    array's folds, an underestimate, probe p25). A row stands for its ``count`` ops (a layer sample's,
    :func:`sampled_notes`)."""
    narrow = [op for op in ops if isinstance(op.get("mapping"), Mapping)
              and isinstance(op["mapping"].get("tiling"), Mapping) and op["mapping"]["tiling"].get("whole_folds") is False]
    if not narrow:
        return []
    n = sum(_count(op) for op in narrow)
    return [f"{NARROW_NOTE_HEAD}{n:,} systolic op{'s' if n > 1 else ''} ({narrow[0]['name']}"
            f"{', ...' if n > 1 else ''}) ran tiles narrower than the array's folds (mapping.tiling."
            f"whole_folds false: core.sram holds no whole-fold tile, or a smaller core.sram's narrower tiles take "
            f"less time); their compute is priced at those tiles' own array folds (mapping.tiling.fold_cycles, "
            f"against whole_fold_cycles in whole folds)"]


ROW_PASS_NOTE_MARK = " with rows of up to "
"""What :func:`row_pass_notes`' lines say after their count (:func:`sampled_notes` finds a layer sample's by it)."""


def row_pass_notes(arch: Arch, graph: Graph, ops: Sequence[Mapping]) -> list[str]:
    """One line per row-reduction function (:data:`accelsim.cost.vector.ROW_REDUCTIONS`) whose ops read their input
    twice because a row exceeds the core's vector tile (:func:`accelsim.cost.vector.row_budget`) and the vector unit
    lists no ``input_passes`` rules: how many ops, the longest row, the tile (probe p156 #2: tpu-v1's softmax of
    16 MiB rows was charged one read with no note). A row stands for its ``count`` ops (a layer sample's,
    :func:`sampled_notes`)."""
    if arch.core.vector.input_passes:
        return []
    longest: dict[str, int] = {}
    count: dict[str, int] = {}
    twice: dict[str, int] = {}
    for rec in ops:
        if (rec.get("fn") in vector.ROW_REDUCTIONS and isinstance(rec.get("mapping"), Mapping)
                and int(rec["mapping"].get("input_passes") or 1) >= 2):
            twice[rec["name"]] = twice.get(rec["name"], 0) + _count(rec)
    if not twice:
        return []
    for op in graph.ops:
        if twice.get(op.name):
            longest[op.fn] = max(longest.get(op.fn, 0), vector.row_length(op) * op.elem_bytes)
            count[op.fn] = count.get(op.fn, 0) + twice[op.name]
    budget = vector.row_budget(arch)

    def sizes(row: int) -> tuple[str, str]:
        # exact bytes where rounding makes the row and the tile read alike (probe p166 #4: 32,769 B against
        # 32,768 B printed "32KiB (more than the 32KiB vector tile)")
        if format_size(row) == format_size(budget):
            return f"{row:,} B", f"{budget:,} B"
        return format_size(row), format_size(budget)

    return [f"{fn}: {count[fn]:,} op{'s' if count[fn] > 1 else ''}{ROW_PASS_NOTE_MARK}{sizes(row)[0]} (more than "
            f"the {sizes(row)[1]} vector tile of core.sram) "
            f"{'read their' if count[fn] > 1 else 'reads its'} input twice: a row that does not fit "
            f"on chip takes a statistics pass and an output pass (mapping.input_passes; rules in "
            f"core.vector.input_passes replace this default)" for fn, row in longest.items()]


def _count(row: Mapping) -> int:
    """The executions an op row stands for in a note's sums: its ``count`` (a composed run's rows, their passes'
    executions; :func:`sampled_notes`' weights of a layer sample's rows, negative for the smaller sample's), else
    1."""
    return int(row.get("count", 1))


INFLIGHT_NOTE_HEAD = "memory latency: "
"""How :func:`inflight_bound_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def inflight_bound_notes(arch: Arch, ops: Sequence[Mapping]) -> list[str]:
    """A run with ops whose loads waited on what their scratchpad may have in flight rather than on bandwidth
    (``mapping.inflight_bound``: Little's law, ``mapping/emit.py`` :func:`~accelsim.mapping.emit.byte_cycles`): one
    line with how many, the first, and for it the rate its window allows at the level it lost most at (the window
    over that level's latency), so a sweep of scratchpad size or of a far memory's latency shows why it slowed.
    A row stands for its ``count`` ops (a layer sample's: probe p189 #2b, 4 ops of a 2-layer Mixtral sample for
    the model's 64)."""
    bound = [op for op in ops if isinstance(op.get("mapping"), Mapping)
             and isinstance(op["mapping"].get("inflight_bound"), Mapping)]
    if not bound:
        return []
    n = sum(_count(op) for op in bound)  # each row for its count of ops (a layer sample's: p189 #2b)
    first = bound[0]["mapping"]["inflight_bound"]
    level = max(first["cycles"], key=lambda lv: (first["cycles"][lv], lv))
    slots = 2 if arch.core.sram.double_buffered else 1
    window = first["window_bytes"][0] * slots
    lat = arch.latency_cycles(level) / arch.clock_hz
    rate = f"{window / lat / 1e9:,.1f} GB/s" if lat else "unbounded"
    many = n > 1
    return [f"{INFLIGHT_NOTE_HEAD}{n:,} op{'s' if many else ''} ({bound[0]['name']}{', ...' if many else ''}) "
            f"waited on the bytes {'their' if many else 'its'} scratchpad can have in flight, not on bandwidth "
            f"(Little's law, mapping.inflight_bound): {window:,} B a unit over {level}'s latency is {rate} a unit; "
            f"a larger core.sram or a lower {level}.latency would speed {'them' if many else 'it'}"]


SPARSE_NOTE_GAIN = 1.10
"""A pruned GEMM whose zeros its array skips, whose tiles run at most this many times faster than dense ones, gets
:func:`sparse_latency_notes`' line."""


SPARSE_NOTE_HEAD = "sparsity: "
"""How :func:`sparse_latency_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def sparse_latency_notes(arch: Arch, ops: Sequence[Mapping]) -> list[str]:
    """GPU GEMMs with N:M-pruned weights that the tensor cores skip (``mapping.sparsity.skips_zeros``) but whose
    thread-block tiles are held by the K-stage latency bound (:func:`accelsim.cost.gpu_tiles._shape`: a tile takes
    max(its folds, ⌈k_slice / tile.k⌉ K-stages × the main-memory round trip / (stages − 1) in flight / the blocks
    resident, Little's law) + its fixed cycles), which the pruning does not shorten: one line naming the ops and
    the bound, where a tile runs less than :data:`SPARSE_NOTE_GAIN` times faster than its dense counterpart (probe
    p69 #1: mi300x's 8192³ bf16 GEMM gained 0.9 % from 2:4). The dense tile is priced as the pruned one with the
    dense K (same shape and split; its fixed cycles taken alike), so the gain is per tile, not a second run's. A
    row stands for its ``count`` ops (a layer sample's, :func:`sampled_notes`)."""
    from ..cost import folds as fold_model

    sa = arch.core.systolic
    if arch.core.tile is None or sa is None:
        return []
    held = []
    for op in ops:
        m = op.get("mapping")
        sparse = m.get("sparsity") if isinstance(m, Mapping) else None
        if not isinstance(sparse, Mapping) or not sparse.get("skips_zeros") or "tile_cycles" not in m:
            continue
        tm, tn = m["tile"]
        rate = m["rate"]["multiplier"]

        def tile_folds(k_rate: float, tm=tm, tn=tn, k_slice=m["k_slice"]) -> int:
            return fold_model.folds(tm, tn, max(1, math.ceil(k_slice / k_rate)), sa.rows, sa.cols, sa.dataflow,
                                    sa.preload_overlap).cycles + 1
        ran = tile_folds(rate * sparse["k"] / sparse["executed_k"])
        body = m["tile_cycles"] - m["fixed_cycles"]
        if body <= max(ran, m.get("dequant_cycles", 0)):
            continue  # the folds (or the dequantisation) set the tile: sparsity shows
        gain = (max(tile_folds(rate), body) + m["fixed_cycles"]) / m["tile_cycles"]
        if gain < SPARSE_NOTE_GAIN:
            held.append((op["name"], sparse["pattern"], ran, body, gain, _count(op)))
    if not held:
        return []
    name, pattern, ran, body, gain, _ = held[0]
    tile = arch.core.tile
    depth = ("CUTLASS's StageCountAutoCarveout stages (core.tile.stage_carveout)" if tile.stage_carveout is not None
             else f"core.tile.stages {tile.stages}")
    n = sum(h[-1] for h in held)
    more = f" and {n - 1:,} more" if n > 1 else ""
    return [f"{SPARSE_NOTE_HEAD}{name}{more} ({pattern}-pruned, its zeros skipped) ran its tiles {gain - 1:.1%} faster "
            f"than dense ones (under {SPARSE_NOTE_GAIN - 1:.0%}): each tile is latency-bound ({body:,} cycles: K-stages of core.tile.k {tile.k} "
            f"waiting on main memory with {depth} - 1 in flight, Little's law, cost.gpu_tiles._latency_bound), "
            f"which pruning does not shorten, while its array folds take {ran:,} cycles; a preset that gives "
            f"core.tile k / stages / stage_carveout from its GEMM library shortens the bound"]


PRELOAD_NOTE_ARRAYS = 0.8
"""The arrays' busy share of a run (the mean over its systolic arrays) from which :func:`preload_bound_notes` may
speak."""
PRELOAD_NOTE_MEMORY = 0.7
"""... when main memory is busy at most this share of the run (so the arrays, not the bytes, set its length)."""
PRELOAD_NOTE_SHARE = 0.5
"""... and its preload-bound ops take at least this share of it."""


def _streamed_rows(mapping: Mapping) -> int | None:
    """Rows of a single GEMM's streamed operand per fold (T: M on a ws array, N on an is one) from an op row's
    mapping, or None (a fused attention's two GEMMs, an os array, a GPU)."""
    gemm, dataflow = mapping.get("gemm"), mapping.get("dataflow")
    if dataflow not in ("ws", "is") or not isinstance(gemm, list) or not all(isinstance(x, int) for x in gemm):
        return None
    return gemm[0] if dataflow == "ws" else gemm[1]


def preload_bound_notes(arch: Arch, tg: TaskGraph, ops: list[dict], total: int,
                        util: Mapping[str, float], graph: Graph | None = None) -> list[str]:
    """A run on weight- (or input-) stationary systolic arrays held back by loading the stationary tiles, not by
    memory: its arrays busy at least :data:`PRELOAD_NOTE_ARRAYS` of it, main memory at most
    :data:`PRELOAD_NOTE_MEMORY`, and GEMMs that stream fewer rows per fold than the array has (T < R: a decode
    step's M = batch rows) taking at least :data:`PRELOAD_NOTE_SHARE` of it. Such a fold costs R cycles of preload
    for T rows of work (2R + C + T − 2 a fold without ``core.systolic.preload_overlap``, max(T, R) with it), so
    the op's roofline class (``bound``: memory) and its zero stall cycles do not say what held it back. One line
    with the ops, their share, the busy shares and the knob. Depthwise convs (one column a channel) are
    :func:`depthwise_notes`' and not counted here (probe p28: MobileNet-V2 on tpu-v1 got both, 96 % + 51 % of the
    run, for the same cycles)."""
    sa = arch.core.systolic
    if arch.core.tile is not None or sa is None or sa.dataflow == "os" or not total:
        return []
    arrays = [util[u.name] for u in tg.units if u.kind is UnitKind.COMPUTE and u.group == "systolic"]
    memory = util.get(next((u.name for u in tg.units if u.level == arch.main_memory), ""), 0.0)
    if not arrays or sum(arrays) / len(arrays) < PRELOAD_NOTE_ARRAYS or memory > PRELOAD_NOTE_MEMORY:
        return []
    depthwise = {op.name for op in graph.ops if op.depthwise} if graph is not None else set()
    rows = [op for op in ops if isinstance(op.get("mapping"), Mapping) and op["name"] not in depthwise
            and (_streamed_rows(op["mapping"]) or sa.rows) < sa.rows]
    busy = _busy_cycles(rows)
    if busy < PRELOAD_NOTE_SHARE * total:
        return []
    most = max(_streamed_rows(op["mapping"]) or 0 for op in rows)
    r, c = sa.rows, sa.cols
    fold = (f"core.systolic.preload_overlap is false, so each fold also waits for its own preload ({2 * r + c - 2} "
            f"+ T cycles a fold); --set arch.core.systolic.preload_overlap=true overlaps it with the fold before"
            if not sa.preload_overlap else
            f"with core.systolic.preload_overlap a fold still takes {r} cycles to load, so weights stored narrower "
            f"(int4) move fewer bytes but take no fewer cycles")
    return [f"weight preload: {len(rows)} op{'s' if len(rows) > 1 else ''} streaming at most {most} row"
            f"{'s' if most > 1 else ''} (T = M: a decode step's or a batch-1 layer's) through each {r}x{c} {sa.dataflow} array fold took {busy / total:.0%} of the run; each fold loads a {r}x{c} stationary tile ({r} "
            f"cycles) for T rows of work, so the arrays were {sum(arrays) / len(arrays):.0%} busy and "
            f"main memory {memory:.0%}: the run is bound by loading the arrays, not by memory bandwidth (the "
            f"ops' bound column is their roofline class); {fold}"]


class Windowed(NamedTuple):
    """A run's fused attention ops with a sliding window (:func:`windowed_attention`): the windows (keys), and all
    the fused attention ops' FLOPs as counted (every query x key) and as computed (``attention`` 0: not known, a
    composed run's line keeping a pass's windows only)."""

    windows: tuple[int, ...]
    attention: int = 0
    computed: int = 0


def windowed_attention(graph: Graph | None, ops: Sequence[Mapping]) -> Windowed | None:
    """The sliding windows of ``graph``'s attention ops (op attr ``window``: a causal window shorter than the keys,
    Mistral's 4,096) and the attention ops' counted and computed FLOPs (:func:`schema.computed_work` of their
    rows), or None where no attention op has a window (probe p198 #5: mistral_7b's 32k prefill note named only the
    causal skip, though most of what the kernels skipped lies outside the window's band)."""
    if graph is None:
        return None
    attn = {op.name for op in graph.ops if op.kind is OpKind.ATTENTION}
    windows = tuple(sorted({int(op.attrs["window"]) for op in graph.ops if op.name in attn and op.attrs.get("window")}))
    if not windows:
        return None
    rows = [op for op in ops if op.get("name") in attn and op.get("unit") != "none"]
    counted = sum(int(op.get("flops") or 0) for op in rows)
    macs = sum(int(op.get("macs") or 0) for op in rows)
    return Windowed(windows, counted, computed_work(macs, counted, rows)["computed_flops"])


_WINDOW_NOTE = re.compile(r"outside the sliding window of ([\d,/ ]+) keys")


def computed_work_notes(flops: int, computed: int, seconds: float, chips: int = 1,
                        windowed: Windowed | None = None) -> list[str]:
    """A run whose kernels skip part of its counted work (``computed``: ``flops`` less what causal fused attention
    kernels skip above the diagonal, and outside a sliding window; ops on no unit, folded batch norms and views,
    are not that and leave it alone): one line saying that ``flops`` and ``macs`` count the model's work and
    ``computed_flops`` what ran; with ``windowed`` (:func:`windowed_attention`) that the window's band is skipped
    too, and the attention ops' own share computed (a causal square alone computes about half).
    ``chips``: the chips those FLOPs cover (a pipeline report's P stages, :func:`schema.chips_covered`): the rates
    are a chip's, as the console's ``computed`` row gives them."""
    if computed >= flops or not seconds:  # none skipped (an array multiplying a pruned op's zeros adds work)
        return []
    each = seconds * chips
    whose = f" a chip ({chips} chips)" if chips > 1 else ""
    skip, share = "the blocks above the diagonal", ""
    if windowed is not None:
        keys = " / ".join(f"{w:,}" for w in windowed.windows)
        skip = f"the blocks above the diagonal and those outside the sliding window of {keys} keys"
        if windowed.attention:
            share = (f"; the attention ops {windowed.computed:,} of their {windowed.attention:,}, "
                     f"{windowed.computed / windowed.attention:.1%}, where the causal triangle alone leaves about "
                     f"half")
    return [f"{CAUSAL_NOTE_HEAD} every query x key (the model's work, as accelsim info counts "
            f"it); the fused kernels skip {skip} and compute {computed:,} FLOPs "
            f"(computed_flops, {computed / flops:.1%} of flops{share}): {computed / each / 1e12:.4g} TFLOP/s{whose} "
            f"(flops / seconds{f' / {chips}' if chips > 1 else ''}: {flops / each / 1e12:.4g})"]


CAUSAL_NOTE_HEAD = "causal attention: flops and macs count"
"""How :func:`computed_work_notes`' line begins: :func:`recomputed_work_notes` replaces a pass's with the run's."""


def recomputed_work_notes(notes: Sequence[str], report: Mapping, chips: int = 1) -> list[str]:
    """A composed run's notes with its passes' computed-work line (one pass's FLOPs and rate: a layer sample's
    under options.layer_samples, probe p52; a pipeline's one-micro-batch stage pass, probe p134 #3) replaced, where
    the first stood, by the run's own from its ``flops``, ``computed_flops`` and ``seconds`` (``chips``: the chips
    they cover, :func:`computed_work_notes`)."""
    at = next((i for i, n in enumerate(notes) if n.startswith(CAUSAL_NOTE_HEAD)), None)
    # a pass's sliding window kept (its attention share is the pass's, not the run's)
    found = _WINDOW_NOTE.search(notes[at]) if at is not None else None
    windowed = Windowed(tuple(int(w.replace(",", "")) for w in found.group(1).split(" / "))) if found else None
    # what the run's rows skip that is no attention kernel's skipping (rows on no unit, folded batch norms, eager_fn
    # kernels: their mapping says ``folded``), added back, as a pass's note leaves them alone (gpt2 decode_steps 4 on
    # a100 got a "fused kernels skip the blocks above the diagonal" line from gelu_new's kernels, merge geluflops)
    alone = [op for op in report.get("ops") or () if op.get("unit") == "none" or (op.get("mapping") or {}).get("folded")]
    computed = int(report.get("computed_flops") or 0) - computed_work(0, 0, alone)["computed_flops"]
    mine = computed_work_notes(int(report.get("flops") or 0), computed, float(report.get("seconds") or 0.0), chips,
                               windowed) if report.get("computed_flops") else []
    kept = [n for n in notes if not n.startswith(CAUSAL_NOTE_HEAD)]
    if at is None:
        return [*kept, *mine]
    return [*kept[:at], *mine, *kept[at:]]


LAUNCH_NOTE_HEAD = "kernel launches bind "
"""How a launch note begins: :func:`relaunch_notes` replaces the passes' own with the composed run's."""


def launch_notes(arch: Arch, launch_bound: float, modes: Sequence[tuple[str, str, float]],
                 host_busy: float = 0.0) -> list[str]:
    """A GPU run whose eager passes' kernel launches bind :data:`LAUNCH_NOTE_SHARE` of its time or more: one line
    quoting the run's ``launch_bound_fraction`` (``launch_bound``), the mode each pass ran in, and that a CUDA graph
    launches a pass at once (``options.execution: cuda_graph``). ``modes``: each pass (or phase, part) as (label,
    its execution, its launches' share of the run); a single pass has one, labelled ``""``. No note where no pass
    ran eager: the advice is already in effect (a serving run's decode steps under ``execution: auto``).

    A single eager pass whose host issues launches for longer than the device works without them (``host_busy``,
    the launch host's busy share of the run, at least 1 - ``launch_bound``) is launch-bound under any share: its
    time is the host's, and a faster device (more tensor parallelism) leaves it unchanged. It gets the note too,
    saying so (probe p77 #3: gpt TP 8 on dgx-a100, launches adding 18 %, had none, while TP 16, 38 %, had one,
    both 5.798 ms)."""
    eager = [(label, share) for label, mode, share in modes if mode == "eager"]
    eager_share = sum(share for _, share in eager)
    host_bound = len(modes) == 1 and bool(eager) and launch_bound > 0 and host_busy >= 1 - launch_bound
    if not eager or (eager_share < LAUNCH_NOTE_SHARE and not host_bound):
        return []
    cost = (f"{arch.kernel_launch * 1e6:.3g} \u00b5s of host time a kernel); a CUDA graph launches "
            f"{'the' if len(modes) == 1 else 'a'} pass at once ({arch.graph_launch * 1e6:.3g} \u00b5s), as serving stacks "
            f"run decode steps: --set options.execution=cuda_graph")
    if len(modes) == 1 and eager_share < LAUNCH_NOTE_SHARE:
        return [f"{LAUNCH_NOTE_HEAD}the run: the host issues kernels for {host_busy:.0%} of it, longer than the device "
                f"works without them, so a faster device does not shorten it; they add {launch_bound:.0%} "
                f"(options.execution: eager, {cost}"]
    if len(modes) == 1:
        return [f"{LAUNCH_NOTE_HEAD}{launch_bound:.0%} of the run (options.execution: eager, {cost}"]
    ran = ", ".join(f"{label} {mode}" for label, mode, _ in modes)
    if len(eager) == len(modes):
        return [f"{LAUNCH_NOTE_HEAD}{launch_bound:.0%} of the run (execution: {ran}; {cost}"]
    return [f"{LAUNCH_NOTE_HEAD}{launch_bound:.0%} of the run (execution: {ran}); the eager "
            f"{', '.join(label for label, _ in eager)}'s launches take {eager_share:.0%} of the run ({cost}"]


def relaunch_notes(notes: Sequence[str], arch: Arch, launch_bound: float,
                   modes: Sequence[tuple[str, str, float]], host_busy: float = 0.0) -> list[str]:
    """A composed run's notes: its passes' (``notes``) less their own launch notes, which quote one pass's share,
    and :func:`launch_notes` of the whole run (its ``launch_bound_fraction``, each pass's mode, its launch host's
    busy share ``host_busy``), where the first of theirs stood (else last)."""
    kept = [n for n in notes if not n.startswith(LAUNCH_NOTE_HEAD)]
    at = next((i for i, n in enumerate(notes) if n.startswith(LAUNCH_NOTE_HEAD)), len(notes))
    return kept[:at] + launch_notes(arch, launch_bound, modes, host_busy) + kept[at:]


QUANTISED_CNN = frozenset({"int8", "uint8", "fp8"})  # a conv in one of these: a CNN deployed through TensorRT
_MATMULS = frozenset({OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL})


def epilogue_fusion_notes(graph: Graph, arch: Arch, tg: TaskGraph) -> list[str]:
    """On a GPU-like core (``core.tile``), the activations and residual adds after a conv/linear output (through
    batch norms and such ops) that run as kernels of their own: for a quantised CNN (a conv in int8 or fp8), those
    ``core.vector.output_path`` lacks the functions of (the GPU presets model PyTorch eager, which fuses nothing): one
    line with their count and main-memory bytes, and the key that folds them into the conv's epilogue, as the
    TensorRT engines such models are deployed with do (conv + bias + residual add + ReLU in one kernel); for any
    dtype, those whose function it lists but that stay unfused (probe p259 #1: fp8 resnet50 on h100 with ``[relu,
    add]`` fused none and said nothing): one line with their count, bytes and why (:func:`_blocked_reasons`)."""
    listed = arch.core.vector.output_path
    quantised = any(op.kind is OpKind.CONV and op.dtype in QUANTISED_CNN for op in graph.ops)
    if arch.core.tile is None or not (quantised or listed):
        return []
    fns = set(get_args(OutputPathFn))
    fed: set[str] = set()  # outputs of a matmul, through batch norms and ops its output path could apply
    after: list[str] = []  # the activations and adds among those
    for op in graph.ops:
        if op.kind in _MATMULS:
            fed.add(op.name)
        elif op.inputs and op.inputs[0] in fed and op.kind is OpKind.NORM and op.fn == "batchnorm":
            fed.add(op.name)
        elif ((op.kind is OpKind.ACTIVATION and op.fn in fns and len(op.inputs) == 1)
              or (op.kind is OpKind.ELEMENTWISE and op.fn == "add" and len(op.inputs) == 2)) \
                and any(src in fed for src in op.inputs):
            fed.add(op.name)
            after.append(op.name)
    rows = {m.name: m for m in tg.ops}
    unfused = [rows[n] for n in after if n in rows and "fused_into" not in rows[n].mapping]
    left = [m for m in unfused if m.fn not in listed] if quantised else []
    blocked = [m for m in unfused if m.fn in listed]
    main = arch.main_memory
    out = []
    if left:
        moved = sum(m.bytes.get(main, 0) for m in left)
        key = ",".join(dict.fromkeys([*listed, *(m.fn for m in left)]))
        out.append(f"{len(left)} activation and residual-add op(s) after a conv or linear run as kernels of their "
                   f"own, moving {_b(moved)} through {main}: core.vector.output_path does not list them (the GPU "
                   f"presets model PyTorch eager, which fuses none); TensorRT engines, which int8 and fp8 CNNs are "
                   f"deployed with, fuse conv + bias + residual add + activation into one kernel: --set "
                   f"'arch.core.vector.output_path=[{key}]'")
    if blocked:
        moved = sum(m.bytes.get(main, 0) for m in blocked)
        out.append(f"{len(blocked)} activation and residual-add op(s) after a conv or linear of a function "
                   f"core.vector.output_path lists ({', '.join(dict.fromkeys(m.fn for m in blocked))}) still run as "
                   f"kernels of their own, moving {_b(moved)} through {main}: "
                   + "; ".join(_blocked_reasons(graph, rows, blocked)))
    return out


def _blocked_reasons(graph: Graph, rows: Mapping, blocked: Sequence) -> list[str]:
    """Why the op rows ``blocked`` (of functions the output path lists) were not fused (``mapping/fusion.py``'s
    rules), counted: after a batch norm that is a kernel of its own (not folded: ``options.fold_batchnorm``'s
    'auto' keeps them on a GPU preset, as PyTorch eager runs them; in training none folds, whatever the option:
    a training batch norm normalises by the batch's own mean and variance, computed from the conv's output, so it
    is no fixed scale and shift to fold into the conv's weights; probe p262 #4: the note told a training run to set
    ``fold_batchnorm: true`` with it set); after another of them left unfused (a ReLU after such a residual add);
    else an input another op also reads, one kept for a backward pass, or a residual of another dtype or shape than
    the conv's output, or not yet computed."""
    names = {m.name for m in blocked}
    norm = then = 0
    for m in blocked:
        inputs = graph[m.name].inputs
        if any(src in rows and graph[src].kind is OpKind.NORM and graph[src].fn == "batchnorm"
               and rows[src].unit != "none" and not rows[src].mapping.get("folded") for src in inputs):
            norm += 1
        elif any(src in names for src in inputs):
            then += 1
    out = []
    if norm and graph.info.mode == "training":
        out.append(f"{norm} read a training batch norm, a kernel of its own: it normalises by the batch's own mean "
                   f"and variance, computed from the conv's output, so it cannot be folded into the conv "
                   f"(options.fold_batchnorm folds only in inference)")
    elif norm:
        out.append(f"{norm} read a batch norm that runs as a kernel of its own (options.fold_batchnorm: true folds it "
                   f"into the conv, as TensorRT does)")
    if then:
        out.append(f"{then} read one of these left unfused")
    if len(blocked) > norm + then:
        out.append(f"{len(blocked) - norm - then} read a conv output another op also reads or a backward pass keeps, "
                   f"or (a residual add) one of another dtype or shape than the conv's, or not yet computed")
    return out


def unpriced_fn_notes(arch: Arch, graph: Graph, ops: list[dict]) -> list[str]:
    """In a graph made outside the builders (no ``model`` in its meta: ``simulate(graph, arch)`` of hand-made ops),
    one line per vector function that neither the arch's ``core.vector.cycles_per_element`` nor the built-in table
    (:data:`~accelsim.hardware.DEFAULT_VECTOR_COSTS`) prices, run by ops that declare more FLOPs than the
    ``default`` lane-cycles per element they were priced at: the price reads its elements, never its FLOPs, so the
    key to set is named. (A builder's own functions priced at the default are its modelling choice.)"""
    if "model" in graph.meta:
        return []
    table = arch.core.vector.cycles_per_element
    found: dict[str, list[dict]] = {}
    for row in ops:
        m = row.get("mapping") or {}
        fn = row.get("fn")
        if ("cycles_per_element" in m and "elements" in m and fn not in table and fn not in DEFAULT_VECTOR_COSTS
                and row["flops"] > m["elements"] * m["cycles_per_element"]):
            found.setdefault(fn, []).append(row)
    out = []
    for fn, rows in found.items():
        names = ", ".join(r["name"] for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
        cost = rows[0]["mapping"]["cycles_per_element"]
        out.append(f"vector function {fn!r} ({names}) has no cost of its own: priced at the default {cost:g} "
                   f"lane-cycle(s) per element ({sum(r['mapping']['elements'] for r in rows):,} elements), not by "
                   f"its {sum(r['flops'] for r in rows):,} declared FLOPs; set "
                   f"arch.core.vector.cycles_per_element.{fn} (lane-cycles per element)")
    return out


def idle_unit_notes(arch: Arch, tg: TaskGraph, t: _TaskArrays) -> list[str]:
    """One line per unit of ``core.units`` that ran no op: its kind's ``accepts`` preferred none of the run's ops
    to the other units' (or could run none), so it adds nothing but its area and static power."""
    if not arch.core.units:
        return []
    ran = {tg.units[i].group for i in np.unique(t.unit[t.compute]) if i >= 0}
    return [f"unit {u.name} (core.units, kind {u.kind}) ran no op: its kind's accepts() preferred none of this run's "
            f"ops to the other units' (docs/architecture.md, Mapping 3)"
            for u in arch.core.plugin_specs() if u.name not in ran]


def _replica(graph: Graph) -> tuple[int, str]:
    """The chips of one replica of ``graph``'s parallel keys and how a note names them: tensor × context ×
    pipeline parallel, × expert_parallel in an inference (its expert-parallel chips each route a batch of their
    own beside the tensor-parallel ones, as ``scenarios._check_parallel_chips`` counts them; probe p90 #2: TP 4 ×
    EP 2 on 8 chips was one replica of 4 and 4 idle chips). A training step's expert-parallel chips fold into
    its data-parallel ones (``mapping.data_parallel``: Megatron's expert data-parallel groups), so they add none."""
    info = graph.info
    keys = [("tensor_parallel", info.tensor_parallel), ("context_parallel", info.context_parallel)]
    if info.expert_parallel > 1 and info.mode != "training":
        keys.append(("expert_parallel", info.expert_parallel))
    keys.append(("pipeline_parallel", info.pipeline_parallel))
    return math.prod(v for _, v in keys), " x ".join(k for k, _ in keys)


def idle_chip_notes(arch: Arch, graph: Graph) -> list[str]:
    """One line when the arch's chips are not a whole number of replicas (tensor × context × pipeline parallel
    chips, × expert_parallel in an inference: :func:`_replica`): Megatron's rank grid has no place for the rest
    (``mapping.data_parallel`` counts whole replicas only), so they sit idle (12 chips at tensor_parallel 8: one
    replica of 8, chips 8-11 idle)."""
    replica, named = _replica(graph)
    used = replica * (arch.chips // replica)
    if replica <= 1 or used in (0, arch.chips):
        return []
    which = f"chip {used}" if used == arch.chips - 1 else f"chips {used}-{arch.chips - 1}"
    return [f"chips: {arch.chips - used} of the arch's {arch.chips} chips ({which}) are idle: a "
            f"replica takes {named} = {replica} chips and "
            f"{arch.chips} holds {arch.chips // replica} whole one(s); set arch.chips to a multiple of {replica}"]


MOE_DROP_NOTE_HEAD = "moe: capacity_factor drops "
"""How :func:`moe_drop_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def moe_drop_notes(graph: Graph, moe_layers: int | None = None) -> list[str]:
    """One line when a mixture of experts' ``capacity_factor`` drops token-expert assignments (graph meta ``moe``'s
    ``dropped_tokens`` > 0): how many of the pass's T·k (its expert-parallel group's ``tokens`` × ``top_k``), their
    share, the capacity and the routing. The dropped assignments skip their expert (the token's residual carries
    it), so the expert GEMMs' work falls by that share; without this line a run's MACs and time fell with
    nothing said (probe p114 #3: Mixtral prefill 512, capacity_factor 0.5, skewed: 540 of 1,024, 53 %).
    ``moe_layers``: the model's MoE layers where ``graph`` is a layer sample of it (report.json's extrapolated
    ``moe.moe_layers``, :func:`sampled_notes`; probe p189 #1: the 2-layer sample said 2 of Mixtral's 32), else the
    graph's own."""
    moe = graph.meta.get("moe") or {}
    dropped = int(moe.get("dropped_tokens") or 0)
    if dropped <= 0:
        return []
    tokens, k = int(moe["tokens"]), int(moe["top_k"])
    total = tokens * k
    ep = int(moe.get("expert_parallel") or 1)
    group = f" (the expert-parallel group's {ep} chips')" if ep > 1 else ""
    layers = int(moe.get("moe_layers") or 0) if moe_layers is None else int(moe_layers)
    return [f"{MOE_DROP_NOTE_HEAD}{dropped:,} of the {total:,} token-expert assignments ({dropped / total:.0%}: "
            f"{tokens:,} tokens{group} × top-{k}, routing {moe.get('routing')}, capacity {int(moe['capacity']):,} "
            f"per expert) in each of the {layers:,} MoE layers: the dropped ones skip their expert (the residual "
            f"carries the token), so the experts' work falls by that share"]


def idle_replica_notes(arch: Arch, graph: Graph) -> list[str]:
    """One line when an inference whose parallel keys take ``replica`` = tensor × context × expert × pipeline
    parallel chips (:func:`_replica`) runs on an arch of more: the pass is one replica's (inference has no data
    parallelism here; training's replicas share the gradients), so the other chips sit idle, as
    :func:`one_chip_notes` says of a run no key spreads (llama2_7b decode at tensor_parallel 8 on 16 chips: chips
    8-15; Mixtral at expert_parallel 4 on 8 chips: chips 4-7). Chips left over from whole replicas are
    :func:`idle_chip_notes`' line, so this counts whole replicas beyond the first."""
    info = graph.info
    replica, named = _replica(graph)
    if info.mode == "training" or replica <= 1 or arch.chips // replica <= 1 or "embedding_parallel" in graph.meta:
        return []
    last = replica * (arch.chips // replica) - 1
    return [f"chips: {last + 1 - replica} of the arch's {arch.chips} chips (chips {replica}-{last}) are idle: this "
            f"{info.mode} runs one replica of {named} = {replica} "
            f"chips and every figure here is its own; the other {arch.chips // replica - 1} replica(s) would each run "
            f"a batch of their own (data-parallel serving), or raise tensor_parallel / pipeline_parallel"
            f"{' / expert_parallel' if 'expert_parallel' in named else ''} to use them"]


TP_NODES_NOTE_HEAD = "tensor_parallel: the group of "
"""How :func:`tp_across_nodes_notes`' line begins (:func:`sampled_notes` replaces a layer sample's)."""


def tp_across_nodes_notes(arch: Arch, graph: Graph, ops: Sequence[Mapping]) -> list[str]:
    """One line when the tensor-parallel group spans nodes (``tensor_parallel`` more than
    ``interconnect.node_chips``): each of its per-layer collectives then runs on the scale-out network (the ``nic``
    unit) instead of the node's links, the layout Megatron-LM avoids (it keeps tensor parallelism inside a node and
    spreads across nodes by pipeline and data parallelism: Narayanan et al. 2021, "Efficient Large-Scale Language
    Model Training on GPU Clusters", section 3.3). A row stands for its ``count`` calls, each taking its
    ``mapping.<fn>_s`` (a layer sample's: probe p189 #2a, Mixtral TP 16 on 2 nodes said 6 collectives and 460.4 µs
    of its 2-layer sample for the model's 66 and about 5358 µs)."""
    ic, tp = arch.interconnect, graph.info.tensor_parallel
    if ic is None or ic.node_chips is None or ic.scale_out is None or not ic.crosses_nodes(tp, tp):
        return []
    rows = [r for r in ops if r.get("kind") == OpKind.COLLECTIVE.value and r.get("unit") == "nic"
            and (r.get("mapping") or {}).get("group") == tp]
    if not rows:
        return []
    calls = sum(_count(r) for r in rows)
    secs = sum(_count(r) * float(r["mapping"].get(f"{r.get('fn')}_s", 0.0)) for r in rows)
    return [f"{TP_NODES_NOTE_HEAD}{tp} chips spans {ic.group_nodes(tp, tp)} nodes of {ic.node_chips}, so "
            f"its {calls:,} collectives run on the scale-out network ({ic.scale_out.kind or 'scale_out'}, "
            f"{secs * 1e6:.4g} \u00b5s in all) instead of the node's links; Megatron-LM keeps tensor_parallel <= the "
            f"node's {ic.node_chips} chips and spans nodes with pipeline_parallel or data parallelism"]


SAMPLE_COUNT_NOTE = re.compile(r"(\d[\d,]*) ((?:fused attention )?op\(s\) (?:of dtype |do not fit the modelled ).*)",
                               re.DOTALL)
"""A note that counts one pass's ops of a kind and says nothing else that grows with the layers (:func:`rate_notes`,
:func:`base_rate_notes`, :func:`flash_fallback_notes`, :func:`kv_dequant_notes`): its count (group 1) and the rest (group 2), which names the
kind (a dtype and the units, a reason the FlashAttention kernel does not fit) and so is alike in both layer samples
(:func:`sampled_notes` counts the model's from the two)."""


def sampled_count_notes(notes: Sequence[str], smaller: Sequence[str], n: int) -> list[str]:
    """``notes`` (the larger layer sample's) with each :data:`SAMPLE_COUNT_NOTE` counting the model of ``n`` alike
    layers (or units), affine in n as :func:`sampled_notes`' figures are: (2 − n)·c₁ + (n − 1)·c₂ of the smaller
    sample's count c₁ (its note of the same kind, ``smaller``; 0 where it has none) and the larger's c₂. Probe p233
    #1: llama3_8b's serving run at fp4 said "14 op(s) of dtype fp4" (its 2-layer sample: 2 x 7 linears) where a
    pass of the 32-layer model has 32 x 7 = 224."""
    seen = {m.group(2): int(m.group(1).replace(",", "")) for m in map(SAMPLE_COUNT_NOTE.fullmatch, smaller) if m}

    def whole(note: str) -> str:
        m = SAMPLE_COUNT_NOTE.fullmatch(note)
        if m is None:
            return note
        count = (2 - n) * seen.get(m.group(2), 0) + (n - 1) * int(m.group(1).replace(",", ""))
        return f"{count:,} {m.group(2)}"

    return [whole(note) for note in notes]


def sampled_notes(notes: Sequence[str], arch: Arch, graph: Graph, samples: tuple[Sequence[Mapping], Sequence[Mapping]],
                  n: int, moe_layers: int | None = None, smaller: Sequence[str] = ()) -> list[str]:
    """A layer-sampled pass's notes (``notes``: :func:`build_report`'s for its larger sample, of graph ``graph``)
    with those that count op rows or MoE layers said of the model of ``n`` alike layers (or units) it stands for,
    each where the sample's stood. ``samples``: the op rows of its two samples (1 and 2 layers; k + 1 and k + 2
    after a distinct prefix of k; k + p and k + 2p for a unit of p). Each figure is affine in n as the pass's
    totals are (:func:`accelsim.scenarios.sampling.affine_timing`): (2 − n)·f₁ + (n − 1)·f₂ of the samples' f₁
    and f₂, the sums these notes take with the larger sample's rows counted n − 1 times and the smaller's 2 − n
    times (the larger's first, so that a note naming an op names one of the shown rows); for ops alike in every
    layer that is the composed rows' ``count``s (layers.0's n − 1), and it holds too where a layer's place in the
    scratchpad differs (llama2_7b of 4 layers, prefill 2048 on tpu-v1: layers.0 spills 18 outputs, the others 16
    each, 66 in all). ``moe_layers``: the model's (report.json's ``moe.moe_layers``, extrapolated as
    :data:`accelsim.scenarios.passes.MOE_COUNTS` are). A note the larger sample lacks, the model lacks too (the same
    ops, fewer layers). Probe p189: Mixtral's 2-layer sample said "each of the 2 MoE layers" (32), "6 collectives
    ... 460.4 µs" (66, about 5358 µs) and "4 ops" waiting on Little's law (64), where the run with every layer gives
    the model's. The notes quoting a pass's cycles or bytes as a share of it (the split-activation, depthwise and
    weight-preload notes) stay the sample's: :func:`pass_notes` names it. The notes counting ops of a dtype with no
    rate, or fused attentions the FlashAttention kernel does not fit, from the smaller sample's notes ``smaller`` and
    the larger's (:func:`sampled_count_notes`)."""
    one, two = samples
    rows = [{**r, "count": (n - 1) * _count(r)} for r in two] + [{**r, "count": (2 - n) * _count(r)} for r in one]

    def row_pass(n: str) -> bool:
        return any(n.startswith(f"{fn}: ") for fn in vector.ROW_REDUCTIONS) and ROW_PASS_NOTE_MARK in n

    def lanes(n: str) -> bool:
        return bool(re.match(r"[\d,]+ op\(s\) \(", n)) and LANES_NOTE_MARK + ", which" in n

    redo: list[tuple[Callable[[str], bool], Callable[[], list[str]]]] = [
        (lanes, lambda: lanes_peak_notes(arch, rows, True)),
        (lambda n: bool(SPILL_NOTE.match(n)), lambda: activation_spill_notes(arch, graph, rows)),
        (lambda n: n.startswith(NARROW_NOTE_HEAD) and " systolic op" in n, lambda: narrow_tile_notes(rows)),
        (row_pass, lambda: row_pass_notes(arch, graph, rows)),
        (lambda n: n.startswith(INFLIGHT_NOTE_HEAD), lambda: inflight_bound_notes(arch, rows)),
        (lambda n: n.startswith(SPARSE_NOTE_HEAD), lambda: sparse_latency_notes(arch, rows)),
        (lambda n: n.startswith(TP_NODES_NOTE_HEAD), lambda: tp_across_nodes_notes(arch, graph, rows)),
        (lambda n: n.startswith(MOE_DROP_NOTE_HEAD), lambda: moe_drop_notes(graph, moe_layers)),
    ]
    out = sampled_count_notes(notes, smaller, n)
    for mine, make in redo:
        at = next((i for i, n in enumerate(out) if mine(n)), None)
        if at is None:  # the sample has no such note: nor has the model
            continue
        kept = [n for n in out if not mine(n)]
        out = kept[:at] + make() + kept[at:]
    return out


def one_chip_notes(arch: Arch, graph: Graph, mac_utilization: float) -> list[str]:
    """One line when an arch of several chips runs an inference that no parallel key spreads over them (a CNN, a
    GEMM, a transformer at tensor_parallel 1): the run is one chip's, the others idle, and ``mac_utilization`` is
    against one chip's peak (``arch.peak_macs_per_cycle``), so it also gives the system's share. A DLRM has its own
    line (:func:`embedding_parallel_notes`); a training step's data-parallel replicas use the chips."""
    info = graph.info
    spread = info.tensor_parallel * info.context_parallel * info.expert_parallel * info.pipeline_parallel
    if arch.chips <= 1 or spread > 1 or info.mode == "training" or "embedding_parallel" in graph.meta:
        return []
    n = arch.chips
    calls = [op for op in graph.ops if op.kind is OpKind.COLLECTIVE]
    if calls:  # a collective's own run (all_reduce) spans them, every chip alike; its report is one chip's (p66)
        group = calls[0].group or n
        return [f"chips: this {calls[0].fn} runs on {group} of the {n} chips, each doing the same work"
                f"; every figure here is one chip's (power.chips 1): its energy on all {group} chips is "
                f"{group} x energy.total_j"] if graph.meta.get("model") == "collective" else []
    return [f"chips: {n}: this run uses 1 chip; the other {n - 1} are idle, as {graph.name} ({info.mode}) sets no "
            f"key that spreads it over chips, and every figure here is one chip's: mac_utilization "
            f"{mac_utilization:.1%} is against one chip's peak, {mac_utilization / n:.2%} against the {n}-chip "
            f"system's. "
            f"The keys that use the others: a transformer's tensor_parallel, pipeline_parallel or context_parallel, "
            f"an MoE's expert_parallel, a DLRM's embedding_parallel, and training (data parallel over the chips); a "
            f"CNN or GEMM has no multi-chip mapping (data-parallel inference is batch / {n} on one chip)"]


def embedding_parallel_notes(arch: Arch, graph: Graph) -> list[str]:
    """A DLRM (a graph whose meta has ``embedding_parallel``) on several chips: unsharded, one line saying every
    chip would hold every table (and how to shard them); sharded, one line when the chip holding the most table
    bytes is not the simulated one (the chip with the most look-ups, or a run's slowest chip: scenarios._run_kind):
    its tables' bytes (and in training their optimizer state, at the simulated chip's state bytes per table byte)
    against the main memory, which the simulated chip's ``memory`` does not show. Chips a group of
    ``embedding_parallel`` leaves over: idle; in inference also the groups beyond the first, which hold copies of the
    tables but run none of the pass (probe p112 #8)."""
    meta = graph.meta
    if "embedding_parallel" not in meta or arch.chips <= 1:
        return []
    emb, training = graph.info.embedding_parallel, graph.info.mode == "training"
    tables = len(meta.get("table_rows") or ())  # type: ignore[arg-type]
    if emb == 1:
        held = f"all {tables} tables ({_b(int(meta.get('table_bytes', 0)))})"  # type: ignore[call-overload]
        if training:
            # a table's sparse gradient is all-gathered (its looked-up rows and their ids) and the lazy step updates
            # the union of the chips' rows (builders.training.union_sparse_steps; probe p88 #3)
            sparse = sum(1 for op in graph.ops if op.kind is OpKind.OPTIMIZER and "replica_rows" in op.attrs)
            reduced = ("all-reduces their whole gradients" if not sparse else
                       f"all-gathers the sparse gradients of the {sparse} tables a batch looks up fewer rows of than "
                       f"they hold (each chip's looked-up rows and their int64 ids; its lazy step updates the union "
                       f"of the chips' rows)" + (f" and all-reduces the other {tables - sparse} tables' whole "
                                                 f"gradients" if tables > sparse else ""))
            return [f"embedding_parallel: each of the arch's {arch.chips} chips holds {held} with their optimizer "
                    f"state and {reduced} (data parallel); --set "
                    f"workload.embedding_parallel={arch.chips} shards the tables over the chips (DLRM's "
                    f"model-parallel embeddings: all-to-alls, each table's step on its own chip)"]
        return [f"embedding_parallel: the simulated chip holds {held} and runs the whole batch alone; the other "
                f"{arch.chips - 1} chips hold none of this pass (each could be a replica with a batch of its own); "
                f"--set workload.embedding_parallel={arch.chips} shards the tables over the chips (DLRM's "
                f"model-parallel embeddings: each chip looks up its tables for the whole batch, an all-to-all, "
                f"each chip's MLPs on batch / {arch.chips})"]
    out = []
    groups = arch.chips // emb
    used = emb * groups
    if used < arch.chips:
        which = f"chip {used}" if used == arch.chips - 1 else f"chips {used}-{arch.chips - 1}"
        out.append(f"chips: {arch.chips - used} of the arch's {arch.chips} chips ({which}) are idle: a group of "
                   f"embedding_parallel = {emb} chips holds every table once and {arch.chips} holds "
                   f"{groups} whole {'one' if groups == 1 else 'ones'}")
    # E over every whole group, where the builder takes it (it divides the batch and, table-wise, the tables
    # suffice: builders.recsys.dlrm_mlperf)
    takes = int(meta.get("batch") or 0) % used == 0 and (meta.get("embedding_sharding") == "row" or used <= tables)
    shard_all = (f"; --set workload.embedding_parallel={used} shards the tables over "
                 f"{'all the' if used == arch.chips else 'the'} {used} chips") if takes else ""
    if not training and groups > 1:  # an inference pass runs on one group; the others hold copies of the tables
        # (probe p112 #8): each could run a batch of its own, as the embedding_parallel = 1 note says of a chip
        out.append(f"embedding_parallel: this pass runs on one group of {emb} chips (chips 0-{emb - 1}); the other "
                   f"{groups - 1} {'group' if groups == 2 else 'groups'} of {emb} (chips {emb}-{used - 1}) "
                   f"{'holds' if groups == 2 else 'each hold'} a copy of every table but none of this pass (each "
                   f"could run a batch of its own)" + shard_all)
    info = meta.get("embedding_shards")
    if not isinstance(info, Mapping):
        return out
    shards = info["shards"]
    sim = shards[info["simulated_chip"]]
    full = max(shards, key=lambda s: (s["table_bytes"], -s["chip"]))
    if full["chip"] == sim["chip"]:
        return out
    state = 0
    if training:  # the simulated chip's tables' state bytes per table byte, times the fullest chip's table bytes
        steps = [op for op in graph.ops if op.kind is OpKind.OPTIMIZER and op.attrs.get("table_shard")]
        own = sum(op.weights[0].nbytes(op.dtype) for op in steps)
        state = full["table_bytes"] * sum(int(op.attrs["state_bytes"]) for op in steps) // own if own else 0
    main = arch.main_memory
    cap = arch.memory(main).usable
    need = full["table_bytes"] + state
    what = f"{_b(full['table_bytes'])} of tables" + (f" and {_b(state)} of their optimizer state" if state else "")
    # the chip a graph built alone is (builders.recsys.simulated_chip: the most look-ups, then rows; row-wise 0)
    busiest = min(shards, key=lambda s: (-len(s["tables"]), -s["rows"], s["chip"]))["chip"] \
        if info.get("sharding") == "table" else 0
    why = ": the most look-ups, and the largest all-to-all send, which every chip waits for" \
        if sim["chip"] == busiest else ""
    return out + [f"embedding_parallel: chip {sim['chip']} is simulated ({len(sim['tables'])} of the {tables} "
                  f"tables{why}); chip "
                  f"{full['chip']} holds the most table bytes, {what} ({_tables(len(full['tables']))}), "
                  f"{'within' if need <= cap else 'more than'} {main}'s {_b(cap)}; report.json's memory is chip "
                  f"{sim['chip']}'s (embedding_parallel.shards lists every chip's)"]


def _tables(n: int) -> str:
    return f"{n} table" if n == 1 else f"{n} tables"


def nccl_channel_notes(arch: Arch, tg: TaskGraph) -> list[str]:
    """A run with a collective NCCL's tuner priced (ring, tree, NVLS or NVLS_TREE) on links more than twice as fast as NCCL's
    channels (``Interconnect.nccl_channels_bound``): one line saying the channels, not the link, bound them."""
    ic = arch.interconnect
    if ic is None or ic.nccl is None or ic.collective != "nccl" or not ic.nccl_channels_bound:
        return []
    if not any(m.mapping.get("algorithm") in ("ring", "tree", "nvls", "nvls_tree") and m.mapping.get("protocol") for m in tg.ops):
        return []
    channels = ic.nccl.bus_bandwidth
    return [f"interconnect: NCCL's channels (nccl.channels x nccl.channel_bandwidth = {ic.nccl.channels} x "
            f"{ic.nccl.channel_bandwidth / 1e9:g} = {channels / 1e9:g} GB/s) carry less than the link's "
            f"{ic.bandwidth / 1e9:g} GB/s; set interconnect.nccl.channel_bandwidth to follow a faster link"]


CUSTOM_NOTE_SHARE = 0.10  # the share of a run above which custom_all_reduce_notes speaks (probe p135 #2: 34 %)
CUSTOM_NOTE_HEAD = "options.all_reduce: nccl: "
"""How :func:`custom_all_reduce_notes`' line begins: :func:`recustom_notes` replaces a pass's with the run's."""


def custom_all_reduce_notes(arch: Arch, ops: Sequence[Mapping], total: float, *, training: bool = False,
                            chips: int = 1) -> list[str]:
    """An inference run whose all-reduces inside a node NCCL priced, of sizes and groups vLLM's custom all-reduce
    would take (:func:`accelsim.cost.collective.custom`, the rule ``options.all_reduce: custom`` applies), whose link
    time is more than :data:`CUSTOM_NOTE_SHARE` of its ``total`` cycles (summed over its ``chips``: a pipeline's P)
    in the op rows ``ops``: one line with their count, their link time (each call as priced, ``mapping.
    all_reduce_s``: the console's "collective ops" row's measure, probe p158 #2), what the custom kernel would take
    for them, and the option that prices them so, as ``accelsim serve`` does (probe p135 #2: a TP8 LLaMA-2-7B decode
    token on dgx-a100 spent 1.6 of 4.71 ms in 8 KB NCCL all-reduces). The difference is an upper bound on what the
    run saves: work or the host's kernel launches that overlap the calls keep their share (probe p157 #3: a
    launch-bound step saved none). No line for a ``training`` run, whose collectives are NCCL's (Megatron-LM,
    DDP): vLLM's kernel is a serving engine's. ``run``'s default stays NCCL's: it models a PyTorch program's
    collectives. A row stands for its ``count`` executions (a composed run's: :func:`recustom_notes`)."""
    ic = arch.interconnect
    if training or ic is None or ic.collective != "nccl" or total <= 0:
        return []
    count, link_s, own_s, sizes, groups = 0, 0.0, 0.0, set(), set()
    for o in ops:
        m = o.get("mapping", {})
        if o.get("fn") != "all_reduce" or o.get("unit") != LINK or "message_bytes" not in m:
            continue
        nbytes, group = int(m["message_bytes"]), int(m["group"])
        own = collective.custom(ic, nbytes, group)
        if own is None or m.get("algorithm") == own.algorithm:  # not vLLM's, or already priced as its kernel
            continue
        times = int(o.get("count", 1))
        count += times
        link_s += times * float(m.get("all_reduce_s", 0.0))
        own_s += times * own.seconds
        sizes.add(nbytes)
        groups.add(group)
    clock = arch.clock_hz
    if not count or link_s * clock <= CUSTOM_NOTE_SHARE * total:
        return []
    what = format_size(min(sizes)) if len(sizes) == 1 else f"{format_size(min(sizes))} to {format_size(max(sizes))}"
    over = "the chips' time" if chips > 1 else "the run"
    return [f"{CUSTOM_NOTE_HEAD}{count:,} all-reduce{'s' * (count != 1)} inside the node ({what} over "
            f"{'/'.join(map(str, sorted(groups)))} chips) take {link_s * 1e3:,.3f} ms of link time as NCCL's "
            f"({link_s * clock / total:.1%} of {over}, {total / clock * 1e3:,.3f} ms); vLLM's custom all-reduce, "
            f"which accelsim serve runs, takes them in {own_s * 1e3:,.3f} ms, at most {(link_s - own_s) * 1e3:,.3f} "
            f"ms less (less where other work or kernel launches overlap them): --set options.all_reduce=custom "
            f"prices them so"]


def recustom_notes(notes: Sequence[str], arch: Arch, ops: Sequence[Mapping], run_cycles: float, *,
                   training: bool = False, chips: int = 1) -> list[str]:
    """A composed run's notes with its passes' :func:`custom_all_reduce_notes` line (one pass's count and share: a
    layer sample's prefill) replaced, where the first stood (else last), by the run's own from its op rows ``ops``
    (each standing for its ``count`` executions) over ``run_cycles`` (summed over its ``chips``; ``training``:
    none)."""
    mine = custom_all_reduce_notes(arch, ops, run_cycles, training=training, chips=chips)
    at = next((i for i, n in enumerate(notes) if n.startswith(CUSTOM_NOTE_HEAD)), None)
    kept = [n for n in notes if not n.startswith(CUSTOM_NOTE_HEAD)]
    if at is None:
        return [*kept, *mine]
    return [*kept[:at], *mine, *kept[at:]]


def nvls_dtype_notes(arch: Arch, graph: Graph, tg: TaskGraph) -> list[str]:
    """One line per element dtype whose all-reduces inside an NVSwitch node whose switches reduce (NVLS) NCCL ran
    as a ring or tree because NVLS cannot reduce that type (:data:`accelsim.cost.collective.NVLS_DTYPES`, NCCL's
    ``ncclNvlsSupported``) where its tuner would run NVLS on 16-bit elements of the same bytes: the count, and the
    first such call's time against NVLS's (probe p106 #5: an int8 ``collective`` run was 1.5x slower, unexplained)."""
    ic = arch.interconnect
    if ic is None or ic.collective != "nccl" or not collective.has_nvls(ic):
        return []
    dtypes = {op.name: op.dtype for op in graph.ops if op.kind is OpKind.COLLECTIVE}
    lost: dict[str, list] = {}
    for m in tg.ops:
        dtype = dtypes.get(m.name)
        if (m.fn != "all_reduce" or m.unit != LINK or dtype is None or collective.has_nvls(ic, dtype)
                or m.mapping.get("algorithm") not in ("ring", "tree")):
            continue
        nbytes, group = int(m.mapping["message_bytes"]), int(m.mapping["group"])  # type: ignore[call-overload]
        nvls = collective.choose(ic, "all_reduce", nbytes, group)
        if nvls.algorithm != "nvls":
            continue
        seen = lost.setdefault(dtype, [0, m, nvls])
        seen[0] += 1
    out = []
    for dtype, (n, m, nvls) in lost.items():
        took = float(m.mapping["all_reduce_s"])  # type: ignore[arg-type]
        out.append(f"{n} all_reduce{'s' if n != 1 else ''} of {dtype} ran {m.mapping['algorithm']}/"
                   f"{m.mapping.get('protocol', '')} without NVLink SHARP: NVLS reduces only int32 / fp16 / bf16 / "
                   f"fp32 / fp64 elements (NCCL's ncclNvlsSupported; NCCL 2.20 has no fp8), so "
                   f"{format_size(int(m.mapping['message_bytes']))} took {took * 1e6:,.1f} µs where 16-bit elements "
                   f"would run NVLS in {nvls.seconds * 1e6:,.1f} µs")
    return out


RATE_UNITS = {"systolic": "systolic arrays", "vector": "vector units"}  # a rate note's name for a unit kind


def rate_notes(tg: TaskGraph, arch: Arch | None = None) -> list[str]:
    """One line per compute dtype and core unit (its group: the systolic arrays, the vector units, a listed unit)
    that has no rate for it: the dtype whose rate it ran at instead (issue 12). Given the ``arch``, not the
    systolic arrays' where they list no ``rates`` (every dtype runs as the arch's): :func:`base_rate_notes`'."""
    group = {u.name: u.group for u in tg.units}
    sa = arch.core.systolic if arch is not None else None
    skip = "systolic" if sa is not None and not sa.rates else None
    seen: dict[tuple[str, str, str], int] = {}
    for m in tg.ops:
        rate = m.mapping.get("rate")
        if isinstance(rate, dict) and rate.get("runs_as") != rate.get("dtype"):
            first = first_unit(m.unit)
            if group.get(first) == skip:
                continue
            key = (str(rate["dtype"]), str(rate["runs_as"]), group.get(first) or "")
            seen[key] = seen.get(key, 0) + 1
    return [f"{n} op(s) of dtype {d}: the {RATE_UNITS.get(g, f'{g} units' if g else 'units')} have no {d} rate and "
            f"run them at their {w} rate" + (_said(sa, d) if g == "systolic" else "") for (d, w, g), n in seen.items()]


def _said(sa: SystolicArray | None, dtype: str) -> str:
    """The arch's words on ``dtype`` on its systolic arrays (``core.systolic.rate_notes``, probe p130 #5: a TPU's
    fp32 GEMM is one bf16 MXU pass at JAX's Precision.DEFAULT) as a rate note's tail, else ""."""
    note = sa.rate_notes.get(dtype) if sa is not None else None
    return f": {note}" if note else ""


def base_rate_notes(arch: Arch, tg: TaskGraph) -> list[str]:
    """One line per compute dtype other than the arch's that ran on systolic arrays listing no ``rates`` (the
    documented default: every dtype at rows x cols MACs a cycle, so an fp32 op on an int8 array runs at the int8
    rate): the count of such ops, as :func:`rate_notes` says it of an array that lists rates."""
    sa = arch.core.systolic
    if sa is None or sa.rates:
        return []
    group = {u.name: u.group for u in tg.units}
    seen: dict[str, int] = {}
    for m in tg.ops:
        rate = m.mapping.get("rate")
        if (isinstance(rate, dict) and rate.get("dtype") != arch.dtype and rate.get("multiplier") == 1.0
                and group.get(m.unit.split(" (")[0].split("..")[0]) == "systolic"):
            seen[str(rate["dtype"])] = seen.get(str(rate["dtype"]), 0) + 1
    return [f"{n} op(s) of dtype {d}: the systolic arrays have no {d} rate and run them at their {arch.dtype} rate "
            f"(core.systolic.rates is empty: every dtype at rows x cols MACs a cycle; give core.systolic.rates, "
            f"e.g. {{{d}: 0.25}}, for an array slower at {d}; their MAC energy is {arch.dtype}'s, the dtype they run "
            f"as)" + _said(sa, d) for d, n in seen.items()]


def flash_fallback_notes(tg: TaskGraph) -> list[str]:
    """One line per reason a GPU's FlashAttention kernel could not run fused attention ops (``mapping.
    flash_unsupported``, :func:`accelsim.cost.attention.unsupported`): which kernel the caller would get instead and
    how the op was priced."""
    seen: dict[str, int] = {}
    for m in tg.ops:
        why = m.mapping.get("flash_unsupported")
        if isinstance(why, str):
            seen[why] = seen.get(why, 0) + 1
    # docs/architecture.md ("What a FlashAttention kernel can run"): on the 64 KiB-LDS AMD parts ROCm's own
    # FlashAttention (Composable Kernel's fmha_fwd, smaller tiles) is not refused; the arch names no vendor, so the
    # note gives both (probe p116 #3: on mi300x it said "cannot run" and named the CU an SM)
    rocm = ("; on an AMD GPU ROCm's own FlashAttention (Composable Kernel's fmha_fwd, whose tiles fit a CU's 64 KiB "
            "LDS) would run them")
    return [f"{n} fused attention op(s) do not fit the modelled FlashAttention kernel ({why}), so they are priced as "
            f"one fused kernel of their two GEMMs on the matrix units with the softmax overlapped and K/V streamed "
            f"once per query block a core holds (the model of non-GPU cores); the kernel that would run them is not "
            f"modelled: on an NVIDIA GPU PyTorch's scaled_dot_product_attention would fall back to its "
            f"memory-efficient kernel, a serving engine to another backend"
            f"{rocm if 'B of shared memory' in why else ''}"
            for why, n in seen.items()]


def kv_dequant_notes(tg: TaskGraph) -> list[str]:
    """One line per KV-cache dtype a GPU's FlashAttention kernel does not compute in and dequantises as it reads
    (``mapping.kv_dequant``, :func:`accelsim.cost.attention.compute_dtype`: an int8 or int4 cache, an fp8 one on a
    kernel without fp8): the fused attention ops that ran at the 16-bit rate over it (probe p252 #1, #2)."""
    seen: dict[tuple[str, str, str], int] = {}
    gemms: dict[tuple[str, str], int] = {}  # an unfused attention's scores / context GEMMs (cost.attention.gemm_dtype)
    for m in tg.ops:
        kv, rate = m.mapping.get("kv_dequant"), m.mapping.get("rate")
        if isinstance(kv, str) and isinstance(rate, dict):
            if "kernel" not in m.mapping:
                gemms[(kv, str(rate.get("dtype")))] = gemms.get((kv, str(rate.get("dtype"))), 0) + 1
                continue
            key = (kv, str(rate.get("dtype")), str(m.mapping.get("kernel")))
            seen[key] = seen.get(key, 0) + 1
    return [f"{n} fused attention op(s) of dtype {kv} (K and V stored in it) run {kernel} at the {dtype} rate: it takes no "
            f"{kv}, and GPU serving stacks dequantise such a cache to the model's 16-bit dtype as they read it "
            f"(SGLang #10083; vLLM attends in the cache's dtype only with FlashAttention-3 over an 8-bit float "
            f"cache); K and V move at {kv}'s width and their dequantisation (a scale-multiply an element) runs on "
            f"the vector lanes beside the softmax" for (kv, dtype, kernel), n in seen.items()] + [
            f"{n} op(s) of dtype {kv} (unfused attention's scores / context GEMMs over a KV cache stored in it) run at "
            f"the {dtype} rate, as no GPU stack computes QKᵀ or PV in {kv}; modelled: K and V (and eager GQA's "
            f"repeat_kv copies of them) move at {kv}'s width and their dequantisation (a scale-multiply an element) "
            f"runs on the vector lanes beside the MMAs, a lower bound: transformers' QuantizedCache dequantises the "
            f"whole cache to {dtype} every step (a pass reading {kv} and writing {dtype}) and hands eager attention "
            f"{dtype} K and V to copy and multiply, slower than a {dtype} cache, which is not modelled"
            for (kv, dtype), n in gemms.items()]


def launch_on_critical_path(tg: TaskGraph, trace: Trace) -> tuple[int, int]:
    """Cycles the op launches add to the run (host LAUNCH and device DISPATCH tasks), and of those the DISPATCH
    cycles: ``total_cycles`` less the end of the same schedule replayed with the launches taking no time
    (:func:`_replayed_ends`). For a single op this is the whole launch time; when launches run ahead of execution,
    only what the device waited for."""
    tasks = tg.tasks
    if not tasks or not any(t.kind in (TaskKind.LAUNCH, TaskKind.DISPATCH) for t in tasks):
        return 0, 0
    total = int(trace.end.max())
    no_host, no_launch = _replayed_ends(tg, trace)
    added = max(0, total - no_launch)
    return added, min(added, max(0, no_host - no_launch))


def _replayed_ends(tg: TaskGraph, trace: Trace) -> tuple[int, int]:
    """The last task's end in either replay of :func:`_replay`."""
    done_h, done_a = _replay(tg, trace)
    return max(done_h), max(done_a)


def device_phase_ends(tg: TaskGraph, trace: Trace, phase_of_op: Sequence[str | None]) -> dict[str | None, int]:
    """When each training phase's last task ends (``phase_of_op``: each op's phase; None outside training) with the
    simulated schedule replayed with the host's LAUNCH tasks taking no time (:func:`_replay`): the device's own
    time to each phase's end, without waiting for the host. The ends are cumulative (a phase's end is at least the
    end of every phase before it in ``phase_of_op``'s order)."""
    done_h, _ = _replay(tg, trace)
    order = list(dict.fromkeys(phase_of_op))
    ends = dict.fromkeys(order, 0)
    for t, end in zip(tg.tasks, done_h, strict=True):
        ph = phase_of_op[t.op]
        if end > ends[ph]:
            ends[ph] = end
    out, running = {}, 0
    for ph in order:
        running = max(running, ends[ph])
        out[ph] = running
    return out


def _replay(tg: TaskGraph, trace: Trace) -> tuple[list[int], list[int]]:
    """Each task's end when the simulated schedule is replayed with the host's LAUNCH tasks taking no time, and
    with the DISPATCH tasks free as well: every task in the order the run started it, after its dependencies and
    the task before it on its unit, holding its unit for its cycles and completing as long after its start as it
    did in the run (a memory task's latency). The run's order of tasks on each unit is kept (a what-if on one
    schedule, not a re-simulation: a freed host could have let the device reorder its work, which only the engine
    would find). Both replays in one pass over the tasks."""
    tasks = tg.tasks
    order = np.lexsort((np.arange(len(tasks)), trace.end, trace.start)).tolist()
    span = (trace.end - trace.start).tolist()
    launch, dispatch = TaskKind.LAUNCH, TaskKind.DISPATCH
    done_h, done_a = [0] * len(tasks), [0] * len(tasks)  # replay without launches; without launches and dispatches
    free_h, free_a = [0] * len(tg.units), [0] * len(tg.units)  # when each unit is free in either replay
    for i in order:
        _, _, kind, unit, cycles, deps, *_ = tasks[i]
        if deps:
            sh, sa = max([done_h[d] for d in deps]), max([done_a[d] for d in deps])
        else:
            sh = sa = 0
        if unit >= 0:
            sh, sa = max(sh, free_h[unit]), max(sa, free_a[unit])
        if kind is launch:
            done_h[i], done_a[i] = sh, sa
            if unit >= 0:
                free_h[unit], free_a[unit] = sh, sa
            continue
        done_h[i] = sh + span[i]
        done_a[i] = sa if kind is dispatch else sa + span[i]
        if unit >= 0:
            free_h[unit], free_a[unit] = sh + cycles, (sa if kind is dispatch else sa + cycles)
    return done_h, done_a


def host_step_phase(tg: TaskGraph, trace: Trace) -> dict[str, dict[str, int]]:
    """``phases.host_optimizer``: the optimizer steps the host's CPU ran (``options.offload: optimizer_cpu``,
    ZeRO-Offload): the span of the CPU's work (its first step's start to its last one's end), its busy cycles as
    ``compute_cycles``, ``ops`` (the steps) and ``link_bytes``: what crossed the host link for them, the gradients
    down and the updated parameters up; empty where the host ran none."""
    cpu = {i for i, u in enumerate(tg.units) if u.kind is UnitKind.HOST_CPU}
    on_cpu = [t for t in tg.tasks if t.unit in cpu] if cpu else []
    if not on_cpu:
        return {}
    steps = {t.op for t in on_cpu}
    start = min(int(trace.start[t.id]) for t in on_cpu)
    stop = max(int(trace.end[t.id]) for t in on_cpu)
    moved = sum(int(tg.ops[i].mapping["grad_down_bytes"]) + int(tg.ops[i].mapping["param_up_bytes"])  # type: ignore[call-overload]
                for i in steps)
    return {"host_optimizer": {"start_cycle": start, "end_cycle": stop, "compute_cycles": sum(t.cycles for t in on_cpu),
                               "ops": len(steps), "cycles": stop - start, "link_bytes": moved}}


def _phases(ops: list[dict]) -> dict[str, dict[str, int]]:
    """Per training phase (forward, backward, optimizer): its span on the timeline and its compute cycles."""
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        phase = op["mapping"].get("phase")
        if phase is None or op["unit"] == "none":
            continue
        row = out.setdefault(phase, {"start_cycle": op["start_cycle"], "end_cycle": op["end_cycle"],
                                     "compute_cycles": 0, "ops": 0})
        row["start_cycle"] = min(row["start_cycle"], op["start_cycle"])
        row["end_cycle"] = max(row["end_cycle"], op["end_cycle"])
        row["compute_cycles"] += op["compute_cycles"]
        row["ops"] += 1
    for row in out.values():
        row["cycles"] = row["end_cycle"] - row["start_cycle"]
    return out


def footprint(graph: Graph, arch: Arch, tg: TaskGraph) -> dict[str, dict[str, float]]:
    """Bytes held at each memory against its capacity: parameters, KV cache and (in the main memory) the peak of
    activations live at once (the largest op's inputs and output, as placement reserved them: less the tensors
    counted elsewhere, those already placed (weights, KV caches), those stashed for the backward pass and a
    parameter's gradient, which ``gradients`` holds; :func:`~accelsim.mapping.placement.place_tensors`). A model
    with recurrent layers also has ``state``: their fixed-size states (Mamba's, Gated DeltaNet's, the short convs'
    last taps; graph meta ``state_cache_bytes``), held beside the KV cache and counted there no more. A training
    step's ``optimizer_states`` at the host include the host CPU's copy of the parameters where no state holds it
    (``TaskGraph.host_copy_bytes``: options.offload: optimizer_cpu in fp32)."""
    info = graph.info
    # the recurrent states: the caches a state write fills (tlayers.state_write, a KV_APPEND that keeps its dtype)
    state_names = {str(op.attrs["cache"]) for op in graph.ops
                   if op.kind is OpKind.KV_APPEND and op.attrs.get("keep_dtype") and "cache" in op.attrs}
    state_total = int(graph.meta.get("state_cache_bytes", 0) or 0)
    sizes: dict[str, int] = {}
    states: set[str] = set()
    for op in graph.ops:
        for w in op.weights:
            if w.name not in sizes:
                sizes[w.name] = w.nbytes(op.dtype)
            if w.role == "state":
                states.add(w.name)
    kv = set(info.kv_cache)
    kv_sizes = graph.kv_cache_sizes()  # in the KV-cache dtype
    sizes.update(kv_sizes)
    main = arch.main_memory
    # the KV this pass appends (a prefill's whole cache; a decode step's new token) is held where it is written,
    # the main memory: the caches after the pass less the cache inputs already counted
    appended = max(int(info.kv_cache_bytes) - sum(kv_sizes.values()), 0)
    # of which recurrent states: those the pass writes without reading them (a prompt's)
    appended_state = min(max(state_total - sum(b for n, b in kv_sizes.items() if n in state_names), 0), appended)
    out: dict[str, dict[str, float]] = {}
    for lv in arch.memories:
        # each tensor's bytes at lv, once: KV caches (recurrent states apart), optimizer states, the rest
        kv_at = recurrent_at = state_at = weight_at = 0
        for n, b in sizes.items():
            b = _bytes_at(n, b, lv, tg)
            if n in kv and n in state_names:
                recurrent_at += b
            elif n in kv:
                kv_at += b
            if n in states:
                state_at += b
            if n not in kv and n not in states:
                weight_at += b
        act = tg.peak_activation_bytes if lv == main else 0
        level = arch.memory(lv)
        row = {"capacity": level.capacity, "weights": weight_at,
               "kv_cache": kv_at + (appended - appended_state if lv == main else 0)}
        if state_names:
            row["state"] = recurrent_at + (appended_state if lv == main else 0)
        if info.mode == "training":
            row["gradients"] = info.gradient_bytes if lv == main else 0
            # with the host CPU's copy of the parameters where it holds one (options.offload: optimizer_cpu, fp32)
            row["optimizer_states"] = state_at + (tg.host_copy_bytes if lv == arch.spill_memory else 0)
            act += info.stashed_activation_bytes if tg.stash_level == lv else 0
        row["activations"] = act
        row["used"] = sum(v for k, v in row.items() if k != "capacity")
        if level.usable != level.capacity:  # what a program can allocate (hbm.usable_fraction): what fits, and
            row["usable"] = level.usable  # what the fraction is of
        row["fraction"] = row["used"] / usable_bytes(row) if usable_bytes(row) else 0.0
        out[lv] = row
    return out


def _bytes_at(name: str, nbytes: int, level: str, tg: TaskGraph) -> int:
    """Bytes of tensor ``name`` held at ``level``: a split table by its rows there, others whole."""
    if name in tg.tables:
        return tg.tables[name].bytes_at(nbytes, level)
    return nbytes if tg.placement.get(name) == level else 0


def _table(split, arch: Arch) -> dict[str, float]:
    """report.json's row of a split table: its rows, and the rows and hit fraction of each memory but the last."""
    row: dict[str, float] = {"rows": split.rows}
    for lv in arch.memories[:-1]:
        row[f"rows_in_{lv}"] = split.rows_at.get(lv, 0)
        row[f"{lv}_hit_fraction"] = split.hits_at.get(lv, 0.0)
    return row


def _group_sum(keys: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv, weights=values)
    return [(int(k), int(s)) for k, s in zip(uniq, sums, strict=True)]


def _placement(placement: Mapping[str, str], tables: Mapping) -> dict[str, str] | dict[str, int]:
    """report.json's ``placement``: each tensor's memory, or a table split over several memories by rows their
    names joined by "+", innermost first ("hbm+host": look-ups served from each, ``tables`` says how); over 64
    tensors, the count in each."""
    labels = dict(placement)
    for name, split in tables.items():
        where = split.levels()
        if name in labels and len(where) > 1:
            labels[name] = "+".join(where)
    return labels if len(labels) <= 64 else _placement_counts(labels)


def _placement_counts(placement: Mapping[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lv in placement.values():
        counts[f"tensors_in_{lv}"] = counts.get(f"tensors_in_{lv}", 0) + 1
    return counts
