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
    16384: 108 x 16384 = 1,769,472 > 1,048,576) does not. Of the 8192s the larger tile (256x128) is taken."""
    assert 64 * 16384 >= 108 * 64 * 128 and 64 * 16384 < 108 * 64 * 256
    assert _tile(64, 16384, 1024) == [64, 128]


def test_a_large_gemm_keeps_the_largest_tile():
    """2048x2048: 256x128 has 8 x 16 = 128 full tiles, 2048 x 2048 = 4,194,304 >= 108 x 32768 = 3,538,944."""
    assert 2048 * 2048 >= 108 * 256 * 128
    assert _tile(2048, 2048, 2048) == [256, 128]
