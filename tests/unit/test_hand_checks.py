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
    # multicore-4: 64×64 ws arrays with preload overlap, R + (F − 1)·max(T, R) + T + R + C − 3 (cost/folds.py: the
    # last fold has no next preload to wait for, probe p169 #1), F = F_r·F_c, (S_r, S_c, T) = (K, N, M). 128³ on one
    # core: F = 2·2, T = 128: 64 + 3·128 + 128 + 125 = 701. On four cores A and B are as large, and the cut whose
    # busiest core computes less is taken (mapping/traffic.py): N, each core 128×32×128, F = 2·1, T = 128:
    # 64 + 128 + 128 + 125 = 445; M, each core 32×128×128, F = 2·2, T = 32 < R: 64 + 3·64 + 32 + 125 = 413, so M.
    # (Before probe p169 #1 the M cut's last fold paid max(T, R) = 64 too, 445, a tie that kept N.)
    (128, 701, 413),
    # 64³: F = 1: 64 + 64 + 125 = 253 on one core; over four, N's 64×16×64 is one fold of T = 64: 253; M's
    # 16×64×64 one fold of T = 16: 64 + 16 + 125 = 205, taken (not 253 / 4: each core pays its fill and drain)
    (64, 253, 205),
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
    """The least traffic over every split count and order, by the documented rule (_reads), or None. A tiling fits
    when its largest tiles do (probe p156 #1): ⌈m/nm⌉ × ⌈k/nk⌉ of A's m × k elements, so a·em·ek ≤ ba·m·k."""
    best = None
    for nm, nn, nk in itertools.product(range(1, m + 1), range(1, n + 1), range(1, k + 1)):
        em, en, ek = -(-m // nm), -(-n // nn), -(-k // nk)
        if a * em * ek > ba * m * k or b * ek * en > bb * k * n or c * em * en > bc * m * n:
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
    # max_tiles_per_op (5 over 4 units: 4, not 8), up otherwise (16 over 3 cores: 15 is under 16, 18 over it).
    # Both are coarser than the op's finest groups, so each unit's first and last group may be cut into a ramp
    # (traffic.ramp_groups): the whole GEMM on one array is 64 + 256·1024 + 125 = 262,333 cycles (the fold model
    # above), 262 groups of 1,000 cycles (its 6 MiB at 409.6 GB/s are only 15 µs); 262 // 4 = 65 and 262 // 15 = 17
    # are both at least 2^4, so each end may take RAMP_MAX = 4 halvings, and takes those that pay
    # (test_a_ramp_keeps_the_halvings_that_pay works the 4-core case out: 4 at the start, 3 at the end). A unit's
    # cut groups add a piece a halving: its first of f halvings becomes 1, 1, 2, …, 2^(f−1) parts in 2^f, its last
    # of l the same in reverse, and a unit of one group is cut f − 1 halvings up and l − 1 down (f + l pieces)
    for cores, cap, tiles, each in ((4, 5, 4, 1), (3, 16, 15, 5)):
        rep = simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024},
                                {"base": "multicore-4", "cores": cores}, max_tiles_per_op=cap).to_dict()
        op = rep["ops"][0]
        assert op["mapping"]["units"] == cores and tiles <= cap and tiles == cores * each
        first, last = op["mapping"]["ramp"]
        assert 0 < max(first, last) <= 4
        assert op["tiles"] == cores * (first + last if each == 1 else each + first + last)


