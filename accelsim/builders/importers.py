"""Import a model from ONNX (optional extra ``accelsim[onnx]``): each node becomes the GraphBuilder layer it is.

:func:`from_onnx` loads the file (``onnx`` is imported inside the function) without its external data: only the
weights' dims are read, and each external data file is checked by its size (a model over 2 GB imports in the time
of a small one); it runs ONNX shape inference and appends one op per node with the builders' counting conventions
(docs/architecture.md), so an imported ResNet has the params, MACs and ops of the built-in one. Graph inputs that
are not initializers become graph inputs; their symbolic dims are made concrete before shape inference: a name
given in ``dims`` takes that size, a symbolic (or unknown) batch axis takes ``batch`` (and so does that name
wherever else it appears), and any other symbolic dim is a one-line error asking for ``dims``. The batch axis is
axis 0, or axis 1 of an input that is X, initial_h or initial_c of an LSTM / GRU / RNN with layout 0 (the spec's
(seq, batch, features) and (num_directions, batch, hidden)).
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
  ceil(in / stride) per the ONNX spec), ConvTranspose (2-D; pads, output_shape and auto_pad SAME_* per the spec's
  total-padding rule, :meth:`_Importer._conv_transpose`); a weight or bias that is an activation (a graph input,
  a DequantizeLinear's output) is one more input the conv reads, not a parameter,
  Gemm (transB; bias C as stored, broadcast), MatMul (numpy's rules, 1-D operands included: × a 2-D initializer a
  linear layer; × an activation or another initializer a batched matmul, the initializer its parameters),
  BatchNormalization (2·C parameters, as torch: the running statistics are buffers), LayerNormalization (last
  axis; scale and the optional bias),
  MaxPool / AveragePool (2-D, 3-D; auto_pad as Conv), GlobalAveragePool / GlobalMaxPool, Relu, Sigmoid, Tanh, Gelu (the
  opset-20 op, erf or tanh; a Gelu spelled out with Erf or Tanh is priced node by node, below), Softmax (over
  its axis, 5 flops per element; before opset 13, whose default axis is 1, over the input flattened to 2-D at its
  axis: a view, the softmax, a view back), Add / Mul (of two activations, or an activation and an
  initializer: its parameters), Concat, Flatten / Reshape / Transpose / Squeeze / Unsqueeze (views),
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
  other equation is unmapped), GatherND (as Gather: of an activation a selecting view, of a table a copy reading
  it),
  ReduceMean / ReduceSum / ReduceMax / ReduceMin (POOL: 1 per input element, the mean + 1 per output element),
  InstanceNormalization (groupnorm, a group per channel), Gather (of an initializer on axis 0 an embedding reading
  only the gathered rows; of an activation a selecting view), Slice / Split (selecting views), Pad / Cast (copies,
  0 flops; a Cast writes its ``to`` type's width unless that is the model's own float type) and Resize / Upsample (nearest a copy; linear / cubic n^d multiplies and n^d − 1 adds per output
  element), and Shape (a constant: with the shape computations on it, Gather / Unsqueeze / Concat / Cast of
  constants, no op).

An attribute of the wrong type or length, a required one missing, a name that is not UTF-8, no ai.onnx opset and a
model shape inference rejects are one-line errors.

Any other op is a one-line :class:`~accelsim.errors.WorkloadError` naming the node and its op type, never a
silently different graph. The ``onnx`` workload (``--workload onnx --set workload.path=model.onnx``) builds it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, ValidationError

from ..errors import WorkloadError
from ..ir import Gemm, Graph, OpKind, Weight
from ..units import ONNX_DTYPES
from .gnn import ELU_FLOPS, LEAKY_RELU_FLOPS
from .layers import GraphBuilder, broadcast_shapes
from .params import WorkloadParams
from .rnn import GATES, RecurrentBuilder
from .tlayers import SOFTMAX_FLOPS

_KEEP_VALUES = 1024  # elements: an initializer larger than this is no shape, index list or scale (one per axis)
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")
_NOT_PARAMS: dict[str, tuple[int, ...]] = {
    # inputs the ONNX operator spec defines as shapes, indices, axes, counts, bounds, scales or zero points
    # (https://onnx.ai/onnx/operators/): never a model's parameters, whatever their type
    "Slice": (1, 2, 3, 4), "Gather": (1,), "GatherElements": (1,), "GatherND": (1,), "ScatterND": (1,),
    "ScatterElements": (1,), "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Upsample": (1,), "Expand": (1,),
    "Tile": (1,), "Loop": (0, 1), "If": (0,), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),
    "DynamicQuantizeLinear": (), "TopK": (1,), "Split": (1,), "Range": (0, 1, 2), "OneHot": (1, 2),
    "ConstantOfShape": (0,), "CumSum": (1,), "Clip": (1, 2), "Trilu": (1,), "Where": (0,),
    "NonMaxSuppression": (2, 3, 4), "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,),
    "ReduceSumSquare": (1,), "QLinearConv": (1, 2, 4, 5, 6, 7), "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "MatMulInteger": (2, 3), "ConvInteger": (2, 3), "Pow": (1,),
}
_VIEWS = ("Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze")
_ALIASES = ("Identity", "Dropout")
_UNARY_FLOPS: dict[str, tuple[str, int]] = {
    # op type → (fn, FLOPs per element), the builders' counts (builders/layers.py, tlayers.py ACT_FLOPS, gnn.py):
    # a transcendental (exp, erf, sqrt) is one FLOP, as the softmax's exp (tlayers.SOFTMAX_FLOPS) and the
    # sigmoid's (layers.sigmoid: 4 = negate, exp, add, divide) count it; softplus log(1 + exp(x)) an exp and a
    # log1p, 2, as builders/ssm.py counts it in Mamba-2's and Gated DeltaNet's gates
    "HardSigmoid": ("hardsigmoid", 2), "HardSwish": ("hardswish", 3), "LeakyRelu": ("leaky_relu", LEAKY_RELU_FLOPS),
    "Elu": ("elu", ELU_FLOPS), "Softplus": ("softplus", 2), "Erf": ("erf", 1), "Exp": ("exp", 1),
    "Sqrt": ("sqrt", 1), "Neg": ("neg", 1), "Reciprocal": ("reciprocal", 1),
}
_REDUCES = {"ReduceMean": "avg", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


def einsum_terms(equation: str, operands: int) -> tuple[list[str], str] | None:
    """The operands' and the output's index letters of an ONNX Einsum ``equation`` (``"bij,bjk->bik"`` →
    (["bij", "bjk"], "bik"); without ``->`` the output is the letters that appear once, in alphabetical order, per
    the spec), or None where accelsim does not map it: other than one or two operands, an ellipsis, a letter
    repeated within one term (a diagonal, ``"ii->i"``), an output letter no operand has, or a letter only one of
    two operands has that the output drops (a sum inside one operand before the product)."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if not arrow:
        letters = "".join(terms)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(terms) != operands or operands not in (1, 2) or "." in eq:
        return None
    every = "".join(terms)
    if any(not t.isalpha() or len(set(t)) != len(t) for t in (*terms, out)) or not set(out) <= set(every):
        return None
    if operands == 2 and any(c not in out and c not in terms[1 - i] for i, t in enumerate(terms) for c in t):
        return None
    return terms, out


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
                                          "layout-0 LSTM/GRU/RNN's X, initial_h or initial_c) not named "
                                          "here takes batch; "
                                          "any other symbolic dim must be named here.")


def onnx_workload(p: OnnxParams) -> Graph:
    """The ``onnx`` workload: :func:`from_onnx` of ``p.path``."""
    return from_onnx(p.path, batch=p.batch, dtype=p.dtype or "fp16", unsupported=p.unsupported, dims=p.dims)


def from_onnx(model: str | os.PathLike | object, *, batch: int = 1, dtype: str = "fp16",
              name: str | None = None, unsupported: str = "error", dims: dict[str, int] | None = None) -> Graph:
    """The op graph of an ONNX model (a path or a loaded ``onnx.ModelProto``); see the module docstring.
    ``unsupported`` is "error" or "elementwise" (:class:`OnnxParams`); ``dims`` sizes symbolic input dims by name.
    The arguments are checked by :class:`OnnxParams`' rules, as the ``onnx`` workload's are (``batch`` and each
    ``dims`` size a positive int, ``dtype`` a known dtype; None: fp16): a bad one is a one-line WorkloadError."""
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
    model, took_batch = _concrete_inputs(model, batch, dict(dims or {}), where, axes)
    firsts = {shape[axes.get(n, 0)] for n, shape in _input_shapes(model).items() if len(shape) > axes.get(n, 0)}
    if not took_batch and batch != 1 and firsts != {batch}:
        shapes = ", ".join(f"{n!r} {list(s)}" for n, s in _input_shapes(model).items())
        raise WorkloadError(f"{where}: batch {batch}: the model's batch is fixed (every graph input's batch axis is "
                            f"a fixed size or one workload.dims sets: {shapes}); export it with a symbolic batch axis "
                            f"(torch.onnx.export's dynamic_axes) and leave that name out of dims, or leave batch at 1",
                            key=("batch",))
    model_batch = batch if took_batch else (firsts.pop() if len(firsts) == 1 else None)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)  # Shape → Reshape/Expand sized too
    except Exception as e:  # onnx's InferenceError on a model it finds inconsistent
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WorkloadError(f"{where}: ONNX shape inference failed ({type(e).__name__}: {first})") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    importer = _Importer(model.graph, where, batch, dtype, name or model.graph.name or "onnx", opset)
    return importer.run(unsupported, batch=model_batch)


def _checked(**args: object) -> OnnxParams:
    """``args`` validated as the ``onnx`` workload's parameters (a placeholder path): one WorkloadError line per
    problem, ``key: what (got value)``, joined by "; "."""
    try:
        return OnnxParams.model_validate({"path": "<model>", **args})
    except ValidationError as e:
        problems = [f"{'.'.join(str(k) for k in err['loc'])}: {err['msg']} (got {err['input']!r})"
                    for err in e.errors()]
        raise WorkloadError("; ".join(problems)) from None


def _check_external_data(model, folder: Path, where: str) -> None:
    """Each initializer stored outside the file (ONNX external data, docs/ExternalData.md of the ONNX repo: a
    ``location`` relative to the model's folder, optional ``offset`` and ``length`` in bytes) has its file, and the
    file holds its bytes: checked by the file's size, never by reading it. A location that is absolute or leaves the
    folder is refused, as onnx.load refuses it."""
    import onnx

    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if not loc or Path(loc).is_absolute() or ".." in Path(loc).parts:
            raise WorkloadError(f"{where}: initializer {t.name!r}: external data location {loc!r} is not a path "
                                f"inside the model's folder")
        file = folder / loc
        if not file.is_file():
            raise WorkloadError(f"{where}: initializer {t.name!r}: its external data file {loc!r} is missing "
                                f"(looked for {file})")
        try:
            offset, length = int(info.get("offset", 0)), int(info["length"]) if "length" in info else None
        except ValueError:
            raise WorkloadError(f"{where}: initializer {t.name!r}: external data offset/length "
                                f"{info.get('offset')!r}/{info.get('length')!r} are not integers") from None
        if length is None:
            length = _stored_bytes(t)
        size = file.stat().st_size
        if length is not None and offset + length > size:
            raise WorkloadError(f"{where}: initializer {t.name!r}: its external data file {loc!r} is {size:,} B, "
                                f"short of the {offset + length:,} B (offset {offset:,} + {length:,}) it should hold "
                                f"(a truncated file?)")


