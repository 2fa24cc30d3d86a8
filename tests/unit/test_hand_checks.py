"""Hand calculations on tiny chips against the mapper: an op split over cores, the GEMM tiling search, access
granules, latency rounding, the per-op ``bound`` label and the scratchpad-rate note.

The chip (``_arch``): 1 GHz, int8, per core a 4×4 weight-stationary array and 4 vector lanes, split 64 KiB SRAM
buffers (double-buffered), HBM of unbounded bandwidth and no latency unless a test says otherwise."""

from __future__ import annotations

import itertools
import random

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload
from accelsim.errors import MappingError
from accelsim.hardware import Arch
from accelsim.mapping.tiling import _reads, tile_gemm
from accelsim.report.summary import scratchpad_rate_notes
from accelsim.units import time_cycles


def _arch(cores: int = 1, bandwidth: str = "inf", latency: str = "0ns", **sram: object) -> Arch:
    return Arch.model_validate({
        "name": "hand", "clock": "1GHz", "dtype": "int8", "cores": cores,
        "core": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"}, "vector": {"lanes": 4},
                 "sram": {"ifmap": "64KiB", "filter": "64KiB", "ofmap": "64KiB", "double_buffered": True, **sram}},
        "hbm": {"capacity": "1GiB", "bandwidth": bandwidth, "latency": latency},
    })


def _run(workload: dict, arch: str | Arch, **sets: object) -> dict:
    return simulate(load_workload(workload), arch, **sets).to_dict()


# ---- an op split over cores pays its fill and drain on every core ------------------------------------------------
@pytest.mark.parametrize(("size", "one", "four"), [
    # multicore-4: 64×64 ws arrays with preload overlap, R + F·max(T, R) + R + C − 3 (cost/folds.py), F = F_r·F_c,
    # (S_r, S_c, T) = (K, N, M). 128³ on one core: F = 2·2, T = 128: 64 + 4·128 + 125 = 701. On four cores A and B
    # are as large, so A is replicated and N is cut: each core runs 128×32×128, F = 2·1: 64 + 2·128 + 125 = 445.
    (128, 701, 445),
    # 64³: F = 1: 64 + 64 + 125 = 253 on one core; each core's 64×16×64 is still one fold: 253 (not 253 / 4)
    (64, 253, 253),
])
def test_split_gemm_pays_the_fold_overhead_per_core(size, one, four):
    wl = {"model": "gemm", "m": size, "n": size, "k": size}
    sets = ["arch.hbm.bandwidth=inf", "arch.hbm.latency=0ns"]
    for cores, want in ((1, one), (4, four)):
        rep = _run(wl, load_arch("multicore-4", [*sets, f"arch.cores={cores}"]))
        assert rep["ops"][0]["compute_cycles"] == want
        assert rep["total_cycles"] == want


@pytest.mark.parametrize(("workload", "cycles"), [
    # gelu: 8 lane-cycles an element (hardware.DEFAULT_VECTOR_COSTS): 2560 · 8 / 4 lanes = 5120 cycles, / 4 cores
    ({"model": "gelu", "elements": 2560}, 1280),
    # layernorm 64×64: 6 lane-cycles an element: 4096 · 6 / 4 = 6144 cycles, / 4 cores
    ({"model": "layernorm", "rows": 64, "cols": 64}, 1536),
])
def test_split_vector_op_is_even_over_cores(workload, cycles):
    rep = _run(workload, _arch(cores=4))
    op = rep["ops"][0]
    assert op["compute_cycles"] == cycles
    assert rep["total_cycles"] == cycles
    assert op["tiles"] % 4 == 0  # as many groups on every core


# ---- the GEMM tiling search finds the least traffic ---------------------------------------------------------------
def test_tiling_least_traffic_by_hand():
    # 1024³ int8: A, B and C 1 MiB each; budgets 4 KiB / 64 KiB / 16 KiB halved by double buffering: 2, 32, 8 KiB.
    # With k split 1024 times every A and B tile fits for any nm, nn (1 MiB / (nm · 1024) ≤ 2 KiB); either order
    # reads A nn times and B nm times, and C fits when nm · nn ≥ 1 MiB / 8 KiB = 128. Least nm + nn with
    # nm · nn ≥ 128: 23 (11 · 12 = 132, 10 · 13 = 130; a sum of 22 gives at most 11 · 11 = 121): 23 MiB + C's 1 MiB.
    # Unsplit k needs nm ≥ 1 MiB / 2 KiB = 512, and reads B nm times or A ≥ 32 times: far more.
    mib = 1 << 20
    t = tile_gemm(1024, 1024, 1024, mib, mib, mib, 2048, 32768, 8192)
    assert t.traffic(mib, mib, mib) == 24 * mib
    assert t.nm + t.nn == 23 and t.nm * t.nn >= 128


def _exhaustive(m, n, k, a, b, c, ba, bb, bc):
    """The least traffic over every split count and order, by the documented rule (_reads), or None."""
    best = None
    for nm, nn, nk in itertools.product(range(1, m + 1), range(1, n + 1), range(1, k + 1)):
        if a > ba * nm * nk or b > bb * nk * nn or c > bc * nm * nn:
            continue
        for order in ("mn", "nm"):
            fa, fb = _reads(nm, nn, nk, order)
            cost = a * fa + b * fb + c
            best = cost if best is None else min(best, cost)
    return best


