"""A weight-only quantised GEMM's tiles move its weights' stored bytes (packed int4), not 2 bytes each."""

from __future__ import annotations

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.ir import Gemm


def test_panel_and_cache_bytes_use_the_packed_weight_bytes():
    # a 128 x 128 tile's 32-deep K-stage: A 128 x 32 bf16 = 8192 B, B 128 x 32 int4 = 2048 B
    assert gpu_tiles.panel_bytes(128, 128, 32, 2, 0.5) == 8192 + 2048
    details = {"tile": [128, 128], "output_tiles": 2, "k_slice": 256, "split_k": 1, "b_bytes_per_element": 0.5}
    # 2 tiles x 256 x (128 x 2 + 128 x 0.5) panel bytes + 1000 output bytes
    assert gpu_tiles.cache_bytes(details, 1000, 2) == 2 * 256 * 320 + 1000


def test_packed_weights_shorten_the_latency_bound_of_a_decode_gemv():
    # m = 1: the GEMV's K-stages are bound by memory latency (Little's law over the resident thread blocks), which
    # hold more stages when each carries a quarter of the weight bytes
    a100 = load_arch("a100")
    sa = a100.core.systolic
    g = Gemm(1, 4096, 4096)
    _, bf16 = gpu_tiles.price(g, sa, a100, 2)
    _, int4 = gpu_tiles.price(g, sa, a100, 2, b_elem=0.5 + 2 / 128)
    assert int4["b_bytes_per_element"] == 0.515625 and "b_bytes_per_element" not in bf16
    assert int4["fixed_cycles"] < bf16["fixed_cycles"]
    assert int4["output_tiles"] * int4["tile_cycles"] <= bf16["output_tiles"] * bf16["tile_cycles"]
