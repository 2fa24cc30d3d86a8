"""Parse and format quantities with units: sizes ("64KiB"), bandwidths ("900GB/s"), clocks ("1.4GHz"), times.

Also the byte width of each data type. Every parser accepts a plain number (already in base units) or a string;
it raises ``ValueError`` with a message that says what was expected, which the config layer turns into one line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

DTYPE_BYTES: dict[str, int] = {
    "int4": 1,  # an int4 activation occupies a byte; int4 weights are packed two per byte (DTYPE_BITS, packed_bytes)
    "fp4": 1,  # the byte an element of a copy or tile operand; an activation tensor is packed with block scales
    # (tensor_bytes: 0.5625 B an element, NVFP4), a weight packed with its quant_group_size's scales (packed_bytes)
    "int8": 1,
    "uint8": 1,
    "fp8": 1,
    "int16": 2,
    "fp16": 2,
    "bf16": 2,
    "int32": 4,
    "fp32": 4,
    "tf32": 4,
    "fp64": 8,
}


def operand_bits(dtype: str) -> int:
    """Bits one operand of ``dtype`` occupies as it moves (the width in its name: int4 4, fp8 8, bf16 16, tf32 32,
    which registers and shared memory hold as fp32; else the dtype's bytes x 8)."""
    m = re.search(r"\d+", dtype)
    return int(m.group()) if m else 8 * DTYPE_BYTES.get(dtype, 2)


TORCH_DTYPES: dict[str, str] = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32",
                                 "float": "fp32", "float64": "fp64", "double": "fp64", "float8_e4m3fn": "fp8"}
"""PyTorch's dtype names, as Hugging Face configs write them (``torch_dtype``, transformers 5's ``dtype``,
``mamba_ssm_cache_dtype``) → accelsim's dtype name. (A second definition further down had replaced this one,
dropping ``half``, ``float``, ``float64`` and ``double``: shortlist fixer's side note on probe p162.)"""

DTYPE_BITS: dict[str, int] = {**{k: 8 * v for k, v in DTYPE_BYTES.items()}, "int4": 4, "fp4": 4}
"""Bits per element of each dtype as stored in a packed parameter tensor (int4 and fp4: 4, half a byte)."""
HALF_FLOATS: tuple[str, ...] = ("fp16", "bf16")
"""The 16-bit floating-point dtypes (the inputs a FlashAttention kernel takes, among others)."""
TRAINED_DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp64")
"""The dtypes a training step is modelled in (its weights, activations and gradients; the optimizer's master copy
and states are fp32): integer and 8- or 4-bit float training (quantisation-aware, FP8 recipes) is not."""
VLLM_MAMBA_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
"""The state-cache dtypes vLLM's ``--mamba-ssm-cache-dtype`` takes besides ``auto`` (vllm/config/cache.py
``MambaDType``: ``["auto", "float32", "float16", "bfloat16"]``; older releases ``["auto", "float32"]``): no release
keeps an 8-bit state (probe p162 #5)."""

ONNX_DTYPES: dict[int, str] = {
    1: "fp32", 2: "uint8", 3: "int8", 4: "int16", 5: "int16", 6: "int32", 9: "uint8", 10: "fp16", 11: "fp64",
    12: "int32", 16: "bf16", 17: "fp8", 18: "fp8", 19: "fp8", 20: "fp8", 21: "int4", 22: "int4", 23: "fp4",
}
"""ONNX's tensor data types (onnx.proto TensorProto.DataType: 1 FLOAT, 10 FLOAT16, 16 BFLOAT16, 3 INT8, ...) → the
dtype of their width (an ONNX Cast's output, builders/importers.py): a bool is a byte, as torch stores it; the
8-bit floats fp8; uint16 / uint32 / uint4 int16 / int32 / int4, the same width. INT64, UINT64, STRING and the complex types have
no dtype here."""

TORCH_FP32_CONV = "tf32"
"""The rate PyTorch runs fp32 convolutions at on GPUs by default: TF32 tensor cores (``torch.backends.cudnn.allow_tf32``
is True; matmuls' ``allow_tf32`` is False). A model an fp16 pipeline upcasts to fp32 computes as this dtype."""

FAST_FP32 = ("tf32", 3)
"""(dtype, MMA passes a MAC) of an fp32 kernel that emulates fp32 on the TF32 tensor cores: PyTorch's
memory-efficient SDPA kernel for ``float`` on sm80+ (aten/src/ATen/native/transformers/cuda/mem_eff_attention/
gemm_kernel_utils.h, ``DefaultGemmType<ArchTag, float>``: OpClassTensorOp, InstructionShape 16x8x8,
``cutlass::arch::OpMultiplyAddFastF32``), CUTLASS's 3xTF32, which splits each operand into a TF32 big and small
part and runs three TF32 MMAs a MAC (big·big + big·small + small·big). An op marked ``attrs["fast_fp32"]``
computes in this dtype at a third of its rate where the unit runs it as that dtype (:func:`mma_passes`)."""


def mma_passes(fast_fp32: object, runs_as: str) -> int:
    """MMA passes a MAC of an op (``fast_fp32``: its ``attrs["fast_fp32"]``) that its unit runs as ``runs_as``:
    :data:`FAST_FP32`'s 3 for a marked op on TF32 tensor cores; else 1 (a unit without a TF32 rate runs the kernel
    on its fp32 lanes, the SIMT path, one pass at the fp32 rate)."""
    return FAST_FP32[1] if fast_fp32 and runs_as == FAST_FP32[0] else 1


