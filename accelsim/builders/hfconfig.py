"""Hugging Face ``config.json`` → :class:`LM`, the shape of a decoder-only language model that :mod:`.hf` builds.

Each supported ``architectures`` entry has a reader that takes the fields ``transformers`` reads for that class
(with its defaults) and refuses anything else: a field no reader knows, a value outside what the builder models
(an activation, a bias flag, a RoPE scaling type), or an unknown architecture is a ``ValueError`` naming the
field, never a silently different model. Fields with no effect on the op graph (token ids, initialiser ranges, RoPE
θ and scaling, also as transformers 5's ``rope_parameters``, the checkpoint's ``torch_dtype`` / ``dtype``, versions)
are accepted and ignored (:data:`COMMON_IGNORED`; a field of one family only, GPT-2's ``summary_*`` or OPT's
``layerdrop``, by that family's reader alone); the dropout rates a class's modeling code
applies are read (with its defaults: OPT's ``dropout`` 0.1, GPT-2's three ``*_pdrop`` 0.1, the others 0) and take
effect in training graphs only; the others are ignored.

Readers: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MixtralForCausalLM,
Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM, Phi3ForCausalLM (``transformers`` 4.4x ``configuration_*.py`` defaults), OPTForCausalLM,
GPT2LMHeadModel, Glm4MoeForCausalLM (GLM-4.5, 4.5-Air, 4.6), DeepseekV2ForCausalLM and DeepseekV3ForCausalLM (V3's defaults are DeepSeek-V3's sizes; a V2 config
gives its sizes), GptOssForCausalLM (gpt-oss-120b's sizes by default), Gemma3ForCausalLM (Gemma 3's text decoder) and
Gemma3ForConditionalGeneration (Gemma 3 4B-27B: ``text_config``, a SigLIP ``vision_config`` and the projector),
Llama4ForCausalLM and Llama4ForConditionalGeneration (Llama 4 Scout / Maverick; Scout's sizes by default),
Qwen3NextForCausalLM (Gated DeltaNet linear attention; Qwen3-Next-80B-A3B's sizes by default), NemotronHForCausalLM
(Mamba-2 hybrid; Nemotron-H-8B's sizes by default), GraniteMoeHybridForCausalLM (Granite 4.0-H), KimiLinearForCausalLM (Kimi Delta Attention and latent attention), FalconH1ForCausalLM (attention and Mamba-2
side by side in every layer), MiniMaxForCausalLM (MiniMax-Text-01: lightning attention), JambaForCausalLM,
MambaForCausalLM and Mamba2ForCausalLM (:mod:`.hfhybrid`);
GemmaForCausalLM, Olmo2ForCausalLM, Olmo3ForCausalLM, OlmoeForCausalLM, GraniteForCausalLM, GraniteMoeForCausalLM,
SmolLM3ForCausalLM and MiniMaxM2ForCausalLM (:mod:`.hfllama`); GPTNeoXForCausalLM, PhiForCausalLM, FalconForCausalLM,
CohereForCausalLM, Cohere2ForCausalLM, StableLmForCausalLM, Starcoder2ForCausalLM and PhimoeForCausalLM
(:mod:`.hflayernorm`); LlavaForConditionalGeneration (here), Qwen2_5_VLForConditionalGeneration,
Qwen3VLForConditionalGeneration and Qwen3VLMoeForConditionalGeneration (:mod:`.hfqwenvl`),
Mistral3ForConditionalGeneration and InternVLForConditionalGeneration (:mod:`.hfvlm`), Glm4vForConditionalGeneration
and Glm4vMoeForConditionalGeneration (GLM-4.1V, GLM-4.5V: :mod:`.hfglmv`); DeepseekV32ForCausalLM (here);
``accelsim list hf`` prints them all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import KeyPairError
from .hfglmv import GLM_VL_READERS
from .hfhybrid import HYBRID_READERS
from .hflayernorm import LAYERNORM_READERS
from .hfllama import LLAMA_LIKE_READERS
from .hfqwenvl import QWEN_VL_READERS
from .hfspec import (
    _GELU_MLP,
    _GELU_TANH,
    _SILU,
    COMMON_IGNORED,
    DSA,
    LM,
    MLA,
    FieldProblems,
    LinearAttn,
    Mamba2,
    MoE,
    Vision,
    _divides,
    _group_limited,
    _heads,
    _layer_windows,
    _nested,
    _Reader,
    _rotary,
    _rule,
    _tile,
    _top_k,
    close_match,
    load_config,
    quantization,
    unsupported,
)
from .hfvlm import VLM_READERS

_QWEN3 = frozenset({"Qwen3ForCausalLM", "Qwen3MoeForCausalLM"})

_LLAMA_LIKE_HEADS = {"LlamaForCausalLM": (32, 0), "MistralForCausalLM": (32, 8), "MixtralForCausalLM": (32, 8),
                     "Qwen2ForCausalLM": (32, 32), "Qwen3ForCausalLM": (32, 32), "Qwen2MoeForCausalLM": (16, 16),
                     "Qwen3MoeForCausalLM": (32, 4)}
"""Each class's default (num_attention_heads, num_key_value_heads) (0: the heads), from transformers'
configuration_*.py (LlamaConfig's num_key_value_heads defaults to None, the heads; MistralConfig's and
MixtralConfig's to 8, Qwen2Config's and Qwen3Config's to 32, Qwen2MoeConfig's to 16 of 16 heads, Qwen3MoeConfig's
to 4); each maps an explicit null to the heads."""


def _llama_like(r: _Reader, *, window_key: bool, qkv_bias: bool = False, tie: bool = False) -> dict[str, Any]:
    """The fields Llama, Mistral, Qwen2, Qwen3 and their MoE variants share."""
    hidden = r.int("hidden_size")
    qwen3 = r.arch in _QWEN3
    dense3 = r.arch == "Qwen3ForCausalLM"  # Qwen3Config's head_dim is 128; Qwen3MoeConfig's hidden / heads
    heads, kv_heads, head_dim = _heads(r, hidden, 128 if dense3 else 0, _LLAMA_LIKE_HEADS[r.arch], null_heads=True)
    layers = r.int("num_hidden_layers")
    bias = qkv_bias
    o_bias = r.arch == "LlamaForCausalLM" or qwen3  # attention_bias also biases o_proj
    if "attention_bias" in r.data or o_bias:
        bias = r.bool("attention_bias", False)
    out = dict(vocab=r.int("vocab_size"), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
               head_dim=head_dim, eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU),
               bias=(bias, bias, bias, bias and o_bias), tied=r.bool("tie_word_embeddings", tie), qk_norm=qwen3,
               attn_dropout=r.prob("attention_dropout", 0.0))
    if r.arch == "LlamaForCausalLM":
        out["mlp_bias"] = r.bool("mlp_bias", False)
        r.int("pretraining_tp", 1)
    r.rope_scaling()
    if window_key:
        out["windows"] = _windows(r, layers)
    return out


_LAYER_TYPED = frozenset({"Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen2MoeForCausalLM"})
"""The classes of :func:`_windows` whose config class declares ``layer_types`` (Qwen2Config, Qwen3Config,
Qwen2MoeConfig fill it in ``__post_init__``, each by its own rule, so transformers 5 writes it into every config it
saves; Qwen3MoeConfig and MistralConfig have no such field)."""


def _windows(r: _Reader, layers: int) -> tuple[int, ...]:
    """Each layer's sliding window (0: global). Qwen2 and Qwen3: only with ``use_sliding_window``, from layer
    ``max_window_layers`` on, or on the layers ``layer_types`` calls "sliding_attention" (the list wins, as in
    transformers, whose attention takes ``sliding_window`` on those layers, null without ``use_sliding_window``).
    Qwen2-MoE: with ``use_sliding_window``, on the even layers below ``max_window_layers`` (Qwen2MoeConfig's
    ``__post_init__`` fills ``layer_types`` "sliding_attention" where ``(i + 1) % 2`` and ``i < max_window_layers``,
    transformers' configuration_qwen2_moe.py; its ``sliding_window`` default 4096), or as ``layer_types`` says (probe
    p178 #6); Qwen3-MoE: every layer (``max_window_layers`` read, unused, as transformers does)."""
    window = r.opt_int("sliding_window")
    if r.arch == "MistralForCausalLM" and "sliding_window" not in r.data:
        window = 4096  # MistralConfig's default (MixtralConfig's is null)
    if not r.arch.startswith(("Qwen2", "Qwen3")):
        return (window,) * layers if window else ()
    first = r.int("max_window_layers", 28, minimum=0)
    on = r.bool("use_sliding_window", False)
    if r.arch == "Qwen2ForCausalLM":  # published Qwen2 / Qwen2.5 configs carry it; m-RoPE only picks each frequency's
        r.bool("use_mrope", False)  # position id (Qwen2-VL's), so either value builds the same ops
    if r.arch in _QWEN3:
        window = window if "sliding_window" in r.data else 4096  # Qwen3's default (Qwen2's is null)
        first = 0 if r.arch == "Qwen3MoeForCausalLM" else first
    if r.arch == "Qwen2MoeForCausalLM":
        window = window if "sliding_window" in r.data else 4096  # Qwen2MoeConfig's default
        return _layer_windows(r, layers, window if on else 0, lambda i: i % 2 == 1 or i >= first)
    if r.arch in _LAYER_TYPED:
        return _layer_windows(r, layers, window if on else 0, lambda i: i < first)
    return tuple(window if on and i >= first else 0 for i in range(layers))


def _llama(r: _Reader) -> LM:
    return LM(r.arch, ffn=r.int("intermediate_size"), **_llama_like(r, window_key=r.arch != "LlamaForCausalLM",
                                                                   qkv_bias=r.arch == "Qwen2ForCausalLM"))


def _mixtral(r: _Reader) -> LM:
    base = _llama_like(r, window_key=True)
    ffn = r.int("intermediate_size")
    experts = r.int("num_local_experts", 8)
    moe = MoE(experts, _top_k(r, experts, 2, experts_key="num_local_experts"), ffn,
              sparse_layers=frozenset(range(base["layers"])))
    return LM(r.arch, ffn=ffn, moe=moe, **base)


def _qwen_moe(r: _Reader) -> LM:
    """Qwen2-MoE (q/k/v biases, a sigmoid-gated shared expert) and Qwen3-MoE (Qwen3's attention, no shared
    expert); each class's defaults (Qwen1.5-MoE-A2.7B's and Qwen3-30B-A3B's sizes)."""
    qwen3 = r.arch == "Qwen3MoeForCausalLM"
    base = _llama_like(r, window_key=True, qkv_bias=not qwen3)
    experts = r.int("num_experts", 128 if qwen3 else 60)
    step = r.int("decoder_sparse_step", 1)
    dense = r.int_list("mlp_only_layers", base["layers"])
    sparse = frozenset(i for i in range(base["layers"]) if i not in dense and (i + 1) % step == 0)
    r.bool("norm_topk_prob", False)  # renormalising the k weights (2k FLOPs a token): not counted
    top_k, ffn = (8, 768) if qwen3 else (4, 1408)
    shared = 0 if qwen3 else r.int("shared_expert_intermediate_size", 5632, minimum=0)
    moe = MoE(experts, _top_k(r, experts, top_k, experts_key="num_experts"), r.int("moe_intermediate_size", ffn), shared_ffn=shared,
              sparse_layers=sparse, router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"))
    return LM(r.arch, ffn=r.int("intermediate_size", 6144 if qwen3 else 5632), moe=moe, **base)


def _gemma2(r: _Reader) -> LM:
    """Gemma 2: even layers local (``sliding_window``), odd global, or as ``layer_types`` says (Gemma2Config fills
    it with that pattern, so transformers 5 writes it into every config it saves)."""
    hidden = r.int("hidden_size")
    heads, kv_heads, head_dim = _heads(r, hidden, 256)
    layers = r.int("num_hidden_layers")
    r.rope_scaling()
    r.require("attention_bias", False, "Gemma-2's projections have no bias")
    act = r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_MLP)
    r.choice("hidden_act", "gelu_pytorch_tanh", _GELU_TANH)
    bidirectional = r._get("use_bidirectional_attention", None)  # Gemma2Config's default None: causal, as false
    if bidirectional is not None and bidirectional is not False:
        raise ValueError(f"use_bidirectional_attention: {bidirectional!r} is not supported (a causal decoder is "
                         f"built; expected null or false)")
    window = r.window(4096)
    # google/gemma-2-9b's published config.json (transformers 4.42) also writes the window as sliding_window_size,
    # a field Gemma2Config no longer reads: accepted when it is the same window
    alias = r.opt_int("sliding_window_size") if "sliding_window_size" in r.data else window
    if alias != window:  # a rule between two keys: at the one set last (a --set sliding_window over the preset)
        at, why = KeyPairError.OTHER_AT, "the same window under its older name (give one, or both equal)"
        raise KeyPairError({
            "sliding_window_size": f"{alias or None} differs from sliding_window ({window or None}{at}); it is {why}",
            "sliding_window": f"{window or None} differs from sliding_window_size ({alias or None}{at}), {why}"})
    return LM(r.arch, vocab=r.int("vocab_size"), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=r.int("intermediate_size"), eps=r.float("rms_norm_eps", 1e-6), act=act,
              tied=r.bool("tie_word_embeddings", True),
              windows=_layer_windows(r, layers, window, lambda i: i % 2 == 1),  # even layers local, odd global
              attn_softcap=r.opt_float("attn_logit_softcapping", 50.0),
              final_softcap=r.opt_float("final_logit_softcapping", 30.0), sandwich_norms=True, embed_scale=True,
              attn_dropout=r.prob("attention_dropout", 0.0))


def _gemma3(r: _Reader) -> LM:
    """Gemma 3's text decoder (transformers' Gemma3ForCausalLM, as gemma-3-1b is published; Gemma3TextConfig's
    defaults): Gemma-2's
    layer (embeddings × √hidden, four sandwich RMSNorms, GeGLU, tied head) with QK-norm (``q_norm`` / ``k_norm`` over
    head_dim) instead of soft-capping, and five local layers (``sliding_window``) to each global one: layer i is global
    when (i + 1) is a multiple of ``sliding_window_pattern``, or as ``layer_types`` says."""
    hidden = r.int("hidden_size", 2304)
    heads, kv_heads, head_dim = _heads(r, hidden, 256, (8, 4))
    layers = r.int("num_hidden_layers", 26)
    r.rope_scaling()
    r.require("attention_bias", False, "Gemma 3's projections have no bias")
    r.read.update(("query_pre_attn_scalar", "rope_local_base_freq"))  # a score scale; the local layers' RoPE θ
    act = r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_MLP)
    window = r.window(4096)
    pattern = r.int("sliding_window_pattern", r.int("_sliding_window_pattern", 6))  # the latter: transformers 5
    windows = _layer_windows(r, layers, window, lambda i: (i + 1) % pattern == 0)
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        r.require(key, None, "Gemma 3 does not soft-cap")
    r.require("use_bidirectional_attention", False, "a causal decoder is built (EmbeddingGemma's encoder is not)")
    return LM(r.arch, vocab=r.int("vocab_size", 262208), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 9216),
              eps=r.float("rms_norm_eps", 1e-6), act=act, tied=r.bool("tie_word_embeddings", True),
              windows=windows, sandwich_norms=True,
              embed_scale=True, qk_norm=True, attn_dropout=r.prob("attention_dropout", 0.0))


