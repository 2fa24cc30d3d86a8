"""Lowering: an op graph on an architecture becomes a TaskGraph of coarse load/compute/store tasks.

The stages, each a plain function called in order by :func:`lower` (docs/architecture.md describes the model):

1. ``_aliases``: views (reshape, concat) and, with ``fold_batchnorm``, batch norms after a convolution do no
   work; they alias the physical tensors they read (a folded norm's shift becomes the conv's bias).
2. ``_place_tensors``: parameters, optimizer state, KV caches and embedding tables go to HBM densest first, the
   rest to host memory (:mod:`.placement`); more than both hold is a :class:`MappingError`.
3. ``_price``: each op's compute cycles: systolic ops by SCALE-Sim's model (``systolic.folds``), the rest by the
   vector model. Identical ops on identical hardware are priced once (``lru_cache``).
4. ``_assign``: with ``split_ops`` an op runs on every unit of its kind; otherwise list scheduling on estimated
   durations picks the unit that can start it first.
5. ``_residency``: with ``activations_on_chip``, an op's output stays in its core's SRAM (at most half of it
   holds resident activations) when it fits beside the other live activations and every consumer runs on that
   core. Each op's tiles use the SRAM the resident activations leave free.
6. ``_emit``: each op is tiled (``tiling.tile_gemm``) and cut into tile groups, round robin over its units; each
   group is a LOAD per memory level (activations, parameters), a COMPUTE and a STORE. Double buffering is a
   dependency: the loads of a unit's p-th tile group wait for the compute of its (p−2)-th, and a compute waits for
   the store of the (p−2)-th. Each unit's first groups of an op wait for the tasks that make its inputs
   available (their last stores, or last computes when the input is resident).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import MappingError
from ..hardware import Arch
from ..ir import Gemm, Graph, Op, OpKind
from ..options import Options
from ..tasks import OpMapping, Task, TaskGraph, TaskKind, Unit, UnitKind
from . import systolic, vector
from .placement import Placement, TableSplit, gathered_tables, place
from .tiling import tile_gemm

SYSTOLIC, VECTOR, NONE = "systolic", "vector", "none"
GROUP_MIN_CYCLES = 1000  # finer tile groups add events without changing what overlaps (measured on LLaMA decode)
SPLIT_K_MIN = 256  # shortest K slice of a split-K GEMM (cuBLAS splits K only for long reductions)
GPU_GROUPS_PER_CORE = 8  # K-slice groups per SM of a GPU op: its first load is 1/8 of its share, not exposed whole


@dataclass(slots=True)
class _Plan:
    """Working state of one op while it is lowered."""

    op: Op
    index: int
    unit_kind: str  # SYSTOLIC | VECTOR | NONE
    cycles: int = 0
    est: float = 0.0  # estimated duration for unit assignment
    units: tuple[int, ...] = ()  # the unit(s) its tile groups run on, round robin
    core: int | None = None  # the core of all its units (None when they span cores)
    inputs: tuple[str, ...] = ()  # physical tensors read (after aliasing)
    operands: tuple[tuple[str, ...], ...] = ()  # the physical tensors of each logical input, in order
    resident_out: bool = False
    live_bytes: int = 0  # resident activations held in its core's SRAM while it runs
    weights: tuple = ()  # parameter tensors it loads: its own, plus the shift of a batch norm folded into it
    details: dict = field(default_factory=dict)


def lower(graph: Graph, arch: Arch, options: Options) -> TaskGraph:
    """Map ``graph`` onto ``arch``: the TaskGraph the engine replays (see the module docstring for the stages)."""
    units = _units(arch)
    plans, phys = _aliases(graph, options)
    placement = _place_tensors(graph, arch, plans, options)
    level_of = dict(placement.level)
    if options.offload == "activations":  # the training stash lives in host memory
        level_of.update({name: "host" for name in graph.meta.get("stashed", ())})
    for p in plans:
        _price(p, arch)
    _assign(plans, units, options)
    _residency(plans, graph, arch, options)
    sizes = {name: math.prod(shape) for name, shape in graph.inputs.items()}
    tasks, mappings = _emit(plans, units, arch, options, level_of, sizes, placement.tables,
                            int(graph.meta.get("tensor_parallel", 1)) * int(graph.meta.get("pipeline_parallel", 1)))
    return TaskGraph(tuple(tasks), tuple(units), tuple(mappings), dict(placement.level),
                     {n: (t.rows, t.hbm_rows, t.hbm_hits) for n, t in placement.tables.items()},
                     "host" if options.offload == "activations" else "hbm", placement.peak_activation_bytes)


# ---- 0. units ------------------------------------------------------------------------------------------------
def _units(arch: Arch) -> list[Unit]:
    units: list[Unit] = []
    sa = arch.core.systolic
    for c in range(arch.cores):
        for i in range(sa.count):
            units.append(Unit(f"core{c}.systolic{i}", UnitKind.COMPUTE, c, None, sa.rows * sa.cols))
        units.append(Unit(f"core{c}.vector", UnitKind.COMPUTE, c))
    units.append(Unit("hbm", UnitKind.MEMORY, None, "hbm"))
    if arch.host is not None:
        units.append(Unit("host", UnitKind.MEMORY, None, "host"))
    if arch.l2 is not None:
        units.append(Unit("l2", UnitKind.MEMORY, None, "l2"))
    if arch.chips > 1:
        units.append(Unit("link", UnitKind.MEMORY, None, "link"))
    if arch.kernel_launch > 0:
        units.append(Unit("launch", UnitKind.HOST))
    return units


# ---- 1. aliases ----------------------------------------------------------------------------------------------
def _aliases(graph: Graph, options: Options) -> tuple[list[_Plan], dict[str, tuple[str, ...]]]:
    phys: dict[str, tuple[str, ...]] = {name: (name,) for name in graph.inputs}
    plans: list[_Plan] = []
    for i, op in enumerate(graph.ops):
        groups = tuple(phys[src] for src in op.inputs)
        reads = tuple(dict.fromkeys(t for g in groups for t in g))
        folded = (options.fold_batchnorm and op.kind is OpKind.NORM and op.fn == "batchnorm"
                  and len(op.inputs) == 1 and op.attrs.get("follows") == op.inputs[0]
                  and op.inputs[0] in graph
                  and graph[op.inputs[0]].kind in (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR))
        if op.kind.is_view or folded:
            phys[op.name] = reads
            plans.append(_Plan(op, i, NONE, inputs=reads, details={"folded": True} if folded else {}))
            if folded:  # the scale merges into the producer's weights; the shift becomes its bias
                producer = next(p for p in plans if p.op.name == op.inputs[0])
                producer.weights = producer.weights + op.weights[-1:]
            continue
        phys[op.name] = (op.name,)
        kind = SYSTOLIC if op.kind.is_matmul else VECTOR
        plans.append(_Plan(op, i, kind, inputs=reads, operands=groups, weights=op.weights))
    return plans, phys


# ---- 2. placement ---------------------------------------------------------------------------------------------
def _place_tensors(graph: Graph, arch: Arch, plans: list[_Plan], options: Options) -> Placement:
    """Placement of every parameter, optimizer state, KV cache and table (see :mod:`.placement`)."""
    sizes: dict[str, int] = {}
    states: set[str] = set()
    for p in plans:
        if p.unit_kind == NONE:
            continue
        for w in p.weights:
            sizes.setdefault(w.name, w.nbytes(p.op.dtype))
            if w.role == "state":
                states.add(w.name)
    elem = graph.ops[0].elem_bytes if graph.ops else 1
    for name in graph.meta.get("kv_cache", ()):
        sizes[name] = math.prod(graph.inputs[name]) * elem

    def tensor_bytes(t: str) -> int:
        return graph[t].out_bytes if t in graph else math.prod(graph.inputs[t]) * elem

    # activations: the largest op's (unplaced) inputs and output, in HBM while it runs; in training also the
    # stashed activations (HBM, or host with offload: activations) and the gradients
    peak_act = max((sum(tensor_bytes(t) for t in p.inputs if t not in sizes) + p.op.out_bytes
                    for p in plans if p.unit_kind != NONE), default=0)
    stash = int(graph.meta.get("stashed_activation_bytes", 0))
    grads = int(graph.meta.get("gradient_bytes", 0))
    offload_act = options.offload == "activations"
    return place(graph, arch, sizes, gathered_tables(graph),
                 reserved_hbm=peak_act + grads + (0 if offload_act else stash),
                 reserved_host=stash if offload_act else 0,
                 host_first=frozenset(states) if options.offload == "optimizer" else frozenset(),
                 what="weights, optimizer state and KV cache" if states else "weights and KV cache",
                 peak_activation_bytes=peak_act)


# ---- 3. pricing ----------------------------------------------------------------------------------------------
def _price(p: _Plan, arch: Arch) -> None:
    op = p.op
    if p.unit_kind == SYSTOLIC:
        sa = arch.core.systolic
        gemms = [op.gemm]
        if op.kind is OpKind.ATTENTION:
            gemms.append(Gemm(*op.attrs["pv_gemm"]))
        folds = [systolic.folds(g.m, g.n, g.k, sa.rows, sa.cols, sa.dataflow, sa.preload_overlap) for g in gemms]
        p.cycles = sum(g.count * f.cycles for g, f in zip(gemms, folds, strict=True))
        p.details = {"dataflow": sa.dataflow, "array": f"{sa.rows}x{sa.cols}",
                     "gemm": [[g.m, g.n, g.k, g.count] for g in gemms] if len(gemms) > 1 else
                     [op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count],
                     "folds": [folds[0].rows, folds[0].cols] if len(folds) == 1 else [[f.rows, f.cols] for f in folds],
                     "fold_cycles": folds[0].fold_cycles,
                     "mapping_efficiency": round(folds[0].mapping_efficiency, 6),
                     "sram_operand_bytes": sum(_sram_operand_bytes(g, f, sa.dataflow, op.elem_bytes)
                                               for g, f in zip(gemms, folds, strict=True))}
        tile = arch.core.tile
        if tile is not None and op.kind is not OpKind.ATTENTION:
            # GPU: the output is cut into tile.m × tile.n tiles, each computed whole by one core; an edge tile
            # costs a full tile's folds (tile quantisation); tiles run on the cores in waves
            g = op.gemm
            tm, tn = min(tile.m, g.m), min(tile.n, g.n)
            tiles = g.count * -(-g.m // tile.m) * -(-g.n // tile.n)
            # split-K (as cuBLAS does for GEMMs with fewer output tiles than SMs): each tile's K is cut into
            # slices computed on different cores, none shorter than SPLIT_K_MIN, and the partial sums are added
            splits = max(1, min(arch.cores // tiles, g.k // SPLIT_K_MIN)) if tiles < arch.cores else 1
            k_slice = -(-g.k // splits)
            f = systolic.folds(tm, tn, k_slice, sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
            p.cycles = tiles * splits * (f.cycles + 1)
            p.details.update({"output_tiles": tiles * splits, "tile": [tm, tn], "tile_cycles": f.cycles + 1,
                              "split_k": splits, "k_slice": k_slice})
        if op.kind is OpKind.ATTENTION:  # the softmax runs on the vector unit, overlapped with the matmuls
            vu = arch.core.vector
            soft = vector.cycles(op.vector_elems, vu.cost("softmax"), vu.lanes)
            p.details["softmax_cycles"] = soft
            p.cycles = max(p.cycles, soft)
    elif p.unit_kind == VECTOR:
        vu = arch.core.vector
        cost = vu.cost(op.fn)
        p.cycles = vector.cycles(op.vector_elems, cost, vu.lanes)
        p.details = {"lanes": vu.lanes, "cycles_per_element": cost, "elements": op.vector_elems}
    offchip = op.in_bytes + op.out_bytes + op.weight_bytes
    p.est = max(p.cycles, offchip / arch.bytes_per_cycle("hbm"))


# ---- 4. unit assignment --------------------------------------------------------------------------------------
def _assign(plans: list[_Plan], units: list[Unit], options: Options) -> None:
    free = [0.0] * len(units)
    finish: dict[str, float] = {}
    cands = {
        SYSTOLIC: [i for i, u in enumerate(units) if u.kind is UnitKind.COMPUTE and u.macs_per_cycle],
        VECTOR: [i for i, u in enumerate(units) if u.kind is UnitKind.COMPUTE and not u.macs_per_cycle],
    }
    for p in plans:
        ready = max((finish.get(t, 0.0) for t in p.inputs), default=0.0)
        if p.unit_kind == NONE:
            finish[p.op.name] = ready
            continue
        pool = cands[p.unit_kind]
        if options.split_ops and len(pool) > 1 and p.cycles >= len(pool):
            p.units = tuple(pool)
            start = max(max(free[u] for u in pool), ready)
            for u in pool:
                free[u] = start + p.est / len(pool)
        else:
            best = min(pool, key=lambda u: (max(free[u], ready), u))
            p.units = (best,)
            free[best] = max(free[best], ready) + p.est
        cores = {units[u].core for u in p.units}
        p.core = cores.pop() if len(cores) == 1 else None
        finish[p.op.name] = free[p.units[0]]


# ---- 5. activation residency ---------------------------------------------------------------------------------
def _residency(plans: list[_Plan], graph: Graph, arch: Arch, options: Options) -> None:
    if not options.activations_on_chip:
        return
    last_use: dict[str, int] = {}
    users: dict[str, list[_Plan]] = {}
    for p in plans:
        if p.unit_kind == NONE:
            continue
        for t in p.inputs:
            last_use[t] = p.index
            users.setdefault(t, []).append(p)
    region = arch.core.sram.total_bytes // 2
    live: dict[int, dict[str, int]] = {c: {} for c in range(arch.cores)}
    for p in plans:
        if p.unit_kind == NONE:
            continue
        for core_live in live.values():
            for t in [t for t in core_live if last_use.get(t, -1) < p.index]:
                del core_live[t]
        consumers = users.get(p.op.name, [])
        if p.core is not None and consumers and all(u.core == p.core for u in consumers):
            size = p.op.out_bytes
            core_live = live[p.core]
            if sum(core_live.values()) + size <= region:
                core_live[p.op.name] = size
                p.resident_out = True
        # graph outputs leave the chip; cross-core tensors go through HBM
        p.live_bytes = max(sum(v.values()) for v in live.values())


# ---- 6. tasks ------------------------------------------------------------------------------------------------
def _split(total: int, parts: int) -> list[int]:
    base, rem = divmod(total, parts)
    return [base + (1 if i < rem else 0) for i in range(parts)]


def _split_weighted(total: int, weights: list[int]) -> list[int]:
    """``total`` cut in proportion to ``weights`` (integers summing to ``total``; equal weights: :func:`_split`)."""
    if len(set(weights)) <= 1:
        return _split(total, len(weights))
    wsum = sum(weights)
    parts = [total * w // wsum for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


def _sram_operand_bytes(g: Gemm, f: systolic.Folds, dataflow: str, elem: int) -> int:
    """Bytes the array reads and writes in SRAM: stationary operand once, streamed ones once per fold."""
    df = systolic.DATAFLOWS[dataflow]
    elems = {"a": g.m * g.k, "b": g.k * g.n, "c": g.m * g.n}
    dims = {"a": {"m", "k"}, "b": {"k", "n"}, "c": {"m", "n"}}
    total = 0
    for x, d in dims.items():
        if d == {df.spatial_rows, df.spatial_cols}:
            reps = 1
        elif d == {df.spatial_rows, df.temporal}:
            reps = f.cols
        else:
            reps = f.rows
        total += elems[x] * reps
    return total * g.count * elem


def _sources(tensors: tuple[str, ...], resident: set[str], level_of: dict[str, str], nbytes_of: dict[str, int],
             input_elems: dict[str, int], elem: int) -> dict[str, int]:
    """Off-chip bytes of ``tensors`` by the level they live in (resident tensors are already on chip)."""
    out: dict[str, int] = {}
    for t in tensors:
        if t in resident:
            continue
        lv = level_of.get(t, "hbm")
        out[lv] = out.get(lv, 0) + (nbytes_of[t] if t in nbytes_of else input_elems[t] * elem)
    return out


def _operand_bytes(p: _Plan, resident: set[str], level_of: dict[str, str], nbytes_of: dict[str, int],
                   input_elems: dict[str, int], tables: dict[str, TableSplit], grain: dict[str, int]
                   ) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Off-chip bytes of one op by level, before tiling re-reads: (A activations, B activations, parameters,
    output). Gathers (embedding tables, SPMM) count only the rows they read, in whole access granules; an
    optimizer step writes its parameter and state back to where each lives."""
    op = p.op
    elem = op.elem_bytes
    if op.kind in (OpKind.MATMUL, OpKind.ATTENTION) and len(p.operands) > 1:  # activation × activation
        a_tensors, b_tensors = p.operands[0], tuple(t for g in p.operands[1:] for t in g)
    else:
        a_tensors, b_tensors = p.inputs, ()
    act_a = _sources(a_tensors, resident, level_of, nbytes_of, input_elems, elem)
    act_b = _sources(b_tensors, resident, level_of, nbytes_of, input_elems, elem)
    if op.kind is OpKind.SPMM:  # gathers rows of its first input (whole granules each); the rest read in order
        row = int(op.attrs.get("row_elems", 1)) * elem
        gathered = _sources(p.operands[0], resident, level_of, nbytes_of, input_elems, elem)
        act_a = _sources(tuple(t for g in p.operands[1:] for t in g if t not in p.operands[0]), resident,
                         level_of, nbytes_of, input_elems, elem)
        for lv in gathered:
            act_a[lv] = act_a.get(lv, 0) + int(op.attrs["gather_rows"]) * (-(-row // grain[lv]) * grain[lv])
    wts: dict[str, int] = {}
    for i, w in enumerate(p.weights):
        lv = level_of[w.name]
        nbytes = w.nbytes(op.dtype)
        if op.kind is OpKind.EMBEDDING and i == 0:  # a gather: only the looked-up rows, whole granules each
            row = w.numel // w.shape[0] * elem
            gathered = int(op.attrs.get("gather_rows", w.shape[0]))
            split = tables.get(w.name)
            hits = split.hbm_hits if split is not None else (1.0 if lv == "hbm" else 0.0)
            in_hbm = round(gathered * hits)
            for level, n in (("hbm", in_hbm), ("host", gathered - in_hbm)):
                if n:
                    wts[level] = wts.get(level, 0) + n * (-(-row // grain[level]) * grain[level])
            continue
        wts[lv] = wts.get(lv, 0) + nbytes
    # where the output goes: its tensor's level; an optimizer step writes the parameter and its state back
    out_levels = {level_of.get(op.name, "hbm"): 0 if p.resident_out else op.out_bytes}
    if op.kind is OpKind.OPTIMIZER:
        out_levels = {}
        for w in p.weights:
            lv = level_of[w.name]
            out_levels[lv] = out_levels.get(lv, 0) + w.nbytes(op.dtype)
    return act_a, act_b, wts, out_levels


def _group_plan(p: _Plan, ngroups: int) -> tuple[list[int], list[int]]:
    """The unit and the compute cycles of each of an op's tile groups, in emission order."""
    nunits = len(p.units)
    if "output_tiles" not in p.details:
        return [p.units[gi % nunits] for gi in range(ngroups)], _split(p.cycles, ngroups)
    # GPU: each core runs its share of the output tiles (whole tiles: the waves), streamed as up to
    # GPU_GROUPS_PER_CORE groups of K-slices so that loads overlap the math as a multi-stage pipeline does
    plan: list[tuple[int, int]] = []  # (unit, cycles)
    shares = []
    for t in _split(p.details["output_tiles"], nunits):
        work = t * p.details["tile_cycles"]
        shares.append(_split(work, max(1, min(GPU_GROUPS_PER_CORE, work // GROUP_MIN_CYCLES))) if t else [])
    for r in range(GPU_GROUPS_PER_CORE):
        plan += [(p.units[u], parts[r]) for u, parts in enumerate(shares) if r < len(parts)]
    return [u for u, _ in plan], [c for _, c in plan]


def _emit(plans: list[_Plan], units: list[Unit], arch: Arch, options: Options,
          level_of: dict[str, str], input_elems: dict[str, int],
          tables: dict[str, TableSplit], model_parallel: int) -> tuple[list[Task], list[OpMapping]]:
    names = {u.name: i for i, u in enumerate(units)}
    mem_unit = {lv: names.get(lv, -1) for lv in ("hbm", "host", "link", "l2")}
    dp = max(arch.chips // model_parallel, 1)  # data-parallel replicas: the chips not used by tensor/pipeline parallelism
    lat = {"hbm": arch.latency_cycles("hbm"), "host": arch.latency_cycles("host") if arch.host else 0, "link": 0,
           "l2": arch.latency_cycles("l2") if arch.l2 else 0}
    bpc = {"hbm": arch.bytes_per_cycle("hbm"), "host": arch.bytes_per_cycle("host") if arch.host else math.inf,
           "l2": arch.bytes_per_cycle("l2") if arch.l2 else math.inf}
    launch_unit = names.get("launch", -1)
    launch_cycles = math.ceil(arch.kernel_launch * arch.clock_hz)
    slots = 2 if arch.core.sram.double_buffered else 1
    resident = {p.op.name for p in plans if p.resident_out}
    nbytes_of = {p.op.name: p.op.out_bytes for p in plans}
    done: dict[str, list[int]] = {}  # physical tensor → the tasks after which it is readable
    # each compute unit streams tile groups through its own double buffer
    stream_compute: dict[int, list[int]] = {u: [] for u in range(len(units))}
    stream_store: dict[int, list[int | None]] = {u: [] for u in range(len(units))}
    tasks: list[Task] = []
    mappings: list[OpMapping] = []

    grain = {lv: arch.memory(lv).access_bytes for lv in ("hbm", "host", "l2")
             if lv == "hbm" or (lv == "host" and arch.host) or (lv == "l2" and arch.l2)}

    scale: dict[str, float] = {}  # this op's sustained bandwidth relative to the level's large-transfer one

    def occupancy(nbytes: int, level: str) -> int:
        """Cycles a transfer holds its level: whole access granules at the level's bandwidth."""
        b = bpc[level] * scale.get(level, 1.0)
        if math.isinf(b):
            return 0
        g = grain[level]
        return math.ceil(-(-nbytes // g) * g / b)

    def add(op_i: int, kind: TaskKind, unit: int, cycles: int, deps: list[int], nbytes: int = 0,
            level: str | None = None) -> int:
        tid = len(tasks)
        tasks.append(Task(tid, op_i, kind, unit, cycles, tuple(deps), lat[level] if level else 0, nbytes, level))
        return tid

    def all_reduce(op_i: int, nbytes: int, group: int, deps: list[int]) -> tuple[int, float, int]:
        """One link task: an all-reduce of ``nbytes`` over ``group`` chips; (task id, seconds, bytes sent)."""
        seconds = arch.interconnect.all_reduce_seconds(nbytes, group)  # type: ignore[union-attr]
        sent = 2 * (group - 1) * nbytes // group
        return add(op_i, TaskKind.LOAD, mem_unit["link"], math.ceil(seconds * arch.clock_hz), deps, sent,
                   "link"), seconds, sent

    for p in plans:
        op = p.op
        if p.unit_kind == NONE:
            mappings.append(OpMapping(op.name, op.kind.value, op.fn, "none", None, op.macs, op.flops, 0, 0, {},
                                      dict(p.details)))
            continue
        elem = op.elem_bytes
        if op.kind is OpKind.COLLECTIVE:  # tensor parallelism: all-reduce the (partial) output over the link
            group = int(op.attrs.get("group", 1))
            if arch.interconnect is None or arch.chips < group:
                raise MappingError(f"op {op.name!r}: an all-reduce over {group} chips needs an arch with at least "
                                   f"{group} chips and an interconnect (arch.chips={arch.chips})")
            producers = [d for t in p.inputs if t in done for d in done[t]]
            tid, seconds, sent = all_reduce(p.index, op.out_bytes, group, producers)
            done[op.name] = [tid]
            mappings.append(OpMapping(op.name, op.kind.value, op.fn, "link", None, 0, op.flops,
                                      tasks[tid].cycles, 1, {"link": sent}, {"all_reduce_s": seconds, "group": group,
                                                                            **({"phase": op.attrs["phase"]}
                                                                               if "phase" in op.attrs else {})}))
            continue
        act_a, act_b, wts, out_levels = _operand_bytes(p, resident, level_of, nbytes_of, input_elems, tables,
                                                       grain)
        passes = vector.input_passes(op, arch.core.vector) if p.unit_kind == VECTOR else 1
        if passes > 1:  # the kernel re-reads its (off-chip) activation inputs: every pass moves them again
            act_a = {lv: b * passes for lv, b in act_a.items()}
            act_b = {lv: b * passes for lv, b in act_b.items()}
        out_off = sum(out_levels.values())
        a_tot, b_tot = sum(act_a.values()), sum(act_b.values()) + sum(wts.values())
        details = dict(p.details)
        # tiles use the core's SRAM beside the resident activations; the arrays of a core share its tiles
        bud_a, bud_b, bud_c = arch.core.sram.tile_budgets(reserved=p.live_bytes)
        if p.unit_kind == SYSTOLIC:
            g = op.gemm
            per = (-(-a_tot // g.count), -(-b_tot // g.count), -(-out_off // g.count))
            if op.kind is OpKind.ATTENTION:
                # FlashAttention: each block of queries that fits the ifmap buffer streams K and V once, unless
                # one head's K and V fit the filter buffer and stay
                fa, fb = 1, (1 if per[1] <= bud_b else max(1, -(-per[0] // max(bud_a, 1))))
                ntiles = g.count * fb
                details["tiling"] = {"kv_passes": fb}
            else:
                t = tile_gemm(g.m, g.n, g.k, *per, bud_a, bud_b, bud_c, op.name)
                fa, fb, ntiles = t.a_reads, t.b_reads, t.tiles * g.count
                details["tiling"] = {"nm": t.nm, "nn": t.nn, "nk": t.nk, "order": t.order,
                                     "a_reads": fa, "b_reads": fb}
            sram = p.details["sram_operand_bytes"]
        else:
            fa = fb = 1
            ntiles = max(-(-a_tot // max(bud_a, 1)), -(-out_off // max(bud_c, 1)), 1)
            sram = op.in_bytes + op.out_bytes + sum(wts.values())
        nunits = len(p.units)
        # tile groups: as many as the op streams in (at least its tiles, its units and min_tiles_per_op, and one
        # per GROUP_MIN_CYCLES of work, so that how finely loads overlap compute does not depend on whether the
        # op happens to fit SRAM whole), at most max_tiles_per_op, and none shorter than GROUP_MIN_CYCLES of
        # compute or of transfer at HBM bandwidth
        span = max(p.cycles, (a_tot + b_tot + out_off) / bpc["hbm"])
        want = max(ntiles, options.min_tiles_per_op, nunits, int(span // GROUP_MIN_CYCLES))
        ngroups = max(1, min(want, max(options.max_tiles_per_op, nunits), p.cycles, int(span // GROUP_MIN_CYCLES)))
        l2_bytes = 0
        if arch.l2 is not None:
            # a shared L2: the cores' tiles read their operands from L2 (the SRAM-level tiling's traffic, or each
            # GPU output tile's A and B panels); HBM sees the traffic of a tiling against the L2's capacity
            if "output_tiles" in p.details:
                tm, tn = p.details["tile"]
                partials = (p.details["split_k"] - 1) * out_off * 2  # split-K: fp32 partial sums written, read
                l2_bytes = p.details["output_tiles"] * (tm + tn) * p.details["k_slice"] * elem + out_off + partials
            else:
                l2_bytes = a_tot * fa + b_tot * fb + out_off
            if p.unit_kind == SYSTOLIC and op.kind is not OpKind.ATTENTION:
                g = op.gemm
                per = (-(-a_tot // g.count), -(-b_tot // g.count), -(-out_off // g.count))
                l2_budget = arch.l2.capacity // 3 // (2 if arch.core.sram.double_buffered else 1)
                t2 = tile_gemm(g.m, g.n, g.k, *per, l2_budget, l2_budget, l2_budget, op.name)
                fa, fb = t2.a_reads, t2.b_reads
            else:
                fa = fb = 1
        if nunits > 1 and arch.l2 is None:
            # split over cores along the dimension that replicates the smaller operand: along N (columns) every
            # core streams all of A, along M all of B
            ncores = len({units[u].core for u in p.units})
            if a_tot <= b_tot:
                act_a = {lv: b * ncores for lv, b in act_a.items()}
            else:
                act_b = {lv: b * ncores for lv, b in act_b.items()}
                wts = {lv: b * ncores for lv, b in wts.items()}
        if nunits > 1:
            details["units"] = nunits
        details["resident_output"] = p.resident_out
        if passes > 1:
            details["input_passes"] = passes
        if "phase" in op.attrs:
            details["phase"] = op.attrs["phase"]
        # activation loads wait for their producers; parameter loads only for a free buffer (so they prefetch)
        act_levels = {lv: act_a.get(lv, 0) * fa + act_b.get(lv, 0) * fb for lv in {*act_a, *act_b}}
        if l2_bytes:
            act_levels["l2"] = l2_bytes
        w_levels = {lv: b * fb for lv, b in wts.items()}
        level_bytes: dict[str, int] = {}
        for lv, b in [*act_levels.items(), *w_levels.items(), *out_levels.items()]:
            if b:
                level_bytes[lv] = level_bytes.get(lv, 0) + b
        level_bytes["sram"] = sram + sum(level_bytes.values())  # array reads/writes plus fills and drains
        scale = {lv: arch.memory(lv).efficiency_at(b) / arch.memory(lv).efficiency for lv, b in level_bytes.items()
                 if lv in grain and arch.memory(lv).efficiency_by_size}

        group_units, cyc = _group_plan(p, ngroups)
        weights = cyc if "output_tiles" in p.details else [1] * len(cyc)
        ngroups = len(cyc)
        act_loads = {lv: _split_weighted(b, weights) for lv, b in sorted(act_levels.items()) if b}
        w_loads = {lv: _split_weighted(b, weights) for lv, b in sorted(w_levels.items()) if b}
        stores = {lv: _split_weighted(b, weights) for lv, b in sorted(out_levels.items()) if b}
        producers = [d for t in p.inputs if t in done for d in done[t]]
        launched: list[int] = []
        if launch_unit >= 0:  # the host launches the op (in order, running ahead); nothing of it starts before
            launched = [add(p.index, TaskKind.LAUNCH, launch_unit, launch_cycles, [])]
            producers = producers + launched
        if op.kind is OpKind.OPTIMIZER and dp > 1:
            # data parallel: the gradient is all-reduced over the chips' links before the step; it overlaps the
            # rest of the backward pass (later layers' gradients are ready first) unless the link is the limit
            grad = sum(math.prod(s) for s in op.in_shapes) * elem
            tid, seconds, sent = all_reduce(p.index, grad, dp, producers)
            producers = [tid]
            level_bytes["link"] = sent
            details["all_reduce_s"] = seconds
        last_compute: dict[int, int] = {}  # unit → its latest compute task of this op
        last_store: dict[int, int] = {}
        unit_cycles: dict[int, int] = {}
        seen: dict[int, int] = {}
        for gi in range(ngroups):
            unit = group_units[gi]
            sc, ss = stream_compute[unit], stream_store[unit]
            pos = len(sc)
            slot = [sc[pos - slots]] if pos >= slots else []
            slot_s = ss[pos - slots] if pos >= slots else None
            nth = seen[unit] = seen.get(unit, -1) + 1
            first = producers if nth < slots else []  # each unit's first groups wait for the op's inputs
            load_ids = []
            for lv, parts in act_loads.items():
                if parts[gi]:
                    load_ids.append(add(p.index, TaskKind.LOAD, mem_unit[lv], occupancy(parts[gi], lv),
                                        first + slot, parts[gi], lv))
            for lv, parts in w_loads.items():
                if parts[gi]:
                    load_ids.append(add(p.index, TaskKind.LOAD, mem_unit[lv], occupancy(parts[gi], lv),
                                        slot + (launched if nth < slots else []), parts[gi], lv))
            deps = load_ids + first
            if unit in last_compute:
                deps.append(last_compute[unit])
            if slot_s is not None:
                deps.append(slot_s)
            compute = last_compute[unit] = add(p.index, TaskKind.COMPUTE, unit, cyc[gi], deps)
            unit_cycles[unit] = unit_cycles.get(unit, 0) + cyc[gi]
            sc.append(compute)
            store_id = None
            for lv, parts in stores.items():
                if parts[gi]:
                    store_id = last_store[unit] = add(p.index, TaskKind.STORE, mem_unit[lv], occupancy(parts[gi], lv),
                                                      [compute], parts[gi], lv)
            ss.append(store_id)
        done[op.name] = [last_store.get(u, c) for u, c in last_compute.items()]
        if nunits > 1:
            details["work_cycles"] = p.cycles
            name = f"{units[p.units[0]].name}..{units[p.units[-1]].name} ({nunits})"
        else:
            name = units[p.units[0]].name
        mappings.append(OpMapping(op.name, op.kind.value, op.fn, name, p.core, op.macs, op.flops,
                                  max(unit_cycles.values()), ngroups, level_bytes, details))
    return tasks, mappings
