"""Fused attention (one ATTENTION op).

On a GPU-like core (``core.tile`` set) the op is priced as the FlashAttention forward kernel the core's
``attention_kernel`` names (:data:`FLASH`). ``flash2``: FlashAttention-2 in the split-KV form that serving engines
launch for a paged KV cache (Dao, "FlashAttention-2", 2023; flash-attention
``csrc/flash_attn/src/flash_fwd_launch_template.h`` ``run_mha_fwd_splitkv_dispatch``, used whenever a block table is
given): each thread block (CTA) holds a 64-row tile of queries of one head and walks the K/V blocks of
:func:`block_n` keys. Per K/V block it runs S = Q·Kᵀ and O += P·V on the tensor cores and the online softmax of its
scores on the CUDA cores and SFU; in FlashAttention-2 these are not overlapped within a warp (the softmax needs S,
PV needs P), so a block costs the sum. ``flash3``: FlashAttention-3 (Shah et al., 2024), larger tiles
(:meth:`Flash.tile`), one CTA per SM, and the softmax overlapped with the MMAs (a block costs the larger).
``trtllm_gen``: TensorRT-LLM-gen's FMHA kernels, which vLLM's FlashInfer backend runs on Blackwell (sm100): a
context kernel of two 128-row query tiles per CTA (:func:`trtllm_tile`) with the softmax overlapped, and for a
decode step a kernel of its own (:data:`TRTLLM_GEN_DECODE`) that packs the GQA group into 8-32 rows, splits
every decode's K/V over as many CTAs as fill the SMs (:func:`fill_splits`) and reduces the splits inside the kernel.

* Causal: a query tile visits only the K/V blocks up to its diagonal (bottom-right aligned, FA ≥ 2.1), so a square
  causal prefill does about half the blocks of a non-causal one plus the diagonal blocks (:func:`kv_blocks`). With a
  sliding window of W keys (attr ``window``: FlashAttention's ``window_size`` = (W − 1, 0), as vLLM calls it for
  Mistral's and Gemma's local layers) it also skips the blocks wholly before the band [p − W + 1, p] of its queries
  (:func:`tile_blocks`): about W / bn + bm / bn blocks a tile, not ⌈p / bn⌉.
* GQA: K/V are read from memory once per KV head (the group's query heads share them through the L2); a decode step
  (one query token) with several query heads per KV head packs the group's heads into the query tile's rows
  (FlashAttention's ``seqlenq_ngroups_swapped``), so a CTA reads each K/V block once for the whole group. A kernel
  that packs every call's group (``Flash.pack_gqa``: FlashAttention-3 as vLLM calls it) packs a prefill's too: its
  tiles' rows are the q_len × group (query, head) pairs of one KV head (:func:`pack_prefill`).
* ``flash2_dense``: ``flash2``'s kernels called through FlashAttention-2's dense ``mha_fwd`` (PyTorch's SDPA FLASH
  backend, ``flash_attn_func``), which weighs split-KV on every call, swaps a GQA decode's groups in as a view (no
  copies), and runs an unsplit call on FlashAttention-2's non-split kernel with its own tile (:func:`dense_tile`:
  128 × 64 for head dim 128 on an A100 or H100).
* Decode: with too few (batch × heads × query tiles) CTAs to fill the GPU, the K/V sequence is split over CTAs
  (split-KV / flash-decoding) by FlashAttention's occupancy rule (:func:`num_splits`); with many, each CTA walks
  all of its KV blocks and the op is bound by the bytes of the KV cache.

Each CTA first reads its sequence length and block-table entry and waits for its query tile and first K block
(:func:`prologue`). An SM's cycles for a CTA (:class:`CtaCost`) are the longest of its math (blocks × block cost
+ prologue), its critical path (prologue + one :func:`block_path` per block: the loads FlashAttention-2's one block
in flight cannot hide behind the math) shared with the CTAs resident on its SM, and, for a decode tile (its KV
head's only reader, :attr:`Shape.sole`: its K/V come from main memory), its bytes at its share of the sustained
bandwidth among the CTAs running at once; the CTAs of a partial last wave run fewer at a time (latency-bound,
:meth:`CtaCost.in_waves`; a partial wave's CTAs that share an SM run at half of it while both run, one alone at its
lone rate, :meth:`CtaCost.schedule`). Up to EXACT_WAVES
CTAs per SM are list-scheduled in launch order (:func:`makespan`), more are averaged. Kernels of their own follow
or precede the split kernel, each priced as the engine prices an op (:func:`kernel_cycles`): a split decode's
combine kernel and, for FlashAttention-2, the query and output copies of the swapped GQA layout
(:func:`swap_copies`). FlashAttention-2 and -3 run a head dim on the kernel compiled for the next of their head-dim
buckets (:func:`mma_head_dim`: PyTorch's FA2 pads 40 to 64 and 72 to 96): tiles, MMAs, shared-memory operand reads
and residency are the bucket's, HBM and L2 bytes and the op's MACs the op's own. The work is reported as
``output_tiles`` × ``tile_cycles``, so the emitter runs it on the SMs like a GEMM's tiles. Off a GPU-like core the op's two GEMMs are folded on the array as before
(:mod:`.systolic`) with the softmax on the vector unit overlapped, a causal one (and its backward) over only the array-sized
blocks at or below the diagonal (:func:`systolic_causal`); on one, so is an op its kernel cannot run
(:func:`unsupported`: a head dim above 256, a dtype the kernel does not take, a tile beyond shared memory). An op
over a KV cache narrower than 16 bits that the kernel does not take (int8, int4; fp8 on FlashAttention-2) runs the
kernel at its 16-bit output dtype, K/V read at the cache's width and dequantised beside the softmax
(:func:`compute_dtype`, :func:`dequant_cycles`), as GPU serving stacks run it.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

from ..errors import WorkloadError
from ..hardware import Arch, SystolicArray, dtype_rate
from ..ir import Gemm, Op
from ..units import DEQUANTISED_KV_CACHE, DTYPE_BITS, FAST_FP32, HALF_FLOATS, TORCH_DTYPES, dtype_bytes, time_cycles
from . import Priced, vector

MAX_SPLITS = 128  # flash-attention set_params_splitkv: at most 128 splits (the combine kernel's limit)
SPLIT_FILL = 0.8  # flash-attention num_splits_heuristic: one split once the CTAs fill 80 % of the SM slots
SPLIT_EFFICIENCY = 0.85  # flash-attention num_splits_heuristic: fewest splits within 85 % of the best wave efficiency
PARTIAL_BYTES = 4  # split-KV partial outputs are fp32 (flash-attention out_accum / softmax_lse_accum)
EXACT_WAVES = 16  # up to this many CTAs per SM the CTAs are list-scheduled; beyond, averaged (tail < 1/16)
DECODE_ROWS = 64  # query rows of a decode step: within one query tile of every kernel (Flash.tile)
SOFTMAX_FN = "flash_softmax"  # per-score cost of the online softmax (arch cycles_per_element; else its "softmax")


class Flash(NamedTuple):
    """One FlashAttention forward kernel generation: CTAs resident per SM, whether a block's softmax overlaps its
    MMAs, and the fewest K/V blocks it splits (split-KV)."""

    name: str
    ctas_per_sm: int
    overlap: bool
    min_split_blocks: int
    kv_stages: int  # K/V block loads one CTA keeps in flight (:func:`block_path`)
    gqa_swap: bool  # a packed decode goes through mha_varlen_fwd's reshape of the query (:func:`swap_copies`)
    # keys per split unit of a kernel that splits every decode step's K/V to fill the SMs and reduces the splits
    # inside the kernel (:func:`fill_splits`); 0: FlashAttention's occupancy heuristic and its combine kernel
    split_keys: int = 0
    cga_splits: int = 0  # up to this many splits reduce through the cluster's shared memory (no partial bytes)
    decode: Flash | None = None  # the kernel of its own a decode step runs (:attr:`Shape.decode`), if any
    # the fraction of the tensor peak the kernel's MMAs sustain in its main loop at best: its authors' published
    # peak utilization (1: the structure above accounts for the rest, as FlashAttention-2's does on a100)
    mma_utilization: float = 1.0
    # its MMAs are warp-level mma.sync: they run at the array's ``warp_mma`` share of the peak (FlashAttention-2;
    # FlashAttention-3 and TensorRT-LLM-gen issue Hopper's / Blackwell's own MMA instructions)
    warp_mma: bool = False
    # it packs a prefill's GQA group into its query tiles' rows too (:func:`pack_prefill`), not only a decode step's
    pack_gqa: bool = False
    # its entry point weighs split-KV on every call, not only a packed decode's: FlashAttention-2's dense mha_fwd
    # (flash_attn_func, PyTorch's SDPA FLASH backend) calls set_params_splitkv with num_splits 0 whatever the shape,
    # mha_varlen_fwd (a serving engine's) only when it swaps a GQA decode's groups in (pytorch aten/src/ATen/native/
    # transformers/cuda/flash_attn/flash_api.cpp; flash-attention csrc/flash_attn/flash_api.cpp)
    split_any: bool = False
    # the compute dtypes its forward takes: FlashAttention-2 fp16 and bf16 (Dao-AILab/flash-attention README,
    # "FlashAttention-2 with CUDA currently supports: ... Datatype fp16 and bf16"); FlashAttention-3 and
    # TensorRT-LLM-gen also fp8 (FA3's FP8 forward, the E4M3 trtllm-gen kernels)
    dtypes: tuple[str, ...] = HALF_FLOATS
    # the head dims its kernels are compiled for, ascending: a call runs the smallest at or above its head_dim, its
    # Q / K / V tiles that wide in shared memory (the columns past head_dim zero-filled by the predicated copy) and
    # its MMAs over every k-block of it (:func:`mma_head_dim`); (): one kernel per exact head dim (no padding)
    head_dims: tuple[int, ...] = ()
    # partial-output loads its split-KV combine kernel keeps in flight (:func:`combine_cycles`): 0, one split's at a
    # time (FlashAttention-2's combine_attn_seqk_parallel loads each split's partial into registers and adds it
    # before it reads the next; no cp.async pipeline); FlashAttention-3's hopper/flash_fwd_combine_kernel.h
    # streams them through kStages = 4 shared-memory stages
    combine_stages: int = 0

    def tile(self, s: Shape, elem: int = 2) -> tuple[int, int]:
        """(query rows, keys) of one CTA's tile and K/V block for kernel shape ``s`` with ``elem``-byte operands."""
        if self.name in ("flash2", "flash2_dense"):
            return 64, block_n(s.head_dim)
        if self.name == "trtllm_gen":
            return trtllm_tile(s)
        if elem == 1:
            # tile_size_fwd_sm90's 8-bit branch (FP8 attention: an fp8 KV cache with its fp8 query) with
            # paged_kv_non_TMA, not local: hd <= 64: 192 x 160; <= 96: 192 x 128; <= 128: 128 x 160; <= 192:
            # 128 x 160; larger: 128 x 128
            if s.head_dim <= 96:
                return 192, 160 if s.head_dim <= 64 else 128
            return 128, 160 if s.head_dim <= 192 else 128
        # flash-attention hopper/tile_size.h tile_size_fwd_sm90 (16-bit; Dao-AILab/flash-attention and
        # vllm-project/flash-attention alike) with paged_kv_non_TMA: hd <= 64: 192 x 128; hd <= 96: 192 x 128
        # ({192, is_local || paged_kv_non_TMA ? 128 : 144}); hd <= 128: 128 x 128; hd <= 192: 128 x 96; larger:
        # 128 x 80, 128 x 64 with a sliding window ({128, is_local ? 64 : 80}: FA3's is_local, a window_size_left
        # >= 0; probe p175 #3). A serving engine's paged KV cache is read without TMA (flash_api.cpp
        # get_pagedkv_tma: TMA only when page_size % kBlockN == 0 and seqlen_q x group > kBlockM; vLLM's pages of
        # 16 tokens, the collector's 64, divide no kBlockN of 128 or more), and that takes the 128-key blocks a
        # causal kernel takes (use_blockN_128), not the 176 / 192 of a dense non-causal one
        if s.head_dim <= 96:
            return 192, 128
        if s.head_dim <= 128:
            return 128, 128
        if s.head_dim <= 192:
            return 128, 96
        return 128, 64 if s.window else 80