def _phi3(r: _Reader) -> LM:
    """Phi-3 / Phi-3.5-mini / Phi-4-mini (Phi3ForCausalLM): fused ``qkv_proj`` and ``gate_up_proj``, RoPE on
    ``partial_rotary_factor`` of each head (Phi-4-mini: 0.75)."""
    hidden = r.int("hidden_size")
    heads, kv_heads, head_dim = _heads(r, hidden)
    layers = r.int("num_hidden_layers")
    r.rope_scaling()
    rotary = _rotary(r, head_dim, 1.0)
    window = r.opt_int("sliding_window")
    r.require("attention_bias", False, "Phi3ForCausalLM's qkv_proj and o_proj have no bias")  # Phi-3.5 / Phi-4-mini
    # Phi-4-mini's config.json keeps fields of its remote code that Phi3Config does not define (probe p219 #1):
    # accepted at the model transformers builds (no MLP or lm_head bias, every layer's attention as the
    # sliding_window above gives it, positions not interpolated), refused at another value
    r.require("mlp_bias", False, "Phi3MLP's gate_up_proj and down_proj have no bias")
    r.require("lm_head_bias", False, "Phi3ForCausalLM's lm_head has no bias")
    r.require("full_attn_mod", 1, "Phi3ForCausalLM gives every layer the same attention")
    r.require("interpolate_factor", 1, "Phi3ForCausalLM's RoPE positions are not interpolated")
    return LM(r.arch, vocab=r.int("vocab_size", 32064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size"), eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False),
              windows=(window,) * layers if window else (), fused_qkv=True, fused_gate_up=True, style="phi3",
              rotary_dim=rotary, attn_dropout=r.prob("attention_dropout", 0.0),
              resid_dropout=r.prob("resid_pdrop", 0.0), embd_dropout=r.prob("embd_pdrop", 0.0))


def _opt(r: _Reader) -> LM:
    r.ignore(("layerdrop",))  # OPTConfig's LayerDrop: training skips whole layers at random; inference runs all
    hidden = r.int("hidden_size")
    heads = r.int("num_attention_heads")
    _divides("num_attention_heads", heads, "hidden_size", hidden)
    r.require("do_layer_norm_before", True, "only pre-LN OPT (every size but 350m) is built")
    r.require("layer_norm_elementwise_affine", True, "OPT's LayerNorms have weight and bias")
    r.require("_remove_final_layer_norm", False, "OPT keeps its final LayerNorm")
    bias = r.bool("enable_bias", True)
    proj = r.int("word_embed_proj_dim", hidden)
    return LM(r.arch, vocab=r.int("vocab_size"), hidden=hidden, layers=r.int("num_hidden_layers"), heads=heads,
              kv_heads=heads, head_dim=hidden // heads, ffn=r.int("ffn_dim"), eps=1e-5, norm="layernorm",
              act=r.choice("activation_function", "relu", {"relu": "relu", "gelu": "gelu"}), gated=False,
              bias=(bias,) * 4, mlp_bias=bias, tied=r.bool("tie_word_embeddings", True), rope=False,
              max_positions=r.int("max_position_embeddings", 2048), position_offset=2,
              proj_dim=proj if proj != hidden else 0, style="opt", attn_dropout=r.prob("attention_dropout", 0.0),
              resid_dropout=r.prob("dropout", 0.1), act_dropout=r.prob("activation_dropout", 0.0))


_GPT2_IGNORED = ("summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
                 "summary_first_dropout", "n_ctx", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
                 "reorder_and_upcast_attn", "n_special", "predict_special_tokens")
"""GPT2Config's fields with no effect on the op graph: the sequence-summary head of GPT2DoubleHeadsModel
(``summary_*``), the legacy context length (``n_ctx``, n_positions' old name) and the attention score's scale factor
and fp32 upcast (a constant multiply, a precision: the same ops); and two keys of the original OpenAI GPT config
left in gpt2-medium's published config.json (``"n_special": 0, "predict_special_tokens": true``), which GPT2Config's
``__init__`` does not take and PretrainedConfig keeps as plain attributes that no GPT-2 module reads (probe p240
#1: gpt2-medium's config was refused for them)."""


def _gpt2(r: _Reader) -> LM:
    r.ignore(_GPT2_IGNORED)
    hidden = r.int("n_embd", 768)
    heads = r.int("n_head", 12)
    _divides("n_head", heads, "n_embd", hidden)
    r.require("add_cross_attention", False, "a decoder-only GPT-2 is built")
    return LM(r.arch, vocab=r.int("vocab_size", 50257), hidden=hidden, layers=r.int("n_layer", 12), heads=heads,
              kv_heads=heads, head_dim=hidden // heads, ffn=r.opt_int("n_inner") or 4 * hidden,
              eps=r.float("layer_norm_epsilon", 1e-5), norm="layernorm",
              act=r.choice("activation_function", "gelu_new", {"gelu_new": "gelu_new", "gelu": "gelu", "relu": "relu"}),
              gated=False, bias=(True,) * 4, mlp_bias=True, tied=r.bool("tie_word_embeddings", True), rope=False,
              max_positions=r.int("n_positions", 1024), fused_qkv=True, style="gpt2",
              attn_dropout=r.prob("attn_pdrop", 0.1), resid_dropout=r.prob("resid_pdrop", 0.1),
              embd_dropout=r.prob("embd_pdrop", 0.1))


_DEEPSEEK_V3 = {"vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
                "num_hidden_layers": 61, "num_attention_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
                "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128,
                "qk_nope_head_dim": 128, "num_experts_per_tok": 8, "first_k_dense_replace": 3}
"""DeepseekV3Config's defaults (transformers' configuration_deepseek_v3.py, DeepSeek-V3's own sizes); DeepseekV2Config's
differ by version, so a DeepSeek-V2 config must give these fields (every published one does)."""
_DEEPSEEK_IGNORED = ("n_group", "topk_group", "topk_method", "scoring_func", "routed_scaling_factor", "aux_loss_alpha",
                     "seq_aux", "ep_size", "num_nextn_predict_layers", "rope_interleave", "head_dim")
"""DeepSeek fields with no effect on the op graph: the router's group-limited top-k and scoring (the top-k pass is
priced as every router's; ``n_group`` and ``topk_group`` checked as transformers' router needs them:
:func:`.hfspec._group_limited`), the auxiliary loss, the multi-token-prediction module (transformers does not build it),
RoPE's interleaving, and the ``head_dim`` some configs write (qk_rope_head_dim)."""


def _deepseek(r: _Reader) -> LM:
    """DeepSeek-V2 / V3 (transformers' modeling_deepseek_v2/_v3): multi-head latent attention (:class:`MLA`), the
    first ``first_k_dense_replace`` layers dense and then every ``moe_layer_freq``-th an MoE of ``n_routed_experts``
    experts plus ``n_shared_experts`` always-on ones (one MLP of their summed width), RMSNorm, untied head."""
    defaults = _DEEPSEEK_V3 if r.arch in ("DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM") else {}

    def size(key: str, minimum: int = 1) -> int:
        return r.int(key, defaults.get(key), minimum=minimum)

    r.read.update(_DEEPSEEK_IGNORED)
    hidden, heads, layers = size("hidden_size"), size("num_attention_heads"), size("num_hidden_layers")
    r.int("num_key_value_heads", heads)  # read by transformers, unused: MLA's keys and values are per head
    r.require("attention_bias", False, "DeepSeek's projections have no bias")
    r.rope_scaling()
    q_rank = (r.opt_int("q_lora_rank") if "q_lora_rank" in r.data or not defaults else defaults["q_lora_rank"])
    mla = MLA(q_rank, size("kv_lora_rank"), size("qk_nope_head_dim"), size("qk_rope_head_dim"), size("v_head_dim"))
    experts, dense, freq = size("n_routed_experts"), size("first_k_dense_replace", 0), r.int("moe_layer_freq", 1)
    sparse = frozenset(i for i in range(layers) if i >= dense and i % freq == 0)
    r.bool("norm_topk_prob", bool(defaults))  # renormalising the k weights (2k FLOPs a token): not counted
    ffn = size("moe_intermediate_size")
    top_k = _top_k(r, experts, defaults.get("num_experts_per_tok"), experts_key="n_routed_experts")
    _group_limited(r, experts, top_k, experts_key="n_routed_experts")
    moe = MoE(experts, top_k, ffn, shared_ffn=size("n_shared_experts", 0) * ffn,
              sparse_layers=sparse, router_names=("mlp", "gate"),
              expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False)
    dsa = None
    if r.arch == "DeepseekV32ForCausalLM":  # DeepSeek-V3.2: an indexer in every layer (transformers' defaults)
        dsa = DSA(r.int("index_n_heads", 64), r.int("index_head_dim", 128), r.int("index_topk", 2048))
        if not mla.q_rank:
            raise ValueError("q_lora_rank: DeepSeek-V3.2's indexer reads the query latent (q_lora_rank must be set)")
        if dsa.head_dim < mla.rope_dim:  # a rule between two keys: at the one set last
            at = KeyPairError.OTHER_AT
            raise KeyPairError({
                "index_head_dim": f"{dsa.head_dim} must hold the rotated {mla.rope_dim} features (qk_rope_head_dim{at})",
                "qk_rope_head_dim": f"{mla.rope_dim} rotated features do not fit index_head_dim ({dsa.head_dim}{at}), "
                                    f"the indexer's heads that rotate them too"})
    return LM(r.arch, vocab=size("vocab_size"), hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
              head_dim=mla.nope_dim + mla.rope_dim, ffn=size("intermediate_size"), eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe, mla=mla,
              dsa=dsa, attn_dropout=r.prob("attention_dropout", 0.0))


def _glm4_moe(r: _Reader) -> LM:
    """GLM-4.5 / 4.5-Air / 4.6 (transformers' Glm4MoeForCausalLM; Glm4MoeConfig's defaults: GLM-4.5-Air's sizes but
    ``head_dim``, which the published configs give): GQA attention with q / k / v biases (``attention_bias``; o_proj
    has none), optional QK-norm (``use_qk_norm``), RoPE on ``partial_rotary_factor`` of each head; the first ``first_k_dense_replace`` layers a SwiGLU MLP, the rest DeepSeek-V3's block:
    ``n_routed_experts`` experts (top ``num_experts_per_tok``, sigmoid scores; the router's correction bias is a
    buffer, not a parameter) and ungated ``shared_experts`` of ``n_shared_experts`` × ``moe_intermediate_size``;
    untied head. The multi-token-prediction layer (``num_nextn_predict_layers``) is not built, as transformers
    skips it."""
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads, head_dim = _heads(r, hidden, 0, (96, 8))
    layers = r.int("num_hidden_layers", 46)
    r.rope_scaling()
    rotary = _rotary(r, head_dim, 0.5)
    r.read.update(("routed_scaling_factor", "n_group", "topk_group", "num_nextn_predict_layers"))
    r.bool("norm_topk_prob", True)  # renormalising the k weights (2k FLOPs a token): not counted
    bias = r.bool("attention_bias", False)
    dense, ffn = r.int("first_k_dense_replace", 1, minimum=0), r.int("moe_intermediate_size", 1408)
    experts = r.int("n_routed_experts", 128)
    top_k = _top_k(r, experts, 8, experts_key="n_routed_experts")
    _group_limited(r, experts, top_k, experts_key="n_routed_experts")
    moe = MoE(experts, top_k, ffn,
              shared_ffn=r.int("n_shared_experts", 1, minimum=0) * ffn, sparse_layers=frozenset(range(dense, layers)),
              router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False)
    return LM(r.arch, vocab=r.int("vocab_size", 151552), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 10944),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU),
              bias=(bias, bias, bias, False), tied=r.bool("tie_word_embeddings", False),
              qk_norm=r.bool("use_qk_norm", False), moe=moe, attn_dropout=r.prob("attention_dropout", 0.0),
              rotary_dim=rotary)


