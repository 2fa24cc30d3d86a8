"""Readers of Qwen's vision-language configs (registered in :data:`.hfconfig.READERS`): Qwen2.5-VL
(Qwen2_5_VLForConditionalGeneration: a Qwen2 decoder, its text fields at the config's top level or in
``text_config``) and Qwen3-VL (Qwen3VLForConditionalGeneration, Qwen3VLMoeForConditionalGeneration: a Qwen3 or
Qwen3-MoE decoder in ``text_config``), each with its vision transformer (:class:`~.hfspec.Vision` styles "qwen2_5"
and "qwen3", built by :mod:`.vision`). The decoders' M-RoPE rotates the same features as RoPE (three position ids
choose the angles): priced as RoPE."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import KeyPairError
from .hfspec import _GELU_TANH, _SILU, LM, Vision, _divides, _nested, _Reader, _rule, _written

_TOKEN_IDS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "vision_token_id")

_QWEN3_VL_TEXT = {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128}
"""Qwen3VLTextConfig's defaults (transformers' configuration_qwen3_vl.py) where Qwen3Config's differ."""
_QWEN3_VL_MOE_TEXT = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
                      "num_attention_heads": 16, "num_key_value_heads": 16, "tie_word_embeddings": True,
                      "moe_intermediate_size": 1408, "num_experts_per_tok": 4, "num_experts": 60}
"""Qwen3VLMoeTextConfig's defaults (configuration_qwen3_vl_moe.py; not Qwen3-VL-30B-A3B's sizes, which its config
gives)."""
_QWEN2_5_VL_TEXT = {"vocab_size": 152064, "hidden_size": 8192, "intermediate_size": 29568, "num_hidden_layers": 80,
                    "num_attention_heads": 64, "num_key_value_heads": 8, "rms_norm_eps": 1e-5}
"""Qwen2_5_VLTextConfig's defaults (configuration_qwen2_5_vl.py: Qwen2.5-VL-72B's sizes)."""

_PIXELS = {"qwen2_5": (3136, 12845056), "qwen3": (65536, 16777216)}
"""The processors' (min_pixels, max_pixels) as Qwen publishes them (preprocessor_config.json of Qwen2.5-VL: 56², 28² ×
16384; of Qwen3-VL: ``size`` shortest_edge 256², longest_edge 4096²): the bounds of a resized image's area."""
IMAGE_SIDE = 448
"""The square image side a Qwen-VL workload assumes unless ``image_size`` says otherwise (256 tokens an image for
Qwen2.5-VL, 196 for Qwen3-VL)."""


def _text(r: _Reader, arch: str, defaults: Mapping[str, Any], read: Callable[[_Reader], LM]) -> LM:
    """The decoder of ``text_config`` (or, with none, of the config's own top-level fields: Qwen2.5-VL's published
    form) read by ``read`` as ``arch`` with the VL text class's ``defaults``; errors name ``text_config.KEY`` when
    the fields are nested."""
    if r.data.get("text_config") is not None:
        return _nested(r, "text_config", read, arch, defaults)
    skip = {"text_config", "vision_config", "architectures", *_TOKEN_IDS, *r.read}
    fields = {k: v for k, v in r.data.items() if k not in skip}
    r.read.update(fields)
    sub = _Reader({**defaults, **fields}, arch)
    lm = read(sub)
    sub.finish()
    return lm


def _vision(r: _Reader, style: str, hidden: int) -> Vision:
    """``vision_config`` as Qwen2_5_VLVisionConfig or Qwen3VLVisionConfig (their defaults; Qwen2.5-VL's published
    configs give only what differs, e.g. hidden_size 1280, and the legacy ``in_chans`` / ``spatial_patch_size``)."""
    return _nested(r, "vision_config", lambda v: _vision_fields(v, style, hidden)).resized(IMAGE_SIDE)


