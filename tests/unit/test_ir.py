"""The op IR: Gemm/Weight arithmetic, Graph totals and Graph.lint."""

from __future__ import annotations

import dataclasses

import pytest

from accelsim.errors import WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight, WeightPool


def _linear(name: str, src: str, rows: int, k: int, n: int, weight: str | None = None) -> Op:
    gemm = Gemm(rows, n, k)
    return Op(name, OpKind.LINEAR, (src,), ((rows, k),), (rows, n), weights=(Weight(weight or f"{name}.weight", (n, k)),),
              macs=gemm.macs, flops=2 * gemm.macs, gemm=gemm)


def test_gemm_macs_multiplies_all_dims_and_count():
    assert Gemm(m=4, n=5, k=6, count=3).macs == 4 * 5 * 6 * 3


def test_weight_numel():
    assert Weight("w", (64, 3, 7, 7)).numel == 64 * 3 * 7 * 7


def test_weight_nbytes_in_each_reading_dtype_after_a_remembered_one():
    # Weight.nbytes remembers its last (op dtype, bytes): a 64×32 weight read in fp16 is 64·32·2 = 4096 B, then in fp32
    # 64·32·4 = 8192 B, and in fp16 again 4096 B
    w = Weight("w", (64, 32))
    assert [w.nbytes("fp16"), w.nbytes("fp32"), w.nbytes("fp16")] == [4096, 8192, 4096]
    # a replace()d copy does not inherit it: int4 with group 32 packs 64·32 / 2 = 1024 B plus 64·32 / 32 = 64 fp16
    # scales of 2 B (units.SCALE_BYTES) = 128 B, whatever the reading op's dtype
    q = dataclasses.replace(w, dtype="int4", group_size=32)
    assert q.nbytes("fp16") == q.nbytes("fp32") == 1024 + 128
    # what it remembered takes no part in equality or hashing
    assert w == Weight("w", (64, 32)) and hash(w) == hash(Weight("w", (64, 32)))


def test_weight_pool_shares_a_weight_only_with_the_same_values():
    pool = WeightPool(size=2)
    a = pool.get("e.0.w", (128, 2048))
    assert pool.get("e.0.w", (128, 2048)) is a
    # the same name with another shape (another tensor-parallel split) or stored otherwise is another Weight
    b = pool.get("e.0.w", (512, 2048))
    assert b == Weight("e.0.w", (512, 2048)) and b != a
    assert pool.get("e.0.w", (512, 2048), dtype="int4", group_size=128) == Weight("e.0.w", (512, 2048), "param",
                                                                                   "int4", 128)
    # full at 2 names: a third drops them all, and a name asked for again is made again, equal
    pool.get("e.1.w", (4, 4))
    pool.get("e.2.w", (4, 4))
    assert len(pool) == 1 and pool.get("e.0.w", (128, 2048)) == a


def test_opkind_classes():
    assert OpKind.CONV.is_matmul and OpKind.CONV_TRANSPOSE.is_matmul and OpKind.LINEAR.is_matmul
    assert not OpKind.POOL.is_matmul
    assert OpKind.CONCAT.is_view and OpKind.RESHAPE.is_view and not OpKind.ACTIVATION.is_view


def test_graph_totals_count_tied_weights_once():
    # two 8→8 linears sharing one weight tensor "tied": params 8·8 once; MACs 2 · (2·8·8)
    a = _linear("a", "x", 2, 8, 8, weight="tied")
    b = _linear("b", "a", 2, 8, 8, weight="tied")
    g = Graph("g", [a, b], {"x": (2, 8)})
    assert g.params == 64
    assert g.macs == 2 * 2 * 8 * 8
    assert g.flops == 2 * g.macs
    assert g.weight_bytes == 64 * 2  # fp16
    # activations: input 2·8 + a 2·8 + b 2·8 elements, 2 bytes each
    assert g.activation_bytes == 3 * 16 * 2
    assert g.consumers("a") == ["b"]
    assert set(g.summary()) >= {"params", "macs", "flops", "ops", "weight_bytes", "activation_bytes"}
    assert "name" in str(g).splitlines()[0] and "b" in str(g)


def test_views_excluded_from_activation_bytes():
    flat = Op("flat", OpKind.RESHAPE, ("x",), ((2, 3, 4),), (2, 12))
    g = Graph("g", [flat], {"x": (2, 3, 4)})
    assert g.activation_bytes == 24 * 2  # only the input (fp16)


def test_lint_catches_duplicate_name():
    with pytest.raises(WorkloadError, match="'a' is defined twice"):
        Graph("g", [_linear("a", "x", 1, 4, 4), _linear("a", "x", 1, 4, 4)], {"x": (1, 4)})


def test_lint_catches_undefined_input():
    with pytest.raises(WorkloadError, match="'b' reads 'nowhere'"):
        Graph("g", [_linear("b", "nowhere", 1, 4, 4)], {"x": (1, 4)})


def test_lint_catches_use_before_definition():
    with pytest.raises(WorkloadError, match="not defined before"):
        Graph("g", [_linear("b", "a", 1, 4, 4), _linear("a", "x", 1, 4, 4)], {"x": (1, 4)})


def test_lint_catches_bad_shapes_and_missing_gemm():
    bad = Op("r", OpKind.ACTIVATION, ("x",), ((1, 4),), (1, 0))
    with pytest.raises(WorkloadError, match="non-positive shape"):
        Graph("g", [bad], {"x": (1, 4)})
    mismatch = Op("r", OpKind.ACTIVATION, ("x",), (), (1, 4))
    with pytest.raises(WorkloadError, match="1 inputs but 0 input shapes"):
        Graph("g", [mismatch], {"x": (1, 4)})
    no_gemm = Op("l", OpKind.LINEAR, ("x",), ((1, 4),), (1, 4))
    with pytest.raises(WorkloadError, match="no GEMM view"):
        Graph("g", [no_gemm], {"x": (1, 4)})
