"""ONNX quantised operators (builders/importers.py): the QDQ form's QuantizeLinear / DequantizeLinear and the
QOperator form's QLinearConv, QLinearMatMul, ConvInteger and MatMulInteger. Integer tensors take their file width:
an int8 / uint8 weight is read at 1 byte an element, an int32 bias at 4 (:meth:`ImporterCore._int_weights`), a
Quantize's output at its zero point's width; the integer convolutions and matmuls compute in int8 (the unit's int8
rate, where the arch gives one) with their MACs counted as the float ones'."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ..ir import OpKind
from ..units import ONNX_DTYPES
from .onnxcore import ImporterCore
from .onnxload import _outer_reads

QUANTIZE_FLOPS = 4
"""QuantizeLinear per element: divide by the scale, round, add the zero point, saturate (clamp) to the type."""
DEQUANTIZE_FLOPS = 2
"""DequantizeLinear per element: subtract the zero point, multiply by the scale."""
_UINT8 = 2  # onnx.TensorProto.UINT8: QuantizeLinear's output type without a zero point (the spec's default)
_EIGHT_BIT = (2, 3)  # onnx.TensorProto.UINT8, INT8: the tensors an integer kernel reads
_KERNELS = ("Conv", "MatMul", "Gemm")  # the float ops a QDQ model quantises into an integer kernel
_EPILOGUE_ACTS = ("Relu", "Clip", "LeakyRelu", "Sigmoid")
"""The point-wise activations TensorRT's QDQ fusion runs in an integer kernel's epilogue, between the kernel and its
output QuantizeLinear (:func:`qdq_plan`)."""

# the integer op → (the float op it computes, the inputs that are that op's operands in its order, the input whose
# type the output takes: a QLinear op's output zero point; None: int32 accumulators)
_INTEGER_OPS: dict[str, tuple[str, tuple[int, ...], int | None]] = {
    "QLinearConv": ("Conv", (0, 3, 8), 7), "ConvInteger": ("Conv", (0, 1), None),
    "QLinearMatMul": ("MatMul", (0, 3), 7), "MatMulInteger": ("MatMul", (0, 1), None),
}


@dataclasses.dataclass(frozen=True)
class QdqPlan:
    """How a QDQ model's quantised kernels fuse (:func:`qdq_plan`); ONNX tensor names throughout."""

    kernels: frozenset[str] = frozenset()
    """The first outputs of the Conv / MatMul / Gemm nodes that run as integer kernels."""
    folded: frozenset[str] = frozenset()
    """Outputs of the activation DequantizeLinears every reader of which is such a kernel: no op, the kernels read
    the 8-bit tensor."""
    epilogue: frozenset[str] = frozenset()
    """Outputs of the QuantizeLinears fused into the integer kernel they read: no op, the kernel writes their type."""
    chains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """For each fused QuantizeLinear's output: the tensors from its kernel's output to the Quantize's input, each
    the only input on the way of the next node (an activation of :data:`_EPILOGUE_ACTS`, or a residual Add), the
    kernel's output first; one tensor where the Quantize reads the kernel directly."""

    def chain(self, q: str) -> tuple[str, ...]:
        """The tensors fused QuantizeLinear output ``q``'s kernel writes through (:attr:`chains`)."""
        return dict(self.chains).get(q, ())


def _quantized_type(node, init_types: dict[str, int]) -> int:
    """The ONNX type QuantizeLinear ``node`` writes: its ``output_dtype`` (opset 21), else its zero point's, else
    uint8 (the spec's default)."""
    to = next((a.i for a in node.attribute if a.name == "output_dtype"), 0)
    zp = node.input[2] if len(node.input) > 2 else ""
    return to or (init_types.get(zp, _UINT8) if zp else _UINT8)


