"""Hugging Face ``config.json`` → :class:`LM`, the shape of a decoder-only language model that :mod:`.hf` builds.

Each supported ``architectures`` entry has a reader that takes the fields ``transformers`` reads for that class
(with its defaults) and refuses anything else: a field no reader knows, a value outside what the builder models
(an activation, a bias flag, a RoPE scaling type), or an unknown architecture is a ``ValueError`` naming the
field, never a silently different model. Fields with no effect on the op graph (token ids, initialiser ranges, RoPE
θ and scaling, also as transformers 5's ``rope_parameters``, the checkpoint's ``torch_dtype`` / ``dtype``, versions)
are accepted and ignored (:data:`IGNORED`); the dropout rates a class's modeling code
applies are read (with its defaults: OPT's ``dropout`` 0.1, GPT-2's three ``*_pdrop`` 0.1, the others 0) and take
effect in training graphs only; the others are ignored.

Readers: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MixtralForCausalLM,
Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM, Phi3ForCausalLM (``transformers`` 4.4x ``configuration_*.py`` defaults), OPTForCausalLM,
GPT2LMHeadModel, DeepseekV2ForCausalLM and DeepseekV3ForCausalLM (V3's defaults are DeepSeek-V3's sizes; a V2 config
gives its sizes), GptOssForCausalLM (gpt-oss-120b's sizes by default), Gemma3ForCausalLM (Gemma 3's text decoder) and
Gemma3ForConditionalGeneration (Gemma 3 4B-27B: ``text_config``, a SigLIP ``vision_config`` and the projector),
Llama4ForCausalLM and Llama4ForConditionalGeneration (Llama 4 Scout / Maverick; Scout's sizes by default),
Qwen3NextForCausalLM (Gated DeltaNet linear attention; Qwen3-Next-80B-A3B's sizes by default), NemotronHForCausalLM
(Mamba-2 hybrid; Nemotron-H-8B's sizes by default), GraniteMoeHybridForCausalLM (Granite 4.0-H), KimiLinearForCausalLM (Kimi Delta Attention and latent attention), FalconH1ForCausalLM (attention and Mamba-2
side by side in every layer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..units import TORCH_DTYPES

IGNORED = frozenset({
    "architectures", "model_type", "torch_dtype", "transformers_version", "bos_token_id", "eos_token_id",
    "pad_token_id", "initializer_range", "init_std", "use_cache", "attention_dropout", "hidden_dropout", "dropout",
    "activation_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop", "layerdrop", "_name_or_path", "rope_theta",
    "rope_scaling", "max_position_embeddings", "original_max_position_embeddings", "output_router_logits",
    "router_aux_loss_coef", "router_jitter_noise", "pretraining_tp", "tokenizer_class", "prefix", "cache_implementation",
    "query_pre_attn_scalar", "id2label", "label2id", "summary_type", "summary_use_proj",
    "summary_activation", "summary_proj_to_labels", "summary_first_dropout", "task_specific_params",
    "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "n_ctx", "quantization_config",
    "_attn_implementation", "auto_map", "use_bfloat16", "dtype",
})
"""Fields read only to check their value (RoPE scaling, activations, windows) or with no effect on the op graph."""

ROPE_TYPES = frozenset({"default", "linear", "dynamic", "yarn", "longrope", "su", "llama3"})
"""RoPE scaling types: each only rescales the rotary frequencies (precomputed), so none changes the ops."""


@dataclass(frozen=True)
class MoE:
    """Routed experts of a mixture-of-experts MLP (and an always-on shared expert: Qwen2-MoE's, scaled by a sigmoid
    gate, or DeepSeek's ``shared_experts``, a plain SwiGLU MLP of ``n_shared_experts`` experts' width)."""

    experts: int
    top_k: int
    ffn: int  # each expert's SwiGLU width
    shared_ffn: int = 0  # 0: no shared expert
    sparse_layers: frozenset[int] = frozenset()  # layers whose MLP is the MoE (the others dense)
    router_names: tuple[str, str] = ("block_sparse_moe", "gate")
    expert_names: tuple[str, str, str] = ("w1", "w3", "w2")  # gate, up, down
    shared_gate: bool = True  # Qwen2-MoE's sigmoid shared_expert_gate; False: DeepSeek's ungated shared_experts
    router_bias: bool = False  # GPT-OSS: the router and every expert projection have biases,
    expert_bias: bool = False
    fused_gate_up: bool = False  # and each expert's gate and up projections are one gate_up_proj
    expert_act: str = ""  # the experts' gate activation ("": the model's act)
    shared_name: str = "shared_experts"  # an ungated shared expert's scope (Llama 4: shared_expert)


@dataclass(frozen=True)
class MLA:
    """DeepSeek-V2/V3's multi-head latent attention (DeepSeek-V2 paper, arXiv:2405.04434, section 2.1): queries
    through a rank-``q_rank`` bottleneck (0: one ``q_proj``); per token one latent of ``kv_rank`` features, from
    which every head's keys (``nope_dim``) and values (``v_dim``) are up-projected, and one rotary key of
    ``rope_dim`` features shared by the heads."""

    q_rank: int
    kv_rank: int
    nope_dim: int
    rope_dim: int
    v_dim: int
    rope: bool = True  # False: the rope_dim features are not rotated (Kimi Linear's mla_use_nope)


@dataclass(frozen=True)
class LinearAttn:
    """Qwen3-Next's Gated DeltaNet layers (transformers' Qwen3NextGatedDeltaNet; Yang et al., "Gated Delta Networks",
    arXiv:2412.06464): per token a fixed-size state of ``value_heads`` × ``key_dim`` × ``value_dim`` replaces the
    growing KV cache. ``in_proj_qkvz`` gives ``key_heads`` query and key heads of ``key_dim`` and ``value_heads``
    value and gate heads of ``value_dim``, ``in_proj_ba`` each value head's β and decay; q, k and v pass a causal
    depthwise conv of ``conv_kernel`` taps (SiLU); the delta rule runs on ``layers``; a gated RMSNorm and
    ``out_proj`` follow. A prompt runs FLA's chunked algorithm in chunks of ``chunk`` tokens."""

    key_heads: int
    value_heads: int
    key_dim: int
    value_dim: int
    conv_kernel: int
    layers: frozenset[int]
    chunk: int = 64  # FLA's chunk_gated_delta_rule block (BT)
    kind: str = "gdn"  # "kda": Kimi Delta Attention (per-channel decay; see :func:`.ssm.kimi_delta_attention`)

    @property
    def conv_channels(self) -> int:
        """Channels of the causal conv: q and k (key_heads · key_dim each) and v (value_heads · value_dim)."""
        return 2 * self.key_heads * self.key_dim + self.value_heads * self.value_dim