def _vision_fields(v: _Reader, style: str, hidden: int) -> Vision:
    """The fields of :func:`_vision`'s sub-config."""
    qwen3 = style == "qwen3"
    width, heads = v.int("hidden_size", 1152 if qwen3 else 3584), v.int("num_heads", 16)
    _divides("num_heads", heads, "hidden_size", width)
    patch = v.int("patch_size", v.int("spatial_patch_size", 16 if qwen3 else 14))
    channels = v.int("in_channels", v.int("in_chans", 3))
    layers = v.int("depth", 27 if qwen3 else 32)
    out = v.int("out_hidden_size", 3584)
    if out != hidden:
        raise ValueError(f"out_hidden_size: {out} must be the decoder's hidden_size ({hidden})")
    v.read.update(("model_type", "initializer_range", "tokens_per_second", "rope_parameters", "rope_theta"))
    extra: dict[str, Any] = {}
    if qwen3:
        deep = v._get("deepstack_visual_indexes", [8, 16, 24])
        if not isinstance(deep, list) or not all(isinstance(i, int) and 0 <= i < layers for i in deep):
            raise ValueError(f"deepstack_visual_indexes: expected encoder layer indices below {layers} (got "
                             f"{deep!r})")
        extra = {"positions": v.int("num_position_embeddings", 2304), "deepstack": tuple(deep)}
        act = v.choice("hidden_act", "gelu_pytorch_tanh", _GELU_TANH)
    else:
        window = v.int("window_size", 112)
        merge = v.int("spatial_merge_size", 2)
        if window % (patch * merge):  # a rule between three keys: at the one set last
            patch_key = _written(v, "patch_size", "spatial_patch_size")
            raise _rule(f"window_size a multiple of {patch_key} × spatial_merge_size = {patch} × {merge}",
                        {"window_size": window, patch_key: patch, "spatial_merge_size": merge},
                        {"window_size": f"{window} must be a multiple of patch_size × spatial_merge_size "
                                        f"({patch * merge}{KeyPairError.OTHER_AT})"})
        full = v._get("fullatt_block_indexes", [7, 15, 23, 31])
        if not isinstance(full, list) or not all(isinstance(i, int) and 0 <= i < layers for i in full):
            raise ValueError(f"fullatt_block_indexes: expected encoder layer indices below {layers} (got {full!r})")
        extra = {"window": window // patch, "full_layers": frozenset(full)}
        act = v.choice("hidden_act", "silu", _SILU)
    return Vision(style, hidden=width, layers=layers, heads=heads, ffn=v.int("intermediate_size",
                  4304 if qwen3 else 3420), image=IMAGE_SIDE, patch=patch, channels=channels, eps=1e-6,
                  act=act, tokens=0, merge=v.int("spatial_merge_size", 2),
                  temporal=v.int("temporal_patch_size", 2), pixels=_PIXELS[style], **extra)


def _qwen_vl(r: _Reader) -> LM:
    """Qwen2.5-VL (a Qwen2 decoder: q/k/v biases) or Qwen3-VL (a Qwen3 decoder: QK-norm; or Qwen3-MoE's) with the
    vision transformer of ``vision_config`` (:func:`_vision`)."""
    from .hfconfig import _llama, _qwen_moe  # the decoders' readers

    if r.arch == "Qwen2_5_VLForConditionalGeneration":
        text, style = _text(r, "Qwen2ForCausalLM", _QWEN2_5_VL_TEXT, _llama), "qwen2_5"
    elif r.arch == "Qwen3VLMoeForConditionalGeneration":
        text, style = _text(r, "Qwen3MoeForCausalLM", _QWEN3_VL_MOE_TEXT, _qwen_moe), "qwen3"
    else:
        text, style = _text(r, "Qwen3ForCausalLM", _QWEN3_VL_TEXT, _llama), "qwen3"
    vision = _vision(r, style, text.hidden)
    if len(vision.deepstack) > text.layers:
        raise ValueError(f"vision_config.deepstack_visual_indexes: {len(vision.deepstack)} features for "
                         f"{text.layers} decoder layers")
    r.read.update(_TOKEN_IDS)
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", text.tied))


QWEN_VL_READERS = {
    "Qwen2_5_VLForConditionalGeneration": _qwen_vl,
    "Qwen3VLForConditionalGeneration": _qwen_vl,
    "Qwen3VLMoeForConditionalGeneration": _qwen_vl,
}
"""Qwen's vision-language architectures and their reader."""

__all__ = ["IMAGE_SIDE", "QWEN_VL_READERS"]