def _gpt_oss(r: _Reader) -> LM:
    """GPT-OSS (transformers' modeling_gpt_oss; OpenAI's gpt-oss model card): biased q/k/v/o projections, a learned
    sink logit per head, ``layer_types`` alternating ``sliding_window`` and full attention, and in every layer a
    mixture of ``num_local_experts`` experts (``num_experts_per_tok`` of them per token) with a biased router and
    biased experts whose gate and up projections are one ``gate_up_proj``; the experts' GLU is
    (up + 1)·gate·σ(1.702·gate) (``swiglu_limit`` clamps both first: the clamps and the + 1 are not counted), priced
    as ``quick_gelu`` of the gate times up. RMSNorm, untied head."""
    hidden = r.int("hidden_size", 2880)
    heads, kv_heads, head_dim = _heads(r, hidden, 64)
    layers = r.int("num_hidden_layers", 36)
    r.rope_scaling()
    r.require("attention_bias", True, "GPT-OSS's attention projections have biases")
    r.choice("hidden_act", "silu", _SILU)  # read by the config, unused by the experts' own GLU
    r.float("swiglu_limit", 7.0)
    r.read.update(("experts_per_token", "initial_context_length"))  # the same as num_experts_per_tok; RoPE's
    window = r.window(128)
    windows = _layer_windows(r, layers, window, lambda i: i % 2 == 1)
    ffn = r.int("intermediate_size", 2880)
    experts = r.int("num_local_experts", 128)
    moe = MoE(experts, _top_k(r, experts, 4, experts_key="num_local_experts"), ffn,
              sparse_layers=frozenset(range(layers)), router_names=("mlp", "router"),
              expert_names=("gate_proj", "up_proj", "down_proj"), router_bias=True, expert_bias=True,
              fused_gate_up=True, expert_act="quick_gelu")
    return LM(r.arch, vocab=r.int("vocab_size", 201088), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5), bias=(True,) * 4,
              tied=r.bool("tie_word_embeddings", False), moe=moe, attn_sinks=True,
              windows=windows, attn_dropout=r.prob("attention_dropout", 0.0))


