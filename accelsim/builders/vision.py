"""Image encoders beside a language model's decoder (:class:`~.hfspec.Vision`): Gemma 3's SigLIP tower and
projector, Llama 4's vision model, pixel shuffle and projector, built with transformers' module names under the
decoder's ``model`` scope. :mod:`.hf` runs them on a prefill's images (``images``) or holds their weights."""

from __future__ import annotations

import functools

from ..ir import Gemm, Weight
from .hfspec import Vision
from .tlayers import TransformerBuilder
from .transformer import clip_encoder


def _siglip_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """Gemma 3's encoder: transformers' SiglipVisionModel (patch conv, learned positions, encoder layers,
    post_layernorm) and Gemma3MultiModalProjector (average pooling to √tokens², RMSNorm, a projection)."""
    g = v.grid
    with b.scope("vision_tower.vision_model"):
        with b.scope("embeddings"):
            x = b.conv2d(pixels, v.hidden, v.patch, stride=v.patch, name="patch_embedding")
            x = b.view(x, (n, g * g, v.hidden), "flatten_transpose", name="patches")
            x = b.add(x, b.positions(g * g, g * g, v.hidden, name="position_embedding"), name="add_positions")
        x = clip_encoder(b, x, v.layers, v.heads, causal=False, fused=fused, ffn=v.ffn, act=v.act, eps=v.eps)
        x = b.layernorm(x, v.eps, name="post_layernorm")
    with b.scope("multi_modal_projector"):
        x = b.view(x, (n, v.hidden, g, g), "transpose_view", name="patch_grid")
        x = b.avgpool2d(x, v.pool, name="avg_pool")
        x = b.view(x, (n, v.tokens, v.hidden), "flatten_transpose", name="pooled")
        x = b.rmsnorm(x, v.eps, name="mm_soft_emb_norm")
        proj = Weight(f"{b._prefix()}.mm_input_projection_weight", (v.hidden, hidden))
        return b.matmul([x], (n, v.tokens, hidden), Gemm(m=n * v.tokens, n=hidden, k=v.hidden), [proj],
                        name="mm_input_projection")


def _llama4_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """Llama 4's encoder: transformers' Llama4VisionModel (the patches unfolded and projected, a class token appended,
    learned positions, LayerNorms around ``layers`` layers whose attention rotates q and k (2-D RoPE) and whose MLP
    is fc1 → GELU → fc2, with biases; the class token dropped) and Llama4VisionPixelShuffleMLP (each pool × pool
    patches folded into one token: a view, no copy priced; fc1 and fc2 without bias, each followed by GELU), then
    Llama4MultiModalProjector's linear_1."""
    patches, d = v.grid * v.grid, v.hidden
    with b.scope("vision_model"):
        x = b.view(pixels, (n, patches, v.channels * v.patch * v.patch), "unfold", name="unfold")
        x = b.linear(x, d, bias=False, name="patch_embedding.linear")
        cls = b.table_rows((n, 1, d), Weight(f"{b._prefix()}.class_embedding", (d,)), name="class_embedding")
        x = b.concat([x, cls], dim=1, name="cat_class")  # the class token goes last
        x = b.add_param(x, Weight(f"{b._prefix()}.positional_embedding_vlm", (patches + 1, d)), name="add_positions")
        x = b.layernorm(x, v.eps, name="layernorm_pre")
        for i in range(v.layers):
            with b.scope(f"model.layers.{i}"):
                h = b.layernorm(x, v.eps, name="input_layernorm")
                with b.scope("self_attn"):
                    a = b.multihead_attention(h, heads=v.heads, head_dim=d // v.heads, rope=True, fused=fused)
                x = b.add(x, a, name="add_attn")
                h = b.layernorm(x, v.eps, name="post_attention_layernorm")
                with b.scope("mlp"):
                    m = b.mlp(h, v.ffn, v.act, names=("fc1", "fc2"))
                x = b.add(x, m, name="add_mlp")
        x = b.layernorm(x, v.eps, name="layernorm_post")
        x = b.slice_tokens(x, 0, patches, name="drop_class")
        x = b.view(x, (n, v.tokens, d * v.pool * v.pool), "pixel_shuffle", name="pixel_shuffle")
        with b.scope("vision_adapter.mlp"):
            x = b.gelu(b.linear(x, v.adapter[0], bias=False, name="fc1"), name="act_fc1")
            x = b.gelu(b.linear(x, v.adapter[1], bias=False, name="fc2"), name="act_fc2")
    with b.scope("multi_modal_projector"):
        return b.linear(x, hidden, bias=False, name="linear_1")


def vision_tower(b: TransformerBuilder, v: Vision, hidden: int, images: int, fused: bool) -> str:
    """``images`` images through the encoder of :class:`~.hfspec.Vision` ``v`` and its projector: the (images,
    tokens, hidden) soft tokens. Inside the decoder's ``model`` scope (the ops are named ``v.scopes``); the graph
    input ``pixel_values``."""
    pixels = b.add_input("pixel_values", (images, v.channels, v.image, v.image))
    sp, b.sp = b.sp, False  # the tower's tokens are not split along the sequence
    tower = _siglip_tower if v.style == "siglip" else _llama4_tower
    x = tower(b, v, hidden, pixels, images, fused)
    b.sp = sp
    return x


@functools.lru_cache(maxsize=8)
def vision_weights(v: Vision, hidden: int, tp: int, dtype: str) -> tuple[Weight, ...]:
    """The weights :func:`vision_tower` reads (one image, ``tp``-way shards), for a pass that holds them unread."""
    b = TransformerBuilder("vision", {"input": (1, 1)}, dtype=dtype, tp=tp)
    with b.scope("model"):
        vision_tower(b, v, hidden, 1, fused=False)
    return tuple(w for op in b.build().ops for w in op.weights)


__all__ = ["vision_tower", "vision_weights"]