def qdq_plan(graph, init_types: dict[str, int]) -> QdqPlan:
    """TensorRT's explicit-quantisation (QDQ) fusion of ``graph``, read off its structure before any node imports.

    - A Conv / MatMul / Gemm whose input and weight (both MatMul operands) are each a DequantizeLinear of an 8-bit
      tensor (int8 / uint8: an initializer's type, else its zero point's, else what its QuantizeLinear or QLinear
      producer writes) runs as the integer kernel its QOperator form (QLinearConv / QLinearMatMul) is.
    - An activation's DequantizeLinear whose every reader is such a kernel folds into them: no op, the kernels read
      the 8-bit tensor (1 byte an element), as a weight's DequantizeLinear already folds into its reader.
    - A QuantizeLinear that reads such a kernel's output, directly or through a chain of nodes each the only reader
      of the one before (point-wise activations of :data:`_EPILOGUE_ACTS` with constant other inputs, and at most
      one residual Add whose other operand is an 8-bit DequantizeLinear's output), with every reader of its own
      output a folded DequantizeLinear, fuses into the kernel's epilogue: no op, the kernel writes the int8 /
      uint8 tensor, the chain's nodes running in that epilogue (:attr:`QdqPlan.chains`). A residual's
      DequantizeLinear read only by such kernels and Adds folds too (the epilogue reads the 8-bit tensor).

    A Quantize / Dequantize at the float boundary (the graph's float input, a float op's input or output, a graph
    output, a tensor a subgraph reads) stays its own element-wise kernel. TensorRT's developer guide, "Explicit
    Quantization": Q/DQ propagation and fusion run a Conv between DQ and Q nodes as an int8 convolution with int8
    input and output; its "Q/DQ Layer-Placement Recommendations" fuse a linear op followed by an activation, and
    conv + BN + ReLU, into one kernel, and a conv whose residual input xf1 is quantized to INT8 writes INT8 with the
    trailing Q fused into it (its figures 4, 5 and 7). Probe p119 #3, p139 #1."""
    producer = {o: n for n in graph.node for o in n.output if o}
    readers: dict[str, list] = {}  # tensor → (node, input index) of each reader; (None, -1): no node's input
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                readers.setdefault(name, []).append((node, i))
        for _, _, name in _outer_reads(node):
            readers.setdefault(name, []).append((None, -1))
    for v in graph.output:
        readers.setdefault(v.name, []).append((None, -1))

    def eight_bit(dq) -> bool:
        src, zp = dq.input[0], dq.input[2] if len(dq.input) > 2 else ""
        if src in init_types:
            return init_types[src] in _EIGHT_BIT
        if zp and zp in init_types:
            return init_types[zp] in _EIGHT_BIT
        p = producer.get(src)
        if p is not None and p.op_type == "QuantizeLinear":
            return _quantized_type(p, init_types) in _EIGHT_BIT
        if p is not None and p.op_type in _INTEGER_OPS and _INTEGER_OPS[p.op_type][2] is not None:
            out_zp = _INTEGER_OPS[p.op_type][2]
            return (init_types.get(p.input[out_zp], _UINT8) if len(p.input) > out_zp else _UINT8) in _EIGHT_BIT
        return False

    dq8 = {n.output[0]: n for n in graph.node if n.op_type == "DequantizeLinear" and n.output and eight_bit(n)}
    kernels = frozenset(n.output[0] for n in graph.node if n.op_type in _KERNELS and n.output
                        and len(n.input) >= 2 and n.input[0] in dq8 and n.input[1] in dq8)
    folded, chains = _epilogue_chains(graph, init_types, producer, readers, dq8, kernels)
    return QdqPlan(kernels, folded, frozenset(chains), tuple((q, c) for q, (c, _) in chains.items()))


