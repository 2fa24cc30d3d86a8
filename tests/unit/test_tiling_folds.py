"""SRAM tiles cover whole array folds (probe p22 finding 1): the bytes a tiling moves and the fold model's compute
cycles (SCALE-Sim's, priced on the whole GEMM) describe one schedule, so no tile is narrower than the array along
the dimensions the dataflow lays on its rows and columns while a tile of whole folds fits the scratchpad."""

import itertools
import math
import random
from fractions import Fraction

import pytest

import accelsim
from accelsim.mapping.tiling import fold_caps, tile_gemm, tile_gemm_shared


def scalesim_cycles(m, n, k, rows, cols, dataflow):
    """SCALE-Sim's compute cycles, no preload overlap: F·τ − 1 (docs/architecture.md, cost/folds.py)."""
    s_r, s_c, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    tau = rows + cols + t - 2 + (rows if dataflow != "os" else 0)
    return math.ceil(s_r / rows) * math.ceil(s_c / cols) * tau - 1


def test_fold_caps_are_the_fold_counts_of_the_array_dims():
    # ws on 16x16: k on the rows (4608 / 16 = 288 folds), n on the columns (512 / 16 = 32), m streamed (no cap)
    assert fold_caps(49, 512, 4608, 16, 16, "ws") == (49, 32, 288)
    # os: m on the rows (⌈100/32⌉ = 4), n on the columns (⌈200/32⌉ = 7); is: k on the rows, m on the columns
    assert fold_caps(100, 200, 300, 32, 32, "os") == (4, 7, 300)
    assert fold_caps(100, 200, 300, 32, 32, "is") == (4, 200, 10)


def test_gemmini_resnet18_layer4_conv2_tiles_are_full_width():
    # layer4.0.conv2 on gemmini: GEMM 49 × 512 × 4608 int8 on the 16×16 ws array, the arguments the mapper passes:
    # A resident (0 B off chip), B = 3·3·512·512 weights + 512 B of folded BN shift = 2,359,808 B, the output
    # resident so its tile holds only the int32 widening, 49·512·(4 − 1) = 75,264 B; budgets 20,224 B (ifmap,
    # filter) and 40,448 B (ofmap) beside the resident activations.
    args = (49, 512, 4608, 0, 2_359_808, 75_264, 20_224, 20_224, 40_448)
    # without the caps: k unsplit and B's largest tile (b·en/n of it: 2,359,808 B over 512 columns) needs
    # en ≤ 20,224·512 / 2,359,808 = 4.39 columns, so 128 column tiles of 4 (the probe's 49×5×4608 tiles had 5
    # columns, 23,045 B > 20,224 B); k split in 60 (tiles of ⌈4608/60⌉ = 77 rows, not whole 16-row folds) with
    # nn = 2 moves the same bytes in 120 tiles, B's largest 2,359,808·77·256 / (4608·512) = 19,709 B
    narrow = tile_gemm(*args)
    assert (narrow.nm, narrow.nn, narrow.nk) == (1, 2, 60)
    # with them, nn ≤ 32 so k must split (B: nn·nk ≥ 117); k split reads B nm times (A, 0 B, nn times): nm = 1;
    # the C tile needs nn ≥ 2 (75,264 B > 40,448 B whole; half of it, 37,632 B, fits), so nn = 2 (256 columns);
    # B's largest tile then allows 20,224·4608·512 / (2,359,808·256) = 78.99 rows of k, ⌊78.99/16⌋ = 4 folds:
    # nk = ⌈288/4⌉ = 72 tiles of 4 folds (probe p156 #1: the average's nk = ⌈2,359,808 / (20,224·2)⌉ = 59 cut the
    # 288 folds into tiles of 4 or 5, and 5 folds, 80 rows, are 2,359,808·80·256 / (4608·512) = 20,482 B > 20,224)
    t = tile_gemm(*args, caps=fold_caps(49, 512, 4608, 16, 16, "ws"))
    assert (t.nm, t.nn, t.nk, t.b_reads, t.whole_folds) == (1, 2, 72, 1, True)
    assert t.traffic(0, 2_359_808, 25_088) == narrow.traffic(0, 2_359_808, 25_088) == 2_359_808 + 25_088