@dataclass(frozen=True)
class Mamba2:
    """Mamba-2 mixers (transformers' Mamba2Mixer as Nemotron-H and Granite 4.0-H use it; Dao and Gu, arXiv:2405.21060):
    ``heads`` heads of ``head_dim`` channels, each with a ``head_dim`` × ``state`` state; B and C in ``groups``
    groups of ``state``; a causal conv of ``conv_kernel`` taps over x, B and C; prompts in SSD chunks of ``chunk``
    tokens; on ``layers``. ``state_dtype``: the state cache's dtype (None: the model's; Nemotron-H's
    ``mamba_ssm_cache_dtype``)."""

    heads: int
    head_dim: int
    state: int
    groups: int
    conv_kernel: int
    chunk: int
    conv_bias: bool
    layers: frozenset[int]
    state_dtype: str | None = None
    in_bias: bool = False  # Falcon-H1: in_proj's bias (mamba_proj_bias), out_proj's (projectors_bias)
    out_bias: bool = False
    norm: bool = True  # the gated RMSNorm (Falcon-H1's mamba_rms_norm; without it y · SiLU(z), no weight)


@dataclass(frozen=True)
class Vision:
    """An image encoder beside the decoder: each image of ``image``² pixels is cut into (image / patch)² patches that
    ``layers`` pre-LN encoder layers transform, then reduced to ``tokens`` soft tokens of the decoder's width.

    ``style`` "siglip": a SigLIP tower (transformers' SiglipVisionModel without its pooling head) and Gemma 3's
    projector, which average-pools the patch grid, RMS-norms and projects it (Gemma 3 technical report, section 2.1:
    a 400M SigLIP encoder at 896², 256 tokens an image). "llama4": Llama 4's vision model (a class token, 2-D RoPE
    in each layer's attention), whose pixel shuffle folds each 2 × 2 patches into one token of 4 × the width, a
    two-layer GELU MLP of widths ``adapter`` and a linear projector (transformers' Llama4VisionModel and
    Llama4MultiModalProjector; one 336² tile gives 144 tokens)."""

    style: str
    hidden: int
    layers: int
    heads: int
    ffn: int
    image: int
    patch: int
    channels: int
    eps: float
    act: str
    tokens: int  # soft tokens per image, after the projector's pooling or the pixel shuffle
    adapter: tuple[int, ...] = ()  # Llama 4: the pixel-shuffle MLP's fc1 and fc2 widths

    @property
    def grid(self) -> int:
        """Patches along each side of an image."""
        return self.image // self.patch

    @property
    def pool(self) -> int:
        """Patches along each side of the square one soft token takes (Gemma 3's average pooling kernel, Llama 4's
        pixel shuffle, 1 / pixel_shuffle_ratio): grid / √tokens."""
        return self.grid // math.isqrt(self.tokens)

    @property
    def scopes(self) -> tuple[str, str]:
        """The tower's and the projector's scopes (transformers' module names under the decoder's ``model``)."""
        tower = "model.vision_tower" if self.style == "siglip" else "model.vision_model"
        return tower, "model.multi_modal_projector"


