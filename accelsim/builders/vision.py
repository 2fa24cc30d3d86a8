"""Image encoders beside a language model's decoder (:class:`~.hfspec.Vision`): Gemma 3's SigLIP tower and
projector, LLaVA's CLIP tower and projector, Llama 4's vision model, pixel shuffle and projector, Qwen-VL's (and
GLM-4.1V's) vision transformers, Mistral 3's Pixtral and InternVL's InternViT with their projectors, built with transformers' module names under the
decoder's ``model`` scope. :mod:`.hf` runs them on a prefill's images (``images``) or holds their weights."""

from __future__ import annotations

import contextlib
import dataclasses
import functools

from ..errors import WorkloadError
from ..ir import Gemm, OpKind, Weight
from .hfspec import Vision
from .tlayers import TransformerBuilder
from .transformer import clip_embeddings, clip_encoder


def _siglip_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """Gemma 3's encoder: transformers' SiglipVisionModel (patch conv, learned positions, encoder layers,
    post_layernorm) and Gemma3MultiModalProjector (average pooling to √tokens², RMSNorm, a projection)."""
    g = v.grid
    with b.scope("vision_tower.vision_model"):
        with b.scope("embeddings"):
            x = b.conv2d(pixels, v.hidden, v.patch, stride=v.patch, name="patch_embedding")
            x = b.view(x, (n, g * g, v.hidden), "flatten_transpose", name="patches")
            # vLLM's SiglipVisionEmbeddings: the position table is a VocabParallelEmbedding (split by rows)
            x = b.add(x, b.positions(g * g, g * g, v.hidden, name="position_embedding", split=True),
                      name="add_positions")
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


def _clip_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """LLaVA's encoder: transformers' CLIPVisionModel (embeddings, ``pre_layrnorm``, every encoder layer, as
    transformers runs them before taking ``vision_feature_layer``'s states; ``post_layernorm`` norms the pooled
    class token only, its weights held; vLLM's tower, :meth:`~.hfspec.Vision.to_feature_layer`, has the layers up
    to the feature layer and no ``post_layernorm``) and LlavaMultiModalProjector (``linear_1`` → activation →
    ``linear_2``) on the patch tokens (``v.tokens``: without the class token, or with it)."""
    g, d = v.grid, v.hidden
    with b.scope("vision_tower.vision_model"):
        x = clip_embeddings(b, pixels, n, d, v.patch, g)
        x = b.layernorm(x, v.eps, name="pre_layrnorm")
        x = clip_encoder(b, x, v.layers, v.heads, causal=False, fused=fused, ffn=v.ffn, act=v.act, eps=v.eps)
        if v.post_norm:
            x = b.unused_params(x, [Weight(f"{b._prefix()}.post_layernorm.{w}", (d,)) for w in ("weight", "bias")],
                                name="post_layernorm")
        if v.tokens == g * g:  # vision_feature_select_strategy "default": the class token dropped
            x = b.slice_tokens(x, 1, g * g, name="patch_features")
    with b.scope("multi_modal_projector"):
        return b.mlp(x, hidden, v.projector_act, bias=v.projector_bias, names=("linear_1", "linear_2"),
                     out_features=hidden)


def _pixtral_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """Mistral 3's encoder: transformers' PixtralVisionModel (``vision_tower``: a bias-free patch conv, one linear of
    each patch's channels × patch² values; ``ln_pre``; pre-norm layers of RMSNorms, bias-free attention with 2-D RoPE
    over each image's patches, a gated MLP) and Mistral3MultiModalProjector (RMSNorm ``norm``, the merge × merge
    patches side by side into ``patch_merger.merging_layer``, ``linear_1`` → GELU → ``linear_2``)."""
    d = v.hidden
    with b.scope("vision_tower"):
        x = b.linear(pixels, d, bias=False, name="patch_conv")
        x = b.rmsnorm(x, v.eps, name="ln_pre")
        for i in range(v.layers):
            with b.scope(f"transformer.layers.{i}"):
                h = b.rmsnorm(x, v.eps, name="attention_norm")
                with b.scope("attention"):
                    a = b.multihead_attention(h, heads=v.heads, head_dim=d // v.heads, bias=False, rope=True,
                                              fused=fused)
                x = b.add(x, a, name="add_attn")
                h = b.rmsnorm(x, v.eps, name="ffn_norm")
                with b.scope("feed_forward"):
                    m = b.swiglu_mlp(h, v.ffn, act=v.act)
                x = b.add(x, m, name="add_mlp")
    with b.scope("multi_modal_projector"):
        x = b.rmsnorm(x, v.eps, name="norm")
        x = b.view(x, (n, v.tokens, d * v.merge * v.merge), "merge_patches", name="merged")
        x = b.linear(x, d, bias=False, name="patch_merger.merging_layer")
        return b.mlp(x, hidden, v.projector_act, bias=v.projector_bias, names=("linear_1", "linear_2"),
                     out_features=hidden)