def test_gemmini_resnet18_layer4_conv2_end_to_end():
    r = accelsim.simulate("resnet18", "gemmini", plots=False).to_dict()
    o = next(o for o in r["ops"] if o["name"] == "layer4.0.conv2")
    tiling = o["mapping"]["tiling"]
    assert math.ceil(512 / tiling["nn"]) >= 16 and tiling["nn"] <= 512 // 16
    assert tiling["nk"] <= 4608 // 16 and tiling["whole_folds"] is True
    # compute, priced on the whole GEMM whatever the tiles: F = 288 · 32 = 9216 folds; gemmini's PEs double-buffer
    # weights (arch/gemmini.yaml: core.systolic.preload_overlap), so they pipeline, R + (F − 1)·max(T, R) + T + R +
    # C − 3 (docs/architecture.md), T = 49 ≥ R: 16 + 9215·49 + 49 + 16 + 16 − 3 = 451,629 (SCALE-Sim's no-overlap F·τ − 1, τ = 2·16 +
    # 16 + 49 − 2 = 95, would be 875,519)
    assert o["compute_cycles"] == 16 + 9216 * max(49, 16) + 16 + 16 - 3 == 451_629
    assert scalesim_cycles(49, 512, 4608, 16, 16, "ws") == 9216 * 95 - 1 == 875_519
    # bytes: the weights and BN shift read once (the activations stay on chip): 2,359,296 int8 weights + the 512
    # folded shifts as the conv's int32 bias (TFLite's quantization spec, units.INT_BIAS_DTYPE), 4 · 512 = 2,048
    assert o["bytes"]["hbm"] == 2_359_296 + 4 * 512 == 2_361_344


def test_eyeriss_1024_cube_tiles_cover_whole_folds():
    # 1024³ int16 on eyeriss-like: 12×14 ws, one 108 KiB global buffer, double-buffered: 55,296 B for the three
    # tiles; A = B = 1024·1024·2 = X = 2,097,152 B and the int16 partial sums of C too.
    # A tiling fits when X·(nn + nm + nk) ≤ 55,296·nm·nn·nk, i.e. nk ≥ 37.93·(nm + nn) / (nm·nn − 37.93)
    # (X / 55,296 = 37.93); k split reads A nn times and B nm times: X·(nn + nm + 1).
    # caps: nn ≤ ⌈1024/14⌉ = 74, nk ≤ ⌈1024/12⌉ = 86 (k tiles of at least 12 rows).
    # nm + nn = 13 at best 6·7 = 42: nk ≥ 37.93·13 / 4.07 = 121 > 86 (the uncapped tiler took 8·5, nk 256: k tiles
    #   of 4 rows on 12, traffic 14·X = 29,360,128 B);
    # nm + nn = 14: 8·6 = 48: nk ≥ 37.93·14 / 10.07 = 52.7 (64 fits); k unsplit would need nm·nn/37.93 ≥ nm+nn+1,
    #   so nm ≥ 38 and more traffic: the least is 15·X = 31,457,280 B.
    r = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024}, "eyeriss-like", plots=False).to_dict()
    o = r["ops"][0]
    tiling = o["mapping"]["tiling"]
    assert tiling["nm"] + tiling["nn"] == 14 and tiling["nk"] <= 86 and tiling["nn"] <= 74
    # the largest tiles fit (probe p156 #1): whole folds, ⌈86/nk⌉ of 12 rows and ⌈74/nn⌉ of 14 columns, m in rows;
    # the chosen (8, 6, 86): 128 × 12 + 12 × 182 + 128 × 182 = 26,936 elements · 2 B = 53,872 B ≤ 55,296 B (the
    # old nk = 64 had k tiles of up to 2 folds, 24 rows: 2·(128·24 + 24·182 + 128·182) = 61,472 B)
    em = math.ceil(1024 / tiling["nm"])
    en, ek = math.ceil(74 / tiling["nn"]) * 14, math.ceil(86 / tiling["nk"]) * 12
    assert 2 * (em * ek + ek * en + em * en) <= 55_296
    assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (8, 6, 86)
    assert o["bytes"]["hbm"] == 15 * 2_097_152 == 31_457_280
    # compute: F = 86 · 74 = 6364 folds of τ = 2·12 + 14 + 1024 − 2 = 1060
    assert o["compute_cycles"] == scalesim_cycles(1024, 1024, 1024, 12, 14, "ws") == 6364 * 1060 - 1


def _largest(d, grain, s):
    """The largest of s tiles of d cut in whole grains (array folds, or 1): ⌈⌈d/grain⌉/s⌉ grains, at most d."""
    return min(math.ceil(math.ceil(d / grain) / s) * grain, d)


