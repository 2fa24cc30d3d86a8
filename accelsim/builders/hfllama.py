"""Readers of Llama-shaped language models' Hugging Face configs (registered in :data:`.hfconfig.READERS`), with
transformers 5's class defaults: Gemma, OLMo 1, 2, 3 and OLMoE, Granite 3 and Granite 3 MoE, SmolLM3, MiniMax-M2,
GLM-4-0414, ERNIE 4.5 and its MoE, Seed-OSS, EXAONE 4.0, Apertus, Arcee (AFM), dots.llm1 and HunYuan dense. RMSNorm, RoPE, a SwiGLU or GeGLU MLP or experts; what sets each apart is a flag of :class:`LM`."""

from __future__ import annotations

from .hfspec import (
    _GELU_MLP,
    _GELU_TANH,
    _SILU,
    LM,
    MoE,
    _divides,
    _heads,
    _layer_windows,
    _Reader,
    _rotary,
    _rotary_dim,
    _rule,
    _top_k,
    _written,
)

_MOE_NAMES = {"router_names": ("mlp", "gate"), "expert_names": ("gate_proj", "up_proj", "down_proj")}
"""Qwen2-MoE's module names (OLMoE's checkpoints: ``mlp.gate``, ``mlp.experts.{i}.gate_proj`` ...)."""


def _gemma(r: _Reader) -> LM:
    """Gemma (GemmaConfig's defaults: Gemma 7B): embeddings × √hidden, RMSNorm (1 + w), GQA attention with
    ``head_dim`` 256, a GeGLU MLP (``hidden_act``; "gelu" is read as the tanh form, as transformers does), a tied
    head."""
    hidden = r.int("hidden_size", 3072)
    heads, kv_heads, head_dim = _heads(r, hidden, 256, (16, 16))
    r.rope_scaling()
    act = r.choice("hidden_act", "gelu_pytorch_tanh", _GELU_MLP)
    if r._get("hidden_activation", None) is not None:  # transformers 4's field (unused by its GemmaMLP)
        r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_TANH)
    r.require("use_bidirectional_attention", None, "a causal decoder is built")
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 256000), hidden=hidden, layers=r.int("num_hidden_layers", 28),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 24576),
              eps=r.float("rms_norm_eps", 1e-6), act=act, bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", True),
              embed_scale=True, attn_dropout=r.prob("attention_dropout", 0.0))


