"""Readers of LayerNorm-era language models' Hugging Face configs (registered in :data:`.hfconfig.READERS`), with
transformers 5's class defaults: GPT-NeoX / Pythia, Phi-1.5 / Phi-2, Falcon (7B's multi-query layout and 40B /
180B's "new decoder architecture"), Command R and Command R7B / A (Cohere, Cohere2), StableLM, StarCoder2 and
Phi-3.5-MoE. Most run attention and the MLP side by side from one or two norms (``LM.parallel``) and rotate part
of each head (``LM.rotary_dim``)."""

from __future__ import annotations

from .hfspec import _SILU, LM, MoE, _divides, _heads, _layer_windows, _Reader, _rotary, _top_k

_GELU = {"gelu": "gelu", "gelu_new": "gelu_new", "gelu_fast": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}
"""GELU's forms and ReLU, for the plain two-linear MLPs: erf and PyTorch's tanh form one fused GELU each, as ATen
runs them; ``gelu_new`` transformers' eager NewGELUActivation chain (:data:`.hfspec._GELU_MLP`). ``gelu_fast``
(FastGELUActivation, plain Python too) is still priced as one fused GELU, not its own eager chain."""


def _head_dim(r: _Reader, hidden: int, heads: int) -> int:
    """``hidden / heads`` (a class without its own ``head_dim``)."""
    _divides("num_attention_heads", heads, "hidden_size", hidden)
    return hidden // heads


def _gpt_neox(r: _Reader) -> LM:
    """GPT-NeoX and Pythia (GPTNeoXConfig's defaults: GPT-NeoX-20B's sizes): LayerNorms with biases, one fused
    ``query_key_value`` (biased with ``attention_bias``), RoPE on ``rotary_pct`` of each head, a biased GELU MLP
    (``dense_h_to_4h``, ``dense_4h_to_h``); with ``use_parallel_residual`` (the default) attention and MLP side by
    side, each from its own norm of the layer's input; an untied head (``embed_out`` in the checkpoints)."""
    hidden, heads = r.int("hidden_size", 6144), r.int("num_attention_heads", 64)
    head_dim = _head_dim(r, hidden, heads)
    r.rope_scaling()
    # θ; a classification head's dropout; BERT's dropout names, in GPT-NeoX-20B's config as public copies quote it,
    # which GPTNeoXConfig does not take (its modules read attention_dropout and hidden_dropout; probe p240 #1)
    r.read.update(("rotary_emb_base", "classifier_dropout", "is_decoder", "attention_probs_dropout_prob",
                   "hidden_dropout_prob"))
    bias = r.bool("attention_bias", True)
    dropout = r.prob("hidden_dropout", 0.0)  # after the embeddings and on each branch's output
    return LM(r.arch, vocab=r.int("vocab_size", 50432), hidden=hidden, layers=r.int("num_hidden_layers", 44),
              heads=heads, kv_heads=heads, head_dim=head_dim, ffn=r.int("intermediate_size", 24576),
              eps=r.float("layer_norm_eps", 1e-5), norm="layernorm", act=r.choice("hidden_act", "gelu", _GELU),
              gated=False, bias=(bias,) * 4, mlp_bias=True, fused_qkv=True, tied=r.bool("tie_word_embeddings", False),
              rotary_dim=_rotary(r, head_dim, 0.25, "rotary_pct"),
              parallel="separate" if r.bool("use_parallel_residual", True) else "", style="neox",
              attn_dropout=r.prob("attention_dropout", 0.0), resid_dropout=dropout, embd_dropout=dropout)


