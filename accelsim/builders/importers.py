"""Import a model from ONNX (optional extra ``accelsim[onnx]``): each node becomes the GraphBuilder layer it is.

:func:`from_onnx` loads the file (``onnx`` is imported inside the function) without its external data: only the
weights' dims are read, and each external data file is checked by its size (a model over 2 GB imports in the time
of a small one); it runs ONNX shape inference and appends one op per node with the builders' counting conventions
(docs/architecture.md), so an imported ResNet has the params, MACs and ops of the built-in one. Graph inputs that
are not initializers become graph inputs; their symbolic dims are made concrete before shape inference: a name
given in ``dims`` takes that size, a symbolic (or unknown) batch axis takes ``batch`` (and so does that name
wherever else it appears), and any other symbolic dim is a one-line error asking for ``dims`` (at ``workload.dims``).
The batch axis is axis 0, or axis 1 of an input that is X, initial_h or initial_c of an LSTM / GRU / RNN with layout
0 (the spec's (seq, batch, features) and (num_directions, batch, hidden)), or the one axis named batch or batch_size
(:data:`~.onnxload.BATCH_NAMES`) of an input whose axis 0 is not so named (a sequence-first input) and that is not
the X of a Conv, pool or norm (whose spec makes axis 0 the batch). N is no batch name past axis 0 (a point, node or
token count: ``[1, 3, N]``, ``[B, N, 64]``), so it needs ``dims`` there (probe p95 #2). The graph's ``batch`` is the
size its batch axes took where they are known (:func:`~.onnxload._known_batch_inputs`): a symbolic axis 0 that
``dims`` sizes in a model naming no dim batch or batch_size, nor N at axis 0 (``[seq, 4, 64]``,
``dims={"seq": 10}``), is no batch (with no other input's batch axis known, the graph has batch 1 and a note says
so).
A model whose every input has a fixed batch axis keeps its exported batch (a reshape may have it baked in): a
``batch`` other than 1 or that size is a one-line error, never silently ignored. Initializers are parameters, named as in the file and shaped as in the file (a 0-d
scalar counts its one element), each counted once however many nodes read it, also through an Identity (as
torch.onnx exports a tied weight) or from a subgraph (an If's branch: a parameter of that unmapped node); one no
node reads (an Identity of it no node reads, a graph output) rides on an ``unused_params`` view (counted, not
read), as the builders hold weights a pass does not read. Tensors typed int64, bool or string and empty ones are
no parameters, for a mapped op as for an unmapped one (:meth:`_Importer._param`). External tensors of at most
:data:`_KEEP_VALUES` elements (a Reshape's shape) are read from their file: shape inference needs their values.
The ops the importer adds beside a node's own (``<node>_bias``, ``<node>.Y``, ``<node>.1``, ...) yield to the
nodes' names (:meth:`_Importer._extra_name`). Mapped ops:

* Conv (1-D, 2-D, 3-D, grouped; symmetric pads or auto_pad SAME_UPPER/SAME_LOWER/VALID, SAME giving
  ceil(in / stride) per the ONNX spec), ConvTranspose (2-D, 3-D; pads, output_shape and auto_pad SAME_* per the spec's
  total-padding rule, :meth:`_Importer._conv_transpose`); a weight or bias that is an activation (a graph input,
  a DequantizeLinear of an activation) is one more input the conv reads, not a parameter,
  QuantizeLinear / DequantizeLinear and QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger (onnxquant.py: int8
  compute, integer initializers at their file width),
  Gemm (transB; bias C as stored, broadcast), MatMul (numpy's rules, 1-D operands included: × a 2-D initializer a
  linear layer; × an activation or another initializer a batched matmul, the initializer its parameters; of two
  initializers, a factorised weight, the left one read by an op of its own and multiplied as an activation, both
  parameters),
  BatchNormalization (2·C parameters, as torch: the running statistics are buffers), LayerNormalization (last
  axis; scale and the optional bias), RMSNormalization (opset 23: the builders' rmsnorm over the axes from
  ``axis`` on, 4 flops per element, its scale a parameter), Attention (opset 23: softmax(scale · Q·Kᵀ
  [+ attn_mask]) · V as the builders' unfused attention, GQA / MQA when fewer kv heads; a KV cache,
  ``nonpad_kv_seqlen`` and the qk_matmul_output are not mapped: onnxmatmul.py),
  MaxPool / AveragePool (2-D, 3-D; auto_pad as Conv), GlobalAveragePool / GlobalMaxPool, Relu, Sigmoid, Tanh, Gelu (the
  opset-20 op, erf or tanh; a Gelu spelled out with Erf or Tanh is priced node by node, below), Softmax (over
  its axis, 5 flops per element; before opset 13, whose default axis is 1, over the input flattened to 2-D at its
  axis: a view, the softmax, a view back), Add / Mul (of two activations, or an activation and an
  initializer: its parameters, except one of one element, a constant such as eps: :meth:`_Importer._one_element`;
  this op and the other broadcasting ones below take numpy's broadcast of their operands, whatever the file
  declares for the output: ``ElementwiseOps._broadcast``),
  Concat (an initializer beside activations read by an op of its own, a parameter as a class token:
  :meth:`_Importer._written`), Flatten / Reshape / Transpose / Squeeze / Unsqueeze (views),
  Identity / Dropout (aliases), LSTM / GRU / RNN (one layer, forward or bidirectional, as builders/rnn.py
  lowers torch's: Y a view of the layer's output, Y_h / Y_c views of the last step's state; initial states
  read by the first step, each direction its slice, :meth:`_Importer._recurrent`; hidden_size, optional in ONNX,
  from R's shape),
  the op types a default torch.onnx export adds, each the builders' op with their FLOPs per element: Clip (0 and
  6 the relu6 torch's ReLU6 exports as, 0 alone relu, other bounds a 1-flop clamp), HardSwish (3), HardSigmoid
  (2), LeakyRelu (2), Elu (3), Softplus (2), Erf / Exp / Sqrt (1: a transcendental as the softmax's exp), Neg /
  Reciprocal (1), Sub / Div / Max / Min (1 per operand after the first), Pow (x² 1, a constant integer n ≥ 3 its
  square-and-multiply count of multiplies, x³ 2, else exp(y·log x) 3; its exponent no parameter), Where (a
  select, 1 per output element), Expand (a copy of the output, 0 flops), ConstantOfShape (a constant, no op and no
  parameter), Einsum of one or two operands (:func:`einsum_terms`: a contraction a MATMUL of MACs the product of
  every index extent, an outer product 1 flop per output element, a permutation a view, a reduction a sum; any
  other equation is unmapped), GatherND / GatherElements (as Gather: of an activation a selecting view, of a table a
  copy reading it), Abs / Floor / Ceil / Round / Sign (1), Log / Sin / Cos (1, a transcendental), Softsign (3), Selu
  (4), Mish (4), PRelu (2, its slope initializer a parameter), the comparisons and logical ops Equal / Less /
  Greater / LessOrEqual / GreaterOrEqual / And / Or / Xor / Not / IsNaN / IsInf (1, the output a bool of 1 byte per
  element), Sum (1 per operand after the first), Mean (one more, the divide), Mod (3), LogSoftmax (as Softmax),
  GroupNormalization (as InstanceNormalization), ReduceL1 / ReduceL2 / ReduceSumSquare / ReduceLogSumExp /
  ReduceLogSum / ReduceProd and ArgMax / ArgMin (POOL, their FLOPs per input and output element), TopK (a compare per
  input element writing the k values, its indices a copy beside them), CumSum (an add per element), Tile /
  DepthToSpace / SpaceToDepth / Trilu (copies of the output, 0 flops; of a constant, a constant: a causal mask
  folds), ScatterND / ScatterElements (the data copied, 0 flops or an add per update with a reduction), OneHot (a
  compare per output element), Range (of constants a constant, else a generated sequence of output bytes only),
  ReduceMean / ReduceSum / ReduceMax / ReduceMin (POOL: 1 per input element, the mean + 1 per output element),
  InstanceNormalization (groupnorm, a group per channel), Gather (of an initializer on axis 0 an embedding reading
  only the gathered rows; on another axis the same look-up of the contiguous runs after it, reading only the picked
  runs, each outer row's, not the whole table; of an activation a selecting view), Slice / Split (selecting views), Pad / Cast (copies,
  0 flops; a Cast writes its ``to`` type's width unless that is the model's own float type) and Resize / Upsample (nearest a copy; linear / cubic n^d multiplies and n^d − 1 adds per output
  element), and Shape (a constant: with the shape computations on it, Gather / Unsqueeze / Concat / Cast of
  constants, no op).

An attribute of the wrong type or length, a required one missing, a name that is not UTF-8, no ai.onnx opset and a
model shape inference rejects are one-line errors.

Any other op is a one-line :class:`~accelsim.errors.WorkloadError` naming the node and its op type, never a
silently different graph. The ``onnx`` workload (``--workload onnx --set workload.path=model.onnx``) builds it.

The importer is split by responsibility: onnxload.py reads the model (external data, names, concrete inputs),
onnxcore.py holds :class:`~.onnxcore.ImporterCore` (the walk over the nodes, parameters, constants, views and
unmapped nodes), and each op family's handlers are a class beside it: onnxconv.py (convolutions, pools),
onnxmatmul.py (Gemm, MatMul, Einsum, recurrent layers), onnxelementwise.py, onnxnorm.py (norms, softmax,
reductions) and onnxshape.py (gathers, slices, fills, resizes); :class:`_Importer` is their union.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, ValidationError

from ..errors import WorkloadError
from ..ir import Graph
from .onnxconv import ConvOps
from .onnxcore import rename_weights, set_weights
from .onnxelementwise import ElementwiseOps
from .onnxload import (
    BATCH_NAMES,
    _batch_axes,
    _check_external_data,
    _check_text,
    _concrete_inputs,
    _input_shapes,
    _known_batch_inputs,
    _read_small_external_data,
    assume_elementwise_shapes,
    fold_integer_constants,
)
from .onnxmatmul import MatmulOps, einsum_terms, matmul_gemm
from .onnxnorm import NormOps
from .onnxquant import QuantOps
from .onnxshape import ShapeOps
from .params import WorkloadParams


class OnnxParams(WorkloadParams):
    """A model read from an ONNX file."""

    path: str = Field(description="Path of the .onnx file (needs the optional extra: pip install accelsim[onnx]). "
                                  "On the command line, --workload path/to/model.onnx is the same.")
    unsupported: Literal["error", "elementwise"] = Field(
        "error", description="Nodes of op types accelsim does not map: 'error' refuses the model, listing every "
                             "such op type; 'elementwise' prices each as generic element-wise work over its "
                             "output (1 flop per output element) and lists them in the report's notes.")
    dims: dict[str, PositiveInt] = Field(
        default_factory=dict, description="Sizes of the graph inputs' symbolic dims by name (e.g. --set "
                                          "workload.dims.seq=128). A symbolic batch axis (axis 0; axis 1 of a "
                                          "layout-0 LSTM/GRU/RNN's X, initial_h or initial_c; the axis named "
                                          "batch or batch_size where axis 0 is not so named, except a Conv's "
                                          "or pool's X) not named here takes batch; any other symbolic dim, "
                                          "N past axis 0 too (a point, node or token count), must be named "
                                          "here (else an error at workload.dims). An axis 0 sized here is no "
                                          "batch where no input names a dim batch or batch_size, nor N at "
                                          "axis 0: the model's batch is then 1.")

    def run_name(self) -> str:
        """The .onnx file's stem, as ``--workload path/model.onnx`` names a run (the graph's own name, often
        torch.onnx.export's ``main_graph``, would name every exported model alike)."""
        return Path(self.path).stem


