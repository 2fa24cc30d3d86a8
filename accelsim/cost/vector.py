"""Unit kind ``vector``: element-wise, pooling, normalisation and look-up work on a SIMD unit.

An op that needs ``elems`` element operations of function ``fn`` takes ⌈elems · c(fn) / lanes⌉ cycles, where
c(fn) is the unit's lane-cycles per element for that function (``VectorUnit.cost``). Its kernel reads its
activation inputs from memory ``input_passes`` times (``VectorUnit.passes``: 1 unless the unit lists a rule for
``fn``, e.g. a softmax whose long rows are re-read for the max, the sum and the output; on a unit that lists no
rules, a row reduction, :data:`ROW_REDUCTIONS`, twice when its row does not fit the core's vector tile,
:func:`row_budget`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..hardware import Arch, Level, VectorUnit
from ..ir import Op
from ..units import element_bits, element_bytes, time_cycles
from . import Priced, gather, resident_bytes


class Kernel(NamedTuple):
    """How the GPU kernel of one vector function walks memory (read from its source): thread blocks of at most
    ``block`` threads, one per row (``row_wise``; a row of c elements gets min(⌈c/per_thread⌉, block) threads) or
    one per ``block`` × ``per_thread`` elements; each thread has ``per_thread`` elements of every activation input
    in flight per iteration, and an iteration waits ``chain`` memory round trips one after the other (a block
    first waits ``prologue`` round trips)."""

    block: int
    row_wise: bool
    per_thread: int
    chain: int = 1
    prologue: int = 0  # round trips a block waits before its first iteration (an index it must load first)
    split: str = ""  # an op attribute: elements of each row a second loop walks after the first (rope's key)
    # per_thread as the elements of one vector load of this many bytes (16: a float4, PyTorch's ILP = 16 / elem)
    vector_bytes: int = 0
    # PyTorch's SoftMax_getBlockSize(ILP, dim): threads the power of two at or above half of min(c / per_thread,
    # block), at least a warp (32)
    halved: bool = False
    # (cols, row bytes): a row within both runs another kernel, not modelled (PyTorch's persistent warp softmax)
    short_rows: tuple[int, int] = (0, 0)


# PyTorch's CUDA softmax (aten/src/ATen/native/cuda/SoftMax.cu host_softmax, as of torch 2.0, which the GPU
# presets' input_passes rule states, until pytorch/pytorch#122970): grid = rows ("This kernel spawns a block per
# each element in the batch"); a row longer than 1024 elements or 4 KiB runs cunn_SoftMaxForward with
# block = SoftMax_getBlockSize(ILP, dim) (max_block_size = min(dim / ILP, 1024), halved for ILP > 1, rounded up
# to a power of two, at least a warp: at most 512 threads), each ilpReduce / WriteFpropResultsVectorized iteration
# one aligned_vector<scalar_t, ILP> load per thread, ILP = sizeof(float4) / sizeof(scalar_t); log_softmax runs the
# same host_softmax (LogSoftMaxForwardEpilogue). Shorter rows run dispatch_softmax_forward (PersistentSoftmax.cuh),
# not modelled here
_SOFTMAX = Kernel(1024, True, 0, vector_bytes=16, halved=True, short_rows=(1024, 4096))

KERNELS: dict[str, Kernel] = {
    # sarathi_rms_norm (microsoft/sarathi-serve csrc/layernorm_kernels.cu, as vLLM's of 2023): grid = rows,
    # block = min(hidden, 1024); each loop iteration loads one element and uses it before the next load
    "rmsnorm": Kernel(1024, True, 1),
    # sarathi_silu_and_mul (csrc/activation_kernels.cu): grid = rows, block = min(d, 1024); x and y per iteration
    "silu_mul": Kernel(1024, True, 1),
    # sarathi_rotary_embedding (csrc/pos_encoding_kernels.cu): grid = tokens, block = min(heads · rot_dim / 2, 512);
    # each iteration rotates one (x, y) pair in place; the block first loads its token's position, which the
    # cos/sin addresses need
    "rope": Kernel(512, True, 2, prologue=1, split="key_cols"),
    # vLLM's static_scaled_fp8_quant (vllm-project/vllm csrc/quantization/w8a8/fp8/common.cu): grid = tokens, a
    # block of 256 threads per token; each thread converts 16-byte vectors of its row (vectorize_with_alignment<16>:
    # 8 bf16 elements per iteration)
    "quantize": Kernel(256, True, 8),
    # pytorch_elementwise (aten/src/ATen/native/cuda/CUDALoops.cuh vectorized_elementwise_kernel): 128 threads per
    # block, each loading 4 elements of every input with one vector access
    "add": Kernel(128, False, 4),
    "softmax": _SOFTMAX,
    "log_softmax": _SOFTMAX,
    # PyTorch's layer norm (aten/src/ATen/native/cuda/layer_norm_kernel.cu launch_vectorized_layer_norm_kernel):
    # blocks(M), one per row, of num_threads = 128; vectorized_layer_norm_kernel_impl's compute_stats and output
    # loops each load one aligned_vector<T, vec_size> of the row per thread per iteration, vec_size = 4 whatever
    # the dtype (the vectorised path: rows of a multiple of 4 elements, aligned)
    "layernorm": Kernel(128, True, 4),
    # the loss's gradient as a fused cross entropy computes it (linkedin/Liger-Kernel src/liger_kernel/ops/
    # cross_entropy.py liger_cross_entropy_kernel): grid = rows, num_warps = 32 (1024 threads), each iteration a
    # BLOCK_SIZE = min(32768, next_power_of_2(V)) slice of the row (32 elements a thread); the program first loads
    # its row's target, which it tests before the loops
    "cross_entropy_grad": Kernel(1024, True, 32, prologue=1),
}
"""The vector functions whose GPU kernel's memory access is modelled (:func:`achieved_fraction`)."""


