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


def test_a_carveout_preset_gives_smaller_tiles_more_stages():
    # CUTLASS 3.x StageCountAutoCarveout: (shared memory - carveout) / (stage bytes + 32 B of barriers). h100:
    # 228 KiB = 233472 B of shared memory, 16 KiB carveout -> 217088 B; a bf16 stage is (m + n) x 64 x 2 B
    t = gpu_tiles._terms(load_arch("h100"))
    assert gpu_tiles.stages(t, 64, 64, (2, 2)) == 217088 // (128 * 64 * 2 + 32) == 13
    assert gpu_tiles.stages(t, 128, 256, (2, 2)) == 217088 // (384 * 64 * 2 + 32) == 4
    # fp8 stages keep the bytes (K 128 x 1 B), so the same count
    assert gpu_tiles.stages(t, 64, 64, (1, 1)) == 13
    # the main loop's latency bound divides by the stages in flight (13 - 1 for 64 x 64, 4 - 1 for 128 x 256):
    # one resident block each (a block's stages fill the shared memory)
    small = gpu_tiles._latency_bound(t, 64, 64, 4096, (2, 2), 1)
    large = gpu_tiles._latency_bound(t, 128, 256, 4096, (2, 2), 1)
    assert small * 12 == large * 3 == 4096 // 64 * t.round_trip


def test_a_fixed_stage_preset_offers_only_the_shapes_whose_stages_fit():
    # a100: 4 stages of (m + n) x 32 x 2 B must fit its 164 KiB of shared memory: 256 x 128 takes 4 x 24 KiB = 96 KiB
    t = gpu_tiles._terms(load_arch("a100"))
    assert t.tile.stage_carveout is None and gpu_tiles.stages(t, 256, 128, (2, 2)) == 4
    assert gpu_tiles.stages(t, 1024, 1024, (2, 2)) == 0  # 4 x 128 KiB does not fit


def test_a_carveout_that_leaves_no_room_for_two_stages_is_refused(tmp_path):
    # h100's SM has 228 KiB of shared memory; a 300 KiB carveout leaves nothing for the 128 x 128 x 64 tile's two
    # 16-bit K-stages (2 x 256 x 64 x 2 B = 64 KiB)
    import pytest

    from accelsim.errors import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: h100\ncore:\n  tile:\n    m: 128\n    n: 128\n    k: 64\n    stage_carveout: 300KiB\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:7: core\.tile\.stage_carveout: 307200 B leaves no room"):
        load_arch(str(bad))
