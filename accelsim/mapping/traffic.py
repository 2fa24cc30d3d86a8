"""Pass 6, traffic: the bytes each op moves at each level of the hierarchy, and how many tile groups it streams.

Operands first (:func:`operand_bytes`): activations and parameters by the memory they live in, the output by
where it goes; gathers read only their rows (:mod:`accelsim.cost.gather`); an optimizer step writes its
parameter and state back. Then re-reads: a matmul is tiled against its core's SRAM (:mod:`.tiling`; a fused
attention streams K/V per query block, :func:`accelsim.cost.attention.kv_passes`, a causal one only the blocks each
block sees, :func:`causal_kv_reads`); a vector kernel re-reads its
inputs ``input_passes`` times. With shared caches the cores' tiles read the innermost cache (each GPU output
tile's panels, :func:`accelsim.cost.gpu_tiles.cache_bytes`), each cache sees the tiling against the level inside
it, and the memories the tiling against the outermost cache, each operand's reads never more than the level
inside asks of the cache (:func:`_behind`). An op split over cores replicates its smaller operand
on every core, each core re-reading it as its own sub-GEMM's tiling does (:func:`core_reads`), read from the
innermost cache where there is one, else from the memories (not one cut along its GEMM count: each core reads only
its own GEMMs' operands; nor a vector op's activations: each core reads its share). The scratchpad counts
the array's operand bytes (a vector op's activation inputs once per input pass) plus its fills and drains from the
level just outside it; one that holds activations only (``core.sram.holds``, TPU v1's unified buffer) none of the
parameters' bytes, which reach the units past it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from ..cost import attention, folds, gather, gpu_tiles, resident_bytes, vector
from ..errors import MappingError
from ..hardware import SCRATCHPAD, Arch, Level
from ..ir import HOST_COPY, Op, OpKind, Weight
from ..options import Options
from ..tasks import TableSplit, Unit
from ..units import dtype_bytes, element_bytes, tensor_bytes
from . import l2resident
from .plan import BANDS, Plan
from .tiling import Tiling, array_caps, tile_gemm, tile_gemm_shared, tiling_cycles

# the shortest tile group: 1,000 cycles of compute or 1 µs of transfer at main-memory bandwidth (1,000 cycles at
# 1 GHz). Finer groups add events without changing what overlaps (measured on LLaMA decode). Both are independent
# of the clock, so a faster clock never cuts an op into more groups (each exposes a memory latency behind double
# buffering: docs/architecture.md, "Tasks")
GROUP_MIN_CYCLES = 1000
GROUPS_PER_SECOND = 1_000_000  # of transfer: the groups of one 1 µs each (an integer, so the floor is exact)
# an op whose groups max_tiles_per_op made coarser than that cuts each unit's first and last group into pieces
# halving towards the op's ends, by default at most this many halvings (options.ramp_max; :func:`ramp_groups`;
# docs/architecture.md, "Tasks")
RAMP_MAX: int = Options.model_fields["ramp_max"].default
# a ramp's halvings are taken while those not yet taken would shorten the op by at least this share of its time
# (:func:`ramp_groups`): each op within 0.5 % of its time with every halving allowed, by the ramp's estimate
RAMP_PAYS = 0.005


@dataclass(frozen=True, slots=True)
class Context:
    """What traffic and emission need to know of the arch and the placement, computed once per lowering."""

    arch: Arch
    units: tuple[Unit, ...]
    main: str  # the main memory: where activations live
    level_of: dict[str, str]  # persistent tensor → the memory holding it
    tables: dict[str, TableSplit]
    input_elems: dict[str, int]  # graph input → elements
    resident: frozenset[str]  # ops whose output stays on chip
    out_bytes: dict[str, int]  # op → its output's bytes
    grain: dict[str, int]  # shared level → access granule
    bpc: dict[str, float]  # shared level → sustained bytes per cycle
    # what every op reads of the arch, looked up once (Arch's private-attribute properties cost ~1 µs a read)
    caches: tuple[str, ...]  # the shared caches, innermost first
    sized: dict[str, Level]  # shared level with a bandwidth-by-transfer-size curve → its Level
    cache_budget: dict[str, int]  # cache → the bytes each of a GEMM's three tiles may take in it
    budgets: dict[int, tuple[tuple[int, int, int], int | None]]  # SRAM reserved → (tile_budgets, shared_budget)
    main_bandwidth: float  # the main memory's sustained bytes per second
    # every memory (not a cache) → its sustained bytes per second, innermost (the main memory) first: an op whose
    # bytes come from another memory too is ramped by the one its transfers take longest at (:func:`_bottleneck`)
    bandwidth: dict[str, float]

    def sram_budgets(self, reserved: int) -> tuple[tuple[int, int, int], int | None]:
        """The core SRAM's (:meth:`~accelsim.hardware.Sram.tile_budgets`, ``shared_budget``) beside ``reserved``
        bytes, computed once per distinct ``reserved``."""
        got = self.budgets.get(reserved)
        if got is None:
            sram = self.arch.core.sram
            got = self.budgets[reserved] = (sram.tile_budgets(reserved=reserved), sram.shared_budget(reserved=reserved))
        return got


@dataclass(frozen=True, slots=True)
class Traffic:
    """One op's bytes: activation and parameter loads and stores by level (to split over its tile groups), the
    bytes at every level for the report (``sram`` included), the tile groups and the details it adds."""

    act: dict[str, int]
    weights: dict[str, int]
    out: dict[str, int]
    level_bytes: dict[str, int]
    groups: int
    scale: dict[str, float]  # level → this op's sustained bandwidth relative to the level's large-transfer one
    details: dict
    # an op split over several units (not a GPU's output tiles): each unit's compute cycles, its share priced on
    # its own (:func:`unit_cycles`); () for one unit
    unit_cycles: tuple[int, ...] = ()
    ramp: tuple[int, int] = (0, 0)  # the halvings of each unit's first and last group (:func:`ramp_groups`)
    # of ``act``, the loads of the tensors its output path reads (``Plan.epilogue``), by level: the emitter loads them
    # on the output side, after their producers only (:meth:`~.emit.Emitter._groups`)
    epilogue: dict[str, int] = field(default_factory=dict)
    # the op's compute cycles where its tiling is narrower than the array's folds (``mapping.tiling.whole_folds``
    # false): its tiles' folds (:func:`~.tiling.tiling_cycles`), no fewer than the cost model's; None: ``Plan.cycles``
    cycles: int | None = None


def _sources(tensors: tuple[str, ...], dtype: str, ctx: Context, cached: tuple[str, ...] = (),
             share: dict[str, float | Fraction] | None = None, forward: bool = False) -> dict[str, int]:
    """Off-chip bytes of ``tensors`` by the level they live in, each the producer's ``out_bytes`` or, a graph input,
    its elements in ``dtype`` (:func:`~accelsim.units.tensor_bytes`: fp4 packed with its block scales, probe p273 #2)
    (resident tensors are already on chip; ``cached``
    activations are read from the outermost cache, :mod:`.l2resident`); of a tensor in ``share``, that fraction
    (:func:`_shares`). A training step's ``forward`` op reads a stashed activation that ``options.offload:
    activations`` put beyond the main memory from the main memory: offload runtimes copy the stash out while the
    forward keeps using the device's copy (torch.autograd.graph.save_on_cpu's pack hook; Megatron's and
    TransformerEngine's CPU offloading), and only the backward reads it back over the link. The shares of a level's
    tensors are summed exactly and rounded up once per level (probe p206 #4: yolov8n's box slice, 4/9 of each of
    the concatenated head tensors, read 182,045 + 227,556 = 409,601 B of the 921,600 in HBM, not 409,600)."""
    out: dict[str, int | Fraction] = {}
    for t in tensors:
        if t in ctx.resident:
            continue
        lv = ctx.caches[-1] if t in cached and t not in ctx.level_of else ctx.level_of.get(t, ctx.main)
        if forward and lv != ctx.main and t in ctx.level_of:  # (in training, the only activations placed
            lv = ctx.main  # beyond the main memory are an offloaded stash)
        n: int | Fraction = ctx.out_bytes[t] if t in ctx.out_bytes else tensor_bytes(ctx.input_elems[t], dtype)
        if share and t in share:
            n = n * Fraction(share[t])
        out[lv] = out.get(lv, 0) + n
    return {lv: math.ceil(n) for lv, n in out.items()}


def _shares(p: Plan, inputs: range, overlap: bool = False) -> dict[str, Fraction]:
    """The fraction of each physical tensor the logical inputs ``inputs`` of ``p`` read, where less than all
    (:attr:`Plan.shares`: a slice view's): the shares of one tensor add up (disjoint slices: q, k and v of one
    projection), to at most 1, or with ``overlap`` the largest counts (a latent attention's values, a slice of its
    keys' tensor)."""
    if not p.shares:
        return {}
    total: dict[str, Fraction] = {}
    for i in inputs:
        part = p.shares[i]
        for t in p.operands[i]:
            f = part.get(t, Fraction(1))  # (exact: aliases._view_share)
            total[t] = max(total.get(t, Fraction(0)), f) if overlap else total.get(t, Fraction(0)) + f
    return {t: f for t, f in total.items() if f < 1.0}


def same_operands(p: Plan) -> tuple[str, ...]:
    """The tensors an activation × activation matmul reads whole both as its A and as a later operand (DLRM's
    interaction X·Xᵀ, inputs (stack, stack)): a kernel reads such a tensor once for both where one pass's tile of it
    is both the stationary and the streamed operand (:func:`shared_reads`). Slices of one tensor (a fused
    projection's q and k, :attr:`Plan.shares`) are different data: not these."""
    op = p.op
    if op.kind is not OpKind.MATMUL or len(p.operands) < 2:
        return ()
    later = {t for g in p.operands[1:] for t in g}
    if not later.intersection(p.operands[0]):
        return ()

    def whole(i: int, t: str) -> bool:
        return not p.shares or p.shares[i].get(t, 1.0) >= 1.0

    return tuple(t for t in dict.fromkeys(p.operands[0]) if t in later and whole(0, t)
                 and all(whole(i, t) for i in range(1, len(p.operands)) if t in p.operands[i]))


def shared_reads(nbytes: int, fa: int | Fraction, fb: int | Fraction) -> int:
    """The bytes of ``nbytes`` of a tensor that is both operands (:func:`same_operands`) not read again for B: the
    reads of one pass, min(fa, fb, 1) (a tiling that reads A fa times and B fb times reads it fa + fb − 1 times:
    each pass over its tiles loads the diagonal tiles, where A's tile is B's, once; fa = fb = 1, once)."""
    return _times(nbytes, min(fa, fb, 1))


@functools.lru_cache(maxsize=4096)
def _touched_runs(size: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> tuple[int, ...]:
    """The lengths of the runs of consecutive positions, of ``size`` along one axis, that a convolution's windows
    read (``before`` and ``after`` the padding): output o reads o·stride − before + j·dilation for j < kernel
    (SCALE-Sim's ``operand_matrix.calc_ifmap_elem_addr``: ifmap row = ofmap row · stride + the window's offset).
    At stride 1 that is every position (where the output is at least the dilation long); a kernel smaller than its
    stride skips positions: a 1×1 at stride 2 reads every other one, runs of 1."""
    out = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
    if stride == 1 and out >= dilation or out < 1:
        return (size,) if out >= 1 else ()
    read = sorted({i for o in range(out) for j in range(kernel)
                   if 0 <= (i := o * stride - before + j * dilation) < size})
    runs, start = [], 0
    for n, i in enumerate(read):
        if n + 1 == len(read) or read[n + 1] != i + 1:
            runs.append(n + 1 - start)
            start = n + 1
    return tuple(runs)


def conv_input_bytes(op: Op, grain: int) -> int | None:
    """The bytes a convolution (or its weight gradient, which reads the same input) reads of its input, its first,
    where its windows skip some of it (a kernel smaller than its stride: a ResNet's 1×1 stride-2 shortcut reads a
    quarter of its input, r3d_18's 1×1×1 stride-2 one an eighth), else None (all of it). The input is laid out
    channels-last as SCALE-Sim addresses it (a pixel's channels contiguous, the last spatial axis next): each
    axis's touched positions (:func:`_touched_runs`), the runs along the innermost axis not read whole (with the
    axes inside it, whole, as one block) each moving whole ``grain``-byte accesses (:func:`gather.row_bytes`: an
    int8 pixel of 64 channels at 64 B moves 64 B, one of 16 channels 64 B too), never more than the row they lie
    in. The GPU presets' implicit GEMM reads A as m × k, the same pixels (probe p182 #1: edge-npu's r3d_18
    layer2.0.downsample.0 was charged its whole 3,211,264-B input, 401,408 B)."""
    a = op.attrs
    stride = a.get("stride")
    if op.kind is not OpKind.CONV or not stride or a.get("grad") == "input":
        return None
    shape = op.in_shapes[0]
    dims = len(shape) - 2
    kernel, dil = a.get("kernel") or (1,) * dims, a.get("dilation") or (1,) * dims
    pads = a.get("pads") or tuple(v for q in (a.get("padding") or (0,) * dims) for v in (q, q))
    if not (len(stride) == len(kernel) == len(dil) == dims and len(pads) == 2 * dims):  # type: ignore[arg-type]
        return None
    runs = [_touched_runs(int(shape[2 + i]), int(kernel[i]), int(stride[i]), int(dil[i]),  # type: ignore[index]
                          int(pads[2 * i]), int(pads[2 * i + 1])) for i in range(dims)]  # type: ignore[index]
    partial = [i for i in range(dims) if runs[i] != (shape[2 + i],)]
    if not partial:
        return None
    j = partial[-1]  # the innermost axis not read whole: the axes inside it are, one contiguous block
    block = shape[1] * op.elem_bytes * math.prod(shape[3 + j:])
    whole_row = gather.row_bytes(shape[2 + j] * block, grain)
    row = min(sum(gather.row_bytes(r * block, grain) for r in runs[j]), whole_row)
    rows = shape[0] * math.prod(sum(runs[i]) for i in range(j))
    return min(rows * row, math.prod(shape) * op.elem_bytes)


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for lv, b in more.items():
        into[lv] = into.get(lv, 0) + b


def operand_bytes(p: Plan, ctx: Context) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Off-chip bytes of one op by level, before tiling re-reads: (A activations, B activations, parameters,
    output)."""
    op = p.op
    elem = op.elem_bytes
    if op.kind in (OpKind.MATMUL, OpKind.ATTENTION) and len(p.operands) > 1:  # activation × activation
        # an attention's keys and values once each: once in all when the values are a view of the keys' tensor
        # (DeepSeek's latent attention reads one latent cache for both)
        a_tensors, b_tensors = p.operands[0], tuple(dict.fromkeys(t for g in p.operands[1:] for t in g))
        a_share = _shares(p, range(1))
        b_share = _shares(p, range(1, len(p.operands)), overlap=bool(op.attrs.get("shared_kv")))
    else:  # (the tensors its epilogue reads are not its operands: :func:`epilogue_bytes`)
        a_tensors = tuple(dict.fromkeys(t for g in p.operands for t in g)) if p.epilogue else p.inputs
        b_tensors = ()
        a_share, b_share = _shares(p, range(len(p.operands))), {}
        read = conv_input_bytes(op, ctx.grain[ctx.main]) if p.operands else None
        if read is not None:  # a strided conv's windows read only part of its input
            whole = math.prod(op.in_shapes[0]) * elem
            a_share = {**a_share, **{t: Fraction(a_share.get(t, 1)) * Fraction(read, whole) for t in p.operands[0]}}
    cached = p.details.get(l2resident.KEY, ())
    fwd = op.phase == "forward"
    act_a = _sources(a_tensors, op.dtype, ctx, cached, a_share, fwd)
    act_b = _sources(b_tensors, op.dtype, ctx, cached, b_share, fwd)
    shards = int(op.attrs.get("shards", 1)) if op.kind is OpKind.OPTIMIZER else 1
    if shards > 1:  # a distributed optimizer's step reads its share of the (reduce-scattered) gradient
        act_a = {lv: -(-b // shards) for lv, b in act_a.items()}
    if op.kind is OpKind.SPMM:  # gathers rows of its first input (whole granules each); the rest read in order
        row = op.row_elems * elem
        gathered = _sources(p.operands[0], op.dtype, ctx, cached, forward=fwd)
        act_a = _sources(tuple(t for g in p.operands[1:] for t in g if t not in p.operands[0]), op.dtype, ctx, cached,
                         forward=fwd)
        _add(act_a, gather.gathered({lv: op.gather_rows or 0 for lv in gathered}, row, ctx.grain))
    if picked_rows(op):  # a loss picking one entry a row (nll_loss): those entries, whole granules, and the targets
        act_a = {}
        for i, group in enumerate(p.operands):
            src = _sources(group, op.dtype, ctx, cached, _shares(p, range(i, i + 1)), fwd)
            total, rows = sum(src.values()), math.prod(op.in_shapes[i][:-1])
            _add(act_a, gather.gathered({lv: -(-rows * b // total) for lv, b in src.items()}, elem, ctx.grain))
        _add(act_a, {ctx.main: int(op.attrs.get("target_bytes", 0))})  # type: ignore[call-overload]
    wts: dict[str, int] = {}
    sparse = int(op.attrs.get("sparse_rows", 0)) if op.kind is OpKind.OPTIMIZER else 0  # type: ignore[call-overload]
    # a mixed-precision step (a state wider than its parameter: the fp32 master copy) reads the master, not the
    # 16-bit parameter, and overwrites that copy (as apex's / Megatron's multi_tensor_adam with master weights, and
    # emit.host_step_bytes): Adam on bf16 reads g 4 + master, m, v 12 and writes 14, 30 B a parameter
    skip = p.weights[0].name if op.kind is OpKind.OPTIMIZER and p.weights and _has_master(op) else None
    for i, w in enumerate(p.weights):
        if w.name == skip:
            continue
        if sparse:  # a lazy step: the touched rows of its parameter and of each state
            _add(wts, _touched(w, p.weights[0], sparse, shards, op, ctx))
            continue
        lv = ctx.caches[-1] if w.name in cached else ctx.level_of[w.name]  # options.warm_params
        if op.kind is OpKind.EMBEDDING and i == 0:  # a gather: only the looked-up rows, whole granules each
            n = w.shape[0] if op.gather_rows is None else op.gather_rows
            split = ctx.tables.get(w.name)
            rows = split.gathered(n) if split is not None else {lv: n}
            row = w.numel // w.shape[0] * elem
            # the filter buffer of each of its cores' scratchpads that would hold the rows
            pad = (ctx.sram_budgets(p.live_bytes)[0][1], len({ctx.units[u].core for u in p.units}) or 1)
            _add(wts, gather.gathered(_cache_hits(rows, op, w, row, ctx, pad), row, ctx.grain))
            continue
        wts[lv] = wts.get(lv, 0) + _step_share(w, op, shards)
    # where the output goes: its tensor's level; an optimizer step writes the parameter and its state back
    out_levels = {ctx.level_of.get(op.name, ctx.main): 0 if p.resident_out else op.out_bytes}
    halo_out, halo_in = p.details.get("halo_out", 0), p.details.get("halo_in", 0)
    if halo_out:  # banded output (choice.residency): the rows its readers' windows take across its bands' edges
        out_levels[ctx.main] = out_levels.get(ctx.main, 0) + halo_out
    if halo_in:  # and those rows, read back by the reader
        act_a[ctx.main] = act_a.get(ctx.main, 0) + halo_in
    if op.kind is OpKind.OPTIMIZER:
        out_levels = {}
        for w in p.weights:
            _add(out_levels, _touched(w, p.weights[0], sparse, shards, op, ctx) if sparse
                 else {ctx.level_of[w.name]: _step_share(w, op, shards)})
    return act_a, act_b, wts, out_levels


def _has_master(op: Op) -> bool:
    """Whether optimizer step ``op`` updates its parameter through a wider state (the fp32 master copy of a 16-bit
    parameter, ``builders.training.MASTER``): a state wider than the parameter, as ``emit.host_step_bytes`` tells."""
    param = next((w for w in op.weights if w.role != "state"), None)
    if param is None:
        return False
    pbytes = dtype_bytes(param.dtype or op.dtype)
    return any(dtype_bytes(w.dtype or op.dtype) > pbytes for w in op.weights if w.role == "state")


def picked_rows(op: Op) -> int:
    """Rows of a loss that reads one entry a row of its inputs, its target's (``builders/training.py``'s nll_loss,
    attrs ``gather_rows``: PyTorch's nll_loss forward gathers ``input[i][target[i]]`` and reads the int64 targets,
    attrs ``target_bytes``), else 0."""
    return int(op.gather_rows or 0) if op.kind is OpKind.SOFTMAX else 0


def _lane_bytes(p: Plan, passes: int, elem: int, wts: dict[str, int]) -> int:
    """The scratchpad bytes ``p``'s lanes read and write: the activation inputs once per pass, as the fills bring
    them (probe p166 #2: a 2-pass rmsnorm's statistics pass and output pass each read the row; one read was
    counted), or a picking loss's picked entries and targets (:func:`picked_rows`), and the output."""
    op = p.op
    picked = picked_rows(op)
    if picked:
        return picked * elem + int(op.attrs.get("target_bytes", 0)) + op.out_bytes  # type: ignore[call-overload]
    return op.in_bytes * passes + op.out_bytes + _lane_weight_bytes(p, wts)


def epilogue_bytes(p: Plan, ctx: Context) -> dict[str, int]:
    """Off-chip bytes by level of the tensors ``p``'s output path reads as it writes its output (``Plan.epilogue``:
    a fused residual add's other operand, :mod:`.fusion`): each once, as its output is written once; a graph input
    at the output's width (the add's dtype, :func:`.fusion._residual`)."""
    if not p.epilogue:
        return {}
    return _sources(p.epilogue, p.op.out_dtype, ctx, p.details.get(l2resident.KEY, ()),
                    forward=p.op.phase == "forward")


def _cache_hits(rows: dict[str, int], op: Op, w: Weight, row: int, ctx: Context,
                pad: tuple[int, int]) -> dict[str, int]:
    """Where the look-ups of a gather from table ``w`` (``rows[level]`` of them at each memory) are served.

    ``access: uniform``: a look-up that repeats a row the same call read finds it on chip, as the gather's round
    trip counts it (:func:`accelsim.cost.gather.repeated_hits`): T look-ups into R rows read
    D = R(1 − (1 − 1/R)^T) distinct rows (:func:`accelsim.cost.gather.distinct_rows`), and when the D rows' own
    bytes fit the innermost cache's resident share (:func:`accelsim.cost.resident_bytes`) the other T − D hit it.
    On an arch without a cache, ``pad`` = (the bytes of a core's scratchpad filter buffer, the op's cores): each
    core gathers its T / cores look-ups, and its D distinct rows are DMA'd once when they fit that buffer. Rows
    that do not fit keep every look-up at its memory, as before. The main memory moves the D distinct rows, in
    whole accesses; the cache serves the repeats (counted there; a scratchpad's are its lanes' reads,
    :func:`_lane_weight_bytes`):
    T5's 32-row relative-position-bias table looked up 262,144 times reads 32 rows from HBM, not 262,144 (probe
    p209 #1, p206 #3). Each memory's look-ups repeat in proportion. A large table (DLRM's: D ≈ T) keeps its
    look-ups.

    ``access: zipf`` on an arch with a shared cache (a GPU's L2): the share of the call's look-ups an LRU cache of
    the rows the outermost cache keeps for one tensor (:func:`accelsim.cost.resident_bytes` over a row's
    granules), cold when the call starts, serves (:func:`accelsim.cost.gather.zipf_cache_hits`, Che's
    approximation) is read from that cache, taken from the hottest rows' levels first; the rest as given. Zipf
    look-ups on an arch without a cache: each core's distinct rows DMA'd once, as uniform ones'
    (:func:`_zipf_pad_hits`). A table read from a cache already (``options.warm_params``) keeps ``rows``."""
    access, alpha = op.access
    if any(lv in ctx.caches for lv in rows):
        return rows
    n = sum(rows.values())
    if access == "uniform":
        # the innermost cache's resident share, the whole call's look-ups; else each core's scratchpad, its share
        budget, cores = (resident_bytes(ctx.arch, ctx.caches[0]), 1) if ctx.caches else pad
        distinct = gather.distinct_rows(n / cores, w.shape[0])
        if n <= 1 or distinct * row > budget:  # the distinct rows do not fit: every look-up from its memory
            return rows
        share = max(0.0, 1.0 - cores * distinct / n)
        served = {lv: round(k * share) for lv, k in rows.items()}
        out = {lv: k - served[lv] for lv, k in rows.items() if k - served[lv]}
        if ctx.caches and sum(served.values()):
            out[ctx.caches[0]] = sum(served.values())
        return out
    if access != "zipf":
        return rows
    if not ctx.caches:
        return _zipf_pad_hits(rows, w, alpha, row, ctx, pad)
    cache = ctx.caches[-1]
    capacity = resident_bytes(ctx.arch, cache) // gather.row_bytes(row, ctx.grain[cache])
    hits = round(n * gather.zipf_cache_hits(w.shape[0], alpha, n, capacity))
    out = {cache: hits} if hits else {}
    for lv, k in rows.items():  # the hottest rows' levels first (TableSplit.gathered's order, innermost first)
        took = min(k, hits)
        hits -= took
        if k - took:
            out[lv] = out.get(lv, 0) + k - took
    return out


def _zipf_pad_hits(rows: dict[str, int], w: Weight, alpha: float, row: int, ctx: Context,
                   pad: tuple[int, int]) -> dict[str, int]:
    """Zipf(``alpha``) look-ups of table ``w`` on an arch without a cache, ``rows[level]`` of them at each memory,
    ``pad`` = (a core's scratchpad filter buffer bytes, the op's cores): as uniform look-ups (:func:`_cache_hits`)
    each core gathers its T / cores look-ups and, when its D = Σ_i 1 − (1 − p_i)^(T / cores) distinct rows
    (:func:`accelsim.cost.gather.zipf_distinct_rows`) fit that buffer, DMAs each once; a memory holding ranks
    a .. b of a split table (``ctx.tables``, hottest rows innermost) moves cores × D over those ranks, the rest of
    its look-ups repeat a row. Skewed draws touch fewer rows than uniform ones, so they never read more (probe p214
    #1: tpu-v4 embedding_bag of 1,000 rows, 2 cores of 20,480 look-ups each, D = 974: HBM 11,354,120 ->
    1,367,048 B = 868,360 B of ids, offsets and output + 1,948 rows × 256 B; uniform's
    1,380,360). Rows that do not fit keep every look-up at its memory."""
    budget, cores = pad
    n, nrows = sum(rows.values()), w.shape[0]
    if n <= 1 or gather.zipf_distinct_rows(nrows, alpha, n / cores) * row > budget:
        return rows
    split = ctx.tables.get(w.name)
    ranks: dict[str, tuple[int, int | None]] = {}
    if split is None:
        ranks = {lv: (0, None) for lv in rows}
    else:  # the split's hottest rows at each level but the last, innermost first; the last the rest
        first = 0
        for lv, r in split.rows_at.items():
            ranks[lv], first = (first, first + r), first + r
        ranks[split.last] = (first, None)
    out: dict[str, int] = {}
    for lv, k in rows.items():
        a, b = ranks.get(lv, (0, None))
        moved = min(k, round(cores * gather.zipf_distinct_rows(nrows, alpha, n / cores, a, b)))
        if moved:
            out[lv] = moved
    return out


def _touched(w: Weight, param: Weight, rows: int, shards: int, op: Op, ctx: Context) -> dict[str, int]:
    """Bytes by level of the ``rows`` rows of ``w`` (a lazy step's parameter ``param``, or a state of it) that a
    sparse step reads, or writes back: a distributed optimizer's step ⌈rows / shards⌉ of them; whole granules each,
    at the levels ``w``'s split puts its look-ups (a table's hot rows), else where ``w`` lives."""
    n = -(-rows // shards)
    row = param.numel // param.shape[0] * w.nbytes(op.dtype) // w.numel  # a row's elements in w's dtype
    split = ctx.tables.get(w.name)
    return gather.gathered(split.gathered(n) if split is not None else {ctx.level_of[w.name]: n}, row, ctx.grain)


def _step_share(w: Weight, op: Op, shards: int) -> int:
    """Bytes of ``w`` an op reads or writes: all of it, but a distributed optimizer's step (``shards`` > 1) only
    its share of the parameter (its state tensors are already the shard)."""
    n = w.nbytes(op.dtype)
    return -(-n // shards) if shards > 1 and w.role == "param" else n


def _lane_weight_bytes(p: Plan, wts: dict[str, int]) -> int:
    """Bytes of an op's parameters its unit reads from the scratchpad: ``wts``, its off-chip bytes by level, except
    a gather's table (an embedding's first weight), of which the lanes read the looked-up rows' own bytes, ``rows`` ×
    the row's bytes, not the whole access granules its fills brought in (those count as the fills; probe p156 #3:
    edge-npu's embedding_bag of 20-B rows in 64-B bursts counted its 3,276,800 B of bursts again as reads, not
    its 819,200 B of rows)."""
    op = p.op
    if op.kind is not OpKind.EMBEDDING or not p.weights:
        return sum(wts.values())
    table = p.weights[0]
    rows = table.shape[0] if op.gather_rows is None else op.gather_rows
    return rows * (table.numel // table.shape[0] * op.elem_bytes) + sum(w.nbytes(op.dtype) for w in p.weights[1:])


def _bottleneck(ctx: Context, moved: int, parts: tuple[dict[str, int], ...]) -> tuple[int, float]:
    """(bytes, bandwidth in bytes/s) of the stream that sets an op's finest groups (:func:`ramp_groups`'s
    ``fine``, :func:`_fit`): all its ``moved`` bytes at the main memory's bandwidth, or, where its bytes at another
    memory (``parts``: the operands' bytes by the level they come from, summed here; caches not counted) take longer
    at that memory's bandwidth, those (the main memory on a tie, so an op moving only main-memory bytes is cut as
    before). Its groups stay those of the main memory (:func:`tile_groups`): sized by a slow memory's share, DLRM's
    gathers from host memory (128 cycles of compute, 11-33 µs over PCIe) ran 12 and 16 groups, not 2, each unit's
    buffers held by the waiting look-ups while the HBM gathers beside them queued (dlrm_tpu_v4 139,804 -> 152,726
    cycles); ramped, they end sooner (138,318)."""
    by_level: dict[str, int] = {}
    for part in parts:
        _add(by_level, part)
    best, longest = (moved, ctx.main_bandwidth), moved / ctx.main_bandwidth
    for lv, b in by_level.items():
        bw = ctx.bandwidth.get(lv) if lv != ctx.main else None
        if bw is not None and b and b / bw > longest:
            best, longest = (b, bw), b / bw
    return best


def _memory_cycles(ctx: Context, level_bytes: dict[str, int]) -> float:
    """The cycles of the memory whose bytes of ``level_bytes`` take longest at its sustained bandwidth (the
    caches and the scratchpad not counted): the main memory's where the op moves bytes from no other."""
    return max((level_bytes.get(lv, 0) / ctx.bpc[lv] for lv in ctx.bandwidth), default=0.0)


def _weight_levels(wts: dict[str, int], cache_bytes: dict[str, int], fb: int | Fraction, ctx: Context,
                   details: dict, dma: bool) -> dict[str, int]:
    """The bytes each level moves for an op's parameters ``wts`` (by the level holding them) read ``fb`` times:
    none where a cache serves them (``cache_bytes``, counted there); a DMA's once, straight to its destination;
    one beyond the main memory read more than once staged there (``details["staged_weight_bytes"]``); else
    ``fb`` times where they are."""
    w_levels: dict[str, int] = {}
    for lv, b in wts.items():
        if lv in cache_bytes:
            continue
        if dma:  # read once, straight to its destination
            w_levels[lv] = w_levels.get(lv, 0) + b
        elif fb > 1 and lv != ctx.main and lv not in ctx.caches:
            w_levels[lv] = w_levels.get(lv, 0) + b
            w_levels[ctx.main] = w_levels.get(ctx.main, 0) + b + _times(b, fb)
            details["staged_weight_bytes"] = details.get("staged_weight_bytes", 0) + b
        else:
            w_levels[lv] = w_levels.get(lv, 0) + _times(b, fb)
    return w_levels


def _k_split_partials(p: Plan, ctx: Context, nunits: int, ncores: int, details: dict,
                      out_levels: dict[str, int]) -> tuple[tuple[int, int], dict[str, int]]:
    """A GEMM cut along K (``details["split"]`` "k"): its units' partial sums (:func:`k_partials`: the scratchpad's
    bytes, the main memory's), recorded in ``details`` with their adds (``reduce_flops``: every unit's after the
    first's, (units - 1)·M·N·count, charged as vector work), and ``out_levels`` with the main memory's; (0, 0) and
    ``out_levels`` as given for any other op."""
    if details.get("split") != "k":
        return (0, 0), out_levels
    partials = k_partials(p, ctx.arch, nunits, ncores)
    details["partial_sum_bytes"] = partials[0]
    g = p.op.gemm
    details["reduce_flops"] = (nunits - 1) * g.m * g.n * g.count  # type: ignore[union-attr]
    if partials[1]:
        out_levels = {**out_levels, ctx.main: out_levels.get(ctx.main, 0) + partials[1]}
    return partials, out_levels



def _accumulator_bytes(p: Plan, arch: Arch, dma: bool) -> dict[str, int]:
    """{the core's accumulator SRAM: bytes} of a matmul whose array keeps its partial sums there
    (``core.systolic.accumulator_sram``; cost.systolic.partial_sum_bytes; probe p279 #1), else {}."""
    held = p.details.get("accumulator_bytes", 0) if p.op.kind.is_matmul and not dma else 0
    return {arch.partial_sum_sram(): held} if held else {}  # type: ignore[dict-item]

def traffic(p: Plan, ctx: Context, options: Options) -> Traffic:
    """The bytes and tile groups of one working op (see the module docstring)."""
    arch, op = ctx.arch, p.op
    elem = op.elem_bytes
    act_a, act_b, wts, out_levels = operand_bytes(p, ctx)
    # a copy in from host memory (ir.HOST_COPY) is a DMA: its bytes cross the host link and are written where its
    # output goes, never staged through the scratchpad or a cache (probe p96 #4: 4x its bytes at the scratchpad)
    dma = op.fn == HOST_COPY
    same = _sources(same_operands(p), op.dtype, ctx, p.details.get(l2resident.KEY, ()), forward=op.phase == "forward")
    same_tot = sum(same.values())
    epi = epilogue_bytes(p, ctx)
    epi_tot = sum(epi.values())
    cached_in = p.details.get(l2resident.KEY)
    details: dict = {"epilogue_reads": list(p.epilogue)} if p.epilogue else {}
    passes = vector.input_passes(op, arch.core.vector, vector.row_budget(arch)) if not op.kind.is_matmul else 1
    # a modelled GPU row-wise kernel re-reads the rows its blocks just read from the innermost cache that holds one
    # wave's rows (vector.reread_level, as vector.achieved_fraction paces them): that cache and those inside it
    # (ctx.caches, innermost first) move the re-reads, the levels past it (main memory) one pass (probe p267 #2)
    level = vector.reread_level(op, arch) if passes > 1 and not op.kind.is_matmul else None
    reread_in = ctx.caches.index(level) + 1 if level is not None else 0  # the caches the re-reads cross
    if passes > 1 and level is None:  # the kernel re-reads its (off-chip) activation inputs: every pass moves them again
        act_a = {lv: b * passes for lv, b in act_a.items()}
        act_b = {lv: b * passes for lv, b in act_b.items()}
    out_off = sum(out_levels.values())
    a_tot, b_tot = sum(act_a.values()), sum(act_b.values()) + sum(wts.values())
    nunits = len(p.units)
    # split over cores along the dimension that replicates the smaller operand: along N (columns) every core
    # streams all of A, along M all of B (unit_cycles names it)
    per_unit: tuple[int, ...] = ()
    ncores = len({ctx.units[u].core for u in p.units}) if nunits > 1 else 1
    if nunits > 1 and "output_tiles" not in p.details:
        # (B's parameters held in SRAM count too: each core holds its own columns', choice._pin_recurrent_weights)
        banded = BANDS in p.details
        along_n = a_tot <= b_tot + held_weight_bytes(p) and not banded
        copies = (ncores - 1) * abs(b_tot + held_weight_bytes(p) - a_tot)  # (a cut copying the larger: _unit_pricing)
        per_unit = unit_cycles(p, arch, nunits, along_n=along_n, details=details, banded=banded, ncores=ncores,
                               copies=copies)
    partials, out_levels = _k_split_partials(p, ctx, nunits, ncores, details, out_levels)
    # tiles use the core's SRAM beside the resident activations; the arrays of a core share its tiles, and each
    # core of a split tiles its own sub-GEMM (core_reads: fa and fb count the reads of all the cores together).
    # Each core fills its own SRAM, so the level inside the cores serves them: the innermost cache (a GPU's CTAs
    # count their own panels, gpu_tiles / attention), else the memories
    # A GPU's vector unit is one unit standing for its SMs (Unit.count): a modelled row-wise kernel runs a block a
    # row, each reading all of a broadcast parameter (a norm's scale and shift), so every SM running rows reads
    # its own copy from the cache (core_reads: min(SMs, rows) copies; probe p186 #3)
    readers = _param_readers(p, ctx, ncores)
    pace = (arch.core.systolic.preload_overlap, ctx.bpc[ctx.main], 0) if p.unit_kind == "systolic" else None
    fa, fb, ntiles, tiling = core_reads(p, a_tot, b_tot, out_off, *ctx.sram_budgets(p.live_bytes),
                                        arch.core.partial_sum_bytes(op.out_dtype), nunits, readers,
                                        details.get("split") or ("m" if BANDS in p.details else None), pace)
    narrow_cycles = None
    if tiling is not None:
        details["tiling"] = tiling
        p, per_unit, narrow_cycles = _narrow_priced(p, tiling, per_unit)
    per = _per_gemm(op, a_tot, b_tot, out_off) if op.kind.is_matmul else None
    # a scratchpad that holds activations only (core.sram.holds: activations, TPU v1's unified buffer) sees no
    # parameter bytes: they go from their memory to the units past it (its weight FIFO), neither filled into it
    # nor read from it (the array's B reads: cost.systolic._b_in_sram; probe p253 #3)
    acts_only = arch.core.sram.holds == "activations"
    sram = _lane_bytes(p, passes, elem, {} if acts_only else wts)
    if op.kind.is_matmul:
        sram = p.details.get("sram_operand_bytes", sram)
    sram += partials[0]
    # the output path reads its epilogue tensors from the scratchpad once (a resident one too)
    sram += sum(ctx.out_bytes[t] if t in ctx.out_bytes else tensor_bytes(ctx.input_elems[t], op.out_dtype)
                for t in p.epilogue)
    moved = a_tot + b_tot + out_off + epi_tot
    groups = tile_groups(p, ntiles, nunits, moved, ctx.main_bandwidth, options)
    cache_bytes: dict[str, int] = {}
    for i, cache in enumerate(() if dma else ctx.caches):
        if i == 0 and "kv_blocks" in p.details:
            cache_bytes[cache] = attention.cache_bytes(op, p.details) + out_off
        elif i == 0 and "output_tiles" in p.details:
            # B held in the SMs (a pinned recurrent weight, choice._pin_recurrent_weights): no B panels
            tiles = {**p.details, "b_held": True} if held_b(p) else p.details
            # A's panels at the MMAs' dtype: 16 bits over a KV cache dequantised on read (cost.attention.gemm_dtype)
            # (else at the op's packed width with block scales, as the tiles were priced: fp4 0.5625 B, probe p274 #2)
            # (and at the run-as width where the MMAs run the op as a wider dtype: cost.systolic.run_as_operands)
            a_elem = dtype_bytes(p.details["rate"]["dtype"]) if "kv_dequant" in p.details else element_bytes(op.dtype)
            a_elem = p.details.get("a_bytes_per_element", a_elem)
            cache_bytes[cache] = gpu_tiles.cache_bytes(tiles, out_off, a_elem)
            # the times the cores' panels read each operand from the cache (B's other bytes, where B is held, once)
            pa, pb = gpu_tiles.operand_cache_bytes(tiles, a_elem)
            fa = _whole(Fraction(pa, a_tot)) if a_tot else 1
            fb = _whole(Fraction(pb, b_tot)) if b_tot and pb else 1
        else:
            cache_bytes[cache] = (_times(a_tot, fa) + _times(b_tot, fb) + out_off
                                  + (a_tot * (passes - 1) if i < reread_in else 0))
        cache_bytes[cache] += epi_tot - shared_reads(same_tot, fa, fb)  # the epilogue's reads pass every cache once
        if per is not None and op.kind is not OpKind.ATTENTION:
            fa, fb = _behind(op, per, ctx.cache_budget[cache], fa, fb, _accumulating(p.details, arch.cores))
        else:
            fa = fb = 1
    if passes > 1:
        details["input_passes"] = passes
    # activation loads wait for their producers; parameter loads only for a free buffer (so they prefetch)
    act_levels = {lv: _times(act_a.get(lv, 0), fa) + _times(act_b.get(lv, 0), fb) + epi.get(lv, 0)
                  - shared_reads(same.get(lv, 0), fa, fb) for lv in dict.fromkeys([*act_a, *act_b, *epi])}
    act_levels.update({lv: b for lv, b in cache_bytes.items() if b})
    # a parameter read from a cache (options.warm_params) moves only the cache's bytes, counted above. One held
    # beyond main memory (host memory behind a link) that the tiling reads more than once is staged in main memory
    # as offload runtimes do (accelerate's and DeepSpeed ZeRO-Inference's weight prefetch, FlexGen): it crosses
    # the link once, is written to main memory and read from there fb times, not fetched over the link fb times
    # (the reads: fb, every core's of a split op together)
    w_levels = _weight_levels(wts, cache_bytes, fb, ctx, details, dma)
    level_bytes: dict[str, int] = {}
    for lv, b in [*act_levels.items(), *w_levels.items(), *out_levels.items()]:
        if b:
            level_bytes[lv] = level_bytes.get(lv, 0) + b
    # array reads/writes plus the fills and drains: from the innermost cache where there is one (the memories
    # beyond it fill the cache, not the SRAM), else from the memories
    fills = level_bytes.get(ctx.caches[0], 0) if ctx.caches else sum(level_bytes.values())
    if acts_only and not ctx.caches:  # the parameters' bytes bypass it (above)
        fills -= sum(w_levels.values())
    if not dma:
        level_bytes[SCRATCHPAD] = sram + fills
    elif p.resident_out:  # a DMA lands its output in the scratchpad only where it stays on chip
        level_bytes[SCRATCHPAD] = op.out_bytes
    level_bytes.update(_accumulator_bytes(p, arch, dma))
    # (a GPU's groups are its cores' K-slices, emit.group_plan: no ramp; the ramp prices the transfers, re-reads
    # included, of the memory they take longest at: the main memory's, or another's where the op's bytes come from
    # there, as weights in HBM behind a faster first tier or in host memory; probe p103 #2: priced at the main
    # memory alone, such an op took no ramp and ran 24 % longer than with the same bytes in the main memory)
    ramp = (0, 0) if gpu_groups(p, arch) else ramp_groups(
        p, groups, nunits, *_bottleneck(ctx, moved, (act_a, act_b, wts, out_levels, epi)), options.ramp_max, max(per_unit, default=p.cycles),
        _memory_cycles(ctx, level_bytes), _memory_cycles(ctx, out_levels))
    if any(ramp):
        details["ramp"] = list(ramp)
    scale = {}
    for lv, b in level_bytes.items():
        mem = ctx.sized.get(lv)
        if mem is not None:
            scale[lv] = mem.efficiency_at(b) / mem.efficiency
    main_bytes = level_bytes.get(ctx.main, 0)
    outer = ctx.caches[-1] if cached_in else None  # cached_in: the arch has a cache (l2resident)
    served = act_a.get(outer, 0) + act_b.get(outer, 0) if outer else 0
    achieved = None if op.kind.is_matmul else (
        l2resident.paced_fraction(op, arch, main_bytes, served, level_bytes[outer], passes) if served
        else vector.achieved_fraction(op, arch, main_bytes, passes))
    if achieved is not None:  # a modelled GPU kernel: its latency-bound bandwidth instead of the size curve
        scale[ctx.main] = achieved
    # a split-K GEMM's partials the later waves evicted from the cache (gpu_tiles: the reduction reads them from main
    # memory, its reduce_cycles timing that read): written back to main memory and read from there, bytes the report
    # and the energy count; their time is the reduction kernel's, so no load or store task moves them (probe p190 #1)
    spilled = _spilled_partials(p, ctx, dma)
    if spilled:
        level_bytes[ctx.main] = level_bytes.get(ctx.main, 0) + spilled
    epi_levels = {lv: b for lv, b in [*epi.items(), *((c, epi_tot) for c in ctx.caches)] if b}
    if epi_levels:  # (the epilogue's loads apart from the operands')
        act_levels = {lv: b - epi_levels.get(lv, 0) for lv, b in act_levels.items()}
    return Traffic(act_levels, w_levels, out_levels, level_bytes, groups, scale, details, per_unit, ramp, epi_levels,
                   narrow_cycles)


def _param_readers(p: Plan, ctx: Context, ncores: int) -> int:
    """How many readers fetch each of an op's broadcast parameters (a norm's scale and shift) from the cache: the
    cores of a split op, or, for a modelled GPU row-wise kernel on one unit standing for its SMs (``Unit.count``),
    every SM running rows, each block reading all of them (core_reads: min(SMs, rows) copies; probe p186 #3)."""
    op = p.op
    if len(p.units) == 1 and not op.kind.is_matmul and op.weights and ctx.caches:
        k = vector.kernel(op, ctx.arch)
        if k is not None and k.row_wise:
            return ctx.units[p.units[0]].count
    return ncores


def _narrow_priced(p: Plan, tiling: dict, per_unit: tuple[int, ...]) -> tuple[Plan, tuple[int, ...], int | None]:
    """``p`` and its units' cycles priced at a narrow tiling's own folds (``tiling``'s ``fold_cycles`` against the
    ``whole_fold_cycles`` the plan's cycles were priced at; the first core's ratio scales every unit), with those
    cycles; unchanged, and None, for a whole-fold tiling (probe p188 #2)."""
    if "fold_cycles" not in tiling:
        return p, per_unit, None
    folds_now, whole = tiling["fold_cycles"], tiling["whole_fold_cycles"]
    cycles = max(p.cycles, -(-p.cycles * folds_now // whole))
    return p._replace(cycles=cycles), tuple(max(c, -(-c * folds_now // whole)) for c in per_unit), cycles


def _spilled_partials(p: Plan, ctx: Context, dma: bool) -> int:
    """The bytes of a split-K GEMM's partials its later waves evicted from the cache (``gpu_tiles``'s
    ``spilled_partial_bytes``: written back to main memory and read from there), 0 for a DMA or without a cache."""
    return 0 if dma or not ctx.caches else p.details.get("spilled_partial_bytes", 0)


def _behind(op: Op, per: tuple[int, int, int], budget: int, fa: int | Fraction, fb: int | Fraction,
            live: int | None = None) -> tuple[int | Fraction, int | Fraction]:
    """The times the level behind a cache reads each operand of a GEMM whose tiles read A ``fa`` times and B ``fb``
    times from the cache: each operand's reads of a tiling against the cache's ``budget`` (bytes per tile), but never
    more than it is asked of the cache. A cache only filters the requests it receives: a reuse the tiling inside it
    already has (an operand read once) passes through, and a cache too small for any tiling, or for one that reads
    an operand fewer times, misses it as often as it is asked (a 1 KiB L2 behind the cores' 1024³ tiling: the
    same HBM bytes as no L2, not 40 times them).

    ``live`` (a GPU GEMM's output tiles, :func:`_accumulating`): the output elements its cores accumulate at once.
    Such a GEMM sums each output tile in its SMs' registers (fp32) and writes it once, in its epilogue, whatever the
    output's dtype; the output passes through the cache once and is never read back, so it takes none of the cache
    from A and B. What bounds the block of output whose A rows and B columns one sweep of the cache serves is the
    accumulators held at once: the tiling's output tile is at most ``live`` elements (C as one unit an element
    against a budget of ``live``), not the output's bytes at its dtype against the cache (probe p190 #2: an fp8
    GEMM writing bf16 re-read A and B as if its C tile were twice an fp8 one's). Other GEMMs (a core's SRAM
    tiling behind the cache) tile their output's bytes as before."""
    g = op.gemm
    assert g is not None
    c, budget_c = (per[2], budget) if live is None else (g.m * g.n, live)
    try:
        t = tile_gemm(g.m, g.n, g.k, per[0], per[1], c, budget, budget, budget_c, op.name)
    except MappingError:  # not one element of each tile fits: every request misses
        return fa, fb
    return min(t.a_reads, fa), min(t.b_reads, fb)


def _accumulating(details: dict, cores: int) -> int | None:
    """The output elements a GPU GEMM's cores hold at once (None for a GEMM not cut into GPU output tiles): one
    wave, a ``tile`` (the core's rows by its columns, :func:`accelsim.cost.gpu_tiles.price`) of accumulators on
    each core, as the emitter deals tiles one a core a wave (gpu_tiles' wave quantisation)."""
    if "output_tiles" not in details:
        return None
    tm, tn = details["tile"]
    return cores * tm * tn


def _per_gemm(op: Op, a_tot: int, b_tot: int, out_off: int) -> tuple[int, int, int]:
    """The A, B and output bytes of one of a matmul's ``gemm.count`` GEMMs."""
    n = op.gemm.count  # type: ignore[union-attr]
    return -(-a_tot // n), -(-b_tot // n), -(-out_off // n)


def sram_reads(p: Plan, a_tot: int, b_tot: int, out_off: int, budgets: tuple[int, int, int],
               shared: int | None, psum_bytes: int = 0, part: tuple[int, int] = (0, 0),
               pace: tuple[bool, float, int] | None = None) -> tuple[int, int, int, dict | None]:
    """An op's tiling against its core's SRAM (``budgets``: the ifmap, filter and ofmap tiles'; ``shared``: a
    unified buffer's one budget, :meth:`Context.sram_budgets`) for operands of ``a_tot``, ``b_tot`` and ``out_off``
    bytes: (the times A is read, the times B is read, the tiles, report.json's ``mapping.tiling`` or None). A
    matmul's output tile holds its partial sums until its last k step, ``psum_bytes`` an element
    (:meth:`~accelsim.hardware.Core.partial_sum_bytes`; 0 or no more than the output dtype's: the output's own;
    on an os array, whose PEs hold them while a tile's k runs unbroken, only where k is split,
    :meth:`~accelsim.hardware.Core.ofmap_element_bytes`), so
    its footprint in the buffer is its elements at that width (an output that stays on chip, out_off 0, at the
    width beyond the output's own, which the resident bytes already hold); the bytes written stay out_off.
    ``part`` (dim, rows), rows > 0: one core's sub-GEMM of a split op, ``rows`` of M (dim 0), of N (dim 1) or of K
    (dim 2: its output tile the whole M × N of its partial sums), its operands' bytes given (:func:`core_reads`).
    ``pace`` (the array's ``preload_overlap``, the main memory's bytes per cycle): the tiler weighs a narrower
    tiling's time against the whole-fold one's (:func:`~.tiling.tile_gemm`). A systolic tiling narrower than the
    array's folds carries its compute cycles, ``fold_cycles`` (:func:`~.tiling.tiling_cycles` of the ``count``
    GEMMs of this sub-GEMM), and the whole-fold cycles they replace, ``whole_fold_cycles``."""
    op = p.op
    bud_a, bud_b, bud_c = budgets
    if not op.kind.is_matmul:
        return 1, 1, max(-(-a_tot // max(bud_a, 1)), -(-out_off // max(bud_c, 1)), 1), None
    g = op.gemm
    dim, rows = part
    m, n, k, size = g.m, g.n, g.k, 1
    if rows and dim == 2:  # a slice of K: every output element's partial sums (the output's bytes whole)
        k, rows = rows, 0
    elif rows:
        size = (m, n)[dim]
        m, n = (rows, n) if dim == 0 else (m, rows)
    per = _per_gemm(op, a_tot, b_tot, out_off)
    if op.kind is OpKind.ATTENTION and "kv_blocks" in p.details:  # FlashAttention CTAs: K/V once per KV head
        return 1, 1, g.count, {"kv_passes": 1}
    if op.kind is OpKind.ATTENTION:
        fb = attention.kv_passes(per[0], per[1], bud_a, bud_b)
        walk = p.details.get("causal_walk")
        if walk is None or fb == 1 or op.fn != "attention":
            return 1, fb, g.count * fb, {"kv_passes": fb}
        reads = causal_kv_reads(op, fb, walk["block"][1])  # a causal pass reads only the kept K/V blocks
        return 1, _whole(reads), g.count * fb, {"kv_passes": fb, "kv_reads": round(float(reads), 6)}
    out_elem, c_fit = dtype_bytes(op.out_dtype), per[2]
    c_whole = c_fit  # an os array's tile of unsplit k: its partial sums stay in the PEs, the output alone waits
    if psum_bytes > out_elem:  # partial sums wider than the output: a resident output (out_off 0) already holds
        # its own bytes on chip (live_bytes), so its tile takes only the widening (a core's: its rows' share)
        elems = -(-op.out_bytes * (rows or 1) // (out_elem * g.count * size))
        c_fit = elems * (psum_bytes if out_off else psum_bytes - out_elem)
    # a unified buffer (shared not None): one budget for all three; on a systolic array each tile whole folds
    caps = array_caps(p.details, m, n, k) if p.unit_kind == "systolic" else None
    # os with k unsplit: the output alone; split, its partial sums wait in the buffer between k steps
    c_split = c_fit if p.details.get("dataflow") == "os" and c_whole != c_fit else None
    c_whole = c_fit if c_split is None else c_whole
    if pace is not None:  # (the estimate's C: the bytes written, not its tiles' footprint)
        pace = (*pace[:2], per[2])
    t = (tile_gemm(m, n, k, per[0], per[1], c_whole, bud_a, bud_b, bud_c, op.name, caps, c_split, pace)
         if shared is None else tile_gemm_shared(m, n, k, per[0], per[1], c_whole, shared, op.name, caps, c_split,
                                                 pace))
    tiling = {"nm": t.nm, "nn": t.nn, "nk": t.nk, "order": t.order, "a_reads": t.a_reads, "b_reads": t.b_reads}
    if caps is not None:  # a systolic op's tiles: whole array folds, or narrower (priced at their own folds)
        tiling["whole_folds"] = t.whole_folds
        if not t.whole_folds:
            tiling.update(_narrow_cycles(p, m, n, k, t, pace))
    return t.a_reads, t.b_reads, t.tiles * g.count, tiling


def _narrow_cycles(p: Plan, m: int, n: int, k: int, t: Tiling, pace: tuple[bool, float, int] | None) -> dict:
    """``fold_cycles``, the compute cycles of the ``count`` m×n×k GEMMs of ``p`` in narrow tiling ``t``
    (:func:`~.tiling.tiling_cycles`), and ``whole_fold_cycles``, theirs in whole folds (the cost model's)."""
    rows, _, cols = p.details["array"].partition("x")
    overlap = bool(pace and pace[0])
    args = (int(rows), int(cols), p.details["dataflow"], overlap, p.op.gemm.count)  # type: ignore[union-attr]
    whole = Tiling(1, 1, 1, "mn", 1, 1)
    return {"fold_cycles": tiling_cycles(m, n, k, t, *args), "whole_fold_cycles": tiling_cycles(m, n, k, whole, *args)}


def causal_kv_reads(op: Op, passes: int, bk: int) -> Fraction:
    """The times a causal fused attention (fn ``attention``, walked by :func:`~accelsim.cost.attention.
    systolic_causal`) reads its K and V, as a multiple of their bytes, where they stream once per each of
    ``passes`` query blocks (:func:`~accelsim.cost.attention.kv_passes`): query block t of P = min(passes, q_len),
    queries ⌊t·q/P⌋ … ⌊(t + 1)·q/P⌋ − 1, reads only the K/V blocks of ``bk`` keys (the compute walk's,
    ``causal_walk.block``) at or below the diagonal of its last query (bottom-right aligned: query i sees keys
    ≤ i + kv_len − q_len) and, with a ``window`` W, from the block of its first query's first key (i + kv_len −
    q_len − W + 1) on, as :func:`~accelsim.cost.attention.tile_blocks` counts a tile's blocks: passes × (the kept
    blocks' keys) / (P × kv_len). 4,096 queries and keys in 4 passes of 32-key blocks: 1,024 + 2,048 + 3,072 +
    4,096 keys, 2.5 reads, not 4 ((n + 1) / 2 of the full square's n; probe causalkv)."""
    a = op.attrs
    q, kv, w = int(a["q_len"]), int(a["kv_len"]), int(a.get("window", 0))
    nq = min(passes, q)
    kept = 0
    for t in range(nq):
        first, end = t * q // nq, (t + 1) * q // nq  # the block's queries: first … end − 1
        hi = min(kv, -(-max(0, kv - q + end) // bk) * bk)  # keys of the blocks up to the last query's diagonal
        lo = max(0, first + kv - q - w + 1) // bk * bk if w > 0 else 0  # a window's first kept block
        kept += max(0, hi - lo)
    return Fraction(passes * kept, nq * kv)


def core_reads(p: Plan, a_tot: int, b_tot: int, out_off: int, budgets: tuple[int, int, int], shared: int | None,
               psum_bytes: int, nunits: int, ncores: int, cut: str | None, pace: tuple[bool, float, int] | None = None,
               ) -> tuple[int | Fraction, int | Fraction, int, dict | None]:
    """:func:`sram_reads` of an op over ``nunits`` units of ``ncores`` cores, cut along ``cut`` (``"m"``, ``"n"``,
    ``"k"``, ``"count"``: :func:`unit_cycles`' ``details["split"]``; None: N when A is no larger than B, else M): (the times
    A is read and the times B is read, all cores together, as multiples of its bytes; the tiles; the tiling, of
    the first core's sub-GEMM).

    One core (its arrays share its tiles), or a cut along the GEMM count (each core reads only its own GEMMs'
    operands, each GEMM tiled as on one core): the op's own tiling. Cut along N, each core tiles its own
    m × (its columns) × k sub-GEMM against its own SRAM (its columns: its units' shares, :func:`split`) and
    reads all of A its tiling's times and its columns' share of B its times: A's reads are the sum of the cores'
    (a core with fewer columns re-reads A less: gemmini's 1024³ over 2 cores, each tiled 8 × 4 × 4, reads A 4 + 4
    times, not 2 × the whole op's 8), B's the cores' reads weighted by their columns; cut along M, the same with
    A and B swapped; cut along K (a GEMV, :func:`unit_cycles`), each core its slice of K of both, holding all of
    the output's partial sums (:func:`k_partials`). A vector op is cut by elements: each core reads its share of
    its activations, and of its parameters when each is as large as its output (an optimizer step's parameter and state) and of a gather's
    looked-up rows (however small the table), but every core all of a smaller parameter (a norm's scale and shift), which it broadcasts over its rows
    (on a GPU, whose vector unit stands for all its SMs, ``ncores`` is their count where a modelled row-wise kernel
    runs the op: :func:`traffic`)."""
    op = p.op
    if ncores <= 1 or cut == "count" or (op.kind.is_matmul and op.gemm is None):
        return sram_reads(p, a_tot, b_tot, out_off, budgets, shared, psum_bytes, pace=pace)
    if not op.kind.is_matmul:
        _, _, ntiles, _ = sram_reads(p, a_tot, b_tot, out_off, budgets, shared, psum_bytes)
        # parameters cut with the elements: each as large as the output (a step's parameter and state) is read
        # once in all, and so are a gather's rows whatever the table's size (each core gathers its share of the
        # looked-up rows: a 3-row table looked up 2,048 times over 2 cores reads 1,024 rows on each, not 2,048);
        # a smaller one is broadcast over the output's out / size repeats (a norm's scale and shift over its rows),
        # and a core reads all of it for each repeat it holds part of, at most once: min(cores, repeats) copies in
        # all (2 rows of 4,096 over 2 cores: each core all 8 KiB of gamma and beta; over 4 cores, each half a row:
        # half of them each, 2 copies in all)
        out = math.prod(op.out_shape)
        broadcast = op.weights[1:] if op.kind is OpKind.EMBEDDING else op.weights  # (weights[0]: the gathered table)
        copies = max((min(ncores, -(-out // max(1, math.prod(w.shape)))) for w in broadcast), default=1)
        return 1, copies, ntiles, None
    dim = {"m": 0, "n": 1, "k": 2}.get(cut or "", 1 if a_tot <= b_tot else 0)
    g = op.gemm
    size = (g.m, g.n, g.k)[dim]  # type: ignore[union-attr]
    each = nunits // ncores  # a split over cores takes whole cores, their units in order (choice.assign)
    fa: int | Fraction = 0
    fb: int | Fraction = 0
    ntiles, first = 0, None
    for rows, same in _core_rows(size, nunits, each, ncores):
        if not rows:
            continue
        # (cut along K, each core reads its slice of both and holds all of the output's partial sums)
        a = -(-a_tot * rows // size) if dim != 1 else a_tot
        b = -(-b_tot * rows // size) if dim != 0 else b_tot
        c = -(-out_off * rows // size) if dim != 2 else out_off
        ra, rb, tiles, tiling = sram_reads(p, a, b, c, budgets, shared, psum_bytes, (dim, rows), pace)
        share = Fraction(rows, size)
        fa += (ra * share if dim != 1 else ra) * same
        fb += (rb if dim == 0 else rb * share) * same
        ntiles += tiles * same
        first = first or tiling
    return _whole(fa), _whole(fb), ntiles, first


def _core_rows(size: int, nunits: int, each: int, ncores: int) -> list[tuple[int, int]]:
    """The rows of each of ``ncores`` cores of ``each`` units when ``size`` rows are :func:`split` over
    ``nunits`` units (core c: the sum of units c·each to (c+1)·each − 1's), in core order, as runs of (rows, cores
    with them): the first units get one row more than the rest, so at most three runs (whole cores of those, the
    core where they end, the rest), and a split over thousands of cores is priced in O(1)."""
    base, rem = divmod(size, nunits)
    full, part = divmod(rem, each)  # cores all of whose units have a row more; the units of the one after with one
    runs = [(each * (base + 1), min(full, ncores))]
    if part and full < ncores:
        runs.append((each * base + part, 1))
    runs.append((each * base, ncores - full - (1 if part else 0)))
    return [(rows, n) for rows, n in runs if n > 0]


def _whole(f: int | Fraction) -> int | Fraction:
    """``f`` as an int where it is one."""
    return f.numerator if isinstance(f, Fraction) and f.denominator == 1 else f


def _times(nbytes: int, f: int | Fraction) -> int:
    """``nbytes`` read ``f`` times (:func:`core_reads`), rounded up to a byte."""
    return nbytes * f if isinstance(f, int) else -(-nbytes * f.numerator // f.denominator)


def held_weight_bytes(p: Plan) -> int:
    """The bytes of ``p``'s parameters that it does not load, as they stay in its cores' SRAM from an earlier op
    (a recurrent layer's weights, :func:`~.choice.residency`). They are still its B operand: a split cuts it as if
    it loaded them (along N, each core holding its own columns' share, when A is no larger than B)."""
    op = p.op
    if len(p.weights) >= len(op.weights):
        return 0
    return sum(w.nbytes(op.dtype) for w in op.weights if w not in p.weights)


def held_b(p: Plan) -> bool:
    """Whether ``p``'s B operand, its first parameter, stays in its cores from an earlier op (:func:`held_weight_bytes`)."""
    return bool(p.op.weights) and p.op.weights[0] not in p.weights


def split_estimate(p: Plan, arch: Arch, options: Options, nunits: int, ncores: int,
                   produced: bool = False, on_chip: tuple[int, int] = (0, 0), keep_out: bool = False,
                   lead: float = math.inf) -> tuple[float, float, float]:
    """How long an op split over ``nunits`` units of ``ncores`` cores takes once its inputs are ready, in cycles,
    as :func:`traffic`, :func:`unit_cycles` and the emitter price it, for :func:`~.choice.assign`'s choice of how
    many units: (the pipeline estimate, the busiest unit's compute, the transfers at bandwidth).

    The transfers are the op's own operands: its first input A, the rest and its parameters B, its output; each
    re-read as the SRAM tilings of its cores read it (:func:`core_reads`, beside no resident activations: the
    smaller of A and B streamed by every core, each core's re-reads its own sub-GEMM's), at the main memory's
    bandwidth (with a shared cache: the cores' reads at the innermost cache's, the main memory reading each once). When another op produces its
    inputs (``produced``), the parameters its units' free buffers hold (the emitter's double buffering: the first
    ``slots`` groups of every unit, of :func:`tile_groups`) load while that op runs, since a parameter load waits
    only for a free buffer: those bytes are not counted, as far as the main memory moves them in the ``lead``
    cycles that op runs (its bandwidth × ``lead``; with a shared cache the cores' copies at the cache's, each once
    from the main memory: probe p200 #1, gpt2's c_proj over 64 cores of multicore-4 counted its 64 copies of the
    weights, 302 MB, as loaded in the 17,196 cycles its producer ran, in which HBM moves 7.0 MB; it was priced
    39,532 cycles and ran 757,805) (on an arch whose kernels are dispatched all are counted: a
    kernel reads nothing before it runs). The pipeline estimate streams the groups: the loads back to back with the last group's compute
    and store behind them (the other units' stores run under that compute; at least all the transfers), or each unit's groups at the pace its buffers allow with the main memory's latency, behind every
    unit's first loads (they queue on the memory the units share, so the last unit starts after all of them) and
    ahead of a last store (with a ramp, :func:`ramp_groups`, the first loads, the last compute and its store are
    the smallest pieces'; once, charging one group's transfer ahead, a 512×512×1024 1:4 GEMM on tpu-v4 was priced
    5,581 cycles over 8 arrays of 2 cores and 5,629 over 4 of one, which run 6,209 and 5,850). ``on_chip`` are the
    bytes of its A and B activations already in the core's SRAM (a one-core candidate on the core whose earlier ops
    left them resident, :func:`~.choice.assign`) and ``keep_out`` that its output stays there: neither moves, and
    an op that moves nothing waits no memory latency, one that loads and stores waits it twice (its first load's
    and its last store's, as the engine completes each transfer a latency after it; once, a split GRU step on
    multicore-4 was priced 1,292 cycles and ran 1,580: 35 + 957 + 2 × 300 less overlap). Placement in other memories and access granules are left out
    (but for a strided conv's input, the pixels its windows touch at the main memory's granule, as
    :func:`operand_bytes` counts them: :func:`conv_input_bytes`): the estimate compares splits."""
    op = p.op
    # A's bytes as op.in_bytes counts them (units.tensor_bytes: fp4 packed with its scales), so that B's are the rest
    # (probe p274 #3: A at a byte an element against fp4's packed in_bytes made B's negative)
    a_bytes = tensor_bytes(math.prod(op.in_shapes[0]), op.dtype) if op.in_shapes else 0
    if op.kind in (OpKind.MATMUL, OpKind.ATTENTION) and len(p.operands) > 1:  # activation × activation
        a_tot = a_bytes
        acts_b = op.in_bytes - a_tot - on_chip[1]
        a_tot -= on_chip[0]
    else:
        passes = vector.input_passes(op, arch.core.vector, vector.row_budget(arch)) if not op.kind.is_matmul else 1
        a_tot, acts_b = (op.in_bytes - on_chip[0]) * passes, 0
        read = conv_input_bytes(op, arch.memory(arch.main_memory).access_bytes)
        if read is not None and op.in_bytes:  # a strided conv reads part of its input (as :func:`operand_bytes`)
            a_tot = a_tot * (op.in_bytes - a_bytes + read) // op.in_bytes
    held = held_weight_bytes(p)  # (its parameters in SRAM: not loaded, but cut as its B)
    params = op.weight_bytes - held
    b_tot, out = acts_b + params, 0 if keep_out else op.out_bytes
    sram = arch.core.sram
    cut: dict = {}
    banded = ncores > 1 and on_chip[0] > 0  # it reads bands its cores hold (choice.residency): cut along M
    compute = busiest_unit_cycles(p, arch, nunits, a_tot <= b_tot + held and not banded, cut, banded, ncores,
                                  (ncores - 1) * abs(b_tot + held - a_tot)) if nunits > 1 else p.cycles
    pace = (arch.core.systolic.preload_overlap, arch.bytes_per_cycle(arch.main_memory), 0) \
        if p.unit_kind == "systolic" else None
    fa, fb, ntiles, tiling = core_reads(p, a_tot, b_tot, out, sram.tile_budgets(reserved=0),
                                        sram.shared_budget(reserved=0), arch.core.partial_sum_bytes(op.out_dtype),
                                        nunits, ncores, cut.get("split") or ("m" if banded else None), pace)
    if tiling is not None and "fold_cycles" in tiling:  # narrow tiles at their own folds, as :func:`traffic`
        compute = max(compute, -(-compute * tiling["fold_cycles"] // tiling["whole_fold_cycles"]))
    if cut.get("split") == "k":  # the partial sums of the cores beyond the first, stored and loaded
        out += k_partials(p, arch, nunits, ncores)[1]
    out += op.out_bytes if p.epilogue else 0  # a fused residual (its output's shape and dtype), read once as written
    main = arch.memory(arch.main_memory)
    groups = tile_groups(p, ntiles, nunits, a_tot + b_tot + out, main.sustained_bandwidth, options)
    slots = 2 if sram.double_buffered else 1
    main_bpc = arch.bytes_per_cycle(arch.main_memory)
    ahead = float(params * fb) * min(1.0, nunits * slots / groups) if produced and not arch.kernel_dispatch else 0
    if ahead and lead < math.inf:  # no more than the memory moves while the producer runs
        ahead = min(ahead, lead * (min(arch.bytes_per_cycle(arch.caches[0]), main_bpc * fb) if arch.caches
                                   else main_bpc))
    # (a tensor that is both operands, read once a pass: same_operands)
    same = a_tot if same_operands(p) and set(p.operands[0]) <= set(same_operands(p)) else 0
    spread = float(a_tot * fa + (acts_b + params) * fb) + out - ahead - shared_reads(same, fa, fb)
    if arch.caches:
        memory = max((a_tot + b_tot + out - same - ahead / float(fb)) / main_bpc,
                     spread / arch.bytes_per_cycle(arch.caches[0]))
    else:
        memory = spread / main_bpc
    # the pipeline of its groups: each unit runs ⌈groups / units⌉ groups of compute c, each moving its share t of
    # the transfers once a buffer frees (the compute ``slots`` groups back) and a latency L later, so a unit runs
    # a group per (max((slots − 1)·c, t + L) + c) / slots; the memory streams all groups back to back; the first
    # transfer and its latency ahead, the last group's compute behind
    # (a ramp, :func:`ramp_groups`, cuts each unit's first and last group into pieces: the first transfer ahead and
    # the last compute behind are its smallest piece's, 2^-r of a group)
    each = -(-groups // nunits)
    c, t, lat = compute / each, memory / groups, arch.latency_cycles(arch.main_memory) if memory > 0 else 0
    period = (max((slots - 1) * c, t + lat) + c) / slots
    first, last = (0, 0) if gpu_groups(p, arch) else ramp_groups(p, groups, nunits, a_tot + b_tot + out,
                                                                 main.sustained_bandwidth, options.ramp_max,
                                                                 compute, memory, out / main_bpc)
    # the units' first loads queue on the memory they share (as :func:`ramp_groups` prices them): the last unit
    # starts after nunits first loads (a group's loads L, or its first piece's), and the op ends with its last
    # compute and a last store S behind it
    stored = min(memory, out / main_bpc)
    load, store = (memory - stored) / groups, stored / groups
    # (an op that loads and stores waits the latency twice: its first load's and its last store's)
    lat *= 2 if out and a_tot + b_tot > 0 else 1
    return (max(max(memory, memory - stored + (c + store) / (1 << last)) + lat,
                each * period + nunits * load / (1 << first) + store / (1 << last) + lat), float(compute), memory)


def gpu_groups(p: Plan, arch: Arch) -> bool:
    """Whether ``p``'s groups are a GPU's, never ramped (:func:`~.emit.group_plan`): its output tiles' K-slices, or
    the groups of one unit standing for a GPU-like chip's lock-step cores (:func:`~.lower.build_units`: a core
    with ``core.tile`` on a chip of more than one)."""
    return "output_tiles" in p.details or (arch.core.tile is not None and arch.cores > 1)


def tile_groups(p: Plan, ntiles: int, nunits: int, nbytes: int, bandwidth: float, options: Options) -> int:
    """The tile groups of an op of ``ntiles`` SRAM tiles over ``nunits`` units that moves ``nbytes`` from memories
    of ``bandwidth`` bytes/s: as many as it streams in (at least its tiles, its units and min_tiles_per_op, and one
    per GROUP_MIN_CYCLES of compute or 1 / GROUPS_PER_SECOND of transfer, so that how finely loads overlap compute
    does not depend on whether the op happens to fit SRAM whole), at most max_tiles_per_op, and none shorter than
    both, except that every unit the op was split over gets a group. Over several units, a multiple of them (each
    unit as many groups, :func:`~.emit.group_plan`): rounded up, or down where up would pass max_tiles_per_op
    (which wins over min_tiles_per_op) or the op's compute cycles."""
    fit = _fit(p, nbytes, bandwidth)
    want = max(ntiles, options.min_tiles_per_op, nunits, fit)
    cap = max(options.max_tiles_per_op, nunits)
    groups = max(1, min(want, cap, p.cycles, max(fit, nunits)))
    if nunits > 1:  # (max_tiles_per_op wins over min_tiles_per_op; no group of no compute: at most a cycle each)
        up = -(-groups // nunits) * nunits
        groups = up if up <= min(cap, max(nunits, p.cycles)) else max(nunits, groups // nunits * nunits)
    return groups


def _fit(p: Plan, nbytes: int, bandwidth: float) -> int:
    """The groups of an op cut as finely as GROUP_MIN_CYCLES and GROUPS_PER_SECOND allow."""
    return max(p.cycles // GROUP_MIN_CYCLES, int(nbytes * GROUPS_PER_SECOND // bandwidth))


def ramp_groups(p: Plan, groups: int, nunits: int, nbytes: int, bandwidth: float, ramp_max: int = RAMP_MAX,
                compute: float = 0.0, memory: float = 0.0, stored: float = 0.0) -> tuple[int, int]:
    """The ramp of an op of ``groups`` tile groups (:func:`tile_groups`) over ``nunits`` units that moves
    ``nbytes`` from memories of ``bandwidth`` bytes/s (the bytes and bandwidth of the memory its transfers take
    longest at, :func:`_bottleneck`): (f, l), where each unit's first group is cut into pieces of
    2^-f, 2^-f, 2^-(f-1), …, 1/2 of it and its last into 2^-1, …, 2^-l, 2^-l (:func:`~.emit.ramp_shares`); (0, 0)
    when its groups are as fine as the op's finest already (the groups it would have without max_tiles_per_op: one
    per GROUP_MIN_CYCLES of compute or 1 / GROUPS_PER_SECOND of transfer, at least one per unit, at most one per
    cycle). Each end's halvings are at most ``ramp_max`` (``options.ramp_max``, default RAMP_MAX) and keep a piece
    no smaller than a finest group, and only those that pay are kept: the halvings are taken one at a time, the
    end whose next halving saves more first (the last on a tie), while the ones not yet taken would together
    shorten the op by at least RAMP_PAYS of its time (by the estimate below), so each op stays within RAMP_PAYS of
    its time with every halving allowed. An op of one group on one unit, as fine as its finest already, may
    still take one halving (its group cut in two halves that share its buffer, whichever ends took it): its second
    half loads while its first computes, and its store is half a group's, where one group ran load, compute and
    store back to back (a 128³ int8 GEMM on tpu-v1: 2,175 cycles in one group, more than the 2,005 of batch 2
    in two; now 1,668). Its halves take one place in the unit's double-buffer stream, so the next ops' parameters
    prefetch as before (two groups instead took two places: dlrm_host_tables_tpu_v4 33,452 -> 38,088 cycles,
    where the halves give 33,166). An op over several units keeps its groups (halving each unit's one group moved
    vit_b_16 on multicore-4 by +0.4 %, the units' halves queueing on their shared memory).

    The units' first loads queue on the memory they share, so each unit starts after its first group's load and
    those of the units ahead of it, and the op ends with a last group's compute and store after its load: with
    groups of a whole op's share (8192³ on tpu-v4's 8 arrays at max_tiles_per_op 16: 2 groups an array) the last
    array started after half the op's transfers, 784 µs into a 4.0 ms GEMM. A real array starts after one tile's
    load and ends one tile's compute after its last. The pieces keep the groups coarse between the ends: the
    first load is the finest group's, each next piece (twice the size) loads while one computes, and the op ends
    on the finest piece.

    The estimate, in cycles: ``compute`` the busiest unit's compute (its ⌈groups / units⌉ groups of c each),
    ``memory`` the op's transfers (re-reads included) at the memory they take longest at, the main memory or
    another (weights in HBM behind a faster first tier, or in host memory: priced at the main memory alone, a GEMV
    whose 128 MiB of weights crossed the same 1.2 TB/s as on tpu-v4 took no ramp and ran 150,935 cycles, not
    122,119; probe p103), of which ``stored`` its output's at the memory its stores take longest at (a
    group's loads L = (memory − stored) / groups, its store S = stored / groups). The op takes the longer of the
    memory's transfers with the last group's compute and store behind them, memory + (c + S)·2^-l, and the busiest
    unit's compute behind the units' queued first loads and ahead of their queued last stores,
    compute + nunits·(L·2^-f + S·2^-l). An end whose halvings shorten neither is left whole: the start of a
    memory-bound op (until its end's halvings bring the second term to the first), the end of a compute-bound one
    that stores little, any end of an op whose memory costs no time (SCALE-Sim's configs: unbounded bandwidth; a
    LLaMA-2-7B decode GEMV on its 128×128 OS array runs 16 groups, not 24). A LLaMA-2-7B decode GEMV on tpu-v4
    (32.1k cycles of transfers against 16.8k of compute on each of 8 arrays, 2 groups each) keeps the 3 halvings
    at its end, which save 7/8 of c + S = 7.4k of its 40.6k cycles, and none at its start: even with its end cut,
    the 8 units' first loads and last stores with the compute (32.4k) end before the transfers and the last
    piece (33.2k). (Crediting the parameters' prefetch too, which may load while the producer runs,
    as a second estimate with the memory's term that much shorter, kept those GEMVs' starts, at no gain:
    llama2_7b_serving_tpu_v4 65,846 tasks, not 51,062, in as many cycles to 1 in 10^9.)"""
    fine = max(1, min(max(_fit(p, nbytes, bandwidth), nunits), p.cycles))
    most = min(ramp_max, (fine // groups).bit_length() - 1) if fine >= 2 * groups else 0
    if not most and groups == nunits == 1 and p.cycles >= 2:  # one group on one unit: halves in its buffer
        most = min(ramp_max, 1)
    if not most:
        return 0, 0
    last = compute / -(-groups // nunits)  # a unit's last group's compute
    load, store = max(0.0, memory - stored) / groups, stored / groups

    def span(up: int, down: int) -> float:
        """The op's time with ``up`` halvings at its start and ``down`` at its end."""
        return max(memory + (last + store) / (1 << down),
                   compute + nunits * (load / (1 << up) + store / (1 << down)))

    pays = RAMP_PAYS * span(0, 0)
    up = down = 0
    while span(up, down) - span(most, most) >= pays and span(up, down) > span(most, most):
        at_start = span(up, down) - span(up + 1, down) if up < most else -1.0
        at_end = span(up, down) - span(up, down + 1) if down < most else -1.0
        if at_end >= at_start:
            down += 1
        else:
            up += 1
    return up, down


def split(total: int, parts: int) -> list[int]:
    """``total`` cut into ``parts`` near-equal integers, the larger first."""
    base, rem = divmod(total, parts)
    return [base + (1 if i < rem else 0) for i in range(parts)]


def unit_cycles(p: Plan, arch: Arch, nunits: int, along_n: bool, details: dict, banded: bool = False,
                ncores: int = 1, copies: int = 0) -> tuple[int, ...]:
    """The compute cycles of each of the ``nunits`` units an op is split over. Work that scales with its size (a
    vector op's elements) is cut evenly; a plug-in's that it priced as ``details["pieces"]`` whole pieces is dealt
    out in whole pieces (a unit of k of them: ⌈cycles · k / pieces⌉). A systolic array's GEMM pays its fixed fill and drain (the fold model,
    :mod:`accelsim.cost.folds`) on every array: each unit runs the sub-GEMM of its share, cut along the dimension
    :func:`traffic` splits it on: the GEMM count (independent GEMMs: a convolution's groups, attention heads; a fused
    attention backward's five GEMMs of a head go to one unit together) when there are as many as units, else N when every unit streams all of A (``along_n``: A no larger than B), else M
    (a fused attention: its queries, M of both of its GEMMs); the other of N and M when that one has fewer rows
    than units, or when its busiest unit computes less (a cut into fewer array folds than units leaves units idle);
    K when neither M (of all count GEMMs) nor N has more than one array fold (a GEMV), the ``ncores`` cores are
    one and that computes less, the core's one vector unit adding the units' partial sums one after another
    (:func:`k_partials`); over several cores the other of M and N is charged ``copies``, the bytes its copies of the
    larger operand move beyond the smaller's, at the main memory's bytes per cycle. A unit runs its GEMMs of the count as one run (:func:`~accelsim.cost.folds.run_cycles`: with
    preload overlap they pipeline, the fill and drain once per unit). Each unit's cycles are the op's, scaled by its sub-GEMMs' fold cycles over the whole op's (so a
    dtype's rate and a fused activation's bound carry over); ``details["split"]`` names the dimension."""
    size, price = _unit_pricing(p, arch, nunits, along_n, details, banded, ncores, copies)
    priced: dict[int, int] = {}
    out = []
    for part in split(size, nunits):
        if part not in priced:
            priced[part] = price(part)
        out.append(priced[part])
    return tuple(out)


def busiest_unit_cycles(p: Plan, arch: Arch, nunits: int, along_n: bool, details: dict, banded: bool = False,
                        ncores: int = 1, copies: int = 0) -> int:
    """``max(unit_cycles(...))`` without listing the units: :func:`split` cuts into at most two sizes, so O(1)
    in ``nunits`` (:func:`split_estimate` prices every count of units of a chip of thousands of cores)."""
    size, price = _unit_pricing(p, arch, nunits, along_n, details, banded, ncores, copies)
    base, rem = divmod(size, nunits)
    return max(price(base), price(base + 1) if rem else 0)


def _unit_pricing(p: Plan, arch: Arch, nunits: int, along_n: bool, details: dict, banded: bool = False,
                  ncores: int = 1, copies: int = 0) -> tuple[int, Callable[[int], int]]:
    """What :func:`unit_cycles` cuts over the units and the cycles of a unit's part of it: (the size cut, the
    part's cycles); sets ``details["split"]`` of a systolic GEMM (and, cut along K, ``details["k_split"]``:
    :func:`k_partials`). ``banded``: the op reads or keeps bands of rows on its cores (:data:`BANDS`), cut along M."""
    op, cycles = p.op, p.cycles
    pieces = p.details.get("pieces")  # a plug-in's work as whole pieces: a unit of k of them takes k/pieces of it
    if pieces:
        return pieces, lambda part: -(-cycles * part // pieces)
    if p.unit_kind != "systolic" or not op.kind.is_matmul or op.gemm is None or "kv_blocks" in p.details:
        return cycles, int
    sa = arch.core.systolic
    fused = op.kind is OpKind.ATTENTION
    g = op.gemm
    k_run = p.details.get("sparsity", {}).get("executed_k", g.k)
    gemms = [(g.m, g.n, k_run, g.count)]
    if fused:  # its two GEMMs as cost.systolic.price runs them: off a GPU, unless walked per head (causal_walk), a
        # GQA group's query heads are the rows of its KV head's GEMMs (probe p116 #1: 8 query heads on 1 KV head
        # cut as 512 one-row GEMMs ran 45,410 cycles on tpu-v6e, the same 8 rows as one head 45,910)
        pack = arch.core.tile is None and "causal_walk" not in p.details
        gemms = [(x.m, x.n, x.k, x.count) for x in attention.gemms(op, pack=pack)]

    def fold_cycles(shapes: list[tuple[int, ...]]) -> int:
        return sum(folds.cycles(m, n, k, sa.rows, sa.cols, sa.dataflow, c, sa.preload_overlap)
                   for m, n, k, c in shapes if m and n and k and c)

    # a count cut gives each unit whole heads: a fused backward's 3 QKᵀ-sized and 2 PV-sized GEMMs of a head
    # stay together (cut into heads, gcd of the counts; not each GEMM's count cut as the first one's)
    heads = math.gcd(*(x[3] for x in gemms))
    whole = fold_cycles(gemms)
    reduce = 0  # cut along K: each unit's add of its partial sums (k_partials)
    # a fused attention's softmax runs on its core's one vector unit, for all of the core's arrays (cost.systolic.price
    # bounds the one-array work by it, which the cut then shares out): each unit's cycles are at least its core's
    # softmax, all of it on one core, over several its core's share (probe p116 #2's rule for the dequantisation)
    soft = int(p.details.get("softmax_cycles") or 0) if fused else 0
    each = max(1, nunits // max(1, ncores))  # a core's units (a split over cores takes whole cores)

    def price_of(dim: int) -> Callable[[int], int]:
        size = heads if dim == 3 else gemms[0][dim]

        def price(part: int) -> int:
            sub = fold_cycles([(*x[:3], x[3] // heads * part) if dim == 3 else (*x[:dim], part, *x[dim + 1:])
                               for x in gemms])
            if not whole:
                return -(-cycles // nunits)
            if not sub:  # a unit with no share of the cut: no work
                return 0
            floor = soft if ncores <= 1 else -(-soft * min(size, part * each) // size)
            return max(-(-cycles * sub // whole), floor) + (reduce if dim == 2 else 0)
        return price

    def busiest(dim: int) -> int:
        base, rem = divmod(gemms[0][dim], nunits)
        price = price_of(dim)
        return max(price(base), price(base + 1) if rem else 0)

    if heads >= nunits:
        dim = 3
    elif fused or banded:
        dim = 0
    else:
        dim = 1 if along_n else 0
        if gemms[0][dim] < nunits <= gemms[0][1 - dim]:
            dim = 1 - dim
        # the other of M and N where its busiest unit computes less: a cut of N (M) into fewer array folds than
        # units leaves units idle, whatever its element count (probe p92: k_proj [2048, 128, 4096] on tpu-v5e's
        # 4 arrays, one fold of N, ran the whole GEMM on every unit); on a tie the cut that replicates the smaller
        # operand; over several cores each core reads all of the operand the cut does not cut, so the cut that
        # copies the larger one pays its ``copies`` bytes more at the main memory (probe p95: gpt2's lm_head on
        # multicore-4 cut along M, 0.25 % less compute for 227 MB more HBM, ran longer than cut along N)
        other = 1 - dim
        smaller = 1 if along_n else 0

        def paid(d: int) -> float:
            return busiest(d) + (copies / arch.bytes_per_cycle(arch.main_memory) if d != smaller else 0.0)

        if gemms[0][other] > 1 and paid(other) < paid(dim):
            dim = other
        # neither M (of all count GEMMs) nor N has more than one array fold (a GEMV) and the units are one core's:
        # K, each unit a slice of the reduction, its partial sums added one unit's after another on the core's
        # one vector unit (k_partials), where that computes less. A GEMM with two or more folds of M or N leaves
        # the other arrays to independent ops (probe p95: googlenet's 14 × 14 inception branches, 2 folds of M,
        # cut along K took a core's 4 arrays each and ran one after another, 72,716 -> 77,869 cycles on tpu-v4),
        # and across cores the partial sums would pass through main memory (a store, a latency, a load)
        if ncores == 1 and gemms[0][2] >= 2 * nunits and max(_grains(g.m * g.count, g.n, sa)) == 1:
            reduce = (nunits - 1) * _reduce_cycles(gemms[0], arch)
            if busiest(2) < busiest(dim):
                dim = 2
    if dim == 2:
        details["k_split"] = nunits
    details["split"] = ("m", "n", "k", "count")[dim]
    return heads if dim == 3 else gemms[0][dim], price_of(dim)


def _grains(m: int, n: int, sa) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The array folds along M and along N of a GEMM on systolic array ``sa``: ⌈size / the array's rows or columns
    it is laid on⌉, and a dimension streamed in time (ws: M; is: N) in steps of the array's rows (a unit with
    fewer rows than that computes no faster on an array that preloads its next fold as it streams, ws/is)."""
    df = folds.DATAFLOWS[sa.dataflow]
    extent = {df.spatial_rows: sa.rows, df.spatial_cols: sa.cols, df.temporal: sa.rows}
    return -(-m // extent["m"]), -(-n // extent["n"])


def _reduce_cycles(gemm: tuple[int, int, int, int], arch: Arch) -> int:
    """The cycles to add one unit's M × N partial sums of each of its ``count`` GEMMs into the output, on the core's
    vector unit (``add``'s lane-cycles an element over its lanes), when a GEMM is cut along K; the core's arrays
    share that unit, so :func:`_unit_pricing` charges (units − 1) of these one after another."""
    m, n, _, count = gemm
    vec = arch.core.vector
    return math.ceil(m * n * count * vec.cost("add") / vec.lanes)


def k_partials(p: Plan, arch: Arch, nunits: int, ncores: int) -> tuple[int, int]:
    """The bytes of the partial sums of an op cut along K over ``nunits`` units of ``ncores`` cores
    (``details["split"]`` "k"): (at the scratchpad: each unit's M × N × count partial sums at the accumulator's
    width, :meth:`~accelsim.hardware.Core.partial_sum_bytes`, written by its array and read by the add; at main
    memory: each core but the first stores its reduced partials and the first loads them, as the arch models no
    path between cores)."""
    g = p.op.gemm
    each = g.m * g.n * g.count * arch.core.partial_sum_bytes(p.op.out_dtype)  # type: ignore[union-attr]
    return 2 * nunits * each, 2 * (ncores - 1) * each


def context(arch: Arch, units: tuple[Unit, ...], plans: tuple[Plan, ...], level_of: dict[str, str],
            tables: dict[str, TableSplit], input_elems: dict[str, int]) -> Context:
    """The :class:`Context` of one lowering."""
    shared = [lv.name for lv in arch.hierarchy()[1:]]
    div = 2 if arch.core.sram.double_buffered else 1
    # a fused op's output is its producer's (:mod:`.fusion`): the producer writes it, and its readers read it,
    # where the fused op's tensor is placed (an offloaded training stash: the host)
    moved = {p.details["fused_into"]: level_of[p.op.name] for p in plans
             if "fused_into" in p.details and p.op.name in level_of}
    if moved:
        level_of = {**level_of, **moved}
    return Context(arch, units, arch.main_memory, level_of, tables, input_elems,
                   frozenset(p.op.name for p in plans if p.resident_out), {p.op.name: p.op.out_bytes for p in plans},
                   {lv: arch.memory(lv).access_bytes for lv in shared},
                   {lv: arch.bytes_per_cycle(lv) for lv in shared}, arch.caches,
                   {lv: arch.memory(lv) for lv in shared if arch.memory(lv).efficiency_by_size},
                   {c: arch.memory(c).capacity // 3 // div for c in arch.caches}, {},
                   arch.memory(arch.main_memory).sustained_bandwidth,
                   {lv: arch.memory(lv).sustained_bandwidth for lv in arch.memories})


__all__ = ["Context", "Traffic", "context", "core_reads", "epilogue_bytes", "gpu_groups", "k_partials", "same_operands", "shared_reads", "operand_bytes", "ramp_groups", "split_estimate", "sram_reads", "tile_groups", "traffic", "GROUP_MIN_CYCLES", "GROUPS_PER_SECOND", "RAMP_MAX", "RAMP_PAYS"]
