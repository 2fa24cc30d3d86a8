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
Conv halos are not modelled: a tile of A of em × ek of its m × k elements holds ``bytes(A)·em·ek/(m·k)``. A
tiling fits when each operand's largest tile does, em = ⌈m/nm⌉ (⌈F/nm⌉ whole folds of the array, :func:`_extent`)
and so on, not the average ``bytes(A)/(nm·nk)``, which the largest tile of ⌈F/s⌉ folds can exceed up to twofold
(probe p156 #1).

Split buffers (SCALE-Sim's ifmap/filter/ofmap) give each tile its own budget (:func:`tile_gemm`). A unified
buffer (TPU v1's unified buffer, Eyeriss's global buffer, an NPU's SRAM) gives the three one budget
(:func:`tile_gemm_shared`): the largest tiles' ``bytes(A)·em·ek/(m·k) + bytes(B)·ek·en/(k·n) +
bytes(C)·em·en/(m·n) ≤ budget``, checked exactly in integers. Its candidates stay few: for each k split of a power
of two and each m split of a power of two (each as the fewest splits with its largest tile, :func:`_least`), the
fewest n splits that fit; the same with m and n swapped; and the tiling of the budget cut in thirds
(so sharing never moves more than thirds would).

Both searches take the array's fold grain (:func:`fold_caps`): on a systolic array a tile covers whole array folds
along the dimensions the dataflow lays on the array's rows and columns (ws: k and n; os: m and n; is: k and m), so
it splits each of them at most into its fold count (⌈K/R⌉ for ws's k), the tiles ⌈F/n⌉ or ⌊F/n⌋ whole folds of
the F along it (the largest, ⌈F/n⌉, must fit), and the tiles' folds are the whole GEMM's: the compute the fold model prices (:mod:`accelsim.cost.
folds`) and the bytes the tiling moves describe one schedule. SCALE-Sim's SRAM holds fold operands the same way.
That schedule streams each fold's whole temporal dimension (os k, ws m, is n) at once, so the searches cut an os
array's k only in tiles of one fold whose chunks run back to back (:func:`_fold_split`, probe p100 #1; ws and is
keep their least-traffic cuts, a known gap).
Where no such tiling fits (a buffer smaller than one fold's operands beside the rest) the search drops the grain
and picks narrower tiles, and :attr:`Tiling.whole_folds` says so; their compute is the folds they run
(:func:`tiling_cycles`, probe p188 #2), and given the array's pace (``pace``) the narrow search ranks by estimated
time, then bytes, then folds (:func:`_rank_of`, probe p188 #1). A bigger buffer could run those same narrow
tiles, so where whole folds fit the search also weighs the narrower tiling of the largest buffer of the same
proportions that holds no whole-fold tile, and takes it where its estimated time is lower (:func:`_or_narrower`;
without ``pace``, where it moves fewer bytes, and then a bigger buffer never moves more bytes: probe p187 #1;
not on an os array, a known gap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from ..cost.folds import DATAFLOWS
from ..cost.folds import cycles as fold_cycles
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
    the array in time ("k" for os, "m" for ws, "n" for is), and ``grains``: the (m, n, k) rows or columns of one
    fold (the array's edge along a spatial dimension, 1 along the temporal one), so that a tile's largest extent is
    known (:func:`_extent`). Equal to the plain tuple of its counts; two of them are equal only with the same
    ``temporal`` and ``grains`` too (the searches' caches key on all three, :func:`_caps_key`)."""

    temporal: str
    grains: tuple[int, int, int]

    def __new__(cls, m: int, n: int, k: int, temporal: str, grains: tuple[int, int, int] = (1, 1, 1)) -> FoldCaps:
        caps = super().__new__(cls, (m, n, k))
        caps.temporal = temporal
        caps.grains = tuple(grains)  # type: ignore[assignment]
        return caps

    def __getnewargs__(self) -> tuple:  # type: ignore[override]
        return (*self, self.temporal, self.grains)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FoldCaps) and (other.temporal, other.grains) != (self.temporal, self.grains):
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
    grains = {"m": 1, "n": 1, "k": 1, df.spatial_rows: rows, df.spatial_cols: cols}
    return FoldCaps(caps["m"], caps["n"], caps["k"], df.temporal, (grains["m"], grains["n"], grains["k"]))


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
          key: tuple[str, ...] = (), rank: Callable[[int, int, int, int], tuple] | None = None) -> Tiling:
    """The least-traffic (then fewest-tile, then first) tiling of the split counts in ``candidates``, either order,
    or where ``rank`` is given (a narrow search's, :func:`_rank_of`) the least ``rank(nm, nn, nk, traffic)``, then
    the fewest tiles; :class:`MappingError` ``no_fit`` (naming the arch ``key`` at fault) when there are none."""
    best, best_key = None, None
    for nm, nn, nk in candidates:
        for order in ("mn", "nm"):
            fa, fb = _reads(nm, nn, nk, order)
            traffic = a * fa + b * fb + c
            full = (*(rank(nm, nn, nk, traffic) if rank is not None else (traffic,)), nm * nn * nk)
            if best_key is None or full < best_key:
                best, best_key = Tiling(nm, nn, nk, order, fa, fb), full
    if best is None:
        raise MappingError(no_fit, key)
    return best


def _array(grains: tuple[int, int, int], temporal: str) -> tuple[int, int, str]:
    """The (rows, cols, dataflow) of the systolic array whose fold ``grains`` (:class:`FoldCaps`) and temporal
    dimension these are (os streams k, ws m, is n)."""
    dataflow = {"k": "os", "m": "ws", "n": "is"}[temporal]
    df = DATAFLOWS[dataflow]
    return grains["mnk".index(df.spatial_rows)], grains["mnk".index(df.spatial_cols)], dataflow


def narrow_folds(m: int, n: int, k: int, splits: tuple[int, int, int], grains: tuple[int, int, int],
                 temporal: str) -> int:
    """The array folds a narrow tiling (element-grain cuts of ``splits``) runs, every tile counted as its largest
    (⌈m/nm⌉ × ⌈n/nn⌉ × ⌈k/nk⌉): tiles × ⌈e_r/R⌉ · ⌈e_c/C⌉ of the dimensions on the array's rows and columns
    (ws 49×512×4608 on 256×256 cut (1, 40, 1): 40 tiles of 13 columns by 4,608 rows, 40 × 1 × 18 = 720 folds)."""
    rows, cols, dataflow = _array(grains, temporal)
    df = DATAFLOWS[dataflow]
    dims = {"m": m, "n": n, "k": k}
    s = dict(zip("mnk", splits, strict=True))
    e = {d: _extent(dims[d], 1, s[d]) for d in "mnk"}
    return s["m"] * s["n"] * s["k"] * _ceil_div(e[df.spatial_rows], rows) * _ceil_div(e[df.spatial_cols], cols)


def tiling_cycles(m: int, n: int, k: int, t: Tiling, rows: int, cols: int, dataflow: str, overlap: bool,
                  count: int = 1) -> int:
    """Compute cycles of ``count`` m×n×k GEMMs run in tiling ``t`` (:func:`accelsim.cost.folds.cycles`): whole
    folds, the GEMM's own folds as the cost model prices them; a narrow tiling (``whole_folds`` False), its
    count·tiles tiles of the largest tile's extents, each a GEMM of ⌈m/nm⌉ × ⌈n/nn⌉ × ⌈k/nk⌉ run back to back,
    so F = count·tiles·(the largest tile's folds): ws with overlap R + (F − 1)·max(T, R) + T + R + C − 3, T its
    ⌈m/nm⌉ rows (the 720 folds of 49×512×4608 cut (1, 40, 1) on 256×256: 256 + 719·256 + 49 + 256 + 256 − 3 =
    184,878 cycles, against its 36 whole folds' 9,774)."""
    if t.whole_folds:
        return fold_cycles(m, n, k, rows, cols, dataflow, count, overlap)
    em, en, ek = _ceil_div(m, t.nm), _ceil_div(n, t.nn), _ceil_div(k, t.nk)
    return fold_cycles(em, en, ek, rows, cols, dataflow, count * t.tiles, overlap)


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


def _extent(d: int, g: int, s: int) -> int:
    """The largest of ``s`` tiles of a dimension of ``d`` cut in whole grains of ``g`` (array folds; 1: elements):
    ⌈⌈d/g⌉/s⌉ grains, no more than d (196 rows in 32-row folds, 5 tiles: 2 folds, 64 rows)."""
    return d if s <= 1 else min(_ceil_div(_ceil_div(d, g), s) * g, d)


def _least(d: int, g: int, s: int) -> int:
    """The fewest splits whose largest tile is :func:`_extent`'s of ``s`` (more only add tiles: 7 folds in 4 or 5
    tiles are both tiles of up to 2 folds, so 4)."""
    if s <= 1:
        return 1
    f = _ceil_div(d, g)
    return _ceil_div(f, _ceil_div(f, s))


def _next(d: int, g: int, s: int, cap: int) -> int | None:
    """The fewest splits (at most ``cap``) whose largest tile is smaller than that of ``s``, else None."""
    q = _ceil_div(_ceil_div(d, g), s)  # the grains of s's largest tile
    if q <= 1:
        return None
    nxt = _ceil_div(_ceil_div(d, g), q - 1)
    return nxt if nxt <= cap else None


def _fewest(d: int, g: int, cap: int, room: int, per: int, lo: int = 1) -> int | None:
    """The fewest splits s, lo ≤ s ≤ ``cap``, of a dimension of ``d`` in grains of ``g`` whose largest tile e
    (:func:`_extent`) keeps per·e ≤ room (``per`` ≤ 0: any; ``room`` < 0: the rest alone overflows), else None."""
    if room < 0:
        return None
    if per <= 0:
        s = 1
    else:
        e = room // per
        if e >= d:
            s = 1
        elif e < g:
            return None
        else:
            s = _ceil_div(_ceil_div(d, g), e // g)
    s = max(s, lo)
    return s if s <= cap else None


def _caps_key(m: int, n: int, k: int, caps: tuple[int, int, int] | None) -> tuple | None:
    """``caps`` as the searches' cache key: None (no caps) or (counts, temporal, grains), a plain tuple taking
    grains of one element (its tiles any near-equal cut) and no temporal dimension."""
    if caps is None:
        return None
    if isinstance(caps, FoldCaps):
        return tuple(caps), caps.temporal, caps.grains
    if tuple(caps) == (m, n, k):
        return None
    return tuple(caps), None, (1, 1, 1)


_ONE = (1, 1, 1)


def tile_gemm(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
              op: str = "", caps: tuple[int, int, int] | None = None, c_split: int | None = None,
              pace: tuple[bool, float, int] | None = None) -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose operands hold a, b, c bytes in buffers of the budgets (then
    the fewest tiles).

    A tiling fits when each operand's largest tile does: the tiles cut m, n and k into near-equal parts (of whole
    array folds within :class:`FoldCaps`), the largest em = ⌈m/nm⌉ rows (⌈F/nm⌉ folds, :func:`_extent`) by
    ek = ⌈k/nk⌉ and so on, and a tile of A holds the share em·ek/(m·k) of its bytes, so the test is
    a·em·ek ≤ budget_a·m·k (likewise B and C), exactly in integers (probe p156 #1: against the average tile,
    a/(nm·nk), scalesim-32x32's 196×100×784 took 5 row tiles of up to 2 of its 7 folds, 50,176 B in a 32,768 B
    buffer). The search is exact over every split
    count nm ≤ m, nn ≤ n, nk ≤ k (k splits up to ``_MAX_SPLIT``; each within ``caps``). With k split (nk > 1)
    either order reads A nn times and B nm times (:func:`_reads`), whatever nk, and more k splits only shrink the
    A and B tiles: so the most k splits give every (nm, nn) that can fit, and the least nm·b + nn·a is found among
    the fewest nn for each largest m tile (and the other way round, :func:`_frontier`); its nk is then the fewest
    that fit. Unsplit k (nk = 1) reads A once and B nm times (m outer) or B once and A nn times: the fewest m
    splits that fit with the fewest n splits, and the other way round.

    An operand of 0 bytes (already on chip, or absent) needs no buffer and moves nothing. Raises
    :class:`MappingError` naming ``op`` when even a one-element tile does not fit. ``caps`` (:func:`fold_caps`):
    the most splits of m, n and k, so that each tile covers whole array folds; where no tiling within them fits,
    the least-traffic one without them (``whole_folds`` False), and where one does, the narrower tiling of a smaller
    buffer that holds none if it moves fewer bytes (:func:`_or_narrower`). ``c_split``: C's bytes in the buffer when k is
    split (nk > 1), where that differs from ``c`` (an output-stationary array's PEs hold a tile's partial sums only
    while its k runs unbroken: split, they wait in the buffer at the accumulator's width); None: ``c``. ``pace``
    (the array's ``preload_overlap``, the main memory's bytes per cycle): the narrower tiling is taken only where
    its estimated time is lower (:func:`_or_narrower`); None: where it moves fewer bytes. ``pace``'s third: C's
    bytes written (the bytes the estimate counts for C; ``c`` is what its tiles hold in the buffer).
    """
    return _tile_gemm(m, n, k, a, b, c, budget_a, budget_b, budget_c, op, _caps_key(m, n, k, caps), c_split, pace)


@lru_cache(maxsize=16384)
def _tile_gemm(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
               op: str, key: tuple | None, c_split: int | None, pace: tuple[bool, float, int] | None = None) -> Tiling:
    """:func:`tile_gemm` of caps given as :func:`_caps_key`."""
    no_fit = (f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (buffers of {budget_a}, {budget_b} and "
              f"{budget_c} bytes for ifmap, filter and ofmap tiles)")
    short = _short_buffer(m, n, k, a, b, c, budget_a, budget_b, budget_c)
    if short:
        raise MappingError(no_fit, short)
    if key is not None:
        caps, temporal, (gm, gn, gk) = key

        def search(cap: tuple[int, int, int], grains: tuple[int, int, int]) -> Tiling:
            return _tile_split(m, n, k, a, b, c, budget_a, budget_b, budget_c, no_fit, cap, c_split, grains)

        def fits(nm: int, nn: int, nk: int) -> bool:  # one-fold tiles: an os tile's partial sums stay in its PEs
            em, en, ek = _extent(m, gm, nm), _extent(n, gn, nn), _extent(k, gk, nk)
            return (a * em * ek <= budget_a * m * k and b * ek * en <= budget_b * k * n
                    and c * em * en <= budget_c * m * n)

        nrank = _rank_of(m, n, k, c, (gm, gn, gk), temporal, pace)
        try:
            whole = _fold_split(caps, temporal, (gm, gn, gk), a, b, c, no_fit, search, fits)
        except MappingError:  # no tile of whole folds fits: narrower ones
            return _replace_whole(_tile_split(m, n, k, a, b, c, budget_a, budget_b, budget_c, no_fit, (m, n, k),
                                              c_split, _ONE, nrank))

        def narrow(bud: tuple[int, ...]) -> Tiling:
            if _short_buffer(m, n, k, a, b, c, *bud):
                raise MappingError(no_fit)
            return _tile_split(m, n, k, a, b, c, *bud, no_fit, (m, n, k), c_split, _ONE, nrank)

        return _or_narrower(whole, (m, n, k), (a, b, c), caps, temporal, (gm, gn, gk), c_split,
                            (budget_a, budget_b, budget_c), narrow, pace)
    return _tile_split(m, n, k, a, b, c, budget_a, budget_b, budget_c, no_fit, (m, n, k), c_split)


def _fold_split(caps: tuple[int, int, int], temporal: str | None, grains: tuple[int, int, int], a: int, b: int,
                c: int, no_fit: str, search: Callable[[tuple[int, int, int], tuple[int, int, int]], Tiling],
                fits: Callable[[int, int, int], bool]) -> Tiling:
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
    does. Caps with no ``temporal`` (a plain tuple): the search within them as given. Applied to os alone: a ws (is)
    tile of several folds may still cut m (n), each chunk preloading every fold again, a cost the fold model does
    not charge (a known gap: keeping m whole instead cost gemmini and eyeriss-like several times the DRAM bytes real
    weight-stationary tilers move, and charging the refill needs the tiler to weigh cycles against bytes over all
    its tilings; both were tried in session 58, probe p110)."""
    if temporal != "k":
        return search(caps, grains)
    t = "mnk".index(temporal)
    whole = tuple(1 if i == t else cap for i, cap in enumerate(caps))
    candidates: list[Tiling] = []
    try:
        candidates.append(search(whole, grains))  # type: ignore[arg-type]
    except MappingError:
        pass
    one = list(caps)
    # T's loop the innermost of those over 1: os's k is; ws's m (is's n) needs k unsplit and the other inside it
    if temporal == "k" or one[2] == 1:
        order = {"k": "mn", "m": "nm", "n": "mn"}[temporal]
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


def _or_narrower(whole: Tiling, dims: tuple[int, int, int], sizes: tuple[int, int, int], caps: tuple[int, int, int],
                 temporal: str | None, grains: tuple[int, int, int], c_split: int | None, budgets: tuple[int, ...],
                 narrow: Callable[[tuple[int, ...]], Tiling], pace: tuple[bool, float, int] | None = None) -> Tiling:
    """``whole`` (the least-traffic tiling of whole folds), or the narrower tiling (``narrow``: the search without
    the fold grain at the budgets it is given) of the largest buffers of the same proportions that hold no
    whole-fold tile, :func:`_below`, marked :attr:`Tiling.whole_folds` False, where its estimated time is lower:
    with ``pace`` (the array's preload overlap, the main memory's bytes per cycle, C's bytes written), max(its
    :func:`tiling_cycles`, its bytes over the bytes per cycle), equal times to fewer bytes (probe p188 #2: by
    bytes alone, narrow tiles of 10 times the folds replaced whole-fold ones whose compute they then hid);
    without ``pace``, where it moves fewer bytes: every smaller such buffer takes a narrower tiling moving no
    fewer bytes, and it fits this one too, so a bigger buffer never moves more (probe p187 #1: tpu-v1's
    49×512×4608 at 80,000 B read its weights 4 times in whole folds, at 65,536 B once in 8-column tiles). Not on
    an os array (temporal k), whose whole-fold schedule cuts k only in one-fold tiles (SCALE-Sim's, probe p100
    #1): there a buffer too small for one fold's outputs may move fewer bytes (a known gap)."""
    a, b, c = sizes
    if temporal == "k" or whole.traffic(a, b, c) <= a + b + c:  # nothing moves less than each operand once
        return whole
    needs = [_needs(*dims, a, b, c if cc is None else cc, x, grains, len(budgets) == 1)
             for x, cc in _whole_options(caps, c_split)]
    bud = _below(needs, budgets)
    if bud is None:
        return whole
    try:
        t = narrow(bud)
    except MappingError:
        return whole
    t = _replace_whole(t)
    if pace is None or temporal is None:  # no time estimate (or no array): fewer bytes
        return t if t.traffic(a, b, c) < whole.traffic(a, b, c) else whole
    overlap, bpc, c_out = pace
    rows, cols, dataflow = _array(grains, temporal)  # type: ignore[arg-type]

    def estimate(x: Tiling) -> tuple[float, int]:  # (its fold cycles or its bytes at bandwidth, its bytes)
        nbytes = x.traffic(a, b, c_out)
        return max(float(tiling_cycles(*dims, x, rows, cols, dataflow, overlap)), nbytes / bpc), nbytes

    return t if estimate(t) < estimate(whole) else whole


def _rank_of(m: int, n: int, k: int, c: int, grains: tuple[int, int, int], temporal: str | None,
             pace: tuple[bool, float, int] | None) -> Callable[[int, int, int, int], tuple] | None:
    """How a narrow search ranks the split counts of the m×n×k GEMM on the array of ``grains`` (None without one,
    :func:`_best`): with ``pace`` by the estimated time, max(their fold cycles, :func:`tiling_cycles`, and their
    traffic, C counted at its written bytes ``pace[2]``, at the memory's bytes per cycle ``pace[1]``), then the
    traffic, then the array folds (:func:`narrow_folds`);
    without, by the traffic, then the folds (probe p188 #1: 49×512×4608 on tpu-v1's 256×256 took (1, 40, 1), 720
    folds, where (1, 3, 32), 96, moves the same 2,461,696 B)."""
    if temporal is None:
        return None
    rows, cols, dataflow = _array(grains, temporal)

    def rank(nm: int, nn: int, nk: int, traffic: int) -> tuple:
        nf = narrow_folds(m, n, k, (nm, nn, nk), grains, temporal)  # type: ignore[arg-type]
        if pace is None:
            return traffic, nf
        t = Tiling(nm, nn, nk, "mn", 1, 1, whole_folds=False)
        moved = traffic - c + pace[2]
        return max(float(tiling_cycles(m, n, k, t, rows, cols, dataflow, pace[0])), moved / pace[1]), traffic, nf
    return rank


def _whole_options(caps: tuple[int, int, int], c_split: int | None) -> list[tuple[tuple[int, int, int], int | None]]:
    """The split counts (nm, nn, nk) with the smallest tiles within fold ``caps`` (not an os array's, whose k is
    cut only in one-fold tiles: :func:`_fold_split`), with C's bytes in the buffer (None: ``c``): a whole-fold
    tiling fits a buffer only if one of them does (more splits only shrink the tiles): k unsplit (C at ``c``) and
    k at its most splits (C at ``c_split``)."""
    cm, cn, ck = caps
    ck = min(ck, _MAX_SPLIT)
    return [((cm, cn, 1), None)] + ([((cm, cn, ck), c_split)] if ck >= 2 else [])


def _needs(m: int, n: int, k: int, a: int, b: int, c: int, splits: tuple[int, int, int],
           grains: tuple[int, int, int], shared: bool = False) -> tuple[int, ...]:
    """The bytes of the largest A, B and C tiles of ``splits`` (in whole ``grains``, :func:`_extent`), rounded up:
    the least ifmap, filter and ofmap budgets they fit; ``shared``: the least one budget of the three, (a·n·em·ek
    + b·m·ek·en + c·k·em·en) / (m·n·k) rounded up (:func:`tile_gemm_shared`)."""
    em, en, ek = (_extent(d, g, s) for d, g, s in zip((m, n, k), grains, splits, strict=True))
    if shared:
        return (_ceil_div(a * n * em * ek + b * m * ek * en + c * k * em * en, m * n * k),)
    return _ceil_div(a * em * ek, m * k), _ceil_div(b * ek * en, k * n), _ceil_div(c * em * en, m * n)


def _below(needs: list[tuple[int, ...]], budgets: tuple[int, ...]) -> tuple[int, ...] | None:
    """The largest budgets λ·``budgets`` (λ < 1, each rounded down below) in which no option of ``needs`` (the
    least budgets of a whole-fold tiling, :func:`_needs`) fits: an option fits once λ reaches the largest
    need / budget over its buffers, so none does below the least of those over the options. Every buffer of the
    same proportions that holds no whole-fold tile is within them. None where some option needs nothing."""
    lam = min(max((Fraction(x, y) for x, y in zip(need, budgets, strict=True) if x > 0), default=Fraction(0))
              for need in needs if all(y > 0 or x == 0 for x, y in zip(need, budgets, strict=True)))
    if lam <= 0:
        return None
    return tuple(_ceil_div(lam.numerator * y, lam.denominator) - 1 for y in budgets)


def _frontier(m: int, n: int, gm: int, gn: int, cm: int, cn: int, lm: int, ln: int,
              c_fits: Callable[[int, int, int], int | None]) -> list[tuple[int, int]]:
    """Pairs (nm, nn), nm ≥ lm and nn ≥ ln within the caps, each nm the fewest splits of its largest m tile and nn
    the fewest (``c_fits(dim, splits, lo)``: the fewest splits of the other dimension, at least lo, that fit C
    beside dim's ``splits``) with it, and the same with m and n swapped: so that a cost rising in nm and in nn has
    its minimum among them. Each side walks from its fewest splits until the other's count falls to its own
    (every pair with nm ≤ nn is met from the m side, the others from the n side) or to its least: about
    √(nm·nn) steps."""
    out = []
    for d, g, cap, lo, lo_other, dim in ((m, gm, cm, lm, ln, 0), (n, gn, cn, ln, lm, 1)):
        s: int | None = c_fits(1 - dim, cn if dim == 0 else cm, lo)  # the fewest with the other at its most
        while s is not None:
            other = c_fits(dim, s, lo_other)
            if other is not None:
                out.append((s, other) if dim == 0 else (other, s))
                if other <= s or other == lo_other:  # the other side's, or more of s with no fewer of the other
                    break
            s = _next(d, g, s, cap)
    return list(dict.fromkeys(out))


def _tile_split(m: int, n: int, k: int, a: int, b: int, c: int, budget_a: int, budget_b: int, budget_c: int,
                no_fit: str, caps: tuple[int, int, int], c_split: int | None = None,
                grains: tuple[int, int, int] = _ONE, rank: Callable[[int, int, int, int], tuple] | None = None) -> Tiling:
    """:func:`tile_gemm`'s search with at most ``caps`` splits of m, n and k (C's bytes ``c_split`` with k split),
    its tiles whole ``grains`` of each (:func:`_extent`), ranked by ``rank`` where given (:func:`_best`)."""
    cm, cn, ck = caps
    gm, gn, gk = grains
    c_split = c if c_split is None else c_split
    room_a, room_b, room_c = budget_a * m * k, budget_b * k * n, budget_c * m * n

    def ext(dim: int, s: int) -> int:
        return _extent(m, gm, s) if dim == 0 else _extent(n, gn, s)

    def fits(nm: int, nn: int, nk: int) -> bool:  # each operand's largest tile
        if nm > cm or nn > cn or nk > ck:
            return False
        em, en, ek = _extent(m, gm, nm), _extent(n, gn, nn), _extent(k, gk, nk)
        return (a * em * ek <= room_a and b * ek * en <= room_b
                and (c if nk == 1 else c_split) * em * en <= room_c)

    def c_fits_for(cc: int) -> Callable[[int, int, int], int | None]:
        def c_fits(dim: int, s: int, lo: int) -> int | None:  # fewest splits of the other dim, C fitting
            e = ext(dim, s)
            return (_fewest(n, gn, cn, room_c, cc * e, lo) if dim == 0
                    else _fewest(m, gm, cm, room_c, cc * e, lo))
        return c_fits

    candidates = []
    # k unsplit: the fewest m splits, then n, and the other way round; or one of them unsplit (which, looped
    # outside the other, reads both operands once)
    lm, ln = _fewest(m, gm, cm, room_a, a * k), _fewest(n, gn, cn, room_b, b * k)
    if lm is not None and ln is not None:
        c_fits = c_fits_for(c)
        pairs = [(lm, c_fits(0, lm, ln)), (c_fits(1, ln, lm), ln)]
        s = c_fits(1, cn, lm)  # the fewest m splits with n at its most
        pairs.append((s, None if s is None else c_fits(0, s, ln)))
        s = c_fits(0, cm, ln)
        pairs.append((None if s is None else c_fits(1, s, lm), s))
        if ln == 1:
            pairs.append((c_fits(1, 1, lm), 1))
        if lm == 1:
            pairs.append((1, c_fits(0, 1, ln)))
        for nm, nn in pairs:
            if nm is not None and nn is not None and fits(nm, nn, 1):
                candidates.append((nm, nn, 1))
    kmax = min(ck, _MAX_SPLIT)
    if kmax > 1:
        ek = _extent(k, gk, kmax)
        lm, ln = _fewest(m, gm, cm, room_a, a * ek), _fewest(n, gn, cn, room_b, b * ek)
        if lm is not None and ln is not None:
            for nm, nn in _frontier(m, n, gm, gn, cm, cn, lm, ln, c_fits_for(c_split)):
                # the fewest k splits (more than one) that fit A's and B's tiles
                em, en = _extent(m, gm, nm), _extent(n, gn, nn)
                nk_a = _fewest(k, gk, ck, room_a, a * em, 2)
                nk_b = _fewest(k, gk, ck, room_b, b * en, 2)
                if nk_a is not None and nk_b is not None and fits(nm, nn, max(nk_a, nk_b)):
                    candidates.append((nm, nn, max(nk_a, nk_b)))
    return _best(candidates, a, b, c, no_fit, rank=rank)


def tile_gemm_shared(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, op: str = "",
                     caps: tuple[int, int, int] | None = None, c_split: int | None = None,
                     pace: tuple[bool, float, int] | None = None) -> Tiling:
    """The least-traffic tiling of an m×n×k GEMM whose three tiles share one buffer of ``budget`` bytes.

    A tiling (nm, nn, nk) fits when its largest tiles do (:func:`tile_gemm`): with em, en and ek their extents
    (:func:`_extent`), a·em·ek/(m·k) + b·ek·en/(k·n) + c·em·en/(m·n) ≤ budget, i.e. (times m·n·k)
    a·n·em·ek + b·m·ek·en + c·k·em·en ≤ budget·m·n·k. For a fixed nk and nm the traffic never falls as nn grows,
    so the fewest nn that fit, the largest en with en·(b·m·ek + c·k·em) ≤ budget·m·n·k − a·n·em·ek, is the one to
    try (likewise nm for a fixed nn).
    Raises :class:`MappingError` naming ``op`` when even a one-element tile does not fit. ``caps`` as for
    :func:`tile_gemm`: the most splits of m, n and k (whole array folds), dropped where nothing within them fits or
    a smaller buffer's narrower tiling takes less time (:func:`_or_narrower`); ``c_split`` and ``pace`` as for
    :func:`tile_gemm`.
    """
    return _tile_gemm_shared(m, n, k, a, b, c, budget, op, _caps_key(m, n, k, caps), c_split, pace)


@lru_cache(maxsize=16384)
def _tile_gemm_shared(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, op: str, key: tuple | None,
                      c_split: int | None, pace: tuple[bool, float, int] | None = None) -> Tiling:
    """:func:`tile_gemm_shared` of caps given as :func:`_caps_key`."""
    no_fit = (f"op {op!r}: no tiling of the {m}x{n}x{k} GEMM fits SRAM (one {budget}-byte budget shared by the "
              "ifmap, filter and ofmap tiles)")
    if key is not None:
        caps, temporal, (gm, gn, gk) = key

        def search(cap: tuple[int, int, int], grains: tuple[int, int, int]) -> Tiling:
            return _shared_split(m, n, k, a, b, c, budget, no_fit, cap, c_split, grains)

        def fits(nm: int, nn: int, nk: int) -> bool:  # one-fold tiles: an os tile's partial sums stay in its PEs
            em, en, ek = _extent(m, gm, nm), _extent(n, gn, nn), _extent(k, gk, nk)
            return a * n * em * ek + b * m * ek * en + c * k * em * en <= budget * m * n * k

        nrank = _rank_of(m, n, k, c, (gm, gn, gk), temporal, pace)
        try:
            whole = _fold_split(caps, temporal, (gm, gn, gk), a, b, c, no_fit, search, fits)
        except MappingError:  # no tile of whole folds fits: narrower ones
            return _replace_whole(_shared_split(m, n, k, a, b, c, budget, no_fit, (m, n, k), c_split, _ONE, nrank))
        return _or_narrower(whole, (m, n, k), (a, b, c), caps, temporal, (gm, gn, gk), c_split, (budget,),
                            lambda bud: _shared_split(m, n, k, a, b, c, bud[0], no_fit, (m, n, k), c_split, _ONE,
                                                      nrank), pace)
    return _shared_split(m, n, k, a, b, c, budget, no_fit, (m, n, k), c_split)


def _shared_split(m: int, n: int, k: int, a: int, b: int, c: int, budget: int, no_fit: str,
                  caps: tuple[int, int, int], c_split: int | None = None,
                  grains: tuple[int, int, int] = _ONE, rank: Callable[[int, int, int, int], tuple] | None = None) -> Tiling:
    """:func:`tile_gemm_shared`'s search with at most ``caps`` splits of m, n and k (C's bytes ``c_split`` with k
    split), its tiles whole ``grains`` of each (:func:`_extent`), ranked by ``rank`` where given (:func:`_best`)."""
    cm, cn, ck = caps
    gm, gn, gk = grains
    room = budget * m * n * k

    def splits(d: int, g: int, cap: int) -> list[tuple[int, int]]:  # powers of two as the fewest for their tiles
        return [(s, _extent(d, g, s)) for s in dict.fromkeys(_least(d, g, x) for x in _powers(cap))]

    ms, ns = splits(m, gm, cm), splits(n, gn, cn)
    candidates = []
    for nk, ek in splits(k, gk, ck):
        cc = c if nk == 1 or c_split is None else c_split
        for nm, em in ms:
            nn = _fewest(n, gn, cn, room - a * n * em * ek, b * m * ek + cc * k * em)
            if nn is not None:
                candidates.append((nm, nn, nk))
                if nn == 1:  # more m splits keep nn = 1 and cannot move less
                    break
        for nn, en in ns:
            nm = _fewest(m, gm, cm, room - b * m * ek * en, a * n * ek + cc * k * en)
            if nm is not None:
                candidates.append((nm, nn, nk))
                if nm == 1:
                    break
    third = budget // 3  # the budget in thirds (a third each fits the sum): sharing never moves more than that
    if not _short_buffer(m, n, k, a, b, c, third, third, third):
        try:
            thirds = _tile_split(m, n, k, a, b, c, third, third, third, no_fit, caps, c_split, grains, rank)
            candidates.append((thirds.nm, thirds.nn, thirds.nk))
        except MappingError:
            pass
    return _best(list(dict.fromkeys(candidates)), a, b, c, no_fit, (*SRAM_KEY, "unified"), rank)
