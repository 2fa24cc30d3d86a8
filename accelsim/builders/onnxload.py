"""Reading an ONNX model for import (builders/importers.py): its external data checked by size and its small
tensors read, its names checked as text, its graph inputs made concrete before shape inference, and the
helpers that read a node or a value_info as the importer needs."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from ..errors import WorkloadError

_KEEP_VALUES = 1024  # elements: an initializer larger than this is no shape, index list or scale (one per axis)
_DATA_FIELDS = ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


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


BATCH_NAMES = ("batch", "batch_size")
"""Symbolic dim names that say their axis is the batch (torch.onnx.export's usual dynamic_axes names): a graph
input with one of them at an axis other than 0, and none at axis 0, has its batch there (a sequence-first model's
x: (seq, batch, features)), unless an op whose spec makes axis 0 the batch reads it (:data:`_BATCH_FIRST`). Not
``N``: the ONNX spec's batch letter is also the usual name of a point, node or token count (a point cloud's
``[1, 3, N]``, a token list's ``[B, N, 64]``), so an axis so named needs its size from ``dims`` as any other
(probe p95 #2); at axis 0, where the spec puts the batch, it is one (:data:`FIRST_BATCH_NAMES`)."""

FIRST_BATCH_NAMES = (*BATCH_NAMES, "N")
"""Symbolic dim names that, at axis 0, say the model names its batch (:func:`_known_batch_inputs`): a ``dims``
size of a symbolic axis 0 is the batch in a model with one of them there or a :data:`BATCH_NAMES` dim anywhere:
BATCH_NAMES and the ONNX operator spec's N (N of (N, C, D1, ...)), which is the batch only where the spec has it."""


def _batch_axes(graph) -> dict[str, int]:
    """The graph inputs whose batch axis is not axis 0: X, initial_h and initial_c of an LSTM / GRU / RNN with
    layout 0 (the default) have it at axis 1, the ONNX spec's (seq_length, batch_size, input_size) and
    (num_directions, batch_size, hidden_size); with layout 1 they are batch-first. Any other input whose axis 0 is
    not named as a batch (:data:`FIRST_BATCH_NAMES`) and one later axis is (:data:`BATCH_NAMES`: batch or
    batch_size, never N) has it at that axis: a sequence-first model's (seq, batch, features), whose seq a ``dims``
    size would else be taken for the batch (probe p91 #5); not the X of a Conv, pool or norm, whose spec makes axis
    0 the batch (:data:`_BATCH_FIRST`)."""
    import onnx

    axes = {}
    inits = {t.name for t in graph.initializer}
    spec_first = {node.input[0] for node in graph.node if _op_key(node) in _BATCH_FIRST and node.input}
    for v in graph.input:
        named = [d.dim_param for d in v.type.tensor_type.shape.dim]
        at = [i for i, n in enumerate(named) if i > 0 and n in BATCH_NAMES]
        if len(at) == 1 and named[0] not in FIRST_BATCH_NAMES and v.name not in inits | spec_first:
            axes[v.name] = at[0]
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


_BATCH_FIRST = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
                "BatchNormalization", "InstanceNormalization")
"""Op types whose spec names the first axis of their input X the batch (N of (N, C, D1, ...))."""


def _known_batch_inputs(graph, axes: dict[str, int], dims: dict[str, int] | None = None) -> set[str]:
    """The graph inputs whose batch axis is known, not guessed: symbolic in the file (an export's dynamic axis),
    the batch axis of a layout-0 LSTM / GRU / RNN input or one named as a batch (``axes``) or X of an op whose spec
    makes axis 0 the batch (:data:`_BATCH_FIRST`: a Conv's N). Axis 0 of any other input (a GEMM's K, a token
    count) is no batch, and neither is a symbolic one that ``dims`` sizes in a model none of whose inputs names a
    dim as a batch (:data:`BATCH_NAMES` at any axis, :data:`FIRST_BATCH_NAMES` at axis 0): ``x: [seq, 4, 64]``
    with ``dims: {seq: 10}`` has 10 positions, not 10 inferences (probe p91 #5), and ``[B, N, 64]`` with ``dims:
    {B: 2, N: 5}`` names no batch (an N past axis 0 is a count, probe p95 #2); the batch axis that ``batch`` sizes
    is known as it is symbolic."""
    dims = dims or {}
    inits = {t.name for t in graph.initializer}
    spec = set(axes) | {node.input[0] for node in graph.node if _op_key(node) in _BATCH_FIRST and node.input}
    shapes = [list(v.type.tensor_type.shape.dim) for v in graph.input if v.name not in inits]
    named = any(d.dim_param in BATCH_NAMES for shape in shapes for d in shape) or any(
        shape[0].dim_param in FIRST_BATCH_NAMES for shape in shapes if shape)
    known = set(spec)
    for v in graph.input:
        first = list(v.type.tensor_type.shape.dim)[axes.get(v.name, 0):][:1]
        if v.name in inits or not first or first[0].dim_value > 0:
            continue
        if first[0].dim_param in dims and not named and v.name not in spec:
            continue  # a size the user gave a dim in a model that names no batch: not the batch
        known.add(v.name)
    return {v.name for v in graph.input if v.name not in inits} & known


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
            elif d.WhichOneof("value") == "dim_value":  # a number in the file, not a name: workload.dims cannot size
                raise WorkloadError(f"{where}: graph input {v.name!r} axis {axis}: dim {d.dim_value} is not a valid "
                                    f"size (a fixed dim in the file, not a symbolic one); export the model with a "
                                    f"positive size there", key=("path",))  # it, so not "symbolic" (probe p215 #8)
            else:
                missing.append(f"{v.name!r} axis {axis} ({d.dim_param!r})" if d.dim_param else
                               f"{v.name!r} axis {axis} (unnamed)")
    if missing:  # at workload.dims, as the unknown-name error above (probe p91 #6)
        raise WorkloadError(f"{where}: symbolic input dims other than the batch axis need a size: "
                            f"{', '.join(missing)}; set workload.dims.<name>=<size> (from_onnx(..., dims=...), or "
                            f"simulate({{'model': 'onnx', 'path': ..., 'dims': {{...}}}}, ...)); "
                            f"the batch axis (axis 0, or the one named {'/'.join(BATCH_NAMES)}; axis 1 of a "
                            f"layout-0 LSTM/GRU/RNN's X, initial_h or initial_c) takes workload.batch", key=("dims",))
    for v in graph.output:
        for d in v.type.tensor_type.shape.dim:
            if not d.dim_value > 0 and d.dim_param in sizes:
                d.dim_value = sizes[d.dim_param]
    del graph.value_info[:]
    return copy, took_batch


_FOLDS = ("Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Min", "Max", "Reshape", "Unsqueeze", "Squeeze",
          "Concat", "Identity", "Cast", "Gather", "Slice")
"""Op types :func:`fold_integer_constants` evaluates on integer constants: the integer arithmetic and the moves of
small index tensors a TorchScript export computes a shape with."""
_INTEGER_TYPES = (6, 7)  # onnx.proto: INT32, INT64, the types ONNX gives shapes, indices and axes


def fold_integer_constants(model) -> list[str]:
    """Replace in ``model`` (in place) each default-domain node of :data:`_FOLDS` whose inputs are all integer
    constants of at most :data:`_KEEP_VALUES` elements (initializers with their values, Constant nodes, outputs
    folded before it) and whose outputs are integer, by a Constant node of the same name holding its output, as
    ONNX's reference evaluator (``onnx.reference``, the spec's semantics: Mod's sign, Div's truncation) computes
    it; return the names of the nodes folded. ONNX's data propagation does not follow every op (not Mod), so a
    Slice of a Shape whose ends are ``Reshape(Mod(2, 3), [1])`` (torch.onnx's TorchScript export of
    nn.MultiheadAttention) was left unsized (probe p278 #3). Float constants are left alone: they may be weights."""
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph, folded = model.graph, []
    values = _integer_initializers(graph)
    for i, node in enumerate(graph.node):
        if node.domain not in ("", "ai.onnx") or not node.output:
            continue
        if node.op_type == "Constant":
            value = _integer_constant(node)
            if value is not None:
                values[node.output[0]] = value
            continue
        ins = [n for n in node.input if n]
        if node.op_type not in _FOLDS or len(node.output) != 1 or not ins or any(n not in values for n in ins):
            continue
        try:
            out = ReferenceEvaluator(node).run(None, {n: values[n] for n in ins})[0]
        except Exception:  # a node the evaluator refuses (a bad axis): left to shape inference to report
            continue
        if out.dtype.kind not in "iu" or out.size > _KEEP_VALUES:
            continue
        values[node.output[0]] = out
        graph.node[i].CopyFrom(onnx.helper.make_node("Constant", [], [node.output[0]], name=node.name,
                                                     value=numpy_helper.from_array(out, node.output[0])))
        folded.append(node.name)
    return folded


def _integer_initializers(graph) -> dict[str, object]:
    """Name → values of each INT32 / INT64 initializer of at most :data:`_KEEP_VALUES` elements whose values the
    model holds (not external, not dropped: :func:`_concrete_inputs`)."""
    import onnx
    from onnx import numpy_helper

    values = {}
    for t in graph.initializer:
        if t.data_type not in _INTEGER_TYPES or t.data_location == onnx.TensorProto.EXTERNAL \
                or math.prod(t.dims) > _KEEP_VALUES:
            continue
        try:
            value = numpy_helper.to_array(t)
        except Exception:  # no values (dropped) or a damaged tensor
            continue
        if value.size == math.prod(t.dims):
            values[t.name] = value
    return values


def _integer_constant(node):
    """The values of a Constant node holding an integer tensor (``value`` of INT32 / INT64, ``value_int`` or
    ``value_ints``) of at most :data:`_KEEP_VALUES` elements, else None."""
    import numpy as np
    from onnx import numpy_helper

    for a in node.attribute:
        if a.name == "value" and a.t.data_type in _INTEGER_TYPES and math.prod(a.t.dims) <= _KEEP_VALUES:
            try:
                return numpy_helper.to_array(a.t)
            except Exception:  # a damaged tensor
                return None
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints" and len(a.ints) <= _KEEP_VALUES:
            return np.array(list(a.ints), dtype=np.int64)
    return None


def assume_elementwise_shapes(model, infer: Callable) -> tuple[object, list[str]]:
    """``model`` with each output that shape inference left without a shape, of a node of an op ONNX has no schema
    for (a custom domain's: ``com.acme::MyOp``, a vendor's contrib op), given its first activation input's shape
    and type (an element-wise op's), then inferred again (``infer``) so its readers are sized from it, until none is
    left that a shaped input can size; and the nodes so shaped, ``domain::Op 'name'``. For ``unsupported:
    elementwise`` only, whose generic op prices a node as element-wise work anyway (probe p139 #2)."""
    import onnx

    assumed: list[str] = []
    for _ in range(len(model.graph.node)):
        g = model.graph
        known = {v.name: v for v in (*g.input, *g.value_info, *g.output) if _dims(v) is not None}
        inits = {t.name for t in g.initializer}
        outputs = {v.name: v for v in g.output}
        added = False
        for node in g.node:
            if onnx.defs.has(node.op_type, node.domain):
                continue
            src = next((n for n in node.input if n and n not in inits), None)
            missing = [o for o in node.output if o and o not in known]
            if src not in known or not missing:
                continue
            for o in missing:
                v = outputs[o] if o in outputs else g.value_info.add()
                v.name = o
                v.type.CopyFrom(known[src].type)
            assumed.append(f"{_op_key(node)} {node.name!r}")
            added = True
        if not added:
            break
        model = infer(model)
    return model, assumed


def _dims(value_info) -> tuple[int | None, ...] | None:
    """A tensor's shape as shape inference left it, a dim it could not size (symbolic or unknown: a size that
    depends on the data) None, a dim it sized 0 (an empty slice of a shape) 0, and a 0-d shape as (1,); None where
    it gave no shape at all (not even a rank). Graph inputs are concrete by now (``_concrete_inputs``)."""
    t = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else None for d in t.shape.dim) or (1,)


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