def test_a_ramp_keeps_the_halvings_that_pay():
    """traffic.ramp_groups on the 4-core case above (1024³ on multicore-4 at max_tiles_per_op 5: one group on each
    core): the inputs as traffic gives them, the busiest core's compute, 65,725 cycles (traffic.unit_cycles), and
    the main memory's transfers, 30,720 cycles, 5,120 of them the output's. Per group (4): loads L = (30,720 −
    5,120) / 4 = 6,400, a store S = 1,280, a unit's last compute c = 65,725 (one group each). The op's time with f
    and l halvings is the longer of the memory's 30,720 + (c + S)·2^-l and the compute behind the 4 units' queued
    first loads and last stores, 65,725 + 4·(L·2^-f + S·2^-l): 97,725 at (0, 0), so the halvings not yet taken pay
    while they would save 0.5 % of that, 488.6 cycles, together; at (4, 4), every halving allowed,
    65,725 + 4·(400 + 80) = 67,645.
      (0, 0): start → max(97,725, 83,645): 0; end → max(64,222.5, 93,885): 3,840. The end.
      (0, 1): start → 81,085: 12,800; end → 92,605: 1,280. The start.
      (1, 1): start → 74,685: 6,400. (2, 1): start → 71,485: 3,200; end → 73,405: 1,280.
      (3, 1): start → 69,885: 1,600; end → 70,205: 1,280. (4, 1): the start has its 4; end → 68,605: 1,280.
      (4, 2): 68,605 − 67,645 = 960 left ≥ 488.6: end → 67,965. (4, 3): 320 left < 488.6: stop at (4, 3).
    At ramp_max 2 the same steps stop at (2, 1), 74,685, with 1,280 left, to (2, 2).
    A memory-bound op (4 groups on one unit, 4,000 cycles of compute, 40,000 of loads): 41,000 at (0, 0), 205
    pays, 40,062.5 at (4, 4); its start never shortens it (4,000 + 10,000 < 40,000); its end saves 500, then 250,
    and at (0, 2), 40,250, the 187.5 left do not pay: (0, 2). With no transfer time (an unbounded memory) nothing
    pays: (0, 0)."""
    from types import SimpleNamespace

    from accelsim.mapping.traffic import RAMP_PAYS, ramp_groups

    assert RAMP_PAYS == 0.005
    gemm = SimpleNamespace(cycles=262_333)  # its finest groups: 262 (6 MiB at 409.6 GB/s: 15 µs)
    assert ramp_groups(gemm, 4, 4, 6 << 20, 409.6e9, 4, 65_725, 30_720, 5_120) == (4, 3)
    assert ramp_groups(gemm, 4, 4, 6 << 20, 409.6e9, 2, 65_725, 30_720, 5_120) == (2, 2)
    assert ramp_groups(gemm, 4, 4, 6 << 20, 409.6e9, 0, 65_725, 30_720, 5_120) == (0, 0)
    stream = SimpleNamespace(cycles=4_000)  # finest: min(10⁶ B at 1 GB/s = 1,000 µs, 4,000 cycles) = 1,000 groups
    assert ramp_groups(stream, 4, 1, 10**6, 1e9, 4, 4_000, 40_000, 0) == (0, 2)
    assert ramp_groups(stream, 4, 1, 10**6, 1e9, 4, 4_000, 0, 0) == (0, 0)


def test_a_one_group_op_overlaps_its_halves_and_grows_with_batch():
    """A 128³ int8 GEMM on tpu-v1 (256×256 ws array with preload overlap, 700 MHz; DDR3 34 GB/s = 48.571 B a
    cycle, 100 ns = 70 cycles of latency). Compute (cost/folds.py): one fold (F = 1, T = M = 128), nothing to
    overlap, R + (F − 1)·max(T, R) + T + R + C − 2 − 1 = 256 + 0 + 128 + 256 + 256 − 3 = 893 cycles, SCALE-Sim's
    2R + C + T − 3 (1,021 = 256 + max(128, 256) + 509 before probe p169 #1 charged the one fold a next preload).
    It moves A + B = 32,768 B in (674.6 cycles) and C = 16,384 B out (337.3): 1,012 cycles of transfer, 1.45 µs, so
    its finest cut is one group. Run as one group, load, compute and store are back to back: 674.6 + 70 + 893 +
    337.3 + 70 = 2,045 cycles. Cut in two halves that share its buffer (traffic.ramp_groups), the first half
    computes after its 337.3-cycle load, the second half's load (done at 674.6 + 70) hides under the first half's
    446.5 cycles of compute (337.3 + 70 + 446.5 = 853.8), and only the second half's store, 168.6 cycles, follows
    the compute: 337.3 + 70 + 893 + 168.6 + 70 = 1,538.9 cycles. No schedule beats the longer of compute and
    transfer plus a load's and a store's latency, 1,012 + 2·70 = 1,152. Batch 1 to 4 then never gets faster."""
    arch = load_arch("tpu-v1", [])
    cycles = []
    for batch in (1, 2, 3, 4):
        rep = simulate(load_workload({"model": "gemm", "m": 128, "n": 128, "k": 128, "batch": batch}), arch).to_dict()
        cycles.append(rep["total_cycles"])
        if batch == 1:
            op = rep["ops"][0]
            assert op["compute_cycles"] == 893
            assert op["bytes"]["hbm"] == 3 * 128 * 128
            assert op["tiles"] == 2
            assert 1152 <= rep["total_cycles"] <= 1539 + 2  # (each transfer rounded up to whole cycles)
    assert cycles == sorted(cycles), cycles