def _olmo1(r: _Reader) -> LM:
    """OLMo 1 (OlmoConfig's defaults: OLMo-7B's sizes): Llama's layer with LayerNorms that have no parameters,
    q, k and v clamped to ±``clip_qkv`` when it is set (OLMo-7B-0424), no biases; untied by default (OLMo-1B ties)."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 0))
    r.rope_scaling()
    bias = r.bool("attention_bias", False)
    clip = r.opt_float("clip_qkv", None) is not None
    return LM(r.arch, vocab=r.int("vocab_size", 50304), hidden=hidden, layers=r.int("num_hidden_layers", 32),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 11008), eps=1e-5,
              norm="layernorm", norm_weights=False, act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              tied=r.bool("tie_word_embeddings", False), clip_qkv=clip, attn_dropout=r.prob("attention_dropout", 0.0))


def _olmo(r: _Reader) -> LM:
    """OLMo 2 and OLMo 3 (Olmo2Config's / Olmo3Config's defaults: OLMo-2-7B's sizes with a 50,304-token vocabulary)
    and OLMoE (OlmoeConfig's: OLMoE-1B-7B's sizes). OLMo 2 / 3: no norm before a sublayer, an RMSNorm on its output
    before the residual add (``post_attention_layernorm``, ``post_feedforward_layernorm``), the QK-norm an RMSNorm
    over each whole q and k projection; OLMo 3: three sliding-window layers (``sliding_window``) to each full one
    (``layer_types``). OLMoE: pre-norm layers with that QK-norm and ``num_experts`` SwiGLU experts (top
    ``num_experts_per_tok``, softmax router ``mlp.gate``) in every layer; ``clip_qkv`` clamps q, k and v."""
    olmoe = r.arch == "OlmoeForCausalLM"
    hidden = r.int("hidden_size", 2048 if olmoe else 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (16, 0) if olmoe else (32, 0))
    layers = r.int("num_hidden_layers", 16 if olmoe else 32)
    r.rope_scaling()
    bias = r.bool("attention_bias", False)
    ffn = r.int("intermediate_size", 2048 if olmoe else 11008)
    windows: tuple[int, ...] = ()
    moe, clip = None, False
    if olmoe:
        if heads * head_dim != hidden:  # three keys: put at the one set last (hfspec._rule)
            raise _rule("head_dim × num_attention_heads = hidden_size",
                        {"head_dim": head_dim, "num_attention_heads": heads, "hidden_size": hidden},
                        {"head_dim": f"{head_dim} × {heads} heads must be hidden_size ({hidden}): OLMoE's q_norm is "
                                     f"hidden_size wide"})
        clip = r.opt_float("clip_qkv", None) is not None  # clamps after the QK-norm: the same work
        r.bool("norm_topk_prob", False)  # renormalising the k weights (2k FLOPs a token): not counted
        experts = r.int("num_experts", r.int("num_local_experts", 64))
        moe = MoE(experts, _top_k(r, experts, 8, experts_key=_written(r, "num_experts", "num_local_experts")), ffn,
                  sparse_layers=frozenset(range(layers)),
                  **_MOE_NAMES)
    elif r.arch == "Olmo3ForCausalLM":
        windows = _layer_windows(r, layers, r.window(4096), lambda i: (i + 1) % 4 == 0)
    return LM(r.arch, vocab=r.int("vocab_size", 50304), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4, tied=r.bool("tie_word_embeddings", False),
              windows=windows, qk_norm=True, qk_norm_style="projection", post_norms=not olmoe, moe=moe,
              clip_qkv=clip, attn_dropout=r.prob("attention_dropout", 0.0))


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
        experts = r.int("num_local_experts", 8)
        moe = MoE(experts, _top_k(r, experts, 2, experts_key="num_local_experts"), ffn,
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
    """SmolLM3 (SmolLM3Config's defaults: SmolLM3-3B): Llama's layer without RoPE where ``no_rope_layers`` holds 0,
    else on every ``no_rope_layer_interval``-th layer, sliding windows (with ``use_sliding_window``) on those NoPE
    layers only, or as ``layer_types`` says; a tied head. SmolLM3Config keeps both fields and save_pretrained
    writes both (the interval its default 4 beside any list), so with the list given the interval is read (an
    integer ≥ 1) and ignored, as transformers ignores it."""
    hidden = r.int("hidden_size", 2048)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (16, 4))
    layers = r.int("num_hidden_layers", 36)
    r.rope_scaling()
    r.read.update(("pretraining_tp", "max_window_layers"))
    interval = r.int("no_rope_layer_interval", 4)
    flags = r._get("no_rope_layers", None)
    if flags is None:
        flags = [int((i + 1) % interval != 0) for i in range(layers)]
    if (not isinstance(flags, list) or len(flags) != layers
            or not all(isinstance(f, int) and not isinstance(f, bool) and f in (0, 1) for f in flags)):
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
    rotary = _rotary_dim(r, head_dim)
    if rotary is None:
        rotary = _rotary(r, head_dim, 1.0)
    ffn = r.int("intermediate_size", 1536)
    experts = r.int("num_local_experts", r.int("num_experts", 256))
    moe = MoE(experts, _top_k(r, experts, 8, experts_key=_written(r, "num_local_experts", "num_experts")), ffn,
              sparse_layers=frozenset(range(layers)))
    return LM(r.arch, vocab=r.int("vocab_size", 200064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe,
              qk_norm=True, qk_norm_style="projection_tp", rotary_dim=rotary,
              attn_dropout=r.prob("attention_dropout", 0.0))


def _glm4(r: _Reader) -> LM:
    """GLM-4-0414 (Glm4Config's defaults: GLM-4-9B's sizes): GQA attention with q / k / v biases
    (``attention_bias``; o_proj none), RoPE on ``partial_rotary_factor`` (0.5) of each head, one fused
    ``gate_up_proj``, and four RMSNorms a layer: ``input_layernorm`` and ``post_self_attn_layernorm`` around the
    attention, ``post_attention_layernorm`` and ``post_mlp_layernorm`` around the MLP (Gemma's sandwich); untied."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 128, (32, 2))
    r.rope_scaling()
    bias = r.bool("attention_bias", True)
    return LM(r.arch, vocab=r.int("vocab_size", 151552), hidden=hidden, layers=r.int("num_hidden_layers", 40),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 13696),
              eps=r.float("rms_norm_eps", 1.5625e-07), act=r.choice("hidden_act", "silu", _SILU),
              bias=(bias, bias, bias, False), fused_gate_up=True, tied=r.bool("tie_word_embeddings", False),
              rotary_dim=_rotary(r, head_dim, 0.5), sandwich_norms=True, style="glm4",
              attn_dropout=r.prob("attention_dropout", 0.0))


def _ernie(r: _Reader) -> LM:
    """ERNIE 4.5 (Ernie4_5Config's defaults: ERNIE-4.5-0.3B) and ERNIE 4.5 MoE (Ernie4_5_MoeConfig's:
    ERNIE-4.5-21B-A3B): Llama's layer, every attention and MLP projection biased with ``use_bias`` (and then the head
    too), a tied head; the MoE: ``moe_num_experts`` SwiGLU experts (top ``moe_k``; the softmax router's correction
    bias is a parameter, counted as the router's bias) beside ``moe_num_shared_experts`` × ``moe_intermediate_size``
    of shared experts, on layers ``moe_layer_start_index`` … ``moe_layer_end_index`` every ``moe_layer_interval``-th
    (the others a SwiGLU MLP of ``intermediate_size``). The MTP layers are not built (transformers drops them)."""
    moe_arch = r.arch == "Ernie4_5_MoeForCausalLM"
    hidden = r.int("hidden_size", 2560 if moe_arch else 1024)
    heads, kv_heads, head_dim = _heads(r, hidden, 0 if moe_arch else 128, (20, 4) if moe_arch else (16, 2))
    layers = r.int("num_hidden_layers", 28 if moe_arch else 18)
    r.rope_scaling()
    bias = r.bool("use_bias", False)
    moe = None
    if moe_arch:
        if bias:
            raise ValueError("use_bias: true is not supported for ERNIE 4.5 MoE (the experts' biases are not built)")
        r.read.update(("moe_norm_min", "num_nextn_predict_layers", "num_mtp_layers"))
        start, end = r.int("moe_layer_start_index", 1, minimum=0), r._get("moe_layer_end_index", -1)
        if isinstance(end, bool) or not isinstance(end, int):
            raise ValueError(f"moe_layer_end_index: expected an integer (got {end!r})")
        end = layers - 1 if end == -1 else end
        step = r.int("moe_layer_interval", 1)
        ffn = r.int("moe_intermediate_size", 1536)
        experts = r.int("moe_num_experts", 64)
        moe = MoE(experts, _top_k(r, experts, 6, "moe_k", experts_key="moe_num_experts"), ffn,
                  shared_ffn=r.int("moe_num_shared_experts", 2, minimum=0) * ffn,
                  sparse_layers=frozenset(i for i in range(layers) if (i + 1) % step == 0 and start <= i <= end),
                  shared_gate=False, router_bias=True, **_MOE_NAMES)
    return LM(r.arch, vocab=r.int("vocab_size", 103424), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 12288 if moe_arch else 3072),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              mlp_bias=bias, head_bias=bias, tied=r.bool("tie_word_embeddings", True), moe=moe)


def _seed_oss(r: _Reader) -> LM:
    """Seed-OSS (SeedOssConfig's defaults, 4096 wide: Seed-OSS-36B's config gives 5120): Llama's layer with q / k / v
    biased by ``attention_bias`` (true) and o_proj by ``attention_out_bias``; dropouts in training only."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 128, (80, 8))
    r.rope_scaling()
    r.int("pretraining_tp", 1)
    qkv, out = r.bool("attention_bias", True), r.bool("attention_out_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 155136), hidden=hidden, layers=r.int("num_hidden_layers", 64),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 27648),
              eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU),
              bias=(qkv, qkv, qkv, out), mlp_bias=r.bool("mlp_bias", False),
              tied=r.bool("tie_word_embeddings", False), attn_dropout=r.prob("attention_dropout", 0.1),
              resid_dropout=r.prob("residual_dropout", 0.1))


def _exaone4(r: _Reader) -> LM:
    """EXAONE 4.0 (Exaone4Config's defaults): OLMo 2's norms after each sublayer (no norm before), per-head QK-norm
    (Qwen3's), ``layer_types`` of sliding (``sliding_window``) and full layers, else ``sliding_window_pattern``: a
    number n (every n-th layer full) or a string repeated from layer 0 (L local, G global); with a window set the
    full layers have no RoPE. No biases."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 32))
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    window = r.opt_int("sliding_window") if "sliding_window" in r.data else 4096
    pattern = r._get("sliding_window_pattern", 4)
    if isinstance(pattern, str) and pattern and set(pattern) <= {"L", "G"}:
        def full(i: int) -> bool:
            return pattern[i % len(pattern)] == "G"
    elif isinstance(pattern, int) and not isinstance(pattern, bool) and pattern >= 0:
        def full(i: int) -> bool:
            return not window or not pattern or (i + 1) % pattern == 0
    elif pattern is None:
        def full(i: int) -> bool:
            return True
    else:
        raise ValueError(f"sliding_window_pattern: expected a number or a string of L and G (got {pattern!r})")
    windows = _layer_windows(r, layers, window, full) if window or "layer_types" in r.data else ()
    nope = frozenset(i for i, w in enumerate(windows) if not w) if window else frozenset()
    return LM(r.arch, vocab=r.int("vocab_size", 102400), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 16384),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU),
              tied=r.bool("tie_word_embeddings", False), windows=windows if any(windows) else (), nope_layers=nope,
              qk_norm=True, post_norms=True, attn_dropout=r.prob("attention_dropout", 0.0))


def _apertus_arcee(r: _Reader) -> LM:
    """Apertus (ApertusConfig's defaults) and Arcee / AFM (ArceeConfig's): Llama's attention (all four projections
    biased with ``attention_bias``) and an ungated MLP ``up_proj`` → activation → ``down_proj``: Apertus's xIELU (two
    learned scalars ``act_fn.alpha_p`` / ``alpha_n``), its per-head QK-norm and norms ``attention_layernorm`` /
    ``feedforward_layernorm``; Arcee's ReLU². The Apertus checkpoints' ``qk_norm``, ``post_norm``, ``mlp_bias`` and
    ``hidden_dropout`` are not read by transformers (QK-norm always on, no MLP bias): accepted, no effect."""
    apertus = r.arch == "ApertusForCausalLM"
    hidden = r.int("hidden_size", 4096 if apertus else 2560)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 0))
    r.rope_scaling()
    bias = r.bool("attention_bias", False)
    if apertus:
        r.read.update(("qk_norm", "post_norm", "mlp_bias", "hidden_dropout"))
        act, mlp_bias = r.choice("hidden_act", "xielu", {"xielu": "xielu"}), False
    else:
        act, mlp_bias = r.choice("hidden_act", "relu2", {"relu2": "relu2"}), r.bool("mlp_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 131072 if apertus else 32000), hidden=hidden,
              layers=r.int("num_hidden_layers", 32), heads=heads, kv_heads=kv_heads, head_dim=head_dim,
              ffn=r.int("intermediate_size", 14336 if apertus else 18432), eps=r.float("rms_norm_eps", 1e-5),
              act=act, gated=False, bias=(bias,) * 4, mlp_bias=mlp_bias, tied=r.bool("tie_word_embeddings", False),
              qk_norm=apertus, style="apertus" if apertus else "up_down",
              attn_dropout=r.prob("attention_dropout", 0.0))


