"""Probe p100: the fold model's schedule (SCALE-Sim's: every fold streams its whole temporal dimension T, os k,
ws m, is n, at once) and the tiler's bytes describe one schedule (#1), and os with ``preload_overlap`` waits on
each fold's R-cycle output drain (#2)."""

import accelsim
from accelsim.cost.folds import folds, refill_cycles
from accelsim.mapping.tiling import fold_caps, tile_gemm, tile_gemm_shared

# --- #2: os with preload_overlap, a fold takes max(T, R) ---

def test_os_overlap_fold_waits_on_the_output_drain():
    # 256×256×1 on a 32×32 os array: F = ⌈256/32⌉·⌈256/32⌉ = 64 folds of T = 1 MAC; each fold's 32×32 outputs
    # leave by the 32 column ports one row a cycle (R = 32 cycles), so the pipeline's steady fold is max(1, 32)
    # = 32 cycles: 64·32 + R + C − 3 = 2,048 + 61 = 2,109 (not 64·1 + 61 = 125)
    f = folds(256, 256, 1, 32, 32, "os", True)
    assert (f.rows, f.cols, f.fold_cycles) == (8, 8, 32)
    assert f.cycles == 64 * max(1, 32) + 32 + 32 - 3 == 2_109
    # T ≥ R: the drain hides under the next fold's T: 256×256×100, 64·100 + 61 = 6,461 (as before)
    assert folds(256, 256, 100, 32, 32, "os", True).cycles == 64 * 100 + 61 == 6_461
    # ws and is keep R + F·max(T, R) + R + C − 3: 32 + 2,048 + 61 = 2,141 (the probe's hand figure)
    assert folds(256, 256, 1, 32, 32, "ws", True).cycles == 32 + 64 * 32 + 61 == 2_141


def test_os_overlap_end_to_end_cycles():
    # the probe's command: accelsim run -w gemm -a scalesim-32x32 --set workload.m=256 ... n=256 k=1 int8
    # --set arch.core.systolic.preload_overlap=true: compute_cycles 2,109 (hand figure above), fold_cycles 32
    r = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 1, "dtype": "int8"},
                          {"base": "scalesim-32x32", "core": {"systolic": {"preload_overlap": True}}},
                          plots=False).to_dict()
    o = r["ops"][0]
    assert o["compute_cycles"] == 2_109 and o["mapping"]["fold_cycles"] == 32


# --- #1: the temporal dimension is split only in tiles of one fold whose chunks run back to back ---

def test_os_layer4_conv2_splits_k_only_in_one_fold_tiles():
    # resnet18 layer4.0.conv2 as SCALE-Sim's os 32×32 sees it: GEMM 49 × 512 × 4608 int8, A = 49·4608 = 225,792 B
    # (im2col), B = 4608·512 = 2,359,296 B, C = 49·512 = 25,088 B; 32 KiB tiles. Folds: ⌈49/32⌉ = 2 × ⌈512/32⌉ = 16.
    a, b, c, budget = 49 * 4608, 4608 * 512, 49 * 512, 32 * 1024
    caps = fold_caps(49, 512, 4608, 32, 32, "os")
    assert caps == (2, 16, 4608) and caps.temporal == "k"
    t = tile_gemm(49, 512, 4608, a, b, c, budget, budget, budget, "l4c2", caps)
    # k whole: A's tile 225,792 / nm ≤ 32,768 needs nm ≥ 7 > 2 folds, so k is split, and only in one-fold tiles
    # (nm = 2, nn = 16: each fold streams its k chunks back to back, its partial sums in the PEs): A needs
    # nk ≥ 225,792 / (32,768·2) = 3.4, B nk ≥ 2,359,296 / (32,768·16) = 4.5: nk = 5. (Before: nm = nn = 1, 32
    # folds in one tile, k in chunks, a schedule of 32·(nk·62 + 4608) − 1 cycles, not the 32·(62 + 4608) − 1 =
    # 149,439 priced.)
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (2, 16, 5, True)
    # split k reads A once per column fold and B once per row fold, B's as SCALE-Sim 3.0's DRAM filter reads on
    # this layer (probe p100: 4,718,592 = 2 × 2,359,296)
    assert (t.a_reads, t.b_reads) == (16, 2) and b * t.b_reads == 4_718_592
    assert t.traffic(a, b, c) == 225_792 * 16 + 4_718_592 + 25_088 == 8_356_352


def test_os_multi_fold_tiles_keep_k_whole():
    # 64 × 64 × 64 int8 on a 16×16 os array (4 × 4 folds), 8 KiB tiles: A = B = 4096 B fit whole, C = 4096 B:
    # k unsplit with nm = nn = 1 fits (each of the 16 folds streams all 64 of k from the buffer): A, B, C once
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 8192, 8192, 8192, "g", fold_caps(64, 64, 64, 16, 16, "os"))
    assert (t.nm, t.nn, t.nk) == (1, 1, 1) and t.traffic(4096, 4096, 4096) == 3 * 4096
    # 1 KiB tiles: k whole needs nm ≥ 4 and nn ≥ 4 (A, B 4096 / 1024), so nm = nn = 4 = the fold counts with
    # nk = 1 and order m outer: A once, B 4 times: 4096·(1 + 4 + 1) = 24,576 B; a k split (only in one-fold
    # tiles, 4 × 4) reads both 4 times: 4096·(4 + 4 + 1) = 36,864 B
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 1024, 1024, 1024, "g", fold_caps(64, 64, 64, 16, 16, "os"))
    assert (t.nm, t.nn, t.nk) == (4, 4, 1) and t.traffic(4096, 4096, 4096) == 24_576
    # 512 B tiles: k whole cannot fit (nm ≤ 4 folds: A's tile 1024 B), so one-fold tiles, nk = 4096 / (512·4) = 2
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 512, 512, 512, "g", fold_caps(64, 64, 64, 16, 16, "os"))
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (4, 4, 2, True) and t.traffic(4096, 4096, 4096) == 36_864