def _internvit_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """InternVL's encoder on 448² tiles: transformers' InternVLVisionModel (``vision_tower``: a biased patch conv, the
    class token first, learned positions; layers of LayerNorms (or RMSNorms), attention with q / k / v biases
    (``attn_bias``), an optional QK-norm over the whole projections and a biased ``projection_layer``, a GELU MLP
    ``fc1`` / ``fc2``, each branch × a learned layer scale ``lambda_1`` / ``lambda_2``); the class token dropped, the
    pixel shuffle (a view: each 2 × 2 patches one token of 4 × the width), then InternVLMultiModalProjector
    (``layer_norm``, ``linear_1`` → GELU → ``linear_2``, biased)."""
    d, patches = v.hidden, v.grid * v.grid

    def norm(x: str, name: str) -> str:
        return b.rmsnorm(x, v.eps, name=name) if v.norm == "rmsnorm" else b.layernorm(x, v.eps, name=name)

    with b.scope("vision_tower"):
        with b.scope("embeddings"):
            x = b.linear(pixels, d, name="patch_embeddings.projection")
            cls = b.table_rows((n, 1, d), Weight(f"{b._prefix()}.cls_token", (1, 1, d)), name="cls_token")
            x = b.concat([cls, x], dim=1, name="cat_class")
            x = b.add_param(x, Weight(f"{b._prefix()}.position_embeddings", (1, patches + 1, d)),
                            name="add_positions")
        for i in range(v.layers):
            with b.scope(f"encoder.layer.{i}"):
                h = norm(x, "layernorm_before")
                with b.scope("attention"):
                    a = b.multihead_attention(h, heads=v.heads, head_dim=d // v.heads,
                                              bias=(v.attn_bias, v.attn_bias, v.attn_bias, True),
                                              names=("q_proj", "k_proj", "v_proj", "projection_layer"),
                                              qk_norm=v.eps if v.qk_norm else None, qk_norm_style="projection",
                                              fused=fused)
                a = b.add_param(a, Weight(f"{b._prefix()}.lambda_1", (d,)), fn="mul", name="lambda_1")
                x = b.add(x, a, name="add_attn")
                h = norm(x, "layernorm_after")
                with b.scope("mlp"):
                    m = b.mlp(h, v.ffn, v.act, names=("fc1", "fc2"))
                m = b.add_param(m, Weight(f"{b._prefix()}.lambda_2", (d,)), fn="mul", name="lambda_2")
                x = b.add(x, m, name="add_mlp")
        x = b.slice_tokens(x, 1, patches, name="patch_features")
        x = b.view(x, (n, v.tokens, d * v.merge * v.merge), "pixel_shuffle", name="pixel_shuffle")
    with b.scope("multi_modal_projector"):
        x = b.layernorm(x, 1e-5, name="layer_norm")
        return b.mlp(x, hidden, v.projector_act, bias=v.projector_bias, names=("linear_1", "linear_2"),
                     out_features=hidden)


