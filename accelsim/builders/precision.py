"""Mixed precision for LLM graphs: separate weight, activation (compute) and KV-cache dtypes.

:func:`apply_precision` rewrites a built graph (ops are frozen values):

* every op's ``dtype`` is the activation dtype (its compute dtype: the one pricing picks a rate for), unless that
  is 8 or 4 bits (W8A8, W4A4: below);
* the weights of linear layers (LINEAR ops and MATMUL ops multiplying an activation by a weight,
  :func:`_linear_weights`: not a MATMUL of activations whose weights are all 1-D, Mamba-2's ``chunk_scan`` with its
  per-head ``D``, which computes and stores them as any vector op; a tied LM head keeps its embedding's dtype;
  also those a pass holds unread, a decode step's idle experts) get ``Weight.dtype`` = the weight dtype (a MoE's
  experts, ops with ``attrs["experts"]`` or ``["idle_experts"]``, the expert weight dtype when one is given:
  gpt-oss's MXFP4 experts), int4/int8/fp4 with ``group_size`` (one scale per group of a row, ``Weight.scale_bytes``:
  fp16 for int4 / int8, so 4-bit weights take ½ + 2/group bytes each, a byte for fp4 as the Microscaling formats
  store it, :data:`accelsim.units.SCALE_BYTES`; an asymmetric scheme's int4 / int8 weights also a zero point per
  group, packed at their width, ½ + 2.5/group bytes for int4: ``zero_points``, set by a checkpoint's AWQ, GPTQ
  ``sym: false`` or compressed-tensors ``symmetric: false`` quantization_config, never by a plain ``weight_dtype``, which is symmetric,
  :data:`accelsim.units.ZERO_POINT_WEIGHTS`; without a group size, :data:`DEFAULT_GROUP_SIZE`; 4-bit weights are
  stored packed also when the compute is 4-bit, W4A4). Their biases stay in the model's 16-bit dtype (GPTQ / AWQ and
  gpt-oss's MXFP4 checkpoints keep them in 16 bits; a W8A8 GEMM adds its bias to its 16-bit output, vLLM's
  cutlass_scaled_mm taking a bias of its out_dtype). MoE routers (:func:`_routers`) stay unquantised, and so do the
  linears vLLM builds without a quant_config (:data:`_SERVED_UNQUANTISED`: Qwen2-MoE's shared_expert_gate,
  DeepSeek-V3.2's indexer wk / weights_proj) and, under W8A8 / W4A4, MLA's absorbed bmm's (:data:`_ABSORBED`).
  The modules of graph meta ``unquantised`` keep their weights in the compute dtype: an image encoder's scopes, as
  quantised multimodal checkpoints leave the vision tower unquantised, the untied LM head under a weight-only or 8/4-bit
  activation dtype (:func:`weight_only`: the LLM builders name it, as GPTQ / AWQ / FP8 / NVFP4 checkpoints keep
  ``lm_head``), and a Hugging Face config's
  ``modules_to_not_convert`` (each a dotted module name or its tail, ``*`` one name part: :func:`_kept`). Where the weight dtype differs from the compute dtype the linear
  dequantises its weights itself, as weight-only GEMM kernels do (Marlin, the AWQ/GPTQ kernels, TensorRT-LLM's
  weight-only GEMM: the packed weights and scales come from memory into the thread block, which expands them in
  registers on the core's vector lanes while the tensor cores work): the op gets ``attrs["dequant"]`` = the
  weight dtype, reads the packed bytes, and no separate op, launch or memory round trip is added. The cost
  model prices that work inside the GEMM (:func:`accelsim.cost.systolic.dequant_cycles`);
* under an 8- or 4-bit activation dtype (W8A8, W4A4) only the quantised GEMMs compute in it: they read 8/4-bit
  inputs and write the model's 16-bit dtype (``out_dtype``; :func:`gemm_output_dtype`, bf16 for a model built in 8
  or 4 bits), as vLLM's Fp8LinearMethod returns ``torch.get_default_dtype()``; a GEMM computes in the wider of its
  operands' dtypes (:func:`_gemm_dtype`: fp8 weights with fp4 activations at the fp8 rate). Every other op (norms,
  RoPE, residual adds, SiLU·mul, softmax, the embedding, the unquantised modules' GEMMs: lm_head, the routers) and
  their weights stay in the 16-bit dtype; the producer of a quantised GEMM's input writes it in the activation
  dtype when only such GEMMs read it (the quantisation fused into it, :func:`_fuse_input_quantisation`); not so
  where the 8-bit dtype is the arch's own and the workload quantises nothing, nor in a training step
  (:func:`whole_model`: every op and weight in that dtype, as an NPU's full-integer quantisation runs it);
* ops with ``attrs["keep_dtype"]`` (a recurrent state's update and writes, tlayers.state_write) keep theirs; the
  update's weights (Mamba's A_log, dt_bias, D) are stored as any vector op's (:func:`_vector_weights`);
* under an 8- or 4-bit activation dtype (W8A8, W4A4) the collectives that move a GEMM's output
  (:func:`moves_gemm_output`: a row-split linear's all-reduce, the embedding's, the logits' all-gather; a MoE's
  combine all-to-all and its experts' reduce-scatter, not its dispatch nor the gather of the dispatched rows, which
  move their input as stored: :func:`_carries`) move the
  16-bit dtype the GEMM writes, the model's (the graph as built; :func:`gemm_output_dtype`), not the activation
  dtype: vLLM's Fp8LinearMethod returns the scaled-mm output in the input's original dtype and RowParallelLinear
  all-reduces that; TensorRT-LLM's FP8 / SmoothQuant GEMMs write fp16 / bf16 too; NCCL 2.20 has no fp8 type (and a
  sum of 8 ranks' partial sums in e4m3 would lose the result);
* the KV cache's writers and readers (KV_APPEND, the cached K/V views and the attention GEMMs of a cached layer)
  run in the KV-cache dtype, and ``meta["kv_cache_bytes"]`` counts the cache in it; the readers that compute (the
  fused attention, the scores and context GEMMs) write their outputs in the activation dtype (``out_dtype``; the
  16-bit one under an 8/4-bit activation dtype). Unset, the KV-cache dtype is the activation dtype's, but fp8 under
  fp4 (:func:`~accelsim.units.default_kv_cache`: NVFP4 checkpoints keep an FP8 cache), and an fp4 one is
  refused at its key; an attention built in fp4 any other way computes in fp8 (:func:`floor_attention`). The
  attention over an int8 / int4 cache keeps the cache's dtype here (the builders see no hardware: an int8 NPU attends
  in it); on a GPU preset the cost model runs its FlashAttention kernel at the 16-bit ``out_dtype``, dequantising
  the cache on read (:func:`accelsim.cost.attention.compute_dtype`; probe p252 #1), and an unfused one's scores and
  context GEMMs (attr ``kv_operand``, :func:`on_kv_attrs`) likewise (:func:`accelsim.cost.attention.gemm_dtype`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from ..errors import WorkloadError
from ..ir import Graph, Op, OpKind, Weight, WeightPool
from ..units import (
    DTYPE_BITS,
    INT_BIAS_DTYPE,
    LOW_BIT_GEMM_OUT,
    NARROW_KV_CACHE,
    QUANTISED_WEIGHTS,
    ZERO_POINT_WEIGHTS,
    attention_dtype,
    default_kv_cache,
    dtype_bytes,
)
from .params import PER_ROW


def _linear_weights(op: Op) -> bool:
    """A linear layer's weights, which the weight dtype quantises: a LINEAR's, or a MATMUL's that multiplies an
    activation by them (it reads a weight matrix, two or more dimensions: an ONNX MatMul's initializer, SAM's rel-pos
    table, a MoE's stacked experts; or a single activation: an imported MatMul with a 1-D initializer); not a tied
    head's (its embedding's table). A MATMUL of two or more activations whose weights are all 1-D is a kernel that
    also reads per-head parameters, and neither they nor its compute are quantised: Mamba-2's ``chunk_scan`` with
    ``D`` (:func:`.ssm.mamba2`), which vLLM keeps a plain ``nn.Parameter`` beside ``A`` and ``dt_bias``, built with no
    quant_config, while ``in_proj`` and ``out_proj`` take it (vllm-project/vllm
    vllm/model_executor/layers/mamba/mamba_mixer2.py at bb435dbd5899, ``MambaMixer2.__init__``), and whose SSD kernel
    dots C with the states and (C·Bᵀ ⊙ decay) with x in their 16-bit dtype into an fp32 ``acc``, adding ``x * D`` in
    fp32 (vLLM's ssd_chunk_scan.py ``_chunk_scan_fwd_kernel`` at 01d5a332e9fa: ``cb.to(x_ptr.dtype.element_ty)``,
    ``tl.dot(cb, x)``, ``D ... .to(tl.float32)``; its output ``x.dtype``): no fp8 GEMM (brief ssmd, ssmfix's "Left
    undone": under ``weight_dtype: int4`` D was stored in int4 with a group scale, under W8A8 in fp8 with chunk_scan
    at the fp8 rate)."""
    if "tied" in op.attrs or not op.weights:
        return False
    if op.kind is OpKind.MATMUL:
        return len(op.inputs) < 2 or any(len(w.shape) >= 2 for w in op.weights)
    return op.kind is OpKind.LINEAR


def _held_linear_weights(op: Op) -> bool:
    """Linear weights a pass holds but does not read (a decode step's idle experts, ``unused_params`` with
    ``linear``): stored in the weight dtype as the experts that run."""
    return op.fn == "unused_params" and bool(op.attrs.get("linear"))


def _kv_scopes(graph: Graph) -> set[str]:
    """The attention scopes that own a KV cache (from the KV_APPEND ops and the cache inputs)."""
    caches = [str(op.attrs["cache"]) for op in graph.ops if op.kind is OpKind.KV_APPEND]
    caches += list(graph.info.kv_cache)
    return {c.rsplit(".", 1)[0] for c in caches}


def touches_kv(op: Op) -> bool:
    """An op of an attention block that writes or reads its KV cache: the append, the attention, and by name the
    scores and context GEMMs, the cached K/V views (``k_all``, ``v_all``), eager GQA's copies of them out to every
    head (``k_repeat``, ``v_repeat``: the cache's dtype, copied) and DeepSeek-V3.2's indexer logits (``logits``: FP8
    where its keys are, as DeepGEMM's fp8_mqa_logits)."""
    leaf = op.name.rpartition(".")[2]
    return op.kind in (OpKind.KV_APPEND, OpKind.ATTENTION) or leaf in ("scores", "context", "k_all", "v_all", "logits",
                                                                       "k_repeat", "v_repeat")


# an attention's parts: context parallelism's (TransformerBuilder._cp_attention: chunk0 / chunk1, ring steps
# step0 …) and chunked attention's (_chunked_attention: chunks, last_chunk)
_CP_PART = re.compile(r"\.(?:chunk\d+|step\d+|chunks|last_chunk)$")


def _reads_kv(op: Op, scopes: set[str]) -> bool:
    return _CP_PART.sub("", op.name.rpartition(".")[0]) in scopes and touches_kv(op)


def computes_on_kv(op: Op) -> bool:
    """An op that reads the KV cache and writes an activation (the attention, its scores and context GEMMs,
    DeepSeek-V3.2's indexer logits), as opposed to the cache's writer and views."""
    return op.kind is OpKind.ATTENTION or op.name.rpartition(".")[2] in ("scores", "context", "logits")


def on_kv_attrs(op: Op, out: str, group: int = 1) -> dict:
    """The attrs of an op computing on the KV cache (:func:`computes_on_kv`) in the cache's dtype and writing ``out``:
    ``out_dtype``, and on an unfused attention's ``scores`` / ``context`` GEMM ``kv_operand`` (its B operand, K or V,
    is the cache; its A operand, Q or the probabilities, an activation in ``out``), by which a GPU preset's cost model
    dequantises an int8 / int4 cache to ``out`` and computes at its rate (:func:`accelsim.cost.attention.gemm_dtype`;
    the builders see no hardware: an int8 NPU runs the GEMM in int8), and ``kv_group`` where its B operand holds
    each cached element ``group`` times (eager GQA's ``repeat_kv`` copy), so that the cost model counts the
    dequantisation once per element of the cache (:func:`accelsim.cost.attention.kv_elements`)."""
    gemm = op.kind is OpKind.MATMUL and op.name.rpartition(".")[2] in ("scores", "context")
    return {**op.attrs, "out_dtype": out,
            **({"kv_operand": True, **({"kv_group": group} if group > 1 else {})} if gemm else {})}


def _kept(modules: Iterable[str] | None) -> re.Pattern[str] | None:
    """The ops whose weights stay in the compute dtype: those of the ``modules`` (dotted module names or their
    tails, as transformers' ``modules_to_not_convert`` names them: ``lm_head``, ``mlp.gate`` every layer's router,
    ``model.layers.*.self_attn`` with ``*`` one name part) and under them, matched at name boundaries."""
    if not modules:
        return None
    parts = "|".join(re.escape(m).replace(r"\*", r"[^.]+") for m in modules)
    return re.compile(rf"(?:^|\.)(?:{parts})(?:\.|$)")


# the collectives that carry a GEMM's output over the tensor-parallel group: its partial sums (all-reduce,
# reduce-scatter) or its shards (all-gather); an all-to-all (a MoE's dispatch, a context-parallel exchange) or a
# send keeps the activation dtype, unless its builder marks what it carries (attrs ``gemm_output``, below)
GEMM_OUTPUT_COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")


def moves_gemm_output(fn: str, attrs: Mapping[str, object]) -> bool:
    """Whether a COLLECTIVE ``fn`` with ``attrs`` moves a GEMM's output, which an 8- or 4-bit model's collectives
    move in :func:`gemm_output_dtype`. By what it carries, where its builder says (``attrs["gemm_output"]``, true
    or false); else whether it is a tensor-parallel one (the builders' ``_tp_collective`` and their likes: fn in
    :data:`GEMM_OUTPUT_COLLECTIVES`, no ``extent``, which a context- or expert-parallel group's has), and never
    with ``keep_dtype`` (MiniMax-M2's fp32 variances).

    A MoE layer (:func:`.moe.moe_layer`) marks its collectives by what each carries, as DeepEP runs them ("FP8
    dispatching and BF16 combining", the setting of its README's benchmarks: deepseek-ai/DeepEP): the dispatch
    all-to-all moves the tokens' rows in the activation dtype (fp8), and so does the tensor-parallel
    ``experts_all_gather`` of those very rows (``gemm_output`` false); the combine all-to-all moves the experts'
    ``down_proj`` output, 16 bits (``gemm_output`` true), as the ``experts_reduce_scatter`` of its partial sums
    does (probe p114 #1)."""
    if attrs.get("keep_dtype"):
        return False
    if "gemm_output" in attrs:
        return bool(attrs["gemm_output"])
    return fn in GEMM_OUTPUT_COLLECTIVES and "extent" not in attrs


def gemm_output_dtype(dtype: str) -> str:
    """The dtype a GEMM of a model computing in ``dtype`` writes, which its tensor-parallel collectives move:
    ``dtype`` itself at 16 bits or more; bf16 for an 8- or 4-bit one (fp8, int8, fp4, int4: W8A8 and W4A4 GEMMs
    accumulate in fp32 and write 16 bits, vLLM's and TensorRT-LLM's; bf16 as Llama 3 / FP8 checkpoints run)."""
    return dtype if DTYPE_BITS[dtype] >= 16 else LOW_BIT_GEMM_OUT


_STORED = WeightPool()  # the weights as stored (quantised): an MoE model's experts again for each pass of a run

DEFAULT_GROUP_SIZE: dict[str, int] = {"int4": 128, "int8": 128, "fp4": 32}
"""Weights per scale of a quantised weight dtype when the workload gives no ``quant_group_size``: 128 for int4 /
int8 (GPTQ's and AWQ's usual group), 32 for fp4: MXFP4, 32 FP4 (E2M1) elements sharing one 8-bit E8M0 scale (OCP
Microscaling Formats (MX) Specification v1.0, section 5, the MXFP4 row of its format table), 4.25 bits a weight.
NVFP4 (16 elements, an E4M3 scale) is ``quant_group_size: 16``."""


def _routers(graph: Graph) -> set[str]:
    """The MoE routers: the linears whose logits a ``router_topk`` reads (:func:`.moe.moe_layer`). They stay in the
    model's dtype, as vLLM builds every MoE gate unquantised (its FusedMoE quantises the experts only; AWQ Mixtral
    checkpoints list ``gate`` in ``modules_to_not_convert``: probe p171 #6)."""
    return {op.inputs[0] for op in graph.ops if op.fn == "router_topk" and op.inputs}


_SERVED_UNQUANTISED = re.compile(r"(?:^|\.)(?:shared_expert_gate|indexer\.wk|indexer\.weights_proj)$")
"""The linears vLLM builds unquantised whatever the checkpoint's quantisation (probe p178 #4, #5), by op name:
Qwen2-MoE's (and Qwen3-Next's) ``shared_expert_gate``, a ``torch.nn.Linear(hidden, 1)`` with no quant_config (vLLM
qwen2_moe.py, Qwen2MoeSparseMoeBlock); DeepSeek-V3.2's indexer ``wk`` and ``weights_proj`` (vLLM deepseek_v2.py's
Indexer: ``wk_weights_proj`` with quant_config=None, "FP8 WK weights are upcasted to BF16 during loading"; ``wq_b``
is quantised). They keep the model's 16-bit weights and compute, as the routers (:func:`_routers`)."""

_ABSORBED = re.compile(r"(?:^|\.)(?:q_absorb|v_absorb)$")
"""DeepSeek MLA's absorbed batched GEMMs of a decode step (W_UK_T, W_UV: ``q_absorb`` / ``v_absorb``), 16-bit
under an 8/4-bit activation dtype (W8A8, W4A4): vLLM's MLA common backend "we currently do not have quantized bmm's
... we just store fp16/bf16 copies and perform the bmm's in 16-bit", dequantising kv_b_proj into them (probe p178
#5). Under a weight-only dtype they read kv_b_proj's stored weights as before (its bf16 copies, which vLLM holds
beside the quantised kv_b_proj, are not modelled: a decode graph's weights match its prompt's)."""


def _gemm_dtype(activation: str, weight: str) -> str:
    """The dtype a quantised GEMM with ``activation`` inputs and ``weight`` weights computes in: the wider of the two
    (the activation dtype on a tie): a multiply with an 8-bit operand runs at most at the 8-bit rate (B200 datasheet:
    FP8/FP6 4.5 PFLOPS, FP4 9 PFLOPS; Blackwell's mixed f8f6f4 MMA runs at the FP8 rate), so fp8 weights with fp4
    activations compute in fp8 (probe p171 #5), int4 weights with fp8 activations dequantise to fp8 (W4A8)."""
    return weight if DTYPE_BITS[weight] > DTYPE_BITS[activation] else activation


def _carries(op: Op) -> bool:
    """A collective that moves its input as stored (not a GEMM's output, :func:`moves_gemm_output`): a MoE's
    dispatch all-to-all and the gather of the dispatched rows, a context-parallel exchange."""
    return op.kind is OpKind.COLLECTIVE and not op.attrs.get("keep_dtype") and not moves_gemm_output(op.fn, op.attrs)


def _fuse_input_quantisation(ops: list[Op], quantised: set[str], activation: str) -> list[Op]:
    """``ops`` with the producers of the quantised GEMMs' inputs writing them in ``activation`` (attrs
    ``out_dtype``): an op whose output (through views and the collectives that carry it, :func:`_carries`: a MoE's
    dispatch all-to-all, which then moves 8-bit rows, DeepEP's "FP8 dispatching") only GEMMs computing in an 8- or
    4-bit dtype read. The per-token quantisation is fused into the producer, as vLLM's compilation fuses RMSNorm +
    quant and SiLU-and-mul + quant (RMSNormQuantFusionPass, ActivationQuantFusionPass) and TensorRT-LLM its norms'
    quantised output: no kernel of its own, the producer reads 16 bits and writes 8. A producer that another op
    reads too (a residual, a router's input) or that is itself a GEMM or an attention (o_proj's input) writes 16
    bits, and the quantised GEMM reads those (its input's quantisation folded into it: coarse). A carrying
    collective moves its input's dtype."""
    phys: dict[str, tuple[str, ...]] = {}
    readers: dict[str, set[str]] = {}
    for op in ops:
        srcs = tuple(t for src in op.inputs for t in phys.get(src, (src,)))
        if op.kind.is_view or _carries(op):
            phys[op.name] = srcs
            continue
        for t in srcs:
            readers.setdefault(t, set()).add(op.name)
    written: dict[str, str] = {}
    out = []
    for op in ops:
        r = readers.get(op.name)
        if (r and r <= quantised and not op.kind.is_matmul and not op.kind.is_view and not _carries(op)
                and "out_dtype" not in op.attrs and not op.attrs.get("keep_dtype") and op.out_dtype != activation):
            op = dataclasses.replace(op, attrs={**op.attrs, "out_dtype": activation})
        elif _carries(op):
            src = phys[op.name][:1]
            op = dataclasses.replace(op, dtype=written.get(src[0], op.dtype) if src else op.dtype)
        written[op.name] = op.out_dtype
        out.append(op)
    return out


def _per_row(group_size: int, shape: tuple[int, ...]) -> int:
    """``group_size``, or for :data:`~.params.PER_ROW` (-1, GPTQ / AWQ's per-channel) the row's K: one scale a row."""
    return max(shape[-1], 1) if group_size == PER_ROW and shape else group_size


# the tensor-parallel collectives that complete partial sums: a row-split linear's output reaches one of these
_REDUCING = ("all_reduce", "reduce_scatter")


def _row_split(graph: Graph) -> set[str]:
    """The weight-reading linears whose input features (K) tensor parallelism splits: the row-split ones, whose
    outputs are partial sums that a tensor-parallel all-reduce or reduce-scatter completes (``attrs["group"]`` > 1,
    no ``extent``: not a context- or expert-parallel group's), read directly or through views, the adds of
    several blocks' partial sums (Falcon's parallel attention and MLP, :meth:`.tlayers.TransformerBuilder.partial_sums`)
    and element-wise scalings (a ``mul``: Qwen2-MoE / Qwen3-Next's shared expert times sigmoid(shared_expert_gate),
    vLLM's Qwen2MoeMLP down_proj a RowParallelLinear; probe p205 #1). A partial sum times a scale stays one only when
    the scale is whole on every chip, so the scale's side is a replicated linear (``tp_replicas``, never counted) or
    an activation of one (not walked through); a column-split linear, whose output is a slice, not a partial sum,
    is not reached through it.
    """
    by_name = {op.name: op for op in graph.ops}
    todo = [op.inputs[0] for op in graph.ops if op.kind is OpKind.COLLECTIVE and op.fn in _REDUCING and op.inputs
            and int(op.attrs.get("group", 1) or 1) > 1 and "extent" not in op.attrs]
    seen: set[str] = set()
    split: set[str] = set()
    while todo:
        name = todo.pop()
        op = by_name.get(name)
        if name in seen or op is None:
            continue
        seen.add(name)
        if op.kind in (OpKind.LINEAR, OpKind.MATMUL) and op.weights:
            if "tp_replicas" not in op.attrs:
                split.add(name)
        elif op.kind.is_view or (op.kind is OpKind.ELEMENTWISE and op.fn in ("add", "mul")):
            todo.extend(op.inputs)
    return split


def _check_tp_groups(graph: Graph, ops: list[Op], per_row: bool = False) -> None:
    """Refuse a tensor-parallel shard that cuts a GPTQ / AWQ weight's quantisation group or its packing, as vLLM's
    GPTQ and AWQ linear methods do in ``create_weights`` (vllm-project/vllm
    vllm/model_executor/layers/quantization/awq.py and gptq.py: ``input_size_per_partition % group_size != 0`` raises
    "The input size is not aligned with the quantized weight shape. This can be caused by too large tensor parallel
    size.", and ``output_size_per_partition % pack_factor != 0``, pack_factor = 32 / bits, the same about the output
    size; probe p196 #1). For the integer group-quantised weights (int4 / int8, :data:`~accelsim.units.INT_BIAS_DTYPE`'s
    quantised ones; not fp4's Microscaling blocks) under ``tensor_parallel`` > 1: a row-split linear
    (:func:`_row_split`) whose K per chip is not a whole number of groups (rank r's slice starts at r·K, mid-group
    unless the group divides K; a per-row scale, ``group_size`` -1, spans no rank boundary), and a column-split one
    (not row-split, not :meth:`~.tlayers.TransformerBuilder.replicated`) whose output features per chip are not a
    whole number of 32-bit words of packed weights.

    A MoE's routed experts (ops with ``attrs["experts"]`` / ``["idle_experts"]``) are not GPTQ / AWQ linears but a
    fused-MoE layer, which vLLM checks otherwise, after the linears (probe p205 #1): Marlin MoE
    (quantization/utils/marlin_utils.py ``check_moe_marlin_supports_layer``: ``hidden_size % 128 == 0 and
    intermediate_size_per_partition % max(64, group_size) == 0``) else ``MoeWNA16Method.create_weights``
    (quantization/moe_wna16.py), which halves the group while it does not divide both the intermediate size per
    chip and the hidden size and asserts ``group_size >= 32`` at each halving (:func:`_moe_group`). Any shape Marlin
    takes WNA16 takes with the group whole, so a shard is refused where no halving of the group down to 32 divides
    both of an expert weight's dimensions (Qwen1.5-MoE at TP 8: 1408 / 8 = 176 features a chip, 176 % 32 = 16);
    int4 only (WNA16's int8 takes only per-row scales), and not for per-row scales (``per_row``: quant_group_size
    -1, stored as a group of the row's K)."""
    tp = int(graph.meta.get("tensor_parallel", 1) or 1)
    if tp <= 1:
        return
    rows: set[str] | None = None
    moe: list[tuple[Op, Weight]] = []
    for op in ops:
        for w in op.weights:
            if w.dtype not in INT_BIAS_DTYPE or not w.group_size or len(w.shape) < 2 or w.k_axis is not None:
                continue
            if "experts" in op.attrs or "idle_experts" in op.attrs:
                moe.append((op, w))
                continue
            rows = _row_split(graph) if rows is None else rows
            n, k, gs = w.shape[-2], w.shape[-1], w.group_size  # (out, in); a per-row scale's group is K
            pack = 32 // DTYPE_BITS[w.dtype]
            if op.name in rows and k % gs:
                raise WorkloadError(
                    f"{graph.name}: tensor_parallel {tp} splits {op.name}'s {k * tp} input features into {k} per chip, "
                    f"{k / gs:g} groups of quant_group_size {gs}: a group of its {w.dtype} weights would straddle two "
                    f"chips, which vLLM's GPTQ / AWQ refuse (\"The input size is not aligned with the quantized weight "
                    f"shape. This can be caused by too large tensor parallel size.\"); use a tensor_parallel that leaves "
                    f"whole groups on each chip or a quant_group_size dividing {k}", key=("tensor_parallel",), also=("quant_group_size", "weight_dtype"))
            if op.name not in rows and "tp_replicas" not in op.attrs and n % pack:
                raise WorkloadError(
                    f"{graph.name}: tensor_parallel {tp} leaves {op.name} {n} output features per chip, not a multiple "
                    f"of the {pack} {w.dtype} weights packed in a 32-bit word (GPTQ / AWQ's pack factor): vLLM refuses "
                    f"this (\"The output size is not aligned with the quantized weight shape\"); use a smaller "
                    f"tensor_parallel", key=("tensor_parallel",), also=("weight_dtype",))
    # a fused gate_up weight is (2 x intermediate, hidden): named is the refused weight of the fewest features, the
    # down_proj's intermediate per chip (the one WNA16 checks; its multiples pass where it does)
    # (a per-row scale, stored as a group of the row's K, is never halved: vLLM's ``176 % -1 == 0``)
    refused = [(min(w.shape[-2:]), i, op, w) for i, (op, w) in enumerate(moe) if DTYPE_BITS[w.dtype] == 4
               and not per_row and not _moe_group(w.group_size, tuple(w.shape[-2:]))[0]]
    if refused:
        _, _, op, w = min(refused, key=lambda r: r[:2])
        dims = tuple(w.shape[-2:])
        tried = _moe_group(w.group_size, dims)[1]
        d = next(d for d in dims if d % tried)
        raise WorkloadError(
            f"{graph.name}: tensor_parallel {tp} leaves {op.name} a {dims[0]} x {dims[1]} {w.dtype} weight an expert "
            f"per chip: no quant_group_size halved from {w.group_size} down to 32 divides both ({d} % {tried} = "
            f"{d % tried}), which vLLM's fused-MoE WNA16 method asserts (MoeWNA16Method.create_weights: group_size "
            f">= 32; Marlin MoE, needing the intermediate size per chip a multiple of {max(64, w.group_size)}, falls "
            f"back to it); use expert_tensor_parallel 1 (whole experts on each chip) or a smaller tensor_parallel",
            key=("tensor_parallel",), also=("expert_tensor_parallel", "quant_group_size", "expert_weight_dtype",
                                            "weight_dtype"))


def _moe_group(group_size: int, dims: tuple[int, ...]) -> tuple[int, int]:
    """The group vLLM's ``MoeWNA16Method.create_weights`` stores a fused-MoE weight of dimensions ``dims``
    (intermediate per chip and hidden) with, ``group_size`` halved while it does not divide both, and the last group
    tried; the group 0 where a halving takes it below 32 (its ``assert group_size >= 32``)."""
    tried = group_size
    while any(d % group_size for d in dims):
        tried, group_size = group_size, group_size // 2
        if group_size < 32:
            return 0, tried
    return group_size, group_size


def _vector_weights(op: Op, narrow: bool, activation: str) -> Op:
    """A ``keep_dtype`` op (a decode step's state update, in the state's dtype) whose weights (Mamba's A_log,
    dt_bias, D: :func:`.ssm._recurrent_update` builds them in the model's dtype) take the dtype this pass gives any
    vector op's weights, the 16-bit dtype under W8A8 / W4A4, else the activation dtype: so a decode step stores them
    as a prompt's chunk_cumsum does (probe p276 #1)."""
    if not op.weights:
        return op
    return dataclasses.replace(op, weights=tuple(
        dataclasses.replace(w, dtype=gemm_output_dtype(w.dtype) if narrow else activation) if w.dtype else w
        for w in op.weights))


def apply_precision(graph: Graph, *, weight: str | None, activation: str, kv_cache: str | None,
                    group_size: int | None, expert_weight: str | None = None, whole: bool = False,
                    zero_points: bool = False) -> Graph:
    """``graph`` with the dtypes of the module docstring (``None``: the activation dtype); ``expert_weight``: the
    dtype of the MoE experts' weights (ops with ``attrs["experts"]``, or ``["idle_experts"]`` for those a pass holds
    unread; default ``weight``); ``group_size`` None or 0: each quantised dtype's :data:`DEFAULT_GROUP_SIZE`;
    -1 (:data:`~.params.PER_ROW`): one scale per row. ``whole``: an 8/4-bit activation dtype runs the whole model,
    not W8A8 / W4A4 (:func:`whole_model`: the arch's own dtype, or a training step). ``zero_points``: an asymmetric
    scheme (a checkpoint's AWQ / GPTQ ``sym: false`` / compressed-tensors ``symmetric: false`` quantization_config) stores a zero point per group beside each
    int4 / int8 weight's scale (:data:`~accelsim.units.ZERO_POINT_WEIGHTS`); a plain ``weight_dtype`` is symmetric,
    scales only."""
    weight = weight or activation
    # unset: the activation dtype, but fp8 under fp4 activations, as NVFP4 checkpoints keep it (probe p231 #2)
    kv_note = [] if kv_cache or default_kv_cache(activation) == activation else [
        f"kv_cache_dtype unset: the KV cache is {NARROW_KV_CACHE}, not the {activation} activations' dtype, and "
        f"the attention over it runs at the {NARROW_KV_CACHE} rate, as NVFP4 checkpoints keep an FP8 cache "
        f"(kv_cache_quant_algo FP8) and no serving stack attends in {activation}"]
    kv_cache = kv_cache or default_kv_cache(activation)
    expert_weight = expert_weight or weight
    if (weight == activation == kv_cache == expert_weight and (DTYPE_BITS[weight] >= 16 or whole)
            and all(op.dtype == activation for op in graph.ops)):
        return graph
    # W8A8 / W4A4: only the quantised GEMMs compute in the 8/4-bit dtype; they write 16 bits, and every other op
    # (norms, RoPE, residual adds, SiLU·mul, softmax, the embedding, lm_head) runs in the model's 16-bit dtype
    narrow = DTYPE_BITS[activation] < 16 and not whole
    scopes = _kv_scopes(graph)
    keep = _kept(graph.meta.get("unquantised"))  # modules whose weights stay unquantised
    routers = _routers(graph)
    quantised: set[str] = set()  # (narrow) the GEMMs that read 8/4-bit activations
    ops: list[Op] = []
    repeats = {op.name: int(op.attrs.get("group", 1)) for op in graph.ops  # type: ignore[call-overload]
               if op.fn == "repeat_kv"}  # eager GQA's copies of K / V out to every query head
    for op in graph.ops:
        if op.attrs.get("keep_dtype"):  # a recurrent state's ops (fp32 whatever the model's dtypes)
            ops.append(_vector_weights(op, narrow, activation))
            continue
        wide = gemm_output_dtype(op.dtype)  # the model's dtype, as built (bf16 for a model built in 8 or 4 bits)
        if narrow and op.kind is OpKind.COLLECTIVE:
            # the GEMM's output in the model's dtype (as built), not the 8/4-bit activation dtype (probe p106 #1);
            # another collective moves its input as stored (_fuse_input_quantisation)
            ops.append(dataclasses.replace(op, dtype=wide))
            continue
        if whole and op.kind is OpKind.COLLECTIVE and moves_gemm_output(op.fn, op.attrs):
            ops.append(dataclasses.replace(op, dtype=wide))  # an integer GEMM's output, wider (probe p106 #1)
            continue
        w_dtype = expert_weight if "experts" in op.attrs or "idle_experts" in op.attrs else weight
        linear = _linear_weights(op)
        stored = (linear or _held_linear_weights(op)) and not (keep and keep.search(op.name)) \
            and op.name not in routers and not _SERVED_UNQUANTISED.search(op.name) \
            and not (narrow and _ABSORBED.search(op.name))
        compute = activation
        if narrow:  # a quantised GEMM computes in the wider of its operands' dtypes; any other op in 16 bits
            compute = _gemm_dtype(activation, w_dtype) if stored and linear else wide
        dtype = kv_cache if _reads_kv(op, scopes) else compute
        weights, attrs = op.weights, op.attrs
        out = wide if narrow else activation  # what an op computing in another dtype writes
        if dtype != out and (computes_on_kv(op) or (stored and linear)):  # writes an activation
            # (a linear layer: out_dtype alone)
            attrs = on_kv_attrs(op, out, repeats.get(op.inputs[1], 1) if len(op.inputs) > 1 else 1)
        if narrow and stored and linear and DTYPE_BITS[dtype] < 16:
            quantised.add(op.name)
        # 4-bit weights are stored two per byte, also when the compute is 4-bit
        if stored and (w_dtype != compute or DTYPE_BITS[w_dtype] < 8):
            # stored with group-wise scales
            gs = (group_size or DEFAULT_GROUP_SIZE[w_dtype]) if w_dtype in QUANTISED_WEIGHTS else 0
            # (not replace(): slow); biases stay in the model's 16-bit dtype, as quantised checkpoints keep them and
            # W8A8 kernels add them to the 16-bit output (vLLM's cutlass_scaled_mm takes a bias of its out_dtype)
            weights = tuple((_STORED.get(w.name, w.shape, w.role, wide, 0) if narrow else w) if w.name.endswith("bias")
                            else _STORED.get(w.name, w.shape, w.role, w_dtype, _per_row(gs, w.shape),
                                             zero_points and gs != 0 and w_dtype in ZERO_POINT_WEIGHTS)
                            for w in op.weights)
            if w_dtype != compute and linear:
                attrs = {**attrs, "dequant": w_dtype}
        elif narrow and stored and dtype != wide:  # weights in the compute dtype; a bias in the 16-bit output's
            weights = tuple(_STORED.get(w.name, w.shape, w.role, wide, 0) if w.name.endswith("bias") else w
                            for w in op.weights)
        ops.append(dataclasses.replace(op, dtype=dtype, weights=weights, attrs=attrs))
    _check_tp_groups(graph, ops, group_size == PER_ROW)
    if narrow:
        ops = _fuse_input_quantisation(ops, quantised, activation)
    meta = dict(graph.meta)
    if "kv_cache_bytes" in meta:  # the KV part in the cache's dtype; recurrent states (state_cache_bytes) as built
        states = int(meta.get("state_cache_bytes", 0))
        meta["kv_cache_bytes"] = (int(meta["kv_cache_bytes"]) - states) \
            // dtype_bytes(str(meta.get("dtype") or activation)) * dtype_bytes(kv_cache) + states
    if kv_note:
        meta["notes"] = [*meta.get("notes", ()), *kv_note]
    meta.update(weight_dtype=weight, activation_dtype=activation, kv_cache_dtype=kv_cache, dtype=activation,
                **({"expert_weight_dtype": expert_weight} if expert_weight != weight else {}))
    return Graph(graph.name, ops, graph.inputs, meta=meta)


def floor_attention(graph: Graph) -> Graph:
    """``graph`` with each attention (a fused ATTENTION op, an unfused one's ``scores`` / ``context`` GEMMs) whose
    dtype no modelled attention kernel computes in (fp4) computing in :func:`~accelsim.units.attention_dtype`'s
    (fp8: the rate and MAC energy; a byte an element either way), writing what it wrote, with a note; ``graph``
    itself where none does (probe p231 #2: a model built in fp4 attended at fp4's tensor rate)."""
    ops, moved = [], 0
    for op in graph.ops:
        attends = op.kind is OpKind.ATTENTION or (op.kind is OpKind.MATMUL
                                                  and op.name.rpartition(".")[2] in ("scores", "context"))
        if attends and attention_dtype(op.dtype) != op.dtype:
            out = op.attrs.get("out_dtype") or op.dtype
            op = dataclasses.replace(op, dtype=attention_dtype(op.dtype), attrs={**op.attrs, "out_dtype": out})
            moved += 1
        ops.append(op)
    if not moved:
        return graph
    was = next(d for d in (o.dtype for o in graph.ops) if attention_dtype(d) != d)
    note = (f"{moved} attention op(s) in {was} compute at the {attention_dtype(was)} rate: no modelled attention "
            f"kernel (vLLM, TensorRT-LLM, FlashInfer) computes QKᵀ or PV in {was}")
    return Graph(graph.name, ops, graph.inputs, meta={**graph.meta, "notes": [*graph.meta.get("notes", ()), note]})


def whole_model(p: object) -> bool:
    """Whether ``p``'s 8- or 4-bit compute dtype runs the whole model in it, every op and weight (the behaviour of an
    NPU compiler's full-integer quantisation: TFLite's, the Edge TPU's; TPU v1 has int8 and int16 datapaths only,
    Jouppi et al., ISCA 2017), rather than W8A8 / W4A4's decoder GEMMs only (:func:`weight_only`): where it is the
    arch's dtype (``workload.dtype`` unset, :func:`accelsim.builders.build.build_workload`) and the workload
    quantises nothing itself (no ``activation_dtype``, ``weight_dtype`` or ``expert_weight_dtype``), and in a
    training step (the W8A8 rule is vLLM's serving; probe p178 #1, #2). False for a 16-bit or wider dtype."""
    activation = getattr(p, "activation_dtype", None) or getattr(p, "dtype", None) or "fp16"
    if DTYPE_BITS[activation] >= 16:
        return False
    if getattr(p, "mode", "inference") == "training":
        return True
    own = any(getattr(p, k, None) is not None for k in ("activation_dtype", "weight_dtype", "expert_weight_dtype"))
    return not own and bool(getattr(p, "_dtype_defaulted", False))


def weight_only(p: object) -> bool:
    """Whether ``p``'s :class:`~.params.PrecisionParams` quantise the model: weights stored in another dtype than the
    compute's (W4A16, W8A16: a ``weight_dtype`` other than the activation dtype), or an 8- or 4-bit activation dtype
    (W8A8, W4A4) that is no :func:`whole_model` dtype (an 8-bit arch's own, a training step's). The LLM builders then keep the untied LM head unquantised in the model's 16-bit dtype (graph meta
    ``unquantised``), as GPTQ / AWQ checkpoints do (AutoAWQ never quantises ``lm_head``, GPTQ's ``lm_head`` is false
    by default) and as W8A8 / W4A4 serving does: vLLM's Fp8Config.get_quant_method quantises only LinearBase,
    FusedMoE and Attention (``lm_head`` is a ParallelLMHead, a VocabParallelEmbedding: unquantised), and NVIDIA
    ModelOpt's FP8 / NVFP4 exports write ``"exclude_modules": ["lm_head"]`` (probe p171 #1)."""
    weight = getattr(p, "weight_dtype", None)
    activation = getattr(p, "activation_dtype", None) or getattr(p, "dtype", None) or "fp16"
    return (weight is not None and weight != activation) or (DTYPE_BITS[activation] < 16 and not whole_model(p))


def scaled_weights(weight: str | None, activation: str, expert_weight: str | None = None) -> set[str]:
    """The weight dtypes :func:`apply_precision` stores with group-wise scales, one per ``group_size`` weights: a
    quantised dtype (int4 / int8 / fp4) other than the compute dtype, or a 4-bit one; empty when none is, and the
    workload's ``quant_group_size`` is then read by nothing."""
    weight = weight or activation
    return {w for w in (weight, expert_weight or weight)
            if w in QUANTISED_WEIGHTS and (w != activation or DTYPE_BITS[w] < 8)}


def no_scales_why(weight: str | None, activation: str | None, expert_weight: str | None = None) -> str | None:
    """Why a ``quant_group_size`` would change nothing with these dtypes (no weight stored with scales,
    :func:`scaled_weights`), or None where some weight reads it. ``activation`` None: the arch's dtype, not known
    here, taken as no quantised dtype (no preset's is 4-bit) and as differing from a quantised ``weight``."""
    if activation is None:
        if weight in QUANTISED_WEIGHTS or expert_weight in QUANTISED_WEIGHTS:
            return None
        what = weight or "in the compute dtype (workload.dtype unset: the arch's)"
        return (f"needs weight_dtype int4/int8/fp4 (a quantised weight, stored with a scale per group): the weights "
                f"here are {what}, stored without scales")
    if scaled_weights(weight, activation, expert_weight):
        return None
    weight = weight or activation
    what = f"{weight}, the compute dtype" if weight == activation else weight
    return (f"needs weight_dtype int4/int8/fp4 (a quantised weight, stored with a scale per group): the weights here "
            f"are {what}, stored without scales")


def with_precision(graph: Graph, p: object) -> Graph:
    """``graph`` with the dtypes of ``p``'s :class:`~.params.PrecisionParams` fields (see :func:`apply_precision`)."""
    activation = getattr(p, "activation_dtype", None) or getattr(p, "dtype", None) or "fp16"
    return apply_precision(graph, weight=getattr(p, "weight_dtype", None), activation=activation,
                           kv_cache=getattr(p, "kv_cache_dtype", None), group_size=getattr(p, "quant_group_size", None),
                           expert_weight=getattr(p, "expert_weight_dtype", None), whole=whole_model(p))


__all__ = ["DEFAULT_GROUP_SIZE", "GEMM_OUTPUT_COLLECTIVES", "apply_precision", "computes_on_kv", "floor_attention",
           "gemm_output_dtype",
           "moves_gemm_output", "no_scales_why", "scaled_weights", "touches_kv", "weight_only", "whole_model",
           "with_precision"]