def trtllm_tile(s: Shape) -> tuple[int, int]:
    """(query rows, keys) of TensorRT-LLM-gen's FMHA kernels (flashinfer-ai/flashinfer
    include/flashinfer/trtllm/fmha/fmhaKernels.cuh; cubin/kernelMetaInfo.h mTileSizeQ, mTileSizeKv, mStepQ).
    Decode (generation kernels): the GQA group's query heads are the tile's rows (mGroupsHeadsQ): 8 for groups
    of up to 8 heads, else 16 (hashFromRunnerParams: SwapsMmaAbForGeneration up to 16 heads, its
    maxNumHeadsQPerKvInCta), 32 for larger groups (KeepsMmaAbForGeneration); K/V tiles of 128 keys (every
    "Kv128" kernel). Prefill (context kernels): two 128-row query tiles per CTA (mStepQ 256, mTileSizeQ 128) up to
    head_dim 128, one above (mStepQ 128), against K/V tiles of 128 keys (mStepKv 128). The mStepQ values are those
    of the E4M3 context kernels listed there (assumption: the bf16 "Q128Kv128" context kernels alike, as NVIDIA/cutlass
    examples/77_blackwell_fmha's README gives for sm100 context: M-blocking 256, N-blocking 128)."""
    if s.decode:
        return (8 if s.rows <= 8 else 16 if s.rows <= 16 else 32), 128
    return (256 if s.head_dim <= 128 else 128), 128


FP8_TOO = (*HALF_FLOATS, "fp8")  # Flash.dtypes of a kernel with an 8-bit forward
# FlashAttention-2 and -3 take head dims up to 256 (Dao-AILab/flash-attention README: "All head dimensions up to
# 256"; PyTorch's SDPA checks the same before its FLASH backend, aten/src/ATen/native/transformers/cuda/sdp_utils.cpp
# check_head_dim_size_flash: "less than or equal to 256"), and TensorRT-LLM-gen's FMHA cubins stop there too (assumption)
MAX_HEAD_DIM = 256
# the compute dtypes FlashAttention's backward takes: fp16 and bf16 (FA3's FP8 path is forward only)
BACKWARD_DTYPES = HALF_FLOATS


# TensorRT-LLM-gen's FMHA kernels as FlashInfer launches them for vLLM on Blackwell (sm100): vLLM's CUDA platform
# ranks FLASHINFER first among its attention backends on compute capability 10.x (vllm-project/vllm
# vllm/platforms/cuda.py _get_backend_priorities), and its FlashInfer backend sends a bf16 KV cache's prefill and
# decode to trtllm_batch_context_with_kv_cache / trtllm_batch_decode_with_kv_cache (vllm/utils/flashinfer.py
# use_trtllm_attention: the SM100 family, query heads a multiple of KV heads, kv_cache_dtype "auto"; decode with at
# most 256 tokens in the versions that count them). Sources for each field: flashinfer-ai/flashinfer
# include/flashinfer/trtllm/fmha/ (fmhaKernels.cuh, fmhaRunnerParams.h, cubin/kernelMetaInfo.h) and
# csrc/trtllm_fmha_kernel_launcher.cu (the kernels themselves ship as cubins).
TRTLLM_GEN_DECODE = Flash(
    "trtllm_gen",
    # kernelMetaInfo.h: the bf16 head_dim-128 paged SwapsAbForGen kernels take 141968 (Q8) to 182480 B (Q16,
    # CGA reduction) of shared memory, more than half of an SM's 228 KiB: one CTA per SM
    1,
    # 512 threads in warps of their own for loads, MMAs (tcgen05, issued asynchronously) and softmax
    # (assumption: a block's softmax hides behind the MMAs as in FlashAttention-3)
    True,
    1,  # no smallest split count: the multi-CTA rule (split_keys) splits whenever the SMs are not full
    # derived: 141968 B of shared memory hold four 32 KiB K or V tiles (128 keys x 128 x 2 B; 131072 B) beside the
    # 8-row query tile: four K/V tile loads in flight (assumption: every tile buffer is a TMA pipeline stage)
    4,
    # the query is read in place (launcher: q_stride_heads) and the group's heads packed in the kernel
    # (mGroupsHeadsQ): no copy kernels around it
    False,
    # computeCtaAndClusterConfig: numCtasPerSeqKv = min(ceil(maxSeqLenKv / mStepKv), max(1, SMs / CTAs)),
    # mStepKv 256 in every SwapsAbForGen kernel (kernelMetaInfo.h); the launcher always asks for multi-CTA KV
    # (use_multi_block) and the splits are reduced in the kernel (fmhaRunnerParams.h MultiCtasKvMode GmemReduction:
    # "through the global memory and atomic counters"; the separate reduction kernel is for MLA only)
    split_keys=256,
    # computeCtaAndClusterConfig: CgaSmemReduction ("through the CGA remote shared memory") for 2-16 splits, "as
    # the maximum cluster dimension is 16"; more splits reduce through global memory
    cga_splits=16,
    dtypes=FP8_TOO,
)


# The head-dim buckets each FlashAttention build compiles (Flash.head_dims). Every forward (split-KV or not) and
# backward is dispatched through them: FlashAttention-2's HEADDIM_SWITCH (csrc/flash_attn/src/static_switch.h:
# HEADDIM <= 32 -> kHeadDim 32, <= 64 -> 64, ...), FlashAttention-3's run_mha_fwd (hopper/flash_api.cpp:
# params.d <= 64 -> 64, <= 96 -> 96, <= 128 -> 128, <= 192 -> 192, <= 256 -> 256).
# vLLM's FlashAttention-2 build (vllm-project/flash-attention csrc/flash_attn/src/static_switch.h, with its
# flash_fwd_hdim40/72/80 and flash_fwd_split_hdim40/72/80 instantiations) adds 40, 72 and 80 and has no 224:
FA2_VLLM_HEAD_DIMS = (32, 40, 64, 72, 80, 96, 128, 160, 192, 256)
# PyTorch's bundled FlashAttention-2 (pytorch aten/src/ATen/native/transformers/cuda/flash_attn/static_switch.h);
# upstream Dao-AILab/flash-attention's current static_switch.h has dropped 224 (193-224 run the 256 kernel there)
FA2_TORCH_HEAD_DIMS = (32, 64, 96, 128, 160, 192, 224, 256)
FA3_COMBINE_STAGES = 4  # Dao-AILab/flash-attention hopper/flash_fwd_combine_kernel.h FlashAttnFwdCombine::kStages
FA3_HEAD_DIMS = (64, 96, 128, 192, 256)  # Dao-AILab/flash-attention hopper/flash_api.cpp run_mha_fwd (16-bit and fp8)

FLASH = {
    # FlashAttention-2's split-KV kernel (what serving engines launch for a paged KV cache on sm80): 2 CTAs of 4
    # warps per SM (set_params_splitkv: num_SMs * 2); softmax between the MMAs of a warp, not overlapped; one K or
    # V block in flight per CTA (flash_fwd_kernel.h compute_attn_1rank_splitkv waits for every cp.async group,
    # cp_async_wait<0>, before it issues the next: V of block n after K of block n landed, K of block n-1 after V)
    "flash2": Flash("flash2", 2, False, 1, 1, True, warp_mma=True, head_dims=FA2_VLLM_HEAD_DIMS),
    # the same kernels through FlashAttention-2's dense entry mha_fwd (PyTorch's SDPA FLASH backend on contiguous
    # q / k / v): split-KV weighed on every call (Flash.split_any), and a GQA decode's group swap is a view of the
    # query and output there (q.reshape(b, hk, g, d).transpose(1, 2); the output is allocated in q's layout), not
    # mha_varlen_fwd's copies
    "flash2_dense": Flash("flash2_dense", 2, False, 1, 1, False, warp_mma=True, split_any=True,
                          head_dims=FA2_TORCH_HEAD_DIMS),
    # FlashAttention-3 (Shah et al. 2024; vLLM's default on sm90): one CTA of a producer and two consumer
    # warpgroups per SM; ping-pong scheduling and intra-warpgroup pipelining overlap a block's softmax with the
    # MMAs; its producer warp keeps a two-stage K/V pipeline (the paper's 2-stage pipelining) in flight;
    # num_splits_heuristic does not split 4 or fewer K/V blocks; it packs a GQA group into the tile's rows inside the
    # kernel (hopper/ PackGQA), so no query or output copies. Its MMAs sustain at best 75 % of the tensor peak (Shah
    # et al. 2024, arXiv 2407.08608, abstract: FP16 "up to 740 TFLOPs/s (75% utilization)" on H100): with its
    # softmax overlapped the model's block would otherwise run at the full peak (868 TFLOPS, non-causal 16k tokens)
    # vLLM's calls are varlen over a paged KV cache read without TMA, for which get_pack_gqa (hopper/flash_api.cpp)
    # always packs the GQA group into the tile's rows, prefill included ("Always enable PackGQA for ...
    # PagedKVNonTMA"; should_pack_gqa returns true for any varlen call as well)
    "flash3": Flash("flash3", 1, True, 5, 2, False, mma_utilization=0.75, pack_gqa=True, dtypes=FP8_TOO,
                    head_dims=FA3_HEAD_DIMS, combine_stages=FA3_COMBINE_STAGES),
    # TensorRT-LLM-gen's kernels, vLLM's on sm100 (TRTLLM_GEN_DECODE above; a decode step runs that one). Prefill:
    # the context kernel (persistent tile scheduler) as NVIDIA/cutlass examples/77_blackwell_fmha, the public sm100
    # FMHA of the same design: one CTA per SM (its TmemAllocation takes all 512 tensor-memory columns of an SM for
    # two S and two O tiles), two query tiles per CTA whose MMAs and softmax ping-pong (README: "pingpongs between
    # them in terms of matrix-matrix multiplication and softmax": overlapped), StageCountKV 3 K/V tile buffers for
    # 16-bit inputs (collective/sm100_fmha_fwd_mainloop_tma_warpspecialized.hpp) (assumption: trtllm-gen's context
    # kernel as CUTLASS's; its own stage count is not published)
    # Its MMAs sustain at best 71 % of the tensor peak: FlashAttention-4's published peak on B200 (together.ai/blog/
    # flashattention-4: BF16 "up to 1605 TFLOPs/s (71% utilization)", up to 1.3x cuDNN 9.13), the fastest published
    # Blackwell attention (assumption: trtllm-gen's context kernel reaches the same; its figures are not published)
    # No head_dims: its cubins are looked up by exact head dim (fmhaKernels.cuh hashID keys mHeadDimQk and mHeadDimV;
    # a head dim without a kernel fails checkIfKernelExist, FlashInfer's launchers say "head_dim ... is not
    # supported"), never padded to another's, so its MMAs stay at the op's head_dim
    "trtllm_gen": Flash("trtllm_gen", 1, True, 1, 3, False, decode=TRTLLM_GEN_DECODE, mma_utilization=0.71,
                        dtypes=FP8_TOO),
}


