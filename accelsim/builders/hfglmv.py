"""Readers of GLM's vision-language configs (registered in :data:`.hfconfig.READERS`): GLM-4.1V
(Glm4vForConditionalGeneration: GLM-4.1V-9B-Thinking, a GLM-4-0414 decoder) and GLM-4.5V
(Glm4vMoeForConditionalGeneration: a GLM-4.5-Air decoder), each in ``text_config``, with the vision transformer of
``vision_config`` (:class:`~.hfspec.Vision` style "glm4v", built by :mod:`.vision`), transformers 5's class defaults
for absent fields. The decoders' M-RoPE (``mrope_section``: 8 + 12 + 12 frequency pairs, the rotated half of each
128-feature head) is priced as RoPE on the same features."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..errors import KeyPairError
from .hfqwenvl import IMAGE_SIDE
from .hfspec import _SILU, LM, Vision, _divides, _nested, _Reader

_TOKEN_IDS = ("image_token_id", "video_token_id", "image_start_token_id", "image_end_token_id",
              "video_start_token_id", "video_end_token_id")

_GLM4V_TEXT = {"rms_norm_eps": 1e-5}
"""Glm4vTextConfig's defaults (configuration_glm4v.py) where the GLM-4-0414 reader's (Glm4Config's) differ; its
attention always has q / k / v biases, as ``attention_bias`` true gives."""
_GLM4V_MOE_TEXT = {"vocab_size": 151424, "attention_bias": True}
"""Glm4vMoeTextConfig's defaults (configuration_glm4v_moe.py) where the GLM-4.5 reader's (Glm4MoeConfig's) differ."""

PIXELS = (112 * 112 // 2, 28 * 28 * 15000 // 2)
"""Glm4vImageProcessor's ``size`` (transformers 5.25's class defaults: shortest_edge 112², longest_edge 28² × 15,000)
bounds the pixels of both frames an image is repeated into (temporal_patch_size 2), so one frame's area lies
within half of each: the (min_pixels, max_pixels) of :meth:`~.hfspec.Vision.resized`."""


def _vision_fields(v: _Reader, hidden: int) -> Vision:
    """Glm4vVisionConfig's (and Glm4vMoeVisionConfig's, the same) fields and defaults: 24 layers of 1536 with 12
    heads, patches of 14 × 2 frames, 2 × 2 merged, a 336² position table (24² rows), the blocks' SwiGLU MLP
    ``out_hidden_size`` wide (4096, the decoder's width) and the merger's ``intermediate_size`` (13,696)."""
    width, heads = v.int("hidden_size", 1536), v.int("num_heads", 12)
    _divides("num_heads", heads, "hidden_size", width)
    patch, image = v.int("patch_size", 14), v.int("image_size", 336)
    if image % patch:  # a rule between two keys: at the one set last
        at = KeyPairError.OTHER_AT
        raise KeyPairError({"image_size": f"{image} must be a multiple of patch_size ({patch}{at})",
                            "patch_size": f"{patch} must divide image_size ({image}{at})"})
    out = v.int("out_hidden_size", 4096)
    if out != hidden:
        raise ValueError(f"out_hidden_size: {out} must be the decoder's hidden_size ({hidden})")
    v.rope_scaling()
    params = v._get("rope_parameters", None)
    if isinstance(params, dict) and params.get("rope_type", "axial") != "axial":
        raise ValueError(f"rope_parameters.rope_type: {params['rope_type']!r}: the vision model supports 'axial'")
    v.read.update(("model_type", "initializer_range", "rope_parameters", "rope_theta"))
    v.prob("attention_dropout", 0.0)
    return Vision("glm4v", hidden=width, layers=v.int("depth", 24), heads=heads, ffn=out, image=IMAGE_SIDE,
                  patch=patch, channels=v.int("in_channels", 3), eps=v.float("rms_norm_eps", 1e-5),
                  act=v.choice("hidden_act", "silu", _SILU), tokens=0, merge=v.int("spatial_merge_size", 2),
                  temporal=v.int("temporal_patch_size", 2), pixels=PIXELS, positions=(image // patch) ** 2,
                  attn_bias=v.bool("attention_bias", False), merger_ffn=v.int("intermediate_size", 13696))


def _with_token_ids(read: Callable[[_Reader], LM]) -> Callable[[_Reader], LM]:
    """``read``, the token ids a published text_config repeats marked read."""
    def reader(t: _Reader) -> LM:
        t.read.update(_TOKEN_IDS)
        return read(t)
    return reader


def _glm4v(r: _Reader) -> LM:
    """GLM-4.1V (Glm4vForConditionalGeneration: the GLM-4-0414 decoder of :func:`.hfllama._glm4`: sandwich norms,
    q / k / v biases, one ``gate_up_proj``, RoPE on half of each head) or GLM-4.5V (Glm4vMoeForConditionalGeneration:
    the GLM-4.5 decoder of :func:`.hfconfig._glm4_moe`) with the vision transformer of ``vision_config``; an image's
    tokens are (side / patch / merge)² as Glm4vImageProcessor resizes it (448²: 256; its <|begin_of_image|> and
    <|end_of_image|> markers are ordinary text tokens of the prompt). Untied head."""
    from .hfconfig import _glm4_moe  # the decoders' readers
    from .hfllama import _glm4

    if r.arch == "Glm4vMoeForConditionalGeneration":
        text = _nested(r, "text_config", _with_token_ids(_glm4_moe), "Glm4MoeForCausalLM", _GLM4V_MOE_TEXT)
    else:
        text = _nested(r, "text_config", _with_token_ids(_glm4), "Glm4ForCausalLM", _GLM4V_TEXT)
    vision = _nested(r, "vision_config", lambda v: _vision_fields(v, text.hidden)).resized(IMAGE_SIDE)
    r.read.update(_TOKEN_IDS)
    return replace(text, arch=r.arch, vision=vision, tied=r.bool("tie_word_embeddings", False))


GLM_VL_READERS = {
    "Glm4vForConditionalGeneration": _glm4v,
    "Glm4vMoeForConditionalGeneration": _glm4v,
}
"""GLM's vision-language architectures and their reader."""

__all__ = ["GLM_VL_READERS"]