def _phi(r: _Reader) -> LM:
    """Phi-1, Phi-1.5 and Phi-2 (PhiConfig's defaults: Phi-1.5's sizes): one LayerNorm feeding attention and the
    MLP side by side, biased q / k / v / ``dense`` projections, RoPE on ``partial_rotary_factor`` of each head (0.5
    by default; Phi-2 0.4), an optional LayerNorm of q and k shared by the heads (``qk_layernorm``), a biased GELU
    MLP (``fc1``, ``fc2``), ``final_layernorm`` and an lm_head with a bias."""
    hidden = r.int("hidden_size", 2048)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 0))
    r.rope_scaling()
    qk = r.bool("qk_layernorm", False)
    if qk and head_dim != hidden // heads:
        raise ValueError(f"head_dim: {head_dim} with qk_layernorm (Phi's q/k LayerNorms are hidden_size / heads = "
                         f"{hidden // heads} wide)")
    return LM(r.arch, vocab=r.int("vocab_size", 51200), hidden=hidden, layers=r.int("num_hidden_layers", 24),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 8192),
              eps=r.float("layer_norm_eps", 1e-5), norm="layernorm", act=r.choice("hidden_act", "gelu_new", _GELU),
              gated=False, bias=(True,) * 4, mlp_bias=True, tied=r.bool("tie_word_embeddings", False),
              head_bias=True, rotary_dim=_rotary(r, head_dim, 0.5), parallel="shared", qk_norm=qk,
              qk_norm_style="shared_layernorm", style="phi", attn_dropout=r.prob("attention_dropout", 0.0),
              resid_dropout=r.prob("resid_pdrop", 0.0), embd_dropout=r.prob("embd_pdrop", 0.0))


def _falcon(r: _Reader) -> LM:
    """Falcon (FalconConfig's defaults: Falcon-7B): one fused ``query_key_value``, ``dense``, a GELU MLP of
    ``ffn_hidden_size`` (4 × hidden by default), LayerNorms with biases, full RoPE, a tied head. Falcon-7B's layout
    (``multi_query``: one KV head; ``parallel_attn``: attention and MLP side by side from ``input_layernorm``) or
    the "new decoder architecture" of Falcon-40B / 180B (``num_kv_heads`` KV heads; the two branches from
    ``ln_attn`` and ``ln_mlp``, or from one ``input_layernorm`` with ``num_ln_in_parallel_attn`` 1, Falcon2-11B).
    Side by side, the branches' partial sums are all-reduced once under tensor parallelism (vLLM's FalconDecoderLayer).
    ALiBi (Falcon-RW) is refused."""
    hidden, heads = r.int("hidden_size", 4544), r.int("num_attention_heads", 71)
    head_dim = _head_dim(r, hidden, heads)
    r.rope_scaling()
    r.require("alibi", False, "ALiBi position biases (Falcon-RW) are not built")
    # left in the published configs from the RW code (tiiuae/falcon-7b: false); FalconConfig has no such field and
    # transformers' FalconDecoderLayer always adds the layer's input as the residual
    r.require("apply_residual_connection_post_layernorm", False, "a residual taken after the input LayerNorm, as "
              "the RW code's, is not built: transformers' FalconDecoderLayer adds the layer's input")
    new, parallel = r.bool("new_decoder_architecture", False), r.bool("parallel_attn", True)
    multi_query, kv = r.bool("multi_query", True), r.opt_int("num_kv_heads") or heads
    if new and not parallel:
        raise ValueError("parallel_attn: false with new_decoder_architecture is not supported (transformers' "
                         "FalconDecoderLayer has no such layer)")
    kv_heads = kv if new else (1 if multi_query else heads)
    _divides("num_kv_heads", kv_heads, "num_attention_heads", heads)
    norms = r._get("num_ln_in_parallel_attn", None)
    if norms not in (None, 1, 2):
        raise ValueError(f"num_ln_in_parallel_attn: expected 1, 2 or null (got {norms!r})")
    two = new and norms != 1  # transformers sets 2 for the new architecture when it is null
    bias = r.bool("bias", False)
    dropout = r.prob("hidden_dropout", 0.0)
    return LM(r.arch, vocab=r.int("vocab_size", 65024), hidden=hidden, layers=r.int("num_hidden_layers", 32),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.opt_int("ffn_hidden_size") or 4 * hidden,
              eps=r.float("layer_norm_epsilon", 1e-5), norm="layernorm", act=r.choice("activation", "gelu", _GELU),
              gated=False, bias=(bias,) * 4, mlp_bias=bias, fused_qkv=True, tied=r.bool("tie_word_embeddings", True),
              parallel=("separate" if two else "shared") if parallel else "", shared_reduce=parallel,
              style="falcon2" if two else "falcon", attn_dropout=r.prob("attention_dropout", 0.0),
              resid_dropout=dropout)