def test_a_split_op_gets_no_group_without_compute():
    # a 6-cycle op moving 5,000 B at 1 GB/s (5 µs: 5 groups of 1 µs of transfer) over 4 units: rounding 5 up to a
    # multiple of 4 gives 8, more groups than its 6 cycles; it gets 4 (a cycle or two each)
    from types import SimpleNamespace

    from accelsim.mapping.traffic import tile_groups
    from accelsim.options import Options

    assert tile_groups(SimpleNamespace(cycles=6), 1, 4, 5_000, 1e9, Options()) == 4


def test_a_ramp_starts_each_unit_after_a_small_load():
    """Two cores share one HBM of 64 GB/s (64 B a cycle, no latency); a 65536×4×4 int8 GEMM at max_tiles_per_op 2
    runs one group on each core. ws on the 4×4 array: R + R + C + T − 2 − 1 = T + 9 cycles (cost/folds.py), so
    the whole GEMM is 65,545 cycles and each core's half (cut along M: A is the larger operand) 32,768 + 9 =
    32,777. The A bytes, 65536·4 = 262,144 B, are cut over the groups; B (16 B) is read by each core (32 B: one
    64-B granule, a cycle, on the first group); the output is 262,144 B.

    Without a ramp (options.ramp_max 0) each group is half the op: core 0 loads 131,072 B (2,048 cycles) and B (1 cycle),
    core 1's half is served after it, 2,049 → 4,097; core 1 computes to 4,097 + 32,777 = 36,874 and stores its
    131,072 B (2,048 cycles) after core 0's store (34,826 → 36,874): 38,922 cycles, 4,097 + 2,048 of them
    transfers before and after the compute.

    With it: the op's finest groups are 65,545 // 1,000 = 65 (its 524,304 B at 64 GB/s are only 8 µs), 65 // 2 =
    32 ≥ 2^4, so the default ramp_max = 4 halvings at each end, and all of them pay (traffic.ramp_groups: 8,193
    cycles of transfers, 4,096 of them stores; unramped, max(8,193 + 32,777 + 2,048, 32,777 + 2·(2,048.5 + 2,048))
    = 43,018 cycles, so 215 pay, and the last halving at either end still saves 2·(2,048/8 − 2,048/16) = 256), and
    each core's one group becomes pieces of 1, 1, 2, 4, 4, 2, 1, 1 sixteenths (32 sixteenths in all over the two cores: 8,192 B of A, 128 cycles, and 8,192 B of output each).
    Core 0's first piece loads in 128 + 1 cycles, core 1's after it, to 257; the rest of the loads (4,096 + 1
    cycles of them) are done by ~4,600, long before the computes need them, so core 1 computes from 257 to
    257 + 32,777 = 33,034; core 0 ends at 129 + 32,777 = 32,906 and stores its last piece (128 cycles) to 33,034,
    and core 1 its last piece after it: 33,162 cycles. Work and bytes are conserved: each core's compute adds up
    to 32,777 cycles, the loads to 262,144 + 32 B and the stores to 262,144 B."""
    from accelsim import mapping
    from accelsim.config import build_graph
    from accelsim.engine.sim import simulate as replay
    from accelsim.options import Options
    from accelsim.tasks import TaskKind

    arch = _arch(cores=2, bandwidth="64GB/s")
    graph = build_graph(load_workload({"model": "gemm", "m": 65536, "n": 4, "k": 4}), arch.dtype)

    def run(**opts) -> tuple[int, list]:
        tg = mapping.lower(graph, arch, Options(max_tiles_per_op=2, **opts))
        return replay(tg).total_cycles, tg.tasks

    total, tasks = run()
    assert total == 257 + 32_777 + 128 == 33_162
    computes = [t for t in tasks if t.kind is TaskKind.COMPUTE]
    assert len(computes) == 2 * 8
    assert {u: sum(t.cycles for t in computes if t.unit == u) for u in {t.unit for t in computes}} == {
        computes[0].unit: 32_777, computes[1].unit: 32_777}
    assert sum(t.nbytes for t in tasks if t.kind is TaskKind.LOAD) == 262_144 + 32
    assert sum(t.nbytes for t in tasks if t.kind is TaskKind.STORE) == 262_144
    assert [t.cycles for t in computes[::2]] == [2049, 2049, 4098, 8194, 8194, 4097, 2048, 2048]  # 32,777 in 16ths

    total, tasks = run(ramp_max=0)
    assert total == 4_097 + 32_777 + 2_048 == 38_922
    assert sum(t.kind is TaskKind.COMPUTE for t in tasks) == 2