@dataclass(frozen=True)
class LM:
    """A decoder-only LM as the builder needs it (sizes, layer recipe, module names)."""

    arch: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    eps: float = 1e-5
    norm: str = "rmsnorm"  # or "layernorm"
    act: str = "silu"
    gated: bool = True  # SwiGLU / GeGLU (gate, up, down) or a plain two-linear MLP
    bias: tuple[bool, bool, bool, bool] = (False, False, False, False)  # q, k, v, o
    mlp_bias: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    tied: bool = False
    rope: bool = True
    max_positions: int = 0  # learned position table rows (0: RoPE)
    position_offset: int = 0  # OPT's learned positions start at row 2
    windows: tuple[int, ...] = ()  # per layer: sliding window (0 = global)
    attn_softcap: float | None = None
    final_softcap: float | None = None
    sandwich_norms: bool = False  # Gemma-2's post-attention and pre/post-feed-forward norms
    qk_norm: bool = False  # Qwen3: RMSNorm (eps) over head_dim on each q and k head before RoPE
    embed_scale: bool = False  # Gemma: embeddings × √hidden
    proj_dim: int = 0  # OPT's word_embed_proj_dim when ≠ hidden (project_in / project_out)
    style: str = "llama"  # module names: llama, phi3, opt, gpt2
    moe: MoE | None = None
    mla: MLA | None = None  # DeepSeek's latent attention (heads, kv_heads and head_dim then describe its queries)
    attn_sinks: bool = False  # GPT-OSS: a learned logit per head joins each softmax (``self_attn.sinks``)
    vision: Vision | None = None  # Gemma 3 (4B-27B), Llama 4: the image encoder beside the decoder
    nope_layers: frozenset[int] = frozenset()  # Llama 4: layers whose attention has no RoPE
    qk_l2norm: bool = False  # Llama 4: a weightless RMS norm of each q and k head after RoPE (the RoPE layers)
    mlp_name: str = "mlp"  # the MLP's scope (Llama 4: feed_forward)
    linear: LinearAttn | None = None  # Qwen3-Next: the Gated DeltaNet layers (the others full attention)
    attn_gate: bool = False  # Qwen3-Next: q_proj also gives a gate, sigmoid(gate) · the attention's output
    mamba: Mamba2 | None = None  # Nemotron-H, Granite 4.0-H: the Mamba-2 layers
    logits_scale: bool = False  # Granite: the logits divided by logits_scaling (one elementwise pass)
    parallel_mamba: bool = False  # Falcon-H1: every layer's Mamba-2 mixer runs beside its attention, outputs added
    blocks: tuple[str, ...] = ()  # Nemotron-H: each layer one block, "mamba", "attention" or "mlp" (empty: a layer is
    # attention (or a mixer) and an MLP)
    # training dropout rates (transformers applies them only in training): the attention probabilities, each
    # attention and MLP output before its residual add, the embeddings, the MLP's activation
    attn_dropout: float = 0.0
    resid_dropout: float = 0.0
    embd_dropout: float = 0.0
    act_dropout: float = 0.0

    def window(self, layer: int) -> int:
        """Layer ``layer``'s sliding window (0: global attention)."""
        return self.windows[layer] if self.windows else 0

    def mixer(self, layer: int) -> str:
        """Layer ``layer``'s token mixer: ``linear_attn`` (Gated DeltaNet), ``kda`` (Kimi Delta Attention, in scope
        ``self_attn`` as Kimi names it), ``mamba`` (Mamba-2) or ``self_attn``."""
        if self.linear is not None and layer in self.linear.layers:
            return "linear_attn" if self.linear.kind == "gdn" else "kda"
        if self.mamba is not None and layer in self.mamba.layers:
            return "mamba"
        return "self_attn"


