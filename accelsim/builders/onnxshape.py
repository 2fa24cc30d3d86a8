"""ONNX data movement (builders/importers.py): gathers, slices, splits, Concat, Expand, ConstantOfShape and Resize:
selecting views of activations, copies, and constants where every input is one."""

from __future__ import annotations

import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import OpKind, Weight
from .onnxcore import ImporterCore


class ShapeOps(ImporterCore):
    """Gather, slice, concat, expand, fill and resize nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "Gather": "_gather", "GatherND": "_gather_nd", "Slice": "_slice", "Split": "_split", "Concat": "_concat",
        "Expand": "_expand", "ConstantOfShape": "_fill", "Resize": "_resize", "Upsample": "_resize",
    }

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

    def _concat(self) -> str | None:
        if all(self._is_init(n) for n in self.node.input):
            return self._constant_of()  # of shapes' dims (a Reshape's target)
        xs = [self._in(i) for i in range(len(self.node.input))]
        return self.b.concat(xs, dim=self._int("axis", 1), name=self.op_name)

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
