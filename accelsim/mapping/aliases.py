"""Pass 1, aliases: views (reshape, concat, head splits) do no work and alias the physical tensors they read;
a kernel only eager PyTorch launches (op attr ``eager_copy``: a copy it makes of a strided view, ConvNeXt's stem
LayerNorm2d's or an unfused attention's head merge; transformers' eager attention's 1/√d scale and BERT's
extended-mask add, builders/tlayers.py; Swin's window copies, torch.roll and shift-mask construction,
:mod:`accelsim.builders.backbones`) works only on a GPU preset (a core with ``core.tile``, which models eager
PyTorch), elsewhere it is in place on its first input, which it aliases (a mask add's mask goes unread; none:
it aliases nothing), and so
does a concatenation a builder marks ``eager_copy`` (torch.cat: ATen's CatArrayBatchedCopy reads each input and
writes a new tensor on a GPU preset; a compiler's producers write into the concatenation's buffer), and any other op
so marked (a step of an op eager code spells out in kernels, T5LayerNorm's: in place on its inputs off a GPU, whose
compiler folds it into the op that follows; that op, marked :data:`EAGER_FN`, runs on a GPU preset as eager
PyTorch's element-wise kernel of that fn), and so does a conv's bias add a builder marks ``eager_only``
(``bias_of``: cuDNN's and MIOpen's convolutions leave the bias to ``output.add_``; on a GPU preset the bias's flops
and bytes move to it off the conv, elsewhere the conv adds it, as before; probe p235 #4), and on a GPU preset a batch
norm folded into such a conv is that add, reading its shift (:func:`_adds_bias`), unless the arch lists functions in
``core.vector.output_path`` (a TensorRT-style deployment, :func:`fuses_epilogues`: the conv adds either bias in its
epilogue, as off a GPU preset); where
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
from ..units import INT_BIAS_DTYPE
from .plan import Plan

_FOLDABLE = (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR)


EAGER_FN = "eager_fn"
"""Op attr: on a GPU preset the op runs as eager PyTorch's element-wise kernel of this fn (1 FLOP an output element,
one read of each input: its row keeps the op's FLOPs, the model's, and its mapping's ``mac_fraction`` counts the 1)
and not as built; elsewhere as built. The last step of an op that eager code spells out in several kernels, the
others marked ``eager_copy`` (T5LayerNorm: builders/t5.py; transformers' gelu_new: builders/transformer.py)."""

EAGER_FLOPS = "eager_flops"
"""Op attr a builder sets on a step of such a spelled-out op whose own FLOPs are none, the model counting the whole
op's on the last step (transformers' gelu_new: 8 an element, ``ACT_FLOPS['gelu']``, on ``{name}``;
builders/transformer.py ``_eager_gelu_new``): the FLOPs an element the step's eager kernel computes (``x * 0.5``
1, ``torch.pow(x, 3.0)`` 2, ``torch.tanh`` 4). On a GPU preset its row keeps the model's 0 in ``flops`` and its
mapping's ``eager_flops`` (one execution's) counts what the kernel computes (``computed_flops``, the energy:
``energy.reduce_flops``; probe p254 #3: gpt2's 7 steps on h100 computed 0, tops_per_w under useful_tops_per_w);
elsewhere the step is in place and computes nothing."""

FOLDED_AT_LOAD = "folded_at_load"
"""Op attr a builder sets on a batch norm that the model's own inference code folds into its conv when it loads the
weights (Ultralytics' ``AutoBackend(fuse=True)`` → ``BaseModel.fuse()`` → ``fuse_conv_and_bn``), so eager PyTorch
never launches it: 'auto' folds it on every arch, a GPU preset included."""


def runs_eager_copies(arch: Arch | None) -> bool:
    """Whether ``arch`` runs the copies eager PyTorch makes (a GPU preset: a core with ``core.tile``, eager or CUDA
    graphs): a builder's ``eager_copy`` ops work there, and a training step keeps a copied concatenation's output
    for its backward (``builders.training.eager_cat_stash``); elsewhere they alias their inputs."""
    return arch is not None and arch.core.tile is not None


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
    return not runs_eager_copies(arch) or (op is not None and op.attrs.get(FOLDED_AT_LOAD) is True)


EAGER_ONLY = ("eager_copy", "eager_only")
"""Op attrs a builder sets on an op only eager PyTorch launches (a kernel on a GPU preset, a view of its one input
elsewhere): ``eager_copy``, a copy of a strided view (ConvNeXt's stem LayerNorm2d's ``expect_contiguous``) or a
torch.cat (CONCAT, ATen's CatArrayBatchedCopy), and ``eager_only``, a conv's bias add after cuDNN / MIOpen
(builders.layers ``GraphBuilder._eager_bias``, attr ``bias_of``)."""


def eager_only(op: Op) -> bool:
    """Whether a builder marked ``op`` as launched by eager PyTorch only (:data:`EAGER_ONLY`)."""
    return any(op.attrs.get(a) is True for a in EAGER_ONLY)


def fuses_epilogues(arch: Arch | None) -> bool:
    """Whether ``arch`` on a GPU preset models a compiled deployment (TensorRT) rather than eager PyTorch: its
    ``core.vector.output_path`` lists functions (the GPU presets list none), so its convs run with an epilogue
    that adds the bias, their own or a folded batch norm's, and whatever the list names (TensorRT's Convolution +
    Scale / BatchNorm + ElementWise + Activation fusions, for float engines as for integer ones; probe p259 #1:
    resnet50 fp8 on h100 with the offline experiment's settings ran 53 shift adds, 49 ReLUs and 16 residual adds
    as kernels, 9.615 ms against int8's 4.007)."""
    return arch is not None and bool(arch.core.vector.output_path)


def _adds_bias(conv: Op, arch: Arch | None) -> bool:
    """Whether eager PyTorch adds a bias to ``conv``'s output with a kernel of its own (its own bias, or the one a
    folded batch norm gives it): a (transposed) conv that aten/src/ATen/native/Convolution.cpp ``_convolution`` runs
    on cuDNN / MIOpen (``output.add_(reshape_bias(...))``), not a depthwise conv that ``_select_conv_backend`` sends
    to ``CudaDepthwise2d`` / ``CudaDepthwise3d``, which take the bias in the kernel (a channels-last one goes to
    cuDNN: ``use_cudnn_depthwise``, attr ``channels_last``), nor an integer conv (not eager PyTorch's), nor any conv
    where ``arch`` fuses epilogues (:func:`fuses_epilogues`: not eager PyTorch's either)."""
    return (conv.kind in (OpKind.CONV, OpKind.CONV_TRANSPOSE) and conv.dtype not in INT_BIAS_DTYPE
            and (not conv.depthwise or conv.attrs.get("channels_last") is True) and not fuses_epilogues(arch))


def _eager_step_share(op: Op, eager: bool) -> dict:
    """The mapping of a step of a spelled-out op that the model counts none of (its FLOPs on the last step,
    :data:`EAGER_FLOPS`): the kernel's own FLOPs beyond the row's (computed_flops, the energy), ``folded`` that they
    are no attention kernel's (summary.computed_work_notes leaves them alone, as the last step's mac_fraction); empty
    where it computes none beyond them or does not run as eager PyTorch's kernel (``eager``: a GPU preset, the
    op's only reader)."""
    per = op.attrs.get(EAGER_FLOPS)
    extra = per * math.prod(op.out_shape) - op.flops if eager and isinstance(per, int) else 0
    return {"folded": True, EAGER_FLOPS: extra} if extra > 0 else {}


def _producer_of(op: Op, graph: Graph, index_of: dict[str, int]) -> tuple[str | None, Op | None, bool]:
    """(``op``'s one input, the op that produced it, whether through that producer's eager bias add): a batch norm's
    producer is a conv, or a conv through its bias add (builders.layers ``_eager_bias``); (None, None, False) for an
    op without one input in the graph."""
    src = op.inputs[0] if len(op.inputs) == 1 and op.inputs[0] in graph else None
    if src is None:
        return None, None, False
    conv = graph[src]
    via_bias = conv.attrs.get("bias_of") in index_of
    return src, graph[conv.attrs["bias_of"]] if via_bias else conv, via_bias


def _bias_add(plan: Plan, bias_of: str | None, plans: list[Plan], index_of: dict[str, int]) -> Plan:
    """On a GPU preset, the working plan of a conv's eager bias add (``bias_of``: the conv, whose own bias, and the
    add's one FLOP an element, move from its plan, ``plans``' entry, to this one), or with ``bias_of`` None of a batch
    norm folded into a conv eager PyTorch adds a bias to (:func:`_adds_bias`: it reads its shift alone). That add
    computes one FLOP an element of the norm's two (its scale is in the conv's weights): the row keeps the model's
    two in ``flops``, as a folded batch norm's row off a GPU preset does, and its mapping's ``mac_fraction`` 1/2
    counts the one it computes (``computed_flops``, ``energy.executed_flops``; probe p245 #4: resnet50's bn1 at
    batch 128 counted 2 × 128·64·112·112 computed FLOPs). ``folded`` marks the row, whose skipped half is no
    attention kernel's (``summary.computed_work_notes``)."""
    op = plan.op
    if bias_of is None:
        op = replace(op, weights=op.weights[-1:])
        share = {"mac_fraction": math.prod(op.out_shape) / op.flops} if op.flops else {}
        return plan._replace(op=op, weights=op.weights, details={**plan.details, "folded": True, **share})
    j = index_of[bias_of]
    bias = tuple(w for w in plans[j].weights if w.name == f"{bias_of}.bias")
    if not bias:
        return plan
    elems = math.prod(op.out_shape)
    plans[j] = plans[j]._replace(op=replace(plans[j].op, flops=plans[j].op.flops - elems),
                                 weights=tuple(w for w in plans[j].weights if w not in bias))
    op = replace(op, flops=elems, weights=bias)
    return plan._replace(op=op, weights=bias)


def aliases(graph: Graph, options: Options, arch: Arch | None = None) -> tuple[Plan, ...]:
    """One plan per op with the physical tensors it reads; views and folded norms do no work (``arch``: the run's,
    which decides whether 'auto' folds batch norms, :func:`folds_batchnorm`), nor, off a GPU preset, an op a
    builder marks ``eager_copy`` (a copy eager PyTorch makes of a permuted view, ``Tensor.expect_contiguous`` in
    layer_norm, or transformers' ``transpose(1, 2).contiguous()``; an eager attention's scale or mask add: a
    compiler's kernel reads the view in place or folds the constant), which aliases its first input."""
    fold = folds_batchnorm(options, arch)
    at_load = options.fold_batchnorm == "auto" and any(op.attrs.get(FOLDED_AT_LOAD) is True for op in graph.ops)
    eager = runs_eager_copies(arch)  # eager PyTorch's copies run (a GPU preset)
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
        eager_share: dict = {}  # an EAGER_FN op's mapping on a GPU preset (below)
        groups = tuple(phys[src] for src in op.inputs)
        # one input: its tensors as they are (each phys entry is already free of repeats)
        reads = groups[0] if len(groups) == 1 else tuple(dict.fromkeys(t for g in groups for t in g))
        index_of[op.name] = i
        src, conv, via_bias = _producer_of(op, graph, index_of)
        folded = ((fold or at_load and folds_batchnorm(options, arch, op))
                  and op.kind is OpKind.NORM and op.fn == "batchnorm" and src is not None and op.follows == src
                  and conv.kind in _FOLDABLE
                  and readers.get(src) == 1  # the raw output read elsewhere too: the BN stays
                  and (not via_bias or readers.get(conv.name) == 1))
        # an op only eager PyTorch launches (a copy of a strided view; one step of an op eager code spells out in
        # several kernels, T5LayerNorm's casts, pow, mean, rsqrt: probe p235 #1; Swin's window copies, rolls and
        # shift-mask fills: probe p235 #2; a conv's bias add: probe p235 #4): a kernel on a GPU preset, elsewhere in
        # place on its first input, aliasing its tensors (none: a fill of a constant, which aliases nothing; a
        # compiler folds it into the op that follows)
        only = eager_only(op)
        in_place = only and not eager and not op.kind.is_view
        if in_place and op.inputs:  # in place on its first input, which it aliases (a mask add's mask goes unread)
            reads = groups[0]
        # a torch.cat a builder marks eager_copy: on a GPU preset ATen's CatArrayBatchedCopy kernel reads every input
        # and writes a new tensor (one launch, the output's elements; probe p230 #3), elsewhere a view
        copy = eager and op.kind is OpKind.CONCAT and op.attrs.get("eager_copy") is True
        # a conv's bias add eager PyTorch launches after cuDNN / MIOpen (builders.layers GraphBuilder._eager_bias;
        # probe p235 #4): on a GPU preset a kernel adding the bias (its flops and bytes move off the conv), else a
        # view; an integer conv's (a precision pass's) is not eager PyTorch's, nor one where the arch fuses
        # epilogues (a TensorRT-style deployment: fuses_epilogues), whose conv adds it as off a GPU preset
        bias_of = op.attrs.get("bias_of") if eager and only and len(op.inputs) == 1 else None
        if bias_of is not None and not (bias_of in index_of and _adds_bias(graph[bias_of], arch)):
            in_place, bias_of = True, None
        # a batch norm folded into a conv that eager PyTorch adds a bias to with a kernel of its own: torch.fx's
        # fuse_conv_bn_eval and Ultralytics' fuse_conv_and_bn give the conv a bias, which _convolution then adds
        # (output.add_), so on a GPU preset its shift is still one kernel over the conv's output (the scale folds);
        # where the arch fuses epilogues (fuses_epilogues) the conv adds it, as off a GPU preset
        bn_add = folded and eager and not via_bias and _adds_bias(conv, arch)
        if copy:
            op = replace(op, vector_elems=math.prod(op.out_shape))
        elif eager and isinstance(op.attrs.get(EAGER_FN), str):
            # the last step of such a spelled-out op, which every arch runs: on a GPU preset the element-wise kernel
            # eager PyTorch launches for it (T5LayerNorm's ``self.weight * hidden_states``: fn "mul", one FLOP and
            # one read of each input element), elsewhere the whole op as built (an RMS norm). Its row keeps the op's
            # FLOPs (the model's count, `accelsim info`'s: gelu_new's 8 an element, whose other steps count none,
            # builders/transformer.py _eager_gelu_new; T5's RMS norm's 4; probe p249 #1: gpt2 on a100 counted 1),
            # and, as a folded batch norm's shift add (:func:`_bias_add`), its mapping's ``mac_fraction`` (one FLOP
            # an element) counts what the kernel computes (``computed_flops``, the energy), ``folded`` that the
            # rest is no attention kernel's skip (``summary.computed_work_notes``)
            elems = math.prod(op.out_shape)
            op = replace(op, kind=OpKind.ELEMENTWISE, flops=op.flops or elems, vector_elems=elems,
                         attrs={**op.attrs, "fn": op.attrs[EAGER_FN]})
            if op.flops != elems:
                eager_share = {"folded": True, "mac_fraction": elems / op.flops}
        elif bn_add or bias_of is not None:
            phys[op.name] = (op.name,)
            plans.append(_bias_add(Plan(op, i, "work", inputs=reads, operands=groups, weights=op.weights), bias_of,
                                   plans, index_of))
            continue
        elif op.kind.is_view or folded or in_place:
            # an in-place step keeps its FLOPs in its row (the model's count, `accelsim info`'s: report flops is the
            # rows' sum) and computes none (unit none, as a folded batch norm's row off a GPU preset: computed_flops
            # leaves them out). T5's RMS norm's steps (pow, mean, add_eps, rsqrt, mul: 3 an element and 2 a row)
            # are in the graph's count beside the norm's own 4, which the compiled kernel computes; probe t5flops:
            # t5_small on tpu-v4 had flops 36,751,540,224 below info's 36,765,583,104, and computed_flops above it
            phys[op.name] = reads
            part = (_view_share(op, phys, share) if op.kind.is_view
                    else share.get(op.inputs[0]) if len(op.inputs) == 1 else None)
            if part:
                share[op.name] = part
            details = {"folded": True} if folded else {"in_place": True} if in_place else {}
            plans.append(Plan(op, i, inputs=reads, details=details))
            if folded and not (eager and via_bias):  # (on a GPU the conv's bias add adds the fused bias)
                j = index_of[conv.name]
                plans[j] = plans[j]._replace(weights=plans[j].weights + op.weights[-1:])
            continue
        phys[op.name] = (op.name,)
        shares = tuple(share.get(src, {}) for src in op.inputs)
        plans.append(Plan(op, i, "work", inputs=reads, operands=groups, weights=op.weights,
                          shares=shares if any(shares) else (),
                          details=eager_share or _eager_step_share(op, eager and only)))
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
