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
  residual add (in training after the block's stochastic depth, torchvision's StochasticDepth "row":
  :func:`.cnn.stochastic_depth`, eager kernels on a GPU preset; the identity at inference); between stages (``features.{2,4,6}``) a LayerNorm over
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
  features side by side (a ``patch_merge`` view of (B, H/2, W/2, 4C); torchvision's torch.cat of the four strided
  slices, ``cat``, is an eager-only copy), ``norm`` and a bias-free ``reduction`` linear to 2C. Then ``norm``, a permute to
  (B, C, H, W), average pool and ``head``. The kernels only eager PyTorch launches (ELEMENTWISE ops marked
  ``eager_copy``: work on a GPU preset, views elsewhere; :func:`_swin_block`, :func:`_shift_mask`): the stem
  LayerNorm's copy of its permuted input (``features.0.2.contiguous``), each block's pad, rolls, window copies, q
  scale, at::matmul's q, k and v copies, bias copy, head-merge copy and, in a shifted block, the mask built in each forward and its separate add, and
  each patch merging's pad clone and torch.cat (``features.{2,4,6}.pad``, ``.cat``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from ..ir import Graph, OpKind, Weight
from .cnn import ImageNetParams, _sized, stochastic_depth
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
_CONVNEXT_SD = 0.1  # torchvision convnext_tiny's stochastic_depth_prob


def _cn_block(b: TransformerBuilder, x: str, dim: int, sd_prob: float = 0.0, training: bool = False) -> str:
    """torchvision CNBlock: 7×7 depthwise conv, permute, LayerNorm(eps 1e-6), linear 4·dim, GELU, linear dim,
    permute back, × layer_scale, the stochastic depth of ``sd_prob`` in training (:func:`.cnn.stochastic_depth`),
    + input."""
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
    y = stochastic_depth(b, y, sd_prob, training)
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
    # torchvision _convnext: block i of the 18 gets sd_prob = stochastic_depth_prob · i / (18 − 1), convnext_tiny's
    # stochastic_depth_prob 0.1 (so block 0's is 0: no kernels)
    total, block_id = sum(c[1] for c in _CONVNEXT_TINY), 0
    for stage, (dim, blocks) in enumerate(_CONVNEXT_TINY):
        for j in range(blocks):
            with b.scope(f"features.{2 * stage + 1}.{j}"):
                x = _cn_block(b, x, dim, _CONVNEXT_SD * block_id / (total - 1), p.mode == "training")
            block_id += 1
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
_SWIN_SD = 0.2  # torchvision swin_t's stochastic_depth_prob


def swin_windows(side: int, window: int = _SWIN_WINDOW) -> tuple[int, int, bool]:
    """A ``side`` × ``side`` map's windows as torchvision's shifted_window_attention cuts them: (windows per side,
    padding, whether an odd block shifts): the map padded up to a multiple of ``window``, and no shift where one
    window covers the padded map."""
    pad = -side % window
    per_side = (side + pad) // window
    return per_side, pad, per_side > 1


def _eager(b: TransformerBuilder, inputs: list[str], shape: tuple[int, ...], fn: str, name: str,
           elems: int | None = None) -> str:
    """A kernel only eager PyTorch launches (attr ``eager_copy``: work on a GPU preset, elsewhere it aliases its
    inputs, :mod:`accelsim.mapping.aliases`) of ``shape``: ``elems`` elements (all of ``shape``'s by default). No
    FLOPs counted: the graph's FLOPs are the same on every arch, and a compiler folds these (its scalar multiply and
    mask arithmetic are a few flops an element, where the launch is what eager PyTorch pays)."""
    n = math.prod(shape) if elems is None else elems
    return b._add(b._name(name, fn), OpKind.ELEMENTWISE, inputs, shape, vector_elems=n, fn=fn, eager_copy=True)


