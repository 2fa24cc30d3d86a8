"""A scratchpad that holds activations only (``core.sram.holds: activations``) sees no weight bytes (probe p253 #3).

TPU v1's weights go from the DDR3 weight memory through the weight FIFO into the matrix unit; the unified buffer
is "local activation storage" (Jouppi et al., ISCA 2017, Fig. 1). The model counted every weight byte twice at the
buffer, once filled from DDR3 and once read by the array: 8,525,824 B for a 1×2048×2048 GEMM, 98 % of it weights.
"""

from __future__ import annotations

import accelsim

GEMM = {"model": "gemm", "m": 1, "n": 2048, "k": 2048}
# 131,072 B: the int32 partial sums of 8 K folds, each written and read once (7 read-modify-writes and the
# activation unit's read; 7 and 7, 114,688 B, before probe p286 #2)
PSUMS = 1 * 2048 * 2 * 8 * 4


def _hand_count() -> tuple[int, int, int]:
    """(the buffer's bytes, the array's operand bytes there, the DDR3 bytes) of the int8 1×2048×2048 GEMM on
    tpu-v1's 256×256 weight-stationary array, by hand: K and N each take 2048 / 256 = 8 folds. The partial sums
    are the accumulators' bytes, not the buffer's (:data:`PSUMS`, probe p279 #1)."""
    m, n, k, rows, cols = 1, 2048, 2048, 256, 256
    row_folds, col_folds = k // rows, n // cols  # 8 and 8
    a_reads = m * k * col_folds  # A (1 × 2048 int8) streamed once per column fold: 16,384 B
    # the output streamed once per row (K) fold: 8 int32 partial sums written and 8 read (4 B each), in the
    # 4 MiB of accumulators (PSUMS), then the int8 output once, into the buffer: 2048 × 1 = 2,048 B
    c_bytes = m * n * 1
    assert m * n * 2 * row_folds * 4 == PSUMS
    array = a_reads + c_bytes  # 18,432 B; the weights (2048 × 2048 int8) reach the array past the buffer
    fills = m * k + m * n  # A filled from DDR3 (2,048 B), the output drained to it (2,048 B)
    ddr3 = k * n + m * k + m * n  # the weights once (4,194,304 B), A and the output: 4,198,400 B
    return array + fills, array, ddr3


def test_tpu_v1_unified_buffer_sees_no_weight_bytes():
    sram, array, ddr3 = _hand_count()
    assert (sram, array, ddr3) == (22_528, 18_432, 4_198_400)  # (137,216 and 133,120 with PSUMS, before p279 #1)
    rep = accelsim.simulate(GEMM, "tpu-v1").to_dict()
    assert rep["bytes"]["sram"] == sram
    assert rep["bytes"]["accumulators"] == PSUMS
    assert rep["bytes"]["hbm"] == ddr3  # the DDR3 still moves every weight byte
    (op,) = rep["ops"]
    assert op["mapping"]["sram_operand_bytes"] == array


def test_a_buffer_that_holds_weights_counts_them_twice():
    # holds: all (the default): the weights are filled into the buffer (4,194,304 B) and the array reads them from
    # it once, as the stationary operand (4,194,304 B): 2 × 2048 × 2048 B more than the activations-only buffer
    sram, array, _ = _hand_count()
    arch = accelsim.config.load_arch("tpu-v1").model_dump()
    arch["core"]["sram"]["holds"] = "all"
    rep = accelsim.simulate(GEMM, arch).to_dict()
    assert rep["bytes"]["sram"] == sram + 2 * 2048 * 2048 == 8_411_136
    assert rep["ops"][0]["mapping"]["sram_operand_bytes"] == array + 2048 * 2048
