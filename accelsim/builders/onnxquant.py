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
    - A QuantizeLinear that is the only reader of such a kernel's output, with every reader of its own output a
      folded DequantizeLinear, fuses into the kernel's epilogue: no op, the kernel writes the int8 / uint8 tensor.

    A Quantize / Dequantize at the float boundary (the graph's float input, a float op's input or output, a graph
    output, a tensor a subgraph reads) stays its own element-wise kernel. TensorRT's developer guide, "Explicit
    Quantization": Q/DQ propagation and fusion run a Conv between DQ and Q nodes as an int8 convolution with int8
    input and output. Probe p119 #3."""
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
    folded = frozenset(d for d, n in dq8.items() if n.input[0] not in init_types and readers.get(d) and all(
        r is not None and r.output and r.output[0] in kernels and i in (0, 1) for r, i in readers[d]))
    epilogue = frozenset(
        n.output[0] for n in graph.node if n.op_type == "QuantizeLinear" and n.output and n.input[0] in kernels
        and [(r.name, i) for r, i in readers[n.input[0]] if r is not None] == [(n.name, 0)]
        and len(readers[n.input[0]]) == 1 and readers.get(n.output[0])
        and all(r is not None and r.output and r.output[0] in folded for r, _ in readers[n.output[0]]))
    return QdqPlan(kernels, folded, epilogue)


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
        op: that kernel writes its type."""
        to = _quantized_type(self.node, self.init_types)
        if self.node.output[0] in self.qdq.epilogue and to in ONNX_DTYPES:
            k, op = next((k, op) for k, op in reversed(list(enumerate(self.b._ops))) if op.name == self._in(0))
            if op.macs and op.dtype == "int8":
                self.b._ops[k] = dataclasses.replace(op, attrs={**op.attrs, "out_dtype": ONNX_DTYPES[to]})
                return op.name
        extra = {"out_dtype": ONNX_DTYPES[to]} if to in ONNX_DTYPES else {}
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "quantize", QUANTIZE_FLOPS,
                             name=self.op_name, **extra)

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
