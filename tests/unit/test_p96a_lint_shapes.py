"""Graph.lint refuses an op's out_shape or in_shapes entry whose sizes are not integers (a float or a bool), as it
refuses them in a graph input's and a Weight's shape (probe p96 #5: out_shape (4.0, 16) was accepted, and
report.json's byte counts came out floats; (True, 64) read as 1 × 64)."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.errors import WorkloadError
from accelsim.ir import Graph, Op, OpKind


def _relu(in_shape, out_shape) -> Graph:
    op = Op(name="r", kind=OpKind.ELEMENTWISE, inputs=("x",), in_shapes=(in_shape,), out_shape=out_shape,
            dtype="bf16", flops=64, vector_elems=64, attrs={"fn": "relu"})
    return Graph("g", [op], {"x": (4, 16)})


@pytest.mark.parametrize(("in_shape", "out_shape", "field", "bad"), [
    ((4, 16), (4.0, 16), "out_shape", "4.0 is not an integer: type float"),
    ((4, 16), (True, 64), "out_shape", "True is not an integer: type bool"),
    ((4.0, 16), (4, 16), "in_shapes[0]", "4.0 is not an integer: type float"),
    ((4, True * 16), (4, 16), None, None),  # True * 16 is the int 16: accepted
])
def test_float_or_bool_sizes_in_an_ops_shapes_are_one_line_errors(in_shape, out_shape, field, bad):
    if field is None:
        _relu(in_shape, out_shape)
        return
    with pytest.raises(WorkloadError) as e:
        _relu(in_shape, out_shape)
    msg = str(e.value)
    assert "\n" not in msg and "op 'r'" in msg and f"has {field} " in msg and bad in msg


def test_integer_sizes_of_other_types_and_lists_are_still_taken():
    _relu([np.int64(4), 16], (4, np.int64(16)))  # numbers.Integral sizes pass the lint, as in a Weight's shape
    # a 4 × 16 bf16 relu: 64 elements × 2 B in and out
    r = accelsim.simulate(_relu([4, 16], [4, 16]), "a100").to_dict()
    assert all(type(b) is int for b in r["bytes"].values())
    assert r["ops"][0]["bytes"]["hbm"] == 64 * 2 * 2


def test_a_float_size_never_reaches_the_report():
    # before: accepted, the report's bytes were {'sram': 1024.0, 'l2': 512.0, 'hbm': 384.0}
    with pytest.raises(WorkloadError, match="out_shape"):
        accelsim.simulate(_relu((4, 16), (4.0, 16)), "a100")