def _llama4_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int, fused: bool) -> str:
    """Llama 4's encoder: transformers' Llama4VisionModel (the patches unfolded and projected, a class token appended,
    learned positions, LayerNorms around ``layers`` layers whose attention rotates q and k (2-D RoPE) and whose MLP
    is fc1 → GELU → fc2, with biases; the class token dropped) and Llama4VisionPixelShuffleMLP (each pool × pool
    patches folded into one token: a view, no copy priced; fc1 and fc2 without bias, each followed by GELU), then
    Llama4MultiModalProjector's linear_1."""
    patches, d = v.grid * v.grid, v.hidden
    with b.scope("vision_model"):
        x = b.view(pixels, (n, patches, v.channels * v.patch * v.patch), "unfold", name="unfold")
        # vLLM's mllama4: the patch projection and the projector are column-split with their outputs gathered, the
        # adapter's fc1 / fc2 column- and row-split
        x = b.gathered_linear(x, d, bias=False, name="patch_embedding.linear")
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
            x = b.gelu(b.linear(x, b._tp_hidden(v.adapter[0]), bias=False, name="fc1"), name="act_fc1")
            x = b.gelu(b._tp_out(b.linear(x, v.adapter[1], bias=False, name="fc2")), name="act_fc2")
    with b.scope("multi_modal_projector"):
        return b.gathered_linear(x, hidden, bias=False, name="linear_1")


def _qwen_attention(b: TransformerBuilder, v: Vision, x: str, n: int, windowed: bool, fused: bool) -> str:
    """A Qwen-VL encoder layer's attention (scope ``attn``): the biased ``qkv`` projection, 2-D RoPE on whole heads,
    bidirectional attention over each image's patches, or (``windowed``, Qwen2.5-VL) within each window of
    ``v.window``² patches, and the biased ``proj``. Windows are (images × windows, heads, window², d) views of the
    heads; a grid that is not a multiple of the window has shorter edge and corner windows (:func:`window_groups`),
    each size its own attention (scopes ``full``, ``edge``, ``corner``) and the contexts concatenated (``ctx``).

    The calls are the stack's (:func:`_calls`). Unfused, transformers' eager path: Qwen2_5_VLVisionAttention,
    Qwen3VLVisionAttention and Glm4vVisionAttention.forward split q, k and v at ``cu_seqlens`` (each window's, or
    in a full-attention layer each image's, patches) and call the attention once per piece, then ``torch.cat`` the
    outputs (every implementation but flash_attention_2), so each attention op stands for as many calls (attr
    ``kernels``: images × windows of its size, or images) and an ELEMENTWISE copy ``cat`` follows. Fused, the
    FlashAttention varlen kernel vLLM (and transformers' flash_attention_2) runs over ``cu_seqlens``: one kernel a
    layer, the edge and corner windows' ops inside the full windows' (``kernels`` 0).

    Under tensor parallelism Qwen2.5-VL's and Qwen3-VL's layers all-gather the column-split ``qkv`` output
    (COLLECTIVE ``qkv_all_gather``, (images, patches, 3 × hidden)) before each chip takes its heads back out of it,
    as vLLM's Qwen2_5_VisionAttention.split_qkv does (``all_gather_interleave`` then
    ``split_tensor_along_last_dim(...)[tp_rank]``; Qwen3-VL's blocks use the same class); GLM-4.1V's
    Glm4vVisionAttention.split_qkv gathers nothing."""
    d = v.hidden // v.heads
    gather = b.tp > 1 and v.style != "glm4v"
    if fused and not windowed and not gather:  # GLM-4.1V: qkv biased as attention_bias says (none in the checkpoint)
        bias = (v.attn_bias,) * 3 + (v.style != "glm4v",)
        return b.multihead_attention(x, heads=v.heads, head_dim=d, fused_qkv="qkv", names=("", "", "", "proj"),
                                     bias=bias, rope=True, fused=fused)
    if v.heads % b.tp:
        raise WorkloadError(f"{b.name}: tensor_parallel {b.tp} must divide the encoder's heads ({v.heads})",
                            key=("tensor_parallel",))
    heads = v.heads // b.tp
    qkv = b.linear(x, 3 * heads * d, bias=v.attn_bias, name="qkv")
    part = heads * d  # q, k and v side by side: this chip's heads of each, or after the gather every chip's
    if gather:
        qkv = b._tp_collective(qkv, "all_gather", (*b.shape(qkv)[:-1], 3 * v.hidden))
        part = v.hidden
    q, k, val = (b.split_heads(qkv, heads, d, i * part, name=t) for i, t in enumerate(("q", "k", "v")))
    q, k = b.rope(q, name="q_rope"), b.rope(k, name="k_rope")
    if not windowed:  # every patch of an image attends to every other
        start = len(b._ops)
        ctx = _calls(b, start, b.attention(q, k, val, fused=fused), n, fused)
    else:
        parts = []
        groups = window_groups(v.grid, v.window)
        for i, (group, count, size) in enumerate(groups):  # one attention op per window size, its windows only
            with b.scope(group) if len(groups) > 1 else contextlib.nullcontext():
                shape = (n * count, heads, size, d)
                wq, wk, wv = (b.view(t, shape, "window_partition", name=f"{t.rsplit('.', 1)[-1]}_windows",
                                     strict=len(groups) == 1) for t in (q, k, val))
                start = len(b._ops)
                w = _calls(b, start, b.attention(wq, wk, wv, fused=fused), n * count, fused, first=i == 0)
                parts.append(b.view(w, (n, heads, count * size, d), "window_merge", name="ctx"))
        ctx = parts[0] if len(parts) == 1 else b.concat(parts, dim=2, name="ctx")
    if not fused:  # torch.cat of the calls' outputs: a copy
        ctx = b.vector(OpKind.ELEMENTWISE, [ctx], b.shape(ctx), "copy", 0, name="cat")
    return b._tp_out(b.linear(b.merge_heads(ctx, name="merge"), v.hidden, bias=v.style != "glm4v", name="proj"))