def mma_head_dim(k: Flash, op: Op) -> int:
    """The head dim kernel ``k`` runs ``op`` at: the smallest of its compiled head dims (:attr:`Flash.head_dims`) at
    or above the op's. FlashAttention's Q / K / V tiles are that wide in shared memory (the predicated copy fills
    the columns past the op's head_dim with zeros) and its S = Q·Kᵀ and O += P·V MMAs loop over every k-block of it,
    so head_dim 40 on PyTorch's FlashAttention-2 costs the tensor cores what 64 does. Its HBM and L2 bytes stay at
    the op's head_dim (the predicated loads read no padding), and so do the op's MACs. The op's own head_dim for a
    kernel compiled per exact head dim (TensorRT-LLM-gen), for a latent attention (attr ``shared_kv``: FlashMLA's
    576 / 512-wide kernel is its own) and above the largest bucket (:func:`unsupported` refuses it)."""
    d = int(op.attrs["head_dim"])
    if op.attrs.get("shared_kv"):
        return d
    return next((b for b in k.head_dims if b >= d), d)


def block_n(head_dim: int) -> int:
    """Keys per K/V block of FlashAttention-2: run_mha_fwd_splitkv_dispatch kBlockN = 256 (head_dim ≤ 64), 128
    (≤ 128), else 64 (its kBlockM is 64, "fixed for all head dimensions")."""
    return 256 if head_dim <= 64 else 128 if head_dim <= 128 else 64


def dense_tile(s: Shape, smem: int) -> tuple[int, int]:
    """(query rows, keys) of FlashAttention-2's non-split forward kernel, which its dense entry mha_fwd runs when the
    split heuristic gives one split (run_mha_fwd: num_splits <= 1), by head dim and mask as the launcher picks it
    without dropout (flash_fwd_launch_template.h run_mha_fwd_hdim32 … 256, as vendored in PyTorch). ``smem``: the
    SM's shared memory; at most 100 KiB is the launcher's is_sm8x branch (compute capability 8.6 / 8.9 have 100 KB
    per SM, the CUDA C++ Programming Guide's table; 8.0 164, 9.0 228), and the 224 / 256 branches test what a block
    may opt in to (the SM's less 1 KiB). A sliding window runs as not causal here (flash_api.cpp set_params_fprop:
    is_causal = window_size_left < 0 && window_size_right == 0; a window's left size is W − 1 ≥ 0)."""
    d, causal = s.head_dim, s.causal and not s.window
    sm8x, per_block = smem <= 100 * 1024, smem - 1024
    if d <= 64:
        return 128, 128
    if d <= 96:
        return (64, 64) if sm8x and causal else (128, 64)
    if d <= 128:
        return ((64, 64) if causal else (128, 32)) if sm8x else (128, 64)
    if d <= 160:
        return ((64, 64) if causal else (128, 64)) if sm8x else (128, 32)
    if d <= 192:
        return 128, 64
    if d <= 224:
        return (128, 64) if per_block >= 2 * d * (128 + 2 * 64) else (64, 64)
    # "For A100, we want to run with 128 x 64 (128KB smem). For H100 we want to run with 64 x 64 (96KB smem) since
    # then we can get 2 CTAs per SM."
    return (128, 64) if per_block >= 2 * d * (128 + 2 * 64) and smem < 4 * d * (64 + 2 * 64) else (64, 64)


def cta_warps(k: Flash, bm: int, bn: int, head_dim: int) -> int:
    """Warps of a FlashAttention-2 CTA: the split-KV kernel runs 4 (run_mha_fwd_splitkv_dispatch: kNWarps 4 for
    every head dim); the non-split kernel 8 for its 128 × 64 tiles above head dim 128 (flash_fwd_launch_template.h:
    Flash_fwd_kernel_traits<192 / 224 / 256, 128, 64, 8>, and hdim160's sm8x non-causal 128 × 64 "with 8 warps"),
    else 4."""
    return 8 if k.split_any and (bm, bn) == (128, 64) and head_dim > 128 else 4


def operand_bytes(bm: int, bn: int, head_dim: int, warps: int, elem: int) -> int:
    """Shared-memory bytes FlashAttention-2's warps read per K/V block to feed their MMAs: its TiledMma splits the
    query rows over the warps (Layout<Shape<kNWarps, 1, 1>>), so every warp reads its own query rows (bm / warps)
    and the whole K block for S = Q·Kᵀ, then the whole V block for O += P·V (P stays in registers; Is_Q_in_regs is
    false in every forward config): bm·d + 2·warps·bn·d elements. With 4 warps of 16 rows and 128 keys at d 128 (the
    split kernel) that is 278,528 B for 2·64·128·128 MACs: 7.5 MACs per byte, so at an SM's 128 B per clock the
    operands alone take 2176 cycles where an A100's tensor cores take 2048."""
    return (bm + 2 * warps * bn) * head_dim * elem


class Shape(NamedTuple):
    """The kernel's view of an attention op: ``heads`` tiles of ``rows`` query rows each per sample (a decode step's
    GQA group packed into rows), against ``kv_len`` keys of ``head_dim`` features."""

    batch: int
    heads: int
    rows: int
    kv_len: int
    head_dim: int
    causal: bool
    packed: bool  # decode with GQA: the group's query heads are the tile's rows (split-KV eligible)
    sole: bool = False  # a decode step: one query tile per KV head, so K/V come from main memory, not the L2
    # query heads per KV head packed into a prefill's rows (row r: query r // group, :func:`pack_prefill`)
    group: int = 1
    # tensors a K/V block loads: K and V, or one when the values are a slice of the keys (DeepSeek's latent
    # attention: FlashMLA loads each 576-wide latent block once and multiplies P by its first 512 columns)
    kv_tensors: int = 2
    window: int = 0  # a causal sliding window: each query sees its last ``window`` keys, its own included (0: all)

    @property
    def decode(self) -> bool:
        """A decode step: one query token per sequence (a packed GQA group, or one row of each head)."""
        return self.packed or self.rows == 1


def flash(op: Op, arch: Arch, fn: str = "attention") -> bool:
    """Whether ``op`` is priced as FlashAttention CTAs: a forward ATTENTION op (``fn`` "attention_grad": its
    backward, :func:`price_backward`) on a GPU-like core that names its heads and lengths."""
    keys = {"heads", "kv_heads", "q_len", "kv_len", "head_dim", "batch"}
    return arch.core.tile is not None and op.fn == fn and keys <= op.attrs.keys()


def kernel(op: Op, arch: Arch) -> Flash:
    """The kernel fused attention ``op`` runs as on a GPU-like core: ``core.sdpa_kernel`` for an op a PyTorch
    program calls through ``scaled_dot_product_attention`` (attr ``sdpa``: the diffusers, timm, torchvision and
    transformers models of the vision and diffusion builders), where the arch names one; else
    ``core.attention_kernel`` (the serving engine's); a decode step's own kernel where that kernel has one."""
    name = arch.core.sdpa_kernel if op.attrs.get("sdpa") and arch.core.sdpa_kernel else arch.core.attention_kernel
    k = FLASH[name]
    return k.decode if shape(op).decode and k.decode else k


def compute_dtype(op: Op, arch: Arch) -> str:
    """The dtype the FlashAttention kernel of fused attention ``op`` (:func:`kernel`) runs its MMAs in: the op's
    own where the kernel takes it (:attr:`Flash.dtypes`: fp8 on FlashAttention-3 and TensorRT-LLM-gen, which
    compute over an fp8 KV cache in fp8); else, for an op narrower than 16 bits (attention over an int8 or int4 KV
    cache, an fp8 one on a kernel without fp8, as on an A100), the 16-bit dtype it writes (``out_dtype``: the
    model's) where the kernel takes that. GPU serving stacks store such a cache quantised and dequantise K and V to
    the model's 16-bit dtype as they read them, then attend at the 16-bit tensor rate: SGLang ("quantize the KV
    Cache ... at the storing time, and dequantize to BF16/FP16 at the reading time for attention calculation",
    sgl-project/sglang#10083); vLLM's quantized KV cache docs (only FlashAttention-3 over an FP8 cache computes "in
    the quantized (FP8) domain"); LMDeploy's int8 / int4 KV cache (TurboMind dequantises it in its attention
    kernel). No GPU stack computes QKᵀ or PV in int8 over an int8 cache (probe p252 #1, #2: they ran the fallback
    fused model at the int8 rate, 2.1x under bf16 FlashAttention-3 on h100, and an fp8 cache on a100 1.46x under
    FlashAttention-2 at the same bf16 rate). :func:`price` then reads K/V at the cache's width and adds their
    dequantisation (:func:`dequant_cycles`). Off a GPU-like core (an int8 NPU) nothing changes: the array attends
    in int8 where it has the rate."""
    return dequantised(op.dtype, op.out_dtype, kernel(op, arch).dtypes)


def dequantised(dtype: str, out: str, takes: Iterable[str]) -> str:
    """The dtype a GPU kernel taking ``takes`` computes in over operands stored in ``dtype`` and writing ``out``:
    ``dtype`` where it takes it, or where ``dtype`` is 16 bits or wider; else ``out`` where that is a 16-bit dtype
    it takes (the operands dequantised to it on read); else ``dtype``. The rule of :func:`compute_dtype` (fused
    attention) and :func:`gemm_dtype` (an unfused one's scores and context GEMMs)."""
    if dtype in takes or DTYPE_BITS[dtype] >= 16 or DTYPE_BITS[out] != 16 or out not in takes:
        return dtype
    return out


