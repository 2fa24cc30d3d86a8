"""Readers of Mistral 3's and InternVL's vision-language configs (registered in :data:`.hfconfig.READERS`):
Mistral3ForConditionalGeneration (Mistral Small 3.1 / 3.2: a Mistral decoder and the Pixtral encoder) and
InternVLForConditionalGeneration (InternVL3: a Qwen2 or Llama decoder and InternViT on 448² tiles), with
transformers 5's class defaults (a sub-config's own class defaults for its absent fields; the composite config's
defaults only when the sub-config is absent, as transformers applies them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import KeyPairError
from .hfqwenvl import IMAGE_SIDE
from .hfspec import _GELU_TANH, _SILU, LM, Vision, _divides, _nested, _Reader, _rule, _tile

_ACTS = {**_SILU, **_GELU_TANH}
_MISTRAL3_TEXT = {"head_dim": 128, "hidden_size": 5120, "intermediate_size": 32768, "max_position_embeddings": 131072,
                  "num_attention_heads": 32, "num_hidden_layers": 40, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
                  "sliding_window": None, "vocab_size": 131072}
"""Mistral3Config's text_config when it has none (Mistral Small 3.1's decoder)."""
_MISTRAL_CLASS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 8, "sliding_window": 4096}
"""MistralConfig's class defaults where the Mistral reader has none."""
_PIXTRAL = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
            "image_size": 1540, "patch_size": 14, "hidden_act": "gelu"}
"""Mistral3Config's vision_config when it has none."""
_TEXT_BY_TYPE = {"mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}
_QWEN2_CLASS = {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                "num_attention_heads": 32}
_LLAMA_CLASS = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                "num_attention_heads": 32}
_CLASS_DEFAULTS = {"mistral": _MISTRAL_CLASS, "qwen2": _QWEN2_CLASS, "llama": _LLAMA_CLASS}


def _text(r: _Reader, default_type: str, absent: Mapping[str, Any] | None = None) -> LM:
    """The decoder of ``text_config`` by its ``model_type`` (the config class's defaults for absent fields; with no
    text_config at all, ``absent``)."""
    from .hfconfig import READERS

    value = r.data.get("text_config")
    kind = value.get("model_type", default_type) if isinstance(value, Mapping) else default_type
    if kind not in _TEXT_BY_TYPE:
        raise ValueError(f"text_config.model_type: {kind!r} is not supported for {r.arch}; supported: "
                         f"{', '.join(sorted(_TEXT_BY_TYPE))}")
    arch = _TEXT_BY_TYPE[kind]
    defaults = absent if value is None and absent is not None else _CLASS_DEFAULTS[kind]
    return _nested(r, "text_config", READERS[arch], arch, defaults)


def _feature_layer(r: _Reader, layers: int) -> None:
    layer = r._get("vision_feature_layer", -1)
    if not isinstance(layer, int) or isinstance(layer, bool) or not -layers - 1 <= layer <= layers:
        raise ValueError(f"vision_feature_layer: expected one layer index of the {layers}-layer tower (got {layer!r})")


def _pixtral(v: _Reader) -> Vision:
    """PixtralVisionConfig's fields (its class defaults: patches of 16 at 1024; Mistral Small's config gives 14 at
    1540 and SiLU). ``head_dim`` is recomputed from the width, as transformers does."""
    width, heads = v.int("hidden_size", 1024), v.int("num_attention_heads", 16)
    _divides("num_attention_heads", heads, "hidden_size", width)
    v.read.update(("head_dim", "rope_theta", "rope_parameters", "model_type", "initializer_range"))
    v.prob("attention_dropout", 0.0)
    return Vision("pixtral", hidden=width, layers=v.int("num_hidden_layers", 24), heads=heads,
                  ffn=v.int("intermediate_size", 4096), image=IMAGE_SIDE, patch=v.int("patch_size", 16),
                  channels=v.int("num_channels", 3), eps=1e-5, act=v.choice("hidden_act", "gelu", _ACTS), tokens=0,
                  longest_edge=v.int("image_size", 1024))


def _mistral3(r: _Reader) -> LM:
    """Mistral Small 3.1 / 3.2 (transformers' Mistral3ForConditionalGeneration): the Mistral decoder of
    ``text_config`` and the Pixtral encoder of ``vision_config`` with the projector (its patch merger of
    ``spatial_merge_size``², ``projector_hidden_act``, ``multimodal_projector_bias``). Images keep their size up to
    the encoder's ``image_size`` (1540; the workload's ``image_size``). The head is tied as ``text_config`` says
    (the published checkpoints keep their own lm_head, though transformers 5 ties it when the top-level flag is
    absent)."""
    text = _text(r, "mistral", _MISTRAL3_TEXT)
    vision = _nested(r, "vision_config", _pixtral, defaults=_PIXTRAL if r.data.get("vision_config") is None else None)
    _feature_layer(r, vision.layers)
    r.read.update(("image_token_index", "image_token_id"))
    vision = replace(vision, merge=r.int("spatial_merge_size", 2),
                     projector_act=r.choice("projector_hidden_act", "gelu", _GELU_TANH),
                     projector_bias=r.bool("multimodal_projector_bias", False)).resized(IMAGE_SIDE)
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


