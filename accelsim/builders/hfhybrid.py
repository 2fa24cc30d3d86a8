"""Readers of hybrid language models' Hugging Face configs (registered in :data:`.hfconfig.READERS`): recurrent
mixers beside attention. Qwen3-Next (Gated DeltaNet), Nemotron-H (block patterns of Mamba-2, attention and MLPs),
Granite 4.0-H (Mamba-2 or attention with MoE), Kimi Linear (Kimi Delta Attention beside latent attention),
Falcon-H1 (attention and Mamba-2 side by side), MiniMax-Text-01 (lightning attention beside GQA attention), Jamba
(Mamba-1, attention and MoE) and the pure Mamba-1 / Mamba-2 LMs."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import KeyPairError
from ..units import TORCH_DTYPES, VLLM_MAMBA_DTYPES
from .hfspec import (
    _SILU,
    LM,
    MLA,
    LinearAttn,
    Mamba1,
    Mamba2,
    MoE,
    ShortConv,
    _conv_taps,
    _divides,
    _heads,
    _Reader,
    _rotary,
    _rotary_dim,
    _rule,
    _top_k,
    _written,
)


def _qwen3_next(r: _Reader) -> LM:
    """Qwen3-Next (transformers' Qwen3NextConfig defaults: Qwen3-Next-80B-A3B's sizes): three Gated DeltaNet layers
    (:class:`LinearAttn`) to each gated full-attention layer (``layer_types``, or every ``full_attention_interval``-th
    full: q_proj of twice the heads' width, the second half of each head a sigmoid gate on its output; QK-norm; RoPE
    on ``partial_rotary_factor`` of each head), and Qwen2-MoE's block in every layer (a
    softmax router over ``num_experts``, top ``num_experts_per_tok``, a sigmoid-gated shared expert); the
    RMSNorms' weights are zero-centred (1 + w: the same cost). The Gated DeltaNet state cache is in the model's dtype,
    as vLLM keeps it (``MambaStateDtypeCalculator.gated_delta_net_state_dtype`` with ``mamba_ssm_cache_dtype`` auto),
    or ``mamba_ssm_cache_dtype`` (vLLM's ``--mamba-ssm-cache-dtype``; ``float32``: transformers' / FLA's fp32 final
    state; probe p149 #1)."""
    hidden = r.int("hidden_size", 2048)
    heads, kv_heads, head_dim = _heads(r, hidden, 256, (16, 2))
    layers = r.int("num_hidden_layers", 48)
    r.rope_scaling()
    r.require("attention_bias", False, "Qwen3-Next's projections have no bias")
    rotary = _rotary(r, head_dim, 0.25)
    interval = r.int("full_attention_interval", 4)
    kinds = r._get("layer_types", None)
    if kinds is None:
        kinds = ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"linear_attention", "full_attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'linear_attention' or 'full_attention' "
                         f"(got {kinds!r})")
    linear = LinearAttn(r.int("linear_num_key_heads", 16), r.int("linear_num_value_heads", 32),
                        r.int("linear_key_head_dim", 128), r.int("linear_value_head_dim", 128),
                        _conv_taps(r, "linear_conv_kernel_dim", 4),
                        frozenset(i for i, k in enumerate(kinds) if k == "linear_attention"),
                        state_dtype=r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    _divides("linear_num_key_heads", linear.key_heads, "linear_num_value_heads", linear.value_heads)
    step = r.int("decoder_sparse_step", 1)
    dense = r.int_list("mlp_only_layers", layers)
    experts = r.int("num_experts", 512, minimum=0)
    sparse = frozenset(i for i in range(layers) if experts and i not in dense and (i + 1) % step == 0)
    r.bool("norm_topk_prob", True)  # renormalising the k weights (2k FLOPs a token): not counted
    moe = MoE(max(experts, 1), _top_k(r, experts, 10, experts_key="num_experts") if experts else r.int("num_experts_per_tok", 10),
              r.int("moe_intermediate_size", 512),
              shared_ffn=r.int("shared_expert_intermediate_size", 512, minimum=0), sparse_layers=sparse,
              router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"))
    return LM(r.arch, vocab=r.int("vocab_size", 151936), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 5632),
              eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU),
              tied=r.bool("tie_word_embeddings", False), qk_norm=True, moe=moe if sparse else None, linear=linear,
              attn_gate=True, attn_dropout=r.prob("attention_dropout", 0.0), rotary_dim=rotary)


def _mamba_groups(r: _Reader, key: str, default: int, heads: int, heads_key: str) -> int:
    """The Mamba-2 mixer's B / C groups ``key``, which must divide its ``heads`` (``heads_key``): each group's B and C
    serve heads / groups heads (transformers' Mamba2Mixer repeats them so; mamba_ssm asserts it)."""
    groups = r.int(key, default)
    if heads % groups:  # put at the key set last (a user's file over its base preset, a --set over both)
        at = KeyPairError.OTHER_AT
        raise KeyPairError({key: f"{groups} must divide {heads_key} ({heads}{at})",
                            heads_key: f"{heads} is not a multiple of {key} ({groups}{at})"})
    return groups


