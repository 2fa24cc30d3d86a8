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

QUANTIZE_FLOPS = 4
"""QuantizeLinear per element: divide by the scale, round, add the zero point, saturate (clamp) to the type."""
DEQUANTIZE_FLOPS = 2
"""DequantizeLinear per element: subtract the zero point, multiply by the scale."""
_UINT8 = 2  # onnx.TensorProto.UINT8: QuantizeLinear's output type without a zero point (the spec's default)
_EIGHT_BIT = (2, 3)  # onnx.TensorProto.UINT8, INT8: the tensors an integer kernel reads

# the integer op → (the float op it computes, the inputs that are that op's operands in its order, the input whose
# type the output takes: a QLinear op's output zero point; None: int32 accumulators)
_INTEGER_OPS: dict[str, tuple[str, tuple[int, ...], int | None]] = {
    "QLinearConv": ("Conv", (0, 3, 8), 7), "ConvInteger": ("Conv", (0, 1), None),
    "QLinearMatMul": ("MatMul", (0, 3), 7), "MatMulInteger": ("MatMul", (0, 1), None),
}


class QuantOps(ImporterCore):
    """QuantizeLinear, DequantizeLinear and the QOperator integer convolutions and matmuls."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "QuantizeLinear": "_quantize", "DequantizeLinear": "_dequantize", **dict.fromkeys(_INTEGER_OPS, "_integer"),
    }

    def _quantize(self) -> str:
        """QuantizeLinear(x, scale, zero_point): ELEMENTWISE fn "quantize", :data:`QUANTIZE_FLOPS` per element,
        writing the zero point's type (uint8 without one, per the spec; ``output_dtype`` where opset 21 gives it),
        so its readers read that width."""
        zp = self.node.input[2] if len(self.node.input) > 2 else ""
        to = self._int("output_dtype", 0) or (self.init_types.get(zp, _UINT8) if zp else _UINT8)
        extra = {"out_dtype": ONNX_DTYPES[to]} if to in ONNX_DTYPES else {}
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "quantize", QUANTIZE_FLOPS,
                             name=self.op_name, **extra)

    def _dequantize(self) -> str | None:
        """DequantizeLinear(x, scale, zero_point). Of an initializer (a QDQ model's weight): that weight passed
        through, as an Identity of it, so the conv or matmul that reads it holds it as its parameter, stored at its
        file width (int8: 1 byte). Of an activation: ELEMENTWISE fn "dequantize", :data:`DEQUANTIZE_FLOPS` per
        element, writing the workload's dtype (the model's float, as every float tensor of an imported model).
        Where x is 8-bit (int8 / uint8: an initializer's type, else its zero point's, else its QuantizeLinear's
        output) the output is remembered (:attr:`dequantized`): a Conv / MatMul / Gemm whose input and weight are
        both such outputs runs as the integer kernel (:meth:`ImporterCore._qdq_kernel`, int8), the weight's
        dequantisation folded into it."""
        src = self.node.input[0]
        if self._eight_bit(src):
            self.dequantized.add(self.node.output[0])
        if self._is_init(src) and self._param(src):
            self.inits[self.node.output[0]] = self.inits[src]
            self.init_types[self.node.output[0]] = self.init_types.get(src, 0)
            self.alias[self.node.output[0]] = self._weight(src)
            return None
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "dequantize", DEQUANTIZE_FLOPS,
                             name=self.op_name)

    def _eight_bit(self, src: str) -> bool:
        """Whether DequantizeLinear input ``src`` is int8 or uint8: an initializer's own type, else its zero
        point's (the spec gives x and x_zero_point one type), else the type its producer writes (a
        QuantizeLinear's ``out_dtype``)."""
        zp = self.node.input[2] if len(self.node.input) > 2 else ""
        if src in self.init_types:
            return self.init_types[src] in _EIGHT_BIT
        if zp and zp in self.init_types:
            return self.init_types[zp] in _EIGHT_BIT
        producer = next((op for op in reversed(self.b._ops) if op.name == self.tensor.get(src)), None)
        return producer is not None and producer.attrs.get("out_dtype") in ("int8", "uint8")

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