def _cohere(r: _Reader) -> LM:
    """Command R / R+ (CohereForCausalLM) and Command R7B / A (Cohere2ForCausalLM); CohereConfig's defaults: Command
    R's sizes. One LayerNorm without bias feeds attention and the SwiGLU MLP side by side; the head is tied and its
    logits × ``logit_scale`` (one elementwise pass). Cohere: optional QK-norm (``use_qk_norm``, Command R+: a
    LayerNorm per head). Cohere2: three sliding-window layers with RoPE to each global layer without RoPE
    (``sliding_window_pattern`` or ``layer_types``). RoPE rotates interleaved pairs (the same work)."""
    hidden = r.int("hidden_size", 8192)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (64, 0))
    layers = r.int("num_hidden_layers", 40)
    r.rope_scaling()
    r.float("logit_scale", 0.0625)
    bias = r.bool("attention_bias", False)
    windows: tuple[int, ...] = ()
    qk = False
    if r.arch == "Cohere2ForCausalLM":
        pattern = r.int("sliding_window_pattern", 4)
        windows = _layer_windows(r, layers, r.window(4096), lambda i: (i + 1) % pattern == 0)
        _cohere2_original(r, pattern)
    else:
        qk = r.bool("use_qk_norm", False)
    return LM(r.arch, vocab=r.int("vocab_size", 256000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 22528),
              eps=r.float("layer_norm_eps", 1e-5), norm="layernorm", norm_bias=False,
              act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", True),
              windows=windows, nope_layers=frozenset(i for i, w in enumerate(windows) if not w), parallel="shared",
              qk_norm=qk, qk_norm_style="cohere", logits_scale=True, attn_dropout=r.prob("attention_dropout", 0.0))


def _cohere2_original(r: _Reader, pattern: int) -> None:
    """The fields of the original Cohere2 release's config.json (c4ai-command-r7b-12-2024 as first published) that
    Cohere2Config does not define (it keeps them as attributes through ``**kwargs``; Cohere2 modeling never reads
    them): each accepted at the value that is the model built, refused at another (probe p219 #1)."""
    r.require("layer_switch", pattern, "the global layer's period is sliding_window_pattern")
    r.require("order_of_interleaved_layers", "local_attn_first", "each period's sliding-window layers come first, "
              "its global layer last")
    r.require("position_embedding_type", "rope_gptj", "Cohere2 rotates interleaved pairs (GPT-J style RoPE)")
    r.require("rotary_pct", 1.0, "RoPE rotates the whole head")
    r.require("use_gated_activation", True, "the MLP is gated (SwiGLU)")
    r.require("use_parallel_block", True, "attention and the MLP run side by side from one LayerNorm")
    r.require("use_embedding_sharing", r.bool("tie_word_embeddings", True), "the original name of "
              "tie_word_embeddings: the two must agree")
    r.bool("use_parallel_embedding", True)  # a vocabulary-parallel embedding: how the one table is sharded


def _stablelm(r: _Reader) -> LM:
    """StableLM-3B-4E1T and StableLM 2 (StableLmConfig's defaults: StableLM-3B-4E1T): LayerNorms with biases,
    q / k / v biases with ``use_qkv_bias`` (o_proj none), RoPE on ``partial_rotary_factor`` (0.25) of each head,
    a LayerNorm per head of q and k with ``qk_layernorm``, a SwiGLU MLP; one after the other, or with
    ``use_parallel_residual`` side by side from ``input_layernorm`` (StableLM 2 12B); ``hidden_dropout`` on the MLP
    output only."""
    hidden, heads = r.int("hidden_size", 2560), r.int("num_attention_heads", 32)
    head_dim = _head_dim(r, hidden, heads)
    kv_heads = r.int("num_key_value_heads", 32)
    _divides("num_key_value_heads", kv_heads, "num_attention_heads", heads)
    r.rope_scaling()
    qkv = r.bool("use_qkv_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 50304), hidden=hidden, layers=r.int("num_hidden_layers", 32),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 6912),
              eps=r.float("layer_norm_eps", 1e-5), norm="layernorm", act=r.choice("hidden_act", "silu", _SILU),
              bias=(qkv, qkv, qkv, False), tied=r.bool("tie_word_embeddings", False),
              rotary_dim=_rotary(r, head_dim, 0.25), parallel="shared" if r.bool("use_parallel_residual", False) else "",
              qk_norm=r.bool("qk_layernorm", False), qk_norm_style="per_head",
              attn_dropout=r.prob("attention_dropout", 0.0), resid_dropout=r.prob("hidden_dropout", 0.0),
              attn_resid_dropout=False)