def _mamba_width(d_head: int, auto: bool, heads: int, width: int, width_name: str,
                 width_keys: Mapping[str, int]) -> None:
    """Mamba-2's ``mamba_n_heads`` heads of ``mamba_d_head`` channels (``auto``: the class's quotient width / heads)
    must make the mixer's ``width`` (``width_name``: "mamba_d_ssm", or "mamba_expand × hidden_size", set by
    ``width_keys``, key → value), as GraniteMoeHybridConfig and FalconH1Config refuse otherwise: a rule between
    those keys, put at the one set last (a ``--set mamba_n_heads=7`` over a preset's lines)."""
    if d_head * heads == width:
        return
    at = KeyPairError.OTHER_AT
    first = f"{d_head!r} × mamba_n_heads ({heads}) must be {width_name} ({width}{at})"
    values = {"mamba_d_head": d_head, "mamba_n_heads": heads, **width_keys}
    if auto:  # mamba_d_head 'auto' is the quotient: the heads must divide the width
        raise _rule(f"mamba_n_heads dividing {width_name}, {width} (mamba_d_head 'auto' is their quotient)",
                    values, {"mamba_d_head": first})
    raise _rule(f"mamba_d_head × mamba_n_heads = {width_name}: {d_head} × {heads} = {d_head * heads}, not {width}",
                values, {"mamba_d_head": first})


_NEMOTRON_H_PATTERN = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"
"""NemotronHConfig's default ``hybrid_override_pattern`` (Nemotron-H-8B's 52 blocks)."""
_NEMOTRON_H_BLOCKS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe", "mamba": "mamba",
                      "linear_attention": "mamba", "attention": "attention", "full_attention": "attention", "mlp": "mlp",
                      "moe": "moe"}
_NEMOTRON_H_IGNORED = (
    "time_step_min", "time_step_max", "time_step_floor", "time_step_limit", "time_step_rank", "rescale_prenorm_residual",
    "residual_in_fp32", "use_mamba_kernels", "num_logits_to_keep", "hidden_dropout", "expand", "attention_bias",
    "n_shared_experts", "moe_shared_expert_overlap", "routed_scaling_factor", "n_group", "topk_group",
    "num_nextn_predict_layers", "mtp_hybrid_override_pattern", "rope_theta", "partial_rotary_factor", "norm_eps")
"""Nemotron-H fields with no op of their own: dt's initialisation range and clamp, residual precision and
initialisation, kernel switches, ``expand`` (the mixer's width is heads × head_dim), ``attention_bias`` (the
attention projections have none whatever it says), the experts' count of shared ones and overlap flag (transformers
builds one shared MLP of ``moe_shared_expert_intermediate_size``), the router's scaling and group-limited top-k
(priced as any router's top-k), the multi-token-prediction layers (not built, as transformers), and the RoPE and
norm fields NVIDIA's configs carry but the model never reads (its attention has no positional encoding)."""
_STATE_DTYPES = {"auto": None, **{name: TORCH_DTYPES[name] for name in VLLM_MAMBA_DTYPES}}
"""``mamba_ssm_cache_dtype`` → the state's dtype (None: the model's): the values vLLM's ``MambaDType`` takes (probe
p162 #5: float8_e4m3fn was taken, a 1-byte state no vLLM release keeps). Read by every Mamba-2 model (Nemotron-H,
Granite 4.0-H, Falcon-H1, Mamba2ForCausalLM: vLLM's ``MambaStateDtypeCalculator.mamba2_state_dtype`` takes the
engine's ``mamba_ssm_cache_dtype`` for each, the conv state staying in the model's dtype; probe p181 #2) and by
Qwen3-Next's Gated DeltaNet; by every Mamba-1 model too (MambaForCausalLM, FalconMamba, Jamba: vLLM's
``MambaMixer.get_state_dtype`` and ``JambaForCausalLM.get_mamba_state_dtype_from_config`` return
``MambaStateDtypeCalculator.mamba1_state_dtype``, the same ``_mamba_state_dtype`` as Mamba-2's; probe p188 #3); not by
MiniMax (vLLM's ``linear_attention_state_dtype`` refuses an fp32 state)."""