def _fits(m, n, k, a, b, c, budgets, nm, nn, nk, grains=(1, 1, 1)):
    # every tile fits: the largest (probe p156 #1), each operand's share of its bytes em·ek / (m·k) and so on
    em, en, ek = (_largest(d, g, s) for d, g, s in zip((m, n, k), grains, (nm, nn, nk), strict=True))
    ta, tb, tc = Fraction(a * em * ek, m * k), Fraction(b * ek * en, k * n), Fraction(c * em * en, m * n)
    if len(budgets) == 1:
        return ta + tb + tc <= budgets[0]
    ba, bb, bc = budgets
    return ta <= ba and tb <= bb and tc <= bc


def _grains(rows, cols, dataflow):
    # (m, n, k) rows or columns of one fold: os lays m on the rows and n on the columns, ws k and n, is k and m
    return {"os": (rows, cols, 1), "ws": (1, cols, rows), "is": (cols, 1, rows)}[dataflow]


def _least_scale(m, n, k, a, b, c, budgets, nm, nn, nk):
    # the least λ with the tiling's largest tiles fitting λ·budgets: its largest share of a budget
    em, en, ek = (_largest(d, 1, s) for d, s in zip((m, n, k), (nm, nn, nk), strict=True))
    ta, tb, tc = Fraction(a * em * ek, m * k), Fraction(b * ek * en, k * n), Fraction(c * em * en, m * n)
    if len(budgets) == 1:
        return (ta + tb + tc) / budgets[0]
    return max(ta / budgets[0], tb / budgets[1], tc / budgets[2])


@pytest.mark.parametrize("shared", [False, True])
def test_no_tile_narrower_than_the_array_while_a_whole_fold_tile_fits(shared):
    # property: over small GEMMs, arrays and buffers, a tiling obeys the fold caps whenever some tiling within them
    # fits (brute force over every split count) and is one; it is narrower (whole_folds False) where none fits, or
    # (probe p187 #1, so that a bigger buffer never moves more bytes) where it is the narrower tiling of a smaller
    # buffer of the same proportions that holds no whole-fold tile: it then fits λ·budgets (λ its largest share of
    # a budget, below 1), in which no whole-fold tiling fits (brute force), and never on an os array. (Before, the
    # test asked whole_folds to be False only where no whole-fold tiling fits: the old rule, under which a bigger
    # buffer could move more bytes.)
    rng, narrowed = random.Random(22), 0
    for _ in range(150):
        m, n, k = (rng.randint(1, 24) for _ in range(3))
        rows, cols = rng.choice([2, 3, 4, 8]), rng.choice([2, 3, 4, 8])
        dataflow = rng.choice(["ws", "os", "is"])
        a, b, c = m * k, k * n, m * n * 4
        budgets = (rng.randint(60, 900),) if shared else tuple(rng.randint(4, 300) for _ in range(3))
        caps = fold_caps(m, n, k, rows, cols, dataflow)
        try:
            t = (tile_gemm_shared(m, n, k, a, b, c, budgets[0], "g", caps) if shared
                 else tile_gemm(m, n, k, a, b, c, *budgets, "g", caps))
        except accelsim.errors.MappingError:
            continue
        grains = _grains(rows, cols, dataflow)
        any_whole = any(_fits(m, n, k, a, b, c, budgets, x, y, z, grains)
                        for x, y, z in itertools.product(*(range(1, cap + 1) for cap in caps)))
        assert t.whole_folds or not any_whole or dataflow != "os", (m, n, k, rows, cols, dataflow, budgets, t)
        if not t.whole_folds and any_whole:  # a smaller buffer's narrower tiling
            lam = _least_scale(m, n, k, a, b, c, budgets, t.nm, t.nn, t.nk)
            assert lam < 1
            smaller = tuple(lam * x for x in budgets)
            assert not any(_fits(m, n, k, a, b, c, smaller, x, y, z, grains)
                           for x, y, z in itertools.product(*(range(1, cap + 1) for cap in caps)))
            narrowed += 1
        if t.whole_folds:
            assert any_whole
            assert all(x <= cap for x, cap in zip((t.nm, t.nn, t.nk), caps, strict=True))
        assert _fits(m, n, k, a, b, c, budgets, t.nm, t.nn, t.nk, grains if t.whole_folds else (1, 1, 1))
    assert narrowed > 0  # the cases include some