SCALE_BYTES: dict[str, int] = {"int4": 2, "int8": 2, "fp4": 1}
"""Bytes of one group-wise quantisation scale of each quantised weight dtype: int4 / int8 an fp16 per group of
``group_size`` weights (GPTQ / AWQ-style); fp4 one byte, the 8-bit shared scale of the OCP Microscaling formats
(MXFP4: an E8M0 scale per 32 elements, OCP MX specification v1.0 section 5) and NVFP4's E4M3 scale per 16 (NVIDIA's
Blackwell NVFP4 description; its one fp32 per-tensor scale is not counted)."""
QUANTISED_WEIGHTS = frozenset(SCALE_BYTES)
"""Weight dtypes stored with group-wise scales (:data:`SCALE_BYTES` per ``quant_group_size`` weights)."""

ZERO_POINT_WEIGHTS = frozenset({"int4", "int8"})
"""Weight dtypes an asymmetric scheme stores with a zero point per group beside its scale, packed at the weight's
own width (:func:`group_bytes`): AutoAWQ's ``WQLinear_GEMM`` and vLLM's ``AWQLinearMethod.create_weights``
(vllm/model_executor/layers/quantization/awq.py) hold ``qzeros`` as ``(K // group_size, N // pack_factor)`` int32,
eight 4-bit zeros a word: 0.5 B per group per output column beside the fp16 scale's 2, so an int4 weight at group
128 costs 0.5 + 2.5 / 128 B (probe p273 #3); GPTQ with ``sym: false`` (vLLM's gptq.py, ``qzeros`` likewise, 32 //
bits a word) and compressed-tensors' asymmetric WNA16 (``weight_zero_point``, packed) the same. A symmetric scheme
keeps none: GPTQ ``sym: true`` runs on Marlin, whose ``MPLinearLayerConfig(zero_points=False)`` drops the loaded
``qzeros`` (vllm .../gptq_marlin.py; MarlinLinearKernel replaces them with an empty tensor). fp4's block formats
have no zero point."""


INT_WEIGHT_BITS: dict[int, str] = {4: "int4", 8: "int8"}
"""The integer weight dtype of a checkpoint's ``bits`` (AWQ / GPTQ ``quantization_config``): the widths modelled."""


