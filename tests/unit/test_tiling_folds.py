"""SRAM tiles cover whole array folds (probe p22 finding 1): the bytes a tiling moves and the fold model's compute
cycles (SCALE-Sim's, priced on the whole GEMM) describe one schedule, so no tile is narrower than the array along
the dimensions the dataflow lays on its rows and columns while a tile of whole folds fits the scratchpad."""

import itertools
import math
import random

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
    # without the caps: k unsplit and B needs nn ≥ ⌈2,359,808 / 20,224⌉ = 117 column tiles, 512 / 117 ≈ 4.4 columns
    # wide on 16 array columns (the probe's 49×5×4608 tiles)
    narrow = tile_gemm(*args)
    assert (narrow.nm, narrow.nn, narrow.nk) == (1, 117, 1)
    # with them, nn ≤ 32 so k must split (B: nn·nk ≥ 117); k split reads B nm times (A, 0 B, nn times): nm = 1;
    # the C tile needs nm·nn ≥ ⌈75,264 / 40,448⌉ = 2, so nn = 2, and nk = ⌈2,359,808 / (20,224·2)⌉ = ⌈58.3⌉ = 59:
    # tiles of 256 columns (16 folds) × 4608 / 59 ≈ 78 rows (4 or 5 of the 288 folds of 16 rows)
    t = tile_gemm(*args, caps=fold_caps(49, 512, 4608, 16, 16, "ws"))
    assert (t.nm, t.nn, t.nk, t.b_reads, t.whole_folds) == (1, 2, 59, 1, True)
    assert t.traffic(0, 2_359_808, 25_088) == narrow.traffic(0, 2_359_808, 25_088) == 2_359_808 + 25_088


def test_gemmini_resnet18_layer4_conv2_end_to_end():
    r = accelsim.simulate("resnet18", "gemmini", plots=False).to_dict()
    o = next(o for o in r["ops"] if o["name"] == "layer4.0.conv2")
    tiling = o["mapping"]["tiling"]
    assert math.ceil(512 / tiling["nn"]) >= 16 and tiling["nn"] <= 512 // 16
    assert tiling["nk"] <= 4608 // 16 and tiling["whole_folds"] is True
    # compute, priced on the whole GEMM whatever the tiles: F = 288 · 32 = 9216 folds; gemmini's PEs double-buffer
    # weights (arch/gemmini.yaml: core.systolic.preload_overlap), so they pipeline, R + F·max(T, R) + R + C − 3
    # (docs/architecture.md) = 16 + 9216·49 + 16 + 16 − 3 = 451,629 (SCALE-Sim's no-overlap F·τ − 1, τ = 2·16 +
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
    assert 1024 / tiling["nk"] >= 12 and 1024 / tiling["nn"] >= 14
    assert o["bytes"]["hbm"] == 15 * 2_097_152 == 31_457_280
    # compute: F = 86 · 74 = 6364 folds of τ = 2·12 + 14 + 1024 − 2 = 1060
    assert o["compute_cycles"] == scalesim_cycles(1024, 1024, 1024, 12, 14, "ws") == 6364 * 1060 - 1


def _fits(m, n, k, a, b, c, budgets, nm, nn, nk):
    if len(budgets) == 1:
        return a * nn + b * nm + c * nk <= budgets[0] * nm * nn * nk
    ba, bb, bc = budgets
    return a <= ba * nm * nk and b <= bb * nk * nn and c <= bc * nm * nn


@pytest.mark.parametrize("shared", [False, True])
def test_no_tile_narrower_than_the_array_while_a_whole_fold_tile_fits(shared):
    # property: over small GEMMs, arrays and buffers, a tiling obeys the fold caps whenever some tiling within them
    # fits (brute force over every split count), and says so (whole_folds False) only when none does
    rng = random.Random(22)
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
        any_whole = any(_fits(m, n, k, a, b, c, budgets, x, y, z)
                        for x, y, z in itertools.product(*(range(1, cap + 1) for cap in caps)))
        assert t.whole_folds == any_whole, (m, n, k, rows, cols, dataflow, budgets, t)
        if t.whole_folds:
            assert all(x <= cap for x, cap in zip((t.nm, t.nn, t.nk), caps, strict=True))
        assert _fits(m, n, k, a, b, c, budgets, t.nm, t.nn, t.nk)


def test_a_buffer_smaller_than_one_fold_takes_narrow_tiles_and_says_so():
    # gemmini with a 64 B filter buffer (32 B a tile, double-buffered; one step of the 16 columns is 16 B): a 16×16
    # weight fold (256 B) cannot fit, so the 64³ GEMM's filter tiles are narrower (B = 4096 B over nn·nk ≥ 128
    # tiles) and mapping.tiling says whole_folds false
    arch = {"base": "gemmini", "core": {"sram": {"filter": "64B"}}}
    r = accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, arch, plots=False).to_dict()
    tiling = r["ops"][0]["mapping"]["tiling"]
    assert tiling["whole_folds"] is False
    assert tiling["nn"] * tiling["nk"] >= 4096 // 32
    # ... and the run says that its compute cycles, priced as whole folds, are an underestimate (probe p25)
    (note,) = [n for n in r["notes"] if n.startswith("scratchpad:")]
    assert "1 systolic op (gemm)" in note and "an underestimate" in note


def test_whole_folds_is_written_on_every_systolic_op():
    # tpu-v1's default 24 MiB unified buffer holds a 256 x 256 int8 weight fold (64 KiB) with its A and C tiles, so
    # the default 1024^3 GEMM's tiles are whole folds; with the buffer at 4 KiB not even one fold's weights fit
    big = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024}, "tpu-v1", plots=False).to_dict()
    assert big["ops"][0]["mapping"]["tiling"]["whole_folds"] is True
    assert not any(n.startswith("scratchpad:") for n in big["notes"])
    small = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024},
                              {"base": "tpu-v1", "core": {"sram": {"unified": "4KiB"}}}, plots=False).to_dict()
    assert small["ops"][0]["mapping"]["tiling"]["whole_folds"] is False