def gemm_dtype(op: Op, arch: Arch) -> str:
    """The dtype an unfused attention's scores (QKᵀ) or context (PV) GEMM ``op`` computes in: on a GPU-like core
    (``core.tile``), one reading an int8 or int4 KV cache (attr ``kv_operand``, set by
    :func:`accelsim.builders.precision.on_kv_attrs`; :data:`~accelsim.units.DEQUANTISED_KV_CACHE`) runs at its 16-bit
    ``out_dtype`` (:func:`dequantised`, taking the 16-bit floats), its B operand (K or V) read at the cache's width
    and dequantised on the vector lanes beside the MMAs (:func:`dequant_lane_cost`), since no GPU stack computes QKᵀ
    in int8; else (an NPU, another cache) the op's own dtype. A lower bound on an eager run's time: transformers'
    ``QuantizedCache`` (quanto, HQQ) dequantises the whole cache to the model's dtype every step and hands eager
    attention (``repeat_kv``, the matmuls) 16-bit K and V, a pass and bytes not modelled (probe p262 #1)."""
    if arch.core.tile is None or not op.attrs.get("kv_operand") or op.dtype not in DEQUANTISED_KV_CACHE:
        return op.dtype
    return dequantised(op.dtype, op.out_dtype, HALF_FLOATS)


DEQUANT_FLOPS = 2
"""FLOPs of dequantising one K/V element read from a narrow cache: a multiply-add, q · scale + offset (the lane-cycles
:func:`dequant_lane_cost` gives it are its time); counted in ``mapping.dequant_flops`` (``computed_flops``, energy)."""


def kv_elements(op: Op) -> int:
    """The K or V cache elements an unfused attention's scores or context GEMM ``op`` reads as stored: its B
    operand's elements over ``attrs["kv_group"]``, the copies of each that eager GQA's ``repeat_kv`` made
    (:func:`accelsim.builders.precision.on_kv_attrs`): batch x kv_heads x kv_len x head_dim, whatever the query
    heads and the GEMM's output tiles (probe p262 #3: each tile's B panel counted 4x a decode's, 128x a prefill's)."""
    return math.prod(op.in_shapes[1]) // int(op.attrs.get("kv_group", 1))  # type: ignore[call-overload]


def dequant_lane_cost(dtype: str, arch: Arch) -> tuple[float, float]:
    """(lane-cycles to dequantise one element, elements the core's vector lanes run a cycle at ``dtype``'s rate): the
    arch's ``dequantize`` cost, else the weight-only GEMM's :data:`accelsim.cost.systolic.DEQUANT_LANE_CYCLES`."""
    from .systolic import DEQUANT_LANE_CYCLES  # (systolic imports this module)

    vu = arch.core.vector
    _, rate = dtype_rate(vu.rates, dtype)
    return vu.cycles_per_element.get("dequantize", DEQUANT_LANE_CYCLES), vu.lanes * rate


def dequant_cycles(s: Shape, bn: int, dtype: str, arch: Arch) -> int:
    """Cycles an SM's CUDA cores take to dequantise one K/V block a CTA loads from a KV cache narrower than its
    compute ``dtype`` (:func:`compute_dtype`): its K and V tiles, ``s.kv_tensors`` × :func:`block_keys` × head_dim
    elements, each one scale-multiply (the arch's ``dequantize`` lane-cycles, else the weight-only GEMM's
    :data:`accelsim.cost.systolic.DEQUANT_LANE_CYCLES`) on the vector lanes at ``dtype``'s rate. Every CTA
    dequantises the blocks it reads (in registers, as a weight-only GEMM its weights); the work runs beside the
    softmax on the same lanes (:func:`block_cycles`)."""
    per, width = dequant_lane_cost(dtype, arch)
    return math.ceil(s.kv_tensors * block_keys(s, bn) * s.head_dim * per / width)


def unsupported(op: Op, arch: Arch, backward: bool = False) -> str | None:
    """Why the FlashAttention kernel of ``op`` (:func:`kernel`; ``backward``: its backward) cannot run it, or None
    when it can: an additive score term (attr ``score_terms``: a bias or mask tensor, T5's relative position bias),
    a head dim above :data:`MAX_HEAD_DIM`, a compute dtype the kernel does not take (:attr:`Flash.dtypes`;
    :data:`BACKWARD_DTYPES`; a forward over a narrow KV cache counts at the 16-bit dtype it dequantises it to,
    :func:`compute_dtype`), or a query tile and one K and V block, (bm + 2·bn) × head_dim elements
    (:func:`resident_ctas`' count), beyond the SM's shared memory. A latent attention (attr ``shared_kv``) stands
    for FlashMLA, whose 576-wide keys it prices on the arch's kernel on purpose: never refused."""
    if op.attrs.get("shared_kv"):
        return None
    k, s = kernel(op, arch), shape(op)
    if op.attrs.get("score_terms"):
        # no FlashAttention kernel takes a bias tensor: flash_attn_func(q, k, v, dropout_p, softmax_scale, causal,
        # window_size, softcap, alibi_slopes, ...) (Dao-AILab/flash-attention flash_attn_interface.py), FA3 and
        # TensorRT-LLM-gen likewise; PyTorch's SDPA refuses its FLASH backend for any attn_mask ("Flash Attention
        # does not support non-null attn_mask", aten/src/ATen/native/transformers/sdp_utils_cpp.h
        # check_for_attn_mask) and runs the memory-efficient one, which is not modelled; transformers keeps T5 off
        # flash for this reason (huggingface/transformers#47014: "_supports_flash_attn = False", the relative
        # position bias folded into the additive mask "flash can't take")
        return (f"{op.attrs['score_terms']} additive score term(s), a bias or mask tensor such as T5's relative "
                f"position bias: FlashAttention takes causal, a window and ALiBi slopes, no bias tensor")
    if s.head_dim > MAX_HEAD_DIM:
        return f"head_dim {s.head_dim} > {MAX_HEAD_DIM}"
    dtypes = BACKWARD_DTYPES if backward else k.dtypes
    dtype = op.dtype if backward else compute_dtype(op, arch)  # a narrow KV cache dequantised on read
    if dtype not in dtypes:
        return f"dtype {op.dtype} (it takes {', '.join(dtypes)})"
    kdim = mma_head_dim(k, op)  # the tiles are the compiled head dim's
    elem = dtype_bytes(dtype)
    bm, bn = k.tile(s._replace(head_dim=kdim), elem)
    need, smem = (bm + 2 * bn) * kdim * elem, arch.core.sram.total_bytes
    if need > smem:
        shown = f"head_dim {s.head_dim}" + (f" (its {kdim} kernel)" if kdim != s.head_dim else "")
        return f"its {bm} x {bn} tile at {shown} needs {need} B of shared memory, a core (SM; CU on AMD: its LDS) has {smem} B"
    return None


def sdpa_fast_fp32(op: Op, arch: Arch) -> bool:
    """Whether fused attention ``op``, fp32 and called through PyTorch's SDPA (attr ``sdpa``), runs as 3xTF32
    (:data:`accelsim.units.FAST_FP32`) on a GPU whose arch names an NVIDIA ``core.sdpa_kernel`` and whose systolic
    array lists a TF32 rate. FlashAttention takes 16-bit inputs only, so SDPA sends fp32 to its memory-efficient
    kernel, which on sm80+ computes with CUTLASS's ``OpMultiplyAddFastF32`` (aten/src/ATen/native/transformers/
    cuda/mem_eff_attention/gemm_kernel_utils.h ``DefaultGemmType<ArchTag, float>``), forward and backward alike.
    Not on AMD presets (no ``sdpa_kernel``: ROCm's fp32 SDPA computes in IEEE fp32; an MI210 has no TF32 rate)."""
    sa = arch.core.systolic
    return (arch.core.tile is not None and arch.core.sdpa_kernel is not None and bool(op.attrs.get("sdpa"))
            and op.dtype == TORCH_DTYPES["float32"] and sa is not None and FAST_FP32[0] in sa.rates)


def bias_refused(op: Op, arch: Arch) -> WorkloadError:
    """The refusal of fused attention ``op`` with additive score terms (attr ``score_terms``) on a GPU-like core
    (:func:`flash`), at the workload's ``attention`` key: no FlashAttention kernel takes the bias
    (:func:`unsupported`), and the kernel a GPU would run instead (PyTorch SDPA's memory-efficient one with an
    ``attn_mask``, or its math path) is not modelled; the fused model of non-GPU cores would price the op below
    flash2 (probe p133 #1: t5_small's encoder self-attention on a100 at 3,750 compute cycles against flash2's
    17,245), which no GPU kernel achieves, so the run is refused rather than priced optimistically."""
    why = unsupported(op, arch) or f"{op.attrs['score_terms']} additive score term(s)"
    return WorkloadError(f"{op.name}: fused attention on arch {arch.name!r} is not modelled for scores with an "
                         f"additive bias ({kernel(op, arch).name}: {why}; PyTorch's SDPA would run its "
                         f"memory-efficient kernel, which is not modelled); set attention: unfused (QKᵀ, the bias "
                         f"add, softmax and PV as kernels of their own, as eager PyTorch runs them)", ("attention",))


# FlashAttention's backward (Dao 2023, FlashAttention-2, Algorithm 2): S = QKᵀ recomputed, dV = PᵀdO, dP = dO·Vᵀ,
# dQ = dS·K, dK = dSᵀ·Q: five GEMMs of a block against the forward's two, 2.5x its MACs, over the same blocks (a causal
# backward skips the blocks above the diagonal as the forward does)
BACKWARD_WORK = 2.5
# ... and it runs that work at 1/1.16 of the forward's throughput, by three published figures that agree: Shah et al.
# 2024 (FlashAttention-3, arXiv 2407.08608), H100 SXM5, head dim 128, 8k tokens, non-causal, forward / backward
# TFLOPS: FlashAttention-2 370 / 318 = 1.164, FlashAttention-3 646 / 559 = 1.156 (figures 'Attention forward speed'
# and 'Attention backward speed', as transcribed in subtext.edge.nugit.net images e27582d2 and f60142e2); Dao 2023
# (FlashAttention-2, arXiv 2307.08691) on A100: "up to 73 % of the theoretical maximum FLOPs/s" forward, "up to 63 %"
# backward: 1.16
BACKWARD_SLOWDOWN = 1.16
# the backward's CTAs (column-parallel: each holds a K/V block and walks the query blocks) read a Q and a dO tile per
# block where the forward reads a K and a V block, and add their dQ into an fp32 accumulator through the L2: about
# twice the forward's block traffic
BACKWARD_BLOCK_PASSES = 2