def accepts(op: Op) -> int | None:
    """Everything that is not a matmul; a matmul at preference 0, taken only where no other unit of the core can
    run it (a core with no systolic array: a vector DSP, :attr:`accelsim.hardware.UnitSpec.runs_gemms`)."""
    return 0 if op.kind.is_matmul else 1


def macs_per_cycle(spec: VectorUnit) -> int:
    """No MACs (its work is counted in FLOPs)."""
    return 0


def price(op: Op, vu: VectorUnit, arch: Arch) -> Priced:
    """Cycles of ``op``'s element operations on one vector unit (a plain embedding on a GPU: PyTorch's
    index_select kernels, :func:`small_gather_cycles` and :func:`large_gather_cycles`).

    An embedding with op attr ``index_select: gather`` is PyTorch 2.8 and later's index_select
    (aten/src/ATen/native/cuda/Indexing.cu index_select_out_cuda_impl since pytorch/pytorch#151715, April 2025):
    up to 16 indices still run the small-index kernel; more go to ``at::gather_out``, whose fast path
    (pytorch/pytorch#151490) copies each row with vector loads and stores and no per-element index arithmetic, so
    only its data movement is priced (``cycles_per_element`` "embedding", 0 by default)."""
    if op.kind.is_matmul:
        return gemm_cycles(op, vu)
    if op.fn == "embedding":
        gathered = small_gather_cycles(op, vu, arch)
        if gathered is None and op.attrs.get("index_select") != "gather":
            gathered = large_gather_cycles(op, vu, arch)
        if gathered is not None:
            return gathered
    key = cost_key(op, vu)
    cost = vu.cost(key)
    return Priced(cycles(op.vector_elems, cost, vu.lanes),
                  {"lanes": vu.lanes, "cycles_per_element": cost, "elements": op.vector_elems,
                   **({"priced_as": key} if key != op.fn else {})})


def cost_key(op: Op, vu: VectorUnit) -> str:
    """The ``cycles_per_element`` key that prices ``op``: its function, or ``f"{fn}_short"`` for a row that a
    modelled kernel's ``short_rows`` leaves to another kernel (:data:`KERNELS`: PyTorch's persistent warp softmax,
    which reads the row into registers once and takes one exponential an element, against cunn_SoftMaxForward's
    three reads and two) where the unit lists a cost of its own for that kernel (the GPU presets derive both from
    the instruction mix, docs/validation.md "Softmax re-reads")."""
    k, short = KERNELS.get(op.fn), f"{op.fn}_short"
    if k is None or short not in vu.cycles_per_element:
        return op.fn
    cols, most_bytes = k.short_rows
    return short if row_length(op) <= cols and row_length(op) * op.elem_bytes <= most_bytes else op.fn


