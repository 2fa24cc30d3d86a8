"""Vector-unit cost model: element-wise, pooling and normalisation work on a SIMD unit.

An op that needs ``elems`` element operations of function ``fn`` takes ⌈elems · c(fn) / lanes⌉ cycles, where
c(fn) is the unit's lane-cycles per element for that function (``VectorUnit.cost``).
"""

from __future__ import annotations

import math


def cycles(elems: int, cost_per_elem: float, lanes: int) -> int:
    """Cycles for ``elems`` element operations at ``cost_per_elem`` lane-cycles each on ``lanes`` lanes."""
    if elems <= 0:
        return 0
    return max(1, math.ceil(elems * cost_per_elem / lanes))