def _epilogue_chains(graph, init_types: dict[str, int], producer: dict, readers: dict[str, list], dq8: dict,
                     kernels: frozenset[str]) -> tuple[frozenset[str], dict[str, tuple[tuple[str, ...], str | None]]]:
    """The epilogue fusion of :func:`qdq_plan`: (the folded DequantizeLinear outputs, and for each QuantizeLinear
    output fused into a kernel's epilogue, (the tensors from that kernel's output to the Quantize's input, the
    residual DequantizeLinear output an Add on the way reads, else None)). ``producer``: tensor → the node writing
    it; ``readers``: tensor → (node, input index) of each reader, (None, -1) for none's; ``dq8``: 8-bit
    DequantizeLinear output → its node; ``kernels``: the integer kernels' outputs. A fused Add folds its residual's
    DequantizeLinear, which may let another Quantize fuse: repeated until the folded set is settled."""

    def sole(t: str, node) -> bool:  # node is tensor t's only reader, as its first input or an Add's operand
        return len(readers.get(t, ())) == 1 and readers[t][0][0] is node

    def back(t: str, adds: int) -> tuple[tuple[str, ...], str | None] | None:
        """(the tensors from a kernel's output to ``t``, the residual DequantizeLinear output an Add on the way
        reads), or None where ``t`` is no such chain's end."""
        if t in kernels:
            return (t,), None
        p = producer.get(t)
        if p is None or [o for o in p.output if o] != [t]:
            return None
        if p.op_type in _EPILOGUE_ACTS and p.input and all(not n or n in init_types for n in p.input[1:]):
            found = back(p.input[0], adds) if sole(p.input[0], p) else None
            return None if found is None else ((*found[0], t), found[1])
        if p.op_type == "Add" and adds == 0 and len(p.input) == 2:
            best = None
            for j in (0, 1):
                src, res = p.input[j], p.input[1 - j]
                found = back(src, 1) if sole(src, p) and res in dq8 and res not in init_types else None
                if found is not None and (best is None or order[found[0][0]] > order[best[0][0]]):
                    best = ((*found[0], t), res)  # of two kernels, the later (fusion.py's rule)
            return best
        return None

    order = {o: k for k, n in enumerate(graph.node) for o in n.output if o}

    def fold(fused: set[str]) -> frozenset[str]:  # the DequantizeLinears only kernels and fused Adds read
        return frozenset(d for d, n in dq8.items() if n.input[0] not in init_types and readers.get(d) and all(
            r is not None and r.output and ((r.output[0] in kernels and i in (0, 1)) or r.output[0] in fused)
            for r, i in readers[d]))

    chains: dict[str, tuple[tuple[str, ...], str | None]] = {}
    folded = fold(set())
    while True:  # a fused Add folds its residual's DequantizeLinear, which may let another Quantize fuse
        for n in graph.node:
            if (n.op_type == "QuantizeLinear" and n.output and n.input and n.output[0] not in chains
                    and sole(n.input[0], n) and (found := back(n.input[0], 0)) is not None
                    and readers.get(n.output[0]) and all(r is not None and r.output and r.output[0] in folded
                                                         for r, _ in readers[n.output[0]])):
                chains[n.output[0]] = found
        more = fold({t for c, res in chains.values() if res is not None for t in c})
        if more == folded:
            break
        folded = more
    return folded, chains