def test_a_buffer_smaller_than_one_fold_takes_narrow_tiles_and_says_so():
    # gemmini with a 64 B filter buffer (32 B a tile, double-buffered; one step of the 16 columns is 16 B): a 16×16
    # weight fold (256 B) cannot fit, so the 64³ GEMM's filter tiles are narrower (B = 4096 B over nn·nk ≥ 128
    # tiles) and mapping.tiling says whole_folds false
    arch = {"base": "gemmini", "core": {"sram": {"filter": "64B"}}}
    r = accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, arch, plots=False).to_dict()
    tiling = r["ops"][0]["mapping"]["tiling"]
    assert tiling["whole_folds"] is False
    assert tiling["nn"] * tiling["nk"] >= 4096 // 32
    # ... and the run says so. Its compute is priced at those tiles' own folds (probe p188 #2; before, as the
    # whole folds, an underestimate the note named, probe p25): (1, 2, 64) on gemmini's 16×16 ws array with
    # overlap, 128 tiles of 64 rows of m by 32 columns by 1 row of k, 2 folds each, F = 256, T = 64:
    # R + (F − 1)·max(T, R) + T + R + C − 3 = 16 + 255·64 + 64 + 16 + 16 − 3 = 16,429 cycles (whole folds: 16 folds,
    # 16 + 15·64 + 93 = 1,069)
    assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (1, 2, 64)
    assert tiling["fold_cycles"] == r["ops"][0]["compute_cycles"] == 16 + 255 * 64 + 64 + 16 + 16 - 3 == 16_429
    assert tiling["whole_fold_cycles"] == 16 + 15 * 64 + 64 + 16 + 16 - 3 == 1_069
    (note,) = [n for n in r["notes"] if n.startswith("scratchpad:")]
    assert "1 systolic op (gemm)" in note and "own array folds" in note


def test_whole_folds_is_written_on_every_systolic_op():
    # tpu-v1's default 24 MiB unified buffer holds a 256 x 256 int8 weight fold (64 KiB) with its A and C tiles, so
    # the default 1024^3 GEMM's tiles are whole folds; with the buffer at 4 KiB not even one fold's weights fit
    big = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024}, "tpu-v1", plots=False).to_dict()
    assert big["ops"][0]["mapping"]["tiling"]["whole_folds"] is True
    assert not any(n.startswith("scratchpad:") for n in big["notes"])
    small = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024},
                              {"base": "tpu-v1", "core": {"sram": {"unified": "4KiB"}}}, plots=False).to_dict()
    assert small["ops"][0]["mapping"]["tiling"]["whole_folds"] is False


# --- probe p156 #1: a tiling fits when its largest tile does. A tile holds ⌈F/s⌉ or ⌊F/s⌋ whole folds of the F
# along a dimension cut s ways, so the largest can be up to twice the average (bytes / splits) the fit test used.

def _gemm(arch, m, n, k):
    r = accelsim.simulate({"model": "gemm", "m": m, "n": n, "k": k}, arch, plots=False).to_dict()
    return r["ops"][0]["mapping"]["tiling"], r["bytes"]["hbm"]


def test_scalesim_32x32_largest_row_tile_fits():
    # scalesim-32x32: 32×32 os int8, 64 KiB ifmap / filter / ofmap buffers, double-buffered: 32,768 B a tile.
    # 196×100×784: A = 196·784 = 153,664 B, B = 784·100 = 78,400 B, C = 196·100 = 19,600 B (int8 outputs, os).
    # os lays m on the 32 rows (⌈196/32⌉ = 7 folds) and n on the 32 columns (⌈100/32⌉ = 4 folds); a tile of
    # several folds keeps k = 784 whole. An A tile of whole folds: 32·784 = 25,088 B fits, 2 folds 64·784 =
    # 50,176 B do not, so nm = 7; B likewise 784·32 = 25,088 B, 784·64 = 50,176 B: nn = 4 (the old 5 and 3 row
    # and column tiles held up to 2 folds). k unsplit, n outer (order nm): B once, A nn = 4 times:
    # 4·153,664 + 78,400 + 19,600 = 712,656 B; m outer reads B 7 times: 153,664 + 7·78,400 + 19,600 = 722,064 B;
    # one-fold tiles cutting k read A 4 and B 7 times: 614,656 + 548,800 + 19,600 = 1,183,056 B
    tiling, hbm = _gemm("scalesim-32x32", 196, 100, 784)
    assert (tiling["nm"], tiling["nn"], tiling["nk"], tiling["order"]) == (7, 4, 1, "nm")
    assert tiling["whole_folds"] is True
    assert hbm == 4 * 153_664 + 78_400 + 19_600 == 712_656


