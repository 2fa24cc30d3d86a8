"""The pieces every Hugging Face config reader shares (:mod:`.hfconfig`, :mod:`.hfhybrid`): the model shape
:class:`LM` that :mod:`.hf` builds and its parts (:class:`MoE`, :class:`MLA`, :class:`LinearAttn`, :class:`Mamba2`,
:class:`Vision`), the typed field reader that remembers what it read, and the readers' small common helpers."""

from __future__ import annotations

import bisect
import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import KeyPairError, not_utf8
from ..units import INT_WEIGHT_BITS

COMMON_IGNORED = frozenset({
    "architectures", "model_type", "torch_dtype", "transformers_version", "bos_token_id", "eos_token_id",
    "pad_token_id", "initializer_range", "init_std", "use_cache", "attention_dropout", "hidden_dropout", "dropout",
    "activation_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop", "_name_or_path", "rope_theta",
    "rope_scaling", "max_position_embeddings", "original_max_position_embeddings", "output_router_logits",
    "router_aux_loss_coef", "router_jitter_noise", "pretraining_tp", "tokenizer_class", "prefix", "cache_implementation",
    "query_pre_attn_scalar", "id2label", "label2id", "task_specific_params",
    "_attn_implementation", "_attn_implementation_autoset", "auto_map", "use_bfloat16", "dtype",
}) | frozenset({  # PretrainedConfig's own attributes and generation defaults (GENERIC_FIELDS)
    "return_dict", "output_hidden_states", "output_attentions", "torchscript", "tf_legacy_loss", "pruned_heads",
    "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder", "cross_attention_hidden_size",
    "add_cross_attention", "tie_encoder_decoder", "finetuning_task", "num_labels", "problem_type", "sep_token_id",
    "decoder_start_token_id", "xla_device", "_commit_hash", "gradient_checkpointing", "_num_labels", "output_past",
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
    "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
})
"""Fields any architecture's config may carry that are read only to check their value (RoPE scaling, activations,
windows) or change no op graph (ids, versions, dtypes, dropouts, initialisers). A field of one family only (GPT-2's
``summary_*``, OPT's ``layerdrop``) is ignored by that family's reader alone (``_Reader.ignore``), so on another
architecture it is an unsupported field, as any unknown one (probe p126 #2).

The second set is transformers' ``PretrainedConfig`` itself (src/transformers/configuration_utils.py, 4.4x, as in
ROCm/transformers at 49170ba): ``__init__`` pops ``return_dict``, ``output_hidden_states``, ``output_attentions``,
``torchscript``, ``tf_legacy_loss``, ``pruned_heads``, ``chunk_size_feed_forward``, ``is_encoder_decoder``,
``is_decoder``, ``cross_attention_hidden_size``, ``add_cross_attention``, ``tie_encoder_decoder``,
``finetuning_task``, ``num_labels``, ``problem_type``, ``sep_token_id``, ``decoder_start_token_id``,
``xla_device`` (deprecated, ignored) and ``_commit_hash`` on every class, and the 25 generation defaults of
``_get_global_generation_defaults`` (``max_length`` … ``begin_suppress_tokens``: read by ``generate()``, not by
the model); any other key it keeps as an attribute, so the legacy ``_num_labels`` (num_labels' old name),
``output_past`` (use_cache's) and ``gradient_checkpointing`` of older saved configs (distilgpt2's) load too (probe
p240 #1: these were refused as "the model it changes is not built"). A config saved with ``use_diff=False`` carries
them all. Of these, the two whose value can change the model are checked (:data:`GENERIC_VALUES`); the rest change
no op graph of a causal LM (GPT-2's reader still requires ``add_cross_attention`` false)."""

GENERIC_VALUES = {
    "pruned_heads": ({}, "transformers' init_weights prunes the heads it names, a model with fewer heads than the "
                         "config's sizes, which is not built"),
    "gradient_checkpointing": (False, "transformers' post_init enables activation recomputation in training from "
                                      "it, which the hf workload does not model; it changes no inference"),
}
"""The generic fields (:data:`COMMON_IGNORED`) with a value that changes the model or its training, each with the
one accepted value (absent or null counts as it) and why another is refused."""

MAX_SIZE = 2**31 - 1
"""The largest integer a config's size field may hold: cuBLAS's GEMM API (``cublasGemmEx``, ``cublasLtMatmul``'s
matrix layouts before CUDA 12's ``_64`` variants) takes each of m, n, k as a 32-bit ``int``, so a hidden size,
width or vocabulary past 2^31 − 1 is no matrix transformers' ``nn.Linear`` runs on a GPU; the largest published
sizes are far below it (Llama 3.1 405B's hidden 16,384; Gemma 3's vocabulary 262,208). A bigger value is refused
at its key (probe p126 #3: ``hidden_size: 10**30`` was taken, and the run blamed the arch's memory capacity)."""

ROPE_TYPES = frozenset({"default", "linear", "dynamic", "yarn", "longrope", "su", "llama3", "mrope"})
"""RoPE scaling types: each only rescales the rotary frequencies (precomputed), so none changes the ops (Qwen-VL's
"mrope" takes each frequency's angle from one of three position ids)."""

ROPE_REQUIRED = {
    "linear": ("factor",), "dynamic": ("factor",), "yarn": ("factor",), "longrope": ("short_factor", "long_factor"),
    "llama3": ("factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"),
}
"""The keys each RoPE type's mapping must hold beside its type, as transformers' ``rope_config_validation``
requires them (modeling_rope_utils.py, huggingface/transformers 0044e3b: ``_validate_linear_scaling_rope_parameters``
and the dynamic and yarn ones ``required_keys = {"rope_type", "factor"}``, longrope's ``{"rope_type",
"short_factor", "long_factor"}``, llama3's ``{"rope_type", "factor", "original_max_position_embeddings",
"low_freq_factor", "high_freq_factor"}``; ``_check_received_keys`` raises ``KeyError("Missing required keys in
`rope_scaling` ...")``, so such a config loads in neither transformers nor vLLM). "default" needs none; "su" and
"mrope" have no validation function there."""


CONTEXT_DEFAULTS = {"Gemma3ForConditionalGeneration": 131_072, "Gemma3ForCausalLM": 131_072}
"""The context (``max_position_embeddings``) transformers' config class gives a decoder whose config omits it, by
architecture, as ``from_pretrained`` fills it and vLLM's ``_get_and_verify_max_len`` then reads it (probe p205 #3:
Gemma 3 27B's published ``text_config`` has none). Only classes whose default was read: Gemma3TextConfig
(huggingface/transformers src/transformers/models/gemma3/configuration_gemma3.py at 008f5c8:
``max_position_embeddings=131_072``), the ``text_config`` of Gemma3ForConditionalGeneration and the config of
Gemma3ForCausalLM. Not the class defaults of presets that leave the field out of a published config that has it
(those defaults are not the models' contexts)."""

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
    gated: bool = True  # False: every expert (and the shared one) is up → activation → down (Nemotron-H's ReLU²)


@dataclass(frozen=True)
class Quant:
    """How a checkpoint stores its weights, from its config's ``quantization_config`` (:func:`quantization`): the
    linear weights' dtype (``weight``; None: the compute dtype) and the MoE experts' (``expert``; None: ``weight``),
    one scale per ``group_size`` weights of a group-quantised dtype, and the modules left in the compute dtype
    (``keep``: dotted module names or their tails, ``*`` one name part). ``activation``: the dtype the quantised
    GEMMs' inputs are quantised to at run time (W8A8; None: weight-only, the compute dtype), which a workload's own
    ``activation_dtype`` overrides. ``known`` False: a ``method`` whose storage is not modelled (refused unless the
    workload sets the weights' dtype itself). ``zero_points``: an asymmetric scheme, a zero point stored per group
    beside each scale (AWQ; GPTQ ``sym: false``: :data:`accelsim.units.ZERO_POINT_WEIGHTS`)."""

    method: str
    weight: str | None = None
    expert: str | None = None
    group_size: int = 0
    keep: tuple[str, ...] = ()
    known: bool = True
    activation: str | None = None
    zero_points: bool = False


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
class DSA:
    """DeepSeek-V3.2's sparse attention (DeepSeek-V3.2 report, arXiv:2512.02556; transformers'
    DeepseekV32Indexer): a lightning indexer of ``heads`` heads of ``head_dim`` (queries from MLA's query latent,
    one key a token, RoPE on MLA's rope width of each) scores every earlier token (ReLU, a learned weight per head,
    summed over heads); each query then attends to its ``topk`` best-scored tokens only."""

    heads: int
    head_dim: int
    topk: int