def gemm_cycles(op: Op, vu: VectorUnit) -> Priced:
    """A matmul-family op on the lanes (a core with no array; a depthwise conv, ``options.depthwise``): each MAC a
    multiply-add of c("fma") lane-cycles (1 by default: one instruction a lane; 2 on a GPU preset, whose lanes count
    FLOPs), ⌈MACs · c("fma") / lanes⌉, plus its element work (a fused attention's softmax) at c(fn) lane-cycles an
    element; no fold fill or drain."""
    extra = op.vector_elems * vu.cost(op.fn) if op.vector_elems and op.fn else 0
    fma = vu.cost("fma")
    return Priced(cycles(op.macs, fma, vu.lanes) + (cycles(extra, 1.0, vu.lanes) if extra else 0),
                  {"lanes": vu.lanes, "macs": op.macs, **({"cycles_per_mac": fma} if fma != 1 else {}),
                   **({"elements": op.vector_elems} if extra else {})})


def small_gather_cycles(op: Op, vu: VectorUnit, arch: Arch) -> Priced | None:
    """A plain embedding gather (fn "embedding", one thread per element) of at most 16 rows runs PyTorch's
    small-index kernel: every thread makes one dependent round trip per index (the index, an L2 hit, then the
    table element from main memory), one index after the other (:func:`.gather.small_index_chains`); on a GPU
    (``issue_width``) each round trip is followed by the SM issuing that pass's
    :data:`.gather.SMALL_INDEX_INSTRUCTIONS` for its threads, as the large-index kernel's iterations
    (:func:`large_gather_cycles`: one wave, every thread in step). Priced as that span on every core (the vector
    unit spreads an op's cycles evenly over the cores). None otherwise."""
    shape = op.in_shapes[0] if op.in_shapes else ()
    indices = math.prod(shape) if shape else 0
    if op.vector_elems <= 0 or indices <= 0:
        return None
    chains = gather.small_index_chains(indices, op.vector_elems // indices, arch.cores)
    if chains is None:
        return None
    trip = _index_round_trip(arch)
    threads = gather.small_index_threads(op.vector_elems // indices, arch.cores)
    issue = math.ceil(threads * gather.SMALL_INDEX_INSTRUCTIONS / vu.issue_width) if vu.issue_width else 0
    span = chains * (time_cycles(trip, arch.clock_hz) + issue)
    return Priced(span * arch.cores, {"kernel": "index_select_small", "round_trips": chains,
                                      "round_trip_s": trip, "issue_cycles": issue, "elements": op.vector_elems})


def large_gather_cycles(op: Op, vu: VectorUnit, arch: Arch) -> Priced | None:
    """A plain embedding gather of more than 16 rows on a GPU (a vector unit with ``issue_width`` and
    ``resident_threads``, no ``cycles_per_element.embedding`` of its own) runs PyTorch's large-index kernel
    (:func:`.gather.large_index_loop`): each iteration of its grid-stride loop waits one dependent round trip (the
    index, an L2 hit, then the table element from main memory), then the SM issues the loop body's
    :data:`.gather.INDEX_SELECT_INSTRUCTIONS` for every resident thread at ``issue_width`` a clock. The two add up
    (assumption, chosen while looking at vidur/a100_*_ops.csv's ``emb`` rows: the grid is one resident wave of a
    grid-stride loop, so every warp starts at once, runs the same instructions and waits the same latencies, and
    the warps stay in phase: their index arithmetic queues at the schedulers after each return instead of hiding
    behind other warps' loads. The overlapped bound, the round trip alone, reads those rows 25 % fast, the sum
    11-16 % slow. The same sum added to the row-wise kernels of :data:`KERNELS` with their own SASS counts makes
    silu_mul and rmsnorm 25-37 % slow, so it is not a general law; why they do not show it is open,
    docs/validation.md). A look-up repeating a row the same call read takes it from the innermost cache
    (:func:`_repeat_hits`): the round trip is the mean over the look-ups. Priced as that span on every core. None
    otherwise."""
    if vu.issue_width is None or vu.resident_threads is None or "embedding" in vu.cycles_per_element:
        return None
    if op.vector_elems <= 0:
        return None
    iterations, threads = gather.large_index_loop(op.vector_elems, arch.cores, vu.resident_threads)
    hits = _repeat_hits(op, arch)
    trip = _index_round_trip(arch, hits)
    issue = math.ceil(threads * gather.INDEX_SELECT_INSTRUCTIONS / vu.issue_width)
    span = iterations * (time_cycles(trip, arch.clock_hz) + issue)
    return Priced(span * arch.cores, {"kernel": "index_select_large", "iterations": iterations,
                                      "threads_per_core": threads, "round_trip_s": trip,
                                      **({"repeat_hits": hits} if hits else {}),
                                      "issue_cycles": issue, "elements": op.vector_elems})


def _index_round_trip(arch: Arch, hits: float = 0.0) -> float:
    """Seconds of a gather's dependent index -> table round trip: the index from the innermost cache (an L2 hit),
    then the table element from main memory, or from that cache for the ``hits`` fraction of look-ups that find
    their row there (the mean over the look-ups)."""
    cache = sum(arch.memory(c).latency for c in arch.caches[:1])
    main = arch.memory(arch.main_memory).latency
    return cache + main - hits * (main - cache)


def _repeat_hits(op: Op, arch: Arch) -> float:
    """The fraction of an embedding's look-ups that repeat a row the same call read and find it in the cache:
    uniform look-ups (``access`` uniform) into its table of ``rows`` rows, under the innermost cache's resident
    share (:func:`accelsim.cost.resident_bytes`, :func:`.gather.repeated_hits`); Zipf look-ups (``access`` zipf)
    those the outermost cache serves, as the gather's bytes count them (:func:`.gather.zipf_cache_hits`, Che's
    approximation; mapping/traffic.py); 0 without a cache."""
    table = next((w for w in op.weights if len(w.shape) == 2), None)
    if table is None or not arch.caches:
        return 0.0
    rows, dim = table.shape
    gathers = int(op.attrs.get("gather_rows") or 0)
    access, alpha = op.access
    if access == "zipf":
        cache = arch.caches[-1]
        row = gather.row_bytes(dim * op.elem_bytes, arch.memory(cache).access_bytes)
        return gather.zipf_cache_hits(rows, alpha, gathers, resident_bytes(arch, cache) // row)
    if access != "uniform":
        return 0.0
    return gather.repeated_hits(gathers, rows, dim * op.elem_bytes, resident_bytes(arch, arch.caches[0]))


def cycles(elems: int, cost_per_elem: float, lanes: int) -> int:
    """Cycles for ``elems`` element operations at ``cost_per_elem`` lane-cycles each on ``lanes`` lanes."""
    if elems <= 0:
        return 0
    return max(1, math.ceil(elems * cost_per_elem / lanes))


def row_length(op: Op) -> int:
    """Elements of one row of a vector op: its first input's reduced dimension (a norm's ``dim``, else the last;
    the output's last dimension for an op without inputs)."""
    shape = op.in_shapes[0] if op.in_shapes else op.out_shape
    if not shape:
        return 1
    dim = op.reduced_dim
    return int(shape[dim if -len(shape) <= dim < len(shape) else -1])


ROW_REDUCTIONS = frozenset({"softmax", "log_softmax", "layernorm", "rmsnorm",
                            "softmax_grad", "log_softmax_grad", "layernorm_grad", "rmsnorm_grad",
                            "cross_entropy_grad"})
"""The vector functions that normalise every element of a row by a statistic of the whole row (its max and sum of
exponentials; its mean and variance; its mean square): no output element can be written before the row's last
input element is read, so a row the core cannot hold is read at least twice (:func:`input_passes`). Their input
gradients too (``builders/training.py``: fn f"{fn}_grad", reading dY and Y or X): softmax's dX = Y∘(dY − Σ dY∘Y)
and log_softmax's dX = dY − exp(Y)·Σ dY need the row sum first; a norm's dX needs the row means of γ·dY and of
γ·dY·x̂ (rmsnorm: the one of γ·dY·x̂) first, as karpathy/llm.c dev/cuda/layernorm_backward.cu's
layernorm_backward_cpu reads ``inp`` and ``dout`` for "two reduce operations", then again for the gradients: both
activation inputs twice, the scale (a parameter) once (probe p166 #1). The loss's gradient
``cross_entropy_grad`` (dX = softmax(logits) − one-hot, recomputed from the logits, the only tensor it reads) needs
the row's max and sum of exponentials before its first dX element: twice. The loss itself, ``cross_entropy``, is
not listed: it writes one number per row, m + ln d − x_target, which the online normaliser's single max-and-sum
pass gives (linkedin/Liger-Kernel src/liger_kernel/ops/cross_entropy.py: the loss after its "first pass: find max
+ sum", the gradient in its second pass), so it reads its row once however long."""


def row_budget(arch: Arch) -> int:
    """Bytes of one row a core's vector unit can hold on chip: the input tile of its scratchpad, empty (ifmap's
    double-buffered half; a unified buffer's third of its half, :meth:`~accelsim.hardware.Sram.tile_budgets`), the
    tile a vector op's input is cut into (:func:`accelsim.mapping.traffic.sram_reads`)."""
    return arch.core.sram.tile_budgets()[0]


def input_passes(op: Op, unit: VectorUnit, row_bytes_on_chip: int | None = None) -> int:
    """Times ``op``'s kernel streams its activation inputs from memory on ``unit``. A unit that lists rules
    (``VectorUnit.input_passes``: an arch stating its software's kernels, as the GPU presets do PyTorch's softmax and
    vLLM's rmsnorm) is taken at its word: its rule for the function, 1 for a function it does not list. A unit that
    lists none: a row reduction (:data:`ROW_REDUCTIONS`) whose row is longer than ``row_bytes_on_chip``
    (:func:`row_budget`; None: no limit) twice, the fewest a kernel needs that cannot hold the row (softmax: the online
    normaliser's max-and-sum pass, then the output pass, Milakov & Gimelshein 2018, "Online normalizer calculation
    for softmax", arXiv:1805.02867; layernorm: Welford's mean-and-variance pass, then the output pass; rmsnorm: the
    mean-square pass, then the output pass); else 1."""
    if unit.input_passes:
        return unit.passes(op.fn, row_length(op), op.elem_bytes)
    if row_bytes_on_chip is not None and op.fn in ROW_REDUCTIONS \
            and row_length(op) * op.elem_bytes > row_bytes_on_chip:
        return 2
    return 1


def per_thread(op: Op, k: Kernel) -> int:
    """Elements of each activation input one thread of kernel ``k`` has in flight per iteration: as many as its
    vector load holds at their packed width (:func:`accelsim.units.element_bits`: a 16-byte load 8 bf16, 16 fp8,
    32 fp4), or ``k.per_thread`` stored elements, each of a packed dtype holding 8 / its bits values (fp4 two a
    byte, as torch's ``float4_e2m1fn_x2`` element holds two: the add kernel's 4-element access 8 fp4 values).
    Probe p274 #3: fp4 had been loaded at a byte a value, in fp8's loop count for 0.5625 of its bytes."""
    bits = element_bits(op.dtype)
    if k.vector_bytes:
        return max(1, k.vector_bytes * 8 // bits)
    return k.per_thread * max(1, 8 // bits)


def kernel(op: Op, arch: Arch) -> Kernel | None:
    """The modelled GPU kernel (:data:`KERNELS`) that runs ``op`` on ``arch``: None where the arch gives no
    occupancy limits (``resident_threads``), the function has no entry, or its row is one the entry's
    ``short_rows`` leaves to another kernel."""
    k = KERNELS.get(op.fn)
    if k is None or arch.core.vector.resident_threads is None or not op.inputs:
        return None
    cols, most_bytes = k.short_rows
    if cols and row_length(op) <= cols and row_length(op) * op.elem_bytes <= most_bytes:
        return None
    return k


def reread_level(op: Op, arch: Arch) -> str | None:
    """The cache level a further input pass (:func:`input_passes`) of ``op``'s GPU kernel reads, None: main memory.
    A row-wise kernel (:func:`kernel`) re-reads the row its block read the pass before, and it is still in a cache
    when what the resident blocks move through it meanwhile fits its capacity: one wave's rows (as many blocks as
    the cores hold, :func:`_pass_seconds`, at most the op's rows) of every input, and as many bytes of output rows,
    which the same blocks write back through it. The innermost of the arch's caches (``arch.caches``, innermost
    first) that holds them serves the re-read: an MI300X's 256 MiB Infinity Cache where a wave overflows its 32 MiB
    of L2 (probe p267 #2). The whole capacity, not a shared tensor's resident share
    (:func:`accelsim.cost.resident_bytes`): each row is read by one block only, so it sits once, in the partition
    (an A100's L2 half, an MI300X's XCD L2) of the SM that reads it. Else (no cache holds a wave) the re-read comes
    from main memory again (the row was evicted)."""
    k = kernel(op, arch)
    if k is None or not k.row_wise or not arch.caches:
        return None
    vu = arch.core.vector
    threads, blocks, _ = _loops(op, k)
    assert vu.resident_threads is not None
    wave = min(blocks, arch.cores * max(1, min(vu.resident_threads // threads, vu.resident_blocks or blocks)))
    row_in = row_length(op) * len(op.inputs) * op.elem_bytes
    need = wave * (row_in + op.out_bytes // blocks)
    return next((c for c in arch.caches if need <= arch.memory(c).capacity), None)


def _loops(op: Op, k: Kernel) -> tuple[int, int, tuple[tuple[int, float], ...]]:
    """Threads per block, blocks, and the loops a block runs: (iterations, fraction of its threads active)."""
    cols, each = row_length(op), per_thread(op, k)
    elems = math.prod(op.in_shapes[0]) if op.in_shapes else op.vector_elems
    if not k.row_wise:
        return k.block, -(-elems // (k.block * each)), ((1, 1.0),)
    second = min(int(op.attrs.get(k.split, 0) or 0), cols - 1) if k.split else 0
    first = cols - second
    threads = min(-(-first // each), k.block)
    if k.halved:  # (SoftMax_getBlockSize: min(first // each, block) // 2, up to a power of two, at least a warp)
        threads = max(32, 1 << (max(1, min(first // each, k.block) // 2) - 1).bit_length())
    loops = [(-(-first // (threads * each)), 1.0)]
    if second:
        loops.append((-(-second // (threads * each)), min(1.0, second / (threads * each))))
    return threads, max(1, elems // max(cols, 1)), tuple(loops)


def _pass_seconds(op: Op, k: Kernel, vu: VectorUnit, arch: Arch, level: Level, prologue: int) -> float:
    """Seconds kernel ``k`` of ``op`` takes to read its inputs once from ``level``. The blocks run in waves of as
    many as the cores hold (occupancy: resident threads and blocks per core); a block walks its elements in loops
    (:func:`_loops`) of iterations of ``per_thread`` per thread, each a round trip of ``chain`` latencies plus the
    time to drain what all resident threads have in flight at the level's sustained bandwidth (Little's law),
    after ``prologue`` round trips of its own."""
    assert vu.resident_threads is not None
    threads, blocks, loops = _loops(op, k)
    per_core = max(1, min(vu.resident_threads // threads, vu.resident_blocks or blocks))
    wave = arch.cores * per_core
    # bytes one block has in flight (fp4: its values and their share of the block scales, units.element_bytes)
    per_block = threads * per_thread(op, k) * len(op.inputs) * element_bytes(op.dtype)
    seconds = 0.0
    for n, count in ((wave, blocks // wave), (blocks % wave, 1)):
        if n and count:
            trips = prologue + sum(it * active for it, active in loops)  # in full iterations' worth of drain
            latencies = prologue + sum(it for it, _ in loops)
            seconds += count * (latencies * k.chain * level.latency + trips * n * per_block / level.sustained_bandwidth)
    return seconds


def achieved_fraction(op: Op, arch: Arch, main_bytes: int, passes: int) -> float | None:
    """The fraction of main memory's sustained bandwidth the GPU kernel of ``op`` achieves (None: not modelled,
    see :func:`kernel`): its first read of the inputs from main memory (:func:`_pass_seconds`), each further
    pass from the innermost cache where the block's row is still there (:func:`reread_level`), else from main
    memory again, and never faster than all of
    ``main_bytes`` at the sustained rate. An unbounded main memory (``bandwidth: inf``) gives 1: its transfers
    take no bandwidth time (a fraction of an unbounded rate cannot carry the walk's latency-bound time, the
    model's limit as the bandwidth grows; the engine's per-transfer latency remains)."""
    vu, k = arch.core.vector, kernel(op, arch)
    if k is None or main_bytes <= 0:
        return None
    main = arch.memory(arch.main_memory)
    if math.isinf(main.bandwidth):
        return 1.0
    level = reread_level(op, arch)
    reread = arch.memory(level) if level is not None else main
    seconds = _pass_seconds(op, k, vu, arch, main, k.prologue)
    if passes > 1:
        seconds += (passes - 1) * _pass_seconds(op, k, vu, arch, reread, 0)
    floor = main_bytes / main.sustained_bandwidth
    return floor / max(seconds, floor)