def _encoder_shape(r: _Reader, hidden: int, heads: int, image: int, patch: int) -> tuple[int, int, int, int]:
    """A vision encoder's (hidden_size, num_attention_heads, image_size, patch_size), the class's defaults given:
    the heads divide the width, the patches the image."""
    hidden, heads = r.int("hidden_size", hidden), r.int("num_attention_heads", heads)
    _divides("num_attention_heads", heads, "hidden_size", hidden)
    image, patch = r.int("image_size", image), r.int("patch_size", patch)
    _divides("patch_size", patch, "image_size", image)
    return hidden, heads, image, patch


def _siglip(r: _Reader) -> Vision:
    """SiglipVisionConfig's fields (its defaults: SigLIP base, 768 wide at 224²; every Gemma 3 config gives
    SigLIP-So400m's 1152 × 27 layers at 896² with patches of 14)."""
    hidden, heads, image, patch = _encoder_shape(r, 768, 12, 224, 16)
    if r._get("vision_use_head", True) is not False:  # absent: SigLIP builds its pooling head
        raise ValueError("vision_use_head: expected false (Gemma 3 projects every patch; the pooling head is "
                         "not built)")
    r.prob("attention_dropout", 0.0)
    return Vision("siglip", hidden=hidden, layers=r.int("num_hidden_layers", 12), heads=heads,
                  ffn=r.int("intermediate_size", 3072), image=image, patch=patch, channels=r.int("num_channels", 3),
                  eps=r.float("layer_norm_eps", 1e-6), act=r.choice("hidden_act", "gelu_pytorch_tanh", _GELU_TANH),
                  tokens=0)


