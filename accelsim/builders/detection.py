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
  nn.MultiheadAttention's packed ``in_proj_weight`` / ``in_proj_bias`` (kdim = vdim = embed_dim) is three LINEARs
  ``q_proj`` / ``k_proj`` / ``v_proj`` (the same params and MACs: as the key is not the value, torch's
  ``_in_projection_packed`` runs three GEMMs on its ``chunk(3)``), whose weights and biases are row slices
  (``Weight.packed``) of ``in_proj.weight`` (768, 256) and ``in_proj.bias`` (768): a training step joins their
  gradients and steps the packed tensors, 4 an attention, 235 steps in all. The sine positions (PositionEmbeddingSine, computed from the padding mask, no params) are a
  graph input ``pos`` of (batch, tokens, 256), and the decoder's zero-initialised targets one ``tgt`` of (batch,
  100, 256); one image a sample, unpadded, so the padding mask masks nothing and is left out. Every batchnorm is a
  frozen norm (``training.freeze``), the affine ``x * scale + bias``, whose 53,120 scales and shifts (26,560
  channels) are buffers, as FrozenBatchNorm2d's ``register_buffer`` makes them: read and held (``weight_bytes``), not
  in ``params``. So ``params`` (``model.parameters()``) is DETR's published count (its main.py ``number of params``,
  the parameters with requires_grad: 41,302,368) plus the frozen ``conv1`` and ``layer1`` convs (9,408 + 212,992 =
  222,400; DETR trains only layer2 to layer4 of the backbone): 41,524,768. Those convs are marked frozen
  (models/backbone.py ``BackboneBase`` sets ``requires_grad_(False)`` on every backbone name without layer2/3/4), so
  ``trainable_params`` is 41,302,368 and a training step has no batch statistics, no gradient or optimizer step for
  them, and no input gradient below layer2.
