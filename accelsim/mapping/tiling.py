"""Tiling: split a GEMM's operands into tiles that fit the SRAM buffers and price the off-chip traffic.

The three operands are A (ifmap, indexed by m and k), B (filter, k and n) and C (ofmap, m and n). A tiling cuts
m, n and k into ``nm``, ``nn`` and ``nk`` near-equal parts and runs the tiles in a loop nest ``order`` (outer,
inner) with k innermost, so partial sums stay in the ofmap buffer and C is written once. An operand is
(re)loaded whenever a loop it depends on advances; loops of count 1 do not count. Its traffic is therefore

    bytes(X) · loads(X) / tiles(X)

where loads(X) is the product of the loop counts from the outermost loop through the innermost loop that X
depends on, and tiles(X) the product of the counts of the loops X depends on; their ratio, the times each byte of
X is read, is the product of the counts of the loops X does not depend on that enclose its innermost one. The search only chooses: for each
k split and order it takes the fewest m and n splits that fit, and keeps the tiling with the least traffic
(then the fewest tiles). Conv halos and the padding of partial tiles are not modelled: a tile of A is
``bytes(A)/(nm·nk)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..errors import MappingError

_DEPS = {"a": ("m", "k"), "b": ("k", "n"), "c": ("m", "n")}
_MAX_SPLIT = 1 << 20


@dataclass(frozen=True, slots=True)
class Tiling:
    """A chosen tiling: split counts, loop order and the off-chip bytes of each operand."""

    nm: int
    nn: int
    nk: int
    order: str  # "mn" (m outer) or "nm"
    a_reads: int  # times each byte of A is loaded
    b_reads: int  # times each byte of B is loaded (C is always stored once)

    @property
    def tiles(self) -> int:
        """Number of tiles (loop-nest iterations)."""
        return self.nm * self.nn * self.nk

    def traffic(self, a: int, b: int, c: int) -> int:
        """Off-chip bytes of operands of a, b and c bytes under this tiling."""
        return a * self.a_reads + b * self.b_reads + c


def _reads(counts: dict[str, int], order: str, operand: str) -> int:
    """loads / tiles of ``operand``: the counts of the loops it does not depend on, outside its innermost one."""
    loops = [(d, counts[d]) for d in (order[0], order[1], "k") if counts[d] > 1]
    deps = _DEPS[operand]
    last = max((i for i, (d, _) in enumerate(loops) if d in deps), default=-1)
    reads = 1
    for d, c in loops[: last + 1]:
        if d not in deps:
            reads *= c
    return reads


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=16384)
def tile_gemm(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
              op: str = "") -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose operands hold a, b, c bytes in buffers of the budgets.

    An operand of 0 bytes (already on chip, or absent) needs no buffer and moves nothing. Raises
    :class:`MappingError` naming ``op`` when even a one-element tile does not fit.
    """
    best: Tiling | None = None
    nk = 1
    while True:
        need_m = _ceil_div(a, max(budget_a, 1) * nk) if a else 1
        need_n = _ceil_div(b, max(budget_b, 1) * nk) if b else 1
        nm, nn = min(max(need_m, 1), m), min(max(need_n, 1), n)
        fits_ab = (not a or a <= budget_a * nm * nk) and (not b or b <= budget_b * nk * nn)
        if fits_ab:
            for order in ("mn", "nm"):
                cm, cn = nm, nn
                # grow the cheaper dimension until the C tile fits
                while c and c > budget_c * cm * cn and (cm < m or cn < n):
                    grow_m = cm < m and (cn >= n or b <= a)
                    if grow_m:
                        cm = min(m, cm * 2)
                    else:
                        cn = min(n, cn * 2)
                if c and c > budget_c * cm * cn:
                    continue
                counts = {"m": cm, "n": cn, "k": nk}
                t = Tiling(cm, cn, nk, order, _reads(counts, order, "a"), _reads(counts, order, "b"))
                if best is None or (t.traffic(a, b, c), t.tiles) < (best.traffic(a, b, c), best.tiles):
                    best = t
        if nk >= k or nk >= _MAX_SPLIT:
            break
        nk = min(k, nk * 2)
    if best is None:
        raise MappingError(
            f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (buffers of {budget_a}, {budget_b} and "
            f"{budget_c} bytes for ifmap, filter and ofmap tiles)")
    return best
