"""GPU-style work split of a GEMM: thread-block output tiles in waves over the cores, and split-K.

The output is cut into ``m`` × ``n`` tiles, each computed whole (over all of K, or of its K slice) by one core; an
edge tile costs a full tile's folds (tile quantisation) and tiles run on the cores in waves (the emitter deals
them round robin, so the busiest core holds ⌈tiles/cores⌉: wave quantisation). A preset lists the tile shapes its
GEMM library ships (``core.tile`` and ``core.tile.shapes``); as cuBLAS's heuristics do (nv_matmul_guide: NVIDIA's
Matrix Multiplication Background User's Guide, "Typical tile dimensions in cuBLAS", "Wave quantization"), a GEMM
takes the largest shape whose tiles' unpadded work gives every core at least one full tile (larger tiles reuse more
data; m·n·count >= cores x the tile's rows and columns the GEMM has, the guide's tile quantization: an edge tile's
padding does no useful work, so 376 rows in 256-row tiles count as 1.47 tiles, not 2), and only a problem too
small for that takes whichever shape is fastest (a library that dispatches its own kernels by shape,
``core.tile.library``, gives its table's tile instead, over all of K: :func:`dispatched`). Its K is then cut into the number of slices (split-K,
1 to K / :data:`SPLIT_K_MIN`) with the fewest estimated cycles: waves × one tile's cycles (plus the reduction kernel's), or its shared-cache or
main-memory bytes at that level's bandwidth when larger. A shape whose ``stages`` pipeline buffers do not fit the
core's shared memory is not offered. A shape of ``c`` cores (``[m, n, c]``: Blackwell's 2-SM tcgen05 tiles, whose
MMA reads the pair's two shared memories) is ``c`` core tiles of m / c rows, each loading n / c of the B panel.

One tile's cycles are the larger of the array's folds over its K slice (K divided by the unit's rate multiplier
for the op's dtype, :func:`accelsim.hardware.dtype_rate`) and the main loop's memory-latency bound (Little's law:
``stages − 1`` K-stages in flight), plus the thread block's fixed cost, from the model's own quantities: the
prologue waits for its first K-stage, (m + n) × ``k`` operands, one main-memory round trip away (shared-cache plus
main-memory latency) and arriving at the core's share of the shared cache's bandwidth; the epilogue writes the
m × n output tile at that share and waits one shared-cache latency. With split-K each slice's epilogue writes its
fp32 partial tile instead, and a second kernel sums the slices (:func:`reduce_cycles`: cuBLAS's
``splitKreduce_kernel``, one ``kernel_dispatch`` after the last tile), which the emitter runs after the op's last
tiles. The partials are read back from the shared cache only while the cache still holds them: by the LRU rule of
mapping/l2resident.py, when the partials plus the operand bytes the GEMM streams through the cache after its first
wave wrote its partials fit the cache's resident share (:func:`accelsim.cost.resident_bytes`); otherwise the later
waves evict them, they are written back to main memory and the reduction reads them from there
(:func:`partials_cached`). A matrix-vector product (m or n = 1) sums its slices inside the CTA (cuBLAS's GEMV
kernel): neither. Its thread blocks keep no multistage K-stage pipeline in shared memory, so as many sit on a core
as its thread and block limits allow (:func:`gemv_resident`: 16 on an H100), and with several resident one block's
prologue and epilogue run under the others' work: the core takes its tiles' work back to back with one fixed cost
exposed, or its rounds of resident blocks, whichever is longer (:func:`_overlapped`; probe p270: mpnn_qm9's
39,168 batched 1 x 64 by 64 x 64 products paid 297 prologues one after another an SM, 718,234 cycles, now
212,392, set by their HBM bytes). A GEMM tile (one block of K-stages filling the shared memory on h100 / b200)
and a library table's kernel keep every prologue and epilogue exposed. A weight-only quantised GEMM (``dequant``:
the core's vector cycles per weight element) dequantises the tn × k_slice weights of its B panel in each tile,
overlapped with the MMA: the tile's main loop takes the longest of folds, memory latency and that.

These latencies are the SM's view; the engine adds the memory's (each LOAD and STORE completes its level's
latency after its transfer), so a latency-bound GEMM pays the HBM latency on both: docs/architecture.md, "Memory
latency of a GPU GEMM", says why that stays for now.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..hardware import Arch, GemmDispatch, OutputTile, SystolicArray
from ..ir import Gemm
from ..units import time_cycles
from . import folds, resident_bytes

SPLIT_K_MIN = 256  # shortest K slice of a split-K GEMM (cuBLAS splits K only for long reductions)
PARTIAL_BYTES = 4  # split-K partial sums are fp32


class _Terms(NamedTuple):
    """The arch's figures a tile's cost reads, taken once per GEMM (a choice evaluates every shape × split)."""

    tile: OutputTile
    cores: int
    smem: float  # the core's shared memory (bytes)
    l2_latency: int  # the shared cache's latency (cycles); 0 without a cache
    round_trip: int  # shared-cache plus main-memory latency (cycles)
    l2_per_core: float  # the core's share of the shared cache's bandwidth (bytes per cycle); inf: unbounded
    l2_resident: float  # the bytes of the shared cache a tensor can count on (cost.resident_bytes)
    l2_bpc: float  # the shared cache's bandwidth (bytes per cycle); 0 without a cache
    main_bpc: float  # main memory's bandwidth (bytes per cycle)
    dispatch: int  # the device's start of a dependent kernel (cycles; arch.kernel_dispatch)
    gemv_resident: int  # GEMV thread blocks a core holds by its thread and block limits (:func:`gemv_resident`); 0: unknown


def _terms(arch: Arch) -> _Terms:
    tile = arch.core.tile
    assert tile is not None
    main = arch.main_memory
    dispatch = time_cycles(arch.kernel_dispatch, arch.clock_hz)
    gemv = gemv_resident(arch)
    if not arch.caches:
        return _Terms(tile, arch.cores, arch.core.sram.total_bytes, 0, 0, math.inf, 0.0, 0.0,
                      arch.bytes_per_cycle(main), dispatch, gemv)
    l2 = arch.caches[0]
    l2_bpc = arch.bytes_per_cycle(l2)
    return _Terms(tile, arch.cores, arch.core.sram.total_bytes, arch.latency_cycles(l2),
                  arch.latency_cycles(l2) + arch.latency_cycles(main), l2_bpc / arch.cores,
                  resident_bytes(arch, l2), l2_bpc, arch.bytes_per_cycle(main), dispatch, gemv)


# threads of one thread block of cuBLAS's GEMV kernel: the block width its kernels' template arguments name in public
# profiles of strided-batched GEMVs (gemv2T_kernel_val<int, int, __nv_bfloat16, ..., 128, 16, 4, 4, ...,
# cublasGemvTensorStridedBatched<...>> and gemv2N_kernel<..., 128, 16, 4, 4, 1, ...>; read as 128 threads a block)
GEMV_BLOCK_THREADS = 128


def gemv_resident(arch: Arch) -> int:
    """Thread blocks of cuBLAS's GEMV kernel one core holds at once: its resident threads over
    :data:`GEMV_BLOCK_THREADS`, at most its resident blocks (CUDA C++ Programming Guide, "Compute Capabilities":
    2048 threads and 32 blocks an SM on cc 8.0-10.0: 16). A GEMV block keeps no multistage K-stage pipeline of
    tensor-core panels in shared memory (its threads stream the matrix through registers and sum in the CTA), so
    shared memory does not bound it. 0 where the preset gives no thread limit (the GEMM tile's rule stays).
    Only a product cuBLAS's GEMV runs takes it: operands of 16 bits or more (the cuBLAS documentation,
    cublas<t>gemvBatched: S, D, C, Z and the half / bfloat16 HSH, HSS, TST, TSS; no 8-bit GEMV), not a weight-only
    quantised GEMM's dequantising kernel nor a library table's GEMM kernel (:func:`dispatched`)."""
    vu = arch.core.vector
    if vu.resident_threads is None:
        return 0
    return max(1, min(vu.resident_threads // GEMV_BLOCK_THREADS, vu.resident_blocks or vu.resident_threads))


class _Shape(NamedTuple):
    est: float  # estimated cycles of the whole GEMM (the choice's key)
    details: dict


def is_gemv(g: Gemm) -> bool:
    """Whether ``g`` is a matrix-vector product (m or n = 1), which cuBLAS runs as its GEMV kernel (ROCm/rocBLAS
    issue #1238: a GEMM with m or n = 1 "could simply call the GEMV kernel (as cuBLAS does)"): K is split over the
    threads of a CTA and summed there, so its K slices write no partials and need no reduction kernel
    (aiconfigurator's a100_sxm/gemm.csv agrees: m = 1 takes 2.5-4.5 us where m = 8 takes 5.4-8.7 us at the same n
    and k <= 2048)."""
    return g.m == 1 or g.n == 1


def shapes(tile: OutputTile) -> list[tuple[int, int, int]]:
    """The tile shapes a GEMM may use, as ``(m, n, cores)`` (the cores whose MMA computes one tile together: 1,
    or 2 for a 2-SM tile): ``(m, n, 1)`` first, then ``tile.shapes``."""
    first = (tile.m, tile.n, 1)
    listed = ((s[0], s[1], s[2] if len(s) == 3 else 1) for s in tile.shapes)
    return [first, *(s for s in listed if s != first)]


def price(g: Gemm, sa: SystolicArray, arch: Arch, elem: int = 2, rate: float = 1.0,
          dequant: float = 0.0, b_elem: float | None = None, c_elem: float | None = None,
          dtype: str | None = None, b_held: bool = False) -> tuple[int, dict]:
    """Cycles of all of ``g``'s output tiles (tiles × splits × cycles of one tile) and the tiling details, for
    the tile shape and split-K the library would take (:func:`choose`); ``rate`` multiplies the array's MACs per
    clock; ``dequant`` is the vector cycles per weight element of a weight-only quantised GEMM, ``b_elem`` the
    bytes per element of its B operand (the weights) as stored (packed int4: ½ plus the group scales; default
    ``elem``): the K-stages, prologue and B panels move those bytes; ``c_elem`` the bytes per output element
    (default ``elem``; an fp8 GEMM of vLLM's writes bf16). With split-K the cycles include the
    reduction kernel's (``details["reduce_cycles"]``, which the emitter runs after the op's last tiles). ``dtype``
    (the op's compute dtype) looks up the preset's chosen library table (:func:`dispatched`). ``b_held``: B (the
    weights) is already held in the cores, as a persistent RNN kernel keeps a recurrent layer's weights in its SMs'
    registers and shared memory across time steps (mapping/choice.py's pinned weights): the tiles' K-stages,
    prologue and panels move A alone (B at 0 bytes an element; ``details["b_held"]``)."""
    d = choose(g, sa, arch, elem, rate, dequant, 0 if b_held else b_elem, c_elem, dtype).details
    if b_held:
        d = {**{k: v for k, v in d.items() if k != "b_bytes_per_element"}, "b_held": True}
    return d["output_tiles"] * d["tile_cycles"] + d.get("reduce_cycles", 0), d


def choose(g: Gemm, sa: SystolicArray, arch: Arch, elem: int, rate: float, dequant: float = 0.0,
           b_elem: float | None = None, c_elem: float | None = None, dtype: str | None = None) -> _Shape:
    """The largest tile shape whose unpadded work fills every core with at least one full tile (more reuse per
    tile: nv_matmul_guide), with its fastest split-K; when no shape fills the cores, the fastest shape and split-K.
    A tile's size here is the rows and columns of it the GEMM has (min(tile, m) x min(tile, n): a tile taller than
    m is priced at m rows), and the cores are filled when m·n·count >= cores x that size (an edge tile's padding
    counts for nothing: the guide's tile quantization); equal sizes go to the smaller, less padded tile (a 128 x 256
    tile on n = 64 does 128 x 128's useful work with 192 padded columns and, its K-stages sized for a 256-wide B
    panel, fewer stages in flight: probe p150 #1), then the listed order.
    Shapes whose ``stages`` K-stages do not fit the core's shared memory are not offered (the default shape always
    is). A GEMM
    the preset's chosen library dispatches itself (``core.tile.library``) runs that library's tile instead
    (:func:`dispatched`)."""
    t = _terms(arch)
    tile = t.tile
    be = elem if b_elem is None else b_elem
    elems = (elem, be, elem if c_elem is None else c_elem)
    line = tile.dispatch(dtype, g.m, g.n, g.k) if not dequant else None
    if line is not None:
        return dispatched(g, sa, t, line, elems, rate)
    offered = [s for i, s in enumerate(shapes(tile))
               if i == 0 or (stages(t, s[0] // s[2], s[1] / s[2], (elem, be)) >= 2 and _cluster_fits(g, s))]
    def useful(s: tuple[int, int, int]) -> int:  # the rows and columns of a tile the GEMM has (as _shape prices it)
        return min(s[0], g.m) * min(s[1], g.n)

    # equal useful work: the less padded (smaller) tile, whose extra rows or columns would be padding with no reuse
    # and whose smaller K-stages keep more of them in flight; stable: listed order among equal areas
    for s in sorted(offered, key=lambda s: (-useful(s), s[0] * s[1])):
        if g.count * g.m * g.n * s[2] >= t.cores * useful(s):  # its unpadded work: a full tile a core
            return _fastest_split(g, sa, t, s, elems, rate, dequant)
    return min((_fastest_split(g, sa, t, s, elems, rate, dequant) for s in offered), key=lambda s: s.est)


def _cluster_fits(g: Gemm, s: tuple[int, int, int]) -> bool:
    """Whether a tile of ``s[2]`` cores gives each of them some of ``g``'s rows: a 2-SM tile's pair splits its M
    between the two SMs (a ``tcgen05.mma.cta_group::2`` MMA reads each CTA's own A rows from its own shared memory
    and half of B from each: NVIDIA's PTX ISA, tcgen05 "CTA pair"; b200.yaml's cutlass_sm100_shapes note, "each
    holding half its rows of A and half its columns of B"), so an m within one core's share of the tile's rows
    (m <= tile rows / c x (c - 1)) leaves the other core only padding (a GEMV's one row twice, 224 CTAs for 112
    column blocks: probe p105 #2). A matrix-vector product is cuBLAS's GEMV kernel of one-SM CTAs
    (:func:`is_gemv`): no cluster tile either."""
    tm0, _, c = s
    return c == 1 or (not is_gemv(g) and g.m > tm0 // c * (c - 1))


def dispatched(g: Gemm, sa: SystolicArray, t: _Terms, line: GemmDispatch, elems: tuple[int, float, float],
               rate: float) -> _Shape:
    """``g`` as a library's fixed configuration runs it (a :class:`accelsim.hardware.GemmDispatch` line): its one
    tile shape over all of K (no split-K) in waves over the cores, priced as every tile is (:func:`_shape`). A
    swapped kernel (``swap_ab``) computes the transposed product: its tile's rows run over n and the operands trade
    places (A: the weights, B: the activations); the details give the tile in the GEMM's own orientation (m, n),
    so the traffic of its panels reads as for any tile."""
    elem, be, ce = elems
    if not line.swap_ab:
        s = _shape(g, sa, t, (*line.tile, 1), elems, rate, 1, library=True)
        return _Shape(s.est, {**s.details, "library_tile": list(line.tile)})
    s = _shape(Gemm(g.n, g.m, g.k, g.count), sa, t, (*line.tile, 1), (be, elem, ce), rate, 1, library=True)
    d = {k: v for k, v in s.details.items() if k != "b_bytes_per_element"}
    d["tile"] = d["tile"][::-1]
    if be != elem:
        d["b_bytes_per_element"] = be
    return _Shape(s.est, {**d, "library_tile": list(line.tile), "swap_ab": True})


STAGE_BARRIER_BYTES = 32  # CUTLASS sm90 compute_stage_count_or_override: 32 bytes of barriers per stage


def stages(t: _Terms, tm: int, tn: float, elems: tuple[float, float]) -> int:
    """K-stages a core computing ``tm`` rows of a tile, loading ``tn`` of its B columns, keeps in shared memory:
    the preset's ``tile.stages`` when they fit (else 0: the shape is not offered), or with ``tile.stage_carveout``
    CUTLASS 3.x's StageCountAutoCarveout (NVIDIA/cutlass include/cutlass/gemm/collective/builders/
    sm90_gmma_builder.inl compute_stage_count_or_override: (shared memory − carveout) / (the stage's A and B panel
    bytes + 32 bytes of barriers), no cap), so a smaller tile keeps more stages in flight."""
    tile = t.tile
    panel = panel_bytes(tm, tn, stage_k(tile, elems[0]), *elems)
    if tile.stage_carveout is None:
        return tile.stages if tile.stages * panel <= t.smem else 0
    return int((t.smem - tile.stage_carveout) // (panel + STAGE_BARRIER_BYTES))


def stage_k(tile: OutputTile, elem: float) -> int:
    """K elements of one K-stage for operands of ``elem`` bytes: ``tile.k`` is given for 16-bit operands, and a
    K-stage keeps its bytes (one 128-byte swizzled row per operand row on Hopper, 64 bytes on Ampere), so 8-bit
    operands take twice the K and 4-bit four times (NVIDIA/cutlass python/cutlass_library/generator.py: the
    SM80 int8/fp8 tiles take K 64 where the 16-bit ones take 32; GenerateSM90_TensorOp_fp8_WGMMA_gemm K 128 where
    16-bit takes 64). 16-bit and wider operands keep ``tile.k``."""
    return tile.k * max(1, round(2 / elem)) if elem < 2 else tile.k


def panel_bytes(tm: int, tn: float, k: int, elem: float, b_elem: float) -> float:
    """Bytes of a ``k``-deep slice of a tile's A panel (``tm`` rows of ``elem`` bytes) and B panel (``tn`` rows of
    ``b_elem``-byte weights)."""
    return k * (tm * elem + tn * b_elem)


def _fastest_split(g: Gemm, sa: SystolicArray, t: _Terms, shape: tuple[int, int, int],
                   elems: tuple[int, float, float], rate: float, dequant: float) -> _Shape:
    """Tile shape ``shape`` with the split-K (1 to K / SPLIT_K_MIN slices) of fewest estimated cycles."""
    best = _shape(g, sa, t, shape, elems, rate, 1, dequant)
    for splits in range(2, g.k // SPLIT_K_MIN + 1):
        s = _shape(g, sa, t, shape, elems, rate, splits, dequant)
        if s.est < best.est:
            best = s
    return best


def _shape(g: Gemm, sa: SystolicArray, t: _Terms, shape: tuple[int, int, int], elems: tuple[int, float, float],
           rate: float, splits: int, dequant: float = 0.0, library: bool = False) -> _Shape:
    """One tile shape and split-K of ``g``: its tiles, one tile's cycles and the GEMM's estimated cycles
    (``elems``: bytes per element of the A operand, of the B operand as stored, and of the output). A tile of
    ``c`` = ``shape[2]`` cores counts as ``c`` tiles of m / c rows each, each core loading n / c of its B panel."""
    elem, be, ce = elems
    tm0, tn0, c = shape
    tm, tn = min(tm0 // c, -(-min(tm0, g.m) // c)), min(tn0, g.n)
    n = g.count * -(-g.m // tm0) * -(-g.n // tn0) * c * splits
    k_slice = -(-g.k // splits)
    f = folds.folds(tm, tn, max(1, math.ceil(k_slice / rate)), sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
    gemv = is_gemv(g)
    fixed = _fixed(t, tm, tn, (elem, be), PARTIAL_BYTES if splits > 1 and not gemv else ce, c)
    dq = math.ceil(tn / c * k_slice * dequant)  # the core's B panel weights expanded in registers, beside the MMA
    gemv_kernel = gemv and not library and not dequant and min(elem, be) >= 2  # cuBLAS's own GEMV (gemv_resident)
    waits = math.ceil(_latency_bound(t, tm0 // c, tn0 / c, k_slice, (elem, be), n, gemv_kernel))
    # a GEMV's blocks hide each other's prologue and epilogue (:func:`_overlapped`); a GEMM tile keeps its own
    resident = _resident(t, tm0 // c, tn0 / c, (elem, be), n, True) if gemv_kernel else 1
    tile_cycles = _overlapped(max(f.cycles + 1, dq), waits, fixed, resident, -(-n // t.cores))
    out_bytes = g.count * g.m * g.n * ce
    operands = g.count * (g.m * g.k * elem + g.k * g.n * be) + out_bytes
    waves = -(-n // t.cores)
    later = after_first_wave(operands, n, t.cores)  # streamed through the cache after the first wave wrote its partials
    reduce = 0 if gemv else _reduce_cycles(t, splits, out_bytes, ce, later)
    details = {"output_tiles": n, "tile": [tm, tn], "tile_cycles": tile_cycles, "fixed_cycles": fixed,
               "split_k": splits, "k_slice": k_slice, **({"reduce_cycles": reduce} if reduce else {}),
               **({"dequant_cycles": dq} if dq else {}), **({"b_bytes_per_element": be} if be != elem else {}),
               **({"c_bytes_per_element": ce} if ce != elem else {}), **({"cluster": c} if c > 1 else {})}
    if resident > 1 and fixed:  # the fixed cycles other resident blocks' work hides (exposed_fixed)
        details["resident_blocks"] = resident
        details["exposed_fixed_cycles"] = tile_cycles - max(f.cycles + 1, dq, waits)
    est = waves * tile_cycles + reduce
    if t.l2_bpc:
        est = max(est, cache_bytes(details, out_bytes, elem) / t.l2_bpc)
    spilled = 0 if not reduce or _cached(t, splits, out_bytes, ce, later) else 2 * partial_bytes(splits, out_bytes, ce)
    est = max(est, (operands + spilled) / t.main_bpc)  # spilled partials: written back, then read by the reduction
    if spilled:  # main memory's bytes of them (mapping/traffic.py adds them to the op's)
        details["spilled_partial_bytes"] = spilled
    return _Shape(est, details)


def after_first_wave(nbytes: int, tiles: int, cores: int) -> int:
    """Of ``nbytes`` a GPU op streams through the cache over its ``tiles`` (waves of ``cores``), the bytes it streams
    after its first wave wrote its first output tiles: nbytes x (waves - 1) / waves (0 in one wave). The LRU
    distance split-K partials (:func:`_cached`) and an op's own output (mapping/l2resident.py) sit under."""
    waves = -(-tiles // cores)
    return nbytes * (waves - 1) // waves if waves else 0


def _depth(t: _Terms, tm: int, tn: float, elems: tuple[float, float]) -> int:
    """K-stages a thread block of ``tm`` x ``tn`` keeps in flight: :func:`stages` under ``stage_carveout``, else
    ``tile.stages``."""
    return stages(t, tm, tn, elems) if t.tile.stage_carveout is not None else t.tile.stages


def _resident(t: _Terms, tm: int, tn: float, elems: tuple[float, float], n: int, gemv: bool = False) -> int:
    """Thread blocks resident on one core at once, at most its share of the ``n`` tiles (⌈n / cores⌉): as many as
    its shared memory holds of their ``stages`` K-stages (CUDA's occupancy rule: a block's shared memory is
    allocated for its lifetime); a GEMV's (:func:`is_gemv`) by the core's thread and block limits instead
    (:func:`gemv_resident`), where the preset gives them."""
    share = -(-n // t.cores)
    if gemv and t.gemv_resident:
        return max(1, min(share, t.gemv_resident))
    stage_bytes = _depth(t, tm, tn, elems) * panel_bytes(tm, tn, stage_k(t.tile, elems[0]), *elems)
    return max(1, min(share, int(t.smem // max(stage_bytes, 1))))


def _latency_bound(t: _Terms, tm: int, tn: float, k_slice: int, elems: tuple[int, float, float], n: int,
                   gemv: bool = False) -> float:
    """Fewest cycles of one tile's main loop when its K-stages wait on main memory: ``stages − 1`` stages in
    flight per thread block (Little's law), ⌈k_slice / k⌉ stages, the thread blocks resident on a core
    (:func:`_resident`: as many as its shared memory holds, at most its share of the tiles) overlapping their
    waits."""
    tile = t.tile
    depth = _depth(t, tm, tn, elems[:2])
    if not t.l2_bpc or depth < 2:
        return 0.0
    k = stage_k(tile, elems[0])
    resident = _resident(t, tm, tn, elems[:2], n, gemv)
    return -(-k_slice // k) * t.round_trip / (depth - 1) / resident


def _overlapped(work: int, waits: int, fixed: int, resident: int, share: int) -> int:
    """One tile's cycles on a core holding ``share`` tiles (⌈tiles / cores⌉) with ``resident`` thread blocks at
    once. A block alone takes max(``work``, its main loop's memory waits) + ``fixed``: its MMA folds or
    dequantisation against its waits (``waits`` is their share with ``resident`` blocks overlapping,
    :func:`_latency_bound`), then its prologue and epilogue, one after another. Blocks resident together interleave
    their warps (CUDA C++ Best Practices Guide, "Occupancy": other warps' instructions hide a warp's memory
    latency), so one block's prologue and epilogue waits run under the others' main loops, while the core's MMA or
    vector units stay one: the core takes the longer of its tiles' work back to back with one fixed cost exposed
    (the first prologue, before any main loop, and the last epilogue, after), share x max(``work``, ``waits``) +
    ``fixed``, and its ⌈share / resident⌉ rounds of blocks that each take a lone block's cycles; a tile's cycles
    are that over ``share``. One block resident: max(``work``, ``waits``) + ``fixed``, every prologue and epilogue
    exposed, as before."""
    alone = max(work, waits * resident) + fixed
    if resident <= 1:
        return alone
    core = max(share * max(work, waits) + fixed, -(-share // resident) * alone)
    return -(-core // share)


def exposed_fixed(details: dict, cores: int) -> int:
    """Of the compute cycles of a GEMM's busiest core (its ⌈tiles / cores⌉ output tiles, one after another), those
    its thread blocks spend in their fixed prologue and epilogue (``fixed_cycles`` a tile, :func:`_fixed`) that no
    other resident block's work hides: W · F with one block resident, W x ``exposed_fixed_cycles`` (the tile's
    cycles beyond its folds and memory waits, :func:`_overlapped`) with several. 0 for a tiling without fixed costs
    (attention's, a library table's)."""
    fixed = details.get("exposed_fixed_cycles", details.get("fixed_cycles", 0))
    if not fixed or "output_tiles" not in details:
        return 0
    return -(-details["output_tiles"] // max(1, cores)) * fixed


def fixed_cycles(arch: Arch, tm: int, tn: int, elem: int, out_elem: float | None = None,
                 b_elem: float | None = None) -> int:
    """One thread block's fixed cycles: the prologue's first K-stage from main memory (its A panel in ``elem``
    bytes, its B panel in ``b_elem`` bytes per weight, default ``elem``) and the epilogue's output tile in
    ``out_elem`` bytes per element (default ``elem``; a split-K slice writes its fp32 partial tile)."""
    return _fixed(_terms(arch), tm, tn, (elem, elem if b_elem is None else b_elem),
                  elem if out_elem is None else out_elem)


def _fixed(t: _Terms, tm: int, tn: int, elems: tuple[float, float], out_elem: float, cluster: int = 1) -> int:
    if not t.l2_bpc or math.isinf(t.l2_per_core):
        return 0
    per_core = t.l2_per_core
    prologue = t.round_trip + panel_bytes(tm, tn / cluster, stage_k(t.tile, elems[0]), *elems) / per_core
    epilogue = t.l2_latency + tm * tn * out_elem / per_core
    return math.ceil(prologue + epilogue)


def reduce_cycles(arch: Arch, splits: int, out_bytes: int, elem: int, later: int = 0) -> int:
    """Cycles of a split-K GEMM's reduction kernel (0 without split-K): cuBLAS runs split-K as two kernels, the
    partitioned GEMM writing each slice's fp32 partial tiles and ``cublasLt::splitKreduce_kernel`` summing them
    into the output (as CUTLASS's parallel split-K: ``GemmSplitKParallel`` then ``ReduceSplitK``; on Blackwell too:
    Dao-AILab/quack#157 traces torch.bmm's cuBLAS split-K on a B200 as ``nvjet_..._splitK_TNT`` then
    ``cublasLt::splitKreduce_kernel``), so the
    reduction starts one ``kernel_dispatch`` after the GEMM ends, waits one latency of the level holding the
    partials (the shared cache while it holds them, :func:`partials_cached`, else main memory) and streams them
    (``splits`` × the output's elements × 4 bytes) at that level's bandwidth, writing the ``out_bytes`` of output
    into the shared cache. ``later``: the bytes the GEMM streams through the cache after its first wave wrote its
    partials."""
    return _reduce_cycles(_terms(arch), splits, out_bytes, elem, later)


def partial_bytes(splits: int, out_bytes: int, elem: float) -> int:
    """Bytes of a split-K GEMM's fp32 partial outputs: ``splits`` × the output's elements × 4."""
    return int(splits * out_bytes // elem * PARTIAL_BYTES)


def partials_cached(arch: Arch, splits: int, out_bytes: int, elem: int, later: int) -> bool:
    """Whether the shared cache still holds a split-K GEMM's partials when its reduction kernel reads them: by the
    LRU rule of mapping/l2resident.py, their stack distance then (the partials themselves plus the ``later`` bytes
    the GEMM streamed through the cache after its first wave wrote its partials: its operands and output times
    (waves − 1) / waves, none in a one-wave GEMM) fits the bytes a tensor can count on (:func:`resident_bytes`)."""
    return _cached(_terms(arch), splits, out_bytes, elem, later)


def _cached(t: _Terms, splits: int, out_bytes: int, elem: float, later: int) -> bool:
    return bool(t.l2_bpc) and partial_bytes(splits, out_bytes, elem) + later <= t.l2_resident


def _reduce_cycles(t: _Terms, splits: int, out_bytes: int, elem: int, later: int = 0) -> int:
    if splits < 2:
        return 0
    partials = partial_bytes(splits, out_bytes, elem)
    if _cached(t, splits, out_bytes, elem, later):
        read = t.l2_latency + partials / t.l2_bpc
    else:
        read = t.round_trip - t.l2_latency + partials / t.main_bpc
    return math.ceil(t.dispatch + read + out_bytes / (t.l2_bpc or t.main_bpc))


def cache_bytes(details: dict, out_bytes: int, elem: int) -> int:
    """Bytes the cores' tiles read from and write to the shared cache: each output tile's A and B panels (B in
    ``details["b_bytes_per_element"]`` when its weights are stored packed), the output (``out_bytes``, of
    ``details["c_bytes_per_element"]`` each where it differs from ``elem``), and with split-K every slice's fp32
    partial tiles written and read back by the reduction kernel (none for a GEMV). B panels held in the cores
    (``details["b_held"]``, :func:`price`) read nothing."""
    tm, tn = details["tile"]
    splits = details["split_k"]
    ce = details.get("c_bytes_per_element", elem)
    partials = 2 * partial_bytes(splits, out_bytes, ce) if details.get("reduce_cycles") else 0  # written, read
    panels = panel_bytes(tm, tn / details.get("cluster", 1), details["k_slice"], elem, _b_elem(details, elem))
    return math.ceil(details["output_tiles"] * panels) + out_bytes + partials


def operand_cache_bytes(details: dict, elem: int) -> tuple[int, int]:
    """Of :func:`cache_bytes`, the A panels' and the B panels' bytes: what the cores' tiles ask of the shared cache
    for each operand (each rounded up to a byte)."""
    tm, tn = details["tile"]
    tiles, k = details["output_tiles"], details["k_slice"]
    b = panel_bytes(0, tn / details.get("cluster", 1), k, elem, _b_elem(details, elem))
    return math.ceil(tiles * panel_bytes(tm, 0, k, elem, elem)), math.ceil(tiles * b)


def smem_bytes(details: dict, g: Gemm, elem: int) -> int:
    """Bytes a GEMM's thread blocks read from and write to their cores' shared memory, the fills aside: each output
    tile's MMAs read its A and B panels (``k_slice`` deep: :func:`operand_cache_bytes`) once from the K-stages the
    fills wrote, and its epilogue stages the tile's output through shared memory once (the output's elements,
    ``c_bytes_per_element`` each; with split-K every slice's fp32 partial tile). The fills (the panels the K-stages
    load, the output drained) are the shared cache's bytes, which mapping/traffic.py adds to the scratchpad's.
    Per CTA tile, not per fold of the core's MMA array: the array's fold reuse would re-read the panels once per
    fold (probe p127 #1: 51.7e9 B against the 12.9e9 B of a 8192³ bf16 GEMM's 128 × 256 tiles on h100)."""
    pa, pb = operand_cache_bytes(details, elem)
    out = g.count * g.m * g.n * details.get("c_bytes_per_element", elem)
    if details.get("reduce_cycles"):
        out = partial_bytes(details["split_k"], out, details.get("c_bytes_per_element", elem))
    return pa + pb + math.ceil(out)


def _b_elem(details: dict, elem: int) -> float:
    """Bytes a tile's B panel reads an element from the shared cache: none when B is held in the cores
    (``b_held``), else its stored width (``b_bytes_per_element``, default ``elem``)."""
    return 0 if details.get("b_held") else details.get("b_bytes_per_element", elem)
