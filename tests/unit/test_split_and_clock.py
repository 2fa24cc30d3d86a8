"""More cores and a faster clock never make a run slower: the mapper splits an op over only as many units as pay
(mapping/choice.py ``assign``, weighing the activations a core keeps on chip), and tile groups are sized by compute
cycles and transfer time, not by the clock (mapping/traffic.py ``tile_groups``); an op cut along its GEMM count
copies no operand. The hand calculations are in each test's comments."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload

GEMM_1024 = {"model": "gemm", "m": 1024, "n": 1024, "k": 1024}


def _run(workload: dict, arch: str, sets: list[str]) -> dict:
    """report.json of ``workload`` on the preset ``arch`` with ``sets`` (``--set`` overrides)."""
    return simulate(load_workload(workload), load_arch(arch, sets)).to_dict()


def test_more_cores_never_slow_a_memory_bound_gemm_on_tpu_v1():
    """1024³ int8 on tpu-v1 (256×256 array at 700 MHz, 34 GB/s DDR3, 24 MiB unified buffer: no re-reads). One core
    moves A + B + C = 3 × 1 MiB = 3,145,728 B: 92.52 µs at 34 GB/s, against 1024³ / 65,536 MACs a cycle = 16,384
    cycles = 23.4 µs of compute, so it is HBM-bound. Split over N cores every core streams the replicated operand (A
    and B are as large: A), (N + 2) MiB: 123.4 µs already at N = 2, slower than one core. So every N runs it on one
    core: the one-core time, and 3 MiB from HBM (it was 94.3 / 125.2 / 187.0 / 312.1 µs at N = 1 / 2 / 4 / 8)."""
    one = _run(GEMM_1024, "tpu-v1", [])
    assert one["bytes"]["hbm"] == 3 * 2**20
    assert 3 * 2**20 / 34e9 <= one["seconds"] < 4 * 2**20 / 34e9
    for cores in range(2, 9):
        rep = _run(GEMM_1024, "tpu-v1", [f"arch.cores={cores}"])
        assert rep["seconds"] == one["seconds"], cores
        assert rep["bytes"]["hbm"] == 3 * 2**20, cores
        assert rep["ops"][0]["core"] == 0


@pytest.mark.parametrize("arch", ["gemmini", "edge-npu", "eyeriss-like", "multicore-4"])
def test_the_1024_cube_gemm_is_never_slower_on_more_cores(arch):
    """Cores 1 to 8: the time never rises by more than the tile groups' rounding (each N can run the op as any fewer
    cores would; the choice is by an estimate, and an op's groups are a multiple of its units, max_tiles_per_op 16
    cut as 16 / 15 / 12 groups on 4 / 5 / 6 units, which the estimate does not see: 1024³ on eyeriss-like's
    memory-bound cores runs 19.786 / 19.793 / 19.833 ms on 4 / 5 / 6, within 0.3 %; the bound is 0.5 %). Before a
    split cost the copies it makes, tpu-v1 ran 94.3 -> 312.1 µs from 1 to 8 cores."""
    times = [_run(GEMM_1024, arch, [f"arch.cores={n}"])["seconds"] for n in range(1, 9)]
    assert all(b <= a * 1.005 for a, b in zip(times, times[1:], strict=False)), times
    assert times[-1] <= times[0], times


def test_a_compute_bound_gemm_still_splits_on_gemmini():
    """gemmini: one 16×16 array at 1 GHz, so one core alone computes 1024³ / 256 = 4,194,304 cycles = 4.19 ms (a
    bound below its whole run). Two cores halve the compute, and their transfers at 16 GB/s fit below it (the
    tiling on 64 KiB buffers re-reads the operands, but well within 4.19 ms × 16 GB/s = 67 MB): the split pays."""
    one = _run(GEMM_1024, "gemmini", [])
    two = _run(GEMM_1024, "gemmini", ["arch.cores=2"])
    assert one["seconds"] >= 1024**3 / 256 / 1e9
    assert two["seconds"] < 1024**3 / 256 / 1e9
    assert two["ops"][0]["mapping"]["units"] == 2
    assert two["bytes"]["hbm"] < 4.194304e-3 * 16e9


def test_each_core_of_a_split_gemm_tiles_its_own_sub_gemm():
    """256³ int8 on gemmini (split buffers, double-buffered: 32 KiB ifmap, 32 KiB filter and 64 KiB ofmap tiles;
    partial sums int32). A = B = 64 KiB, C's partial sums 256·256·4 = 256 KiB, C written 64 KiB.

    One core: C needs nm·nn ≥ 256 / 64 = 4 tiles, so nm = nn = 1 is out; reading every operand once needs k
    unsplit and nm or nn 1, but then A (nm = 1: 64 KiB in 32 KiB tiles with nk = 1) or B does not fit. The least
    is one operand re-read once: nm = nn = 2, nk = 1, m outer, A once and B twice: 64 + 128 + 64 = 256 KiB.

    Two cores, cut along N (A is no larger than B, so every core streams A): each tiles its own 256 × 128 × 256
    sub-GEMM, B's half 32 KiB and partial sums 128 KiB: nm = 2, nn = nk = 1 fits (A 32 KiB tiles, B whole, C 2 ×
    64 KiB) and reads each operand once, the least possible. HBM = 2 × (64 + 32) + 64 = 256 KiB. The model read
    A as the whole op's tiling does on every core before: 2 × 64 + 2 × 64 + 64 = 320 KiB."""
    gemm = {"model": "gemm", "m": 256, "n": 256, "k": 256}
    one = _run(gemm, "gemmini", [])
    assert one["bytes"]["hbm"] == (64 + 2 * 64 + 64) * 1024
    assert one["ops"][0]["mapping"]["tiling"] == {"nm": 2, "nn": 2, "nk": 1, "order": "mn", "a_reads": 1,
                                                  "b_reads": 2, "whole_folds": True}  # 128-wide tiles: 8 folds
    two = _run(gemm, "gemmini", ["arch.cores=2"])
    mapping = two["ops"][0]["mapping"]
    assert (mapping["units"], mapping["split"]) == (2, "n")
    assert mapping["tiling"] == {"nm": 2, "nn": 1, "nk": 1, "order": "mn", "a_reads": 1, "b_reads": 1,
                                 "whole_folds": True}
    assert two["bytes"]["hbm"] == (2 * (64 + 32) + 64) * 1024