def _dots1(r: _Reader) -> LM:
    """dots.llm1 (Dots1Config; its defaults leave the experts unset, so a config must give them): per-head QK-norm,
    the first ``first_k_dense_replace`` layers a SwiGLU MLP and the rest DeepSeek-V3's block (``n_routed_experts``,
    top ``num_experts_per_tok`` by a sigmoid router whose correction bias is a buffer, ``n_shared_experts`` ×
    ``moe_intermediate_size`` of ungated shared experts); ``sliding_window`` on layers from ``max_window_layers`` on
    (transformers ignores ``use_sliding_window``)."""
    hidden = r.int("hidden_size", 4608)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 32))
    layers = r.int("num_hidden_layers", 62)
    r.rope_scaling()
    r.read.update(("n_group", "topk_group", "routed_scaling_factor", "use_sliding_window", "moe_layer_freq",
                   "scoring_func"))
    r.bool("norm_topk_prob", False)  # renormalising the k weights (2k FLOPs a token): not counted
    bias = r.bool("attention_bias", False)
    dense, ffn = r.int("first_k_dense_replace", 0, minimum=0), r.int("moe_intermediate_size", 1408)
    experts = r.int("n_routed_experts")
    moe = MoE(experts, _top_k(r, experts, experts_key="n_routed_experts"), ffn,
              shared_ffn=r.int("n_shared_experts", minimum=0) * ffn, sparse_layers=frozenset(range(dense, layers)),
              shared_gate=False, **_MOE_NAMES)
    window = r.opt_int("sliding_window") if "sliding_window" in r.data else 4096
    first = r.int("max_window_layers", 62, minimum=0)
    windows = _layer_windows(r, layers, window, lambda i: not window or i < first)
    return LM(r.arch, vocab=r.int("vocab_size", 152064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 10944),
              eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              tied=r.bool("tie_word_embeddings", False), windows=windows if any(windows) else (), qk_norm=True,
              moe=moe, attn_dropout=r.prob("attention_dropout", 0.0))


