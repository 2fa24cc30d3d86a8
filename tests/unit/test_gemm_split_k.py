"""A split-K GEMM on a GPU is two kernels (cuBLAS: the partitioned GEMM, then cublasLt::splitKreduce_kernel;
CUTLASS's parallel split-K: GemmSplitKParallel, then ReduceSplitK): the reduction starts one kernel dispatch after
the GEMM's last tile, reads every slice's fp32 partial output and writes the output (accelsim/cost/gpu_tiles.py,
``reduce_cycles``). The figures below are written out by hand from the presets' quantities."""

from __future__ import annotations

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.ir import Gemm


def _clean_gpu():
    """a100's rules on round numbers: 1 GHz, 4 SMs, L2 256 GB/s (256 B/clk) 100 ns and 1 MiB, HBM 512 GB/s
    (512 B/clk) 500 ns, every efficiency 1; a100's kernel_dispatch 0.87 us = 870 cycles at 1 GHz."""
    return load_arch({"base": "a100", "clock": "1GHz", "cores": 4,
                      "l2": {"bandwidth": "256GB/s", "latency": "100ns", "capacity": "1MiB", "efficiency": 1.0},
                      "hbm": {"bandwidth": "512GB/s", "latency": "500ns", "efficiency": 1.0,
                              "efficiency_by_size": []}})


def test_reduction_kernel_cycles():
    arch = _clean_gpu()
    l2, hbm = arch.latency_cycles("l2"), arch.latency_cycles("hbm")
    assert (l2, hbm) in ((100, 500), (101, 501))  # rounded up from ns
    dispatch = 870
    out = 128 * 128 * 2  # a 128x128 bf16 output: 32 KiB, written into L2 at 256 B/clk = 128 cycles
    assert gpu_tiles.reduce_cycles(arch, 1, out, 2) == 0  # no split-K, no second kernel
    # 4 slices: 4 x 16384 x 4 B = 256 KiB of fp32 partials, in L2 (<= half its 1 MiB): one L2 latency + 1024 cycles
    assert gpu_tiles.reduce_cycles(arch, 4, out, 2) == dispatch + l2 + 1024 + 128
    # 20 slices: 1.25 MiB of partials do not fit L2: one HBM latency + 1310720 B / 512 B/clk = 2560 cycles
    assert gpu_tiles.reduce_cycles(arch, 20, out, 2) == dispatch + hbm + 2560 + 128


def test_split_k_gemm_runs_its_reduction_after_its_tiles():
    """m=8, n=128, k=4096 bf16 on a100: too few tiles for 108 SMs, so K is split; the op lasts at least its
    busiest SM's tiles and then the reduction kernel, and the reduction is in the priced cycles."""
    a100 = load_arch("a100")
    g = Gemm(8, 128, 4096)
    cycles, d = gpu_tiles.price(g, a100.core.systolic, a100)
    assert d["split_k"] > 1 and d["reduce_cycles"] > 0
    assert cycles == d["output_tiles"] * d["tile_cycles"] + d["reduce_cycles"]
    op = simulate({"model": "gemm", "m": 8, "n": 128, "k": 4096, "dtype": "bf16"}, "a100",
                  execution="cuda_graph").to_dict()["ops"][0]
    waves = -(-d["output_tiles"] // a100.cores)
    assert op["end_cycle"] - op["start_cycle"] >= waves * d["tile_cycles"] + d["reduce_cycles"]


def test_cache_bytes_count_every_slices_fp32_partials():
    """Each of 3 slices writes a 16 x 64 fp32 partial tile and the reduction reads it back: 2 x 3 x 1024 x 4 B,
    besides the panels (16 + 64) x 100 x 2 B per tile (3 tiles) and the 2 KiB bf16 output; a GEMV's slices (no
    reduction kernel) write none."""
    details = {"tile": [16, 64], "split_k": 3, "k_slice": 100, "output_tiles": 3, "reduce_cycles": 1}
    out = 16 * 64 * 2
    assert gpu_tiles.cache_bytes(details, out, 2) == 3 * 80 * 100 * 2 + out + 2 * 3 * 1024 * 4
    del details["reduce_cycles"]
    assert gpu_tiles.cache_bytes(details, out, 2) == 3 * 80 * 100 * 2 + out


def test_a_matrix_vector_product_sums_its_k_slices_inside_the_cta():
    """m = 1 (or n = 1) runs as cuBLAS's GEMV kernel (ROCm/rocBLAS issue #1238, "as cuBLAS does"): its K slices
    are summed inside the CTA, so no reduction kernel and no fp32 partials; m = 8 of the same n, k gets both."""
    a100 = load_arch("a100")
    sa = a100.core.systolic
    cycles, gemv = gpu_tiles.price(Gemm(1, 128, 8192), sa, a100)
    assert gemv["split_k"] > 1 and "reduce_cycles" not in gemv
    assert cycles == gemv["output_tiles"] * gemv["tile_cycles"]
    tm, tn = gemv["tile"]
    assert gemv["fixed_cycles"] == gpu_tiles.fixed_cycles(a100, tm, tn, 2)  # a bf16 output tile, not fp32
    assert gpu_tiles.is_gemv(Gemm(4096, 1, 4096)) and not gpu_tiles.is_gemv(Gemm(8, 128, 8192))
    assert gpu_tiles.price(Gemm(8, 128, 8192), sa, a100)[1]["reduce_cycles"] > 0


def test_the_emitter_runs_the_reduction_after_the_last_round_and_moves_no_bytes_for_it():
    """Lock-step SMs (count 4): 10 tiles of 1000 cycles, dealt 3, 3, 2, 2, so the rounds add up to the busiest
    core's 3000 cycles, plus the 500-cycle reduction on the last round; the rounds' byte weights still add up to
    the 10 tiles' 10 000 cycles. Two separate units: 2 tiles each, the reduction after the last group."""
    from accelsim.mapping.emit import group_plan
    from accelsim.mapping.plan import Plan

    details = {"output_tiles": 10, "tile_cycles": 1000, "reduce_cycles": 500}
    _, cycles, weights = group_plan(Plan(op=None, index=0, units=(0,), details=details), 0, count=4)
    assert sum(cycles) == 3000 + 500 and sum(weights) == 10_000
    plain = {k: v for k, v in details.items() if k != "reduce_cycles"}
    _, before, before_w = group_plan(Plan(op=None, index=0, units=(0,), details=plain), 0, count=4)
    assert cycles == [*before[:-1], before[-1] + 500] and weights == before_w  # only the last round is longer
    details = {"output_tiles": 4, "tile_cycles": 1000, "reduce_cycles": 500}
    units, cycles, weights = group_plan(Plan(op=None, index=0, units=(0, 1), details=details), 0)
    assert sum(cycles) == 4000 + 500 and sum(weights) == 4000 and cycles[-1] == weights[-1] + 500
