"""Lowering: an op graph on an architecture becomes a TaskGraph of coarse load/compute/store tasks.

:func:`lower` is a short pipeline of named passes, each a function from frozen values to frozen values
(docs/architecture.md describes the model; each module's docstring its step):

1. :func:`.aliases.aliases`: views and folded batch norms do no work; they alias the tensors they read;
   :func:`.fusion.fuse`: activations the core applies on a matmul's output path fold into that matmul.
2. :func:`.placement.place_tensors`: parameters, optimizer state, KV caches and tables over the memories.
3. :func:`.pricing.price`: each op's unit kind and compute cycles from that kind's cost model (:mod:`accelsim.cost`);
   :func:`.fusion.pipeline`: a fused activation's output-path cycles bound its producer's.
4. :func:`.choice.assign_and_reside` (:func:`.choice.assign` and :func:`.choice.residency`): which units run each op;
   which outputs stay on chip.
5. :func:`.traffic.traffic`: the bytes each op moves at each level and its tile groups.
6. :class:`.emit.Emitter`: the tasks of each op's tile groups, launches and collectives.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math

from ..cost import systolic
from ..energy.model import NIC
from ..errors import BudgetError, MappingError
from ..hardware import Arch, HostCpu, SystolicArray
from ..ir import Graph, Op, OpKind, Sparsity, reduction_len, stored_as
from ..options import OP_BYTES, TASK_BYTES, Options, memory_budget
from ..tasks import OpMapping, TaskGraph, Unit, UnitKind
from ..units import dtype_bytes, element_bytes
from .aliases import aliases
from .choice import assign_and_reside
from .emit import HOST_CPU, LINK, Emitter, launch_model
from .fusion import fuse, fused_mapping, pipeline
from .multitensor import FOREACH_CALLS, step_kernels
from .placement import place_tensors
from .plan import Plan, TaskBudget
from .pricing import price
from .ring import ring_folds
from .traffic import context, traffic


def lower(graph: Graph, arch: Arch, options: Options) -> TaskGraph:
    """Map ``graph`` onto ``arch``: the TaskGraph the engine replays (see the module docstring for the passes)."""
    graph = activations_as_run(dtypes_as_run(graph, arch)[0], arch)[0]
    graph = convs_as_run(stored_as_run(graph, arch), arch, options)[0]
    launch = launch_model(arch, options)
    host_step = options.offload == "optimizer_cpu" and graph.info.mode == "training"
    if host_step:
        host_cpu(arch)
    units = build_units(arch, host=launch.host, host_cpu=host_step)
    plans = fuse(aliases(graph, options, arch), graph, arch)
    placement = place_tensors(graph, arch, plans, options)
    level_of = dict(placement.level)
    stash_level = arch.main_memory
    if options.offload == "activations":  # the training stash lives in the next memory out
        stash_level = _spill(arch, "offload: activations")
        level_of.update({name: stash_level for name in graph.info.stashed})
    tasks = task_budget(graph, options)
    plans = assign_and_reside(pipeline(price(plans, arch, options.depthwise), arch), graph, units, options, arch, tasks)
    ctx = context(arch, units, plans, level_of, placement.tables,
                  {name: math.prod(shape) for name, shape in graph.inputs.items()})
    emitter = Emitter(ctx, data_parallel(graph, arch), launch, budget=tasks,
                      tensor_parallel=graph.info.tensor_parallel, expert_parallel=graph.info.expert_parallel,
                      embedding_parallel=graph.info.embedding_parallel,
                      accumulate=graph.info.mode == "training" and (graph.info.micro_batches > 1
                                                                    or not graph.info.overlap_grad_reduce),
                      sequential=bool(graph.meta.get("sequential")))
    emitter.steps = [p for p in plans if p.op.kind is OpKind.OPTIMIZER and p.works and "fused_into" not in p.details]
    emitter.all_reduce_kernel = options.all_reduce
    if launch.mode and not host_step:  # a GPU's step: multi-tensor kernels, not one a parameter (mapping.multitensor)
        emitter.step_kernels = optimizer_kernels(graph, emitter.steps, options, launch.mode == "cuda_graph")
    # an op its framework runs as several calls, each its own kernel, or inside the kernel of an op before it (0):
    # op attr ``kernels`` (transformers' per-window attention calls in a Qwen-VL encoder, builders.vision._calls)
    emitter.step_kernels.update({p.op.name: int(p.op.attrs["kernels"]) for p in plans  # type: ignore[call-overload]
                                 if "kernels" in p.op.attrs})
    phases = [p.op.phase for p in plans]
    if "optimizer" in phases and "backward" in phases[phases.index("optimizer"):]:
        # the steps' gradient reductions are emitted at the first step (Emitter._reduce_gradients)
        raise MappingError(f"{graph.name}: a backward op follows the first optimizer step; a training graph's "
                           f"steps come last")
    mappings: list[OpMapping] = []
    by_name: dict[str, OpMapping] = {}
    # a context-parallel ring's identical middle steps are simulated as one (mapping.ring); training unrolls them
    folds = ring_folds(plans) if graph.info.mode != "training" else {}
    for p in plans:
        if "fused_into" in p.details:
            mappings.append(fused_mapping(p, by_name[p.details["fused_into"]], units))
        elif not p.works:
            mappings.append(emitter.none(p))
        elif host_step and p.op.kind is OpKind.OPTIMIZER:  # ZeRO-Offload: the host's CPU runs the step
            mappings.append(emitter.host_step(p))
        elif p.op.kind is OpKind.COLLECTIVE:
            mappings.append(emitter.folded(p, folds.get(p.index), lambda p=p: emitter.collective(p)))
        else:
            mappings.append(emitter.folded(p, folds.get(p.index), lambda p=p: emitter.op(p, traffic(p, ctx, options))))
        by_name[p.op.name] = mappings[-1]
    if units[-1].name == NIC and not emitter.nic_used:
        units = units[:-1]  # no collective left the node
    return TaskGraph(tuple(emitter.tasks), units, tuple(mappings), dict(placement.level), dict(placement.tables),
                     stash_level, placement.peak_activation_bytes, launch.mode,
                     ("stream" if launch.in_order else "dataflow") if launch.dispatch else "",
                     options.offload if options.offload != "none" and graph.info.mode == "training" else "",
                     emitter.dp if graph.info.mode == "training" else 1, emitter.grad_reduce,
                     host_copy_bytes=placement.host_copy_bytes)


def optimizer_kernels(graph: Graph, steps: list[Plan], options: Options, captured: bool = False) -> dict[str, int]:
    """The kernels each of ``steps`` (the working optimizer steps, in op order) opens where that is not one: the
    framework's multi-tensor calls over their tensors (:func:`.multitensor.step_kernels`), fused for Megatron-LM
    (a ``gpt`` workload, or ``options.distributed_optimizer``: Megatron's FusedAdam), else PyTorch's foreach, its
    ``capturable`` calls where the step is ``captured`` in a CUDA graph (``execution: cuda_graph``). A lazy step on
    a sparse table (attrs ``sparse_rows``: SparseAdam has no multi-tensor form) keeps its own kernel. A distributed
    optimizer's steps (attrs ``shards`` d) run over the busiest rank's range (:func:`_rank_shards`)."""
    dense = [p.op for p in steps if "sparse_rows" not in p.op.attrs and p.op.fn in FOREACH_CALLS]
    if not dense:
        return {}
    numels = [sum(math.prod(w.shape) for w in op.weights if w.role == "param") for op in dense]
    fused = bool(graph.meta.get("model") == "gpt" or options.distributed_optimizer)
    shards = [int(op.attrs.get("shards", 1)) for op in dense]
    kernels = [0] * len(dense)
    for d in sorted(set(shards)):
        idx = [i for i, s in enumerate(shards) if s == d]
        got = _rank_shards([numels[i] for i in idx], d, dense[0].fn, fused, captured) if d > 1 else \
            step_kernels([numels[i] for i in idx], dense[0].fn, fused, captured)
        for i, k in zip(idx, got, strict=True):
            kernels[i] = k
    return {op.name: k for op, k in zip(dense, kernels, strict=True) if k != 1}


def _rank_shards(numels: list[int], d: int, optimizer: str, fused: bool, captured: bool) -> list[int]:
    """The kernels each step (of ``numels`` elements, in op order) opens on the busiest of ``d`` data-parallel ranks
    of Megatron's distributed optimizer (``DistributedOptimizer._build_model_gbuf_range``): the steps' parameters
    lie in one flat gradient buffer in reverse order (``ParamAndGradBuffer``: the last parameter first), padded to a
    multiple of d, and rank r steps the pieces of the parameters that overlap its contiguous r-th 1/d of it, in
    buffer order; a step with no piece there opens none. The busiest rank is the one whose pieces take the most
    kernels (the first such): the pass waits for the slowest rank."""
    size = -(-sum(numels) // d)  # each rank's range, the buffer padded to d ranges
    order = list(range(len(numels)))[::-1]  # the buffer's order: the last step's parameter first
    ends = list(itertools.accumulate(numels[i] for i in order))
    best: list[int] = [0] * len(numels)
    for r in range(d):
        lo, hi = r * size, (r + 1) * size
        first = bisect.bisect_right(ends, lo)  # the first parameter ending past lo
        last = bisect.bisect_left(ends, hi)  # the last one starting before hi
        pos = range(first, min(last + 1, len(order)))
        pieces = [min(hi, ends[j]) - max(lo, ends[j] - numels[order[j]]) for j in pos]
        k = step_kernels(pieces, optimizer, fused, captured)
        if sum(k) > sum(best):
            best = [0] * len(numels)
            for j, n in zip(pos, k, strict=True):
                best[order[j]] = n
    return best


def placement(graph: Graph, arch: Arch, options: Options) -> dict[str, str]:
    """The memory level of every persistent tensor of ``graph`` (parameters, optimizer state, KV caches, tables) as
    :func:`lower` places them (passes 1 and 2), without pricing, tiling or emitting anything: analytic, ~15 ms for
    llama3_8b's 32 layers (a serving run's sampler looks for the decode steps where it changes)."""
    graph = stored_as_run(activations_as_run(dtypes_as_run(graph, arch)[0], arch)[0], arch)
    return dict(place_tensors(graph, arch, fuse(aliases(graph, options, arch), graph, arch), options).level)


def stored_as_run(graph: Graph, arch: Arch) -> Graph:
    """``graph`` with each N:M-compressed weight held as the pattern ``arch``'s array runs it
    (``SystolicArray.executed_k``): a 1:4 or 2:8 model on tensor cores that list only 2:4 is stored as 2:4, half
    of K with 2-bit indices and explicit zeros (cuSPARSELt / PTX ``mma.sp`` take no other layout), so its bytes
    are 2:4's as its MACs are (probe p120 #10: resnet50 b128 1:4 on a100 read 14,844,797,984 B of HBM against
    2:4's 14,859,143,408). An array that multiplies the zeros (no pattern listed, or a dtype outside
    ``sparse_dtypes``) or packs any pattern (``any``) reads the model's own compressed bytes. The graph itself
    when nothing changes; ``macs`` and ``attrs["sparsity"]`` stay the model's. Idempotent (run_graph and
    :func:`lower` both apply it)."""
    sa = arch.core.systolic
    if sa is None or not sa.structured_sparsity or "any" in sa.structured_sparsity:
        return graph
    held = graph.meta.get("sparsity")  # a decode step's idle experts (unused_params), stored as the model's pattern
    ops, changed = [], False
    for op in graph.ops:
        pattern = op.sparsity
        if pattern is None and held and op.fn == "unused_params" and op.attrs.get("linear"):
            pattern = Sparsity.parse(str(held))
        new = op if pattern is None or pattern.dense else _stored(op, pattern, sa)
        changed |= new is not op
        ops.append(new)
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta) if changed else graph


def _stored(op: Op, pattern: Sparsity, sa: SystolicArray) -> Op:
    """``op`` with its compressed weights held as the listed pattern ``sa`` runs ``pattern`` as, where that is
    another pattern and the array skips the zeros (:func:`stored_as_run`)."""
    weights = []
    for w in op.weights:
        k = reduction_len(w) if w.nnz else 0
        run = sa.executed_k(pattern, k, op.dtype) if k else k
        if k and run < k:  # the zeros skipped: the listed pattern with the fewest kept the weights meet
            listed = next((p for p in map(Sparsity.parse, sa.structured_sparsity)
                           if pattern.satisfies(p) and p.kept(k) == run), pattern)
            w = w if listed == pattern else stored_as(w, listed)
        weights.append(w)
    return op if tuple(weights) == op.weights else dataclasses.replace(op, weights=tuple(weights))


def dtypes_as_run(graph: Graph, arch: Arch) -> tuple[Graph, dict[str, int]]:
    """``graph`` with each op, output and weight of a dtype ``arch.dtype_as`` lists in the dtype it names there, and
    how many ops changed, by their dtype: the arch's software makes such tensors that dtype by default (a TPU's
    64-bit floats 32-bit ones under JAX's jax_enable_x64 off: probe p267 #4, an 8192³ fp64 GEMM on tpu-v4 moved
    10,240 MiB of HBM at 8 B an element), so their bytes and rate are the other dtype's. The graph itself when
    nothing changes. Idempotent (run_graph and :func:`lower` both apply it)."""
    table = arch.dtype_as
    if not table:
        return graph, {}
    ops, seen = [], {}
    for op in graph.ops:
        out = op.attrs.get("out_dtype")
        weights = tuple(dataclasses.replace(w, dtype=table[w.dtype]) if w.dtype in table else w for w in op.weights)
        if op.dtype in table or out in table or weights != op.weights:
            seen[op.dtype] = seen.get(op.dtype, 0) + 1
            attrs = {**op.attrs, "out_dtype": table[str(out)]} if out in table else op.attrs
            op = dataclasses.replace(op, dtype=table.get(op.dtype, op.dtype), attrs=attrs, weights=weights)
        ops.append(op)
    return (Graph(graph.name, ops, graph.inputs, meta=graph.meta), seen) if seen else (graph, {})


def activations_as_run(graph: Graph, arch: Arch) -> tuple[Graph, dict[str, int]]:
    """``graph`` with each op that writes an activation narrower than its own compute dtype (the 8/4-bit input
    quantisation a builder fused into an RMSNorm or SiLU·mul: ``builders.precision._fuse_input_quantisation``) for
    GEMMs that ``arch`` all runs as weight-only kernels at a wider dtype's rate
    (:func:`accelsim.cost.systolic.takes_wide_activations`: fp8 on an A100's FP8 Marlin, fp4 below sm100's FP4
    Marlin) writing it in its own (16-bit) compute dtype instead, and how many did so,
    by the dtype they no longer write. Those kernels take 16-bit activations and quantise nothing (vLLM's FP8 Marlin
    is "W8A16 (weight-only FP8)"), so the activations between them are the model's dtype in memory; their weights
    keep their packed dtype. Read through views; a producer another op reads too (a MoE's dispatch) keeps its
    dtype. The graph itself when nothing changes. Idempotent (run_graph, :func:`lower` and :func:`placement` apply
    it)."""
    sa = arch.core.systolic
    if sa is None or arch.core.tile is None:
        return graph, {}
    narrower = {op.name for op in graph.ops if not op.kind.is_matmul and op.attrs.get("out_dtype") is not None
                and element_bytes(op.out_dtype) < dtype_bytes(op.dtype)}
    if not narrower:  # (no walk of the readers: the common case, a model without quantised activations)
        return graph, {}
    readers = _readers(graph)
    by_name = {op.name: op for op in graph.ops}
    ops, seen = [], {}
    for op in graph.ops:
        r = readers.get(op.name)
        if op.name in narrower and r and all(systolic.takes_wide_activations(by_name[n], sa, arch) for n in r):
            seen[op.out_dtype] = seen.get(op.out_dtype, 0) + 1
            op = dataclasses.replace(op, attrs={**op.attrs, "out_dtype": op.dtype})
        ops.append(op)
    return (Graph(graph.name, ops, graph.inputs, meta=graph.meta), seen) if seen else (graph, {})


def _readers(graph: Graph) -> dict[str, set[str]]:
    """The ops that read each op's output, through views (a view reads nothing itself)."""
    source: dict[str, tuple[str, ...]] = {}
    readers: dict[str, set[str]] = {}
    for op in graph.ops:
        srcs = tuple(t for src in op.inputs for t in source.get(src, (src,)))
        if op.kind.is_view:
            source[op.name] = srcs
            continue
        for t in srcs:
            readers.setdefault(t, set()).add(op.name)
    return readers


_CONVS = frozenset({OpKind.CONV, OpKind.CONV_TRANSPOSE})


def convs_as_run(graph: Graph, arch: Arch, options: Options) -> tuple[Graph, dict[tuple[str, str], int]]:
    """``graph`` with each convolution (CONV, CONV_TRANSPOSE, forward and backward) of a dtype the arch's array
    lists in ``core.systolic.conv_runs_as`` computing as that dtype (not a depthwise one: PyTorch sends it to
    CUDA-core kernels, ``options.depthwise``; its tensors and output stay its own dtype,
    ``attrs["out_dtype"]``; the widths are equal), under ``options.conv_precision`` 'auto'; and how many ran so, by
    (dtype, dtype run as). PyTorch runs an fp32 convolution on an NVIDIA GPU's TF32 tensor cores by default
    (torch.backends.cudnn.allow_tf32 is True; only cuBLAS's matmul flag defaults to False since 1.12: PyTorch's
    CUDA semantics notes, "TensorFloat-32 (TF32) on Ampere (and later) devices"), ROCm's convolutions are fp32
    unless asked (probe p173 #2: resnet50 fp32 b32 on a100 ran its convs at 19.5 TFLOPS, 18.71 ms, not TF32's 156).
    The graph itself when nothing changes. Idempotent (run_graph and :func:`lower` both apply it)."""
    sa = arch.core.systolic
    table = sa.conv_runs_as if sa is not None and options.conv_precision == "auto" else {}
    if not table or not any(op.kind in _CONVS and op.dtype in table for op in graph.ops):
        return graph, {}
    ops, seen = [], {}
    for op in graph.ops:
        run = table.get(op.dtype) if op.kind in _CONVS and not op.depthwise else None
        if run is not None:
            seen[op.dtype, run] = seen.get((op.dtype, run), 0) + 1
            op = dataclasses.replace(op, dtype=run, attrs={**op.attrs, "out_dtype": op.out_dtype})
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta), seen


