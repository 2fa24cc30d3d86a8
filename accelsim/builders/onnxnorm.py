"""ONNX normalisations and reductions (builders/importers.py): BatchNormalization, LayerNormalization,
InstanceNormalization, Softmax and the Reduce ops."""

from __future__ import annotations

import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import OpKind
from .onnxcore import ImporterCore
from .tlayers import SOFTMAX_FLOPS

_REDUCES = {"ReduceMean": "avg", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


class NormOps(ImporterCore):
    """Normalisation, softmax and reduction nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "BatchNormalization": "_batchnorm", "LayerNormalization": "_layernorm",
        "InstanceNormalization": "_instancenorm", "Softmax": "_softmax", **dict.fromkeys(_REDUCES, "_reduce"),
    }

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

    def _instancenorm(self) -> str:
        """InstanceNormalization: each sample's channel normalised over its spatial elements, then a per-channel
        scale and shift: the builders' groupnorm with one group per channel (NORM fn "groupnorm", 5 flops per
        element), its scale and B the file's."""
        x = self._in(0)
        out = self.b.groupnorm(x, self.b.shape(x)[1], self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

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