def _inner_tensors(node) -> list[tuple[str, str, tuple[int, ...], int, list[tuple[object, int]]]]:
    """(path, name, dims, ONNX data type, readers) for each tensor ``node``'s subgraphs (an If's branches, a Loop's
    or Scan's body, nested ones) hold themselves, in file order: an initializer of one, or a Constant node's output
    in one (its ``value`` / ``sparse_value`` tensor's dims, a ``value_floats`` / ``value_ints`` list's length, a
    scalar's (1,)). ``path``: the attributes on the way, ``then_branch`` or ``body/else_branch``; ``readers``:
    (subgraph node, input index) for each input that reads it, in its subgraph or one nested in it (where no
    nested graph defines the name again)."""
    found: list[tuple[str, str, tuple[int, ...], int, list[tuple[object, int]]]] = []

    def walk(graph, path: str, scope: dict[str, list[tuple[object, int]]]) -> None:
        own = {v.name for v in graph.input} | {o for n in graph.node for o in n.output}
        scope = {k: v for k, v in scope.items() if k not in own}
        held = [(t.name, tuple(int(d) for d in t.dims), t.data_type) for t in graph.initializer]
        held += [(n.output[0], *_constant_info(n)) for n in graph.node
                 if n.op_type == "Constant" and n.domain in ("", "ai.onnx") and n.output and n.output[0]]
        for name, dims, dtype in held:
            scope[name] = []
            found.append((path, name, dims or (1,), dtype, scope[name]))
        for sub in graph.node:
            for i, name in enumerate(sub.input):
                if name in scope:
                    scope[name].append((sub, i))
            for attr, g in _named_subgraphs(sub):
                walk(g, f"{path}/{attr}", scope)

    for attr, g in _named_subgraphs(node):
        walk(g, attr, {})
    return found