def _gemma3_vision(r: _Reader) -> LM:
    """Gemma 3 with its image encoder (transformers' Gemma3ForConditionalGeneration: gemma-3-4b, 12b, 27b): the
    text decoder of ``text_config`` (:func:`_gemma3`), a SigLIP tower of ``vision_config`` and the projector to
    ``mm_tokens_per_image`` soft tokens an image (:class:`Vision`)."""
    text = _nested(r, "text_config", _gemma3)
    vision = _nested(r, "vision_config", _siglip)
    tokens = r.int("mm_tokens_per_image", 256)
    side = math.isqrt(tokens)
    first = f"{tokens} must be a square whose side divides the {vision.grid}×{vision.grid} patch grid"
    if side * side != tokens:
        raise ValueError(f"mm_tokens_per_image: {first}")
    if vision.grid % side:  # a rule with vision_config's keys: at the one set last
        raise _rule(f"√mm_tokens_per_image = {side} dividing the patch grid vision_config.image_size / "
                    f"vision_config.patch_size = {vision.grid}", {"mm_tokens_per_image": tokens, **_tile(vision)},
                    {"mm_tokens_per_image": f"{first} (vision_config.image_size / vision_config.patch_size"
                                            f"{KeyPairError.OTHER_AT})"})
    r.read.update(("boi_token_index", "eoi_token_index", "image_token_index"))  # token ids
    return replace(text, arch=r.arch, vision=replace(vision, tokens=tokens),
                   tied=r.bool("tie_word_embeddings", text.tied))


_LLAVA_TEXT = {"llama": ("LlamaForCausalLM", {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                                              "num_hidden_layers": 32, "num_attention_heads": 32}),
               "mistral": ("MistralForCausalLM", {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                                                  "num_hidden_layers": 32, "num_attention_heads": 32,
                                                  "num_key_value_heads": 8, "sliding_window": 4096}),
               "qwen2": ("Qwen2ForCausalLM", {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
                                              "num_hidden_layers": 32, "num_attention_heads": 32})}
"""LLaVA's text models by ``text_config.model_type`` and their config classes' defaults (LlamaConfig, MistralConfig,
Qwen2Config) where the readers have none."""


def _clip_vision(r: _Reader) -> Vision:
    """CLIPVisionConfig's fields (its defaults: CLIP ViT-B/32 at 224²; LLaVA-1.5's config gives ViT-L/14 at 336²)."""
    hidden, heads, image, patch = _encoder_shape(r, 768, 12, 224, 32)
    r.require("model_type", "clip_vision_model", "LLaVA's CLIP tower is built")
    r.read.update(("projection_dim", "vocab_size", "initializer_factor"))  # the CLIP head's, unused
    r.prob("attention_dropout", 0.0)
    grid = image // patch
    return Vision("clip", hidden=hidden, layers=r.int("num_hidden_layers", 12), heads=heads,
                  ffn=r.int("intermediate_size", 3072), image=image, patch=patch, channels=r.int("num_channels", 3),
                  eps=r.float("layer_norm_eps", 1e-5),
                  act=r.choice("hidden_act", "quick_gelu", {"quick_gelu": "quick_gelu", **_GELU_TANH}),
                  tokens=grid * grid)