def test_gemmini_largest_column_tile_fits():
    # gemmini: 16×16 ws int8, 64 KiB ifmap and filter scratchpads and a 128 KiB int32 accumulator, double-buffered:
    # 32,768 B of A, 32,768 B of B and 65,536 B of partial sums (4 B each, 16,384 of them) a tile.
    # 1000×300×300: A = 300,000 B, B = 90,000 B, C = 300,000 B of int8 outputs. ws lays k on the 16 rows
    # (⌈300/16⌉ = 19 folds) and n on the 16 columns (19 folds); m is streamed (any rows).
    # k unsplit: B's tile 300·en ≤ 32,768 → en ≤ 109 columns, ⌊109/16⌋ = 6 folds, nn = ⌈19/6⌉ = 4 (tiles of up to
    # 5 folds, 80 columns, 24,000 B; nn = 3 had tiles of 7 folds, 300·112 = 33,600 B > 32,768 B). A's tile
    # 300·em ≤ 32,768 → em ≤ 109 rows, nm = ⌈1000/109⌉ = 10 (100 rows); C: 100·80 = 8,000 ≤ 16,384 partial sums.
    # m outer reads A once and B nm = 10 times: 300,000 + 900,000 + 300,000 = 1,500,000 B (n outer: A 4 times,
    # 1,590,000 B). k split reads A nn and B nm times with em·en ≤ 16,384: nn = 1 (300 columns) needs em ≤ 54,
    # nm = 19: 2,310,000 B; nn = 2 (10 folds, 160 columns) em ≤ 102, nm = 10: 1,800,000 B; more nn, more A
    tiling, hbm = _gemm("gemmini", 1000, 300, 300)
    assert (tiling["nm"], tiling["nn"], tiling["nk"], tiling["order"]) == (10, 4, 1, "mn")
    assert hbm == 300_000 + 10 * 90_000 + 300_000 == 1_500_000


def test_eyeriss_largest_tiles_fit_the_shared_buffer():
    # eyeriss-like: 12×14 ws int16 with int16 partial sums, one 108 KiB global buffer, double-buffered: 55,296 B,
    # 27,648 elements, shared by the three tiles. 512×256×784: A = 512·784·2 = 802,816 B, B = 784·256·2 =
    # 401,408 B, C = 512·256·2 = 262,144 B. k on the 12 rows (⌈784/12⌉ = 66 folds), n on the 14 columns
    # (⌈256/14⌉ = 19 folds), m streamed. A tiling fits when em·ek + ek·en + em·en ≤ 27,648 (largest tiles).
    # k split reads A nn and B nm times: a·nn + b·nm + c, a = 2b. 8b + c needs nm + 2·nn = 8 or less:
    #   (3, 2): em = ⌈512/3⌉ = 171, en = ⌈19/2⌉ = 10 folds = 140, one k fold (12): 2,052 + 1,680 + 23,940 =
    #   27,672 > 27,648 (the old tiling (3, 2, 64), whose k tiles held up to 2 folds, 24 rows, took 31,404);
    #   nn = 1 (256 columns) with nm ≤ 5 (em ≥ 103): 103·256 = 26,368, + 12·(103 + 256) = 30,676; so 8b is least:
    #   (4, 2): em = 128, en = 140: ek·268 ≤ 27,648 − 17,920 = 9,728 → ek ≤ 36, 3 folds, nk = ⌈66/3⌉ = 22
    #   (4,608 + 5,040 + 17,920 = 27,568), 176 tiles; (6, 1) also fits, em = 86: ek·342 ≤ 5,632 → one fold,
    #   nk = 66, 396 tiles; (2, 3): em = 256, en = 98, 25,088 + 12·354 = 29,336 does not fit.
    # k unsplit: 784·(em + en) + em·en ≤ 27,648 with en ≥ 14 (one fold) leaves em ≤ 20: nm ≥ ⌈512/20⌉ = 26 and
    # nn = 19, reading B 26 times or A 19 times, far more.
    # 2·802,816 + 4·401,408 + 262,144 = 3,473,408 B
    tiling, hbm = _gemm("eyeriss-like", 512, 256, 784)
    assert (tiling["nm"], tiling["nn"], tiling["nk"]) == (4, 2, 22)
    assert hbm == 2 * 802_816 + 4 * 401_408 + 262_144 == 3_473_408
