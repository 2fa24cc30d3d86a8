"""Tiling: split a GEMM's operands into tiles that fit the SRAM buffers and price the off-chip traffic.

The three operands are A (ifmap, indexed by m and k), B (filter, k and n) and C (ofmap, m and n). A tiling cuts
m, n and k into ``nm``, ``nn`` and ``nk`` near-equal parts and runs the tiles in a loop nest ``order`` (outer,
inner) with k innermost, so partial sums stay in the ofmap buffer and C is written once. The ``c`` the searches
take is what C's tiles hold in the buffer: its partial sums, at the accumulator's width where that is wider than
the output's, or on an output-stationary array, whose PEs hold the partial sums, its outputs (the caller scales it: :func:`accelsim.mapping.traffic.sram_reads`), so the bytes of C written are
the caller's too (:meth:`Tiling.traffic` of the output's own bytes). An operand is
(re)loaded whenever a loop it depends on advances; loops of count 1 do not count. Its traffic is therefore

    bytes(X) · loads(X) / tiles(X)

where loads(X) is the product of the loop counts from the outermost loop through the innermost loop that X
depends on, and tiles(X) the product of the counts of the loops X depends on; their ratio, the times each byte of
X is read, is the product of the counts of the loops X does not depend on that enclose its innermost one. The search
(:func:`tile_gemm`) finds the least traffic over every split count (then the fewest tiles among its candidates).
Conv halos and the padding of partial tiles are not modelled: a tile of A is
``bytes(A)/(nm·nk)``.

Split buffers (SCALE-Sim's ifmap/filter/ofmap) give each tile its own budget (:func:`tile_gemm`). A unified
buffer (TPU v1's unified buffer, Eyeriss's global buffer, an NPU's SRAM) gives the three one budget
(:func:`tile_gemm_shared`): ``bytes(A)/(nm·nk) + bytes(B)/(nk·nn) + bytes(C)/(nm·nn) ≤ budget``, checked exactly
in integers. Its candidates stay few: for each k split of a power of two and each m split of a power of
two, the fewest n splits that fit; the same with m and n swapped; and the tiling of the budget cut in thirds
(so sharing never moves more than thirds would).

Both searches take the array's fold grain (:func:`fold_caps`): on a systolic array a tile covers whole array folds
along the dimensions the dataflow lays on the array's rows and columns (ws: k and n; os: m and n; is: k and m), so
it splits each of them at most into its fold count (⌈K/R⌉ for ws's k), the tiles ⌈F/n⌉ or ⌊F/n⌋ whole folds of
the F along it, and the tiles' folds are the whole GEMM's: the compute the fold model prices (:mod:`accelsim.cost.
folds`) and the bytes the tiling moves describe one schedule. SCALE-Sim's SRAM holds fold operands the same way.
That schedule streams each fold's whole temporal dimension (os k, ws m, is n) at once, so the searches cut an os
array's k only in tiles of one fold whose chunks run back to back (:func:`_fold_split`, probe p100 #1; ws and is
keep their least-traffic cuts, a known gap).
Only where no such tiling fits (a buffer smaller than one fold's operands beside the rest) does the search drop the
grain and pick narrower tiles, and :attr:`Tiling.whole_folds` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..cost.folds import DATAFLOWS
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
    whole_folds: bool = True  # each tile covers whole array folds (False: no such tiling fits, :func:`fold_caps`)

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


class FoldCaps(tuple):
    """:func:`fold_caps`' (m, n, k) split limits, carrying ``temporal``: the dimension the dataflow streams through
    the array in time ("k" for os, "m" for ws, "n" for is). Equal to the plain tuple of its counts; two of them are
    equal only with the same ``temporal`` too (the search caches keep os's and ws's apart)."""

    temporal: str

    def __new__(cls, m: int, n: int, k: int, temporal: str) -> FoldCaps:
        caps = super().__new__(cls, (m, n, k))
        caps.temporal = temporal
        return caps

    def __getnewargs__(self) -> tuple:  # type: ignore[override]
        return (*self, self.temporal)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FoldCaps) and other.temporal != self.temporal:
            return False
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


def fold_caps(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> FoldCaps:
    """The most splits of m, n and k that keep every tile whole folds of a rows×cols array of ``dataflow``: the
    fold count ⌈S/R⌉ (⌈S/C⌉) of the dimension on the array's rows (columns), the dimension itself for the one
    streamed in time (ws on gemmini's 16×16, 49×512×4608: (49, 32, 288)), which the searches split only in tiles
    of one fold (:func:`_fold_split`)."""
    df = DATAFLOWS[dataflow]
    dims = {"m": m, "n": n, "k": k}
    caps = dict(dims)
    caps[df.spatial_rows] = _ceil_div(dims[df.spatial_rows], rows)
    caps[df.spatial_cols] = _ceil_div(dims[df.spatial_cols], cols)
    return FoldCaps(caps["m"], caps["n"], caps["k"], df.temporal)


def array_caps(details: dict, m: int, n: int, k: int) -> tuple[int, int, int] | None:
    """:func:`fold_caps` of an m×n×k GEMM on the systolic array the cost model priced it on (its ``mapping``
    details' ``array`` "RxC" and ``dataflow``, :func:`accelsim.cost.systolic.price`); None where it names none or
    a GPU's output tiles compute it (``output_tiles``: the tiles are :mod:`accelsim.cost.gpu_tiles`')."""
    shape, dataflow = details.get("array"), details.get("dataflow")
    if not isinstance(shape, str) or dataflow not in DATAFLOWS or "output_tiles" in details:
        return None
    rows, _, cols = shape.partition("x")
    return fold_caps(m, n, k, int(rows), int(cols), dataflow)


def _best(candidates: list[tuple[int, int, int]], a: int, b: int, c: int, no_fit: str,
          key: tuple[str, ...] = ()) -> Tiling:
    """The least-traffic (then fewest-tile, then first) tiling of the split counts in ``candidates``, either order;
    :class:`MappingError` ``no_fit`` (naming the arch ``key`` at fault) when there are none."""
    best, best_key = None, None
    for nm, nn, nk in candidates:
        for order in ("mn", "nm"):
            fa, fb = _reads(nm, nn, nk, order)
            key = (a * fa + b * fb + c, nm * nn * nk)
            if best_key is None or key < best_key:
                best, best_key = Tiling(nm, nn, nk, order, fa, fb), key
    if best is None:
        raise MappingError(no_fit, key)
    return best


SRAM_KEY = ("core", "sram")
"""Where the scratchpad's buffers are written in an arch document: the key a tiling error names."""


def _short_buffer(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int,
                  budget_c: int) -> tuple[str, ...]:
    """The arch key (``core.sram.ifmap``, ``filter`` or ``ofmap``) of the first buffer that cannot hold even a
    one-element tile of its operand (one element is ``bytes / cells``), or ``()`` when each could."""
    for name, x, budget, cells in (("ifmap", a, budget_a, m * k), ("filter", b, budget_b, k * n),
                                   ("ofmap", c, budget_c, m * n)):
        if x and budget * cells < x:
            return (*SRAM_KEY, name)
    return ()


def _split_candidates(need: int, lo_a: int, hi_a: int, lo_b: int, hi_b: int) -> list[tuple[int, int]]:
    """Pairs (x, y), lo_a ≤ x ≤ hi_a and y the fewest in [lo_b, hi_b] with x·y ≥ ``need``: for every value y takes,
    the least x giving it (each x ≤ √need, and ⌈need/y⌉ for each y ≤ √need), so that a cost rising in x and in y
    has its minimum among them."""
    root = math.isqrt(need - 1) + 1 if need > 1 else 1  # the least r with r·r ≥ need
    xs = {lo_a, hi_a, _ceil_div(need, lo_b), *range(1, min(root, hi_a) + 1),
          *(_ceil_div(need, y) for y in range(1, min(root, hi_b) + 1))}
    out = []
    for x in sorted(xs):
        x = min(max(x, lo_a), hi_a)
        y = max(lo_b, _ceil_div(need, x))
        if y <= hi_b:
            out.append((x, y))
    return list(dict.fromkeys(out))


@lru_cache(maxsize=16384)
def tile_gemm(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
              op: str = "", caps: tuple[int, int, int] | None = None, c_split: int | None = None) -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose operands hold a, b, c bytes in buffers of the budgets (then
    the fewest tiles).

    The search is exact over every split count nm ≤ m, nn ≤ n, nk ≤ k (k splits up to ``_MAX_SPLIT``; each within
    ``caps``). A tiling
    fits when a ≤ budget_a·nm·nk, b ≤ budget_b·nk·nn and c ≤ budget_c·nm·nn. With k split (nk > 1) either order
    reads A nn times and B nm times (:func:`_reads`), whatever nk, and more k splits only loosen the A and B
    limits: so the most k splits give every (nm, nn) that can fit, and the least nm·b + nn·a over pairs with
    nm·nn ≥ ⌈c/budget_c⌉ is found among the fewest nn for each nm (:func:`_split_candidates`); its nk is then
    the fewest that fit. Unsplit k (nk = 1) reads A once and B nm times (m outer) or B once and A nn times: the
    fewest m splits that fit with the fewest n splits, and the other way round.

    An operand of 0 bytes (already on chip, or absent) needs no buffer and moves nothing. Raises
    :class:`MappingError` naming ``op`` when even a one-element tile does not fit. ``caps`` (:func:`fold_caps`):
    the most splits of m, n and k, so that each tile covers whole array folds; where no tiling within them fits,
    the least-traffic one without them (``whole_folds`` False). ``c_split``: C's bytes in the buffer when k is
    split (nk > 1), where that differs from ``c`` (an output-stationary array's PEs hold a tile's partial sums only
    while its k runs unbroken: split, they wait in the buffer at the accumulator's width); None: ``c``.
    """
    no_fit = (f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (buffers of {budget_a}, {budget_b} and "
              f"{budget_c} bytes for ifmap, filter and ofmap tiles)")
    short = _short_buffer(m, n, k, a, b, c, budget_a, budget_b, budget_c)
    if short:
        raise MappingError(no_fit, short)
    if caps is not None and (isinstance(caps, FoldCaps) or caps != (m, n, k)):
        def search(cap: tuple[int, int, int]) -> Tiling:
            return _tile_split(m, n, k, a, b, c, budget_a, budget_b, budget_c, no_fit, cap, c_split)

        def fits(nm: int, nn: int, nk: int) -> bool:  # one-fold tiles: an os tile's partial sums stay in its PEs
            return a <= budget_a * nm * nk and b <= budget_b * nk * nn and c <= budget_c * nm * nn

        try:
            return _fold_split(caps, a, b, c, no_fit, search, fits)
        except MappingError:  # no tile of whole folds fits: narrower ones
            return _replace_whole(search((m, n, k)))
    return _tile_split(m, n, k, a, b, c, budget_a, budget_b, budget_c, no_fit, (m, n, k), c_split)


def _fold_split(caps: tuple[int, int, int], a: int, b: int, c: int, no_fit: str,
                search: Callable[[tuple[int, int, int]], Tiling], fits: Callable[[int, int, int], bool]) -> Tiling:
    """The least-traffic (then fewest-tile) tiling within fold caps whose bytes describe the schedule the fold model
    prices (:mod:`accelsim.cost.folds`): every fold streams its whole temporal dimension T (os k, ws m, is n) at
    once, its partial sums (os) or stationary operand (ws, is) in the PEs. That holds for

    * a tiling that leaves T whole (``search`` with T's cap 1), its tiles of any whole folds, each fold streaming
      T from the buffer; and
    * a tile of one fold in both spatial dimensions (split into their fold counts) that cuts T into chunks run
      back to back, T's loop the innermost of more than one (``fits``: the tile (nm, nn, nk) fits the buffers;
      the fewest chunks that fit): os's k always is (the PEs keep the partial sums from chunk to chunk, the
      buffer only the outputs), ws's m only with the k folds one (K ≤ R) and m inside n, is's n likewise.

    Cutting T of a tile of several folds would run each fold chunk by chunk, its partial sums out of the PEs and
    its fill or preload paid again each chunk (probe p100 #1: resnet18 layer4.0.conv2 on scalesim-32x32, 2×16
    folds in one tile with k in 117 chunks, would take 379,583 cycles, not the 149,439 priced), so no tiling here
    does. Plain tuple caps (no :class:`FoldCaps`): the search within them as given. Applied to os alone: a ws (is)
    tile of several folds may still cut m (n), each chunk preloading every fold again, a cost the fold model does
    not charge (a known gap: keeping m whole instead cost gemmini and eyeriss-like several times the DRAM bytes real
    weight-stationary tilers move, and charging the refill needs the tiler to weigh cycles against bytes over all
    its tilings; both were tried in session 58, probe p110)."""
    if not isinstance(caps, FoldCaps) or caps.temporal != "k":
        return search(caps)
    t = "mnk".index(caps.temporal)
    whole = tuple(1 if i == t else cap for i, cap in enumerate(caps))
    candidates: list[Tiling] = []
    try:
        candidates.append(search(whole))  # type: ignore[arg-type]
    except MappingError:
        pass
    one = list(caps)
    # T's loop the innermost of those over 1: os's k is; ws's m (is's n) needs k unsplit and the other inside it
    if caps.temporal == "k" or one[2] == 1:
        order = {"k": "mn", "m": "nm", "n": "mn"}[caps.temporal]
        top = min(caps[t], _MAX_SPLIT)

        def at(x: int) -> tuple[int, int, int]:
            one[t] = x
            return one[0], one[1], one[2]

        if top >= 2 and fits(*at(top)):
            lo, hi = 2, top  # fits(hi); fewer chunks only tighten the tiles
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if fits(*at(mid)) else (mid + 1, hi)
            nm, nn, nk = at(lo)
            fa, fb = _reads(nm, nn, nk, order)
            candidates.append(Tiling(nm, nn, nk, order, fa, fb))
    if not candidates:
        raise MappingError(no_fit)
    return min(candidates, key=lambda x: (x.traffic(a, b, c), x.tiles))


def _replace_whole(t: Tiling) -> Tiling:
    """``t`` marked as narrower than the array's folds."""
    return Tiling(t.nm, t.nn, t.nk, t.order, t.a_reads, t.b_reads, whole_folds=False)


def _tile_split(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
                no_fit: str, caps: tuple[int, int, int], c_split: int | None = None) -> Tiling:
    """:func:`tile_gemm`'s search with at most ``caps`` splits of m, n and k (C's bytes ``c_split`` with k split)."""
    cm, cn, ck = caps
    c_split = c if c_split is None else c_split
    tiles_c = _ceil_div(c, budget_c) if c else 1  # nm·nn at least this

    def least(x: int, budget: int, nk: int) -> int:  # the fewest splits of a dimension for x bytes with nk splits
        return max(_ceil_div(x, budget * nk), 1) if x else 1

    def fits(nm: int, nn: int, nk: int) -> bool:
        return (nm <= cm and nn <= cn and nk <= ck and a <= budget_a * nm * nk and b <= budget_b * nk * nn
                and (c if nk == 1 else c_split) <= budget_c * nm * nn)

    # k unsplit: the fewest m splits, then n, and the other way round; or one of them unsplit (which, looped
    # outside the other, reads both operands once)
    lm, ln = least(a, budget_a, 1), least(b, budget_b, 1)
    pairs = [(lm, max(ln, _ceil_div(tiles_c, lm))), (max(lm, _ceil_div(tiles_c, ln)), ln),
             (max(lm, _ceil_div(tiles_c, cn)), 0), (0, max(ln, _ceil_div(tiles_c, cm))),
             (max(lm, tiles_c), 1), (1, max(ln, tiles_c))]
    candidates = []
    for nm, nn in pairs:
        nm = nm or max(lm, _ceil_div(tiles_c, nn))
        nn = nn or max(ln, _ceil_div(tiles_c, nm))
        if fits(nm, nn, 1):
            candidates.append((nm, nn, 1))
    kmax = min(ck, _MAX_SPLIT)
    if kmax > 1:
        lm, ln = least(a, budget_a, kmax), least(b, budget_b, kmax)
        tiles_c = _ceil_div(c_split, budget_c) if c_split else 1
        if lm <= cm and ln <= cn:
            for nm, nn in _split_candidates(tiles_c, lm, cm, ln, cn):
                # the fewest k splits (more than one) that fit A's and B's tiles
                nk = max(2, _ceil_div(a, budget_a * nm) if a else 1, _ceil_div(b, budget_b * nn) if b else 1)
                if fits(nm, nn, nk):
                    candidates.append((nm, nn, nk))
    return _best(candidates, a, b, c, no_fit)


def _fewest(need: int, room: int, limit: int) -> int | None:
    """The fewest splits s ≤ ``limit`` with need ≤ room·s (room < 0: the other tiles alone overflow), else None."""
    if need <= 0:
        return 1 if room >= 0 else None
    if room <= 0:
        return None
    s = _ceil_div(need, room)
    return s if s <= limit else None


@lru_cache(maxsize=16384)
def tile_gemm_shared(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, op: str = "",
                     caps: tuple[int, int, int] | None = None, c_split: int | None = None) -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose three tiles share one buffer of ``budget`` bytes.

    A tiling (nm, nn, nk) fits when a/(nm·nk) + b/(nk·nn) + c/(nm·nn) ≤ budget, i.e. (times nm·nn·nk)
    a·nn + b·nm + c·nk ≤ budget·nm·nn·nk. For a fixed nk and nm the traffic never falls as nn grows, so the
    fewest nn that fit, nn = ⌈(b·nm + c·nk) / (budget·nm·nk − a)⌉, is the one to try (likewise nm for a fixed nn).
    Raises :class:`MappingError` naming ``op`` when even a one-element tile does not fit. ``caps`` as for
    :func:`tile_gemm`: the most splits of m, n and k (whole array folds), dropped only where nothing within them fits;
    ``c_split`` as for :func:`tile_gemm`.
    """
    no_fit = (f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (one {budget}-byte budget shared by the "
              "ifmap, filter and ofmap tiles)")
    if caps is not None and (isinstance(caps, FoldCaps) or caps != (m, n, k)):
        def search(cap: tuple[int, int, int]) -> Tiling:
            return _shared_split(m, n, k, a, b, c, budget, no_fit, cap, c_split)

        def fits(nm: int, nn: int, nk: int) -> bool:  # one-fold tiles: an os tile's partial sums stay in its PEs
            return a * nn + b * nm + c * nk <= budget * nm * nn * nk

        try:
            return _fold_split(caps, a, b, c, no_fit, search, fits)
        except MappingError:  # no tile of whole folds fits: narrower ones
            return _replace_whole(search((m, n, k)))
    return _shared_split(m, n, k, a, b, c, budget, no_fit, (m, n, k), c_split)


def _shared_split(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, no_fit: str,
                  caps: tuple[int, int, int], c_split: int | None = None) -> Tiling:
    """:func:`tile_gemm_shared`'s search with at most ``caps`` splits of m, n and k (C's bytes ``c_split`` with k
    split)."""
    cm, cn, ck = caps
    candidates = []
    for nk in _powers(ck):
        cc = c if nk == 1 or c_split is None else c_split
        for nm in _powers(cm):
            nn = _fewest(b * nm + cc * nk, budget * nm * nk - a, cn)
            if nn is not None:
                candidates.append((nm, nn, nk))
                if nn == 1:  # more m splits keep nn = 1 and cannot move less
                    break
        for nn in _powers(cn):
            nm = _fewest(a * nn + cc * nk, budget * nn * nk - b, cm)
            if nm is not None:
                candidates.append((nm, nn, nk))
                if nm == 1:
                    break
    third = budget // 3  # the budget in thirds (a third each fits the sum): sharing never moves more than that
    if not _short_buffer(m, n, k, a, b, c, third, third, third):
        try:
            thirds = _tile_split(m, n, k, a, b, c, third, third, third, no_fit, caps, c_split)
            candidates.append((thirds.nm, thirds.nn, thirds.nk))
        except MappingError:
            pass
    return _best(list(dict.fromkeys(candidates)), a, b, c, no_fit, (*SRAM_KEY, "unified"))