def _mask_add(b: TransformerBuilder, built: str) -> None:
    """torchvision's separate ``attn = attn + attn_mask`` after the bias add: an eager-only ELEMENTWISE ``mask_add``
    reading the scores and the built mask (``built``), put between the attention's ``add_rel_pos`` and its
    ``softmax``, which then reads it."""
    scores, soft = b.scoped("add_rel_pos"), b.scoped("softmax")
    name = _eager(b, [scores, built], b.shape(scores), "add", "mask_add")
    op = b._ops.pop()
    i = next(j for j, o in enumerate(b._ops) if o.name == soft)
    if b._ops[i].inputs[0] != scores:  # (Swin's attention has no soft-cap or causal mask in between)
        raise AssertionError(f"{soft} does not read {scores}")
    b._ops[i] = replace(b._ops[i], inputs=(name, *b._ops[i].inputs[1:]))
    b._ops.insert(i, op)


def _shift_mask(b: TransformerBuilder, side: int, windows: int) -> str:
    """The 18 kernels torchvision's shifted_window_attention launches to build a shifted block's mask in every
    forward (pytorch/vision torchvision/models/swin_transformer.py, ``shifted_window_attention``, "generate
    attention mask"), on a ``side`` × ``side`` padded map of ``windows`` windows: ``x.new_zeros((pad_H, pad_W))``;
    9 slice assignments ``attn_mask[h0:h1, w0:w1] = count`` (fill_ of (side − 7, 4, 3) × (side − 7, 4, 3) regions);
    ``permute(0, 2, 1, 3).reshape(num_windows, 49)`` (a copy: the permute swaps two dims of size > 1); the
    ``unsqueeze(1) − unsqueeze(2)`` subtraction; ``!= 0``; ``masked_fill`` (ATen's out-of-place masked_fill,
    TensorAdvancedIndexing.cpp ``masked_fill``: ``_self->clone(...)`` then ``result.masked_fill_``, 2 kernels);
    ``== 0`` of the difference; ``masked_fill`` again (2). Eager-only (a compiler folds the constant mask, the graph
    input the score add reads off a GPU). Bytes from the shapes in the model's dtype (the two comparisons' bool
    outputs included)."""
    tokens = _SWIN_WINDOW * _SWIN_WINDOW
    shift = _SWIN_WINDOW // 2
    with b.scope("mask"):
        m = _eager(b, [], (side, side), "zeros", "new_zeros")
        spans = (side - _SWIN_WINDOW, _SWIN_WINDOW - shift, shift)  # h_slices / w_slices: (0, -7), (-7, -3), (-3, None)
        for i, (rows, cols) in enumerate((r, c) for r in spans for c in spans):
            m = _eager(b, [m], (side, side), "fill", f"fill.{i}", elems=rows * cols)
        m = _eager(b, [m], (windows, tokens), "copy", "reshape")
        diff = _eager(b, [m], (windows, tokens, tokens), "sub", "sub")
        m = diff
        for i, cmp in enumerate(("ne", "eq")):  # masked_fill(attn_mask != 0, -100), then (attn_mask == 0, 0)
            where = _eager(b, [diff], (windows, tokens, tokens), cmp, cmp)
            m = _eager(b, [m], (windows, tokens, tokens), "copy", f"masked_fill.{i}.clone")
            m = _eager(b, [m, where], (windows, tokens, tokens), "masked_fill", f"masked_fill.{i}")
    return m