def load_config(value: object) -> dict[str, Any]:
    """A config as a dict: a mapping as is, a string a path to a ``config.json`` (read, never downloaded)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ValueError("config: expected a path to a Hugging Face config.json or a mapping of its fields")
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"config: cannot read {value!r} ({e.strerror or e})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"config: {value!r} is not JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"config: {value!r} holds no JSON object")
    return data


class _Reader:
    """Typed access to a config's fields, remembering which were read (the rest are unsupported)."""

    def __init__(self, data: Mapping[str, Any], arch: str):
        self.data, self.arch, self.read = data, arch, set(IGNORED)

    def _get(self, key: str, default: object) -> object:
        self.read.add(key)
        value = self.data.get(key, default)
        if value is _REQUIRED:
            raise ValueError(f"{key}: missing (needed by {self.arch})")
        return value

    def int(self, key: str, default: object = None, *, minimum: int = 1) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key}: expected an integer ≥ {minimum} (got {value!r})")
        return value

    def opt_int(self, key: str) -> int:
        """An integer that may be null or absent (0 then)."""
        value = self._get(key, None)
        return 0 if value is None else self.int(key)

    def float(self, key: str, default: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{key}: expected a non-negative number (got {value!r})")
        return float(value)

    def opt_float(self, key: str, default: float) -> float | None:
        """A number that may be null (None then); absent is ``default``."""
        value = self._get(key, default)
        return None if value is None else self.float(key, default)

    def prob(self, key: str, default: float) -> float:
        """A dropout rate: a number in [0, 1)."""
        value = self.float(key, default)
        if value >= 1:
            raise ValueError(f"{key}: expected a dropout rate in [0, 1) (got {value!r})")
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true or false (got {value!r})")
        return value

    def choice(self, key: str, default: str, allowed: Mapping[str, str]) -> str:
        value = self._get(key, default)
        if value not in allowed:
            raise ValueError(f"{key}: {value!r} is not supported for {self.arch}; supported: "
                             f"{', '.join(sorted(allowed))}")
        return allowed[value]

    def require(self, key: str, expected: object, why: str) -> None:
        """A field whose only supported value is ``expected`` (absent counts as the default)."""
        value = self._get(key, expected)
        if value != expected:
            raise ValueError(f"{key}: {value!r} is not supported ({why}; expected {expected!r})")

    def int_list(self, key: str) -> frozenset[int]:
        value = self._get(key, None) or []
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{key}: expected a list of layer indices (got {value!r})")
        return frozenset(value)

    def rope_scaling(self) -> None:
        """``rope_scaling`` (transformers 4) and ``rope_parameters`` (transformers 5: θ and the scaling in one
        mapping, or one such mapping per layer type, Gemma 3's ``full_attention`` / ``sliding_attention``): a known
        RoPE type, or absent."""
        for key in ("rope_scaling", "rope_parameters"):
            value = self._get(key, None)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ValueError(f"{key}: expected a mapping or null (got {value!r})")
            per_type = key == "rope_parameters" and value and all(isinstance(v, Mapping) for v in value.values())
            for where, each in (value.items() if per_type else [("", value)]):
                kind = each.get("rope_type", each.get("type", "default" if key == "rope_parameters" else None))
                if kind not in ROPE_TYPES:
                    raise ValueError(f"{key}.{where + '.' if where else ''}rope_type: {kind!r} is not a known RoPE "
                                     f"scaling; known: {', '.join(sorted(ROPE_TYPES))}")

    def finish(self) -> None:
        extra = sorted(k for k in self.data if k not in self.read)
        if extra:
            raise ValueError(f"{extra[0]}: unsupported field for {self.arch} (the model it changes is not built; "
                             f"remove it or check its spelling)")


_REQUIRED = object()
_QWEN3 = frozenset({"Qwen3ForCausalLM", "Qwen3MoeForCausalLM"})
_SILU = {"silu": "silu", "swish": "silu"}
_GELU_TANH = {"gelu_pytorch_tanh": "gelu", "gelu": "gelu", "gelu_new": "gelu"}


def _heads(r: _Reader, hidden: int, head_dim: int = 0, defaults: tuple[int, int] | None = None
           ) -> tuple[int, int, int]:
    """(heads, kv_heads, head_dim); ``head_dim`` is the class's default (0: hidden / heads), ``defaults`` its
    (heads, kv_heads) (None: heads required, kv_heads = heads)."""
    heads = r.int("num_attention_heads", defaults and defaults[0])
    kv_heads = r.int("num_key_value_heads", defaults[1] if defaults else heads)
    if heads % kv_heads:
        raise ValueError(f"num_key_value_heads: {kv_heads} must divide num_attention_heads ({heads})")
    head_dim = r.int("head_dim", head_dim) if head_dim else r.opt_int("head_dim")
    if not head_dim:
        if hidden % heads:
            raise ValueError(f"num_attention_heads: {heads} must divide hidden_size ({hidden})")
        head_dim = hidden // heads
    return heads, kv_heads, head_dim


def _llama_like(r: _Reader, *, window_key: bool, qkv_bias: bool = False, tie: bool = False) -> dict[str, Any]:
    """The fields Llama, Mistral, Qwen2, Qwen3 and their MoE variants share."""
    hidden = r.int("hidden_size")
    qwen3 = r.arch in _QWEN3
    dense3 = r.arch == "Qwen3ForCausalLM"  # Qwen3Config's head_dim is 128; Qwen3MoeConfig's hidden / heads
    heads, kv_heads, head_dim = _heads(r, hidden, 128 if dense3 else 0)
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


def _windows(r: _Reader, layers: int) -> tuple[int, ...]:
    """Each layer's sliding window (0: global). Qwen2 and Qwen3: only with ``use_sliding_window``, from layer
    ``max_window_layers`` on; Qwen3-MoE: every layer (``max_window_layers`` read, unused, as transformers does)."""
    window = r.opt_int("sliding_window")
    if not r.arch.startswith(("Qwen2", "Qwen3")):
        return (window,) * layers if window else ()
    first = r.int("max_window_layers", 28, minimum=0)
    on = r.bool("use_sliding_window", False)
    if r.arch in _QWEN3:
        window = window if "sliding_window" in r.data else 4096  # Qwen3's default (Qwen2's is null)
        first = 0 if r.arch == "Qwen3MoeForCausalLM" else first
    return tuple(window if on and i >= first else 0 for i in range(layers))


def _llama(r: _Reader) -> LM:
    return LM(r.arch, ffn=r.int("intermediate_size"), **_llama_like(r, window_key=r.arch != "LlamaForCausalLM",
                                                                   qkv_bias=r.arch == "Qwen2ForCausalLM"))


def _mixtral(r: _Reader) -> LM:
    base = _llama_like(r, window_key=True)
    ffn = r.int("intermediate_size")
    moe = MoE(r.int("num_local_experts", 8), r.int("num_experts_per_tok", 2), ffn,
              sparse_layers=frozenset(range(base["layers"])))
    return LM(r.arch, ffn=ffn, moe=moe, **base)


def _qwen_moe(r: _Reader) -> LM:
    """Qwen2-MoE (q/k/v biases, a sigmoid-gated shared expert) and Qwen3-MoE (Qwen3's attention, no shared
    expert); each class's defaults (Qwen1.5-MoE-A2.7B's and Qwen3-30B-A3B's sizes)."""
    qwen3 = r.arch == "Qwen3MoeForCausalLM"
    base = _llama_like(r, window_key=True, qkv_bias=not qwen3)
    experts = r.int("num_experts", 128 if qwen3 else 60)
    step = r.int("decoder_sparse_step", 1)
    dense = r.int_list("mlp_only_layers")
    sparse = frozenset(i for i in range(base["layers"]) if i not in dense and (i + 1) % step == 0)
    r.bool("norm_topk_prob", False)  # renormalising the k weights (2k FLOPs a token): not counted
    top_k, ffn = (8, 768) if qwen3 else (4, 1408)
    shared = 0 if qwen3 else r.int("shared_expert_intermediate_size", 5632, minimum=0)
    moe = MoE(experts, r.int("num_experts_per_tok", top_k), r.int("moe_intermediate_size", ffn), shared_ffn=shared,
              sparse_layers=sparse, router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"))
    return LM(r.arch, ffn=r.int("intermediate_size", 6144 if qwen3 else 5632), moe=moe, **base)


def _gemma2(r: _Reader) -> LM:
    hidden = r.int("hidden_size")
    heads, kv_heads, head_dim = _heads(r, hidden, 256)
    layers = r.int("num_hidden_layers")
    r.rope_scaling()
    r.require("attention_bias", False, "Gemma-2's projections have no bias")
    act = r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_TANH)
    r.choice("hidden_act", "gelu_pytorch_tanh", _GELU_TANH)
    window = r.int("sliding_window", 4096)
    return LM(r.arch, vocab=r.int("vocab_size"), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=r.int("intermediate_size"), eps=r.float("rms_norm_eps", 1e-6), act=act,
              tied=r.bool("tie_word_embeddings", True),
              windows=tuple(0 if i % 2 else window for i in range(layers)),  # even layers local, odd global
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
    act = r.choice("hidden_activation", "gelu_pytorch_tanh", _GELU_TANH)
    window = r.int("sliding_window", 4096)
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
    hidden = r.int("hidden_size")
    heads, kv_heads, head_dim = _heads(r, hidden)
    layers = r.int("num_hidden_layers")
    r.rope_scaling()
    r.require("partial_rotary_factor", 1.0, "Phi-3 rotates whole heads")
    window = r.opt_int("sliding_window")
    return LM(r.arch, vocab=r.int("vocab_size", 32064), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size"), eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False),
              windows=(window,) * layers if window else (), fused_qkv=True, fused_gate_up=True, style="phi3",
              attn_dropout=r.prob("attention_dropout", 0.0), resid_dropout=r.prob("resid_pdrop", 0.0),
              embd_dropout=r.prob("embd_pdrop", 0.0))


def _opt(r: _Reader) -> LM:
    hidden = r.int("hidden_size")
    heads = r.int("num_attention_heads")
    if hidden % heads:
        raise ValueError(f"num_attention_heads: {heads} must divide hidden_size ({hidden})")
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


def _gpt2(r: _Reader) -> LM:
    hidden = r.int("n_embd", 768)
    heads = r.int("n_head", 12)
    if hidden % heads:
        raise ValueError(f"n_head: {heads} must divide n_embd ({hidden})")
    r.require("add_cross_attention", False, "a decoder-only GPT-2 is built")
    return LM(r.arch, vocab=r.int("vocab_size", 50257), hidden=hidden, layers=r.int("n_layer", 12), heads=heads,
              kv_heads=heads, head_dim=hidden // heads, ffn=r.opt_int("n_inner") or 4 * hidden,
              eps=r.float("layer_norm_epsilon", 1e-5), norm="layernorm",
              act=r.choice("activation_function", "gelu_new", {"gelu_new": "gelu", "gelu": "gelu", "relu": "relu"}),
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
priced as every router's), the auxiliary loss, the multi-token-prediction module (transformers does not build it),
RoPE's interleaving, and the ``head_dim`` some configs write (qk_rope_head_dim)."""


def _deepseek(r: _Reader) -> LM:
    """DeepSeek-V2 / V3 (transformers' modeling_deepseek_v2/_v3): multi-head latent attention (:class:`MLA`), the
    first ``first_k_dense_replace`` layers dense and then every ``moe_layer_freq``-th an MoE of ``n_routed_experts``
    experts plus ``n_shared_experts`` always-on ones (one MLP of their summed width), RMSNorm, untied head."""
    defaults = _DEEPSEEK_V3 if r.arch == "DeepseekV3ForCausalLM" else {}

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
    moe = MoE(experts, size("num_experts_per_tok"), ffn, shared_ffn=size("n_shared_experts", 0) * ffn,
              sparse_layers=sparse, router_names=("mlp", "gate"),
              expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False)
    return LM(r.arch, vocab=size("vocab_size"), hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
              head_dim=mla.nope_dim + mla.rope_dim, ffn=size("intermediate_size"), eps=r.float("rms_norm_eps", 1e-6),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe, mla=mla,
              attn_dropout=r.prob("attention_dropout", 0.0))


def _layer_windows(r: _Reader, layers: int, window: int, full: Callable[[int], bool]) -> tuple[int, ...]:
    """Each layer's window from ``layer_types`` ("sliding_attention": ``window``, "full_attention": 0), or where a
    config has none, from the class's pattern (``full(i)``: layer i attends to every token)."""
    kinds = r._get("layer_types", None)
    if kinds is None:
        kinds = ["full_attention" if full(i) else "sliding_attention" for i in range(layers)]
    if (not isinstance(kinds, list) or len(kinds) != layers
            or not set(kinds) <= {"sliding_attention", "full_attention"}):
        raise ValueError(f"layer_types: expected {layers} entries, each 'sliding_attention' or 'full_attention' "
                         f"(got {kinds!r})")
    return tuple(window if k == "sliding_attention" else 0 for k in kinds)


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
    window = r.int("sliding_window", 128)
    windows = _layer_windows(r, layers, window, lambda i: i % 2 == 1)
    ffn = r.int("intermediate_size", 2880)
    moe = MoE(r.int("num_local_experts", 128), r.int("num_experts_per_tok", 4), ffn,
              sparse_layers=frozenset(range(layers)), router_names=("mlp", "router"),
              expert_names=("gate_proj", "up_proj", "down_proj"), router_bias=True, expert_bias=True,
              fused_gate_up=True, expert_act="quick_gelu")
    return LM(r.arch, vocab=r.int("vocab_size", 201088), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=ffn, eps=r.float("rms_norm_eps", 1e-5), bias=(True,) * 4,
              tied=r.bool("tie_word_embeddings", False), moe=moe, attn_sinks=True,
              windows=windows, attn_dropout=r.prob("attention_dropout", 0.0))


def _nested(r: _Reader, key: str, read: Callable[[_Reader], Any]) -> Any:
    """A sub-config (``text_config``, ``vision_config``: a mapping, absent for the class's defaults) read by
    ``read``; its errors name the field under ``key`` (``text_config.hidden_size: ...``)."""
    value = r._get(key, None)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping of its fields (got {value!r})")
    sub = _Reader(value, r.arch)
    try:
        out = read(sub)
        sub.finish()
    except ValueError as e:
        raise ValueError(f"{key}.{e}") from None
    return out


def _siglip(r: _Reader) -> Vision:
    """SiglipVisionConfig's fields (its defaults: SigLIP base, 768 wide at 224²; every Gemma 3 config gives
    SigLIP-So400m's 1152 × 27 layers at 896² with patches of 14)."""
    hidden = r.int("hidden_size", 768)
    heads = r.int("num_attention_heads", 12)
    if hidden % heads:
        raise ValueError(f"num_attention_heads: {heads} must divide hidden_size ({hidden})")
    image, patch = r.int("image_size", 224), r.int("patch_size", 16)
    if image % patch:
        raise ValueError(f"patch_size: {patch} must divide image_size ({image})")
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
    if side * side != tokens or vision.grid % side:
        raise ValueError(f"mm_tokens_per_image: {tokens} must be a square whose side divides the "
                         f"{vision.grid}×{vision.grid} patch grid")
    r.read.update(("boi_token_index", "eoi_token_index", "image_token_index"))  # token ids
    return replace(text, arch=r.arch, vision=replace(vision, tokens=tokens),
                   tied=r.bool("tie_word_embeddings", text.tied))


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
    sparse = r.int_list("moe_layers") if r.data.get("moe_layers") is not None else frozenset(range(step - 1, layers,
                                                                                                   step))
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
    moe = MoE(r.int("num_local_experts", 16), r.int("num_experts_per_tok", 1), ffn, shared_ffn=ffn,
              sparse_layers=sparse, router_names=("feed_forward", "router"),
              expert_names=("gate_proj", "up_proj", "down_proj"), shared_gate=False, fused_gate_up=True,
              shared_name="shared_expert")
    return LM(r.arch, vocab=r.int("vocab_size", 202048), hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
              head_dim=head_dim, ffn=r.int("intermediate_size_mlp", 16384), eps=r.float("rms_norm_eps", 1e-5),
              act=r.choice("hidden_act", "silu", _SILU), tied=r.bool("tie_word_embeddings", False), moe=moe,
              windows=tuple(chunk if k == "chunked_attention" else 0 for k in kinds), nope_layers=nope,
              qk_l2norm=r.bool("use_qk_norm", True), mlp_name="feed_forward",
              attn_dropout=r.prob("attention_dropout", 0.0))


def _llama4_vision_config(r: _Reader) -> Vision:
    """Llama4VisionConfig's fields (its defaults; the published checkpoints give 1408 wide at 336² with patches of
    14, an adapter of 4096 / 4096 and ``vision_output_dim`` 4096). The MLP's GELU is exact whatever ``hidden_act``
    says (transformers builds nn.GELU())."""
    hidden, heads = r.int("hidden_size", 768), r.int("num_attention_heads", 16)
    if hidden % heads:
        raise ValueError(f"num_attention_heads: {heads} must divide hidden_size ({hidden})")
    image, patch = r.int("image_size", 448), r.int("patch_size", 14)
    if image % patch:
        raise ValueError(f"patch_size: {patch} must divide image_size ({image})")
    ratio = r.float("pixel_shuffle_ratio", 0.5)
    fold = round(1 / ratio) if ratio else 0
    if fold < 1 or abs(fold * ratio - 1) > 1e-9 or (image // patch) % fold:
        raise ValueError(f"pixel_shuffle_ratio: {ratio} must be 1/n for an n dividing the {image // patch}-patch grid")
    ffn = r.int("intermediate_size", 5632)
    if ffn != hidden * fold * fold:  # the adapter's fc1 takes intermediate_size features (the shuffled width)
        raise ValueError(f"intermediate_size: {ffn} must equal the pixel-shuffled width hidden_size / "
                         f"pixel_shuffle_ratio² = {hidden * fold * fold}")
    adapter = (r.int("projector_input_dim", 4096), r.int("projector_output_dim", 4096))
    out = r.int("vision_output_dim", 7680)
    if out != adapter[1]:
        raise ValueError(f"vision_output_dim: {out} must equal projector_output_dim ({adapter[1]}), the projector's "
                         f"input")
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
    ``images`` counts 336² tiles (the processor cuts an image into tiles and adds a global one)."""
    text = _nested(r, "text_config", _llama4)
    vision = _nested(r, "vision_config", _llama4_vision_config)
    r.read.update(("boi_token_index", "eoi_token_index", "image_token_index"))  # token ids
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


def _qwen3_next(r: _Reader) -> LM:
    """Qwen3-Next (transformers' Qwen3NextConfig defaults: Qwen3-Next-80B-A3B's sizes): three Gated DeltaNet layers
    (:class:`LinearAttn`) to each gated full-attention layer (``layer_types``, or every ``full_attention_interval``-th
    full: q_proj of twice the heads' width, the second half of each head a sigmoid gate on its output; QK-norm; RoPE
    on ``partial_rotary_factor`` of each head, priced on the whole head), and Qwen2-MoE's block in every layer (a
    softmax router over ``num_experts``, top ``num_experts_per_tok``, a sigmoid-gated shared expert); the
    RMSNorms' weights are zero-centred (1 + w: the same cost)."""
    hidden = r.int("hidden_size", 2048)
    heads, kv_heads, head_dim = _heads(r, hidden, 256, (16, 2))
    layers = r.int("num_hidden_layers", 48)
    r.rope_scaling()
    r.require("attention_bias", False, "Qwen3-Next's projections have no bias")
    r.float("partial_rotary_factor", 0.25)
    interval = r.int("full_attention_interval", 4)
    kinds = r._get("layer_types", None)
    if kinds is None:
        kinds = ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(layers)]
    if not isinstance(kinds, list) or len(kinds) != layers or not set(kinds) <= {"linear_attention", "full_attention"}:
        raise ValueError(f"layer_types: expected {layers} entries, each 'linear_attention' or 'full_attention' "
                         f"(got {kinds!r})")
    linear = LinearAttn(r.int("linear_num_key_heads", 16), r.int("linear_num_value_heads", 32),
                        r.int("linear_key_head_dim", 128), r.int("linear_value_head_dim", 128),
                        r.int("linear_conv_kernel_dim", 4),
                        frozenset(i for i, k in enumerate(kinds) if k == "linear_attention"))
    if linear.value_heads % linear.key_heads:
        raise ValueError(f"linear_num_key_heads: {linear.key_heads} must divide linear_num_value_heads "
                         f"({linear.value_heads})")
    step = r.int("decoder_sparse_step", 1)
    dense = r.int_list("mlp_only_layers")
    experts = r.int("num_experts", 512, minimum=0)
    sparse = frozenset(i for i in range(layers) if experts and i not in dense and (i + 1) % step == 0)
    r.bool("norm_topk_prob", True)  # renormalising the k weights (2k FLOPs a token): not counted
    moe = MoE(max(experts, 1), r.int("num_experts_per_tok", 10), r.int("moe_intermediate_size", 512),
              shared_ffn=r.int("shared_expert_intermediate_size", 512, minimum=0), sparse_layers=sparse,
              router_names=("mlp", "gate"), expert_names=("gate_proj", "up_proj", "down_proj"))
    return LM(r.arch, vocab=r.int("vocab_size", 151936), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 5632),
              eps=r.float("rms_norm_eps", 1e-6), act=r.choice("hidden_act", "silu", _SILU),
              tied=r.bool("tie_word_embeddings", False), qk_norm=True, moe=moe if sparse else None, linear=linear,
              attn_gate=True, attn_dropout=r.prob("attention_dropout", 0.0))


_NEMOTRON_H_PATTERN = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-"
"""NemotronHConfig's default ``hybrid_override_pattern`` (Nemotron-H-8B's 52 blocks)."""
_NEMOTRON_H_BLOCKS = {"M": "mamba", "*": "attention", "-": "mlp", "mamba": "mamba", "linear_attention": "mamba",
                      "attention": "attention", "full_attention": "attention", "mlp": "mlp"}
_NEMOTRON_H_IGNORED = (
    "time_step_min", "time_step_max", "time_step_floor", "time_step_limit", "time_step_rank", "rescale_prenorm_residual",
    "residual_in_fp32", "use_mamba_kernels", "num_logits_to_keep", "hidden_dropout", "expand", "attention_bias",
    "n_routed_experts", "n_shared_experts", "moe_intermediate_size", "moe_shared_expert_intermediate_size",
    "num_experts_per_tok", "routed_scaling_factor", "n_group", "topk_group", "norm_topk_prob", "moe_latent_size",
    "num_nextn_predict_layers", "mtp_hybrid_override_pattern")
"""Nemotron-H fields with no op of their own: dt's initialisation range and clamp, residual precision and
initialisation, kernel switches, ``expand`` (the mixer's width is heads × head_dim), ``attention_bias`` (the
attention projections have none whatever it says), and the MoE and multi-token-prediction fields of configs whose
pattern has no MoE block."""
_STATE_DTYPES = {"auto": None, **TORCH_DTYPES}


def _nemotron_h(r: _Reader) -> LM:
    """Nemotron-H (transformers' NemotronHForCausalLM; NemotronHConfig's defaults: Nemotron-H-8B's sizes): every layer
    one block, x + mixer(RMSNorm(x)), its kind from ``hybrid_override_pattern`` (M Mamba-2, * attention, - MLP) or
    ``layers_block_type``: Mamba-2 mixers (:class:`Mamba2`), GQA attention without RoPE or biases, MLPs
    up_proj → ReLU² → down_proj; module names ``backbone.embeddings``, ``backbone.layers.N.norm`` / ``.mixer``,
    ``backbone.norm_f``; untied head."""
    layers = r.int("num_hidden_layers", 52)
    kinds = r._get("layers_block_type", None)
    if kinds is None:
        kinds = list(r._get("hybrid_override_pattern", _NEMOTRON_H_PATTERN))
    if not isinstance(kinds, list) or len(kinds) != layers or any(k not in _NEMOTRON_H_BLOCKS for k in kinds):
        raise ValueError(f"hybrid_override_pattern: expected {layers} blocks, each M (Mamba-2), * (attention) or - "
                         f"(MLP) (got {kinds!r}; MoE blocks are not modelled)")
    blocks = tuple(_NEMOTRON_H_BLOCKS[k] for k in kinds)
    hidden = r.int("hidden_size", 4096)
    heads, kv_heads = r.int("num_attention_heads", 32), r.int("num_key_value_heads", 8)
    head_dim = r.int("head_dim", r.int("attention_head_dim", 128))  # transformers' name, NVIDIA's remote code's
    if heads % kv_heads:
        raise ValueError(f"num_key_value_heads: {kv_heads} must divide num_attention_heads ({heads})")
    eps = r.float("rms_norm_eps", 1e-5)  # both spellings occur (NVIDIA's configs write both, equal)
    eps = r.float("layer_norm_epsilon", eps)
    r.read.update(_NEMOTRON_H_IGNORED)
    r.choice("mamba_hidden_act", "silu", _SILU)
    r.choice("mlp_hidden_act", "relu2", {"relu2": "relu2"})
    for key in ("use_bias", "mamba_proj_bias", "mlp_bias"):
        r.require(key, False, "Nemotron-H's projections have no bias")
    r.require("sliding_window", None, "Nemotron-H's attention is global")
    mamba = Mamba2(r.int("mamba_num_heads", 128), r.int("mamba_head_dim", 64), r.int("ssm_state_size", 128),
                   r.int("n_groups", 8), r.int("conv_kernel", 4), r.int("chunk_size", 128),
                   r.bool("use_conv_bias", True), frozenset(i for i, k in enumerate(blocks) if k == "mamba"),
                   r.choice("mamba_ssm_cache_dtype", "auto", _STATE_DTYPES))
    return LM(r.arch, vocab=r.int("vocab_size", 131072), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 21504),
              eps=eps, act="relu2", gated=False, tied=r.bool("tie_word_embeddings", False),
              rope=False, style="nemotron_h", mamba=mamba, blocks=blocks,
              attn_dropout=r.prob("attention_dropout", 0.0))