def _read_small_external_data(model, folder: Path) -> None:
    """Read into ``model`` the values of each initializer stored outside the file with at most :data:`_KEEP_VALUES`
    elements (a Reshape's shape, a Resize's scales: shape inference reads them; an exporter's size_threshold=0 puts
    even those outside): its own bytes only, never a bigger tensor's. Run after :func:`_check_external_data` (the
    file is there and holds them); one whose length is not its dims' bytes, or of a type without a fixed size, is
    left unread."""
    import onnx

    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL or math.prod(int(d) for d in t.dims) > _KEEP_VALUES:
            continue
        info = {e.key: e.value for e in t.external_data}
        size = _stored_bytes(t)
        if size is None or int(info.get("length", size)) != size:
            continue
        t.raw_data = _read_bytes(folder / info["location"], int(info.get("offset", 0)), size)
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _read_bytes(file: Path, offset: int, size: int) -> bytes:
    """``size`` bytes of ``file`` from ``offset``."""
    with open(file, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _stored_bytes(t) -> int | None:
    """Bytes of tensor ``t``'s data as ONNX stores it raw (4-bit types two to a byte); None for a type without a
    fixed size (strings)."""
    import onnx

    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    except Exception:  # an unknown or variable-size type: nothing to check against
        return None
    numel = math.prod(int(d) for d in t.dims)
    four_bit = {getattr(onnx.TensorProto, k, None) for k in ("INT4", "UINT4", "FLOAT4E2M1")} - {None}
    return -(-numel // 2) if t.data_type in four_bit else numel * itemsize


def _check_text(graph, where: str) -> None:
    """Every name in ``graph`` is text: protobuf hands a string field that is not valid UTF-8 (ONNX names are UTF-8
    strings; a damaged file) back as bytes, which no later step expects."""
    def bad(value: object) -> bool:
        return isinstance(value, bytes)

    for v in (*graph.input, *graph.output, *graph.initializer, *graph.value_info):
        if bad(v.name):
            raise WorkloadError(f"{where}: the name {v.name!r:.60} of a graph input, output or initializer is not "
                                f"valid UTF-8 text (a damaged file?)")
    for i, node in enumerate(graph.node):
        for field, values in (("name", [node.name]), ("op_type", [node.op_type]), ("domain", [node.domain]),
                              ("input", node.input), ("output", node.output),
                              ("attribute name", [a.name for a in node.attribute])):
            if any(bad(v) for v in values):
                value = next(v for v in values if bad(v))
                raise WorkloadError(f"{where}: node #{i}'s {field} {value!r:.60} is not valid UTF-8 text (a damaged "
                                    f"file?)")


def _input_shapes(model) -> dict[str, tuple[int, ...]]:
    """The graph inputs that are not initializers, with their (concrete) shapes."""
    inits = {t.name for t in model.graph.initializer}
    return {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim) for v in model.graph.input
            if v.name not in inits}


def _batch_axes(graph) -> dict[str, int]:
    """The graph inputs whose batch axis is not axis 0: X, initial_h and initial_c of an LSTM / GRU / RNN with
    layout 0 (the default) have it at axis 1, the ONNX spec's (seq_length, batch_size, input_size) and
    (num_directions, batch_size, hidden_size); with layout 1 they are batch-first."""
    import onnx

    axes = {}
    inputs = {v.name for v in graph.input}
    for node in graph.node:
        if _op_key(node) not in ("LSTM", "GRU", "RNN"):
            continue
        layout = next((a for a in node.attribute if a.name == "layout"), None)
        if layout is None or (layout.type == onnx.AttributeProto.INT and layout.i == 0):
            for i in (0, 5, 6):  # X, initial_h, initial_c (a GRU / RNN has no input 6)
                if len(node.input) > i and node.input[i] in inputs:
                    axes[node.input[i]] = 1
    return axes


def _concrete_inputs(model, batch: int, dims: dict[str, int], where: str, axes: dict[str, int] | None = None):
    """A copy of ``model`` whose graph inputs have every dim concrete (see the module docstring: ``dims`` by name,
    else ``batch`` for a symbolic or unknown batch axis and its name elsewhere, else a one-line error), the graph
    outputs' dims of those names set too and the stored value_info dropped, so that shape inference recomputes every
    intermediate shape from the concrete inputs; and whether some input's batch axis took ``batch``. The batch
    axis is axis 0, or the one ``axes`` gives for that input (:func:`_batch_axes`)."""
    import onnx

    axes = axes or {}
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    for t in graph.initializer:  # shape inference reads the values of shape, index and scale tensors, a few
        if math.prod(t.dims) > _KEEP_VALUES:  # elements each: a weight's values are dropped (a model's proto over
            for field in _DATA_FIELDS:  # 2 GB cannot be serialised for inference; a smaller one is copied twice)
                t.ClearField(field)
    inits = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    for v in inputs:  # the IR spec: a main graph's inputs MUST have a shape, giving at least the rank
        if not v.type.HasField("tensor_type"):
            raise WorkloadError(f"{where}: graph input {v.name!r} is not a tensor (a sequence, map or optional), "
                                f"which accelsim does not map")
        if not v.type.tensor_type.HasField("shape"):
            raise WorkloadError(f"{where}: graph input {v.name!r} has no shape in the file (not even its rank); "
                                f"export the model with the input's shape (its dims may be symbolic: "
                                f"workload.dims sizes them)")
    symbolic = {d.dim_param for v in inputs for d in v.type.tensor_type.shape.dim if d.dim_param}
    unknown = sorted(set(dims) - symbolic)
    if unknown:  # a misspelt name would leave its axis to the batch default in silence
        named = f"its symbolic dims are {', '.join(sorted(symbolic))}" if symbolic else "it has no symbolic dims"
        raise WorkloadError(f"{where}: dims {', '.join(repr(n) for n in unknown)}: no graph input has such a "
                            f"symbolic dim ({named})", key=("dims",))
    sizes = dict(dims)
    took_batch = False
    for v in inputs:
        first = list(v.type.tensor_type.shape.dim)[axes.get(v.name, 0):][:1]
        if first and not first[0].dim_value > 0 and first[0].dim_param and first[0].dim_param not in dims:
            sizes[first[0].dim_param] = batch
            took_batch = True
    missing: list[str] = []
    for v in inputs:
        for axis, d in enumerate(v.type.tensor_type.shape.dim):
            if d.dim_value > 0:
                continue
            if d.dim_param in sizes:
                d.dim_value = sizes[d.dim_param]
            elif axis == axes.get(v.name, 0):
                d.dim_value = batch
                took_batch = True
            else:
                missing.append(f"{v.name!r} axis {axis} ({d.dim_param!r})" if d.dim_param else
                               f"{v.name!r} axis {axis} (unnamed)")
    if missing:
        raise WorkloadError(f"{where}: symbolic input dims other than the batch axis need a size: "
                            f"{', '.join(missing)}; set workload.dims.<name>=<size> (from_onnx(..., dims=...)); "
                            f"the batch axis (axis 0; axis 1 of a layout-0 LSTM/GRU/RNN's X, initial_h or initial_c) "
                            f"takes workload.batch")
    for v in graph.output:
        for d in v.type.tensor_type.shape.dim:
            if not d.dim_value > 0 and d.dim_param in sizes:
                d.dim_value = sizes[d.dim_param]
    del graph.value_info[:]
    return copy, took_batch


def rename_weights(b: GraphBuilder, names: list[str], shapes: list[tuple[int, ...] | None] | None = None) -> None:
    """Give the last op's parameter tensors ``names`` in order (the file's or module's names; each tensor is then
    counted once by name however many ops read it) and, where ``shapes`` gives one, that shape (the file's or
    module's own: a broadcast bias, a multi-axis norm)."""
    op = b._ops[-1]
    shapes = shapes or [None] * len(names)
    weights = tuple(dataclasses.replace(w, name=n, shape=w.shape if s is None else s)
                    for w, n, s in zip(op.weights, names, shapes, strict=False))
    b._ops[-1] = dataclasses.replace(op, weights=weights + op.weights[len(weights):])


def set_weights(b: GraphBuilder, weights: list[tuple[str, tuple[int, ...]]]) -> None:
    """Make the last op's parameter tensors exactly ``weights`` ((name, shape) pairs, in order): those the builder
    made are renamed and reshaped, any it made beyond them dropped (a norm without an affine weight or bias)."""
    op = b._ops[-1]
    new = [dataclasses.replace(op.weights[i], name=n, shape=s) if i < len(op.weights) else Weight(n, s)
           for i, (n, s) in enumerate(weights)]
    b._ops[-1] = dataclasses.replace(op, weights=tuple(new))


def matmul_gemm(sa: tuple[int, ...], sb: tuple[int, ...], where: str) -> tuple[Gemm, tuple[int, ...]]:
    """The GEMM view and output shape of ``a @ b`` by numpy's matmul rules: a 1-D ``a`` is a row (1, k) and a 1-D
    ``b`` a column (k, 1), that dim dropped from the output; the batch dims broadcast. MACs = ∏ batch · m · n · k
    (a vector · matrix of (k,) and (B, k, n): B·k·n). A 0-d result (vector · vector) is shaped (1,)."""
    a2 = (1, *sa) if len(sa) == 1 else tuple(sa)
    b2 = (*sb, 1) if len(sb) == 1 else tuple(sb)
    if not sa or not sb or a2[-1] != b2[-2]:
        raise WorkloadError(f"{where}: cannot multiply {list(sa)} by {list(sb)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    if batch is None:
        raise WorkloadError(f"{where}: the batch dims of {list(sa)} and {list(sb)} do not broadcast")
    m, k, n = a2[-2], a2[-1], b2[-1]
    out = (*batch, *((m,) if len(sa) > 1 else ()), *((n,) if len(sb) > 1 else ()))
    return Gemm(m=m, n=n, k=k, count=math.prod(batch)), out or (1,)


def _dims(value_info) -> tuple[int | None, ...] | None:
    """A tensor's shape as shape inference left it, a dim it could not size (symbolic or unknown: a size that
    depends on the data) None, and a 0-d shape as (1,); None where it gave no shape at all (not even a rank). Graph
    inputs are concrete by now (``_concrete_inputs``)."""
    t = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in t.shape.dim) or (1,)


def _pads_same(size: list[int], kernel: list[int], stride: list[int], dil: list[int], upper: bool) -> list[int]:
    """ONNX auto_pad SAME_UPPER / SAME_LOWER: output ceil(in / stride) per axis, padded in total
    max((out − 1)·stride + (k − 1)·dilation + 1 − in, 0), the odd one at the end (UPPER) or the start (LOWER);
    [begin_0, begin_1, ..., end_0, end_1, ...] as ONNX's pads."""
    totals = [max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0) for n, k, s, d in zip(size, kernel, stride, dil,
                                                                                          strict=True)]
    small = [t // 2 for t in totals]
    big = [t - t // 2 for t in totals]
    return small + big if upper else big + small


def _outer_reads(node) -> list[tuple[object, int, str]]:
    """(subgraph node, input index, name) for each input a node of ``node``'s subgraphs (an If's branches, a Loop's
    or Scan's body, nested ones) reads from an enclosing graph: a name no subgraph on the way defines (as its input,
    initializer or a node's output), in file order."""
    found: list[tuple[object, int, str]] = []

    def walk(graph, defined: frozenset[str]) -> None:
        defined = defined | {v.name for v in (*graph.input, *graph.initializer)} | {o for n in graph.node
                                                                                   for o in n.output}
        for sub in graph.node:
            found.extend((sub, i, name) for i, name in enumerate(sub.input) if name and name not in defined)
            for g in _subgraphs(sub):
                walk(g, defined)

    for g in _subgraphs(node):
        walk(g, frozenset())
    return found


def _subgraphs(node) -> list:
    """The graphs ``node``'s attributes hold (If's then_branch and else_branch, Loop's and Scan's body)."""
    import onnx

    return [g for a in node.attribute for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs))]


