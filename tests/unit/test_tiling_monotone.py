"""Probe p187 #1: a bigger scratchpad never moves more DRAM bytes. A tiling that fits a buffer fits every bigger
one (the fit test, a·n·em·ek + b·m·ek·en + c·k·em·en ≤ budget·m·n·k, only loosens as the budget grows), so the
least traffic over the tilings that fit cannot rise with the budget; the tiler weighs the narrower tiling of a
smaller buffer that holds no whole-fold tile against the whole-fold ones (docs/architecture.md, "a tile covers
whole array folds")."""

import random

import pytest

import accelsim
from accelsim.mapping.tiling import fold_caps, tile_gemm, tile_gemm_shared

# resnet50 layer4.1.conv2 on tpu-v1 as the mapper passes it (probe p187): GEMM 49 × 512 × 4608 int8 on the 256×256
# ws array; A = the 7·7·512 B input = 25,088 B, B = 3·3·512·512 = 2,359,296 B of weights, C = 49·512 int32
# partial sums = 100,352 B
M, N, K = 49, 512, 4608
A, B, C = 7 * 7 * 512, 3 * 3 * 512 * 512, 49 * 512 * 4
ONCE = A + B + C  # each operand read once: 2,484,736 B, the least any tiling moves


def test_layer4_conv2_reads_its_weights_once_at_every_budget():
    assert (A, B, C, ONCE) == (25_088, 2_359_296, 100_352, 2_484_736)
    caps = fold_caps(M, N, K, 256, 256, "ws")
    # 8-column tiles with k and m whole (nm = 1, nn = 64, nk = 1) read each operand once; their largest tiles hold
    # A's 25,088 B, B's 4608·8 = 36,864 B and C's 49·8·4 = 1,568 B, 63,520 B in all, so they fit every budget from
    # 63,520 B on, and no tiling moves less than ONCE: the least traffic is ONCE at each of them. The smallest
    # whole-fold tile (one 256×256 weight fold, one row of m: em = 1, en = ek = 256) needs
    # (a·n·em·ek + b·m·ek·en + c·k·em·en) / (m·n·k) = 25,088·256/(49·4608) + 2,359,296·256·256/(4608·512)
    # + 100,352·256/(49·512) = 28.4 + 65,536 + 1,024, rounded up 66,589 B; from there whole-fold tiles fit, but
    # keeping C's 49 × 256 int32 partial sums (50,176 B)
    # beside a weight fold needs nm > 1, each m tile reading the weights again (before the fix: at 66,589 B nm = 49,
    # 2·25,088 + 49·2,359,296 + 100,352 = 115,756,032 B; at the probe's 80,000 B, 4 reads, 9,587,712 B)
    budgets = [63_520, 65_536, 66_588, 66_589, 70_000, 80_000, 232_817, *range(63_520, 300_000, 1_009)]
    for budget in sorted(budgets):
        t = tile_gemm_shared(M, N, K, A, B, C, budget, "layer4.1.conv2", caps)
        assert (t.a_reads, t.b_reads) == (1, 1), (budget, t)
        assert t.traffic(A, B, C) == ONCE, (budget, t)
    # below 66,589 B no whole-fold tile fits; the 8-column tiles take over, and at 66,589 B too (not 49 reads of B)
    t = tile_gemm_shared(M, N, K, A, B, C, 66_589, "layer4.1.conv2", caps)
    assert t.whole_folds is False and t.b_reads == 1
    # once a whole-fold tiling reads each operand once, it is kept: one n tile of both 256-column folds needs the
    # weight tile 256·512 = 131,072 B and C's 49·512·4 = 100,352 B beside A's 25,088·256/4608 = 1,394 B:
    # ⌈25,088·256/4608 + 131,072 + 100,352⌉ = 232,818 B (nm = nn = 1, nk = 18)
    t = tile_gemm_shared(M, N, K, A, B, C, 232_818, "layer4.1.conv2", caps)
    assert (t.nm, t.nn, t.nk, t.whole_folds) == (1, 1, 18, True) and t.traffic(A, B, C) == ONCE


@pytest.mark.parametrize("shared", [False, True])
def test_traffic_never_rises_with_the_buffer(shared):
    # property over small GEMMs on ws and is arrays: as a unified budget grows, or as the three split buffers grow
    # together (the same proportions), the tiler's traffic never rises. (os arrays keep SCALE-Sim's schedule, whose
    # whole-fold tiles cut k only in one-fold tiles: a buffer too small for one fold's outputs may move fewer bytes
    # there, a known gap, docs/architecture.md.)
    rng = random.Random(187)
    for _ in range(120):
        m, n, k = (rng.randint(1, 40) for _ in range(3))
        rows, cols = rng.choice([2, 3, 4, 8]), rng.choice([2, 3, 4, 8])
        caps = fold_caps(m, n, k, rows, cols, rng.choice(["ws", "is"]))
        a, b, c = m * k, k * n, m * n * 4
        base = (1,) if shared else tuple(rng.randint(1, 4) for _ in range(3))
        last = None
        for scale in range(4, 1200, 7):
            budgets = tuple(x * scale for x in base)
            try:
                t = (tile_gemm_shared(m, n, k, a, b, c, budgets[0], "g", caps) if shared
                     else tile_gemm(m, n, k, a, b, c, *budgets, "g", caps))
            except accelsim.errors.MappingError:
                assert last is None  # a buffer that holds no tiling is smaller than every one that holds one
                continue
            traffic = t.traffic(a, b, c)
            assert last is None or traffic <= last, (m, n, k, caps, budgets, t)
            last = traffic


def test_resnet_hbm_bytes_fall_as_the_unified_buffer_grows():
    # the probe's sweep: ResNet-18 and ResNet-50 on tpu-v1, core.sram.unified from 64 KiB to 1 MiB; before, 192 KiB
    # (ResNet-18) and 256 KiB (ResNet-50) moved about 3.6 times the bytes of 128 KiB
    for workload in ("resnet18", "resnet50"):
        last = None
        for unified in ("64KiB", "128KiB", "192KiB", "256KiB", "512KiB", "1MiB"):
            arch = {"base": "tpu-v1", "core": {"sram": {"unified": unified}}}
            hbm = accelsim.simulate(workload, arch, plots=False).to_dict()["bytes"]["hbm"]
            assert last is None or hbm <= last, (workload, unified, hbm, last)
            last = hbm
