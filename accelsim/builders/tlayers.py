"""Transformer layer toolkit: :class:`TransformerBuilder`, a :class:`~accelsim.builders.layers.GraphBuilder` with
token-wise linears, (grouped-query) attention unfused or fused, a KV cache, norms, MLPs, embeddings and RoPE.

It keeps GraphBuilder's style: each method appends op(s) named inside the current :meth:`~GraphBuilder.scope`
and returns the name of the op that holds the result; weight names are ``f"{op}.weight"`` / ``f"{op}.bias"``
(Hugging Face / torchvision module names, so ``Graph.params`` counts each tensor once). Unlike GraphBuilder a
TransformerBuilder has several named graph inputs (token ids, images, KV caches), given as a mapping; the first
one is usually ``"input"`` (``.input`` names ``"input"`` where there is one so named, else the first declared).

Op conventions (the mapper relies on these):

* Token tensors are (batch, tokens, features). Head splits and merges, transposes, slices (the CLS token, q/k/v
  out of a fused projection), SAM's window partition (its zero padding included) and un-partition (its crop) are
  RESHAPE views: no work, no bytes of their own; except, with ``eager_attention``, an unfused attention's head merge
  with heads and tokens above 1, transformers' ``transpose(1, 2).contiguous()`` copy (:meth:`TransformerBuilder.merge_heads`).
  A concatenation along the tokens is a CONCAT view.
* Linear over tokens: LINEAR, ``Gemm(m = batch·tokens, n = out, k = in)``; weight (out, in) [+ bias (out,)];
  flops = 2·macs (+ one add per output element with a bias). A fused q/k/v projection is one LINEAR to
  3·heads·head_dim, then three views. A tied output head (LM head, generator) reuses the embedding's Weight name.
* 1-D convolution (N, C, L): CONV, ``Gemm(m = N·L_out, n = C_out/groups, k = kernel·C_in/groups, count = groups)``.
* Unfused attention: q (batch, heads, q_len, d_qk), k (batch, kv_heads, kv_len, d_qk), v (batch, kv_heads, kv_len,
  d_v). ``scores`` = MATMUL (q, k), ``Gemm(m = q_len, n = kv_len, k = d_qk, count = batch·heads)`` (for GQA k has
  kv_heads heads, so its bytes are the real K bytes; the count is still batch·heads); ``softmax`` = SOFTMAX,
  vector_elems = batch·heads·q_len·kv_len, 5 flops per element (max, subtract, exp, sum, divide; the 1/√d scale
  folds in, except that with the builder's ``eager_attention`` (the builders that claim transformers' eager
  attention) an ELEMENTWISE fn "scale" op runs it first, and with ``eager_padding_mask`` (BERT) an ELEMENTWISE fn
  "add" ``mask_add`` adds the extended mask: kernels on a GPU preset only, attr ``eager_copy``, 0 flops,
  :meth:`TransformerBuilder._eager_scale`; a causal mask is recorded in attrs, never discounted; with q_len > 1 an ELEMENTWISE fn
  "causal_mask" before it adds the (batch, 1, q_len, kv_len) mask input: TransformerBuilder._causal_mask; the
  Megatron-LM GPT masks inside its fused scale-mask-softmax instead, 6 flops per element); with the builder's
  ``softmax_dtype`` set and not the model's dtype (the Hugging Face builders: transformers' eager attention,
  ``softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)``, :data:`~accelsim.units.EAGER_SOFTMAX_DTYPE`)
  the softmax writes that dtype (attrs ``out_dtype``) and an ELEMENTWISE fn "cast" ``softmax_cast`` (0 flops,
  vector_elems = the scores', attrs ``attention_core``) copies the probabilities back to the model's dtype, so the
  softmax writes 4 B a score, the cast reads 4 and writes 2, and a training step keeps both (the softmax's fp32
  output for its gradient, the cast's for the context's: 6 B a score in bf16);
  ``context`` = MATMUL (probs, v), ``Gemm(m = q_len, n = d_v, k = kv_len, count = batch·heads)``.
  MACs = batch·heads·q_len·kv_len·(d_qk + d_v). With the builder's ``repeat_kv`` (the Hugging Face builders) and
  kv_heads < heads (not ``shared_kv``), two ELEMENTWISE fn "repeat_kv" copies ``k_repeat`` and ``v_repeat`` (0
  flops, vector_elems = the output's, attr ``group`` = heads / kv_heads) first expand K and V to
  (batch, heads, kv_len, d), as transformers' eager attention's ``repeat_kv`` (an ``expand`` then ``reshape``, which
  copies), and ``scores`` / ``context`` read the expanded tensors.
* Fused attention: ONE ATTENTION op, inputs (q, k, v), gemm = the QKᵀ Gemm, attrs ``pv_gemm`` (m, n, k, count)
  of PV, ``heads``, ``kv_heads``, ``q_len``, ``kv_len``, ``head_dim``, ``batch``, ``causal`` [, ``window``: a
  causal sliding window shorter than kv_len]; macs = both matmuls over every query × key (causal or windowed: the
  blocks its kernel skips are the cost model's, ``mapping.mac_fraction``); flops = 2·macs + 5·softmax elements;
  vector_elems = softmax elements; fn "attention".
  Additive score terms (SAM's decomposed relative positions, T5's and Swin's relative position bias, Swin's shift
  mask; an ONNX Attention's attn_mask) are extra inputs after v, 1 flop per score element each, their number the
  fused op's attr ``score_terms`` (unfused: an ELEMENTWISE fn "add_rel_pos" op between scores and softmax,
  vector_elems = terms × score elements: one add a score per term, SAM's ``attn + rel_h + rel_w`` two; fused, off a
  GPU the cost model prices them with the softmax, :func:`accelsim.cost.attention.softmax_cycles`). SAM's
  rel-pos einsums themselves are MATMUL ops reading q with the (2·size − 1, head_dim) rel_pos parameter as their weight.
* RoPE: ELEMENTWISE fn "rope" on the (batch, heads, tokens, head_dim) q and k, 3 flops per element.
* QK-norm (Qwen3): NORM fn "rmsnorm" ``q_norm`` / ``k_norm`` over head_dim of the (batch, heads, tokens, head_dim)
  q and k, after the projections and before RoPE; weight (head_dim,).
* KV cache (:class:`KVCache`): a cached attention layer ``L`` (its scope name) has caches ``L.k_cache`` and
  ``L.v_cache`` of shape (batch, kv_heads, tokens, head_dim). With past tokens (decode) they are graph inputs and
  attention reads a CONCAT view of (cache, new) along the tokens; the new K (after RoPE) and V are written by a
  KV_APPEND op each (input = the new k or v, same out_shape, 0 flops, 0 vector_elems, attrs ``cache``). With no
  past (prefill) the KV_APPEND ops write the whole prompt's K/V and attention reads the new K/V directly. A
  ``static`` cache (cross-attention K/V after prefill) is read whole and nothing is appended.
  :meth:`TransformerBuilder.kv_meta` gives ``kv_cache`` (sorted cache input names) and ``kv_cache_bytes``
  (bytes of every cache after this pass).
* Embedding look-up: EMBEDDING with the table as its weight (rows, d), attrs ``gather_rows`` (rows read) and
  fn "embedding", 0 flops and 0 vector_elems. Position tables and learned tokens (class token, SAM's
  iou/mask tokens) are EMBEDDING ops with no inputs (their row indices are constants): a position table gathers
  ``tokens`` rows into (1, tokens, d); a class token gathers its row once per sample. ViT-style (1, N, C) position
  parameters are a Weight on an ELEMENTWISE add instead.
* Norms: NORM fn "layernorm" (weight + bias, 5 flops per element), "rmsnorm" (weight, 4), "l2norm" (no weight,
  3: square, sum, scale); vector_elems = elements. LayerNorm2d (SAM) is "layernorm" over channel dim 1.
* Activations: ACTIVATION fn "gelu" 8 flops per element, "silu" 4, "relu" 1, "tanh" 4, "quick_gelu" 4 (with
  ``eager_quick_gelu`` after an eager-only 1.702·x and sigmoid: :meth:`TransformerBuilder.quick_gelu`).
  SwiGLU = silu(gate) then ELEMENTWISE mul (gate, up). Residual = ELEMENTWISE add (1 flop per element).
  A sinusoidal position add (a buffer, no params) is ELEMENTWISE fn "add" with attrs ``positions``
  "sinusoidal" (1 flop per element, 2 with an embedding scale). SAM's random-Fourier positional encodings are
  ELEMENTWISE fn "fourier_pe" (9 flops per output element; the dense one has no inputs).
* Parameters a pass holds but does not read (SAM's prompt branch not taken) ride on an identity RESHAPE view
  (fn "unused_params"): ``Graph.params`` counts them, the mapper moves nothing for a view.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import dtype_bytes
from .layers import INPUT, GraphBuilder, broadcast_shapes, conv_out_size
from .precision import gemm_output_dtype, moves_gemm_output

Shape = tuple[int, ...]

VOCAB_PARALLEL = "vocab_parallel"
"""The attr of a training graph's LM head whose logits stay split by vocabulary rows over the tensor-parallel group
(its value: the group's size): the loss is Megatron's vocabulary-parallel cross entropy (builders/training.py)."""
SEQUENCE_PARALLEL = "sequence_parallel"
"""The attr (the tensor-parallel group's size) of a training graph's op whose parameters Megatron-LM's
finalize_model_grads all-reduces over the tensor-parallel group once a step (``_allreduce_layernorm_grads``;
builders/training.py): under sequence parallelism those it marks ``sequence_parallel``, a norm's weight and bias
(its LayerNorm / TENorm) and a row-split linear's bias (RowParallelLinear; of a linear only the bias is marked),
each chip's gradient covering its own tokens; and under tensor parallelism with or without it, a QK-norm's weight
replicated on every chip (Megatron's ``q_layernorm`` / ``k_layernorm``: Qwen3's, OLMo 2's), each chip's gradient
covering its own heads (probe p247 #3)."""

SOFTMAX_FLOPS = 5
"""FLOPs per score element of a softmax: max, subtract, exp, sum, divide."""
ACT_FLOPS = {"gelu": 8, "silu": 4, "relu": 1, "tanh": 4, "quick_gelu": 4, "relu2": 2, "xielu": 13}
"""FLOPs per element of each activation. gelu is its tanh form 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) with the
constants folded, √(2/π)·x·(1 + 0.044715·x²): x² 1, · c 1, + 1 1, · x·√(2/π) 1, tanh 1, + 1 1, · x 1, · 0.5 1 (the
erf form: :data:`GELU_ERF_FLOPS`). xIELU (Apertus; transformers' XIELUActivation, both branches computed and
one selected): αp·x² + β·x (3), (expm1(min(x, ε)) − x)·αn + β·x (min 1, expm1 4, then 4) and the select (1)."""
ERF_FLOPS = 1
"""FLOPs per element of erf: one, as a transcendental (an exp, a sqrt) is counted."""
GELU_ERF_FLOPS = 4 + ERF_FLOPS
"""FLOPs per element of the exact (erf) GELU 0.5·x·(1 + erf(x/√2)): the divide by √2, erf, + 1, · x and · 0.5, as
the five nodes torch.onnx spells it in count them (ONNX ``Gelu`` with ``approximate="none"``, builders/onnxelementwise.py;
probe p139 #3)."""
SOFTCAP_FLOPS = 2 + ACT_FLOPS["tanh"]
"""FLOPs per element of a soft-cap c·tanh(x/c): divide, tanh, multiply."""
MASK_FLOPS = 1
"""FLOPs per score element of an eager causal mask: one add of the additive mask (transformers' eager attention,
``attn_weights + causal_mask``; GPT-2's ``torch.where`` a select)."""


@dataclass(frozen=True)
class KVCache:
    """How an attention layer uses its KV cache.

    ``past``: tokens already cached (0 in prefill: this pass fills the cache). ``static``: the cache already holds
    every key and value (cross-attention after prefill): no K/V projection, nothing appended.
    """

    past: int = 0
    static: bool = False
    held: int = 0  # tokens the cache holds beyond the ``past`` ones this pass reads (DeepSeek-V3.2: all but top-k)


QK_NORMS = {
    "rmsnorm": "an RMSNorm over head_dim, one (head_dim,) weight for every head (Qwen3, Gemma 3): q_norm / k_norm",
    "projection": "an RMSNorm over the whole q or k projection, weights heads·head_dim wide (OLMo 2, OLMoE): "
                  "q_norm / k_norm; under tensor parallelism the shards are all-gathered and normed whole",
    "projection_tp": "the same norm (MiniMax-M2); under tensor parallelism each chip norms its own heads with its "
                     "shard of the weight, one all-reduce of each token's two fp32 mean squares completing q's and "
                     "k's (vLLM's MiniMaxText01RMSNormTP.forward_qk): q_norm / k_norm, qk_norm_all_reduce",
    "cohere": "a LayerNorm without bias over head_dim with a weight per head, one (heads, head_dim) tensor "
              "(Command R+): q_norm / k_norm",
    "per_head": "a LayerNorm without bias over head_dim per head, one module each (StableLM 2): "
                "q_layernorm.norms.{i}",
    "shared_layernorm": "one LayerNorm with bias over head_dim for every head (Phi): q_layernorm / k_layernorm",
    "hunyuan": "Qwen3's RMSNorm named query_layernorm / key_layernorm (HunYuan; transformers applies it after RoPE, "
               "the same work)",
    "q_layernorm": "Qwen3's RMSNorm named q_layernorm / k_layernorm (LFM2)",
}
"""The QK-norms of :meth:`TransformerBuilder.multihead_attention` (``qk_norm_style``): after the projections,
before RoPE, so the cache holds normed keys; under tensor parallelism per-head weights split with the heads."""


class TransformerBuilder(GraphBuilder):
    """A GraphBuilder with several named graph inputs and the transformer layers of the module docstring."""

    def __init__(self, name: str, inputs: Mapping[str, Sequence[int]], *, dtype: str = "fp16", tp: int = 1,
                 sdpa: bool = False):
        if not isinstance(inputs, Mapping):  # a list of (name, shape) pairs has no .items() (probe p91 #8)
            raise WorkloadError(f"{name}: inputs must map each graph input's name to its shape, e.g. "
                                f"{{'x': (1, 128, 768)}} (got a {type(inputs).__name__})")
        items = list(inputs.items())
        # a PyTorch program's attention (torch.nn.functional.scaled_dot_product_attention: diffusers, timm,
        # torchvision, transformers): fused attention ops carry attr ``sdpa``, which a GPU prices as the kernel
        # PyTorch runs there (core.sdpa_kernel), not a serving engine's (cost/attention.py kernel)
        self.sdpa = sdpa
        self.tp = tp  # tensor-parallel degree: this graph is one chip's shard (heads and FFN split tp ways)
        # Megatron's sequence parallelism (Korthikanti et al. 2022): the regions between the tensor-parallel blocks
        # (norms, dropouts, residual adds) hold 1/tp of the tokens; see _tp_in / _tp_out
        self.sp = False
        # context parallelism (TransformerEngine's CP): the graph holds 1/cp of the tokens; only self-attention
        # exchanges them, by cp_comm (see _cp_attention)
        self.cp = 1
        self.cp_comm = "p2p"
        self._cp_inside = False  # inside _cp_attention: the attention it calls is the context-parallel one
        self.rope_kernel = "fused"  # "eager": RoPE as Hugging Face's five PyTorch kernels (see rope)
        self.modulate_kernel = "fused"  # "eager": adaLN's x·(1 + scale) + shift as PyTorch's three kernels (modulate)
        # an unfused causal attention's mask inside its softmax kernel (Megatron-LM's fused scale-mask-softmax), not
        # an op of its own (transformers' eager ``attn_weights + causal_mask``): see _causal_mask
        self.mask_in_softmax = False
        # the dtype an unfused softmax writes when it is not the model's: transformers' eager attention's
        # ``softmax(..., dtype=torch.float32).to(query.dtype)`` (units.EAGER_SOFTMAX_DTYPE; the HF builders set it),
        # then a cast back (see attention); None: the softmax writes the model's dtype (Megatron-LM's fused kernel)
        self.softmax_dtype: str | None = None
        # transformers' eager attention's ``repeat_kv`` before both matmuls: with kv_heads < heads an unfused
        # attention first copies K and V out to every query head (see attention); off: the matmuls read the
        # kv_heads K and V (a grouped GEMM's broadcast, no copy)
        self.repeat_kv = False
        # transformers' eager attention's kernels the softmax does not fold (see :meth:`_eager_scale`): None, or where
        # the 1/√d scale runs, "scores" (eager_attention_forward's ``matmul(q, kᵀ) * scaling``, BertSelfAttention's
        # ``/ math.sqrt(head_size)``) or "q" (WhisperAttention's ``q_proj(h) * self.scaling``, then ``scaling=1.0``:
        # eager_attention_forward's mul of the scores by 1.0 still runs); with either, an unfused attention's head
        # merge ``transpose(1, 2).contiguous()`` is a copy (:meth:`merge_heads`)
        self.eager_attention: str | None = None
        # BertModel's extended attention mask (``torch.ones`` when none is given): ``scores + attention_mask`` in every
        # unfused attention layer (see :meth:`_padding_mask`)
        self.eager_padding_mask = False
        # transformers' QuickGELUActivation, ``input * torch.sigmoid(1.702 * input)``, as its three eager kernels
        # (see :meth:`quick_gelu`)
        self.eager_quick_gelu = False
        self._deferred = False  # inside partial_sums: row-split linears leave their partial sums unreduced
        self._gathered = False  # inside gathered: the token shards are gathered already (_tp_in adds nothing)
        if not items:
            raise WorkloadError(f"{name}: a graph needs at least one input")
        super().__init__(name, items[0][1], dtype=dtype)
        del self._shapes[INPUT]  # GraphBuilder's single input; ours are registered by add_input
        self._inputs: dict[str, Shape] = {}
        self._caches: dict[str, int] = {}  # cache name → elements after this pass
        self._states: dict[str, int] = {}  # fixed-size recurrent state name → bytes (state_cache)
        self._cache_inputs: list[str] = []
        self._masks: dict[Shape, str] = {}  # (batch, 1, q_len, kv_len) → the causal-mask input of that shape
        for n, s in items:
            self.add_input(n, s)

    # ---- plumbing ---------------------------------------------------------------------------------------
    def add_input(self, name: str, shape: Sequence[int]) -> str:
        """Declare a further graph input ``name`` of ``shape``; returns ``name``."""
        shape = tuple(int(d) for d in shape)
        if not shape or any(d <= 0 for d in shape):
            raise WorkloadError(f"{self.name}: input {name!r} must have positive sizes (got {list(shape)})")
        if name in self._shapes:
            raise WorkloadError(f"{self.name}: input name {name!r} is used twice")
        self._shapes[name] = shape
        self._inputs[name] = shape
        return name

    def _add(self, name: str, kind: OpKind, inputs: Sequence[str], out_shape: Shape, *, macs: int | None = None,
             dtype: str | None = None, **kw: object) -> str:
        """GraphBuilder's op, with ``macs`` and ``dtype`` (default: the builder's) set when given."""
        result = super()._add(name, kind, inputs, out_shape, **kw)  # type: ignore[arg-type]
        if macs is not None or dtype is not None:
            op = self._ops[-1]
            self._ops[-1] = dataclasses.replace(op, macs=op.macs if macs is None else macs, dtype=dtype or op.dtype)
        return result

    def _prefix(self) -> str:
        return ".".join(self._scope)

    def scoped(self, leaf: str) -> str:
        """``leaf`` under the current scope (``{scope}.{leaf}``, or ``leaf`` at the top): a weight or state name that
        carries the scope as the ops' names do."""
        prefix = self._prefix()
        return f"{prefix}.{leaf}" if prefix else leaf

    def kv_meta(self) -> dict[str, object]:
        """``kv_cache`` (sorted names of the cache inputs) and ``kv_cache_bytes`` (all caches after this pass, the
        recurrent states of :meth:`state_cache` included; those alone also as ``state_cache_bytes``)."""
        states = sum(self._states.values())
        return {"kv_cache": sorted(self._cache_inputs),
                "kv_cache_bytes": sum(self._caches.values()) * dtype_bytes(self.dtype) + states,
                **({"state_cache_bytes": states} if states else {})}

    def state_cache(self, leaf: str, shape: Shape, dtype: str, read: bool) -> str:
        """A layer's fixed-size recurrent state ``{scope}.{leaf}`` of ``shape`` in ``dtype`` (Gated DeltaNet's
        per-head state, its conv's last taps): counted in :meth:`kv_meta` whatever the sequence's length; ``read``
        (a decode step) makes it a cache input the step reads. Returns its name (write it with :meth:`state_write`)."""
        name = self.scoped(leaf)
        self._states[name] = math.prod(shape) * dtype_bytes(dtype)
        if read:
            self.add_input(name, shape)
            self._cache_inputs.append(name)
        return name

    def state_write(self, x: str, cache: str, shape: Shape, dtype: str, name: str, in_place: bool = False) -> str:
        """Write ``shape`` of a recurrent state (from ``x``) into ``cache``: KV_APPEND in ``dtype`` (attrs
        ``keep_dtype``: the precision pass leaves it). ``in_place``: ``x``'s kernel writes it (a decode step's update
        of the state it read: ``in_kernel_of``, no kernel of its own; its bytes still counted here)."""
        extra = {"in_kernel_of": x} if in_place else {}
        return self._add(self._name(name, "state_write"), OpKind.KV_APPEND, [x], shape, dtype=dtype, fn="kv_append",
                         cache=cache, keep_dtype=True, **extra)

    @property
    def input(self) -> str:
        """Name of the graph input: ``"input"`` where one is declared so, else the first declared (the only one of a
        one-input graph)."""
        return INPUT if INPUT in self._inputs else next(iter(self._inputs))

    @property
    def last(self) -> str:
        """Name of the most recently appended op (:attr:`input` if none)."""
        return self._ops[-1].name if self._ops else self.input

    def build(self, meta: Mapping[str, object] | None = None) -> Graph:
        """The finished graph with every declared input; its ``meta`` records ``dtype`` and, with one input,
        ``batch`` (its dim 0) where ``meta`` does not give them (as :meth:`GraphBuilder.build`)."""
        single = next(iter(self._inputs.values())) if len(self._inputs) == 1 else None
        return Graph(self.name, self._ops, self._inputs, meta=self._meta(meta, single))

    # ---- views ------------------------------------------------------------------------------------------
    def view(self, x: str, shape: Sequence[int], fn: str = "reshape", name: str | None = None,
             strict: bool = True, **attrs: object) -> str:
        """A RESHAPE view of ``x`` as ``shape`` (same element count unless ``strict=False``: slices, pads, crops)."""
        name = self._name(name, fn)
        shape = tuple(int(d) for d in shape)
        if strict and math.prod(shape) != math.prod(self.shape(x)):
            raise WorkloadError(f"{self.name}: {fn} {name!r} cannot view {list(self.shape(x))} as {list(shape)}")
        return self._add(name, OpKind.RESHAPE, [x], shape, fn=fn, **attrs)

    def split_heads(self, x: str, heads: int, head_dim: int, offset: int = 0, name: str | None = None) -> str:
        """(B, L, ≥ offset + heads·head_dim) → (B, heads, L, head_dim): a view (a slice of a fused projection)."""
        b, length, features = self.shape(x)
        if offset + heads * head_dim > features:
            raise WorkloadError(f"{self.name}: split_heads of {x!r}: {heads}×{head_dim} at {offset} exceeds "
                                f"{features} features")
        return self.view(x, (b, heads, length, head_dim), "split_heads", name, strict=offset == 0
                         and features == heads * head_dim, offset=offset)

    def merge_heads(self, x: str, name: str | None = None, eager: bool = False) -> str:
        """(B, H, L, d) → (B, L, H·d): a view; ``eager`` (an unfused attention's output under ``eager_attention``)
        with H > 1 and L > 1: transformers' ``attn_output.transpose(1, 2).contiguous()`` (eager_attention_forward in
        models/llama/modeling_llama.py and the models that copy it; BertSelfAttention.forward's ``permute(0, 2, 1,
        3).contiguous()``), a copy kernel: the PV matmul's output is a contiguous (B, H, L, d), its transpose is not,
        so ``contiguous`` copies it. ELEMENTWISE fn "copy" (0 flops, vector_elems = elements) with attr
        ``eager_copy``: a kernel on a GPU preset, elsewhere in place (mapping.aliases: a compiler's PV GEMM writes the
        merged layout). With H = 1 or L = 1 (a decode step's (B, H, 1, d)) the transposed tensor is already
        contiguous (its size-1 dims' strides do not count), so ``contiguous`` returns it: no copy."""
        b, h, length, d = self.shape(x)
        if eager and h > 1 and length > 1:
            return self.vector(OpKind.ELEMENTWISE, [x], (b, length, h * d), "copy", 0, name=name, eager_copy=True)
        return self.view(x, (b, length, h * d), "merge_heads", name)

    def select_token(self, x: str, index: int = 0, name: str | None = None) -> str:
        """(B, L, C) → (B, C): token ``index`` of each sample (the CLS token, CLIP's EOS token): a view."""
        b, length, c = self.shape(x)
        if not 0 <= index < length:
            raise WorkloadError(f"{self.name}: select_token {index} of {x!r} with {length} tokens")
        return self.view(x, (b, c), "select_token", name, strict=False, index=index)

    def slice_tokens(self, x: str, start: int, count: int, name: str | None = None) -> str:
        """(B, L, C) → (B, count, C): tokens start..start+count−1, a view."""
        b, length, c = self.shape(x)
        if start < 0 or count < 1 or start + count > length:
            raise WorkloadError(f"{self.name}: slice_tokens {start}+{count} of {x!r} with {length} tokens")
        return self.view(x, (b, count, c), "slice", name, strict=False, dim=1, start=start)

    # ---- linear and convolution -------------------------------------------------------------------------
    def linear_tied(self, x: str, weight: Weight, bias: bool = False, name: str | None = None) -> str:
        """A linear layer whose (out, in) weight is another op's Weight (a tied LM head): counted once."""
        name = self._name(name, "linear")
        shape = self.shape(x)
        out_features, in_features = weight.shape
        if shape[-1] != in_features:
            raise WorkloadError(f"{self.name}: linear {name!r}: {x!r} has {shape[-1]} features, weight "
                                f"{weight.name!r} takes {in_features}")
        out = (*shape[:-1], out_features)
        gemm = Gemm(m=math.prod(shape[:-1]), n=out_features, k=in_features)
        weights = [weight]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_features,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        return self._add(name, OpKind.LINEAR, [x], out, weights=weights, gemm=gemm, flops=flops, fn="linear",
                         bias=bias, tied=weight.name)

    def conv1d(self, x: str, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1,
               bias: bool = True, name: str | None = None) -> str:
        """A 1-D convolution (torch.nn.Conv1d) of an (N, C, L) tensor; with a bias, the name returned is its eager
        bias add's (:meth:`GraphBuilder._eager_bias`)."""
        name = self._name(name, "conv")
        shape = self.shape(x)
        if len(shape) != 3:
            raise WorkloadError(f"{self.name}: conv1d {name!r} needs an N×C×L input; {x!r} is {list(shape)}")
        n, cin, length = shape
        if cin % groups or out_ch % groups:
            raise WorkloadError(f"{self.name}: conv1d {name!r}: channels {cin}→{out_ch} not divisible by "
                                f"groups {groups}")
        lo = conv_out_size(length, kernel, stride, 2 * padding)
        if lo < 1:
            raise WorkloadError(f"{self.name}: conv1d {name!r}: output length {lo} is not positive")
        out = (n, out_ch, lo)
        gemm = Gemm(m=n * lo, n=out_ch // groups, k=kernel * cin // groups, count=groups)
        weights = [Weight(f"{name}.weight", (out_ch, cin // groups, kernel))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_ch,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        self._add(name, OpKind.CONV, [x], out, weights=weights, gemm=gemm, flops=flops, fn="conv1d",
                  kernel=(kernel,), stride=(stride,), padding=(padding,), pads=(padding, padding),
                  dilation=(1,), groups=groups, bias=bias)
        return self._eager_bias(name, bias, groups == cin and groups > 1)  # cuDNN's output.add_ (probe p235 #4)

    def matmul(self, inputs: Sequence[str], out_shape: Sequence[int], gemm: Gemm, weights: Sequence[Weight] = (),
               name: str | None = None, **attrs: object) -> str:
        """A MATMUL with an explicit GEMM view: activation × activation (two inputs) or × a parameter (one input
        and ``weights``, e.g. SAM's rel-pos einsums); flops = 2·macs."""
        name = self._name(name, "matmul")
        return self._add(name, OpKind.MATMUL, list(inputs), tuple(out_shape), weights=list(weights), gemm=gemm,
                         flops=2 * gemm.macs, fn="matmul", **attrs)

    def vector(self, kind: OpKind, inputs: Sequence[str], out_shape: Sequence[int], fn: str, flops_per_elem: int,
               name: str | None = None, **attrs: object) -> str:
        """A vector-unit op of ``kind`` (ELEMENTWISE, SOFTMAX, ...) over ``out_shape``: vector_elems = its elements,
        ``flops_per_elem`` each. ``inputs`` may be empty (a value computed from constants)."""
        name = self._name(name, fn)
        elems = math.prod(out_shape)
        return self._add(name, kind, list(inputs), tuple(out_shape), flops=flops_per_elem * elems,
                         vector_elems=elems, fn=fn, **attrs)

    def softmax(self, x: str, name: str | None = None) -> str:
        """Softmax over the last dim: 5 flops per element."""
        return self.vector(OpKind.SOFTMAX, [x], self.shape(x), "softmax", SOFTMAX_FLOPS, name)

    def unused_params(self, x: str, weights: Sequence[Weight], name: str | None = None, **attrs: object) -> str:
        """An identity view of ``x`` carrying parameters the model holds but this pass does not read (``attrs``:
        ``linear=True`` when they are linear layers' weights, stored in a quantised model's weight dtype)."""
        name = self._name(name, "unused_params")
        return self._add(name, OpKind.RESHAPE, [x], self.shape(x), weights=list(weights), fn="unused_params",
                         **attrs)

    # ---- norms and element-wise -------------------------------------------------------------------------
    def _norm(self, x: str, fn: str, flops: int, affine: tuple[str, ...], dim: int, eps: float | None,
              name: str | None) -> str:
        name = self._name(name, fn)
        shape = self.shape(x)
        c, elems = shape[dim], math.prod(shape)
        weights = [Weight(f"{name}.{w}", (c,)) for w in affine]
        attrs: dict[str, object] = {"dim": dim % len(shape)}
        if eps is not None:
            attrs["eps"] = eps
        if weights and self.training and self.sp and self.tp > 1:  # Megatron marks a norm's weight and bias
            attrs[SEQUENCE_PARALLEL] = self.tp  # sequence_parallel: their gradients all-reduced over the group
        return self._add(name, OpKind.NORM, [x], shape, weights=weights, flops=flops * elems, vector_elems=elems,
                         fn=fn, **attrs)

    def layernorm(self, x: str, eps: float = 1e-5, dim: int = -1, name: str | None = None, bias: bool = True) -> str:
        """LayerNorm over ``dim`` (last by default; 1 for SAM's LayerNorm2d): weight + bias (or ``bias=False``: a
        weight only, Command R's), 5 flops per element."""
        return self._norm(x, "layernorm", 5, ("weight", "bias") if bias else ("weight",), dim, eps, name)

    def rmsnorm(self, x: str, eps: float = 1e-6, name: str | None = None) -> str:
        """RMSNorm over the last dim (LLaMA): weight only, 4 flops per element."""
        return self._norm(x, "rmsnorm", 4, ("weight",), -1, eps, name)

    def l2norm(self, x: str, name: str | None = None) -> str:
        """x / ‖x‖ over the last dim (CLIP's embeddings): no weights, 3 flops per element."""
        return self._norm(x, "l2norm", 3, (), -1, None, name)

    def activation(self, x: str, fn: str, name: str | None = None) -> str:
        """A unary activation of :data:`ACT_FLOPS` (gelu, silu, relu, tanh, quick_gelu: :meth:`quick_gelu`)."""
        if fn == "quick_gelu" and self.eager_quick_gelu:
            return self.quick_gelu(x, name)
        return self._unary(x, fn, ACT_FLOPS[fn], name)

    def gelu(self, x: str, name: str | None = None) -> str:
        """GELU: 8 flops per element (its tanh form, :data:`ACT_FLOPS`; a built model does not tell the forms apart,
        the ONNX importer's erf ``Gelu`` counts :data:`GELU_ERF_FLOPS`)."""
        return self.activation(x, "gelu", name)

    def silu(self, x: str, name: str | None = None) -> str:
        """x·sigmoid(x): 4 flops per element."""
        return self.activation(x, "silu", name)

    def tanh(self, x: str, name: str | None = None) -> str:
        """tanh: 4 flops per element."""
        return self.activation(x, "tanh", name)

    def quick_gelu(self, x: str, name: str | None = None) -> str:
        """x·sigmoid(1.702·x) (CLIP): 4 flops per element, one ACTIVATION fn "quick_gelu". With ``eager_quick_gelu``
        transformers' QuickGELUActivation.forward (src/transformers/activations.py), ``input * torch.sigmoid(1.702
        * input)``, whose three operators are three kernels in eager PyTorch: ``{name}.scale`` (ELEMENTWISE fn
        "mul", 1.702·x) and ``{name}.sigmoid`` (ACTIVATION fn "sigmoid" of it), both attr ``eager_copy`` and 0 flops
        (kernels on a GPU preset; elsewhere in place on x, mapping.aliases, as a compiler fuses the chain into one
        op), then ``name``, the ACTIVATION fn "quick_gelu" reading x and the sigmoid (x · it on a GPU preset; the
        whole activation elsewhere, its first input alone then: mapping.fusion folds it into x's producer where the
        output path takes quick_gelu), with the activation's 4 flops per element on every arch. A training graph
        differentiates ``name`` alone (its input x; the chain gets no gradient kernels)."""
        if not self.eager_quick_gelu:
            return self._unary(x, "quick_gelu", ACT_FLOPS["quick_gelu"], name)
        name = self._name(name, "quick_gelu")
        leaf = name.rsplit(".", 1)[-1]
        shape = self.shape(x)
        scaled = self.vector(OpKind.ELEMENTWISE, [x], shape, "mul", 0, name=f"{leaf}.scale", eager_copy=True)
        sig = self.vector(OpKind.ACTIVATION, [scaled], shape, "sigmoid", 0, name=f"{leaf}.sigmoid", eager_copy=True)
        elems = math.prod(shape)
        return self._add(name, OpKind.ACTIVATION, [x, sig], shape, flops=ACT_FLOPS["quick_gelu"] * elems,
                         vector_elems=elems, fn="quick_gelu")

    def rope(self, x: str, name: str | None = None, rotary_dim: int = 0) -> str:
        """Rotary position embedding on a (B, H, L, d) q or k: ELEMENTWISE fn "rope", 3 flops per element (one
        fused kernel, as vLLM's rotary_embedding). With ``rope_kernel`` "eager", the five kernels of Hugging Face
        transformers' ``apply_rotary_pos_emb`` in PyTorch eager: rotate_half's ``-x[..., d/2:]`` (``{name}.neg``,
        half the elements) and ``torch.cat`` with ``x[..., :d/2]`` (``{name}.cat``, a copy), ``x * cos``
        (``{name}.mul_cos``), ``rotate_half(x) * sin`` (``{name}.mul_sin``) and their sum (``{name}``, fn "add");
        the broadcast cos/sin rows are left out, as the fused op leaves them out.

        ``rotary_dim`` < d (partial rotary: GPT-NeoX's ``rotary_pct``, Phi's ``partial_rotary_factor``) rotates each
        head's first ``rotary_dim`` features only: a slice view (``{name}.rot``), the rotation on it, and the head
        put back together with the untouched rest (``{name}.pass``): vLLM's kernel rotates the slice in place (a
        CONCAT view, no bytes), transformers' ``torch.cat((x_embed, x_pass), dim=-1)`` copies the whole head
        (``{name}.concat``, fn "cat", with ``rope_kernel`` "eager")."""
        shape = self.shape(x)
        if 0 < rotary_dim < shape[-1]:
            local = self.block_name(name, "rope")
            *lead, d = shape
            rot = self.view(x, (*lead, rotary_dim), "slice", f"{local}.rot", strict=False, dim=len(shape) - 1,
                            start=0)
            rest = self.view(x, (*lead, d - rotary_dim), "slice", f"{local}.pass", strict=False, dim=len(shape) - 1,
                             start=rotary_dim)
            turned = self.rope(rot, name=f"{local}.rotary")
            if self.rope_kernel != "eager":
                return self.concat([turned, rest], dim=len(shape) - 1, name=local)
            return self.vector(OpKind.ELEMENTWISE, [turned, rest], shape, "cat", 0, name=local)
        elems = math.prod(shape)
        if self.rope_kernel != "eager":
            name = self._name(name, "rope")
            return self._add(name, OpKind.ELEMENTWISE, [x], shape, flops=3 * elems, vector_elems=elems, fn="rope")
        local = self.block_name(name, "rope")
        *lead, d = shape
        half = (*lead, d // 2)
        x1 = self.view(x, half, "slice", f"{local}.x1", strict=False, dim=len(shape) - 1, start=0)
        x2 = self.view(x, half, "slice", f"{local}.x2", strict=False, dim=len(shape) - 1, start=d // 2)
        neg = self.vector(OpKind.ELEMENTWISE, [x2], half, "neg", 1, name=f"{local}.neg")
        rot = self.vector(OpKind.ELEMENTWISE, [neg, x1], shape, "cat", 0, name=f"{local}.cat")
        xc = self.vector(OpKind.ELEMENTWISE, [x], shape, "mul", 1, name=f"{local}.mul_cos")
        rs = self.vector(OpKind.ELEMENTWISE, [rot], shape, "mul", 1, name=f"{local}.mul_sin")
        return self._binary(xc, rs, "add", local)

    def add_param(self, x: str, weight: Weight, fn: str = "add", name: str | None = None) -> str:
        """x (+ or ·) a parameter tensor, broadcast (ViT's (1, N, C) position embedding, CLIP's logit scale)."""
        name = self._name(name, fn)
        shape = self.shape(x)
        out = broadcast_shapes(shape, weight.shape)
        if out is None:
            raise WorkloadError(f"{self.name}: {fn} {name!r} cannot broadcast {list(shape)} with "
                                f"{weight.name!r} {list(weight.shape)}")
        elems = math.prod(out)
        return self._add(name, OpKind.ELEMENTWISE, [x], out, weights=[weight], flops=elems, vector_elems=elems,
                         fn=fn)

    def add_sinusoidal(self, x: str, scale: float | None = None, name: str | None = None) -> str:
        """x (·scale) + a sinusoidal position table (a buffer, no params): 1 flop per element, 2 with a scale."""
        name = self._name(name, "add")
        shape = self.shape(x)
        elems = math.prod(shape)
        attrs: dict[str, object] = {"positions": "sinusoidal"}
        if scale is not None:
            attrs["scale"] = scale
        return self._add(name, OpKind.ELEMENTWISE, [x], shape, flops=elems * (1 if scale is None else 2),
                         vector_elems=elems, fn="add", **attrs)

    # ---- embeddings -------------------------------------------------------------------------------------
    def embedding(self, ids: str, num: int, dim: int, weight_name: str | None = None, name: str | None = None) -> str:
        """Look up each id of ``ids`` in a (num, dim) table: (…) → (…, dim); gather_rows = number of ids."""
        name = self._name(name, "embedding")
        shape = self.shape(ids)
        weight = Weight(weight_name or f"{name}.weight", (num, dim))
        return self._add(name, OpKind.EMBEDDING, [ids], (*shape, dim), weights=[weight], fn="embedding",
                         gather_rows=math.prod(shape))

    # ---- a vocabulary split over the tensor-parallel chips -----------------------------------------------------
    def vocab_rows(self, vocab: int) -> int:
        """Rows of a vocabulary-parallel table on one chip: ⌈vocab / tp⌉ (vLLM pads the vocabulary so that it
        splits evenly over the chips; Megatron requires it)."""
        return -(-vocab // self.tp)

    def vocab_embedding(self, ids: str, vocab: int, dim: int, weight_name: str, name: str | None = None, *,
                        scatter: bool = False) -> tuple[str, Weight]:
        """The token embedding split by vocabulary rows (vLLM's VocabParallelEmbedding, Megatron's): each chip
        holds ⌈vocab / tp⌉ rows and looks every id up in them (an id outside its rows gives zeros), and the
        partial embeddings are all-reduced; the chip's table (for a tied head). One table without tensor
        parallelism.

        The all-reduce is Megatron's reduce_from_tensor_model_parallel_region: its gradient passes through
        unchanged (attr ``identity_grad``, builders/training.py). With ``scatter`` and sequence parallelism the
        partial embeddings are reduce-scattered over the tokens instead, (B, L, C) → (B, L/tp, C), and the caller
        makes no :meth:`sequence_scatter` (Megatron's VocabParallelEmbedding with ``reduce_scatter_embeddings``,
        which its LanguageModelEmbedding sets under sequence parallelism when no position embedding is added
        after the look-up); its gradient is all-gathered."""
        table = Weight(weight_name, (self.vocab_rows(vocab), dim))
        x = self.embedding(ids, table.shape[0], dim, weight_name=weight_name, name=name)
        if self.tp <= 1:
            return x, table
        if scatter and self.sp:
            b, length, c = self.shape(x)
            self._token_shards(length)
            return self._tp_collective(x, "reduce_scatter", (b, length // self.tp, c)), table
        return self._tp_collective(x, "all_reduce", self.shape(x), identity_grad=True), table

    def lm_head(self, x: str, vocab: int, *, bias: bool = False, name: str | None = None,
                tied: Weight | None = None, gather: bool = True) -> str:
        """The LM head split by vocabulary rows (vLLM's ParallelLMHead, Megatron's output layer): each chip
        computes the logits of its ⌈vocab / tp⌉ rows (of ``tied``, the vocabulary-parallel embedding's table, when
        the head is tied), and with ``gather`` (inference: vLLM's LogitsProcessor gathers them for sampling) they
        are all-gathered; a training step keeps them split (Megatron's vocabulary-parallel cross entropy)."""
        if self.training and not self.sp:  # the head's column-split input (Megatron's copy_to region): its
            x = self.tp_copy(x)  # gradient all-reduced; with sequence parallelism the caller's all-gather does it
        if tied is not None:
            logits = self.linear_tied(x, tied, bias=bias, name=name)
        else:
            logits = self.linear(x, self.vocab_rows(vocab), bias=bias, name=name)
        if self.tp <= 1:
            return logits
        if not gather:  # the loss's three all-reduces over the split vocabulary (builders/training.py)
            self._mark(logits, **{VOCAB_PARALLEL: self.tp})
            return logits
        shape = self.shape(logits)
        return self._tp_collective(logits, "all_gather", (*shape[:-1], shape[-1] * self.tp))

    def gather(self, ids: str, tables: Sequence[Weight], dim: int, name: str | None = None) -> str:
        """Look up each id of ``ids`` in the rows of ``tables`` (several one-row tables act as one table, e.g.
        SAM's point-label embeddings): (…) → (…, dim)."""
        name = self._name(name, "embedding")
        shape = self.shape(ids)
        return self._add(name, OpKind.EMBEDDING, [ids], (*shape, dim), weights=list(tables), fn="embedding",
                         gather_rows=math.prod(shape))

    def table_rows(self, out_shape: Sequence[int], weight: Weight, name: str | None = None,
                   **attrs: object) -> str:
        """Rows of a parameter table at constant indices (positions, a class token): an EMBEDDING op with no
        inputs, output ``out_shape`` (…, d), gather_rows = its rows."""
        return self._table_rows(self._name(name, "embedding"), out_shape, weight, **attrs)

    def _table_rows(self, name: str, out_shape: Sequence[int], weight: Weight, **attrs: object) -> str:
        out = tuple(int(d) for d in out_shape)
        return self._add(name, OpKind.EMBEDDING, [], out, weights=[weight], fn="embedding",
                         gather_rows=math.prod(out[:-1]), **attrs)

    def positions(self, tokens: int, max_positions: int, dim: int, offset: int = 0,
                  name: str | None = None, split: bool = False) -> str:
        """A learned position table (max_positions, dim): rows offset..offset+tokens−1 as (1, tokens, dim). With
        ``split`` (a table vLLM makes a VocabParallelEmbedding: SigLIP's) each tensor-parallel chip holds
        ⌈max_positions / tp⌉ rows and the partial look-ups are all-reduced."""
        if offset + tokens > max_positions:
            raise WorkloadError(f"{self.name}: positions {offset}..{offset + tokens - 1} exceed the table of "
                                f"{max_positions}")
        name = self._name(name, "position_embedding")
        rows = self.vocab_rows(max_positions) if split else max_positions
        # rows offset..offset+tokens-1, each once: no look-up repeats a row (access "distinct", mapping/traffic.py)
        out = self._table_rows(name, (1, tokens, dim), Weight(f"{name}.weight", (rows, dim)), offset=offset,
                               access="distinct")
        return self._all_reduce(out) if split else out

    def gathered_linear(self, x: str, out: int, *, bias: bool = False, name: str | None = None) -> str:
        """A column-split linear whose outputs are all-gathered (vLLM's ColumnParallelLinear with gather_output:
        Llama 4's patch embedding and projector): each chip computes out / tp features and every chip ends with
        all of them. A plain linear without tensor parallelism."""
        if self.tp <= 1:
            return self.linear(x, out, bias=bias, name=name)
        if out % self.tp:
            raise WorkloadError(f"{self.name}: tensor_parallel {self.tp} must divide the {out} features of "
                                f"{name or 'a column-split linear'}", key=("tensor_parallel",))
        y = self.linear(x, out // self.tp, bias=bias, name=name)
        return self._tp_collective(y, "all_gather", (*self.shape(y)[:-1], out))

    # ---- MLPs -------------------------------------------------------------------------------------------
    def mlp(self, x: str, hidden: int, act: str = "gelu", bias: bool = True, names: Sequence[str] = ("fc1", "fc2"),
            act_name: str = "act", out_features: int | None = None, act_dropout: float = 0.0) -> str:
        """Linear → activation [→ training dropout ``activation_dropout``] → linear (back to the input width unless
        ``out_features``)."""
        out = out_features or self.shape(x)[-1]
        x = self._tp_in(x)
        h = self.activation(self.linear(x, self._tp_hidden(hidden), bias=bias, name=names[0]), act, name=act_name)
        h = self.dropout(h, act_dropout, name="activation_dropout")
        return self._tp_out(self.linear(h, out, bias=bias, name=names[1]))

    def swiglu_mlp(self, x: str, hidden: int, bias: bool = False, act: str = "silu", fused: bool = False) -> str:
        """LLaMA's MLP: down(act(gate(x)) · up(x)), named gate_proj, up_proj, act_fn, mul, down_proj; ``act`` SiLU
        (SwiGLU) or another of :data:`ACT_FLOPS` (Pixtral's GELU-gated feed-forward); ``fused``: gate and up as one
        ``gate_up_proj`` (:meth:`gate_up`)."""
        hidden = self._tp_hidden(hidden)
        x = self._tp_in(x)
        gate, up = self.gate_up(x, hidden, bias=bias, fused=fused)
        h = self.mul(self.activation(gate, act, name="act_fn"), up, name="mul")
        return self._tp_out(self.linear(h, self.shape(x)[-1], bias=bias, name="down_proj"))

    def gate_up(self, x: str, width: int, *, bias: bool = False, names: tuple[str, str] = ("gate_proj", "up_proj"),
                fused: bool = False) -> tuple[str, str]:
        """A gated MLP's gate and up projections of ``x`` to ``width`` (this chip's) features each: two LINEARs named
        ``names``, or with ``fused`` one LINEAR ``gate_up_proj`` of 2·width features (Phi-3's, vLLM's
        MergedColumnParallelLinear) and two slice views of it, ``gate`` and ``up`` (the same params, MACs and weight
        bytes; one GEMM reading ``x`` once)."""
        if not fused:
            return (self.linear(x, width, bias=bias, name=names[0]), self.linear(x, width, bias=bias, name=names[1]))
        both = self.linear(x, 2 * width, bias=bias, name="gate_up_proj")
        rows = self.shape(both)[:-1]
        gate = self.view(both, (*rows, width), "slice", name="gate", strict=False, dim=-1, start=0)
        return gate, self.view(both, (*rows, width), "slice", name="up", strict=False, dim=-1, start=width)

    # ---- attention --------------------------------------------------------------------------------------
    def attention(self, q: str, k: str, v: str, *, fused: bool = False, causal: bool = False,
                  extra: Sequence[str] = (), softcap: bool = False, dropout: float = 0.0,
                  name: str | None = None, shared_kv: bool = False, sinks: Weight | None = None,
                  index: str | None = None, window: int = 0, key_width: int = 0) -> str:
        """softmax(q·kᵀ [+ extra terms]) · v on (B, H, Lq, d) q and (B, KVH, Lk, d) k, v → (B, H, Lq, d_v).

        Unfused: [ELEMENTWISE ``k_repeat``, ``v_repeat``: :meth:`_repeat_kv`, with ``repeat_kv`` and kv_heads <
        heads, not ``shared_kv``], MATMUL ``scores``, [ELEMENTWISE ``add_rel_pos``], [ELEMENTWISE ``softcap``], SOFTMAX ``softmax``,
        [ELEMENTWISE fn "cast" ``softmax_cast``: with ``softmax_dtype``, the module docstring], [dropout ``attention_dropout`` of the probabilities, training graphs only], MATMUL ``context``. Fused: one
        ATTENTION op ``attention`` (``name`` overrides the fused op's name; FlashAttention draws a training dropout
        inside the kernel, which is not priced; attr ``sdpa`` when the builder's ``sdpa``). ``softcap``: Gemma-2's logit soft-capping c·tanh(s/c) on the
        scores, :data:`SOFTCAP_FLOPS` per element. The attention dropout's ops carry ``attention_core``: selective
        recomputation re-runs them with the softmax (Korthikanti et al. 2022). ``shared_kv``: the values are a slice
        of the keys' tensor (DeepSeek's latent attention), so a fused kernel loads each K/V block once (attr
        ``shared_kv``, :mod:`accelsim.cost.attention`) and the unfused ``scores`` and ``context`` are one GEMM per
        (sample, KV head) whose rows are its heads' queries (m = q_len × heads / kv_heads), as DeepSeek's absorbed
        einsums run, not one per head over the same latents. ``sinks``: GPT-OSS's learned logit per head, one more
        column of each softmax (its (heads,) parameter on the fused op, or on the softmax; no FLOPs counted).
        ``index``: DeepSeek-V3.2's selected token indices (the indexer's top-k), read by the fused op (its last input)
        or, unfused, by the softmax: the sparse kernels' k and v are the selected tokens only, transformers' dense
        scores are masked by them (``mla: heads``, fused or not). ``window`` > 0 with ``causal``: a sliding window, each
        query seeing its last ``window`` keys (its own included); recorded as the fused op's attr ``window`` where it
        masks something (kv_len > window), for its kernel to skip the K/V blocks before the band
        (:func:`accelsim.cost.attention.tile_blocks`); the op's ``macs`` and ``flops`` still count every query × key,
        as a causal op's do. Unfused: not recorded (eager attention computes every score, then masks).
        ``key_width`` > d (fused, ``shared_kv`` only): each token of k is a cache entry of that many elements of which
        the scores use the first d (DeepSeek-V3.2's fp8_ds_mla entry: 576 values, then 80 B of scales and RoPE high
        bytes), and the kernel loads whole entries (attr ``key_width``: its bytes, :mod:`accelsim.cost.attention`).
        """
        bq, heads, q_len, d_qk = self.shape(q)
        bk, kv_heads, kv_len, dk = self.shape(k)
        bv, kv_heads_v, kv_len_v, d_v = self.shape(v)
        where = f"{self.name}: attention in {self._prefix() or 'graph'!r}"
        if key_width and not (fused and shared_kv and key_width > d_qk):
            raise WorkloadError(f"{where}: key_width {key_width} needs a fused latent attention (shared_kv) with "
                                f"keys wider than the query's {d_qk}")
        if not (bq == bk == bv) or dk != (key_width or d_qk) or kv_heads_v != kv_heads or kv_len_v != kv_len:
            raise WorkloadError(f"{where}: q {list(self.shape(q))}, k {list(self.shape(k))} and v "
                                f"{list(self.shape(v))} do not fit together")
        if heads % kv_heads:
            raise WorkloadError(f"{where}: kv_heads {kv_heads} does not divide heads {heads}")
        if self.cp > 1 and not self._cp_inside:
            raise WorkloadError(f"{where}: context_parallel is modelled for self-attention over the prompt only "
                                f"(not for this model's attention)", key=("context_parallel",))
        count = bq * heads
        qk = Gemm(m=q_len, n=kv_len, k=d_qk, count=count)
        pv = Gemm(m=q_len, n=d_v, k=kv_len, count=count)
        score_elems = count * q_len * kv_len
        if shared_kv and not fused:
            # the heads of a KV head are rows of one GEMM over it: DeepSeek's absorbed attention, einsum
            # "bshc,btc->bsht" and "bsht,btc->bshc" (deepseek-ai/DeepSeek-V3 inference/model.py MLA.forward),
            # which torch runs as one bmm per (sequence, KV head) with s·h rows, so each reads the latents once
            group = heads // kv_heads
            qk = Gemm(m=q_len * group, n=kv_len, k=d_qk, count=bq * kv_heads)
            pv = Gemm(m=q_len * group, n=d_v, k=kv_len, count=bq * kv_heads)
        scores_shape = (bq, heads, q_len, kv_len)
        out = (bq, heads, q_len, d_v)
        common = {"heads": heads, "kv_heads": kv_heads, "q_len": q_len, "kv_len": kv_len, "head_dim": d_qk,
                  "batch": bq, "causal": causal}
        if fused:
            attn = self._name(name, "attention")
            per_score = SOFTMAX_FLOPS + len(extra) + (SOFTCAP_FLOPS if softcap else 0)
            flops = 2 * (qk.macs + pv.macs) + per_score * score_elems
            cap = {"softcap": True} if softcap else {}
            if shared_kv:
                cap["shared_kv"] = True
            if key_width:
                cap["key_width"] = key_width
            if self.sdpa:
                cap["sdpa"] = True
            if causal and 0 < window < kv_len:
                cap["window"] = window
            if extra:  # additive score terms: no FlashAttention kernel takes one (cost/attention.py unsupported)
                cap["score_terms"] = len(extra)
            return self._add(attn, OpKind.ATTENTION, [q, k, v, *extra, *([index] if index else [])], out, gemm=qk,
                             macs=qk.macs + pv.macs,
                             flops=flops, vector_elems=score_elems, fn="attention", weights=[sinks] if sinks else [],
                             pv_gemm=(pv.m, pv.n, pv.k, pv.count), **common, **cap)
        if self.repeat_kv and kv_heads < heads and not shared_kv:
            k, v = (self._repeat_kv(x, heads, f"{w}_repeat") for x, w in ((k, "k"), (v, "v")))
        if self.eager_attention == "q":
            q = self._eager_scale(q, "q_scale")
        s = self._add(self._name(None, "scores"), OpKind.MATMUL, [q, k], scores_shape, gemm=qk, flops=2 * qk.macs,
                      fn="matmul", transpose_b=True, **common)
        s = self._on_scores(s, extra, softcap, bq, kv_len)
        masked = causal and q_len > 1
        if masked and not self.mask_in_softmax:
            s = self._causal_mask(s, bq, q_len, kv_len)
        folded = MASK_FLOPS if masked and self.mask_in_softmax else 0  # (a select per score inside the softmax)
        upcast = self.softmax_dtype is not None and self.softmax_dtype != self.dtype
        wide = {"out_dtype": self.softmax_dtype} if upcast else {}
        p = self._add(self._name(None, "softmax"), OpKind.SOFTMAX, [s, *([index] if index else [])], scores_shape,
                      flops=(SOFTMAX_FLOPS + folded) * score_elems, vector_elems=score_elems, fn="softmax",
                      causal=causal,
                      weights=[sinks] if sinks else [], **wide)
        if upcast:  # ``.to(query.dtype)``: a copy kernel reading the wide probabilities, writing the model's dtype
            p = self._add(self._name(None, "softmax_cast"), OpKind.ELEMENTWISE, [p], scores_shape, flops=0,
                          vector_elems=score_elems, fn="cast", attention_core=True)
        p = self.dropout(p, dropout, name="attention_dropout", attention_core=True)
        return self._add(self._name(None, "context"), OpKind.MATMUL, [p, v], out, gemm=pv, flops=2 * pv.macs,
                         fn="matmul")

    def _on_scores(self, s: str, extra: Sequence[str], softcap: float | None, bq: int, kv_len: int) -> str:
        """The unfused attention's ops on its scores ``s`` before the causal mask, in eager order: the eager 1/√d
        scale (``eager_attention``), BERT's extended-mask add (``eager_padding_mask``), the additive score terms
        ``extra`` (``add_rel_pos``: T5's position bias, Swin's and SAM's relative positions), Gemma 2's soft-cap."""
        scores_shape = self.shape(s)
        score_elems = math.prod(scores_shape)
        if self.eager_attention is not None:
            s = self._eager_scale(s, "scale")
        if self.eager_padding_mask:
            s = self._padding_mask(s, bq, kv_len)
        if extra:
            s = self._add(self._name(None, "add_rel_pos"), OpKind.ELEMENTWISE, [s, *extra], scores_shape,
                          flops=len(extra) * score_elems, vector_elems=len(extra) * score_elems, fn="add_rel_pos")
        if softcap:
            s = self._add(self._name(None, "softcap"), OpKind.ELEMENTWISE, [s], scores_shape,
                          flops=SOFTCAP_FLOPS * score_elems, vector_elems=score_elems, fn="softcap")
        return s

    def _repeat_kv(self, x: str, heads: int, name: str) -> str:
        """K or V ``x`` (B, KVH, L, d) copied out to (B, ``heads``, L, d): transformers' eager attention's
        ``repeat_kv(hidden_states, n_rep)``, ``hidden_states[:, :, None].expand(b, kvh, n_rep, l, d).reshape(b,
        kvh * n_rep, l, d)``, whose reshape of the stride-0 expand makes a copy (one kernel reading the kv_heads
        tensor and writing the heads one). ELEMENTWISE fn "repeat_kv", 0 flops, attr ``group`` = heads / KVH; its
        training gradient sums each group back (builders/training.py)."""
        b, kvh, length, d = self.shape(x)
        out = (b, heads, length, d)
        return self._add(self._name(None, name), OpKind.ELEMENTWISE, [x], out, flops=0, vector_elems=math.prod(out),
                         fn="repeat_kv", group=heads // kvh)

    def _eager_scale(self, x: str, name: str) -> str:
        """An unfused attention's 1/√d scale as eager PyTorch runs it (``eager_attention``): a mul kernel of its own
        on ``x``, the (B, H, Lq, Lk) scores (``scale``: eager_attention_forward's ``torch.matmul(query,
        key_states.transpose(2, 3)) * scaling`` in transformers' models/llama/modeling_llama.py, BertSelfAttention's
        ``attention_scores / math.sqrt(self.attention_head_size)`` in models/bert/modeling_bert.py) or the (B, H, L, d)
        queries (``q_scale``: WhisperAttention.forward's ``self.q_proj(hidden_states) * self.scaling``, which then
        passes ``scaling=1.0`` to eager_attention_forward, whose ``* scaling`` still launches a mul of the scores).
        ELEMENTWISE fn "scale", vector_elems = the elements, attrs ``eager_copy`` (a kernel on a GPU preset; elsewhere
        in place, mapping.aliases: a compiler folds the constant into the softmax or the projection) and
        ``attention_core`` (selective recomputation re-runs it with the softmax). 0 flops: the model's FLOPs are the
        same on every arch, and the softmax's :data:`SOFTMAX_FLOPS` leave the scale out."""
        return self.vector(OpKind.ELEMENTWISE, [x], self.shape(x), "scale", 0, name=name, eager_copy=True,
                           attention_core=True)

    def _padding_mask(self, scores: str, batch: int, kv_len: int) -> str:
        """BERT's extended attention mask added to the (B, H, Lq, Lk) ``scores`` (``eager_padding_mask``):
        BertModel.forward builds it always (``attention_mask = torch.ones(...)`` when none is given, then
        ``get_extended_attention_mask``: (B, 1, 1, Lk) in the model's dtype) and BertSelfAttention.forward runs
        ``attention_scores + attention_mask`` in every layer. ELEMENTWISE fn "add" ``mask_add`` reading the scores
        and a graph input ``extended_attention_mask`` (B, 1, 1, Lk), shared by the layers; attrs ``eager_copy``
        (a kernel on a GPU preset; elsewhere in place on the scores, mapping.aliases: an all-ones mask adds
        nothing a compiler keeps) and ``attention_core``; 0 flops (the model's FLOPs are the same on every arch)."""
        shape = (batch, 1, 1, kv_len)
        mask = self._masks.get(shape)
        if mask is None:
            mask = self.add_input("extended_attention_mask", shape)
            self._masks[shape] = mask
        return self.vector(OpKind.ELEMENTWISE, [scores, mask], self.shape(scores), "add", 0, name="mask_add",
                           eager_copy=True, attention_core=True)

    def _causal_mask(self, scores: str, batch: int, q_len: int, kv_len: int) -> str:
        """Unfused causal attention's mask over the (B, H, Lq, Lk) ``scores``: ELEMENTWISE fn "causal_mask" reading
        the scores and a (B, 1, Lq, Lk) mask (a graph input ``attention_mask`` in the model's dtype, one per shape,
        shared by the layers, as transformers builds it once per forward and broadcasts it over the heads) and
        writing the scores, :data:`MASK_FLOPS` per score element (eager attention computes every score, then masks
        it before the softmax). Only where it masks something: a one-token step (decode) sees every key. A builder
        with ``mask_in_softmax`` (Megatron-LM's GPT: FusedScaleMaskSoftmax's scaled_upper_triang_masked_softmax
        kernel) masks inside the softmax instead, :data:`MASK_FLOPS` more per score there and no op or input."""
        shape = (batch, 1, q_len, kv_len)
        mask = self._masks.get(shape)
        if mask is None:
            mask = self.add_input("attention_mask" if not self._masks else f"attention_mask{len(self._masks)}", shape)
            self._masks[shape] = mask
        return self.vector(OpKind.ELEMENTWISE, [scores, mask], self.shape(scores), "causal_mask", MASK_FLOPS,
                           name="causal_mask", attention_core=True)

    def kv_append(self, x: str, cache: str, name: str | None = None) -> str:
        """Write new keys or values ``x`` (B, KVH, L, d) into ``cache``: KV_APPEND, data movement only."""
        name = self._name(name, "kv_append")
        return self._add(name, OpKind.KV_APPEND, [x], self.shape(x), fn="kv_append", cache=cache)

    def _cached_kv(self, new: str | None, which: str, cache: KVCache, shape: Shape, window: int = 0,
                   chunk: int = 0, opens: bool = False) -> str:
        """K or V as attention reads it, with the cache ops of the module docstring; with a sliding ``window`` the
        cache after the pass, the appended tokens included, holds at most its last ``window`` tokens (a rolling
        buffer of ``window`` slots: a decode step's window − 1 cached tokens and its own), and so with
        attention chunks (``cache.past`` then the cached tokens of the step's own chunk, ``cache.held`` the others of
        the last chunk − 1 it keeps; ``opens``: a decode step that opens its chunk, whose new K or V is read as an
        identity view named as the other steps' concatenation, ``{which}_all``, so that a serving run's decode
        steps have the same ops at any position)."""
        prefix = self._prefix()
        cache_name = f"{prefix}.{which}_cache" if prefix else f"{which}_cache"
        b, kvh, _, d = shape
        if cache.past:
            self.add_input(cache_name, (b, kvh, cache.past, d))
            self._cache_inputs.append(cache_name)
        if cache.static:
            self._caches[cache_name] = b * kvh * cache.past * d
            return cache_name
        assert new is not None
        held = cache.past + cache.held + self.shape(new)[2]
        cap = window or chunk
        self._caches[cache_name] = b * kvh * (min(held, cap) if cap else held) * d
        self.kv_append(new, cache_name, name=f"{which}_append")
        if cache.past:
            return self.concat([cache_name, new], dim=2, name=f"{which}_all")
        if opens:
            return self.view(new, self.shape(new), "reshape", f"{which}_all")
        return new

    def multihead_attention(self, q_in: str, k_in: str | None = None, v_in: str | None = None, *, heads: int,
                            head_dim: int, kv_heads: int | None = None, out_features: int | None = None,
                            bias: bool | tuple[bool, bool, bool, bool] = True, fused_qkv: str | None = None,
                            names: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"), rope: bool = False,
                            causal: bool = False, fused: bool = False, cache: KVCache | None = None,
                            window: int = 0, softcap: bool = False, qk_norm: float | None = None,
                            dropout: float = 0.0, sinks: bool = False, qk_l2norm: float | None = None,
                            output_gate: bool = False, rotary_dim: int = 0, qk_norm_style: str = "rmsnorm",
                            clip_qkv: bool = False, chunk: int = 0) -> str:
        """Projections, head split, [RoPE], [KV cache], attention, head merge and output projection.

        ``q_in`` (B, Lq, D) gives the queries, ``k_in`` / ``v_in`` (B, Lk, D) the keys and values (default
        ``q_in``: self-attention). ``bias`` is one flag or (q, k, v, out). ``fused_qkv`` names one LINEAR that
        projects q, k and v together (GPT-2's c_attn, torchvision's in_proj); ``names`` names the four separate
        projections. ``kv_heads`` < ``heads`` is grouped-query attention (a fused projection then gives
        (heads + 2·kv_heads)·head_dim features, Phi-3's qkv_proj). ``window`` > 0 is sliding-window attention: a
        decode step reads at most the last window − 1 cached tokens (what a layer keeps between steps) and its own,
        ``window`` keys, and the cache after it holds those ``window`` tokens (kv_meta); a fused prefill's kernel skips
        the K/V blocks wholly outside each query tile's band (the ATTENTION op's attr ``window``, :meth:`attention`),
        an unfused one computes the full causal scores (the mask is recorded, never discounted); ``macs`` count every
        query × key either way. ``chunk`` > 0 is Llama 4's chunked attention
        (:meth:`_chunked_attention`): a query attends causally within its own chunk of ``chunk`` positions only, so
        a decode step at position p reads the p mod chunk cached tokens of its chunk and its own; the cache is
        counted as a window of ``chunk``'s (at most chunk tokens after a pass: transformers keeps the last chunk − 1
        between steps, vLLM reserves chunk plus the step's tokens a sequence). ``softcap``:
        soft-capped scores (:meth:`attention`). ``qk_norm`` (an eps; None: off): Qwen3's QK-norm, an RMSNorm over
        head_dim on each head of q and k (``q_norm`` / ``k_norm``, a (head_dim,) weight each, replicated under tensor
        parallelism) after the projections and before RoPE, so the cache holds normed keys; ``qk_norm_style`` names
        other forms (:data:`QK_NORMS`). ``clip_qkv``: OLMo 1's clamp of each q, k and v projection (an ELEMENTWISE
        ``{q,k,v}_clamp``, 1 FLOP an element, before any norm). ``rotary_dim`` > 0: partial rotary, only each head's first
        ``rotary_dim`` features rotated (:meth:`rope`). ``dropout``: the
        attention probabilities' dropout in a training graph (:meth:`attention`). ``sinks``: GPT-OSS's learned
        sink logit per head (``sinks``, a (heads,) parameter, split with the heads). ``qk_l2norm`` (an eps): Llama 4's
        QK norm, x·rsqrt(mean(x²) + eps) over head_dim on each head of q and k after RoPE, with no weight (NORM ops
        ``q_norm`` / ``k_norm``, fn rmsnorm). ``output_gate``: Qwen3-Next's gated attention, the query projection
        twice as wide, each head's second half (``gate``) a sigmoid gate on its output before the output
        projection (``gate_sigmoid``, ``gate_mul``). Returns the output projection.
        """
        if self.cp > 1 and (k_in is not None or v_in is not None or (cache is not None and cache.past)):
            raise WorkloadError(f"{self.name}: context_parallel is modelled for self-attention over the prompt "
                                f"(in {self._prefix() or 'graph'!r})", key=("context_parallel",))
        q_in = self._tp_in(q_in)  # sequence parallelism: the shards gathered (each input once)
        local = window or chunk
        if self.cp > 1 and local and local < self.shape(q_in)[1] * self.cp:
            kind = "a sliding window" if window else "an attention chunk"
            raise WorkloadError(f"{self.name}: context_parallel is not modelled with {kind} shorter than the prompt "
                                f"({local} < {self.shape(q_in)[1] * self.cp} tokens, in "
                                f"{self._prefix() or 'graph'!r})", key=("context_parallel",))
        k_in = q_in if k_in is None else self._tp_in(k_in)
        v_in = k_in if v_in is None else self._tp_in(v_in)
        kv_heads = kv_heads or heads
        widths = (heads * head_dim, kv_heads * head_dim)  # the whole q and k projections (OLMo 2's QK-norm)
        if self.tp > 1:  # Megatron-style: q/k/v column-split by heads, output projection row-split + all-reduce
            if heads % self.tp or (kv_heads % self.tp and self.tp % kv_heads):
                raise WorkloadError(f"{self.name}: tensor_parallel {self.tp} must divide heads ({heads}) and "
                                    f"divide or be a multiple of kv_heads ({kv_heads})", key=("tensor_parallel",))
            # more chips than KV heads: each chip holds one KV head, replicated on tp / kv_heads chips (vLLM's
            # QKVParallelLinear)
            qkv_width = heads + 2 * kv_heads  # the whole fused projection's heads
            kv_copies = max(self.tp // kv_heads, 1)  # the K/V projections' copies over the chips (replicated)
            heads, kv_heads = heads // self.tp, max(kv_heads // self.tp, 1)
            # a fused projection: its query part split, its K/V part on kv_copies chips each
            ratio = Fraction(self.tp * (heads + 2 * kv_heads), qkv_width)
            qkv_copies: float = int(ratio) if ratio.denominator == 1 else float(ratio)
        else:
            kv_copies = qkv_copies = 1
        qb, kb, vb, ob = (bias,) * 4 if isinstance(bias, bool) else bias
        out_features = out_features or self.shape(q_in)[-1]
        static = cache is not None and cache.static
        gate: str | None = None  # output_gate's half of the query projection
        if qk_norm_style not in QK_NORMS:
            raise WorkloadError(f"{self.name}: qk_norm_style {qk_norm_style!r} is not one of {sorted(QK_NORMS)}")
        whole_norm = qk_norm is not None and qk_norm_style in ("projection", "projection_tp")
        # MiniMax-M2 under tensor parallelism: q and k normed together, after both projections
        joint = whole_norm and qk_norm_style == "projection_tp" and self.tp > 1 and not static
        if (whole_norm or clip_qkv) and (fused_qkv is not None or output_gate):
            raise WorkloadError(f"{self.name}: a QK-norm over the whole projection or a q/k/v clamp needs separate "
                                f"q/k/v projections")
        if fused_qkv is not None:
            if not (q_in == k_in == v_in):
                raise WorkloadError(f"{self.name}: a fused q/k/v projection needs self-attention")
            with self.replicated(qkv_copies):
                qkv = self.linear(q_in, (heads + 2 * kv_heads) * head_dim, bias=qb, name=fused_qkv)
            q = self.split_heads(qkv, heads, head_dim, 0, name="q")
            k: str | None = self.split_heads(qkv, kv_heads, head_dim, heads * head_dim, name="k")
            v: str | None = self.split_heads(qkv, kv_heads, head_dim, (heads + kv_heads) * head_dim, name="v")
        else:
            if output_gate:
                both = self.split_heads(self.linear(q_in, 2 * heads * head_dim, bias=qb, name=names[0]), heads,
                                        2 * head_dim, name="q_gate")
                b_, h_, l_, _ = self.shape(both)
                q, gate = (self.view(both, (b_, h_, l_, head_dim), "slice", x, strict=False, dim=3, start=i * head_dim)
                           for i, x in enumerate(("q", "gate")))
            else:
                q = self._clamped(self.linear(q_in, heads * head_dim, bias=qb, name=names[0]), clip_qkv, "q_clamp")
                if whole_norm and not joint:
                    q = self._projection_norm(q, qk_norm, "q_norm", widths[0])
                    q = self.split_heads(q, heads, head_dim, name="q")
                elif not joint:
                    q = self.split_heads(q, heads, head_dim, name="q")
            k = v = None
            if not static:
                with self.replicated(kv_copies):
                    k = self._clamped(self.linear(k_in, kv_heads * head_dim, bias=kb, name=names[1]), clip_qkv,
                                      "k_clamp")
                if joint:
                    assert qk_norm is not None
                    q, k = self._sharded_qk_norm(q, k, qk_norm)
                    q = self.split_heads(q, heads, head_dim, name="q")
                elif whole_norm:
                    k = self._projection_norm(k, qk_norm, "k_norm", widths[1])
                k = self.split_heads(k, kv_heads, head_dim, name="k")
                with self.replicated(kv_copies):
                    v = self._clamped(self.linear(v_in, kv_heads * head_dim, bias=vb, name=names[2]), clip_qkv,
                                      "v_clamp")
                v = self.split_heads(v, kv_heads, head_dim, name="v")
        if qk_norm is not None and not whole_norm:
            q = self._head_norm(q, qk_norm, qk_norm_style, "q")
            if k is not None:
                k = self._head_norm(k, qk_norm, qk_norm_style, "k")
        if rope:
            q = self.rope(q, name="q_rope", rotary_dim=rotary_dim)
            if k is not None:
                k = self.rope(k, name="k_rope", rotary_dim=rotary_dim)
        if qk_l2norm is not None:
            q = self._norm(q, "rmsnorm", 4, (), -1, qk_l2norm, "q_norm")
            if k is not None:
                k = self._norm(k, "rmsnorm", 4, (), -1, qk_l2norm, "k_norm")
        if cache is not None:
            opens = False
            if window and cache.past >= window:
                cache = dataclasses.replace(cache, past=window - 1)
            if chunk and cache.past:
                if self.shape(q)[2] > 1:
                    raise WorkloadError(f"{self.name}: chunked attention is modelled for a prompt or a decode step, "
                                        f"not {self.shape(q)[2]} tokens after cached ones (in "
                                        f"{self._prefix() or 'graph'!r})")
                # the step reads its chunk's earlier tokens; the cache holds up to chunk − 1 (the rest: held)
                read = cache.past % chunk
                cache = dataclasses.replace(cache, past=read, held=cache.held + min(cache.past, chunk - 1) - read)
                opens = not read  # the step opens a chunk: it reads no cached token
            b = self.shape(q)[0]
            shape = (b, kv_heads, 0, head_dim)
            k = self._cached_kv(k, "k", cache, shape, window, chunk, opens)
            v = self._cached_kv(v, "v", cache, shape, window, chunk, opens)
        assert k is not None and v is not None
        sink = Weight(f"{self._prefix()}.sinks" if self._prefix() else "sinks", (heads,)) if sinks else None
        if chunk and self.shape(q)[2] > chunk:
            ctx = self._chunked_attention(q, k, v, chunk, fused=fused, softcap=softcap, dropout=dropout, sinks=sink)
        elif self.cp > 1:
            ctx = self._cp_attention(q, k, v, fused=fused, causal=causal, softcap=softcap, dropout=dropout,
                                     sinks=sink)
        else:
            ctx = self.attention(q, k, v, fused=fused, causal=causal, softcap=softcap, dropout=dropout, sinks=sink,
                                 window=window)
        merged = self.merge_heads(ctx, name="merge", eager=self.eager_attention is not None and not fused)
        if gate is not None:
            g = self.sigmoid(self.merge_heads(gate, name="gate_merge"), name="gate_sigmoid")
            merged = self.mul(merged, g, name="gate_mul")
        return self._tp_out(self.linear(merged, out_features, bias=ob, name=names[3]))

    def _chunked_attention(self, q: str, k: str, v: str, chunk: int, **kw: Any) -> str:
        """Chunked attention over a prompt of L > ``chunk`` tokens (Llama 4's ``attention_chunk_size``,
        transformers' chunked_attention mask): each query attends causally to the keys of its own chunk of
        ``chunk`` positions, a block-diagonal mask. The ⌊L / chunk⌋ whole chunks run as one attention over batch ×
        chunks sequences of ``chunk`` tokens (scope ``chunks``: q, k and v viewed as (B · n, heads, chunk, d)), a
        partial last chunk as another (scope ``last_chunk``); their outputs are concatenated. :meth:`attention`'s
        keywords pass through."""
        b, heads, length, d = self.shape(q)
        full, rest = divmod(length, chunk)
        whole = full * chunk
        parts = []

        def part(x: str, start: int, count: int, name: str) -> str:
            bx, hx, _, dx = self.shape(x)
            return self.view(x, (bx, hx, count, dx), "slice", name, strict=False, dim=2, start=start)

        if full:
            views = []
            for w, x in (("q", q), ("k", k), ("v", v)):
                _, hx, _, dx = self.shape(x)
                x = part(x, 0, whole, f"{w}_whole") if rest else x
                views.append(self.view(x, (b * full, hx, chunk, dx), "reshape", f"{w}_chunks"))
            with self.scope("chunks"):
                out = self.attention(*views, causal=True, **kw)
            parts.append(self.view(out, (b, heads, whole, self.shape(out)[3]), "reshape", "chunks_out"))
        if rest:
            q_r, k_r, v_r = (part(x, whole, rest, f"{w}_last") for w, x in (("q", q), ("k", k), ("v", v)))
            with self.scope("last_chunk"):
                parts.append(self.attention(q_r, k_r, v_r, causal=True, **kw))
        return parts[0] if len(parts) == 1 else self.concat(parts, dim=2, name="attention_chunks")

    def _cp_attention(self, q: str, k: str, v: str, *, causal: bool, **kw: Any) -> str:
        """Self-attention of this chip's tokens under context parallelism (``cp`` chips, each holding 1/cp of the
        sequence: q, k, v (B, H, L/cp, d)); :meth:`attention`'s keywords pass through.

        ``all_gather`` (TransformerEngine's AttnFuncWithCPAndKVAllGather, Llama 3's context parallelism, Dubey et al.
        2024 Sec. 3.3.2): k and v are all-gathered to the whole sequence (COLLECTIVE ``{k,v}_cp_all_gather``,
        attrs ``regather``: the backward gathers them again and reduce-scatters their gradients). A causal model's
        tokens are load-balanced: the sequence is cut into 2·cp chunks and chip i holds chunks i and 2·cp − 1 − i,
        each attending (causal, bottom-right aligned) to the keys up to its end, so every chip does the same work.
        The graph is chip 0's: chunk 0 against the first chunk's keys, chunk 2·cp − 1 against all (the attention
        ops of scopes ``chunk0`` and ``chunk1``), their outputs concatenated. Without a
        mask the local queries attend to every key in one op.

        ``a2a`` (DeepSpeed-Ulysses, Jacobs et al. 2023; TransformerEngine's a2a): q, k and v are all-to-all'd from
        token shards to head shards (B, H/cp, L, d), attention runs over the whole sequence on 1/cp of the heads,
        and its output is all-to-all'd back to (B, H, L/cp, d_v).

        Every collective runs over the ``cp`` chips of a context-parallel group, ``tp`` apart (Megatron's rank order,
        tensor parallel innermost): attrs ``group`` cp and ``extent`` tp·cp. The attention ops carry
        ``model_scale`` where a causal split leaves masked chunk pairs out (:meth:`_cp_model_scale`)."""
        b, heads, length, d = self.shape(q)
        first = len(self._ops)
        self._cp_inside = True
        try:
            out = self._cp_split(q, k, v, causal=causal, **kw)
        finally:
            self._cp_inside = False
        self._cp_model_scale(first, b * heads * length * length * self.cp * (d + self.shape(v)[3]))
        return out

    def _cp_model_scale(self, first: int, unsplit: int) -> None:
        """Mark the ATTENTION ops from op ``first`` on (one context-parallel attention's) with attrs ``model_scale``
        = ``unsplit`` (this chip's 1/cp of the unsplit op's MACs, every query × key, the counting convention of an
        attention at context_parallel 1) ÷ their MACs, where that is not 1: a causal split leaves out the chunk
        pairs above the diagonal (ring 2C/(C+1), all_gather 4C/(2C+1) of what its ops count), which the model's
        count still holds, so the report's ``macs``, ``flops`` (``report.schema.model_counts``: a fused attention's
        FLOPs grow with its pairs as its MACs do) and ``model_flops`` (``summary.model_share``) × C are the same at
        every C and ``cp_comm``; the ops' own MACs and FLOPs stay what runs."""
        ops = [i for i in range(first, len(self._ops)) if self._ops[i].kind is OpKind.ATTENTION]
        total = sum(self._ops[i].macs for i in ops)
        if not total or total == unsplit:
            return
        for i in ops:
            op = self._ops[i]
            self._ops[i] = dataclasses.replace(op, attrs={**op.attrs, "model_scale": unsplit / total})

    def _cp_split(self, q: str, k: str, v: str, *, causal: bool, **kw: Any) -> str:
        """:meth:`_cp_attention`'s ops, by ``cp_comm``."""
        cp, where = self.cp, f"{self.name}: context-parallel attention in {self._prefix() or 'graph'!r}"
        b, heads, length, d = self.shape(q)
        _, kv_heads, _, _ = self.shape(k)
        if self.cp_comm == "a2a":
            if heads % cp or kv_heads % cp:
                raise WorkloadError(f"{where}: context_parallel_comm a2a needs heads ({heads}) and kv_heads "
                                    f"({kv_heads}) per chip divisible by context_parallel ({cp})",
                                    key=("context_parallel",))
            q2, k2, v2 = (self._cp_collective(x, "all_to_all", (b, h // cp, length * cp, self.shape(x)[3]))
                          for x, h in ((q, heads), (k, kv_heads), (v, kv_heads)))
            part = self.attention(q2, k2, v2, causal=causal, **kw)  # (every head's sinks held: a few bytes)
            return self._cp_collective(part, "all_to_all", (b, heads, length, self.shape(part)[3]))
        if self.cp_comm == "p2p":
            return self._cp_ring(q, k, v, causal=causal, **kw)
        k_all, v_all = (self._cp_collective(x, "all_gather", (b, kv_heads, length * cp, self.shape(x)[3]),
                                            regather=True) for x in (k, v))
        if not causal:
            return self.attention(q, k_all, v_all, causal=False, **kw)
        n = length // 2  # a chunk: the local tokens are chunks i and 2·cp − 1 − i
        parts = []
        for i, (start, keys) in enumerate(((0, n), (n, length * cp))):
            q_i = self.view(q, (b, heads, n, d), "slice", f"q_chunk{i}", strict=False, dim=2, start=start)
            k_i, v_i = k_all, v_all
            if keys < length * cp:
                k_i, v_i = (self.view(x, (b, kv_heads, keys, self.shape(x)[3]), "slice", f"{w}_chunk{i}",
                                      strict=False, dim=2, start=0) for w, x in (("k", k_all), ("v", v_all)))
            with self.scope(f"chunk{i}"):
                parts.append(self.attention(q_i, k_i, v_i, causal=True, **kw))
        return self.concat(parts, dim=2, name="attention_chunks")

    def _cp_ring(self, q: str, k: str, v: str, *, causal: bool, **kw: Any) -> str:
        """``p2p`` context-parallel attention (TransformerEngine's AttnFuncWithCPAndKVP2P, Megatron-LM's default;
        Liu et al. 2023's ring attention): the chip's K and V, packed as one tensor (``kv``), go round the ring of
        ``cp`` chips in cp − 1 steps (COLLECTIVE ``kv_ring{j}``, fn ``send_recv``, attrs ``side_stream``: on a stream
        of their own, so step j's send overlaps step j − 1's attention; ``regather``: the backward passes K and V
        round again, beside their gradients, the sends' mirrors). Step 0 attends the local queries to the local
        keys (causal: the two load-balanced chunks against themselves, the usual mask); at step j ≥ 1 chip 0 holds
        chip cp − j's chunks, later in the sequence than its first chunk and earlier than its second, so only its
        second chunk's n queries attend, to all 2n keys, unmasked (TransformerEngine's ``else`` branch; a chip whose
        step brings an earlier chip's chunks attends its 2n queries to their first n keys: the same work). An
        ELEMENTWISE ``attention_out_correction`` merges the partial outputs by their log-sum-exps
        (flash_attn_fwd_out_correction: reads every partial output, 4 FLOPs an element). Non-causal: every step
        attends all local queries to the step's keys."""
        b, heads, length, d = self.shape(q)
        _, kv_heads, _, dv = self.shape(v)
        if self.shape(k)[3] != dv:
            raise WorkloadError(f"{self.name}: context_parallel_comm p2p needs keys and values of one width "
                                f"(in {self._prefix() or 'graph'!r})", key=("context_parallel",))
        kv = self.concat([k, v], dim=0, name="kv")  # (2b, kv_heads, length, d): one tensor a step
        n = length // 2 if causal else length
        parts = []
        for j in range(self.cp):
            if j:
                kv = self._cp_collective(kv, "send_recv", self.shape(kv), f"kv_ring{j}", side_stream=True,
                                         regather=True)
            k_j, v_j = (self.view(kv, (b, kv_heads, length, d), "slice", f"{w}_step{j}", strict=False, dim=0,
                                  start=i * b) for i, w in enumerate("kv"))
            q_j = q if j == 0 or not causal else self.view(q, (b, heads, n, d), "slice", f"q_step{j}", strict=False,
                                                           dim=2, start=n)
            with self.scope(f"step{j}"):
                parts.append(self.attention(q_j, k_j, v_j, causal=causal and j == 0, **kw))
        elems = sum(math.prod(self.shape(x)) for x in parts)
        return self._add(self._name("attention_out_correction", ""), OpKind.ELEMENTWISE, parts, (b, heads, length, dv),
                         flops=4 * elems, vector_elems=elems, fn="attention_out_correction")

    def _clamped(self, x: str, clip: bool, name: str) -> str:
        """``x`` clamped to ±clip_qkv (OLMo 1), or ``x`` itself."""
        return self.vector(OpKind.ELEMENTWISE, [x], self.shape(x), "clamp", 1, name=name) if clip else x

    def _head_norm(self, x: str, eps: float, style: str, which: str) -> str:
        """The QK-norm ``style`` (:data:`QK_NORMS`) of the (B, heads, L, d) q or k (``which``), over head_dim."""
        if style == "rmsnorm":
            return self._tp_replicated_norm(self.rmsnorm(x, eps, name=f"{which}_norm"))
        if style == "hunyuan":
            return self._tp_replicated_norm(
                self.rmsnorm(x, eps, name="query_layernorm" if which == "q" else "key_layernorm"))
        if style == "q_layernorm":
            return self._tp_replicated_norm(self.rmsnorm(x, eps, name=f"{which}_layernorm"))
        if style == "shared_layernorm":
            return self._tp_replicated_norm(self.layernorm(x, eps, name=f"{which}_layernorm"))
        # cohere's (heads, d) weight and the per-head norms: each chip holds its own heads' rows, nothing to sum
        b, heads, length, d = self.shape(x)
        name = self._name(f"{which}_norm" if style == "cohere" else f"{which}_layernorm", "")
        weights = ([Weight(f"{name}.weight", (heads, d))] if style == "cohere" else
                   [Weight(f"{name}.norms.{i}.weight", (d,)) for i in range(heads)])
        elems = b * heads * length * d
        return self._add(name, OpKind.NORM, [x], (b, heads, length, d), weights=weights, flops=5 * elems,
                         vector_elems=elems, fn="layernorm", dim=3, eps=eps)

    def _tp_replicated_norm(self, norm: str) -> str:
        """Mark QK-norm ``norm`` (:data:`SEQUENCE_PARALLEL`) when training under tensor parallelism: its weight is the
        same on every chip and each chip's gradient of it covers only its own heads, so Megatron-LM's
        finalize_model_grads all-reduces it over the group (``_allreduce_layernorm_grads``: ``tp_world_size > 1 and
        (config.sequence_parallel or config.qk_layernorm)``, the parameters named ``q_layernorm`` / ``k_layernorm``;
        probe p247 #3). Returns ``norm``."""
        if self.training and self.tp > 1:
            self._mark(norm, **{SEQUENCE_PARALLEL: self.tp})
        return norm

    def _projection_norm(self, x: str, eps: float, name: str, width: int) -> str:
        """OLMo 2's QK-norm: an RMSNorm over a whole q or k projection (B, L, heads·head_dim = ``width``), its weight
        as wide. Under tensor parallelism each chip holds some heads, so the shards are all-gathered first, every
        chip norms the whole projection and keeps its own heads (vLLM's Olmo2Attention._apply_qk_norm); training, each
        chip's gradient of the weight covers its own heads' columns, all-reduced (:meth:`_tp_replicated_norm`)."""
        b, length, c = self.shape(x)
        if self.tp <= 1 or c == width:
            return self.rmsnorm(x, eps, name=name)
        whole = self._add(self._name(None, f"{name}_all_gather"), OpKind.COLLECTIVE, [x], (b, length, width),
                          fn="all_gather", group=self.tp)
        normed = self._tp_replicated_norm(self.rmsnorm(whole, eps, name=name))  # the whole width's weight on each chip
        return self.view(normed, (b, length, c), "slice", name=f"{name}_shard", strict=False, dim=2, start=0)

    def _sharded_qk_norm(self, q: str, k: str, eps: float) -> tuple[str, str]:
        """MiniMax-M2's QK-norm under tensor parallelism (vLLM's MiniMaxText01RMSNormTP.forward_qk): each chip holds
        its heads' shard of q and k and the same shard of each norm's weight; the mean square over the whole
        projection is the mean of the chips' ones, so one all-reduce of every token's two fp32 values (q's and k's)
        completes both, and each chip scales its own shard: NORMs over the shard reading the all-reduce's output."""
        b, length, _ = self.shape(q)
        dtype, self.dtype = self.dtype, "fp32"  # vLLM reduces the variances in fp32
        try:
            var = self._add(self._name(None, "qk_norm_all_reduce"), OpKind.COLLECTIVE, [q, k], (b, length, 2),
                            fn="all_reduce", group=self.tp, keep_dtype=True)
        finally:
            self.dtype = dtype
        out = []
        for x, name in ((q, "q_norm"), (k, "k_norm")):
            name = self._name(name, "rmsnorm")
            shape = self.shape(x)
            elems = math.prod(shape)
            out.append(self._add(name, OpKind.NORM, [x, var], shape, weights=[Weight(f"{name}.weight", (shape[-1],))],
                                 flops=4 * elems, vector_elems=elems, fn="rmsnorm", dim=len(shape) - 1, eps=eps))
        return out[0], out[1]

    def _all_reduce(self, x: str) -> str:
        """The all-reduce that completes a row-split linear under tensor parallelism (nothing when tp = 1)."""
        if self.tp <= 1:
            return x
        return self._tp_collective(x, "all_reduce", self.shape(x))

    def _mark(self, name: str, **attrs: object) -> None:
        """Add ``attrs`` to op ``name`` (a graph input: nothing)."""
        for i in range(len(self._ops) - 1, -1, -1):
            if (op := self._ops[i]).name == name:
                self._ops[i] = dataclasses.replace(op, attrs={**op.attrs, **attrs})
                return

    def _tp_collective(self, x: str, fn: str, shape: Shape, **attrs: object) -> str:
        """A collective ``fn`` of ``x`` over the tensor-parallel group, named ``{x's last name part}_{fn}``."""
        return self._collective(x, fn, shape, f"{x.rsplit('.', 1)[-1]}_{fn}", group=self.tp, **attrs)

    def _cp_collective(self, x: str, fn: str, shape: Shape, name: str | None = None, **attrs: object) -> str:
        """A collective ``fn`` of ``x`` over the context-parallel group (``cp`` chips ``tp`` apart: attrs ``extent``
        tp·cp), named ``name`` or ``{x's last name part}_cp_{fn}``."""
        return self._collective(x, fn, shape, name or f"{x.rsplit('.', 1)[-1]}_cp_{fn}", group=self.cp,
                                extent=self.tp * self.cp, **attrs)

    def _collective(self, x: str, fn: str, shape: Shape, leaf: str, **attrs: object) -> str:
        """A COLLECTIVE ``fn`` of ``x``; one that moves a GEMM's output over the tensor-parallel group
        (:func:`~.precision.moves_gemm_output`) in the 16-bit dtype an 8- or 4-bit model's GEMMs write
        (:func:`~.precision.gemm_output_dtype`: a ``dtype: fp8`` model all-reduces bf16, probe p106 #1)."""
        dtype = self.dtype
        if moves_gemm_output(fn, attrs):
            self.dtype = gemm_output_dtype(dtype)
        try:
            return self._add(self._name(None, leaf), OpKind.COLLECTIVE, [x], shape, fn=fn, **attrs)
        finally:
            self.dtype = dtype

    @contextlib.contextmanager
    def partial_sums(self, on: bool = True) -> Iterator[None]:
        """Inside, the tensor-parallel blocks end without their all-reduce (:meth:`_tp_out` returns the partial
        sums); the caller adds the blocks' outputs and reduces the sum once with :meth:`_tp_out` (Falcon's parallel
        attention and MLP: vLLM's FalconDecoderLayer, ``reduce_row_parallel_results`` off)."""
        before, self._deferred = self._deferred, on
        try:
            yield
        finally:
            self._deferred = before

    @contextlib.contextmanager
    def replicated(self, copies: float | None = None) -> Iterator[None]:
        """Inside, the ops are not sharded: every tensor-parallel chip runs them whole on the same input (GPT-2's
        tied LM head, BERT's pooler, a ViT's patch embedding and head, a diffusion transformer's embedders and
        modulation linears, an MoE router, DeepSeek's MLA down-projections). Under ``tp`` > 1 each op with MACs
        built inside gets attrs ``tp_replicas`` = ``copies`` (default tp): how many times the tp chips together run
        its work, tp × its MACs on a chip over the model's. A training report counts 1/``copies`` of its MACs as
        this chip's model work (``report.summary.model_share``: the copies are one op of the model, as MFU counts
        it; probe p138 #1). A K/V projection of kv_heads < tp heads runs on each chip for one head, every head on
        tp / kv_heads chips: ``copies`` = tp / kv_heads (probe p143 #1). Nothing without tensor parallelism or
        with ``copies`` 1."""
        first = len(self._ops)
        copies = self.tp if copies is None else copies
        try:
            yield
        finally:
            if self.tp > 1 and copies != 1:
                for i in range(first, len(self._ops)):
                    if (op := self._ops[i]).macs:
                        self._ops[i] = dataclasses.replace(op, attrs={**op.attrs, "tp_replicas": copies})

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Inside, :meth:`_tp_in` adds no all-gather: the caller gathered the token shards once for several
        blocks that read them (an MoE layer's router and experts beside its shared expert, under sequence
        parallelism)."""
        before, self._gathered = self._gathered, True
        try:
            yield
        finally:
            self._gathered = before

    def _tp_out(self, x: str) -> str:
        """The end of a tensor-parallel block (after its row-split linear): the all-reduce, or with sequence
        parallelism (``sp``) a reduce-scatter along the tokens, (B, L, C) partial sums → (B, L/tp, C) (Megatron's
        reduce_scatter_to_sequence_parallel_region); nothing inside :meth:`partial_sums`."""
        if self._deferred:
            return x
        if not self.sp or self.tp <= 1:
            return self._all_reduce(x)
        if self.training:  # Megatron's RowParallelLinear marks its bias sequence_parallel (its gradient, over this
            self._mark(x, **{SEQUENCE_PARALLEL: self.tp})  # chip's tokens, all-reduced over the group; the training
            # pass reads the attr off a linear's bias alone)
        b, length, c = self.shape(x)
        return self._tp_collective(x, "reduce_scatter", (b, length // self.tp, c))

    @property
    def whole_tokens(self) -> bool:
        """Whether a block's input here holds every token of the sequence (no sequence parallelism, or inside
        :meth:`gathered`), not this chip's token shard."""
        return not self.sp or self.tp <= 1 or self._gathered

    def _tp_in(self, x: str) -> str:
        """The start of a tensor-parallel block (before its column-split linears): nothing, or with sequence
        parallelism (``sp``) an all-gather of the token shards, (B, L/tp, C) → (B, L, C) (Megatron's
        gather_from_sequence_parallel_region). Megatron keeps the shard for the backward pass and gathers it again
        there (its linears' ``sequence_parallel`` path): attrs ``regather``, which the training pass re-runs before
        the block's backward (builders/training.py). Nothing inside :meth:`gathered`."""
        if self.whole_tokens:
            return x
        b, length, c = self.shape(x)
        return self._tp_collective(x, "all_gather", (b, length * self.tp, c), regather=True)

    def tp_copy(self, x: str, name: str | None = None) -> str:
        """The input of column-split linears that no row-split all-reduce before them pairs with (Megatron's
        copy_to_tensor_model_parallel_region on T5's encoder output, read by every decoder layer's cross-attention
        k and v): an identity view forward, whose gradient is all-reduced over the tensor-parallel group
        (builders/training.py). Nothing without tensor parallelism."""
        if self.tp <= 1:
            return x
        return self.view(x, self.shape(x), "tp_copy", name, group=self.tp)

    def sequence_scatter(self, x: str, name: str | None = None) -> str:
        """(B, L, C) → (B, L/tp, C): this chip's token shard of a tensor every chip holds whole (Megatron's
        scatter_to_sequence_parallel_region after the embeddings): a view, no communication; its gradient is
        all-gathered (builders/training.py). Nothing without sequence parallelism."""
        if not self.sp or self.tp <= 1:
            return x
        b, length, c = self.shape(x)
        self._token_shards(length)
        return self.view(x, (b, length // self.tp, c), "sequence_scatter", name, strict=False, dim=1, start=0,
                         group=self.tp)

    def _token_shards(self, length: int) -> None:
        """Refuse a sequence-parallel split of ``length`` tokens that tensor_parallel does not divide."""
        if length % self.tp:
            raise WorkloadError(f"{self.name}: sequence parallelism needs tokens ({length}) divisible by "
                                f"tensor_parallel ({self.tp})", key=("tensor_parallel",))

    def _tp_hidden(self, hidden: int) -> int:
        if hidden % self.tp:
            raise WorkloadError(f"{self.name}: tensor_parallel {self.tp} must divide the MLP width {hidden}",
                                key=("tensor_parallel",))
        return hidden // self.tp

    # ---- adaptive LayerNorm (DiT's adaLN) ----------------------------------------------------------------
    def layernorm_no_affine(self, x: str, eps: float = 1e-6, name: str | None = None) -> str:
        """LayerNorm over the last dim without weight or bias (``nn.LayerNorm(elementwise_affine=False)``, DiT's
        norm1 / norm2 / norm_final): NORM fn "layernorm", no params, 3 flops per element (:meth:`layernorm`'s 5
        less the affine's multiply and add)."""
        return self._norm(x, "layernorm", 3, (), -1, eps, name)

    def modulate(self, x: str, shift: str, scale: str, name: str | None = None) -> str:
        """x·(1 + scale) + shift (DiT's ``modulate``, adaLN) of x (B, L, C) by the per-sample (B, 1, C) ``shift``
        and ``scale`` (broadcast over the tokens). With ``modulate_kernel`` "fused" one ELEMENTWISE op fn
        "modulate" (a compiler's fused kernel): 2 flops per element of x (multiply, add) plus 1 per element of
        scale (the 1 + scale); vector_elems = x's elements. With ``modulate_kernel`` "eager" the three kernels
        PyTorch runs for ``x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)`` (DiT's models.py; diffusers'
        AdaLayerNormZero, AdaLayerNormZeroSingle, AdaLayerNormContinuous and FluxTransformerBlock's norm2
        modulations): ``{name}.scale_plus_one`` (fn "add", the (B, 1, C) 1 + scale), ``{name}.mul`` (fn "mul",
        x times it, writing a (B, L, C) intermediate) and ``{name}`` (fn "add", + shift), 1 flop an element
        each; the same flops, two more launches and the intermediate's write and read."""
        shape = self.shape(x)
        label = name or "modulate"
        for what, t in (("shift", shift), ("scale", scale)):
            if broadcast_shapes(shape, self.shape(t)) != shape:
                raise WorkloadError(f"{self.name}: modulate {label!r}: {what} {t!r} {list(self.shape(t))} does not "
                                    f"broadcast to x {list(shape)}")
        if self.modulate_kernel == "eager":
            local = self.block_name(name, "modulate")
            one = self.vector(OpKind.ELEMENTWISE, [scale], self.shape(scale), "add", 1, name=f"{local}.scale_plus_one")
            return self._binary(self._binary(x, one, "mul", f"{local}.mul"), shift, "add", local)
        name = self._name(name, "modulate")
        elems = math.prod(shape)
        return self._add(name, OpKind.ELEMENTWISE, [x, shift, scale], shape,
                         flops=2 * elems + math.prod(self.shape(scale)), vector_elems=elems, fn="modulate")
