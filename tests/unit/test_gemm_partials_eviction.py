"""A split-K GEMM's fp32 partials are read back by the reduction kernel from the L2 only while the L2 still holds
them (accelsim/cost/gpu_tiles.py, ``partials_cached``): by the LRU rule of mapping/l2resident.py their stack distance
at the reduction (the partials plus the bytes the GEMM streamed through the L2 after its first wave wrote its
partials) must fit half the L2; otherwise they were evicted to HBM and the reduction reads them from there. The
figures are written out by hand from the presets' quantities."""

from __future__ import annotations

import math

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles, resident_bytes
from accelsim.ir import Gemm
from accelsim.mapping import l2resident

KIB = 1024


def _clean_gpu():
    """a100's rules on round numbers: 1 GHz, 4 SMs, L2 256 GB/s (256 B/clk) 100 ns and 1 MiB (half: 512 KiB),
    HBM 512 GB/s (512 B/clk) 500 ns, every efficiency 1; a100's kernel_dispatch 0.87 us = 870 cycles at 1 GHz."""
    return load_arch({"base": "a100", "clock": "1GHz", "cores": 4,
                      "l2": {"bandwidth": "256GB/s", "latency": "100ns", "capacity": "1MiB", "efficiency": 1.0},
                      "hbm": {"bandwidth": "512GB/s", "latency": "500ns", "efficiency": 1.0,
                              "efficiency_by_size": []}})


def test_the_partials_share_of_the_l2_is_the_residency_rules():
    # both read cost.resident_bytes: CACHE_SHARE 0.5 of the 1 MiB L2, or the level's resident_share
    arch = _clean_gpu()
    assert l2resident.CACHE_SHARE == 0.5 and gpu_tiles._terms(arch).l2_resident == resident_bytes(arch) == 512 * KIB
    whole = load_arch({"base": "a100", "l2": {"capacity": "1MiB", "resident_share": 0.75}})
    assert gpu_tiles._terms(whole).l2_resident == resident_bytes(whole) == 768 * KIB


def test_a_resident_share_on_a_memory_level_is_refused(tmp_path):
    import pytest

    from accelsim.errors import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: a100\nhbm:\n  resident_share: 0.5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*hbm\.resident_share: only a cache level"):
        load_arch(str(bad))


def test_partials_stay_in_the_l2_while_their_stack_distance_fits_half_of_it():
    arch = _clean_gpu()
    out = 128 * 128 * 2  # a 128x128 bf16 output; 4 slices of fp32 partials: 4 x 16384 x 4 B = 256 KiB
    assert gpu_tiles.partial_bytes(4, out, 2) == 256 * KIB
    assert gpu_tiles.partials_cached(arch, 4, out, 2, 0)  # one wave: nothing streamed after them
    assert gpu_tiles.partials_cached(arch, 4, out, 2, 256 * KIB)  # 256 + 256 KiB = the 512 KiB half: fits
    assert not gpu_tiles.partials_cached(arch, 4, out, 2, 256 * KIB + 1)


def test_evicted_partials_are_read_from_hbm_by_the_reduction():
    arch = _clean_gpu()
    l2, hbm = arch.latency_cycles("l2"), arch.latency_cycles("hbm")
    dispatch, out = 870, 128 * 128 * 2  # the 32 KiB output is written into the L2 at 256 B/clk: 128 cycles
    # held: one L2 latency + 256 KiB at 256 B/clk = 1024 cycles
    assert gpu_tiles.reduce_cycles(arch, 4, out, 2, later=0) == dispatch + l2 + 1024 + 128
    # evicted by 300 KiB streamed after the first wave: one HBM latency + 256 KiB at 512 B/clk = 512 cycles
    assert gpu_tiles.reduce_cycles(arch, 4, out, 2, later=300 * KIB) == dispatch + hbm + 512 + 128


def test_a_one_wave_split_gemm_reads_its_partials_from_the_l2():
    """a100, m=1024 n=128 k=8192: its split tiles run in one wave (no later wave streams anything after the
    partials), so the reduction reads splits x 1024 x 128 x 4 B from the L2 at 5120 B/clk: dispatch 0.87 us =
    1226.7 cycles, L2 latency 200 ns = 282 cycles, and writes the 256 KiB bf16 output at 5120 B/clk."""
    a100 = load_arch("a100")
    _, d = gpu_tiles.price(Gemm(1024, 128, 8192), a100.core.systolic, a100)
    s = d["split_k"]
    assert s > 1 and d["output_tiles"] <= a100.cores
    assert d["reduce_cycles"] == math.ceil(0.87e-6 * 1.41e9 + 282 + s * 1024 * 128 * 4 / 5120 + 1024 * 128 * 2 / 5120)


def test_a_multi_wave_weight_stream_evicts_its_partials():
    """a100, m=128 n=8192 k=8192: its operands are 128 MiB of weights, 2 MiB of activations and a 2 MiB output
    (138,412,032 B); with two waves or more, at least half of them stream through the L2 after the first wave's
    partials, far more than half its 40 MiB, so a split reads its partials from HBM: for 2 slices, 8 MiB of fp32
    partials at 2039 GB/s x 0.9 / 1.41 GHz = 1301.49 B/clk (6445.4 cycles) after one HBM latency of 600 ns = 846
    cycles, besides the 1226.7-cycle dispatch (0.87 us) and the 2 MiB output into the L2 at 5120 B/clk (409.6 cycles)."""
    a100 = load_arch("a100")
    operands = 128 * 8192 * 2 + 8192 * 8192 * 2 + 128 * 8192 * 2
    assert operands == 138_412_032
    out = 128 * 8192 * 2
    assert not gpu_tiles.partials_cached(a100, 2, out, 2, operands // 2)
    assert gpu_tiles.reduce_cycles(a100, 2, out, 2, later=operands // 2) == math.ceil(
        0.87e-6 * 1.41e9 + 846 + 8 * 1024 * 1024 / (2039e9 * 0.9 / 1.41e9) + out / 5120)  # 8928
    _, d = gpu_tiles.price(Gemm(128, 8192, 8192), a100.core.systolic, a100)
    waves = -(-d["output_tiles"] // a100.cores)
    if d["split_k"] > 1:  # whatever split the choice takes, a multi-wave one reads from HBM
        assert waves >= 2
        assert d["reduce_cycles"] == gpu_tiles.reduce_cycles(a100, d["split_k"], out, 2,
                                                             later=operands * (waves - 1) // waves)
        assert d["reduce_cycles"] > gpu_tiles.reduce_cycles(a100, d["split_k"], out, 2, later=0)