def _nemotron_h(r: _Reader) -> LM:
    """Nemotron-H (transformers' NemotronHForCausalLM; NemotronHConfig's defaults: Nemotron-H-8B's sizes): every layer
    one block, x + mixer(RMSNorm(x)), its kind from ``hybrid_override_pattern`` (M Mamba-2, * attention, - MLP,
    E experts) or ``layers_block_type``: Mamba-2 mixers (:class:`Mamba2`), GQA attention without RoPE or biases,
    MLPs up_proj → ReLU² → down_proj, and (Nemotron 3) ``n_routed_experts`` such MLPs of ``moe_intermediate_size``
    (top ``num_experts_per_tok`` by a sigmoid router ``mixer.gate``; its correction bias is a buffer) beside one
    shared one of ``moe_shared_expert_intermediate_size`` (``mixer.shared_experts``); module names
    ``backbone.embeddings``, ``backbone.layers.N.norm`` / ``.mixer``, ``backbone.norm_f``; untied head.
    ``num_hidden_layers`` is the pattern's length (transformers derives it)."""
    key = "layers_block_type" if r.data.get("layers_block_type") is not None else "hybrid_override_pattern"
    written = r._get(key, None)
    pattern = _NEMOTRON_H_PATTERN if written is None else written
    kinds = list(pattern) if isinstance(pattern, str) else pattern
    layers = r.int("num_hidden_layers", len(kinds) if isinstance(kinds, list) else 52)
    if written is None and len(kinds) != layers:  # the default is NemotronHConfig's: the user wrote no pattern
        raise ValueError(f"hybrid_override_pattern: missing, and NemotronHConfig's default pattern (Nemotron-H-8B's, "
                         f"{len(kinds)} blocks) does not match num_hidden_layers ({layers}): give the pattern")
    if not isinstance(kinds, list) or len(kinds) != layers or any(k not in _NEMOTRON_H_BLOCKS for k in kinds):
        raise ValueError(f"{key}: expected {layers} blocks, each M (Mamba-2), * (attention), - "
                         f"(MLP) or E (experts) (got {written!r})")
    blocks = tuple(_NEMOTRON_H_BLOCKS[k] for k in kinds)
    r.require("moe_latent_size", None, "latent expert projections (Nemotron 3 Super) are not built")
    experts, shared = r.int("n_routed_experts", r.int("num_local_experts", 8)), r.int(
        "moe_shared_expert_intermediate_size", 7688, minimum=0)
    r.bool("norm_topk_prob", True)  # renormalising the k weights (2k FLOPs a token): not counted
    moe = MoE(experts, _top_k(r, experts, 2, experts_key=_written(r, "n_routed_experts", "num_local_experts")),
              r.int("moe_intermediate_size", 7688), shared_ffn=shared,
              sparse_layers=frozenset(i for i, k in enumerate(blocks) if k == "moe"), router_names=("mixer", "gate"),
              expert_names=("", "up_proj", "down_proj"), shared_gate=False, gated=False)
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads = r.int("num_attention_heads", 32), r.int("num_key_value_heads", 8)
    head_dim = r.int("head_dim", r.int("attention_head_dim", 128))  # transformers' name, NVIDIA's remote code's
    _divides("num_key_value_heads", kv_heads, "num_attention_heads", heads)
    eps = r.float("rms_norm_eps", 1e-5)  # both spellings occur (NVIDIA's configs write both, equal)
    eps = r.float("layer_norm_epsilon", eps)
    r.read.update(_NEMOTRON_H_IGNORED)
    r.choice("mamba_hidden_act", "silu", _SILU)
    r.choice("mlp_hidden_act", "relu2", {"relu2": "relu2"})
    for key in ("use_bias", "mamba_proj_bias", "mlp_bias"):
        r.require(key, False, "Nemotron-H's projections have no bias")
    r.require("sliding_window", None, "Nemotron-H's attention is global")
    mamba_heads = r.int("mamba_num_heads", 128)
    mamba = Mamba2(mamba_heads, r.int("mamba_head_dim", 64), r.int("ssm_state_size", 128),
                   _mamba_groups(r, "n_groups", 8, mamba_heads, "mamba_num_heads"), _conv_taps(r, "conv_kernel", 4), r.int("chunk_size", 128),
                   r.bool("use_conv_bias", True), frozenset(i for i, k in enumerate(blocks) if k == "mamba"),
                   r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    return LM(r.arch, vocab=r.int("vocab_size", 131072), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 21504),
              eps=eps, act="relu2", gated=False, tied=r.bool("tie_word_embeddings", False),
              rope=False, style="backbone", mamba=mamba, blocks=blocks, moe=moe if moe.sparse_layers else None,
              attn_dropout=r.prob("attention_dropout", 0.0))


_GRANITE_IGNORED = ("residual_multiplier", "attention_multiplier", "router_aux_loss_coef", "init_method",
                    "normalization_function")
"""Granite 4.0-H fields with no op of their own: the residual multiplier (folded into the projections before the
residual adds), the attention multiplier (the scores' scale, replacing 1/√d), the router's loss and
initialisation."""


