"""Probe p87's energy findings, by hand: a composed row's zero MACs and collective adds counted once per execution
(#1, #2)."""

from __future__ import annotations

import pytest

from accelsim.energy import executed_flops, executed_macs
from accelsim.energy.model import reduce_flops


def _pruned_row(count: int | None) -> dict:
    """An op row of a 2:4-pruned linear on an array that runs the dense K (TPU v4: executed_k == k): one execution
    is a 64 x 32 GEMM over K = 128 of which 64 weights are kept; ``count`` executions (None: a plain run's row)."""
    m, n, k = 64, 32, 128
    runs = 1 if count is None else count
    row = {"unit": "core0.systolic", "kind": "linear", "macs": m * n * (k // 2) * runs,
           "flops": 2 * m * n * (k // 2) * runs, "bytes": {},
           "mapping": {"gemm": [m, n, k, 1], "sparsity": {"pattern": "2:4", "k": k, "executed_k": k,
                                                         "skips_zeros": False}}}
    if count is not None:
        row["count"] = count
    return row


@pytest.mark.parametrize("count", [None, 1, 10, 2528])
def test_a_composed_pruned_row_executes_the_dense_macs_of_every_execution(count):
    # macs count the kept 64 of K = 128 for each execution; the array multiplies all 128: 64 x 32 x 128 per
    # execution, x count (before: x 1, whatever the count: a 10-execution row executed 10 x 131,072 kept + 131,072
    # zeros = 1,441,792 MACs instead of 2,621,440)
    runs = 1 if count is None else count
    row = _pruned_row(count)
    assert executed_macs(row) == 64 * 32 * 128 * runs
    assert executed_flops(row) == 2 * 64 * 32 * 128 * runs


def test_a_collective_rows_adds_are_counted_for_every_execution():
    # a ring all-reduce over 8 chips of a 16 x 8192 decode activation: each execution adds (8 - 1)/8 x 16 x 8192 =
    # 114,688 elements (mapping.reduce_flops is one execution's); a composed row standing for 2,528 executions adds
    # 2,528 x 114,688 = 289,931,264 (probe p87 #2: it counted 114,688)
    adds = (8 - 1) * 16 * 8192 // 8
    assert adds == 114_688
    row = {"unit": "core0.link", "kind": "collective", "macs": 0, "flops": 0, "bytes": {},
           "mapping": {"reduce_flops": adds}, "count": 2528}
    assert reduce_flops(row) == 289_931_264 == executed_flops(row)
    assert reduce_flops({**row, "count": None}) == adds  # not a composed row: one execution
    assert reduce_flops({k: v for k, v in row.items() if k != "count"}) == adds
