"""Pass 1, aliases: views (reshape, concat, head splits) do no work and alias the physical tensors they read;
a kernel only eager PyTorch launches (op attr ``eager_copy``: a copy it makes of a strided view, ConvNeXt's stem
LayerNorm2d's or an unfused attention's head merge; transformers' eager attention's 1/√d scale and BERT's
extended-mask add, builders/tlayers.py) works only on a GPU preset (a core with ``core.tile``, which models eager
PyTorch), elsewhere it is in place on its first input, which it aliases (a mask add's mask goes unread), and so
does a concatenation a builder marks ``eager_copy`` (torch.cat: ATen's CatArrayBatchedCopy reads each input and
writes a new tensor on a GPU preset; a compiler's producers write into the concatenation's buffer); where
``options.fold_batchnorm`` says so (:func:`folds_batchnorm`: 'auto' does off a GPU preset, and on every arch for a
batch norm a builder marks ``folded_at_load``: the model's own inference code folds it, Ultralytics' ``fuse()``) a batch norm
directly after a conv/linear, and its only reader, is folded into it (its scale merges into the producer's
weights, its shift is loaded as the producer's bias); a conv whose raw output another op also reads keeps its BN
(probe p115 #3: y = BN(conv(x)) + conv(x) needs both tensors).

A selecting view (:data:`SELECTING`: a slice such as q out of a fused q/k/v projection, the rotated part of a head,
DLRM's triangle, an expert group's rows, a CLS token, a crop, a backward pass's split of a concatenation's or a
fused attention's gradient) with fewer elements than its input covers that fraction of the input's
physical tensors; an op reading it reads only that share of their bytes (``Plan.shares``). Other views read their
input whole (a reshape, or a broadcast's gradient, which sums it)."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

from ..hardware import Arch
from ..ir import Graph, Op, OpKind
from ..options import Options
from .plan import Plan

_FOLDABLE = (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR)


FOLDED_AT_LOAD = "folded_at_load"
"""Op attr a builder sets on a batch norm that the model's own inference code folds into its conv when it loads the
weights (Ultralytics' ``AutoBackend(fuse=True)`` → ``BaseModel.fuse()`` → ``fuse_conv_and_bn``), so eager PyTorch
never launches it: 'auto' folds it on every arch, a GPU preset included."""


def folds_batchnorm(options: Options, arch: Arch | None, op: Op | None = None) -> bool:
    """Whether a run of ``options`` on ``arch`` folds inference batch norms (``op``: this one) into their convs:
    ``fold_batchnorm`` where written true or false; 'auto' folds except on a GPU preset (a core with ``core.tile``;
    None: no arch, as off a GPU), and there too for a batch norm marked :data:`FOLDED_AT_LOAD`. The GPU presets
    model eager PyTorch (arch.kernel_launch) and CUDA graphs captured from it, where nn.BatchNorm2d in eval calls
    F.batch_norm, a cuDNN / ATen kernel of its own; a compiler (torch.fx fusion, torch.compile freezing, TensorRT)
    folds it, as an NPU's compiler does (probe p173 #1: resnet50 on a100 ran 53 fewer kernels than eager PyTorch
    launches, 2.547 against 3.660 ms), or the model's own code before its eager inference (probe p230 #1:
    Ultralytics' predictor and validator fuse every Conv's BN, yolov8n on h100 4.035 → 2.838 ms)."""
    if options.fold_batchnorm != "auto":
        return bool(options.fold_batchnorm)
    return arch is None or arch.core.tile is None or (op is not None and op.attrs.get(FOLDED_AT_LOAD) is True)


def aliases(graph: Graph, options: Options, arch: Arch | None = None) -> tuple[Plan, ...]:
    """One plan per op with the physical tensors it reads; views and folded norms do no work (``arch``: the run's,
    which decides whether 'auto' folds batch norms, :func:`folds_batchnorm`), nor, off a GPU preset, an op a
    builder marks ``eager_copy`` (a copy eager PyTorch makes of a permuted view, ``Tensor.expect_contiguous`` in
    layer_norm, or transformers' ``transpose(1, 2).contiguous()``; an eager attention's scale or mask add: a
    compiler's kernel reads the view in place or folds the constant), which aliases its first input."""
    fold = folds_batchnorm(options, arch)
    at_load = options.fold_batchnorm == "auto" and any(op.attrs.get(FOLDED_AT_LOAD) is True for op in graph.ops)
    eager = arch is not None and arch.core.tile is not None  # eager PyTorch's copies run (a GPU preset)
    phys: dict[str, tuple[str, ...]] = {name: (name,) for name in graph.inputs}
    share: dict[str, dict[str, Fraction]] = {}  # view → the fraction of each physical tensor it covers (absent: all)
    plans: list[Plan] = []
    index_of: dict[str, int] = {}
    readers: dict[str, int] = {}  # op → the forward ops that read its output (a BN folds only into a sole reader)
    if fold or at_load:
        for op in graph.ops:
            if op.phase in (None, "forward"):
                for src in set(op.inputs):
                    readers[src] = readers.get(src, 0) + 1
    for i, op in enumerate(graph.ops):
        groups = tuple(phys[src] for src in op.inputs)
        # one input: its tensors as they are (each phys entry is already free of repeats)
        reads = groups[0] if len(groups) == 1 else tuple(dict.fromkeys(t for g in groups for t in g))
        index_of[op.name] = i
        folded = ((fold or at_load and folds_batchnorm(options, arch, op))
                  and op.kind is OpKind.NORM and op.fn == "batchnorm" and len(op.inputs) == 1 and op.follows == op.inputs[0]
                  and op.inputs[0] in graph and graph[op.inputs[0]].kind in _FOLDABLE
                  and readers.get(op.inputs[0]) == 1)  # the raw output read elsewhere too: the BN stays
        # an eager-only kernel (eager_copy) off a GPU preset: in place on its first input, which it then aliases (one
        # input: a copy, a constant scale; more: BERT's extended-mask add, tlayers.TransformerBuilder._padding_mask)
        in_place = (op.attrs.get("eager_copy") is True and not eager and len(op.inputs) >= 1
                    and (len(op.inputs) == 1 or op.kind is OpKind.ELEMENTWISE))
        if in_place:
            reads = groups[0]
        # a torch.cat a builder marks eager_copy: on a GPU preset ATen's CatArrayBatchedCopy kernel reads every input
        # and writes a new tensor (one launch, the output's elements; probe p230 #3), elsewhere a view
        copy = eager and op.kind is OpKind.CONCAT and op.attrs.get("eager_copy") is True
        if copy:
            op = replace(op, vector_elems=math.prod(op.out_shape))
        elif op.kind.is_view or folded or in_place:
            phys[op.name] = reads
            part = _view_share(op, phys, share) if op.kind.is_view else share.get(op.inputs[0])
            if part:
                share[op.name] = part
            details = {"folded": True} if folded else {"in_place": True} if in_place else {}
            plans.append(Plan(op, i, inputs=reads, details=details))
            if folded:
                j = index_of[op.inputs[0]]
                plans[j] = plans[j]._replace(weights=plans[j].weights + op.weights[-1:])
            continue
        phys[op.name] = (op.name,)
        shares = tuple(share.get(src, {}) for src in op.inputs)
        plans.append(Plan(op, i, "work", inputs=reads, operands=groups, weights=op.weights,
                          shares=shares if any(shares) else ()))
    return tuple(plans)


SELECTING = frozenset({"slice", "split_heads", "select_token", "index_select", "crop", "window_merge", "tril",
                       "sequence_scatter", "window_unpartition", "window_partition_grad", "concat_grad",
                       "attention_grad_split"})
"""View functions that select some of their input's elements (the others read it whole, or reduce it: a
broadcast's gradient); a selecting view's gradient that pads or scatters into a larger tensor reads its input
whole anyway."""


def _view_share(op: Op, phys: dict[str, tuple[str, ...]],
                share: dict[str, dict[str, Fraction]]) -> dict[str, Fraction]:
    """The fraction of each physical tensor view ``op`` covers, where less than all: each input's shares, scaled by
    the view's elements over the input's for a selecting view (:data:`SELECTING`; at most 1: a padded view reads its
    input whole), summed over the inputs (a concatenation), at most 1. Exact fractions, so that the bytes read,
    share × a tensor's bytes rounded up (``traffic._sources``), are whole where the slice is (probe p206 #4: a float
    80/144 of yolov8n's 921,600-B P3 head tensor read 512,001 B)."""
    out = math.prod(op.out_shape)
    covered: dict[str, Fraction] = {}
    one = Fraction(1)
    for src, shape in zip(op.inputs, op.in_shapes, strict=True):
        ratio = min(one, Fraction(out, max(math.prod(shape), 1))) if op.fn in SELECTING else one
        base = share.get(src, {})
        for t in phys[src]:
            covered[t] = min(one, covered.get(t, Fraction(0)) + base.get(t, one) * ratio)
    return {t: f for t, f in covered.items() if f < 1}
