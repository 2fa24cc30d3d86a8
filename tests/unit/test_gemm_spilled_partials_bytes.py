"""A split-K GEMM whose partials the later waves evict from the L2 (gpu_tiles.partials_cached False) writes them back
to HBM and its reduction kernel reads them from there (reduce_cycles' HBM branch); those bytes are the op's HBM
bytes and HBM energy too, not only its timing (probe p190 #1: a100 256x4096x14336 reported the unsplit GEMM's
126,877,696 B). A one-wave split GEMM's partials stay in the L2 and add nothing at HBM. Every figure is written out
by hand from the shapes and the a100 preset's datasheet quantities (40 MiB L2, 108 SMs)."""

from __future__ import annotations

import accelsim
from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.energy.resolved import arch_energy


def _run(m: int, n: int, k: int) -> tuple[dict, dict]:
    r = accelsim.simulate({"model": "gemm", "m": m, "n": n, "k": k}, "a100").to_dict()
    return r["ops"][0], r["energy"]


def test_evicted_partials_are_written_to_and_read_from_hbm():
    op, energy = _run(256, 4096, 14336)
    d = op["mapping"]
    assert d["split_k"] == 4 and d["output_tiles"] == 512 and d["reduce_cycles"] > 0
    a, b, c = 256 * 14336 * 2, 14336 * 4096 * 2, 256 * 4096 * 2  # bf16 A, B, C
    assert (a, b, c) == (7_340_032, 117_440_512, 2_097_152)
    unique = a + b + c  # 126,877,696
    # 512 tiles over 108 SMs: 5 waves, so 4/5 of the operands stream through the L2 after the first wave's partials
    later = unique * 4 // 5
    partials = 4 * 256 * 4096 * 4  # 4 slices of fp32 partials
    assert partials == 16_777_216
    assert partials + later > 40 * 2**20 // 2  # more than the L2's resident half: evicted
    assert not gpu_tiles.partials_cached(load_arch("a100"), 4, c, 2, later)
    assert d["spilled_partial_bytes"] == 2 * partials  # written back, then read by the reduction
    # A is read from HBM twice (traffic._behind, probe p190 #2): the SMs hold 108 x 128 x 64 = 884,736 accumulators
    # at once, fewer than the 256 x 4096 = 1,048,576 outputs, so one sweep of the L2 serves at most half the output
    # columns (A twice, B once: +7,340,032 B; B twice would cost 117 MB), and A's whole-K panel, 7,340,032 B, is
    # more than the 40 MiB // 3 // 2 = 6,990,506 B the L2 tiling gives an operand, so the L2 cannot keep it
    assert 108 * 128 * 64 < 256 * 4096 and a > 40 * 2**20 // 3 // 2
    assert op["bytes"]["hbm"] == 2 * a + b + c + 2 * partials == 167_772_160
    # and HBM energy follows the bytes: a100's 48 pJ/B (energy.hbm) on every HBM byte, beside its static share
    pj = arch_energy(load_arch("a100"))["level_pj_per_byte"]["hbm"]
    assert pj == 48.0
    dynamic = energy["by_level"]["hbm"] - energy["static_by_level"]["hbm"]
    assert abs(dynamic - 167_772_160 * 48e-12) < 1e-9


def test_a_one_wave_split_gemms_partials_stay_in_the_l2():
    op, _ = _run(1024, 128, 8192)
    d = op["mapping"]
    assert d["split_k"] > 1 and d["output_tiles"] <= 108  # one wave: nothing streams after the partials
    assert "spilled_partial_bytes" not in d
    assert op["bytes"]["hbm"] == 1024 * 8192 * 2 + 8192 * 128 * 2 + 1024 * 128 * 2 == 19_136_512
    # the partials are the L2's: written and read there beside the panels and the output
    assert op["bytes"]["l2"] > 2 * d["split_k"] * 1024 * 128 * 4