def _granite_hybrid(r: _Reader) -> LM:
    """Granite 4.0-H (transformers' GraniteMoeHybridForCausalLM; GraniteMoeHybridConfig's defaults): each layer a
    mixer from ``layer_types`` (``mamba``: a Mamba-2 mixer, :class:`Mamba2`, in scope ``mamba``; ``attention``:
    GQA attention, RoPE only when ``position_embedding_type`` is "rope") and a MoE of ``num_local_experts`` SwiGLU
    experts (one fused input projection each; top ``num_experts_per_tok``) with an always-on, ungated SwiGLU
    ``shared_mlp`` of ``shared_intermediate_size`` (without experts, that MLP alone); embeddings × the
    ``embedding_multiplier`` and logits ÷ ``logits_scaling`` (one elementwise pass each). Names as transformers'
    but for the experts' fused tensors (per expert ``gate_up_proj`` / ``down_proj``) and the shared MLP, under the
    MoE block with gate, up and down projections."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden)
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    r.read.update(_GRANITE_IGNORED)
    kinds = r._get("layer_types", None) or ["mamba"] * layers
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"mamba", "attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'mamba' or 'attention' (got {kinds!r})")
    position = r.choice("position_embedding_type", None, {None: "nope", "nope": "nope", "rope": "rope"})
    mamba_heads = r.int("mamba_n_heads", 128)
    expand = r.int("mamba_expand", 2)
    inner = expand * hidden  # the mixer's width (GraniteMoeHybridConfig's mamba_intermediate)
    d_head = r.auto_int("mamba_d_head", lambda: inner // mamba_heads)
    _mamba_width(d_head, r.data.get("mamba_d_head", "auto") == "auto", mamba_heads, inner, "mamba_expand × hidden_size",
                 {"mamba_expand": expand, "hidden_size": hidden})  # as GraniteMoeHybridConfig refuses it
    r.require("mamba_proj_bias", False, "Granite's Mamba projections have no bias")
    mamba = Mamba2(mamba_heads, d_head, r.int("mamba_d_state", 256),
                   _mamba_groups(r, "mamba_n_groups", 1, mamba_heads, "mamba_n_heads"),
                   _conv_taps(r, "mamba_d_conv", 4), r.int("mamba_chunk_size", 256), r.bool("mamba_conv_bias", True),
                   frozenset(i for i, k in enumerate(kinds) if k == "mamba"),
                   r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    experts, shared = r.int("num_local_experts", 8, minimum=0), r.int("shared_intermediate_size", 1024)
    moe = None
    if experts:
        moe = MoE(experts, _top_k(r, experts, 2, experts_key="num_local_experts"), r.int("intermediate_size", 11008), shared_ffn=shared,
                  sparse_layers=frozenset(range(layers)), router_names=("block_sparse_moe", "router"),
                  expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False, fused_gate_up=True,
                  shared_name="shared_mlp")
    else:  # read by the config, unused without experts
        r.int("intermediate_size", 11008)
        r.int("num_experts_per_tok", 2, minimum=0)
    embed = r.float("embedding_multiplier", 1.0)
    logits = r.float("logits_scaling", 1.0)
    return LM(r.arch, vocab=r.int("vocab_size", 32000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=shared, eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), bias=(r.bool("attention_bias", False),) * 4,
              tied=r.bool("tie_word_embeddings", False), rope=position == "rope", moe=moe, mamba=mamba,
              embed_scale=embed != 1.0, logits_scale=logits != 1.0, mlp_name="shared_mlp",
              attn_dropout=r.prob("attention_dropout", 0.0))


_KIMI_IGNORED = ("head_dim", "num_key_value_heads", "moe_router_activation_func", "moe_renormalize",
                 "routed_scaling_factor", "use_grouped_topk", "num_expert_group", "topk_group",
                 "num_nextn_predict_layers")
"""Kimi Linear fields with no op of their own: ``head_dim`` and ``num_key_value_heads`` (left from another attention;
MLA's sizes are its own fields), the router's sigmoid scoring, renormalisation and scale, its (one-group) grouped
top-k, and the absent multi-token-prediction layers."""


def _kimi_linear(r: _Reader) -> LM:
    """Kimi Linear (moonshotai's modeling_kimi.py, KimiLinearForCausalLM): ``linear_attn_config`` lists the Kimi
    Delta Attention layers (``kda_layers``, 1-based) and the others (``full_attn_layers`` where given: the two lists
    name every layer once) are multi-head latent attention without RoPE
    (``mla_use_nope``: the rope part of q and k is carried, not rotated; :class:`MLA`); the first
    ``first_k_dense_replace`` layers a SwiGLU MLP, the rest ``num_experts`` experts (top
    ``num_experts_per_token``, sigmoid scores with a per-expert correction bias) plus ``num_shared_experts`` ungated
    ones (DeepSeek-V3's block); untied head. KDA (:class:`LinearAttn` kind "kda"): ``num_heads`` heads of
    ``head_dim``, short convs of ``short_conv_kernel_size``."""
    layers = r.int("num_hidden_layers", 27)
    cfg = r._get("linear_attn_config", None)
    if not isinstance(cfg, Mapping):
        raise ValueError(f"linear_attn_config: expected a mapping with kda_layers (got {cfg!r})")
    sub = _Reader(cfg, r.arch)
    try:
        every = frozenset(range(1, layers + 1))
        kda = sub.int_list("kda_layers")
        if not kda <= every:
            raise ValueError(f"kda_layers: expected 1-based layer numbers up to {layers} (got {sorted(kda)})")
        for key in ("kda_layers", "full_attn_layers"):  # each layer once: a repeated number is a typo
            listed = cfg.get(key) or []
            twice = sorted({v for v in listed if listed.count(v) > 1})
            if twice:
                raise ValueError(f"{key}: layers {twice} named more than once (each layer is listed once)")
        if "full_attn_layers" in cfg:  # the MLA layers: with kda_layers, every layer once
            full = sub.int_list("full_attn_layers")
            if not full <= every:
                raise ValueError(f"full_attn_layers: expected 1-based layer numbers up to {layers} (got "
                                 f"{sorted(full)})")
            if kda & full:
                raise ValueError(f"full_attn_layers: layers {sorted(kda & full)} are in kda_layers too (each layer "
                                 "is one or the other)")
            if kda | full != every:
                raise ValueError(f"full_attn_layers: layers {sorted(every - kda - full)} are in neither list "
                                 f"(kda_layers and full_attn_layers together name every layer, 1 … {layers})")
        heads, dim = sub.int("num_heads", 32), sub.int("head_dim", 128)
        linear = LinearAttn(heads, heads, dim, dim, _conv_taps(sub, "short_conv_kernel_size", 4),
                            frozenset(i - 1 for i in kda), kind="kda")
        sub.finish()
    except ValueError as e:
        raise ValueError(f"linear_attn_config.{e}") from None
    r.read.update(_KIMI_IGNORED)
    hidden, heads = r.int("hidden_size", 2304), r.int("num_attention_heads", 32)
    q_rank = r.opt_int("q_lora_rank")
    mla = MLA(q_rank, r.int("kv_lora_rank", 512), r.int("qk_nope_head_dim", 128), r.int("qk_rope_head_dim", 64),
              r.int("v_head_dim", 128), rope=not r.bool("mla_use_nope", True))
    r.rope_scaling()
    experts, dense, freq = r.int("num_experts", 256), r.int("first_k_dense_replace", 1, minimum=0), \
        r.int("moe_layer_freq", 1)
    ffn = r.int("moe_intermediate_size", 1024)
    moe = MoE(experts, _top_k(r, experts, 8, "num_experts_per_token", experts_key="num_experts"), ffn,
              shared_ffn=r.int("num_shared_experts", 1) * ffn,
              sparse_layers=frozenset(i for i in range(layers) if i >= dense and i % freq == 0),
              router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False,
              router_bias=True)
    return LM(r.arch, vocab=r.int("vocab_size", 163840), hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
              head_dim=mla.nope_dim + mla.rope_dim, ffn=r.int("intermediate_size", 9216),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU),
              tied=r.bool("tie_word_embeddings", False), moe=moe, mla=mla, linear=linear)


_FALCON_H1_IGNORED = (
    "key_multiplier", "attention_in_multiplier", "attention_out_multiplier", "ssm_in_multiplier",
    "ssm_out_multiplier", "mlp_multipliers", "ssm_multipliers", "time_step_min", "time_step_max", "time_step_limit",
    "time_step_floor", "num_logits_to_keep", "mamba_use_mlp", "attn_layer_indices", "mlp_expansion_factor",
    "mamba_expand", "mamba_norm_before_gate")
"""Falcon-H1 fields with no op counted: the μP multipliers inside a layer (scalar multiplies of its activations:
the keys, the two branches' inputs and outputs, the MLP's gate and output, the in_proj segments' ``mup_vector``; each
an elementwise pass, not priced), dt's initialisation and clamp, fields transformers reads for nothing
(``mamba_use_mlp``, ``attn_layer_indices``, ``mlp_expansion_factor``), ``mamba_expand`` (the width is
``mamba_d_ssm``) and where the norm sits relative to the gate (the same FLOPs)."""


def _falcon_h1(r: _Reader) -> LM:
    """Falcon-H1 (transformers' FalconH1ForCausalLM; FalconH1Config's defaults): every layer runs GQA attention (RoPE)
    and a Mamba-2 mixer of ``mamba_d_ssm`` channels side by side on the same normed input and adds their outputs,
    then a SwiGLU ``feed_forward`` after ``pre_ff_layernorm``; ``final_layernorm``; the embedding and LM-head
    multipliers as one elementwise pass each when ≠ 1."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden)
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    r.read.update(_FALCON_H1_IGNORED)
    mamba_heads = r.int("mamba_n_heads", 128)
    d_ssm = r.opt_int("mamba_d_ssm") if "mamba_d_ssm" in r.data else 1024
    width: tuple[str, dict[str, int]] = ("mamba_d_ssm", {"mamba_d_ssm": d_ssm})
    if not d_ssm:  # null: mamba_expand × hidden_size
        expand = r.int("mamba_expand", 2)
        d_ssm, width = expand * hidden, ("mamba_expand × hidden_size", {"mamba_expand": expand, "hidden_size": hidden})
    d_head = r.auto_int("mamba_d_head", lambda: d_ssm // mamba_heads)
    _mamba_width(d_head, r.data.get("mamba_d_head", "auto") == "auto", mamba_heads, d_ssm, *width)
    mamba = Mamba2(mamba_heads, d_head, r.int("mamba_d_state", 256),
                   _mamba_groups(r, "mamba_n_groups", 1, mamba_heads, "mamba_n_heads"),
                   _conv_taps(r, "mamba_d_conv", 4), r.int("mamba_chunk_size", 256), r.bool("mamba_conv_bias", True),
                   frozenset(), r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES),
                   in_bias=r.bool("mamba_proj_bias", False), out_bias=r.bool("projectors_bias", False),
                   norm=r.bool("mamba_rms_norm", False))
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 128000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 14336),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              mlp_bias=r.bool("mlp_bias", False), tied=r.bool("tie_word_embeddings", False), mamba=mamba,
              parallel_mamba=True, style="falcon_h1", mlp_name="feed_forward",
              embed_scale=r.float("embedding_multiplier", 1.0) != 1.0,
              logits_scale=r.float("lm_head_multiplier", 1.0) != 1.0, attn_dropout=r.prob("attention_dropout", 0.0))


_MAMBA_IGNORED = ("residual_in_fp32", "rescale_prenorm_residual", "time_step_scale", "time_step_min",
                  "time_step_max", "time_step_init_scheme", "time_step_floor", "time_step_limit", "use_mambapy",
                  "norm_before_gate")
"""Pure Mamba LM fields with no op of their own: residual precision, initialisation, dt's range and clamp, the
slow-path switch, where the gated norm sits (the same FLOPs)."""


def _mamba_ssm_fields(r: _Reader, layers: int, vocab: int) -> None:
    """The fields of the original mamba_ssm MambaConfig that the state-spaces/mamba-*-hf configs keep beside
    transformers' (MambaConfig takes them through ``**kwargs`` and its modeling never reads them): accepted at the
    value that is the model built, refused at another (probe p219 #1)."""
    r.require("n_layer", layers, "mamba_ssm's layer count: transformers builds num_hidden_layers layers")
    r.require("rms_norm", True, "MambaBlock's norms are MambaRMSNorms")
    r.bool("fused_add_norm", True)  # mamba_ssm's fused residual-add + norm kernel: the same ops either way
    pad = r.int("pad_vocab_size_multiple", 1)
    if vocab % pad:  # mamba_ssm pads the embedding up to a multiple; transformers builds vocab_size rows
        raise ValueError(f"pad_vocab_size_multiple: {pad} does not divide vocab_size {vocab} (mamba_ssm would pad "
                         f"the embedding to {-(-vocab // pad) * pad} rows, transformers builds {vocab}: give the "
                         f"padded vocab_size)")


def _mamba_lm(r: _Reader) -> LM:
    """A pure Mamba language model (transformers' MambaForCausalLM, Mamba-1, MambaConfig's defaults; or
    Mamba2ForCausalLM, Mamba2Config's defaults: Mamba-Codestral-7B's sizes; or FalconMambaForCausalLM, Mamba-1 with
    weightless RMSNorms of eps ``mixer_rms_eps`` on dt's input, B and C): every layer one block x +
    mixer(RMSNorm(x)) with the Mamba-1 (:class:`Mamba1`) or Mamba-2 (:class:`Mamba2`) mixer; ``backbone.*`` names;
    MambaConfig and FalconMambaConfig tie the head by default, Mamba2Config does not. A Mamba-1 config's
    ``intermediate_size`` is the mixer's width when given (falcon-mamba-7b: 8192 beside ``expand`` 16, as
    transformers reads it), else ``expand`` × hidden. Either mixer's SSM state cache is in the model's dtype or
    ``mamba_ssm_cache_dtype`` (:data:`_STATE_DTYPES`; the conv's taps in the model's dtype)."""
    two = r.arch == "Mamba2ForCausalLM"
    falcon = r.arch == "FalconMambaForCausalLM"
    hidden = r.int("hidden_size", 4096 if two else 768)
    layers = r.int("num_hidden_layers", 64 if two else 32)
    r.read.update(_MAMBA_IGNORED)
    r.choice("hidden_act", "silu", _SILU)
    inner = r.int("expand", 2) * hidden
    vocab = r.int("vocab_size", 32768 if two else 50280)
    if not two:
        _mamba_ssm_fields(r, layers, vocab)
    every = frozenset(range(layers))
    mamba = mamba1 = None
    if two:
        heads, head_dim = r.int("num_heads", 128), r.int("head_dim", 64)
        if heads * head_dim != inner:  # a rule between four keys: at the one set last
            raise _rule(f"num_heads × head_dim = expand × hidden_size: {heads} × {head_dim} = {heads * head_dim}, "
                        f"not {inner}", {"num_heads": heads, "head_dim": head_dim, "expand": inner // hidden,
                                          "hidden_size": hidden},
                        {"num_heads": f"{heads} heads of head_dim {head_dim} must make expand × hidden_size "
                                      f"({inner}{KeyPairError.OTHER_AT})"})
        r.read.add("time_step_rank")  # dt is one value a head in Mamba-2
        # Mamba2Config has no intermediate_size (Codestral's config.json gives 8192 beside expand 2 and hidden 4096):
        # transformers' Mamba2Mixer always takes expand × hidden_size, so only that value is the model built
        r.require("intermediate_size", inner, "Mamba2Mixer's width is expand × hidden_size")
        bias = r.bool("use_bias", False)
        mamba = Mamba2(heads, head_dim, r.int("state_size", 128), _mamba_groups(r, "n_groups", 8, heads, "num_heads"),
                       _conv_taps(r, "conv_kernel", 4), r.int("chunk_size", 256), r.bool("use_conv_bias", True), every,
                       r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES), in_bias=bias, out_bias=bias,
                       norm=r.bool("rms_norm", True))
    else:
        inner = r.int("intermediate_size", inner)
        rank = r.auto_int("time_step_rank", lambda: -(-hidden // 16))
        if falcon:
            r.read.update(("use_falcon_mambapy", "use_associative_scan"))  # slow-path switches
        mamba1 = Mamba1(inner, r.int("state_size", 16), rank, _conv_taps(r, "conv_kernel", 4), r.bool("use_conv_bias", True),
                        r.bool("use_bias", False), every, inner_norms=falcon, norm_weights=False,
                        norm_eps=r.float("mixer_rms_eps", 1e-6) if falcon else 1e-6,
                        state_dtype=r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    return LM(r.arch, vocab=vocab, hidden=hidden, layers=layers, heads=1,
              kv_heads=1, head_dim=hidden, ffn=0, eps=r.float("layer_norm_epsilon", 1e-5),
              tied=r.bool("tie_word_embeddings", not two), rope=False, style="backbone", mamba=mamba,
              mamba1=mamba1, blocks=("mamba",) * layers)


_JAMBA_IGNORED = ("num_logits_to_keep", "use_mamba_kernels", "router_aux_loss_coef")


def _jamba(r: _Reader) -> LM:
    """Jamba (transformers' JambaForCausalLM; JambaConfig's defaults: Jamba-v0.1's sizes): attention on layers
    i % ``attn_layer_period`` = ``attn_layer_offset`` (GQA, no positional encoding), Mamba-1 mixers elsewhere (with
    Jamba's RMSNorms on dt, B and C; :class:`Mamba1`), then a MoE of ``num_experts`` SwiGLU experts (top
    ``num_experts_per_tok``, ``feed_forward.router``) on layers i % ``expert_layer_period`` =
    ``expert_layer_offset`` and a SwiGLU ``feed_forward`` on the others; ``final_layernorm``; untied head. The Mamba
    layers' SSM state cache is in the model's dtype or ``mamba_ssm_cache_dtype`` (:data:`_STATE_DTYPES`)."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 8))
    layers = r.int("num_hidden_layers", 32)
    r.read.update(_JAMBA_IGNORED)
    r.require("sliding_window", None, "Jamba's attention is global")
    a_period, a_offset = r.int("attn_layer_period", 8), r.int("attn_layer_offset", 4, minimum=0)
    e_period, e_offset = r.int("expert_layer_period", 2), r.int("expert_layer_offset", 1, minimum=0)
    rank = r.auto_int("mamba_dt_rank", lambda: -(-hidden // 16))
    mamba = Mamba1(r.int("mamba_expand", 2) * hidden, r.int("mamba_d_state", 16), rank, _conv_taps(r, "mamba_d_conv", 4),
                   r.bool("mamba_conv_bias", True), r.bool("mamba_proj_bias", False),
                   frozenset(i for i in range(layers) if i % a_period != a_offset), inner_norms=True,
                   state_dtype=r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    ffn = r.int("intermediate_size", 14336)
    experts = r.int("num_experts", 16)
    sparse = frozenset(i for i in range(layers) if i % e_period == e_offset) if experts > 1 else frozenset()
    moe = MoE(experts, _top_k(r, experts, 2, experts_key="num_experts") if experts > 1 else r.int("num_experts_per_tok", 2), ffn,
              sparse_layers=sparse,
              router_names=("feed_forward", "router"), expert_names=("gate_proj", "up_proj", "down_proj"))
    return LM(r.arch, vocab=r.int("vocab_size", 65536), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU),
              tied=r.bool("tie_word_embeddings", False), rope=False, moe=moe if sparse else None, mamba1=mamba,
              style="jamba", mlp_name="feed_forward", attn_dropout=r.prob("attention_dropout", 0.0))


_LFM2_IGNORED = ("block_dim", "conv_dim", "conv_dim_out", "num_heads", "block_norm_eps", "use_pos_enc",
                 "block_mlp_init_scale", "block_out_init_scale", "block_use_swiglu", "block_use_xavier_init",
                 "conv_use_xavier_init", "theta", "use_cache")
"""LFM2 checkpoint fields transformers' Lfm2Config does not read (its own names for the sizes it reads)."""


def _lfm2(r: _Reader) -> LM:
    """LFM2 (transformers' Lfm2ForCausalLM; Lfm2Config's defaults): each layer a gated short convolution
    (:class:`ShortConv`, ``conv_L_cache`` taps, ``conv_bias``) or, on ``full_attn_idxs`` (or as ``layer_types``
    says; both: they must name the same layers; absent: every layer), GQA attention with a per-head RMSNorm of q and k (``q_layernorm`` / ``k_layernorm``)
    and ``out_proj``; then a SwiGLU ``feed_forward`` (w1, w3, w2) whose width is ``block_ff_dim`` (else
    ``intermediate_size``), with ``block_auto_adjust_ff_dim`` two thirds of it × ``block_ffn_dim_multiplier``
    rounded up to ``block_multiple_of``; norms ``operator_norm`` / ``ffn_norm`` / ``embedding_norm``; a tied head."""
    hidden = r.int("hidden_size", 2560)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 8))
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    r.read.update(_LFM2_IGNORED)
    kinds = r._get("layer_types", None)
    idxs = r.int_list("full_attn_idxs") if r._get("full_attn_idxs", None) is not None else None
    attn = frozenset(range(layers)) if idxs is None else idxs
    if not attn <= set(range(layers)):
        raise ValueError(f"full_attn_idxs: expected layer indices below num_hidden_layers ({layers}) "
                         f"(got {sorted(attn)})")
    if kinds is None:
        kinds = ["full_attention" if i in attn else "conv" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"conv", "full_attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'conv' or 'full_attention' (got {kinds!r})")
    listed = sorted(i for i, k in enumerate(kinds) if k == "full_attention")
    if idxs is not None and sorted(idxs) != listed:  # both given (LiquidAI's keys beside transformers'): one model
        at = KeyPairError.OTHER_AT
        raise KeyPairError({
            "full_attn_idxs": f"{sorted(idxs)} differs from the attention layers of layer_types ({listed}{at}); "
                              f"give one, or both naming the same layers",
            "layer_types": f"attention on layers {listed} differs from full_attn_idxs ({sorted(idxs)}{at}); give "
                           f"one, or both naming the same layers"})
    ffn = r.int("block_ff_dim", r.int("intermediate_size", 12288))
    if r.bool("block_auto_adjust_ff_dim", True):
        ffn = int(2 * ffn / 3)
        mult = r.opt_float("block_ffn_dim_multiplier", 1.0)
        if mult is not None:
            of = r.int("block_multiple_of", 256)
            ffn = of * -(-int(mult * ffn) // of)
    else:
        r.read.update(("block_ffn_dim_multiplier", "block_multiple_of"))
    bias = r.bool("conv_bias", False)
    conv = ShortConv(_conv_taps(r, "conv_L_cache", 3), bias, frozenset(i for i, k in enumerate(kinds) if k == "conv"))
    tied = r.bool("tie_word_embeddings", r.bool("tie_embedding", True))
    return LM(r.arch, vocab=r.int("vocab_size", 65536), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=ffn, eps=r.float("norm_eps", 1e-5), tied=tied, qk_norm=True,
              qk_norm_style="q_layernorm", short_conv=conv if conv.layers else None, mlp_name="feed_forward",
              style="lfm2")


_MINIMAX_FACTORS = ("full_attn_alpha_factor", "full_attn_beta_factor", "linear_attn_alpha_factor",
                    "linear_attn_beta_factor", "mlp_alpha_factor", "mlp_beta_factor")
"""MiniMax's residual weights: each residual add is α · residual + β · sublayer output, priced as the add (the two
scalar multiplies not counted)."""


def _minimax(r: _Reader) -> LM:
    """MiniMax-Text-01 / MiniMax-M1 (transformers' MiniMaxForCausalLM; MiniMaxConfig's defaults, which are
    Mixtral-7B-like sizes, not MiniMax-Text-01's): each layer's mixer from ``layer_types`` (or the checkpoint's
    ``attn_type_list``, 0 linear and 1 full; absent: transformers' default, full attention on even layers):
    ``linear_attention`` layers run lightning attention (:class:`LinearAttn` kind "lightning": ``qkv_proj``, SiLU, a
    fixed decay per head, blocks of ``block_size``, ``norm``, the sigmoid ``output_gate``, ``out_proj``; the
    attention's ``num_attention_heads`` heads of ``head_dim``), ``full_attention`` layers GQA attention with RoPE
    (on ``rotary_dim`` features of each head when given, as MiniMax's code and vLLM rotate; transformers rotates the
    whole head) and no biases; every layer a Mixtral-style MoE of ``num_local_experts`` SwiGLU experts of
    ``intermediate_size`` (top ``num_experts_per_tok``, softmax router ``mlp.gate``, each expert one
    ``gate_up_proj`` and a ``down_proj`` as transformers 5 stores them). The residual is the normed input (MiniMax's
    post-norm layer) weighted by the ``*_alpha_factor`` / ``*_beta_factor`` fields: the same ops as a pre-norm
    layer's, the weights not counted (:data:`_MINIMAX_FACTORS`)."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (32, 8))
    layers = r.int("num_hidden_layers", 32)
    r.rope_scaling()
    kinds = r._get("layer_types", None)
    if kinds is None and r._get("attn_type_list", None) is not None:
        flags = r._get("attn_type_list", None)
        if not isinstance(flags, list) or len(flags) != layers or not all(f in (0, 1) for f in flags):
            raise ValueError(f"attn_type_list: expected {layers} entries, each 0 (linear) or 1 (full) "
                             f"(got {flags!r})")
        kinds = ["full_attention" if f else "linear_attention" for f in flags]
    if kinds is None:
        kinds = ["full_attention" if (i + 1) % 2 else "linear_attention" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"linear_attention", "full_attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'linear_attention' or 'full_attention' "
                         f"(got {kinds!r})")
    linear = LinearAttn(heads, heads, head_dim, head_dim, 0,
                        frozenset(i for i, k in enumerate(kinds) if k == "linear_attention"),
                        chunk=r.int("block_size", 256), kind="lightning")
    rotary = _rotary_dim(r, head_dim) or 0
    for key in _MINIMAX_FACTORS:
        r.float(key, 1.0)
    window = r.opt_int("sliding_window")
    ffn = r.int("intermediate_size", 14336)
    experts = r.int("num_local_experts", r.int("num_experts", 8))
    moe = MoE(experts, _top_k(r, experts, 2, experts_key=_written(r, "num_local_experts", "num_experts")), ffn,
              sparse_layers=frozenset(range(layers)), router_names=("mlp", "gate"),
              expert_names=("gate_proj", "up_proj", "down_proj"), fused_gate_up=True)
    return LM(r.arch, vocab=r.int("vocab_size", 32000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe,
              linear=linear if linear.layers else None, rotary_dim=rotary,
              windows=(window,) * layers if window else (), attn_dropout=r.prob("attention_dropout", 0.0))


HYBRID_READERS = {
    "MiniMaxForCausalLM": _minimax,
    "Qwen3NextForCausalLM": _qwen3_next,
    "NemotronHForCausalLM": _nemotron_h,
    "GraniteMoeHybridForCausalLM": _granite_hybrid,
    "KimiLinearForCausalLM": _kimi_linear,
    "FalconH1ForCausalLM": _falcon_h1,
    "MambaForCausalLM": _mamba_lm,
    "Mamba2ForCausalLM": _mamba_lm,
    "FalconMambaForCausalLM": _mamba_lm,
    "JambaForCausalLM": _jamba,
    "Lfm2ForCausalLM": _lfm2,
}
"""The hybrid architectures and their readers."""

__all__ = ["HYBRID_READERS"]
