"""Prices kept across lowerings (accelsim.mapping.pricing): reused on an equal arch, never on a different one."""

from __future__ import annotations

from accelsim import cost
from accelsim.mapping import pricing

from ..conftest import make_arch, relu_op


def _uncached(op, arch):
    specs = arch.core.unit_specs()
    return pricing._price(op, specs, {s.kind: cost.model(s.kind) for s in specs}, arch)


def test_an_equal_arch_reuses_the_prices_and_a_different_one_does_not():
    op = relu_op("r", "x", (256, 512))  # 131,072 elements on the vector unit
    narrow, wide = make_arch(lanes=16), make_arch(lanes=64)
    first = pricing.price_op(op, narrow)
    # a second arch built from the same fields is equal: the very same price tuple comes back (no new pricing)
    assert pricing.price_op(op, make_arch(lanes=16)) is first
    # four times the lanes: the cached 16-lane price must not be returned; the fresh price is what _price gives
    again = pricing.price_op(op, wide)
    assert again == _uncached(op, wide)
    assert again[1] < first[1]  # more lanes, fewer cycles for the same 131,072 elements
    assert pricing.price_op(op, narrow) == first  # and back on the narrow arch: its own price again