def group_bytes(groups: int, dtype: str, zero_points: bool = False) -> int:
    """Bytes of ``groups`` quantisation groups' metadata of a weight of ``dtype``: one :data:`SCALE_BYTES` scale
    each, and with ``zero_points`` (an asymmetric scheme, :data:`ZERO_POINT_WEIGHTS`) one zero point each of the
    weight's :data:`DTYPE_BITS`, packed and rounded up once (int4: 1,000 groups 2,000 + 500 B)."""
    zeros = -(-groups * DTYPE_BITS[dtype] // 8) if zero_points and dtype in ZERO_POINT_WEIGHTS else 0
    return groups * SCALE_BYTES[dtype] + zeros


ACTIVATION_SCALES: dict[str, tuple[int, int]] = {"fp4": (16, 1)}
"""(values per scale, bytes per scale) of an activation tensor of a block-scaled dtype, beside its values packed at
:data:`DTYPE_BITS`: fp4 NVFP4's two values a byte and one E4M3 scale per 16, 0.5625 B an element (vLLM's
``scaled_fp4_quant``, run before each NVFP4 linear, allocates the output ``(m, n // 2)`` uint8, "every two values are
packed into a uint8", with "float8_e4m3 scaling factors", one per 16 values, vllm/_custom_ops.py; TensorRT-LLM's
``Fp4QuantizedTensor``, packed data with its scale factors). MXFP4's E8M0 per 32 (0.53125 B) is not told apart: an
fp4 activation is NVFP4's, whatever a weight's ``quant_group_size``. Its one fp32 per-tensor scale is not counted.
:func:`tensor_bytes` prices an activation tensor with it (probe p273 #2: fp4 activations moved at a byte an element).
A simplification: the scales are counted unpadded, ⌈numel / 16⌉ of them. vLLM's ``scaled_fp4_quant`` allocates them
in the tensor cores' swizzled layout, ``(round_up(m, 128), round_up(n // 16, 4) // 4)`` int32 ("the minimum tile is
128x4 for the scales. So, we first pad the scales to multiples of 128 and 4"), and ``cutlass_scaled_fp4_mm`` checks
that ``A_sf`` has that padded shape: round_up(m, 128) × round_up(n / 16, 4) bytes, so a decode row (m = 1, n = 4096)
has 128 × 256 = 32,768 B of scales beside its 2,048 B of values, not the 256 B counted here (probe p274 #4). The pad
needs a tensor's rows and row length, which the callers that size a tensor from its element count alone
(mapping/traffic.py's graph-input and epilogue reads, ``Graph``'s input bytes) do not have; it is about 190 kB a
layer of llama3_8b's fp4 decode against some 116 MB of fp4 weights (under 0.2 %)."""

DISPATCH_SCALES: dict[str, tuple[int, int]] = {"fp8": (128, 4), **ACTIVATION_SCALES}
"""(values per scale, bytes per scale) an expert-parallel dispatch sends beside each row of a narrow activation
dtype: fp8 one fp32 scale per 128 values (DeepEP's ``Buffer.dispatch``: an FP8 ``x`` is "[num_tokens, hidden]
torch.float8_e4m3fn" with "[num_tokens, hidden // 128] torch.float" scales), fp4 the activation's own
:data:`ACTIVATION_SCALES` (NVFP4, 0.5625 B an element); other dtypes their :func:`dtype_bytes` and no scale."""


def tensor_bytes(numel: int, dtype: str) -> int:
    """Bytes of an activation tensor of ``numel`` elements of ``dtype``: a block-scaled dtype
    (:data:`ACTIVATION_SCALES`, fp4) packed at :data:`DTYPE_BITS` plus one scale per block, each rounded up once for
    the whole tensor (⌈numel · 4 / 8⌉ + ⌈numel / 16⌉: 16 fp4 elements 9 B, 17 elements 9 + 2 = 11 B); any other
    dtype ``numel`` × :func:`dtype_bytes` (int4 keeps a byte an element, as :data:`DTYPE_BYTES` says)."""
    if dtype not in ACTIVATION_SCALES:
        return numel * dtype_bytes(dtype)
    group, scale = ACTIVATION_SCALES[dtype]
    return -(-numel * DTYPE_BITS[dtype] // 8) + -(-numel // group) * scale


def element_bytes(dtype: str) -> float:
    """Bytes an element of an activation tensor of ``dtype`` takes as a tile or load streams it, its block scales
    included: a block-scaled dtype (:data:`ACTIVATION_SCALES`) its packed bits / 8 plus its scale's share (fp4:
    0.5 + 1 / 16 = 0.5625, as :func:`tensor_bytes` counts the whole tensor), any other :func:`dtype_bytes` (int4 a
    byte)."""
    if dtype not in ACTIVATION_SCALES:
        return dtype_bytes(dtype)
    group, scale = ACTIVATION_SCALES[dtype]
    return DTYPE_BITS[dtype] / 8 + scale / group


def element_bits(dtype: str) -> int:
    """Bits of one value of an activation tensor of ``dtype`` as a load carries it: a block-scaled dtype
    (:data:`ACTIVATION_SCALES`) packed at :data:`DTYPE_BITS` (fp4: 4, so a 16-byte load holds 32 values; the scales
    are a tensor of their own), any other its :func:`dtype_bytes` × 8 (int4: a byte)."""
    return DTYPE_BITS[dtype] if dtype in ACTIVATION_SCALES else 8 * dtype_bytes(dtype)


def dispatch_bytes(rows: int, width: int, dtype: str) -> int:
    """Bytes of ``rows`` rows of ``width`` elements of ``dtype`` on an expert-parallel dispatch's wire: packed at
    :data:`DTYPE_BITS` with one :data:`DISPATCH_SCALES` scale per group of each row where the dtype has one (fp8,
    hidden 7168: 7168 + 56 · 4 = 7392 B a row; fp4: 3584 + 448 = 4032 B), else ``dtype_bytes`` an element."""
    if dtype not in DISPATCH_SCALES:
        return rows * width * dtype_bytes(dtype)
    group, scale = DISPATCH_SCALES[dtype]
    return rows * (-(-width * DTYPE_BITS[dtype] // 8) + -(-width // group) * scale)


def packed_bytes(numel: int, dtype: str, group_size: int = 0, zero_points: bool = False) -> int:
    """Bytes of ``numel`` elements of ``dtype`` packed (⌈numel · bits / 8⌉), plus one scale of
    :data:`SCALE_BYTES` per ``group_size`` elements when > 0 (group-wise quantisation), and with ``zero_points``
    a zero point per group too (:func:`group_bytes`)."""
    if dtype not in DTYPE_BITS:
        dtype_bytes(dtype)  # the error naming the valid types
    data = -(-numel * DTYPE_BITS[dtype] // 8)
    return data + (group_bytes(-(-numel // group_size), dtype, zero_points) if group_size > 0 else 0)

RATE_BITS: dict[str, int] = {"fp4": 4, "int4": 4, "fp8": 8, "int8": 8, "uint8": 8, "int16": 16, "fp16": 16,
                             "bf16": 16, "tf32": 19, "fp32": 32, "int32": 32, "fp64": 64}
"""Bits of each dtype a unit can give a throughput for (``rates`` in an arch; tf32 counts as 19, between the 16-bit
types and fp32); a dtype without a rate runs at the nearest wider one's (:func:`accelsim.hardware.dtype_rate`)."""

RATE_FLOOR_BITS: dict[str, int] = {"fp4": 16}
"""Bits of the narrowest same-family rate a dtype the unit lists no rate for may run at (else the nearest wider one,
:func:`accelsim.hardware.dtype_rate`): a 4-bit float on a unit without fp4 MMAs runs at the 16-bit rate, not at fp8's
(probe p273 #1). No kernel on such a GPU (H100 / H200, L40S, MI300X: fp8 but no fp4 tensor rate) multiplies fp4 by
fp4 on its fp8 MMAs: vLLM's NVFP4 GEMM (``cutlass_scaled_fp4_mm``) runs only where ``cutlass_fp4_supported()``
(vllm/model_executor/layers/quantization/utils/nvfp4_utils.py: ``cutlass_scaled_mm_supports_fp4(capability)``, sm100
and up); below it vLLM runs FP4 Marlin, "Weight-only FP4 compression ... leveraging the Marlin kernel"
(quantization/utils/marlin_utils_fp4.py ``apply_fp4_marlin_linear``: "For GPUs that lack FP4 hardware support";
16-bit activations, and "NVFP4 weight + INT8/FP8 activation is not supported"), or its emulation, which dequantises
x and W to the 16-bit dtype for a ``torch.matmul``; either way bf16 MMAs, as on an A100 (no fp8: bf16 already).
int4 keeps the nearest wider integer rate (int8 on an H100, which has no int4 MMA): int4 values are exact in int8, as
QServe's W4A8 GEMM unpacks its int4 weights to int8 for the int8 MMAs (Lin et al. 2024, arXiv:2405.04532); no source
was found for a W4A4 int4 kernel on such a GPU either way, so its rate is left as it was."""

NARROW_KV_CACHE = "fp8"
"""The KV cache a run whose activation dtype is fp4 (W4A4: NVFP4 / MXFP4) keeps where the workload names no
``kv_cache_dtype`` (:func:`default_kv_cache`); its attention then runs at the fp8 tensor rate. int4 activations keep
an int4 cache: the evidence below is NVFP4's, SageAttention2 attends in int4, and an arch without fp8 (A100, TPU v1)
would run an fp8 cache at its 16-bit rate (probe p233 #3).
No serving stack's attention computes QKᵀ or PV in 4-bit floats: NVIDIA's NVFP4 checkpoints keep an FP8 cache
(ModelOpt's hf_quant_config.json for nvidia/Llama-3.1-8B-Instruct-FP4 and its siblings: ``"quant_algo": "NVFP4",
"kv_cache_quant_algo": "FP8"``; TensorRT-Edge-LLM's NVFP4 recipe quantises with ``--kv_cache_quantization fp8``),
vLLM's quantized KV cache is FP8 (docs.vllm.ai "Quantized KV Cache": ``--kv-cache-dtype fp8``, else ``auto``, the
model's 16-bit dtype), and TensorRT-LLM's NVFP4 KV cache is read through FP8 (FlashInfer's ``nvfp4_kv_materialize_fp8`` "Materialize[s] the pages referenced
by a paged NVFP4 KV cache as FP8" for its trtllm-gen FP8 kernels). Probe p231 #2: the cache followed the activation
dtype, so an fp4 run attended at fp4's tensor rate (B200: 4x bf16's)."""

UNMODELLED_KV_CACHE: dict[str, str] = {
    "fp4": "an fp4 KV cache is not modelled: TensorRT-LLM's NVFP4 KV cache (4 bits and one fp8 scale per 16, "
           "0.5625 B an element) is read through fp8 for its fp8 attention kernels (FlashInfer's "
           "nvfp4_kv_materialize_fp8) and vLLM quantizes its cache to fp8; use fp8 (1 B an element, the fp8 rate)",
}
"""The dtypes refused as a ``kv_cache_dtype``, with why (one line at the key, exit status 2): an fp4 cache would be
priced at fp4's tensor rate and a byte an element, neither of which any stack runs (:data:`NARROW_KV_CACHE`)."""


def default_kv_cache(activation: str) -> str:
    """The KV cache dtype of a run computing in ``activation`` that names none: ``activation`` itself, as vLLM's
    ``kv_cache_dtype`` auto follows the model's, except :data:`NARROW_KV_CACHE` (fp8) for fp4, in which no attention
    kernel computes (:data:`ATTENTION_DTYPE_FLOOR`)."""
    return ATTENTION_DTYPE_FLOOR.get(activation, activation)


ATTENTION_DTYPE_FLOOR: dict[str, str] = {"fp4": NARROW_KV_CACHE}
"""The dtype an attention (a fused ATTENTION op, an unfused one's ``scores`` and ``context`` GEMMs) whose operands
would be in the key computes in: fp4 attends at the fp8 tensor rate, as vLLM's, TensorRT-LLM's and FlashInfer's
kernels do at best (:data:`NARROW_KV_CACHE`; the bytes are the same, a byte an element). Not modelled: the
SageAttention3 plug-in's microscaling FP4 QKᵀ and PV on Blackwell (Zhang et al. 2025, arXiv:2505.11594). int4 is
kept: SageAttention2 runs QKᵀ in int4 (arXiv:2411.10958), and an int8 NPU attends in int8. This floor is the
builder's, hardware-blind; on a GPU preset the cost model runs a fused attention over an int8 or int4 cache (an fp8
one on FlashAttention-2) at the 16-bit rate its FlashAttention kernel takes, the cache dequantised on read
(:func:`accelsim.cost.attention.compute_dtype`; probe p252 #1, #2), and an unfused one's scores and context GEMMs
over an int8 or int4 cache too (:data:`DEQUANTISED_KV_CACHE`)."""


DEQUANTISED_KV_CACHE: tuple[str, ...] = ("int8", "int4")
"""The KV-cache dtypes an unfused attention's scores (QKᵀ) and context (PV) GEMMs on a GPU preset dequantise to the
model's 16-bit dtype as they read K and V, computing at the 16-bit tensor rate
(:func:`accelsim.cost.attention.gemm_dtype`): transformers' ``QuantizedCache`` (quanto and HQQ backends, int2 to int8)
stores K/V quantised and returns them dequantised to the model's dtype for a 16-bit ``matmul``, and vLLM, SGLang and
LMDeploy never run QKᵀ in int8 either. K and V (and GQA's ``repeat_kv`` copies) still move at the cache's width, so
this is a lower bound: transformers dequantises the whole cache to 16 bits every step, a pass of its own, and the
copies and GEMMs then move 16-bit bytes (not modelled; probe p262 #1). An fp8 cache keeps its fp8 GEMMs (not covered
here). Off a GPU (an int8 NPU) the GEMMs run in the cache's dtype."""


def attention_dtype(dtype: str) -> str:
    """The dtype an attention whose operands are ``dtype`` computes in (:data:`ATTENTION_DTYPE_FLOOR`)."""
    return ATTENTION_DTYPE_FLOOR.get(dtype, dtype)


def kv_cache_refusal(dtype: str | None) -> str | None:
    """Why ``dtype`` cannot be a ``kv_cache_dtype`` (:data:`UNMODELLED_KV_CACHE`), or None."""
    return UNMODELLED_KV_CACHE.get(dtype) if dtype else None


INT_BIAS_DTYPE: dict[str, str] = {"int4": "int32", "int8": "int32", "uint8": "int32"}
"""The dtype an additive bias (:attr:`accelsim.ir.Weight.is_bias`: a conv's or linear's, a norm's shift, one folded
into its conv included) is stored and read in
when its op computes in an integer dtype: int32, the accumulator's, as integer inference adds it to the int32 sum
before requantising. TFLite's 8-bit quantization specification: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED take
an "int32 bias, scale = input_scale x weight_scale, zero point 0"; Gemmini loads a bias into its int32 accumulator
(accType SInt(32)); an ONNX QDQ or QOperator model stores its bias int32, which the importer keeps at that width
(builders/onnxcore.py ``_int_weights``). int4 as int8 (a W4A4 integer GEMM accumulates in int32 too). Not int16:
16-bit fixed-point arrays differ (Eyeriss keeps 16-bit partial sums, arch/eyeriss-like.yaml; TFLite's 16x8 mode
stores int64 biases, which have no dtype here), so an int16 op's bias keeps its 2 bytes; a floating-point op's bias
keeps the op's dtype (a bf16 bias is 2 bytes)."""


def bias_dtype(op_dtype: str) -> str:
    """The dtype of an additive bias read by an op computing in ``op_dtype`` (:data:`INT_BIAS_DTYPE`, else
    ``op_dtype`` itself)."""
    return INT_BIAS_DTYPE.get(op_dtype, op_dtype)


LOW_BIT_GEMM_OUT = "bf16"
"""The dtype an 8- or 4-bit GEMM (W8A8, W4A4) writes: it accumulates in fp32 and writes 16 bits, as vLLM's and
TensorRT-LLM's fp8 / int8 / fp4 kernels return bf16 (`builders.precision.gemm_output_dtype`)."""

GRAD_DTYPE = {"bf16": "fp32"}
"""The dtype a parameter's gradient is kept, accumulated and data-parallel reduced in, by the parameter's (training)
dtype; a dtype not named keeps its own. bf16: fp32 main gradients, as Megatron-LM forces (``validate_args`` in
megatron/training/arguments.py: "bfloat16 requires gradient accumulation and all-reduce to be done in fp32", setting
``accumulate_allreduce_grads_in_fp32``; its docs/distrib_optimizer.md counts 18 bytes a parameter, 6 + 12/d with the
distributed optimizer; NeMo's bf16 mixed precision reduces in fp32 too). fp16 keeps its 16-bit gradients (loss
scaling keeps them in range): 2 + 2 + 12 bytes a parameter with Adam (Rajbhandari et al. 2020, ZeRO's Ψ-counts).
There is no key for a run reducing bf16 gradients (Megatron's ``--grad-reduce-in-bf16``, plain DDP or FSDP with a
bf16 reduce dtype): set ``dtype: fp16`` for 16-bit gradient bytes. A lazy step's sparse table gradient keeps the
table's dtype (torch's sparse COO gradient, which DDP all-gathers, is in the weight's dtype; probe p117 #1; `builders.training.grad_dtype`)."""

EAGER_NORM_DTYPE = "fp32"
"""The dtype transformers' T5LayerNorm computes its statistics and normalised activations in, whatever the model's
dtype: ``variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)`` then ``hidden_states *
torch.rsqrt(variance + eps)``, cast back to a half weight's dtype (src/transformers/models/t5/modeling_t5.py,
``T5LayerNorm.forward``): its eager kernels' intermediates are 4 B an element (builders/t5.py, probe p235 #1)."""

EAGER_SOFTMAX_DTYPE = "fp32"
"""The dtype Hugging Face transformers' eager attention writes its softmax in, whatever the model's dtype, before it
casts the probabilities back to the query's: ``attn_weights = nn.functional.softmax(attn_weights, dim=-1,
dtype=torch.float32).to(query.dtype)`` (src/transformers/models/llama/modeling_llama.py, ``LlamaAttention.forward``
"# upcast attention to fp32", since ``eager_attention_forward``; OPT, Mistral, Qwen and the other Llama-derived
families copy it). :class:`accelsim.builders.tlayers.TransformerBuilder`'s ``softmax_dtype`` (probe p185 #2)."""

NVLS_DTYPES = ("int32", "fp16", "bf16", "fp32", "tf32", "fp64")
"""The element types NCCL's NVLS (NVSwitch SHARP) reduces (NVIDIA/nccl src/include/device.h ncclNvlsSupported: a
sum of int32 / uint32 / int64 / uint64 / fp16 / bf16 / fp32 / fp64; every other type, 8-bit ones included, runs ring
or tree; NCCL 2.20 has no fp8 type), as accelsim's dtype names (tf32 is fp32 in memory): `cost.collective`'s."""

MAX_INT = 2**63 - 1
"""Largest whole number a config value may be (sizes in bytes included): it must fit in 64 bits."""

DType = Literal[tuple(DTYPE_BYTES)]  # type: ignore[valid-type]
"""The names of :data:`DTYPE_BYTES` as a type (pydantic fields of a dtype validate against it)."""

_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_FREQ_UNITS = {"": 1.0, "hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}
_TIME_UNITS = {"": 1.0, "s": 1.0, "min": 60.0, "h": 3600.0}  # minutes and hours: a serving run's duration ("24h")
_TIME_DIVISORS = {"ms": 1e3, "us": 1e6, "\u00b5s": 1e6, "\u03bcs": 1e6, "ns": 1e9, "ps": 1e12}
"""Units below the second, each as the power of ten the number is divided by (microseconds as ``us``, or with the
micro sign U+00B5 or the Greek small mu U+03BC, which look alike, NFKC folds the first to the second, and copied
text uses either: probe p96 #7 found ``1.5\u03bcs`` refused); a division by an exact power of ten is
correctly rounded (100 / 1e9 is the double nearest 100 ns, 1e-07), where a product with the reciprocal 1e-9, itself
rounded, errs by an ulp (100 × 1e-9 = 1.0000000000000001e-07, 5 × 1e-6 = 4.9999999999999996e-06 in report.json)."""
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z\u00b5\u03bc/]*)\s*$")
_INF = {"inf", "infinite", "unlimited", "unbounded"}
_WRONG_CASE = {"mHz": "millihertz: write MHz for megahertz", "Ms": "megaseconds: write ms for milliseconds",
               "MS": "megaseconds: write ms for milliseconds"}
"""Units whose case makes them another unit than the lower-cased one they would otherwise be read as."""


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of ``dtype`` (``ValueError`` naming the valid types if unknown)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_BYTES)}") from None


def _split(value: str, what: str, example: str) -> tuple[float, str]:
    """The number and the unit of ``value`` (the unit lower-cased but for the case that changes its meaning: a
    size's or bandwidth's final ``b`` is a bit, ``B`` a byte; see :func:`_bytes_unit`)."""
    m = _NUM.match(value)
    if not m:
        raise ValueError(f"expected a {what} such as {example!r}")
    num = float(m.group(1))
    if not math.isfinite(num):
        raise ValueError(f"number too large: {m.group(1)[:40]} overflows")
    return num, m.group(2)


_PREFIX_NAMES = {"k": "kilo", "m": "mega", "g": "giga", "t": "tera", "ki": "kibi", "mi": "mebi", "gi": "gibi",
                 "ti": "tebi"}


def _bytes_unit(unit: str) -> tuple[str, float]:
    """A size unit as :data:`_SIZE_UNITS` spells it and the bytes per counted unit's element: a final ``b`` (as in
    ``Gb``, ``Mib``) counts bits, ⅛ byte each (SI and IEC: b = bit, B = byte; network links and DRAM dies are
    quoted in bits); the prefix letters are read in either case, but an all-lower-case ``kb``, ``mb``, ``gb``,
    ``tb`` (or ``kib`` ...) is refused: spec sheets and habits write it for bytes as often as for bits (25.6gb/s of
    DRAM), and either reading of it silently misreads the other by 8x."""
    if re.fullmatch(r"[kmgt]i?b", unit):
        big = unit[0].upper() + unit[1:-1]
        raise ValueError(f"{unit!r} is ambiguous: write {big}B for {_PREFIX_NAMES[unit[:-1]]}bytes or {big}b for "
                         f"{_PREFIX_NAMES[unit[:-1]]}bits")
    if unit.endswith("b"):
        return unit.lower(), 1 / 8
    return unit.lower(), 1.0


def _as_float(value: int | float, what: str) -> float:
    """``value`` as a float; an int too large for one is a ValueError (not an OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"number too large for a {what}") from None


def parse_size(value: object) -> int:
    """Bytes in ``value``: an int, or a string such as "64KiB", "24MiB", "8GB" (KB = 1000 B, KiB = 1024 B); at
    most :data:`MAX_INT`."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '64KiB'")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number of bytes")
    if isinstance(value, (int, float)):
        if value < 0 or value != int(value):
            raise ValueError("expected a whole, non-negative number of bytes")
        total = int(value)
    elif not isinstance(value, str):
        raise ValueError("expected a size such as '64KiB'")
    else:
        num, raw = _split(value, "size", "64KiB")
        unit, per = _bytes_unit(raw)
        if unit not in _SIZE_UNITS:
            raise ValueError(f"unknown size unit {raw!r}; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (b: bits)")
        scaled = num * _SIZE_UNITS[unit] * per
        if not math.isfinite(scaled):
            raise ValueError("size too large: it overflows")
        if scaled != int(scaled):
            raise ValueError("size is not a whole number of bytes")
        total = int(scaled)
    if total > MAX_INT:
        raise ValueError(f"size too large (the limit is {MAX_INT:,} bytes, 2**63 - 1)")
    return total


def parse_bandwidth(value: object) -> float:
    """Bytes per second in ``value``: a number, or "900GB/s", "34 GB/s", "1.2TB/s", "16GiB/s", or "inf" (also the
    float infinity: unbounded). A number written in the string must be finite; a string that is a number alone
    ("1e11", as YAML reads a float without a dot or without an exponent sign) is bytes per second, as a number is."""
    if isinstance(value, str) and value.strip().lower() in _INF:
        return math.inf
    if isinstance(value, bool):
        raise ValueError("expected a bandwidth such as '900GB/s'")
    if isinstance(value, (int, float)):
        bw = _as_float(value, "bandwidth")
        if math.isnan(bw):
            raise ValueError("expected a bandwidth such as '900GB/s', or 'inf' (not NaN)")
        if not bw > 0:
            raise ValueError("expected a bandwidth > 0")
        return bw
    if not isinstance(value, str):
        raise ValueError("expected a bandwidth such as '900GB/s'")
    num, raw = _split(value, "bandwidth", "900GB/s")
    if not raw:  # a number without a unit: bytes per second, as an int or float is
        return parse_bandwidth(num)
    if not raw.lower().endswith("/s"):
        raise ValueError("expected a bandwidth such as '900GB/s' (bytes per second)")
    unit, per = _bytes_unit(raw[:-2])
    if unit not in _SIZE_UNITS:
        raise ValueError(f"unknown bandwidth unit {raw!r}; use B/s, KB/s, MB/s, GB/s, TB/s or GiB/s (Gb/s: "
                         "gigabits per second)")
    bw = num * _SIZE_UNITS[unit] * per
    if not math.isfinite(bw):
        raise ValueError("bandwidth too large: it overflows (write 'inf' for an unbounded bandwidth)")
    if not bw > 0:
        raise ValueError("expected a bandwidth > 0")
    return bw


def _scaled(value: object, units: dict[str, float], what: str, example: str, names: str,
            divisors: dict[str, float] | None = None) -> float:
    """A plain number, or a number with one of ``units`` (multiplied by its factor) or of ``divisors`` (divided
    by its power of ten), in the base unit."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a {what} such as {example!r}")
    if not isinstance(value, str):
        num = _as_float(value, what)
    else:
        num, raw = _split(value, what, example)
        unit = raw.lower()
        divisors = divisors or {}
        if (unit not in units and unit not in divisors) or raw in _WRONG_CASE:
            hint = f" ({_WRONG_CASE[raw]})" if raw in _WRONG_CASE else ""
            raise ValueError(f"unknown {what} unit {raw!r}{hint}; use {names}")
        num = num / divisors[unit] if unit in divisors else num * units[unit]
    if not math.isfinite(num):
        raise ValueError(f"expected a finite {what}")
    return num


MIN_BARE_CLOCK = 1e6
"""Hz below which a clock written as a number alone in a file or with ``--set`` is refused (:func:`unitless_rate`):
``clock: 1.75`` (1.75 GHz meant) or ``940`` (MHz meant) would run a chip some 10^6 to 10^9 times too slowly without a
word; with its unit ("500kHz") any clock is taken, and so is any number given from Python (a dumped arch's)."""
MIN_BARE_BANDWIDTH = 1e6
"""B/s below which a bandwidth written as a number alone in a file or with ``--set`` is refused (``bandwidth: 819``
for 819 GB/s); a plain number of bytes per second of at least this (``1e11``) is read as documented, and with its
unit any is taken."""


def parse_frequency(value: object) -> float:
    """Hertz in ``value``: a number, or "700MHz", "1.4GHz"."""
    num = _scaled(value, _FREQ_UNITS, "clock", "1.4GHz", "Hz, kHz, MHz or GHz")
    if not num > 0:
        raise ValueError("expected a clock > 0")
    return num


def unitless_rate(value: object, what: str) -> str | None:
    """Why ``value``, a ``what`` ("clock" or "bandwidth") written in a file or with ``--set``, is refused: a number
    alone (``1.75``, ``"940"``) below :data:`MIN_BARE_CLOCK` Hz / :data:`MIN_BARE_BANDWIDTH` B/s, whose unit was
    surely left out; else None (and None for what the parser refuses anyway). The suggested unit follows the
    magnitude: a number below 100 reads as GHz (a clock) and below 10,000 as MHz or GB/s (a bandwidth, whose
    figures run to thousands of GB/s), a larger one as written (500000 → '500kHz', '500KB/s')."""
    if not _bare_number(value):
        return None
    try:
        num = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(num) and num > 0):
        return None
    if what == "clock":
        if num >= MIN_BARE_CLOCK:
            return None
        hint = f"{num:g}GHz" if num < 100 else f"{num:g}MHz" if num < 1e4 else format_frequency(num)
        return f"a number alone is Hz, and {num:g} Hz is below 1 MHz: write the clock with its unit, e.g. '{hint}'"
    if num >= MIN_BARE_BANDWIDTH:
        return None
    hint = f"{num:g}GB/s" if num < 1e4 else format_bandwidth(num)
    return (f"a number alone is bytes per second, and {num:g} B/s is below 1 MB/s: write the bandwidth with its "
            f"unit, e.g. '{hint}'")


def parse_time(value: object) -> float:
    """Seconds in ``value``: a number, or "100ns", "1.5us", "2ms", "20min", "1h"."""
    num = _scaled(value, _TIME_UNITS, "time", "100ns", "s, ms, us (µs), ns, ps, min or h", _TIME_DIVISORS)
    if num < 0:
        raise ValueError("expected a time >= 0")
    return num


def time_cycles(seconds: float, clock_hz: float) -> int:
    """``seconds`` at ``clock_hz`` in whole cycles, rounded up, but a product within a relative 1e-12 of an integer
    is that integer: 5 us at 1.4 GHz is 5e-06 × 1.4e9 = 7000.000000000001 in binary floating point, which a plain
    ceil makes 7,001 cycles. (A parsed time is the double nearest its value and a product of two doubles errs by up to
    half an ulp more, ~1e-16 relative; 1e-12 stays far below a cycle up to 10^11 cycles, so a real fraction of a
    cycle still rounds up.)"""
    x = seconds * clock_hz
    r = round(x)
    return r if abs(x - r) <= 1e-12 * max(1.0, abs(x)) else math.ceil(x)


def trace_span_us(start: float, end: float, per_second: float = 1.0) -> tuple[float, float]:
    """A trace-event slice's ``ts`` and ``dur`` in microseconds for the span ``start``..``end`` (in units of
    ``1 / per_second`` seconds: seconds by default, cycles with the clock in hertz), both whole nanoseconds with
    ``dur`` the difference of the rounded ends: Perfetto's JSON importer rounds ``ts`` and ``dur`` to nanoseconds
    separately (``llround(value * 1000)``), so back-to-back slices given as unrounded products could overlap by
    a nanosecond and be imported as badly nested."""
    t0 = round(start * 1e9 / per_second)
    return t0 / 1000, (round(end * 1e9 / per_second) - t0) / 1000


def _bare_number(value: object) -> bool:
    """Whether ``value`` is a number written without a unit (``1.75``, ``"940"``)."""
    if isinstance(value, str):
        m = _NUM.match(value)
        return m is not None and not m.group(2)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bare_time(value: object) -> bool:
    """Whether ``value`` is a time written as a number alone, other than 0 (``100``, ``1e-7``, ``"2.5"``): seconds to
    :func:`parse_time`, which a config file or ``--set`` must say with a unit (a 100 written for 100 ns is 100 s)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value) and value != 0
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        m = _NUM.match(value)
        return m is not None and not m.group(2) and math.isfinite(float(m.group(1))) and float(m.group(1)) != 0
    return False


def pick_prefix(value: float, steps, digits: int):
    """The first (scale, prefix) of ``steps`` (largest scale first) at which ``value`` rounded to ``digits``
    significant digits is at least 1, or None: the prefix is chosen after rounding to the digits shown, so
    999.9996 ms at 4 digits is "1s", not "1000ms", and 999.6 µJ at 3 is "1 mJ", not "1e+03 µJ" (probe p221 #3); a value
    whose larger step reads just under 1 in binary is shown there (999.5 µJ: "0.999 mJ", probe p225 #4)."""
    above = None  # the step before (a larger scale)
    for scale, prefix in steps:
        shown = abs(float(f"{value / scale:.{digits}g}"))
        if shown >= 1:
            # the larger step read under 1 and this one rounds up to its size: 999.5e-6 J / 1e-3 is 0.99949... in
            # binary (0.999 mJ at 3 digits) but / 1e-6 exactly 999.5, shown as 1e+03 µJ (probe p225 #4): "0.999 mJ"
            if above is not None and shown >= round(above[0] / scale):
                return above
            return scale, prefix
        above = (scale, prefix)
    return None


def _fmt(value: float, steps: list[tuple[float, str]], digits: int) -> str:
    found = pick_prefix(value, steps, digits)
    if found is not None:
        return f"{value / found[0]:.{digits}g}{found[1]}"
    return f"{value:.{digits}g}{steps[-1][1] if steps[-1][0] == 1 else ''}"


def format_size(nbytes: float) -> str:
    """"1.5MiB" style text for a byte count (binary prefixes)."""
    return _fmt(nbytes, [(2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B")], 4)


def format_bandwidth(bytes_per_s: float) -> str:
    """"900GB/s" style text (decimal prefixes, as vendors quote bandwidth)."""
    if math.isinf(bytes_per_s):
        return "inf"
    return _fmt(bytes_per_s, [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "KB/s"), (1, "B/s")], 4)


def format_frequency(hz: float) -> str:
    """"1.4GHz" style text."""
    return _fmt(hz, [(1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz"), (1, "Hz")], 4)


def format_time(seconds: float) -> str:
    """"1.23ms" style text; microseconds as "µs" (U+00B5, the micro sign), as energies show "µJ" and the docs write
    times, and as :func:`parse_time` reads back."""
    return _fmt(seconds, [(1, "s"), (1e-3, "ms"), (1e-6, "\u00b5s"), (1e-9, "ns"), (1e-12, "ps")], 4)


MAX_SPARSITY_M = 65_536
"""Largest group M of an N:M pattern (16 index bits per kept weight)."""


@dataclass(frozen=True, slots=True)
class Sparsity:
    """N:M structured sparsity of a weight along its GEMM's reduction (K): in every group of ``m`` consecutive
    weights at most ``n`` are nonzero (NVIDIA's 2:4; SCALE-Sim v3's layer-wise N:M)."""

    n: int
    m: int

    @classmethod
    def parse(cls, text: str) -> Sparsity:
        """``"N:M"`` with 1 ≤ N ≤ M; ValueError saying what is wrong otherwise (without the value)."""
        parts = str(text).split(":")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError("expected N:M, two whole numbers such as 2:4")
        n, m = (int(p) for p in parts)
        if not 1 <= n <= m:
            raise ValueError("expected 1 <= N <= M in N:M")
        if m > MAX_SPARSITY_M:
            raise ValueError(f"expected M <= {MAX_SPARSITY_M:,} in N:M")
        return cls(n, m)

    def satisfies(self, other: Sparsity) -> bool:
        """Whether weights pruned this way also meet ``other`` (at most other.n nonzero in each aligned group of
        other.m): 1:4, 1:2 and 2:8 meet 2:4; 3:4 and 4:8 do not."""
        if other.m % self.m == 0:
            return self.n * (other.m // self.m) <= other.n
        return self.m % other.m == 0 and min(self.n, other.m) <= other.n

    def __str__(self) -> str:
        return f"{self.n}:{self.m}"

    @property
    def dense(self) -> bool:
        """N = M: every weight may be nonzero."""
        return self.n == self.m

    def kept(self, k: int) -> int:
        """Nonzero weights of a K-long reduction, compressed: n per whole group of m, and of the last partial
        group its first min(rest, n) (SCALE-Sim v3 ``operand_matrix.create_filter_matrix``: the pattern of n ones
        and m − n zeros tiled along K, each block packed to its nonzeros, trailing all-zero rows dropped)."""
        return self.n * (k // self.m) + min(k % self.m, self.n)

    @property
    def index_bits(self) -> int:
        """Metadata bits per kept weight: its position in its group, ⌈log2 m⌉ (SCALE-Sim v3's blocked-ELLPACK
        storage, ``compression.compress_to_ellpack_block``; NVIDIA's 2:4 format keeps a 2-bit index per nonzero,
        Ampere architecture whitepaper, "Fine-Grained Structured Sparsity")."""
        return (self.m - 1).bit_length()


# The output dtype of a fused attention forward computing in fp8: FlashAttention-3's FP8 forward writes bf16
# (Dao-AILab/flash-attention hopper/flash_api.cpp @000090d mha_fwd: "out_type = q_type == Float8_e4m3fn ?
# BFloat16 : q_type", "For FP8 input, output must have dtype BF16"; its split combine writes bf16 too). Assumption:
# the other fp8 attention kernels alike (vLLM's attention layer hands its backends an output buffer in the
# model's 16-bit dtype)
FP8_ATTENTION_OUT = "bf16"