def _llava(r: _Reader) -> LM:
    """LLaVA-1.5 (transformers' LlavaForConditionalGeneration): the decoder of ``text_config`` (a Llama, Mistral or
    Qwen2 config by its ``model_type``, the class's defaults for absent fields), a CLIP vision tower of
    ``vision_config`` and the projector (``projector_hidden_act``, ``multimodal_projector_bias``) to the decoder's
    width; ``vision_feature_select_strategy`` "default" drops the class token (576 tokens a 336² image), "full"
    keeps it. Every tower layer runs, as transformers runs them, whichever ``vision_feature_layer`` is taken;
    ``Vision.feature_layers`` counts those up to it (vLLM's ``_get_layer_index``: n + layer + 1 for a negative one,
    the layer for another), which vLLM alone builds (the workload's ``tower_layers: feature``)."""
    text_cfg = r.data.get("text_config") or {}
    kind = text_cfg.get("model_type", "llama") if isinstance(text_cfg, Mapping) else "llama"
    if kind not in _LLAVA_TEXT:
        raise ValueError(f"text_config.model_type: {kind!r} is not supported for LLaVA; supported: "
                         f"{', '.join(sorted(_LLAVA_TEXT))}")
    arch, defaults = _LLAVA_TEXT[kind]
    text = _nested(r, "text_config", READERS[arch], arch, defaults)
    vision = _nested(r, "vision_config", _clip_vision, defaults={
        "hidden_size": 1024, "intermediate_size": 4096, "patch_size": 14, "image_size": 336, "num_hidden_layers": 24,
        "num_attention_heads": 16} if r.data.get("vision_config") is None else None)
    layer = r._get("vision_feature_layer", -2)
    if not isinstance(layer, int) or isinstance(layer, bool) or not -vision.layers - 1 <= layer <= vision.layers:
        raise ValueError(f"vision_feature_layer: expected one layer index of the {vision.layers}-layer tower (got "
                         f"{layer!r})")
    strategy = r.choice("vision_feature_select_strategy", "default", {"default": "default", "full": "full"})
    tokens = vision.grid ** 2 + (strategy == "full")
    seq = r.int("image_seq_length", tokens)
    if seq != tokens:  # a rule with vision_config's keys and the strategy: at the one set last
        raise _rule(f"image_seq_length = (vision_config.image_size / vision_config.patch_size)², + 1 with "
                    f"vision_feature_select_strategy 'full': {vision.grid}² + {int(strategy == 'full')} = {tokens}",
                    {"image_seq_length": seq, **_tile(vision), "vision_feature_select_strategy": strategy},
                    {"image_seq_length": f"{seq} must be the tower's {tokens} feature tokens"})
    r.read.update(("image_token_index", "image_token_id", "ignore_index", "vocab_size"))  # token ids; the text's
    # vocabulary as older configs repeat it at the top (transformers reads text_config's)
    vision = replace(vision, tokens=tokens, projector_act=r.choice("projector_hidden_act", "gelu", _GELU_TANH),
                     projector_bias=r.bool("multimodal_projector_bias", True),
                     feature_layers=vision.layers + layer + 1 if layer < 0 else layer)
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


_LLAMA4_IGNORED = ("attn_temperature_tuning", "floor_scale", "attn_scale", "router_jitter_noise", "cache_implementation",
                   "for_llm_compressor")
"""Llama 4 fields with no op of their own: the NoPE layers' query temperature (a scale of 1 below floor_scale = 8,192
positions; the multiply is not counted), the router's training noise, a flag for llm-compressor's loading."""


def _llama4(r: _Reader) -> LM:
    """Llama 4's text model (transformers' Llama4TextConfig defaults: Scout's sizes): GQA attention without biases;
    RoPE on three layers of four (``no_rope_layers``, derived from ``no_rope_layer_interval``), those layers chunked
    to ``attention_chunk_size`` tokens and their q and k RMS-normed without a weight after RoPE (``use_qk_norm``);
    MoE layers (``moe_layers``, or every ``interleave_moe_layer_step``-th) of ``num_local_experts`` experts of
    ``intermediate_size`` (one ``gate_up_proj`` each) routed top-``num_experts_per_tok`` by a sigmoid of a bias-free
    ``router`` (the score scales the expert's input, priced as the combine's weighting), plus an ungated
    ``shared_expert`` of the same width; the other layers a SwiGLU MLP of ``intermediate_size_mlp``; module names
    ``feed_forward``; untied head."""
    hidden = r.int("hidden_size", 5120)
    heads, kv_heads, head_dim = _heads(r, hidden, 128, (40, 8))
    layers = r.int("num_hidden_layers", 48)
    r.rope_scaling()
    r.require("attention_bias", False, "Llama 4's projections have no bias")
    r.read.update(_LLAMA4_IGNORED)
    step = r.int("interleave_moe_layer_step", 1)
    sparse = (r.int_list("moe_layers", layers) if r.data.get("moe_layers") is not None else
              frozenset(range(step - 1, layers, step)))
    interval = r.int("no_rope_layer_interval", 4)
    flags = r._get("no_rope_layers", None) or [int((i + 1) % interval != 0) for i in range(layers)]
    if not isinstance(flags, list) or len(flags) != layers or not set(flags) <= {0, 1}:
        raise ValueError(f"no_rope_layers: expected {layers} entries of 1 (RoPE) or 0 (none) (got {flags!r})")
    nope = frozenset(i for i, use in enumerate(flags) if not use)
    chunk = r.opt_int("attention_chunk_size") if "attention_chunk_size" in r.data else 8192
    kinds = r._get("layer_types", None)
    if kinds is None:
        kinds = ["full_attention" if i in nope else "chunked_attention" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"chunked_attention", "full_attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'chunked_attention' or 'full_attention' "
                         f"(got {kinds!r})")
    ffn = r.int("intermediate_size", 8192)
    experts = r.int("num_local_experts", 16)
    moe = MoE(experts, _top_k(r, experts, 1, experts_key="num_local_experts"), ffn, shared_ffn=ffn,
              sparse_layers=sparse, router_names=("feed_forward", "router"),
              expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False, fused_gate_up=True,
              shared_name="shared_expert")
    return LM(r.arch, vocab=r.int("vocab_size", 202048), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=r.int("intermediate_size_mlp", 16384), eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe,
              windows=tuple(chunk if k == "chunked_attention" else 0 for k in kinds), chunked=True, nope_layers=nope,
              qk_l2norm=r.bool("use_qk_norm", True), mlp_name="feed_forward",
              attn_dropout=r.prob("attention_dropout", 0.0))


