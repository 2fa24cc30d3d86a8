"""Probe p98 #2: Graph.lint checks each Weight object once per process (the builders share one object between the
graphs of a run's passes), and keeps every check it made: a bad weight equal in value to a good one already checked
(4.0 == 4, True == 1) is still refused, and tied weights of different sizes still name both ops."""

from __future__ import annotations

import pytest

import accelsim.ir as ir
from accelsim.errors import WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight


def _fc(op_name: str, src: str, m: int, k: int, n: int, *weights: Weight) -> Op:
    """A LINEAR op (m×k) · (k×n) in int8: m·n·k MACs, 2·m·n·k FLOPs."""
    return Op(name=op_name, kind=OpKind.LINEAR, inputs=(src,), in_shapes=((m, k),), out_shape=(m, n), dtype="int8",
              weights=weights, macs=m * n * k, flops=2 * m * n * k, gemm=Gemm(m, n, k))


def test_a_shared_weight_object_is_checked_once_across_graphs(monkeypatch):
    calls: list[str] = []
    real = Graph._lint_weight

    def counted(self, op, w):
        calls.append(w.name)
        return real(self, op, w)

    monkeypatch.setattr(Graph, "_lint_weight", counted)
    w = Weight("perfb.shared", (32, 64))
    Graph("g1", [_fc("fc", "x", 8, 64, 32, w)], {"x": (8, 64)})
    Graph("g2", [_fc("fc", "x", 8, 64, 32, w)], {"x": (8, 64)})
    assert calls == ["perfb.shared"]  # the second graph's is the same object: not checked again
    # an equal but distinct object is checked (memoised by identity, not value)
    Graph("g3", [_fc("fc", "x", 8, 64, 32, Weight("perfb.shared", (32, 64)))], {"x": (8, 64)})
    assert calls == ["perfb.shared", "perfb.shared"]


@pytest.mark.parametrize("bad, field", [
    (Weight("perfb.eq", (32, 64.0)), "shape (32, 64.0)"),  # == Weight("perfb.eq", (32, 64)), the same hash
    (Weight("perfb.eq", (32, 64), group_size=True), "group_size True"),  # True == 1
])
def test_a_bad_weight_equal_to_a_checked_one_is_still_refused(bad, field):
    good = Weight("perfb.eq", (32, 64), group_size=1 if "group" in field else 0)
    assert good == bad and hash(good) == hash(bad)
    Graph("ok", [_fc("fc", "x", 8, 64, 32, good)], {"x": (8, 64)})
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_fc("fc", "x", 8, 64, 32, bad)], {"x": (8, 64)})
    assert field in str(e.value) and "'fc'" in str(e.value) and "\n" not in str(e.value)


def test_tied_weights_of_different_sizes_still_name_both_ops_after_both_were_checked():
    a, b = Weight("perfb.tied", (32, 64)), Weight("perfb.tied", (64, 64))
    Graph("ga", [_fc("fc", "x", 8, 64, 32, a)], {"x": (8, 64)})  # each alone is a good weight: checked, remembered
    Graph("gb", [_fc("fc", "x", 8, 64, 64, b)], {"x": (8, 64)})
    with pytest.raises(WorkloadError, match=r"'perfb.tied' is param \(64, 64\) on op 'fc2' but param \(32, 64\) on "
                                            r"op 'fc1'"):
        Graph("g", [_fc("fc1", "x", 8, 64, 32, a), _fc("fc2", "fc1", 8, 32, 64, Weight("other", (64, 32)), b)],
              {"x": (8, 64)})


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(ir, "_LINTED_SIZE", 2)
    ir._LINTED.clear()
    for i in range(5):
        Graph("g", [_fc("fc", "x", 8, 64, 32, Weight(f"perfb.b{i}", (32, 64)))], {"x": (8, 64)})
        assert len(ir._LINTED) <= 2
