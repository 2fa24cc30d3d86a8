"""A GEMM library's own dispatch table (``core.tile.libraries``, chosen by ``core.tile.library``): a GEMM runs the
table's first matching tile over all of K, no split-K; a swapped kernel (``swap_ab``) tiles n by the tile's rows.
h100's "vllm" fp8 table is vLLM's cutlass_gemm_sm90_fp8_dispatch (vllm-project/vllm
csrc/quantization/w8a8/cutlass/c3x/scaled_mm_sm90_fp8_dispatch.cuh)."""

from __future__ import annotations

import math

import pytest

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.errors import ConfigError
from accelsim.ir import Gemm


def _vllm(preset: str = "h100"):
    arch = load_arch(preset)
    tile = arch.core.tile.model_copy(update={"library": "vllm"})
    return arch.model_copy(update={"core": arch.core.model_copy(update={"tile": tile})})


@pytest.mark.parametrize(("m", "n", "k", "tile", "swap"), [
    (1, 4096, 4096, (64, 16), True),      # sm90_fp8_config_M16_N8192: m in [1, 16]
    (32, 1024, 4096, (64, 16), True),     # sm90_fp8_config_M64_N1280: m in (16, 64], n <= 1280
    (64, 4096, 4096, (64, 64), True),     # sm90_fp8_config_M64_N8192: m in (16, 64], n > 1280
    (128, 4096, 4096, (64, 128), False),  # sm90_fp8_config_M128
    (8192, 4096, 8192, (256, 128), False),  # sm90_fp8_config_M8192_K6144: m >= 8192 and k >= 6144
    (8192, 4096, 4096, (128, 128), False),  # the default (k < 6144)
    (256, 128, 16384, (128, 128), False),   # the default
])
def test_the_sm90_fp8_table_is_vllms_dispatch(m, n, k, tile, swap):
    line = _vllm().core.tile.dispatch("fp8", m, n, k)
    assert (line.tile, line.swap_ab) == (tile, swap)


def test_only_the_chosen_library_and_its_dtypes_dispatch():
    h100 = load_arch("h100")
    assert h100.core.tile.library is None and h100.core.tile.dispatch("fp8", 1, 4096, 4096) is None  # default
    assert _vllm().core.tile.dispatch("bf16", 1, 4096, 4096) is None  # vLLM's bf16 linear is cuBLAS's
    assert _vllm("b200").core.tile.dispatch("fp8", 1, 4096, 4096) is None  # b200: FlashInfer's bmm_fp8, generic


def test_a_dispatched_gemm_runs_its_tile_over_all_of_k():
    # 256 x 128 x 16384 fp8 on h100 under vLLM: the default 128 x 128 tile gives 2 x 1 = 2 tiles, no split-K, so 2
    # SMs each run all of K. One tile on the 64 x 32 array: (128 / 64) x (128 / 32) = 8 folds, each 16384 / 2
    # (fp8 runs at twice the bf16 rate) = 8192 K-steps: >= 65,536 cycles, 35.8 us at 1.83 GHz
    arch = _vllm()
    g = Gemm(m=256, n=128, k=16384)
    d = gpu_tiles.choose(g, arch.core.systolic, arch, 1, 2.0, c_elem=2, dtype="fp8").details
    assert (d["tile"], d["split_k"], d["output_tiles"]) == ([128, 128], 1, 2)
    assert d["tile_cycles"] >= 8 * 16384 // 2
    generic = gpu_tiles.choose(g, arch.core.systolic, arch, 1, 2.0, c_elem=2).details
    assert generic["split_k"] > 1 and generic["output_tiles"] > 2  # the generic choice splits K over the SMs


def test_a_swapped_gemm_tiles_n_by_the_rows_and_reads_as_its_own_orientation():
    # 1 x 4096 x 4096 fp8, swap AB with TileShape <64, 16>: ceil(4096 / 64) x ceil(1 / 16) = 64 tiles; the details
    # give the tile as (m, n) = (1, 64), so its panels' L2 bytes are the 64 weight rows and the 1 activation row
    arch = _vllm()
    g = Gemm(m=1, n=4096, k=4096)
    d = gpu_tiles.choose(g, arch.core.systolic, arch, 1, 2.0, c_elem=2, dtype="fp8").details
    assert d["output_tiles"] == math.ceil(4096 / 64) * math.ceil(1 / 16) == 64
    assert d["tile"] == [1, 64] and d["swap_ab"] is True and d["split_k"] == 1
    assert gpu_tiles.cache_bytes(d, 4096 * 2, 1) == 64 * (1 + 64) * 4096 + 4096 * 2


def test_an_unknown_library_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: h100\ncore:\n  tile:\n    library: cublas\n")
    # library (this file) was set after libraries (the h100 preset): it keeps the blame, named in its --set form
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: arch\.core\.tile\.library: not one of core.tile.libraries "
                                          r"\(vllm\)"):
        load_arch(str(bad))