def test_ws_splits_m_only_with_one_k_fold_and_m_inside_n():
    # 1000 × 64 × 16 int8 on a 16×16 ws array: k = 16 is one fold of the rows, n 4 folds of the columns, m streamed.
    # A = 16,000 B, B = 1,024 B, partial sums 1000·64·4 = 256,000 B; 8 KiB tiles. m whole: C's tile 256,000 / nn
    # needs nn ≥ 32 > 4 folds. So m is cut in one-fold tiles (nn = 4, nk = 1) with m's loop inside n's, each
    # weight fold preloaded once while its m chunks stream: C needs nm ≥ 256,000 / (8192·4) = 7.8, so nm = 8
    # (A: 16,000 / 8192 ≤ 2). A is read once per column fold (4), B once.
    caps = fold_caps(1000, 64, 16, 16, 16, "ws")
    assert caps == (1000, 4, 1) and caps.temporal == "m"
    t = tile_gemm(1000, 64, 16, 16_000, 1_024, 256_000, 8192, 8192, 8192, "g", caps)
    assert (t.nm, t.nn, t.nk, t.order, t.a_reads, t.b_reads, t.whole_folds) == (8, 4, 1, "nm", 4, 1, True)
    # k = 32, two folds: m chunks of one fold would not run back to back (k is the innermost loop), so m stays
    # whole, C's tile needs nn ≥ 32 > 4, and no tiling of whole folds fits: narrower tiles, whole_folds False
    caps = fold_caps(1000, 64, 32, 16, 16, "ws")
    t = tile_gemm(1000, 64, 32, 32_000, 2_048, 256_000, 8192, 8192, 8192, "g", caps)
    assert not t.whole_folds


def test_unified_buffer_os_one_fold_tiles():
    # 64³ int8 on a 16×16 os array (4 × 4 folds), one 2048 B budget for the three tiles (a·nn + b·nm + c·nk ≤
    # 2048·nm·nn·nk, A = B = C = 4096 B). k whole: 4096·(nn + nm + 1) ≤ 2048·nm·nn with nm, nn ≤ 4: 4 · 4: 36 ≤ 32?
    # no; so one-fold tiles (4, 4) with k split: 4096·(4 + 4 + nk) ≤ 2048·16·nk → nk ≥ 8/7: nk = 2, and split k
    # reads A 4 and B 4 times: 4096·9 = 36,864 B
    t = tile_gemm_shared(64, 64, 64, 4096, 4096, 4096, 2048, "g", fold_caps(64, 64, 64, 16, 16, "os"))
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (4, 4, 2, True) and t.traffic(4096, 4096, 4096) == 36_864


def test_fold_caps_of_other_dataflows_differ_in_the_caches():
    # equal counts, other streamed dimension: not equal (the lru caches of the searches key on them)
    os_, ws = fold_caps(1, 8, 1, 1, 4, "os"), fold_caps(1, 8, 1, 1, 4, "ws")
    assert tuple(os_) == tuple(ws) == (1, 2, 1) and os_ != ws and os_ == (1, 2, 1)


# --- #1, ws / is: each extra chunk of the temporal dimension preloads its folds again (cost.folds.refill_cycles) ---

def test_refill_cycles_without_overlap():
    # eyeriss-like's 12×14 ws array, 1024³: F = ⌈1024/12⌉·⌈1024/14⌉ = 86·74 = 6364 folds; m in 8 chunks: each
    # fold runs 8 times, SCALE-Sim's τ = 2R + C + T_c − 2 each, 7 more preloads and fills of 2·12 + 14 − 2 = 36
    assert refill_cycles(1024, 1024, 1024, 12, 14, "ws", 8) == 6364 * 7 * 36 == 1_603_728
    # that is Σ over the chunks of F·τ_c minus the one-chunk F·τ: 8 chunks of 128 rows
    tau = lambda t: 2 * 12 + 14 + t - 2  # noqa: E731
    assert 6364 * (8 * tau(128) - tau(1024)) == 1_603_728
    # is: n streamed (is maps k on the rows, m on the columns): 64×256×32 on 16×16, F = 2·4 = 8, n in 4 chunks
    assert refill_cycles(64, 256, 32, 16, 16, "is", 4) == 8 * 3 * (32 + 16 - 2) == 1_104
    # os preloads nothing (its tilings cut k only in one-fold tiles); one chunk is the schedule itself
    assert refill_cycles(1024, 1024, 1024, 12, 14, "os", 8) == 0
    assert refill_cycles(1024, 1024, 1024, 12, 14, "ws", 1) == 0


def test_refill_cycles_with_preload_overlap():
    # with overlap a fold takes max(T, R) (the next preload hidden under its streaming): chunks of 128 rows on a
    # 16-row array hide every preload, so 8 chunks of 1024 cost 8·max(128, 16) − max(1024, 16) = 0
    assert refill_cycles(1024, 64, 64, 16, 16, "ws", 8, overlap=True) == 0
    # m = 100 in 8 chunks: 4 of 13 rows and 4 of 12, each under R = 16: 8·16 − 100 = 28 a fold, F = 4·4 = 16
    assert refill_cycles(100, 64, 64, 16, 16, "ws", 8, overlap=True) == 16 * (8 * 16 - 100) == 448
    # more chunks than rows: one row each (100 chunks): 100·16 − 100 = 1500 a fold
    assert refill_cycles(100, 64, 64, 16, 16, "ws", 1000, overlap=True) == 16 * 1500