def price_backward(op: Op, sa: SystolicArray, arch: Arch) -> Priced:
    """Cycles of a fused attention's backward (``attention_grad``, one kernel) on a GPU: the forward kernel's model
    of the same shape (its blocks, causal skipping and waves; :func:`price`) × :data:`BACKWARD_WORK` ×
    :data:`BACKWARD_SLOWDOWN`. The report's details keep the forward's structure and say the factor."""
    fwd = price(dataclasses.replace(op, attrs={**op.attrs, "fn": "attention"}), sa, arch)
    factor = BACKWARD_WORK * BACKWARD_SLOWDOWN
    d = fwd.details
    tile_cycles = math.ceil(d["tile_cycles"] * factor)
    keep = ("block", "ctas", "kv_blocks", "tile_rows", "causal", "mac_fraction", "array", "ctas_per_sm", "rate")
    return Priced(d["output_tiles"] * tile_cycles, {
        "kernel": f"{d['kernel']}_backward", "output_tiles": d["output_tiles"], "tile_cycles": tile_cycles,
        "forward_cycles": fwd.cycles, "backward_factor": factor, "block_passes": BACKWARD_BLOCK_PASSES,
        **{k: d[k] for k in keep}, **{k: d[k] for k in ("window", "mma_head_dim") if k in d}})


def shape(op: Op) -> Shape:
    """The kernel shape of fused attention ``op`` (from its builder attributes)."""
    a = op.attrs
    heads, kv_heads, q_len = int(a["heads"]), int(a["kv_heads"]), int(a["q_len"])
    group = heads // kv_heads
    packed = q_len == 1 and group > 1
    sole = packed or (group == 1 and q_len <= DECODE_ROWS)
    causal = bool(a.get("causal", False)) and not packed
    return Shape(int(a["batch"]), kv_heads if packed else heads, group if packed else q_len, int(a["kv_len"]),
                 int(a["head_dim"]), causal, packed, sole, kv_tensors=1 if a.get("shared_kv") else 2,
                 window=int(a.get("window", 0)) if causal else 0)