def _calls(b: TransformerBuilder, start: int, out: str, calls: int, fused: bool, first: bool = True) -> str:
    """``out``, once the builder's ops from index ``start`` (an attention over ``calls`` equal pieces of its batch)
    carry the kernels they take (op attr ``kernels``, which the mapper launches and dispatches: ``mapping.lower``):
    unfused, ``calls`` each, as transformers' eager attention runs each piece as its own call; fused, one varlen
    kernel for all, opened by the ``first`` op over them (``kernels`` 0 on the others'). The work and bytes stay the
    batched op's: each call's launch and dispatch are counted, not its smaller grid."""
    kernels = 1 if fused and first else 0 if fused else calls
    if kernels != 1:
        b._ops[start:] = [op if op.kind.is_view else dataclasses.replace(op, attrs={**op.attrs, "kernels": kernels})
                          for op in b._ops[start:]]
    return out


def window_groups(grid: int, window: int) -> list[tuple[str, int, int]]:
    """Qwen2.5-VL's attention windows over a ``grid`` × ``grid`` patch grid, grouped by size: (group, windows,
    patches each). transformers' get_window_index pads the grid to a multiple of the ``window`` (in patches, a
    multiple of the merge) and then drops the padding (``index_padded != -100``), so the last window along a side
    holds grid mod window patches: "full" windows window², "edge" ones window × rest (two sides), one "corner" of
    rest². A grid the window divides has "full" windows only."""
    whole, rest = divmod(grid, window)
    groups = [("full", whole * whole, window * window)]
    if rest:
        groups += [("edge", 2 * whole, window * rest), ("corner", 1, rest * rest)]
    return [g for g in groups if g[1]]


def _qwen_merger(b: TransformerBuilder, v: Vision, x: str, hidden: int, n: int, scope: str, after: bool) -> str:
    """A Qwen-VL patch merger (scope ``scope``): each merge × merge patches' features side by side (a view) through
    a biased MLP of 4 × the width with GELU to the decoder's width. Qwen2.5-VL: RMSNorm ``ln_q`` on each patch
    first, linears ``mlp.0`` / ``mlp.2``; Qwen3-VL: LayerNorm ``norm`` on each patch, or after the concatenation
    (``after``: the DeepStack mergers), linears ``linear_fc1`` / ``linear_fc2``."""
    wide = v.hidden * v.merge * v.merge
    qwen3 = v.style == "qwen3"
    with b.scope(scope):
        if not after:
            x = b.layernorm(x, v.eps, name="norm") if qwen3 else b.rmsnorm(x, v.eps, name="ln_q")
        x = b.view(x, (n, v.tokens, wide), "merge_patches", name="merged")
        if after:
            x = b.layernorm(x, v.eps, name="norm")
        return b.mlp(x, wide, "gelu", names=("linear_fc1", "linear_fc2") if qwen3 else ("mlp.0", "mlp.2"),
                     out_features=hidden)