def _swin_block(b: TransformerBuilder, x: str, heads: int, shifted: bool, mask: str | None, fused: bool,
                sd_prob: float = 0.0, training: bool = False) -> str:
    """torchvision SwinTransformerBlock on (B, H, W, C): norm1, ShiftedWindowAttention, add, norm2, MLP, add; in
    training each branch through the block's stochastic depth of ``sd_prob`` before its add
    (``x + self.stochastic_depth(...)``: ``stochastic_depth.attn``, ``stochastic_depth.mlp``,
    :func:`.cnn.stochastic_depth`).
    The kernels eager PyTorch launches besides (attr ``eager_copy``, :func:`_eager`; pytorch/vision
    torchvision/models/swin_transformer.py ``shifted_window_attention`` and ``_get_relative_position_bias``):
    ``attn.pad`` (F.pad: ATen constant_pad_nd, PadNd.cpp, returns ``c_input.clone()`` when no pad is positive, else
    ``output.fill_`` and a copy into it: ``attn.pad.fill``); with a shift, ``attn.roll.{0,1}`` (torch.roll over
    dims (1, 2): ATen's roll_cuda hands 2 dims to roll_common, TensorTransformations.cpp, which rolls the first dim
    then the rest: 2 kernels) and ``attn.unroll.{0,1}`` back; ``attn.partition`` (the window partition's
    ``permute(0, 1, 3, 2, 4, 5).reshape``, a copy where a map has more than one window per side; one window: a view);
    ``attn.q_scale`` (``q * (C // num_heads) ** -0.5``); ``attn.relative_position_bias.contiguous``
    (``permute(2, 0, 1).contiguous()``); with a shift, the mask's kernels (:func:`_shift_mask`) and ``attn.mask_add``
    (``attn + attn_mask``, :func:`_mask_add`; the add's flop a score and the graph input ``shift_mask{stage}`` stay
    ``add_rel_pos``'s second term, as a compiler's one kernel reads them, so on a GPU the mask is read twice);
    ``attn.merge.contiguous`` (``matmul(v).transpose(1, 2).reshape``: a copy, heads > 1); ``attn.reverse`` (the
    reverse partition's copy, more than one window a side); ``attn.crop`` (``x[:, :H, :W, :].contiguous()``, a copy
    where the map was padded); ``attn.{q,k,v}.bmm_copy`` (unfused, more than one window in the batch and heads > 1:
    at::matmul on the 4-D q and kᵀ, then attn and v, flattens the batch dims with
    ``tensor1.expand(...).reshape(expand_batch_product, n, m1)``, LinearAlgebra.cpp ``_matmul_impl``, and the
    (windows, heads) dims of a strided slice of the qkv output (q · scale keeps its layout) do not merge into a view,
    so each reshape copies; one window: the size-1 dim merges)."""
    n, h, w, dim = b.shape(x)
    per_side, pad, _ = swin_windows(h)
    windows, tokens, hd = n * per_side * per_side, _SWIN_WINDOW * _SWIN_WINDOW, dim // heads
    shift = _SWIN_WINDOW // 2 if shifted else 0
    side = h + pad
    padded = (n, side, side, dim)
    y = b.layernorm(x, 1e-5, name="norm1")
    with b.scope("attn"):
        if pad:  # constant_pad_nd: fill the padded map, copy the input into it (written over the padded map here)
            _eager(b, [], padded, "fill", "pad.fill")
        y = _eager(b, [y], padded, "copy", "pad")
        for i in range(2 if shift else 0):
            y = _eager(b, [y], padded, "roll", f"roll.{i}")
        if per_side > 1:
            y = _eager(b, [y], padded, "copy", "partition")
    y = b.view(y, (windows, tokens, dim), "window_partition", name="window_partition", strict=False,
               window=_SWIN_WINDOW, shift=shift, pad=(pad, pad))
    with b.scope("attn"):
        qkv = b.linear(y, 3 * dim, name="qkv")
        q, k, v = (b.split_heads(qkv, heads, hd, i * dim, name=t) for i, t in enumerate(("q", "k", "v")))
        if not fused:  # sdpa scales inside its kernel
            q = _eager(b, [q], b.shape(q), "scale", "q_scale")
            if windows > 1 and heads > 1:  # at::matmul's reshape of (windows, heads) into one bmm batch copies
                q, k, v = (_eager(b, [t], b.shape(t), "copy", f"{n}.bmm_copy") for t, n in ((q, "q"), (k, "k"), (v, "v")))
        table = Weight(b.scoped("relative_position_bias_table"), ((2 * _SWIN_WINDOW - 1) ** 2, heads))
        bias = b.table_rows((tokens * tokens, heads), table, name="relative_position_bias")
        bias = b.view(bias, (1, heads, tokens, tokens), "permute", name="relative_position_bias_permute")
        bias = _eager(b, [bias], (1, heads, tokens, tokens), "copy", "relative_position_bias.contiguous")
        built = _shift_mask(b, side, per_side * per_side) if shifted and mask and not fused else None
        ctx = b.attention(q, k, v, fused=fused, extra=[bias, *([mask] if shifted and mask else [])])
        if built is not None:
            _mask_add(b, built)
        y = b.merge_heads(ctx, name="merge")
        if heads > 1:
            y = _eager(b, [y], b.shape(y), "copy", "merge.contiguous")
        y = b.linear(y, dim, name="proj")
        if per_side > 1:
            y = _eager(b, [y], padded, "copy", "reverse")
        for i in range(2 if shift else 0):
            y = _eager(b, [y], padded, "roll", f"unroll.{i}")
        if pad:
            y = _eager(b, [y], (n, h, w, dim), "copy", "crop")
    y = b.view(y, (n, h, w, dim), "window_reverse", name="window_reverse", strict=False, window=_SWIN_WINDOW,
               shift=shift, pad=(pad, pad))
    y = stochastic_depth(b, y, sd_prob, training, name="stochastic_depth.attn")
    x = b.add(x, y, name="add_attn")
    y = b.layernorm(x, 1e-5, name="norm2")
    with b.scope("mlp"):
        y = b.mlp(y, 4 * dim, "gelu", names=("0", "3"), act_name="1")
    y = stochastic_depth(b, y, sd_prob, training, name="stochastic_depth.mlp")
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
        # F.layer_norm copies the permuted NCHW view first (Tensor.expect_contiguous, as ConvNeXt's stem): eager only
        x = _eager(b, [x], b.shape(x), "copy", "2.contiguous")
        x = b.layernorm(x, 1e-5, name="2")
    # torchvision swin_t: block i of the 12 gets sd_prob = stochastic_depth_prob · i / (12 − 1), swin_t's 0.2
    total, block_id = sum(c[1] for c in _SWIN_T), 0
    for stage, (dim, depth, heads) in enumerate(_SWIN_T):
        per_side, _, shifts = swin_windows(side)
        mask = None
        if shifts:  # torchvision builds the (windows, 49, 49) mask of the shifted windows in each forward
            tokens = _SWIN_WINDOW * _SWIN_WINDOW
            mask = b.add_input(f"shift_mask{stage + 1}", (per_side * per_side, 1, tokens, tokens))
        for j in range(depth):
            with b.scope(f"features.{2 * stage + 1}.{j}"):
                x = _swin_block(b, x, heads, j % 2 == 1 and shifts, mask, fused,
                                _SWIN_SD * block_id / (total - 1), p.mode == "training")
            block_id += 1
        if stage + 1 < len(_SWIN_T):  # the side is even here: image_size is a multiple of 32
            side //= 2
            with b.scope(f"features.{2 * stage + 2}"):
                # PatchMerging: _patch_merging_pad's F.pad (zero pads: a clone), the four strided
                # x[..., i::2, j::2, :] slices side by side (the patch_merge view) and torch.cat(-1), ATen's
                # CatArrayBatchedCopy writing them into a new tensor: eager-only copies (one view of one input, so
                # that a training graph's backward has no sum of four slices' gradients)
                x = _eager(b, [x], b.shape(x), "copy", "pad")
                x = b.view(x, (p.batch, side, side, 4 * dim), "patch_merge", name="patch_merge")
                x = _eager(b, [x], b.shape(x), "concat", "cat")
                x = b.layernorm(x, 1e-5, name="norm")
                x = b.linear(x, 2 * dim, bias=False, name="reduction")
    dim = _SWIN_T[-1][0]
    x = b.layernorm(x, 1e-5, name="norm")
    x = b.view(x, (p.batch, dim, side, side), "permute", name="permute")
    x = b.flatten(b.adaptive_avgpool2d(x, 1, name="avgpool"), name="flatten")
    b.linear(x, p.num_classes, name="head")
    return b.build(_meta("swin_t", p))

