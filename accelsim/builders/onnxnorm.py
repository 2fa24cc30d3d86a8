"""ONNX normalisations, reductions and scans (builders/importers.py): BatchNormalization, LayerNormalization,
RMSNormalization, InstanceNormalization, GroupNormalization, Softmax / LogSoftmax, the Reduce ops, ArgMax / ArgMin, TopK and CumSum."""

from __future__ import annotations

import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import OpKind
from .onnxcore import ImporterCore
from .tlayers import SOFTMAX_FLOPS

_REDUCES: dict[str, tuple[str, int, int]] = {
    # op type → (fn, FLOPs per input element, FLOPs per output element): an add or compare per input element (the
    # mean + a divide per output element, as builders/gnn.py's readout); L1 |x| and an add, L2 and SumSquare x·x
    # and an add (2; L2 + a sqrt per output), LogSumExp exp(x) and an add (2) + a log per output (the spec's
    # log(sum(exp(x))), no max subtracted), LogSum an add + a log per output, Prod a multiply; a transcendental
    # is one FLOP, as the softmax's exp. ArgMax / ArgMin a compare per input element.
    "ReduceMean": ("avg", 1, 1), "ReduceSum": ("sum", 1, 0), "ReduceMax": ("max", 1, 0), "ReduceMin": ("min", 1, 0),
    "ReduceL1": ("l1", 2, 0), "ReduceL2": ("l2", 2, 1), "ReduceSumSquare": ("sum_square", 2, 0),
    "ReduceLogSumExp": ("logsumexp", 2, 1), "ReduceLogSum": ("logsum", 1, 1), "ReduceProd": ("prod", 1, 0),
    "ArgMax": ("argmax", 1, 0), "ArgMin": ("argmin", 1, 0),
}
_SOFTMAXES = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}  # 5 flops per element each (SOFTMAX_FLOPS)


