"""Readers of Llama-shaped language models' Hugging Face configs (registered in :data:`.hfconfig.READERS`), with
transformers 5's class defaults: Gemma, OLMo 2, OLMo 3 and OLMoE, Granite 3 and Granite 3 MoE, SmolLM3 and
MiniMax-M2. RMSNorm, RoPE, a SwiGLU or GeGLU MLP or experts; what sets each apart is a flag of :class:`LM`."""

from __future__ import annotations

from .hfspec import _GELU_TANH, _SILU, LM, MoE, _heads, _layer_windows, _Reader, _rotary

_MOE_NAMES = {"router_names": ("mlp", "gate"), "expert_names": ("gate_proj", "up_proj", "down_proj")}
"""Qwen2-MoE's module names (OLMoE's checkpoints: ``mlp.gate``, ``mlp.experts.{i}.gate_proj`` ...)."""


def _gemma(r: _Reader) -> LM:
    """Gemma (GemmaConfig's defaults: Gemma 7B): embeddings × √hidden, RMSNorm (1 + w), GQA attention with
    ``head_dim`` 256, a GeGLU MLP (``hidden_act``; "gelu" is read as the tanh form, as transformers does), a tied
    head."""
    hidden = r.int("hidden_size", 3072)
    heads, kv_heads, head_dim = _heads(r, hidden, 256, (16, 16))
    r.rope_scaling()
    act = r.choice("hidden_act", "gelu_pytorch_tanh", _GELU_TANH)
    if r._get("hidden_activation", None) is not None:  # transformers 4's field (unused by its GemmaMLP)
        r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_TANH)
    r.require("use_bidirectional_attention", None, "a causal decoder is built")
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 256000), hidden=hidden, layers=r.int("num_hidden_layers", 28),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 24576),
              eps=r.float("rms_norm_eps", 1e-6), act=act, bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", True),
              embed_scale=True, attn_dropout=r.prob("attention_dropout", 0.0))


def _olmo(r: _Reader) -> LM:
    """OLMo 2 and OLMo 3 (Olmo2Config's / Olmo3Config's defaults: OLMo-2-7B's sizes with a 50,304-token vocabulary)
    and OLMoE (OlmoeConfig's: OLMoE-1B-7B's sizes). OLMo 2 / 3: no norm before a sublayer, an RMSNorm on its output
    before the residual add (``post_attention_layernorm``, ``post_feedforward_layernorm``), the QK-norm an RMSNorm
    over each whole q and k projection; OLMo 3: three sliding-window layers (``sliding_window``) to each full one
    (``layer_types``). OLMoE: pre-norm layers with that QK-norm and ``num_experts`` SwiGLU experts (top
    ``num_experts_per_tok``, softmax router ``mlp.gate``) in every layer; ``clip_qkv`` is refused."""
    olmoe = r.arch == "OlmoeForCausalLM"
    hidden = r.int("hidden_size", 2048 if olmoe else 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (16, 0) if olmoe else (32, 0))
    layers = r.int("num_hidden_layers", 16 if olmoe else 32)
    r.rope_scaling()
    bias = r.bool("attention_bias", False)
    ffn = r.int("intermediate_size", 2048 if olmoe else 11008)
    windows: tuple[int, ...] = ()
    moe = None
    if olmoe:
        if heads * head_dim != hidden:
            raise ValueError(f"head_dim: {head_dim} × {heads} heads must be hidden_size ({hidden}): OLMoE's q_norm "
                             f"is hidden_size wide")
        r.require("clip_qkv", None, "clamping q, k and v is not modelled")
        r.bool("norm_topk_prob", False)  # renormalising the k weights (2k FLOPs a token): not counted
        experts = r.int("num_experts", r.int("num_local_experts", 64))
        moe = MoE(experts, r.int("num_experts_per_tok", 8), ffn, sparse_layers=frozenset(range(layers)),
                  **_MOE_NAMES)
    elif r.arch == "Olmo3ForCausalLM":
        windows = _layer_windows(r, layers, r.int("sliding_window", 4096), lambda i: (i + 1) % 4 == 0)
    return LM(r.arch, vocab=r.int("vocab_size", 50304), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", False),
              windows=windows, qk_norm=True, qk_norm_style="projection", post_norms=not olmoe, moe=moe,
              attn_dropout=r.prob("attention_dropout", 0.0))