def _glm_merger(b: TransformerBuilder, v: Vision, x: str, hidden: int, n: int) -> str:
    """GLM-4.1V's merge and merger: ``downsample``, a biased Conv2d of kernel and stride merge from the encoder's
    width to the decoder's (one linear of each merge × merge patches' features side by side), then
    Glm4vVisionPatchMerger (``merger``: ``proj`` without bias, LayerNorm ``post_projection_norm``, GELU, and a
    SwiGLU MLP ``gate_proj`` / ``up_proj`` / ``down_proj`` of ``merger_ffn``, without biases)."""
    x = b.view(x, (n, v.tokens, v.hidden * v.merge * v.merge), "merge_patches", name="merged")
    x = b.linear(x, hidden, name="downsample")
    with b.scope("merger"):
        x = b.linear(x, hidden, bias=False, name="proj")
        x = b.gelu(b.layernorm(x, 1e-5, name="post_projection_norm"), name="act1")
        return b.swiglu_mlp(x, v.merger_ffn, act=v.act)


POSITION_TAPS = {"qwen3": (4, 7), "glm4v": (16, 31)}
"""A learned position table resampled to the patch grid: table rows read per patch and FLOPs per output element
(Qwen3-VL's bilinear weights: 4 rows, 4 multiplies and 3 adds; GLM-4.1V's bicubic ``grid_sample``: 16 rows, 16
multiplies and 15 adds). The interpolation weights themselves (per patch, not per feature) are not counted."""


def _qwen_tower(b: TransformerBuilder, v: Vision, hidden: int, pixels: str, n: int,
                fused: bool) -> tuple[str, tuple[str, ...]]:
    """Qwen2.5-VL's and Qwen3-VL's vision transformers (transformers' Qwen2_5_VisionTransformerPretrainedModel,
    Qwen3VLVisionModel) under ``visual``: the patch embedding (a Conv3d whose kernel is its stride: one linear of
    the patch's channels × frames × patch² values, biased in Qwen3-VL), Qwen3-VL's learned positions (4 table rows
    a patch, bilinearly weighted: 7 FLOPs an element), the encoder layers (pre-norm: RMSNorm and a biased SwiGLU MLP
    in Qwen2.5-VL, LayerNorm and a biased GELU MLP ``linear_fc1`` / ``linear_fc2`` in Qwen3-VL) and the merger.
    Qwen2.5-VL puts the patches in window order before the first layer and the merged tokens back after the merger
    (two copies, ``window_reorder`` / ``window_restore``). GLM-4.1V (transformers' Glm4vVisionModel): a biased
    patch embedding, RMSNorm ``post_conv_layernorm``, the learned positions (``embeddings.position_embedding``, 16
    rows a patch, bicubically weighted), RMSNorm layers with an unbiased proj and SwiGLU MLP, RMSNorm
    ``post_layernorm``, then :func:`_glm_merger`. Returns the soft tokens and the DeepStack features."""
    patches, d = v.grid * v.grid, v.hidden
    qwen3, glm = v.style == "qwen3", v.style == "glm4v"

    def norm(x: str, name: str) -> str:
        return b.layernorm(x, v.eps, name=name) if qwen3 else b.rmsnorm(x, v.eps, name=name)

    deep: list[str] = []
    with b.scope("visual"):
        x = b.linear(pixels, d, bias=qwen3 or glm, name="patch_embed.proj")
        if glm:
            x = b.rmsnorm(x, v.eps, name="post_conv_layernorm")
        if v.positions:
            taps, flops = POSITION_TAPS[v.style]
            table = "embeddings.position_embedding" if glm else "pos_embed"
            rows = b.table_rows((n, patches, taps, d), Weight(f"{b._prefix()}.{table}.weight", (v.positions, d)),
                                name=table)
            pos = b.vector(OpKind.ELEMENTWISE, [rows], (n, patches, d), "bicubic" if glm else "bilinear", flops,
                           name="pos_interpolate")
            x = b.add(x, pos, name="add_pos_embed")
        windowed = bool(v.window) and len(v.full_layers) < v.layers
        if windowed:
            x = b.vector(OpKind.ELEMENTWISE, [x], b.shape(x), "copy", 0, name="window_reorder")
        for i in range(v.layers):
            with b.scope(f"blocks.{i}"):
                h = norm(x, "norm1")
                with b.scope("attn"):
                    a = _qwen_attention(b, v, h, n, windowed and i not in v.full_layers, fused)
                x = b.add(x, a, name="add_attn")
                h = norm(x, "norm2")
                with b.scope("mlp"):
                    m = (b.mlp(h, v.ffn, v.act, names=("linear_fc1", "linear_fc2")) if qwen3 else
                         b.swiglu_mlp(h, v.ffn, bias=not glm, act=v.act))
                x = b.add(x, m, name="add_mlp")
            if i in v.deepstack:
                deep.append(_qwen_merger(b, v, x, hidden, n, f"deepstack_merger_list.{len(deep)}", after=True))
        if glm:
            out = _glm_merger(b, v, b.rmsnorm(x, v.eps, name="post_layernorm"), hidden, n)
        else:
            out = _qwen_merger(b, v, x, hidden, n, "merger", after=False)
        if windowed:
            out = b.vector(OpKind.ELEMENTWISE, [out], b.shape(out), "copy", 0, name="window_restore")
    return out, tuple(deep)


