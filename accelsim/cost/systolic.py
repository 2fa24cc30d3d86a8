"""Unit kind ``systolic``: matmul-family ops (linear, matmul, conv, fused attention) on a systolic array.

Compute cycles are SCALE-Sim's (:mod:`.folds`) for each GEMM's ``count`` run one after another (with
``preload_overlap`` the batch's folds pipeline, fill and drain once per GEMM shape: :func:`.folds.run_cycles`; a
fused attention's QKᵀ and PV are two such runs; a causal one, and its backward, runs only its blocks at or below the diagonal,
:func:`.attention.systolic_causal`, each run's GEMMs one pipeline: :func:`walk_cycles`), divided by the array's rate
multiplier for the op's compute dtype (``SystolicArray.rates``, :func:`accelsim.hardware.dtype_rate`); on a GPU-like core (``core.tile``)
a GEMM is priced as thread-block tiles in waves (:mod:`.gpu_tiles`); a fused attention adds its PV GEMM and
overlaps its softmax (:mod:`.attention`). A linear whose weights are stored narrower than its compute dtype
(``attrs["dequant"]``, set by :mod:`accelsim.builders.precision`) dequantises them on the core's vector lanes
overlapped with the array (:func:`dequant_cycles`). The SRAM bytes the array reads and writes follow the dataflow: the
stationary operand once, the one streamed along rows once per column fold, the one along columns once per row
fold; an output streamed once per K fold (ws, is) is written as a partial sum at the accumulator's width but the
last time, and read back to be added to on every fold but the first (:func:`sram_operand_bytes`). A GEMM on a GPU-like core counts them per CTA output tile of its kernel instead
(:func:`.gpu_tiles.smem_bytes`: each tile's A and B panels read from shared memory once, its output written once).
"""

from __future__ import annotations

import math

from ..hardware import Arch, SystolicArray, dtype_rate
from ..ir import Gemm, Op, OpKind
from ..units import FAST_FP32, dtype_bytes, element_bytes, mma_passes
from . import Priced, attention, folds, gpu_tiles

PRICES_DTYPE = True  # price() applies the unit's per-dtype rate itself (pricing scales the other kinds' cycles)
DEQUANT_LANE_CYCLES = 2.0
"""Vector lane-cycles (FLOP slots) to dequantise one weight: one FMA, q · scale + offset (the int4/int8 unpack
runs on the integer pipe beside it); an arch overrides it with ``core.vector.cycles_per_element.dequantize``."""


def accepts(op: Op) -> int | None:
    """Matmul-family ops."""
    return 1 if op.kind.is_matmul else None


def macs_per_cycle(spec: SystolicArray) -> int:
    """MACs per cycle of one array."""
    return spec.rows * spec.cols


def _rate(op: Op, sa: SystolicArray, arch: Arch) -> tuple[float, dict]:
    """The array's rate multiplier for ``op`` and report.json's ``mapping.rate``. An array without rates runs every
    dtype at rows x cols (1.0), as the arch's dtype (accelsim info's "(as int8)" on edge-npu), whose MAC energy it
    pays (probe p66: a bf16 GEMM ran at int8 speed but paid bf16's 4.9x pJ); fp32 emulated on TF32 tensor cores
    (units.FAST_FP32: 3xTF32) runs at a third of the TF32 rate: an op marked ``fast_fp32``, and PyTorch's fp32 SDPA
    that FlashAttention cannot run on an NVIDIA GPU (:func:`.attention.sdpa_fast_fp32`), which computes as that
    dtype (its record's ``dtype``)."""
    fast = bool(op.attrs.get("fast_fp32"))
    dtype = attention.gemm_dtype(op, arch)  # an unfused attention GEMM over an int8 / int4 cache on a GPU: 16-bit
    if op.kind is OpKind.ATTENTION and not fast and attention.sdpa_fast_fp32(op, arch):
        fast, dtype = True, FAST_FP32[0]
    runs_as, rate = sa.rate(dtype, arch.dtype)
    record: dict = {"dtype": dtype, "runs_as": runs_as, "multiplier": rate}
    passes = mma_passes(fast, runs_as)
    if passes > 1:
        rate /= passes
        record["passes"] = passes
    return rate, record