def _granite(r: _Reader) -> LM:
    """Granite 3 (GraniteForCausalLM) and Granite 3 MoE (GraniteMoeForCausalLM); GraniteConfig's defaults (Llama's
    sizes, multipliers 1): Llama's layer with embeddings × ``embedding_multiplier`` and logits ÷ ``logits_scaling``
    (one elementwise pass each, when not 1); the residual multiplier and the attention multiplier (the scores'
    scale) add no op, as for Granite 4.0-H. The MoE: ``num_local_experts`` SwiGLU experts (one fused input
    projection each, top ``num_experts_per_tok``) in every layer, router ``block_sparse_moe.router``."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 0))
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    r.read.update(("residual_multiplier", "attention_multiplier"))
    bias = r.bool("attention_bias", False)
    ffn = r.int("intermediate_size", 11008)
    moe, mlp_bias = None, False
    if r.arch == "GraniteMoeForCausalLM":
        moe = MoE(r.int("num_local_experts", 8), r.int("num_experts_per_tok", 2), ffn,
                  sparse_layers=frozenset(range(layers)), router_names=("block_sparse_moe", "router"),
                  expert_names=("gate_proj", "up_proj", "down_proj"), fused_gate_up=True)
    else:
        mlp_bias = r.bool("mlp_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 32000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4, mlp_bias=mlp_bias,
              tied=r.bool("tie_word_embeddings", False), moe=moe,
              embed_scale=r.float("embedding_multiplier", 1.0) != 1.0,
              logits_scale=r.float("logits_scaling", 1.0) != 1.0, attn_dropout=r.prob("attention_dropout", 0.0))


def _smollm3(r: _Reader) -> LM:
    """SmolLM3 (SmolLM3Config's defaults: SmolLM3-3B): Llama's layer without RoPE on every
    ``no_rope_layer_interval``-th layer (or where ``no_rope_layers`` holds 0), sliding windows (with
    ``use_sliding_window``) on those NoPE layers only, or as ``layer_types`` says; a tied head."""
    hidden = r.int("hidden_size", 2048)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (16, 4))
    layers = r.int("num_hidden_layers", 36)
    r.rope_scaling()
    r.read.update(("pretraining_tp", "max_window_layers"))
    flags = r._get("no_rope_layers", None)
    if flags is None:
        interval = r.int("no_rope_layer_interval", 4)
        flags = [int((i + 1) % interval != 0) for i in range(layers)]
    if not isinstance(flags, list) or len(flags) != layers or not set(flags) <= {0, 1}:
        raise ValueError(f"no_rope_layers: expected {layers} entries, each 1 (RoPE) or 0 (none) (got {flags!r})")
    window = r.opt_int("sliding_window")
    on = r.bool("use_sliding_window", False) and window > 0
    windows = _layer_windows(r, layers, window, lambda i: not (on and not flags[i]))
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 128256), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 11008),
              eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              mlp_bias=r.bool("mlp_bias", False), tied=r.bool("tie_word_embeddings", True),
              windows=windows if any(windows) else (), nope_layers=frozenset(i for i, f in enumerate(flags) if not f),
              attn_dropout=r.prob("attention_dropout", 0.0))


_MINIMAX_IGNORED = ("use_qk_norm", "qk_norm_type", "scoring_func", "use_routing_bias", "shared_intermediate_size",
                    "use_mtp", "num_mtp_modules", "mtp_transformer_layers", "attn_type_list", "router_jitter_noise")
"""MiniMax-M2 checkpoint fields transformers' MiniMaxM2Config does not read (its model always norms q and k over the
whole projections, routes with sigmoid scores plus a correction bias, has no shared expert and no MTP modules,
and runs full attention in every layer), and the training-time routing noise."""


def _minimax_m2(r: _Reader) -> LM:
    """MiniMax-M2 (MiniMaxM2Config's defaults: its sizes): GQA attention with ``head_dim`` 128, no biases, the
    QK-norm an RMSNorm over each whole q and k projection, RoPE on ``rotary_dim`` features of each head (the
    checkpoint's field; else ``partial_rotary_factor``), and ``num_local_experts`` SwiGLU experts in every layer
    (top ``num_experts_per_tok``; ``block_sparse_moe.gate``, ``experts.{i}.w1 / w3 / w2`` as the checkpoint names
    them; the sigmoid router's correction bias is a buffer, not a parameter)."""
    hidden = r.int("hidden_size", 3072)
    heads, kv_heads, head_dim = _heads(r, hidden, 128, (48, 8))
    layers = r.int("num_hidden_layers", 62)
    r.rope_scaling()
    r.read.update(_MINIMAX_IGNORED)
    if r._get("rotary_dim", None) is not None:
        rot = r.int("rotary_dim")
        if rot > head_dim or rot % 2:
            raise ValueError(f"rotary_dim: {rot} must be even and at most head_dim ({head_dim})")
        rotary = 0 if rot == head_dim else rot
    else:
        rotary = _rotary(r, head_dim, 1.0)
    ffn = r.int("intermediate_size", 1536)
    moe = MoE(r.int("num_local_experts", r.int("num_experts", 256)), r.int("num_experts_per_tok", 8), ffn,
              sparse_layers=frozenset(range(layers)))
    return LM(r.arch, vocab=r.int("vocab_size", 200064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe,
              qk_norm=True, qk_norm_style="projection", rotary_dim=rotary,
              attn_dropout=r.prob("attention_dropout", 0.0))


LLAMA_LIKE_READERS = {
    "GemmaForCausalLM": _gemma,
    "Olmo2ForCausalLM": _olmo,
    "Olmo3ForCausalLM": _olmo,
    "OlmoeForCausalLM": _olmo,
    "GraniteForCausalLM": _granite,
    "GraniteMoeForCausalLM": _granite,
    "SmolLM3ForCausalLM": _smollm3,
    "MiniMaxM2ForCausalLM": _minimax_m2,
}
"""The Llama-shaped families' architectures and their readers."""

__all__ = ["LLAMA_LIKE_READERS"]