def onnx_workload(p: OnnxParams) -> Graph:
    """The ``onnx`` workload: :func:`from_onnx` of ``p.path``."""
    return from_onnx(p.path, batch=p.batch, dtype=p.dtype or "fp16", unsupported=p.unsupported, dims=p.dims)


def from_onnx(model: str | os.PathLike | object, *, batch: int = 1, dtype: str = "fp16",
              name: str | None = None, unsupported: str = "error", dims: dict[str, int] | None = None) -> Graph:
    """The op graph of an ONNX model (a path or a loaded ``onnx.ModelProto``); see the module docstring.
    ``unsupported`` is "error" or "elementwise" (:class:`OnnxParams`); ``dims`` sizes symbolic input dims by name.
    The arguments are checked by :class:`OnnxParams`' rules, as the ``onnx`` workload's are (``batch`` and each
    ``dims`` size a positive int, ``dtype`` a known dtype; None: fp16): a bad one is a one-line WorkloadError.
    The graph keeps ``dtype`` on whatever arch it runs (``accelsim.simulate`` notes one other than the arch's);
    the ``onnx`` workload (``simulate("model.onnx", arch)``) builds in the arch's dtype."""
    p = _checked(batch=batch, dtype=dtype if dtype is not None else "fp16", unsupported=unsupported,
                 dims={} if dims is None else dims)
    batch, dtype, unsupported, dims = p.batch, p.dtype, p.unsupported, p.dims  # type: ignore[assignment]
    if name is not None and (not isinstance(name, str) or not name):
        raise WorkloadError(f"name: expected a non-empty string (got {name!r})")
    try:
        import onnx
    except ImportError:
        raise WorkloadError("importing ONNX needs the optional extra: pip install 'accelsim[onnx]'") from None
    if not isinstance(model, (str, os.PathLike, onnx.ModelProto)):
        raise WorkloadError(f"expected the path of an .onnx file or an onnx.ModelProto (got {type(model).__name__} "
                            f"{model!r:.60})")
    where = str(model) if isinstance(model, (str, os.PathLike)) else "onnx model"
    if isinstance(model, (str, os.PathLike)):
        if not Path(model).is_file():
            raise WorkloadError(f"{where}: no such ONNX file")
        try:  # the weights' bytes stay on disk: only their dims are read (a model over 2 GB has them outside)
            model = onnx.load(os.fspath(model), load_external_data=False)
        except Exception as e:  # a broken protobuf: onnx raises DecodeError and others
            raise WorkloadError(f"{where}: not a readable ONNX model ({type(e).__name__}: {e})") from None
        if model.graph.node or model.graph.input:
            _check_external_data(model, Path(where).parent, where)
            _read_small_external_data(model, Path(where).parent)
    if not model.graph.node and not model.graph.input:  # an empty file parses as an empty model
        raise WorkloadError(f"{where}: not a readable ONNX model (no graph: an empty or foreign file)")
    _check_text(model.graph, where)
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        raise WorkloadError(f"{where}: the model imports no ai.onnx opset (its opset_import lists "
                            f"{[o.domain for o in model.opset_import]}), so its ops have no defined version")
    axes = _batch_axes(model.graph)
    known = _known_batch_inputs(model.graph, axes, dict(dims or {}))
    by_dims = sorted({d.dim_param for v in model.graph.input for d in v.type.tensor_type.shape.dim[:1]} & set(dims or {}))
    model, took_batch = _concrete_inputs(model, batch, dict(dims or {}), where, axes)
    firsts = {shape[axes.get(n, 0)] for n, shape in _input_shapes(model).items() if len(shape) > axes.get(n, 0)}
    sized = {shape[axes.get(n, 0)] for n, shape in _input_shapes(model).items() if n in known and shape}
    if not took_batch and batch != 1 and firsts != {batch}:
        shapes = ", ".join(f"{n!r} {list(s)}" for n, s in _input_shapes(model).items())
        raise WorkloadError(f"{where}: batch {batch}: the model's batch is fixed (every graph input's batch axis is "
                            f"a fixed size or one workload.dims sets: {shapes}); export it with a symbolic batch axis "
                            f"(torch.onnx.export's dynamic_axes) and leave that name out of dims, or leave batch at 1",
                            key=("batch",))
    notes: list[str] = []
    if took_batch or (batch != 1 and firsts == {batch}):
        model_batch: int | None = batch  # a symbolic batch axis took it, or the fixed one is the batch asked for
    elif known:
        model_batch = sized.pop() if len(sized) == 1 else None  # batch axes the op spec or a batch name makes known
    else:  # no axis is known to be the batch: one run of the graph is one inference, never axis 0 guessed
        model_batch = 1
        if firsts - {1}:
            shapes = ", ".join(f"{n!r} {list(s)}" for n, s in _input_shapes(model).items())
            sized_by = (f"; workload.dims sizes axis 0 ({', '.join(repr(n) for n in by_dims)}), a batch axis only "
                        f"in a model that names a dim {'/'.join(BATCH_NAMES)} (or N at axis 0)" if by_dims else "")
            notes.append(f"ONNX: no graph input has a symbolic batch axis ({shapes}{sized_by}), so the batch is 1: "
                         f"one run of the graph is one inference (efficiency.j_per_inference is per run); export the "
                         f"model with a symbolic batch axis (torch.onnx.export's dynamic_axes) for a batch")
    model, inferred = _shape_inferred(model, where, unsupported)
    notes += inferred
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    importer = _Importer(model.graph, where, batch, dtype, name or model.graph.name or "onnx", opset)
    return importer.run(unsupported, batch=model_batch, notes=notes)