_GRANITE_IGNORED = ("residual_multiplier", "attention_multiplier", "router_aux_loss_coef", "init_method",
                    "normalization_function", "mamba_expand")
"""Granite 4.0-H fields with no op of their own: the residual multiplier (folded into the projections before the
residual adds), the attention multiplier (the scores' scale, replacing 1/√d), the router's loss, initialisation, and
``mamba_expand`` (the mixer's width is heads × head_dim)."""


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
    d_head = r._get("mamba_d_head", "auto")
    if d_head == "auto":
        d_head = r.int("mamba_expand", 2) * hidden // mamba_heads
    elif isinstance(d_head, bool) or not isinstance(d_head, int) or d_head < 1:
        raise ValueError(f"mamba_d_head: expected an integer ≥ 1 or 'auto' (got {d_head!r})")
    r.require("mamba_proj_bias", False, "Granite's Mamba projections have no bias")
    mamba = Mamba2(mamba_heads, d_head, r.int("mamba_d_state", 256), r.int("mamba_n_groups", 1),
                   r.int("mamba_d_conv", 4), r.int("mamba_chunk_size", 256), r.bool("mamba_conv_bias", True),
                   frozenset(i for i, k in enumerate(kinds) if k == "mamba"))
    experts, shared = r.int("num_local_experts", 8, minimum=0), r.int("shared_intermediate_size", 1024)
    moe = None
    if experts:
        moe = MoE(experts, r.int("num_experts_per_tok", 2), r.int("intermediate_size", 11008), shared_ffn=shared,
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
    Delta Attention layers (``kda_layers``, 1-based) and the others are multi-head latent attention without RoPE
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
        kda = sub.int_list("kda_layers")
        sub.int_list("full_attn_layers")  # the complement of kda_layers
        if not kda <= set(range(1, layers + 1)):
            raise ValueError(f"kda_layers: expected 1-based layer numbers up to {layers} (got {sorted(kda)})")
        heads, dim = sub.int("num_heads", 32), sub.int("head_dim", 128)
        linear = LinearAttn(heads, heads, dim, dim, sub.int("short_conv_kernel_size", 4),
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
    moe = MoE(experts, r.int("num_experts_per_token", 8), ffn, shared_ffn=r.int("num_shared_experts", 1) * ffn,
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
    d_ssm = d_ssm or r.int("mamba_expand", 2) * hidden
    d_head = r._get("mamba_d_head", "auto")
    d_head = d_ssm // mamba_heads if d_head == "auto" else d_head
    if isinstance(d_head, bool) or not isinstance(d_head, int) or d_head * mamba_heads != d_ssm:
        raise ValueError(f"mamba_d_head: {d_head!r} × mamba_n_heads ({mamba_heads}) must be mamba_d_ssm ({d_ssm})")
    mamba = Mamba2(mamba_heads, d_head, r.int("mamba_d_state", 256), r.int("mamba_n_groups", 1),
                   r.int("mamba_d_conv", 4), r.int("mamba_chunk_size", 256), r.bool("mamba_conv_bias", True),
                   frozenset(), in_bias=r.bool("mamba_proj_bias", False), out_bias=r.bool("projectors_bias", False),
                   norm=r.bool("mamba_rms_norm", False))
    bias = r.bool("attention_bias", False)
    return LM(r.arch, vocab=r.int("vocab_size", 128000), hidden=hidden, layers=layers, heads=heads,
              kv_heads=kv_heads, head_dim=head_dim, ffn=r.int("intermediate_size", 14336),
              eps=r.float("rms_norm_eps", 1e-5), act=r.choice("hidden_act", "silu", _SILU), bias=(bias,) * 4,
              mlp_bias=r.bool("mlp_bias", False), tied=r.bool("tie_word_embeddings", False), mamba=mamba,
              parallel_mamba=True, style="falcon_h1", mlp_name="feed_forward",
              embed_scale=r.float("embedding_multiplier", 1.0) != 1.0,
              logits_scale=r.float("lm_head_multiplier", 1.0) != 1.0, attn_dropout=r.prob("attention_dropout", 0.0))


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
    "GptOssForCausalLM": _gpt_oss,
    "Gemma3ForCausalLM": _gemma3,
    "Gemma3ForConditionalGeneration": _gemma3_vision,
    "Llama4ForCausalLM": _llama4,
    "Llama4ForConditionalGeneration": _llama4_vision,
    "Qwen3NextForCausalLM": _qwen3_next,
    "NemotronHForCausalLM": _nemotron_h,
    "GraniteMoeHybridForCausalLM": _granite_hybrid,
    "KimiLinearForCausalLM": _kimi_linear,
    "FalconH1ForCausalLM": _falcon_h1,
}
"""Supported ``architectures`` and their readers."""


def parse(data: Mapping[str, Any]) -> LM:
    """The :class:`LM` of a Hugging Face config (``ValueError`` naming the first unsupported field)."""
    archs = data.get("architectures")
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise ValueError(f"architectures: expected a list of one architecture name (got {archs!r}); supported: "
                         f"{', '.join(READERS)}")
    arch = archs[0]
    if arch not in READERS:
        raise ValueError(f"architectures: {arch!r} is not supported; supported: {', '.join(READERS)}")
    r = _Reader(data, arch)
    lm = READERS[arch](r)
    r.finish()
    return lm


__all__ = ["IGNORED", "LM", "LinearAttn", "MLA", "Mamba2", "MoE", "READERS", "Vision", "load_config", "parse"]
