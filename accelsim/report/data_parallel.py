"""What a data-parallel training step's report says of its replicas: the gradient reduction as a phase of its own
(``phases.grad_reduce``), the ``data_parallel`` record (replicas, per-replica and global batch, samples/s) and the
note that says every other figure is one replica's.

The mapper attributes each gradient's all-reduce (or reduce-scatter) to the optimizer step it serves
(``Emitter._reduce_gradients``) and records the block of tasks it emitted (``TaskGraph.grad_reduce``); a step's op
row spans its own math, and the reductions' span, link busy cycles and link bytes are this module's phase.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..ir import Graph
from ..tasks import TaskGraph
from ..trace import Trace


def grad_reduce_tasks(tg: TaskGraph) -> np.ndarray:
    """Whether each task of ``tg`` belongs to its data-parallel gradient reduction (bool per task)."""
    out = np.zeros(len(tg.tasks), dtype=bool)
    first, end = tg.grad_reduce
    out[first:end] = True
    return out


def grad_reduce_phase(tg: TaskGraph, trace: Trace) -> dict[str, dict[str, int]]:
    """``phases.grad_reduce``: the data-parallel gradient reduction's span (its first link task's start to its last
    one's end), its link busy cycles as ``compute_cycles`` (the sum over its collectives, which overlap one another
    and the backward pass), ``ops`` (the optimizer steps whose gradient is reduced) and ``link_bytes`` (bytes each
    chip sends); empty when the step reduces nothing (one replica)."""
    first, end = tg.grad_reduce
    on_unit = [t for t in tg.tasks[first:end] if t.unit >= 0]
    if not on_unit:
        return {}
    start = min(int(trace.start[t.id]) for t in on_unit)
    stop = max(int(trace.end[t.id]) for t in on_unit)
    return {"grad_reduce": {"start_cycle": start, "end_cycle": stop,
                            "compute_cycles": sum(t.cycles for t in on_unit),
                            "ops": len({t.op for t in on_unit}), "cycles": stop - start,
                            "link_bytes": sum(t.nbytes for t in on_unit)}}


def replicas(graph: Graph, tg: TaskGraph) -> int:
    """The data-parallel replicas of a training step: the chips each dense gradient is reduced over
    (``TaskGraph.data_parallel``) over the chips among them that share one replica's batch: its context-parallel
    chips and a DLRM's ``embedding_parallel`` group (whose chips each look up their tables for the group's whole
    batch and run the MLPs on batch / embedding_parallel of its samples: probe p71 #1, E = 8 on 8 chips counted 8
    replicas of batch 2048, one group of it)."""
    info = graph.info
    return max(tg.data_parallel // (max(info.context_parallel, 1) * max(info.embedding_parallel, 1)), 1)


def data_parallel_record(graph: Graph, tg: TaskGraph, seconds: float,
                         workload: Mapping[str, object]) -> dict[str, dict[str, float | int]]:
    """report.json's ``data_parallel`` of a one-pass training step (one replica too, so that ``compare`` and sweeps
    set a one-chip step's throughput beside a data-parallel one's: probe p28; else empty): :func:`replica_record`
    of the pass. A pipeline's or an accumulating step's pass is one micro-batch of one stage: the scenario that
    composes its step records it (``scenarios.pipeline``, over the iteration's seconds)."""
    info = graph.info
    if info.mode != "training" or info.micro_batches > 1 or info.pipeline_parallel > 1:
        return {}
    batch = int(info.batch or workload.get("batch") or 1)  # type: ignore[call-overload]
    return replica_record(replicas(graph, tg), info.tensor_parallel * info.context_parallel * info.embedding_parallel,
                          batch, 1, seconds)


def replica_record(n: int, chips_per_replica: int, micro_batch: int, micro_batches: int,
                   seconds: float) -> dict[str, dict[str, float | int]]:
    """``data_parallel``: ``replicas`` (``n``), ``chips_per_replica`` (tensor × context × pipeline parallel, a
    DLRM's × embedding_parallel),
    ``batch_per_replica`` (``micro_batch`` × ``micro_batches``: the samples each replica runs in the step, a
    pipeline's or gradient accumulation's micro-batches included), ``global_batch`` (× replicas) and
    ``samples_per_s`` (the global batch over the step's ``seconds``)."""
    batch = micro_batch * micro_batches
    return {"data_parallel": {
        "replicas": max(n, 1), "chips_per_replica": chips_per_replica,
        "batch_per_replica": batch, "global_batch": batch * max(n, 1),
        "samples_per_s": batch * max(n, 1) / seconds if seconds else 0.0}}


def data_parallel_notes(record: Mapping[str, Mapping[str, float | int]], phases: Mapping[str, Mapping[str, int]],
                        clock_hz: float, chips: int, *, micro_batches: int = 1, stages: int = 1,
                        step_reduce_s: float | None = None, embedding_parallel: int = 1) -> list[str]:
    """One line for a data-parallel training step (``record``: :func:`data_parallel_record`'s or
    :func:`replica_record`'s), or a DLRM's step whose replica is an ``embedding_parallel`` group of chips (one group
    too: its chips share the batch, each running the MLPs on batch / embedding_parallel samples): its replicas and
    batches (of ``micro_batches`` micro-batches), that the report's
    figures are one chip's (a pipeline's: its ``stages`` chips of one tensor-parallel rank) but
    ``efficiency.j_per_step`` (all the arch's ``chips``'), and the gradient reduction's phase
    (``phases.grad_reduce``) beside the steps'. A pipeline's or accumulated step (``step_reduce_s``:
    ``pipeline.grad_reduce_s``, the reduction of the stage whose tail ends the step) names that figure, the
    step's, and phases.grad_reduce as the bottleneck stage's (probe p70 #4: the note said 511.5 ms, the step 515.9)."""
    dp = record.get("data_parallel")
    emb = max(embedding_parallel, 1)
    if not dp or (int(dp["replicas"]) <= 1 and emb <= 1):
        return []
    n, per = int(dp["replicas"]), int(dp["chips_per_replica"])
    batch = int(dp["batch_per_replica"])
    replica = f"{per} chips" if per > 1 else "one chip"
    if emb > 1:
        replica += (f" (an embedding_parallel group: each chip looks up its tables for the whole batch and runs the "
                    f"MLPs on {batch // emb} of its samples)")
    red = phases.get("grad_reduce")
    span = f"{red['cycles'] / clock_hz * 1e3:.4g} ms span, {red['link_bytes']:,} B sent per chip" if red else ""
    if red and step_reduce_s is not None:
        reduce = (f"; the gradient reduction over the link takes pipeline.grad_reduce_s ({step_reduce_s * 1e3:.4g} ms, "
                  f"the stage whose optimizer tail ends the step; phases.grad_reduce, {span}, is the bottleneck "
                  "stage's), apart from pipeline.optimizer_step_s (the steps, which wait for it)")
    else:
        reduce = (f"; the gradient reduction over the link is phases.grad_reduce ({span}), apart from "
                  "phases.optimizer (the steps, which wait for it)" if red else "")
    micro = f" = {micro_batches} micro-batches of {batch // micro_batches}" if micro_batches > 1 else ""
    covers = (f"one pipeline's, its {stages} stages' chips of one tensor-parallel rank (macs, flops, energy.total_j; "
              f"per chip: efficiency.j_per_step_per_chip)" if stages > 1 else
              "one chip's (macs, flops, memory, energy.total_j, efficiency.j_per_step_per_chip)")
    runs = f"{n} replicas of {replica} each run" if n > 1 else f"1 replica of {replica} runs"
    return [f"data parallel: {runs} the training step on a batch of "
            f"{batch}{micro} (global batch {dp['global_batch']}, {dp['samples_per_s']:,.1f} samples/s); "
            f"every figure here is {covers} but efficiency.j_per_step, all {chips} chips'{reduce}"]


__all__ = ["data_parallel_notes", "data_parallel_record", "grad_reduce_phase", "grad_reduce_tasks", "replica_record",
           "replicas"]