def _hunyuan(r: _Reader) -> LM:
    """HunYuan dense v1 (HunYuanDenseV1Config; ``head_dim`` has no default, so a config must give it): Llama's
    layer with a per-head RMSNorm of q and k (``query_layernorm`` / ``key_layernorm``; after RoPE in transformers,
    the same work); the checkpoints' ``use_qk_norm``, ``use_cla``, ``attention_head_dim``, ``org_vocab_size`` and
    ``mlp_bias`` and ``use_rotary_pos_emb`` are not read by transformers (QK-norm and RoPE always on, no cross-layer
    attention): accepted, no effect."""
    hidden = r.int("hidden_size", 4096)
    heads = r.int("num_attention_heads", 32)
    kv_heads = r.opt_int("num_key_value_heads") or heads
    _divides("num_key_value_heads", kv_heads, "num_attention_heads", heads)
    head_dim = r.int("head_dim")
    r.rope_scaling()
    r.read.update(("use_qk_norm", "use_cla", "attention_head_dim", "org_vocab_size", "mlp_bias", "eod_token_id",
                   "cla_share_factor", "use_rotary_pos_emb"))
    r.int("pretraining_tp", 1)
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 290943), hidden=hidden, layers=r.int("num_hidden_layers", 32),
              heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 11008),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              tied=r.bool("tie_word_embeddings", False), qk_norm=True, qk_norm_style="hunyuan",
              attn_dropout=r.prob("attention_dropout", 0.0))


LLAMA_LIKE_READERS = {
    "GemmaForCausalLM": _gemma,
    "OlmoForCausalLM": _olmo1,
    "Olmo2ForCausalLM": _olmo,
    "Olmo3ForCausalLM": _olmo,
    "OlmoeForCausalLM": _olmo,
    "GraniteForCausalLM": _granite,
    "GraniteMoeForCausalLM": _granite,
    "SmolLM3ForCausalLM": _smollm3,
    "MiniMaxM2ForCausalLM": _minimax_m2,
    "Glm4ForCausalLM": _glm4,
    "Ernie4_5ForCausalLM": _ernie,
    "Ernie4_5_MoeForCausalLM": _ernie,
    "SeedOssForCausalLM": _seed_oss,
    "Exaone4ForCausalLM": _exaone4,
    "ApertusForCausalLM": _apertus_arcee,
    "ArceeForCausalLM": _apertus_arcee,
    "Dots1ForCausalLM": _dots1,
    "HunYuanDenseV1ForCausalLM": _hunyuan,
}
"""The Llama-shaped families' architectures and their readers."""

__all__ = ["LLAMA_LIKE_READERS"]