* ``yolov8n``: Ultralytics YOLOv8n (ultralytics/cfg/models/v8/yolov8.yaml at scale ``n``: depth multiple 0.33, width
  multiple 0.25, max channels 1024), module for module as ``DetectionModel`` builds it, ops named by its modules
  (``model.{i}.cv1.conv``). ``Conv`` is conv (no bias, padding k // 2) → BatchNorm2d (eps 0.001, Ultralytics'
  ``initialize_weights``) → SiLU. ``C2f`` is ``cv1`` (1×1 to 2c), its second half (a slice view of the chunk)
  through n bottlenecks of two 3×3 ``Conv`` (each added to its input in the backbone, ``shortcut=True``; not in
  the head), the concat of ``cv1``'s output and every bottleneck's, and ``cv2`` (1×1). ``SPPF`` is ``cv1`` (1×1 to half),
  its one 5×5 stride-1 max-pool ``m`` applied three times (ops ``m.0`` … ``m.2``), the concat of the four, ``cv2``.
  The PAN-FPN neck upsamples by 2 (nearest) and concatenates as the yaml's ``from`` lists. ``Detect`` (``model.22``)
  runs on the stride 8, 16 and 32 maps: a box branch ``cv2.{i}`` (two 3×3 ``Conv`` of 64, a biased 1×1 conv to
  4 · reg_max = 64) and a class branch ``cv3.{i}`` (two 3×3 ``Conv`` of max(64, min(classes, 100)), a biased 1×1
  conv to the classes), concatenated, flattened and joined over the three levels into (batch, 64 + classes,
  anchors); in inference (``Detect._inference``) the box channels go through ``DFL``: viewed as 4 × 16 bins,
  softmax over the bins, then ``dfl.conv``, a 1×1 conv of 16 → 1 without bias whose weight is fixed to 0 … 15
  (``requires_grad_(False)``), then the anchor decode and the stride scale (one element-wise op) and a sigmoid on
  the class scores. The DFL conv's 16 weights are a parameter in Ultralytics (``model.parameters()`` holds them:
  ``model.info()`` gives 3,157,200 parameters and 3,157,184 gradients, the 16 the difference) and its MACs are in
  its GFLOPs (thop profiles the model in eval mode, where Detect runs DFL), so both are counted here: 3,157,200
  params and 4,371,993,600 MACs at 640; the DFL weight is marked frozen (``training.freeze``), so a training step
  gives it no gradient or step (3,157,184 trainable, as ``model.info()``'s gradients). Ultralytics' 8.7 GFLOPs
  (8.746 in its ``model_info_for_loggers``) is 2 × thop's count of the fused model (BatchNorm folded into the convs): the conv MACs plus, in the thop of that
  time, one op per output element of the two nearest upsamplings (1,228,800); SiLU and pooling uncounted. Every
  BatchNorm2d is marked ``folded_at_load`` (:data:`accelsim.mapping.aliases.FOLDED_AT_LOAD`): Ultralytics'
  predictor and validator load the model through ``AutoBackend(fuse=True)``, whose ``model.fuse()``
  (``BaseModel.fuse`` in ultralytics/nn/tasks.py) folds each ``Conv``'s BN into its conv (``fuse_conv_and_bn``),
  so ``fold_batchnorm: auto`` folds them on a GPU preset too in inference (its trainer keeps them). ``params``
  stays ``model.info()``'s unfused 3,157,200, the count of the checkpoint and of Ultralytics' model table that the
  workload cites; the fused model that runs has 3,151,904 (its logs' "YOLOv8n summary (fused)"): each of the 57
  folds drops a BN's 2·C scales and shifts and adds a C-wide conv bias, −5,296 for the 5,296 BN channels.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from ..ir import Graph, Op, OpKind, Weight
from .cnn import _bottleneck, _conv_bn_act
from .layers import INPUT
from .params import WorkloadParams
from .tlayers import SOFTMAX_FLOPS, TransformerBuilder
from .training import freeze

__all__ = ["DetrParams", "YoloParams", "detr_resnet50", "yolov8n"]


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
_BACKBONE = "backbone.0.body."
_DETR_FROZEN = re.compile(re.escape(_BACKBONE) + r"(?!layer[234]\.)")
"""DETR's frozen backbone parameters (models/backbone.py ``BackboneBase``: ``requires_grad_(False)`` on every name
without 'layer2', 'layer3' or 'layer4'): conv1 and layer1."""


_DETR_QKV = re.compile(r"(.*\.(?:self_attn|multihead_attn))\.[qkv]_proj$")
"""A q/k/v projection of one of DETR's nn.MultiheadAttention modules (group 1: the module)."""


def _packed_in_proj(graph: Graph) -> Graph:
    """``graph`` with each attention's q/k/v projection weights and biases marked row slices
    (:attr:`~accelsim.ir.Weight.packed`) of the module's ``in_proj.weight`` (3·256, 256) and ``in_proj.bias``
    (3·256): nn.MultiheadAttention with kdim = vdim = embed_dim registers one packed ``in_proj_weight`` and
    ``in_proj_bias``, and as the key is not the value, F.multi_head_attention_forward's ``_in_projection_packed``
    runs three GEMMs on its ``chunk(3)``; so the GEMMs stay, a training step steps the packed tensors."""
    ops = []
    for op in graph.ops:
        match = _DETR_QKV.match(op.name) if op.kind is OpKind.LINEAR else None
        if match:
            module = match.group(1)
            op = replace(op, weights=tuple(
                replace(w, packed=f"{module}.in_proj.{'bias' if w.is_bias else 'weight'}") for w in op.weights))
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta=graph.meta)


def _detr_frozen_norm(op: Op) -> bool:
    """The backbone's FrozenBatchNorm2d (``Backbone`` passes ``norm_layer=FrozenBatchNorm2d``): every batch norm."""
    return op.fn == "batchnorm" and op.name.startswith(_BACKBONE)


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
    100 queries; 41,302,368 trainable params (41,524,768 with the frozen stem and layer1)."""
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
        # (n, 6 · q, d): each output normed; TransformerDecoder's torch.stack(intermediate), a copy on a GPU preset
        hs = b.layernorm(b.concat(outputs, dim=1, name="stack", eager_copy=True), name="norm")
    b.linear(hs, _CLASSES + 1, name="class_embed")
    with b.scope("bbox_embed"):
        y = b.relu(b.linear(hs, _D, name="layers.0"), name="relu0")
        y = b.relu(b.linear(y, _D, name="layers.1"), name="relu1")
        b.sigmoid(b.linear(y, 4, name="layers.2"), name="sigmoid")
    return freeze(_packed_in_proj(b.build({"model": "detr_resnet50", **p.model_dump(), "feature_map": (h, w)})),
                  params=lambda w: bool(_DETR_FROZEN.match(w.name)), norms=_detr_frozen_norm)


# ---- YOLOv8 (Ultralytics) ------------------------------------------------------------------------------------
class YoloParams(WorkloadParams):
    """YOLOv8 on one square RGB image a sample (Ultralytics' ``imgsz``, letterboxed to a multiple of 32)."""

    image_size: PositiveInt = Field(640, description="Input height and width in pixels (a multiple of 32, the "
                                                     "largest stride; 640: Ultralytics' COCO evaluation).")
    num_classes: PositiveInt = Field(80, description="Classes of the Detect head (nc; 80: COCO).")

    @field_validator("image_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32 (YOLOv8's stride-32 map and its 2× upsampling back to the "
                             "stride-16 map need whole sides; e.g. 640)")
        return value


_YOLO_DEPTH, _YOLO_WIDTH, _YOLO_MAX_CH = 0.33, 0.25, 1024  # yolov8.yaml scales: n: [0.33, 0.25, 1024]
_REG_MAX = 16  # Detect.reg_max: the DFL bins per box side
_DECODE_FLOPS = 4  # per output of (batch, 4, anchors): dist2bbox's x1y1 = a − lt and x2y2 = a + rb (4 an anchor), the
# centre (x1y1 + x2y2) / 2 (4) and size x2y2 − x1y1 (2), then × stride (4): 14 an anchor, 3.5 an output, counted 4


def _width(c: int) -> int:
    """Channels at YOLOv8n's width: ``make_divisible(min(c, max_channels) · width, 8)`` (parse_model)."""
    return math.ceil(min(c, _YOLO_MAX_CH) * _YOLO_WIDTH / 8) * 8


def _depth(n: int) -> int:
    """Repeats at YOLOv8n's depth: ``max(round(n · depth), 1)`` (parse_model)."""
    return max(round(n * _YOLO_DEPTH), 1)


def _yolo_conv(b: TransformerBuilder, x: str, out_ch: int, kernel: int = 1, stride: int = 1) -> str:
    """Ultralytics ``Conv``: conv (no bias, padding k // 2) → BatchNorm2d (eps 0.001) → SiLU, in the current scope."""
    return _conv_bn_act(b, x, out_ch, kernel, stride, act=b.silu, eps=1e-3)


def _c2f(b: TransformerBuilder, x: str, out_ch: int, n: int, shortcut: bool) -> str:
    """Ultralytics ``C2f`` (e = 0.5): cv1 to 2c, its second half through n bottlenecks, all concatenated, cv2."""
    c = out_ch // 2
    with b.scope("cv1"):
        y = _yolo_conv(b, x, 2 * c)
    batch, _, h, w = b.shape(y)
    parts, z = [y], b.view(y, (batch, c, h, w), "slice", name="chunk", strict=False, dim=1, start=c)
    for i in range(n):
        with b.scope(f"m.{i}"):
            with b.scope("cv1"):
                t = _yolo_conv(b, z, c, 3)
            with b.scope("cv2"):
                t = _yolo_conv(b, t, c, 3)
            z = b.add(z, t, name="add") if shortcut else t
        parts.append(z)
    y = b.concat(parts, dim=1, name="cat", eager_copy=True)
    with b.scope("cv2"):
        return _yolo_conv(b, y, out_ch)


def _sppf(b: TransformerBuilder, x: str, out_ch: int) -> str:
    """Ultralytics ``SPPF`` (k = 5): cv1 to half the channels, three chained 5×5 stride-1 max-pools, concat, cv2."""
    with b.scope("cv1"):
        y = _yolo_conv(b, x, b.shape(x)[1] // 2)
    parts = [y]
    for i in range(3):
        parts.append(b.maxpool2d(parts[-1], 5, stride=1, padding=2, name=f"m.{i}"))
    y = b.concat(parts, dim=1, name="cat", eager_copy=True)
    with b.scope("cv2"):
        return _yolo_conv(b, y, out_ch)


def _detect(b: TransformerBuilder, feats: list[str], classes: int) -> str:
    """Ultralytics ``Detect`` in inference: per level the box and class branches, then DFL and the decode."""
    c2 = max(16, b.shape(feats[0])[1] // 4, 4 * _REG_MAX)
    c3 = max(b.shape(feats[0])[1], min(classes, 100))
    batch, levels = b.shape(feats[0])[0], []
    for i, x in enumerate(feats):
        branches = []
        for branch, width, out in (("cv2", c2, 4 * _REG_MAX), ("cv3", c3, classes)):
            y = x
            for j in range(2):
                with b.scope(f"{branch}.{i}.{j}"):
                    y = _yolo_conv(b, y, width, 3)
            branches.append(b.conv2d(y, out, 1, name=f"{branch}.{i}.2"))
        y = b.concat(branches, dim=1, name=f"cat{i}", eager_copy=True)
        _, ch, h, w = b.shape(y)
        levels.append(b.view(y, (batch, ch, h * w), "flatten", name=f"flatten{i}"))
    y = b.concat(levels, dim=2, name="cat", eager_copy=True)
    _, no, anchors = b.shape(y)
    box = b.view(y, (batch, 4 * _REG_MAX, anchors), "slice", name="box", strict=False, dim=1, start=0)
    cls = b.view(y, (batch, classes, anchors), "slice", name="cls", strict=False, dim=1, start=4 * _REG_MAX)
    with b.scope("dfl"):  # x.view(b, 4, 16, a).transpose(2, 1).softmax(1), then the fixed 1×1 conv 16 → 1
        bins = b.view(box, (batch, _REG_MAX, 4, anchors), "transpose", name="bins")
        bins = b.vector(OpKind.SOFTMAX, [bins], b.shape(bins), "softmax", SOFTMAX_FLOPS, name="softmax", dim=1)
        dist = b.view(b.conv2d(bins, 1, 1, bias=False, name="conv"), (batch, 4, anchors), name="view")
    dbox = b.vector(OpKind.ELEMENTWISE, [dist], (batch, 4, anchors), "dist2bbox", _DECODE_FLOPS, name="decode")
    return b.concat([dbox, b.sigmoid(cls, name="sigmoid")], dim=1, name="output", eager_copy=True)


def yolov8n(p: YoloParams) -> Graph:
    """YOLOv8n (Ultralytics yolov8.yaml, scale n): C2f backbone with SPPF, PAN-FPN neck, decoupled anchor-free Detect
    head with DFL at strides 8 / 16 / 32; 3,157,200 params (Ultralytics' model.info())."""
    b = TransformerBuilder("yolov8n", {INPUT: (p.batch, 3, p.image_size, p.image_size)}, dtype=p.dtype or "fp16")
    c1, c2, c3, c4, c5 = (_width(c) for c in (64, 128, 256, 512, 1024))
    out: list[str] = []

    def layer(fn: Callable[..., str], *args: object) -> str:
        with b.scope(f"model.{len(out)}"):
            out.append(fn(*args))
        return out[-1]

    up = functools.partial(b.upsample_nearest, scale=2, name="up")

    def cat(x: str, i: int) -> str:
        return b.concat([x, out[i]], dim=1, name="cat", eager_copy=True)

    x = layer(_yolo_conv, b, INPUT, c1, 3, 2)  # 0: P1/2
    x = layer(_yolo_conv, b, x, c2, 3, 2)  # 1: P2/4
    x = layer(_c2f, b, x, c2, _depth(3), True)
    x = layer(_yolo_conv, b, x, c3, 3, 2)  # 3: P3/8
    x = layer(_c2f, b, x, c3, _depth(6), True)
    x = layer(_yolo_conv, b, x, c4, 3, 2)  # 5: P4/16
    x = layer(_c2f, b, x, c4, _depth(6), True)
    x = layer(_yolo_conv, b, x, c5, 3, 2)  # 7: P5/32
    x = layer(_c2f, b, x, c5, _depth(3), True)
    x = layer(_sppf, b, x, c5)  # 9
    x = layer(cat, layer(up, x), 6)  # 10, 11: up to P4, cat backbone P4
    x = layer(_c2f, b, x, c4, _depth(3), False)  # 12
    x = layer(cat, layer(up, x), 4)  # 13, 14: up to P3, cat backbone P3
    p3 = layer(_c2f, b, x, c3, _depth(3), False)  # 15: P3/8 out
    x = layer(cat, layer(_yolo_conv, b, p3, c3, 3, 2), 12)  # 16, 17
    p4 = layer(_c2f, b, x, c4, _depth(3), False)  # 18: P4/16 out
    x = layer(cat, layer(_yolo_conv, b, p4, c4, 3, 2), 9)  # 19, 20
    p5 = layer(_c2f, b, x, c5, _depth(3), False)  # 21: P5/32 out
    layer(_detect, b, [p3, p4, p5], p.num_classes)  # 22
    graph = b.build({"model": "yolov8n", **p.model_dump(),
                     "anchors": sum((p.image_size // s) ** 2 for s in (8, 16, 32))})
    # every BatchNorm2d is in a Conv, which Ultralytics' inference folds into the conv as it loads the weights
    # (AutoBackend(fuse=True) → BaseModel.fuse() → fuse_conv_and_bn): eager PyTorch never launches it
    graph = Graph(graph.name, [replace(op, attrs={**op.attrs, "folded_at_load": True})
                               if op.kind is OpKind.NORM and op.fn == "batchnorm" else op for op in graph.ops],
                  graph.inputs, meta=graph.meta)
    # DFL's conv is fixed (Ultralytics' ``nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)``)
    return freeze(graph, params=lambda w: w.name == "model.22.dfl.conv.weight")