def task_budget(graph: Graph, options: Options) -> TaskBudget:
    """The most tasks a pass of ``graph`` may have: ``options.memory_budget`` less its ops' :data:`OP_BYTES` each,
    over a task's :data:`TASK_BYTES` (with or without ``options.trace``: trace.json is streamed, no task's event is
    held); a graph whose ops alone need more is refused."""
    each = TASK_BYTES
    budget, words = memory_budget(options, f"{each} B a task")
    ops = len(graph.ops) * OP_BYTES
    if ops > budget:
        raise BudgetError(f"{graph.name}: its {len(graph.ops):,} ops need ~{ops:,} B before any task is built "
                           f"(~{OP_BYTES} B an op: its graph, plans and report rows), more than {words} holds; raise "
                           f"options.memory_budget, or run fewer ops (fewer layers or time steps)")
    coarser = ", ".join(k for k, v in (("options.max_tiles_per_op", options.max_tiles_per_op > 1),
                                         ("options.ramp_max", options.ramp_max > 0)) if v)
    return TaskBudget((budget - ops) // each, f"{words[:-1]}, after ~{OP_BYTES} B for each of its "
                      f"{len(graph.ops):,} ops) holds", ops, coarser, len(graph.ops))


# expert parallelism is Megatron's: EP chips beside the tensor-parallel ones, not vLLM's experts spread over them
EP_HINT = (" (expert-parallel chips each hold tokens of their own, beside the tensor-parallel ones, as Megatron's "
           "expert parallelism; for vLLM's experts spread over the tensor-parallel GPUs themselves, set "
           "expert_tensor_parallel: 1 and leave expert_parallel at 1)")


