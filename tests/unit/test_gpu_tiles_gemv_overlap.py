"""A matrix-vector product (m or n = 1) runs cuBLAS's GEMV kernel, whose thread blocks keep no multistage K-stage
pipeline in shared memory, so as many of them sit on an SM as its thread and block limits allow
(gpu_tiles.gemv_resident), and with several resident one block's fixed prologue and epilogue run under the others'
work (gpu_tiles._overlapped). Probe p270: mpnn_qm9's three ``convs.N.message`` batched products (39,168 of
1 x 64 by 64 x 64) on h100 charged each SM's 297 tiles a 2,009-cycle prologue + epilogue one after another
(596,673 of the op's 718,234 cycles) where its 325.9 MB of HBM traffic needs about 200,000. Every figure below is
written out from the h100 preset's quantities (arch/h100.yaml)."""

from __future__ import annotations

import math

from accelsim.config import load_arch
from accelsim.cost import gpu_tiles
from accelsim.ir import Gemm


def test_a_gemv_block_count_comes_from_the_sms_thread_and_block_limits():
    # CUDA C++ Programming Guide, "Compute Capabilities": cc 9.0 holds 2048 threads and 32 blocks an SM (h100.yaml
    # core.vector resident_threads / resident_blocks); cuBLAS's GEMV blocks of 128 threads: 2048 / 128 = 16 <= 32
    assert gpu_tiles.GEMV_BLOCK_THREADS == 128
    assert gpu_tiles.gemv_resident(load_arch("h100")) == 2048 // 128 == 16
    # cc 8.9 (l40s.yaml): 1536 threads, 24 blocks: 1536 / 128 = 12
    assert gpu_tiles.gemv_resident(load_arch("l40s")) == 1536 // 128 == 12
    # a preset without a thread limit (mi210.yaml gives none) keeps the GEMM tile's shared-memory rule
    assert gpu_tiles.gemv_resident(load_arch("mi210")) == 0


def test_one_resident_block_exposes_every_fixed_cost():
    # a lone block: max(work, waits) + fixed, whatever its share of tiles
    assert gpu_tiles._overlapped(300, 100, 2000, 1, 10) == 300 + 2000
    assert gpu_tiles._overlapped(100, 300, 2000, 1, 10) == 300 + 2000


def test_resident_blocks_hide_each_others_fixed_cost_but_not_the_cores_work():
    # work-bound: 8 tiles, 4 resident, work 500, waits 50 (a lone block waits 50 x 4 = 200), fixed 1000: the core's
    # work back to back with one prologue and epilogue exposed, 8 x 500 + 1000 = 5000, against 2 rounds of a lone
    # block's max(500, 200) + 1000 = 1500: 3000; 5000 / 8 = 625 a tile (1500 one block at a time)
    assert gpu_tiles._overlapped(500, 50, 1000, 4, 8) == 5000 // 8 == 625
    # latency-bound: work 100, waits 50 (200 alone), fixed 1000: 8 x 100 + 1000 = 1800 against 2 rounds of
    # max(100, 200) + 1000 = 1200: 2400, 300 a tile
    assert gpu_tiles._overlapped(100, 50, 1000, 4, 8) == 2 * 1200 // 8 == 300
    # never faster than the core's work or the shared waits
    assert gpu_tiles._overlapped(500, 50, 0, 4, 8) == 500


def test_mpnn_message_gemvs_hide_their_prologues():
    h100 = load_arch("h100")
    sa = h100.core.systolic
    _, d = gpu_tiles.price(Gemm(1, 64, 64, 39168), sa, h100)
    # one 1 x 64 tile a product: 39,168 tiles, ceil(39168 / 132) = 297 on the busiest SM, 16 resident
    assert d["output_tiles"] == 39168 and d["tile"] == [1, 64] and d["split_k"] == 1
    assert d["resident_blocks"] == 16
    # the work: 1 x 2 folds of the 64 x 32 os array (rows 1 <= 64, columns 64 / 32), each 64 + 32 + 64 - 2 = 158
    # cycles: 2 x 158 - 1 = 315, + 1 = 316
    work = 2 * (64 + 32 + 64 - 2)
    # the fixed cost: a round trip (200 ns L2 + 600 ns HBM) x 1.83 GHz = 1464 cycles, the first K-stage
    # (1 x 64 A + 64 x 64 B, 2 B each = 8320 B) at the SM's share of the L2 (11451.7 GB/s / 1.83 GHz / 132 =
    # 47.407 B a cycle), the L2 latency 366 and the 1 x 64 x 2 B output at that share
    share = 11451.7e9 / 1.83e9 / 132
    fixed = math.ceil(1464 + 8320 / share + 366 + 128 / share)
    assert d["fixed_cycles"] == fixed == 2009
    # 297 tiles x 316 + one exposed 2009 = 95,861 against ceil(297 / 16) = 19 rounds of a lone block's
    # max(316, waits) + 2009 = 2325 (its waits under 316): 44,175; 95,861 / 297 = 322.8 -> 323 a tile
    assert d["tile_cycles"] == math.ceil((297 * work + fixed) / 297) == 323
    # the exposed fixed cycles of the busiest SM: 297 x (323 - 316) = 2,079 (297 x 2,009 = 596,673 before)
    assert gpu_tiles.exposed_fixed(d, h100.cores) == 297 * (323 - work) == 2079


def test_a_gemm_tile_keeps_its_fixed_cost_exposed():
    # m = 2: not a GEMV; its h100 tiles (shared memory full of K-stages: one block an SM) pay prologue + epilogue
    h100 = load_arch("h100")
    _, d = gpu_tiles.price(Gemm(2, 64, 64, 39168), h100.core.systolic, h100)
    assert "resident_blocks" not in d
    assert gpu_tiles.exposed_fixed(d, h100.cores) == -(-39168 // 132) * d["fixed_cycles"]


def test_a_library_tables_kernel_is_not_cublas_gemv():
    # vLLM's CUTLASS fp8 dispatch (h100's "vllm" table) runs an m = 1 product as its swapped 64 x 16 GEMM tile, not
    # cuBLAS's GEMV kernel: no GEMV residency
    arch = load_arch("h100")
    tile = arch.core.tile.model_copy(update={"library": "vllm"})
    arch = arch.model_copy(update={"core": arch.core.model_copy(update={"tile": tile})})
    _, d = gpu_tiles.price(Gemm(1, 64, 64, 39168), arch.core.systolic, arch, 1, 2.0, dtype="fp8")
    assert d.get("swap_ab") and "resident_blocks" not in d


def test_an_8_bit_or_dequantising_gemv_is_not_cublas_gemv():
    # cuBLAS's GEMV routines take 16-bit and wider operands only (cublas<t>gemvBatched: S, D, C, Z, HSH, HSS, TST,
    # TSS): an 8-bit m = 1 product (1 B operands) and a weight-only quantised one (dequant) keep the GEMM tile's rule
    h100 = load_arch("h100")
    sa = h100.core.systolic
    _, d8 = gpu_tiles.price(Gemm(1, 64, 64, 39168), sa, h100, 1, 2.0)
    _, dq = gpu_tiles.price(Gemm(1, 64, 64, 39168), sa, h100, 2, 1.0, dequant=2 / 512, b_elem=0.5)
    assert "resident_blocks" not in d8 and "resident_blocks" not in dq
    assert gpu_tiles.exposed_fixed(d8, h100.cores) == 297 * d8["fixed_cycles"]