@dataclass(frozen=True)
class LinearAttn:
    """Qwen3-Next's Gated DeltaNet layers (transformers' Qwen3NextGatedDeltaNet; Yang et al., "Gated Delta Networks",
    arXiv:2412.06464): per token a fixed-size state of ``value_heads`` × ``key_dim`` × ``value_dim`` replaces the
    growing KV cache. ``in_proj_qkvz`` gives ``key_heads`` query and key heads of ``key_dim`` and ``value_heads``
    value and gate heads of ``value_dim``, ``in_proj_ba`` each value head's β and decay; q, k and v pass a causal
    depthwise conv of ``conv_kernel`` taps (SiLU); the delta rule runs on ``layers``; a gated RMSNorm and
    ``out_proj`` follow. A prompt runs FLA's chunked algorithm in chunks of ``chunk`` tokens. ``state_dtype``: Gated
    DeltaNet's recurrent state cache dtype (None: the model's, vLLM's ``gated_delta_net_state_dtype`` under
    ``mamba_ssm_cache_dtype`` auto; Qwen3-Next's ``mamba_ssm_cache_dtype``); KDA's state is fp32 whatever it says."""

    key_heads: int
    value_heads: int
    key_dim: int
    value_dim: int
    conv_kernel: int
    layers: frozenset[int]
    chunk: int = 64  # FLA's chunk_gated_delta_rule block (BT)
    kind: str = "gdn"  # "kda": Kimi Delta Attention (per-channel decay; see :func:`.ssm.kimi_delta_attention`);
    # "lightning": MiniMax's lightning attention (no conv, a fixed per-head decay; :func:`.ssm.lightning_attention`)
    state_dtype: str | None = None

    @property
    def conv_channels(self) -> int:
        """Channels of the causal conv: q and k (key_heads · key_dim each) and v (value_heads · value_dim)."""
        return 2 * self.key_heads * self.key_dim + self.value_heads * self.value_dim


@dataclass(frozen=True)
class ShortConv:
    """LFM2's gated short convolution (transformers' Lfm2ShortConv): ``in_proj`` gives B, C and x of the width,
    B · x passes a causal depthwise conv of ``taps`` taps (no activation), C gates its output, ``out_proj``; on
    ``layers``; a decode step keeps each channel's last taps − 1 inputs."""

    taps: int
    bias: bool
    layers: frozenset[int]


@dataclass(frozen=True)
class Mamba2:
    """Mamba-2 mixers (transformers' Mamba2Mixer as Nemotron-H and Granite 4.0-H use it; Dao and Gu, arXiv:2405.21060):
    ``heads`` heads of ``head_dim`` channels, each with a ``head_dim`` × ``state`` state; B and C in ``groups``
    groups of ``state``; a causal conv of ``conv_kernel`` taps over x, B and C; prompts in SSD chunks of ``chunk``
    tokens; on ``layers``. ``state_dtype``: the state cache's dtype (None: the model's; ``mamba_ssm_cache_dtype``,
    which every Mamba-2 model's reader takes)."""

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
class Mamba1:
    """Mamba-1 mixers (transformers' MambaMixer; Gu and Dao, "Mamba", arXiv:2312.00752): ``inner`` channels (expand ×
    hidden), each with a ``state``-wide state; x and the gate z from ``in_proj``; a causal conv of ``conv_kernel``
    taps over x; ``x_proj`` gives dt's low-rank input (``dt_rank``) and B and C; ``dt_proj`` expands dt; the
    selective scan; on ``layers``. ``bias``: in_proj's and out_proj's biases. ``state_dtype``: the SSM state cache's
    dtype (None: the model's; ``mamba_ssm_cache_dtype``, which MambaForCausalLM, FalconMamba and Jamba read, as vLLM's
    ``MambaStateDtypeCalculator.mamba1_state_dtype`` does); the conv's taps stay in the model's dtype."""

    inner: int
    state: int
    dt_rank: int
    conv_kernel: int
    conv_bias: bool
    bias: bool
    layers: frozenset[int]
    state_dtype: str | None = None
    inner_norms: bool = False  # Jamba: RMSNorms on dt's input, B and C (dt_layernorm, b_layernorm, c_layernorm)
    norm_weights: bool = True  # False: those norms have no weight (FalconMamba's, eps mixer_rms_eps)
    norm_eps: float = 1e-6


