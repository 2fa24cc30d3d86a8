"""Pass 7, emission: each op's tile groups become LOAD, COMPUTE and STORE tasks on its units and levels.

Each group is a load per level of its activations (after their producers) and of its parameters (after a free
buffer only, so they prefetch across ops), a compute and a store per level. Double buffering is a dependency:
the loads of a unit's p-th group wait for the compute of its (p − slots)-th, and a compute for that group's
store (slots = 2 double-buffered, else 1). Each unit's first groups of an op wait for the tasks that make the
op's inputs available, but a fused residual (``Plan.epilogue``): each group loads its share of it after its producer,
and the group's stores wait for that load. An op whose groups max_tiles_per_op made coarse has each unit's first and last group cut
into halving pieces that share the group's buffer (:func:`ramp_shares`). On a GPU-like core each core runs its share of the output tiles as up to
:data:`GPU_GROUPS_PER_CORE` K-slice groups (a split-K GEMM's reduction kernel, ``details["reduce_cycles"]``, lengthens
the last). Kernel launches follow :class:`Launch`: host tasks issued in op
order ahead of the device (eager: one per kernel; CUDA graphs: one per pass), and a DISPATCH task (the
device's start latency) after an op's launch and its inputs, which its first groups and its parameter loads wait
for (a GPU kernel reads nothing before it runs, so a dispatched op's weights do not prefetch across ops); an op
that runs inside its producer's kernel (``Op.in_kernel_of``: a recurrent state written in place) has neither. Data
parallel, the optimizer steps wait for every gradient's all-reduce (:meth:`Emitter._reduce_gradients`), and a
tensor-parallel COLLECTIVE op is one all-reduce, both on the link unit (:mod:`accelsim.cost.collective`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ..cost import collective
from ..energy.model import NIC
from ..errors import MappingError
from ..hardware import Arch, units_label
from ..ir import Op, OpKind, reduction_chips
from ..options import Options
from ..tasks import HOST_CPU, OpMapping, Task, TaskKind, UnitKind
from ..units import dispatch_bytes, dtype_bytes, time_cycles
from .plan import Plan, TaskBudget
from .traffic import GROUP_MIN_CYCLES, Context, Traffic, split

GPU_GROUPS_PER_CORE = 8  # K-slice groups per SM of a GPU op: its first load is 1/8 of its share, not exposed whole
JOIN_MIN_ENDS = 16  # an op ending on more units than this is joined by one JOIN task, so that each consumer unit
# depends on one task, not on every producer unit (2N + N dependencies instead of 2N² across an op on N SMs)
LINK = "link"  # the chip interconnect's unit (NIC: its port to the scale-out network, a unit of level LINK)


class Launch(NamedTuple):
    """How the host gets a pass's kernels onto the device (cycles at the chip's clock).

    The host is one unit that issues launches in op order, ahead of the device: ``start`` cycles before the first
    (a serving engine's step overhead, plus the graph launch under CUDA graphs), then ``per_kernel`` each (eager
    only). A kernel starts ``dispatch`` cycles after both its launch was issued and its inputs are ready, and, in
    ``stream`` order, after the kernel launched before it has completed (one CUDA stream)."""

    mode: str  # "eager" | "cuda_graph" | "" (no host time: an arch without launch times)
    start: int
    per_kernel: int
    dispatch: int
    in_order: bool = False  # options.kernel_order "stream" on an arch that dispatches kernels (a GPU)

    @property
    def host(self) -> bool:
        """Whether the pass needs a host unit (some host time to spend)."""
        return bool(self.start or self.per_kernel)


def launch_model(arch: Arch, options: Options) -> Launch:
    """The launch costs of one pass on ``arch`` under ``options.execution`` ("auto" is eager here; the serving
    scenario passes "cuda_graph" for decode steps) and ``options.step_overhead``."""
    mode = "cuda_graph" if options.execution == "cuda_graph" else "eager"
    per_kernel = arch.kernel_launch if mode == "eager" else 0.0
    start = options.step_overhead + (arch.graph_launch if mode == "cuda_graph" else 0.0)
    if not (arch.kernel_launch or arch.graph_launch or arch.kernel_dispatch or options.step_overhead):
        mode = ""  # nothing to model: an accelerator whose ops need no host launch
    clock = arch.clock_hz
    dispatch = time_cycles(arch.kernel_dispatch, clock)
    return Launch(mode, time_cycles(start, clock), time_cycles(per_kernel, clock), dispatch,
                  bool(dispatch) and options.kernel_order == "stream")


def split_weighted(total: int, weights: list[int]) -> list[int]:
    """``total`` cut in proportion to ``weights`` (integers summing to ``total``; equal weights: :func:`split`)."""
    if len(set(weights)) <= 1:
        return split(total, len(weights))
    wsum = sum(weights)
    parts = [total * w // wsum for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


def _cut(halvings: int) -> list[int]:
    """A group cut by ``halvings`` halvings towards its start: each piece's size as an exponent e (2^-e of the
    group), smallest first: [h, h, h−1, …, 1], or [0] (whole) for none."""
    return [halvings] + list(range(halvings, 0, -1)) if halvings else [0]


def ramp_shares(each: int, ramp: tuple[int, int]) -> tuple[list[int], list[bool]]:
    """A unit's groups as shares of its work, and whether each shares the next one's buffer, for ``each`` groups
    and ``ramp`` = (f, l) halvings (:func:`~.traffic.ramp_groups`): the first group cut into pieces of 1, 1, 2, …,
    2^(f−1) parts in 2^f of it and the last into 2^(l−1), …, 2, 1, 1 parts in 2^l of it, the groups between
    whole; one group alone is cut into the pieces of f − 1 halvings up in its first half and l − 1 down in its
    second (of f up, or l down, in all of it when the other is 0). A cut group's pieces but the last share the
    last's buffer. ``each`` + f + l groups (``each`` + f + l − 1 for one group cut at both ends)."""
    first, last = ramp
    if not first and not last:
        return [1] * each, [False] * each
    if each == 1:
        if first and last:
            exps = [e + 1 for e in _cut(first - 1)] + [e + 1 for e in _cut(last - 1)[::-1]]
        else:
            exps = _cut(first) if first else _cut(last)[::-1]
        joins = [True] * (len(exps) - 1) + [False]
    else:
        exps = _cut(first) + [0] * (each - 2) + _cut(last)[::-1]
        joins = [True] * first + [False] * (each - 1) + [True] * last + [False]
    top = max(exps)
    return [1 << (top - e) for e in exps], joins


