"""Probe p188 #1 and #2: a narrow tiling (``whole_folds`` false) is priced at the array folds it runs, ties in
bytes go to fewer folds, and the tiler takes a narrow tiling over the whole-fold one only where its estimated time,
max(its fold cycles, its bytes at the main memory's bytes per cycle), is lower (docs/architecture.md, "a tile
covers whole array folds")."""

import accelsim
from accelsim.cost import folds
from accelsim.mapping.tiling import Tiling, fold_caps, narrow_folds, tile_gemm_shared, tiling_cycles

# resnet50 layer4.1.conv2 on tpu-v1 at core.sram.unified = 256 KiB as the mapper passes it (probe p188): GEMM
# 49 × 512 × 4608 int8 on the 256×256 ws array with preload overlap; A already on chip (0 B), B = the weights and
# bias, 2,361,344 B, C = 49·512 int32 partial sums = 100,352 B, one 68,352-byte budget
M, N, K = 49, 512, 4608
A, B, C = 0, 2_361_344, 49 * 512 * 4
BUDGET = 68_352
R = COLS = 256
TPU_V1_BPC = 34e9 / 700e6  # tpu-v1: 34 GB/s of DDR3 at a 700 MHz clock, 48.57 B a cycle


def _ws_cycles(folds_run: int, t: int) -> int:
    """ws with overlap, by hand: R + (F − 1)·max(T, R) + T + R + C − 3."""
    return R + (folds_run - 1) * max(t, R) + t + R + COLS - 3


def test_equal_bytes_go_to_fewer_folds():
    caps = fold_caps(M, N, K, R, COLS, "ws")
    t = tile_gemm_shared(M, N, K, A, B, C, BUDGET, "layer4.1.conv2", caps)
    # B and C once (A is free): 2,361,344 + 100,352 = 2,461,696 B, the least any tiling moves
    assert t.traffic(A, B, C) == 2_461_696 and t.b_reads == 1 and not t.whole_folds
    # before, (1, 40, 1): 40 tiles of ⌈512/40⌉ = 13 columns by all 4,608 rows of k, ⌈4608/256⌉ = 18 row folds
    # each: 720 folds. Now (1, 3, 32): 96 tiles of ⌈512/3⌉ = 171 columns by ⌈4608/32⌉ = 144 rows, 1 fold each;
    # the same bytes, its largest tiles ⌈2,361,344·144·171/(4608·512) + 100,352·171/512⌉ = ⌈24,645.4 + 33,516⌉
    # = 58,162 B (of 68,352)
    assert narrow_folds(M, N, K, (1, 40, 1), caps.grains, "m") == 40 * 1 * 18 == 720
    assert (t.nm, t.nn, t.nk) == (1, 3, 32)
    assert narrow_folds(M, N, K, (1, 3, 32), caps.grains, "m") == 3 * 32 * 1 * 1 == 96


def test_narrow_tiles_are_priced_at_their_own_folds():
    # T = the 49 rows of m each fold streams (m is not cut), max(T, R) = 256
    assert _ws_cycles(720, 49) == 256 + 719 * 256 + 49 + 256 + 256 - 3 == 184_878
    assert _ws_cycles(96, 49) == 256 + 95 * 256 + 49 + 256 + 256 - 3 == 25_134
    # whole folds: the GEMM's own ⌈4608/256⌉·⌈512/256⌉ = 36 folds
    assert _ws_cycles(36, 49) == 256 + 35 * 256 + 49 + 256 + 256 - 3 == 9_774
    narrow = Tiling(1, 40, 1, "mn", 40, 1, whole_folds=False)
    assert tiling_cycles(M, N, K, narrow, R, COLS, "ws", True) == 184_878
    assert tiling_cycles(M, N, K, Tiling(1, 3, 32, "mn", 3, 1, whole_folds=False), R, COLS, "ws", True) == 25_134
    assert tiling_cycles(M, N, K, Tiling(25, 2, 18, "mn", 2, 25), R, COLS, "ws", True) == 9_774


def test_narrow_only_where_it_takes_less_time():
    caps = fold_caps(M, N, K, R, COLS, "ws")
    # tpu-v1's memory: the narrow (1, 3, 32) takes max(25,134, 2,461,696 / 48.57 = 50,682) = 50,682 cycles; the
    # whole-fold tiling at this budget reads B 25 times, (25 · 2,361,344 + 100,352) / 48.57 = 1,217,463 cycles
    t = tile_gemm_shared(M, N, K, A, B, C, BUDGET, "layer4.1.conv2", caps, None, (True, TPU_V1_BPC, C))
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (1, 3, 32, False)
    # a memory so fast that bytes cost nothing: the narrow tiles' 25,134 fold cycles lose to the whole folds'
    # 9,774, so the whole-fold tiling stays though it moves 24 times the bytes (no compute hidden)
    t = tile_gemm_shared(M, N, K, A, B, C, BUDGET, "layer4.1.conv2", caps, None, (True, 1e9, C))
    assert t.whole_folds and (t.nm, t.nn, t.nk) == (25, 2, 18)
    assert t.traffic(A, B, C) == 25 * 2_361_344 + 100_352 == 59_133_952


def test_a_run_prices_every_narrow_op_at_its_folds():
    # probe p188 #2: resnet50 on tpu-v1 at 256 KiB reported 1,602,562 cycles where its narrow ops' folds alone
    # needed 2,519,868. Every narrow op's compute is now at least its tiles' folds, priced independently here
    # from the report's GEMM and tiling (m×n×k, count; the largest tile ⌈m/nm⌉ × ⌈n/nn⌉ × ⌈k/nk⌉, nm·nn·nk·count
    # of them run back to back on the 256×256 ws array with overlap)
    arch = {"base": "tpu-v1", "core": {"sram": {"unified": "256KiB"}}}
    r = accelsim.simulate("resnet50", arch, plots=False).to_dict()
    narrow = 0
    for op in r["ops"]:
        tiling = (op.get("mapping") or {}).get("tiling") or {}
        if tiling.get("whole_folds") is not False:
            continue
        narrow += 1
        m, n, k, count = op["mapping"]["gemm"]
        nm, nn, nk = tiling["nm"], tiling["nn"], tiling["nk"]
        need = folds.cycles(-(-m // nm), -(-n // nn), -(-k // nk), R, COLS, "ws", nm * nn * nk * count, True)
        assert op["compute_cycles"] >= need, (op["name"], op["compute_cycles"], need)
        assert tiling["fold_cycles"] == need
    assert narrow > 0
    (conv,) = [op for op in r["ops"] if op["name"] == "layer4.1.conv2"]
    assert conv["compute_cycles"] == 25_134  # (1, 3, 32): 96 folds, above


def test_resnet_cycles_fall_as_the_unified_buffer_grows():
    # with narrow tiles priced at their folds and taken only where faster, the probe's sweep (p187 #1, p188 #2)
    # runs no slower and moves no more bytes as the buffer grows (docs/architecture.md says what is and is not
    # guaranteed: the tiler's choice is an estimate, so this is a check of these runs, not a theorem)
    for workload in ("resnet18", "resnet50"):
        last = None
        for unified in ("64KiB", "96KiB", "128KiB", "192KiB", "256KiB", "384KiB", "512KiB", "1MiB"):
            arch = {"base": "tpu-v1", "core": {"sram": {"unified": unified}}}
            d = accelsim.simulate(workload, arch, plots=False).to_dict()
            now = (d["total_cycles"], d["bytes"]["hbm"])
            assert last is None or (now[0] <= last[0] and now[1] <= last[1]), (workload, unified, now, last)
            last = now