def tile_blocks(rows: int, kv_len: int, causal: bool, bm: int, bn: int, group: int = 1,
                window: int = 0) -> list[int]:
    """K/V blocks each of the ⌈rows/bm⌉ query tiles of one head visits: ⌈kv_len/bn⌉, or with a causal mask
    (bottom-right aligned: query i sees keys ≤ i + kv_len − q, q = rows / group queries) tile t only the blocks up to
    key kv_len − q + min(q, ⌈(t + 1)·bm / group⌉): its rows hold queries up to ⌈(t + 1)·bm / group⌉ (a packed
    prefill's rows are (query, head) pairs, query-major: flash-attention hopper/block.h get_n_block_min_max
    divides the tile's last row by qhead_per_khead).

    A causal ``window`` W > 0 (query i sees keys i + kv_len − q − W + 1 … i + kv_len − q) also skips the blocks
    before the band of the tile's first query f = ⌊t·bm / group⌋: with hi = the causal count above,
    blocks(t) = max(0, hi − ⌊max(0, f + kv_len − q − W + 1) / bn⌋), FlashAttention's n_block_min =
    (m_block·kBlockM + seqlen_k − seqlen_q − window_size_left) / kBlockN with window_size_left = W − 1
    (flash-attention csrc/flash_attn/src/block_info / flash_fwd_kernel.h; hopper/block.h divides the row by
    qhead_per_khead). E.g. 8192 queries and keys, bm = bn = 128, W = 512: tile t's first query 128·t sees keys
    from 128·t − 511 = 128·(t − 4) + 1, so tile t ≥ 4 visits blocks t − 4 … t, 5, and tiles 0-3 t + 1:
    1 + 2 + 3 + 4 + 60·5 = 310 blocks a head against the causal 2080."""
    tiles = -(-rows // bm)
    if not causal:
        return [-(-kv_len // bn)] * tiles
    q = rows // group
    hi = [-(-max(0, kv_len - q + min(q, -(-(t + 1) * bm // group))) // bn) for t in range(tiles)]
    if window <= 0:
        return hi
    return [max(0, h - max(0, t * bm // group + kv_len - q - window + 1) // bn) for t, h in enumerate(hi)]


def kv_blocks(rows: int, kv_len: int, causal: bool, bm: int, bn: int, group: int = 1, window: int = 0) -> int:
    """K/V blocks all query tiles of one head visit (:func:`tile_blocks`)."""
    return sum(tile_blocks(rows, kv_len, causal, bm, bn, group, window))


def pack_prefill(op: Op, s: Shape, bm: int) -> Shape:
    """``s`` as a kernel that packs a prefill's GQA group sees it (flash-attention hopper/ PackGQA): per sample,
    one entity per KV head whose rows are the q_len × group (query, head) pairs, in tiles of ``bm`` rows; when they
    fit one tile, that tile is its KV head's only reader (:attr:`Shape.sole`). A decode step (packed already) or an
    MHA call is ``s`` itself."""
    a = op.attrs
    group = int(a["heads"]) // int(a["kv_heads"])
    if s.decode or group == 1:
        return s
    rows = s.rows * group
    return s._replace(heads=int(a["kv_heads"]), rows=rows, group=group, sole=rows <= bm)


def num_splits(ctas: int, slots: int, n_blocks: int, min_blocks: int = 1, eligible_only: bool = True) -> int:
    """How many parts FlashAttention cuts each CTA's K/V sequence into (its num_splits_heuristic, re-derived): none
    when ``ctas`` fill SPLIT_FILL of the ``slots`` or there are fewer than ``min_blocks`` blocks; else, among split
    counts that change the blocks per split (FlashAttention-2's is_split_eligible; ``eligible_only`` False:
    FlashAttention-3's hopper/heuristics.h, which weighs every count), the fewest whose wave efficiency
    (waves / ⌈waves⌉) is within SPLIT_EFFICIENCY of the best."""
    if ctas >= SPLIT_FILL * slots or n_blocks < min_blocks:
        return 1
    top = min(MAX_SPLITS, slots, n_blocks)
    eff = {}
    for s in range(1, top + 1):
        if s == 1 or not eligible_only or -(-n_blocks // s) != -(-n_blocks // (s - 1)):
            waves = ctas * s / slots
            eff[s] = waves / math.ceil(waves)
    best = max(eff.values())
    return min(s for s, e in eff.items() if e >= SPLIT_EFFICIENCY * best)


def kv_splits(s: Shape, k: Flash, ctas: int, slots: int, bn: int, sms: int) -> int:
    """How many parts kernel ``k`` cuts each CTA's K/V sequence into for shape ``s`` when ``ctas`` CTAs would run
    unsplit: FlashAttention-2 splits a packed decode by its occupancy heuristic (:func:`num_splits`; mha_varlen_fwd
    splits only a GQA decode, "Only apply split-k for decoding"); FlashAttention-3 splits any call
    (:func:`fa3_splits`); a kernel with ``split_keys`` splits every decode step to fill the SMs
    (:func:`fill_splits`)."""
    if k.split_keys:
        return fill_splits(ctas, sms, -(-s.kv_len // k.split_keys)) if s.decode else 1
    if k.name == "flash3":
        return fa3_splits(ctas, s.batch, -(-s.kv_len // bn), slots, k.min_split_blocks)
    return num_splits(ctas, slots, -(-s.kv_len // bn), k.min_split_blocks) if s.packed or k.split_any else 1


FA3_MARGIN = 1.1  # flash-attention hopper/flash_prepare_scheduler.cu: blocks_per_sm with a "10% margin"


def fa3_splits(ctas: int, batch: int, n_blocks: int, sms: int, min_blocks: int) -> int:
    """FlashAttention-3's splits of a varlen call, as vLLM makes them (its metadata builder runs the kernel's
    scheduler ahead, get_scheduler_metadata): an upper bound from num_splits_heuristic over one sequence's CTAs
    ("pretending that batch = 1", hopper/flash_api.cpp get_num_splits; every split count weighed, none below
    ``min_blocks`` blocks), then prepare_varlen_num_blocks' dynamic count: blocks_per_sm = ⌈all CTAs' blocks × 1.1 / SMs⌉,
    ⌈n_blocks / blocks_per_sm⌉ splits, at least one. ``ctas``: batch × heads (KV heads, packed) × query tiles."""
    static = num_splits(ctas // batch, sms, n_blocks, min_blocks, eligible_only=False)
    blocks_per_sm = math.ceil(ctas * n_blocks * FA3_MARGIN / sms)
    return max(1, min(-(-n_blocks // blocks_per_sm), static))


def fill_splits(ctas: int, sms: int, units: int) -> int:
    """TensorRT-LLM-gen's multi-CTA KV rule (fmhaKernels.cuh computeCtaAndClusterConfig, numCtasPerSeqKv): as many
    splits as the SMs hold copies of the ``ctas`` CTAs, ⌊sms / ctas⌋, at least one and at most the sequence's
    ``units`` (split units of Flash.split_keys keys, so that every split has work)."""
    return min(units, max(1, sms // ctas))


def price(op: Op, sa: SystolicArray, arch: Arch) -> Priced:
    """Cycles of fused attention ``op`` as FlashAttention CTAs on a GPU-like core (see the module docstring)."""
    s, k = shape(op), kernel(op, arch)
    # the dtype its MMAs run in (a narrow KV cache dequantised to it on read, :func:`compute_dtype`): its tiles,
    # residency, operand reads and query tile are that wide; K/V come from memory at the cache's width (kv_elem)
    dtype = compute_dtype(op, arch)
    elem, kv_elem = dtype_bytes(dtype), op.elem_bytes
    # the head dim the kernel is compiled for (:func:`mma_head_dim`): its tiles, MMAs, shared-memory operand reads
    # and residency are that wide; its HBM / L2 bytes (prologue, kv_load, kv_bytes, cache_bytes) stay at s.head_dim
    kdim = mma_head_dim(k, op)
    bm, bn = k.tile(s._replace(head_dim=kdim), elem)
    if k.pack_gqa:
        s = pack_prefill(op, s, bm)
    tiles = -(-s.rows // bm)
    # the split heuristic counts the kernel's CTA slots (flash-attention: 2 per SM for FA2); the CTAs that run at
    # once are what the shared memory holds
    splits = kv_splits(s, k, s.batch * s.heads * tiles, k.ctas_per_sm * arch.cores, bn, arch.cores)
    if k.split_any and splits == 1:  # mha_fwd without a split runs the non-split kernel, with its own tile
        bm, bn = dense_tile(s._replace(head_dim=kdim), arch.core.sram.total_bytes)
        tiles = -(-s.rows // bm)
    per_head = kv_blocks(s.rows, s.kv_len, s.causal, bm, bn, s.group, s.window)
    resident = resident_ctas(k, bm, bn, kdim, elem, arch)
    slots = resident * arch.cores
    ctas = s.batch * s.heads * tiles * splits
    # S = Q·Kᵀ and O += P·V of one block, at the kernel's sustained share of the tensor peak (a prefill figure: a
    # decode step's few-row blocks keep the structure's own price)
    utilization = 1.0 if s.decode else k.mma_utilization * (sa.warp_mma if k.warp_mma else 1.0)
    # the op's dtype's tensor rate (fp8: FlashAttention-3's FP8 path); an array listing no rates runs every dtype at
    # its base rate as the arch's dtype, as a GEMM on it does (cost.systolic.price; probe p66)
    runs_as, rate = sa.rate(dtype, arch.dtype)
    tensor = math.ceil(2 * bm * bn * kdim / (sa.rows * sa.cols * rate) / utilization)
    operands = 0  # cycles the shared memory takes to feed a block's warp MMAs their operands (0: not bounded)
    if k.warp_mma and arch.core.sram.bytes_per_cycle:  # and no faster than the shared memory feeds the warps' MMAs
        operands = -(-operand_bytes(bm, bn, kdim, cta_warps(k, bm, bn, kdim), elem)
                     // arch.core.sram.bytes_per_cycle)
        tensor = max(tensor, operands)
    vu = arch.core.vector
    softmax = vector.cycles(bm * bn, vu.cost(SOFTMAX_FN if SOFTMAX_FN in vu.cycles_per_element else "softmax"),
                            vu.lanes)
    dequant = dequant_cycles(s, bn, dtype, arch) if dtype != op.dtype else 0  # on the same lanes as the softmax
    soft = softmax + dequant
    block = block_cycles(tensor, soft, k)
    kv_bytes = s.kv_tensors * block_keys(s, bn) * s.head_dim * kv_elem if s.sole else 0  # K and V, from HBM
    main = arch.memory(arch.main_memory)  # its bandwidth as the engine sustains it for the op's bytes
    bandwidth = arch.bytes_per_cycle(arch.main_memory) * main.efficiency_at(kv_bytes * per_head * s.batch
                                                                             * s.heads) / main.efficiency
    # a split CTA writes its rows' fp32 partial output (flash-attention set_params_splitkv: out_accum of (splits,
    # batch, heads, seqlen_q, head_dim) floats; flash_fwd_kernel.h writes a split's O to it unconverted) beside
    # its K/V stream; the combine kernel reads them back (:func:`combine_cycles`). A kernel reducing its splits
    # through the cluster's shared memory (Flash.cga_splits) writes none.
    partial = s.rows * s.head_dim * PARTIAL_BYTES if splits > max(1, k.cga_splits) and s.sole else 0
    load = kv_load(s, bn, kv_elem, arch, int(op.attrs.get("key_width") or 0))
    # a CTA alone on its SM: no other CTA's MMAs fill its softmax (:func:`lone_block`)
    alone = lone_block(tensor, soft, k)
    cost = CtaCost(block, prologue(s, bm, bn, elem, arch), block_path(tensor, soft, load, k, s.kv_tensors),
                   kv_bytes, bandwidth, resident, arch, partial,
                   (alone, block_path(alone - soft, soft, load, k, s.kv_tensors)) if alone != block else None)
    blocks = cta_blocks(s, bm, bn, splits)  # one head's CTAs in launch order
    if ctas <= EXACT_WAVES * arch.cores:  # few waves: the longest (causal: last) CTAs decide; schedule them
        out_tiles, tile_cycles = min(ctas, arch.cores), cost.schedule(blocks * (s.batch * s.heads), slots)
    else:  # many waves: the imbalance is at most one CTA in EXACT_WAVES; average CTAs
        out_tiles, tile_cycles = ctas, -(-sum(cost(n, slots) for n in blocks) // len(blocks))
    serial = sum(swap_copies(s, elem, arch)) if k.gqa_swap else 0  # copy kernels before and after
    if splits > 1:  # the combine kernel after the last CTA (a GPU's one wave of combine CTAs), a kernel of its own
        # (flash-attention run_mha_fwd_splitkv_dispatch launches flash_fwd_splitkv_combine_kernel after the split
        # kernel): it starts arch.kernel_dispatch after the split kernel ends, as every dependent kernel does. A
        # kernel that reduces its splits itself (Flash.split_keys: the last CTA of a head, counted by an atomic,
        # walks the others' partials) pays the same walk without a launch (assumption: one L2 latency per split
        # for the cluster's shared memory too; no distributed-shared-memory latency in the presets).
        serial += combine_cycles(splits, s.head_dim, arch, k.combine_stages) + (0 if k.split_keys else
                                                                                 kernel_cycles(arch))
    tile_cycles += -(-serial * min(ctas, arch.cores) // out_tiles)  # each SM's share: the op takes serial longer
    return Priced(out_tiles * tile_cycles, {
        "kernel": k.name, "block": [bm, bn], "output_tiles": out_tiles, "ctas_per_sm": resident,
        "tile_cycles": tile_cycles, "ctas": ctas, "kv_blocks": per_head * s.batch * s.heads,
        "blocks_per_cta": -(-per_head // (tiles * splits)), "split_kv": splits,
        "gqa_packed": s.packed or s.group > 1, "tile_rows": s.rows, "causal": s.causal,
        **({"window": s.window} if s.window else {}),
        # the compiled head dim its MMAs ran at, where it pads the op's (the op's macs stay the model's count)
        **({"mma_head_dim": kdim} if kdim != s.head_dim else {}),
        "block_tensor_cycles": tensor, "block_softmax_cycles": softmax,
        # a KV cache narrower than the MMAs' dtype, dequantised as each block is read (:func:`compute_dtype`)
        # (every K/V element of the blocks its CTAs read, DEQUANT_FLOPS each: mapping.dequant_flops, computed_flops)
        **({"kv_dequant": op.dtype, "block_dequant_cycles": dequant,
            "dequant_flops": DEQUANT_FLOPS * per_head * s.batch * s.heads * s.kv_tensors * block_keys(s, bn)
            * s.head_dim} if dequant else {}),
        **({"block_operand_cycles": operands} if operands else {}),
        "array": f"{sa.rows}x{sa.cols}", "mac_fraction": mac_fraction(s, per_head, bm, bn),
        # the dtype its MMAs ran at (energy.model.row_dtype prices the MACs at it: fp8 over an fp8 KV cache; on an
        # array without rates the arch's dtype, as a GEMM's row gives it; bf16 over a dequantised int8 cache)
        "rate": {"dtype": dtype, "runs_as": runs_as, "multiplier": rate}})


def resident_ctas(k: Flash, bm: int, bn: int, head_dim: int, elem: int, arch: Arch) -> int:
    """CTAs of kernel ``k`` one SM holds at once: its ``ctas_per_sm``, at most as many as the SM's shared memory
    fits, a CTA keeping its query tile and one K and one V block, (bm + 2 bn) × head_dim elements
    (flash-attention kernel_traits.h Flash_fwd_kernel_traits: kSmemQSize + kSmemKVSize, Q and K/V not shared in
    the split-KV kernel). FlashAttention-2's 64 × 128 hd-128 tile takes 80 KiB: two fit an A100's 164 KiB, one an
    Ada SM's 100 KiB; at least one always runs."""
    return max(1, min(k.ctas_per_sm, int(arch.core.sram.total_bytes // ((bm + 2 * bn) * head_dim * elem))))


def mac_fraction(s: Shape, per_head: int, bm: int, bn: int) -> float:
    """The share of the op's MACs (every query against every key) the kernel computes: its ``per_head`` K/V blocks
    of bm × bn scores over the rows × kv_len scores of a head, at most 1 (a non-causal kernel computes them all,
    padded tiles aside). A square causal prefill skips the blocks above the diagonal: about half; a sliding window
    also those before its band (:func:`tile_blocks`): about (W + bn) / kv_len of a square's."""
    return min(1.0, per_head * bm * bn / (s.rows * s.kv_len))


class CtaCost(NamedTuple):
    """An SM's cycles for one CTA of ``n`` K/V blocks while ``conc`` CTAs run on the GPU (:meth:`__call__`)."""

    block: int  # the SM's work per block (MMAs and softmax)
    fixed: int  # :func:`prologue`
    path: int  # :func:`block_path`: a block on the CTA's critical path when nothing hides its loads
    kv_bytes: int  # K and V bytes per block the CTA reads from main memory (a decode tile), else 0
    bandwidth: float  # main memory's sustained bytes per cycle for the op
    ctas_per_sm: int
    arch: Arch
    out_bytes: int = 0  # bytes the CTA writes to main memory at its end (a split's fp32 partial output)
    lone: tuple[int, int] | None = None  # (block, path) of a CTA alone on its SM where they differ (lone_block)

    def __call__(self, n: int, conc: int, resident: int = 0) -> int:
        """The SM's cycles for a CTA of ``n`` blocks, the longest of: its work; its critical path, shared with the
        CTAs resident on its SM (``resident``; 0: min(ctas_per_sm, ⌈conc / SMs⌉), a full wave's: their waits
        overlap); its main-memory bytes at 1/``conc`` of the sustained bandwidth (the running CTAs stream
        together), again shared with the CTAs resident with it. A CTA alone on its SM (resident 1) runs each block
        at :func:`lone_block`'s cost."""
        a = self.arch
        resident = resident or min(self.ctas_per_sm, -(-conc // a.cores))
        block, path = self.lone if self.lone and resident == 1 else (self.block, self.path)
        c = max(n * block + self.fixed, -(-(self.fixed + n * path) // resident))
        if self.kv_bytes:
            c = max(c, math.ceil((n * self.kv_bytes + self.out_bytes) * conc / resident / self.bandwidth))
        return c

    def in_waves(self, blocks: list[int], slots: int) -> list[int]:
        """The SM cycles of CTAs of ``blocks`` blocks in launch order: those of full waves of ``slots`` run
        ``slots`` at a time, the last partial wave's CTAs only as many as it has (fewer share the bandwidth and
        each other's latencies)."""
        full = len(blocks) // slots * slots
        return [self(n, slots if i < full else len(blocks) - full) for i, n in enumerate(blocks)]

    def schedule(self, blocks: list[int], slots: int) -> int:
        """Cycles until the last of the CTAs of ``blocks`` blocks (launch order) ends on the SMs: :func:`makespan`
        of their :meth:`in_waves` cycles, except a partial last wave of m CTAs that puts two on some SMs (SMs < m
        < ``slots``): its CTAs take the slots at once, one an SM in the order the SMs free, then a second on the
        first m − SMs of them (the block scheduler fills an SM's free slots as they come), and an SM of two runs
        them sharing it (:func:`shared_run`): each at the shared rate while both run, the longer alone after, so
        a CTA never ends sooner than alone. Per SM, not per wave (probe p175 #2: 128 CTAs on a100's 108 SMs were
        all priced at the shared rate, so 4 heads of a 2048-token causal prefill ran 76,575 cycles against 3
        heads' 82,675)."""
        sms = self.arch.cores
        m = len(blocks) % slots
        per_sm = min(self.ctas_per_sm, -(-m // sms))
        if per_sm < 2:
            return makespan(self.in_waves(blocks, slots), 1, sms)
        full = len(blocks) - m
        free = [0] * sms
        for c in self.in_waves(blocks[:full], slots):
            heapq.heapreplace(free, free[0] + c)
        on: list[list[int]] = [[] for _ in range(sms)]
        for i, n in enumerate(blocks[full:]):
            on[i % sms].append(n)
        return max(f + (self.shared_run(ns, m) if ns else 0) for f, ns in zip(sorted(free), on, strict=True))

    def shared_run(self, ns: list[int], conc: int) -> int:
        """Cycles for CTAs of ``ns`` blocks started together on one SM while ``conc`` run on the GPU: with j of
        them running each goes at 1/j of its shared cost's rate (j CTAs of cost c end together at j × c, as the SM's
        cycles for them add), and one left alone at its lone rate (``self(n, conc, 1)``, :func:`lone_block`)."""
        shared = [self(n, conc, len(ns)) for n in ns]
        lone = [self(n, conc, 1) for n in ns]
        left = dict.fromkeys(range(len(ns)), Fraction(1))
        t = Fraction(0)
        while left:
            rate = {i: Fraction(1, len(left) * shared[i] if len(left) > 1 else lone[i]) for i in left}
            first = min(left, key=lambda i: (left[i] / rate[i], i))
            dt = left[first] / rate[first]
            t += dt
            left = {i: r - dt * rate[i] for i, r in left.items() if i != first}
        return math.ceil(t)


def cta_blocks(s: Shape, bm: int, bn: int, splits: int) -> list[int]:
    """K/V blocks of each CTA of one (sample, head), in launch order (query tile fastest, then split): query tile t
    walks its :func:`tile_blocks` share cut into ``splits`` parts of ⌈n/splits⌉ blocks (the last takes the rest)."""
    per_tile = tile_blocks(s.rows, s.kv_len, s.causal, bm, bn, s.group, s.window)
    return [max(0, min(-(-n // splits), n - k * -(-n // splits))) for k in range(splits) for n in per_tile]


def makespan(head: list[int], repeats: int, sms: int) -> int:
    """Cycles until the last of ``repeats`` copies of the CTAs ``head`` (launched in order, each copy after the
    previous) finishes when each CTA starts on the SM that frees first (the hardware's block scheduler)."""
    free = [0] * sms
    for _ in range(repeats):
        for c in head:
            heapq.heapreplace(free, free[0] + c)
    return max(free)


def combine_cycles(splits: int, head_dim: int, arch: Arch, stages: int = 0) -> int:
    """Cycles of FlashAttention's split-KV combine kernel. Each of its CTAs reads the ``splits`` log-sum-exps of its
    rows (one access latency of the innermost cache, where the split kernel just wrote them, all splits at once)
    and the ``splits`` fp32 partial output rows, each at the SM's share of that cache's bandwidth, weighting each by
    its log-sum-exp and accumulating. How many partial loads wait on each other is the kernel's:

    * ``stages`` 0 (FlashAttention-2's combine_attn_seqk_parallel): it loads a split's partial into registers and
      adds it before it reads the next, one latency per split after the log-sum-exps':
      lat + splits × (lat + row).
    * ``stages`` S > 1 (FlashAttention-3's FlashAttnFwdCombine, kStages = 4): the log-sum-exps and the first S − 1
      partials are issued together (steps 1 and 2) and land after one latency; then iteration s of its main loop
      issues split s + S − 1's load and waits for split s's (cp_async_wait<S − 1>), so each load is issued as the
      one S splits before it lands: the rest arrive S per further latency,
      lat × (1 + ⌈max(0, splits − (S − 1)) / S⌉) + splits × row. The partial rows' bytes are counted as before,
      serially (assumption: not hidden behind the latencies)."""
    cache = arch.caches[0] if arch.caches else arch.main_memory
    lat = arch.latency_cycles(cache)
    row = splits * math.ceil(head_dim * PARTIAL_BYTES / (arch.bytes_per_cycle(cache) / arch.cores))
    if stages <= 1:
        return lat + splits * lat + row
    return lat * (1 + -(-max(0, splits - (stages - 1)) // stages)) + row


def block_keys(s: Shape, bn: int) -> int:
    """Keys a K/V block of ``bn`` loads: a sequence shorter than one block loads only its own. FlashAttention's K/V
    tile copies skip the rows past the sequence's end (vllm-project/flash-attention csrc/flash_attn/src/utils.h
    ``copy`` @1def3dd: a row at or beyond ``max_MN`` = actual_seqlen_k − n_block · kBlockN issues no load, it is
    only cleared in shared memory), so those rows move no bytes; the MMAs still run over the whole block. (The
    last, partial block of a longer sequence is counted whole: at most one block per query tile.)"""
    return min(bn, s.kv_len)


def kv_load(s: Shape, bn: int, elem: int, arch: Arch, width: int = 0) -> int:
    """Cycles from issuing one K (or V) block's loads until it is in shared memory, for a CTA alone on its SM: the
    access latency of the level it comes from (main memory for a decode tile, its KV head's only reader;
    else the innermost cache, where another query tile of the head brought it) plus the block's keys
    (:func:`block_keys`) at the SM's share of the innermost cache's bandwidth (the path every load takes into the
    SM). The block-table entry that gives the block's address (paged KV) is an L1 hit after the CTA's first
    look-up (:func:`prologue`): not priced. ``width``: elements a key's cache entry holds where more than head_dim
    (the op's attr ``key_width``, :func:`cache_bytes`)."""
    cache = arch.caches[0] if arch.caches else arch.main_memory
    level = arch.main_memory if s.sole else cache
    block = block_keys(s, bn) * (width or s.head_dim) * elem
    return arch.latency_cycles(level) + math.ceil(block / (arch.bytes_per_cycle(cache) / arch.cores))


def block_path(tensor: int, soft: int, load: int, k: Flash, tensors: int = 2) -> int:
    """Cycles one K/V block takes on a CTA's critical path when nothing else hides its loads (``load`` each, see
    :func:`kv_load`). With one block load in flight (``k.kv_stages`` 1, FlashAttention-2) the V load overlaps
    S = Q·Kᵀ (half the ``tensor`` cycles) and the next K load overlaps the softmax and O += P·V, so the block takes
    max(S, load) + max(softmax + PV, load); a deeper pipeline overlaps its K and V loads with the block's math
    (``kv_stages`` of them in flight). A block of one tensor (``tensors`` 1: values sliced from the keys) has one
    load, the next block's, behind all of its math."""
    if tensors == 1:
        return max(tensor + soft, load) if k.kv_stages == 1 else max(block_cycles(tensor, soft, k),
                                                                     -(-load // k.kv_stages))
    if k.kv_stages == 1:
        return max(tensor // 2, load) + max(tensor - tensor // 2 + soft, load)
    return max(block_cycles(tensor, soft, k), -(-2 * load // k.kv_stages))


def block_cycles(tensor: int, soft: int, k: Flash) -> int:
    """An SM's cycles per K/V block at full load: MMAs and softmax overlapped (``k.overlap``), else one after the
    other."""
    return max(tensor, soft) if k.overlap else tensor + soft


def lone_block(tensor: int, soft: int, k: Flash) -> int:
    """An SM's cycles per K/V block for a CTA alone on it. A kernel whose warps serialise a block's MMAs and its
    softmax (FlashAttention-2: ``k.overlap`` false) relies on its ``ctas_per_sm`` CTAs to fill each other's softmax
    with MMAs: warps of different CTAs issue to the tensor cores and to the CUDA cores / SFU independently, so with
    two or more CTAs per SM the tensor pipe stays busy and a block costs the SM ``tensor + soft`` at the kernel's
    sustained MMA rate, which is what its full-load figures measure. A lone CTA (fewer CTAs than SMs, a partial last
    wave) waits through its own softmax with the tensor cores idle: ``tensor + soft`` of MMA issue, then ``soft``.
    A kernel that overlaps the two within a CTA (``k.overlap``: FlashAttention-3's ping-pong warpgroups, TensorRT-
    LLM-gen's) needs no second CTA: unchanged."""
    if k.overlap or k.ctas_per_sm < 2:
        return block_cycles(tensor, soft, k)
    return tensor + 2 * soft


def swap_copies(s: Shape, elem: int, arch: Arch) -> list[int]:
    """Cycles of the copy kernels around a packed decode (FlashAttention's mha_varlen_fwd with
    ``seqlenq_ngroups_swapped``, vllm-project/flash-attention csrc/flash_attn/flash_api.cpp): the query is reshaped
    from (batch, kv_heads, group) to (batch·group, kv_heads) rows, which is a view only when batch or kv_heads is 1
    (else ``reshape`` copies it), and the result is copied back into the caller's output (``out_.copy_``, as vLLM
    passes its output buffer). Each copy is a kernel of its own (:func:`kernel_cycles`) that moves its bytes
    both ways at the sustained bandwidth of main memory."""
    if not s.packed:
        return []
    nbytes = s.batch * s.heads * s.rows * s.head_dim * elem  # batch x query heads x head_dim
    one = kernel_cycles(arch) + math.ceil(2 * nbytes / arch.bytes_per_cycle(arch.main_memory))
    return [one] * (2 if s.batch > 1 and s.heads > 1 else 1)


def kernel_cycles(arch: Arch) -> int:
    """The fixed cycles of a small kernel of its own after another, as the engine prices every op: it starts
    ``kernel_dispatch`` after the kernel before it, waits one main-memory load latency for its first data and one
    store latency after its last write (the innermost cache's, where a GPU's stores complete: the engine's
    emitter, ``store_latency``)."""
    store = arch.caches[0] if arch.caches else arch.main_memory
    return (time_cycles(arch.kernel_dispatch, arch.clock_hz) + arch.latency_cycles(arch.main_memory)
            + arch.latency_cycles(store))


def prologue(s: Shape, bm: int, bn: int, elem: int, arch: Arch) -> int:
    """Cycles a CTA waits before its first MMA: FlashAttention reads its sequence's length (flash::BlockInfo:
    cu_seqlens_k / seqused_k) and, the K/V range known, its first block-table entry (the paged KV cache serving
    engines give it), two dependent reads of small tables that hit the innermost cache; then it loads its query
    tile and first K block (its :func:`block_keys`) and computes (the V block and the next K block are fetched
    behind the math). That is two latencies of the innermost cache, one main-memory access latency, the query
    tile at the SM's share of main-memory bandwidth and the K block at its share of the innermost cache's (another
    query tile of the same KV head has usually brought it there; a decode tile is its KV head's only reader, so its
    K block comes from main memory)."""
    main = arch.main_memory
    q_tile = min(bm, s.rows) * s.head_dim * elem
    k_block = block_keys(s, bn) * s.head_dim * elem
    k_level = arch.caches[0] if arch.caches and not s.sole else main
    per_sm = {lv: arch.bytes_per_cycle(lv) / arch.cores for lv in {main, k_level}}
    tables = 2 * arch.latency_cycles(arch.caches[0]) if arch.caches else 0
    return tables + arch.latency_cycles(main) + math.ceil(q_tile / per_sm[main] + k_block / per_sm[k_level])


def cache_bytes(op: Op, details: dict) -> int:
    """Bytes the CTAs read from and write to the shared cache: each CTA's query tile and output tile, and every K/V
    block it visits (its :func:`block_keys`), each key a whole cache entry of attr ``key_width`` elements where the
    op has one (DeepSeek-V3.2's fp8_ds_mla: 656 B a token, its scales and RoPE part with the 576 values), else
    head_dim. Over a KV cache dequantised on read (``details["kv_dequant"]``, :func:`compute_dtype`) the query
    and output tiles are the MMAs' dtype's (``details["rate"]``), the K/V blocks the cache's."""
    s = shape(op)
    elem = op.elem_bytes
    q_elem = dtype_bytes(str(details["rate"]["dtype"])) if "kv_dequant" in details else elem
    bm, bn = details["block"]
    q_o = 2 * details["ctas"] * min(bm, details.get("tile_rows", s.rows)) * s.head_dim * q_elem
    passes = details.get("block_passes", 1)  # a backward's blocks: Q and dO in, dQ's fp32 sums (price_backward)
    width = int(op.attrs.get("key_width") or s.head_dim)
    return q_o + passes * details["kv_blocks"] * s.kv_tensors * block_keys(s, bn) * width * elem


def gemms(op: Op, pack: bool = False) -> list[Gemm]:
    """The op's two GEMMs: QKᵀ, then PV. With ``pack`` (a systolic core's kernel, :func:`.systolic.price`, where
    no causal walk cuts the op into blocks: :func:`systolic_causal`) a forward (fn ``attention``) whose KV heads
    each serve a group of g = heads / kv_heads query heads runs one GEMM pair per (sample, KV head) whose rows are
    the group's q_len × g (query, head) pairs: m = q_len·g, count = batch × kv_heads = count / g, the MACs
    unchanged. JAX's TPU paged attention kernel does so (jax/experimental/pallas/ops/tpu/paged_attention/
    paged_attention_kernel.py, "Paged grouped query attention": one program per (batch, KV head), its q block
    (num_heads // num_kv_heads, head_dim), ``einsum('hd,td->ht', q, k)``; the ragged paged attention kernel
    blocks by KV head too), as the GPU kernels do (``Flash.pack_gqa``, :func:`shape`) and as the unfused MLA
    graph's GEMMs are built (:meth:`~accelsim.builders.tlayers.TransformerBuilder.attention`, ``shared_kv``). So
    a GQA decode step on a TPU folds each K/V block once per KV head, not once per query head (probe p116 #1:
    llama3_70b TP8 decode on tpu-v6e-8, m = 1 × 512 GEMMs → m = 8 × 64). The backward (fn ``attention_grad``)
    and a causal prefill walked in blocks keep one GEMM pair per query head (Pallas' flash attention kernel runs
    a grid of (batch, head, query block, key block))."""
    qk, pv = op.gemm, op.pv_gemm
    a = op.attrs
    if not pack or op.fn != "attention" or not {"heads", "kv_heads", "q_len"} <= a.keys():
        return [qk, pv]
    heads, kv_heads, q_len = int(a["heads"]), int(a["kv_heads"]), int(a["q_len"])
    group = heads // kv_heads if kv_heads > 0 and heads % kv_heads == 0 else 1
    if (group == 1 or qk.m != q_len or pv.m != q_len or qk.count % group or pv.count % group
            or qk.count != pv.count):
        return [qk, pv]
    return [dataclasses.replace(g, m=q_len * group, count=g.count // group) for g in (qk, pv)]


def softmax_cycles(op: Op, arch: Arch, scores: int | None = None) -> int:
    """Cycles of the in-kernel vector work on the core's vector unit over the op's scores, or the ``scores`` its
    kernel computes (a causal kernel's visited blocks, :func:`systolic_causal`): the softmax, and before it a
    forward's additive score terms (attr ``score_terms``: a bias or mask tensor), one add per score each, at the
    unfused ``add_rel_pos`` op's cost: ⌈scores · (c(softmax) + terms · c(add_rel_pos)) / lanes⌉ (probe p206 #2:
    swin_t on gemmini, 460,992 scores with bias and shift mask at c 10 + 2·1 on 16 lanes, 288,120 → 345,744)."""
    vu = arch.core.vector
    terms = int(op.attrs.get("score_terms") or 0) if op.fn == "attention" else 0
    per_score = vu.cost("softmax") + terms * vu.cost("add_rel_pos")
    return vector.cycles(op.vector_elems if scores is None else scores, per_score, vu.lanes)


def visited_scores(op: Op, walk: CausalWalk) -> int:
    """The element work of the in-kernel softmax over the blocks ``walk`` visits: the op's ``vector_elems`` (a
    forward's scores; a backward's 2 × them: P recomputed, dS = P∘(dP − D)) × the visited share of its QKᵀ
    scores."""
    qk = op.gemm
    return op.vector_elems * sum(g.m * g.n * g.count for g in walk.qk) // (qk.m * qk.n * qk.count)


def kv_passes(q_bytes: int, kv_bytes: int, ifmap_budget: int, filter_budget: int) -> int:
    """Times K and V are streamed: once per block of queries that fits the ifmap buffer, unless one head's K and
    V (``kv_bytes``) fit the filter buffer and stay."""
    return 1 if kv_bytes <= filter_budget else max(1, -(-q_bytes // max(ifmap_budget, 1)))


CAUSAL_FNS = ("attention", "attention_grad")  # the fused ops whose causal blocks :func:`systolic_causal` skips


class CausalWalk(NamedTuple):
    """The GEMMs a causal fused attention runs on a systolic array (:func:`systolic_causal`): per visited K/V block
    (``order`` "kv_outer") or per query block ("q_outer") one QKᵀ and one PV GEMM over the queries and keys it
    pairs, with ``block`` = (query rows, keys) of a block and the share of the op's MACs they hold."""

    order: str
    block: tuple[int, int]
    qk: list[Gemm]
    pv: list[Gemm]
    mac_fraction: float


def systolic_causal(op: Op, sa: SystolicArray) -> CausalWalk | None:
    """The blocks a causal attention kernel visits on a systolic array (a TPU's MXU, an NPU): it skips the K/V
    blocks above the diagonal (bottom-right aligned, as :func:`tile_blocks`), as JAX's Pallas flash / splash
    attention kernels do on a TPU and FlashAttention does on a GPU. A block is one array tile: K/V blocks of the
    array's columns (keys along the array's N) and query blocks of its rows (assumption: the kernel's blocks are
    the array's size, 128 on a TPU v4 MXU; Pallas' block sizes are tunable). The loop order is the one whose
    stationary operand the array holds across a whole inner loop:

    * ws (the K or V block is the array's weight): K/V blocks outer, as FlashAttention-1's Algorithm 1 (Dao et al.
      2022), each preloaded once while every query that sees it streams through: QKᵀ (rows_j × keys_j × d) and PV
      (rows_j × d_v × keys_j), rows_j = the queries at or below block j's first key. The preloads are the
      full square's; the streamed rows are those of the visited part.
    * os, is (the query block's outputs or inputs stay): query blocks outer, as FlashAttention-2's: block t runs
      QKᵀ (rows_t × keys_t × d) and PV (rows_t × d_v × keys_t) over the keys of its :func:`tile_blocks` blocks.

    A causal backward (fn ``attention_grad``: FlashAttention-2's Algorithm 2, K/V blocks outer, each walking the
    query blocks from its diagonal down) visits the same blocks: its three QKᵀ-sized GEMMs (S recomputed, dQ, dK)
    are the walk's QKᵀ GEMMs at its ``gemm``'s count (3 × the forward's) and its two PV-sized ones (dV, dP) the PV
    GEMMs at its ``pv_gemm``'s (2 ×), so its ``mac_fraction`` is the forward's.

    A sliding window (attr ``window`` W) also skips the blocks before the band [p − W + 1, p]: on ws block j is
    seen by the queries whose position p lies in [j·bk, j·bk + n − 1 + W − 1]; on os / is query block t runs over
    the keys of its :func:`tile_blocks` blocks with the window, from its first visited block on.

    None when there is nothing to skip: not a causal attention or its backward, one query row (a decode step) or
    every block visited."""
    a = op.attrs
    keys = {"q_len", "kv_len", "head_dim"}
    if op.fn not in CAUSAL_FNS or not a.get("causal") or not keys <= a.keys() or "pv_gemm" not in a:
        return None
    qk, pv = op.gemm, op.pv_gemm
    q, kv, d, dv = int(a["q_len"]), int(a["kv_len"]), qk.k, pv.n
    w = int(a.get("window", 0))
    if q <= 1 or (qk.m, qk.n, pv.k) != (q, kv, kv):
        return None
    qks, pvs = [], []
    if sa.dataflow == "ws":
        order, bq, bk = "kv_outer", sa.rows, sa.cols
        for j in range(-(-kv // bk)):
            n = min(bk, kv - j * bk)
            # query i (position i + kv − q) sees keys ≤ i + kv − q, and with a window ≥ i + kv − q − w + 1
            last = q - 1 if w <= 0 else min(q - 1, j * bk + n - 1 + w - 1 - (kv - q))
            rows = last + 1 - max(0, j * bk - (kv - q))
            if rows > 0:
                qks.append(Gemm(rows, n, d, qk.count))
                pvs.append(Gemm(rows, dv, n, pv.count))
    else:
        order = "q_outer"
        bq, bk = (sa.rows, sa.cols) if sa.dataflow == "os" else (sa.cols, sa.rows)
        for t, blocks in enumerate(tile_blocks(q, kv, True, bq, bk, window=w)):
            hb = -(-max(0, kv - q + min(q, (t + 1) * bq)) // bk)  # blocks up to the diagonal; a window skips the first
            rows, n = min(bq, q - t * bq), min(kv, hb * bk) - (hb - blocks) * bk
            if n > 0:
                qks.append(Gemm(rows, n, d, qk.count))
                pvs.append(Gemm(rows, dv, n, pv.count))
    visited = sum(g.macs for g in qks + pvs)
    if visited >= qk.macs + pv.macs:
        return None
    return CausalWalk(order, (bq, bk), qks, pvs, visited / (qk.macs + pv.macs))
