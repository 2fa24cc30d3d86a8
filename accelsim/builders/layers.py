"""GraphBuilder: appends typed ops to a graph with torch.nn shape inference (NCHW tensors).

Each layer method takes the name of its input (an earlier op, or ``"input"``), appends one :class:`~accelsim.ir.Op`
and returns the new op's name, so calls chain: ``x = b.relu(b.batchnorm2d(b.conv2d(x, 64, 3, padding=1)))``.
Output sizes follow the torch.nn documentation exactly:

* Conv2d: ``H_out = floor((H + 2p − d·(k−1) − 1) / s) + 1`` (``padding="same"`` pads ``d·(k−1)`` in total, the
  odd pixel at the bottom/right, stride 1 only; ``"valid"`` = 0).
* ConvTranspose2d: ``H_out = (H − 1)·s − 2p + d·(k−1) + output_padding + 1``.
* MaxPool2d/AvgPool2d: as Conv2d, rounding up with ``ceil_mode``; a window that would start in the right padding
  is dropped (``(H_out − 1)·s >= H + p`` → one fewer).

Counting conventions (per op; ``Graph`` sums them):

* ``macs`` only for conv / conv_transpose / linear / matmul, and equal to the op's ``Gemm.macs``:
  conv m = N·Ho·Wo, n = Cout/groups, k = kh·kw·Cin/groups, count = groups;
  conv_transpose m = N·Hin·Win, n = Cout/groups·kh·kw, k = Cin/groups, count = groups;
  linear m = rows (all leading dims), n = out features, k = in features.
* ``flops`` = 2·macs (+ one add per output element when the layer has a bias) for matmul kinds. Element-wise,
  per output element: add/mul 1, relu/relu6 1, hardsigmoid 2, hardswish 3, sigmoid 4, batch norm 2;
  max/avg pool k·k − 1 compares/adds per output (+1 divide for avg); adaptive avg pool = its input elements;
  concat/flatten/crop 0; group norm 5 (as a LayerNorm); nearest upsampling 0 (a copy: vector_elems = its output
  elements).
* ``vector_elems`` = elements the vector unit processes: pool = output elements × k·k (window reads), adaptive
  avg pool = input elements, unary/binary element-wise and batch norm = output elements; 0 for matmul kinds and
  views (CONCAT, RESHAPE).
* ``params``: conv weight (Cout, Cin/groups, kh, kw) [+ bias (Cout,)]; conv_transpose weight
  (Cin, Cout/groups, kh, kw) [+ bias]; linear weight (out, in) [+ bias]; batch norm weight + bias (2·C; the
  running mean/variance are buffers, not parameters); group norm weight + bias (2·C). Weight names are
  ``f"{op}.weight"`` / ``f"{op}.bias"``.
* ``attrs``: ``fn`` for every op; convs add ``kernel``, ``stride``, ``padding`` (top, left per side), ``pads``
  (top, bottom, left, right), ``dilation``, ``groups``; pools add ``kernel``, ``stride``, ``padding``; a batch
  norm that reads a convolution's output directly records ``follows`` = that conv's name (the mapper may fold it).

A conv or transposed conv with a bias is followed by its eager bias add (``f"{conv}.bias_add"``, ELEMENTWISE fn "add",
attrs ``eager_only`` and ``bias_of``), whose name the method returns: cuDNN's convolution and PyTorch's
``output.add_(bias)`` are two kernels in eager PyTorch on a GPU; the conv's ``flops`` keep the bias's add and its
weights the bias, and the mapping moves both to the add where it runs (:meth:`GraphBuilder._eager_bias`).

Dropout is the identity at inference: :meth:`GraphBuilder.dropout` appends nothing and returns its input. A builder
that builds a training graph sets ``training`` (``gpt``, ``gpt2`` and BERT do), and dropout then appends PyTorch's
training dropout: a keep-mask and the masked input (see the method).
Impossible shapes raise :class:`~accelsim.errors.WorkloadError` naming the layer and the value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from ..errors import WorkloadError
from ..ir import Gemm, Graph, Op, OpKind, Weight
from ..units import INT_BIAS_DTYPE

Shape = tuple[int, ...]
IntPair = int | tuple[int, int]
IntN = int | Sequence[int]

INPUT = "input"
"""Name of the graph input tensor."""
# The most ops a workload's graph (or its training step) may have: the largest preset's forward graph has a few
# thousand, DeepSeek-V3's training step about 52,000 (104,000 with skewed routing). A builder reaching it stops with
# a one-line error, in a few seconds, rather than building for minutes into a MemoryError (10^6 layers, an LSTM
# over 10^7 steps).
MAX_OPS = 200_000


def check_op_count(count: int, graph: str, at: str, what: str = "graph") -> None:
    """A :class:`WorkloadError` when ``count`` ops already built leave no room for op ``at`` (:data:`MAX_OPS`)."""
    if count >= MAX_OPS:
        raise WorkloadError(f"{graph}: the {what} would have more than {MAX_OPS:,} ops (at {at!r}); accelsim builds "
                            f"every layer and time step: use fewer")


def broadcast_shapes(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """The numpy / torch broadcast of two shapes (aligned at the right, each pair of sizes equal or one of them 1),
    or None when they do not broadcast; exact for any size (numpy's refuses arrays of more than 2**63 bytes)."""
    out = []
    for x, y in zip(reversed((1,) * (len(b) - len(a)) + tuple(a)), reversed((1,) * (len(a) - len(b)) + tuple(b)),
                    strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _whole(value: object) -> object:
    """``value`` as a Python int where it is an integer of another type (numpy's ``np.int64(16)``, which a script's
    ``np.arange`` loop gives: probe p106 #7, "out_features must be a positive int (got np.int64(16))"), else as is
    (a bool stays a bool, refused by the checks that follow)."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


def _pair(value: object, what: str, layer: str, *, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each >= ``minimum``) as a pair."""
    return _ntuple(value, 2, what, layer, minimum=minimum)  # type: ignore[return-value]


def _ntuple(value: object, n: int, what: str, layer: str, *, minimum: int = 1) -> tuple[int, ...]:
    """``value`` (an int or ``n`` ints, each >= ``minimum``) as an ``n``-tuple."""
    value = _whole(value)
    if isinstance(value, int) and not isinstance(value, bool):
        out: tuple[int, ...] = (value,) * n
    elif (isinstance(value, (tuple, list)) and len(value) == n
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        out = tuple(int(v) for v in value)
    else:
        many = "a pair of ints" if n == 2 else f"{n} ints"
        raise WorkloadError(f"{layer}: {what} must be an int or {many} (got {value!r})")
    if min(out) < minimum:
        raise WorkloadError(f"{layer}: {what} must be >= {minimum} (got {value!r})")
    return out


def _check_channels(layer: str, cin: int, out_ch: int, groups: int) -> tuple[int, int]:
    """Channel counts and groups of a (transposed) convolution: positive ints, channels divisible by groups;
    (out_ch, groups) as Python ints."""
    out_ch, groups = _whole(out_ch), _whole(groups)  # type: ignore[assignment]
    if isinstance(out_ch, bool) or not isinstance(out_ch, int) or out_ch < 1:
        raise WorkloadError(f"{layer}: out_ch must be a positive int (got {out_ch!r})")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise WorkloadError(f"{layer}: groups must be a positive int (got {groups!r})")
    if cin % groups:
        raise WorkloadError(f"{layer}: in_channels {cin} is not divisible by groups {groups}")
    if out_ch % groups:
        raise WorkloadError(f"{layer}: out_ch {out_ch} is not divisible by groups {groups}")
    return out_ch, groups


def conv_out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int = 1) -> int:
    """Output length of a convolution (torch.nn.Conv2d): floor((size + pad_total − d·(k−1) − 1) / s) + 1."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                            output_padding: int = 0) -> int:
    """Output length of a transposed convolution (torch.nn.ConvTranspose2d)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def pool_out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                  ceil_mode: bool = False) -> int:
    """Output length of max/avg pooling (torch.nn.MaxPool2d), with torch's ``ceil_mode`` rule."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start inside the right padding
    return out


class GraphBuilder:
    """A graph under construction: ops appended in order, each output shape inferred from its inputs.

    ``input_shape`` is the shape of the single graph input, named ``"input"`` (:attr:`input`); every op gets
    ``dtype``. Its methods are the CNN-style layers (convolutions, pools, norms, linear, element-wise);
    :class:`~accelsim.builders.tlayers.TransformerBuilder` adds the transformer layers (attention, layer/RMS norm,
    GELU/SiLU, embeddings, MLPs) and several named inputs, :class:`~accelsim.builders.rnn.RecurrentBuilder` LSTM/GRU.
    Names given to layer methods are prefixed by the enclosing :meth:`scope`; names left out are made unique
    (``relu``, ``relu_1``, ...). :meth:`build` returns the :class:`~accelsim.ir.Graph`.
    """

    def __init__(self, name: str, input_shape: Sequence[int], *, dtype: str = "fp16"):
        if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) or not all(
                isinstance(d, numbers.Real) and not isinstance(d, bool) and float(d).is_integer() for d in input_shape):
            raise WorkloadError(f"{name}: input shape must be a sequence of positive sizes, e.g. (4, 16) "
                                f"(got {input_shape!r})")
        shape = tuple(int(d) for d in input_shape)
        if not shape or any(d <= 0 for d in shape):
            raise WorkloadError(f"{name}: input shape must be positive sizes (got {list(input_shape)})")
        self.name = name
        self.dtype = dtype
        self.input_shape: Shape = shape
        self._ops: list[Op] = []
        self._shapes: dict[str, Shape] = {INPUT: shape}
        self._kinds: dict[str, OpKind] = {}
        self._bias_adds: set[str] = set()  # a conv's eager bias add (_eager_bias), which a batch norm follows
        self._scope: list[str] = []
        self._blocks: set[str] = set()  # scope names of layers made of several ops (block_name)
        self.training = False  # a training graph: dropout appends its ops (see dropout)
        self.eager_bias = True  # a biased conv appends eager PyTorch's bias add (_eager_bias; False: an ONNX file's)

    # ---- plumbing ---------------------------------------------------------------------------------------
    @property
    def input(self) -> str:
        """Name of the graph input (``"input"``)."""
        return INPUT

    @property
    def last(self) -> str:
        """Name of the most recently appended op (the input if none)."""
        return self._ops[-1].name if self._ops else INPUT

    def shape(self, x: str) -> Shape:
        """Output shape of op (or graph input) ``x``."""
        try:
            return self._shapes[x]
        except KeyError:
            raise WorkloadError(f"{self.name}: {x!r} is not an op or input defined so far") from None

    @contextmanager
    def scope(self, prefix: str) -> Iterator[None]:
        """Prefix the names of ops appended inside the ``with`` block with ``prefix.`` (scopes nest)."""
        self._scope.append(prefix)
        try:
            yield
        finally:
            self._scope.pop()

    def _name(self, name: str | None, default: str) -> str:
        base = name if name is not None else default
        full = ".".join([*self._scope, base])
        if name is not None:
            if full in self._shapes:
                raise WorkloadError(f"{self.name}: layer name {full!r} is used twice")
            return full
        candidate, i = full, 0
        while candidate in self._shapes:
            i += 1
            candidate = f"{full}_{i}"
        return candidate

    def block_name(self, name: str | None, default: str) -> str:
        """A unique scope name for a layer made of several ops (``name`` if given, else ``default``, ``default_1``,
        ...); a given name used twice is an error."""
        prefix = "".join(f"{s}." for s in self._scope)
        local, i = name or default, 0
        while prefix + local in self._blocks or prefix + local in self._shapes:
            if name is not None:
                raise WorkloadError(f"{self.name}: layer name {prefix + local!r} is used twice")
            i += 1
            local = f"{default}_{i}"
        self._blocks.add(prefix + local)
        return local

    def _add(self, name: str, kind: OpKind, inputs: Sequence[str], out_shape: Shape, *, weights: Sequence[Weight] = (),
             gemm: Gemm | None = None, flops: int = 0, vector_elems: int = 0, **attrs: object) -> str:
        check_op_count(len(self._ops), self.name, name)
        in_shapes = tuple(self.shape(x) for x in inputs)
        if any(d <= 0 for d in out_shape):
            raise WorkloadError(f"{self.name}: {attrs.get('fn', kind.value)} {name!r} gives output shape "
                                f"{list(out_shape)}, which has a non-positive size")
        op = Op(name=name, kind=kind, inputs=tuple(inputs), in_shapes=in_shapes, out_shape=tuple(out_shape),
                dtype=self.dtype, weights=tuple(weights), macs=gemm.macs if gemm else 0, flops=flops, gemm=gemm,
                vector_elems=vector_elems, attrs=attrs)
        self._ops.append(op)
        self._shapes[name] = op.out_shape
        self._kinds[name] = kind
        return name

    def _nchw(self, x: str, layer: str, what: str) -> Shape:
        shape = self.shape(x)
        if len(shape) != 4:
            raise WorkloadError(f"{self.name}: {what} {layer!r} needs an N×C×H×W input; {x!r} is {list(shape)}")
        return shape

    def build(self, meta: Mapping[str, object] | None = None) -> Graph:
        """The finished graph (``inputs = {"input": input_shape}``); its ``meta`` records ``dtype`` (the builder's)
        and ``batch`` (dim 0 of an input of at least 2-D, else 1 with a note: :meth:`_meta`) where ``meta`` does
        not give them (report.json's ``workload``)."""
        return Graph(self.name, self._ops, {INPUT: self.input_shape}, meta=self._meta(meta, self.input_shape))

    def _meta(self, meta: Mapping[str, object] | None, single_input: Shape | None) -> dict[str, object]:
        """``meta`` with ``dtype`` (the builder's) and ``batch`` added where it has no such key: dim 0 of the graph's
        inputs where every one (``single_input``, else each declared input but the caches a decode step reads) is
        at least 2-D and they agree on it (a recurrent graph: N of its first recurrent layer's input, dim 0 being
        the sequence in torch's time-major layout); else 1, with a note saying so (as the ONNX importer's: a 1-D
        input (1024,) is an unbatched vector, not a batch of 1024; probe p115 #5)."""
        out = dict(meta or {})
        out.setdefault("dtype", self.dtype)
        if "batch" in out:
            return out
        recurrent = getattr(self, "_first_batch", None)  # RecurrentBuilder: N of its first layer's (L, N, H) input
        if recurrent is not None:
            out["batch"] = recurrent
            return out
        skip = {*getattr(self, "_cache_inputs", ()), *getattr(self, "_h0_inputs", ())}
        declared = getattr(self, "_inputs", None) or {INPUT: single_input}
        shapes = {n: s for n, s in declared.items() if n not in skip}
        if single_input is not None:
            shapes = {next(iter(shapes), INPUT): single_input}
        firsts = {s[0] for s in shapes.values() if len(s) >= 2}
        if len(firsts) == 1 and all(len(s) >= 2 for s in shapes.values()):
            out["batch"] = firsts.pop()
            return out
        listed = ", ".join(f"{n!r} {list(s)}" for n, s in shapes.items())
        why = "is 1-D" if len(shapes) == 1 else "do not share a dim 0 of at least 2-D inputs"
        out["batch"] = 1
        out["notes"] = [*out.get("notes", ()), (  # type: ignore[misc]
            f"{self.name}: the graph's input{'s' if len(shapes) > 1 else ''} ({listed}) {why}, so no batch axis is "
            f"known and the batch is 1: one run of the graph is one inference (efficiency.j_per_inference is per "
            f"run); give build(meta={{'batch': n}}) for a batch")]
        return out

    # ---- matmul layers ----------------------------------------------------------------------------------
    def conv2d(self, x: str, out_ch: int, kernel: IntPair, stride: IntPair = 1, padding: IntPair | str = 0,
               dilation: IntPair = 1, groups: int = 1, bias: bool = True, name: str | None = None,
               channels_last: bool = False) -> str:
        """A 2-D convolution (torch.nn.Conv2d) of ``x`` to ``out_ch`` channels; ``padding`` may be "same"/"valid".
        With a bias, the name returned is its eager bias add's where PyTorch launches one (:meth:`_eager_bias`;
        ``channels_last``: ``x`` is a channels-last tensor, which sends a depthwise conv to cuDNN too)."""
        name = self._name(name, "conv")
        layer = f"{self.name}: conv2d {name!r}"
        n, cin, h, w = self._nchw(x, name, "conv2d")
        kh, kw = _pair(kernel, "kernel", layer)
        sh, sw = _pair(stride, "stride", layer)
        dh, dw = _pair(dilation, "dilation", layer)
        out_ch, groups = _check_channels(layer, cin, out_ch, groups)
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise WorkloadError(f"{layer}: padding='same' needs stride 1 (got stride {stride!r})")
            th, tw = dh * (kh - 1), dw * (kw - 1)
            pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        elif isinstance(padding, str):
            raise WorkloadError(f"{layer}: padding must be an int, a pair, 'same' or 'valid' (got {padding!r})")
        else:
            ph, pw = _pair(padding, "padding", layer, minimum=0)
            pads = (ph, ph, pw, pw)
        ho = conv_out_size(h, kh, sh, pads[0] + pads[1], dh)
        wo = conv_out_size(w, kw, sw, pads[2] + pads[3], dw)
        if ho < 1 or wo < 1:
            raise WorkloadError(f"{layer}: output size {ho}×{wo} is not positive (input {h}×{w}, kernel {kh}×{kw}, "
                                f"stride {sh}×{sw}, padding {pads}, dilation {dh}×{dw})")
        out = (n, out_ch, ho, wo)
        gemm = Gemm(m=n * ho * wo, n=out_ch // groups, k=kh * kw * cin // groups, count=groups)
        weights = [Weight(f"{name}.weight", (out_ch, cin // groups, kh, kw))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_ch,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        attrs = {"channels_last": True} if channels_last else {}
        self._add(name, OpKind.CONV, [x], out, weights=weights, gemm=gemm, flops=flops, fn="conv2d",
                  kernel=(kh, kw), stride=(sh, sw), padding=(pads[0], pads[2]), pads=pads,
                  dilation=(dh, dw), groups=groups, bias=bias, **attrs)
        return self._eager_bias(name, bias, groups == cin and groups > 1 and not channels_last)

    def _eager_bias(self, conv: str, bias: bool, in_kernel: bool = False) -> str:
        """``conv``, or with a ``bias`` the bias add eager PyTorch launches after it on a GPU: ELEMENTWISE fn "add"
        ``f"{conv}.bias_add"`` reading the conv's output (attrs ``eager_only``, ``bias_of`` = ``conv``; 0 flops and
        vector_elems = the output's elements in the graph: the conv's flops keep the bias's add, and
        mapping.aliases moves it, and the bias's bytes, to this op where it runs). PyTorch's
        aten/src/ATen/native/Convolution.cpp ``_convolution`` runs ``ConvBackend::Cudnn`` and ``CudnnTranspose`` as
        ``at::cudnn_convolution(...)`` then ``output.add_(reshape_bias(input.dim(), bias))``, and ROCm's
        ``Miopen`` / ``MiopenDepthwise`` / ``MiopenTranspose`` pass the bias to ``miopen_convolution``
        (aten/src/ATen/native/miopen/Conv_miopen.cpp), whose ``miopen_convolution_add_bias_`` is
        ``output->add_(bias_contig)``: two kernels. Not a depthwise conv that ``_select_conv_backend`` sends to
        ``CudaDepthwise2d`` / ``CudaDepthwise3d`` (``in_kernel``: ``_conv_depthwise2d`` / ``conv_depthwise3d`` take
        the bias), which it does unless ``ConvParams::use_cudnn_depthwise`` holds: "always use cudnn_depthwise for
        channels_last format" (a conv2d given ``channels_last``), or an fp16 NCHW input of its cuDNN heuristics
        (not modelled: every GPU preset computes in bf16, where the NCHW test is fp16-only). Nor an integer conv,
        which eager PyTorch does not run, nor with ``eager_bias`` False (the ONNX importer's: an ONNX file is not
        run by eager PyTorch). Off a GPU preset the op is a view of the conv's output (a compiler's
        conv adds its bias in its epilogue), so those archs' numbers do not move."""
        if not bias or in_kernel or self.dtype in INT_BIAS_DTYPE or not self.eager_bias:
            return conv
        out = self.shape(conv)
        self._bias_adds.add(f"{conv}.bias_add")
        return self._add(f"{conv}.bias_add", OpKind.ELEMENTWISE, [conv], out, vector_elems=math.prod(out), fn="add",
                         eager_only=True, bias_of=conv)

    def conv_transpose2d(self, x: str, out_ch: int, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                         output_padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                         name: str | None = None) -> str:
        """A 2-D transposed convolution (torch.nn.ConvTranspose2d) of ``x`` to ``out_ch`` channels."""
        name = self._name(name, "conv_transpose")
        layer = f"{self.name}: conv_transpose2d {name!r}"
        n, cin, h, w = self._nchw(x, name, "conv_transpose2d")
        kh, kw = _pair(kernel, "kernel", layer)
        sh, sw = _pair(stride, "stride", layer)
        dh, dw = _pair(dilation, "dilation", layer)
        ph, pw = _pair(padding, "padding", layer, minimum=0)
        oph, opw = _pair(output_padding, "output_padding", layer, minimum=0)
        out_ch, groups = _check_channels(layer, cin, out_ch, groups)
        if oph >= max(sh, dh) or opw >= max(sw, dw):
            raise WorkloadError(f"{layer}: output_padding {output_padding!r} must be smaller than stride or dilation")
        ho = conv_transpose_out_size(h, kh, sh, ph, dh, oph)
        wo = conv_transpose_out_size(w, kw, sw, pw, dw, opw)
        if ho < 1 or wo < 1:
            raise WorkloadError(f"{layer}: output size {ho}×{wo} is not positive (input {h}×{w}, padding {padding!r})")
        out = (n, out_ch, ho, wo)
        gemm = Gemm(m=n * h * w, n=out_ch // groups * kh * kw, k=cin // groups, count=groups)
        weights = [Weight(f"{name}.weight", (cin, out_ch // groups, kh, kw))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_ch,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        self._add(name, OpKind.CONV_TRANSPOSE, [x], out, weights=weights, gemm=gemm, flops=flops,
                  fn="conv_transpose2d", kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                  pads=(ph, ph, pw, pw), output_padding=(oph, opw), dilation=(dh, dw), groups=groups, bias=bias)
        return self._eager_bias(name, bias)

    def linear(self, x: str, out_features: int, bias: bool = True, name: str | None = None) -> str:
        """A fully connected layer (torch.nn.Linear) over the last dimension of ``x``."""
        name = self._name(name, "linear")
        layer = f"{self.name}: linear {name!r}"
        shape = self.shape(x)
        out_features = _whole(out_features)  # type: ignore[assignment]
        if isinstance(out_features, bool) or not isinstance(out_features, int) or out_features < 1:
            raise WorkloadError(f"{layer}: out_features must be a positive int (got {out_features!r})")
        in_features = shape[-1]
        rows = math.prod(shape[:-1])
        out = (*shape[:-1], out_features)
        gemm = Gemm(m=rows, n=out_features, k=in_features)
        weights = [Weight(f"{name}.weight", (out_features, in_features))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_features,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        return self._add(name, OpKind.LINEAR, [x], out, weights=weights, gemm=gemm, flops=flops, fn="linear",
                         bias=bias)

    # ---- 1-D and 3-D convolutions and pools (N×C×L, N×C×D×H×W) -------------------------------------------
    def _spatial(self, x: str, dims: int, layer: str, what: str) -> Shape:
        shape = self.shape(x)
        if len(shape) != dims + 2:
            axes = "×".join(("N", "C", *({1: "L", 2: "HW", 3: "DHW"}.get(dims, "…"))))
            raise WorkloadError(f"{self.name}: {what} {layer!r} needs an {axes} input; {x!r} is {list(shape)}")
        return shape

    def conv_nd(self, x: str, dims: int, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN | str = 0,
                dilation: IntN = 1, groups: int = 1, bias: bool = True, name: str | None = None) -> str:
        """A ``dims``-D convolution (torch.nn.Conv1d / Conv3d) of ``x``; ``padding`` may be "same"/"valid"."""
        fn = f"conv{dims}d"
        name = self._name(name, "conv")
        layer = f"{self.name}: {fn} {name!r}"
        n, cin, *size = self._spatial(x, dims, name, fn)
        k = _ntuple(kernel, dims, "kernel", layer)
        st = _ntuple(stride, dims, "stride", layer)
        dil = _ntuple(dilation, dims, "dilation", layer)
        out_ch, groups = _check_channels(layer, cin, out_ch, groups)
        if padding == "same" and st != (1,) * dims:
            raise WorkloadError(f"{layer}: padding='same' needs stride 1 (got stride {stride!r})")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise WorkloadError(f"{layer}: padding must be an int, a tuple, 'same' or 'valid' (got {padding!r})")
        if padding in ("same", "valid"):
            totals = [d * (kk - 1) if padding == "same" else 0 for d, kk in zip(dil, k, strict=True)]
            pads = tuple(v for t in totals for v in (t // 2, t - t // 2))
        else:
            pads = tuple(v for q in _ntuple(padding, dims, "padding", layer, minimum=0) for v in (q, q))
        out_size = tuple(conv_out_size(size[i], k[i], st[i], pads[2 * i] + pads[2 * i + 1], dil[i])
                         for i in range(dims))
        if min(out_size) < 1:
            raise WorkloadError(f"{layer}: output size {list(out_size)} is not positive (input {size}, kernel {k}, "
                                f"stride {st}, padding {pads}, dilation {dil})")
        out = (n, out_ch, *out_size)
        gemm = Gemm(m=n * math.prod(out_size), n=out_ch // groups, k=math.prod(k) * cin // groups, count=groups)
        weights = [Weight(f"{name}.weight", (out_ch, cin // groups, *k))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_ch,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        self._add(name, OpKind.CONV, [x], out, weights=weights, gemm=gemm, flops=flops, fn=fn, kernel=k,
                  stride=st, padding=pads[::2], pads=pads, dilation=dil, groups=groups, bias=bias)
        return self._eager_bias(name, bias, groups == cin and groups > 1)

    def conv1d(self, x: str, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN | str = 0,
               dilation: IntN = 1, groups: int = 1, bias: bool = True, name: str | None = None) -> str:
        """A 1-D convolution (torch.nn.Conv1d) of an N×C×L tensor."""
        return self.conv_nd(x, 1, out_ch, kernel, stride, padding, dilation, groups, bias, name)

    def conv3d(self, x: str, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN | str = 0,
               dilation: IntN = 1, groups: int = 1, bias: bool = True, name: str | None = None) -> str:
        """A 3-D convolution (torch.nn.Conv3d) of an N×C×D×H×W tensor."""
        return self.conv_nd(x, 3, out_ch, kernel, stride, padding, dilation, groups, bias, name)

    def conv_transpose_nd(self, x: str, dims: int, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN = 0,
                          output_padding: IntN = 0, dilation: IntN = 1, groups: int = 1, bias: bool = True,
                          name: str | None = None) -> str:
        """A ``dims``-D transposed convolution (torch.nn.ConvTranspose1d / ConvTranspose3d) of ``x``: a GEMM of every
        input position (m = N·∏in) by Cout/g·∏k outputs over Cin/g, then col2im; each output length
        (in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1 (torch's formula)."""
        fn = f"conv_transpose{dims}d"
        name = self._name(name, "conv_transpose")
        layer = f"{self.name}: {fn} {name!r}"
        n, cin, *size = self._spatial(x, dims, name, fn)
        k, st = _ntuple(kernel, dims, "kernel", layer), _ntuple(stride, dims, "stride", layer)
        dil, pad = _ntuple(dilation, dims, "dilation", layer), _ntuple(padding, dims, "padding", layer, minimum=0)
        opad = _ntuple(output_padding, dims, "output_padding", layer, minimum=0)
        out_ch, groups = _check_channels(layer, cin, out_ch, groups)
        if any(o >= max(s, d) for o, s, d in zip(opad, st, dil, strict=True)):
            raise WorkloadError(f"{layer}: output_padding {output_padding!r} must be smaller than stride or dilation")
        out_size = tuple(conv_transpose_out_size(size[i], k[i], st[i], pad[i], dil[i], opad[i]) for i in range(dims))
        if min(out_size) < 1:
            raise WorkloadError(f"{layer}: output size {list(out_size)} is not positive (input {size})")
        out = (n, out_ch, *out_size)
        gemm = Gemm(m=n * math.prod(size), n=out_ch // groups * math.prod(k), k=cin // groups, count=groups)
        weights = [Weight(f"{name}.weight", (cin, out_ch // groups, *k))]
        if bias:
            weights.append(Weight(f"{name}.bias", (out_ch,)))
        flops = 2 * gemm.macs + (math.prod(out) if bias else 0)
        self._add(name, OpKind.CONV_TRANSPOSE, [x], out, weights=weights, gemm=gemm, flops=flops, fn=fn, kernel=k,
                  stride=st, padding=pad, pads=tuple(v for q in pad for v in (q, q)), output_padding=opad,
                  dilation=dil, groups=groups, bias=bias)
        return self._eager_bias(name, bias)

    def conv_transpose1d(self, x: str, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN = 0,
                         output_padding: IntN = 0, dilation: IntN = 1, groups: int = 1, bias: bool = True,
                         name: str | None = None) -> str:
        """A 1-D transposed convolution (torch.nn.ConvTranspose1d) of an N×C×L tensor."""
        return self.conv_transpose_nd(x, 1, out_ch, kernel, stride, padding, output_padding, dilation, groups, bias,
                                      name)

    def conv_transpose3d(self, x: str, out_ch: int, kernel: IntN, stride: IntN = 1, padding: IntN = 0,
                         output_padding: IntN = 0, dilation: IntN = 1, groups: int = 1, bias: bool = True,
                         name: str | None = None) -> str:
        """A 3-D transposed convolution (torch.nn.ConvTranspose3d) of an N×C×D×H×W tensor."""
        return self.conv_transpose_nd(x, 3, out_ch, kernel, stride, padding, output_padding, dilation, groups, bias,
                                      name)

    def deform_conv2d(self, x: str, out_ch: int, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                      dilation: IntPair = 1, groups: int = 1, offset_groups: int = 1, bias: bool = True,
                      name: str | None = None) -> str:
        """A deformable convolution (Dai et al. 2017; torchvision.ops.DeformConv2d with its offsets from a conv).

        Three ops in scope ``name``: ``offset`` (a Conv2d of ``x`` to 2·offset_groups·kh·kw channels, same kernel,
        stride, padding and dilation, with bias, as DCN's offset branch); ``sample`` (SPMM fn "bilinear_gather": for
        every output pixel, kernel tap and offset group the 4 bilinear neighbours, each a row of C/offset_groups
        channels of an NHWC pixel: gather_rows = N·Ho·Wo·kh·kw·offset_groups·4, row_elems = C/offset_groups;
        output the (N, C·kh·kw, Ho, Wo) columns, 7 flops per element: 4 multiplies, 3 adds); ``conv`` (CONV fn
        "deform_conv2d": the columns × weight (out, C/groups, kh, kw) GEMM m = N·Ho·Wo, n = out/groups,
        k = C/groups·kh·kw, count = groups [+ bias]). DeformConv2d's parameters are ``conv``'s; the offset conv
        adds 2·og·kh·kw·(C·kh·kw + 1).
        """
        name = self.block_name(name, "deform_conv")
        layer = f"{self.name}: deform_conv2d {name!r}"
        n, cin, _, _ = self._nchw(x, name, "deform_conv2d")
        kh, kw = _pair(kernel, "kernel", layer)
        offset_groups = _whole(offset_groups)  # type: ignore[assignment]
        if isinstance(offset_groups, bool) or not isinstance(offset_groups, int) or offset_groups < 1 \
                or cin % offset_groups:
            raise WorkloadError(f"{layer}: offset_groups must be a positive int dividing in_channels {cin} "
                                f"(got {offset_groups!r})")
        with self.scope(name):
            offsets = self.conv2d(x, 2 * offset_groups * kh * kw, (kh, kw), stride, padding, dilation,
                                  name="offset")
            _, _, ho, wo = self.shape(offsets)
            cols = (n, cin * kh * kw, ho, wo)
            elems = math.prod(cols)
            sampled = self._add(self._name("sample", "sample"), OpKind.SPMM, [x, offsets], cols, flops=7 * elems,
                                vector_elems=7 * elems, fn="bilinear_gather",
                                gather_rows=n * ho * wo * kh * kw * offset_groups * 4, row_elems=cin // offset_groups)
            out_ch, groups = _check_channels(layer, cin, out_ch, groups)
            gemm = Gemm(m=n * ho * wo, n=out_ch // groups, k=cin // groups * kh * kw, count=groups)
            prefix = ".".join(self._scope)
            weights = [Weight(f"{prefix}.weight", (out_ch, cin // groups, kh, kw))]
            if bias:
                weights.append(Weight(f"{prefix}.bias", (out_ch,)))
            out = (n, out_ch, ho, wo)
            return self._add(self._name("conv", "conv"), OpKind.CONV, [sampled], out, weights=weights, gemm=gemm,
                             flops=2 * gemm.macs + (math.prod(out) if bias else 0), fn="deform_conv2d",
                             kernel=(kh, kw), groups=groups, offset_groups=offset_groups, bias=bias)

    def pool_nd(self, x: str, dims: int, fn: str, kernel: IntN, stride: IntN | None = None, padding: IntN = 0,
                dilation: IntN = 1, ceil_mode: bool = False, name: str | None = None) -> str:
        """``dims``-D max or average pooling (torch.nn.MaxPool1d/3d, AvgPool1d/3d); ``stride`` defaults to the
        window. FLOPs and vector work as the 2-D pools (window − 1 per output, +1 divide for avg)."""
        name = self._name(name, f"{fn}pool")
        layer = f"{self.name}: {fn}pool{dims}d {name!r}"
        n, c, *size = self._spatial(x, dims, name, f"{fn}pool{dims}d")
        k = _ntuple(kernel, dims, "kernel", layer)
        st = _ntuple(kernel if stride is None else stride, dims, "stride", layer)
        pad, dil = _ntuple(padding, dims, "padding", layer, minimum=0), _ntuple(dilation, dims, "dilation", layer)
        if any(q > kk // 2 for q, kk in zip(pad, k, strict=True)):
            raise WorkloadError(f"{layer}: padding {padding!r} must be at most half the kernel {kernel!r}")
        out_size = tuple(pool_out_size(size[i], k[i], st[i], pad[i], dil[i], ceil_mode) for i in range(dims))
        if min(out_size) < 1:
            raise WorkloadError(f"{layer}: output size {list(out_size)} is not positive (input {size}, kernel {k})")
        out = (n, c, *out_size)
        outs, window = math.prod(out), math.prod(k)
        flops = outs * (window - 1 + (1 if fn == "avg" else 0))
        return self._add(name, OpKind.POOL, [x], out, flops=flops, vector_elems=outs * window, fn=fn, kernel=k,
                         stride=st, padding=pad, dilation=dil, ceil_mode=ceil_mode)

    def maxpool1d(self, x: str, kernel: IntN, stride: IntN | None = None, padding: IntN = 0, dilation: IntN = 1,
                  ceil_mode: bool = False, name: str | None = None) -> str:
        """Max pooling over an N×C×L tensor (torch.nn.MaxPool1d)."""
        return self.pool_nd(x, 1, "max", kernel, stride, padding, dilation, ceil_mode, name)

    def maxpool3d(self, x: str, kernel: IntN, stride: IntN | None = None, padding: IntN = 0, dilation: IntN = 1,
                  ceil_mode: bool = False, name: str | None = None) -> str:
        """Max pooling over an N×C×D×H×W tensor (torch.nn.MaxPool3d)."""
        return self.pool_nd(x, 3, "max", kernel, stride, padding, dilation, ceil_mode, name)

    def avgpool3d(self, x: str, kernel: IntN, stride: IntN | None = None, padding: IntN = 0,
                  ceil_mode: bool = False, name: str | None = None) -> str:
        """Average pooling over an N×C×D×H×W tensor (torch.nn.AvgPool3d)."""
        return self.pool_nd(x, 3, "avg", kernel, stride, padding, 1, ceil_mode, name)

    def adaptive_pool(self, x: str, fn: str = "avg", output_size: int | Sequence[int] = 1,
                      name: str | None = None) -> str:
        """Adaptive max or average pooling of an N×C×… tensor to ``output_size`` per spatial dim
        (torch.nn.AdaptiveAvgPool1d/3d, AdaptiveMaxPool1d; PointNet's max over points): one compare or add per
        input element."""
        name = self._name(name, f"{fn}pool")
        shape = self.shape(x)
        if len(shape) < 3:
            raise WorkloadError(f"{self.name}: adaptive {fn} pool {name!r} needs an N×C×… input; {x!r} is "
                                f"{list(shape)}")
        size = _ntuple(output_size, len(shape) - 2, "output_size", f"{self.name}: adaptive pool {name!r}")
        elems = math.prod(shape)
        return self._add(name, OpKind.POOL, [x], (*shape[:2], *size), flops=elems, vector_elems=elems, fn=fn,
                         adaptive=True, output_size=size)

    def center_crop_nd(self, x: str, size: Sequence[int], name: str | None = None) -> str:
        """The central window of ``size`` over the spatial dims of an N×C×… tensor: a strided view (RESHAPE, fn
        "crop"), as :meth:`center_crop` for any number of dims."""
        name = self._name(name, "crop")
        shape = self.shape(x)
        if len(size) != len(shape) - 2 or not all(1 <= s <= h for s, h in zip(size, shape[2:], strict=True)):
            raise WorkloadError(f"{self.name}: center_crop {name!r}: {list(size)} does not fit in {list(shape[2:])}")
        offset = tuple((h - s) // 2 for s, h in zip(size, shape[2:], strict=True))
        return self._add(name, OpKind.RESHAPE, [x], (*shape[:2], *size), fn="crop", offset=offset)

    # ---- normalisation and activations ------------------------------------------------------------------
    def batchnorm(self, x: str, eps: float = 1e-5, name: str | None = None, what: str = "batchnorm",
                  ranks: tuple[int, ...] = ()) -> str:
        """Batch normalisation over channel dim 1 (affine): 2·C parameters, any input of a channel dimension (ONNX's
        BatchNormalization), or of one of ``ranks`` (torch's BatchNorm1d/2d/3d refuse the others)."""
        name = self._name(name, "bn")
        shape = self.shape(x)
        if len(shape) < 2 or ranks and len(shape) not in ranks:
            need = " or ".join(f"{r}-D" for r in ranks) if ranks else "a channel dimension"
            raise WorkloadError(f"{self.name}: {what} {name!r} needs a {need} input; {x!r} is {list(shape)}")
        c, elems = shape[1], math.prod(shape)
        attrs: dict[str, object] = {"fn": "batchnorm", "eps": eps}
        if self._kinds.get(x) in (OpKind.CONV, OpKind.CONV_TRANSPOSE) or x in self._bias_adds:
            attrs["follows"] = x  # (or a conv's eager bias add, :meth:`_eager_bias`: mapping.aliases sees through it)
        weights = [Weight(f"{name}.weight", (c,)), Weight(f"{name}.bias", (c,))]
        return self._add(name, OpKind.NORM, [x], shape, weights=weights, flops=2 * elems, vector_elems=elems, **attrs)

    def batchnorm2d(self, x: str, eps: float = 1e-5, name: str | None = None) -> str:
        """torch.nn.BatchNorm2d over channel dim 1 of N×C×H×W (affine): 2·C parameters."""
        return self.batchnorm(x, eps, name, "batchnorm2d", (4,))

    def batchnorm1d(self, x: str, eps: float = 1e-5, name: str | None = None) -> str:
        """torch.nn.BatchNorm1d over channel dim 1 of N×C or N×C×L: as :meth:`batchnorm2d`."""
        return self.batchnorm(x, eps, name, "batchnorm1d", (2, 3))

    def batchnorm3d(self, x: str, eps: float = 1e-5, name: str | None = None) -> str:
        """torch.nn.BatchNorm3d over channel dim 1 of N×C×D×H×W: as :meth:`batchnorm2d`."""
        return self.batchnorm(x, eps, name, "batchnorm3d", (5,))

    def _unary(self, x: str, fn: str, flops_per_elem: int, name: str | None) -> str:
        name = self._name(name, fn)
        shape = self.shape(x)
        elems = math.prod(shape)
        return self._add(name, OpKind.ACTIVATION, [x], shape, flops=flops_per_elem * elems, vector_elems=elems, fn=fn)

    def relu(self, x: str, name: str | None = None) -> str:
        """max(x, 0): 1 FLOP per element."""
        return self._unary(x, "relu", 1, name)

    def relu6(self, x: str, name: str | None = None) -> str:
        """min(max(x, 0), 6): 1 FLOP per element (a clamp)."""
        return self._unary(x, "relu6", 1, name)

    def hardsigmoid(self, x: str, name: str | None = None) -> str:
        """relu6(x + 3) / 6: 2 FLOPs per element."""
        return self._unary(x, "hardsigmoid", 2, name)

    def hardswish(self, x: str, name: str | None = None) -> str:
        """x · relu6(x + 3) / 6: 3 FLOPs per element."""
        return self._unary(x, "hardswish", 3, name)

    def sigmoid(self, x: str, name: str | None = None) -> str:
        """1 / (1 + exp(−x)): 4 FLOPs per element."""
        return self._unary(x, "sigmoid", 4, name)

    def quantize(self, x: str, dtype: str, name: str | None = None) -> str:
        """``x`` (in the builder's dtype) converted to ``dtype`` with one scale (vLLM's ``scaled_fp8_quant`` before
        an fp8 GEMM): a kernel of its own, 1 FLOP per element (the scale's multiply; the conversion rides on it),
        reading the builder's dtype and writing ``dtype`` (the op's ``out_dtype``; fp4 as ``scaled_fp4_quant`` writes
        it, two values a byte and an E4M3 scale per 16: ``Op.out_bytes``, :func:`accelsim.units.tensor_bytes`)."""
        name = self._name(name, "quantize")
        shape = self.shape(x)
        elems = math.prod(shape)
        return self._add(name, OpKind.ACTIVATION, [x], shape, flops=elems, vector_elems=elems, fn="quantize",
                         out_dtype=dtype)

    def dropout(self, x: str, p: float = 0.5, name: str | None = None, **attrs: object) -> str:
        """Dropout: the identity at inference or with ``p`` = 0 (no op is appended and ``x`` is returned). In a
        training graph (``training``) it is PyTorch's training dropout (``native_dropout``), as two ops:
        ``{name}.mask``, ELEMENTWISE fn "dropout_mask" with no inputs, the Bernoulli keep-mask of x's shape written
        one byte per element (``out_dtype`` "uint8": torch's bool mask); then ``{name}``, ELEMENTWISE fn "dropout"
        reading x and the mask, x · mask / (1 − p), 2 flops per element, attrs ``p``. The backward reads the mask,
        not x (dX = dY · mask / (1 − p): training.py's rule for any element-wise fn), so a training step keeps one
        byte per element (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
        Models", Sec. 4.1). PyTorch draws the mask and applies it in one kernel; here the mask is written, then
        read back by the second op (one byte per element more, one kernel dispatch more). ``attrs`` go on both
        ops."""
        if not self.training or p <= 0:
            return x
        if not p < 1:
            raise WorkloadError(f"{self.name}: dropout {name or 'dropout'!r}: p must be in [0, 1) (got {p})")
        name = self._name(name, "dropout")
        shape = self.shape(x)
        elems = math.prod(shape)
        mask = self._add(f"{name}.mask", OpKind.ELEMENTWISE, [], shape, vector_elems=elems, fn="dropout_mask",
                         out_dtype="uint8", p=p, **attrs)
        return self._add(name, OpKind.ELEMENTWISE, [x, mask], shape, flops=2 * elems, vector_elems=elems,
                         fn="dropout", p=p, **attrs)

    # ---- pooling ----------------------------------------------------------------------------------------
    def _pool(self, x: str, fn: str, kernel: IntPair, stride: IntPair | None, padding: IntPair, dilation: IntPair,
              ceil_mode: bool, name: str | None) -> str:
        name = self._name(name, f"{fn}pool")
        layer = f"{self.name}: {fn}pool2d {name!r}"
        n, c, h, w = self._nchw(x, name, f"{fn}pool2d")
        kh, kw = _pair(kernel, "kernel", layer)
        sh, sw = _pair(kernel if stride is None else stride, "stride", layer)
        ph, pw = _pair(padding, "padding", layer, minimum=0)
        dh, dw = _pair(dilation, "dilation", layer)
        if ph > kh // 2 or pw > kw // 2:
            raise WorkloadError(f"{layer}: padding {padding!r} must be at most half the kernel {kernel!r}")
        ho = pool_out_size(h, kh, sh, ph, dh, ceil_mode)
        wo = pool_out_size(w, kw, sw, pw, dw, ceil_mode)
        if ho < 1 or wo < 1:
            raise WorkloadError(f"{layer}: output size {ho}×{wo} is not positive (input {h}×{w}, kernel {kh}×{kw})")
        out = (n, c, ho, wo)
        outs, window = math.prod(out), kh * kw
        flops = outs * (window - 1 + (1 if fn == "avg" else 0))
        return self._add(name, OpKind.POOL, [x], out, flops=flops, vector_elems=outs * window, fn=fn,
                         kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), ceil_mode=ceil_mode)

    def maxpool2d(self, x: str, kernel: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                  dilation: IntPair = 1, ceil_mode: bool = False, name: str | None = None) -> str:
        """Max pooling (torch.nn.MaxPool2d); ``stride`` defaults to ``kernel``."""
        return self._pool(x, "max", kernel, stride, padding, dilation, ceil_mode, name)

    def avgpool2d(self, x: str, kernel: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                  ceil_mode: bool = False, name: str | None = None) -> str:
        """Average pooling (torch.nn.AvgPool2d); ``stride`` defaults to ``kernel``."""
        return self._pool(x, "avg", kernel, stride, padding, 1, ceil_mode, name)

    def adaptive_avgpool2d(self, x: str, output_size: IntPair = 1, name: str | None = None) -> str:
        """Adaptive average pooling to ``output_size`` (torch.nn.AdaptiveAvgPool2d): one add per input element."""
        name = self._name(name, "avgpool")
        n, c, _, _ = self._nchw(x, name, "adaptive_avgpool2d")
        oh, ow = _pair(output_size, "output_size", f"{self.name}: adaptive_avgpool2d {name!r}")
        elems = math.prod(self.shape(x))
        return self._add(name, OpKind.POOL, [x], (n, c, oh, ow), flops=elems, vector_elems=elems, fn="avg",
                         adaptive=True, output_size=(oh, ow))

    # ---- binary and data movement -----------------------------------------------------------------------
    def _binary(self, a: str, b: str, fn: str, name: str | None) -> str:
        name = self._name(name, fn)
        sa, sb = self.shape(a), self.shape(b)
        out = broadcast_shapes(sa, sb)
        if out is None:
            raise WorkloadError(f"{self.name}: {fn} {name!r} cannot broadcast {list(sa)} with {list(sb)}")
        elems = math.prod(out)
        return self._add(name, OpKind.ELEMENTWISE, [a, b], out, flops=elems, vector_elems=elems, fn=fn)

    def add(self, a: str, b: str, name: str | None = None) -> str:
        """Element-wise a + b with numpy/torch broadcasting (a residual add)."""
        return self._binary(a, b, "add", name)

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        """Element-wise a · b with broadcasting (e.g. an N×C×1×1 squeeze-excite scale times N×C×H×W)."""
        return self._binary(a, b, "mul", name)

    def concat(self, xs: Sequence[str], dim: int = 1, name: str | None = None, eager_copy: bool = False) -> str:
        """Concatenation along ``dim`` (torch.cat); a view when the producers write into place. ``eager_copy``: the
        reference code's torch.cat, a copy kernel of its own in eager PyTorch (attr ``eager_copy``: a copy on a GPU
        preset, a view elsewhere; mapping.aliases)."""
        name = self._name(name, "concat")
        if not xs:
            raise WorkloadError(f"{self.name}: concat {name!r} needs at least one input")
        shapes = [self.shape(x) for x in xs]
        rank = len(shapes[0])
        axis = dim + rank if dim < 0 else dim
        if not 0 <= axis < rank:
            raise WorkloadError(f"{self.name}: concat {name!r}: dim {dim} is out of range for rank {rank}")
        for x, s in zip(xs, shapes, strict=True):
            if len(s) != rank or any(s[i] != shapes[0][i] for i in range(rank) if i != axis):
                raise WorkloadError(f"{self.name}: concat {name!r}: {x!r} has shape {list(s)}, which does not match "
                                    f"{list(shapes[0])} outside dim {dim}")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        if eager_copy:
            return self._add(name, OpKind.CONCAT, list(xs), tuple(out), fn="concat", dim=axis, eager_copy=True)
        return self._add(name, OpKind.CONCAT, list(xs), tuple(out), fn="concat", dim=axis)

    def flatten(self, x: str, start_dim: int = 1, end_dim: int = -1, name: str | None = None) -> str:
        """Merge dims ``start_dim..end_dim`` into one (torch.flatten): a view."""
        name = self._name(name, "flatten")
        shape = self.shape(x)
        rank = len(shape)
        lo = start_dim + rank if start_dim < 0 else start_dim
        hi = end_dim + rank if end_dim < 0 else end_dim
        if not 0 <= lo <= hi < rank:
            raise WorkloadError(f"{self.name}: flatten {name!r}: dims {start_dim}..{end_dim} do not fit rank {rank}")
        out = (*shape[:lo], math.prod(shape[lo:hi + 1]), *shape[hi + 1:])
        return self._add(name, OpKind.RESHAPE, [x], out, fn="flatten")

    def center_crop(self, x: str, height: int, width: int, name: str | None = None) -> str:
        """The central ``height``×``width`` window of an N×C×H×W tensor: a strided view (RESHAPE, fn "crop")."""
        name = self._name(name, "crop")
        n, c, h, w = self._nchw(x, name, "center_crop")
        if not (1 <= height <= h and 1 <= width <= w):
            raise WorkloadError(f"{self.name}: center_crop {name!r}: {height}×{width} does not fit in {h}×{w}")
        top, left = (h - height) // 2, (w - width) // 2
        return self._add(name, OpKind.RESHAPE, [x], (n, c, height, width), fn="crop", offset=(top, left))

    # ---- group normalisation and upsampling (Stable Diffusion's UNet and VAE) --------------------------------------
    def groupnorm(self, x: str, groups: int, eps: float = 1e-5, name: str | None = None) -> str:
        """Group normalisation of an N×C×… tensor (torch.nn.GroupNorm, affine): each sample's channels split into
        ``groups`` groups of C/groups channels, each group's C/groups·(spatial) elements normalised together, then a
        per-channel scale and shift. NORM fn "groupnorm", weight + bias (2·C parameters), 5 flops per element
        (mean, variance, normalise, scale, shift: a LayerNorm's); vector_elems = elements; attrs ``groups``, ``eps``
        and ``group_elems`` (elements each mean and variance reduce over)."""
        name = self._name(name, "groupnorm")
        shape = self.shape(x)
        if len(shape) < 2:
            raise WorkloadError(f"{self.name}: groupnorm {name!r} needs an N×C×… input; {x!r} is {list(shape)}")
        groups = _whole(groups)  # type: ignore[assignment]
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or shape[1] % groups:
            raise WorkloadError(f"{self.name}: groupnorm {name!r}: groups must be a positive int dividing the "
                                f"{shape[1]} channels (got {groups!r})")
        c, elems = shape[1], math.prod(shape)
        weights = [Weight(f"{name}.weight", (c,)), Weight(f"{name}.bias", (c,))]
        return self._add(name, OpKind.NORM, [x], shape, weights=weights, flops=5 * elems, vector_elems=elems,
                         fn="groupnorm", groups=groups, eps=eps, group_elems=elems // (shape[0] * groups))

    def upsample_nearest(self, x: str, scale: int = 2, name: str | None = None,
                         size: Sequence[int] | None = None) -> str:
        """Nearest-neighbour upsampling of the spatial dims of an N×C×… tensor by an integer ``scale``
        (``F.interpolate(mode="nearest", scale_factor=scale)``, diffusers' Upsample2D), or to the spatial ``size``
        (``F.interpolate(size=...)``: diffusers' Upsample2D given an ``output_size``): every output element a copy
        of one input element. A copy, not a view (the output is materialised): ELEMENTWISE fn "upsample_nearest",
        0 flops, vector_elems = output elements (each written once); it reads the input and writes the output."""
        name = self._name(name, "upsample")
        shape = self.shape(x)
        if len(shape) < 3:
            raise WorkloadError(f"{self.name}: upsample_nearest {name!r} needs an N×C×… input; {x!r} is "
                                f"{list(shape)}")
        scale = _whole(scale)  # type: ignore[assignment]
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise WorkloadError(f"{self.name}: upsample_nearest {name!r}: scale must be a positive int "
                                f"(got {scale!r})")
        if size is not None:
            if len(size) != len(shape) - 2 or any(d < 1 for d in size):
                raise WorkloadError(f"{self.name}: upsample_nearest {name!r}: size {list(size)} does not give each "
                                    f"of the {len(shape) - 2} spatial dims of {list(shape)} a positive size")
            out = (*shape[:2], *size)
            return self._add(name, OpKind.ELEMENTWISE, [x], out, vector_elems=math.prod(out),
                             fn="upsample_nearest", size=tuple(size))
        out = (*shape[:2], *(d * scale for d in shape[2:]))
        return self._add(name, OpKind.ELEMENTWISE, [x], out, vector_elems=math.prod(out), fn="upsample_nearest",
                         scale=scale)
