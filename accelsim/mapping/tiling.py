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

Split buffers (SCALE-Sim's ifmap/filter/ofmap) give each tile its own budget (:func:`tile_gemm`). A unified
buffer (TPU v1's unified buffer, Eyeriss's global buffer, an NPU's SRAM) gives the three one budget
(:func:`tile_gemm_shared`): ``bytes(A)/(nm·nk) + bytes(B)/(nk·nn) + bytes(C)/(nm·nn) ≤ budget``, checked exactly
in integers. Its candidates stay few: for each k split (powers of two, as above) and each m split of a power of
two, the fewest n splits that fit; the same with m and n swapped; and the tiling of the budget cut in thirds
(so sharing never moves more than thirds would).
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


@lru_cache(maxsize=65536)
def _reads(nm: int, nn: int, nk: int, order: str) -> tuple[int, int]:
    """loads / tiles of A and of B: for each, the counts of the loops it does not depend on, outside its innermost
    one (cached: the searches meet the same split counts again and again)."""
    counts = {"m": nm, "n": nn, "k": nk}
    loops = [(d, counts[d]) for d in (order[0], order[1], "k") if counts[d] > 1]
    out = []
    for deps in (_DEPS["a"], _DEPS["b"]):
        last = max((i for i, (d, _) in enumerate(loops) if d in deps), default=-1)
        reads = 1
        for d, c in loops[: last + 1]:
            if d not in deps:
                reads *= c
        out.append(reads)
    return out[0], out[1]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _powers(limit: int) -> list[int]:
    """1, 2, 4, ... below ``limit`` (capped at ``_MAX_SPLIT``), then ``limit`` itself."""
    out, x = [], 1
    while x < min(limit, _MAX_SPLIT):
        out.append(x)
        x *= 2
    return [*out, min(limit, _MAX_SPLIT)]


def _best(candidates: list[tuple[int, int, int]], a: int, b: int, c: int, no_fit: str) -> Tiling:
    """The least-traffic (then fewest-tile, then first) tiling of the split counts in ``candidates``, either order;
    :class:`MappingError` ``no_fit`` when there are none."""
    best, best_key = None, None
    for nm, nn, nk in candidates:
        for order in ("mn", "nm"):
            fa, fb = _reads(nm, nn, nk, order)
            key = (a * fa + b * fb + c, nm * nn * nk)
            if best_key is None or key < best_key:
                best, best_key = Tiling(nm, nn, nk, order, fa, fb), key
    if best is None:
        raise MappingError(no_fit)
    return best


@lru_cache(maxsize=16384)
def tile_gemm(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
              op: str = "") -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose operands hold a, b, c bytes in buffers of the budgets.

    An operand of 0 bytes (already on chip, or absent) needs no buffer and moves nothing. Raises
    :class:`MappingError` naming ``op`` when even a one-element tile does not fit.
    """
    candidates = []
    nk = 1
    while True:
        need_m = _ceil_div(a, max(budget_a, 1) * nk) if a else 1
        need_n = _ceil_div(b, max(budget_b, 1) * nk) if b else 1
        nm, nn = min(max(need_m, 1), m), min(max(need_n, 1), n)
        fits_ab = (not a or a <= budget_a * nm * nk) and (not b or b <= budget_b * nk * nn)
        if fits_ab:
            cm, cn = nm, nn
            # grow the cheaper dimension until the C tile fits
            while c and c > budget_c * cm * cn and (cm < m or cn < n):
                grow_m = cm < m and (cn >= n or b <= a)
                if grow_m:
                    cm = min(m, cm * 2)
                else:
                    cn = min(n, cn * 2)
            if not c or c <= budget_c * cm * cn:
                candidates.append((cm, cn, nk))
        if nk >= k or nk >= _MAX_SPLIT:
            break
        nk = min(k, nk * 2)
    return _best(candidates, a, b, c, f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (buffers of "
                 f"{budget_a}, {budget_b} and {budget_c} bytes for ifmap, filter and ofmap tiles)")


def _fewest(need: int, room: int, limit: int) -> int | None:
    """The fewest splits s ≤ ``limit`` with need ≤ room·s (room < 0: the other tiles alone overflow), else None."""
    if need <= 0:
        return 1 if room >= 0 else None
    if room <= 0:
        return None
    s = _ceil_div(need, room)
    return s if s <= limit else None


@lru_cache(maxsize=16384)
def tile_gemm_shared(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, op: str = "") -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose three tiles share one buffer of ``budget`` bytes.

    A tiling (nm, nn, nk) fits when a/(nm·nk) + b/(nk·nn) + c/(nm·nn) ≤ budget, i.e. (times nm·nn·nk)
    a·nn + b·nm + c·nk ≤ budget·nm·nn·nk. For a fixed nk and nm the traffic never falls as nn grows, so the
    fewest nn that fit, nn = ⌈(b·nm + c·nk) / (budget·nm·nk − a)⌉, is the one to try (likewise nm for a fixed nn).
    Raises :class:`MappingError` naming ``op`` when even a one-element tile does not fit.
    """
    candidates = []
    for nk in _powers(k):
        for nm in _powers(m):
            nn = _fewest(b * nm + c * nk, budget * nm * nk - a, n)
            if nn is not None:
                candidates.append((nm, nn, nk))
                if nn == 1:  # more m splits keep nn = 1 and cannot move less
                    break
        for nn in _powers(n):
            nm = _fewest(a * nn + c * nk, budget * nn * nk - b, m)
            if nm is not None:
                candidates.append((nm, nn, nk))
                if nm == 1:
                    break
    try:  # the budget in thirds (a third each fits the sum): sharing never moves more than that
        thirds = tile_gemm(m, n, k, a, b, c, budget // 3, budget // 3, budget // 3, op)
        candidates.append((thirds.nm, thirds.nn, thirds.nk))
    except MappingError:
        pass
    no_fit = (f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (one {budget}-byte budget shared by the "
              "ifmap, filter and ofmap tiles)")
    return _best(list(dict.fromkeys(candidates)), a, b, c, no_fit)