def _constant_info(node) -> tuple[tuple[int, ...], int]:
    """The dims (a scalar's ``()``) and ONNX data type of a Constant node's value, as
    ``ImporterCore._constant`` reads them; ``((), FLOAT)`` where it holds none of a known kind."""
    import onnx

    T = onnx.TensorProto
    for a in node.attribute:
        if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
            return tuple(int(d) for d in a.t.dims), a.t.data_type
        if a.name == "sparse_value" and a.type == onnx.AttributeProto.SPARSE_TENSOR:
            return tuple(int(d) for d in a.sparse_tensor.dims), a.sparse_tensor.values.data_type
        lists = {"value_floats": (a.floats, T.FLOAT), "value_ints": (a.ints, T.INT64),
                 "value_strings": (a.strings, T.STRING)}
        if a.name in lists:
            return (len(lists[a.name][0]),), lists[a.name][1]
        if a.name in ("value_int", "value_string"):
            return (), T.INT64 if a.name == "value_int" else T.STRING
    return (), T.FLOAT


def _named_subgraphs(node) -> list:
    """(attribute name, graph) for each graph ``node``'s attributes hold (a GRAPHS list's i-th as ``name[i]``)."""
    import onnx

    return [(a.name, g) if a.type == onnx.AttributeProto.GRAPH else (f"{a.name}[{i}]", g)
            for a in node.attribute for i, g in enumerate([a.g] if a.type == onnx.AttributeProto.GRAPH
                                                          else list(a.graphs))]


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
