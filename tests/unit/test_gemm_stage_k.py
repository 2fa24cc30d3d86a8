"""A K-stage keeps its bytes across operand widths (CUTLASS's generated tiles), so 8-bit GEMMs walk K in half as
many stages as 16-bit ones."""

from __future__ import annotations

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles


def test_stage_k_keeps_the_bytes_of_a_16_bit_stage():
    h100, a100 = load_arch("h100").core.tile, load_arch("a100").core.tile
    # h100: K 64 for bf16 = 128 B per operand row; CUTLASS's SM90 fp8 WGMMA tiles take K 128 (128 x 1 B)
    assert (gpu_tiles.stage_k(h100, 2), gpu_tiles.stage_k(h100, 1)) == (64, 128)
    # a100: K 32 for bf16 = 64 B; the SM80 int8 tiles take K 64; packed 4-bit operands (0.5 B) four times 32
    assert (gpu_tiles.stage_k(a100, 2), gpu_tiles.stage_k(a100, 1), gpu_tiles.stage_k(a100, 0.5)) == (32, 64, 128)
    # fp32 operands keep the preset's K (the rule covers operands narrower than 16 bits only)
    assert gpu_tiles.stage_k(a100, 4) == 32


def test_an_fp8_tile_waits_half_the_k_stages_of_a_bf16_tile():
    # the main loop's latency bound is ceil(k_slice / K-stage) round trips / (stages - 1) / resident blocks:
    # with the same bytes per stage the resident blocks are the same, and 4096 / 128 = 32 stages against
    # 4096 / 64 = 64, so the fp8 bound is half the bf16 one
    arch = load_arch("h100")
    t = gpu_tiles._terms(arch)
    bf16 = gpu_tiles._latency_bound(t, 128, 128, 4096, (2, 2), 64)
    fp8 = gpu_tiles._latency_bound(t, 128, 128, 4096, (1, 1), 64)
    assert bf16 > 0 and fp8 * 2 == bf16
