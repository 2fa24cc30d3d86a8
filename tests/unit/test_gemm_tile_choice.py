"""Which tile shape a GPU GEMM takes (accelsim/cost/gpu_tiles.py ``choose``): the largest shape whose tiles'
unpadded work gives every core at least one full tile (m·n·count >= cores x the tile's rows and columns the GEMM
has), so a shape whose edge tiles are mostly padding does not count as filling the cores (NVIDIA's Matrix
Multiplication Background guide, "Tile quantization" and "Wave quantization": a padded tile's MMAs do no useful
work). a100: 108 SMs; shapes 128x128 then [256,128], [128,256], [256,64], [64,256], [128,64], [64,128], [64,64]."""

from __future__ import annotations

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.ir import Gemm


def _tile(m: int, n: int, k: int) -> list[int]:
    a100 = load_arch("a100")
    return gpu_tiles.choose(Gemm(m, n, k), a100.core.systolic, a100, 2, 1.0).details["tile"]


def test_padded_edge_tiles_do_not_count_as_filling_the_sms():
    """Vidur's Llama-2-7b tp=8 mlp_down_proj, 376x4096x1376. 256x64 gives ceil(376/256) x 4096/64 = 2 x 64 = 128
    tiles >= 108, but its second row of tiles is 120 of 256 rows: useful 376 x 4096 = 1,540,096 outputs < 108 x
    256 x 64 = 1,769,472, so it does not fill the SMs (each SM would run two 256x64 tiles, 2 x 16384 outputs, where
    1,540,096 / 108 = 14,260 is its share). The larger shapes fail the same way (128x128 and 64x256: 108 x 16384;
    256x128, 128x256: 108 x 32768). 128x64: 108 x 8192 = 884,736 <= 1,540,096, the first listed of the 8192s."""
    assert 2 * 64 >= 108 and 376 * 4096 < 108 * 256 * 64 and 376 * 4096 >= 108 * 128 * 64
    assert _tile(376, 4096, 1376) == [128, 64]


def test_a_tile_taller_than_m_counts_only_the_rows_m_has():
    """64x16384: a 256x128 tile of m = 64 rows is priced as 64x128 (its rows beyond m cost nothing), so it ranks as
    64 x 128 = 8192 outputs: 64 x 16384 = 1,048,576 >= 108 x 8192 = 884,736 fills the SMs; 64x256 (64 x 256 =
    16384: 108 x 16384 = 1,769,472 > 1,048,576) does not. Of the 8192s (128x128, 256x128, 64x128) the least padded,
    64x128, is taken (probe p150 #1; it was the larger 256x128 before, whose 192 extra rows are padding)."""
    assert 64 * 16384 >= 108 * 64 * 128 and 64 * 16384 < 108 * 64 * 256
    assert _tile(64, 16384, 1024) == [64, 128]


def test_a_large_gemm_keeps_the_largest_tile():
    """2048x2048: 256x128 has 8 x 16 = 128 full tiles, 2048 x 2048 = 4,194,304 >= 108 x 32768 = 3,538,944."""
    assert 2048 * 2048 >= 108 * 256 * 128
    assert _tile(2048, 2048, 2048) == [256, 128]


def test_equal_useful_work_takes_the_less_padded_tile_h100():
    """Probe p150 #1: r3d_18's layer1 conv, GEMM 50176 x 64 x 1728 bf16 on h100 (132 SMs; shapes 128x128, then
    [128,256], [64,256], [64,128]). Useful work a tile (min(tile, m) x min(tile, n)): 128x128 and 128x256 both
    128 x 64 = 8192 (the 128x256 tile's other 192 columns are padding), 64x256 and 64x128 4096; 50176 x 64 =
    3,211,264 >= 132 x 8192 = 1,081,344 fills the SMs. Of the tie the less padded 128x128 is taken, not 128x256.

    Why it matters (h100.yaml): shared memory 228 KiB = 233,472 B, stage_carveout 16 KiB = 16,384 B, K-stage 64
    deep, 32 B of barriers a stage (CUTLASS StageCountAutoCarveout). 128x128: a stage is 64 x (128 x 2 + 128 x 2) =
    32,768 B, (233,472 - 16,384) // 32,800 = 6 stages; 128x256: 64 x (128 x 2 + 256 x 2) = 49,152 B, 217,088 //
    49,184 = 4 stages. Round trip: L2 200 ns + HBM 600 ns at 1830 MHz = 366 + 1,098 = 1,464 cycles. The main
    loop's latency bound over ceil(1728 / 64) = 27 K-stages, one block resident (6 x 32,768 = 196,608 B of the
    233,472): 27 x 1,464 / (6 - 1) = 7,905.6 -> 7,906 cycles (128x256 would take 27 x 1,464 / 3 = 13,176). Above
    the array's folds, so the tile's cycles are 7,906 plus its fixed prologue / epilogue; its
    ceil(50176 / 128) x 1 = 392 tiles."""
    h100 = load_arch("h100")
    assert (233_472 - 16_384) // (64 * (128 * 2 + 128 * 2) + 32) == 6
    assert (233_472 - 16_384) // (64 * (128 * 2 + 256 * 2) + 32) == 4
    assert h100.cores == 132 and h100.core.sram.total_bytes == 233_472
    d = gpu_tiles.choose(Gemm(50176, 64, 1728), h100.core.systolic, h100, 2, 1.0).details
    assert d["tile"] == [128, 64] and d["output_tiles"] == 392 and d["split_k"] == 1
    assert d["tile_cycles"] - d["fixed_cycles"] == 7_906  # ceil(27 x 1,464 / 5): 6 stages, the 128x128 tile's