def test_a_grouped_conv_split_along_its_groups_copies_nothing():
    """conv2d 64 → 64 channels, 3×3, groups 4, 56×56, bf16 on multicore-4: Gemm(3136, 16, 144, count 4). Over 4
    cores each runs one group's GEMM and reads only its own input channels and filters, so HBM moves what one core
    does: input 64·56·56·2 = 401,408 B, weights 64·16·9·2 = 18,432 B and bias 128 B, output 401,408 B: 821,376 B
    (the weights and bias were counted once per core: + 3 · 18,560 = 877,056 B)."""
    wl = {"model": "conv2d", "groups": 4}
    for cores in (1, 4):
        rep = _run(wl, "multicore-4", [f"arch.cores={cores}"])
        assert rep["bytes"]["hbm"] == 401_408 + 18_432 + 128 + 401_408
    assert rep["ops"][0]["mapping"]["split"] == "count"
    assert rep["ops"][0]["mapping"]["units"] == 4


# a GEMM then a layer norm of its output: 1024 × 1024 int8 activations, 1 MiB each
GEMM_NORM = {"model": "layers", "input": [1024, 1024],
             "layers": [{"type": "linear", "out_features": 1024, "bias": False}, {"type": "layer_norm"}]}


def test_a_norm_after_a_gemm_stays_on_the_gemm_core():
    """tpu-v1 (700 MHz, DDR3 at 34e9 / 700e6 = 48.57 B a cycle, 24 MiB unified buffer: resident activations take up
    to half of it) with 128 vector lanes, cores 1, 2 and 4. The 1024³ GEMM stays on one core (memory-bound, as in
    the first test) and its output C (1 MiB) fits the 12 MiB a core keeps on chip. The norm computes 1,048,576
    elements × 6 cycles (hardware.py's layernorm) / 128 lanes = 49,152 cycles (70.2 µs) on one vector unit, 24,576
    on each of two; one pass of C through DDR3 is 2^20 / 48.57 = 21,588 cycles (30.8 µs).

    On the GEMM's core the norm reads C on chip and writes its output (a graph output) under its compute: about
    49,152 cycles after the GEMM. Split over both cores it reads C from DDR3 and writes its output, 2 × 21,588
    cycles of transfers, after the GEMM's store of C, another 21,588: about 64,800. So it stays, and main memory
    moves A and B (2 MiB), gamma and beta (1,024 B, and 4,096: an int8 op's additive shift is int32,
    units.INT_BIAS_DTYPE, as I-BERT's integer LayerNorm adds its bias at the int32 scale) and the norm's output
    (1 MiB): 3,150,848 B, the one-core
    run's bytes and time. The choice used to leave residency out and split it: 5,246,976 B (C written and read,
    gamma and beta on both cores) and 155.1 µs against 133.8 µs on one core."""
    sets = ["arch.core.vector.lanes=128"]
    one = _run(GEMM_NORM, "tpu-v1", sets)
    assert one["bytes"]["hbm"] == 3 * 2**20 + 1024 + 4 * 1024
    for cores in (2, 4):
        rep = _run(GEMM_NORM, "tpu-v1", [*sets, f"arch.cores={cores}"])
        gemm, norm = rep["ops"]
        assert (gemm["core"], norm["core"]) == (0, 0), cores
        assert gemm["mapping"]["resident_output"], cores
        assert gemm["bytes"]["hbm"] == 2 * 2**20
        assert norm["bytes"]["hbm"] == 2**20 + 1024 + 4 * 1024
        assert rep["bytes"]["hbm"] == one["bytes"]["hbm"]
        assert rep["seconds"] == one["seconds"]


