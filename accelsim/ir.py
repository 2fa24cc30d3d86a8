"""The operator graph: what a workload computes, independent of any hardware.

A :class:`Graph` is a list of :class:`Op` in topological order plus a networkx ``DiGraph`` of their data
dependencies. Each op knows its output shape, its parameter tensors, its MACs and FLOPs and, for matmul-like
ops, the GEMM it lowers to (:class:`Gemm`). Builders (``accelsim.builders``) produce graphs; the mapper prices
them. Counting conventions (see docs/architecture.md):

* ``macs`` counts multiply-accumulates of matmuls and convolutions, and of sparse products (GNN aggregation,
  GAT attention logits) that run on the vector unit.
* ``flops`` = 2·macs + element-wise/reduction work (one FLOP per element per arithmetic step, e.g. add 1,
  batch norm 2, max-pool k·k-1 per output).
* ``params`` counts each parameter tensor once, by name (tied weights once).
* A layer whose weights are pruned N:M (``attrs["sparsity"]``, :class:`Sparsity`) counts the MACs of its nonzero
  weights (what is worth computing); its ``gemm`` keeps the dense shape (the activations it reads), and its
  weight is stored compressed (:attr:`Weight.nnz`); ``params`` still counts the dense tensor.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum

from .errors import WorkloadError
from .units import (
    DTYPE_BITS,
    DTYPE_BYTES,
    FP8_ATTENTION_OUT,
    INT_BIAS_DTYPE,
    Sparsity,
    bias_dtype,
    dtype_bytes,
    group_bytes,
    packed_bytes,
    tensor_bytes,
)

_EXACT_TERMS = 64


def harmonic(n: int, alpha: float) -> float:
    """H(n, α) = Σ_{r=1..n} r^−α: exact for n ≤ 64, else the first 64 terms plus an Euler–Maclaurin tail."""
    if n <= 0:
        return 0.0
    head = sum(r ** -alpha for r in range(1, min(n, _EXACT_TERMS) + 1))
    if n <= _EXACT_TERMS:
        return head
    a, b = _EXACT_TERMS, n  # Σ_{r=a+1..b} f(r) ≈ ∫_a^b f + (f(b) − f(a))/2 + (f'(b) − f'(a))/12, f(x) = x^−α
    integral = math.log(b / a) if alpha == 1 else (b ** (1 - alpha) - a ** (1 - alpha)) / (1 - alpha)
    slope = -alpha * (b ** (-alpha - 1) - a ** (-alpha - 1)) / 12
    return head + integral + (b ** -alpha - a ** -alpha) / 2 + slope


def zipf_share(rows: int, alpha: float, first: int, n: int) -> float:
    """The share of a Zipf(α) table's look-ups that its rows ``first`` .. ``first`` + n − 1 (1-based, hottest
    first) serve, (H(first + n − 1, α) − H(first − 1, α)) / H(rows, α); exactly 1.0 for every row of the table
    (a difference of the Euler–Maclaurin sums would leave 0.9999999999999999)."""
    if first <= 1 and n >= rows:
        return 1.0
    return (harmonic(first + n - 1, alpha) - harmonic(first - 1, alpha)) / harmonic(rows, alpha)


# fn of an ELEMENTWISE op that copies a tensor in from host memory (``batch.to(device)``, a DMA: GnnBuilder's
# ``sample.copy_features``): the mapper prices it as the copy, its bytes read over the host link and written to
# where its output goes, with no scratchpad or cache traffic (mapping.traffic; probe p96 #4)
HOST_COPY = "host_copy"


class OpKind(str, Enum):
    """What an operator is; the mapper picks a unit and a cost model from this."""

    CONV = "conv"  # 1D/2D/3D convolution, incl. grouped, depthwise, dilated, strided (im2col GEMM)
    CONV_TRANSPOSE = "conv_transpose"  # transposed convolution (GEMM then col2im)
    LINEAR = "linear"  # activation × weight matrix
    MATMUL = "matmul"  # activation × activation (batched)
    POOL = "pool"  # max/avg pooling over a window (attrs: fn = "max" | "avg")
    ELEMENTWISE = "elementwise"  # binary element-wise: add, mul (attrs: fn)
    ACTIVATION = "activation"  # unary: relu, relu6, sigmoid, hardswish, hardsigmoid, gelu, ... (attrs: fn)
    NORM = "norm"  # batch/layer/RMS norm (attrs: fn)
    SOFTMAX = "softmax"
    EMBEDDING = "embedding"  # table look-up: gathers attrs["gather_rows"] rows of its weight table
    ATTENTION = "attention"  # fused attention (FlashAttention-style): QKᵀ, softmax and PV with scores on chip
    KV_APPEND = "kv_append"  # writes new keys/values into the KV cache in memory (data movement only)
    SPMM = "spmm"  # sparse × dense aggregation (GNN): gathers attrs["gather_rows"] rows of its first input
    COLLECTIVE = "collective"  # an all-reduce of its input over attrs["group"] chips (tensor parallelism)
    OPTIMIZER = "optimizer"  # a training optimizer step over one parameter tensor (attrs: fn = sgd|momentum|adam)
    CONCAT = "concat"  # concatenation along an axis (a view when producers write in place)
    RESHAPE = "reshape"  # flatten/reshape/transpose view: no data movement

    @property
    def is_matmul(self) -> bool:
        """True for kinds that lower to a GEMM and run on a systolic array."""
        return self in _MATMUL_KINDS

    @property
    def is_view(self) -> bool:
        """True for kinds that move no data and do no work."""
        return self in (OpKind.CONCAT, OpKind.RESHAPE)


_MATMUL_KINDS = frozenset({OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL, OpKind.ATTENTION})


@dataclass(frozen=True, slots=True)
class Gemm:
    """A matmul-like op as ``count`` independent GEMMs of output m×n with reduction k (groups run in sequence).

    A convolution is m = batch·output pixels, n = out channels per group, k = kernel volume · in channels per
    group, count = groups. A transposed convolution is m = batch·input pixels, n = out channels · kernel volume,
    k = in channels. A linear layer is m = rows (batch · tokens), n = out features, k = in features.
    """

    m: int
    n: int
    k: int
    count: int = 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` GEMMs."""
        return self.m * self.n * self.k * self.count


