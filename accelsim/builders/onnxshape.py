"""ONNX data movement (builders/importers.py): gathers, scatters, slices, splits, Concat, Expand, Tile, Trilu,
DepthToSpace / SpaceToDepth, ConstantOfShape, Range, OneHot and Resize: selecting views of activations, copies, and
constants where every input is one."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

from ..errors import WorkloadError
from ..ir import OpKind, Weight
from .onnxcore import ImporterCore

_COPIES = {
    # op type → fn of the ops whose output is a copy of its input's elements, moved, repeated or masked: 0 flops,
    # vector_elems = output elements (as Pad's); Trilu's zeroed triangle a masked write, as Pad's zeros
    "Expand": "expand", "Tile": "tile", "DepthToSpace": "depth_to_space", "SpaceToDepth": "space_to_depth",
    "Trilu": "trilu",
}
_GATHERS = {"GatherND": "gather_nd", "GatherElements": "gather_elements"}


class ShapeOps(ImporterCore):
    """Gather, slice, concat, expand, fill and resize nodes."""

    HANDLES: ClassVar[dict[str, str]] = {  # op type → the method that imports it
        "Gather": "_gather", "GatherND": "_gather_nd", "Slice": "_slice", "Split": "_split", "Concat": "_concat",
        "ConstantOfShape": "_fill", "Resize": "_resize", "Upsample": "_resize", "Range": "_range",
        "ScatterND": "_scatter", "ScatterElements": "_scatter", "OneHot": "_one_hot",
        **dict.fromkeys(_COPIES, "_copy_out"), **dict.fromkeys(_GATHERS, "_gather_nd"),
    }

    def _gather(self) -> str | None:
        """Gather(data, indices, axis). Data an initializer holding parameters, axis 0: an embedding look-up,
        EMBEDDING fn "embedding" with the table as its weight and gather_rows = the number of indices, so only the
        gathered rows are read (indices × row bytes, as the builders' embedding); indices that are constants (a
        position table's rows) make it one with no inputs (the builders' table_rows). On another axis a the same
        look-up of the table's contiguous runs after a (the table held as (∏ dims to a, ∏ dims after a), attr
        ``dim``): each of the ∏ dims before a outer rows gives one run per index, so ∏ dims before a × indices
        runs are read, each in whole access granules, not the whole table (probe p115 #8: W (100, 1000), axis 1,
        10 indices: 1,000 one-element runs, where the table's 200,000 B were read). Data an
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
        shape = self.inits[data]
        if not -len(shape) <= axis < len(shape):
            raise WorkloadError(f"{self._node()}: axis {axis} is out of range for {data!r} {list(shape)}")
        axis %= len(shape)
        picked = math.prod(self.inits[ids]) if self._is_init(ids) else math.prod(self.b.shape(self._in(1)))
        if axis:  # rows of the table's contiguous runs after the axis: each outer row's picked runs
            table = dataclasses.replace(table, shape=(math.prod(shape[:axis + 1]), math.prod(shape[axis + 1:])))
        return self.b._add(self.b._name(self.op_name, "embedding"), OpKind.EMBEDDING, inputs, out,
                           weights=[table], fn="embedding", gather_rows=math.prod(shape[:axis]) * picked,
                           **({"dim": axis} if axis else {}))

    def _gather_nd(self) -> str | None:
        """GatherND(data, indices) and GatherElements(data, indices, axis) (:data:`_GATHERS`: fn "gather_nd",
        "gather_elements"): data an activation, a selecting view of the gathered elements, which a reader reads as
        its share of the data (as Gather's); data a parameter, an ELEMENTWISE copy reading the table whole, 0 flops
        (as Gather off axis 0); data and indices constants, a constant."""
        data, ids = self.node.input[0], self.node.input[1]
        fn = _GATHERS[self.node.op_type]
        if not self._is_init(data):
            attrs = {"batch_dims": self._int("batch_dims", 0)} if fn == "gather_nd" else {"dim": self._int("axis", 0)}
            return self.b.view(self._in(0), self._out_shape(), fn, name=self.op_name, strict=False, **attrs)
        if not self._param(data) and self._is_init(ids):
            return self._constant_of()
        inputs = [] if self._is_init(ids) else [self._in(1)]
        return self.b.vector(OpKind.ELEMENTWISE, inputs, self._out_shape(), fn, 0, name=self.op_name,
                             weights=[Weight(self._weight(data), self.inits[data])])

    def _copy_out(self) -> str | None:
        """Expand (the input broadcast to the output shape), Tile (repeated), DepthToSpace / SpaceToDepth (its
        elements permuted between channels and pixels) and Trilu (a triangle kept, the rest zeroed): a copy writing
        the output (:data:`_COPIES`: ELEMENTWISE fn "expand", "tile", "depth_to_space", "space_to_depth", "trilu", 0
        flops, vector_elems = output elements, as Pad's); of a parameter, the copy holds it; of a constant, a
        constant (a causal mask's Trilu of a ConstantOfShape: folded), and so is an Expand or Tile of a Constant
        node whose elements all hold one value (:meth:`_fill_constant`: that value's ConstantOfShape, as torch.onnx
        writes an LSTM's zero h₀ / c₀, ``Expand(Constant zeros [1, 1, H])``; probe p278 #1: they were parameters, a
        2-layer LSTM(128, 256) 925,194 where torch counts 924,170). The shape, repeats and k inputs are no
        parameters."""
        data, fn = self.node.input[0], _COPIES[self.node.op_type]
        if self._is_init(data) and fn in ("expand", "tile") and self._fill_constant(data):
            out = self.node.output[0]  # a fill, as ConstantOfShape's (:meth:`_fill`): a constant, no parameter
            self.inits[out] = self._out_shape()
            self.init_types[out] = self.init_types.get(data, 0)
            self.computed.add(out)
            return None
        if self._is_init(data) and not self._param(data):
            return self._constant_of()
        if self._is_init(data):
            return self.b.vector(OpKind.ELEMENTWISE, [], self._out_shape(), fn, 0, name=self.op_name,
                                 weights=[Weight(self._weight(data), self.inits[data])])
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), fn, 0, name=self.op_name)

    def _fill_constant(self, name: str) -> bool:
        """Whether ``name`` is a Constant node's output (not an initializer: torch.onnx stores a model's parameters
        as initializers) whose elements all hold one value, so that broadcasting it (Expand, Tile) is the
        ConstantOfShape fill of that value, which holds no parameter (:meth:`_fill`)."""
        import numpy as np
        import onnx

        node = self.constants.get(name)
        if node is None:
            return False
        tensor = next((a.t for a in node.attribute if a.name == "value"), None)
        try:  # a value tensor of any size (a Constant node keeps its values); value_float(s) / value_int(s) too
            values = onnx.numpy_helper.to_array(tensor) if tensor is not None else self._value(name)
        except Exception:  # a damaged tensor: its values are unknown
            return False
        if values is None:
            return False
        return values.size > 0 and bool(np.all(values == values.reshape(-1)[0]))

    def _range(self) -> str | None:
        """Range(start, limit, delta): with every input a constant (``torch.arange`` position ids), a constant of
        the length shape inference gives (no op, no parameter: :attr:`computed`), as a shape computation's result;
        else a generated sequence, ELEMENTWISE fn "range" writing its output (0 flops, output bytes only), reading
        the inputs that are activations."""
        names = list(self.node.input)
        if all(self._is_init(n) for n in names):
            out = self.node.output[0]
            self.inits[out] = self._out_shape()
            self.init_types[out] = self.init_types.get(names[0], 0)
            self.computed.add(out)
            return None
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(i) for i, n in enumerate(names) if not self._is_init(n)],
                             self._out_shape(), "range", 0, name=self.op_name)

    def _scatter(self) -> str | None:
        """ScatterND(data, indices, updates) and ScatterElements(data, indices, updates): the data copied with the
        updates written in, ELEMENTWISE fn "scatter_nd" / "scatter_elements" over the output (data's shape),
        vector_elems = output elements; 0 flops, or with ``reduction`` add / mul / max / min one per update element.
        It reads its activation operands; a data or updates initializer holding parameters is its parameter, the
        indices never. Every input a constant: a constant."""
        names = list(self.node.input)
        acts = [i for i, n in enumerate(names) if n and not self._is_init(n)]
        if not acts:
            return self._constant_of()
        weights = list({self._weight(n): Weight(self._weight(n), self.inits[n]) for i, n in enumerate(names)
                        if i != 1 and n and self._is_init(n) and self._is_param(i)}.values())
        updates = math.prod(self._operand_shape(2))
        out = self._out_shape()
        fn = "scatter_nd" if self.node.op_type == "ScatterND" else "scatter_elements"
        flops = 0 if self._str("reduction", "none") == "none" else updates
        return self.b._add(self.b._name(self.op_name, fn), OpKind.ELEMENTWISE, [self._in(i) for i in acts], out,
                           weights=weights, flops=flops, vector_elems=math.prod(out), fn=fn)

    def _one_hot(self) -> str | None:
        """OneHot(indices, depth, values): ELEMENTWISE fn "one_hot" writing the output (the indices' shape with a
        depth axis), one compare per output element (its position against the index, selecting the on or off
        value), reading the indices; depth and values are no parameters. Constant indices: a constant."""
        if self._is_init(self.node.input[0]):
            return self._constant_of()
        return self.b.vector(OpKind.ELEMENTWISE, [self._in(0)], self._out_shape(), "one_hot", 1, name=self.op_name)

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
        """Concat along ``axis``: a CONCAT view of its inputs (each producer writes its part in place). Of constants
        only, a constant (a Reshape's target shape). An initializer beside activations is written by an op of its
        own, named ``<node>.<initializer>``: a parameter (a batch-1 ViT's class token after constant folding,
        ``torch.cat([cls_token, x], 1)``) read as the builders' class token is, an EMBEDDING of its rows at constant
        indices holding it (:meth:`_written`: its bytes moved, no flops); a constant that holds no parameters (a
        zeros fill) an ELEMENTWISE fn "fill" writing its elements, 0 flops."""
        if all(self._is_init(n) for n in self.node.input):
            return self._constant_of()  # of shapes' dims (a Reshape's target)
        xs = [self._in(i) if not self._is_init(n) else self._written(n) for i, n in enumerate(self.node.input)]
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