@dataclass(frozen=True)
class Vision:
    """An image encoder beside the decoder: each image of ``image``² pixels is cut into (image / patch)² patches that
    ``layers`` pre-LN encoder layers transform, then reduced to ``tokens`` soft tokens of the decoder's width.

    ``style`` "siglip": a SigLIP tower (transformers' SiglipVisionModel without its pooling head) and Gemma 3's
    projector, which average-pools the patch grid, RMS-norms and projects it (Gemma 3 technical report, section 2.1:
    a 400M SigLIP encoder at 896², 256 tokens an image). "llama4": Llama 4's vision model (a class token, 2-D RoPE
    in each layer's attention), whose pixel shuffle folds each 2 × 2 patches into one token of 4 × the width, a
    two-layer GELU MLP of widths ``adapter`` and a linear projector (transformers' Llama4VisionModel and
    Llama4MultiModalProjector; one 336² tile gives 144 tokens). "qwen2_5" / "qwen3": Qwen2.5-VL's and Qwen3-VL's
    vision transformers (transformers' Qwen2_5_VisionTransformerPretrainedModel, Qwen3VLVisionModel): an image of
    any size, resized by the processor to ``image``² (a multiple of patch × merge), cut into patches of ``temporal``
    frames of patch², each ``merge`` × ``merge`` patches folded into one token by the merger (``tokens`` =
    (grid / merge)²); Qwen2.5-VL attends within windows of ``window`` × ``window`` patches but on ``full_layers``,
    Qwen3-VL adds a learned table of ``positions`` rows (bilinearly resampled) and feeds the features of the
    ``deepstack`` layers, each through its own merger, into the first decoder layers. "clip": LLaVA's CLIP vision
    tower (CLIPVisionModel: a class token, learned positions, pre-LN layers with quick GELU) whose patch features
    (``tokens``: the grid², or with the class token) pass a two-layer projector (``projector_act``). "glm4v":
    GLM-4.1V's / GLM-4.5V's vision transformer (transformers' Glm4vVisionModel), Qwen-VL's patches, resizing and
    merge with a learned table of ``positions`` rows (bicubically resampled), RMSNorm layers whose SwiGLU MLP is
    ``ffn`` (the config's ``out_hidden_size``) wide, a ``merge`` × ``merge`` strided conv to the decoder's width and a
    merger whose SwiGLU MLP is ``merger_ffn`` wide. LLaVA's ``feature_layers``: the tower layers up to the config's
    ``vision_feature_layer`` (-2 of 24: 23), all vLLM builds (:meth:`to_feature_layer`)."""

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
    merge: int = 1  # Qwen-VL: patches along each side of one merged token
    temporal: int = 1  # Qwen-VL: frames in a patch (an image is repeated temporal_patch_size times)
    window: int = 0  # Qwen2.5-VL: patches along each side of an attention window (0: every layer attends fully)
    full_layers: frozenset[int] = frozenset()  # Qwen2.5-VL: the layers that attend over the whole image
    positions: int = 0  # Qwen3-VL: rows of the learned position table (0: none)
    deepstack: tuple[int, ...] = ()  # Qwen3-VL: encoder layers whose features go to decoder layers 0, 1, ...
    pixels: tuple[int, int] = (0, 0)  # Qwen-VL: the processor's (min_pixels, max_pixels) for resizing
    projector_act: str = "gelu"  # LLaVA: the projector MLP's activation and biases
    projector_bias: bool = True
    longest_edge: int = 0  # Pixtral: the processor's longest side (1540); larger images are scaled down to it
    attn_bias: bool = True  # InternViT: q / k / v biases (its output projection always has one)
    qk_norm: bool = False  # InternViT: an RMSNorm over each whole q and k projection
    norm: str = "layernorm"  # InternViT: "layernorm" or "rmsnorm"
    merger_ffn: int = 0  # GLM-4.1V: the merger's SwiGLU width (the vision config's intermediate_size)
    feature_layers: int = 0  # LLaVA: the layers up to vision_feature_layer's states (0: not a LLaVA tower)
    tiles: int = 1  # Llama 4: image² tiles an image is cut into, the global one included (:meth:`resized`)
    post_norm: bool = True  # CLIP: post_layernorm's weights held (vLLM's tower cut at the feature layer has none)

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
        if self.qwen_like:
            return "model.visual", "model.visual.merger"
        tower = "model.vision_model" if self.style == "llama4" else "model.vision_tower"
        return tower, "model.multi_modal_projector"

    @property
    def qwen_like(self) -> bool:
        """Qwen-VL's patches (``temporal`` frames of patch², as rows), resizing and merge: Qwen2.5-VL, Qwen3-VL,
        GLM-4.1V."""
        return self.style.startswith("qwen") or self.style == "glm4v"

    @property
    def image_tokens(self) -> int:
        """Soft tokens an image gives: ``tokens`` a tile, × Llama 4's ``tiles``."""
        return self.tokens * self.tiles

    @property
    def positions_taken(self) -> int:
        """Prompt positions an image takes: its soft tokens, and Pixtral's row breaks (each of the √tokens rows ends
        in an [IMG_BREAK], the last in [IMG_END]: ordinary text tokens). Llama 4's start, end and tile separator
        tokens (a few an image) are not counted."""
        return self.image_tokens + (math.isqrt(self.tokens) if self.style == "pixtral" else 0)

    @property
    def resizable(self) -> bool:
        """Whether an image's size changes what the encoder runs (Qwen-VL, Pixtral: the processor keeps it; Llama 4:
        it sets the tiles; the workload's ``image_size`` applies) or the processor resizes every image to the
        encoder's own (SigLIP, CLIP; InternVL's 448², as transformers' GotOcr2ImageProcessor with its default
        ``crop_to_patches`` False)."""
        return self.qwen_like or self.style in ("pixtral", "llama4")

    def to_feature_layer(self) -> Vision:
        """LLaVA's tower as vLLM builds it (llava.py ``init_vision_tower_for_llava``: "only up to the deepest
        required feature layer", ``num_hidden_layers_override``, no ``post_layernorm``): ``feature_layers`` layers;
        another encoder unchanged."""
        if not self.feature_layers or self.feature_layers == self.layers and not self.post_norm:
            return self
        return replace(self, layers=self.feature_layers, post_norm=False)

    def resized(self, side: int) -> Vision:
        """Qwen-VL (and GLM-4.1V) and Pixtral: this encoder for square images of ``side`` pixels, as the processor
        resizes them (Qwen's ``smart_resize``: the side rounded to a multiple of patch × merge, then scaled into
        [min_pixels, max_pixels] by its floating-point beta; GLM's is the same with the bounds on both frames'
        pixels, a side under patch × merge first scaled up to it; Pixtral's: at most
        ``longest_edge``, rounded up to a multiple of patch × merge). Llama 4: the tiles of transformers'
        Llama4ImageProcessorFast (:func:`llama4_tiles`)."""
        if self.style == "llama4":
            return replace(self, tiles=llama4_tiles(side, self.image))
        factor = self.patch * self.merge
        if self.style == "pixtral":  # Pixtral's processor: scaled down to the longest edge, then up to the factor
            out = math.ceil(min(side, self.longest_edge) / factor) * factor
            return replace(self, image=out, tokens=(out // factor) ** 2)
        if self.style == "glm4v" and side < factor:  # GLM's smart_resize scales a side under the factor up first
            side = int(side * (factor / side))
        out = max(factor, round(side / factor) * factor)
        low, high = self.pixels
        # transformers' smart_resize in its own floating-point steps (beta, then side / beta / factor), not the exact
        # √max_pixels: a 5000² image gives 5000 / beta = 3583.9999999999995 → 127 × 28 = 3556 (probe p264 #3);
        # GLM's (num_frames · h · w) / max_pixels with both frames is the same quotient as h · w over half the bound
        if out * out > high:
            beta = math.sqrt(side * side / high)
            out = max(factor, math.floor(side / beta / factor) * factor)
        elif out * out < low:
            beta = math.sqrt(low / (side * side))
            out = math.ceil(side * beta / factor) * factor
        grid = out // self.patch
        return replace(self, image=out, tokens=(grid // self.merge) ** 2)


LLAMA4_MAX_TILES = 16
"""Llama 4's processor: at most this many tiles an image (transformers' Llama4ImageProcessorFast ``max_patches``,
whose ``resize_to_max_canvas`` is False)."""


def llama4_tiles(side: int, tile: int, most: int = LLAMA4_MAX_TILES) -> int:
    """Tiles a square image of ``side`` pixels becomes in transformers' Llama4ImageProcessorFast: the canvases are
    the h × w grids of ``tile``² tiles with h·w ≤ ``most`` (``find_supported_resolutions``); a square image's scale
    to an h × w canvas is min(h, w)·tile / side, and ``get_best_fit`` takes the smallest scale ≥ 1 (none: the
    largest), then of the canvases at that scale the least area, so a k × k grid with k = min(⌈side / tile⌉,
    ⌊√most⌋) (the image resized no larger than it is, padded to the canvas). More than one tile adds a global tile
    (the whole image resized to one tile): 1024² → 4 × 4 + 1 = 17 tiles, 672² → 2 × 2 + 1 = 5, 336² → 1."""
    k = min(-(-side // tile), math.isqrt(most))
    return k * k + (k * k > 1)


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
    chunked: bool = False  # Llama 4: the windows are attention chunks (chunked attention), not sliding windows
    attn_softcap: float | None = None
    final_softcap: float | None = None
    sandwich_norms: bool = False  # Gemma-2's post-attention and pre/post-feed-forward norms
    qk_norm: bool = False  # Qwen3: RMSNorm (eps) over head_dim on each q and k head before RoPE
    embed_scale: bool = False  # Gemma: embeddings × √hidden
    proj_dim: int = 0  # OPT's word_embed_proj_dim when ≠ hidden (project_in / project_out)
    style: str = "llama"  # module names: a key of hf.STYLES
    moe: MoE | None = None
    mla: MLA | None = None  # DeepSeek's latent attention (heads, kv_heads and head_dim then describe its queries)
    dsa: DSA | None = None  # DeepSeek-V3.2: the indexer and top-k sparse latent attention
    attn_sinks: bool = False  # GPT-OSS: a learned logit per head joins each softmax (``self_attn.sinks``)
    vision: Vision | None = None  # Gemma 3 (4B-27B), Llama 4: the image encoder beside the decoder
    nope_layers: frozenset[int] = frozenset()  # Llama 4: layers whose attention has no RoPE
    qk_l2norm: bool = False  # Llama 4: a weightless RMS norm of each q and k head after RoPE (the RoPE layers)
    mlp_name: str = "mlp"  # the MLP's scope (Llama 4: feed_forward)
    linear: LinearAttn | None = None  # Qwen3-Next: the Gated DeltaNet layers (the others full attention)
    attn_gate: bool = False  # Qwen3-Next: q_proj also gives a gate, sigmoid(gate) · the attention's output
    mamba: Mamba2 | None = None  # Nemotron-H, Granite 4.0-H: the Mamba-2 layers
    mamba1: Mamba1 | None = None  # MambaForCausalLM: the Mamba-1 layers
    short_conv: ShortConv | None = None  # LFM2: the gated short-convolution layers
    logits_scale: bool = False  # Granite: the logits divided by logits_scaling (one elementwise pass)
    parallel_mamba: bool = False  # Falcon-H1: every layer's Mamba-2 mixer runs beside its attention, outputs added
    rotary_dim: int = 0  # partial rotary (GPT-NeoX's rotary_pct, Phi's partial_rotary_factor): features rotated
    # per head (0: all)
    parallel: str = ""  # GPT-J-style parallel attention and MLP, both added to the residual: "shared" (one norm
    # feeds both: Phi, Falcon-7B, Command R) or "separate" (a norm each: GPT-NeoX, Falcon-40B); "": one after the other
    post_norms: bool = False  # OLMo 2: no norm before a sublayer, one on its output before the residual add
    qk_norm_style: str = "rmsnorm"  # with qk_norm: its form (tlayers.QK_NORMS; "projection": OLMo 2's over the
    # whole q and k projections)
    norm_bias: bool = True  # a LayerNorm's bias (Command R's LayerNorms have none)
    norm_weights: bool = True  # False: LayerNorms without any parameter (OLMo 1's non-parametric ones)
    clip_qkv: bool = False  # OLMo 1: q, k and v clamped to ±clip_qkv after their projections (an elementwise pass each)
    head_bias: bool = False  # Phi: lm_head has a bias
    shared_reduce: bool = False  # Falcon (parallel): one all-reduce (and one dropout) of attention + MLP
    attn_resid_dropout: bool = True  # False: resid_dropout on the MLP output only (StableLM's hidden_dropout)
    blocks: tuple[str, ...] = ()  # Nemotron-H: each layer one block, "mamba", "attention" or "mlp" (empty: a layer is
    # attention (or a mixer) and an MLP)
    # training dropout rates (transformers applies them only in training): the attention probabilities, each
    # attention and MLP output before its residual add, the embeddings, the MLP's activation
    attn_dropout: float = 0.0
    resid_dropout: float = 0.0
    embd_dropout: float = 0.0
    act_dropout: float = 0.0
    quant: Quant | None = None  # the checkpoint's quantization_config (:func:`quantization`)

    def window(self, layer: int) -> int:
        """Layer ``layer``'s sliding window (0: global attention)."""
        return self.windows[layer] if self.windows else 0

    def mixer(self, layer: int) -> str:
        """Layer ``layer``'s token mixer: ``linear_attn`` (Gated DeltaNet), ``kda`` (Kimi Delta Attention, in scope
        ``self_attn`` as Kimi names it), ``lightning`` (MiniMax's lightning attention, in scope ``self_attn``),
        ``mamba`` (Mamba-2), ``mamba1`` (Mamba-1), ``conv`` (LFM2's short convolution) or ``self_attn``."""
        if self.linear is not None and layer in self.linear.layers:
            return {"gdn": "linear_attn"}.get(self.linear.kind, self.linear.kind)
        if self.mamba is not None and layer in self.mamba.layers:
            return "mamba"
        if self.mamba1 is not None and layer in self.mamba1.layers:
            return "mamba1"
        if self.short_conv is not None and layer in self.short_conv.layers:
            return "conv"
        return "self_attn"


def config_file(value: str) -> str:
    """The ``config.json`` a path names: the path itself, or in a model folder (a directory, as transformers'
    ``from_pretrained(folder)`` takes) its ``config.json``."""
    return str(Path(value) / "config.json") if Path(value).is_dir() else value


def load_config(value: object) -> dict[str, Any]:
    """A config as a dict: a mapping as is, a string a path to a ``config.json`` or to the model folder that holds
    it (read, never downloaded). A file that cannot be read, is not UTF-8 text or not JSON is a ``ValueError``
    "config: FILE[:LINE]: what is wrong"."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ValueError("config: expected a path to a Hugging Face config.json or a mapping of its fields")
    value = config_file(value)
    path = Path(value)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"config: cannot read {value!r} ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, msg = not_utf8(data, e)
        raise ValueError(f"config: {value}:{line}: {msg}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"config: {value}:{e.lineno}: not JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise ValueError(f"config: {value}: not JSON that can be read: nested too deeply") from None
    except ValueError:  # an int of more than 4,300 digits
        raise ValueError(f"config: {value}: not JSON that can be read: a number with too many digits") from None
    if not isinstance(config, dict):
        raise ValueError(f"config: {value}: holds no JSON object (a JSON {type(config).__name__})")
    return config


def _bounded(key: str, value: int) -> int:
    """``value`` of the size field ``key``, or a ValueError past :data:`MAX_SIZE`."""
    if value > MAX_SIZE:
        shown = f"{value:.3e}" if value >= 10**15 else f"{value:,}"
        raise ValueError(f"{key}: expected at most 2,147,483,647 (2^31 - 1, the largest GEMM dimension cuBLAS takes) "
                         f"(got {shown})")
    return value


class _Reader:
    """Typed access to a config's fields, remembering which were read (the rest are unsupported)."""

    def __init__(self, data: Mapping[str, Any], arch: str):
        self.data, self.arch, self.read = data, arch, set(COMMON_IGNORED)
        # the fields read for the model (the pool of "did you mean": not the ignored), each with the types of value
        # its reader takes (object: any; a field another module reads with _get)
        self.used: dict[str, tuple[type, ...]] = {}

    def ignore(self, keys: Iterable[str]) -> None:
        """Accept ``keys`` of this architecture's config without reading them (they change no op graph)."""
        self.read.update(keys)

    def _get(self, key: str, default: object) -> object:
        self.read.add(key)
        self.used.setdefault(key, (object,))
        value = self.data.get(key, default)
        if value is _REQUIRED:
            raise ValueError(f"{key}: missing (needed by {self.arch})")
        return value

    def _takes(self, key: str, *types: type) -> None:
        """Record that ``key``'s reader takes values of ``types`` (for :meth:`finish`'s "did you mean")."""
        self.used[key] = types

    def int(self, key: str, default: object = None, *, minimum: int = 1) -> int:
        value = self._get(key, _REQUIRED if default is None else default)
        self._takes(key, int)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key}: expected an integer ≥ {minimum} (got {value!r})")
        return _bounded(key, value)

    def opt_int(self, key: str) -> int:
        """An integer that may be null or absent (0 then)."""
        value = self._get(key, None)
        return 0 if value is None else self.int(key)

    def window(self, default: int) -> int:
        """``sliding_window``: absent, the class's ``default``; null, no window (0: every layer attends to every
        token, as a config without the field builds it), else an integer ≥ 1."""
        return self.opt_int("sliding_window") if "sliding_window" in self.data else self.int("sliding_window", default)

    def auto_int(self, key: str, auto: Callable[[], int]) -> int:
        """An integer ≥ 1, or ``"auto"`` / absent for the class's derived value ``auto()`` (Mamba's dt rank, a
        head's width)."""
        value = self._get(key, "auto")
        self._takes(key, int, str)
        if value == "auto":
            return auto()
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected an integer ≥ 1 or 'auto' (got {value!r})")
        return _bounded(key, value)

    def float(self, key: str, default: float) -> float:
        value = self._get(key, default)
        self._takes(key, int, float)
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
        self._takes(key, bool)
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

    def int_list(self, key: str, layers: int | None = None) -> frozenset[int]:
        """A list of layer indices (null or absent: none); with ``layers``, each in 0 … layers − 1 (transformers
        would skip an index past the last layer: a config that names one describes another model)."""
        value = self._get(key, None) or []
        self._takes(key, list)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{key}: expected a list of layer indices (got {value!r})")
        if layers is not None and any(not 0 <= v < layers for v in value):
            raise ValueError(f"{key}: {sorted(v for v in value if not 0 <= v < layers)} not layer indices of the "
                             f"{layers} layers (num_hidden_layers; indices 0 … {layers - 1})")
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
                at = f"{key}.{where + '.' if where else ''}"
                if kind not in ROPE_TYPES:
                    raise ValueError(f"{at}rope_type: {kind!r} is not a known RoPE scaling; known: "
                                     f"{', '.join(sorted(ROPE_TYPES))}")
                missing = [k for k in ROPE_REQUIRED.get(kind, ()) if k not in each]  # probe p198 #4
                if missing:
                    raise ValueError(f"{at}{missing[0]}: missing: rope_type {kind!r} needs "
                                     f"{', '.join(ROPE_REQUIRED[kind])} (transformers' rope_config_validation "
                                     f"refuses it without {', '.join(missing)})")

    def finish(self) -> None:
        """Every field of the config not read: one problem each, with a "did you mean" from the fields this
        architecture reads (:func:`close_match`; not those it accepts and ignores: following such a hint would change
        nothing), and of those only one whose reader takes the field's value (probe p138 #6: GPT-2's ``layerdrop:
        0.1`` pointed at ``n_layer``, an integer layer count that 0.1 would fail). A field at least as close to one
        the architecture accepts and ignores as to any it reads gets no hint of a field it reads, and is named as
        that ignored one where the two are a letter or two apart (difflib's ratio ≥ 0.9: ``output_attention``), a
        field that changes no model (probe p240 #1: ``output_attentions``, refused then, got "did you mean
        'attention_bias'?"). First a generic field whose value changes the model (:data:`GENERIC_VALUES`) is
        refused."""
        for key, (accepted, why) in GENERIC_VALUES.items():
            value = self.data.get(key)
            if value is not None and value != accepted:
                raise ValueError(f"{key}: {value!r} is not supported ({why}; expected {accepted!r} or absent)")
        extra = sorted(k for k in self.data if k not in self.read)
        if extra:
            ignored = [k for k in self.read if k not in self.used]
            problems = []
            for k in extra:
                near, ratio = close_match(k, [name for name, types in self.used.items() if _takes(types, self.data[k])])
                generic, generic_ratio = close_match(k, ignored)
                if generic is not None and generic_ratio >= max(ratio, 0.9):  # a letter or two off: named
                    problems.append((k, f"{UNSUPPORTED}{self.arch}; did you mean {generic!r} (a field that changes "
                                        f"no model)?"))
                else:  # no model field is offered for one as close to a generic field (a loose match: no hint)
                    problems.append((k, unsupported(self.arch, None if generic_ratio >= ratio else near)))
            raise FieldProblems(problems)


def _takes(types: tuple[type, ...], value: object) -> bool:
    """Whether a reader taking ``types`` (:meth:`_Reader._takes`) could read ``value``: null fits any (a field may
    be null), a bool only a bool reader (a bool is no count), and an integer a number reader too."""
    if value is None or object in types:
        return True
    if isinstance(value, bool):
        return bool in types
    return any(isinstance(value, t) and t is not bool for t in types)


UNSUPPORTED = "unsupported field for "
"""How :meth:`_Reader.finish`'s problems begin (:class:`.hf.HfParams` recognises them by it)."""


def unsupported(arch: str, close: str | None) -> str:
    """The problem of a field ``arch``'s reader does not read: with the ``close`` field it likely meant, or why."""
    if close is not None:
        return f"{UNSUPPORTED}{arch}; did you mean {close!r}?"
    return f"{UNSUPPORTED}{arch} (the model it changes is not built; remove it or check its spelling)"


def close_match(key: str, names: Iterable[str]) -> tuple[str | None, float]:
    """The name of ``names`` closest to ``key`` and its similarity (difflib's ratio, at least 0.6, the config
    layer's "did you mean" cutoff), or (None, 0.0)."""
    best: tuple[str | None, float] = (None, 0.0)
    for name in sorted(names):
        ratio = difflib.SequenceMatcher(None, key, name).ratio()
        if ratio >= 0.6 and ratio > best[1]:
            best = (name, ratio)
    return best


class FieldProblems(ValueError):
    """Problems with several fields of a config: ``problems`` (dotted key, message); ``str()`` is the first as
    "key: message", as a single field's ValueError reads."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__(f"{problems[0][0]}: {problems[0][1]}")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each object key in the JSON ``text`` (valid JSON), nested keys as paths (``("text_config",
    "hidden_size")``; keys inside lists are not recorded, a repeated key at its last place, the one JSON keeps)."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    decoder, lines = json.JSONDecoder(), {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\n\r":
            i += 1
        return i

    def value(i: int, path: tuple[str, ...] | None) -> int:
        i = skip(i)
        if text[i] not in "{[":
            return decoder.raw_decode(text, i)[1]
        close, i = ("}" if text[i] == "{" else "]"), skip(i + 1)
        while text[i] != close:
            if close == "}":
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                if path is not None:
                    lines[(*path, key)] = bisect.bisect_right(starts, i)
                i = value(skip(i) + 1, None if path is None else (*path, key))  # past the ':'
            else:
                i = value(i, None)
            i = skip(i)
            i = skip(i + 1) if text[i] == "," else i
        return i + 1

    value(0, ())
    return lines


def config_lines(path: str) -> dict[tuple[str, ...], int]:
    """:func:`key_lines` of the config.json at ``path`` (read again: only an error needs it; empty if it cannot
    be)."""
    try:
        return key_lines(Path(config_file(path)).read_text(encoding="utf-8"))
    except (OSError, ValueError, IndexError, RecursionError):
        return {}


def key_line(lines: Mapping[tuple[str, ...], int], key: str) -> int | None:
    """The line of the dotted ``key`` in :func:`key_lines`'s map, or its nearest parent's (a field under
    ``rope_scaling`` the message names differently), or None."""
    path = tuple(key.split("."))
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path) if path else None


_REQUIRED = object()
_SILU = {"silu": "silu", "swish": "silu"}
_GELU_TANH = {"gelu_pytorch_tanh": "gelu", "gelu": "gelu", "gelu_new": "gelu"}
"""GELU's names for a vision encoder's or projector's MLP (:mod:`.vision` builds one fused GELU for each)."""
_GELU_MLP = {**_GELU_TANH, "gelu_new": "gelu_new"}
"""GELU's names for the decoder's MLP (:attr:`LM.act`): ``gelu_pytorch_tanh`` is one ATen kernel
(``gelu(approximate='tanh')``, transformers' PytorchGELUTanh) and ``gelu`` one too, both the fused "gelu";
``gelu_new`` is transformers' NewGELUActivation, plain Python that eager PyTorch runs as 8 kernels, so :mod:`.hf`
builds it as the ``gpt2`` preset does (``transformer._eager_gelu_new``; probe p240 #2: GPT-2's and Phi-2's configs
got one fused GELU, 4.524 ms against the preset's 5.784 ms on h100)."""


def _heads(r: _Reader, hidden: int, head_dim: int = 0, defaults: tuple[int, int] | None = None, *,
           null_heads: bool = False) -> tuple[int, int, int]:
    """(heads, kv_heads, head_dim); ``head_dim`` is the class's default (0: hidden / heads), ``defaults`` its
    (heads, kv_heads) (None: heads required; a default kv_heads of 0: the heads). A null or absent
    ``num_key_value_heads`` takes the default; with ``null_heads`` a null one is the heads (the classes whose
    ``__init__`` says ``if num_key_value_heads is None: num_key_value_heads = num_attention_heads``)."""
    heads = r.int("num_attention_heads", defaults and defaults[0])
    null = null_heads and "num_key_value_heads" in r.data and r.data["num_key_value_heads"] is None
    kv_heads = r.opt_int("num_key_value_heads") or (defaults[1] if defaults and defaults[1] and not null else heads)
    _divides("num_key_value_heads", kv_heads, "num_attention_heads", heads)
    head_dim = r.int("head_dim", head_dim) if head_dim else r.opt_int("head_dim")
    if not head_dim:
        _divides("num_attention_heads", heads, "hidden_size", hidden)
        head_dim = hidden // heads
    return heads, kv_heads, head_dim


def _top_k(r: _Reader, experts: int, default: int | None = None, key: str = "num_experts_per_tok", *,
           experts_key: str) -> int:
    """Routed experts per token (``key``, the class's ``default``): an integer from 1 to the ``experts`` that
    ``experts_key`` holds (transformers' torch.topk would fail on more; fewer than 1 routes no token). More is a
    rule between the two keys (:class:`KeyPairError`): the config layer puts it at the one set last (a
    ``--set num_local_experts=1`` over a preset's top-k line, probe p90 #5)."""
    k = r.int(key, default)
    if k > experts:
        at = KeyPairError.OTHER_AT
        raise KeyPairError({key: f"{k} experts per token exceed the model's {experts} experts",
                            experts_key: f"{experts} is fewer than {key} ({k}{at}), the experts each token is routed to"})
    return k


def _group_limited(r: _Reader, experts: int, top_k: int, *, experts_key: str,
                   top_k_key: str = "num_experts_per_tok") -> None:
    """DeepSeek-V3's group-limited routing (``n_group``, ``topk_group``; read by the DeepSeek-V2 / V3 and GLM-4.5
    readers, priced as any router's top-k), checked where the config writes them (absent or null: not checked) as
    transformers' router needs them (modeling_deepseek_v3's DeepseekV3MoE.route_tokens_to_experts:
    ``router_logits.view(-1, n_group, n_routed_experts // n_group)``, then ``topk(group_scores, k=topk_group)``,
    then the top-k of the chosen groups' experts): ``n_group`` ≥ 1 dividing the experts, 1 ≤ ``topk_group`` ≤
    ``n_group``, and the chosen groups' topk_group · experts / n_group experts at least the top-k. A rule between two
    keys is put at the one set last (:class:`KeyPairError`); probe p114 #4: ``n_group: 0``, ``3`` over 256
    experts and ``topk_group: 9`` of 8 groups were taken and priced. The router scores a group by the sum of its
    two best experts (DeepseekV3TopkRouter.get_topk_indices: ``.view(-1, n_group, n_routed_experts // n_group)
    .topk(2, dim=-1)[0].sum(dim=-1)``, as GLM-4.5's copy of it), so each group needs at least 2 experts: probe
    p119 #5, ``n_group: 256`` over 256 experts was taken. DeepSeek-V2's ``topk_method`` ``greedy`` (its default)
    and ``group_limited_greedy`` (a group's best expert, ``max``) take groups of one."""
    groups = r.int("n_group") if r._get("n_group", None) is not None else 0
    picked = r.int("topk_group") if r._get("topk_group", None) is not None else 0
    if groups:
        _divides("n_group", groups, experts_key, experts)
    v2 = "DeepseekV2ForCausalLM" in (r.data.get("architectures") or ()) or r.data.get("model_type") == "deepseek_v2"
    method = r.data.get("topk_method") or ("greedy" if v2 else "noaux_tc")
    if groups and experts // groups < 2 and method not in ("greedy", "group_limited_greedy"):
        at = KeyPairError.OTHER_AT
        why = f"the {method} router scores a group by the sum of its top-2 experts, so each group needs at least 2 experts"
        raise KeyPairError({"n_group": f"{groups} leaves {experts // groups} expert a group of {experts_key} "
                                       f"({experts}{at}): {why}",
                            experts_key: f"{experts} makes groups of {experts // groups} expert with n_group "
                                         f"({groups}{at}): {why}"})
    if groups and picked > groups:
        at = KeyPairError.OTHER_AT
        raise KeyPairError({"topk_group": f"{picked} exceeds n_group ({groups}{at}): each token picks topk_group of "
                                          f"the n_group groups of experts",
                            "n_group": f"{groups} is fewer than topk_group ({picked}{at}): each token picks "
                                       f"topk_group of the n_group groups of experts"})
    if groups and picked and picked * (experts // groups) < top_k:  # the chosen groups' experts, fewer than top-k
        raise _rule(f"topk_group × {experts_key} / n_group ≥ {top_k_key}",
                    {"topk_group": picked, "n_group": groups, experts_key: experts, top_k_key: top_k})


def _divides(key: str, part: int, whole_key: str, whole: int) -> None:
    """``part`` (the config's ``key``) must divide ``whole`` (its ``whole_key``): a rule between two keys
    (:class:`KeyPairError`), which the config layer puts at the one set last (a ``--set hidden_size=4097`` over a
    preset's heads line); at ``key`` where both come from one place (its message as before, without the other's
    source: tests and docs quote it)."""
    if whole % part:
        at = KeyPairError.OTHER_AT
        raise KeyPairError({key: f"{part} must divide {whole_key} ({whole})",
                            whole_key: f"{whole} is not a multiple of {key} ({part}{at})"})


MIN_CONV_TAPS = 2
"""The fewest taps of a recurrent mixer's causal depthwise conv (Mamba-1 / -2, Gated DeltaNet, KDA, LFM2's short
conv). The kernels that run it take no fewer: Dao-AILab causal-conv1d (csrc/causal_conv1d.cpp at dedc05ff2c44:
``causal_conv1d_fwd``, ``_bwd`` and ``_update`` each ``TORCH_CHECK(width >= 2 && width <= 4, "causal_conv1d only
supports width between 2 and 4")``), and vLLM's Triton causal_conv1d (vllm/model_executor/layers/mamba/ops/
causal_conv1d.py at 03c6dad84ad3: ``_causal_conv1d_fwd_kernel`` defines its first weight and state columns
``w_col0`` / ``col0`` only for ``KERNEL_WIDTH >= 2`` and reads them at every width; the conv state is width − 1
columns, none at width 1). transformers' eager path (an ``nn.Conv1d`` of padding width − 1) would take 1 tap, but
its CUDA path calls causal-conv1d, so 1 tap runs in no serving stack (probe p276 #3: it passed the key and failed
inside the builder)."""


def _conv_taps(r: _Reader, key: str, default: int) -> int:
    """The conv's taps ``key`` (``default`` where the config has none): an integer ≥ :data:`MIN_CONV_TAPS`."""
    value = r.data.get(key, default)
    try:
        return r.int(key, default, minimum=MIN_CONV_TAPS)
    except ValueError as e:
        if isinstance(value, int) and not isinstance(value, bool) and value < MIN_CONV_TAPS:
            raise ValueError(f"{e}: the causal_conv1d kernels (causal-conv1d's, vLLM's) take widths from "
                             f"{MIN_CONV_TAPS}") from None
        raise


def _rule(statement: str, values: Mapping[str, object], messages: Mapping[str, str] | None = None) -> KeyPairError:
    """A rule between several keys of a config (``statement``: "mamba_d_head × mamba_n_heads = mamba_d_ssm") that
    their ``values`` (dotted key → value, the first key's message the error's ``str()``) break, as a
    :class:`KeyPairError` the config layer puts at the key set last: ``messages``' own message for a key where it
    gives one (the first key's as before the rule named every key), else "V breaks STATEMENT (the other keys'
    values, then where they came from)"."""
    at, own = KeyPairError.OTHER_AT, messages or {}
    return KeyPairError({key: own.get(key) or f"{value} breaks {statement} "
                         f"({', '.join(f'{k} {v}' for k, v in values.items() if k != key)}{at})"
                         for key, value in values.items()})


def _tile(vision: Vision) -> dict[str, object]:
    """A vision tower's ``image_size`` and ``patch_size`` as keys of the config's ``vision_config`` (the keys of a
    rule that the patch grid, image / patch, is part of) and their values."""
    return {"vision_config.image_size": vision.image, "vision_config.patch_size": vision.patch}


def _head_dim_keys(r: _Reader, head_dim: int) -> tuple[str, dict[str, object]]:
    """What sets a head's width ``head_dim``: ("head_dim", its key and value) where the config writes it, else
    ("hidden_size / num_attention_heads", both keys) where it is their quotient (:func:`_heads`)."""
    if r.data.get("head_dim") == head_dim:
        return "head_dim", {"head_dim": head_dim}
    hidden, heads = r.data.get("hidden_size"), r.data.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden // heads == head_dim:
        return "hidden_size / num_attention_heads", {"hidden_size": hidden, "num_attention_heads": heads}
    return "head_dim", {"head_dim": head_dim}


def _written(r: _Reader, *keys: str) -> str:
    """Of ``keys`` read as a chain of defaults (``r.int(keys[0], r.int(keys[1], N))``), the one whose value stands:
    the first the config writes, else the last (its default)."""
    return next((k for k in keys if k in r.data), keys[-1])


def _rotary_dim(r: _Reader, head_dim: int) -> int | None:
    """MiniMax's ``rotary_dim`` (the features of each head RoPE rotates) as :func:`_rotary` gives them (0: all of
    them), or None when the config does not write it."""
    if r._get("rotary_dim", None) is None:
        return None
    rot = r.int("rotary_dim")
    if rot % 2:
        raise ValueError(f"rotary_dim: {rot} must be even and at most head_dim ({head_dim})")
    if rot > head_dim:  # a rule with the keys that set head_dim: at the one set last
        name, keys = _head_dim_keys(r, head_dim)
        raise _rule(f"rotary_dim ≤ {name}, {head_dim}", {"rotary_dim": rot, **keys}, {
            "rotary_dim": f"{rot} must be even and at most head_dim ({head_dim}{KeyPairError.OTHER_AT})"})
    return 0 if rot == head_dim else rot


def _rotary(r: _Reader, head_dim: int, default: float, key: str = "partial_rotary_factor") -> int:
    """Features of each head that RoPE rotates: ``int(head_dim · factor)`` as transformers computes it (0: all of
    them, a factor of 1). The factor is ``key``, else transformers 5's ``rope_parameters.partial_rotary_factor``,
    else the class's ``default``."""
    params = r.data.get("rope_parameters")
    if key not in r.data and isinstance(params, Mapping) and "partial_rotary_factor" in params:
        default = params["partial_rotary_factor"]
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise ValueError(f"rope_parameters.partial_rotary_factor: expected a number (got {default!r})")
        key = "rope_parameters.partial_rotary_factor"
        factor = float(default)
    else:
        factor = r.float(key, default)
    if not 0 < factor <= 1:
        raise ValueError(f"{key}: {factor} must be in (0, 1]")
    rot = int(head_dim * factor)
    if rot < 2 or rot % 2:  # a rule with the keys that set head_dim: at the one set last
        name, keys = _head_dim_keys(r, head_dim)
        raise _rule(f"RoPE's even number of rotated features, at least 2: {key} × {name} = {factor} × {head_dim} "
                    f"gives {rot}", {key: factor, **keys},
                    {key: f"{factor} rotates {rot} of a head's {head_dim} features ({name}{KeyPairError.OTHER_AT}); RoPE "
                          f"needs an even number"})
    return 0 if rot == head_dim else rot


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


QUANT_METHODS = ("fp8", "mxfp4", "awq", "gptq", "compressed-tensors")
"""``quantization_config.quant_method`` values whose stored weights are modelled (:func:`quantization`)."""

_QUANT_FIELDS = {"mxfp4": frozenset({"quant_method", "modules_to_not_convert", "dequantize"}),
                 "fp8": frozenset({"quant_method", "modules_to_not_convert", "dequantize", "activation_scheme", "fmt",
                                   "weight_block_size"}),
                 "awq": frozenset({"quant_method", "modules_to_not_convert", "bits", "w_bit", "group_size",
                                   "q_group_size", "zero_point", "version"}),
                 # GPTQ's calibration and loader settings beside what it stores (AutoGPTQ / GPTQModel / transformers'
                 # GPTQConfig write them): read by nothing here, as they change no stored byte
                 "gptq": frozenset({"quant_method", "modules_to_not_convert", "bits", "group_size", "sym", "desc_act",
                                    "lm_head", "damp_percent", "damp_auto_increment", "true_sequential",
                                    "static_groups", "model_name_or_path", "model_file_base_name", "checkpoint_format",
                                    "quantizer", "meta", "use_exllama", "exllama_config", "use_cuda_fp16",
                                    "cache_block_outputs", "batch_size", "pad_token_id", "max_input_length",
                                    "tokenizer", "dataset", "backend", "mse", "pack_dtype"}),
                 "compressed-tensors": frozenset({"quant_method", "config_groups", "format", "ignore",
                                                  "kv_cache_scheme", "sparsity_config", "quantization_status",
                                                  "global_compression_ratio", "version"})}


def quantization(r: _Reader, lm: LM) -> Quant | None:
    """The stored weights of ``quantization_config`` (absent or null: None, the workload's dtypes):

    * ``mxfp4`` (gpt-oss; transformers' Mxfp4HfQuantizer converts the MoE experts only, so ``modules_to_not_convert``
      lists what stays in bf16 anyway): the experts' weight matrices in FP4 with one 8-bit E8M0 scale per 32 (OCP
      Microscaling v1.0, MXFP4), the rest in the compute dtype;
    * ``fp8`` (DeepSeek-V3, Qwen3-FP8; transformers' FineGrainedFP8 quantizer: every nn.Linear but
      ``modules_to_not_convert`` and ``lm_head``, e4m3 with a float32 scale per ``weight_block_size`` block): the
      linear weights in fp8 but ``lm_head``, the listed modules and the MoE routers (vLLM builds every MoE gate with
      quant_config=None; DeepSeek-V3's checkpoint keeps gate.weight in bf16). The block scales, 4 bytes a
      128 × 128 block (0.02 %), are not counted, as for ``weight_dtype: fp8``. ``activation_scheme`` ``dynamic``
      (the default, transformers' FineGrainedFP8Config's and the only one it takes: the activations quantised per
      token and 128-wide group at run time) or ``static`` (one scale per tensor from the checkpoint; vLLM's
      Fp8Config refuses it with ``weight_block_size``): the quantised GEMMs' inputs in fp8 too, ``activation``
      (W8A8: vLLM's Fp8LinearMethod and Fp8MoEMethod run fp8 × fp8 through CUTLASS or DeepGEMM on GPUs of compute
      capability 8.9 and up, falling back to Marlin's weight-only fp8 below it, A100);
    * ``awq`` (AutoAWQ's GEMM format; vLLM's AWQConfig reads ``bits`` / ``w_bit``, ``group_size`` /
      ``q_group_size``, ``zero_point``, and takes 4 bits only): the linear weights in int4 with an fp16 scale and a
      4-bit zero point per ``group_size`` (default 128) weights of a row, 0.5 + 2.5 / group bytes each, whatever
      ``zero_point`` says: vLLM's AWQLinearMethod allocates ``qzeros`` (K / group, N / 8) int32 either way, and AWQ
      Marlin needs them (no uint4 type without zero points); ``version`` ``gemm`` only (the format vLLM loads);
    * ``gptq`` (``bits`` 4 or 8, ``group_size`` default 128, -1 one scale a row; ``sym`` default true, as
      transformers' GPTQConfig): int4 / int8 with an fp16 scale per group, and with ``sym: false`` a zero point per
      group too (vLLM runs it on its GPTQ kernel, which keeps ``qzeros``; ``sym: true`` runs on Marlin, which drops
      them after loading). ``desc_act``'s int32 ``g_idx`` per input row (K × 4 B a linear, 0.2 % of a 4-bit
      Qwen2-7B's) is not counted; ``lm_head: true`` (a quantised head) is refused;
    * ``compressed-tensors`` (llm-compressor's W4A16 / W8A16 ``pack-quantized`` checkpoints; vLLM's
      CompressedTensorsWNA16): one config group targeting ``Linear`` whose ``weights`` are ``type: int``,
      ``num_bits`` 4 or 8, ``strategy`` ``group`` (``group_size``) or ``channel`` (one scale a row), and no
      ``input_activations`` (weight-only); ``symmetric: false`` stores a ``weight_zero_point`` per group, packed
      (vLLM picks WNA16_ZP_SUPPORTED_TYPES_MAP's uint4 / uint8 and ``zero_points = not symmetric``); ``ignore``
      (module names) stays in the compute dtype. Anything else (W8A8, float weights, sparsity, a KV-cache scheme,
      several groups) is one error at its key;
    * all three quantise every decoder linear but ``lm_head``, the MoE routers and ``modules_to_not_convert``
      (:func:`~.precision.apply_precision`) and leave the activations in the compute dtype (weight-only);
    * ``dequantize: true``: transformers loads the weights dequantised, in the compute dtype (None);
    * any other method: ``known`` False (:class:`Quant`)."""
    cfg = r._get("quantization_config", None)
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise ValueError(f"quantization_config: expected a mapping of its fields (got {cfg!r})")
    method = cfg.get("quant_method")
    if not isinstance(method, str):
        raise ValueError(f"quantization_config.quant_method: expected a quantisation method name (got {method!r})")
    if method not in _QUANT_FIELDS:
        return Quant(method, known=False)
    extra = sorted(set(cfg) - _QUANT_FIELDS[method])
    if extra:
        raise ValueError(f"quantization_config.{extra[0]}: unsupported field for quant_method {method!r}")
    keep = cfg.get("modules_to_not_convert") or []
    if not isinstance(keep, list) or not all(isinstance(k, str) and k for k in keep):
        raise ValueError(f"quantization_config.modules_to_not_convert: expected a list of module names (got "
                         f"{keep!r})")
    dequantize = cfg.get("dequantize", False)
    if not isinstance(dequantize, bool):
        raise ValueError(f"quantization_config.dequantize: expected true or false (got {dequantize!r})")
    if dequantize:
        return None
    if method in ("awq", "gptq"):
        return _int_groups(cfg, method, keep)
    if method == "compressed-tensors":
        return _wna16(cfg)
    if method == "mxfp4":
        if lm.moe is None:
            raise ValueError(f"quantization_config.quant_method: 'mxfp4' stores MoE experts (transformers' Mxfp4 "
                             f"quantizer converts gpt-oss's experts only); {lm.arch} has none")
        return Quant(method, expert="fp4", group_size=32)
    return _fp8(cfg, method, lm, keep)


def _fp8(cfg: Mapping[str, Any], method: str, lm: LM, keep: list[str]) -> Quant:
    """A FineGrainedFP8 ``quantization_config``'s stored weights and activations (:func:`quantization`)."""
    for key, allowed in (("activation_scheme", ("dynamic", "static")), ("fmt", ("e4m3",))):
        if cfg.get(key, allowed[0]) not in allowed:
            raise ValueError(f"quantization_config.{key}: {cfg[key]!r} is not supported (expected "
                             f"{' or '.join(map(repr, allowed))})")
    block = cfg.get("weight_block_size", [128, 128])
    if (not isinstance(block, list) or len(block) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
        raise ValueError(f"quantization_config.weight_block_size: expected two positive integers (got {block!r})")
    if cfg.get("activation_scheme") == "static" and "weight_block_size" in cfg:
        raise ValueError("quantization_config.activation_scheme: 'static' with a weight_block_size is not a scheme "
                         "vLLM runs (its Fp8Config: block-wise quantisation only supports the dynamic activation "
                         "scheme)")
    routers = (f"{lm.moe.router_names[0]}.{lm.moe.router_names[1]}",) if lm.moe is not None else ()
    # activation_scheme dynamic (the default) or static: the GEMM inputs are quantised to fp8 too, W8A8
    return Quant(method, weight="fp8", keep=("lm_head", *routers, *keep), activation="fp8")


def _int_groups(cfg: Mapping[str, Any], method: str, keep: list[str]) -> Quant:
    """An AWQ / GPTQ ``quantization_config``'s stored weights (:func:`quantization`)."""
    bits_key = "w_bit" if "w_bit" in cfg else "bits"
    bits = cfg.get(bits_key, 4)
    widths = (4,) if method == "awq" else tuple(INT_WEIGHT_BITS)
    if isinstance(bits, bool) or bits not in widths:
        why = "vLLM's AWQConfig takes 4 bits only" if method == "awq" else "the integer widths modelled"
        raise ValueError(f"quantization_config.{bits_key}: expected {' or '.join(map(str, widths))} ({why}; got "
                         f"{bits!r})")
    group_key = "q_group_size" if "q_group_size" in cfg else "group_size"
    group = cfg.get(group_key, DEFAULT_INT_GROUP)
    if isinstance(group, bool) or not isinstance(group, int) or not (group > 0 or group == -1):
        raise ValueError(f"quantization_config.{group_key}: expected a positive number of weights per scale, or -1 "
                         f"for one a row (got {group!r})")
    flags = {"zero_point": True, "sym": True, "desc_act": False, "lm_head": False}
    for key, default in flags.items():
        if not isinstance(cfg.get(key, default), bool):
            raise ValueError(f"quantization_config.{key}: expected true or false (got {cfg[key]!r})")
    if cfg.get("version", "gemm") not in ("gemm", "GEMM"):
        raise ValueError(f"quantization_config.version: {cfg['version']!r} is not supported (expected 'gemm', the "
                         f"AutoAWQ format vLLM loads)")
    if cfg.get("lm_head"):
        raise ValueError("quantization_config.lm_head: a quantised LM head is not modelled (the head is kept in the "
                         "compute dtype)")
    zero_points = method == "awq" or not cfg.get("sym", True)
    return Quant(method, weight=INT_WEIGHT_BITS[bits], group_size=group, keep=("lm_head", *keep),
                 zero_points=zero_points)


def _wna16(cfg: Mapping[str, Any]) -> Quant:
    """A compressed-tensors ``quantization_config``'s weight-only integer scheme (:func:`quantization`)."""
    at = "quantization_config"
    for key, empty in (("kv_cache_scheme", None), ("sparsity_config", {})):
        if cfg.get(key) not in (None, {}, empty):
            raise ValueError(f"{at}.{key}: not modelled for compressed-tensors (expected null)")
    if cfg.get("format", "pack-quantized") != "pack-quantized":
        raise ValueError(f"{at}.format: {cfg['format']!r} is not modelled (expected 'pack-quantized', the "
                         f"weight-only integer format)")
    ignore = cfg.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(k, str) and k and not k.startswith("re:") for k in ignore):
        raise ValueError(f"{at}.ignore: expected a list of module names (regular expressions, 're:...', are not "
                         f"modelled; got {ignore!r})")
    groups = cfg.get("config_groups")
    if not isinstance(groups, Mapping) or len(groups) != 1:
        raise ValueError(f"{at}.config_groups: expected one quantisation group (got {groups!r})")
    name, group = next(iter(groups.items()))
    at = f"{at}.config_groups.{name}"
    if not isinstance(group, Mapping):
        raise ValueError(f"{at}: expected a mapping of its fields (got {group!r})")
    if group.get("targets") != ["Linear"]:
        raise ValueError(f"{at}.targets: expected ['Linear'] (got {group.get('targets')!r})")
    for key in ("input_activations", "output_activations"):
        if group.get(key) is not None:
            raise ValueError(f"{at}.{key}: not modelled (expected null: a weight-only scheme, W4A16 / W8A16)")
    extra = sorted(set(group) - {"targets", "weights", "input_activations", "output_activations", "format"})
    if extra:
        raise ValueError(f"{at}.{extra[0]}: unsupported field")
    w = group.get("weights")
    if not isinstance(w, Mapping):
        raise ValueError(f"{at}.weights: expected a mapping of its fields (got {w!r})")
    at = f"{at}.weights"
    bits, strategy, size = w.get("num_bits"), w.get("strategy"), w.get("group_size")
    checks = (("type", w.get("type") == "int", "expected 'int'"),
              ("num_bits", not isinstance(bits, bool) and bits in INT_WEIGHT_BITS,
               f"expected {' or '.join(map(str, INT_WEIGHT_BITS))}"),
              ("strategy", strategy in ("group", "channel"), "expected 'group' or 'channel'"),
              ("group_size", (isinstance(size, int) and not isinstance(size, bool) and size > 0)
               if strategy == "group" else size in (None, -1), "expected a positive number of weights per scale "
               "with strategy 'group', null with 'channel'"),
              ("symmetric", isinstance(w.get("symmetric", True), bool), "expected true or false"),
              ("dynamic", w.get("dynamic", False) is False, "expected false"))
    for key, ok, why in checks:
        if not ok:
            raise ValueError(f"{at}.{key}: {why} (got {w.get(key)!r})")
    return Quant("compressed-tensors", weight=INT_WEIGHT_BITS[bits], group_size=size if strategy == "group" else -1,
                 keep=("lm_head", *ignore), zero_points=not w.get("symmetric", True))


DEFAULT_INT_GROUP = 128
"""An AWQ / GPTQ ``quantization_config``'s group size where it gives none (transformers' AwqConfig and GPTQConfig
default ``group_size`` 128)."""


def _nested(r: _Reader, key: str, read: Callable[[_Reader], Any], arch: str | None = None,
            defaults: Mapping[str, Any] | None = None) -> Any:
    """A sub-config (``text_config``, ``vision_config``: a mapping, absent for the class's defaults) read by
    ``read`` (as ``arch``, the sub-config class's ``defaults`` under its fields); its errors name the field under
    ``key`` (``text_config.hidden_size: ...``)."""
    value = r._get(key, None)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping of its fields (got {value!r})")
    sub = _Reader({**(defaults or {}), **value}, arch or r.arch)
    try:
        out = read(sub)
        sub.finish()
    except FieldProblems as e:
        raise FieldProblems([(f"{key}.{k}", msg) for k, msg in e.problems]) from None
    except KeyPairError as e:  # a rule between two of its fields: still at the one set last
        raise KeyPairError({f"{key}.{k}": msg for k, msg in e.messages.items()}) from None
    except ValueError as e:
        raise ValueError(f"{key}.{e}") from None
    return out


__all__ = ["COMMON_IGNORED", "DSA", "MAX_SIZE", "LM", "FieldProblems", "config_lines", "key_line", "key_lines", "MLA", "QUANT_METHODS", "ROPE_REQUIRED", "ROPE_TYPES", "LinearAttn", "Mamba1", "Mamba2", "MoE", "Quant",
           "ShortConv", "UNSUPPORTED", "Vision", "close_match", "config_file", "load_config", "quantization", "unsupported"]