class NormOps(ImporterCore):
    """Normalisation, softmax and reduction nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "BatchNormalization": "_batchnorm", "LayerNormalization": "_layernorm", "RMSNormalization": "_rmsnorm",
        "InstanceNormalization": "_instancenorm", "GroupNormalization": "_groupnorm", "TopK": "_topk",
        "CumSum": "_cumsum", **dict.fromkeys(_SOFTMAXES, "_softmax"), **dict.fromkeys(_REDUCES, "_reduce"),
    }

    def _batchnorm(self) -> str:
        out = self.b.batchnorm(self._in(0), self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

    def _layernorm(self) -> str:
        """LayerNormalization over the axes from ``axis`` on (the last by default): the builders' layernorm (5 flops
        per element); over several trailing axes a norm over their product, the input viewed (…, ∏ those axes)
        (``<node>.flatten``) and the output viewed back (``<node>.unflatten``), free views; scale and B the file's
        as stored."""
        bias = len(self.node.input) > 2 and bool(self.node.input[2])  # B is optional: a scale only
        return self._trailing_norm(lambda x: self.b.layernorm(x, self._float("epsilon", 1e-5), name=self.op_name,
                                                               bias=bias), list(self.node.input[1:3 if bias else 2]))

    def _rmsnorm(self) -> str:
        """RMSNormalization (ai.onnx opset 23: X / sqrt(mean(X²) over the axes from ``axis`` on + epsilon) · scale):
        the builders' rmsnorm (NORM fn "rmsnorm", 4 flops per element, a scale only); over several trailing axes a
        norm over their product, viewed as :meth:`_layernorm` views it; scale the file's as stored. ``stash_type``
        (the statistics' precision) changes no count."""
        return self._trailing_norm(lambda x: self.b.rmsnorm(x, self._float("epsilon", 1e-5), name=self.op_name),
                                   [self.node.input[1]])

    def _trailing_norm(self, norm, weights: list[str]) -> str:
        """``norm`` (a builder norm of one tensor) over the input's axes from ``axis`` on (the last by default): over
        several trailing axes a norm over their product, the input viewed (…, ∏ those axes) (``<node>.flatten``) and
        the output viewed back (``<node>.unflatten``), free views; the norm's weights named the file's ``weights``
        before the view back is made (probe p119 #6: after it, a scale kept the builder's name)."""
        x = self._in(0)
        shape = self.b.shape(x)
        axis = self._int("axis", -1)
        if not -len(shape) <= axis < len(shape):
            raise WorkloadError(f"{self._node()}: axis {axis} is out of range for its rank-{len(shape)} input")
        axis %= len(shape)
        if axis < len(shape) - 1:
            x = self.b.view(x, (*shape[:axis], math.prod(shape[axis:])), "flatten",
                            name=self._extra_name(f"{self.op_name}.flatten"))
        out = norm(x)
        self._rename_weights(weights)
        if axis < len(shape) - 1:
            out = self.b.view(out, shape, "unflatten", name=self._extra_name(f"{self.op_name}.unflatten"))
        return out

    def _instancenorm(self) -> str:
        """InstanceNormalization: each sample's channel normalised over its spatial elements, then a per-channel
        scale and shift: the builders' groupnorm with one group per channel (NORM fn "groupnorm", 5 flops per
        element), its scale and B the file's."""
        x = self._in(0)
        out = self.b.groupnorm(x, self.b.shape(x)[1], self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

    def _groupnorm(self) -> str:
        """GroupNormalization(x, scale, bias; num_groups): each sample's channels in ``num_groups`` groups, each
        group normalised over its channels' elements, then scaled and shifted: the builders' groupnorm (NORM fn
        "groupnorm", 5 flops per element, as InstanceNormalization and LayerNormalization count), its scale and bias
        the file's as stored (per group at opset 18, per channel from opset 21)."""
        x = self._in(0)
        out = self.b.groupnorm(x, self._int("num_groups"), self._float("epsilon", 1e-5), name=self.op_name)
        self._rename_weights(list(self.node.input[1:3]))
        return out

    def _softmax(self) -> str:
        """Softmax or LogSoftmax (:data:`_SOFTMAXES`: fn "softmax" or "log_softmax", 5 flops per element: max,
        subtract, exp, sum and a divide, or for the log a subtract of the row's log-sum) over the last axis, or over
        another with ``dim``; before opset 13 (default axis 1) over the input flattened to 2-D at ``axis`` (the ONNX
        operator's older definition): a view to (∏ dims before it, ∏ dims from it), its softmax, a view back."""
        x = self._in(0)
        shape = self.b.shape(x)
        old = 0 < self.opset < 13
        axis = self._int("axis", 1 if old else -1)
        if not -len(shape) <= axis < len(shape):
            raise WorkloadError(f"{self._node()}: axis {axis} is out of range for its rank-{len(shape)} input "
                                f"{list(shape)}")
        axis %= len(shape)
        fn = _SOFTMAXES[self.node.op_type]
        if axis == len(shape) - 1:
            return self.b.vector(OpKind.SOFTMAX, [x], shape, fn, SOFTMAX_FLOPS, name=self.op_name)
        if not old:  # over one axis that is not the last: the same work, 5 flops per element
            return self.b.vector(OpKind.SOFTMAX, [x], shape, fn, SOFTMAX_FLOPS, name=self.op_name, dim=axis)
        flat = self.b.view(x, (math.prod(shape[:axis]), math.prod(shape[axis:])),
                           name=self._extra_name(f"{self.op_name}.flatten"))
        y = self.b.vector(OpKind.SOFTMAX, [flat], self.b.shape(flat), fn, SOFTMAX_FLOPS, name=self.op_name)
        return self.b.view(y, shape, name=self._extra_name(f"{self.op_name}.unflatten"))

    def _reduce(self) -> str:
        """A Reduce op, ArgMax or ArgMin over its axes (:data:`_REDUCES`): POOL fn "avg", "sum", "max", "min", "l1",
        "l2", "sum_square", "logsumexp", "logsum", "prod", "argmax", "argmin" to the output shape inference gives
        (keepdims or not), its FLOPs per input element times the input's elements plus its FLOPs per output element
        times the output's; vector_elems = the input's elements. ArgMax's int64 indices are written at the
        workload's dtype, as every int64 tensor (units.ONNX_DTYPES gives int64 no dtype)."""
        x = self._in(0)
        elems, out = math.prod(self.b.shape(x)), self._out_shape()
        fn, per_in, per_out = _REDUCES[self.node.op_type]
        flops = per_in * elems + per_out * math.prod(out)
        return self.b._add(self.b._name(self.op_name, fn), OpKind.POOL, [x], out, flops=flops, vector_elems=elems,
                           fn=fn, over="axes", keepdims=bool(self._int("keepdims", 1)))

    def _topk(self) -> str:
        """TopK(x, k): reads x once and writes the k values and the k indices along ``axis``: POOL fn "topk", a
        compare per input element (a selection pass, as ArgMax), out the values (shape inference's, k along the
        axis); the indices (output 1) an ELEMENTWISE fn "topk_indices" copy of as many elements, 0 flops, that
        reads the values op (its k values: the dependency, a few bytes), named ``<node>.1``."""
        x = self._in(0)
        elems, values = math.prod(self.b.shape(x)), self._out_shape()
        out = self.b._add(self.b._name(self.op_name, "topk"), OpKind.POOL, [x], values, flops=elems,
                          vector_elems=elems, fn="topk", over="axes", axis=self._int("axis", -1))
        if len(self.node.output) > 1 and self.node.output[1]:
            self.tensor[self.node.output[1]] = self.b.vector(
                OpKind.ELEMENTWISE, [out], self._out_shape(self.node.output[1]), "topk_indices", 0,
                name=self._extra_name(f"{self.op_name}.1"))
        return out

    def _cumsum(self) -> str:
        """CumSum(x, axis): a scan, ELEMENTWISE fn "cumsum", one add per element; its axis is no parameter."""
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "cumsum", 1, name=self.op_name)