def group_plan(p: Plan, ngroups: int, count: int = 1, unit_cycles: tuple[int, ...] = (),
               ramp: tuple[int, int] = (0, 0)) -> tuple[list[int], list[int], list[int]]:
    """The unit, the compute cycles and the share of the op's bytes (weights) of each of its tile groups, in
    emission order. ``count`` > 1: the op runs on one unit standing for ``count`` lock-step cores (a GPU's SMs).
    An op split over several units (not into a GPU's output tiles) gives each unit its own work (``unit_cycles``,
    :func:`~.traffic.unit_cycles`; an even cut of the op's cycles without) as ⌈ngroups / units⌉ groups, dealt round
    robin, so every unit gets as many groups and an even share of the bytes. A ``ramp`` (not on a GPU): each
    unit's first and last groups are cut into pieces halving towards the op's ends (:func:`ramp_shares`; work and
    bytes alike), so that a unit starts after a small load, each piece computes while the next, twice its size,
    loads, and the op ends with a small piece's compute and store."""
    if count > 1:
        return _lockstep_plan(p, count)
    nunits = len(p.units)
    if "output_tiles" not in p.details:
        if nunits == 1 and not any(ramp):
            return [p.units[0]] * ngroups, split(p.cycles, ngroups), [1] * ngroups
        shares, _ = ramp_shares(-(-ngroups // nunits), ramp)
        parts = [split_weighted(c, shares) for c in (unit_cycles or split(p.cycles, nunits))]
        rounds = range(len(shares))
        return (list(p.units) * len(shares), [parts[u][r] for r in rounds for u in range(nunits)],
                [shares[r] for r in rounds for _ in range(nunits)])
    plan: list[tuple[int, int]] = []  # (unit, cycles)
    shares = [_k_slices(t * p.details["tile_cycles"]) for t in split(p.details["output_tiles"], nunits)]
    for r in range(GPU_GROUPS_PER_CORE):
        plan += [(p.units[u], parts[r]) for u, parts in enumerate(shares) if r < len(parts)]
    weights = [c for _, c in plan]
    cycles = weights[:-1] + [weights[-1] + p.details.get("reduce_cycles", 0)]  # a split-K GEMM's reduction kernel
    return [u for u, _ in plan], cycles, weights


def _k_slices(work: int) -> list[int]:
    """A core's share of an op (``work`` cycles) streamed as up to GPU_GROUPS_PER_CORE groups of K-slices, none
    shorter than GROUP_MIN_CYCLES."""
    return split(work, max(1, min(GPU_GROUPS_PER_CORE, work // GROUP_MIN_CYCLES))) if work else []


def _lockstep_plan(p: Plan, count: int) -> tuple[list[int], list[int], list[int]]:
    """The groups of an op on one unit standing for ``count`` lock-step cores: round r takes as long as the
    busiest core's r-th group and moves the bytes of every core's r-th group. Output tiles are dealt round robin
    (so the cores hold ⌈T/count⌉ or ⌊T/count⌋ tiles), and so are a plug-in's ``details["pieces"]`` whole pieces
    (a core of k of P pieces takes ⌈cycles · k / P⌉, as :func:`~.traffic.unit_cycles` deals them to separate
    units: one indivisible piece takes its whole cycles on one core, the others idle, :func:`lockstep_cores`);
    other work is spread evenly (⌈cycles/count⌉ per core)."""
    if "output_tiles" in p.details or "pieces" in p.details:
        tiles = p.details.get("output_tiles", p.details.get("pieces"))
        hi, extra = -(-tiles // count), tiles % count
        shares = [(hi, extra or count)] + ([(tiles // count, count - extra)] if extra else [])
        if "output_tiles" in p.details:
            parts = [(_k_slices(t * p.details["tile_cycles"]), m) for t, m in shares]
        else:
            parts = [(_k_slices(-(-p.cycles * t // tiles)) or [0], m) for t, m in shares if t]
    else:
        parts = [(_k_slices(-(-p.cycles // count)) or [0], 1)]
    if len(parts) == 1:  # every core alike
        (x, m), = parts
        cycles, weights = list(x), [m * c for c in x]
    else:
        rounds = max(len(x) for x, _ in parts)
        cycles = [max(x[r] for x, _ in parts if r < len(x)) for r in range(rounds)]
        weights = [sum(m * x[r] for x, m in parts if r < len(x)) for r in range(rounds)]
    cycles[-1] += p.details.get("reduce_cycles", 0)  # a split-K GEMM's reduction kernel, after the last round
    return [p.units[0]] * len(cycles), cycles, weights


def lockstep_cores(p: Plan, count: int) -> int:
    """The cores of ``count`` lock-step ones (a GPU's SMs, one unit) that run some of ``p``'s work: all, or its
    ``details["output_tiles"]`` when a GEMM has fewer tiles than cores (probe p108 #1: h100's 64 x 128 x 8192, 32
    tiles on 32 of 132 SMs, counted each active SM's stall 132 times), or its ``details["pieces"]`` when a plug-in
    priced it as fewer whole pieces, as :func:`_lockstep_plan` deals them."""
    return min(count, p.details.get("output_tiles", p.details.get("pieces", count)))


def host_step_bytes(op: Op) -> tuple[int, int, int]:
    """Bytes per updated element of an optimizer step on the host's CPU (:meth:`Emitter.host_step`): (the gradient
    sent down the link, the parameter sent up, the CPU's DRAM traffic). The gradient crosses in its own dtype
    (``op.dtype``: units.GRAD_DTYPE), the parameter in the model's. The CPU reads the gradient and reads and writes
    each fp32 state; a parameter narrower than its states is updated through its fp32 master copy (a state), and
    the CPU writes the narrow copy it uploads; one as wide is read and written itself. Adam on bf16 with fp32
    gradients: 4 (gradient) + 3 × (4 + 4) (master, m, v) + 2 (the bf16 copy) = 30 B; on fp32: 4 + 2 × 8 + 8 = 28."""
    grad = dtype_bytes(op.dtype)
    param = next((w for w in op.weights if w.role != "state"), None)
    pbytes = dtype_bytes(param.dtype or op.dtype) if param is not None else grad
    states = [dtype_bytes(w.dtype or op.dtype) for w in op.weights if w.role == "state"]
    master = any(s > pbytes for s in states)
    return grad, pbytes, grad + 2 * sum(states) + (pbytes if master else 2 * pbytes)


def _algorithm(kind: str, algorithm: str, protocol: str) -> dict[str, str]:
    """An optimizer step's mapping keys naming the algorithm of its data-parallel ``kind`` collective (the gradient's
    all-reduce or reduce-scatter, a sharded step's all-gather): ``<kind>_algorithm`` (``nvls``, ``ring``, ``tree``,
    ``nvls_tree`` across nodes, a formula interconnect's ``direct`` / ``ring`` / ``torus``, ``p2p``) and NCCL's ``<kind>_protocol`` where it
    has one; its link bytes per chip are that algorithm's (cost/collective.py: a ring all-reduce 2(n-1)/n of the
    gradient, NVLS (1 + 1/n), a tree 2; probe p144 #2)."""
    return {f"{kind}_algorithm": algorithm, **({f"{kind}_protocol": protocol} if protocol else {})}


def byte_cycles(transfers: Iterable[tuple[int, int]]) -> int:
    """Σ bytes · latency over transfers of (bytes, latency in cycles): what they hold a buffer's in-flight room for.
    By Little's law, transfers that share a buffer of W bytes complete no sooner than this / W cycles after they
    start (a byte is in flight for its level's latency, and at most W are in flight at once). Bytes a cache passes
    on from a memory behind it are counted at both levels (the cache's traffic and the memory's), so a miss is in
    flight for both latencies."""
    return sum(n * lat for n, lat in transfers)


def _inflight(side: list[int], n: int, busy: int, lat: int, level: str, bound: dict[str, int]) -> int:
    """The latency of a load of ``n`` bytes that holds ``level`` ``busy`` cycles, its round trip ``lat`` cycles,
    when what is in flight into its side of the buffer is bounded (:func:`byte_cycles`): ``side`` = [the window in
    bytes, Σ bytes · latency of the group's loads on that side (with the pieces before it that share its buffer),
    the largest one load's, the cycles the earlier pieces' largest loads held their level, this group's largest
    load's busy cycles (set here)]. The largest load of the side takes the group's bound, Σ bytes · latency /
    window cycles from the first piece's start, less the earlier pieces' transfers ahead of it (the group's loads
    end no sooner); each other one its own bytes' (n · lat / window: a small parameter load beside a large
    activation load is not held to the group's); ``bound`` gains the cycles added at ``level``."""
    window, held, top, ran, _ = side
    own = n * lat
    if own == top:
        need = -(-held // window) - ran
        side[2], side[4] = -1, busy  # (taken: the side's other loads of this size take their own bound)
    else:
        need = -(-own // window)
    if need > busy + lat:  # the in-flight bound, not the bandwidth, sets its end
        bound[level] = bound.get(level, 0) + need - busy - lat
        return need - busy
    return lat


def _sides(window: tuple[int, int, int, bool], held: tuple[tuple[int, int], ...], acts: list[tuple],
           wts: list[tuple], epis: list[tuple], gi: int) -> tuple[list[int], list[int], list[int]]:
    """What tile group ``gi`` may have in flight, per side of its unit's buffer (its activation loads, its
    parameter loads, a fused residual's loads): each side's list as :func:`_inflight` takes it, after the pieces
    before it that share its buffer (a ramp's: loaded first, in the same room). ``window``: the unit's
    (:meth:`Emitter.windows`); ``held``: per side, (Σ bytes · latency, transfer cycles) of those earlier pieces;
    ``acts``, ``wts``, ``epis``: the op's load rows (:meth:`Emitter._groups`' (parts, cycles, unit, latency,
    level)). A unified buffer's operand loads share its half: the activation and parameter sides are one list."""
    w_act, w_wt, w_out, shared = window
    (h_act, r_act), (h_wt, r_wt), (h_epi, r_epi) = held
    bc_act = [r[0][gi] * r[3] for r in acts]
    bc_wt = [r[0][gi] * r[3] for r in wts]
    bc_epi = [r[0][gi] * r[3] for r in epis]
    side_epi = [w_out, h_epi + sum(bc_epi), max(bc_epi, default=0), r_epi, 0]
    if shared:
        side = [w_act, h_act + sum(bc_act) + sum(bc_wt), max(bc_act + bc_wt, default=0), r_act, 0]
        return side, side, side_epi
    return ([w_act, h_act + sum(bc_act), max(bc_act, default=0), r_act, 0],
            [w_wt, h_wt + sum(bc_wt), max(bc_wt, default=0), r_wt, 0], side_epi)


def _load_tasks(tasks: list[Task], rows: list[tuple], gi: int, op_i: int, after: tuple[int, ...],
                side: list[int] | None, bound: dict[str, int]) -> list[int]:
    """The ids of tile group ``gi``'s LOAD tasks, one from each level of ``rows`` (:meth:`Emitter._groups`'
    (parts, cycles, unit, latency, level)) it loads bytes from, each after ``after``, appended to ``tasks`` as op
    ``op_i``'s. With ``side`` (its side of the buffer, :func:`_sides`), a load's latency is what the buffer's
    in-flight bound makes it (:func:`_inflight`), ``bound`` gaining the cycles that adds per level."""
    new, load = tuple.__new__, TaskKind.LOAD
    ids = []
    for parts, busy, u, lat, lv in rows:
        n = parts[gi]
        if n:
            if side is not None:
                lat = _inflight(side, n, busy[gi], lat, lv, bound)
            ids.append(len(tasks))
            tasks.append(new(Task, (len(tasks), op_i, load, u, busy[gi], after, lat, n, lv)))
    return ids


def _occupancy(granules: list[int], grain: int, per_cycle: float) -> list[int]:
    """Cycles each group's ``granules`` (of ``grain`` bytes) hold a level moving ``per_cycle`` bytes a cycle: the
    running total's ceiling, differenced, so the groups' add up to the whole transfer's."""
    if per_cycle == math.inf:
        return [0] * len(granules)
    out, done, prev = [], 0, 0
    for n in granules:
        done += n
        now = math.ceil(done * grain / per_cycle)
        out.append(now - prev)
        prev = now
    return out


class Emitter:
    """Builds the task list op by op; keeps each unit's double-buffer stream and where each tensor is ready."""

    def __init__(self, ctx: Context, data_parallel: int, launch: Launch, budget: TaskBudget | None = None,
                 tensor_parallel: int = 1, accumulate: bool = False,
                 expert_parallel: int = 1, embedding_parallel: int = 1, sequential: bool = False):
        self.ctx = ctx
        # ops one after another, as SCALE-Sim runs a topology's layers (graph meta "sequential"): each op's first
        # tasks, its parameter loads too, wait for the op before it to finish, whatever their data dependencies
        self.sequential = sequential
        self.previous: list[int] = []  # when sequential: the tasks after which the last op emitted is done
        # gradient accumulation (a training iteration of several micro-batches), or a graph whose reductions do not
        # overlap the backward (GraphInfo.overlap_grad_reduce false: Megatron-LM's default): the data-parallel
        # reduction runs once, after the (last micro-batch's) backward pass, so here it waits for the whole of it
        self.accumulate = accumulate
        self.backward_ends: list[int] = []  # the tasks after which each backward op is done
        self.steps: list[Plan] = []  # the optimizer steps (set by lower): their gradients are reduced together
        # step → the multi-tensor kernels it opens, where not 1 (set by lower: mapping.multitensor.step_kernels)
        self.step_kernels: dict[str, int] = {}
        self.all_reduce_kernel = "nccl"  # options.all_reduce (set by lower): how an all-reduce inside one node runs
        # step → its reduction's (seconds, bytes sent, kind, of those bytes the ones sent to other nodes)
        # op → (seconds, bytes sent, kind, bytes to other nodes, NCCL's algorithm and protocol) of its gradient's
        # data-parallel reduction
        self.reduced: dict[str, tuple[float, int, str, int, str, str]] = {}
        self.reduced_join: int | None = None  # the task after which every gradient is reduced
        self.grad_reduce = (0, 0)  # the reduction's task ids, first..end-1 (TaskGraph.grad_reduce)
        # a data-parallel group's chips are tensor_parallel apart (Megatron's rank order: tensor parallel innermost)
        self.dp_extent = data_parallel * tensor_parallel
        # an MoE expert's gradient is reduced over the data-parallel chips holding the same experts (Megatron's
        # expert data-parallel group: expert_parallel times fewer chips, over the same span)
        self.ep = expert_parallel
        # a sharded DLRM table's, over the chips holding the same table (one per group of embedding_parallel)
        self.emb = embedding_parallel
        self.launch = launch
        self.host_start: list[int] | None = None  # the pass's first host task (step overhead, graph launch)
        self.budget = budget
        self.max_tasks = budget.tasks if budget is not None else None
        arch = ctx.arch
        names = {u.name: i for i, u in enumerate(ctx.units)}
        self.unit_of = {lv: names[lv] for lv in ctx.grain} | {LINK: names.get(LINK, -1)}
        self.nic = names.get(NIC, -1)
        self.nic_used = False  # whether a collective left the node (else lower drops the NIC unit)
        self.latency = {lv: arch.latency_cycles(lv) for lv in ctx.grain} | {LINK: 0}
        # a store to main memory behind a shared cache is done when the cache holds it: the cache is write-back and
        # the device's point of coherence (a GPU's L2), so an op's last store waits the cache's latency, not main
        # memory's (its bytes still reach main memory, at main memory's bandwidth)
        self.store_latency = dict(self.latency) | (
            {ctx.main: arch.latency_cycles(ctx.caches[0])} if ctx.caches and ctx.main in self.latency else {})
        self.launch_unit = next((i for i, u in enumerate(ctx.units) if u.kind is UnitKind.HOST), -1)
        self.stream_tail: list[int] = []  # in stream order: the tasks after which the last kernel launched is done
        self.slots = 2 if arch.core.sram.double_buffered else 1
        self.dp = data_parallel
        self.done: dict[str, list[int]] = {}  # physical tensor → the tasks after which it is readable
        self.stream_compute: dict[int, list[int]] = {u: [] for u in range(len(ctx.units))}
        self.stream_store: dict[int, list[int | None]] = {u: [] for u in range(len(ctx.units))}
        self.tasks: list[Task] = []
        self.host_owed: list[tuple[int, int]] = []  # (op, cycles): launches of folded copies not yet issued (folded)
        self.inflight_bound: dict[str, int] = {}  # the last op's: level → cycles its in-flight bound added (_groups)
        self.host_cpu = names.get(HOST_CPU, -1)  # options.offload: optimizer_cpu (host_step)
        self.backward_join: int | None = None  # host_step: the task after which every op before the steps is done

    def add(self, op_i: int, kind: TaskKind, unit: int, cycles: int, deps: list[int], nbytes: int = 0,
            level: str | None = None) -> int:
        tid = len(self.tasks)
        self.tasks.append(Task(tid, op_i, kind, unit, cycles, tuple(deps), self.latency[level] if level else 0,
                               nbytes, level))
        return tid

    def all_reduce(self, op_i: int, nbytes: int, group: int, deps: list[int], kind: str = "all_reduce",
                   extent: int | None = None, dtype: str | None = None,
                   fanout: tuple[int, ...] | None = None) -> tuple[int, collective.Choice]:
        """One link task: an all-reduce (or another collective ``kind``) of ``nbytes`` of ``dtype`` elements (which
        NCCL's choice of NVLS depends on: not for int8 or fp8, probe p104 #3) over ``group`` chips spread over
        ``extent`` consecutive chips (default ``group``); (task id, the call as priced). A group that
        spans nodes runs on the NIC unit (as priced: the scale-out network's), so it does not hold up the node's
        links (NVLink's few-hundred GB/s carry its intra-node hops beside the node's own collectives). ``fanout``:
        an MoE all-to-all's routing that sends a token once per rank (:func:`~accelsim.cost.collective.call`)."""
        arch = self.ctx.arch
        c = collective.call(arch, kind, nbytes, group, extent, self.all_reduce_kernel, dtype, fanout)
        if not self.crosses(group, extent):
            return self.add(op_i, TaskKind.LOAD, self.unit_of[LINK], c.cycles(arch.clock_hz), deps, c.sent, LINK), c
        tid = self.add(op_i, TaskKind.LOAD, self.nic, c.cycles(arch.clock_hz), deps, c.sent, LINK)
        self.nic_used = True
        # the ring's hops between the group's chips inside a node ride the node's links meanwhile (NCCL's rings pass
        # through a node's chips before leaving it): their bytes at the links' bandwidth, counted once, on the NIC
        ic = arch.interconnect
        assert ic is not None
        k = ic.per_node(group, extent or group)
        hops = self._node_hops(kind, nbytes, group, extent, c)
        if hops <= 0:
            return tid, c
        hop = self.add(op_i, TaskKind.LOAD, self.unit_of[LINK],
                       time_cycles(hops / (ic.group_bandwidth(k) * ic.efficiency), arch.clock_hz), deps, 0, LINK)
        return self.add(op_i, TaskKind.JOIN, -1, 0, [tid, hop]), c

    def _node_hops(self, kind: str, nbytes: int, group: int, extent: int | None,
                   c: collective.Choice | None = None) -> float:
        """Bytes each chip of a collective across nodes sends to chips of its own node (the ring's hops inside
        the node, or call ``c``'s own split, NVLS_TREE's NVLS stage, which its link task times:
        :func:`~accelsim.cost.collective.node_hop_bytes`)."""
        ic = self.ctx.arch.interconnect
        assert ic is not None
        return collective.node_hop_bytes(kind, nbytes, group, ic.per_node(group, extent or group), c)

    def nic_bytes(self, c: collective.Choice, kind: str, nbytes: int, group: int, extent: int | None) -> int:
        """Of the bytes each chip sends in call ``c`` (``c.sent``), those that leave its node through its NIC: none
        when the group stays in a node; else all but the hops inside the node that :meth:`all_reduce` times on the
        links (:meth:`_node_hops`): a ring over M nodes of k of the group's chips each, 1/k of its wire bytes
        (its M crossings of N edges); a send, all (probe p119 #1: the energy prices these at the network's
        ``scale_out.energy_per_bit``, the rest at the links')."""
        if not c.sent or not self.crosses(group, extent):
            return 0
        return max(c.sent - math.floor(self._node_hops(kind, nbytes, group, extent, c)), 0)

    def crosses(self, group: int, extent: int | None) -> bool:
        """Whether a collective over ``group`` chips spread over ``extent`` runs on the NIC (it leaves the node)."""
        return self.nic >= 0 and self.ctx.arch.interconnect.crosses_nodes(extent or group, group)  # type: ignore[union-attr]

    def producers(self, p: Plan, tensors: tuple[str, ...] | None = None) -> list[int]:
        """The tasks after which ``p``'s inputs (or of them ``tensors``) are readable."""
        return [d for t in (p.inputs if tensors is None else tensors) if t in self.done for d in self.done[t]]

    def none(self, p: Plan) -> OpMapping:
        op = p.op
        return OpMapping(op.name, op.kind.value, op.fn, "none", None, op.macs, op.flops, 0, 0, {}, dict(p.details))

    def collective(self, p: Plan) -> OpMapping:
        """Tensor parallelism: all-reduce the (partial) output over the link (another collective: its fn;
        group 0: every chip of the arch, the ``collective`` micro-workload)."""
        op, arch = p.op, self.ctx.arch
        group = op.group or arch.chips
        # a group's chips in Megatron's rank order: consecutive, or (context parallelism) tensor_parallel apart
        extent = int(op.attrs.get("extent", group))  # type: ignore[call-overload]
        if arch.interconnect is None or arch.chips < max(extent, 2):
            raise MappingError(f"op {op.name!r}: {'an' if op.fn[:1] in 'aeiou' else 'a'} {op.fn} over {group} "
                               f"chip{'s' if group != 1 else ''}" +
                               (f" spread over {extent}" if extent != group else "") +
                               f" needs an arch with at least {max(extent, 2)} chips and an interconnect "
                               f"(arch.chips={arch.chips})",
                               arch_key=("chips",) if arch.chips < max(extent, 2) else ("interconnect",))
        # nccl-tests' size: the whole tensor (a reduce-scatter's unscattered input, an all-gather's gathered output;
        # attrs ``message_bytes`` where the builder sizes it otherwise: a sharded DLRM's uneven all-to-all, its
        # busiest chip's send buffer; ``wire_rows``: an MoE all-to-all's rows on the wire, of its output's width, in
        # its dtype with the dispatch's scales, units.dispatch_bytes: builders.moe, probe p250)
        if "message_bytes" in op.attrs:
            nbytes = int(op.attrs["message_bytes"])  # type: ignore[call-overload]
        elif "wire_rows" in op.attrs:
            nbytes = dispatch_bytes(int(op.attrs["wire_rows"]), op.out_shape[-1], op.out_dtype)  # type: ignore[call-overload]
        else:
            nbytes = op.in_bytes if op.fn == "reduce_scatter" else op.out_bytes
        # NCCL's kernel is launched (and dispatched) as any other; in stream order NCCL's stream waits for the
        # compute stream, and the compute stream for it (a blocking collective: torch.distributed's, Megatron's
        # tensor-parallel ones)
        # (attrs ``side_stream``: a collective on a stream of its own, TransformerEngine's context-parallel ring,
        # waits for its input only and holds up only the ops that read its output)
        in_stream = not op.attrs.get("side_stream")
        # attrs ``back_to_back`` (the ``collective`` micro-workload): one call of nccl-tests' loop of back-to-back
        # calls, whose host launches run ahead of the device and whose per-call start NCCL's latencies already hold
        # (they are read off such loops): no launch or dispatch task, so the run's time is the call's own
        steady = bool(op.attrs.get("back_to_back"))
        deps, _ = (self.producers(p), []) if steady else self.launched(p.index, self.producers(p), in_stream)
        if self.launch.in_order and not self.launch.dispatch and in_stream:  # (a dispatch task waits for the tail)
            deps += self.stream_tail
        fanout = op.attrs.get("fanout")  # an MoE all-to-all sent once per rank: its routing (builders.moe)
        tid, c = self.all_reduce(p.index, nbytes, group, deps, op.fn, extent, op.dtype,
                                 tuple(fanout) if fanout else None)  # type: ignore[arg-type]
        self.done[op.name] = [tid]
        if self.accumulate and op.phase == "backward":
            self.backward_ends.append(tid)
        if self.launch.in_order and in_stream:
            self.stream_tail = [tid]
        if steady:  # what one call alone would add before it (its launch and dispatch), reported apart
            details_launch = {"launch_s": (self.launch.per_kernel + self.launch.start + self.launch.dispatch)
                              / arch.clock_hz}
        else:
            details_launch = {}
        # an all-to-all's group spread out (extent): the torus axes its pieces cross, for the energy (probe p257 #1)
        details = {f"{op.fn}_s": c.seconds, "group": group, **collective.describe(c, op.fn, nbytes, group),
                   **({"extent": extent} if op.fn == "all_to_all" and extent != group else {}),
                   **details_launch,
                   **({"phase": op.phase} if op.phase else {})}
        # its buffers' and FIFOs' traffic in main memory and its share of the reduction: energy only, the link
        # task's time is the call's (collective.memory_traffic; probe p66)
        mem, adds = collective.memory_traffic(c, op.fn, nbytes, group, dtype_bytes(op.dtype))
        if adds:
            details["reduce_flops"] = adds
        unit = NIC if self.crosses(group, extent) else LINK
        nic = self.nic_bytes(c, op.fn, nbytes, group, extent)
        if nic:  # the bytes leaving the node, priced at scale_out's energy_per_bit, the hops inside at the links'
            details["nic_bytes"] = nic
        # the call's busy cycles: its link or NIC task's; across nodes with hops inside them, tid is the 0-cycle JOIN
        # of the NIC task and the hops' link task, and the call is busy as long as the longer of the two (probe
        # p106 #3: compute_cycles was 0, so the ops table ranked a multi-node run's collectives last)
        task = self.tasks[tid]
        busy = max((self.tasks[d].cycles for d in task.deps), default=0) if task.kind is TaskKind.JOIN \
            else task.cycles
        return OpMapping(op.name, op.kind.value, op.fn, unit, None, 0, op.flops, busy, 1,
                         {LINK: c.sent, **({arch.main_memory: mem} if mem else {})}, details)

    def launched(self, op_i: int, producers: list[int], in_stream: bool = True,
                 kernels: int = 1) -> tuple[list[int], list[int]]:
        """The tasks an op's first groups wait for (its inputs, its launch and its dispatch) and those its
        parameter loads wait for (its launch; its dispatch where there is one). Host tasks have no dependencies: the host issues them in id order,
        running ahead of the device. ``kernels``: the kernels the op opens (an optimizer step's share of the
        multi-tensor calls, :attr:`step_kernels`), each a launch and a dispatch; 0, none (its tensor rides in a
        kernel an earlier step opened: it still waits for the pass's start and, in stream order, for the stream)."""
        lm, launched = self.launch, []
        if self.launch_unit >= 0:
            if self.host_start is None:
                self.host_start = [self.add(op_i, TaskKind.LAUNCH, self.launch_unit, lm.start, [])] if lm.start else []
            launched = list(self.host_start)
            if lm.per_kernel and kernels:
                launched = [self.add(op_i, TaskKind.LAUNCH, self.launch_unit, lm.per_kernel * kernels, [])]
        if self.sequential:
            producers, launched = producers + self.previous, launched + self.previous
        if lm.dispatch and kernels:  # a dispatched kernel (a GPU's) reads its parameters only once it runs
            after = producers + launched + (self.stream_tail if lm.in_order and in_stream else [])
            dispatch = [self.add(op_i, TaskKind.DISPATCH, -1, lm.dispatch * kernels, after)]
            return dispatch, dispatch
        if lm.dispatch and lm.in_order and in_stream:  # no kernel of its own: after the stream's last
            return producers + launched + self.stream_tail, launched + self.stream_tail
        return producers + launched, launched

    def _kernels(self, name: str, details: dict) -> int:
        """The kernels op ``name`` opens (:attr:`step_kernels`; 1 but for an optimizer step's share of the
        multi-tensor calls), recorded in its ``details`` where not 1."""
        kernels = self.step_kernels.get(name, 1)
        if kernels != 1:
            details["kernels"] = kernels
        return kernels

    def op(self, p: Plan, tr: Traffic) -> OpMapping:
        """The tasks of one working op; its :class:`OpMapping`."""
        if tr.cycles is not None:  # narrow tiles priced at their own folds (traffic.sram_reads)
            p = p._replace(cycles=tr.cycles)
        op, units = p.op, self.ctx.units
        details = {**p.details, **tr.details}
        level_bytes = dict(tr.level_bytes)
        count = units[p.units[0]].count
        group_units, cyc, weights = group_plan(p, tr.groups, count, tr.unit_cycles, tr.ramp)
        joins = None  # a ramp's pieces: whether each group shares the buffer of its unit's next (ramp_shares)
        if any(tr.ramp):
            nunits = len(p.units)
            joins = [j for j in ramp_shares(-(-tr.groups // nunits), tr.ramp)[1] for _ in range(nunits)]
        cut = split_weighted if len(set(weights)) > 1 else lambda total, w: split(total, len(w))
        # each level's bytes, and its whole access granules (the tensor rounded up once, then cut), per group
        grain = self.ctx.grain

        def per_group(levels: dict[str, int]) -> dict[str, tuple[list[int], list[int]]]:
            return {lv: (cut(b, weights), cut(-(-b // grain[lv]), weights)) for lv, b in sorted(levels.items()) if b}

        act_loads, w_loads, stores = per_group(tr.act), per_group(tr.weights), per_group(tr.out)
        epi_loads = per_group(tr.epilogue)
        sharded = op.kind is OpKind.OPTIMIZER and self.dp > 1 and int(op.attrs.get("shards", 1)) > 1
        # data parallel: the step waits for the gradients' all-reduce over the chips' links (_reduce_gradients)
        reduce = op.kind is OpKind.OPTIMIZER and self.dp > 1
        data = self.producers(p)
        # a fused residual (Plan.epilogue) is read on the output side only: the loads of the op's own operands do not
        # wait for its producer, the epilogue's loads (or, with none, each group's store, else its compute) do. A
        # dispatched kernel waits for all its inputs before it runs
        epi_after: list[int] = []
        if p.epilogue and not self.launch.dispatch:
            data = self.producers(p, tuple(t for t in p.inputs if t not in p.epilogue
                                           or any(t in g for g in p.operands)))
            epi_after = self.producers(p, p.epilogue)
        if reduce:
            data = [self._reduce_gradients()]
            seconds, sent, kind, nic, algorithm, protocol = self.reduced[op.name]
            if sent:  # (an expert's gradient on the only chip holding it is not reduced)
                level_bytes[LINK] = sent
                details[f"{kind}_s"] = seconds
                details.update(_algorithm(kind, algorithm, protocol))
            if nic:  # of bytes.link, those sent to other nodes (energy.model prices them at the network's figure)
                details["nic_bytes"] = nic
        # an op run inside its producer's kernel (a state written in place; a training max pool's indices, which
        # read nothing of their own) is neither launched nor dispatched: it waits for that kernel's tasks
        producers, launched = (list(dict.fromkeys(data + self.done.get(op.in_kernel_of, []))), []) \
            if op.in_kernel_of else self.launched(p.index, data, kernels=self._kernels(op.name, details))
        last_compute, last_store = self._groups(p, tr.scale, group_units, cyc, act_loads, w_loads, stores,
                                                producers, launched, joins, epi_loads, epi_after)
        if self.max_tasks is not None and len(self.tasks) > self.max_tasks:
            raise self.budget.error(op.name, p.index + 1)
        if self.inflight_bound:  # its transfers waited on what its buffers may have in flight (Little's law)
            win = self.windows(p)[p.units[0]]
            details["inflight_bound"] = {"levels": sorted(self.inflight_bound), "cycles": self.inflight_bound,
                                         "window_bytes": list(win[:3])}
        # a unit ends with its last group's store; when that group stores nothing (a reduction's small output spread
        # over fewer groups than it has), with its last compute and the earlier store still in flight
        ends = []
        for u, c in last_compute.items():
            s = last_store.get(u)
            ends += [c] if s is None else [s] if s > c else [c, s]
        if sharded:  # the updated shards all-gathered: every rank's whole parameter (in the model's dtype)
            param = sum(w.nbytes(op.dtype) for w in op.weights if w.role == "param")
            if "sparse_rows" in op.attrs:  # a lazy step's: only the rows it updated (every rank has their ids, the
                # all-gathered sparse gradient's)
                table = op.weights[0]
                param = table.nbytes(op.dtype) // table.shape[0] * int(op.attrs["sparse_rows"])  # type: ignore[call-overload]
            tid, c = self.all_reduce(p.index, param, int(op.attrs["shards"]), ends, "all_gather",  # type: ignore[call-overload]
                                     self.dp_extent, op.dtype)
            ends = [tid]
            level_bytes[LINK] = level_bytes.get(LINK, 0) + c.sent
            nic = self.nic_bytes(c, "all_gather", param, int(op.attrs["shards"]), self.dp_extent)  # type: ignore[call-overload]
            if nic:
                details["nic_bytes"] = int(details.get("nic_bytes", 0)) + nic  # type: ignore[call-overload]
            # (a lazy step's gradient was all-gathered too: both all-gathers' seconds)
            details["all_gather_s"] = details.get("all_gather_s", 0.0) + c.seconds
            details.update(_algorithm("all_gather", c.algorithm, c.protocol))
        self.done[op.name] = [self.add(p.index, TaskKind.JOIN, -1, 0, ends)] if len(ends) > JOIN_MIN_ENDS else ends
        if self.accumulate and op.phase == "backward":
            self.backward_ends += self.done[op.name]
        if self.launch.in_order:
            self.stream_tail = self.done[op.name]
        if self.sequential:
            self.previous = self.done[op.name]
        nunits = len(p.units)
        if nunits == 1:  # every group on the one unit
            busiest = sum(cyc)
        else:
            unit_cycles: dict[int, int] = {}
            for u, c in zip(group_units, cyc, strict=True):
                unit_cycles[u] = unit_cycles.get(u, 0) + c
            busiest = max(unit_cycles.values())
        if count > 1:
            details["units"] = lockstep_cores(p, count)
            details["work_cycles"] = p.cycles
            name = f"{units[p.units[0]].name} ({count})"
        elif nunits > 1:  # each unit its own share, fill and drain included (traffic.unit_cycles): their sum
            details["units"] = nunits
            details["work_cycles"] = sum(cyc)
            peers = [i for i, u in enumerate(units) if u.group == units[p.units[0]].group]  # its kind, in order
            lo = peers.index(p.units[0])
            name = units_label([units[u].name for u in p.units], list(p.units) == peers[lo:lo + nunits])
        else:
            name = units[p.units[0]].name
        details["resident_output"] = p.resident_out
        if op.phase is not None:
            details["phase"] = op.phase
        return OpMapping(op.name, op.kind.value, op.fn, name, p.core, op.macs, op.flops, busiest, len(cyc),
                         level_bytes, details)

    def host_step(self, p: Plan) -> OpMapping:
        """One parameter's optimizer step on the host's CPU (``options.offload: optimizer_cpu``), as ZeRO-Offload
        runs it (Ren et al., USENIX ATC 2021; DeepSpeed's ``offload_optimizer: {device: cpu}`` and its CPU Adam):
        the gradient goes down the host link once it is ready (and reduced: data parallel), the CPU updates the
        fp32 state in host DRAM once the whole backward pass is done (no delayed parameter update, the paper's
        default), and the updated parameter comes back up the link. The CPU's time is the slower of its DRAM bytes
        (:func:`host_step_bytes`) over ``host.cpu.bandwidth`` and the step's FLOPs (the op's) over
        ``host.cpu.flops``; one step at a time on the one ``host_cpu`` unit, so a parameter's upload overlaps the
        next one's update. Device memory traffic of the copies (the DMA engines' reads and writes of HBM) is not
        counted."""
        op, arch = p.op, self.ctx.arch
        host = arch.spill_memory
        assert host is not None and arch.memory(host).cpu is not None  # (lower.host_cpu checked it)
        cpu = arch.memory(host).cpu
        shards = int(op.attrs.get("shards", 1))  # type: ignore[call-overload]
        n = -(-math.prod(op.out_shape) // shards)  # the elements this chip updates (a lazy step: its rows)
        grad_b, param_b, cpu_b = host_step_bytes(op)
        details: dict[str, object] = {"phase": op.phase} if op.phase else {}
        level_bytes: dict[str, int] = {}
        data = self.producers(p)
        if self.dp > 1:  # the gradient is reduced first (ZeRO-Offload's ZeRO-2 reduce-scatter or an all-reduce)
            data = [self._reduce_gradients()]
            seconds, sent, kind, nic, algorithm, protocol = self.reduced[op.name]
            if sent:
                level_bytes[LINK] = sent
                details[f"{kind}_s"] = seconds
                details.update(_algorithm(kind, algorithm, protocol))
            if nic:
                details["nic_bytes"] = nic
        if self.backward_join is None:  # no delayed parameter update: the CPU steps once the backward pass is done
            self.backward_join = self.add(p.index, TaskKind.JOIN, -1, 0,
                                          sorted({d for ends in self.done.values() for d in ends}))
        unit, per_cycle, clock = self.unit_of[host], arch.bytes_per_cycle(host), arch.clock_hz
        down = self.add(p.index, TaskKind.STORE, unit, math.ceil(n * grad_b / per_cycle), data, n * grad_b, host)
        seconds = cpu.seconds(n * cpu_b, op.flops)
        step = self.add(p.index, TaskKind.COMPUTE, self.host_cpu, time_cycles(seconds, clock),
                        [down, self.backward_join])
        ends = [self.add(p.index, TaskKind.LOAD, unit, math.ceil(n * param_b / per_cycle), [step], n * param_b, host)]
        level_bytes[host] = n * (grad_b + param_b)
        if shards > 1 and self.dp > 1:  # the updated shards all-gathered: every rank's whole parameter
            param = op.weights[0].nbytes(op.dtype)
            tid, c = self.all_reduce(p.index, param, shards, ends, "all_gather", self.dp_extent, op.dtype)
            ends = [tid]
            level_bytes[LINK] = level_bytes.get(LINK, 0) + c.sent
            details["all_gather_s"] = c.seconds
            details.update(_algorithm("all_gather", c.algorithm, c.protocol))
        self.done[op.name] = ends
        details.update(host_step_s=seconds, host_dram_bytes=n * cpu_b, grad_down_bytes=n * grad_b,
                       param_up_bytes=n * param_b,
                       host_bound="flops" if op.flops / cpu.flops > n * cpu_b / cpu.bandwidth else "bandwidth")
        return OpMapping(op.name, op.kind.value, op.fn, HOST_CPU, None, 0, op.flops, time_cycles(seconds, clock), 1,
                         level_bytes, details)

    def _reduce_gradients(self) -> int:
        """The data-parallel reduction of every step's gradient (a distributed optimizer's: reduce-scatters, each rank
        updating its share), emitted at the first step; the task after which all are done, which every step waits
        for. Each reduction starts when its gradient is ready (DDP's and Megatron's buckets, on a stream of their
        own, overlapping the rest of the backward pass) or, accumulating micro-batches, after the whole backward
        pass (Megatron's ``no_sync`` until the last micro-batch, then ``finalize_model_grads``); the optimizer steps
        once the whole gradient is reduced (DDP's backward returns when every bucket is; Megatron clips by the
        whole gradient's norm first)."""
        if self.reduced_join is not None:
            return self.reduced_join
        first = len(self.tasks)
        after = []
        if self.accumulate:  # every backward op is before the steps (builders/training.py)
            after = [self.add(self.steps[0].index, TaskKind.JOIN, -1, 0, sorted(set(self.backward_ends)))]
        ends = []
        for p in self.steps:
            op = p.op
            group = reduction_chips(op, self.dp, self.ep, self.emb)
            if group <= 1:  # the only chip holding these experts (or this table): nothing to reduce
                self.reduced[op.name] = (0.0, 0, "all_reduce", 0, "none", "")
                continue
            # the whole gradient buffer (DDP's and Megatron's grad buffers), not the rows an embedding's backward
            # wrote: a dense nn.Embedding's gradient is the whole table
            param = next((w for w in op.weights if w.name == op.attrs.get("param")), None)
            elems = math.prod(param.shape) if param is not None else sum(math.prod(s) for s in op.in_shapes)
            kind = "reduce_scatter" if int(op.attrs.get("shards", 1)) > 1 else "all_reduce"
            nbytes = elems * op.elem_bytes
            rows = int(op.attrs.get("replica_rows", 0))  # type: ignore[call-overload]
            if rows and param is not None:
                # a lazy step's sparse table gradient (a bag table's, sparse_grad: torch's sparse COO gradient,
                # which DDP all-gathers rather than all-reduces, as TorchRec / FBGEMM a data-parallel table's): each
                # of the group's chips contributes the rows its look-ups wrote, their values and int64 row ids, and
                # every chip's step updates their union (builders.training.union_sparse_steps; probe p88 #3: the
                # whole table was all-reduced, 11.49 GB for dlrm_mlperf's emb.0 on dgx-h100)
                kind = "all_gather"
                ids = int(op.attrs.get("index_bytes", 0))  # type: ignore[call-overload]
                nbytes = group * rows * (elems // param.shape[0] * op.elem_bytes + ids)
            tid, c = self.all_reduce(p.index, nbytes, group, self.producers(p) + after, kind, self.dp_extent,
                                     op.dtype)
            self.reduced[op.name] = (c.seconds, c.sent, kind, self.nic_bytes(c, kind, nbytes, group, self.dp_extent),
                                     c.algorithm, c.protocol)
            ends.append(tid)
        self.reduced_join = self.add(self.steps[0].index, TaskKind.JOIN, -1, 0, ends)
        self.grad_reduce = (first, self.reduced_join + 1)
        return self.reduced_join

    def _groups(self, p: Plan, scale: dict[str, float], group_units: list[int], cyc: list[int],
                act_loads: dict[str, tuple[list[int], list[int]]],
                w_loads: dict[str, tuple[list[int], list[int]]], stores: dict[str, tuple[list[int], list[int]]],
                producers: list[int], launched: list[int], joins: list[bool] | None = None,
                epi_loads: dict[str, tuple[list[int], list[int]]] | None = None, epi_after: list[int] | None = None,
                ) -> tuple[dict[int, int], dict[int, int]]:
        """The load, compute and store tasks of each tile group; each unit's last compute and last store. A group
        that ``joins`` its unit's next (a ramp's piece, :func:`ramp_shares`) shares that group's buffer: it waits
        for what that group waits for (a free buffer; the op's inputs if it is among the unit's first ``slots``),
        and only the last piece of a buffer takes a place in the unit's double-buffer stream, so the pieces
        prefetch together as the whole group would.

        A fused residual's bytes (``epi_loads``) are loaded on the output side of every group: after ``epi_after``
        (the residual's producers), the launch and a free buffer, and the group's stores wait for them (a group that
        stores nothing: its compute), so the operands' loads prefetch while the residual's producer still runs. With
        no bytes to load (a residual on chip), each group's stores (else its compute) wait for ``epi_after``.

        The hot loop of lowering: tasks are built inline, and each level's (unit, bytes per cycle at the op's
        ``scale`` of sustained bandwidth, latency) is looked up once per op. A level's transfers occupy it for the
        op's bytes rounded up to whole access granules once (each group its share of those granules, the cycles
        rounded so that the groups' add up to the whole transfer's), not for each group's rounded up."""
        slots, tasks, op_i = self.slots, self.tasks, p.index
        ctx = self.ctx
        compute_kind, store = TaskKind.COMPUTE, TaskKind.STORE
        new = tuple.__new__  # Task(...) without its Python-level __new__: all nine fields given, in order
        grain, bpc, unit_of = ctx.grain, ctx.bpc, self.unit_of

        def rows(loads: dict[str, tuple[list[int], list[int]]], latency: dict[str, int]) -> list[tuple]:
            """Per level: (its parts, each part's cycles, unit, latency, level)."""
            return [(parts, _occupancy(gr, grain[lv], bpc[lv] * scale.get(lv, 1.0)), unit_of[lv], latency[lv], lv)
                    for lv, (parts, gr) in loads.items()]

        acts, wts, outs = rows(act_loads, self.latency), rows(w_loads, self.latency), rows(stores, self.store_latency)
        epis = rows(epi_loads, self.latency) if epi_loads else []
        # the bytes each unit may have in flight (Little's law, :meth:`windows`): None when no level has latency
        windows = self.windows(p) if any(r[3] for r in (*acts, *wts, *epis)) else None
        bound: dict[str, int] = {}  # level → the cycles the in-flight bound added to the op's transfers
        # unit → per side, (byte-cycles, transfer cycles) of its buffer's earlier pieces
        held: dict[int, tuple[tuple[int, int], ...]] = {}
        producers_t, launched_t, epi_t = tuple(producers), tuple(launched), tuple(epi_after or ())
        epilogue = bool(epis or epi_t)
        append = tasks.append
        stream_compute, stream_store = self.stream_compute, self.stream_store
        last_compute: dict[int, int] = {}
        last_store: dict[int, int] = {}
        seen: dict[int, int] = {}
        for gi, unit in enumerate(group_units):
            sc, ss = stream_compute[unit], stream_store[unit]
            pos = len(sc)
            if pos >= slots:
                slot, slot_s = (sc[pos - slots],), ss[pos - slots]
            else:
                slot, slot_s = (), None
            piece = joins is not None and joins[gi]
            nth = seen.get(unit, -1) + 1
            if not piece:  # (a buffer's pieces count as one group: the last)
                seen[unit] = nth
            # each unit's first groups wait for the op's inputs; its parameter loads for its launch
            first, w_after = (producers_t, slot + launched_t) if nth < slots else ((), slot)
            deps: list[int] = []
            if windows is None:
                side_act = side_wt = side_epi = None
            else:  # per side of its buffer, after the pieces before it that share its buffer
                side_act, side_wt, side_epi = _sides(windows[unit], held.get(unit, ((0, 0), (0, 0), (0, 0))),
                                                     acts, wts, epis, gi)
            for group, after, side in ((acts, first + slot, side_act), (wts, w_after, side_wt)):
                deps += _load_tasks(tasks, group, gi, op_i, after, side, bound)
            deps += first
            if unit in last_compute:
                deps.append(last_compute[unit])
            if slot_s is not None:
                deps.append(slot_s)
            elif slot and not deps:  # a group loading nothing in a buffer whose last group stored nothing: the
                # buffer is free when that group's compute ends (probe p64 #2: SAM's input-free pe_dense computed
                # half at cycle 0 and half 15.7 M cycles later, its row spanning the run)
                deps += slot
            out_after: tuple[int, ...] = ()
            if epilogue:  # the residual's loads, before this group's stores (or its compute, when it stores none)
                epi_ids = _load_tasks(tasks, epis, gi, op_i, epi_t + launched_t + slot, side_epi, bound)
                out_after = tuple(epi_ids) or epi_t
                if not any(parts[gi] for parts, *_ in outs):
                    deps += out_after
            if windows is not None:  # what this group's pieces hold for the next piece of its buffer
                held[unit] = tuple((sd[1], sd[3] + sd[4]) for sd in (side_act, side_wt, side_epi)) if piece else \
                    ((0, 0), (0, 0), (0, 0))  # type: ignore[assignment]
            cid = last_compute[unit] = len(tasks)
            append(new(Task, (cid, op_i, compute_kind, unit, cyc[gi], tuple(deps), 0, 0, None)))
            store_id = None
            for parts, busy, u, lat, lv in outs:
                n = parts[gi]
                if n:
                    store_id = last_store[unit] = len(tasks)
                    append(new(Task, (store_id, op_i, store, u, busy[gi], (cid, *out_after), lat, n, lv)))
            if not piece:
                sc.append(cid)
                ss.append(store_id)
        self.inflight_bound = bound
        return last_compute, last_store

    def windows(self, p: Plan) -> dict[int, tuple[int, int, int, bool]]:
        """Per unit of ``p``: the bytes one of its tile groups may have in flight to (its activation loads, its
        parameter loads, its stores and a fused residual's loads), and whether its operand loads share one window.
        A transfer lands in (or leaves from) the group's buffer, so what is in flight is bounded by that buffer: the
        double-buffered half of the scratchpad (the other half holds the group computing, or the next one filling;
        the whole buffer when not double-buffered), split buffers each their own (ifmap: activations, filter:
        parameters, ofmap: the output, its stores and the residual read on the output side), a unified one its half
        shared by the group's operand loads (loaded together) and, after its compute, by its stores. A unit standing
        for ``count`` lock-step cores has their buffers together; units of one core the op runs on share the core's
        buffer evenly."""
        sram, units = self.ctx.arch.core.sram, self.ctx.units
        div = 2 if sram.double_buffered else 1
        on_core: dict[int | None, int] = {}
        for u in p.units:
            on_core[units[u].core] = on_core.get(units[u].core, 0) + 1
        out = {}
        for u in p.units:
            n = units[u].count
            share = on_core[units[u].core]
            if sram.unified is not None:
                w = max(1, sram.unified * n // (div * share))
                out[u] = (w, w, w, True)
            else:
                ifm, fil, ofm = (max(1, b * n // (div * share)) for b in (sram.ifmap, sram.filter, sram.ofmap))  # type: ignore[operator]
                out[u] = (ifm, fil, ofm, False)
        return out

    def folded(self, p: Plan, fold: tuple[str, object] | None, emit: Callable[[], OpMapping]) -> OpMapping:
        """``emit()`` (:meth:`op` or :meth:`collective` of ``p``) as ``fold`` says (:func:`.ring.ring_folds`):
        none, as is; ("repeat", r), with each of its tasks r× as long (cycles and latency) and moving r× the bytes,
        so it stands for r back-to-back copies, but for its host launch, the first copy's: the other r − 1 are one
        host task before the next op's launch (its mapping's ``ring_repeat`` r: its report row's span and stalls
        are the r copies'); ("as", name), its mapping only (``ring_folded_into`` name: its row has no span): the
        tasks it emitted are dropped, the emitter's streams put back, and its readers wait for ``name``'s."""
        if self.host_owed and fold is None:  # the launches of the copies folded into earlier ops, before the next
            # unfolded op's: one host task
            self.add(self.host_owed[0][0], TaskKind.LAUNCH, self.launch_unit, sum(c for _, c in self.host_owed), [])
            self.host_owed = []
        if fold is None:
            return emit()
        how, arg = fold
        first = len(self.tasks)
        if how == "repeat":
            r = int(arg)  # type: ignore[call-overload]
            m = emit()
            # the host issues the copies' launches in op order, between the other ops' (the ring's sends and steps
            # alternate): the op runs after its first and the other r − 1 are issued before the next op's
            owed = sum(t.cycles for t in self.tasks[first:] if t.kind is TaskKind.LAUNCH) * (r - 1)
            if owed:
                self.host_owed.append((p.index, owed))
            self.tasks[first:] = [t if t.kind is TaskKind.LAUNCH else
                                  t._replace(cycles=t.cycles * r, latency=t.latency * r, nbytes=t.nbytes * r)
                                  for t in self.tasks[first:]]
            return dataclasses.replace(m, mapping={**m.mapping, "ring_repeat": r})
        computes = {u: len(s) for u, s in self.stream_compute.items()}
        stored = {u: len(s) for u, s in self.stream_store.items()}
        tail, previous, host_start = self.stream_tail, self.previous, self.host_start
        m = emit()
        del self.tasks[first:]
        for u, n in computes.items():
            del self.stream_compute[u][n:]
        for u, n in stored.items():
            del self.stream_store[u][n:]
        self.stream_tail, self.previous, self.host_start = tail, previous, host_start
        self.done[p.op.name] = list(self.done[str(arg)])
        return dataclasses.replace(m, mapping={**m.mapping, "ring_folded_into": str(arg)})