def test_the_split_estimate_leaves_out_what_stays_on_chip():
    """The norm of GEMM_NORM on tpu-v1 priced on one unit with nothing loaded ahead: its transfers are its input
    (1 MiB), gamma and beta (1,024 B and, int32, 4,096 B) and its output (1 MiB) at 48.57 B a cycle, 43,282.1
    cycles; with its input on chip and its output kept there, gamma and beta alone, 5,120 / 48.57 = 105.4 cycles. Its compute is 49,152
    cycles either way (1,048,576 × 6 / 128)."""
    from accelsim.config import build_graph
    from accelsim.mapping.aliases import aliases
    from accelsim.mapping.fusion import fuse, pipeline
    from accelsim.mapping.pricing import price
    from accelsim.mapping.traffic import split_estimate
    from accelsim.options import Options

    arch = load_arch("tpu-v1", ["cores=2", "core.vector.lanes=128"])
    graph = build_graph(load_workload(GEMM_NORM), arch.dtype)
    plans = pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)
    (norm,) = [p for p in plans if p.op.name == "layernorm"]
    bpc = 34e9 / 700e6
    _, compute, memory = split_estimate(norm, arch, Options(), 1, 1)
    assert (compute, memory) == (49_152, pytest.approx((2 * 2**20 + 1024 + 4 * 1024) / bpc))
    _, compute, memory = split_estimate(norm, arch, Options(), 1, 1, on_chip=(2**20, 0), keep_out=True)
    assert (compute, memory) == (49_152, pytest.approx((1024 + 4 * 1024) / bpc))


CLOCKS = ["500MHz", "1GHz", "2GHz", "4GHz"]