def data_parallel(graph: Graph, arch: Arch) -> int:
    """The chips a parameter's gradient is reduced over on ``arch`` (and a distributed optimizer's state sharded
    over): those left over by ``graph``'s tensor × pipeline parallelism, its data-parallel replicas × its
    context-parallel chips (which hold every weight: Megatron's data-parallel group with context parallelism).
    Expert parallelism folds into them (Megatron's rank order tensor, context, expert, data, pipeline): an MoE
    graph's ``expert_parallel`` chips, each with tokens of its own, must fit on the arch and, in training, divide
    them (an expert's gradient is reduced over the data-parallel chips / expert_parallel that hold it). A sharded
    DLRM's ``embedding_parallel`` chips must fit on the arch too and, in training, divide the data-parallel chips
    (a table's gradient is reduced over the data-parallel chips / embedding_parallel that hold it)."""
    info = graph.info
    tp, cp, ep, pp = info.tensor_parallel, info.context_parallel, info.expert_parallel, info.pipeline_parallel
    if (cp > 1 or ep > 1) and arch.chips < tp * cp * ep * pp:
        grid = [(n, v) for n, v in (("tensor_parallel", tp), ("context_parallel", cp), ("expert_parallel", ep),
                                    ("pipeline_parallel", pp)) if v > 1 or n in ("tensor_parallel", "pipeline_parallel")]
        raise MappingError(f"{graph.name}: {' × '.join(n for n, _ in grid)} = {' × '.join(str(v) for _, v in grid)} "
                           f"= {tp * cp * ep * pp} chips, but arch {arch.name!r} has chips={arch.chips}"
                           + (EP_HINT if ep > 1 and tp > 1 else ""))
    # whole context-parallel groups: the chips T·C·P does not divide idle, as Megatron's rank grid has no place
    # for them
    dp = cp * (arch.chips // (tp * cp * pp))
    emb = info.embedding_parallel
    if emb > arch.chips:
        raise MappingError(f"{graph.name}: embedding_parallel ({emb}) is more than the chips of arch {arch.name!r} "
                           f"({arch.chips}): the tables are sharded over that many chips")
    if emb > 1 and info.mode == "training" and dp % emb:
        raise MappingError(f"{graph.name}: embedding_parallel ({emb}) must divide the data-parallel chips ({dp} of "
                           f"arch {arch.name!r}), which it splits into groups each holding every table once")
    if ep > 1 and info.mode == "training" and dp % ep:
        raise MappingError(f"{graph.name}: expert_parallel ({ep}) must divide the data-parallel chips ({dp}: "
                           f"arch {arch.name!r}'s {arch.chips} chips over tensor_parallel × pipeline_parallel = "
                           f"{tp} × {pp}), which it splits into expert data-parallel groups")
    return max(dp, 1)


def _spill(arch: Arch, why: str) -> str:
    if arch.spill_memory is None:
        raise MappingError(f"{why} needs a second memory level beyond {arch.main_memory!r} (e.g. 'host')")
    return arch.spill_memory


def host_cpu(arch: Arch) -> HostCpu:
    """The CPU beside ``arch``'s second memory (``host.cpu``), which ``options.offload: optimizer_cpu`` runs the
    optimizer step on; a one-line error naming the missing key where there is none."""
    spill = _spill(arch, "offload: optimizer_cpu")
    cpu = arch.memory(spill).cpu
    if cpu is None:
        key = arch.capacity_key(spill)[:-1]
        raise MappingError(f"options.offload: optimizer_cpu runs the optimizer step on the host's CPU (ZeRO-Offload), "
                           f"but arch {arch.name!r} has no {'.'.join(key)}.cpu (its bandwidth and flops: the host "
                           f"DRAM bandwidth and fp32 FLOP/s its CPUs give one chip)", arch_key=(*key, "cpu"))
    return cpu


def build_units(arch: Arch, host: bool | None = None, host_cpu: bool = False) -> tuple[Unit, ...]:
    """Every unit of the chip: each core's compute units (as its spec lists them), then one bandwidth server per
    shared level (memories, then caches), the chip link, (``host``; default: when the arch has an eager
    launch time) the host that launches kernels and (``host_cpu``) the host's CPUs that run an offloaded optimizer
    step (``options.offload: optimizer_cpu``)."""
    units: list[Unit] = []
    specs = arch.core.unit_specs()
    macs = {s.name: s.macs_per_unit for s in specs}
    local = {s.name: s.instance_names() for s in specs}  # distinct on a core (Core's validation)
    # a GPU-like chip (thread-block output tiles) runs each kernel on all its SMs at once: identical SMs doing
    # identical work are one unit per kind with a count, "core*.<unit>" (issue 17's task economy)
    lockstep = arch.core.tile is not None and arch.cores > 1
    for c in range(1 if lockstep else arch.cores):
        for s in specs:
            for own in local[s.name]:
                name = f"core{'*' if lockstep else c}.{own}"
                units.append(Unit(name, UnitKind.COMPUTE, None if lockstep else c, None, macs[s.name], s.name,
                                  arch.cores if lockstep else 1))
    for lv in (*arch.memories, *arch.caches):
        units.append(Unit(lv, UnitKind.MEMORY, None, lv))
    if arch.chips > 1:
        units.append(Unit(LINK, UnitKind.MEMORY, None, LINK))
    if arch.kernel_launch > 0 if host is None else host:
        units.append(Unit("launch", UnitKind.HOST))
    if host_cpu:
        units.append(Unit(HOST_CPU, UnitKind.HOST_CPU))
    ic = arch.interconnect
    if arch.chips > 1 and ic is not None and ic.scale_out is not None and ic.crosses_nodes(arch.chips):
        # the chip's NIC, last (lower drops it when no collective leaves the node): collectives whose chips span
        # nodes run on it, beside the node's links (their bytes are counted as the link's)
        units.append(Unit(NIC, UnitKind.MEMORY, None, LINK))
    return tuple(units)


__all__ = ["lower", "build_units", "data_parallel"]