def _model_float(graph) -> int:
    """The ONNX float type the model stores its tensors in: that of its first float graph input, else of its first
    float initializer, else FLOAT (a Cast to it is a cast back to the workload's dtype)."""
    floats = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
    inits = {t.name for t in graph.initializer}
    types = [v.type.tensor_type.elem_type for v in graph.input if v.name not in inits]
    types += [t.data_type for t in graph.initializer]
    return next((t for t in types if t in floats), 1)


def _op_key(node) -> str:
    """A node's op type as accelsim keys it: the op type for the default domain ('' or 'ai.onnx', whose operator
    the ONNX spec defines), ``domain::op_type`` for any other (a custom or vendor op, com.microsoft's or a
    user's, is not the ai.onnx op of the same name)."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"


class _Importer:
    """Walks the nodes of one ONNX graph in order, appending builder layers (one method per op type)."""

    def __init__(self, graph, where: str, batch: int, dtype: str, name: str, opset: int = 0):
        self.where = where
        self.opset = opset  # the ai.onnx opset (0: not given): Softmax's default axis and semantics changed at 13
        self.inits = {t.name: tuple(int(d) for d in t.dims) or (1,) for t in graph.initializer}  # 0-d: 1 element
        self.init_types = {t.name: t.data_type for t in graph.initializer}  # ONNX TensorProto data types
        self.alias: dict[str, str] = {}  # an Identity's output of an initializer → the initializer's name
        self.protos = {t.name: t for t in graph.initializer}  # values for Clip bounds and Pow exponents
        self.constants: dict[str, object] = {}  # a Constant node's output → the node
        self.computed: set[str] = set()  # constants computed while importing (a shape, a fill): no parameters
        self.model_float = _model_float(graph)  # the float type the model's tensors are stored in
        self.shapes = {v.name: shape for v in (*graph.value_info, *graph.output) if (shape := _dims(v)) is not None}
        inputs = {v.name: tuple(d or batch for d in _dims(v) or ()) for v in graph.input if v.name not in self.inits}
        if not inputs:
            raise WorkloadError(f"{where}: the graph has no inputs besides its initializers")
        self.b = RecurrentBuilder(name, inputs, dtype=dtype)
        self.graph = graph
        self.tensor: dict[str, str] = {n: n for n in inputs}  # ONNX tensor → op holding it
        self.names = self._layer_names()
        self.reserved = set(self.names)  # the nodes' layer names: the importer's own extra ops yield to them
        self.unmapped: dict[str, list[str]] = {}  # op type → its nodes without a mapping (run)
        self.handlers: dict[str, Callable] = {
            "Conv": self._conv, "ConvTranspose": self._conv_transpose, "Gemm": self._gemm, "MatMul": self._matmul,
            "BatchNormalization": self._batchnorm, "LayerNormalization": self._layernorm,
            "MaxPool": self._pool, "AveragePool": self._pool, "GlobalAveragePool": self._global_pool,
            "GlobalMaxPool": self._global_pool, "Softmax": self._softmax, "Add": self._binary, "Mul": self._binary,
            "Concat": self._concat, "Relu": self._unary, "Sigmoid": self._unary, "Tanh": self._unary,
            "Gelu": self._unary, "LSTM": self._recurrent, "GRU": self._recurrent, "RNN": self._recurrent,
            "Sub": self._binary, "Div": self._binary, "Pow": self._pow, "Max": self._binary, "Min": self._binary,
            "Clip": self._clip, **dict.fromkeys(_UNARY_FLOPS, self._unary), **dict.fromkeys(_REDUCES, self._reduce),
            "Cast": self._copy, "Pad": self._copy, "Gather": self._gather, "Slice": self._slice, "Split": self._split,
            "Resize": self._resize, "Upsample": self._resize, "InstanceNormalization": self._instancenorm,
            "Shape": self._constant_of, "Where": self._where, "Expand": self._expand,
            "ConstantOfShape": self._fill, "Einsum": self._einsum, "GatherND": self._gather_nd,
        }

    def _layer_names(self) -> list[str]:
        """Each node's layer name: its own, else ``<optype>_<index>``; one already taken (a graph input's name: the
        ONNX IR keeps node and value names in separate namespaces) or, for a made-up one, any node's own name gets
        the first free ``_1``, ``_2``, ... suffix, in file order. Two nodes with one name break the IR's rule
        (node names are unique in a graph): a one-line error naming both."""
        own: dict[str, int] = {}
        for i, node in enumerate(self.graph.node):
            if node.name in own:
                raise WorkloadError(f"{self.where}: node name {node.name!r} is used by nodes #{own[node.name]} and "
                                    f"#{i}; the ONNX IR requires node names to be unique in a graph")
            if node.name:
                own[node.name] = i
        taken, names = set(self.tensor), []
        for i, node in enumerate(self.graph.node):
            base = node.name or f"{node.op_type.lower()}_{i}"
            name, k = base, 0
            while name in taken or (name != node.name and name in own):
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            names.append(name)
        return names

    def _extra_name(self, base: str) -> str:
        """The name of an op the importer adds beside a node's own (a Gemm's bias add, a Softmax's flatten views,
        an unmapped node's further outputs, the unused_params view): ``base``, else the first free ``base_1``,
        ``base_2``, ...; never a node's layer name (reserved: a later node named so keeps its name) nor one
        taken."""
        name, k = base, 0
        while name in self.reserved or name in self.b._shapes or name in self.b._blocks:
            k += 1
            name = f"{base}_{k}"
        return name

    def _unmapped(self) -> dict[str, list[str]]:
        """Op type (:func:`_op_key`) → names of the nodes of that type without a mapping, in file order."""
        known = {*self.handlers, *_VIEWS, *_ALIASES, "Constant"}
        found: dict[str, list[str]] = {}
        for i, node in enumerate(self.graph.node):
            if _op_key(node) not in known or (_op_key(node) == "Einsum" and not self._einsum_mapped(node)):
                found.setdefault(_op_key(node), []).append(self.names[i])
        return found

    def _einsum_mapped(self, node) -> bool:
        """Whether Einsum ``node``'s equation is one :func:`einsum_terms` maps."""
        import onnx

        eq = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "equation"), None)
        return isinstance(eq, bytes) and einsum_terms(eq.decode("utf-8", "replace"), len(node.input)) is not None

    def run(self, unsupported: str = "error", *, batch: int | None = None) -> Graph:
        """The graph, its meta naming ``batch`` (the model's: the size its inputs' batch axis took; None where they
        differ) and the dtype it computes in."""
        unmapped = self.unmapped = self._unmapped()
        if unmapped and unsupported == "error":
            listed = ", ".join(f"{t} ({len(n)}: {n[0]!r}{', ...' if len(n) > 1 else ''})" for t, n in unmapped.items())
            raise WorkloadError(f"{self.where}: op types accelsim does not map: {listed}; set "
                                f"workload.unsupported=elementwise to price them as element-wise work")
        for i, node in enumerate(self.graph.node):
            op_name = self.names[i]
            self.node, self.op_name = node, op_name
            try:
                self._import_node()
            except WorkloadError as e:  # the builder's own checks name the graph: name the node instead
                text = str(e.args[0]) if e.args else ""
                if text.startswith(f"{self.b.name}: ") and not text.startswith(f"{self.where}: "):
                    raise WorkloadError(f"{self._node()}: {text[len(self.b.name) + 2:]}", key=e.key) from None
                raise
        self._unused_initializers()
        notes = [f"ONNX op type {t} has no accelsim mapping: its {len(n)} node(s) ({', '.join(n[:3])}"
                 f"{', ...' if len(n) > 3 else ''}) are priced as element-wise work over their outputs"
                 for t, n in unmapped.items()]
        return self.b.build({"model": "onnx", "source": self.where, "batch": batch, "dtype": self.b.dtype,
                             **({"notes": notes} if notes else {})})

    def _import_node(self) -> None:
        """Append the ops of the current node (:attr:`node`, layer :attr:`op_name`)."""
        node, key, unmapped = self.node, _op_key(self.node), self.unmapped
        if key in _ALIASES and node.input[0] in self.inits and node.input[0] not in self.tensor:
            self.inits[node.output[0]] = self.inits[node.input[0]]  # a weight passed through (tied weights)
            self.init_types[node.output[0]] = self.init_types.get(node.input[0], 0)
            self.alias[node.output[0]] = self._weight(node.input[0])
        elif key in _ALIASES:
            self.tensor[node.output[0]] = self._in(0)
        elif key in _VIEWS and self._is_init(node.input[0]) and not self._param(node.input[0]):
            self._constant_of()  # a view of a shape or an index list
        elif key in _VIEWS:
            self._view()
        elif key == "Constant":
            self._constant()
        elif key in unmapped:
            self._generic()
        else:
            first = len(self.b._ops)
            out = self.handlers[node.op_type]()
            self._drop_non_params(first)
            if out is not None and node.output and node.output[0]:  # an LSTM may leave Y out and give only Y_h
                self.tensor[node.output[0]] = out

    def _unused_initializers(self) -> None:
        """Initializers no node reads, directly, through an Identity (:attr:`alias`) or from a subgraph, are
        parameters the model holds unread: an ``unused_params`` view carries them (the builders' convention:
        ``Graph.params`` counts them, the mapper moves nothing), except those that hold none (:meth:`_param`:
        typed int64, bool or string, or empty). An Identity no node reads, or a graph output, reads nothing: its
        initializer is counted here. Every other initializer a node reads is a parameter of the op it became, or
        an input it reads as no parameter (BatchNormalization's running statistics, an initial state, a shape or
        scale of :data:`_NOT_PARAMS`), so each counts once."""
        read = {self._weight(n) for node in self.graph.node if not (node.output and node.output[0] in self.alias)
                for n in node.input}
        read.update(self._weight(name) for node in self.graph.node for _, _, name in _outer_reads(node))
        unused = [Weight(t.name, self.inits[t.name]) for t in self.graph.initializer
                  if t.name not in read and self._param(t.name)]
        if unused:
            self.b.unused_params(next(iter(self.tensor)), unused, name=self._extra_name("unused_initializers"))

    def _drop_non_params(self, first: int) -> None:
        """The ops a mapped node made from ``first`` on hold only the initializers that are parameters
        (:meth:`_param`): a Mul by an int64 constant, as a shape computation multiplies, holds none."""
        for k in range(first, len(self.b._ops)):
            op = self.b._ops[k]
            kept = tuple(w for w in op.weights if w.name not in self.inits or self._param(w.name))
            if kept != op.weights:
                self.b._ops[k] = dataclasses.replace(op, weights=kept)

    # ---- helpers ----------------------------------------------------------------------------------------
    def _in(self, i: int) -> str:
        src = self.node.input[i]
        if src not in self.tensor:
            raise WorkloadError(f"{self.where}: node {self.op_name!r} ({self.node.op_type}) reads {src!r}, which is "
                                f"an initializer or no earlier output where an activation is expected")
        return self.tensor[src]

    def _attr(self, key: str, default: object = None) -> object:
        """Attribute ``key``'s value, ``default`` where the node has none; one with no value (its type unset, as
        in a damaged file) is a one-line error."""
        import onnx

        for a in self.node.attribute:
            if a.name == key:
                try:
                    value = onnx.helper.get_attribute_value(a)
                except Exception:  # an attribute type onnx does not know
                    value = None
                if value is None:
                    raise WorkloadError(f"{self._node()}: attribute {key!r} holds no value of a known type "
                                        f"(a damaged file?)")
                return value
        return default

    def _node(self) -> str:
        """``<file>: node '<name>' (<OpType>)``, the start of an error about the current node."""
        return f"{self.where}: node {self.op_name!r} ({self.node.op_type})"

    def _int(self, key: str, default: int | None = None) -> int:
        """An int attribute (``default`` when absent; None: required)."""
        value = self._attr(key, default)
        if value is None:
            raise WorkloadError(f"{self._node()}: required attribute {key!r} is missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorkloadError(f"{self._node()}: attribute {key!r} must be an int (got {value!r:.60})")
        return value

    def _float(self, key: str, default: float) -> float:
        value = self._attr(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WorkloadError(f"{self._node()}: attribute {key!r} must be a float (got {value!r:.60})")
        return float(value)

    def _str(self, key: str, default: str) -> str:
        value = self._attr(key, default)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            raise WorkloadError(f"{self._node()}: attribute {key!r} must be a string (got {value!r:.60})")
        return value

    def _ints(self, key: str, default: list[int] | tuple[int, ...] | None = None, n: int | None = None) -> list[int]:
        """A list-of-ints attribute (``default`` when absent; None: required), of ``n`` values where given."""
        value = self._attr(key, default)
        if value is None:
            raise WorkloadError(f"{self._node()}: required attribute {key!r} is missing")
        if not isinstance(value, (list, tuple)) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise WorkloadError(f"{self._node()}: attribute {key!r} must be a list of ints (got {value!r:.60})")
        if n is not None and len(value) != n:
            raise WorkloadError(f"{self._node()}: attribute {key!r} must have {n} values (got {list(value)})")
        return list(value)

    def _out_shape(self, out: str | None = None) -> tuple[int, ...]:
        """The shape of the node's output ``out`` (its first by default) as shape inference gave it; none, or a dim
        it could not size, is a one-line error: accelsim prices every tensor by its size and never guesses one."""
        out = self.node.output[0] if out is None else out
        shape = self.shapes.get(out)
        if shape is None:
            raise WorkloadError(f"{self._node()}: shape inference gave no shape for its output {out!r}, so it cannot "
                                f"be priced")
        if None in shape:
            dims = ", ".join("?" if d is None else str(d) for d in shape)
            raise WorkloadError(f"{self._node()}: shape inference could not size output {out!r} [{dims}] (a size "
                                f"that depends on the data, not only on the input shapes), so it cannot be priced")
        return shape  # type: ignore[return-value]

    def _weight(self, name: str) -> str:
        """The parameter name of initializer ``name`` (the initializer an Identity passed through)."""
        return self.alias.get(name, name)

    def _is_init(self, name: str) -> bool:
        """Whether node input ``name`` is an initializer (or Constant) rather than an activation."""
        return name in self.inits and name not in self.tensor

    def _param(self, name: str) -> bool:
        """Whether initializer (or Constant) ``name`` holds parameters: not when it is typed int64, bool or string
        (ONNX's types for shapes, indices, axes, counts and masks; a quantised weight is int8, uint8, int4, its
        bias int32), nor when it has no element (an empty roi, an unused placeholder), nor when the importer
        computed it (:attr:`computed`: a shape computation's result, a ConstantOfShape fill)."""
        import onnx

        T = onnx.TensorProto
        return self.init_types.get(name) not in (T.INT64, T.BOOL, T.STRING) and math.prod(self.inits[name]) > 0 \
            and name not in self.computed

    def _is_param(self, i: int) -> bool:
        """Whether the initializer the node reads as input ``i`` is a model parameter: :meth:`_param`, and not an
        input the op's spec makes a shape, index, axis, count, bound, scale or zero point (:data:`_NOT_PARAMS`:
        Resize's float scales, Q/DQ's scale and zero point, Clip's min and max)."""
        return self._param(self.node.input[i]) and i not in _NOT_PARAMS.get(_op_key(self.node), ())

    def _operand_shape(self, i: int) -> tuple[int, ...]:
        """The shape of the node's input ``i``: an initializer's as stored, an activation's (a graph input, or a
        weight computed by an earlier node: a QDQ model's DequantizeLinear) as computed."""
        name = self.node.input[i]
        return self.inits[name] if self._is_init(name) else self.b.shape(self._in(i))

    def _set_operands(self, names: list[str]) -> None:
        """The last op's operands beside its input ``x``, in the builder's order (weight, bias): each initializer is
        its parameter (named and shaped as stored), each activation one more input it reads (no parameter)."""
        op = self.b._ops[-1]
        weights, inputs, shapes = [], list(op.inputs), list(op.in_shapes)
        for i, n in enumerate(names):
            if not n:
                continue
            if self._is_init(n):
                weights.append(dataclasses.replace(op.weights[i], name=self._weight(n), shape=self.inits[n]))
            else:
                inputs.append(self.tensor[n])
                shapes.append(self.b.shape(self.tensor[n]))
        self.b._ops[-1] = dataclasses.replace(op, weights=tuple(weights), inputs=tuple(inputs),
                                              in_shapes=tuple(shapes))

    def _rename_weights(self, names: list[str]) -> None:
        """Name the last op's weights as the file's initializers and shape them as stored."""
        rename_weights(self.b, [self._weight(n) for n in names], [self.inits.get(n) for n in names])

    def _auto_pad(self) -> str:
        return self._str("auto_pad", "NOTSET")

    def _pads(self, dims: int) -> list[int] | str:
        auto = self._auto_pad()
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return "same"
        if auto == "VALID":
            return [0] * dims
        pads = self._ints("pads", [0] * 2 * dims, 2 * dims)
        if pads[:dims] != pads[dims:]:
            raise WorkloadError(f"{self.where}: node {self.op_name!r} ({self.node.op_type}) has asymmetric pads "
                                f"{pads}, which accelsim does not map")
        return pads[:dims]

    def _same(self, x: str, kernel: list[int], stride: list[int], dil: list[int]) -> tuple[list[int], list[int]]:
        """auto_pad SAME_*: the ONNX pads (:func:`_pads_same`) and a symmetric padding per axis that gives the
        builder the same output size, ceil(in / stride): the half of an even total, or the larger half of an odd
        one with stride > 1 (``floor((in + t + 1 − span) / s) + 1`` is then still ceil(in / s)). An odd total with
        stride 1 (an even kernel) only the conv's padding="same" maps, when every stride is 1."""
        size = list(self.b.shape(x)[2:])
        pads = _pads_same(size, kernel, stride, dil, self._auto_pad() == "SAME_UPPER")
        dims = len(kernel)
        totals = [pads[i] + pads[dims + i] for i in range(dims)]
        if any(t % 2 and s == 1 for t, s in zip(totals, stride, strict=True)):
            raise WorkloadError(f"{self.where}: node {self.op_name!r} ({self.node.op_type}): auto_pad "
                                f"{self._auto_pad()} pads {pads} unevenly on a stride-1 axis, which accelsim "
                                f"maps only for a Conv with every stride 1")
        return pads, [-(-t // 2) for t in totals]

    def _set_pads(self, pads: list[int]) -> None:
        """Record the ONNX pads (begins, ends) on the last op as the builders do: ``pads`` per axis (begin, end)
        and ``padding`` the begins."""
        op, dims = self.b._ops[-1], len(pads) // 2
        per_axis = tuple(v for i in range(dims) for v in (pads[i], pads[dims + i]))
        attrs = {**op.attrs, "padding": tuple(pads[:dims])}
        if "pads" in op.attrs:
            attrs["pads"] = per_axis
        self.b._ops[-1] = dataclasses.replace(op, attrs=attrs)

    # ---- op types ---------------------------------------------------------------------------------------
    def _conv(self) -> str:
        x, w = self._in(0), self._operand_shape(1)
        self._check_conv_rank(w)
        dims = len(w) - 2
        kernel = self._ints("kernel_shape", w[2:], dims)
        stride = self._ints("strides", [1] * dims, dims)
        dil = self._ints("dilations", [1] * dims, dims)
        bias = len(self.node.input) > 2 and bool(self.node.input[2])
        groups = self._int("group", 1)
        self._check_conv_weights(w, kernel, groups, w[1] * groups, w[0])
        pads = self._pads(dims)
        onnx_pads = None
        if pads == "same" and any(s != 1 for s in stride):
            onnx_pads, pads = self._same(x, kernel, stride, dil)
        elif pads == "same":
            onnx_pads = _pads_same(list(self.b.shape(x)[2:]), kernel, stride, dil, self._auto_pad() == "SAME_UPPER")
        if dims == 2 and pads != "same":
            out = self.b.conv2d(x, w[0], tuple(kernel), tuple(stride), tuple(pads), tuple(dil), groups, bias,
                                name=self.op_name)
        else:
            out = self.b.conv_nd(x, dims, w[0], kernel, stride, pads, dil, groups, bias, name=self.op_name)
        if onnx_pads is not None:
            self._set_pads(onnx_pads)
        self._set_operands(list(self.node.input[1:]))
        return out

    def _check_conv_rank(self, w: tuple[int, ...]) -> None:
        """A conv weight has the input's rank, at least 3 (one kernel axis per spatial axis)."""
        x = self.b.shape(self._in(0))
        if len(w) != len(x) or len(w) < 3:
            raise WorkloadError(f"{self._node()}: weight {self.node.input[1]!r} {list(w)} does not fit input "
                                f"{list(x)} (one kernel axis per spatial axis)")

    def _check_conv_weights(self, w: tuple[int, ...], kernel: list[int], groups: int, cin: int, cout: int) -> None:
        """A (transposed) conv's weight fits its input and attributes (the ONNX spec: W (M, C/group, k…) for Conv,
        (C, M/group, k…) for ConvTranspose, B (M,)): the input's rank and channels ``cin``, kernel_shape, and the
        bias's ``cout`` elements (the rank: :meth:`_check_conv_rank`); else a one-line error naming the node."""
        x = self.b.shape(self._in(0))
        if groups < 1:
            raise WorkloadError(f"{self._node()}: group must be >= 1 (got {groups})")
        if x[1] != cin:
            raise WorkloadError(f"{self._node()}: input {list(x)} has {x[1]} channels; weight "
                                f"{self.node.input[1]!r} {list(w)} with group {groups} takes {cin}")
        if list(w[2:]) != kernel:
            raise WorkloadError(f"{self._node()}: kernel_shape {kernel} differs from weight {self.node.input[1]!r}'s "
                                f"{list(w[2:])}")
        if len(self.node.input) > 2 and self.node.input[2] and tuple(self._operand_shape(2)) != (cout,):
            raise WorkloadError(f"{self._node()}: bias {self.node.input[2]!r} is {list(self._operand_shape(2))}; "
                                f"the {cout} output channels need [{cout}]")

    def _conv_transpose(self) -> str:
        """ONNX ConvTranspose (2-D; https://onnx.ai/onnx/operators/onnx__ConvTranspose.html): the output per axis is
        ``full − pads[begin] − pads[end]``, full = stride·(in − 1) + output_padding + (k − 1)·dilation + 1. With
        ``output_shape``, or auto_pad SAME_UPPER / SAME_LOWER (output in · stride), the total padding is full − that
        output, split in halves with the odd one at the end (SAME_UPPER) or else at the beginning. The builder's
        conv_transpose2d takes a symmetric padding p and an output padding q: p = ceil(t / 2), q = 2p − t for
        t = total − output_padding ≥ 0 (p = 0, q = −t below 0) give the same output size; its MACs do not depend on
        the padding (every input pixel meets the whole kernel). The file's pads are recorded on the op."""
        x, w = self._in(0), self._operand_shape(1)
        if len(w) != 4:
            raise WorkloadError(f"{self.where}: node {self.op_name!r}: only 2-D ConvTranspose is mapped")
        self._check_conv_rank(w)
        groups = self._int("group", 1)
        kernel, stride = self._ints("kernel_shape", w[2:], 2), self._ints("strides", [1, 1], 2)
        self._check_conv_weights(w, kernel, groups, w[0], w[1] * groups)
        dil, out_pad = self._ints("dilations", [1, 1], 2), self._ints("output_padding", [0, 0], 2)
        size, auto = self.b.shape(x)[2:], self._auto_pad()
        full = [s * (n - 1) + op + (k - 1) * d + 1 for n, k, s, d, op in zip(size, kernel, stride, dil, out_pad,
                                                                           strict=True)]
        target = None
        if self._attr("output_shape") is not None:
            target = self._ints("output_shape", None, 2)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            target = [n * s for n, s in zip(size, stride, strict=True)]
        if target is not None:
            totals = [f - t for f, t in zip(full, target, strict=True)]
            if any(t < 0 for t in totals):
                raise WorkloadError(f"{self._node()}: output {target} is larger than the full transposed "
                                    f"convolution's {full} (negative padding)")
            upper = auto == "SAME_UPPER"
            pads = [t // 2 if upper else t - t // 2 for t in totals] + [t - t // 2 if upper else t // 2
                                                                        for t in totals]
        else:
            pads = [0] * 4 if auto == "VALID" else self._ints("pads", [0] * 4, 4)
            if any(p < 0 for p in pads):
                raise WorkloadError(f"{self._node()}: pads {pads} must be >= 0")
        sym, extra = [], []
        for i in range(2):
            t = pads[i] + pads[2 + i] - out_pad[i]
            p = max(-(-t // 2), 0)
            sym.append(p)
            extra.append(2 * p - t)
            if extra[-1] >= max(stride[i], dil[i]):
                raise WorkloadError(f"{self._node()}: pads {pads} with output_padding {out_pad} on a stride-"
                                    f"{stride[i]}, dilation-{dil[i]} axis give an output accelsim's symmetric "
                                    f"transposed conv cannot match")
        out = self.b.conv_transpose2d(x, w[1] * groups, tuple(kernel), tuple(stride), tuple(sym), tuple(extra),
                                      tuple(dil), groups, len(self.node.input) > 2 and bool(self.node.input[2]),
                                      name=self.op_name)
        self._set_pads(pads)
        op = self.b._ops[-1]
        self.b._ops[-1] = dataclasses.replace(op, attrs={**op.attrs, "output_padding": tuple(out_pad)})
        self._set_operands(list(self.node.input[1:]))
        return out

    def _gemm(self) -> str:
        if self._int("transA", 0):
            raise WorkloadError(f"{self.where}: node {self.op_name!r} (Gemm) with transA is not mapped")
        x, wname = self._in(0), self.node.input[1]
        if wname not in self.inits:  # B an activation: a MATMUL, then C added (a parameter when an initializer)
            out = self._matmul(trans_b=bool(self._int("transB", 0)))
            cname = self.node.input[2] if len(self.node.input) > 2 else ""
            if not cname:
                return out
            if cname in self.inits and cname not in self.tensor:
                return self.b.add_param(out, Weight(self._weight(cname), self.inits[cname]), fn="add",
                                        name=self._extra_name(f"{self.op_name}_bias"))
            return self.b.add(out, self._in(2), name=self._extra_name(f"{self.op_name}_bias"))
        w, trans_b = self.inits[wname], self._int("transB", 0)
        if len(w) != 2 or self.b.shape(x)[-1] != w[1 if trans_b else 0]:
            raise WorkloadError(f"{self._node()}: cannot multiply {list(self.b.shape(x))} by B {wname!r} {list(w)}"
                                f"{' transposed' if trans_b else ''} (ONNX Gemm: B is 2-D, (K, N), or (N, K) with "
                                f"transB)")
        out_features = w[0] if trans_b else w[1]
        bias = len(self.node.input) > 2 and bool(self.node.input[2])
        out_shape = (*self.b.shape(x)[:-1], out_features)
        if bias and broadcast_shapes(self._operand_shape(2), out_shape) != out_shape:
            raise WorkloadError(f"{self._node()}: C {self.node.input[2]!r} {list(self._operand_shape(2))} does not "
                                f"broadcast to the output {list(out_shape)}")
        out = self.b.linear(x, out_features, bias=bias, name=self.op_name)
        self._rename_weights(list(self.node.input[1:]))
        return out

    def _matmul(self, trans_b: bool = False) -> str:
        """numpy matmul (:func:`matmul_gemm`): activation × 2-D initializer a linear layer; with another initializer
        operand (1-D, batched, or on the left) a MATMUL holding it as its parameters; two activations a MATMUL."""
        aname, bname = self.node.input[0], self.node.input[1]
        a_init, b_init = aname in self.inits and aname not in self.tensor, bname in self.inits \
            and bname not in self.tensor
        if b_init and not a_init and len(self.inits[bname]) == 2:
            matmul_gemm(self.b.shape(self._in(0)), self.inits[bname], f"{self._node()}")  # the shapes fit
            out = self.b.linear(self._in(0), self.inits[bname][-1], bias=False, name=self.op_name)
            self._rename_weights([bname])
            return out
        if a_init and b_init:
            raise WorkloadError(f"{self.where}: node {self.op_name!r} (MatMul) multiplies two initializers")
        sa = self.inits[aname] if a_init else self.b.shape(self._in(0))
        sb = self.inits[bname] if b_init else self.b.shape(self._in(1))
        if trans_b:
            sb = (*sb[:-2], sb[-1], sb[-2])
        gemm, out_shape = matmul_gemm(tuple(sa), tuple(sb), f"{self.where}: node {self.op_name!r} (MatMul)")
        inputs = [self._in(i) for i, init in ((0, a_init), (1, b_init)) if not init]
        weights = [Weight(self._weight(n), self.inits[n]) for n, init in ((aname, a_init), (bname, b_init)) if init]
        return self.b.matmul(inputs, out_shape, gemm, weights=weights, name=self.op_name)

    def _batchnorm(self) -> str:
        out = self.b.batchnorm(self._in(0), self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

    def _layernorm(self) -> str:
        x = self._in(0)
        if self._int("axis", -1) not in (-1, len(self.b.shape(x)) - 1):
            raise WorkloadError(f"{self.where}: node {self.op_name!r}: LayerNormalization over several axes")
        bias = len(self.node.input) > 2 and bool(self.node.input[2])  # B is optional: a scale only
        out = self.b.layernorm(x, self._float("epsilon", 1e-5), name=self.op_name, bias=bias)
        self._rename_weights(list(self.node.input[1:3 if bias else 2]))
        return out

    def _pool(self) -> str:
        x = self._in(0)
        kernel = self._ints("kernel_shape")  # required by the ONNX spec
        dims = len(kernel)
        fn = "max" if self.node.op_type == "MaxPool" else "avg"
        stride = self._ints("strides", [1] * dims, dims)
        pads, ceil = self._pads(dims), bool(self._int("ceil_mode", 0))
        dil = self._ints("dilations", [1] * dims, dims)
        onnx_pads = None
        if pads == "same":
            onnx_pads, pads = self._same(x, kernel, stride, dil)
            ceil = False  # the SAME output size is already ceil(in / stride)
        if dims == 2 and dil == [1, 1]:
            pool = self.b.maxpool2d if fn == "max" else self.b.avgpool2d
            out = pool(x, tuple(kernel), tuple(stride), tuple(pads), ceil_mode=ceil, name=self.op_name)
        else:
            out = self.b.pool_nd(x, dims, fn, kernel, stride, pads, dil, ceil, name=self.op_name)
        if onnx_pads is not None:
            self._set_pads(onnx_pads)
        return out

    def _global_pool(self) -> str:
        fn = "max" if self.node.op_type == "GlobalMaxPool" else "avg"
        return self.b.adaptive_pool(self._in(0), fn, 1, name=self.op_name)

    def _softmax(self) -> str:
        """Softmax over the last axis; before opset 13 (default axis 1) over the input flattened to 2-D at ``axis``
        (the ONNX operator's older definition): a view to (∏ dims before it, ∏ dims from it), its softmax, a view
        back."""
        x = self._in(0)
        shape = self.b.shape(x)
        old = 0 < self.opset < 13
        axis = self._int("axis", 1 if old else -1)
        if not -len(shape) <= axis < len(shape):
            raise WorkloadError(f"{self._node()}: axis {axis} is out of range for its rank-{len(shape)} input "
                                f"{list(shape)}")
        axis %= len(shape)
        if axis == len(shape) - 1:
            return self.b.softmax(x, name=self.op_name)
        if not old:  # over one axis that is not the last: the same work, 5 flops per element
            return self.b.vector(OpKind.SOFTMAX, [x], shape, "softmax", SOFTMAX_FLOPS, name=self.op_name, dim=axis)
        flat = self.b.view(x, (math.prod(shape[:axis]), math.prod(shape[axis:])),
                           name=self._extra_name(f"{self.op_name}.flatten"))
        y = self.b.softmax(flat, name=self.op_name)
        return self.b.view(y, shape, name=self._extra_name(f"{self.op_name}.unflatten"))

    def _binary(self) -> str | None:
        """Add, Mul, Sub, Div (two operands, broadcast) and Max, Min (one or more): ELEMENTWISE fn "add", "mul",
        "sub", "div", "max", "min", 1 flop per output element and operand after the first (the builders' add and
        mul); an initializer operand is the op's parameter (the builders' add_param: a bias, a scale). A Max / Min
        of one operand is that operand; of constants only, a constant (:meth:`_constant_of`)."""
        fn, names = self.node.op_type.lower(), [n for n in self.node.input if n]
        acts = [i for i, n in enumerate(self.node.input) if n and not self._is_init(n)]
        if not acts:
            return self._constant_of()
        consts = [n for n in names if self._is_init(n)]
        if len(names) == 1:
            return self._in(acts[0])
        if len(names) == 2 and consts:
            x = self._in(acts[0])
            return self.b.add_param(x, Weight(self._weight(consts[0]), self.inits[consts[0]]), fn=fn,
                                    name=self.op_name)
        if len(names) == 2:
            return self.b._binary(self._in(0), self._in(1), fn, self.op_name)
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for n in consts}.values())
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(i) for i in acts], self._out_shape(), fn, len(names) - 1,
                             name=self.op_name, weights=weights)

    def _pow(self) -> str:
        """Pow(x, y): y a constant 2 (torch's ``x.pow(2)`` or ``x ** 2``, as a spelled-out LayerNorm's variance)
        ELEMENTWISE fn "square", 1 flop per element (a multiply); a constant integer n from 3 to 64 (the tanh-GELU's
        x³) fn "ipow", its square-and-multiply count of multiplies per element (bit length + set bits − 2: x³ 2, x⁴
        2), vector_elems = those multiplies; any other y fn "pow", 3 flops (exp(y · log x):
        a log, a multiply, an exp, each one FLOP as :data:`_UNARY_FLOPS` counts a transcendental). A constant
        exponent is no parameter (:data:`_NOT_PARAMS`) and is not read; one that is an activation is read."""
        x, y = self._in(0), self.node.input[1]
        value = self._value(y) if self._is_init(y) else None
        n = float(value.reshape(-1)[0]) if value is not None and value.size == 1 else 0.0
        inputs = [x] if self._is_init(y) else [x, self._in(1)]
        if n == 2.0:
            return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), "square", 1, name=self.op_name)
        if n.is_integer() and 3 <= n <= 64:  # square-and-multiply: x³ = x²·x 2, x⁴ = (x²)² 2, x⁵ 3, ...
            muls, out = int(n).bit_length() + int(n).bit_count() - 2, self._out_shape()
            elems = muls * math.prod(out)
            return self.b._add(self.b._name(self.op_name, "ipow"), OpKind.ELEMENTWISE, inputs, out, flops=elems,
                               vector_elems=elems, fn="ipow", exponent=int(n))
        return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), "pow", 3, name=self.op_name)

    def _clip(self) -> str | None:
        """Clip(x, min, max) (bounds as inputs from opset 11, attributes before): min 0 and max 6 is the builders'
        relu6 (ACTIVATION fn "relu6", 1 flop per element: torch.onnx exports ReLU6 so), min 0 without max their
        relu, any other clamp ACTIVATION fn "clamp", 1 flop per element (a clamp, as relu6), no bound an alias of
        x. A bound that is an activation is one more input the clamp reads."""
        x = self._in(0)
        bounds: list[float | None] = [None, None]
        reads: list[str] = []
        for k, key in enumerate(("min", "max")):
            if 0 < self.opset < 11:
                bounds[k] = None if self._attr(key) is None else self._float(key, 0.0)
                continue
            name = self.node.input[k + 1] if len(self.node.input) > k + 1 else ""
            if name and self._is_init(name):
                bounds[k] = self._scalar(name)
            elif name:
                reads.append(self._in(k + 1))
        lo, hi = bounds
        if lo is None and hi is None and not reads:
            return x
        if not reads and lo == 0 and hi == 6:
            return self.b.relu6(x, name=self.op_name)
        if not reads and lo == 0 and (hi is None or hi == math.inf):
            return self.b.relu(x, name=self.op_name)
        return self.b.vector(OpKind.ACTIVATION, [x, *reads], self._out_shape(), "clamp", 1, name=self.op_name)

    def _reduce(self) -> str:
        """ReduceMean / ReduceSum / ReduceMax / ReduceMin over its axes: POOL fn "avg", "sum", "max", "min" to the
        output shape inference gives (keepdims or not), one add or compare per input element and, for the mean, one
        divide per output element (builders/gnn.py's readout); vector_elems = the input's elements."""
        x = self._in(0)
        elems, out = math.prod(self.b.shape(x)), self._out_shape()
        fn = _REDUCES[self.node.op_type]
        flops = elems + (math.prod(out) if fn == "avg" else 0)
        return self.b._add(self.b._name(self.op_name, fn), OpKind.POOL, [x], out, flops=flops, vector_elems=elems,
                           fn=fn, over="axes", keepdims=bool(self._int("keepdims", 1)))

    def _copy(self) -> str | None:
        """Cast and Pad: a copy of the input into a new tensor, ELEMENTWISE fn "cast" or "pad", 0 flops,
        vector_elems = output elements, as the builders' upsample_nearest copy. A Cast writes its ``to`` type's
        width (``out_dtype``, :data:`ONNX_DTYPES`: fp16 2 bytes, int8 1, ...), so its readers read that many
        bytes, except a cast to the model's own float type (:func:`_model_float`), which writes the workload's
        dtype as every float tensor of an imported model, and to a type of no accelsim dtype (int64, string),
        likewise. Of an initializer, a constant (:meth:`_constant_of`: a Cast of a shape)."""
        if self._is_init(self.node.input[0]):
            return self._constant_of()
        fn = self.node.op_type.lower()
        to = self._int("to") if fn == "cast" else self.model_float
        extra = {"out_dtype": ONNX_DTYPES[to]} if to != self.model_float and to in ONNX_DTYPES else {}
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), fn, 0, name=self.op_name,
                             **extra)

    def _gather(self) -> str | None:
        """Gather(data, indices, axis). Data an initializer holding parameters, axis 0: an embedding look-up,
        EMBEDDING fn "embedding" with the table as its weight and gather_rows = the number of indices, so only the
        gathered rows are read (indices × row bytes, as the builders' embedding); indices that are constants (a
        position table's rows) make it one with no inputs (the builders' table_rows). On another axis every row of
        the table holds gathered elements: ELEMENTWISE fn "gather" reading the table whole, 0 flops. Data an
        activation: a selecting view (fn "index_select") of the gathered elements, which a reader reads as its
        share of the data. Data and indices constants: a constant (a shape's dims)."""
        data, ids = self.node.input[0], self.node.input[1]
        axis, out = self._int("axis", 0), self._out_shape()
        if not self._is_init(data):
            return self.b.view(self._in(0), out, "index_select", name=self.op_name, strict=False, dim=axis)
        if not self._param(data) and self._is_init(ids):
            return self._constant_of()
        inputs = [] if self._is_init(ids) else [self._in(1)]
        table = Weight(self._weight(data), self.inits[data])
        if axis in (0, -len(self.inits[data])):
            rows = math.prod(self.inits[ids]) if self._is_init(ids) else math.prod(self.b.shape(self._in(1)))
            return self.b._add(self.b._name(self.op_name, "embedding"), OpKind.EMBEDDING, inputs, out,
                               weights=[table], fn="embedding", gather_rows=rows)
        return self.b.vector(OpKind.ELEMENTWISE, inputs, out, "gather", 0, name=self.op_name, weights=[table],
                             dim=axis)

    def _gather_nd(self) -> str | None:
        """GatherND(data, indices): data an activation, a selecting view (fn "gather_nd") of the gathered slices,
        which a reader reads as its share of the data (as Gather's); data a parameter, an ELEMENTWISE fn
        "gather_nd" copy reading the table whole, 0 flops (as Gather off axis 0); data and indices constants, a
        constant."""
        data, ids = self.node.input[0], self.node.input[1]
        if not self._is_init(data):
            return self.b.view(self._in(0), self._out_shape(), "gather_nd", name=self.op_name, strict=False,
                               batch_dims=self._int("batch_dims", 0))
        if not self._param(data) and self._is_init(ids):
            return self._constant_of()
        inputs = [] if self._is_init(ids) else [self._in(1)]
        return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), "gather_nd", 0, name=self.op_name,
                             weights=[Weight(self._weight(data), self.inits[data])])

    def _where(self) -> str | None:
        """Where(condition, X, Y): ELEMENTWISE fn "where", 1 flop per output element (a select, as the builders'
        masking counts GPT-2's ``torch.where``: tlayers.MASK_FLOPS), reading its activation operands; a float
        X or Y initializer is its parameter (as an Add's), the condition never (:data:`_NOT_PARAMS`). All three
        constants: a constant."""
        names = list(self.node.input)
        acts = [i for i, n in enumerate(names) if not self._is_init(n)]
        if not acts:
            return self._constant_of()
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for i, n in enumerate(names)
                        if i not in acts and self._is_param(i)}.values())
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(i) for i in acts], self._out_shape(), "where", 1,
                             name=self.op_name, weights=weights)

    def _expand(self) -> str | None:
        """Expand(input, shape): the input broadcast to the output shape, a copy (ELEMENTWISE fn "expand", 0 flops,
        vector_elems = output elements, as Pad's); of a parameter, the copy holds it; of a constant, a constant."""
        data = self.node.input[0]
        if self._is_init(data) and not self._param(data):
            return self._constant_of()
        if self._is_init(data):
            return self.b.vector(OpKind.ELEMENTWISE, [], self._out_shape(), "expand", 0, name=self.op_name,
                                 weights=[Weight(self._weight(data), self.inits[data])])
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "expand", 0, name=self.op_name)

    def _fill(self) -> None:
        """ConstantOfShape: a tensor of one value, shaped as shape inference gives: a constant (no op, no
        parameter: :attr:`computed`) whatever computed its shape, typed as its ``value`` (FLOAT by default)."""
        import onnx

        value = self._attr("value")
        out = self.node.output[0]
        self.inits[out] = self._out_shape()
        self.init_types[out] = value.data_type if isinstance(value, onnx.TensorProto) else onnx.TensorProto.FLOAT
        self.computed.add(out)
        return None

    def _einsum(self) -> str | None:
        """Einsum of one or two operands (:func:`einsum_terms`), each index's extent from the operands' shapes.
        Two operands: the indices in both and the output are the batch, those in both and not the output the
        contraction (k), those in one operand only its free side (m for the first, n for the second): a MATMUL of
        ``batch`` GEMMs m × n × k, MACs = the product of every index extent (``"bij,bjk->bik"``: b·i·j·k); an
        initializer operand is its parameter (as MatMul's). No contraction index (an outer or element-wise
        product): ELEMENTWISE fn "mul", 1 flop per output element. One operand: a permutation (every index kept)
        a view (fn "transpose", free as a Transpose node), one dropping indices a POOL fn "sum", one add per input
        element (as ReduceSum)."""
        terms, out = einsum_terms(self._str("equation", ""), len(self.node.input))  # type: ignore[misc]
        shapes = [tuple(self._operand_shape(i)) for i in range(len(terms))]
        size: dict[str, int] = {}
        for term, shape in zip(terms, shapes, strict=True):
            if len(term) != len(shape):
                raise WorkloadError(f"{self._node()}: term {term!r} has {len(term)} indices, its operand "
                                    f"{list(shape)} {len(shape)} dims")
            for c, d in zip(term, shape, strict=True):
                if size.setdefault(c, d) != d:
                    raise WorkloadError(f"{self._node()}: index {c!r} is {size[c]} in one operand and {d} in "
                                        f"another")
        out_shape = tuple(size[c] for c in out) or (1,)
        consts = [i for i, n in enumerate(self.node.input) if self._is_init(n)]
        if len(consts) == len(terms):
            return self._constant_of()
        inputs = [self._in(i) for i in range(len(terms)) if i not in consts]
        weights = [Weight(self._weight(self.node.input[i]), self.inits[self.node.input[i]]) for i in consts]
        if len(terms) == 1:
            if set(out) == set(terms[0]):
                return self.b.view(inputs[0], out_shape, "transpose", name=self.op_name, equation=terms[0] + "->"
                                   + out)
            elems = math.prod(shapes[0])
            return self.b._add(self.b._name(self.op_name, "sum"), OpKind.POOL, inputs, out_shape, flops=elems,
                               vector_elems=elems, fn="sum", over="axes", keepdims=False)
        a, b = terms
        ext = lambda letters: math.prod(size[c] for c in letters)  # noqa: E731
        batch = [c for c in a if c in b and c in out]
        k = [c for c in a if c in b and c not in out]
        if not k:
            return self.b.vector(OpKind.ELEMENTWISE, inputs, out_shape, "mul", 1, name=self.op_name, weights=weights)
        gemm = Gemm(m=ext(c for c in a if c not in b), n=ext(c for c in b if c not in a), k=ext(k), count=ext(batch))
        return self.b.matmul(inputs, out_shape, gemm, weights=weights, name=self.op_name,
                             equation=",".join(terms) + "->" + out)

    def _slice(self) -> str | None:
        """Slice: a selecting view (fn "slice") of the output's elements, which a reader reads as its share of the
        input; of a constant, a constant."""
        if self._is_init(self.node.input[0]):
            return self._sliced_initializer()
        return self.b.view(self._in(0), self._out_shape(), "slice", name=self.op_name, strict=False)

    def _split(self) -> str | None:
        """Split: one selecting view (fn "slice") per output, of the sizes shape inference gives along ``axis``
        (attrs ``dim`` and ``start``), each read as its share of the input; of a constant, constants."""
        if self._is_init(self.node.input[0]):
            return self._sliced_initializer()
        x = self._in(0)
        shape = self.b.shape(x)
        axis, start = self._int("axis", 0) % len(shape), 0
        for i, out in enumerate(self.node.output):
            part = self._out_shape(out)
            name = self.op_name if i == 0 else self._extra_name(f"{self.op_name}.{i}")
            self.tensor[out] = self.b.view(x, part, "slice", name=name, strict=False, dim=axis, start=start)
            start += part[axis]
        return self.tensor[self.node.output[0]]

    def _sliced_initializer(self) -> str | None:
        """A Slice or Split of an initializer: of one that holds no parameters (a shape, an index list) constants
        (:meth:`_constant_of`); of a parameter, an ELEMENTWISE fn "slice" copy reading it whole (0 flops), so it
        counts once and its bytes are moved."""
        data = self.node.input[0]
        if not self._param(data):
            return self._constant_of()
        table = Weight(self._weight(data), self.inits[data])
        for i, out in enumerate(self.node.output):
            if out and i:
                self.tensor[out] = self.b.vector(OpKind.ELEMENTWISE, [], self._out_shape(out), "slice", 0,
                                                 name=self._extra_name(f"{self.op_name}.{i}"), weights=[table])
        if not self.node.output[0]:
            return None
        return self.b.vector(OpKind.ELEMENTWISE, [], self._out_shape(), "slice", 0, name=self.op_name,
                             weights=[table])

    def _resize(self) -> str:
        """Resize / Upsample to the output shape inference gives. Mode nearest (the default): every output element
        a copy of one input element, ELEMENTWISE fn "upsample_nearest", 0 flops, vector_elems = output elements
        (the builders' upsample_nearest). Mode linear or cubic: each output element a weighted sum of n^d input
        elements, d the resized axes, n 2 (linear) or 4 (cubic): n^d multiplies and n^d − 1 adds per output
        element (the bilinear sample of the builders' deform_conv2d: 4 neighbours, 7 flops), ELEMENTWISE fn
        "upsample_linear" / "upsample_cubic", vector_elems = flops."""
        x = self._in(0)
        shape, out = self.b.shape(x), self._out_shape()
        mode = self._str("mode", "nearest")
        if mode == "nearest":
            return self.b.vector(OpKind.ELEMENTWISE, [x], out, "upsample_nearest", 0, name=self.op_name)
        if mode not in ("linear", "cubic"):
            raise WorkloadError(f"{self._node()}: mode {mode!r} is not an ONNX Resize mode (nearest, linear, cubic)")
        d = sum(a != b for a, b in zip(shape, out, strict=True))
        per = 2 * (2 if mode == "linear" else 4) ** d - 1
        elems = math.prod(out)
        return self.b._add(self.b._name(self.op_name, f"upsample_{mode}"), OpKind.ELEMENTWISE, [x], out,
                           flops=per * elems, vector_elems=per * elems, fn=f"upsample_{mode}")

    def _instancenorm(self) -> str:
        """InstanceNormalization: each sample's channel normalised over its spatial elements, then a per-channel
        scale and shift: the builders' groupnorm with one group per channel (NORM fn "groupnorm", 5 flops per
        element), its scale and B the file's."""
        x = self._in(0)
        out = self.b.groupnorm(x, self.b.shape(x)[1], self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

    def _constant_of(self) -> None:
        """The current node's outputs are constants (a computation on shapes or indices: every input an
        initializer or Constant holding no parameters; a Shape's input any tensor), read by later nodes as
        initializers are, sized as shape inference gives; no op. A Cast's output takes its ``to`` type, a Shape's
        int64. A parameter among the inputs is a one-line error (a computation on weights is not mapped)."""
        import onnx

        key = self.node.op_type
        if key != "Shape":
            params = [n for n in self.node.input if n and (not self._is_init(n) or self._param(n))]
            if params:
                raise WorkloadError(f"{self._node()}: computes on parameter {params[0]!r} alone, which accelsim "
                                    f"does not map")
        first = next((n for n in self.node.input if n), "")
        for out in self.node.output:
            if out:
                self.computed.add(out)
                self.inits[out] = self._out_shape(out)
                self.init_types[out] = self._int("to") if key == "Cast" else onnx.TensorProto.INT64 \
                    if key == "Shape" else self.init_types.get(first, 0)
        return None

    def _value(self, name: str):
        """The values of initializer or Constant ``name`` (a numpy array), or None where the file holds them
        elsewhere (external data, or over :data:`_KEEP_VALUES` elements: dropped for shape inference)."""
        import onnx

        tensor = self.protos.get(name)
        if tensor is None:
            node = self.constants.get(name)
            if node is None:
                return None
            for a in node.attribute:
                if a.name == "value":
                    tensor = a.t
                elif a.name in ("value_float", "value_floats", "value_int", "value_ints"):
                    import numpy as np

                    return np.asarray(onnx.helper.get_attribute_value(a))
            if tensor is None:
                return None
        if math.prod(tensor.dims) > _KEEP_VALUES or tensor.data_location == onnx.TensorProto.EXTERNAL:
            return None
        try:
            return onnx.numpy_helper.to_array(tensor)
        except Exception:  # a damaged tensor: its values are unknown
            return None

    def _scalar(self, name: str) -> float:
        """The one value of initializer or Constant ``name`` (a Clip bound); one of several values, or of values
        the file holds elsewhere, is a one-line error."""
        value = self._value(name)
        if value is None or value.size != 1:
            raise WorkloadError(f"{self._node()}: bound {name!r} is not a scalar whose value the file holds")
        return float(value.reshape(-1)[0])

    def _concat(self) -> str | None:
        if all(self._is_init(n) for n in self.node.input):
            return self._constant_of()  # of shapes' dims (a Reshape's target)
        xs = [self._in(i) for i in range(len(self.node.input))]
        return self.b.concat(xs, dim=self._int("axis", 1), name=self.op_name)

    def _unary(self) -> str:
        if self.node.op_type in _UNARY_FLOPS:
            fn, flops = _UNARY_FLOPS[self.node.op_type]
            return self.b._unary(self._in(0), fn, flops, self.op_name)
        fn = self.node.op_type.lower()
        x = self._in(0)
        if fn in ("relu", "sigmoid"):
            return getattr(self.b, fn)(x, name=self.op_name)
        return self.b.activation(x, fn, name=self.op_name)

    def _recurrent(self) -> str:
        """An ONNX LSTM/GRU/RNN node (one layer, forward or bidirectional) as builders/rnn.py lowers torch's, its
        Y (L, D, N, H) a view of the (L, N, D·H) output. Parameters equal: W, R, B hold both directions' W_ih,
        W_hh, b_ih + b_hh (named as the builder names them).

        Y_h and Y_c (torch.onnx names them whether read or not) are the last step's hidden and cell state of each
        direction (the forward chain's step L−1, the reverse chain's step 0): a CONCAT view (fn "stack") of those
        steps' ops, no work (the builder's cell op stands for both h and c). An initial state initial_h /
        initial_c that is an activation or a graph input is read by each direction's first step (initial_h by its
        recurrent GEMM in place of the builder's zero h₀ input, initial_c by its cell), bidirectional each its
        direction's slice (:meth:`_state_slices`); one that is an initializer (torch's folded zeros) is the
        builder's h₀, not a parameter. sequence_lens and peepholes are not mapped. The node's ops are named under
        :meth:`_block_prefix`."""
        kind, x = self.node.op_type.lower(), self._in(0)
        direction = self._str("direction", "forward")
        acts = self._attr("activations", [])
        if not isinstance(acts, list) or not all(isinstance(a, bytes) for a in acts):
            raise WorkloadError(f"{self._node()}: attribute 'activations' must be a list of strings (got {acts!r:.60})")
        acts = [a.decode("utf-8", "replace") for a in acts]
        unmapped = [n for n in self.node.input[4:5] + self.node.input[7:] if n] + [n for n in self.node.output[3:] if n]
        if direction == "reverse" or unmapped or (self._attr("clip") is not None) \
                or (kind == "gru" and not self._int("linear_before_reset", 0)):
            raise WorkloadError(f"{self.where}: node {self.op_name!r} ({self.node.op_type}): only forward or "
                                f"bidirectional layers without clip, sequence_lens or peepholes (and GRU with "
                                f"linear_before_reset=1, as torch exports) are mapped")
        # hidden_size is optional in ONNX: R (num_directions, G·hidden, hidden) gives it
        x_shape, r_shape = self.b.shape(x), self._operand_shape(2)
        hidden = self._int("hidden_size", r_shape[-1] if len(r_shape) == 3 else None)
        dirs, gates, layout = 2 if direction == "bidirectional" else 1, GATES[kind], self._int("layout", 0)
        expect = {1: (dirs, gates * hidden, x_shape[-1]), 2: (dirs, gates * hidden, hidden), 3: (dirs, 2 * gates * hidden)}
        for i, shape in expect.items():
            if len(self.node.input) > i and self.node.input[i] and tuple(self._operand_shape(i)) != shape:
                raise WorkloadError(f"{self._node()}: input {'WRB'[i - 1]} {self.node.input[i]!r} is "
                                    f"{list(self._operand_shape(i))}; {direction} with hidden_size {hidden} over "
                                    f"{x_shape[-1]} input features needs {list(shape)}")
        prefix = self._block_prefix()
        kw: dict = {"hidden_size": hidden, "bias": len(self.node.input) > 3 and bool(self.node.input[3]),
                    "batch_first": bool(layout), "bidirectional": direction == "bidirectional", "name": prefix}
        if kind == "rnn":
            kw["nonlinearity"] = "relu" if acts[:1] == ["Relu"] else "tanh"
        # Y per the ONNX spec: (seq, num_directions, batch, hidden); layout 1 (batch, seq, num_directions, hidden)
        t, n = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
        states = self._state_slices(prefix, layout, (n, dirs, hidden) if layout else (dirs, n, hidden))
        first_op, inputs_before = len(self.b._ops), set(self.b._inputs)
        out = getattr(self.b, kind)(x, **kw)
        h0s = [name for name in self.b._inputs if name not in inputs_before]  # each direction's zero h₀, in order
        self._initial_states(first_op, h0s, states)
        steps = self.b._ops[-1].inputs  # the stack of every step's hidden state: forward in time order, then reverse
        last = [steps[t - 1], *([steps[t]] if dirs == 2 else [])]
        for i, out_name in enumerate(self.node.output[1:3], start=1):
            if out_name:  # Y_h / Y_c: (num_directions, batch, hidden); layout 1 (batch, num_directions, hidden)
                self.tensor[out_name] = self.b._add(
                    self.b._name(f"{prefix}.{('Y_h', 'Y_c')[i - 1]}", "stack"), OpKind.CONCAT, last,
                    (n, dirs, hidden) if layout else (dirs, n, hidden), fn="stack", dim=1 if layout else 0)
        y = (n, t, dirs, hidden) if layout else (t, dirs, n, hidden)
        return self.b.view(out, y, "onnx_rnn_output", name=f"{prefix}.Y")

    def _block_prefix(self) -> str:
        """The scope a recurrent node's ops are named under (``<prefix>.l0.t0.hh`` by the builder, ``<prefix>.Y``,
        ``<prefix>.Y_h``, ``<prefix>.initial_h_l0`` here): the node's layer name, else the first free ``_1``,
        ``_2``, ... suffix where another node's layer name (reserved: :meth:`_layer_names`) or a name already
        taken is that or starts with it and a dot."""
        others = [r for r in self.reserved if r != self.op_name] + list(self.b._shapes) + list(self.b._blocks)
        prefix, k = self.op_name, 0
        while any(r == prefix or r.startswith(f"{prefix}.") for r in others):
            k += 1
            prefix = f"{self.op_name}_{k}"
        return prefix

    def _state_slices(self, prefix: str, layout: int, shape: tuple[int, ...]) -> dict[int, list[str]]:
        """initial_h / initial_c (inputs 5 and 6) that are activations or graph inputs, checked against the
        spec's ``shape`` ((num_directions, N, H); layout 1 (N, num_directions, H)), as the tensor each
        direction's first step reads: the state itself for one direction; bidirectional, a slice view of each
        direction's part ((1, N, H) at direction d; layout 1 (N, 1, H)), so that the two first steps read the
        state once between them, half each."""
        states: dict[int, list[str]] = {}
        for i in (5, 6):
            name = self.node.input[i] if len(self.node.input) > i else ""
            what = ("initial_h", "initial_c")[i - 5]
            if name and tuple(self._operand_shape(i)) != shape:
                raise WorkloadError(f"{self._node()}: {what} {name!r} is {list(self._operand_shape(i))}; the spec's "
                                    f"shape here is {list(shape)}")
            if not name or self._is_init(name):
                continue
            state, dirs = self._in(i), shape[1 if layout else 0]
            if dirs == 1:
                states[i] = [state]
                continue
            part = (shape[0], 1, shape[2]) if layout else (1, shape[1], shape[2])
            states[i] = [self.b.view(state, part, "slice", f"{prefix}.{what}_l0{suffix}", strict=False,
                                     dim=1 if layout else 0, start=d) for d, suffix in enumerate(("", "_reverse"))]
        return states

    def _initial_states(self, first_op: int, h0s: list[str], states: dict[int, list[str]]) -> None:
        """The initial states (:meth:`_state_slices`: input 5 or 6 → a tensor per direction) read by each
        direction's first step (see :meth:`_recurrent`): initial_h in place of the builder's h₀ input (then no
        longer a graph input), initial_c by the first cell op, which also reads that step's recurrent GEMM."""
        ops = self.b._ops
        firsts = [next(k for k in range(first_op, len(ops)) if h0 in ops[k].inputs) for h0 in h0s]  # recurrent GEMMs
        for i, parts in states.items():
            for h0, j, state in zip(h0s, firsts, parts, strict=True):
                if i == 6:  # initial_c: the direction's first cell, which reads that GEMM's output
                    j = next(k for k in range(j + 1, len(ops)) if ops[k].inputs[:1] == (ops[j].name,))
                op = ops[j]
                reads = tuple(state if r == h0 else r for r in op.inputs) + ((state,) if i == 6 else ())
                ops[j] = dataclasses.replace(op, inputs=reads, in_shapes=tuple(self.b.shape(r) for r in reads))
                if i == 5:
                    del self.b._inputs[h0]

    def _constant(self) -> None:
        """A Constant node: its output is read as an initializer is (a tensor of the file, not an activation)."""
        import onnx

        value, T = self._attr("value"), onnx.TensorProto
        if isinstance(value, onnx.TensorProto):
            dims, dtype = tuple(int(d) for d in value.dims), value.data_type
        elif self._attr("sparse_value") is not None:
            sparse = self._attr("sparse_value")
            dims, dtype = tuple(int(d) for d in sparse.dims), sparse.values.data_type  # type: ignore[union-attr]
        else:  # value_float / value_int / value_string: a scalar; value_floats / _ints / _strings: a vector
            lists = {k: self._attr(k) for k in ("value_floats", "value_ints", "value_strings")}
            dims = next(((len(v),) for v in lists.values() if v is not None), ())  # type: ignore[arg-type]
            kind = next((k for k in (*lists, "value_float", "value_int", "value_string")
                         if self._attr(k) is not None), "value_float")
            dtype = T.FLOAT if "float" in kind else T.INT64 if "int" in kind else T.STRING
        self.inits[self.node.output[0]] = dims or (1,)  # a 0-d scalar: 1 element
        self.init_types[self.node.output[0]] = dtype
        self.constants[self.node.output[0]] = self.node

    def _generic(self) -> None:
        """A node without a mapping (``unsupported: elementwise``): one ELEMENTWISE op per output, 1 flop per output
        element, reading the node's activations; initializers it reads are its parameters, except the shapes,
        indices, counts and quantisation scales :meth:`_is_param` tells apart; so are those its subgraphs (an If's
        branches, a Loop's body) read from this graph, by the same rule for the subgraph's node that reads each."""
        inputs = [self.tensor[n] for n in self.node.input if n in self.tensor]
        reads = [(n, self._is_init(n) and self._is_param(i)) for i, n in enumerate(self.node.input)]
        reads += [(n, self._is_init(n) and self._param(n) and i not in _NOT_PARAMS.get(_op_key(sub), ()))
                  for sub, i, n in _outer_reads(self.node) if n in self.inits]
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for n, param in reads
                        if param}.values())
        for i, out in enumerate(self.node.output):
            if not out:
                continue
            shape = self._out_shape(out)
            name = self.op_name if i == 0 else self._extra_name(f"{self.op_name}.{i}")
            self.tensor[out] = self.b.vector(OpKind.ELEMENTWISE, inputs, shape, f"onnx_{_op_key(self.node)}", 1,
                                             name=name, **({"weights": weights} if i == 0 else {}))

    def _view(self) -> None:
        x = self._in(0)
        self.tensor[self.node.output[0]] = self.b.view(x, self._out_shape(), self.node.op_type.lower(),
                                                       name=self.op_name)


__all__ = ["OnnxParams", "from_onnx", "onnx_workload"]