def test_a_faster_clock_never_slows_a_memory_bound_gemm_on_tpu_v1():
    """256³ int8 on tpu-v1: A, B and C are 65,536 B each, 196,608 B from HBM: 5.78 µs at 34 GB/s, a bound at any
    clock. It was 6.040 µs at 500 MHz and 6.188 µs at 1 GHz: the groups were sized in cycles, so the faster
    clock cut the op into more of them. Now one a µs of transfer: 196,608 / 34,000 = 5 at every clock."""
    reps = [_run({"model": "gemm", "m": 256, "n": 256, "k": 256}, "tpu-v1", [f"arch.clock={c}"]) for c in CLOCKS]
    times = [r["seconds"] for r in reps]
    assert all(t >= 196_608 / 34e9 for t in times)
    assert times == sorted(times, reverse=True), times
    assert {r["ops"][0]["tiles"] for r in reps} == {5}


def test_a_faster_clock_never_slows_a_latency_bound_gemm_on_gemmini():
    """33×16×32 with batch 2 (a 66×16×32 GEMM, int8) on a 128×5 os array, 1 GB/s HBM with 1 µs latency: A 2,112 B,
    B 512 B, C 1,056 B: 3,680 B = 3.68 µs of transfer, and the last store's 1 µs latency after it: at least 4.68 µs.
    Groups of 1,000 compute cycles (651 cycles: none) or 1 µs of transfer: 3 at every clock, where the groups
    sized in cycles were 1 / 3 / 7 / 14 at 0.5 / 1 / 2 / 4 GHz, each pair exposing the 1 µs latency behind double
    buffering (7.01 / 6.25 / 7.81 / 10.45 µs)."""
    sets = ["arch.core.systolic.rows=128", "arch.core.systolic.cols=5", "arch.core.systolic.dataflow=os",
            "arch.hbm.bandwidth=1GB/s", "arch.hbm.latency=1us"]
    wl = {"model": "gemm", "m": 33, "n": 16, "k": 32, "batch": 2}
    reps = [_run(wl, "gemmini", [*sets, f"arch.clock={c}"]) for c in CLOCKS]
    times = [r["seconds"] for r in reps]
    assert all(t >= 4.68e-6 for t in times)
    assert times == sorted(times, reverse=True), times
    assert {r["ops"][0]["tiles"] for r in reps} == {3}
    assert reps[0]["ops"][0]["bytes"]["hbm"] == 2_112 + 512 + 1_056


@pytest.mark.parametrize(("rows", "cores", "hbm"), [
    # fp16 layer norm of rows × 4,096 on multicore-4 (no shared cache): its input and output, rows × 8 KiB each,
    # once in all however the rows are cut; gamma and beta (2 × 8 KiB) broadcast over the rows each core
    # normalises, so every core of the split reads all 16 KiB: one core 2·8 + 2·8 + 16 = 48 KiB; two cores each
    # with a row 2·8 + 2·8 + 2·16 = 64 KiB (was 48: the parameters, as large as two rows, were cut with them)
    (2, 1, 48 * 1024),
    (2, 2, 64 * 1024),
    (3, 2, 3 * 8 * 1024 * 2 + 2 * 16 * 1024),
    # fewer rows than cores: 2 rows over 4 cores, each core half a row and half of gamma and beta, so 2 copies of
    # the 16 KiB in all (32 KiB of rows in and out + 32 KiB); 3 rows over 4 cores: 3 copies (48 + 48 KiB)
    (2, 4, 32 * 1024 + 2 * 16 * 1024),
    (3, 4, 48 * 1024 + 3 * 16 * 1024),
])
def test_every_core_of_a_split_norm_reads_all_of_its_scale_and_shift(rows, cores, hbm):
    rep = simulate(load_workload({"model": "layernorm", "rows": rows, "cols": 4096}),
                   load_arch("multicore-4", [f"cores={cores}"])).to_dict()
    (op,) = rep["ops"]
    assert op["mapping"].get("units", 1) == cores
    assert op["bytes"]["hbm"] == hbm
