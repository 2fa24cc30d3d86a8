"""The ONNX importer's core (builders/importers.py): :class:`ImporterCore` walks one graph's nodes in order, keeps
which ONNX tensor each op holds and which initializers are parameters, and dispatches each node to the method
its op type's family names (the ``HANDLES`` tables of onnxconv.py, onnxmatmul.py, onnxelementwise.py,
onnxnorm.py and onnxshape.py); views, aliases, constants and unmapped nodes are handled here."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import Graph, OpKind, Weight
from ..units import ONNX_DTYPES, dtype_bytes
from .layers import GraphBuilder
from .onnxload import _KEEP_VALUES, _dims, _inner_tensors, _model_float, _op_key, _outer_reads
from .recsys import index_elems
from .rnn import RecurrentBuilder

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
_INPUT_INT_BYTES = {7: 8, 13: 8, 6: 4, 12: 4, 5: 2, 4: 2, 3: 1, 2: 1, 9: 1}
"""Bytes per element of ONNX's integer and bool tensor types (onnx.proto: 7 INT64, 13 UINT64, 6 INT32, 12 UINT32,
5 INT16, 4 UINT16, 3 INT8, 2 UINT8, 9 BOOL): a graph input of one (token ids, a mask) is stored at that width."""
_INT_TYPES = {t: ONNX_DTYPES[t] for t in (2, 3, 4, 5, 6, 12, 21, 22)}
"""ONNX's integer tensor types of an accelsim dtype (onnx.proto: 2 UINT8, 3 INT8, 4 UINT16, 5 INT16, 6 INT32,
12 UINT32, 21 UINT4, 22 INT4) → that dtype: a quantised weight or bias is stored at its width."""


def _broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """Whether an array of shape ``small`` broadcasts onto one of shape ``big`` without growing it (numpy's rules:
    no more dims, and each of its dims, aligned at the right, 1 or equal to ``big``'s)."""
    return len(small) <= len(big) and all(s in (1, b) for s, b in zip(reversed(small), reversed(big), strict=False))


class NotMapped(WorkloadError):
    """A node of a mapped op type that accelsim does not map (a feature of it: a reverse LSTM, a 3-D ConvTranspose):
    raised by a handler before it adds an op, so that :meth:`ImporterCore.run` lists every such node in one error,
    or with ``unsupported: elementwise`` prices it as generic element-wise work. The message is the reason alone."""
_ALIASES = ("Identity", "Dropout")
_PARAM_VIEWS = (*_VIEWS, "Cast")
"""Op types that, on a parameter, are a read of that parameter in another layout or type (a view: no copy, no
op): its output is the same parameter under the node's output shape (:meth:`ImporterCore._param_view`)."""


def unmapped_note(unmapped: dict[str, list[str]]) -> str:
    """The one report note on the nodes ``unsupported=elementwise`` priced as generic element-wise work (op type →
    node names): which op types, how many nodes of each (the first few named), and that their real cost is unknown:
    1 flop per output element stands in for it and any MACs they do are not counted."""
    nodes = sum(len(n) for n in unmapped.values())
    listed = "; ".join(f"{t} ×{len(n)} ({', '.join(n[:3])}{', ...' if len(n) > 3 else ''})"
                       for t, n in unmapped.items())
    return (f"ONNX: {nodes} node(s) of {len(unmapped)} op type(s) accelsim does not map were priced as generic "
            f"element-wise work (workload.unsupported=elementwise: 1 flop per output element, their real cost "
            f"unknown; any MACs they do are not counted in macs): {listed}")


def _renamed(w: Weight, name: str, shape: tuple[int, ...]) -> Weight:
    """Builder weight ``w`` under the file's (or module's) ``name`` and ``shape``, still marked a bias where the
    builder made it one (its ``<op>.bias`` at that position): training then finds the bias by structure, since the
    file's name says nothing (``onnx::Conv_193``)."""
    return dataclasses.replace(w, name=name, shape=shape, bias=w.bias or w.name.endswith(".bias"))


def rename_weights(b: GraphBuilder, names: list[str], shapes: list[tuple[int, ...] | None] | None = None) -> None:
    """Give the last op's parameter tensors ``names`` in order (the file's or module's names; each tensor is then
    counted once by name however many ops read it) and, where ``shapes`` gives one, that shape (the file's or
    module's own: a broadcast bias, a multi-axis norm)."""
    op = b._ops[-1]
    shapes = shapes or [None] * len(names)
    weights = tuple(_renamed(w, n, w.shape if s is None else s) for w, n, s in zip(op.weights, names, shapes,
                                                                                   strict=False))
    b._ops[-1] = dataclasses.replace(op, weights=weights + op.weights[len(weights):])


def set_weights(b: GraphBuilder, weights: list[tuple[str, tuple[int, ...]]]) -> None:
    """Make the last op's parameter tensors exactly ``weights`` ((name, shape) pairs, in order): those the builder
    made are renamed and reshaped, any it made beyond them dropped (a norm without an affine weight or bias)."""
    op = b._ops[-1]
    new = [_renamed(op.weights[i], n, s) if i < len(op.weights) else Weight(n, s)
           for i, (n, s) in enumerate(weights)]
    b._ops[-1] = dataclasses.replace(op, weights=tuple(new))


class ImporterCore:
    """Walks the nodes of one ONNX graph in order, appending builder layers: the state and helpers every op family
    uses; a family class (a subclass) names the op types it imports in ``HANDLES`` (op type → method); a method
    that maps only some nodes of its type raises :class:`NotMapped` with the reason for the others."""

    HANDLES: ClassVar[dict[str, str]] = {"Shape": "_constant_of"}  # op type → the method that imports it

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
        widths = {v.name: _INPUT_INT_BYTES[t] for v in graph.input if v.name in inputs
                  and (t := v.type.tensor_type.elem_type) in _INPUT_INT_BYTES and _INPUT_INT_BYTES[t] !=
                  dtype_bytes(dtype)}  # integer inputs stored at another width than the workload's dtype
        self.b = RecurrentBuilder(name, {n: (index_elems(math.prod(s), dtype, widths[n]),) if n in widths else s
                                         for n, s in inputs.items()}, dtype=dtype)
        self.b.eager_bias = False  # an ONNX Conv's bias stays in its op: no eager PyTorch bias add (layers._eager_bias)
        self.graph = graph
        self.tensor: dict[str, str] = {n: n for n in inputs}  # ONNX tensor → op holding it
        self.names = self._layer_names()
        self.reserved = set(self.names)  # the nodes' layer names: the importer's own extra ops yield to them
        for n in widths:  # its bytes as stored; its readers read it through a free view of its shape
            self.tensor[n] = self.b.view(n, inputs[n], "as_integer", name=self._extra_name(f"{n}.as_integer"),
                                         strict=False)
        self.unmapped: dict[str, list[str]] = {}  # op type → its nodes without a mapping (run)
        tables = [vars(cls) for cls in reversed(type(self).__mro__)]  # each op family's HANDLES
        self.handlers: dict[str, Callable] = {  # op type → the method that imports it
            op: getattr(self, m) for t in tables for op, m in t.get("HANDLES", {}).items()}

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
            if _op_key(node) not in known:
                found.setdefault(_op_key(node), []).append(self.names[i])
        return found

    def run(self, unsupported: str = "error", *, batch: int | None = None, notes: list[str] | None = None) -> Graph:
        """The graph, its meta naming ``batch`` (the model's: the size its inputs' batch axis took; None where they
        differ) and the dtype it computes in. Nodes accelsim does not map, of an op type without a handler or with
        a feature its handler does not map (:class:`NotMapped`), are all listed in one error, or with
        ``unsupported="elementwise"`` priced as generic element-wise work (:meth:`_generic`) with one note;
        ``notes``: the report notes the caller adds (how the batch was chosen)."""
        unmapped = self.unmapped = self._unmapped()
        types = dict(unmapped)  # op type → nodes, before the partly mapped ones join
        partial: list[str] = []  # node 'name' (OpType): why, for each node a handler does not map
        skipped: set[str] = set()  # refusing (unsupported: error): outputs of unmapped nodes and of their readers
        for i, node in enumerate(self.graph.node):
            op_name = self.names[i]
            self.node, self.op_name = node, op_name
            if unsupported == "error" and (_op_key(node) in types or skipped.intersection(node.input)):
                skipped.update(node.output)  # listed (its type) or reading one that is: not imported
                continue
            first = len(self.b._ops)
            try:
                self._import_node()
                self._int_weights(first)
            except NotMapped as e:
                if len(self.b._ops) != first:  # a handler raises before adding an op; anything else is a bug
                    raise
                partial.append(f"node {op_name!r} ({node.op_type}): {e}")
                unmapped.setdefault(_op_key(node), []).append(op_name)
                if unsupported == "error":
                    skipped.update(node.output)
                else:
                    self._generic()
                    self._int_weights(first)
            except WorkloadError as e:  # the builder's own checks name the graph: name the node instead
                text = str(e.args[0]) if e.args else ""
                if text.startswith(f"{self.b.name}: ") and not text.startswith(f"{self.where}: "):
                    raise WorkloadError(f"{self._node()}: {text[len(self.b.name) + 2:]}", key=e.key) from None
                raise
        if unmapped and unsupported == "error":
            listed = ["op types accelsim does not map: " + ", ".join(
                f"{t} ({len(n)}: {n[0]!r}{', ...' if len(n) > 1 else ''})" for t, n in types.items())] if types else []
            if partial:
                listed.append(f"features accelsim does not map: {'; '.join(partial)}")
            raise WorkloadError(f"{self.where}: {'; '.join(listed)}; set workload.unsupported=elementwise to price "
                                f"them as element-wise work (1 flop per output element: any MACs they do are not "
                                f"counted)")
        self._unused_initializers()
        notes = [*(notes or ()), *([unmapped_note(unmapped)] if unmapped else [])]
        outputs = self._float_outputs()
        return self.b.build({"model": "onnx", "source": self.where, "batch": batch, "dtype": self.b.dtype,
                             **({"notes": notes} if notes else {}), **({"loss_outputs": outputs} if outputs else {})})

    def _float_outputs(self) -> tuple[str, ...]:
        """The ops holding the graph's declared outputs other than integer, bool or string ones (float, or of a
        type the file leaves undefined), in the file's order: what a training step puts its loss on
        (builders/training.py), not on every tensor no node reads (an LSTM's unused Y_h and Y_c) nor on integer
        outputs (a TopK's indices)."""
        not_float = {*_INPUT_INT_BYTES, 8, 21, 22}  # the integer and bool types, STRING, INT4 / UINT4
        ops = [self.tensor[v.name] for v in self.graph.output
               if v.type.tensor_type.elem_type not in not_float and v.name in self.tensor]
        made = {op.name for op in self.b._ops}  # an output that is a graph input passed through is no op
        return tuple(dict.fromkeys(op for op in ops if op in made))

    def _import_node(self) -> None:
        """Append the ops of the current node (:attr:`node`, layer :attr:`op_name`)."""
        node, key, unmapped = self.node, _op_key(self.node), self.unmapped
        if key == "Dropout" and self._training_mode():
            self._training_dropout()
        elif key in _ALIASES and node.input[0] in self.inits and node.input[0] not in self.tensor:
            self.inits[node.output[0]] = self.inits[node.input[0]]  # a weight passed through (tied weights)
            self.init_types[node.output[0]] = self.init_types.get(node.input[0], 0)
            self.alias[node.output[0]] = self._weight(node.input[0])
        elif key in _ALIASES:
            self.tensor[node.output[0]] = self._in(0)
        elif key in _PARAM_VIEWS and self._is_init(node.input[0]) and self._param(node.input[0]):
            self._param_view()  # a transposed / reshaped / cast read of a weight (a tied LM head's x @ emb.weightᵀ)
        elif key in _VIEWS and self._is_init(node.input[0]):
            self._constant_of()  # a view of a shape or an index list
        elif key in _VIEWS:
            self._view()
        elif key == "Constant":
            self._constant()
        elif self.op_name in unmapped.get(key, ()):  # this node, not every node of its type: a refused Einsum
            self._generic()                           # leaves the next Einsum mapped (probe p256 #2)
        else:
            first = len(self.b._ops)
            out = self.handlers[node.op_type]()
            self._drop_non_params(first)
            self._qdq_kernel(first)
            if out is not None and node.output and node.output[0]:  # an LSTM may leave Y out and give only Y_h
                self.tensor[node.output[0]] = out

    def _training_mode(self) -> bool:
        """Whether the current Dropout node drops (ONNX Dropout-12/13: its optional input 2, ``training_mode``, a
        bool the file holds, true); false where the input is absent or empty (the spec's default, inference: an
        alias of its input, as torch.onnx exports eval models). One the file does not hold (a graph input) is a
        feature accelsim does not map (:class:`NotMapped`)."""
        node = self.node
        if len(node.input) < 3 or not node.input[2]:
            return False
        value = self._value(node.input[2]) if self._is_init(node.input[2]) else None
        if value is None or value.size != 1:
            raise NotMapped(f"training_mode {node.input[2]!r} is not a value the file holds")
        return bool(value.reshape(-1)[0])

    def _training_dropout(self) -> None:
        """A Dropout with ``training_mode`` true: ``output = data · mask / (1 − ratio)`` and the Bernoulli ``mask``
        (bool) as its second output (the ONNX Dropout-13 spec), priced as the builders' training dropout
        (:meth:`.layers.GraphBuilder.dropout`, also the built-in T5's and GPT-2's under ``mode: training``): a
        ``<node>.mask`` op writing the mask, 1 B per element, then ``<node>`` reading the input and the mask, 2 flops
        per element; the node's ``mask`` output is that op (probe p201 #2: before, a free alias, the mask never
        written). ``ratio`` (input 1) a scalar the file holds, default 0.5. A dropout of an initializer (a weight's:
        DropConnect) is not mapped (:class:`NotMapped`)."""
        node = self.node
        if self._is_init(node.input[0]):
            raise NotMapped("training_mode true on an initializer (a weight's dropout) is not mapped")
        ratio = 0.5
        if len(node.input) > 1 and node.input[1]:
            value = self._value(node.input[1]) if self._is_init(node.input[1]) else None
            if value is None or value.size != 1:
                raise NotMapped(f"ratio {node.input[1]!r} is not a value the file holds")
            ratio = float(value.reshape(-1)[0])
        if ratio <= 0 and len(node.output) > 1 and node.output[1]:
            raise NotMapped("training_mode true with ratio 0 and a mask output is not mapped")
        x, training = self._in(0), self.b.training
        self.b.training = True
        try:
            out = self.b.dropout(x, ratio, name=self.op_name)
        finally:
            self.b.training = training
        self.tensor[node.output[0]] = out
        if out != x and len(node.output) > 1 and node.output[1]:
            self.tensor[node.output[1]] = self.b._ops[-2].name  # the keep-mask op (GraphBuilder.dropout)

    def _unused_initializers(self) -> None:
        """Initializers no node reads, directly, through an Identity (:attr:`alias`) or from a subgraph, are
        parameters the model holds unread: an ``unused_params`` view carries them (the builders' convention:
        ``Graph.params`` counts them, the mapper moves nothing), except those that hold none (:meth:`_param`:
        typed int64, bool or string, or empty). An Identity no node reads, or a graph output, reads nothing: its
        initializer is counted here. Every other initializer a node reads is a parameter of the op it became, or
        an input it reads as no parameter (BatchNormalization's running statistics, an initial state, a shape or
        scale of :data:`_NOT_PARAMS`), so each counts once."""
        read = {self._weight(n) for node in self.graph.node
                for n in (node.input[1:] if node.output and node.output[0] in self.alias else node.input)}
        read.update(self._weight(name) for node in self.graph.node for _, _, name in _outer_reads(node))
        unused = [Weight(t.name, self.inits[t.name]) for t in self.graph.initializer
                  if t.name not in read and self._param(t.name)]
        if unused:
            self.b.unused_params(next(iter(self.tensor)), unused, name=self._extra_name("unused_initializers"))

    def _int_weights(self, first: int) -> None:
        """The weights of the ops made from ``first`` on that are integer initializers in the file (a quantised
        model's int8 / uint8 weights, int32 biases: :data:`_INT_TYPES`) are stored at that width (``Weight.dtype``),
        not the workload's dtype, which every float initializer takes."""
        for k in range(first, len(self.b._ops)):
            op = self.b._ops[k]
            if any(self.init_types.get(w.name) in _INT_TYPES for w in op.weights):
                weights = tuple(dataclasses.replace(w, dtype=_INT_TYPES[self.init_types[w.name]])
                                if self.init_types.get(w.name) in _INT_TYPES else w for w in op.weights)
                self.b._ops[k] = dataclasses.replace(op, weights=weights)

    def _qdq_kernel(self, first: int) -> None:
        """Run the ops a node made from ``first`` on as a QDQ model's integer kernel where it is one: a hook the
        QDQ family overrides (:meth:`.onnxquant.QuantOps._qdq_kernel`); here nothing."""

    def _drop_non_params(self, first: int) -> None:
        """The ops a mapped node made from ``first`` on hold only the initializers that are parameters
        (:meth:`_param`): a Mul by an int64 constant, as a shape computation multiplies, holds none."""
        for k in range(first, len(self.b._ops)):
            op = self.b._ops[k]
            kept = tuple(w for w in op.weights if w.name not in self.inits or self._param(w.name))
            if kept != op.weights:
                self.b._ops[k] = dataclasses.replace(op, weights=kept)

    def _in(self, i: int) -> str:
        """The op holding the node's input ``i``, an activation. An initializer there (the node computes on a
        weight where accelsim maps only activations) is :class:`NotMapped`, listed with the hint to price it with
        ``unsupported: elementwise`` and, where the node reads no activation (an op on a weight alone), to fold it
        into the initializer; a name nothing defined earlier a one-line error."""
        src = self.node.input[i]
        if src not in self.tensor:
            if src in self.inits:
                alone = not any(n in self.tensor for n in self.node.input if n)
                raise NotMapped(f"reads initializer {src!r} as input {i}, where accelsim maps only an activation"
                                + (" (an op on a weight alone: fold it into the initializer, as torch.onnx.export's "
                                   "do_constant_folding=True does)" if alone else ""))
            raise WorkloadError(f"{self._node()}: reads {src!r}, which no graph input, initializer or earlier node "
                                f"defines (the nodes are not in topological order, as the ONNX IR requires?)")
        return self.tensor[src]

    def _written(self, name: str) -> str:
        """The op that writes initializer ``name``'s elements where a node reads it beside activations as one (a
        Concat's class token, the left factor of a MatMul of two initializers), named ``<node>.<initializer>``: a
        parameter an EMBEDDING of its rows at constant indices holding it (the builders' ``table_rows``, as the
        built-in ViT reads its class token: its bytes moved, no flops; training's gradient reaches it through
        its reader), a constant that holds no parameters an ELEMENTWISE fn "fill" writing its elements, 0 flops."""
        shape, op = self.inits[name], self._extra_name(f"{self.op_name}.{self._weight(name)}")
        if self._param(name):
            return self.b.table_rows(shape, Weight(self._weight(name), shape), name=op)
        return self.b.vector(OpKind.ELEMENTWISE, [], shape, "fill", 0, name=op)

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

    def _out_shape(self, out: str | None = None, empty: bool = False) -> tuple[int, ...]:
        """The shape of the node's output ``out`` (its first by default) as shape inference gave it; none, or a dim
        it could not size, is a one-line error: accelsim prices every tensor by its size and never guesses one. A
        dim of 0 (an empty tensor) is one too, unless ``empty`` (a constant: the empty slice of a shape that
        torch.onnx's TorchScript export of nn.MultiheadAttention takes, ``shape[3:]`` of a 3-D tensor)."""
        out = self.node.output[0] if out is None else out
        shape = self.shapes.get(out)
        if shape is None:
            raise WorkloadError(f"{self._node()}: shape inference gave no shape for its output {out!r}, so it cannot "
                                f"be priced")
        if None in shape or (0 in shape and not empty):
            dims = ", ".join("?" if d is None else str(d) for d in shape)
            why = ("an empty tensor" if None not in shape else
                   "a size that depends on the data, or is computed by ops ONNX's data propagation does not follow, "
                   "not only on the input shapes")
            raise WorkloadError(f"{self._node()}: shape inference could not size output {out!r} [{dims}] ({why}), "
                                f"so it cannot be priced")
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

    def _one_element(self, name: str) -> bool:
        """Whether node input ``name`` is an initializer or Constant of one element (0-d, or any shape of size 1):
        an element-wise op reads it as a constant, never a parameter, as torch.onnx exports the constants a model
        computes with (LayerNorm's eps, the attention scale 1/√d, erf-GELU's 1/√2, 1 and 0.5). The rule is by size
        because an ONNX file marks nothing trainable: a per-channel scale or bias (gamma, beta: C elements) stays a
        parameter, and a learned scalar read by an Add or Mul (CLIP's logit_scale) counts as a constant; PRelu's
        slope, a parameter of one element in torch's default nn.PReLU(), stays its parameter (:meth:`_prelu`)."""
        return self._is_init(name) and math.prod(self.inits[name]) == 1

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
                weights.append(_renamed(op.weights[i], self._weight(n), self.inits[n]))
            else:
                inputs.append(self.tensor[n])
                shapes.append(self.b.shape(self.tensor[n]))
        self.b._ops[-1] = dataclasses.replace(op, weights=tuple(weights), inputs=tuple(inputs),
                                              in_shapes=tuple(shapes))

    def _rename_weights(self, names: list[str]) -> None:
        """Name the last op's weights as the file's initializers and shape them as stored."""
        rename_weights(self.b, [self._weight(n) for n in names], [self.inits.get(n) for n in names])

    def _constant_of(self, scalars: bool = False) -> None:
        """The current node's outputs are constants (a computation on shapes or indices: every input an
        initializer or Constant holding no parameters; a Shape's input any tensor), read by later nodes as
        initializers are, sized as shape inference gives; no op. A Cast's output takes its ``to`` type, a Shape's
        int64. A parameter among the inputs is a one-line error (a computation on weights is not mapped);
        ``scalars`` (an element-wise op's) makes one of one element a constant (:meth:`_one_element`), as where the
        op reads an activation: the 1 of torch.onnx's attention scale ``1 / sqrt(head_dim)``, computed from a
        Shape (probe p278 #3)."""
        import onnx

        key = self.node.op_type
        if key != "Shape":
            params = [n for n in self.node.input if n and (not self._is_init(n) or self._param(n))
                      and not (scalars and self._one_element(n))]
            if params:
                raise NotMapped(f"computes on parameter {params[0]!r} alone, which accelsim does not map (fold it "
                                f"into the initializer, as torch.onnx.export's do_constant_folding=True does)")
        first = next((n for n in self.node.input if n), "")
        for out in self.node.output:
            if out:
                self.computed.add(out)
                self.inits[out] = self._out_shape(out, empty=True)
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
        indices, counts and quantisation scales :meth:`_is_param` tells apart and the constants it computes with
        (:meth:`_fallback_constants`); so are those its subgraphs (an If's branches, a Loop's body) read from this
        graph, by the same rule for the subgraph's node that reads each (one of one element a constant), and the
        initializers and Constant nodes' values its subgraphs hold themselves (:meth:`_inner_param`), named as in
        the file, or ``<node>.<path>.<name>`` where that name is taken (two branches each with a ``W``)."""
        inputs = [self.tensor[n] for n in self.node.input if n in self.tensor]
        reads = [(n, self._is_init(n) and self._is_param(i)) for i, n in enumerate(self.node.input)]
        constants = self._fallback_constants([n for n, param in reads if param])
        reads = [(n, param and n not in constants) for n, param in reads]
        reads += [(n, self._is_init(n) and self._param(n) and not self._one_element(n)
                   and i not in _NOT_PARAMS.get(_op_key(sub), ())) for sub, i, n in _outer_reads(self.node)
                  if n in self.inits]
        held = {self._weight(n): Weight(self._weight(n), self.inits[n]) for n, param in reads if param}
        for path, n, dims, dtype, readers in _inner_tensors(self.node):
            if not self._inner_param(dims, dtype, readers):
                continue
            name = n if n not in self.inits and n not in held else f"{self.op_name}.{path}.{n}"
            held[name] = Weight(name, dims)
            self.init_types[name] = dtype  # an integer one (a quantised branch's int8) at its width: _int_weights
        weights = list(held.values())
        for i, out in enumerate(self.node.output):
            if not out:
                continue
            shape = self._out_shape(out)
            name = self.op_name if i == 0 else self._extra_name(f"{self.op_name}.{i}")
            self.tensor[out] = self.b.vector(OpKind.ELEMENTWISE, inputs, shape, f"onnx_{_op_key(self.node)}", 1,
                                             name=name, **({"weights": weights} if i == 0 else {}))

    @staticmethod
    def _inner_param(dims: tuple[int, ...], dtype: int, readers: list[tuple[object, int]]) -> bool:
        """Whether a tensor a subgraph holds itself (:func:`_inner_tensors`: its initializer or a Constant node's
        output) is a parameter of the node holding the subgraph, by the rules the main graph's tensors follow:
        not typed int64, bool or string nor empty (:meth:`_param`), not of one element (a constant:
        :meth:`_fallback_constants`), and not read only as a shape, index, count or scale (:data:`_NOT_PARAMS`);
        one no node reads is held, as :meth:`_unused_initializers` holds the main graph's (probe p256 #1: before,
        none was counted, params 0 for an If whose branches hold their weights)."""
        import onnx

        T = onnx.TensorProto
        return dtype not in (T.INT64, T.BOOL, T.STRING) and math.prod(dims) > 1 and (
            not readers or any(i not in _NOT_PARAMS.get(_op_key(sub), ()) for sub, i in readers))

    def _fallback_constants(self, names: list[str]) -> set[str]:
        """Which of the initializers ``names`` a node priced as element-wise work (:meth:`_generic`) reads as
        constants, not parameters: one of a single element (a 0-d scalar: the 2 of ``W * 2``), and a smaller one
        whose shape broadcasts (numpy's rules: its dims, aligned at the right, each 1 or equal) onto a largest one
        the node reads (a scale or offset broadcast onto a weight: the s of ``W * s``). The node's other
        initializers stay its parameters (the W of ``W * 2``, both of ``W1 + W2``, and weights of other shapes:
        a reverse LSTM's W [1, 4H, I] beside its R [1, 4H, H] and B [1, 8H], a fused MLP's w2 [128, 64] beside its
        w1 [64, 256], a DeformConv's bias [16] beside its weight [16, 8, 3, 3]; probe p201 #1)."""
        sizes = {n: math.prod(self.inits[n]) for n in names}
        largest = max(sizes.values(), default=0)
        targets = [tuple(self.inits[n]) for n, size in sizes.items() if size == largest]
        return {n for n, size in sizes.items() if self._one_element(n)
                or (size < largest and any(_broadcasts(tuple(self.inits[n]), t) for t in targets))}

    def _param_view(self) -> None:
        """A view (Transpose, Reshape, Flatten, Squeeze, Unsqueeze) or Cast of a parameter: its output is read as
        that parameter is (an initializer of the output's shape, the same name: :attr:`alias`, so it counts once),
        as a Gemm's transB reads its B transposed; no op. A tied LM head exported as ``x @ emb.weight.T`` (or
        without constant folding) is then a linear layer reading ``emb.weight``."""
        src, out = self.node.input[0], self.node.output[0]
        self.inits[out] = self._out_shape(out)
        self.init_types[out] = self.init_types.get(src, 0)
        self.alias[out] = self._weight(src)

    def _view(self) -> None:
        x = self._in(0)
        self.tensor[self.node.output[0]] = self.b.view(x, self._out_shape(), self.node.op_type.lower(),
                                                       name=self.op_name)
