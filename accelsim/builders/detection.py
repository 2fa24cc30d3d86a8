"""Object detectors as op graphs, layer for layer as their reference implementations. Op and weight names follow the
reference module names. Op conventions are those of :mod:`.layers` and :mod:`.tlayers`.

* ``detr_resnet50``: DETR (Carion et al. 2020) as facebookresearch/detr's ``detr_resnet50`` (hubconf.py) builds it:
  torchvision's ResNet-50 to layer4 (``backbone.0.body``; stride 32, 2048 channels; no avgpool or fc) with
  FrozenBatchNorm2d, ``input_proj`` (a 1×1 conv to 256), then the transformer on the (H/32)·(W/32) feature tokens:
  6 post-norm encoder layers (``transformer.encoder.layers.{i}``: ``self_attn`` with queries and keys from the
  features plus the sine positions, values from the features; ``norm1``; ``linear1`` → ReLU → ``linear2`` of
  2048; ``norm2``) and 6 post-norm decoder layers over the 100 object queries (``transformer.decoder.layers.{i}``:
  ``self_attn`` on the queries plus ``query_embed``, ``norm1``, ``multihead_attn`` from the queries plus
  ``query_embed`` to the memory plus the positions (values: the memory), ``norm2``, the FFN, ``norm3``). The
  decoder returns every layer's output (``return_intermediate_dec=True``), each through the shared
  ``transformer.decoder.norm`` (one NORM op over the 6 outputs side by side), and ``class_embed`` (91 classes + no
  object) and ``bbox_embed`` (a 3-layer MLP, then a sigmoid) run on all 6 × 100 queries, as DETR's forward does.
  nn.MultiheadAttention's ``in_proj_weight`` is three LINEARs ``q_proj`` / ``k_proj`` / ``v_proj`` (the same
  params and MACs). The sine positions (PositionEmbeddingSine, computed from the padding mask, no params) are a
  graph input ``pos`` of (batch, tokens, 256), and the decoder's zero-initialised targets one ``tgt`` of (batch,
  100, 256); one image a sample, unpadded, so the padding mask masks nothing and is left out. FrozenBatchNorm2d's
  scale and shift are buffers in DETR but are counted here as batchnorm weights (as ``resnet50``'s), so ``params``
  is DETR's published count (its main.py ``number of params``, the parameters with requires_grad: 41,302,368)
  plus the frozen ``conv1`` and ``layer1`` convs (222,400; DETR trains only layer2 to layer4 of the backbone) plus
  the 53,120 batchnorm scales and shifts: 41,577,888.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from ..ir import Graph, Weight
from .cnn import _bottleneck
from .params import WorkloadParams
from .tlayers import TransformerBuilder

__all__ = ["DetrParams", "detr_resnet50"]


class DetrParams(WorkloadParams):
    """DETR on one RGB image a sample, resized as DETR's COCO evaluation does (shorter side 800, longer at most
    1333)."""

    image_height: PositiveInt = Field(800, description="Input height in pixels (at least 32; 800: DETR's COCO "
                                                       "evaluation resizes the shorter side to 800).")
    image_width: PositiveInt = Field(1066, description="Input width in pixels (at least 32; 1066: a 640×480 "
                                                       "COCO image, the commonest size, resized to 800 high).")
    num_queries: PositiveInt = Field(100, description="Object queries (query_embed's rows).")
    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, softmax and PV as separate ops; 'fused': one ATTENTION op. Same "
                               "params and MACs.")

    @field_validator("image_height", "image_width")
    @classmethod
    def _at_least_32(cls, value: int) -> int:
        if value < 32:
            raise ValueError("must be at least 32 (the backbone's stride-32 feature map needs one row and column)")
        return value


_D, _HEADS, _FFN, _LAYERS, _CLASSES = 256, 8, 2048, 6, 91  # hubconf.py detr_resnet50: hidden_dim 256, 91 classes


def _feature_side(side: int) -> int:
    """A ResNet-50 layer4 map's side for an input ``side``: conv1 (7, stride 2, pad 3), the max-pool (3, 2, 1) and the
    three stride-2 3×3 convs (pad 1) each take ⌈side / 2⌉."""
    for _ in range(5):
        side = (side + 1) // 2
    return side


def _attention(b: TransformerBuilder, q: str, k: str, v: str, fused: bool) -> str:
    return b.multihead_attention(q, k, v, heads=_HEADS, head_dim=_D // _HEADS,
                                 names=("q_proj", "k_proj", "v_proj", "out_proj"), fused=fused)


def detr_resnet50(p: DetrParams) -> Graph:
    """DETR R50 (facebookresearch/detr detr_resnet50): ResNet-50, 6+6 post-norm layers of 256, 8 heads, FFN 2048,
    100 queries; 41,302,368 trainable params (41,577,888 with the frozen stem, layer1 and batchnorms)."""
    h, w = _feature_side(p.image_height), _feature_side(p.image_width)
    tokens, n, q = h * w, p.batch, p.num_queries
    b = TransformerBuilder("detr_resnet50", {"input": (n, 3, p.image_height, p.image_width)},
                           dtype=p.dtype or "fp16")  # nn.MultiheadAttention with need_weights: bmm, not sdpa
    fused = p.attention == "fused"
    with b.scope("backbone.0.body"):
        x = b.conv2d("input", 64, 7, stride=2, padding=3, bias=False, name="conv1")
        x = b.relu(b.batchnorm2d(x, name="bn1"), name="relu")
        x = b.maxpool2d(x, 3, stride=2, padding=1, name="maxpool")
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)):
            for j in range(blocks):
                with b.scope(f"layer{i + 1}.{j}"):
                    x = _bottleneck(b, x, planes, 2 if i > 0 and j == 0 else 1)
    x = b.conv2d(x, _D, 1, name="input_proj")
    src = b.view(x, (n, tokens, _D), "flatten_transpose", name="flatten")  # src.flatten(2).permute(2, 0, 1)
    pos = b.add_input("pos", (n, tokens, _D))
    with b.scope("transformer.encoder"):
        for i in range(_LAYERS):
            with b.scope(f"layers.{i}"):
                qk = b.add(src, pos, name="with_pos_embed")
                with b.scope("self_attn"):
                    a = _attention(b, qk, qk, src, fused)
                src = b.layernorm(b.add(src, a, name="add_attn"), name="norm1")
                f = b.mlp(src, _FFN, "relu", names=("linear1", "linear2"))
                src = b.layernorm(b.add(src, f, name="add_ffn"), name="norm2")
    memory = src
    query_pos = b.table_rows((n, q, _D), Weight("query_embed.weight", (q, _D)), name="query_embed")
    tgt = b.add_input("tgt", (n, q, _D))
    outputs = []
    with b.scope("transformer.decoder"):
        mem_pos = b.add(memory, pos, name="memory_with_pos")  # the same memory + pos in every layer's cross-attention
        for i in range(_LAYERS):
            with b.scope(f"layers.{i}"):
                qk = b.add(tgt, query_pos, name="with_query_pos")
                with b.scope("self_attn"):
                    a = _attention(b, qk, qk, tgt, fused)
                tgt = b.layernorm(b.add(tgt, a, name="add_self_attn"), name="norm1")
                qc = b.add(tgt, query_pos, name="cross_with_query_pos")
                with b.scope("multihead_attn"):
                    a = _attention(b, qc, mem_pos, memory, fused)
                tgt = b.layernorm(b.add(tgt, a, name="add_cross_attn"), name="norm2")
                f = b.mlp(tgt, _FFN, "relu", names=("linear1", "linear2"))
                tgt = b.layernorm(b.add(tgt, f, name="add_ffn"), name="norm3")
                outputs.append(tgt)
        hs = b.layernorm(b.concat(outputs, dim=1, name="stack"), name="norm")  # (n, 6 · q, d): each output normed
    b.linear(hs, _CLASSES + 1, name="class_embed")
    with b.scope("bbox_embed"):
        y = b.relu(b.linear(hs, _D, name="layers.0"), name="relu0")
        y = b.relu(b.linear(y, _D, name="layers.1"), name="relu1")
        b.sigmoid(b.linear(y, 4, name="layers.2"), name="sigmoid")
    return b.build({"model": "detr_resnet50", **p.model_dump(), "feature_map": (h, w)})