def _starcoder2(r: _Reader) -> LM:
    """StarCoder2 (Starcoder2Config's defaults: starcoder2-3b's sizes but the vocabulary): GQA attention and a GELU
    MLP (``c_fc``, ``c_proj``), both biased with ``use_bias``; LayerNorms with biases; one sliding window for every
    layer (``sliding_window``); a tied head by default."""
    hidden = r.int("hidden_size", 3072)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (24, 2))
    layers = r.int("num_hidden_layers", 30)
    r.rope_scaling()
    bias = r.bool("use_bias", True)
    window = r.opt_int("sliding_window")
    # the published checkpoints' fields of the original StarCoder2 code: its only MLP and norm, as built here, and an
    # RMSNorm epsilon the LayerNorms never read
    r.require("mlp_type", "default", "StarCoder2's MLP is c_fc → GELU → c_proj")
    r.require("norm_type", "layer_norm", "StarCoder2's norms are LayerNorms")
    r.float("rms_norm_eps", 1e-5)
    return LM(r.arch, vocab=r.int("vocab_size", 49152), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 12288),
              eps=r.float("norm_epsilon", 1e-5), norm="layernorm",
              act=r.choice("hidden_act", "gelu_pytorch_tanh", _GELU), gated=False, bias=(bias,) * 4, mlp_bias=bias,
              tied=r.bool("tie_word_embeddings", True), windows=(window,) * layers if window else (),
              style="starcoder2", attn_dropout=r.prob("attention_dropout", 0.0),
              resid_dropout=r.prob("residual_dropout", 0.0), embd_dropout=r.prob("embedding_dropout", 0.0))


def _phimoe(r: _Reader) -> LM:
    """Phi-3.5-MoE (transformers' PhimoeForCausalLM, the checkpoint's remote-code PhiMoEForCausalLM; PhimoeConfig's
    defaults: its sizes): LayerNorms with biases, GQA attention (biased with ``attention_bias``), a sliding window
    on every layer (``sliding_window``), ``num_local_experts`` SwiGLU experts in every layer (``block_sparse_moe``:
    ``gate``, ``experts.{i}.w1 / w3 / w2`` as the checkpoint names them; the sparsemixer picks
    ``num_experts_per_tok`` = 2, priced as any router's top-k), an lm_head biased with ``lm_head_bias``."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 8))
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    r.read.update(("router_jitter_noise", "input_jitter_noise"))  # training-time noise on the routing
    experts = r.int("num_local_experts", 16)
    top_k = _top_k(r, experts, 2, experts_key="num_local_experts")
    if top_k != 2:
        raise ValueError(f"num_experts_per_tok: {top_k} is not supported (PhiMoE's sparsemixer always picks 2)")
    ffn = r.int("intermediate_size", 6400)
    moe = MoE(experts, top_k, ffn, sparse_layers=frozenset(range(layers)))
    window = r.opt_int("sliding_window")
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 32064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5), norm="layernorm",
              act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", False),
              head_bias=r.bool("lm_head_bias", False), windows=(window,) * layers if window else (), moe=moe,
              attn_dropout=r.prob("attention_dropout", 0.0))


LAYERNORM_READERS = {
    "GPTNeoXForCausalLM": _gpt_neox,
    "PhiForCausalLM": _phi,
    "FalconForCausalLM": _falcon,
    "CohereForCausalLM": _cohere,
    "Cohere2ForCausalLM": _cohere,
    "StableLmForCausalLM": _stablelm,
    "Starcoder2ForCausalLM": _starcoder2,
    "PhimoeForCausalLM": _phimoe,
    "PhiMoEForCausalLM": _phimoe,
}
"""The LayerNorm families' architectures and their readers."""

__all__ = ["LAYERNORM_READERS"]
