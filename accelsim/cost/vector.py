"""Unit kind ``vector``: element-wise, pooling, normalisation and look-up work on a SIMD unit.

An op that needs ``elems`` element operations of function ``fn`` takes ⌈elems · c(fn) / lanes⌉ cycles, where
c(fn) is the unit's lane-cycles per element for that function (``VectorUnit.cost``). Its kernel reads its
activation inputs from memory ``input_passes`` times (``VectorUnit.passes``: 1 unless the unit lists a rule for
``fn``, e.g. a softmax whose long rows are re-read for the max, the sum and the output).
"""

from __future__ import annotations

import math

from ..hardware import Arch, VectorUnit
from ..ir import Op
from . import Priced


def accepts(op: Op) -> int | None:
    """Everything that is not a matmul."""
    return None if op.kind.is_matmul else 1


def macs_per_cycle(spec: VectorUnit) -> int:
    """No MACs (its work is counted in FLOPs)."""
    return 0


def price(op: Op, vu: VectorUnit, arch: Arch) -> Priced:
    """Cycles of ``op``'s element operations on one vector unit."""
    cost = vu.cost(op.fn)
    return Priced(cycles(op.vector_elems, cost, vu.lanes),
                  {"lanes": vu.lanes, "cycles_per_element": cost, "elements": op.vector_elems})


def cycles(elems: int, cost_per_elem: float, lanes: int) -> int:
    """Cycles for ``elems`` element operations at ``cost_per_elem`` lane-cycles each on ``lanes`` lanes."""
    if elems <= 0:
        return 0
    return max(1, math.ceil(elems * cost_per_elem / lanes))


def row_length(op: Op) -> int:
    """Elements of one row of a vector op: its first input's reduced dimension (a norm's ``dim``, else the last;
    the output's last dimension for an op without inputs)."""
    shape = op.in_shapes[0] if op.in_shapes else op.out_shape
    if not shape:
        return 1
    dim = op.reduced_dim
    return int(shape[dim if -len(shape) <= dim < len(shape) else -1])


def input_passes(op: Op, unit: VectorUnit) -> int:
    """Times ``op``'s kernel streams its activation inputs from memory on ``unit`` (1 without a rule)."""
    if not unit.input_passes:
        return 1
    return unit.passes(op.fn, row_length(op), op.elem_bytes)
