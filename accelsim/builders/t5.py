"""T5 (Raffel et al. 2020) encoder–decoder, as Hugging Face's T5ForConditionalGeneration (t5-small, t5-base).

``phase: prefill``: one forward pass with ``src_len`` source tokens through the encoder and ``tgt_len`` target
tokens through the decoder (teacher forcing; in inference it fills each decoder layer's self- and cross-attention KV
caches, as Whisper's prefill). ``phase: decode``: one cached decoder step (:func:`_decode_step`); ``decode_steps``
makes a serving run from the decoder prompt of ``tgt_len`` tokens (1: T5's decoder start token). Layer for layer as transformers' ``modeling_t5`` with the checkpoints' config.json
(https://huggingface.co/t5-small/blob/main/config.json, .../t5-base/...): d_model, d_ff, num_heads × d_kv,
num_layers, vocab 32,128, 32 relative-position buckets; op and weight names follow the HF module names.

* No biases anywhere; T5LayerNorm is an RMS norm with a weight only (NORM fn "rmsnorm"), in inference preceded by
  the steps eager transformers launches as kernels of their own (:func:`_layer_norm`: 8 kernels on a GPU preset in
  a 16-bit dtype, the one norm elsewhere; probe p235 #1); the feed-forward is DenseReluDense (wi, ReLU, wo);
  pre-norm residual blocks; a final RMS norm per stack.
* ``mode="training"``: ``dropout`` (T5Config's dropout_rate, 0.1) where modeling_t5 applies it, each a
  GraphBuilder.dropout (a keep-mask and the masked tensor): each stack's embeddings and final norm output, the
  attention probabilities (unfused), the feed-forward's activation, and every sub-layer's output before its
  residual add.
* One embedding table ``shared`` (vocab × d_model) for the encoder and decoder tokens and the tied LM head
  (``tie_word_embeddings``); in inference the head's input rescale ``sequence_output * model_dim**-0.5``
  (:func:`_head_scale`) is a kernel on a GPU preset and folded elsewhere.
* Relative position bias: the first block of each stack owns ``relative_attention_bias`` (32 buckets × heads);
  each stack looks it up once for every (query, key) pair (an EMBEDDING op with no inputs gathering Lq·Lk rows,
  viewed as (1, heads, Lq, Lk)) and every self-attention layer of the stack adds it to its scores (an extra
  score term: 1 flop per score element); an unfused decoder first adds its causal mask to the bias once
  (:func:`_masked_bias`), as transformers does. The bucket arithmetic on indices is not counted. Cross-attention has
  no position bias. T5 does not scale the scores by 1/√d_kv (no cost either way).

Parameters (tests/unit/test_layer_list_t5.py works them out): t5-small 60,506,624, t5-base 222,903,552.

``tensor_parallel: T`` (Megatron-LM's T5 and vLLM's split): one chip's shard. Every attention's q, k, v and
the feed-forward's ``wi`` are column-split (heads and d_ff ÷ T), ``o`` and ``wo`` row-split and followed by an
all-reduce; each chip looks up the position bias of its own heads (the 32 × heads table is replicated); the shared
embedding and the tied head are split by vocabulary rows (:meth:`.tlayers.TransformerBuilder.vocab_embedding`,
``lm_head``: the look-ups all-reduced, the logits all-gathered in inference); the RMS norms are replicated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, PositiveInt

from ..errors import WorkloadError
from ..ir import Graph, OpKind, Weight
from ..units import EAGER_NORM_DTYPE
from .tlayers import MASK_FLOPS, KVCache, TransformerBuilder
from .transformer import Seq2SeqParams, _part_of_model

T5_CONFIGS = {  # d_model, d_ff, heads, d_kv, layers per stack (HF config.json of each checkpoint)
    "t5_small": (512, 2048, 8, 64, 6),
    "t5_base": (768, 3072, 12, 64, 12),
}
VOCAB = 32_128
BUCKETS = 32


EPS = 1e-6  # T5Config.layer_norm_epsilon


def _layer_norm(b: TransformerBuilder, x: str, name: str) -> str:
    """transformers' T5LayerNorm on ``x`` (src/transformers/models/t5/modeling_t5.py, ``T5LayerNorm.forward``)::

        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in [torch.float16, torch.bfloat16]:
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states

    Eager PyTorch launches each step as a kernel of its own (8 in a 16-bit model; in fp32 the two casts are no-ops,
    6), and transformers fuses them only with apex installed (``T5LayerNorm = FusedRMSNorm``, the ``try: from apex``
    block after the class). So: ``{name}.to_fp32`` (ELEMENTWISE fn "cast"), ``.pow`` (1 FLOP an element), ``.mean``
    (to (…, 1), 1 FLOP an input element), ``.add_eps`` and ``.rsqrt`` (on the (…, 1) variance), ``.mul`` (x times the
    broadcast reciprocal), each writing :data:`~accelsim.units.EAGER_NORM_DTYPE` (4 B an element), ``.to_dtype``
    (fn "cast" back to the model's dtype), all marked ``eager_copy``; then ``{name}`` itself, the NORM fn "rmsnorm"
    with the weight, marked ``eager_fn`` "mul". On a GPU preset (mapping.aliases) that is 8 kernels, the last
    ``self.weight * hidden_states`` (one read of its input, one FLOP an element); off a GPU the marked steps are in
    place on their inputs (a compiler folds them) and ``{name}`` is the one RMS norm it always was (4 FLOPs an element).
    A training graph keeps the one RMS norm (its backward is builders/training.py's rmsnorm rule)."""
    if b.training:
        return b.rmsnorm(x, eps=EPS, name=name)
    shape = b.shape(x)
    rows = (*shape[:-1], 1)
    wide = {"out_dtype": EAGER_NORM_DTYPE, "eager_copy": True}
    h = x
    if b.dtype != EAGER_NORM_DTYPE:  # ``.to(torch.float32)`` of an fp32 tensor returns it: no kernel
        h = b.vector(OpKind.ELEMENTWISE, [h], shape, "cast", 0, name=f"{name}.to_fp32", **wide)
    sq = b.vector(OpKind.ELEMENTWISE, [h], shape, "pow", 1, name=f"{name}.pow", **wide)
    var = b._add(b._name(f"{name}.mean", "mean"), OpKind.ELEMENTWISE, [sq], rows, flops=math.prod(shape),
                 vector_elems=math.prod(shape), fn="mean", dim=len(shape) - 1, **wide)
    var = b.vector(OpKind.ELEMENTWISE, [var], rows, "add", 1, name=f"{name}.add_eps", **wide)
    inv = b.vector(OpKind.ELEMENTWISE, [var], rows, "rsqrt", 1, name=f"{name}.rsqrt", **wide)
    h = b.vector(OpKind.ELEMENTWISE, [h, inv], shape, "mul", 1, name=f"{name}.mul", **wide)
    if b.dtype != EAGER_NORM_DTYPE:  # ``.to(self.weight.dtype)``: the half weight's dtype, the model's
        h = b.vector(OpKind.ELEMENTWISE, [h], shape, "cast", 0, name=f"{name}.to_dtype", eager_copy=True)
    full = b._name(name, "rmsnorm")
    return b._add(full, OpKind.NORM, [h], shape, weights=[Weight(f"{full}.weight", (shape[-1],))],
                  flops=4 * math.prod(shape), vector_elems=math.prod(shape), fn="rmsnorm", dim=len(shape) - 1,
                  eps=EPS, eager_fn="mul")  # mapping.aliases.EAGER_FN


class T5Params(Seq2SeqParams):
    """A T5 encoder–decoder pass: the teacher-forced forward (a prefill) or one cached decode step."""

    src_len: PositiveInt = Field(512, description="Source tokens through the encoder (T5's pre-training: 512).")
    tgt_len: PositiveInt = Field(
        128, description="Target tokens through the decoder, teacher-forced (phase prefill): in inference the "
                         "decoder prompt whose K/V the prefill caches; 1 to generate from the decoder start token.")
    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': scores, softmax and context ops; 'fused': one ATTENTION op.")
    tensor_parallel: PositiveInt = Field(
        1, description="Tensor-parallel degree (Megatron-style; see the module docstring): the graph is one chip's "
                       "shard, heads and d_ff split this many ways, an all-reduce after o and wo; needs an arch with "
                       "at least this many chips.")
    dropout: float = Field(
        0.1, ge=0, lt=1, description="Training only: T5Config's dropout_rate (0.1), applied where modeling_t5 "
                                     "applies it: after each stack's embeddings and final norm, on the attention "
                                     "probabilities (unfused), after the feed-forward's activation and on each "
                                     "sub-layer's output before its residual add. 0: none.")


def _attention(b: TransformerBuilder, x: str, kv: str | None, heads: int, d_kv: int, extra: Sequence[str],
               causal: bool, fused: bool, dropout: float = 0.0, cache: KVCache | None = None) -> str:
    """q, k, v (no bias), heads, [the KV cache], attention with the extra score terms (and, training, the
    probabilities' dropout), output projection o. ``cache`` as :meth:`.tlayers.TransformerBuilder.
    multihead_attention`'s (Whisper's): the new K/V appended to ``{scope}.{k,v}_cache`` and read after the cached
    ones; a static cache (the cross-attention K/V of a decode step) read whole, with no k and v projection
    (``kv`` unused: None)."""
    d = b.shape(x)[-1]
    heads //= b.tp  # this chip's heads (column-split q, k, v; row-split o, then the all-reduce)
    q = b.split_heads(b.linear(x, heads * d_kv, bias=False, name="q"), heads, d_kv, name="q_heads")
    k = v = None
    if cache is None or not cache.static:
        assert kv is not None
        k = b.split_heads(b.linear(kv, heads * d_kv, bias=False, name="k"), heads, d_kv, name="k_heads")
        v = b.split_heads(b.linear(kv, heads * d_kv, bias=False, name="v"), heads, d_kv, name="v_heads")
    if cache is not None:
        shape = (b.shape(q)[0], heads, 0, d_kv)
        k = b._cached_kv(k, "k", cache, shape)
        v = b._cached_kv(v, "v", cache, shape)
    assert k is not None and v is not None
    ctx = b.attention(q, k, v, fused=fused, causal=causal, extra=extra, dropout=dropout)
    return b._tp_out(b.linear(b.merge_heads(ctx, name="merge"), d, bias=False, name="o"))


def _position_bias(b: TransformerBuilder, stack: str, heads: int, q_len: int, k_len: int) -> str:
    """The stack's (1, heads, Lq, Lk) relative position bias, looked up once from block 0's table (under tensor
    parallelism this chip's heads' columns of the whole table)."""
    # inside a scope (FLUX's text_encoder_2) the table's name carries it, as the ops' do
    table = Weight(b.scoped(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"), (BUCKETS, heads))
    local = heads // b.tp
    rows = b.table_rows((1, q_len, k_len, local), table, name=f"{stack}.position_bias")
    return b.view(rows, (1, local, q_len, k_len), name=f"{stack}.position_bias_heads")


def _masked_bias(b: TransformerBuilder, bias: str, batch: int) -> str:
    """The decoder's (1, heads, Lq, Lk) ``bias`` plus its causal mask, once per stack: transformers' T5Attention
    (modeling_t5.py, ``T5Attention.forward``) adds ``mask`` to ``position_bias`` only where it computes the bias
    (``if mask is not None: position_bias = position_bias + mask``, the stack's first layer) and every layer then
    adds the (batch, heads, Lq, Lk) result to its scores (``scores += position_bias_masked``), so an unfused decoder
    has one ELEMENTWISE fn "causal_mask" ``decoder.position_bias_masked`` reading the bias and the (batch, 1, Lq, Lk)
    graph input ``attention_mask`` (:data:`.tlayers.MASK_FLOPS` an element), and no mask op per layer (probe p235
    #7: t5_small had 6)."""
    _, heads, q_len, k_len = b.shape(bias)
    shape = (batch, 1, q_len, k_len)
    mask = b._masks.get(shape) or b.add_input("attention_mask", shape)
    b._masks[shape] = mask
    return b.vector(OpKind.ELEMENTWISE, [bias, mask], (batch, heads, q_len, k_len), "causal_mask", MASK_FLOPS,
                    name="decoder.position_bias_masked")


def _head_scale(b: TransformerBuilder, y: str) -> str:
    """The tied LM head's input rescale, ``sequence_output = sequence_output * (self.model_dim**-0.5)``
    (modeling_t5.py, ``T5ForConditionalGeneration.forward``, with ``tie_word_embeddings``): ELEMENTWISE fn "mul",
    1 FLOP an element, marked ``eager_copy`` (probe p235 #7): eager PyTorch's kernel on a GPU preset; elsewhere a
    compiler folds the scalar into the head's GEMM (in place, as before). A training graph leaves it out, as it
    keeps T5LayerNorm's one RMS norm (:func:`_layer_norm`)."""
    if b.training:
        return y
    return b.vector(OpKind.ELEMENTWISE, [y], b.shape(y), "mul", 1, name="lm_head_scale", eager_copy=True)


def _self_attention(b: TransformerBuilder, x: str, heads: int, d_kv: int, bias: str, causal: bool,
                    fused: bool, dropout: float = 0.0, cache: KVCache | None = None) -> str:
    h = _layer_norm(b, x, name="layer.0.layer_norm")
    with b.scope("layer.0.SelfAttention"):
        h = _attention(b, h, h, heads, d_kv, [bias], causal, fused, dropout, cache)
    return b.add(x, b.dropout(h, dropout, name="layer.0.dropout"), name="layer.0.residual")


def _cross_attention(b: TransformerBuilder, y: str, memory: str | None, heads: int, d_kv: int, fused: bool,
                     dropout: float = 0.0, cache: KVCache | None = None) -> str:
    """The cross-attention sub-layer over the encoder output ``memory`` (None in a decode step: ``cache`` is the
    static cache of its K/V)."""
    h = _layer_norm(b, y, name="layer.1.layer_norm")
    with b.scope("layer.1.EncDecAttention"):
        # the encoder output into this layer's column-split k and v: its gradient all-reduced in training
        kv = None if memory is None else b.tp_copy(memory, name="memory_copy")
        h = _attention(b, h, kv, heads, d_kv, (), False, fused, dropout, cache)
    return b.add(y, b.dropout(h, dropout, name="layer.1.dropout"), name="layer.1.residual")


def _ffn(b: TransformerBuilder, x: str, d_ff: int, sub: int, dropout: float = 0.0, gated: bool = False) -> str:
    """The feed-forward sub-layer: DenseReluDense (wi, ReLU, wo), or with ``gated`` T5 v1.1's
    T5DenseGatedActDense (``feed_forward_proj`` "gated-gelu": gelu_new(wi_0(x)) · wi_1(x), then wo; transformers
    still names the module DenseReluDense)."""
    h = _layer_norm(b, x, name=f"layer.{sub}.layer_norm")
    with b.scope(f"layer.{sub}.DenseReluDense"):
        if gated:
            g = b.linear(h, b._tp_hidden(d_ff), bias=False, name="wi_0")  # column-split, then wo row-split
            u = b.linear(h, b._tp_hidden(d_ff), bias=False, name="wi_1")
            h = b.mul(b.gelu(g, name="act"), u, name="mul")
        else:
            h = b.relu(b.linear(h, b._tp_hidden(d_ff), bias=False, name="wi"), name="act")  # column-split
        h = b.dropout(h, dropout, name="dropout")
        h = b._tp_out(b.linear(h, b.shape(x)[-1], bias=False, name="wo"))
    return b.add(x, b.dropout(h, dropout, name=f"layer.{sub}.dropout"), name=f"layer.{sub}.residual")


def t5_encoder(b: TransformerBuilder, ids: str, d_model: int, d_ff: int, heads: int, d_kv: int, layers: int, *,
               gated: bool = False, fused: bool = False) -> str:
    """An inference pass of a T5 encoder stack (transformers' T5EncoderModel) on the (B, L) token ids ``ids``, in
    the builder's current scope: ``shared`` embedding (``encoder.embed_tokens`` reads it), the relative position
    bias of block 0, ``layers`` blocks (self-attention; the feed-forward of :func:`_ffn`, ``gated`` for T5 v1.1),
    ``encoder.final_layer_norm``. No dropout (inference). Returns the final norm's output (B, L, d_model)."""
    x = b.embedding(ids, VOCAB, d_model, weight_name=b.scoped("shared.weight"), name="encoder.embed_tokens")
    length = b.shape(ids)[1]
    bias = _position_bias(b, "encoder", heads, length, length)
    for i in range(layers):
        with b.scope(f"encoder.block.{i}"):
            x = _ffn(b, _self_attention(b, x, heads, d_kv, bias, False, fused), d_ff, 1, gated=gated)
    return _layer_norm(b, x, name="encoder.final_layer_norm")


def t5(model: str, p: T5Params) -> Graph:
    """T5 (see the module docstring) with the sizes of ``model`` in :data:`T5_CONFIGS`: the teacher-forced pass
    (phase prefill) or one cached decode step."""
    d, d_ff, heads, d_kv, layers = T5_CONFIGS[model]
    if heads % p.tensor_parallel:
        raise WorkloadError(f"{model}: tensor_parallel {p.tensor_parallel} must divide the heads ({heads})",
                            key=("tensor_parallel",))
    if p.phase == "decode":
        return _decode_step(model, p)
    fused = p.attention == "fused"
    b = TransformerBuilder(model, {"input": (p.batch, p.src_len), "decoder_input": (p.batch, p.tgt_len)},
                           dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    b.training = p.mode == "training"  # modeling_t5's dropouts (dropout_rate) then cost

    def cache() -> KVCache | None:  # an inference pass is a prefill: it fills the self- and cross-attention caches
        return None if b.training else KVCache()

    r = p.dropout
    x, shared = b.vocab_embedding("input", VOCAB, d, "shared.weight", name="encoder.embed_tokens")
    x = b.dropout(x, r, name="encoder.embed_dropout")
    enc_bias = _position_bias(b, "encoder", heads, p.src_len, p.src_len)
    for i in range(layers):
        with b.scope(f"encoder.block.{i}"):
            x = _ffn(b, _self_attention(b, x, heads, d_kv, enc_bias, False, fused, r), d_ff, 1, r)
    memory = b.dropout(_layer_norm(b, x, name="encoder.final_layer_norm"), r, name="encoder.final_dropout")
    y, _ = b.vocab_embedding("decoder_input", VOCAB, d, shared.name, name="decoder.embed_tokens")
    y = b.dropout(y, r, name="decoder.embed_dropout")
    dec_bias = _position_bias(b, "decoder", heads, p.tgt_len, p.tgt_len)
    causal = True
    if not fused and p.tgt_len > 1:  # the mask goes into the stack's bias once, not into every layer's scores
        dec_bias, causal = _masked_bias(b, dec_bias, p.batch), False
    for i in range(layers):
        with b.scope(f"decoder.block.{i}"):
            y = _self_attention(b, y, heads, d_kv, dec_bias, causal, fused, r, cache())
            y = _ffn(b, _cross_attention(b, y, memory, heads, d_kv, fused, r, cache()), d_ff, 2, r)
    y = b.dropout(_layer_norm(b, y, name="decoder.final_layer_norm"), r, name="decoder.final_dropout")
    b.lm_head(_head_scale(b, y), VOCAB, name="lm_head", tied=shared, gather=p.mode != "training")
    return b.build({"model": model, **p.model_dump(), **({} if b.training else b.kv_meta())})


def _decode_step(model: str, p: T5Params) -> Graph:
    """One decoder token per sequence (input ``input``: (batch, 1) token ids) at position ``kv_len``: its
    self-attention reads the ``kv_len`` cached K/V and its own (appended), with the relative position bias of that
    one query against the kv_len + 1 keys, looked up per step; its cross-attention reads the static cache of the
    ``src_len`` encoder tokens' K/V (no k or v projection); the tied head on the one token. The encoder's weights and
    the cross-attention k and v, which the step does not read, stay resident: an ``unused_params`` view
    ``decoder.held_weights`` carries them (as Whisper's), so the step's params are the whole model's."""
    d, d_ff, heads, d_kv, layers = T5_CONFIGS[model]
    fused = p.attention == "fused"
    b = TransformerBuilder(model, {"input": (p.batch, 1)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    y, shared = b.vocab_embedding("input", VOCAB, d, "shared.weight", name="decoder.embed_tokens")
    y = b.unused_params(y, _held_weights(model, p), name="decoder.held_weights")
    bias = _position_bias(b, "decoder", heads, 1, p.kv_len + 1)
    for i in range(layers):
        with b.scope(f"decoder.block.{i}"):
            y = _self_attention(b, y, heads, d_kv, bias, True, fused, cache=KVCache(past=p.kv_len))
            y = _cross_attention(b, y, None, heads, d_kv, fused, cache=KVCache(past=p.src_len, static=True))
            y = _ffn(b, y, d_ff, 2)
    y = _layer_norm(b, y, name="decoder.final_layer_norm")
    b.lm_head(_head_scale(b, y), VOCAB, name="lm_head", tied=shared)
    return b.build({"model": model, **p.model_dump(), **b.kv_meta()})


def _held_weights(model: str, p: T5Params) -> list[Weight]:
    """The parameter tensors a decode step holds but does not read (this chip's shard under tensor parallelism), as
    the prefill names them: the encoder's (but the shared table, which the step reads for its token) and each
    decoder layer's cross-attention k and v (the step reads their cached outputs instead)."""
    d, d_ff, heads, d_kv, layers = T5_CONFIGS[model]
    b = TransformerBuilder(model, {"input": (1, 1)}, dtype=p.dtype or "fp16", tp=p.tensor_parallel)
    memory = t5_encoder(b, "input", d, d_ff, heads, d_kv, layers)
    for i in range(layers):
        with b.scope(f"decoder.block.{i}.layer.1.EncDecAttention"):
            b.linear(memory, heads // b.tp * d_kv, bias=False, name="k")
            b.linear(memory, heads // b.tp * d_kv, bias=False, name="v")
    return [w for op in b.build().ops for w in op.weights if w.role == "param" and w.name != "shared.weight"]


@_part_of_model(tensor_parallel=1)
def t5_small(p: T5Params) -> Graph:
    """t5-small: d_model 512, d_ff 2048, 8 heads of 64, 6 + 6 layers; 60,506,624 parameters."""
    return t5("t5_small", p)


@_part_of_model(tensor_parallel=1)
def t5_base(p: T5Params) -> Graph:
    """t5-base: d_model 768, d_ff 3072, 12 heads of 64, 12 + 12 layers; 222,903,552 parameters."""
    return t5("t5_base", p)
