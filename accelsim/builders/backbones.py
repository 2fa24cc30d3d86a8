"""ConvNeXt and the Swin Transformer as op graphs, layer for layer as torchvision builds them
(``torchvision.models.convnext``, ``torchvision.models.swin_transformer``): four stages, each a quarter of the
previous one's pixels and twice its channels, LayerNorm and GELU MLPs. Op and weight names follow torchvision's module
names (``features.1.0.block.3``, ``features.5.2.attn.qkv``), so ``Graph.params`` equals torchvision's published
parameter count. Op conventions are those of :mod:`.layers` and :mod:`.tlayers`.

* ``convnext_tiny``: a 4×4 stride-4 stem conv and a LayerNorm over the channels (``LayerNorm2d``: NORM fn
  "layernorm" over dim 1), after the copy eager PyTorch's layer_norm makes of its permuted NCHW input
  (``features.0.1.contiguous``: ELEMENTWISE fn "copy", attr ``eager_copy``; the network is channels-last after it,
  so no later LayerNorm copies); CNBlocks ``features.{1,3,5,7}.{j}`` of a 7×7 depthwise conv (``block.0``), a permute to
  channels-last (a RESHAPE view), a LayerNorm, ``block.3`` linear to 4× the channels, GELU, ``block.5`` linear back, a
  permute back (a view), the layer scale (ELEMENTWISE fn "mul" by the (C, 1, 1) ``layer_scale`` parameter) and the
  residual add (stochastic depth is the identity at inference); between stages (``features.{2,4,6}``) a LayerNorm over
  the channels and a 2×2 stride-2 conv; average pool, ``classifier.0`` LayerNorm over the channels, ``classifier.2``
  linear.
* ``swin_t``: a 4×4 stride-4 patch conv, a permute to (B, H, W, C) and a LayerNorm (``features.0``); Swin blocks
  ``features.{1,3,5,7}.{j}``, pre-norm: ``norm1``, shifted-window attention, the residual add, ``norm2``, ``mlp.0``
  linear to 4× → GELU → ``mlp.3`` linear back, the residual add. Attention runs over windows, not the whole map:
  the map is padded to a multiple of the window (7), rolled by half a window in odd blocks (torch.roll; not where
  the window covers the padded map, torchvision's rule, so never in stage 4 at 224²) and cut into windows, one RESHAPE
  view ``window_partition`` (attrs ``window``, ``shift``, ``pad``: no work, no bytes, as SAM's partition), giving
  (B · windows, 49, C) sequences; ``attn.qkv`` linear, the heads split, the attention of :meth:`.tlayers.
  TransformerBuilder.attention` with the relative position bias as an additive score term (``attn.
  relative_position_bias``: an EMBEDDING op gathering 49 · 49 rows of the (13 · 13, heads) ``attn.
  relative_position_bias_table`` parameter, viewed as (1, heads, 49, 49)) and, in a shifted block, the shift mask
  (a graph input ``shift_mask{stage}`` of (windows, 1, 49, 49), one per stage, as torchvision adds its
  (windows, 49, 49) mask to every sample's and head's scores); ``attn.proj`` linear; a ``window_reverse`` view back to
  (B, H, W, C) (the roll back and the crop). Between stages (``features.{2,4,6}``) patch merging: each 2×2 patch's
  features side by side (a ``patch_merge`` view of (B, H/2, W/2, 4C)), ``norm`` and a bias-free ``reduction``
  linear to 2C. Then ``norm``, a permute to (B, C, H, W), average pool and ``head``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from ..ir import Graph, OpKind, Weight
from .cnn import ImageNetParams, _sized
from .tlayers import TransformerBuilder

__all__ = ["ConvNeXtParams", "SwinParams", "convnext_tiny", "swin_t"]


class ConvNeXtParams(ImageNetParams):
    """A ConvNeXt classifier (torchvision): square RGB input."""


class SwinParams(ImageNetParams):
    """A Swin Transformer classifier (torchvision): square RGB input, attention unfused or fused."""

    image_size: PositiveInt = Field(224, description="Input height and width in pixels (a multiple of 32: the 4×4 patches "
                                             "and three 2×2 patch mergings; maps are padded to the 7×7 windows).")
    attention: Literal["unfused", "fused"] = Field(
        "unfused", description="'unfused': QKᵀ, the bias and mask adds, softmax and PV as separate ops; 'fused': one "
                               "ATTENTION op per window batch. Same params and MACs.")

    @field_validator("image_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError("must be a multiple of 32 (4×4 patches, then three 2×2 patch mergings)")
        return value


def _graph_builder(model: str, p: ImageNetParams) -> TransformerBuilder:
    # sdpa: a fused attention is PyTorch's scaled_dot_product_attention (torchvision's Swin runs its matmuls and
    # softmax unfused, the default)
    return TransformerBuilder(model, {"input": (p.batch, 3, p.image_size, p.image_size)}, dtype=p.dtype or "fp16",
                              sdpa=True)


def _meta(model: str, p: ImageNetParams) -> dict[str, object]:
    return {"model": model, **p.model_dump()}


# ---- ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s") ------------------------------------------------------
_CONVNEXT_TINY = ((96, 3), (192, 3), (384, 9), (768, 3))  # (channels, blocks), torchvision convnext_tiny


def _cn_block(b: TransformerBuilder, x: str, dim: int) -> str:
    """torchvision CNBlock: 7×7 depthwise conv, permute, LayerNorm(eps 1e-6), linear 4·dim, GELU, linear dim,
    permute back, × layer_scale, + input."""
    n, _, h, w = b.shape(x)
    # x is channels-last (see convnext_tiny), so PyTorch runs this depthwise conv on cuDNN, then its bias add_
    # (Convolution.cpp use_cudnn_depthwise: "always use cudnn_depthwise for channels_last format"; layers._eager_bias)
    y = b.conv2d(x, dim, 7, padding=3, groups=dim, name="block.0", channels_last=True)
    y = b.view(y, (n, h, w, dim), "permute", name="block.1")
    y = b.layernorm(y, 1e-6, name="block.2")
    y = b.gelu(b.linear(y, 4 * dim, name="block.3"), name="block.4")
    y = b.linear(y, dim, name="block.5")
    y = b.view(y, (n, dim, h, w), "permute", name="block.6")
    y = b.add_param(y, Weight(b.scoped("layer_scale"), (dim, 1, 1)), fn="mul", name="layer_scale")
    return b.add(y, x, name="add")


@_sized
def convnext_tiny(p: ConvNeXtParams) -> Graph:
    """ConvNeXt-Tiny (torchvision): stages of 3, 3, 9, 3 CNBlocks, 96 to 768 channels; 28,589,128 parameters."""
    b = _graph_builder("convnext_tiny", p)
    x = b.conv2d("input", _CONVNEXT_TINY[0][0], 4, stride=4, name="features.0.0")
    # LayerNorm2d permutes the stem conv's NCHW output to (N, H, W, C) and calls F.layer_norm, whose native kernel
    # (layer_norm.cpp / layer_norm_kernel.cu: auto X = input.expect_contiguous()) copies the non-contiguous view
    # first: one copy kernel in eager PyTorch (mapping.aliases: no work off a GPU preset). Its contiguous output,
    # permuted back, is channels-last, and every later tensor stays so (pytorch-image-models#1340: LayerNorm2d on a
    # contiguous tensor "accidentally turns most of the network into channels last mode"), so the later permutes
    # are free views and no later layer_norm copies
    x = b.vector(OpKind.ELEMENTWISE, [x], b.shape(x), "copy", 0, name="features.0.1.contiguous", eager_copy=True)
    x = b.layernorm(x, 1e-6, dim=1, name="features.0.1")
    for stage, (dim, blocks) in enumerate(_CONVNEXT_TINY):
        for j in range(blocks):
            with b.scope(f"features.{2 * stage + 1}.{j}"):
                x = _cn_block(b, x, dim)
        if stage + 1 < len(_CONVNEXT_TINY):
            with b.scope(f"features.{2 * stage + 2}"):
                x = b.layernorm(x, 1e-6, dim=1, name="0")
                x = b.conv2d(x, _CONVNEXT_TINY[stage + 1][0], 2, stride=2, name="1")
    x = b.adaptive_avgpool2d(x, 1, name="avgpool")
    x = b.layernorm(x, 1e-6, dim=1, name="classifier.0")
    x = b.flatten(x, name="classifier.1")
    b.linear(x, p.num_classes, name="classifier.2")
    return b.build(_meta("convnext_tiny", p))


# ---- Swin Transformer (Liu et al. 2021, "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows") --
_SWIN_T = ((96, 2, 3), (192, 2, 6), (384, 6, 12), (768, 2, 24))  # (dim, depth, heads), torchvision swin_t
_SWIN_PATCH, _SWIN_WINDOW = 4, 7


def swin_windows(side: int, window: int = _SWIN_WINDOW) -> tuple[int, int, bool]:
    """A ``side`` × ``side`` map's windows as torchvision's shifted_window_attention cuts them: (windows per side,
    padding, whether an odd block shifts): the map padded up to a multiple of ``window``, and no shift where one
    window covers the padded map."""
    pad = -side % window
    per_side = (side + pad) // window
    return per_side, pad, per_side > 1


def _swin_block(b: TransformerBuilder, x: str, heads: int, shifted: bool, mask: str | None, fused: bool) -> str:
    """torchvision SwinTransformerBlock on (B, H, W, C): norm1, ShiftedWindowAttention, add, norm2, MLP, add."""
    n, h, w, dim = b.shape(x)
    per_side, pad, _ = swin_windows(h)
    windows, tokens, hd = n * per_side * per_side, _SWIN_WINDOW * _SWIN_WINDOW, dim // heads
    shift = _SWIN_WINDOW // 2 if shifted else 0
    y = b.layernorm(x, 1e-5, name="norm1")
    y = b.view(y, (windows, tokens, dim), "window_partition", name="window_partition", strict=False,
               window=_SWIN_WINDOW, shift=shift, pad=(pad, pad))
    with b.scope("attn"):
        qkv = b.linear(y, 3 * dim, name="qkv")
        q, k, v = (b.split_heads(qkv, heads, hd, i * dim, name=t) for i, t in enumerate(("q", "k", "v")))
        table = Weight(b.scoped("relative_position_bias_table"), ((2 * _SWIN_WINDOW - 1) ** 2, heads))
        bias = b.table_rows((tokens * tokens, heads), table, name="relative_position_bias")
        bias = b.view(bias, (1, heads, tokens, tokens), "permute", name="relative_position_bias_permute")
        ctx = b.attention(q, k, v, fused=fused, extra=[bias, *([mask] if shifted and mask else [])])
        y = b.linear(b.merge_heads(ctx, name="merge"), dim, name="proj")
    y = b.view(y, (n, h, w, dim), "window_reverse", name="window_reverse", strict=False, window=_SWIN_WINDOW,
               shift=shift, pad=(pad, pad))
    x = b.add(x, y, name="add_attn")
    y = b.layernorm(x, 1e-5, name="norm2")
    with b.scope("mlp"):
        y = b.mlp(y, 4 * dim, "gelu", names=("0", "3"), act_name="1")
    return b.add(x, y, name="add_mlp")


def swin_t(p: SwinParams) -> Graph:
    """Swin-T (torchvision): patch 4, window 7, stages of 2, 2, 6, 2 blocks, 96 to 768 wide, 3 to 24 heads;
    28,288,354 parameters."""
    b = _graph_builder("swin_t", p)
    fused = p.attention == "fused"
    side = p.image_size // _SWIN_PATCH
    with b.scope("features.0"):
        x = b.conv2d("input", _SWIN_T[0][0], _SWIN_PATCH, stride=_SWIN_PATCH, name="0")
        x = b.view(x, (p.batch, side, side, _SWIN_T[0][0]), "permute", name="1")
        x = b.layernorm(x, 1e-5, name="2")
    for stage, (dim, depth, heads) in enumerate(_SWIN_T):
        per_side, _, shifts = swin_windows(side)
        mask = None
        if shifts:  # torchvision builds the (windows, 49, 49) mask of the shifted windows in each forward
            tokens = _SWIN_WINDOW * _SWIN_WINDOW
            mask = b.add_input(f"shift_mask{stage + 1}", (per_side * per_side, 1, tokens, tokens))
        for j in range(depth):
            with b.scope(f"features.{2 * stage + 1}.{j}"):
                x = _swin_block(b, x, heads, j % 2 == 1 and shifts, mask, fused)
        if stage + 1 < len(_SWIN_T):  # the side is even here: image_size is a multiple of 32
            side //= 2
            with b.scope(f"features.{2 * stage + 2}"):
                x = b.view(x, (p.batch, side, side, 4 * dim), "patch_merge", name="patch_merge")
                x = b.layernorm(x, 1e-5, name="norm")
                x = b.linear(x, 2 * dim, bias=False, name="reduction")
    dim = _SWIN_T[-1][0]
    x = b.layernorm(x, 1e-5, name="norm")
    x = b.view(x, (p.batch, dim, side, side), "permute", name="permute")
    x = b.flatten(b.adaptive_avgpool2d(x, 1, name="avgpool"), name="flatten")
    b.linear(x, p.num_classes, name="head")
    return b.build(_meta("swin_t", p))