def price(op: Op, sa: SystolicArray, arch: Arch) -> Priced:
    """Compute cycles of ``op`` on one array and the mapping details of report.json."""
    fused = op.kind is OpKind.ATTENTION
    unfit = None  # why the GPU's FlashAttention kernel cannot run the op (then it is priced as below)
    if fused and op.attrs.get("score_terms") and (attention.flash(op, arch)
                                                  or attention.flash(op, arch, "attention_grad")):
        raise attention.bias_refused(op, arch)  # a GPU's kernel for a bias is not modelled (probe p133 #1)
    if fused and attention.flash(op, arch):  # a GPU: FlashAttention CTAs (cost/attention.py)
        unfit = attention.unsupported(op, arch)
        if unfit is None:
            return attention.price(op, sa, arch)
    if fused and attention.flash(op, arch, "attention_grad"):  # its backward kernel, from the forward's model
        unfit = attention.unsupported(op, arch, backward=True)
        if unfit is None:
            return attention.price_backward(op, sa, arch)
    # a causal fused attention off a GPU, and on one whose FlashAttention kernel cannot run it (``unfit``: this
    # model stands in for the kernel it falls back to, Composable Kernel's fmha_fwd on AMD, which skips the masked
    # tiles too: ck_tile block_masking.hpp GetTileRangeAlongX), runs only the blocks at or below the diagonal, each
    # one array tile (attention.systolic_causal; probe p175 #1)
    walk = attention.systolic_causal(op, sa) if fused and (arch.core.tile is None or unfit is not None) else None
    # off a GPU a GQA group's query heads are the rows of its KV head's GEMMs, unless walked per head (probe p116 #1)
    gemms = attention.gemms(op, pack=arch.core.tile is None and walk is None) if fused else [op.gemm]
    sparsity = None if fused else op.sparsity
    k_run = sa.executed_k(sparsity, op.gemm.k, op.dtype)  # type: ignore[union-attr]
    fs = [folds.folds(g.m, g.n, g.k if fused else k_run, sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
          for g in gemms]
    ran = walk.qk + walk.pv if walk else gemms
    ran_folds = [folds.folds(g.m, g.n, g.k, sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
                 for g in ran] if walk else fs
    if walk:  # QKᵀ's GEMMs, then PV's: two runs, as the full square's two
        n = len(walk.qk)
        cycles = (walk_cycles(walk.qk, ran_folds[:n], sa.preload_overlap)
                  + walk_cycles(walk.pv, ran_folds[n:], sa.preload_overlap))
    else:
        cycles = sum(folds.run_cycles(f, g.count, sa.preload_overlap) for g, f in zip(ran, ran_folds, strict=True))
    details = {"dataflow": sa.dataflow, "array": f"{sa.rows}x{sa.cols}",
               "gemm": [[g.m, g.n, g.k, g.count] for g in gemms] if fused else
               [op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count],
               "folds": [[f.rows, f.cols] for f in fs] if fused else [fs[0].rows, fs[0].cols],
               "fold_cycles": fs[0].fold_cycles,
               "mapping_efficiency": round(fs[0].mapping_efficiency, 6),
               "sram_operand_bytes": sum(sram_operand_bytes(g, f, sa.dataflow, op.elem_bytes, None if fused else k_run,
                                                            *_output_widths(op, arch), b_in_sram=_b_in_sram(op, arch))
                                         for g, f in zip(ran, ran_folds, strict=True))}
    details.update(_partial_sums_apart(op, sa, arch, ran, ran_folds, details["sram_operand_bytes"]))
    if fused:  # as a GPU kernel's details give them (probe p28): whether it skipped blocks, the MACs it ran
        details["causal"], details["mac_fraction"] = walk is not None, walk.mac_fraction if walk else 1.0
    if walk:  # gemm and folds above are the op's full square; these are what the kernel ran
        details["causal_walk"] = {"order": walk.order, "block": list(walk.block), "gemms": 2 * n,
                                  "folds": [sum(f.rows * f.cols for f in ran_folds[:n]),
                                            sum(f.rows * f.cols for f in ran_folds[n:])]}
    if sparsity is not None:
        details["sparsity"] = {"pattern": str(sparsity), "k": op.gemm.k, "executed_k": k_run,  # type: ignore[union-attr]
                               "skips_zeros": k_run != op.gemm.k}  # type: ignore[union-attr]
    rate, details["rate"] = _rate(op, sa, arch)
    dq = dequant_cycles(op, arch)
    if arch.core.tile is not None and not fused:
        cycles, tiled = gpu_gemm(op, sa, arch)
        details.update(tiled)
        # its CTAs read each tile's panels from shared memory once, not once per fold of the MMA array
        # (A at the run-as width where the MMAs run the op as a wider dtype: run_as_operands)
        details["sram_operand_bytes"] = gpu_tiles.smem_bytes(tiled, op.gemm,  # type: ignore[arg-type]
                                                             tiled.get("a_bytes_per_element",
                                                                       element_bytes(details["rate"]["dtype"])))
        details.update(_kv_dequant(op, details["rate"]["dtype"], tiled))
    else:
        if rate != 1.0:
            cycles = max(1, math.ceil(cycles / rate))
        if dq:  # each weight expanded once as it enters the core, overlapped with the array
            details["dequant_cycles"] = math.ceil(op.gemm.count * k_run * op.gemm.n * dq)
            cycles = max(cycles, details["dequant_cycles"])
    if fused:
        soft = attention.softmax_cycles(op, arch, attention.visited_scores(op, walk) if walk else None)
        details["softmax_cycles"] = soft
        # one array's work against the core's one vector unit: an op split over the core's arrays keeps the bound
        # per core, each array at least the softmax of its core's share (mapping.traffic._unit_pricing), not this
        # bound's share
        cycles = max(cycles, soft)
    if unfit is not None:  # the kernel the op's caller would get instead is not modelled: this fused model stands in
        details["flash_unsupported"] = f"{attention.kernel(op, arch).name}: {unfit}"
    return Priced(cycles, details)


def gpu_gemm(op: Op, sa: SystolicArray, arch: Arch, b_held: bool = False) -> tuple[int, dict]:
    """A GEMM on a GPU-like core (``core.tile``): :func:`.gpu_tiles.price`'s cycles and tiling details.
    ``b_held``: its weights stay in the cores from an earlier step (mapping/choice.py's pinned recurrent
    weights), so its tiles load A alone."""
    g = op.gemm
    k_run = sa.executed_k(op.sparsity, g.k, op.dtype)  # type: ignore[union-attr]
    dtype = attention.gemm_dtype(op, arch)
    rate = sa.rate(dtype, arch.dtype)[1]
    if dtype != op.dtype:  # an unfused attention GEMM over an int8 / int4 KV cache: A (Q, P) in the 16-bit dtype,
        per, width = attention.dequant_lane_cost(dtype, arch)  # B (K, V) read at the cache's width and dequantised
        return gpu_tiles.price(g, sa, arch, dtype_bytes(dtype), rate, per / width,  # type: ignore[arg-type]
                               op.elem_bytes, element_bytes(op.out_dtype), dtype, b_held)
    # a sparse tensor core runs the kept K at its dense MMA rate: the dense K at k / k_run that rate, reading
    # the dense activations and the compressed weights (weight_bytes_per_element)
    # (its dequantisation expands the kept weights only: per dense weight, k_run / k of one)
    # A (and an activation B, and the output) at their packed width with block scales, fp4 0.5625 B an element as
    # the HBM bytes count them (units.element_bytes; probe p274 #2: fp4 A panels had streamed at a byte); weights
    # of the op's own dtype at the byte an element Weight.nbytes stores them in (an int4 / fp4 CNN's)
    b_elem = _stored_b(op)
    a_elem, c_elem, dq = element_bytes(op.dtype), element_bytes(op.out_dtype), dequant_cycles(op, arch)
    wide = run_as_operands(op, sa, arch)
    if wide is not None:  # operands on chip at the run-as dtype's width (probe p282 #1), its output written in it
        a_elem, b_elem, dq = wide
        c_elem = max(c_elem, a_elem)
    kernel = weight_only_kernel(op, sa, arch)
    mma = sa
    if kernel == "marlin":  # Marlin's MMAs are warp-level mma.sync: the array's warp_mma share of its peak, in m16 rows
        rate *= sa.warp_mma
        mma = marlin_array(sa, g.m)  # type: ignore[union-attr]
    cycles, tiled = gpu_tiles.price(g, mma, arch, a_elem, rate * g.k / k_run,  # type: ignore[arg-type]
                                    dq * k_run / g.k,  # type: ignore[union-attr]
                                    b_elem, c_elem, op.dtype, b_held)
    if mma is not sa:
        tiled = {**tiled, "mma_array": [mma.rows, mma.cols]}
    if wide is not None:
        tiled = {**tiled, "a_bytes_per_element": a_elem,
                 "run_as_kernel": "emulation" if kernel is None else "weight_only"}
    if kernel is not None:
        tiled = {**tiled, "weight_only_kernel": kernel}
    return cycles, tiled


MARLIN_M = 16
"""Rows of M one Marlin MMA block covers: vLLM's Marlin kernels (vllm-project/vllm
csrc/quantization/gptq_marlin/gptq_marlin.cu @02809364) multiply with ``mma.sync.aligned.m16n8k16`` and pad a GEMM's
M to 16-row blocks (``tot_m_blocks = div_ceil(tot_m, 16)``; ``thread_m_blocks``, "number of 16x16 blocks in the m
dimension (batchsize) of the threadblock", 1 to ``max_m_blocks`` 4: a thread block covers 16 to 64 rows)."""


def marlin_array(sa: SystolicArray, m: int) -> SystolicArray:
    """The array as Marlin's warps fill it for a GEMM of ``m`` rows: as many rows as its 16-row MMA blocks cover
    (:data:`MARLIN_M` x ⌈m / 16⌉, at most the array's own), the array's other MACs running more output columns
    (rows x cols MACs a clock kept). Each warp's mma.sync m16n8k16 runs on its own SM sub-partition's tensor core, so
    a 1-token GEMV pads 16 rows, not the 64 of Hopper's warpgroup wgmma that the array's rows stand for (h100 64 x 32
    is 16 x 128 here). A GEMM of at least the array's rows, or an array whose MACs do not divide so, keeps ``sa``."""
    rows = min(sa.rows, MARLIN_M * -(-m // MARLIN_M))
    if rows == sa.rows or sa.rows * sa.cols % rows:
        return sa
    return sa.model_copy(update={"rows": rows, "cols": sa.rows * sa.cols // rows})


def _stored_b(op: Op) -> float | None:
    """Bytes per element of ``op``'s B operand as stored where they differ from its A operand's: packed weights
    (:func:`weight_bytes_per_element`), or weights of the op's own dtype at the byte an element ``Weight.nbytes``
    stores them in (an int4 / fp4 CNN's); None: A's width."""
    b_elem = weight_bytes_per_element(op)
    if b_elem is None and op.weights and element_bytes(op.dtype) != op.elem_bytes:
        b_elem = op.elem_bytes
    return b_elem


def run_as_operands(op: Op, sa: SystolicArray, arch: Arch) -> tuple[int, float, float] | None:
    """(A's bytes an element, B's, the vector cycles per weight element dequantising B) of a GPU GEMM whose dtype
    the array runs at a wider dtype's rate (``SystolicArray.rate``'s runs_as: fp4 at bf16's on h100 / l40s /
    mi300x, fp8 at bf16's on an A100), or None (it runs at its own width). Its kernel feeds the MMAs operands of
    the run-as dtype, so on chip (shared memory, the tile's K-stages, the shared cache's panel reads) A travels at
    that width. A dtype the arch emulates (``core.systolic.emulated``: vLLM's MXFP4 on gfx942 dequantises the
    weights and quantise-dequantises the activations, then a 16-bit matmul) has B at that width too and no
    dequantisation in the GEMM (its separate passes are not modelled); any other, a linear's, runs vLLM's weight-only
    Marlin kernel (FP4 Marlin below sm100, FP8 Marlin on Ampere: weights packed in memory and shared memory,
    dequantised in registers beside the MMAs), B at its stored width plus the dequantisation cycles of an
    ``attrs["dequant"]`` weight-only GEMM. Main memory still holds each tensor at its own width (mapping/traffic.py),
    so a decode GEMV reads fp4 weights at ½ B plus scales. int4 at the int8 rate keeps its bytes: int8 is no wider
    than the byte an int4 activation takes, and QServe's W4A8 GEMM keeps its weights int4 until registers."""
    runs_as = _runs_wider(op, sa, arch)
    if runs_as is None:
        return None
    wide = dtype_bytes(runs_as)
    if op.dtype in sa.emulated or not op.weights:
        return wide, wide, 0.0
    return wide, _stored_b(op) or element_bytes(op.dtype), dequant_cycles(op, arch, runs_as)


def _runs_wider(op: Op, sa: SystolicArray, arch: Arch) -> str | None:
    """The wider dtype a GPU-like core's array runs ``op``'s dtype as (``SystolicArray.rate``'s runs_as, wider than
    the op's elements: fp4 at bf16's on h100, fp8 at bf16's on an A100), or None."""
    if not sa.rates or not arch.core.tile:
        return None
    runs_as = sa.rate(op.dtype, arch.dtype)[0]
    return None if runs_as == op.dtype or dtype_bytes(runs_as) <= element_bytes(op.dtype) else runs_as


def weight_only_kernel(op: Op, sa: SystolicArray, arch: Arch) -> str | None:
    """Which kernel runs a GPU GEMM that dequantises its packed weights in registers beside the MMAs: ``"peak"``
    (one at the array's peak MMAs) or ``"marlin"`` (Marlin's warp-level mma.sync, at ``warp_mma`` of the peak); None
    where the GEMM is no such GEMM (weights in the compute dtype, no weights, a dtype the arch emulates, off a
    GPU-like core). Its weights' dtype is the weight-only GEMM's ``attrs["dequant"]`` (W4A16: ``weight_dtype``) or
    the op's own where the array runs it at a wider dtype's rate (W4A4 fp4 on h100: :func:`run_as_operands`), so
    both forms of one checkpoint get one kernel. It is ``"peak"`` where the array lists that dtype in
    ``peak_weight_only`` (``peak_expert_weight_only`` for a MoE's experts, ``attrs["experts"]`` or
    ``["idle_experts"]``): vLLM's choose_mp_linear_kernel takes Machete (wgmma, sm90 only) for int4 / int8 weights on
    Hopper and MarlinLinearKernel elsewhere; FP4 Marlin runs NVFP4 weights below sm100 and FP8 Marlin fp8 weights
    below sm89 (each preset's yaml cites the source)."""
    if not arch.core.tile or not op.weights:
        return None
    stored = op.attrs.get("dequant")
    if stored is None:
        if _runs_wider(op, sa, arch) is None or op.dtype in sa.emulated:
            return None
        stored = op.dtype
    expert = "experts" in op.attrs or "idle_experts" in op.attrs
    return "peak" if stored in (sa.peak_expert_weight_only if expert else sa.peak_weight_only) else "marlin"


def takes_wide_activations(op: Op, sa: SystolicArray, arch: Arch) -> bool:
    """Whether ``op`` is a GPU GEMM whose dtype the array runs at a wider dtype's rate as a weight-only kernel
    (:func:`weight_only_kernel`: FP8 Marlin on an A100, FP4 Marlin below sm100), which reads its activations in the
    16-bit dtype, quantising none (vLLM: "W8A16 (weight-only FP8)"; NVFP4 Marlin "weight-only FP4")."""
    return _runs_wider(op, sa, arch) is not None and weight_only_kernel(op, sa, arch) is not None



def _partial_sums_apart(op: Op, sa: SystolicArray, arch: Arch, ran: list[Gemm], ran_folds: list[folds.Folds],
                        sram: int) -> dict[str, int]:
    """Where the core keeps the array's partial sums in an SRAM of their own (``core.systolic.accumulator_sram``:
    TPU v1's; not on a GPU's tiles), the scratchpad's operand bytes without them and their bytes in that SRAM
    (:func:`partial_sum_bytes`, :func:`accumulator_bytes`) over the GEMMs the array ran; else {}."""
    if arch.partial_sum_sram() is None or arch.core.tile is not None:
        return {}
    pairs = list(zip(ran, ran_folds, strict=True))
    psum = _output_widths(op, arch)[0] or op.elem_bytes
    return {"sram_operand_bytes": sram - sum(partial_sum_bytes(g, f, sa.dataflow, psum) for g, f in pairs),
            "accumulator_bytes": sum(accumulator_bytes(g, f, sa.dataflow, psum) for g, f in pairs)}

def walk_cycles(gemms: list[Gemm], fs: list[folds.Folds], overlap: bool) -> int:
    """Compute cycles of ``gemms`` (mappings ``fs``) run one after another on one array as one run: without
    ``overlap`` each GEMM's ``count`` are SCALE-Sim layers (:func:`.folds.run_cycles`); with it every GEMM's folds
    are more folds of one pipeline, the first preload and the last skew and drain paid once (the next GEMM's
    first stationary tile preloads while this one's last fold streams, as within a GEMM): Σ count·F·max(T, R) −
    max(T_l, R) + T_l + R + R + C − 3, T_l the last GEMM's streamed rows (ws, is; os, whose folds drain R cycles
    of outputs and preload nothing: Σ count·F·max(T, R) − max(T_l, R) + T_l + R + C − 3). The last GEMM's
    mapping gives that remainder: its cycles less its F folds of max(T, R)."""
    if not overlap:
        return sum(folds.run_cycles(f, g.count, False) for g, f in zip(gemms, fs, strict=True))
    steady = sum(g.count * f.rows * f.cols * f.fold_cycles for g, f in zip(gemms, fs, strict=True))
    return steady + fs[-1].cycles - fs[-1].rows * fs[-1].cols * fs[-1].fold_cycles


def weight_bytes_per_element(op: Op) -> float | None:
    """Bytes per weight element of a GEMM whose weights are stored packed (a weight-only quantised GEMM's int4, or
    the 4-bit weights of an fp4 / int4 GEMM: ½ plus one scale per group, :func:`accelsim.units.packed_bytes`);
    None when they are stored as the compute dtype's elements."""
    if not op.weights or (op.weights[0].dtype is None and not op.weights[0].group_size and not op.weights[0].nnz):
        return None
    w = op.weights[0]
    per = w.nbytes(op.dtype) / w.numel  # a compressed N:M weight: its kept elements and their indices
    return None if per == element_bytes(op.dtype) and not op.attrs.get("dequant") else per


def dequant_cycles(op: Op, arch: Arch, runs_as: str | None = None) -> float:
    """Cycles one core's vector unit takes per weight element to dequantise ``op``'s weights (0: stored in the
    compute dtype): :data:`DEQUANT_LANE_CYCLES` (or the arch's ``dequantize`` cost) over its lanes at the rate of
    the op's compute dtype. The GEMM overlaps it with the array (weight-only kernels dequantise in registers).
    ``runs_as``: the wider dtype a weight-only kernel dequantises them to (:func:`run_as_operands`), whose lane
    rate applies, whether or not the op is marked ``dequant``."""
    if not op.attrs.get("dequant") and runs_as is None:
        return 0.0
    vu = arch.core.vector
    _, rate = dtype_rate(vu.rates, runs_as or op.dtype)
    return vu.cycles_per_element.get("dequantize", DEQUANT_LANE_CYCLES) / (vu.lanes * rate)


def _output_widths(op: Op, arch: Arch) -> tuple[int | None, int | None]:
    """(bytes of a partial sum, bytes of a finished output element) for :func:`sram_operand_bytes`: the core's
    accumulator width (:meth:`~accelsim.hardware.Core.partial_sum_bytes`) and the output dtype's; (None, None)
    (every term at the input width) for a fused attention, whose QKᵀ output is its scores, and on a core with GPU
    output tiles (``core.tile``), whose partial sums stay in registers."""
    if op.kind is OpKind.ATTENTION or arch.core.tile is not None:
        return None, None
    return arch.core.partial_sum_bytes(op.out_dtype), dtype_bytes(op.out_dtype)


def _kv_dequant(op: Op, runs: str, tiled: dict) -> dict:
    """The details of a GPU GEMM that runs as ``runs`` over a KV cache it dequantises on read (an unfused attention's
    scores / context over an int8 / int4 cache, :func:`.attention.gemm_dtype`): the cache's dtype and
    DEQUANT_FLOPS an element of K or V as the cache stores it, once (the fused kernel's count), not once a query
    head and an output tile (probe p262 #3); none for any other GEMM."""
    if runs == op.dtype or "dequant_cycles" not in tiled:
        return {}
    return {"kv_dequant": op.dtype, "dequant_flops": attention.DEQUANT_FLOPS * attention.kv_elements(op)}


def _b_in_sram(op: Op, arch: Arch) -> bool:
    """Whether the array reads ``op``'s B operand from the scratchpad: not where B is a parameter (a linear's or
    conv's weights, ``op.weights``) and the scratchpad holds activations only (``core.sram.holds: activations``:
    TPU v1's weights reach the array from the DDR3 weight memory through the weight FIFO, Jouppi et al. ISCA 2017
    Fig. 1, never through the unified buffer; probe p253 #3)."""
    return not (op.weights and op.kind is not OpKind.ATTENTION and arch.core.sram.holds == "activations")


def _output_passes(f: folds.Folds, dataflow: str) -> int:
    """How many times the array streams each output element out: once per K fold, F_r, on ws and is; 0 on os,
    whose PEs hold the partial sums until the output is done."""
    df = folds.DATAFLOWS[dataflow]
    if {"m", "n"} == {df.spatial_rows, df.spatial_cols}:
        return 0
    return f.cols if {"m", "n"} == {df.spatial_rows, df.temporal} else f.rows


def partial_sum_bytes(g: Gemm, f: folds.Folds, dataflow: str, psum: int) -> int:
    """Of :func:`sram_operand_bytes`, the partial sums' reads and writes: the output streamed once per K fold (ws,
    is) is written ``psum`` bytes wide on every fold but its last and read back on every fold but its first,
    2 · (F_r − 1) · M · N · psum bytes × count; 0 for os (its PEs hold them). The scratchpad's convention, where
    the last fold writes the finished element to the scratchpad itself (:func:`accumulator_bytes` is the count
    where the partial sums live in an SRAM of their own)."""
    return g.m * g.n * 2 * max(_output_passes(f, dataflow) - 1, 0) * psum * g.count


def accumulator_bytes(g: Gemm, f: folds.Folds, dataflow: str, psum: int) -> int:
    """Bytes of an accumulator SRAM of the core's own (``core.systolic.accumulator_sram``: TPU v1's 4 MiB of
    Accumulators, Jouppi et al. ISCA 2017 Fig. 1) for one GEMM on a ws / is array: every one of the F_r K folds
    writes its M · N sums there, ``psum`` bytes wide, and the sums are read F_r times, F_r − 1 times by the next
    fold's read-modify-write and once by the unit that takes the finished sums out (TPU v1's activation unit:
    "Activate ... Its inputs are the Accumulators, and its output is the Unified Buffer", Sec. 2), so
    2 · F_r · M · N · psum × count; a one-fold GEMM 2 · M · N · psum, not 0 (probe p286 #2). The finished output's
    write to the scratchpad stays :func:`sram_operand_bytes`'s, at its own width. 0 for os (its PEs hold the sums)."""
    return g.m * g.n * 2 * _output_passes(f, dataflow) * psum * g.count


def sram_operand_bytes(g: Gemm, f: folds.Folds, dataflow: str, elem: int, k_run: int | None = None,
                       psum: int | None = None, out: int | None = None, b_in_sram: bool = True) -> int:
    """Bytes the array reads and writes in SRAM: stationary operand once, streamed ones once per fold. ``k_run``:
    the K the array runs when it skips a pruned weight's zeros; it reads the compressed weights, k_run · n.
    The activations it reads follow SCALE-Sim v3's layer-wise N:M (``SparsitySupport``, one pattern for every
    filter): os and is read the ifmap operand matrix with the pruned columns dropped
    (operand_matrix.create_ifmap_matrix keeps its non-zero columns), m · k_run, as systolic_compute_os and
    _is count it (probe p243 #1: os 8x8, m=20 n=13 K=37 at 2:4, 2 column folds · 20 · 19 = 760 ifmap
    elements, not 2 · 20 · 37 = 1,480); ws, whose rows hold each group's N kept weights and share the
    group's M inputs, reads the dense activations, m · K a column fold (systolic_compute_ws: ifmap reads
    × M/N, "a row needs to be read M/N times", the same m · K where M divides K; on a partial last group
    it counts M/N reads for each kept weight though the group holds fewer inputs: K=37 at 2:4,
    2 · 20 · 19 · 2 = 1,520 against the 2 · 20 · 37 = 1,480 there are, a deliberate difference).
    The output, streamed once per row fold (ws, is: one per K fold), is written as a partial sum ``psum``
    bytes wide (the accumulator's) on every fold but its last, which writes the finished element,
    ``out`` bytes, and every fold but the first reads the running sum back at ``psum`` bytes to add its share to
    it: a read-modify-write (Gemmini's AccumulatorMem.scala reads the address of an accumulating write,
    ``mem.io.ren := io.read.req.fire() || (io.write.fire() && io.write.bits.acc)``, and writes that read plus the
    new data; TPU v1's accumulators likewise, Jouppi et al. ISCA 2017; probe p229 #1), (F_r − 1)·M·N·psum bytes
    in all. os holds the partial sums in its PEs and writes each output once (``out``). Unset, both are ``elem``
    (SCALE-Sim's one word size; SCALE-Sim counts no SRAM energy, and its cycles do not read these bytes).
    ``b_in_sram`` False: B (the weights) reaches the array without the scratchpad (:func:`_b_in_sram`), so its
    reads are not counted."""
    df = folds.DATAFLOWS[dataflow]
    k_run = k_run or g.k
    # weight stationary reads the dense activations; os and is the kept columns (docstring)
    elems = {"a": g.m * (g.k if df.stationary == "b" else k_run), "b": k_run * g.n, "c": g.m * g.n}
    dims = {"a": {"m", "k"}, "b": {"k", "n"}, "c": {"m", "n"}}
    total = 0
    for x, d in dims.items():
        if x == "b" and not b_in_sram:
            continue
        if d == {df.spatial_rows, df.spatial_cols}:
            reps = 1
        elif d == {df.spatial_rows, df.temporal}:
            reps = f.cols
        else:
            reps = f.rows
        if x == "c":  # reps - 1 partial sums written, then the output; reps - 1 of them read back to add to
            total += elems[x] * (2 * (reps - 1) * (psum or elem) + (out or elem))
        else:
            total += elems[x] * reps * elem
    return total * g.count