def test_ramp_shares_add_up_to_the_groups_they_replace():
    from accelsim.mapping.emit import group_plan, ramp_shares
    from accelsim.mapping.plan import Plan

    # 3 groups, 2 halvings at each end: 1 + 1 + 2 = 4 quarters of the first, a whole (4), 2 + 1 + 1 of the last;
    # the pieces before each end's last share its buffer
    assert ramp_shares(3, (2, 2)) == ([1, 1, 2, 4, 2, 1, 1], [True, True, False, False, True, True, False])
    assert ramp_shares(1, (3, 3)) == ([1, 1, 2, 2, 1, 1], [True] * 5 + [False])  # one group: 2 halvings up, 2 down
    assert ramp_shares(2, (0, 0)) == ([1, 1], [False, False])
    # one end only: 3 groups, the last cut twice (whole, whole, then 2 + 1 + 1 quarters), or the first
    assert ramp_shares(3, (0, 2)) == ([4, 4, 2, 1, 1], [False, False, True, True, False])
    assert ramp_shares(3, (2, 0)) == ([1, 1, 2, 4, 4], [True, True, False, False, False])
    # one group: 2 halvings down in all of it (2 + 1 + 1 quarters); 3 up in its first half and none in its second
    # (1 + 1 + 2 eighths, then the whole half, 4)
    assert ramp_shares(1, (0, 2)) == ([2, 1, 1], [True, True, False])
    assert ramp_shares(1, (3, 1)) == ([1, 1, 2, 4], [True, True, True, False])
    # two units of 1,000 and 1,001 cycles, 2 groups each, 1 halving: pieces of 1, 1 | 1, 1 halves, dealt round
    # robin, each unit's adding up to its cycles
    units, cycles, weights = group_plan(Plan(op=None, index=0, units=(0, 1)), 4, unit_cycles=(1000, 1001), ramp=(1, 1))
    assert units == [0, 1] * 4 and weights == [1] * 8
    assert cycles == [250, 251, 250, 250, 250, 250, 250, 250]
    # one unit, 1,200 cycles in 3 groups of 400, 2 halvings: 100, 100, 200 | 400 | 200, 100, 100
    units, cycles, weights = group_plan(Plan(op=None, index=0, cycles=1200, units=(0,)), 3, ramp=(2, 2))
    assert units == [0] * 7 and weights == [1, 1, 2, 4, 2, 1, 1] and cycles == [100, 100, 200, 400, 200, 100, 100]