@dataclass(frozen=True, slots=True)
class Weight:
    """A persistent tensor an op reads: ``name`` identifies it across ops (tied weights share a name).

    ``role`` is "param" for a model parameter (what ``params`` counts) or "state" for training state that is
    not a parameter (optimizer moments); both live in memory across passes and are placed like parameters.
    "host" is data the host holds that is not a parameter (a graph's node-feature table that a host-side sampler
    gathers from): placed outside the main memory (host memory on the presets), so every read crosses its link.
    "data" is a dataset the device holds that is not a parameter (GraphSAGE's node-feature table copied to the
    device once): placed like the parameters, never trained and not counted in ``params``.
    "buffer" is a module buffer the model reads but does not train (torch's ``register_buffer``: DETR's
    FrozenBatchNorm2d scale and shift, ``training.freeze``): placed and counted in ``weight_bytes`` like a
    parameter, but not in ``params`` (``model.parameters()`` does not hold it).
    """

    name: str
    shape: tuple[int, ...]
    role: str = "param"
    dtype: str | None = None  # None: the op's dtype (optimizer moments are usually fp32 whatever the model's)
    group_size: int = 0  # > 0: quantised group-wise, one scale per group_size elements of a row (scale_bytes)
    nnz: int = 0  # > 0: pruned N:M and stored compressed, these elements kept (each with index_bits of metadata)
    index_bits: int = 0  # metadata bits per kept element of a compressed tensor (Sparsity.index_bits)
    bias: bool = False  # an additive bias (its gradient a sum of dY): set where the structure says so, not the name
    # the one axis the reading GEMM reduces over (its K) where that is not the dims after the first (torch's
    # (out, in), a conv's (out, in, kh, kw)): 0 for an ONNX MatMul/Gemm B stored (K, N); None: the dims after
    # the first (:func:`reduction_len`)
    k_axis: int | None = None
    # a tensor training leaves as it is (torch's ``requires_grad_(False)``; a FrozenBatchNorm2d's scale and shift,
    # role "buffer"): a frozen param counts in ``params``, but no gradient, no optimizer step or state
    # (builders.training.freeze marks it)
    frozen: bool = False
    # the packed parameter this weight is a row slice of (nn.MultiheadAttention's in_proj_weight / in_proj_bias,
    # its q, k and v rows read by separate GEMMs when the key is not the value): counted under its own name in
    # ``params`` (the slices add up to the packed tensor), but a training step joins the slices' gradients into
    # the packed tensor's (torch's chunk backward, a cat) and steps that once; "" for a tensor of its own
    packed: str = ""
    # a quantised weight of an asymmetric scheme (AWQ, GPTQ sym: false): a zero point per group beside each scale
    # (:data:`accelsim.units.ZERO_POINT_WEIGHTS`, :meth:`scale_bytes`); False: symmetric, scales only
    zero_points: bool = False
    # (op dtype, bytes) of the last nbytes call: a weight is read by ops of one dtype, over and over (placement,
    # pricing, traffic and the report each ask), and builders share one Weight between passes; not compared, hashed
    # or shown, and a fresh one (None) in every Weight made, replace() included
    _nbytes: tuple[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def stored(self) -> int:
        """Elements stored: the kept ones of a compressed tensor, else all."""
        return self.nnz or self.numel

    @property
    def is_bias(self) -> bool:
        """Whether this is an additive bias: marked so (:attr:`bias`: the importers set it from the node's input
        position, whatever the file names it), or a 1-D weight the builders named ``<op>.bias`` (their convention:
        a conv's or linear's bias, a norm's shift)."""
        return self.bias or (self.name.endswith(".bias") and len(self.shape) == 1)

    def nbytes(self, op_dtype: str) -> int:
        """Bytes of the tensor, in its own dtype or else the reading op's ``op_dtype`` (a bias read by an op
        computing in an integer dtype: the int32 accumulator's, :func:`accelsim.units.bias_dtype`): packed (int4
        two per byte) plus its group-wise scales (:func:`accelsim.units.packed_bytes`); a compressed one its kept
        elements plus their ``index_bits`` each."""
        last = self._nbytes
        if last is not None and last[0] == op_dtype:
            return last[1]
        n = self._bytes(op_dtype)
        object.__setattr__(self, "_nbytes", (op_dtype, n))  # (frozen: as the dataclass's own __init__ sets fields)
        return n

    def _bytes(self, op_dtype: str) -> int:
        if self.dtype is None and op_dtype in INT_BIAS_DTYPE and self.is_bias:  # int8 inference: an int32 bias
            op_dtype = bias_dtype(op_dtype)
        if self.dtype is None and not self.group_size:
            return self.stored * dtype_bytes(op_dtype) + self.index_bytes
        dtype = self.dtype or op_dtype
        # a pruned quantised tensor keeps the dense tensor's group scales (one per group_size weights along the
        # dense K, as 2:4 + 4-bit kernels store them: Sparse-Marlin) and packs its kept weights
        return packed_bytes(self.stored, dtype) + self.scale_bytes(dtype) + self.index_bytes

    def scale_bytes(self, dtype: str) -> int:
        """Bytes of the group-wise scales (``group_size`` > 0, :data:`accelsim.units.SCALE_BYTES` each, and with
        :attr:`zero_points` a packed zero point each: :func:`accelsim.units.group_bytes`): groups run along each
        row, the last dim (a linear's in-features, the GEMM's K), and do not span rows: ⌈K / group_size⌉ a row, so
        a group longer than K is one scale per row (GPTQ / AWQ / the OCP Microscaling formats quantise each output
        channel's K in blocks)."""
        if not self.group_size or not self.shape:
            return 0
        k = self.shape[-1]
        return group_bytes(self.numel // k * -(-k // self.group_size), dtype, self.zero_points) if k else 0

    @property
    def index_bytes(self) -> int:
        """Metadata bytes of a compressed tensor: ``index_bits`` per kept element."""
        return -(-self.nnz * self.index_bits // 8)


class WeightPool:
    """Weights shared by name: :meth:`get` gives back the Weight of that name it made last when it has the values
    asked for, else makes one (in its place). A Weight is an immutable value, so sharing one changes nothing; a
    builder that makes the same tensors for each pass of a run (an MoE model's tens of thousands of experts) saves
    making them again, and their remembered :meth:`Weight.nbytes` serves every pass. At most ``size`` names are kept
    (all dropped when it is full)."""

    def __init__(self, size: int = 1 << 17) -> None:
        self._by_name: dict[str, Weight] = {}
        self._size = size

    def get(self, name: str, shape: tuple[int, ...], role: str = "param", dtype: str | None = None,
            group_size: int = 0, zero_points: bool = False) -> Weight:
        """``Weight(name, shape, role, dtype, group_size, zero_points=zero_points)``, the one made before where
        there is one."""
        w = self._by_name.get(name)
        if (w is None or w.shape != shape or w.role != role or w.dtype != dtype or w.group_size != group_size
                or w.zero_points != zero_points):
            if len(self._by_name) >= self._size:
                self._by_name.clear()
            w = self._by_name[name] = Weight(name, shape, role, dtype, group_size, zero_points=zero_points)
        return w

    def __len__(self) -> int:
        return len(self._by_name)


@dataclass(frozen=True, slots=True, eq=False)
class Op:
    """One operator: a node of the graph. Immutable; ``attrs`` holds kind-specific details (kernel, stride, fn).

    ``inputs`` names the producing ops (or graph inputs) in argument order; ``in_shapes`` gives their shapes.
    ``vector_elems`` is the element operations the op needs on a vector unit (0 for matmul-like ops and views).
    """

    name: str
    kind: OpKind
    inputs: tuple[str, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]
    dtype: str = "fp16"
    weights: tuple[Weight, ...] = ()
    macs: int = 0
    flops: int = 0
    gemm: Gemm | None = None
    vector_elems: int = 0
    attrs: Mapping[str, object] = field(default_factory=dict)

    @property
    def fn(self) -> str:
        """The function within the kind ("relu", "max", "add", "batchnorm"), or the kind's name."""
        return str(self.attrs.get("fn", self.kind.value))

    @property
    def elem_bytes(self) -> int:
        """Bytes per element of this op's tensors."""
        return dtype_bytes(self.dtype)

    @property
    def out_dtype(self) -> str:
        """The dtype the op writes its output in: ``attrs["out_dtype"]`` where a builder gives one (a quantize
        kernel writing fp8 from bf16, an fp8 GEMM writing bf16), else ``dtype``, except that a fused attention
        forward computing in fp8 writes bf16 (:data:`FP8_ATTENTION_OUT`)."""
        out = self.attrs.get("out_dtype")
        if out is None and self.dtype == "fp8" and self.kind is OpKind.ATTENTION and self.fn == "attention":
            return FP8_ATTENTION_OUT
        return str(self.dtype if out is None else out)

    @property
    def out_bytes(self) -> int:
        """Bytes of the output tensor (in :attr:`out_dtype`; an fp4 one packed with its block scales,
        :func:`accelsim.units.tensor_bytes`)."""
        return tensor_bytes(math.prod(self.out_shape), self.out_dtype)  # fp4: packed + block scales (p273 #2)

    @property
    def in_bytes(self) -> int:
        """Bytes of all activation inputs together (in :attr:`dtype`, each tensor by
        :func:`accelsim.units.tensor_bytes`)."""
        return sum(tensor_bytes(math.prod(s), self.dtype) for s in self.in_shapes)

    @property
    def weight_bytes(self) -> int:
        """Bytes of this op's parameter tensors."""
        return sum(w.nbytes(self.dtype) for w in self.weights)

    @property
    def params(self) -> int:
        """Parameter elements of this op (tied tensors counted here too; Graph.params counts them once)."""
        return sum(w.numel for w in self.weights if w.role == "param")

    # ---- the attributes the mapper reads, typed (builders write them into ``attrs``) ------------------------
    @property
    def phase(self) -> str | None:
        """Training phase: "forward", "backward" or "optimizer" (None outside training)."""
        value = self.attrs.get("phase")
        return None if value is None else str(value)

    @property
    def in_kernel_of(self) -> str | None:
        """The op whose kernel runs this one (a recurrent update writing its state in place: vLLM's
        selective_state_update, causal_conv1d_update): no launch or dispatch of its own, its bytes its own."""
        value = self.attrs.get("in_kernel_of")
        return None if value is None else str(value)

    @property
    def epilogue_of(self) -> str | None:
        """The integer kernel whose epilogue runs this activation or residual add, as the model file declares it (a
        QDQ model's Conv → Relu → QuantizeLinear, which TensorRT runs as one kernel: builders/onnxquant.py); the
        mapper fuses it into that kernel whatever the core's ``output_path`` lists."""
        value = self.attrs.get("epilogue_of")
        return None if value is None else str(value)

    @property
    def follows(self) -> str | None:
        """For a batch norm: the conv/linear it directly follows (it may be folded into it)."""
        value = self.attrs.get("follows")
        return None if value is None else str(value)

    @property
    def pv_gemm(self) -> Gemm:
        """For a fused attention: its second GEMM, P·V (``gemm`` is QKᵀ)."""
        return Gemm(*self.attrs["pv_gemm"])  # type: ignore[misc]

    @property
    def gather_rows(self) -> int | None:
        """For a gather (embedding, SPMM): the rows it reads per pass (None: every row of the table)."""
        value = self.attrs.get("gather_rows")
        return None if value is None else int(value)  # type: ignore[arg-type]

    @property
    def row_elems(self) -> int:
        """For an SPMM: elements of one gathered row."""
        return int(self.attrs.get("row_elems", 1))  # type: ignore[arg-type]

    @property
    def access(self) -> tuple[str, float]:
        """For a table gather: the access pattern ("uniform", "zipf", or "distinct": a range of rows each read once,
        a learned position table's, whose look-ups never repeat a row) and the Zipf exponent."""
        return str(self.attrs.get("access", "uniform")), float(self.attrs.get("zipf_alpha", 1.0))  # type: ignore[arg-type]

    @property
    def group(self) -> int:
        """For a COLLECTIVE: the chips it spans."""
        return int(self.attrs.get("group", 1))  # type: ignore[arg-type]

    @property
    def depthwise(self) -> bool:
        """Whether this is a depthwise convolution or one of its backward ops: a CONV whose ``groups`` (above 1)
        equal the channels of the convolution's input X (dim 1 of the forward's and ``grad_weight``'s first input,
        of ``grad_input``'s output), PyTorch's ``is_depthwise`` (aten/src/ATen/native/Convolution.cpp: groups ==
        in_channels > 1, out_channels a multiple of them, which the builders check), or one channel of a SCALE-Sim
        depthwise row (``attrs["depthwise"]``)."""
        if self.kind is not OpKind.CONV:
            return False
        if self.attrs.get("depthwise") is True:
            return True
        groups = self.attrs.get("groups", 1)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
            return False
        x = self.out_shape if self.attrs.get("grad") == "input" else self.in_shapes[0] if self.in_shapes else ()
        return len(x) >= 3 and x[1] == groups

    @property
    def sparsity(self) -> Sparsity | None:
        """For a matmul whose weights are pruned N:M: the pattern (``attrs["sparsity"]``), else None."""
        value = self.attrs.get("sparsity")
        return None if value is None else Sparsity.parse(str(value))

    @property
    def reduced_dim(self) -> int:
        """For a row-wise vector op (a norm, softmax): the dimension it reduces over (default the last)."""
        dim = self.attrs.get("dim", -1)
        return dim if isinstance(dim, int) else -1


def pruned_weights(op: Op) -> list[Weight]:
    """The weights of ``op`` its GEMM reduces over K long: not a bias, at least 2-D, :func:`reduction_len` K (the
    dims after the first: a linear's in-features, a convolution's in-channels × kernel; or the one axis
    ``Weight.k_axis`` names: an ONNX MatMul's B stored (K, N)). A weight the GEMM reads another way (DeepSeek's
    absorbed ``q_absorb`` reduces over kv_b_proj's rows' other axis) stays dense: a model pruned along its rows
    cannot skip zeros along columns."""
    k = op.gemm.k  # type: ignore[union-attr]
    return [w for w in op.weights if is_matrix(w) and reduction_len(w) == k]


def reduction_len(w: Weight) -> int:
    """The length of ``w`` along the axis (or axes) its GEMM reduces over: ``w.shape[w.k_axis]`` where the weight
    names one, else the product of the dims after the first (its rows)."""
    return w.shape[w.k_axis] if w.k_axis is not None else math.prod(w.shape[1:])


def is_matrix(w: Weight) -> bool:
    """A weight N:M pruning applies to: at least 2-D and not a bias."""
    return len(w.shape) >= 2 and not w.name.endswith("bias")


def compressed(w: Weight, sparsity: Sparsity) -> Weight:
    """``w`` pruned ``sparsity`` along its reduction axis (:func:`reduction_len`: its rows, the dims after the first,
    or ``k_axis``) and stored compressed; ``w`` itself when that is no longer than N (nothing to prune: index bits
    would only add bytes)."""
    k = reduction_len(w)
    kept = sparsity.kept(k)
    return w if kept == k else dataclasses.replace(w, nnz=w.numel // k * kept, index_bits=sparsity.index_bits)


def stored_as(w: Weight, sparsity: Sparsity) -> Weight:
    """Compressed weight ``w`` held as ``sparsity`` instead of its own pattern: ``nnz`` = rows ×
    ``sparsity.kept(K)`` along its :func:`reduction_len`, ``sparsity.index_bits`` each, the pattern's explicit
    zeros kept. So weights pruned 1:4 or 2:8 are held for tensor cores that take only 2:4 (cuSPARSELt / PTX
    ``mma.sp``: half of K and a 2-bit index each, whatever fewer nonzeros a group has). ``w`` itself when not
    compressed."""
    return compressed(dataclasses.replace(w, nnz=0, index_bits=0), sparsity) if w.nnz else w


def prune(op: Op, sparsity: Sparsity) -> Op:
    """``op`` (a matmul with weights) pruned N:M along its GEMM's K: ``attrs["sparsity"]``, its :func:`pruned_weights`
    stored compressed (``Weight.nnz``, ``index_bits``), ``macs`` and ``flops`` of the kept weights only; ``gemm``
    keeps the dense K (accelsim.builders.sparsity)."""
    g = op.gemm
    assert g is not None
    kept = sparsity.kept(g.k)
    if kept == g.k:  # K ≤ N: nothing to prune (index bits would only add bytes)
        return op
    pruned = pruned_weights(op)
    weights = tuple(compressed(w, sparsity) if w in pruned else w for w in op.weights)
    skipped = g.m * g.n * (g.k - kept) * g.count
    return dataclasses.replace(op, weights=weights, macs=op.macs - skipped, flops=op.flops - 2 * skipped,
                               attrs={**op.attrs, "sparsity": str(sparsity)})


@dataclass(frozen=True, slots=True)
class GraphInfo:
    """What the mapper and the report read of a graph besides its ops (typed; built from the builder's
    ``meta``, which also carries free-form facts about the workload for report.json)."""

    mode: str = "inference"
    dtype: str | None = None
    batch: int | None = None
    kv_cache: tuple[str, ...] = ()  # graph inputs that are KV caches (persistent, placed like weights)
    kv_cache_bytes: int = 0
    kv_cache_dtype: str | None = None  # the caches' dtype when it differs from the activations' (fp8 KV cache)
    stashed: tuple[str, ...] = ()  # activations a training step keeps for its backward pass
    stashed_activation_bytes: int = 0
    gradient_bytes: int = 0
    grad_inputs: tuple[str, ...] = ()  # graph inputs whose gradient the step computes (a pipeline stage's)
    tensor_parallel: int = 1
    context_parallel: int = 1  # the chips that split a sequence's tokens (each holds every weight)
    expert_parallel: int = 1  # the chips an MoE layer's experts are split over (each with tokens of its own)
    embedding_parallel: int = 1  # the chips a recommendation model's tables are sharded over (DLRM's, table-wise)
    pipeline_parallel: int = 1
    micro_batches: int = 1  # a training iteration's micro-batches per chip (gradients accumulated over them)
    overlap_grad_reduce: bool = True  # data-parallel reductions overlap the backward pass (DDP's buckets); False:
    # after it (Megatron-LM's default, gpt's overlap_grad_reduce)
    model_params: int | None = None  # the whole model's parameters when the graph is a part of it

    @classmethod
    def from_meta(cls, meta: Mapping[str, object]) -> GraphInfo:
        """The fields of ``meta`` this class knows, converted to their types."""
        kw: dict[str, object] = {}
        for f in fields(cls):
            if meta.get(f.name) is None:
                continue
            value = meta[f.name]
            default = f.default
            if isinstance(default, tuple):
                value = tuple(value)  # type: ignore[arg-type]
            elif isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, int) or f.name in ("batch", "model_params"):
                value = int(value)  # type: ignore[arg-type]
            kw[f.name] = value
        return cls(**kw)  # type: ignore[arg-type]


def reduction_chips(step: Op, data_parallel: int, expert_parallel: int, embedding_parallel: int = 1) -> int:
    """The chips an OPTIMIZER op's gradient is reduced over (and a distributed optimizer's state sharded over):
    the ``data_parallel`` ones, or for an MoE expert's parameter (attrs ``expert``) the ``data_parallel`` /
    ``expert_parallel`` that hold the same experts (Megatron's expert data-parallel group), or for a sharded
    recommendation table (attrs ``table_shard``) the ``data_parallel`` / ``embedding_parallel`` that hold it (one
    per group of sharded chips: none when the group is every chip)."""
    if step.attrs.get("table_shard"):
        return data_parallel // embedding_parallel
    return data_parallel // expert_parallel if step.attrs.get("expert") else data_parallel


WEIGHT_ROLES = ("param", "state", "host", "data", "buffer")
"""The roles a :class:`Weight` can have (its docstring says what each is)."""


_INT = frozenset((int,))  # the type of every size of an op's shape (Graph.lint's quick check; numpy's go slow)
_WEIGHT = frozenset((Weight,))  # (Graph._lint_types' quick check of an op's weights; a subclass takes the slow path)
# the Weight objects Graph._lint_weight passed, by id (each held, so its id is not reused while it is here): a
# builder's pooled weights (an MoE model's tens of thousands of experts, WeightPool) are checked once per process,
# not in every graph of every pass (probe p98 #2: 518,548 checks, 17 % of a DeepSeek-V3 serve's CPU). By identity,
# not value: Weight("w", (4.0, 16)) == Weight("w", (4, 16)) (and True == 1), so a value key would let a bad weight
# pass as a good one it equals. All dropped when it holds _LINTED_SIZE.
_LINTED: dict[int, Weight] = {}
_LINTED_SIZE = 1 << 17  # (as a WeightPool: the objects it holds are mostly those the pools hold)


def _is_shape(shape: object) -> bool:
    """Whether ``shape`` is a tuple or list of sizes, integers >= 0 (a graph input's shape: one an op reads is
    checked to be positive with the op's input shapes)."""
    return isinstance(shape, (tuple, list)) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in shape)


def _python_ints(op: Op) -> Op:
    """``op`` with each size and count a Python ``int``: a script's numpy integers (``np.int32(65536)``, which
    ``Graph.lint`` takes as integers) would wrap in the products the mapper and report form (65536 · 65536 · 8192
    MACs in int32 is 0), and ``json`` cannot write them. Called only where lint saw one (the slow path)."""
    def ints(shape):
        return tuple(map(int, shape))
    weights = tuple(w if all(type(v) is int for v in (*w.shape, w.group_size, w.nnz, w.index_bits)) else
                    dataclasses.replace(w, shape=ints(w.shape), group_size=int(w.group_size), nnz=int(w.nnz),
                                        index_bits=int(w.index_bits)) for w in op.weights)
    g, attrs = op.gemm, op.attrs
    if isinstance(attrs.get("pv_gemm"), (tuple, list)):
        attrs = {**attrs, "pv_gemm": ints(attrs["pv_gemm"])}
    return dataclasses.replace(
        op, in_shapes=tuple(map(ints, op.in_shapes)), out_shape=ints(op.out_shape), macs=int(op.macs),
        flops=int(op.flops), vector_elems=int(op.vector_elems), weights=weights, attrs=attrs,
        gemm=None if g is None else Gemm(int(g.m), int(g.n), int(g.k), int(g.count)))


def _dtype_hint(dtype: object) -> str:
    """"; did you mean 'int8'?" for an unknown dtype close to a known one ('INT8', 'fp61')."""
    close = difflib.get_close_matches(str(dtype).lower(), list(DTYPE_BYTES), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Graph:
    """A workload as operators in topological order with their data dependencies (a networkx ``DiGraph``).

    ``inputs`` maps graph-input tensor names to shapes. Construction checks the graph (:meth:`lint`) and raises
    :class:`WorkloadError` naming the bad op.
    """

    def __init__(
        self,
        name: str,
        ops: Iterable[Op],
        inputs: Mapping[str, tuple[int, ...]],
        *,
        meta: Mapping[str, object] | None = None,
    ):
        self.name = name
        self.ops: tuple[Op, ...] = tuple(ops)
        if not isinstance(inputs, Mapping):  # a list of names: dict() would fail on its letters (probe p65 #3)
            raise WorkloadError(f"{name}: inputs must map each graph input's name to its shape, e.g. "
                                f"{{'input': (4, 16)}} (got a {type(inputs).__name__})")
        self.inputs = dict(inputs)
        self.meta = dict(meta or {})
        self._by_name = {op.name: op for op in self.ops}
        self.lint()

    def with_meta(self, meta: Mapping[str, object]) -> Graph:
        """This graph with ``meta`` in place of its own: the same ops and inputs, so not checked (:meth:`lint`) again."""
        graph = copy.copy(self)
        graph.inputs = dict(self.inputs)
        graph.meta = dict(meta)
        graph._lint_meta()
        return graph

    @functools.cached_property
    def nx(self):
        """The op graph as a networkx ``DiGraph``: a node per op (attributes ``op``: the :class:`Op`, ``index``: its
        place in :attr:`ops`), an edge from each producer op to each consumer, carrying the tensor it passes:
        ``shape`` (the producer's ``out_shape``), ``dtype`` (its ``out_dtype``) and ``bytes`` (its ``out_bytes``).
        Graph inputs are not nodes (:attr:`inputs` has their shapes), nor are weights (each op's ``weights``).
        Built (and networkx imported) on first use."""
        import networkx as nx

        g = nx.DiGraph()
        for i, op in enumerate(self.ops):
            g.add_node(op.name, op=op, index=i)
            for src in op.inputs:
                producer = self._by_name.get(src)
                if producer is not None:
                    g.add_edge(src, op.name, shape=producer.out_shape, dtype=producer.out_dtype,
                               bytes=producer.out_bytes)
        return g

    @property
    def info(self) -> GraphInfo:
        """The typed facts of :attr:`meta` the mapper and report read."""
        return GraphInfo.from_meta(self.meta)

    def __getitem__(self, name: str) -> Op:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def lint(self) -> None:
        """Check what a hand-built graph can get wrong, raising a one-line :class:`WorkloadError` naming the op:
        its inputs map names to shapes; each op's ``kind`` is an :class:`OpKind` and its
        ``dtype`` (and ``attrs["out_dtype"]``) a known dtype (:data:`~accelsim.units.DTYPE_BYTES`); names are unique and inputs defined before use; sizes are positive; each input shape is the shape its
        producer (an earlier op, or the graph input) gives; ``macs``, ``flops`` and ``vector_elems`` are not
        negative; a matmul-like op has a GEMM and its ``macs`` are at most that GEMM's (``m·n·k·count``; a fused attention's
        plus its ``pv_gemm``'s; fewer where the op skips masked or pruned work) and more than none; a LINEAR op's GEMM reads its input (m·k·count elements)
        and writes its output (m·n·count); an op of another kind declaring FLOPs names the elements
        its vector unit runs (``vector_elems``: it is priced by them, so none would take no time). Types first
        (:meth:`_lint_types`): a string name, integer counts, a :class:`Gemm`, :class:`Weight` s and a mapping of
        attrs; an op's ``out_shape`` and ``in_shapes`` integer sizes (:meth:`_lint_shapes`), before their values
        are compared; each weight's fields (:meth:`_lint_weight`: role, dtype, group_size, nnz, index_bits); two
        weights of one name one tensor of as many elements and one role (:meth:`_lint_tied`); a fused attention's
        ``attrs["pv_gemm"]`` 3 or 4 positive integers; ``meta``'s batch and dtype (:meth:`_lint_meta`)."""
        for name, shape in self.inputs.items():
            if not isinstance(name, str) or not _is_shape(shape):
                raise WorkloadError(f"{self.name}: graph input {name!r} has shape {shape!r}: inputs map each name "
                                    f"to a tuple of sizes, e.g. {{'input': (4, 16)}}")
        if any(type(d) is not int for shape in self.inputs.values() for d in shape):
            self.inputs = {name: tuple(map(int, shape)) for name, shape in self.inputs.items()}
        shapes: dict[str, tuple[int, ...]] = dict(self.inputs)
        tensors: dict[str, Weight] = {}  # weight name → the first Weight of that name
        first_of, linted = tensors.setdefault, _LINTED.get
        ops, changed = list(self.ops), False
        for i, op in enumerate(ops):
            numpy = self._lint_types(op)
            if op.name in shapes:
                raise WorkloadError(f"{self.name}: op {op.name!r} is defined twice")
            self._lint_kind(op)
            numpy |= self._lint_inputs(op, shapes)
            for w in op.weights:
                first = first_of(w.name, w)
                if linted(id(w)) is not w:  # (a Weight object checked before, in this graph or any: not again)
                    numpy |= self._lint_weight(op, w)
                if first is not w:  # (one Weight object shared by name: one tensor)
                    self._lint_tied(op, w, first)
            if numpy:  # numpy's integers are Python's before anything is counted (np.int32 products wrap)
                op = ops[i] = _python_ints(op)
                changed = True
            self._lint_counts(op)
            shapes[op.name] = op.out_shape
        if changed:
            self.ops = tuple(ops)
            self._by_name = {op.name: op for op in self.ops}
        self._lint_meta()  # after the ops: a builder's bad dtype is named at its op first

    def _lint_kind(self, op: Op) -> None:
        """:meth:`lint`'s check of one op's ``kind`` (an :class:`OpKind`) and dtypes (known ones)."""
        if not isinstance(op.kind, OpKind):
            match = {k.value: k for k in OpKind}.get(op.kind)  # type: ignore[call-overload]
            raise WorkloadError(f"{self.name}: op {op.name!r} has kind {op.kind!r}, not an OpKind: write "
                                + (f"OpKind.{match.name}" if match else "an OpKind member, e.g. OpKind.LINEAR"))
        for dtype in (op.dtype, op.attrs.get("out_dtype", op.dtype)):
            if dtype not in DTYPE_BITS:
                raise WorkloadError(f"{self.name}: op {op.name!r} has dtype {dtype!r}, which is unknown"
                                    f"{_dtype_hint(dtype)} (expected one of {', '.join(DTYPE_BYTES)})")

    def _lint_inputs(self, op: Op, shapes: dict[str, tuple[int, ...]]) -> bool:
        """:meth:`lint`'s check of one op's shapes: an input shape for each input, integer sizes, each input
        defined before it (``shapes``: the graph inputs' and earlier ops') with the shape its producer gives, and
        every size positive. True where a size is an integer that is not Python's (numpy's)."""
        numpy = False
        if len(op.inputs) != len(op.in_shapes):
            raise WorkloadError(f"{self.name}: op {op.name!r} has {len(op.inputs)} inputs but "
                                f"{len(op.in_shapes)} input shapes")
        out = op.out_shape  # integer sizes (an input shape that is its producer's tuple was checked with it)
        if type(out) is not tuple or not _INT.issuperset(map(type, out)):  # (else: the slow path)
            numpy = self._lint_shapes(op)
        for src, shape in zip(op.inputs, op.in_shapes, strict=True):
            given = shapes.get(src)
            if given is None:
                raise WorkloadError(f"{self.name}: op {op.name!r} reads {src!r}, which is not defined before it")
            if shape is given:
                continue
            if type(shape) is not tuple or not _INT.issuperset(map(type, shape)):
                numpy |= self._lint_shapes(op)
            if shape != given and tuple(shape) != tuple(given):
                raise WorkloadError(f"{self.name}: op {op.name!r} reads {src!r} as {list(shape)}, but {src!r} is "
                                    f"{list(given)}")
        for shape in (op.out_shape, *op.in_shapes):
            if not shape or min(shape) <= 0:
                raise WorkloadError(f"{self.name}: op {op.name!r} has a non-positive shape {shape}")
        return numpy

    def require_ops(self) -> None:
        """A one-line :class:`WorkloadError` for a graph with no ops, which would simulate to 0 cycles and 0 s (a
        point a sweep would put on its Pareto front; probe p65 #5): checked when a Graph is simulated, not built
        (an empty graph is a valid argument to what reads a graph, and an ONNX model of views imports as one)."""
        if not self.ops:
            raise WorkloadError(f"graph {self.name} has no ops: append its layers before building it")

    def _lint_types(self, op: Op) -> bool:
        """The type checks of :meth:`lint` for one op, before any of its values is compared (probe p91 #4): its
        ``name`` a string, ``macs``, ``flops`` and ``vector_elems`` integers (report.json's per-op counts are ints),
        ``gemm`` a :class:`Gemm` of integer sizes or None, ``weights`` :class:`Weight` s and ``attrs`` a mapping.
        True where a count or GEMM size is an integer that is not Python's (numpy's: :func:`_python_ints`)."""
        numpy = False
        if type(op.name) is not str and not isinstance(op.name, str):
            raise WorkloadError(f"{self.name}: op name {op.name!r} is not a string (type {type(op.name).__name__})")
        if not (type(op.macs) is int and type(op.flops) is int and type(op.vector_elems) is int):  # (else: slow path)
            for what, value in (("macs", op.macs), ("flops", op.flops), ("vector_elems", op.vector_elems)):
                if type(value) is not int and (not isinstance(value, numbers.Integral) or isinstance(value, bool)):
                    raise WorkloadError(f"{self.name}: op {op.name!r} has {what} {value!r}, which is not an integer "
                                        f"(type {type(value).__name__})")
            numpy = True
        g = op.gemm
        if g is not None:
            if not isinstance(g, Gemm):
                raise WorkloadError(f"{self.name}: op {op.name!r} has gemm {g!r}, which is not a Gemm: write "
                                    f"Gemm(m, n, k) or Gemm(m, n, k, count)")
            if not (type(g.m) is int and type(g.n) is int and type(g.k) is int and type(g.count) is int) and not all(
                    isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (g.m, g.n, g.k, g.count)):
                raise WorkloadError(f"{self.name}: op {op.name!r} has a GEMM {g} whose sizes are not all integers")
            numpy |= not (type(g.m) is int and type(g.n) is int and type(g.k) is int and type(g.count) is int)
        weights = op.weights
        if type(weights) is not tuple and not isinstance(weights, list) or not _WEIGHT.issuperset(
                map(type, weights)) and not all(isinstance(w, Weight) for w in weights):
            raise WorkloadError(f"{self.name}: op {op.name!r} has weights {weights!r:.80}: expected a tuple of "
                                f"Weight, e.g. (Weight('fc.weight', (out, in)),)")
        if type(op.attrs) is not dict and not isinstance(op.attrs, Mapping):
            raise WorkloadError(f"{self.name}: op {op.name!r} has attrs {op.attrs!r:.80}, which is not a mapping "
                                f"(type {type(op.attrs).__name__}): write a dict, e.g. {{'fn': 'relu'}}")
        return numpy

    def _lint_shapes(self, op: Op) -> bool:
        """The type check of an op's ``out_shape`` and each of its ``in_shapes``: a tuple or list of integer sizes,
        never a float or a bool (probe p96 #5: ``(4.0, 16)`` was taken, and its byte counts came out floats;
        ``(True, 64)`` read as 1 × 64), as a graph input's and a weight's shape; whether they are positive is
        :meth:`lint`'s next check. True where a size is an integer that is not Python's (numpy's)."""
        fields = [("out_shape", op.out_shape)]
        ins = op.in_shapes
        if isinstance(ins, (tuple, list)):
            fields += [(f"in_shapes[{i}]", shape) for i, shape in enumerate(ins)]
        else:
            fields.append(("in_shapes", ins))
        for what, shape in fields:
            if not isinstance(shape, (tuple, list)) or not all(
                    isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape):
                bad = next((d for d in shape if not isinstance(d, numbers.Integral) or isinstance(d, bool)), shape
                           ) if isinstance(shape, (tuple, list)) else shape
                raise WorkloadError(f"{self.name}: op {op.name!r} has {what} {shape!r}: expected a tuple of integer "
                                    f"sizes ({bad!r} is not an integer: type {type(bad).__name__})")
        return any(type(d) is not int for _, shape in fields for d in shape)

    def _lint_meta(self) -> None:
        """``meta["batch"]`` (the samples a pass runs: what report.json's ``workload.batch`` and the energy per
        inference divide by) a positive integer or None, and ``meta["dtype"]`` a known dtype or None; else a
        one-line :class:`WorkloadError` naming the graph and the key (probe p115 #4: a string batch from argparse
        crashed the energy model, a negative one gave negative joules per inference). A numpy integer is kept as
        Python's int."""
        batch = self.meta.get("batch")
        if batch is not None:
            if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
                raise WorkloadError(f"{self.name}: meta['batch'] is {batch!r}: expected a positive integer (the "
                                    f"samples one pass runs) or None")
            if type(batch) is not int:
                self.meta["batch"] = int(batch)
        dtype = self.meta.get("dtype")
        if dtype is not None and (not isinstance(dtype, str) or dtype not in DTYPE_BITS):
            raise WorkloadError(f"{self.name}: meta['dtype'] is {dtype!r}, which is unknown{_dtype_hint(dtype)} "
                                f"(expected None or one of {', '.join(DTYPE_BYTES)})")

    def _lint_weight(self, op: Op, w: Weight) -> bool:
        """The checks of :meth:`lint` for one weight ``op`` reads (probe p91 #2): a string name, a shape of positive
        integer sizes, a ``role`` of :data:`WEIGHT_ROLES`, a known ``dtype`` or None, and ``group_size``, ``nnz`` and
        ``index_bits`` integers ≥ 0 with ``nnz`` at most the tensor's elements (its byte counts are never
        negative), and ``k_axis`` None or one of its axes. A weight that passes is remembered by identity
        (:data:`_LINTED`): the builders share one Weight object between the graphs of a run's passes
        (:class:`WeightPool`), so its fields, which cannot change, are checked once. True (and not remembered: lint replaces it) where a size is an integer that is not Python's."""
        if type(w.name) is not str and not isinstance(w.name, str):
            raise WorkloadError(f"{self.name}: op {op.name!r} has a weight named {w.name!r}, which is not a string")
        where = f"{self.name}: op {op.name!r}: weight {w.name!r}"
        shape = w.shape
        if not shape or not (all(type(d) is int and d > 0 for d in shape) or (_is_shape(shape) and min(shape) > 0)):
            raise WorkloadError(f"{where} has shape {shape!r}: expected a tuple of positive integer sizes")
        if w.role not in WEIGHT_ROLES:
            close = difflib.get_close_matches(str(w.role).lower(), WEIGHT_ROLES, n=1, cutoff=0.6)
            raise WorkloadError(f"{where} has role {w.role!r}, which is unknown"
                                f"{f'; did you mean {close[0]!r}?' if close else ''} (expected one of "
                                f"{', '.join(WEIGHT_ROLES)})")
        if w.dtype is not None and w.dtype not in DTYPE_BITS:
            raise WorkloadError(f"{where} has dtype {w.dtype!r}, which is unknown{_dtype_hint(w.dtype)} (expected "
                                f"None, the op's, or one of {', '.join(DTYPE_BYTES)})")
        for what, value in (("group_size", w.group_size), ("nnz", w.nnz), ("index_bits", w.index_bits)):
            if not (type(value) is int and value >= 0) and (
                    not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0):
                raise WorkloadError(f"{where} has {what} {value!r}: expected an integer >= 0 (0: none)")
        if w.k_axis is not None and (type(w.k_axis) is not int or not 0 <= w.k_axis < len(shape)):
            raise WorkloadError(f"{where} has k_axis {w.k_axis!r}: expected None or an axis of its {len(shape)}-D "
                                f"shape, 0 to {len(shape) - 1} (the one axis its GEMM reduces over)")
        if w.nnz > w.numel:
            raise WorkloadError(f"{where} has nnz {w.nnz:,}, more than its {w.numel:,} elements (nnz: the elements a "
                                f"compressed tensor keeps)")
        if not all(type(v) is int for v in (*shape, w.group_size, w.nnz, w.index_bits)):
            return True
        if len(_LINTED) >= _LINTED_SIZE:
            _LINTED.clear()
        _LINTED[id(w)] = w
        return False

    def _lint_tied(self, op: Op, w: Weight, first: Weight) -> None:
        """Two Weights of one name are one tensor (tied weights, read by two ops), counted once by
        :attr:`params` and :attr:`weight_bytes`: so they must have as many elements and the same role, else the
        second's would vanish from the totals (probe p91 #1). ``first``: the first Weight of that name in the
        graph (its op found for the message)."""
        if w.numel != first.numel or w.role != first.role:
            first_op = next(o.name for o in self.ops if any(x is first for x in o.weights))
            raise WorkloadError(f"{self.name}: weight {w.name!r} is {w.role} {tuple(w.shape)} on op {op.name!r} but "
                                f"{first.role} {tuple(first.shape)} on op {first_op!r}: weights of one name are one "
                                f"tensor (tied), counted once; give different tensors different names")

    def _lint_counts(self, op: Op) -> None:
        """The count checks of :meth:`lint` for one op."""
        if op.macs < 0 or op.flops < 0 or op.vector_elems < 0:
            what, value = next((w, v) for w, v in (("macs", op.macs), ("flops", op.flops),
                                                   ("vector_elems", op.vector_elems)) if v < 0)
            raise WorkloadError(f"{self.name}: op {op.name!r} has {what} {value}, which is negative")
        g = op.gemm
        if g is None:
            if op.kind.is_matmul:
                raise WorkloadError(f"{self.name}: matmul-like op {op.name!r} has no GEMM view")
        else:
            if min(g.m, g.n, g.k, g.count) <= 0:
                raise WorkloadError(f"{self.name}: op {op.name!r} has a GEMM with a non-positive size {g}")
            expected = g.m * g.n * g.k * g.count
            if op.kind is OpKind.ATTENTION:  # the mapper prices both GEMMs (cost/attention.py): probe p91 #3
                pv = op.attrs.get("pv_gemm")
                if not isinstance(pv, (tuple, list)) or len(pv) not in (3, 4) or not all(
                        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in pv):
                    has = f"attrs['pv_gemm'] {pv!r:.60}" if "pv_gemm" in op.attrs else "no attrs['pv_gemm']"
                    raise WorkloadError(f"{self.name}: attention op {op.name!r} has {has}: a fused attention's gemm is "
                                        f"its QKᵀ and attrs['pv_gemm'] its P·V GEMM, (m, n, k) or (m, n, k, count) of "
                                        f"positive integers")
                expected += math.prod(pv)
            if op.kind is OpKind.LINEAR and op.in_shapes and (
                    g.m * g.k * g.count != math.prod(op.in_shapes[0]) or g.m * g.n * g.count != math.prod(op.out_shape)):
                raise WorkloadError(f"{self.name}: linear op {op.name!r} has a GEMM {g.m}×{g.n}×{g.k} (×{g.count}) that "
                                    f"does not fit its input {list(op.in_shapes[0])} and output {list(op.out_shape)} "
                                    f"(m·k = input elements, m·n = output elements)")
            # fewer MACs than the GEMM's are work it skips (a causal or sliding-window mask inside the blocks it
            # runs, an N:M-pruned weight); none, or more than the GEMM does, is a count that cannot be right
            if op.macs > expected or op.macs <= 0:
                raise WorkloadError(f"{self.name}: op {op.name!r} has macs {op.macs:,} but its GEMM {g.m}×{g.n}×{g.k}"
                                    f" (×{g.count}) does {expected:,} (macs = m·n·k·count, or fewer where the op "
                                    f"skips masked or pruned work)")
        if op.flops and not op.vector_elems and not op.kind.is_matmul and not op.kind.is_view:
            raise WorkloadError(f"{self.name}: op {op.name!r} ({op.fn}) declares {op.flops:,} flops but no "
                                f"vector_elems: it would take no time (set the elements its vector unit runs)")

    def consumers(self, name: str) -> list[str]:
        """Names of the ops that read ``name``'s output, in graph order."""
        return sorted(self.nx.successors(name), key=lambda n: self.nx.nodes[n]["index"])

    # ---- totals (DESIGN.md counting conventions) ------------------------------------------------------------
    @functools.cached_property
    def packed_params(self) -> frozenset[str]:
        """The packed parameters some weight is a slice of (:attr:`Weight.packed`): counted by their slices."""
        return frozenset(w.packed for op in self.ops for w in op.weights if w.packed)

    @functools.cached_property
    def params(self) -> int:
        """Parameter count, each named tensor once (optimizer state is not a parameter; a packed parameter, which a
        training step reads whole, once, by its slices: :attr:`Weight.packed`). Counted on first use (the ops do not
        change; a run asks for each pass's count more than once)."""
        unique: dict[str, int] = dict.fromkeys(self.packed_params, 0)
        for op in self.ops:
            for w in op.weights:
                if w.role == "param" and w.name not in unique:
                    unique[w.name] = w.numel
        return sum(unique.values())

    @property
    def trainable_params(self) -> int:
        """Parameter elements training updates: :attr:`params` less the :attr:`Weight.frozen` ones."""
        unique: dict[str, int] = dict.fromkeys(self.packed_params, 0)
        for op in self.ops:
            for w in op.weights:
                if w.role == "param" and w.name not in unique:
                    unique[w.name] = 0 if w.frozen else w.numel
        return sum(unique.values())

    @property
    def macs(self) -> int:
        """Matmul and convolution multiply-accumulates."""
        return sum(op.macs for op in self.ops)

    @property
    def flops(self) -> int:
        """2·MACs plus element-wise, reduction and look-up work."""
        return sum(op.flops for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        """Bytes of all parameters and buffers (each named tensor once; a packed one by its slices)."""
        unique: dict[str, int] = dict.fromkeys(self.packed_params, 0)
        for op in self.ops:
            for w in op.weights:
                if w.role in ("param", "buffer") and w.name not in unique:
                    unique[w.name] = w.nbytes(op.dtype)
        return sum(unique.values())

    def unread_weights(self) -> dict[str, int]:
        """Bytes of each weight the model holds but no op of this graph reads: those only an ``unused_params`` view
        carries (experts no token is routed to, an image encoder a text pass skips)."""
        read = {w.name for op in self.ops if op.fn != "unused_params" for w in op.weights}
        return {w.name: w.nbytes(op.dtype) for op in self.ops if op.fn == "unused_params" for w in op.weights
                if w.name not in read}

    def kv_cache_sizes(self) -> dict[str, int]:
        """Bytes of each KV-cache input (``info.kv_cache``), in the KV-cache dtype (default: the first op's)."""
        info = self.info
        elem = dtype_bytes(info.kv_cache_dtype) if info.kv_cache_dtype else (self.ops[0].elem_bytes if self.ops else 1)
        return {name: math.prod(self.inputs[name]) * elem for name in info.kv_cache}

    @property
    def activation_bytes(self) -> int:
        """Bytes of every activation tensor: the graph inputs and each op's output (views excluded)."""
        elems = [math.prod(s) for s in self.inputs.values()]  # no op: a byte an element
        inputs = sum(tensor_bytes(n, self.ops[0].dtype) for n in elems) if self.ops else sum(elems)
        return inputs + sum(op.out_bytes for op in self.ops if not op.kind.is_view)

    def summary(self) -> dict[str, object]:
        """Totals as a plain dict (the keys of ``accelsim info --json``); ``trainable_params`` where some parameter
        is frozen; a training step adds what it keeps for the backward pass, its gradients and its optimizer state
        (bytes)."""
        macs, flops = self.macs, self.flops
        if any("model_scale" in op.attrs for op in self.ops):  # a causal context-parallel attention (ring,
            # all_gather): counted as the unsplit op, every query × key, as report.json's (report.schema.model_counts)
            scales = [float(op.attrs.get("model_scale", 1.0)) for op in self.ops]  # type: ignore[arg-type]
            macs = round(sum(op.macs * k for op, k in zip(self.ops, scales, strict=True)))
            flops = round(sum(op.flops * k for op, k in zip(self.ops, scales, strict=True)))
        out: dict[str, object] = {
            "name": self.name,
            "params": self.params,
            **({"trainable_params": self.trainable_params} if any(w.frozen for op in self.ops for w in op.weights)
               else {}),
            "macs": macs,
            "flops": flops,
            "ops": len(self.ops),
            "weight_bytes": self.weight_bytes,
            "activation_bytes": self.activation_bytes,
        }
        if self.meta.get("mode") == "training":
            for key in ("stashed_activation_bytes", "gradient_bytes", "optimizer_state_bytes"):
                out[key] = int(self.meta.get(key, 0))
        return out

    def __str__(self) -> str:
        rows = [("#", "name", "kind", "inputs", "output", "params", "macs")]
        for i, op in enumerate(self.ops):
            rows.append((str(i), op.name, op.fn, ",".join(op.inputs), "x".join(map(str, op.out_shape)),
                         str(op.params), str(op.macs)))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)