class QuantOps(ImporterCore):
    """QuantizeLinear, DequantizeLinear and the QOperator integer convolutions and matmuls."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "QuantizeLinear": "_quantize", "DequantizeLinear": "_dequantize", **dict.fromkeys(_INTEGER_OPS, "_integer"),
    }

    @property
    def qdq(self) -> QdqPlan:
        """This graph's QDQ fusion (:func:`qdq_plan`), worked out at its first use."""
        plan = self.__dict__.get("_qdq_plan")
        if plan is None:
            plan = self.__dict__["_qdq_plan"] = qdq_plan(self.graph, self.init_types)
        return plan

    def _quantize(self) -> str:
        """QuantizeLinear(x, scale, zero_point): ELEMENTWISE fn "quantize", :data:`QUANTIZE_FLOPS` per element,
        writing the zero point's type (uint8 without one, per the spec; ``output_dtype`` where opset 21 gives it),
        so its readers read that width. One fused into the integer kernel it reads (:attr:`QdqPlan.epilogue`) is no
        op: that kernel writes its type (:meth:`_fuse_epilogue`)."""
        to = _quantized_type(self.node, self.init_types)
        if self.node.output[0] in self.qdq.epilogue and to in ONNX_DTYPES and self._fuse_epilogue(ONNX_DTYPES[to]):
            return self._in(0)
        extra = {"out_dtype": ONNX_DTYPES[to]} if to in ONNX_DTYPES else {}
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "quantize", QUANTIZE_FLOPS,
                             name=self.op_name, **extra)

    def _fuse_epilogue(self, to: str) -> bool:
        """Fuse the current QuantizeLinear, writing dtype ``to``, into the epilogue of the integer kernel its
        :meth:`QdqPlan.chain` starts from: the kernel writes ``to``, and so does each op of the chain after it (its
        activations and residual add, marked ``epilogue_of`` the kernel, which fuses them into it whatever the
        core's ``output_path`` lists: ``mapping/fusion.py``); the add computes in ``to`` too, its residual being
        the 8-bit tensor. False (nothing changed) where the kernel is not an int8 op or an op of the chain is not
        one op of this graph."""
        ops = {op.name: k for k, op in enumerate(self.b._ops)}
        names = [self.tensor.get(t) for t in self.qdq.chain(self.node.output[0])]
        if not names or any(n not in ops for n in names) or len(set(names)) != len(names):
            return False
        kernel = self.b._ops[ops[names[0]]]
        if not (kernel.macs and kernel.dtype == "int8"):
            return False
        self.b._ops[ops[names[0]]] = dataclasses.replace(kernel, attrs={**kernel.attrs, "out_dtype": to})
        for n in names[1:]:
            op = self.b._ops[ops[n]]
            dtype = to if op.kind is OpKind.ELEMENTWISE else op.dtype
            self.b._ops[ops[n]] = dataclasses.replace(op, dtype=dtype, attrs={**op.attrs, "out_dtype": to,
                                                                              "epilogue_of": kernel.name})
        return True

    def _dequantize(self) -> str | None:
        """DequantizeLinear(x, scale, zero_point). Of an initializer (a QDQ model's weight): that weight passed
        through, as an Identity of it, so the conv or matmul that reads it holds it as its parameter, stored at its
        file width (int8: 1 byte). Of an activation that only integer kernels read (:attr:`QdqPlan.folded`): no op,
        they read the 8-bit x. Of any other activation: ELEMENTWISE fn "dequantize", :data:`DEQUANTIZE_FLOPS` per
        element, writing the workload's dtype (the model's float, as every float tensor of an imported model); an
        integer kernel among its readers still reads the 8-bit x (:meth:`_qdq_kernel`)."""
        src = self.node.input[0]
        if self._is_init(src) and self._param(src):
            self.inits[self.node.output[0]] = self.inits[src]
            self.init_types[self.node.output[0]] = self.init_types.get(src, 0)
            self.alias[self.node.output[0]] = self._weight(src)
            return None
        if self.node.output[0] in self.qdq.folded:
            return self._in(0)
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "dequantize", DEQUANTIZE_FLOPS,
                             name=self.op_name)

    def _qdq_kernel(self, first: int) -> None:
        """A QDQ model's quantised Conv / MatMul / Gemm (:attr:`QdqPlan.kernels`) runs as the integer kernel its
        QOperator form (QLinearConv / QLinearMatMul) is, as TensorRT's explicit quantisation and onnxruntime's QDQ
        fusion run it: the ops with MACs made from ``first`` on compute in int8, read the 8-bit tensors their
        DequantizeLinears read (an unfolded one's op, which a float reader also reads, is passed over), and write
        the model's float (the file's output of the node is float), unless a QuantizeLinear after it fuses into
        their epilogue (:meth:`_quantize`). Probe p115 #2, p119 #3."""
        node = self.node
        if node.op_type not in _KERNELS or not node.output or node.output[0] not in self.qdq.kernels:
            return
        dq_ops = {self.tensor[n]: self.tensor[d.input[0]] for n in node.input[:2]
                  if n in self.tensor and (d := self._producer(n)) is not None and d.op_type == "DequantizeLinear"
                  and d.input[0] in self.tensor and self.tensor[n] != self.tensor[d.input[0]]}
        for k in range(first, len(self.b._ops)):
            op = self.b._ops[k]
            if op.macs:
                self.b._ops[k] = dataclasses.replace(op, dtype="int8", inputs=tuple(dq_ops.get(i, i) for i in op.inputs),
                                                     attrs={**op.attrs, "out_dtype": self.b.dtype})

    def _producer(self, name: str):
        """The node of this graph that writes tensor ``name`` (None: a graph input or an initializer)."""
        return next((n for n in self.graph.node if name in n.output), None)

    def _integer(self) -> str | None:
        """QLinearConv / ConvInteger / QLinearMatMul / MatMulInteger: the Conv or MatMul they compute (over the
        same operands and attributes: the same MACs, shapes and parameters), computing in int8 (their operands are
        8-bit), writing the output zero point's type (QLinear*) or int32 (the *Integer ops' accumulators)."""
        import onnx

        op_type, operands, out_zp = _INTEGER_OPS[self.node.op_type]
        node = self.node
        proxy = onnx.NodeProto()
        proxy.CopyFrom(node)
        proxy.op_type = op_type
        del proxy.input[:]
        proxy.input.extend(node.input[i] if i < len(node.input) else "" for i in operands)
        while proxy.input and not proxy.input[-1]:
            del proxy.input[-1]
        first = len(self.b._ops)
        self.node = proxy
        try:
            out = self.handlers[op_type]()
        finally:
            self.node = node
        to = self.init_types.get(node.input[out_zp], _UINT8) if out_zp is not None and len(node.input) > out_zp \
            else onnx.TensorProto.INT32 if out_zp is None else _UINT8
        for k in range(first, len(self.b._ops)):
            op = self.b._ops[k]
            if op.macs:
                self.b._ops[k] = dataclasses.replace(op, dtype="int8",
                                                     attrs={**op.attrs, "out_dtype": ONNX_DTYPES[to]})
        return out