def _shape_inferred(model, where: str, unsupported: str) -> tuple[object, list[str]]:
    """``model`` (an ``onnx.ModelProto`` read from ``where``) after ONNX shape inference, with data propagation
    (Shape → Reshape/Expand sized too) after integer constants are folded (:func:`.onnxload.fold_integer_constants`:
    a Mod of constants, which data propagation does not follow, feeding a Slice's ends), and its note. Under ``unsupported: elementwise`` each output of an op
    without an ONNX schema that inference cannot type takes its first activation input's shape
    (:func:`.onnxload.assume_elementwise_shapes`), and the note names those nodes; otherwise there is none. A model
    inference finds inconsistent is a one-line WorkloadError."""
    import onnx

    def infer(model):
        try:
            return onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception as e:  # onnx's InferenceError on a model it finds inconsistent
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise WorkloadError(f"{where}: ONNX shape inference failed ({type(e).__name__}: {first})") from None

    fold_integer_constants(model)
    model = infer(model)
    if unsupported != "elementwise":
        return model, []
    model, assumed = assume_elementwise_shapes(model, infer)
    if not assumed:
        return model, []
    return model, [f"ONNX: shape inference gave no shape to the outputs of {len(assumed)} node(s) of an op "
                   f"without an ONNX schema ({', '.join(assumed[:3])}{', ...' if len(assumed) > 3 else ''}); "
                   f"each output was taken as its first activation input's shape and type (element-wise, as "
                   f"workload.unsupported=elementwise prices it), and the nodes after it were sized from that"]