def vision_tower(b: TransformerBuilder, v: Vision, hidden: int, images: int,
                 fused: bool) -> tuple[str, tuple[str, ...]]:
    """``images`` images through the encoder of :class:`~.hfspec.Vision` ``v`` and its projector: the (images,
    tokens, hidden) soft tokens, and Qwen3-VL's DeepStack features (each (images, tokens, hidden); none for the
    others). Inside the decoder's ``model`` scope (the ops are named ``v.scopes``); the graph input
    ``pixel_values``: the images, or Qwen-VL's patches (images, patches, channels × frames × patch²)."""
    sp, b.sp = b.sp, False  # the tower's tokens are not split along the sequence
    try:
        x, deep = _tower(b, v, hidden, images, fused)
    except WorkloadError as e:  # name the encoder: its widths are not the decoder's (tensor_parallel must divide both)
        raise WorkloadError(f"the image encoder: {e.detail}", e.key) from None
    b.sp = sp
    return x, deep


def _tower(b: TransformerBuilder, v: Vision, hidden: int, images: int, fused: bool) -> tuple[str, tuple[str, ...]]:
    """:func:`vision_tower`'s graph input and the style's encoder."""
    if v.qwen_like:
        pixels = b.add_input("pixel_values", (images, v.grid * v.grid, v.channels * v.temporal * v.patch * v.patch))
        x, deep = _qwen_tower(b, v, hidden, pixels, images, fused)
    elif v.style in ("pixtral", "internvit"):  # patches as rows: each patch conv a linear of its values
        pixels = b.add_input("pixel_values", (images, v.grid * v.grid, v.channels * v.patch * v.patch))
        tower = _pixtral_tower if v.style == "pixtral" else _internvit_tower
        x, deep = tower(b, v, hidden, pixels, images, fused), ()
    else:
        pixels = b.add_input("pixel_values", (images, v.channels, v.image, v.image))
        tower = {"siglip": _siglip_tower, "clip": _clip_tower}.get(v.style, _llama4_tower)
        x, deep = tower(b, v, hidden, pixels, images, fused), ()
    return x, deep


@functools.lru_cache(maxsize=8)
def vision_weights(v: Vision, hidden: int, tp: int, dtype: str) -> tuple[Weight, ...]:
    """The weights :func:`vision_tower` reads (one image, ``tp``-way shards), for a pass that holds them unread."""
    b = TransformerBuilder("vision", {"input": (1, 1)}, dtype=dtype, tp=tp)
    with b.scope("model"):
        vision_tower(b, v, hidden, 1, fused=False)
    return tuple(w for op in b.build().ops for w in op.weights)


__all__ = ["vision_tower", "vision_weights"]
