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


def test_ws_splits_m_freely_and_its_schedule_search_only_in_one_fold_tiles():
    # 1000 × 64 × 16 int8 on a 16×16 ws array: k = 16 is one fold of the rows, n 4 folds of the columns, m streamed.
    # A = 16,000 B, B = 1,024 B, partial sums 1000·64·4 = 256,000 B; 8 KiB tiles.
    caps = fold_caps(1000, 64, 16, 16, 16, "ws")
    assert caps == (1000, 4, 1) and caps.temporal == "m" and not caps.priced
    # ws / is caps search with m free (the least-traffic search, each m chunk preloading its folds again, which
    # the mapper charges in cycles): C's tile needs nm·nn ≥ 256,000 / 8192 = 31.25, and nn = 1, nm = 32 (a power
    # of two, the search's m splits) keeps A (500 B tiles) and B (whole) in their buffers: every operand once
    t = tile_gemm(1000, 64, 16, 16_000, 1_024, 256_000, 8192, 8192, 8192, "g", caps)
    assert (t.nm, t.nn, t.nk, t.a_reads, t.b_reads, t.whole_folds) == (32, 1, 1, 1, 1, True)
    # the fold model's schedule (caps.schedule()): m cut only in one-fold tiles (nn = 4, nk = 1) with m's loop
    # inside n's, each weight fold preloaded once while its m chunks stream: C needs nm ≥ 256,000 / (8192·4) =
    # 7.8, so nm = 8 (A: 16,000 / 8192 ≤ 2). A is read once per column fold (4), B once.
    t = tile_gemm(1000, 64, 16, 16_000, 1_024, 256_000, 8192, 8192, 8192, "g", caps.schedule())
    assert (t.nm, t.nn, t.nk, t.order, t.a_reads, t.b_reads, t.whole_folds) == (8, 4, 1, "nm", 4, 1, True)
    # k = 32, two folds: m chunks of one fold would not run back to back (k is the innermost loop), so the
    # schedule keeps m whole, C's tile needs nn ≥ 32 > 4, and no tiling of whole folds fits: narrower tiles,
    # whole_folds False. The free search fits (32, 1, 1) in whole folds, as above.
    caps = fold_caps(1000, 64, 32, 16, 16, "ws")
    assert not tile_gemm(1000, 64, 32, 32_000, 2_048, 256_000, 8192, 8192, 8192, "g", caps.schedule()).whole_folds
    t = tile_gemm(1000, 64, 32, 32_000, 2_048, 256_000, 8192, 8192, 8192, "g", caps)
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (32, 1, 1, True)


def test_fold_caps_schedule_keeps_counts_and_differs_in_the_caches():
    caps = fold_caps(1000, 64, 16, 16, 16, "ws")
    sched = caps.schedule()
    assert tuple(sched) == tuple(caps) and sched.temporal == "m" and sched.priced and sched != caps
    assert fold_caps(64, 64, 64, 16, 16, "os").priced  # os: always the schedule's tilings


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


def test_eyeriss_1024_cube_pays_the_preloads_of_its_m_chunks():
    # eyeriss-like (12×14 ws, 200 MHz, 1.6 GB/s: 8 B a cycle): its least-traffic tiling cuts m (test_tiling_folds:
    # 15·X = 31,457,280 B, X = 2 MiB) into nm chunks of tiles of many folds, each preloading its folds again:
    # 6364·(nm − 1)·36 cycles beyond SCALE-Sim's 6364·1060 − 1 = 6,745,839. The schedule's own tiling (m whole)
    # moves 71·X = 148,897,792 B (test_tiling_folds, before this fix), 18,612,224 cycles at 8 B a cycle, more than
    # the least-traffic one's 6,745,839 + 6364·7·36 = 8,349,567 (its bytes 3,932,160 cycles): that one is kept
    r = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024}, "eyeriss-like", plots=False).to_dict()
    o = r["ops"][0]
    tiling = o["mapping"]["tiling"]
    assert tiling["nm"] + tiling["nn"] == 14 and o["bytes"]["hbm"] == 15 * 2_097_152
    refill = 6364 * (tiling["nm"] - 1) * 36
    assert o["mapping"]["refill_cycles"] == refill
    assert o["compute_cycles"] == 6364 * 1060 - 1 + refill
    assert (tiling["nm"], refill, o["compute_cycles"]) == (8, 1_603_728, 8_349_567)


def test_gemmini_1024_cube_takes_the_schedules_tiling_where_it_is_faster():
    # gemmini (16×16 ws, 1 GHz, 16 GB/s: 16 B a cycle, no preload overlap), 1024³ int8: F = 64·64 = 4096 folds of
    # τ = 2·16 + 16 + 1024 − 2 = 1070: 4096·1070 − 1 = 4,382,719 cycles. The least-traffic tiling (8, 8, 4) moves
    # 17 MiB (A and B 8 times, C once) but its 8 m chunks add 4096·7·(2·16 + 16 − 2) = 1,318,912 cycles: 5,701,631.
    # The schedule's (m whole): the int32 partial sums of 1024 rows, 4 MiB, in 64 KiB tiles: nn = 64, nk = 32 (A
    # in 32 KiB tiles: 1 MiB / (32 KiB·1) = 32), A read 64 times: 66 MiB = 69,206,016 B, 4,325,376 cycles at 16 B a
    # cycle, below its compute 4,382,719 < 5,701,631: the schedule's tiling, no refill
    r = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024}, "gemmini", plots=False).to_dict()
    o = r["ops"][0]
    assert (o["mapping"]["tiling"]["nm"], o["mapping"]["tiling"]["nn"]) == (1, 64)
    assert o["bytes"]["hbm"] == 66 * 2**20 == 69_206_016
    assert "refill_cycles" not in o["mapping"] and o["compute_cycles"] == 4096 * 1070 - 1 == 4_382_719


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
