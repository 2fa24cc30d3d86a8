"""A 2-SM tile (Blackwell's tcgen05 cta_group::2, ``core.tile.shapes`` entry ``[m, n, 2]``): the pair's two cores
each compute m / 2 rows of the output tile over all of K and load half its B panel, the other half arriving from
the peer's shared memory (NVIDIA/cutlass python/cutlass_library/sm100_shapes.py lists these MMA shapes)."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.errors import ConfigError
from accelsim.ir import Gemm


def test_a_2sm_tile_counts_two_cores_each_with_half_the_rows_and_half_the_b_panel():
    b200 = load_arch("b200")
    t = gpu_tiles._terms(b200)
    g = Gemm(m=256, n=4096, k=4096)
    s = gpu_tiles._shape(g, b200.core.systolic, t, (256, 128, 2), (2, 2, 2), 1.0, 1)
    d = s.details
    # 256 / 256 = 1 tile row x 4096 / 128 = 32 tile columns = 32 pair tiles, 2 cores each
    assert d["output_tiles"] == 64 and d["cluster"] == 2
    assert d["tile"] == [128, 128]  # each core: 256 / 2 rows, all 128 columns
    # L2 traffic: per core, its A rows (128 x 4096 x 2 B) and half the B panel (64 x 4096 x 2 B), plus the output
    out = 256 * 4096 * 2
    assert gpu_tiles.cache_bytes(d, out, 2) == 64 * (128 + 64) * 4096 * 2 + out
    # so the pair reads A once and B once: 64 x (128 + 64) = 32 x (256 + 128), the bytes of one core computing the
    # 256 x 128 tile alone


def test_a_2sm_tile_keeps_the_stages_of_its_per_core_panels():
    # b200: 228 KiB of shared memory less the 16 KiB carveout = 217088 B; a bf16 K-stage of a 256 x 256 pair tile
    # holds, per core, 128 rows of A and 128 of B's 256 columns: (128 + 128) x 64 x 2 B, as a 1-SM 128 x 128 tile
    t = gpu_tiles._terms(load_arch("b200"))
    assert gpu_tiles.stages(t, 128, 256 / 2, (2, 2)) == gpu_tiles.stages(t, 128, 128, (2, 2))
    assert gpu_tiles.stages(t, 128, 128, (2, 2)) == 217088 // (256 * 64 * 2 + 32) == 6


def test_the_fill_rule_counts_the_cores_of_a_pair_tile():
    # b200 has 148 SMs. m = n = 2048: a 256 x 256 pair tile gives 8 x 8 = 64 tiles = 128 cores (< 148), the
    # 256 x 128 / 128 x 256 pair tiles 128 tiles = 256 cores (>= 148): the largest shape that fills every core
    arch = load_arch("b200")
    chosen = gpu_tiles.choose(Gemm(m=2048, n=2048, k=2048), arch.core.systolic, arch, 2, 1.0).details
    assert chosen["cluster"] == 2 and chosen["output_tiles"] == 256
    assert chosen["tile"] in ([128, 128], [64, 256])


def test_a_pair_tile_whose_rows_do_not_split_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: b200\ncore:\n  tile:\n    m: 128\n    n: 128\n    shapes: [[255, 128, 2]]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:6: core\.tile\.shapes\.0: \[255, 128, 2\]: a tile's m and n must divide"):
        load_arch(str(bad))