def _internvit(v: _Reader) -> Vision:
    """InternVLVisionConfig's fields (its defaults; InternVL3's InternViT-300M gives ``attention_bias`` true)."""
    width, heads = v.int("hidden_size", 1024), v.int("num_attention_heads", 16)
    _divides("num_attention_heads", heads, "hidden_size", width)

    def square(key: str, default: int) -> int:
        value = v._get(key, default)
        if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected one positive size or two equal ones (got {value!r})")
        return value

    image, patch = square("image_size", 448), square("patch_size", 14)
    _divides("patch_size", patch, "image_size", image)
    v.require("use_mask_token", False, "the masked-image-modelling token is not built")
    v.require("use_absolute_position_embeddings", True, "InternViT's learned positions are built")
    v.require("use_mean_pooling", True, "the final LayerNorm it replaces is not built")
    v.read.update(("layer_scale_init_value", "model_type", "initializer_range", "initializer_factor"))
    for key in ("hidden_dropout_prob", "attention_dropout", "projection_dropout"):
        v.prob(key, 0.0)
    return Vision("internvit", hidden=width, layers=v.int("num_hidden_layers", 24), heads=heads,
                  ffn=v.int("intermediate_size", 4096), image=image, patch=patch, channels=v.int("num_channels", 3),
                  eps=v.float("layer_norm_eps", 1e-6), act=v.choice("hidden_act", "gelu", _GELU_TANH), tokens=0,
                  attn_bias=v.bool("attention_bias", False), qk_norm=v.bool("use_qk_norm", False),
                  norm=v.choice("norm_type", "layer_norm", {"layer_norm": "layernorm", "rms_norm": "rmsnorm"}))


def _internvl(r: _Reader) -> LM:
    """InternVL3 (transformers' InternVLForConditionalGeneration, the "-hf" checkpoints): the Qwen2 (or Llama)
    decoder of ``text_config``, InternViT on 448² tiles (``images`` counts tiles: the processor cuts an image into
    up to 12 and adds a thumbnail), the pixel shuffle by ``downsample_ratio`` (256 tokens a tile) and the projector.
    The head is tied as ``text_config`` says (the published checkpoints keep their own lm_head)."""
    text = _text(r, "qwen2")
    vision = _nested(r, "vision_config", _internvit)
    ratio = r.float("downsample_ratio", 0.5)
    fold = round(1 / ratio) if ratio else 0
    first = f"{ratio} must be 1/n for an n dividing the {vision.grid}-patch grid"
    if fold < 1 or abs(fold * ratio - 1) > 1e-9:
        raise ValueError(f"downsample_ratio: {first}")
    # rules between keys of the config and of its vision_config: at the one set last
    at, tile = KeyPairError.OTHER_AT, _tile(vision)
    if vision.grid % fold:
        raise _rule(f"the patch grid vision_config.image_size / vision_config.patch_size = {vision.grid}, a multiple "
                    f"of 1 / downsample_ratio = {fold}", {"downsample_ratio": ratio, **tile},
                    {"downsample_ratio": f"{first} (vision_config.image_size / vision_config.patch_size{at})"})
    tokens = (vision.grid // fold) ** 2
    seq = r.int("image_seq_length", 256)
    if seq != tokens:
        raise _rule(f"image_seq_length = (vision_config.image_size / vision_config.patch_size × downsample_ratio)² = "
                    f"({vision.grid} × {ratio})² = {tokens}", {"image_seq_length": seq, "downsample_ratio": ratio, **tile},
                    {"image_seq_length": f"{seq} must be the {tokens} tokens a tile gives (downsample_ratio, "
                                         f"vision_config.image_size / vision_config.patch_size{at})"})
    _feature_layer(r, vision.layers)
    r.require("vision_feature_select_strategy", "default", "the pixel shuffle takes the patches without the class "
                                                            "token")
    r.read.update(("image_token_id", "image_token_index"))
    vision = replace(vision, merge=fold, tokens=tokens, projector_act=r.choice("projector_hidden_act", "gelu", _GELU_TANH))
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


VLM_READERS = {
    "Mistral3ForConditionalGeneration": _mistral3,
    "InternVLForConditionalGeneration": _internvl,
}
"""Mistral 3's and InternVL's architectures and their readers."""

__all__ = ["VLM_READERS"]
