"""A tiny GEMM is latency-bound: its simulated time is its critical path, written out term by term below.

The path as the model accounts it today (docs/architecture.md, "Memory latency of a GPU GEMM"): the host's graph
launch, the kernel's dispatch, the engine's first LOAD (its transfer plus the HBM latency), the thread block's
tile cycles (accelsim.cost.gpu_tiles: a prologue that waits one L2 + HBM round trip for its first K-stage, the
main loop, an epilogue that waits one L2 latency for its output write) and the engine's last STORE (its transfer
plus the HBM latency). The HBM latency is on this path three times where the hardware pays it once for the load
(the first K-stage) and not at all for the write (the kernel ends when its stores reach L2): a known double count,
kept because removing either copy makes the measured GEMMs worse overall (docs/validation.md, "GEMM memory
latency"). This test pins that accounting, so that changing it is a deliberate act."""

from __future__ import annotations

from accelsim import simulate

# arch/a100.yaml (its sources cited there)
CLOCK = 1.41e9  # clock: 1410MHz
SMS = 108  # cores
L2_LAT = 200e-9 * CLOCK  # l2 latency 200ns = 282 cycles
HBM_LAT = 600e-9 * CLOCK  # hbm latency 600ns = 846 cycles
L2_SHARE = 7219.2e9 / CLOCK / SMS  # one SM's share of the L2 bandwidth: 5120 B/cycle / 108 = 47.4 B/cycle
GRAPH_LAUNCH = 3.5e-6 * CLOCK  # graph_launch 3.5us: the host launches the pass's one CUDA graph
DISPATCH = 0.87e-6 * CLOCK  # kernel_dispatch 0.87us: the device starts the kernel
K_STAGE, STAGES = 32, 4  # core.tile: k 32, stages 4
BF16 = 2


def test_tiny_gemm_is_its_critical_path():
    """m=1, n=128, k=128 bf16 under CUDA graphs: no tile shape fills 108 SMs, so the fastest one is taken, the
    64x64 (cut to 1x64: less of B in each K-stage than 128-wide tiles): two thread blocks on two SMs, one wave."""
    m, n, k, tn = 1, 128, 128, 64
    round_trip = L2_LAT + HBM_LAT  # 1128 cycles: the first K-stage misses L2 and comes from HBM
    prologue = round_trip + K_STAGE * (m + tn) * BF16 / L2_SHARE  # + the 4160-byte stage at the SM's share: 88
    # main loop: 4 K-stages, 3 in flight (Little's law): 4 x 1128 / 3 = 1504 cycles, more than the tensor core's
    # 2 folds of a 32x32 output-stationary array, 2 x (32 + 32 + 128 - 2) = 380 cycles
    main_loop = max(-(-k // K_STAGE) * round_trip / (STAGES - 1), 2 * (32 + 32 + k - 2))
    epilogue = L2_LAT + m * tn * BF16 / L2_SHARE  # the 128-byte output tile written into L2: 282 + 3
    tile = prologue + main_loop + epilogue  # 3004 cycles
    # the engine's memory tasks complete a latency after their transfer: the first load HBM's, the last store the
    # L2's (a GPU's stores are done when its write-back L2 holds them)
    first_load, last_store = HBM_LAT, L2_LAT
    hand = GRAPH_LAUNCH + DISPATCH + first_load + tile + last_store  # 10 294 cycles = 7.30 us
    sim = simulate({"model": "gemm", "m": m, "n": n, "k": k, "dtype": "bf16"}, "a100",
                   execution="cuda_graph").seconds * CLOCK
    # besides, the operands' transfers: 32.8 KB through HBM at 1446 B/cycle (2039 GB/s), a third of it before the
    # first K-slice group computes: under 100 cycles even at a third of the peak
    assert hand <= sim <= hand + 100