def _checked(**args: object) -> OnnxParams:
    """``args`` validated as the ``onnx`` workload's parameters (a placeholder path): one WorkloadError line per
    problem, ``key: what (got value)``, joined by "; "."""
    dims = args.get("dims")
    sizes = [("batch", args.get("batch")), *((f"dims.{k}", v) for k, v in (dims.items() if isinstance(dims, dict) else ()))]
    # a boolean is no size, though pydantic's lax int reads True as 1 (probe p91 #7); the config schema says the same
    problems = [f"{key}: expected a number, not a boolean (got {v!r})" for key, v in sizes if isinstance(v, bool)]
    try:
        params = OnnxParams.model_validate({"path": "<model>", **args})
    except ValidationError as e:
        problems += [f"{'.'.join(str(k) for k in err['loc'])}: {err['msg']} (got {err['input']!r})"
                     for err in e.errors()]
    if problems:
        raise WorkloadError("; ".join(problems)) from None
    return params


class _Importer(ConvOps, MatmulOps, ElementwiseOps, NormOps, QuantOps, ShapeOps):
    """Walks the nodes of one ONNX graph in order, appending builder layers: :class:`~.onnxcore.ImporterCore` with
    every op family's handlers."""


__all__ = ["OnnxParams", "einsum_terms", "from_onnx", "matmul_gemm", "onnx_workload", "rename_weights",
           "set_weights"]