def _llama4_vision_config(r: _Reader) -> Vision:
    """Llama4VisionConfig's fields (its defaults; the published checkpoints give 1408 wide at 336² with patches of
    14, an adapter of 4096 / 4096 and ``vision_output_dim`` 4096). The MLP's GELU is exact whatever ``hidden_act``
    says (transformers builds nn.GELU())."""
    hidden, heads, image, patch = _encoder_shape(r, 768, 16, 448, 14)
    ratio = r.float("pixel_shuffle_ratio", 0.5)
    fold = round(1 / ratio) if ratio else 0
    first = f"{ratio} must be 1/n for an n dividing the {image // patch}-patch grid"
    if fold < 1 or abs(fold * ratio - 1) > 1e-9:
        raise ValueError(f"pixel_shuffle_ratio: {first}")
    at = KeyPairError.OTHER_AT  # the rules between keys below: each at the key set last
    if (image // patch) % fold:
        raise _rule(f"the patch grid image_size / patch_size = {image // patch}, a multiple of 1 / "
                    f"pixel_shuffle_ratio = {fold}", {"pixel_shuffle_ratio": ratio, "image_size": image,
                                                      "patch_size": patch},
                    {"pixel_shuffle_ratio": f"{first} (image_size / patch_size{at})"})
    ffn = r.int("intermediate_size", 5632)
    if ffn != hidden * fold * fold:  # the adapter's fc1 takes intermediate_size features (the shuffled width)
        raise _rule(f"intermediate_size = hidden_size / pixel_shuffle_ratio², the pixel-shuffled width: {hidden} / "
                    f"{ratio}² = {hidden * fold * fold}",
                    {"intermediate_size": ffn, "hidden_size": hidden, "pixel_shuffle_ratio": ratio},
                    {"intermediate_size": f"{ffn} must equal the pixel-shuffled width hidden_size / "
                                          f"pixel_shuffle_ratio² = {hidden * fold * fold} (hidden_size {hidden}, "
                                          f"pixel_shuffle_ratio {ratio}{at})"})
    adapter = (r.int("projector_input_dim", 4096), r.int("projector_output_dim", 4096))
    out = r.int("vision_output_dim", 7680)
    if out != adapter[1]:
        raise KeyPairError({
            "vision_output_dim": f"{out} must equal projector_output_dim ({adapter[1]}{at}), the projector's input",
            "projector_output_dim": f"{adapter[1]} must equal vision_output_dim ({out}{at}), the width the projector "
                                    f"takes"})
    r.read.update(("hidden_act", "rope_theta", "rope_parameters", "multi_modal_projector_bias", "projector_dropout",
                   "vision_feature_select_strategy", "initializer_range"))
    r.require("vision_feature_layer", -1, "the last layer's features are projected")
    r.prob("attention_dropout", 0.0)
    grid = image // patch
    return Vision("llama4", hidden=hidden, layers=r.int("num_hidden_layers", 34), heads=heads, ffn=ffn, image=image,
                  patch=patch, channels=r.int("num_channels", 3), eps=r.float("norm_eps", 1e-5), act="gelu",
                  tokens=(grid // fold) ** 2, adapter=adapter)


def _llama4_vision(r: _Reader) -> LM:
    """Llama 4 with its image encoder (transformers' Llama4ForConditionalGeneration: Llama-4-Scout-17B-16E,
    -Maverick-17B-128E): ``text_config`` read by :func:`_llama4`, ``vision_config`` by :func:`_llama4_vision_config`;
    without the workload's ``image_size`` an image is one 336² tile (``images`` then counts tiles); with it, the tiles
    the processor cuts it into and a global one (:func:`.hfspec.llama4_tiles`)."""
    text = _nested(r, "text_config", _llama4)
    vision = _nested(r, "vision_config", _llama4_vision_config)
    r.read.update(("boi_token_index", "eoi_token_index", "image_token_index"))  # token ids
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


READERS: dict[str, Callable[[_Reader], LM]] = {
    "LlamaForCausalLM": _llama,
    "MistralForCausalLM": _llama,
    "Qwen2ForCausalLM": _llama,
    "Qwen3ForCausalLM": _llama,
    "MixtralForCausalLM": _mixtral,
    "Qwen2MoeForCausalLM": _qwen_moe,
    "Qwen3MoeForCausalLM": _qwen_moe,
    "Gemma2ForCausalLM": _gemma2,
    "Phi3ForCausalLM": _phi3,
    "OPTForCausalLM": _opt,
    "GPT2LMHeadModel": _gpt2,
    "DeepseekV2ForCausalLM": _deepseek,
    "DeepseekV3ForCausalLM": _deepseek,
    "DeepseekV32ForCausalLM": _deepseek,
    "GptOssForCausalLM": _gpt_oss,
    "Glm4MoeForCausalLM": _glm4_moe,
    "Gemma3ForCausalLM": _gemma3,
    "Gemma3ForConditionalGeneration": _gemma3_vision,
    "Llama4ForCausalLM": _llama4,
    "Llama4ForConditionalGeneration": _llama4_vision,
    "LlavaForConditionalGeneration": _llava,
    **HYBRID_READERS,
    **LAYERNORM_READERS,
    **LLAMA_LIKE_READERS,
    **QWEN_VL_READERS,
    **GLM_VL_READERS,
    **VLM_READERS,
}
"""Supported ``architectures`` and their readers."""


MODEL_TYPES: dict[str, str] = {
    "apertus": "ApertusForCausalLM", "arcee": "ArceeForCausalLM", "cohere": "CohereForCausalLM",
    "cohere2": "Cohere2ForCausalLM", "deepseek_v2": "DeepseekV2ForCausalLM", "deepseek_v3": "DeepseekV3ForCausalLM",
    "deepseek_v32": "DeepseekV32ForCausalLM", "dots1": "Dots1ForCausalLM", "ernie4_5": "Ernie4_5ForCausalLM",
    "ernie4_5_moe": "Ernie4_5_MoeForCausalLM", "exaone4": "Exaone4ForCausalLM", "falcon": "FalconForCausalLM",
    "falcon_h1": "FalconH1ForCausalLM", "falcon_mamba": "FalconMambaForCausalLM", "gemma": "GemmaForCausalLM",
    "gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForConditionalGeneration", "gemma3_text": "Gemma3ForCausalLM",
    "glm4": "Glm4ForCausalLM", "glm4_moe": "Glm4MoeForCausalLM", "glm4v": "Glm4vForConditionalGeneration",
    "glm4v_moe": "Glm4vMoeForConditionalGeneration", "gpt2": "GPT2LMHeadModel", "gpt_neox": "GPTNeoXForCausalLM",
    "gpt_oss": "GptOssForCausalLM", "granite": "GraniteForCausalLM", "granitemoe": "GraniteMoeForCausalLM",
    "granitemoehybrid": "GraniteMoeHybridForCausalLM", "hunyuan_v1_dense": "HunYuanDenseV1ForCausalLM",
    "internvl": "InternVLForConditionalGeneration", "jamba": "JambaForCausalLM",
    "kimi_linear": "KimiLinearForCausalLM", "lfm2": "Lfm2ForCausalLM", "llama": "LlamaForCausalLM",
    "llama4": "Llama4ForConditionalGeneration", "llama4_text": "Llama4ForCausalLM",
    "llava": "LlavaForConditionalGeneration", "mamba": "MambaForCausalLM", "mamba2": "Mamba2ForCausalLM",
    "minimax": "MiniMaxForCausalLM", "minimax_m2": "MiniMaxM2ForCausalLM", "mistral": "MistralForCausalLM",
    "mistral3": "Mistral3ForConditionalGeneration", "mixtral": "MixtralForCausalLM",
    "nemotron_h": "NemotronHForCausalLM", "olmo": "OlmoForCausalLM", "olmo2": "Olmo2ForCausalLM",
    "olmo3": "Olmo3ForCausalLM", "olmoe": "OlmoeForCausalLM", "opt": "OPTForCausalLM", "phi": "PhiForCausalLM",
    "phi3": "Phi3ForCausalLM", "phimoe": "PhimoeForCausalLM", "qwen2": "Qwen2ForCausalLM",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration", "qwen2_moe": "Qwen2MoeForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM", "qwen3_next": "Qwen3NextForCausalLM",
    "qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
    "seed_oss": "SeedOssForCausalLM", "smollm3": "SmolLM3ForCausalLM", "stablelm": "StableLmForCausalLM",
    "starcoder2": "Starcoder2ForCausalLM",
}
"""A config's ``model_type`` → the supported class transformers' auto classes build for it, for a config without
``architectures``: MODEL_FOR_CAUSAL_LM_MAPPING_NAMES (``models/auto/modeling_auto.py``), and for the
vision-language types whose top-level config holds a text_config and a vision_config (gemma3, glm4v, glm4v_moe,
internvl, llama4, llava, mistral3, qwen2_5_vl, qwen3_vl, qwen3_vl_moe) MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES."""


def parse(data: Mapping[str, Any]) -> LM:
    """The :class:`LM` of a Hugging Face config (``ValueError`` naming the first unsupported field). Without
    ``architectures`` the class is the one transformers builds for its ``model_type`` (:data:`MODEL_TYPES`)."""
    archs = data.get("architectures")
    kind = data.get("model_type")
    if archs is None and isinstance(kind, str):
        if kind not in MODEL_TYPES:
            raise ValueError(f"model_type: {kind!r} is not supported and the config names no architectures (the "
                             f"{len(MODEL_TYPES)} supported model types: accelsim list hf)")
        archs = [MODEL_TYPES[kind]]
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise ValueError(f"architectures: expected a list of one architecture name (got {archs!r}; the "
                         f"{len(READERS)} supported: accelsim list hf)")
    arch = archs[0]
    if arch not in READERS:
        raise ValueError(f"architectures: {arch!r} is not supported (the {len(READERS)} supported: accelsim list hf)")
    r = _Reader(data, arch)
    lm = READERS[arch](r)
    quant = quantization(r, lm)
    r.finish()
    return replace(lm, quant=quant) if quant is not None else lm


_KEY = re.compile(r"^([A-Za-z_][\w\-]*(?:\.[\w\-]+)*): (.+)$", re.S)


def _renamed_reads(data: Mapping[str, Any], near: str, key: str) -> bool:
    """Whether the config with field ``near`` renamed ``key`` reads without a problem at ``key`` (``near`` is then
    likely ``key`` misspelt, not another field of the architecture)."""
    trial = {k: v for k, v in data.items() if k != near}
    trial[key] = data[near]
    try:
        parse(trial)
    except FieldProblems:  # other fields unread: not about this one
        return True
    except ValueError as e:
        return not str(e).startswith(f"{key}:") and not str(e).startswith(f"{key}.")
    return True


def parse_all(data: Mapping[str, Any]) -> tuple[LM | None, list[tuple[str, str]]]:
    """:func:`parse`, reporting every problem it can at once: the :class:`LM` (None when any) and the problems
    (dotted key, message). A field with a bad value is left out and the config read again (the class's default
    stands for it; a required one gets a stand-in number), so the next field's problem shows too. It stops at a
    problem that names a field the config does not hold (a missing one), that mentions a field already reported (it may follow from the stand-in), or that is a rule between keys one of which was reported and so left out (it tested a default or a stand-in); a value that breaks two rules between keys is reported under both (probe p96b); every unsupported field is named."""
    data, problems, stand_ins = dict(data), [], {}
    while True:
        try:
            return parse(data), problems
        except FieldProblems as e:
            return None, problems + e.problems
        except ValueError as e:
            m = _KEY.match(str(e))
            key, msg = (m.group(1), m.group(2)) if m else ("", str(e))
            reported = [k for k, _ in problems]
            top = key.split(".")[0]  # a nested field's problem leaves out the whole top-level field
            if top in {k.split(".")[0] for k in reported}:  # left out, it is missing (required), or its stand-in is refused: try the next
                value = next(stand_ins.setdefault(key, iter((1, 64, 4096))), None)
                if value is None:
                    return None, problems
                data[top] = value
                continue
            if any(re.search(rf"\b{re.escape(k)}\b", msg) for k in reported):
                return None, problems
            pair = {k.split(".")[0] for k in e.messages} if isinstance(e, KeyPairError) else set()
            if pair & {k.split(".")[0] for k in reported}:
                # a rule with a key already reported, so left out: it tested that key's default or stand-in (probe
                # p114 #5: n_routed_experts 0, then "6 experts per token exceed the model's 1 experts")
                return None, problems
            problems.append((key, msg))
            if top in ("architectures", "model_type"):
                return None, problems
            if top not in data:  # a default or missing field: a misspelt one in the config may be why
                near, _ = close_match(top, [k for k in data if k not in COMMON_IGNORED])
                if near is not None and _renamed_reads(data, near, top):
                    archs = data.get("architectures")
                    arch = archs[0] if isinstance(archs, list) and archs else str(data.get("model_type"))
                    problems.append((near, unsupported(arch, top)))
                return None, problems
            del data[top]


__all__ = ["COMMON_IGNORED", "DSA", "LM", "LinearAttn", "MLA", "Mamba2", "MoE", "READERS", "Vision", "MODEL_TYPES", "load_config",
           "parse", "parse_all"]