def test_tiling_matches_exhaustive_search():
    rng = random.Random(7)
    for _ in range(60):
        m, n, k = (rng.choice([1, 2, 3, 5, 8, 12, 16]) for _ in range(3))
        a, b, c = m * k, k * n, m * n
        if rng.random() < 0.15:
            a = 0  # already on chip
        ba, bb, bc = (rng.choice([1, 2, 3, 4, 8, 16, 64]) for _ in range(3))
        want = _exhaustive(m, n, k, a, b, c, ba, bb, bc)
        try:
            got = tile_gemm(m, n, k, a, b, c, ba, bb, bc).traffic(a, b, c)
        except MappingError:
            got = None
        assert got == want, (m, n, k, a, b, c, ba, bb, bc)


# ---- transfers: granules once per tensor; latencies rounded ----------------------------------------------------
def test_granules_rounded_once_per_op():
    # add of two 64×64 int8 tensors: 2 · 4096 B read, 4096 B written, each a multiple of the 64-B access granule;
    # at 1 GB/s (1 B a cycle) HBM is busy 12,288 cycles, however the op's groups cut the bytes
    rep = _run({"model": "add", "rows": 64, "cols": 64}, _arch(bandwidth="1GB/s", latency="10ns"))
    busy = rep["utilization"]["hbm"] * rep["total_cycles"]
    assert rep["bytes"]["hbm"] == 12288
    assert busy == pytest.approx(12288, abs=0.5)


def test_latency_cycles_round_robustly():
    # 100 ns · 1 GHz is 100.00000000000001 in binary floating point: 100 cycles, not 101
    assert time_cycles(100e-9, 1e9) == 100
    assert time_cycles(1.5e-9, 1e9) == 2  # a true fraction still rounds up
    assert _arch(latency="100ns").latency_cycles("hbm") == 100
    assert load_arch("multicore-4").latency_cycles("hbm") == 300  # 300 ns at 1 GHz
    # a GPU gather's dependent round trip, an L2 hit then HBM: h100's 200 ns + 600 ns at 1830 MHz = 1,464 cycles
    # (cost.vector prices it with time_cycles too; a plain ceil of the parsed latencies' product gave 1,465)
    h100 = load_arch("h100")
    assert time_cycles(h100.memory("l2").latency + h100.memory("hbm").latency, h100.clock_hz) == 1464
    # the tolerance is relative 1e-12, not a rounding to nearest: 0.4 cycles past 600,000,000 still rounds up
    assert time_cycles(0.6000000004, 1e9) == 600_000_001


# ---- the per-op bound label -------------------------------------------------------------------------------------
def test_vector_op_bound_by_its_own_unit():
    # gelu of 65,536 int8 elements: 8 lane-cycles each on 4 lanes = 131,072 cycles = 131 µs of vector work; HBM
    # at 5 GB/s moves its 131,072 B (in and out) in 26.2 µs: compute-bound (the arrays' peak, 2 · 16 MACs a cycle,
    # would take its 524,288 FLOPs in 16.4 µs and call it memory-bound)
    rep = _run({"model": "gelu", "elements": 65536}, _arch(bandwidth="5GB/s"))
    op = rep["ops"][0]
    assert op["compute_cycles"] == 131072
    assert op["bytes"]["hbm"] == 131072
    assert op["bound"] == "compute"


def test_scratchpad_rate_note():
    # core.sram.bytes_per_cycle bounds only FlashAttention-2's operand reads: on a systolic chip it prices nothing
    rep = _run({"model": "gemm", "m": 16, "n": 16, "k": 16}, _arch(bytes_per_cycle=64))
    assert any(n.startswith("core.sram.bytes_per_cycle (64)") for n in rep["notes"])
    rep = _run({"model": "gemm", "m": 16, "n": 16, "k": 16}, _arch())
    assert not any("bytes_per_cycle" in n for n in rep["notes"])
    assert scratchpad_rate_notes(load_arch("a100")) == []  # its attention kernel is FlashAttention-2


def test_a_split_op_sums_its_units_work_and_keeps_max_tiles():
    # each unit of a split GEMM pays its own fill and drain (traffic.unit_cycles), so mapping.work_cycles, the
    # stall share's denominator, is the units' sum: units x the busiest one's when the shares are equal
    rep = simulate({"model": "gemm", "m": 128, "n": 128, "k": 128},
                            {"base": "multicore-4", "hbm": {"bandwidth": "inf", "latency": "0ns"}}).to_dict()
    op = rep["ops"][0]
    units = op["mapping"]["units"]
    assert units > 1 and op["mapping"]["work_cycles"] == units * op["compute_cycles"]
    # every unit runs as many groups: the count a multiple of the units, rounded down where up would pass
    # max_tiles_per_op (5 over 4 units: 4, not 8), up otherwise (16 over 3 cores: 15 is under 16, 18 over it)
    for cores, cap, tiles in ((4, 5, 4), (3, 16, 15)):
        rep = simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024},
                                {"base": "multicore-4", "cores": cores}, max_tiles_per_op=cap).to_dict()
        op = rep["ops"][0]
        assert op["mapping"]["units"] == cores and op["tiles"] == tiles <= cap


def test_a_split_op_gets_no_group_without_compute():
    # a 6-cycle op moving 5,000 B at 1 GB/s (5 µs: 5 groups of 1 µs of transfer) over 4 units: rounding 5 up to a
    # multiple of 4 gives 8, more groups than its 6 cycles; it gets 4 (a cycle or two each)
    from types import SimpleNamespace

    from accelsim.mapping.traffic import tile_groups
    from accelsim.options import Options

    assert tile_groups(SimpleNamespace(cycles=6), 1, 4, 5_000, 1e9, Options()) == 4
